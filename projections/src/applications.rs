//! The `applications` read model: certificate applications (S7–S9, S15) with their
//! protocol-registration state and timeline, folded from `CertificateApplication` events;
//! and the queries the API serves from it.
//!
//! Events are folded one by one (an application has a handful of events; the default
//! batch handling of the consumer runtime is enough here).

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

use crate::paging::{Cursor, PageRequest, Paged};
use crate::ReadModel;

/// The statement of [`update`]: `SET <set>` plus the bookkeeping columns.
macro_rules! set {
    ($set:literal) => {
        concat!(
            "UPDATE applications SET ",
            $set,
            ", updated_at = $3, last_sequence = $2 WHERE id = $1 AND last_sequence < $2"
        )
    };
}

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
        if event.aggregate_type != CertificateApplication::TYPE {
            return Ok(());
        }
        let payload: ApplicationEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ConsumerError::decode(event, e))?;
        let id = &event.aggregate_id;
        let seq = event.sequence;
        // (status after the event, actor, details) for the timeline.
        let (status, actor, details): (Option<&str>, Option<String>, Value) = match &payload {
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
                let (ctype, cname, address, supply, area, kaek) = match details {
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
                let delivery_address = match delivery {
                    Delivery::Post { address } => Some(address.clone()),
                    _ => None,
                };
                sqlx::query(
                    "INSERT INTO applications (id, number, kind, certificate_type, certificate_name, \
                     property_address, supply_number, area_hundredths, kaek, body, delivery_method, \
                     delivery_address, applicant_account_id, applicant_name, business_name, \
                     business_afm, status, due_on, protocol_next_attempt_at, submitted_at, \
                     updated_at, last_sequence) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,'submitted',$17, \
                     $18 + make_interval(secs => $19), $18, $18, $20) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(number.to_string())
                .bind(details.kind().as_str())
                .bind(ctype)
                .bind(cname)
                .bind(address)
                .bind(supply)
                .bind(area)
                .bind(kaek)
                .bind(text)
                .bind(delivery.method())
                .bind(delivery_address)
                .bind(&applicant.account_id)
                .bind(&applicant.name)
                .bind(applicant.business.as_ref().map(|b| b.company_name.clone()))
                .bind(applicant.business.as_ref().map(|b| b.afm.clone()))
                .bind(due_on)
                .bind(at)
                .bind(INLINE_GRACE_SECONDS as f64)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
                (
                    Some("submitted"),
                    Some(applicant.name.clone()),
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
                update(
                    conn,
                    id,
                    seq,
                    at,
                    set!(
                        "protocol_attempts = $4, protocol_last_error = $5, \
                     protocol_next_attempt_at = $6"
                    ),
                    // A refusal is final: no automatic attempt is due (the clerk acts).
                    |q| {
                        q.bind(*attempt as i32)
                            .bind(error)
                            .bind((!*refused).then_some(*next_attempt_at))
                    },
                )
                .await?;
                (
                    None,
                    None,
                    json!({ "attempt": attempt, "error": error, "refused": refused,
                            "next_attempt_at": (!*refused).then_some(next_attempt_at) }),
                )
            }
            ApplicationEvent::ApplicationProtocolRegistered {
                attempt,
                protocol_number,
                protocol_date,
                at,
            } => {
                update(
                    conn,
                    id,
                    seq,
                    at,
                    set!(
                        "protocol_attempts = $4, protocol_number = $5, protocol_date = $6, \
                     protocol_next_attempt_at = NULL, protocol_last_error = NULL"
                    ),
                    |q| {
                        q.bind(*attempt as i32)
                            .bind(protocol_number)
                            .bind(protocol_date)
                    },
                )
                .await?;
                (
                    None,
                    None,
                    json!({ "attempt": attempt, "protocol_number": protocol_number,
                            "protocol_date": protocol_date }),
                )
            }
            ApplicationEvent::ApplicationTakenIntoReview { clerk, at } => {
                update(
                    conn,
                    id,
                    seq,
                    at,
                    set!("status = 'in_review', assigned_to_name = $4"),
                    |q| q.bind(&clerk.name),
                )
                .await?;
                (Some("in_review"), Some(clerk.name.clone()), json!({}))
            }
            ApplicationEvent::InformationRequested {
                clerk,
                question,
                at,
            } => {
                update(
                    conn,
                    id,
                    seq,
                    at,
                    set!("status = 'information_requested', open_question = $4"),
                    |q| q.bind(question),
                )
                .await?;
                (
                    Some("information_requested"),
                    Some(clerk.name.clone()),
                    json!({ "question": question }),
                )
            }
            ApplicationEvent::InformationProvided { reply, at, .. } => {
                update(
                    conn,
                    id,
                    seq,
                    at,
                    set!("status = 'in_review', open_question = NULL"),
                    |q| q,
                )
                .await?;
                // The reply is the applicant's own: the timeline names them.
                let applicant: Option<String> =
                    sqlx::query_scalar("SELECT applicant_name FROM applications WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                (Some("in_review"), applicant, json!({ "reply": reply }))
            }
            ApplicationEvent::CertificateIssued { clerk, issue, at } => {
                let (document_id, filename, note) = match issue {
                    Issue::Electronic {
                        document_id,
                        filename,
                        ..
                    } => (Some(document_id.clone()), Some(filename.clone()), None),
                    Issue::Post { note } | Issue::InPerson { note } => (None, None, note.clone()),
                };
                update(
                    conn,
                    id,
                    seq,
                    at,
                    set!(
                        "status = 'issued', issue_method = $4, document_id = $5, \
                     document_filename = $6, issue_note = $7, finished_at = $3"
                    ),
                    |q| {
                        q.bind(issue.method())
                            .bind(&document_id)
                            .bind(&filename)
                            .bind(&note)
                    },
                )
                .await?;
                (
                    Some("issued"),
                    Some(clerk.name.clone()),
                    json!({ "method": issue.method(), "filename": filename, "note": note }),
                )
            }
            ApplicationEvent::ApplicationRejected { clerk, reason, at } => {
                update(
                    conn,
                    id,
                    seq,
                    at,
                    set!("status = 'rejected', reject_reason = $4, finished_at = $3"),
                    |q| q.bind(reason),
                )
                .await?;
                (
                    Some("rejected"),
                    Some(clerk.name.clone()),
                    json!({ "reason": reason }),
                )
            }
        };
        let status: String = match status {
            Some(s) => s.to_string(),
            None => sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .unwrap_or_else(|| ApplicationStatus::Submitted.as_str().to_string()),
        };
        sqlx::query(
            "INSERT INTO application_timeline (application_id, sequence, event_type, at, \
             actor_name, status, details) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(seq)
        .bind(&event.event_type)
        .bind(payload.at())
        .bind(actor)
        .bind(status)
        .bind(details)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Runs a [`set!`] statement: `$1` the id, `$2` the event's sequence (an event already
/// folded changes nothing), `$3` its time, and the parameters `bind` adds from `$4` on.
async fn update<'q>(
    conn: &mut PgConnection,
    id: &'q str,
    seq: i64,
    at: &'q DateTime<Utc>,
    sql: &'static str,
    bind: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
) -> Result<(), sqlx::Error> {
    let query = sqlx::query(sql).bind(id).bind(seq).bind(at);
    bind(query).execute(conn).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------

/// One application, as its owner and clerks see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApplicationRow {
    pub id: String,
    pub number: String,
    pub kind: String,
    pub certificate_type: Option<String>,
    pub certificate_name: Option<String>,
    pub property_address: Option<String>,
    pub supply_number: Option<String>,
    pub area_hundredths: Option<i32>,
    pub kaek: Option<String>,
    #[sqlx(rename = "body")]
    pub text: String,
    pub delivery_method: String,
    pub delivery_address: Option<String>,
    pub applicant_account_id: String,
    pub applicant_name: String,
    pub business_name: Option<String>,
    pub business_afm: Option<String>,
    pub status: String,
    pub due_on: NaiveDate,
    pub protocol_number: Option<String>,
    pub protocol_date: Option<DateTime<Utc>>,
    pub protocol_attempts: i32,
    pub protocol_last_error: Option<String>,
    pub protocol_next_attempt_at: Option<DateTime<Utc>>,
    pub assigned_to_name: Option<String>,
    pub open_question: Option<String>,
    pub issue_method: Option<String>,
    pub document_id: Option<String>,
    pub document_filename: Option<String>,
    pub issue_note: Option<String>,
    pub reject_reason: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ApplicationRow {
    /// Past its statutory deadline (`today` in Athens) and neither issued nor rejected.
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.finished_at.is_none() && today > self.due_on
    }
}

/// One entry of an application's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApplicationTimelineEntry {
    pub sequence: i64,
    pub event_type: String,
    pub at: DateTime<Utc>,
    pub actor_name: Option<String>,
    pub status: String,
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

/// Counts for the clerks' queue.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueCounts {
    pub by_status: std::collections::BTreeMap<String, i64>,
    pub protocol_failing: i64,
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
