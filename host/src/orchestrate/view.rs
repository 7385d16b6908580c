//! Read-only views: a stage's state from its store (for `stages status` and
//! the selection checks) and the dry-run plan.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Orchestration, StagesError, Way, config_store};
use crate::config::StageDef;
use crate::migrate::{PlannedMigration, Services, Vars};

/// The newest run recorded in a stage's store.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub version: u64,
    pub name: String,
    pub direction: String,
    /// `succeeded`, `failed`, `running` (interrupted) or `resolved`.
    pub state: String,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One stage's state, read from its store without resolving its variables.
#[derive(Debug, Clone, Serialize)]
pub struct StageInfo {
    pub name: String,
    pub store: String,
    /// Migration files in the stage's migrate dir.
    pub migrations: usize,
    pub applied: Vec<u64>,
    pub pending: Vec<u64>,
    pub last_run: Option<LastRun>,
    /// Variables extracted by applied migrations (unmasked: mask before showing).
    pub exported: Vars,
}

/// Reads `def`'s store: applied and pending versions, last run, exports.
pub async fn inspect_stage(def: &StageDef) -> Result<StageInfo, StagesError> {
    let (config, store) = config_store(def).await?;
    let migrations = crate::config::load_migrations(&config.migrate_dir)
        .map(|l| l.value)
        .map_err(|d| {
            StagesError::usage(format!(
                "error: stage `{}`: invalid migrations:\n{d}",
                def.name
            ))
        })?;
    let err = |e: crate::store::StoreError, store: &str| {
        StagesError::failed(format!("error: stage `{}`: store {store}: {e}", def.name))
    };
    let Some(store) = store else {
        return Ok(StageInfo {
            name: def.name.clone(),
            store: "disabled".into(),
            migrations: migrations.len(),
            applied: Vec::new(),
            pending: migrations.iter().map(|m| m.version).collect(),
            last_run: None,
            exported: Vars::new(),
        });
    };
    let describe = store.describe();
    let applied = store.applied().await.map_err(|e| err(e, &describe))?;
    let plan = crate::migrate::plan_up(&migrations, &applied, 0, None, false);
    let pending: Vec<u64> = plan
        .pending
        .iter()
        .chain(plan.out_of_order.iter())
        .map(|m| m.version)
        .collect();
    let last_run = store
        .runs(Some(1))
        .await
        .map_err(|e| err(e, &describe))?
        .into_iter()
        .next()
        .map(|r| LastRun {
            version: r.version,
            name: r.name,
            direction: r.direction.as_str().to_string(),
            state: r.state.as_str().to_string(),
            started_at: r.started_at,
            error: r.error,
        });
    let exported = store
        .stored_env()
        .await
        .map_err(|e| err(e, &describe))?
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    Ok(StageInfo {
        name: def.name.clone(),
        store: describe,
        migrations: migrations.len(),
        applied: applied.iter().map(|a| a.version).collect(),
        pending,
        last_run,
        exported,
    })
}

/// One stage of a dry-run plan.
#[derive(Debug, Clone, Serialize)]
pub struct StagePlan {
    pub name: String,
    /// `None`: no condition; otherwise its value (or why it could not be evaluated yet).
    pub condition: Option<String>,
    pub migrations: Vec<PlannedMigration>,
}

impl Orchestration {
    /// The dry-run plan: levels of the selected stages (reversed for
    /// `down`), then each stage's pending migrations. Nothing is sent and no
    /// store is written; imports that do not exist yet show as `<name>`.
    pub async fn dry_run(
        &self,
        selected: &BTreeSet<String>,
        way: Way,
        services: &Services,
    ) -> Result<(Vec<Vec<String>>, Vec<StagePlan>), StagesError> {
        let mut levels = self.graph.levels(selected);
        if way == Way::Down {
            levels.reverse();
        }
        let mut plans = Vec::new();
        for name in levels.iter().flatten() {
            let Some(def) = self.def(name) else { continue };
            let stage = self.open_stage(def, services, true).await?;
            let condition = match (&def.condition, way) {
                (Some(source), Way::Up) => Some(match self.condition_holds(def, &stage).await {
                    Ok(true) => format!("{source} -> true"),
                    Ok(false) => format!("{source} -> false: the stage would be skipped"),
                    Err(e) => format!("{source} -> not known before the run ({})", e.message),
                }),
                _ => None,
            };
            let migrations = match way {
                Way::Up => stage.plan_up_dry(0, None).await,
                Way::Down => stage.plan_down_dry(0, None).await,
            }
            .map_err(|e| StagesError::engine(name, e))?;
            plans.push(StagePlan {
                name: name.clone(),
                condition,
                migrations,
            });
        }
        Ok((levels, plans))
    }
}
