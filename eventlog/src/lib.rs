//! The event log as the rest of the portal reads it: database set-up and migrations,
//! commit-safe positions, and the checkpointed catch-up consumer runtime that feeds every
//! read model and every process manager (see `docs/architecture.md`).

mod append;
mod backoff;
mod consumer;
mod database;
mod position;
mod progress;
mod status;
mod stored;

pub use append::{
    append, create_sequence, Append, AppendError, Appended, CaseNumberSlot, EventLogRepository,
};
pub use backoff::backoff;
pub use consumer::{
    consumer_lock_key, failure_backoff, fetch_batch, fetch_raw_batch, run_batch, save_checkpoint,
    BatchOutcome, Consumer, ConsumerDirectory, ConsumerError, ConsumerRuntime, RawBatch,
    RuntimeConfig,
};
pub use database::{
    checkpoints, connect, database_answers, ensure_database, is_unavailable, migrate,
    migration_status, DatabaseError,
};
pub use position::Position;
pub use progress::Progress;
pub use status::{
    consumer_status, failures, request_retry, skip, skipped_positions, skips, ConsumerFailure,
    ConsumerInfo, ConsumerStatus, SkipError, SkipRecord, Skipped, CONSUMERS_CHANNEL, LAG_COUNT_CAP,
};
pub use stored::{
    aggregate_type_of, audit_batch, latest_position, load_case_events, log_head, ChainFields,
    RecordedEvent,
};

/// The channel the events table's trigger notifies on commit.
pub const EVENTS_CHANNEL: &str = "portal_events";
