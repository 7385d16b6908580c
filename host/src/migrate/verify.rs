//! Live verification: run the `verify:` block of every applied migration with
//! the variables it stored, and say whether what it created is still there as
//! it should be (docs/migrations.md, "Live verification").

use serde::Serialize;

use super::step::RenderMode;
use super::vars::apply_local_env;
use super::{EngineError, Stage, store_err};

/// What a verify request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyState {
    /// The answer passed `result_code` and `assert`.
    Ok,
    /// The server answered, but not as the block expects.
    Drifted,
    /// The server answered 404 (and the block does not accept 404).
    Gone,
    /// The check could not run (no answer, a template or auth error).
    Error,
    /// No `verify:` block, or the file is gone: nothing to check.
    Unchecked,
}

impl VerifyState {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyState::Ok => "ok",
            VerifyState::Drifted => "drifted",
            VerifyState::Gone => "gone",
            VerifyState::Error => "error",
            VerifyState::Unchecked => "unchecked",
        }
    }
}

/// One applied migration's verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyResult {
    pub version: u64,
    pub name: String,
    pub state: VerifyState,
    /// The status the server answered, if it answered.
    pub status: Option<u16>,
    /// Why it is not ok (masked), or why it was not checked.
    pub detail: Option<String>,
}

impl Stage {
    /// Verify every applied migration that has a `verify:` block, oldest
    /// first. Sends only the blocks' GET/HEAD requests (checked when the
    /// files load); writes nothing.
    pub async fn verify_live(&self) -> Result<Vec<VerifyResult>, EngineError> {
        let mut applied = self.applied().await?;
        applied.sort_by_key(|a| a.version);
        let stored = match &self.store {
            Some(store) => store.stored_env().await.map_err(|e| store_err(store, e))?,
            None => Vec::new(),
        };
        let mut out = Vec::new();
        for a in &applied {
            let result = |state, status, detail: Option<String>| VerifyResult {
                version: a.version,
                name: a.name.clone(),
                state,
                status,
                detail: detail.map(|d| self.steps.masker.mask(&d).into_owned()),
            };
            let Some(migration) = self.migration(a.version) else {
                out.push(result(
                    VerifyState::Unchecked,
                    None,
                    Some("its file is gone".into()),
                ));
                continue;
            };
            let Some(verify) = &migration.verify else {
                out.push(result(
                    VerifyState::Unchecked,
                    None,
                    Some("no verify block".into()),
                ));
                continue;
            };
            // The variables as they were once this version applied: the
            // stage's, those stored by it and earlier versions, its up's env.
            let mut vars = self.base_vars.clone();
            for var in stored.iter().filter(|v| v.version <= a.version) {
                vars.insert(var.name.clone(), var.value.clone());
            }
            if let Err((name, e)) = apply_local_env(&migration.up.env, &mut vars) {
                out.push(result(
                    VerifyState::Error,
                    None,
                    Some(format!("up.env.{name}: {e}")),
                ));
                continue;
            }
            let rendered = match self
                .steps
                .render_request(&verify.request, &vars, "verify.request", RenderMode::Run)
                .await
            {
                Ok(r) => r,
                Err(f) => {
                    out.push(result(VerifyState::Error, None, Some(describe(&f))));
                    continue;
                }
            };
            let response = match self.steps.send_http(rendered, &vars).await {
                Ok(r) => r,
                Err(f) => {
                    out.push(result(VerifyState::Error, None, Some(describe(&f))));
                    continue;
                }
            };
            let status = Some(response.status);
            let accepts_404 = verify.response.as_ref().is_some_and(|r| {
                r.result_code
                    .iter()
                    .any(|c| crate::config::request::status_matches(c.as_str(), 404))
            });
            if response.status == 404 && !accepts_404 {
                out.push(result(
                    VerifyState::Gone,
                    status,
                    Some("the server answered 404".into()),
                ));
                continue;
            }
            if let Err(f) =
                self.steps
                    .check_status(verify.response.as_ref(), &response, &vars, "verify")
            {
                out.push(result(VerifyState::Drifted, status, Some(describe(&f))));
                continue;
            }
            if let Some(spec) = &verify.response
                && let Err(f) = self
                    .steps
                    .check_asserts(spec, &response, &vars, "verify")
                    .await
            {
                let state = if f.status.is_some() {
                    VerifyState::Drifted
                } else {
                    VerifyState::Error
                };
                out.push(result(state, status, Some(describe(&f))));
                continue;
            }
            out.push(result(VerifyState::Ok, status, None));
        }
        Ok(out)
    }
}

fn describe(f: &super::StepFailure) -> String {
    match &f.field {
        Some(field) => format!("{field}: {}", f.message()),
        None => f.message(),
    }
}
