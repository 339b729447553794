//! The payment notices another system refused, for clerks (issue 14): the JSON face of
//! `commands::refused_notices`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use commands::refused_notices::{self, RefusedNotice};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::http::page_request;
use crate::http::RequestContext;
use crate::i18n::{self, Lang};
use crate::AppState;
use projections::paging::TIME_THEN_TEXT;

/// A refused notice with what its code means in the reader's language.
#[derive(Serialize, ToSchema)]
pub struct LabelledNotice {
    #[serde(flatten)]
    notice: RefusedNotice,
    /// What `code` means, in the reader's language (null for a code the portal does not
    /// know).
    #[schema(required)]
    code_message: Option<String>,
}

/// A refused notice as the API shows it, with what its code means in the reader's
/// language.
pub fn labelled(notice: &RefusedNotice, lang: Lang) -> LabelledNotice {
    LabelledNotice {
        code_message: notice
            .code
            .as_deref()
            .filter(|code| i18n::has_message(code))
            .map(|code| i18n::message(lang, code)),
        notice: notice.clone(),
    }
}

/// A notice sent again.
#[derive(Serialize, ToSchema)]
pub struct NoticeRetried {
    payment_id: String,
    obligation_kind: String,
    obligation_id: String,
    #[schema(inline)]
    notice: Pending,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Pending {
    Pending,
}

/// A refund recorded.
#[derive(Serialize, ToSchema)]
pub struct RefundRecorded {
    payment_id: String,
    obligation_kind: String,
    obligation_id: String,
    /// Always `true`.
    refunded: bool,
}

/// `GET /api/v1/staff/notices?limit=&after=`: the payment notices the fines or revenue
/// system refused (and second payments of settled obligations), newest first, a page at a
/// time (`next`).
#[utoipa::path(
    get,
    path = "/api/v1/staff/notices",
    operation_id = "listRefusedNotices",
    tag = "payments",
    summary = "Payment notices the fines or revenue system refused, for clerks",
    description = "Payments made through the portal that the fines system or the revenue system refused for good to record, and second payments of fines or debts another payment had settled (`second_payment`: refund at the cashier). Newest first, a page at a time (`limit`, `after`; the answer's `next`). A second payment leaves the list once its refund is recorded. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(super::requests::ListQuery, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The refused notices.", body = projections::paging::Paged<LabelledNotice>),
        (status = 400, description = "`limit_out_of_range`, `cursor_invalid` or `malformed_query`.", body = crate::error::ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<super::requests::ListQuery>,
) -> Result<Json<projections::paging::Paged<LabelledNotice>>, ApiError> {
    user.require(domain::account::STAFF)?;
    let lang = Lang::from_headers(&headers);
    let page = page_request(query.after.as_deref(), query.limit, TIME_THEN_TEXT)?;
    let (found, next) = crate::reads::refused_notices(&state, &user, &page).await?;
    let items = found.iter().map(|n| labelled(n, lang)).collect();
    Ok(Json(projections::paging::Paged { items, next }))
}

/// `POST /api/v1/staff/notices/{payment_id}/retry`: the clerk has the refused notice sent
/// again (recorded on the obligation); the notifier tells the other system on its next
/// pass.
#[utoipa::path(
    post,
    path = "/api/v1/staff/notices/{payment_id}/retry",
    operation_id = "retryRefusedNotice",
    tag = "payments",
    summary = "Have a refused payment notice sent again",
    description = "Recorded on the obligation (`FinesSystemNoticeRetried` / `RevenueSystemNoticeRetried`, with the clerk), then the notice is due again; the notifier tells the other system on its next pass. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(("payment_id" = String, Path), crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "Due again.", body = NoticeRetried),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, description = "`notice_not_found`: no refused notice of this payment (sent again already, or none).", body = crate::error::ErrorBody),
        (status = 409, response = crate::openapi::Conflict),
        (status = 422, description = "`fine_not_paid_by_payment`, `debt_not_paid_by_payment` (a second payment: nothing to send); `notice_not_refused` (the obligation has the notice recorded).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    Path(payment_id): Path<String>,
) -> Result<Json<NoticeRetried>, ApiError> {
    let notice = refused_notices::retry(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &payment_id,
    )
    .await?;
    Ok(Json(NoticeRetried {
        payment_id: notice.payment_id,
        obligation_kind: notice.obligation_kind,
        obligation_id: notice.obligation_id,
        notice: Pending::Pending,
    }))
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// How the money was returned (e.g. the cashier's receipt number): 1–500 characters
    /// once trimmed.
    #[schema(min_length = 1, max_length = 500)]
    note: String,
}

/// `POST /api/v1/staff/notices/{payment_id}/refund` `{note}`: the clerk records that the
/// money of a second payment (its obligation was settled by another payment) has been
/// returned, and how; the payer is e-mailed and the payment leaves the list.
#[utoipa::path(
    post,
    path = "/api/v1/staff/notices/{payment_id}/refund",
    operation_id = "recordRefundOfSecondPayment",
    tag = "payments",
    summary = "Record that a second payment's money was returned",
    description = "For a second payment (`second_payment`: another payment had settled the obligation): recorded on the payment (`PaymentRefunded`, with the clerk and the note) after `PaymentRefundDue`; the payer is e-mailed and the payment leaves the list. Sent again once recorded (a double click, a retried request): the same 200, nothing recorded. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(("payment_id" = String, Path), crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = RefundBody),
    responses(
        (status = 200, description = "Recorded.", body = RefundRecorded),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, description = "`notice_not_found`: no second payment of this id waiting for its refund, nor one refunded.", body = crate::error::ErrorBody),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with `note`: `refund_note_required` or `refund_note_too_long`; `not_a_second_payment` (the other system refused its notice: send it again instead).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn refund(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    Path(payment_id): Path<String>,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<Json<RefundRecorded>, ApiError> {
    let notice = refused_notices::record_refund(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &payment_id,
        &body.note,
    )
    .await
    .map_err(crate::http::refund_error)?;
    Ok(Json(RefundRecorded {
        payment_id: notice.payment_id,
        obligation_kind: notice.obligation_kind,
        obligation_id: notice.obligation_id,
        refunded: true,
    }))
}
