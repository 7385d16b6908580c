//! Secret masking: every line `apirun` writes (logs, progress, plans,
//! `stages status -v`) goes through one [`Masker`].
//!
//! A masker knows two kinds of secrets:
//!
//! * **Registered values.** The host registers the value of every variable
//!   whose name looks secret ([`Masker::is_secret_name`]) and every acquired
//!   auth token or injected header value ([`Masker::add_secret`]). Each value
//!   is also registered in the forms it takes inside JSON strings and URLs
//!   (JSON-escaped, percent-encoded, form-encoded), and each line of a
//!   multi-line value (a PEM key) on its own. All of them are found in one
//!   pass with an Aho-Corasick automaton.
//! * **Patterns**, which catch secrets nobody registered:
//!   - `Authorization:` / `Proxy-Authorization:` header values (the scheme
//!     word is kept: `Authorization: Bearer ***`);
//!   - `Bearer <token>` (a token made only of lowercase letters is taken to
//!     be an English word, as in "bearer token", and kept);
//!   - `Basic <credentials>` when the credentials decode (base64) to
//!     `user:password`;
//!   - JSON members whose key looks secret: `"password": "x"` becomes
//!     `"password": "***"`, so JSON stays valid (also inside JSON-escaped
//!     text: `\"password\": \"x\"`);
//!   - URL userinfo: `https://user:pass@host` becomes `https://user:***@host`;
//!   - `name=value` pairs whose name looks secret: query strings
//!     (`?token=x`), form bodies, `tracing` fields (`password="x"`), also
//!     with ANSI colour codes around the `=`;
//!   - header-style lines whose name looks secret (`X-Api-Key: abc`,
//!     `  admin_password: x`), when the name starts the line;
//!   - user patterns from `logging.masking.patterns`: regular expressions
//!     whose first capture group, or else the whole match, is masked.
//!
//! Masked text is replaced by [`MASK`] (`***`). Masking with
//! `logging.masking.enabled: false` ([`Masker::disabled`]) returns every text
//! unchanged. A masker is `Send + Sync`; secrets can be added while other
//! threads mask (the automaton is swapped behind an `RwLock<Arc<_>>`, readers
//! hold the lock only to clone the `Arc`).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Captures, Regex};
use serde_json::Value;

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

/// Registered values shorter than this (in characters, after trimming
/// surrounding whitespace) are ignored: masking every `abc` or `42` in every
/// line would hide more than it protects. A secret-named variable is still
/// shown as `***` by [`Masker::mask_variable`] whatever its length.
pub const MIN_SECRET_LEN: usize = 4;

/// Values never registered, whatever the variable is called: masking every
/// `true` would make logs unreadable and break JSON output.
const IGNORED_VALUES: &[&str] = &["true", "false", "null", "none", "nil"];

/// A name looks secret if, lowercased with separators removed, it contains
/// one of these...
const SECRET_SUBSTRINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
];

/// ...or if one of its words (split at `_`, `-`, `.`, spaces and camelCase)
/// is one of these.
const SECRET_WORDS: &[&str] = &["auth", "authorization", "pwd", "pass", "cookie"];

/// A name of more than one word whose last word is one of these names
/// something about a secret, not the secret: `auth_name`, `token_url`,
/// `password_file`, `auth_type`.
const NON_SECRET_LAST_WORDS: &[&str] = &[
    "name", "type", "kind", "url", "uri", "endpoint", "style", "method", "mode", "path", "file",
    "dir", "enabled", "expiry", "expires",
];

/// An invalid `logging.masking.patterns` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskError {
    InvalidPattern {
        /// Position in `logging.masking.patterns`.
        index: usize,
        pattern: String,
        message: String,
    },
}

impl fmt::Display for MaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaskError::InvalidPattern {
                index,
                pattern,
                message,
            } => write!(
                f,
                "logging.masking.patterns[{index}]: `{pattern}` is not a valid regular expression: \
                 {message}; fix the expression (Rust `regex` syntax, no look-around)"
            ),
        }
    }
}

