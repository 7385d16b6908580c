//! The built-in `header` extractor: each path names a response header
//! (case-insensitive); the pseudo-path `:status` gives the status code.
//! A header sent several times gives its values joined with ", ".

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "extractor-plugin",
});

use apirun::plugin::types::{Header, PluginError};
use exports::apirun::plugin::extractor::{ExtractInput, Guest};
use exports::apirun::plugin::metadata::{self, PluginMetadata};

struct HeaderExtractor;

impl Guest for HeaderExtractor {
    fn extract(
        input: ExtractInput,
        paths: Vec<String>,
    ) -> Result<Vec<Option<String>>, PluginError> {
        paths
            .iter()
            .map(|path| extract_one(input.status, &input.headers, path))
            .collect()
    }
}

fn extract_one(status: u16, headers: &[Header], path: &str) -> Result<Option<String>, PluginError> {
    let name = path.trim();
    if name == ":status" {
        return Ok(Some(status.to_string()));
    }
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(PluginError::InvalidConfig(format!(
            "header extractor: {path:?} is not a header name (or the pseudo-path :status)"
        )));
    }
    let values: Vec<&str> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
        .collect();
    Ok((!values.is_empty()).then(|| values.join(", ")))
}

/// RFC 9110 `tchar`: the bytes a header name may contain.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl metadata::Guest for HeaderExtractor {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "header".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Response headers by name, and :status (built in).".into(),
        }
    }
}

export!(HeaderExtractor);

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<Header> {
        [
            ("Content-Type", "application/json"),
            ("Location", "/users/42"),
            ("Set-Cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("X-Empty", ""),
        ]
        .map(|(name, value)| Header {
            name: name.into(),
            value: value.into(),
        })
        .to_vec()
    }

    fn extract(paths: &[&str]) -> Result<Vec<Option<String>>, PluginError> {
        let input = ExtractInput {
            status: 201,
            headers: headers(),
            body: b"{}".to_vec(),
            content_type: Some("application/json".into()),
            config: "null".into(),
        };
        HeaderExtractor::extract(input, paths.iter().map(|p| p.to_string()).collect())
    }

    fn some(value: &str) -> Option<String> {
        Some(value.to_string())
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(
            extract(&["location", "LOCATION", " Location "]).unwrap(),
            [some("/users/42"), some("/users/42"), some("/users/42")]
        );
    }

    #[test]
    fn repeated_headers_are_joined_in_order() {
        assert_eq!(extract(&["Set-Cookie"]).unwrap(), [some("a=1, b=2")]);
    }

    #[test]
    fn absent_is_none_and_empty_is_present() {
        assert_eq!(extract(&["ETag", "x-empty"]).unwrap(), [None, some("")]);
    }

    #[test]
    fn status_pseudo_path() {
        assert_eq!(
            extract(&[":status", "Location"]).unwrap(),
            [some("201"), some("/users/42")]
        );
    }

    #[test]
    fn no_paths_no_values() {
        assert_eq!(extract(&[]).unwrap(), Vec::<Option<String>>::new());
    }

    #[test]
    fn invalid_names_are_config_errors() {
        for path in ["", "X Foo", ":path", "Location:", "a\nb"] {
            match extract(&["Location", path]) {
                Err(PluginError::InvalidConfig(message)) => {
                    assert!(message.contains(&format!("{path:?}")), "{message}")
                }
                other => panic!("{path:?}: expected invalid-config, got {other:?}"),
            }
        }
    }
}
