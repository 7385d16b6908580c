//! Static checks of a stage, without sending anything: every file loads,
//! every template parses, every auth/plugin name resolves, and every template
//! variable is defined by something (docs/multi-stage.md#validate): the global env,
//! the config env, the stage env, imports, auth providers, and the
//! extractions of earlier migrations (a variable wrapped in `default` is optional).

mod auth_schema;
mod plugins;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use auth_schema::check_auth_configs;
pub use plugins::{DeclaredVariables, declared_variables, plugin_problems};

use crate::config::{
    BodyFile, Diagnostic, Diagnostics, HTTP_STEP, Migration, RequestSpec, Severity, StageConfig,
    StepSpec, load_migrations_lenient, load_stage_config,
};
use crate::plugin::PluginRuntime;
use crate::template::{RefKind, TemplateText, TemplateTree};

/// Names a stage receives from outside its config (stages.yaml).
#[derive(Debug, Clone, Default)]
pub struct OuterNames {
    pub global: BTreeSet<String>,
    pub stage: BTreeSet<String>,
    pub imported: BTreeSet<String>,
}

/// The result of validating one stage.
#[derive(Debug, Default)]
pub struct StageValidation {
    pub config: Option<StageConfig>,
    pub migrations: Vec<Migration>,
    /// Errors, warnings and notes, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Variables each migration's steps extract (what the stage exports).
    pub exported: BTreeSet<String>,
    /// A third-party step plugin runs in this stage: it may set variables
    /// apirun cannot see (`step-output.variables`), so `exported` is not the
    /// whole story (docs/plugins.md).
    pub plugin_steps: bool,
    /// Variables some template of the stage uses unguarded: not inside
    /// `default`, nor under an `{{if}}`/`{{with}}` that tests them.
    pub unguarded: BTreeSet<String>,
    /// Every variable some template of the stage refers to, guarded or not,
    /// and every name its config `env` defines (`validate` warns about a
    /// `--var` none of these uses).
    pub used: BTreeSet<String>,
}

impl StageValidation {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }
}

/// Problems `up`, `down` and dry runs refuse before sending anything, that
/// need no plugin runtime: the built-in auth providers' config keys and
/// versions the store cannot hold. Shared by `validate` and `Stage::open`, so
/// that `validate` predicts `up` (docs/migrations.md, "validate").
pub fn preflight(config: &StageConfig, migrations: &[Migration]) -> Vec<Diagnostic> {
    let mut out = check_auth_configs(config);
    for migration in migrations {
        // The stores keep versions as SQL BIGINT (i64).
        if i64::try_from(migration.version).is_err() {
            out.push(
                Diagnostic::error(
                    &migration.path,
                    format!(
                        "version {} is too large: the store keeps versions as signed 64-bit integers (at most {})",
                        migration.version,
                        i64::MAX
                    ),
                )
                .hint("renumber the file, e.g. with a UTC timestamp YYYYMMDDHHMMSS (`apirun create`)"),
            );
        }
    }
    out
}

/// Checks one stage without sending anything. With `runtime`, every
/// configured plugin is loaded (through the compile cache) and checked
/// against the roles it is used in, as `up` does when the stage opens.
pub fn validate_stage(
    config_path: &Path,
    outer: &OuterNames,
    runtime: Option<&PluginRuntime>,
) -> StageValidation {
    let mut out = StageValidation::default();
    let config = match load_stage_config(config_path) {
        Ok(loaded) => {
            out.diagnostics.extend(loaded.warnings);
            loaded.value
        }
        Err(Diagnostics(diags)) => {
            out.diagnostics.extend(diags);
            return out;
        }
    };
    // Lenient: one broken file must not hide the problems of the others.
    let (migrations, diags) = load_migrations_lenient(&config.migrate_dir);
    out.diagnostics.extend(diags);
    out.migrations = migrations;
    out.diagnostics
        .extend(crate::config::check_references(&config, &out.migrations));
    out.diagnostics.extend(preflight(&config, &out.migrations));
    let mut declared = DeclaredVariables::new();
    if let Some(runtime) = runtime {
        out.diagnostics
            .extend(plugin_problems(runtime, &config, &out.migrations));
        declared = declared_variables(runtime, &config, &out.migrations);
    }
    let found = check_variables(
        &config,
        &out.migrations,
        outer,
        &declared,
        &mut out.diagnostics,
    );
    out.exported = found.exported;
    out.plugin_steps = found.plugin_steps;
    out.unguarded = found.unguarded;
    out.used = found.used;
    // One list in file order (loading, reference and variable checks each add their own).
    let mut sorted = Diagnostics(std::mem::take(&mut out.diagnostics));
    sorted.sort();
    out.diagnostics = sorted.0;
    out.config = Some(config);
    out
}

