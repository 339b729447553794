//! `TaxDebt`: one certified municipal-tax debt (βεβαιωμένη οφειλή) of a business, from the
//! portal's side (stream id `{afm}-{debt_id}`, see [`tax_debt_id`]): the payments started
//! for it — each from the debt's data as the revenue system had just answered them —, the
//! payment that settled it, and whether the revenue system was told.
//!
//! A debt is paid once. A payment starts only while no other payment of the debt is still
//! open (a second tab, a double click: refused until the first one is final), never once
//! the debt is paid (here, or in the revenue system: the caller refuses those before
//! asking). Two starts racing on the stream are decided by optimistic concurrency: only
//! one `TaxDebtPaymentStarted` is written; the loser is retried against the fresh state and
//! refused. The payment rules are the shared [`settlement`](crate::settlement) machine's.

use crate::Money;
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::payment::PaymentStatus;
use crate::request::StaffMember;
use crate::settlement::{self, Input, Payable, Settlement, Told};
use crate::Refusal;

pub const EVENT_VERSION: &str = "1.0";

/// The stream id of a debt: `{afm}-{debt_id}`.
pub fn tax_debt_id(afm: &str, debt_id: &str) -> String {
    format!("{afm}-{debt_id}")
}

/// The debt as the revenue system answered it when a payment started (amounts as of
/// `amount_as_of`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebtSnapshot {
    pub debt_id: String,
    pub afm: String,
    pub description: String,
    pub certified_on: NaiveDate,
    pub principal_cents: Money,
    pub surcharge_cents: Money,
    pub amount_due_cents: Money,
    pub amount_as_of: NaiveDate,
}

