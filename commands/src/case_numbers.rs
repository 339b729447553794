//! Human case numbers (Α.Α.), sequential per year: one PostgreSQL sequence per year.
//!
//! Sequences are not transactional, so a submission that fails after taking a number
//! leaves a gap; numbers are never reused and never handed out twice.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Europe::Athens;
use domain::values::CaseNumber;
use sqlx::PgPool;

/// The next number of the year of `now` as it is in Athens (the portal's clock: a case
/// filed at 23:59 on 31 December in Athens is numbered in that year, one at 00:01 in the
/// next, whatever the date in UTC).
pub async fn next_case_number(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<CaseNumber, sqlx::Error> {
    let year = now.with_timezone(&Athens).year();
    let sequence = format!("case_number_{year}");
    let serial = match nextval(pool, &sequence).await {
        Ok(serial) => serial,
        // 42P01: the year's sequence does not exist yet.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
            match sqlx::query(&format!(
                "CREATE SEQUENCE IF NOT EXISTS {sequence} AS bigint"
            ))
            .execute(pool)
            .await
            {
                Ok(_) => {}
                // The first submissions of a year race to create the sequence, and
                // IF NOT EXISTS does not cover that race: the loser gets 23505 (or 42P07)
                // once the winner has committed. The sequence exists; carry on.
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("23505" | "42P07")) => {}
                Err(e) => return Err(e),
            }
            nextval(pool, &sequence).await?
        }
        Err(e) => return Err(e),
    };
    Ok(CaseNumber { year, serial })
}

async fn nextval(pool: &PgPool, sequence: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT nextval($1::regclass)")
        .bind(sequence)
        .fetch_one(pool)
        .await
}
