//! Rebuilding read models from position zero, one or all of them in one pass over the log.
//!
//! The new tables are built in a scratch schema per model (`rebuild_<name>`) while the live
//! ones keep serving; the projectors' SQL uses unqualified names, so `search_path` points
//! each at its scratch copies. The log is read once: a reader task on its own connection
//! fetches the next batch while the current one is handed to every model's `handle_batch`
//! (one transaction per batch for all of them). Then, holding every model's consumer lock
//! so the live consumers pause, the rebuild catches up with the events that arrived
//! meanwhile, swaps the tables into `public` and moves the checkpoints, all in one
//! transaction.
//!
//! The scratch tables are filled as `UNLOGGED` tables without their secondary indexes (no
//! WAL, no index upkeep per row); the indexes are built and the tables `SET LOGGED` once
//! the bulk is in, before the swap, so what is swapped in is as durable as the live tables.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use eventlog::{
    consumer_lock_key, fetch_batch, save_checkpoint, ConsumerError, ConsumerRuntime, Position,
    RecordedEvent,
};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use crate::ReadModel;

/// Events per batch while rebuilding (one fetch, one transaction for every model).
const REBUILD_BATCH: i64 = 5000;

/// Batches fetched ahead of the one being written: one is enough to keep the reader busy
/// while the models write, and each costs memory (decoded JSON of 5,000 events).
const READ_AHEAD: usize = 1;

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
    model: &dyn ReadModel,
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
    let models: Vec<&dyn ReadModel> = models.iter().map(|m| m.as_ref()).collect();
    rebuild_models(pool, &models, on_progress).await
}

async fn rebuild_models(
    pool: &PgPool,
    models: &[&dyn ReadModel],
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
struct Scratch<'a> {
    model: &'a dyn ReadModel,
    schema: String,
    ddl: ScratchDdl,
    /// Events an operator told this model to pass over (`portal projections skip`): the
    /// rebuild passes over them too.
    skipped: HashSet<i64>,
}

impl Scratch<'_> {
    fn mine(&self, events: &[RecordedEvent]) -> Vec<RecordedEvent> {
        let types = self.model.aggregate_types();
        events
            .iter()
            .filter(|e| types.is_none_or(|t| t.contains(&e.aggregate_type.as_str())))
            .filter(|e| !self.skipped.contains(&e.position.global_position))
            .cloned()
            .collect()
    }
}

async fn rebuild_locked(
    pool: &PgPool,
    models: &[&dyn ReadModel],
    on_progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64, RebuildError> {
    if models.is_empty() {
        return Ok(0);
    }
    let mut scratches: Vec<Scratch> = Vec::with_capacity(models.len());
    for &model in models {
        scratches.push(Scratch {
            model,
            schema: scratch_schema(model),
            ddl: ScratchDdl::of(model.create_sql()),
            skipped: eventlog::skipped_positions(pool, model.name())
                .await?
                .into_iter()
                .collect(),
        });
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
    let mut cursor = Position::START;
    let mut done: u64 = 0;
    on_progress(0, total);
    // Bulk of the work, in short transactions so that nothing else waits on us, while
    // the reader fetches and decodes the next batch.
    let (sender, mut batches) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_log(pool.clone(), sender));
    while let Some(batch) = batches.recv().await {
        let events = batch?;
        // Every model at once, each on a connection of its own: most models spend a batch
        // waiting for round trips, which overlap.
        let applied = scratches
            .iter()
            .map(|scratch| apply_to_one(pool, scratch, &events));
        for result in futures::future::join_all(applied).await {
            result?;
        }
        if let Some(last) = events.last() {
            cursor = last.position;
        }
        done += events.len() as u64;
        on_progress(done, total.max(done));
    }
    // The channel closes when the reader returns; a panic must not pass for the end of
    // the log (the catch-up below would then replay the rest inside the swap).
    reader
        .await
        .map_err(|e| RebuildError::Reader(e.to_string()))?;
    // The secondary indexes and the WAL, once, for the bulk: before the swap, so that the
    // swap's transaction stays short.
    for scratch in &scratches {
        let mut tx = pool.begin().await?;
        set_search_path(&mut tx, &scratch.schema).await?;
        sqlx::raw_sql(&scratch.ddl.indexes)
            .execute(&mut *tx)
            .await?;
        for table in scratch.model.tables() {
            sqlx::query(&format!(
                "ALTER TABLE {}.{table} SET LOGGED",
                scratch.schema
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
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
        let (model, schema) = (scratch.model, &scratch.schema);
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
    on_progress(done, total.max(done));
    Ok(done)
}

/// Reads the whole log in commit-safe order on a connection of its own and sends it on in
/// batches; returns (closing the channel) after the first short batch, after an error
/// (which it sends), or when the rebuild stops listening.
async fn read_log(pool: PgPool, batches: mpsc::Sender<Result<Vec<RecordedEvent>, sqlx::Error>>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            let _ = batches.send(Err(e)).await;
            return;
        }
    };
    let mut cursor = Position::START;
    loop {
        let events = match fetch_batch(&mut conn, cursor, REBUILD_BATCH).await {
            Ok(events) => events,
            Err(e) => {
                let _ = batches.send(Err(e)).await;
                return;
            }
        };
        let full = events.len() as i64 == REBUILD_BATCH;
        let Some(last) = events.last().map(|e| e.position) else {
            return;
        };
        if batches.send(Ok(events)).await.is_err() || !full {
            return;
        }
        cursor = last;
    }
}

/// Hands one model the events of a batch that it reads, in a transaction of its own that
/// writes into its scratch schema (unlogged: its commit need not wait for the disk either).
async fn apply_to_one(
    pool: &PgPool,
    scratch: &Scratch<'_>,
    events: &[RecordedEvent],
) -> Result<(), RebuildError> {
    let mine = scratch.mine(events);
    if mine.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    set_search_path(&mut tx, &scratch.schema).await?;
    scratch.model.handle_batch(&mut tx, &mine).await?;
    tx.commit().await?;
    Ok(())
}

/// Hands one batch to every model, each writing into its scratch schema.
async fn apply_to_all(
    conn: &mut PgConnection,
    scratches: &[Scratch<'_>],
    events: &[RecordedEvent],
) -> Result<(), RebuildError> {
    for scratch in scratches {
        let mine = scratch.mine(events);
        if mine.is_empty() {
            continue;
        }
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
