//! Pages for applicants (issue 4): «Πιστοποιητικά – Βεβαιώσεις», the lists «Αιτήσεις
//! Δημοτολογίου» and «Αιτήσεις Βεβαιώσεων ΤΑΠ» with their forms «Νέα Αίτηση» and «Νέο
//! Αίτημα ΤΑΠ», an application with its timeline, the answer to the municipality's question
//! and the issued document, and «Η πιστοποίησή μου». A user who is not certified is told how
//! to get certified instead of being shown a form.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::application::ApplicationKind;
use domain::municipality::Municipality;
use projections::applications::{self as read, ApplicationRow, ApplicationTimelineEntry};
use projections::certifications::{self as certifications_read, CertificationRow};
use serde::Deserialize;

use super::cases::{error_page, MessagePage, TimelineView};
use super::login_redirect;
use super::{render, FormState, Page};
use crate::application_reads::own_application;
use crate::auth::{CurrentUser, Role};
use crate::error::ApiError;
use crate::http::{
    case_id, document_response, wait_for_log_head, wait_for_own_writes, RequestContext,
};
use crate::i18n::Lang;
use crate::labels::format_area;
use crate::AppState;
use commands::applications::{self, ApplicationForm};
use commands::certification::certification_of;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/certificates", get(services))
        .route("/certificates/civil-registry", get(civil_registry_list))
        .route(
            "/certificates/civil-registry/new",
            get(civil_registry_form).post(civil_registry_apply),
        )
        .route("/certificates/tap", get(tap_list))
        .route("/certificates/tap/new", get(tap_form).post(tap_apply))
        .route("/certificates/applications/{id}", get(application_page))
        .route("/certificates/applications/{id}/reply", post(reply))
        .route("/certificates/applications/{id}/document", get(document))
        .route("/certification", get(my_certification))
}

/// The list of a kind of application.
pub(super) fn list_href(kind: &str) -> &'static str {
    match kind {
        "tap" => "/certificates/tap",
        _ => "/certificates/civil-registry",
    }
}

/// The citizen a certificate page is for: a login for a visitor; staff are told that
/// citizens apply and clerks process.
pub(super) fn applicant(p: &Page) -> Result<CurrentUser, Box<Response>> {
    match &p.user {
        None => Err(Box::new(login_redirect(p))),
        Some(u) if u.role == Role::Citizen => Ok(u.user.clone()),
        Some(_) => {
            let mut response = render(&MessagePage {
                p: p.clone(),
                title: p.t("ui_status_403"),
                message: p.t("ui_cert_staff_not_applicant"),
                back: None,
            });
            *response.status_mut() = StatusCode::FORBIDDEN;
            Err(Box::new(response))
        }
    }
}

// ---------------------------------------------------------------------------------------
// What the pages show
// ---------------------------------------------------------------------------------------

/// An application as its pages show it: labels in the reader's language, times in Athens.
pub(super) struct ApplicationView {
    pub id: String,
    pub number: String,
    pub kind: String,
    pub kind_label: String,
    /// The certificate applied for, in the reader's language.
    pub title: String,
    pub status: String,
    pub status_label: String,
    pub finished: bool,
    pub submitted_at: String,
    pub updated_at: String,
    pub due_on: String,
    pub overdue: bool,
    pub property_address: Option<String>,
    pub supply_number: Option<String>,
    pub area: Option<String>,
    pub kaek: Option<String>,
    pub text: String,
    pub delivery: String,
    pub delivery_label: String,
    pub delivery_address: Option<String>,
    pub applicant_name: String,
    pub business_name: Option<String>,
    pub business_afm: Option<String>,
    pub protocol_number: Option<String>,
    pub protocol_date: Option<String>,
    pub protocol_attempts: i32,
    /// No protocol number after at least one attempt.
    pub protocol_failing: bool,
    /// The protocol system refused it: no automatic attempt follows, a clerk must act.
    pub protocol_refused: bool,
    pub protocol_next_attempt: Option<String>,
    pub protocol_last_error: Option<String>,
    pub assigned_to_name: Option<String>,
    pub open_question: Option<String>,
    pub issue_method: Option<String>,
    pub document_filename: Option<String>,
    pub issue_note: Option<String>,
    pub reject_reason: Option<String>,
}

