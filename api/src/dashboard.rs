//! The clerks' dashboard (issue 16), as the JSON API, the CSV and the page share it: the
//! figures of `projections::stats`, each key with its label in the reader's language.

use axum::response::Response;
use chrono::{NaiveDate, Utc};
use domain::municipality::Municipality;
use projections::stats::{self, AnswerTimes, PaymentsOnDay};
use serde::Serialize;

use crate::error::ApiError;
use crate::excel::{self, guarded, ExcelCsv};
use crate::http::wait_for_log_head;
use crate::i18n::{self, Lang};
use crate::AppState;

/// A count with its key's label.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = StatsCount)]
pub struct LabelledCount {
    /// A status, a category's or a certificate type's code (`tap` for a ΤΑΠ certificate);
    /// `null`: requests without a category.
    #[schema(required)]
    pub key: Option<String>,
    /// The key in the reader's language.
    pub label: String,
    #[schema(minimum = 0)]
    pub count: i64,
}

/// The open cases of one kind past their deadline, by how many days late.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverdueRow {
    // `requests` or `applications` (a doc comment here would make utoipa wrap the enum in
    // an `allOf` with an object).
    #[schema(value_type = OverdueKind, inline)]
    pub what: &'static str,
    pub label: String,
    /// 1–7 days late.
    #[schema(minimum = 0)]
    pub up_to_a_week: i64,
    /// 8–30 days late.
    #[schema(minimum = 0)]
    pub up_to_a_month: i64,
    /// More than 30 days late.
    #[schema(minimum = 0)]
    pub over_a_month: i64,
}

/// What a row of overdue cases counts (its documentation: the row names it in text).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum OverdueKind {
    Requests,
    Applications,
}

/// `GET /api/v1/staff/stats`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// The day the figures are counted on (Athens).
    pub today: NaiveDate,
    pub requests_by_status: Vec<LabelledCount>,
    pub requests_by_category: Vec<LabelledCount>,
    pub applications_by_status: Vec<LabelledCount>,
    pub applications_by_type: Vec<LabelledCount>,
    /// Requests first, then certificate applications: the open ones past their deadline (a
    /// request's is its category's `deadline_days`; one without a category has none), by
    /// days late.
    pub overdue: Vec<OverdueRow>,
    /// The requests answered in each of the last twelve months (Athens time; months
    /// without answers left out), oldest first: the median days from submission to answer
    /// (interpolated), and `p90_days`, the time within which 90 % were answered (an answer
    /// time actually taken).
    pub answer_times: Vec<AnswerTimes>,
    /// Each of the last 30 days (Athens), oldest first: the payments that succeeded and
    /// their total.
    #[schema(min_items = 30, max_items = 30)]
    pub payments_per_day: Vec<PaymentsOnDay>,
}

/// The dashboard's figures, once its read model has reached the log's head.
pub async fn load(state: &AppState, lang: Lang) -> Result<Stats, ApiError> {
    wait_for_log_head(state, projections::DASHBOARD_READS).await?;
    let municipality = &state.config.municipality;
    let figures = stats::dashboard(&state.pool, Utc::now(), &deadlines(municipality)).await?;
    Ok(labelled(figures, municipality, lang))
}

/// Each request category's code and its deadline in days.
fn deadlines(municipality: &Municipality) -> Vec<(String, i32)> {
    municipality
        .requests
        .categories
        .iter()
        .map(|c| (c.service_code.clone(), c.deadline_days as i32))
        .collect()
}

/// What the clerk's work overview counts (requests per status, those past their deadline),
/// once the dashboard's read model has reached the log.
pub async fn open_work(state: &AppState) -> Result<stats::OpenWork, ApiError> {
    wait_for_log_head(state, projections::DASHBOARD_READS).await?;
    let deadlines = deadlines(&state.config.municipality);
    Ok(stats::open_work(&state.pool, Utc::now(), &deadlines).await?)
}

