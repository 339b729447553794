//! The checkpointed catch-up consumer runtime.
//!
//! Each consumer reads the log in commit-safe order (see [`crate::Position`]), handles a
//! batch of events and advances its checkpoint in the same transaction, so a crash
//! anywhere leaves either both or neither. An advisory lock taken per batch makes sure
//! that only one portal process runs a given consumer at a time. Consumers wake on the
//! events table's NOTIFY and poll as a fallback.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::stored::EVENT_COLUMNS;
use crate::{Position, Progress, RecordedEvent, EVENTS_CHANNEL};

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("cannot decode event {event_type} v{event_version} at {position}: {reason}")]
    Decode {
        event_type: String,
        event_version: String,
        position: Position,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
}

impl ConsumerError {
    pub fn decode(event: &RecordedEvent, reason: impl ToString) -> Self {
        Self::Decode {
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            position: event.position,
            reason: reason.to_string(),
        }
    }
}

/// Something fed by the event log: a read model or a process manager.
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Unique and stable: it keys the checkpoint.
    fn name(&self) -> &'static str;

    /// Handles one event inside the batch's transaction. Return an error to roll the
    /// whole batch back (it is retried; the consumer never skips an event).
    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError>;

    /// Handles a batch of events in commit order inside one transaction. The default
    /// handles them one by one; a read model may fold the batch in memory and write its
    /// rows in a few statements instead (the result must be the same).
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        for event in events {
            self.handle(conn, event).await?;
        }
        Ok(())
    }
}

/// The advisory-lock key of a consumer: a stable 64-bit FNV-1a hash of its name.
pub fn consumer_lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("portal-consumer:{name}").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// The next events after `after` whose transactions have finished, in commit-safe order.
pub async fn fetch_batch(
    conn: &mut PgConnection,
    after: Position,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events \
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id, global_position \
         LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(RecordedEvent::from_row).collect()
}

/// Whether events after `after` exist that are committed but still held back because an
/// older transaction is running: worth a quick retry rather than a long wait.
async fn events_held_back(conn: &mut PgConnection, after: Position) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events \
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2))",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.global_position)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub batch_size: i64,
    /// The longest a consumer sleeps when no notification arrives.
    pub poll_interval: Duration,
    /// A short wait when committed events are held back by a running transaction.
    pub held_back_retry: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(250),
            held_back_retry: Duration::from_millis(3),
        }
    }
}

/// What one batch of a consumer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Another process holds this consumer's lock: nothing was read.
    Busy,
    /// `count` events were handled and the checkpoint moved past them. `held_back` is set
    /// when nothing was ready although committed events exist after the checkpoint: they
    /// wait behind an older transaction that is still running.
    Handled { count: usize, held_back: bool },
}

/// Runs consumers in the background of the portal process.
pub struct ConsumerRuntime {
    pool: PgPool,
    config: RuntimeConfig,
    progress: Progress,
    wake: watch::Sender<u64>,
    tasks: Vec<JoinHandle<()>>,
}

impl ConsumerRuntime {
    pub fn new(pool: PgPool, config: RuntimeConfig, progress: Progress) -> Self {
        Self {
            pool,
            config,
            progress,
            wake: watch::channel(0).0,
            tasks: Vec::new(),
        }
    }

