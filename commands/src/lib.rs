//! The write side: cqrs-es frameworks over the postgres-es event store, the adapters that
//! implement the domain's ports, and what a command hands back (the position it wrote).

pub mod case_numbers;
pub mod executor;
pub mod financial;
pub mod fines;
mod http;
pub mod mail;
pub mod metadata;
pub mod protocol;
pub mod revenue;
pub mod vpos;

pub use executor::{CommandError, Commands, Executed, RequestCommands};
pub use metadata::CommandMetadata;
