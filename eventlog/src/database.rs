//! Connecting to PostgreSQL, creating the portal's database when it is missing, and
//! applying the SQL migrations under `migrations/`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("the database URL is not valid: {0}")]
    BadUrl(sqlx::Error),
    #[error(
        "cannot reach PostgreSQL at {host}:{port} ({source}). Start a server there, or set \
         DATABASE_URL to one that runs (see README.md, 'Without a PostgreSQL server')"
    )]
    Unreachable {
        host: String,
        port: u16,
        source: sqlx::Error,
    },
    #[error("failed to create database {name}: {source}")]
    Create { name: String, source: sqlx::Error },
    #[error("failed to apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Creates the database named in `url` if it does not exist, connecting to the server's
/// `postgres` database to do so.
pub async fn ensure_database(url: &str) -> Result<(), DatabaseError> {
    let options = PgConnectOptions::from_str(url).map_err(DatabaseError::BadUrl)?;
    let name = options
        .get_database()
        .unwrap_or(options.get_username())
        .to_string();
    let admin = options.clone().database("postgres");
    let mut conn = PgConnection::connect_with(&admin.disable_statement_logging())
        .await
        .map_err(|source| DatabaseError::Unreachable {
            host: options.get_host().to_string(),
            port: options.get_port(),
            source,
        })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        match sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another process created it between our check and our CREATE.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(source) => return Err(DatabaseError::Create { name, source }),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// A pool on the portal's database.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DatabaseError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(DatabaseError::BadUrl)?
        .disable_statement_logging();
    PgPoolOptions::new()
        .max_connections(max_connections)
        // A request waits at most this long for a connection (e.g. while the server
        // restarts), then is answered 503.
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.clone())
        .await
        .map_err(|source| DatabaseError::Unreachable {
            host: options.get_host().to_string(),
            port: options.get_port(),
            source,
        })
}

/// Whether the server answers a new connection (not one of the pool's, whose acquire may
/// wait) within `timeout`: tells "the database is down" from other failures. A server that
/// answers with an error (too many connections, say) is up.
pub async fn database_answers(url: &str, timeout: Duration) -> bool {
    let Ok(options) = PgConnectOptions::from_str(url) else {
        return false;
    };
    let connect = async {
        let mut conn = PgConnection::connect_with(&options.disable_statement_logging()).await?;
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        conn.close().await
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(())) => true,
        Ok(Err(sqlx::Error::Database(_))) => true,
        Ok(Err(_)) | Err(_) => false,
    }
}

/// Whether `e` says the database could not be reached or dropped the connection (a
/// restart, a failover, a full pool), as opposed to a failure of the statement itself: the
/// first is answered "unavailable, try again in a few seconds" (503), the second is a
/// fault (500).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exception (but 08P01, a protocol violation, is a bug of
        // ours: a statement sent wrong); 57P01–57P03: the server is shutting down or
        // starting; 53300: too many connections.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            (code.starts_with("08") && code != "08P01")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Applies every migration under `migrations/` that has not run yet. Safe to call from
/// several processes at once (sqlx takes an advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<(), DatabaseError> {
    sqlx::migrate!("../migrations").run(pool).await?;
    Ok(())
}

/// How the database stands against this build's migrations: (applied successfully,
/// expected).
pub async fn migration_status(pool: &PgPool) -> Result<(i64, i64), sqlx::Error> {
    let expected = sqlx::migrate!("../migrations").iter().count() as i64;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await?;
    Ok((applied, expected))
}

/// Each consumer's checkpoint: name, position, schema version, last update.
pub async fn checkpoints(
    pool: &PgPool,
) -> Result<Vec<(String, crate::Position, i32, chrono::DateTime<chrono::Utc>)>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i32, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT name, last_transaction_id::text::bigint, last_position, schema_version, \
         updated_at FROM consumer_checkpoints ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, transaction_id, global_position, version, updated)| {
                let position = crate::Position {
                    transaction_id,
                    global_position,
                };
                (name, position, version, updated)
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_unavailable_and_a_failed_statement_is_not() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_unavailable(&sqlx::Error::Io(reset)));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolClosed));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::Protocol("unexpected".into())));
    }
}
