//! The bank's server-to-server notification and the payer's payments in the API. (The
//! payer's browser coming back from the bank is a page: `web::payments`.)

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::payment::ConfirmationSource;
use projections::payments::{self as read, PaymentRow};
use serde_json::{json, Value};

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
pub async fn notify(
    State(state): State<AppState>,
    ApiForm(fields): ApiForm<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    apply_confirmation(&state, &fields, ConfirmationSource::Notification).await?;
    Ok((StatusCode::OK, "OK").into_response())
}

/// A payment as the API shows it, with its status in the reader's language.
pub fn labelled_payment(payment: &PaymentRow, lang: Lang) -> Value {
    let mut value = serde_json::to_value(payment).unwrap_or_default();
    value["status_label"] =
        i18n::message(lang, &format!("payment_status_{}", payment.status)).into();
    value
}

/// `GET /api/v1/my/payments?after=&limit=`: the payer's payments, newest first, a page at a
/// time (`next`: the `after` of the next page).
pub async fn my_list(
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
    wait_for_own_writes(&state, Some(&user), &headers, projections::PAYMENT_READS).await?;
    let lang = Lang::from_headers(&headers);
    let rows = read::page_for_payer(&state.pool, &user.account_id.to_string(), &page).await?;
    let items: Vec<Value> = rows
        .items
        .iter()
        .map(|r| labelled_payment(r, lang))
        .collect();
    Ok(Json(json!({ "items": items, "next": rows.next })))
}

/// `GET /api/v1/my/payments/{id}`: one payment of the payer (404 for anyone else's).
pub async fn my_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = case_id(&id).map_err(|_| ApiError::NotFound("payment_not_found"))?;
    wait_for_own_writes(&state, Some(&user), &headers, projections::PAYMENT_READS).await?;
    let payment = payment_of(&state, &user, &id).await?;
    Ok(Json(labelled_payment(
        &payment,
        Lang::from_headers(&headers),
    )))
}
