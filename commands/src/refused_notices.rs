//! The payment notices another system refused for good (issue 14): the fines system or the
//! revenue system would not record a payment made through the portal (paid at the counter
//! meanwhile, a record that does not match), or a second payment of an obligation that
//! another payment had settled was captured. Each is money taken that the municipality's
//! records do not show, so a clerk must look: the clerks' list of them, and the clerk's
//! decision to have a refused notice sent again once the other system's records were put
//! right — recorded on the obligation (`FinesSystemNoticeRetried`,
//! `RevenueSystemNoticeRetried`) before the notice is due again in its outbox.

use chrono::{DateTime, Utc};
use domain::account::STAFF;
use domain::tax_debt::TaxDebtCommand;
use domain::tax_declaration::TaxDeclarationCommand;
use domain::traffic_fine::TrafficFineCommand;
use domain::Money;
use serde::Serialize;

use crate::background::Outbox;
use crate::context::{Actor, Portal};
use crate::notices::NoticeTarget;
use crate::{CommandError, CommandMetadata};

/// The obligation kinds whose notices can be refused, as the list names them.
pub const TRAFFIC_FINE: &str = "traffic_fine";
pub const TAX_DEBT: &str = "tax_debt";
pub const TAX_DECLARATION: &str = "tax_declaration";

/// A refused notice, as a clerk sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RefusedNotice {
    pub payment_id: String,
    /// `traffic_fine`, `tax_debt` or `tax_declaration`.
    pub obligation_kind: String,
    /// The obligation's stream: a fine `{municipality}-{number}`, a debt `{afm}-{debt id}`,
    /// a declaration `{afm}-{period}`.
    pub obligation_id: String,
    /// What was paid, as the payment says it.
    pub description: Option<String>,
    /// The bank's reference of the payment (the receipt's).
    pub payment_ref: Option<String>,
    pub amount_cents: Option<Money>,
    /// The refusal's code: the other system's, or the obligation's own when it was settled
    /// by another payment.
    pub code: Option<String>,
    pub refused_at: Option<DateTime<Utc>>,
    pub payer_name: Option<String>,
    pub payer_email: Option<String>,
    /// Another payment settled the obligation: this one's money is to be returned, and
    /// sending its notice again would change nothing.
    pub second_payment: bool,
}

/// Newest first, at most this many (the list is a work queue that clerks empty).
const LIST_LIMIT: i64 = 500;

/// A refusal by the other system is on the obligation's stream (its `…RefusedNotice` event
/// for the payment); a refused row without one is a second payment, which the notifier
/// refused itself. Read from the log, not a read model, so a lagging read model cannot
/// show a payment to refund as one to send again or the other way round.
const LIST_SQL: &str = "\
SELECT * FROM (
  SELECT n.payment_id, 'traffic_fine' AS obligation_kind, n.fine_id AS obligation_id,
         p.obligation_description AS description, n.payment_ref, n.amount_cents,
         n.last_error AS code, n.done_at AS refused_at, a.full_name AS payer_name,
         a.email AS payer_email,
         NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = 'TrafficFine'
                       AND e.aggregate_id = n.fine_id
                       AND e.event_type = 'FinesSystemRefusedNotice'
                       AND e.payload->'FinesSystemRefusedNotice'->>'payment_id' = n.payment_id)
           AS second_payment
    FROM fine_payment_notices n
    LEFT JOIN payments p ON p.id = n.payment_id
    LEFT JOIN accounts a ON a.id::text = p.payer_account_id
   WHERE n.status = 'refused'
  UNION ALL
  SELECT n.payment_id, 'tax_debt', n.debt_stream_id, p.obligation_description, n.payment_ref,
         n.amount_cents, n.last_error, n.done_at, a.full_name, a.email,
         NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = 'TaxDebt'
                       AND e.aggregate_id = n.debt_stream_id
                       AND e.event_type = 'RevenueSystemRefusedNotice'
                       AND e.payload->'RevenueSystemRefusedNotice'->>'payment_id' = n.payment_id)
    FROM tax_debt_notices n
    LEFT JOIN payments p ON p.id = n.payment_id
    LEFT JOIN accounts a ON a.id::text = p.payer_account_id
   WHERE n.status = 'refused'
  UNION ALL
  SELECT o.payment_id, 'tax_declaration', o.declaration_id, p.obligation_description,
         p.payment_ref, p.amount_cents, o.last_error, o.done_at, a.full_name, a.email, false
    FROM declaration_outcomes o
    LEFT JOIN payments p ON p.id = o.payment_id
    LEFT JOIN accounts a ON a.id::text = p.payer_account_id
   WHERE o.notice = 'refused'
) refused
WHERE $2::text IS NULL OR payment_id = $2
ORDER BY refused_at DESC NULLS LAST, payment_id
LIMIT $1";

