//! The `payments` read model: every payment attempt with its obligation, amount, status and
//! the bank's receipt data, folded from `Payment` events; and the queries of the payer's
//! pages, the bank-return handling and the payment reconciler.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::payment::{Payment, PaymentEvent};
use domain::Money;
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::fold::{self, Table};
use crate::paging::{Cursor, PageRequest, Paged};
use crate::ReadModel;

pub struct PaymentsProjection;

impl PaymentsProjection {
    pub const NAME: &'static str = "payments";
}

impl ReadModel for PaymentsProjection {
    fn schema_version(&self) -> i32 {
        // 2: the refund of a second captured payment (`refund_reason`, `refund_due_at`,
        // `refunded_at`).
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &["payments"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE payments (
    id                   text PRIMARY KEY,
    order_id             text        NOT NULL,
    obligation_kind      text        NOT NULL,
    obligation_reference text        NOT NULL,
    obligation_description text      NOT NULL,
    amount_cents         bigint      NOT NULL,
    currency             text        NOT NULL,
    payer_account_id     text        NOT NULL,
    status               text        NOT NULL,
    tx_id                text,
    payment_ref          text,
    failure_reason       text,
    settled_by           text,
    after_expiry         boolean     NOT NULL DEFAULT false,
    expires_at           timestamptz NOT NULL,
    redirected_at        timestamptz,
    created_at           timestamptz NOT NULL,
    settled_at           timestamptz,
    updated_at           timestamptz NOT NULL,
    refund_reason        text,
    refund_due_at        timestamptz,
    refunded_at          timestamptz,
    last_sequence        bigint      NOT NULL
);
CREATE INDEX payments_order_idx ON payments (order_id);
CREATE INDEX payments_payer_idx ON payments (payer_account_id, created_at DESC);
CREATE INDEX payments_open_idx ON payments (status, redirected_at) WHERE status IN ('created', 'redirected');
CREATE INDEX payments_obligation_idx ON payments (obligation_kind, obligation_reference);
"#
    }
}

#[async_trait]
impl Consumer for PaymentsProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Payment::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Folds the batch in memory: one read of the payments it touches, one write.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        let events = fold::decode::<PaymentEvent>(events, Payment::TYPE)?;
        if events.is_empty() {
            return Ok(());
        }
        let ids = fold::stream_ids(&events);
        let mut payments =
            Table::<PaymentState>::load(conn, "payments", &["id"], "id", &ids).await?;
        for (event, payload) in &events {
            apply(&mut payments, event, payload);
        }
        payments.save(conn).await
    }
}

/// A row of `payments`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentState {
    id: String,
    order_id: String,
    obligation_kind: String,
    obligation_reference: String,
    obligation_description: String,
    amount_cents: i64,
    currency: String,
    payer_account_id: String,
    status: String,
    tx_id: Option<String>,
    payment_ref: Option<String>,
    failure_reason: Option<String>,
    settled_by: Option<String>,
    after_expiry: bool,
    expires_at: DateTime<Utc>,
    redirected_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    settled_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    refund_reason: Option<String>,
    refund_due_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
    last_sequence: i64,
}

fold::sequenced_row!(PaymentState, id);

fn apply(payments: &mut Table<PaymentState>, event: &RecordedEvent, payload: &PaymentEvent) {
    let id = event.aggregate_id.as_str();
    let seq = event.sequence;
    if let PaymentEvent::PaymentCreated {
        order_id,
        obligation,
        amount_cents,
        currency,
        payer_account_id,
        expires_at,
        at,
        ..
    } = payload
    {
        if payments.get(id).is_none() {
            payments.put(PaymentState {
                id: id.to_string(),
                order_id: order_id.clone(),
                obligation_kind: obligation.kind.clone(),
                obligation_reference: obligation.reference.clone(),
                obligation_description: obligation.description.clone(),
                amount_cents: amount_cents.cents(),
                currency: currency.clone(),
                payer_account_id: payer_account_id.clone(),
                status: "created".into(),
                tx_id: None,
                payment_ref: None,
                failure_reason: None,
                settled_by: None,
                after_expiry: false,
                expires_at: *expires_at,
                redirected_at: None,
                created_at: *at,
                settled_at: None,
                updated_at: *at,
                refund_reason: None,
                refund_due_at: None,
                refunded_at: None,
                last_sequence: seq,
            });
        }
        return;
    }
    let Some(row) = payments.advance(id, seq) else {
        return;
    };
    let settle = |row: &mut PaymentState, status: &str, by: &str, at: &DateTime<Utc>| {
        row.status = status.into();
        row.settled_by = Some(by.into());
        row.settled_at = Some(*at);
        row.updated_at = *at;
    };
    let reason_of = |reason: &str| (!reason.is_empty()).then(|| reason.to_string());
    match payload {
        PaymentEvent::PaymentCreated { .. } => {}
        PaymentEvent::PaymentRedirected { at } => {
            row.status = "redirected".into();
            row.redirected_at = Some(*at);
            row.updated_at = *at;
        }
        PaymentEvent::PaymentSucceeded {
            source,
            tx_id,
            payment_ref,
            after_expiry,
            at,
        } => {
            settle(row, "succeeded", source_name(source), at);
            row.tx_id = Some(tx_id.clone());
            row.payment_ref = Some(payment_ref.clone());
            row.after_expiry = *after_expiry;
            row.failure_reason = None;
        }
        PaymentEvent::PaymentFailed { source, reason, at } => {
            settle(row, "failed", source_name(source), at);
            row.failure_reason = reason_of(reason);
        }
        PaymentEvent::PaymentErrored { source, reason, at } => {
            settle(row, "error", source_name(source), at);
            row.failure_reason = reason_of(reason);
        }
        PaymentEvent::PaymentCancelled { source, at } => {
            settle(row, "cancelled", source_name(source), at);
        }
        PaymentEvent::PaymentExpired { at } => {
            settle(row, "expired", "expiry", at);
        }
        PaymentEvent::PaymentRefundDue { reason, at } => {
            row.refund_reason = Some(reason.clone());
            row.refund_due_at = Some(*at);
            row.updated_at = *at;
        }
        PaymentEvent::PaymentRefunded { at, .. } => {
            row.refunded_at = Some(*at);
            row.updated_at = *at;
        }
    }
}

