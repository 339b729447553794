//! Certificate applications (issue 4: S7–S9, S15): the applicant's side (apply, list,
//! read, answer a question, download the issued document) and the clerks' side (queue,
//! review, ask for information, issue, reject, register in the protocol system now).
//! The functions named `*_application` are shared with the pages.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{NaiveDate, Utc};
use domain::application::{
    due_date, Applicant, ApplicationCommand, ApplicationDetails, ApplicationKind,
    ApplicationStatus, Delivery, Issue,
};
use domain::values::{
    Area, CaseText, Kaek, Note, PostalAddress, PropertyAddress, Question, Reply, SupplyNumber,
};
use projections::applications as read;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::requests::field;
use super::staff::STAFF;
use super::{position_header, wait_for_log_head, wait_for_own_writes, CaseId, RequestContext};
use crate::auth::{self, CurrentUser, Role};
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiQuery};
use crate::i18n::{self, Lang};
use crate::AppState;
use commands::registrar::Attempt;

/// Today in Athens: deadlines are calendar days there.
pub fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Athens)
        .date_naive()
}

// ---------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------

/// An application as JSON with its labels in the reader's language and its deadline flag.
pub fn labelled_application(row: &read::ApplicationRow, lang: Lang) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    value["status_label"] =
        i18n::message(lang, &format!("application_status_{}", row.status)).into();
    value["kind_label"] = i18n::message(lang, &format!("application_kind_{}", row.kind)).into();
    value["delivery_label"] =
        i18n::message(lang, &format!("delivery_{}", row.delivery_method)).into();
    value["overdue"] = row.overdue(today()).into();
    value["area"] = row.area_hundredths.map(|h| format_area(h as u32)).into();
    value["protocol_pending"] = row.protocol_number.is_none().into();
    value
}

/// m² × 100 in Greek notation (`85,50`).
pub fn format_area(hundredths: u32) -> String {
    let (whole, fraction) = (hundredths / 100, hundredths % 100);
    if fraction == 0 {
        whole.to_string()
    } else {
        format!("{whole},{fraction:02}")
    }
}

pub fn labelled_application_timeline(
    entries: &[read::ApplicationTimelineEntry],
    lang: Lang,
) -> Vec<Value> {
    entries
        .iter()
        .map(|entry| {
            let mut value = serde_json::to_value(entry).unwrap_or_default();
            value["title"] = i18n::message(lang, &format!("timeline_{}", entry.event_type)).into();
            value["status_label"] =
                i18n::message(lang, &format!("application_status_{}", entry.status)).into();
            value
        })
        .collect()
}

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

/// An application that went through, with the outcome of its first protocol attempt.
pub struct Applied {
    pub id: String,
    pub number: String,
    pub due_on: NaiveDate,
    pub protocol_number: Option<String>,
    pub protocol_date: Option<chrono::DateTime<Utc>>,
    pub position: eventlog::Position,
}

