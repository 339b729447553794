//! Reads that the JSON API and the pages share: one record of the read models, found for
//! the user who asks (not found for anyone else), after waiting for the read models to
//! reach the log head when it is not there yet (it may have just been written).

use commands::tax_debts::{self, DebtItem};
use domain::certification::Business;
use domain::tax_debt::{tax_debt_id, DebtPortalState};
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
        state.wait_for_log_head(projections::PAYMENT_READS).await?;
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
        state
            .wait_for_log_head(projections::DECLARATION_READS)
            .await?;
        row = projections::declarations::get(&state.pool, id).await?;
    }
    row.filter(|r| r.afm == business.afm).ok_or_else(not_found)
}

/// A page of the business `afm`'s timeline and a page of its payments (each list pages
/// by its own cursor), read once the business read models have reached the log head.
pub async fn business_history(
    state: &AppState,
    afm: &str,
    timeline: &projections::paging::PageRequest,
    payments: &projections::paging::PageRequest,
) -> Result<
    (
        projections::paging::Paged<projections::business::TimelineEntry>,
        projections::paging::Paged<projections::business::BusinessPayment>,
    ),
    ApiError,
> {
    state.wait_for_log_head(projections::BUSINESS_READS).await?;
    let entries = projections::business::timeline_page(&state.pool, afm, timeline).await?;
    let paid = projections::business::payments_page(
        &state.pool,
        afm,
        &commands::business::BUSINESS_OBLIGATION_KINDS,
        payments,
    )
    .await?;
    Ok((entries, paid))
}

/// The certified debts of the business `user` represents, as the revenue system answers
/// them today, each with the portal's side of it (a payment open, or paid here) from the
/// `tax_debts` read model, read once it and the payments have reached the log head (the
/// payer may be just back from the bank), as the list shows them ([`DebtItem::listed`]).
pub async fn business_debts(
    state: &AppState,
    user: &CurrentUser,
) -> Result<(Business, Vec<DebtItem>), ApiError> {
    let (business, debts) = tax_debts::certified_debts(&state.portal, &user.actor()).await?;
    state
        .portal
        .wait_for_head_of(projections::TAX_DEBT_READS)
        .await?;
    let rows = projections::tax_debts::of_business(&state.pool, &business.afm).await?;
    let now = state.portal.now();
    let items = DebtItem::list(debts, |id| {
        rows.iter()
            .find(|r| r.id == id)
            .map(|row| row.portal_state(now))
    });
    Ok((business, items))
}

/// Debt `debt_id` of the business `user` represents, as [`business_debts`] shows each.
pub async fn business_debt(
    state: &AppState,
    user: &CurrentUser,
    debt_id: &str,
) -> Result<DebtItem, ApiError> {
    let (_, debt) = tax_debts::certified_debt(&state.portal, &user.actor(), debt_id).await?;
    state
        .portal
        .wait_for_head_of(projections::TAX_DEBT_READS)
        .await?;
    let row =
        projections::tax_debts::get(&state.pool, &tax_debt_id(&debt.afm, &debt.debt_id)).await?;
    let portal = row
        .map(|row| row.portal_state(state.portal.now()))
        .unwrap_or(DebtPortalState::None);
    Ok(DebtItem::new(debt, portal))
}

/// A page of the refused payment notices (newest first) for clerk `user`, and the cursor
/// of the next page.
pub async fn refused_notices(
    state: &AppState,
    user: &CurrentUser,
    page: &projections::paging::PageRequest,
) -> Result<
    (
        Vec<commands::refused_notices::RefusedNotice>,
        Option<String>,
    ),
    ApiError,
> {
    use projections::paging::Cursor;
    let after = page
        .after
        .as_ref()
        .and_then(|c| Some((c.time(0)?, c.text(1)?.to_string())));
    let found =
        commands::refused_notices::list(state, &user.actor(), after.as_ref(), page.limit).await?;
    let next = found
        .next
        .map(|(at, id)| Cursor(vec![Cursor::at(&at), id]).encode());
    Ok((found.items, next))
}

/// A page of the event log's streams that match an auditor's search (auditors and
/// administrators only; each wrong field a 422 naming it), read once the streams' read
/// model has reached the log head.
pub async fn audit_streams(
    state: &AppState,
    user: &CurrentUser,
    fields: &domain::audit::StreamSearchFields<'_>,
    page: &projections::paging::PageRequest,
) -> Result<projections::paging::Paged<projections::audit_index::StreamListing>, ApiError> {
    commands::audit::require_auditor(&user.actor())?;
    let search = domain::audit::StreamSearch::parse(fields).map_err(ApiError::Validation)?;
    state.wait_for_log_head(projections::AUDIT_READS).await?;
    Ok(projections::audit_index::search(&state.pool, &search, page).await?)
}
