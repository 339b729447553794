//! «Εγκεκριμένες Πληρωμές» (S12) as the JSON API and the pages render them: the list as
//! JSON with labels in the reader's language, and the CSV for Greek Excel. The use case is
//! `commands::warrants`.

use axum::response::Response;
use chrono::NaiveDate;
use chrono_tz::Europe::Athens;
use commands::warrants::WarrantList;
use domain::business::{Warrant, WarrantStatus};
use serde::Serialize;
use utoipa::ToSchema;

use crate::excel::{guarded, ExcelCsv};
use crate::i18n::{self, Lang};

/// «Εγκεκριμένες Πληρωμές»: every warrant issued to the business's ΑΦΜ, as the financial
/// system answered just now, sorted, with totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct Warrants {
    business: WarrantsBusiness,
    #[schema(value_type = SortKey, inline)]
    sort: &'static str,
    #[schema(value_type = SortOrder, inline)]
    order: &'static str,
    warrants: Vec<WarrantItem>,
    totals: commands::warrants::Totals,
    /// When the financial system answered.
    fetched_at: chrono::DateTime<chrono::Utc>,
}

/// The business the warrants were issued to.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarrantsBusiness {
    company_name: String,
    #[schema(pattern = r"^[0-9]{9}$")]
    afm: String,
}

/// A payment order (χρηματικό ένταλμα) the municipality issued to the business.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarrantItem {
    /// As the financial system writes it (e.g. "2026/0412").
    number: String,
    issued_on: NaiveDate,
    #[schema(value_type = i64, minimum = 0)]
    amount_cents: domain::money::Money,
    /// What it pays for (invoice, contract), as the financial system says it (Greek).
    purpose: String,
    status: WarrantStatus,
    /// The status in the reader's language.
    status_label: String,
    /// Set once paid.
    #[schema(required)]
    paid_on: Option<NaiveDate>,
}

/// What the list is sorted by (documentation: `Sorting` names it in text).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum SortKey {
    IssuedOn,
    Number,
    Amount,
    Status,
}

/// The order of the list (documentation).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum SortOrder {
    Asc,
    Desc,
}

/// The API's answer, with each status labelled in `lang`.
pub fn to_json(list: &WarrantList, lang: Lang) -> Warrants {
    Warrants {
        business: WarrantsBusiness {
            company_name: list.business.company_name.clone(),
            afm: list.business.afm.clone(),
        },
        sort: list.sorting.key.as_str(),
        order: list.sorting.order.as_str(),
        warrants: list
            .warrants
            .iter()
            .map(|w| WarrantItem {
                number: w.number.clone(),
                issued_on: w.issued_on,
                amount_cents: w.amount_cents,
                purpose: w.purpose.clone(),
                status: w.status,
                status_label: i18n::message(lang, &status_code(w.status)),
                paid_on: w.paid_on,
            })
            .collect(),
        totals: list.totals,
        fetched_at: list.fetched_at,
    }
}

/// The CSV download (see [`csv`]) with its headers: an attachment named after the ΑΦΜ and
/// the day, never cached.
pub fn csv_response(list: &WarrantList) -> Response {
    let today = list.fetched_at.with_timezone(&Athens).date_naive();
    crate::http::csv_download(
        &csv_filename(&list.business.afm, today),
        csv(&list.warrants),
    )
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

/// The list as Greek Excel opens it on a double click ([`crate::excel`]): a header row in
/// Greek, days as `dd/mm/yyyy` and amounts with a decimal comma.
pub fn csv(warrants: &[Warrant]) -> String {
    let mut out = ExcelCsv::default();
    out.row(
        [
            "warrants_csv_number",
            "warrants_csv_issued_on",
            "warrants_csv_amount",
            "warrants_csv_purpose",
            "warrants_csv_status",
            "warrants_csv_paid_on",
        ]
        .map(|code| guarded(&i18n::message(Lang::El, code)).into_owned()),
    );
    for w in warrants {
        out.row([
            guarded(&w.number).into_owned(),
            w.issued_on.format("%d/%m/%Y").to_string(),
            w.amount_cents.to_decimal_comma_string(),
            guarded(&w.purpose).into_owned(),
            guarded(&i18n::message(Lang::El, &status_code(w.status))).into_owned(),
            w.paid_on
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_default(),
        ]);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use commands::warrants::Sorting;

    #[test]
    fn a_bad_sort_is_a_400_that_names_the_parameter() {
        let bad = ApiError::from(Sorting::parse(Some("price"), None).unwrap_err());
        assert_eq!(bad.code(), "warrants_sort_invalid");
        assert_eq!(bad.status(), axum::http::StatusCode::BAD_REQUEST);
        let bad = ApiError::from(Sorting::parse(None, Some("up")).unwrap_err());
        assert_eq!(bad.code(), "warrants_order_invalid");
    }

    #[test]
    fn csv_cells_amounts_and_names() {
        assert_eq!(
            domain::Money::from_cents(123_456).to_decimal_comma_string(),
            "1234,56"
        );
        assert_eq!(
            csv_filename("094259216", NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()),
            "warrants-094259216-2026-12-04.csv"
        );
    }
}
