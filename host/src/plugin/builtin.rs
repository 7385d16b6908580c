//! The built-in plugins, compiled from `plugins/` by build.rs and embedded in
//! the binary.

use super::version::PluginKind;

pub struct Builtin {
    /// The name a config uses: step `type`, auth `type` or extractor name.
    pub name: &'static str,
    pub kind: PluginKind,
    pub wasm: &'static [u8],
}

macro_rules! wasm {
    ($file:literal) => {
        include_bytes!(concat!(env!("APIRUN_PLUGIN_WASM_DIR"), "/", $file))
    };
}

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "http",
        kind: PluginKind::Step,
        wasm: wasm!("apirun_plugin_http.wasm"),
    },
    Builtin {
        name: "basic",
        kind: PluginKind::Auth,
        wasm: wasm!("apirun_plugin_auth_basic.wasm"),
    },
    Builtin {
        name: "oauth2",
        kind: PluginKind::Auth,
        wasm: wasm!("apirun_plugin_auth_oauth2.wasm"),
    },
    Builtin {
        name: "pocketbase",
        kind: PluginKind::Auth,
        wasm: wasm!("apirun_plugin_auth_pocketbase.wasm"),
    },
    Builtin {
        name: "header",
        kind: PluginKind::Extractor,
        wasm: wasm!("apirun_plugin_extract_header.wasm"),
    },
    Builtin {
        name: "regex",
        kind: PluginKind::Extractor,
        wasm: wasm!("apirun_plugin_extract_regex.wasm"),
    },
    Builtin {
        name: "gjson",
        kind: PluginKind::Extractor,
        wasm: wasm!("apirun_plugin_extract_gjson.wasm"),
    },
];

pub fn find(name: &str, kind: PluginKind) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name && b.kind == kind)
}

/// Where the test-only plugins (spin, hog, version-0-2, ...) were built.
pub fn test_plugin_dir() -> &'static str {
    env!("APIRUN_PLUGIN_WASM_DIR")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config validator names the built-ins without loading them; keep
    /// its lists in step with what is embedded.
    #[test]
    fn config_lists_match_the_embedded_builtins() {
        let names = |kind| {
            let mut v: Vec<&str> = BUILTINS
                .iter()
                .filter(|b| b.kind == kind)
                .map(|b| b.name)
                .collect();
            v.sort_unstable();
            v
        };
        let mut auth = crate::config::BUILTIN_AUTH_TYPES.to_vec();
        auth.sort_unstable();
        assert_eq!(names(PluginKind::Auth), auth);
        let mut extractors = crate::config::BUILTIN_EXTRACTORS.to_vec();
        extractors.sort_unstable();
        assert_eq!(names(PluginKind::Extractor), extractors);
    }
}
