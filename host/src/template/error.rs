//! [`TemplateError`]: everything that can go wrong parsing or rendering.

/// An error from parsing or rendering a template.
///
/// Every variant carries the 1-based `line` and `column` (in characters)
/// inside the template source; the caller adds the file and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The source is malformed: syntax error, unknown function, wrong number
    /// of arguments, undeclared `$variable`, unsupported action, ...
    #[error("line {line}, column {column}: {message}")]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },

    /// `{{.x}}` or `{{.env.x}}` where `x` is not a defined variable.
    #[error(
        "line {line}, column {column}: variable `{name}` is not defined; define it in env, or write {{{{.{name} | default \"...\"}}}}"
    )]
    UndefinedVariable {
        name: String,
        line: usize,
        column: usize,
    },

    /// `{{.auth.x}}` where there is no token for auth provider `x`.
    #[error(
        "line {line}, column {column}: auth `{name}` is not defined (there is no token for an auth provider named `{name}`); configure that provider, or write {{{{.auth.{name} | default \"...\"}}}}"
    )]
    UndefinedAuth {
        name: String,
        line: usize,
        column: usize,
    },

    /// A field missing from a map (or nil) that is not the root, e.g. `{{.port}}`
    /// inside `{{range .servers}}`, or `{{.cfg.port}}` when `cfg` has no `port`.
    #[error(
        "line {line}, column {column}: `{path}` is not defined (there is no field `{name}`); check the data, or write {{{{{path} | default \"...\"}}}}"
    )]
    UndefinedField {
        name: String,
        path: String,
        line: usize,
        column: usize,
    },

    /// A template function failed (bad argument, division by zero, ...).
    #[error("line {line}, column {column}: error calling `{name}`: {message}")]
    Function {
        name: String,
        message: String,
        line: usize,
        column: usize,
    },

    /// Rendering went over a budget of [`super::Limits`]: the output grew past
    /// `max_output_bytes`, or evaluation took more than `max_steps` steps.
    #[error("line {line}, column {column}: {message}")]
    Limit {
        message: String,
        line: usize,
        column: usize,
    },

    /// Any other rendering error (type mismatch, bad range target, ...).
    #[error("line {line}, column {column}: {message}")]
    Exec {
        message: String,
        line: usize,
        column: usize,
    },
}

impl TemplateError {
    /// The `(line, column)` inside the template where the error was found.
    pub fn position(&self) -> (usize, usize) {
        match self {
            TemplateError::Parse { line, column, .. }
            | TemplateError::UndefinedVariable { line, column, .. }
            | TemplateError::UndefinedAuth { line, column, .. }
            | TemplateError::UndefinedField { line, column, .. }
            | TemplateError::Function { line, column, .. }
            | TemplateError::Limit { line, column, .. }
            | TemplateError::Exec { line, column, .. } => (*line, *column),
        }
    }

    /// A "something is not defined" error: the kind `default` turns into nil.
    pub(crate) fn is_missing(&self) -> bool {
        matches!(
            self,
            TemplateError::UndefinedVariable { .. }
                | TemplateError::UndefinedAuth { .. }
                | TemplateError::UndefinedField { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_helpful() {
        let e = TemplateError::UndefinedVariable {
            name: "x".into(),
            line: 2,
            column: 5,
        };
        assert_eq!(
            e.to_string(),
            "line 2, column 5: variable `x` is not defined; define it in env, or write {{.x | default \"...\"}}"
        );
        assert_eq!(e.position(), (2, 5));
        assert!(e.is_missing());
        let e = TemplateError::UndefinedField {
            name: "port".into(),
            path: ".cfg.port".into(),
            line: 1,
            column: 3,
        };
        assert!(
            e.to_string().contains("{{.cfg.port | default \"...\"}}"),
            "{e}"
        );
        let e = TemplateError::Function {
            name: "div".into(),
            message: "division by zero".into(),
            line: 1,
            column: 4,
        };
        assert_eq!(
            e.to_string(),
            "line 1, column 4: error calling `div`: division by zero"
        );
        assert!(!e.is_missing());
    }
}
