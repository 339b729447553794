//! `Payment`: one attempt to pay an obligation (a traffic fine, a municipal tax) by card
//! through the bank's hosted page, as a state machine in the spirit of GOV.UK Pay.
//!
//! ```text
//!  created ──redirect──▶ redirected ──bank: captured──▶ succeeded
//!     │                     │ ├──bank: refused──▶ failed
//!     │                     │ ├──bank: cancelled──▶ cancelled
//!     │                     │ └──bank: error──▶ error
//!     └──expire──▶ expired ◀┘ (no answer by `expires_at`)
//!                     └──bank: captured (late) ──▶ succeeded
//!
//!  succeeded ──obligation settled by another payment──▶ succeeded, refund due
//!            ──a clerk records the refund made──▶ succeeded, refunded
//! ```
//!
//! Every transition is an event; an input that makes no sense in a state is refused with a
//! code (see the table test). Confirmations from the bank arrive at least once and in any
//! order (the browser's return, the bank's server-to-server notification, the
//! reconciler's status query): the same outcome again changes nothing and writes nothing;
//! a confirmation for another order, amount or currency is refused and changes nothing.
//! An expired payment that the bank reports captured becomes `succeeded`: the money was
//! taken, and the bank's word is the truth about that.
//!
//! The digest of a confirmation is verified by the bank adapter before a command is built;
//! this aggregate sees only verified confirmations.

use crate::Money;
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::request::StaffMember;
use crate::Refusal;

/// The version of every event shape below.
pub const EVENT_VERSION: &str = "1.0";

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Created,
    Redirected,
    Succeeded,
    Failed,
    Cancelled,
    Expired,
    Error,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 7] = [
        Self::Created,
        Self::Redirected,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Expired,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Redirected => "redirected",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Error => "error",
        }
    }

    /// The status written as [`as_str`](Self::as_str) writes it.
    pub fn parse(text: &str) -> Option<PaymentStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Final without money taken: a new attempt at the obligation may follow.
    pub fn took_no_money(self) -> bool {
        self.is_final() && self != Self::Succeeded
    }

    /// Nothing more happens to a payment in a final state (but see `Expired`).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Created | Self::Redirected)
    }
}

/// What is being paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    /// e.g. `traffic_fine`, `municipal_tax`.
    pub kind: String,
    /// The obligation's own id (a fine's number, a declaration's id): one obligation is
    /// paid once, which its own aggregate enforces.
    pub reference: String,
    /// What the receipt says was paid, in Greek.
    pub description: String,
}

/// Where a bank confirmation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationSource {
    /// The payer's browser coming back to `confirmUrl` / `cancelUrl`.
    BrowserReturn,
    /// The bank's server-to-server notification.
    Notification,
    /// The reconciler's status query.
    StatusQuery,
}

/// What the bank says happened (after the digest was verified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BankResult {
    Captured { tx_id: String, payment_ref: String },
    Refused { reason: String },
    Cancelled,
    Error { reason: String },
}

impl BankResult {
    fn status(&self) -> PaymentStatus {
        match self {
            Self::Captured { .. } => PaymentStatus::Succeeded,
            Self::Refused { .. } => PaymentStatus::Failed,
            Self::Cancelled => PaymentStatus::Cancelled,
            Self::Error { .. } => PaymentStatus::Error,
        }
    }
}

