//! Traffic fines (ΚΟΚ) in the JSON API: the payable types, step 1 (municipality code and
//! type), step 2 (the quote from the fines system) and paying a quote (the use cases are
//! `commands::fines`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{CurrentUser, MaybeUser};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::http::RequestContext;
use crate::i18n::Lang;
use crate::AppState;
use commands::fines::{self, CheckInput, QuoteInput};

/// The fine types payable to the municipality.
#[derive(Serialize, ToSchema)]
pub struct FineTypes {
    /// The municipality's code, as printed on its tickets.
    municipality_code: String,
    items: Vec<domain::fines::FineType>,
}

/// Step 1's answer: the type with its base amount.
#[derive(Serialize, ToSchema)]
pub struct CheckedFine {
    municipality_code: String,
    fine_type: domain::fines::FineType,
}

/// A fine the user paid through the portal.
#[derive(Serialize, ToSchema)]
pub struct PaidFine {
    /// The fine's stream: `{municipality code}-{fine number}`.
    fine_id: String,
    fine_number: String,
    /// What was paid, as the receipt says.
    description: String,
    payment_id: String,
    #[schema(value_type = i64)]
    amount_cents: domain::money::Money,
    /// The bank's reference on the receipt.
    #[schema(required)]
    payment_ref: Option<String>,
    #[schema(required)]
    paid_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether the fines system has been told: `pending`, `notified`, or `refused` (the
    /// municipality will contact the payer).
    #[schema(pattern = "^(pending|notified|refused)$")]
    fines_system: String,
}

/// `GET /api/v1/fines/types`: the fine types payable to the municipality.
#[utoipa::path(
    get,
    path = "/api/v1/fines/types",
    operation_id = "fineTypes",
    tag = "fines",
    summary = "The fine types payable to the municipality, with base amounts (cents)",
    security(),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "`{municipality_code, items: [{code, name_el, name_en, base_cents}]}`", body = FineTypes),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn types(State(state): State<AppState>) -> Json<FineTypes> {
    let config = &state.config.municipality.fines;
    Json(FineTypes {
        municipality_code: config.municipality_code.clone(),
        items: config.types.clone(),
    })
}

/// `POST /api/v1/fines/check`: step 1; answers the type with its base amount.
#[utoipa::path(
    post,
    path = "/api/v1/fines/check",
    operation_id = "checkFine",
    tag = "fines",
    summary = "Step 1: municipality code and fine type as printed on the ticket",
    security(),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = CheckInput),
    responses(
        (status = 200, description = "`{municipality_code, fine_type: {code, name_el, name_en, base_cents}}`", body = CheckedFine),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, description = "`unauthenticated`: a session was presented (bearer token or cookie) that is unknown, expired or revoked. Send none to use this anonymously.", body = crate::error::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`municipality_code_foreign`, `fine_type_not_payable`, `validation_failed`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn check(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CheckInput>,
) -> Result<Json<CheckedFine>, ApiError> {
    let fine_type = fines::check(&state, &body)?;
    Ok(Json(CheckedFine {
        municipality_code: state.config.municipality.fines.municipality_code.clone(),
        fine_type: fine_type.clone(),
    }))
}

/// `POST /api/v1/fines/quote`: step 2; answers the fine and the amount due now.
#[utoipa::path(
    post,
    path = "/api/v1/fines/quote",
    operation_id = "quoteFine",
    tag = "fines",
    summary = "Step 2: find or register the fine in the fines system and quote the amount due now",
    security(),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId, crate::openapi::IdempotencyKey),
    request_body(content = QuoteInput),
    responses(
        (status = 200, description = "`{quote_id, fine, base_cents, amount_cents, amount_valid_until, valid_until, previous_amount_cents, changed_since_last_quote}`", body = fines::Quote),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, description = "`unauthenticated`: a session was presented (bearer token or cookie) that is unknown, expired or revoked. Send none to use this anonymously.", body = crate::error::ErrorBody),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "field errors, step 1 refusals, `offence_date_in_future`, `fine_details_mismatch`, `fine_already_paid`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "`fines_system_unavailable`", body = crate::error::ErrorBody),
    )
)]
pub async fn quote(
    State(state): State<AppState>,
    context: RequestContext,
    MaybeUser(user): MaybeUser,
    ApiJson(body): ApiJson<QuoteInput>,
) -> Result<Json<fines::Quote>, ApiError> {
    let quote = fines::quote(&state, body, context.metadata(user.as_ref())).await?;
    Ok(Json(quote))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    /// From the quote.
    pub quote_id: String,
}

