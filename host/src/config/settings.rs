//! `wait:`, `client:` and `logging:` in config.yaml (docs/configuration.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::decode::{self, Ctx, Fields, child, fields, index};
use super::paths::{Need, resolve};
use super::request::{NameValue, name_values};
use super::yaml::Node;
use crate::template::TemplateText;
use crate::transport::{DEFAULT_MAX_RESPONSE_BYTES, FollowRedirects};

/// `wait.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WaitMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "HEAD")]
    Head,
}

/// `wait:`: poll `url` until it answers `status`. The url and headers are templates
/// over the config's variables, parsed at load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitConfig {
    pub url: TemplateText,
    pub method: WaitMethod,
    pub status: u16,
    pub timeout: Duration,
    pub interval: Duration,
    pub headers: Vec<NameValue>,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "1.0")]
    Tls1_0,
    #[serde(rename = "1.1")]
    Tls1_1,
    #[serde(rename = "1.2")]
    Tls1_2,
    #[serde(rename = "1.3")]
    Tls1_3,
}

impl TlsVersion {
    /// Parses `1.0`..`1.3`, `tls1.0`..`tls1.3` or `TLSv1.2` (any case).
    pub fn parse(s: &str) -> Option<TlsVersion> {
        let lower = s.trim().to_ascii_lowercase();
        let rest = lower
            .strip_prefix("tlsv")
            .or_else(|| lower.strip_prefix("tls"))
            .unwrap_or(&lower);
        match rest {
            "1.0" => Some(TlsVersion::Tls1_0),
            "1.1" => Some(TlsVersion::Tls1_1),
            "1.2" => Some(TlsVersion::Tls1_2),
            "1.3" => Some(TlsVersion::Tls1_3),
            _ => None,
        }
    }

    /// `1.0`, `1.1`, `1.2` or `1.3`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls1_0 => "1.0",
            TlsVersion::Tls1_1 => "1.1",
            TlsVersion::Tls1_2 => "1.2",
            TlsVersion::Tls1_3 => "1.3",
        }
    }
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLS {}", self.as_str())
    }
}

/// `client:`: HTTP client settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientConfig {
    pub insecure: bool,
    pub min_tls_version: Option<TlsVersion>,
    pub max_tls_version: Option<TlsVersion>,
    /// Resolved path of extra CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Per-request timeout (default 30s).
    pub timeout: Duration,
    /// Retries for idempotent requests (default 3).
    pub retries: u32,
    /// Largest response body read (default 8 MiB).
    pub max_response_bytes: u64,
    /// Default `follow_redirects` of requests (default same-origin).
    pub follow_redirects: FollowRedirects,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            insecure: false,
            min_tls_version: None,
            max_tls_version: None,
            ca_file: None,
            timeout: Duration::from_secs(30),
            retries: 3,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            follow_redirects: FollowRedirects::SameOrigin,
        }
    }
}

/// `logging.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// `logging.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
    Color,
}

/// `logging.masking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskingConfig {
    /// Mask secrets in output (default true).
    pub enabled: bool,
    /// Extra patterns (regular expressions, as written; not checked here).
    pub patterns: Vec<String>,
}

/// `logging:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggingConfig {
    pub level: LogLevel,
    pub format: LogFormat,
    pub masking: MaskingConfig,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: LogLevel::Info,
            format: LogFormat::Text,
            masking: MaskingConfig {
                enabled: true,
                patterns: Vec::new(),
            },
        }
    }
}

const WAIT_KEYS: &[&str] = &["url", "method", "status", "timeout", "interval", "headers"];

