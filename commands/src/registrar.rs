//! Automatic protocol registration of certificate applications: the durable process
//! manager of issue 4.
//!
//! A submission tries to register its application at once (with a short timeout, so the
//! citizen does not wait long). Whatever happens, the outcome is an event: the protocol
//! number, or a failure with the time of the next attempt. The registrar's own queue
//! ([`ProtocolQueue`], a consumer of the log) keeps that time (also set a minute after
//! submission in case the submitting process stopped before its attempt), and the
//! background loop here picks up every application whose time has come, in every portal
//! process.
//!
//! Exactly one protocol number per application:
//! - every attempt on an application runs under a PostgreSQL advisory lock keyed by the
//!   application (session-level, held outside any transaction, so it does not hold back
//!   the consumers), so two processes never call the protocol system for one application
//!   at the same time; each process holds its locks on one session of its own (see
//!   `ProtocolLocks`), and an attempt, once started, runs to its end even if the request
//!   that started it goes away, so that no lock is left behind;
//! - the aggregate refuses to register an application that already has a number, before
//!   calling anything;
//! - every call carries the idempotency key `CertificateApplication:<id>`, so a call
//!   whose answer was lost (timeout, crash before the event was stored) gets the same
//!   number when repeated.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{CommandError, CommandMetadata, Commands, Executed};
use domain::application::{ApplicationCommand, CertificateApplication};
use eventlog::{consumer_lock_key, Progress};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// Runs attempts; shared by the submitting request and the background loop.
#[derive(Clone)]
pub struct Registrar {
    pool: PgPool,
    progress: Progress,
    /// The consumers an attempt waits for before it lets go of its lock: the queue (so
    /// the next pass sees the new time of the next attempt) and the read model that shows
    /// an application's protocol data (so whoever sees the outcome — a clerk about to press
    /// «Πρωτοκόλληση τώρα» — never finds the application still busy).
    folded_by: &'static [&'static str],
    locks: Arc<ProtocolLocks>,
    /// The portal's clock: the time of a registration.
    clock: Arc<dyn domain::ports::Clock>,
}

/// The outcome of one attempt.
#[derive(Debug)]
pub enum Attempt {
    /// The attempt ran; its event (number or failure) is at this position.
    Ran(Executed),
    /// Another request or process is attempting this application right now.
    Busy,
    /// The application already has its number.
    AlreadyRegistered,
}

