//! Rebuilding read models from position zero, one or all of them in one pass over the log.
//!
//! The new tables are built in a scratch schema per model (`rebuild_<name>`) while the live
//! ones keep serving; the projectors' SQL uses unqualified names, so `search_path` points
//! each at its scratch copies. The log is read and decoded once: a reader task (its
//! fetcher on a connection of its own, one batch ahead) hands each batch to every model's
//! queue, and each model writes its batches
//! in short transactions of its own, at its own pace. Then, holding every model's consumer lock
//! so the live consumers pause, the rebuild catches up with the events that arrived
//! meanwhile, swaps the tables into `public` and moves the checkpoints, all in one
//! transaction.
//!
//! The scratch tables are filled as `UNLOGGED` tables without their secondary indexes (no
//! WAL, no index upkeep per row); once the bulk is in, before the swap, the tables are
//! `SET LOGGED` and then their indexes built, so what is swapped in is as durable as the
//! live tables.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use eventlog::{
    consumer_lock_key, fetch_batch, fetch_raw_batch, save_checkpoint, ConsumerError,
    ConsumerRuntime, Position, RawBatch, RecordedEvent,
};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use crate::ReadModel;

/// Events per batch while rebuilding (one fetch, one transaction for every model).
const REBUILD_BATCH: i64 = 5000;

/// Batches queued for each model besides the one it is writing. The batches are shared
/// (decoded once), and each costs memory (the decoded JSON of `REBUILD_BATCH` events), so
/// at most about `QUEUED_PER_MODEL + 2` of them are alive at once (and at most two batches
/// as the server sent them, in the reader: see [`read_log`]).
const QUEUED_PER_MODEL: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("database error during rebuild: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("the projector failed during rebuild: {0}")]
    Consumer(#[from] ConsumerError),
    #[error("the read model {0:?} was named twice for one rebuild")]
    Duplicate(&'static str),
    #[error("the rebuild's log reader stopped: {0}")]
    Reader(String),
}

#[derive(Debug, Clone)]
pub struct RebuildReport {
    /// The read models rebuilt, in the order they were given.
    pub models: Vec<&'static str>,
    /// Events replayed, the catch-up before the swap included.
    pub events: u64,
    /// From start to the swap's commit: creating the scratch tables, the pass over the
    /// log, building the indexes and the swap.
    pub seconds: f64,
}

impl RebuildReport {
    pub fn events_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            self.events as f64
        }
    }
}

fn scratch_schema(model: &dyn ReadModel) -> String {
    format!("rebuild_{}", model.name())
}

