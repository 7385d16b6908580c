//! Dry run: the plan, fully rendered, with nothing sent and nothing written.
//! Values that only a response would provide render as `<name>`, auth tokens
//! as `<auth:name>`, and secrets are masked.

use std::collections::BTreeSet;

use serde::Serialize;

use super::error::{MigrationFailure, StepError, StepFailure};
use super::plan::{plan_down, plan_up};
use super::step::RenderMode;
use super::vars::apply_local_env;
use super::{EngineError, Stage};
use crate::config::{HTTP_STEP, Migration};
use crate::store::Direction;

#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    pub name: Option<String>,
    pub kind: String,
    /// For http steps.
    pub method: Option<String>,
    pub url: Option<String>,
    /// Header names the request will carry (values are not shown).
    pub auth: Option<String>,
    /// `poll:`, as "poll every 2s for up to 5m" (the request is re-sent).
    pub poll: Option<String>,
    /// How many `assert` checks the answer must pass.
    pub asserts: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedMigration {
    pub version: u64,
    pub name: String,
    pub direction: &'static str,
    pub steps: Vec<PlannedStep>,
}

impl Stage {
    /// What `up` would run (`from`: pretend this version is current).
    pub async fn plan_up_dry(
        &self,
        to: u64,
        from: Option<u64>,
    ) -> Result<Vec<PlannedMigration>, EngineError> {
        let applied = self.applied().await?;
        let plan = plan_up(&self.migrations, &applied, to, from, false);
        let mut vars = self.base_vars.clone();
        if from.is_none() {
            vars.extend(self.exported_vars().await?);
        }
        // Variables the planned migrations would extract, in order.
        let mut pending = BTreeSet::new();
        let mut out = Vec::new();
        for migration in plan.pending {
            for step in migration.up.steps() {
                if let Some(response) = &step.response {
                    pending.extend(response.env_from.keys().cloned());
                }
                // A step plugin may set any variable (step-output.variables):
                // from here on an unknown variable is a placeholder, as
                // `validate` treats it as a warning (docs/plugins.md).
                if step.kind != HTTP_STEP {
                    pending.insert(super::step::PLUGIN_MAY_SET.to_string());
                }
            }
            out.push(
                self.plan_one(migration, Direction::Up, &vars, &pending)
                    .await?,
            );
        }
        Ok(out)
    }

    /// What `down --to` would run. With `from` (`--dry-run-from N`, as the
    /// Go tool documents for `up` and `down`): as if every migration file up
    /// to version N were applied and none above, whatever the store says;
    /// what those would have extracted is shown as placeholders.
    pub async fn plan_down_dry(
        &self,
        to: u64,
        from: Option<u64>,
    ) -> Result<Vec<PlannedMigration>, EngineError> {
        let mut vars = self.base_vars.clone();
        let mut extracted = BTreeSet::new();
        let applied = match from {
            None => {
                vars.extend(self.exported_vars().await?);
                self.applied().await?
            }
            Some(from) => {
                let assumed: Vec<&Migration> = self
                    .migrations
                    .iter()
                    .filter(|m| m.version <= from)
                    .collect();
                for migration in &assumed {
                    for step in migration.up.steps() {
                        if let Some(response) = &step.response {
                            extracted.extend(response.env_from.keys().cloned());
                        }
                    }
                }
                assumed
                    .into_iter()
                    .map(|m| crate::store::AppliedMigration {
                        version: m.version,
                        name: m.name.clone(),
                        checksum: m.checksum.clone(),
                        applied_at: String::new(),
                    })
                    .collect()
            }
        };
        let targets = plan_down(&applied, to);
        self.check_down_blocks(&targets)?;
        let mut out = Vec::new();
        for target in targets {
            let Some(migration) = self.migration(target.version) else {
                return Err(EngineError::Usage(format!(
                    "version {} is applied but its file is gone",
                    target.version
                )));
            };
            let mut pending = extracted.clone();
            if let Some(down) = &migration.down {
                for step in down.steps() {
                    if let Some(response) = &step.response {
                        pending.extend(response.env_from.keys().cloned());
                    }
                }
            }
            out.push(
                self.plan_one(migration, Direction::Down, &vars, &pending)
                    .await?,
            );
        }
        Ok(out)
    }

    async fn plan_one(
        &self,
        migration: &Migration,
        direction: Direction,
        base: &super::Vars,
        pending: &BTreeSet<String>,
    ) -> Result<PlannedMigration, EngineError> {
        let fail = |failure: StepFailure| {
            EngineError::Migration(Box::new(MigrationFailure {
                version: migration.version,
                file: migration.path.clone(),
                direction,
                step: None,
                failure,
            }))
        };
        let env_fail = |name: String, source: crate::template::TemplateError, section: &str| {
            fail(StepFailure::error(
                Some(format!("{section}.env.{name}")),
                StepError::Template {
                    source,
                    hint: String::new(),
                },
            ))
        };
        let mut vars = base.clone();
        apply_local_env(&migration.up.env, &mut vars)
            .map_err(|(name, e)| env_fail(name, e, "up"))?;
        let (section, steps) = match (direction, &migration.down) {
            (Direction::Up, _) => ("up", migration.up.steps()),
            (Direction::Down, Some(down)) => {
                apply_local_env(&down.env, &mut vars)
                    .map_err(|(name, e)| env_fail(name, e, "down"))?;
                ("down", down.steps())
            }
            (Direction::Down, None) => {
                return Err(fail(StepFailure::new(
                    Some("down".to_string()),
                    "there is no `down` block",
                )));
            }
        };
        let mut planned = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let field = if steps.len() == 1 {
                section.to_string()
            } else {
                format!("{section}.steps[{i}]")
            };
            // Step env: variables it cannot resolve yet become placeholders.
            for (name, raw) in &step.env {
                let value = raw
                    .render(&super::vars::context(&vars))
                    .unwrap_or_else(|_| format!("<{name}>"));
                vars.insert(name.clone(), value);
            }
            let (method, url, auth) = match (&step.request, step.kind == HTTP_STEP) {
                (Some(request), true) => {
                    let rendered = self
                        .steps
                        .render_request(
                            request,
                            &vars,
                            &format!("{field}.request"),
                            RenderMode::Plan { pending },
                        )
                        .await
                        .map_err(fail)?;
                    let url = self
                        .steps
                        .masker
                        .mask(&rendered.request.display_url())
                        .into_owned();
                    (Some(rendered.request.method), Some(url), rendered.auth_name)
                }
                _ => (None, None, None),
            };
            planned.push(PlannedStep {
                name: step.name.clone(),
                kind: step.kind.clone(),
                method,
                url,
                auth,
                poll: step.response.as_ref().and_then(|r| r.poll).map(|p| {
                    format!(
                        "poll every {} for up to {}",
                        crate::config::format_duration(p.interval),
                        crate::config::format_duration(p.timeout)
                    )
                }),
                asserts: step.response.as_ref().map_or(0, |r| r.assert.len()),
            });
        }
        Ok(PlannedMigration {
            version: migration.version,
            name: migration.name.clone(),
            direction: direction.as_str(),
            steps: planned,
        })
    }
}
