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
use domain::application::ApplicationKind;
use projections::applications as read;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::application_reads::{own_application, queue_filter, staff_application};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{
    document_response, position_header, wait_for_log_head, wait_for_own_writes, CaseId,
    RequestContext,
};
use crate::i18n::Lang;
use crate::labels::{
    labelled_application, labelled_application_timeline, ApplicationWithTimeline,
    LabelledApplication,
};
use crate::AppState;

// ---------------------------------------------------------------------------------------
// The applicant
// ---------------------------------------------------------------------------------------

/// The form of «Νέα Αίτηση» (civil registry) and «Νέο Αίτημα ΤΑΠ». A civil-registry
/// application needs `certificate_type`; a ΤΑΠ application needs `property_address`,
/// `supply_number`, `area` (and optionally `kaek`). The fields of the other kind, and
/// `postal_address` with a delivery other than `post`, are ignored. Every bad field is
/// reported at once.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    #[schema(value_type = domain::application::ApplicationKind, required)]
    pub kind: Option<String>,
    /// civil_registry: a `code` from `GET /api/v1/certificates/types`.
    #[schema(examples("family_status"))]
    pub certificate_type: Option<String>,
    /// tap: the property's address, one line.
    #[schema(max_length = 200)]
    pub property_address: Option<String>,
    /// tap: the electricity supply number, 8–12 digits (spaces, dots and dashes are
    /// dropped).
    pub supply_number: Option<String>,
    /// m², as text (`"85,50"`) or a JSON number (`85.5`).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = commands::tax_declarations::text_or_number, examples("85,5"))]
    pub area: Option<String>,
    /// tap, optional (empty counts as absent): ΚΑΕΚ, 12 digits optionally followed by `/n`
    /// or `/n/n` (up to 4 digits each).
    #[schema(examples("050681726001/0/3"))]
    pub kaek: Option<String>,
    /// Free text, line breaks kept (errors use the `text_*` codes).
    #[schema(required, min_length = 1, max_length = 5000)]
    pub text: Option<String>,
    #[schema(value_type = projections::applications::DeliveryMethod, required)]
    pub delivery: Option<String>,
    /// Required with `delivery: post`; line breaks kept.
    #[schema(max_length = 300)]
    pub postal_address: Option<String>,
}

