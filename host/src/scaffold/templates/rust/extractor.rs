//! `__NAME__`: an extractor. A path is dot-separated keys and array indexes
//! into a JSON body (`spec.size`, `items.0.id`); strings come out as they
//! are, other values as JSON text, and a missing path is `None`.

use apirun_plugin_sdk::{ExtractInput, Extractor, PluginError, export_extractor};
use serde_json::Value;

/// The plugin's logic, kept free of host calls so that `cargo test` runs it natively.
fn lookup(body: &Value, path: &str) -> Option<String> {
    let mut current = body;
    for key in path.split('.').filter(|k| !k.is_empty()) {
        current = match current {
            Value::Object(map) => map.get(key)?,
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match current {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

struct Plugin;

impl Extractor for Plugin {
    fn extract(input: ExtractInput, paths: Vec<String>) -> Result<Vec<Option<String>>, PluginError> {
        let body = input.json()?;
        Ok(paths.iter().map(|path| lookup(&body, path)).collect())
    }
}

export_extractor!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_objects_and_arrays() {
        let body = serde_json::json!({"spec": {"size": "large"}, "items": [{"id": 7}]});
        assert_eq!(lookup(&body, "spec.size").as_deref(), Some("large"));
        assert_eq!(lookup(&body, "items.0.id").as_deref(), Some("7"));
        assert_eq!(lookup(&body, "spec.colour"), None);
    }
}
