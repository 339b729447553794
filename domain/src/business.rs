//! Business services (S12–S14): what a certified business sees and pays, and the two
//! systems of the municipality the portal asks — the financial system (warranted payments
//! to suppliers, «Εγκεκριμένες Πληρωμές») and the revenue system (municipal tax: checking
//! and computing a declaration, certified debts, recording payments).
//!
//! The portal does not compute taxes or surcharges: the revenue system does, and the
//! portal shows and charges what it answers. Money is always [`Money`] (euro cents); rates
//! are in basis points (1 % = 100, 0.5 % = 50), so nothing is ever a float.

use crate::Money;
use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::Refusal;

/// How often the business files a VAT return, and so which periods it declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filing {
    /// Periods 1–12.
    Monthly,
    /// Periods 1–4.
    Quarterly,
}

impl Filing {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        match raw.trim() {
            "monthly" => Ok(Self::Monthly),
            "quarterly" => Ok(Self::Quarterly),
            "" => Err(Refusal::invalid(
                "filing_required",
                "choose monthly or quarterly",
            )),
            other => Err(Refusal::invalid(
                "filing_invalid",
                format!("{other:?} is neither monthly nor quarterly"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
        }
    }

    /// How many periods a year has.
    pub fn periods(self) -> u32 {
        match self {
            Self::Monthly => 12,
            Self::Quarterly => 4,
        }
    }
}

/// A VAT period of a year: month 1–12 or quarter 1–4. Only built valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaxPeriod {
    pub filing: Filing,
    pub number: u32,
    pub year: i32,
}

impl TaxPeriod {
    /// Years before this one are not declared through the portal.
    pub const FIRST_YEAR: i32 = 2000;

    /// `number`: 1–12 (monthly) or 1–4 (quarterly); `year`: 2000–9999. Whether the period
    /// has ended is the revenue system's to say (it knows "today").
    pub fn new(filing: Filing, number: u32, year: i32) -> Result<Self, Refusal> {
        if !(1..=filing.periods()).contains(&number) {
            return Err(Refusal::invalid(
                match filing {
                    Filing::Monthly => "period_month_invalid",
                    Filing::Quarterly => "period_quarter_invalid",
                },
                format!("period {number} is outside 1–{}", filing.periods()),
            ));
        }
        if !(Self::FIRST_YEAR..=9999).contains(&year) {
            return Err(Refusal::invalid(
                "year_invalid",
                format!("year {year} is outside {}–9999", Self::FIRST_YEAR),
            ));
        }
        Ok(Self {
            filing,
            number,
            year,
        })
    }

    /// Parses what a form sends: filing, period number and year as typed.
    pub fn parse(filing: &str, number: &str, year: &str) -> Result<Self, Refusal> {
        let filing = Filing::parse(filing)?;
        let number: u32 = number.trim().parse().map_err(|_| {
            Refusal::invalid(
                "period_invalid",
                format!("{number:?} is not a period number"),
            )
        })?;
        let year: i32 = year
            .trim()
            .parse()
            .map_err(|_| Refusal::invalid("year_invalid", format!("{year:?} is not a year")))?;
        Self::new(filing, number, year)
    }

    /// A stable key: `2026-M03`, `2026-Q1`.
    pub fn key(&self) -> String {
        match self.filing {
            Filing::Monthly => format!("{}-M{:02}", self.year, self.number),
            Filing::Quarterly => format!("{}-Q{}", self.year, self.number),
        }
    }

