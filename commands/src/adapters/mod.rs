//! The adapters: the HTTP (and SMTP) clients that implement the domain's ports for the
//! systems the portal does not own. Each speaks a documented contract (`docs/api.md`) that
//! the matching sandbox in the `sandboxes` crate speaks too.

pub mod financial;
pub mod fines;
mod http;
pub mod protocol;
pub mod revenue;
pub mod smtp;
pub mod vpos;
