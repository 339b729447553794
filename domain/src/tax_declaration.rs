//! `TaxDeclaration`: the municipal-tax declaration of one business for one VAT period
//! (stream id `{ΑΦΜ}-{period key}`, e.g. `094259216-2026-Q1`), from the portal's side.
//!
//! Declaration and payment are one unit («Η διαδικασία Δήλωσης και Πληρωμής Δημοτικού
//! Φόρου είναι ενιαία»): a filing records the revenue system's whole assessment together
//! with the one payment that settles it. If that payment does not complete (declined,
//! cancelled, expired, a bank error) the filing is rejected, with the reason as an event,
//! and the business must file again — a new filing with a new assessment and a new
//! payment, on the same stream. A period declared and paid is never declared again.
//!
//! One filing at a time: two tabs or a double click race on this stream, and optimistic
//! concurrency lets only one `DeclarationFiled` through. The payment rules are the shared
//! [`settlement`](crate::settlement) machine's; a filing's reservation is its payment, a
//! rejection is its release, and only the latest filing's payment can settle it.

use crate::Money;
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::business::{TaxAssessment, TaxPeriod};
use crate::payment::PaymentStatus;
use crate::request::StaffMember;
use crate::settlement::{self, Input, Payable, Settlement, Stage, Told};
use crate::Refusal;

/// Why a filing was rejected: its payment did not complete.
pub use crate::settlement::ReleaseReason as RejectionReason;

pub const EVENT_VERSION: &str = "1.0";

/// The stream id of a business's declaration of `period`.
pub fn declaration_id(afm: &str, period: &TaxPeriod) -> String {
    format!("{afm}-{}", period.key())
}

/// How a filing's payment ended, as its `Payment` aggregate reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PaymentOutcome {
    Succeeded {
        payment_ref: String,
        amount_cents: Money,
    },
    /// Declined, cancelled, expired or errored; `detail` is what the bank said, if anything.
    NotCompleted {
        reason: RejectionReason,
        detail: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub enum TaxDeclarationCommand {
    /// Files the declaration `assessment` computed, to be paid by the new payment
    /// `payment_id` (created right after). `open_payment` is the status of the current
    /// filing's payment as its own aggregate reports it (`None`: not looked up, or never
    /// created).
    File {
        assessment: Box<TaxAssessment>,
        company_name: String,
        declarant_account_id: String,
        payment_id: String,
        expires_at: DateTime<Utc>,
        open_payment: Option<(String, PaymentStatus)>,
        at: DateTime<Utc>,
    },
    /// Payment `payment_id` ended with `outcome`.
    RecordPaymentOutcome {
        payment_id: String,
        outcome: PaymentOutcome,
        at: DateTime<Utc>,
    },
    /// The revenue system recorded the declaration paid by `payment_id`.
    RecordRevenueSystemNotified {
        payment_id: String,
        at: DateTime<Utc>,
    },
    /// The revenue system refused that notice for good (`code`): a clerk must look.
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
pub enum TaxDeclarationEvent {
    /// A filing: the whole assessment as the revenue system computed it, who filed it, and
    /// the payment that settles it (`amount_cents` = the assessment's total).
    DeclarationFiled {
        /// 1 for the first filing of the period, 2 after one rejection, …
        filing_number: u32,
        assessment: Box<TaxAssessment>,
        company_name: String,
        declarant_account_id: String,
        payment_id: String,
        amount_cents: Money,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The filing's payment was captured: the period is declared and paid.
    DeclarationPaid {
        payment_id: String,
        payment_ref: String,
        amount_cents: Money,
        at: DateTime<Utc>,
    },
    /// The filing's payment did not complete: the filing is rejected and must be made
    /// again.
    DeclarationRejected {
        payment_id: String,
        reason: RejectionReason,
        detail: Option<String>,
        at: DateTime<Utc>,
    },
    RevenueSystemNotified {
        payment_id: String,
        at: DateTime<Utc>,
    },
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

impl DomainEvent for TaxDeclarationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::DeclarationFiled { .. } => "DeclarationFiled",
            Self::DeclarationPaid { .. } => "DeclarationPaid",
            Self::DeclarationRejected { .. } => "DeclarationRejected",
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

/// Where the declaration of the period stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclarationStatus {
    AwaitingPayment,
    Paid,
    Rejected,
}

impl DeclarationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::Paid => "paid",
            Self::Rejected => "rejected",
        }
    }
}

