//! Ports: what a command needs from systems the portal does not own. Adapters and
//! sandboxes implementing them live in the `commands` and `sandboxes` crates.

use crate::Money;
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

/// A payment to make at the bank: what the portal asks the payer to pay, and where the
/// bank sends the payer back. The portal never sees card data: the payer types it on the
/// bank's own page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentOrder {
    /// Unique per attempt at the bank (a retried payment gets a new order id).
    pub order_id: String,
    /// Positive; the bank sees it as decimal euros ("12.50").
    pub amount_cents: Money,
    /// ISO 4217, "EUR".
    pub currency: String,
    /// Shown to the payer on the bank's page.
    pub description: String,
    pub payer_email: Option<String>,
    /// The bank page's language: "el" or "en".
    pub lang: String,
    /// Where the bank returns the payer (and notifies the portal) after a payment that
    /// ended in success, refusal or error.
    pub confirm_url: String,
    /// Where the bank returns the payer who cancelled on its page.
    pub cancel_url: String,
}

/// A form the payer's browser submits (POST) to the bank: the portal renders it as an
/// auto-submitting form with a visible button. `fields` are in the order the bank expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// How a payment ended at the bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BankOutcome {
    /// The money was taken (VPOS `CAPTURED`, or `AUTHORIZED` for an authorisation that
    /// the bank captures by itself). `payment_ref` is the bank's reference the citizen
    /// sees on the receipt; `tx_id` the bank's transaction id.
    Captured { tx_id: String, payment_ref: String },
    /// The bank or the card issuer declined the card (VPOS `REFUSED`); no money taken.
    Refused { reason: String },
    /// The payer cancelled on the bank's page (VPOS `CANCELED`); no money taken.
    Cancelled,
    /// The bank failed to process the payment (VPOS `ERROR`); no money taken.
    Error { reason: String },
}

/// A bank answer (browser return, server notification or status query) whose signature
/// checked out. The caller must still match `order_id`, `amount_cents` and `currency`
/// against the payment it started: a genuine answer may belong to another order, and the
/// bank may leave the amount out of an answer (e.g. a cancel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedConfirmation {
    pub order_id: String,
    pub amount_cents: Option<Money>,
    pub currency: Option<String>,
    pub outcome: BankOutcome,
}

/// Why a bank answer is not to be believed. Every one of these changes nothing and is
/// worth logging: it is a forgery, a tampered answer or a broken bank.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfirmationError {
    #[error("the answer's digest does not match its fields")]
    ForgedDigest,
    #[error("the answer has no {0}")]
    MissingField(String),
    #[error("the answer is for another merchant ({0})")]
    UnknownMerchant(String),
    #[error("the answer is malformed: {0}")]
    Malformed(String),
}

/// Why the bank could not answer a status query. `Unavailable` (no connection, a
/// time-out, a 5xx) is worth retrying; `Rejected` means the bank refused the query or
/// answered something that does not verify.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GatewayError {
    #[error("the bank is unreachable: {0}")]
    Unavailable(String),
    #[error("the bank refused the query: {0}")]
    Rejected(String),
}

/// The bank's payment gateway: sends the payer to the bank's hosted card page, checks
/// what the bank answers, and asks the bank about an order (reconciliation).
#[async_trait]
pub trait BankGateway: Send + Sync {
    /// The signed form that takes the payer to the bank's card page. Pure: no I/O.
    fn redirect_form(&self, order: &PaymentOrder) -> RedirectForm;

    /// Checks the fields the bank posted (to the confirm/cancel URL, by the browser or
    /// server to server), in the order they arrived; unknown fields are ignored.
    fn verify_confirmation(
        &self,
        fields: &[(String, String)],
    ) -> Result<VerifiedConfirmation, ConfirmationError>;

    /// Asks the bank how an order ended. `Ok(None)` means the bank has no final outcome
    /// for it: it never saw the order (the payer never reached the bank) or the payer is
    /// still on its pages. After the payment's expiry a `None` means "abandoned, no money
    /// taken"; an answer that arrives later still wins (the caller applies it).
    async fn query_status(
        &self,
        order_id: &str,
    ) -> Result<Option<VerifiedConfirmation>, GatewayError>;
}

/// What the citizen typed from a traffic ticket (already checked against the
/// municipality's [`crate::fines::FinesConfig`]), to find the fine in the fines-management
/// system (Διαχείριση Κλήσεων) or register it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FineQuery {
    /// The municipality's code, in the configuration's canonical form.
    pub municipality_code: String,
    /// A fine type code from the configuration.
    pub fine_type: String,
    pub fine_number: crate::fines::FineNumber,
    pub plate: crate::fines::Plate,
    /// The offence's date and time as printed on the ticket (to the minute).
    pub offence_at: DateTime<Utc>,
}

/// Whether the fines system already had the fine or registered it for this query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FineOrigin {
    Found,
    Registered,
}

/// A payment the fines system has recorded against a fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FineSettlement {
    pub payment_ref: String,
    pub amount_cents: Money,
    pub paid_at: DateTime<Utc>,
}

