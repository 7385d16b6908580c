//! Variables and their precedence (docs/multi-stage.md#variables), later wins:
//! global env < the config's `env` < the stage's env in stages.yaml <
//! imported variables < variables extracted by migrations < a migration's own `env`.

use std::collections::BTreeMap;

use crate::config::EnvEntry;
use crate::template::{Context, TemplateError, TemplateText};

pub type Vars = BTreeMap<String, String>;

/// Variables handed to a stage from outside its config.yaml.
#[derive(Debug, Clone, Default)]
pub struct InheritedVars {
    /// `global.env` of stages.yaml (below the config's env).
    pub global: Vars,
    /// The stage's `env` in stages.yaml (above the config's env).
    pub stage: Vars,
    /// Variables imported with `env_from_stages` (above the stage env).
    pub imported: Vars,
    /// `--var`, `--var-file`, `--secret` and `APIRUN_VAR_*` (above every
    /// file; docs/configuration.md, "Variables from the command line").
    pub cli: Vars,
}

/// A template context over `vars` (no auth tokens). Borrowed, not copied:
/// a render costs the same with 10 or 10,000 variables in scope.
pub fn context(vars: &Vars) -> Context<'_> {
    Context::over(vars)
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("env `{name}`: {source}")]
    Template { name: String, source: TemplateError },
}

/// Resolve a stage's base variables: the config's `env` entries are rendered
/// in order, each over everything defined so far; the stage env and imports
/// override them. A `valueFromEnv` naming an unset OS variable leaves the
/// variable undefined (unless `default:`), and `unset_os` records it so that
/// using it can say which OS variable to set.
pub fn resolve_base(
    entries: &[EnvEntry],
    inherited: &InheritedVars,
    unset_os: &mut BTreeMap<String, String>,
) -> Result<Vars, EnvError> {
    let mut vars = inherited.global.clone();
    let overrides: Vars = inherited
        .stage
        .iter()
        .chain(inherited.imported.iter())
        .chain(inherited.cli.iter())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rendered = |raw: &TemplateText, vars: &Vars| {
        // Over everything visible so far, overrides first, so a config value
        // may use the stage env or an imported variable (borrowed, not merged
        // into a copy per entry).
        let ctx = Context {
            strings: vec![&overrides, vars],
            ..Context::default()
        };
        raw.render(&ctx)
    };
    for entry in entries {
        if overrides.contains_key(&entry.name) {
            continue;
        }
        // `value` and `default` were parsed when config.yaml was loaded; an OS
        // variable's value is read now, and is a template too (as in the Go
        // tool), so it is parsed here.
        let from_os;
        let raw = match (&entry.value, &entry.value_from_env) {
            (Some(value), _) => Some(value),
            (None, Some(os_var)) => match std::env::var(os_var) {
                Ok(value) => {
                    from_os = TemplateText::from(value);
                    Some(&from_os)
                }
                Err(_) => {
                    if entry.default.is_none() {
                        unset_os.insert(entry.name.clone(), os_var.clone());
                    }
                    entry.default.as_ref()
                }
            },
            (None, None) => entry.default.as_ref(),
        };
        let Some(raw) = raw else { continue };
        let value = rendered(raw, &vars).map_err(|source| EnvError::Template {
            name: entry.name.clone(),
            source,
        })?;
        vars.insert(entry.name.clone(), value);
    }
    vars.extend(overrides);
    Ok(vars)
}

/// Render a migration's (or step's) own `env` in file order over `vars`,
/// adding each to `vars`.
pub fn apply_local_env(
    env: &indexmap::IndexMap<String, TemplateText>,
    vars: &mut Vars,
) -> Result<(), (String, TemplateError)> {
    for (name, raw) in env {
        let value = raw.render(&context(vars)).map_err(|e| (name.clone(), e))?;
        vars.insert(name.clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, value: &str) -> EnvEntry {
        EnvEntry {
            name: name.into(),
            value: Some(value.into()),
            value_from_env: None,
            default: None,
        }
    }

    #[test]
    fn precedence_and_templates() {
        let inherited = InheritedVars {
            global: [
                ("project".to_string(), "demo".to_string()),
                ("a".into(), "global".into()),
            ]
            .into(),
            stage: [("environment".to_string(), "dev".to_string())].into(),
            imported: [("a".to_string(), "imported".to_string())].into(),
            cli: Vars::new(),
        };
        let entries = vec![
            entry("a", "config"),
            entry("namespace", "{{.project}}-{{.environment}}"),
        ];
        let mut unset = BTreeMap::new();
        let vars = resolve_base(&entries, &inherited, &mut unset).expect("resolves");
        assert_eq!(vars["a"], "imported");
        assert_eq!(vars["namespace"], "demo-dev");
    }

    #[test]
    fn unset_os_variable_is_recorded_not_fatal() {
        let entries = vec![EnvEntry {
            name: "pw".into(),
            value: None,
            value_from_env: Some("APIRUN_TEST_SURELY_UNSET_VAR".into()),
            default: None,
        }];
        let mut unset = BTreeMap::new();
        let vars = resolve_base(&entries, &InheritedVars::default(), &mut unset).expect("ok");
        assert!(!vars.contains_key("pw"));
        assert_eq!(unset["pw"], "APIRUN_TEST_SURELY_UNSET_VAR");
    }

    #[test]
    fn local_env_renders_in_order() {
        let mut vars: Vars = [("base".to_string(), "x".to_string())].into();
        let env: indexmap::IndexMap<String, TemplateText> = [
            ("a".to_string(), "{{.base}}1".into()),
            ("b".into(), "{{.a}}2".into()),
        ]
        .into_iter()
        .collect();
        apply_local_env(&env, &mut vars).expect("renders");
        assert_eq!(vars["b"], "x12");
    }
}
