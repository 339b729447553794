//! The clerks' dashboard (issue 16): cases and applications per status and per category,
//! the open ones past their deadline by how far, the time the municipality takes to answer
//! per month, and payments per day. The figures are read from the `dashboard` read model,
//! built for them ([`crate::dashboard`]): the counts are rows of their own, the rest reads
//! its narrow tables. A request's deadline is its category's `deadline_days` (configuration,
//! applied here; a request without a category has none), an application's its `due_on`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Athens;
use serde::Serialize;
use sqlx::PgPool;

use crate::dashboard::{APPLICATIONS, CATEGORY, REQUESTS, STATUS, TYPE};

/// How many cases have one value of a field (`key`: a status, a category's code; `None`:
/// no category).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Count {
    pub key: Option<String>,
    pub count: i64,
}

/// How far past their deadline the open cases of one kind are: the days late by ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overdue {
    /// `requests` or `applications`.
    pub what: &'static str,
    /// 1–7 days late.
    pub up_to_a_week: i64,
    /// 8–30 days late.
    pub up_to_a_month: i64,
    /// More than 30 days late.
    pub over_a_month: i64,
}

/// The time from submission to the municipality's answer, for the requests answered in
/// one month (Athens time): how many, the median (interpolated), and the time within which
/// 90 % of them were answered (the smallest answer time at or above the 90th percentile:
/// one that was actually taken).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AnswerTimes {
    /// `2026-11`.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}$")]
    pub month: String,
    #[schema(minimum = 1)]
    pub answered: i64,
    #[schema(minimum = 0)]
    pub median_days: f64,
    #[schema(minimum = 0)]
    pub p90_days: f64,
}

/// The payments that succeeded on one day (Athens time) and their total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PaymentsOnDay {
    pub day: NaiveDate,
    #[schema(minimum = 0)]
    pub payments: i64,
    #[schema(minimum = 0)]
    pub amount_cents: i64,
}

/// Every figure of the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// The day the figures are counted on (Athens).
    pub today: NaiveDate,
    pub requests_by_status: Vec<Count>,
    pub requests_by_category: Vec<Count>,
    pub applications_by_status: Vec<Count>,
    /// By certificate type (`kind` for an application without one: a ΤΑΠ certificate).
    pub applications_by_type: Vec<Count>,
    /// Requests first, then applications.
    pub overdue: Vec<Overdue>,
    /// The last twelve months, oldest first; a month without answers is left out.
    pub answer_times: Vec<AnswerTimes>,
    /// The last 30 days, oldest first, every day (0 on a day without payments).
    pub payments_per_day: Vec<PaymentsOnDay>,
}

/// How many days of payments the dashboard shows.
pub const PAYMENT_DAYS: i64 = 30;
/// How many months of answer times it shows.
pub const ANSWER_MONTHS: u32 = 12;

/// The dashboard as of `now`. `deadlines`: each request category's code and its deadline
/// in days.
pub async fn dashboard(
    pool: &PgPool,
    now: DateTime<Utc>,
    deadlines: &[(String, i32)],
) -> Result<Dashboard, sqlx::Error> {
    let today = now.with_timezone(&Athens).date_naive();
    let requests_by_status = counts(pool, REQUESTS, STATUS, "key").await?;
    let requests_by_category =
        counts(pool, REQUESTS, CATEGORY, "count DESC, key = '', key").await?;
    let applications_by_status = counts(pool, APPLICATIONS, STATUS, "key").await?;
    let applications_by_type = counts(pool, APPLICATIONS, TYPE, "count DESC, key").await?;
    let overdue = overdue(pool, today, deadlines).await?;
    let answer_times = sqlx::query_as(
        "SELECT to_char(date_trunc('month', answered_at AT TIME ZONE 'Europe/Athens'), 'YYYY-MM')
                  AS month,
                count(*) AS answered,
                percentile_cont(0.5) WITHIN GROUP
                  (ORDER BY extract(epoch FROM answered_at - submitted_at)::float8 / 86400)
                  AS median_days,
                percentile_disc(0.9) WITHIN GROUP
                  (ORDER BY extract(epoch FROM answered_at - submitted_at)::float8 / 86400)
                  AS p90_days
           FROM dashboard_cases
          WHERE answered_at >= $1 AND what = 'requests'
          GROUP BY 1 ORDER BY 1",
    )
    .bind(months_back(today, ANSWER_MONTHS - 1))
    .fetch_all(pool)
    .await?;
    let first_day = today - Duration::days(PAYMENT_DAYS - 1);
    let paid: Vec<PaymentsOnDay> = sqlx::query_as(
        "SELECT day, payments, amount_cents FROM dashboard_payment_days
          WHERE day >= $1 AND payments > 0 ORDER BY day",
    )
    .bind(first_day)
    .fetch_all(pool)
    .await?;
    let payments_per_day = first_day
        .iter_days()
        .take(PAYMENT_DAYS as usize)
        .map(|day| {
            paid.iter()
                .find(|p| p.day == day)
                .cloned()
                .unwrap_or(PaymentsOnDay {
                    day,
                    payments: 0,
                    amount_cents: 0,
                })
        })
        .collect();
    Ok(Dashboard {
        today,
        requests_by_status,
        requests_by_category,
        applications_by_status,
        applications_by_type,
        overdue,
        answer_times,
        payments_per_day,
    })
}

