//! `wait:`: poll a URL until it answers the expected status.

use std::time::Instant;

use super::EngineError;
use super::vars::{Vars, context};
use crate::config::{WaitConfig, WaitMethod};
use crate::template::TemplateText;
use crate::transport::{HttpClient, Request};

pub async fn wait_for(
    http: &HttpClient,
    wait: &WaitConfig,
    vars: &Vars,
) -> Result<(), EngineError> {
    let ctx = context(vars);
    // Parsed when config.yaml was loaded; a syntax error is reported there
    // (and by `validate`) with its line, and here again if it is run anyway.
    let render = |text: &TemplateText, field: &str| {
        text.render(&ctx)
            .map_err(|e| EngineError::Usage(format!("wait.{field}: {e}")))
    };
    let url = render(&wait.url, "url")?;
    let mut headers = Vec::new();
    for header in &wait.headers {
        headers.push((
            render(&header.name, "headers")?,
            render(&header.value, "headers")?,
        ));
    }
    let request = Request {
        method: match wait.method {
            WaitMethod::Get => "GET".into(),
            WaitMethod::Head => "HEAD".into(),
        },
        url: url.clone(),
        headers,
        body: None,
        timeout: Some(wait.interval.max(std::time::Duration::from_secs(1))),
        retry: Some(false),
        ..Request::default()
    };
    let deadline = Instant::now() + wait.timeout;
    let mut last;
    loop {
        last = match http.send(&request).await {
            Ok(response) if response.status == wait.status => return Ok(()),
            Ok(response) => format!("status {}", response.status),
            Err(e) => e.to_string(),
        };
        if Instant::now() + wait.interval > deadline {
            return Err(EngineError::Wait(format!(
                "wait: {url} did not answer {} within {:?}; last: {last}",
                wait.status, wait.timeout
            )));
        }
        tokio::time::sleep(wait.interval).await;
    }
}
