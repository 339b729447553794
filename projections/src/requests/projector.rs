//! Folds `CitizenRequest` events into `request_cases` and `request_timeline`.
//!
//! A batch is folded in memory (the cases it touches are loaded once) and written back
//! with one upsert of the cases and one insert of the timeline entries, so that a batch
//! of hundreds of events costs a handful of round trips, live and during a rebuild.

use async_trait::async_trait;
use cqrs_es::Aggregate;
use domain::request::{CitizenRequest, RequestEvent, RequestStatus, Submitter};
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;

use crate::ReadModel;

pub struct RequestsProjection;

impl RequestsProjection {
    pub const NAME: &'static str = "requests";
}

impl ReadModel for RequestsProjection {
    fn schema_version(&self) -> i32 {
        // 2: a case's category, address, point and attribute answers (issue 15).
        // 3: the Open311 client a case was filed through (from its first event's metadata).
        // 4: the submission's timeline entry names that client.
        4
    }

    fn tables(&self) -> &'static [&'static str] {
        &["request_cases", "request_timeline"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE request_cases (
    id                   text PRIMARY KEY,
    number               text        NOT NULL,
    kind                 text        NOT NULL,
    status               text        NOT NULL,
    subject              text        NOT NULL,
    body                 text        NOT NULL,
    desired_action       text,
    owner_account_id     text,
    submitter_name       text,
    tracking_code_sha256 text UNIQUE,
    answer               text,
    answered_at          timestamptz,
    protocol_number      text,
    protocol_date        timestamptz,
    assigned_to_id       text,
    assigned_to_name     text,
    close_reason         text,
    close_note           text,
    times_reopened       integer     NOT NULL DEFAULT 0,
    submitted_at         timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    last_sequence        bigint      NOT NULL,
    category             text,
    address              text,
    lat                  double precision,
    long                 double precision,
    attributes           jsonb       NOT NULL DEFAULT '{}',
    open311_client       text
);
CREATE INDEX request_cases_open311_idx ON request_cases (submitted_at DESC)
    WHERE open311_client IS NOT NULL;
CREATE INDEX request_cases_category_idx ON request_cases (category, submitted_at)
    WHERE category IS NOT NULL;
CREATE INDEX request_cases_owner_idx ON request_cases (owner_account_id, submitted_at DESC);
CREATE INDEX request_cases_queue_idx ON request_cases (status, kind, submitted_at);
CREATE TABLE request_timeline (
    case_id    text        NOT NULL,
    sequence   bigint      NOT NULL,
    event_type text        NOT NULL,
    at         timestamptz NOT NULL,
    actor_role text        NOT NULL,
    actor_name text,
    status     text        NOT NULL,
    details    jsonb       NOT NULL,
    PRIMARY KEY (case_id, sequence)
);
"#
    }
}

#[async_trait]
impl Consumer for RequestsProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[CitizenRequest::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        let mut decoded = Vec::new();
        for event in events {
            if event.aggregate_type != CitizenRequest::TYPE {
                continue;
            }
            let payload = RequestEvent::deserialize(&event.payload)
                .map_err(|e| ConsumerError::decode(event, e))?;
            decoded.push((event, payload));
        }
        if decoded.is_empty() {
            return Ok(());
        }
        let mut cases = load_cases(conn, &decoded).await?;
        let mut timeline = Vec::with_capacity(decoded.len());
        for (event, payload) in decoded {
            let case = match cases.get_mut(&event.aggregate_id) {
                Some(case) => case,
                None => match CaseRow::submitted(event, &payload) {
                    Some(row) => cases.entry(event.aggregate_id.clone()).or_insert(row),
                    None => {
                        return Err(ConsumerError::decode(
                            event,
                            "an event of a case that was never submitted",
                        ))
                    }
                },
            };
            if event.sequence <= case.last_sequence {
                continue; // already folded (checkpoints prevent it; cheap to guard)
            }
            timeline.push(case.fold(event, payload));
            case.dirty = true;
        }
        save_cases(conn, cases.values().filter(|c| c.dirty)).await?;
        save_timeline(conn, &timeline).await?;
        Ok(())
    }
}

/// A row of `request_cases`, in memory while a batch is folded.
#[derive(Debug, Clone, sqlx::FromRow)]
struct CaseRow {
    id: String,
    number: String,
    kind: String,
    status: String,
    subject: String,
    body: String,
    desired_action: Option<String>,
    owner_account_id: Option<String>,
    submitter_name: Option<String>,
    tracking_code_sha256: Option<String>,
    answer: Option<String>,
    answered_at: Option<DateTime<Utc>>,
    protocol_number: Option<String>,
    protocol_date: Option<DateTime<Utc>>,
    assigned_to_id: Option<String>,
    assigned_to_name: Option<String>,
    close_reason: Option<String>,
    close_note: Option<String>,
    times_reopened: i32,
    submitted_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_sequence: i64,
    #[sqlx(skip)]
    dirty: bool,
    /// Set at submission only, so written by the insert and never updated: not loaded.
    #[sqlx(skip)]
    place: domain::request::Place,
    /// The Open311 client it was filed through (set at submission only, like `place`).
    #[sqlx(skip)]
    open311_client: Option<String>,
}

