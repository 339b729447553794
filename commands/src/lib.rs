//! The application layer: every use case as a plain async function over the [`Portal`]
//! context, returning typed results and its module's own error; the process managers
//! (protocol registrar, e-mail notices, payment reconciler, the notifiers of the fines and
//! revenue systems, the declaration worker); the cqrs-es command execution over the portal's
//! event store; and the adapters that implement the domain's ports. No HTTP here: the JSON
//! API, the pages and the command line all call these functions.

pub mod accounts;
pub mod adapters;
pub mod applications;
pub mod audit;
pub mod background;
pub mod business;
pub mod case_numbers;
pub mod certification;
pub mod context;
pub mod executor;
pub mod fines;
pub mod idempotency;
pub mod mail_notices;
pub mod metadata;
pub mod notices;
pub mod open311;
pub mod payment_process;
pub mod payments;
pub mod refused_notices;
pub mod registrar;
pub mod requests;
pub mod session_cache;
pub mod tax_debts;
pub mod tax_declarations;
pub mod warrants;

pub use context::{Actor, Portal, Settings};

/// The process managers whose state the portal must have current before it answers (the
/// payment process with the notifiers' outboxes, the protocol queue): the one list the
/// server starts and the operator's commands name. The mail consumer is not among them:
/// it needs the municipality's settings (`mail_notices::MailNotices::NAME`, `TYPES`).
pub fn process_managers() -> Vec<std::sync::Arc<dyn eventlog::Consumer>> {
    vec![
        std::sync::Arc::new(payment_process::PaymentProcess),
        std::sync::Arc::new(registrar::ProtocolQueue),
    ]
}
pub use executor::{CommandError, Commands, Executed, RequestCommands};
pub use metadata::CommandMetadata;
