use super::*;
use serde_json::json;

fn s(v: &str) -> Value {
    Value::from(v)
}

fn ok(func: Func, args: &[Value]) -> Value {
    match call(func, args, usize::MAX) {
        Ok(v) => v,
        Err(e) => panic!("{} {args:?}: {e}", func.name()),
    }
}

fn fails(func: Func, args: &[Value]) -> String {
    match call(func, args, usize::MAX) {
        Ok(v) => panic!("{} {args:?}: expected an error, got {v:?}", func.name()),
        Err(e) => e,
    }
}

#[test]
fn lookup_and_names() {
    assert_eq!(Func::lookup("toJson"), Some(Func::ToJson));
    assert_eq!(Func::lookup("tojson"), None);
    assert_eq!(Func::names().count(), ALL.len());
    for f in ALL {
        assert_eq!(Func::lookup(f.name()), Some(f));
        assert!(f.usage().starts_with(f.name()), "{}", f.usage());
    }
}

#[test]
fn default_picks_given_unless_empty() {
    assert_eq!(ok(Func::Default, &[s("d"), s("x")]), s("x"));
    assert_eq!(ok(Func::Default, &[s("d"), s("")]), s("d"));
    assert_eq!(ok(Func::Default, &[s("d"), Value::Null]), s("d"));
    assert_eq!(ok(Func::Default, &[s("d"), Value::Bool(false)]), s("d"));
    assert_eq!(ok(Func::Default, &[s("d"), Value::Int(0)]), s("d"));
    assert_eq!(ok(Func::Default, &[s("d"), Value::List(vec![])]), s("d"));
    assert_eq!(ok(Func::Default, &[s("d"), s("0")]), s("0"));
    assert_eq!(ok(Func::Default, &[s("d")]), s("d"));
}

