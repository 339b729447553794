//! «Εγκεκριμένες Πληρωμές» (S12): the payment orders (χρηματικά εντάλματα) the
//! municipality has issued to a certified business's ΑΦΜ, read from the financial system
//! at every request, sorted, with totals. (The API and the pages render them as JSON, a
//! page or a CSV for Greek Excel.)
//!
//! The portal keeps no copy: when the financial system cannot answer, the answer is "it is
//! unavailable" and nothing else, so that nothing stale is ever shown as current.

use domain::Money;
use std::cmp::Ordering;

#[cfg(test)]
use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use domain::business::{FinancialError, Warrant, WarrantStatus};
use domain::certification::Business;
use domain::Refusal;
use serde::Serialize;

use crate::business::{certified_business, BusinessError};
use crate::context::{Actor, Portal};

/// The refusal code when the financial system cannot answer (503).
pub const FINANCIAL_UNAVAILABLE: &str = "financial_system_unavailable";

/// What the list can be sorted by (`?sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    IssuedOn,
    Number,
    Amount,
    Status,
}

impl SortKey {
    pub const ALL: [Self; 4] = [Self::Number, Self::IssuedOn, Self::Amount, Self::Status];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IssuedOn => "issued_on",
            Self::Number => "number",
            Self::Amount => "amount",
            Self::Status => "status",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The order a column starts in when chosen: newest and largest first, numbers and
    /// statuses (issued before paid) in their natural order.
    pub fn default_order(self) -> SortOrder {
        match self {
            Self::IssuedOn | Self::Amount => SortOrder::Desc,
            Self::Number | Self::Status => SortOrder::Asc,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    pub fn reversed(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }
}

/// Why the warrants could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum WarrantError {
    /// A sort parameter that is not one of the list's (`code` names it).
    #[error("{code}: {detail}")]
    BadSorting { code: &'static str, detail: String },
    #[error(transparent)]
    Business(#[from] BusinessError),
    /// The financial system is unavailable or refused.
    #[error("refused: {0}")]
    Refused(Refusal),
}

/// How the list is sorted: by default the newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sorting {
    pub key: SortKey,
    pub order: SortOrder,
}

impl Default for Sorting {
    fn default() -> Self {
        Self {
            key: SortKey::IssuedOn,
            order: SortOrder::Desc,
        }
    }
}

impl Sorting {
    /// `?sort=issued_on|number|amount|status&order=asc|desc`; absent or empty: the
    /// default (`issued_on`, and the key's own order). Anything else is a 400 naming the
    /// parameter.
    pub fn parse(sort: Option<&str>, order: Option<&str>) -> Result<Self, WarrantError> {
        let key = match sort.map(str::trim).filter(|s| !s.is_empty()) {
            None => SortKey::IssuedOn,
            Some(raw) => SortKey::parse(raw).ok_or_else(|| WarrantError::BadSorting {
                code: "warrants_sort_invalid",
                detail: format!("sort: {raw:?} is not one of issued_on, number, amount, status"),
            })?,
        };
        let order = match order.map(str::trim).filter(|s| !s.is_empty()) {
            None => key.default_order(),
            Some("asc") => SortOrder::Asc,
            Some("desc") => SortOrder::Desc,
            Some(raw) => {
                return Err(WarrantError::BadSorting {
                    code: "warrants_order_invalid",
                    detail: format!("order: {raw:?} is neither asc nor desc"),
                })
            }
        };
        Ok(Self { key, order })
    }

    /// Sorts in place; ties fall back to the newest first, then the number.
    pub fn apply(&self, warrants: &mut [Warrant]) {
        warrants.sort_by(|a, b| {
            let primary = match self.key {
                SortKey::IssuedOn => a.issued_on.cmp(&b.issued_on),
                SortKey::Number => natural_cmp(&a.number, &b.number),
                SortKey::Amount => a.amount_cents.cmp(&b.amount_cents),
                SortKey::Status => status_rank(a.status).cmp(&status_rank(b.status)),
            };
            let primary = match self.order {
                SortOrder::Asc => primary,
                SortOrder::Desc => primary.reverse(),
            };
            primary
                .then_with(|| b.issued_on.cmp(&a.issued_on))
                .then_with(|| natural_cmp(&b.number, &a.number))
        });
    }
}

/// Issued (still to be paid) before paid.
fn status_rank(status: WarrantStatus) -> u8 {
    match status {
        WarrantStatus::Issued => 0,
        WarrantStatus::Paid => 1,
    }
}

/// Compares warrant numbers as people do: runs of digits by their value, so "2026/99"
/// comes before "2026/100".
fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn runs(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut digits = None;
        for (i, c) in s.char_indices() {
            let d = c.is_ascii_digit();
            if digits.is_some_and(|prev| prev != d) {
                out.push((digits.unwrap_or(false), &s[start..i]));
                start = i;
            }
            digits = Some(d);
        }
        if start < s.len() {
            out.push((digits.unwrap_or(false), &s[start..]));
        }
        out
    }
    let (ra, rb) = (runs(a), runs(b));
    for (x, y) in ra.iter().zip(rb.iter()) {
        let ordering = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    ra.len().cmp(&rb.len()).then_with(|| a.cmp(b))
}

/// The sums shown under the list: everything, what is issued and not yet paid, and what
/// has been paid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WarrantTotals)]
pub struct Totals {
    pub count: usize,
    /// Everything.
    #[schema(value_type = i64)]
    pub amount_cents: Money,
    /// Issued and not yet paid.
    #[schema(value_type = i64)]
    pub issued_cents: Money,
    /// Paid.
    #[schema(value_type = i64)]
    pub paid_cents: Money,
}

impl Totals {
    pub fn of(warrants: &[Warrant]) -> Self {
        warrants.iter().fold(Self::default(), |mut t, w| {
            t.count += 1;
            t.amount_cents += w.amount_cents;
            match w.status {
                WarrantStatus::Issued => t.issued_cents += w.amount_cents,
                WarrantStatus::Paid => t.paid_cents += w.amount_cents,
            }
            t
        })
    }
}

/// The answer of the financial system for a business, sorted, as of `fetched_at`.
#[derive(Debug, Clone)]
pub struct WarrantList {
    pub business: Business,
    pub warrants: Vec<Warrant>,
    pub totals: Totals,
    pub sorting: Sorting,
    pub fetched_at: DateTime<Utc>,
}

/// The refusal a failure of the financial system is.
pub fn financial_error(error: FinancialError) -> WarrantError {
    match error {
        FinancialError::Unavailable(detail) => {
            tracing::warn!(%detail, "the financial system is unavailable");
            WarrantError::Refused(Refusal::unavailable(FINANCIAL_UNAVAILABLE, detail))
        }
        FinancialError::Rejected(detail) => {
            tracing::warn!(%detail, "the financial system refused");
            WarrantError::Refused(Refusal::rule("financial_system_rejected", detail))
        }
    }
}

/// The warrants of the business `actor` represents: the precondition of every business
/// service first ([`certified_business`]), then the financial system, asked now.
pub async fn list(
    portal: &Portal,
    actor: &Actor,
    sorting: Sorting,
) -> Result<WarrantList, WarrantError> {
    let business = certified_business(portal, actor).await?;
    let mut warrants = portal
        .financial
        .warrants(&business.afm)
        .await
        .map_err(financial_error)?;
    let fetched_at = portal.now();
    sorting.apply(&mut warrants);
    let totals = Totals::of(&warrants);
    Ok(WarrantList {
        business,
        warrants,
        totals,
        sorting,
        fetched_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warrant(number: &str, day: u32, cents: i64, status: WarrantStatus) -> Warrant {
        let issued_on = NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
        Warrant {
            number: number.into(),
            issued_on,
            amount_cents: Money::from_cents(cents),
            purpose: "Προμήθεια".into(),
            status,
            paid_on: (status == WarrantStatus::Paid).then_some(issued_on),
        }
    }

    fn numbers(warrants: &[Warrant]) -> Vec<&str> {
        warrants.iter().map(|w| w.number.as_str()).collect()
    }

    #[test]
    fn sorting_is_parsed_with_defaults_and_named_errors() {
        assert_eq!(Sorting::parse(None, None).unwrap(), Sorting::default());
        assert_eq!(
            Sorting::parse(Some(""), Some("")).unwrap(),
            Sorting::default()
        );
        let by_number = Sorting::parse(Some("number"), None).unwrap();
        assert_eq!(by_number.order, SortOrder::Asc);
        let amount = Sorting::parse(Some("amount"), Some("asc")).unwrap();
        assert_eq!(
            (amount.key, amount.order),
            (SortKey::Amount, SortOrder::Asc)
        );
        let bad = Sorting::parse(Some("price"), None).unwrap_err();
        assert!(matches!(
            bad,
            WarrantError::BadSorting {
                code: "warrants_sort_invalid",
                ..
            }
        ));
        let bad = Sorting::parse(None, Some("up")).unwrap_err();
        assert!(matches!(
            bad,
            WarrantError::BadSorting {
                code: "warrants_order_invalid",
                ..
            }
        ));
    }

    #[test]
    fn sorts_each_way_with_ties_newest_first() {
        let mut w = vec![
            warrant("2026/99", 2, 500, WarrantStatus::Paid),
            warrant("2026/100", 1, 700, WarrantStatus::Issued),
            warrant("2026/7", 3, 500, WarrantStatus::Issued),
        ];
        Sorting::default().apply(&mut w);
        assert_eq!(numbers(&w), ["2026/7", "2026/99", "2026/100"]);
        Sorting::parse(Some("number"), None).unwrap().apply(&mut w);
        assert_eq!(numbers(&w), ["2026/7", "2026/99", "2026/100"]);
        Sorting::parse(Some("number"), Some("desc"))
            .unwrap()
            .apply(&mut w);
        assert_eq!(numbers(&w), ["2026/100", "2026/99", "2026/7"]);
        Sorting::parse(Some("amount"), None).unwrap().apply(&mut w);
        assert_eq!(numbers(&w), ["2026/100", "2026/7", "2026/99"]);
        Sorting::parse(Some("status"), None).unwrap().apply(&mut w);
        assert_eq!(numbers(&w), ["2026/7", "2026/100", "2026/99"]);
        Sorting::parse(Some("issued_on"), Some("asc"))
            .unwrap()
            .apply(&mut w);
        assert_eq!(numbers(&w), ["2026/100", "2026/99", "2026/7"]);
    }

    #[test]
    fn totals_split_issued_and_paid() {
        let w = vec![
            warrant("1", 1, 1000, WarrantStatus::Paid),
            warrant("2", 1, 250, WarrantStatus::Issued),
            warrant("3", 1, 5, WarrantStatus::Issued),
        ];
        assert_eq!(
            Totals::of(&w),
            Totals {
                count: 3,
                amount_cents: Money::from_cents(1255),
                issued_cents: Money::from_cents(255),
                paid_cents: Money::from_cents(1000)
            }
        );
        assert_eq!(Totals::of(&[]), Totals::default());
    }
}
