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
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::fold::{self, Table};
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
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Folds the batch in memory: one read of the fines it touches, one write.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        let events = fold::decode::<TrafficFineEvent>(events, TrafficFine::TYPE)?;
        if events.is_empty() {
            return Ok(());
        }
        let ids = fold::stream_ids(&events);
        let mut fines =
            Table::<FineState>::load(conn, "traffic_fines", &["id"], "id", &ids).await?;
        for (event, payload) in events {
            let id = event.aggregate_id.as_str();
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
                    if fines.has_folded(id, seq) {
                        continue;
                    }
                    let (open_payment_id, paid_payment_id, paid_at) = fines
                        .get(id)
                        .map(|f| {
                            (
                                f.open_payment_id.clone(),
                                f.paid_payment_id.clone(),
                                f.paid_at,
                            )
                        })
                        .unwrap_or_default();
                    fines.put(FineState {
                        id: id.to_string(),
                        municipality_code: fine.municipality_code,
                        fine_number: fine.fine_number,
                        plate: fine.plate,
                        fine_type: fine.fine_type,
                        offence_at: fine.offence_at,
                        base_cents: fine.base_cents,
                        quote_id,
                        amount_cents,
                        valid_until,
                        previous_amount_cents,
                        open_payment_id,
                        paid_payment_id,
                        paid_at,
                        updated_at: at,
                        last_sequence: seq,
                    });
                }
                TrafficFineEvent::FinePaymentStarted { payment_id, at, .. } => {
                    if let Some(fine) = fines.advance(id, seq) {
                        fine.open_payment_id = Some(payment_id);
                        fine.updated_at = at;
                    }
                }
                TrafficFineEvent::FinePaid { payment_id, at, .. } => {
                    if let Some(fine) = fines.advance(id, seq) {
                        fine.paid_payment_id = Some(payment_id);
                        fine.paid_at = Some(at);
                        fine.updated_at = at;
                    }
                }
                // What the fines system was told is the notifier's (its outbox), not a page's.
                TrafficFineEvent::FinesSystemNotified { .. }
                | TrafficFineEvent::FinesSystemRefusedNotice { .. }
                | TrafficFineEvent::FinesSystemNoticeRetried { .. } => {}
            }
        }
        fines.save(conn).await
    }
}

/// A row of `traffic_fines`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FineState {
    id: String,
    municipality_code: String,
    fine_number: String,
    plate: String,
    fine_type: String,
    offence_at: DateTime<Utc>,
    base_cents: Money,
    quote_id: String,
    amount_cents: Money,
    valid_until: DateTime<Utc>,
    previous_amount_cents: Option<Money>,
    open_payment_id: Option<String>,
    paid_payment_id: Option<String>,
    paid_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    last_sequence: i64,
}

fold::sequenced_row!(FineState, id);

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
