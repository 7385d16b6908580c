//! Reading a file the user named (config.yaml, stages.yaml, a migration file, a
//! `body_file`, `client.ca_file`, a plugin's `.wasm`): the one place every such read goes
//! through, so that no named file can hang or exhaust the process (docs/security.md, "Files").
//!
//! - Only **regular files** are read, after following symlinks (a symlink to a regular file
//!   is fine). A FIFO would block forever, `/dev/zero` or `/dev/urandom` would never end, a
//!   directory is not a file: all are refused with an error naming the file and what it is.
//! - The file is **opened first, then checked** (`fstat` on the open descriptor), so a file
//!   swapped for a FIFO or a device between a check and the open cannot slip through. On
//!   Unix the open is non-blocking: opening a FIFO for reading would otherwise wait for a
//!   writer before any check could run.
//! - Each kind of file has a **size limit**, checked before reading, and the read itself is
//!   capped at the limit (a file growing while read is cut, and refused).
//! - A plugin's first bytes must be the WebAssembly magic (`\0asm`) before the rest is read.
//!
//! Limits (defaults; change them with the environment variables):
//!
//! | files | default | variable |
//! |---|---|---|
//! | config.yaml, stages.yaml, migration files, `body_file`, `ca_file` | 16 MiB | `APIRUN_MAX_FILE_SIZE` |
//! | plugin components (`.wasm`) | 256 MiB | `APIRUN_MAX_PLUGIN_SIZE` |

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Default limit for text files (YAML, bodies, certificates).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;
/// Default limit for plugin components. The largest plugin we know of (a Python component)
/// is about 18 MB.
pub const DEFAULT_MAX_PLUGIN_SIZE: u64 = 256 * 1024 * 1024;
/// Environment variable overriding [`DEFAULT_MAX_FILE_SIZE`].
pub const MAX_FILE_SIZE_VAR: &str = "APIRUN_MAX_FILE_SIZE";
/// Environment variable overriding [`DEFAULT_MAX_PLUGIN_SIZE`].
pub const MAX_PLUGIN_SIZE_VAR: &str = "APIRUN_MAX_PLUGIN_SIZE";

/// What a file is for: decides its size limit (and, for plugins, the magic checked first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// config.yaml, stages.yaml, a migration file.
    Yaml,
    /// A request's `body_file`.
    Body,
    /// `client.ca_file` (PEM).
    Certificate,
    /// A plugin's WebAssembly component.
    Plugin,
}

impl FileKind {
    fn limit_var(self) -> &'static str {
        match self {
            FileKind::Plugin => MAX_PLUGIN_SIZE_VAR,
            _ => MAX_FILE_SIZE_VAR,
        }
    }

    fn default_limit(self) -> u64 {
        match self {
            FileKind::Plugin => DEFAULT_MAX_PLUGIN_SIZE,
            _ => DEFAULT_MAX_FILE_SIZE,
        }
    }

    /// The magic the file must start with.
    fn magic(self) -> Option<&'static [u8]> {
        match self {
            FileKind::Plugin => Some(b"\0asm"),
            _ => None,
        }
    }
}

/// Why a user-named file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened or read.
    #[error("{}: cannot read the file: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a regular file (after following symlinks): a directory, FIFO, device, socket.
    #[error("{}: {what}, not a regular file; only regular files are read", path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    /// Larger than the limit of its kind.
    #[error(
        "{}: the file is {} bytes, over the limit of {limit} bytes; raise {var} if it is meant to be this large",
        path.display(),
        size.map(|s| s.to_string()).unwrap_or_else(|| format!("more than {limit}"))
    )]
    TooLarge {
        path: PathBuf,
        /// The size fstat gave (None when the file grew past the limit while being read).
        size: Option<u64>,
        limit: u64,
        var: &'static str,
    },
    /// A plugin that does not start with the WebAssembly magic.
    #[error("{}: not a WebAssembly file (it does not start with \\0asm)", path.display())]
    BadMagic { path: PathBuf },
    /// The limit's environment variable is not a size.
    #[error("{var}={value:?} is not a size; write bytes, or a number with KiB, MiB or GiB")]
    BadLimit { var: &'static str, value: String },
}

impl FileError {
    /// The message without the leading path (for callers that name the file themselves).
    pub fn reason(&self) -> String {
        let full = self.to_string();
        match self.path() {
            Some(p) => {
                let prefix = format!("{}: ", p.display());
                full.strip_prefix(&prefix)
                    .map(str::to_string)
                    .unwrap_or(full)
            }
            None => full,
        }
    }

