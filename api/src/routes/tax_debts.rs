//! Certified municipal-tax debts (S14) in the JSON API: the business's debts as of today,
//! one debt, and paying one (the use cases are `commands::tax_debts`). Every answer comes from the revenue
//! system afresh; when it is down: `503 revenue_system_unavailable`, nothing stale.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::i18n::{self, Lang};
use crate::AppState;
use commands::tax_debts;

/// `GET /api/v1/business/debts`: the certified debts of the user's business, with
/// amounts as of today (paid ones included, with their settlement) and the total due.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    crate::http::wait_for_own_writes(&state, Some(&user), &headers, projections::TAX_DEBT_READS)
        .await?;
    let (business, items) = crate::reads::business_debts(&state, &user).await?;
    let total_due = tax_debts::DebtItem::total_due(&items);
    let as_of = items.first().map(|i| i.debt.amount_as_of);
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "business": {"company_name": business.company_name, "afm": business.afm},
            "amount_as_of": as_of,
            "total_due_cents": total_due,
            "items": items.iter().map(tax_debts::DebtItem::view).collect::<Vec<_>>(),
        })),
    ))
}

/// `GET /api/v1/business/debts/{debt_id}`: one debt, as of today.
pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(debt_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    crate::http::wait_for_own_writes(&state, Some(&user), &headers, projections::TAX_DEBT_READS)
        .await?;
    let item = crate::reads::business_debt(&state, &user, &debt_id).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(item.view())))
}

/// `POST /api/v1/business/debts/{debt_id}/payments`: pays the debt's amount due now;
/// answers the payment and the bank form (its fields as `[name, value]` pairs, in the
/// order the bank's digest covers them).
pub async fn pay(
    State(state): State<AppState>,
    context: RequestContext,
    user: CurrentUser,
    headers: HeaderMap,
    Path(debt_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let lang = Lang::from_headers(&headers);
    let started = tax_debts::pay(
        &state,
        &user.actor(),
        debt_id.trim(),
        lang.code(),
        i18n::tax_debt_payment_description,
        context.metadata(Some(&user)),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "payment_id": started.payment_id,
            "amount_cents": started.amount_cents,
            "form": {"method": "POST", "action": started.form.action, "fields": started.form.fields},
        })),
    ))
}