/// How many cases of `what` have each value of `dimension`, in `order` (of `key` and
/// `count`), the values no case has left out; a request without a category has key `None`.
async fn counts(
    pool: &PgPool,
    what: &str,
    dimension: &str,
    order: &'static str,
) -> Result<Vec<Count>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT nullif(key, '') AS key, count FROM dashboard_counts \
         WHERE what = $1 AND dimension = $2 AND count > 0 ORDER BY {order}"
    ))
    .bind(what)
    .bind(dimension)
    .fetch_all(pool)
    .await
}

/// The open requests and applications past their deadline on `today`, by days late.
async fn overdue(
    pool: &PgPool,
    today: NaiveDate,
    deadlines: &[(String, i32)],
) -> Result<Vec<Overdue>, sqlx::Error> {
    let (codes, days): (Vec<String>, Vec<i32>) = deadlines.iter().cloned().unzip();
    let late: Vec<(String, i32, i64)> = sqlx::query_as(
        "WITH late AS (
           SELECT c.what,
                  $1::date - ((c.submitted_at AT TIME ZONE 'Europe/Athens')::date + d.days) AS days
             FROM dashboard_cases c
             JOIN unnest($2::text[], $3::int4[]) AS d(code, days) ON d.code = c.category
            WHERE c.what = 'requests' AND c.awaits_answer
           UNION ALL
           SELECT what, $1::date - due_on
             FROM dashboard_cases WHERE what = 'applications' AND awaits_answer
         )
         SELECT what, CASE WHEN days <= 7 THEN 7 WHEN days <= 30 THEN 30 ELSE 31 END AS bucket,
                count(*)
           FROM late WHERE days > 0 GROUP BY 1, 2",
    )
    .bind(today)
    .bind(&codes)
    .bind(&days)
    .fetch_all(pool)
    .await?;
    let overdue: Vec<Overdue> = [REQUESTS, APPLICATIONS]
        .into_iter()
        .map(|what| {
            let count = |bucket: i32| {
                late.iter()
                    .find(|(w, b, _)| w == what && *b == bucket)
                    .map_or(0, |(_, _, n)| *n)
            };
            Overdue {
                what,
                up_to_a_week: count(7),
                up_to_a_month: count(30),
                over_a_month: count(31),
            }
        })
        .collect();
    Ok(overdue)
}

/// What a clerk's work overview counts (issue 17), without the dashboard's other figures:
/// the requests per status and the open requests past their deadline, as of `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenWork {
    pub today: NaiveDate,
    pub requests_by_status: Vec<Count>,
    pub overdue_requests: i64,
}

/// [`OpenWork`] as of `now` (`deadlines` as for [`dashboard`]).
pub async fn open_work(
    pool: &PgPool,
    now: DateTime<Utc>,
    deadlines: &[(String, i32)],
) -> Result<OpenWork, sqlx::Error> {
    let today = now.with_timezone(&Athens).date_naive();
    let overdue_requests = overdue(pool, today, deadlines)
        .await?
        .iter()
        .filter(|o| o.what == REQUESTS)
        .map(|o| o.up_to_a_week + o.up_to_a_month + o.over_a_month)
        .sum();
    Ok(OpenWork {
        today,
        requests_by_status: counts(pool, REQUESTS, STATUS, "key").await?,
        overdue_requests,
    })
}

/// Midnight of `day` in Athens.
fn start_of_day(day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    Athens
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// The first day of the month `months` months before `today`'s, at midnight in Athens.
fn months_back(today: NaiveDate, months: u32) -> DateTime<Utc> {
    let index = today.year() * 12 + today.month0() as i32 - months as i32;
    let first = NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .expect("the first of a month exists");
    start_of_day(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_months_back_crosses_the_year() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(
            months_back(today, 11),
            start_of_day(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
        );
        assert_eq!(
            months_back(NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(), 11),
            start_of_day(NaiveDate::from_ymd_opt(2025, 4, 1).unwrap())
        );
        // Midnight in Athens is 22:00 UTC of the day before in winter.
        assert_eq!(
            start_of_day(today).to_rfc3339(),
            "2026-12-06T22:00:00+00:00"
        );
    }
}
