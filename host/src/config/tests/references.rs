//! Cross-file references.

use super::super::*;
use super::*;

#[test]
fn references_between_config_and_migrations() {
    let dir = tmp();
    let cfg_path = write(
        dir.path(),
        "config.yaml",
        "auth:\n  - {type: basic, name: admin_auth}\n",
    );
    write(
        dir.path(),
        "001_a.yaml",
        "up:\n  steps:\n    - request: {method: GET, url: http://x, auth_name: admn_auth}\n      response:\n        env_from:\n          id: {from: jsonpath, path: $.id}\n    - type: kafka\ndown:\n  auth: nobody\n  find:\n    request: {method: GET, url: http://x}\n  method: DELETE\n  url: http://x\n",
    );
    write(
        dir.path(),
        "002_b.yaml",
        "up:\n  request: {method: GET, url: http://x, auth_name: admin_auth}\n  response: {env_from: {loc: {from: header, path: Location}}}\n",
    );
    let config = ok(load_stage_config(&cfg_path)).value;
    let migrations = ok(load_migrations(dir.path())).value;
    let d = Diagnostics(check_references(&config, &migrations));
    find(
        &d,
        "up.steps[0].request.auth_name: unknown auth \"admn_auth\"; did you mean \"admin_auth\"?",
    );
    find(
        &d,
        "up.steps[0].response.env_from.id.from: unknown extractor \"jsonpath\"",
    );
    find(&d, "up.steps[1].type: unknown step type \"kafka\"");
    find(&d, "down.auth: unknown auth \"nobody\"");
    find(&d, "add a plugin named \"kafka\" under plugins:");
    assert_eq!(d.len(), 4, "{d}");
}
