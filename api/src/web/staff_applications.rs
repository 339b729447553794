//! Pages for clerks (issue 4, S15): the queue of certificate applications with its filters
//! and counts, an application with the actions that make sense for it, and a confirmation
//! page before every action. Issuing an electronic certificate uploads its PDF
//! (`multipart/form-data`); the file waits in `staged_uploads` for the clerk's
//! confirmation, which any portal process may receive. The actions run through the same
//! service functions as the JSON API.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::application::{ApplicationKind, ApplicationStatus};
use domain::values::{Note, Question};
use projections::applications::{self as read, ApplicationRow, QueueCounts};
use serde::Deserialize;

use super::cases::{error_page, TimelineView};
use super::certificates::{application_timeline, ApplicationView, Choice};
use super::staff::staff_user;
use super::{render, FormState, Page};
use crate::application_reads::{queue_filter, staff_application};
use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::http::{
    case_id, document_response, wait_for_log_head, wait_for_own_writes, RequestContext,
};
use crate::i18n::Lang;
use crate::AppState;
use commands::applications::{self, check_pdf, ClerkAction};

/// The actions of the application page, as they appear in its form addresses.
const ACTIONS: [&str; 5] = [
    "review",
    "request-information",
    "issue",
    "reject",
    "protocol",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/applications", get(queue))
        .route("/staff/applications/{id}", get(application_page))
        .route("/staff/applications/{id}/document", get(document))
        .route(
            "/staff/applications/{id}/{action}",
            // The page middleware has already bounded the body (the configured document
            // size plus the form's other fields); the extractors' 2 MB default would refuse
            // a larger PDF before the handler could say so next to the file field.
            post(act).layer(DefaultBodyLimit::disable()),
        )
}

// ---------------------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct QueueParams {
    status: Option<String>,
    kind: Option<String>,
    protocol: Option<String>,
    overdue: Option<String>,
    after: Option<String>,
}

/// A link of the counts.
struct CountLink {
    id: &'static str,
    href: String,
    label: String,
    count: i64,
    current: bool,
}

#[derive(Template)]
#[template(path = "staff_applications_queue.html")]
struct QueuePage {
    p: Page,
    form: FormState,
    applications: Vec<ApplicationView>,
    counts: Vec<CountLink>,
    status_choices: Vec<Choice>,
    kind_choices: Vec<Choice>,
    protocol_failing: bool,
    overdue: bool,
    pager: super::layout::Pager,
}

/// The queue's address with these filters.
fn queue_href(status: Option<&str>, kind: Option<&str>, failing: bool, overdue: bool) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = status {
        query.append_pair("status", s);
    }
    if let Some(k) = kind {
        query.append_pair("kind", k);
    }
    if failing {
        query.append_pair("protocol", "failing");
    }
    if overdue {
        query.append_pair("overdue", "1");
    }
    let query = query.finish();
    if query.is_empty() {
        "/staff/applications".to_string()
    } else {
        format!("/staff/applications?{query}")
    }
}

