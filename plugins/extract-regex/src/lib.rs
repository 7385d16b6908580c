//! The `regex` extractor: each path is a regular expression (regex-lite
//! syntax, like Rust's `regex` without Unicode classes) searched in the body as
//! UTF-8 text (invalid bytes become U+FFFD). The value is capture group 1 when
//! the expression has groups, else the whole match. No match, or a group 1
//! that took no part in the match, is none.

use regex_lite::Regex;

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "extractor-plugin",
});

use apirun::plugin::types::PluginError;
use exports::apirun::plugin::extractor::{ExtractInput, Guest};
use exports::apirun::plugin::metadata::{self, PluginMetadata};

struct RegexExtractor;

impl Guest for RegexExtractor {
    fn extract(
        input: ExtractInput,
        paths: Vec<String>,
    ) -> Result<Vec<Option<String>>, PluginError> {
        // Every expression is checked before any is used, whatever the body.
        let regexes = paths
            .iter()
            .map(|p| compile(p))
            .collect::<Result<Vec<_>, _>>()?;
        let body = String::from_utf8_lossy(&input.body);
        Ok(regexes.iter().map(|re| first_value(re, &body)).collect())
    }
}

fn compile(pattern: &str) -> Result<Regex, PluginError> {
    if pattern.is_empty() {
        return Err(PluginError::InvalidConfig(
            "regex extractor: the path is empty; give a regular expression".into(),
        ));
    }
    Regex::new(pattern).map_err(|e| {
        PluginError::InvalidConfig(format!("regex extractor: invalid regex {pattern:?}: {e}"))
    })
}

fn first_value(re: &Regex, text: &str) -> Option<String> {
    let captures = re.captures(text)?;
    let group = if re.captures_len() > 1 { 1 } else { 0 };
    captures.get(group).map(|m| m.as_str().to_string())
}

impl metadata::Guest for RegexExtractor {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "regex".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Regular expressions over the body (built in).".into(),
        }
    }
}

export!(RegexExtractor);

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(body: &[u8], paths: &[&str]) -> Result<Vec<Option<String>>, PluginError> {
        let input = ExtractInput {
            status: 200,
            headers: Vec::new(),
            body: body.to_vec(),
            content_type: Some("text/html".into()),
            config: "null".into(),
        };
        RegexExtractor::extract(input, paths.iter().map(|p| p.to_string()).collect())
    }

    fn some(value: &str) -> Option<String> {
        Some(value.to_string())
    }

    const PAGE: &[u8] = b"<input name=\"csrf\" value=\"tok-123\">\nid=42 id=43\nTotal: 7 items";

    #[test]
    fn group_one_when_there_are_groups() {
        assert_eq!(
            extract(
                PAGE,
                &[
                    r#"name="csrf" value="([^"]+)""#,
                    r"id=(\d+)",
                    r"(\d+) (items)"
                ]
            )
            .unwrap(),
            [some("tok-123"), some("42"), some("7")]
        );
    }

    #[test]
    fn whole_match_without_groups() {
        assert_eq!(
            extract(PAGE, &[r"id=\d+", r"(?:Total): \d+"]).unwrap(),
            [some("id=42"), some("Total: 7")]
        );
    }

    #[test]
    fn named_group_counts_as_group_one() {
        assert_eq!(extract(PAGE, &[r"Total: (?P<n>\d+)"]).unwrap(), [some("7")]);
    }

    #[test]
    fn no_match_is_none() {
        assert_eq!(
            extract(PAGE, &["nothing here", r"id=(\d+)"]).unwrap(),
            [None, some("42")]
        );
    }

    #[test]
    fn group_one_outside_the_match_is_none_and_empty_group_is_present() {
        assert_eq!(
            extract(b"id=", &[r"id=(\d+)?", r"id=(\d*)"]).unwrap(),
            [None, some("")]
        );
    }

    #[test]
    fn flags_and_multiline() {
        assert_eq!(extract(PAGE, &[r"(?m)^TOTAL: (\d+)$"]).unwrap(), [None]);
        assert_eq!(
            extract(PAGE, &[r"(?mi)^total: (\d+) items$"]).unwrap(),
            [some("7")]
        );
    }

    #[test]
    fn non_utf8_body_is_read_lossily() {
        assert_eq!(
            extract(b"\xff\xfekey=v1", &[r"key=(\w+)"]).unwrap(),
            [some("v1")]
        );
        assert_eq!(extract(b"", &["a"]).unwrap(), [None]);
    }

    #[test]
    fn invalid_regex_is_a_config_error_naming_it() {
        match extract(PAGE, &[r"id=(\d+)", r"id=(\d+"]) {
            Err(PluginError::InvalidConfig(message)) => {
                assert!(message.contains(r#""id=(\\d+""#), "{message}")
            }
            other => panic!("expected invalid-config, got {other:?}"),
        }
        assert!(matches!(
            extract(PAGE, &[""]),
            Err(PluginError::InvalidConfig(_))
        ));
    }
}