/// Rebuilds `model` from the whole log and swaps it in. `on_progress(done, total)` is
/// called after every batch (`total` is the number of events when the rebuild started).
pub async fn rebuild(
    pool: &PgPool,
    model: Arc<dyn ReadModel>,
    on_progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<RebuildReport, RebuildError> {
    rebuild_models(pool, &[model], on_progress).await
}

/// Rebuilds every model in `models` in one pass over the log and swaps them all in at
/// once. `on_progress(done, total)` counts events of the log, not events × models.
pub async fn rebuild_all(
    pool: &PgPool,
    models: &[Arc<dyn ReadModel>],
    on_progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<RebuildReport, RebuildError> {
    rebuild_models(pool, models, on_progress).await
}

async fn rebuild_models(
    pool: &PgPool,
    models: &[Arc<dyn ReadModel>],
    on_progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<RebuildReport, RebuildError> {
    let started = Instant::now();
    let mut names = BTreeSet::new();
    for model in models {
        if !names.insert(model.name()) {
            return Err(RebuildError::Duplicate(model.name()));
        }
        ConsumerRuntime::register(pool, model.name()).await?;
    }
    // One rebuild of a model at a time, even across processes. Locks are taken in the
    // order of their names, so two rebuilds of overlapping sets of models cannot deadlock.
    let mut guard = pool.acquire().await?;
    for name in &names {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(consumer_lock_key(&format!("rebuild:{name}")))
            .execute(&mut *guard)
            .await?;
    }
    let result = rebuild_locked(pool, models, on_progress).await;
    // This connection holds no other session lock.
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut *guard)
        .await?;
    let events = result?;
    Ok(RebuildReport {
        models: models.iter().map(|m| m.name()).collect(),
        events,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A model being rebuilt: where its scratch tables are and how they are made.
struct Scratch {
    model: Arc<dyn ReadModel>,
    schema: String,
    ddl: ScratchDdl,
    /// Events an operator told this model to pass over (`portal projections skip`): the
    /// rebuild passes over them too.
    skipped: HashSet<i64>,
}

impl Scratch {
    /// The events of `events` this model is to fold: the whole batch (a read model ignores
    /// the aggregate types it does not read), or a copy without the events an operator
    /// passed over. `None`: nothing of the batch is the model's.
    fn mine<'e>(&self, events: &'e [RecordedEvent]) -> Option<Cow<'e, [RecordedEvent]>> {
        let types = self.model.aggregate_types();
        let read = |e: &RecordedEvent| types.is_none_or(|t| t.contains(&e.aggregate_type.as_str()));
        if !events.iter().any(read) {
            return None;
        }
        if !events
            .iter()
            .any(|e| self.skipped.contains(&e.position.global_position))
        {
            return Some(Cow::Borrowed(events));
        }
        let kept: Vec<RecordedEvent> = events
            .iter()
            .filter(|e| read(e) && !self.skipped.contains(&e.position.global_position))
            .cloned()
            .collect();
        (!kept.is_empty()).then_some(Cow::Owned(kept))
    }
}

async fn rebuild_locked(
    pool: &PgPool,
    models: &[Arc<dyn ReadModel>],
    on_progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64, RebuildError> {
    if models.is_empty() {
        return Ok(0);
    }
    let mut scratches: Vec<Arc<Scratch>> = Vec::with_capacity(models.len());
    for model in models {
        scratches.push(Arc::new(Scratch {
            model: model.clone(),
            schema: scratch_schema(model.as_ref()),
            ddl: ScratchDdl::of(model.create_sql()),
            skipped: eventlog::skipped_positions(pool, model.name())
                .await?
                .into_iter()
                .collect(),
        }));
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let total = total as u64;
    {
        let mut tx = pool.begin().await?;
        for scratch in &scratches {
            let schema = &scratch.schema;
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut *tx)
                .await?;
            set_search_path(&mut tx, schema).await?;
            sqlx::raw_sql(&scratch.ddl.tables).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    let mut done: u64 = 0;
    on_progress(0, total);
    let phase = Instant::now();
    // Bulk of the work. The reader fetches and decodes the log once, on a connection of its
    // own, and hands every batch to every model; each model writes it in short
    // transactions of its own, at its own pace (no model waits for the slowest at every
    // batch, so the round trips and the work of different models overlap). The reader
    // stays at most `QUEUED_PER_MODEL` batches ahead of the slowest model.
    let (senders, receivers): (Vec<_>, Vec<_>) = scratches
        .iter()
        .map(|_| mpsc::channel::<Arc<Vec<RecordedEvent>>>(QUEUED_PER_MODEL))
        .unzip();
    let reader = tokio::spawn(read_log(pool.clone(), senders));
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<(usize, u64)>();
    // A task per model, so that the models' folding and encoding run on every core (one
    // future polling them all would run on one thread).
    let mut writers = tokio::task::JoinSet::new();
    for (n, (scratch, mut batches)) in scratches.iter().cloned().zip(receivers).enumerate() {
        let (pool, progress) = (pool.clone(), progress_tx.clone());
        writers.spawn(async move {
            let mut busy = std::time::Duration::ZERO;
            while let Some(events) = batches.recv().await {
                let started = Instant::now();
                apply_to_one(&pool, &scratch, &events).await?;
                busy += started.elapsed();
                let _ = progress.send((n, events.len() as u64));
            }
            tracing::debug!(
                model = scratch.model.name(),
                seconds = busy.as_secs_f64(),
                "rebuild: a model's time writing its batches"
            );
            Ok::<(), RebuildError>(())
        });
    }
    drop(progress_tx);
    // The log is done up to where the slowest model is. The progress ends when every
    // writer has: a writer that fails drops its queue, which stops the reader, which
    // closes the other queues.
    let mut per_model = vec![0_u64; scratches.len()];
    while let Some((n, count)) = progress_rx.recv().await {
        per_model[n] += count;
        let slowest = per_model.iter().copied().min().unwrap_or(0);
        if slowest > done {
            done = slowest;
            on_progress(done, total.max(done));
        }
    }
    while let Some(written) = writers.join_next().await {
        written.map_err(|e| RebuildError::Reader(format!("a model's writer: {e}")))??;
    }
    // A failed or panicked reader must not pass for the end of the log (the catch-up below
    // would then replay the rest inside the swap).
    let (mut cursor, read) = reader
        .await
        .map_err(|e| RebuildError::Reader(e.to_string()))??;
    done = read;
    tracing::debug!(
        events = read,
        seconds = phase.elapsed().as_secs_f64(),
        "rebuild: the pass over the log"
    );
    let phase = Instant::now();
    // The WAL and the secondary indexes, once, for the bulk: before the swap, so that the
    // swap's transaction stays short. Every model at once, each on a connection of its own
    // (the server builds them in parallel).
    let finished = scratches.iter().map(|scratch| finish_tables(pool, scratch));
    for result in futures::future::join_all(finished).await {
        result?;
    }
    tracing::debug!(
        seconds = phase.elapsed().as_secs_f64(),
        "rebuild: SET LOGGED and indexes"
    );
    let phase = Instant::now();
    // What arrived during the pass, the indexes and SET LOGGED, caught up without holding
    // any consumer's lock (the live consumers go on meanwhile); the swap then catches up
    // only with what arrives during this.
    loop {
        let mut conn = pool.acquire().await?;
        let events = fetch_batch(&mut conn, cursor, REBUILD_BATCH).await?;
        drop(conn);
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        let applied = scratches
            .iter()
            .map(|scratch| apply_to_one(pool, scratch, &events));
        for result in futures::future::join_all(applied).await {
            result?;
        }
        cursor = last;
        done += events.len() as u64;
        on_progress(done, total.max(done));
        if (events.len() as i64) < REBUILD_BATCH {
            break;
        }
    }
    tracing::debug!(
        seconds = phase.elapsed().as_secs_f64(),
        "rebuild: the catch-up"
    );
    let phase = Instant::now();
    // The swap: pause every live consumer, catch up, move the tables, move the checkpoints.
    // The consumer locks too in the order of their names.
    let mut tx = pool.begin().await?;
    let mut by_name: Vec<&str> = models.iter().map(|m| m.name()).collect();
    by_name.sort_unstable();
    for name in by_name {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(consumer_lock_key(name))
            .execute(&mut *tx)
            .await?;
    }
    loop {
        let events = fetch_batch(&mut tx, cursor, REBUILD_BATCH).await?;
        let Some(last) = events.last() else { break };
        cursor = last.position;
        apply_to_all(&mut tx, &scratches, &events).await?;
        done += events.len() as u64;
    }
    sqlx::query("SET LOCAL search_path TO public")
        .execute(&mut *tx)
        .await?;
    for scratch in &scratches {
        let (model, schema) = (&scratch.model, &scratch.schema);
        for table in model.tables() {
            sqlx::query(&format!("DROP TABLE IF EXISTS public.{table} CASCADE"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("ALTER TABLE {schema}.{table} SET SCHEMA public"))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut *tx)
            .await?;
        save_checkpoint(&mut tx, model.name(), cursor).await?;
        // Rebuilt past whatever the live consumer was stuck on.
        sqlx::query("DELETE FROM consumer_failures WHERE name = $1")
            .bind(model.name())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE consumer_checkpoints SET schema_version = $2 WHERE name = $1")
            .bind(model.name())
            .bind(model.schema_version())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::debug!(seconds = phase.elapsed().as_secs_f64(), "rebuild: the swap");
    on_progress(done, total.max(done));
    Ok(done)
}

/// Reads the whole log in commit-safe order on a connection of its own and hands each
/// batch to every model's queue; answers where it stopped and how many events it read,
/// after the first short batch, or as soon as a model stops listening (the rebuild is
/// failing: that model's error is the one reported).
///
/// Fetching and decoding overlap: a task of its own fetches the next batch (the server's
/// part: reading it and writing its JSON out, about half of the reader's time) while this
/// one decodes the previous batch and hands it on. The fetcher takes a place in the queue
/// between them before it fetches, so it stays one batch ahead: at most one batch not yet
/// decoded is alive besides the one being decoded.
async fn read_log(
    pool: PgPool,
    models: Vec<mpsc::Sender<Arc<Vec<RecordedEvent>>>>,
) -> Result<(Position, u64), RebuildError> {
    let (fetched, mut to_decode) = mpsc::channel::<RawBatch>(1);
    let fetcher = tokio::spawn(async move {
        let mut conn = pool.acquire().await?;
        let mut cursor = Position::START;
        loop {
            // The reader stopped: a model stopped listening, or it failed to decode.
            let Ok(place) = fetched.reserve().await else {
                return Ok(());
            };
            let batch = fetch_raw_batch(&mut conn, cursor, REBUILD_BATCH).await?;
            let full = batch.len() as i64 == REBUILD_BATCH;
            let Some(last) = batch.last_position()? else {
                return Ok(());
            };
            cursor = last;
            place.send(batch);
            if !full {
                return Ok::<(), sqlx::Error>(());
            }
        }
    });
    let mut cursor = Position::START;
    let mut read = 0_u64;
    let decoded = async {
        'batches: while let Some(batch) = to_decode.recv().await {
            let events = batch.decode()?;
            let Some(last) = events.last().map(|e| e.position) else {
                break;
            };
            cursor = last;
            read += events.len() as u64;
            let events = Arc::new(events);
            for model in &models {
                if model.send(events.clone()).await.is_err() {
                    break 'batches;
                }
            }
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    // Stops the fetcher if it is still going; either side's error is the reader's.
    drop(to_decode);
    let fetched = fetcher
        .await
        .map_err(|e| RebuildError::Reader(format!("the log's fetcher: {e}")))?;
    decoded?;
    fetched?;
    Ok((cursor, read))
}

/// Hands one model the events of a batch that it reads, in a transaction of its own that
/// writes into its scratch schema (unlogged: its commit need not wait for the disk either).
async fn apply_to_one(
    pool: &PgPool,
    scratch: &Scratch,
    events: &[RecordedEvent],
) -> Result<(), RebuildError> {
    let Some(mine) = scratch.mine(events) else {
        return Ok(());
    };
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    set_search_path(&mut tx, &scratch.schema).await?;
    scratch.model.handle_batch(&mut tx, &mine).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes a model's scratch tables durable (`SET LOGGED`), then builds their secondary
/// indexes. In that order: `SET LOGGED` rewrites a table and rebuilds every index it has,
/// so indexes built before it would be built twice.
async fn finish_tables(pool: &PgPool, scratch: &Scratch) -> Result<(), RebuildError> {
    let mut tx = pool.begin().await?;
    set_search_path(&mut tx, &scratch.schema).await?;
    for table in scratch.model.tables() {
        sqlx::query(&format!(
            "ALTER TABLE {}.{table} SET LOGGED",
            scratch.schema
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::raw_sql(&scratch.ddl.indexes)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Hands one batch to every model, each writing into its scratch schema.
async fn apply_to_all(
    conn: &mut PgConnection,
    scratches: &[Arc<Scratch>],
    events: &[RecordedEvent],
) -> Result<(), RebuildError> {
    for scratch in scratches {
        let Some(mine) = scratch.mine(events) else {
            continue;
        };
        set_search_path(conn, &scratch.schema).await?;
        scratch.model.handle_batch(conn, &mine).await?;
    }
    Ok(())
}

/// A read model's `create_sql` split for a rebuild: its tables as `UNLOGGED`, and its
/// secondary indexes (`CREATE INDEX`, never a unique one: an upsert may need that) apart,
/// to be built once the rows are in.
#[derive(Debug, PartialEq, Eq)]
struct ScratchDdl {
    tables: String,
    indexes: String,
}

impl ScratchDdl {
    fn of(create_sql: &str) -> ScratchDdl {
        let mut ddl = ScratchDdl {
            tables: String::new(),
            indexes: String::new(),
        };
        for statement in create_sql.split(';') {
            let statement = statement.trim();
            if statement.is_empty() {
                continue;
            }
            if let Some(rest) = statement.strip_prefix("CREATE TABLE ") {
                ddl.tables
                    .push_str(&format!("CREATE UNLOGGED TABLE {rest};\n"));
            } else if statement.starts_with("CREATE INDEX ") {
                ddl.indexes.push_str(&format!("{statement};\n"));
            } else {
                ddl.tables.push_str(&format!("{statement};\n"));
            }
        }
        ddl
    }
}

async fn set_search_path(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("SET LOCAL search_path TO {schema}, public"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a read model's tables exist and were built by its current schema version.
async fn is_current(pool: &PgPool, model: &dyn ReadModel) -> Result<bool, sqlx::Error> {
    let version: Option<i32> =
        sqlx::query_scalar("SELECT schema_version FROM consumer_checkpoints WHERE name = $1")
            .bind(model.name())
            .fetch_optional(pool)
            .await?;
    if version != Some(model.schema_version()) {
        return Ok(false);
    }
    for table in model.tables() {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("public.{table}"))
            .fetch_one(pool)
            .await?;
        if !exists {
            return Ok(false);
        }
    }
    Ok(true)
}

/// At start-up: builds every read model whose tables are missing or out of date, all in
/// one pass over the log.
pub async fn prepare(pool: &PgPool, models: &[Arc<dyn ReadModel>]) -> Result<(), RebuildError> {
    let mut stale = Vec::new();
    for model in models {
        if !is_current(pool, model.as_ref()).await? {
            stale.push(model.clone());
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    let names = stale
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ");
    tracing::info!(models = %names, "building read models from the event log");
    let report = rebuild_all(pool, &stale, &mut |_, _| {}).await?;
    tracing::info!(
        models = %names,
        events = report.events,
        seconds = report.seconds,
        "read models built"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_tables_are_unlogged_and_secondary_indexes_wait() {
        let ddl = ScratchDdl::of(
            "\nCREATE TABLE a (id text PRIMARY KEY);\nCREATE INDEX a_x ON a (x);\n\
             CREATE UNIQUE INDEX a_u ON a (u);\nCREATE TABLE b (id text);\n",
        );
        assert_eq!(
            ddl.tables,
            "CREATE UNLOGGED TABLE a (id text PRIMARY KEY);\n\
             CREATE UNIQUE INDEX a_u ON a (u);\nCREATE UNLOGGED TABLE b (id text);\n"
        );
        assert_eq!(ddl.indexes, "CREATE INDEX a_x ON a (x);\n");
    }

    /// Every read model's tables are plain `CREATE TABLE`s (so they become unlogged) and
    /// none is left out of its `tables()` (so each is set logged before the swap).
    #[test]
    fn every_read_model_splits_into_its_tables_and_indexes() {
        for model in crate::all() {
            let ddl = ScratchDdl::of(model.create_sql());
            let unlogged = ddl.tables.matches("CREATE UNLOGGED TABLE ").count();
            assert_eq!(unlogged, model.tables().len(), "{}", model.name());
            for table in model.tables() {
                assert!(
                    ddl.tables
                        .contains(&format!("CREATE UNLOGGED TABLE {table} ")),
                    "{}: {table}",
                    model.name()
                );
            }
        }
    }
}
