//! Folds `CitizenRequest` events into `request_cases` and `request_timeline`.

use async_trait::async_trait;
use cqrs_es::Aggregate;
use domain::request::{CitizenRequest, RequestEvent, RequestStatus, Submitter};
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde_json::json;
use sqlx::PgConnection;

use crate::ReadModel;

pub struct RequestsProjection;

impl RequestsProjection {
    pub const NAME: &'static str = "requests";
}

impl ReadModel for RequestsProjection {
    fn schema_version(&self) -> i32 {
        1
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
    last_sequence        bigint      NOT NULL
);
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

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        if event.aggregate_type != CitizenRequest::TYPE {
            return Ok(());
        }
        let payload: RequestEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ConsumerError::decode(event, e))?;
        apply(conn, event, payload).await
    }
}

async fn apply(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    payload: RequestEvent,
) -> Result<(), ConsumerError> {
    let id = event.aggregate_id.as_str();
    let seq = event.sequence;
    let (status, actor_role, actor_name, details) = match payload {
        RequestEvent::RequestSubmitted {
            number,
            kind,
            subject,
            text,
            desired_action,
            submitter,
            at,
            ..
        } => {
            let (owner, name, tracking) = match &submitter {
                Submitter::Citizen { account_id, name } => {
                    (Some(account_id.clone()), Some(name.clone()), None)
                }
                Submitter::Anonymous {
                    tracking_code_sha256,
                } => (None, None, Some(tracking_code_sha256.clone())),
            };
            sqlx::query(
                "INSERT INTO request_cases (id, number, kind, status, subject, body, desired_action, \
                 owner_account_id, submitter_name, tracking_code_sha256, submitted_at, updated_at, last_sequence) \
                 VALUES ($1, $2, $3, 'submitted', $4, $5, $6, $7, $8, $9, $10, $10, $11) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(number.to_string())
            .bind(kind.as_str())
            .bind(&subject)
            .bind(&text)
            .bind(&desired_action)
            .bind(&owner)
            .bind(&name)
            .bind(&tracking)
            .bind(at)
            .bind(seq)
            .execute(&mut *conn)
            .await?;
            let role = if owner.is_some() {
                "citizen"
            } else {
                "anonymous"
            };
            (
                RequestStatus::Submitted,
                role,
                name,
                json!({"number": number.to_string(), "kind": kind.as_str()}),
            )
        }
        RequestEvent::RequestTakenIntoReview { clerk, at } => {
            update_case(
                conn,
                id,
                seq,
                at,
                "status = 'in_review', assigned_to_id = $4, assigned_to_name = $5",
                &[&clerk.account_id, &clerk.name],
            )
            .await?;
            (
                RequestStatus::InReview,
                "clerk",
                Some(clerk.name),
                json!({}),
            )
        }
        RequestEvent::RequestAnswered { clerk, text, at } => {
            update_case(
                conn,
                id,
                seq,
                at,
                "status = 'answered', answer = $4, answered_at = $3",
                &[&text],
            )
            .await?;
            (
                RequestStatus::Answered,
                "clerk",
                Some(clerk.name),
                json!({"answer": text}),
            )
        }
        RequestEvent::RequestStatusChanged {
            clerk,
            from,
            to,
            at,
        } => {
            update_case(conn, id, seq, at, "status = $4", &[to.as_str()]).await?;
            (
                to,
                "clerk",
                Some(clerk.name),
                json!({"from": from.as_str(), "to": to.as_str()}),
            )
        }
        RequestEvent::ProtocolRegistered {
            clerk,
            protocol_number,
            protocol_date,
            at,
        } => {
            sqlx::query(
                "UPDATE request_cases SET protocol_number = $2, protocol_date = $3, \
                 updated_at = $4, last_sequence = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(&protocol_number)
            .bind(protocol_date)
            .bind(at)
            .bind(seq)
            .execute(&mut *conn)
            .await?;
            let status = current_status(conn, id).await?;
            (
                status,
                "clerk",
                Some(clerk.name),
                json!({"protocol_number": protocol_number, "protocol_date": protocol_date}),
            )
        }
        RequestEvent::RequestClosed {
            clerk,
            reason,
            note,
            at,
        } => {
            let note_text = note.clone().unwrap_or_default();
            update_case(
                conn,
                id,
                seq,
                at,
                "status = 'closed', close_reason = $4, close_note = NULLIF($5, '')",
                &[reason.as_str(), note_text.as_str()],
            )
            .await?;
            (
                RequestStatus::Closed,
                "clerk",
                Some(clerk.name),
                json!({"reason": reason.as_str(), "note": note}),
            )
        }
        RequestEvent::RequestReopened { reason, at, .. } => {
            update_case(
                conn,
                id,
                seq,
                at,
                "status = 'reopened', close_reason = NULL, close_note = NULL, \
                 times_reopened = times_reopened + 1",
                &[],
            )
            .await?;
            (
                RequestStatus::Reopened,
                "citizen",
                None,
                json!({"reason": reason}),
            )
        }
    };
    sqlx::query(
        "INSERT INTO request_timeline (case_id, sequence, event_type, at, actor_role, actor_name, status, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(seq)
    .bind(&event.event_type)
    .bind(event.recorded_at)
    .bind(actor_role)
    .bind(actor_name)
    .bind(status.as_str())
    .bind(details)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `UPDATE request_cases SET <set>, updated_at = $3, last_sequence = $2 WHERE id = $1`,
/// with the extra text parameters bound from `$4` on.
async fn update_case(
    conn: &mut PgConnection,
    id: &str,
    seq: i64,
    at: chrono::DateTime<chrono::Utc>,
    set: &str,
    params: &[&str],
) -> Result<(), ConsumerError> {
    let sql = format!(
        "UPDATE request_cases SET {set}, updated_at = $3, last_sequence = $2 WHERE id = $1"
    );
    let mut query = sqlx::query(&sql).bind(id).bind(seq).bind(at);
    for p in params {
        query = query.bind(*p);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

async fn current_status(conn: &mut PgConnection, id: &str) -> Result<RequestStatus, ConsumerError> {
    let raw: String = sqlx::query_scalar("SELECT status FROM request_cases WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    RequestStatus::parse(&raw).map_err(|e| ConsumerError::Other(e.to_string()))
}
