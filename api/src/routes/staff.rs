//! The clerks' side of requests (S5): the queue and the actions on a case.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use commands::requests::{self, ActionFields};
use domain::request::{RequestKind, RequestStatus};
use projections::requests as read;
use serde::Deserialize;
use serde_json::json;

use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{
    position_header, wait_for_log_head, wait_for_own_writes, CaseId, RequestContext,
};
use crate::i18n::Lang;
use crate::labels::{labelled_case, labelled_timeline};
use crate::AppState;

pub use domain::account::STAFF;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    status: Option<String>,
    kind: Option<String>,
    /// A category's service code.
    category: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
    after: Option<String>,
}

/// `GET /api/v1/staff/requests?status=&kind=&after=&per_page=`: oldest first, a page at a
/// time (`next`: the `after` of the next page). `page` (by offset) still works.
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
        .and_then(|s| FieldError::collect("status", RequestStatus::parse(&s), &mut errors));
    let kind = query
        .kind
        .filter(|s| !s.is_empty())
        .and_then(|s| FieldError::collect("kind", RequestKind::parse(&s), &mut errors));
    let category = query.category.filter(|c| !c.is_empty());
    if let Some(c) = &category {
        if state.config.municipality.requests.find(c).is_none() {
            errors.push(FieldError::new("category", "category_unknown"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    wait_for_own_writes(&state, Some(&user), &headers, projections::REQUEST_READS).await?;
    // The queue is about everyone's writes: let it show what the log holds right now.
    wait_for_log_head(&state, projections::REQUEST_READS).await?;
    let per_page = query.per_page.unwrap_or(50).clamp(1, 200);
    let (page, offset) = crate::http::page_offset(query.page, per_page)?;
    let after = crate::http::page_request(
        query.after.as_deref(),
        Some(1),
        projections::paging::TIME_THEN_TEXT,
    )?
    .after;
    let filter = read::QueueFilter {
        status: status.map(|s| s.as_str().to_string()),
        kind: kind.map(|k| k.as_str().to_string()),
        category,
        limit: per_page,
        offset,
        after,
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
        "next": result.next,
    })))
}

/// `GET /api/v1/staff/stats`: the clerks' dashboard (issue 16) — cases and applications
/// per status and per category, those past their deadline, answer times per month,
/// payments per day.
pub async fn stats(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Json<crate::dashboard::Stats>, ApiError> {
    user.require(STAFF)?;
    Ok(Json(
        crate::dashboard::load(&state, Lang::from_headers(&headers)).await?,
    ))
}

/// `GET /api/v1/staff/stats.csv`: the same figures as a CSV file.
pub async fn stats_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    user.require(STAFF)?;
    let stats = crate::dashboard::load(&state, Lang::from_headers(&headers)).await?;
    Ok(crate::dashboard::csv_response(&stats))
}

/// `GET /api/v1/staff/requests/{id}`: a case with its timeline, for staff.
pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    wait_for_own_writes(&state, Some(&user), &headers, projections::REQUEST_READS).await?;
    // Clerks act on each other's cases: show what the log holds right now, as the queue.
    wait_for_log_head(&state, projections::REQUEST_READS).await?;
    let case = read::detail(&state.pool, &id)
        .await?
        .ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, &id).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(json!({
        "case": labelled_case(&case, lang),
        "timeline": labelled_timeline(&timeline, lang),
    })))
}

/// `POST /api/v1/staff/requests/{id}/{action}`: runs the action and answers the case's
/// new state.
async fn act(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    headers: &HeaderMap,
    id: &str,
    action: &str,
    fields: ActionFields,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    let actor = user.actor();
    let command = requests::clerk_command(state, action, &actor, &fields)?;
    let executed = requests::act(state, &actor, context.metadata(Some(user)), id, command).await?;
    // The answer reads the case back from the request read models.
    state
        .progress
        .wait_for(
            projections::REQUEST_READS,
            executed.position,
            state.config.read_wait,
        )
        .await;
    let lang = Lang::from_headers(headers);
    let case = read::detail(&state.pool, id).await?;
    Ok((
        position_header(executed.position),
        Json(json!({
            "case": case.as_ref().map(|c| labelled_case(c, lang)),
            "position": executed.position.to_string(),
        })),
    ))
}

/// `POST …/review`: take the case into review (assigns it to the clerk).
pub async fn review(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    act(
        &state,
        &user,
        &context,
        &headers,
        &id,
        "review",
        ActionFields::default(),
    )
    .await
}

/// `POST …/answer` `{"text"}`: the municipality's answer, shown to the citizen.
pub async fn answer(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    headers: HeaderMap,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<impl IntoResponse, ApiError> {
    let fields = ActionFields {
        text: body.text,
        ..Default::default()
    };
    act(&state, &user, &context, &headers, &id, "answer", fields).await
}

/// `POST …/status` `{"status"}`: one of in_review, in_progress, on_hold.
pub async fn change_status(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    headers: HeaderMap,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<impl IntoResponse, ApiError> {
    let fields = ActionFields {
        status: body.status,
        ..Default::default()
    };
    act(&state, &user, &context, &headers, &id, "status", fields).await
}

/// `POST …/protocol`: register the case in the protocol system.
pub async fn protocol(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    act(
        &state,
        &user,
        &context,
        &headers,
        &id,
        "protocol",
        ActionFields::default(),
    )
    .await
}

/// `POST …/close` `{"reason", "note"}`: done | not_competent | duplicate | rejected.
pub async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    headers: HeaderMap,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<impl IntoResponse, ApiError> {
    let fields = ActionFields {
        reason: body.reason,
        note: body.note,
        ..Default::default()
    };
    act(&state, &user, &context, &headers, &id, "close", fields).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    reason: Option<String>,
    note: Option<String>,
}
