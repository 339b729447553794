//! The business services' own JSON endpoints (the precondition and the business's
//! history); the services themselves are in `warrants`, `tax_declarations`, `tax_debts`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::http::page_request;
use crate::AppState;
use commands::business::certified_business;

/// `GET /api/v1/business`: the business the user represents (or the 403 that says what is
/// missing).
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<Json<Value>, ApiError> {
    let business = certified_business(&state, &user.actor()).await?;
    Ok(Json(
        json!({"company_name": business.company_name, "afm": business.afm}),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    limit: Option<i64>,
    /// The timeline's cursor (`next` of the page before).
    after: Option<String>,
    /// The payments' cursor (`payments_next` of the page before).
    payments_after: Option<String>,
}

/// `GET /api/v1/business/history?limit=&after=&payments_after=`: the business's timeline
/// (every event of its declarations and debts, newest first) and its payments (receipts,
/// newest first), each a page at a time by its own cursor (`next`, `payments_next`).
pub async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    // The business's precondition first, as every business service.
    let business = certified_business(&state, &user.actor()).await?;
    let timeline = page_request(
        query.after.as_deref(),
        query.limit,
        projections::paging::POSITION,
    )?;
    let payments = page_request(
        query.payments_after.as_deref(),
        query.limit,
        projections::paging::TIME_THEN_TEXT,
    )
    .map_err(|e| match e {
        ApiError::BadRequest {
            code: "cursor_invalid",
            ..
        } => ApiError::BadRequest {
            code: "cursor_invalid",
            detail: "payments_after: not a cursor this list answered (use the `payments_next` \
                     of the previous page)"
                .into(),
        },
        other => other,
    })?;
    let (timeline, payments) =
        crate::reads::business_history(&state, &business.afm, &timeline, &payments).await?;
    Ok(Json(json!({
        "business": {"company_name": business.company_name, "afm": business.afm},
        "timeline": timeline.items,
        "next": timeline.next,
        "payments": payments.items,
        "payments_next": payments.next,
    })))
}
