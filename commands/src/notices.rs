//! Telling another system that an obligation was paid through the portal: the one process
//! manager behind the fine notifier (the fines-management system, S10) and the debt
//! notifier (the revenue system, S14).
//!
//! The payment process writes a row per captured payment into the target's outbox (keyed
//! by payment id, so written once). A pass of the notifier records the payment on the
//! obligation's aggregate, then tells the other system with the payment id as idempotency
//! key until it takes it (`notified`), retrying with backoff while it is down, or until it
//! refuses for good (`refused`, recorded on the aggregate for a clerk to see). Every step
//! is idempotent, so a crash between steps only repeats one. One pass at a time across
//! processes (an advisory lock).

use domain::Money;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::Refusal;

use crate::background::{self, LoopTask, Outbox};
use crate::context::{Portal, Settings};
use crate::{CommandError, CommandMetadata, Commands};

/// A captured payment of an obligation, as its outbox row holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaidNotice {
    pub payment_id: String,
    /// The obligation's stream id (a fine `9999-100000001`, a debt `{afm}-{debt id}`).
    pub obligation_id: String,
    pub payment_ref: String,
    pub amount_cents: Money,
    /// When the bank captured it, where the outbox keeps it.
    pub paid_at: Option<DateTime<Utc>>,
    pub attempts: i32,
}

/// Why the other system did not take a notice.
#[derive(Debug)]
pub enum TellFailure {
    /// Down, slow or answering nonsense: try again later.
    Unavailable(String),
    /// It refused the notice for good.
    Refused(Refusal),
    /// The notice cannot be made (e.g. an obligation id without the parts the other
    /// system needs): a defect, reported as a failed pass and retried.
    Broken(String),
}

/// What the notifier records on the obligation.
#[derive(Debug, Clone, Copy)]
pub enum NoticeStep<'a> {
    /// This payment paid it (refused: another payment did).
    Paid,
    /// The other system took the notice.
    Told,
    /// The other system refused the notice for good, with this code.
    Refused(&'a str),
}

/// A system the portal tells about paid obligations, and the aggregate it records that on.
#[async_trait]
pub trait NoticeTarget: Send + Sync + 'static {
    /// The obligation's aggregate (`TrafficFine`, `TaxDebt`).
    type Obligation: Aggregate<Error = Refusal>;
    /// The loop's name in the logs.
    const TASK: &'static str;
    /// The advisory lock of a pass.
    const LOCK: &'static str;
    /// The actor of the events the notifier writes.
    const ACTOR: &'static str;
    const OUTBOX: Outbox;
    /// The due rows as [`PaidNotice`]s, at most 20, oldest due first.
    const DUE_SQL: &'static str;

    /// The first retry after the system was unavailable (then doubling, at most an hour).
    fn retry_first(settings: &Settings) -> Duration;
    /// The write side of the obligations.
    fn obligations(portal: &Portal) -> &Commands<Self::Obligation>;
    /// The command that records `step` on the obligation, at `now`.
    fn record(
        notice: &PaidNotice,
        step: NoticeStep<'_>,
        now: DateTime<Utc>,
    ) -> <Self::Obligation as Aggregate>::Command;
    /// Tells the other system.
    async fn tell(portal: &Portal, notice: &PaidNotice) -> Result<(), TellFailure>;
}

/// The notifier of `T`.
pub struct Notifier<T> {
    portal: Arc<Portal>,
    target: PhantomData<T>,
}

