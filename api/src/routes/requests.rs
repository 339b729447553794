//! Citizens' and visitors' side of requests (S1, S3, S4): submit, list, read, track,
//! reopen.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use domain::request::{RequestCommand, RequestKind, Submitter};
use domain::values::{CaseText, DesiredAction, Note, Subject};
use projections::requests as read;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    labelled_case, labelled_timeline, position_header, wait_for_log_head, wait_for_own_writes,
    CaseId, RequestContext,
};
use crate::auth::{self, CurrentUser, MaybeUser};
use crate::error::{ApiError, FieldError};
use crate::extract::ApiJson;
use crate::i18n::Lang;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    pub kind: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub desired_action: Option<String>,
}

/// Collects a field's parse result, remembering the refusal as a field error.
pub(crate) fn field<T>(
    name: &str,
    result: Result<T, domain::Refusal>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(refusal) => {
            errors.push(ApiError::field(name, &refusal));
            None
        }
    }
}

/// A tracking code: 12 characters without look-alikes (no 0/O, 1/I/L), grouped by four.
fn new_tracking_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The SHA-256 of a tracking code as typed: case, spaces and dashes do not matter.
pub fn tracking_code_sha256(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// A submission that went through.
pub struct Submitted {
    pub id: String,
    pub number: String,
    pub kind: RequestKind,
    pub position: eventlog::Position,
    /// Only for anonymous submissions: shown once, never stored in clear.
    pub tracking_code: Option<String>,
}

/// `POST /api/v1/requests`: a named submission with a session, an anonymous one without.
pub async fn submit(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    context: RequestContext,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<impl IntoResponse, ApiError> {
    let submitted = submit_case(&state, user.as_ref(), &context, body).await?;
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

/// Validates and files a submission (the API and the pages share it). A named one needs
/// a kind; an anonymous one is a comment and gets a tracking code.
pub async fn submit_case(
    state: &AppState,
    user: Option<&CurrentUser>,
    context: &RequestContext,
    body: SubmitBody,
) -> Result<Submitted, ApiError> {
    let mut errors = Vec::new();
    let kind = match (&user, body.kind.as_deref()) {
        (Some(_), None) => {
            errors.push(FieldError::new("kind", "kind_required"));
            None
        }
        (None, None) => Some(RequestKind::Comment),
        (_, Some(raw)) => field("kind", RequestKind::parse(raw), &mut errors),
    };
    let subject = field(
        "subject",
        Subject::parse(body.subject.as_deref().unwrap_or("")),
        &mut errors,
    );
    let text = field(
        "text",
        CaseText::parse(body.text.as_deref().unwrap_or("")),
        &mut errors,
    );
    let desired_action = match body.desired_action.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => field("desired_action", DesiredAction::parse(raw), &mut errors),
    };
    let (Some(kind), Some(subject), Some(text)) = (kind, subject, text) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let tracking_code = user.is_none().then(new_tracking_code);
    let submitter = match (user, &tracking_code) {
        (Some(u), _) => Submitter::Citizen {
            account_id: u.account_id.to_string(),
            name: u.full_name.clone(),
        },
        (None, Some(code)) => Submitter::Anonymous {
            tracking_code_sha256: tracking_code_sha256(code),
        },
        (None, None) => unreachable!("a visitor always gets a tracking code"),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let number = commands::case_numbers::next_case_number(&state.pool).await?;
    let executed = state
        .requests
        .execute(
            &id,
            RequestCommand::Submit {
                id: id.clone(),
                number,
                kind,
                subject,
                text,
                desired_action,
                submitter,
                at: Utc::now(),
            },
            context.metadata(user),
        )
        .await?;
    if let Some(u) = user {
        auth::record_write(&state.pool, u, executed.position).await?;
    }
    Ok(Submitted {
        id,
        number: number.to_string(),
        kind,
        position: executed.position,
        tracking_code,
    })
}

/// `GET /api/v1/my/requests`: the citizen's own cases, newest first.
pub async fn my_list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    let lang = Lang::from_headers(&headers);
    let items: Vec<_> = read::list_for_owner(&state.pool, &user.account_id.to_string())
        .await?
        .iter()
        .map(|c| labelled_case(c, lang))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v1/my/requests/{id}`: one of the citizen's cases with its timeline. Another
/// citizen's case answers 404, exactly like a missing one.
pub async fn my_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    let owner = user.account_id.to_string();
    let mut case = read::detail_for_owner(&state.pool, &id, &owner).await?;
    if case.is_none() {
        wait_for_log_head(&state).await?;
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
    wait_for_own_writes(&state, None, &headers).await?;
    let hash = tracking_code_sha256(&code);
    let mut case = read::detail_by_tracking_code(&state.pool, &hash).await?;
    if case.is_none() {
        wait_for_log_head(&state).await?;
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
    let executed = reopen_case(&state, &user, &context, &id, body.reason.as_deref()).await?;
    Ok((
        position_header(executed.position),
        Json(json!({"id": id, "status": "reopened", "position": executed.position.to_string()})),
    ))
}

/// The citizen who filed a closed case reopens it, saying why (the API and the pages).
pub async fn reopen_case(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    id: &str,
    reason: Option<&str>,
) -> Result<commands::Executed, ApiError> {
    let reason = Note::parse(reason.unwrap_or(""))
        .map_err(|r| ApiError::Validation(vec![FieldError::new("reason", r.code)]))?;
    let executed = state
        .requests
        .execute(
            id,
            RequestCommand::Reopen {
                account_id: user.account_id.to_string(),
                reason,
                at: Utc::now(),
            },
            context.metadata(Some(user)),
        )
        .await?;
    auth::record_write(&state.pool, user, executed.position).await?;
    Ok(executed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_codes_are_grouped_and_typed_loosely() {
        let code = new_tracking_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        let loose = code.to_lowercase().replace('-', " ");
        assert_eq!(tracking_code_sha256(&code), tracking_code_sha256(&loose));
    }
}
