//! The `extractor-plugin` world: an `env_from` extractor (`{from: <name>, path: ...}`).

use serde::de::DeserializeOwned;

use crate::{ExtractInput, PluginError, failed, parse_json};

/// Implement this and export it with [`export_extractor!`](crate::export_extractor).
pub trait Extractor {
    /// One result per path, in order; `None` = not in the response (the
    /// step's `env_missing` decides what that means).
    fn extract(input: ExtractInput, paths: Vec<String>)
    -> Result<Vec<Option<String>>, PluginError>;
}

impl ExtractInput {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::header_value(&self.headers, name)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        crate::body_text(&self.body)
    }

    /// The body parsed as JSON; a body that does not parse is `Failed`.
    pub fn json(&self) -> Result<serde_json::Value, PluginError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| failed(format!("the response body is not JSON: {e}")))
    }

    /// The plugin's static `config:` (from its `plugins:` entry) parsed into `T`.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        parse_json(&self.config, "the plugin's `config:`")
    }
}

/// Export a type implementing [`Extractor`] as the component's extractor.
/// Its name, version and description come from the plugin's Cargo.toml.
#[macro_export]
macro_rules! export_extractor {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __ApirunExtractorExport;

        impl $crate::bindings::exports::apirun::plugin::extractor::Guest
            for __ApirunExtractorExport
        {
            fn extract(
                input: $crate::ExtractInput,
                paths: ::std::vec::Vec<::std::string::String>,
            ) -> ::core::result::Result<
                ::std::vec::Vec<::core::option::Option<::std::string::String>>,
                $crate::PluginError,
            > {
                <$ty as $crate::Extractor>::extract(input, paths)
            }
        }

        impl $crate::bindings::exports::apirun::plugin::metadata::Guest
            for __ApirunExtractorExport
        {
            fn metadata() -> $crate::PluginMetadata {
                $crate::__metadata(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
        }

        $crate::bindings::__apirun_export_world!(__ApirunExtractorExport);
    };
}
