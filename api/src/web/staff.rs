//! Pages for clerks: the queue with its filters and counts, a case with the actions that
//! make sense for its status, and a confirmation page before every action. The actions
//! run through the same `build_command` and `perform` as the JSON API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::request::{CloseReason, RequestKind, RequestStatus};
use projections::requests::{self as read, CaseDetail, CaseSummary};
use serde::Deserialize;

use super::cases::{error_page, timeline_views, TimelineView};
use super::login_redirect;
use super::{render, FormState, Page};
use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::http::{case_id, wait_for_log_head, wait_for_own_writes, RequestContext};
use crate::i18n::Lang;
use crate::AppState;
use commands::requests::{self, ActionFields, ACTIONS};

/// Cases per page of the queue.
const PER_PAGE: i64 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/requests", get(queue))
        .route("/staff/requests/{id}", get(case_page))
        .route("/staff/requests/{id}/{action}", post(act))
}

/// The clerk (or admin) a staff page is for; a login for a visitor, 403 for anyone else.
pub(super) fn staff_user(p: &Page) -> Result<CurrentUser, Box<Response>> {
    match &p.user {
        None => Err(Box::new(login_redirect(p))),
        Some(u) if p.is_staff() => Ok(u.user.clone()),
        Some(_) => Err(Box::new(error_page(p.clone(), ApiError::Forbidden))),
    }
}

// ---------------------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct QueueParams {
    status: Option<String>,
    kind: Option<String>,
    /// A category's service code.
    category: Option<String>,
    /// The keyset cursor of the page (`next` of the one before).
    after: Option<String>,
}

/// A link of the counts per status.
struct CountLink {
    href: String,
    label: String,
    count: i64,
    current: bool,
}

/// An option of a `<select>`.
pub(super) struct Choice {
    pub(super) value: String,
    pub(super) label: String,
}

#[derive(Template)]
#[template(path = "staff_queue.html")]
struct QueuePage {
    p: Page,
    form: FormState,
    cases: Vec<CaseSummary>,
    counts: Vec<CountLink>,
    status_choices: Vec<Choice>,
    kind_choices: Vec<Choice>,
    category_choices: Vec<Choice>,
    total: i64,
    pager: super::layout::Pager,
}

/// The queue's address with these filters (its first page).
fn queue_href(status: Option<&str>, kind: Option<&str>, category: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = status {
        query.append_pair("status", s);
    }
    if let Some(k) = kind {
        query.append_pair("kind", k);
    }
    if let Some(c) = category {
        query.append_pair("category", c);
    }
    let query = query.finish();
    if query.is_empty() {
        "/staff/requests".to_string()
    } else {
        format!("/staff/requests?{query}")
    }
}

