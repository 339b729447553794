//! «Πίνακας στοιχείων» (issue 16): the clerks' and the management's overview — cases and
//! applications per status and per category, those past their deadline, the time to answer
//! per month, payments per day — as charts drawn on the server (SVG, no JavaScript) with a
//! table beside each for screen readers and for copying. The same figures as the JSON API
//! (`/api/v1/staff/stats`), and as CSV in the page's language (`/staff/dashboard.csv`).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::cases::error_page;
use super::staff::staff_user;
use super::{render, Page};
use crate::dashboard::{self, LabelledCount, Stats};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/dashboard", get(dashboard_page))
        .route("/staff/dashboard.csv", get(dashboard_csv))
}

/// `GET /staff/dashboard.csv`: the page's figures as CSV, labelled in the page's language
/// (the API's `stats.csv` follows `Accept-Language`, which may differ from the language a
/// person chose on the pages).
async fn dashboard_csv(State(state): State<AppState>, p: Page) -> Response {
    if let Err(response) = staff_user(&p) {
        return *response;
    }
    match dashboard::load(&state, p.lang).await {
        Ok(stats) => dashboard::csv_response(&stats),
        Err(e) => error_page(p, e),
    }
}

/// The widest bar, in the chart's units (its `viewBox` is 640 wide).
const BAR_SPACE: f64 = 440.0;

/// One bar of a horizontal bar chart: its label above it, its value after it.
pub struct Bar {
    pub label: String,
    pub shown: String,
    /// Length in the chart's units (at least 1 for a non-zero value, so that it shows).
    pub length: f64,
    /// The bar's top, in the chart's units.
    pub y: f64,
    /// A second series (the 90th percentile beside the median), drawn lighter.
    pub second: bool,
}

/// A horizontal bar chart: rows of a label and a bar.
pub struct BarChart {
    pub id: &'static str,
    pub title: String,
    pub bars: Vec<Bar>,
    pub height: f64,
}

/// The height of one bar's row: its label and the bar under it.
const ROW: f64 = 40.0;

impl BarChart {
    /// `rows`: (label, value, value as shown, second series).
    fn new(id: &'static str, title: String, rows: Vec<(String, f64, String, bool)>) -> Self {
        let largest = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
        let bars: Vec<Bar> = rows
            .into_iter()
            .enumerate()
            .map(|(n, (label, value, shown, second))| Bar {
                label,
                shown,
                length: if largest > 0.0 && value > 0.0 {
                    (value / largest * BAR_SPACE).max(1.0)
                } else {
                    0.0
                },
                y: n as f64 * ROW,
                second,
            })
            .collect();
        let height = (bars.len() as f64 * ROW).max(ROW);
        Self {
            id,
            title,
            bars,
            height,
        }
    }

    fn counts(id: &'static str, title: String, counts: &[LabelledCount]) -> Self {
        Self::new(
            id,
            title,
            counts
                .iter()
                .map(|c| (c.label.clone(), c.count as f64, c.count.to_string(), false))
                .collect(),
        )
    }
}

/// One column of the payments chart.
pub struct Column {
    pub x: f64,
    pub y: f64,
    pub height: f64,
    /// The day under every fifth column (and the last), else empty.
    pub label: String,
    /// Where the label is anchored: the last one ends at the chart's edge.
    pub anchor: &'static str,
}

/// The tallest column, in the chart's units (its `viewBox` is 640 × 200).
const COLUMN_SPACE: f64 = 150.0;

#[derive(Template)]
#[template(path = "staff_dashboard.html")]
struct DashboardPage {
    p: Page,
    stats: Stats,
    charts: Vec<(BarChart, Vec<LabelledCount>)>,
    overdue: BarChart,
    answer_times: BarChart,
    columns: Vec<Column>,
    payments_total: i64,
}

impl DashboardPage {
    fn money(&self, cents: &i64) -> String {
        domain::Money::from_cents(*cents).to_string()
    }

    fn days(&self, days: &f64) -> String {
        crate::excel::days(*days)
    }
}

async fn dashboard_page(State(state): State<AppState>, p: Page) -> Response {
    if let Err(response) = staff_user(&p) {
        return *response;
    }
    let stats = match dashboard::load(&state, p.lang).await {
        Ok(stats) => stats,
        Err(e) => return error_page(p, e),
    };
    let charts = [
        (
            "requests-by-status",
            "ui_dashboard_requests_by_status",
            &stats.requests_by_status,
        ),
        (
            "requests-by-category",
            "ui_dashboard_requests_by_category",
            &stats.requests_by_category,
        ),
        (
            "applications-by-status",
            "ui_dashboard_applications_by_status",
            &stats.applications_by_status,
        ),
        (
            "applications-by-type",
            "ui_dashboard_applications_by_type",
            &stats.applications_by_type,
        ),
    ]
    .map(|(id, title, rows)| (BarChart::counts(id, p.t(title), rows), rows.clone()))
    .into();
    let ranges = [
        p.t("ui_dashboard_late_week"),
        p.t("ui_dashboard_late_month"),
        p.t("ui_dashboard_late_more"),
    ];
    let overdue = BarChart::new(
        "overdue",
        p.t("ui_dashboard_overdue"),
        stats
            .overdue
            .iter()
            .flat_map(|o| {
                [o.up_to_a_week, o.up_to_a_month, o.over_a_month]
                    .into_iter()
                    .zip(ranges.iter())
                    .map(|(n, range)| {
                        (
                            format!("{} · {range}", o.label),
                            n as f64,
                            n.to_string(),
                            false,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
    );
    let (median, p90) = (p.t("ui_dashboard_median"), p.t("ui_dashboard_p90"));
    let answer_times = BarChart::new(
        "answer-times",
        p.t("ui_dashboard_answer_times"),
        stats
            .answer_times
            .iter()
            .flat_map(|a| {
                [
                    (format!("{} · {median}", a.month), a.median_days, false),
                    (format!("{} · {p90}", a.month), a.p90_days, true),
                ]
                .into_iter()
                .map(|(label, days, second)| (label, days, crate::excel::days(days), second))
                .collect::<Vec<_>>()
            })
            .collect(),
    );
    let most = stats
        .payments_per_day
        .iter()
        .map(|d| d.payments)
        .max()
        .unwrap_or(0);
    let width = 640.0 / stats.payments_per_day.len().max(1) as f64;
    let last = stats.payments_per_day.len().saturating_sub(1);
    let columns = stats
        .payments_per_day
        .iter()
        .enumerate()
        .map(|(n, d)| {
            let height = if most > 0 {
                d.payments as f64 / most as f64 * COLUMN_SPACE
            } else {
                0.0
            };
            Column {
                x: n as f64 * width + 2.0,
                y: 10.0 + COLUMN_SPACE - height,
                height,
                label: if n % 5 == 0 || n == last {
                    d.day.format("%d/%m").to_string()
                } else {
                    String::new()
                },
                anchor: if n == last { "end" } else { "start" },
            }
        })
        .collect();
    let payments_total = stats.payments_per_day.iter().map(|d| d.payments).sum();
    render(&DashboardPage {
        p,
        stats,
        charts,
        overdue,
        answer_times,
        columns,
        payments_total,
    })
}
