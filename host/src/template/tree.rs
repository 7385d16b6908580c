//! A JSON-like block whose strings are templates (a custom step's `with:`, an
//! auth provider's `config:`), decoded once when its file is loaded: every
//! string leaf is a [`TemplateText`] (parsed once, with its YAML position),
//! so a render walks the tree without parsing, and `validate` reports a
//! leaf's syntax error at its line (docs/performance.md).

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::{Context, TemplateError, TemplateText};

/// A JSON value whose strings are templates. Numbers, booleans and null are
/// kept as written (YAML core schema typing, done by the loader).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum TemplateTree {
    #[default]
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(TemplateText),
    Array(Vec<TemplateTree>),
    /// Keys in file order (a repeated key: the last value, at the first place).
    Object(IndexMap<String, TemplateTree>),
}

impl TemplateTree {
    /// An empty object (`config:` / `with:` left out).
    pub fn empty_object() -> TemplateTree {
        TemplateTree::Object(IndexMap::new())
    }

    /// The tree as written: every string its template source, unrendered
    /// (schema checks, masking of literal secrets, a plugin's static
    /// `declared-variables` call).
    pub fn source(&self) -> Json {
        match self {
            TemplateTree::Null => Json::Null,
            TemplateTree::Bool(b) => Json::Bool(*b),
            TemplateTree::Number(n) => Json::Number(n.clone()),
            TemplateTree::String(t) => Json::String(t.source().to_string()),
            TemplateTree::Array(items) => Json::Array(items.iter().map(Self::source).collect()),
            TemplateTree::Object(map) => {
                Json::Object(map.iter().map(|(k, v)| (k.clone(), v.source())).collect())
            }
        }
    }

    /// Renders every string against `ctx`. On error, the dotted path of the
    /// leaf that failed (`grant_config.password`, `items.0`; "" for a string
    /// at the top), as auth and step errors name it.
    pub fn render(&self, ctx: &Context<'_>) -> Result<Json, (String, TemplateError)> {
        self.render_at(ctx, &mut String::new())
    }

    fn render_at(
        &self,
        ctx: &Context<'_>,
        path: &mut String,
    ) -> Result<Json, (String, TemplateError)> {
        Ok(match self {
            TemplateTree::String(t) => Json::String(t.render(ctx).map_err(|e| (path.clone(), e))?),
            TemplateTree::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(Self::within(path, &i.to_string(), |p| {
                        item.render_at(ctx, p)
                    })?);
                }
                Json::Array(out)
            }
            TemplateTree::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, item) in map {
                    let value = Self::within(path, key, |p| item.render_at(ctx, p))?;
                    out.insert(key.clone(), value);
                }
                Json::Object(out)
            }
            other => other.source(),
        })
    }

    /// Runs `f` with `segment` appended to the dotted `path`, then restores it.
    fn within<T>(path: &mut String, segment: &str, f: impl FnOnce(&mut String) -> T) -> T {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(segment);
        let out = f(path);
        path.truncate(len);
        out
    }

    /// Every string leaf with its path, in order: `a.b`, `list[0]` (the
    /// field syntax of diagnostics), "" for a string at the top.
    pub fn texts(&self) -> Vec<(String, &TemplateText)> {
        let mut out = Vec::new();
        self.collect(String::new(), &mut out);
        out
    }

    fn collect<'t>(&'t self, path: String, out: &mut Vec<(String, &'t TemplateText)>) {
        match self {
            TemplateTree::String(t) => out.push((path, t)),
            TemplateTree::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.collect(format!("{path}[{i}]"), out);
                }
            }
            TemplateTree::Object(map) => {
                for (key, item) in map {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    item.collect(child, out);
                }
            }
            _ => {}
        }
    }

    /// The value of `key` when this is an object.
    pub fn get(&self, key: &str) -> Option<&TemplateTree> {
        match self {
            TemplateTree::Object(map) => map.get(key),
            _ => None,
        }
    }
}

/// Built in code (tests, defaults): strings become templates without a file
/// position.
impl From<Json> for TemplateTree {
    fn from(value: Json) -> Self {
        match value {
            Json::Null => TemplateTree::Null,
            Json::Bool(b) => TemplateTree::Bool(b),
            Json::Number(n) => TemplateTree::Number(n),
            Json::String(s) => TemplateTree::String(TemplateText::from(s)),
            Json::Array(items) => TemplateTree::Array(items.into_iter().map(Self::from).collect()),
            Json::Object(map) => {
                TemplateTree::Object(map.into_iter().map(|(k, v)| (k, Self::from(v))).collect())
            }
        }
    }
}

/// Serializes as written (as [`TemplateTree::source`]).
impl serde::Serialize for TemplateTree {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.source().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::{Layout, Origin};

    fn vars() -> std::collections::BTreeMap<String, String> {
        [("pw".to_string(), "s3cret".to_string())].into()
    }

    #[test]
    fn renders_every_string_and_keeps_the_rest() {
        let tree = TemplateTree::from(json!({
            "user": "admin",
            "password": "{{.pw}}",
            "port": 5432,
            "tls": true,
            "none": null,
            "scopes": ["read", "{{.pw | upper}}"],
            "nested": {"deep": "x-{{.pw}}"}
        }));
        let rendered = tree.render(&Context::over(&vars()));
        assert_eq!(
            rendered.ok(),
            Some(json!({
                "user": "admin",
                "password": "s3cret",
                "port": 5432,
                "tls": true,
                "none": null,
                "scopes": ["read", "S3CRET"],
                "nested": {"deep": "x-s3cret"}
            }))
        );
    }

    #[test]
    fn source_is_the_tree_as_written() {
        let written = json!({"a": "{{.pw}}", "b": [1, "{{"], "c": {"d": false}});
        let tree = TemplateTree::from(written.clone());
        assert_eq!(tree.source(), written);
        assert_eq!(serde_json::to_value(&tree).ok(), Some(written));
        assert_eq!(
            tree.get("a").map(TemplateTree::source),
            Some(json!("{{.pw}}"))
        );
    }

    #[test]
    fn a_failing_leaf_is_named_by_its_dotted_path() {
        let tree = TemplateTree::from(json!({"grant": {"items": ["ok", "{{.missing}}"]}}));
        let (path, error) = match tree.render(&Context::over(&vars())) {
            Err((path, error)) => (path, error.to_string()),
            Ok(v) => panic!("rendered: {v}"),
        };
        assert_eq!(path, "grant.items.1");
        assert!(error.contains("missing"), "{error}");
        let top = TemplateTree::from(json!("{{.nope}}"));
        let path = top.render(&Context::over(&vars())).err().map(|(p, _)| p);
        assert_eq!(path.as_deref(), Some(""));
    }

    #[test]
    fn strings_are_parsed_once_with_their_positions() {
        let origin = Origin {
            line: 7,
            column: 12,
            layout: Layout::Plain,
        };
        let tree = TemplateTree::Object(
            [
                (
                    "url".to_string(),
                    TemplateTree::String(TemplateText::new("{{.a", origin)),
                ),
                (
                    "list".to_string(),
                    TemplateTree::Array(vec![TemplateTree::String("{{.b}}".into())]),
                ),
            ]
            .into_iter()
            .collect(),
        );
        let texts = tree.texts();
        let paths: Vec<&str> = texts.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["url", "list[0]"]);
        let (_, bad) = &texts[0];
        let error = bad.parsed().err().map(|e| e.position());
        assert_eq!(
            error.and_then(|(l, c)| bad.locate(l, c)).map(|(l, _)| l),
            Some(7)
        );
        assert!(texts[1].1.parsed().is_ok());
    }
}
