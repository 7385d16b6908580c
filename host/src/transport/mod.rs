//! The host's HTTP client: every request apirun sends (plugin `send`, `wait`
//! polling) goes through here, so TLS settings, timeouts and retries are
//! applied in one place.

mod redirect;
mod retry;
mod tls;

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

pub use redirect::{FollowRedirects, MAX_REDIRECTS, RedirectRefusal};
pub use retry::RetryPolicy;

use redirect::NextHop;

/// `client.max_response_bytes` by default: 8 MiB, plenty for the JSON
/// answers values are extracted from, small enough that a hostile server
/// cannot make apirun hold gigabytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

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
    /// Largest response body read (`client.max_response_bytes`); a larger
    /// one fails the request (see [`TransportError::TooLarge`]).
    pub max_response_bytes: u64,
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
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// One HTTP request: what a step renders, what the `http` step plugin is
/// handed (WIT 0.2 `http-step-request`) and what the host sends for a
/// plugin (`host.send`) or a `wait:` probe. The one request type; each
/// contract version's bindings convert it to their WIT types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Without `queries`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Appended to the URL's query string, percent-encoded, when sent.
    pub queries: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The request's own timeout (None: the client's `timeout`).
    pub timeout: Option<Duration>,
    /// None: retry idempotent methods only; Some(true): always; Some(false): never.
    pub retry: Option<bool>,
    /// The request's own redirect policy (None: the sender's default).
    pub follow_redirects: Option<FollowRedirects>,
}

impl Request {
    /// The URL with its queries, unencoded, for messages and logs.
    pub fn display_url(&self) -> String {
        if self.queries.is_empty() {
            return self.url.clone();
        }
        let query: String = self
            .queries
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{query}", self.url)
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How many times the request was sent (1 = no retry).
    pub attempts: u32,
}

/// A sender's policy for one URL: `Err(why)` refuses it.
pub type UrlPolicy<'a> = dyn Fn(&reqwest::Url) -> Result<(), String> + Send + Sync + 'a;

/// How one send treats redirects.
#[derive(Clone, Copy, Default)]
pub struct Redirects<'a> {
    /// The sender's default; a request's own `follow_redirects` wins.
    pub follow: FollowRedirects,
    /// The sender's policy (a plugin's `allowed_hosts`), asked before every
    /// hop: `Err(why)` refuses it.
    pub policy: Option<&'a UrlPolicy<'a>>,
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
    /// A redirect that the request's `follow_redirects` or the sender's
    /// policy does not allow; nothing was sent to `location`.
    #[error("{method} {url}: answered {status} redirecting to {location}; not followed: {reason}")]
    Redirect {
        method: String,
        url: String,
        status: u16,
        location: String,
        reason: RedirectRefusal,
    },
    /// The response body is larger than `client.max_response_bytes`.
    #[error("{}", too_large_message(method, url, *status, *declared, *limit, *may_have_applied))]
    TooLarge {
        method: String,
        url: String,
        status: u16,
        /// The Content-Length, when the server declared one.
        declared: Option<u64>,
        limit: u64,
        /// The server accepted (2xx) a non-idempotent request: it may have
        /// applied it, so the outcome is unknown (not safe to resend).
        may_have_applied: bool,
    },
}

impl TransportError {
    /// The request may have changed the server's state although it failed:
    /// it must not be recorded as failed-and-safe-to-resend.
    pub fn may_have_applied(&self) -> bool {
        matches!(
            self,
            TransportError::TooLarge {
                may_have_applied: true,
                ..
            }
        )
    }
}

fn too_large_message(
    method: &str,
    url: &str,
    status: u16,
    declared: Option<u64>,
    limit: u64,
    may_have_applied: bool,
) -> String {
    let size = match declared {
        Some(bytes) => format!("a body of {bytes} bytes, above"),
        None => "a body larger than".to_string(),
    };
    let mut text = format!(
        "{method} {url}: answered {status} with {size} the response limit of {} \
         (client.max_response_bytes); raise client.max_response_bytes in the stage config \
         if such an answer is expected",
        human_bytes(limit)
    );
    if may_have_applied {
        text.push_str(&format!(
            "; the server accepted the {method} ({status}) and may have applied it:              the outcome is unknown"
        ));
    }
    text
}

