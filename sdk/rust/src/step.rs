//! The `step-plugin` world: a step type (`type: <name>` in a migration).

use serde::de::DeserializeOwned;

use crate::{
    HttpResponse, PluginError, StepInput, StepOutput, StepSpec, Variable, VariableDeclaration,
    invalid_config, parse_json,
};

/// Implement this and export it with [`export_step!`](crate::export_step).
pub trait Step {
    /// Perform the step. `input.with::<T>()` parses the step's `with:` block.
    fn run(input: StepInput) -> Result<StepOutput, PluginError>;

    /// The variables `run` sets for a step with this `with:` block (as
    /// written, not rendered), so that `apirun validate` knows them.
    /// Default: none declared.
    fn declared_variables(
        with: &str,
        config: &str,
    ) -> Result<Vec<VariableDeclaration>, PluginError> {
        let _ = (with, config);
        Ok(Vec::new())
    }
}

impl StepInput {
    /// The step's rendered `with:` block parsed into `T` (an error names
    /// `with:`); `{}` when the step has none.
    pub fn with<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        match &self.spec {
            StepSpec::Custom(json) => parse_json(json, "the step's `with:` block"),
            StepSpec::Http(_) => Err(invalid_config(
                "this plugin is a custom step type; it was used as the `http` step",
            )),
        }
    }

    /// The `with:` block as JSON text.
    pub fn with_json(&self) -> Option<&str> {
        match &self.spec {
            StepSpec::Custom(json) => Some(json),
            StepSpec::Http(_) => None,
        }
    }

    /// The plugin's static `config:` (from its `plugins:` entry) parsed into `T`.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        parse_json(&self.config, "the plugin's `config:`")
    }

    /// A variable the stage config grants this plugin (`plugins: - variables: [...]`).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }
}

impl StepOutput {
    /// No response (nothing for apirun to check or extract), no variables.
    pub fn empty() -> StepOutput {
        StepOutput {
            response: None,
            variables: Vec::new(),
        }
    }

    /// The response apirun checks against `result_code` and extracts from.
    pub fn response(response: HttpResponse) -> StepOutput {
        StepOutput {
            response: Some(response),
            variables: Vec::new(),
        }
    }

    /// Set a variable (visible to later steps and migrations).
    pub fn set(mut self, name: impl Into<String>, value: impl Into<String>) -> StepOutput {
        self.variables.push(Variable {
            name: name.into(),
            value: value.into(),
        });
        self
    }
}

impl VariableDeclaration {
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> VariableDeclaration {
        VariableDeclaration {
            name: name.into(),
            description: description.into(),
        }
    }
}

/// Export a type implementing [`Step`] as the component's step. Its name,
/// version and description come from the plugin's Cargo.toml.
#[macro_export]
macro_rules! export_step {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __ApirunStepExport;

        impl $crate::bindings::exports::apirun::plugin::step::Guest for __ApirunStepExport {
            fn run(
                input: $crate::StepInput,
            ) -> ::core::result::Result<$crate::StepOutput, $crate::PluginError> {
                <$ty as $crate::Step>::run(input)
            }

            fn declared_variables(
                spec: ::std::string::String,
                config: ::std::string::String,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::VariableDeclaration>,
                $crate::PluginError,
            > {
                <$ty as $crate::Step>::declared_variables(&spec, &config)
            }
        }

        impl $crate::bindings::exports::apirun::plugin::metadata::Guest for __ApirunStepExport {
            fn metadata() -> $crate::PluginMetadata {
                $crate::__metadata(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
        }

        $crate::bindings::__apirun_export_world!(__ApirunStepExport);
    };
}
