//! Runs commands through cqrs-es (pure event-store mode) and answers with the position
//! the command wrote, so that reads can wait for the projections to reach it.

use std::collections::HashMap;

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework};
use domain::request::CitizenRequest;
use domain::Refusal;
use eventlog::Position;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;

use crate::CommandMetadata;

/// Why a command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A business rule said no.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// Someone else changed the case at the same moment: reload and try again.
    #[error("the case changed meanwhile")]
    Conflict,
    /// The database or the event store failed.
    #[error("infrastructure failure: {0}")]
    Infrastructure(String),
}

impl From<AggregateError<Refusal>> for CommandError {
    fn from(e: AggregateError<Refusal>) -> Self {
        match e {
            AggregateError::UserError(refusal) => Self::Refused(refusal),
            AggregateError::AggregateConflict => Self::Conflict,
            other => Self::Infrastructure(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for CommandError {
    fn from(e: sqlx::Error) -> Self {
        Self::Infrastructure(format!("database: {e}"))
    }
}

/// What a command that went through hands back.
#[derive(Debug, Clone, Copy)]
pub struct Executed {
    /// The position of the case's latest event after the command.
    pub position: Position,
}

type Framework<A> = CqrsFramework<A, PersistedEventStore<PostgresEventRepository, A>>;

fn framework<A: Aggregate>(pool: PgPool, services: A::Services) -> Framework<A> {
    // The pure event store: snapshot and aggregate-store modes apply events twice in
    // cqrs-es 0.5.0 (DESIGN.md §3). No in-process queries: read models are consumers.
    postgres_es::postgres_cqrs(pool, vec![], services)
}

/// The write side of one aggregate type: executes its commands and answers the position
/// they wrote.
pub struct Commands<A: Aggregate<Error = Refusal>> {
    pool: PgPool,
    cqrs: Framework<A>,
    store: PersistedEventStore<PostgresEventRepository, A>,
    conflict_retries: u32,
}

/// The write side of citizen requests.
pub type RequestCommands = Commands<CitizenRequest>;

impl<A: Aggregate<Error = Refusal>> Commands<A> {
    pub fn new(pool: PgPool, services: A::Services) -> Self {
        Self {
            cqrs: framework(pool.clone(), services),
            store: PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone())),
            pool,
            conflict_retries: 1,
        }
    }

    /// How often a command that lost an optimistic-concurrency race is retried before
    /// the conflict is reported (default once).
    pub fn with_conflict_retries(mut self, retries: u32) -> Self {
        self.conflict_retries = retries;
        self
    }

    /// The current state of stream `id`, folded from the event log (the default state when
    /// the stream has no events). For rules that span two aggregates, e.g. "certificates
    /// need a certified user".
    pub async fn load(&self, id: &str) -> Result<A, CommandError> {
        let context = self
            .store
            .load_aggregate(id)
            .await
            .map_err(|e| CommandError::Infrastructure(e.to_string()))?;
        Ok(context.aggregate)
    }

    /// Executes `command` on stream `id`. An optimistic-concurrency conflict is retried
    /// against the fresh state (the rules decide again) before it is reported.
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
        metadata: CommandMetadata,
    ) -> Result<Executed, CommandError>
    where
        A::Command: Clone,
    {
        let metadata: HashMap<String, String> = metadata.into_map();
        let mut retries_left = self.conflict_retries;
        loop {
            match self
                .cqrs
                .execute_with_metadata(id, command.clone(), metadata.clone())
                .await
            {
                Ok(()) => break,
                Err(AggregateError::AggregateConflict) if retries_left > 0 => retries_left -= 1,
                Err(e) => return Err(e.into()),
            }
        }
        let position = eventlog::latest_position(&self.pool, A::TYPE, id)
            .await
            .map_err(|e| CommandError::Infrastructure(e.to_string()))?
            .unwrap_or_default();
        Ok(Executed { position })
    }
}
