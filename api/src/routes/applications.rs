//! Certificate applications (issue 4: S7–S9, S15): the applicant's side (apply, list,
//! read, answer a question, download the issued document) and the clerks' side (queue,
//! review, ask for information, issue, reject, register in the protocol system now).
//! The JSON face of `commands::applications`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use commands::applications::{self, ApplicationForm, ClerkAction};
use domain::account::STAFF;
use domain::application::{ApplicationKind, ApplicationStatus};
use projections::applications as read;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::application_reads::{own_application, queue_filter, staff_application};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{
    document_response, position_header, wait_for_log_head, wait_for_own_writes, CaseId,
    RequestContext,
};
use crate::i18n::Lang;
use crate::labels::{labelled_application, labelled_application_timeline};
use crate::AppState;

// ---------------------------------------------------------------------------------------
// The applicant
// ---------------------------------------------------------------------------------------

/// The form of «Νέα Αίτηση» (civil registry) and «Νέο Αίτημα ΤΑΠ».
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    pub kind: Option<String>,
    pub certificate_type: Option<String>,
    pub property_address: Option<String>,
    pub supply_number: Option<String>,
    /// m², as text (`"85,50"`) or a JSON number (`85.5`).
    #[serde(default, deserialize_with = "text_or_number")]
    pub area: Option<String>,
    pub kaek: Option<String>,
    pub text: Option<String>,
    pub delivery: Option<String>,
    pub postal_address: Option<String>,
}

/// A field that may come as text or as a JSON number; kept as text for the value type.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|raw| match raw {
        Raw::Text(t) => t,
        Raw::Number(n) => n.to_string(),
    }))
}

