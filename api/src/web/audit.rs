//! Pages for auditors: a form to pick a case, the case's events as stored (with their
//! metadata, payloads and hashes) and the verdict of its hash-chain verification, and
//! the case's state as of any event. The data comes from the same functions as the JSON
//! API's (`commands::audit`), so the pages and the API cannot disagree.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use commands::audit::{self, stream_id};
use serde::Deserialize;

use super::cases::{error_page, MessagePage};
use super::login_redirect;
use super::staff::Choice;
use super::{render, FormState, Page};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::i18n;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit_form))
        .route("/audit/cases/{id}", get(case_events))
        .route("/audit/cases/{id}/state", get(case_state))
        .route("/audit/cases/{id}/events.json", get(download))
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
// The search
// ---------------------------------------------------------------------------------------

/// A stream as the search's results list it.
struct ResultRow {
    href: String,
    /// Its Α.Α., else its id.
    number: String,
    kind: String,
    title: String,
    /// Whose: an e-mail and, for a business's, its ΑΦΜ.
    person: String,
    first: String,
    last: String,
    last_event: String,
    events: i64,
}

#[derive(Template)]
#[template(path = "audit_form.html")]
struct SearchPage {
    p: Page,
    form: FormState,
    kind_choices: Vec<Choice>,
    /// `None` when the criteria were refused.
    results: Option<Vec<ResultRow>>,
    pager: super::layout::Pager,
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    number: Option<String>,
    person: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
}

/// What a stream of `aggregate_type` is called («Αίτημα», «Πληρωμή», …).
fn kind_label(p: &Page, aggregate_type: &str) -> String {
    domain::audit::STREAM_KINDS
        .iter()
        .find(|(_, ty)| *ty == aggregate_type)
        .map(|(kind, _)| p.t(&format!("ui_audit_kind_{kind}")))
        .unwrap_or_else(|| aggregate_type.to_string())
}

/// An event type in words: as the citizen's timeline says it (`timeline_<type>`), else
/// in the auditors' words (`audit_event_<type>`), else the type itself.
fn event_title(p: &Page, event_type: &str) -> String {
    p.t_first(&[
        format!("timeline_{event_type}"),
        format!("audit_event_{event_type}"),
    ])
    .unwrap_or_else(|| event_type.to_string())
}

/// `/audit`: the search of every stream of the log by number, person, kind and the days it
/// began (issue 17); no criteria lists every stream, the most recently begun first.
async fn audit_form(
    State(state): State<AppState>,
    p: Page,
    Query(q): Query<SearchQuery>,
) -> Response {
    let user = match auditor(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let fields = domain::audit::StreamSearchFields {
        number: q.number.as_deref(),
        person: q.person.as_deref(),
        kind: q.kind.as_deref(),
        from: q.from.as_deref(),
        to: q.to.as_deref(),
    };
    let mut form = FormState::with_values([
        ("number", q.number.as_deref().unwrap_or("")),
        ("person", q.person.as_deref().unwrap_or("")),
        ("kind", q.kind.as_deref().unwrap_or("")),
        ("from", q.from.as_deref().unwrap_or("")),
        ("to", q.to.as_deref().unwrap_or("")),
    ]);
    let kind_choices = std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_audit_kind_all"),
    })
    .chain(domain::audit::STREAM_KINDS.iter().map(|(kind, _)| Choice {
        value: kind.to_string(),
        label: p.t(&format!("ui_audit_kind_{kind}")),
    }))
    .collect();
    let page = super::layout::list_page(q.after.as_deref(), projections::paging::TIME_THEN_TEXT);
    let found = crate::reads::audit_streams(&state, &user, &fields, &page).await;
    let empty_pager = || super::layout::Pager::new(&p.here, &page, None);
    let (results, pager, status) = match found {
        Ok(found) => {
            let pager = super::layout::Pager::new(&p.here, &page, found.next.as_deref());
            let rows = found
                .items
                .into_iter()
                .map(|s| ResultRow {
                    href: format!("/audit/cases/{}", s.stream_id),
                    number: s.case_number.unwrap_or_else(|| s.stream_id.clone()),
                    kind: kind_label(&p, &s.aggregate_type),
                    title: s.title,
                    person: s
                        .email
                        .into_iter()
                        .chain(
                            s.afms
                                .iter()
                                .map(|afm| format!("{} {afm}", p.t("ui_field_afm"))),
                        )
                        .collect::<Vec<_>>()
                        .join(" · "),
                    first: p.datetime(&s.first_at),
                    last: p.datetime(&s.last_at),
                    last_event: event_title(&p, &s.last_event_type),
                    events: s.events,
                })
                .collect();
            (Some(rows), pager, StatusCode::OK)
        }
        Err(ApiError::Validation(errors)) => {
            for e in &errors {
                form.add_error(p.lang, e);
            }
            (None, empty_pager(), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => return error_page(p, e),
    };
    let mut response = render(&SearchPage {
        p,
        form,
        kind_choices,
        results,
        pager: super::layout::Pager {
            label_key: "ui_audit_results_paging",
            ..pager
        },
    });
    *response.status_mut() = status;
    response
}

// ---------------------------------------------------------------------------------------
// A case's events and the chain verification
// ---------------------------------------------------------------------------------------

/// One stored event as the page shows it: in words (what happened, by whom, what it
/// changed), with the record as stored behind a disclosure.
struct EventRow {
    sequence: i64,
    event_type: String,
    /// What happened, in words.
    title: String,
    version: String,
    recorded: String,
    recorded_iso: String,
    /// Who did it, in words: their role, and their name and e-mail where they have an
    /// account.
    who: String,
    role: String,
    actor_id: String,
    client_ip: String,
    open311_client: String,
    correlation_id: String,
    /// The fields of the case's state the event changed.
    changes: Vec<FieldRow>,
    payload: String,
    hash: String,
    prev_hash: String,
}

/// A field of a case's state, as the page shows it.
struct FieldRow {
    /// The field in words («Χειριστής · Όνομα»), or its path when a part has no name.
    label: String,
    /// Its path in the state as stored (`assigned_to.name`).
    path: String,
    /// Whether every part of the path has a name in words.
    labelled: bool,
    before: String,
    after: String,
}

/// What a stored time means to a reader: the same moment, Athens time.
fn when(value: &str) -> Option<String> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|at| athens_seconds(&at.with_timezone(&Utc)))
}

