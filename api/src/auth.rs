//! Accounts, passwords and sessions: registration, login (bearer token and HttpOnly
//! cookie), logout, and the `CurrentUser` extractor with its role checks.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

pub use domain::account::{check_password, normalize_email, Role};

use crate::error::{ApiError, FieldError};
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
        }
    }

    pub fn staff_member(&self) -> domain::request::StaffMember {
        domain::request::StaffMember {
            account_id: self.account_id.to_string(),
            name: self.full_name.clone(),
        }
    }
}

/// The user if a session is presented; `None` for a visitor. A presented but invalid or
/// expired session is refused (401) rather than treated as anonymous.
pub struct MaybeUser(pub Option<CurrentUser>);

fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session token from `Authorization: Bearer …` or the session cookie. The scheme is
/// case-insensitive (RFC 9110 §11.1). Another scheme (say, Basic auth of a proxy in front)
/// is not ours: the cookie decides.
fn presented_token(headers: &HeaderMap) -> Option<String> {
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
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    email: String,
    full_name: String,
    role: String,
    last_transaction_id: Option<i64>,
    last_position: Option<i64>,
}

async fn load_user(pool: &PgPool, token: &str) -> Result<Option<CurrentUser>, ApiError> {
    let hash = token_sha256(token);
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT a.id, a.email, a.full_name, a.role, s.last_transaction_id, s.last_position \
         FROM sessions s JOIN accounts a ON a.id = s.account_id \
         WHERE s.token_sha256 = $1 AND s.revoked_at IS NULL AND s.expires_at > now()",
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| CurrentUser {
        account_id: r.id,
        email: r.email,
        full_name: r.full_name,
        role: Role::parse(&r.role).unwrap_or(Role::Citizen),
        session: hash,
        last_position: r.last_transaction_id.zip(r.last_position).map(
            |(transaction_id, global_position)| eventlog::Position {
                transaction_id,
                global_position,
            },
        ),
    }))
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match presented_token(&parts.headers) {
            None => Ok(Self(None)),
            Some(token) => match load_user(&state.pool, &token).await? {
                Some(user) => Ok(Self(Some(user))),
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

/// Records that this session wrote up to `position`, so its next reads wait for it. Two
/// concurrent commands of one session never move the position backwards.
pub async fn record_write(
    pool: &PgPool,
    user: &CurrentUser,
    position: eventlog::Position,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE sessions SET last_transaction_id = $2, last_position = $3 \
         WHERE token_sha256 = $1 \
           AND (last_transaction_id IS NULL OR (last_transaction_id, last_position) < ($2, $3))",
    )
    .bind(&user.session)
    .bind(position.transaction_id)
    .bind(position.global_position)
    .execute(pool)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Passwords.
// ---------------------------------------------------------------------------------------

/// Hashes with argon2id (on a blocking thread: it is meant to be slow).
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hashing task failed: {e}")))?
}

/// Verifies against a stored hash; with no account, verifies against a throw-away hash so
/// that the answer takes as long whether the e-mail exists or not.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let exists = stored.is_some();
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
                    Argon2::default()
                        .hash_password(b"no account has this password", &salt)
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .clone()
        });
        let ok = PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && exists
    })
    .await
    .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------
// E-mail and sessions.
// ---------------------------------------------------------------------------------------

/// Opens a session: a random token (returned once, stored only as its SHA-256).
pub async fn open_session(
    pool: &PgPool,
    account_id: Uuid,
    lifetime: chrono::Duration,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let expires_at = Utc::now() + lifetime;
    sqlx::query("INSERT INTO sessions (token_sha256, account_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_sha256(&token))
        .bind(account_id)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok((token, expires_at))
}

pub async fn revoke_session(pool: &PgPool, session: &str) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(session)
    .execute(pool)
    .await?;
    Ok(())
}

/// The `Set-Cookie` value for a new session (or, with `None`, one that clears it).
pub fn session_cookie(token: Option<&str>, lifetime: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(token) => format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            lifetime.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// A new account. `Err(None)` for a taken e-mail (the unique key said so).
pub async fn insert_account(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    full_name: &str,
    role: Role,
) -> Result<Uuid, ApiError> {
    let id = Uuid::new_v4();
    let result = sqlx::query(
        "INSERT INTO accounts (id, email, email_normalized, password_hash, full_name, role) \
         VALUES ($1, $2, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(email)
    .bind(password_hash)
    .bind(full_name)
    .bind(role.as_str())
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => Err(
            ApiError::Validation(vec![FieldError::new("email", "email_taken")]),
        ),
        Err(e) => Err(e.into()),
    }
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
