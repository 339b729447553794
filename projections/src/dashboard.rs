//! The `dashboard` read model: what the clerks' dashboard counts (issue 16), kept as it
//! counts it, so that the dashboard reads a few small rows instead of grouping the screens'
//! read models on every view.
//!
//! - `dashboard_counts`: how many requests have each status and each category, how many
//!   certificate applications each status and each certificate type; kept by adding and
//!   subtracting as cases move (a count that fell to zero stays, as 0).
//! - `dashboard_cases`: one narrow row per request and application, with what the
//!   overdue figures and the answer times need (its status, whether the municipality still
//!   owes an answer, its deadline or category, when it was submitted and last answered).
//! - `dashboard_payments` and `dashboard_payment_days`: what each payment is for (its amount,
//!   the day it succeeded) and the payments that succeeded on each day (Athens) with their
//!   total.
//!
//! A request's deadline is its category's `deadline_days`, which is configuration, not an
//! event: it is applied when the figures are read (`stats`), not folded in.
//!
//! An event that does not decode is passed over with a warning (its case counts as it
//! was), as `audit_streams` does, rather than stopping this model like `requests`: every
//! clerk's home page and the dashboard wait for this model, so a stuck one would make each
//! of them wait `PORTAL_READ_WAIT_MS`; and a model first built at start-up (this one, on
//! every existing database) would otherwise fail the start on an event an operator had
//! already skipped for `requests`, with no consumer stuck for `portal projections skip` to
//! accept. The cost: an event passed over (an older binary still running when a newer one
//! wrote it) leaves its case's figures as they were until `portal projections rebuild
//! dashboard` (operations.md, "A stuck consumer").
//!
//! `awaits_answer` is stored as the domain says when the event is folded
//! (`RequestStatus::awaits_answer`, `ApplicationStatus::is_final`): a change of either
//! rule needs a new `schema_version` here, so that the rows are folded again.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Athens;
use cqrs_es::Aggregate;
use domain::application::{ApplicationDetails, ApplicationEvent, CertificateApplication};
use domain::payment::{Payment, PaymentEvent};
use domain::request::{CitizenRequest, RequestEvent};
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::fold::{self, Table};
use crate::ReadModel;

pub struct DashboardProjection;

impl DashboardProjection {
    pub const NAME: &'static str = "dashboard";
}

/// What a row of `dashboard_cases` or `dashboard_counts` is about.
pub(crate) const REQUESTS: &str = "requests";
pub(crate) const APPLICATIONS: &str = "applications";
/// The dimensions `dashboard_counts` counts by: a case's status, a request's category (`''`:
/// none), an application's certificate type (its kind, `tap`, for a ΤΑΠ certificate).
pub(crate) const STATUS: &str = "status";
pub(crate) const CATEGORY: &str = "category";
pub(crate) const TYPE: &str = "type";

impl ReadModel for DashboardProjection {
    fn schema_version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "dashboard_counts",
            "dashboard_cases",
            "dashboard_payments",
            "dashboard_payment_days",
        ]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE dashboard_counts (
    what      text   NOT NULL,
    dimension text   NOT NULL,
    key       text   NOT NULL,
    count     bigint NOT NULL,
    PRIMARY KEY (what, dimension, key)
);
CREATE TABLE dashboard_cases (
    stream_id     text        PRIMARY KEY,
    what          text        NOT NULL,
    status        text        NOT NULL,
    category      text,
    awaits_answer boolean     NOT NULL,
    submitted_at  timestamptz NOT NULL,
    due_on        date,
    answered_at   timestamptz,
    last_sequence bigint      NOT NULL
);
CREATE INDEX dashboard_cases_waiting_idx ON dashboard_cases (what) WHERE awaits_answer;
CREATE INDEX dashboard_cases_answered_idx ON dashboard_cases (answered_at)
    WHERE answered_at IS NOT NULL;
CREATE TABLE dashboard_payments (
    stream_id     text   PRIMARY KEY,
    amount_cents  bigint NOT NULL,
    succeeded_on  date,
    last_sequence bigint NOT NULL
);
CREATE TABLE dashboard_payment_days (
    day          date   PRIMARY KEY,
    payments     bigint NOT NULL,
    amount_cents bigint NOT NULL
);
"#
    }
}

/// A row of `dashboard_counts`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountRow {
    what: String,
    dimension: String,
    key: String,
    count: i64,
}

impl fold::Row for CountRow {
    fn key(&self) -> String {
        count_key(&self.what, &self.dimension, &self.key)
    }
}