impl std::error::Error for MaskError {}

/// The registered values and the automaton that finds them.
#[derive(Default)]
struct Known {
    /// Values as registered (trimmed), for counting.
    originals: BTreeSet<String>,
    /// Every form searched for (originals, escaped and encoded forms, lines).
    needles: BTreeSet<String>,
    matcher: Option<AhoCorasick>,
}

/// Masks secrets in text. See the module documentation for what is masked.
pub struct Masker {
    enabled: bool,
    user_patterns: Vec<Regex>,
    known: RwLock<Arc<Known>>,
}

impl Default for Masker {
    fn default() -> Self {
        Masker::new()
    }
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secrets themselves.
        f.debug_struct("Masker")
            .field("enabled", &self.enabled)
            .field("secrets", &self.secret_count())
            .field("user_patterns", &self.user_patterns.len())
            .finish()
    }
}

impl Masker {
    /// An enabled masker with the built-in patterns and no registered value.
    pub fn new() -> Masker {
        Masker {
            enabled: true,
            user_patterns: Vec::new(),
            known: RwLock::new(Arc::new(Known::default())),
        }
    }

    /// A masker that masks nothing (`logging.masking.enabled: false`).
    pub fn disabled() -> Masker {
        Masker {
            enabled: false,
            ..Masker::new()
        }
    }

    /// A masker from `logging.masking`: `enabled` and the user's `patterns`
    /// (regular expressions; the first capture group is masked, or the whole
    /// match when the expression has no group). Patterns are compiled even
    /// when masking is disabled, so a bad one is reported either way.
    pub fn from_config<S: AsRef<str>>(enabled: bool, patterns: &[S]) -> Result<Masker, MaskError> {
        let mut user_patterns = Vec::with_capacity(patterns.len());
        for (index, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            let re = Regex::new(pattern).map_err(|e| MaskError::InvalidPattern {
                index,
                pattern: pattern.to_string(),
                message: e.to_string(),
            })?;
            user_patterns.push(re);
        }
        Ok(Masker {
            enabled,
            user_patterns,
            known: RwLock::new(Arc::new(Known::default())),
        })
    }

    /// Whether this masker masks anything at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Number of distinct values registered with [`Masker::add_secret`].
    pub fn secret_count(&self) -> usize {
        self.snapshot().originals.len()
    }

    /// Registers a secret value; returns whether it was registered (false
    /// for a value shorter than [`MIN_SECRET_LEN`] characters after trimming,
    /// for `true`/`false`/`null`/`none`/`nil`, and for a value already known).
    /// Values are registered even when masking is disabled.
    pub fn add_secret(&self, value: &str) -> bool {
        self.add_secrets(std::iter::once(value)) == 1
    }

    /// Registers several secret values, rebuilding the automaton once;
    /// returns how many were new.
    pub fn add_secrets<'v, I>(&self, values: I) -> usize
    where
        I: IntoIterator<Item = &'v str>,
    {
        let fresh: Vec<&str> = {
            let current = self.snapshot();
            values
                .into_iter()
                .map(str::trim)
                .filter(|v| worth_masking(v) && !current.originals.contains(*v))
                .collect()
        };
        if fresh.is_empty() {
            return 0;
        }
        let mut guard = self.known.write().unwrap_or_else(|e| e.into_inner());
        let mut originals = guard.originals.clone();
        let mut needles = guard.needles.clone();
        let mut added = 0;
        for value in fresh {
            if !originals.insert(value.to_string()) {
                continue;
            }
            added += 1;
            for form in needle_forms(value) {
                needles.insert(form);
            }
        }
        if added == 0 {
            return 0;
        }
        // Leftmost-longest: of two secrets starting at the same place, the
        // longer one wins, so a secret that extends another is masked whole.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(needles.iter())
            .ok();
        if matcher.is_none() {
            // Cannot happen with string patterns short of memory limits;
            // keep the previous automaton rather than lose every secret.
            return 0;
        }
        *guard = Arc::new(Known {
            originals,
            needles,
            matcher,
        });
        added
    }

