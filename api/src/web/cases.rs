//! Pages: «Τα αιτήματά μου», «Νέο Αίτημα», a case with its timeline and «Ενημέρωση», the
//! anonymous «Αίτημα – Σχόλιο» with its tracking code, and the tracking page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use projections::requests::{self as read, CaseDetail, CaseSummary, TimelineEntry};
use serde::Deserialize;

use super::layout::{list_page, AfterParam, Pager};
use super::login_redirect;
use super::place::PlaceFields;
use super::{render, FormState, Page};
use crate::error::ApiError;
use crate::http::{case_id, wait_for_log_head, wait_for_own_writes, RequestContext};
use crate::record::Line;
use crate::AppState;
use commands::requests::{self, tracking_code_sha256, Submission};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", get(my_requests))
        .route("/requests/new", get(new_request_form).post(new_request))
        .route("/requests/{id}", get(case_page))
        .route("/requests/{id}/record.pdf", get(record_pdf))
        .route("/requests/{id}/reopen", post(reopen))
        .route("/anonymous", get(anonymous_form).post(anonymous))
        .route("/track", get(track_form))
        .route("/track/{code}", get(track_case))
}

/// A timeline entry as a page shows it.
pub struct TimelineView {
    pub title: String,
    pub time: String,
    pub actor: String,
    pub detail: String,
}

/// The timeline in plain words; `with_names` is false on the anonymous tracking page.
pub fn timeline_views(p: &Page, entries: &[TimelineEntry], with_names: bool) -> Vec<TimelineView> {
    entries
        .iter()
        .map(|e| {
            let d = &e.details;
            let text = |key: &str| {
                d.get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let detail = match e.event_type.as_str() {
                "RequestSubmitted" => {
                    let number = format!("{} {}", p.t("ui_case_number"), text("number"));
                    match text("open311_client") {
                        client if client.is_empty() => number,
                        client => format!(
                            "{number} · {} «{client}»",
                            p.t("ui_timeline_open311_client")
                        ),
                    }
                }
                "RequestAnswered" => text("answer"),
                "RequestStatusChanged" => format!(
                    "{} → {}",
                    p.status_label(&text("from")),
                    p.status_label(&text("to"))
                ),
                "ProtocolRegistered" => format!(
                    "{} {}",
                    p.t("ui_case_protocol_number"),
                    text("protocol_number")
                ),
                "RequestClosed" => {
                    let note = text("note");
                    let reason = p.close_reason_label(&text("reason"));
                    if note.is_empty() {
                        reason
                    } else {
                        format!("{reason} — {note}")
                    }
                }
                "RequestReopened" => text("reason"),
                _ => String::new(),
            };
            let actor = match (&e.actor_name, with_names) {
                (Some(name), true) => name.clone(),
                _ => p.t(&format!("ui_role_{}", e.actor_role)),
            };
            TimelineView {
                title: p.t(&format!("timeline_{}", e.event_type)),
                time: p.datetime(&e.at),
                actor,
                detail,
            }
        })
        .collect()
}

/// An error page in the portal's look (403, 404, 500, …).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub p: Page,
    pub title: String,
    pub message: String,
    /// A way on besides the home page: (href, label).
    pub back: Option<(String, String)>,
}

/// Renders an API error as a page with its status.
pub fn error_page(p: Page, error: ApiError) -> Response {
    error_page_with(p, error, None)
}

/// [`error_page`] with a way on besides the home page: (href, label).
pub fn error_page_with(p: Page, error: ApiError, back: Option<(String, String)>) -> Response {
    let status = error.status();
    let code = error.code();
    match &error {
        ApiError::Internal(why) => tracing::error!(error = %why, "page failed"),
        ApiError::Unavailable(why) => tracing::warn!(error = %why, "page refused: unavailable"),
        _ => {}
    }
    let title = p.t(&format!("ui_status_{}", status.as_u16()));
    let message = p.t(&code);
    let mut response = render(&MessagePage {
        p,
        title,
        message,
        back,
    });
    *response.status_mut() = status;
    response
}

#[derive(Template)]
#[template(path = "requests_list.html")]
struct ListPage {
    p: Page,
    cases: Vec<CaseSummary>,
    pager: Pager,
}

async fn my_requests(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Query(q): Query<AfterParam>,
) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    if u.role != crate::auth::Role::Citizen {
        // Staff file no requests of their own: their home is their work.
        return axum::response::Redirect::to(super::staff_home::home_of(u.role)).into_response();
    }
    if let Err(e) =
        wait_for_own_writes(&state, Some(&u.user), &headers, projections::REQUEST_READS).await
    {
        return error_page(p, e);
    }
    let page = list_page(q.after.as_deref(), projections::paging::TIME_THEN_TEXT);
    match read::list_for_owner(&state.pool, &u.user.account_id.to_string(), &page).await {
        Ok(cases) => {
            let pager = Pager::new(&p.here, &page, cases.next.as_deref());
            render(&ListPage {
                p,
                cases: cases.items,
                pager,
            })
        }
        Err(e) => error_page(p, e.into()),
    }
}

