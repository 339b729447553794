//! The `applications` read model: certificate applications (S7–S9, S15) with their
//! protocol-registration state and timeline, folded from `CertificateApplication` events;
//! and the queries the API serves from it.
//!
//! A batch of events is folded in memory (`crate::fold`): one read of the applications it
//! touches, one write of them and one of the timeline entries.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use domain::application::{
    ApplicationDetails, ApplicationEvent, ApplicationStatus, CertificateApplication, Delivery,
    Issue,
};
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

use crate::fold::{self, Table};
use crate::paging::{Cursor, PageRequest, Paged};
use crate::ReadModel;

pub struct ApplicationsProjection;

impl ApplicationsProjection {
    pub const NAME: &'static str = "applications";
}

/// How long after submission the background registrar looks at an application that the
/// submitting request did not get to register (e.g. the process stopped in between).
pub const INLINE_GRACE_SECONDS: i64 = domain::application::PROTOCOL_GRACE_SECONDS;

impl ReadModel for ApplicationsProjection {
    fn schema_version(&self) -> i32 {
        // 2: replies name the applicant; a registration clears the last protocol error.
        // 3: a refused registration has no next attempt (issue 14).
        3
    }

    fn tables(&self) -> &'static [&'static str] {
        &["applications", "application_timeline"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE applications (
    id                       text PRIMARY KEY,
    number                   text        NOT NULL,
    kind                     text        NOT NULL,
    certificate_type         text,
    certificate_name         text,
    property_address         text,
    supply_number            text,
    area_hundredths          integer,
    kaek                     text,
    body                     text        NOT NULL,
    delivery_method          text        NOT NULL,
    delivery_address         text,
    applicant_account_id     text        NOT NULL,
    applicant_name           text        NOT NULL,
    business_name            text,
    business_afm             text,
    status                   text        NOT NULL,
    due_on                   date        NOT NULL,
    protocol_number          text,
    protocol_date            timestamptz,
    protocol_attempts        integer     NOT NULL DEFAULT 0,
    protocol_last_error      text,
    protocol_next_attempt_at timestamptz,
    assigned_to_name         text,
    open_question            text,
    issue_method             text,
    document_id              text,
    document_filename        text,
    issue_note               text,
    reject_reason            text,
    finished_at              timestamptz,
    submitted_at             timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    last_sequence            bigint      NOT NULL
);
CREATE INDEX applications_owner_idx ON applications (applicant_account_id, submitted_at DESC);
CREATE INDEX applications_queue_idx ON applications (status, kind, submitted_at);
CREATE INDEX applications_protocol_due_idx ON applications (protocol_next_attempt_at)
    WHERE protocol_number IS NULL;
CREATE TABLE application_timeline (
    application_id text        NOT NULL,
    sequence       bigint      NOT NULL,
    event_type     text        NOT NULL,
    at             timestamptz NOT NULL,
    actor_name     text,
    status         text        NOT NULL,
    details        jsonb       NOT NULL,
    PRIMARY KEY (application_id, sequence)
);
"#
    }
}

#[async_trait]
impl Consumer for ApplicationsProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[CertificateApplication::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Folds the batch in memory: one read of the applications it touches, one write of
    /// them and one of the new timeline entries.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        let events = fold::decode::<ApplicationEvent>(events, CertificateApplication::TYPE)?;
        if events.is_empty() {
            return Ok(());
        }
        let ids = fold::stream_ids(&events);
        let mut applications =
            Table::<ApplicationState>::load(conn, "applications", &["id"], "id", &ids).await?;
        let mut timeline = Vec::with_capacity(events.len());
        for (event, payload) in events {
            timeline.push(apply(&mut applications, event, payload));
        }
        applications.save(conn).await?;
        fold::insert_new(conn, "application_timeline", &timeline).await
    }
}

