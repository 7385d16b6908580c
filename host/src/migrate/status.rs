//! `status`: what is applied, what is pending, what changed.

use serde::Serialize;

use super::plan::plan_up;
use super::{EngineError, Stage, store_err};
use crate::config::{Migration, StageConfig};
use crate::store::{AppliedMigration, DirtyMark, RunRecord};

/// An applied version whose file no longer matches what was applied
/// (Flyway's "checksum mismatch" / "applied migration not resolved locally").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub version: u64,
    pub name: String,
    /// `changed` (the file's checksum differs) or `missing` (the file is gone).
    pub kind: &'static str,
    /// The file now (for `changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub applied_checksum: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_checksum: Option<String>,
}

impl Drift {
    /// One line for users: what drifted and what to do about it.
    pub fn describe(&self) -> String {
        let short = |c: &str| c.chars().take(12).collect::<String>();
        match (self.kind, &self.file, &self.current_checksum) {
            ("changed", Some(file), Some(now)) => format!(
                "{file}: version {} ({}) was changed after it was applied (checksum {} when applied, {} now); \
                 the edit is not applied by `up`: restore the file, or put the change in a new migration",
                self.version,
                self.name,
                short(&self.applied_checksum),
                short(now)
            ),
            _ => format!(
                "version {} ({}) is applied but its migration file is gone; restore the file \
                 (`down` needs it to roll the version back)",
                self.version, self.name
            ),
        }
    }
}

/// Applied versions whose file changed (checksum differs) or is gone.
/// Versions recorded without a checksum (by the Go tool) are never `changed`.
pub fn find_drift(migrations: &[Migration], applied: &[AppliedMigration]) -> Vec<Drift> {
    let mut drift = Vec::new();
    // One index, not a search per applied version (quadratic on 10,000 files).
    let mut by_version = std::collections::HashMap::with_capacity(migrations.len());
    for m in migrations {
        by_version.entry(m.version).or_insert(m);
    }
    for a in applied {
        match by_version.get(&a.version).copied() {
            Some(m) if !a.checksum.is_empty() && m.checksum != a.checksum => drift.push(Drift {
                version: a.version,
                name: m.name.clone(),
                kind: "changed",
                file: Some(m.path.display().to_string()),
                applied_checksum: a.checksum.clone(),
                current_checksum: Some(m.checksum.clone()),
            }),
            Some(_) => {}
            None => drift.push(Drift {
                version: a.version,
                name: a.name.clone(),
                kind: "missing",
                file: None,
                applied_checksum: a.checksum.clone(),
                current_checksum: None,
            }),
        }
    }
    drift
}

/// Drift for `validate`, from the store `config` names. Sends no HTTP request.
/// `Ok(None)`: the store is disabled. The store is opened read-only: a missing
/// one reads as empty and is not created.
pub async fn drift_against_store(
    config: &StageConfig,
    migrations: &[Migration],
) -> Result<Option<Vec<Drift>>, EngineError> {
    if config.store.disabled {
        return Ok(None);
    }
    let Some(store) = super::open_store(config, crate::store::Access::ReadOnly, None).await? else {
        return Ok(None);
    };
    let applied = store.applied().await.map_err(|e| store_err(&store, e))?;
    Ok(Some(find_drift(migrations, &applied)))
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    pub version: u64,
    pub name: String,
    /// `applied`, `pending`, `out_of_order`, `changed` (applied, file edited since), `missing` (applied, file gone).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub store: String,
    pub current: u64,
    pub applied: Vec<u64>,
    pub pending: Vec<u64>,
    pub out_of_order: Vec<u64>,
    /// Applied versions whose file changed since (checksum differs).
    pub changed: Vec<u64>,
    /// Applied versions whose file is gone.
    pub missing: Vec<u64>,
    pub versions: Vec<VersionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<DirtySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirtySummary {
    pub version: u64,
    pub name: String,
    pub direction: String,
    pub state: String,
    pub error: Option<String>,
    pub started_at: String,
    /// For a `running` mark: who holds the store lock, i.e. the apirun that is
    /// running it right now. Absent when no process holds the lock, which means
    /// the run was interrupted (its process died).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_progress_by: Option<String>,
}

impl From<DirtyMark> for DirtySummary {
    fn from(mark: DirtyMark) -> Self {
        DirtySummary {
            version: mark.version,
            name: mark.name,
            direction: mark.direction.as_str().to_string(),
            state: mark.state.as_str().to_string(),
            error: mark.error,
            started_at: mark.started_at,
            in_progress_by: None,
        }
    }
}

/// Whether a `running` row belongs to a live apirun: every writer holds the
/// store lock, so if the lock is free the row's process is gone. Probes with a
/// zero wait and lets go at once; returns the holder if the lock is taken.
async fn live_holder(store: &std::sync::Arc<dyn crate::store::Store>) -> Option<String> {
    // An error means we cannot tell; the mark is then reported as it is.
    store.lock_holder().await.ok().flatten()
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub version: u64,
    pub name: String,
    pub direction: String,
    pub state: String,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub started_at: String,
    pub duration_ms: Option<u64>,
    pub env: Option<serde_json::Value>,
}

impl From<RunRecord> for HistoryEntry {
    fn from(run: RunRecord) -> Self {
        HistoryEntry {
            id: run.id.0,
            version: run.version,
            name: run.name,
            direction: run.direction.as_str().to_string(),
            state: run.state.as_str().to_string(),
            status_code: run.status_code,
            error: run.error,
            started_at: run.started_at,
            duration_ms: run.duration_ms,
            env: run
                .env_json
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok()),
        }
    }
}