/// The latest filing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiledDeclaration {
    pub filing_number: u32,
    pub assessment: TaxAssessment,
    pub company_name: String,
    pub declarant_account_id: String,
    pub payment_id: String,
    pub amount_cents: Money,
    pub expires_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// The payment that settled the declaration.
pub type DeclarationSettled = settlement::Settled;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationRejection {
    pub payment_id: String,
    pub reason: RejectionReason,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

/// A business's declaration of one period, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxDeclaration {
    pub current: Option<FiledDeclaration>,
    pub status: Option<DeclarationStatus>,
    pub paid: Option<DeclarationSettled>,
    /// The latest filing's rejection (cleared by a new filing).
    pub rejection: Option<DeclarationRejection>,
    pub revenue_system_notified: bool,
    pub revenue_system_refusal: Option<String>,
}

impl Payable for TaxDeclaration {
    fn settlement(&self) -> Settlement<'_> {
        let told = Told::of(
            self.revenue_system_notified,
            self.revenue_system_refusal.is_some(),
        );
        let stage = match (&self.current, self.status, &self.paid) {
            (Some(_), Some(DeclarationStatus::Paid), Some(paid)) => Stage::Paid {
                payment_id: &paid.payment_id,
                told,
            },
            (Some(filing), Some(DeclarationStatus::AwaitingPayment), _) => Stage::Reserved {
                payment_id: &filing.payment_id,
                expires_at: filing.expires_at,
            },
            (Some(filing), Some(DeclarationStatus::Rejected), _) => Stage::Released {
                payment_id: &filing.payment_id,
            },
            _ => Stage::Unreserved,
        };
        // A filing is paid by its own payment only: each filing is a unit of its own.
        let known_payments = self
            .current
            .as_ref()
            .map_or(&[][..], |filing| std::slice::from_ref(&filing.payment_id));
        Settlement {
            stage,
            known_payments,
        }
    }
    fn already_paid() -> Refusal {
        Refusal::rule(
            "period_already_declared",
            "this period is already declared and paid",
        )
    }
    fn payment_in_progress() -> Refusal {
        Refusal::rule(
            "declaration_in_progress",
            "a filing of this period is waiting for its payment",
        )
    }
    fn unknown_payment() -> Refusal {
        Refusal::rule(
            "payment_not_of_current_filing",
            "this payment is not the one of the declaration's latest filing",
        )
    }
    fn not_paid_by_payment() -> Refusal {
        Refusal::rule(
            "declaration_not_paid_by_payment",
            "this payment did not settle the declaration",
        )
    }
}

