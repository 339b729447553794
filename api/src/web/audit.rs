//! Pages for auditors: a form to pick a case, the case's events as stored (with their
//! metadata, payloads and hashes) and the verdict of its hash-chain verification, and
//! the case's state as of any event. The data comes from the same functions as the JSON
//! API's (`crate::audit`), so the pages and the API cannot disagree.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use domain::values::CaseNumber;
use serde::Deserialize;
use serde_json::Value;

use super::cases::{error_page, MessagePage};
use super::login_redirect;
use super::{render, FormState, Page};
use crate::audit::{self, stream_id};
use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::i18n;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit_form))
        .route("/audit/cases/{id}", get(case_events))
        .route("/audit/cases/{id}/state", get(case_state))
}

/// The auditor (or admin) an audit page is for; a login for a visitor, 403 for anyone else.
fn auditor(p: &Page) -> Result<CurrentUser, Box<Response>> {
    match &p.user {
        None => Err(Box::new(login_redirect(p))),
        Some(u) if p.is_auditor() => Ok(u.user.clone()),
        Some(_) => Err(Box::new(error_page(p.clone(), ApiError::Forbidden))),
    }
}

/// A stored time as an auditor reads it, to the second, in Athens time.
fn athens_seconds(at: &DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Athens)
        .format("%d/%m/%Y %H:%M:%S")
        .to_string()
}

fn text_of(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "audit_form.html")]
struct FormPage {
    p: Page,
    form: FormState,
}

#[derive(Deserialize)]
struct FormQuery {
    case: Option<String>,
}

async fn audit_form(p: Page, Query(q): Query<FormQuery>) -> Response {
    if let Err(response) = auditor(&p) {
        return *response;
    }
    let Some(raw) = q.case else {
        return render(&FormPage {
            p,
            form: FormState::new(),
        });
    };
    let raw = raw.trim();
    let code = if raw.is_empty() {
        "ui_audit_case_required"
    } else {
        match stream_id(raw) {
            Ok(id) => return Redirect::to(&format!("/audit/cases/{id}")).into_response(),
            Err(_) => "ui_audit_case_invalid",
        }
    };
    let mut form = FormState::with_values([("case", raw)]);
    form.add_error(p.lang, &FieldError::new("case", code));
    let mut response = render(&FormPage { p, form });
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

// ---------------------------------------------------------------------------------------
// A case's events and the chain verification
// ---------------------------------------------------------------------------------------

/// One stored event as the events table shows it.
struct EventRow {
    sequence: i64,
    event_type: String,
    /// The event in words, when it has a title (`timeline_<type>`).
    title: String,
    version: String,
    recorded: String,
    recorded_iso: String,
    role: String,
    actor_id: String,
    client_ip: String,
    correlation_id: String,
    payload: String,
    hash: String,
    prev_hash: String,
}

/// The verification's verdict in words.
struct Verification {
    valid: bool,
    events_checked: i64,
    broken_at: Option<i64>,
    problem: String,
    head_hash: String,
}

#[derive(Template)]
#[template(path = "audit_case.html")]
struct EventsPage {
    p: Page,
    id: String,
    number: String,
    aggregate_type: String,
    events: Vec<EventRow>,
    verification: Verification,
}

fn event_rows(p: &Page, events: &[Value]) -> Vec<EventRow> {
    events
        .iter()
        .map(|e| {
            let metadata = e.get("metadata").cloned().unwrap_or(Value::Null);
            let role = text_of(&metadata, "role");
            let role_key = format!("ui_role_{role}");
            let event_type = text_of(e, "type");
            let title_key = format!("timeline_{event_type}");
            let recorded_at = e
                .get("recorded_at")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc));
            EventRow {
                sequence: e.get("sequence").and_then(Value::as_i64).unwrap_or(0),
                title: if i18n::has_message(&title_key) {
                    p.t(&title_key)
                } else {
                    String::new()
                },
                event_type,
                version: text_of(e, "version"),
                recorded: recorded_at.as_ref().map(athens_seconds).unwrap_or_default(),
                recorded_iso: recorded_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                role: if i18n::has_message(&role_key) {
                    format!("{} ({role})", p.t(&role_key))
                } else {
                    role
                },
                actor_id: text_of(&metadata, "actor_id"),
                client_ip: text_of(&metadata, "client_ip"),
                correlation_id: text_of(&metadata, "correlation_id"),
                payload: e
                    .get("payload")
                    .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                    .unwrap_or_default(),
                hash: text_of(e, "hash"),
                prev_hash: text_of(e, "prev_hash"),
            }
        })
        .collect()
}

