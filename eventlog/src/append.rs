//! Appending to the log in one round trip, and the cqrs-es repository over it.
//!
//! A command's events, their hash-chain links (the table's trigger), the case number of a
//! stream that needs one, the position they were given and the writer's session position
//! (read-your-writes) all come from one statement, which commits on its own: one round
//! trip to the server and one WAL flush per command. Optimistic concurrency is the
//! primary key `(aggregate_type, aggregate_id, sequence)`: a writer that saw sequence `n`
//! appends `n + 1`, and a second writer of the same `n + 1` gets a unique violation, which
//! is [`AppendError::Conflict`].

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use serde_json::Value;
use sqlx::PgPool;

use crate::Position;

/// Where the log writes a stream's case number: in the first event's payload, at
/// `path` (a JSON path, e.g. `["Submitted", "number", "serial"]`), the next value of the
/// PostgreSQL sequence `sequence` (created when missing: one per year).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseNumberSlot {
    pub sequence: String,
    pub path: Vec<String>,
}

/// What one command writes.
#[derive(Debug, Clone)]
pub struct Append<'a> {
    /// The events, with their sequences (consecutive, from the writer's last seen + 1).
    pub events: &'a [SerializedEvent],
    /// The case number the log hands out with the append, if the stream needs one.
    pub case_number: Option<&'a CaseNumberSlot>,
    /// The session (the SHA-256 of its token) whose next reads wait for this write: its
    /// row in `sessions` records the position, and `NOTIFY portal_sessions, 'wrote <session>
    /// <position>'` tells every portal process's session cache at commit.
    pub session: Option<&'a str>,
}

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The position of the last event written.
    pub position: Position,
    /// The case number's serial, when a [`CaseNumberSlot`] was given.
    pub case_serial: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended to the stream since it was read.
    #[error("the stream changed meanwhile")]
    Conflict,
    #[error("nothing to append")]
    Empty,
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
}

const APPEND_SQL: &str = "\
WITH number AS MATERIALIZED (
    SELECT nextval($7::text::regclass) AS serial WHERE $7::text IS NOT NULL
), appended AS (
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                        payload, metadata)
    SELECT $1, $2, e.sequence, e.event_type, e.event_version,
           CASE WHEN e.ord = 1 AND $8::text[] IS NOT NULL
                THEN jsonb_set(e.payload, $8::text[], to_jsonb((SELECT serial FROM number)), false)
                ELSE e.payload END,
           e.metadata
      FROM unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $9::jsonb[])
           WITH ORDINALITY AS e(sequence, event_type, event_version, payload, metadata, ord)
    RETURNING transaction_id, global_position
), head AS (
    SELECT max(transaction_id::text::bigint) AS transaction_id,
           max(global_position) AS global_position
      FROM appended
), session AS (
    UPDATE sessions s
       SET last_transaction_id = head.transaction_id, last_position = head.global_position
      FROM head
     WHERE $10::text IS NOT NULL AND s.token_sha256 = $10
       AND (s.last_transaction_id IS NULL
            OR (s.last_transaction_id, s.last_position)
               < (head.transaction_id, head.global_position))
), told AS (
    -- Every portal process's session cache learns the session's new position at commit.
    SELECT pg_notify('portal_sessions',
                     'wrote ' || $10 || ' ' || head.transaction_id || '.' || head.global_position)
      FROM head WHERE $10::text IS NOT NULL
)
SELECT head.transaction_id, head.global_position, (SELECT serial FROM number),
       (SELECT count(*) FROM told)
  FROM head";

