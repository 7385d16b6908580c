//! Test plugin: a step that never returns (the host must cut it off).

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "step-plugin",
});

use apirun::plugin::types::PluginError;
use exports::apirun::plugin::step::{Guest, StepInput, StepOutput};

struct Spin;

impl Guest for Spin {
    fn run(input: StepInput) -> Result<StepOutput, PluginError> {
        let mut counter: u64 = input.spec.len() as u64;
        loop {
            counter =
                std::hint::black_box(counter.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export!(Spin);
