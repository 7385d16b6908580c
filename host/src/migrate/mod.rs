//! The migration engine for one stage: open its config, plan, run `up` and
//! `down`, report status. The CLI and the multi-stage orchestrator are thin
//! layers over [`Stage`].

mod assert;
mod create;
mod dry_run;
mod error;
mod plan;
mod poll;
mod runner;
mod status;
mod step;
mod vars;
mod verify;
mod wait;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use create::create_migration;
pub use dry_run::{PlannedMigration, PlannedStep};
pub use error::{EngineError, InterruptedRun, MigrationFailure, StepError, StepFailure};
pub use plan::{UpPlan, plan_down, plan_up};
pub use runner::{
    DownOptions, MigrationEvent, NoticeLevel, Observer, RunReport, StageEnd, UpOptions,
};
pub use status::{Drift, StatusReport, VersionStatus, drift_against_store, find_drift};
pub use step::{RenderMode, RenderedRequest};
pub use vars::{InheritedVars, Vars};
pub use verify::{VerifyResult, VerifyState};

use crate::auth::{AuthManager, AuthProvider};
use crate::config::{Diagnostic, Diagnostics, Migration, StageConfig, StoreKind};
use crate::output::Masker;
use crate::plugin::{PluginRuntime, PluginSet, PluginSource};
use crate::store::{Access, SqliteStore, Store, TableNames, TableOverrides};
use crate::template::TemplateText;
use crate::transport::{ClientSettings, HttpClient, RetryPolicy, TlsVersion};

/// What a stage needs from the process around it.
#[derive(Clone)]
pub struct Services {
    pub runtime: Arc<PluginRuntime>,
    pub masker: Arc<Masker>,
    /// Reading commands (`status`, dry runs) open stores read-only: they
    /// create and write nothing (docs/store.md).
    pub store_access: Access,
}

/// One stage, opened: its config and migrations loaded and validated, its
/// store, plugins and auth ready (nothing sent yet).
pub struct Stage {
    pub config: StageConfig,
    pub migrations: Vec<Migration>,
    pub warnings: Vec<Diagnostic>,
    base_vars: Vars,
    store: Option<Arc<dyn Store>>,
    steps: step::StepEnv,
    http: HttpClient,
}

impl Stage {
    /// Load `config_path` and its migrations. Invalid files give
    /// `EngineError::Invalid` with every problem found.
    pub async fn open(
        config_path: &Path,
        services: &Services,
        inherited: &InheritedVars,
    ) -> Result<Stage, EngineError> {
        let loaded = crate::config::load_stage_config(config_path).map_err(EngineError::Invalid)?;
        Stage::from_loaded(loaded, services, inherited).await
    }

