//! `--var-file PATH`: a map of variables given on the command line
//! (docs/configuration.md, "Variables from the command line"). A YAML or
//! JSON map (JSON is YAML), or `.env` lines when the name ends in `.env`
//! (or is `.env`). Read through [`super::files`] like every user-named file.

use std::path::Path;

use indexmap::IndexMap;

use super::decode::{self, Ctx};
use super::error::{Diagnostic, Diagnostics};
use super::read_file;

/// The variables of a `--var-file`, in file order.
pub fn load_var_file(path: &Path) -> Result<IndexMap<String, String>, Diagnostics> {
    let text = read_file(path)?;
    if is_dotenv(path) {
        return parse_dotenv(path, &text);
    }
    let mut ctx = Ctx::new(path, "variables file");
    let map = match ctx.parse(&text) {
        Some(root) => decode::string_map(&mut ctx, &root, ""),
        None => IndexMap::new(),
    };
    if ctx.has_errors() {
        return Err(Diagnostics(ctx.diags));
    }
    Ok(map)
}

fn is_dotenv(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name == ".env" || name.ends_with(".env")
}

/// `.env` lines (`NAME=VALUE`, `export NAME=VALUE`, quotes, `#` comments),
/// parsed by `dotenvy` without touching the process environment.
fn parse_dotenv(path: &Path, text: &str) -> Result<IndexMap<String, String>, Diagnostics> {
    let mut out = IndexMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((name, value)) => {
                out.insert(name, value);
            }
            Err(e) => {
                let message = match e {
                    dotenvy::Error::LineParse(line, index) => {
                        // The line's text may hold a secret: say where, not what.
                        let number = text
                            .lines()
                            .position(|l| l == line.as_str())
                            .map(|n| n + 1)
                            .unwrap_or(0);
                        return Err(Diagnostics::from(
                            Diagnostic::error(
                                path,
                                format!("not a NAME=VALUE line (column {})", index + 1),
                            )
                            .at(number, index + 1)
                            .hint("write NAME=VALUE, quote values with spaces"),
                        ));
                    }
                    other => other.to_string(),
                };
                return Err(Diagnostics::from(Diagnostic::error(path, message)));
            }
        }
    }
    Ok(out)
}