#[derive(Template)]
#[template(path = "request_new.html")]
struct NewRequestPage {
    p: Page,
    form: FormState,
    place: super::place::PlaceFields,
}

async fn new_request_form(State(state): State<AppState>, p: Page) -> Response {
    if p.user.is_none() {
        return login_redirect(&p);
    }
    let form = FormState::new();
    let place = PlaceFields::new(&p, &state.config.municipality.requests, &form);
    render(&NewRequestPage { p, form, place })
}

#[derive(Deserialize)]
struct SubmitForm {
    kind: Option<String>,
    subject: Option<String>,
    text: Option<String>,
    desired_action: Option<String>,
    category: Option<String>,
    address: Option<String>,
    lat: Option<String>,
    long: Option<String>,
    /// `attribute[{code}]` answers, and the CSRF token.
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, String>,
}

impl SubmitForm {
    fn values(&self) -> FormState {
        FormState::with_values(
            [
                ("kind", self.kind.as_deref().unwrap_or("")),
                ("subject", self.subject.as_deref().unwrap_or("")),
                ("text", self.text.as_deref().unwrap_or("")),
                (
                    "desired_action",
                    self.desired_action.as_deref().unwrap_or(""),
                ),
                ("category", self.category.as_deref().unwrap_or("")),
                ("address", self.address.as_deref().unwrap_or("")),
                ("lat", self.lat.as_deref().unwrap_or("")),
                ("long", self.long.as_deref().unwrap_or("")),
            ]
            .into_iter()
            .chain(
                self.rest
                    .iter()
                    .filter(|(k, _)| k.starts_with("attribute["))
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
        )
    }

    fn into_submission(self, kind: Option<String>) -> Submission {
        Submission {
            kind,
            subject: self.subject,
            text: self.text,
            desired_action: self.desired_action,
            place: domain::request::PlaceInput {
                category: self.category,
                address: self.address,
                lat: self.lat,
                long: self.long,
                attributes: self
                    .rest
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let code = k.strip_prefix("attribute[")?.strip_suffix(']')?;
                        Some((code.to_string(), v))
                    })
                    .collect(),
            },
            category_required: false,
        }
    }
}

async fn new_request(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Form(f): Form<SubmitForm>,
) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    let mut form = f.values();
    // A named submission always has a kind: no radio chosen is "kind required".
    let kind = f.kind.clone().filter(|k| !k.is_empty());
    let mut submission = f.into_submission(kind);
    super::place::answers_of_chosen(&state.config.municipality.requests, &mut submission.place);
    let submitted = requests::submit(
        &state,
        Some(&u.user.actor()),
        context.metadata(Some(&u.user)),
        submission,
    )
    .await
    .map_err(ApiError::from);
    match submitted {
        Ok(submitted) => {
            Redirect::to(&format!("/requests/{}?submitted=1", submitted.id)).into_response()
        }
        Err(e @ (ApiError::Validation(_) | ApiError::Refused(_))) => {
            form.absorb(p.lang, &e);
            super::place::name_the_questions(&p, &state.config.municipality.requests, &mut form);
            let place = PlaceFields::new(&p, &state.config.municipality.requests, &form);
            let mut response = render(&NewRequestPage { p, form, place });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => error_page(p, e),
    }
}

#[derive(Template)]
#[template(path = "request_case.html")]
struct CasePage {
    p: Page,
    case: CaseDetail,
    timeline: Vec<TimelineView>,
    submitted: bool,
    reopened: bool,
    can_reopen: bool,
    form: FormState,
}

#[derive(Deserialize)]
struct CaseQuery {
    submitted: Option<String>,
    reopened: Option<String>,
}

/// Loads a citizen's own case for its page (404 for anyone else's).
async fn own_case(
    state: &AppState,
    p: &Page,
    headers: &HeaderMap,
    raw_id: &str,
) -> Result<(CaseDetail, Vec<TimelineEntry>), ApiError> {
    let u = p.user.as_ref().ok_or(ApiError::Unauthenticated)?;
    let id = case_id(raw_id)?;
    wait_for_own_writes(state, Some(&u.user), headers, projections::REQUEST_READS).await?;
    let owner = u.user.account_id.to_string();
    let mut case = read::detail_for_owner(&state.pool, &id, &owner).await?;
    if case.is_none() {
        wait_for_log_head(state, projections::REQUEST_READS).await?;
        case = read::detail_for_owner(&state.pool, &id, &owner).await?;
    }
    let case = case.ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, &id).await?;
    Ok((case, timeline))
}

