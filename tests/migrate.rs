//! End-to-end: single-stage `up`, `down`, `status` with the real binary
//! against the demo API on 127.0.0.1.

mod support;

use support::{Api, Project, basic_config};

#[test]
fn up_uses_an_extracted_id_in_a_later_file_and_down_removes_everything() {
    let api = Api::with_basic("admin", "secret");
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write(
        "migration/001_create_user.yaml",
        r#"up:
  name: create user
  request:
    auth_name: admin
    method: POST
    url: "{{.api_base}}/api/users"
    body: '{"username": "demo"}'
  response:
    result_code: ["201"]
    env_from:
      user_id: id
down:
  auth: admin
  method: DELETE
  url: "{{.api_base}}/api/users/{{.user_id}}"
"#,
    );
    project.write(
        "migration/002_create_profile.yaml",
        r#"up:
  request:
    auth_name: admin
    method: POST
    url: "{{.api_base}}/api/profiles"
    body: '{"user_id": {{.user_id}}}'
  response:
    env_from:
      profile_id: id
down:
  auth: admin
  method: DELETE
  url: "{{.api_base}}/api/profiles/{{.profile_id}}"
"#,
    );
    project.apirun(&["up"]).success();
    let profiles = api.requests_to("POST", "/api/profiles");
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0]["body"], r#"{"user_id": 1}"#);

    project.apirun(&["down", "--to", "0"]).success();
    let state = api.state();
    // Empty collections disappear from the API's state.
    assert_eq!(state["collections"], serde_json::json!({}), "{state}");
}