/// A row of `applications`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplicationState {
    id: String,
    number: String,
    kind: String,
    certificate_type: Option<String>,
    certificate_name: Option<String>,
    property_address: Option<String>,
    supply_number: Option<String>,
    area_hundredths: Option<i32>,
    kaek: Option<String>,
    body: String,
    delivery_method: String,
    delivery_address: Option<String>,
    applicant_account_id: String,
    applicant_name: String,
    business_name: Option<String>,
    business_afm: Option<String>,
    status: String,
    due_on: NaiveDate,
    protocol_number: Option<String>,
    protocol_date: Option<DateTime<Utc>>,
    protocol_attempts: i32,
    protocol_last_error: Option<String>,
    protocol_next_attempt_at: Option<DateTime<Utc>>,
    assigned_to_name: Option<String>,
    open_question: Option<String>,
    issue_method: Option<String>,
    document_id: Option<String>,
    document_filename: Option<String>,
    issue_note: Option<String>,
    reject_reason: Option<String>,
    finished_at: Option<DateTime<Utc>>,
    submitted_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_sequence: i64,
}

fold::sequenced_row!(ApplicationState, id);

/// A row of `application_timeline`, every column.
#[derive(Debug, Serialize)]
struct TimelineEntry {
    application_id: String,
    sequence: i64,
    event_type: String,
    at: DateTime<Utc>,
    actor_name: Option<String>,
    status: String,
    details: Value,
}