pub(crate) fn decode_wait(ctx: &mut Ctx, node: Option<&Node>) -> Option<WaitConfig> {
    let node = node.filter(|n| !n.is_null())?;
    let f = fields(ctx, Some(node), "wait", WAIT_KEYS)?;
    let method = match f.opt_choice(ctx, "method", &["get", "head"]).as_deref() {
        Some("head") => WaitMethod::Head,
        _ => WaitMethod::Get,
    };
    let status = f
        .opt_uint(ctx, "status", 100, 599)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    let timeout = f.duration_or(ctx, "timeout", Duration::from_secs(60));
    let interval = f.duration_or(ctx, "interval", Duration::from_secs(2));
    if interval.is_zero() && f.has("interval") {
        ctx.error(
            f.value_pos("interval"),
            "wait.interval",
            "interval must be more than 0",
            None,
        );
    }
    let headers = f
        .get("headers")
        .map(|n| name_values(ctx, n, "wait.headers", "header"))
        .unwrap_or_default();
    let url = f.opt_template(ctx, "url").filter(|u| !u.trim().is_empty());
    match url {
        Some(url) => Some(WaitConfig {
            url,
            method,
            status,
            timeout,
            interval,
            headers,
        }),
        None => {
            ctx.warning(
                f.pos,
                "wait",
                "wait has no url, so nothing is waited for",
                Some("add `url: ...` or remove the wait block".to_string()),
            );
            None
        }
    }
}

const CLIENT_KEYS: &[&str] = &[
    "insecure",
    "min_tls_version",
    "max_tls_version",
    "ca_file",
    "timeout",
    "retries",
    "max_response_bytes",
    "follow_redirects",
];

/// Bounds of `client.max_response_bytes`: at least 1 KiB (an error page must
/// fit), at most 1 GiB (a plugin's memory is capped well below that anyway).
const MIN_RESPONSE_BYTES: u64 = 1024;
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024 * 1024;

fn tls(ctx: &mut Ctx, f: &Fields<'_>, key: &str) -> Option<TlsVersion> {
    let node = f.get(key)?;
    let path = f.path_of(key);
    let text = decode::string(ctx, node, &path)?;
    let v = TlsVersion::parse(&text);
    if v.is_none() {
        ctx.error(
            Some(node.pos),
            &path,
            format!("unknown TLS version \"{text}\""),
            Some("use 1.0, 1.1, 1.2 or 1.3 (or tls1.0 .. tls1.3)".to_string()),
        );
    }
    v
}

pub(crate) fn decode_client(ctx: &mut Ctx, base: &Path, node: Option<&Node>) -> ClientConfig {
    let Some(f) = fields(ctx, node, "client", CLIENT_KEYS) else {
        return ClientConfig::default();
    };
    let min_tls_version = tls(ctx, &f, "min_tls_version");
    let max_tls_version = tls(ctx, &f, "max_tls_version");
    if let (Some(min), Some(max)) = (min_tls_version, max_tls_version)
        && min > max
    {
        ctx.error(
            f.value_pos("max_tls_version"),
            "client.max_tls_version",
            "max_tls_version is lower than min_tls_version",
            None,
        );
    }
    let ca_file = f.get("ca_file").and_then(|n| {
        decode::non_empty(ctx, n, "client.ca_file").map(|raw| {
            resolve(
                ctx,
                base,
                &raw,
                Some(n.pos),
                "client.ca_file",
                Need::ExistingFile,
            )
        })
    });
    let timeout = f.duration_or(ctx, "timeout", Duration::from_secs(30));
    if timeout.is_zero() && f.has("timeout") {
        ctx.error(
            f.value_pos("timeout"),
            "client.timeout",
            "timeout must be more than 0",
            None,
        );
    }
    let retries = f
        .opt_uint(ctx, "retries", 0, 100)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(3);
    let max_response_bytes = f
        .get("max_response_bytes")
        .and_then(|n| {
            let path = f.path_of("max_response_bytes");
            let text = decode::string(ctx, n, &path)?;
            match parse_size(&text) {
                Some(bytes) if (MIN_RESPONSE_BYTES..=MAX_RESPONSE_BYTES).contains(&bytes) => {
                    Some(bytes)
                }
                parsed => {
                    ctx.error(
                        Some(n.pos),
                        &path,
                        match parsed {
                            Some(_) => format!("{text:?} is outside 1 KiB .. 1 GiB"),
                            None => format!("{text:?} is not a size"),
                        },
                        Some("write bytes or a size such as 512KiB, 8MiB, 64MB".to_string()),
                    );
                    None
                }
            }
        })
        .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
    let follow_redirects = decode_follow_redirects(ctx, &f).unwrap_or_default();
    ClientConfig {
        insecure: f.bool_or(ctx, "insecure", false),
        min_tls_version,
        max_tls_version,
        ca_file,
        timeout,
        retries,
        max_response_bytes,
        follow_redirects,
    }
}

