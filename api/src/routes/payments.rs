//! The bank's server-to-server notification and the payer's payments in the API. (The
//! payer's browser coming back from the bank is a page: `web::payments`.)

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::payment::ConfirmationSource;
use projections::payments::{self as read, PaymentRow};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiForm;
use crate::http::{case_id, wait_for_own_writes};
use crate::i18n::{self, Lang};
use crate::reads::payment_of;
use crate::AppState;
use commands::payments::apply_confirmation;

/// `POST /api/v1/payments/notify`: the bank's server-to-server notification. 200 when
/// applied or already applied; an error (400 forged or unknown, 422 mismatched) otherwise,
/// which changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/payments/notify",
    operation_id = "bankNotification",
    tag = "payments",
    summary = "The bank's server-to-server confirmation (VPOS)",
    description = "Form-urlencoded answer fields of the VPOS protocol (`version, mid, orderid, status, orderAmount, currency, paymentTotal, message, riskScore, payMethod, txId, paymentRef, digest`). The digest is verified in constant time; order id, amount and currency must match the payment. Applied idempotently: the same answer again answers 200 and changes nothing. A forged, tampered, unknown or mismatched answer changes nothing and is logged.",
    security(),
    request_body(content = std::collections::HashMap<String, String>, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Applied, or already applied.", body = String, content_type = "text/plain"),
        (status = 400, description = "The answer does not verify (`confirmation_invalid`) or names an order the portal never issued (`confirmation_unknown_order`).", body = crate::error::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "A genuine answer that does not match the payment (`confirmation_mismatch`) or contradicts its settled outcome (`payment_settled`).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn notify(
    State(state): State<AppState>,
    ApiForm(fields): ApiForm<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    apply_confirmation(&state, &fields, ConfirmationSource::Notification).await?;
    Ok((StatusCode::OK, "OK").into_response())
}

/// A payment started: where to send the payer.
#[derive(Serialize, ToSchema)]
pub struct PaymentStarted {
    pub payment_id: String,
    #[schema(value_type = i64, minimum = 1)]
    pub amount_cents: domain::money::Money,
    pub redirect: BankRedirect,
}

/// A debt's payment started: where to send the payer (the form is `form` here, `redirect`
/// in a fine's answer).
#[derive(Serialize, ToSchema)]
pub struct DebtPaymentStarted {
    pub payment_id: String,
    #[schema(value_type = i64, minimum = 1)]
    pub amount_cents: domain::money::Money,
    pub form: BankRedirect,
}

impl DebtPaymentStarted {
    pub fn new(
        payment_id: String,
        amount_cents: domain::money::Money,
        form: domain::ports::RedirectForm,
    ) -> Self {
        DebtPaymentStarted {
            payment_id,
            amount_cents,
            form: BankRedirect::of(form),
        }
    }
}

/// The form that sends the payer's browser to the bank.
#[derive(Serialize, ToSchema)]
pub struct BankRedirect {
    #[schema(inline)]
    pub method: Post,
    /// The bank's payment page.
    pub action: String,
    /// The form's fields as `[name, value]` pairs, in the order the bank's digest covers
    /// them.
    #[schema(value_type = Vec<Vec<String>>)]
    pub fields: Vec<(String, String)>,
}

#[derive(Serialize, ToSchema)]
pub enum Post {
    #[serde(rename = "POST")]
    Post,
}

impl BankRedirect {
    pub fn of(form: domain::ports::RedirectForm) -> Self {
        BankRedirect {
            method: Post::Post,
            action: form.action,
            fields: form.fields,
        }
    }
}

impl PaymentStarted {
    pub fn new(
        payment_id: String,
        amount_cents: domain::money::Money,
        form: domain::ports::RedirectForm,
    ) -> Self {
        PaymentStarted {
            payment_id,
            amount_cents,
            redirect: BankRedirect::of(form),
        }
    }
}

/// A payment attempt with its receipt fields (tx_id, payment_ref, settled_at once
/// succeeded), and its status in the reader's language.
#[derive(Serialize, ToSchema)]
#[schema(as = Payment)]
pub struct LabelledPayment {
    #[serde(flatten)]
    payment: PaymentRow,
    /// The status in the reader's language.
    status_label: String,
}

/// A payment as the API shows it, with its status in the reader's language.
pub fn labelled_payment(payment: &PaymentRow, lang: Lang) -> LabelledPayment {
    LabelledPayment {
        status_label: i18n::message(lang, &format!("payment_status_{}", payment.status)),
        payment: payment.clone(),
    }
}

/// `GET /api/v1/my/payments?after=&limit=`: the payer's payments, newest first, a page at a
/// time (`next`: the `after` of the next page).
#[utoipa::path(
    get,
    path = "/api/v1/my/payments",
    operation_id = "listMyPayments",
    tag = "payments",
    summary = "The user's payments, newest first",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(super::requests::ListQuery, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The payments.", body = projections::paging::Paged<LabelledPayment>),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn my_list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<super::requests::ListQuery>,
) -> Result<Json<projections::paging::Paged<LabelledPayment>>, ApiError> {
    let page = crate::http::page_request(
        query.after.as_deref(),
        query.limit,
        projections::paging::TIME_THEN_TEXT,
    )?;
    wait_for_own_writes(&state, Some(&user), &headers, projections::PAYMENT_READS).await?;
    let lang = Lang::from_headers(&headers);
    let rows = read::page_for_payer(&state.pool, &user.account_id.to_string(), &page).await?;
    let items = rows
        .items
        .iter()
        .map(|r| labelled_payment(r, lang))
        .collect();
    Ok(Json(projections::paging::Paged {
        items,
        next: rows.next,
    }))
}

/// `GET /api/v1/my/payments/{id}`: one payment of the payer (404 for anyone else's).
#[utoipa::path(
    get,
    path = "/api/v1/my/payments/{id}",
    operation_id = "getMyPayment",
    tag = "payments",
    summary = "One of the user's payments with its receipt",
    description = "Another user's payment answers 404 exactly like a missing one.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(("id" = String, Path, format = Uuid), crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The payment.", body = LabelledPayment),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such payment of this user (`payment_not_found`).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn my_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<LabelledPayment>, ApiError> {
    let id = case_id(&id).map_err(|_| ApiError::NotFound("payment_not_found"))?;
    wait_for_own_writes(&state, Some(&user), &headers, projections::PAYMENT_READS).await?;
    let payment = payment_of(&state, &user, &id).await?;
    Ok(Json(labelled_payment(
        &payment,
        Lang::from_headers(&headers),
    )))
}