/// Folds one event into its application and answers its timeline entry (which the
/// timeline keeps only if it does not have it yet).
fn apply(
    applications: &mut Table<ApplicationState>,
    event: &RecordedEvent,
    payload: ApplicationEvent,
) -> TimelineEntry {
    let id = event.aggregate_id.as_str();
    let seq = event.sequence;
    let at = payload.at();
    // (status after the event when it sets one, actor, details) for the timeline.
    let (status, actor, details): (Option<&str>, Option<String>, Value) = match payload {
        ApplicationEvent::ApplicationSubmitted {
            number,
            applicant,
            details,
            text,
            delivery,
            due_on,
            at,
            ..
        } => {
            let (ctype, cname, address, supply, area, kaek) = match &details {
                ApplicationDetails::CivilRegistry {
                    certificate_type,
                    certificate_name,
                } => (
                    Some(certificate_type.clone()),
                    Some(certificate_name.clone()),
                    None,
                    None,
                    None,
                    None,
                ),
                ApplicationDetails::Tap {
                    property_address,
                    supply_number,
                    area_hundredths,
                    kaek,
                } => (
                    None,
                    None,
                    Some(property_address.clone()),
                    Some(supply_number.clone()),
                    Some(*area_hundredths as i32),
                    kaek.clone(),
                ),
            };
            let delivery_address = match &delivery {
                Delivery::Post { address } => Some(address.clone()),
                _ => None,
            };
            if applications.get(id).is_none() {
                applications.put(ApplicationState {
                    id: id.to_string(),
                    number: number.to_string(),
                    kind: details.kind().as_str().to_string(),
                    certificate_type: ctype,
                    certificate_name: cname,
                    property_address: address,
                    supply_number: supply,
                    area_hundredths: area,
                    kaek,
                    body: text,
                    delivery_method: delivery.method().to_string(),
                    delivery_address,
                    applicant_account_id: applicant.account_id.clone(),
                    applicant_name: applicant.name.clone(),
                    business_name: applicant.business.as_ref().map(|b| b.company_name.clone()),
                    business_afm: applicant.business.as_ref().map(|b| b.afm.clone()),
                    status: "submitted".into(),
                    due_on,
                    protocol_number: None,
                    protocol_date: None,
                    protocol_attempts: 0,
                    protocol_last_error: None,
                    protocol_next_attempt_at: Some(
                        at + chrono::Duration::seconds(INLINE_GRACE_SECONDS),
                    ),
                    assigned_to_name: None,
                    open_question: None,
                    issue_method: None,
                    document_id: None,
                    document_filename: None,
                    issue_note: None,
                    reject_reason: None,
                    finished_at: None,
                    submitted_at: at,
                    updated_at: at,
                    last_sequence: seq,
                });
            }
            (
                Some("submitted"),
                Some(applicant.name),
                json!({ "delivery": delivery.method(), "due_on": due_on }),
            )
        }
        ApplicationEvent::ApplicationProtocolFailed {
            attempt,
            error,
            refused,
            next_attempt_at,
            at,
        } => {
            // A refusal is final: no automatic attempt is due (the clerk acts).
            let next = (!refused).then_some(next_attempt_at);
            if let Some(a) = applications.advance(id, seq) {
                a.protocol_attempts = attempt as i32;
                a.protocol_last_error = Some(error.clone());
                a.protocol_next_attempt_at = next;
                a.updated_at = at;
            }
            (
                None,
                None,
                json!({ "attempt": attempt, "error": error, "refused": refused,
                        "next_attempt_at": next }),
            )
        }
        ApplicationEvent::ApplicationProtocolRegistered {
            attempt,
            protocol_number,
            protocol_date,
            at,
        } => {
            if let Some(a) = applications.advance(id, seq) {
                a.protocol_attempts = attempt as i32;
                a.protocol_number = Some(protocol_number.clone());
                a.protocol_date = Some(protocol_date);
                a.protocol_next_attempt_at = None;
                a.protocol_last_error = None;
                a.updated_at = at;
            }
            (
                None,
                None,
                json!({ "attempt": attempt, "protocol_number": protocol_number,
                        "protocol_date": protocol_date }),
            )
        }
        ApplicationEvent::ApplicationTakenIntoReview { clerk, at } => {
            if let Some(a) = applications.advance(id, seq) {
                a.status = "in_review".into();
                a.assigned_to_name = Some(clerk.name.clone());
                a.updated_at = at;
            }
            (Some("in_review"), Some(clerk.name), json!({}))
        }
        ApplicationEvent::InformationRequested {
            clerk,
            question,
            at,
        } => {
            if let Some(a) = applications.advance(id, seq) {
                a.status = "information_requested".into();
                a.open_question = Some(question.clone());
                a.updated_at = at;
            }
            (
                Some("information_requested"),
                Some(clerk.name),
                json!({ "question": question }),
            )
        }
        ApplicationEvent::InformationProvided { reply, at, .. } => {
            if let Some(a) = applications.advance(id, seq) {
                a.status = "in_review".into();
                a.open_question = None;
                a.updated_at = at;
            }
            // The reply is the applicant's own: the timeline names them.
            let applicant = applications.get(id).map(|a| a.applicant_name.clone());
            (Some("in_review"), applicant, json!({ "reply": reply }))
        }
        ApplicationEvent::CertificateIssued { clerk, issue, at } => {
            let (document_id, filename, note) = match &issue {
                Issue::Electronic {
                    document_id,
                    filename,
                    ..
                } => (Some(document_id.clone()), Some(filename.clone()), None),
                Issue::Post { note } | Issue::InPerson { note } => (None, None, note.clone()),
            };
            if let Some(a) = applications.advance(id, seq) {
                a.status = "issued".into();
                a.issue_method = Some(issue.method().to_string());
                a.document_id = document_id;
                a.document_filename = filename.clone();
                a.issue_note = note.clone();
                a.finished_at = Some(at);
                a.updated_at = at;
            }
            (
                Some("issued"),
                Some(clerk.name),
                json!({ "method": issue.method(), "filename": filename, "note": note }),
            )
        }
        ApplicationEvent::ApplicationRejected { clerk, reason, at } => {
            if let Some(a) = applications.advance(id, seq) {
                a.status = "rejected".into();
                a.reject_reason = Some(reason.clone());
                a.finished_at = Some(at);
                a.updated_at = at;
            }
            (
                Some("rejected"),
                Some(clerk.name),
                json!({ "reason": reason }),
            )
        }
    };
    let status = match status {
        Some(s) => s.to_string(),
        None => applications
            .get(id)
            .map(|a| a.status.clone())
            .unwrap_or_else(|| ApplicationStatus::Submitted.as_str().to_string()),
    };
    TimelineEntry {
        application_id: id.to_string(),
        sequence: seq,
        event_type: event.event_type.clone(),
        at,
        actor_name: actor,
        status,
        details,
    }
}

