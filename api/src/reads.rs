//! Reads that the JSON API and the pages share: one record of the read models, found for
//! the user who asks (not found for anyone else), after waiting for the read models to
//! reach the log head when it is not there yet (it may have just been written).

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
