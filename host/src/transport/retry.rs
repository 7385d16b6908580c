//! When a request may be sent again, and how long to wait first.

use std::time::Duration;

/// Network errors, 408, 429 and 5xx are retried with jittered exponential
/// backoff, but only for idempotent methods unless the request opts in: a POST
/// is never sent twice by default, because that can create a resource twice.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

const IDEMPOTENT: [&str; 5] = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"];

impl RetryPolicy {
    /// `request_override`: the request's own `retry:` setting.
    pub fn may_retry(&self, method: &str, request_override: Option<bool>) -> bool {
        if self.max_retries == 0 {
            return false;
        }
        match request_override {
            Some(choice) => choice,
            None => Self::is_idempotent(method),
        }
    }

    /// GET, HEAD, PUT, DELETE and OPTIONS: sending one twice has the effect of
    /// sending it once (RFC 9110, 9.2.2).
    pub fn is_idempotent(method: &str) -> bool {
        IDEMPOTENT.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    pub fn is_retryable_status(status: u16) -> bool {
        status == 408 || status == 429 || (500..=599).contains(&status)
    }

    /// Delay before retry number `attempt` (1-based): base * 2^(attempt-1),
    /// capped, with "full jitter" between half and the whole of it.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + capped.mul_f64(fastrand::f64() * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_is_not_retried_unless_asked() {
        let policy = RetryPolicy::default();
        assert!(!policy.may_retry("POST", None));
        assert!(policy.may_retry("POST", Some(true)));
        assert!(policy.may_retry("get", None));
        assert!(!policy.may_retry("GET", Some(false)));
        assert!(!policy.may_retry("PATCH", None));
    }

    #[test]
    fn no_retries_configured_means_never() {
        let policy = RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        };
        assert!(!policy.may_retry("GET", Some(true)));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        let first = policy.backoff(1);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let late = policy.backoff(30);
        assert!(late <= policy.max_delay);
    }

    #[test]
    fn retryable_statuses() {
        for status in [408, 429, 500, 502, 503, 599] {
            assert!(RetryPolicy::is_retryable_status(status), "{status}");
        }
        for status in [200, 201, 400, 401, 404, 409] {
            assert!(!RetryPolicy::is_retryable_status(status), "{status}");
        }
    }
}
