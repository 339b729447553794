//! Registration, login/logout and the user's profile (S2): the JSON face of
//! `commands::accounts`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use commands::accounts::{self, Profile, ProfileDetails};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, CurrentUser};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::http::ClientDevice;
use crate::AppState;

/// Unknown fields are refused (400 `unknown_field`). A missing or `null` field counts as
/// empty and is reported by the 422 answer, not as a 400.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Trimmed, NFC and lower-cased; one `@`, a dotted domain, no spaces or invisible
    /// characters. An address that has an account answers the same as a new one.
    #[schema(required, value_type = String, max_length = 254, examples("maria@example.gr"))]
    pub email: Option<String>,
    /// 10–128 characters, at least 4 different characters, not a common password, not
    /// containing the e-mail's local part (when that is 4+ characters). Stored as an argon2id
    /// hash.
    #[schema(required, value_type = String, min_length = 10, max_length = 128)]
    pub password: Option<String>,
    /// One line, trimmed, 1–100 characters.
    #[schema(required, value_type = String, max_length = 100)]
    pub full_name: Option<String>,
}

/// The answer to a registration: the same whether or not the address had an account.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    /// As it is stored (trimmed, NFC, lower case).
    email: String,
    #[schema(inline)]
    status: RegistrationStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum RegistrationStatus {
    ActivationSent,
}

