//! Migration files.

use super::super::*;
use super::*;

#[test]
fn bad_method_has_field_and_position() {
    let (dir, r) = migration("up:\n  request:\n    method: FETCH\n    url: http://x\n");
    let d = errs(r);
    let e = find(&d, "unknown method \"FETCH\"");
    assert_eq!(e.field.as_deref(), Some("up.request.method"));
    assert_eq!((e.line, e.column), (Some(3), Some(13)));
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:13: up.request.method: unknown method \"FETCH\"; use one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
            dir.path().join("001_test.yaml").display()
        )
    );
    let (_d, r) = migration("up:\n  request:\n    method: post\n    url: http://x\n");
    assert_eq!(
        ok(r).value.up.steps[0]
            .request
            .as_ref()
            .map(|q| q.method.as_str()),
        Some("POST")
    );
}

#[test]
fn headers_in_list_and_map_form_keep_order() {
    let (_d, r) = migration(
        "up:\n  request:\n    method: GET\n    url: http://x\n    headers:\n      - {name: B, value: '2'}\n      - name: A\n        value: 1\n      - name: B\n        value: 3\n    queries:\n      z: 1\n      a: two\n      m:\n",
    );
    let m = ok(r).value;
    let req = m.up.request.expect("request");
    let headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(headers, [("B", "2"), ("A", "1"), ("B", "3")]);
    let queries: Vec<(&str, &str)> = req
        .queries
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(queries, [("z", "1"), ("a", "two"), ("m", "")]);
    let (_d, r) = migration(
        "up:\n  request:\n    method: GET\n    url: http://x\n    headers:\n      - nam: X\n",
    );
    find(&errs(r), "up.request.headers[0].nam: unknown key \"nam\"");
}

#[test]
fn env_from_string_and_map_forms() {
    let (_d, r) = migration(
        "up:\n  request: {method: GET, url: http://x}\n  response:\n    result_code: [200, \"201\", \"{{.code}}\"]\n    env_missing: fail\n    env_from:\n      id: data.id\n      loc: {from: header, path: Location}\n      x: {path: items.#.id}\n",
    );
    let m = ok(r).value;
    let resp = m.up.response.expect("response");
    assert_eq!(resp.result_code, ["200", "201", "{{.code}}"]);
    assert_eq!(resp.env_missing, EnvMissing::Fail);
    let keys: Vec<&str> = resp.env_from.keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "loc", "x"]);
    assert_eq!(
        resp.env_from["id"],
        ExtractSpec {
            from: "gjson".into(),
            path: "data.id".into()
        }
    );
    assert_eq!(
        resp.env_from["loc"],
        ExtractSpec {
            from: "header".into(),
            path: "Location".into()
        }
    );
    assert_eq!(resp.env_from["x"].from, "gjson");
}

#[test]
fn bad_response_values() {
    let (_d, r) = migration(
        "up:\n  request: {method: GET, url: http://x}\n  response:\n    result_code: [\"20\", 2000, abc]\n    env_missing: ignore\n    env_from:\n      a: {from: header}\n      b:\n",
    );
    let d = errs(r);
    let e = find(
        &d,
        "up.response.result_code[0]: \"20\" is not an HTTP status code",
    );
    assert_eq!(e.line, Some(4));
    find(&d, "result_code[1]: \"2000\" is not an HTTP status code");
    find(&d, "result_code[2]: \"abc\" is not an HTTP status code");
    find(
        &d,
        "up.response.env_missing: unknown env_missing \"ignore\"",
    );
    find(
        &d,
        "missing required key \"path\" in up.response.env_from.a",
    );
    find(&d, "no path given for \"b\"");
}

