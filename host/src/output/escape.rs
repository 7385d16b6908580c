//! Escaping of control characters at the output boundary: text from servers
//! (response bodies, error messages) and plugins must not drive the terminal.
//!
//! [`escape_control`] is the one function every output path uses (the log
//! writer, the progress display, the CLI's stdout and stderr). It replaces,
//! with a visible escape:
//!
//! - C0 control characters except tab and newline (ESC becomes `\x1b`, BEL
//!   `\x07`, carriage return `\r`), and DEL (`\x7f`);
//! - C1 control characters U+0080..U+009F (`\u{9b}`: an 8-bit CSI);
//! - Unicode bidirectional overrides and isolates (U+202A..U+202E,
//!   U+2066..U+2069, U+200E, U+200F, U+061C), the line and paragraph
//!   separators U+2028/U+2029, and the invisible U+200B..U+200D, U+2060,
//!   U+FEFF (they reorder or hide what is shown: "Trojan source").
//!
//! Newlines are kept by [`escape_control`] (messages may span lines; the
//! progress display indents continuation lines) and escaped as `\n` by
//! [`escape_line`], for text that must stay on one line (a response body
//! quoted in an error). A backslash is left as it is, so an escape in the
//! output can also come from the text itself; nothing in it reaches the
//! terminal as a control character either way.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is escaped by [`escape_control`] (newline and tab are not).
pub fn needs_escape(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' => true,
        '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{feff}' => true,
        _ => false,
    }
}

/// `text` with control characters escaped (see the module documentation);
/// newlines and tabs kept. Borrowed when nothing needed escaping.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    escape_with(text, false)
}

/// Like [`escape_control`], and newlines too (as `\n`): for text quoted on
/// one line.
pub fn escape_line(text: &str) -> Cow<'_, str> {
    escape_with(text, true)
}

fn escape_with(text: &str, newlines: bool) -> Cow<'_, str> {
    let hit = |c: char| needs_escape(c) || (newlines && c == '\n');
    let Some(first) = text.find(hit) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if hit(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// A line of coloured log output: the formatter's own SGR colour sequences
/// (`ESC [ digits/semicolons m`) are kept, every other control character is
/// escaped as by [`escape_control`].
pub fn escape_keeping_sgr(text: &str) -> Cow<'_, str> {
    if !text.contains(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && let Some(len) = sgr_len(rest)
        {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// The length of the SGR sequence `text` starts with, if it starts with one.
fn sgr_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.len() < 3 || bytes[0] != 0x1b || bytes[1] != b'[' {
        return None;
    }
    // Bounded: colour codes are short.
    for (i, &b) in bytes.iter().enumerate().skip(2).take(32) {
        match b {
            b'0'..=b'9' | b';' => {}
            b'm' => return Some(i + 1),
            _ => return None,
        }
    }
    None
}

/// A JSON log line: serde_json already writes C0 characters as `\u00XX`;
/// the rest (C1, bidi) are written as JSON `\uXXXX` escapes, so the line
/// stays valid JSON with the same meaning.
pub fn escape_json_line(text: &str) -> Cow<'_, str> {
    if !text.contains(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_visibly() {
        assert_eq!(
            escape_control("\x1b[2J\rok up 999\n"),
            "\\x1b[2J\\rok up 999\n"
        );
        assert_eq!(
            escape_control("bell\x07 del\x7f nul\0"),
            "bell\\x07 del\\x7f nul\\x00"
        );
        assert_eq!(escape_control("csi\u{9b}2J"), "csi\\u{9b}2J");
        assert_eq!(
            escape_control("a\u{202e}txt.exe\u{2066}b"),
            "a\\u{202e}txt.exe\\u{2066}b"
        );
        assert_eq!(
            escape_control("tab\tkept\nnewline kept"),
            "tab\tkept\nnewline kept"
        );
        assert!(matches!(
            escape_control("plain ünïcode ✓"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn one_line_escapes_newlines_too() {
        assert_eq!(escape_line("a\nok up 999\r\n"), "a\\nok up 999\\r\\n");
    }

    #[test]
    fn sgr_is_kept_other_sequences_are_not() {
        let line = "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0m x \x1b[2J \x1b[31;1mred\x1b[0m\r";
        assert_eq!(
            escape_keeping_sgr(line),
            "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0m x \\x1b[2J \x1b[31;1mred\x1b[0m\\r"
        );
        assert_eq!(escape_keeping_sgr("\x1b"), "\\x1b");
    }

    #[test]
    fn json_lines_stay_json() {
        let value = serde_json::json!({"message": "x\u{1b}[2J\r\u{9b}\u{202e}y"});
        let line = value.to_string();
        let escaped = escape_json_line(&line);
        assert!(!escaped.chars().any(needs_escape), "{escaped}");
        let back: serde_json::Value = serde_json::from_str(&escaped).expect("still JSON");
        assert_eq!(back, value);
    }
}