/// How many notices each outbox holds refused, waiting for a clerk (`/metrics`): the
/// outbox's name (`fine_payment_notices`, `tax_debt_notices`, `declaration_outcomes`) and
/// the count.
pub async fn count_by_outbox(pool: &sqlx::PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT 'fine_payment_notices', count(*) FROM fine_payment_notices \
           WHERE status = 'refused' \
         UNION ALL SELECT 'tax_debt_notices', count(*) FROM tax_debt_notices \
           WHERE status = 'refused' \
         UNION ALL SELECT 'declaration_outcomes', count(*) FROM declaration_outcomes \
           WHERE notice = 'refused'",
    )
    .fetch_all(pool)
    .await
}

/// Why a clerk's list or retry did not go through.
#[derive(Debug, thiserror::Error)]
pub enum RefusedNoticeError {
    /// Only clerks (and administrators) see and act on refused notices.
    #[error("only staff act on refused notices")]
    Forbidden,
    /// No refused notice of this payment (never refused, sent again already, or no such
    /// payment).
    #[error("no refused notice of this payment")]
    NotFound,
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl From<sqlx::Error> for RefusedNoticeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Command(e.into())
    }
}

/// Every refused notice, newest first (at most 500).
pub async fn list(
    portal: &Portal,
    clerk: &Actor,
) -> Result<Vec<RefusedNotice>, RefusedNoticeError> {
    if !clerk.holds(STAFF) {
        return Err(RefusedNoticeError::Forbidden);
    }
    Ok(sqlx::query_as(LIST_SQL)
        .bind(LIST_LIMIT)
        .bind(None::<&str>)
        .fetch_all(&portal.pool)
        .await?)
}

/// The refused notice of payment `payment_id`, however old.
async fn find(portal: &Portal, payment_id: &str) -> Result<Option<RefusedNotice>, sqlx::Error> {
    sqlx::query_as(LIST_SQL)
        .bind(1_i64)
        .bind(payment_id)
        .fetch_optional(&portal.pool)
        .await
}

/// Clerk `clerk` has the refused notice of payment `payment_id` sent again: the decision
/// is recorded on the obligation (refused by its rules when the notice was recorded after
/// all, or when another payment settled it), then the notice is due again in its outbox
/// and the notifier tells the other system on its next pass. Recording first makes a retry
/// whose second step did not happen (a crash) safe to repeat.
pub async fn retry(
    portal: &Portal,
    clerk: &Actor,
    metadata: CommandMetadata,
    payment_id: &str,
) -> Result<RefusedNotice, RefusedNoticeError> {
    if !clerk.holds(STAFF) {
        return Err(RefusedNoticeError::Forbidden);
    }
    let notice = find(portal, payment_id)
        .await?
        .ok_or(RefusedNoticeError::NotFound)?;
    let (payment_id, at, staff) = (
        notice.payment_id.clone(),
        portal.now(),
        clerk.staff_member(),
    );
    let obligation = notice.obligation_id.as_str();
    let outbox = match notice.obligation_kind.as_str() {
        TRAFFIC_FINE => {
            let command = TrafficFineCommand::RetryFinesSystemNotice {
                payment_id: payment_id.clone(),
                clerk: staff,
                at,
            };
            portal
                .traffic_fines
                .execute(obligation, command, metadata)
                .await?;
            crate::fines::FinesSystemNotices::OUTBOX
        }
        TAX_DEBT => {
            let command = TaxDebtCommand::RetryRevenueSystemNotice {
                payment_id: payment_id.clone(),
                clerk: staff,
                at,
            };
            portal
                .tax_debts
                .execute(obligation, command, metadata)
                .await?;
            crate::tax_debts::RevenueSystemDebtNotices::OUTBOX
        }
        TAX_DECLARATION => {
            let command = TaxDeclarationCommand::RetryRevenueSystemNotice {
                payment_id: payment_id.clone(),
                clerk: staff,
                at,
            };
            portal
                .tax_declarations
                .execute(obligation, command, metadata)
                .await?;
            crate::tax_declarations::OUTCOMES
        }
        other => {
            return Err(CommandError::Infrastructure(format!(
                "a refused notice of an unknown obligation kind {other:?}"
            ))
            .into())
        }
    };
    outbox.reopen(&portal.pool, &payment_id).await?;
    tracing::info!(payment = %payment_id, obligation = %obligation, clerk = %clerk.email,
        "a refused payment notice is to be sent again");
    Ok(notice)
}

impl Outbox {
    /// A clerk has the refused notice of `payment_id` sent again: due now, its attempts
    /// counted afresh (the refusal stays in `last_error` until the next answer).
    async fn reopen(&self, pool: &sqlx::PgPool, payment_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "UPDATE {table} SET {status} = 'pending', attempts = 0, next_attempt_at = now(), \
             done_at = NULL WHERE payment_id = $1 AND {status} = 'refused'",
            table = self.table,
            status = self.status_column
        ))
        .bind(payment_id)
        .execute(pool)
        .await?;
        Ok(())
    }
}
