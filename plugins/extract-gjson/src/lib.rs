//! The built-in `gjson` extractor: tidwall gjson paths over a JSON body, with
//! the value-to-string rules of the Go tool (docs/migrations.md).

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "extractor-plugin",
});

use apirun::plugin::types::PluginError;
use exports::apirun::plugin::extractor::{ExtractInput, Guest};
use exports::apirun::plugin::metadata::{self, PluginMetadata};
use gjson::Kind;

struct Gjson;

impl Guest for Gjson {
    fn extract(
        input: ExtractInput,
        paths: Vec<String>,
    ) -> Result<Vec<Option<String>>, PluginError> {
        // A body that is not JSON counts as missing for every path.
        let Ok(body) = std::str::from_utf8(&input.body) else {
            return Ok(vec![None; paths.len()]);
        };
        if !gjson::valid(body) {
            return Ok(vec![None; paths.len()]);
        }
        Ok(paths.iter().map(|path| extract_one(body, path)).collect())
    }
}

fn extract_one(body: &str, path: &str) -> Option<String> {
    let value = gjson::get(body, path);
    if !value.exists() {
        return None;
    }
    Some(match value.kind() {
        Kind::Null => String::new(),
        Kind::True => "true".into(),
        Kind::False => "false".into(),
        Kind::String => value.str().to_string(),
        Kind::Number => number_text(value.json(), value.f64()),
        // Objects and arrays: compact JSON, without re-parsing numbers (no precision loss).
        Kind::Object | Kind::Array => gjson::get(value.json(), "@ugly").json().to_string(),
    })
}

/// Integers keep their exact JSON text (no precision loss for large ids);
/// other numbers print in the shortest decimal form, as Go's gjson does.
fn number_text(raw: &str, as_float: f64) -> String {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        raw.to_string()
    } else {
        format!("{as_float}")
    }
}

impl metadata::Guest for Gjson {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "gjson".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "gjson paths over a JSON body (built in).".into(),
        }
    }
}

export!(Gjson);