#[derive(Debug, Clone)]
pub enum PaymentCommand {
    Create {
        id: String,
        /// The order id sent to the bank (unique per payment attempt).
        order_id: String,
        obligation: Obligation,
        amount_cents: Money,
        currency: String,
        payer_account_id: String,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The payer confirmed the details and is sent to the bank's page.
    Redirect { at: DateTime<Utc> },
    /// A verified confirmation from the bank.
    Confirm {
        source: ConfirmationSource,
        order_id: String,
        /// As the bank reported them (absent on some cancellations).
        amount_cents: Option<Money>,
        currency: Option<String>,
        result: BankResult,
        at: DateTime<Utc>,
    },
    /// No answer came in time: the payment is abandoned (no money was taken, as far as
    /// the portal knows).
    Expire { at: DateTime<Utc> },
    /// The money this payment took is to be returned to the payer: its obligation refused
    /// it (`reason`, the obligation's refusal code: another payment had settled it). Only a
    /// captured payment; again changes nothing.
    MarkRefundDue { reason: String, at: DateTime<Utc> },
    /// A clerk records that the money of a payment whose refund was due has been returned
    /// (at the cashier's, by bank transfer), saying how in `note`.
    RecordRefund {
        clerk: StaffMember,
        note: String,
        at: DateTime<Utc>,
    },
}

/// The longest note a clerk writes on a refund.
pub const MAX_REFUND_NOTE_CHARS: usize = 500;

/// A refund's note as recorded (trimmed), or why it cannot be: empty, or longer than
/// [`MAX_REFUND_NOTE_CHARS`] once trimmed.
pub fn refund_note(note: &str) -> Result<String, Refusal> {
    let note = note.trim();
    if note.is_empty() {
        return Err(Refusal::invalid(
            "refund_note_required",
            "say how the money was returned (e.g. the cashier's receipt number)",
        ));
    }
    if note.chars().count() > MAX_REFUND_NOTE_CHARS {
        return Err(Refusal::invalid(
            "refund_note_too_long",
            "the note is longer than 500 characters",
        ));
    }
    Ok(note.to_string())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PaymentEvent {
    PaymentCreated {
        id: String,
        order_id: String,
        obligation: Obligation,
        amount_cents: Money,
        currency: String,
        payer_account_id: String,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    PaymentRedirected {
        at: DateTime<Utc>,
    },
    PaymentSucceeded {
        source: ConfirmationSource,
        tx_id: String,
        payment_ref: String,
        /// The payment had expired locally when the bank's capture arrived.
        after_expiry: bool,
        at: DateTime<Utc>,
    },
    PaymentFailed {
        source: ConfirmationSource,
        reason: String,
        at: DateTime<Utc>,
    },
    PaymentCancelled {
        source: ConfirmationSource,
        at: DateTime<Utc>,
    },
    PaymentErrored {
        source: ConfirmationSource,
        reason: String,
        at: DateTime<Utc>,
    },
    PaymentExpired {
        at: DateTime<Utc>,
    },
    /// The money taken is to be returned to the payer: the obligation was settled by
    /// another payment (`reason`: the obligation's refusal code, e.g.
    /// `fine_already_paid`). The refund itself is done by hand at the cashier's.
    PaymentRefundDue {
        reason: String,
        at: DateTime<Utc>,
    },
    /// A clerk returned the money of a payment whose refund was due, as `note` says.
    PaymentRefunded {
        clerk: StaffMember,
        note: String,
        at: DateTime<Utc>,
    },
}

impl PaymentEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::PaymentCreated { at, .. }
            | Self::PaymentRedirected { at }
            | Self::PaymentSucceeded { at, .. }
            | Self::PaymentFailed { at, .. }
            | Self::PaymentCancelled { at, .. }
            | Self::PaymentErrored { at, .. }
            | Self::PaymentExpired { at }
            | Self::PaymentRefundDue { at, .. }
            | Self::PaymentRefunded { at, .. } => *at,
        }
    }
}

