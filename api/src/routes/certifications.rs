//! Certification of users by a clerk after an in-person identity check (S6), and the
//! user's view of their own certification.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use domain::certification::{CertificationCommand, IdentityDocument};
use domain::values::{Afm, CompanyName, DocumentNumber, Note};
use projections::certifications as read;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::requests::field;
use super::staff::STAFF;
use super::{position_header, wait_for_own_writes, RequestContext};
use crate::auth::{self, CurrentUser, Role};
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiQuery};
use crate::i18n::{self, Lang};
use crate::AppState;

/// An account as a clerk finds it to certify it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AccountSummary {
    pub id: uuid::Uuid,
    pub email: String,
    pub full_name: String,
    pub father_name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub role: String,
}

/// The account with this e-mail (as typed: case and spaces do not matter).
pub async fn find_account(state: &AppState, email: &str) -> Result<AccountSummary, ApiError> {
    let normalized = auth::normalize_email(email).map_err(|e| ApiError::Validation(vec![e]))?;
    sqlx::query_as(
        "SELECT id, email, full_name, father_name, address, phone, role FROM accounts \
         WHERE email_normalized = $1",
    )
    .bind(normalized)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(ApiError::Validation(vec![FieldError::new(
        "email",
        "account_not_found",
    )]))
}

/// A certification as JSON with its labels.
pub fn labelled_certification(row: &read::CertificationRow, lang: Lang) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    value["document_label"] = i18n::message(lang, &format!("document_{}", row.document)).into();
    value
}

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
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    let account = find_account(&state, query.email.as_deref().unwrap_or("")).await?;
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

/// Certifies the account named by e-mail (API and pages).
pub async fn certify_account(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    body: CertifyBody,
) -> Result<(AccountSummary, commands::Executed), ApiError> {
    user.require(STAFF)?;
    let account = find_account(state, body.email.as_deref().unwrap_or("")).await?;
    if account.role != Role::Citizen.as_str() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "email",
            "staff_not_certifiable",
        )]));
    }
    let mut errors = Vec::new();
    let document = match body.document.as_deref().filter(|d| !d.is_empty()) {
        None => {
            errors.push(FieldError::new("document", "document_kind_invalid"));
            None
        }
        Some(raw) => field("document", IdentityDocument::parse(raw), &mut errors),
    };
    let number = field(
        "document_number",
        DocumentNumber::parse(body.document_number.as_deref().unwrap_or("")),
        &mut errors,
    );
    let company = body
        .company_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let afm = body.afm.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let business = match (company, afm) {
        (None, None) => Some(None),
        (Some(c), Some(a)) => {
            let c = field("company_name", CompanyName::parse(c), &mut errors);
            let a = field("afm", Afm::parse(a), &mut errors);
            c.zip(a).map(Some)
        }
        (None, Some(_)) => {
            errors.push(FieldError::new("company_name", "business_incomplete"));
            None
        }
        (Some(_), None) => {
            errors.push(FieldError::new("afm", "business_incomplete"));
            None
        }
    };
    let (Some(document), Some(number), Some(business)) = (document, number, business) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let executed = state
        .certifications
        .execute(
            &account.id.to_string(),
            CertificationCommand::Certify {
                account_id: account.id.to_string(),
                holder_name: account.full_name.clone(),
                document,
                document_number: number,
                business,
                clerk: user.staff_member(),
                at: Utc::now(),
            },
            context.metadata(Some(user)),
        )
        .await?;
    auth::record_write(&state.pool, user, executed.position).await?;
    Ok((account, executed))
}

/// `POST /api/v1/staff/certifications`.
pub async fn certify(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    ApiJson(body): ApiJson<CertifyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (account, executed) = certify_account(&state, &user, &context, body).await?;
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

/// Revokes the certification of the account named by e-mail (API and pages).
pub async fn revoke_certification(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    body: RevokeBody,
) -> Result<(AccountSummary, commands::Executed), ApiError> {
    user.require(STAFF)?;
    let account = find_account(state, body.email.as_deref().unwrap_or("")).await?;
    let reason = Note::parse(body.reason.as_deref().unwrap_or(""))
        .map_err(|r| ApiError::Validation(vec![ApiError::field("reason", &r)]))?;
    let executed = state
        .certifications
        .execute(
            &account.id.to_string(),
            CertificationCommand::Revoke {
                clerk: user.staff_member(),
                reason,
                at: Utc::now(),
            },
            context.metadata(Some(user)),
        )
        .await?;
    auth::record_write(&state.pool, user, executed.position).await?;
    Ok((account, executed))
}

/// `POST /api/v1/staff/certifications/revoke` (`{"email", "reason"}`).
pub async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (account, executed) = revoke_certification(&state, &user, &context, body).await?;
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
    wait_for_own_writes(&state, Some(&user), &headers).await?;
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