fn labelled(figures: stats::Dashboard, municipality: &Municipality, lang: Lang) -> Stats {
    let label = |counts: Vec<stats::Count>, name: &dyn Fn(&str) -> String, none: &str| {
        counts
            .into_iter()
            .map(|c| LabelledCount {
                label: match &c.key {
                    Some(key) => name(key),
                    None => i18n::message(lang, none),
                },
                key: c.key,
                count: c.count,
            })
            .collect::<Vec<_>>()
    };
    let request_status = |s: &str| i18n::message(lang, &format!("status_{s}"));
    let category = |code: &str| match municipality.requests.find(code) {
        Some(c) => lang.pick(&c.name_el, &c.name_en),
        None => code.to_string(),
    };
    let application_status = |s: &str| i18n::message(lang, &format!("application_status_{s}"));
    // A civil-registry certificate by its configured name (its code if no longer
    // configured); an application without a certificate type (ΤΑΠ) by its kind.
    let certificate = |code: &str| match municipality.certificate_type(code) {
        Some(t) => lang.pick(&t.name_el, &t.name_en),
        None if code == "tap" => lang.pick(&municipality.tap.name_el, &municipality.tap.name_en),
        None if i18n::has_message(&format!("application_kind_{code}")) => {
            i18n::message(lang, &format!("application_kind_{code}"))
        }
        None => code.to_string(),
    };
    Stats {
        today: figures.today,
        requests_by_status: label(
            figures.requests_by_status,
            &request_status,
            "ui_dashboard_none",
        ),
        requests_by_category: label(
            figures.requests_by_category,
            &category,
            "ui_dashboard_no_category",
        ),
        applications_by_status: label(
            figures.applications_by_status,
            &application_status,
            "ui_dashboard_none",
        ),
        applications_by_type: label(
            figures.applications_by_type,
            &certificate,
            "ui_dashboard_none",
        ),
        overdue: figures
            .overdue
            .into_iter()
            .map(|o| OverdueRow {
                label: i18n::message(lang, &format!("ui_dashboard_overdue_{}", o.what)),
                what: o.what,
                up_to_a_week: o.up_to_a_week,
                up_to_a_month: o.up_to_a_month,
                over_a_month: o.over_a_month,
            })
            .collect(),
        answer_times: figures.answer_times,
        payments_per_day: figures.payments_per_day,
    }
}

/// Every figure as CSV rows `figure;key;label;value` for Greek Excel ([`crate::excel`]:
/// `;` between cells, decimal commas).
pub fn csv(stats: &Stats) -> String {
    let mut out = ExcelCsv::default();
    out.row(["figure", "key", "label", "value"]);
    let counts = |out: &mut ExcelCsv, figure: &str, rows: &[LabelledCount]| {
        for r in rows {
            out.row([
                figure,
                r.key.as_deref().unwrap_or(""),
                &guarded(&r.label),
                &r.count.to_string(),
            ]);
        }
    };
    counts(&mut out, "requests_by_status", &stats.requests_by_status);
    counts(
        &mut out,
        "requests_by_category",
        &stats.requests_by_category,
    );
    counts(
        &mut out,
        "applications_by_status",
        &stats.applications_by_status,
    );
    counts(
        &mut out,
        "applications_by_type",
        &stats.applications_by_type,
    );
    for o in &stats.overdue {
        for (range, n) in [
            // Not `1-7`: Greek Excel would read it as the 1st of July.
            ("days_1_7", o.up_to_a_week),
            ("days_8_30", o.up_to_a_month),
            ("days_over_30", o.over_a_month),
        ] {
            out.row([
                &format!("overdue_{}_days", o.what),
                range,
                &guarded(&o.label),
                &n.to_string(),
            ]);
        }
    }
    for a in &stats.answer_times {
        out.row(["answered", &a.month, "", &a.answered.to_string()]);
        out.row([
            "answer_median_days",
            &a.month,
            "",
            &excel::days(a.median_days),
        ]);
        out.row(["answer_p90_days", &a.month, "", &excel::days(a.p90_days)]);
    }
    for p in &stats.payments_per_day {
        let day = p.day.format("%Y-%m-%d").to_string();
        out.row(["payments", &day, "", &p.payments.to_string()]);
        out.row([
            "payments_amount",
            &day,
            "",
            &domain::Money::from_cents(p.amount_cents).to_decimal_comma_string(),
        ]);
    }
    out.finish()
}

/// The CSV as a download named after the day.
pub fn csv_response(stats: &Stats) -> Response {
    crate::http::csv_download(
        &format!("dashboard-{}.csv", stats.today.format("%Y-%m-%d")),
        csv(stats),
    )
}