#[test]
fn body_and_body_file() {
    let dir = tmp();
    write(dir.path(), "payloads/user.json", "{}");
    let path = write(
        dir.path(),
        "001_a.yaml",
        "up:\n  request:\n    method: POST\n    url: http://x\n    body_file: payloads/user.json\n",
    );
    let m = load_migration_file(&path, 1, "a").expect("loads");
    assert_eq!(
        m.up.request.and_then(|r| r.body_file),
        Some(BodyFile::Path(dir.path().join("payloads/user.json")))
    );
    let path = write(
        dir.path(),
        "002_b.yaml",
        "up:\n  request:\n    method: POST\n    url: http://x\n    body: '{}'\n    body_file: payloads/user.json\n",
    );
    let d = errs(load_migration_file(&path, 2, "b"));
    let e = find(
        &d,
        "up.request.body_file: body and body_file cannot both be set",
    );
    assert_eq!((e.line, e.column), (Some(6), Some(5)));
    // A mapping as body is sent as JSON.
    let (_d, r) = migration(
        "up:\n  request:\n    method: POST\n    url: http://x\n    body: {a: 1, b: [x]}\n",
    );
    assert_eq!(
        ok(r).value.up.request.and_then(|r| r.body).as_deref(),
        Some(r#"{"a":1,"b":["x"]}"#)
    );
}

#[test]
fn go_style_down_is_normalised() {
    let (_d, r) = migration(
        "up:\n  request: {method: POST, url: http://x/users}\ndown:\n  name: delete user\n  auth: admin\n  env: {k: v}\n  find:\n    request:\n      method: get\n      url: http://x/users?name=a\n    response:\n      result_code: [\"200\"]\n      env_from: {user_id: \"0.id\"}\n  method: delete\n  url: \"http://x/users/{{.user_id}}\"\n  headers:\n    - name: X-Reason\n      value: cleanup\n  body: '{}'\n  response:\n    result_code: [200, 204, 404]\n",
    );
    let m = ok(r).value;
    let down = m.down.expect("down");
    assert_eq!(down.name.as_deref(), Some("delete user"));
    assert_eq!(down.auth.as_deref(), Some("admin"));
    assert_eq!(down.env.get("k").map(|v| v.source()), Some("v"));
    let req = down.request.as_ref().expect("request");
    assert_eq!(req.method, "DELETE");
    assert_eq!(req.url, "http://x/users/{{.user_id}}");
    assert_eq!(req.auth_name.as_deref(), Some("admin"));
    assert_eq!(req.headers[0].name, "X-Reason");
    assert_eq!(req.body.as_deref(), Some("{}"));
    let lookup = down.find.as_ref().expect("find");
    assert_eq!(lookup.request.method, "GET");
    assert_eq!(lookup.request.auth_name.as_deref(), Some("admin"));
    assert_eq!(
        down.response.as_ref().map(|r| r.result_code.clone()),
        Some(vec!["200".into(), "204".into(), "404".into()])
    );
    assert_eq!(down.steps.len(), 2);
    assert_eq!(down.steps[0].request.as_ref(), Some(&lookup.request));
    assert_eq!(down.steps[1].request.as_ref(), Some(req));
    assert_eq!(down.steps[1].kind, "http");

    // Problems in down are reported too.
    let (_d, r) = migration("up:\n  request: {method: GET, url: http://x}\ndown:\n  name: x\n");
    find(&errs(r), "down: down has no request");
    let (_d, r) = migration(
        "up:\n  request: {method: GET, url: http://x}\ndown:\n  method: DELETE\n  request: {method: DELETE, url: http://x}\n",
    );
    find(&errs(r), "down has both request and method");
}

#[test]
fn steps_form() {
    let (_d, r) = migration(
        "up:\n  name: two steps\n  env: {a: 1}\n  steps:\n    - name: first\n      request: {method: POST, url: http://x}\n      response: {env_from: {id: id}}\n    - name: second\n      type: kafka\n      with: {topic: t, n: 2}\n",
    );
    let m = ok(r).value;
    assert_eq!(m.up.request, None);
    let steps = m.up.steps();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].kind, HTTP_STEP);
    assert_eq!(steps[1].kind, "kafka");
    assert_eq!(
        steps[1].with.as_ref().map(|w| w.source()["n"].clone()),
        Some(serde_json::json!(2))
    );

    let (_d, r) = migration(
        "up:\n  request: {method: GET, url: http://x}\n  steps:\n    - request: {method: GET, url: http://y}\n",
    );
    find(&errs(r), "up has both steps and request");
    let (_d, r) = migration("up:\n  steps:\n    - name: s\n      with: {a: 1}\n");
    let d = errs(r);
    find(&d, "missing required key \"request\" in up.steps[0]");
    find(&d, "`with` is for plugin step types");
    let (_d, r) = migration("up:\n  name: nothing\n");
    find(&errs(r), "missing required key \"request\" in up");
    // The single-request form is one step.
    let (_d, r) = migration(MINIMAL_UP);
    let m = ok(r).value;
    assert_eq!(m.up.steps.len(), 1);
    assert_eq!(m.up.steps[0].request, m.up.request);
}

