//! The `business_timeline` read model: every event of a business's tax declarations and
//! certified debts (S13–S14) in the order the log holds them, decoded through their types,
//! for the business's «Ιστορικό και αποδείξεις», with the outcome of every payment of a
//! debt that took no money (declined, cancelled, failed, expired: a declaration's own
//! events already say so, «απορρίφθηκε»); and the business's payments, read from the
//! `payments` read model.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use std::collections::HashMap;

use domain::business::ObligationEventSummary;
use domain::payment::{Payment, PaymentEvent};
use domain::tax_debt::{TaxDebt, TaxDebtEvent};
use domain::tax_declaration::{TaxDeclaration, TaxDeclarationEvent};
use domain::Money;
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::paging::{Cursor, PageRequest, Paged};
use crate::ReadModel;

pub struct BusinessTimelineProjection;

impl BusinessTimelineProjection {
    pub const NAME: &'static str = "business_timeline";
}

impl ReadModel for BusinessTimelineProjection {
    fn schema_version(&self) -> i32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &["business_timeline"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE business_timeline (
    global_position bigint      PRIMARY KEY,
    afm             text        NOT NULL,
    aggregate_type  text        NOT NULL,
    stream_id       text        NOT NULL,
    sequence        bigint      NOT NULL,
    event_type      text        NOT NULL,
    at              timestamptz NOT NULL,
    amount_cents    bigint,
    payment_id      text,
    reason          text
);
CREATE INDEX business_timeline_afm_idx ON business_timeline (afm, global_position DESC);
CREATE INDEX business_timeline_payment_idx ON business_timeline (payment_id);
"#
    }
}

/// The ΑΦΜ a business's stream id starts with (`{afm}-2026-Q1`, `{afm}-{debt id}`).
fn afm_of(stream_id: &str) -> &str {
    stream_id.split_once('-').map_or(stream_id, |(afm, _)| afm)
}

#[async_trait]
impl Consumer for BusinessTimelineProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[TaxDeclaration::TYPE, TaxDebt::TYPE, Payment::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Every entry of the batch in one insert (the timeline is append-only: an entry per
    /// event, keyed by its position).
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        let mut rows = TimelineRows::default();
        // The debt each payment of the batch is for (its `TaxDebtPaymentStarted`, stored
        // or earlier in the batch); a payment of anything else has no entry.
        let mut debts = debts_of_payments(conn, events).await?;
        for event in events {
            let summary: ObligationEventSummary = if event.aggregate_type == TaxDeclaration::TYPE {
                <TaxDeclarationEvent as serde::Deserialize>::deserialize(&event.payload)
                    .map_err(|e| ConsumerError::decode(event, e))?
                    .summary()
            } else if event.aggregate_type == TaxDebt::TYPE {
                let payload = <TaxDebtEvent as serde::Deserialize>::deserialize(&event.payload)
                    .map_err(|e| ConsumerError::decode(event, e))?;
                if let TaxDebtEvent::TaxDebtPaymentStarted { payment_id, .. } = &payload {
                    debts.insert(payment_id.clone(), event.aggregate_id.clone());
                }
                payload.summary()
            } else if event.aggregate_type == Payment::TYPE {
                let Some(debt) = debts.get(&event.aggregate_id) else {
                    continue;
                };
                let payload = <PaymentEvent as serde::Deserialize>::deserialize(&event.payload)
                    .map_err(|e| ConsumerError::decode(event, e))?;
                let at = match payload {
                    PaymentEvent::PaymentFailed { at, .. }
                    | PaymentEvent::PaymentCancelled { at, .. }
                    | PaymentEvent::PaymentErrored { at, .. }
                    | PaymentEvent::PaymentExpired { at } => at,
                    // Its start and its success are the debt's own events.
                    _ => continue,
                };
                let summary = ObligationEventSummary {
                    at,
                    amount_cents: None,
                    payment_id: Some(event.aggregate_id.clone()),
                    reason: None,
                };
                rows.push_for(event, TaxDebt::TYPE, debt, summary);
                continue;
            } else {
                continue;
            };
            rows.push(event, summary);
        }
        if rows.positions.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO business_timeline (global_position, afm, aggregate_type, stream_id, \
             sequence, event_type, at, amount_cents, payment_id, reason) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], \
                                  $5::bigint[], $6::text[], $7::timestamptz[], $8::bigint[], \
                                  $9::text[], $10::text[]) \
             ON CONFLICT (global_position) DO NOTHING",
        )
        .bind(&rows.positions)
        .bind(&rows.afms)
        .bind(&rows.aggregate_types)
        .bind(&rows.stream_ids)
        .bind(&rows.sequences)
        .bind(&rows.event_types)
        .bind(&rows.ats)
        .bind(&rows.amounts)
        .bind(&rows.payment_ids)
        .bind(&rows.reasons)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Payment id → the debt stream it pays, for the payments of `events` that the timeline
