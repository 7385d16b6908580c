//! `poll:`: re-send a step's request until its `result_code` and `assert`
//! hold (docs/migrations.md, "Polling").

use std::time::Instant;

use super::error::StepFailure;
use super::step::{RenderedRequest, StepEnv};
use super::vars::Vars;
use crate::config::{PollSpec, ResponseSpec, format_duration};
use crate::plugin::PluginResponse;

impl StepEnv {
    /// Send `rendered` every `poll.interval` until the answer passes
    /// `result_code` and `assert`; then return that answer (the caller checks
    /// and extracts as usual). After `poll.timeout`, fail naming the last
    /// answer. Bounded: one request per interval, at most timeout/interval + 1.
    pub(super) async fn poll(
        &self,
        rendered: RenderedRequest,
        spec: &ResponseSpec,
        poll: &PollSpec,
        vars: &Vars,
        field: &str,
    ) -> Result<PluginResponse, StepFailure> {
        let started = Instant::now();
        let deadline = started + poll.timeout;
        let url = self
            .masker
            .mask(&rendered.request.display_url())
            .into_owned();
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            // Any failure (a wrong status, a failed assertion, no answer at
            // all) means "not yet": the next attempt may pass.
            let failure = match self.send_http(rendered.clone(), vars).await {
                Ok(response) => {
                    let checked = match self.check_status(Some(spec), &response, vars, field) {
                        Ok(()) => self.check_asserts(spec, &response, vars, field).await,
                        Err(failure) => Err(failure),
                    };
                    match checked {
                        Ok(()) => {
                            if attempt > 1 {
                                tracing::info!(
                                    "{field}: poll {} {url}: ready after {attempt} attempts",
                                    rendered.request.method
                                );
                            }
                            return Ok(response);
                        }
                        Err(failure) => failure,
                    }
                }
                Err(failure) => failure,
            };
            let last = self.masker.mask(&failure.message()).into_owned();
            if Instant::now() + poll.interval > deadline {
                let mut out = StepFailure::new(
                    failure
                        .field
                        .clone()
                        .or(Some(format!("{field}.response.poll"))),
                    format!(
                        "poll: {} {url} was not ready after {attempt} attempts in {} \
                         (poll.timeout {}); last answer: {last}",
                        rendered.request.method,
                        format_duration(started.elapsed()),
                        format_duration(poll.timeout),
                    ),
                );
                out.status = failure.status;
                out.body = failure.body;
                return Err(out);
            }
            tracing::info!(
                "{field}: poll {} {url}: attempt {attempt} not ready ({}); next in {}",
                rendered.request.method,
                short(&last),
                format_duration(poll.interval)
            );
            tokio::time::sleep(poll.interval).await;
        }
    }
}

/// The start of a reason, for one progress line.
fn short(text: &str) -> String {
    const MAX: usize = 160;
    // The reason up to the body quoted after it.
    let head = text.split("; the server answered").next().unwrap_or(text);
    let head = head.split("; body:").next().unwrap_or(head);
    if head.len() <= MAX {
        return head.to_string();
    }
    let mut end = MAX;
    while !head.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &head[..end])
}