// ---------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------

/// One application, as its owner and clerks see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApplicationRow {
    pub id: String,
    /// Α.Α.: the same yearly series as requests.
    #[schema(pattern = r"^[0-9]{4}/[0-9]{6,}$", examples("2026/000001"))]
    pub number: String,
    #[schema(value_type = domain::application::ApplicationKind)]
    pub kind: String,
    /// civil_registry: the type's code; null for tap.
    #[schema(required)]
    pub certificate_type: Option<String>,
    /// civil_registry: its Greek name as configured at submission.
    #[schema(required)]
    pub certificate_name: Option<String>,
    /// tap only.
    #[schema(required)]
    pub property_address: Option<String>,
    /// tap only, without separators.
    #[schema(required)]
    pub supply_number: Option<String>,
    /// tap only: m² × 100, exact.
    #[schema(required)]
    pub area_hundredths: Option<i32>,
    /// tap only, when given.
    #[schema(required)]
    pub kaek: Option<String>,
    #[sqlx(rename = "body")]
    pub text: String,
    #[schema(value_type = DeliveryMethod, inline)]
    pub delivery_method: String,
    /// The postal address for `post`.
    #[schema(required)]
    pub delivery_address: Option<String>,
    pub applicant_account_id: String,
    pub applicant_name: String,
    /// The business the applicant represents (from their certification).
    #[schema(required)]
    pub business_name: Option<String>,
    #[schema(required)]
    pub business_afm: Option<String>,
    #[schema(value_type = domain::application::ApplicationStatus)]
    pub status: String,
    /// The statutory deadline.
    pub due_on: NaiveDate,
    #[schema(required)]
    pub protocol_number: Option<String>,
    #[schema(required)]
    pub protocol_date: Option<DateTime<Utc>>,
    #[schema(minimum = 0)]
    pub protocol_attempts: i32,
    /// The last failed attempt's message (kept after a later success).
    #[schema(required)]
    pub protocol_last_error: Option<String>,
    /// When the background registrar tries next; null once registered (a minute after
    /// submission until the first attempt is recorded).
    #[schema(required)]
    pub protocol_next_attempt_at: Option<DateTime<Utc>>,
    /// The clerk who took it into review.
    #[schema(required)]
    pub assigned_to_name: Option<String>,
    /// The clerk's question while the status is `information_requested`.
    #[schema(required)]
    pub open_question: Option<String>,
    /// Once issued.
    #[schema(required)]
    pub issue_method: Option<String>,
    /// Once issued electronically: the stored PDF.
    #[schema(required)]
    pub document_id: Option<String>,
    #[schema(required)]
    pub document_filename: Option<String>,
    /// Once issued by post or in person: the clerk's note, if any.
    #[schema(required)]
    pub issue_note: Option<String>,
    #[schema(required)]
    pub reject_reason: Option<String>,
    /// When it was issued or rejected.
    #[schema(required)]
    pub finished_at: Option<DateTime<Utc>>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `electronic` (a PDF to download), `post` (to the postal address), `in_person`
/// (collection at the town hall / ΚΕΠ). Documentation: the column is text.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum DeliveryMethod {
    Electronic,
    Post,
    InPerson,
}

impl ApplicationRow {
    /// Past its statutory deadline (`today` in Athens) and neither issued nor rejected.
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.finished_at.is_none() && today > self.due_on
    }
}

/// One entry of an application's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApplicationTimelineEntry {
    #[schema(minimum = 1)]
    pub sequence: i64,
    pub event_type: String,
    /// The event's time.
    pub at: DateTime<Utc>,
    /// The applicant on submission, the clerk on a clerk's act; null for protocol attempts
    /// and the applicant's reply.
    #[schema(required)]
    pub actor_name: Option<String>,
    #[schema(value_type = domain::application::ApplicationStatus)]
    pub status: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

