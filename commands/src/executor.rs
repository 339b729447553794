//! Runs commands the cqrs-es way (load the aggregate from its events, let it decide, append
//! what it decided) over the portal's own event repository, and answers with the position
//! the command wrote, so that reads can wait for the projections to reach it.
//!
//! cqrs-es's `CqrsFramework::execute_with_metadata` does the same three steps but answers
//! nothing, so the position would cost another query; and it always loads the stream, which
//! for a new case is a query for nothing. Here a command that starts a stream (a fresh UUID)
//! is decided on the default aggregate without reading, and the append — events, hash-chain
//! links, case number, position, the writer's session position — is one statement
//! ([`eventlog::append`]).

use std::collections::HashMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};
use domain::request::CitizenRequest;
use domain::values::{CaseNumber, CASE_NUMBER_SERIAL_PATH};
use domain::Refusal;
use eventlog::{Append, AppendError, CaseNumberSlot, EventLogRepository, Position};
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
    /// The database cannot be reached or dropped the connection (a restart, a full
    /// pool): nothing was decided, the same command may be sent again in a few seconds.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The database or the event store failed.
    #[error("infrastructure failure: {0}")]
    Infrastructure(String),
}

impl From<AggregateError<Refusal>> for CommandError {
    fn from(e: AggregateError<Refusal>) -> Self {
        match e {
            AggregateError::UserError(refusal) => Self::Refused(refusal),
            AggregateError::AggregateConflict => Self::Conflict,
            AggregateError::DatabaseConnectionError(e) => Self::Unavailable(e.to_string()),
            other => Self::Infrastructure(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for CommandError {
    fn from(e: sqlx::Error) -> Self {
        if eventlog::is_unavailable(&e) {
            Self::Unavailable(format!("database: {e}"))
        } else {
            Self::Infrastructure(format!("database: {e}"))
        }
    }
}

impl From<AppendError> for CommandError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Conflict => Self::Conflict,
            AppendError::Sql(e) => e.into(),
            AppendError::Empty => Self::Infrastructure(e.to_string()),
        }
    }
}

/// What a command that went through hands back.
#[derive(Debug, Clone, Copy)]
pub struct Executed {
    /// The position of the case's latest event after the command.
    pub position: Position,
    /// The case number the log handed out, for a command that starts a numbered case
    /// ([`Commands::create_numbered`]).
    pub number: Option<CaseNumber>,
}

/// How a command finds its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// Load it first (it may have events).
    Existing,
    /// A fresh id: decide on the default state without reading.
    New,
}

/// The write side of one aggregate type: executes its commands and answers the position
/// they wrote.
pub struct Commands<A: Aggregate<Error = Refusal>> {
    repository: EventLogRepository,
    store: PersistedEventStore<EventLogRepository, A>,
    services: A::Services,
    conflict_retries: u32,
}

/// The write side of citizen requests.
pub type RequestCommands = Commands<CitizenRequest>;