fn non_empty(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Whether the user's certification stands, and the business they represent; read from
/// their `Certification` stream (consistent, not the read model).
pub async fn certification_of(
    state: &AppState,
    user: &CurrentUser,
) -> Result<domain::certification::Certification, ApiError> {
    Ok(state
        .certifications
        .load(&user.account_id.to_string())
        .await?)
}

/// Validates and files an application, then tries to register it in the protocol system
/// at once. Shared by the API and the pages.
pub async fn apply_for_certificate(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    body: ApplyBody,
) -> Result<Applied, ApiError> {
    if user.role != Role::Citizen {
        return Err(ApiError::Forbidden);
    }
    let certification = certification_of(state, user).await?;
    if !certification.certified {
        // Before the form's own errors: nothing the user types can fix this.
        return Err(ApiError::Refused(domain::Refusal::forbidden(
            "certification_required",
            "certificates are issued to certified users only",
        )));
    }
    let mut errors = Vec::new();
    let kind = match non_empty(&body.kind) {
        None => {
            errors.push(FieldError::new("kind", "application_kind_invalid"));
            None
        }
        Some(raw) => field("kind", ApplicationKind::parse(raw), &mut errors),
    };
    let municipality = state.config.municipality.clone();
    let details = match kind {
        Some(ApplicationKind::CivilRegistry) => match non_empty(&body.certificate_type) {
            None => {
                errors.push(FieldError::new(
                    "certificate_type",
                    "certificate_type_required",
                ));
                None
            }
            Some(code) => match municipality.certificate_type(code) {
                Some(t) => Some((
                    ApplicationDetails::CivilRegistry {
                        certificate_type: t.code.clone(),
                        certificate_name: t.name_el.clone(),
                    },
                    t.deadline_days,
                )),
                None => {
                    errors.push(FieldError::new(
                        "certificate_type",
                        "certificate_type_invalid",
                    ));
                    None
                }
            },
        },
        Some(ApplicationKind::Tap) => {
            let address = field(
                "property_address",
                PropertyAddress::parse(body.property_address.as_deref().unwrap_or("")),
                &mut errors,
            );
            let supply = field(
                "supply_number",
                SupplyNumber::parse(body.supply_number.as_deref().unwrap_or("")),
                &mut errors,
            );
            let area = field(
                "area",
                Area::parse(body.area.as_deref().unwrap_or("")),
                &mut errors,
            );
            let kaek = match non_empty(&body.kaek) {
                None => Some(None),
                Some(raw) => field("kaek", Kaek::parse(raw), &mut errors).map(Some),
            };
            match (address, supply, area, kaek) {
                (Some(address), Some(supply), Some(area), Some(kaek)) => Some((
                    ApplicationDetails::Tap {
                        property_address: address.as_str().to_string(),
                        supply_number: supply.as_str().to_string(),
                        area_hundredths: area.hundredths(),
                        kaek: kaek.map(|k| k.as_str().to_string()),
                    },
                    municipality.tap.deadline_days,
                )),
                _ => None,
            }
        }
        None => None,
    };
    let text = field(
        "text",
        CaseText::parse(body.text.as_deref().unwrap_or("")),
        &mut errors,
    );
    let delivery = match non_empty(&body.delivery) {
        None => {
            errors.push(FieldError::new("delivery", "delivery_required"));
            None
        }
        Some("electronic") => Some(Delivery::Electronic),
        Some("in_person") => Some(Delivery::InPerson),
        Some("post") => field(
            "postal_address",
            PostalAddress::parse(body.postal_address.as_deref().unwrap_or("")),
            &mut errors,
        )
        .map(|a| Delivery::Post {
            address: a.as_str().to_string(),
        }),
        Some(_) => {
            errors.push(FieldError::new("delivery", "delivery_invalid"));
            None
        }
    };
    let (Some((details, deadline_days)), Some(text), Some(delivery)) = (details, text, delivery)
    else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let number = commands::case_numbers::next_case_number(&state.pool).await?;
    let due_on = due_date(today(), deadline_days);
    let applicant = Applicant {
        account_id: user.account_id.to_string(),
        name: user.full_name.clone(),
        business: certification.business.clone(),
    };
    let mut executed = state
        .applications
        .execute(
            &id,
            ApplicationCommand::Submit {
                id: id.clone(),
                number,
                applicant,
                certified: certification.certified,
                details,
                text,
                delivery,
                due_on,
                at: Utc::now(),
            },
            context.metadata(Some(user)),
        )
        .await?;
    // The first protocol attempt, while the citizen waits (briefly). A failure is already
    // an event with the time of the next attempt; anything else is logged and left to the
    // background registrar: the application is stored either way.
    match state
        .registrar
        .attempt(&state.applications, &id, context.metadata(Some(user)))
        .await
    {
        Ok(Attempt::Ran(e)) => executed = e,
        Ok(_) => {}
        Err(e) => tracing::warn!(application = %id, error = %e, "first protocol attempt failed"),
    }
    auth::record_write(&state.pool, user, executed.position).await?;
    let current = state.applications.load(&id).await?;
    Ok(Applied {
        id,
        number: number.to_string(),
        due_on,
        protocol_number: current.protocol_number,
        protocol_date: current.protocol_date,
        position: executed.position,
    })
}

/// `POST /api/v1/applications`.
pub async fn apply(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    ApiJson(body): ApiJson<ApplyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let applied = apply_for_certificate(&state, &user, &context, body).await?;
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
}

/// `GET /api/v1/my/applications?kind=civil_registry|tap`.
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
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    let lang = Lang::from_headers(&headers);
    let mut rows = Vec::new();
    for k in ApplicationKind::ALL {
        if kind.is_some_and(|wanted| wanted != k) {
            continue;
        }
        rows.extend(
            read::list_for_applicant(&state.pool, &user.account_id.to_string(), k.as_str()).await?,
        );
    }
    // Both kinds together: newest first, as each kind's list is.
    rows.sort_by(|a, b| (b.submitted_at, &b.number).cmp(&(a.submitted_at, &a.number)));
    let items: Vec<Value> = rows.iter().map(|r| labelled_application(r, lang)).collect();
    Ok(Json(json!({ "items": items })))
}