/// The name of what was applied for: the configured name in the reader's language, or the
/// Greek name stored at submission if the type has since left the list.
fn certificate_title(lang: Lang, m: &Municipality, row: &ApplicationRow) -> String {
    let pick = |el: &str, en: &str| match lang {
        Lang::En => en.to_string(),
        Lang::El => el.to_string(),
    };
    if row.kind == ApplicationKind::Tap.as_str() {
        return pick(&m.tap.name_el, &m.tap.name_en);
    }
    row.certificate_type
        .as_deref()
        .and_then(|code| m.certificate_type(code))
        .map(|t| pick(&t.name_el, &t.name_en))
        .or_else(|| row.certificate_name.clone())
        .unwrap_or_default()
}

impl ApplicationView {
    /// `row` as the pages show it; past due on `today`.
    pub fn new(p: &Page, m: &Municipality, row: &ApplicationRow, today: chrono::NaiveDate) -> Self {
        Self {
            id: row.id.clone(),
            number: row.number.clone(),
            kind: row.kind.clone(),
            kind_label: p.application_kind_label(&row.kind),
            title: certificate_title(p.lang, m, row),
            status: row.status.clone(),
            status_label: p.application_status_label(&row.status),
            finished: row.finished_at.is_some(),
            submitted_at: p.datetime(&row.submitted_at),
            updated_at: p.datetime(&row.updated_at),
            due_on: p.day(&row.due_on),
            overdue: row.overdue(today),
            property_address: row.property_address.clone(),
            supply_number: row.supply_number.clone(),
            area: row
                .area_hundredths
                .map(|h| format_area(u32::try_from(h).unwrap_or(0))),
            kaek: row.kaek.clone(),
            text: row.text.clone(),
            delivery: row.delivery_method.clone(),
            delivery_label: p.delivery_label(&row.delivery_method),
            delivery_address: row.delivery_address.clone(),
            applicant_name: row.applicant_name.clone(),
            business_name: row.business_name.clone(),
            business_afm: row.business_afm.clone(),
            protocol_number: row.protocol_number.clone(),
            protocol_date: row.protocol_date.as_ref().map(|d| p.date(d)),
            protocol_attempts: row.protocol_attempts,
            protocol_failing: row.protocol_number.is_none() && row.protocol_attempts > 0,
            protocol_refused: row.protocol_number.is_none()
                && row.protocol_attempts > 0
                && row.protocol_next_attempt_at.is_none()
                && row.protocol_last_error.is_some(),
            protocol_next_attempt: row
                .protocol_number
                .is_none()
                .then_some(row.protocol_next_attempt_at.as_ref())
                .flatten()
                .map(|t| p.datetime(t)),
            protocol_last_error: row
                .protocol_number
                .is_none()
                .then(|| row.protocol_last_error.clone())
                .flatten(),
            assigned_to_name: row.assigned_to_name.clone(),
            open_question: row.open_question.clone(),
            issue_method: row.issue_method.clone(),
            document_filename: row.document_filename.clone(),
            issue_note: row.issue_note.clone(),
            reject_reason: row.reject_reason.clone(),
        }
    }

    pub fn is_tap(&self) -> bool {
        self.kind == ApplicationKind::Tap.as_str()
    }

    pub fn information_requested(&self) -> bool {
        self.status == "information_requested"
    }

    /// Where the issued document downloads from, for the applicant or for clerks (a
    /// reference: askama hands macro arguments over by reference).
    pub fn document_href(&self, for_staff: &bool) -> String {
        if *for_staff {
            format!("/staff/applications/{}/document", self.id)
        } else {
            format!("/certificates/applications/{}/document", self.id)
        }
    }

    /// Issued this way (`electronic`, `post`, `in_person`).
    pub fn issue_is(&self, method: &str) -> bool {
        self.issue_method.as_deref() == Some(method)
    }
}

