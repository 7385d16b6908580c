//! A stage's `condition:` in stages.yaml, parsed when the file is loaded: a
//! template that renders to `true` or `false`, or the documented comparison
//! form `{{.environment}} == 'production'` (and `!=`) whose sides are
//! templates (docs/multi-stage.md). Each template part is a [`TemplateText`]
//! with its position, so evaluating the condition parses nothing and a
//! syntax error is reported at its line. What makes a condition valid or
//! true is decided by the orchestrator (orchestrate/condition.rs).

use serde::Serialize;

use crate::template::{Layout, Origin, TemplateText};

/// The parts of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionForm {
    /// A template that must render to `true` or `false`.
    Bool(TemplateText),
    /// `left == right` / `left != right`; each side a template or a literal.
    Compare {
        left: TemplateText,
        equal: bool,
        right: TemplateText,
    },
}

/// A `condition:` as written, with its parts parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    source: String,
    /// The parts, or why the text has no usable shape (two comparisons).
    form: Result<ConditionForm, String>,
}

impl Condition {
    /// Splits `source` on a `==` / `!=` outside `{{ }}` actions and parses
    /// each part; `origin` is where the value is in its file.
    pub fn new(source: impl Into<String>, origin: Origin) -> Condition {
        let source = source.into();
        let form = split(&source).map(|shape| {
            let part = |range: (usize, usize)| {
                let text = &source[range.0..range.1];
                TemplateText::new(text, shifted(origin, &source[..range.0]))
            };
            match shape {
                Shape::Bool(range) => ConditionForm::Bool(part(range)),
                Shape::Compare { left, equal, right } => ConditionForm::Compare {
                    left: part(left),
                    equal,
                    right: part(right),
                },
            }
        });
        Condition { source, form }
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Its parts, or why it has none.
    pub fn form(&self) -> Result<&ConditionForm, &str> {
        self.form.as_ref().map_err(String::as_str)
    }
}

impl std::ops::Deref for Condition {
    type Target = str;
    fn deref(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// Where a part starting after `before` is: a one-line flow scalar's part
/// starts that many columns further; in a block scalar only the value's
/// start is kept.
fn shifted(origin: Origin, before: &str) -> Origin {
    match origin.layout {
        Layout::Plain | Layout::Quoted if !before.contains('\n') => Origin {
            column: origin.column + before.chars().count(),
            ..origin
        },
        _ => origin,
    }
}

/// Byte ranges of the trimmed parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Bool((usize, usize)),
    Compare {
        left: (usize, usize),
        equal: bool,
        right: (usize, usize),
    },
}

/// `start..end` of `source` without surrounding whitespace.
fn trimmed(source: &str, start: usize, end: usize) -> (usize, usize) {
    let text = &source[start..end];
    let from = start + (text.len() - text.trim_start().len());
    let to = end - (text.len() - text.trim_end().len());
    (from, to.max(from))
}

/// Splits on a `==` / `!=` outside `{{ }}` actions; more than one is an error.
fn split(source: &str) -> Result<Shape, String> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut found: Option<(usize, bool)> = None;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'{', b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            (b'}', b'}') if depth > 0 => {
                depth -= 1;
                i += 2;
                continue;
            }
            (b'=', b'=') | (b'!', b'=') if depth == 0 => {
                if found.is_some() {
                    return Err("more than one comparison; use one `==` or `!=`".into());
                }
                found = Some((i, bytes[i] == b'='));
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(match found {
        Some((at, equal)) => Shape::Compare {
            left: trimmed(source, 0, at),
            equal,
            right: trimmed(source, at + 2, source.len()),
        },
        None => Shape::Bool(trimmed(source, 0, source.len())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(line: usize, column: usize) -> Origin {
        Origin {
            line,
            column,
            layout: Layout::Plain,
        }
    }

    #[test]
    fn parts_are_parsed_with_their_columns() {
        let c = Condition::new("{{.environment}} == 'production'", plain(3, 16));
        let Ok(ConditionForm::Compare { left, equal, right }) = c.form() else {
            panic!("{:?}", c.form());
        };
        assert!(*equal);
        assert_eq!(left.source(), "{{.environment}}");
        assert_eq!(right.source(), "'production'");
        assert_eq!(right.origin().column, 16 + 20);
        assert!(left.parsed().is_ok() && right.is_static());
    }

    #[test]
    fn a_broken_part_keeps_its_error_and_position() {
        let c = Condition::new("  {{.x", plain(5, 10));
        let Ok(ConditionForm::Bool(text)) = c.form() else {
            panic!("{:?}", c.form());
        };
        assert_eq!(text.source(), "{{.x");
        let at = text.parsed().err().map(|e| e.position());
        assert_eq!(at.and_then(|(l, c)| text.locate(l, c)), Some((5, 12)));
        assert!(Condition::new("a == b == c", plain(1, 1)).form().is_err());
    }
}
