//! End-to-end tests: start the server on port 0 and drive it over HTTP.

use std::time::{Duration, Instant};

use apirun_demo_api::{BackgroundServer, Config, Server};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

async fn start() -> Server {
    Server::start(Config::default())
        .await
        .expect("start server")
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Send a request and return (status, JSON body or Null).
async fn call(c: &Client, method: Method, url: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = c.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, v)
}

fn empty_state() -> Value {
    json!({"collections": {}, "vpcs": [], "rds_instances": [], "deployments": [], "services": {}})
}

#[tokio::test]
async fn generic_crud() {
    let s = start().await;
    let c = client();
    let u = format!("{}/api/users", s.base_url());

    let (st, v) = call(
        &c,
        Method::POST,
        &u,
        Some(json!({"username": "demo", "age": 3})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v, json!({"id": 1, "username": "demo", "age": 3}));
    let (st, v) = call(
        &c,
        Method::POST,
        &u,
        Some(json!({"username": "other", "id": 99})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v["id"], 2, "server assigns ids");
    // ids are per collection
    let (_, v) = call(
        &c,
        Method::POST,
        &format!("{}/api/groups", s.base_url()),
        Some(json!({})),
    )
    .await;
    assert_eq!(v["id"], 1);

    // bad bodies
    let (st, v) = call(&c, Method::POST, &u, Some(json!([1, 2]))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["error"].is_string());
    let resp = c.post(&u).body("not json").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // list and filter
    let (st, v) = call(&c, Method::GET, &u, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (_, v) = call(&c, Method::GET, &format!("{u}?username=demo"), None).await;
    assert_eq!(v, json!([{"id": 1, "username": "demo", "age": 3}]));
    let (_, v) = call(&c, Method::GET, &format!("{u}?age=3&_delay_ms=0"), None).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = call(
        &c,
        Method::GET,
        &format!("{}/api/nothing", s.base_url()),
        None,
    )
    .await;
    assert_eq!(v, json!([]));

    // one item
    let (st, v) = call(&c, Method::GET, &format!("{u}/1"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["username"], "demo");
    let (st, v) = call(
        &c,
        Method::PUT,
        &format!("{u}/1"),
        Some(json!({"username": "new"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v, json!({"id": 1, "username": "new"}));
    let (st, v) = call(
        &c,
        Method::PATCH,
        &format!("{u}/1"),
        Some(json!({"email": "e@x", "username": null})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v, json!({"id": 1, "email": "e@x"}));
    let (st, v) = call(&c, Method::DELETE, &format!("{u}/1"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(v, Value::Null);
    for m in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let body = (m == Method::PUT || m == Method::PATCH).then(|| json!({}));
        let (st, v) = call(&c, m.clone(), &format!("{u}/1"), body).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{m} after delete");
        assert!(v["error"].is_string());
    }
    let (st, _) = call(&c, Method::GET, &format!("{u}/abc"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // ids are not reused
    let (_, v) = call(&c, Method::POST, &u, Some(json!({"username": "third"}))).await;
    assert_eq!(v["id"], 3);

    // uniqueness
    let uu = format!("{u}?unique=username");
    let (st, v) = call(&c, Method::POST, &uu, Some(json!({"username": "third"}))).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(v["existing"]["id"], 3);
    let (st, _) = call(&c, Method::POST, &uu, Some(json!({"username": "fourth"}))).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = call(&c, Method::POST, &u, Some(json!({"username": "third"}))).await;
    assert_eq!(st, StatusCode::CREATED, "unique only when asked");
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_answer_json() {
    let s = start().await;
    let c = client();
    let (st, v) = call(
        &c,
        Method::GET,
        &format!("{}/no/such/thing", s.base_url()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("/no/such/thing"));
    let (st, v) = call(&c, Method::PUT, &format!("{}/vpc", s.base_url()), None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["error"].is_string());
    let (st, v) = call(
        &c,
        Method::GET,
        &format!("{}/_admin/health", s.base_url()),
        None,
    )
    .await;
    assert_eq!((st, v), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test]
async fn query_delay_and_status() {
    let s = start().await;
    let c = client();
    let u = format!("{}/api/items", s.base_url());

    let t = Instant::now();
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{u}?_delay_ms=300"),
        Some(json!({"a": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    let (st, v) = call(
        &c,
        Method::POST,
        &format!("{u}?_status=503"),
        Some(json!({"a": 2})),
    )
    .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["status"], 503);
    assert!(v["error"].is_string());
    let (_, v) = call(&c, Method::GET, &u, None).await;
    assert_eq!(
        v.as_array().unwrap().len(),
        1,
        "a faulted request has no effect"
    );

    let (st, _) = call(
        &c,
        Method::GET,
        &format!("{}/anything?_status=429", s.base_url()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    let (st, _) = call(&c, Method::GET, &format!("{u}?_status=abc"), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = call(&c, Method::GET, &format!("{u}?_delay_ms=-1"), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn armed_faults() {
    let s = start().await;
    let c = client();
    let base = s.base_url();
    let faults = format!("{base}/_admin/faults");
    let users = format!("{base}/api/users");

    let (st, v) = call(
        &c,
        Method::POST,
        &faults,
        Some(json!({"method": "post", "path": "/api/users", "status": 503, "times": 2})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v["id"], 1);
    // other methods and paths are not affected
    let (st, _) = call(&c, Method::GET, &users, None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{base}/api/other"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    for _ in 0..2 {
        let (st, v) = call(&c, Method::POST, &users, Some(json!({"u": 1}))).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(v["status"], 503);
    }
    let (st, v) = call(&c, Method::POST, &users, Some(json!({"u": 1}))).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v["id"], 1, "faulted requests created nothing");
    let (_, v) = call(&c, Method::GET, &faults, None).await;
    assert_eq!(v, json!([]), "used-up faults disappear");

    // custom body, prefix path, any method
    call(
        &c,
        Method::POST,
        &faults,
        Some(json!({"path": "/api/*", "status": 429, "body": {"message": "slow down"}})),
    )
    .await;
    let (st, v) = call(&c, Method::DELETE, &format!("{users}/1"), None).await;
    assert_eq!(
        (st, v),
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"message": "slow down"})
        )
    );

    // delay only: answered normally, late
    call(
        &c,
        Method::POST,
        &faults,
        Some(json!({"method": "GET", "path": "/api/users", "delay_ms": 250})),
    )
    .await;
    let t = Instant::now();
    let (st, _) = call(&c, Method::GET, &users, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(250));

    // clearing
    call(
        &c,
        Method::POST,
        &faults,
        Some(json!({"status": 500, "times": 5})),
    )
    .await;
    let (_, v) = call(&c, Method::GET, &faults, None).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (st, _) = call(&c, Method::DELETE, &faults, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = call(&c, Method::GET, &users, None).await;
    assert_eq!(st, StatusCode::OK);

    // bad fault definitions
    let (st, _) = call(&c, Method::POST, &faults, Some(json!({"times": 0}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = call(&c, Method::POST, &faults, Some(json!({"status": 1000}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = call(&c, Method::POST, &faults, Some(json!({"status": "x"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reset_fault_drops_the_connection() {
    let s = start().await;
    let c = client();
    let base = s.base_url();
    call(
        &c,
        Method::POST,
        &format!("{base}/_admin/faults"),
        Some(json!({"method": "POST", "path": "/api/users", "reset": true})),
    )
    .await;
    let err = c
        .post(format!("{base}/api/users"))
        .json(&json!({"u": 1}))
        .send()
        .await
        .expect_err("connection must be dropped without an answer");
    assert!(!err.is_timeout(), "{err:?}");
    // the next request is answered normally
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{base}/api/users"),
        Some(json!({"u": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, log) = call(&c, Method::GET, &format!("{base}/_admin/requests"), None).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0]["status"],
        Value::Null,
        "the dropped request was never answered"
    );
    assert_eq!(log[1]["status"], 201);
}

#[tokio::test]
async fn request_log() {
    let s = start().await;
    let c = client();
    let base = s.base_url();
    let resp = c
        .post(format!("{base}/api/users?notify=true&x=1"))
        .header("X-Custom-Header", "Value1")
        .basic_auth("alice", Some("pw"))
        .json(&json!({"username": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    c.delete(format!("{base}/api/users/1"))
        .send()
        .await
        .unwrap();

    let (st, log) = call(&c, Method::GET, &format!("{base}/_admin/requests"), None).await;
    assert_eq!(st, StatusCode::OK);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "admin requests are not logged: {log:?}");
    let e = &log[0];
    assert_eq!(e["method"], "POST");
    assert_eq!(e["path"], "/api/users");
    assert_eq!(e["query"], "notify=true&x=1");
    assert_eq!(e["headers"]["x-custom-header"], "Value1");
    assert_eq!(e["headers"]["content-type"], "application/json");
    assert!(
        e["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(
        serde_json::from_str::<Value>(e["body"].as_str().unwrap()).unwrap(),
        json!({"username": "demo"})
    );
    assert_eq!(e["auth"], "basic");
    assert_eq!(e["user"], "alice");
    assert_eq!(e["status"], 201);
    assert_eq!(e["seq"], 1);
    assert!(e["time"].as_str().unwrap().ends_with('Z'));
    assert!(e["time_ms"].as_u64().unwrap() > 0);
    assert_eq!(log[1]["method"], "DELETE");
    assert_eq!(log[1]["status"], 204);
    assert_eq!(log[1]["user"], Value::Null);

    let (_, only) = call(
        &c,
        Method::GET,
        &format!("{base}/_admin/requests?method=delete"),
        None,
    )
    .await;
    assert_eq!(only.as_array().unwrap().len(), 1);

    let (st, _) = call(&c, Method::DELETE, &format!("{base}/_admin/requests"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, log) = call(&c, Method::GET, &format!("{base}/_admin/requests"), None).await;
    assert_eq!(log, json!([]));
}

#[tokio::test]
async fn admin_state_and_reset() {
    let s = start().await;
    let c = client();
    let base = s.base_url();
    let (_, v) = call(&c, Method::GET, &format!("{base}/_admin/state"), None).await;
    assert_eq!(v, empty_state());
    call(
        &c,
        Method::POST,
        &format!("{base}/api/things"),
        Some(json!({"a": 1})),
    )
    .await;
    call(
        &c,
        Method::POST,
        &format!("{base}/vpc"),
        Some(json!({"name": "v", "cidr_block": "10.0.0.0/16"})),
    )
    .await;
    call(
        &c,
        Method::POST,
        &format!("{base}/_admin/faults"),
        Some(json!({"status": 500, "times": 9})),
    )
    .await;
    let (_, v) = call(&c, Method::GET, &format!("{base}/_admin/state"), None).await;
    assert_eq!(v["collections"]["things"], json!([{"id": 1, "a": 1}]));
    assert_eq!(v["vpcs"].as_array().unwrap().len(), 1);

    let (st, _) = call(&c, Method::POST, &format!("{base}/_admin/reset"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = call(&c, Method::GET, &format!("{base}/_admin/state"), None).await;
    assert_eq!(v, empty_state());
    let (_, v) = call(&c, Method::GET, &format!("{base}/_admin/requests"), None).await;
    assert_eq!(v, json!([]));
    // faults were cleared and counters restart
    let (st, v) = call(
        &c,
        Method::POST,
        &format!("{base}/api/things"),
        Some(json!({})),
    )
    .await;
    assert_eq!((st, v["id"].clone()), (StatusCode::CREATED, json!(1)));
}

#[tokio::test]
async fn basic_and_bearer_auth() {
    let s = Server::start(Config {
        basic: vec![("admin".into(), "secret".into())],
        bearer: vec!["tok123".into()],
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client();
    let u = format!("{}/api/users", s.base_url());

    let resp = c.get(&u).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"].is_string());

    let resp = c
        .get(&u)
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = c.get(&u).bearer_auth("nope").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let resp = c
        .get(&u)
        .basic_auth("admin", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = c
        .post(&u)
        .bearer_auth("tok123")
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // admin endpoints need no credentials
    let (st, log) = call(
        &c,
        Method::GET,
        &format!("{}/_admin/requests", s.base_url()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let statuses: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!(401), json!(401), json!(401), json!(200), json!(201)]
    );
    let users: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user"].clone())
        .collect();
    assert_eq!(
        users,
        vec![
            Value::Null,
            json!("admin"),
            Value::Null,
            json!("admin"),
            Value::Null
        ]
    );
    assert_eq!(log[4]["auth"], "bearer");
}

/// The whole multi-stage seed example, request by request, as apirun sends it
/// (values extracted with the migrations' env_from paths), then rolled back.
#[tokio::test]
async fn seed_flow_up_and_down() {
    let s = Server::start(Config {
        basic: vec![
            ("aws-key".into(), "aws-secret".into()),
            ("k8s-user".into(), "k8s-token".into()),
            ("admin".into(), "admin-pw".into()),
        ],
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client();
    let base = s.base_url().to_owned();
    let send = |method: Method,
                url: String,
                user: &'static str,
                pass: &'static str,
                body: Option<Value>| {
        let c = c.clone();
        async move {
            let mut req = c.request(method, &url).basic_auth(user, Some(pass));
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.unwrap();
            let st = resp.status();
            let text = resp.text().await.unwrap();
            (
                st,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let aws =
        |m: Method, url: String, body: Option<Value>| send(m, url, "aws-key", "aws-secret", body);
    let k8s =
        |m: Method, url: String, body: Option<Value>| send(m, url, "k8s-user", "k8s-token", body);
    let adm = |m: Method, url: String, body: Option<Value>| send(m, url, "admin", "admin-pw", body);
    let ptr = |v: &Value, p: &str| {
        v.pointer(p)
            .cloned()
            .unwrap_or_else(|| panic!("{p} missing in {v}"))
    };

    // ---- infrastructure 001: VPC
    let (st, v) = aws(
        Method::POST,
        format!("{base}/vpc"),
        Some(json!({
            "cidr_block": "10.0.0.0/16", "name": "my-awesome-project-vpc",
            "enable_dns_hostnames": true, "enable_dns_support": true,
            "tags": {"Environment": "development", "Project": "my-awesome-project"}
        })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let vpc_id = ptr(&v, "/vpc/id").as_str().unwrap().to_owned();
    let sg_id = ptr(&v, "/vpc/security_group_id")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(vpc_id.starts_with("vpc-") && vpc_id.len() == 12, "{vpc_id}");
    assert!(sg_id.starts_with("sg-") && sg_id.len() == 11, "{sg_id}");
    assert_eq!(ptr(&v, "/vpc/cidr_block"), "10.0.0.0/16");
    assert_eq!(ptr(&v, "/vpc/name"), "my-awesome-project-vpc");
    assert_eq!(ptr(&v, "/vpc/tags/Project"), "my-awesome-project");

    // ---- infrastructure 002: database (unknown security group refused first)
    let db_body = |sg: &str| {
        json!({
            "db_instance_identifier": "my-awesome-project-db", "db_instance_class": "db.t3.micro",
            "engine": "postgres", "engine_version": "13.7", "allocated_storage": 20,
            "vpc_security_group_ids": [sg], "db_subnet_group_name": "my-awesome-project-subnet-group",
            "backup_retention_period": 7, "multi_az": false, "publicly_accessible": false,
            "tags": {"Environment": "development", "Project": "my-awesome-project"}
        })
    };
    let (st, _) = aws(
        Method::POST,
        format!("{base}/rds/instances"),
        Some(db_body("sg-00000000")),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, v) = aws(
        Method::POST,
        format!("{base}/rds/instances"),
        Some(db_body(&sg_id)),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(
        ptr(&v, "/db_instance/db_instance_identifier"),
        "my-awesome-project-db"
    );
    let db_endpoint = ptr(&v, "/db_instance/endpoint/address");
    assert_eq!(db_endpoint, "my-awesome-project-db.db.local");
    assert_eq!(ptr(&v, "/db_instance/endpoint/port"), 5432);
    assert_eq!(ptr(&v, "/db_instance/status"), "creating");
    let (st, _) = aws(
        Method::POST,
        format!("{base}/rds/instances"),
        Some(db_body(&sg_id)),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);

    // ---- configuration before services exist: refused
    let (st, v) = adm(
        Method::POST,
        format!("{base}/svc/auth-service/users"),
        Some(json!({"username": "admin"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("not deployed"));

    // ---- services 001/002: deployments (through the /api/v1 prefix of the published config)
    let ns = "my-awesome-project-development";
    let deployment = |name: &str, port: u16, env: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name, "version": "v1.0.0"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                    "name": name, "image": format!("my-registry.example.com/{name}:v1.0.0"),
                    "ports": [{"containerPort": port, "protocol": "TCP"}], "env": env}]}}}
        })
    };
    let auth_dep = deployment(
        "auth-service",
        8080,
        json!([{"name": "DB_HOST", "value": db_endpoint}]),
    );
    let (st, v) = k8s(
        Method::POST,
        format!("{base}/api/v1/namespaces/{ns}/deployments"),
        Some(auth_dep.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(ptr(&v, "/metadata/name"), "auth-service");
    let auth_service_url = ptr(&v, "/metadata/labels/service_url")
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(auth_service_url, format!("{base}/svc/auth-service"));
    assert_eq!(v["spec"], auth_dep["spec"], "body echoed");
    assert_eq!(ptr(&v, "/metadata/labels/app"), "auth-service");
    let (st, _) = k8s(
        Method::POST,
        format!("{base}/namespaces/{ns}/deployments"),
        Some(auth_dep),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);

    let api_dep = deployment(
        "api-service",
        3000,
        json!([{"name": "AUTH_SERVICE_URL", "value": auth_service_url}]),
    );
    let (st, v) = k8s(
        Method::POST,
        format!("{base}/namespaces/{ns}/deployments"),
        Some(api_dep),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let api_service_url = ptr(&v, "/metadata/labels/service_url")
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api_service_url, format!("{base}/svc/api-service"));
    let (st, v) = k8s(
        Method::GET,
        format!("{base}/namespaces/{ns}/deployments"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let (st, v) = k8s(
        Method::GET,
        format!("{base}/namespaces/{ns}/deployments/api-service"),
        None,
    )
    .await;
    assert_eq!(
        (st, ptr(&v, "/metadata/name")),
        (StatusCode::OK, json!("api-service"))
    );

    // ---- configuration 001: admin user
    let user_body = json!({
        "username": "admin", "email": "admin@example.com", "password": "admin-pw", "role": "admin",
        "active": true, "metadata": {"created_by": "apirun", "stage": "configuration", "project": "my-awesome-project"}
    });
    let (st, v) = adm(
        Method::POST,
        format!("{auth_service_url}/users"),
        Some(user_body.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let admin_user_id = ptr(&v, "/user/id");
    assert_eq!(admin_user_id, "usr-1");
    assert_eq!(ptr(&v, "/user/email"), "admin@example.com");
    assert_eq!(ptr(&v, "/user/role"), "admin");
    assert!(v["user"].get("password").is_none(), "password never echoed");
    let (st, v) = adm(
        Method::POST,
        format!("{auth_service_url}/users"),
        Some(user_body),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(v["error"].is_string());
    assert_eq!(
        ptr(&v, "/user/id"),
        admin_user_id,
        "409 still carries user.id"
    );

    // ---- configuration 002: settings (201, then 200 with version 2)
    let setting = json!({"key": "default_configuration", "value": {"default_user_role": "user", "session_timeout": 3600},
        "description": "Default application configuration", "tags": ["default"]});
    let (st, v) = adm(
        Method::POST,
        format!("{api_service_url}/admin/settings"),
        Some(setting.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let settings_id = ptr(&v, "/setting/id").as_str().unwrap().to_owned();
    assert_eq!(settings_id, "set-1");
    assert_eq!(ptr(&v, "/setting/version"), 1);
    assert_eq!(ptr(&v, "/setting/key"), "default_configuration");
    assert_eq!(ptr(&v, "/setting/value/session_timeout"), 3600);
    let (st, v) = adm(
        Method::POST,
        format!("{api_service_url}/admin/settings"),
        Some(setting),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (ptr(&v, "/setting/id"), ptr(&v, "/setting/version")),
        (json!(settings_id), json!(2))
    );

    let (_, state) = call(&c, Method::GET, &format!("{base}/_admin/state"), None).await;
    assert_eq!(state["vpcs"].as_array().unwrap().len(), 1);
    assert_eq!(state["rds_instances"].as_array().unwrap().len(), 1);
    assert_eq!(state["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(
        state["services"]["auth-service"]["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        state["services"]["api-service"]["settings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // ---- rollback, newest first, with the down blocks' find steps
    let (st, _) = adm(
        Method::DELETE,
        format!("{api_service_url}/admin/settings/{settings_id}"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = adm(
        Method::GET,
        format!("{auth_service_url}/users?username=admin"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let found = ptr(&v, "/users/0/id");
    assert_eq!(found, admin_user_id);
    let (st, _) = adm(
        Method::DELETE,
        format!("{auth_service_url}/users/{}", found.as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = adm(
        Method::DELETE,
        format!("{auth_service_url}/users/usr-1"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    for name in ["api-service", "auth-service"] {
        let (st, _) = k8s(
            Method::DELETE,
            format!("{base}/api/v1/namespaces/{ns}/deployments/{name}"),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
    }
    let (st, _) = k8s(
        Method::DELETE,
        format!("{base}/namespaces/{ns}/deployments/api-service"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // the VPC cannot go while the database uses its security group
    let (st, v) = aws(Method::DELETE, format!("{base}/vpc/{vpc_id}"), None).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let (st, v) = aws(
        Method::DELETE,
        format!("{base}/rds/instances/my-awesome-project-db"),
        Some(json!({"skip_final_snapshot": true, "delete_automated_backups": true})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ptr(&v, "/db_instance/status"), "deleting");
    let (st, v) = aws(
        Method::GET,
        format!("{base}/vpc?name=my-awesome-project-vpc"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ptr(&v, "/vpcs/0/id"), json!(vpc_id));
    let (st, v) = aws(Method::GET, format!("{base}/vpc?name=other"), None).await;
    assert_eq!((st, v), (StatusCode::OK, json!({"vpcs": []})));
    let (st, _) = aws(Method::DELETE, format!("{base}/vpc/{vpc_id}"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = aws(Method::DELETE, format!("{base}/vpc/{vpc_id}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (_, state) = call(&c, Method::GET, &format!("{base}/_admin/state"), None).await;
    assert_eq!(state, empty_state());
}

#[tokio::test]
async fn seed_endpoints_validate_input() {
    let s = start().await;
    let c = client();
    let base = s.base_url();
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{base}/vpc"),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "cidr_block required");
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{base}/rds/instances"),
        Some(json!({"engine": "pg"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "identifier required");
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{base}/namespaces/a/deployments"),
        Some(json!({"kind": "Deployment"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "metadata.name required");
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{base}/namespaces/a/deployments"),
        Some(json!({"metadata": {"name": "x", "namespace": "b"}})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "namespace mismatch");
    let (st, v) = call(
        &c,
        Method::POST,
        &format!("{base}/namespaces/a/deployments"),
        Some(json!({"metadata": {"name": "svc"}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v["metadata"]["namespace"], "a");
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{base}/svc/svc/users"),
        Some(json!({"email": "x"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "username required");
    let (st, _) = call(
        &c,
        Method::POST,
        &format!("{base}/svc/svc/admin/settings"),
        Some(json!({"value": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "key required");
    let (st, v) = call(
        &c,
        Method::GET,
        &format!("{base}/svc/svc/users?username=nobody"),
        None,
    )
    .await;
    assert_eq!((st, v), (StatusCode::OK, json!({"users": []})));
    let (st, _) = call(&c, Method::GET, &format!("{base}/svc/other/users"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(&c, Method::GET, &format!("{base}/vpc/vpc-00000000"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(
        &c,
        Method::DELETE,
        &format!("{base}/rds/instances/nope"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[test]
fn background_server_for_sync_tests() {
    let s = BackgroundServer::start(Config::default()).unwrap();
    assert!(s.base_url().starts_with("http://127.0.0.1:"));
    assert_ne!(s.addr().port(), 0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter(); // reqwest clients need a runtime context
    let (st, _) = rt.block_on(call(
        &client(),
        Method::POST,
        &format!("{}/api/x", s.base_url()),
        Some(json!({})),
    ));
    assert_eq!(st, StatusCode::CREATED);
    let url = s.base_url().to_owned();
    drop(s);
    let after = rt.block_on(client().get(format!("{url}/api/x")).send());
    assert!(after.is_err(), "server stopped on drop");
}

/// The binary: stdout line, port file, state file across a restart, SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn binary_port_file_state_file_and_sigterm() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    let dir = std::env::temp_dir().join(format!("apirun-demo-api-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port_file = dir.join("port");
    let state_file = dir.join("state.json");
    let _ = std::fs::remove_file(&port_file);
    let _ = std::fs::remove_file(&state_file);

    /// Kills the server if the test fails half-way.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }

    let run = |port_file: &std::path::Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_apirun-demo-api"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--basic",
                "admin:secret",
                "--port-file",
            ])
            .arg(port_file)
            .arg("--state-file")
            .arg(&state_file)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        (Guard(child), line)
    };
    let stop = |Guard(child): &mut Guard| {
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let status = child.wait().unwrap();
        assert!(status.success(), "exit status after SIGTERM: {status:?}");
    };

    let (mut child, line) = run(&port_file);
    let url = std::fs::read_to_string(&port_file).unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with('\n'),
        "{url:?}"
    );
    assert_eq!(line, format!("listening on {url}\n"));

    let c = client();
    let resp = c
        .post(format!("{url}/vpc"))
        .basic_auth("admin", Some("secret"))
        .json(&json!({"name": "v", "cidr_block": "10.0.0.0/16"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let first: Value = resp.json().await.unwrap();
    let resp = c.get(format!("{url}/vpc")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    stop(&mut child);

    // restart: the VPC is still there, new ids do not collide
    let port_file2 = dir.join("port2");
    let (mut child, _) = run(&port_file2);
    let url = std::fs::read_to_string(&port_file2).unwrap();
    let (_, state) = call(&c, Method::GET, &format!("{url}/_admin/state"), None).await;
    assert_eq!(state["vpcs"], json!([first["vpc"]]));
    let resp = c
        .post(format!("{url}/vpc"))
        .basic_auth("admin", Some("secret"))
        .json(&json!({"name": "w", "cidr_block": "10.1.0.0/16"}))
        .send()
        .await
        .unwrap();
    let second: Value = resp.json().await.unwrap();
    assert_ne!(first["vpc"]["id"], second["vpc"]["id"]);
    stop(&mut child);

    // a port that is taken: clear error, non-zero exit
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_apirun-demo-api"))
        .args(["--listen", &taken.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot start"));

    let _ = std::fs::remove_dir_all(&dir);
}
