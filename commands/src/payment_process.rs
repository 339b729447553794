//! The payment engine's own state, and the outboxes its outcomes feed: a checkpointed
//! consumer of `Payment` events (table `payment_process`) that keeps each payment's order
//! id, obligation, status and expiry, so that the engine finds a payment by the bank's
//! order id, refuses a second payment of one obligation and lets the reconciler find stale
//! and expired payments — without reading the read models that serve the screens. In the
//! same transaction as its checkpoint it writes each finished payment's notice into the
//! outbox of its obligation's kind: `fine_payment_notices` (a captured fine payment, for
//! the fines system), `tax_debt_notices` (a captured debt payment, for the revenue system)
//! and `declaration_outcomes` (every finished payment of a declaration, to be applied to
//! it). The notifiers and the declaration worker then read only their outboxes.
//!
//! Every write is keyed (payment id, event sequence), so replaying the log — a new portal
//! on an old database, a consumer restarted mid-batch — changes nothing twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::payment::{Payment, PaymentEvent, PaymentStatus};
use domain::Money;
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use sqlx::{PgConnection, PgPool};

/// The consumer that keeps `payment_process` and fills the outboxes.
pub struct PaymentProcess;

impl PaymentProcess {
    pub const NAME: &'static str = "payment_process";
}

/// A payment as the engine and the reconciler see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProcessRow {
    pub payment_id: String,
    pub order_id: String,
    pub obligation_kind: String,
    pub obligation_reference: String,
    pub status: String,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "payment_id, order_id, obligation_kind, obligation_reference, status, expires_at";

#[async_trait]
impl Consumer for PaymentProcess {
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
        let payload: PaymentEvent = serde::Deserialize::deserialize(&event.payload)
            .map_err(|e| ConsumerError::decode(event, e))?;
        let id = &event.aggregate_id;
        let seq = event.sequence;
        let (status, payment_ref) = match &payload {
            PaymentEvent::PaymentCreated {
                order_id,
                obligation,
                amount_cents,
                expires_at,
                at,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO payment_process (payment_id, order_id, obligation_kind, \
                     obligation_reference, amount_cents, status, expires_at, updated_at, \
                     last_sequence) VALUES ($1, $2, $3, $4, $5, 'created', $6, $7, $8) \
                     ON CONFLICT (payment_id) DO NOTHING",
                )
                .bind(id)
                .bind(order_id)
                .bind(&obligation.kind)
                .bind(&obligation.reference)
                .bind(amount_cents)
                .bind(expires_at)
                .bind(at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
                return Ok(());
            }
            PaymentEvent::PaymentRedirected { at } => {
                sqlx::query(
                    "UPDATE payment_process SET status = 'redirected', redirected_at = $3, \
                     updated_at = $3, last_sequence = $2 \
                     WHERE payment_id = $1 AND last_sequence < $2",
                )
                .bind(id)
                .bind(seq)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                return Ok(());
            }
            PaymentEvent::PaymentSucceeded { payment_ref, .. } => {
                (PaymentStatus::Succeeded, Some(payment_ref.as_str()))
            }
            PaymentEvent::PaymentFailed { .. } => (PaymentStatus::Failed, None),
            PaymentEvent::PaymentErrored { .. } => (PaymentStatus::Error, None),
            PaymentEvent::PaymentCancelled { .. } => (PaymentStatus::Cancelled, None),
            PaymentEvent::PaymentExpired { .. } => (PaymentStatus::Expired, None),
            // The notifier's own finding about a captured payment: nothing to settle.
            PaymentEvent::PaymentRefundDue { .. } | PaymentEvent::PaymentRefunded { .. } => {
                return Ok(())
            }
        };
        let at = payload.at();
        let settled: Option<(String, String, Money)> = sqlx::query_as(
            "UPDATE payment_process SET status = $3, payment_ref = COALESCE($4, payment_ref), \
             updated_at = $5, last_sequence = $2 WHERE payment_id = $1 AND last_sequence < $2 \
             RETURNING obligation_kind, obligation_reference, amount_cents",
        )
        .bind(id)
        .bind(seq)
        .bind(status.as_str())
        .bind(payment_ref)
        .bind(at)
        .fetch_optional(&mut *conn)
        .await?;
        // None: already folded (a replay), or a payment this table never saw created.
        if settled.is_none() {
            let known: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM payment_process WHERE payment_id = $1)",
            )
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
            if !known {
                tracing::warn!(payment = %id, sequence = seq,
                    "payment process: an outcome of a payment it never saw created; no notice written");
            }
        }
        if let Some((kind, reference, amount_cents)) = settled {
            let finished = Finished {
                payment_id: id,
                status,
                payment_ref,
                amount_cents,
                at,
            };
            write_notice(conn, &kind, &reference, &finished).await?;
        }
        Ok(())
    }
}

