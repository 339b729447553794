//! Sessions resolved in memory on the hot path.
//!
//! Every request that presents a session used to cost a query (the session, its account,
//! its last write). The [`SessionCache`] keeps what that query answered for a short while
//! (`PORTAL_SESSION_CACHE_SECONDS`, default 10; 0 turns it off), and never past the moment
//! the session expires or falls idle.
//!
//! Whatever ends or changes a session drops it at once: logging out, ending a session from
//! «Συνδέσεις», a password change or reset, a change of role, disabling an account, a new
//! name on the profile. Each of these also sends `NOTIFY portal_sessions, '<account id>'`
//! in its own transaction, so that every other portal process (and the `portal staff`
//! command, which runs in a process of its own) drops the account's sessions as the change
//! commits. Should the notification listener lose its connection, the cache is emptied,
//! since notifications may have been missed; the lifetime bounds the rest.
//!
//! A session's last write (read-your-writes) is recorded in the database by the append
//! itself ([`eventlog::Append::session`]) and here by [`SessionCache::record_write`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use eventlog::Position;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use uuid::Uuid;

use crate::accounts::Session;

/// The channel that tells every portal process to drop an account's cached sessions.
pub const SESSIONS_CHANNEL: &str = "portal_sessions";

/// Entries beyond which stale ones are swept (and, if all are fresh, all are dropped).
const MAX_ENTRIES: usize = 100_000;

pub struct SessionCache {
    lifetime: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    session: Session,
    fetched: Instant,
    /// When the session expires or falls idle, as the database said when fetched.
    valid_until: DateTime<Utc>,
}

impl SessionCache {
    /// A cache whose entries live `lifetime` (zero: nothing is cached).
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().expect("session cache lock poisoned")
    }

    /// The session whose token hashes to `hash`, if cached, fresh and still valid at `now`.
    pub fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<Session> {
        let entries = self.entries();
        let entry = entries.get(hash)?;
        (entry.fetched.elapsed() < self.lifetime && now < entry.valid_until)
            .then(|| entry.session.clone())
    }

    /// Keeps `session`, valid until `valid_until`, as just read from the database.
    pub fn put(&self, session: Session, valid_until: DateTime<Utc>) {
        if self.lifetime.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            let lifetime = self.lifetime;
            entries.retain(|_, e| e.fetched.elapsed() < lifetime);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        let hash = session.session.clone();
        // A write recorded meanwhile (by this process) is never forgotten by a read that
        // started before it.
        let known = entries.get(&hash).and_then(|e| e.session.last_position);
        let mut session = session;
        session.last_position = session.last_position.max(known);
        entries.insert(
            hash,
            Entry {
                session,
                fetched: Instant::now(),
                valid_until,
            },
        );
    }

    /// The session wrote up to `position`: its next reads here wait for it.
    pub fn record_write(&self, hash: &str, position: Position) {
        if let Some(entry) = self.entries().get_mut(hash) {
            entry.session.last_position = entry.session.last_position.max(Some(position));
        }
    }

    /// Drops one session.
    pub fn forget(&self, hash: &str) {
        self.entries().remove(hash);
    }

    /// Drops every session of an account.
    pub fn forget_account(&self, account_id: Uuid) {
        self.entries()
            .retain(|_, e| e.session.account_id != account_id);
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.entries().clear();
    }

    /// How many sessions are cached (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the sessions of the accounts named on [`SESSIONS_CHANNEL`], from whichever
    /// process; empties the cache whenever the listener (re)connects.
    pub fn listen(self: Arc<Self>, pool: PgPool) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(SESSIONS_CHANNEL).await {
                        Ok(()) => {
                            // Anything may have changed while nobody listened.
                            self.clear();
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(n)) => match Uuid::parse_str(n.payload()) {
                                        Ok(account) => self.forget_account(account),
                                        Err(_) => self.clear(),
                                    },
                                    // The connection dropped and was re-established:
                                    // notifications may have been lost.
                                    Ok(None) => self.clear(),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "session listener failed");
                                        break;
                                    }
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "LISTEN portal_sessions failed"),
                    },
                    Err(e) => tracing::warn!(error = %e, "cannot open the session listener"),
                }
                // Until it listens again, nothing cached can be trusted.
                self.clear();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}

/// Tells every portal process to drop `account`'s cached sessions when the caller's
/// transaction commits (at once outside a transaction).
pub async fn announce_change(
    db: impl sqlx::PgExecutor<'_>,
    account: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(SESSIONS_CHANNEL)
        .bind(account.to_string())
        .execute(db)
        .await?;
    Ok(())
}
