//! Log lines through the host (`host.log`): apirun prints them attributed to
//! the plugin, after masking known secrets. stdout/stderr are discarded, so
//! this is the only way to say something. Do not log credentials anyway.

use crate::bindings::apirun::plugin::host::{self, LogLevel};

pub fn trace(message: &str) {
    host::log(LogLevel::Trace, message);
}

pub fn debug(message: &str) {
    host::log(LogLevel::Debug, message);
}

pub fn info(message: &str) {
    host::log(LogLevel::Info, message);
}

pub fn warn(message: &str) {
    host::log(LogLevel::Warn, message);
}

pub fn error(message: &str) {
    host::log(LogLevel::Error, message);
}
