//! Native tests of the pure logic (no `host::send`).

use super::*;

fn request(config: &str) -> HttpRequest {
    build_request(&parse_config(config).expect("valid config"))
}

fn form(request: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(request.body.as_deref().unwrap())
        .into_owned()
        .collect()
}

fn param(request: &HttpRequest, name: &str) -> Option<String> {
    form(request)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn header_value(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.clone())
}

fn invalid_config(config: &str) -> String {
    match parse_config(config) {
        Err(PluginError::InvalidConfig(message)) => message,
        Err(other) => panic!("expected invalid-config, got {other:?}"),
        Ok(settings) => panic!("expected invalid-config, got {settings:?}"),
    }
}

fn failed(result: Result<Credential, PluginError>) -> String {
    match result {
        Err(PluginError::Failed(message)) => message,
        Err(other) => panic!("expected failed, got {other:?}"),
        Ok(c) => panic!("expected failed, got token {}", c.token),
    }
}

const CC: &str = r#"{"grant_type":"client_credentials","client_id":"app","client_secret":"s3cret",
    "token_url":"https://sso.example.com/token","scopes":["read","write"]}"#;

#[test]
fn client_credentials_flat() {
    let req = request(CC);
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://sso.example.com/token");
    assert_eq!(
        form(&req),
        [
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
            ("client_id", "app"),
            ("client_secret", "s3cret"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(
        header_value(&req, "content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        header_value(&req, "accept").as_deref(),
        Some("application/json")
    );
    assert_eq!(header_value(&req, "authorization"), None);
    assert_eq!(req.retry, Some(true));
}

#[test]
fn grant_config_nested_as_the_go_code_reads_it() {
    let req = request(
        r#"{"grant_type":"client_credentials","grant_config":{"client_id":"app",
        "client_secret":"x","token_url":"http://127.0.0.1:8080/token"}}"#,
    );
    assert_eq!(req.url, "http://127.0.0.1:8080/token");
    assert_eq!(param(&req, "client_id").as_deref(), Some("app"));
}

#[test]
fn nested_values_win_over_flat_ones_and_null_does_not_hide() {
    let req = request(
        r#"{"grant_type":"client_credentials","client_id":"flat","client_secret":"flat-secret",
        "token_url":"http://a/token","grant_config":{"client_id":"nested","client_secret":null}}"#,
    );
    assert_eq!(param(&req, "client_id").as_deref(), Some("nested"));
    assert_eq!(param(&req, "client_secret").as_deref(), Some("flat-secret"));
}

#[test]
fn scopes_as_string_or_list() {
    let base = r#""grant_type":"client_credentials","client_id":"a","client_secret":"b","token_url":"http://a/t""#;
    let scope = |extra: &str| param(&request(&format!("{{{base},{extra}}}")), "scope");
    assert_eq!(
        scope(r#""scopes":"read  write""#).as_deref(),
        Some("read write")
    );
    assert_eq!(
        scope(r#""scopes":"read,write""#).as_deref(),
        Some("read write")
    );
    assert_eq!(scope(r#""scope":"openid""#).as_deref(), Some("openid"));
    assert_eq!(scope(r#""scopes":[]"#), None);
    assert_eq!(scope(r#""scopes":null"#), None);
}

#[test]
fn password_grant() {
    let req = request(
        r#"{"grant_type":"password","token_url":"http://a/token","client_id":"cli",
        "username":"alice","password":"p w&d"}"#,
    );
    assert_eq!(param(&req, "grant_type").as_deref(), Some("password"));
    assert_eq!(param(&req, "username").as_deref(), Some("alice"));
    assert_eq!(param(&req, "password").as_deref(), Some("p w&d"));
    assert_eq!(param(&req, "client_id").as_deref(), Some("cli"));
    assert_eq!(param(&req, "client_secret"), None);
    assert_eq!(req.retry, Some(true));
}

#[test]
fn password_grant_needs_username_and_password() {
    let message =
        invalid_config(r#"{"grant_type":"password","token_url":"http://a/t","password":"x"}"#);
    assert!(message.contains("`username`"), "{message}");
    let message =
        invalid_config(r#"{"grant_type":"password","token_url":"http://a/t","username":"u"}"#);
    assert!(message.contains("`password`"), "{message}");
    let message = invalid_config(
        r#"{"grant_type":"password","token_url":"http://a/t","username":"u","password":""}"#,
    );
    assert!(message.contains("`password`"), "{message}");
}

#[test]
fn refresh_token_grant_is_not_retried() {
    let req = request(
        r#"{"grant_type":"refresh_token","token_url":"http://a/t","refresh_token":"rt-1"}"#,
    );
    assert_eq!(param(&req, "grant_type").as_deref(), Some("refresh_token"));
    assert_eq!(param(&req, "refresh_token").as_deref(), Some("rt-1"));
    assert_eq!(req.retry, Some(false));
    let message = invalid_config(r#"{"grant_type":"refresh_token","token_url":"http://a/t"}"#);
    assert!(message.contains("`refresh_token`"), "{message}");
}

#[test]
fn auth_style_header_sends_form_encoded_basic_credentials() {
    let req = request(
        r#"{"grant_type":"client_credentials","client_id":"my client","client_secret":"p@ss:w/rd",
        "token_url":"http://a/t","auth_style":"header"}"#,
    );
    let expected = base64::engine::general_purpose::STANDARD.encode("my+client:p%40ss%3Aw%2Frd");
    assert_eq!(
        header_value(&req, "authorization"),
        Some(format!("Basic {expected}"))
    );
    assert_eq!(param(&req, "client_id"), None);
    assert_eq!(param(&req, "client_secret"), None);
}

#[test]
fn auth_style_header_needs_a_client_id_and_unknown_styles_are_refused() {
    let message = invalid_config(
        r#"{"grant_type":"password","token_url":"http://a/t","username":"u","password":"p","auth_style":"header"}"#,
    );
    assert!(message.contains("`client_id`"), "{message}");
    let message = invalid_config(
        r#"{"grant_type":"refresh_token","token_url":"http://a/t","refresh_token":"r","auth_style":"jwt"}"#,
    );
    assert!(message.contains("auth_style"), "{message}");
}

#[test]
fn browser_grants_are_refused_with_the_working_ones_named() {
    for grant in [
        "authorization_code",
        "implicit",
        "device_code",
        "Authorization-Code",
    ] {
        let message = invalid_config(&format!(
            r#"{{"grant_type":"{grant}","token_url":"http://a/t"}}"#
        ));
        assert!(message.contains("browser"), "{message}");
        assert!(
            message.contains("client_credentials, password or refresh_token"),
            "{message}"
        );
    }
}

#[test]
fn missing_or_unknown_grant_type() {
    let message = invalid_config(r#"{"token_url":"http://a/t"}"#);
    assert!(message.contains("`grant_type` is missing"), "{message}");
    let message = invalid_config(r#"{"grant_type":"saml2","token_url":"http://a/t"}"#);
    assert!(
        message.contains("unsupported grant_type \"saml2\""),
        "{message}"
    );
}

#[test]
fn client_credentials_needs_token_url_id_and_secret() {
    let message = invalid_config(
        r#"{"grant_type":"client_credentials","client_id":"a","client_secret":"b"}"#,
    );
    assert!(message.contains("`token_url` is missing"), "{message}");
    let message = invalid_config(
        r#"{"grant_type":"client_credentials","token_url":"http://a/t","client_id":"a"}"#,
    );
    assert!(message.contains("`client_secret`"), "{message}");
    let message = invalid_config(
        r#"{"grant_type":"client_credentials","token_url":"http://a/t","client_secret":"b"}"#,
    );
    assert!(message.contains("`client_id`"), "{message}");
    let message = invalid_config(
        r#"{"grant_type":"client_credentials","token_url":"sso/token","client_id":"a","client_secret":"b"}"#,
    );
    assert!(message.contains("absolute http(s) URL"), "{message}");
}

#[test]
fn numbers_and_bools_are_accepted_as_text() {
    let req = request(
        r#"{"grant_type":"client_credentials","client_id":12345,"client_secret":true,
        "token_url":"http://a/t","audience":1.5}"#,
    );
    assert_eq!(param(&req, "client_id").as_deref(), Some("12345"));
    assert_eq!(param(&req, "client_secret").as_deref(), Some("true"));
    assert_eq!(param(&req, "audience").as_deref(), Some("1.5"));
    let message = invalid_config(
        r#"{"grant_type":"client_credentials","client_id":["a"],"token_url":"http://a/t"}"#,
    );
    assert!(
        message.contains("`client_id` must be a string"),
        "{message}"
    );
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    let message = invalid_config(
        r#"{"grant_type":"client_credentials","client_id":"a","client_secert":"b","token_url":"http://a/t"}"#,
    );
    assert!(message.contains("`client_secert`"), "{message}");
    assert!(
        message.contains("did you mean `client_secret`"),
        "{message}"
    );
    let message = invalid_config(r#"{"grant_type":"password","grant_config":{"zzzzzzzzzzzz":1}}"#);
    assert!(message.contains("known keys:"), "{message}");
}

#[test]
fn go_tool_keys_auth_url_and_redirect_url_are_accepted() {
    request(
        r#"{"grant_type":"password","grant_config":{"token_url":"http://a/t","auth_url":"http://a/auth",
        "redirect_url":"http://cb","client_id":"c","username":"u","password":"p"}}"#,
    );
}

#[test]
fn audience_and_extra_params() {
    let req = request(
        r#"{"grant_type":"client_credentials","client_id":"a","client_secret":"b","token_url":"http://a/t",
        "audience":"https://api","extra_params":{"resource":["r1","r2"],"tenant":7}}"#,
    );
    let params = form(&req);
    let has = |k: &str, v: &str| params.iter().any(|(pk, pv)| pk == k && pv == v);
    assert!(has("audience", "https://api"));
    assert!(has("resource", "r1") && has("resource", "r2"));
    assert!(has("tenant", "7"));
}

#[test]
fn extra_params_may_not_repeat_standard_parameters() {
    let message = invalid_config(
        r#"{"grant_type":"client_credentials","client_id":"a","client_secret":"b","token_url":"http://a/t",
        "extra_params":{"scope":"x"}}"#,
    );
    assert!(message.contains("extra_params.scope"), "{message}");
    assert!(message.contains("`scopes`"), "{message}");
    let message = invalid_config(
        r#"{"grant_type":"client_credentials","client_id":"a","client_secret":"b","token_url":"http://a/t",
        "extra_params":"x=1"}"#,
    );
    assert!(
        message.contains("`extra_params` must be an object"),
        "{message}"
    );
}

#[test]
fn config_shape_errors() {
    assert!(invalid_config("null").contains("config is missing"));
    assert!(invalid_config("[1]").contains("must be an object"));
    assert!(invalid_config("{").contains("not JSON"));
    assert!(
        invalid_config(r#"{"grant_type":"password","grant_config":"x"}"#)
            .contains("`grant_config` must be an object")
    );
}

#[test]
fn success_response_becomes_a_bearer_credential() {
    let credential = parse_token_response(
        "http://a/t",
        200,
        br#"{"access_token":"abc.def","token_type":"bearer","expires_in":3600,"scope":"read"}"#,
    )
    .unwrap();
    assert_eq!(credential.header_name, "Authorization");
    assert_eq!(credential.header_value, "Bearer abc.def");
    assert_eq!(credential.token, "abc.def");
    assert_eq!(credential.expires_in_secs, Some(3600));
}

#[test]
fn expires_in_as_string_float_or_absent() {
    let expires = |body: &str| {
        parse_token_response("http://a/t", 200, body.as_bytes())
            .unwrap()
            .expires_in_secs
    };
    assert_eq!(
        expires(r#"{"access_token":"t","expires_in":"120"}"#),
        Some(120)
    );
    assert_eq!(
        expires(r#"{"access_token":"t","expires_in":59.9}"#),
        Some(59)
    );
    assert_eq!(expires(r#"{"access_token":"t"}"#), None);
    assert_eq!(expires(r#"{"access_token":"t","expires_in":-5}"#), None);
    assert_eq!(expires(r#"{"access_token":"t","expires_in":"soon"}"#), None);
}

#[test]
fn form_encoded_success_response() {
    let credential = parse_token_response(
        "http://a/t",
        200,
        b"access_token=gho_16C7&scope=repo&token_type=bearer",
    )
    .unwrap();
    assert_eq!(credential.token, "gho_16C7");
    assert_eq!(credential.expires_in_secs, None);
}

#[test]
fn error_response_names_status_and_server_error() {
    let message = failed(parse_token_response(
        "http://a/t",
        401,
        br#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
    ));
    assert!(message.contains("http://a/t"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert!(
        message.contains("invalid_client: Client authentication failed"),
        "{message}"
    );
    let message = failed(parse_token_response(
        "http://a/t",
        400,
        br#"{"error":"invalid_grant"}"#,
    ));
    assert!(
        message.ends_with("answered 400: invalid_grant"),
        "{message}"
    );
}

#[test]
fn non_json_error_body_is_quoted_briefly() {
    let body = format!("<html>{}</html>", "x".repeat(500));
    let message = failed(parse_token_response("http://a/t", 502, body.as_bytes()));
    assert!(message.contains("answered 502: <html>xxx"), "{message}");
    assert!(message.len() < 300, "{message}");
    let message = failed(parse_token_response("http://a/t", 500, b""));
    assert!(message.ends_with("answered 500"), "{message}");
}

#[test]
fn success_status_without_access_token_fails() {
    let message = failed(parse_token_response(
        "http://a/t",
        200,
        br#"{"error":"bad_verification_code"}"#,
    ));
    assert!(
        message.contains("without an access_token: bad_verification_code"),
        "{message}"
    );
    let message = failed(parse_token_response(
        "http://a/t",
        200,
        br#"{"access_token":""}"#,
    ));
    assert!(message.contains("without an access_token"), "{message}");
}

#[test]
fn error_json_without_oauth_fields_is_quoted_but_success_json_is_not() {
    let message = failed(parse_token_response(
        "http://a/t",
        403,
        br#"{"message":"Forbidden by gateway"}"#,
    ));
    assert!(
        message.ends_with(r#"answered 403: {"message":"Forbidden by gateway"}"#),
        "{message}"
    );
    let message = failed(parse_token_response(
        "http://a/t",
        200,
        br#"{"token":"secret"}"#,
    ));
    assert!(!message.contains("secret"), "{message}");
}
