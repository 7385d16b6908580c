//! The endpoints the multi-stage seed example calls: a VPC and an RDS-like
//! database (infrastructure), Kubernetes-like deployments (services), and
//! users and settings served under each deployed service's URL (configuration).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::app::{
    ApiError, Json, base_url, error, filters, json_object, json_status, matches_filters,
};
use crate::state::{AppState, Resources};

fn non_empty_str<'a>(body: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn missing(field: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("field {field:?} is required and must be a non-empty string"),
    )
}

fn id_of(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// 8 hex digits that look random but are unique per sequence number
/// (multiplication by an odd constant is a bijection mod 2^32).
fn hex8(seq: u64, salt: u32) -> String {
    format!("{:08x}", (seq as u32).wrapping_mul(0x9E37_79B1) ^ salt)
}

// ---------------------------------------------------------------- VPC

pub(crate) async fn create_vpc(State(state): State<AppState>, body: Bytes) -> Response {
    let mut body = match json_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if non_empty_str(&body, "cidr_block").is_none() {
        return missing("cidr_block");
    }
    state.mutate(|res| {
        res.vpc_seq += 1;
        body.insert("id".into(), format!("vpc-{}", hex8(res.vpc_seq, 0)).into());
        body.insert(
            "security_group_id".into(),
            format!("sg-{}", hex8(res.vpc_seq, 0x5a5a_a5a5)).into(),
        );
        body.entry("name").or_insert_with(|| "".into());
        body.entry("tags").or_insert_with(|| json!({}));
        body.insert("state".into(), "available".into());
        let vpc = Value::Object(body);
        res.vpcs.push(vpc.clone());
        (true, json_status(StatusCode::CREATED, json!({"vpc": vpc})))
    })
}

pub(crate) async fn list_vpcs(State(state): State<AppState>, uri: Uri) -> Response {
    let filters = filters(uri.query(), &[]);
    let inner = state.lock();
    let vpcs: Vec<&Value> = inner
        .res
        .vpcs
        .iter()
        .filter(|v| matches_filters(v, &filters))
        .collect();
    Json(json!({ "vpcs": vpcs })).into_response()
}

pub(crate) async fn get_vpc(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let inner = state.lock();
    match inner.res.vpcs.iter().find(|v| v["id"] == id.as_str()) {
        Some(vpc) => Json(json!({ "vpc": vpc })).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("vpc {id} not found")),
    }
}

pub(crate) async fn delete_vpc(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    state.mutate(|res| {
        let Some(idx) = res.vpcs.iter().position(|v| v["id"] == id.as_str()) else {
            return (
                false,
                error(StatusCode::NOT_FOUND, format!("vpc {id} not found")),
            );
        };
        let sg = id_of(&res.vpcs[idx], "security_group_id").unwrap_or_default();
        let users: Vec<String> = res
            .rds_instances
            .iter()
            .filter(|db| uses_group(db, &sg))
            .filter_map(|db| id_of(db, "db_instance_identifier"))
            .collect();
        if !users.is_empty() {
            return (
                false,
                error(
                    StatusCode::CONFLICT,
                    format!(
                        "DependencyViolation: vpc {id} has dependent database(s) {}",
                        users.join(", ")
                    ),
                ),
            );
        }
        res.vpcs.remove(idx);
        (true, StatusCode::NO_CONTENT.into_response())
    })
}

fn uses_group(db: &Value, sg: &str) -> bool {
    db.get("vpc_security_group_ids")
        .and_then(Value::as_array)
        .is_some_and(|ids| ids.iter().any(|g| g == sg))
}

// ---------------------------------------------------------------- RDS