/// `POST /api/v1/accounts`: a new citizen account.
#[utoipa::path(
    post,
    path = "/api/v1/accounts",
    operation_id = "register",
    tag = "accounts",
    summary = "Register a citizen account",
    description = "The same answer whether or not the address has an account: a new address gets an account with the role `citizen` and an e-mail with an activation link (48 hours, once); an address whose account is not activated yet gets a new link; an address with an active account gets an e-mail saying someone tried to register with it. Does not log in; a login before activation answers 401 `invalid_credentials`. Staff accounts are created with `portal staff add`. Any session presented is ignored.",
    security(()),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = RegisterBody, example = json!({"email": "maria@example.gr", "password": "Κωδικός-Ασφαλής-7", "full_name": "Μαρία Παπαδοπούλου"})),
    responses(
        (status = 202, description = "Registered, or the address already had an account: the answer does not say which.", body = Registered, example = json!({"email": "maria@example.gr", "status": "activation_sent"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`email`: `email_invalid`; `password`: `password_too_short`, `password_too_long`, `password_too_common`, `password_contains_email`; `full_name`: `full_name_required`, `full_name_too_long`, `full_name_control_chars`).", body = crate::error::ErrorBody),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
        Json(Registered {
            email,
            status: RegistrationStatus::ActivationSent,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationBody {
    pub token: Option<String>,
}

/// `POST /api/v1/accounts/activation`: activates an account through the token of its
/// e-mailed link.
#[utoipa::path(
    post,
    path = "/api/v1/accounts/activation",
    operation_id = "activateAccount",
    tag = "accounts",
    summary = "Activate an account through its e-mailed link",
    description = "The token is the last part of the link `/activate/{token}`. Used once.",
    security(()),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = ActivationBody),
    responses(
        (status = 204, description = "Activated: the account may log in."),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed`: `token` / `activation_link_invalid` (expired, used or unknown).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn activate(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ActivationBody>,
) -> Result<StatusCode, ApiError> {
    accounts::activate_account(&state, body.token.as_deref().unwrap_or("")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The e-mail is compared trimmed and lower-cased. A missing field counts as empty (and so
/// answers 401 `invalid_credentials`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(required, value_type = String)]
    pub email: Option<String>,
    #[schema(required, value_type = String)]
    pub password: Option<String>,
}

/// An opened session.
#[derive(Serialize, ToSchema)]
pub struct Session {
    /// Use as `Authorization: Bearer <token>`. 43 URL-safe base64 characters; only its
    /// SHA-256 is stored.
    token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
    role: domain::account::Role,
    account_id: uuid::Uuid,
}

/// `POST /api/v1/session`: log in; answers the bearer token and sets the session cookie.
#[utoipa::path(
    post,
    path = "/api/v1/session",
    operation_id = "login",
    tag = "accounts",
    summary = "Log in",
    description = "Answers a bearer token and sets the HttpOnly session cookie `portal_session`; either authenticates later requests. Sessions last PORTAL_SESSION_HOURS (default 12). A wrong e-mail and a wrong password answer the same, in the same time.",
    security(()),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = LoginBody, example = json!({"email": "maria@example.gr", "password": "Κωδικός-Ασφαλής-7"})),
    responses(
        (status = 201, description = "Logged in.", body = Session, headers(("Set-Cookie" = String, description = "`portal_session=<token>; Path=/; HttpOnly; SameSite=Lax; Max-Age=<session lifetime in seconds>` (plus `; Secure` when PORTAL_SECURE_COOKIES is set). Logout sends the same cookie empty with `Max-Age=0`.")), example = json!({"token": "atmLwT5-0FS3wVag_7igJag6AkpkobMTmQw-tgLfVfc", "expires_at": "2026-11-27T11:50:05.526521118Z", "role": "citizen", "account_id": "ed0e2fbc-3e1f-49f6-964f-3dc682a5edc8"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, description = "Wrong e-mail or password. Codes: `invalid_credentials`.", body = crate::error::ErrorBody, examples(("invalid_credentials" = (value = json!({"error": {"code": "invalid_credentials", "message": "Λάθος email ή κωδικός.", "fields": []}}))))),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, description = "`rate_limited` (too many attempts from this address) or `login_throttled` (5 failed logins in a row for this e-mail from this address: wait `Retry-After` seconds, doubling up to 15 minutes; other addresses are not held back).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
        Json(Session {
            token: session.token,
            expires_at: session.expires_at,
            role: session.role,
            account_id: session.account_id,
        }),
    ))
}

/// `DELETE /api/v1/session`: log out (revokes the session, clears the cookie).
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    operation_id = "logout",
    tag = "accounts",
    summary = "Log out",
    description = "Revokes the session presented and clears the cookie. The same token answers 401 afterwards.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 204, description = "Logged out.", headers(("Set-Cookie" = String, description = "`portal_session=<token>; Path=/; HttpOnly; SameSite=Lax; Max-Age=<session lifetime in seconds>` (plus `; Secure` when PORTAL_SECURE_COOKIES is set). Logout sends the same cookie empty with `Max-Age=0`."))),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`forbidden` (the role may not), or `cross_site_request` (sent with the session cookie from another site).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<impl IntoResponse, ApiError> {
    accounts::log_out(&state, &user.session).await?;
    let cookie = auth::session_cookie(None, std::time::Duration::ZERO, state.config.https());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]))
}

/// `GET /api/v1/me`.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "getProfile",
    tag = "accounts",
    summary = "The logged-in user's profile",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The profile.", body = Profile),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn me(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(accounts::profile(&state, user.account_id).await?))
}

/// Replaces the profile details as a whole: an optional field that is absent, `null` or
/// empty is cleared. The e-mail cannot be changed here.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// Required; one line.
    #[schema(required, value_type = String, max_length = 100)]
    pub full_name: Option<String>,
    /// Πατρώνυμο; one line.
    #[schema(max_length = 100)]
    pub father_name: Option<String>,
    /// One line.
    #[schema(max_length = 200)]
    pub address: Option<String>,
    /// 10 to 15 digits with an optional leading `+`; spaces, dots, dashes and parentheses
    /// are dropped (`+30 691-234 5678` is stored as `+306912345678`).
    #[schema(examples("+30 6912345678"))]
    pub phone: Option<String>,
}

/// `PUT /api/v1/me`: replaces the profile details (the e-mail stays as registered).
#[utoipa::path(
    put,
    path = "/api/v1/me",
    operation_id = "putProfile",
    tag = "accounts",
    summary = "Replace the profile details",
    description = "Full name, father's name, address, phone. The e-mail stays as registered.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = ProfileBody, example = json!({"full_name": "Μαρία Παπαδοπούλου", "father_name": "Γεώργιος", "address": "Ερμού 10, Αθήνα", "phone": "+30 691 234 5678"})),
    responses(
        (status = 200, description = "The updated profile.", body = Profile),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`forbidden` (the role may not), or `cross_site_request` (sent with the session cookie from another site).", body = crate::error::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`full_name`: `full_name_required`, `full_name_too_long`, `full_name_control_chars`; `father_name`: `father_name_too_long`, `father_name_control_chars`; `address`: `address_too_long`, `address_control_chars`; `phone`: `phone_invalid`).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
}

/// `PUT /api/v1/me/password`: changes the password (the current one is required); every
/// other session of the account ends and the account's address is told by e-mail.
#[utoipa::path(
    put,
    path = "/api/v1/me/password",
    operation_id = "changePassword",
    tag = "accounts",
    summary = "Change the password",
    description = "The current password is required. Every other session of the account ends; this one stays. The account's address is told by e-mail.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = PasswordBody, example = json!({"current_password": "Κωδικός-Δοκιμής-42", "new_password": "Καινούριος-Κωδικός-2027"})),
    responses(
        (status = 200, description = "Changed; how many other sessions ended.", body = SessionsEnded),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`cross_site_request`: sent with the session cookie from another site.", body = crate::error::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed`: `current_password`: `current_password_wrong`; `new_password`: the password rules' codes (`password_too_short`, …) or `new_password_unchanged`.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Json<SessionsEnded>, ApiError> {
    let ended = accounts::change_password(
        &state,
        &user.actor(),
        body.current_password.as_deref().unwrap_or(""),
        body.new_password.as_deref().unwrap_or(""),
    )
    .await?;
    Ok(Json(SessionsEnded {
        sessions_ended: ended,
    }))
}

/// How many sessions a change ended.
#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    #[schema(minimum = 0)]
    sessions_ended: u64,
}

/// The account's sessions.
#[derive(Serialize, ToSchema)]
pub struct Sessions {
    sessions: Vec<accounts::SessionInfo>,
}

/// `GET /api/v1/me/sessions`: the account's sessions that still stand.
#[utoipa::path(
    get,
    path = "/api/v1/me/sessions",
    operation_id = "listSessions",
    tag = "accounts",
    summary = "The account's sessions that still stand",
    description = "Not revoked, within their lifetime and used within the inactivity limit (`PORTAL_SESSION_IDLE_MINUTES`); the current one first, then by last use.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The sessions.", body = Sessions),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn sessions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Sessions>, ApiError> {
    let sessions = accounts::sessions(&state, &user.actor()).await?;
    Ok(Json(Sessions { sessions }))
}

/// `DELETE /api/v1/me/sessions`: ends every session of the account but this one.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions",
    operation_id = "endOtherSessions",
    tag = "accounts",
    summary = "End every other session",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "How many sessions ended.", body = SessionsEnded),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`cross_site_request`: sent with the session cookie from another site.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn end_other_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<SessionsEnded>, ApiError> {
    let ended = accounts::end_other_sessions(&state, &user.actor()).await?;
    Ok(Json(SessionsEnded {
        sessions_ended: ended,
    }))
}

/// `DELETE /api/v1/me/sessions/{id}`: ends one of the account's sessions.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions/{id}",
    operation_id = "endSession",
    tag = "accounts",
    summary = "End one of the account's sessions",
    description = "Ending the current one is logging out.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId, ("id" = String, Path)),
    responses(
        (status = 204, description = "Ended."),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`cross_site_request`: sent with the session cookie from another site.", body = crate::error::ErrorBody),
        (status = 404, description = "`session_not_found`: no such session of this account (someone else's, already ended, or not an id).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    pub email: Option<String>,
}

/// `POST /api/v1/password-reset`: e-mails a reset link when the address has an account;
/// the answer is 202 either way (a malformed address: 422).
#[utoipa::path(
    post,
    path = "/api/v1/password-reset",
    operation_id = "requestPasswordReset",
    tag = "accounts",
    summary = "E-mail a password reset link",
    description = "The answer is 202 whether or not the address has an account. When it has one (not disabled), a link valid for 30 minutes and once is e-mailed to it; while the last link is younger than a minute no new one is sent. Limited per client address like logins.",
    security(),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = ResetRequestBody, example = json!({"email": "maria@example.gr"})),
    responses(
        (status = 202, description = "Sent if the address has an account."),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed`: `email` / `email_invalid`.", body = crate::error::ErrorBody),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn request_password_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> Result<StatusCode, ApiError> {
    accounts::request_password_reset(&state, body.email.as_deref().unwrap_or("")).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    pub new_password: Option<String>,
}

/// `POST /api/v1/password-reset/{token}`: sets a new password through a reset link (used
/// once; every session of the account ends).
#[utoipa::path(
    post,
    path = "/api/v1/password-reset/{token}",
    operation_id = "resetPassword",
    tag = "accounts",
    summary = "Set a new password through a reset link",
    description = "The token is the last part of the e-mailed link. Used once: every link of the account stops working, every session ends, and the owner is told by e-mail.",
    security(),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId, ("token" = String, Path)),
    request_body(content = ResetBody, example = json!({"new_password": "Καινούριος-Κωδικός-2027"})),
    responses(
        (status = 204, description = "The new password is set."),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed`: `token` / `reset_link_invalid` (expired, used, or no such link); `new_password` / the password rules' codes.", body = crate::error::ErrorBody),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    accounts::reset_password(&state, &token, body.new_password.as_deref().unwrap_or("")).await?;
    Ok(StatusCode::NO_CONTENT)
}