/// One application of the user (404 for anyone else's, exactly like a missing one).
pub async fn own_application(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: &str,
) -> Result<(read::ApplicationRow, Vec<read::ApplicationTimelineEntry>), ApiError> {
    wait_for_own_writes(state, Some(user), headers).await?;
    let mut row = read::get(&state.pool, id).await?;
    if row.is_none() {
        wait_for_log_head(state).await?;
        row = read::get(&state.pool, id).await?;
    }
    let row = row
        .filter(|r| r.applicant_account_id == user.account_id.to_string())
        .ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, id).await?;
    Ok((row, timeline))
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
        "application": labelled_application(&row, lang),
        "timeline": labelled_application_timeline(&timeline, lang),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    pub reply: Option<String>,
}

/// The applicant answers the clerk's question (API and pages).
pub async fn reply_to_question(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    id: &str,
    reply: Option<&str>,
) -> Result<commands::Executed, ApiError> {
    let reply = Reply::parse(reply.unwrap_or(""))
        .map_err(|r| ApiError::Validation(vec![ApiError::field("reply", &r)]))?;
    let executed = state
        .applications
        .execute(
            id,
            ApplicationCommand::ProvideInformation {
                account_id: user.account_id.to_string(),
                reply,
                at: Utc::now(),
            },
            context.metadata(Some(user)),
        )
        .await?;
    auth::record_write(&state.pool, user, executed.position).await?;
    Ok(executed)
}

/// `POST /api/v1/my/applications/{id}/reply`.
pub async fn reply(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    CaseId(id): CaseId,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let executed = reply_to_question(&state, &user, &context, &id, body.reply.as_deref()).await?;
    Ok((
        position_header(executed.position),
        Json(json!({"id": id, "status": "in_review", "position": executed.position.to_string()})),
    ))
}

/// The stored document of an issued application, as a download.
pub async fn document_response(
    state: &AppState,
    row: &read::ApplicationRow,
) -> Result<Response, ApiError> {
    let document_id = row
        .document_id
        .as_deref()
        .and_then(|d| uuid::Uuid::parse_str(d).ok())
        .ok_or(ApiError::NotFound("document_not_found"))?;
    let found: Option<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT filename, content_type, bytes FROM documents WHERE id = $1 AND application_id = $2",
    )
    .bind(document_id)
    .bind(&row.id)
    .fetch_optional(&state.pool)
    .await?;
    let (filename, content_type, bytes) = found.ok_or(ApiError::NotFound("document_not_found"))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, content_disposition(&filename)),
        ],
        bytes,
    )
        .into_response())
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
}

