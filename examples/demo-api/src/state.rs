//! Shared server state: stored resources, the request log and armed faults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::write_atomic;

/// One generic collection under `/api/{collection}`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Collection {
    /// Last id handed out; ids are never reused until `/_admin/reset`.
    pub last_id: u64,
    pub items: BTreeMap<u64, Value>,
}

/// The data behind one deployed service (`/svc/{service}/...`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Service {
    pub last_user: u64,
    pub last_setting: u64,
    pub users: Vec<Value>,
    pub settings: Vec<Value>,
}

/// Everything that `--state-file` persists and `/_admin/state` shows.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Resources {
    pub collections: BTreeMap<String, Collection>,
    pub vpc_seq: u64,
    pub vpcs: Vec<Value>,
    pub rds_instances: Vec<Value>,
    /// Databases still `creating`: identifier -> GETs left before `available`
    /// (an asynchronous provisioning, for `poll:`; not shown by `/_admin/state`).
    pub rds_creating: BTreeMap<String, u32>,
    pub deployments: Vec<Value>,
    pub services: BTreeMap<String, Service>,
}

impl Resources {
    /// The view served by `GET /_admin/state`: every kind always present, empty
    /// collections and services without data left out, so "nothing stored" is
    /// always the same document.
    pub fn view(&self) -> Value {
        let collections: Map<String, Value> = self
            .collections
            .iter()
            .filter(|(_, c)| !c.items.is_empty())
            .map(|(name, c)| (name.clone(), Value::from_iter(c.items.values().cloned())))
            .collect();
        let services: Map<String, Value> = self
            .services
            .iter()
            .filter(|(_, s)| !s.users.is_empty() || !s.settings.is_empty())
            .map(|(name, s)| {
                (
                    name.clone(),
                    json!({"users": s.users, "settings": s.settings}),
                )
            })
            .collect();
        json!({
            "collections": collections,
            "vpcs": self.vpcs,
            "rds_instances": self.rds_instances,
            "deployments": self.deployments,
            "services": services,
        })
    }
}

/// A fault armed with `POST /_admin/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Fault {
    #[serde(default)]
    pub id: u64,
    /// Method to match (any case); absent or `*` matches every method.
    #[serde(default)]
    pub method: Option<String>,
    /// Path to match exactly (no query); a trailing `*` matches a prefix;
    /// absent matches every path.
    #[serde(default)]
    pub path: Option<String>,
    /// Status to answer with; absent means "answer normally" (after the delay).
    #[serde(default)]
    pub status: Option<u16>,
    /// How many matching requests this fault applies to.
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub delay_ms: u64,
    /// Drop the connection without answering.
    #[serde(default)]
    pub reset: bool,
    /// JSON body to answer with instead of the default error body.
    #[serde(default)]
    pub body: Option<Value>,
    /// `Location` header of the answer (with a 3xx `status`: a redirect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = match self.method.as_deref() {
            None | Some("*") | Some("") => true,
            Some(m) => m.eq_ignore_ascii_case(method),
        };
        let path_ok = match self.path.as_deref() {
            None | Some("") => true,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => p == path,
            },
        };
        method_ok && path_ok
    }
}

/// What the request gate needs to know about an armed fault that fired.
#[derive(Debug, Clone, Default)]
pub(crate) struct FiredFault {
    pub status: Option<u16>,
    pub delay_ms: u64,
    pub reset: bool,
    pub body: Option<Value>,
    pub location: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub res: Resources,
    pub log: Vec<Value>,
    pub log_seq: u64,
    pub faults: Vec<Fault>,
    pub fault_seq: u64,
}

/// Accepted credentials.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthConfig {
    pub basic: Vec<(String, String)>,
    pub bearer: Vec<String>,
}

impl AuthConfig {
    pub fn enabled(&self) -> bool {
        !self.basic.is_empty() || !self.bearer.is_empty()
    }
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    pub auth: AuthConfig,
    state_file: Option<PathBuf>,
    pub local_addr: SocketAddr,
}

