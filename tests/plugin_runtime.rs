//! The plugin runtime at library level: real wasm components (the embedded
//! built-ins and the test plugins of plugins/testing) run by a real
//! `PluginRuntime`, sending through the real transport to the demo API on an
//! ephemeral 127.0.0.1 port.
//!
//! Each test owns a tokio runtime and drives plugin calls with `block_on`;
//! the demo API's helpers (blocking reqwest) are called outside `block_on`.

mod support;

use support::DemoApiAdmin as _;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use apirun::plugin::{
    AllowedHosts, BUILTINS, Contract, HostServices, HttpStepRequest, Limits, LoadSource, Plugin,
    PluginError, PluginFailure, PluginKind, PluginResponse, PluginRuntime, RuntimeOptions,
    StepSpec,
};
use apirun::transport::{ClientSettings, HttpClient, Request, RetryPolicy, TransportError};
use serde_json::{Value, json};
use support::Api;

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A runtime on the shared compile cache (each component compiles once per
/// test run), with these limits.
fn runtime_with(limits: Limits) -> Arc<PluginRuntime> {
    PluginRuntime::new(RuntimeOptions {
        cache_dir: Some(support::cache_dir()),
        limits,
        ..RuntimeOptions::default()
    })
    .expect("plugin runtime starts")
}

fn runtime() -> Arc<PluginRuntime> {
    runtime_with(Limits::default())
}

/// Fast retries so the retry tests do not wait for the default backoff.
fn client() -> HttpClient {
    HttpClient::new(ClientSettings {
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        ..ClientSettings::default()
    })
    .expect("http client")
}

fn services(name: &str, allowed_hosts: AllowedHosts) -> HostServices {
    HostServices {
        plugin_name: name.to_string(),
        http: client(),
        allowed_hosts,
    }
}

fn builtin(runtime: &Arc<PluginRuntime>, name: &str, kind: PluginKind) -> Plugin {
    let builtin = BUILTINS
        .iter()
        .find(|b| b.name == name && b.kind == kind)
        .unwrap_or_else(|| panic!("no built-in {name} ({kind})"));
    let component = runtime.load_builtin(builtin).expect("built-in loads");
    Plugin::new(
        runtime.clone(),
        component,
        kind,
        services(name, AllowedHosts::Any),
        &Value::Null,
    )
    .expect("built-in binds")
}

fn test_plugin_path(file: &str) -> PathBuf {
    Path::new(apirun::plugin::builtin::test_plugin_dir()).join(file)
}

fn test_plugin(
    runtime: &Arc<PluginRuntime>,
    name: &str,
    file: &str,
    kind: PluginKind,
) -> Result<Plugin, PluginError> {
    let component = runtime.load_file(name, &test_plugin_path(file))?;
    Plugin::new(
        runtime.clone(),
        component,
        kind,
        services(name, AllowedHosts::none()),
        &Value::Null,
    )
}

/// An http step's request, written as the JSON the 0.1 `spec` used
/// (`method`, `url`, `headers`/`queries` as `[{name, value}]`, `body`, `retry`).
fn http_spec(spec: Value) -> StepSpec {
    let pairs = |key: &str| -> Vec<(String, String)> {
        spec[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|p| {
                        let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                        (text("name"), text("value"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    StepSpec::Http(HttpStepRequest {
        method: spec["method"].as_str().unwrap_or_default().to_string(),
        url: spec["url"].as_str().unwrap_or_default().to_string(),
        headers: pairs("headers"),
        queries: pairs("queries"),
        body: spec["body"].as_str().map(|b| b.as_bytes().to_vec()),
        timeout: spec["timeout_ms"].as_u64().map(Duration::from_millis),
        retry: spec["retry"].as_bool(),
        follow_redirects: None,
    })
}

fn some(value: &str) -> Option<String> {
    Some(value.to_string())
}

fn json_response(body: &str) -> PluginResponse {
    PluginResponse {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
        attempts: 1,
    }
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| p.to_string()).collect()
}

// ---------------------------------------------------------------- limits

#[test]
fn spin_plugin_times_out_naming_the_plugin_and_the_runtime_goes_on() {
    let api = Api::start();
    let rt = tokio();
    let runtime = runtime_with(Limits {
        time: Duration::from_millis(300),
        ..Limits::default()
    });
    let spin = test_plugin(
        &runtime,
        "spin",
        "apirun_test_plugin_spin.wasm",
        PluginKind::Step,
    )
    .expect("spin loads");
    let error = rt
        .block_on(spin.run_step(&StepSpec::Custom(json!({})), &[]))
        .expect_err("a plugin that never returns must be stopped");
    match &error {
        PluginError::Timeout { plugin, limit } => {
            assert_eq!(plugin, "spin");
            assert_eq!(*limit, Duration::from_millis(300));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("`spin`") && message.contains("time limit"),
        "{message}"
    );

    // The same runtime still runs plugins: the http step and spin again.
    let http = builtin(&runtime, "http", PluginKind::Step);
    let outcome = rt
        .block_on(http.run_step(
            &http_spec(json!({"method": "GET", "url": format!("{}/api/things", api.url())})),
            &[],
        ))
        .expect("http step after a timeout");
    assert_eq!(outcome.response.expect("a response").status, 200);
    assert!(matches!(
        rt.block_on(spin.run_step(&StepSpec::Custom(json!({})), &[])),
        Err(PluginError::Timeout { .. })
    ));
}

#[test]
fn hog_plugin_exceeds_its_memory_limit_naming_the_limit() {
    let rt = tokio();
    let runtime = runtime_with(Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..Limits::default()
    });
    let hog = test_plugin(
        &runtime,
        "hog",
        "apirun_test_plugin_hog.wasm",
        PluginKind::Step,
    )
    .expect("hog loads");
    let error = rt
        .block_on(hog.run_step(&StepSpec::Custom(json!({})), &[]))
        .expect_err("unbounded allocation must be stopped");
    match &error {
        PluginError::MemoryExceeded {
            plugin,
            limit_bytes,
        } => {
            assert_eq!(plugin, "hog");
            assert_eq!(*limit_bytes, 16 * 1024 * 1024);
        }
        other => panic!("expected MemoryExceeded, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("`hog`") && message.contains("16 MiB"),
        "{message}"
    );

    // A fresh store per call: the next call starts from nothing again.
    let gjson = builtin(&runtime, "gjson", PluginKind::Extractor);
    let values = rt
        .block_on(gjson.extract(&json_response(r#"{"a":1}"#), &paths(&["a"])))
        .expect("extract after a memory failure");
    assert_eq!(values, [some("1")]);
}

#[test]
fn http_plugin_denied_a_host_outside_allowed_hosts_sends_nothing() {
    let api = Api::start();
    let rt = tokio();
    let runtime = runtime();
    let component = runtime
        .load_builtin(
            BUILTINS
                .iter()
                .find(|b| b.name == "http")
                .expect("http built-in"),
        )
        .expect("http loads");
    let restricted = Plugin::new(
        runtime.clone(),
        component,
        PluginKind::Step,
        services(
            "restricted-http",
            AllowedHosts::Only(vec!["example.com".into()]),
        ),
        &Value::Null,
    )
    .expect("binds");
    let error = rt
        .block_on(restricted.run_step(
            &http_spec(
                json!({"method": "POST", "url": format!("{}/api/things", api.url()), "body": "{}"}),
            ),
            &[],
        ))
        .expect_err("a host outside allowed_hosts is refused");
    assert!(
        matches!(error.failure(), Some(PluginFailure::Denied(_))),
        "expected a denied failure, got {error:?}"
    );
    let message = error.to_string();
    let host_port = api.url().trim_start_matches("http://").to_string();
    assert!(message.contains("restricted-http"), "{message}");
    assert!(message.contains(&host_port), "names the host: {message}");
    assert!(
        message.contains("example.com"),
        "names the allowed list: {message}"
    );
    assert!(
        api.requests().is_empty(),
        "nothing may reach the server: {:?}",
        api.requests()
    );
}

// ---------------------------------------------------------------- http step

fn only_request(api: &Api) -> Value {
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "exactly one request: {requests:?}");
    requests[0].clone()
}

#[test]
fn http_step_builds_method_headers_queries_and_json_body() {
    let api = Api::start();
    let rt = tokio();
    let runtime = runtime();
    let http = builtin(&runtime, "http", PluginKind::Step);
    let outcome = rt
        .block_on(http.run_step(
            &http_spec(json!({
                "method": "post",
                "url": format!("{}/api/things", api.url()),
                "headers": [{"name": "X-Trace", "value": "abc 123"}],
                "queries": [{"name": "q", "value": "a b&c"}, {"name": "n", "value": "1"}],
                "body": r#"{"name": "widget"}"#,
            })),
            &[],
        ))
        .expect("http step runs");
    let response = outcome.response.expect("a response");
    assert_eq!(response.status, 201);
    let created: Value = serde_json::from_slice(&response.body).expect("JSON answer");
    assert_eq!(created["name"], "widget");
    assert!(
        response
            .header("content-type")
            .is_some_and(|v| v.contains("json"))
    );

    let request = only_request(&api);
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/api/things");
    // application/x-www-form-urlencoded, as Go's url.Values.Encode does.
    assert_eq!(request["query"], "q=a+b%26c&n=1");
    assert_eq!(request["headers"]["x-trace"], "abc 123");
    assert_eq!(request["headers"]["content-type"], "application/json");
    assert_eq!(request["body"], r#"{"name": "widget"}"#);
}

#[test]
fn http_step_keeps_a_user_content_type_and_sends_no_body_when_none() {
    let api = Api::start();
    let rt = tokio();
    let runtime = runtime();
    let http = builtin(&runtime, "http", PluginKind::Step);
    rt.block_on(http.run_step(
        &http_spec(json!({
            "method": "Put",
            "url": format!("{}/api/things/1", api.url()),
            "headers": [{"name": "content-type", "value": "application/merge-patch+json"}],
            "body": r#"{"a": 1}"#,
        })),
        &[],
    ))
    .expect("put runs");
    let request = only_request(&api);
    assert_eq!(request["method"], "PUT");
    assert_eq!(
        request["headers"]["content-type"],
        "application/merge-patch+json"
    );

    // A non-JSON body gets no content type invented for it.
    rt.block_on(http.run_step(
        &http_spec(json!({"method": "POST", "url": format!("{}/api/things", api.url()), "body": "plain text"})),
        &[],
    ))
    .expect("post runs");
    let requests = api.requests();
    let plain = requests.last().expect("logged");
    assert_eq!(plain["body"], "plain text");
    assert!(plain["headers"].get("content-type").is_none(), "{plain}");

    // No body: nothing sent, no content type.
    rt.block_on(http.run_step(
        &http_spec(json!({"method": "delete", "url": format!("{}/api/things/7", api.url())})),
        &[],
    ))
    .expect("delete runs");
    let requests = api.requests();
    let delete = requests.last().expect("logged");
    assert_eq!(delete["method"], "DELETE");
    assert_eq!(delete["body"], "");
    assert!(delete["headers"].get("content-type").is_none(), "{delete}");
    assert!(
        delete["headers"]
            .get("content-length")
            .is_none_or(|len| len == "0"),
        "{delete}"
    );
}

#[test]
fn http_step_rejects_a_bad_spec_as_invalid_config() {
    let rt = tokio();
    let runtime = runtime();
    let http = builtin(&runtime, "http", PluginKind::Step);
    let error = rt
        .block_on(http.run_step(
            &http_spec(json!({"method": "FETCH", "url": "http://127.0.0.1:1/"})),
            &[],
        ))
        .expect_err("unknown method");
    match error.failure() {
        Some(PluginFailure::InvalidConfig(message)) => {
            assert!(message.contains("FETCH"), "{message}")
        }
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

// ---------------------------------------------------------------- transport retries

#[test]
fn post_answered_503_is_sent_once_through_the_http_step() {
    let api = Api::start();
    api.arm_fault(json!({"method": "POST", "path": "/api/orders", "status": 503, "times": 5}));
    let rt = tokio();
    let runtime = runtime();
    let http = builtin(&runtime, "http", PluginKind::Step);
    let outcome = rt
        .block_on(http.run_step(
            &http_spec(
                json!({"method": "POST", "url": format!("{}/api/orders", api.url()), "body": "{}"}),
            ),
            &[],
        ))
        .expect("a 503 is an answer, not an error");
    assert_eq!(outcome.response.expect("response").status, 503);
    assert_eq!(
        api.requests_to("POST", "/api/orders").len(),
        1,
        "a POST is never resent"
    );
}

#[test]
fn get_answered_503_then_200_is_retried() {
    let api = Api::start();
    api.arm_fault(json!({"method": "GET", "path": "/api/orders", "status": 503, "times": 2}));
    let rt = tokio();
    let client = client();
    let response = rt
        .block_on(client.send(&Request {
            method: "GET".into(),
            url: format!("{}/api/orders", api.url()),
            headers: Vec::new(),
            body: None,
            timeout: None,
            retry: None,
            ..Request::default()
        }))
        .expect("retried until it succeeds");
    assert_eq!(response.status, 200);
    assert_eq!(response.attempts, 3);
    assert_eq!(api.requests_to("GET", "/api/orders").len(), 3);
}

#[test]
fn a_requests_queries_and_own_redirect_policy_are_applied_by_the_transport() {
    let api = Api::start();
    let rt = tokio();
    let client = client();
    let response = rt
        .block_on(client.send(&Request {
            method: "GET".into(),
            url: format!("{}/api/orders?page=2", api.url()),
            queries: vec![("q".into(), "a b&c".into())],
            ..Request::default()
        }))
        .expect("answered");
    assert_eq!(response.status, 200);
    let sent = api.requests_to("GET", "/api/orders");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["query"], "page=2&q=a+b%26c", "{}", sent[0]);

    // A request's own `follow_redirects: none` wins over the sender's default
    // (same-origin): the 302 itself is the answer.
    let moved = || {
        api.arm_fault(json!({"method": "GET", "path": "/api/moved", "status": 302,
            "location": "/api/orders", "times": 1}));
    };
    moved();
    let not_followed = rt
        .block_on(client.send(&Request {
            method: "GET".into(),
            url: format!("{}/api/moved", api.url()),
            follow_redirects: Some(apirun::transport::FollowRedirects::None),
            ..Request::default()
        }))
        .expect("answered");
    assert_eq!(not_followed.status, 302);
    assert_eq!(api.requests_to("GET", "/api/orders").len(), 1);
    // Without it, the sender's default follows the same-origin hop.
    moved();
    let followed = rt
        .block_on(client.send(&Request {
            method: "GET".into(),
            url: format!("{}/api/moved", api.url()),
            ..Request::default()
        }))
        .expect("answered");
    assert_eq!(followed.status, 200);
    assert_eq!(api.requests_to("GET", "/api/orders").len(), 2);
}

#[test]
fn post_answered_503_is_sent_once_by_the_transport_unless_it_opts_in() {
    let api = Api::start();
    api.arm_fault(json!({"method": "POST", "path": "/api/orders", "status": 503, "times": 1}));
    let rt = tokio();
    let client = client();
    let request = Request {
        method: "POST".into(),
        url: format!("{}/api/orders", api.url()),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Some(b"{}".to_vec()),
        timeout: None,
        retry: None,
        ..Request::default()
    };
    let response = rt.block_on(client.send(&request)).expect("answered");
    assert_eq!((response.status, response.attempts), (503, 1));
    assert_eq!(api.requests_to("POST", "/api/orders").len(), 1);

    // `retry: true` on the request resends it.
    api.arm_fault(json!({"method": "POST", "path": "/api/orders", "status": 503, "times": 1}));
    let response = rt
        .block_on(client.send(&Request {
            retry: Some(true),
            ..request
        }))
        .expect("answered");
    assert_eq!((response.status, response.attempts), (201, 2));
    assert_eq!(api.requests_to("POST", "/api/orders").len(), 3);
}

#[test]
fn reset_connection_is_a_transport_error() {
    let api = Api::start();
    api.arm_fault(json!({"method": "POST", "path": "/api/orders", "reset": true, "times": 5}));
    let rt = tokio();
    let client = client();
    let error = rt
        .block_on(client.send(&Request {
            method: "POST".into(),
            url: format!("{}/api/orders", api.url()),
            headers: Vec::new(),
            body: Some(b"{}".to_vec()),
            timeout: None,
            retry: None,
            ..Request::default()
        }))
        .expect_err("a reset connection has no answer");
    match &error {
        TransportError::Send {
            method, attempts, ..
        } => {
            assert_eq!(method, "POST");
            assert_eq!(*attempts, 1);
        }
        other => panic!("expected a send error, got {other:?}"),
    }
    assert!(error.to_string().contains("/api/orders"), "{error}");
    assert_eq!(api.requests_to("POST", "/api/orders").len(), 1);

    // Through the http step the plugin sees a typed transport error.
    let runtime = runtime();
    let http = builtin(&runtime, "http", PluginKind::Step);
    let error = rt
        .block_on(http.run_step(
            &http_spec(json!({"method": "POST", "url": format!("{}/api/orders", api.url())})),
            &[],
        ))
        .expect_err("reset");
    assert!(
        matches!(error.failure(), Some(PluginFailure::Transport(_))),
        "expected a transport failure, got {error:?}"
    );
}

#[test]
fn a_request_that_cannot_be_built_is_not_retried() {
    let api = Api::start();
    let rt = tokio();
    let error = rt
        .block_on(client().send(&Request {
            method: "GET".into(),
            url: format!("{}/api/orders", api.url()),
            headers: vec![("bad header".into(), "x".into())],
            body: None,
            timeout: None,
            retry: Some(true),
            ..Request::default()
        }))
        .expect_err("an invalid header name cannot be sent");
    match &error {
        TransportError::Send { attempts, .. } => assert_eq!(*attempts, 1, "{error}"),
        other => panic!("expected a send error, got {other:?}"),
    }
    assert!(api.requests().is_empty());
}

// ---------------------------------------------------------------- auth-basic

#[test]
fn basic_auth_builds_the_authorization_header() {
    let rt = tokio();
    let runtime = runtime();
    let basic = builtin(&runtime, "basic", PluginKind::Auth);
    let credential = rt
        .block_on(basic.acquire(&json!({"username": "admin", "password": "s3cret:x"})))
        .expect("credential");
    // base64("admin:s3cret:x")
    assert_eq!(credential.header_name, "Authorization");
    assert_eq!(credential.header_value, "Basic YWRtaW46czNjcmV0Ong=");
    assert_eq!(credential.token, "YWRtaW46czNjcmV0Ong=");
    assert_eq!(credential.expires_in, None);
}

#[test]
fn basic_auth_without_username_or_password_is_an_error() {
    let rt = tokio();
    let runtime = runtime();
    let basic = builtin(&runtime, "basic", PluginKind::Auth);
    for (config, field) in [
        (json!({"password": "p"}), "username"),
        (json!({"username": "", "password": "p"}), "username"),
        (json!({"username": "u"}), "password"),
    ] {
        let error = rt
            .block_on(basic.acquire(&config))
            .expect_err("incomplete config");
        match error.failure() {
            Some(PluginFailure::InvalidConfig(message)) => {
                assert!(message.contains(field), "{config}: {message}")
            }
            other => panic!("{config}: expected invalid-config, got {other:?}"),
        }
    }
}

#[test]
fn basic_auth_credential_is_accepted_by_a_basic_server() {
    let api = Api::with_basic("admin", "secret");
    let rt = tokio();
    let runtime = runtime();
    let basic = builtin(&runtime, "basic", PluginKind::Auth);
    let http = builtin(&runtime, "http", PluginKind::Step);
    let credential = rt
        .block_on(basic.acquire(&json!({"username": "admin", "password": "secret"})))
        .expect("credential");
    let outcome = rt
        .block_on(http.run_step(
            &http_spec(json!({
                "method": "GET",
                "url": format!("{}/api/things", api.url()),
                "headers": [{"name": credential.header_name, "value": credential.header_value}],
            })),
            &[],
        ))
        .expect("request");
    assert_eq!(outcome.response.expect("response").status, 200);
    assert_eq!(only_request(&api)["user"], "admin");
}

// ---------------------------------------------------------------- extractors

const DOC: &str = r#"{
  "name": "demo",
  "id": 42,
  "big": 12345678901234567890,
  "ratio": 0.5,
  "neg": -7,
  "exp": 1.5e3,
  "ok": true,
  "off": false,
  "gone": null,
  "obj": {"a": 1, "b": [1, 2]},
  "items": [
    {"name": "alice", "role": "user"},
    {"name": "bob", "role": "admin"}
  ]
}"#;

#[test]
fn gjson_value_to_string_rules() {
    let rt = tokio();
    let runtime = runtime();
    let gjson = builtin(&runtime, "gjson", PluginKind::Extractor);
    let values = rt
        .block_on(gjson.extract(
            &json_response(DOC),
            &paths(&[
                "name",
                "id",
                "big",
                "ratio",
                "neg",
                "ok",
                "off",
                "gone",
                "obj",
                "obj.b",
                "missing",
                "items.#",
                r#"items.#(role=="admin").name"#,
                "items.1.name",
                "items.#.name",
            ]),
        ))
        .expect("extract");
    assert_eq!(
        values,
        [
            some("demo"),
            some("42"),
            some("12345678901234567890"),
            some("0.5"),
            some("-7"),
            some("true"),
            some("false"),
            some(""),
            some(r#"{"a":1,"b":[1,2]}"#),
            some("[1,2]"),
            None,
            some("2"),
            some("bob"),
            some("bob"),
            some(r#"["alice","bob"]"#),
        ]
    );
}

#[test]
fn gjson_non_json_body_is_missing_for_every_path() {
    let rt = tokio();
    let runtime = runtime();
    let gjson = builtin(&runtime, "gjson", PluginKind::Extractor);
    let response = PluginResponse {
        status: 502,
        headers: vec![("Content-Type".into(), "text/html".into())],
        body: b"<html>bad gateway</html>".to_vec(),
        attempts: 1,
    };
    let values = rt
        .block_on(gjson.extract(&response, &paths(&["name", "id", "@this"])))
        .expect("extract");
    assert_eq!(values, [None, None, None]);
    let values = rt
        .block_on(gjson.extract(&json_response(""), &paths(&["a"])))
        .expect("extract empty body");
    assert_eq!(values, [None]);
}

#[test]
fn header_extractor_reads_headers_and_status() {
    let rt = tokio();
    let runtime = runtime();
    let header = builtin(&runtime, "header", PluginKind::Extractor);
    let response = PluginResponse {
        status: 201,
        headers: vec![
            ("Location".into(), "/api/things/9".into()),
            ("Set-Cookie".into(), "a=1".into()),
            ("set-cookie".into(), "b=2".into()),
        ],
        body: Vec::new(),
        attempts: 1,
    };
    let values = rt
        .block_on(header.extract(
            &response,
            &paths(&["location", ":status", "Set-Cookie", "ETag"]),
        ))
        .expect("extract");
    assert_eq!(
        values,
        [some("/api/things/9"), some("201"), some("a=1, b=2"), None]
    );
}

#[test]
fn regex_extractor_takes_group_one_or_the_whole_match() {
    let rt = tokio();
    let runtime = runtime();
    let regex = builtin(&runtime, "regex", PluginKind::Extractor);
    let response = PluginResponse {
        status: 200,
        headers: vec![("Content-Type".into(), "text/html".into())],
        body: br#"<input name="csrf" value="tok-1"> id=7"#.to_vec(),
        attempts: 1,
    };
    let values = rt
        .block_on(regex.extract(
            &response,
            &paths(&[r#"name="csrf" value="([^"]+)""#, r"id=\d+", "absent"]),
        ))
        .expect("extract");
    assert_eq!(values, [some("tok-1"), some("id=7"), None]);
    let error = rt
        .block_on(regex.extract(&response, &paths(&["(unclosed"])))
        .expect_err("invalid regex");
    assert!(
        matches!(error.failure(), Some(PluginFailure::InvalidConfig(_))),
        "{error:?}"
    );
}

// ---------------------------------------------------------------- compile cache

#[test]
fn compiled_component_is_loaded_from_the_disk_cache_by_the_next_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = || RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        limits: Limits::default(),
        ..RuntimeOptions::default()
    };
    let gjson = BUILTINS
        .iter()
        .find(|b| b.name == "gjson")
        .expect("gjson built-in");

    let first = PluginRuntime::new(options()).expect("runtime");
    let loaded = first.load_builtin(gjson).expect("compiles");
    assert_eq!(loaded.source(), LoadSource::Compiled);
    let artifact = first
        .cache()
        .expect("cache enabled")
        .artifact_path(loaded.digest());
    assert!(artifact.starts_with(dir.path()));
    let written = std::fs::metadata(&artifact).expect("artifact written");
    assert!(written.len() > 0);
    // A second load by the same runtime is served from memory.
    assert!(Arc::ptr_eq(
        &loaded,
        &first.load_builtin(gjson).expect("loads")
    ));
    drop(first);

    let second = PluginRuntime::new(options()).expect("runtime");
    let reloaded = second.load_builtin(gjson).expect("loads from cache");
    assert_eq!(reloaded.source(), LoadSource::DiskCache);
    assert_eq!(reloaded.digest(), loaded.digest());
    // The cached component works.
    let rt = tokio();
    let plugin = Plugin::new(
        second.clone(),
        reloaded,
        PluginKind::Extractor,
        services("gjson", AllowedHosts::none()),
        &Value::Null,
    )
    .expect("binds");
    let values = rt
        .block_on(plugin.extract(&json_response(r#"{"x":"y"}"#), &paths(&["x"])))
        .expect("extract");
    assert_eq!(values, [some("y")]);
}

#[test]
fn corrupt_cache_artifact_is_recompiled_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = || RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        limits: Limits::default(),
        ..RuntimeOptions::default()
    };
    let basic = BUILTINS
        .iter()
        .find(|b| b.name == "basic")
        .expect("basic built-in");
    let first = PluginRuntime::new(options()).expect("runtime");
    let loaded = first.load_builtin(basic).expect("compiles");
    let artifact = first.cache().expect("cache").artifact_path(loaded.digest());
    let good = std::fs::read(&artifact).expect("artifact");
    drop(first);

    let rt = tokio();
    for (what, corrupt) in [
        ("garbage", b"not an artifact at all".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&artifact, &corrupt).expect("corrupt the artifact");
        let runtime = PluginRuntime::new(options()).expect("runtime");
        let component = runtime
            .load_builtin(basic)
            .unwrap_or_else(|e| panic!("{what} artifact must be recompiled: {e}"));
        assert_eq!(component.source(), LoadSource::Compiled, "{what}");
        let plugin = Plugin::new(
            runtime.clone(),
            component,
            PluginKind::Auth,
            services("basic", AllowedHosts::none()),
            &Value::Null,
        )
        .expect("binds");
        let credential = rt
            .block_on(plugin.acquire(&json!({"username": "u", "password": "p"})))
            .expect("works after recompiling");
        assert_eq!(credential.header_value, "Basic dTpw");
        // The artifact was rewritten and serves the next runtime.
        let next = PluginRuntime::new(options()).expect("runtime");
        assert_eq!(
            next.load_builtin(basic).expect("loads").source(),
            LoadSource::DiskCache,
            "{what}"
        );
    }
}

// ---------------------------------------------------------------- versions, worlds, files

#[test]
fn incompatible_wit_version_is_refused_naming_both_versions() {
    let runtime = runtime();
    let error = match runtime.load_file(
        "v03",
        &test_plugin_path("apirun_test_plugin_version_0_3.wasm"),
    ) {
        Ok(_) => panic!("a 0.3.0 plugin must be refused by a 0.1/0.2 host"),
        Err(e) => e,
    };
    match &error {
        PluginError::Incompatible {
            plugin,
            found,
            host,
            supported,
        } => {
            assert_eq!(plugin, "v03");
            assert_eq!(found.to_string(), "0.3.0");
            assert_eq!(host.to_string(), "0.2.0");
            assert_eq!(*supported, "0.1.0, 0.2.0");
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("0.3.0") && message.contains("0.1.0, 0.2.0"),
        "{message}"
    );
}

#[test]
fn compatible_patch_version_loads_and_extracts() {
    let rt = tokio();
    let runtime = runtime();
    let plugin = test_plugin(
        &runtime,
        "v019",
        "apirun_test_plugin_version_0_1_9.wasm",
        PluginKind::Extractor,
    )
    .expect("a plugin built against 0.1.9 runs on a 0.1.0 host");
    let values = rt
        .block_on(plugin.extract(&json_response("{}"), &paths(&["a", "b"])))
        .expect("extract");
    assert_eq!(values, [some("0.1.9"), some("0.1.9")]);
}

#[test]
fn extractor_bound_as_auth_is_the_wrong_world() {
    let runtime = runtime();
    let gjson = BUILTINS
        .iter()
        .find(|b| b.name == "gjson")
        .expect("gjson built-in");
    let component = runtime.load_builtin(gjson).expect("loads");
    let error = match Plugin::new(
        runtime.clone(),
        component,
        PluginKind::Auth,
        services("gjson", AllowedHosts::none()),
        &Value::Null,
    ) {
        Ok(_) => panic!("an extractor is not an auth plugin"),
        Err(e) => e,
    };
    assert!(matches!(error, PluginError::WrongWorld { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("`gjson`"), "{message}");
    assert!(
        message.contains("is an extractor-plugin, not an auth-plugin"),
        "{message}"
    );
    assert!(
        message.contains("apirun:plugin/extractor@0.2.0"),
        "{message}"
    );
}

#[test]
fn plugin_loads_from_a_wasm_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A copy of the header extractor under another name, loaded by path.
    let path = dir.path().join("my_headers.wasm");
    std::fs::copy(test_plugin_path("apirun_plugin_extract_header.wasm"), &path).expect("copy");
    let rt = tokio();
    let runtime = runtime();
    let component = runtime
        .load_file("my-headers", &path)
        .expect("loads from file");
    assert_eq!(component.kinds(), [PluginKind::Extractor]);
    let plugin = Plugin::new(
        runtime.clone(),
        component,
        PluginKind::Extractor,
        services("my-headers", AllowedHosts::none()),
        &Value::Null,
    )
    .expect("binds");
    let values = rt
        .block_on(plugin.extract(&json_response("{}"), &paths(&["content-type"])))
        .expect("extract");
    assert_eq!(values, [some("application/json")]);

    // A missing file names the plugin and the path.
    let missing = dir.path().join("nope.wasm");
    let error = match runtime.load_file("nope", &missing) {
        Ok(_) => panic!("missing file"),
        Err(e) => e,
    };
    let message = error.to_string();
    assert!(
        message.contains("`nope`") && message.contains("nope.wasm"),
        "{message}"
    );

    // A file that is not a component is refused with a clear error.
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm junk").expect("write");
    let error = match runtime.load_file("junk", &junk) {
        Ok(_) => panic!("junk is not a component"),
        Err(e) => e,
    };
    assert!(matches!(error, PluginError::Compile { .. }), "{error:?}");
}

// ---------------------------------------------------------------- contract 0.1 and 0.2 side by side

/// tests/fixtures/plugins/echo-0.1.0.wasm: the echo test plugin as built
/// against wit/0.1.0 before 0.2.0 existed.
fn echo_0_1_0() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/plugins/echo-0.1.0.wasm")
}

#[test]
fn a_0_1_0_component_and_a_0_2_0_component_run_in_one_runtime() {
    let rt = tokio();
    let runtime = runtime();
    let config = json!({"region": "eu-west"});
    let bind = |path: &Path| {
        let component = runtime.load_file("echo", path).expect("loads");
        let contract = component.contract();
        let plugin = Plugin::new(
            runtime.clone(),
            component,
            PluginKind::Step,
            services("echo", AllowedHosts::none()),
            &config,
        )
        .expect("binds");
        (contract, plugin)
    };
    let vars = [("token".to_string(), "t-1".to_string())];
    for (path, expected) in [
        (echo_0_1_0(), Contract::V0_1),
        (
            test_plugin_path("apirun_test_plugin_echo.wasm"),
            Contract::V0_2,
        ),
    ] {
        let (contract, echo) = bind(&path);
        assert_eq!(contract, expected, "{}", path.display());
        let outcome = rt
            .block_on(echo.run_step(&StepSpec::Custom(json!({"status": 202})), &vars))
            .expect("runs");
        let response = outcome.response.expect("a response");
        assert_eq!(response.status, 202);
        let body = String::from_utf8_lossy(&response.body);
        assert!(
            body.contains("var token -> t-1") && body.contains("config region -> eu-west"),
            "{contract:?}: {body}"
        );
        // Only 0.2 says who it is and what it sets.
        let metadata = rt.block_on(echo.metadata()).expect("metadata");
        let declared = rt
            .block_on(echo.declared_variables(&json!({"set": {"a": "1"}})))
            .expect("declared");
        match contract {
            Contract::V0_1 => assert_eq!((metadata, declared), (None, None)),
            Contract::V0_2 => {
                assert_eq!(metadata.expect("metadata").name, "echo");
                let names: Vec<String> = declared
                    .expect("declared")
                    .into_iter()
                    .map(|d| d.name)
                    .collect();
                assert_eq!(names, ["a"]);
            }
        }
    }
}

// ------------------------------------------------------------- instances

/// One echo step that reports, as `n`, how many calls its instance has run.
fn calls_of_instance(rt: &tokio::runtime::Runtime, plugin: &Plugin) -> Result<u32, PluginError> {
    let outcome =
        rt.block_on(plugin.run_step(&StepSpec::Custom(json!({"count_into": "n"})), &[]))?;
    let (_, value) = outcome
        .variables
        .iter()
        .find(|(name, _)| name == "n")
        .expect("echo sets n");
    Ok(value.parse().expect("a count"))
}

#[test]
fn a_plugin_gets_a_fresh_instance_per_call_unless_it_reuses_one_until_a_trap() {
    let rt = tokio();
    let runtime = runtime();
    let echo = |reuse: bool| {
        test_plugin(
            &runtime,
            "echo",
            "apirun_test_plugin_echo.wasm",
            PluginKind::Step,
        )
        .expect("echo loads")
        .reuse_instance(reuse)
    };
    let fresh = echo(false);
    let counts: Vec<u32> = (0..3)
        .map(|_| calls_of_instance(&rt, &fresh).expect("runs"))
        .collect();
    assert_eq!(counts, [1, 1, 1], "a fresh instance for every call");

    let kept = echo(true);
    let counts: Vec<u32> = (0..3)
        .map(|_| calls_of_instance(&rt, &kept).expect("runs"))
        .collect();
    assert_eq!(counts, [1, 2, 3], "one instance serves every call");
    // A clone (what the registry hands out) shares the kept instance.
    assert_eq!(calls_of_instance(&rt, &kept.clone()).expect("runs"), 4);

    let trap = rt.block_on(kept.run_step(&StepSpec::Custom(json!({"trap": true})), &[]));
    assert!(matches!(trap, Err(PluginError::Trap { .. })), "{trap:?}");
    assert_eq!(
        calls_of_instance(&rt, &kept).expect("runs after the trap"),
        1,
        "a trapped instance is dropped, not reused"
    );
    // A plugin's own error (not a trap) keeps the instance: the echo
    // refuses an http spec before counting, so the next call is its second.
    let failed = rt.block_on(kept.run_step(&StepSpec::Http(HttpStepRequest::default()), &[]));
    assert!(
        matches!(failed, Err(PluginError::Returned { .. })),
        "{failed:?}"
    );
    assert_eq!(calls_of_instance(&rt, &kept).expect("runs"), 2);
}

#[test]
fn at_most_max_warm_instances_are_kept_and_the_rest_run_fresh() {
    let rt = tokio();
    let runtime = runtime();
    let plugins: Vec<Plugin> = (0..apirun::plugin::MAX_WARM + 2)
        .map(|_| {
            test_plugin(
                &runtime,
                "echo",
                "apirun_test_plugin_echo.wasm",
                PluginKind::Step,
            )
            .expect("echo loads")
            .reuse_instance(true)
        })
        .collect();
    for plugin in &plugins {
        assert_eq!(calls_of_instance(&rt, plugin).expect("runs"), 1);
    }
    let second: Vec<u32> = plugins
        .iter()
        .map(|p| calls_of_instance(&rt, p).expect("runs"))
        .collect();
    let kept = second.iter().filter(|&&n| n == 2).count();
    assert_eq!(kept, apirun::plugin::MAX_WARM, "{second:?}");
    assert_eq!(second.iter().filter(|&&n| n == 1).count(), 2, "{second:?}");
}

#[test]
fn a_builtin_from_a_plugin_set_instantiates_once_for_many_calls() {
    let rt = tokio();
    let runtime = runtime();
    let set = apirun::plugin::PluginSet::new(runtime.clone(), client(), Vec::new());
    let before = runtime.instantiations();
    for i in 0..5 {
        let gjson = set.get(PluginKind::Extractor, "gjson").expect("gjson");
        let values = rt
            .block_on(gjson.extract(&json_response(&format!(r#"{{"a":{i}}}"#)), &paths(&["a"])))
            .expect("extracts");
        assert_eq!(values, [Some(i.to_string())]);
    }
    assert_eq!(runtime.instantiations() - before, 1);
}