    /// Makes sure the consumer has a checkpoint row (at the start of the log if new).
    pub async fn register(pool: &PgPool, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO consumer_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(name)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Starts the LISTEN task (once) and a task for `consumer`.
    pub async fn start(&mut self, consumer: Arc<dyn Consumer>) -> Result<(), sqlx::Error> {
        Self::register(&self.pool, consumer.name()).await?;
        if self.tasks.is_empty() {
            self.tasks
                .push(tokio::spawn(listen(self.pool.clone(), self.wake.clone())));
        }
        let task = run_consumer(
            self.pool.clone(),
            consumer.clone(),
            self.config.clone(),
            self.progress.clone(),
            self.wake.subscribe(),
        )
        .instrument(tracing::info_span!("consumer", name = consumer.name()));
        self.tasks.push(tokio::spawn(task));
        Ok(())
    }
}

impl Drop for ConsumerRuntime {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Turns the events table's NOTIFY into a wake-up for every consumer in this process.
async fn listen(pool: PgPool, wake: watch::Sender<u64>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(EVENTS_CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed; consumers fall back to polling");
                } else {
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => wake.send_modify(|n| *n = n.wrapping_add(1)),
                            // The connection dropped: notifications may have been lost.
                            Ok(None) => wake.send_modify(|n| *n = n.wrapping_add(1)),
                            Err(e) => {
                                tracing::warn!(error = %e, "notification listener failed");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot open the notification listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn run_consumer(
    pool: PgPool,
    consumer: Arc<dyn Consumer>,
    config: RuntimeConfig,
    progress: Progress,
    mut wake: watch::Receiver<u64>,
) {
    let mut failures: u32 = 0;
    // Consecutive batches that found events held back by a running transaction: the
    // quick retry backs off so that a long transaction elsewhere does not make us spin.
    let mut held_back_streak: u32 = 0;
    loop {
        let outcome = run_batch(&pool, consumer.as_ref(), config.batch_size, &progress).await;
        let pause = match outcome {
            Ok(BatchOutcome::Handled { count, .. }) if count as i64 >= config.batch_size => {
                failures = 0;
                held_back_streak = 0;
                continue;
            }
            Ok(BatchOutcome::Handled {
                held_back: true, ..
            }) => {
                failures = 0;
                held_back_streak = held_back_streak.saturating_add(1);
                let backoff = config.held_back_retry * 2u32.pow(held_back_streak.min(10) - 1);
                backoff.min(config.poll_interval)
            }
            Ok(_) => {
                failures = 0;
                held_back_streak = 0;
                config.poll_interval
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::error!(error = %e, failures, "consumer batch failed; it will be retried");
                Duration::from_millis(100 * u64::from(failures.min(50)))
            }
        };
        tokio::select! {
            _ = wake.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Runs one batch of `consumer`: takes its lock, reads up to `batch_size` events after its
/// checkpoint in commit-safe order, handles them and moves the checkpoint, all in one
/// transaction. The runtime calls it in a loop; tests call it to drive a consumer step by
/// step.
pub async fn run_batch(
    pool: &PgPool,
    consumer: &dyn Consumer,
    batch_size: i64,
    progress: &Progress,
) -> Result<BatchOutcome, ConsumerError> {
    let mut tx = pool.begin().await?;
    // A batch's rows and checkpoint are derived from the log and commit together, so a
    // crash that loses the last few batch commits (not yet flushed) only makes the
    // consumer read those events again: the commit need not wait for the disk. Visibility
    // to other sessions (read-your-writes) does not depend on the flush.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(consumer_lock_key(consumer.name()))
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(BatchOutcome::Busy);
    }
    let (transaction_id, global_position): (i64, i64) = sqlx::query_as(
        "SELECT last_transaction_id::text::bigint, last_position FROM consumer_checkpoints WHERE name = $1",
    )
    .bind(consumer.name())
    .fetch_one(&mut *tx)
    .await?;
    let checkpoint = Position {
        transaction_id,
        global_position,
    };
    let events = fetch_batch(&mut tx, checkpoint, batch_size).await?;
    let Some(last) = events.last().map(|e| e.position) else {
        let held_back = events_held_back(&mut tx, checkpoint).await?;
        tx.commit().await?;
        progress.record(consumer.name(), checkpoint);
        return Ok(BatchOutcome::Handled {
            count: 0,
            held_back,
        });
    };
    let span = tracing::debug_span!("batch", events = events.len(), from = %checkpoint, to = %last);
    consumer
        .handle_batch(&mut tx, &events)
        .instrument(span)
        .await?;
    save_checkpoint(&mut tx, consumer.name(), last).await?;
    // A short batch may have stopped at an event held back by a running transaction
    // that writes no further events (so no notification will come): say so.
    let held_back = (events.len() as i64) < batch_size && events_held_back(&mut tx, last).await?;
    tx.commit().await?;
    progress.record(consumer.name(), last);
    Ok(BatchOutcome::Handled {
        count: events.len(),
        held_back,
    })
}

/// Moves a consumer's checkpoint to `position` (inside the caller's transaction).
pub async fn save_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    position: Position,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE consumer_checkpoints SET last_transaction_id = $2::text::xid8, \
         last_position = $3, updated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(position.transaction_id.to_string())
    .bind(position.global_position)
    .execute(conn)
    .await?;
    Ok(())
}
