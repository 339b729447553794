//! Registration, login/logout and the user's profile (S2).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{self, CurrentUser, Role};
use crate::error::{ApiError, FieldError};
use crate::extract::ApiJson;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub email: Option<String>,
    pub password: Option<String>,
    pub full_name: Option<String>,
}

/// One line of profile text (name, father's name, address): trimmed, bounded.
fn profile_line(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    let value = raw.trim();
    let code = |suffix: &str| FieldError::new(field, &format!("{field}_{suffix}"));
    if value.is_empty() {
        return Err(code("required"));
    }
    if value.chars().count() > max {
        return Err(code("too_long"));
    }
    if value.chars().any(char::is_control) {
        return Err(code("control_chars"));
    }
    Ok(value.to_string())
}

/// 10 to 15 digits, with an optional leading `+`; spaces, dots and dashes are dropped.
fn normalize_phone(raw: &str) -> Result<String, FieldError> {
    let compact: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if (10..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(compact)
    } else {
        Err(FieldError::new("phone", "phone_invalid"))
    }
}

/// `POST /api/v1/accounts`: a new citizen account.
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (id, email, full_name) = create_citizen(&state, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "email": email, "full_name": full_name, "role": "citizen"})),
    ))
}

/// Validates and creates a citizen account (the API and the pages): its id, normalised
/// e-mail and name.
pub async fn create_citizen(
    state: &AppState,
    body: RegisterBody,
) -> Result<(Uuid, String, String), ApiError> {
    let mut errors = Vec::new();
    let email = match auth::normalize_email(body.email.as_deref().unwrap_or("")) {
        Ok(e) => Some(e),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let password = body.password.unwrap_or_default();
    if let Some(code) = auth::check_password(&password, email.as_deref().unwrap_or("")) {
        errors.push(FieldError::new("password", code));
    }
    let full_name = match profile_line("full_name", body.full_name.as_deref().unwrap_or(""), 100) {
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let (Some(email), Some(full_name)) = (email, full_name) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let hash = auth::hash_password(password).await?;
    let id = auth::insert_account(&state.pool, &email, &hash, &full_name, Role::Citizen).await?;
    Ok((id, email, full_name))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: Option<String>,
    pub password: Option<String>,
}

/// `POST /api/v1/session`: log in; answers the bearer token and sets the session cookie.
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<impl IntoResponse, ApiError> {
    let session = log_in(&state, body).await?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, session.cookie)],
        Json(json!({
            "token": session.token,
            "expires_at": session.expires_at,
            "role": session.role,
            "account_id": session.account_id,
        })),
    ))
}

/// A session just opened.
pub struct OpenedSession {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub role: String,
    pub account_id: Uuid,
    /// The `Set-Cookie` value that carries it to a browser.
    pub cookie: String,
}

/// Checks the credentials and opens a session (the API and the pages).
pub async fn log_in(state: &AppState, body: LoginBody) -> Result<OpenedSession, ApiError> {
    // Every account was registered with a valid e-mail: one that is not (say, with a NUL
    // byte, which PostgreSQL text cannot hold) has no account, and fails like a wrong one.
    let email = auth::normalize_email(body.email.as_deref().unwrap_or("")).ok();
    let password = body.password.unwrap_or_default();
    let row: Option<(Uuid, String, String)> = match &email {
        Some(email) => {
            sqlx::query_as(
                "SELECT id, password_hash, role FROM accounts WHERE email_normalized = $1",
            )
            .bind(email)
            .fetch_optional(&state.pool)
            .await?
        }
        None => None,
    };
    let stored = row.as_ref().map(|(_, hash, _)| hash.clone());
    if !auth::verify_password(password, stored).await {
        return Err(ApiError::InvalidCredentials);
    }
    let (account_id, _, role) = row.expect("verified passwords have an account");
    let (token, expires_at) =
        auth::open_session(&state.pool, account_id, state.config.session_lifetime).await?;
    let lifetime = state
        .config
        .session_lifetime
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(3600));
    let cookie = auth::session_cookie(Some(&token), lifetime, state.config.secure_cookies);
    Ok(OpenedSession {
        token,
        expires_at,
        role,
        account_id,
        cookie,
    })
}

/// `DELETE /api/v1/session`: log out (revokes the session, clears the cookie).
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<impl IntoResponse, ApiError> {
    auth::revoke_session(&state.pool, &user.session).await?;
    let cookie = auth::session_cookie(None, std::time::Duration::ZERO, state.config.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]))
}

#[derive(Serialize, sqlx::FromRow)]
pub struct Profile {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub father_name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn load_profile(state: &AppState, id: Uuid) -> Result<Profile, ApiError> {
    Ok(sqlx::query_as(
        "SELECT id, email, full_name, father_name, address, phone, role, created_at, updated_at \
         FROM accounts WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&state.pool)
    .await?)
}

/// `GET /api/v1/me`.
pub async fn me(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(load_profile(&state, user.account_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    pub full_name: Option<String>,
    pub father_name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
}

/// An optional profile field: absent or empty clears it, otherwise it must be valid.
fn optional(
    raw: Option<String>,
    parse: impl Fn(&str) -> Result<String, FieldError>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let raw = raw.filter(|v| !v.trim().is_empty())?;
    match parse(&raw) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// `PUT /api/v1/me`: replaces the profile details (the e-mail stays as registered).
pub async fn update_me(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<ProfileBody>,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(save_profile(&state, &user, body).await?))
}

/// Validates and replaces the profile details (the API and the pages).
pub async fn save_profile(
    state: &AppState,
    user: &CurrentUser,
    body: ProfileBody,
) -> Result<Profile, ApiError> {
    let mut errors = Vec::new();
    let full_name = match profile_line("full_name", body.full_name.as_deref().unwrap_or(""), 100) {
        Ok(n) => n,
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };
    let father_name = optional(
        body.father_name,
        |v| profile_line("father_name", v, 100),
        &mut errors,
    );
    let address = optional(
        body.address,
        |v| profile_line("address", v, 200),
        &mut errors,
    );
    let phone = optional(body.phone, normalize_phone, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    sqlx::query(
        "UPDATE accounts SET full_name = $2, father_name = $3, address = $4, phone = $5, \
         updated_at = now() WHERE id = $1",
    )
    .bind(user.account_id)
    .bind(&full_name)
    .bind(&father_name)
    .bind(&address)
    .bind(&phone)
    .execute(&state.pool)
    .await?;
    load_profile(state, user.account_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_digits_and_a_leading_plus() {
        assert_eq!(
            normalize_phone("+30 691-234 5678").unwrap(),
            "+306912345678"
        );
        assert_eq!(normalize_phone("210 1234567").unwrap(), "2101234567");
        assert!(normalize_phone("12345").is_err());
        assert!(normalize_phone("21012345ab").is_err());
    }
}
