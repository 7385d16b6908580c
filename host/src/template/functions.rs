//! Built-in template functions.
//!
//! The set is fixed (Go text/template builtins plus the sprig functions
//! apirun's Go-tool files use). Argument order follows Go/sprig, so a piped
//! value is always the last argument: `{{.x | replace "a" "b"}}` is
//! `replace "a" "b" .x`.
//!
//! Leniencies on top of Go, because most variables are strings:
//! - `add`/`sub`/`mul`/`div` and `printf`'s `%d`/`%f` accept strings that
//!   parse as numbers; the result is a float if either operand is a float.
//! - `eq`/`ne`/`lt`/`le`/`gt`/`ge` compare numerically when one side is a
//!   number and the other a numeric string (`eq "3" 3` is true). Two strings
//!   always compare as strings (`lt "10" "9"` is true). `eq`/`ne` between
//!   unrelated kinds are simply unequal; ordering them is an error.
//! - String functions (`upper`, `trim`, `%s`, ...) accept any value and use its
//!   display form.

use std::cmp::Ordering;
use std::fmt::Write as _;

use base64::Engine as _;

use super::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Default,
    Upper,
    Lower,
    Trim,
    Replace,
    ToJson,
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Not,
    Len,
    Index,
    Printf,
    Print,
    UrlQuery,
    B64Enc,
    B64Dec,
    Env,
}

const ALL: [Func; 27] = [
    Func::Default,
    Func::Upper,
    Func::Lower,
    Func::Trim,
    Func::Replace,
    Func::ToJson,
    Func::Add,
    Func::Sub,
    Func::Mul,
    Func::Div,
    Func::Eq,
    Func::Ne,
    Func::Lt,
    Func::Le,
    Func::Gt,
    Func::Ge,
    Func::And,
    Func::Or,
    Func::Not,
    Func::Len,
    Func::Index,
    Func::Printf,
    Func::Print,
    Func::UrlQuery,
    Func::B64Enc,
    Func::B64Dec,
    Func::Env,
];

impl Func {
    pub(crate) fn lookup(name: &str) -> Option<Func> {
        ALL.iter().copied().find(|f| f.name() == name)
    }

    pub(crate) fn names() -> impl Iterator<Item = &'static str> {
        ALL.iter().map(|f| f.name())
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Func::Default => "default",
            Func::Upper => "upper",
            Func::Lower => "lower",
            Func::Trim => "trim",
            Func::Replace => "replace",
            Func::ToJson => "toJson",
            Func::Add => "add",
            Func::Sub => "sub",
            Func::Mul => "mul",
            Func::Div => "div",
            Func::Eq => "eq",
            Func::Ne => "ne",
            Func::Lt => "lt",
            Func::Le => "le",
            Func::Gt => "gt",
            Func::Ge => "ge",
            Func::And => "and",
            Func::Or => "or",
            Func::Not => "not",
            Func::Len => "len",
            Func::Index => "index",
            Func::Printf => "printf",
            Func::Print => "print",
            Func::UrlQuery => "urlquery",
            Func::B64Enc => "b64enc",
            Func::B64Dec => "b64dec",
            Func::Env => "env",
        }
    }

    /// Minimum and maximum (None: unbounded) number of arguments, counting a piped value.
    pub(crate) fn arity(self) -> (usize, Option<usize>) {
        match self {
            Func::Default => (1, Some(2)),
            Func::Upper | Func::Lower | Func::Trim | Func::ToJson | Func::Not | Func::Len => {
                (1, Some(1))
            }
            Func::B64Enc | Func::B64Dec | Func::Env => (1, Some(1)),
            Func::Replace => (3, Some(3)),
            Func::Add | Func::Mul | Func::And | Func::Or | Func::Index | Func::Printf => (1, None),
            Func::Sub | Func::Div | Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => {
                (2, Some(2))
            }
            Func::Eq => (2, None),
            Func::Print | Func::UrlQuery => (0, None),
        }
    }

    pub(crate) fn usage(self) -> &'static str {
        match self {
            Func::Default => "default DEFAULT GIVEN, or GIVEN | default DEFAULT",
            Func::Upper => "upper S",
            Func::Lower => "lower S",
            Func::Trim => "trim S",
            Func::Replace => "replace OLD NEW S, or S | replace OLD NEW",
            Func::ToJson => "toJson VALUE",
            Func::Add => "add A B...",
            Func::Sub => "sub A B",
            Func::Mul => "mul A B...",
            Func::Div => "div A B",
            Func::Eq => "eq A B... (true if A equals any B)",
            Func::Ne => "ne A B",
            Func::Lt => "lt A B",
            Func::Le => "le A B",
            Func::Gt => "gt A B",
            Func::Ge => "ge A B",
            Func::And => "and A B...",
            Func::Or => "or A B...",
            Func::Not => "not A",
            Func::Len => "len VALUE",
            Func::Index => "index COLLECTION KEY...",
            Func::Printf => "printf FORMAT ARGS...",
            Func::Print => "print ARGS...",
            Func::UrlQuery => "urlquery ARGS...",
            Func::B64Enc => "b64enc S",
            Func::B64Dec => "b64dec S",
            Func::Env => "env \"OS_VAR\"",
        }
    }
}