fn count_links(
    p: &Page,
    counts: &QueueCounts,
    status: Option<&str>,
    kind: Option<&str>,
    failing: bool,
    overdue: bool,
) -> Vec<CountLink> {
    let no_flags = !failing && !overdue;
    let mut links = vec![CountLink {
        id: "count-all",
        href: queue_href(None, kind, false, false),
        label: p.t("ui_staff_app_counts_all"),
        count: counts.by_status.values().sum(),
        current: status.is_none() && no_flags,
    }];
    links.extend(ApplicationStatus::ALL.iter().map(|s| CountLink {
        id: "count-status",
        href: queue_href(Some(s.as_str()), kind, false, false),
        label: p.application_status_label(s.as_str()),
        count: counts.by_status.get(s.as_str()).copied().unwrap_or(0),
        current: status == Some(s.as_str()) && no_flags,
    }));
    links.push(CountLink {
        id: "count-protocol-failing",
        href: queue_href(None, kind, true, false),
        label: p.t("ui_staff_app_protocol_failing"),
        count: counts.protocol_failing,
        current: status.is_none() && failing && !overdue,
    });
    links.push(CountLink {
        id: "count-overdue",
        href: queue_href(None, kind, false, true),
        label: p.t("ui_staff_app_overdue"),
        count: counts.overdue,
        current: status.is_none() && overdue && !failing,
    });
    links
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
    let failing = q.protocol.as_deref() == Some("failing");
    let overdue = matches!(q.overdue.as_deref(), Some("1" | "true" | "yes" | "on"));
    let mut form = FormState::with_values([
        ("status", q.status.as_deref().unwrap_or("")),
        ("kind", q.kind.as_deref().unwrap_or("")),
    ]);
    // An unknown filter value is said next to its field, and the queue shown without it.
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match ApplicationStatus::parse(raw) {
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
        Some(raw) => match ApplicationKind::parse(raw) {
            Ok(k) => Some(k.as_str()),
            Err(r) => {
                form.add_error(p.lang, &ApiError::field("kind", &r));
                form.set("kind", "");
                None
            }
        },
    };
    // One "today" for the whole page: the filter, the counts and each row's flag.
    let today = state.portal.today();
    let page = super::layout::list_page(q.after.as_deref(), projections::paging::DATE_TIME_TEXT);
    let loaded = async {
        let mut filter = queue_filter(
            status,
            kind,
            failing.then_some("failing"),
            overdue.then_some("1"),
            today,
        )?;
        filter.page = page.clone();
        wait_for_own_writes(
            &state,
            Some(&user),
            &headers,
            projections::APPLICATION_READS,
        )
        .await?;
        // The queue is about everyone's writes: show what the log holds right now.
        wait_for_log_head(&state, projections::APPLICATION_READS).await?;
        let rows = read::queue(&state.pool, &filter).await?;
        let counts = read::queue_counts(&state.pool, today).await?;
        Ok::<_, ApiError>((rows, counts))
    }
    .await;
    let (rows, counts) = match loaded {
        Ok(found) => found,
        Err(e) => return error_page(p, e),
    };
    let m = &state.config.municipality;
    let pager = super::layout::Pager::new(&p.here, &page, rows.next.as_deref());
    let applications = rows
        .items
        .iter()
        .map(|r| ApplicationView::new(&p, m, r, today))
        .collect();
    let counts = count_links(&p, &counts, status, kind, failing, overdue);
    let status_choices = std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_staff_filter_any_status"),
    })
    .chain(ApplicationStatus::ALL.iter().map(|s| Choice {
        value: s.as_str().to_string(),
        label: p.application_status_label(s.as_str()),
    }))
    .collect();
    let kind_choices = std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_staff_filter_any_kind"),
    })
    .chain(ApplicationKind::ALL.iter().map(|k| Choice {
        value: k.as_str().to_string(),
        label: p.application_kind_label(k.as_str()),
    }))
    .collect();
    let invalid = form.has_errors();
    let mut response = render(&QueuePage {
        p,
        form,
        applications,
        counts,
        status_choices,
        kind_choices,
        protocol_failing: failing,
        overdue,
        pager,
    });
    if invalid {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

// ---------------------------------------------------------------------------------------
// The application
// ---------------------------------------------------------------------------------------

/// Which actions the page offers for the application's state. The aggregate has the last
/// word (a stale page still gets its refusal); this only keeps pointless buttons away.
struct Actions {
    review: bool,
    request_information: bool,
    issue: bool,
    /// In review, but no protocol number yet: issuing has to wait.
    issue_waits_for_protocol: bool,
    reject: bool,
    protocol: bool,
}

impl Actions {
    fn for_application(app: &ApplicationView) -> Self {
        let in_review = app.status == ApplicationStatus::InReview.as_str();
        Self {
            review: app.status == ApplicationStatus::Submitted.as_str(),
            request_information: in_review,
            issue: in_review && app.protocol_number.is_some(),
            issue_waits_for_protocol: in_review && app.protocol_number.is_none(),
            reject: !app.finished,
            protocol: app.protocol_number.is_none(),
        }
    }
}

#[derive(Template)]
#[template(path = "staff_application.html")]
struct ApplicationPage {
    p: Page,
    app: ApplicationView,
    timeline: Vec<TimelineView>,
    actions: Actions,
    /// The confirmation panel after an action.
    done: Option<String>,
    /// Values and messages keyed by the id of their element (`question`, `reject-reason`,
    /// `issue-note`, `document`; `general` for a refusal about no field).
    form: FormState,
    /// The largest PDF, in words (`10 MB`).
    max_document: String,
}

#[derive(Deserialize)]
struct ApplicationQuery {
    done: Option<String>,
}

/// Megabytes for people: `10 MB`, `2,5 MB`.
fn megabytes(bytes: usize) -> String {
    let tenths = (bytes * 10).div_ceil(1024 * 1024);
    if tenths.is_multiple_of(10) {
        format!("{} MB", tenths / 10)
    } else {
        format!("{},{} MB", tenths / 10, tenths % 10)
    }
}

/// A file's size for people: `48 KB`, `2,5 MB`.
fn file_size(bytes: usize) -> String {
    if bytes < 1024 * 1024 {
        format!("{} KB", bytes.div_ceil(1024).max(1))
    } else {
        megabytes(bytes)
    }
}

fn application_page_for(
    state: &AppState,
    p: Page,
    row: &ApplicationRow,
    timeline: &[read::ApplicationTimelineEntry],
    form: FormState,
    done: Option<&str>,
) -> Response {
    let app = ApplicationView::new(&p, &state.config.municipality, row, state.portal.today());
    let timeline = application_timeline(&p, timeline, &row.applicant_name, true);
    let done = done
        .filter(|a| ACTIONS.contains(a))
        .map(|a| p.t(&format!("ui_staff_app_done_{}", a.replace('-', "_"))));
    render(&ApplicationPage {
        actions: Actions::for_application(&app),
        max_document: megabytes(state.config.document_max_bytes),
        app,
        timeline,
        done,
        form,
        p,
    })
}

async fn application_page(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ApplicationQuery>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    match staff_application(&state, &user, &headers, &id).await {
        Ok((row, timeline)) => application_page_for(
            &state,
            p,
            &row,
            &timeline,
            FormState::new(),
            q.done.as_deref(),
        ),
        Err(e) => error_page(p, e),
    }
}

/// The issued certificate (PDF), for clerks.
async fn document(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    let found = async {
        let (row, _) = staff_application(&state, &user, &headers, &id).await?;
        document_response(&state, &row).await
    }
    .await;
    match found {
        Ok(response) => response,
        Err(e) => error_page(p, e),
    }
}

// ---------------------------------------------------------------------------------------
// Uploads waiting for confirmation
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// The actions
// ---------------------------------------------------------------------------------------

/// What an action form sends (each action reads its own fields), from a plain form or a
/// multipart one (the PDF).
#[derive(Default, Deserialize)]
struct ActionForm {
    question: Option<String>,
    reason: Option<String>,
    note: Option<String>,
    /// The token of an upload waiting for confirmation.
    upload: Option<String>,
    confirmed: Option<String>,
    #[serde(skip)]
    document: Option<(String, Bytes)>,
}

impl ActionForm {
    async fn from_request(state: &AppState, request: Request) -> Result<Self, ApiError> {
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            let Form(form) = Form::<Self>::from_request(request, state)
                .await
                .map_err(|e| ApiError::BadRequest {
                    code: "malformed_query",
                    detail: e.body_text(),
                })?;
            return Ok(form);
        }
        let malformed = |e: axum::extract::multipart::MultipartError| ApiError::BadRequest {
            code: "malformed_query",
            detail: e.body_text(),
        };
        let mut multipart =
            Multipart::from_request(request, state)
                .await
                .map_err(|e| ApiError::BadRequest {
                    code: "malformed_query",
                    detail: e.body_text(),
                })?;
        let mut form = Self::default();
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or("").to_string();
            if name == "document" {
                let filename = field.file_name().unwrap_or("").to_string();
                let bytes = field.bytes().await.map_err(malformed)?;
                // A form sent without choosing a file has an empty, nameless part.
                if !(bytes.is_empty() && filename.is_empty()) {
                    form.document = Some((filename, bytes));
                }
                continue;
            }
            let value = field.text().await.map_err(malformed)?;
            match name.as_str() {
                "question" => form.question = Some(value),
                "reason" => form.reason = Some(value),
                "note" => form.note = Some(value),
                "upload" => form.upload = Some(value),
                "confirmed" => form.confirmed = Some(value),
                _ => {}
            }
        }
        Ok(form)
    }

    /// What was typed, keyed by the ids of the application page's elements.
    fn values(&self, action: &str) -> FormState {
        let v = |f: &Option<String>, wanted: &str| {
            if action == wanted {
                f.as_deref().unwrap_or("").to_string()
            } else {
                String::new()
            }
        };
        let values = [
            ("question", v(&self.question, "request-information")),
            ("reject-reason", v(&self.reason, "reject")),
            ("issue-note", v(&self.note, "issue")),
        ];
        FormState::with_values(values.iter().map(|(k, v)| (*k, v.as_str())))
    }
}