#[derive(Debug, Clone)]
pub enum TaxDebtCommand {
    /// Reserves the debt for the new payment `payment_id` of `debt.amount_due_cents`.
    /// `debt` is what the revenue system has just answered (unpaid there). `open_payment`
    /// is the status of the debt's open payment as its own aggregate reports it (`None`:
    /// not looked up, or that payment was never created).
    StartPayment {
        debt: Box<DebtSnapshot>,
        payment_id: String,
        payer_account_id: String,
        expires_at: DateTime<Utc>,
        open_payment: Option<(String, PaymentStatus)>,
        at: DateTime<Utc>,
    },
    /// The bank captured payment `payment_id` (a payment started for this debt).
    RecordPaid {
        payment_id: String,
        payment_ref: String,
        amount_cents: Money,
        at: DateTime<Utc>,
    },
    /// The revenue system accepted the notice of payment `payment_id`.
    RecordRevenueSystemNotified {
        payment_id: String,
        at: DateTime<Utc>,
    },
    /// The revenue system refused the notice for good (`code`): a clerk must look.
    RecordRevenueSystemRefused {
        payment_id: String,
        code: String,
        at: DateTime<Utc>,
    },
    /// Clerk `clerk` has the refused notice of payment `payment_id` sent again.
    RetryRevenueSystemNotice {
        payment_id: String,
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaxDebtEvent {
    /// A payment of the debt began: the debt's data as the revenue system answered them,
    /// and the amount the payment charges (the amount due then).
    TaxDebtPaymentStarted {
        debt: Box<DebtSnapshot>,
        payment_id: String,
        amount_cents: Money,
        payer_account_id: String,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The bank captured a payment of the debt: it is paid.
    TaxDebtPaid {
        payment_id: String,
        payment_ref: String,
        amount_cents: Money,
        at: DateTime<Utc>,
    },
    /// The revenue system recorded the payment.
    RevenueSystemNotified {
        payment_id: String,
        at: DateTime<Utc>,
    },
    /// The revenue system refused the payment's notice for good.
    RevenueSystemRefusedNotice {
        payment_id: String,
        code: String,
        at: DateTime<Utc>,
    },
    /// A clerk had the refused notice sent again: the revenue system is not yet told.
    RevenueSystemNoticeRetried {
        payment_id: String,
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for TaxDebtEvent {
    fn event_type(&self) -> String {
        match self {
            Self::TaxDebtPaymentStarted { .. } => "TaxDebtPaymentStarted",
            Self::TaxDebtPaid { .. } => "TaxDebtPaid",
            Self::RevenueSystemNotified { .. } => "RevenueSystemNotified",
            Self::RevenueSystemRefusedNotice { .. } => "RevenueSystemRefusedNotice",
            Self::RevenueSystemNoticeRetried { .. } => "RevenueSystemNoticeRetried",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenDebtPayment {
    pub payment_id: String,
    pub amount_cents: Money,
    pub expires_at: DateTime<Utc>,
}

/// The payment that settled the debt.
pub type DebtSettled = settlement::Settled;

/// One debt, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxDebt {
    /// The debt as of the latest payment started.
    pub debt: Option<DebtSnapshot>,
    /// The latest payment started (it stays after it ends; a new one replaces it).
    pub open_payment: Option<OpenDebtPayment>,
    /// Every payment started for the debt, oldest first.
    pub payments: Vec<String>,
    pub paid: Option<DebtSettled>,
    pub revenue_system_notified: bool,
    pub revenue_system_refusal: Option<String>,
}

/// What the portal knows of a debt beyond what the revenue system says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebtPortalState {
    /// Nothing started, or every attempt ended without taking money.
    None,
    /// A payment is open (at the bank, or not yet final).
    InProgress { payment_id: String },
    /// Paid through the portal; `told`: whether the revenue system was told of it.
    Paid {
        payment_id: String,
        payment_ref: String,
        amount_cents: Money,
        at: DateTime<Utc>,
        told: Told,
    },
}

/// Where a debt's latest payment stands, as the payments read model reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFacts {
    pub payment_id: String,
    pub status: PaymentStatus,
    /// The bank's reference, when the bank captured the payment.
    pub captured_ref: Option<String>,
    pub amount_cents: Money,
    /// When the payment last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The portal's side of a debt, from what its events say and where its latest payment
/// stands. `paid`: the payment recorded as settling it; `told`: whether the revenue system
/// was told of it; `reserved`: the latest payment started (id and expiry); `open`: that
/// payment's own state. A payment the bank captured counts as paid even before the notifier
/// recorded it on the debt; a payment never created is open until it expires.
pub fn portal_state(
    paid: Option<&DebtSettled>,
    told: Told,
    reserved: Option<(&str, DateTime<Utc>)>,
    open: Option<&PaymentFacts>,
    now: DateTime<Utc>,
) -> DebtPortalState {
    if let Some(paid) = paid {
        return DebtPortalState::Paid {
            payment_id: paid.payment_id.clone(),
            payment_ref: paid.payment_ref.clone(),
            amount_cents: paid.amount_cents,
            at: paid.at,
            told,
        };
    }
    let Some((payment_id, expires_at)) = reserved else {
        return DebtPortalState::None;
    };
    let payment = open.filter(|p| p.payment_id == payment_id);
    if let Some(PaymentFacts {
        captured_ref: Some(payment_ref),
        amount_cents,
        updated_at,
        ..
    }) = payment
    {
        return DebtPortalState::Paid {
            payment_id: payment_id.to_string(),
            payment_ref: payment_ref.clone(),
            amount_cents: *amount_cents,
            at: updated_at.unwrap_or(now),
            told: Told::NotYet,
        };
    }
    let open_now = match payment {
        Some(payment) => !payment.status.is_final(),
        None => now < expires_at,
    };
    if open_now {
        DebtPortalState::InProgress {
            payment_id: payment_id.to_string(),
        }
    } else {
        DebtPortalState::None
    }
}

/// The refusal codes of this aggregate (each has el/en messages).
pub mod codes {
    pub const ALREADY_PAID: &str = "debt_already_paid";
    pub const PAYMENT_IN_PROGRESS: &str = "debt_payment_in_progress";
    pub const NOTHING_DUE: &str = "debt_nothing_due";
    pub const OTHER_DEBT: &str = "debt_mismatch";
    pub const NOT_PAID_BY_PAYMENT: &str = "debt_not_paid_by_payment";
    pub const UNKNOWN_PAYMENT: &str = "debt_payment_unknown";
}

impl Payable for TaxDebt {
    fn settlement(&self) -> Settlement<'_> {
        Settlement::of_fields(
            self.paid.as_ref(),
            self.open_payment
                .as_ref()
                .map(|open| (open.payment_id.as_str(), open.expires_at)),
            Told::of(
                self.revenue_system_notified,
                self.revenue_system_refusal.is_some(),
            ),
            &self.payments,
        )
    }
    fn already_paid() -> Refusal {
        Refusal::rule("debt_already_paid", "this debt is already paid")
    }
    fn payment_in_progress() -> Refusal {
        Refusal::rule(
            "debt_payment_in_progress",
            "a payment of this debt is in progress: finish it or wait until it ends",
        )
    }
    fn unknown_payment() -> Refusal {
        Refusal::rule(
            "debt_payment_unknown",
            "this payment was not started for this debt",
        )
    }
    fn not_paid_by_payment() -> Refusal {
        Refusal::rule(
            "debt_not_paid_by_payment",
            "this payment did not settle the debt",
        )
    }
}

impl Aggregate for TaxDebt {
    const TYPE: &'static str = "TaxDebt";
    type Command = TaxDebtCommand;
    type Event = TaxDebtEvent;
    type Error = Refusal;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            TaxDebtCommand::StartPayment {
                debt,
                payment_id,
                payer_account_id,
                expires_at,
                open_payment,
                at,
            } => {
                self.ensure_unpaid()?;
                if let Some(known) = &self.debt {
                    if known.debt_id != debt.debt_id || known.afm != debt.afm {
                        return Err(Refusal::invalid(
                            "debt_mismatch",
                            "the debt's data are of another debt",
                        ));
                    }
                }
                if !debt.amount_due_cents.is_positive() {
                    return Err(Refusal::rule(
                        "debt_nothing_due",
                        "the revenue system has nothing due on this debt",
                    ));
                }
                // A debt records no release: the new reservation replaces the old one.
                self.reserve(open_payment.as_ref(), at)?;
                TaxDebtEvent::TaxDebtPaymentStarted {
                    amount_cents: debt.amount_due_cents,
                    debt,
                    payment_id,
                    payer_account_id,
                    expires_at,
                    at,
                }
            }
            TaxDebtCommand::RecordPaid {
                payment_id,
                payment_ref,
                amount_cents,
                at,
            } => {
                if !self.records(Input::Paid {
                    payment_id: &payment_id,
                })? {
                    return Ok(());
                }
                TaxDebtEvent::TaxDebtPaid {
                    payment_id,
                    payment_ref,
                    amount_cents,
                    at,
                }
            }
            TaxDebtCommand::RecordRevenueSystemNotified { payment_id, at } => {
                if !self.records(Input::Notified {
                    payment_id: &payment_id,
                })? {
                    return Ok(());
                }
                TaxDebtEvent::RevenueSystemNotified { payment_id, at }
            }
            TaxDebtCommand::RecordRevenueSystemRefused {
                payment_id,
                code,
                at,
            } => {
                if !self.records(Input::NoticeRefused {
                    payment_id: &payment_id,
                })? {
                    return Ok(());
                }
                TaxDebtEvent::RevenueSystemRefusedNotice {
                    payment_id,
                    code,
                    at,
                }
            }
            TaxDebtCommand::RetryRevenueSystemNotice {
                payment_id,
                clerk,
                at,
            } => {
                if !self.records(Input::RetryNotice {
                    payment_id: &payment_id,
                })? {
                    return Ok(());
                }
                TaxDebtEvent::RevenueSystemNoticeRetried {
                    payment_id,
                    clerk,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            TaxDebtEvent::TaxDebtPaymentStarted {
                debt,
                payment_id,
                amount_cents,
                expires_at,
                ..
            } => {
                self.debt = Some(*debt);
                self.payments.push(payment_id.clone());
                self.open_payment = Some(OpenDebtPayment {
                    payment_id,
                    amount_cents,
                    expires_at,
                });
            }
            TaxDebtEvent::TaxDebtPaid {
                payment_id,
                payment_ref,
                amount_cents,
                at,
            } => {
                self.paid = Some(DebtSettled {
                    payment_id,
                    payment_ref,
                    amount_cents,
                    at,
                });
            }
            TaxDebtEvent::RevenueSystemNotified { .. } => self.revenue_system_notified = true,
            TaxDebtEvent::RevenueSystemRefusedNotice { code, .. } => {
                self.revenue_system_refusal = Some(code)
            }
            TaxDebtEvent::RevenueSystemNoticeRetried { .. } => self.revenue_system_refusal = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use cqrs_es::test::TestFramework;

    use super::*;

    type Given = TestFramework<TaxDebt>;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
    }

    fn snapshot(debt_id: &str, due: i64) -> Box<DebtSnapshot> {
        Box::new(DebtSnapshot {
            debt_id: debt_id.into(),
            afm: "094259216".into(),
            description: "Δημοτικός φόρος 0,5% — 2ο τρίμηνο 2025".into(),
            certified_on: NaiveDate::from_ymd_opt(2025, 10, 14).unwrap(),
            principal_cents: Money::from_cents(18_240),
            surcharge_cents: Money::from_cents(due - 18_240),
            amount_due_cents: Money::from_cents(due),
            amount_as_of: NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
        })
    }

    fn start(payment: &str, open: Option<(&str, PaymentStatus)>, minutes: i64) -> TaxDebtCommand {
        start_with(snapshot("DF-1", 20_794), payment, open, minutes)
    }

    fn start_with(
        debt: Box<DebtSnapshot>,
        payment: &str,
        open: Option<(&str, PaymentStatus)>,
        minutes: i64,
    ) -> TaxDebtCommand {
        TaxDebtCommand::StartPayment {
            debt,
            payment_id: payment.into(),
            payer_account_id: "acc".into(),
            expires_at: t0() + Duration::minutes(minutes + 30),
            open_payment: open.map(|(id, s)| (id.to_string(), s)),
            at: t0() + Duration::minutes(minutes),
        }
    }

    fn started(payment: &str, minutes: i64) -> TaxDebtEvent {
        TaxDebtEvent::TaxDebtPaymentStarted {
            debt: snapshot("DF-1", 20_794),
            payment_id: payment.into(),
            amount_cents: Money::from_cents(20_794),
            payer_account_id: "acc".into(),
            expires_at: t0() + Duration::minutes(minutes + 30),
            at: t0() + Duration::minutes(minutes),
        }
    }

    fn paid(payment: &str) -> TaxDebtEvent {
        TaxDebtEvent::TaxDebtPaid {
            payment_id: payment.into(),
            payment_ref: "REF".into(),
            amount_cents: Money::from_cents(20_794),
            at: t0(),
        }
    }

    fn run(
        given: Vec<TaxDebtEvent>,
        command: TaxDebtCommand,
    ) -> Result<Vec<TaxDebtEvent>, Refusal> {
        Given::with(()).given(given).when(command).inspect_result()
    }

    fn refused(result: Result<Vec<TaxDebtEvent>, Refusal>) -> &'static str {
        result.unwrap_err().code
    }

    #[test]
    fn stream_ids_and_event_names() {
        assert_eq!(tax_debt_id("094259216", "DF-1"), "094259216-DF-1");
        assert_eq!(started("p1", 0).event_type(), "TaxDebtPaymentStarted");
        assert_eq!(paid("p1").event_version(), "1.0");
    }

    #[test]
    fn a_payment_starts_from_the_debts_current_amount() {
        assert_eq!(
            run(vec![], start("p1", None, 1)).unwrap(),
            vec![started("p1", 1)]
        );
        // A later attempt carries the amount as of then.
        let later = run(
            vec![started("p1", 1)],
            start_with(
                snapshot("DF-1", 21_000),
                "p2",
                Some(("p1", PaymentStatus::Failed)),
                2,
            ),
        )
        .unwrap();
        assert!(matches!(
            &later[..],
            [TaxDebtEvent::TaxDebtPaymentStarted { amount_cents, .. }]
                if amount_cents.cents() == 21_000
        ));
    }

    #[test]
    fn nothing_due_or_another_debt_is_refused() {
        assert_eq!(
            refused(run(vec![], start_with(snapshot("DF-1", 0), "p1", None, 1))),
            codes::NOTHING_DUE
        );
        assert_eq!(
            refused(run(
                vec![started("p1", 1)],
                start_with(
                    snapshot("DF-2", 20_794),
                    "p2",
                    Some(("p1", PaymentStatus::Failed)),
                    2
                )
            )),
            codes::OTHER_DEBT
        );
    }

    #[test]
    fn one_payment_at_a_time_and_never_once_paid() {
        // A second tab while the first payment is at the bank.
        assert_eq!(
            refused(run(vec![started("p1", 1)], start("p2", None, 2))),
            codes::PAYMENT_IN_PROGRESS
        );
        assert_eq!(
            refused(run(
                vec![started("p1", 1)],
                start("p2", Some(("p1", PaymentStatus::Redirected)), 2)
            )),
            codes::PAYMENT_IN_PROGRESS
        );
        // Declined, cancelled or expired: a new attempt may start.
        for status in [
            PaymentStatus::Failed,
            PaymentStatus::Cancelled,
            PaymentStatus::Expired,
        ] {
            assert_eq!(
                run(vec![started("p1", 1)], start("p2", Some(("p1", status)), 2)).unwrap(),
                vec![started("p2", 2)],
                "{status:?}"
            );
        }
        // Reserved but never created: free once the reservation expired.
        assert_eq!(
            run(vec![started("p1", 1)], start("p2", None, 31)).unwrap(),
            vec![started("p2", 31)]
        );
        // It succeeded (not yet recorded on the debt): refused as paid.
        assert_eq!(
            refused(run(
                vec![started("p1", 1)],
                start("p2", Some(("p1", PaymentStatus::Succeeded)), 2)
            )),
            codes::ALREADY_PAID
        );
        assert_eq!(
            refused(run(
                vec![started("p1", 1), paid("p1")],
                start("p2", None, 40)
            )),
            codes::ALREADY_PAID
        );
    }

    #[test]
    fn paid_once_by_a_payment_of_the_debt() {
        let record = |id: &str| TaxDebtCommand::RecordPaid {
            payment_id: id.into(),
            payment_ref: "REF".into(),
            amount_cents: Money::from_cents(20_794),
            at: t0(),
        };
        assert_eq!(
            run(vec![started("p1", 0)], record("p1")).unwrap(),
            vec![paid("p1")]
        );
        assert!(run(vec![started("p1", 0), paid("p1")], record("p1"))
            .unwrap()
            .is_empty());
        assert_eq!(
            refused(run(
                vec![started("p1", 0), started("p2", 31), paid("p1")],
                record("p2")
            )),
            codes::ALREADY_PAID
        );
        assert_eq!(
            refused(run(vec![started("p1", 0)], record("p9"))),
            codes::UNKNOWN_PAYMENT
        );
    }

    #[test]
    fn the_revenue_system_is_told_once() {
        let base = vec![started("p1", 0), paid("p1")];
        let notified = |id: &str| TaxDebtCommand::RecordRevenueSystemNotified {
            payment_id: id.into(),
            at: t0(),
        };
        let event = TaxDebtEvent::RevenueSystemNotified {
            payment_id: "p1".into(),
            at: t0(),
        };
        assert_eq!(
            run(base.clone(), notified("p1")).unwrap(),
            vec![event.clone()]
        );
        let mut done = base.clone();
        done.push(event);
        assert!(run(done.clone(), notified("p1")).unwrap().is_empty());
        assert_eq!(
            refused(run(vec![started("p1", 0)], notified("p1"))),
            codes::NOT_PAID_BY_PAYMENT
        );
        let refuse = TaxDebtCommand::RecordRevenueSystemRefused {
            payment_id: "p1".into(),
            code: "revenue_rejected".into(),
            at: t0(),
        };
        assert_eq!(
            run(base, refuse.clone()).unwrap(),
            vec![TaxDebtEvent::RevenueSystemRefusedNotice {
                payment_id: "p1".into(),
                code: "revenue_rejected".into(),
                at: t0(),
            }]
        );
        assert!(run(done, refuse).unwrap().is_empty());
    }

    fn facts(status: PaymentStatus, captured: bool) -> PaymentFacts {
        PaymentFacts {
            payment_id: "p-2".into(),
            status,
            captured_ref: captured.then(|| "REF-2".to_string()),
            amount_cents: Money::from_cents(1010),
            updated_at: Some(t0() + Duration::minutes(3)),
        }
    }

    /// One row per case of [`portal_state`]: what the events say, the latest payment's
    /// own state, and what the portal shows.
    #[test]
    fn portal_state_table() {
        use DebtPortalState as S;
        let settled = DebtSettled {
            payment_id: "p-1".into(),
            payment_ref: "REF-1".into(),
            amount_cents: Money::from_cents(1000),
            at: t0(),
        };
        let reserved = Some(("p-2", t0() + Duration::minutes(15)));
        let early = t0() + Duration::minutes(5);
        let late = t0() + Duration::minutes(20);
        let in_progress = S::InProgress {
            payment_id: "p-2".into(),
        };
        let paid_here = S::Paid {
            payment_id: "p-2".into(),
            payment_ref: "REF-2".into(),
            amount_cents: Money::from_cents(1010),
            at: t0() + Duration::minutes(3),
            told: Told::NotYet,
        };
        let redirected = facts(PaymentStatus::Redirected, false);
        let failed = facts(PaymentStatus::Failed, false);
        let captured = facts(PaymentStatus::Succeeded, true);
        let mut other = facts(PaymentStatus::Redirected, false);
        other.payment_id = "p-9".into();
        // (recorded paid, latest payment started, its state, now, what the portal shows)
        type Case<'a> = (
            Option<&'a DebtSettled>,
            Option<(&'a str, DateTime<Utc>)>,
            Option<&'a PaymentFacts>,
            DateTime<Utc>,
            S,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            // nothing started
            (None, None, None, early, S::None),
            // recorded paid: paid, whatever the latest payment says
            (Some(&settled), reserved, Some(&redirected), early, S::Paid {
                payment_id: "p-1".into(), payment_ref: "REF-1".into(),
                amount_cents: Money::from_cents(1000), at: t0(), told: Told::Notified }),
            // started, the payment not created yet: open until it expires
            (None, reserved, None, early, in_progress.clone()),
            (None, reserved, None, late, S::None),
            // at the bank: open, even past the reservation's expiry (the bank decides)
            (None, reserved, Some(&redirected), late, in_progress.clone()),
            // declined: nothing open, the debt can be paid again
            (None, reserved, Some(&failed), early, S::None),
            // captured but not yet recorded on the debt: paid, the revenue system not told
            (None, reserved, Some(&captured), early, paid_here),
            // another payment's state says nothing of this one
            (None, reserved, Some(&other), early, in_progress),
        ];
        for (i, (paid, reserved, open, now, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                portal_state(paid, Told::Notified, reserved, open, now),
                expected,
                "case {i}"
            );
        }
        // Paid on record: what the revenue system was told is said as it stands.
        for told in [Told::NotYet, Told::Refused] {
            let state = portal_state(Some(&settled), told, reserved, None, early);
            assert!(
                matches!(state, S::Paid { told: t, .. } if t == told),
                "{state:?}"
            );
        }
    }

    #[test]
    fn payment_status_reads_back_what_it_writes() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::parse("paid"), None);
    }
}