async fn queue(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Query(q): Query<QueueParams>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let mut form = FormState::with_values([
        ("status", q.status.as_deref().unwrap_or("")),
        ("kind", q.kind.as_deref().unwrap_or("")),
        ("category", q.category.as_deref().unwrap_or("")),
    ]);
    // An unknown filter value is said next to its field, and the queue shown unfiltered.
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match RequestStatus::parse(raw) {
            Ok(s) => Some(s.as_str()),
            Err(r) => {
                form.add_error(p.lang, &ApiError::field("status", &r));
                form.set("status", "");
                None
            }
        },
    };
    let kind = match q.kind.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match RequestKind::parse(raw) {
            Ok(k) => Some(k.as_str()),
            Err(r) => {
                form.add_error(p.lang, &ApiError::field("kind", &r));
                form.set("kind", "");
                None
            }
        },
    };
    let categories = &state.config.municipality.requests;
    let category = match q.category.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) if categories.find(c).is_some() => Some(c),
        Some(_) => {
            form.add_error(
                p.lang,
                &crate::error::FieldError::new("category", "category_unknown"),
            );
            form.set("category", "");
            None
        }
    };
    // Keyset paging, oldest first; a cursor that is not one shows the first page.
    let mut page =
        super::layout::list_page(q.after.as_deref(), projections::paging::TIME_THEN_TEXT);
    page.limit = PER_PAGE;

    let loaded = async {
        wait_for_own_writes(&state, Some(&user), &headers, projections::REQUEST_READS).await?;
        // The queue is about everyone's writes: show what the log holds right now.
        wait_for_log_head(&state, projections::REQUEST_READS).await?;
        let filter = read::QueueFilter {
            status: status.map(str::to_string),
            kind: kind.map(str::to_string),
            category: category.map(str::to_string),
            limit: page.limit,
            offset: 0,
            after: page.after.clone(),
        };
        Ok::<_, ApiError>(read::staff_queue(&state.pool, &filter).await?)
    }
    .await;
    let result = match loaded {
        Ok(result) => result,
        Err(e) => return error_page(p, e),
    };

    let all: i64 = result.counts_by_status.values().sum();
    let mut counts = vec![CountLink {
        href: queue_href(None, kind, category),
        label: p.t("ui_staff_counts_all"),
        count: all,
        current: status.is_none(),
    }];
    counts.extend(RequestStatus::ALL.iter().map(|s| {
        CountLink {
            href: queue_href(Some(s.as_str()), kind, category),
            label: p.status_label(s.as_str()),
            count: result
                .counts_by_status
                .get(s.as_str())
                .copied()
                .unwrap_or(0),
            current: status == Some(s.as_str()),
        }
    }));
    let status_choices = std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_staff_filter_any_status"),
    })
    .chain(RequestStatus::ALL.iter().map(|s| Choice {
        value: s.as_str().to_string(),
        label: p.status_label(s.as_str()),
    }))
    .collect();
    let kind_choices = std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_staff_filter_any_kind"),
    })
    .chain(RequestKind::ALL.iter().map(|k| Choice {
        value: k.as_str().to_string(),
        label: p.kind_label(k.as_str()),
    }))
    .collect();
    // The links keep the filters as given (an unknown value was cleared above).
    let pager = super::layout::Pager::new(
        &queue_href(status, kind, category),
        &page,
        result.next.as_deref(),
    );
    let category_choices = std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_staff_filter_any_category"),
    })
    .collect::<Vec<_>>();
    // By name, as a clerk looks for them.
    let mut by_name: Vec<(String, String)> = super::place::category_labels(p.lang, categories)
        .into_iter()
        .collect();
    by_name.sort_by(|a, b| a.1.cmp(&b.1));
    let category_choices = category_choices
        .into_iter()
        .chain(
            by_name
                .into_iter()
                .map(|(value, label)| Choice { value, label }),
        )
        .collect();
    let invalid = form.has_errors();
    let mut response = render(&QueuePage {
        p,
        form,
        cases: result.items,
        counts,
        status_choices,
        kind_choices,
        category_choices,
        total: result.total,
        pager,
    });
    if invalid {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

// ---------------------------------------------------------------------------------------
// The case
// ---------------------------------------------------------------------------------------

/// Which actions the case page offers for the case's status. The domain has the last word
/// (a stale page still gets its refusal); this only keeps pointless buttons away.
struct Actions {
    review: bool,
    answer: bool,
    status: bool,
    protocol: bool,
    close: bool,
    /// The statuses "change status" may pick (the settable ones but the current).
    status_choices: Vec<Choice>,
}

impl Actions {
    fn for_case(p: &Page, case: &CaseDetail) -> Self {
        let status = RequestStatus::parse(&case.status).ok();
        let closed = status == Some(RequestStatus::Closed);
        let new = matches!(
            status,
            Some(RequestStatus::Submitted | RequestStatus::Reopened)
        );
        let status_choices = RequestStatus::SETTABLE
            .iter()
            .filter(|s| Some(**s) != status)
            .map(|s| Choice {
                value: s.as_str().to_string(),
                label: p.status_label(s.as_str()),
            })
            .collect();
        Self {
            review: new,
            answer: !closed && !new,
            status: !closed && !new,
            protocol: !closed && case.protocol_number.is_none(),
            close: !closed,
            status_choices,
        }
    }

    fn any(&self) -> bool {
        self.review || self.answer || self.status || self.protocol || self.close
    }
}

#[derive(Template)]
#[template(path = "staff_case.html")]
struct CasePage {
    p: Page,
    case: CaseDetail,
    timeline: Vec<TimelineView>,
    /// The confirmation panel after an action.
    done: Option<String>,
    actions: Actions,
    close_choices: Vec<Choice>,
    /// Values and messages keyed by the id of their element (`answer-text`, `status`,
    /// `close-reason`, `close-note`; `general` for a refusal about no field).
    form: FormState,
    is_new: bool,
    closed: bool,
}

#[derive(Deserialize)]
struct CaseQuery {
    done: Option<String>,
}

/// A case for staff, read once the read models hold everything the log held when asked
/// (clerks act on each other's cases, as the queue shows them); 404 when there is none.
async fn load_case(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: &str,
) -> Result<(CaseDetail, Vec<read::TimelineEntry>), ApiError> {
    wait_for_own_writes(state, Some(user), headers, projections::REQUEST_READS).await?;
    wait_for_log_head(state, projections::REQUEST_READS).await?;
    let case = read::detail(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, id).await?;
    Ok((case, timeline))
}

fn case_page_for(
    p: Page,
    case: CaseDetail,
    timeline: &[read::TimelineEntry],
    form: FormState,
    done: Option<&str>,
) -> Response {
    let actions = Actions::for_case(&p, &case);
    let timeline = timeline_views(&p, timeline, true);
    let done = done
        .filter(|a| ACTIONS.contains(a))
        .map(|a| p.t(&format!("ui_staff_done_{a}")));
    let close_choices = std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_staff_close_reason_choose"),
    })
    .chain(CloseReason::ALL.iter().map(|r| Choice {
        value: r.as_str().to_string(),
        label: p.close_reason_label(r.as_str()),
    }))
    .collect();
    let is_new = actions.review;
    let closed = !actions.any();
    render(&CasePage {
        p,
        case,
        timeline,
        done,
        actions,
        close_choices,
        form,
        is_new,
        closed,
    })
}

