//! Which world a component implements, and whether its `apirun:plugin`
//! version is one this host can run (semver rules).

use std::fmt;

use semver::Version;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The newest contract version this host implements (`wit/0.2.0/`): what
/// the built-in plugins and new plugins are built against.
pub const HOST_WIT_VERSION: &str = "0.2.0";
/// Every contract version this host runs, oldest first (`wit/<version>/`).
pub const HOST_WIT_VERSIONS: [&str; 2] = ["0.1.0", "0.2.0"];
const PACKAGE: &str = "apirun:plugin";

/// A contract line the host has bindings for (`bindings::v0_1`, `bindings::v0_2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    V0_1,
    V0_2,
}

impl Contract {
    /// The contract that runs a component built against `plugin`, by the
    /// semver rule of [`compatible`] (0.1.9 runs as 0.1); None: no binding does.
    pub fn for_version(plugin: &Version) -> Option<Contract> {
        host_versions()
            .into_iter()
            .zip([Contract::V0_1, Contract::V0_2])
            .find(|(host, _)| compatible(host, plugin))
            .map(|(_, contract)| contract)
    }
}

/// The three plugin worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    Step,
    Auth,
    Extractor,
}

impl PluginKind {
    pub const ALL: [PluginKind; 3] = [PluginKind::Step, PluginKind::Auth, PluginKind::Extractor];

    /// The exported interface that identifies the world.
    pub fn interface(self) -> &'static str {
        match self {
            PluginKind::Step => "step",
            PluginKind::Auth => "auth",
            PluginKind::Extractor => "extractor",
        }
    }

    pub fn world(self) -> &'static str {
        match self {
            PluginKind::Step => "step-plugin",
            PluginKind::Auth => "auth-plugin",
            PluginKind::Extractor => "extractor-plugin",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

/// The newest contract version ([`HOST_WIT_VERSION`]).
pub fn host_version() -> Version {
    Version::parse(HOST_WIT_VERSION).expect("HOST_WIT_VERSION is valid semver")
}

/// Every contract version the host runs ([`HOST_WIT_VERSIONS`]).
pub fn host_versions() -> Vec<Version> {
    HOST_WIT_VERSIONS
        .iter()
        .map(|v| Version::parse(v).expect("HOST_WIT_VERSIONS are valid semver"))
        .collect()
}

/// "0.1.0, 0.2.0": for messages.
pub fn host_versions_text() -> String {
    HOST_WIT_VERSIONS.join(", ")
}

/// Whether this host runs a component built against `plugin`.
pub fn supported(plugin: &Version) -> bool {
    Contract::for_version(plugin).is_some()
}

/// What a component says about itself.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// The apirun worlds it exports, with the version of each.
    pub worlds: Vec<(PluginKind, Version)>,
    pub exports: Vec<String>,
    pub imports: Vec<String>,
}

impl ComponentInfo {
    /// The worlds it exports.
    pub fn kinds(&self) -> Vec<PluginKind> {
        self.worlds.iter().map(|(kind, _)| *kind).collect()
    }
}

pub fn inspect(engine: &Engine, component: &Component) -> ComponentInfo {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let worlds = exports
        .iter()
        .filter_map(|name| parse_apirun_interface(name))
        .collect();
    ComponentInfo {
        worlds,
        exports,
        imports,
    }
}

/// `apirun:plugin/step@0.1.0` -> (Step, 0.1.0).
fn parse_apirun_interface(name: &str) -> Option<(PluginKind, Version)> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    let (interface, version) = rest.split_once('@')?;
    let kind = PluginKind::ALL
        .into_iter()
        .find(|k| k.interface() == interface)?;
    Some((kind, Version::parse(version).ok()?))
}

/// Semver compatibility as Cargo defines it: same major for >= 1.0; for 0.x,
/// same minor. A plugin built against a newer patch (or, from 1.0, a newer
/// minor) of the contract still loads: those add nothing a plugin can rely on
/// that this host lacks.
pub fn compatible(host: &Version, plugin: &Version) -> bool {
    if host.major != plugin.major {
        return false;
    }
    if host.major == 0 {
        return host.minor == plugin.minor;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("valid version")
    }

    #[test]
    fn zero_x_needs_same_minor() {
        assert!(compatible(&v("0.1.0"), &v("0.1.9")));
        assert!(compatible(&v("0.1.3"), &v("0.1.0")));
        assert!(!compatible(&v("0.1.0"), &v("0.2.0")));
        assert!(!compatible(&v("0.2.0"), &v("0.1.0")));
    }

    #[test]
    fn from_one_needs_same_major() {
        assert!(compatible(&v("1.2.0"), &v("1.5.1")));
        assert!(!compatible(&v("1.0.0"), &v("2.0.0")));
    }

    #[test]
    fn both_contract_lines_run() {
        assert_eq!(Contract::for_version(&v("0.1.0")), Some(Contract::V0_1));
        assert_eq!(Contract::for_version(&v("0.1.9")), Some(Contract::V0_1));
        assert_eq!(Contract::for_version(&v("0.2.3")), Some(Contract::V0_2));
        assert_eq!(Contract::for_version(&v("0.3.0")), None);
        assert_eq!(Contract::for_version(&v("1.0.0")), None);
    }

    #[test]
    fn parses_interface_names() {
        assert_eq!(
            parse_apirun_interface("apirun:plugin/step@0.1.0"),
            Some((PluginKind::Step, v("0.1.0")))
        );
        assert_eq!(
            parse_apirun_interface("apirun:plugin/extractor@0.2.0"),
            Some((PluginKind::Extractor, v("0.2.0")))
        );
        assert_eq!(parse_apirun_interface("wasi:cli/run@0.2.0"), None);
        assert_eq!(parse_apirun_interface("apirun:plugin/types@0.1.0"), None);
    }
}
