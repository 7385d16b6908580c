//! Write apirun plugins in Rust.
//!
//! An apirun plugin is a WebAssembly component implementing one world of the
//! `apirun:plugin` contract (its WIT ships inside this crate, so a plugin
//! copies nothing). Pick the world with one cargo feature, implement one
//! trait, export it with one macro:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! apirun-plugin-sdk = { path = "../apirun/sdk/rust", features = ["auth"] }
//! ```
//!
//! ```ignore
//! use apirun_plugin_sdk::{Auth, AcquireInput, Credential, PluginError, export_auth};
//!
//! struct Static;
//!
//! impl Auth for Static {
//!     fn acquire(input: AcquireInput) -> Result<Credential, PluginError> {
//!         #[derive(serde::Deserialize)]
//!         struct Config { token: String }
//!         let config: Config = input.provider_config()?;
//!         Ok(Credential::bearer(config.token))
//!     }
//! }
//!
//! export_auth!(Static);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component. The plugin's name,
//! version and description (what `apirun plugins inspect` shows) come from
//! its own `Cargo.toml`. The guide: docs/plugins/rust.md.

#[cfg(not(any(feature = "step", feature = "auth", feature = "extractor")))]
compile_error!(
    "apirun-plugin-sdk: enable exactly one world feature: `step`, `auth` or `extractor` \
     (e.g. apirun-plugin-sdk = { path = \"...\", features = [\"step\"] })"
);

#[cfg(any(
    all(feature = "step", feature = "auth"),
    all(feature = "step", feature = "extractor"),
    all(feature = "auth", feature = "extractor"),
))]
compile_error!(
    "apirun-plugin-sdk: enable only one world feature (`step`, `auth` or `extractor`): \
     a component implements exactly one world"
);

/// The bindings wit-bindgen generates from `wit/plugin.wit` for the chosen
/// world. One world per build: the bindings describe the component's world,
/// and a component exporting two worlds' interfaces would be refused.
#[doc(hidden)]
pub mod bindings {
    #[cfg(feature = "step")]
    wit_bindgen::generate!({
        path: "wit",
        world: "step-plugin",
        pub_export_macro: true,
        export_macro_name: "__apirun_export_world",
        default_bindings_module: "apirun_plugin_sdk::bindings",
    });

    #[cfg(all(feature = "auth", not(feature = "step")))]
    wit_bindgen::generate!({
        path: "wit",
        world: "auth-plugin",
        pub_export_macro: true,
        export_macro_name: "__apirun_export_world",
        default_bindings_module: "apirun_plugin_sdk::bindings",
    });

    #[cfg(all(feature = "extractor", not(any(feature = "step", feature = "auth"))))]
    wit_bindgen::generate!({
        path: "wit",
        world: "extractor-plugin",
        pub_export_macro: true,
        export_macro_name: "__apirun_export_world",
        default_bindings_module: "apirun_plugin_sdk::bindings",
    });
}

mod error;
pub mod http;
pub mod log;

#[cfg(feature = "auth")]
mod auth;
#[cfg(feature = "extractor")]
mod extractor;
#[cfg(feature = "step")]
mod step;

pub use bindings::apirun::plugin::types::{
    FollowRedirects, Header, HttpRequest, HttpResponse, PluginError, QueryParam, Variable,
};
pub use bindings::exports::apirun::plugin::metadata::PluginMetadata;
pub use error::{denied, failed, invalid_config, transport};

#[cfg(feature = "auth")]
pub use auth::Auth;
#[cfg(feature = "auth")]
pub use bindings::exports::apirun::plugin::auth::{AcquireInput, Credential};
#[cfg(feature = "extractor")]
pub use bindings::exports::apirun::plugin::extractor::ExtractInput;
#[cfg(feature = "step")]
pub use bindings::exports::apirun::plugin::step::{
    HttpStepRequest, StepInput, StepOutput, StepSpec, VariableDeclaration,
};
#[cfg(feature = "extractor")]
pub use extractor::Extractor;
#[cfg(feature = "step")]
pub use step::Step;

/// The version of the `apirun:plugin` contract this SDK builds against.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Re-exported for the export macros (they run in the plugin's crate).
#[doc(hidden)]
pub use serde_json as __serde_json;

/// Parse a JSON text handed over by apirun (`with:`, `config:`) into `T`,
/// naming `what` in the error so the user knows which block to fix.
/// `"null"` (an absent block) parses as `{}`, so a struct whose fields all
/// have defaults accepts a missing block.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, PluginError> {
    let text = text.trim();
    let text = if text.is_empty() || text == "null" {
        "{}"
    } else {
        text
    };
    serde_json::from_str(text).map_err(|e| invalid_config(format!("{what}: {e}")))
}

/// The first header of that name (case-insensitive): what
/// `HttpResponse::header` and `ExtractInput::header` return.
pub(crate) fn header_value<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// A body as text, invalid UTF-8 replaced.
pub(crate) fn body_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// The plugin's metadata from its own Cargo.toml (`name`, `version`,
/// `description`); the export macros call this with `env!` values.
#[doc(hidden)]
pub fn __metadata(name: &str, version: &str, description: &str) -> PluginMetadata {
    PluginMetadata {
        name: name.to_string(),
        version: version.to_string(),
        description: description.to_string(),
    }
}