    /// Like [`Stage::open`], from an already loaded config.
    pub async fn from_loaded(
        loaded: crate::config::Loaded<StageConfig>,
        services: &Services,
        inherited: &InheritedVars,
    ) -> Result<Stage, EngineError> {
        let mut warnings = loaded.warnings;
        let config = loaded.value;
        let migrations = crate::config::load_migrations(&config.migrate_dir);
        let (migrations, mut problems) = match migrations {
            Ok(loaded) => {
                warnings.extend(loaded.warnings);
                (loaded.value, Vec::new())
            }
            Err(diagnostics) => (Vec::new(), diagnostics.0),
        };
        problems.extend(crate::config::check_references(&config, &migrations));
        problems.extend(crate::validate::template_syntax_errors(
            &config,
            &migrations,
        ));
        problems.extend(crate::validate::preflight(&config, &migrations));
        problems.retain(|d| d.severity == crate::config::Severity::Error);
        if !problems.is_empty() {
            return Err(EngineError::Invalid(Diagnostics(problems)));
        }

        let mut unset_os = BTreeMap::new();
        let base_vars = vars::resolve_base(&config.env, inherited, &mut unset_os).map_err(|e| {
            EngineError::Invalid(Diagnostics(vec![
                Diagnostic::error(&config.path, e.to_string()).field("env"),
            ]))
        })?;
        for (name, value) in &base_vars {
            if Masker::is_secret_name(name) {
                services.masker.add_secret(value);
            }
        }
        register_config_secrets(&config, &services.masker);

        let http = HttpClient::new(client_settings(&config))?;
        let plugins = Arc::new(PluginSet::new(
            services.runtime.clone(),
            http.clone(),
            config
                .plugins
                .iter()
                .map(|p| PluginSource {
                    name: p.name.clone(),
                    path: p.path.clone(),
                    allowed_hosts: p.allowed_hosts.clone(),
                    config: p.config.clone(),
                    variables: p.variables.clone(),
                    sha256: p.sha256.clone(),
                    reuse_instance: p.reuse_instance,
                })
                .collect(),
        ));
        // A configured component that cannot load at all (not a component, an
        // incompatible contract version, imports the host does not provide) or
        // that is used in a role it does not implement is a config error found
        // before anything is sent; `validate` runs the same check.
        let unloadable = crate::validate::plugin_problems(&services.runtime, &config, &migrations);
        if !unloadable.is_empty() {
            return Err(EngineError::Invalid(Diagnostics(unloadable)));
        }
        let auth = Arc::new(AuthManager::new(
            config
                .auth
                .iter()
                .map(|a| AuthProvider {
                    name: a.name.clone(),
                    kind: a.kind.clone(),
                    config: a.config.clone(),
                })
                .collect(),
            plugins.clone(),
            services.masker.clone(),
        ));
        let store = open_store(&config, services.store_access, Some(&base_vars)).await?;
        Ok(Stage {
            steps: step::StepEnv {
                plugins,
                auth,
                masker: services.masker.clone(),
                render_body: config.render_body,
                unset_os,
                follow_redirects: config.client.follow_redirects,
            },
            config,
            migrations,
            warnings,
            base_vars,
            store,
            http,
        })
    }

    /// The store, unless `store.disabled`.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.store.as_ref()
    }

    /// The stage's variables before any migration ran.
    pub fn base_vars(&self) -> &Vars {
        &self.base_vars
    }

    pub fn auth(&self) -> &Arc<AuthManager> {
        &self.steps.auth
    }

    pub fn plugins(&self) -> &Arc<PluginSet> {
        &self.steps.plugins
    }

    pub fn migration(&self, version: u64) -> Option<&Migration> {
        // Loaded sorted by version (a linear search made `down` over N
        // versions quadratic).
        self.migrations
            .binary_search_by_key(&version, |m| m.version)
            .ok()
            .map(|i| &self.migrations[i])
    }

    /// Variables extracted by the applied migrations (what the stage exports).
    pub async fn exported_vars(&self) -> Result<Vars, EngineError> {
        let Some(store) = &self.store else {
            return Ok(Vars::new());
        };
        let stored = store.stored_env().await.map_err(|e| store_err(store, e))?;
        Ok(stored.into_iter().map(|v| (v.name, v.value)).collect())
    }
}

/// Registers on `masker` the secrets a stage config holds literally, so
/// that they are masked like secret variables wherever they show up (a
/// server echoing them in an error, the store's run history): the values of
/// secret-named keys in every `auth[].config` and `plugins[].config`
/// ([`Masker::add_secret_fields`]), and the PostgreSQL password
/// (`store.postgres.password`, or the one inside `dsn`). Templates are
/// skipped here; rendered auth configs are registered when rendered.
pub fn register_config_secrets(config: &StageConfig, masker: &Masker) {
    for auth in &config.auth {
        masker.add_secret_fields(&auth.config.source());
    }
    for plugin in &config.plugins {
        masker.add_secret_fields(&plugin.config);
    }
    let pg = &config.store.postgres;
    if let Some(password) = &pg.password {
        masker.add_secret(password);
    }
    if let Some(password) = pg.dsn.as_deref().and_then(dsn_password) {
        masker.add_secret(&password);
    }
}

