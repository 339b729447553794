//! The payment notices another system refused, for clerks (issue 14): the JSON face of
//! `commands::refused_notices`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use commands::refused_notices::{self, RefusedNotice};
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::http::page_request;
use crate::http::RequestContext;
use crate::i18n::{self, Lang};
use crate::AppState;
use projections::paging::TIME_THEN_TEXT;

/// A refused notice as the API shows it, with what its code means in the reader's
/// language.
pub fn labelled(notice: &RefusedNotice, lang: Lang) -> Value {
    let mut value = serde_json::to_value(notice).unwrap_or_default();
    value["code_message"] = notice
        .code
        .as_deref()
        .filter(|code| i18n::has_message(code))
        .map(|code| i18n::message(lang, code))
        .into();
    value
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    after: Option<String>,
}

/// `GET /api/v1/staff/notices?limit=&after=`: the payment notices the fines or revenue
/// system refused (and second payments of settled obligations), newest first, a page at a
/// time (`next`).
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    user.require(domain::account::STAFF)?;
    let lang = Lang::from_headers(&headers);
    let page = page_request(query.after.as_deref(), query.limit, TIME_THEN_TEXT)?;
    let (found, next) = crate::reads::refused_notices(&state, &user, &page).await?;
    let items: Vec<Value> = found.iter().map(|n| labelled(n, lang)).collect();
    Ok(Json(json!({ "items": items, "next": next })))
}

/// `POST /api/v1/staff/notices/{payment_id}/retry`: the clerk has the refused notice sent
/// again (recorded on the obligation); the notifier tells the other system on its next
/// pass.
pub async fn retry(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    Path(payment_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let notice = refused_notices::retry(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &payment_id,
    )
    .await?;
    Ok(Json(json!({
        "payment_id": notice.payment_id,
        "obligation_kind": notice.obligation_kind,
        "obligation_id": notice.obligation_id,
        "notice": "pending",
    })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// How the money was returned (e.g. the cashier's receipt number).
    note: String,
}

/// `POST /api/v1/staff/notices/{payment_id}/refund` `{note}`: the clerk records that the
/// money of a second payment (its obligation was settled by another payment) has been
/// returned, and how; the payer is e-mailed and the payment leaves the list.
pub async fn refund(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    Path(payment_id): Path<String>,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<Json<Value>, ApiError> {
    let notice = refused_notices::record_refund(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &payment_id,
        &body.note,
    )
    .await
    .map_err(crate::http::refund_error)?;
    Ok(Json(json!({
        "payment_id": notice.payment_id,
        "obligation_kind": notice.obligation_kind,
        "obligation_id": notice.obligation_id,
        "refunded": true,
    })))
}
