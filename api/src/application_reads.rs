//! Reads of certificate applications that the JSON API and the pages share: an
//! applicant's own application, an application for staff (each after the reader's own
//! writes, and after the log head when it is not there yet), and the clerks' queue filter.

use axum::http::HeaderMap;
use domain::account::STAFF;
use domain::application::{ApplicationKind, ApplicationStatus};
use projections::applications as read;

use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::http::{wait_for_log_head, wait_for_own_writes};
use crate::AppState;

/// One application of the user (404 for anyone else's, exactly like a missing one).
pub async fn own_application(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: &str,
) -> Result<(read::ApplicationRow, Vec<read::ApplicationTimelineEntry>), ApiError> {
    wait_for_own_writes(state, Some(user), headers, projections::APPLICATION_READS).await?;
    let mut row = read::get(&state.pool, id).await?;
    if row.is_none() {
        wait_for_log_head(state, projections::APPLICATION_READS).await?;
        row = read::get(&state.pool, id).await?;
    }
    let row = row
        .filter(|r| r.applicant_account_id == user.account_id.to_string())
        .ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, id).await?;
    Ok((row, timeline))
}

/// An application for staff.
pub async fn staff_application(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: &str,
) -> Result<(read::ApplicationRow, Vec<read::ApplicationTimelineEntry>), ApiError> {
    user.require(STAFF)?;
    wait_for_own_writes(state, Some(user), headers, projections::APPLICATION_READS).await?;
    let mut row = read::get(&state.pool, id).await?;
    if row.is_none() {
        wait_for_log_head(state, projections::APPLICATION_READS).await?;
        row = read::get(&state.pool, id).await?;
    }
    let row = row.ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, id).await?;
    Ok((row, timeline))
}

/// The clerks' queue filter from its query (API and pages); "overdue" means past due on
/// `today`.
pub fn queue_filter(
    status: Option<&str>,
    kind: Option<&str>,
    protocol: Option<&str>,
    overdue: Option<&str>,
    today: chrono::NaiveDate,
) -> Result<read::QueueFilter, ApiError> {
    let mut errors = Vec::new();
    let status = status
        .filter(|s| !s.is_empty())
        .and_then(|s| FieldError::collect("status", ApplicationStatus::parse(s), &mut errors))
        .map(|s| s.as_str().to_string());
    let kind = kind
        .filter(|s| !s.is_empty())
        .and_then(|s| FieldError::collect("kind", ApplicationKind::parse(s), &mut errors))
        .map(|k| k.as_str().to_string());
    let protocol_failing = match protocol {
        None | Some("") => false,
        Some("failing") => true,
        Some(_) => {
            errors.push(FieldError::new("protocol", "filter_invalid"));
            false
        }
    };
    let overdue = match overdue {
        None | Some("" | "0" | "false" | "no") => false,
        Some("1" | "true" | "yes") => true,
        Some(_) => {
            errors.push(FieldError::new("overdue", "filter_invalid"));
            false
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(read::QueueFilter {
        status,
        kind,
        protocol_failing,
        overdue_on: overdue.then_some(today),
        page: projections::paging::PageRequest {
            after: None,
            limit: projections::paging::DEFAULT_LIMIT,
        },
    })
}