impl<A: Aggregate<Error = Refusal>> Commands<A> {
    pub fn new(pool: PgPool, services: A::Services) -> Self {
        let repository = EventLogRepository::new(pool);
        Self {
            // The pure event store: snapshot and aggregate-store modes apply events twice
            // in cqrs-es 0.5.0 (DESIGN.md §3).
            store: PersistedEventStore::new_event_store(repository.clone()),
            repository,
            services,
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
        let context = self.store.load_aggregate(id).await?;
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
        self.run(id, command, metadata, Stream::Existing, None)
            .await
    }

    /// Executes `command`, which starts stream `id`: a fresh UUID, so nothing is read
    /// first. Should the id have events after all, the append conflicts and the command is
    /// decided again on the loaded state (which refuses it).
    pub async fn create(
        &self,
        id: &str,
        command: A::Command,
        metadata: CommandMetadata,
    ) -> Result<Executed, CommandError>
    where
        A::Command: Clone,
    {
        self.run(id, command, metadata, Stream::New, None).await
    }

    /// Like [`Commands::create`], for a case with a human number: `command` carries
    /// [`CaseNumber::to_be_assigned`] of the year, and the log writes the year's next
    /// serial into the first event as it appends it. The number is in [`Executed::number`].
    pub async fn create_numbered(
        &self,
        id: &str,
        year: i32,
        command: A::Command,
        metadata: CommandMetadata,
    ) -> Result<Executed, CommandError>
    where
        A::Command: Clone,
    {
        let slot = CaseNumberSlot {
            sequence: crate::case_numbers::sequence_of(year),
            path: CASE_NUMBER_SERIAL_PATH.map(str::to_string).to_vec(),
        };
        let mut executed = self
            .run(id, command, metadata, Stream::New, Some(&slot))
            .await?;
        let serial = executed.number.map(|n| n.serial).ok_or_else(|| {
            CommandError::Infrastructure("the log handed out no case number".into())
        })?;
        executed.number = Some(CaseNumber { year, serial });
        Ok(executed)
    }

    /// Runs the command and counts it (`portal_commands_total{aggregate, outcome}`).
    async fn run(
        &self,
        id: &str,
        command: A::Command,
        metadata: CommandMetadata,
        stream: Stream,
        number: Option<&CaseNumberSlot>,
    ) -> Result<Executed, CommandError>
    where
        A::Command: Clone,
    {
        let result = self
            .decide_and_append(id, command, metadata, stream, number)
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(CommandError::Refused(_)) => "refused",
            Err(CommandError::Conflict) => "conflict",
            Err(CommandError::Unavailable(_)) => "unavailable",
            Err(_) => "error",
        };
        metrics::counter!("portal_commands_total", "aggregate" => A::TYPE, "outcome" => outcome)
            .increment(1);
        result
    }

    async fn decide_and_append(
        &self,
        id: &str,
        command: A::Command,
        metadata: CommandMetadata,
        mut stream: Stream,
        number: Option<&CaseNumberSlot>,
    ) -> Result<Executed, CommandError>
    where
        A::Command: Clone,
    {
        let session = metadata.session.clone();
        let metadata: HashMap<String, String> = metadata.into_map();
        let mut retries_left = self.conflict_retries;
        loop {
            let mut context = match stream {
                Stream::New => EventStoreAggregateContext {
                    aggregate_id: id.to_string(),
                    aggregate: A::default(),
                    current_sequence: 0,
                    current_snapshot: None,
                },
                Stream::Existing => self.store.load_aggregate(id).await?,
            };
            let sink = EventSink::default();
            context
                .aggregate
                .handle(command.clone(), &self.services, &sink)
                .await
                .map_err(CommandError::Refused)?;
            let events = sink.collect().await;
            if events.is_empty() {
                // The aggregate had nothing to record: the case stands where it stood.
                let position = eventlog::latest_position(self.repository.pool(), A::TYPE, id)
                    .await?
                    .unwrap_or_default();
                return Ok(Executed {
                    position,
                    number: None,
                });
            }
            let serialized = events
                .into_iter()
                .enumerate()
                .map(|(i, payload)| {
                    let envelope = EventEnvelope::<A> {
                        aggregate_id: id.to_string(),
                        sequence: context.current_sequence + i + 1,
                        payload,
                        metadata: metadata.clone(),
                    };
                    SerializedEvent::try_from(&envelope)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CommandError::Infrastructure(format!("serialising events: {e}")))?;
            // The log writes the number where the first event carries serial 0; an event
            // shaped otherwise would be stored without its number.
            let number = number.filter(|_| stream == Stream::New);
            if let Some(slot) = number {
                let pointer = format!("/{}", slot.path.join("/"));
                if serialized[0].payload.pointer(&pointer) != Some(&serde_json::json!(0)) {
                    return Err(CommandError::Infrastructure(format!(
                        "the first event has no case number to fill in at {pointer}"
                    )));
                }
            }
            let append = Append {
                events: &serialized,
                case_number: number,
                session: session.as_deref(),
            };
            match eventlog::append(self.repository.pool(), append).await {
                Ok(appended) => {
                    metrics::counter!("portal_events_appended_total", "aggregate" => A::TYPE)
                        .increment(serialized.len() as u64);
                    return Ok(Executed {
                        position: appended.position,
                        number: appended
                            .case_serial
                            .map(|serial| CaseNumber { year: 0, serial }),
                    });
                }
                Err(AppendError::Conflict) if retries_left > 0 => {
                    retries_left -= 1;
                    stream = Stream::Existing;
                }
                Err(AppendError::Conflict) => return Err(CommandError::Conflict),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