fn case_page_for(
    p: Page,
    case: CaseDetail,
    timeline: &[TimelineEntry],
    form: FormState,
    q: &CaseQuery,
) -> Response {
    let can_reopen = case.status == "closed" && case.times_reopened == 0;
    let timeline = timeline_views(&p, timeline, true);
    render(&CasePage {
        p,
        case,
        timeline,
        submitted: q.submitted.is_some(),
        reopened: q.reopened.is_some(),
        can_reopen,
        form,
    })
}

async fn case_page(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> Response {
    if p.user.is_none() {
        return login_redirect(&p);
    }
    match own_case(&state, &p, &headers, &id).await {
        Ok((case, timeline)) => case_page_for(p, case, &timeline, FormState::new(), &q),
        Err(e) => error_page(p, e),
    }
}

/// `GET /requests/{id}/record.pdf`: the citizen's record of their case (issue 16) — its
/// summary and timeline, ending with the hash of the last event it shows, which the log's
/// audit view shows for the same event.
async fn record_pdf(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if p.user.is_none() {
        return login_redirect(&p);
    }
    let (case, timeline) = match own_case(&state, &p, &headers, &id).await {
        Ok(found) => found,
        Err(e) => return error_page(p, e),
    };
    let last = timeline.last().map(|e| e.sequence);
    let hash = match last {
        Some(sequence) => match commands::audit::event_hash(&state, &case.id, sequence).await {
            Ok(hash) => hash,
            Err(e) => return error_page(p, e.into()),
        },
        None => None,
    };
    let municipality = &state.config.municipality.municipality;
    let mut lines = vec![
        Line::Title(format!("{} {}", p.t("ui_record_title"), case.number)),
        Line::Text(p.lang.pick(&municipality.name_el, &municipality.name_en)),
        Line::Gap,
        Line::Text(format!("{}: {}", p.t("ui_case_subject"), case.subject)),
        Line::Text(format!("{}: {}", p.t("ui_case_text"), case.text)),
        Line::Text(format!(
            "{}: {}",
            p.t("ui_case_kind"),
            p.kind_label(&case.kind)
        )),
        Line::Text(format!(
            "{}: {}",
            p.t("ui_case_status"),
            p.status_label(&case.status)
        )),
    ];
    if let Some(number) = &case.protocol_number {
        lines.push(Line::Text(format!(
            "{}: {number}",
            p.t("ui_case_protocol_number")
        )));
    }
    lines.push(Line::Gap);
    lines.push(Line::Heading(p.t("ui_record_timeline")));
    for view in timeline_views(&p, &timeline, true) {
        lines.push(Line::Text(format!(
            "{} · {} · {}",
            view.time, view.title, view.actor
        )));
        if !view.detail.is_empty() {
            lines.push(Line::Text(view.detail));
        }
        lines.push(Line::Gap);
    }
    lines.push(Line::Heading(p.t("ui_record_proof")));
    if let (Some(sequence), Some(hash)) = (last, &hash) {
        lines.push(Line::Text(format!(
            "{} {sequence} (SHA-256):",
            p.t("ui_record_hash_of")
        )));
        lines.push(Line::Text(hash.clone()));
    }
    lines.push(Line::Text(p.t("ui_record_proof_text")));
    lines.push(Line::Gap);
    lines.push(Line::Text(format!(
        "{} {}",
        p.t("ui_record_made"),
        p.datetime(&chrono::Utc::now())
    )));
    let title = format!("{} {}", p.t("ui_record_title"), case.number);
    match crate::record::pdf(&title, &lines) {
        Ok(bytes) => crate::http::attachment(
            "application/pdf",
            &format!("request-{}.pdf", case.number.replace('/', "-")),
            bytes,
        ),
        Err(why) => error_page(p, ApiError::Internal(format!("record PDF: {why}"))),
    }
}

#[derive(Deserialize)]
struct ReopenForm {
    reason: Option<String>,
}

async fn reopen(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    context: RequestContext,
    Path(id): Path<String>,
    Form(f): Form<ReopenForm>,
) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    let reopened = requests::reopen(
        &state,
        &u.user.actor(),
        context.metadata(Some(&u.user)),
        &id,
        f.reason.as_deref(),
    )
    .await
    .map_err(ApiError::from);
    match reopened {
        Ok(_) => Redirect::to(&format!("/requests/{id}?reopened=1")).into_response(),
        Err(e @ (ApiError::Validation(_) | ApiError::Refused(_))) => {
            let mut form = FormState::with_values([("reason", f.reason.as_deref().unwrap_or(""))]);
            form.absorb(p.lang, &e);
            match own_case(&state, &p, &headers, &id).await {
                Ok((case, timeline)) => {
                    let q = CaseQuery {
                        submitted: None,
                        reopened: None,
                    };
                    let mut response = case_page_for(p, case, &timeline, form, &q);
                    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                    response
                }
                Err(e) => error_page(p, e),
            }
        }
        Err(e) => error_page(p, e),
    }
}