/// Registers everything a stage's config and variables make secret without
/// running anything: [`register_config_secrets`] and the values of its
/// secret-named variables as far as they resolve (`stages status` uses this
/// to mask the stage's exported values).
pub fn register_stage_secrets(config: &StageConfig, inherited: &InheritedVars, masker: &Masker) {
    register_config_secrets(config, masker);
    let mut unset = BTreeMap::new();
    // A variable that cannot be resolved here (a template error) masks
    // nothing; the same error stops `up` before anything is sent.
    if let Ok(vars) = vars::resolve_base(&config.env, inherited, &mut unset) {
        for (name, value) in &vars {
            masker.add_variable(name, value);
        }
    }
}

/// The password in a PostgreSQL connection string (URL or keyword form),
/// read by tokio-postgres's own parser so it matches what is sent.
fn dsn_password(dsn: &str) -> Option<String> {
    let config: tokio_postgres::Config = dsn.parse().ok()?;
    let password = String::from_utf8_lossy(config.get_password()?).into_owned();
    Some(password).filter(|p| !p.is_empty())
}

pub(crate) fn store_err(store: &Arc<dyn Store>, source: crate::store::StoreError) -> EngineError {
    EngineError::store(store.describe(), source)
}

fn client_settings(config: &StageConfig) -> ClientSettings {
    let tls = |v: crate::config::TlsVersion| match v.as_str() {
        "1.0" => TlsVersion::V1_0,
        "1.1" => TlsVersion::V1_1,
        "1.2" => TlsVersion::V1_2,
        _ => TlsVersion::V1_3,
    };
    ClientSettings {
        insecure: config.client.insecure,
        min_tls_version: config.client.min_tls_version.map(tls),
        max_tls_version: config.client.max_tls_version.map(tls),
        ca_file: config.client.ca_file.clone(),
        timeout: config.client.timeout,
        retry: RetryPolicy {
            max_retries: config.client.retries,
            ..RetryPolicy::default()
        },
        max_response_bytes: config.client.max_response_bytes,
    }
}

/// The store a stage's config names (`None` when `store.disabled`), opened
/// read-only without resolving the stage's variables (unless its store
/// settings are templates): the multi-stage orchestrator reads another
/// stage's applied versions and exported variables this way, even when that
/// stage's env could not be resolved. A missing store reads as empty.
pub async fn open_config_store(
    config: &StageConfig,
) -> Result<Option<Arc<dyn Store>>, EngineError> {
    open_store(config, Access::ReadOnly, None).await
}

/// Open the store `config` names. `vars`: the stage's resolved variables,
/// for store settings written as templates; `None` resolves the config's
/// own `env` if a setting needs it.
async fn open_store(
    config: &StageConfig,
    access: Access,
    vars: Option<&Vars>,
) -> Result<Option<Arc<dyn Store>>, EngineError> {
    if config.store.disabled {
        return Ok(None);
    }
    let rendered = render_store_settings(config, vars)?;
    let config = &rendered;
    let invalid = |message: String| {
        EngineError::Invalid(Diagnostics(vec![
            Diagnostic::error(&config.path, message).field("store"),
        ]))
    };
    let tables = TableNames::new(
        None,
        &TableOverrides {
            schema_migrations: Some(config.store.table_schema_migrations.clone()),
            migration_runs: Some(config.store.table_migration_runs.clone()),
            stored_env: Some(config.store.table_stored_env.clone()),
        },
    )
    .map_err(|e| invalid(e.to_string()))?;
    let store: Arc<dyn Store> = match config.store.kind {
        StoreKind::Sqlite => {
            let path = &config.store.sqlite.path;
            let opened = match access {
                Access::ReadWrite => SqliteStore::open(path, tables),
                Access::ReadOnly => SqliteStore::open_read_only(path, tables),
            };
            Arc::new(opened.map_err(|source| {
                EngineError::store(format!("sqlite:{}", path.display()), source)
            })?)
        }
        StoreKind::Postgres => Arc::new(postgres_store(config, tables, access).await?),
    };
    store.init().await.map_err(|e| store_err(&store, e))?;
    Ok(Some(store))
}