impl Stage {
    /// Applied versions whose file changed or is gone (see [`find_drift`]).
    pub async fn drift(&self) -> Result<Vec<Drift>, EngineError> {
        Ok(find_drift(&self.migrations, &self.applied().await?))
    }

    /// `history`: None = no history; Some(None) = all runs; Some(Some(n)) = newest n.
    pub async fn status(
        &self,
        history: Option<Option<usize>>,
    ) -> Result<StatusReport, EngineError> {
        let applied = self.applied().await?;
        let plan = plan_up(&self.migrations, &applied, 0, None, false);
        let mut versions = Vec::new();
        let mut changed = Vec::new();
        let mut missing = Vec::new();
        for a in &applied {
            match self.migration(a.version) {
                Some(m) => {
                    let state = if m.checksum != a.checksum && !a.checksum.is_empty() {
                        changed.push(a.version);
                        "changed"
                    } else {
                        "applied"
                    };
                    versions.push(VersionStatus {
                        version: a.version,
                        name: m.name.clone(),
                        state,
                        applied_at: Some(a.applied_at.clone()),
                        file: Some(m.path.display().to_string()),
                    });
                }
                None => {
                    missing.push(a.version);
                    versions.push(VersionStatus {
                        version: a.version,
                        name: a.name.clone(),
                        state: "missing",
                        applied_at: Some(a.applied_at.clone()),
                        file: None,
                    });
                }
            }
        }
        for m in &plan.out_of_order {
            versions.push(VersionStatus {
                version: m.version,
                name: m.name.clone(),
                state: "out_of_order",
                applied_at: None,
                file: Some(m.path.display().to_string()),
            });
        }
        for m in &plan.pending {
            versions.push(VersionStatus {
                version: m.version,
                name: m.name.clone(),
                state: "pending",
                applied_at: None,
                file: Some(m.path.display().to_string()),
            });
        }
        versions.sort_by_key(|v| v.version);
        let (dirty, history, store) = match &self.store {
            Some(store) => {
                let dirty = store.dirty().await.map_err(|e| store_err(store, e))?;
                let history = match history {
                    Some(limit) => Some(
                        store
                            .runs(limit)
                            .await
                            .map_err(|e| store_err(store, e))?
                            .into_iter()
                            .map(HistoryEntry::from)
                            .collect(),
                    ),
                    None => None,
                };
                let mut dirty = dirty.map(DirtySummary::from);
                if let Some(mark) = dirty.as_mut().filter(|d| d.state == "running") {
                    mark.in_progress_by = live_holder(store).await;
                }
                (dirty, history, store.describe())
            }
            None => (None, history.map(|_| Vec::new()), "disabled".to_string()),
        };
        Ok(StatusReport {
            store,
            current: plan.current,
            applied: applied.iter().map(|a| a.version).collect(),
            pending: plan.pending.iter().map(|m| m.version).collect(),
            out_of_order: plan.out_of_order.iter().map(|m| m.version).collect(),
            changed,
            missing,
            versions,
            dirty,
            history,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(version: u64, checksum: &str) -> AppliedMigration {
        AppliedMigration {
            version,
            name: format!("v{version}"),
            checksum: checksum.to_string(),
            applied_at: "2026-11-27T09:00:00.000Z".to_string(),
        }
    }

    #[test]
    fn drift_reports_changed_and_missing_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["001_a.yaml", "002_b.yaml"] {
            std::fs::write(
                dir.path().join(name),
                "up:\n  request:\n    method: GET\n    url: http://127.0.0.1:1/x\n",
            )
            .unwrap();
        }
        let migrations = crate::config::load_migrations(dir.path()).unwrap().value;
        let same = migrations[0].checksum.clone();
        let drift = find_drift(
            &migrations,
            &[
                applied(1, &same),  // unchanged
                applied(2, "0123"), // edited since
                applied(3, "4567"), // file gone
            ],
        );
        let kinds: Vec<_> = drift.iter().map(|d| (d.version, d.kind)).collect();
        assert_eq!(kinds, vec![(2, "changed"), (3, "missing")]);
        assert!(
            drift[0].describe().contains("002_b.yaml"),
            "{}",
            drift[0].describe()
        );
        assert!(
            drift[1].describe().contains("file is gone"),
            "{}",
            drift[1].describe()
        );
        // Versions recorded without a checksum (the Go tool) are never "changed".
        assert!(find_drift(&migrations, &[applied(2, "")]).is_empty());
    }
}