/// A row of `request_timeline`.
struct TimelineRow {
    case_id: String,
    sequence: i64,
    event_type: String,
    at: DateTime<Utc>,
    actor_role: &'static str,
    actor_name: Option<String>,
    status: String,
    details: Value,
}

impl CaseRow {
    /// The empty row a `RequestSubmitted` starts from (`fold` fills it in).
    fn submitted(event: &RecordedEvent, payload: &RequestEvent) -> Option<Self> {
        let RequestEvent::RequestSubmitted { at, .. } = payload else {
            return None;
        };
        Some(Self {
            id: event.aggregate_id.clone(),
            number: String::new(),
            kind: String::new(),
            status: String::new(),
            subject: String::new(),
            body: String::new(),
            desired_action: None,
            owner_account_id: None,
            submitter_name: None,
            tracking_code_sha256: None,
            answer: None,
            answered_at: None,
            protocol_number: None,
            protocol_date: None,
            assigned_to_id: None,
            assigned_to_name: None,
            close_reason: None,
            close_note: None,
            times_reopened: 0,
            submitted_at: *at,
            updated_at: *at,
            last_sequence: 0,
            dirty: true,
            place: domain::request::Place::default(),
            open311_client: event
                .metadata
                .get("open311_client")
                .and_then(|c| c.as_str())
                .map(str::to_string),
        })
    }

    /// Applies one event to the row and answers its timeline entry.
    fn fold(&mut self, event: &RecordedEvent, payload: RequestEvent) -> TimelineRow {
        self.updated_at = payload.at();
        self.last_sequence = event.sequence;
        if let Some(status) = payload.status_after() {
            self.set_status(status);
        }
        let (actor_role, actor_name, details) = match payload {
            RequestEvent::RequestSubmitted {
                number,
                kind,
                subject,
                text,
                desired_action,
                submitter,
                category,
                address,
                location,
                attributes,
                ..
            } => {
                self.place = domain::request::Place {
                    category,
                    address,
                    location,
                    attributes,
                };
                self.number = number.to_string();
                self.kind = kind.as_str().to_string();
                self.subject = subject;
                self.body = text;
                self.desired_action = desired_action;
                let role = match submitter {
                    Submitter::Citizen { account_id, name } => {
                        self.owner_account_id = Some(account_id);
                        self.submitter_name = Some(name);
                        "citizen"
                    }
                    Submitter::Anonymous {
                        tracking_code_sha256,
                    } => {
                        self.tracking_code_sha256 = Some(tracking_code_sha256);
                        "anonymous"
                    }
                };
                let mut details = json!({"number": self.number, "kind": self.kind});
                if let Some(client) = &self.open311_client {
                    details["open311_client"] = json!(client);
                }
                (role, self.submitter_name.clone(), details)
            }
            RequestEvent::RequestTakenIntoReview { clerk, .. } => {
                self.assigned_to_id = Some(clerk.account_id);
                self.assigned_to_name = Some(clerk.name.clone());
                ("clerk", Some(clerk.name), json!({}))
            }
            RequestEvent::RequestAnswered { clerk, text, at } => {
                self.answer = Some(text.clone());
                self.answered_at = Some(at);
                ("clerk", Some(clerk.name), json!({"answer": text}))
            }
            RequestEvent::RequestStatusChanged {
                clerk, from, to, ..
            } => (
                "clerk",
                Some(clerk.name),
                json!({"from": from.as_str(), "to": to.as_str()}),
            ),
            RequestEvent::ProtocolRegistered {
                clerk,
                protocol_number,
                protocol_date,
                ..
            } => {
                self.protocol_number = Some(protocol_number.clone());
                self.protocol_date = Some(protocol_date);
                (
                    "clerk",
                    Some(clerk.name),
                    json!({"protocol_number": protocol_number, "protocol_date": protocol_date}),
                )
            }
            RequestEvent::RequestClosed {
                clerk,
                reason,
                note,
                ..
            } => {
                self.close_reason = Some(reason.as_str().to_string());
                self.close_note = note.clone().filter(|n| !n.is_empty());
                (
                    "clerk",
                    Some(clerk.name),
                    json!({"reason": reason.as_str(), "note": note}),
                )
            }
            RequestEvent::RequestReopened { reason, .. } => {
                self.close_reason = None;
                self.close_note = None;
                self.times_reopened += 1;
                ("citizen", None, json!({"reason": reason}))
            }
        };
        TimelineRow {
            case_id: self.id.clone(),
            sequence: event.sequence,
            event_type: event.event_type.clone(),
            at: event.recorded_at,
            actor_role,
            actor_name,
            status: self.status.clone(),
            details,
        }
    }

    fn set_status(&mut self, status: RequestStatus) {
        self.status = status.as_str().to_string();
    }
}