/// A payment that reached a final state.
struct Finished<'a> {
    payment_id: &'a str,
    status: PaymentStatus,
    payment_ref: Option<&'a str>,
    amount_cents: Money,
    at: DateTime<Utc>,
}

/// Writes the notice of a finished payment into the outbox of its obligation's kind.
async fn write_notice(
    conn: &mut PgConnection,
    kind: &str,
    reference: &str,
    finished: &Finished<'_>,
) -> Result<(), sqlx::Error> {
    let captured = finished.status == PaymentStatus::Succeeded;
    match (kind, finished.payment_ref) {
        (crate::fines::OBLIGATION_KIND, Some(payment_ref)) if captured => {
            sqlx::query(
                "INSERT INTO fine_payment_notices (payment_id, fine_id, payment_ref, \
                 amount_cents) VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id) DO NOTHING",
            )
            .bind(finished.payment_id)
            .bind(reference)
            .bind(payment_ref)
            .bind(finished.amount_cents)
            .execute(conn)
            .await?;
        }
        (crate::tax_debts::OBLIGATION_KIND, Some(payment_ref)) if captured => {
            sqlx::query(
                "INSERT INTO tax_debt_notices (payment_id, debt_stream_id, payment_ref, \
                 amount_cents, paid_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (payment_id) DO NOTHING",
            )
            .bind(finished.payment_id)
            .bind(reference)
            .bind(payment_ref)
            .bind(finished.amount_cents)
            .bind(finished.at)
            .execute(conn)
            .await?;
        }
        (crate::tax_declarations::OBLIGATION_KIND, _) => {
            // Every outcome is applied to the declaration; a capture after the payment
            // expired (the bank's word about the money stands) is applied again.
            sqlx::query(
                "INSERT INTO declaration_outcomes (payment_id, declaration_id, payment_status, \
                 notice) VALUES ($1, $2, $3, CASE WHEN $3 = 'succeeded' THEN 'pending' \
                 ELSE 'none' END) \
                 ON CONFLICT (payment_id) DO UPDATE SET payment_status = 'succeeded', \
                 applied = 'pending', notice = 'pending', next_attempt_at = now(), \
                 done_at = NULL \
                 WHERE declaration_outcomes.payment_status = 'expired' \
                 AND EXCLUDED.payment_status = 'succeeded'",
            )
            .bind(finished.payment_id)
            .bind(reference)
            .bind(finished.status.as_str())
            .execute(conn)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The payment the bank's `order_id` names (the first, should two ever share one).
pub async fn by_order_id(pool: &PgPool, order_id: &str) -> Result<Option<ProcessRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payment_process WHERE order_id = $1 \
         ORDER BY last_sequence, payment_id LIMIT 1"
    ))
    .bind(order_id)
    .fetch_optional(pool)
    .await
}

/// How the obligation stands in the engine: `succeeded` if a payment of it succeeded, else
/// the status of one still open (created or at the bank, not expired) at `now`, else none.
pub async fn open_status_of(
    pool: &PgPool,
    kind: &str,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT status FROM payment_process WHERE obligation_kind = $1 \
         AND obligation_reference = $2 AND (status = 'succeeded' \
         OR (status IN ('created', 'redirected') AND expires_at > $3)) \
         ORDER BY status = 'succeeded' DESC LIMIT 1",
    )
    .bind(kind)
    .bind(reference)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// Payments sent to the bank at or before `redirected_before` that have no answer yet:
/// the reconciler asks the bank about them.
pub async fn stale_redirected(
    pool: &PgPool,
    redirected_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ProcessRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payment_process WHERE status = 'redirected' \
         AND redirected_at <= $1 ORDER BY redirected_at LIMIT $2"
    ))
    .bind(redirected_before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Open payments (created or redirected) whose expiry has come by `now`.
pub async fn due_for_expiry(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ProcessRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payment_process WHERE status IN ('created', 'redirected') \
         AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}