    /// Registers the values of a configuration object (an auth provider's
    /// or a plugin's `config:`) whose key looks secret
    /// ([`Masker::is_secret_name`]): strings and numbers, also inside arrays
    /// and objects under such a key. Strings holding a template (`{{`) are
    /// skipped: their rendered value is registered where it is rendered.
    /// Returns how many values were new.
    pub fn add_secret_fields(&self, config: &Value) -> usize {
        let mut found = Vec::new();
        collect_secret_fields(config, false, &mut found);
        self.add_secrets(found.iter().map(String::as_str))
    }

    /// Registers `value` when `name` looks secret; returns whether it did.
    pub fn add_variable(&self, name: &str, value: &str) -> bool {
        Masker::is_secret_name(name) && self.add_secret(value)
    }

    /// Whether a variable, header, JSON key or query parameter called
    /// `name` holds a secret: its lowercased, separator-free form contains
    /// password, passwd, passphrase, secret, token, apikey, accesskey,
    /// privatekey or credential, or one of its words is auth,
    /// authorization, pwd, pass or cookie; except names whose last word says
    /// they name, locate or configure a secret (`auth_name`, `token_url`,
    /// `password_file`, `auth_type`, ...).
    pub fn is_secret_name(name: &str) -> bool {
        // Fast rejection (most names checked are not secret): every secret
        // substring and word appears in the lowercased alphanumerics.
        let joined: String = name
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if !SECRET_SUBSTRINGS
            .iter()
            .chain(SECRET_WORDS)
            .any(|s| joined.contains(s))
        {
            return false;
        }
        let words = split_words(name);
        let Some(last) = words.last() else {
            return false;
        };
        if words.len() > 1 && NON_SECRET_LAST_WORDS.contains(&last.as_str()) {
            return false;
        }
        SECRET_SUBSTRINGS.iter().any(|s| joined.contains(s))
            || words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
    }

    /// `value` as `stages status -v` and similar listings show a variable:
    /// `***` when the name looks secret (whatever the value's length; an
    /// empty value stays empty), otherwise the value masked as any text.
    pub fn mask_variable<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.enabled && !value.is_empty() && Masker::is_secret_name(name) {
            Cow::Borrowed(MASK)
        } else {
            self.mask(value)
        }
    }

    /// `text` with every secret replaced by `***`; borrowed when nothing
    /// was masked.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.enabled || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let known = self.snapshot();
        let mut out = Cow::Borrowed(text);
        if let Some(matcher) = &known.matcher
            && matcher.is_match(text)
        {
            let mut dst = String::with_capacity(text.len());
            matcher.replace_all_with(text, &mut dst, |_, _, dst| {
                dst.push_str(MASK);
                true
            });
            out = Cow::Owned(dst);
        }
        for rule in RULES.iter() {
            out = mask_spans(out, &rule.re, rule.pick);
        }
        for re in &self.user_patterns {
            out = mask_spans(out, re, pick_user);
        }
        out
    }

    /// Masks a JSON document in place: every string is masked as text, and
    /// the value of every member whose key looks secret becomes `"***"`
    /// (strings and numbers, also inside arrays under that key; `null`,
    /// booleans and empty strings are kept; objects under it are masked
    /// member by member). The result is still valid JSON. Returns whether
    /// anything changed.
    pub fn mask_json(&self, value: &mut Value) -> bool {
        self.enabled && self.mask_json_inner(value, false)
    }

    fn mask_json_inner(&self, value: &mut Value, secret: bool) -> bool {
        match value {
            Value::String(s) => {
                if secret && !s.is_empty() {
                    if s == MASK {
                        return false;
                    }
                    *s = MASK.to_string();
                    true
                } else if let Cow::Owned(masked) = self.mask(s) {
                    *s = masked;
                    true
                } else {
                    false
                }
            }
            Value::Number(_) if secret => {
                *value = Value::String(MASK.to_string());
                true
            }
            Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
                self.mask_json_inner(item, secret) | changed
            }),
            Value::Object(members) => members.iter_mut().fold(false, |changed, (key, member)| {
                self.mask_json_inner(member, Masker::is_secret_name(key)) | changed
            }),
            _ => false,
        }
    }

    fn snapshot(&self) -> Arc<Known> {
        Arc::clone(&self.known.read().unwrap_or_else(|e| e.into_inner()))
    }
}

