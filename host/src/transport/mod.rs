//! The host's HTTP client: every request apirun sends (plugin `send`, `wait`
//! polling) goes through here, so TLS settings, timeouts and retries are
//! applied in one place.

mod retry;

use std::path::PathBuf;
use std::time::Duration;

pub use retry::RetryPolicy;

/// TLS protocol versions a user can name (`1.2` or `tls1.2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_0,
    V1_1,
    V1_2,
    V1_3,
}

/// The `client:` block of a stage config, resolved.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub insecure: bool,
    pub min_tls_version: Option<TlsVersion>,
    pub max_tls_version: Option<TlsVersion>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            insecure: false,
            min_tls_version: None,
            max_tls_version: None,
            ca_file: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// One request as the host sends it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    /// None: retry idempotent methods only; Some(true): always; Some(false): never.
    pub retry: Option<bool>,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct InboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How many times the request was sent (1 = no retry).
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid client settings: {0}")]
    Settings(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("{method} {url}: {message} (after {attempts} attempt(s))")]
    Send {
        method: String,
        url: String,
        message: String,
        attempts: u32,
        timed_out: bool,
    },
}

/// A configured client. Cheap to clone (reqwest's client is reference counted).
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    settings: ClientSettings,
    /// Requests that may have taken effect without an answer, shared by clones
    /// (see [`HttpClient::unanswered`]).
    unanswered: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl HttpClient {
    pub fn new(settings: ClientSettings) -> Result<Self, TransportError> {
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::limited(10))
            .danger_accept_invalid_certs(settings.insecure);
        if let Some(min) = settings.min_tls_version {
            builder = builder.min_tls_version(reqwest_tls(min));
        }
        if let Some(max) = settings.max_tls_version {
            builder = builder.max_tls_version(reqwest_tls(max));
        }
        if let (Some(min), Some(max)) = (settings.min_tls_version, settings.max_tls_version)
            && min > max
        {
            return Err(TransportError::Settings(format!(
                "min_tls_version {min:?} is above max_tls_version {max:?}"
            )));
        }
        if let Some(ca_file) = &settings.ca_file {
            let pem = std::fs::read(ca_file).map_err(|e| {
                TransportError::Settings(format!("cannot read ca_file {}: {e}", ca_file.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                TransportError::Settings(format!("ca_file {} is not PEM: {e}", ca_file.display()))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let inner = builder
            .build()
            .map_err(|e| TransportError::Settings(e.to_string()))?;
        Ok(HttpClient {
            inner,
            settings,
            unanswered: Default::default(),
        })
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// How many non-idempotent requests (POST, PATCH, ...) this client (and its
    /// clones) sent, or may have sent, without getting an answer: the
    /// connection was lost or timed out after it was established. Such a
    /// request may have taken effect on the server. The migrator compares this
    /// count before and after a migration to leave a failed migration
    /// *interrupted* (outcome unknown) rather than *failed* (docs/store.md).
    pub fn unanswered(&self) -> u64 {
        self.unanswered.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Send a request, retrying as the policy allows.
    pub async fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, TransportError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            TransportError::InvalidRequest(format!("bad method {:?}", request.method))
        })?;
        let may_retry = self
            .settings
            .retry
            .may_retry(&request.method, request.retry);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome = self.send_once(method.clone(), request).await;
            let retryable = match &outcome {
                Ok(response) => RetryPolicy::is_retryable_status(response.status),
                // A request reqwest cannot even build (bad header name or
                // value, bad URL) fails the same way every time: not retried.
                Err(e) => !e.is_builder(),
            };
            if !retryable || !may_retry || attempt > self.settings.retry.max_retries {
                return match outcome {
                    Ok(mut response) => {
                        response.attempts = attempt;
                        Ok(response)
                    }
                    Err(e) => {
                        // A connection never made sent nothing; anything later
                        // (a reset, a timeout, a server gone mid-answer) may
                        // have reached the server.
                        if !e.is_connect()
                            && !e.is_builder()
                            && !RetryPolicy::is_idempotent(&request.method)
                        {
                            self.unanswered
                                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(TransportError::Send {
                            method: request.method.clone(),
                            url: request.url.clone(),
                            message: describe_reqwest_error(&e),
                            attempts: attempt,
                            timed_out: e.is_timeout(),
                        })
                    }
                };
            }
            tokio::time::sleep(self.settings.retry.backoff(attempt)).await;
        }
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        request: &OutboundRequest,
    ) -> Result<InboundResponse, reqwest::Error> {
        let mut builder = self.inner.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        if let Some(timeout) = request.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes().await?.to_vec();
        Ok(InboundResponse {
            status,
            headers,
            body,
            attempts: 1,
        })
    }
}

fn reqwest_tls(version: TlsVersion) -> reqwest::tls::Version {
    match version {
        TlsVersion::V1_0 => reqwest::tls::Version::TLS_1_0,
        TlsVersion::V1_1 => reqwest::tls::Version::TLS_1_1,
        TlsVersion::V1_2 => reqwest::tls::Version::TLS_1_2,
        TlsVersion::V1_3 => reqwest::tls::Version::TLS_1_3,
    }
}

/// reqwest's Display stops at the outermost layer ("error sending request");
/// the cause chain says what actually happened (connection refused, reset...).
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let mut message = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
