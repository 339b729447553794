//! Where each consumer stands, for operators: its position, how far it is behind the head of
//! the log (in events and in seconds), and the event it is stuck on, if any; and the
//! operator's two remedies for a stuck consumer: retry now, or skip that one event (a
//! decision that is itself recorded, with its reason).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::consumer::consumer_lock_key;
use crate::{Position, Progress};

/// The channel on which an operator's command tells running portals to retry a consumer
/// now (payload: `retry <name>`).
pub const CONSUMERS_CHANNEL: &str = "portal_consumers";

/// How far past a consumer's position its lag is looked for: the next this many events of
/// the log, whatever their type (so a scrape or a readiness check reads at most this many
/// index entries per consumer, however long a backlog is).
pub const LAG_COUNT_CAP: i64 = 100_000;

/// A consumer as the runtime knows it: its name and the aggregate types it reads (`None`:
/// all).
#[derive(Debug, Clone, Copy)]
pub struct ConsumerInfo {
    pub name: &'static str,
    pub types: Option<&'static [&'static str]>,
}

/// The event a consumer is stuck on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerFailure {
    pub position: Position,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub error: String,
    pub attempts: i32,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

/// One consumer's standing.
#[derive(Debug, Clone)]
pub struct ConsumerStatus {
    pub name: String,
    /// The position it has handled up to: this process's, when it runs the consumer and is
    /// ahead of the stored checkpoint.
    pub position: Position,
    /// Events of the types it reads among the next [`LAG_COUNT_CAP`] events of the log after
    /// its position.
    pub lag_events: i64,
    /// How long ago the oldest of those was recorded (0 when none).
    pub lag_seconds: f64,
    pub failure: Option<ConsumerFailure>,
}

/// Each named consumer's standing (`consumers`), or every consumer with a checkpoint when
/// `consumers` is empty (the types are then unknown, so every later event counts).
pub async fn consumer_status(
    pool: &PgPool,
    consumers: &[ConsumerInfo],
    progress: Option<&Progress>,
) -> Result<Vec<ConsumerStatus>, sqlx::Error> {
    let stored = crate::checkpoints(pool).await?;
    let failures = failures(pool).await?;
    let known: Vec<ConsumerInfo> = if consumers.is_empty() {
        Vec::new()
    } else {
        consumers.to_vec()
    };
    let mut out = Vec::new();
    for (name, position, _, _) in stored {
        let types = if known.is_empty() {
            None
        } else {
            match known.iter().find(|c| c.name == name) {
                Some(c) => c.types,
                // A checkpoint of a consumer this process does not run (an old one).
                None => continue,
            }
        };
        let position = progress
            .and_then(|p| p.reached(&name))
            .map_or(position, |p| p.max(position));
        let types: Option<Vec<String>> = types.map(|t| t.iter().map(|s| s.to_string()).collect());
        let (lag_events, lag_seconds): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM now() - min(recorded_at))::float8 FROM ( \
               SELECT aggregate_type, recorded_at FROM events \
                WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
                ORDER BY transaction_id, global_position LIMIT $4) AS next \
             WHERE $3::text[] IS NULL OR aggregate_type = ANY($3)",
        )
        .bind(position.transaction_id.to_string())
        .bind(position.global_position)
        .bind(types)
        .bind(LAG_COUNT_CAP)
        .fetch_one(pool)
        .await?;
        let failure = failures
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.clone());
        out.push(ConsumerStatus {
            name,
            position,
            lag_events,
            lag_seconds: lag_seconds.unwrap_or(0.0).max(0.0),
            failure,
        });
    }
    Ok(out)
}

/// Every consumer that is stuck, with its event.
pub async fn failures(pool: &PgPool) -> Result<Vec<(String, ConsumerFailure)>, sqlx::Error> {
    type Row = (
        String,
        i64,
        i64,
        String,
        String,
        i64,
        String,
        String,
        i32,
        DateTime<Utc>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT name, transaction_id::text::bigint, global_position, aggregate_type, \
         aggregate_id, sequence, event_type, error, attempts, first_failed_at, last_failed_at \
         FROM consumer_failures ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.0,
                ConsumerFailure {
                    position: Position {
                        transaction_id: r.1,
                        global_position: r.2,
                    },
                    aggregate_type: r.3,
                    aggregate_id: r.4,
                    sequence: r.5,
                    event_type: r.6,
                    error: r.7,
                    attempts: r.8,
                    first_failed_at: r.9,
                    last_failed_at: r.10,
                },
            )
        })
        .collect())
}