impl<T> Clone for Notifier<T> {
    fn clone(&self) -> Self {
        Self {
            portal: self.portal.clone(),
            target: PhantomData,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NotifyReport {
    pub notified: usize,
    pub retried: usize,
    pub refused: usize,
    pub skipped: bool,
}

impl<T: NoticeTarget> Notifier<T>
where
    <T::Obligation as Aggregate>::Command: Clone + Send + Sync,
{
    pub fn new(portal: Arc<Portal>) -> Self {
        Self {
            portal,
            target: PhantomData,
        }
    }

    pub fn spawn(self, poll: Duration) -> LoopTask {
        background::every(T::TASK, poll, move || {
            let notifier = self.clone();
            async move { notifier.run_once().await }
        })
    }

    /// One pass over the due notices.
    pub async fn run_once(&self) -> Result<NotifyReport, CommandError> {
        let pool = &self.portal.pool;
        // The outbox is filled by the payment process as payments finish.
        self.portal.wait_for_payment_process().await?;
        let Some(lock) = background::pass_lock(pool, T::LOCK).await? else {
            return Ok(NotifyReport {
                skipped: true,
                ..NotifyReport::default()
            });
        };
        let due: Vec<PaidNotice> = sqlx::query_as(T::DUE_SQL).fetch_all(pool).await?;
        let mut report = NotifyReport::default();
        for notice in due {
            self.notify(&notice, &mut report).await?;
        }
        lock.commit().await?;
        Ok(report)
    }

    async fn notify(
        &self,
        notice: &PaidNotice,
        report: &mut NotifyReport,
    ) -> Result<(), CommandError> {
        let portal = &*self.portal;
        let payment_id = &notice.payment_id;
        let metadata = CommandMetadata {
            correlation_id: payment_id.clone(),
            ..crate::context::system_metadata(T::ACTOR)
        };
        match self
            .record(notice, NoticeStep::Paid, metadata.clone())
            .await
        {
            Err(CommandError::Refused(r)) => {
                // Another payment already settled this obligation: the money must go back
                // by hand. The payment records that (the payer is mailed, the clerks see it)
                // before the outbox row is done with, so a crash between the two repeats
                // only the mark, which changes nothing the second time.
                tracing::error!(payment = %payment_id, obligation = %notice.obligation_id,
                    code = r.code, "{}: a second captured payment of one obligation; refund it",
                    T::TASK);
                match crate::payments::mark_refund_due(portal, payment_id, r.code, metadata).await {
                    // Cannot happen for a captured payment; if it does, the row must still
                    // leave the queue, or it would hold up every later notice.
                    Err(CommandError::Refused(mark)) => {
                        tracing::error!(payment = %payment_id, code = mark.code,
                            "{}: the payment refused to be marked for a refund", T::TASK);
                    }
                    marked => marked?,
                }
                self.finish(payment_id, "refused", r.code).await?;
                report.refused += 1;
                return Ok(());
            }
            recorded => recorded?,
        }
        match T::tell(portal, notice).await {
            Ok(()) => {
                self.record(notice, NoticeStep::Told, metadata).await?;
                self.finish(payment_id, "notified", "").await?;
                report.notified += 1;
            }
            Err(TellFailure::Unavailable(why)) => {
                tracing::warn!(payment = %payment_id, attempts = notice.attempts, error = %why,
                    "{}: the other system is unavailable; will retry", T::TASK);
                T::OUTBOX
                    .retry_later(
                        &portal.pool,
                        payment_id,
                        &why,
                        T::retry_first(&portal.settings),
                        notice.attempts,
                    )
                    .await?;
                report.retried += 1;
            }
            Err(TellFailure::Broken(why)) => {
                return Err(CommandError::Infrastructure(format!(
                    "{}: payment {payment_id}: {why}",
                    T::TASK
                )));
            }
            Err(TellFailure::Refused(refusal)) => {
                tracing::error!(payment = %payment_id, obligation = %notice.obligation_id,
                    code = refusal.code,
                    "{}: the other system refused the payment notice; a clerk must look", T::TASK);
                self.record(notice, NoticeStep::Refused(refusal.code), metadata)
                    .await?;
                self.finish(payment_id, "refused", refusal.code).await?;
                report.refused += 1;
            }
        }
        Ok(())
    }

    async fn record(
        &self,
        notice: &PaidNotice,
        step: NoticeStep<'_>,
        metadata: CommandMetadata,
    ) -> Result<(), CommandError> {
        let command = T::record(notice, step, self.portal.now());
        T::obligations(&self.portal)
            .execute(&notice.obligation_id, command, metadata)
            .await?;
        Ok(())
    }

    async fn finish(
        &self,
        payment_id: &str,
        status: &str,
        error: &str,
    ) -> Result<(), CommandError> {
        Ok(T::OUTBOX
            .finish(&self.portal.pool, payment_id, status, error)
            .await?)
    }
}
