//! Routing, the request gate (log, faults, auth) and the admin endpoints.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::state::{AppState, Fault};
use crate::{generic, seed};

/// Largest request body accepted.
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;

/// Put into every request's extensions by the accept loop: notifying it drops
/// the connection the request came on, without an answer.
#[derive(Clone)]
pub(crate) struct ConnKill(pub Arc<Notify>);

pub(crate) fn router(state: AppState) -> Router {
    let k8s = Router::new()
        .route(
            "/namespaces/{ns}/deployments",
            get(seed::list_deployments).post(seed::create_deployment),
        )
        .route(
            "/namespaces/{ns}/deployments/{name}",
            get(seed::get_deployment).delete(seed::delete_deployment),
        );
    Router::new()
        .route(
            "/api/{collection}",
            get(generic::list).post(generic::create),
        )
        .route(
            "/api/{collection}/{id}",
            get(generic::get_one)
                .put(generic::replace)
                .patch(generic::patch)
                .delete(generic::delete),
        )
        .route("/vpc", get(seed::list_vpcs).post(seed::create_vpc))
        .route("/vpc/{id}", get(seed::get_vpc).delete(seed::delete_vpc))
        .route("/rds/instances", get(seed::list_rds).post(seed::create_rds))
        .route(
            "/rds/instances/{id}",
            get(seed::get_rds).delete(seed::delete_rds),
        )
        .merge(k8s.clone())
        // The published example's k8s_api_base ends in /api/v1.
        .nest("/api/v1", k8s)
        .route(
            "/svc/{service}/users",
            get(seed::list_users).post(seed::create_user),
        )
        .route(
            "/svc/{service}/users/{id}",
            get(seed::get_user).delete(seed::delete_user),
        )
        .route(
            "/svc/{service}/admin/settings",
            get(seed::list_settings).post(seed::upsert_setting),
        )
        .route(
            "/svc/{service}/admin/settings/{id}",
            get(seed::get_setting).delete(seed::delete_setting),
        )
        .route(
            "/_admin/requests",
            get(admin_requests).delete(admin_clear_requests),
        )
        .route("/_admin/state", get(admin_state))
        .route("/_admin/reset", axum::routing::post(admin_reset))
        .route(
            "/_admin/faults",
            get(admin_faults)
                .post(admin_arm_fault)
                .delete(admin_clear_faults),
        )
        .route(
            "/_admin/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

pub(crate) use axum::Json;

/// JSON error response `{"error": msg, "status": code}`.
pub(crate) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": msg.into(), "status": status.as_u16()})),
    )
        .into_response()
}

pub(crate) fn json_status(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// An error answer, `{"error": msg, "status": code}` once rendered.
#[derive(Debug)]
pub(crate) struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// Parse a request body that must be a JSON object.
pub(crate) fn json_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            "request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("request body is not valid JSON: {e}"),
        )),
    }
}

/// Decoded query string as ordered pairs.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Filter params from a query string: every pair whose name does not start
/// with `_` and is not in `skip`.
pub(crate) fn filters(query: Option<&str>, skip: &[&str]) -> Vec<(String, String)> {
    query_pairs(query)
        .into_iter()
        .filter(|(k, _)| !k.starts_with('_') && !skip.contains(&k.as_str()))
        .collect()
}

/// Whether `item` has, for every filter, a field (dotted path allowed) equal
/// to the filter's value: strings compare as is, other values by their JSON text.
pub(crate) fn matches_filters(item: &Value, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(key, want)| {
        let mut cur = Some(item);
        for part in key.split('.') {
            cur = cur.and_then(|v| match v {
                Value::Object(m) => m.get(part),
                Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            });
        }
        match cur {
            Some(Value::String(s)) => s == want,
            Some(v) => serde_json::to_string(v).is_ok_and(|text| text == *want),
            None => false,
        }
    })
}

/// `http://host:port` as the client addressed this server (Host header),
/// or the bound address.
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => format!("http://{host}"),
        _ => format!("http://{}", state.local_addr),
    }
}

/// Who a request says it is, and whether that is accepted.
struct AuthInfo {
    scheme: Option<&'static str>,
    user: Option<String>,
    ok: bool,
}

