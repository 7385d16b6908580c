//! `__NAME__`: a step type. With `with: {url, name}` it POSTs
//! `{"greeting": "hello <name>"}` to `url` and sets the variable `greeting`.
//! The step's response is what `result_code` and `env_from` apply to.

use apirun_plugin_sdk::http::Request;
use apirun_plugin_sdk::{
    PluginError, Step, StepInput, StepOutput, VariableDeclaration, export_step, invalid_config,
    log,
};
use serde::Deserialize;

/// The step's `with:` block.
#[derive(Debug, Deserialize)]
struct With {
    url: String,
    #[serde(default)]
    name: Option<String>,
}

/// The greeting for a `with:` block: the plugin's logic, kept free of host
/// calls so that `cargo test` runs it natively.
fn greeting(with: &With) -> Result<String, PluginError> {
    let name = with.name.as_deref().unwrap_or("world").trim();
    if name.is_empty() {
        return Err(invalid_config("`with.name` is empty; give a name or leave it out"));
    }
    Ok(format!("hello {name}"))
}

struct Plugin;

impl Step for Plugin {
    fn run(input: StepInput) -> Result<StepOutput, PluginError> {
        let with: With = input.with()?;
        let greeting = greeting(&with)?;
        log::info(&format!("POST {}", with.url));
        // host.send: apirun checks the URL against this plugin's allowed_hosts.
        let response = Request::post(&with.url)
            .json(&serde_json::json!({ "greeting": greeting }))
            .send()?;
        Ok(StepOutput::response(response).set("greeting", greeting))
    }

    fn declared_variables(_with: &str, _config: &str) -> Result<Vec<VariableDeclaration>, PluginError> {
        Ok(vec![VariableDeclaration::new("greeting", "the greeting sent")])
    }
}

export_step!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name() {
        let with = With { url: "http://x".into(), name: Some("Ada".into()) };
        assert_eq!(greeting(&with).unwrap(), "hello Ada");
    }

    #[test]
    fn refuses_an_empty_name() {
        let with = With { url: "http://x".into(), name: Some(" ".into()) };
        assert!(matches!(greeting(&with), Err(PluginError::InvalidConfig(_))));
    }
}
