//! HTTP through the host: the only way a plugin reaches the network.
//!
//! apirun checks every URL against the plugin's `allowed_hosts` (a refusal is
//! `PluginError::Denied`), applies the stage's TLS settings, timeouts,
//! retries and log masking. A non-2xx answer is a response, not an error.
//!
//! ```ignore
//! use apirun_plugin_sdk::http::Request;
//! let response = Request::post("http://127.0.0.1:8080/api/items")
//!     .json(&serde_json::json!({"name": "x"}))
//!     .send()?;
//! let id: u64 = response.json::<serde_json::Value>()?["id"].as_u64().unwrap_or(0);
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    FollowRedirects, Header, HttpRequest, HttpResponse, PluginError, failed, invalid_config,
};

/// A request being built; `send` hands it to the host.
#[derive(Debug, Clone)]
pub struct Request {
    inner: HttpRequest,
    /// A `json` body that failed to serialize, reported by `send`.
    error: Option<String>,
}

impl Request {
    /// A request with any method (upper-cased).
    pub fn new(method: &str, url: impl Into<String>) -> Request {
        Request {
            inner: HttpRequest {
                method: method.to_ascii_uppercase(),
                url: url.into(),
                headers: Vec::new(),
                body: None,
                timeout_ms: None,
                retry: None,
                follow_redirects: None,
            },
            error: None,
        }
    }

    pub fn get(url: impl Into<String>) -> Request {
        Request::new("GET", url)
    }

    pub fn post(url: impl Into<String>) -> Request {
        Request::new("POST", url)
    }

    pub fn put(url: impl Into<String>) -> Request {
        Request::new("PUT", url)
    }

    pub fn patch(url: impl Into<String>) -> Request {
        Request::new("PATCH", url)
    }

    pub fn delete(url: impl Into<String>) -> Request {
        Request::new("DELETE", url)
    }

    /// Add a header (repeatable; order is kept).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.inner.headers.push(Header {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Request {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// A raw body. Set a `Content-Type` yourself: the host adds none.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.inner.body = Some(body.into());
        self
    }

    /// A JSON body, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Request {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.inner.body = Some(bytes);
                self.header("Content-Type", "application/json")
            }
            Err(e) => {
                self.error = Some(format!("request body is not valid JSON: {e}"));
                self
            }
        }
    }

    /// An `application/x-www-form-urlencoded` body from name/value pairs.
    pub fn form(mut self, fields: &[(&str, &str)]) -> Request {
        let encoded = fields
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.inner.body = Some(encoded.into_bytes());
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    /// Per-request timeout; the default is the stage's `client.timeout`.
    pub fn timeout_ms(mut self, millis: u32) -> Request {
        self.inner.timeout_ms = Some(millis);
        self
    }

    /// `true`: retry even a POST; `false`: never retry. Default: the host
    /// retries idempotent methods only.
    pub fn retry(mut self, retry: bool) -> Request {
        self.inner.retry = Some(retry);
        self
    }

    pub fn follow_redirects(mut self, follow: FollowRedirects) -> Request {
        self.inner.follow_redirects = Some(follow);
        self
    }

    /// The request as the host receives it.
    pub fn build(self) -> Result<HttpRequest, PluginError> {
        match self.error {
            Some(e) => Err(invalid_config(e)),
            None => Ok(self.inner),
        }
    }

    /// Send it through the host. `Err` is a transport failure or a policy
    /// refusal (propagate it with `?`); any HTTP status is `Ok`.
    pub fn send(self) -> Result<HttpResponse, PluginError> {
        send(&self.build()?)
    }
}

/// Send a request through the host (`host.send`).
pub fn send(request: &HttpRequest) -> Result<HttpResponse, PluginError> {
    crate::bindings::apirun::plugin::host::send(request)
}

impl HttpResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::header_value(&self.headers, name)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        crate::body_text(&self.body)
    }

    /// The body parsed as JSON into `T`; a body that does not parse is
    /// `PluginError::Failed` naming the status.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            failed(format!(
                "the {} answer is not the JSON expected: {e}",
                self.status
            ))
        })
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `Ok(self)` for a 2xx answer, else `PluginError::Failed` quoting the
    /// status and the start of the body.
    pub fn error_for_status(self) -> Result<HttpResponse, PluginError> {
        if self.is_success() {
            return Ok(self);
        }
        let body = self.text();
        let excerpt: String = body.chars().take(200).collect();
        Err(failed(format!(
            "the server answered {}: {excerpt}",
            self.status
        )))
    }
}

/// Percent-encode a query or form component (RFC 3986 unreserved kept).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_json_request() {
        let request = Request::post("http://h/x")
            .json(&serde_json::json!({"a": 1}))
            .timeout_ms(5)
            .build()
            .unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.body.as_deref(), Some(&br#"{"a":1}"#[..]));
        assert_eq!(request.headers[0].value, "application/json");
        assert_eq!(request.timeout_ms, Some(5));
    }

    #[test]
    fn encodes() {
        assert_eq!(url_encode("a b&c=é"), "a%20b%26c%3D%C3%A9");
    }

    #[test]
    fn response_helpers() {
        let response = HttpResponse {
            status: 404,
            headers: vec![Header {
                name: "content-type".into(),
                value: "text/plain".into(),
            }],
            body: b"nope".to_vec(),
        };
        assert_eq!(response.header("Content-Type"), Some("text/plain"));
        let err = response.error_for_status().unwrap_err();
        assert!(matches!(err, PluginError::Failed(m) if m.contains("404: nope")));
    }
}
