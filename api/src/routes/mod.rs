//! The JSON API under `/api/v1` and the health check (contract: `docs/openapi.json`).

pub(crate) mod accounts;
pub(crate) mod applications;
pub(crate) mod audit;
mod business;
pub(crate) mod certifications;
pub(crate) mod fines;
mod health;
pub(crate) mod payments;
pub(crate) mod requests;
pub(crate) mod staff;
pub(crate) mod tax_debts;
pub(crate) mod tax_declarations;
pub(crate) mod warrants;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use eventlog::Position;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::i18n::{self, Lang};
use crate::AppState;

/// The header a command's answer carries its position in, and a read may send back.
pub const POSITION_HEADER: &str = "x-portal-position";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api/v1/openapi.json", get(health::openapi))
        .route("/api/v1/accounts", post(accounts::register))
        .route(
            "/api/v1/session",
            post(accounts::login).delete(accounts::logout),
        )
        .route("/api/v1/me", get(accounts::me).put(accounts::update_me))
        .route("/api/v1/requests", post(requests::submit))
        .route("/api/v1/requests/track/{code}", get(requests::track))
        .route("/api/v1/my/requests", get(requests::my_list))
        .route("/api/v1/my/requests/{id}", get(requests::my_detail))
        .route("/api/v1/my/requests/{id}/reopen", post(requests::reopen))
        .route("/api/v1/staff/requests", get(staff::queue))
        .route("/api/v1/staff/requests/{id}", get(staff::detail))
        .route("/api/v1/staff/requests/{id}/review", post(staff::review))
        .route("/api/v1/staff/requests/{id}/answer", post(staff::answer))
        .route(
            "/api/v1/staff/requests/{id}/status",
            post(staff::change_status),
        )
        .route(
            "/api/v1/staff/requests/{id}/protocol",
            post(staff::protocol),
        )
        .route("/api/v1/staff/requests/{id}/close", post(staff::close))
        .route("/api/v1/fines/types", get(fines::types))
        .route("/api/v1/fines/check", post(fines::check))
        .route("/api/v1/fines/quote", post(fines::quote))
        .route("/api/v1/fines/pay", post(fines::pay))
        .route("/api/v1/my/fines", get(fines::my_fines))
        .route("/api/v1/business/warrants", get(warrants::list))
        .route("/api/v1/business/debts", get(tax_debts::list))
        .route("/api/v1/business/debts/{debt_id}", get(tax_debts::detail))
        .route(
            "/api/v1/business/debts/{debt_id}/payments",
            post(tax_debts::pay),
        )
        .route("/api/v1/business/warrants.csv", get(warrants::csv))
        .route("/api/v1/certificates/types", get(certifications::types))
        .route("/api/v1/my/certification", get(certifications::mine))
        .route(
            "/api/v1/staff/certifications",
            get(certifications::lookup).post(certifications::certify),
        )
        .route(
            "/api/v1/staff/certifications/revoke",
            post(certifications::revoke),
        )
        .route("/api/v1/applications", post(applications::apply))
        .route("/api/v1/my/applications", get(applications::my_list))
        .route("/api/v1/my/applications/{id}", get(applications::my_detail))
        .route(
            "/api/v1/my/applications/{id}/reply",
            post(applications::reply),
        )
        .route(
            "/api/v1/my/applications/{id}/document",
            get(applications::my_document),
        )
        .route("/api/v1/staff/applications", get(applications::queue))
        .route(
            "/api/v1/staff/applications/{id}",
            get(applications::staff_detail),
        )
        .route(
            "/api/v1/staff/applications/{id}/document",
            get(applications::staff_document),
        )
        .route(
            "/api/v1/staff/applications/{id}/review",
            post(applications::review),
        )
        .route(
            "/api/v1/staff/applications/{id}/request-information",
            post(applications::request_information),
        )
        .route(
            "/api/v1/staff/applications/{id}/reject",
            post(applications::reject),
        )
        .route(
            "/api/v1/staff/applications/{id}/issue",
            // A certificate's PDF may be larger than the default 2 MB; the configured
            // limit (PORTAL_DOCUMENT_MAX_BYTES) is checked in the handler.
            post(applications::issue).layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024)),
        )
        .route(
            "/api/v1/staff/applications/{id}/protocol",
            post(applications::protocol),
        )
        .route(commands::payments::NOTIFY_PATH, post(payments::notify))
        .route("/api/v1/my/payments", get(payments::my_list))
        .route("/api/v1/my/payments/{id}", get(payments::my_detail))
        .route("/api/v1/business", get(business::me))
        .route("/api/v1/business/history", get(business::history))
        .route(
            "/api/v1/business/declarations",
            get(tax_declarations::list).post(tax_declarations::file),
        )
        .route(
            "/api/v1/business/declarations/assess",
            post(tax_declarations::assess),
        )
        .route(
            "/api/v1/business/declarations/{id}",
            get(tax_declarations::detail),
        )
        .route("/api/v1/audit/cases/{id}/events", get(audit::events))
        .route("/api/v1/audit/cases/{id}/state", get(audit::state))
        .route("/api/v1/audit/cases/{id}/verify", get(audit::verify))
}

