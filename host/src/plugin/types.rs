//! The plugin calls' input and output, independent of the contract version:
//! the rest of apirun speaks these types; `bindings::v0_1` and
//! `bindings::v0_2` convert them to and from each version's WIT types.

use std::time::Duration;

use crate::transport::{Request, Response};

/// A response a plugin returned or one it is asked to extract from: the
/// transport's response type (one type from the wire to the extractors).
pub type PluginResponse = Response;

/// The `http` step's request, rendered (templates applied, the auth header
/// injected, the body read): the transport's request type, which the WIT 0.2
/// `http-step-request` carries.
pub type HttpStepRequest = Request;

/// What a step plugin is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum StepSpec {
    /// An `http` step (to the built-in `http` plugin or a replacement).
    Http(HttpStepRequest),
    /// Any other step type: its `with:` block, rendered.
    Custom(serde_json::Value),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    pub response: Option<PluginResponse>,
    pub variables: Vec<(String, String)>,
}

/// A variable a step plugin declares it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDeclaration {
    pub name: String,
    pub description: String,
}

/// What an auth plugin returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub header_name: String,
    pub header_value: String,
    pub token: String,
    pub expires_in: Option<Duration>,
    /// State for the provider's next acquisition in this run (WIT 0.2; a
    /// rotated refresh token). None: keep the previous state.
    pub state: Option<String>,
}

/// What a plugin says about itself (WIT 0.2 `metadata`; a 0.1 component says nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub description: String,
}

/// Clamp a duration to the WIT's `u32` milliseconds (about 49 days).
pub(crate) fn duration_ms(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}