/// A fine as the fines system holds it. Its amounts are authoritative: the portal charges
/// `amount_due_cents`, which holds until the end of `amount_valid_until` (a date in the
/// municipality's time zone; `None`: it does not change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FineRecord {
    pub fine_number: crate::fines::FineNumber,
    pub plate: crate::fines::Plate,
    pub fine_type: String,
    pub offence_at: DateTime<Utc>,
    pub base_cents: Money,
    pub amount_due_cents: Money,
    pub amount_valid_until: Option<chrono::NaiveDate>,
    pub origin: FineOrigin,
    /// `Some` once the fine is paid: nothing more is due.
    pub paid: Option<FineSettlement>,
}

/// Tells the fines system that a fine was paid through the bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinePaymentNotice {
    pub fine_number: crate::fines::FineNumber,
    /// The bank's reference of the payment (shown on the citizen's receipt).
    pub payment_ref: String,
    pub amount_cents: Money,
    /// Stable per payment (e.g. the Payment aggregate's id): a retried notice with the same
    /// key is accepted again and changes nothing.
    pub idempotency_key: String,
}

/// Why the fines system said no. Each case is final for that input: retrying the same
/// call will not change the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinesRejection {
    /// A fine with that number exists, but with another plate, type, time or municipality:
    /// a typing error on the ticket's details (or someone else's fine).
    DetailsMismatch,
    /// The fines system does not handle fines of that municipality code.
    MunicipalityCodeForeign,
    /// The fines system does not know that fine type (the configurations disagree).
    FineTypeUnknown,
    /// The offence is dated after the fines system's "now".
    OffenceInFuture,
    /// `mark_paid` for a fine already paid by another payment (another idempotency key).
    AlreadyPaid,
    /// `mark_paid` with a key already used for a different payment ref or amount.
    IdempotencyKeyReused,
    /// Any other refusal (a 4xx the contract does not name), with what the system said.
    Other(String),
}

impl FinesRejection {
    /// The refusal code for the pages and the translation files.
    pub fn refusal_code(&self) -> &'static str {
        match self {
            Self::DetailsMismatch => "fine_details_mismatch",
            Self::MunicipalityCodeForeign => "municipality_code_foreign",
            Self::FineTypeUnknown => "fine_type_not_payable",
            Self::OffenceInFuture => "offence_date_in_future",
            Self::AlreadyPaid => "fine_already_paid",
            Self::IdempotencyKeyReused => "fine_payment_key_reused",
            Self::Other(_) => "fine_rejected",
        }
    }
}

/// What can go wrong when talking to the fines system.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FinesError {
    /// No connection, a time-out, a 5xx, or an answer that does not follow the contract:
    /// nothing is known to have changed; retry later (`mark_paid` is safe to retry).
    #[error("the fines system is unreachable: {0}")]
    Unavailable(String),
    /// The fines system refused the call (see [`FinesRejection`]); do not retry as is.
    #[error("the fines system refused: {0:?}")]
    Rejected(FinesRejection),
    /// `mark_paid` named a fine number the fines system does not hold.
    #[error("the fines system has no such fine")]
    NotFound,
}

impl FinesError {
    /// The refusal a page shows for this error (codes for the translation files).
    pub fn to_refusal(&self) -> crate::Refusal {
        match self {
            Self::Unavailable(detail) => {
                crate::Refusal::unavailable("fines_system_unavailable", detail.clone())
            }
            Self::Rejected(FinesRejection::Other(detail)) => {
                crate::Refusal::rule("fine_rejected", detail.clone())
            }
            Self::Rejected(rejection) => {
                crate::Refusal::rule(rejection.refusal_code(), format!("{rejection:?}"))
            }
            Self::NotFound => crate::Refusal::not_found("fine_not_found", "no such fine"),
        }
    }
}

/// The fines-management system (Διαχείριση Κλήσεων).
#[async_trait]
pub trait FinesSystem: Send + Sync {
    /// Finds the fine with the query's number (its details must match), or registers it
    /// anew and computes its amount. Answers the fine with the amount due now.
    async fn find_or_register(&self, query: &FineQuery) -> Result<FineRecord, FinesError>;

    /// Records that a fine was paid. Idempotent by `notice.idempotency_key`.
    async fn mark_paid(&self, notice: &FinePaymentNotice) -> Result<(), FinesError>;
}

/// The time a use case acts at. The system clock in the portal; a test may hold time still
/// or move it (e.g. past a quote's validity) without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock, to the microsecond: the precision PostgreSQL keeps, so a time an
/// event carries is the time a read model stores from it, whichever way it is written
/// (a bound parameter truncates nanoseconds, a JSON text is rounded).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that stands still until it is moved: tests (and rehearsals) run the real portal
/// at a time of their choosing and move it past a deadline without sleeping. Clones share
/// the one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `at`.
    pub fn at(at: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: std::sync::Arc::new(std::sync::Mutex::new(at)),
        }
    }

    /// Moves the clock `by` forward (backward, if `by` is negative).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_system_clock_reads_to_the_microsecond() {
        for _ in 0..100 {
            assert_eq!(SystemClock.now().timestamp_subsec_nanos() % 1_000, 0);
        }
    }

    #[test]
    fn a_manual_clock_stands_still_until_moved_and_clones_share_it() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        let clock = ManualClock::at(t0);
        let shared = clock.clone();
        assert_eq!(clock.now(), t0);
        assert_eq!(clock.now(), t0);
        shared.advance(chrono::Duration::minutes(31));
        assert_eq!(clock.now(), t0 + chrono::Duration::minutes(31));
    }
}