async fn case_page(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    match load_case(&state, &user, &headers, &id).await {
        Ok((case, timeline)) => {
            case_page_for(p, case, &timeline, FormState::new(), q.done.as_deref())
        }
        Err(e) => error_page(p, e),
    }
}

// ---------------------------------------------------------------------------------------
// The actions
// ---------------------------------------------------------------------------------------

/// What an action form sends (each action reads its own fields).
#[derive(Deserialize)]
struct ActionForm {
    text: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    note: Option<String>,
    confirmed: Option<String>,
}

impl ActionForm {
    /// The fields of `action` only, as the API takes them.
    fn fields(&self, action: &str) -> ActionFields {
        let mut fields = ActionFields::default();
        match action {
            "answer" => fields.text = self.text.clone(),
            "status" => fields.status = self.status.clone(),
            "close" => {
                fields.reason = self.reason.clone();
                fields.note = self.note.clone();
            }
            _ => {}
        }
        fields
    }

    /// What was typed, keyed by the ids of the case page's elements.
    fn values(&self, action: &str) -> FormState {
        let f = self.fields(action);
        FormState::with_values([
            ("answer-text", f.text.as_deref().unwrap_or("")),
            ("status", f.status.as_deref().unwrap_or("")),
            ("close-reason", f.reason.as_deref().unwrap_or("")),
            ("close-note", f.note.as_deref().unwrap_or("")),
        ])
    }
}

/// The element of the case page that shows a field of the API.
fn element_id(field: &str) -> &str {
    match field {
        "text" => "answer-text",
        "reason" => "close-reason",
        "note" => "close-note",
        other => other,
    }
}

/// The field a rule's refusal is about, so the page can show it in place.
fn refusal_field(code: &str) -> Option<&'static str> {
    match code {
        "close_note_required" => Some("note"),
        "status_not_settable" | "status_unchanged" => Some("status"),
        _ => None,
    }
}

/// An action's error as messages of the case page: next to its field when it is about
/// one, else in the error box at the top.
fn absorb_action_error(form: &mut FormState, lang: Lang, error: &ApiError) {
    match error {
        ApiError::Validation(fields) => {
            for f in fields {
                form.add_error(lang, &FieldError::new(element_id(&f.field), &f.code));
            }
        }
        ApiError::Refused(r) if refusal_field(r.code).is_some() => {
            let field = refusal_field(r.code).unwrap_or("general");
            form.add_error(lang, &FieldError::new(element_id(field), r.code));
        }
        other => form.absorb(lang, other),
    }
}

/// Whether an action's error is said on the case page (a field to correct, a rule's "no",
/// a concurrent change) rather than on an error page (no such case, no right, a failure).
fn shown_on_the_case_page(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Validation(_) | ApiError::Refused(_) | ApiError::Conflict
    ) && !matches!(
        error.status(),
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
    )
}