/// Appends `append.events` (all of one stream) in one statement. See the module's notes.
pub async fn append(pool: &PgPool, append: Append<'_>) -> Result<Appended, AppendError> {
    let Some(first) = append.events.first() else {
        return Err(AppendError::Empty);
    };
    let mut sequences = Vec::with_capacity(append.events.len());
    let mut types = Vec::with_capacity(append.events.len());
    let mut versions = Vec::with_capacity(append.events.len());
    let mut payloads = Vec::with_capacity(append.events.len());
    let mut metadata = Vec::with_capacity(append.events.len());
    for event in append.events {
        sequences.push(event.sequence as i64);
        types.push(event.event_type.as_str());
        versions.push(event.event_version.as_str());
        payloads.push(&event.payload);
        metadata.push(&event.metadata);
    }
    let mut created_sequence = false;
    loop {
        let result: Result<(i64, i64, Option<i64>, i64), sqlx::Error> = sqlx::query_as(APPEND_SQL)
            .bind(&first.aggregate_type)
            .bind(&first.aggregate_id)
            .bind(&sequences)
            .bind(&types)
            .bind(&versions)
            .bind(&payloads)
            .bind(append.case_number.map(|slot| slot.sequence.as_str()))
            .bind(append.case_number.map(|slot| slot.path.as_slice()))
            .bind(&metadata)
            .bind(append.session)
            .fetch_one(pool)
            .await;
        match result {
            Ok((transaction_id, global_position, case_serial, _told)) => {
                return Ok(Appended {
                    position: Position {
                        transaction_id,
                        global_position,
                    },
                    case_serial,
                })
            }
            // 23505: the stream already has an event at one of these sequences.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                return Err(AppendError::Conflict)
            }
            // 42P01: the year's case-number sequence does not exist yet (its first case).
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("42P01") && !created_sequence =>
            {
                let Some(slot) = append.case_number else {
                    return Err(sqlx::Error::Database(e).into());
                };
                create_sequence(pool, &slot.sequence).await?;
                created_sequence = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Creates a case-number sequence (`case_number_<year>`) if it does not exist.
pub async fn create_sequence(pool: &PgPool, sequence: &str) -> Result<(), sqlx::Error> {
    if !sequence
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(sqlx::Error::Protocol(format!(
            "not a sequence name: {sequence:?}"
        )));
    }
    match sqlx::query(&format!(
        "CREATE SEQUENCE IF NOT EXISTS {sequence} AS bigint"
    ))
    .execute(pool)
    .await
    {
        Ok(_) => Ok(()),
        // The first submissions of a year race to create the sequence, and IF NOT EXISTS
        // does not cover that race: the loser gets 23505 (or 42P07) once the winner has
        // committed. The sequence exists; carry on.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("23505" | "42P07")) => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The portal's event repository for cqrs-es: streams are read from the `events` table in
/// sequence order, and written with [`append`] (one statement). Snapshots are not kept
/// (snapshot mode is broken in cqrs-es 0.5.0, DESIGN.md §3).
#[derive(Clone)]
pub struct EventLogRepository {
    pool: PgPool,
}

impl EventLogRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn select<A: Aggregate>(
        &self,
        aggregate_id: &str,
        after_sequence: i64,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let rows: Vec<(i64, String, String, Value, Value)> = sqlx::query_as(
            "SELECT sequence, event_type, event_version, payload, metadata FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 \
             ORDER BY sequence",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(after_sequence)
        .fetch_all(&self.pool)
        .await
        .map_err(persistence_error)?;
        Ok(rows
            .into_iter()
            .map(|(sequence, event_type, event_version, payload, metadata)| {
                SerializedEvent::new(
                    aggregate_id.to_string(),
                    sequence as usize,
                    A::TYPE.to_string(),
                    event_type,
                    event_version,
                    payload,
                    metadata,
                )
            })
            .collect())
    }
}

impl PersistedEventRepository for EventLogRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.select::<A>(aggregate_id, 0).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.select::<A>(aggregate_id, last_sequence as i64).await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        _snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if events.is_empty() {
            return Ok(());
        }
        let written = Append {
            events,
            case_number: None,
            session: None,
        };
        match append(&self.pool, written).await {
            Ok(_) | Err(AppendError::Empty) => Ok(()),
            Err(AppendError::Conflict) => Err(PersistenceError::OptimisticLockError),
            Err(AppendError::Sql(e)) => Err(persistence_error(e)),
        }
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self.get_events::<A>(aggregate_id).await?;
        Ok(replay(events))
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        Err(PersistenceError::UnknownError(
            "replaying a whole aggregate type is not supported: read models are consumers of \
             the log (projections::rebuild)"
                .into(),
        ))
    }
}

/// A database failure as cqrs-es sees it: a lost or refused connection is a connection
/// error (the command layer answers "unavailable"), anything else unknown.
fn persistence_error(e: sqlx::Error) -> PersistenceError {
    if crate::is_unavailable(&e) {
        PersistenceError::ConnectionError(Box::new(e))
    } else {
        PersistenceError::UnknownError(Box::new(e))
    }
}

fn replay(events: Vec<SerializedEvent>) -> ReplayStream {
    let (mut feed, stream) = ReplayStream::new(events.len().max(1));
    tokio::spawn(async move {
        for event in events {
            if feed.push(Ok(event)).await.is_err() {
                return;
            }
        }
    });
    stream
}
