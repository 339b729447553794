//! Ports: what a command needs from systems the portal does not own. Adapters and
//! sandboxes implementing them live in the `commands` and `sandboxes` crates.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A document to register in the municipality's electronic protocol (e.g. ΙΡΙΔΑ).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProtocolDocument {
    /// Makes a retried registration return the same number instead of a new one.
    pub idempotency_key: String,
    pub subject: String,
    pub sender: String,
    pub case_number: String,
}

/// What the protocol system answers: the protocol number and its date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolReceipt {
    pub protocol_number: String,
    pub registered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("the protocol system is unreachable: {0}")]
    Unavailable(String),
    #[error("the protocol system refused the document: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait ProtocolSystem: Send + Sync {
    async fn register(&self, document: &ProtocolDocument)
        -> Result<ProtocolReceipt, ProtocolError>;
}

/// An e-mail to send. `message_id` is stable per notice (e.g. "<event-uuid@portal.local>")
/// so a resend after a crash is recognisable as the same message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailMessage {
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub message_id: String,
}

/// Why a message was not sent. `Unavailable` (no connection, a time-out, a 4xx temporary
/// reply) is worth retrying; `Rejected` (a 5xx permanent reply, e.g. a malformed
/// recipient) is not.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MailError {
    #[error("the mail server is unreachable: {0}")]
    Unavailable(String),
    #[error("the mail server refused the message: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError>;
}