/// Records that consumer `name` failed on `event` (its first unhandled one): a new row, or
/// one attempt more on the same event. Not when the checkpoint has passed the event
/// meanwhile (an operator skipped it while the attempt ran).
pub(crate) async fn record_failure(
    pool: &PgPool,
    name: &str,
    event: &crate::RecordedEvent,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO consumer_failures AS f (name, transaction_id, global_position, \
           aggregate_type, aggregate_id, sequence, event_type, error) \
         SELECT $1, $2::text::xid8, $3, $4, $5, $6, $7, $8 \
          WHERE EXISTS (SELECT 1 FROM consumer_checkpoints WHERE name = $1 \
                AND (last_transaction_id, last_position) < ($2::text::xid8, $3)) \
         ON CONFLICT (name) DO UPDATE SET \
           attempts = CASE WHEN f.global_position = EXCLUDED.global_position \
                           THEN f.attempts + 1 ELSE 1 END, \
           first_failed_at = CASE WHEN f.global_position = EXCLUDED.global_position \
                                  THEN f.first_failed_at ELSE now() END, \
           transaction_id = EXCLUDED.transaction_id, global_position = EXCLUDED.global_position, \
           aggregate_type = EXCLUDED.aggregate_type, aggregate_id = EXCLUDED.aggregate_id, \
           sequence = EXCLUDED.sequence, event_type = EXCLUDED.event_type, \
           error = EXCLUDED.error, last_failed_at = now()",
    )
    .bind(name)
    .bind(event.position.transaction_id.to_string())
    .bind(event.position.global_position)
    .bind(&event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(event.sequence)
    .bind(&event.event_type)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Why an operator's skip was refused.
#[derive(Debug, thiserror::Error)]
pub enum SkipError {
    #[error("no consumer named {name:?}; there are: {known}")]
    UnknownConsumer { name: String, known: String },
    #[error("a skip needs a reason (--reason \"…\"): it is kept as the record of the decision")]
    NoReason,
    #[error("{name} is not stuck on any event: there is nothing to skip")]
    NotStuck { name: String },
    #[error(
        "{name} is stuck on the event at position {stuck}, not {asked}: skip only the event it \
         is stuck on (see `portal projections status`)"
    )]
    OtherPosition {
        name: String,
        stuck: i64,
        asked: i64,
    },
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// What a skip did.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub name: String,
    pub failure: ConsumerFailure,
}

/// Passes consumer `name` over the event at `position`, which must be the one it is stuck
/// on: records the decision (reason, who, when, the event and its error) in
/// `consumer_skips`, moves the checkpoint onto that event, clears the failure and tells
/// running portals to go on at once. Taken under the consumer's lock, so it never races a
/// batch.
pub async fn skip(
    pool: &PgPool,
    name: &str,
    position: i64,
    reason: &str,
    decided_by: &str,
) -> Result<Skipped, SkipError> {
    let known: Vec<String> = sqlx::query_scalar("SELECT name FROM consumer_checkpoints ORDER BY 1")
        .fetch_all(pool)
        .await?;
    if !known.iter().any(|n| n == name) {
        return Err(SkipError::UnknownConsumer {
            name: name.to_string(),
            known: known.join(", "),
        });
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(SkipError::NoReason);
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(consumer_lock_key(name))
        .execute(&mut *tx)
        .await?;
    let failure = failures(pool)
        .await?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, f)| f)
        .ok_or_else(|| SkipError::NotStuck {
            name: name.to_string(),
        })?;
    if failure.position.global_position != position {
        return Err(SkipError::OtherPosition {
            name: name.to_string(),
            stuck: failure.position.global_position,
            asked: position,
        });
    }
    sqlx::query(
        "INSERT INTO consumer_skips (name, global_position, transaction_id, aggregate_type, \
           aggregate_id, sequence, event_type, error, reason, decided_by) \
         VALUES ($1, $2, $3::text::xid8, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(name)
    .bind(position)
    .bind(failure.position.transaction_id.to_string())
    .bind(&failure.aggregate_type)
    .bind(&failure.aggregate_id)
    .bind(failure.sequence)
    .bind(&failure.event_type)
    .bind(&failure.error)
    .bind(reason)
    .bind(decided_by)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE consumer_checkpoints SET last_transaction_id = $2::text::xid8, \
         last_position = $3, updated_at = now() \
         WHERE name = $1 AND (last_transaction_id, last_position) < ($2::text::xid8, $3)",
    )
    .bind(name)
    .bind(failure.position.transaction_id.to_string())
    .bind(position)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM consumer_failures WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CONSUMERS_CHANNEL)
        .bind(format!("retry {name}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Skipped {
        name: name.to_string(),
        failure,
    })
}

/// Tells every running portal to retry consumer `name` now instead of after its backoff.
/// Answers whether such a consumer has a checkpoint.
pub async fn request_retry(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM consumer_checkpoints WHERE name = $1)")
            .bind(name)
            .fetch_one(pool)
            .await?;
    if exists {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CONSUMERS_CHANNEL)
            .bind(format!("retry {name}"))
            .execute(pool)
            .await?;
    }
    Ok(exists)
}

/// The positions an operator told consumer `name` to pass over (a rebuild passes over them
/// too).
pub async fn skipped_positions(pool: &PgPool, name: &str) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT global_position FROM consumer_skips WHERE name = $1 ORDER BY global_position",
    )
    .bind(name)
    .fetch_all(pool)
    .await
}

/// An operator's recorded decision to skip an event.
#[derive(Debug, Clone)]
pub struct SkipRecord {
    pub name: String,
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub reason: String,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
}

/// Every recorded skip, oldest first.
pub async fn skips(pool: &PgPool) -> Result<Vec<SkipRecord>, sqlx::Error> {
    type Row = (
        String,
        i64,
        String,
        String,
        String,
        String,
        String,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT name, global_position, aggregate_type, aggregate_id, event_type, reason, \
         decided_by, decided_at FROM consumer_skips ORDER BY decided_at, name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SkipRecord {
            name: r.0,
            position: r.1,
            aggregate_type: r.2,
            aggregate_id: r.3,
            event_type: r.4,
            reason: r.5,
            decided_by: r.6,
            decided_at: r.7,
        })
        .collect())
}
