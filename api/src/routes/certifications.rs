//! Certification of users by a clerk after an in-person identity check (S6), and the
//! user's view of their own certification: the JSON face of `commands::certification`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use commands::certification::{self, CertifyForm};
use domain::account::STAFF;
use projections::certifications as read;
use serde::Deserialize;
use serde_json::json;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{position_header, wait_for_own_writes, RequestContext};
use crate::i18n::{self, Lang};
use crate::labels::labelled_certification;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    email: Option<String>,
}

/// `GET /api/v1/staff/certifications?email=`: the account and its certification.
pub async fn lookup(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LookupQuery>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::APPLICATION_READS,
    )
    .await?;
    let account = certification::find_account(&state, query.email.as_deref().unwrap_or("")).await?;
    let certification = read::get(&state.pool, &account.id.to_string()).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(json!({
        "account": account,
        "certification": certification.as_ref().map(|c| labelled_certification(c, lang)),
    })))
}

/// The clerk's certification form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifyBody {
    pub email: Option<String>,
    pub document: Option<String>,
    pub document_number: Option<String>,
    /// For a business: both, or neither.
    pub company_name: Option<String>,
    pub afm: Option<String>,
}

/// `POST /api/v1/staff/certifications`.
pub async fn certify(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    ApiJson(body): ApiJson<CertifyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let form = CertifyForm {
        email: body.email,
        document: body.document,
        document_number: body.document_number,
        company_name: body.company_name,
        afm: body.afm,
    };
    let (account, executed) =
        certification::certify(&state, &user.actor(), context.metadata(Some(&user)), form).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        position_header(executed.position),
        Json(json!({
            "account_id": account.id,
            "certified": true,
            "position": executed.position.to_string(),
        })),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    pub email: Option<String>,
    pub reason: Option<String>,
}

/// `POST /api/v1/staff/certifications/revoke` (`{"email", "reason"}`).
pub async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (account, executed) = certification::revoke(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        body.email.as_deref().unwrap_or(""),
        body.reason.as_deref().unwrap_or(""),
    )
    .await?;
    Ok((
        position_header(executed.position),
        Json(json!({
            "account_id": account.id,
            "certified": false,
            "position": executed.position.to_string(),
        })),
    ))
}

/// `GET /api/v1/my/certification`: whether the user is certified, and how.
pub async fn mine(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::APPLICATION_READS,
    )
    .await?;
    let row = read::get(&state.pool, &user.account_id.to_string()).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(json!({
        "certified": row.as_ref().is_some_and(|r| r.certified),
        "certification": row.as_ref().map(|c| labelled_certification(c, lang)),
        "how_to_get_certified": i18n::message(lang, "certification_required"),
    })))
}

/// `GET /api/v1/certificates/types`: the civil-registry certificates offered online and the
/// ΤΑΠ certificate, with their deadlines (public).
pub async fn types(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let lang = Lang::from_headers(&headers);
    let m = &state.config.municipality;
    let name = |el: &str, en: &str| {
        if lang == Lang::En {
            en.to_string()
        } else {
            el.to_string()
        }
    };
    Json(json!({
        "civil_registry": m.civil_registry.iter().map(|t| json!({
            "code": t.code,
            "name": name(&t.name_el, &t.name_en),
            "deadline_days": t.deadline_days,
        })).collect::<Vec<_>>(),
        "tap": {
            "name": name(&m.tap.name_el, &m.tap.name_en),
            "deadline_days": m.tap.deadline_days,
        },
    }))
}
