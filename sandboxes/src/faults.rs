//! The fault switches of the sandboxes that answer JSON over HTTP (fines, financial and
//! revenue systems): `GET|PUT /_sandbox/faults` with `{"down": bool, "slow_ms": n,
//! "fail_next": n, "malformed": bool}`. Down answers 503, slow delays every answer,
//! fail_next answers 500 to the next n calls, malformed answers 200 with a body that breaks
//! the system's contract.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub down: bool,
    pub slow_ms: u64,
    pub fail_next: u32,
    pub malformed: bool,
}

impl Faults {
    /// How long every answer waits (`slow_ms`); wait for it without holding the
    /// sandbox's lock, then call [`Faults::answer`].
    pub fn delay(&self) -> Option<Duration> {
        (self.slow_ms > 0).then(|| Duration::from_millis(self.slow_ms))
    }

    /// The answer to give instead of the real one, if a switch says so (counting
    /// `fail_next` down). `system` names it in the error text ("fines system");
    /// `malformed` is the body that breaks the contract.
    pub fn answer(
        &mut self,
        system: &str,
        malformed: impl FnOnce() -> serde_json::Value,
    ) -> Option<Response> {
        if self.down {
            return Some(
                (StatusCode::SERVICE_UNAVAILABLE, format!("{system} down")).into_response(),
            );
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{system} error")).into_response(),
            );
        }
        if self.malformed {
            return Some((StatusCode::OK, Json(malformed())).into_response());
        }
        None
    }
}
