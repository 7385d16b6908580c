use super::*;
use serde_json::json;

fn ctx() -> Context<'static> {
    let mut c = Context::default();
    for (k, v) in [
        ("username", json!("alice")),
        ("name", json!("a&b+c <x>")),
        ("replicas", json!("3")),
        ("count", json!(4)),
        ("ratio", json!(0.5)),
        ("empty", json!("")),
        ("flag", json!(true)),
        ("off", json!(false)),
        ("nothing", json!(null)),
        ("tags_list", json!(["a", "b\"c"])),
        (
            "servers",
            json!([{"host": "h1", "port": 80}, {"host": "h2", "port": 81}]),
        ),
        ("labels", json!({"tier": "web", "app": "api"})),
        ("cfg", json!({"db": {"host": "db1"}})),
        ("blank", json!([])),
    ] {
        c.vars.insert(k.to_string(), Value::from(v));
    }
    c.auth.insert("admin".to_string(), "tok-123".to_string());
    c
}

fn r(src: &str) -> String {
    match render_str(src, &ctx()) {
        Ok(s) => s,
        Err(e) => panic!("render {src:?}: {e}"),
    }
}

fn render_err(src: &str) -> TemplateError {
    match render_str(src, &ctx()) {
        Ok(s) => panic!("expected an error for {src:?}, got {s:?}"),
        Err(e) => e,
    }
}

fn undefined_var(name: &str, line: usize, column: usize) -> TemplateError {
    TemplateError::UndefinedVariable {
        name: name.to_string(),
        line,
        column,
    }
}

