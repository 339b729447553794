//! The portal's HTTP face and its start-up: configuration, the `Application` value that
//! tests build on port 0, the JSON API, authentication, and the operator commands.
// The OpenAPI examples of the larger answers are `json!` literals deeper than the default.
#![recursion_limit = "256"]

pub mod app;
pub mod application_reads;
pub mod auth;
pub mod config;
pub mod cookies;
pub mod dashboard;
pub mod error;
pub mod excel;
pub mod extract;
pub mod http;
pub mod i18n;
pub mod idempotency;
pub mod labels;
pub mod metrics;
pub mod openapi;
pub mod operator;
pub mod reads;
pub mod record;
pub mod routes;
pub mod staff;
pub mod warrants;
pub mod web;

pub use app::{AppState, Application};
pub use config::Config;
