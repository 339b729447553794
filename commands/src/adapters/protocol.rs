//! The HTTP adapter to the electronic protocol system (contract in `docs/api.md`,
//! "Protocol system"). The sandbox in the `sandboxes` crate speaks the same contract.
//!
//! `POST {base}/api/v1/documents` with `{idempotency_key, subject, sender, case_number}`
//! answers `201` (or `200` for a repeated key) with `{protocol_number, registered_at}`.
//! A 5xx, a time-out or no answer means "unavailable, try later"; a 4xx means the system
//! refused the document.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{ProtocolDocument, ProtocolError, ProtocolReceipt, ProtocolSystem};
use serde::Deserialize;

use super::http::{json_call, CallFailure};

pub struct HttpProtocolSystem {
    base_url: String,
    client: reqwest::Client,
}

impl HttpProtocolSystem {
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a reqwest client with a timeout always builds");
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            client,
        }
    }
}

#[derive(Deserialize)]
struct ReceiptBody {
    protocol_number: String,
    registered_at: DateTime<Utc>,
}

#[async_trait]
impl ProtocolSystem for HttpProtocolSystem {
    async fn register(
        &self,
        document: &ProtocolDocument,
    ) -> Result<ProtocolReceipt, ProtocolError> {
        let url = format!("{}/api/v1/documents", self.base_url);
        let request = self
            .client
            .post(&url)
            .header("Idempotency-Key", &document.idempotency_key)
            .json(document);
        let body: ReceiptBody = json_call(request).await.map_err(|failure| match failure {
            CallFailure::Unavailable(why) => ProtocolError::Unavailable(why),
            CallFailure::Refused(status, body) => {
                ProtocolError::Rejected(format!("answered {status}: {body}"))
            }
        })?;
        Ok(ProtocolReceipt {
            protocol_number: body.protocol_number,
            registered_at: body.registered_at,
        })
    }
}
