//! What the portal's background loops share: a handle that stops a loop when dropped, a
//! loop that runs one pass every poll, the advisory lock that lets one process at a time
//! run a pass, and the outbox tables of notices to systems the portal does not own (the
//! fines system, the revenue system), keyed by payment id and retried with backoff.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use eventlog::consumer_lock_key;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// A background loop; dropping it stops the loop.
pub struct LoopTask(JoinHandle<()>);

impl LoopTask {
    pub fn new(handle: JoinHandle<()>) -> Self {
        Self(handle)
    }
}

impl Drop for LoopTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every `poll` (waiting first), runs `pass` in a span named after `name`; a pass that
/// fails is logged at WARN ("{name}: a pass failed; trying again") and the loop goes on.
pub fn every<F, Fut, T, E>(name: &'static str, poll: Duration, pass: F) -> LoopTask
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    E: Display,
{
    LoopTask::new(tokio::spawn(async move {
        loop {
            tokio::time::sleep(poll).await;
            let span = tracing::info_span!("background", task = name);
            metrics::counter!("portal_background_runs_total", "task" => name).increment(1);
            if let Err(e) = pass().instrument(span).await {
                metrics::counter!("portal_background_failures_total", "task" => name).increment(1);
                tracing::warn!(error = %e, "{name}: a pass failed; trying again");
            }
        }
    }))
}

/// Takes the advisory lock `name` for one pass, held by a transaction on one connection
/// of the pool and released when it ends (commit or drop). `None`: another process holds
/// it, so this one skips the pass.
pub async fn pass_lock(
    pool: &PgPool,
    name: &str,
) -> Result<Option<Transaction<'static, Postgres>>, sqlx::Error> {
    let mut lock = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(consumer_lock_key(name))
        .fetch_one(&mut *lock)
        .await?;
    Ok(locked.then_some(lock))
}

/// An outbox table of notices to another system, one row per payment (`payment_id`),
/// with the columns `attempts`, `last_error`, `next_attempt_at`, `done_at` and a status
/// column that says where the notice stands.
#[derive(Debug, Clone, Copy)]
pub struct Outbox {
    pub table: &'static str,
    /// The notice's status column (`pending` until the notice is done).
    pub status_column: &'static str,
}

impl Outbox {
    /// How long to wait after `attempts` failed attempts: `first`, doubled per attempt, at
    /// most an hour, in milliseconds.
    pub fn retry_delay_ms(first: Duration, attempts: i32) -> i64 {
        let failures = u32::try_from(attempts).unwrap_or(0).saturating_add(1);
        let delay = eventlog::backoff(first, 2.0, Duration::from_secs(3600), failures);
        i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)
    }

    /// The other system was unavailable: one attempt more, the next after the backoff.
    pub async fn retry_later(
        &self,
        pool: &PgPool,
        payment_id: &str,
        error: &str,
        first: Duration,
        attempts: i32,
    ) -> Result<(), sqlx::Error> {
        let delay_ms = Self::retry_delay_ms(first, attempts);
        sqlx::query(&format!(
            "UPDATE {} SET attempts = attempts + 1, last_error = $2, \
             next_attempt_at = now() + make_interval(secs => $3::float8 / 1000) \
             WHERE payment_id = $1",
            self.table
        ))
        .bind(payment_id)
        .bind(error)
        .bind(delay_ms as f64)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// The notice is done: `status` (e.g. `notified`, `refused`), with the error code of a
    /// refusal (empty: none).
    pub async fn finish(
        &self,
        pool: &PgPool,
        payment_id: &str,
        status: &str,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "UPDATE {} SET {} = $2, attempts = attempts + 1, \
             last_error = NULLIF($3, ''), done_at = now() WHERE payment_id = $1",
            self.table, self.status_column
        ))
        .bind(payment_id)
        .bind(status)
        .bind(error)
        .execute(pool)
        .await?;
        Ok(())
    }
}

/// How many notices an outbox holds that are not done yet, and how old the oldest is.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxStatus {
    pub name: &'static str,
    pub depth: i64,
    pub oldest_age_seconds: f64,
}

/// The outboxes of work for systems the portal does not own (or its own mail sender), with
/// the condition that says a row is not done yet.
const OUTBOXES: [(&str, &str); 5] = [
    (
        "mail",
        "mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL",
    ),
    (
        "protocol_registrations",
        "protocol_queue WHERE NOT registered",
    ),
    (
        "fine_payment_notices",
        "fine_payment_notices WHERE status = 'pending'",
    ),
    (
        "tax_debt_notices",
        "tax_debt_notices WHERE status = 'pending'",
    ),
    (
        "declaration_outcomes",
        "declaration_outcomes WHERE applied = 'pending' OR notice = 'pending'",
    ),
];

/// Every outbox's depth and the age of its oldest waiting row, in one query.
pub async fn outbox_status(pool: &PgPool) -> Result<Vec<OutboxStatus>, sqlx::Error> {
    let sql = OUTBOXES
        .iter()
        .map(|(name, from)| {
            format!(
                "SELECT '{name}'::text, count(*), \
                 coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM {from}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows: Vec<(String, i64, f64)> = sqlx::query_as(&sql).fetch_all(pool).await?;
    Ok(OUTBOXES
        .iter()
        .map(|(name, _)| {
            let (depth, age) = rows
                .iter()
                .find(|(n, _, _)| n == name)
                .map_or((0, 0.0), |(_, d, a)| (*d, *a));
            OutboxStatus {
                name,
                depth,
                oldest_age_seconds: age.max(0.0),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        let first = Duration::from_secs(60);
        assert_eq!(Outbox::retry_delay_ms(first, 0), 60_000);
        assert_eq!(Outbox::retry_delay_ms(first, 1), 120_000);
        assert_eq!(Outbox::retry_delay_ms(first, 5), 1_920_000);
        assert_eq!(Outbox::retry_delay_ms(first, 6), 3_600_000);
        assert_eq!(Outbox::retry_delay_ms(first, 40), 3_600_000);
        assert_eq!(Outbox::retry_delay_ms(first, -3), 60_000);
        assert_eq!(Outbox::retry_delay_ms(Duration::from_millis(50), 2), 200);
    }
}