impl DomainEvent for PaymentEvent {
    fn event_type(&self) -> String {
        match self {
            Self::PaymentCreated { .. } => "PaymentCreated",
            Self::PaymentRedirected { .. } => "PaymentRedirected",
            Self::PaymentSucceeded { .. } => "PaymentSucceeded",
            Self::PaymentFailed { .. } => "PaymentFailed",
            Self::PaymentCancelled { .. } => "PaymentCancelled",
            Self::PaymentErrored { .. } => "PaymentErrored",
            Self::PaymentExpired { .. } => "PaymentExpired",
            Self::PaymentRefundDue { .. } => "PaymentRefundDue",
            Self::PaymentRefunded { .. } => "PaymentRefunded",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

/// One payment, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub order_id: String,
    pub obligation: Option<Obligation>,
    pub amount_cents: Money,
    pub currency: String,
    pub payer_account_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub status: Option<PaymentStatus>,
    /// The outcome the bank reported (kept to recognise the same confirmation again).
    pub result: Option<BankResult>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Why the money is to be returned (the obligation's refusal), once it is.
    #[serde(default)]
    pub refund_due: Option<String>,
    /// When a clerk recorded the refund made.
    #[serde(default)]
    pub refunded_at: Option<DateTime<Utc>>,
}

impl Payment {
    fn exists(&self) -> Result<PaymentStatus, Refusal> {
        self.status
            .ok_or_else(|| Refusal::not_found("payment_not_found", "no such payment"))
    }

    /// The event a bank result calls for.
    fn settle(
        &self,
        source: ConfirmationSource,
        result: BankResult,
        after_expiry: bool,
        at: DateTime<Utc>,
    ) -> PaymentEvent {
        match result {
            BankResult::Captured { tx_id, payment_ref } => PaymentEvent::PaymentSucceeded {
                source,
                tx_id,
                payment_ref,
                after_expiry,
                at,
            },
            BankResult::Refused { reason } => PaymentEvent::PaymentFailed { source, reason, at },
            BankResult::Cancelled => PaymentEvent::PaymentCancelled { source, at },
            BankResult::Error { reason } => PaymentEvent::PaymentErrored { source, reason, at },
        }
    }
}

impl Aggregate for Payment {
    const TYPE: &'static str = "Payment";
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = Refusal;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            PaymentCommand::Create {
                id,
                order_id,
                obligation,
                amount_cents,
                currency,
                payer_account_id,
                expires_at,
                at,
            } => {
                if self.status.is_some() {
                    return Err(Refusal::rule(
                        "payment_exists",
                        "a payment with this id exists",
                    ));
                }
                if !amount_cents.is_positive() {
                    return Err(Refusal::invalid(
                        "amount_not_positive",
                        "a payment is of a positive amount",
                    ));
                }
                if expires_at <= at {
                    return Err(Refusal::invalid(
                        "expiry_in_the_past",
                        "a payment expires after it is created",
                    ));
                }
                PaymentEvent::PaymentCreated {
                    id,
                    order_id,
                    obligation,
                    amount_cents,
                    currency,
                    payer_account_id,
                    expires_at,
                    at,
                }
            }
            PaymentCommand::Redirect { at } => match self.exists()? {
                PaymentStatus::Created => {
                    if self.expires_at.is_some_and(|e| at >= e) {
                        return Err(Refusal::rule("payment_expired", "the payment has expired"));
                    }
                    PaymentEvent::PaymentRedirected { at }
                }
                PaymentStatus::Redirected => {
                    return Err(Refusal::rule(
                        "payment_already_redirected",
                        "the payer was already sent to the bank for this payment",
                    ))
                }
                _ => {
                    return Err(Refusal::rule(
                        "payment_settled",
                        "the payment is already settled",
                    ))
                }
            },
            PaymentCommand::Confirm {
                source,
                order_id,
                amount_cents,
                currency,
                result,
                at,
            } => {
                let status = self.exists()?;
                let amount_differs = amount_cents.is_some_and(|a| a != self.amount_cents);
                let currency_differs = currency.as_deref().is_some_and(|c| c != self.currency);
                if order_id != self.order_id || amount_differs || currency_differs {
                    return Err(Refusal::rule(
                        "confirmation_mismatch",
                        "the confirmation is for another order, amount or currency",
                    ));
                }
                match status {
                    PaymentStatus::Created => {
                        return Err(Refusal::rule(
                            "payment_not_started",
                            "the payer was never sent to the bank for this payment",
                        ))
                    }
                    PaymentStatus::Redirected => self.settle(source, result, false, at),
                    PaymentStatus::Expired if matches!(result, BankResult::Captured { .. }) => {
                        self.settle(source, result, true, at)
                    }
                    // The same outcome again (any source, any order): already applied.
                    _ if self.result.as_ref() == Some(&result) => return Ok(()),
                    // An expired payment the bank says it did not take: nothing to change.
                    PaymentStatus::Expired if result.status() != PaymentStatus::Succeeded => {
                        return Ok(())
                    }
                    _ => {
                        return Err(Refusal::rule(
                            "payment_settled",
                            "the payment is already settled with another outcome",
                        ))
                    }
                }
            }
            PaymentCommand::Expire { at } => match self.exists()? {
                PaymentStatus::Created | PaymentStatus::Redirected => {
                    if self.expires_at.is_some_and(|e| at < e) {
                        return Err(Refusal::rule(
                            "payment_not_expired",
                            "the payment has not reached its expiry",
                        ));
                    }
                    PaymentEvent::PaymentExpired { at }
                }
                _ => {
                    return Err(Refusal::rule(
                        "payment_settled",
                        "the payment is already settled",
                    ))
                }
            },
            PaymentCommand::MarkRefundDue { reason, at } => match self.exists()? {
                PaymentStatus::Succeeded if self.refund_due.is_some() => return Ok(()),
                PaymentStatus::Succeeded => PaymentEvent::PaymentRefundDue { reason, at },
                _ => {
                    return Err(Refusal::rule(
                        "payment_not_captured",
                        "only money the bank took can be returned",
                    ))
                }
            },
            PaymentCommand::RecordRefund { clerk, note, at } => {
                self.exists()?;
                let note = refund_note(&note)?;
                if self.refund_due.is_none() {
                    return Err(Refusal::rule(
                        "refund_not_due",
                        "no refund is due for this payment",
                    ));
                }
                if self.refunded_at.is_some() {
                    // Pressed twice: the refund is recorded once.
                    return Ok(());
                }
                PaymentEvent::PaymentRefunded { clerk, note, at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.updated_at = Some(event.at());
        match event {
            PaymentEvent::PaymentCreated {
                id,
                order_id,
                obligation,
                amount_cents,
                currency,
                payer_account_id,
                expires_at,
                at,
            } => {
                self.id = id;
                self.order_id = order_id;
                self.obligation = Some(obligation);
                self.amount_cents = amount_cents;
                self.currency = currency;
                self.payer_account_id = payer_account_id;
                self.expires_at = Some(expires_at);
                self.status = Some(PaymentStatus::Created);
                self.created_at = Some(at);
            }
            PaymentEvent::PaymentRedirected { .. } => {
                self.status = Some(PaymentStatus::Redirected);
            }
            PaymentEvent::PaymentSucceeded {
                tx_id, payment_ref, ..
            } => {
                self.status = Some(PaymentStatus::Succeeded);
                self.result = Some(BankResult::Captured { tx_id, payment_ref });
            }
            PaymentEvent::PaymentFailed { reason, .. } => {
                self.status = Some(PaymentStatus::Failed);
                self.result = Some(BankResult::Refused { reason });
            }
            PaymentEvent::PaymentCancelled { .. } => {
                self.status = Some(PaymentStatus::Cancelled);
                self.result = Some(BankResult::Cancelled);
            }
            PaymentEvent::PaymentErrored { reason, .. } => {
                self.status = Some(PaymentStatus::Error);
                self.result = Some(BankResult::Error { reason });
            }
            PaymentEvent::PaymentExpired { .. } => {
                self.status = Some(PaymentStatus::Expired);
            }
            PaymentEvent::PaymentRefundDue { reason, .. } => {
                self.refund_due = Some(reason);
            }
            PaymentEvent::PaymentRefunded { at, .. } => {
                self.refunded_at = Some(at);
            }
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