impl Aggregate for TaxDeclaration {
    const TYPE: &'static str = "TaxDeclaration";
    type Command = TaxDeclarationCommand;
    type Event = TaxDeclarationEvent;
    type Error = Refusal;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            TaxDeclarationCommand::File {
                assessment,
                company_name,
                declarant_account_id,
                payment_id,
                expires_at,
                open_payment,
                at,
            } => {
                if let Some(current) = &self.current {
                    let same = &current.assessment;
                    if same.afm != assessment.afm || same.period != assessment.period {
                        return Err(Refusal::invalid(
                            "declaration_mismatch",
                            "the assessment is of another business or period",
                        ));
                    }
                }
                let release = self.reserve(open_payment.as_ref(), at)?;
                if !assessment.total_cents.is_positive() {
                    return Err(Refusal::rule(
                        "declaration_nothing_to_pay",
                        "the tax of this declaration is zero: there is nothing to pay",
                    ));
                }
                if expires_at <= at {
                    return Err(Refusal::invalid(
                        "expiry_in_the_past",
                        "a filing's payment expires after it is filed",
                    ));
                }
                if let Some(release) = release {
                    sink.write(
                        TaxDeclarationEvent::DeclarationRejected {
                            payment_id: release.payment_id,
                            reason: release.reason,
                            detail: None,
                            at,
                        },
                        self,
                    )
                    .await;
                }
                let filing_number = self.current.as_ref().map_or(1, |f| f.filing_number + 1);
                let amount_cents = assessment.total_cents;
                sink.write(
                    TaxDeclarationEvent::DeclarationFiled {
                        filing_number,
                        assessment,
                        company_name,
                        declarant_account_id,
                        payment_id,
                        amount_cents,
                        expires_at,
                        at,
                    },
                    self,
                )
                .await;
            }
            TaxDeclarationCommand::RecordPaymentOutcome {
                payment_id,
                outcome,
                at,
            } => {
                let current = self.current.as_ref().ok_or_else(|| {
                    Refusal::not_found("declaration_not_found", "no such declaration")
                })?;
                if current.payment_id != payment_id {
                    return Err(Self::unknown_payment());
                }
                let event = match outcome {
                    // Captured (also after the filing lapsed as expired: the bank took the
                    // money, and its word is the truth about that). The same outcome again
                    // records nothing.
                    PaymentOutcome::Succeeded {
                        payment_ref,
                        amount_cents,
                    } => {
                        if !self.records(Input::Paid {
                            payment_id: &payment_id,
                        })? {
                            return Ok(());
                        }
                        TaxDeclarationEvent::DeclarationPaid {
                            payment_id,
                            payment_ref,
                            amount_cents,
                            at,
                        }
                    }
                    // Refused once paid; rejected already: the first outcome stands.
                    PaymentOutcome::NotCompleted { reason, detail } => {
                        if !self.records(Input::NotCompleted {
                            payment_id: &payment_id,
                            reason,
                        })? {
                            return Ok(());
                        }
                        TaxDeclarationEvent::DeclarationRejected {
                            payment_id,
                            reason,
                            detail,
                            at,
                        }
                    }
                };
                sink.write(event, self).await;
            }
            TaxDeclarationCommand::RecordRevenueSystemNotified { payment_id, at } => {
                if self.records(Input::Notified {
                    payment_id: &payment_id,
                })? {
                    sink.write(
                        TaxDeclarationEvent::RevenueSystemNotified { payment_id, at },
                        self,
                    )
                    .await;
                }
            }
            TaxDeclarationCommand::RecordRevenueSystemRefused {
                payment_id,
                code,
                at,
            } => {
                if self.records(Input::NoticeRefused {
                    payment_id: &payment_id,
                })? {
                    sink.write(
                        TaxDeclarationEvent::RevenueSystemRefusedNotice {
                            payment_id,
                            code,
                            at,
                        },
                        self,
                    )
                    .await;
                }
            }
            TaxDeclarationCommand::RetryRevenueSystemNotice {
                payment_id,
                clerk,
                at,
            } => {
                if self.records(Input::RetryNotice {
                    payment_id: &payment_id,
                })? {
                    sink.write(
                        TaxDeclarationEvent::RevenueSystemNoticeRetried {
                            payment_id,
                            clerk,
                            at,
                        },
                        self,
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            TaxDeclarationEvent::DeclarationFiled {
                filing_number,
                assessment,
                company_name,
                declarant_account_id,
                payment_id,
                amount_cents,
                expires_at,
                at,
            } => {
                self.current = Some(FiledDeclaration {
                    filing_number,
                    assessment: *assessment,
                    company_name,
                    declarant_account_id,
                    payment_id,
                    amount_cents,
                    expires_at,
                    at,
                });
                self.status = Some(DeclarationStatus::AwaitingPayment);
                self.rejection = None;
            }
            TaxDeclarationEvent::DeclarationPaid {
                payment_id,
                payment_ref,
                amount_cents,
                at,
            } => {
                self.status = Some(DeclarationStatus::Paid);
                self.rejection = None;
                self.paid = Some(DeclarationSettled {
                    payment_id,
                    payment_ref,
                    amount_cents,
                    at,
                });
            }
            TaxDeclarationEvent::DeclarationRejected {
                payment_id,
                reason,
                detail,
                at,
            } => {
                self.status = Some(DeclarationStatus::Rejected);
                self.rejection = Some(DeclarationRejection {
                    payment_id,
                    reason,
                    detail,
                    at,
                });
            }
            TaxDeclarationEvent::RevenueSystemNotified { .. } => {
                self.revenue_system_notified = true
            }
            TaxDeclarationEvent::RevenueSystemRefusedNotice { code, .. } => {
                self.revenue_system_refusal = Some(code)
            }
            TaxDeclarationEvent::RevenueSystemNoticeRetried { .. } => {
                self.revenue_system_refusal = None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, TimeZone};
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::business::Filing as VatFiling;

    type Given = TestFramework<TaxDeclaration>;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 10, 10, 0, 0).unwrap()
    }

    fn later(minutes: i64) -> DateTime<Utc> {
        t0() + Duration::minutes(minutes)
    }

    fn period() -> TaxPeriod {
        TaxPeriod::new(VatFiling::Quarterly, 1, 2026).unwrap()
    }

    fn assessment(total: i64) -> TaxAssessment {
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        TaxAssessment {
            assessment_id: format!("A-{total}"),
            afm: "094259216".into(),
            period: period(),
            gross_revenue_cents: Money::from_cents(total * 200),
            vat_return_date: day(4, 20),
            category: "food".into(),
            category_name_el: "Εστίαση".into(),
            category_name_en: "Food service".into(),
            rate_basis_points: 50,
            tax_cents: Money::from_cents(total),
            deadline: day(4, 30),
            months_late: 0,
            surcharge_basis_points: 0,
            surcharge_cents: Money::from_cents(0),
            total_cents: Money::from_cents(total),
            computed_on: day(5, 10),
        }
    }

    fn file(
        payment: &str,
        open: Option<(&str, PaymentStatus)>,
        minutes: i64,
    ) -> TaxDeclarationCommand {
        TaxDeclarationCommand::File {
            assessment: Box::new(assessment(6_172)),
            company_name: "Ο Καλός Φούρνος Α.Ε.".into(),
            declarant_account_id: "acc".into(),
            payment_id: payment.into(),
            expires_at: later(minutes + 30),
            open_payment: open.map(|(id, s)| (id.to_string(), s)),
            at: later(minutes),
        }
    }

    fn filed(number: u32, payment: &str, minutes: i64) -> TaxDeclarationEvent {
        TaxDeclarationEvent::DeclarationFiled {
            filing_number: number,
            assessment: Box::new(assessment(6_172)),
            company_name: "Ο Καλός Φούρνος Α.Ε.".into(),
            declarant_account_id: "acc".into(),
            payment_id: payment.into(),
            amount_cents: Money::from_cents(6_172),
            expires_at: later(minutes + 30),
            at: later(minutes),
        }
    }

    fn rejected(payment: &str, reason: RejectionReason, minutes: i64) -> TaxDeclarationEvent {
        TaxDeclarationEvent::DeclarationRejected {
            payment_id: payment.into(),
            reason,
            detail: None,
            at: later(minutes),
        }
    }

    fn paid(payment: &str) -> TaxDeclarationEvent {
        TaxDeclarationEvent::DeclarationPaid {
            payment_id: payment.into(),
            payment_ref: "REF".into(),
            amount_cents: Money::from_cents(6_172),
            at: t0(),
        }
    }

    fn outcome(payment: &str, outcome: PaymentOutcome) -> TaxDeclarationCommand {
        TaxDeclarationCommand::RecordPaymentOutcome {
            payment_id: payment.into(),
            outcome,
            at: t0(),
        }
    }

    fn succeeded() -> PaymentOutcome {
        PaymentOutcome::Succeeded {
            payment_ref: "REF".into(),
            amount_cents: Money::from_cents(6_172),
        }
    }

    fn not_completed(reason: RejectionReason) -> PaymentOutcome {
        PaymentOutcome::NotCompleted {
            reason,
            detail: None,
        }
    }

    fn run(
        given: Vec<TaxDeclarationEvent>,
        command: TaxDeclarationCommand,
    ) -> Result<Vec<TaxDeclarationEvent>, Refusal> {
        Given::with(()).given(given).when(command).inspect_result()
    }

    fn refused(result: Result<Vec<TaxDeclarationEvent>, Refusal>) -> &'static str {
        result.unwrap_err().code
    }

