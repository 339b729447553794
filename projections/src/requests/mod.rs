//! The `requests` read model: one row per citizen request and one per timeline entry,
//! serving «Τα αιτήματά μου», the anonymous tracking page and the clerks' queue.

mod projector;
mod queries;

pub use projector::RequestsProjection;
pub use queries::*;
