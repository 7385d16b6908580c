//! apirun: API-driven migrations whose steps are WebAssembly plugins.
//!
//! Data flows one way: files ([`config`]) -> validated model ([`validate`])
//! -> plan and execution ([`migrate`], steps run by [`plugin`]s, HTTP through
//! [`transport`], credentials from [`auth`]) -> [`store`]. [`cli`] is a thin
//! layer over this library; [`output`] masks secrets and shows progress.

pub mod auth;
pub mod cli;
pub mod config;
pub mod migrate;
pub mod orchestrate;
pub mod output;
pub mod plugin;
pub mod scaffold;
pub mod store;
pub mod template;
pub mod transport;
pub mod validate;
