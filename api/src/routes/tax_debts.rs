//! Certified municipal-tax debts (S14) in the JSON API: the business's debts as of today,
//! one debt, and paying one (the use cases are `commands::tax_debts`). Every answer comes from the revenue
//! system afresh; when it is down: `503 revenue_system_unavailable`, nothing stale.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::i18n::{self, Lang};
use crate::AppState;
use commands::tax_debts;

/// The certified debts of a business.
#[derive(Serialize, ToSchema)]
pub struct Debts {
    business: super::business::Business,
    /// The day the amounts are computed for; null when there is no debt.
    #[schema(required)]
    amount_as_of: Option<chrono::NaiveDate>,
    #[schema(value_type = i64)]
    total_due_cents: domain::money::Money,
    items: Vec<tax_debts::DebtView>,
}

/// `GET /api/v1/business/debts`: the certified debts of the user's business, with
/// amounts as of today (paid ones included, with their settlement) and the total due.
#[utoipa::path(
    get,
    path = "/api/v1/business/debts",
    operation_id = "listBusinessDebts",
    tag = "business-debts",
    summary = "The certified debts of the business's ΑΦΜ from the revenue system now, amounts as of today",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "`{business: {company_name, afm}, amount_as_of, total_due_cents, items: [debt]}`; a debt: `{debt_id, afm, description, certified_on, principal_cents, surcharge_cents, amount_due_cents, amount_as_of, paid: null|{payment_ref, amount_cents, paid_at}, status: due|paid, portal_payment: null|{status: in_progress, payment_id}|{status: paid, payment_id, payment_ref, amount_cents, paid_at, revenue_system: pending|notified|refused}}`", body = Debts),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required` or `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "`revenue_system_unavailable`: no data, nothing stale", body = crate::error::ErrorBody),
    )
)]
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
        Json(Debts {
            business: super::business::Business::new(business.company_name, business.afm),
            amount_as_of: as_of,
            total_due_cents: total_due,
            items: items.iter().map(tax_debts::DebtItem::view).collect(),
        }),
    ))
}

/// `GET /api/v1/business/debts/{debt_id}`: one debt, as of today.
#[utoipa::path(
    get,
    path = "/api/v1/business/debts/{debt_id}",
    operation_id = "getBusinessDebt",
    tag = "business-debts",
    summary = "One certified debt of the business, as of today",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(("debt_id" = String, Path, description = "The revenue system's id of the debt, e.g. `DF-2025-000142`.", pattern = "^[A-Za-z0-9-]{1,64}$"), crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "`{debt_id, afm, description, certified_on, principal_cents, surcharge_cents, amount_due_cents, amount_as_of, paid: null|{payment_ref, amount_cents, paid_at}, status: due|paid, portal_payment: null|{status: in_progress, payment_id}|{status: paid, payment_id, payment_ref, amount_cents, paid_at, revenue_system: pending|notified|refused}}`", body = tax_debts::DebtView),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required` or `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 404, description = "`debt_not_found`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "`revenue_system_unavailable`: no data, nothing stale", body = crate::error::ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/business/debts/{debt_id}/payments",
    operation_id = "payBusinessDebt",
    tag = "business-debts",
    summary = "Starts the payment of the debt's amount due now; answers the bank form",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(("debt_id" = String, Path, description = "The revenue system's id of the debt, e.g. `DF-2025-000142`.", pattern = "^[A-Za-z0-9-]{1,64}$"), crate::openapi::AcceptLanguage, crate::openapi::RequestId, crate::openapi::IdempotencyKey),
    responses(
        (status = 201, description = "`{payment_id, amount_cents, form: {method: POST, action, fields: [[name, value]]}}`: post the fields, in order, to `action`", body = super::payments::DebtPaymentStarted),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required`, `forbidden` (staff) or `profile_incomplete` (`fields` names each missing detail)", body = crate::error::ErrorBody),
        (status = 404, description = "`debt_not_found`", body = crate::error::ErrorBody),
        (status = 409, description = "`conflict` (rare: a concurrent write)", body = crate::error::ErrorBody),
        (status = 422, description = "`debt_already_paid`, `debt_payment_in_progress`, `debt_nothing_due`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "`revenue_system_unavailable`: no data, nothing stale", body = crate::error::ErrorBody),
    )
)]
pub async fn pay(
    State(state): State<AppState>,
    context: RequestContext,
    user: CurrentUser,
    headers: HeaderMap,
    Path(debt_id): Path<String>,
) -> Result<(StatusCode, Json<super::payments::DebtPaymentStarted>), ApiError> {
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
        Json(super::payments::DebtPaymentStarted::new(
            started.payment_id,
            started.amount_cents,
            started.form,
        )),
    ))
}
