//! `TrafficFine`: one ΚΟΚ fine of the municipality (stream id `{municipality code}-{fine
//! number}`), from the portal's side: the quotes it gave (amount and until when it holds),
//! the one payment it lets start at a time, the payment that settled it, and whether the
//! fines-management system was told. One fine is paid once: two tabs or a double click
//! race on this stream, and optimistic concurrency lets only one `FinePaymentStarted`
//! through (the loser is retried against the fresh state and refused). The payment rules
//! are the shared [`settlement`](crate::settlement) machine's.

use crate::Money;
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::payment::PaymentStatus;
use crate::ports::FineOrigin;
use crate::request::StaffMember;
use crate::settlement::{self, Input, Payable, Settlement, Told};
use crate::Refusal;

pub const EVENT_VERSION: &str = "1.0";

/// The stream id of a fine.
pub fn fine_id(municipality_code: &str, fine_number: &str) -> String {
    format!("{municipality_code}-{fine_number}")
}

/// The fine as the fines system registered it (a derived fact carried by every quote).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredFine {
    pub municipality_code: String,
    pub fine_number: String,
    pub plate: String,
    pub fine_type: String,
    pub offence_at: DateTime<Utc>,
    pub base_cents: Money,
    pub origin: FineOrigin,
}

#[derive(Debug, Clone)]
pub enum TrafficFineCommand {
    /// The amount due now, as the fines system computed it, offered until `valid_until`.
    Quote {
        quote_id: String,
        fine: RegisteredFine,
        amount_cents: Money,
        /// The last day (Athens) the fines system holds the amount; `None`: no change.
        amount_valid_until: Option<NaiveDate>,
        valid_until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// Reserves the fine for a new payment of quote `quote_id`. `open_payment` is the
    /// status of the fine's open payment as its own aggregate reports it (`None`: not
    /// looked up, or that payment was never created).
    StartPayment {
        quote_id: String,
        payment_id: String,
        payer_account_id: String,
        expires_at: DateTime<Utc>,
        open_payment: Option<(String, PaymentStatus)>,
        at: DateTime<Utc>,
    },
    /// The bank captured payment `payment_id`.
    RecordPaid {
        payment_id: String,
        payment_ref: String,
        amount_cents: Money,
        at: DateTime<Utc>,
    },
    /// The fines system accepted the notice of payment `payment_id`.
    RecordFinesSystemNotified {
        payment_id: String,
        at: DateTime<Utc>,
    },
    /// The fines system refused the notice for good (`code`): a clerk must look.
    RecordFinesSystemRefused {
        payment_id: String,
        code: String,
        at: DateTime<Utc>,
    },
    /// Clerk `clerk` has the refused notice of payment `payment_id` sent again.
    RetryFinesSystemNotice {
        payment_id: String,
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrafficFineEvent {
    FineQuoted {
        quote_id: String,
        fine: RegisteredFine,
        amount_cents: Money,
        amount_valid_until: Option<NaiveDate>,
        valid_until: DateTime<Utc>,
        /// The amount of the previous quote, if any (derived: did the amount change?).
        previous_amount_cents: Option<Money>,
        at: DateTime<Utc>,
    },
    FinePaymentStarted {
        quote_id: String,
        payment_id: String,
        amount_cents: Money,
        payer_account_id: String,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    FinePaid {
        payment_id: String,
        payment_ref: String,
        amount_cents: Money,
        at: DateTime<Utc>,
    },
    FinesSystemNotified {
        payment_id: String,
        at: DateTime<Utc>,
    },
    FinesSystemRefusedNotice {
        payment_id: String,
        code: String,
        at: DateTime<Utc>,
    },
    /// A clerk had the refused notice sent again: the fines system is not yet told.
    FinesSystemNoticeRetried {
        payment_id: String,
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for TrafficFineEvent {
    fn event_type(&self) -> String {
        match self {
            Self::FineQuoted { .. } => "FineQuoted",
            Self::FinePaymentStarted { .. } => "FinePaymentStarted",
            Self::FinePaid { .. } => "FinePaid",
            Self::FinesSystemNotified { .. } => "FinesSystemNotified",
            Self::FinesSystemRefusedNotice { .. } => "FinesSystemRefusedNotice",
            Self::FinesSystemNoticeRetried { .. } => "FinesSystemNoticeRetried",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

/// Whether quote `asked` may be paid at `now`: it is the fine's latest quote
/// (`latest`, valid until `valid_until`) and that time has not come.
pub fn quote_is_current(
    latest: &str,
    valid_until: DateTime<Utc>,
    asked: &str,
    now: DateTime<Utc>,
) -> bool {
    latest == asked && now < valid_until
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FineQuote {
    pub quote_id: String,
    pub amount_cents: Money,
    pub amount_valid_until: Option<NaiveDate>,
    pub valid_until: DateTime<Utc>,
    pub previous_amount_cents: Option<Money>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPayment {
    pub payment_id: String,
    pub quote_id: String,
    pub amount_cents: Money,
    pub expires_at: DateTime<Utc>,
}

/// The payment that settled the fine.
pub type FineSettled = settlement::Settled;

/// One fine, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficFine {
    pub fine: Option<RegisteredFine>,
    pub quote: Option<FineQuote>,
    /// The latest payment started (it stays after it ends; a new one replaces it).
    pub open_payment: Option<OpenPayment>,
    /// Every payment started for the fine, oldest first.
    #[serde(default)]
    pub payments: Vec<String>,
    pub paid: Option<FineSettled>,
    pub fines_system_notified: bool,
    pub fines_system_refusal: Option<String>,
}

impl Payable for TrafficFine {
    fn settlement(&self) -> Settlement<'_> {
        Settlement::of_fields(
            self.paid.as_ref(),
            self.open_payment
                .as_ref()
                .map(|open| (open.payment_id.as_str(), open.expires_at)),
            Told::of(
                self.fines_system_notified,
                self.fines_system_refusal.is_some(),
            ),
            &self.payments,
        )
    }
    fn already_paid() -> Refusal {
        Refusal::rule("fine_already_paid", "this fine is already paid")
    }
    fn payment_in_progress() -> Refusal {
        Refusal::rule(
            "fine_payment_in_progress",
            "a payment of this fine is in progress",
        )
    }
    fn unknown_payment() -> Refusal {
        Refusal::rule(
            "fine_payment_unknown",
            "this payment was not started for this fine",
        )
    }
    fn not_paid_by_payment() -> Refusal {
        Refusal::rule(
            "fine_not_paid_by_payment",
            "this payment did not settle the fine",
        )
    }
}

impl Aggregate for TrafficFine {
    const TYPE: &'static str = "TrafficFine";
    type Command = TrafficFineCommand;
    type Event = TrafficFineEvent;
    type Error = Refusal;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            TrafficFineCommand::Quote {
                quote_id,
                fine,
                amount_cents,
                amount_valid_until,
                valid_until,
                at,
            } => {
                self.ensure_unpaid()?;
                if !amount_cents.is_positive() || valid_until <= at {
                    return Err(Refusal::invalid(
                        "fine_quote_invalid",
                        "a quote needs a positive amount and a future expiry",
                    ));
                }
                TrafficFineEvent::FineQuoted {
                    quote_id,
                    fine,
                    amount_cents,
                    amount_valid_until,
                    valid_until,
                    previous_amount_cents: self.quote.as_ref().map(|q| q.amount_cents),
                    at,
                }
            }
            TrafficFineCommand::StartPayment {
                quote_id,
                payment_id,
                payer_account_id,
                expires_at,
                open_payment,
                at,
            } => {
                self.ensure_unpaid()?;
                let quote = self
                    .quote
                    .as_ref()
                    .ok_or_else(|| Refusal::not_found("quote_not_found", "no such quote"))?;
                if !quote_is_current(&quote.quote_id, quote.valid_until, &quote_id, at) {
                    return Err(Refusal::rule(
                        "quote_expired",
                        "the quote expired or was replaced: ask for the amount again",
                    ));
                }
                // A fine records no release: the new reservation replaces the old one.
                self.reserve(open_payment.as_ref(), at)?;
                TrafficFineEvent::FinePaymentStarted {
                    quote_id,
                    payment_id,
                    amount_cents: quote.amount_cents,
                    payer_account_id,
                    expires_at,
                    at,
                }
            }
            TrafficFineCommand::RecordPaid {
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
                TrafficFineEvent::FinePaid {
                    payment_id,
                    payment_ref,
                    amount_cents,
                    at,
                }
            }
            TrafficFineCommand::RecordFinesSystemNotified { payment_id, at } => {
                if !self.records(Input::Notified {
                    payment_id: &payment_id,
                })? {
                    return Ok(());
                }
                TrafficFineEvent::FinesSystemNotified { payment_id, at }
            }
            TrafficFineCommand::RecordFinesSystemRefused {
                payment_id,
                code,
                at,
            } => {
                if !self.records(Input::NoticeRefused {
                    payment_id: &payment_id,
                })? {
                    return Ok(());
                }
                TrafficFineEvent::FinesSystemRefusedNotice {
                    payment_id,
                    code,
                    at,
                }
            }
            TrafficFineCommand::RetryFinesSystemNotice {
                payment_id,
                clerk,
                at,
            } => {
                if !self.records(Input::RetryNotice {
                    payment_id: &payment_id,
                })? {
                    return Ok(());
                }
                TrafficFineEvent::FinesSystemNoticeRetried {
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
            TrafficFineEvent::FineQuoted {
                quote_id,
                fine,
                amount_cents,
                amount_valid_until,
                valid_until,
                previous_amount_cents,
                at,
            } => {
                self.fine = Some(fine);
                self.quote = Some(FineQuote {
                    quote_id,
                    amount_cents,
                    amount_valid_until,
                    valid_until,
                    previous_amount_cents,
                    at,
                });
            }
            TrafficFineEvent::FinePaymentStarted {
                quote_id,
                payment_id,
                amount_cents,
                expires_at,
                ..
            } => {
                self.payments.push(payment_id.clone());
                self.open_payment = Some(OpenPayment {
                    payment_id,
                    quote_id,
                    amount_cents,
                    expires_at,
                });
            }
            TrafficFineEvent::FinePaid {
                payment_id,
                payment_ref,
                amount_cents,
                at,
            } => {
                self.paid = Some(FineSettled {
                    payment_id,
                    payment_ref,
                    amount_cents,
                    at,
                });
            }
            TrafficFineEvent::FinesSystemNotified { .. } => self.fines_system_notified = true,
            TrafficFineEvent::FinesSystemRefusedNotice { code, .. } => {
                self.fines_system_refusal = Some(code)
            }
            TrafficFineEvent::FinesSystemNoticeRetried { .. } => self.fines_system_refusal = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use cqrs_es::test::TestFramework;

    use super::*;

    type Given = TestFramework<TrafficFine>;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
    }

    fn fine() -> RegisteredFine {
        RegisteredFine {
            municipality_code: "9999".into(),
            fine_number: "100000001".into(),
            plate: "ΥΧΡ-1234".into(),
            fine_type: "P01".into(),
            offence_at: t0() - Duration::days(3),
            base_cents: Money::from_cents(8000),
            origin: FineOrigin::Found,
        }
    }

    fn quote(id: &str, amount: i64) -> TrafficFineCommand {
        TrafficFineCommand::Quote {
            quote_id: id.into(),
            fine: fine(),
            amount_cents: Money::from_cents(amount),
            amount_valid_until: None,
            valid_until: t0() + Duration::minutes(30),
            at: t0(),
        }
    }

    fn quoted(id: &str, amount: i64, previous: Option<i64>) -> TrafficFineEvent {
        TrafficFineEvent::FineQuoted {
            quote_id: id.into(),
            fine: fine(),
            amount_cents: Money::from_cents(amount),
            amount_valid_until: None,
            valid_until: t0() + Duration::minutes(30),
            previous_amount_cents: (previous).map(Money::from_cents),
            at: t0(),
        }
    }

    fn start(
        payment: &str,
        open: Option<(&str, PaymentStatus)>,
        minutes: i64,
    ) -> TrafficFineCommand {
        TrafficFineCommand::StartPayment {
            quote_id: "q1".into(),
            payment_id: payment.into(),
            payer_account_id: "acc".into(),
            expires_at: t0() + Duration::minutes(minutes + 30),
            open_payment: open.map(|(id, s)| (id.to_string(), s)),
            at: t0() + Duration::minutes(minutes),
        }
    }

    fn started(payment: &str, minutes: i64) -> TrafficFineEvent {
        TrafficFineEvent::FinePaymentStarted {
            quote_id: "q1".into(),
            payment_id: payment.into(),
            amount_cents: Money::from_cents(4000),
            payer_account_id: "acc".into(),
            expires_at: t0() + Duration::minutes(minutes + 30),
            at: t0() + Duration::minutes(minutes),
        }
    }

    fn paid(payment: &str) -> TrafficFineEvent {
        TrafficFineEvent::FinePaid {
            payment_id: payment.into(),
            payment_ref: "REF".into(),
            amount_cents: Money::from_cents(4000),
            at: t0(),
        }
    }

    fn refused(result: Result<Vec<TrafficFineEvent>, Refusal>) -> &'static str {
        result.unwrap_err().code
    }

    fn run(
        given: Vec<TrafficFineEvent>,
        command: TrafficFineCommand,
    ) -> Result<Vec<TrafficFineEvent>, Refusal> {
        Given::with(()).given(given).when(command).inspect_result()
    }

    #[test]
    fn a_quote_records_the_previous_amount() {
        assert_eq!(
            run(vec![], quote("q1", 4000)).unwrap(),
            vec![quoted("q1", 4000, None)]
        );
        assert_eq!(
            run(vec![quoted("q0", 4000, None)], quote("q1", 8000)).unwrap(),
            vec![quoted("q1", 8000, Some(4000))]
        );
        assert_eq!(
            refused(run(
                vec![quoted("q0", 4000, None), started("p1", 0), paid("p1")],
                quote("q1", 4000)
            )),
            "fine_already_paid"
        );
    }

    #[test]
    fn a_payment_starts_once_per_fine() {
        let q = quoted("q1", 4000, None);
        assert_eq!(
            run(vec![q.clone()], start("p1", None, 1)).unwrap(),
            vec![started("p1", 1)]
        );
        // A second tab while the first payment is at the bank.
        assert_eq!(
            refused(run(vec![q.clone(), started("p1", 1)], start("p2", None, 2))),
            "fine_payment_in_progress"
        );
        assert_eq!(
            refused(run(
                vec![q.clone(), started("p1", 1)],
                start("p2", Some(("p1", PaymentStatus::Redirected)), 2)
            )),
            "fine_payment_in_progress"
        );
        // The first payment was declined: a new attempt may start.
        assert_eq!(
            run(
                vec![q.clone(), started("p1", 1)],
                start("p2", Some(("p1", PaymentStatus::Failed)), 2)
            )
            .unwrap(),
            vec![started("p2", 2)]
        );
        // It succeeded (not yet recorded on the fine): refused as paid.
        assert_eq!(
            refused(run(
                vec![q.clone(), started("p1", 1)],
                start("p2", Some(("p1", PaymentStatus::Succeeded)), 2)
            )),
            "fine_already_paid"
        );
        assert_eq!(
            refused(run(
                vec![q.clone(), started("p1", 1), paid("p1")],
                start("p2", None, 2)
            )),
            "fine_already_paid"
        );
    }

    #[test]
    fn an_expired_or_replaced_quote_is_refused() {
        let q = quoted("q1", 4000, None);
        assert_eq!(
            refused(run(vec![q.clone()], start("p1", None, 30))),
            "quote_expired"
        );
        assert_eq!(
            refused(run(
                vec![q, quoted("q2", 4000, Some(4000))],
                start("p1", None, 1)
            )),
            "quote_expired"
        );
        assert_eq!(
            refused(run(vec![], start("p1", None, 1))),
            "quote_not_found"
        );
    }

    #[test]
    fn paid_and_notified_are_recorded_once() {
        let base = vec![quoted("q1", 4000, None), started("p1", 0)];
        let record = |id: &str| TrafficFineCommand::RecordPaid {
            payment_id: id.into(),
            payment_ref: "REF".into(),
            amount_cents: Money::from_cents(4000),
            at: t0(),
        };
        assert_eq!(run(base.clone(), record("p1")).unwrap(), vec![paid("p1")]);
        let mut with_paid = base.clone();
        with_paid.push(paid("p1"));
        assert!(run(with_paid.clone(), record("p1")).unwrap().is_empty());
        assert_eq!(
            refused(run(with_paid.clone(), record("p2"))),
            "fine_already_paid"
        );
        let notified = |id: &str| TrafficFineCommand::RecordFinesSystemNotified {
            payment_id: id.into(),
            at: t0(),
        };
        assert_eq!(
            run(with_paid.clone(), notified("p1")).unwrap(),
            vec![TrafficFineEvent::FinesSystemNotified {
                payment_id: "p1".into(),
                at: t0()
            }]
        );
        assert_eq!(
            refused(run(base, notified("p1"))),
            "fine_not_paid_by_payment"
        );
        let mut done = with_paid;
        done.push(TrafficFineEvent::FinesSystemNotified {
            payment_id: "p1".into(),
            at: t0(),
        });
        assert!(run(done, notified("p1")).unwrap().is_empty());
    }

    #[test]
    fn only_a_payment_started_for_the_fine_pays_it() {
        let record = |id: &str| TrafficFineCommand::RecordPaid {
            payment_id: id.into(),
            payment_ref: "REF".into(),
            amount_cents: Money::from_cents(4000),
            at: t0(),
        };
        let q = quoted("q1", 4000, None);
        assert_eq!(
            refused(run(vec![q.clone()], record("p1"))),
            "fine_payment_unknown"
        );
        assert_eq!(
            refused(run(vec![q.clone(), started("p1", 0)], record("p9"))),
            "fine_payment_unknown"
        );
        // A payment superseded by a newer one, captured late: the money was taken.
        let superseded = vec![q, started("p1", 0), started("p2", 31)];
        assert_eq!(run(superseded, record("p1")).unwrap(), vec![paid("p1")]);
    }

    #[test]
    fn the_fines_system_refusal_is_recorded_once() {
        let with_paid = vec![quoted("q1", 4000, None), started("p1", 0), paid("p1")];
        let refuse = |id: &str| TrafficFineCommand::RecordFinesSystemRefused {
            payment_id: id.into(),
            code: "fines_rejected".into(),
            at: t0(),
        };
        let event = TrafficFineEvent::FinesSystemRefusedNotice {
            payment_id: "p1".into(),
            code: "fines_rejected".into(),
            at: t0(),
        };
        assert_eq!(
            run(with_paid.clone(), refuse("p1")).unwrap(),
            vec![event.clone()]
        );
        assert_eq!(
            refused(run(with_paid.clone(), refuse("p2"))),
            "fine_not_paid_by_payment"
        );
        let mut once = with_paid;
        once.push(event);
        assert!(run(once, refuse("p1")).unwrap().is_empty());
    }

    #[test]
    fn a_clerk_has_only_a_refused_notice_sent_again() {
        let clerk = StaffMember {
            account_id: "c1".into(),
            name: "Γεώργιος Υπαλληλίδης".into(),
        };
        let retry = |id: &str| TrafficFineCommand::RetryFinesSystemNotice {
            payment_id: id.into(),
            clerk: clerk.clone(),
            at: t0(),
        };
        let retried = TrafficFineEvent::FinesSystemNoticeRetried {
            payment_id: "p1".into(),
            clerk: clerk.clone(),
            at: t0(),
        };
        let mut refused_once = vec![quoted("q1", 4000, None), started("p1", 0), paid("p1")];
        refused_once.push(TrafficFineEvent::FinesSystemRefusedNotice {
            payment_id: "p1".into(),
            code: "already_paid".into(),
            at: t0(),
        });
        assert_eq!(
            run(refused_once.clone(), retry("p1")).unwrap(),
            vec![retried.clone()]
        );
        assert_eq!(
            refused(run(refused_once.clone(), retry("p2"))),
            "fine_not_paid_by_payment"
        );
        // Sent again: not refused any more, so a second press records nothing, and the
        // next refusal is recorded again.
        let mut again = refused_once;
        again.push(retried);
        assert!(run(again.clone(), retry("p1")).unwrap().is_empty());
        let mut fine = TrafficFine::default();
        for e in again.clone() {
            fine.apply(e);
        }
        assert_eq!(fine.fines_system_refusal, None);
        // Recorded by the fines system: nothing to send again.
        again.push(TrafficFineEvent::FinesSystemNotified {
            payment_id: "p1".into(),
            at: t0(),
        });
        assert_eq!(refused(run(again, retry("p1"))), "notice_not_refused");
    }
}
