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
    let account = accounts::register_citizen(
        &state,
        body.email.as_deref().unwrap_or(""),
        body.password.as_deref().unwrap_or(""),
        body.full_name.as_deref().unwrap_or(""),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": account.id,
            "email": account.email,
            "full_name": account.full_name,
            "role": "citizen",
        })),
    ))
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
    let session = accounts::log_in(
        &state,
        body.email.as_deref().unwrap_or(""),
        body.password.unwrap_or_default(),
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
