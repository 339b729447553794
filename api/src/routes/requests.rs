//! Citizens' and visitors' side of requests (S1, S3, S4): submit, list, read, track,
//! reopen.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use commands::requests::{self, tracking_code_sha256, Submission};
use projections::paging::Paged;
use projections::requests as read;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{CurrentUser, MaybeUser};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{
    position_header, wait_for_log_head, wait_for_own_writes, CaseId, RequestContext,
};
use crate::i18n::Lang;
use crate::labels::{labelled_case, labelled_timeline, CaseWithTimeline, Labelled};
use crate::AppState;

/// With a session: a named submission, and `kind` is required (`request`, `complaint` or
/// `proposal`). Without a session: an anonymous Αίτημα – Σχόλιο; `kind` may be omitted or
/// `comment`, any other kind answers 422 `kind_anonymous_is_comment`. Text is trimmed;
/// lengths count characters (Greek and Latin alike). A missing or `null` field counts as
/// empty.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// Required with a session; without one, omitted or `null` means `comment`.
    #[schema(value_type = Option<domain::request::RequestKind>)]
    pub kind: Option<String>,
    /// One line (no control characters).
    #[schema(required, value_type = String, min_length = 1, max_length = 200)]
    pub subject: Option<String>,
    /// Line breaks and tabs kept; other control characters refused.
    #[schema(required, value_type = String, min_length = 1, max_length = 5000)]
    pub text: Option<String>,
    /// Optional (Επιθυμητή ενέργεια). Empty or blank counts as absent.
    #[schema(max_length = 2000)]
    pub desired_action: Option<String>,
    /// A category's service code (`GET /api/v1/request-categories`); unknown: 422
    /// `category_unknown`. Needed when `attributes` are given.
    pub category: Option<String>,
    /// Where, as typed (one line).
    #[schema(max_length = 200)]
    pub address: Option<String>,
    /// Latitude in WGS 84 degrees; with `long`, inside the municipality's area (422
    /// `location_outside_area`).
    #[schema(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Longitude in WGS 84 degrees; with `lat`.
    #[schema(minimum = -180, maximum = 180)]
    pub long: Option<f64>,
    /// Answers to the category's questions, by attribute code: required ones must be
    /// answered (`attribute_required`), a list's answer is one of its keys
    /// (`attribute_invalid`), an unknown code is `attribute_unknown`; errors name the field
    /// `attribute[{code}]`.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// What a submission stored.
#[derive(Serialize, ToSchema)]
pub struct SubmitAnswer {
    /// The case id.
    id: String,
    /// Α.Α.: sequential per year (the year in Europe/Athens). Numbers are never reused, but
    /// gaps are possible.
    #[schema(pattern = r"^[0-9]{4}/[0-9]{6,}$", examples("2026/000123"))]
    number: String,
    kind: domain::request::RequestKind,
    #[schema(inline)]
    status: Submitted,
    /// Its position in the log's commit order: `<transaction id>.<global position>`; send it
    /// back as `X-Portal-Position` to read your own write.
    #[schema(pattern = r"^[0-9]+\.[0-9]+$", examples("810.1"))]
    position: String,
    /// Only for an anonymous submission: the private code that shows the case's status at
    /// `/api/v1/requests/track/{code}`. Only its SHA-256 is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = r"^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$",
        examples("F4T5-JG8K-UTZ6")
    )]
    tracking_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Submitted {
    Submitted,
}

