//! The `tax_debts` read model: what the portal knows of each certified municipal-tax debt a
//! payment was started for (S14): its latest payment, the payment that settled it and
//! whether the revenue system was told; folded from `TaxDebt` events. The debt pages read
//! it (with the `payments` read model, for where the latest payment stands) beside the
//! revenue system's answer, instead of loading each debt's aggregate and payment.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::payment::PaymentStatus;
use domain::settlement::Told;
use domain::tax_debt::{self, DebtPortalState, DebtSettled, PaymentFacts, TaxDebt, TaxDebtEvent};
use domain::Money;
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::fold::{self, Table};
use crate::ReadModel;

pub struct TaxDebtsProjection;

impl TaxDebtsProjection {
    pub const NAME: &'static str = "tax_debts";
}

impl ReadModel for TaxDebtsProjection {
    fn schema_version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tax_debts"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE tax_debts (
    id                       text        PRIMARY KEY,
    afm                      text        NOT NULL,
    debt_id                  text        NOT NULL,
    open_payment_id          text        NOT NULL,
    open_expires_at          timestamptz NOT NULL,
    paid_payment_id          text,
    paid_payment_ref         text,
    paid_amount_cents        bigint,
    paid_at                  timestamptz,
    revenue_system_notified  boolean     NOT NULL DEFAULT false,
    revenue_system_refusal   text,
    updated_at               timestamptz NOT NULL,
    last_sequence            bigint      NOT NULL
);
CREATE INDEX tax_debts_afm_idx ON tax_debts (afm);
"#
    }
}

#[async_trait]
impl Consumer for TaxDebtsProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[TaxDebt::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Folds the batch in memory: one read of the debts it touches, one write.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        let events = fold::decode::<TaxDebtEvent>(events, TaxDebt::TYPE)?;
        if events.is_empty() {
            return Ok(());
        }
        let ids = fold::stream_ids(&events);
        let mut debts = Table::<DebtState>::load(conn, "tax_debts", &["id"], "id", &ids).await?;
        for (event, payload) in events {
            let id = event.aggregate_id.as_str();
            let seq = event.sequence;
            match payload {
                TaxDebtEvent::TaxDebtPaymentStarted {
                    debt,
                    payment_id,
                    expires_at,
                    at,
                    ..
                } => {
                    if debts.get(id).is_none() {
                        debts.put(DebtState {
                            id: id.to_string(),
                            afm: debt.afm,
                            debt_id: debt.debt_id,
                            open_payment_id: payment_id,
                            open_expires_at: expires_at,
                            paid_payment_id: None,
                            paid_payment_ref: None,
                            paid_amount_cents: None,
                            paid_at: None,
                            revenue_system_notified: false,
                            revenue_system_refusal: None,
                            updated_at: at,
                            last_sequence: seq,
                        });
                    } else if let Some(row) = debts.advance(id, seq) {
                        row.open_payment_id = payment_id;
                        row.open_expires_at = expires_at;
                        row.updated_at = at;
                    }
                }
                TaxDebtEvent::TaxDebtPaid {
                    payment_id,
                    payment_ref,
                    amount_cents,
                    at,
                } => {
                    if let Some(row) = debts.advance(id, seq) {
                        row.paid_payment_id = Some(payment_id);
                        row.paid_payment_ref = Some(payment_ref);
                        row.paid_amount_cents = Some(amount_cents);
                        row.paid_at = Some(at);
                        row.updated_at = at;
                    }
                }
                TaxDebtEvent::RevenueSystemNotified { at, .. } => {
                    if let Some(row) = debts.advance(id, seq) {
                        row.revenue_system_notified = true;
                        row.updated_at = at;
                    }
                }
                TaxDebtEvent::RevenueSystemRefusedNotice { code, at, .. } => {
                    if let Some(row) = debts.advance(id, seq) {
                        row.revenue_system_refusal = Some(code);
                        row.updated_at = at;
                    }
                }
                TaxDebtEvent::RevenueSystemNoticeRetried { at, .. } => {
                    if let Some(row) = debts.advance(id, seq) {
                        row.revenue_system_refusal = None;
                        row.updated_at = at;
                    }
                }
            }
        }
        debts.save(conn).await
    }
}