#[test]
fn string_functions() {
    assert_eq!(ok(Func::Upper, &[s("aé")]), s("AÉ"));
    assert_eq!(ok(Func::Lower, &[s("AbC")]), s("abc"));
    assert_eq!(ok(Func::Trim, &[s(" \t x y \n")]), s("x y"));
    assert_eq!(ok(Func::Upper, &[Value::Int(3)]), s("3"));
    assert_eq!(
        ok(Func::Replace, &[s("a"), s("b"), s("banana")]),
        s("bbnbnb")
    );
    assert_eq!(ok(Func::Replace, &[s(""), s("-"), s("ab")]), s("-a-b-"));
    assert_eq!(ok(Func::ToJson, &[s("a\"b")]), s("\"a\\\"b\""));
    assert_eq!(
        ok(
            Func::ToJson,
            &[Value::from(json!({"b": [1, 2.5], "a": "&<"}))]
        ),
        s(r#"{"a":"&<","b":[1,2.5]}"#)
    );
    assert_eq!(ok(Func::ToJson, &[Value::Null]), s("null"));
    assert_eq!(
        ok(
            Func::Print,
            &[s("a"), s("b"), Value::Int(1), Value::Int(2), s("c")]
        ),
        s("ab1 2c")
    );
    assert_eq!(ok(Func::Print, &[]), s(""));
    assert_eq!(
        ok(Func::UrlQuery, &[s("a b&c=d/é~")]),
        s("a+b%26c%3Dd%2F%C3%A9~")
    );
    assert_eq!(ok(Func::B64Enc, &[s("hello?")]), s("aGVsbG8/"));
    assert_eq!(ok(Func::B64Dec, &[s("aGVsbG8/")]), s("hello?"));
    assert!(fails(Func::B64Dec, &[s("!!")]).contains("invalid base64"));
    assert!(fails(Func::B64Dec, &[s("/w==")]).contains("not valid UTF-8"));
}

#[test]
fn env_reads_process_environment() {
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(ok(Func::Env, &[s("PATH")]), Value::String(path));
    assert_eq!(
        ok(Func::Env, &[s("APIRUN_TEMPLATE_SURELY_UNSET_VAR")]),
        s("")
    );
}

#[test]
fn arithmetic() {
    assert_eq!(
        ok(Func::Add, &[Value::Int(2), Value::Int(3)]),
        Value::Int(5)
    );
    assert_eq!(
        ok(Func::Add, &[s("2"), Value::Int(3), s("4")]),
        Value::Int(9)
    );
    assert_eq!(ok(Func::Add, &[s("2.5"), Value::Int(1)]), Value::Float(3.5));
    assert_eq!(
        ok(Func::Sub, &[Value::Int(2), Value::Int(5)]),
        Value::Int(-3)
    );
    assert_eq!(
        ok(Func::Mul, &[s("4"), Value::Float(0.5)]),
        Value::Float(2.0)
    );
    assert_eq!(
        ok(Func::Div, &[Value::Int(7), Value::Int(2)]),
        Value::Int(3)
    );
    assert_eq!(
        ok(Func::Div, &[Value::Float(7.0), Value::Int(2)]),
        Value::Float(3.5)
    );
    assert_eq!(
        fails(Func::Div, &[Value::Int(1), Value::Int(0)]),
        "division by zero"
    );
    assert_eq!(
        fails(Func::Div, &[Value::Float(1.0), s("0")]),
        "division by zero"
    );
    assert!(fails(Func::Add, &[s("x"), Value::Int(1)]).contains("\"x\" (string) is not a number"));
    assert!(fails(Func::Add, &[Value::Int(i64::MAX), Value::Int(1)]).contains("overflow"));
    assert!(fails(Func::Add, &[Value::Bool(true), Value::Int(1)]).contains("not a number"));
    assert!(fails(Func::Sub, &[s(""), Value::Int(1)]).contains("not a number"));
}

#[test]
fn comparisons() {
    let t = Value::Bool(true);
    let f = Value::Bool(false);
    assert_eq!(ok(Func::Eq, &[s("a"), s("a")]), t);
    assert_eq!(ok(Func::Eq, &[s("a"), s("b"), s("c")]), f);
    assert_eq!(ok(Func::Eq, &[s("a"), s("b"), s("a")]), t);
    assert_eq!(ok(Func::Eq, &[Value::Int(3), s("3")]), t);
    assert_eq!(ok(Func::Eq, &[Value::Int(3), Value::Float(3.0)]), t);
    assert_eq!(ok(Func::Eq, &[s("3"), s("3.0")]), f);
    assert_eq!(ok(Func::Eq, &[Value::Int(3), s("x")]), f);
    assert_eq!(ok(Func::Eq, &[Value::Null, Value::Null]), t);
    assert_eq!(ok(Func::Eq, &[Value::Null, s("")]), f);
    assert_eq!(
        ok(
            Func::Eq,
            &[
                Value::from(json!([1, {"a": 2}])),
                Value::from(json!([1, {"a": 2}]))
            ]
        ),
        t
    );
    assert_eq!(ok(Func::Ne, &[s("a"), s("b")]), t);
    assert_eq!(ok(Func::Ne, &[Value::Int(1), s("1")]), f);
    assert_eq!(ok(Func::Lt, &[Value::Int(2), Value::Int(10)]), t);
    assert_eq!(ok(Func::Lt, &[s("10"), Value::Int(9)]), f);
    assert_eq!(ok(Func::Lt, &[s("10"), s("9")]), t);
    assert_eq!(ok(Func::Le, &[Value::Int(2), Value::Float(2.0)]), t);
    assert_eq!(ok(Func::Gt, &[Value::Float(2.5), s("2")]), t);
    assert_eq!(ok(Func::Ge, &[Value::Int(1), Value::Int(2)]), f);
    assert!(fails(Func::Lt, &[Value::Int(1), s("x")]).contains("incompatible types"));
    assert!(
        fails(Func::Gt, &[Value::Bool(true), Value::Bool(false)]).contains("incompatible types")
    );
    assert!(fails(Func::Lt, &[Value::Float(f64::NAN), Value::Int(1)]).contains("NaN"));
}

#[test]
fn logic() {
    assert_eq!(ok(Func::And, &[Value::Int(1), s(""), s("x")]), s(""));
    assert_eq!(ok(Func::And, &[Value::Int(1), s("x")]), s("x"));
    assert_eq!(ok(Func::Or, &[s(""), Value::Int(0), s("x")]), s("x"));
    assert_eq!(ok(Func::Or, &[s(""), Value::Int(0)]), Value::Int(0));
    assert_eq!(ok(Func::Not, &[s("")]), Value::Bool(true));
    assert_eq!(
        ok(Func::Not, &[Value::List(vec![Value::Null])]),
        Value::Bool(false)
    );
}

#[test]
fn len_and_index() {
    let data = Value::from(json!({"a": [10, {"b": "x"}], "k": "v"}));
    assert_eq!(ok(Func::Len, &[s("héllo")]), Value::Int(6));
    assert_eq!(ok(Func::Len, std::slice::from_ref(&data)), Value::Int(2));
    assert_eq!(
        ok(Func::Len, &[Value::from(json!([1, 2, 3]))]),
        Value::Int(3)
    );
    assert!(fails(Func::Len, &[Value::Int(3)]).contains("len of 3 (int)"));
    assert!(fails(Func::Len, &[Value::Null]).contains("len of nil"));
    assert_eq!(ok(Func::Index, &[data.clone(), s("k")]), s("v"));
    assert_eq!(
        ok(Func::Index, &[data.clone(), s("a"), Value::Int(1), s("b")]),
        s("x")
    );
    assert_eq!(
        ok(Func::Index, &[data.clone(), s("a"), s("0")]),
        Value::Int(10)
    );
    assert_eq!(ok(Func::Index, &[data.clone(), s("nope")]), Value::Null);
    assert_eq!(ok(Func::Index, std::slice::from_ref(&data)), data);
    assert_eq!(ok(Func::Index, &[s("AB"), Value::Int(1)]), Value::Int(66));
    assert!(
        fails(Func::Index, &[data.clone(), s("a"), Value::Int(2)])
            .contains("index 2 out of range (length 2)")
    );
    assert!(fails(Func::Index, &[data.clone(), s("a"), Value::Int(-1)]).contains("out of range"));
    assert!(fails(Func::Index, &[data, s("a"), s("x")]).contains("must be an integer"));
    assert!(fails(Func::Index, &[Value::Null, Value::Int(0)]).contains("can't index nil"));
    assert!(fails(Func::Index, &[Value::Int(1), Value::Int(0)]).contains("can't index 1 (int)"));
}

#[test]
fn printf_verbs() {
    let p = |f: &str, args: &[Value]| sprintf(f, args, usize::MAX).unwrap_or_default();
    assert_eq!(p("%s-%v", &[s("a"), Value::Int(1)]), "a-1");
    assert_eq!(p("%d", &[Value::Int(-42)]), "-42");
    assert_eq!(p("%d|%d", &[s("7"), Value::Float(3.0)]), "7|3");
    assert_eq!(
        p(
            "%5d|%-5d|%05d|%+d",
            &[
                Value::Int(42),
                Value::Int(42),
                Value::Int(-42),
                Value::Int(3)
            ]
        ),
        "   42|42   |-0042|+3"
    );
    assert_eq!(p("%f", &[Value::Float(2.34567)]), "2.345670");
    assert_eq!(p("%.2f", &[Value::Float(2.34567)]), "2.35");
    assert_eq!(p("%.1f", &[s("2.25")]), "2.2");
    assert_eq!(p("%.0f", &[Value::Int(3)]), "3");
    assert_eq!(p("%8.3f", &[Value::Float(-1.5)]), "  -1.500");
    assert_eq!(
        p(
            "%x %X %#x %x",
            &[
                Value::Int(255),
                Value::Int(255),
                Value::Int(255),
                Value::Int(-255)
            ]
        ),
        "ff FF 0xff -ff"
    );
    assert_eq!(p("%x", &[s("Hi")]), "4869");
    assert_eq!(p("%q", &[s("a\"b\n\u{1}é")]), "\"a\\\"b\\n\\x01é\"");
    assert_eq!(p("%q", &[Value::Int(120)]), "'x'");
    assert_eq!(
        p("%t %t", &[Value::Bool(true), Value::Bool(false)]),
        "true false"
    );
    assert_eq!(p("100%%", &[]), "100%");
    assert_eq!(
        p("%.2s|%6s|%-4s|", &[s("abc"), s("ab"), s("ab")]),
        "ab|    ab|ab  |"
    );
    assert_eq!(p("%v", &[Value::from(json!({"a": [1]}))]), "{\"a\":[1]}");
    assert_eq!(p("%d", &[s("abc")]), "%!d(string=abc)");
    assert_eq!(p("%t", &[s("x")]), "%!t(string=x)");
    assert_eq!(p("%z", &[Value::Int(1)]), "%!z(int=1)");
    assert_eq!(p("%s %s", &[s("a")]), "a %!s(MISSING)");
    assert_eq!(
        p("%s", &[s("a"), Value::Int(2), Value::Bool(true)]),
        "a%!(EXTRA int=2, bool=true)"
    );
    assert_eq!(p("%", &[]), "%!(NOVERB)");
    assert_eq!(p("%d", &[Value::Float(1.5)]), "%!d(float64=1.5)");
    assert_eq!(p("%q", &[Value::Null]), "%!q(<nil>=)");
    assert_eq!(p("%x", &[Value::Bool(true)]), "%!x(bool=true)");
    assert_eq!(p("%05s", &[s("ab")]), "000ab");
    assert_eq!(p("% d", &[Value::Int(5)]), " 5");
}
