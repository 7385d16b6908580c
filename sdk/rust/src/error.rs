//! Error helpers: one constructor per `plugin-error` case, so a plugin says
//! what the user must do in one call (`Err(invalid_config("`url` is missing"))`).
//! apirun prefixes the message with the plugin's name and the step.

use std::fmt;

use crate::PluginError;

/// The input or configuration is wrong: the user must fix a file. Name the key.
pub fn invalid_config(message: impl fmt::Display) -> PluginError {
    PluginError::InvalidConfig(message.to_string())
}

/// No answer came (DNS, connect, reset, timeout).
pub fn transport(message: impl fmt::Display) -> PluginError {
    PluginError::Transport(message.to_string())
}

/// A policy refused the operation.
pub fn denied(message: impl fmt::Display) -> PluginError {
    PluginError::Denied(message.to_string())
}

/// Anything else (e.g. "the token endpoint answered 400: invalid_grant").
pub fn failed(message: impl fmt::Display) -> PluginError {
    PluginError::Failed(message.to_string())
}

// wit-bindgen implements Display (the Debug form) and std::error::Error for
// PluginError already.