/// Why the chain broke, in the reader's language (the domain says it in English).
fn problem_in_words(p: &Page, problem: &str) -> String {
    let key = if problem.contains("missing") {
        "ui_audit_problem_missing"
    } else if problem.contains("previous event") {
        "ui_audit_problem_link"
    } else if problem.contains("content") {
        "ui_audit_problem_content"
    } else {
        return problem.to_string();
    };
    format!("{} ({problem})", p.t(key))
}

async fn case_events(State(state): State<AppState>, p: Page, Path(raw): Path<String>) -> Response {
    let user = match auditor(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match stream_id(&raw) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    let loaded = async {
        let events = audit::events(&state, &user, &id).await?;
        let verdict = audit::verify(&state, &user, &id).await?;
        Ok::<_, ApiError>((events, verdict))
    }
    .await;
    let (events, verdict) = match loaded {
        Ok(found) => found,
        Err(e) => return error_page(p, e),
    };
    let list = events
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let number = list
        .first()
        .and_then(|e| e.pointer("/payload/data/number"))
        .and_then(|n| serde_json::from_value::<CaseNumber>(n.clone()).ok())
        .map(|n| n.to_string())
        .unwrap_or_default();
    let verification = Verification {
        valid: verdict.get("valid").and_then(Value::as_bool) == Some(true),
        events_checked: verdict
            .get("events_checked")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        broken_at: verdict.get("first_broken_sequence").and_then(Value::as_i64),
        problem: problem_in_words(&p, &text_of(&verdict, "problem")),
        head_hash: text_of(&verdict, "head_hash"),
    };
    let aggregate_type = text_of(&events, "aggregate_type");
    let events = event_rows(&p, &list);
    render(&EventsPage {
        aggregate_type,
        p,
        id,
        number,
        events,
        verification,
    })
}

// ---------------------------------------------------------------------------------------
// A case's state as of an event
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "audit_state.html")]
struct StatePage {
    p: Page,
    id: String,
    sequence: i64,
    state: String,
}

#[derive(Deserialize)]
struct StateQuery {
    sequence: Option<String>,
}

async fn case_state(
    State(state): State<AppState>,
    p: Page,
    Path(raw): Path<String>,
    Query(q): Query<StateQuery>,
) -> Response {
    let user = match auditor(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match stream_id(&raw) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    let answer = audit::state(&state, &user, &id, q.sequence.as_deref()).await;
    let folded = match answer {
        Ok(folded) => folded,
        Err(ApiError::Validation(fields)) => {
            // A sequence that is not a positive number: say so, not "see the fields".
            let message = fields
                .first()
                .map(|f| p.t(&f.code))
                .unwrap_or_else(|| p.t("validation_failed"));
            let title = p.t("ui_status_422");
            let mut response = render(&MessagePage { p, title, message });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return response;
        }
        Err(e) => return error_page(p, e),
    };
    render(&StatePage {
        p,
        id,
        sequence: folded.get("sequence").and_then(Value::as_i64).unwrap_or(0),
        state: folded
            .get("state")
            .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_times_are_athens_time_to_the_second() {
        let at = DateTime::parse_from_rfc3339("2026-07-01T09:05:07Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(athens_seconds(&at), "01/07/2026 12:05:07");
    }
}