pub(crate) async fn create_rds(State(state): State<AppState>, body: Bytes) -> Response {
    let mut body = match json_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(ident) = non_empty_str(&body, "db_instance_identifier").map(str::to_owned) else {
        return missing("db_instance_identifier");
    };
    state.mutate(|res| {
        if res
            .rds_instances
            .iter()
            .any(|db| db["db_instance_identifier"] == ident.as_str())
        {
            return (
                false,
                error(
                    StatusCode::CONFLICT,
                    format!("DBInstanceAlreadyExists: {ident}"),
                ),
            );
        }
        if let Some(groups) = body.get("vpc_security_group_ids") {
            let Some(groups) = groups.as_array() else {
                return (
                    false,
                    error(
                        StatusCode::BAD_REQUEST,
                        "vpc_security_group_ids must be an array of strings",
                    ),
                );
            };
            for g in groups {
                let known = g
                    .as_str()
                    .is_some_and(|g| res.vpcs.iter().any(|v| v["security_group_id"] == g));
                if !known {
                    return (
                        false,
                        error(
                            StatusCode::BAD_REQUEST,
                            format!("InvalidGroup.NotFound: security group {g} does not exist"),
                        ),
                    );
                }
            }
        }
        let port = body.get("port").and_then(Value::as_u64).unwrap_or(5432);
        body.insert(
            "endpoint".into(),
            json!({"address": format!("{ident}.db.local"), "port": port}),
        );
        body.insert("status".into(), "creating".into());
        let db = Value::Object(body);
        res.rds_instances.push(db.clone());
        res.rds_creating.insert(ident.clone(), CREATING_GETS);
        (
            true,
            json_status(StatusCode::CREATED, json!({"db_instance": db})),
        )
    })
}

pub(crate) async fn list_rds(State(state): State<AppState>, uri: Uri) -> Response {
    let filters = filters(uri.query(), &[]);
    let inner = state.lock();
    let dbs: Vec<&Value> = inner
        .res
        .rds_instances
        .iter()
        .filter(|v| matches_filters(v, &filters))
        .collect();
    Json(json!({ "db_instances": dbs })).into_response()
}

/// A new database answers `creating` to this many `GET /rds/instances/{id}`,
/// then `available`: provisioning is asynchronous, as in a real cloud.
pub const CREATING_GETS: u32 = 2;

pub(crate) async fn get_rds(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    state.mutate(|res| {
        let Some(idx) = res
            .rds_instances
            .iter()
            .position(|db| db["db_instance_identifier"] == id.as_str())
        else {
            return (
                false,
                error(StatusCode::NOT_FOUND, format!("DBInstanceNotFound: {id}")),
            );
        };
        let mut changed = false;
        if let Some(left) = res.rds_creating.get_mut(&id) {
            changed = true;
            if *left == 0 {
                res.rds_creating.remove(&id);
                res.rds_instances[idx]["status"] = "available".into();
            } else {
                *left -= 1;
            }
        }
        let db = &res.rds_instances[idx];
        (changed, Json(json!({ "db_instance": db })).into_response())
    })
}

/// Any JSON body (`skip_final_snapshot`, ...) is accepted and ignored.
pub(crate) async fn delete_rds(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    state.mutate(|res| {
        match res
            .rds_instances
            .iter()
            .position(|db| db["db_instance_identifier"] == id.as_str())
        {
            Some(idx) => {
                let mut db = res.rds_instances.remove(idx);
                res.rds_creating.remove(&id);
                db["status"] = "deleting".into();
                (true, Json(json!({ "db_instance": db })).into_response())
            }
            None => (
                false,
                error(StatusCode::NOT_FOUND, format!("DBInstanceNotFound: {id}")),
            ),
        }
    })
}

// ---------------------------------------------------------------- deployments

fn deployment_key(d: &Value) -> (&str, &str) {
    (
        d["metadata"]["namespace"].as_str().unwrap_or(""),
        d["metadata"]["name"].as_str().unwrap_or(""),
    )
}

fn deployment_not_found(ns: &str, name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("deployments.apps \"{name}\" not found in namespace \"{ns}\""),
    )
}

pub(crate) async fn create_deployment(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut body = match json_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(Value::Object(meta)) = body.get_mut("metadata") else {
        return error(
            StatusCode::BAD_REQUEST,
            "field \"metadata\" must be an object",
        );
    };
    let Some(name) = non_empty_str(meta, "name").map(str::to_owned) else {
        return missing("metadata.name");
    };
    match meta.get("namespace") {
        None => {
            meta.insert("namespace".into(), ns.clone().into());
        }
        Some(v) if v == ns.as_str() => {}
        Some(v) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("metadata.namespace {v} does not match the namespace in the URL ({ns})"),
            );
        }
    }
    let url = format!("{}/svc/{name}", base_url(&state, &headers));
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    let Value::Object(labels) = labels else {
        return error(StatusCode::BAD_REQUEST, "metadata.labels must be an object");
    };
    labels.insert("service_url".into(), url.into());
    let deployment = Value::Object(body);
    state.mutate(|res| {
        if res
            .deployments
            .iter()
            .any(|d| deployment_key(d) == (ns.as_str(), name.as_str()))
        {
            return (
                false,
                error(
                    StatusCode::CONFLICT,
                    format!("deployments.apps \"{name}\" already exists in namespace \"{ns}\""),
                ),
            );
        }
        res.deployments.push(deployment.clone());
        (true, json_status(StatusCode::CREATED, deployment))
    })
}

