//! Logging: a `tracing` subscriber writing to stderr, every line masked.
//!
//! [`init_logging`] installs the process-wide subscriber once; later calls
//! do nothing. The level comes from `logging.level`, unless the `APIRUN_LOG`
//! environment variable holds an `EnvFilter` directive list
//! (`APIRUN_LOG=debug`, `APIRUN_LOG=info,apirun::transport=trace`), which
//! then decides alone. At `debug` and `trace` the chattiest dependencies
//! (the WebAssembly compiler, the HTTP stack) stay at `info`; `APIRUN_LOG`
//! can still turn them up.
//!
//! Formats: `text` (plain, no escape codes), `color` (ANSI colours, only when
//! stderr is a terminal and `NO_COLOR` is not set; plain text otherwise) and
//! `json` (one JSON object per line, event fields at the top level).
//!
//! Every formatted event goes through [`MaskingMakeWriter`]: it buffers the
//! event's lines, masks them with the [`Masker`] and escapes control
//! characters ([`super::escape`]: a server's ESC or CR is written as `\x1b`,
//! `\r`) before one write to stderr. JSON lines are parsed and masked string by string
//! ([`Masker::mask_json`]), so they stay valid JSON (a line in which
//! something was masked is re-serialized, with its keys sorted). While a live
//! progress display is on the terminal, it is cleared before a log line is
//! written and redrawn after it.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;
use tracing_subscriber::util::SubscriberInitExt;

use super::escape;
use super::masking::Masker;
use super::progress;

/// The environment variable that overrides the configured level.
pub const LOG_ENV: &str = "APIRUN_LOG";

/// Dependencies kept at `info` when the level is `debug` or `trace`.
const QUIET_DEPENDENCIES: &[&str] = &[
    "cranelift",
    "wasmtime",
    "regalloc2",
    "wasmparser",
    "wit_parser",
    "wit_component",
    "hyper",
    "h2",
    "rustls",
    "reqwest",
    "tokio",
    "mio",
    "want",
];

/// `logging.level`, plus `trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = String;

    /// Accepts `trace`, `debug`, `info`, `warn`/`warning` and `error`, in
    /// any case.
    fn from_str(s: &str) -> Result<LogLevel, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Ok(LogLevel::Trace),
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            other => Err(format!(
                "unknown log level `{other}`: use trace, debug, info, warn or error"
            )),
        }
    }
}

/// `logging.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    Text,
    Json,
    Color,
}

/// What [`init_logging`] needs.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: LogLevel,
    pub format: LogFormat,
    /// The process's masker; secrets registered on it later are masked too.
    pub masker: Arc<Masker>,
}

/// Why logging could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogError {
    /// `APIRUN_LOG` is not a valid filter.
    InvalidFilter { value: String, message: String },
    /// Another global `tracing` subscriber (or `log` logger) was installed
    /// by someone else.
    Install(String),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::InvalidFilter { value, message } => write!(
                f,
                "{LOG_ENV}={value:?} is not a valid log filter: {message}; use a level \
                 (trace, debug, info, warn, error) or directives such as `info,apirun=debug`, \
                 or unset {LOG_ENV}"
            ),
            LogError::Install(message) => {
                write!(f, "cannot install the logger: {message}")
            }
        }
    }
}

impl std::error::Error for LogError {}

static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Installs the process-wide subscriber writing masked lines to stderr.
/// A second call (from anywhere) is a no-op that returns `Ok(())`: the first
/// settings and masker stay in force, so register secrets on that masker.
pub fn init_logging(settings: LogSettings) -> Result<(), LogError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *installed {
        return Ok(());
    }
    let env = std::env::var(LOG_ENV).ok();
    let format = effective_format(
        settings.format,
        io::stderr().is_terminal(),
        no_color_requested(),
    );
    let writer = MaskingMakeWriter::new(io::stderr, settings.masker)
        .json(format == LogFormat::Json)
        .color(format == LogFormat::Color)
        .live_area_aware(true);
    let subscriber = build_subscriber(settings.level, format, env.as_deref(), writer)?;
    subscriber
        .try_init()
        .map_err(|e| LogError::Install(e.to_string()))?;
    *installed = true;
    Ok(())
}

/// Whether [`init_logging`] has installed the subscriber.
pub fn logging_initialized() -> bool {
    *INSTALLED.lock().unwrap_or_else(|e| e.into_inner())
}

/// `NO_COLOR` set to anything non-empty (<https://no-color.org>).
pub(crate) fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The format actually used: colour only on a terminal without `NO_COLOR`.
pub fn effective_format(requested: LogFormat, is_terminal: bool, no_color: bool) -> LogFormat {
    match requested {
        LogFormat::Color if !is_terminal || no_color => LogFormat::Text,
        other => other,
    }
}