    /// The file concerned (None for a bad limit setting).
    pub fn path(&self) -> Option<&Path> {
        match self {
            FileError::Io { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::TooLarge { path, .. }
            | FileError::BadMagic { path } => Some(path),
            FileError::BadLimit { .. } => None,
        }
    }

    /// The underlying I/O error kind, if this is one.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            FileError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// The limit for `kind`: its environment variable if set, else the default.
pub fn limit(kind: FileKind) -> Result<u64, FileError> {
    let var = kind.limit_var();
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => {
            parse_size(&value).ok_or(FileError::BadLimit { var, value })
        }
        _ => Ok(kind.default_limit()),
    }
}

/// `1048576`, `512KiB`, `16MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, all binary).
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// What a non-regular file is, for messages.
fn describe(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Opens `path` for reading without blocking on a FIFO (Unix).
fn open(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO for reading would wait for a writer; O_NOCTTY: a
        // terminal device must not become our controlling terminal. Neither changes how a
        // regular file is read.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Reads the whole of a user-named file, refusing anything but a regular file within the
/// limit of its kind.
pub fn read(path: &Path, kind: FileKind) -> Result<Vec<u8>, FileError> {
    let limit = limit(kind)?;
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match open(path) {
        Ok(f) => f,
        // Opening a directory for reading succeeds on Linux but not everywhere; say what it is.
        Err(e) => {
            return Err(match std::fs::metadata(path) {
                Ok(m) if !m.is_file() => FileError::NotRegular {
                    path: path.to_path_buf(),
                    what: describe(m.file_type()),
                },
                _ => io(e),
            });
        }
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
            what: describe(meta.file_type()),
        });
    }
    let too_large = |size| FileError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
        var: kind.limit_var(),
    };
    if meta.len() > limit {
        return Err(too_large(Some(meta.len())));
    }
    // Capacity from fstat, itself bounded by the limit.
    let mut out = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let mut reader = file.take(limit.saturating_add(1));
    if let Some(magic) = kind.magic() {
        let mut head = vec![0u8; magic.len()];
        let mut got = 0;
        while got < head.len() {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
        if &head[..got] != magic {
            return Err(FileError::BadMagic {
                path: path.to_path_buf(),
            });
        }
        out.extend_from_slice(&head);
    }
    reader.read_to_end(&mut out).map_err(io)?;
    if out.len() as u64 > limit {
        return Err(too_large(None));
    }
    Ok(out)
}

/// Like [`read`], as UTF-8 text (a leading byte-order mark is kept; invalid UTF-8 is an
/// I/O error of kind `InvalidData`).
pub fn read_to_string(path: &Path, kind: FileKind) -> Result<String, FileError> {
    let bytes = read(path, kind)?;
    String::from_utf8(bytes).map_err(|e| FileError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the file is not valid UTF-8 text ({})", e.utf8_error()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size(" 2 GiB "), Some(2 << 30));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("12TB"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }

    #[test]
    fn reads_regular_files_and_symlinks_to_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, "up: {}\n").expect("write");
        assert_eq!(read(&file, FileKind::Yaml).expect("read"), b"up: {}\n");
        #[cfg(unix)]
        {
            let link = dir.path().join("b.yaml");
            std::os::unix::fs::symlink(&file, &link).expect("symlink");
            assert_eq!(read(&link, FileKind::Yaml).expect("read"), b"up: {}\n");
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_devices_fifos_and_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("zero.yaml");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        let e = read(&link, FileKind::Yaml).expect_err("device");
        assert!(e.to_string().contains("a character device"), "{e}");
        let e = read(dir.path(), FileKind::Yaml).expect_err("dir");
        assert!(e.to_string().contains("a directory"), "{e}");
        let fifo = dir.path().join("fifo.yaml");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("cstring");
        // SAFETY: mkfifo only reads the NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo, FileKind::Yaml).expect_err("fifo");
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn plugin_magic_is_checked_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.wasm");
        std::fs::write(&file, "not wasm").expect("write");
        let e = read(&file, FileKind::Plugin).expect_err("magic");
        assert!(matches!(e, FileError::BadMagic { .. }), "{e}");
        std::fs::write(&file, b"\0asm\x0d\0\x01\0").expect("write");
        assert_eq!(read(&file, FileKind::Plugin).expect("read").len(), 8);
    }

    #[test]
    fn sparse_file_over_the_limit_is_refused_without_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("big.yaml");
        let f = File::create(&file).expect("create");
        f.set_len(DEFAULT_MAX_FILE_SIZE + 1).expect("set_len");
        let e = read(&file, FileKind::Yaml).expect_err("too large");
        assert!(
            e.to_string()
                .contains(&format!("over the limit of {DEFAULT_MAX_FILE_SIZE} bytes")),
            "{e}"
        );
        assert!(e.to_string().contains(MAX_FILE_SIZE_VAR), "{e}");
    }
}