/// `POST /api/v1/requests`: a named submission with a session, an anonymous one without.
#[utoipa::path(
    post,
    path = "/api/v1/requests",
    operation_id = "submitRequest",
    tag = "requests",
    summary = "Submit a case (named or anonymous)",
    description = "With a session (any role): a named Αίτημα/Καταγγελία/Πρόταση. Without one: an anonymous Αίτημα – Σχόλιο, answered with a private `tracking_code`. A session that is presented but invalid or expired answers 401 (it is not treated as anonymous). The answer is sent after the event has been committed.",
    security((), ("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId, crate::openapi::IdempotencyKey),
    request_body(content = SubmitBody, examples(("named" = (value = json!({"kind": "complaint", "subject": "Λακκούβα στην οδό Ερμού", "text": "Μεγάλη λακκούβα μπροστά στο νούμερο 10.\nΕίναι επικίνδυνη.", "desired_action": "Να επισκευαστεί."}))), ("anonymous" = (value = json!({"subject": "Φωτισμός στο πάρκο", "text": "Δεν ανάβουν τα φώτα στο πάρκο της πλατείας."}))), ("with_place" = (value = json!({"kind": "complaint", "subject": "Σβηστός φανοστάτης", "text": "Ο φανοστάτης έξω από το 12 είναι σβηστός.", "category": "street_light", "address": "Ερμού 12", "lat": 37.9755, "long": 23.7348, "attributes": {"lamp_post_number": "ΦΣ-118"}}))))),
    responses(
        (status = 201, description = "Stored.", body = SubmitAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), examples(("named" = (value = json!({"id": "fb8814a6-2172-488c-a147-1eca18773d54", "number": "2026/000001", "kind": "complaint", "status": "submitted", "position": "810.1"}))), ("anonymous" = (value = json!({"id": "87d286ed-2634-407d-91d3-82176ca5b724", "number": "2026/000002", "kind": "comment", "status": "submitted", "position": "813.2", "tracking_code": "F4T5-JG8K-UTZ6"}))))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`forbidden` (the role may not), or `cross_site_request` (sent with the session cookie from another site).", body = crate::error::ErrorBody),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`kind`: `kind_required`, `kind_invalid`; `subject`: `subject_required`, `subject_too_long`, `subject_control_chars`; `text`: `text_required`, `text_too_long`, `text_control_chars`; `desired_action`: `desired_action_too_long`, `desired_action_control_chars`). A business rule's refusal answers its own top-level code instead: `kind_comment_is_anonymous` (also named in `fields` on `kind`), `kind_anonymous_is_comment` (also named in `fields` on `kind`).", body = crate::error::ErrorBody, examples(("validation_failed" = (value = json!({"error": {"code": "validation_failed", "message": "Some fields need correcting. See the message beside each field.", "fields": [{"field": "kind", "code": "kind_invalid", "message": "The kind must be request, complaint or proposal; anonymous submissions are comments (comment)."}, {"field": "subject", "code": "subject_required", "message": "Enter the subject."}]}}))), ("kind_anonymous_is_comment" = (value = json!({"error": {"code": "kind_anonymous_is_comment", "message": "Η ανώνυμη υποβολή είναι πάντα «Αίτημα – Σχόλιο». Για Αίτημα, Καταγγελία ή Πρόταση συνδεθείτε.", "fields": []}}))))),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    context: RequestContext,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<impl IntoResponse, ApiError> {
    let submission = Submission {
        kind: body.kind,
        subject: body.subject,
        text: body.text,
        desired_action: body.desired_action,
        place: domain::request::PlaceInput {
            category: body.category,
            address: body.address,
            lat: body.lat.map(|v| v.to_string()),
            long: body.long.map(|v| v.to_string()),
            attributes: body.attributes,
        },
        category_required: false,
    };
    let actor = user.as_ref().map(CurrentUser::actor);
    let submitted = requests::submit(
        &state,
        actor.as_ref(),
        context.metadata(user.as_ref()),
        submission,
    )
    .await?;
    let answer = SubmitAnswer {
        id: submitted.id.to_string(),
        number: submitted.number.to_string(),
        kind: submitted.kind,
        status: Submitted::Submitted,
        position: submitted.position.to_string(),
        tracking_code: submitted.tracking_code,
    };
    Ok((
        StatusCode::CREATED,
        position_header(submitted.position),
        Json(answer),
    ))
}

/// `after` and `limit` of a list that pages by keyset.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Keyset paging: the `next` of the previous page (opaque). Absent: the first page.
    /// Anything that is not such a cursor: 400 `cursor_invalid`.
    #[param(max_length = 1000)]
    pub after: Option<String>,
    /// Rows per page, 1 to 100 (default 20); else 400 `limit_out_of_range`.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/my/requests?after=&limit=`: the citizen's own cases, newest first, a page at
/// a time (`next` is the `after` of the next page; `null` on the last).
#[utoipa::path(
    get,
    path = "/api/v1/my/requests",
    operation_id = "listMyRequests",
    tag = "requests",
    summary = "«Τα αιτήματά μου»: the user's own cases",
    description = "Newest first, with status and protocol data. Waits (bounded) for the session's own latest write, so a case just submitted is listed.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(ListQuery, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The cases.", body = Paged<Labelled<read::CaseSummary>>),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn my_list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = crate::http::page_request(
        query.after.as_deref(),
        query.limit,
        projections::paging::TIME_THEN_TEXT,
    )?;
    wait_for_own_writes(&state, Some(&user), &headers, projections::REQUEST_READS).await?;
    let lang = Lang::from_headers(&headers);
    let cases = read::list_for_owner(&state.pool, &user.account_id.to_string(), &page).await?;
    let items: Vec<_> = cases.items.iter().map(|c| labelled_case(c, lang)).collect();
    Ok(Json(Paged {
        items,
        next: cases.next,
    }))
}

