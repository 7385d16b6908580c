//! Host-side bindings for the three plugin worlds of `wit/plugin.wit`.
//!
//! The step world generates the shared `types` and `host` interfaces; the
//! auth and extractor worlds reuse them with `with:` so there is one Rust type
//! per WIT type and one `Host` implementation.

pub mod step {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "step-plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

pub mod auth {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "auth-plugin",
        imports: { default: async },
        exports: { default: async },
        with: {
            "apirun:plugin/types": super::step::apirun::plugin::types,
            "apirun:plugin/host": super::step::apirun::plugin::host,
        },
    });
}

pub mod extractor {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "extractor-plugin",
        imports: { default: async },
        exports: { default: async },
        with: {
            "apirun:plugin/types": super::step::apirun::plugin::types,
            "apirun:plugin/host": super::step::apirun::plugin::host,
        },
    });
}

pub use step::apirun::plugin::host as host_iface;
pub use step::apirun::plugin::types;
