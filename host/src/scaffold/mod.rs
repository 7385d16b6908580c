//! `apirun plugins new`: write a ready plugin project (docs/plugins.md,
//! "Start a plugin").
//!
//! A project is the plugin's source, its build file, a README with the build
//! command, a test of its logic, and an example stage (config + migration)
//! that uses the built component. The templates are plain files under
//! `templates/`, embedded with `include_str!`; `__NAME__`-style markers are
//! replaced. The SDK (`sdk/<lang>` of the apirun source tree) is referenced
//! by absolute path, so nothing is copied into the project: `tests/sdk.rs`
//! creates, builds, inspects and runs every language and kind.

use std::fmt;
use std::path::{Path, PathBuf};

/// The language a project is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Step,
    Auth,
    Extractor,
}

impl Lang {
    pub fn key(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }

    /// A file that must exist in `sdk/<lang>`, to tell an SDK directory from
    /// any other.
    fn sdk_marker(self) -> &'static str {
        match self {
            Lang::Rust => "Cargo.toml",
            Lang::Python => "apirun_plugin/__init__.py",
            Lang::Js => "package.json",
        }
    }
}

impl Kind {
    pub fn key(self) -> &'static str {
        match self {
            Kind::Step => "step",
            Kind::Auth => "auth",
            Kind::Extractor => "extractor",
        }
    }

    fn world(self) -> &'static str {
        match self {
            Kind::Step => "step-plugin",
            Kind::Auth => "auth-plugin",
            Kind::Extractor => "extractor-plugin",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Step => {
                "A step type: with `with: {url, name}` it POSTs `{\"greeting\": \"hello <name>\"}` to `url` and sets the variable `greeting`."
            }
            Kind::Auth => {
                "An auth provider: its `config: {token}` becomes `Authorization: Bearer <token>`."
            }
            Kind::Extractor => {
                "An extractor: a path of dot-separated keys and indexes (`spec.size`) into a JSON body."
            }
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// The plugin's name: the `plugins:` entry name and the project directory.
    pub name: String,
    pub lang: Lang,
    pub kind: Kind,
    /// The project directory (created; must not exist or be empty).
    pub dir: PathBuf,
    /// apirun's `sdk/` directory; `None` = the source tree this apirun was
    /// built from, when it is still there.
    pub sdk_root: Option<PathBuf>,
}

/// What was created.
#[derive(Debug, Clone)]
pub struct Created {
    pub dir: PathBuf,
    /// Relative to `dir`, in the order written.
    pub files: Vec<PathBuf>,
    /// The command that builds the component, run in `dir`.
    pub build_command: String,
    /// The component the build writes, relative to `dir`.
    pub wasm: PathBuf,
    pub test_command: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "invalid plugin name {name:?}: {reason} (use lower-case letters, digits, `-` and `_`, starting with a letter, at most 64 characters)"
    )]
    InvalidName { name: String, reason: &'static str },
    #[error("{} already exists and is not empty; pick another name or --dir", .0.display())]
    Exists(PathBuf),
    #[error(
        "cannot find apirun's {lang} SDK (looked for {}); pass --sdk <path to the sdk/ directory of an apirun checkout> or set APIRUN_SDK_DIR",
        .looked.display()
    )]
    NoSdk { lang: Lang, looked: PathBuf },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The `sdk/` directory of the source tree this binary was built from.
pub fn built_in_sdk_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sdk")
}

/// The version of the plugin contract the SDKs build against.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Check a plugin name: it becomes a `plugins:` name, a directory, a crate,
/// a Python module and an npm package name, so keep to what all accept.
pub fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let invalid = |reason| ScaffoldError::InvalidName {
        name: name.to_string(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err(invalid("it must start with a lower-case letter"));
        }
        _ => {}
    }
    if name.len() > 64 {
        return Err(invalid("it is longer than 64 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(invalid(
            "it has a character other than a-z, 0-9, `-` and `_`",
        ));
    }
    Ok(())
}

/// Write the project. Nothing is overwritten: the directory must not exist
/// or be empty.
pub fn create(request: &NewPlugin) -> Result<Created, ScaffoldError> {
    check_name(&request.name)?;
    let sdk = find_sdk(request)?;
    let dir = &request.dir;
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|source| ScaffoldError::Io {
            path: dir.clone(),
            source,
        })?;
        if entries.next().is_some() {
            return Err(ScaffoldError::Exists(dir.clone()));
        }
    }
    let project = project(request, &sdk);
    let mut files = Vec::new();
    for (relative, contents) in &project.files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ScaffoldError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, contents).map_err(|source| ScaffoldError::Io {
            path: path.clone(),
            source,
        })?;
        files.push(PathBuf::from(relative));
    }
    Ok(Created {
        dir: dir.clone(),
        files,
        build_command: project.build,
        wasm: PathBuf::from(project.wasm),
        test_command: project.test,
    })
}