/// Largest width or precision `printf` accepts (`%065535d`, `%.65535f`).
/// Above it the call fails instead of allocating: `%0999999999d` would ask
/// for a gigabyte, and Rust's float formatting panics on a precision above
/// 65535. Go's fmt has a similar cap (1e6, printed as `%!(BADWIDTH)`).
pub(crate) const MAX_FORMAT_WIDTH: usize = 65_535;

/// Calls `func` on already evaluated arguments (the piped value last).
/// The arity was checked at parse time. The error is a message without the
/// function name or position; the evaluator adds those. A string result
/// longer than `max_len` bytes is an error, checked before the result is
/// built where it can grow much larger than the arguments (`printf`,
/// `print`, `replace`), so no call allocates far beyond `max_len`.
pub(crate) fn call(func: Func, args: &[Value], max_len: usize) -> Result<Value, String> {
    let arg = |k: usize| {
        args.get(k)
            .ok_or_else(|| format!("missing argument {}; usage: {}", k + 1, func.usage()))
    };
    let text = |k: usize| arg(k).map(Value::to_display_string);
    Ok(match func {
        Func::Default => match args {
            [_, given, ..] if given.is_truthy() => given.clone(),
            [default, ..] => default.clone(),
            [] => Value::Null,
        },
        Func::Upper => Value::String(text(0)?.to_uppercase()),
        Func::Lower => Value::String(text(0)?.to_lowercase()),
        Func::Trim => Value::String(text(0)?.trim().to_string()),
        Func::Replace => {
            let (old, new, s) = (text(0)?, text(1)?, text(2)?);
            // "" matches between every character and at both ends.
            let hits = if old.is_empty() {
                s.chars().count() + 1
            } else {
                s.matches(old.as_str()).count()
            };
            let size = hits
                .saturating_mul(new.len())
                .saturating_add(s.len().saturating_sub(hits.saturating_mul(old.len())));
            check_len(size, max_len)?;
            Value::String(s.replace(&old, &new))
        }
        Func::ToJson => Value::String(arg(0)?.to_json_string()),
        Func::Add | Func::Sub | Func::Mul | Func::Div => arith(func, args)?,
        Func::Eq => {
            let first = arg(0)?;
            Value::Bool(
                args.get(1..)
                    .unwrap_or_default()
                    .iter()
                    .any(|b| values_equal(first, b)),
            )
        }
        Func::Ne => Value::Bool(!values_equal(arg(0)?, arg(1)?)),
        Func::Lt | Func::Le | Func::Gt | Func::Ge => {
            let ord = ordering(arg(0)?, arg(1)?)?;
            Value::Bool(match func {
                Func::Lt => ord == Ordering::Less,
                Func::Le => ord != Ordering::Greater,
                Func::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            })
        }
        Func::And => args
            .iter()
            .find(|v| !v.is_truthy())
            .or(args.last())
            .cloned()
            .unwrap_or_default(),
        Func::Or => args
            .iter()
            .find(|v| v.is_truthy())
            .or(args.last())
            .cloned()
            .unwrap_or_default(),
        Func::Not => Value::Bool(!arg(0)?.is_truthy()),
        Func::Len => len(arg(0)?)?,
        Func::Index => index(args)?,
        Func::Printf => Value::String(sprintf(
            &text(0)?,
            args.get(1..).unwrap_or_default(),
            max_len,
        )?),
        Func::Print => Value::String(sprint(args, max_len)?),
        Func::UrlQuery => Value::String(query_escape(&sprint(args, max_len)?)),
        Func::B64Enc => Value::String(base64::engine::general_purpose::STANDARD.encode(text(0)?)),
        Func::B64Dec => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text(0)?.as_bytes())
                .map_err(|e| format!("invalid base64 input: {e}"))?;
            Value::String(
                String::from_utf8(bytes)
                    .map_err(|_| "decoded data is not valid UTF-8 text".to_string())?,
            )
        }
        Func::Env => Value::String(
            std::env::var_os(text(0)?)
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    })
}