    /// The first month (1–12) of the period.
    fn first_month(&self) -> u32 {
        match self.filing {
            Filing::Monthly => self.number,
            Filing::Quarterly => (self.number - 1) * 3 + 1,
        }
    }

    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.first_month(), 1)
            .expect("a valid period starts on a valid day")
    }

    pub fn last_day(&self) -> NaiveDate {
        let months = match self.filing {
            Filing::Monthly => 1,
            Filing::Quarterly => 3,
        };
        last_day_of_month_after(self.first_day(), months - 1)
    }

    /// The statutory deadline: the last day of the month after the period ends (the VAT
    /// return's deadline).
    pub fn deadline(&self) -> NaiveDate {
        last_day_of_month_after(self.last_day(), 1)
    }

    /// In Greek, for pages and receipts: «Μάρτιος 2026», «1ο τρίμηνο 2026».
    pub fn label_el(&self) -> String {
        const MONTHS: [&str; 12] = [
            "Ιανουάριος",
            "Φεβρουάριος",
            "Μάρτιος",
            "Απρίλιος",
            "Μάιος",
            "Ιούνιος",
            "Ιούλιος",
            "Αύγουστος",
            "Σεπτέμβριος",
            "Οκτώβριος",
            "Νοέμβριος",
            "Δεκέμβριος",
        ];
        match self.filing {
            Filing::Monthly => format!("{} {}", MONTHS[self.number as usize - 1], self.year),
            Filing::Quarterly => format!("{}ο τρίμηνο {}", self.number, self.year),
        }
    }

    pub fn label_en(&self) -> String {
        match self.filing {
            Filing::Monthly => {
                let first = self.first_day();
                format!("{} {}", first.format("%B"), self.year)
            }
            Filing::Quarterly => format!("Q{} {}", self.number, self.year),
        }
    }
}

/// The last day of the month `months` months after `day`'s month.
fn last_day_of_month_after(day: NaiveDate, months: u32) -> NaiveDate {
    let index = day.year() * 12 + day.month0() as i32 + months as i32 + 1;
    let (year, month0) = (index.div_euclid(12), index.rem_euclid(12) as u32);
    NaiveDate::from_ymd_opt(year, month0 + 1, 1)
        .and_then(|d| d.pred_opt())
        .expect("month arithmetic stays within chrono's range")
}

// ----------------------------------------------------------------------------------------
// The financial system: warranted payments (ενταλματοποιημένες πληρωμές) to suppliers.
// ----------------------------------------------------------------------------------------

/// Where a warrant stands: issued (the municipality owes it, the supplier can collect) or
/// paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WarrantStatus {
    Issued,
    Paid,
}

impl WarrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Paid => "paid",
        }
    }
}

/// A payment order (χρηματικό ένταλμα) the municipality issued to a supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warrant {
    /// The warrant's number as the financial system writes it (e.g. "2026/0412").
    pub number: String,
    pub issued_on: NaiveDate,
    pub amount_cents: Money,
    /// What it pays for (invoice, contract), as the financial system says it (Greek).
    pub purpose: String,
    pub status: WarrantStatus,
    /// Set once paid.
    pub paid_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FinancialError {
    /// No connection, a time-out, a 5xx, or an answer that breaks the contract: nothing is
    /// known; the page says the system is unavailable and shows nothing.
    #[error("the financial system is unavailable: {0}")]
    Unavailable(String),
    /// The financial system refused the question (e.g. an AFM it does not accept).
    #[error("the financial system refused: {0}")]
    Rejected(String),
}

/// The municipality's financial system (λογιστήριο / οικονομική υπηρεσία).
#[async_trait]
pub trait FinancialSystem: Send + Sync {
    /// Every warrant issued to `afm` to date (an AFM it does not know: an empty list).
    async fn warrants(&self, afm: &str) -> Result<Vec<Warrant>, FinancialError>;
}

// ----------------------------------------------------------------------------------------
// The revenue system: municipal tax declarations and certified debts.
// ----------------------------------------------------------------------------------------

/// A declaration as the representative typed it, for the revenue system to check and
/// compute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationInput {
    pub afm: String,
    pub period: TaxPeriod,
    /// As declared in the VAT return, exact cents; zero or more.
    pub gross_revenue_cents: Money,
    /// The day the VAT return was filed.
    pub vat_return_date: NaiveDate,
}