    #[test]
    fn stream_ids_name_the_business_and_the_period() {
        assert_eq!(declaration_id("094259216", &period()), "094259216-2026-Q1");
        let march = TaxPeriod::new(VatFiling::Monthly, 3, 2026).unwrap();
        assert_eq!(declaration_id("094259216", &march), "094259216-2026-M03");
    }

    #[test]
    fn a_first_filing_records_the_assessment_and_its_payment() {
        assert_eq!(
            run(vec![], file("p1", None, 0)).unwrap(),
            vec![filed(1, "p1", 0)]
        );
        let mut zero = file("p1", None, 0);
        if let TaxDeclarationCommand::File { assessment, .. } = &mut zero {
            **assessment = self::assessment(0);
        }
        assert_eq!(refused(run(vec![], zero)), "declaration_nothing_to_pay");
        let mut other = file("p2", None, 60);
        if let TaxDeclarationCommand::File { assessment, .. } = &mut other {
            assessment.period = TaxPeriod::new(VatFiling::Quarterly, 2, 2026).unwrap();
        }
        assert_eq!(
            refused(run(
                vec![
                    filed(1, "p1", 0),
                    rejected("p1", RejectionReason::PaymentDeclined, 5)
                ],
                other
            )),
            "declaration_mismatch"
        );
    }