/// Refuses a result of `size` bytes above `max_len`.
fn check_len(size: usize, max_len: usize) -> Result<(), String> {
    if size > max_len {
        return Err(format!(
            "the result would be {size} bytes, more than the limit of {max_len} bytes per rendered string"
        ));
    }
    Ok(())
}

/// How a value reads inside an error message.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?} (string)"),
        Value::Null => "nil".to_string(),
        other => format!("{} ({})", other.to_display_string(), other.type_name()),
    }
}

#[derive(Debug, Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            // Intentional: mixed int/float arithmetic is done in f64.
            #[allow(clippy::cast_precision_loss)]
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

/// A number, or a string holding one (`"3"`, `"-2.5"`, `"1e3"`).
fn to_num(v: &Value) -> Option<Num> {
    match v {
        Value::Int(i) => Some(Num::I(*i)),
        Value::Float(f) => Some(Num::F(*f)),
        Value::String(s) => parse_num_str(s),
        _ => None,
    }
}

fn parse_num_str(s: &str) -> Option<Num> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Num::I(i));
    }
    let numeric = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && s.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        s.parse::<f64>().ok().map(Num::F)
    } else {
        None
    }
}

fn is_number(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_))
}

fn arith(func: Func, args: &[Value]) -> Result<Value, String> {
    let mut nums = args.iter().map(|a| {
        to_num(a).ok_or_else(|| {
            format!(
                "argument {} is not a number; usage: {}",
                describe(a),
                func.usage()
            )
        })
    });
    let Some(first) = nums.next() else {
        return Err(format!("missing arguments; usage: {}", func.usage()));
    };
    let mut acc = first?;
    for n in nums {
        let n = n?;
        acc = match (acc, n) {
            (Num::I(a), Num::I(b)) => {
                let r = match func {
                    Func::Add => a.checked_add(b),
                    Func::Sub => a.checked_sub(b),
                    Func::Mul => a.checked_mul(b),
                    _ => {
                        if b == 0 {
                            return Err("division by zero".to_string());
                        }
                        a.checked_div(b)
                    }
                };
                Num::I(r.ok_or_else(|| {
                    format!("integer overflow computing {a} {} {b}", op_symbol(func))
                })?)
            }
            (a, b) => {
                let (a, b) = (a.as_f64(), b.as_f64());
                Num::F(match func {
                    Func::Add => a + b,
                    Func::Sub => a - b,
                    Func::Mul => a * b,
                    _ => {
                        if b == 0.0 {
                            return Err("division by zero".to_string());
                        }
                        a / b
                    }
                })
            }
        };
    }
    Ok(match acc {
        Num::I(i) => Value::Int(i),
        Num::F(f) => Value::Float(f),
    })
}

fn op_symbol(func: Func) -> &'static str {
    match func {
        Func::Add => "+",
        Func::Sub => "-",
        Func::Mul => "*",
        _ => "/",
    }
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        _ => a.as_f64().partial_cmp(&b.as_f64()),
    }
}

/// `eq` semantics: see the module docs.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ if is_number(a) || is_number(b) => match (to_num(a), to_num(b)) {
            (Some(x), Some(y)) => num_cmp(x, y) == Some(Ordering::Equal),
            _ => false,
        },
        _ => false,
    }
}

/// `lt`/`le`/`gt`/`ge` semantics: see the module docs.
fn ordering(a: &Value, b: &Value) -> Result<Ordering, String> {
    if let (Value::String(x), Value::String(y)) = (a, b) {
        return Ok(x.cmp(y));
    }
    if (is_number(a) || is_number(b))
        && let (Some(x), Some(y)) = (to_num(a), to_num(b))
    {
        return num_cmp(x, y).ok_or_else(|| "cannot order NaN".to_string());
    }
    Err(format!(
        "incompatible types for comparison: {} and {}",
        describe(a),
        describe(b)
    ))
}

