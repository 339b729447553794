//! The payment notices another system refused, for clerks (issue 14): the JSON face of
//! `commands::refused_notices`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use commands::refused_notices::{self, RefusedNotice};
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::i18n::{self, Lang};
use crate::AppState;

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

/// `GET /api/v1/staff/notices`: the payment notices the fines or revenue system refused
/// (and second payments of settled obligations), newest first, at most 500.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let lang = Lang::from_headers(&headers);
    let items: Vec<Value> = refused_notices::list(&state, &user.actor())
        .await?
        .iter()
        .map(|n| labelled(n, lang))
        .collect();
    Ok(Json(json!({ "items": items })))
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
