//! «Εγκεκριμένες Πληρωμές» (S12): the page of the warrants issued to the business the user
//! represents (sortable columns, totals, the CSV download), and the download itself. When
//! the financial system cannot answer, a 503 page says so and shows no list.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono_tz::Europe::Athens;
use domain::business::WarrantStatus;

use super::business::business_required;
use super::cases::error_page;
use super::certificates::applicant;
use super::{render, Page};
use crate::error::ApiError;
use crate::AppState;
use commands::warrants::{self, SortKey, SortOrder, Sorting, WarrantList, FINANCIAL_UNAVAILABLE};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/business/warrants", get(warrants_page))
        .route("/business/warrants.csv", get(warrants_csv))
}

/// A column header: a link that sorts by it (or turns its order around when it already
/// does), and its `aria-sort`.
struct Column {
    key: &'static str,
    label: String,
    href: String,
    /// `ascending`/`descending` on the sorted column.
    aria_sort: Option<&'static str>,
    /// ▲ or ▼ on the sorted column (hidden from screen readers, which read `aria-sort`).
    arrow: Option<&'static str>,
    numeric: bool,
}

struct Row {
    number: String,
    issued_on: String,
    amount: String,
    purpose: String,
    status: &'static str,
    status_label: String,
    paid_on: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "business_warrants.html")]
struct WarrantsPage {
    p: Page,
    company_name: String,
    afm: String,
    columns: Vec<Column>,
    rows: Vec<Row>,
    count: usize,
    total: String,
    issued: String,
    paid: String,
    csv_href: String,
    fetched_at: String,
    /// The financial system did not answer: no list at all.
    unavailable: bool,
}

fn sort_href(path: &str, sorting: Sorting) -> String {
    format!(
        "{path}?sort={}&order={}",
        sorting.key.as_str(),
        sorting.order.as_str()
    )
}

fn columns(p: &Page, sorting: Sorting) -> Vec<Column> {
    SortKey::ALL
        .into_iter()
        .map(|key| {
            let sorted = sorting.key == key;
            let next = Sorting {
                key,
                order: if sorted {
                    sorting.order.reversed()
                } else {
                    key.default_order()
                },
            };
            Column {
                key: key.as_str(),
                label: p.t(&format!("ui_warrants_col_{}", key.as_str())),
                href: sort_href("/business/warrants", next),
                aria_sort: sorted.then_some(match sorting.order {
                    SortOrder::Asc => "ascending",
                    SortOrder::Desc => "descending",
                }),
                arrow: sorted.then_some(match sorting.order {
                    SortOrder::Asc => "▲",
                    SortOrder::Desc => "▼",
                }),
                numeric: key == SortKey::Amount,
            }
        })
        .collect()
}

fn page_of(p: Page, list: Option<&WarrantList>, sorting: Sorting) -> WarrantsPage {
    let columns = columns(&p, sorting);
    let rows = list
        .map(|l| {
            l.warrants
                .iter()
                .map(|w| Row {
                    number: w.number.clone(),
                    issued_on: p.day(&w.issued_on),
                    amount: w.amount_cents.to_string(),
                    purpose: w.purpose.clone(),
                    status: w.status.as_str(),
                    status_label: p.t(&crate::warrants::status_code(w.status)),
                    paid_on: match w.status {
                        WarrantStatus::Paid => w.paid_on.map(|d| p.day(&d)),
                        WarrantStatus::Issued => None,
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let totals = list.map(|l| l.totals).unwrap_or_default();
    WarrantsPage {
        company_name: list
            .map(|l| l.business.company_name.clone())
            .unwrap_or_default(),
        afm: list.map(|l| l.business.afm.clone()).unwrap_or_default(),
        columns,
        rows,
        count: totals.count,
        total: totals.amount_cents.to_string(),
        issued: totals.issued_cents.to_string(),
        paid: totals.paid_cents.to_string(),
        csv_href: sort_href("/business/warrants.csv", sorting),
        fetched_at: list
            .map(|l| {
                l.fetched_at
                    .with_timezone(&Athens)
                    .format("%d/%m/%Y %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default(),
        unavailable: list.is_none(),
        p,
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn sorting_of(query: &HashMap<String, String>) -> Result<Sorting, ApiError> {
    Ok(Sorting::parse(
        query.get("sort").map(String::as_str),
        query.get("order").map(String::as_str),
    )?)
}

/// Whether `error` is the financial system failing to answer.
fn is_unavailable(error: &ApiError) -> bool {
    matches!(error, ApiError::Refused(r) if r.code == FINANCIAL_UNAVAILABLE)
}

async fn warrants_page(
    State(state): State<AppState>,
    p: Page,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    warrants_answer(&state, p, &query, false).await
}

/// The «Λήψη CSV» link: the CSV for a logged-in browser, the same pages as the list when it
/// cannot be had.
async fn warrants_csv(
    State(state): State<AppState>,
    p: Page,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    warrants_answer(&state, p, &query, true).await
}

/// The list as a page, or (`csv`) as the CSV file; when the list cannot be had, the same
/// pages either way (the 503 page, how to get certified, an error).
async fn warrants_answer(
    state: &AppState,
    p: Page,
    query: &HashMap<String, String>,
    csv: bool,
) -> Response {
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let sorting = match sorting_of(query) {
        Ok(sorting) => sorting,
        Err(e) => return error_page(p, e),
    };
    match warrants::list(state, &user.actor(), sorting)
        .await
        .map_err(ApiError::from)
    {
        Ok(list) if csv => crate::warrants::csv_response(&list),
        Ok(list) => no_store(render(&page_of(p, Some(&list), sorting))),
        Err(e) if is_unavailable(&e) => {
            let mut response = no_store(render(&page_of(p, None, sorting)));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
        }
        Err(e) => business_required(state, p, &user, e).await,
    }
}
