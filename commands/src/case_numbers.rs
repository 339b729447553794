//! Human case numbers (Α.Α.), sequential per year: one PostgreSQL sequence per year
//! (`case_number_<year>`). The event log takes the next value as it appends a new case's
//! first event ([`crate::Commands::create_numbered`]), in the same statement.
//!
//! Sequences are not transactional, so a submission whose append fails after taking a
//! number leaves a gap; numbers are never reused and never handed out twice.

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Europe::Athens;

/// The year a case filed at `now` is numbered in: the year in Athens (a case filed at
/// 23:59 on 31 December in Athens is numbered in that year, one at 00:01 in the next,
/// whatever the date in UTC).
pub fn year_of(now: DateTime<Utc>) -> i32 {
    now.with_timezone(&Athens).year()
}

/// The sequence that numbers the cases of `year`.
pub fn sequence_of(year: i32) -> String {
    format!("case_number_{year}")
}
