//! The bank's two ways back to the portal (the payer's browser returning to confirmUrl /
//! cancelUrl, and the server-to-server notification) and the payer's payments in the API.
//!
//! The browser return is a cross-site form POST from the bank's page: it carries no CSRF
//! token and, with SameSite cookies, usually no session. It is believed on its digest
//! alone (checked by the gateway) and answers a redirect to the payment's page, which asks
//! for a login if needed.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use domain::payment::ConfirmationSource;
use projections::payments::{self as read, PaymentRow};
use serde_json::{json, Value};

use super::{case_id, wait_for_own_writes};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::i18n::{self, Lang};
use crate::payments::{apply_confirmation, payment_of};
use crate::web::Page;
use crate::AppState;

/// `POST /payments/return`: the payer back from the bank (success, refusal or cancel).
pub async fn browser_return(
    State(state): State<AppState>,
    p: Page,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    match apply_confirmation(&state, &fields, ConfirmationSource::BrowserReturn).await {
        Ok(applied) => Redirect::to(&format!("/payments/{}", applied.payment_id)).into_response(),
        Err(e) => crate::web::payments::return_refused(p, e.into()),
    }
}

/// `POST /api/v1/payments/notify`: the bank's server-to-server notification. 200 when
/// applied or already applied; an error (400 forged or unknown, 422 mismatched) otherwise,
/// which changes nothing.
pub async fn notify(
    State(state): State<AppState>,
    Form(fields): Form<Vec<(String, String)>>,
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

/// `GET /api/v1/my/payments`: the payer's payments, newest first.
pub async fn my_list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    let lang = Lang::from_headers(&headers);
    let rows = read::list_for_payer(&state.pool, &user.account_id.to_string()).await?;
    let items: Vec<Value> = rows.iter().map(|r| labelled_payment(r, lang)).collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v1/my/payments/{id}`: one payment of the payer (404 for anyone else's).
pub async fn my_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = case_id(&id).map_err(|_| ApiError::NotFound("payment_not_found"))?;
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    let payment = payment_of(&state, &user, &id).await?;
    Ok(Json(labelled_payment(
        &payment,
        Lang::from_headers(&headers),
    )))
}