/// A row of `tax_debts`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DebtState {
    id: String,
    afm: String,
    debt_id: String,
    open_payment_id: String,
    open_expires_at: DateTime<Utc>,
    paid_payment_id: Option<String>,
    paid_payment_ref: Option<String>,
    paid_amount_cents: Option<Money>,
    paid_at: Option<DateTime<Utc>>,
    revenue_system_notified: bool,
    revenue_system_refusal: Option<String>,
    updated_at: DateTime<Utc>,
    last_sequence: i64,
}

fold::sequenced_row!(DebtState, id);

/// A debt's row, with where its latest payment stands (from the `payments` read model).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaxDebtRow {
    pub id: String,
    pub afm: String,
    pub debt_id: String,
    pub open_payment_id: String,
    pub open_expires_at: DateTime<Utc>,
    pub paid_payment_id: Option<String>,
    pub paid_payment_ref: Option<String>,
    pub paid_amount_cents: Option<Money>,
    pub paid_at: Option<DateTime<Utc>>,
    pub revenue_system_notified: bool,
    pub revenue_system_refusal: Option<String>,
    /// The latest payment's status, reference, amount and last change, as the `payments`
    /// read model has them (`None` until that payment is created).
    pub payment_status: Option<String>,
    pub payment_ref: Option<String>,
    pub payment_amount_cents: Option<Money>,
    pub payment_updated_at: Option<DateTime<Utc>>,
}

impl TaxDebtRow {
    /// The portal's side of the debt at `now` ([`domain::tax_debt::portal_state`]).
    pub fn portal_state(&self, now: DateTime<Utc>) -> DebtPortalState {
        let paid = match (
            &self.paid_payment_id,
            &self.paid_payment_ref,
            self.paid_amount_cents,
            self.paid_at,
        ) {
            (Some(payment_id), Some(payment_ref), Some(amount_cents), Some(at)) => {
                Some(DebtSettled {
                    payment_id: payment_id.clone(),
                    payment_ref: payment_ref.clone(),
                    amount_cents,
                    at,
                })
            }
            _ => None,
        };
        let status = self.payment_status.as_deref().and_then(|text| {
            let status = PaymentStatus::parse(text);
            if status.is_none() {
                // Not a status the payments read model writes: taken as "not yet created".
                tracing::warn!(debt = %self.id, status = text, "unknown payment status");
            }
            status
        });
        let open = match (status, self.payment_amount_cents) {
            (Some(status), Some(amount_cents)) => Some(PaymentFacts {
                payment_id: self.open_payment_id.clone(),
                status,
                captured_ref: if status == PaymentStatus::Succeeded {
                    self.payment_ref.clone()
                } else {
                    None
                },
                amount_cents,
                updated_at: self.payment_updated_at,
            }),
            _ => None,
        };
        tax_debt::portal_state(
            paid.as_ref(),
            Told::of(
                self.revenue_system_notified,
                self.revenue_system_refusal.is_some(),
            ),
            Some((self.open_payment_id.as_str(), self.open_expires_at)),
            open.as_ref(),
            now,
        )
    }
}

const SELECT: &str = "SELECT t.id, t.afm, t.debt_id, t.open_payment_id, t.open_expires_at, \
     t.paid_payment_id, t.paid_payment_ref, t.paid_amount_cents, t.paid_at, \
     t.revenue_system_notified, t.revenue_system_refusal, p.status AS payment_status, \
     p.payment_ref, p.amount_cents AS payment_amount_cents, p.updated_at AS payment_updated_at \
     FROM tax_debts t LEFT JOIN payments p ON p.id = t.open_payment_id";

/// Every debt of the business `afm` a payment was started for.
pub async fn of_business(pool: &PgPool, afm: &str) -> Result<Vec<TaxDebtRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE t.afm = $1"))
        .bind(afm)
        .fetch_all(pool)
        .await
}

/// Debt `id` (its stream id, `{afm}-{debt_id}`), if a payment was ever started for it.
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<TaxDebtRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}