    #[test]
    fn a_filing_waiting_for_its_payment_blocks_another() {
        let open = vec![filed(1, "p1", 0)];
        assert_eq!(
            refused(run(open.clone(), file("p2", None, 1))),
            "declaration_in_progress"
        );
        assert_eq!(
            refused(run(
                open.clone(),
                file("p2", Some(("p1", PaymentStatus::Redirected)), 1)
            )),
            "declaration_in_progress"
        );
        assert_eq!(
            refused(run(
                open.clone(),
                file("p2", Some(("p1", PaymentStatus::Created)), 1)
            )),
            "declaration_in_progress"
        );
        // Succeeded at the bank, not yet recorded here: declared and paid.
        assert_eq!(
            refused(run(
                open.clone(),
                file("p2", Some(("p1", PaymentStatus::Succeeded)), 1)
            )),
            "period_already_declared"
        );
    }

    #[test]
    fn a_payment_that_ended_without_money_is_rejected_before_the_new_filing() {
        let open = vec![filed(1, "p1", 0)];
        for (status, reason) in [
            (PaymentStatus::Failed, RejectionReason::PaymentDeclined),
            (PaymentStatus::Cancelled, RejectionReason::PaymentCancelled),
            (PaymentStatus::Expired, RejectionReason::PaymentExpired),
            (PaymentStatus::Error, RejectionReason::PaymentError),
        ] {
            assert_eq!(
                run(open.clone(), file("p2", Some(("p1", status)), 2)).unwrap(),
                vec![rejected("p1", reason, 2), filed(2, "p2", 2)],
                "{status:?}"
            );
        }
        // Filed, but the payment was never created: free once its expiry has passed.
        assert_eq!(
            run(open.clone(), file("p2", None, 30)).unwrap(),
            vec![
                rejected("p1", RejectionReason::PaymentExpired, 30),
                filed(2, "p2", 30)
            ]
        );
        // The status of another payment says nothing about this filing's.
        assert_eq!(
            refused(run(
                open,
                file("p3", Some(("p0", PaymentStatus::Failed)), 2)
            )),
            "declaration_in_progress"
        );
    }