/// An application's timeline in plain words. Clerks (`for_staff`) also see what the
/// protocol system answered to a failed attempt.
pub(super) fn application_timeline(
    p: &Page,
    entries: &[ApplicationTimelineEntry],
    applicant_name: &str,
    for_staff: bool,
) -> Vec<TimelineView> {
    entries
        .iter()
        .map(|e| {
            let d = e.typed_details();
            let text = |value: &Option<String>| value.clone().unwrap_or_default();
            let detail = match e.event_type.as_str() {
                "ApplicationSubmitted" => {
                    let due = d.due_on.map(|day| p.day(&day)).unwrap_or_default();
                    format!(
                        "{}: {} · {}: {due}",
                        p.t("ui_app_delivery"),
                        p.delivery_label(&text(&d.delivery)),
                        p.t("ui_app_deadline"),
                    )
                }
                "ApplicationProtocolFailed" => {
                    let why = if d.refused {
                        p.t("ui_app_protocol_refused")
                    } else {
                        p.t("ui_app_protocol_unavailable")
                    };
                    let attempt = d.attempt.unwrap_or(0);
                    let mut words = format!("{} {attempt}: {why}", p.t("ui_app_attempt"));
                    if d.refused {
                        words.push_str(&format!(" {}", p.t("ui_app_protocol_refused_clerk")));
                    } else if let Some(next) = d.next_attempt_at {
                        words.push_str(&format!(
                            " {} {}.",
                            p.t("ui_app_next_attempt"),
                            p.datetime(&next)
                        ));
                    }
                    let error = text(&d.error);
                    if for_staff && !error.is_empty() {
                        words.push_str(&format!(" ({error})"));
                    }
                    words
                }
                "ApplicationProtocolRegistered" => {
                    let date = d
                        .protocol_date
                        .map(|t| format!(", {}", p.date(&t)))
                        .unwrap_or_default();
                    format!(
                        "{} {}{date}",
                        p.t("ui_case_protocol_number"),
                        text(&d.protocol_number)
                    )
                }
                "InformationRequested" => text(&d.question),
                "InformationProvided" => text(&d.reply),
                "CertificateIssued" => {
                    let method = text(&d.method);
                    let how = p.t(&format!("ui_app_issued_{method}"));
                    let extra = match method.as_str() {
                        "electronic" => text(&d.filename),
                        _ => text(&d.note),
                    };
                    if extra.is_empty() {
                        how
                    } else {
                        format!("{how} — {extra}")
                    }
                }
                "ApplicationRejected" => text(&d.reason),
                _ => String::new(),
            };
            let actor = match (e.event_type.as_str(), &e.actor_name) {
                ("InformationProvided", _) => applicant_name.to_string(),
                (_, Some(name)) => name.clone(),
                (_, None) => p.t("ui_app_actor_portal"),
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

/// A certification as the pages show it (the applicant's own, or the one a clerk looks at).
pub(super) struct CertificationView {
    /// `certified`, `revoked` or `not_certified` (also the tag's modifier).
    pub status: &'static str,
    pub status_label: String,
    pub holder_name: String,
    pub document_label: String,
    pub document_number: String,
    pub business_name: Option<String>,
    pub business_afm: Option<String>,
    pub certified_by: String,
    pub certified_at: String,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<String>,
}

impl CertificationView {
    /// The certification as a clerk reads it about someone else («Δεν έχει
    /// πιστοποιηθεί», not the citizen's own «Δεν έχετε πιστοποιηθεί»).
    pub fn about_someone_else(p: &Page, row: Option<&CertificationRow>) -> Self {
        let mut view = Self::new(p, row);
        view.status_label = p.t(&format!("ui_staff_cert_status_{}", view.status));
        view
    }

    pub fn new(p: &Page, row: Option<&CertificationRow>) -> Self {
        let status = match row {
            Some(r) if r.certified => "certified",
            Some(_) => "revoked",
            None => "not_certified",
        };
        Self {
            status,
            status_label: p.t(&format!("ui_certification_status_{status}")),
            holder_name: row.map(|r| r.holder_name.clone()).unwrap_or_default(),
            document_label: row
                .map(|r| p.document_label(&r.document))
                .unwrap_or_default(),
            document_number: row.map(|r| r.document_number.clone()).unwrap_or_default(),
            business_name: row.and_then(|r| r.business_name.clone()),
            business_afm: row.and_then(|r| r.business_afm.clone()),
            certified_by: row.map(|r| r.certified_by_name.clone()).unwrap_or_default(),
            certified_at: row.map(|r| p.datetime(&r.certified_at)).unwrap_or_default(),
            revoked_by: row.and_then(|r| r.revoked_by_name.clone()),
            revoked_at: row.and_then(|r| r.revoked_at.as_ref().map(|t| p.datetime(t))),
            revoke_reason: row.and_then(|r| r.revoke_reason.clone()),
        }
    }

    pub fn certified(&self) -> bool {
        self.status == "certified"
    }
}

/// Whether the user is certified (from their `Certification` stream: the decision) and the
/// certification's details (from the read model, once it has caught up with the stream).
pub(super) async fn own_certification(
    state: &AppState,
    user: &CurrentUser,
) -> Result<(bool, Option<CertificationRow>), ApiError> {
    let certification = certification_of(state, user.account_id).await?;
    let certified = certification.certified;
    let afm = certification.business.as_ref().map(|b| b.afm.as_str());
    let id = user.account_id.to_string();
    let mut row = certifications_read::get(&state.pool, &id).await?;
    // The row lags the log when it tells another story than the case itself: certified
    // or not, and for which business (revoked and certified again for a business, say).
    let lags = |row: &Option<CertificationRow>| {
        row.as_ref().is_some_and(|r| r.certified) != certified
            || (certified && row.as_ref().and_then(|r| r.business_afm.as_deref()) != afm)
    };
    if lags(&row) {
        wait_for_log_head(state, projections::APPLICATION_READS).await?;
        row = certifications_read::get(&state.pool, &id).await?;
    }
    Ok((certified, row))
}

// ---------------------------------------------------------------------------------------
// «Πιστοποιητικά – Βεβαιώσεις» and «Η πιστοποίησή μου»
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "certificates_services.html")]
struct ServicesPage {
    p: Page,
    certification: CertificationView,
}

async fn services(State(state): State<AppState>, p: Page) -> Response {
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    match own_certification(&state, &user).await {
        Ok((_, row)) => {
            let certification = CertificationView::new(&p, row.as_ref());
            render(&ServicesPage { p, certification })
        }
        Err(e) => error_page(p, e),
    }
}

#[derive(Template)]
#[template(path = "my_certification.html")]
struct MyCertificationPage {
    p: Page,
    certification: CertificationView,
    email: String,
}

async fn my_certification(State(state): State<AppState>, p: Page) -> Response {
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    match own_certification(&state, &user).await {
        Ok((_, row)) => {
            let certification = CertificationView::new(&p, row.as_ref());
            render(&MyCertificationPage {
                p,
                certification,
                email: user.email.clone(),
            })
        }
        Err(e) => error_page(p, e),
    }
}

#[derive(Template)]
#[template(path = "certification_required.html")]
struct CertificationRequiredPage {
    p: Page,
    certification: CertificationView,
    email: String,
}

/// What an uncertified user sees instead of a form: how to get certified (403, with a
/// page that says what to do).
async fn certification_required(state: &AppState, p: Page, user: &CurrentUser) -> Response {
    let row = certifications_read::get(&state.pool, &user.account_id.to_string())
        .await
        .ok()
        .flatten();
    let certification = CertificationView::new(&p, row.as_ref());
    let mut response = render(&CertificationRequiredPage {
        p,
        certification,
        email: user.email.clone(),
    });
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

// ---------------------------------------------------------------------------------------
// The lists
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "certificates_list.html")]
struct ListPage {
    p: Page,
    kind: &'static str,
    title: String,
    new_label: String,
    new_href: String,
    applications: Vec<ApplicationView>,
    certification: CertificationView,
    email: String,
    pager: super::layout::Pager,
}

async fn list(
    state: AppState,
    p: Page,
    headers: HeaderMap,
    kind: ApplicationKind,
    after: Option<String>,
) -> Response {
    let page = super::layout::list_page(after.as_deref(), projections::paging::TIME_THEN_TEXT);
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let loaded = async {
        wait_for_own_writes(
            &state,
            Some(&user),
            &headers,
            projections::APPLICATION_READS,
        )
        .await?;
        let rows = read::list_for_applicant(
            &state.pool,
            &user.account_id.to_string(),
            Some(kind.as_str()),
            &page,
        )
        .await?;
        let (_, certification) = own_certification(&state, &user).await?;
        Ok::<_, ApiError>((rows, certification))
    }
    .await;
    let (rows, certification) = match loaded {
        Ok(found) => found,
        Err(e) => return error_page(p, e),
    };
    let m = &state.config.municipality;
    let today = state.portal.today();
    let pager = super::layout::Pager::new(&p.here, &page, rows.next.as_deref());
    let applications = rows
        .items
        .iter()
        .map(|r| ApplicationView::new(&p, m, r, today))
        .collect();
    let certification = CertificationView::new(&p, certification.as_ref());
    let (title, new_label) = match kind {
        ApplicationKind::CivilRegistry => ("ui_cert_civil_registry_title", "ui_cert_new_civil"),
        ApplicationKind::Tap => ("ui_cert_tap_title", "ui_cert_new_tap"),
    };
    render(&ListPage {
        kind: kind.as_str(),
        title: p.t(title),
        new_label: p.t(new_label),
        new_href: format!("{}/new", list_href(kind.as_str())),
        applications,
        certification,
        email: user.email.clone(),
        pager,
        p,
    })
}

async fn civil_registry_list(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Query(q): Query<super::layout::AfterParam>,
) -> Response {
    list(state, p, headers, ApplicationKind::CivilRegistry, q.after).await
}

async fn tap_list(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Query(q): Query<super::layout::AfterParam>,
) -> Response {
    list(state, p, headers, ApplicationKind::Tap, q.after).await
}

// ---------------------------------------------------------------------------------------
// «Νέα Αίτηση» and «Νέο Αίτημα ΤΑΠ»
// ---------------------------------------------------------------------------------------

/// An option of a `<select>`.
pub(super) struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "certificate_new.html")]
struct CivilRegistryForm {
    p: Page,
    form: FormState,
    types: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "tap_new.html")]
