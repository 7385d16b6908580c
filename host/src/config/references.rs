//! Cross-file checks between a stage's config and its migrations: every `auth_name` /
//! `down.auth` names an auth entry, every step type is `http` or a plugin, every `env_from`
//! extractor is `gjson`, `header` or a plugin. These carry the file and field path (the
//! model keeps no line numbers).

use super::error::Diagnostic;
use super::migration::{HTTP_STEP, Migration, StepSpec};
use super::stage_config::StageConfig;
use super::suggest::closest;

/// Extractors built into the binary.
pub const BUILTIN_EXTRACTORS: &[&str] = &["gjson", "header", "regex"];

struct Known<'a> {
    config: &'a StageConfig,
    auths: Vec<&'a str>,
    step_types: Vec<&'a str>,
    extractors: Vec<&'a str>,
}

/// Checks the references from `migrations` to `config`; returns one error per bad reference.
pub fn check_references(config: &StageConfig, migrations: &[Migration]) -> Vec<Diagnostic> {
    let plugins: Vec<&str> = config.plugins.iter().map(|p| p.name.as_str()).collect();
    let known = Known {
        config,
        auths: config.auth.iter().map(|a| a.name.as_str()).collect(),
        step_types: std::iter::once(HTTP_STEP)
            .chain(plugins.iter().copied())
            .collect(),
        extractors: BUILTIN_EXTRACTORS
            .iter()
            .copied()
            .chain(plugins.iter().copied())
            .collect(),
    };
    let mut out = Vec::new();
    for m in migrations {
        if m.up.request.is_some() {
            if let Some(step) = m.up.steps.first() {
                check_step(&known, m, step, "up", None, &mut out);
            }
        } else {
            for (i, step) in m.up.steps.iter().enumerate() {
                check_step(&known, m, step, &format!("up.steps[{i}]"), None, &mut out);
            }
        }
        if let Some(verify) = &m.verify {
            if let Some(auth) = &verify.request.auth_name
                && !known.auths.contains(&auth.as_str())
            {
                out.push(unknown(
                    &known,
                    m,
                    "verify.request.auth_name",
                    "auth",
                    auth,
                    &known.auths,
                ));
            }
            if let Some(resp) = &verify.response {
                check_assert_extractors(&known, m, resp, "verify", &mut out);
            }
        }
        let Some(down) = &m.down else { continue };
        if down.request.is_some() {
            // Go form: [find,] request. An auth inherited from `down.auth` is reported there.
            let n = down.steps.len();
            for (i, step) in down.steps.iter().enumerate() {
                let at = if i + 1 < n { "down.find" } else { "down" };
                let inherited = step
                    .request
                    .as_ref()
                    .is_some_and(|r| r.auth_name.is_some() && r.auth_name == down.auth);
                let auth_field = inherited.then_some("down.auth");
                check_step(&known, m, step, at, auth_field, &mut out);
            }
        } else {
            for (i, step) in down.steps.iter().enumerate() {
                check_step(&known, m, step, &format!("down.steps[{i}]"), None, &mut out);
            }
        }
    }
    out
}

fn check_step(
    known: &Known<'_>,
    m: &Migration,
    step: &StepSpec,
    at: &str,
    auth_field: Option<&str>,
    out: &mut Vec<Diagnostic>,
) {
    if !known.step_types.contains(&step.kind.as_str()) {
        out.push(unknown(
            known,
            m,
            &format!("{at}.type"),
            "step type",
            &step.kind,
            &known.step_types,
        ));
    }
    if let Some(auth) = step.request.as_ref().and_then(|r| r.auth_name.as_ref())
        && !known.auths.contains(&auth.as_str())
    {
        let field = auth_field.map_or_else(|| format!("{at}.request.auth_name"), str::to_string);
        let d = unknown(known, m, &field, "auth", auth, &known.auths);
        // `down.auth` used by both find and the request: say it once.
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if let Some(resp) = &step.response {
        check_assert_extractors(known, m, resp, at, out);
        for (var, spec) in &resp.env_from {
            if !known.extractors.contains(&spec.from.as_str()) {
                out.push(unknown(
                    known,
                    m,
                    &format!("{at}.response.env_from.{var}.from"),
                    "extractor",
                    &spec.from,
                    &known.extractors,
                ));
            }
        }
    }
}

/// Every `assert` reads its value with a known extractor.
fn check_assert_extractors(
    known: &Known<'_>,
    m: &Migration,
    resp: &crate::config::ResponseSpec,
    at: &str,
    out: &mut Vec<Diagnostic>,
) {
    for (i, assert) in resp.assert.iter().enumerate() {
        if !known.extractors.contains(&assert.from.as_str()) {
            out.push(unknown(
                known,
                m,
                &format!("{at}.response.assert[{i}].from"),
                "extractor",
                &assert.from,
                &known.extractors,
            ));
        }
    }
}

fn unknown(
    known: &Known<'_>,
    m: &Migration,
    field: &str,
    what: &str,
    name: &str,
    names: &[&str],
) -> Diagnostic {
    let config = known.config.path.display();
    let hint = match (closest(name, names), what) {
        (Some(c), _) => format!("did you mean \"{c}\"?"),
        (None, "auth") if names.is_empty() => format!("{config} defines no auth"),
        (None, "auth") => format!("{config} defines: {}", names.join(", ")),
        (None, _) => format!(
            "known: {}; or add a plugin named \"{name}\" under plugins: in {config}",
            names.join(", ")
        ),
    };
    Diagnostic::error(&m.path, format!("unknown {what} \"{name}\""))
        .field(field)
        .hint(hint)
}
