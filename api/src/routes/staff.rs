//! The clerks' side of requests (S5): the queue and the actions on a case.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use domain::request::{CloseReason, RequestCommand, RequestKind, RequestStatus};
use domain::values::{AnswerText, Note};
use projections::requests as read;
use serde::Deserialize;
use serde_json::json;

use super::requests::field;
use super::{
    labelled_case, labelled_timeline, position_header, wait_for_log_head, wait_for_own_writes,
    CaseId, RequestContext,
};
use crate::auth::{self, CurrentUser, Role};
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiQuery};
use crate::i18n::Lang;
use crate::AppState;

const STAFF: &[Role] = &[Role::Clerk, Role::Admin];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    status: Option<String>,
    kind: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// `GET /api/v1/staff/requests?status=&kind=&page=&per_page=`: oldest first.
pub async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<QueueQuery>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    let mut errors = Vec::new();
    let status = query
        .status
        .filter(|s| !s.is_empty())
        .and_then(|s| field("status", RequestStatus::parse(&s), &mut errors));
    let kind = query
        .kind
        .filter(|s| !s.is_empty())
        .and_then(|s| field("kind", RequestKind::parse(&s), &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    // The queue is about everyone's writes: let it show what the log holds right now.
    wait_for_log_head(&state).await?;
    let per_page = query.per_page.unwrap_or(50).clamp(1, 200);
    let page = query.page.unwrap_or(1).max(1);
    let filter = read::QueueFilter {
        status: status.map(|s| s.as_str().to_string()),
        kind: kind.map(|k| k.as_str().to_string()),
        limit: per_page,
        offset: (page - 1) * per_page,
    };
    let result = read::staff_queue(&state.pool, &filter).await?;
    let lang = Lang::from_headers(&headers);
    let items: Vec<_> = result
        .items
        .iter()
        .map(|c| labelled_case(c, lang))
        .collect();
    Ok(Json(json!({
        "items": items,
        "total": result.total,
        "counts_by_status": result.counts_by_status,
        "page": page,
        "per_page": per_page,
    })))
}

/// `GET /api/v1/staff/requests/{id}`: a case with its timeline, for staff.
pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    let mut case = read::detail(&state.pool, &id).await?;
    if case.is_none() {
        wait_for_log_head(&state).await?;
        case = read::detail(&state.pool, &id).await?;
    }
    let case = case.ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, &id).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(json!({
        "case": labelled_case(&case, lang),
        "timeline": labelled_timeline(&timeline, lang),
    })))
}

/// Runs a clerk's command and answers the case's new state.
async fn act(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    id: &str,
    command: RequestCommand,
) -> Result<impl IntoResponse, ApiError> {
    let executed = state
        .requests
        .execute(id, command, context.metadata(Some(user)))
        .await?;
    auth::record_write(&state.pool, user, executed.position).await?;
    state
        .progress
        .wait_for(
            projections::REQUEST_READS,
            executed.position,
            state.config.read_wait,
        )
        .await;
    let case = read::detail(&state.pool, id).await?;
    Ok((
        position_header(executed.position),
        Json(json!({"case": case, "position": executed.position.to_string()})),
    ))
}

/// `POST …/review`: take the case into review (assigns it to the clerk).
pub async fn review(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    let command = RequestCommand::TakeIntoReview {
        clerk: user.staff_member(),
        at: Utc::now(),
    };
    act(&state, &user, &context, &id, command).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    text: Option<String>,
}

/// `POST …/answer` `{"text"}`: the municipality's answer, shown to the citizen.
pub async fn answer(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    let text = AnswerText::parse(body.text.as_deref().unwrap_or(""))
        .map_err(|r| ApiError::Validation(vec![FieldError::new("text", r.code)]))?;
    let command = RequestCommand::Answer {
        clerk: user.staff_member(),
        text,
        at: Utc::now(),
    };
    act(&state, &user, &context, &id, command).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    status: Option<String>,
}

/// `POST …/status` `{"status"}`: one of in_review, in_progress, on_hold.
pub async fn change_status(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    let status = RequestStatus::parse(body.status.as_deref().unwrap_or(""))
        .map_err(|r| ApiError::Validation(vec![FieldError::new("status", r.code)]))?;
    let command = RequestCommand::ChangeStatus {
        clerk: user.staff_member(),
        status,
        at: Utc::now(),
    };
    act(&state, &user, &context, &id, command).await
}

/// `POST …/protocol`: register the case in the protocol system.
pub async fn protocol(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    let command = RequestCommand::RegisterInProtocol {
        clerk: user.staff_member(),
        at: Utc::now(),
    };
    act(&state, &user, &context, &id, command).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    reason: Option<String>,
    note: Option<String>,
}

/// `POST …/close` `{"reason", "note"}`: done | not_competent | duplicate | rejected.
pub async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    let mut errors = Vec::new();
    let reason = field(
        "reason",
        CloseReason::parse(body.reason.as_deref().unwrap_or("")),
        &mut errors,
    );
    let note = match body.note.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => field("note", Note::parse(raw), &mut errors),
    };
    let Some(reason) = reason else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let command = RequestCommand::Close {
        clerk: user.staff_member(),
        reason,
        note,
        at: Utc::now(),
    };
    act(&state, &user, &context, &id, command).await
}
