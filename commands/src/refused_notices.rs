//! The payment notices another system refused for good (issue 14): the fines system or the
//! revenue system would not record a payment made through the portal (paid at the counter
//! meanwhile, a record that does not match), or a second payment of an obligation that
//! another payment had settled was captured. Each is money taken that the municipality's
//! records do not show, so a clerk must look: the clerks' list of them, and the clerk's
//! decision to have a refused notice sent again once the other system's records were put
//! right — recorded on the obligation (`FinesSystemNoticeRetried`,
//! `RevenueSystemNoticeRetried`) before the notice is due again in its outbox — or, for a
//! second payment, to record its money returned (`PaymentRefunded` on the payment).

use chrono::{DateTime, Utc};
use domain::account::STAFF;
use domain::payment::PaymentCommand;
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RefusedNotice {
    pub payment_id: String,
    // `traffic_fine`, `tax_debt` or `tax_declaration` (no doc comment: utoipa would wrap
    // the inline enum in an `allOf` with an object).
    #[schema(value_type = ObligationKind, inline)]
    pub obligation_kind: String,
    /// The obligation's stream: a fine `{municipality}-{number}`, a debt `{afm}-{debt id}`,
    /// a declaration `{afm}-{period}`.
    pub obligation_id: String,
    /// What was paid, as the payment says it.
    #[schema(required)]
    pub description: Option<String>,
    /// The bank's reference of the payment (the receipt's).
    #[schema(required)]
    pub payment_ref: Option<String>,
    #[schema(required, value_type = Option<i64>)]
    pub amount_cents: Option<Money>,
    /// The refusal's code: the other system's, or the obligation's own when it was settled
    /// by another payment.
    #[schema(required)]
    pub code: Option<String>,
    pub refused_at: DateTime<Utc>,
    #[schema(required)]
    pub payer_name: Option<String>,
    #[schema(required)]
    pub payer_email: Option<String>,
    /// Another payment settled the obligation: this one's money is to be returned, and
    /// sending its notice again would change nothing.
    pub second_payment: bool,
}

/// The obligations a payment notice is about (documentation: the column is text).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum ObligationKind {
    TrafficFine,
    TaxDebt,
    TaxDeclaration,
}

/// Every refused notice waiting for a clerk, with the outbox it is in
/// (`fine_payment_notices`, `tax_debt_notices`, `declaration_outcomes`): what both the
/// clerks' list and the `/metrics` gauge select from, so that the two cannot disagree.
///
/// A refusal by the other system is on the obligation's stream (its `…RefusedNotice` event
/// for the payment); a refused row without one is a second payment, which the notifier
/// refused itself. Read from the log, not a read model, so a lagging read model cannot
/// show a payment to refund as one to send again or the other way round.
macro_rules! waiting_sql {
    () => {
        "(SELECT * FROM (
  SELECT 'fine_payment_notices' AS outbox, n.payment_id, 'traffic_fine' AS obligation_kind,
         n.fine_id AS obligation_id, p.obligation_description AS description, n.payment_ref,
         n.amount_cents, n.last_error AS code, coalesce(n.done_at, 'epoch') AS refused_at,
         a.full_name AS payer_name, a.email AS payer_email,
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
  SELECT 'tax_debt_notices', n.payment_id, 'tax_debt', n.debt_stream_id,
         p.obligation_description, n.payment_ref, n.amount_cents, n.last_error,
         coalesce(n.done_at, 'epoch'), a.full_name, a.email,
         NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = 'TaxDebt'
                       AND e.aggregate_id = n.debt_stream_id
                       AND e.event_type = 'RevenueSystemRefusedNotice'
                       AND e.payload->'RevenueSystemRefusedNotice'->>'payment_id' = n.payment_id)
    FROM tax_debt_notices n
    LEFT JOIN payments p ON p.id = n.payment_id
    LEFT JOIN accounts a ON a.id::text = p.payer_account_id
   WHERE n.status = 'refused'
  UNION ALL
  SELECT 'declaration_outcomes', o.payment_id, 'tax_declaration', o.declaration_id,
         p.obligation_description, p.payment_ref, p.amount_cents, o.last_error,
         coalesce(o.done_at, 'epoch'), a.full_name, a.email, o.applied = 'ignored'
    FROM declaration_outcomes o
    LEFT JOIN payments p ON p.id = o.payment_id
    LEFT JOIN accounts a ON a.id::text = p.payer_account_id
   -- Refused by the revenue system, or a captured payment its declaration refused (a
   -- superseded filing, a period paid by another payment): money to return.
   WHERE o.notice = 'refused' OR (o.applied = 'ignored' AND o.payment_status = 'succeeded')
) refused
  -- A second payment waits for no one once a clerk recorded its money returned (its row
  -- stays `refused`: the other system never took it).
WHERE NOT (second_payment AND EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = 'Payment'
             AND e.aggregate_id = refused.payment_id AND e.event_type = 'PaymentRefunded')))"
    };
}

/// The list: a page of [`waiting_sql`], newest first (`$2`: one payment's notice).
const LIST_SQL: &str = concat!(
    "SELECT * FROM ",
    waiting_sql!(),
    " waiting
WHERE ($2::text IS NULL OR payment_id = $2)
  AND ($3::timestamptz IS NULL OR (refused_at, payment_id) < ($3, $4))
ORDER BY refused_at DESC, payment_id DESC
LIMIT $1"
);