#[derive(Template)]
#[template(path = "anonymous.html")]
struct AnonymousPage {
    p: Page,
    form: FormState,
    place: super::place::PlaceFields,
}

async fn anonymous_form(State(state): State<AppState>, p: Page) -> Response {
    let form = FormState::new();
    let place = PlaceFields::new(&p, &state.config.municipality.requests, &form);
    render(&AnonymousPage { p, form, place })
}

/// The visitor's submission, answered with a redirect to the case's tracking page. The
/// tracking code is stored only as a hash: the page it leads to is the one place it is
/// shown (in its address and, just after filing, at its top).
async fn anonymous(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Form(f): Form<SubmitForm>,
) -> Response {
    let mut form = f.values();
    let mut submission = f.into_submission(None);
    super::place::answers_of_chosen(&state.config.municipality.requests, &mut submission.place);
    let submitted = requests::submit(&state, None, context.metadata(None), submission)
        .await
        .map_err(ApiError::from);
    match submitted {
        // Post/redirect/get: the answer is the case's tracking page, which shows the code
        // once more at the top (`?submitted=1`); a reload reads it again instead of filing
        // the form a second time.
        Ok(submitted) => Redirect::to(&format!(
            "/track/{}?submitted=1",
            submitted.tracking_code.unwrap_or_default()
        ))
        .into_response(),
        Err(e @ (ApiError::Validation(_) | ApiError::Refused(_))) => {
            form.absorb(p.lang, &e);
            super::place::name_the_questions(&p, &state.config.municipality.requests, &mut form);
            let place = PlaceFields::new(&p, &state.config.municipality.requests, &form);
            let mut response = render(&AnonymousPage { p, form, place });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => error_page(p, e),
    }
}

#[derive(Template)]
#[template(path = "track.html")]
struct TrackPage {
    p: Page,
    form: FormState,
}

#[derive(Deserialize)]
struct TrackQuery {
    code: Option<String>,
}

async fn track_form(p: Page, Query(q): Query<TrackQuery>) -> Response {
    match q.code.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => {
            let code: String = form_urlencoded::byte_serialize(code.as_bytes()).collect();
            Redirect::to(&format!("/track/{code}")).into_response()
        }
        Some(_) => {
            let mut form = FormState::new();
            form.add_error(
                p.lang,
                &crate::error::FieldError::new("code", "tracking_code_required"),
            );
            let mut response = render(&TrackPage { p, form });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        None => render(&TrackPage {
            p,
            form: FormState::new(),
        }),
    }
}

#[derive(Template)]
#[template(path = "track_case.html")]
struct TrackCasePage {
    p: Page,
    case: CaseDetail,
    timeline: Vec<TimelineView>,
    code: String,
    /// Just filed (the redirect after the anonymous form): the code is shown at the top,
    /// with the warning to keep it.
    submitted: bool,
}

#[derive(Deserialize)]
struct TrackedQuery {
    submitted: Option<String>,
}

async fn track_case(
    State(state): State<AppState>,
    p: Page,
    Path(code): Path<String>,
    Query(q): Query<TrackedQuery>,
) -> Response {
    let hash = tracking_code_sha256(&code);
    let found = async {
        let mut case = read::detail_by_tracking_code(&state.pool, &hash).await?;
        if case.is_none() {
            wait_for_log_head(&state, projections::REQUEST_READS).await?;
            case = read::detail_by_tracking_code(&state.pool, &hash).await?;
        }
        let case = case.ok_or(ApiError::NotFound("case_not_found"))?;
        let timeline = read::timeline(&state.pool, &case.id).await?;
        Ok::<_, ApiError>((case, timeline))
    }
    .await;
    match found {
        Ok((mut case, timeline)) => {
            case.assigned_to_name = None;
            let timeline = timeline_views(&p, &timeline, false);
            let mut response = render(&TrackCasePage {
                p,
                case,
                timeline,
                code,
                submitted: q.submitted.is_some(),
            });
            // The address holds the code, the one key to the case: no cache keeps the page,
            // and no request from it names it in a `Referer` (a proxy's access log).
            let headers = response.headers_mut();
            headers.insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            headers.insert(
                axum::http::header::REFERRER_POLICY,
                axum::http::HeaderValue::from_static("no-referrer"),
            );
            response
        }
        Err(e) => error_page(p, e),
    }
}