/// A field restated on the confirmation page and sent again with `confirmed=yes`.
struct Hidden {
    name: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "staff_confirm.html")]
struct ConfirmPage {
    p: Page,
    case: CaseDetail,
    action: String,
    title: String,
    explanation: String,
    hidden: Vec<Hidden>,
    clerk_name: String,
    answer: String,
    new_status: String,
    close_reason: String,
    close_note: String,
}

async fn act(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    context: RequestContext,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    let mut p = p;
    if p.user.is_none() {
        // After logging in, come back to the case, not to this POST-only address.
        p.here = match case_id(&id) {
            Ok(id) => format!("/staff/requests/{id}"),
            Err(_) => "/staff/requests".to_string(),
        };
        return login_redirect(&p);
    }
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    if !ACTIONS.contains(&action.as_str()) {
        return error_page(p, ApiError::NotFound("not_found"));
    }
    let fields = f.fields(&action);
    // The fields are checked before anything is confirmed: a confirmation page never
    // restates an empty answer.
    let actor = user.actor();
    let outcome = match requests::clerk_command(&state, &action, &actor, &fields) {
        Err(e) => Err(ApiError::from(e)),
        Ok(_) if f.confirmed.as_deref() != Some("yes") => {
            return confirmation(&state, p, &user, &headers, &id, &action, &fields).await;
        }
        Ok(command) => requests::act(&state, &actor, context.metadata(Some(&user)), &id, command)
            .await
            .map_err(ApiError::from),
    };
    match outcome {
        Ok(_) => Redirect::to(&format!("/staff/requests/{id}?done={action}")).into_response(),
        Err(e) if shown_on_the_case_page(&e) => {
            let status = e.status();
            let mut form = f.values(&action);
            absorb_action_error(&mut form, p.lang, &e);
            match load_case(&state, &user, &headers, &id).await {
                Ok((case, timeline)) => {
                    let mut response = case_page_for(p, case, &timeline, form, None);
                    *response.status_mut() = status;
                    response
                }
                Err(e) => error_page(p, e),
            }
        }
        Err(e) => error_page(p, e),
    }
}

/// The page that says what `action` will do, with the form that does it.
async fn confirmation(
    state: &AppState,
    p: Page,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: &str,
    action: &str,
    fields: &ActionFields,
) -> Response {
    let case = match load_case(state, user, headers, id).await {
        Ok((case, _)) => case,
        Err(e) => return error_page(p, e),
    };
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    let hidden: Vec<Hidden> = [
        ("text", &fields.text),
        ("status", &fields.status),
        ("reason", &fields.reason),
        ("note", &fields.note),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(name, v)| Hidden {
        name,
        value: text(v),
    })
    .collect();
    let new_status = match action {
        "review" => "in_review".to_string(),
        "answer" => "answered".to_string(),
        "status" => text(&fields.status),
        "close" => "closed".to_string(),
        _ => String::new(),
    };
    render(&ConfirmPage {
        title: p.t(&format!("ui_staff_confirm_{action}")),
        explanation: p.t(&format!("ui_staff_confirm_explain_{action}")),
        clerk_name: user.full_name.clone(),
        answer: text(&fields.text),
        close_reason: text(&fields.reason),
        close_note: text(&fields.note).trim().to_string(),
        new_status,
        hidden,
        action: action.to_string(),
        case,
        p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_links_keep_the_filters() {
        assert_eq!(queue_href(None, None, None), "/staff/requests");
        assert_eq!(
            queue_href(Some("in_review"), Some("complaint"), Some("street_light")),
            "/staff/requests?status=in_review&kind=complaint&category=street_light"
        );
    }

    #[test]
    fn field_errors_land_on_the_elements_of_the_case_page() {
        let mut form = FormState::new();
        absorb_action_error(
            &mut form,
            Lang::El,
            &ApiError::Validation(vec![FieldError::new("text", "answer_required")]),
        );
        assert!(form.has_error("answer-text"));
        let mut form = FormState::new();
        absorb_action_error(
            &mut form,
            Lang::El,
            &ApiError::Refused(domain::Refusal::invalid("close_note_required", "x")),
        );
        assert!(form.has_error("close-note"));
    }
}