/// How many notices each outbox holds refused, waiting for a clerk (`/metrics`): the
/// outbox's name and the count (0 for an outbox with none).
pub async fn count_by_outbox(pool: &sqlx::PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT o.outbox, count(waiting.payment_id) \
           FROM (VALUES ('fine_payment_notices', 1), ('tax_debt_notices', 2), \
                        ('declaration_outcomes', 3)) o(outbox, place) \
           LEFT JOIN ",
        waiting_sql!(),
        " waiting ON waiting.outbox = o.outbox \
          GROUP BY o.outbox, o.place ORDER BY o.place"
    ))
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
    /// The other system refused this payment's notice: it is sent again, not refunded.
    #[error("not a second payment: its notice is to be sent again, not its money returned")]
    NotASecondPayment,
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl From<sqlx::Error> for RefusedNoticeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Command(e.into())
    }
}

/// Where a page of the list starts: after the notice refused at this time with this
/// payment id (the last of the page before; keyset paging, newest first).
pub type ListKey = (DateTime<Utc>, String);

/// A page of the list, and the key the next page starts after (`None`: the last page).
#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<RefusedNotice>,
    pub next: Option<ListKey>,
}

/// The refused notices, newest first, `limit` of them after `after`.
pub async fn list(
    portal: &Portal,
    clerk: &Actor,
    after: Option<&ListKey>,
    limit: i64,
) -> Result<ListPage, RefusedNoticeError> {
    if !clerk.holds(STAFF) {
        return Err(RefusedNoticeError::Forbidden);
    }
    let limit = limit.max(1);
    let mut items: Vec<RefusedNotice> = sqlx::query_as(LIST_SQL)
        .bind(limit + 1)
        .bind(None::<&str>)
        .bind(after.map(|(at, _)| *at))
        .bind(after.map(|(_, id)| id.as_str()))
        .fetch_all(&portal.pool)
        .await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = more
        .then(|| items.last().map(|n| (n.refused_at, n.payment_id.clone())))
        .flatten();
    Ok(ListPage { items, next })
}

/// The refused notice of payment `payment_id` (still waiting for a clerk), for clerk
/// `clerk`: what a confirmation page restates.
pub async fn get(
    portal: &Portal,
    clerk: &Actor,
    payment_id: &str,
) -> Result<RefusedNotice, RefusedNoticeError> {
    if !clerk.holds(STAFF) {
        return Err(RefusedNoticeError::Forbidden);
    }
    find(portal, payment_id)
        .await?
        .ok_or(RefusedNoticeError::NotFound)
}

/// The refused notice of payment `payment_id`, however old.
async fn find(portal: &Portal, payment_id: &str) -> Result<Option<RefusedNotice>, sqlx::Error> {
    sqlx::query_as(LIST_SQL)
        .bind(1_i64)
        .bind(payment_id)
        .bind(None::<DateTime<Utc>>)
        .bind(None::<&str>)
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
    let notice = get(portal, clerk, payment_id).await?;
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

/// Clerk `clerk` records that the money of the second payment `payment_id` (another
/// payment had settled its obligation) was returned, saying how in `note`: recorded on the
/// payment (`PaymentRefunded`, with the clerk); the payer is e-mailed and the payment leaves
/// the list. A refusal by the other system is not a refund to record
/// (`RefusedNoticeError::NotASecondPayment`): its notice is to be sent again.
/// Pressed again once recorded (a double click, a retried request), it answers the same
/// and records nothing.
pub async fn record_refund(
    portal: &Portal,
    clerk: &Actor,
    metadata: CommandMetadata,
    payment_id: &str,
    note: &str,
) -> Result<Refund, RefusedNoticeError> {
    if !clerk.holds(STAFF) {
        return Err(RefusedNoticeError::Forbidden);
    }
    // The note first: a refused action changes nothing, not even the mark below.
    let note = domain::payment::refund_note(note).map_err(CommandError::Refused)?;
    let Some(notice) = find(portal, payment_id).await? else {
        return already_refunded(portal, payment_id).await;
    };
    if !notice.second_payment {
        return Err(RefusedNoticeError::NotASecondPayment);
    }
    // The notifier marks a second payment's refund due when it finds it; one found before
    // it did so (an older portal) is marked now. Marking again changes nothing.
    crate::payments::mark_refund_due(
        portal,
        &notice.payment_id,
        notice.code.as_deref().unwrap_or_default(),
        metadata.clone(),
    )
    .await?;
    portal
        .payments
        .execute(
            &notice.payment_id,
            PaymentCommand::RecordRefund {
                clerk: clerk.staff_member(),
                note,
                at: portal.now(),
            },
            metadata,
        )
        .await?;
    tracing::info!(payment = %notice.payment_id, obligation = %notice.obligation_id,
        clerk = %clerk.email, "the money of a second payment was returned");
    Ok(Refund {
        payment_id: notice.payment_id,
        obligation_kind: notice.obligation_kind,
        obligation_id: notice.obligation_id,
    })
}

/// A recorded refund: of which payment, of which obligation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub payment_id: String,
    /// `traffic_fine`, `tax_debt` or `tax_declaration`.
    pub obligation_kind: String,
    pub obligation_id: String,
}

/// The answer to a refund pressed again: the refund recorded already, or
/// `RefusedNoticeError::NotFound` when the payment has none waiting and none recorded.
async fn already_refunded(portal: &Portal, payment_id: &str) -> Result<Refund, RefusedNoticeError> {
    let payment = portal.payments.load(payment_id).await?;
    match (payment.refunded_at, payment.obligation) {
        (Some(_), Some(obligation)) => Ok(Refund {
            payment_id: payment.id,
            obligation_kind: obligation.kind,
            obligation_id: obligation.reference,
        }),
        _ => Err(RefusedNoticeError::NotFound),
    }
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