/// What the revenue system computed for a declaration, as of `computed_on` (a day in
/// Europe/Athens): `total_cents = tax_cents + surcharge_cents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxAssessment {
    /// The revenue system's reference of this computation.
    pub assessment_id: String,
    pub afm: String,
    pub period: TaxPeriod,
    pub gross_revenue_cents: Money,
    pub vat_return_date: NaiveDate,
    /// The business's category in the revenue system's register (e.g. "food", "night").
    pub category: String,
    pub category_name_el: String,
    pub category_name_en: String,
    /// The tax rate in basis points (0.5 % = 50).
    pub rate_basis_points: u32,
    pub tax_cents: Money,
    /// The last day to declare without a surcharge.
    pub deadline: NaiveDate,
    /// Months of delay after the deadline (0: on time).
    pub months_late: u32,
    /// The surcharge's rate of the tax in basis points (2 % a month, capped: 10,000).
    pub surcharge_basis_points: u32,
    pub surcharge_cents: Money,
    pub total_cents: Money,
    pub computed_on: NaiveDate,
}

impl TaxAssessment {
    /// Whether this is an answer to `input` that adds up: the same business, period and
    /// gross revenue, and a total that is the tax plus the surcharge and not negative. An
    /// assessment that is not is never shown or charged.
    pub fn answers(&self, input: &DeclarationInput) -> bool {
        self.afm == input.afm
            && self.period == input.period
            && self.gross_revenue_cents == input.gross_revenue_cents
            && self.tax_cents.checked_add(self.surcharge_cents) == Some(self.total_cents)
            && !self.total_cents.is_negative()
    }
}

/// Tells the revenue system that a declaration was paid: it records the declaration as
/// filed and settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationPaidNotice {
    pub assessment: TaxAssessment,
    /// The bank's reference of the payment (on the receipt).
    pub payment_ref: String,
    pub amount_cents: Money,
    pub paid_at: DateTime<Utc>,
    /// Stable per payment (the Payment's id): the same notice again changes nothing.
    pub idempotency_key: String,
}

/// A payment the revenue system has recorded against a debt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DebtSettlement {
    pub payment_ref: String,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub amount_cents: Money,
    pub paid_at: DateTime<Utc>,
}

/// A certified municipal-tax debt (βεβαιωμένη οφειλή) of an AFM, with its amount as of
/// `amount_as_of` (today in Athens, when listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifiedDebt {
    /// The revenue system's id of the debt (ASCII letters, digits and '-').
    pub debt_id: String,
    pub afm: String,
    /// What it is for, in Greek (e.g. «Δημοτικός φόρος 0,5% — 2ο τρίμηνο 2025»).
    pub description: String,
    pub certified_on: NaiveDate,
    pub principal_cents: Money,
    /// Surcharges accrued up to `amount_as_of`.
    pub surcharge_cents: Money,
    pub amount_due_cents: Money,
    pub amount_as_of: NaiveDate,
    /// `Some` once paid: nothing more is due.
    pub paid: Option<DebtSettlement>,
}

/// Tells the revenue system that a certified debt was paid through the bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebtPaymentNotice {
    pub debt_id: String,
    pub afm: String,
    pub payment_ref: String,
    pub amount_cents: Money,
    pub paid_at: DateTime<Utc>,
    /// Stable per payment (the Payment's id): the same notice again changes nothing.
    pub idempotency_key: String,
}

/// Why the revenue system said no. Each is final for that input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevenueRejection {
    /// The AFM is not in the municipality's register of businesses subject to the tax.
    AfmNotRegistered,
    /// The period has not ended yet (nothing to declare).
    PeriodNotEnded,
    /// The VAT return is dated before the period ended, or after today.
    VatReturnDateInvalid,
    /// The business files VAT the other way (monthly vs quarterly).
    FilingMismatch,
    /// The revenue system already holds this period as declared and paid.
    PeriodAlreadyDeclared,
    /// `mark_debt_paid` for a debt already paid by another payment (another key).
    DebtAlreadyPaid,
    /// A notice whose key was already used for a different payment.
    IdempotencyKeyReused,
    /// Any other refusal, with what the system said.
    Other(String),
}

