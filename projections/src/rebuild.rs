//! Rebuilding a read model from position zero.
//!
//! The new tables are built in a scratch schema (`rebuild_<name>`) while the live ones keep
//! serving; the projector's SQL uses unqualified names, so `search_path` points it at the
//! scratch copies. Then, holding the consumer's lock so the live consumer pauses, the
//! rebuild catches up with the events that arrived meanwhile, swaps the tables into
//! `public` and moves the checkpoint, all in one transaction.
//!
//! The scratch tables are filled as `UNLOGGED` tables without their secondary indexes (no
//! WAL, no index upkeep per row); the indexes are built and the tables `SET LOGGED` once
//! the bulk is in, before the swap, so what is swapped in is as durable as the live tables.

use std::time::Instant;

use eventlog::{
    consumer_lock_key, fetch_batch, save_checkpoint, ConsumerError, ConsumerRuntime, Position,
};
use sqlx::{PgConnection, PgPool};

use crate::ReadModel;

/// Events per transaction while rebuilding.
const REBUILD_BATCH: i64 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("database error during rebuild: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("the projector failed during rebuild: {0}")]
    Consumer(#[from] ConsumerError),
}

#[derive(Debug, Clone)]
pub struct RebuildReport {
    pub model: &'static str,
    pub events: u64,
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
    let started = Instant::now();
    ConsumerRuntime::register(pool, model.name()).await?;
    // One rebuild of a model at a time, even across processes.
    let mut guard = pool.acquire().await?;
    let rebuild_key = consumer_lock_key(&format!("rebuild:{}", model.name()));
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(rebuild_key)
        .execute(&mut *guard)
        .await?;
    let result = rebuild_locked(pool, model, on_progress).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(rebuild_key)
        .execute(&mut *guard)
        .await?;
    let events = result?;
    Ok(RebuildReport {
        model: model.name(),
        events,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn rebuild_locked(
    pool: &PgPool,
    model: &dyn ReadModel,
    on_progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64, RebuildError> {
    let schema = scratch_schema(model);
    let scratch_ddl = ScratchDdl::of(model.create_sql());
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let total = total as u64;
    {
        let mut tx = pool.begin().await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut *tx)
            .await?;
        set_search_path(&mut tx, &schema).await?;
        sqlx::raw_sql(&scratch_ddl.tables).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    let mut cursor = Position::START;
    let mut done: u64 = 0;
    on_progress(0, total);
    // Bulk of the work, in short transactions so that nothing else waits on us.
    loop {
        let mut tx = pool.begin().await?;
        set_search_path(&mut tx, &schema).await?;
        let handled = apply_batch(&mut tx, model, &mut cursor).await?;
        tx.commit().await?;
        done += handled;
        on_progress(done, total.max(done));
        if handled < REBUILD_BATCH as u64 {
            break;
        }
    }
    // The secondary indexes and the WAL, once, for the bulk: before the swap, so that the
    // swap's transaction stays short.
    {
        let mut tx = pool.begin().await?;
        set_search_path(&mut tx, &schema).await?;
        sqlx::raw_sql(&scratch_ddl.indexes)
            .execute(&mut *tx)
            .await?;
        for table in model.tables() {
            sqlx::query(&format!("ALTER TABLE {schema}.{table} SET LOGGED"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    // The swap: pause the live consumer, catch up, move the tables, move the checkpoint.
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(consumer_lock_key(model.name()))
        .execute(&mut *tx)
        .await?;
    set_search_path(&mut tx, &schema).await?;
    loop {
        let handled = apply_batch(&mut tx, model, &mut cursor).await?;
        done += handled;
        if handled == 0 {
            break;
        }
    }
    sqlx::query("SET LOCAL search_path TO public")
        .execute(&mut *tx)
        .await?;
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
    sqlx::query("UPDATE consumer_checkpoints SET schema_version = $2 WHERE name = $1")
        .bind(model.name())
        .bind(model.schema_version())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    on_progress(done, total.max(done));
    Ok(done)
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

async fn apply_batch(
    conn: &mut PgConnection,
    model: &dyn ReadModel,
    cursor: &mut Position,
) -> Result<u64, RebuildError> {
    let events = fetch_batch(conn, *cursor, REBUILD_BATCH).await?;
    model.handle_batch(conn, &events).await?;
    if let Some(last) = events.last() {
        *cursor = last.position;
    }
    Ok(events.len() as u64)
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

/// At start-up: builds every read model whose tables are missing or out of date.
pub async fn prepare(
    pool: &PgPool,
    models: &[std::sync::Arc<dyn ReadModel>],
) -> Result<(), RebuildError> {
    for model in models {
        if !is_current(pool, model.as_ref()).await? {
            tracing::info!(
                model = model.name(),
                "building read model from the event log"
            );
            let report = rebuild(pool, model.as_ref(), &mut |_, _| {}).await?;
            tracing::info!(
                model = report.model,
                events = report.events,
                "read model built"
            );
        }
    }
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
