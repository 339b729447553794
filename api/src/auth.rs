//! Who makes a request: the session token (bearer or HttpOnly cookie), the `CurrentUser`
//! extractor with its role checks, and the session cookie. The accounts and sessions
//! themselves are `commands::accounts`.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use uuid::Uuid;

pub use domain::account::Role;

use crate::error::ApiError;
use crate::AppState;

pub const SESSION_COOKIE: &str = "portal_session";

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub account_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    /// The SHA-256 of the session token, to revoke it or record positions on it.
    pub session: String,
    /// The position of the last event this session wrote (see read-your-writes).
    pub last_position: Option<eventlog::Position>,
}

impl CurrentUser {
    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The user as the use cases know them.
    pub fn actor(&self) -> commands::Actor {
        commands::Actor {
            account_id: self.account_id,
            email: self.email.clone(),
            full_name: self.full_name.clone(),
            role: self.role,
            session: Some(self.session.clone()),
        }
    }
}

/// The user if a session is presented; `None` for a visitor. A presented but invalid or
/// expired session is refused (401) rather than treated as anonymous.
pub struct MaybeUser(pub Option<CurrentUser>);

/// The session token from `Authorization: Bearer …` or the session cookie. The scheme is
/// case-insensitive (RFC 9110 §11.1). Another scheme (say, Basic auth of a proxy in front)
/// is not ours: the cookie decides.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(token.trim().to_string());
        }
    }
    cookie_value(headers, SESSION_COOKIE)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    crate::cookies::value(headers, name)
}

impl From<commands::accounts::Session> for CurrentUser {
    fn from(s: commands::accounts::Session) -> Self {
        Self {
            account_id: s.account_id,
            email: s.email,
            full_name: s.full_name,
            role: s.role,
            session: s.session,
            last_position: s.last_position,
        }
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match presented_token(&parts.headers) {
            None => Ok(Self(None)),
            Some(token) => match commands::accounts::session(state, &token).await? {
                Some(session) => Ok(Self(Some(session.into()))),
                None => Err(ApiError::Unauthenticated),
            },
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        MaybeUser::from_request_parts(parts, state)
            .await?
            .0
            .ok_or(ApiError::Unauthenticated)
    }
}

// ---------------------------------------------------------------------------------------
// The session cookie.
// ---------------------------------------------------------------------------------------

/// The `Set-Cookie` value that carries a session just opened to a browser.
pub fn opened_session_cookie(
    state: &AppState,
    session: &commands::accounts::OpenedSession,
) -> String {
    let lifetime = state
        .settings
        .session_lifetime
        .to_std()
        .unwrap_or(Duration::from_secs(3600));
    session_cookie(Some(&session.token), lifetime, state.config.https())
}

/// The `Set-Cookie` value for a new session (or, with `None`, one that clears it).
pub fn session_cookie(token: Option<&str>, lifetime: Duration, secure: bool) -> String {
    let (value, max_age) = match token {
        Some(token) => (token.to_string(), lifetime),
        None => (String::new(), Duration::ZERO),
    };
    crate::cookies::set(
        SESSION_COOKIE,
        value,
        crate::cookies::Spec {
            http_only: true,
            same_site: axum_extra::extract::cookie::SameSite::Lax,
            max_age: Some(max_age),
            secure,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "lang=el; portal_session=abc123".parse().unwrap(),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("abc123"));
        h.insert(header::AUTHORIZATION, "Bearer xyz".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("xyz"));
        h.insert(header::AUTHORIZATION, "bearer  xyz ".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("xyz"));
        h.insert(header::AUTHORIZATION, "Bearer".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some(""));
        h.insert(header::AUTHORIZATION, "Basic Zm9vOmJhcg==".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("abc123"));
    }
}
