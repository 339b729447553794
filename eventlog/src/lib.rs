//! The event log as the rest of the portal reads it: database set-up and migrations,
//! commit-safe positions, and the checkpointed catch-up consumer runtime that feeds every
//! read model and every process manager (see `docs/architecture.md`).

mod append;
mod consumer;
mod database;
mod position;
mod progress;
mod stored;

pub use append::{
    append, create_sequence, Append, AppendError, Appended, CaseNumberSlot, EventLogRepository,
};
pub use consumer::{
    consumer_lock_key, fetch_batch, run_batch, save_checkpoint, BatchOutcome, Consumer,
    ConsumerError, ConsumerRuntime, RuntimeConfig,
};
pub use database::{
    checkpoints, connect, ensure_database, migrate, migration_status, DatabaseError,
};
pub use position::Position;
pub use progress::Progress;
pub use stored::{
    aggregate_type_of, latest_position, load_case_events, log_head, ChainFields, RecordedEvent,
};

/// The channel the events table's trigger notifies on commit.
pub const EVENTS_CHANNEL: &str = "portal_events";