/// already holds the start of (one read; the batch's own starts are added as it is folded).
async fn debts_of_payments(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<HashMap<String, String>, ConsumerError> {
    let ids: Vec<&str> = events
        .iter()
        .filter(|e| e.aggregate_type == Payment::TYPE && e.sequence > 1)
        .map(|e| e.aggregate_id.as_str())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT payment_id, stream_id FROM business_timeline \
         WHERE payment_id = ANY($1) AND event_type = 'TaxDebtPaymentStarted'",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(found.into_iter().collect())
}

/// A batch's timeline entries, column by column (for `unnest`).
#[derive(Default)]
struct TimelineRows {
    positions: Vec<i64>,
    afms: Vec<String>,
    aggregate_types: Vec<String>,
    stream_ids: Vec<String>,
    sequences: Vec<i64>,
    event_types: Vec<String>,
    ats: Vec<DateTime<Utc>>,
    amounts: Vec<Option<i64>>,
    payment_ids: Vec<Option<String>>,
    reasons: Vec<Option<String>>,
}

impl TimelineRows {
    fn push(&mut self, event: &RecordedEvent, summary: ObligationEventSummary) {
        self.push_for(event, &event.aggregate_type, &event.aggregate_id, summary);
    }

    /// An entry of the obligation `stream_id` (of `aggregate_type`) for `event`, which may
    /// be of another stream (a payment's outcome is entered under the debt it was for).
    fn push_for(
        &mut self,
        event: &RecordedEvent,
        aggregate_type: &str,
        stream_id: &str,
        summary: ObligationEventSummary,
    ) {
        self.positions.push(event.position.global_position);
        self.afms.push(afm_of(stream_id).to_string());
        self.aggregate_types.push(aggregate_type.to_string());
        self.stream_ids.push(stream_id.to_string());
        self.sequences.push(event.sequence);
        self.event_types.push(event.event_type.clone());
        self.ats.push(summary.at);
        self.amounts.push(summary.amount_cents.map(Money::cents));
        self.payment_ids.push(summary.payment_id);
        self.reasons.push(summary.reason);
    }
}

/// One event of the business's declarations and certified debts, newest first. A debt's
/// entries include the outcome of each of its payments that took no money
/// (`PaymentFailed`, `PaymentCancelled`, `PaymentErrored`, `PaymentExpired`: the payment's
/// own events, entered under the debt it was for; their `sequence` is the payment stream's,
/// `payment_id`). A declaration's failed payment is its own `DeclarationRejected`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = BusinessTimelineEntry)]
pub struct TimelineEntry {
    /// The event's position in the log (the timeline's order and cursor).
    #[serde(skip)]
    pub global_position: i64,
    pub at: DateTime<Utc>,
    #[schema(value_type = TimelineStream, inline)]
    pub aggregate_type: String,
    /// The stream: a declaration `{afm}-2026-Q1` or a debt `{afm}-{debt id}`.
    pub stream_id: String,
    pub sequence: i64,
    pub event_type: String,
    /// The amount the event names (a filing's total, a payment's amount), if any.
    #[schema(value_type = Option<i64>, required)]
    pub amount_cents: Option<Money>,
    /// The payment the event is about, if any.
    #[schema(required)]
    pub payment_id: Option<String>,
    /// A refusal or rejection code the event carries (e.g. `payment_declined`).
    #[schema(required)]
    pub reason: Option<String>,
}

/// The kinds of stream a business's timeline holds (its documentation: the column is text).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum TimelineStream {
    TaxDeclaration,
    TaxDebt,
}

/// A payment of the business (a receipt once it succeeded).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BusinessPayment {
    pub id: String,
    pub obligation_kind: String,
    pub obligation_reference: String,
    pub obligation_description: String,
    #[schema(value_type = i64)]
    pub amount_cents: Money,
    pub status: String,
    #[schema(required)]
    pub payment_ref: Option<String>,
    pub payer_account_id: String,
    pub created_at: DateTime<Utc>,
    #[schema(required)]
    pub settled_at: Option<DateTime<Utc>>,
}

/// A page of the business `afm`'s timeline, newest event first.
pub async fn timeline_page(
    pool: &PgPool,
    afm: &str,
    page: &PageRequest,
) -> Result<Paged<TimelineEntry>, sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT global_position, at, aggregate_type, stream_id, sequence, event_type, \
         amount_cents, payment_id, reason FROM business_timeline \
         WHERE afm = $1 AND ($2::bigint IS NULL OR global_position < $2) \
         ORDER BY global_position DESC LIMIT $3",
    )
    .bind(afm)
    .bind(page.after.as_ref().and_then(|c| c.position(0)))
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(Paged::from_rows(rows, page.limit, |e: &TimelineEntry| {
        Cursor(vec![e.global_position.to_string()])
    }))
}

/// A page of the payments of the business `afm`'s obligations of the `kinds` (by anyone
/// who paid for it), newest first.
pub async fn payments_page(
    pool: &PgPool,
    afm: &str,
    kinds: &[&str],
    page: &PageRequest,
) -> Result<Paged<BusinessPayment>, sqlx::Error> {
    let prefix = format!("{}-%", afm.replace(['%', '_', '\\'], ""));
    let after = page.after.as_ref();
    let rows = sqlx::query_as(
        "SELECT id, obligation_kind, obligation_reference, obligation_description, amount_cents, \
         status, payment_ref, payer_account_id, created_at, settled_at FROM payments \
         WHERE obligation_kind = ANY($1) AND obligation_reference LIKE $2 \
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(kinds)
    .bind(&prefix)
    .bind(after.and_then(|c| c.time(0)))
    .bind(after.and_then(|c| c.text(1)))
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(Paged::from_rows(rows, page.limit, |p: &BusinessPayment| {
        Cursor(vec![Cursor::at(&p.created_at), p.id.clone()])
    }))
}