fn count_key(what: &str, dimension: &str, key: &str) -> String {
    format!("{what}\u{1f}{dimension}\u{1f}{key}")
}

/// The counts, as a batch changes them.
struct Counts(Table<CountRow>);

impl Counts {
    /// Adds `by` (negative: takes away) to the count of `key` of `dimension` of `what`.
    fn add(&mut self, what: &str, dimension: &str, key: &str, by: i64) {
        let row = self.0.entry(count_key(what, dimension, key), || CountRow {
            what: what.to_string(),
            dimension: dimension.to_string(),
            key: key.to_string(),
            count: 0,
        });
        row.count += by;
    }

    /// A case of `what` moved from status `from` to `to`.
    fn moved(&mut self, what: &str, from: &str, to: &str) {
        if from != to {
            self.add(what, STATUS, from, -1);
            self.add(what, STATUS, to, 1);
        }
    }
}

/// A row of `dashboard_cases`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRow {
    stream_id: String,
    what: String,
    status: String,
    category: Option<String>,
    awaits_answer: bool,
    submitted_at: DateTime<Utc>,
    due_on: Option<NaiveDate>,
    answered_at: Option<DateTime<Utc>>,
    last_sequence: i64,
}

fold::sequenced_row!(CaseRow, stream_id);

/// A row of `dashboard_payments`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentRow {
    stream_id: String,
    amount_cents: i64,
    succeeded_on: Option<NaiveDate>,
    last_sequence: i64,
}

fold::sequenced_row!(PaymentRow, stream_id);

/// A row of `dashboard_payment_days`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DayRow {
    day: NaiveDate,
    payments: i64,
    amount_cents: i64,
}

impl fold::Row for DayRow {
    fn key(&self) -> String {
        self.day.to_string()
    }
}

/// The day (Athens) of `at`.
fn athens_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Athens).date_naive()
}

#[async_trait]
impl Consumer for DashboardProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[
            CitizenRequest::TYPE,
            CertificateApplication::TYPE,
            Payment::TYPE,
        ])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Folds the batch in memory: one read of the counts and of the cases it touches (when
    /// it holds request or application events), of the payments and their days (payment
    /// events); one write of each table it changed.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        // An event that does not decode is passed over (the module's documentation says
        // why, and what it costs).
        let requests =
            fold::decode_or_pass::<RequestEvent>(events, CitizenRequest::TYPE, Self::NAME);
        let applications = fold::decode_or_pass::<ApplicationEvent>(
            events,
            CertificateApplication::TYPE,
            Self::NAME,
        );
        let payments = fold::decode_or_pass::<PaymentEvent>(events, Payment::TYPE, Self::NAME);
        if !requests.is_empty() || !applications.is_empty() {
            let mut counts = Counts(
                Table::load(
                    conn,
                    "dashboard_counts",
                    &["what", "dimension", "key"],
                    "what",
                    &[REQUESTS.to_string(), APPLICATIONS.to_string()],
                )
                .await?,
            );
            let mut ids = fold::stream_ids(&requests);
            ids.extend(fold::stream_ids(&applications));
            let mut cases =
                Table::<CaseRow>::load(conn, "dashboard_cases", &["stream_id"], "stream_id", &ids)
                    .await?;
            for (event, payload) in &requests {
                fold_request(&mut cases, &mut counts, event, payload);
            }
            for (event, payload) in &applications {
                fold_application(&mut cases, &mut counts, event, payload);
            }
            cases.save(conn).await?;
            counts.0.save(conn).await?;
        }
        if !payments.is_empty() {
            fold_payments(conn, &payments).await?;
        }
        Ok(())
    }
}

fn fold_request(
    cases: &mut Table<CaseRow>,
    counts: &mut Counts,
    event: &RecordedEvent,
    payload: &RequestEvent,
) {
    let id = event.aggregate_id.as_str();
    if let RequestEvent::RequestSubmitted { category, at, .. } = payload {
        if cases.get(id).is_none() {
            let status = domain::request::RequestStatus::Submitted;
            cases.put(CaseRow {
                stream_id: id.to_string(),
                what: REQUESTS.to_string(),
                status: status.as_str().to_string(),
                category: category.clone(),
                awaits_answer: status.awaits_answer(),
                submitted_at: *at,
                due_on: None,
                answered_at: None,
                last_sequence: event.sequence,
            });
            counts.add(REQUESTS, STATUS, status.as_str(), 1);
            counts.add(REQUESTS, CATEGORY, category.as_deref().unwrap_or(""), 1);
        }
        return;
    }
    let Some(case) = cases.advance(id, event.sequence) else {
        return;
    };
    if let RequestEvent::RequestAnswered { at, .. } = payload {
        case.answered_at = Some(*at);
    }
    if let Some(status) = payload.status_after() {
        counts.moved(REQUESTS, &case.status, status.as_str());
        case.status = status.as_str().to_string();
        case.awaits_answer = status.awaits_answer();
    }
}

