//! Settling one obligation (a traffic fine, a tax debt, a tax declaration) by card: the
//! small state machine its aggregate shares with the others — reserved for one payment at
//! a time, paid by one of its payments, released when that payment took no money, and the
//! external system (fines or revenue) told. The rules decide here; the aggregates keep
//! their own events, fields and refusal codes.
//!
//! The transitions (every other input is refused or changes nothing; see the table test):
//!
//! - unreserved → reserved(p): a payment `p` starts.
//! - reserved(p) → reserved(q): `q` starts once `p` ended without money, or expired
//!   without a word; `p` is released first (where the aggregate records releases).
//! - reserved(p) → released(p): `p` ended without money; released(p) → reserved(q).
//! - unpaid → paid(p): the bank captured a payment the obligation knows — also after a
//!   release, or when superseded: the bank's word about the money stands.
//! - paid(p) → told: the external system recorded it; paid(p) → refused: it refused the
//!   notice for good; refused → told: it recorded it after all; refused → not yet told: a
//!   clerk has the notice sent again (not once it is recorded).
//!
//! The aggregate shows the machine its state through [`Payable::settlement`] and asks
//! [`Payable::decide`] before it writes an event; what the decision allows is written as
//! the aggregate's own event and folded by its `apply` into the fields that
//! [`Payable::settlement`] reads back.

use crate::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::payment::PaymentStatus;
use crate::Refusal;

/// The payment that settled an obligation (the fold of its "paid" event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    pub payment_id: String,
    pub payment_ref: String,
    pub amount_cents: Money,
    pub at: DateTime<Utc>,
}

/// Why a reservation was released: its payment did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The bank refused the card.
    PaymentDeclined,
    /// The payer cancelled at the bank.
    PaymentCancelled,
    /// No answer from the bank before the payment's expiry (or it was never started).
    PaymentExpired,
    /// The bank reported an error.
    PaymentError,
}

impl ReleaseReason {
    /// Also the message code of the translation files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentDeclined => "payment_declined",
            Self::PaymentCancelled => "payment_cancelled",
            Self::PaymentExpired => "payment_expired",
            Self::PaymentError => "payment_error",
        }
    }

    /// The reason of a payment that ended in `status` without taking money (`None` for a
    /// payment that succeeded or is still open).
    pub fn of_status(status: PaymentStatus) -> Option<Self> {
        match status {
            PaymentStatus::Failed => Some(Self::PaymentDeclined),
            PaymentStatus::Cancelled => Some(Self::PaymentCancelled),
            PaymentStatus::Expired => Some(Self::PaymentExpired),
            PaymentStatus::Error => Some(Self::PaymentError),
            PaymentStatus::Created | PaymentStatus::Redirected | PaymentStatus::Succeeded => None,
        }
    }
}

/// Whether the external system (fines, revenue) has been told of the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    NotYet,
    /// It recorded the payment (also after an earlier refusal: a clerk fixed it).
    Notified,
    /// It refused the notice for good: a clerk must look.
    Refused,
}

impl Told {
    /// From the pair of fields the aggregates keep.
    pub fn of(notified: bool, refused: bool) -> Self {
        match (notified, refused) {
            (true, _) => Self::Notified,
            (false, true) => Self::Refused,
            (false, false) => Self::NotYet,
        }
    }

    /// `pending`, `notified` or `refused`, as the answers and pages say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotYet => "pending",
            Self::Notified => "notified",
            Self::Refused => "refused",
        }
    }
}

/// Where an obligation's settlement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage<'a> {
    /// No payment holds the obligation (none ever started).
    Unreserved,
    /// Payment `payment_id` holds it until it ends or `expires_at` passes without a word.
    Reserved {
        payment_id: &'a str,
        expires_at: DateTime<Utc>,
    },
    /// Payment `payment_id` held it and ended without money; a new one may start.
    Released { payment_id: &'a str },
    /// Payment `payment_id` settled it.
    Paid { payment_id: &'a str, told: Told },
}

/// An obligation's settlement as the machine sees it, read from its aggregate's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement<'a> {
    pub stage: Stage<'a>,
    /// The payments that may settle the obligation: every payment started for it (a late
    /// capture of a superseded one still pays), or only the latest where each attempt is
    /// a unit of its own (a declaration's filing).
    pub known_payments: &'a [String],
}