struct TapForm {
    p: Page,
    form: FormState,
    deadline_days: u32,
}

/// What both forms send (each reads its own fields).
#[derive(Deserialize)]
struct ApplyForm {
    certificate_type: Option<String>,
    property_address: Option<String>,
    supply_number: Option<String>,
    area: Option<String>,
    kaek: Option<String>,
    text: Option<String>,
    delivery: Option<String>,
    postal_address: Option<String>,
}

impl ApplyForm {
    fn values(&self) -> FormState {
        let v = |f: &Option<String>| f.clone().unwrap_or_default();
        let values = [
            ("certificate_type", v(&self.certificate_type)),
            ("property_address", v(&self.property_address)),
            ("supply_number", v(&self.supply_number)),
            ("area", v(&self.area)),
            ("kaek", v(&self.kaek)),
            ("text", v(&self.text)),
            ("delivery", v(&self.delivery)),
            ("postal_address", v(&self.postal_address)),
        ];
        FormState::with_values(values.iter().map(|(k, v)| (*k, v.as_str())))
    }

    fn into_form(self, kind: ApplicationKind) -> ApplicationForm {
        let civil = kind == ApplicationKind::CivilRegistry;
        let tap = |f: Option<String>| if civil { None } else { f };
        ApplicationForm {
            kind: Some(kind.as_str().to_string()),
            certificate_type: if civil { self.certificate_type } else { None },
            property_address: tap(self.property_address),
            supply_number: tap(self.supply_number),
            area: tap(self.area),
            kaek: tap(self.kaek),
            text: self.text,
            // The address only counts for delivery by post.
            postal_address: (self.delivery.as_deref() == Some("post"))
                .then_some(self.postal_address)
                .flatten(),
            delivery: self.delivery,
        }
    }
}

