//! The published seed example loads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::*;
use super::*;

fn seed_tree() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../shared/spec/seed-tree"),
        manifest.join("../shared/spec/seed-tree"),
        PathBuf::from("/work/shared/spec/seed-tree"),
    ];
    candidates
        .iter()
        .find(|p| p.join("stages.yaml").is_file())
        .cloned()
        .unwrap_or_else(|| panic!("seed tree not found; looked in {candidates:?}"))
}

#[test]
fn seed_tree_loads_without_errors() {
    let root = seed_tree();
    let stages = ok(load_stages_file(&root.join("stages.yaml")));
    assert!(stages.warnings.is_empty(), "{:?}", stages.warnings);
    let s = &stages.value;
    assert_eq!(s.api_version, "apirun/v1");
    assert_eq!(s.kind, "StageOrchestration");
    let names: Vec<&str> = s.stages.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["infrastructure", "services", "configuration"]);
    let services = s.stage("services").expect("services");
    assert_eq!(services.env.get("replicas").map(String::as_str), Some("3"));
    assert_eq!(services.timeout, Some(Duration::from_secs(600)));
    assert_eq!(services.depends_on, ["infrastructure"]);
    assert_eq!(
        services.env_from_stages[0].vars,
        ["vpc_id", "db_endpoint", "security_group_id"]
    );
    assert_eq!(
        s.stage("configuration")
            .and_then(|c| c.condition.as_deref()),
        Some("true")
    );
    assert_eq!(s.global.max_concurrent_stages, 2);
    assert!(s.global.rollback_on_failure);
    assert_eq!(s.global.wait_between_stages, Duration::from_secs(10));
    assert_eq!(
        s.stage("infrastructure").map(|i| i.on_failure),
        Some(OnFailure::Stop)
    );

    let mut total = 0;
    for stage in &s.stages {
        assert!(stage.config_path.is_file());
        let cfg = ok(load_stage_config(&stage.config_path));
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        let cfg = cfg.value;
        assert_eq!(cfg.migrate_dir, root.join(&stage.name).join("migration"));
        assert_eq!(cfg.store.kind, StoreKind::Sqlite);
        assert_eq!(
            cfg.store.sqlite.path,
            root.join(&stage.name)
                .join(format!("{}_state.db", stage.name))
        );
        assert_eq!(cfg.auth.len(), 1);
        assert_eq!(cfg.auth[0].kind, "basic");
        let migrations = ok(load_migrations(&cfg.migrate_dir));
        assert!(migrations.warnings.is_empty(), "{:?}", migrations.warnings);
        let versions: Vec<u64> = migrations.value.iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 2]);
        for m in &migrations.value {
            assert_eq!(m.checksum.len(), 64);
            assert_eq!(m.up.steps.len(), 1);
            let down = m.down.as_ref().expect("every seed migration has a down");
            assert_eq!(
                down.request.as_ref().map(|r| r.method.as_str()),
                Some("DELETE")
            );
            total += 1;
        }
    }
    assert_eq!(total, 6);
}

#[test]
fn seed_migration_details() {
    let root = seed_tree();
    let path = root.join("configuration/migration/001_create_admin_user.yaml");
    let m = load_migration_file(&path, 1, "create_admin_user").expect("loads");
    let req = m.up.request.as_ref().expect("request");
    assert_eq!(req.method, "POST");
    assert_eq!(req.auth_name.as_deref(), Some("admin_auth"));
    assert_eq!(
        req.headers[0],
        NameValue {
            name: "Content-Type".into(),
            value: "application/json".into()
        }
    );
    let resp = m.up.response.as_ref().expect("response");
    assert_eq!(resp.result_code, ["201", "409"]);
    assert_eq!(resp.env_from["admin_user_id"].path, "user.id");
    assert_eq!(resp.env_from["admin_user_id"].from, "gjson");
    let down = m.down.expect("down");
    let lookup = down.find.as_ref().expect("find");
    assert_eq!(
        lookup.request.auth_name.as_deref(),
        Some("admin_auth"),
        "find uses down.auth"
    );
    assert_eq!(down.steps.len(), 2);
    assert_eq!(down.steps[0].name.as_deref(), Some("find"));

    let svc = root.join("services/migration/001_deploy_auth_service.yaml");
    let m = load_migration_file(&svc, 1, "x").expect("loads");
    assert_eq!(
        m.up.env.get("service_port").map(|v| v.as_str()),
        Some("8080")
    );
}
