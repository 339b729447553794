//! Pages for auditors: a form to pick a case, the case's events as stored (with their
//! metadata, payloads and hashes) and the verdict of its hash-chain verification, and
//! the case's state as of any event. The data comes from the same functions as the JSON
//! API's (`commands::audit`), so the pages and the API cannot disagree.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use commands::audit::{self, stream_id, AuditEvent};
use serde::Deserialize;

use super::cases::{error_page, MessagePage};
use super::login_redirect;
use super::{render, FormState, Page};
use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::i18n;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit_form))
        .route("/audit/cases/{id}", get(case_events))
        .route("/audit/cases/{id}/state", get(case_state))
        .route("/audit/staff", get(staff_page))
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
    open311_client: String,
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

fn event_rows(p: &Page, events: &[AuditEvent]) -> Vec<EventRow> {
    events
        .iter()
        .map(|e| {
            let actor = e.actor();
            let role_key = format!("ui_role_{}", actor.role);
            let title_key = format!("timeline_{}", e.event_type);
            EventRow {
                sequence: e.sequence,
                title: if i18n::has_message(&title_key) {
                    p.t(&title_key)
                } else {
                    String::new()
                },
                event_type: e.event_type.clone(),
                version: e.version.clone(),
                recorded: athens_seconds(&e.recorded_at),
                recorded_iso: e.recorded_at.to_rfc3339(),
                role: if i18n::has_message(&role_key) {
                    format!("{} ({})", p.t(&role_key), actor.role)
                } else {
                    actor.role
                },
                actor_id: actor.actor_id,
                client_ip: actor.client_ip.unwrap_or_default(),
                open311_client: actor.open311_client.unwrap_or_default(),
                correlation_id: actor.correlation_id,
                payload: serde_json::to_string_pretty(&e.payload).unwrap_or_default(),
                hash: e.hash.clone().unwrap_or_default(),
                prev_hash: e.prev_hash.clone().unwrap_or_default(),
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
        Err(e) => return error_page(p, e.into()),
    };
    let actor = user.actor();
    let loaded = async {
        let events = audit::events(&state, &actor, &id).await?;
        let verdict = audit::verify(&state, &actor, &id).await?;
        Ok::<_, ApiError>((events, verdict))
    }
    .await;
    let (case, verdict) = match loaded {
        Ok(found) => found,
        Err(e) => return error_page(p, e),
    };
    let number = case
        .case_number()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let verdict = verdict.verdict;
    let verification = Verification {
        valid: verdict.valid,
        events_checked: verdict.events_checked as i64,
        broken_at: verdict.first_broken_sequence,
        problem: problem_in_words(&p, verdict.problem.as_deref().unwrap_or("")),
        head_hash: verdict.head_hash.unwrap_or_default(),
    };
    let aggregate_type = case.aggregate_type.clone();
    let events = event_rows(&p, &case.events);
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
        Err(e) => return error_page(p, e.into()),
    };
    let answer = audit::state(&state, &user.actor(), &id, q.sequence.as_deref())
        .await
        .map_err(ApiError::from);
    let folded = match answer {
        Ok(folded) => folded,
        Err(ApiError::Validation(fields)) => {
            // A sequence that is not a positive number: say so, not "see the fields".
            let message = fields
                .first()
                .map(|f| p.t(&f.code))
                .unwrap_or_else(|| p.t("validation_failed"));
            let title = p.t("ui_status_422");
            let mut response = render(&MessagePage {
                p,
                title,
                message,
                back: None,
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return response;
        }
        Err(e) => return error_page(p, e),
    };
    render(&StatePage {
        p,
        id,
        sequence: folded.sequence,
        state: serde_json::to_string_pretty(&folded.state).unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------------------
// Staff accounts and their changes
// ---------------------------------------------------------------------------------------

struct StaffRow {
    email: String,
    name: String,
    role: String,
    disabled: bool,
    state: String,
    created: String,
}

struct ChangeRow {
    at: String,
    email: String,
    change: String,
    detail: String,
    by: String,
}

#[derive(Template)]
#[template(path = "audit_staff.html")]
struct StaffPage {
    p: Page,
    staff: Vec<StaffRow>,
    changes: Vec<ChangeRow>,
}

async fn staff_page(State(state): State<AppState>, p: Page) -> Response {
    let user = match auditor(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let loaded = async {
        let changes = commands::accounts::staff_changes(&state, &user.actor()).await?;
        let staff = commands::accounts::staff(&state.pool).await?;
        Ok::<_, commands::accounts::AccountError>((staff, changes))
    }
    .await;
    let (staff, changes) = match loaded {
        Ok(found) => found,
        Err(e) => return error_page(p, e.into()),
    };
    let role = |role: &str| {
        let key = format!("ui_role_{role}");
        if i18n::has_message(&key) {
            p.t(&key)
        } else {
            role.to_string()
        }
    };
    let staff = staff
        .into_iter()
        .map(|m| StaffRow {
            role: role(&m.role),
            disabled: m.disabled_at.is_some(),
            state: match &m.disabled_at {
                Some(at) => format!("{} ({})", p.t("ui_staff_disabled"), p.date(at)),
                None => p.t("ui_staff_active"),
            },
            created: p.date(&m.created_at),
            email: m.email,
            name: m.full_name,
        })
        .collect();
    let changes = changes
        .into_iter()
        .map(|c| ChangeRow {
            at: athens_seconds(&c.at),
            change: p.t(&format!("ui_staff_change_{}", c.change)),
            email: c.email,
            // The roles the detail names (`clerk`, `clerk → auditor`), in words.
            detail: c
                .detail
                .split(" → ")
                .filter(|r| !r.is_empty())
                .map(&role)
                .collect::<Vec<_>>()
                .join(" → "),
            by: c.changed_by,
        })
        .collect();
    render(&StaffPage { p, staff, changes })
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