/// `POST /api/v1/fines/pay`: pays a quote; answers the payment and the bank form (its
/// fields as `[name, value]` pairs, in the order the bank's digest covers them).
#[utoipa::path(
    post,
    path = "/api/v1/fines/pay",
    operation_id = "payFine",
    tag = "fines",
    summary = "Pay a quote: starts a payment of its whole amount and answers the bank form",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId, crate::openapi::IdempotencyKey),
    request_body(content = PayBody),
    responses(
        (status = 201, description = "`{payment_id, amount_cents, redirect: {method, action, fields: [[name, value]]}}`", body = super::payments::PaymentStarted),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`profile_incomplete` (fields name the missing details)", body = crate::error::ErrorBody),
        (status = 404, description = "`quote_not_found`", body = crate::error::ErrorBody),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`quote_expired`, `fine_already_paid`, `fine_payment_in_progress`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn pay(
    State(state): State<AppState>,
    context: RequestContext,
    user: CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PayBody>,
) -> Result<(StatusCode, Json<super::payments::PaymentStarted>), ApiError> {
    let lang = Lang::from_headers(&headers);
    let started = fines::pay(
        &state,
        &user.actor(),
        body.quote_id.trim(),
        lang.code(),
        crate::i18n::fine_payment_description,
        context.metadata(Some(&user)),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(super::payments::PaymentStarted::new(
            started.payment_id,
            started.amount_cents,
            started.form,
        )),
    ))
}

/// `GET /api/v1/my/fines?after=&limit=`: the fines the user paid through the portal, newest
/// first, a page at a time (`next`: the `after` of the next page), each
/// with its receipt (the bank's reference) and whether the fines system has been told
/// (`pending`, `notified`, or `refused`: the municipality will contact the payer).
#[utoipa::path(
    get,
    path = "/api/v1/my/fines",
    operation_id = "listMyFines",
    tag = "fines",
    summary = "The fines the user paid through the portal, newest first, a page at a time, with receipts and whether the fines system was told",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(super::requests::ListQuery, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "`{items: [{fine_id, fine_number, description, payment_id, amount_cents, payment_ref, paid_at, fines_system}], next}` (`next`: the `after` of the next page, `null` on the last)", body = projections::paging::Paged<PaidFine>),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn my_fines(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<super::requests::ListQuery>,
) -> Result<Json<projections::paging::Paged<PaidFine>>, ApiError> {
    let page = crate::http::page_request(
        query.after.as_deref(),
        query.limit,
        projections::paging::TIME_THEN_TEXT,
    )?;
    crate::http::wait_for_own_writes(&state, Some(&user), &headers, projections::FINE_READS)
        .await?;
    let rows = projections::payments::page_paid_for_payer(
        &state.pool,
        &user.account_id.to_string(),
        fines::OBLIGATION_KIND,
        &page,
    )
    .await?;
    let paid = rows.items;
    let ids: Vec<String> = paid.iter().map(|p| p.id.clone()).collect();
    let notices = fines::notice_statuses(&state, &ids).await?;
    let items = paid
        .iter()
        .map(|p| {
            let told = notices
                .iter()
                .find(|(id, _)| *id == p.id)
                .map_or("pending", |(_, s)| s.as_str());
            PaidFine {
                fine_id: p.obligation_reference.clone(),
                fine_number: p
                    .obligation_reference
                    .split_once('-')
                    .map_or("", |(_, n)| n)
                    .to_string(),
                description: p.obligation_description.clone(),
                payment_id: p.id.clone(),
                amount_cents: p.amount_cents,
                payment_ref: p.payment_ref.clone(),
                paid_at: p.settled_at,
                fines_system: told.to_string(),
            }
        })
        .collect();
    Ok(Json(projections::paging::Paged {
        items,
        next: rows.next,
    }))
}
