//! On-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes tens to hundreds of
//! milliseconds (seconds for a JavaScript or Python component); loading a
//! precompiled artifact takes well under a millisecond. Artifacts are keyed by
//! the SHA-256 of the component bytes and by wasmtime's own compatibility hash
//! of the engine (version and settings), so a new apirun or a changed engine
//! configuration never loads a stale artifact.
//!
//! Why our own cache rather than wasmtime's `cache` feature: the key is
//! explicit, a hit or miss is observable (`LoadSource`), which the tests
//! assert, and writes are atomic (temporary file + rename), so a crash or two
//! processes compiling at once never leave a torn artifact behind.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Compiled now (and written to the disk cache when there is one).
    Compiled,
    /// Loaded from a precompiled artifact in the disk cache.
    DiskCache,
    /// Already loaded by this process.
    Memory,
}

#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    /// The default location: `$APIRUN_CACHE_DIR`, else `$XDG_CACHE_HOME/apirun/wasm`,
    /// else `$HOME/.cache/apirun/wasm`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("APIRUN_CACHE_DIR").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("apirun").join("wasm"));
        }
        std::env::var_os("HOME")
            .filter(|d| !d.is_empty())
            .map(|home| {
                PathBuf::from(home)
                    .join(".cache")
                    .join("apirun")
                    .join("wasm")
            })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The artifact path for a component with this content digest.
    pub fn artifact_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// Load from the cache, or compile and store. Cache I/O problems never fail
    /// the load: they fall back to compiling (and are logged).
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, LoadSource)> {
        let path = self.artifact_path(digest);
        if path.is_file() {
            // SAFETY: the artifact was written by `store` below, into apirun's
            // own cache directory, from bytes produced by this engine
            // configuration (the file name carries the engine's compatibility
            // hash). wasmtime additionally validates the artifact's header.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, LoadSource::DiskCache)),
                Err(e) => tracing::warn!(
                    "ignoring unreadable compiled plugin {}: {e}; recompiling",
                    path.display()
                ),
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        if let Err(e) = self.store(&path, &artifact) {
            tracing::warn!("could not write plugin cache {}: {e}", path.display());
        }
        // SAFETY: `artifact` was produced just now by `precompile_component` on this engine.
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        Ok((component, LoadSource::Compiled))
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        // Unique per process and per write: two threads of one process may
        // compile the same component at once, and must not share a temp file.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".{}.{}-{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("artifact"),
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(artifact)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            // Best effort: a full disk must not also leave half-written temp files.
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}
