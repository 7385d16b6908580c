//! A stage's `condition` (parsed when stages.yaml is loaded, config/condition.rs):
//! a template rendered with the stage's variables to `true` or `false`, or the
//! documented comparison form `{{.environment}} == 'production'` (and `!=`).
//! Anything else is an error (the Go tool silently treats it as false).

use crate::config::{Condition, ConditionForm};
use crate::migrate::Vars;
use crate::template::{Context, RefKind, TemplateText};

/// A side of a comparison without its quotes.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

const FORM_HINT: &str = "write a template that renders to true or false, e.g. \"true\" or {{eq .environment \"production\"}}, or the form {{.environment}} == 'production' (or !=)";

/// Why a condition is invalid, and where in stages.yaml when a template
/// part does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    /// File line and column.
    pub at: Option<(usize, usize)>,
}

impl Invalid {
    fn new(message: impl Into<String>) -> Invalid {
        Invalid {
            message: message.into(),
            at: None,
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A part's syntax error, at its position in the file.
fn parse_error(part: &TemplateText) -> Option<Invalid> {
    let e = part.parsed().err()?;
    let (line, column) = e.position();
    Some(Invalid {
        message: format!("template: {e}"),
        at: part.locate(line, column),
    })
}

/// Static check, for `stages validate`: returns the variables it uses, or
/// why it is invalid.
pub fn check(condition: &Condition) -> Result<Vec<(String, bool)>, Invalid> {
    let parts: Vec<&TemplateText> = match condition.form().map_err(Invalid::new)? {
        ConditionForm::Bool(part) => {
            if let Some(e) = parse_error(part) {
                return Err(e);
            }
            let s = part.source();
            if part.is_static() && !matches!(s.to_ascii_lowercase().as_str(), "true" | "false") {
                return Err(Invalid::new(format!("\"{s}\" is neither true nor false")));
            }
            vec![part]
        }
        ConditionForm::Compare { left, right, .. } => {
            if left.is_empty() || right.is_empty() {
                return Err(Invalid::new("a comparison needs a value on both sides"));
            }
            vec![left, right]
        }
    };
    let mut refs = Vec::new();
    for part in parts {
        if let Some(e) = parse_error(part) {
            return Err(e);
        }
        for r in part.references() {
            if r.kind == RefKind::Var {
                refs.push((r.name, r.optional));
            }
        }
    }
    Ok(refs)
}

/// Evaluates the condition over `vars`.
pub fn evaluate(condition: &Condition, vars: &Vars) -> Result<bool, String> {
    let ctx = Context::over(vars);
    let render = |part: &TemplateText| part.render(&ctx).map_err(|e| format!("template: {e}"));
    match condition.form()? {
        ConditionForm::Bool(part) => {
            let out = render(part)?;
            match out.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!(
                    "rendered to \"{other}\", which is neither true nor false; {FORM_HINT}"
                )),
            }
        }
        ConditionForm::Compare { left, equal, right } => {
            if left.is_empty() || right.is_empty() {
                return Err(format!(
                    "a comparison needs a value on both sides; {FORM_HINT}"
                ));
            }
            let l = render(left)?;
            let r = render(right)?;
            Ok((unquote(&l) == unquote(&r)) == *equal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Origin;

    fn vars() -> Vars {
        [("environment".to_string(), "development".to_string())].into()
    }

    fn condition(source: &str) -> Condition {
        Condition::new(source, Origin::default())
    }

    fn evaluate(source: &str, vars: &Vars) -> Result<bool, String> {
        super::evaluate(&condition(source), vars)
    }

    fn check(source: &str) -> Result<Vec<(String, bool)>, Invalid> {
        super::check(&condition(source))
    }

    #[test]
    fn literal_template_and_comparison_forms() {
        assert_eq!(evaluate("true", &vars()), Ok(true));
        assert_eq!(evaluate(" False ", &vars()), Ok(false));
        assert_eq!(
            evaluate("{{eq .environment \"development\"}}", &vars()),
            Ok(true)
        );
        assert_eq!(
            evaluate("{{.environment}} == 'production'", &vars()),
            Ok(false)
        );
        assert_eq!(
            evaluate("{{.environment}} != 'production'", &vars()),
            Ok(true)
        );
        assert_eq!(
            evaluate("{{.environment}} == \"development\"", &vars()),
            Ok(true)
        );
    }

    #[test]
    fn anything_else_is_an_error() {
        assert!(evaluate("yes", &vars()).is_err());
        assert!(evaluate("{{.environment}}", &vars()).is_err());
        assert!(evaluate("{{.nope}} == 'x'", &vars()).is_err());
        assert!(check("maybe").is_err());
        assert!(check("a == b == c").is_err());
        assert_eq!(
            check("{{.environment}} == 'production'").map(|r| r.len()),
            Ok(1)
        );
    }

    #[test]
    fn a_syntax_error_is_located_in_the_file() {
        let c = Condition::new(
            "{{.environment}} == {{.x",
            Origin {
                line: 7,
                column: 16,
                layout: crate::template::Layout::Plain,
            },
        );
        let e = super::check(&c).err();
        assert_eq!(e.as_ref().and_then(|e| e.at).map(|(l, _)| l), Some(7));
        assert!(e.is_some_and(|e| e.message.starts_with("template: ")));
    }
}