/// The stored rows of the cases a batch touches (those it submits itself are new).
async fn load_cases(
    conn: &mut PgConnection,
    decoded: &[(&RecordedEvent, RequestEvent)],
) -> Result<HashMap<String, CaseRow>, ConsumerError> {
    let mut ids: Vec<&str> = decoded
        .iter()
        .filter(|(e, _)| e.sequence > 1)
        .map(|(e, _)| e.aggregate_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<CaseRow> = sqlx::query_as(
        "SELECT id, number, kind, status, subject, body, desired_action, owner_account_id,          submitter_name, tracking_code_sha256, answer, answered_at, protocol_number,          protocol_date, assigned_to_id, assigned_to_name, close_reason, close_note,          times_reopened, submitted_at, updated_at, last_sequence          FROM request_cases WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
}

/// One upsert for every case the batch changed.
async fn save_cases<'a>(
    conn: &mut PgConnection,
    cases: impl Iterator<Item = &'a CaseRow>,
) -> Result<(), ConsumerError> {
    let cases: Vec<&CaseRow> = cases.collect();
    if cases.is_empty() {
        return Ok(());
    }
    fn col<T: Clone>(cases: &[&CaseRow], f: impl Fn(&CaseRow) -> T) -> Vec<T> {
        cases.iter().map(|c| f(c)).collect()
    }
    sqlx::query(
        "INSERT INTO request_cases (id, number, kind, status, subject, body, desired_action,          owner_account_id, submitter_name, tracking_code_sha256, answer, answered_at,          protocol_number, protocol_date, assigned_to_id, assigned_to_name, close_reason,          close_note, times_reopened, submitted_at, updated_at, last_sequence, category, address,          lat, long, attributes, open311_client)          SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],          $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],          $12::timestamptz[], $13::text[], $14::timestamptz[], $15::text[], $16::text[],          $17::text[], $18::text[], $19::int4[], $20::timestamptz[], $21::timestamptz[],          $22::int8[], $23::text[], $24::text[], $25::float8[], $26::float8[], $27::jsonb[], $28::text[])          ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,          answer = EXCLUDED.answer, answered_at = EXCLUDED.answered_at,          protocol_number = EXCLUDED.protocol_number, protocol_date = EXCLUDED.protocol_date,          assigned_to_id = EXCLUDED.assigned_to_id, assigned_to_name = EXCLUDED.assigned_to_name,          close_reason = EXCLUDED.close_reason, close_note = EXCLUDED.close_note,          times_reopened = EXCLUDED.times_reopened, updated_at = EXCLUDED.updated_at,          last_sequence = EXCLUDED.last_sequence",
    )
    .bind(col(&cases, |c| c.id.clone()))
    .bind(col(&cases, |c| c.number.clone()))
    .bind(col(&cases, |c| c.kind.clone()))
    .bind(col(&cases, |c| c.status.clone()))
    .bind(col(&cases, |c| c.subject.clone()))
    .bind(col(&cases, |c| c.body.clone()))
    .bind(col(&cases, |c| c.desired_action.clone()))
    .bind(col(&cases, |c| c.owner_account_id.clone()))
    .bind(col(&cases, |c| c.submitter_name.clone()))
    .bind(col(&cases, |c| c.tracking_code_sha256.clone()))
    .bind(col(&cases, |c| c.answer.clone()))
    .bind(col(&cases, |c| c.answered_at))
    .bind(col(&cases, |c| c.protocol_number.clone()))
    .bind(col(&cases, |c| c.protocol_date))
    .bind(col(&cases, |c| c.assigned_to_id.clone()))
    .bind(col(&cases, |c| c.assigned_to_name.clone()))
    .bind(col(&cases, |c| c.close_reason.clone()))
    .bind(col(&cases, |c| c.close_note.clone()))
    .bind(col(&cases, |c| c.times_reopened))
    .bind(col(&cases, |c| c.submitted_at))
    .bind(col(&cases, |c| c.updated_at))
    .bind(col(&cases, |c| c.last_sequence))
    .bind(col(&cases, |c| c.place.category.clone()))
    .bind(col(&cases, |c| c.place.address.clone()))
    .bind(col(&cases, |c| c.place.location.map(|l| l.lat)))
    .bind(col(&cases, |c| c.place.location.map(|l| l.long)))
    .bind(col(&cases, |c| {
        serde_json::to_value(&c.place.attributes).unwrap_or_default()
    }))
    .bind(col(&cases, |c| c.open311_client.clone()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One insert for every timeline entry of the batch.
async fn save_timeline(conn: &mut PgConnection, rows: &[TimelineRow]) -> Result<(), ConsumerError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO request_timeline (case_id, sequence, event_type, at, actor_role,          actor_name, status, details)          SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::timestamptz[],          $5::text[], $6::text[], $7::text[], $8::jsonb[])          ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.case_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.sequence).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.event_type.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.actor_role.to_string()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.actor_name.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.details.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