/// The message that names value `value` of the field `name` of a stream of
/// `aggregate_type` (a status, a kind, a reason), where the pages already have one.
fn value_key(aggregate_type: &str, name: &str, value: &str) -> Option<String> {
    let prefix = match (name, aggregate_type) {
        ("status", "CitizenRequest") => "status_",
        ("status", "CertificateApplication") => "application_status_",
        ("status", "Payment") => "payment_status_",
        ("status", "TaxDeclaration") => "declaration_status_",
        ("kind", "CitizenRequest") => "kind_",
        ("kind", "CertificateApplication") => "application_kind_",
        ("close_reason", _) => "close_reason_",
        ("method", _) => "delivery_",
        ("document", _) => "document_",
        ("filing", _) => "ui_declaration_filing_",
        ("type", _) => "ui_role_",
        ("outcome", _) => "audit_value_outcome_",
        ("origin", _) => "audit_value_origin_",
        _ => return None,
    };
    Some(format!("{prefix}{value}"))
}

/// A value of the field `name` of a stream of `aggregate_type`, in words: amounts in
/// euros, times in Athens time, days as the pages write them, yes/no, a status or a kind
/// by its name (and the stored value beside it); anything else as stored.
fn value_in_words(p: &Page, aggregate_type: &str, name: &str, value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Bool(true) => p.t("ui_yes"),
        Value::Bool(false) => p.t("ui_no"),
        Value::Number(n) if name.ends_with("_cents") => n
            .as_i64()
            .map(|cents| domain::Money::from_cents(cents).to_string())
            .unwrap_or_else(|| n.to_string()),
        // Stored in hundredths of a square metre, written as the form took it.
        Value::Number(n) if name == "area_hundredths" => n
            .as_i64()
            .map(|h| format!("{},{:02} m²", h / 100, h % 100))
            .unwrap_or_else(|| n.to_string()),
        Value::String(s) => {
            if let Some(words) =
                value_key(aggregate_type, name, s).and_then(|key| p.t_first(&[key]))
            {
                return format!("{words} ({s})");
            }
            when(s)
                .or_else(|| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .map(|d| d.format("%d/%m/%Y").to_string())
                })
                .unwrap_or_else(|| s.clone())
        }
        Value::Array(items) => items
            .iter()
            .map(|v| value_in_words(p, aggregate_type, name, v))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// A field's path in words: each part's name (`audit_field_<part>`), list positions as
/// «#2»; `labelled` is false when a part has no name (the path is then shown as stored).
fn field_label(p: &Page, path: &str) -> (String, bool) {
    let mut words = Vec::new();
    let mut labelled = true;
    let mut parent = "";
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            // A name may read differently under its parent (a period's `number`).
            let named = p.t_first(&[
                format!("audit_field_{parent}_{name}"),
                format!("audit_field_{name}"),
            ]);
            match named {
                // A category's own fields, named by the municipality's configuration.
                _ if parent == "attributes" => words.push(name.to_string()),
                Some(words_for) => words.push(words_for),
                None => {
                    labelled = false;
                    words.push(name.to_string());
                }
            }
            parent = name;
        }
        if let Some(i) = index {
            words.push(format!("#{}", i + 1));
        }
    }
    (words.join(" · "), labelled)
}

