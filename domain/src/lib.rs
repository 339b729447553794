//! The portal's business rules: aggregates, their commands and events, value types that
//! can only be built valid, and the ports (traits) through which a rule reaches the outside
//! world. Nothing here does I/O.

pub mod account;
pub mod application;
pub mod audit;
pub mod business;
pub mod certification;
pub mod fines;
pub mod money;
pub mod municipality;
pub mod payment;
pub mod ports;
pub mod refusal;
pub mod request;
pub mod settlement;
pub mod tax_debt;
pub mod tax_declaration;
pub mod traffic_fine;
pub mod values;

pub use money::Money;
pub use refusal::Refusal;