/// Where a request came from, for event metadata.
pub struct RequestContext {
    pub correlation_id: String,
    pub client_ip: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let correlation_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Self {
            correlation_id,
            client_ip,
        })
    }
}

impl RequestContext {
    pub fn metadata(&self, user: Option<&CurrentUser>) -> commands::CommandMetadata {
        commands::CommandMetadata {
            actor_id: user.map_or("anonymous".to_string(), |u| u.account_id.to_string()),
            role: user.map_or("anonymous", |u| u.role.as_str()).to_string(),
            correlation_id: self.correlation_id.clone(),
            client_ip: self.client_ip.clone(),
        }
    }
}

/// Read-your-writes: waits (bounded by `PORTAL_READ_WAIT_MS`) until the request read
/// models have reached the reader's own latest write and any position the client sent.
pub async fn wait_for_own_writes(
    state: &AppState,
    user: Option<&CurrentUser>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let sent = match headers.get(POSITION_HEADER) {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<Position>().ok())
                .ok_or(ApiError::BadRequest {
                    code: "position_invalid",
                    detail: "expected <transaction id>.<global position>".into(),
                })?,
        ),
        None => None,
    };
    let target = sent.max(user.and_then(|u| u.last_position));
    if let Some(target) = target {
        let reached = state.portal.wait_for(target).await;
        if !reached {
            tracing::warn!(%target, "read models did not reach the reader's write in time");
        }
    }
    Ok(())
}

/// A case id from a path. Cases are named by UUIDs the portal hands out, so anything else
/// (including text PostgreSQL cannot hold, like a NUL byte) is a case that does not exist.
/// The `{id}` of a case route, already checked by [`case_id`].
pub struct CaseId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CaseId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound("case_not_found"))?;
        case_id(&raw).map(Self)
    }
}

pub fn case_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::NotFound("case_not_found"))
}

/// On a miss, the thing may exist but not be projected yet: wait until the read models
/// reach the head of the log as it is now, then look again.
pub async fn wait_for_log_head(state: &AppState) -> Result<(), ApiError> {
    Ok(state.portal.wait_for_log_head().await?)
}

/// A case (summary or detail) as JSON, with its labels in the reader's language.
pub fn labelled_case(case: &impl serde::Serialize, lang: Lang) -> serde_json::Value {
    let mut value = serde_json::to_value(case).unwrap_or_default();
    for (field, prefix) in [
        ("status", "status_"),
        ("kind", "kind_"),
        ("close_reason", "close_reason_"),
    ] {
        if let Some(raw) = value
            .get(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
        {
            value[format!("{field}_label")] = i18n::message(lang, &format!("{prefix}{raw}")).into();
        }
    }
    value
}

/// A case's timeline in plain words: each entry gets a `title` and a `status_label`.
pub fn labelled_timeline(
    entries: &[projections::requests::TimelineEntry],
    lang: Lang,
) -> Vec<serde_json::Value> {
    entries
        .iter()
        .map(|entry| {
            let mut value = labelled_case(entry, lang);
            value["title"] = i18n::message(lang, &format!("timeline_{}", entry.event_type)).into();
            value
        })
        .collect()
}

/// Adds the position header to a command's answer.
pub fn position_header(position: Position) -> [(HeaderName, HeaderValue); 1] {
    [(
        HeaderName::from_static(POSITION_HEADER),
        HeaderValue::from_str(&position.to_string()).expect("a position is ASCII"),
    )]
}
