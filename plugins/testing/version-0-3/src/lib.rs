//! Test plugin: an extractor built against apirun:plugin@0.3.0, to check that the
//! host applies the semver compatibility rule (it answers every path with "0.3.0").

wit_bindgen::generate!({
    inline: r#"
        package apirun:plugin@0.3.0;

        interface types {
            record header { name: string, value: string }
            variant plugin-error { invalid-config(string), transport(string), denied(string), failed(string) }
        }

        interface extractor {
            use types.{header, plugin-error};
            record extract-input { status: u16, headers: list<header>, body: list<u8>, content-type: option<string> }
            extract: func(input: extract-input, paths: list<string>) -> result<list<option<string>>, plugin-error>;
        }

        world extractor-plugin {
            export extractor;
        }
    "#,
});

use apirun::plugin::types::PluginError;
use exports::apirun::plugin::extractor::{ExtractInput, Guest};

struct Versioned;

impl Guest for Versioned {
    fn extract(
        _input: ExtractInput,
        paths: Vec<String>,
    ) -> Result<Vec<Option<String>>, PluginError> {
        Ok(paths.iter().map(|_| Some("0.3.0".to_string())).collect())
    }
}

export!(Versioned);