/// `follow_redirects: same-origin | any | none` (client default or one request).
pub(crate) fn decode_follow_redirects(ctx: &mut Ctx, f: &Fields<'_>) -> Option<FollowRedirects> {
    let node = f.get("follow_redirects")?;
    let path = f.path_of("follow_redirects");
    // YAML reads a bare `none` as a string, but `false`/`no` as booleans.
    let text = match decode::string(ctx, node, &path) {
        Some(text) if matches!(text.trim(), "false" | "no" | "off") => "none".to_string(),
        Some(text) => text,
        None => return None,
    };
    let parsed = FollowRedirects::parse(&text);
    if parsed.is_none() {
        ctx.error(
            Some(node.pos),
            &path,
            format!("unknown follow_redirects \"{text}\""),
            Some(format!(
                "use one of {}",
                FollowRedirects::CHOICES.join(", ")
            )),
        );
    }
    parsed
}

/// `1048576`, `512KiB`, `8 MiB`, `64MB`, `1G` (K/M/G are powers of 1024, as
/// KiB/MiB/GiB; KB/MB/GB powers of 1000). Hand-written: a dozen lines, no
/// crate needed for it.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

pub(crate) fn decode_logging(ctx: &mut Ctx, node: Option<&Node>) -> LoggingConfig {
    // `mask_sensitive` and `color` are the Go tool's keys; kept so its files still load.
    let Some(f) = fields(
        ctx,
        node,
        "logging",
        &["level", "format", "masking", "mask_sensitive", "color"],
    ) else {
        return LoggingConfig::default();
    };
    let mut out = LoggingConfig::default();
    if let Some(level) = f.opt_choice(ctx, "level", &["error", "warn", "warning", "info", "debug"])
    {
        out.level = match level.as_str() {
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "debug" => LogLevel::Debug,
            _ => LogLevel::Info,
        };
    }
    if let Some(format) = f.opt_choice(ctx, "format", &["text", "json", "color", "colour"]) {
        out.format = match format.as_str() {
            "json" => LogFormat::Json,
            "color" | "colour" => LogFormat::Color,
            _ => LogFormat::Text,
        };
    }
    if f.opt_bool(ctx, "color") == Some(true) && out.format == LogFormat::Text {
        out.format = LogFormat::Color;
    }
    let mf = fields(
        ctx,
        f.raw("masking"),
        "logging.masking",
        &["enabled", "patterns"],
    )
    .unwrap_or(Fields::empty("logging.masking"));
    let enabled = mf.opt_bool(ctx, "enabled");
    let legacy = f.opt_bool(ctx, "mask_sensitive");
    if let (Some(a), Some(b)) = (enabled, legacy)
        && a != b
    {
        ctx.error(
            f.key_pos("mask_sensitive"),
            "logging.mask_sensitive",
            "mask_sensitive contradicts masking.enabled",
            Some("keep only masking.enabled".to_string()),
        );
    }
    out.masking.enabled = enabled.or(legacy).unwrap_or(true);
    out.masking.patterns = mf.string_list(ctx, "patterns");
    for (i, p) in out.masking.patterns.iter().enumerate() {
        if p.is_empty() {
            ctx.error(
                mf.value_pos("patterns"),
                &index(&child("logging.masking", "patterns"), i),
                "empty pattern",
                None,
            );
        }
    }
    out
}

#[cfg(test)]
mod size_tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("8MiB"), Some(8 << 20));
        assert_eq!(parse_size("8 MiB"), Some(8 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("64MB"), Some(64_000_000));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("8 parsecs"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }
}