pub(crate) async fn list_deployments(
    State(state): State<AppState>,
    Path(ns): Path<String>,
) -> Response {
    let inner = state.lock();
    let items: Vec<&Value> = inner
        .res
        .deployments
        .iter()
        .filter(|d| deployment_key(d).0 == ns)
        .collect();
    Json(json!({"apiVersion": "apps/v1", "kind": "DeploymentList", "items": items})).into_response()
}

pub(crate) async fn get_deployment(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let inner = state.lock();
    match inner
        .res
        .deployments
        .iter()
        .find(|d| deployment_key(d) == (ns.as_str(), name.as_str()))
    {
        Some(d) => Json(d.clone()).into_response(),
        None => deployment_not_found(&ns, &name),
    }
}

pub(crate) async fn delete_deployment(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    state.mutate(|res| {
        match res
            .deployments
            .iter()
            .position(|d| deployment_key(d) == (ns.as_str(), name.as_str()))
        {
            Some(idx) => {
                res.deployments.remove(idx);
                (
                    true,
                    Json(json!({
                        "apiVersion": "v1",
                        "kind": "Status",
                        "status": "Success",
                        "details": {"name": name, "kind": "deployments"},
                    }))
                    .into_response(),
                )
            }
            None => (false, deployment_not_found(&ns, &name)),
        }
    })
}

// ---------------------------------------------------------------- services

/// 404 unless a deployment named `service` exists (in any namespace).
fn require_service(res: &Resources, service: &str) -> Result<(), ApiError> {
    if res
        .deployments
        .iter()
        .any(|d| deployment_key(d).1 == service)
    {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("service {service:?} is not deployed (no deployment named {service:?})"),
        ))
    }
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let mut body = match json_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(username) = non_empty_str(&body, "username").map(str::to_owned) else {
        return missing("username");
    };
    state.mutate(|res| {
        if let Err(resp) = require_service(res, &service) {
            return (false, resp.into_response());
        }
        let svc = res.services.entry(service.clone()).or_default();
        if let Some(existing) = svc
            .users
            .iter()
            .find(|u| u["username"] == username.as_str())
        {
            // The existing user is included so `user.id` still resolves on 409.
            return (
                false,
                json_status(
                    StatusCode::CONFLICT,
                    json!({
                        "error": format!("user {username:?} already exists"),
                        "status": 409,
                        "user": existing,
                    }),
                ),
            );
        }
        svc.last_user += 1;
        // Passwords are accepted but never stored or echoed.
        let had_password = body.remove("password").is_some();
        body.insert("id".into(), format!("usr-{}", svc.last_user).into());
        body.entry("email").or_insert(Value::Null);
        body.entry("role").or_insert_with(|| "user".into());
        body.insert("password_set".into(), had_password.into());
        let user = Value::Object(body);
        svc.users.push(user.clone());
        (
            true,
            json_status(StatusCode::CREATED, json!({"user": user})),
        )
    })
}

pub(crate) async fn list_users(
    State(state): State<AppState>,
    Path(service): Path<String>,
    uri: Uri,
) -> Response {
    let filters = filters(uri.query(), &[]);
    let inner = state.lock();
    if let Err(resp) = require_service(&inner.res, &service) {
        return resp.into_response();
    }
    let users: Vec<&Value> = inner
        .res
        .services
        .get(&service)
        .map(|s| {
            s.users
                .iter()
                .filter(|u| matches_filters(u, &filters))
                .collect()
        })
        .unwrap_or_default();
    Json(json!({ "users": users })).into_response()
}