fn len(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        other => {
            return Err(format!(
                "len of {} is not defined; len takes a string, list or map",
                describe(other)
            ));
        }
    };
    i64::try_from(n)
        .map(Value::Int)
        .map_err(|_| "length too large".to_string())
}

/// Go's `index`: lists by integer, maps by key, strings by byte; nested
/// with several keys. A key missing from a map yields nil, as in Go.
fn index(args: &[Value]) -> Result<Value, String> {
    let Some((first, keys)) = args.split_first() else {
        return Err("missing arguments; usage: index COLLECTION KEY...".to_string());
    };
    let mut cur = first.clone();
    for key in keys {
        cur = match &cur {
            Value::List(items) => {
                let i = list_index(key, items.len())?;
                items[i].clone()
            }
            Value::Map(map) => {
                let k = match key {
                    Value::String(s) => s.clone(),
                    other => other.to_display_string(),
                };
                map.get(&k).cloned().unwrap_or(Value::Null)
            }
            Value::String(s) => {
                let i = list_index(key, s.len())?;
                Value::Int(i64::from(s.as_bytes()[i]))
            }
            Value::Null => return Err("can't index nil".to_string()),
            other => {
                return Err(format!(
                    "can't index {}; index takes a list, map or string",
                    describe(other)
                ));
            }
        };
    }
    Ok(cur)
}

fn list_index(key: &Value, len: usize) -> Result<usize, String> {
    let i = match to_num(key) {
        Some(Num::I(i)) => i,
        _ => {
            return Err(format!(
                "cannot index a list with {}; the index must be an integer",
                describe(key)
            ));
        }
    };
    usize::try_from(i)
        .ok()
        .filter(|&u| u < len)
        .ok_or_else(|| format!("index {i} out of range (length {len})"))
}

/// Go's `fmt.Sprint`: operands separated by a space when neither is a string.
fn sprint(args: &[Value], max_len: usize) -> Result<String, String> {
    let mut out = String::new();
    for (k, a) in args.iter().enumerate() {
        let prev_string = k > 0 && matches!(args[k - 1], Value::String(_));
        if k > 0 && !prev_string && !matches!(a, Value::String(_)) {
            out.push(' ');
        }
        a.write_display(&mut out);
        check_len(out.len(), max_len)?;
    }
    Ok(out)
}

/// Go's `url.QueryEscape`: space becomes `+`, unreserved bytes stay.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Reads the flags, width and precision after a `%`.
fn read_spec(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Spec, String> {
    let mut spec = Spec::default();
    while let Some(&f) = chars.peek() {
        match f {
            '-' => spec.minus = true,
            '+' => spec.plus = true,
            '0' => spec.zero = true,
            ' ' => spec.space = true,
            '#' => spec.sharp = true,
            _ => break,
        }
        chars.next();
    }
    spec.width = read_digits(chars);
    if chars.peek() == Some(&'.') {
        chars.next();
        spec.precision = Some(read_digits(chars).unwrap_or(0));
    }
    for (what, n) in [("width", spec.width), ("precision", spec.precision)] {
        if let Some(n) = n.filter(|&n| n > MAX_FORMAT_WIDTH) {
            return Err(format!(
                "format {what} {n} is larger than the limit {MAX_FORMAT_WIDTH}"
            ));
        }
    }
    Ok(spec)
}

/// Checks a literal `printf` format at parse time, so `validate` reports a
/// width or precision above [`MAX_FORMAT_WIDTH`] without rendering.
pub(crate) fn check_format(format: &str) -> Result<(), String> {
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            read_spec(&mut chars)?;
            chars.next();
        }
    }
    Ok(())
}

