//! The business services' own JSON endpoints (the precondition and the business's
//! history); the services themselves are in `warrants`, `tax_declarations`, `tax_debts`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::ApiError;
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

/// `GET /api/v1/business/history`: the business's timeline (every event of its
/// declarations and debts, newest first, at most 500) and its payments (receipts).
pub async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let business = certified_business(&state, &user.actor()).await?;
    let (timeline, payments) = crate::reads::business_history(&state, &business.afm).await?;
    Ok(Json(json!({
        "business": {"company_name": business.company_name, "afm": business.afm},
        "timeline": timeline,
        "payments": payments,
    })))
}