pub(crate) async fn get_user(
    State(state): State<AppState>,
    Path((service, id)): Path<(String, String)>,
) -> Response {
    let inner = state.lock();
    if let Err(resp) = require_service(&inner.res, &service) {
        return resp.into_response();
    }
    match inner
        .res
        .services
        .get(&service)
        .and_then(|s| s.users.iter().find(|u| u["id"] == id.as_str()))
    {
        Some(u) => Json(json!({ "user": u })).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("user {id} not found")),
    }
}

pub(crate) async fn delete_user(
    State(state): State<AppState>,
    Path((service, id)): Path<(String, String)>,
) -> Response {
    state.mutate(|res| {
        if let Err(resp) = require_service(res, &service) {
            return (false, resp.into_response());
        }
        let svc = res.services.entry(service.clone()).or_default();
        match svc.users.iter().position(|u| u["id"] == id.as_str()) {
            Some(idx) => {
                svc.users.remove(idx);
                (true, StatusCode::NO_CONTENT.into_response())
            }
            None => (
                false,
                error(StatusCode::NOT_FOUND, format!("user {id} not found")),
            ),
        }
    })
}

pub(crate) async fn upsert_setting(
    State(state): State<AppState>,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(key) = non_empty_str(&body, "key").map(str::to_owned) else {
        return missing("key");
    };
    state.mutate(|res| {
        if let Err(resp) = require_service(res, &service) {
            return (false, resp.into_response());
        }
        let svc = res.services.entry(service.clone()).or_default();
        if let Some(existing) = svc.settings.iter_mut().find(|s| s["key"] == key.as_str()) {
            let version = existing["version"].as_u64().unwrap_or(1) + 1;
            let id = existing["id"].clone();
            let mut updated = body;
            updated.insert("id".into(), id);
            updated.insert("version".into(), version.into());
            *existing = Value::Object(updated);
            let setting = existing.clone();
            return (
                true,
                json_status(StatusCode::OK, json!({"setting": setting})),
            );
        }
        svc.last_setting += 1;
        let mut setting = body;
        setting.insert("id".into(), format!("set-{}", svc.last_setting).into());
        setting.insert("version".into(), 1.into());
        let setting = Value::Object(setting);
        svc.settings.push(setting.clone());
        (
            true,
            json_status(StatusCode::CREATED, json!({"setting": setting})),
        )
    })
}

pub(crate) async fn list_settings(
    State(state): State<AppState>,
    Path(service): Path<String>,
    uri: Uri,
) -> Response {
    let filters = filters(uri.query(), &[]);
    let inner = state.lock();
    if let Err(resp) = require_service(&inner.res, &service) {
        return resp.into_response();
    }
    let settings: Vec<&Value> = inner
        .res
        .services
        .get(&service)
        .map(|s| {
            s.settings
                .iter()
                .filter(|v| matches_filters(v, &filters))
                .collect()
        })
        .unwrap_or_default();
    Json(json!({ "settings": settings })).into_response()
}

pub(crate) async fn get_setting(
    State(state): State<AppState>,
    Path((service, id)): Path<(String, String)>,
) -> Response {
    let inner = state.lock();
    if let Err(resp) = require_service(&inner.res, &service) {
        return resp.into_response();
    }
    match inner
        .res
        .services
        .get(&service)
        .and_then(|s| s.settings.iter().find(|v| v["id"] == id.as_str()))
    {
        Some(s) => Json(json!({ "setting": s })).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("setting {id} not found")),
    }
}

pub(crate) async fn delete_setting(
    State(state): State<AppState>,
    Path((service, id)): Path<(String, String)>,
) -> Response {
    state.mutate(|res| {
        if let Err(resp) = require_service(res, &service) {
            return (false, resp.into_response());
        }
        let svc = res.services.entry(service.clone()).or_default();
        match svc.settings.iter().position(|v| v["id"] == id.as_str()) {
            Some(idx) => {
                svc.settings.remove(idx);
                (true, StatusCode::NO_CONTENT.into_response())
            }
            None => (
                false,
                error(StatusCode::NOT_FOUND, format!("setting {id} not found")),
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_are_distinct_and_eight_digits() {
        let a = hex8(1, 0);
        let b = hex8(2, 0);
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
