//! Variables from outside the config files: `APIRUN_VAR_<name>`,
//! `--var-file`, `--var` and `--secret` (docs/configuration.md, "Variables
//! from the command line"). Lowest first: environment, files in the order
//! given, then `--var` and `--secret`; each wins over what comes before, and
//! all of them over the config files' `env`.

use std::path::Path;

use super::defs::VarArgs;
use super::exit::Failure;
use crate::migrate::Vars;

/// The prefix of environment variables read as template variables.
pub const ENV_PREFIX: &str = "APIRUN_VAR_";

/// (variables, secrets): `--secret` values are kept apart so they can be
/// registered with the masker.
pub fn collect(args: &VarArgs) -> Result<(Vars, Vars), Failure> {
    let mut vars = Vars::new();
    for (key, value) in std::env::vars_os() {
        // A name or value that is not UTF-8 cannot be a template variable.
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
            continue;
        };
        if let Some(name) = key.strip_prefix(ENV_PREFIX).filter(|n| !n.is_empty()) {
            vars.insert(name.to_string(), value.to_string());
        }
    }
    for path in &args.var_file {
        vars.extend(read_file(path)?);
    }
    for pair in &args.var {
        let (name, value) = split(pair, "--var")?;
        vars.insert(name, value);
    }
    let mut secrets = Vars::new();
    for pair in &args.secret {
        let (name, value) = split(pair, "--secret")?;
        vars.remove(&name);
        secrets.insert(name, value);
    }
    Ok((vars, secrets))
}

/// The names given with `--var` and `--secret`, in order, each once.
pub fn flag_names(args: &VarArgs) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for pair in args.var.iter().chain(&args.secret) {
        if let Some((name, _)) = pair.split_once('=') {
            let name = name.trim().to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

fn read_file(path: &Path) -> Result<Vars, Failure> {
    let map = crate::config::var_file::load_var_file(path).map_err(|diagnostics| {
        Failure::bad_input(format!("--var-file {}:\n{diagnostics}", path.display()))
    })?;
    Ok(map.into_iter().collect())
}

/// `NAME=VALUE` split at the first `=`. The value is never quoted in a
/// message: it may be a secret.
fn split(pair: &str, flag: &str) -> Result<(String, String), Failure> {
    let Some((name, value)) = pair.split_once('=') else {
        return Err(Failure::bad_input(format!(
            "{flag} takes NAME=VALUE; the argument has no `=`"
        )));
    };
    let name = name.trim();
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Failure::bad_input(format!(
            "{flag} {name:?}=...: the name must be non-empty, without spaces"
        )));
    }
    Ok((name.to_string(), value.to_string()))
}