/// The filter: `env` (the value of `APIRUN_LOG`) when set and non-blank,
/// else `level` (with noisy dependencies capped at `info` below that).
pub fn build_filter(level: LogLevel, env: Option<&str>) -> Result<EnvFilter, LogError> {
    if let Some(value) = env.filter(|v| !v.trim().is_empty()) {
        return EnvFilter::builder()
            .parse(value.trim())
            .map_err(|e| LogError::InvalidFilter {
                value: value.to_string(),
                message: e.to_string(),
            });
    }
    let mut directives = level.as_str().to_string();
    if level <= LogLevel::Debug {
        for dep in QUIET_DEPENDENCIES {
            directives.push_str(&format!(",{dep}=info"));
        }
    }
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| LogError::InvalidFilter {
            value: directives.clone(),
            message: e.to_string(),
        })
}

/// The subscriber [`init_logging`] installs, writing to any
/// `MakeWriter` (tests pass an in-memory one). `format` is used as given
/// (see [`effective_format`]); `env` is the value of `APIRUN_LOG`.
pub fn build_subscriber<W>(
    level: LogLevel,
    format: LogFormat,
    env: Option<&str>,
    writer: MaskingMakeWriter<W>,
) -> Result<impl tracing::Subscriber + Send + Sync + 'static, LogError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = build_filter(level, env)?;
    let verbose = level <= LogLevel::Debug;
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Text | LogFormat::Color => tracing_subscriber::fmt::layer()
            .with_ansi(format == LogFormat::Color)
            .with_target(verbose)
            .with_writer(writer)
            .boxed(),
    };
    Ok(tracing_subscriber::registry().with(layer.with_filter(filter)))
}

/// A `MakeWriter` whose writers mask what they write: each event is
/// buffered up to its last newline, masked, and written with one
/// `write_all`.
pub struct MaskingMakeWriter<M> {
    inner: M,
    masker: Arc<Masker>,
    json: bool,
    color: bool,
    live_area_aware: bool,
}

impl<M> MaskingMakeWriter<M> {
    /// Masks as text. `inner` is any `MakeWriter` (`std::io::stderr`, ...).
    pub fn new(inner: M, masker: Arc<Masker>) -> MaskingMakeWriter<M> {
        MaskingMakeWriter {
            inner,
            masker,
            json: false,
            color: false,
            live_area_aware: false,
        }
    }

    /// Treat each line as a JSON object (masked value by value, kept valid).
    pub fn json(mut self, json: bool) -> MaskingMakeWriter<M> {
        self.json = json;
        self
    }

    /// The formatter writes ANSI colour codes: keep those (and only those)
    /// escape sequences.
    pub fn color(mut self, color: bool) -> MaskingMakeWriter<M> {
        self.color = color;
        self
    }

    /// Clear the terminal progress display (if one is live) around each
    /// write, so log lines do not tear it.
    pub fn live_area_aware(mut self, aware: bool) -> MaskingMakeWriter<M> {
        self.live_area_aware = aware;
        self
    }
}

impl<'a, M> MakeWriter<'a> for MaskingMakeWriter<M>
where
    M: MakeWriter<'a>,
{
    type Writer = MaskingWriter<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter {
            inner: self.inner.make_writer(),
            masker: &self.masker,
            json: self.json,
            color: self.color,
            live_area_aware: self.live_area_aware,
            buf: Vec::new(),
        }
    }
}

/// The writer of [`MaskingMakeWriter`]; what is left without a final
/// newline is masked and written on `flush` or drop.
pub struct MaskingWriter<'a, W: Write> {
    inner: W,
    masker: &'a Masker,
    json: bool,
    color: bool,
    live_area_aware: bool,
    buf: Vec<u8>,
}

impl<W: Write> MaskingWriter<'_, W> {
    fn emit(&mut self, chunk: &[u8]) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        // Chunks end at a newline (or the end of the event), so no UTF-8
        // sequence is split.
        let text = String::from_utf8_lossy(chunk);
        // Mask, then escape control characters a server or plugin put in a
        // message (the formatter's own colour codes are kept).
        let masked: String = if self.json {
            escape::escape_json_line(&mask_json_lines(self.masker, &text)).into_owned()
        } else if self.color {
            escape::escape_keeping_sgr(&self.masker.mask(&text)).into_owned()
        } else {
            escape::escape_control(&self.masker.mask(&text)).into_owned()
        };
        let inner = &mut self.inner;
        let mut write = || {
            inner.write_all(masked.as_bytes())?;
            inner.flush()
        };
        if self.live_area_aware {
            progress::with_live_area_cleared(write)
        } else {
            write()
        }
    }
}