/// What a timeline entry's `details` hold, by event: each field is set by the events that
/// have it (`ApplicationSubmitted`: delivery and deadline; `ApplicationProtocolFailed`: the
/// attempt, the protocol system's error, whether it refused, the next attempt;
/// `ApplicationProtocolRegistered`: the number and date; `InformationRequested`: the
/// question; `InformationProvided`: the reply; `CertificateIssued`: how, the file or the
/// note; `ApplicationRejected`: the reason).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TimelineDetails {
    pub delivery: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub attempt: Option<u32>,
    pub error: Option<String>,
    pub refused: bool,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub protocol_number: Option<String>,
    pub protocol_date: Option<DateTime<Utc>>,
    pub question: Option<String>,
    pub reply: Option<String>,
    pub method: Option<String>,
    pub filename: Option<String>,
    pub note: Option<String>,
    pub reason: Option<String>,
}

impl ApplicationTimelineEntry {
    /// The entry's details, decoded (the projection writes them; see [`TimelineDetails`]).
    pub fn typed_details(&self) -> TimelineDetails {
        serde_json::from_value(self.details.clone()).unwrap_or_default()
    }
}

const COLUMNS: &str = "id, number, kind, certificate_type, certificate_name, property_address, \
    supply_number, area_hundredths, kaek, body, delivery_method, delivery_address, \
    applicant_account_id, applicant_name, business_name, business_afm, status, due_on, \
    protocol_number, protocol_date, protocol_attempts, protocol_last_error, \
    protocol_next_attempt_at, assigned_to_name, open_question, issue_method, document_id, \
    document_filename, issue_note, reject_reason, finished_at, submitted_at, updated_at";

/// An applicant's applications (of one kind, or both), newest first, a page at a time
/// (keyset: submission time, number).
pub async fn list_for_applicant(
    pool: &PgPool,
    account_id: &str,
    kind: Option<&str>,
    page: &PageRequest,
) -> Result<Paged<ApplicationRow>, sqlx::Error> {
    let after = page.after.as_ref();
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM applications \
         WHERE applicant_account_id = $1 AND ($2::text IS NULL OR kind = $2) \
           AND ($3::timestamptz IS NULL OR (submitted_at, number) < ($3, $4)) \
         ORDER BY submitted_at DESC, number DESC LIMIT $5"
    ))
    .bind(account_id)
    .bind(kind)
    .bind(after.and_then(|c| c.time(0)))
    .bind(after.and_then(|c| c.text(1)))
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(Paged::from_rows(rows, page.limit, |a: &ApplicationRow| {
        Cursor(vec![Cursor::at(&a.submitted_at), a.number.clone()])
    }))
}

pub async fn get(pool: &PgPool, id: &str) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM applications WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn timeline(
    pool: &PgPool,
    id: &str,
) -> Result<Vec<ApplicationTimelineEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sequence, event_type, at, actor_name, status, details \
         FROM application_timeline WHERE application_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// The clerks' queue filter.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    /// Only applications still without a protocol number after at least one attempt.
    pub protocol_failing: bool,
    /// Only applications past their deadline and not finished.
    pub overdue_on: Option<NaiveDate>,
    /// Where the page starts and how long it is (keyset: deadline, submission time, id).
    pub page: PageRequest,
}

/// The clerks' queue: oldest deadline first, a page at a time.
pub async fn queue(
    pool: &PgPool,
    filter: &QueueFilter,
) -> Result<Paged<ApplicationRow>, sqlx::Error> {
    let after = filter.page.after.as_ref();
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM applications \
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2) \
           AND (NOT $3 OR (protocol_number IS NULL AND protocol_attempts > 0)) \
           AND ($4::date IS NULL OR (finished_at IS NULL AND due_on < $4)) \
           AND ($5::date IS NULL OR (due_on, submitted_at, id) > ($5, $6, $7)) \
         ORDER BY due_on, submitted_at, id LIMIT $8"
    ))
    .bind(&filter.status)
    .bind(&filter.kind)
    .bind(filter.protocol_failing)
    .bind(filter.overdue_on)
    .bind(after.and_then(|c| c.date(0)))
    .bind(after.and_then(|c| c.time(1)))
    .bind(after.and_then(|c| c.text(2)))
    .bind(filter.page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(Paged::from_rows(
        rows,
        filter.page.limit,
        |a: &ApplicationRow| {
            Cursor(vec![
                a.due_on.format("%Y-%m-%d").to_string(),
                Cursor::at(&a.submitted_at),
                a.id.clone(),
            ])
        },
    ))
}

