//! Running one step: render the request, inject auth, send it through the
//! step plugin, check the status, extract variables.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::error::{StepError, StepFailure};
use super::vars::{Vars, apply_local_env, context};
use crate::auth::AuthManager;
use crate::config::{BodyFile, EnvMissing, HTTP_STEP, RequestSpec, ResponseSpec, StepSpec};
use crate::output::{Masker, escape_line};
use crate::plugin::{
    HttpStepRequest, PluginKind, PluginResponse, PluginSet, StepSpec as PluginStep,
};
use crate::template::{Context, RefKind, TemplateError, TemplateText, TemplateTree};
use crate::transport::FollowRedirects;

/// What a stage's steps share.
pub struct StepEnv {
    pub plugins: Arc<PluginSet>,
    pub auth: Arc<AuthManager>,
    pub masker: Arc<Masker>,
    /// The config's `render_body` default.
    pub render_body: bool,
    /// Variables whose `valueFromEnv` OS variable is unset: name -> OS variable.
    pub unset_os: BTreeMap<String, String>,
    /// The config's `client.follow_redirects` (a request's own setting wins).
    pub follow_redirects: FollowRedirects,
}

/// In a dry run's pending set: a step plugin ran before, so any variable
/// not defined yet may be one it sets (not a valid variable name).
pub(crate) const PLUGIN_MAY_SET: &str = "*";

/// How to treat values that are not known yet.
#[derive(Clone, Copy)]
pub enum RenderMode<'a> {
    /// Everything must be defined; auth tokens are acquired.
    Run,
    /// Dry run: variables in `pending` (extracted by steps not run; all
    /// variables once it holds [`PLUGIN_MAY_SET`]) and auth tokens render
    /// as placeholders; nothing is acquired or sent.
    Plan { pending: &'a BTreeSet<String> },
}

/// A request after rendering: the request handed to the http plugin, and
/// the auth provider whose credential is injected before it is sent.
#[derive(Debug, Clone)]
pub struct RenderedRequest {
    pub request: HttpStepRequest,
    pub auth_name: Option<String>,
}

/// The result of a successful step.
#[derive(Debug, Default)]
pub struct StepResult {
    pub status: Option<u16>,
    pub body: Option<Vec<u8>>,
    pub extracted: Vec<(String, String)>,
}