/// Variables the stage at `config_path` uses unguarded in any template
/// (config env, auth, store, every migration): outside `default` and
/// outside an `{{if}}` testing them. Unreadable files give an empty set
/// (opening the stage reports them).
pub fn unguarded_in_stage(config_path: &Path) -> BTreeSet<String> {
    let Ok(loaded) = load_stage_config(config_path) else {
        return BTreeSet::new();
    };
    let (migrations, _) = load_migrations_lenient(&loaded.value.migrate_dir);
    let mut ignored = Vec::new();
    check_variables(
        &loaded.value,
        &migrations,
        &OuterNames::default(),
        &DeclaredVariables::new(),
        &mut ignored,
    )
    .unguarded
}

/// Template syntax errors only (unclosed actions, unknown functions, wrong
/// argument counts) in the config and every migration. Such a file is invalid:
/// `up`/`down` refuse to start (exit 2) instead of failing in the middle of a
/// run. Undefined variables are not included: at run time they fail the
/// migration that uses them.
pub fn template_syntax_errors(config: &StageConfig, migrations: &[Migration]) -> Vec<Diagnostic> {
    let mut all = Vec::new();
    check_variables(
        config,
        migrations,
        &OuterNames::default(),
        &DeclaredVariables::new(),
        &mut all,
    );
    all.retain(|d| d.severity == Severity::Error && d.message.starts_with("template: "));
    all
}

/// A walk over every template of a stage, checking each against what is defined at that point.
struct Checker<'a> {
    diagnostics: &'a mut Vec<Diagnostic>,
    auth_names: BTreeSet<String>,
    /// Config env entries whose `valueFromEnv` names an unset OS variable
    /// (and that have no default): name -> OS variable.
    unset_os: BTreeMap<String, String>,
    /// The first third-party step plugin seen so far that does not declare
    /// what it sets (it may set anything).
    plugin_step: Option<String>,
    /// What 0.2 step plugins declare each step sets.
    declared: &'a DeclaredVariables,
    /// Variables used unguarded somewhere.
    unguarded: BTreeSet<String>,
    /// Variables referred to anywhere.
    used: BTreeSet<String>,
    /// File contents, read once, to give diagnostics a line and column.
    sources: std::collections::HashMap<std::path::PathBuf, String>,
}

/// Where `.name` (or `.env.name` / `.auth.name`) appears in `file`: the line of
/// `source` that uses it is looked up in the file (the model keeps no
/// positions for template strings; a block scalar's lines appear verbatim).
fn locate(file_text: &str, source: &str, name: &str) -> Option<(usize, usize)> {
    let token = format!(".{name}");
    let uses = |line: &str| {
        line.match_indices(&token).any(|(i, _)| {
            let after = line[i + token.len()..].chars().next();
            !matches!(after, Some(c) if c.is_alphanumeric() || c == '_')
        })
    };
    let wanted = source.lines().map(str::trim).find(|line| uses(line))?;
    file_text.lines().enumerate().find_map(|(index, line)| {
        let column = line.find(wanted)?;
        let within = line[column..].find(&token)?;
        Some((index + 1, column + within + 1))
    })
}