fn check_auth(state: &AppState, headers: &HeaderMap) -> AuthInfo {
    let mut info = AuthInfo {
        scheme: None,
        user: None,
        ok: !state.auth.enabled(),
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return info;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        info.scheme = Some("basic");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some(decoded) = decoded {
            let (user, pass) = decoded.split_once(':').unwrap_or((&decoded, ""));
            info.user = Some(user.to_owned());
            if state.auth.basic.iter().any(|(u, p)| u == user && p == pass) {
                info.ok = true;
            }
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        info.scheme = Some("bearer");
        if state.auth.bearer.iter().any(|t| t == rest) {
            info.ok = true;
        }
    }
    info
}

/// Every request passes here: non-admin requests are logged, get their
/// injected delay/fault, and are checked for credentials.
async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/_admin") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body: {e}")),
    };
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    let auth = check_auth(&state, &parts.headers);

    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.as_str().to_owned(), values.join(", ").into());
    }
    let mut entry = Map::new();
    entry.insert("method".into(), method.clone().into());
    entry.insert("path".into(), path.clone().into());
    entry.insert(
        "query".into(),
        parts.uri.query().unwrap_or("").to_owned().into(),
    );
    entry.insert("headers".into(), Value::Object(headers));
    entry.insert(
        "body".into(),
        String::from_utf8_lossy(&bytes).into_owned().into(),
    );
    entry.insert("auth".into(), auth.scheme.into());
    entry.insert("user".into(), auth.user.clone().into());
    let seq = state.log_request(entry);

    // Injected latency and faults: query params first, then armed faults.
    let mut delay_ms = 0u64;
    let mut status: Option<u16> = None;
    for (k, v) in query_pairs(parts.uri.query()) {
        match k.as_str() {
            "_delay_ms" => match v.parse::<u64>() {
                Ok(ms) => delay_ms = delay_ms.saturating_add(ms),
                Err(_) => {
                    state.log_status(seq, 400);
                    return error(StatusCode::BAD_REQUEST, format!("bad _delay_ms {v:?}"));
                }
            },
            "_status" => match v.parse::<u16>().ok().filter(|s| (100..=599).contains(s)) {
                Some(s) => status = Some(s),
                None => {
                    state.log_status(seq, 400);
                    return error(StatusCode::BAD_REQUEST, format!("bad _status {v:?}"));
                }
            },
            _ => {}
        }
    }
    let fired = state.take_fault(&method, &path).unwrap_or_default();
    delay_ms = delay_ms.saturating_add(fired.delay_ms);
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    if fired.reset {
        if let Some(kill) = parts.extensions.get::<ConnKill>() {
            kill.0.notify_one();
        }
        // The connection task drops this future together with the connection.
        return std::future::pending().await;
    }
    if let Some(s) = fired.status.or(status) {
        let code = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        state.log_status(seq, code.as_u16());
        let mut resp = match fired.body {
            Some(body) => json_status(code, body),
            None => error(code, "injected fault"),
        };
        if let Some(location) = fired.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            resp.headers_mut().insert(header::LOCATION, location);
        }
        return resp;
    }

    if !auth.ok {
        state.log_status(seq, 401);
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            "missing or invalid credentials (Authorization: Basic or Bearer)",
        );
        let challenge = if state.auth.basic.is_empty() {
            "Bearer"
        } else {
            "Basic realm=\"apirun-demo-api\""
        };
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        return resp;
    }

    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    state.log_status(seq, resp.status().as_u16());
    resp
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed on {}", uri.path()),
    )
}

async fn admin_requests(State(state): State<AppState>, uri: axum::http::Uri) -> Response {
    let want = query_pairs(uri.query());
    let inner = state.lock();
    let list: Vec<Value> = inner
        .log
        .iter()
        .filter(|e| {
            want.iter().all(|(k, v)| match k.as_str() {
                "method" => e["method"]
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case(v)),
                "path" => e["path"].as_str() == Some(v.as_str()),
                _ => true,
            })
        })
        .cloned()
        .collect();
    Json(Value::Array(list)).into_response()
}

async fn admin_clear_requests(State(state): State<AppState>) -> StatusCode {
    state.lock().log.clear();
    StatusCode::NO_CONTENT
}

async fn admin_state(State(state): State<AppState>) -> Response {
    let view = state.lock().res.view();
    Json(view).into_response()
}

async fn admin_reset(State(state): State<AppState>) -> StatusCode {
    let mut inner = state.lock();
    *inner = Default::default();
    state.persist(&inner.res);
    StatusCode::NO_CONTENT
}

async fn admin_faults(State(state): State<AppState>) -> Response {
    let faults = state.lock().faults.clone();
    Json(json!(faults)).into_response()
}

async fn admin_arm_fault(State(state): State<AppState>, body: Bytes) -> Response {
    let mut fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad fault: {e}")),
    };
    if fault.times == 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "bad fault: times must be at least 1",
        );
    }
    if let Some(s) = fault.status
        && !(100..=599).contains(&s)
    {
        return error(StatusCode::BAD_REQUEST, format!("bad fault: status {s}"));
    }
    let mut inner = state.lock();
    inner.fault_seq += 1;
    fault.id = inner.fault_seq;
    inner.faults.push(fault.clone());
    json_status(StatusCode::CREATED, json!(fault))
}

async fn admin_clear_faults(State(state): State<AppState>) -> StatusCode {
    state.lock().faults.clear();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matching() {
        let item = json!({"username": "demo", "n": 3, "ok": true, "tags": {"Env": "dev"}});
        let f = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(matches_filters(&item, &f("username", "demo")));
        assert!(matches_filters(&item, &f("n", "3")));
        assert!(matches_filters(&item, &f("ok", "true")));
        assert!(matches_filters(&item, &f("tags.Env", "dev")));
        assert!(!matches_filters(&item, &f("username", "other")));
        assert!(!matches_filters(&item, &f("missing", "x")));
    }

    #[test]
    fn filters_skip_control_params() {
        let got = filters(Some("username=a%20b&_delay_ms=5&unique=x"), &["unique"]);
        assert_eq!(got, vec![("username".to_owned(), "a b".to_owned())]);
    }
}
