//! A stage's `condition`: a template rendered with the stage's variables to
//! `true` or `false`, or the documented comparison form
//! `{{.environment}} == 'production'` (and `!=`). Anything else is an error
//! (the Go tool silently treats it as false).

use crate::migrate::Vars;
use crate::template::{Context, RefKind, Template};

fn context(vars: &Vars) -> Context<'_> {
    Context::over(vars)
}

/// The parsed shape of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape<'a> {
    /// A template that must render to `true` or `false`.
    Bool(&'a str),
    /// `left == right` / `left != right`; each side a template or a literal.
    Compare {
        left: &'a str,
        equal: bool,
        right: &'a str,
    },
}

/// Splits on a `==` / `!=` outside `{{ }}` actions; more than one is an error.
fn shape(source: &str) -> Result<Shape<'_>, String> {
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
            left: source[..at].trim(),
            equal,
            right: source[at + 2..].trim(),
        },
        None => Shape::Bool(source.trim()),
    })
}

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

/// Static check, for `stages validate`: returns the variables it uses, or
/// why it is invalid.
pub fn check(source: &str) -> Result<Vec<(String, bool)>, String> {
    let parts: Vec<&str> = match shape(source)? {
        Shape::Bool(s) => {
            let t = Template::parse(s).map_err(|e| format!("template: {e}"))?;
            if t.is_static() && !matches!(s.to_ascii_lowercase().as_str(), "true" | "false") {
                return Err(format!("\"{s}\" is neither true nor false"));
            }
            vec![s]
        }
        Shape::Compare { left, right, .. } => {
            if left.is_empty() || right.is_empty() {
                return Err("a comparison needs a value on both sides".into());
            }
            vec![left, right]
        }
    };
    let mut refs = Vec::new();
    for part in parts {
        let t = Template::parse(part).map_err(|e| format!("template: {e}"))?;
        for r in t.references() {
            if r.kind == RefKind::Var {
                refs.push((r.name, r.optional));
            }
        }
    }
    Ok(refs)
}

/// Evaluates the condition over `vars`.
pub fn evaluate(source: &str, vars: &Vars) -> Result<bool, String> {
    let ctx = context(vars);
    let render =
        |s: &str| crate::template::render_str(s, &ctx).map_err(|e| format!("template: {e}"));
    match shape(source)? {
        Shape::Bool(s) => {
            let out = render(s)?;
            match out.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!(
                    "rendered to \"{other}\", which is neither true nor false; {FORM_HINT}"
                )),
            }
        }
        Shape::Compare { left, equal, right } => {
            if left.is_empty() || right.is_empty() {
                return Err(format!(
                    "a comparison needs a value on both sides; {FORM_HINT}"
                ));
            }
            let l = render(left)?;
            let r = render(right)?;
            Ok((unquote(&l) == unquote(&r)) == equal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("environment".to_string(), "development".to_string())].into()
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
}