impl<'a> Settlement<'a> {
    /// The settlement of an obligation that keeps the paying payment (`paid`), the latest
    /// payment started (`open`: its id and expiry), whether the other system was told or
    /// refused, and every payment started (`payments`): a traffic fine, a certified debt.
    pub fn of_fields(
        paid: Option<&'a Settled>,
        open: Option<(&'a str, DateTime<Utc>)>,
        told: Told,
        payments: &'a [String],
    ) -> Self {
        let stage = match (paid, open) {
            (Some(paid), _) => Stage::Paid {
                payment_id: &paid.payment_id,
                told,
            },
            (None, Some((payment_id, expires_at))) => Stage::Reserved {
                payment_id,
                expires_at,
            },
            (None, None) => Stage::Unreserved,
        };
        Self {
            stage,
            known_payments: payments,
        }
    }
}

/// What happened, or what is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A new payment wants to reserve the obligation. `open_payment` is the status of a
    /// payment as its own aggregate reports it (`None`: not looked up, or that payment was
    /// never created); it counts only if it is the reservation's payment.
    Reserve {
        open_payment: Option<&'a (String, PaymentStatus)>,
        at: DateTime<Utc>,
    },
    /// The bank captured `payment_id`.
    Paid { payment_id: &'a str },
    /// `payment_id` ended without money.
    NotCompleted {
        payment_id: &'a str,
        reason: ReleaseReason,
    },
    /// The external system recorded the payment `payment_id`.
    Notified { payment_id: &'a str },
    /// The external system refused the notice of `payment_id` for good.
    NoticeRefused { payment_id: &'a str },
    /// A clerk has the refused notice of `payment_id` sent again (the other system's
    /// records were put right, say).
    RetryNotice { payment_id: &'a str },
}

/// What the aggregate is to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Reserve the obligation for the new payment, once `release` (if any) is recorded:
    /// the current reservation, whose payment ended without money or expired. An
    /// aggregate without a "released" event lets the new reservation replace the old.
    Reserve {
        release: Option<Release>,
    },
    /// Record the obligation paid by the input's payment.
    RecordPaid,
    /// Record the reservation released (the input's payment ended without money).
    RecordReleased,
    RecordNotified,
    RecordNoticeRefused,
    /// Record that the refused notice is to be sent again: told becomes "not yet".
    RecordNoticeRetried,
    /// Nothing to record: the same input again, or news of a payment already superseded.
    Unchanged,
}

/// A reservation to release before a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub payment_id: String,
    pub reason: ReleaseReason,
}

/// An aggregate settled through this machine: it shows its state and names its refusals
/// (each aggregate keeps its own codes, with their messages).
pub trait Payable {
    fn settlement(&self) -> Settlement<'_>;
    /// Paid already (here, or at the bank by the reservation's payment).
    fn already_paid() -> Refusal;
    /// The reservation's payment is still under way.
    fn payment_in_progress() -> Refusal;
    /// A payment this obligation does not know.
    fn unknown_payment() -> Refusal;
    /// News of the external system about a payment that did not settle the obligation.
    fn not_paid_by_payment() -> Refusal;
    /// A retry of a notice that the other system recorded: one code for every obligation.
    fn notice_not_refused() -> Refusal {
        Refusal::rule(
            "notice_not_refused",
            "only a notice the other system refused can be sent again",
        )
    }

    fn decide(&self, input: Input<'_>) -> Result<Decision, Refusal>
    where
        Self: Sized,
    {
        decide::<Self>(self.settlement(), input)
    }

    /// May a new payment reserve the obligation? `Ok(Some(release))`: yes, once the
    /// current reservation is released for `release.reason`.
    fn reserve(
        &self,
        open_payment: Option<&(String, PaymentStatus)>,
        at: DateTime<Utc>,
    ) -> Result<Option<Release>, Refusal>
    where
        Self: Sized,
    {
        match self.decide(Input::Reserve { open_payment, at })? {
            Decision::Reserve { release } => Ok(release),
            other => unreachable!("a reservation decided as {other:?}"),
        }
    }

    /// Whether `input` is to be recorded (`Ok(false)`: it changes nothing).
    fn records(&self, input: Input<'_>) -> Result<bool, Refusal>
    where
        Self: Sized,
    {
        Ok(self.decide(input)? != Decision::Unchanged)
    }

    /// Refused once paid: the check an aggregate makes before its own, ahead of
    /// [`Payable::reserve`].
    fn ensure_unpaid(&self) -> Result<(), Refusal>
    where
        Self: Sized,
    {
        match self.settlement().stage {
            Stage::Paid { .. } => Err(Self::already_paid()),
            _ => Ok(()),
        }
    }
}

/// The machine: what `input` does to an obligation in `settlement`, in `P`'s words.
pub fn decide<P: Payable>(
    settlement: Settlement<'_>,
    input: Input<'_>,
) -> Result<Decision, Refusal> {
    let known = |id: &str| settlement.known_payments.iter().any(|k| k == id);
    match (settlement.stage, input) {
        (Stage::Paid { .. }, Input::Reserve { .. }) => Err(P::already_paid()),
        (Stage::Unreserved, Input::Reserve { .. }) => Ok(Decision::Reserve { release: None }),
        (Stage::Released { payment_id }, Input::Reserve { open_payment, .. }) => {
            // Released, but the bank took the money after all: paid, not free.
            match reported(open_payment, payment_id) {
                Some(PaymentStatus::Succeeded) => Err(P::already_paid()),
                _ => Ok(Decision::Reserve { release: None }),
            }
        }
        (
            Stage::Reserved {
                payment_id,
                expires_at,
            },
            Input::Reserve { open_payment, at },
        ) => {
            let reason = match reported(open_payment, payment_id) {
                Some(PaymentStatus::Succeeded) => return Err(P::already_paid()),
                Some(status) => {
                    ReleaseReason::of_status(status).ok_or_else(P::payment_in_progress)?
                }
                // Reserved but the payment never created (a crash between the two): free
                // once the reservation expired.
                None if at >= expires_at => ReleaseReason::PaymentExpired,
                None => return Err(P::payment_in_progress()),
            };
            Ok(Decision::Reserve {
                release: Some(Release {
                    payment_id: payment_id.to_string(),
                    reason,
                }),
            })
        }

        (Stage::Paid { payment_id: by, .. }, Input::Paid { payment_id }) => {
            if by == payment_id {
                Ok(Decision::Unchanged)
            } else {
                Err(P::already_paid())
            }
        }
        (_, Input::Paid { payment_id }) if !known(payment_id) => Err(P::unknown_payment()),
        // Also after a release: the bank's word about the money stands.
        (_, Input::Paid { .. }) => Ok(Decision::RecordPaid),

        (Stage::Paid { .. }, Input::NotCompleted { .. }) => Err(P::already_paid()),
        (_, Input::NotCompleted { payment_id, .. }) if !known(payment_id) => {
            Err(P::unknown_payment())
        }
        (Stage::Reserved { payment_id: by, .. }, Input::NotCompleted { payment_id, .. })
            if by == payment_id =>
        {
            Ok(Decision::RecordReleased)
        }
        // Released already, or a payment no longer holding the reservation.
        (_, Input::NotCompleted { .. }) => Ok(Decision::Unchanged),

        (
            Stage::Paid {
                payment_id: by,
                told,
            },
            Input::Notified { payment_id },
        ) if by == payment_id => Ok(match told {
            Told::Notified => Decision::Unchanged,
            Told::NotYet | Told::Refused => Decision::RecordNotified,
        }),
        (
            Stage::Paid {
                payment_id: by,
                told,
            },
            Input::NoticeRefused { payment_id },
        ) if by == payment_id => Ok(match told {
            Told::NotYet => Decision::RecordNoticeRefused,
            Told::Notified | Told::Refused => Decision::Unchanged,
        }),
        (
            Stage::Paid {
                payment_id: by,
                told,
            },
            Input::RetryNotice { payment_id },
        ) if by == payment_id => match told {
            Told::Refused => Ok(Decision::RecordNoticeRetried),
            // Sent again already (a retry whose outbox step did not happen is repeated).
            Told::NotYet => Ok(Decision::Unchanged),
            Told::Notified => Err(P::notice_not_refused()),
        },
        (_, Input::Notified { .. } | Input::NoticeRefused { .. } | Input::RetryNotice { .. }) => {
            Err(P::not_paid_by_payment())
        }
    }
}

/// The reported status, if it is of `payment_id`.
fn reported(
    open_payment: Option<&(String, PaymentStatus)>,
    payment_id: &str,
) -> Option<PaymentStatus> {
    open_payment
        .filter(|(id, _)| id == payment_id)
        .map(|(_, status)| *status)
}

#[cfg(test)]
mod table_tests;