impl<W: Write> Write for MaskingWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if let Some(pos) = self.buf.iter().rposition(|&b| b == b'\n') {
            let rest = self.buf.split_off(pos + 1);
            let chunk = std::mem::replace(&mut self.buf, rest);
            self.emit(&chunk)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let chunk = std::mem::take(&mut self.buf);
        self.emit(&chunk)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for MaskingWriter<'_, W> {
    fn drop(&mut self) {
        let chunk = std::mem::take(&mut self.buf);
        // Nowhere to report a failed write of a log line.
        let _ = self.emit(&chunk);
    }
}

/// Masks each line of `text` as a JSON object (falling back to text masking
/// for a line that is not one).
fn mask_json_lines<'t>(masker: &Masker, text: &'t str) -> Cow<'t, str> {
    if !masker.is_enabled() {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let masked: Cow<'_, str> = match serde_json::from_str::<Value>(body) {
            Ok(mut value) if value.is_object() => {
                if masker.mask_json(&mut value) {
                    Cow::Owned(value.to_string())
                } else {
                    Cow::Borrowed(body)
                }
            }
            _ => masker.mask(body),
        };
        changed |= matches!(masked, Cow::Owned(_));
        out.push_str(&masked);
        out.push_str(ending);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory `MakeWriter`.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("buffer")).into_owned()
        }
    }

    impl Write for Buffer {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn masker() -> Arc<Masker> {
        let m = Masker::new();
        m.add_secret("hunter2-secret");
        Arc::new(m)
    }

    fn capture(
        level: LogLevel,
        format: LogFormat,
        env: Option<&str>,
        masker: Arc<Masker>,
        f: impl FnOnce(),
    ) -> String {
        let buf = Buffer::default();
        let writer = MaskingMakeWriter::new(buf.clone(), masker)
            .json(format == LogFormat::Json)
            .color(format == LogFormat::Color);
        let subscriber = build_subscriber(level, format, env, writer).expect("subscriber");
        tracing::subscriber::with_default(subscriber, f);
        buf.text()
    }

    #[test]
    fn writer_masks_a_line() {
        let buf = Buffer::default();
        let make = MaskingMakeWriter::new(buf.clone(), masker());
        {
            let mut w = make.make_writer();
            w.write_all(b"login hunter2-").expect("write");
            // Nothing written before the line is complete: a secret split
            // across two writes is still masked.
            assert_eq!(buf.text(), "");
            w.write_all(b"secret ok\nAuthorization: Bearer abc123\npartial password=pw1")
                .expect("write");
            assert_eq!(buf.text(), "login *** ok\nAuthorization: Bearer ***\n");
        }
        assert_eq!(
            buf.text(),
            "login *** ok\nAuthorization: Bearer ***\npartial password=***"
        );
    }

    #[test]
    fn text_events_are_masked() {
        let out = capture(LogLevel::Info, LogFormat::Text, None, masker(), || {
            tracing::info!(
                password = "pw-1",
                url = "https://u:pass@h/x",
                "sending hunter2-secret"
            );
            tracing::debug!("hidden at info");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("INFO"), "{out}");
        assert!(out.contains("sending ***"), "{out}");
        assert!(
            out.contains("password=\"***\"") || out.contains("password=***"),
            "{out}"
        );
        assert!(out.contains("https://u:***@h/x"), "{out}");
        assert!(
            !out.contains("hunter2-secret") && !out.contains("pw-1"),
            "{out}"
        );
        assert!(!out.contains('\x1b'), "text has no escape codes: {out}");
    }

    #[test]
    fn color_events_are_masked() {
        let out = capture(LogLevel::Info, LogFormat::Color, None, masker(), || {
            tracing::warn!(api_key = "k-12345", "using hunter2-secret");
        });
        assert!(out.contains('\x1b'), "{out:?}");
        assert!(
            !out.contains("k-12345") && !out.contains("hunter2-secret"),
            "{out:?}"
        );
    }

    #[test]
    fn json_events_stay_valid_json() {
        let out = capture(LogLevel::Info, LogFormat::Json, None, masker(), || {
            tracing::info!(
                token = "tok-abcdef",
                attempt = 2,
                "body {{\"password\": \"p\\\"w\"}}\nAuthorization: Basic YWRtaW46c2VjcmV0 hunter2-secret"
            );
            tracing::info!(vpc_id = "vpc-1", "plain");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let first: Value = serde_json::from_str(lines[0]).expect("JSON line");
        assert_eq!(first["token"], "***");
        assert_eq!(first["attempt"], 2);
        assert_eq!(first["level"], "INFO");
        assert_eq!(
            first["message"],
            "body {\"password\": \"***\"}\nAuthorization: Basic ***"
        );
        let second: Value = serde_json::from_str(lines[1]).expect("JSON line");
        assert_eq!(second["vpc_id"], "vpc-1");
        assert!(
            !out.contains("tok-abcdef") && !out.contains("hunter2"),
            "{out}"
        );
    }

    #[test]
    fn control_characters_are_escaped_in_every_format() {
        let hostile = "server said \x1b[2J\rok up 999 \u{9b}\u{202e}";
        let text = capture(LogLevel::Info, LogFormat::Text, None, masker(), || {
            tracing::warn!("{hostile}");
        });
        assert!(
            !text.contains(['\x1b', '\r', '\u{9b}', '\u{202e}']),
            "{text:?}"
        );
        assert!(
            text.contains("\\x1b[2J\\rok up 999 \\u{9b}\\u{202e}"),
            "{text:?}"
        );
        let color = capture(LogLevel::Info, LogFormat::Color, None, masker(), || {
            tracing::warn!("{hostile}");
        });
        assert!(color.contains("\x1b["), "colours kept: {color:?}");
        assert!(
            !color.contains("\x1b[2J") && !color.contains('\r'),
            "{color:?}"
        );
        let json = capture(LogLevel::Info, LogFormat::Json, None, masker(), || {
            tracing::warn!("{hostile}");
        });
        assert!(
            !json.contains(['\x1b', '\r', '\u{9b}', '\u{202e}']),
            "{json:?}"
        );
        let line: Value = serde_json::from_str(json.trim()).expect("JSON line");
        assert_eq!(line["message"], hostile);
    }

    #[test]
    fn disabled_masker_writes_as_is() {
        let out = capture(
            LogLevel::Info,
            LogFormat::Text,
            None,
            Arc::new(Masker::disabled()),
            || tracing::info!("token=abcdef"),
        );
        assert!(out.contains("token=abcdef"), "{out}");
    }

    #[test]
    fn env_filter_overrides_level() {
        let out = capture(
            LogLevel::Error,
            LogFormat::Text,
            Some("debug"),
            masker(),
            || {
                tracing::debug!("shown by APIRUN_LOG");
            },
        );
        assert!(out.contains("shown by APIRUN_LOG"), "{out}");
        let out = capture(
            LogLevel::Debug,
            LogFormat::Text,
            Some(" "),
            masker(),
            || {
                tracing::debug!("blank APIRUN_LOG is ignored");
            },
        );
        assert!(out.contains("blank APIRUN_LOG is ignored"), "{out}");
        let out = capture(LogLevel::Warn, LogFormat::Text, None, masker(), || {
            tracing::info!("not shown");
            tracing::warn!("shown");
        });
        assert!(!out.contains("not shown") && out.contains("shown"), "{out}");
        let err = build_filter(LogLevel::Info, Some("info,=[")).expect_err("invalid");
        assert!(err.to_string().contains("APIRUN_LOG"), "{err}");
    }

    #[test]
    fn dependencies_stay_quiet_at_debug() {
        let out = capture(LogLevel::Debug, LogFormat::Text, None, masker(), || {
            tracing::debug!(target: "wasmtime_cranelift::compiler", "noise");
            tracing::info!(target: "hyper::client", "kept");
            tracing::debug!("ours");
        });
        assert!(!out.contains("noise"), "{out}");
        assert!(out.contains("kept") && out.contains("ours"), "{out}");
    }

    #[test]
    fn colour_only_on_a_terminal() {
        assert_eq!(
            effective_format(LogFormat::Color, true, false),
            LogFormat::Color
        );
        assert_eq!(
            effective_format(LogFormat::Color, false, false),
            LogFormat::Text
        );
        assert_eq!(
            effective_format(LogFormat::Color, true, true),
            LogFormat::Text
        );
        assert_eq!(
            effective_format(LogFormat::Json, true, false),
            LogFormat::Json
        );
        assert_eq!(
            effective_format(LogFormat::Text, true, false),
            LogFormat::Text
        );
    }

    #[test]
    fn levels_parse() {
        assert_eq!("WARNING".parse::<LogLevel>(), Ok(LogLevel::Warn));
        assert_eq!(" trace ".parse::<LogLevel>(), Ok(LogLevel::Trace));
        assert!("loud".parse::<LogLevel>().is_err());
        assert!(LogLevel::Trace < LogLevel::Error);
    }

    #[test]
    fn init_twice_is_a_no_op() {
        let settings = LogSettings {
            level: LogLevel::Warn,
            format: LogFormat::Text,
            masker: masker(),
        };
        // Only this test installs a global subscriber in this binary (the
        // others use scoped ones). The first call fails only on a bad
        // APIRUN_LOG in the environment; the second must be a quiet no-op.
        let first = init_logging(settings.clone());
        if std::env::var_os(LOG_ENV).is_none() {
            assert_eq!(first, Ok(()));
        }
        if first.is_ok() {
            assert!(logging_initialized());
            assert_eq!(init_logging(settings.clone()), Ok(()));
            assert_eq!(init_logging(settings), Ok(()));
        }
    }
}
