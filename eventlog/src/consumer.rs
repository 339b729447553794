//! The checkpointed catch-up consumer runtime.
//!
//! Every consumer of a portal process (the read models and the process managers) runs on
//! one loop: it reads the next batch of the log once, in commit-safe order (see
//! [`crate::Position`]), and hands each consumer the events of the aggregate types it reads
//! ([`Consumer::aggregate_types`]). A consumer with events in the batch handles them and
//! advances its checkpoint in one transaction of its own (so a crash leaves either both or
//! neither), under an advisory lock that makes sure only one portal process runs it at a
//! time; the consumers with events run side by side. A consumer with none is not woken: its
//! position moves past the batch in memory (read-your-writes sees it at once) and its
//! stored checkpoint follows within a second, in one statement for all of them — losing
//! that in a crash only makes it pass over the same events again. The loop wakes on the
//! events table's NOTIFY and polls as a fallback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::status::{ConsumerInfo, CONSUMERS_CHANNEL};
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

    /// The aggregate types whose events this consumer reads; `None` (the default): every
    /// event. The runtime hands it only those, and does not wake it for a batch without
    /// any.
    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        None
    }

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
    fetch_raw_batch(conn, after, limit).await?.decode()
}

/// A batch of the log as the server sent it, its payloads not decoded yet: so that a reader
/// can have the server send the next batch while it decodes this one (a rebuild does).
pub struct RawBatch(Vec<PgRow>);

impl RawBatch {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The position of its last event, read without decoding any payload.
    pub fn last_position(&self) -> Result<Option<Position>, sqlx::Error> {
        self.0.last().map(RecordedEvent::position_of).transpose()
    }

    /// Its events, decoded (the rows are dropped with it).
    pub fn decode(self) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        self.0.iter().map(RecordedEvent::from_row).collect()
    }
}

/// [`fetch_batch`] without decoding the events.
pub async fn fetch_raw_batch(
    conn: &mut PgConnection,
    after: Position,
    limit: i64,
) -> Result<RawBatch, sqlx::Error> {
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
    Ok(RawBatch(rows))
}

