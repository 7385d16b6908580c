//! Test plugin: a step that allocates memory without bound (the host must cap it).

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "step-plugin",
});

use apirun::plugin::types::PluginError;
use exports::apirun::plugin::step::{Guest, StepInput, StepOutput};

struct Hog;

impl Guest for Hog {
    fn run(_input: StepInput) -> Result<StepOutput, PluginError> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = vec![0u8; 1 << 20];
            chunk[0] = chunks.len() as u8;
            chunks.push(std::hint::black_box(chunk));
        }
    }
}

export!(Hog);