/// `POST /api/v1/applications`.
pub async fn apply(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    ApiJson(body): ApiJson<ApplyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let form = ApplicationForm {
        kind: body.kind,
        certificate_type: body.certificate_type,
        property_address: body.property_address,
        supply_number: body.supply_number,
        area: body.area,
        kaek: body.kaek,
        text: body.text,
        delivery: body.delivery,
        postal_address: body.postal_address,
    };
    let applied =
        applications::apply(&state, &user.actor(), context.metadata(Some(&user)), form).await?;
    Ok((
        StatusCode::CREATED,
        position_header(applied.position),
        Json(json!({
            "id": applied.id,
            "number": applied.number,
            "status": ApplicationStatus::Submitted.as_str(),
            "due_on": applied.due_on,
            "protocol_number": applied.protocol_number,
            "protocol_date": applied.protocol_date,
            "protocol_pending": applied.protocol_number.is_none(),
            "position": applied.position.to_string(),
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    kind: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/my/applications?kind=civil_registry|tap&after=&limit=`: newest first, a page
/// at a time (`next`: the `after` of the next page).
pub async fn my_list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let kind = match query.kind.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            ApplicationKind::parse(raw)
                .map_err(|r| ApiError::Validation(vec![ApiError::field("kind", &r)]))?,
        ),
    };
    let page = crate::http::page_request(
        query.after.as_deref(),
        query.limit,
        projections::paging::TIME_THEN_TEXT,
    )?;
    wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::APPLICATION_READS,
    )
    .await?;
    let lang = Lang::from_headers(&headers);
    let rows = read::list_for_applicant(
        &state.pool,
        &user.account_id.to_string(),
        kind.map(|k| k.as_str()),
        &page,
    )
    .await?;
    let today = state.portal.today();
    let items: Vec<Value> = rows
        .items
        .iter()
        .map(|r| labelled_application(r, lang, today))
        .collect();
    Ok(Json(json!({ "items": items, "next": rows.next })))
}

/// `GET /api/v1/my/applications/{id}`.
pub async fn my_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    let (row, timeline) = own_application(&state, &user, &headers, &id).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(json!({
        "application": labelled_application(&row, lang, state.portal.today()),
        "timeline": labelled_application_timeline(&timeline, lang),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    pub reply: Option<String>,
}

/// `POST /api/v1/my/applications/{id}/reply`.
pub async fn reply(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let executed = applications::reply(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &id,
        body.reply.as_deref(),
    )
    .await?;
    Ok((
        position_header(executed.position),
        Json(json!({"id": id, "status": "in_review", "position": executed.position.to_string()})),
    ))
}

/// `GET /api/v1/my/applications/{id}/document`: the issued certificate (PDF).
pub async fn my_document(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<Response, ApiError> {
    let (row, _) = own_application(&state, &user, &headers, &id).await?;
    document_response(&state, &row).await
}

// ---------------------------------------------------------------------------------------
// Clerks
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    status: Option<String>,
    kind: Option<String>,
    /// `failing`: only applications whose protocol registration has failed so far.
    protocol: Option<String>,
    /// `1`: only applications past their deadline.
    overdue: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/staff/applications?status=&kind=&protocol=failing&overdue=1&after=&limit=`:
/// oldest deadline first, a page at a time (`next`: the `after` of the next page).
pub async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<QueueQuery>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    // One "today" for the whole answer: the filter, the counts and each row's flag.
    let today = state.portal.today();
    let mut filter = queue_filter(
        query.status.as_deref(),
        query.kind.as_deref(),
        query.protocol.as_deref(),
        query.overdue.as_deref(),
        today,
    )?;
    filter.page = crate::http::page_request(
        query.after.as_deref(),
        query.limit,
        projections::paging::DATE_TIME_TEXT,
    )?;
    wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::APPLICATION_READS,
    )
    .await?;
    wait_for_log_head(&state, projections::APPLICATION_READS).await?;
    let rows = read::queue(&state.pool, &filter).await?;
    let counts = read::queue_counts(&state.pool, today).await?;
    let lang = Lang::from_headers(&headers);
    let items: Vec<Value> = rows
        .items
        .iter()
        .map(|r| labelled_application(r, lang, today))
        .collect();
    Ok(Json(
        json!({ "items": items, "counts": counts, "next": rows.next }),
    ))
}

/// `GET /api/v1/staff/applications/{id}`.
pub async fn staff_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    let (row, timeline) = staff_application(&state, &user, &headers, &id).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(json!({
        "application": labelled_application(&row, lang, state.portal.today()),
        "timeline": labelled_application_timeline(&timeline, lang),
    })))
}

/// `GET /api/v1/staff/applications/{id}/document`.
pub async fn staff_document(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<Response, ApiError> {
    let (row, _) = staff_application(&state, &user, &headers, &id).await?;
    document_response(&state, &row).await
}

/// The `X-Filename` header: UTF-8, raw or percent-encoded (`%CF%80…`), as clients send it.
fn header_filename(raw: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match (
            raw[i],
            raw.get(i + 1).and_then(|&h| hex(h)),
            raw.get(i + 2).and_then(|&l| hex(l)),
        ) {
            (b'%', Some(h), Some(l)) => {
                bytes.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `…/request-information`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct QuestionBody {
    pub question: Option<String>,
}

/// `…/reject`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub reason: Option<String>,
}

/// `…/issue` as JSON (post / in person).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IssueNoteBody {
    pub note: Option<String>,
}

/// Runs a clerk's action for `user`.
async fn act(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    id: &str,
    action: ClerkAction,
) -> Result<commands::Executed, ApiError> {
    let metadata = context.metadata(Some(user));
    Ok(applications::act(state, &user.actor(), metadata, id, action).await?)
}

async fn answer_action(
    state: &AppState,
    id: &str,
    executed: commands::Executed,
) -> Result<Response, ApiError> {
    let current = applications::application(state, id).await?;
    Ok((
        position_header(executed.position),
        Json(json!({
            "id": id,
            "status": current.status.map(|s| s.as_str()),
            "protocol_number": current.protocol_number,
            "protocol_date": current.protocol_date,
            "protocol_attempts": current.protocol_attempts,
            "position": executed.position.to_string(),
        })),
    )
        .into_response())
}

/// `POST /api/v1/staff/applications/{id}/review`.
pub async fn review(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
) -> Result<Response, ApiError> {
    let executed = act(&state, &user, &context, &id, ClerkAction::Review).await?;
    answer_action(&state, &id, executed).await
}

/// `POST /api/v1/staff/applications/{id}/request-information` (`{"question"}`).
pub async fn request_information(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<QuestionBody>,
) -> Result<Response, ApiError> {
    let action = ClerkAction::RequestInformation {
        question: body.question,
    };
    let executed = act(&state, &user, &context, &id, action).await?;
    answer_action(&state, &id, executed).await
}

/// `POST /api/v1/staff/applications/{id}/reject` (`{"reason"}`).
pub async fn reject(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Response, ApiError> {
    let action = ClerkAction::Reject {
        reason: body.reason,
    };
    let executed = act(&state, &user, &context, &id, action).await?;
    answer_action(&state, &id, executed).await
}

/// `POST /api/v1/staff/applications/{id}/issue`: `Content-Type: application/pdf` with the
/// certificate as the body (electronic delivery; the file name in `X-Filename`), or JSON
/// `{"note"}` (post / in person).
pub async fn issue(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest {
                code: "malformed_json",
                detail: e.body_text(),
            }
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let action = if content_type.starts_with("application/pdf") {
        let filename = headers
            .get("x-filename")
            .map(|v| header_filename(v.as_bytes()))
            .unwrap_or_else(|| "certificate.pdf".to_string());
        ClerkAction::IssueDocument {
            filename,
            bytes: body.into(),
        }
    } else if content_type.starts_with("application/json") {
        let parsed: IssueNoteBody = if body.iter().all(u8::is_ascii_whitespace) {
            IssueNoteBody::default()
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                if e.to_string().contains("unknown field") {
                    ApiError::BadRequest {
                        code: "unknown_field",
                        detail: e.to_string(),
                    }
                } else {
                    ApiError::BadRequest {
                        code: "malformed_json",
                        detail: e.to_string(),
                    }
                }
            })?
        };
        ClerkAction::IssueWithoutDocument { note: parsed.note }
    } else {
        return Err(ApiError::UnsupportedMediaType);
    };
    let executed = act(&state, &user, &context, &id, action).await?;
    answer_action(&state, &id, executed).await
}

/// `POST /api/v1/staff/applications/{id}/protocol`: attempt the registration now. An
/// attempt the protocol system did not answer is recorded (and retried in the background)
/// but answers 503, like the requests' "register in protocol".
pub async fn protocol(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
) -> Result<Response, ApiError> {
    let executed =
        applications::register_now(&state, &user.actor(), context.metadata(Some(&user)), &id)
            .await?;
    let current = applications::application(&state, &id).await?;
    if current.protocol_number.is_none() {
        // The attempt is recorded (and retried in the background); say why it failed.
        let refused = projections::applications::timeline(&state.pool, &id)
            .await?
            .last()
            .is_some_and(|e| e.details.get("refused") == Some(&Value::Bool(true)));
        return Err(ApiError::Refused(if refused {
            domain::Refusal::rule(
                "protocol_rejected",
                "the protocol system refused the document; it is retried later",
            )
        } else {
            domain::Refusal::unavailable(
                "protocol_unavailable",
                "the protocol system did not register the application; it is retried later",
            )
        }));
    }
    answer_action(&state, &id, executed).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greek_file_names_survive_the_header_both_ways() {
        assert_eq!(header_filename("γέννηση.pdf".as_bytes()), "γέννηση.pdf");
        assert_eq!(header_filename(b"%CE%B3.pdf"), "γ.pdf");
        assert_eq!(header_filename(b"100%.pdf"), "100%.pdf");
    }
}
