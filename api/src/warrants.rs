//! «Εγκεκριμένες Πληρωμές» (S12): the payment orders (χρηματικά εντάλματα) the
//! municipality has issued to a certified business's ΑΦΜ, read from the financial system
//! at every request, sorted, with totals, as JSON, a page or a CSV for Greek Excel.
//!
//! The portal keeps no copy: when the financial system cannot answer, the answer is "it is
//! unavailable" and nothing else, so that nothing stale is ever shown as current.

use std::cmp::Ordering;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Athens;
use domain::business::{FinancialError, Warrant, WarrantStatus};
use domain::certification::Business;
use domain::Refusal;
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::i18n::{self, Lang};
use crate::AppState;

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
    pub fn parse(sort: Option<&str>, order: Option<&str>) -> Result<Self, ApiError> {
        let key = match sort.map(str::trim).filter(|s| !s.is_empty()) {
            None => SortKey::IssuedOn,
            Some(raw) => SortKey::parse(raw).ok_or_else(|| ApiError::BadRequest {
                code: "warrants_sort_invalid",
                detail: format!("sort: {raw:?} is not one of issued_on, number, amount, status"),
            })?,
        };
        let order = match order.map(str::trim).filter(|s| !s.is_empty()) {
            None => key.default_order(),
            Some("asc") => SortOrder::Asc,
            Some("desc") => SortOrder::Desc,
            Some(raw) => {
                return Err(ApiError::BadRequest {
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub count: usize,
    pub amount_cents: i64,
    pub issued_cents: i64,
    pub paid_cents: i64,
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

/// What the API answers when the financial system fails.
pub fn financial_error(error: FinancialError) -> ApiError {
    match error {
        FinancialError::Unavailable(detail) => {
            tracing::warn!(%detail, "the financial system is unavailable");
            ApiError::Refused(Refusal::unavailable(FINANCIAL_UNAVAILABLE, detail))
        }
        FinancialError::Rejected(detail) => {
            tracing::warn!(%detail, "the financial system refused");
            ApiError::Refused(Refusal::rule("financial_system_rejected", detail))
        }
    }
}

/// The warrants of the business `user` represents: the precondition of every business
/// service first ([`crate::business::certified_business`]), then the financial system,
/// asked now.
pub async fn list(
    state: &AppState,
    user: &CurrentUser,
    sorting: Sorting,
) -> Result<WarrantList, ApiError> {
    let business = crate::business::certified_business(state, user).await?;
    let mut warrants = state
        .financial
        .warrants(&business.afm)
        .await
        .map_err(financial_error)?;
    let fetched_at = Utc::now();
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

impl WarrantList {
    /// The API's answer, with each status labelled in `lang`.
    pub fn to_json(&self, lang: Lang) -> Value {
        let warrants: Vec<Value> = self
            .warrants
            .iter()
            .map(|w| {
                json!({
                    "number": w.number,
                    "issued_on": w.issued_on,
                    "amount_cents": w.amount_cents,
                    "purpose": w.purpose,
                    "status": w.status.as_str(),
                    "status_label": i18n::message(lang, &status_code(w.status)),
                    "paid_on": w.paid_on,
                })
            })
            .collect();
        json!({
            "business": {
                "company_name": self.business.company_name,
                "afm": self.business.afm,
            },
            "sort": self.sorting.key.as_str(),
            "order": self.sorting.order.as_str(),
            "warrants": warrants,
            "totals": self.totals,
            "fetched_at": self.fetched_at,
        })
    }

    /// The CSV download (see [`csv`]) with its headers: an attachment named after the
    /// ΑΦΜ and the day, never cached.
    pub fn csv_response(&self) -> Response {
        let today = self.fetched_at.with_timezone(&Athens).date_naive();
        let disposition = format!(
            "attachment; filename=\"{}\"",
            csv_filename(&self.business.afm, today)
        );
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&disposition)
                        .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            csv(&self.warrants),
        )
            .into_response()
    }
}

/// The translation code of a warrant's status.
pub fn status_code(status: WarrantStatus) -> String {
    format!("warrant_status_{}", status.as_str())
}

/// `warrants-094259216-2026-12-04.csv`.
pub fn csv_filename(afm: &str, day: NaiveDate) -> String {
    let afm: String = afm.chars().filter(char::is_ascii_digit).collect();
    format!("warrants-{afm}-{}.csv", day.format("%Y-%m-%d"))
}

/// Cents with a decimal comma and no grouping, as Greek Excel reads a number: `1234,56`.
pub fn decimal_comma(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{},{:02}", cents / 100, cents % 100)
}

/// One CSV cell: quoted when it holds the separator, a quote or a line break; a text that
/// a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) is kept as text with a
/// leading apostrophe.
fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The list as Greek Excel opens it on a double click: UTF-8 with a byte-order mark, `;`
/// between cells, CRLF line ends, a header row in Greek, days as `dd/mm/yyyy` and amounts
/// with a decimal comma.
pub fn csv(warrants: &[Warrant]) -> String {
    let header = [
        "warrants_csv_number",
        "warrants_csv_issued_on",
        "warrants_csv_amount",
        "warrants_csv_purpose",
        "warrants_csv_status",
        "warrants_csv_paid_on",
    ]
    .map(|code| cell(&i18n::message(Lang::El, code)))
    .join(";");
    let mut out = String::from("\u{feff}");
    out.push_str(&header);
    out.push_str("\r\n");
    for w in warrants {
        let row = [
            cell(&w.number),
            w.issued_on.format("%d/%m/%Y").to_string(),
            decimal_comma(w.amount_cents),
            cell(&w.purpose),
            cell(&i18n::message(Lang::El, &status_code(w.status))),
            w.paid_on
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_default(),
        ];
        out.push_str(&row.join(";"));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warrant(number: &str, day: u32, cents: i64, status: WarrantStatus) -> Warrant {
        let issued_on = NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
        Warrant {
            number: number.into(),
            issued_on,
            amount_cents: cents,
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
        assert_eq!(bad.code(), "warrants_sort_invalid");
        assert_eq!(bad.status(), axum::http::StatusCode::BAD_REQUEST);
        let bad = Sorting::parse(None, Some("up")).unwrap_err();
        assert_eq!(bad.code(), "warrants_order_invalid");
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
                amount_cents: 1255,
                issued_cents: 255,
                paid_cents: 1000
            }
        );
        assert_eq!(Totals::of(&[]), Totals::default());
    }

    #[test]
    fn csv_cells_amounts_and_names() {
        assert_eq!(decimal_comma(123_456), "1234,56");
        assert_eq!(decimal_comma(7), "0,07");
        assert_eq!(cell("α;β"), "\"α;β\"");
        assert_eq!(cell("«Ο \"Μύλος\"»"), "\"«Ο \"\"Μύλος\"\"»\"");
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("απλό"), "απλό");
        assert_eq!(
            csv_filename("094259216", NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()),
            "warrants-094259216-2026-12-04.csv"
        );
    }
}
