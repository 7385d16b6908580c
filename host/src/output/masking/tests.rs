use super::*;
use std::time::Instant;

fn masked(m: &Masker, text: &str) -> String {
    m.mask(text).into_owned()
}

#[test]
fn registered_values_are_masked_everywhere() {
    let m = Masker::new();
    assert!(m.add_secret("hunter2!"));
    assert!(!m.add_secret("hunter2!"), "already known");
    assert_eq!(m.secret_count(), 1);
    assert_eq!(
        masked(&m, "login with hunter2! then hunter2!"),
        "login with *** then ***"
    );
    // JSON-escaped and percent-encoded forms too.
    let m = Masker::new();
    m.add_secret("p\"a ss/word");
    assert_eq!(masked(&m, r#"{"x":"p\"a ss/word"}"#), r#"{"x":"***"}"#);
    assert_eq!(masked(&m, "u?x=p%22a%20ss%2Fword&y=1"), "u?x=***&y=1");
    assert_eq!(masked(&m, "x=p%22a+ss%2Fword"), "x=***");
}

#[test]
fn longest_registered_value_wins() {
    let m = Masker::new();
    m.add_secrets(["abcd", "abcdefgh"]);
    assert_eq!(masked(&m, "xx abcdefgh yy abcd"), "xx *** yy ***");
}

#[test]
fn short_and_trivial_values_are_not_registered() {
    let m = Masker::new();
    assert!(!m.add_secret("abc"));
    assert!(!m.add_secret("  ab  "));
    assert!(!m.add_secret("true"));
    assert!(!m.add_secret("NULL"));
    assert!(!m.add_secret(""));
    assert!(m.add_secret("abcd"));
    assert_eq!(m.secret_count(), 1);
    assert_eq!(masked(&m, "abc true null abcd"), "abc true null ***");
    // Surrounding whitespace is trimmed before registering.
    assert!(m.add_secret("  s3cr3t  "));
    assert_eq!(masked(&m, "v=s3cr3t;"), "v=***;");
}

#[test]
fn multi_line_values_are_masked_line_by_line() {
    let m = Masker::new();
    let pem = "-----BEGIN KEY-----\nAAAABBBBCCCC\nDDDDEEEE\n-----END KEY-----";
    m.add_secret(pem);
    assert_eq!(masked(&m, &format!("key: [{pem}]")), "key: [***]");
    assert_eq!(masked(&m, "line DDDDEEEE here"), "line *** here");
}

#[test]
fn add_variable_registers_only_secret_names() {
    let m = Masker::new();
    assert!(m.add_variable("admin_password", "s3cret-pw"));
    assert!(!m.add_variable("vpc_id", "vpc-12345"));
    assert_eq!(masked(&m, "vpc-12345 s3cret-pw"), "vpc-12345 ***");
}

#[test]
fn secret_names() {
    for name in [
        "password",
        "ADMIN_PASSWORD",
        "db_passwd",
        "secret",
        "client_secret",
        "aws_secret_key",
        "token",
        "k8s_token",
        "accessToken",
        "api_key",
        "apiKey",
        "X-API-Key",
        "apikey",
        "access_key",
        "aws_access_key",
        "private_key",
        "privateKey",
        "credential",
        "credentials",
        "auth",
        "x-auth",
        "Authorization",
        "Proxy-Authorization",
        "pwd",
        "Cookie",
        "set-cookie",
    ] {
        assert!(Masker::is_secret_name(name), "{name} should look secret");
    }
    for name in [
        "username",
        "vpc_id",
        "db_endpoint",
        "author",
        "oauth",
        "auth_name",
        "auth_type",
        "token_url",
        "password_file",
        "environment",
        "",
        "___",
    ] {
        assert!(
            !Masker::is_secret_name(name),
            "{name} should not look secret"
        );
    }
}

#[test]
fn secret_fields_of_a_config_are_registered() {
    let m = Masker::new();
    let config = serde_json::json!({
        "token_url": "https://sso.example.com/token",
        "client_id": "app-1234",
        "client_secret": "cs-literal-9876",
        "password": "{{.admin_password}}",
        "grant_config": {"refresh_token": "rt-abcdef", "scopes": ["read"]},
        "api_keys": ["k-one-1111", 12345678],
    });
    assert_eq!(m.add_secret_fields(&config), 4);
    assert_eq!(
        masked(&m, "cs-literal-9876 rt-abcdef k-one-1111 12345678 app-1234"),
        "*** *** *** *** app-1234"
    );
    assert_eq!(masked(&m, "{{.admin_password}}"), "{{.admin_password}}");
}

#[test]
fn authorization_header_values() {
    let m = Masker::new();
    assert_eq!(
        masked(&m, "Authorization: Bearer eyJhbGciOi.J9.abc"),
        "Authorization: Bearer ***"
    );
    assert_eq!(
        masked(&m, "authorization: Basic dXNlcjpwYXNz"),
        "authorization: Basic ***"
    );
    assert_eq!(
        masked(&m, "Authorization: sometoken123\nnext line"),
        "Authorization: ***\nnext line"
    );
    assert_eq!(
        masked(&m, "> Proxy-Authorization: Basic dXNlcjpwYXNz"),
        "> Proxy-Authorization: Basic ***"
    );
    assert_eq!(
        masked(&m, r#"{"Authorization": "Token abcd1234"}"#),
        r#"{"Authorization": "Token ***"}"#
    );
    assert_eq!(
        masked(&m, "headers: authorization=\"Bearer abc.def\" ok"),
        "headers: authorization=\"Bearer ***\" ok"
    );
    // The Go tool's users log header maps as JSON.
    assert_eq!(
        masked(&m, r#"{"authorization":"opaque-value-1","x":"y"}"#),
        r#"{"authorization":"***","x":"y"}"#
    );
}

#[test]
fn bearer_and_basic_tokens() {
    let m = Masker::new();
    assert_eq!(
        masked(&m, "sent Bearer abc123.def-_~+/=="),
        "sent Bearer ***"
    );
    assert_eq!(
        masked(&m, "acquired bearer token for api"),
        "acquired bearer token for api"
    );
    // base64("admin:secret") is credentials; "setup" is a word.
    assert_eq!(masked(&m, "Basic YWRtaW46c2VjcmV0"), "Basic ***");
    assert_eq!(
        masked(&m, "basic setup done with Basic auth"),
        "basic setup done with Basic auth"
    );
}

#[test]
fn json_keys_keep_json_valid() {
    let m = Masker::new();
    let body = r#"{"username":"admin","password":"p\"w","nested":{"client_secret":"abc","id":7},"api_key":"","token_url":"https://x"}"#;
    let out = masked(&m, body);
    assert_eq!(
        out,
        r#"{"username":"admin","password":"***","nested":{"client_secret":"***","id":7},"api_key":"","token_url":"https://x"}"#
    );
    let parsed: Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(parsed["password"], "***");
    // JSON quoted inside a JSON string.
    let inner = r#"{"msg":"body {\"password\": \"pw1234\", \"user\": \"bob\"}"}"#;
    let out = masked(&m, inner);
    assert_eq!(
        out,
        r#"{"msg":"body {\"password\": \"***\", \"user\": \"bob\"}"}"#
    );
    serde_json::from_str::<Value>(&out).expect("still JSON");
}

#[test]
fn mask_json_values_in_place() {
    let m = Masker::new();
    m.add_secret("tok-999999");
    let mut v: Value = serde_json::json!({
        "message": "using tok-999999",
        "pin_token": 123456,
        "api_keys": ["a1b2c3", 42, null],
        "credentials": {"user": "bob", "password": "x"},
        "enabled": true,
        "auth_enabled": true,
    });
    assert!(m.mask_json(&mut v));
    assert!(!m.mask_json(&mut v), "nothing left to mask");
    assert_eq!(
        v,
        serde_json::json!({
            "message": "using ***",
            "pin_token": "***",
            "api_keys": ["***", "***", null],
            "credentials": {"user": "bob", "password": "***"},
            "enabled": true,
            "auth_enabled": true,
        })
    );
}

#[test]
fn url_userinfo() {
    let m = Masker::new();
    assert_eq!(
        masked(&m, "GET https://admin:s3cr3t@api.example.com/x"),
        "GET https://admin:***@api.example.com/x"
    );
    assert_eq!(
        masked(&m, "postgres://u:p@ss@db:5432/app"),
        "postgres://u:***@db:5432/app"
    );
    assert_eq!(
        masked(&m, "https://api.example.com:8443/x and me@x.com"),
        "https://api.example.com:8443/x and me@x.com"
    );
    assert_eq!(masked(&m, "https://user:@h/"), "https://user:@h/");
}

#[test]
fn query_and_form_parameters() {
    let m = Masker::new();
    assert_eq!(
        masked(&m, "GET https://h/cb?code=1&access_token=abc.def&x=2#frag"),
        "GET https://h/cb?code=1&access_token=***&x=2#frag"
    );
    assert_eq!(
        masked(&m, "grant_type=password&username=u&password=pw%21x"),
        "grant_type=password&username=u&password=***"
    );
    assert_eq!(
        masked(&m, "client_secret=abc&client_id=app"),
        "client_secret=***&client_id=app"
    );
    // tracing's text format: name=value, name="value".
    assert_eq!(
        masked(&m, r#"INFO step auth_name=basic token="t k\"n" status=201"#),
        r#"INFO step auth_name=basic token="***" status=201"#
    );
    // ... and its colour format.
    assert_eq!(
        masked(
            &m,
            "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0mhunter22 \x1b[3mid\x1b[0m"
        ),
        "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0m*** \x1b[3mid\x1b[0m"
    );
}

#[test]
fn header_lines_with_secret_names() {
    let m = Masker::new();
    assert_eq!(
        masked(&m, "> POST /x\n> X-Api-Key: k-123\n> Accept: */*"),
        "> POST /x\n> X-Api-Key: ***\n> Accept: */*"
    );
    assert_eq!(
        masked(&m, "  admin_password: pw\n  vpc_id: vpc-1"),
        "  admin_password: ***\n  vpc_id: vpc-1"
    );
    // Mid-line "token:" in a message is left alone.
    assert_eq!(
        masked(&m, "failed to acquire token: connection refused"),
        "failed to acquire token: connection refused"
    );
}

#[test]
fn user_patterns() {
    let m = Masker::from_config(true, &[r"ssn=(\d{3}-\d{2}-\d{4})", r"AKIA[0-9A-Z]{16}"])
        .expect("valid patterns");
    assert_eq!(
        masked(&m, "ssn=123-45-6789 key AKIAABCDEFGHIJKLMNOP end"),
        "ssn=*** key *** end"
    );
    // A pattern matching the empty string masks nothing extra.
    let m = Masker::from_config(true, &["x*"]).expect("valid");
    assert_eq!(masked(&m, "abxxc"), "ab***c");
    let err = Masker::from_config(true, &["ok", "(unclosed"]).expect_err("invalid");
    let MaskError::InvalidPattern { index, .. } = &err;
    assert_eq!(*index, 1);
    assert!(err.to_string().contains("logging.masking.patterns[1]"));
}

#[test]
fn disabled_masks_nothing() {
    let m = Masker::from_config(false, &["secret"]).expect("valid");
    assert!(!m.is_enabled());
    m.add_secret("hunter22");
    let text = r#"hunter22 Authorization: Bearer abc123 {"password":"x"} https://u:p@h ?token=t"#;
    assert!(matches!(m.mask(text), Cow::Borrowed(_)));
    assert_eq!(m.mask(text), text);
    assert_eq!(m.mask_variable("password", "x"), "x");
    let mut v = serde_json::json!({"password": "x"});
    assert!(!m.mask_json(&mut v));
    assert_eq!(v["password"], "x");
    assert!(matches!(Masker::disabled().mask(text), Cow::Borrowed(_)));
}

#[test]
fn unmasked_text_is_borrowed() {
    let m = Masker::new();
    m.add_secret("hunter22");
    assert!(matches!(
        m.mask("GET https://api/x 200 in 12 ms"),
        Cow::Borrowed(_)
    ));
    // Masking is idempotent.
    let once = masked(&m, r#"password=hunter22 {"token": "abc"}"#);
    assert_eq!(masked(&m, &once), once);
}

#[test]
fn mask_variable_hides_any_secret_named_value() {
    let m = Masker::new();
    assert_eq!(m.mask_variable("k8s_token", "ab"), "***");
    assert_eq!(m.mask_variable("k8s_token", ""), "");
    assert_eq!(m.mask_variable("vpc_id", "vpc-1"), "vpc-1");
    m.add_secret("embedded-secret");
    assert_eq!(
        m.mask_variable("url", "https://h/?x=embedded-secret"),
        "https://h/?x=***"
    );
}

#[test]
fn concurrent_add_and_mask() {
    let m = Arc::new(Masker::new());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let s = format!("secret-{t}-{i}");
                    m.add_secret(&s);
                    assert_eq!(m.mask(&format!("v {s} v")), "v *** v");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(m.secret_count(), 200);
}

#[test]
fn benchmark_10kb_with_50_secrets() {
    let m = Masker::new();
    let secrets: Vec<String> = (0..50)
        .map(|i| format!("s3cr3t-value-{i:03}-xyz"))
        .collect();
    m.add_secrets(secrets.iter().map(String::as_str));
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 10 * 1024 {
        text.push_str(&format!(
            "2026-01-01T00:00:00Z INFO step {i} POST https://api.example.com/v1/items status=201 \
                 body={{\"id\": {i}, \"name\": \"item\"}} value {}\n",
            secrets[i % secrets.len()]
        ));
        i += 1;
    }
    let rounds = 200;
    let start = Instant::now();
    let mut out_len = 0;
    for _ in 0..rounds {
        out_len = m.mask(&text).len();
    }
    let per = start.elapsed() / rounds;
    println!(
        "masking {} bytes with 50 secrets: {per:?} per pass ({} -> {out_len} bytes)",
        text.len(),
        text.len()
    );
    let out = m.mask(&text);
    assert!(!secrets.iter().any(|s| out.contains(s.as_str())));
}

#[test]
fn base64() {
    assert_eq!(
        base64_decode("YWRtaW46c2VjcmV0"),
        Some(b"admin:secret".to_vec())
    );
    assert_eq!(base64_decode("YQ=="), Some(b"a".to_vec()));
    assert_eq!(base64_decode("YQ"), Some(b"a".to_vec()));
    assert_eq!(base64_decode("a"), None);
    assert_eq!(base64_decode("a-b_"), None);
}
