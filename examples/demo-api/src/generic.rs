//! Generic CRUD on any collection: `/api/{collection}[/{id}]`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::app::{Json, error, filters, json_object, json_status, matches_filters, query_pairs};
use crate::state::AppState;

fn not_found(collection: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("{collection}/{id} not found"),
    )
}

fn parse_id(id: &str) -> Option<u64> {
    id.parse().ok()
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    uri: Uri,
) -> Response {
    let filters = filters(uri.query(), &["unique"]);
    let inner = state.lock();
    let items: Vec<Value> = inner
        .res
        .collections
        .get(&collection)
        .map(|c| {
            c.items
                .values()
                .filter(|item| matches_filters(item, &filters))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Json(Value::Array(items)).into_response()
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let unique: Vec<String> = query_pairs(uri.query())
        .into_iter()
        .filter(|(k, _)| k == "unique")
        .flat_map(|(_, v)| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    state.mutate(|res| {
        let coll = res.collections.entry(collection.clone()).or_default();
        for field in &unique {
            let Some(want) = body.get(field) else {
                continue;
            };
            if let Some(existing) = coll.items.values().find(|i| i.get(field) == Some(want)) {
                return (
                    false,
                    json_status(
                        StatusCode::CONFLICT,
                        json!({
                            "error": format!("{collection} with {field} = {want} already exists"),
                            "status": 409,
                            "existing": existing,
                        }),
                    ),
                );
            }
        }
        coll.last_id += 1;
        let id = coll.last_id;
        let item = with_id(id, body);
        coll.items.insert(id, item.clone());
        (true, json_status(StatusCode::CREATED, item))
    })
}

fn with_id(id: u64, body: Map<String, Value>) -> Value {
    let mut obj = body;
    obj.insert("id".into(), id.into());
    Value::Object(obj)
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
) -> Response {
    let inner = state.lock();
    match parse_id(&id).and_then(|n| inner.res.collections.get(&collection)?.items.get(&n)) {
        Some(item) => Json(item.clone()).into_response(),
        None => not_found(&collection, &id),
    }
}

pub(crate) async fn replace(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    update(&state, &collection, &id, |_, n| with_id(n, body))
}

pub(crate) async fn patch(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    update(&state, &collection, &id, |old, n| {
        let mut item = old.clone();
        merge_patch(&mut item, &Value::Object(body));
        item["id"] = n.into();
        item
    })
}

fn update(
    state: &AppState,
    collection: &str,
    id: &str,
    f: impl FnOnce(&Value, u64) -> Value,
) -> Response {
    state.mutate(|res| {
        let slot = parse_id(id).and_then(|n| {
            res.collections
                .get_mut(collection)?
                .items
                .get_mut(&n)
                .map(|v| (n, v))
        });
        match slot {
            Some((n, item)) => {
                *item = f(item, n);
                (true, Json(item.clone()).into_response())
            }
            None => (false, not_found(collection, id)),
        }
    })
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(obj) = target else {
        return;
    };
    for (k, v) in patch {
        if v.is_null() {
            obj.remove(k);
        } else {
            merge_patch(obj.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
) -> Response {
    state.mutate(|res| {
        let removed =
            parse_id(&id).and_then(|n| res.collections.get_mut(&collection)?.items.remove(&n));
        match removed {
            Some(_) => (true, StatusCode::NO_CONTENT.into_response()),
            None => (false, not_found(&collection, &id)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_rfc7386() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4});
        merge_patch(
            &mut v,
            &json!({"a": 9, "b": {"c": null, "x": 1}, "e": null}),
        );
        assert_eq!(v, json!({"a": 9, "b": {"d": 3, "x": 1}}));
    }
}
