//! Events as read back from the log, with their commit-order position.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};

use crate::Position;

/// One stored event with everything a consumer or an auditor may need.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
    pub position: Position,
    /// What the hash chain covers and its links: read for audits
    /// ([`load_case_events`]), not by consumers, which never need them (reading them would
    /// move every payload twice).
    pub chain: Option<ChainFields>,
}

/// An event's place in its case's hash chain, as stored.
#[derive(Debug, Clone)]
pub struct ChainFields {
    /// PostgreSQL's canonical text of `payload` and `metadata`, which the hash covers.
    pub payload_text: String,
    pub metadata_text: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The columns consumers select, in the order [`RecordedEvent::from_row`] expects.
pub(crate) const EVENT_COLUMNS: &str = "aggregate_type, aggregate_id, sequence, event_type, \
    event_version, payload, metadata, recorded_at, transaction_id::text::bigint AS txid, \
    global_position";

/// [`EVENT_COLUMNS`] and the hash chain's.
const AUDIT_COLUMNS: &str = "aggregate_type, aggregate_id, sequence, event_type, \
    event_version, payload, metadata, recorded_at, transaction_id::text::bigint AS txid, \
    global_position, payload::text AS payload_text, metadata::text AS metadata_text, \
    prev_hash, hash";

impl RecordedEvent {
    pub(crate) fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
            recorded_at: row.try_get("recorded_at")?,
            position: Self::position_of(row)?,
            chain: None,
        })
    }

    /// The position of the event a row of [`EVENT_COLUMNS`] holds, without decoding the rest.
    pub(crate) fn position_of(row: &PgRow) -> Result<Position, sqlx::Error> {
        Ok(Position {
            transaction_id: row.try_get("txid")?,
            global_position: row.try_get("global_position")?,
        })
    }

    fn from_audit_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let mut event = Self::from_row(row)?;
        event.chain = Some(ChainFields {
            payload_text: row.try_get("payload_text")?,
            metadata_text: row.try_get("metadata_text")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        });
        Ok(event)
    }

    /// A metadata value (actor, role, correlation id, …), if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

/// Every event of one case in sequence order, up to `up_to_sequence` when given, with its
/// hash-chain fields.
pub async fn load_case_events<'e>(
    db: impl PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
    up_to_sequence: Option<i64>,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = $2 AND ($3::bigint IS NULL OR sequence <= $3) \
         ORDER BY sequence"
    );
    let rows = sqlx::query(&sql)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(up_to_sequence)
        .fetch_all(db)
        .await?;
    rows.iter().map(RecordedEvent::from_audit_row).collect()
}

/// The next `limit` events of the whole log with their chain fields, stream by stream (in
/// the order of the primary key: aggregate type, aggregate id, sequence), after the event
/// `after` names: for verifying every hash chain (`portal audit verify --all`).
pub async fn audit_batch<'e>(
    db: impl PgExecutor<'e>,
    after: Option<(&str, &str, i64)>,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let (t, id, seq) = after.unwrap_or(("", "", 0));
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM events \
         WHERE (aggregate_type, aggregate_id, sequence) > ($1, $2, $3) \
         ORDER BY aggregate_type, aggregate_id, sequence LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(t)
        .bind(id)
        .bind(seq)
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.iter().map(RecordedEvent::from_audit_row).collect()
}

/// The aggregate type of stream `aggregate_id` (ids are unique across types), if it has
/// events.
pub async fn aggregate_type_of<'e>(
    db: impl PgExecutor<'e>,
    aggregate_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT aggregate_type FROM events WHERE aggregate_id = $1 LIMIT 1")
        .bind(aggregate_id)
        .fetch_optional(db)
        .await
}

/// The position of a case's latest event: what a command hands back so that reads can
/// wait for the projections to reach it.
pub async fn latest_position<'e>(
    db: impl PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<Position>, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(transaction_id, global_position)| Position {
        transaction_id,
        global_position,
    }))
}

/// The head of the log as it is now: the position of the latest committed event, if any.
pub async fn log_head<'e>(db: impl PgExecutor<'e>) -> Result<Option<Position>, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        // Qualified: the bare names would order by the output columns (the casts), which
        // no index serves, and the log would be read and sorted whole on every call.
        "SELECT transaction_id::text::bigint, global_position FROM events \
         ORDER BY events.transaction_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(transaction_id, global_position)| Position {
        transaction_id,
        global_position,
    }))
}
