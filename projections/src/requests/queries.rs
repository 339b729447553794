//! What the API reads from the `requests` read model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::paging::{Cursor, PageRequest, Paged};

/// A row of «Τα αιτήματά μου» and of the clerks' queue.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CaseSummary {
    pub id: String,
    pub number: String,
    #[schema(value_type = domain::request::RequestKind)]
    pub kind: String,
    #[schema(value_type = domain::request::RequestStatus)]
    pub status: String,
    pub subject: String,
    #[schema(required)]
    pub submitter_name: Option<String>,
    pub anonymous: bool,
    #[schema(required)]
    pub protocol_number: Option<String>,
    #[schema(required)]
    pub protocol_date: Option<DateTime<Utc>>,
    /// Whether the municipality has answered.
    pub answered: bool,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The category's service code, if the case has one (issue 15).
    #[schema(required)]
    pub category: Option<String>,
}

impl CaseSummary {
    /// Its place in the lists (submission time, then number).
    pub fn cursor(&self) -> Cursor {
        Cursor(vec![Cursor::at(&self.submitted_at), self.number.clone()])
    }
}

/// A case's page: everything but the timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CaseDetail {
    pub id: String,
    pub number: String,
    #[schema(value_type = domain::request::RequestKind)]
    pub kind: String,
    #[schema(value_type = domain::request::RequestStatus)]
    pub status: String,
    pub subject: String,
    pub text: String,
    #[schema(required)]
    pub desired_action: Option<String>,
    #[schema(required)]
    pub submitter_name: Option<String>,
    pub anonymous: bool,
    /// The municipality's latest answer.
    #[schema(required)]
    pub answer: Option<String>,
    #[schema(required)]
    pub answered_at: Option<DateTime<Utc>>,
    #[schema(required)]
    pub protocol_number: Option<String>,
    #[schema(required)]
    pub protocol_date: Option<DateTime<Utc>>,
    /// The clerk who took the case into review (always null on the tracking page).
    #[schema(required)]
    pub assigned_to_name: Option<String>,
    #[schema(required, value_type = Option<domain::request::CloseReason>)]
    pub close_reason: Option<String>,
    #[schema(required)]
    pub close_note: Option<String>,
    #[schema(minimum = 0)]
    pub times_reopened: i32,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence number of the last event folded into this row.
    pub last_sequence: i64,
    /// The category's service code, the address, the point and the attribute answers
    /// (issue 15), where the case has them.
    #[schema(required)]
    pub category: Option<String>,
    #[schema(required)]
    pub address: Option<String>,
    #[schema(required)]
    pub lat: Option<f64>,
    #[schema(required)]
    pub long: Option<f64>,
    /// Answers to the category's questions, by attribute code (empty without a category).
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub attributes: Value,
    /// The Open311 client it was filed through, if any.
    #[schema(required)]
    pub open311_client: Option<String>,
}

/// One event of a case. `details` by event type: RequestSubmitted `{number, kind}` (and
/// `open311_client` when filed through one), RequestTakenIntoReview `{}`, RequestAnswered
/// `{answer}`, RequestStatusChanged `{from, to}`, ProtocolRegistered `{protocol_number,
/// protocol_date}`, RequestClosed `{reason, note}`, RequestReopened `{reason}`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TimelineEntry {
    #[schema(minimum = 1)]
    pub sequence: i64,
    #[schema(value_type = TimelineEvent, inline)]
    pub event_type: String,
    /// When the event was recorded in the log.
    pub at: DateTime<Utc>,
    #[schema(value_type = TimelineActor, inline)]
    pub actor_role: String,
    /// Null for anonymous submitters, for reopenings, and always on the tracking page.
    #[schema(required)]
    pub actor_name: Option<String>,
    /// The case's status after this event.
    #[schema(value_type = domain::request::RequestStatus)]
    pub status: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

/// The events a case's timeline shows (its documentation: the column is text).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum TimelineEvent {
    RequestSubmitted,
    RequestTakenIntoReview,
    RequestAnswered,
    RequestStatusChanged,
    ProtocolRegistered,
    RequestClosed,
    RequestReopened,
}

/// Who caused a timeline's event (its documentation: the column is text).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum TimelineActor {
    Citizen,
    Anonymous,
    Clerk,
}

const SUMMARY_COLUMNS: &str = "id, number, kind, status, subject, submitter_name, \
    owner_account_id IS NULL AS anonymous, protocol_number, protocol_date, \
    answer IS NOT NULL AS answered, submitted_at, updated_at, category";

const DETAIL_COLUMNS: &str = "id, number, kind, status, subject, body AS text, desired_action, \
    submitter_name, owner_account_id IS NULL AS anonymous, answer, answered_at, protocol_number, \
    protocol_date, assigned_to_name, close_reason, close_note, times_reopened, submitted_at, \
    updated_at, last_sequence, category, address, lat, long, attributes, open311_client";

/// A citizen's own cases, newest first, a page at a time (keyset: submission time, number).
pub async fn list_for_owner(
    pool: &PgPool,
    account_id: &str,
    page: &PageRequest,
) -> Result<Paged<CaseSummary>, sqlx::Error> {
    let after = page.after.as_ref();
    let rows = sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM request_cases WHERE owner_account_id = $1 \
           AND ($2::timestamptz IS NULL OR (submitted_at, number) < ($2, $3)) \
         ORDER BY submitted_at DESC, number DESC LIMIT $4"
    ))
    .bind(account_id)
    .bind(after.and_then(|c| c.time(0)))
    .bind(after.and_then(|c| c.text(1)))
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(Paged::from_rows(rows, page.limit, CaseSummary::cursor))
}

