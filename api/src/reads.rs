//! Reads that the JSON API and the pages share: one record of the read models, found for
//! the user who asks (not found for anyone else), after waiting for the read models to
//! reach the log head when it is not there yet (it may have just been written).

use domain::certification::Business;
use projections::payments::{self as read, PaymentRow};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::AppState;

/// The payment `id` of `user` (not found for anyone else's).
pub async fn payment_of(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
) -> Result<PaymentRow, ApiError> {
    let mut row = read::get(&state.pool, id).await?;
    if row.is_none() {
        state.wait_for_log_head().await?;
        row = read::get(&state.pool, id).await?;
    }
    row.filter(|p| p.payer_account_id == user.account_id.to_string())
        .ok_or(ApiError::NotFound("payment_not_found"))
}

/// The declaration `id` of `user`'s business (not found for any other business's).
pub async fn declaration_of(
    state: &AppState,
    business: &Business,
    id: &str,
) -> Result<projections::declarations::DeclarationRow, ApiError> {
    let not_found = || ApiError::NotFound("declaration_not_found");
    if id.len() > 40 || !id.starts_with(&format!("{}-", business.afm)) {
        return Err(not_found());
    }
    let mut row = projections::declarations::get(&state.pool, id).await?;
    if row.is_none() {
        state.wait_for_log_head().await?;
        row = projections::declarations::get(&state.pool, id).await?;
    }
    row.filter(|r| r.afm == business.afm).ok_or_else(not_found)
}

/// The business `afm`'s timeline and payments (newest first, at most 500 of each), once
/// the read models have reached the log head (a payment may have just been settled).
pub async fn business_history(
    state: &AppState,
    afm: &str,
) -> Result<
    (
        Vec<projections::business::TimelineEntry>,
        Vec<projections::business::BusinessPayment>,
    ),
    ApiError,
> {
    state.wait_for_log_head().await?;
    Ok(projections::business::history(
        &state.pool,
        afm,
        &commands::business::BUSINESS_OBLIGATION_KINDS,
        500,
    )
    .await?)
}