/// Go's `fmt.Sprintf` for the verbs `%s %v %d %f %F %x %X %q %t %%`, with
/// flags `- + 0 space #`, width and precision. Go's in-band diagnostics
/// (`%!d(string=abc)`, `%!s(MISSING)`, `%!(EXTRA ...)`) are kept. Fails on a
/// width or precision above [`MAX_FORMAT_WIDTH`] and on a result above
/// `max_len` bytes.
pub(crate) fn sprintf(format: &str, args: &[Value], max_len: usize) -> Result<String, String> {
    let mut out = String::with_capacity(format.len().min(max_len) + 16);
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = read_spec(&mut chars)?;
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next_arg += 1;
        out.push_str(&format_verb(verb, &spec, arg));
        check_len(out.len(), max_len)?;
    }
    if let Some(extra) = args.get(next_arg..).filter(|e| !e.is_empty()) {
        out.push_str("%!(EXTRA ");
        for (k, a) in extra.iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", a.go_type_name(), a.to_display_string());
        }
        out.push(')');
    }
    check_len(out.len(), max_len)?;
    Ok(out)
}

fn read_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
    }
    n
}

fn bad_verb(verb: char, arg: &Value) -> String {
    format!(
        "%!{verb}({}={})",
        arg.go_type_name(),
        arg.to_display_string()
    )
}

fn format_verb(verb: char, spec: &Spec, arg: &Value) -> String {
    match verb {
        'v' | 's' => {
            let mut s = arg.to_display_string();
            if let Some(p) = spec.precision {
                s = s.chars().take(p).collect();
            }
            pad(s, spec, false)
        }
        'd' => match int_of(arg) {
            Some(i) => pad(signed(i.to_string(), spec), spec, true),
            None => bad_verb(verb, arg),
        },
        'f' | 'F' => match to_num_for_format(arg) {
            Some(n) => pad(
                signed(
                    format!("{:.*}", spec.precision.unwrap_or(6), n.as_f64()),
                    spec,
                ),
                spec,
                true,
            ),
            None => bad_verb(verb, arg),
        },
        'x' | 'X' => {
            let s = match arg {
                Value::Int(i) => {
                    let digits = format!("{:x}", i.unsigned_abs());
                    let prefix = if spec.sharp { "0x" } else { "" };
                    let sign = if *i < 0 { "-" } else { "" };
                    signed(format!("{sign}{prefix}{digits}"), spec)
                }
                Value::String(s) => s.bytes().fold(String::new(), |mut acc, b| {
                    let _ = write!(acc, "{b:02x}");
                    acc
                }),
                _ => return bad_verb(verb, arg),
            };
            let s = if verb == 'X' {
                s.to_uppercase().replace("0X", "0x")
            } else {
                s
            };
            pad(s, spec, matches!(arg, Value::Int(_)))
        }
        'q' => match arg {
            Value::String(s) => pad(go_quote(s), spec, false),
            Value::Int(i) => match u32::try_from(*i).ok().and_then(char::from_u32) {
                Some(c) => pad(go_quote_char(c), spec, false),
                None => bad_verb(verb, arg),
            },
            _ => bad_verb(verb, arg),
        },
        't' => match arg {
            Value::Bool(b) => pad(b.to_string(), spec, false),
            _ => bad_verb(verb, arg),
        },
        _ => bad_verb(verb, arg),
    }
}

/// An integer for `%d`: ints, integral floats, and strings holding either.
fn int_of(v: &Value) -> Option<i64> {
    match to_num_for_format(v)? {
        Num::I(i) => Some(i),
        // Intentional: only integral, in-range floats reach the cast.
        #[allow(clippy::cast_possible_truncation)]
        Num::F(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
        Num::F(_) => None,
    }
}

fn to_num_for_format(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(_) | Value::Null | Value::List(_) | Value::Map(_) => None,
        other => to_num(other),
    }
}

fn signed(s: String, spec: &Spec) -> String {
    if s.starts_with('-') {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(width) = spec.width else { return s };
    let len = s.chars().count();
    if len >= width {
        return s;
    }
    let fill = width - len;
    if spec.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let sign_len = usize::from(s.starts_with(['-', '+', ' ']));
        let (sign, digits) = s.split_at(sign_len);
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else if spec.zero {
        format!("{}{s}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if c.is_control() => {
            let cp = u32::from(c);
            let _ = if cp < 0x80 {
                write!(out, "\\x{cp:02x}")
            } else if cp < 0x10000 {
                write!(out, "\\u{cp:04x}")
            } else {
                write!(out, "\\U{cp:08x}")
            };
        }
        c => out.push(c),
    }
}

/// Go's `strconv.Quote` (printable Unicode is kept as is).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

fn go_quote_char(c: char) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

#[cfg(test)]
mod tests;
