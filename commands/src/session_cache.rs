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
//! itself ([`eventlog::Append::session`]), which also says so on the channel (`wrote
//! <session> <position>`), so that every process's cache learns it as it commits; the
//! process that wrote records it at once ([`SessionCache::record_write`]).
//!
//! A session read from the database while a drop happens is not cached (a generation
//! counter), and nothing is cached while the listener is not listening. An entry lives at
//! most a minute and a quarter of the idle limit (see `Portal` construction), so that the
//! database still hears of every session's use often enough for the idle limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Moves on every drop: a session read from the database before a drop is not cached
    /// after it (it may be the very session that ended).
    generation: AtomicU64,
    /// Whether the listener hears the drops of other processes: nothing is cached while it
    /// does not.
    listening: AtomicBool,
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
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
        }
    }

    /// Where the drops stand: take it before reading a session from the database, and hand
    /// it to [`SessionCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn dropped(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().expect("session cache lock poisoned")
    }

    /// The session whose token hashes to `hash`, if cached, fresh and still valid at `now`.
    pub fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<Session> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let entries = self.entries();
        let entry = entries.get(hash)?;
        (entry.fetched.elapsed() < self.lifetime && now < entry.valid_until)
            .then(|| entry.session.clone())
    }

    /// Keeps `session`, valid until `valid_until`, as read from the database after
    /// [`SessionCache::generation`] answered `generation`; not if anything was dropped since.
    pub fn put(&self, session: Session, valid_until: DateTime<Utc>, generation: u64) {
        if self.lifetime.is_zero() || !self.listening.load(Ordering::SeqCst) {
            return;
        }
        let mut entries = self.entries();
        // Checked under the lock that drops take too.
        if self.generation() != generation {
            return;
        }
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
        let mut entries = self.entries();
        self.dropped();
        entries.remove(hash);
    }

    /// Drops every session of an account.
    pub fn forget_account(&self, account_id: Uuid) {
        let mut entries = self.entries();
        self.dropped();
        entries.retain(|_, e| e.session.account_id != account_id);
    }

    /// Drops everything.
    pub fn clear(&self) {
        let mut entries = self.entries();
        self.dropped();
        entries.clear();
    }

    /// What another process (or this one) says on [`SESSIONS_CHANNEL`]: an account id
    /// (drop its sessions) or `wrote <session> <position>` (a session's write, from the
    /// append).
    fn heard(&self, payload: &str) {
        if let Some(rest) = payload.strip_prefix("wrote ") {
            let parsed = rest
                .split_once(' ')
                .and_then(|(hash, position)| Some((hash, position.parse::<Position>().ok()?)));
            match parsed {
                Some((hash, position)) => self.record_write(hash, position),
                None => self.clear(),
            }
        } else {
            match Uuid::parse_str(payload) {
                Ok(account) => self.forget_account(account),
                Err(_) => self.clear(),
            }
        }
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
                            self.listening.store(true, Ordering::SeqCst);
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(n)) => self.heard(n.payload()),
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
                self.listening.store(false, Ordering::SeqCst);
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

#[cfg(test)]
mod tests {
    use super::*;
    use domain::account::Role;

    fn session(hash: &str, account_id: Uuid) -> Session {
        Session {
            account_id,
            email: "maria@example.gr".into(),
            full_name: "Μαρία Παππά".into(),
            role: Role::Citizen,
            session: hash.into(),
            last_position: None,
        }
    }

    fn listening(lifetime: Duration) -> SessionCache {
        let cache = SessionCache::new(lifetime);
        cache.listening.store(true, Ordering::SeqCst);
        cache
    }

    fn position(transaction_id: i64, global_position: i64) -> Position {
        Position {
            transaction_id,
            global_position,
        }
    }

    #[test]
    fn a_session_read_before_a_drop_is_not_cached_after_it() {
        let cache = listening(Duration::from_secs(60));
        let account = Uuid::new_v4();
        let until = Utc::now() + chrono::Duration::hours(1);
        // Read from the database, then the account's sessions end, then the read lands.
        let read_at = cache.generation();
        cache.forget_account(account);
        cache.put(session("a", account), until, read_at);
        assert!(cache.get("a", Utc::now()).is_none());
        // Read after the drop: cached.
        cache.put(session("a", account), until, cache.generation());
        assert!(cache.get("a", Utc::now()).is_some());
    }

    #[test]
    fn nothing_is_served_past_the_validity_or_while_not_listening() {
        let cache = listening(Duration::from_secs(60));
        let account = Uuid::new_v4();
        let until = Utc::now() + chrono::Duration::seconds(5);
        cache.put(session("a", account), until, cache.generation());
        assert!(cache.get("a", Utc::now()).is_some());
        assert!(cache
            .get("a", until + chrono::Duration::seconds(1))
            .is_none());
        cache.listening.store(false, Ordering::SeqCst);
        assert!(cache.get("a", Utc::now()).is_none());
        let off = SessionCache::new(Duration::ZERO);
        off.listening.store(true, Ordering::SeqCst);
        off.put(session("b", account), until, off.generation());
        assert!(off.is_empty());
    }

    #[test]
    fn what_other_processes_say_is_heard() {
        let cache = listening(Duration::from_secs(60));
        let (maria, nikos) = (Uuid::new_v4(), Uuid::new_v4());
        let until = Utc::now() + chrono::Duration::hours(1);
        cache.put(session("m", maria), until, cache.generation());
        cache.put(session("n", nikos), until, cache.generation());
        // A write through another process: the position only moves forwards.
        cache.heard("wrote m 10.20");
        cache.heard("wrote m 9.99");
        assert_eq!(
            cache.get("m", Utc::now()).unwrap().last_position,
            Some(position(10, 20))
        );
        // An account's sessions end elsewhere.
        cache.heard(&maria.to_string());
        assert!(cache.get("m", Utc::now()).is_none());
        assert!(cache.get("n", Utc::now()).is_some());
        // Anything not understood drops everything.
        cache.heard("wrote n nonsense");
        assert!(cache.is_empty());
    }
}
