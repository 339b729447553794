//! Automatic protocol registration of certificate applications: the durable process
//! manager of issue 4.
//!
//! A submission tries to register its application at once (with a short timeout, so the
//! citizen does not wait long). Whatever happens, the outcome is an event: the protocol
//! number, or a failure with the time of the next attempt. The `applications` read model
//! keeps that time (`protocol_next_attempt_at`, also set a minute after submission in
//! case the submitting process stopped before its attempt), and the background loop here
//! picks up every application whose time has come, in every portal process.
//!
//! Exactly one protocol number per application:
//! - every attempt on an application runs under a PostgreSQL advisory lock keyed by the
//!   application (session-level, held outside any transaction, so it does not hold back
//!   the consumers), so two processes never call the protocol system for one application
//!   at the same time;
//! - the aggregate refuses to register an application that already has a number, before
//!   calling anything;
//! - every call carries the idempotency key `CertificateApplication:<id>`, so a call
//!   whose answer was lost (timeout, crash before the event was stored) gets the same
//!   number when repeated.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use commands::{CommandError, CommandMetadata, Commands, Executed};
use domain::application::{ApplicationCommand, CertificateApplication};
use eventlog::{consumer_lock_key, Progress};
use sqlx::PgPool;
use tokio::task::JoinHandle;

/// Runs attempts; shared by the submitting request and the background loop.
#[derive(Clone)]
pub struct Registrar {
    pool: PgPool,
    progress: Progress,
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
    pub fn new(pool: PgPool, progress: Progress) -> Self {
        Self { pool, progress }
    }

    /// One attempt on application `id` through `commands` (whose protocol adapter decides
    /// the timeout), under the application's advisory lock. Waits until the
    /// `applications` read model has folded the outcome before letting go of the lock, so
    /// the next look at the due list sees the new time of the next attempt.
    pub async fn attempt(
        &self,
        commands: &Commands<CertificateApplication>,
        id: &str,
        metadata: CommandMetadata,
    ) -> Result<Attempt, CommandError> {
        let infra = |e: sqlx::Error| CommandError::Infrastructure(e.to_string());
        let mut conn = self.pool.acquire().await.map_err(infra)?;
        let key = consumer_lock_key(&format!("protocol:{id}"));
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await
            .map_err(infra)?;
        if !locked {
            return Ok(Attempt::Busy);
        }
        let outcome = commands
            .execute(
                id,
                ApplicationCommand::RegisterInProtocol { at: Utc::now() },
                metadata,
            )
            .await;
        let result = match outcome {
            Ok(executed) => {
                self.progress
                    .wait_for(
                        &[projections::applications::ApplicationsProjection::NAME],
                        executed.position,
                        Duration::from_secs(5),
                    )
                    .await;
                Ok(Attempt::Ran(executed))
            }
            Err(CommandError::Refused(r)) if r.code == "already_protocolled" => {
                Ok(Attempt::AlreadyRegistered)
            }
            Err(e) => Err(e),
        };
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await;
        if unlocked.is_err() {
            // Never hand a connection that may still hold the lock back to the pool.
            drop(conn.detach());
        }
        result
    }

    /// The background loop: every `poll`, attempts every application whose next attempt
    /// is due. Runs until the returned handle is dropped.
    pub fn spawn(
        self,
        commands: Arc<Commands<CertificateApplication>>,
        poll: Duration,
    ) -> RegistrarTask {
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = self.run_due(&commands).await {
                    tracing::warn!(error = %e, "protocol registrar: a pass failed; trying again");
                }
                tokio::time::sleep(poll).await;
            }
        });
        RegistrarTask(task)
    }

    /// One pass over the due applications; answers how many attempts ran.
    pub async fn run_due(
        &self,
        commands: &Commands<CertificateApplication>,
    ) -> Result<usize, CommandError> {
        let due = projections::applications::protocol_due(&self.pool, 50)
            .await
            .map_err(|e| CommandError::Infrastructure(e.to_string()))?;
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

/// The metadata of what the portal does by itself.
pub fn system_metadata() -> CommandMetadata {
    CommandMetadata {
        actor_id: "system:protocol-registrar".into(),
        role: "system".into(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        client_ip: None,
    }
}

/// Stops the background loop when dropped.
pub struct RegistrarTask(JoinHandle<()>);

impl Drop for RegistrarTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