/// The element of the application page that shows a field of the API.
fn element_id(field: &str) -> &str {
    match field {
        "reason" => "reject-reason",
        "note" => "issue-note",
        other => other,
    }
}

fn absorb_action_error(form: &mut FormState, lang: Lang, error: &ApiError) {
    match error {
        ApiError::Validation(fields) => {
            for f in fields {
                form.add_error(lang, &FieldError::new(element_id(&f.field), &f.code));
            }
        }
        other => form.absorb(lang, other),
    }
}

/// Whether an action's error is said on the application page (a field to correct, a rule's
/// "no", a concurrent change) rather than on an error page (no such application, no right,
/// a failure).
fn shown_on_the_page(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Validation(_) | ApiError::Refused(_) | ApiError::Conflict
    ) && !matches!(
        error.status(),
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
    )
}

/// The issue's document: uploaded now, or waiting under its token.
struct Document {
    filename: String,
    bytes: Vec<u8>,
    /// The token it waits under, once staged.
    token: Option<String>,
}

/// What a confirmed action will run, checked before anything is confirmed: a
/// confirmation page never restates an empty question or a file that is not a PDF.
enum Checked {
    Review,
    RequestInformation(String),
    Reject(String),
    IssueDocument(Document),
    IssueWithoutDocument(Option<String>),
    Protocol,
}

