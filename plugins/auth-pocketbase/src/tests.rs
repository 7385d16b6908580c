//! Native tests of the pure logic; `login` runs against a fake `send`.

use super::*;

fn settings(config: &str) -> Settings {
    parse_config(config).expect("valid config")
}

fn invalid_config(config: &str) -> String {
    match parse_config(config) {
        Err(PluginError::InvalidConfig(message)) => message,
        Err(other) => panic!("expected invalid-config, got {other:?}"),
        Ok(settings) => panic!("expected invalid-config, got {settings:?}"),
    }
}

fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}

/// Runs `login` with canned answers; returns the result and the URLs asked.
fn run(
    config: &str,
    answers: Vec<Result<HttpResponse, PluginError>>,
) -> (Result<Credential, PluginError>, Vec<String>) {
    let mut answers = answers.into_iter();
    let mut asked = Vec::new();
    let result = login(&settings(config), |request| {
        asked.push(request.url.clone());
        answers.next().expect("no more canned answers")
    });
    (result, asked)
}

fn failed(result: Result<Credential, PluginError>) -> String {
    match result {
        Err(PluginError::Failed(message)) => message,
        Err(other) => panic!("expected failed, got {other:?}"),
        Ok(c) => panic!("expected failed, got token {}", c.token),
    }
}

const SUPERUSER: &str =
    r#"{"base_url":"http://127.0.0.1:8090/","email":"admin@example.com","password":"pw"}"#;
const NEW_URL: &str = "http://127.0.0.1:8090/api/collections/_superusers/auth-with-password";
const OLD_URL: &str = "http://127.0.0.1:8090/api/admins/auth-with-password";

#[test]
fn superuser_request_shape() {
    let s = settings(SUPERUSER);
    assert_eq!(s.target, Target::Superuser);
    assert_eq!(login_urls(&s), [NEW_URL, OLD_URL]);
    let request = build_request(NEW_URL, &s);
    assert_eq!(request.method, "POST");
    let body: Value = serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"identity": "admin@example.com", "password": "pw"})
    );
    assert!(
        request
            .headers
            .iter()
            .any(|h| h.name == "Content-Type" && h.value == "application/json")
    );
    assert_eq!(request.retry, Some(true));
}

#[test]
fn superuser_login_returns_the_bare_token() {
    let (result, asked) = run(
        SUPERUSER,
        vec![Ok(response(
            200,
            r#"{"record":{"id":"x"},"token":"eyJ.abc.def"}"#,
        ))],
    );
    let credential = result.unwrap();
    assert_eq!(asked, [NEW_URL]);
    assert_eq!(credential.header_name, "Authorization");
    assert_eq!(credential.header_value, "eyJ.abc.def");
    assert_eq!(credential.token, "eyJ.abc.def");
    assert_eq!(credential.expires_in_secs, None);
}

#[test]
fn a_404_falls_back_to_the_legacy_admin_login() {
    let (result, asked) = run(
        SUPERUSER,
        vec![
            Ok(response(
                404,
                r#"{"data":{},"message":"Missing collection context.","status":404}"#,
            )),
            Ok(response(200, r#"{"admin":{"id":"a"},"token":"old-token"}"#)),
        ],
    );
    assert_eq!(result.unwrap().token, "old-token");
    assert_eq!(asked, [NEW_URL, OLD_URL]);
}

#[test]
fn two_404s_name_both_urls_and_the_base_url() {
    let (result, _) = run(
        SUPERUSER,
        vec![Ok(response(404, "")), Ok(response(404, "not found"))],
    );
    let message = failed(result);
    assert!(
        message.contains(NEW_URL) && message.contains(OLD_URL),
        "{message}"
    );
    assert!(
        message.contains("base_url (http://127.0.0.1:8090)"),
        "{message}"
    );
}

#[test]
fn wrong_password_fails_with_pocketbase_message_and_no_fallback() {
    let (result, asked) = run(
        SUPERUSER,
        vec![Ok(response(
            400,
            r#"{"data":{},"message":"Failed to authenticate.","status":400}"#,
        ))],
    );
    let message = failed(result);
    assert_eq!(asked, [NEW_URL]);
    assert_eq!(
        message,
        format!("pocketbase auth: {NEW_URL} answered 400: Failed to authenticate.")
    );
}

#[test]
fn field_errors_are_listed() {
    let body = r#"{"data":{"identity":{"code":"validation_required","message":"Cannot be blank."},
        "password":{"code":"validation_required","message":"Cannot be blank."}},
        "message":"An error occurred while validating the submitted data.","status":400}"#;
    let (result, _) = run(SUPERUSER, vec![Ok(response(400, body))]);
    let message = failed(result);
    assert!(
        message.ends_with("(identity: Cannot be blank.; password: Cannot be blank.)"),
        "{message}"
    );
}