/// Whether events after `after` exist that are committed but still held back because an
/// older transaction is running: worth a quick retry rather than a long wait.
async fn events_held_back(conn: &mut PgConnection, after: Position) -> Result<bool, sqlx::Error> {
    // Not `EXISTS (…)`: the planner takes a sequential scan for it, which reads the whole
    // log whenever nothing is held back (the usual case); ordered with a limit, it is one
    // step of the commit-order index.
    let next: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
         ORDER BY transaction_id, global_position LIMIT 1",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.global_position)
    .fetch_optional(conn)
    .await?;
    Ok(next.is_some())
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

/// Runs the consumers of the portal process in the background, on one loop (see the
/// module's notes).
pub struct ConsumerRuntime {
    pool: PgPool,
    wake: watch::Sender<u64>,
    added: mpsc::UnboundedSender<Arc<dyn Consumer>>,
    registered: Arc<std::sync::Mutex<Vec<ConsumerInfo>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl ConsumerRuntime {
    /// Starts the loop and the LISTEN task; consumers join with [`ConsumerRuntime::start`].
    pub fn new(pool: PgPool, config: RuntimeConfig, progress: Progress) -> Self {
        let wake = watch::channel(0).0;
        let (added, joining) = mpsc::unbounded_channel();
        let (retry, retries) = mpsc::unbounded_channel();
        let run = run(
            pool.clone(),
            config,
            progress,
            wake.subscribe(),
            joining,
            retries,
        )
        .instrument(tracing::info_span!("consumers"));
        let tasks = vec![
            tokio::spawn(listen(pool.clone(), wake.clone(), retry)),
            tokio::spawn(run),
        ];
        Self {
            pool,
            wake,
            added,
            registered: Arc::default(),
            tasks,
        }
    }

    /// The consumers on the loop, for status reports (`portal projections status`,
    /// `/metrics`, `/readyz`).
    pub fn directory(&self) -> ConsumerDirectory {
        ConsumerDirectory(self.registered.clone())
    }

    /// Makes sure the consumer has a checkpoint row (at the start of the log if new).
    pub async fn register(pool: &PgPool, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO consumer_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(name)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Adds `consumer` to the loop, from its checkpoint.
    pub async fn start(&mut self, consumer: Arc<dyn Consumer>) -> Result<(), sqlx::Error> {
        Self::register(&self.pool, consumer.name()).await?;
        self.registered
            .lock()
            .expect("consumer directory poisoned")
            .push(ConsumerInfo {
                name: consumer.name(),
                types: consumer.aggregate_types(),
            });
        if self.added.send(consumer).is_err() {
            return Err(sqlx::Error::Protocol(
                "the consumer loop has stopped".into(),
            ));
        }
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
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

/// The consumers a runtime runs (names and the aggregate types they read).
#[derive(Clone, Default)]
pub struct ConsumerDirectory(Arc<std::sync::Mutex<Vec<ConsumerInfo>>>);

impl ConsumerDirectory {
    pub fn consumers(&self) -> Vec<ConsumerInfo> {
        self.0.lock().expect("consumer directory poisoned").clone()
    }
}

/// Turns the events table's NOTIFY into a wake-up of the loop, and an operator's `retry`
/// (on [`CONSUMERS_CHANNEL`]) into a retry of that consumer now.
async fn listen(pool: PgPool, wake: watch::Sender<u64>, retry: mpsc::UnboundedSender<String>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener
                    .listen_all([EVENTS_CHANNEL, CONSUMERS_CHANNEL])
                    .await
                {
                    tracing::warn!(error = %e, "LISTEN failed; consumers fall back to polling");
                } else {
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => {
                                if n.channel() == CONSUMERS_CHANNEL {
                                    if let Some(name) = n.payload().strip_prefix("retry ") {
                                        let _ = retry.send(name.to_string());
                                    }
                                }
                                wake.send_modify(|n| *n = n.wrapping_add(1))
                            }
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

/// How often positions moved in memory only (past events a consumer does not read) are
/// written to the checkpoints.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How long a consumer whose lock another process holds is left alone.
const BUSY_PAUSE: Duration = Duration::from_millis(10);

/// One consumer on the loop.
struct Slot {
    consumer: Arc<dyn Consumer>,
    types: Option<&'static [&'static str]>,
    /// Every event up to here is handled or not this consumer's: in memory, ahead of the
    /// stored checkpoint by events it does not read until the next flush.
    position: Position,
    /// The checkpoint as stored, as far as this process knows.
    stored: Position,
    failures: u32,
    /// A row of `consumer_failures` names the event it is stuck on (cleared with the
    /// batch that gets past it).
    stuck: bool,
    /// After a failed batch: one event at a time until past the end of that batch, so the
    /// event that fails is found (and recorded) at its first attempt.
    narrow_until: Option<Position>,
    /// After a failure, or while another process runs it: not before then.
    not_before: Option<Instant>,
}

impl Slot {
    fn reads(&self, event: &RecordedEvent) -> bool {
        self.types
            .is_none_or(|types| types.contains(&event.aggregate_type.as_str()))
    }

    fn ready(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|t| now >= t)
    }
}

/// What one pass of the loop did.
struct Pass {
    fetched: usize,
    held_back: bool,
}

async fn run(
    pool: PgPool,
    config: RuntimeConfig,
    progress: Progress,
    mut wake: watch::Receiver<u64>,
    mut joining: mpsc::UnboundedReceiver<Arc<dyn Consumer>>,
    mut retries: mpsc::UnboundedReceiver<String>,
) {
    let mut slots: Vec<Slot> = Vec::new();
    let mut pending: Vec<Arc<dyn Consumer>> = Vec::new();
    let mut failures: u32 = 0;
    // Consecutive passes that found events held back by a running transaction: the quick
    // retry backs off so that a long transaction elsewhere does not make us spin.
    let mut held_back_streak: u32 = 0;
    let mut flushed = Instant::now();
    loop {
        while let Ok(consumer) = joining.try_recv() {
            pending.push(consumer);
        }
        while let Ok(name) = retries.try_recv() {
            for slot in slots.iter_mut().filter(|s| s.consumer.name() == name) {
                tracing::info!(consumer = %name, "retrying at an operator's request");
                slot.not_before = None;
            }
        }
        for consumer in std::mem::take(&mut pending) {
            match stored_checkpoint(&pool, consumer.name()).await {
                Ok(position) => {
                    progress.record(consumer.name(), position);
                    slots.push(Slot {
                        types: consumer.aggregate_types(),
                        consumer,
                        position,
                        stored: position,
                        failures: 0,
                        stuck: true,
                        narrow_until: None,
                        not_before: None,
                    });
                }
                Err(e) => {
                    tracing::warn!(consumer = consumer.name(), error = %e, "cannot read the checkpoint; trying again");
                    pending.push(consumer);
                }
            }
        }
        let pause = match pass(&pool, &config, &progress, &mut slots).await {
            Ok(pass) if pass.fetched as i64 >= config.batch_size => {
                failures = 0;
                held_back_streak = 0;
                Duration::ZERO
            }
            Ok(Pass {
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
                tracing::error!(error = %e, failures, "reading the event log failed; trying again");
                Duration::from_millis(100 * u64::from(failures.min(50)))
            }
        };
        if flushed.elapsed() >= FLUSH_EVERY {
            if let Err(e) = flush_positions(&pool, &mut slots).await {
                tracing::warn!(error = %e, "cannot store the consumers' positions; trying again");
            }
            flushed = Instant::now();
        }
        if pause.is_zero() {
            continue;
        }
        // A consumer waiting out a failure or another process is due sooner, maybe.
        let now = Instant::now();
        let pause = slots
            .iter()
            .filter_map(|s| s.not_before)
            .filter(|t| *t > now)
            .map(|t| t.saturating_duration_since(now))
            .fold(pause, Duration::min)
            .max(Duration::from_millis(1));
        tokio::select! {
            _ = wake.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Consumer `name`'s stored checkpoint.
async fn stored_checkpoint(
    db: impl sqlx::PgExecutor<'_>,
    name: &str,
) -> Result<Position, sqlx::Error> {
    let (transaction_id, global_position): (i64, i64) = sqlx::query_as(
        "SELECT last_transaction_id::text::bigint, last_position FROM consumer_checkpoints \
         WHERE name = $1",
    )
    .bind(name)
    .fetch_one(db)
    .await?;
    Ok(Position {
        transaction_id,
        global_position,
    })
}

/// Opens a batch transaction of consumer `name`: asynchronous commit, the consumer's
/// advisory lock and its checkpoint as stored. `None` when another process holds the lock.
async fn begin_batch(
    pool: &PgPool,
    name: &str,
) -> Result<Option<(sqlx::Transaction<'static, sqlx::Postgres>, Position)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // A batch's rows and checkpoint are derived from the log and commit together, so a
    // crash that loses the last few batch commits (not yet flushed) only makes the
    // consumer read those events again: the commit need not wait for the disk. Visibility
    // to other sessions (read-your-writes) does not depend on the flush.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(consumer_lock_key(name))
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    let checkpoint = stored_checkpoint(&mut *tx, name).await?;
    Ok(Some((tx, checkpoint)))
}

/// Reads the next batch once, from the least advanced consumer that is ready, and hands
/// it to every ready consumer.
async fn pass(
    pool: &PgPool,
    config: &RuntimeConfig,
    progress: &Progress,
    slots: &mut [Slot],
) -> Result<Pass, sqlx::Error> {
    let now = Instant::now();
    for slot in slots.iter_mut() {
        if slot.ready(now) {
            slot.not_before = None;
        }
    }
    let Some(from) = slots
        .iter()
        .filter(|s| s.ready(now))
        .map(|s| s.position)
        .min()
    else {
        return Ok(Pass {
            fetched: 0,
            held_back: false,
        });
    };
    let events = {
        let mut conn = pool.acquire().await?;
        let events = fetch_batch(&mut conn, from, config.batch_size).await?;
        if events.is_empty() {
            // Nothing ready after `from`: every ready consumer stands at the head, unless
            // committed events wait behind an older transaction that is still running.
            let held_back = events_held_back(&mut conn, from).await?;
            return Ok(Pass {
                fetched: 0,
                held_back,
            });
        }
        events
    };
    let last = events.last().map(|e| e.position).unwrap_or(from);
    let runs = slots
        .iter_mut()
        .filter(|s| s.ready(now))
        .map(|slot| feed(pool, config, progress, slot, &events, last));
    futures::future::join_all(runs).await;
    let held_back = (events.len() as i64) < config.batch_size && {
        let mut conn = pool.acquire().await?;
        events_held_back(&mut conn, last).await?
    };
    Ok(Pass {
        fetched: events.len(),
        held_back,
    })
}

/// Hands `slot` its events of the batch (which ends at `last`).
async fn feed(
    pool: &PgPool,
    config: &RuntimeConfig,
    progress: &Progress,
    slot: &mut Slot,
    events: &[RecordedEvent],
    last: Position,
) {
    let name = slot.consumer.name();
    let has_events = events
        .iter()
        .any(|e| e.position > slot.position && slot.reads(e));
    if !has_events {
        // Not woken: nothing of its in the batch.
        if last > slot.position {
            slot.position = last;
            progress.record(name, last);
        }
        return;
    }
    // After a failure, one event at a time until it gets past: a failure then names the
    // event (and an operator may skip exactly that one).
    // (A failure always starts from a whole batch, which sets `narrow_until`.)
    let narrow = slot.narrow_until.is_some_and(|until| slot.position < until);
    let outcome = handle_locked(pool, slot, events, last, narrow)
        .instrument(tracing::debug_span!("batch", consumer = name, to = %last))
        .await;
    match outcome {
        Ok(Some(position)) => {
            if slot.failures > 0 {
                tracing::info!(consumer = name, position = %position, "consumer got past its failure");
            }
            slot.position = slot.position.max(position);
            slot.stored = position;
            slot.failures = 0;
            slot.stuck = false;
            slot.not_before = None;
            if slot
                .narrow_until
                .is_some_and(|until| slot.position >= until)
            {
                slot.narrow_until = None;
            }
            progress.record(name, position);
        }
        Ok(None) => {
            // Another process runs it: follow its checkpoint, and compete again at the next
            // wake-up (not at once, which would spin while the other works off a backlog).
            if let Ok(stored) = stored_checkpoint(pool, name).await {
                slot.stored = stored;
                if stored > slot.position {
                    slot.position = stored;
                    progress.record(name, stored);
                }
            }
            slot.not_before = Some(Instant::now() + BUSY_PAUSE.min(config.poll_interval));
        }
        Err(Failed { error, event }) => {
            slot.failures = slot.failures.saturating_add(1);
            metrics::counter!("portal_consumer_failures_total", "consumer" => name).increment(1);
            if event.is_none() {
                slot.narrow_until = Some(slot.narrow_until.unwrap_or(last).max(last));
            }
            // An event that fails waits longer and longer (at most 30 s); a batch that failed
            // without one (the database, say) is tried again within 5 s, so a consumer does
            // not sit idle for long after an outage.
            let wait = if event.is_some() {
                failure_backoff(slot.failures)
            } else {
                failure_backoff(slot.failures).min(Duration::from_secs(5))
            };
            match &event {
                Some(event) => {
                    tracing::error!(consumer = name, error = %error, failures = slot.failures,
                        position = event.position.global_position, event_type = %event.event_type,
                        aggregate_id = %event.aggregate_id, retry_in_ms = wait.as_millis() as u64,
                        "consumer cannot handle an event; it will be retried \
                         (`portal projections status` shows it)");
                    match crate::status::record_failure(pool, name, event, &error.to_string()).await
                    {
                        Ok(()) => slot.stuck = true,
                        Err(e) => {
                            tracing::warn!(consumer = name, error = %e, "cannot record the failure")
                        }
                    }
                }
                None => tracing::warn!(consumer = name, error = %error, failures = slot.failures,
                    "consumer batch failed; retrying one event at a time"),
            }
            slot.not_before = Some(Instant::now() + wait);
        }
    }
}

/// The wait after `failures` failed attempts in a row: 100 ms, doubled each time, at most
/// 30 s (a stuck consumer keeps trying, cheaply; `portal projections retry` cuts it short).
pub fn failure_backoff(failures: u32) -> Duration {
    crate::backoff(
        Duration::from_millis(100),
        2.0,
        Duration::from_secs(30),
        failures,
    )
}

/// A failed attempt, with the one event it tried when it was narrowed to one.
struct Failed {
    error: ConsumerError,
    event: Option<RecordedEvent>,
}

impl<E: Into<ConsumerError>> From<E> for Failed {
    fn from(error: E) -> Self {
        Self {
            error: error.into(),
            event: None,
        }
    }
}

/// Under the consumer's lock, handles its events of the batch that its stored checkpoint
/// has not passed, and moves the checkpoint to the end of the batch, in one transaction.
/// `narrow`: only its first such event, and the checkpoint onto it. Answers the new
/// checkpoint, or `None` when another process holds the lock.
async fn handle_locked(
    pool: &PgPool,
    slot: &Slot,
    events: &[RecordedEvent],
    last: Position,
    narrow: bool,
) -> Result<Option<Position>, Failed> {
    let consumer = slot.consumer.as_ref();
    let Some((mut tx, stored)) = begin_batch(pool, consumer.name()).await? else {
        return Ok(None);
    };
    // Another process may have handled part of the batch already.
    let mut mine: Vec<RecordedEvent> = events
        .iter()
        .filter(|e| e.position > stored && slot.reads(e))
        .cloned()
        .collect();
    let mut last = last;
    if narrow && !mine.is_empty() {
        mine.truncate(1);
        last = mine[0].position;
    }
    if !mine.is_empty() {
        if let Err(error) = consumer.handle_batch(&mut tx, &mine).await {
            // A lost connection is the database's failure, not the event's.
            let connection_lost = matches!(&error, ConsumerError::Sql(e)
                if crate::is_unavailable(e)
                    || !matches!(e, sqlx::Error::Database(_) | sqlx::Error::RowNotFound
                        | sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)));
            return Err(Failed {
                error,
                event: (narrow && !connection_lost).then(|| mine[0].clone()),
            });
        }
    }
    if slot.stuck {
        sqlx::query("DELETE FROM consumer_failures WHERE name = $1")
            .bind(consumer.name())
            .execute(&mut *tx)
            .await?;
    }
    let reached = stored.max(last);
    if reached > stored {
        // Guarded: a flush of positions moved in memory (which takes no lock) may have
        // stored a later one meanwhile; a checkpoint never moves backwards.
        sqlx::query(
            "UPDATE consumer_checkpoints SET last_transaction_id = $2::text::xid8, \
             last_position = $3, updated_at = now() \
             WHERE name = $1 AND (last_transaction_id, last_position) < ($2::text::xid8, $3)",
        )
        .bind(consumer.name())
        .bind(reached.transaction_id.to_string())
        .bind(reached.global_position)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some(reached))
}

/// Stores the positions that moved in memory only, in one statement; a checkpoint never
/// moves backwards (another process may have stored a later one).
async fn flush_positions(pool: &PgPool, slots: &mut [Slot]) -> Result<(), sqlx::Error> {
    let moved: Vec<&Slot> = slots.iter().filter(|s| s.position > s.stored).collect();
    if moved.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = moved.iter().map(|s| s.consumer.name()).collect();
    let transactions: Vec<String> = moved
        .iter()
        .map(|s| s.position.transaction_id.to_string())
        .collect();
    let positions: Vec<i64> = moved.iter().map(|s| s.position.global_position).collect();
    sqlx::query(
        "UPDATE consumer_checkpoints c \
            SET last_transaction_id = u.t::xid8, last_position = u.p, updated_at = now() \
           FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(name, t, p) \
          WHERE c.name = u.name \
            AND (c.last_transaction_id, c.last_position) < (u.t::xid8, u.p)",
    )
    .bind(&names)
    .bind(&transactions)
    .bind(&positions)
    .execute(pool)
    .await?;
    for slot in slots.iter_mut() {
        slot.stored = slot.stored.max(slot.position);
    }
    Ok(())
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
    let Some((mut tx, checkpoint)) = begin_batch(pool, consumer.name()).await? else {
        return Ok(BatchOutcome::Busy);
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
