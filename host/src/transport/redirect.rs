//! Redirects, followed by the host hop by hop (reqwest's own following is
//! off), so that every hop is checked against the sender's policy and the
//! request's `follow_redirects`, and headers never cross origins
//! (docs/security.md, "Network").

use serde::Serialize;

/// Redirects followed for one request before giving up.
pub const MAX_REDIRECTS: u32 = 10;

/// `follow_redirects`: which redirects a request follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FollowRedirects {
    /// Never: the 3xx answer is the response.
    None,
    /// Only to the same scheme, host and port (the default).
    #[default]
    SameOrigin,
    /// To any origin the sender's policy allows; the request's headers
    /// (auth included) are not sent across origins.
    Any,
}

impl FollowRedirects {
    /// The words a config file may use.
    pub const CHOICES: [&'static str; 3] = ["same-origin", "any", "none"];

    pub fn parse(text: &str) -> Option<FollowRedirects> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "none" | "never" => Some(FollowRedirects::None),
            "same-origin" => Some(FollowRedirects::SameOrigin),
            "any" => Some(FollowRedirects::Any),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FollowRedirects::None => "none",
            FollowRedirects::SameOrigin => "same-origin",
            FollowRedirects::Any => "any",
        }
    }
}

/// Why a redirect was not followed (the step fails with this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectRefusal {
    /// Another origin, and the request did not opt in (`follow_redirects: same-origin`).
    CrossOrigin,
    /// The sender's policy (a plugin's `allowed_hosts`) does not allow the target.
    Denied(String),
    /// More than [`MAX_REDIRECTS`] hops.
    TooMany,
    /// The Location is not an http(s) URL.
    BadLocation(String),
}

impl std::fmt::Display for RedirectRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedirectRefusal::CrossOrigin => f.write_str(
                "it leads to another origin and the request follows redirects only within its \
                 own (follow_redirects: same-origin, the default); set `follow_redirects: any` on \
                 the request to follow it (its headers and auth are not sent there), or \
                 `follow_redirects: none` to take the redirect itself as the answer",
            ),
            RedirectRefusal::Denied(policy) => f.write_str(policy),
            RedirectRefusal::TooMany => write!(f, "more than {MAX_REDIRECTS} redirects"),
            RedirectRefusal::BadLocation(why) => write!(f, "bad Location: {why}"),
        }
    }
}

/// What to do with a redirect answer to `method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextHop {
    /// Not a redirect the host follows: the answer is the response.
    Stop,
    /// Send the same method and body again (307, 308, and 301/302/303 to GET/HEAD).
    Same,
}

/// 307/308 re-send the same method and body; 301/302/303 are followed only
/// for GET and HEAD (which they keep). A 301/302/303 answer to a POST, PUT,
/// PATCH or DELETE is never turned into a GET: it is returned as the answer,
/// and the step decides with its `result_code` (docs/migrations.md, "Redirects").
pub(crate) fn next_hop(status: u16, method: &str) -> NextHop {
    let safe = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
    match status {
        307 | 308 => NextHop::Same,
        301..=303 if safe => NextHop::Same,
        _ => NextHop::Stop,
    }
}

/// Scheme, host and port (the default port filled in).
pub(crate) fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Headers kept on a hop to another origin: none of the user's, except the
/// body's Content-Type when a 307/308 re-sends the body.
pub(crate) fn cross_origin_headers(
    headers: &[(String, String)],
    with_body: bool,
) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| with_body && name.eq_ignore_ascii_case("content-type"))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).expect("url")
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            &url("http://127.0.0.1:80/a"),
            &url("http://127.0.0.1/b")
        ));
        assert!(same_origin(
            &url("https://API.example.com/a"),
            &url("https://api.example.com:443/b?x")
        ));
        assert!(!same_origin(
            &url("http://127.0.0.1:8080/"),
            &url("http://127.0.0.1:8081/")
        ));
        assert!(!same_origin(
            &url("http://example.com/"),
            &url("https://example.com/")
        ));
    }

    #[test]
    fn a_post_is_never_turned_into_a_get() {
        for status in [301, 302, 303] {
            assert_eq!(next_hop(status, "POST"), NextHop::Stop);
            assert_eq!(next_hop(status, "DELETE"), NextHop::Stop);
            assert_eq!(next_hop(status, "GET"), NextHop::Same);
            assert_eq!(next_hop(status, "head"), NextHop::Same);
        }
        for status in [307, 308] {
            assert_eq!(next_hop(status, "POST"), NextHop::Same);
        }
        for status in [300, 304, 305, 200, 404] {
            assert_eq!(next_hop(status, "GET"), NextHop::Stop);
        }
    }

    #[test]
    fn no_user_header_crosses_origins() {
        let headers = vec![
            ("Authorization".to_string(), "Bearer x".to_string()),
            ("X-Api-Key".to_string(), "k".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        assert_eq!(
            cross_origin_headers(&headers, true),
            vec![("Content-Type".to_string(), "application/json".to_string())]
        );
        assert!(cross_origin_headers(&headers, false).is_empty());
    }

    #[test]
    fn parse_choices() {
        for choice in FollowRedirects::CHOICES {
            assert_eq!(
                FollowRedirects::parse(choice).map(FollowRedirects::as_str),
                Some(choice)
            );
        }
        assert_eq!(
            FollowRedirects::parse("same_origin"),
            Some(FollowRedirects::SameOrigin)
        );
        assert_eq!(FollowRedirects::parse("always"), None);
    }
}