fn change_rows(
    p: &Page,
    aggregate_type: &str,
    changes: &[domain::audit::FieldChange],
) -> Vec<FieldRow> {
    changes
        .iter()
        .map(|c| {
            let name = c
                .path
                .rsplit('.')
                .next()
                .unwrap_or("")
                .split('[')
                .next()
                .unwrap_or("");
            // Absent, null or empty: a dash.
            let words = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .map(|v| value_in_words(p, aggregate_type, name, v))
                    .filter(|words| !words.is_empty())
                    .unwrap_or_else(|| "—".to_string())
            };
            let (label, labelled) = field_label(p, &c.path);
            FieldRow {
                label,
                path: c.path.clone(),
                labelled,
                before: words(&c.before),
                after: words(&c.after),
            }
        })
        .collect()
}

fn role_in_words(p: &Page, role: &str) -> String {
    p.t_first(&[format!("ui_role_{role}")])
        .unwrap_or_else(|| role.to_string())
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
    /// What the stream is, in words («Αίτημα», «Πληρωμή»).
    kind: String,
    /// Said when the portal cannot read the content of some events (from the first such
    /// one on, their changes are not shown).
    undecodable: Option<String>,
    events: Vec<EventRow>,
    verification: Verification,
}

fn event_rows(
    p: &Page,
    case: &audit::CaseEvents,
    changes: &[Vec<domain::audit::FieldChange>],
    people: &[audit::Person],
) -> Vec<EventRow> {
    case.events
        .iter()
        .zip(changes)
        .map(|(e, changed)| {
            let actor = e.actor();
            let role = role_in_words(p, &actor.role);
            let who = match people.iter().find(|person| person.id == actor.actor_id) {
                Some(person) => format!("{role}: {} ({})", person.full_name, person.email),
                None => match &actor.open311_client {
                    Some(client) => format!("{role}: Open311 {client}"),
                    None => role.clone(),
                },
            };
            EventRow {
                sequence: e.sequence,
                title: event_title(p, &e.event_type),
                event_type: e.event_type.clone(),
                version: e.version.clone(),
                recorded: athens_seconds(&e.recorded_at),
                recorded_iso: e.recorded_at.to_rfc3339(),
                who,
                role: format!("{role} ({})", actor.role),
                actor_id: actor.actor_id,
                client_ip: actor.client_ip.unwrap_or_default(),
                open311_client: actor.open311_client.unwrap_or_default(),
                correlation_id: actor.correlation_id,
                changes: change_rows(p, &case.aggregate_type, changed),
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
        let (events, verdict) = audit::events_verified(&state, &actor, &id).await?;
        let changes = audit::changes(&events);
        let actors: Vec<String> = events.events.iter().map(|e| e.actor().actor_id).collect();
        let people = audit::people(&state, &actor, &actors).await?;
        Ok::<_, ApiError>((events, verdict, changes, people))
    }
    .await;
    let (case, verdict, changes, people) = match loaded {
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
    let events = event_rows(&p, &case, &changes.per_event, &people);
    render(&EventsPage {
        undecodable: changes.undecodable_from.map(|sequence| {
            i18n::message_with(
                p.lang,
                "ui_audit_undecodable",
                &[("sequence", fluent_bundle::FluentValue::from(sequence))],
            )
        }),
        kind: kind_label(&p, &aggregate_type),
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
    /// Every field of the state, in words.
    fields: Vec<FieldRow>,
    /// The state as the aggregate serializes it.
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
    // Every field of the state, as what the events so far set it to.
    let fields = change_rows(
        &p,
        &folded.aggregate_type,
        &domain::audit::state_changes(&serde_json::Value::Null, &folded.state),
    );
    render(&StatePage {
        fields,
        p,
        id,
        sequence: folded.sequence,
        state: serde_json::to_string_pretty(&folded.state).unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------------------
// The whole stream as a file
// ---------------------------------------------------------------------------------------

/// What the auditor keeps of a stream: every event as stored (payload, metadata, hash
/// links) and the verdict on its chain when it was downloaded.
#[derive(serde::Serialize)]
struct StreamFile {
    downloaded_at: DateTime<Utc>,
    #[serde(flatten)]
    events: audit::CaseEvents,
    verification: audit::CaseVerification,
}

/// `/audit/cases/{id}/events.json`: the stream as a JSON file to download.
async fn download(State(state): State<AppState>, p: Page, Path(raw): Path<String>) -> Response {
    let user = match auditor(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match stream_id(&raw) {
        Ok(id) => id,
        Err(e) => return error_page(p, e.into()),
    };
    let actor = user.actor();
    let (events, verification) = match audit::events_verified(&state, &actor, &id).await {
        Ok(found) => found,
        Err(e) => return error_page(p, e.into()),
    };
    let file = StreamFile {
        downloaded_at: state.portal.now(),
        events,
        verification,
    };
    match serde_json::to_vec_pretty(&file) {
        Ok(body) => crate::http::attachment("application/json", &format!("stream-{id}.json"), body),
        Err(e) => error_page(p, ApiError::Internal(e.to_string())),
    }
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
    let role = |role: &str| role_in_words(&p, role);
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
