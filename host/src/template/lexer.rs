//! Lexer: splits template source into text, comments and action tokens.
//!
//! Follows Go's `text/template/parse` lexer for the supported subset: `{{`
//! and `}}` delimiters, trim markers (`{{- ` trims the whitespace before the
//! action, ` -}}` the whitespace after it), comments `{{/* ... */}}`, and the
//! tokens allowed inside an action.

use super::error::TemplateError;
use super::value::Value;

/// A 1-based line and column (in characters) inside the template source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// A parse error at this position.
    pub(crate) fn error(self, message: impl Into<String>) -> TemplateError {
        TemplateError::Parse {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Literal text outside actions (already trimmed).
    Text(String),
    /// A whole `{{/* ... */}}` comment.
    Comment,
    /// `{{` (or `{{- `).
    Open,
    /// `}}` (or ` -}}`).
    Close,
    /// A bare word: function name, keyword, `true`, `false`, `nil`.
    Ident(String),
    /// `.name` (without the dot).
    Field(String),
    /// `.` alone.
    Dot,
    /// `$` or `$name`, including the `$`.
    Var(String),
    /// A string literal, unquoted.
    Str(String),
    /// A number or character constant.
    Number(Value),
    Declare,
    Assign,
    Pipe,
    LParen,
    RParen,
    Comma,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Text(_) => "text".into(),
            Tok::Comment => "comment".into(),
            Tok::Open => "`{{`".into(),
            Tok::Close => "`}}`".into(),
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Field(s) => format!("`.{s}`"),
            Tok::Dot => "`.`".into(),
            Tok::Var(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Number(v) => format!("number `{v}`"),
            Tok::Declare => "`:=`".into(),
            Tok::Assign => "`=`".into(),
            Tok::Pipe => "`|`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
    /// Whitespace separated this token from the previous one in the action.
    pub space_before: bool,
}

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `src` into tokens. Every `Open` is matched by a `Close`.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut line_starts = vec![0];
    line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
    let mut lexer = Lexer {
        src,
        i: 0,
        line_starts,
        tokens: Vec::new(),
        space: false,
        last_pos: std::cell::Cell::new((0, Pos { line: 1, column: 1 })),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    src: &'a str,
    i: usize,
    line_starts: Vec<usize>,
    tokens: Vec<Token>,
    space: bool,
    /// The last offset given to [`Lexer::pos`] and its position. Tokens come
    /// in source order, so the next column is counted from there rather than
    /// from the start of the line: counting from the line start made a long
    /// one-line template (400k actions) quadratic.
    last_pos: std::cell::Cell<(usize, Pos)>,
}

impl Lexer<'_> {
    fn pos(&self, offset: usize) -> Pos {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let (last_offset, last) = self.last_pos.get();
        // Count from the last position when it is on the same line and not
        // after `offset` (the common case), else from the line start.
        let (from, base) = if last.line == line && last_offset >= start && last_offset <= offset {
            (last_offset, last.column)
        } else {
            (start, 1)
        };
        let column = base + self.src.get(from..offset).map_or(0, |s| s.chars().count());
        let pos = Pos { line, column };
        self.last_pos.set((offset, pos));
        pos
    }

    fn push(&mut self, tok: Tok, offset: usize) {
        let pos = self.pos(offset);
        self.tokens.push(Token {
            tok,
            pos,
            space_before: self.space,
        });
        self.space = false;
    }

    fn rest(&self) -> &str {
        self.src.get(self.i..).unwrap_or("")
    }

    fn char_at(&self, offset: usize) -> Option<char> {
        self.src.get(offset..)?.chars().next()
    }

    fn run(&mut self) -> Result<(), TemplateError> {
        let mut trim_next = false;
        loop {
            let start = self.i;
            let found = self.rest().find(OPEN).map(|k| start + k);
            let text_end = found.unwrap_or(self.src.len());
            let left_trim = found.is_some_and(|open| self.has_left_trim(open + OPEN.len()));
            let mut text = self.src.get(start..text_end).unwrap_or("");
            if trim_next {
                text = text.trim_start_matches(is_space);
            }
            if left_trim {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.push(Tok::Text(text.to_string()), start);
            }
            let Some(open) = found else {
                return Ok(());
            };
            self.i = open + OPEN.len() + if left_trim { 2 } else { 0 };
            self.space = false;
            trim_next = if self.rest().starts_with("/*") {
                self.lex_comment(open)?
            } else {
                self.push(Tok::Open, open);
                self.lex_action(open)?
            };
        }
    }

    /// `{{-` followed by an ASCII space is a trim marker (`{{-3}}` is a number).
    fn has_left_trim(&self, at: usize) -> bool {
        let b = self.src.as_bytes();
        b.get(at) == Some(&b'-') && b.get(at + 1).is_some_and(|&c| is_space(c as char))
    }

    /// ` -}}` at `at` (the space included).
    fn has_right_trim(&self, at: usize) -> bool {
        self.char_at(at).is_some_and(is_space)
            && self.src.get(at + 1..).is_some_and(|s| s.starts_with("-}}"))
    }

    /// Lexes a comment starting at `self.i` (on `/*`); returns the right trim flag.
    fn lex_comment(&mut self, open: usize) -> Result<bool, TemplateError> {
        let body = self.i + 2;
        let Some(k) = self.src.get(body..).and_then(|s| s.find("*/")) else {
            return Err(self.pos(open).error("unclosed comment: missing `*/}}`"));
        };
        let after = body + k + 2;
        let trim = if self.src.get(after..).is_some_and(|s| s.starts_with(CLOSE)) {
            self.i = after + CLOSE.len();
            false
        } else if self.has_right_trim(after) {
            self.i = after + 4;
            true
        } else {
            return Err(self
                .pos(after)
                .error("comment ends before closing delimiter: write `*/}}`"));
        };
        self.push(Tok::Comment, open);
        Ok(trim)
    }

    /// Lexes the inside of an action up to and including `}}`; returns the
    /// right trim flag.
    fn lex_action(&mut self, open: usize) -> Result<bool, TemplateError> {
        loop {
            let at = self.i;
            let Some(c) = self.char_at(at) else {
                return Err(self.pos(open).error("unclosed action: missing `}}`"));
            };
            if is_space(c) {
                if self.has_right_trim(at) {
                    self.push(Tok::Close, at + 1);
                    self.i = at + 4;
                    return Ok(true);
                }
                self.i += 1;
                self.space = true;
                continue;
            }
            if self.rest().starts_with(CLOSE) {
                self.push(Tok::Close, at);
                self.i += CLOSE.len();
                return Ok(false);
            }
            match c {
                '|' => self.single(Tok::Pipe),
                '(' => self.single(Tok::LParen),
                ')' => self.single(Tok::RParen),
                ',' => self.single(Tok::Comma),
                '=' => self.single(Tok::Assign),
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return Err(self.pos(at).error("expected `:=` after `:`"));
                    }
                    self.push(Tok::Declare, at);
                    self.i += 2;
                }
                '"' => {
                    let s = self.lex_quoted('"')?;
                    self.push(Tok::Str(s), at);
                }
                '\'' => {
                    let s = self.lex_quoted('\'')?;
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(ch), None) => {
                            self.push(Tok::Number(Value::Int(i64::from(u32::from(ch)))), at)
                        }
                        _ => {
                            return Err(self.pos(at).error(
                                "invalid character constant: write one character between '...'",
                            ));
                        }
                    }
                }
                '`' => {
                    let Some(k) = self.src.get(at + 1..).and_then(|s| s.find('`')) else {
                        return Err(self.pos(at).error("unterminated raw string"));
                    };
                    let raw = self
                        .src
                        .get(at + 1..at + 1 + k)
                        .unwrap_or("")
                        .replace('\r', "");
                    self.push(Tok::Str(raw), at);
                    self.i = at + k + 2;
                }
                '$' => {
                    let end = self.ident_end(at + 1);
                    let name = self.src.get(at..end).unwrap_or("$").to_string();
                    self.push(Tok::Var(name), at);
                    self.i = end;
                }
                '.' => match self.char_at(at + 1) {
                    Some(d) if d.is_ascii_digit() => self.lex_number()?,
                    Some(ch) if is_ident_start(ch) => {
                        let end = self.ident_end(at + 1);
                        let name = self.src.get(at + 1..end).unwrap_or("").to_string();
                        self.push(Tok::Field(name), at);
                        self.i = end;
                    }
                    _ => self.single(Tok::Dot),
                },
                '0'..='9' => self.lex_number()?,
                '+' | '-' => {
                    let next = self.char_at(at + 1);
                    let digit_follows = next.is_some_and(|d| d.is_ascii_digit())
                        || (next == Some('.')
                            && self.char_at(at + 2).is_some_and(|d| d.is_ascii_digit()));
                    if !digit_follows {
                        return Err(self.pos(at).error(format!("unexpected `{c}` in action")));
                    }
                    self.lex_number()?;
                }
                c if is_ident_start(c) => {
                    let end = self.ident_end(at);
                    let name = self.src.get(at..end).unwrap_or("").to_string();
                    self.push(Tok::Ident(name), at);
                    self.i = end;
                }
                c => {
                    return Err(self
                        .pos(at)
                        .error(format!("unexpected character `{c}` in action")));
                }
            }
        }
    }

    fn single(&mut self, tok: Tok) {
        let at = self.i;
        self.push(tok, at);
        self.i += 1;
    }

    /// The byte offset just past the identifier characters starting at `from`.
    fn ident_end(&self, from: usize) -> usize {
        let rest = self.src.get(from..).unwrap_or("");
        from + rest
            .char_indices()
            .find(|&(_, c)| !is_ident_char(c))
            .map_or(rest.len(), |(k, _)| k)
    }

    fn lex_number(&mut self) -> Result<(), TemplateError> {
        let start = self.i;
        let bytes = self.src.as_bytes();
        let mut j = start;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let hex = matches!(
            (bytes.get(j), bytes.get(j + 1)),
            (Some(b'0'), Some(b'x' | b'X'))
        );
        while let Some(&b) = bytes.get(j) {
            let exp_sign = (b == b'+' || b == b'-')
                && !hex
                && matches!(
                    j.checked_sub(1).and_then(|k| bytes.get(k)),
                    Some(b'e' | b'E')
                );
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exp_sign {
                j += 1;
            } else {
                break;
            }
        }
        let text = self.src.get(start..j).unwrap_or("");
        let value = parse_number(text).ok_or_else(|| {
            self.pos(start)
                .error(format!("bad number syntax: `{text}`"))
        })?;
        self.push(Tok::Number(value), start);
        self.i = j;
        Ok(())
    }

    /// Lexes a `"..."` string or `'...'` character literal with Go escapes.
    fn lex_quoted(&mut self, quote: char) -> Result<String, TemplateError> {
        let start = self.i;
        let unterminated = || self.pos(start).error("unterminated quoted string");
        let body = self.src.get(start + 1..).unwrap_or("");
        let mut chars = body.char_indices();
        let mut buf: Vec<u8> = Vec::new();
        let end = loop {
            let Some((k, c)) = chars.next() else {
                return Err(unterminated());
            };
            match c {
                '\n' => return Err(unterminated()),
                c if c == quote => break start + 1 + k + 1,
                '\\' => {
                    let Some((_, e)) = chars.next() else {
                        return Err(unterminated());
                    };
                    let bad = || {
                        self.pos(start)
                            .error(format!("invalid escape sequence `\\{e}` in string"))
                    };
                    let mut hex = |n: usize| -> Result<u32, TemplateError> {
                        let mut v = 0u32;
                        for _ in 0..n {
                            let d = chars
                                .next()
                                .and_then(|(_, h)| h.to_digit(16))
                                .ok_or_else(bad)?;
                            v = v * 16 + d;
                        }
                        Ok(v)
                    };
                    match e {
                        'a' => buf.push(0x07),
                        'b' => buf.push(0x08),
                        'f' => buf.push(0x0c),
                        'n' => buf.push(b'\n'),
                        'r' => buf.push(b'\r'),
                        't' => buf.push(b'\t'),
                        'v' => buf.push(0x0b),
                        '\\' | '"' | '\'' => buf.push(e as u8),
                        'x' => buf.push(u8::try_from(hex(2)?).map_err(|_| bad())?),
                        'u' | 'U' => {
                            let cp = hex(if e == 'u' { 4 } else { 8 })?;
                            let ch = char::from_u32(cp).ok_or_else(bad)?;
                            let mut tmp = [0u8; 4];
                            buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        '0'..='7' => {
                            let mut v = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                let d = chars
                                    .next()
                                    .and_then(|(_, o)| o.to_digit(8))
                                    .ok_or_else(bad)?;
                                v = v * 8 + d;
                            }
                            buf.push(u8::try_from(v).map_err(|_| bad())?);
                        }
                        _ => return Err(bad()),
                    }
                }
                c => {
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
            }
        };
        self.i = end;
        String::from_utf8(buf)
            .map_err(|_| self.pos(start).error("string literal is not valid UTF-8"))
    }
}