/// The clerks' queue filter from its query (API and pages).
pub fn queue_filter(
    status: Option<&str>,
    kind: Option<&str>,
    protocol: Option<&str>,
    overdue: Option<&str>,
) -> Result<read::QueueFilter, ApiError> {
    let mut errors = Vec::new();
    let status = status
        .filter(|s| !s.is_empty())
        .and_then(|s| field("status", ApplicationStatus::parse(s), &mut errors))
        .map(|s| s.as_str().to_string());
    let kind = kind
        .filter(|s| !s.is_empty())
        .and_then(|s| field("kind", ApplicationKind::parse(s), &mut errors))
        .map(|k| k.as_str().to_string());
    let protocol_failing = match protocol {
        None | Some("") => false,
        Some("failing") => true,
        Some(_) => {
            errors.push(FieldError::new("protocol", "filter_invalid"));
            false
        }
    };
    let overdue = match overdue {
        None | Some("" | "0" | "false" | "no") => false,
        Some("1" | "true" | "yes") => true,
        Some(_) => {
            errors.push(FieldError::new("overdue", "filter_invalid"));
            false
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(read::QueueFilter {
        status,
        kind,
        protocol_failing,
        overdue_on: overdue.then(today),
    })
}

/// `GET /api/v1/staff/applications?status=&kind=&protocol=failing&overdue=1`.
pub async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<QueueQuery>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    let filter = queue_filter(
        query.status.as_deref(),
        query.kind.as_deref(),
        query.protocol.as_deref(),
        query.overdue.as_deref(),
    )?;
    wait_for_own_writes(&state, Some(&user), &headers).await?;
    wait_for_log_head(&state).await?;
    let rows = read::queue(&state.pool, &filter).await?;
    let counts = read::queue_counts(&state.pool, today()).await?;
    let lang = Lang::from_headers(&headers);
    let items: Vec<Value> = rows.iter().map(|r| labelled_application(r, lang)).collect();
    Ok(Json(json!({ "items": items, "counts": counts })))
}

/// An application for staff.
pub async fn staff_application(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: &str,
) -> Result<(read::ApplicationRow, Vec<read::ApplicationTimelineEntry>), ApiError> {
    user.require(STAFF)?;
    wait_for_own_writes(state, Some(user), headers).await?;
    let mut row = read::get(&state.pool, id).await?;
    if row.is_none() {
        wait_for_log_head(state).await?;
        row = read::get(&state.pool, id).await?;
    }
    let row = row.ok_or(ApiError::NotFound("case_not_found"))?;
    let timeline = read::timeline(&state.pool, id).await?;
    Ok((row, timeline))
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
        "application": labelled_application(&row, lang),
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

/// A clerk's action on an application (API and pages).
pub enum ClerkAction {
    Review,
    RequestInformation {
        question: Option<String>,
    },
    Reject {
        reason: Option<String>,
    },
    /// Post or in person: a note (e.g. the registered-mail number, where to collect).
    IssueWithoutDocument {
        note: Option<String>,
    },
    /// Electronic delivery: the certificate's PDF.
    IssueDocument {
        filename: String,
        bytes: Bytes,
    },
}

/// A PDF as uploaded: starts with `%PDF-`, within the size limit.
fn check_pdf(bytes: &[u8], max: usize) -> Result<(), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "document",
            "document_required",
        )]));
    }
    if bytes.len() > max {
        return Err(ApiError::Validation(vec![FieldError::new(
            "document",
            "document_too_large",
        )]));
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(ApiError::Validation(vec![FieldError::new(
            "document",
            "document_not_pdf",
        )]));
    }
    Ok(())
}

/// A file name kept for the download: its last path segment, at most 120 characters,
/// ending in `.pdf`.
fn clean_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let kept: String = last.chars().filter(|c| !c.is_control()).take(120).collect();
    let kept = if kept.is_empty() {
        "certificate".to_string()
    } else {
        kept
    };
    if kept.to_lowercase().ends_with(".pdf") {
        kept
    } else {
        format!("{kept}.pdf")
    }
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

/// A `Content-Disposition` that keeps a Greek file name (RFC 6266 `filename*`) with an
/// ASCII fallback for old clients.
fn content_disposition(filename: &str) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii() && keep(c as u8) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if keep(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Runs a clerk's action; answers the position it wrote.
pub async fn act_on_application(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    id: &str,
    action: ClerkAction,
) -> Result<commands::Executed, ApiError> {
    user.require(STAFF)?;
    let clerk = user.staff_member();
    let at = Utc::now();
    let mut stored_document: Option<uuid::Uuid> = None;
    let command = match action {
        ClerkAction::Review => ApplicationCommand::TakeIntoReview { clerk, at },
        ClerkAction::RequestInformation { question } => ApplicationCommand::RequestInformation {
            clerk,
            question: Question::parse(question.as_deref().unwrap_or(""))
                .map_err(|r| ApiError::Validation(vec![ApiError::field("question", &r)]))?,
            at,
        },
        ClerkAction::Reject { reason } => ApplicationCommand::Reject {
            clerk,
            reason: Note::parse(reason.as_deref().unwrap_or(""))
                .map_err(|r| ApiError::Validation(vec![ApiError::field("reason", &r)]))?,
            at,
        },
        ClerkAction::IssueWithoutDocument { note } => {
            let note = match note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                None => None,
                Some(raw) => Some(
                    Note::parse(raw)
                        .map_err(|r| ApiError::Validation(vec![ApiError::field("note", &r)]))?
                        .as_str()
                        .to_string(),
                ),
            };
            // The method follows the applicant's choice; the aggregate refuses a mismatch.
            let current = state.applications.load(id).await?;
            let issue = match current.delivery {
                Some(Delivery::InPerson) => Issue::InPerson { note },
                Some(Delivery::Post { .. }) => Issue::Post { note },
                Some(Delivery::Electronic) => {
                    return Err(ApiError::Validation(vec![FieldError::new(
                        "document",
                        "document_required",
                    )]))
                }
                None => return Err(ApiError::NotFound("case_not_found")),
            };
            ApplicationCommand::Issue { clerk, issue, at }
        }
        ClerkAction::IssueDocument { filename, bytes } => {
            check_pdf(&bytes, state.config.document_max_bytes)?;
            let document_id = uuid::Uuid::new_v4();
            let filename = clean_filename(&filename);
            let sha256 = hex::encode(Sha256::digest(&bytes));
            sqlx::query(
                "INSERT INTO documents (id, application_id, filename, content_type, size_bytes, \
                 sha256, bytes, uploaded_by) VALUES ($1, $2, $3, 'application/pdf', $4, $5, $6, $7)",
            )
            .bind(document_id)
            .bind(id)
            .bind(&filename)
            .bind(bytes.len() as i64)
            .bind(&sha256)
            .bind(bytes.as_ref())
            .bind(user.account_id.to_string())
            .execute(&state.pool)
            .await?;
            stored_document = Some(document_id);
            ApplicationCommand::Issue {
                clerk,
                issue: Issue::Electronic {
                    document_id: document_id.to_string(),
                    filename,
                    sha256,
                    size_bytes: bytes.len() as u64,
                },
                at,
            }
        }
    };
    let result = state
        .applications
        .execute(id, command, context.metadata(Some(user)))
        .await;
    let executed = match result {
        Ok(executed) => executed,
        Err(e) => {
            // A refused issue leaves no orphan file behind.
            if let Some(document_id) = stored_document {
                let _ = sqlx::query("DELETE FROM documents WHERE id = $1")
                    .bind(document_id)
                    .execute(&state.pool)
                    .await;
            }
            return Err(e.into());
        }
    };
    auth::record_write(&state.pool, user, executed.position).await?;
    Ok(executed)
}

