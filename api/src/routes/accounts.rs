//! Registration, login/logout and the user's profile (S2): the JSON face of
//! `commands::accounts`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use commands::accounts::{self, Profile, ProfileDetails};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, CurrentUser};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::http::ClientDevice;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub email: Option<String>,
    pub password: Option<String>,
    pub full_name: Option<String>,
}

/// `POST /api/v1/accounts`: a new citizen account.
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<impl IntoResponse, ApiError> {
    let email = accounts::register_citizen(
        &state,
        body.email.as_deref().unwrap_or(""),
        body.password.as_deref().unwrap_or(""),
        body.full_name.as_deref().unwrap_or(""),
    )
    .await?;
    // The same answer whether or not the address had an account.
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "email": email, "status": "activation_sent" })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationBody {
    pub token: Option<String>,
}

/// `POST /api/v1/accounts/activation`: activates an account through the token of its
/// e-mailed link.
pub async fn activate(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ActivationBody>,
) -> Result<StatusCode, ApiError> {
    accounts::activate_account(&state, body.token.as_deref().unwrap_or("")).await?;
    Ok(StatusCode::NO_CONTENT)
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
    ClientDevice(device): ClientDevice,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<impl IntoResponse, ApiError> {
    let session = accounts::log_in(
        &state,
        body.email.as_deref().unwrap_or(""),
        body.password.unwrap_or_default(),
        device,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::SET_COOKIE,
            auth::opened_session_cookie(&state, &session),
        )],
        Json(json!({
            "token": session.token,
            "expires_at": session.expires_at,
            "role": session.role.as_str(),
            "account_id": session.account_id,
        })),
    ))
}

/// `DELETE /api/v1/session`: log out (revokes the session, clears the cookie).
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<impl IntoResponse, ApiError> {
    accounts::log_out(&state, &user.session).await?;
    let cookie = auth::session_cookie(None, std::time::Duration::ZERO, state.config.https());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]))
}

/// `GET /api/v1/me`.
pub async fn me(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(accounts::profile(&state, user.account_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    pub full_name: Option<String>,
    pub father_name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
}

/// `PUT /api/v1/me`: replaces the profile details (the e-mail stays as registered).
pub async fn update_me(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<ProfileBody>,
) -> Result<Json<Profile>, ApiError> {
    let details = ProfileDetails {
        full_name: body.full_name,
        father_name: body.father_name,
        address: body.address,
        phone: body.phone,
    };
    Ok(Json(
        accounts::update_profile(&state, &user.actor(), details).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
}

/// `PUT /api/v1/me/password`: changes the password (the current one is required); every
/// other session of the account ends and the account's address is told by e-mail.
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ended = accounts::change_password(
        &state,
        &user.actor(),
        body.current_password.as_deref().unwrap_or(""),
        body.new_password.as_deref().unwrap_or(""),
    )
    .await?;
    Ok(Json(json!({ "sessions_ended": ended })))
}

/// `GET /api/v1/me/sessions`: the account's sessions that still stand.
pub async fn sessions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let sessions = accounts::sessions(&state, &user.actor()).await?;
    Ok(Json(json!({ "sessions": sessions })))
}

/// `DELETE /api/v1/me/sessions`: ends every session of the account but this one.
pub async fn end_other_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ended = accounts::end_other_sessions(&state, &user.actor()).await?;
    Ok(Json(json!({ "sessions_ended": ended })))
}

/// `DELETE /api/v1/me/sessions/{id}`: ends one of the account's sessions.
pub async fn end_session(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("session_not_found"))?;
    match accounts::end_session(&state, &user.actor(), id).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(accounts::AccountError::NotFound) => Err(ApiError::NotFound("session_not_found")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    pub email: Option<String>,
}

/// `POST /api/v1/password-reset`: e-mails a reset link when the address has an account;
/// the answer is 202 either way (a malformed address: 422).
pub async fn request_password_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> Result<StatusCode, ApiError> {
    accounts::request_password_reset(&state, body.email.as_deref().unwrap_or("")).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    pub new_password: Option<String>,
}

/// `POST /api/v1/password-reset/{token}`: sets a new password through a reset link (used
/// once; every session of the account ends).
pub async fn reset_password(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    accounts::reset_password(&state, &token, body.new_password.as_deref().unwrap_or("")).await?;
    Ok(StatusCode::NO_CONTENT)
}
