//! Traffic fines (ΚΟΚ) in the JSON API: the payable types, step 1 (municipality code and
//! type), step 2 (the quote from the fines system) and paying a quote (the use cases are
//! `commands::fines`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{CurrentUser, MaybeUser};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::http::RequestContext;
use crate::i18n::Lang;
use crate::AppState;
use commands::fines::{self, CheckInput, QuoteInput};

/// `GET /api/v1/fines/types`: the fine types payable to the municipality.
pub async fn types(State(state): State<AppState>) -> Json<Value> {
    let config = &state.config.municipality.fines;
    Json(json!({"municipality_code": config.municipality_code, "items": config.types}))
}

/// `POST /api/v1/fines/check`: step 1; answers the type with its base amount.
pub async fn check(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CheckInput>,
) -> Result<Json<Value>, ApiError> {
    let fine_type = fines::check(&state, &body)?;
    Ok(Json(json!({
        "municipality_code": state.config.municipality.fines.municipality_code,
        "fine_type": fine_type,
    })))
}

/// `POST /api/v1/fines/quote`: step 2; answers the fine and the amount due now.
pub async fn quote(
    State(state): State<AppState>,
    context: RequestContext,
    MaybeUser(user): MaybeUser,
    ApiJson(body): ApiJson<QuoteInput>,
) -> Result<Json<Value>, ApiError> {
    let quote = fines::quote(&state, body, context.metadata(user.as_ref())).await?;
    Ok(Json(serde_json::to_value(quote).unwrap_or_default()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    pub quote_id: String,
}

/// `POST /api/v1/fines/pay`: pays a quote; answers the payment and the bank form (its
/// fields as `[name, value]` pairs, in the order the bank's digest covers them).
pub async fn pay(
    State(state): State<AppState>,
    context: RequestContext,
    user: CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PayBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
        Json(json!({
            "payment_id": started.payment_id,
            "amount_cents": started.amount_cents,
            "redirect": {"method": "POST", "action": started.form.action, "fields": started.form.fields},
        })),
    ))
}

/// `GET /api/v1/my/fines?after=&limit=`: the fines the user paid through the portal, newest
/// first, a page at a time (`next`: the `after` of the next page), each
/// with its receipt (the bank's reference) and whether the fines system has been told
/// (`pending`, `notified`, or `refused`: the municipality will contact the payer).
pub async fn my_fines(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<super::requests::ListQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let items: Vec<Value> = paid
        .iter()
        .map(|p| {
            let told = notices
                .iter()
                .find(|(id, _)| *id == p.id)
                .map_or("pending", |(_, s)| s.as_str());
            json!({
                "fine_id": p.obligation_reference,
                "fine_number": p.obligation_reference.split_once('-').map_or("", |(_, n)| n),
                "description": p.obligation_description,
                "payment_id": p.id,
                "amount_cents": p.amount_cents,
                "payment_ref": p.payment_ref,
                "paid_at": p.settled_at,
                "fines_system": told,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": rows.next })))
}