impl Registrar {
    /// `folded_by`: see the field; [`ProtocolQueue::NAME`] and the applications read model.
    pub fn new(
        pool: PgPool,
        progress: Progress,
        folded_by: &'static [&'static str],
        clock: Arc<dyn domain::ports::Clock>,
    ) -> Self {
        let locks = Arc::new(ProtocolLocks::new((*pool.connect_options()).clone()));
        Self {
            pool,
            progress,
            folded_by,
            locks,
            clock,
        }
    }

    /// One attempt on application `id` through `commands` (whose protocol adapter decides
    /// the timeout), under the application's advisory lock. Waits until the registrar's
    /// queue ([`ProtocolQueue`]) and the read models have folded the outcome before
    /// letting go of the lock, so the next look at the due list sees the new time of the
    /// next attempt and nobody who sees the outcome finds the application busy.
    ///
    /// The attempt runs in a task of its own: a citizen who closes the page while the
    /// protocol system answers must not cut it short (axum drops the handler), which would
    /// leave the outcome unrecorded and the lock held. The caller has its answer once the
    /// lock is let go, so that whoever acts next on the answer (a clerk's «Πρωτοκόλληση
    /// τώρα» right after a failed submission) never finds the application busy.
    pub async fn attempt(
        &self,
        commands: &Arc<Commands<CertificateApplication>>,
        id: &str,
        metadata: CommandMetadata,
    ) -> Result<Attempt, CommandError> {
        let registrar = self.clone();
        let commands = Arc::clone(commands);
        let id = id.to_string();
        let (answer, answered) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            registrar
                .attempt_locked(&commands, &id, metadata, answer)
                .await
        });
        answered.await.map_err(|_| {
            CommandError::Infrastructure("protocol attempt: the attempt's task ended".into())
        })?
    }

    async fn attempt_locked(
        &self,
        commands: &Commands<CertificateApplication>,
        id: &str,
        metadata: CommandMetadata,
        answer: tokio::sync::oneshot::Sender<Result<Attempt, CommandError>>,
    ) {
        // An application with its number needs no lock to say so (its last attempt may
        // still hold the lock while the read models fold the number).
        match commands.load(id).await {
            Ok(application) if application.protocol_number.is_some() => {
                let _ = answer.send(Ok(Attempt::AlreadyRegistered));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = answer.send(Err(e));
                return;
            }
        }
        let locked = match self.locks.try_lock(id).await {
            Ok(locked) => locked,
            Err(e) => {
                let _ = answer.send(Err(e.into()));
                return;
            }
        };
        if !locked {
            let _ = answer.send(Ok(Attempt::Busy));
            return;
        }
        let outcome = commands
            .execute(
                id,
                ApplicationCommand::RegisterInProtocol {
                    at: self.clock.now(),
                },
                metadata,
            )
            .await;
        let result = match outcome {
            Ok(executed) => {
                self.progress
                    .wait_for(self.folded_by, executed.position, Duration::from_secs(5))
                    .await;
                Ok(Attempt::Ran(executed))
            }
            Err(CommandError::Refused(r)) if r.code == "already_protocolled" => {
                Ok(Attempt::AlreadyRegistered)
            }
            Err(e) => Err(e),
        };
        self.locks.unlock(id).await;
        // The caller may be gone (a citizen who closed the page): nothing to tell then.
        let _ = answer.send(result);
    }

    /// The background loop: every `poll`, attempts every application whose next attempt
    /// is due. Runs until the returned handle is dropped.
    pub fn spawn(
        self,
        commands: Arc<Commands<CertificateApplication>>,
        poll: Duration,
    ) -> crate::background::LoopTask {
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = self.run_due(&commands).await {
                    tracing::warn!(error = %e, "protocol registrar: a pass failed; trying again");
                }
                tokio::time::sleep(poll).await;
            }
        });
        crate::background::LoopTask::new(task)
    }

    /// One pass over the due applications; answers how many attempts ran.
    pub async fn run_due(
        &self,
        commands: &Arc<Commands<CertificateApplication>>,
    ) -> Result<usize, CommandError> {
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT application_id FROM protocol_queue WHERE NOT registered \
             AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 50",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut ran = 0;
        for id in due {
            match self.attempt(commands, &id, system_metadata()).await {
                Ok(Attempt::Ran(_)) => ran += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(application = %id, error = %e, "protocol registrar: attempt failed")
                }
            }
        }
        Ok(ran)
    }
}

/// The registrar's queue (table `protocol_queue`): a checkpointed consumer of the
/// applications' events that keeps, for each application, when its next attempt is due,
/// until it is registered.
pub struct ProtocolQueue;

impl ProtocolQueue {
    pub const NAME: &'static str = "protocol_queue";
}