#[test]
fn one_file_reports_all_its_problems() {
    let (_d, r) = migration(
        "up:\n  nam: x\n  request:\n    method: FETCH\n    url: \"\"\n    render_body: sometimes\ndown:\n  method: DELET\n  url: http://x\n",
    );
    let d = errs(r);
    find(&d, "unknown key \"nam\"");
    find(&d, "unknown method \"FETCH\"");
    find(&d, "up.request.url: must not be empty");
    find(&d, "up.request.render_body: expected true or false");
    find(
        &d,
        "down.method: unknown method \"DELET\"; did you mean DELETE?",
    );
    assert_eq!(d.errors().count(), 5, "{d}");
    // sorted by line
    let lines: Vec<usize> = d.iter().filter_map(|x| x.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}

#[test]
fn checksum_is_sha256_of_the_bytes() {
    assert_eq!(
        checksum(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let (_d, r) = migration(MINIMAL_UP);
    assert_eq!(ok(r).value.checksum, checksum(MINIMAL_UP.as_bytes()));
}

#[test]
fn unquoted_template_is_one_clear_error() {
    let (_d, r) = migration("up:\n  request:\n    method: GET\n    url: {{.base}}\n");
    let d = errs(r);
    assert_eq!(d.len(), 1, "{d}");
    let e = find(&d, "unquoted template {{.base}}");
    assert_eq!((e.line, e.column), (Some(4), Some(10)));
    assert_eq!(e.hint.as_deref(), Some("quote it: \"{{.base}}\""));
}

#[test]
fn timestamp_versions_and_templated_body_file() {
    let dir = tmp();
    let path = write(
        dir.path(),
        "20261127093000_create.yaml",
        "up:\n  request:\n    method: PUT\n    url: http://x\n    body_file: \"payloads/{{.kind}}.json\"\n    render_body: false\n    retry: true\n",
    );
    let l = ok(load_migrations(dir.path()));
    let m = &l.value[0];
    assert_eq!(m.version, 20_261_127_093_000);
    assert_eq!(m.path, path);
    let req = m.up.request.as_ref().expect("request");
    let Some(BodyFile::Template {
        path: body_path,
        base,
    }) = &req.body_file
    else {
        panic!("a templated body_file: {:?}", req.body_file);
    };
    assert_eq!(body_path.source(), "payloads/{{.kind}}.json");
    assert_eq!(base, dir.path());
    assert_eq!(req.render_body, Some(false));
    assert_eq!(req.retry, Some(true));
}

#[test]
fn down_variants() {
    // No down, or an empty one.
    let (_d, r) = migration(&format!("{MINIMAL_UP}down:\n"));
    assert_eq!(ok(r).value.down, None);
    // Steps under down inherit down.auth.
    let (_d, r) = migration(&format!(
        "{MINIMAL_UP}down:\n  auth: admin\n  steps:\n    - request: {{method: DELETE, url: http://x/1}}\n    - request: {{method: DELETE, url: http://x/2, auth_name: other}}\n"
    ));
    let down = ok(r).value.down.expect("down");
    assert_eq!(down.request, None);
    let auths: Vec<Option<&str>> = down
        .steps
        .iter()
        .map(|s| s.request.as_ref().and_then(|r| r.auth_name.as_deref()))
        .collect();
    assert_eq!(auths, [Some("admin"), Some("other")]);
    // Nested request form.
    let (_d, r) = migration(&format!(
        "{MINIMAL_UP}down:\n  auth: admin\n  request:\n    method: DELETE\n    url: http://x\n"
    ));
    let down = ok(r).value.down.expect("down");
    assert_eq!(
        down.request.and_then(|r| r.auth_name).as_deref(),
        Some("admin")
    );
    // steps plus Go-form keys.
    let (_d, r) = migration(&format!(
        "{MINIMAL_UP}down:\n  method: DELETE\n  steps:\n    - request: {{method: DELETE, url: http://x}}\n"
    ));
    find(&errs(r), "down.method: down has both steps and method");
}

#[test]
fn env_from_must_be_a_mapping_and_env_values_are_text() {
    let (_d, r) = migration(
        "up:\n  env:\n    port: 8080\n    ratio: 1.10\n    on: yes\n    empty:\n  request: {method: GET, url: http://x}\n  response:\n    env_from: [id]\n",
    );
    let d = errs(r);
    let e = find(
        &d,
        "up.response.env_from: expected a mapping of variable names to paths, found a list",
    );
    assert_eq!(e.line, Some(9));
    let (_d, r) = migration(
        "up:\n  env:\n    port: 8080\n    ratio: 1.10\n    on: yes\n    empty:\n  request: {method: GET, url: http://x}\n",
    );
    let env = ok(r).value.up.env;
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("port", "8080"),
            ("ratio", "1.10"),
            ("on", "yes"),
            ("empty", "")
        ]
    );
}

#[test]
fn anchors_and_merge_keys_in_a_migration() {
    let (_d, r) = migration(
        "x-common: &common\n  method: GET\n  headers: [{name: Accept, value: application/json}]\nup:\n  request:\n    <<: *common\n    url: http://x\n",
    );
    // `x-common` is not a migration key: reported, with the anchor still usable.
    let d = errs(r);
    assert_eq!(d.len(), 1, "{d}");
    find(&d, "unknown key \"x-common\" in migration file");
    let (_d, r) = migration(
        "up:\n  env: &e {a: 1}\n  request:\n    method: GET\n    url: http://x\n    headers: &h\n      - {name: A, value: b}\ndown:\n  env: *e\n  method: DELETE\n  url: http://x\n  headers: *h\n",
    );
    let m = ok(r).value;
    let down = m.down.expect("down");
    assert_eq!(down.env.get("a").map(|v| v.as_str()), Some("1"));
    assert_eq!(down.request.map(|r| r.headers.len()), Some(1));
}