fn type_choices(p: &Page, m: &Municipality) -> Vec<Choice> {
    std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_cert_type_choose"),
    })
    .chain(m.civil_registry.iter().map(|t| {
        let name = match p.lang {
            Lang::En => &t.name_en,
            Lang::El => &t.name_el,
        };
        Choice {
            value: t.code.clone(),
            label: format!(
                "{name} ({} {} {})",
                p.t("ui_cert_deadline_up_to"),
                t.deadline_days,
                p.t("ui_cert_days")
            ),
        }
    }))
    .collect()
}

fn form_page(state: &AppState, p: Page, kind: ApplicationKind, form: FormState) -> Response {
    let m = &state.config.municipality;
    match kind {
        ApplicationKind::CivilRegistry => {
            let types = type_choices(&p, m);
            render(&CivilRegistryForm { p, form, types })
        }
        ApplicationKind::Tap => render(&TapForm {
            p,
            form,
            deadline_days: m.tap.deadline_days,
        }),
    }
}

async fn new_form(state: AppState, p: Page, kind: ApplicationKind) -> Response {
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    match certification_of(&state, user.account_id).await {
        Ok(c) if c.certified => form_page(&state, p, kind, FormState::new()),
        Ok(_) => certification_required(&state, p, &user).await,
        Err(e) => error_page(p, e.into()),
    }
}