    #[test]
    fn a_rejected_filing_is_filed_again() {
        let given = vec![
            filed(1, "p1", 0),
            rejected("p1", RejectionReason::PaymentCancelled, 3),
        ];
        assert_eq!(
            run(given, file("p2", None, 10)).unwrap(),
            vec![filed(2, "p2", 10)]
        );
    }

    #[test]
    fn a_rejected_filing_whose_payment_was_captured_after_all_blocks_a_new_one() {
        let given = vec![
            filed(1, "p1", 0),
            rejected("p1", RejectionReason::PaymentExpired, 30),
        ];
        assert_eq!(
            refused(run(
                given.clone(),
                file("p2", Some(("p1", PaymentStatus::Succeeded)), 40)
            )),
            "period_already_declared"
        );
        assert_eq!(
            run(given, file("p2", Some(("p1", PaymentStatus::Expired)), 40)).unwrap(),
            vec![filed(2, "p2", 40)]
        );
    }

    #[test]
    fn a_period_declared_and_paid_is_never_declared_again() {
        let done = vec![filed(1, "p1", 0), paid("p1")];
        assert_eq!(
            refused(run(done.clone(), file("p2", None, 60))),
            "period_already_declared"
        );
        assert_eq!(
            refused(run(
                done,
                file("p2", Some(("p1", PaymentStatus::Succeeded)), 60)
            )),
            "period_already_declared"
        );
    }

    #[test]
    fn outcomes_are_recorded_once() {
        let open = vec![filed(1, "p1", 0)];
        assert_eq!(
            run(open.clone(), outcome("p1", succeeded())).unwrap(),
            vec![paid("p1")]
        );
        let mut done = open.clone();
        done.push(paid("p1"));
        assert!(run(done.clone(), outcome("p1", succeeded()))
            .unwrap()
            .is_empty());
        assert_eq!(
            refused(run(
                done,
                outcome("p1", not_completed(RejectionReason::PaymentDeclined))
            )),
            "period_already_declared"
        );

        let declined = PaymentOutcome::NotCompleted {
            reason: RejectionReason::PaymentDeclined,
            detail: Some("insufficient funds".into()),
        };
        assert_eq!(
            run(open.clone(), outcome("p1", declined.clone())).unwrap(),
            vec![TaxDeclarationEvent::DeclarationRejected {
                payment_id: "p1".into(),
                reason: RejectionReason::PaymentDeclined,
                detail: Some("insufficient funds".into()),
                at: t0(),
            }]
        );
        let mut rejected_once = open.clone();
        rejected_once.push(rejected("p1", RejectionReason::PaymentDeclined, 0));
        assert!(run(rejected_once.clone(), outcome("p1", declined))
            .unwrap()
            .is_empty());
        // A filing rejected as expired whose payment the bank then reports captured: the
        // money was taken, so the period is paid.
        let mut lapsed = open.clone();
        lapsed.push(rejected("p1", RejectionReason::PaymentExpired, 30));
        assert_eq!(
            run(lapsed, outcome("p1", succeeded())).unwrap(),
            vec![paid("p1")]
        );
    }

    #[test]
    fn an_outcome_of_another_payment_is_refused() {
        assert_eq!(
            refused(run(vec![], outcome("p1", succeeded()))),
            "declaration_not_found"
        );
        let refiled = vec![
            filed(1, "p1", 0),
            rejected("p1", RejectionReason::PaymentExpired, 30),
            filed(2, "p2", 31),
        ];
        assert_eq!(
            refused(run(refiled.clone(), outcome("p1", succeeded()))),
            "payment_not_of_current_filing"
        );
        assert_eq!(
            refused(run(
                refiled,
                outcome("p1", not_completed(RejectionReason::PaymentCancelled))
            )),
            "payment_not_of_current_filing"
        );
    }