/// `GET /api/v1/my/requests/{id}`: one of the citizen's cases with its timeline. Another
/// citizen's case answers 404, exactly like a missing one.
#[utoipa::path(
    get,
    path = "/api/v1/my/requests/{id}",
    operation_id = "getMyRequest",
    tag = "requests",
    summary = "One of the user's cases with its status history",
    description = "Subject, text, desired action, the municipality's answer, protocol number and date, closing reason, and the timeline. Another user's case answers 404 exactly like a missing one.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::CaseId, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The case.", body = CaseWithTimeline),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn my_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    wait_for_own_writes(&state, Some(&user), &headers, projections::REQUEST_READS).await?;
    let owner = user.account_id.to_string();
    let mut case = read::detail_for_owner(&state.pool, &id, &owner).await?;
    if case.is_none() {
        wait_for_log_head(&state, projections::REQUEST_READS).await?;
        case = read::detail_for_owner(&state.pool, &id, &owner).await?;
    }
    let case = case.ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, &id).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(CaseWithTimeline {
        case: labelled_case(&case, lang),
        timeline: labelled_timeline(&timeline, lang),
    }))
}

/// `GET /api/v1/requests/track/{code}`: an anonymous case by its private tracking code.
/// Shows status, answer and timeline, but not who handled it.
#[utoipa::path(
    get,
    path = "/api/v1/requests/track/{code}",
    operation_id = "trackAnonymous",
    tag = "requests",
    summary = "Track an anonymous case by its tracking code",
    description = "Case, status, answer, protocol data and timeline; who handled it is left out (`assigned_to_name` and every `actor_name` are null). Case, spaces and dashes in the code do not matter.",
    security(()),
    params(("code" = String, Path), crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The case.", body = CaseWithTimeline),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn track(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    wait_for_own_writes(&state, None, &headers, projections::REQUEST_READS).await?;
    let hash = tracking_code_sha256(&code);
    let mut case = read::detail_by_tracking_code(&state.pool, &hash).await?;
    if case.is_none() {
        wait_for_log_head(&state, projections::REQUEST_READS).await?;
        case = read::detail_by_tracking_code(&state.pool, &hash).await?;
    }
    let mut case = case.ok_or(ApiError::NotFound("case_not_found"))?;
    case.assigned_to_name = None;
    let timeline: Vec<_> = read::timeline(&state.pool, &case.id)
        .await?
        .into_iter()
        .map(|mut entry| {
            entry.actor_name = None;
            entry
        })
        .collect();
    let lang = Lang::from_headers(&headers);
    Ok(Json(CaseWithTimeline {
        case: labelled_case(&case, lang),
        timeline: labelled_timeline(&timeline, lang),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenBody {
    /// Why the case should be reopened (errors use the `note_*` codes on field `reason`).
    #[schema(required, value_type = String, min_length = 1, max_length = 1000)]
    reason: Option<String>,
}

/// A reopened case.
#[derive(Serialize, ToSchema)]
pub struct ReopenAnswer {
    id: String,
    #[schema(inline)]
    status: Reopened,
    /// Its position in the log's commit order: `<transaction id>.<global position>`.
    #[schema(pattern = r"^[0-9]+\.[0-9]+$")]
    position: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Reopened {
    Reopened,
}

/// `POST /api/v1/my/requests/{id}/reopen`: the citizen reopens a closed case, once.
#[utoipa::path(
    post,
    path = "/api/v1/my/requests/{id}/reopen",
    operation_id = "reopenMyRequest",
    tag = "requests",
    summary = "Reopen a closed case (once)",
    description = "Only the citizen who filed the case, only when it is closed, and only once. Anyone else (any role) gets 404.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::CaseId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = ReopenBody, example = json!({"reason": "Η λακκούβα άνοιξε ξανά."})),
    responses(
        (status = 200, description = "Reopened.", body = ReopenAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"id": "fb8814a6-2172-488c-a147-1eca18773d54", "status": "reopened", "position": "834.8"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`forbidden` (the role may not), or `cross_site_request` (sent with the session cookie from another site).", body = crate::error::ErrorBody),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`reason`: `note_required`, `note_too_long`, `note_control_chars`). A business rule's refusal answers its own top-level code instead: `reopen_not_closed`, `reopen_only_once`.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn reopen(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<ReopenBody>,
) -> Result<impl IntoResponse, ApiError> {
    let executed = requests::reopen(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &id,
        body.reason.as_deref(),
    )
    .await?;
    Ok((
        position_header(executed.position),
        Json(ReopenAnswer {
            id,
            status: Reopened::Reopened,
            position: executed.position.to_string(),
        }),
    ))
}

/// The categories a request may carry and the municipality's area.
#[derive(Serialize, ToSchema)]
pub struct Categories {
    items: Vec<Category>,
    area: Area,
}

/// A category of request (GeoReport's service), in the reader's language.
#[derive(Serialize, ToSchema)]
pub struct Category {
    service_code: String,
    name: String,
    group: String,
    keywords: Vec<String>,
    /// Days the municipality has to answer.
    #[schema(minimum = 1)]
    deadline_days: u32,
    attributes: Vec<Attribute>,
}

/// A question of a category.
#[derive(Serialize, ToSchema)]
pub struct Attribute {
    code: String,
    #[schema(value_type = Datatype, inline)]
    datatype: &'static str,
    required: bool,
    description: String,
    /// A list's answers (empty for the other datatypes).
    values: Vec<AttributeValue>,
}

/// A question's datatype (its documentation: `AttributeType::as_str` writes it).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum Datatype {
    String,
    Number,
    Text,
    Singlevaluelist,
}

/// One answer of a list.
#[derive(Serialize, ToSchema)]
pub struct AttributeValue {
    key: String,
    name: String,
}

/// The municipality's area: a point of a request must be inside it.
#[derive(Serialize, ToSchema)]
pub struct Area {
    min_lat: f64,
    max_lat: f64,
    min_long: f64,
    max_long: f64,
}

/// `GET /api/v1/request-categories`: the categories a request may carry (with their
/// questions) and the municipality's area, in the reader's language. Public.
#[utoipa::path(
    get,
    path = "/api/v1/request-categories",
    operation_id = "listRequestCategories",
    tag = "requests",
    summary = "The categories a request may carry, with their questions, and the municipality's area",
    description = "Public. Names in the reader's language (`Accept-Language`).",
    security(),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The categories.", body = Categories),
        (status = 500, response = crate::openapi::Internal),
    )
)]
pub async fn categories(State(state): State<AppState>, headers: HeaderMap) -> Json<Categories> {
    let lang = Lang::from_headers(&headers);
    let pick = |el: &str, en: &str| match lang {
        Lang::El => el.to_string(),
        Lang::En => en.to_string(),
    };
    let requests = &state.config.municipality.requests;
    let items = requests
        .categories
        .iter()
        .map(|c| Category {
            service_code: c.service_code.clone(),
            name: pick(&c.name_el, &c.name_en),
            group: pick(&c.group_el, &c.group_en),
            keywords: c.keywords.clone(),
            deadline_days: c.deadline_days,
            attributes: c
                .attributes
                .iter()
                .map(|a| Attribute {
                    code: a.code.clone(),
                    datatype: a.datatype.as_str(),
                    required: a.required,
                    description: pick(&a.description_el, &a.description_en),
                    values: a
                        .values
                        .iter()
                        .map(|v| AttributeValue {
                            key: v.key.clone(),
                            name: pick(&v.name_el, &v.name_en),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let area = &requests.area;
    Json(Categories {
        items,
        area: Area {
            min_lat: area.min_lat,
            max_lat: area.max_lat,
            min_long: area.min_long,
            max_long: area.max_long,
        },
    })
}