fn worth_masking(value: &str) -> bool {
    value.chars().count() >= MIN_SECRET_LEN
        && value != MASK
        && !IGNORED_VALUES.iter().any(|v| value.eq_ignore_ascii_case(v))
}

/// The forms a registered value is searched in.
fn needle_forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_string()];
    // Inside a JSON string (and a JSON string inside a JSON string, as in a
    // JSON log line quoting a JSON body).
    let escaped = json_escape(value);
    let twice = json_escape(&escaped);
    forms.push(escaped);
    forms.push(twice);
    // In a URL or a form body.
    let encoded = percent_encode(value);
    forms.push(encoded.replace("%20", "+"));
    forms.push(encoded);
    // Each line of a multi-line value (a PEM key printed line by line).
    if value.contains('\n') {
        for line in value.lines().map(str::trim) {
            if worth_masking(line) {
                forms.push(line.to_string());
            }
        }
    }
    forms.retain(|f| !f.is_empty());
    forms
}

fn json_escape(value: &str) -> String {
    let quoted = Value::String(value.to_string()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (the form
/// a secret takes in a query string or form body).
fn percent_encode(value: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}

/// Lowercase words of a name: split at non-alphanumeric characters and at
/// lower-to-upper case changes (`apiKey` -> `api`, `key`; `OAuth` stays one
/// word).
fn split_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// A built-in pattern and how to choose the part of a match to mask.
struct Rule {
    re: Regex,
    pick: fn(&Captures<'_>) -> Option<Range<usize>>,
}

/// Zero or more ANSI SGR sequences (colour codes `tracing` puts around field
/// names and `=` when logging in colour).
const ANSI: &str = r"(?:\x1b\[[0-9;]*m)*";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |pattern: &str, pick: fn(&Captures<'_>) -> Option<Range<usize>>| Rule {
        // Built-in patterns are constants covered by the tests.
        re: Regex::new(pattern).expect("built-in masking pattern"),
        pick,
    };
    vec![
        // Authorization: <scheme> <credentials> (the scheme is kept).
        rule(
            r#"(?i)(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|digest|token|negotiate|ntlm|dpop|hoba|mutual|aws4-hmac-sha256)\s+)?([^\s"'\\][^\r\n"'\\\x1b]*)"#,
            pick_group1,
        ),
        // Bearer <token>.
        rule(r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]+=*)", pick_bearer),
        // Basic <base64(user:password)>.
        rule(r"(?i)\bbasic\s+([A-Za-z0-9+/]{4,}={0,2})", pick_basic),
        // scheme://user:password@host (the password may hold a raw `@`).
        rule(
            r#"(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/?#@"'<>\\]*:([^\s/?#"'<>\\]*)@"#,
            pick_group1,
        ),
        // "secret_key": "value"
        rule(
            r#""((?:[^"\\]|\\.)+)"\s*:\s*"((?:[^"\\]|\\.)*)""#,
            pick_named_value,
        ),
        // \"secret_key\": \"value\" (JSON inside a JSON string)
        rule(r#"\\"([^"\\]+)\\"\s*:\s*\\"([^"\\]*)\\""#, pick_named_value),
        // name=value, name="value" (query strings, form bodies, log fields)
        rule(
            &format!(
                r#"(?:^|[\s?&;,{{(\[]|\x1b\[[0-9;]*m)([A-Za-z_][A-Za-z0-9_.\-\[\]]*){ANSI}={ANSI}("(?:[^"\\]|\\.)*"|[^\s&#"'\\<>;)}}\]\x1b]*)"#
            ),
            pick_named_value,
        ),
        // Name: value at the start of a line (headers, YAML-like listings).
        rule(
            r"(?m)^[ \t>]*([A-Za-z][A-Za-z0-9_.\-]*)[ \t]*:[ \t]*(\S[^\r\n]*)",
            pick_named_value,
        ),
    ]
});

fn span(caps: &Captures<'_>, group: usize) -> Option<Range<usize>> {
    caps.get(group).map(|m| m.range()).filter(|r| !r.is_empty())
}

fn pick_group1(caps: &Captures<'_>) -> Option<Range<usize>> {
    span(caps, 1)
}

fn pick_user(caps: &Captures<'_>) -> Option<Range<usize>> {
    // First capture group if the expression has one and it took part in the
    // match; else the whole match.
    match caps.get(1) {
        Some(m) => Some(m.range()),
        None => caps.get(0).map(|m| m.range()),
    }
    .filter(|r| !r.is_empty())
}

fn pick_bearer(caps: &Captures<'_>) -> Option<Range<usize>> {
    let token = caps.get(1)?;
    // "bearer token", "Bearer auth": words, not credentials.
    if token.as_str().bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    span(caps, 1)
}

fn pick_basic(caps: &Captures<'_>) -> Option<Range<usize>> {
    let creds = caps.get(1)?;
    let decoded = base64_decode(creds.as_str())?;
    if decoded.contains(&b':') {
        span(caps, 1)
    } else {
        None
    }
}

/// Masks group 2 when group 1 (a key or parameter name) looks secret. A
/// quoted value keeps its quotes.
fn pick_named_value(caps: &Captures<'_>) -> Option<Range<usize>> {
    let name = caps.get(1)?.as_str();
    if !Masker::is_secret_name(name) {
        return None;
    }
    let value = caps.get(2)?;
    let text = value.as_str();
    let range = value.range();
    let (inner, quoted) = if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        (range.start + 1..range.end - 1, &text[1..text.len() - 1])
    } else {
        (range, text)
    };
    if inner.is_empty() || already_masked(quoted) {
        return None;
    }
    Some(inner)
}

/// `***`, or `<scheme> ***` as the Authorization rule leaves it.
fn already_masked(value: &str) -> bool {
    let value = value.trim_end();
    match value.strip_suffix(MASK) {
        Some("") => true,
        Some(scheme) => {
            let scheme = scheme.trim_end();
            scheme.len() < value.len() - MASK.len()
                && !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => false,
    }
}

/// Replaces the span `pick` chooses in each match of `re` with `***`.
fn mask_spans<'a>(
    text: Cow<'a, str>,
    re: &Regex,
    pick: fn(&Captures<'_>) -> Option<Range<usize>>,
) -> Cow<'a, str> {
    let mut out = String::new();
    let mut last = 0;
    let mut changed = false;
    for caps in re.captures_iter(&text) {
        let Some(r) = pick(&caps) else { continue };
        if r.start < last {
            continue;
        }
        // Already masked: nothing to do.
        if &text[r.clone()] == MASK {
            continue;
        }
        if !changed {
            out.reserve(text.len());
            changed = true;
        }
        out.push_str(&text[last..r.start]);
        out.push_str(MASK);
        last = r.end;
    }
    if !changed {
        return text;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// The values under secret-looking keys of `value` (see
/// [`Masker::add_secret_fields`]).
fn collect_secret_fields(value: &Value, secret: bool, out: &mut Vec<String>) {
    match value {
        Value::String(s) if secret && !s.contains("{{") => out.push(s.clone()),
        Value::Number(n) if secret => out.push(n.to_string()),
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_secret_fields(item, secret, out)),
        Value::Object(map) => map.iter().for_each(|(key, item)| {
            collect_secret_fields(item, secret || Masker::is_secret_name(key), out)
        }),
        _ => {}
    }
}

/// Standard base64, padding optional and lenient trailing bits (what
/// clients put in `Authorization: Basic`); `None` if `s` is not base64.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(s).ok()
}

#[cfg(test)]
mod tests;