/// The clerk's "register in the protocol system now": the same attempt as the automatic
/// one, at once (API and pages).
pub async fn register_now(
    state: &AppState,
    user: &CurrentUser,
    context: &RequestContext,
    id: &str,
) -> Result<commands::Executed, ApiError> {
    user.require(STAFF)?;
    match state
        .registrar
        .attempt(&state.applications, id, context.metadata(Some(user)))
        .await?
    {
        Attempt::Ran(executed) => {
            auth::record_write(&state.pool, user, executed.position).await?;
            Ok(executed)
        }
        Attempt::AlreadyRegistered => Err(ApiError::Refused(domain::Refusal::rule(
            "already_protocolled",
            "the application already has a protocol number",
        ))),
        Attempt::Busy => Err(ApiError::Conflict),
    }
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

async fn answer_action(
    state: &AppState,
    id: &str,
    executed: commands::Executed,
) -> Result<Response, ApiError> {
    let current = state.applications.load(id).await?;
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
    let executed = act_on_application(&state, &user, &context, &id, ClerkAction::Review).await?;
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
    let executed = act_on_application(&state, &user, &context, &id, action).await?;
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
    let executed = act_on_application(&state, &user, &context, &id, action).await?;
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
            bytes: body,
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
    let executed = act_on_application(&state, &user, &context, &id, action).await?;
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
    let executed = register_now(&state, &user, &context, &id).await?;
    let current = state.applications.load(&id).await?;
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
    fn file_names_are_kept_safe() {
        assert_eq!(
            clean_filename("C:\\docs\\πιστοποιητικό.pdf"),
            "πιστοποιητικό.pdf"
        );
        assert_eq!(clean_filename("../../etc/passwd"), "passwd.pdf");
        assert_eq!(clean_filename(""), "certificate.pdf");
    }

    #[test]
    fn greek_file_names_survive_the_header_both_ways() {
        assert_eq!(header_filename("γέννηση.pdf".as_bytes()), "γέννηση.pdf");
        assert_eq!(header_filename(b"%CE%B3.pdf"), "γ.pdf");
        assert_eq!(header_filename(b"100%.pdf"), "100%.pdf");
        assert_eq!(
            content_disposition("γ 1.pdf"),
            "attachment; filename=\"__1.pdf\"; filename*=UTF-8''%CE%B3%201.pdf"
        );
    }

    #[test]
    fn only_pdfs_within_the_limit() {
        assert!(check_pdf(b"%PDF-1.7\n...", 100).is_ok());
        assert!(check_pdf(b"GIF89a", 100).is_err());
        assert!(check_pdf(b"", 100).is_err());
        assert!(check_pdf(&[b'%'; 200], 100).is_err());
    }

    #[test]
    fn areas_in_greek_notation() {
        assert_eq!(format_area(8550), "85,50");
        assert_eq!(format_area(12000), "120");
    }
}
