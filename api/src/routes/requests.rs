//! Citizens' and visitors' side of requests (S1, S3, S4): submit, list, read, track,
//! reopen.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use commands::requests::{self, tracking_code_sha256, Submission};
use projections::requests as read;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{CurrentUser, MaybeUser};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{
    position_header, wait_for_log_head, wait_for_own_writes, CaseId, RequestContext,
};
use crate::i18n::Lang;
use crate::labels::{labelled_case, labelled_timeline};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    pub kind: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub desired_action: Option<String>,
    /// A category's service code (`GET /api/v1/request-categories`).
    pub category: Option<String>,
    pub address: Option<String>,
    /// Degrees (WGS 84), inside the municipality's area; both or neither.
    pub lat: Option<f64>,
    pub long: Option<f64>,
    /// Answers to the category's attributes, by attribute code.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// `POST /api/v1/requests`: a named submission with a session, an anonymous one without.
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
    let mut answer = json!({
        "id": submitted.id,
        "number": submitted.number,
        "kind": submitted.kind.as_str(),
        "status": "submitted",
        "position": submitted.position.to_string(),
    });
    if let Some(code) = submitted.tracking_code {
        answer["tracking_code"] = json!(code);
    }
    Ok((
        StatusCode::CREATED,
        position_header(submitted.position),
        Json(answer),
    ))
}

/// `after` and `limit` of a list that pages by keyset.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/my/requests?after=&limit=`: the citizen's own cases, newest first, a page at
/// a time (`next` is the `after` of the next page; `null` on the last).
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
    Ok(Json(json!({ "items": items, "next": cases.next })))
}

/// `GET /api/v1/my/requests/{id}`: one of the citizen's cases with its timeline. Another
/// citizen's case answers 404, exactly like a missing one.
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
    Ok(Json(json!({
        "case": labelled_case(&case, lang),
        "timeline": labelled_timeline(&timeline, lang),
    })))
}

/// `GET /api/v1/requests/track/{code}`: an anonymous case by its private tracking code.
/// Shows status, answer and timeline, but not who handled it.
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
    Ok(Json(json!({
        "case": labelled_case(&case, lang),
        "timeline": labelled_timeline(&timeline, lang),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReopenBody {
    reason: Option<String>,
}

/// `POST /api/v1/my/requests/{id}/reopen`: the citizen reopens a closed case, once.
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
        Json(json!({"id": id, "status": "reopened", "position": executed.position.to_string()})),
    ))
}

/// `GET /api/v1/request-categories`: the categories a request may carry (with their
/// questions) and the municipality's area, in the reader's language. Public.
pub async fn categories(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let lang = Lang::from_headers(&headers);
    let pick = |el: &str, en: &str| match lang {
        Lang::El => el.to_string(),
        Lang::En => en.to_string(),
    };
    let requests = &state.config.municipality.requests;
    let items: Vec<_> = requests
        .categories
        .iter()
        .map(|c| {
            let attributes: Vec<_> = c
                .attributes
                .iter()
                .map(|a| {
                    let values: Vec<_> = a
                        .values
                        .iter()
                        .map(|v| json!({"key": v.key, "name": pick(&v.name_el, &v.name_en)}))
                        .collect();
                    json!({
                        "code": a.code,
                        "datatype": a.datatype.as_str(),
                        "required": a.required,
                        "description": pick(&a.description_el, &a.description_en),
                        "values": values,
                    })
                })
                .collect();
            json!({
                "service_code": c.service_code,
                "name": pick(&c.name_el, &c.name_en),
                "group": pick(&c.group_el, &c.group_en),
                "keywords": c.keywords,
                "deadline_days": c.deadline_days,
                "attributes": attributes,
            })
        })
        .collect();
    let area = &requests.area;
    Json(json!({
        "items": items,
        "area": {"min_lat": area.min_lat, "max_lat": area.max_lat,
                 "min_long": area.min_long, "max_long": area.max_long},
    }))
}
