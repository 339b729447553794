//! The `payments` read model: every payment attempt with its obligation, amount, status and
//! the bank's receipt data, folded from `Payment` events; and the queries of the payer's
//! pages, the bank-return handling and the payment reconciler.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::payment::{Payment, PaymentEvent};
use domain::Money;
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::paging::{Cursor, PageRequest, Paged};
use crate::ReadModel;

pub struct PaymentsProjection;

impl PaymentsProjection {
    pub const NAME: &'static str = "payments";
}

impl ReadModel for PaymentsProjection {
    fn schema_version(&self) -> i32 {
        1
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
        if event.aggregate_type != Payment::TYPE {
            return Ok(());
        }
        let payload: PaymentEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ConsumerError::decode(event, e))?;
        let id = &event.aggregate_id;
        let seq = event.sequence;
        match &payload {
            PaymentEvent::PaymentCreated {
                order_id,
                obligation,
                amount_cents,
                currency,
                payer_account_id,
                expires_at,
                at,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO payments (id, order_id, obligation_kind, obligation_reference, \
                     obligation_description, amount_cents, currency, payer_account_id, status, \
                     expires_at, created_at, updated_at, last_sequence) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'created',$9,$10,$10,$11) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(order_id)
                .bind(&obligation.kind)
                .bind(&obligation.reference)
                .bind(&obligation.description)
                .bind(amount_cents)
                .bind(currency)
                .bind(payer_account_id)
                .bind(expires_at)
                .bind(at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            PaymentEvent::PaymentRedirected { at } => {
                sqlx::query(
                    "UPDATE payments SET status = 'redirected', redirected_at = $3, \
                     updated_at = $3, last_sequence = $2 WHERE id = $1 AND last_sequence < $2",
                )
                .bind(id)
                .bind(seq)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            PaymentEvent::PaymentSucceeded {
                source,
                tx_id,
                payment_ref,
                after_expiry,
                at,
            } => {
                settle(conn, id, seq, "succeeded", source_name(source), at).await?;
                sqlx::query(
                    "UPDATE payments SET tx_id = $2, payment_ref = $3, after_expiry = $4, \
                     failure_reason = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(tx_id)
                .bind(payment_ref)
                .bind(after_expiry)
                .execute(&mut *conn)
                .await?;
            }
            PaymentEvent::PaymentFailed { source, reason, at } => {
                settle(conn, id, seq, "failed", source_name(source), at).await?;
                set_reason(conn, id, reason).await?;
            }
            PaymentEvent::PaymentErrored { source, reason, at } => {
                settle(conn, id, seq, "error", source_name(source), at).await?;
                set_reason(conn, id, reason).await?;
            }
            PaymentEvent::PaymentCancelled { source, at } => {
                settle(conn, id, seq, "cancelled", source_name(source), at).await?;
            }
            PaymentEvent::PaymentExpired { at } => {
                settle(conn, id, seq, "expired", "expiry", at).await?;
            }
        }
        Ok(())
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

async fn settle(
    conn: &mut PgConnection,
    id: &str,
    seq: i64,
    status: &str,
    by: &str,
    at: &DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = $3, settled_by = $4, settled_at = $5, updated_at = $5, \
         last_sequence = $2 WHERE id = $1 AND last_sequence < $2",
    )
    .bind(id)
    .bind(seq)
    .bind(status)
    .bind(by)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_reason(conn: &mut PgConnection, id: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET failure_reason = NULLIF($2, '') WHERE id = $1")
        .bind(id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// A payment as the payer's pages and the API show it (the receipt fields included).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub obligation_kind: String,
    pub obligation_reference: String,
    pub obligation_description: String,
    pub amount_cents: Money,
    pub currency: String,
    pub payer_account_id: String,
    pub status: String,
    pub tx_id: Option<String>,
    pub payment_ref: Option<String>,
    pub failure_reason: Option<String>,
    /// What settled it: `browser_return`, `notification`, `status_query` or `expiry`.
    pub settled_by: Option<String>,
    pub after_expiry: bool,
    pub expires_at: DateTime<Utc>,
    pub redirected_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, order_id, obligation_kind, obligation_reference, \
    obligation_description, amount_cents, currency, payer_account_id, status, tx_id, \
    payment_ref, failure_reason, settled_by, after_expiry, expires_at, redirected_at, \
    created_at, settled_at, updated_at";

pub async fn get(pool: &PgPool, id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A payer's payments, newest first.
pub async fn list_for_payer(
    pool: &PgPool,
    payer_account_id: &str,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE payer_account_id = $1 \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(payer_account_id)
    .fetch_all(pool)
    .await
}

/// A payer's payments, newest first, a page at a time (keyset: creation time, id).
pub async fn page_for_payer(
    pool: &PgPool,
    payer_account_id: &str,
    page: &PageRequest,
) -> Result<Paged<PaymentRow>, sqlx::Error> {
    let after = page.after.as_ref();
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE payer_account_id = $1 \
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(payer_account_id)
    .bind(after.and_then(|c| c.time(0)))
    .bind(after.and_then(|c| c.text(1)))
    .bind(page.limit + 1)
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