/// An application filed.
#[derive(Serialize, ToSchema)]
pub struct ApplyAnswer {
    /// The application id.
    id: String,
    /// Α.Α.: the same yearly series as requests.
    #[schema(pattern = r"^[0-9]{4}/[0-9]{6,}$", examples("2026/000001"))]
    number: String,
    #[schema(inline)]
    status: Submitted,
    /// The statutory deadline: the day of submission in Athens plus the type's
    /// `deadline_days`.
    due_on: chrono::NaiveDate,
    /// Set when the first protocol attempt (on submission) succeeded.
    #[schema(required)]
    protocol_number: Option<String>,
    #[schema(required)]
    protocol_date: Option<chrono::DateTime<chrono::Utc>>,
    /// `true` when the protocol system did not register the application yet (it is
    /// retried in the background).
    protocol_pending: bool,
    /// Its position in the log's commit order: `<transaction id>.<global position>`.
    #[schema(pattern = r"^[0-9]+\.[0-9]+$")]
    position: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Submitted {
    Submitted,
}

/// A reply recorded.
#[derive(Serialize, ToSchema)]
pub struct ReplyAnswer {
    id: String,
    #[schema(inline)]
    status: InReview,
    /// Its position in the log's commit order: `<transaction id>.<global position>`.
    #[schema(pattern = r"^[0-9]+\.[0-9]+$")]
    position: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum InReview {
    InReview,
}

/// A page of the clerks' applications queue.
#[derive(Serialize, ToSchema)]
pub struct ApplicationQueue {
    /// The nearest deadline first, then the oldest.
    items: Vec<LabelledApplication>,
    counts: read::QueueCounts,
    /// The `after` of the next page; `null` on the last page.
    #[schema(required)]
    next: Option<String>,
}

/// The application's state after the act, folded from its events (it always shows the
/// act).
#[derive(Serialize, ToSchema)]
pub struct ApplicationActionAnswer {
    id: String,
    #[schema(required)]
    status: Option<domain::application::ApplicationStatus>,
    #[schema(required)]
    protocol_number: Option<String>,
    #[schema(required)]
    protocol_date: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(minimum = 0)]
    protocol_attempts: u32,
    /// Its position in the log's commit order: `<transaction id>.<global position>`.
    #[schema(pattern = r"^[0-9]+\.[0-9]+$")]
    position: String,
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
#[utoipa::path(
    post,
    path = "/api/v1/applications",
    operation_id = "applyForCertificate",
    tag = "certificates",
    summary = "Apply for a civil-registry or ΤΑΠ certificate",
    description = "A certified citizen only (role `citizen`; other roles 403 `forbidden`). A user whose certification does not stand gets 403 `certification_required` before any check of the form. The answer comes once the application is stored, after the first attempt to register it in the protocol system (at most PORTAL_PROTOCOL_INLINE_TIMEOUT_MS, 3 s): with `protocol_number` and `protocol_date`, or with `protocol_pending: true` when the protocol system did not register it yet; the portal then retries by itself (PORTAL_PROTOCOL_RETRY_FIRST_SECS, then every PORTAL_PROTOCOL_RETRY_EVERY_SECS) with the idempotency key `CertificateApplication:<id>`, so the application gets exactly one protocol number, and e-mails the applicant when it comes. See docs/operations.md.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId, crate::openapi::IdempotencyKey),
    request_body(content = ApplyBody, examples(("civil_registry" = (value = json!({"kind": "civil_registry", "certificate_type": "family_status", "text": "Για υποβολή στην εφορία.", "delivery": "electronic"}))), ("tap" = (value = json!({"kind": "tap", "property_address": "Αγίου Νικολάου 5, 26221 Πάτρα", "supply_number": "1 23456789-01", "area": "85,5", "kaek": "050681726001/0/3", "text": "Για τη μεταβίβαση του ακινήτου.", "delivery": "post", "postal_address": "Ταβέρνα Ο Μύλος Ο.Ε.\nΑγίου Νικολάου 5\n26221 Πάτρα"}))), ("in_person" = (value = json!({"kind": "civil_registry", "certificate_type": "birth", "text": "Για την εγγραφή του παιδιού στο σχολείο.", "delivery": "in_person"}))))),
    responses(
        (status = 201, description = "Stored.", body = ApplyAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), examples(("registered" = (value = json!({"due_on": "2026-12-07", "id": "2e5c116e-d4f5-41da-a1e7-08a32092fc6a", "number": "2026/000001", "position": "275005.4", "protocol_date": "2026-11-27T04:14:24.907453859Z", "protocol_number": "1/2026", "protocol_pending": false, "status": "submitted"}))), ("protocol_pending" = (value = json!({"due_on": "2026-12-07", "id": "a769a956-07a6-48ec-8d48-87b03327ffea", "number": "2026/000002", "position": "275019.6", "protocol_date": null, "protocol_number": null, "protocol_pending": true, "status": "submitted"}))))),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`forbidden`: the role is not `citizen`. `certification_required`: the user is not certified (never, or revoked); the message says how to get certified.", body = crate::error::ErrorBody, examples(("certification_required" = (value = json!({"error": {"code": "certification_required", "message": "Για αυτή την υπηρεσία χρειάζεται πιστοποίηση από τον Δήμο. Προσέλθετε στο Δημαρχείο ή σε ΚΕΠ με την αστυνομική σας ταυτότητα ή το διαβατήριό σας (για επιχείρηση: ο εκπρόσωπος, με το καταστατικό και τον ΑΦΜ) για να σας πιστοποιήσει υπάλληλος.", "fields": []}}))))),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`kind`: `application_kind_invalid`, also when missing; `certificate_type`: `certificate_type_required`, `certificate_type_invalid`; `property_address`: `property_address_required`, `property_address_too_long`, `property_address_control_chars`; `supply_number`: `supply_number_required`, `supply_number_invalid`; `area`: `area_required`, `area_invalid`, `area_out_of_range`; `kaek`: `kaek_invalid`; `text`: `text_required`, `text_too_long`, `text_control_chars`; `delivery`: `delivery_required`, `delivery_invalid`; `postal_address`: `postal_address_required`, `postal_address_too_long`, `postal_address_control_chars`).", body = crate::error::ErrorBody, examples(("validation_failed" = (value = json!({"error": {"code": "validation_failed", "message": "Ορισμένα πεδία χρειάζονται διόρθωση. Δείτε τα μηνύματα δίπλα σε κάθε πεδίο.", "fields": [{"field": "property_address", "code": "property_address_required", "message": "Συμπληρώστε τη διεύθυνση του ακινήτου."}, {"field": "supply_number", "code": "supply_number_invalid", "message": "Ο αριθμός παροχής έχει 8 έως 12 ψηφία, όπως τυπώνεται στον λογαριασμό ρεύματος."}, {"field": "area", "code": "area_out_of_range", "message": "Το εμβαδόν πρέπει να είναι μεγαλύτερο από 0 και έως 100.000 m²."}, {"field": "kaek", "code": "kaek_invalid", "message": "Ο ΚΑΕΚ έχει 12 ψηφία, π.χ. 050681726001 ή 050681726001/0/3. Αφήστε τον κενό αν δεν τον γνωρίζετε."}, {"field": "text", "code": "text_required", "message": "Συμπληρώστε το Κείμενο."}, {"field": "postal_address", "code": "postal_address_required", "message": "Για αποστολή ταχυδρομικώς συμπληρώστε τη διεύθυνση αποστολής."}]}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
        Json(ApplyAnswer {
            id: applied.id.to_string(),
            number: applied.number.to_string(),
            status: Submitted::Submitted,
            due_on: applied.due_on,
            protocol_pending: applied.protocol_number.is_none(),
            protocol_number: applied.protocol_number,
            protocol_date: applied.protocol_date,
            position: applied.position.to_string(),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `civil_registry` or `tap`; empty means any.
    #[param(pattern = "^(civil_registry|tap)?$")]
    kind: Option<String>,
    /// Keyset paging: the `next` of the previous page (opaque). Absent: the first page.
    /// Anything that is not such a cursor: 400 `cursor_invalid`.
    #[param(max_length = 1000)]
    after: Option<String>,
    /// Rows per page, 1 to 100 (default 20); else 400 `limit_out_of_range`.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<i64>,
}

/// `GET /api/v1/my/applications?kind=civil_registry|tap&after=&limit=`: newest first, a page
/// at a time (`next`: the `after` of the next page).
#[utoipa::path(
    get,
    path = "/api/v1/my/applications",
    operation_id = "listMyApplications",
    tag = "certificates",
    summary = "The user's own applications",
    description = "Newest first. Any logged-in user (staff have none). Waits (bounded) for the session's own latest write, so an application just filed is listed.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(ListQuery, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The applications.", body = projections::paging::Paged<LabelledApplication>, example = json!({"items": [{"applicant_account_id": "24c06e77-51ec-4f39-828f-5a3f3494240c", "applicant_name": "Γεώργιος Αντωνίου", "area": "85,50", "area_hundredths": 8550, "assigned_to_name": "Νίκος Δημητρίου", "business_afm": "094259216", "business_name": "Ταβέρνα Ο Μύλος Ο.Ε.", "certificate_name": null, "certificate_type": null, "delivery_address": "Ταβέρνα Ο Μύλος Ο.Ε.\nΑγίου Νικολάου 5\n26221 Πάτρα", "delivery_label": "Ταχυδρομικώς", "delivery_method": "post", "document_filename": null, "document_id": null, "due_on": "2026-12-07", "finished_at": "2026-11-27T04:15:08.871296Z", "id": "a769a956-07a6-48ec-8d48-87b03327ffea", "issue_method": "post", "issue_note": "Στάλθηκε με συστημένη επιστολή ΕΛΤΑ RE123456789GR.", "kaek": "050681726001/0/3", "kind": "tap", "kind_label": "Βεβαίωση μη οφειλής ΤΑΠ", "number": "2026/000002", "open_question": null, "overdue": false, "property_address": "Αγίου Νικολάου 5, 26221 Πάτρα", "protocol_attempts": 3, "protocol_date": "2026-11-27T04:15:08.817432Z", "protocol_last_error": "answered 503 Service Unavailable", "protocol_next_attempt_at": null, "protocol_number": "2/2026", "protocol_pending": false, "reject_reason": null, "status": "issued", "status_label": "Εκδόθηκε", "submitted_at": "2026-11-27T04:14:28.904852Z", "supply_number": "12345678901", "text": "Για τη μεταβίβαση του ακινήτου.", "updated_at": "2026-11-27T04:15:08.871296Z"}]})),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 422, description = "`validation_failed` with one entry in `fields` (`kind`: `application_kind_invalid`).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
    let items = rows
        .items
        .iter()
        .map(|r| labelled_application(r, lang, today))
        .collect();
    Ok(Json(projections::paging::Paged {
        items,
        next: rows.next,
    }))
}

/// `GET /api/v1/my/applications/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/my/applications/{id}",
    operation_id = "getMyApplication",
    tag = "certificates",
    summary = "One of the user's applications with its timeline",
    description = "The application (the municipality's question, answer, protocol data, status, deadline) and every event in plain words. Another user's application answers 404 exactly like a missing one.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The application.", body = ApplicationWithTimeline, example = json!({"application": {"applicant_account_id": "24c06e77-51ec-4f39-828f-5a3f3494240c", "applicant_name": "Γεώργιος Αντωνίου", "area": "85,50", "area_hundredths": 8550, "assigned_to_name": "Νίκος Δημητρίου", "business_afm": "094259216", "business_name": "Ταβέρνα Ο Μύλος Ο.Ε.", "certificate_name": null, "certificate_type": null, "delivery_address": "Ταβέρνα Ο Μύλος Ο.Ε.\nΑγίου Νικολάου 5\n26221 Πάτρα", "delivery_label": "Ταχυδρομικώς", "delivery_method": "post", "document_filename": null, "document_id": null, "due_on": "2026-12-07", "finished_at": "2026-11-27T04:15:08.871296Z", "id": "a769a956-07a6-48ec-8d48-87b03327ffea", "issue_method": "post", "issue_note": "Στάλθηκε με συστημένη επιστολή ΕΛΤΑ RE123456789GR.", "kaek": "050681726001/0/3", "kind": "tap", "kind_label": "Βεβαίωση μη οφειλής ΤΑΠ", "number": "2026/000002", "open_question": null, "overdue": false, "property_address": "Αγίου Νικολάου 5, 26221 Πάτρα", "protocol_attempts": 3, "protocol_date": "2026-11-27T04:15:08.817432Z", "protocol_last_error": "answered 503 Service Unavailable", "protocol_next_attempt_at": null, "protocol_number": "2/2026", "protocol_pending": false, "reject_reason": null, "status": "issued", "status_label": "Εκδόθηκε", "submitted_at": "2026-11-27T04:14:28.904852Z", "supply_number": "12345678901", "text": "Για τη μεταβίβαση του ακινήτου.", "updated_at": "2026-11-27T04:15:08.871296Z"}, "timeline": [{"actor_name": "Γεώργιος Αντωνίου", "at": "2026-11-27T04:14:28.904852Z", "details": {"delivery": "post", "due_on": "2026-12-07"}, "event_type": "ApplicationSubmitted", "sequence": 1, "status": "submitted", "status_label": "Υποβλήθηκε", "title": "Υποβλήθηκε η αίτηση"}, {"actor_name": null, "at": "2026-11-27T04:14:28.913540Z", "details": {"attempt": 1, "error": "answered 503 Service Unavailable", "next_attempt_at": "2026-11-27T04:19:28.913540976Z", "refused": false}, "event_type": "ApplicationProtocolFailed", "sequence": 2, "status": "submitted", "status_label": "Υποβλήθηκε", "title": "Η πρωτοκόλληση δεν έγινε ακόμη"}, {"actor_name": null, "at": "2026-11-27T04:15:08.760078Z", "details": {"attempt": 2, "error": "answered 503 Service Unavailable", "next_attempt_at": "2026-11-27T04:45:08.760078019Z", "refused": false}, "event_type": "ApplicationProtocolFailed", "sequence": 3, "status": "submitted", "status_label": "Υποβλήθηκε", "title": "Η πρωτοκόλληση δεν έγινε ακόμη"}, {"actor_name": "Νίκος Δημητρίου", "at": "2026-11-27T04:15:08.779713Z", "details": {}, "event_type": "ApplicationTakenIntoReview", "sequence": 4, "status": "in_review", "status_label": "Σε εξέταση", "title": "Τέθηκε σε εξέταση"}, {"actor_name": null, "at": "2026-11-27T04:15:08.816783Z", "details": {"attempt": 3, "protocol_date": "2026-11-27T04:15:08.817432940Z", "protocol_number": "2/2026"}, "event_type": "ApplicationProtocolRegistered", "sequence": 5, "status": "in_review", "status_label": "Σε εξέταση", "title": "Πρωτοκολλήθηκε"}, {"actor_name": "Νίκος Δημητρίου", "at": "2026-11-27T04:15:08.871296Z", "details": {"filename": null, "method": "post", "note": "Στάλθηκε με συστημένη επιστολή ΕΛΤΑ RE123456789GR."}, "event_type": "CertificateIssued", "sequence": 6, "status": "issued", "status_label": "Εκδόθηκε", "title": "Εκδόθηκε το πιστοποιητικό"}]})),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn my_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    let (row, timeline) = own_application(&state, &user, &headers, &id).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(ApplicationWithTimeline {
        application: labelled_application(&row, lang, state.portal.today()),
        timeline: labelled_application_timeline(&timeline, lang),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The applicant's answer to the clerk's question; line breaks kept.
    #[schema(required, value_type = String, min_length = 1, max_length = 5000)]
    pub reply: Option<String>,
}

/// `POST /api/v1/my/applications/{id}/reply`.
#[utoipa::path(
    post,
    path = "/api/v1/my/applications/{id}/reply",
    operation_id = "replyToQuestion",
    tag = "certificates",
    summary = "Answer the municipality's question",
    description = "Only the applicant, only while the status is `information_requested`; the application goes back to `in_review`. Anyone else gets 404.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = ReplyBody, example = json!({"reply": "Πατρώνυμο: Γεώργιος. Αριθμός δημοτολογίου: 1234/Α."})),
    responses(
        (status = 200, description = "Answered.", body = ReplyAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"id": "2e5c116e-d4f5-41da-a1e7-08a32092fc6a", "position": "275053.11", "status": "in_review"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`forbidden` (the role may not), or `cross_site_request` (sent with the session cookie from another site).", body = crate::error::ErrorBody),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` (`reply`: `reply_required`, `reply_too_long`, `reply_control_chars`). A business rule's refusal answers its own top-level code instead: `no_information_requested`.", body = crate::error::ErrorBody, examples(("no_information_requested" = (value = json!({"error": {"code": "no_information_requested", "message": "Ο Δήμος δεν έχει ζητήσει συμπληρωματικά στοιχεία για αυτή την αίτηση.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
        Json(ReplyAnswer {
            id,
            status: InReview::InReview,
            position: executed.position.to_string(),
        }),
    ))
}

/// `GET /api/v1/my/applications/{id}/document`: the issued certificate (PDF).
#[utoipa::path(
    get,
    path = "/api/v1/my/applications/{id}/document",
    operation_id = "downloadMyCertificate",
    tag = "certificates",
    summary = "Download the issued certificate (PDF)",
    description = "Once the application is issued electronically. Only the applicant.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::PortalPosition, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The PDF exactly as the clerk uploaded it (its SHA-256 is in the `CertificateIssued` event).", body = crate::openapi::PdfFile, content_type = "application/pdf", headers(("Content-Disposition" = String, description = "`attachment; filename=\"<name>\"`: the stored file name with every character other than ASCII letters, digits, `.`, `-` and `_` replaced by `_`."))),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "`case_not_found`: no such application (for the applicant's route also someone else's). `document_not_found`: the application has no issued PDF (not issued, or not delivered electronically).", body = crate::error::ErrorBody, examples(("case_not_found" = (value = json!({"error": {"code": "case_not_found", "message": "Το αίτημα δεν βρέθηκε. Ελέγξτε τον αριθμό ή τον κωδικό παρακολούθησης.", "fields": []}}))), ("document_not_found" = (value = json!({"error": {"code": "document_not_found", "message": "Το έγγραφο δεν βρέθηκε.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// Any status; empty means any (as an HTML form sends it).
    #[param(pattern = "^(submitted|in_review|information_requested|issued|rejected)?$")]
    status: Option<String>,
    /// `civil_registry` or `tap`; empty means any.
    #[param(pattern = "^(civil_registry|tap)?$")]
    kind: Option<String>,
    /// `failing`: only applications still without a protocol number after at least one
    /// attempt; another value answers 422 `filter_invalid`; empty means no filter.
    #[param(pattern = "^(failing)?$")]
    protocol: Option<String>,
    /// `1` (or `true`, `yes`): only applications past their deadline and neither issued
    /// nor rejected; `0`, `false`, `no` or empty: no filter; another value answers 422
    /// `filter_invalid`.
    #[param(pattern = "^(1|true|yes|0|false|no)?$")]
    overdue: Option<String>,
    /// Keyset paging: the `next` of the previous page (opaque). Absent: the first page.
    /// Anything that is not such a cursor: 400 `cursor_invalid`.
    #[param(max_length = 1000)]
    after: Option<String>,
    /// Rows per page, 1 to 100 (default 20); else 400 `limit_out_of_range`.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<i64>,
}

/// `GET /api/v1/staff/applications?status=&kind=&protocol=failing&overdue=1&after=&limit=`:
/// oldest deadline first, a page at a time (`next`: the `after` of the next page).
#[utoipa::path(
    get,
    path = "/api/v1/staff/applications",
    operation_id = "staffApplicationsQueue",
    tag = "staff-applications",
    summary = "The clerks' applications queue",
    description = "Every application, the nearest deadline first, then the oldest; a page at a time (`limit`, `after`; the answer's `next`). Filters combine. `counts` is over all applications. Waits (bounded) for the read model to reach the head of the log. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(QueueQuery, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The queue.", body = ApplicationQueue, example = json!({"counts": {"by_status": {"issued": 3, "rejected": 1, "submitted": 1}, "overdue": 0, "protocol_failing": 0}, "items": [{"applicant_account_id": "24c06e77-51ec-4f39-828f-5a3f3494240c", "applicant_name": "Γεώργιος Αντωνίου", "area": "85,50", "area_hundredths": 8550, "assigned_to_name": "Νίκος Δημητρίου", "business_afm": "094259216", "business_name": "Ταβέρνα Ο Μύλος Ο.Ε.", "certificate_name": null, "certificate_type": null, "delivery_address": "Ταβέρνα Ο Μύλος Ο.Ε.\nΑγίου Νικολάου 5\n26221 Πάτρα", "delivery_label": "Ταχυδρομικώς", "delivery_method": "post", "document_filename": null, "document_id": null, "due_on": "2026-12-07", "finished_at": "2026-11-27T04:15:08.871296Z", "id": "a769a956-07a6-48ec-8d48-87b03327ffea", "issue_method": "post", "issue_note": "Στάλθηκε με συστημένη επιστολή ΕΛΤΑ RE123456789GR.", "kaek": "050681726001/0/3", "kind": "tap", "kind_label": "Βεβαίωση μη οφειλής ΤΑΠ", "number": "2026/000002", "open_question": null, "overdue": false, "property_address": "Αγίου Νικολάου 5, 26221 Πάτρα", "protocol_attempts": 3, "protocol_date": "2026-11-27T04:15:08.817432Z", "protocol_last_error": "answered 503 Service Unavailable", "protocol_next_attempt_at": null, "protocol_number": "2/2026", "protocol_pending": false, "reject_reason": null, "status": "issued", "status_label": "Εκδόθηκε", "submitted_at": "2026-11-27T04:14:28.904852Z", "supply_number": "12345678901", "text": "Για τη μεταβίβαση του ακινήτου.", "updated_at": "2026-11-27T04:15:08.871296Z"}]})),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`status`: `application_status_invalid`; `kind`: `application_kind_invalid`).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
    let items = rows
        .items
        .iter()
        .map(|r| labelled_application(r, lang, today))
        .collect();
    Ok(Json(ApplicationQueue {
        items,
        counts,
        next: rows.next,
    }))
}

/// `GET /api/v1/staff/applications/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/staff/applications/{id}",
    operation_id = "staffApplication",
    tag = "staff-applications",
    summary = "One application with its timeline",
    description = "Any application, with the protocol attempts. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The application.", body = ApplicationWithTimeline),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn staff_detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    CaseId(id): CaseId,
) -> Result<impl IntoResponse, ApiError> {
    let (row, timeline) = staff_application(&state, &user, &headers, &id).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(ApplicationWithTimeline {
        application: labelled_application(&row, lang, state.portal.today()),
        timeline: labelled_application_timeline(&timeline, lang),
    }))
}

/// `GET /api/v1/staff/applications/{id}/document`.
#[utoipa::path(
    get,
    path = "/api/v1/staff/applications/{id}/document",
    operation_id = "staffDownloadCertificate",
    tag = "staff-applications",
    summary = "Download an application's issued PDF",
    description = "Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::PortalPosition, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The PDF exactly as the clerk uploaded it (its SHA-256 is in the `CertificateIssued` event).", body = crate::openapi::PdfFile, content_type = "application/pdf", headers(("Content-Disposition" = String, description = "`attachment; filename=\"<name>\"`: the stored file name with every character other than ASCII letters, digits, `.`, `-` and `_` replaced by `_`."))),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, description = "`case_not_found`: no such application (for the applicant's route also someone else's). `document_not_found`: the application has no issued PDF (not issued, or not delivered electronically).", body = crate::error::ErrorBody, examples(("case_not_found" = (value = json!({"error": {"code": "case_not_found", "message": "Το αίτημα δεν βρέθηκε. Ελέγξτε τον αριθμό ή τον κωδικό παρακολούθησης.", "fields": []}}))), ("document_not_found" = (value = json!({"error": {"code": "document_not_found", "message": "Το έγγραφο δεν βρέθηκε.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionBody {
    /// What the applicant needs to provide; they see it on the case page and by e-mail.
    #[schema(required, value_type = String, min_length = 1, max_length = 2000)]
    pub question: Option<String>,
}

/// `…/reject`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Shown to the applicant (errors use the `note_*` codes on field `reason`).
    #[schema(required, value_type = String, min_length = 1, max_length = 1000)]
    pub reason: Option<String>,
}

/// `…/issue` as JSON (post / in person).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueNoteBody {
    /// Optional (empty counts as absent): posting details, where to collect (errors use
    /// `note_too_long`, `note_control_chars` on field `note`).
    #[schema(max_length = 1000)]
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
        Json(ApplicationActionAnswer {
            id: id.to_string(),
            status: current.status,
            protocol_number: current.protocol_number,
            protocol_date: current.protocol_date,
            protocol_attempts: current.protocol_attempts,
            position: executed.position.to_string(),
        }),
    )
        .into_response())
}

/// `POST /api/v1/staff/applications/{id}/review`.
#[utoipa::path(
    post,
    path = "/api/v1/staff/applications/{id}/review",
    operation_id = "reviewApplication",
    tag = "staff-applications",
    summary = "Take an application into review",
    description = "Assigns it to the clerk; a `submitted` application only. No body. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "Done: the application's state after the act.", body = ApplicationActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"id": "2e5c116e-d4f5-41da-a1e7-08a32092fc6a", "position": "275039.9", "protocol_attempts": 1, "protocol_date": "2026-11-27T04:14:24.907453859Z", "protocol_number": "1/2026", "status": "in_review"})),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 422, description = "A business rule's refusal. Codes: `application_review_not_allowed`, `application_finished`.", body = crate::error::ErrorBody, examples(("application_review_not_allowed" = (value = json!({"error": {"code": "application_review_not_allowed", "message": "Μόνο νέα αίτηση μπορεί να τεθεί σε εξέταση.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/staff/applications/{id}/request-information",
    operation_id = "requestInformation",
    tag = "staff-applications",
    summary = "Ask the applicant for more information",
    description = "An application `in_review`; it becomes `information_requested` until the applicant replies (`POST /api/v1/my/applications/{id}/reply`). The applicant is e-mailed. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = QuestionBody, example = json!({"question": "Χρειαζόμαστε το πατρώνυμο και τον αριθμό δημοτολογίου σας."})),
    responses(
        (status = 200, description = "Done: the application's state after the act.", body = ApplicationActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"id": "2e5c116e-d4f5-41da-a1e7-08a32092fc6a", "position": "275045.10", "protocol_attempts": 1, "protocol_date": "2026-11-27T04:14:24.907453859Z", "protocol_number": "1/2026", "status": "information_requested"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` (`question`: `question_required`, `question_too_long`, `question_control_chars`). A business rule's refusal answers its own top-level code instead: `review_first`, `information_pending`, `application_finished`.", body = crate::error::ErrorBody, examples(("information_pending" = (value = json!({"error": {"code": "information_pending", "message": "Αναμένεται η απάντηση του αιτούντος στο ερώτημα που του στάλθηκε.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/staff/applications/{id}/reject",
    operation_id = "rejectApplication",
    tag = "staff-applications",
    summary = "Reject an application with a reason",
    description = "In any status but `issued` or `rejected` (no review needed). The applicant sees the reason and is e-mailed. Rejection does not stop the application's protocol registration. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = RejectBody, example = json!({"reason": "Η γέννηση δεν είναι καταχωρισμένη στο δημοτολόγιο του Δήμου. Απευθυνθείτε στον Δήμο εγγραφής σας."})),
    responses(
        (status = 200, description = "Done: the application's state after the act.", body = ApplicationActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"id": "d69a9601-c602-462d-ab66-4790fbb2a2bb", "position": "275095.17", "protocol_attempts": 1, "protocol_date": null, "protocol_number": null, "status": "rejected"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` (`reason`: `note_required`, `note_too_long`, `note_control_chars`). A business rule's refusal answers its own top-level code instead: `application_finished`.", body = crate::error::ErrorBody, examples(("application_finished" = (value = json!({"error": {"code": "application_finished", "message": "Η αίτηση έχει ήδη διεκπεραιωθεί ή απορριφθεί· δεν επιδέχεται άλλες ενέργειες.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/staff/applications/{id}/issue",
    operation_id = "issueCertificate",
    tag = "staff-applications",
    summary = "Issue the certificate",
    description = "An application `in_review` with a protocol number, by the delivery method the applicant chose. Electronic: the certificate's PDF is the body (`Content-Type: application/pdf`, at most PORTAL_DOCUMENT_MAX_BYTES, 10 MB by default), named by `X-Filename`; the applicant downloads it from `/api/v1/my/applications/{id}/document`. Post or in person: JSON with an optional note. The applicant is e-mailed. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, ("X-Filename" = Option<String>, Header, description = "With a PDF body: the file name to keep, UTF-8 as sent or percent-encoded (its last path segment, without control characters, at most 120 characters, `.pdf` added if missing)."), crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(description = "Electronic delivery: the certificate (must start with `%PDF-`). Post or in person: a JSON note.", content((crate::openapi::PdfFile = "application/pdf"), (IssueNoteBody = "application/json", examples(("post" = (value = json!({"note": "Στάλθηκε με συστημένη επιστολή ΕΛΤΑ RE123456789GR."}))), ("in_person" = (value = json!({"note": "Παραλαβή από το ΚΕΠ του Δημαρχείου, ισόγειο."}))))))),
    responses(
        (status = 200, description = "Done: the application's state after the act.", body = ApplicationActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"id": "ec9a50f1-7145-47ed-ba91-54b6a7f3bb44", "position": "277546.28", "protocol_attempts": 3, "protocol_date": "2026-11-27T04:22:10.624359639Z", "protocol_number": "5/2026", "status": "issued"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, description = "The body is larger than 64 MB. Codes: `payload_too_large`.", body = crate::error::ErrorBody),
        (status = 415, description = "The body is neither `application/pdf` nor `application/json`. Codes: `unsupported_media_type`.", body = crate::error::ErrorBody),
        (status = 422, description = "`validation_failed` with one entry in `fields` (`document`: `document_required` for an empty PDF body or a JSON body on an electronic delivery, `document_too_large` over PORTAL_DOCUMENT_MAX_BYTES, `document_not_pdf` when the body does not start with `%PDF-`; `note`: `note_too_long`, `note_control_chars`). A business rule's refusal answers its own top-level code instead: `review_first`, `information_pending`, `protocol_pending` (no protocol number yet), `issue_method_mismatch` (a PDF for delivery by post or in person), `application_finished`. Field errors are checked before the application's state.", body = crate::error::ErrorBody, examples(("protocol_pending" = (value = json!({"error": {"code": "protocol_pending", "message": "Η αίτηση δεν έχει ακόμη αριθμό πρωτοκόλλου. Η πρωτοκόλληση γίνεται αυτόματα· περιμένετε να ολοκληρωθεί.", "fields": []}}))), ("document_not_pdf" = (value = json!({"error": {"code": "validation_failed", "message": "Ορισμένα πεδία χρειάζονται διόρθωση. Δείτε τα μηνύματα δίπλα σε κάθε πεδίο.", "fields": [{"field": "document", "code": "document_not_pdf", "message": "Το αρχείο δεν είναι PDF. Επισυνάψτε το πιστοποιητικό σε μορφή PDF."}]}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/staff/applications/{id}/protocol",
    operation_id = "registerApplicationInProtocol",
    tag = "staff-applications",
    summary = "Attempt the protocol registration now",
    description = "The same attempt the portal makes automatically (idempotency key `CertificateApplication:<id>`, timeout PORTAL_PROTOCOL_INLINE_TIMEOUT_MS), e.g. right after the protocol system is back. A failed attempt is recorded like any automatic one (the timeline shows it; the next automatic attempt comes PORTAL_PROTOCOL_RETRY_EVERY_SECS later) and answers 503. Allowed in any status until the application has a number. No body. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::ApplicationId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "Done: the application's state after the act.", body = ApplicationActionAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"id": "a769a956-07a6-48ec-8d48-87b03327ffea", "position": "275081.15", "protocol_attempts": 3, "protocol_date": "2026-11-27T04:15:08.817432940Z", "protocol_number": "2/2026", "status": "in_review"})),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 409, description = "Another attempt on this application is running right now, or someone changed it at the same moment. Try again. Codes: `conflict`.", body = crate::error::ErrorBody, examples(("conflict" = (value = json!({"error": {"code": "conflict", "message": "Το αίτημα άλλαξε την ίδια στιγμή από κάποιον άλλο. Ανανεώστε τη σελίδα και δοκιμάστε ξανά.", "fields": []}}))))),
        (status = 422, description = "A business rule's refusal. Codes: `already_protocolled`.", body = crate::error::ErrorBody, examples(("already_protocolled" = (value = json!({"error": {"code": "already_protocolled", "message": "Το αίτημα έχει ήδη αριθμό πρωτοκόλλου.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "The protocol system did not register the application (unreachable, too slow, an error, or a refusal). The attempt is recorded and retried automatically. Codes: `protocol_unavailable`.", body = crate::error::ErrorBody, examples(("protocol_unavailable" = (value = json!({"error": {"code": "protocol_unavailable", "message": "Το σύστημα πρωτοκόλλου δεν είναι διαθέσιμο αυτή τη στιγμή. Δοκιμάστε ξανά αργότερα.", "fields": []}}))))),
    )
)]
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
