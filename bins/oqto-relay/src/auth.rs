//! Who may use the relay: a login session cookie or an API token, and for a WebSocket
//! upgrade, an `Origin` that is the relay's own or a configured one.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};

/// The cookie holding a login session's id.
pub const COOKIE_NAME: &str = "oqto_session";

/// How a request proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Cookie,
    Token,
}

/// The value of the `oqto_session` cookie, if sent.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// The token of an `Authorization: Bearer …` header, if sent.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether a WebSocket upgrade's `Origin` is acceptable: the relay's own (the host the
/// request was sent to: over https when the relay serves TLS itself, else http or https,
/// as a TLS proxy in front passes `Host` on) or one of `allowed`. No `Origin` (not a
/// browser) is acceptable only with an API token: a browser always sends one, so a
/// cookie without it is someone else's page at work.
pub fn origin_ok(
    headers: &HeaderMap,
    allowed: &[String],
    credential: Credential,
    tls: bool,
) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return credential == Credential::Token;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin == format!("https://{host}") || (!tls && origin == format!("http://{host}"))
}

/// The `Set-Cookie` value for a new login session.
pub fn set_cookie(id: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Whether the browser reached us over TLS (a reverse proxy says so in
/// `X-Forwarded-Proto`): then cookies are `Secure`.
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; oqto_session=abc; b=2")]);
        assert_eq!(session_cookie(&h), Some("abc"));
        assert_eq!(session_cookie(&headers(&[("cookie", "a=1")])), None);
    }

    #[test]
    fn bearer_tokens_are_read() {
        assert_eq!(
            bearer(&headers(&[("authorization", "Bearer oqto_x")])),
            Some("oqto_x")
        );
        assert_eq!(bearer(&headers(&[("authorization", "Basic eA==")])), None);
        assert_eq!(bearer(&headers(&[("authorization", "Bearer ")])), None);
    }

    #[test]
    fn only_our_own_or_configured_origins_pass() {
        let allowed = vec!["https://oqto.example.com".to_owned()];
        let ours = headers(&[
            ("host", "127.0.0.1:8420"),
            ("origin", "http://127.0.0.1:8420"),
        ]);
        assert!(origin_ok(&ours, &allowed, Credential::Cookie, false));
        assert!(
            !origin_ok(&ours, &allowed, Credential::Cookie, true),
            "under TLS our own origin is https"
        );
        let ours_tls = headers(&[
            ("host", "127.0.0.1:8420"),
            ("origin", "https://127.0.0.1:8420"),
        ]);
        assert!(origin_ok(&ours_tls, &allowed, Credential::Cookie, true));
        let proxied = headers(&[
            ("host", "127.0.0.1:8420"),
            ("origin", "https://oqto.example.com"),
        ]);
        assert!(origin_ok(&proxied, &allowed, Credential::Cookie, false));
        let foreign = headers(&[
            ("host", "127.0.0.1:8420"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!origin_ok(&foreign, &allowed, Credential::Cookie, false));
        assert!(!origin_ok(&foreign, &allowed, Credential::Token, true));
        let none = headers(&[("host", "127.0.0.1:8420")]);
        assert!(!origin_ok(&none, &allowed, Credential::Cookie, false));
        assert!(origin_ok(&none, &allowed, Credential::Token, false));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie("id", 60, false);
        assert_eq!(
            c,
            "oqto_session=id; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        assert!(set_cookie("id", 60, true).ends_with("; Secure"));
    }
}