    #[test]
    fn the_revenue_system_is_recorded_told_once() {
        let open = vec![filed(1, "p1", 0)];
        let mut done = open.clone();
        done.push(paid("p1"));
        let notified = |id: &str| TaxDeclarationCommand::RecordRevenueSystemNotified {
            payment_id: id.into(),
            at: t0(),
        };
        let refused_notice = |id: &str| TaxDeclarationCommand::RecordRevenueSystemRefused {
            payment_id: id.into(),
            code: "revenue_rejected".into(),
            at: t0(),
        };
        assert_eq!(
            run(done.clone(), notified("p1")).unwrap(),
            vec![TaxDeclarationEvent::RevenueSystemNotified {
                payment_id: "p1".into(),
                at: t0()
            }]
        );
        assert_eq!(
            refused(run(open.clone(), notified("p1"))),
            "declaration_not_paid_by_payment"
        );
        assert_eq!(
            refused(run(done.clone(), notified("p2"))),
            "declaration_not_paid_by_payment"
        );
        assert_eq!(
            refused(run(open, refused_notice("p1"))),
            "declaration_not_paid_by_payment"
        );
        assert_eq!(
            run(done.clone(), refused_notice("p1")).unwrap(),
            vec![TaxDeclarationEvent::RevenueSystemRefusedNotice {
                payment_id: "p1".into(),
                code: "revenue_rejected".into(),
                at: t0()
            }]
        );
        let mut told = done.clone();
        told.push(TaxDeclarationEvent::RevenueSystemNotified {
            payment_id: "p1".into(),
            at: t0(),
        });
        assert!(run(told.clone(), notified("p1")).unwrap().is_empty());
        assert!(run(told, refused_notice("p1")).unwrap().is_empty());
    }

    /// Stored events keep loading: the shape of a rejection (its reason now lives in
    /// `settlement`) and of a payment.
    #[test]
    fn stored_events_keep_their_shape() {
        let stored = serde_json::json!({
            "DeclarationRejected": {
                "payment_id": "p1",
                "reason": "payment_declined",
                "detail": "insufficient funds",
                "at": "2026-05-10T10:00:00Z"
            }
        });
        let event: TaxDeclarationEvent = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(
            event,
            TaxDeclarationEvent::DeclarationRejected {
                payment_id: "p1".into(),
                reason: RejectionReason::PaymentDeclined,
                detail: Some("insufficient funds".into()),
                at: t0(),
            }
        );
        assert_eq!(serde_json::to_value(&event).unwrap(), stored);
        let mut d = TaxDeclaration::default();
        d.apply(filed(1, "p1", 0));
        d.apply(paid("p1"));
        assert_eq!(
            serde_json::to_value(&d.paid).unwrap(),
            serde_json::json!({
                "payment_id": "p1",
                "payment_ref": "REF",
                "amount_cents": 6172,
                "at": "2026-05-10T10:00:00Z"
            })
        );
    }

    #[test]
    fn the_state_follows_the_events() {
        let mut d = TaxDeclaration::default();
        d.apply(filed(1, "p1", 0));
        assert_eq!(d.status, Some(DeclarationStatus::AwaitingPayment));
        d.apply(rejected("p1", RejectionReason::PaymentDeclined, 1));
        assert_eq!(d.status, Some(DeclarationStatus::Rejected));
        assert_eq!(
            d.rejection.as_ref().map(|r| r.reason),
            Some(RejectionReason::PaymentDeclined)
        );
        d.apply(filed(2, "p2", 2));
        assert!(d.rejection.is_none());
        assert_eq!(d.current.as_ref().unwrap().filing_number, 2);
        d.apply(paid("p2"));
        assert_eq!(d.status, Some(DeclarationStatus::Paid));
        assert_eq!(DeclarationStatus::Paid.as_str(), "paid");
        assert_eq!(RejectionReason::PaymentError.as_str(), "payment_error");
        assert_eq!(RejectionReason::of_status(PaymentStatus::Redirected), None);
    }
}