impl Checker<'_> {
    /// A template parsed when its file was loaded: its references are located from the
    /// position it keeps (the file is not read again).
    fn check_text(&mut self, file: &Path, field: &str, text: &TemplateText, defined: &Defined<'_>) {
        if text.is_static() {
            return;
        }
        let source = text.source();
        let template = match text.parsed() {
            Ok(t) => t,
            Err(e) => {
                let mut diagnostic = Diagnostic::error(file, format!("template: {e}")).field(field);
                let (line, column) = e.position();
                if let Some((line, column)) = text.locate(line, column) {
                    diagnostic = diagnostic.at(line, column);
                }
                self.diagnostics.push(diagnostic);
                return;
            }
        };
        self.unguarded.extend(template.unguarded_vars());
        self.used.extend(
            template
                .references()
                .into_iter()
                .filter(|r| r.kind == RefKind::Var)
                .map(|r| r.name),
        );
        for reference in template.references() {
            match reference.kind {
                RefKind::Var if !reference.optional && !defined.contains(&reference.name) => {
                    let unset = self.unset_os.get(&reference.name);
                    let mut diagnostic = match (&self.plugin_step, unset) {
                        // The same words as the run-time error (migrate/step.rs).
                        (_, Some(os)) => Diagnostic::error(
                            file,
                            format!(
                                "variable `{}` is used but nothing defines it (it comes from the OS environment variable {os}, which is not set)",
                                reference.name
                            ),
                        ),
                        // A step plugin may set it (step-output.variables): apirun cannot know.
                        (Some(plugin), None) => {
                            self.diagnostics.push(
                                Diagnostic::warning(
                                    file,
                                    format!(
                                        "variable `{}` is defined by nothing apirun can see; step plugin `{plugin}` (an earlier step) may set it",
                                        reference.name
                                    ),
                                )
                                .field(field)
                                .hint("if the plugin does not set it, the migration fails at run time before its request is sent"),
                            );
                            continue;
                        }
                        (None, None) => Diagnostic::error(
                            file,
                            format!(
                                "variable `{}` is used but nothing defines it",
                                reference.name
                            ),
                        ),
                    };
                    let at = match text.locate(reference.line, reference.column) {
                        Some(at) => Some(at),
                        None => {
                            let file_text =
                                self.sources.entry(file.to_path_buf()).or_insert_with(|| {
                                    crate::config::files::read_to_string(
                                        file,
                                        crate::config::files::FileKind::Yaml,
                                    )
                                    .unwrap_or_default()
                                });
                            locate(file_text, source, &reference.name)
                        }
                    };
                    if let Some((line, column)) = at {
                        diagnostic = diagnostic.at(line, column);
                    }
                    let hint = match unset {
                        Some(os) => format!(
                            "set {os} in the environment, or give env `{}` a `default:`",
                            reference.name
                        ),
                        None => format!(
                            "define `{}` in env (config.yaml, stages.yaml), import it with env_from_stages, \
                             extract it in an earlier migration, or write {{{{.{} | default \"...\"}}}}",
                            reference.name, reference.name
                        ),
                    };
                    self.diagnostics.push(diagnostic.field(field).hint(hint));
                }
                RefKind::Auth
                    if !reference.optional && !self.auth_names.contains(&reference.name) =>
                {
                    self.diagnostics.push(
                        Diagnostic::error(
                            file,
                            format!(
                                "auth provider `{}` is used but not defined under `auth:`",
                                reference.name
                            ),
                        )
                        .field(field),
                    );
                }
                _ => {}
            }
        }
    }

    fn check_request(
        &mut self,
        file: &Path,
        field: &str,
        request: &RequestSpec,
        defined: &Defined<'_>,
    ) {
        self.check_text(file, &format!("{field}.url"), &request.url, defined);
        for (i, h) in request.headers.iter().enumerate() {
            self.check_text(
                file,
                &format!("{field}.headers[{i}].name"),
                &h.name,
                defined,
            );
            self.check_text(
                file,
                &format!("{field}.headers[{i}].value"),
                &h.value,
                defined,
            );
        }
        for (i, q) in request.queries.iter().enumerate() {
            self.check_text(
                file,
                &format!("{field}.queries[{i}].name"),
                &q.name,
                defined,
            );
            self.check_text(
                file,
                &format!("{field}.queries[{i}].value"),
                &q.value,
                defined,
            );
        }
        if request.render_body != Some(false)
            && let Some(body) = &request.body
        {
            self.check_text(file, &format!("{field}.body"), body, defined);
        }
        if let Some(BodyFile::Template { path, .. }) = &request.body_file {
            self.check_text(file, &format!("{field}.body_file"), path, defined);
        }
    }

    /// Check a step and add what it defines (its env, then its extractions).
    fn check_step(&mut self, file: &Path, field: &str, step: &StepSpec, defined: &mut Defined<'_>) {
        for (name, raw) in &step.env {
            self.check_text(file, &format!("{field}.env.{name}"), raw, defined);
            defined.insert(name.clone());
        }
        if let Some(request) = &step.request {
            self.check_request(file, &format!("{field}.request"), request, defined);
        }
        if let Some(with) = &step.with {
            self.check_tree(file, &format!("{field}.with"), with, defined);
        }
        if let Some(response) = &step.response {
            for (i, code) in response.result_code.iter().enumerate() {
                self.check_text(
                    file,
                    &format!("{field}.response.result_code[{i}]"),
                    code,
                    defined,
                );
            }
            self.check_response_paths(file, field, response, defined);
            defined.extend(response.env_from.keys().cloned());
        }
        // Built-in step types are only `http`; any other type is a plugin.
        // One that declared what this step sets defines those names; the
        // outputs of one that cannot say (0.1) are unknown from here on.
        let declared = self.declared.get(&(file.to_path_buf(), field.to_string()));
        if let Some(names) = declared {
            defined.extend(names.iter().cloned());
        } else if step.kind != HTTP_STEP && self.plugin_step.is_none() {
            self.plugin_step = Some(step.kind.clone());
        }
    }

    /// `assert` paths and values, and `env_from` paths: templates over the
    /// variables defined before the step's extraction (docs/migrations.md).
    fn check_response_paths(
        &mut self,
        file: &Path,
        field: &str,
        response: &crate::config::ResponseSpec,
        defined: &Defined<'_>,
    ) {
        for (i, assert) in response.assert.iter().enumerate() {
            let at = format!("{field}.response.assert[{i}]");
            self.check_text(file, &format!("{at}.path"), &assert.path, defined);
            for value in assert.op.templates() {
                let field = format!("{at}.{}", assert.op.name());
                self.check_text(file, &field, value, defined);
            }
        }
        for (name, spec) in &response.env_from {
            self.check_text(
                file,
                &format!("{field}.response.env_from.{name}"),
                &spec.path,
                defined,
            );
        }
    }

    /// Every string of a template tree (`with:`, auth `config:`), each at the
    /// position it was loaded from.
    fn check_tree(&mut self, file: &Path, field: &str, tree: &TemplateTree, defined: &Defined<'_>) {
        for (path, text) in tree.texts() {
            let at = match path.as_str() {
                "" => field.to_string(),
                p if p.starts_with('[') => format!("{field}{p}"),
                p => format!("{field}.{p}"),
            };
            self.check_text(file, &at, text, defined);
        }
    }
}