/// Parses a Go number literal: decimal, `0x`/`0o`/`0b`/leading-`0` octal
/// integers (with `_` separators), or a float.
pub(crate) fn parse_number(text: &str) -> Option<Value> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    let clean: String = body
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let all_digits = !clean.is_empty() && clean.bytes().all(|b| b.is_ascii_digit());
    let int = if let Some(h) = clean.strip_prefix("0x") {
        Some(i64::from_str_radix(h, 16).ok()?)
    } else if let Some(o) = clean.strip_prefix("0o") {
        Some(i64::from_str_radix(o, 8).ok()?)
    } else if let Some(b) = clean.strip_prefix("0b") {
        Some(i64::from_str_radix(b, 2).ok()?)
    } else if all_digits && clean.len() > 1 && clean.starts_with('0') {
        Some(i64::from_str_radix(&clean, 8).ok()?)
    } else if all_digits {
        clean.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Value::Int(if neg { -i } else { i }));
    }
    let float_chars = clean
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'));
    if !float_chars || !clean.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let f = clean.parse::<f64>().ok()?;
    Some(Value::Float(if neg { -f } else { f }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        match lex(src) {
            Ok(t) => t.into_iter().map(|t| t.tok).collect(),
            Err(e) => panic!("lex {src:?}: {e}"),
        }
    }

    fn lex_err(src: &str) -> String {
        match lex(src) {
            Ok(t) => panic!("expected error for {src:?}, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn text_and_actions() {
        assert_eq!(toks("plain"), vec![Tok::Text("plain".into())]);
        assert_eq!(
            toks("a{{.x.y | f $v}}b"),
            vec![
                Tok::Text("a".into()),
                Tok::Open,
                Tok::Field("x".into()),
                Tok::Field("y".into()),
                Tok::Pipe,
                Tok::Ident("f".into()),
                Tok::Var("$v".into()),
                Tok::Close,
                Tok::Text("b".into()),
            ]
        );
        assert_eq!(
            toks("{{$i, $ := (.)}}"),
            vec![
                Tok::Open,
                Tok::Var("$i".into()),
                Tok::Comma,
                Tok::Var("$".into()),
                Tok::Declare,
                Tok::LParen,
                Tok::Dot,
                Tok::RParen,
                Tok::Close,
            ]
        );
    }

    #[test]
    fn trim_markers_and_comments() {
        assert_eq!(
            toks("a \n {{- 1 -}} \n b"),
            vec![
                Tok::Text("a".into()),
                Tok::Open,
                Tok::Number(Value::Int(1)),
                Tok::Close,
                Tok::Text("b".into()),
            ]
        );
        assert_eq!(
            toks("x {{/* c */}} y"),
            vec![Tok::Text("x ".into()), Tok::Comment, Tok::Text(" y".into())]
        );
        assert_eq!(
            toks("x {{- /* c */ -}} y"),
            vec![Tok::Text("x".into()), Tok::Comment, Tok::Text("y".into())]
        );
        assert_eq!(
            toks("{{-3}}"),
            vec![Tok::Open, Tok::Number(Value::Int(-3)), Tok::Close]
        );
        assert!(lex_err("{{/* c */ x}}").contains("comment ends before closing delimiter"));
        assert!(lex_err("{{/* c").contains("unclosed comment"));
    }

    #[test]
    fn literals() {
        assert_eq!(
            toks(r#"{{"a\n\t\"\x41\101\u00e9\U0001F600" `r\n` 'x' '\n'}}"#),
            vec![
                Tok::Open,
                Tok::Str("a\n\t\"AAé😀".into()),
                Tok::Str("r\\n".into()),
                Tok::Number(Value::Int(120)),
                Tok::Number(Value::Int(10)),
                Tok::Close,
            ]
        );
        assert_eq!(
            toks("{{1 -2 0x1F 010 1_000 1.5 .5 1e3 -1.5e-2 true nil}}")[1..11],
            [
                Tok::Number(Value::Int(1)),
                Tok::Number(Value::Int(-2)),
                Tok::Number(Value::Int(31)),
                Tok::Number(Value::Int(8)),
                Tok::Number(Value::Int(1000)),
                Tok::Number(Value::Float(1.5)),
                Tok::Number(Value::Float(0.5)),
                Tok::Number(Value::Float(1000.0)),
                Tok::Number(Value::Float(-0.015)),
                Tok::Ident("true".into()),
            ]
        );
        assert_eq!(toks("{{`a\r\nb`}}")[1], Tok::Str("a\nb".into()));
    }

    #[test]
    fn errors_have_positions() {
        let e = lex("ab\ncd {{ \"x").err();
        assert_eq!(
            e,
            Some(TemplateError::Parse {
                line: 2,
                column: 7,
                message: "unterminated quoted string".into()
            })
        );
        assert!(lex_err("{{ .x ").contains("line 1, column 1: unclosed action"));
        assert!(lex_err("{{ 12ab }}").contains("bad number syntax: `12ab`"));
        assert!(lex_err("{{ \"\\q\" }}").contains("invalid escape"));
        assert!(lex_err("{{ # }}").contains("unexpected character `#`"));
        assert!(lex_err("{{ a : b }}").contains("expected `:=`"));
        assert!(lex_err("{{ 'ab' }}").contains("invalid character constant"));
        assert!(lex_err("{{ `x }}").contains("unterminated raw string"));
        assert!(lex_err("{{ \"\\xff\" }}").contains("not valid UTF-8"));
    }

    #[test]
    fn positions_count_characters() {
        let t = match lex("é\n  ñ{{ .x }}") {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(t[1].pos, Pos { line: 2, column: 4 });
        assert_eq!(t[2].pos, Pos { line: 2, column: 7 });
        assert!(t[2].space_before);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0b101"), Some(Value::Int(5)));
        assert_eq!(parse_number("0o17"), Some(Value::Int(15)));
        assert_eq!(parse_number("+7"), Some(Value::Int(7)));
        assert_eq!(parse_number("0"), Some(Value::Int(0)));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("1.2.3"), None);
    }
}
