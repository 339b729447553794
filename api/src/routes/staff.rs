//! The clerks' side of requests (S5): the queue and the actions on a case.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use commands::requests::{self, ActionFields};
use domain::request::{RequestKind, RequestStatus};
use projections::requests as read;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{
    position_header, wait_for_log_head, wait_for_own_writes, CaseId, RequestContext,
};
use crate::i18n::Lang;
use crate::labels::{labelled_case, labelled_timeline, CaseWithTimeline, Labelled};
use crate::AppState;

pub use domain::account::STAFF;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// Any status; empty means any (as an HTML form sends it).
    #[param(schema_with = status_or_empty)]
    status: Option<String>,
    /// Any kind; empty means any (as an HTML form sends it).
    #[param(schema_with = kind_or_empty)]
    kind: Option<String>,
    /// A category's service code; unknown: 422 `category_unknown`.
    #[param(max_length = 40)]
    category: Option<String>,
    /// From 1; smaller values count as 1.
    #[param(default = 1)]
    page: Option<i64>,
    /// Rows per page; any integer is taken, clamped to 1–200 (so no bound is declared).
    #[param(default = 50)]
    per_page: Option<i64>,
    /// Keyset paging: the `next` of the previous page (opaque). Absent: the first page.
    /// Anything that is not such a cursor: 400 `cursor_invalid`.
    #[param(max_length = 1000)]
    after: Option<String>,
}

/// `schema` or the empty string. (utoipa leaves out a parameter's description beside
/// `schema_with`, so the schema carries it.)
fn or_empty(schema: &str, description: &str) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
    Schema::AnyOf(
        AnyOfBuilder::new()
            .description(Some(description))
            .item(utoipa::openapi::Ref::from_schema_name(schema))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([""])),
            )
            .build(),
    )
}

fn status_or_empty() -> utoipa::openapi::schema::Schema {
    or_empty(
        "RequestStatus",
        "Any status; empty means any (as an HTML form sends it).",
    )
}

fn kind_or_empty() -> utoipa::openapi::schema::Schema {
    or_empty(
        "RequestKind",
        "Any kind; empty means any (as an HTML form sends it).",
    )
}

/// A page of the clerks' queue.
#[derive(Serialize, ToSchema)]
pub struct StaffQueue {
    /// Oldest first.
    items: Vec<Labelled<read::CaseSummary>>,
    /// How many cases match the filter in all.
    total: i64,
    /// Cases of the filtered kind (all kinds without `kind`) per status; statuses with none
    /// are absent.
    counts_by_status: std::collections::BTreeMap<String, i64>,
    page: i64,
    per_page: i64,
    /// The `after` of the next page; `null` on the last page.
    #[schema(required)]
    next: Option<String>,
}

/// The case as the read model shows it after the act. The answer waits (up to
/// PORTAL_READ_WAIT_MS) for the read model to reach `position`; if it does not, `case` may
/// not show the act yet.
#[derive(Serialize, ToSchema)]
pub struct StaffActionAnswer {
    #[schema(required)]
    case: Option<Labelled<read::CaseDetail>>,
    /// Its position in the log's commit order: `<transaction id>.<global position>`.
    #[schema(pattern = r"^[0-9]+\.[0-9]+$")]
    position: String,
}

/// `GET /api/v1/staff/requests?status=&kind=&after=&per_page=`: oldest first, a page at a
/// time (`next`: the `after` of the next page). `page` (by offset) still works.
#[utoipa::path(
    get,
    path = "/api/v1/staff/requests",
    operation_id = "staffQueue",
    tag = "staff",
    summary = "The clerks' queue",
    description = "Every case (named and anonymous), oldest first, filtered by status and kind, paged. Waits (bounded) for the read model to reach the head of the log, so it shows what has been submitted up to now. Roles: clerk, admin. Pages by keyset with `after` (the `next` of the previous page); `page` (by offset) still works and is ignored when `after` is given.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(QueueQuery, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "A page of the queue.", body = StaffQueue),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`status`: `status_invalid`; `kind`: `kind_invalid`).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
    Ok(Json(StaffQueue {
        items,
        total: result.total,
        counts_by_status: result.counts_by_status,
        page,
        per_page,
        next: result.next,
    }))
}

/// `GET /api/v1/staff/stats`: the clerks' dashboard (issue 16) — cases and applications
/// per status and per category, those past their deadline, answer times per month,
/// payments per day.
#[utoipa::path(
    get,
    path = "/api/v1/staff/stats",
    operation_id = "getStaffStats",
    tag = "staff",
    summary = "The clerks' dashboard: cases and applications per status and category, overdue ones, answer times, payments per day",
    description = "The figures of the page `/staff/dashboard`, read from the `dashboard` read model (built for them) once it has reached the log's head. Labels in the reader's language. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The figures.", body = crate::dashboard::Stats),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/staff/stats.csv",
    operation_id = "downloadStaffStatsCsv",
    tag = "staff",
    summary = "The same figures as a CSV file for Greek Excel (UTF-8 with BOM, `;`, CRLF, decimal comma; rows `figure;key;label;value`), as an attachment",
    description = "Figures: `requests_by_status`, `requests_by_category`, `applications_by_status`, `applications_by_type` (key: the code), `overdue_requests_days` and `overdue_applications_days` (key: `days_1_7`, `days_8_30`, `days_over_30`), `answered`, `answer_median_days`, `answer_p90_days` (key: the month `YYYY-MM`), `payments`, `payments_amount` in euros (key: the day). Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "`Content-Disposition: attachment; filename=\"dashboard-{YYYY-MM-DD}.csv\"`", body = String, content_type = "text/csv"),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/staff/requests/{id}",
    operation_id = "staffCase",
    tag = "staff",
    summary = "A case with its timeline, for staff",
    description = "Any case, with the names of the submitter and of the clerks. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::CaseId, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The case.", body = CaseWithTimeline),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
    Ok(Json(CaseWithTimeline {
        case: labelled_case(&case, lang),
        timeline: labelled_timeline(&timeline, lang),
    }))
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
        Json(StaffActionAnswer {
            case: case.as_ref().map(|c| labelled_case(c, lang)),
            position: executed.position.to_string(),
        }),
    ))
}