async fn check(
    state: &AppState,
    user: &CurrentUser,
    row: &ApplicationRow,
    action: &str,
    f: &ActionForm,
) -> Result<Checked, ApiError> {
    let one = |e: FieldError| ApiError::Validation(vec![e]);
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    Ok(match action {
        "review" => Checked::Review,
        "protocol" => Checked::Protocol,
        "request-information" => {
            let q = Question::parse(&text(&f.question))
                .map_err(|r| one(ApiError::field("question", &r)))?;
            Checked::RequestInformation(q.as_str().to_string())
        }
        "reject" => {
            let reason =
                Note::parse(&text(&f.reason)).map_err(|r| one(ApiError::field("reason", &r)))?;
            Checked::Reject(reason.as_str().to_string())
        }
        _ if row.delivery_method == "electronic" => {
            let document = match (&f.document, f.upload.as_deref().filter(|t| !t.is_empty())) {
                (Some((filename, bytes)), _) => Document {
                    filename: filename.clone(),
                    bytes: bytes.to_vec(),
                    token: None,
                },
                (None, Some(token)) => {
                    let (filename, bytes) =
                        applications::staged_upload(state, &user.actor(), &row.id, token)
                            .await?
                            .ok_or_else(|| {
                                one(FieldError::new("document", "document_upload_expired"))
                            })?;
                    Document {
                        filename,
                        bytes,
                        token: Some(token.to_string()),
                    }
                }
                (None, None) => return Err(one(FieldError::new("document", "document_required"))),
            };
            check_pdf(&document.bytes, state.settings.document_max_bytes).map_err(one)?;
            Checked::IssueDocument(document)
        }
        _ => {
            let note = match f.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                None => None,
                Some(raw) => Some(
                    Note::parse(raw)
                        .map_err(|r| one(ApiError::field("note", &r)))?
                        .as_str()
                        .to_string(),
                ),
            };
            Checked::IssueWithoutDocument(note)
        }
    })
}

async fn act(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    context: RequestContext,
    Path((id, action)): Path<(String, String)>,
    request: Request,
) -> Response {
    let mut p = p;
    if p.user.is_none() {
        // After logging in, back to the application, not to this POST-only address.
        p.here = match case_id(&id) {
            Ok(id) => format!("/staff/applications/{id}"),
            Err(_) => "/staff/applications".to_string(),
        };
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
    let f = match ActionForm::from_request(&state, request).await {
        Ok(f) => f,
        Err(e) => return error_page(p, e),
    };
    let (row, timeline) = match staff_application(&state, &user, &headers, &id).await {
        Ok(found) => found,
        Err(e) => return error_page(p, e),
    };
    let outcome = match check(&state, &user, &row, &action, &f).await {
        Err(e) => Err(e),
        Ok(checked) if f.confirmed.as_deref() != Some("yes") => {
            return confirmation(&state, p, &user, &row, &action, checked).await;
        }
        Ok(checked) => perform(&state, &user, &context, &id, checked).await,
    };
    match outcome {
        Ok(()) => Redirect::to(&format!("/staff/applications/{id}?done={action}")).into_response(),
        Err(e) if shown_on_the_page(&e) => {
            let status = e.status();
            let mut form = f.values(&action);
            absorb_action_error(&mut form, p.lang, &e);
            // Show the page as it is now (the refusal may come from a change made since).
            let (row, timeline) = match staff_application(&state, &user, &headers, &id).await {
                Ok(found) => found,
                Err(_) => (row, timeline),
            };
            let mut response = application_page_for(&state, p, &row, &timeline, form, None);
            *response.status_mut() = status;
            response
        }
        Err(e) => error_page(p, e),
    }
}

async fn perform(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    id: &str,
    checked: Checked,
) -> Result<(), ApiError> {
    let clerk = user.actor();
    let metadata = context.metadata(Some(user));
    let action = match checked {
        Checked::Protocol => {
            applications::register_now(state, &clerk, metadata, id).await?;
            return Ok(());
        }
        Checked::Review => ClerkAction::Review,
        Checked::RequestInformation(question) => ClerkAction::RequestInformation {
            question: Some(question),
        },
        Checked::Reject(reason) => ClerkAction::Reject {
            reason: Some(reason),
        },
        Checked::IssueWithoutDocument(note) => ClerkAction::IssueWithoutDocument { note },
        Checked::IssueDocument(document) => {
            let action = ClerkAction::IssueDocument {
                filename: document.filename,
                bytes: document.bytes,
            };
            applications::act(state, &clerk, metadata, id, action).await?;
            if let Some(token) = document.token {
                applications::unstage_upload(state, &token).await?;
            }
            return Ok(());
        }
    };
    applications::act(state, &clerk, metadata, id, action).await?;
    Ok(())
}

/// A field restated on the confirmation page and sent again with `confirmed=yes`.
struct Hidden {
    name: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "staff_application_confirm.html")]
