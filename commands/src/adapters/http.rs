//! What every JSON-over-HTTP adapter of a system the portal does not own does with an
//! answer: no answer, a 5xx or an unreadable body means "unavailable, try later"; another
//! non-2xx is the system's refusal, which each adapter reads into its own error type.

use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

/// Why a call did not answer a readable 2xx.
#[derive(Debug)]
pub(crate) enum CallFailure {
    /// No connection, a time-out, a 5xx or a body that is not the expected JSON.
    Unavailable(String),
    /// A non-2xx, non-5xx answer with its body as text.
    Refused(StatusCode, String),
}

/// Sends `request` and reads a 2xx answer's body as `T`.
pub(crate) async fn json_call<T: DeserializeOwned>(
    request: RequestBuilder,
) -> Result<T, CallFailure> {
    let response = request
        .send()
        .await
        .map_err(|e| CallFailure::Unavailable(e.to_string()))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(CallFailure::Unavailable(format!("answered {status}")));
    }
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(CallFailure::Refused(status, text));
    }
    response
        .json()
        .await
        .map_err(|e| CallFailure::Unavailable(format!("unreadable answer: {e}")))
}
