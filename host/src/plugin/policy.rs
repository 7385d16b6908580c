//! `allowed_hosts`: where a plugin may send requests.

use std::fmt;

/// One `allowed_hosts` entry: `*`, `host`, `*.domain`, `host:port`, or a URL
/// prefix such as `https://sso.example.com` (scheme, host and port must match).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
    wildcard_subdomains: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Any host (the built-in http step: its URL is the user's own config).
    Any,
    /// Only these (empty: no network at all, the default for file plugins).
    Only(Vec<String>),
}

impl AllowedHosts {
    pub fn none() -> Self {
        AllowedHosts::Only(Vec::new())
    }

    pub fn from_entries(entries: &[String]) -> Result<Self, String> {
        if entries.iter().any(|e| e.trim() == "*") {
            return Ok(AllowedHosts::Any);
        }
        for entry in entries {
            parse_rule(entry)?;
        }
        Ok(AllowedHosts::Only(entries.to_vec()))
    }

    /// Whether a request to `url` is allowed.
    pub fn permits(&self, url: &reqwest::Url) -> bool {
        match self {
            AllowedHosts::Any => true,
            AllowedHosts::Only(entries) => entries
                .iter()
                .filter_map(|e| parse_rule(e).ok())
                .any(|rule| rule.matches(url)),
        }
    }
}

impl fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedHosts::Any => write!(f, "any host"),
            AllowedHosts::Only(entries) if entries.is_empty() => write!(f, "none"),
            AllowedHosts::Only(entries) => write!(f, "{}", entries.join(", ")),
        }
    }
}

fn parse_rule(entry: &str) -> Result<HostRule, String> {
    let entry = entry.trim().trim_end_matches('/');
    if entry.is_empty() {
        return Err("an allowed_hosts entry is empty".into());
    }
    let (scheme, rest) = match entry.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, entry),
    };
    if rest.contains('/') {
        return Err(format!(
            "allowed_hosts entry {entry:?}: give a host, host:port or scheme://host[:port], without a path"
        ));
    }
    let (host, port) =
        split_host_port(rest).ok_or_else(|| format!("allowed_hosts entry {entry:?}: bad port"))?;
    let (wildcard_subdomains, host) = match host.strip_prefix("*.") {
        Some(domain) => (true, domain.to_ascii_lowercase()),
        None => (false, host.to_ascii_lowercase()),
    };
    let port = port.or_else(|| scheme.as_deref().and_then(default_port));
    Ok(HostRule {
        scheme,
        host,
        port,
        wildcard_subdomains,
    })
}

fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    // IPv6 literal: [::1]:8080
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl HostRule {
    fn matches(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if let Some(scheme) = &self.scheme
            && scheme != url.scheme()
        {
            return false;
        }
        if let Some(port) = self.port
            && Some(port) != url.port_or_known_default()
        {
            return false;
        }
        if self.wildcard_subdomains {
            host.ends_with(&format!(".{}", self.host))
        } else {
            host == self.host
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entries: &[&str], url: &str) -> bool {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        let allowed = AllowedHosts::from_entries(&entries).expect("valid entries");
        allowed.permits(&reqwest::Url::parse(url).expect("valid url"))
    }

    #[test]
    fn url_prefix_rules_match_scheme_host_and_port() {
        assert!(allows(
            &["https://sso.example.com"],
            "https://sso.example.com/realms/x"
        ));
        assert!(!allows(
            &["https://sso.example.com"],
            "http://sso.example.com/realms/x"
        ));
        assert!(!allows(
            &["https://sso.example.com"],
            "https://sso.example.com:8443/"
        ));
        assert!(allows(
            &["http://127.0.0.1:8080"],
            "http://127.0.0.1:8080/a"
        ));
        assert!(!allows(
            &["http://127.0.0.1:8080"],
            "http://127.0.0.1:8081/a"
        ));
    }

    #[test]
    fn bare_hosts_and_wildcards() {
        assert!(allows(&["api.example.com"], "https://api.example.com/x"));
        assert!(allows(
            &["api.example.com"],
            "http://api.example.com:9000/x"
        ));
        assert!(!allows(
            &["api.example.com"],
            "https://evil.com/api.example.com"
        ));
        assert!(allows(&["*.example.com"], "https://a.b.example.com/"));
        assert!(!allows(&["*.example.com"], "https://example.com.evil.net/"));
        assert!(allows(&["*"], "https://anything.test/"));
        assert!(allows(&["[::1]:8080"], "http://[::1]:8080/"));
    }

    #[test]
    fn empty_list_allows_nothing() {
        assert!(!allows(&[], "http://127.0.0.1/"));
    }

    #[test]
    fn entries_with_paths_are_rejected() {
        assert!(AllowedHosts::from_entries(&["https://x.com/path".to_string()]).is_err());
        assert!(AllowedHosts::from_entries(&["x.com:notaport".to_string()]).is_err());
    }
}