impl StepEnv {
    fn template_error(&self, field: &str, error: TemplateError) -> StepFailure {
        let hint = match &error {
            TemplateError::UndefinedVariable { name, .. } => self
                .unset_os
                .get(name)
                .map(|os| {
                    format!(" (it comes from the OS environment variable {os}, which is not set)")
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        StepFailure::error(
            Some(field.to_string()),
            StepError::Template {
                source: error,
                hint,
            },
        )
    }

    /// Render one template (parsed when its file was loaded). In plan mode, a
    /// variable that a pending step would extract becomes `<name>`, and auth
    /// tokens `<auth:name>`.
    pub(super) fn render(
        &self,
        template: &TemplateText,
        ctx: &mut Context<'_>,
        mode: RenderMode<'_>,
        field: &str,
    ) -> Result<String, StepFailure> {
        // Bounded: each retry defines one more placeholder.
        for _ in 0..64 {
            match template.render(ctx) {
                Ok(text) => return Ok(text),
                Err(TemplateError::UndefinedVariable { name, .. }) if matches!(mode, RenderMode::Plan { pending } if pending.contains(&name) || pending.contains(PLUGIN_MAY_SET)) =>
                {
                    ctx.vars.insert(name.clone(), format!("<{name}>").into());
                }
                Err(TemplateError::UndefinedAuth { name, .. })
                    if matches!(mode, RenderMode::Plan { .. }) =>
                {
                    ctx.auth.insert(name.clone(), format!("<auth:{name}>"));
                }
                Err(e) => return Err(self.template_error(field, e)),
            }
        }
        Err(StepFailure::new(
            Some(field.to_string()),
            "too many unresolved values",
        ))
    }

    /// Acquire the tokens that `{{.auth.x}}` references in `templates` need.
    async fn auth_context<'v>(
        &self,
        templates: &[&TemplateText],
        vars: &'v Vars,
        mode: RenderMode<'_>,
    ) -> Result<Context<'v>, StepFailure> {
        let mut ctx = context(vars);
        if matches!(mode, RenderMode::Plan { .. }) {
            return Ok(ctx);
        }
        let names: BTreeSet<String> = templates
            .iter()
            .filter(|t| !t.is_static())
            .flat_map(|t| t.references())
            .filter(|r| r.kind == RefKind::Auth)
            .map(|r| r.name)
            .collect();
        for name in names {
            if self.auth.has(&name) {
                let credential = self.auth.credential(&name, &ctx).await?;
                ctx.auth.insert(name, credential.token);
            }
        }
        Ok(ctx)
    }

    pub async fn render_request(
        &self,
        request: &RequestSpec,
        vars: &Vars,
        field: &str,
        mode: RenderMode<'_>,
    ) -> Result<RenderedRequest, StepFailure> {
        // A body file is read (and parsed) per run; an inline body was parsed at load.
        let body_from_file = match (&request.body, &request.body_file) {
            (None, Some(path)) => Some(TemplateText::from(
                self.read_body_file(path, vars, field, mode)?,
            )),
            _ => None,
        };
        let body_source = request.body.as_ref().or(body_from_file.as_ref());
        let mut sources: Vec<&TemplateText> = vec![&request.url];
        sources.extend(request.headers.iter().map(|h| &h.value));
        sources.extend(request.queries.iter().map(|q| &q.value));
        let render_body = request.render_body.unwrap_or(self.render_body);
        // A body sent verbatim (`render_body: false`) needs no token.
        if let Some(body) = body_source.filter(|_| render_body) {
            sources.push(body);
        }
        let mut ctx = self.auth_context(&sources, vars, mode).await?;
        let url = self.render(&request.url, &mut ctx, mode, &format!("{field}.url"))?;
        let mut headers = Vec::with_capacity(request.headers.len() + 1);
        for (i, header) in request.headers.iter().enumerate() {
            let name = self.render(
                &header.name,
                &mut ctx,
                mode,
                &format!("{field}.headers[{i}].name"),
            )?;
            let value = self.render(
                &header.value,
                &mut ctx,
                mode,
                &format!("{field}.headers[{i}].value"),
            )?;
            headers.push((name, value));
        }
        let mut queries = Vec::with_capacity(request.queries.len());
        for (i, query) in request.queries.iter().enumerate() {
            let name = self.render(
                &query.name,
                &mut ctx,
                mode,
                &format!("{field}.queries[{i}].name"),
            )?;
            let value = self.render(
                &query.value,
                &mut ctx,
                mode,
                &format!("{field}.queries[{i}].value"),
            )?;
            queries.push((name, value));
        }
        let body = match body_source {
            Some(body) if render_body => {
                Some(self.render(body, &mut ctx, mode, &format!("{field}.body"))?)
            }
            other => other.map(|b| b.source().to_string()),
        };
        Ok(RenderedRequest {
            request: HttpStepRequest {
                method: request.method.to_ascii_uppercase(),
                url,
                headers,
                queries,
                body: body.map(String::into_bytes),
                timeout: request.timeout,
                retry: request.retry,
                follow_redirects: request.follow_redirects,
            },
            auth_name: request.auth_name.clone(),
        })
    }

    fn read_body_file(
        &self,
        file: &BodyFile,
        vars: &Vars,
        field: &str,
        mode: RenderMode<'_>,
    ) -> Result<String, StepFailure> {
        let resolved = file.resolve(|path| {
            self.render(
                path,
                &mut context(vars),
                mode,
                &format!("{field}.body_file"),
            )
        })?;
        crate::config::files::read_to_string(&resolved, crate::config::files::FileKind::Body)
            .map_err(|e| StepFailure::error(Some(format!("{field}.body_file")), e))
    }

    /// Add the provider's header unless the request sets it itself.
    async fn inject_auth(
        &self,
        rendered: &mut RenderedRequest,
        vars: &Vars,
    ) -> Result<(), StepFailure> {
        let Some(name) = rendered.auth_name.clone() else {
            return Ok(());
        };
        let credential = self.auth.credential(&name, &context(vars)).await?;
        let already = rendered
            .request
            .headers
            .iter()
            .any(|(h, _)| h.eq_ignore_ascii_case(&credential.header_name));
        if !already {
            rendered.request.headers.push((
                credential.header_name.clone(),
                credential.header_value.clone(),
            ));
        }
        Ok(())
    }

    /// Run one step, adding what it extracts to `vars`.
    pub async fn run(
        &self,
        step: &StepSpec,
        field: &str,
        vars: &mut Vars,
    ) -> Result<StepResult, StepFailure> {
        apply_local_env(&step.env, vars)
            .map_err(|(name, e)| self.template_error(&format!("{field}.env.{name}"), e))?;
        // The http step's method, for the redirect rule of `redirect_refused`.
        let mut http_method = None;
        let (response, step_vars) = if step.kind == HTTP_STEP {
            let request = step.request.as_ref().ok_or_else(|| {
                StepFailure::new(Some(field.to_string()), "an http step needs a `request`")
            })?;
            let rendered = self
                .render_request(request, vars, &format!("{field}.request"), RenderMode::Run)
                .await?;
            http_method = Some(rendered.request.method.clone());
            // `poll:` re-sends until the answer holds (migrate/poll.rs).
            let response = match step.response.as_ref().and_then(|r| Some((r, r.poll?))) {
                Some((spec, poll)) => self.poll(rendered, spec, &poll, vars, field).await?,
                None => self.send_http(rendered, vars).await?,
            };
            (Some(response), Vec::new())
        } else {
            let plugin = self
                .plugins
                .get(PluginKind::Step, &step.kind)
                .map_err(|e| StepFailure::error(Some(format!("{field}.type")), e))?;
            let empty = TemplateTree::empty_object();
            let with = step.with.as_ref().unwrap_or(&empty);
            // `{{.auth.x}}` in `with:` renders the provider's token, as it does in a request.
            let texts = with.texts();
            let templates: Vec<&TemplateText> = texts.iter().map(|(_, text)| *text).collect();
            let ctx = self.auth_context(&templates, vars, RenderMode::Run).await?;
            let spec = with.render(&ctx).map_err(|(path, e)| {
                let at = if path.is_empty() {
                    format!("{field}.with")
                } else {
                    format!("{field}.with.{path}")
                };
                self.template_error(&at, e)
            })?;
            // Only the variables the plugin's `plugins:` entry grants: a
            // third-party plugin is not trusted with every secret in scope
            // (docs/plugins.md). Its `with:` is rendered with all of them.
            let list = self.plugins.granted_variables(&step.kind, vars);
            let outcome = plugin
                .run_step(&PluginStep::Custom(spec), &list)
                .await
                .map_err(|e| StepFailure::plugin(Some(field.to_string()), e))?;
            (outcome.response, outcome.variables)
        };
        let mut result = StepResult {
            status: response.as_ref().map(|r| r.status),
            body: response.as_ref().map(|r| r.body.clone()),
            extracted: Vec::new(),
        };
        for (name, value) in step_vars {
            vars.insert(name.clone(), value.clone());
            result.extracted.push((name, value));
        }
        if let Some(response) = &response {
            self.check_status(step.response.as_ref(), response, vars, field)
                .map_err(|failure| match &http_method {
                    Some(method) => redirect_refused(failure, method, response),
                    None => failure,
                })?;
            if let Some(spec) = &step.response {
                // `assert:` (migrate/assert.rs) fails the step like a wrong status.
                self.check_asserts(spec, response, vars, field).await?;
                let extracted = self.extract(spec, response, vars, field).await?;
                for (name, value) in extracted {
                    if Masker::is_secret_name(&name) {
                        self.masker.add_secret(&value);
                    }
                    vars.insert(name.clone(), value.clone());
                    result.extracted.push((name, value));
                }
            }
        }
        Ok(result)
    }

    pub(super) async fn send_http(
        &self,
        mut rendered: RenderedRequest,
        vars: &Vars,
    ) -> Result<PluginResponse, StepFailure> {
        let http = self
            .plugins
            .get(PluginKind::Step, HTTP_STEP)
            .map_err(|e| StepFailure::error(None, e))?;
        let bare = rendered.clone();
        self.inject_auth(&mut rendered, vars).await?;
        let follow = Some(
            rendered
                .request
                .follow_redirects
                .unwrap_or(self.follow_redirects),
        );
        let send = |mut request: HttpStepRequest| {
            let http = http.clone();
            request.follow_redirects = follow;
            async move {
                http.run_step(&PluginStep::Http(request), &[])
                    .await
                    .map_err(|e| StepFailure::plugin(None, e))?
                    .response
                    .ok_or_else(|| StepFailure::new(None, "the http step returned no response"))
            }
        };
        // Debug level: what is sent and what came back (the log layer masks secrets).
        let started = std::time::Instant::now();
        let request = &rendered.request;
        tracing::debug!("{} {}", request.method, request.display_url());
        // Trace level (`-vv`): headers and bodies too, cut at TRACE_BODY_LIMIT.
        tracing::trace!(
            "request headers: {}; body: {}",
            trace_headers(&request.headers),
            trace_body(request.body.as_deref().unwrap_or_default())
        );
        let response = send(request.clone()).await?;
        tracing::debug!(
            "{} {} answered {} in {} ms ({} bytes)",
            request.method,
            request.display_url(),
            response.status,
            started.elapsed().as_millis(),
            response.body.len()
        );
        tracing::trace!(
            "response headers: {}; body: {}",
            trace_headers(&response.headers),
            trace_body(&response.body)
        );
        // A 401 with a cached credential: the token may have been revoked or
        // expired early. Re-acquire once and resend.
        if response.status == 401
            && let Some(name) = &rendered.auth_name
        {
            self.auth.invalidate(name).await;
            let mut again = bare;
            self.inject_auth(&mut again, vars).await?;
            return send(again.request).await;
        }
        Ok(response)
    }

    pub(super) fn check_status(
        &self,
        spec: Option<&ResponseSpec>,
        response: &PluginResponse,
        vars: &Vars,
        field: &str,
    ) -> Result<(), StepFailure> {
        let codes: Vec<String> = match spec {
            Some(spec) => spec
                .result_code
                .iter()
                .map(|code| {
                    if code.is_static() {
                        return Ok(code.source().to_string());
                    }
                    let mut ctx = context(vars);
                    self.render(
                        code,
                        &mut ctx,
                        RenderMode::Run,
                        &format!("{field}.response.result_code"),
                    )
                    .map(|c| c.trim().to_string())
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let status = response.status;
        let accepted = if codes.is_empty() {
            (200..300).contains(&status)
        } else {
            codes
                .iter()
                .any(|c| crate::config::request::status_matches(c, status))
        };
        if accepted {
            return Ok(());
        }
        let expected = if codes.is_empty() {
            "any 2xx".to_string()
        } else {
            codes.join(", ")
        };
        let redirect = match response.header("location") {
            Some(location) if (300..400).contains(&status) => {
                format!(" redirecting to {location}")
            }
            _ => String::new(),
        };
        let mut failure = StepFailure::error(
            Some(format!("{field}.response.result_code")),
            StepError::UnexpectedStatus {
                status,
                redirect,
                expected,
                body: self.masker.mask(&snippet(&response.body)).into_owned(),
            },
        );
        failure.status = Some(status);
        failure.body = Some(response.body.clone());
        Err(failure)
    }

    async fn extract(
        &self,
        spec: &ResponseSpec,
        response: &PluginResponse,
        vars: &Vars,
        field: &str,
    ) -> Result<Vec<(String, String)>, StepFailure> {
        // Paths are templates over the variables (`'#(id=="{{.id}}").name'`).
        let mut paths = Vec::with_capacity(spec.env_from.len());
        for (name, extract) in &spec.env_from {
            paths.push(self.render_run(
                &extract.path,
                vars,
                &format!("{field}.response.env_from.{name}"),
            )?);
        }
        // One plugin call per extractor, with all of its paths.
        let mut by_extractor: Vec<(&str, Vec<(&String, &String)>)> = Vec::new();
        for ((name, extract), path) in spec.env_from.iter().zip(&paths) {
            match by_extractor
                .iter_mut()
                .find(|(from, _)| *from == extract.from)
            {
                Some((_, items)) => items.push((name, path)),
                None => by_extractor.push((&extract.from, vec![(name, path)])),
            }
        }
        let mut out = Vec::new();
        for (from, items) in by_extractor {
            let plugin = self
                .plugins
                .get(PluginKind::Extractor, from)
                .map_err(|e| StepFailure::error(Some(format!("{field}.response.env_from")), e))?;
            let paths: Vec<String> = items.iter().map(|(_, path)| (*path).clone()).collect();
            let values = plugin
                .extract(response, &paths)
                .await
                .map_err(|e| StepFailure::error(Some(format!("{field}.response.env_from")), e))?;
            for ((name, path), value) in items.into_iter().zip(values) {
                match value {
                    Some(value) => out.push((name.clone(), value)),
                    None if spec.env_missing == EnvMissing::Fail => {
                        let mut failure = StepFailure::error(
                            Some(format!("{field}.response.env_from.{name}")),
                            StepError::MissingValue {
                                name: name.clone(),
                                path: path.clone(),
                                from: from.to_string(),
                                body: self.masker.mask(&snippet(&response.body)).into_owned(),
                            },
                        );
                        failure.status = Some(response.status);
                        failure.body = Some(response.body.clone());
                        return Err(failure);
                    }
                    None => {}
                }
            }
        }
        Ok(out)
    }
}

/// A 301/302/303 answer to a POST, PUT, PATCH or DELETE that the step did
/// not accept: the host did not turn the request into a GET (transport's
/// redirect rules), and the server may have applied it (a 303, or a 302 after
/// a form-style POST, says it did), so the outcome is unknown
/// (docs/migrations.md, "Redirects").
fn redirect_refused(
    mut failure: StepFailure,
    method: &str,
    response: &PluginResponse,
) -> StepFailure {
    let status = response.status;
    let safe = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
    if safe || !(301..=303).contains(&status) {
        return failure;
    }
    let location = response.header("location").unwrap_or("(no Location)");
    failure.error = Box::new(StepError::RedirectRefused {
        status,
        method: method.to_string(),
        location: location.to_string(),
    });
    failure.outcome_unknown = true;
    failure
}

/// The start of a body, for error messages: on one line, with control
/// characters and newlines escaped (a server's `\r` or ESC must not reach a
/// terminal, nor its newline forge an output line; docs/security.md).
pub(super) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty)".into();
    }
    if text.len() <= MAX {
        return escape_line(text).into_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", escape_line(&text[..end]), body.len())
}

/// Every string in a JSON value (the templates of a plugin step's `with:`).
/// How much of a body `-vv` logs (docs/cli.md).
const TRACE_BODY_LIMIT: usize = 4096;

/// Headers as `name: value` pairs for a trace line (the log writer masks them).
fn trace_headers(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A body for a trace line: text up to [`TRACE_BODY_LIMIT`] bytes.
fn trace_body(body: &[u8]) -> String {
    let cut = &body[..body.len().min(TRACE_BODY_LIMIT)];
    let text = String::from_utf8_lossy(cut);
    if body.len() > TRACE_BODY_LIMIT {
        format!("{text}... ({} bytes in all)", body.len())
    } else {
        text.into_owned()
    }
}