async fn apply(
    state: AppState,
    p: Page,
    context: RequestContext,
    kind: ApplicationKind,
    f: ApplyForm,
) -> Response {
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let mut form = f.values();
    let applied = applications::apply(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        f.into_form(kind),
    )
    .await
    .map_err(ApiError::from);
    match applied {
        Ok(applied) => Redirect::to(&format!(
            "/certificates/applications/{}?submitted=1",
            applied.id
        ))
        .into_response(),
        Err(ApiError::Refused(r)) if r.code == "certification_required" => {
            certification_required(&state, p, &user).await
        }
        Err(e @ (ApiError::Validation(_) | ApiError::Refused(_))) => {
            form.absorb(p.lang, &e);
            let mut response = form_page(&state, p, kind, form);
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => error_page(p, e),
    }
}

async fn civil_registry_form(State(state): State<AppState>, p: Page) -> Response {
    new_form(state, p, ApplicationKind::CivilRegistry).await
}

async fn tap_form(State(state): State<AppState>, p: Page) -> Response {
    new_form(state, p, ApplicationKind::Tap).await
}

async fn civil_registry_apply(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Form(f): Form<ApplyForm>,
) -> Response {
    apply(state, p, context, ApplicationKind::CivilRegistry, f).await
}

async fn tap_apply(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Form(f): Form<ApplyForm>,
) -> Response {
    apply(state, p, context, ApplicationKind::Tap, f).await
}

// ---------------------------------------------------------------------------------------
// An application
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "certificate_case.html")]
struct ApplicationPage {
    p: Page,
    app: ApplicationView,
    timeline: Vec<TimelineView>,
    submitted: bool,
    replied: bool,
    form: FormState,
    list_href: &'static str,
    list_label: String,
}

#[derive(Deserialize)]
struct ApplicationQuery {
    submitted: Option<String>,
    replied: Option<String>,
}

fn application_page_for(
    state: &AppState,
    p: Page,
    row: &ApplicationRow,
    timeline: &[ApplicationTimelineEntry],
    form: FormState,
    q: &ApplicationQuery,
) -> Response {
    let app = ApplicationView::new(&p, &state.config.municipality, row, state.portal.today());
    let timeline = application_timeline(&p, timeline, &row.applicant_name, false);
    let list_label = match row.kind.as_str() {
        "tap" => p.t("ui_cert_back_to_tap"),
        _ => p.t("ui_cert_back_to_civil"),
    };
    render(&ApplicationPage {
        list_href: list_href(&row.kind),
        list_label,
        app,
        timeline,
        submitted: q.submitted.is_some(),
        replied: q.replied.is_some(),
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
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    match own_application(&state, &user, &headers, &id).await {
        Ok((row, timeline)) => {
            application_page_for(&state, p, &row, &timeline, FormState::new(), &q)
        }
        Err(e) => error_page(p, e),
    }
}

#[derive(Deserialize)]
struct ReplyForm {
    reply: Option<String>,
}

async fn reply(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    context: RequestContext,
    Path(id): Path<String>,
    Form(f): Form<ReplyForm>,
) -> Response {
    let mut p = p;
    if p.user.is_none() {
        // After logging in, back to the application, not to this POST-only address.
        p.here = match case_id(&id) {
            Ok(id) => format!("/certificates/applications/{id}"),
            Err(_) => "/certificates".to_string(),
        };
    }
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    let replied = applications::reply(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &id,
        f.reply.as_deref(),
    )
    .await
    .map_err(ApiError::from);
    match replied {
        Ok(_) => {
            Redirect::to(&format!("/certificates/applications/{id}?replied=1")).into_response()
        }
        Err(e @ (ApiError::Validation(_) | ApiError::Refused(_)))
            if e.status() != StatusCode::NOT_FOUND =>
        {
            let status = e.status();
            let mut form = FormState::with_values([("reply", f.reply.as_deref().unwrap_or(""))]);
            form.absorb(p.lang, &e);
            match own_application(&state, &user, &headers, &id).await {
                Ok((row, timeline)) => {
                    let q = ApplicationQuery {
                        submitted: None,
                        replied: None,
                    };
                    let mut response = application_page_for(&state, p, &row, &timeline, form, &q);
                    *response.status_mut() = status;
                    response
                }
                Err(e) => error_page(p, e),
            }
        }
        Err(e) => error_page(p, e),
    }
}

/// The issued certificate (PDF) of the applicant's own application.
async fn document(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(p, e),
    };
    let found = async {
        let (row, _) = own_application(&state, &user, &headers, &id).await?;
        document_response(&state, &row).await
    }
    .await;
    match found {
        Ok(response) => response,
        Err(e) => error_page(p, e),
    }
}