/// The config with its store settings rendered: `store.postgres.*` and
/// `store.sqlite.path` may be templates over the config's variables
/// (`password: "{{.pg_password}}"`, docs/store.md). A relative rendered SQLite
/// path is relative to the config file's directory.
fn render_store_settings(
    config: &StageConfig,
    vars: Option<&Vars>,
) -> Result<StageConfig, EngineError> {
    let pg = &config.store.postgres;
    let pg_fields = [
        &pg.dsn,
        &pg.host,
        &pg.user,
        &pg.password,
        &pg.dbname,
        &pg.sslmode,
    ];
    let is_template = |v: &Option<TemplateText>| v.as_ref().is_some_and(|t| !t.is_static());
    let sqlite_template = config
        .store
        .sqlite
        .template
        .as_ref()
        .filter(|_| config.store.kind == StoreKind::Sqlite);
    let pg_templates =
        config.store.kind == StoreKind::Postgres && pg_fields.into_iter().any(is_template);
    if sqlite_template.is_none() && !pg_templates {
        return Ok(config.clone());
    }
    let invalid = |field: &str, message: String| {
        EngineError::Invalid(Diagnostics(vec![
            Diagnostic::error(&config.path, message).field(field.to_string()),
        ]))
    };
    let own;
    let vars = match vars {
        Some(vars) => vars,
        None => {
            own = vars::resolve_base(&config.env, &InheritedVars::default(), &mut BTreeMap::new())
                .map_err(|e| invalid("env", e.to_string()))?;
            &own
        }
    };
    let ctx = vars::context(vars);
    // Parsed when config.yaml was loaded (`validate` reports syntax errors
    // with their line); rendered here, once the variables are known.
    let render = |field: &str, source: &TemplateText| -> Result<String, EngineError> {
        source.render(&ctx).map_err(|e| {
            invalid(
                field,
                format!("{e} (store settings are rendered with the config's env)"),
            )
        })
    };
    let mut out = config.clone();
    if let Some(template) = sqlite_template {
        let rendered = render("store.sqlite.path", template)?;
        if rendered.trim().is_empty() {
            return Err(invalid(
                "store.sqlite.path",
                format!("{template:?} renders to an empty path"),
            ));
        }
        out.store.sqlite.path =
            crate::config::paths::tidy(&config.store.sqlite.base.join(rendered.trim()));
    }
    if pg_templates {
        let p = &mut out.store.postgres;
        for (field, value) in [
            ("dsn", &mut p.dsn),
            ("host", &mut p.host),
            ("user", &mut p.user),
            ("password", &mut p.password),
            ("dbname", &mut p.dbname),
            ("sslmode", &mut p.sslmode),
        ] {
            if let Some(text) = value.as_mut().filter(|t| !t.is_static()) {
                // Rendered: a `{{` in the value (a password) is no template.
                *text = TemplateText::literal(render(&format!("store.postgres.{field}"), text)?);
            }
        }
    }
    Ok(out)
}

async fn postgres_store(
    config: &StageConfig,
    tables: TableNames,
    access: Access,
) -> Result<crate::store::PostgresStore, EngineError> {
    let pg = &config.store.postgres;
    let connect = crate::store::PgConnect::from(pg);
    let describe = connect.describe().unwrap_or_else(|_| "postgres".into());
    let connected = match access {
        Access::ReadWrite => crate::store::PostgresStore::connect(&connect, tables).await,
        Access::ReadOnly => crate::store::PostgresStore::connect_read_only(&connect, tables).await,
    };
    connected.map_err(|source| EngineError::store(describe, source))
}

#[cfg(test)]
mod tests {
    use super::dsn_password;

    #[test]
    fn dsn_passwords() {
        assert_eq!(
            dsn_password("postgres://app:s3cr%40t@db:5432/x?sslmode=disable").as_deref(),
            Some("s3cr@t")
        );
        assert_eq!(dsn_password("postgres://app@db/x"), None);
        assert_eq!(
            dsn_password("host=db user=app password=pw-1234 dbname=x").as_deref(),
            Some("pw-1234")
        );
        assert_eq!(
            dsn_password(r"host=db password='it\'s a pw' dbname=x").as_deref(),
            Some("it's a pw")
        );
        assert_eq!(dsn_password("host=db dbname=x"), None);
    }
}
