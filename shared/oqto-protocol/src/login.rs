//! The relay's password login over HTTP, `POST /login` (the web UI's login form uses it).
//!
//! The body is a [`LoginRequest`], as JSON (`Content-Type: application/json`) or as a form
//! (`application/x-www-form-urlencoded`, fields `name` and `password`). A JSON request that
//! succeeds is answered `200` with a [`LoginOk`], a form `303 See Other` to `/`; both set
//! the session cookie. Every failure is a [`LoginError`] with the HTTP status its
//! [`LoginErrorCode`] names; `rate_limited` also sets `Retry-After`.

use serde::{Deserialize, Serialize};

/// Name and password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A JSON login that worked: the cookie is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LoginOk {
    /// The user now logged in.
    pub user: String,
}

/// Why a login failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LoginErrorCode {
    /// 400: the body is not a login request.
    BadRequest,
    /// 401: wrong name or password (which of the two is never said).
    InvalidCredentials,
    /// 403: no password is set, so password login is off.
    PasswordLoginOff,
    /// 403: a page of a foreign origin posted the login.
    ForeignOrigin,
    /// 429: too many attempts from this address or for this name; see `retry_after`.
    RateLimited,
    /// 500: the relay failed (its log says why).
    Internal,
}

impl LoginErrorCode {
    /// The HTTP status it is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::InvalidCredentials => 401,
            Self::PasswordLoginOff | Self::ForeignOrigin => 403,
            Self::RateLimited => 429,
            Self::Internal => 500,
        }
    }
}

/// A failed login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LoginError {
    pub error: LoginErrorCode,
    pub message: String,
    /// With `rate_limited`: seconds until the next attempt may be made (as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub retry_after: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_not_in_debug_output() {
        let request = LoginRequest {
            name: "alice".into(),
            password: "hunter22".into(),
        };
        assert!(!format!("{request:?}").contains("hunter22"));
    }

    #[test]
    fn errors_read_as_documented() {
        let e: LoginError = serde_json::from_str(
            r#"{"error":"rate_limited","message":"too many login attempts","retry_after":6}"#,
        )
        .unwrap();
        assert_eq!(e.error.status(), 429);
        assert_eq!(e.retry_after, Some(6));
    }
}