impl RevenueRejection {
    /// The refusal code for the pages and the translation files.
    pub fn refusal_code(&self) -> &'static str {
        match self {
            Self::AfmNotRegistered => "afm_not_registered",
            Self::PeriodNotEnded => "period_not_ended",
            Self::VatReturnDateInvalid => "vat_return_date_invalid",
            Self::FilingMismatch => "filing_mismatch",
            Self::PeriodAlreadyDeclared => "period_already_declared",
            Self::DebtAlreadyPaid => "debt_already_paid",
            Self::IdempotencyKeyReused => "revenue_payment_key_reused",
            Self::Other(_) => "revenue_rejected",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RevenueError {
    /// No connection, a time-out, a 5xx, or an answer that breaks the contract: nothing is
    /// known to have changed; retry later (the notices are safe to retry).
    #[error("the revenue system is unavailable: {0}")]
    Unavailable(String),
    #[error("the revenue system refused: {0:?}")]
    Rejected(RevenueRejection),
    /// A debt id the revenue system does not hold (for that AFM).
    #[error("the revenue system has no such debt")]
    NotFound,
}

impl RevenueError {
    /// The refusal a page shows for this error (codes for the translation files).
    pub fn to_refusal(&self) -> Refusal {
        match self {
            Self::Unavailable(detail) => {
                Refusal::unavailable("revenue_system_unavailable", detail.clone())
            }
            Self::Rejected(RevenueRejection::Other(detail)) => {
                Refusal::rule("revenue_rejected", detail.clone())
            }
            Self::Rejected(RevenueRejection::VatReturnDateInvalid) => Refusal::invalid(
                "vat_return_date_invalid",
                "the VAT return date is before the period's end or after today",
            ),
            Self::Rejected(rejection) => {
                Refusal::rule(rejection.refusal_code(), format!("{rejection:?}"))
            }
            Self::NotFound => Refusal::not_found("debt_not_found", "no such debt"),
        }
    }
}

/// The municipality's revenue system (Έσοδα / Δημοτικός Φόρος).
#[async_trait]
pub trait RevenueSystem: Send + Sync {
    /// Checks a declaration and computes its tax and surcharges as of today.
    async fn assess(&self, input: &DeclarationInput) -> Result<TaxAssessment, RevenueError>;

    /// Records a paid declaration. Idempotent by `notice.idempotency_key`.
    async fn record_declaration(&self, notice: &DeclarationPaidNotice) -> Result<(), RevenueError>;

    /// The certified debts of `afm` (paid ones included, with their settlement), with
    /// amounts as of today.
    async fn certified_debts(&self, afm: &str) -> Result<Vec<CertifiedDebt>, RevenueError>;

    /// Records that a debt was paid. Idempotent by `notice.idempotency_key`.
    async fn mark_debt_paid(&self, notice: &DebtPaymentNotice) -> Result<(), RevenueError>;
}

/// One event of a business's declarations or debts as its timeline shows it: when, the
/// amount it names (a filing's total, a payment's amount), the payment it is about, and a
/// refusal or rejection code it carries (e.g. `payment_declined`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObligationEventSummary {
    pub at: chrono::DateTime<chrono::Utc>,
    pub amount_cents: Option<Money>,
    pub payment_id: Option<String>,
    pub reason: Option<String>,
}

impl crate::tax_declaration::TaxDeclarationEvent {
    pub fn summary(&self) -> ObligationEventSummary {
        use crate::tax_declaration::TaxDeclarationEvent as E;
        let (at, amount_cents, payment_id, reason) = match self {
            E::DeclarationFiled {
                payment_id,
                amount_cents,
                at,
                ..
            }
            | E::DeclarationPaid {
                payment_id,
                amount_cents,
                at,
                ..
            } => (at, Some(*amount_cents), payment_id, None),
            E::DeclarationRejected {
                payment_id,
                reason,
                at,
                ..
            } => (at, None, payment_id, Some(reason.as_str().to_string())),
            E::RevenueSystemNotified { payment_id, at }
            | E::RevenueSystemNoticeRetried { payment_id, at, .. } => (at, None, payment_id, None),
            E::RevenueSystemRefusedNotice {
                payment_id,
                code,
                at,
            } => (at, None, payment_id, Some(code.clone())),
        };
        ObligationEventSummary {
            at: *at,
            amount_cents,
            payment_id: Some(payment_id.clone()),
            reason,
        }
    }
}

impl crate::tax_debt::TaxDebtEvent {
    pub fn summary(&self) -> ObligationEventSummary {
        use crate::tax_debt::TaxDebtEvent as E;
        let (at, amount_cents, payment_id, reason) = match self {
            E::TaxDebtPaymentStarted {
                payment_id,
                amount_cents,
                at,
                ..
            }
            | E::TaxDebtPaid {
                payment_id,
                amount_cents,
                at,
                ..
            } => (at, Some(*amount_cents), payment_id, None),
            E::RevenueSystemNotified { payment_id, at }
            | E::RevenueSystemNoticeRetried { payment_id, at, .. } => (at, None, payment_id, None),
            E::RevenueSystemRefusedNotice {
                payment_id,
                code,
                at,
            } => (at, None, payment_id, Some(code.clone())),
        };
        ObligationEventSummary {
            at: *at,
            amount_cents,
            payment_id: Some(payment_id.clone()),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_are_checked() {
        assert!(TaxPeriod::new(Filing::Monthly, 12, 2026).is_ok());
        assert_eq!(
            TaxPeriod::new(Filing::Monthly, 13, 2026).unwrap_err().code,
            "period_month_invalid"
        );
        assert_eq!(
            TaxPeriod::new(Filing::Quarterly, 5, 2026).unwrap_err().code,
            "period_quarter_invalid"
        );
        assert_eq!(
            TaxPeriod::new(Filing::Monthly, 0, 2026).unwrap_err().code,
            "period_month_invalid"
        );
        assert_eq!(
            TaxPeriod::new(Filing::Monthly, 1, 1999).unwrap_err().code,
            "year_invalid"
        );
        assert_eq!(
            TaxPeriod::parse("weekly", "1", "2026").unwrap_err().code,
            "filing_invalid"
        );
        assert_eq!(
            TaxPeriod::parse("monthly", "x", "2026").unwrap_err().code,
            "period_invalid"
        );
        assert_eq!(
            TaxPeriod::parse("quarterly", " 2 ", "2026").unwrap(),
            TaxPeriod::new(Filing::Quarterly, 2, 2026).unwrap()
        );
    }

    #[test]
    fn period_days_and_deadlines() {
        let feb = TaxPeriod::new(Filing::Monthly, 2, 2028).unwrap();
        assert_eq!(feb.first_day(), day(2028, 2, 1));
        assert_eq!(feb.last_day(), day(2028, 2, 29));
        assert_eq!(feb.deadline(), day(2028, 3, 31));
        let jan = TaxPeriod::new(Filing::Monthly, 1, 2026).unwrap();
        assert_eq!(jan.deadline(), day(2026, 2, 28));
        let dec = TaxPeriod::new(Filing::Monthly, 12, 2026).unwrap();
        assert_eq!(dec.deadline(), day(2027, 1, 31));
        let q4 = TaxPeriod::new(Filing::Quarterly, 4, 2026).unwrap();
        assert_eq!(q4.first_day(), day(2026, 10, 1));
        assert_eq!(q4.last_day(), day(2026, 12, 31));
        assert_eq!(q4.deadline(), day(2027, 1, 31));
        let q1 = TaxPeriod::new(Filing::Quarterly, 1, 2026).unwrap();
        assert_eq!(q1.last_day(), day(2026, 3, 31));
        assert_eq!(q1.deadline(), day(2026, 4, 30));
    }

    #[test]
    fn period_keys_and_labels() {
        let m = TaxPeriod::new(Filing::Monthly, 3, 2026).unwrap();
        assert_eq!(m.key(), "2026-M03");
        assert_eq!(m.label_el(), "Μάρτιος 2026");
        assert_eq!(m.label_en(), "March 2026");
        let q = TaxPeriod::new(Filing::Quarterly, 1, 2026).unwrap();
        assert_eq!(q.key(), "2026-Q1");
        assert_eq!(q.label_el(), "1ο τρίμηνο 2026");
        assert_eq!(q.label_en(), "Q1 2026");
    }
}