#[async_trait::async_trait]
impl eventlog::Consumer for ProtocolQueue {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[<CertificateApplication as cqrs_es::Aggregate>::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &eventlog::RecordedEvent,
    ) -> Result<(), eventlog::ConsumerError> {
        use cqrs_es::Aggregate;
        use domain::application::ApplicationEvent as E;
        if event.aggregate_type != CertificateApplication::TYPE {
            return Ok(());
        }
        let payload: E = serde::Deserialize::deserialize(&event.payload)
            .map_err(|e| eventlog::ConsumerError::decode(event, e))?;
        let id = &event.aggregate_id;
        let seq = event.sequence;
        match payload {
            E::ApplicationSubmitted { at, .. } => {
                let due =
                    at + chrono::Duration::seconds(domain::application::PROTOCOL_GRACE_SECONDS);
                sqlx::query(
                    "INSERT INTO protocol_queue (application_id, next_attempt_at, last_sequence) \
                     VALUES ($1, $2, $3) ON CONFLICT (application_id) DO NOTHING",
                )
                .bind(id)
                .bind(due)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            E::ApplicationProtocolFailed {
                next_attempt_at,
                refused,
                ..
            } => {
                // A refusal (4xx) is final: no automatic attempt follows ('infinity' is never
                // due); a clerk looks at the reason and registers it («Πρωτοκόλληση τώρα»).
                // An unavailable system is tried again when due.
                sqlx::query(
                    "UPDATE protocol_queue \
                        SET next_attempt_at = coalesce($3, 'infinity'::timestamptz), \
                            last_sequence = $2 \
                      WHERE application_id = $1 AND last_sequence < $2",
                )
                .bind(id)
                .bind(seq)
                .bind((!refused).then_some(next_attempt_at))
                .execute(&mut *conn)
                .await?;
            }
            E::ApplicationProtocolRegistered { .. } => {
                sqlx::query(
                    "UPDATE protocol_queue SET registered = true, last_sequence = $2 \
                     WHERE application_id = $1 AND last_sequence < $2",
                )
                .bind(id)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The advisory locks of this process's attempts, all held on one database session of
/// their own. An attempt holds its lock while it calls the protocol system; held on
/// connections of the shared pool, a burst of slow attempts would take every connection
/// while each waits for one more to store its outcome (and every other request with them).
struct ProtocolLocks {
    options: PgConnectOptions,
    session: tokio::sync::Mutex<Option<PgConnection>>,
    /// A session's advisory locks are re-entrant, so the session alone does not keep two
    /// attempts of this process apart: this set does.
    in_flight: Mutex<HashSet<String>>,
}

impl ProtocolLocks {
    fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            session: tokio::sync::Mutex::new(None),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().expect("protocol lock set poisoned")
    }

    /// Takes application `id`'s lock: `false` when an attempt here or in another process
    /// holds it.
    async fn try_lock(&self, id: &str) -> Result<bool, sqlx::Error> {
        if !self.in_flight().insert(id.to_string()) {
            return Ok(false);
        }
        let locked = self.call("SELECT pg_try_advisory_lock($1)", id).await;
        if !matches!(locked, Ok(true)) {
            self.in_flight().remove(id);
        }
        locked
    }

    async fn unlock(&self, id: &str) {
        if let Err(e) = self.call("SELECT pg_advisory_unlock($1)", id).await {
            // The session was closed, and that released its locks.
            tracing::warn!(application = %id, error = %e, "protocol lock: unlock failed");
        }
        self.in_flight().remove(id);
    }

    /// Runs a lock function for `id` on the session, opening it if needed. A session that
    /// fails is closed (which releases every lock it held) and, if it was an old one that
    /// may just have gone stale, opened again for a second try.
    async fn call(&self, sql: &'static str, id: &str) -> Result<bool, sqlx::Error> {
        let key = consumer_lock_key(&format!("protocol:{id}"));
        let mut session = self.session.lock().await;
        let mut tries_left = 2;
        loop {
            let reused = session.is_some();
            let conn = match session.as_mut() {
                Some(conn) => conn,
                None => session.insert(PgConnection::connect_with(&self.options).await?),
            };
            let answer = sqlx::query_scalar(sql).bind(key).fetch_one(conn).await;
            tries_left -= 1;
            match answer {
                Ok(answer) => return Ok(answer),
                Err(e) => {
                    *session = None;
                    if !reused || tries_left == 0 {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// The metadata of what the portal does by itself.
pub fn system_metadata() -> CommandMetadata {
    CommandMetadata {
        actor_id: "system:protocol-registrar".into(),
        role: "system".into(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        client_ip: None,
        session: None,
        open311_client: None,
    }
}
