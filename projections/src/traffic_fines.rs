//! The `traffic_fines` read model: each traffic fine the portal quoted (S10), as the
//! fines system registered it, with its latest quote (amount, validity, the amount of the
//! quote before it) and where its payment stands; folded from `TrafficFine` events. It
//! serves the quote and confirmation pages and the way back to step 2 after a payment that
//! took no money.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::traffic_fine::{TrafficFine, TrafficFineEvent};
use domain::Money;
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::ReadModel;

pub struct TrafficFinesProjection;

impl TrafficFinesProjection {
    pub const NAME: &'static str = "traffic_fines";
}

impl ReadModel for TrafficFinesProjection {
    fn schema_version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["traffic_fines"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE traffic_fines (
    id                    text        PRIMARY KEY,
    municipality_code     text        NOT NULL,
    fine_number           text        NOT NULL,
    plate                 text        NOT NULL,
    fine_type             text        NOT NULL,
    offence_at            timestamptz NOT NULL,
    base_cents            bigint      NOT NULL,
    quote_id              text        NOT NULL,
    amount_cents          bigint      NOT NULL,
    valid_until           timestamptz NOT NULL,
    previous_amount_cents bigint,
    open_payment_id       text,
    paid_payment_id       text,
    paid_at               timestamptz,
    updated_at            timestamptz NOT NULL,
    last_sequence         bigint      NOT NULL
);
"#
    }
}

#[async_trait]
impl Consumer for TrafficFinesProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[TrafficFine::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        if event.aggregate_type != TrafficFine::TYPE {
            return Ok(());
        }
        let payload: TrafficFineEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ConsumerError::decode(event, e))?;
        let id = &event.aggregate_id;
        let seq = event.sequence;
        match payload {
            TrafficFineEvent::FineQuoted {
                quote_id,
                fine,
                amount_cents,
                valid_until,
                previous_amount_cents,
                at,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO traffic_fines (id, municipality_code, fine_number, plate, \
                     fine_type, offence_at, base_cents, quote_id, amount_cents, valid_until, \
                     previous_amount_cents, updated_at, last_sequence) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT (id) DO UPDATE SET municipality_code = $2, fine_number = $3, \
                     plate = $4, fine_type = $5, offence_at = $6, base_cents = $7, \
                     quote_id = $8, amount_cents = $9, valid_until = $10, \
                     previous_amount_cents = $11, updated_at = $12, last_sequence = $13 \
                     WHERE traffic_fines.last_sequence < $13",
                )
                .bind(id)
                .bind(&fine.municipality_code)
                .bind(&fine.fine_number)
                .bind(&fine.plate)
                .bind(&fine.fine_type)
                .bind(fine.offence_at)
                .bind(fine.base_cents)
                .bind(&quote_id)
                .bind(amount_cents)
                .bind(valid_until)
                .bind(previous_amount_cents)
                .bind(at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            TrafficFineEvent::FinePaymentStarted { payment_id, at, .. } => {
                update(conn, id, seq, at, "open_payment_id = $4", &payment_id).await?;
            }
            TrafficFineEvent::FinePaid { payment_id, at, .. } => {
                update(
                    conn,
                    id,
                    seq,
                    at,
                    "paid_payment_id = $4, paid_at = $3",
                    &payment_id,
                )
                .await?;
            }
            // What the fines system was told is the notifier's (its outbox), not a page's.
            TrafficFineEvent::FinesSystemNotified { .. }
            | TrafficFineEvent::FinesSystemRefusedNotice { .. } => {}
        }
        Ok(())
    }
}

/// Sets `assignments` (which may use `$4`, bound to `value`) on fine `id` at `at`.
async fn update(
    conn: &mut PgConnection,
    id: &str,
    seq: i64,
    at: DateTime<Utc>,
    assignments: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE traffic_fines SET {assignments}, updated_at = $3, last_sequence = $2 \
         WHERE id = $1 AND last_sequence < $2"
    ))
    .bind(id)
    .bind(seq)
    .bind(at)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

/// A fine as the pages show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TrafficFineRow {
    pub id: String,
    pub municipality_code: String,
    pub fine_number: String,
    pub plate: String,
    pub fine_type: String,
    pub offence_at: DateTime<Utc>,
    pub base_cents: Money,
    /// The fine's latest quote.
    pub quote_id: String,
    pub amount_cents: Money,
    pub valid_until: DateTime<Utc>,
    pub previous_amount_cents: Option<Money>,
    pub open_payment_id: Option<String>,
    pub paid_payment_id: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl TrafficFineRow {
    /// Whether quote `quote_id` is the fine's latest and may still be paid at `now`
    /// ([`domain::traffic_fine::quote_is_current`]).
    pub fn quote_is_current(&self, quote_id: &str, now: DateTime<Utc>) -> bool {
        domain::traffic_fine::quote_is_current(&self.quote_id, self.valid_until, quote_id, now)
    }
}

/// Fine `id` (its stream id, `{municipality code}-{fine number}`).
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<TrafficFineRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, municipality_code, fine_number, plate, fine_type, offence_at, base_cents, \
         quote_id, amount_cents, valid_until, previous_amount_cents, open_payment_id, \
         paid_payment_id, paid_at FROM traffic_fines WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