fn fold_application(
    cases: &mut Table<CaseRow>,
    counts: &mut Counts,
    event: &RecordedEvent,
    payload: &ApplicationEvent,
) {
    let id = event.aggregate_id.as_str();
    if let ApplicationEvent::ApplicationSubmitted {
        details,
        due_on,
        at,
        ..
    } = payload
    {
        if cases.get(id).is_none() {
            let certificate = match details {
                ApplicationDetails::CivilRegistry {
                    certificate_type, ..
                } => certificate_type.clone(),
                ApplicationDetails::Tap { .. } => details.kind().as_str().to_string(),
            };
            let status = domain::application::ApplicationStatus::Submitted;
            counts.add(APPLICATIONS, STATUS, status.as_str(), 1);
            counts.add(APPLICATIONS, TYPE, &certificate, 1);
            cases.put(CaseRow {
                stream_id: id.to_string(),
                what: APPLICATIONS.to_string(),
                status: status.as_str().to_string(),
                category: Some(certificate),
                awaits_answer: !status.is_final(),
                submitted_at: *at,
                due_on: Some(*due_on),
                answered_at: None,
                last_sequence: event.sequence,
            });
        }
        return;
    }
    let Some(case) = cases.advance(id, event.sequence) else {
        return;
    };
    if let Some(status) = payload.status_after() {
        counts.moved(APPLICATIONS, &case.status, status.as_str());
        case.status = status.as_str().to_string();
        case.awaits_answer = !status.is_final();
    }
}

/// Folds the batch's payment events: a payment counts on the day it succeeded, and stops
/// counting should it later fail, error, be cancelled or expire (as the `payments` read
/// model's status would then say).
async fn fold_payments(
    conn: &mut PgConnection,
    events: &[(&RecordedEvent, PaymentEvent)],
) -> Result<(), ConsumerError> {
    let ids = fold::stream_ids(events);
    let mut payments = Table::<PaymentRow>::load(
        conn,
        "dashboard_payments",
        &["stream_id"],
        "stream_id",
        &ids,
    )
    .await?;
    // The days the batch may change: those it succeeds on, and those of the payments it
    // touches that succeeded before.
    let mut days: BTreeSet<String> = ids
        .iter()
        .filter_map(|id| payments.get(id).and_then(|p| p.succeeded_on))
        .map(|day| day.to_string())
        .collect();
    for (_, payload) in events {
        if let PaymentEvent::PaymentSucceeded { at, .. } = payload {
            days.insert(athens_day(*at).to_string());
        }
    }
    let days: Vec<String> = days.into_iter().collect();
    let mut per_day = Table::<DayRow>::load(
        conn,
        "dashboard_payment_days",
        &["day"],
        "to_char(day, 'YYYY-MM-DD')",
        &days,
    )
    .await?;
    for (event, payload) in events {
        let id = event.aggregate_id.as_str();
        if let PaymentEvent::PaymentCreated { amount_cents, .. } = payload {
            if payments.get(id).is_none() {
                payments.put(PaymentRow {
                    stream_id: id.to_string(),
                    amount_cents: amount_cents.cents(),
                    succeeded_on: None,
                    last_sequence: event.sequence,
                });
            }
            continue;
        }
        let Some(payment) = payments.advance(id, event.sequence) else {
            continue;
        };
        let change = match payload {
            PaymentEvent::PaymentSucceeded { at, .. } if payment.succeeded_on.is_none() => {
                let day = athens_day(*at);
                payment.succeeded_on = Some(day);
                Some((day, 1))
            }
            PaymentEvent::PaymentFailed { .. }
            | PaymentEvent::PaymentErrored { .. }
            | PaymentEvent::PaymentCancelled { .. }
            | PaymentEvent::PaymentExpired { .. } => payment.succeeded_on.take().map(|d| (d, -1)),
            _ => None,
        };
        if let Some((day, sign)) = change {
            let row = per_day.entry(day.to_string(), || DayRow {
                day,
                payments: 0,
                amount_cents: 0,
            });
            row.payments += sign;
            row.amount_cents += sign * payment.amount_cents;
        }
    }
    payments.save(conn).await?;
    per_day.save(conn).await
}