/// `8 MiB`, `512 KiB`, or bytes.
pub fn human_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
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

/// Why one attempt failed.
enum AttemptError {
    Http(reqwest::Error),
    TooLarge { status: u16, declared: Option<u64> },
}

impl HttpClient {
    pub fn new(settings: ClientSettings) -> Result<Self, TransportError> {
        if let (Some(min), Some(max)) = (settings.min_tls_version, settings.max_tls_version)
            && min > max
        {
            return Err(TransportError::Settings(format!(
                "min_tls_version {min:?} is above max_tls_version {max:?}"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            // Redirects are followed by `send`, hop by hop, so that each hop
            // is checked against policy (see redirect.rs).
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(settings.insecure);
        match &settings.ca_file {
            // `insecure` verifies nothing, so a ca_file changes nothing then.
            Some(ca_file) if !settings.insecure => {
                builder = builder.use_preconfigured_tls(tls::client_config(
                    ca_file,
                    settings.min_tls_version,
                    settings.max_tls_version,
                )?);
            }
            _ => {
                if let Some(min) = settings.min_tls_version {
                    builder = builder.min_tls_version(reqwest_tls(min));
                }
                if let Some(max) = settings.max_tls_version {
                    builder = builder.max_tls_version(reqwest_tls(max));
                }
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

    /// Send a request, retrying as the policy allows and following
    /// same-origin redirects.
    pub async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        self.send_with(request, Redirects::default()).await
    }

    /// Send a request, retrying as the policy allows; follow redirects as
    /// `redirects` allows, checking every hop (docs/security.md, "Network").
    pub async fn send_with(
        &self,
        request: &Request,
        redirects: Redirects<'_>,
    ) -> Result<Response, TransportError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            TransportError::InvalidRequest(format!("bad method {:?}", request.method))
        })?;
        let mut origin = reqwest::Url::parse(&request.url).map_err(|e| {
            TransportError::InvalidRequest(format!("invalid url {:?}: {e}", request.url))
        })?;
        if !request.queries.is_empty() {
            origin
                .query_pairs_mut()
                .extend_pairs(request.queries.iter());
        }
        let follow = request.follow_redirects.unwrap_or(redirects.follow);
        let mut url = origin.clone();
        let mut headers = Cow::Borrowed(&request.headers);
        let mut hops = 0;
        loop {
            let response = self.send_retrying(&method, &url, &headers, request).await?;
            if follow == FollowRedirects::None
                || redirect::next_hop(response.status, method.as_str()) == NextHop::Stop
            {
                return Ok(response);
            }
            // A 3xx without a Location is an answer like any other.
            let Some(location) = response.header("location").map(str::to_string) else {
                return Ok(response);
            };
            let refuse = |reason: RedirectRefusal| TransportError::Redirect {
                method: request.method.clone(),
                url: url.to_string(),
                status: response.status,
                location: location.clone(),
                reason,
            };
            let next = url
                .join(&location)
                .map_err(|e| refuse(RedirectRefusal::BadLocation(e.to_string())))?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(refuse(RedirectRefusal::BadLocation(format!(
                    "scheme {:?} is not http or https",
                    next.scheme()
                ))));
            }
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(refuse(RedirectRefusal::TooMany));
            }
            let cross = !redirect::same_origin(&origin, &next);
            if cross && follow == FollowRedirects::SameOrigin {
                return Err(refuse(RedirectRefusal::CrossOrigin));
            }
            if let Some(policy) = redirects.policy {
                policy(&next).map_err(|why| refuse(RedirectRefusal::Denied(why)))?;
            }
            if cross {
                // Once stripped, they stay stripped (even back on the origin).
                headers = Cow::Owned(redirect::cross_origin_headers(
                    &headers,
                    request.body.is_some(),
                ));
            }
            tracing::debug!(
                "{} {url} answered {}: following to {next}",
                request.method,
                response.status
            );
            url = next;
        }
    }

    /// One hop, retried as the policy allows.
    async fn send_retrying(
        &self,
        method: &reqwest::Method,
        url: &reqwest::Url,
        headers: &[(String, String)],
        request: &Request,
    ) -> Result<Response, TransportError> {
        let may_retry = self
            .settings
            .retry
            .may_retry(&request.method, request.retry);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome = self.send_once(method.clone(), url, headers, request).await;
            let retryable = match &outcome {
                Ok(response) => RetryPolicy::is_retryable_status(response.status),
                // A request reqwest cannot even build (bad header name or
                // value, bad URL) fails the same way every time, and so does a
                // refused certificate: not retried. Nor is a body over the cap.
                Err(AttemptError::Http(e)) => !e.is_builder() && tls::find_tls_error(e).is_none(),
                Err(AttemptError::TooLarge { .. }) => false,
            };
            if !retryable || !may_retry || attempt > self.settings.retry.max_retries {
                return match outcome {
                    Ok(mut response) => {
                        response.attempts = attempt;
                        Ok(response)
                    }
                    Err(AttemptError::Http(e)) => {
                        // A connection never made sent nothing; anything later
                        // (a reset, a timeout, a server gone mid-answer) may
                        // have reached the server (docs/store.md).
                        if !e.is_connect()
                            && !e.is_builder()
                            && !RetryPolicy::is_idempotent(&request.method)
                        {
                            self.unanswered
                                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(TransportError::Send {
                            method: request.method.clone(),
                            url: url.to_string(),
                            message: describe_reqwest_error(&e, url),
                            attempts: attempt,
                            timed_out: e.is_timeout(),
                        })
                    }
                    Err(AttemptError::TooLarge { status, declared }) => {
                        Err(TransportError::TooLarge {
                            method: request.method.clone(),
                            url: url.to_string(),
                            status,
                            declared,
                            limit: self.settings.max_response_bytes,
                            may_have_applied: (200..300).contains(&status)
                                && !RetryPolicy::is_idempotent(method.as_str()),
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
        url: &reqwest::Url,
        headers: &[(String, String)],
        request: &Request,
    ) -> Result<Response, AttemptError> {
        let mut builder = self.inner.request(method, url.clone());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        if let Some(timeout) = request.timeout {
            builder = builder.timeout(timeout);
        }
        let mut response = builder.send().await.map_err(AttemptError::Http)?;
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
        // Bounded: refuse a declared length over the cap before reading any
        // of it, and stop reading a chunked body once it passes the cap.
        let limit = self.settings.max_response_bytes;
        let declared = response.content_length();
        if let Some(length) = declared
            && length > limit
        {
            return Err(AttemptError::TooLarge {
                status,
                declared: Some(length),
            });
        }
        // One copy per chunk, as `bytes().to_vec()` did for a one-chunk body;
        // the declared length (at most the cap) sizes the buffer up front.
        let mut body = Vec::with_capacity(usize::try_from(declared.unwrap_or(0)).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(AttemptError::Http)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(AttemptError::TooLarge {
                    status,
                    declared: None,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            attempts: 1,
        })
    }
}

impl Response {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
/// A TLS failure is put in words that name the host and the fix.
fn describe_reqwest_error(error: &reqwest::Error, url: &reqwest::Url) -> String {
    if let Some(tls) = tls::find_tls_error(error) {
        let host = match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            _ => url.to_string(),
        };
        return tls::describe_tls_error(tls, &host);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(DEFAULT_MAX_RESPONSE_BYTES), "8 MiB");
        assert_eq!(human_bytes(512 * 1024), "512 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(2 * 1024 * 1024 * 1024), "2 GiB");
    }

    #[test]
    fn a_too_large_answer_names_the_limit_and_the_setting() {
        let declared = too_large_message("GET", "http://x/big", 200, Some(5000), 4096, false);
        assert!(
            declared.contains("5000 bytes, above the response limit of 4 KiB"),
            "{declared}"
        );
        assert!(declared.contains("client.max_response_bytes"), "{declared}");
        let streamed = too_large_message("POST", "http://x/big", 201, None, 4096, true);
        assert!(
            streamed.contains("a body larger than the response limit of 4 KiB"),
            "{streamed}"
        );
        assert!(streamed.contains("outcome is unknown"), "{streamed}");
    }
}