fn source_name(source: &domain::payment::ConfirmationSource) -> &'static str {
    use domain::payment::ConfirmationSource as S;
    match source {
        S::BrowserReturn => "browser_return",
        S::Notification => "notification",
        S::StatusQuery => "status_query",
    }
}

/// A payment as the payer's pages and the API show it (the receipt fields included).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PaymentRow {
    pub id: String,
    /// The order id the bank knows the payment by.
    #[schema(max_length = 20)]
    pub order_id: String,
    /// What kind of obligation was paid (e.g. traffic_fine).
    pub obligation_kind: String,
    pub obligation_reference: String,
    /// What was paid, as the receipt says.
    pub obligation_description: String,
    #[schema(value_type = i64, minimum = 1)]
    pub amount_cents: Money,
    #[schema(value_type = Currency, inline)]
    pub currency: String,
    pub payer_account_id: String,
    #[schema(value_type = PaymentStatus, inline)]
    pub status: String,
    /// The bank's transaction id.
    pub tx_id: Option<String>,
    /// The bank's reference on the receipt.
    pub payment_ref: Option<String>,
    /// What the bank said when it declined or failed.
    pub failure_reason: Option<String>,
    /// What settled it: `browser_return`, `notification`, `status_query` or `expiry`.
    pub settled_by: Option<String>,
    /// The bank's capture arrived after the payment had expired locally.
    pub after_expiry: bool,
    pub expires_at: DateTime<Utc>,
    pub redirected_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Since when the money is to be returned (another payment settled the obligation),
    /// and the obligation's refusal code that says so.
    pub refund_due_at: Option<DateTime<Utc>>,
    /// The obligation's refusal code that made the refund due (e.g. `fine_already_paid`).
    pub refund_reason: Option<String>,
    /// When a clerk recorded the money returned.
    pub refunded_at: Option<DateTime<Utc>>,
}

/// created → redirected (the payer was sent to the bank) → succeeded | failed (declined) |
/// cancelled (by the payer) | error (the bank failed; no money taken) | expired (no answer in
/// time; a later capture still makes it succeeded, with after_expiry). Documentation: the
/// column is text.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum PaymentStatus {
    Created,
    Redirected,
    Succeeded,
    Failed,
    Cancelled,
    Expired,
    Error,
}

/// The currency of every payment (documentation: the column is text).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum Currency {
    #[schema(rename = "EUR")]
    Eur,
}

const COLUMNS: &str = "id, order_id, obligation_kind, obligation_reference, \
    obligation_description, amount_cents, currency, payer_account_id, status, tx_id, \
    payment_ref, failure_reason, settled_by, after_expiry, expires_at, redirected_at, \
    created_at, settled_at, updated_at, refund_due_at, refund_reason, refunded_at";

pub async fn get(pool: &PgPool, id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A payer's payments, newest first, a page at a time (keyset: creation time, id).
pub async fn page_for_payer(
    pool: &PgPool,
    payer_account_id: &str,
    page: &PageRequest,
) -> Result<Paged<PaymentRow>, sqlx::Error> {
    page_of_payer(pool, payer_account_id, None, page).await
}

/// A payer's succeeded payments of obligations of `kind` (e.g. the fines they paid), newest
/// first, a page at a time (keyset: creation time, id).
pub async fn page_paid_for_payer(
    pool: &PgPool,
    payer_account_id: &str,
    kind: &str,
    page: &PageRequest,
) -> Result<Paged<PaymentRow>, sqlx::Error> {
    page_of_payer(pool, payer_account_id, Some(kind), page).await
}

async fn page_of_payer(
    pool: &PgPool,
    payer_account_id: &str,
    paid_of_kind: Option<&str>,
    page: &PageRequest,
) -> Result<Paged<PaymentRow>, sqlx::Error> {
    let after = page.after.as_ref();
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE payer_account_id = $1 \
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
           AND ($5::text IS NULL OR (obligation_kind = $5 AND status = 'succeeded')) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(payer_account_id)
    .bind(after.and_then(|c| c.time(0)))
    .bind(after.and_then(|c| c.text(1)))
    .bind(page.limit + 1)
    .bind(paid_of_kind)
    .fetch_all(pool)
    .await?;
    Ok(Paged::from_rows(rows, page.limit, |p: &PaymentRow| {
        Cursor(vec![Cursor::at(&p.created_at), p.id.clone()])
    }))
}

/// How many payments stand in each status (`/metrics`).
pub async fn count_by_status(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT status, count(*) FROM payments GROUP BY status ORDER BY status")
        .fetch_all(pool)
        .await
}
