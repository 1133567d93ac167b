//! Which web pages may use this server from their visitors' browsers.
//!
//! A browser tells the server which page a request comes from (`Origin`)
//! on every websocket and every cross-origin or non-`GET` request. Without
//! a check, any page on the web could make its visitors' browsers create
//! rooms and read room state here. Allowed: requests with no `Origin` (a
//! native game, a script), pages served by this server itself, and the
//! origins the operator lists (`--allow-origin`, `*` for any).
//!
//! "Served by this server" is the `--public-url`'s origin when there is one,
//! and only that. Without one (a local or first deployment) it is any page
//! whose host is the request's `Host`: that trusts a header the page's
//! browser fills in, which a DNS-rebinding page controls, so a server on
//! the internet should be given its public URL.

use axum::http::{HeaderMap, HeaderValue, header};
use bevy_p2p_protocol::ErrorCode;

/// The allow-list, normalised: `scheme://host[:port]`, lower case.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins {
    listed: Vec<String>,
    any: bool,
    /// No public URL: a page whose host is the request's `Host` is ours.
    same_host: bool,
}

impl Origins {
    /// `listed` from the operator; `public_url` is the server's own address.
    pub(crate) fn new(listed: &[String], public_url: Option<&str>) -> Result<Self, String> {
        let mut origins = Self::default();
        for origin in listed {
            if origin.trim() == "*" {
                origins.any = true;
                continue;
            }
            origins.listed.push(normalise(origin).ok_or_else(|| {
                format!("allowed origin {origin:?} must be scheme://host[:port], or *")
            })?);
        }
        match public_url.and_then(normalise_url) {
            Some(own) => origins.listed.push(own),
            None => origins.same_host = true,
        }
        Ok(origins)
    }

    /// Whether a request with these headers may go on.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), ErrorCode> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        if self.allows(origin, headers.get(header::HOST)) {
            Ok(())
        } else {
            Err(ErrorCode::OriginNotAllowed)
        }
    }

    /// Whether `origin` is allowed, for a request to `host`.
    pub(crate) fn allows(&self, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
        if self.any {
            return true;
        }
        // `null` (a sandboxed frame, a file) names no page: never ours.
        let Some(origin) = origin.to_str().ok().and_then(normalise) else {
            return false;
        };
        let same_host = self.same_host
            && host
                .and_then(|host| host.to_str().ok())
                .is_some_and(|host| origin_host(&origin) == host.trim().to_ascii_lowercase());
        same_host || self.listed.contains(&origin)
    }
}

/// `scheme://host[:port]` in lower case, or `None` when `raw` is not an origin.
fn normalise(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, host) = raw.split_once("://")?;
    let valid = matches!(scheme, "http" | "https")
        && !host.is_empty()
        && !host.contains(['/', '?', '#', '@', ' ']);
    valid.then_some(raw)
}

/// The origin of a URL: its scheme and authority.
fn normalise_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    normalise(&format!("{scheme}://{authority}"))
}

/// The `host[:port]` of a normalised origin.
fn origin_host(origin: &str) -> &str {
    origin.split_once("://").map_or(origin, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    fn check(origins: &Origins, origin: &str, host: &'static str) -> Result<(), ErrorCode> {
        let mut headers = headers(None, host);
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_str(origin).expect("header"),
        );
        origins.check(&headers)
    }

    #[test]
    fn with_a_public_url_own_pages_and_listed_ones_pass_others_do_not() {
        let origins = Origins::new(
            &["https://Games.Example.org/".into()],
            Some("https://play.example.com/arena"),
        )
        .expect("valid");
        let host = "127.0.0.1:3536";
        // Native games and scripts send no origin.
        assert_eq!(origins.check(&headers(None, host)), Ok(()));
        // The public URL, whatever Host the proxy sends.
        assert_eq!(check(&origins, "https://play.example.com", host), Ok(()));
        assert_eq!(check(&origins, "https://games.example.org", host), Ok(()));
        for stranger in [
            "https://evil.example",
            "http://127.0.0.1:3537",
            "null",
            "https://play.example.com.evil.example",
            // The public URL's host, other scheme.
            "http://play.example.com",
        ] {
            assert_eq!(
                check(&origins, stranger, host),
                Err(ErrorCode::OriginNotAllowed),
                "{stranger}"
            );
        }
        // A DNS-rebinding page: its Host header names its own domain.
        assert_eq!(
            check(&origins, "http://evil.example", "evil.example"),
            Err(ErrorCode::OriginNotAllowed)
        );
    }

    #[test]
    fn without_a_public_url_a_page_from_the_requests_host_passes() {
        let origins = Origins::new(&["https://games.example.org".into()], None).expect("valid");
        let host = "127.0.0.1:3536";
        assert_eq!(check(&origins, "http://127.0.0.1:3536", host), Ok(()));
        // Behind a proxy that terminates TLS: same host, other scheme.
        assert_eq!(
            check(&origins, "https://play.example.com", "play.example.com"),
            Ok(())
        );
        assert_eq!(check(&origins, "https://games.example.org", host), Ok(()));
        for stranger in ["https://evil.example", "http://127.0.0.1:3537", "null"] {
            assert_eq!(
                check(&origins, stranger, host),
                Err(ErrorCode::OriginNotAllowed),
                "{stranger}"
            );
        }
    }

    #[test]
    fn a_star_allows_any_page_and_bad_entries_are_refused() {
        let any = Origins::new(&["*".into()], None).expect("valid");
        assert_eq!(
            any.check(&headers(Some("https://evil.example"), "127.0.0.1")),
            Ok(())
        );
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://",
            "https://a/b",
        ] {
            assert!(Origins::new(&[bad.into()], None).is_err(), "{bad}");
        }
    }
}
