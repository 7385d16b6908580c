//! A template-bearing field as loaded from a file: its source text, its
//! parsed form (parsed once, when the file is loaded) and where it is in its
//! YAML file. Callers render this value; nothing re-parses the source per
//! render, and `validate` points at a template's line and column from the
//! kept position instead of searching the file's text (docs/performance.md).

use std::sync::Arc;

use super::{Context, Limits, Reference, Template, TemplateError};

/// How a template's text sits in its YAML file, so that a position inside
/// the template (1-based line and column) maps to one in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// A plain scalar: the text starts at the value's column.
    #[default]
    Plain,
    /// A quoted scalar: the text starts one column after the quote.
    Quoted,
    /// A block scalar (`|`, `>`): the text's line N is the file's line
    /// `line + N - 1` (the origin's line is the first content line), and its
    /// lines are indented by `indent` columns.
    Block { indent: usize },
    /// Text made from the value (a YAML mapping given as a JSON body): only
    /// the value's start is known.
    Converted,
}

/// Where a template's text is: its file position (line 0: unknown, e.g. a
/// value built in code) and layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// 1-based line and column of the YAML value.
    pub line: usize,
    pub column: usize,
    pub layout: Layout,
}

impl Origin {
    /// The file position (line, column) of position (`line`, `column`) in the
    /// template's text. A flow scalar spread over several lines is folded by
    /// YAML: its first line maps exactly, later ones give the value's start.
    pub fn locate(&self, line: usize, column: usize) -> Option<(usize, usize)> {
        if self.line == 0 {
            return None;
        }
        let line = line.max(1);
        let column = column.max(1);
        Some(match self.layout {
            Layout::Block { indent } => (self.line + line - 1, indent + column),
            Layout::Plain if line == 1 => (self.line, self.column + column - 1),
            Layout::Quoted if line == 1 => (self.line, self.column + column),
            Layout::Plain | Layout::Quoted | Layout::Converted => (self.line, self.column),
        })
    }
}

/// A template-bearing string field: its source, parsed once, and its origin.
///
/// It reads as its source text (`Deref<Target = str>`, `Display`, and it
/// serializes as that string); two values are equal when their sources are.
/// A source that does not parse keeps its error: [`TemplateText::render`]
/// returns it, and `validate` reports it with its position.
#[derive(Clone)]
pub struct TemplateText {
    source: String,
    parsed: Result<Arc<Template>, TemplateError>,
    origin: Origin,
}

impl TemplateText {
    /// Parses `source` (once) and keeps it with where it came from.
    pub fn new(source: impl Into<String>, origin: Origin) -> TemplateText {
        let source = source.into();
        let parsed = Template::parse(&source).map(Arc::new);
        TemplateText {
            source,
            parsed,
            origin,
        }
    }

    /// Text that is not a template (a value already rendered, such as a
    /// store setting once its variables are filled in): renders as it is,
    /// even if it contains `{{`.
    pub fn literal(text: impl Into<String>) -> TemplateText {
        let source = text.into();
        let parsed = Ok(Arc::new(Template::literal(&source)));
        TemplateText {
            source,
            parsed,
            origin: Origin::default(),
        }
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The text as written (as `String::as_str`).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed template, or why it does not parse.
    pub fn parsed(&self) -> Result<&Template, &TemplateError> {
        self.parsed.as_deref()
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// No action at all: rendering returns the source as it is.
    pub fn is_static(&self) -> bool {
        self.parsed.as_ref().is_ok_and(|t| t.is_static())
    }

    /// Renders against `ctx` with the default [`Limits`].
    pub fn render(&self, ctx: &Context<'_>) -> Result<String, TemplateError> {
        self.render_with(ctx, &Limits::default())
    }

    /// Renders against `ctx` within `limits`; a parse error is returned as is.
    pub fn render_with(&self, ctx: &Context<'_>, limits: &Limits) -> Result<String, TemplateError> {
        match &self.parsed {
            Ok(t) if t.is_static() => Ok(self.source.clone()),
            Ok(t) => t.render_with(ctx, limits),
            Err(e) => Err(e.clone()),
        }
    }

    /// The root variables and auth tokens it uses (none if it does not parse).
    pub fn references(&self) -> Vec<Reference> {
        match &self.parsed {
            Ok(t) => t.references(),
            Err(_) => Vec::new(),
        }
    }

    /// The file position of a position in the template's text.
    pub fn locate(&self, line: usize, column: usize) -> Option<(usize, usize)> {
        self.origin.locate(line, column)
    }
}

impl std::ops::Deref for TemplateText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.source
    }
}

impl AsRef<str> for TemplateText {
    fn as_ref(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Display for TemplateText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::fmt::Debug for TemplateText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.source, f)
    }
}

impl PartialEq for TemplateText {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for TemplateText {}

impl PartialEq<str> for TemplateText {
    fn eq(&self, other: &str) -> bool {
        self.source == other
    }
}

impl PartialEq<&str> for TemplateText {
    fn eq(&self, other: &&str) -> bool {
        self.source == *other
    }
}

/// Empty text.
impl Default for TemplateText {
    fn default() -> Self {
        TemplateText::new(String::new(), Origin::default())
    }
}

/// Built in code (no file position).
impl From<&str> for TemplateText {
    fn from(source: &str) -> Self {
        TemplateText::new(source, Origin::default())
    }
}

impl From<String> for TemplateText {
    fn from(source: String) -> Self {
        TemplateText::new(source, Origin::default())
    }
}

impl serde::Serialize for TemplateText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_once_and_rendered() {
        let vars = [("a".to_string(), "x".to_string())].into();
        let t = TemplateText::from("{{.a}}-1");
        assert!(t.parsed().is_ok());
        assert_eq!(t.render(&Context::over(&vars)).ok().as_deref(), Some("x-1"));
        assert_eq!(&*t, "{{.a}}-1");
        let bad = TemplateText::from("{{.a");
        assert!(bad.parsed().is_err());
        assert!(bad.render(&Context::over(&vars)).is_err());
        assert!(TemplateText::from("plain").is_static());
        let literal = TemplateText::literal("p{{w");
        assert!(literal.is_static() && literal.references().is_empty());
        assert_eq!(
            literal.render(&Context::over(&vars)).ok().as_deref(),
            Some("p{{w")
        );
    }

    #[test]
    fn positions_map_to_the_file() {
        let plain = Origin {
            line: 4,
            column: 10,
            layout: Layout::Plain,
        };
        assert_eq!(plain.locate(1, 3), Some((4, 12)));
        let quoted = Origin {
            layout: Layout::Quoted,
            ..plain
        };
        assert_eq!(quoted.locate(1, 3), Some((4, 13)));
        let block = Origin {
            line: 15,
            column: 7,
            layout: Layout::Block { indent: 6 },
        };
        assert_eq!(block.locate(7, 33), Some((21, 39)));
        assert_eq!(Origin::default().locate(1, 1), None);
    }
}
