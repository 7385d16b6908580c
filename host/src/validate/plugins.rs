//! Configured plugins, loaded as `up` loads them: through the plugin
//! runtime and its compile cache (docs/plugins.md, "Loading"), then checked
//! against every role (world) the stage uses them in.

use crate::config::{Diagnostic, Migration, StageConfig};
use crate::plugin::PluginRuntime;

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
        match runtime.load_file(&entry.name, &entry.path) {
            Ok(component) => out.extend(
                wrong_roles(config, migrations, &entry.name, &component.kinds())
                    .into_iter()
                    .map(|message| {
                        Diagnostic::error(&config.path, message).field(format!("plugins[{i}]"))
                    }),
            ),
            Err(error) => out.push(
                Diagnostic::error(&config.path, error.to_string())
                    .field(format!("plugins[{i}].path")),
            ),
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