#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(
        auth: AuthConfig,
        state_file: Option<PathBuf>,
        local_addr: SocketAddr,
    ) -> std::io::Result<Self> {
        let mut inner = Inner::default();
        if let Some(path) = &state_file {
            match std::fs::read(path) {
                Ok(bytes) => {
                    inner.res = serde_json::from_slice(&bytes).map_err(|e| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("state file {}: {e}", path.display()),
                        )
                    })?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("state file {}: {e}", path.display()),
                    ));
                }
            }
        }
        Ok(AppState(Arc::new(Shared {
            inner: Mutex::new(inner),
            auth,
            state_file,
            local_addr,
        })))
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` on the resources; if it reports a change, persist them.
    pub fn mutate<T>(&self, f: impl FnOnce(&mut Resources) -> (bool, T)) -> T {
        let mut inner = self.lock();
        let (changed, out) = f(&mut inner.res);
        if changed {
            self.persist(&inner.res);
        }
        out
    }

    pub fn persist(&self, res: &Resources) {
        let Some(path) = &self.state_file else {
            return;
        };
        let text = match serde_json::to_vec_pretty(res) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("apirun-demo-api: cannot serialise state: {e}");
                return;
            }
        };
        if let Err(e) = write_atomic(path, &text) {
            eprintln!(
                "apirun-demo-api: cannot write state file {}: {e}",
                path.display()
            );
        }
    }

    /// Append a request log entry and return its sequence number.
    pub fn log_request(&self, mut entry: Map<String, Value>) -> u64 {
        let mut inner = self.lock();
        inner.log_seq += 1;
        let seq = inner.log_seq;
        let (millis, text) = now();
        entry.insert("seq".into(), seq.into());
        entry.insert("time".into(), text.into());
        entry.insert("time_ms".into(), millis.into());
        entry.insert("status".into(), Value::Null);
        inner.log.push(Value::Object(entry));
        seq
    }

    /// Record the status a logged request was answered with.
    pub fn log_status(&self, seq: u64, status: u16) {
        let mut inner = self.lock();
        if let Some(entry) = inner
            .log
            .iter_mut()
            .rev()
            .find(|e| e.get("seq").and_then(Value::as_u64) == Some(seq))
        {
            entry["status"] = status.into();
        }
    }

    /// Find the first armed fault matching this request, use up one of its
    /// `times`, and return what it asks for.
    pub fn take_fault(&self, method: &str, path: &str) -> Option<FiredFault> {
        let mut inner = self.lock();
        let idx = inner.faults.iter().position(|f| f.matches(method, path))?;
        let fault = &mut inner.faults[idx];
        let fired = FiredFault {
            status: fault.status,
            delay_ms: fault.delay_ms,
            reset: fault.reset,
            body: fault.body.clone(),
            location: fault.location.clone(),
        };
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            inner.faults.remove(idx);
        }
        Some(fired)
    }
}

/// Current time as (milliseconds since the epoch, RFC 3339 UTC text).
fn now() -> (u64, String) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let millis = d.as_millis() as u64;
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        millis % 1000
    );
    (millis, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_matching() {
        let f = |method: Option<&str>, path: Option<&str>| Fault {
            id: 0,
            method: method.map(str::to_owned),
            path: path.map(str::to_owned),
            status: None,
            times: 1,
            delay_ms: 0,
            reset: false,
            body: None,
            location: None,
        };
        assert!(f(None, None).matches("GET", "/x"));
        assert!(f(Some("post"), Some("/api/users")).matches("POST", "/api/users"));
        assert!(!f(Some("POST"), Some("/api/users")).matches("GET", "/api/users"));
        assert!(!f(Some("POST"), Some("/api/users")).matches("POST", "/api/users/1"));
        assert!(f(Some("*"), Some("/api/*")).matches("DELETE", "/api/users/1"));
    }

    #[test]
    fn time_text_is_rfc3339() {
        let (_, t) = now();
        assert_eq!(t.len(), "2026-01-01T00:00:00.000Z".len());
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }
}