/// Counts for the clerks' queue, over all applications whatever the filters.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[schema(as = ApplicationCounts)]
pub struct QueueCounts {
    /// Statuses with none are absent.
    pub by_status: std::collections::BTreeMap<String, i64>,
    /// Still without a protocol number after at least one attempt.
    pub protocol_failing: i64,
    /// Past the deadline and not finished.
    pub overdue: i64,
}

pub async fn queue_counts(pool: &PgPool, today: NaiveDate) -> Result<QueueCounts, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM applications GROUP BY status")
            .fetch_all(pool)
            .await?;
    let (failing, overdue): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE protocol_number IS NULL AND protocol_attempts > 0), \
                count(*) FILTER (WHERE finished_at IS NULL AND due_on < $1) \
         FROM applications",
    )
    .bind(today)
    .fetch_one(pool)
    .await?;
    Ok(QueueCounts {
        by_status: rows.into_iter().collect(),
        protocol_failing: failing,
        overdue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event_type: &str, details: Value) -> ApplicationTimelineEntry {
        ApplicationTimelineEntry {
            sequence: 1,
            event_type: event_type.to_string(),
            at: Utc::now(),
            actor_name: None,
            status: "submitted".to_string(),
            details,
        }
    }

    #[test]
    fn every_shape_of_details_the_projection_writes_decodes() {
        let at: DateTime<Utc> = "2026-03-02T09:00:00Z".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap();
        let d = entry(
            "ApplicationSubmitted",
            json!({ "delivery": "post", "due_on": day }),
        )
        .typed_details();
        assert_eq!((d.delivery.as_deref(), d.due_on), (Some("post"), Some(day)));

        let d = entry(
            "ApplicationProtocolFailed",
            json!({ "attempt": 2, "error": "503", "refused": true, "next_attempt_at": at }),
        )
        .typed_details();
        assert_eq!(d.attempt, Some(2));
        assert_eq!(d.error.as_deref(), Some("503"));
        assert!(d.refused);
        assert_eq!(d.next_attempt_at, Some(at));
        let d = entry(
            "ApplicationProtocolFailed",
            json!({ "attempt": 1, "error": "x", "refused": false, "next_attempt_at": null }),
        )
        .typed_details();
        assert_eq!(
            (d.attempt, d.refused, d.next_attempt_at),
            (Some(1), false, None)
        );

        let d = entry(
            "ApplicationProtocolRegistered",
            json!({ "attempt": 1, "protocol_number": "12/2026", "protocol_date": at }),
        )
        .typed_details();
        assert_eq!(d.protocol_number.as_deref(), Some("12/2026"));
        assert_eq!(d.protocol_date, Some(at));

        let d = entry(
            "CertificateIssued",
            json!({ "method": "electronic", "filename": "a.pdf", "note": null }),
        )
        .typed_details();
        assert_eq!(d.method.as_deref(), Some("electronic"));
        assert_eq!(d.filename.as_deref(), Some("a.pdf"));
        assert_eq!(d.note, None);

        assert_eq!(
            entry("InformationRequested", json!({ "question": "Q" }))
                .typed_details()
                .question
                .as_deref(),
            Some("Q")
        );
        assert_eq!(
            entry("InformationProvided", json!({ "reply": "R" }))
                .typed_details()
                .reply
                .as_deref(),
            Some("R")
        );
        assert_eq!(
            entry("ApplicationRejected", json!({ "reason": "no" }))
                .typed_details()
                .reason
                .as_deref(),
            Some("no")
        );
    }
}
