//! Checking a response's `assert:` list (docs/migrations.md, "Assertions").
//!
//! Values are read with the same extractor plugins as `env_from` (`gjson` for
//! `path:`, `header` for `header:`), so a path means the same in both places and
//! a hostile body is read inside the plugin sandbox (fuel, memory and output caps,
//! docs/security.md) rather than by a second JSON parser in the host.

use super::error::StepFailure;
use super::step::{RenderMode, StepEnv, snippet};
use super::vars::{Vars, context};
use crate::config::{AssertOp, AssertSpec, ResponseSpec, assert::compile_regex};
use crate::output::escape_line;
use crate::plugin::{PluginKind, PluginResponse};
use crate::template::TemplateText;

/// Longest actual value quoted in a failure message (a body may hold megabytes).
const MAX_SHOWN: usize = 200;

impl StepEnv {
    /// Render a template over `vars` (paths and expected values, parsed
    /// when the migration file was loaded).
    pub(super) fn render_run(
        &self,
        template: &TemplateText,
        vars: &Vars,
        field: &str,
    ) -> Result<String, StepFailure> {
        if template.is_static() {
            return Ok(template.source().to_string());
        }
        let mut ctx = context(vars);
        self.render(template, &mut ctx, RenderMode::Run, field)
    }

    /// Check every assertion of `spec` on `response`; the first that fails
    /// fails the step, naming the path, what was expected and what came back
    /// (masked).
    pub(crate) async fn check_asserts(
        &self,
        spec: &ResponseSpec,
        response: &PluginResponse,
        vars: &Vars,
        field: &str,
    ) -> Result<(), StepFailure> {
        for (i, assert) in spec.assert.iter().enumerate() {
            let at = format!("{field}.response.assert[{i}]");
            if let Some(message) = self.check_one(assert, response, vars, &at).await? {
                let mut failure = StepFailure::new(
                    Some(at),
                    format!(
                        "{message}; the server answered {}: {}",
                        response.status,
                        self.masker.mask(&snippet(&response.body))
                    ),
                );
                failure.status = Some(response.status);
                failure.body = Some(response.body.clone());
                return Err(failure);
            }
        }
        Ok(())
    }

    /// None if the assertion holds, else why not. Errors: a template or
    /// extractor that cannot run.
    async fn check_one(
        &self,
        assert: &AssertSpec,
        response: &PluginResponse,
        vars: &Vars,
        at: &str,
    ) -> Result<Option<String>, StepFailure> {
        let path = self.render_run(&assert.path, vars, &format!("{at}.path"))?;
        let plugin = self
            .plugins
            .get(PluginKind::Extractor, &assert.from)
            .map_err(|e| StepFailure::new(Some(at.to_string()), e.to_string()))?;
        let actual = plugin
            .extract(response, std::slice::from_ref(&path))
            .await
            .map_err(|e| StepFailure::new(Some(at.to_string()), e.to_string()))?
            .into_iter()
            .next()
            .flatten();
        let source = assert.describe_source(&path);
        let op = assert.op.name();
        let render = |v: &TemplateText| self.render_run(v, vars, &format!("{at}.{op}"));
        let shown = |v: &str| quote(&self.masker.mask(v));
        let Some(actual) = actual else {
            return Ok(match &assert.op {
                AssertOp::Exists(false) => None,
                _ => Some(format!(
                    "assertion failed: {source} {}, but it is not in the response",
                    expectation(&assert.op, &self.expected_text(assert, vars, at)?)
                )),
            });
        };
        let holds = match &assert.op {
            AssertOp::Exists(want) => *want,
            AssertOp::Equals(v) => same(&actual, &render(v)?),
            AssertOp::NotEquals(v) => !same(&actual, &render(v)?),
            AssertOp::Contains(v) => actual.contains(&render(v)?),
            AssertOp::Matches(v) => {
                let pattern = render(v)?;
                let regex = compile_regex(&pattern).map_err(|e| {
                    StepFailure::new(Some(format!("{at}.matches")), format!("invalid regex: {e}"))
                })?;
                regex.is_match(&actual)
            }
            AssertOp::GreaterThan(v) | AssertOp::LessThan(v) => {
                let bound = render(v)?;
                let Ok(limit) = bound.trim().parse::<f64>() else {
                    return Err(StepFailure::new(
                        Some(format!("{at}.{op}")),
                        format!("{op} compares numbers; {} is not a number", shown(&bound)),
                    ));
                };
                match actual.trim().parse::<f64>() {
                    Ok(n) if matches!(assert.op, AssertOp::GreaterThan(_)) => n > limit,
                    Ok(n) => n < limit,
                    Err(_) => false,
                }
            }
            AssertOp::OneOf(items) => {
                let mut any = false;
                for item in items {
                    any |= same(&actual, &render(item)?);
                }
                any
            }
        };
        if holds {
            return Ok(None);
        }
        let expected = self.expected_text(assert, vars, at)?;
        Ok(Some(format!(
            "assertion failed: {source} {}, actual {}",
            expectation(&assert.op, &expected),
            shown(&actual)
        )))
    }

    /// The expected value(s), rendered and masked, for messages.
    fn expected_text(
        &self,
        assert: &AssertSpec,
        vars: &Vars,
        at: &str,
    ) -> Result<String, StepFailure> {
        let op = assert.op.name();
        let mut parts = Vec::new();
        for template in assert.op.templates() {
            let value = self.render_run(template, vars, &format!("{at}.{op}"))?;
            parts.push(quote(&self.masker.mask(&value)));
        }
        Ok(parts.join(", "))
    }
}

/// Equal as text, or as numbers when both are numbers (`1.0` equals `1`).
fn same(actual: &str, expected: &str) -> bool {
    if actual == expected {
        return true;
    }
    match (actual.trim().parse::<f64>(), expected.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// "expected equals \"x\"" and the like.
fn expectation(op: &AssertOp, expected: &str) -> String {
    match op {
        AssertOp::Exists(true) => "expected to exist".to_string(),
        AssertOp::Exists(false) => "expected not to exist".to_string(),
        AssertOp::OneOf(_) => format!("expected one_of [{expected}]"),
        other => format!("expected {} {expected}", other.name()),
    }
}

/// A value quoted on one line, control characters escaped, cut at [`MAX_SHOWN`].
fn quote(value: &str) -> String {
    let line = escape_line(value);
    if line.len() <= MAX_SHOWN {
        return format!("\"{line}\"");
    }
    let mut end = MAX_SHOWN;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("\"{}...\" ({} bytes)", &line[..end], value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_as_numbers() {
        assert!(same("1", "1.0"));
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("1", "2"));
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(1000);
        let q = quote(&long);
        assert!(q.len() < 300, "{q}");
        assert!(q.ends_with("(1000 bytes)"));
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
    }
}
