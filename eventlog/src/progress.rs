//! How far each consumer has got, for read-your-writes: a request that follows a command
//! waits (bounded) until the read models it reads have passed the command's position.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use crate::Position;

/// Shared, cheap to clone. Consumers in this process record their checkpoints here; a
/// checkpoint advanced by another portal process is read from the database.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    reached: Mutex<HashMap<String, Position>>,
    changed: watch::Sender<u64>,
}

/// How often a waiting read looks at the checkpoints in the database, for consumers that
/// run in another process.
const DATABASE_CHECK_EVERY: Duration = Duration::from_millis(20);

impl Progress {
    pub fn new(pool: PgPool) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                reached: Mutex::new(HashMap::new()),
                changed: watch::channel(0).0,
            }),
        }
    }

    /// Called by a consumer after its checkpoint committed.
    pub fn record(&self, consumer: &str, position: Position) {
        {
            let mut reached = self.inner.reached.lock().expect("progress lock poisoned");
            let entry = reached.entry(consumer.to_string()).or_default();
            if position > *entry {
                *entry = position;
            }
        }
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The position consumer `name` has reached, as this process knows it.
    pub fn reached(&self, name: &str) -> Option<Position> {
        let reached = self.inner.reached.lock().expect("progress lock poisoned");
        reached.get(name).copied()
    }

    fn reached_locally(&self, consumers: &[&str], target: Position) -> bool {
        let reached = self.inner.reached.lock().expect("progress lock poisoned");
        consumers
            .iter()
            .all(|c| reached.get(*c).is_some_and(|p| *p >= target))
    }

    async fn reached_in_database(&self, consumers: &[&str], target: Position) -> bool {
        let names: Vec<String> = consumers.iter().map(|c| c.to_string()).collect();
        let rows: Result<Vec<(String, i64, i64)>, _> = sqlx::query_as(
            "SELECT name, last_transaction_id::text::bigint, last_position \
             FROM consumer_checkpoints WHERE name = ANY($1)",
        )
        .bind(&names)
        .fetch_all(&self.inner.pool)
        .await;
        let Ok(rows) = rows else { return false };
        for (name, transaction_id, global_position) in &rows {
            self.record(
                name,
                Position {
                    transaction_id: *transaction_id,
                    global_position: *global_position,
                },
            );
        }
        self.reached_locally(consumers, target)
    }

    /// Waits until every named consumer has handled `target`, or `timeout` passes.
    /// Answers whether they got there; a read that times out serves what it has.
    pub async fn wait_for(&self, consumers: &[&str], target: Position, timeout: Duration) -> bool {
        if self.reached_locally(consumers, target) {
            return true;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changed = self.inner.changed.subscribe();
        loop {
            if self.reached_in_database(consumers, target).await {
                return true;
            }
            let next_check = (tokio::time::Instant::now() + DATABASE_CHECK_EVERY).min(deadline);
            loop {
                tokio::select! {
                    _ = changed.changed() => {
                        if self.reached_locally(consumers, target) {
                            return true;
                        }
                    }
                    _ = tokio::time::sleep_until(next_check) => break,
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return self.reached_locally(consumers, target);
            }
        }
    }
}
