//! Which world a component implements, and whether its `apirun:plugin`
//! version is one this host can run (semver rules).

use std::fmt;

use semver::Version;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The version of `wit/plugin.wit` this host implements.
pub const HOST_WIT_VERSION: &str = "0.1.0";
const PACKAGE: &str = "apirun:plugin";

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

pub fn host_version() -> Version {
    Version::parse(HOST_WIT_VERSION).expect("HOST_WIT_VERSION is valid semver")
}

/// What a component says about itself.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// The apirun worlds it exports, with the version of each.
    pub worlds: Vec<(PluginKind, Version)>,
    pub exports: Vec<String>,
    pub imports: Vec<String>,
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