/// A case, only if `account_id` filed it: another citizen's case reads as missing.
pub async fn detail_for_owner(
    pool: &PgPool,
    id: &str,
    account_id: &str,
) -> Result<Option<CaseDetail>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DETAIL_COLUMNS} FROM request_cases WHERE id = $1 AND owner_account_id = $2"
    ))
    .bind(id)
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

/// A case for staff.
pub async fn detail(pool: &PgPool, id: &str) -> Result<Option<CaseDetail>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DETAIL_COLUMNS} FROM request_cases WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// An anonymous case by the SHA-256 of its tracking code.
pub async fn detail_by_tracking_code(
    pool: &PgPool,
    tracking_code_sha256: &str,
) -> Result<Option<CaseDetail>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DETAIL_COLUMNS} FROM request_cases WHERE tracking_code_sha256 = $1"
    ))
    .bind(tracking_code_sha256)
    .fetch_optional(pool)
    .await
}

pub async fn timeline(pool: &PgPool, id: &str) -> Result<Vec<TimelineEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sequence, event_type, at, actor_role, actor_name, status, details \
         FROM request_timeline WHERE case_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// The clerks' queue filter. `None` means any.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    /// A category's service code.
    pub category: Option<String>,
    pub limit: i64,
    /// Rows to skip (`page`): kept for old clients; `after` (keyset) takes precedence.
    pub offset: i64,
    pub after: Option<Cursor>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueuePage {
    pub items: Vec<CaseSummary>,
    /// How many cases match the filter in all.
    pub total: i64,
    /// How many cases of the filtered kind stand in each status (for the filter tabs).
    pub counts_by_status: BTreeMap<String, i64>,
    /// The cursor of the next page (`after`), `None` on the last.
    pub next: Option<String>,
}

/// The clerks' queue: oldest first, so nothing waits forever.
pub async fn staff_queue(pool: &PgPool, filter: &QueueFilter) -> Result<QueuePage, sqlx::Error> {
    let after = filter.after.as_ref();
    let rows = sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM request_cases \
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2) \
           AND ($5::timestamptz IS NULL OR (submitted_at, number) > ($5, $6)) \
           AND ($7::text IS NULL OR category = $7) \
         ORDER BY submitted_at, number LIMIT $3 OFFSET $4"
    ))
    .bind(&filter.status)
    .bind(&filter.kind)
    .bind(filter.limit + 1)
    .bind(if after.is_some() { 0 } else { filter.offset })
    .bind(after.and_then(|c| c.time(0)))
    .bind(after.and_then(|c| c.text(1)))
    .bind(&filter.category)
    .fetch_all(pool)
    .await?;
    let Paged { items, next } = Paged::from_rows(rows, filter.limit, CaseSummary::cursor);
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM request_cases WHERE ($1::text IS NULL OR kind = $1) \
         AND ($2::text IS NULL OR category = $2) GROUP BY status",
    )
    .bind(&filter.kind)
    .bind(&filter.category)
    .fetch_all(pool)
    .await?;
    let counts_by_status: BTreeMap<String, i64> = counts.into_iter().collect();
    let total = match &filter.status {
        Some(s) => counts_by_status.get(s).copied().unwrap_or(0),
        None => counts_by_status.values().sum(),
    };
    Ok(QueuePage {
        items,
        total,
        counts_by_status,
        next,
    })
}

/// A request as GeoReport v2 shows it (issue 15).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GeoReportRow {
    pub id: String,
    pub status: String,
    pub answer: Option<String>,
    pub category: String,
    pub description: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// GeoReport's `GET requests` filters. Only requests filed through Open311 are published:
/// a citizen who filed on the portal, named or not, did not agree to their text, answer or
/// place being public.
#[derive(Debug, Clone, Default)]
pub struct GeoReportFilter {
    /// `service_request_id`: these ids only.
    pub ids: Option<Vec<String>>,
    /// Any of these service codes.
    pub service_codes: Option<Vec<String>>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// `Some(true)`: closed only; `Some(false)`: open only.
    pub closed: Option<bool>,
    pub limit: i64,
    pub offset: i64,
}

const GEOREPORT_COLUMNS: &str = "id, status, answer, category, body AS description, address, \
    lat, long, submitted_at, updated_at";

/// The requests of `filter`, newest first.
pub async fn georeport_requests(
    pool: &PgPool,
    filter: &GeoReportFilter,
) -> Result<Vec<GeoReportRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {GEOREPORT_COLUMNS} FROM request_cases WHERE open311_client IS NOT NULL \
           AND category IS NOT NULL \
           AND ($1::text[] IS NULL OR id = ANY($1)) AND ($2::text[] IS NULL OR category = ANY($2)) \
           AND ($3::timestamptz IS NULL OR submitted_at >= $3) \
           AND ($4::timestamptz IS NULL OR submitted_at <= $4) \
           AND ($5::bool IS NULL OR (status = 'closed') = $5) \
         ORDER BY submitted_at DESC, id LIMIT $6 OFFSET $7"
    ))
    .bind(&filter.ids)
    .bind(&filter.service_codes)
    .bind(filter.start)
    .bind(filter.end)
    .bind(filter.closed)
    .bind(filter.limit)
    .bind(filter.offset)
    .fetch_all(pool)
    .await
}

/// The id of the Open311 request whose tracking code hashes to `sha256` (GeoReport's token).
pub async fn id_of_tracking_hash(
    pool: &PgPool,
    sha256: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM request_cases WHERE tracking_code_sha256 = $1 \
         AND open311_client IS NOT NULL",
    )
    .bind(sha256)
    .fetch_optional(pool)
    .await
}
