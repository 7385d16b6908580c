//! Configured plugins, loaded as `up` loads them: through the plugin
//! runtime and its compile cache (docs/plugins.md, "Loading"), then checked
//! against every role (world) the stage uses them in.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::{Diagnostic, Migration, StageConfig};
use crate::plugin::{Contract, PluginKind, PluginRuntime};
use crate::template::TemplateTree;

/// The variables configured step plugins declare that a step sets (WIT 0.2
/// `step.declared-variables`), by migration file and step field (`up`,
/// `up.steps[1]`, `down`, ...). Steps of 0.1 plugins, and of plugins that
/// fail to answer, are absent: `validate` cannot know what they set.
pub type DeclaredVariables = HashMap<(PathBuf, String), Vec<String>>;

/// Asks every 0.2 step plugin of the stage what each of its steps sets,
/// given the step's `with:` block as written (no template is rendered and
/// nothing is sent: the plugin is bound with no network).
pub fn declared_variables(
    runtime: &PluginRuntime,
    config: &StageConfig,
    migrations: &[Migration],
) -> DeclaredVariables {
    let mut out = DeclaredVariables::new();
    // Each configured 0.2 step plugin bound once (None: cannot declare).
    let mut bound: HashMap<&str, Option<crate::plugin::Plugin>> = HashMap::new();
    for migration in migrations {
        let down = migration.down.as_ref().map(|d| d.steps()).unwrap_or(&[]);
        for (side, steps) in [("up", migration.up.steps()), ("down", down)] {
            for (i, step) in steps.iter().enumerate() {
                let Some(entry) = config.plugins.iter().find(|p| p.name == step.kind) else {
                    continue;
                };
                let plugin = bound.entry(entry.name.as_str()).or_insert_with(|| {
                    let component = runtime
                        .load_file_pinned(&entry.name, &entry.path, entry.sha256.as_deref())
                        .ok()?;
                    if component.contract() == Contract::V0_1
                        || !component.kinds().contains(&PluginKind::Step)
                    {
                        return None;
                    }
                    runtime
                        .offline(&entry.name, &component, PluginKind::Step, &entry.config)
                        .ok()
                });
                let Some(plugin) = plugin.as_ref() else {
                    continue;
                };
                // The block as written: declared-variables reads it unrendered.
                let with = step
                    .with
                    .as_ref()
                    .map(TemplateTree::source)
                    .unwrap_or(serde_json::Value::Object(Default::default()));
                // Same field names as the variable check (validate/mod.rs).
                let field = if steps.len() == 1 {
                    side.to_string()
                } else {
                    format!("{side}.steps[{i}]")
                };
                match block_on(plugin.declared_variables(&with)) {
                    Some(Ok(Some(list))) => {
                        out.insert(
                            (migration.path.clone(), field),
                            list.into_iter().map(|d| d.name).collect(),
                        );
                    }
                    Some(Err(e)) => {
                        tracing::debug!("plugin `{}`: declared-variables failed: {e}", entry.name)
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Runs a plugin call from synchronous code (validation), inside or outside
/// a tokio runtime: on a scoped thread with its own small runtime.
fn block_on<F>(future: F) -> Option<F::Output>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
                    .map(|rt| rt.block_on(future))
            })
            .join()
            .ok()
            .flatten()
    })
}

/// Every configured plugin that does not load (not a component, an
/// incompatible contract version, an import the host does not provide) or is
/// used in a role its component does not implement. `Stage::open` refuses
/// such a stage (exit 2) and `validate` reports the same messages.
pub fn plugin_problems(
    runtime: &PluginRuntime,
    config: &StageConfig,
    migrations: &[Migration],
) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for (i, entry) in config.plugins.iter().enumerate() {
        match runtime.load_file_pinned(&entry.name, &entry.path, entry.sha256.as_deref()) {
            Ok(component) => out.extend(
                wrong_roles(config, migrations, &entry.name, &component.kinds())
                    .into_iter()
                    .map(|message| {
                        Diagnostic::error(&config.path, message).field(format!("plugins[{i}]"))
                    }),
            ),
            Err(error) => {
                let field = match error {
                    crate::plugin::PluginError::DigestMismatch { .. } => "sha256",
                    _ => "path",
                };
                out.push(
                    Diagnostic::error(&config.path, error.to_string())
                        .field(format!("plugins[{i}].{field}")),
                )
            }
        }
    }
    out
}

/// Where a configured plugin is used in a role its component does not
/// implement (an extractor named as an auth type, say): a config error found
/// before anything is sent.
fn wrong_roles(
    config: &StageConfig,
    migrations: &[Migration],
    name: &str,
    kinds: &[crate::plugin::PluginKind],
) -> Vec<String> {
    use crate::plugin::PluginKind;
    let mut needed: Vec<(PluginKind, String)> = Vec::new();
    for auth in config.auth.iter().filter(|a| a.kind == name) {
        needed.push((
            PluginKind::Auth,
            format!("the type of auth provider `{}`", auth.name),
        ));
    }
    for migration in migrations {
        let steps = migration
            .up
            .steps()
            .iter()
            .chain(migration.down.iter().flat_map(|d| d.steps().iter()));
        for step in steps {
            if step.kind == name {
                needed.push((
                    PluginKind::Step,
                    format!("a step type in {}", migration.path.display()),
                ));
            }
            let extracts = step
                .response
                .iter()
                .flat_map(|r| r.env_from.values())
                .any(|e| e.from == name);
            if extracts {
                needed.push((
                    PluginKind::Extractor,
                    format!("an extractor in {}", migration.path.display()),
                ));
            }
        }
    }
    needed.dedup();
    needed
        .into_iter()
        .filter(|(kind, _)| !kinds.contains(kind))
        .map(|(kind, place)| {
            let is = kinds.iter().map(|k| k.world()).collect::<Vec<_>>().join(" and ");
            format!(
                "plugin `{name}` is used as {place}, which needs the {} world, but the component implements {is}; \
                 use a component built for the {} world",
                kind.world(),
                kind.world()
            )
        })
        .collect()
}
