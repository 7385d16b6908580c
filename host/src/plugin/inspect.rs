//! What `apirun plugins inspect` tells a plugin's author about a component
//! apirun refuses: which of its imports apirun does not provide, and how to
//! get rid of them with the toolchain that built it (docs/plugins.md,
//! "Inspecting a component").

use std::fmt;

use aho_corasick::AhoCorasick;

use super::version::Contract;

/// The toolchain that built a component, as far as its bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// componentize-js / jco (StarlingMonkey).
    ComponentizeJs,
    /// componentize-py.
    ComponentizePy,
    /// Rust (cargo, wit-bindgen).
    Rust,
    Unknown,
}

impl fmt::Display for Toolchain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Toolchain::ComponentizeJs => "JavaScript (componentize-js)",
            Toolchain::ComponentizePy => "Python (componentize-py)",
            Toolchain::Rust => "Rust",
            Toolchain::Unknown => "unknown",
        })
    }
}

impl Toolchain {
    /// Guesses from markers each toolchain leaves in the component: its
    /// `producers` section when kept, else runtime names (componentize-py's
    /// `libcomponentize_py_runtime.so` core module, StarlingMonkey's name,
    /// rustc's source paths in panic messages). One multi-pattern search
    /// over the bytes (already size-capped by the file reader); the first
    /// toolchain with a marker wins, JavaScript and Python before Rust (both
    /// embed Rust code).
    pub fn detect(bytes: &[u8]) -> Toolchain {
        const MARKERS: [(&str, Toolchain); 7] = [
            ("componentize-js", Toolchain::ComponentizeJs),
            ("StarlingMonkey", Toolchain::ComponentizeJs),
            ("starlingmonkey", Toolchain::ComponentizeJs),
            ("componentize-py", Toolchain::ComponentizePy),
            ("componentize_py", Toolchain::ComponentizePy),
            ("/rustc/", Toolchain::Rust),
            ("wit-bindgen-rust", Toolchain::Rust),
        ];
        let Ok(search) = AhoCorasick::new(MARKERS.iter().map(|(m, _)| m)) else {
            return Toolchain::Unknown;
        };
        let mut found = [false; 7];
        for hit in search.find_overlapping_iter(bytes) {
            found[hit.pattern().as_usize()] = true;
        }
        let has = |t: Toolchain| MARKERS.iter().zip(found).any(|((_, k), f)| f && *k == t);
        [
            Toolchain::ComponentizeJs,
            Toolchain::ComponentizePy,
            Toolchain::Rust,
        ]
        .into_iter()
        .find(|t| has(*t))
        .unwrap_or(Toolchain::Unknown)
    }

    /// How to build without the imports apirun does not provide.
    pub fn fix(self, missing: &[String]) -> String {
        let http = missing.iter().any(|m| m.starts_with("wasi:http/"));
        match self {
            Toolchain::ComponentizeJs => format!(
                "componentize-js adds wasi:http by default: build with \
                 `disableFeatures: [\"http\", \"fetch-event\"]` (jco: \
                 `--disable http --disable fetch-event`){}; send requests with \
                 the imported `host.send`, not fetch()",
                if http { "" } else { " and drop the features that import the rest" }
            ),
            Toolchain::ComponentizePy => "build with componentize-py against apirun's WIT world \
                 only (`-d wit/<version> -w <kind>-plugin`, no other WIT in the directory), and do \
                 not import modules that need those interfaces (urllib, http.client, socket); \
                 send requests with `host.send`"
                .to_string(),
            Toolchain::Rust => "do not use std::net or crates that open sockets or call \
                 wasi:http (reqwest, ureq, waki, ...); send requests with the imported `host.send` \
                 and target the world of wit/<version>/plugin.wit (step-plugin, auth-plugin, \
                 extractor-plugin) only"
                .to_string(),
            Toolchain::Unknown => "build the component against one of apirun's worlds only \
                 (wit/<version>/plugin.wit), and send requests with the imported `host.send`"
                .to_string(),
        }
    }
}

/// The WASI 0.2 packages wasmtime-wasi links for every plugin (with no
/// preopens, environment or sockets allowed: see `state.rs`).
const WASI_PROVIDED: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];

/// Whether apirun provides the interface a component imports by this name.
pub fn provided(import: &str) -> bool {
    let Some((package, rest)) = import.split_once('/') else {
        return false;
    };
    let version = rest.split_once('@').map(|(_, v)| v);
    if let Some(name) = package.strip_prefix("wasi:") {
        return WASI_PROVIDED.contains(&name)
            && version.is_some_and(|v| v.starts_with("0.2."));
    }
    if package == "apirun:plugin" {
        let interface = rest.split('@').next().unwrap_or_default();
        let Some(version) = version.and_then(|v| semver::Version::parse(v).ok()) else {
            return false;
        };
        return matches!(interface, "types" | "host") && Contract::for_version(&version).is_some();
    }
    false
}

/// The imports apirun does not provide, in the component's order.
pub fn missing_imports(imports: &[String]) -> Vec<String> {
    imports.iter().filter(|i| !provided(i)).cloned().collect()
}

/// The exports worth showing: interfaces (`ns:pkg/name@v`). componentize-py
/// also exports a bare `exports` instance, an artefact of its bindings.
pub fn shown_exports(exports: &[String]) -> Vec<String> {
    exports.iter().filter(|e| e.contains(':')).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_toolchain_from_its_markers() {
        let with = |marker: &str| {
            let mut bytes = b"\0asm\x0d\0\x01\0 some bytes ".to_vec();
            bytes.extend_from_slice(marker.as_bytes());
            bytes.extend_from_slice(b" and more /rustc/abc/library");
            bytes
        };
        assert_eq!(
            Toolchain::detect(&with("libcomponentize_py_runtime.so")),
            Toolchain::ComponentizePy
        );
        assert_eq!(
            Toolchain::detect(&with("StarlingMonkey")),
            Toolchain::ComponentizeJs
        );
        assert_eq!(Toolchain::detect(&with("")), Toolchain::Rust);
        assert_eq!(Toolchain::detect(b"\0asm"), Toolchain::Unknown);
    }

    #[test]
    fn the_js_fix_names_the_features_to_disable() {
        let fix = Toolchain::ComponentizeJs.fix(&["wasi:http/types@0.2.3".to_string()]);
        assert!(fix.contains("\"http\"") && fix.contains("\"fetch-event\""), "{fix}");
        assert!(Toolchain::ComponentizePy.fix(&[]).contains("componentize-py"));
        assert!(Toolchain::Rust.fix(&[]).contains("std::net"));
    }

    #[test]
    fn knows_what_it_provides() {
        for import in [
            "wasi:cli/environment@0.2.9",
            "wasi:io/streams@0.2.0",
            "wasi:sockets/tcp@0.2.3",
            "apirun:plugin/host@0.1.0",
            "apirun:plugin/types@0.1.9",
            "apirun:plugin/host@0.2.0",
        ] {
            assert!(provided(import), "{import}");
        }
        for import in [
            "wasi:http/types@0.2.3",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:cli/environment@0.3.0",
            "apirun:plugin/host@0.3.0",
            "apirun:plugin/secrets@0.2.0",
            "my:thing/api",
            "bare",
        ] {
            assert!(!provided(import), "{import}");
        }
        assert_eq!(
            shown_exports(&["exports".into(), "apirun:plugin/step@0.1.0".into()]),
            ["apirun:plugin/step@0.1.0"]
        );
    }
}