#[test]
fn other_statuses_fail_with_status_and_text() {
    for status in [401, 403, 429, 500] {
        let (result, _) = run(
            SUPERUSER,
            vec![Ok(response(status, r#"{"message":"Nope.","data":{}}"#))],
        );
        let message = failed(result);
        assert!(
            message.contains(&format!("answered {status}: Nope.")),
            "{message}"
        );
    }
    let (result, _) = run(
        SUPERUSER,
        vec![Ok(response(502, "<html>Bad gateway</html>"))],
    );
    assert!(failed(result).ends_with("answered 502: <html>Bad gateway</html>"));
}

#[test]
fn transport_errors_pass_through() {
    let (result, _) = run(
        SUPERUSER,
        vec![Err(PluginError::Transport("connection refused".into()))],
    );
    assert!(matches!(result, Err(PluginError::Transport(m)) if m == "connection refused"));
}

#[test]
fn success_without_token_fails() {
    let (result, _) = run(SUPERUSER, vec![Ok(response(200, r#"{"record":{}}"#))]);
    assert!(failed(result).contains("without a token"));
    let (result, _) = run(SUPERUSER, vec![Ok(response(200, "ok"))]);
    assert!(failed(result).contains("without a token"));
}

#[test]
fn user_login_uses_the_collection() {
    let s = settings(
        r#"{"base_url":"https://pb.example.com","identity":"u@x.io","password":"p","type":"user"}"#,
    );
    assert_eq!(s.target, Target::Collection("users".into()));
    assert_eq!(
        login_urls(&s),
        ["https://pb.example.com/api/collections/users/auth-with-password"]
    );
    let s = settings(
        r#"{"base_url":"http://pb","email":"u","password":"p","type":"user","collection":"members"}"#,
    );
    assert_eq!(
        login_urls(&s),
        ["http://pb/api/collections/members/auth-with-password"]
    );
    // A collection without a type means a user collection.
    let s =
        settings(r#"{"base_url":"http://pb","email":"u","password":"p","collection":"members"}"#);
    assert_eq!(s.target, Target::Collection("members".into()));
}

#[test]
fn user_collection_404_is_not_retried_elsewhere() {
    let (result, asked) = run(
        r#"{"base_url":"http://pb","email":"u","password":"p","type":"user","collection":"nosuch"}"#,
        vec![Ok(response(
            404,
            r#"{"data":{},"message":"Missing or invalid collection context.","status":404}"#,
        ))],
    );
    let message = failed(result);
    assert_eq!(asked.len(), 1);
    assert!(
        message.contains("Missing or invalid collection context."),
        "{message}"
    );
    assert!(
        message.contains("\"nosuch\" an auth collection"),
        "{message}"
    );
}

#[test]
fn admin_and_superuser_types() {
    for kind in ["admin", "superuser", "Superusers", "ADMINS"] {
        let s = settings(&format!(
            r#"{{"base_url":"http://pb","email":"a","password":"p","type":"{kind}"}}"#
        ));
        assert_eq!(s.target, Target::Superuser);
    }
    let s = settings(
        r#"{"base_url":"http://pb","email":"a","password":"p","collection":"_superusers"}"#,
    );
    assert_eq!(s.target, Target::Superuser);
}

#[test]
fn missing_fields_are_named() {
    assert!(invalid_config(r#"{"email":"a","password":"p"}"#).contains("`base_url` is missing"));
    assert!(
        invalid_config(r#"{"base_url":"http://pb","password":"p"}"#).contains("`email` is missing")
    );
    assert!(
        invalid_config(r#"{"base_url":"http://pb","email":"a"}"#).contains("`password` is missing")
    );
    assert!(
        invalid_config(r#"{"base_url":"http://pb","email":"  ","password":"p"}"#)
            .contains("`email` is missing")
    );
    assert!(invalid_config("null").contains("config is missing"));
    assert!(invalid_config("3").contains("must be an object"));
}

#[test]
fn bad_values_are_refused() {
    let message = invalid_config(r#"{"base_url":"pb.local","email":"a","password":"p"}"#);
    assert!(message.contains("absolute http(s) URL"), "{message}");
    let message =
        invalid_config(r#"{"base_url":"http://pb","email":"a","password":"p","type":"guest"}"#);
    assert!(message.contains("unknown type \"guest\""), "{message}");
    let message = invalid_config(
        r#"{"base_url":"http://pb","email":"a","password":"p","type":"admin","collection":"users"}"#,
    );
    assert!(message.contains("type: user only"), "{message}");
    let message = invalid_config(
        r#"{"base_url":"http://pb","email":"a","password":"p","collection":"../x"}"#,
    );
    assert!(message.contains("not a collection name"), "{message}");
    let message =
        invalid_config(r#"{"base_url":"http://pb","email":"a","identity":"b","password":"p"}"#);
    assert!(message.contains("differ"), "{message}");
    let message = invalid_config(r#"{"base_url":"http://pb","email":"a","password":["p"]}"#);
    assert!(message.contains("`password` must be a string"), "{message}");
}

#[test]
fn unknown_keys_get_a_suggestion() {
    let message = invalid_config(r#"{"base_url":"http://pb","emial":"a","password":"p"}"#);
    assert!(message.contains("did you mean `email`"), "{message}");
}

#[test]
fn numbers_are_accepted_as_text() {
    let s = settings(r#"{"base_url":"http://pb","email":"a","password":12345678}"#);
    assert_eq!(s.password, "12345678");
}
