//! Test plugin: an extractor built against apirun's contract at another
//! version, to check that the host applies the semver compatibility rule.
//! It answers every path with the version it was built against.
//!
//! One source for every version: each `version-X-Y[-Z]` crate points its
//! `lib` and `build` here, and build.rs writes wit/0.1.0/plugin.wit with the
//! package line set to the version its crate name says.

wit_bindgen::generate!({
    path: concat!(env!("OUT_DIR"), "/plugin.wit"),
    world: "extractor-plugin",
});

use apirun::plugin::types::PluginError;
use exports::apirun::plugin::extractor::{ExtractInput, Guest};

struct Versioned;

impl Guest for Versioned {
    fn extract(
        _input: ExtractInput,
        paths: Vec<String>,
    ) -> Result<Vec<Option<String>>, PluginError> {
        Ok(paths
            .iter()
            .map(|_| Some(env!("PROBE_VERSION").to_string()))
            .collect())
    }
}

export!(Versioned);