fn find_sdk(request: &NewPlugin) -> Result<PathBuf, ScaffoldError> {
    let root = request.sdk_root.clone().unwrap_or_else(built_in_sdk_root);
    let dir = root.join(request.lang.key());
    let marker = dir.join(request.lang.sdk_marker());
    if !marker.is_file() {
        return Err(ScaffoldError::NoSdk {
            lang: request.lang,
            looked: marker,
        });
    }
    // An absolute path without `..`, written into the project's build file.
    std::fs::canonicalize(&dir).map_err(|source| ScaffoldError::Io { path: dir, source })
}

struct Project {
    files: Vec<(String, String)>,
    build: String,
    test: String,
    wasm: String,
}

mod templates {
    pub const README: &str = include_str!("templates/common/README.md");
    pub const CONFIG_STEP: &str = include_str!("templates/common/config-step.yaml");
    pub const CONFIG_AUTH: &str = include_str!("templates/common/config-auth.yaml");
    pub const CONFIG_EXTRACTOR: &str = include_str!("templates/common/config-extractor.yaml");
    pub const MIGRATION_STEP: &str = include_str!("templates/common/migration-step.yaml");
    pub const MIGRATION_AUTH: &str = include_str!("templates/common/migration-auth.yaml");
    pub const MIGRATION_EXTRACTOR: &str = include_str!("templates/common/migration-extractor.yaml");

    // `.in`: `cargo package` leaves out any directory holding a `Cargo.toml`
    // (it takes it for another package), and the template must ship.
    pub const RUST_CARGO: &str = include_str!("templates/rust/Cargo.toml.in");
    pub const RUST_STEP: &str = include_str!("templates/rust/step.rs");
    pub const RUST_AUTH: &str = include_str!("templates/rust/auth.rs");
    pub const RUST_EXTRACTOR: &str = include_str!("templates/rust/extractor.rs");
    pub const RUST_GITIGNORE: &str = "/target\n/example/apirun.db\n";

    pub const PY_BUILD: &str = include_str!("templates/python/build.py");
    pub const PY_STEP: &str = include_str!("templates/python/step.py");
    pub const PY_AUTH: &str = include_str!("templates/python/auth.py");
    pub const PY_EXTRACTOR: &str = include_str!("templates/python/extractor.py");
    pub const PY_TEST_STEP: &str = include_str!("templates/python/test_step.py");
    pub const PY_TEST_AUTH: &str = include_str!("templates/python/test_auth.py");
    pub const PY_TEST_EXTRACTOR: &str = include_str!("templates/python/test_extractor.py");
    pub const PY_GITIGNORE: &str = "/.venv\n/__pycache__\n/*.wasm\n/example/apirun.db\n";

    pub const JS_PACKAGE: &str = include_str!("templates/js/package.json");
    pub const JS_BUILD: &str = include_str!("templates/js/build.mjs");
    pub const JS_STEP: &str = include_str!("templates/js/step.js");
    pub const JS_AUTH: &str = include_str!("templates/js/auth.js");
    pub const JS_EXTRACTOR: &str = include_str!("templates/js/extractor.js");
    pub const JS_TEST_STEP: &str = include_str!("templates/js/step.test.mjs");
    pub const JS_TEST_AUTH: &str = include_str!("templates/js/auth.test.mjs");
    pub const JS_TEST_EXTRACTOR: &str = include_str!("templates/js/extractor.test.mjs");
    pub const JS_GITIGNORE: &str = "/node_modules\n/*.wasm\n/example/apirun.db\n";
}