#[test]
fn variables_env_and_auth() {
    assert_eq!(r("hi {{.username}}!"), "hi alice!");
    assert_eq!(r("hi {{.env.username}}!"), "hi alice!");
    assert_eq!(r("{{$.username}} {{$.env.username}}"), "alice alice");
    assert_eq!(r("Bearer {{.auth.admin}}"), "Bearer tok-123");
    assert_eq!(r("{{$.auth.admin}}"), "tok-123");
    assert_eq!(r("{{.cfg.db.host}} {{.env.cfg.db.host}}"), "db1 db1");
    assert_eq!(r("{{len .env}} {{len .auth}}"), "14 1");
    assert_eq!(r("{{.auth}}"), r#"{"admin":"tok-123"}"#);
    assert_eq!(
        r("{{range $k, $v := .auth}}{{$k}}={{$v}}{{end}}"),
        "admin=tok-123"
    );
}

#[test]
fn value_printing() {
    assert_eq!(
        r("{{.count}}|{{.ratio}}|{{.flag}}|{{.nothing}}|{{.empty}}|"),
        "4|0.5|true|||"
    );
    assert_eq!(
        r("{{.tags_list}} {{.labels}}"),
        r#"["a","b\"c"] {"app":"api","tier":"web"}"#
    );
    assert_eq!(
        r("{{1.0}} {{2.50}} {{-7}} {{0x10}} {{'a'}} {{print nil}}|"),
        "1 2.5 -7 16 97 |"
    );
    assert_eq!(r(r#"{{"tab\there"}} {{`raw\n`}}"#), "tab\there raw\\n");
    let c = ctx();
    let root = match render_str("{{.}}", &c) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert!(root.starts_with(r#"{"blank":[],"#), "{root}");
    assert!(
        !root.contains("tok-123"),
        "the root must not print auth tokens: {root}"
    );
}

#[test]
fn no_html_escaping_and_dollar() {
    assert_eq!(r("{{.name}}"), "a&b+c <x>");
    assert_eq!(r(r#"{{"a&b+c"}}"#), "a&b+c");
    assert_eq!(r("{{toJson .name}}"), r#""a&b+c <x>""#);
    assert_eq!(r("{{printf \"%q\" .name}}"), r#""a&b+c <x>""#);
    assert_eq!(r("price: ${{.count}}"), "price: $4");
    assert_eq!(r("${{.username}}$"), "$alice$");
}

#[test]
fn missing_variables_are_errors() {
    assert_eq!(render_err("ab {{.x}}"), undefined_var("x", 1, 6));
    assert_eq!(render_err("{{.env.x}}"), undefined_var("x", 1, 3));
    assert_eq!(render_err("{{$.x}}"), undefined_var("x", 1, 3));
    assert_eq!(render_err("{{upper .x}}"), undefined_var("x", 1, 9));
    assert_eq!(
        render_err("{{printf \"%s-%s\" .username .x}}"),
        undefined_var("x", 1, 28)
    );
    assert_eq!(render_err("{{.x | upper}}"), undefined_var("x", 1, 3));
    assert_eq!(render_err("{{if .x}}a{{end}}"), undefined_var("x", 1, 6));
    assert_eq!(
        render_err("{{if .flag}}\n  {{.x}}\n{{end}}"),
        undefined_var("x", 2, 5)
    );
    assert_eq!(
        render_err("{{if .off}}{{else if .x}}{{end}}"),
        undefined_var("x", 1, 22)
    );
    assert_eq!(render_err("{{range .x}}{{end}}"), undefined_var("x", 1, 9));
    assert_eq!(render_err("{{with .x}}{{end}}"), undefined_var("x", 1, 8));
    assert_eq!(render_err("{{$v := .x}}"), undefined_var("x", 1, 9));
    assert_eq!(
        render_err("{{.auth.y}}"),
        TemplateError::UndefinedAuth {
            name: "y".into(),
            line: 1,
            column: 3
        }
    );
    let msg = render_err("{{.x}}").to_string();
    assert_eq!(
        msg,
        "line 1, column 3: variable `x` is not defined; define it in env, or write {{.x | default \"...\"}}"
    );
    assert!(
        render_err("{{.auth.y}}")
            .to_string()
            .contains("{{.auth.y | default \"...\"}}")
    );
    // not taken branches are not evaluated
    assert_eq!(r("{{if .off}}{{.x}}{{end}}ok"), "ok");
    assert_eq!(r("{{if and .off .x}}{{end}}{{or .flag .x}}"), "true");
}

#[test]
fn missing_fields_are_errors() {
    assert_eq!(
        render_err("{{range .servers}}{{.nope}}{{end}}"),
        TemplateError::UndefinedField {
            name: "nope".into(),
            path: ".nope".into(),
            line: 1,
            column: 21
        }
    );
    assert_eq!(
        render_err("{{.cfg.db.port}}"),
        TemplateError::UndefinedField {
            name: "port".into(),
            path: ".cfg.db.port".into(),
            line: 1,
            column: 3
        }
    );
    assert_eq!(
        render_err("{{with .cfg}}{{$.cfg.x}}{{end}}"),
        TemplateError::UndefinedField {
            name: "x".into(),
            path: "$.cfg.x".into(),
            line: 1,
            column: 16
        }
    );
    assert!(matches!(
        render_err("{{range $s := .servers}}{{$s.nope}}{{end}}"),
        TemplateError::UndefinedField { path, .. } if path == "$s.nope"
    ));
    assert!(matches!(
        render_err("{{.nothing.x}}"),
        TemplateError::UndefinedField { .. }
    ));
    let e = render_err("{{.username.x}}");
    assert!(
        matches!(&e, TemplateError::Exec { message, .. } if message.contains("`.username` is a string")),
        "{e}"
    );
    assert!(matches!(
        render_err("{{.auth.admin.x}}"),
        TemplateError::Exec { .. }
    ));
    assert_eq!(
        r("{{range .servers}}{{.nope | default \"?\"}}{{end}}"),
        "??"
    );
}

#[test]
fn default_makes_references_optional() {
    assert_eq!(r("{{.x | default \"d\"}}"), "d");
    assert_eq!(r("{{default \"d\" .x}}"), "d");
    assert_eq!(r("{{.env.x | default \"d\"}}"), "d");
    assert_eq!(r("{{.auth.y | default \"none\"}}"), "none");
    assert_eq!(r("{{.username | default \"d\"}}"), "alice");
    assert_eq!(r("{{default \"d\" .username}}"), "alice");
    assert_eq!(
        r("{{.empty | default \"d\"}}|{{.nothing | default \"d\"}}|{{.off | default \"d\"}}"),
        "d|d|d"
    );
    assert_eq!(r("{{.x | upper | default \"d\"}}"), "d");
    assert_eq!(r("{{default \"d\" (printf \"%s\" .x)}}"), "d");
    assert_eq!(r("{{default .x .y}}"), "");
    assert_eq!(r("{{.x | default .username}}"), "alice");
    assert_eq!(r("{{.cfg.nope.deeper | default 5}}"), "5");
    assert_eq!(r("{{.x | default \"d\" | upper}}"), "D");
    // default only shields its own arguments
    assert_eq!(
        render_err("{{.x | default \"d\" | printf \"%s%s\" .y}}"),
        undefined_var("y", 1, 36)
    );
    assert_eq!(
        render_err("{{default (upper .username) .x}}{{.x}}"),
        undefined_var("x", 1, 35)
    );
    // other errors are not swallowed
    assert!(matches!(
        render_err("{{default \"d\" (div 1 0)}}"),
        TemplateError::Function { .. }
    ));
}

#[test]
fn trimming_and_comments() {
    assert_eq!(r("a  {{- .username -}}  \n b"), "aaliceb");
    assert_eq!(r("a  {{- .username}}  b"), "aalice  b");
    assert_eq!(r("a  {{.username -}}  \n\t b"), "a  aliceb");
    assert_eq!(r("x {{/* a comment */}} y"), "x  y");
    assert_eq!(r("x {{- /* a\nmultiline comment */ -}} y"), "xy");
    assert_eq!(r("{{-3}}"), "-3");
    assert_eq!(
        r("[\n{{- range .tags_list}}\n  {{.}}\n{{- end}}\n]"),
        "[\n  a\n  b\"c\n]"
    );
}

#[test]
fn conditionals() {
    let t = match Template::parse(
        "{{if eq .v \"a\"}}A{{else if eq .v \"b\"}}B{{else if .v}}other{{else}}none{{end}}",
    ) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    for (v, want) in [("a", "A"), ("b", "B"), ("z", "other"), ("", "none")] {
        let mut c = Context::default();
        c.vars.insert("v".into(), Value::from(v));
        assert_eq!(t.render(&c).ok().as_deref(), Some(want), "v={v}");
    }
    assert_eq!(r("{{if .flag}}{{if .off}}x{{else}}y{{end}}{{end}}"), "y");
    assert_eq!(r("{{if .blank}}x{{else}}empty{{end}}"), "empty");
    assert_eq!(
        r("{{if .count}}n{{end}}{{if 0}}z{{end}}{{if 0.0}}z{{end}}{{if \"0\"}}s{{end}}"),
        "ns"
    );
    assert_eq!(r("{{if not .off}}yes{{end}}"), "yes");
    assert_eq!(
        r("{{if and .flag .username}}both{{end}}{{if or .off .empty}}x{{else}}neither{{end}}"),
        "bothneither"
    );
    assert_eq!(
        r("{{and .flag .username}} {{or .empty .username}} {{.off | and .flag}}"),
        "alice alice false"
    );
    assert_eq!(
        r("{{if gt .replicas 2}}many{{end}} {{if lt .count 10}}few{{end}}"),
        "many few"
    );
    assert_eq!(r("{{if $x := .username}}{{$x}}{{end}}"), "alice");
    assert_eq!(r("{{if ne .replicas \"3\"}}x{{else}}three{{end}}"), "three");
}

#[test]
fn with_blocks() {
    assert_eq!(r("{{with .cfg.db}}{{.host}}{{end}}"), "db1");
    assert_eq!(r("{{with .empty}}x{{else}}empty{{end}}"), "empty");
    assert_eq!(
        r("{{with .empty}}x{{else with .username}}{{.}}{{end}}"),
        "alice"
    );
    assert_eq!(
        r("{{with $c := .cfg}}{{$c.db.host}}/{{.db.host}}/{{$.username}}{{end}}"),
        "db1/db1/alice"
    );
    assert_eq!(r("{{with .}}{{.username}}{{end}}"), "alice");
}

#[test]
fn ranges() {
    assert_eq!(r("{{range .tags_list}}[{{.}}]{{end}}"), "[a][b\"c]");
    assert_eq!(
        r("{{range $i, $v := .tags_list}}{{$i}}={{$v}};{{end}}"),
        "0=a;1=b\"c;"
    );
    assert_eq!(r("{{range $v := .tags_list}}{{$v}}{{end}}"), "ab\"c");
    assert_eq!(
        r("{{range $k, $v := .labels}}{{$k}}:{{$v}},{{end}}"),
        "app:api,tier:web,"
    );
    assert_eq!(r("{{range .labels}}{{.}} {{end}}"), "api web ");
    assert_eq!(
        r("{{range .servers}}{{.host}}:{{.port}} {{end}}"),
        "h1:80 h2:81 "
    );
    assert_eq!(r("{{range .blank}}x{{else}}none{{end}}"), "none");
    assert_eq!(r("{{range .nothing}}x{{else}}nil{{end}}"), "nil");
    assert_eq!(r("{{range 3}}{{.}}{{end}}"), "012");
    assert_eq!(r("{{range .servers}}{{$.username}}{{end}}"), "alicealice");
    assert_eq!(
        r("{{range $i, $s := .servers}}{{if eq $i 1}}{{break}}{{end}}{{$s.host}}{{end}}"),
        "h1"
    );
    assert_eq!(
        r("{{range $i, $_ := .servers}}{{if eq $i 0}}{{continue}}{{end}}{{$i}}{{end}}"),
        "1"
    );
    assert_eq!(
        r("{{$n := 0}}{{range .tags_list}}{{$n = add $n 1}}{{end}}{{$n}}"),
        "2"
    );
    assert_eq!(
        r("{{range .servers}}{{range $.tags_list}}{{.}}{{end}}{{end}}"),
        "abcabc".replace('c', "\"c")
    );
    assert!(
        matches!(render_err("{{range .username}}{{end}}"), TemplateError::Exec { message, .. } if message.contains("string"))
    );
}

#[test]
fn variables() {
    assert_eq!(
        r("{{$x := .username}}{{$x}}-{{$x = \"bob\"}}{{$x}}"),
        "alice-bob"
    );
    assert_eq!(r("{{$}}").len(), r("{{.}}").len());
    assert_eq!(r("{{$r := .}}{{$r.username}}"), "alice");
    assert_eq!(
        r("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}"),
        "21"
    );
    assert_eq!(r("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}"), "2");
    assert_eq!(r("{{(index .servers 1).host}}"), "h2");
}

#[test]
fn every_function_through_templates() {
    assert_eq!(
        r("{{upper .username}} {{.username | upper}} {{lower \"AbC\"}} {{trim \"  x \"}}"),
        "ALICE ALICE abc x"
    );
    assert_eq!(
        r("{{.name | replace \"&\" \" and \"}} {{replace \"a\" \"o\" .username}}"),
        "a and b+c <x> olice"
    );
    assert_eq!(
        r("{{toJson .tags_list}} {{toJson .username}} {{.count | toJson}} {{toJson .labels}}"),
        r#"["a","b\"c"] "alice" 4 {"app":"api","tier":"web"}"#
    );
    assert_eq!(
        r(
            "{{add .replicas 1}} {{add 1 2 3}} {{sub 10 .replicas}} {{mul .replicas 2}} {{div 9 .replicas}}"
        ),
        "4 6 7 6 3"
    );
    assert_eq!(
        r("{{add .ratio 1}} {{div 1 2.0}} {{.replicas | add 1}}"),
        "1.5 0.5 4"
    );
    assert_eq!(
        r("{{eq .replicas 3}} {{eq .username \"bob\" \"alice\"}} {{ne 1 2}}"),
        "true true true"
    );
    assert_eq!(
        r("{{lt 1 2}} {{le 2 2}} {{gt .replicas \"10\"}} {{ge .count 4}}"),
        "true true true true"
    );
    assert_eq!(
        r("{{not .flag}} {{and 1 0}} {{or 0 \"\" \"x\"}}"),
        "false 0 x"
    );
    assert_eq!(
        r("{{len .tags_list}} {{len .username}} {{len .labels}}"),
        "2 5 2"
    );
    assert_eq!(
        r(
            "{{index .tags_list 0}} {{index .labels \"tier\"}} {{index .servers 1 \"port\"}} {{index .cfg \"db\" \"host\"}}"
        ),
        "a web 81 db1"
    );
    assert_eq!(
        r(
            "{{printf \"%s=%d %v %.2f %05.1f %x %t %q %%\" .username .count .flag .ratio 3.14159 255 true \"q\"}}"
        ),
        "alice=4 true 0.50 003.1 ff true \"q\" %"
    );
    assert_eq!(r("{{printf \"%d\" .replicas}}"), "3");
    assert_eq!(r("{{print \"a\" 1 2 \"b\"}}"), "a1 2b");
    assert_eq!(
        r("{{urlquery .name}} {{.name | urlquery}}"),
        "a%26b%2Bc+%3Cx%3E a%26b%2Bc+%3Cx%3E"
    );
    assert_eq!(
        r("{{b64enc .username}} {{\"YWxpY2U=\" | b64dec}} {{.username | b64enc | b64dec}}"),
        "YWxpY2U= alice alice"
    );
    assert_eq!(r("{{env \"APIRUN_TEMPLATE_TEST_UNSET_VAR\"}}|"), "|");
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(r("{{env \"PATH\"}}"), path);
    assert_eq!(r("{{default \"d\" .empty}}"), "d");
}

#[test]
fn function_errors_name_the_function() {
    let e = render_err("{{div .count 0}}");
    assert_eq!(
        e,
        TemplateError::Function {
            name: "div".into(),
            message: "division by zero".into(),
            line: 1,
            column: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "line 1, column 3: error calling `div`: division by zero"
    );
    assert!(
        matches!(render_err("{{add .username 1}}"), TemplateError::Function { name, .. } if name == "add")
    );
    assert!(
        matches!(render_err("{{\"x\" | b64dec}}"), TemplateError::Function { name, .. } if name == "b64dec")
    );
    assert!(
        matches!(render_err("{{index .tags_list 5}}"), TemplateError::Function { name, .. } if name == "index")
    );
}

#[test]
fn parse_errors() {
    let e = Template::parse("{{.x | nosuch}}").err();
    assert!(
        matches!(&e, Some(TemplateError::Parse { line: 1, column: 8, message }) if message.contains("function `nosuch` is not defined")),
        "{e:?}"
    );
    let e = Template::parse("line1\n{{if .x}}").err();
    assert!(
        matches!(
            e,
            Some(TemplateError::Parse {
                line: 2,
                column: 1,
                ..
            })
        ),
        "{e:?}"
    );
    assert!("{{".parse::<Template>().is_err());
    assert!("{{.x}}".parse::<Template>().is_ok());
}

#[test]
fn static_templates() {
    let plain = Template::parse("just text, $ and } and {").ok();
    assert_eq!(plain.as_ref().map(Template::is_static), Some(true));
    assert_eq!(
        plain
            .and_then(|t| t.render(&Context::default()).ok())
            .as_deref(),
        Some("just text, $ and } and {")
    );
    assert_eq!(Template::parse("").ok().map(|t| t.is_static()), Some(true));
    assert_eq!(
        Template::parse("{{.x}}").ok().map(|t| t.is_static()),
        Some(false)
    );
    assert_eq!(
        Template::parse("a{{/* c */}}").ok().map(|t| t.is_static()),
        Some(false)
    );
}

#[test]
fn realistic_json_body() {
    let src = r#"{"username": "{{.username}}", "tags": {{ toJson .tags_list }}, "n": {{ add .replicas 1 }}}"#;
    let t = match Template::parse(src) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let out = t.render(&ctx()).unwrap_or_default();
    assert_eq!(
        out,
        r#"{"username": "alice", "tags": ["a","b\"c"], "n": 4}"#
    );
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(
        parsed,
        json!({"username": "alice", "tags": ["a", "b\"c"], "n": 4})
    );
    let refs: Vec<_> = t
        .references()
        .into_iter()
        .map(|r| (r.name, r.kind, r.optional))
        .collect();
    assert_eq!(
        refs,
        vec![
            ("username".to_string(), RefKind::Var, false),
            ("tags_list".to_string(), RefKind::Var, false),
            ("replicas".to_string(), RefKind::Var, false),
        ]
    );
}

#[test]
fn references_public_api() {
    let t = match Template::parse(
        "{{.a}}{{.auth.admin}}{{.b | default \"x\"}}{{range .items}}{{.inner}}{{$.c}}{{end}}{{.env.a}}",
    ) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    // Each with where it is first used (the required use, when there is one).
    let refs: Vec<_> = t
        .references()
        .into_iter()
        .map(|r| (r.name, r.kind, r.optional, r.line, r.column))
        .collect();
    let var = |n: &str, optional, column| (n.to_string(), RefKind::Var, optional, 1, column);
    assert_eq!(
        refs,
        vec![
            var("a", false, 3),
            ("admin".to_string(), RefKind::Auth, false, 1, 9),
            var("b", true, 24),
            var("items", false, 50),
            var("c", false, 70),
        ]
    );
    let t = match Template::parse("{{.x | default \"d\"}}\n  {{.x}}") {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let first = &t.references()[0];
    assert_eq!((first.optional, first.line, first.column), (false, 2, 5));
}

#[test]
fn templates_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Template>();
    check::<Context>();
    check::<TemplateError>();
}

#[test]
fn edge_cases() {
    assert_eq!(r("a\r\n{{- .username -}}\r\nb"), "aaliceb");
    assert_eq!(
        r("{{range $i, $_ := 1000000000000}}{{if eq $i 2}}{{break}}{{end}}{{$i}}{{end}}"),
        "01"
    );
    assert_eq!(r("{{range -5}}x{{else}}none{{end}}"), "none");
    assert_eq!(r("{{range .tags_list}}{{else}}{{end}}|"), "|");
    assert_eq!(r("{{ \"héllo wörld\" | upper }}"), "HÉLLO WÖRLD");
    assert_eq!(r("{{.username}}{{/* trailing */}}"), "alice");
    assert_eq!(r("}} {{.username}} }}"), "}} alice }}");
    assert_eq!(r(r#"{{"}}"}}{{`{{`}}{{"{{.x}}"}}"#), "}}{{{{.x}}");
    assert_eq!(r("{{print}}|{{urlquery}}|"), "||");
    assert_eq!(
        r("{{.replicas | eq \"3\"}} {{.count | printf \"%03d\"}}"),
        "true 004"
    );
}

fn limit_err(src: &str, limits: &Limits) -> TemplateError {
    let t = match Template::parse(src) {
        Ok(t) => t,
        Err(e) => panic!("parse {src:?}: {e}"),
    };
    match t.render_with(&ctx(), limits) {
        Ok(s) => panic!("expected an error for {src:?}, got {} bytes", s.len()),
        Err(e) => e,
    }
}

#[test]
fn hostile_printf_widths_are_errors_not_panics() {
    // Literal formats are refused when parsing (so `validate` sees them).
    for src in [
        "{{printf \"%.70000f\" 1.0}}",
        "{{printf \"%0999999999d\" 1}}",
        "{{printf \"%99999999999999999999999s\" 1}}",
    ] {
        let e = Template::parse(src).err();
        assert!(
            matches!(&e, Some(TemplateError::Parse { message, .. }) if message.contains("larger than the limit 65535")),
            "{src}: {e:?}"
        );
    }
    // A format from data fails at render time, with no panic.
    let mut c = ctx();
    c.vars.insert("fmt".into(), Value::from("%.70000f"));
    let e = Template::parse("{{printf .fmt 1.0}}").and_then(|t| t.render(&c));
    assert!(
        matches!(&e, Err(TemplateError::Function { name, message, .. }) if name == "printf" && message.contains("precision 70000")),
        "{e:?}"
    );
    // The largest allowed precision works.
    assert_eq!(r("{{printf \"%.65535f\" 1.0}}").len(), 65537);
}

#[test]
fn output_and_step_budgets() {
    let small = Limits {
        max_output_bytes: 1000,
        max_steps: 10_000,
    };
    // Output: text, values, and intermediate strings.
    for src in [
        "{{range 200}}0123456789{{end}}",
        "{{range 200}}{{$.username}}{{$.username}}{{end}}",
        "{{$a := \"xy\"}}{{range 20}}{{$a = print $a $a}}{{end}}",
        "{{$a := \"xy\"}}{{range 20}}{{$a = printf \"%s%s\" $a $a}}{{end}}",
        "{{printf \"%01001d\" 1}}",
        "{{$a := \"xy\"}}{{range 20}}{{$a = replace \"x\" $a $a}}{{end}}",
        "{{replace \"\" \"0123456789\" \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"}}",
    ] {
        let e = limit_err(src, &small);
        assert!(
            matches!(
                &e,
                TemplateError::Limit { .. } | TemplateError::Function { .. }
            ) && e.to_string().contains("1000 bytes"),
            "{src}: {e:?}"
        );
    }
    // Steps: loops, with or without output.
    for src in [
        "{{range 1000000}}{{end}}",
        "{{range $i := 100000}}{{if eq $i -1}}x{{end}}{{end}}",
        "{{range 100}}{{range 100}}{{range 100}}{{end}}{{end}}{{end}}",
    ] {
        let e = limit_err(src, &small);
        assert!(
            matches!(&e, TemplateError::Limit { message, .. } if message.contains("10000 evaluation steps")),
            "{src}: {e:?}"
        );
    }
    // The defaults: a huge literal range is refused when parsing ...
    let e = Template::parse("{{range 1000000000}}x{{end}}").err();
    assert!(
        matches!(&e, Some(TemplateError::Parse { message, .. }) if message.contains("evaluation steps")),
        "{e:?}"
    );
    // ... and a computed one when rendering.
    let e = render_err("{{range (mul 1000 1000000)}}{{end}}");
    assert!(matches!(e, TemplateError::Limit { .. }), "{e:?}");
    // Doubling a variable 40 times stops at the default output budget.
    let mut src = String::from("{{$a := \"x\"}}");
    for _ in 0..40 {
        src.push_str("{{$a = print $a $a}}");
    }
    assert!(
        render_err(&src).to_string().contains("per rendered string"),
        "{src}"
    );
    // Ordinary templates are far below the budgets.
    assert_eq!(r("{{range 3}}{{.}}{{end}}"), "012");
}

#[test]
fn too_many_variables_is_a_parse_error() {
    let src: String = (0..1001).map(|i| format!("{{{{$v{i} := 1}}}}")).collect();
    let e = Template::parse(&src).err();
    assert!(
        matches!(&e, Some(TemplateError::Parse { message, .. }) if message.contains("more than 1000 variables")),
        "{e:?}"
    );
    let src: String = (0..1000).map(|i| format!("{{{{$v{i} := 1}}}}")).collect();
    assert!(Template::parse(&src).is_ok());
}

/// Many flat actions on one line parse in linear time (the column of a
/// token used to be counted from the start of its line). Checked by
/// behaviour, not the clock: positions stay right at the far end.
#[test]
fn long_single_line_positions() {
    let mut src = "{{.username}}".repeat(20_000);
    src.push_str("{{.missing}}");
    let e = render_err(&src);
    assert_eq!(e.position(), (1, 20_000 * 13 + 3));
    let e = render_err(&format!("é\n{}{{{{.missing}}}}", "ü".repeat(5)));
    assert_eq!(e.position(), (2, 8));
}

/// Pseudo-random token soup must give `Ok` or `Err`, never a panic.
#[test]
fn no_panics_on_garbage() {
    const PIECES: [&str; 44] = [
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "/*",
        "*/",
        " ",
        ".",
        ".username",
        ".x",
        ".auth.admin",
        ".env.count",
        "$",
        "$x",
        "$.servers",
        ":=",
        "=",
        "|",
        "(",
        ")",
        ",",
        "if",
        "else",
        "end",
        "range",
        "with",
        "break",
        "default",
        "printf",
        "index",
        "add",
        "div",
        "eq",
        "\"s\"",
        "`r`",
        "'c'",
        "0",
        "-1",
        "2.5",
        "nil",
        "true",
        "\\",
        "é",
        "\n",
    ];
    let c = ctx();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4000 {
        let mut src = String::new();
        let len = 1 + (seed % 24) as usize;
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            src.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
        }
        if let Ok(t) = Template::parse(&src) {
            let _ = t.render(&c);
            let _ = t.references();
        }
    }
}

/// Renders a ~2 KB JSON body with 20 variables many times; a loose bound
/// (debug build, shared 2-core machine) that still catches accidental
/// quadratic behaviour. Typical: a few microseconds per render in release.
#[test]
fn render_is_fast() {
    let mut src = String::from("{");
    let mut c = Context::default();
    for i in 0..20 {
        c.vars
            .insert(format!("v{i}"), Value::from(format!("value-{i}")));
        src.push_str(&format!(
                "\"field_{i}\": \"{{{{.v{i}}}}}\", \"static_padding_{i}\": \"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\", "
            ));
    }
    src.push_str("\"end\": true}");
    assert!(src.len() > 2000, "{}", src.len());
    let t = match Template::parse(&src) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let start = std::time::Instant::now();
    let n = 2000;
    for _ in 0..n {
        let out = t.render(&c).unwrap_or_default();
        assert!(out.contains("\"field_19\": \"value-19\""));
    }
    let per = start.elapsed() / n;
    assert!(
        per < std::time::Duration::from_micros(500),
        "{per:?} per render"
    );
}