/// `POST …/review`: take the case into review (assigns it to the clerk).
#[utoipa::path(
    post,
    path = "/api/v1/staff/requests/{id}/review",
    operation_id = "reviewRequest",
    tag = "staff",
    summary = "Take a case into review",
    description = "Assigns the case to the clerk; allowed for a `submitted` or `reopened` case. No body. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::CaseId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "Done: the case after the act.", body = StaffActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write."))),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 422, description = "A business rule's refusal. Codes: `case_closed`, `review_not_allowed`.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/staff/requests/{id}/answer",
    operation_id = "answerRequest",
    tag = "staff",
    summary = "Answer a case",
    description = "Records the municipality's answer (shown to the citizen) and sets the status to `answered`. Allowed while the case is not closed. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::CaseId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = AnswerBody, example = json!({"text": "Το συνεργείο του Δήμου θα επισκευάσει την οδό έως την Παρασκευή."})),
    responses(
        (status = 200, description = "Done: the case after the act.", body = StaffActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write."))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`text`: `answer_required`, `answer_too_long`, `answer_control_chars`). A business rule's refusal answers its own top-level code instead: `case_closed`.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/staff/requests/{id}/status",
    operation_id = "changeRequestStatus",
    tag = "staff",
    summary = "Change a case's status",
    description = "To `in_review`, `in_progress` or `on_hold`; the case must have been taken into review first. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::CaseId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = StatusBody, example = json!({"status": "in_progress"})),
    responses(
        (status = 200, description = "Done: the case after the act.", body = StaffActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write."))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`status`: `status_invalid`). A business rule's refusal answers its own top-level code instead: `status_not_settable` (also named in `fields` on `status`), `status_unchanged` (also named in `fields` on `status`), `review_first`, `case_closed`.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/staff/requests/{id}/protocol",
    operation_id = "registerRequestInProtocol",
    tag = "staff",
    summary = "Register a case in the protocol system",
    description = "Calls the protocol system (PORTAL_PROTOCOL_URL, or the in-process sandbox) with the idempotency key `CitizenRequest:<id>`, and records the protocol number and date, which the citizen then sees. No body. Not retried automatically: when the system is unavailable the clerk gets 503 and tries again later. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::CaseId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "Done: the case after the act.", body = StaffActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write."))),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 422, description = "A business rule's refusal. Codes: `case_closed`, `already_protocolled`, `protocol_rejected`.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "The protocol system is unreachable, timed out (PORTAL_PROTOCOL_TIMEOUT_MS) or answered 5xx. Nothing was recorded. Codes: `protocol_unavailable`.", body = crate::error::ErrorBody, examples(("protocol_unavailable" = (value = json!({"error": {"code": "protocol_unavailable", "message": "Το σύστημα πρωτοκόλλου δεν είναι διαθέσιμο αυτή τη στιγμή. Δοκιμάστε ξανά αργότερα.", "fields": []}}))))),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/staff/requests/{id}/close",
    operation_id = "closeRequest",
    tag = "staff",
    summary = "Close a case with a reason",
    description = "Allowed in any status but `closed`. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::CaseId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = CloseBody, example = json!({"reason": "not_competent", "note": "Διαβιβάστηκε στην Περιφέρεια Αττικής."})),
    responses(
        (status = 200, description = "Done: the case after the act.", body = StaffActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write."))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`reason`: `close_reason_invalid`; `note`: `note_too_long`, `note_control_chars`). A business rule's refusal answers its own top-level code instead: `close_note_required` (also named in `fields` on `note`), `case_already_closed`.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The municipality's answer, shown to the citizen (errors use the `answer_*` codes on
    /// field `text`).
    #[schema(required, value_type = String, min_length = 1, max_length = 10000)]
    text: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    #[schema(required, value_type = SettableStatus)]
    status: Option<String>,
}

/// The statuses a clerk may set with `/status`; the others follow from their own act
/// (submit, answer, close, reopen).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum SettableStatus {
    InReview,
    InProgress,
    OnHold,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    #[schema(required, value_type = domain::request::CloseReason)]
    reason: Option<String>,
    /// Required for every reason but `done` (422 `close_note_required`). Empty or blank
    /// counts as absent.
    #[schema(max_length = 1000)]
    note: Option<String>,
}