fn project(request: &NewPlugin, sdk: &Path) -> Project {
    use templates::*;
    let name = request.name.as_str();
    let kind = request.kind;
    let ident = name.replace('-', "_");
    // Forward slashes: valid in Cargo.toml, package.json and Python on every platform.
    let sdk_path = sdk.display().to_string().replace('\\', "/");
    let (config, migration) = match kind {
        Kind::Step => (CONFIG_STEP, MIGRATION_STEP),
        Kind::Auth => (CONFIG_AUTH, MIGRATION_AUTH),
        Kind::Extractor => (CONFIG_EXTRACTOR, MIGRATION_EXTRACTOR),
    };
    let pick = |step: &'static str, auth: &'static str, extractor: &'static str| match kind {
        Kind::Step => step,
        Kind::Auth => auth,
        Kind::Extractor => extractor,
    };
    // (files, build command, test command, component, source, test file, needs)
    type LangFiles = (
        Vec<(String, &'static str)>,
        String,
        String,
        String,
        String,
        String,
        &'static str,
    );
    let (mut files, build, test, wasm, source, test_file, needs): LangFiles = match request.lang {
        Lang::Rust => (
            vec![
                ("Cargo.toml".into(), RUST_CARGO),
                (
                    "src/lib.rs".into(),
                    pick(RUST_STEP, RUST_AUTH, RUST_EXTRACTOR),
                ),
                (".gitignore".into(), RUST_GITIGNORE),
            ],
            "cargo build --release --target wasm32-wasip2".into(),
            "cargo test".into(),
            format!("target/wasm32-wasip2/release/{ident}.wasm"),
            "src/lib.rs".into(),
            "src/lib.rs (`#[cfg(test)]`)".into(),
            "Rust with the wasm32-wasip2 target (`rustup target add wasm32-wasip2`).",
        ),
        Lang::Python => (
            vec![
                (
                    format!("src/{ident}.py"),
                    pick(PY_STEP, PY_AUTH, PY_EXTRACTOR),
                ),
                ("build.py".into(), PY_BUILD),
                (
                    format!("test_{ident}.py"),
                    pick(PY_TEST_STEP, PY_TEST_AUTH, PY_TEST_EXTRACTOR),
                ),
                (".gitignore".into(), PY_GITIGNORE),
            ],
            "python3 build.py".into(),
            "python3 -m unittest".into(),
            format!("{name}.wasm"),
            format!("src/{ident}.py"),
            format!("test_{ident}.py"),
            "Python 3.10 or newer with `venv`; `build.py` installs the pinned componentize-py into `.venv` on its first run.",
        ),
        Lang::Js => (
            vec![
                ("package.json".into(), JS_PACKAGE),
                ("build.mjs".into(), JS_BUILD),
                ("src/plugin.js".into(), pick(JS_STEP, JS_AUTH, JS_EXTRACTOR)),
                (
                    "test/plugin.test.mjs".into(),
                    pick(JS_TEST_STEP, JS_TEST_AUTH, JS_TEST_EXTRACTOR),
                ),
                (".gitignore".into(), JS_GITIGNORE),
            ],
            "npm install && npm run build".into(),
            "npm test".into(),
            format!("{name}.wasm"),
            "src/plugin.js".into(),
            "test/plugin.test.mjs".into(),
            "Node.js 20 or newer with npm; `npm install` fetches the pinned componentize-js.",
        ),
    };
    let run = match kind {
        Kind::Auth => {
            "API_BASE=http://127.0.0.1:8080 API_TOKEN=... apirun --config example/config.yaml up"
        }
        _ => "API_BASE=http://127.0.0.1:8080 apirun --config example/config.yaml up",
    };
    let demo_extra = match kind {
        Kind::Auth => ", with `--bearer <token>` and the same API_TOKEN",
        _ => "",
    };
    files.push(("README.md".into(), README));
    files.push(("example/config.yaml".into(), config));
    files.push((format!("example/migration/001_use_{ident}.yaml"), migration));
    let wasm_from_example = format!("../{wasm}");
    let markers: Vec<(&str, String)> = vec![
        ("__NAME__", name.to_string()),
        ("__CRATE__", name.to_string()),
        ("__MODULE__", ident.clone()),
        ("__ARTIFACT__", ident.clone()),
        ("__KIND__", kind.key().to_string()),
        ("__WORLD__", kind.world().to_string()),
        ("__CONTRACT__", CONTRACT_VERSION.to_string()),
        ("__LANG_KEY__", request.lang.key().to_string()),
        ("__LANG__", request.lang.title().to_string()),
        ("__SDK__", sdk_path),
        ("__WASM_PATH__", wasm_from_example),
        ("__WASM__", wasm.clone()),
        ("__BUILD__", build.clone()),
        ("__TEST_FILE__", test_file),
        ("__TEST__", test.clone()),
        ("__SOURCE__", source),
        ("__WHAT__", kind.what().to_string()),
        ("__NEEDS__", needs.to_string()),
        ("__RUN__", run.to_string()),
        ("__DEMO_EXTRA__", demo_extra.to_string()),
        (
            "__DESCRIPTION__",
            format!("An apirun {} plugin", kind.key()),
        ),
    ];
    let files = files
        .into_iter()
        .map(|(path, template)| {
            let mut text = template.to_string();
            for (marker, value) in &markers {
                text = text.replace(marker, value);
            }
            (path, text)
        })
        .collect();
    Project {
        files,
        build,
        test,
        wasm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("greet").is_ok());
        assert!(check_name("my-auth_2").is_ok());
        for bad in ["", "Greet", "9x", "a b", "a/b", "../x", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn every_marker_is_replaced() {
        let sdk = Path::new("/sdk/x");
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            for kind in [Kind::Step, Kind::Auth, Kind::Extractor] {
                let request = NewPlugin {
                    name: "my-plugin".into(),
                    lang,
                    kind,
                    dir: PathBuf::from("/tmp/x"),
                    sdk_root: None,
                };
                for (path, text) in project(&request, sdk).files {
                    // A marker is `__` + upper-case letters/underscores + `__`.
                    let leftover = text.match_indices("__").find(|(i, _)| {
                        let rest = &text[i + 2..];
                        let word: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                            .collect();
                        word.len() > 2 && word.ends_with("__")
                    });
                    assert!(
                        leftover.is_none(),
                        "{lang} {kind} {path}: marker left at {leftover:?}"
                    );
                }
            }
        }
    }
}
