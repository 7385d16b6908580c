//! The dynamic [`Value`] that flows through templates: variables, literals,
//! function arguments and results.

use std::collections::BTreeMap;
use std::fmt;

/// A dynamically typed template value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `nil`; prints as the empty string.
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The text a value renders as: strings as they are, integers without
    /// `.0`, floats in shortest form, `true`/`false`, null as the empty string,
    /// lists and maps as compact JSON.
    pub fn to_display_string(&self) -> String {
        let mut out = String::new();
        self.write_display(&mut out);
        out
    }

    /// Appends [`Value::to_display_string`] to `out` without an extra allocation.
    pub(crate) fn write_display(&self, out: &mut String) {
        match self {
            Value::Null => {}
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                use fmt::Write as _;
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float(*f)),
            Value::String(s) => out.push_str(s),
            Value::List(_) | Value::Map(_) => out.push_str(&self.to_json_string()),
        }
    }

    /// Converts to a `serde_json::Value` (non-finite floats become `null`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            ),
        }
    }

    /// Compact JSON text of the value; a string becomes a quoted JSON string.
    pub fn to_json_string(&self) -> String {
        self.to_json().to_string()
    }

    /// Go template truthiness: false, 0, 0.0, nil, "" and empty lists/maps
    /// are false; everything else is true.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// A short name of the value's type, used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// The Go type name `printf` uses in its `%!verb(type=value)` diagnostics.
    pub(crate) fn go_type_name(&self) -> &'static str {
        match self {
            Value::Null => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// The string inside a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Formats a float in shortest round-trip form: `3` for 3.0, `0.1`, and an
/// exponent (`1e+21`, `1e-07`, Go style) only outside `[1e-6, 1e21)`.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let pad = if digits.len() < 2 { "0" } else { "" };
            format!("{mantissa}e{sign}{pad}{digits}")
        }
        None => s,
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_display_string())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::List(items)
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(map: BTreeMap<String, Value>) -> Self {
        Value::Map(map)
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => n.as_f64().map_or(Value::Null, Value::Float),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::List(items.iter().map(Value::from).collect()),
            serde_json::Value::Object(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(items) => {
                Value::List(items.into_iter().map(Value::from).collect())
            }
            serde_json::Value::Object(map) => {
                Value::Map(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
            other => Value::from(&other),
        }
    }
}

impl From<Value> for serde_json::Value {
    fn from(v: Value) -> Self {
        v.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_forms() {
        assert_eq!(Value::Null.to_display_string(), "");
        assert_eq!(Value::Bool(true).to_display_string(), "true");
        assert_eq!(Value::Int(-42).to_display_string(), "-42");
        assert_eq!(Value::Float(3.0).to_display_string(), "3");
        assert_eq!(Value::Float(0.1).to_display_string(), "0.1");
        assert_eq!(Value::Float(2.5).to_display_string(), "2.5");
        assert_eq!(Value::Float(1e21).to_display_string(), "1e+21");
        assert_eq!(Value::Float(1.5e-7).to_display_string(), "1.5e-07");
        assert_eq!(Value::Float(1e6).to_display_string(), "1000000");
        assert_eq!(Value::Float(f64::NAN).to_display_string(), "NaN");
        assert_eq!(Value::Float(f64::NEG_INFINITY).to_display_string(), "-Inf");
        assert_eq!(Value::from("a&b").to_display_string(), "a&b");
        let v = Value::from(json!({"b": [1, "x"], "a": null}));
        assert_eq!(v.to_display_string(), r#"{"a":null,"b":[1,"x"]}"#);
        assert_eq!(format!("{v}"), r#"{"a":null,"b":[1,"x"]}"#);
    }

    #[test]
    fn json_round_trip() {
        let j =
            json!({"n": 1, "f": 1.5, "s": "x", "l": [true, null], "big": 18446744073709551615u64});
        let v = Value::from(&j);
        assert_eq!(v, Value::from(j.clone()));
        let back: serde_json::Value = v.clone().into();
        assert_eq!(back["n"], json!(1));
        assert_eq!(back["f"], json!(1.5));
        assert_eq!(back["l"], json!([true, null]));
        assert_eq!(Value::from("q\"").to_json_string(), r#""q\"""#);
        assert_eq!(Value::Float(f64::NAN).to_json(), serde_json::Value::Null);
    }

    #[test]
    fn truthiness() {
        for v in [
            Value::Null,
            Value::Bool(false),
            Value::Int(0),
            Value::Float(0.0),
            Value::from(""),
            Value::List(vec![]),
            Value::Map(BTreeMap::new()),
        ] {
            assert!(!v.is_truthy(), "{v:?}");
        }
        for v in [
            Value::Bool(true),
            Value::Int(-1),
            Value::Float(0.5),
            Value::from("0"),
            Value::List(vec![Value::Null]),
        ] {
            assert!(v.is_truthy(), "{v:?}");
        }
    }

    #[test]
    fn conversions_and_names() {
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(3i64), Value::Int(3));
        assert_eq!(Value::from(0.5), Value::Float(0.5));
        assert_eq!(Value::from(String::from("s")).as_str(), Some("s"));
        assert_eq!(Value::Int(1).as_str(), None);
        assert_eq!(Value::from(vec![Value::Null]).type_name(), "list");
        assert_eq!(Value::from(BTreeMap::new()).type_name(), "map");
        assert_eq!(Value::Float(1.0).go_type_name(), "float64");
    }
}
