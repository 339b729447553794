//! Business services (S12–S14): the precondition every one of them shares. The user must
//! be a citizen account whose certification stands and names the business they represent
//! (company name and ΑΦΜ, checked by a clerk in person, S6). Read from the user's
//! `Certification` stream, so a revocation takes effect at once.

use cqrs_es::Aggregate;
use domain::certification::Business;
use domain::tax_debt::TaxDebt;
use domain::tax_declaration::TaxDeclaration;
use domain::Refusal;

use crate::auth::{CurrentUser, Role};
use crate::error::ApiError;
use crate::AppState;

/// The refusal code of a user who is not certified at all.
pub const CERTIFICATION_REQUIRED: &str = "certification_required";
/// The refusal code of a certified user whose certification names no business.
pub const BUSINESS_CERTIFICATION_REQUIRED: &str = "business_certification_required";

/// The business `user` represents, or a refusal that says how to get there: 403
/// `certification_required` (not certified, or revoked) or 403
/// `business_certification_required` (certified as a person only). Staff accounts are
/// refused with 403 as well: business services are for the businesses themselves.
pub async fn certified_business(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Business, ApiError> {
    if user.role != Role::Citizen {
        return Err(ApiError::Forbidden);
    }
    let certification = crate::routes::applications::certification_of(state, user).await?;
    if !certification.certified {
        return Err(ApiError::Refused(Refusal::forbidden(
            CERTIFICATION_REQUIRED,
            "business services are for businesses certified by the municipality",
        )));
    }
    certification.business.ok_or_else(|| {
        ApiError::Refused(Refusal::forbidden(
            BUSINESS_CERTIFICATION_REQUIRED,
            "the certification names no business: its representative must have the business \
             (name and ΑΦΜ) certified at the municipality",
        ))
    })
}

/// Whether `error` is one of the refusals of [`certified_business`] (a page then shows
/// how to get certified instead of an error).
pub fn is_certification_refusal(error: &ApiError) -> bool {
    matches!(error, ApiError::Refused(r)
        if r.code == CERTIFICATION_REQUIRED || r.code == BUSINESS_CERTIFICATION_REQUIRED)
}

/// The aggregate types of a business's own streams (ids start with its ΑΦΜ and '-').
pub const BUSINESS_STREAM_TYPES: [&str; 2] = [TaxDeclaration::TYPE, TaxDebt::TYPE];
/// The obligation kinds of a business's payments (references start with its ΑΦΜ and '-').
pub const BUSINESS_OBLIGATION_KINDS: [&str; 2] = [
    commands::tax_declarations::OBLIGATION_KIND,
    commands::tax_debts::OBLIGATION_KIND,
];

/// One event of the business's timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimelineEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub aggregate_type: String,
    /// The stream: a declaration `{afm}-2026-Q1` or a debt `{afm}-{debt id}`.
    pub stream_id: String,
    pub sequence: i64,
    pub event_type: String,
    /// The amount the event names (a filing's total, a payment's amount), if any.
    pub amount_cents: Option<i64>,
    /// The payment the event is about, if any.
    pub payment_id: Option<String>,
    /// A refusal or rejection code the event carries (e.g. `payment_declined`).
    pub reason: Option<String>,
}

/// A payment of the business (a receipt once it succeeded).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct BusinessPayment {
    pub id: String,
    pub obligation_kind: String,
    pub obligation_reference: String,
    pub obligation_description: String,
    pub amount_cents: i64,
    pub status: String,
    pub payment_ref: Option<String>,
    pub payer_account_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub settled_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The business's timeline (newest first, at most `limit` events), read from the event
/// log itself — the same events an auditor sees — and its payments from the payments read
/// model (newest first).
pub async fn history(
    state: &AppState,
    afm: &str,
    limit: i64,
) -> Result<(Vec<TimelineEntry>, Vec<BusinessPayment>), ApiError> {
    crate::routes::wait_for_log_head(state).await?;
    let prefix = format!("{}-%", afm.replace(['%', '_', '\\'], ""));
    let types: Vec<String> = BUSINESS_STREAM_TYPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<(
        String,
        String,
        i64,
        String,
        serde_json::Value,
        chrono::DateTime<chrono::Utc>,
    )> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, payload, recorded_at \
             FROM events WHERE aggregate_type = ANY($1) AND aggregate_id LIKE $2 \
             ORDER BY global_position DESC LIMIT $3",
    )
    .bind(&types)
    .bind(&prefix)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let timeline = rows
        .into_iter()
        .map(
            |(aggregate_type, stream_id, sequence, event_type, payload, at)| {
                // Events are stored externally tagged: {"DeclarationFiled": {...}}.
                let data = payload
                    .as_object()
                    .and_then(|o| o.values().next())
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                let text = |key: &str| data.get(key).and_then(|v| v.as_str()).map(str::to_string);
                TimelineEntry {
                    at: data
                        .get("at")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or(at),
                    aggregate_type,
                    stream_id,
                    sequence,
                    event_type,
                    amount_cents: data.get("amount_cents").and_then(|v| v.as_i64()),
                    payment_id: text("payment_id"),
                    reason: text("reason").or_else(|| text("code")),
                }
            },
        )
        .collect();
    let kinds: Vec<String> = BUSINESS_OBLIGATION_KINDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let payments: Vec<BusinessPayment> = sqlx::query_as(
        "SELECT id, obligation_kind, obligation_reference, obligation_description, amount_cents, \
         status, payment_ref, payer_account_id, created_at, settled_at FROM payments \
         WHERE obligation_kind = ANY($1) AND obligation_reference LIKE $2 \
         ORDER BY created_at DESC LIMIT $3",
    )
    .bind(&kinds)
    .bind(&prefix)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    Ok((timeline, payments))
}