/// The names defined at one point of the walk: the stage's base names, what
/// earlier migrations extract, and this migration's own names, kept as
/// borrowed layers so that checking migration N does not copy the names of
/// the N-1 before it (validating 10,000 files stays linear,
/// docs/performance.md).
struct Defined<'a> {
    base: &'a BTreeSet<String>,
    extracted: &'a BTreeSet<String>,
    /// Names this migration defines itself (its env, its steps' extractions).
    local: BTreeSet<String>,
}

impl<'a> Defined<'a> {
    fn new(base: &'a BTreeSet<String>, extracted: &'a BTreeSet<String>) -> Self {
        Defined {
            base,
            extracted,
            local: BTreeSet::new(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.local.contains(name) || self.extracted.contains(name) || self.base.contains(name)
    }

    fn insert(&mut self, name: String) {
        self.local.insert(name);
    }

    fn extend(&mut self, names: impl IntoIterator<Item = String>) {
        self.local.extend(names);
    }
}

/// What the variable walk found besides diagnostics.
struct Found {
    exported: BTreeSet<String>,
    plugin_steps: bool,
    unguarded: BTreeSet<String>,
    used: BTreeSet<String>,
}

fn check_variables(
    config: &StageConfig,
    migrations: &[Migration],
    outer: &OuterNames,
    declared: &DeclaredVariables,
    diagnostics: &mut Vec<Diagnostic>,
) -> Found {
    // As vars::resolve_base: an entry overridden from outside is not read,
    // and an unset OS variable without a default leaves the name undefined.
    let overridden = |name: &str| {
        outer.global.contains(name) || outer.stage.contains(name) || outer.imported.contains(name)
    };
    let unset_os: BTreeMap<String, String> = config
        .env
        .iter()
        .filter(|e| e.value.is_none() && e.default.is_none() && !overridden(&e.name))
        .filter_map(|e| {
            let os = e.value_from_env.as_ref()?;
            std::env::var_os(os)
                .is_none()
                .then(|| (e.name.clone(), os.clone()))
        })
        .collect();
    let mut checker = Checker {
        sources: Default::default(),
        diagnostics,
        auth_names: config.auth.iter().map(|a| a.name.clone()).collect(),
        unset_os,
        plugin_step: None,
        declared,
        unguarded: BTreeSet::new(),
        used: config.env.iter().map(|e| e.name.clone()).collect(),
    };
    // Config env: each entry sees the outer names and the entries before it.
    let none = BTreeSet::new();
    let mut base: BTreeSet<String> = outer
        .global
        .iter()
        .chain(&outer.stage)
        .chain(&outer.imported)
        .cloned()
        .collect();
    for entry in &config.env {
        let defined = Defined::new(&base, &none);
        if let Some(value) = &entry.value {
            let field = format!("env.{}", entry.name);
            checker.check_text(&config.path, &field, value, &defined);
        }
        // A default beside a value is never used (config loading warns).
        if let Some(default) = entry.default.as_ref().filter(|_| entry.value.is_none()) {
            let field = format!("env.{}.default", entry.name);
            checker.check_text(&config.path, &field, default, &defined);
        }
        if !checker.unset_os.contains_key(&entry.name) {
            base.insert(entry.name.clone());
        }
    }
    // Store settings are templates over the same variables (docs/store.md).
    let pg = &config.store.postgres;
    let store_fields = [
        ("store.postgres.dsn", pg.dsn.as_ref()),
        ("store.postgres.host", pg.host.as_ref()),
        ("store.postgres.user", pg.user.as_ref()),
        ("store.postgres.password", pg.password.as_ref()),
        ("store.postgres.dbname", pg.dbname.as_ref()),
        ("store.postgres.sslmode", pg.sslmode.as_ref()),
        ("store.sqlite.path", config.store.sqlite.template.as_ref()),
    ];
    for (field, value) in store_fields {
        if let Some(value) = value {
            checker.check_text(&config.path, field, value, &Defined::new(&base, &none));
        }
    }
    // Auth config is rendered over the stage's variables.
    for auth in &config.auth {
        checker.check_tree(
            &config.path,
            &format!("auth.{}.config", auth.name),
            &auth.config,
            &Defined::new(&base, &none),
        );
    }
    if let Some(wait) = &config.wait {
        let defined = Defined::new(&base, &none);
        checker.check_text(&config.path, "wait.url", &wait.url, &defined);
        for (i, h) in wait.headers.iter().enumerate() {
            let field = format!("wait.headers[{i}]");
            checker.check_text(&config.path, &format!("{field}.name"), &h.name, &defined);
            checker.check_text(&config.path, &format!("{field}.value"), &h.value, &defined);
        }
    }
    // Migrations in version order; each sees what earlier ones extract.
    let mut extracted: BTreeSet<String> = BTreeSet::new();
    for migration in migrations {
        let file = &migration.path;
        let mut defined = Defined::new(&base, &extracted);
        for (name, raw) in &migration.up.env {
            checker.check_text(file, &format!("up.env.{name}"), raw, &defined);
            defined.insert(name.clone());
        }
        let up_env_defined = defined.local.clone();
        let steps = migration.up.steps();
        for (i, step) in steps.iter().enumerate() {
            let field = if steps.len() == 1 {
                "up".to_string()
            } else {
                format!("up.steps[{i}]")
            };
            checker.check_step(file, &field, step, &mut defined);
        }
        for step in steps {
            if let Some(response) = &step.response {
                extracted.extend(response.env_from.keys().cloned());
            }
        }
        if let Some(verify) = &migration.verify {
            // A verify sees what the up saw and extracted (the stored variables).
            let mut defined = Defined::new(&base, &extracted);
            defined.local = up_env_defined.clone();
            checker.check_request(file, "verify.request", &verify.request, &defined);
            if let Some(response) = &verify.response {
                for (i, code) in response.result_code.iter().enumerate() {
                    checker.check_text(
                        file,
                        &format!("verify.response.result_code[{i}]"),
                        code,
                        &defined,
                    );
                }
                checker.check_response_paths(file, "verify", response, &defined);
            }
        }
        if let Some(down) = &migration.down {
            // A down sees everything stored so far (this version's extractions
            // included), the up's env, and its own env.
            let mut defined = Defined::new(&base, &extracted);
            defined.local = up_env_defined;
            for (name, raw) in &down.env {
                checker.check_text(file, &format!("down.env.{name}"), raw, &defined);
                defined.insert(name.clone());
            }
            let steps = down.steps();
            for (i, step) in steps.iter().enumerate() {
                let field = if steps.len() == 1 {
                    "down".to_string()
                } else {
                    format!("down.steps[{i}]")
                };
                checker.check_step(file, &field, step, &mut defined);
            }
        }
    }
    Found {
        exported: extracted,
        plugin_steps: checker.plugin_step.is_some(),
        unguarded: checker.unguarded,
        used: checker.used,
    }
}

#[cfg(test)]
mod locate_tests {
    use super::locate;

    #[test]
    fn finds_the_line_and_column_of_a_reference() {
        let file = "up:\n  request:\n    body: |\n      {\"a\": \"{{.vpc}}\",\n       \"b\": \"{{.vpc_id}}\"}\n";
        let source = "{\"a\": \"{{.vpc}}\",\n \"b\": \"{{.vpc_id}}\"}\n";
        assert_eq!(locate(file, source, "vpc_id"), Some((5, 16)));
        assert_eq!(locate(file, source, "vpc"), Some((4, 16)));
        assert_eq!(locate(file, source, "missing"), None);
    }
}