struct ConfirmPage {
    p: Page,
    app: ApplicationView,
    action: String,
    title: String,
    explanation: String,
    hidden: Vec<Hidden>,
    clerk_name: String,
    /// The status after the action (`""`: unchanged).
    new_status: String,
    question: String,
    reason: String,
    note: String,
    /// The uploaded file: its name and size in words.
    document: Option<(String, String)>,
}

/// The page that says what `action` will do, with the form that does it.
async fn confirmation(
    state: &AppState,
    p: Page,
    user: &CurrentUser,
    row: &ApplicationRow,
    action: &str,
    checked: Checked,
) -> Response {
    let app = ApplicationView::new(&p, &state.config.municipality, row, state.portal.today());
    let mut hidden = Vec::new();
    let (mut question, mut reason, mut note, mut document) =
        (String::new(), String::new(), String::new(), None);
    let new_status = match checked {
        Checked::Review => ApplicationStatus::InReview.as_str(),
        Checked::Protocol => "",
        Checked::RequestInformation(q) => {
            hidden.push(Hidden {
                name: "question",
                value: q.clone(),
            });
            question = q;
            ApplicationStatus::InformationRequested.as_str()
        }
        Checked::Reject(r) => {
            hidden.push(Hidden {
                name: "reason",
                value: r.clone(),
            });
            reason = r;
            ApplicationStatus::Rejected.as_str()
        }
        Checked::IssueWithoutDocument(n) => {
            let n = n.unwrap_or_default();
            hidden.push(Hidden {
                name: "note",
                value: n.clone(),
            });
            note = n;
            ApplicationStatus::Issued.as_str()
        }
        Checked::IssueDocument(d) => {
            let size = d.bytes.len();
            let token = match d.token {
                Some(token) => token,
                None => {
                    let staged = applications::stage_upload(
                        state,
                        &user.actor(),
                        &row.id,
                        &d.filename,
                        &d.bytes,
                    )
                    .await;
                    match staged {
                        Ok(token) => token,
                        Err(e) => return error_page(p, e.into()),
                    }
                }
            };
            hidden.push(Hidden {
                name: "upload",
                value: token,
            });
            document = Some((d.filename, file_size(size)));
            ApplicationStatus::Issued.as_str()
        }
    };
    let key = action.replace('-', "_");
    let explanation = match action {
        "issue" => p.t(&format!(
            "ui_staff_app_confirm_explain_issue_{}",
            row.delivery_method
        )),
        _ => p.t(&format!("ui_staff_app_confirm_explain_{key}")),
    };
    render(&ConfirmPage {
        title: p.t(&format!("ui_staff_app_confirm_{key}")),
        explanation,
        clerk_name: user.full_name.clone(),
        new_status: new_status.to_string(),
        action: action.to_string(),
        hidden,
        question,
        reason,
        note,
        document,
        app,
        p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_links_keep_the_filters() {
        assert_eq!(queue_href(None, None, false, false), "/staff/applications");
        assert_eq!(
            queue_href(Some("in_review"), Some("tap"), true, true),
            "/staff/applications?status=in_review&kind=tap&protocol=failing&overdue=1"
        );
    }

    #[test]
    fn sizes_in_megabytes() {
        assert_eq!(megabytes(10 * 1024 * 1024), "10 MB");
        assert_eq!(megabytes(1024 * 1024 * 5 / 2), "2,5 MB");
        assert_eq!(file_size(48), "1 KB");
        assert_eq!(file_size(5 * 1024 * 1024), "5 MB");
    }
}
