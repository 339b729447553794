//! The payment engine: start a payment of an obligation, send the payer to the bank, apply
//! what the bank answers (browser return, server notification, status query), and the
//! background reconciler that asks the bank about payments left without an answer and
//! expires abandoned ones. Used by the fines, tax-declaration and tax-debt use cases.
//!
//! Every bank answer is verified by the gateway (digest in constant time) before anything
//! happens; the `Payment` aggregate then matches order id, amount and currency and applies
//! the outcome idempotently, so answers may arrive in any order and any number of times,
//! from any number of portal processes.

use domain::Money;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::payment::{BankResult, ConfirmationSource, Obligation, PaymentCommand, PaymentStatus};
use domain::ports::{BankOutcome, PaymentOrder, RedirectForm, VerifiedConfirmation};
use domain::Refusal;
use rand::Rng;

use crate::background::{self, LoopTask};
use crate::context::{system_metadata, Actor, Portal};
use crate::payment_process::{self as process, ProcessRow};
use crate::{CommandError, CommandMetadata, Executed};

/// The currency of every payment to the municipality.
pub const CURRENCY: &str = "EUR";
/// Where the bank sends the payer back (confirmUrl and cancelUrl).
pub const RETURN_PATH: &str = "/payments/return";
/// Where the bank notifies the portal server to server.
pub const NOTIFY_PATH: &str = "/api/v1/payments/notify";

/// How payments are run, from the configuration.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// The absolute URL of [`RETURN_PATH`].
    pub return_url: String,
    /// The absolute URL of [`NOTIFY_PATH`].
    pub notify_url: String,
    pub expiry: chrono::Duration,
    pub reconcile_after: chrono::Duration,
}

impl PaymentSettings {
    /// `portal_url`: the portal as the payer's browser and the bank reach it. `None`: a
    /// duration too large to count with.
    pub fn new(portal_url: &str, expiry: Duration, reconcile_after: Duration) -> Option<Self> {
        let portal_url = portal_url.trim_end_matches('/');
        Some(Self {
            return_url: format!("{portal_url}{RETURN_PATH}"),
            notify_url: format!("{portal_url}{NOTIFY_PATH}"),
            expiry: chrono::Duration::from_std(expiry).ok()?,
            reconcile_after: chrono::Duration::from_std(reconcile_after).ok()?,
        })
    }
}

/// Why a payment did not start or could not go to the bank.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// No payment of this payer has this id.
    #[error("no such payment")]
    NotFound,
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl From<Refusal> for PaymentError {
    fn from(refusal: Refusal) -> Self {
        Self::Command(CommandError::Refused(refusal))
    }
}

impl From<sqlx::Error> for PaymentError {
    fn from(e: sqlx::Error) -> Self {
        Self::Command(e.into())
    }
}

/// A payment that was created.
#[derive(Debug, Clone)]
pub struct StartedPayment {
    pub id: String,
    pub order_id: String,
    pub executed: Executed,
}

/// A new order id for the bank: `P` + the year of `now` + 12 random base32 characters (17
/// characters; 60 random bits, so two payments never share one in practice).
pub fn new_order_id(now: DateTime<Utc>) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let random: String = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("P{}{random}", now.format("%Y"))
}

/// Creates a payment of `amount_cents` for `obligation` by `user`. Refused while the same
/// obligation has a payment that succeeded or one still at the bank (a second tab, a
/// double click): one obligation is never paid twice through the portal. (The engine's
/// own state, `payment_process`, answers this, so two starts in the same instant are kept
/// apart only by an obligation's own aggregate, which is how the fines, declarations and
/// debts start theirs: [`start_reserved`]. This one serves obligations without an
/// aggregate of their own — today only the payment engine's tests.)
pub async fn start_payment(
    portal: &Portal,
    actor: &Actor,
    obligation: Obligation,
    amount_cents: Money,
    metadata: Option<CommandMetadata>,
) -> Result<StartedPayment, PaymentError> {
    portal.wait_for_payment_process().await?;
    let open = process::open_status_of(
        &portal.pool,
        &obligation.kind,
        &obligation.reference,
        portal.now(),
    )
    .await?;
    match open.as_deref() {
        Some("succeeded") => {
            return Err(
                Refusal::rule("obligation_already_paid", "this obligation is already paid").into(),
            )
        }
        Some(_) => {
            return Err(Refusal::rule(
                "payment_in_progress",
                "a payment of this obligation is in progress",
            )
            .into())
        }
        None => {}
    }
    let id = uuid::Uuid::new_v4().to_string();
    Ok(create_payment(portal, actor, id, obligation, amount_cents, metadata).await?)
}

/// Creates payment `id` without the check of [`start_payment`]: for callers
/// whose obligation aggregate already reserved the obligation for this payment (e.g. a
/// traffic fine's `FinePaymentStarted`).
pub async fn create_payment(
    portal: &Portal,
    actor: &Actor,
    id: String,
    obligation: Obligation,
    amount_cents: Money,
    metadata: Option<CommandMetadata>,
) -> Result<StartedPayment, CommandError> {
    let now = portal.now();
    let order_id = new_order_id(now);
    // A fresh UUID from every caller: nothing to read first.
    let executed = portal
        .payments
        .create(
            &id,
            PaymentCommand::Create {
                id: id.clone(),
                order_id: order_id.clone(),
                obligation,
                amount_cents,
                currency: CURRENCY.to_string(),
                payer_account_id: actor.account_id.to_string(),
                expires_at: now + portal.settings.payments.expiry,
                at: now,
            },
            metadata.unwrap_or_else(|| actor.metadata()),
        )
        .await?;
    Ok(StartedPayment {
        id,
        order_id,
        executed,
    })
}

/// Creates payment `id` of an obligation whose aggregate already reserved it for this
/// payment, and answers the form that sends the payer to the bank (in `lang`): the last
/// steps of paying a fine, a declaration or a debt.
pub async fn start_reserved(
    portal: &Portal,
    actor: &Actor,
    id: &str,
    obligation: Obligation,
    amount_cents: Money,
    metadata: CommandMetadata,
    lang: &str,
) -> Result<RedirectForm, PaymentError> {
    create_payment(
        portal,
        actor,
        id.to_string(),
        obligation,
        amount_cents,
        Some(metadata),
    )
    .await?;
    redirect(portal, actor, id, lang).await
}

/// Sends the payer to the bank: records the redirect and answers the signed form the
/// browser auto-submits. Asking again (a double click, a reload) while the payment is at
/// the bank answers the same form: the bank takes one order id once.
///
/// `lang`: the language of the bank's card page (`el` or `en`).
pub async fn redirect(
    portal: &Portal,
    actor: &Actor,
    payment_id: &str,
    lang: &str,
) -> Result<RedirectForm, PaymentError> {
    let payment = portal.payments.load(payment_id).await?;
    if payment.status.is_none() || payment.payer_account_id != actor.account_id.to_string() {
        return Err(PaymentError::NotFound);
    }
    if payment.status == Some(PaymentStatus::Created) {
        portal
            .payments
            .execute(
                payment_id,
                PaymentCommand::Redirect { at: portal.now() },
                actor.metadata(),
            )
            .await?;
    } else if payment.status != Some(PaymentStatus::Redirected) {
        return Err(Refusal::rule("payment_settled", "the payment is already settled").into());
    }
    let description = payment
        .obligation
        .as_ref()
        .map(|o| o.description.clone())
        .unwrap_or_default();
    let order = PaymentOrder {
        order_id: payment.order_id.clone(),
        amount_cents: payment.amount_cents,
        currency: payment.currency.clone(),
        description,
        payer_email: Some(actor.email.clone()),
        lang: if lang == "en" { "en" } else { "el" }.to_string(),
        confirm_url: portal.settings.payments.return_url.clone(),
        cancel_url: portal.settings.payments.return_url.clone(),
    };
    Ok(portal.bank.redirect_form(&order))
}

/// What applying a bank answer did.
#[derive(Debug, Clone)]
pub struct Applied {
    pub payment_id: String,
    /// The position of the payment's latest event (unchanged when the answer was
    /// already applied).
    pub executed: Executed,
}

/// Why a bank answer was not applied. Each is logged at WARN with the order id.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmationRejected {
    #[error("unverifiable answer: {0}")]
    Unverified(domain::ports::ConfirmationError),
    #[error("no payment has this order id")]
    UnknownOrder,
    #[error("refused by the payment: {0}")]
    Refused(Refusal),
    #[error(transparent)]
    Failed(CommandError),
}

impl From<sqlx::Error> for ConfirmationRejected {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

/// The money payment `payment_id` took is to be returned: its obligation refused it
/// (`reason`, the obligation's refusal code), another payment having settled it. Recorded
/// on the payment (`PaymentRefundDue`: the payer is mailed, clerks list it); marking it
/// again changes nothing, so a process that crashed after this step may repeat it.
pub async fn mark_refund_due(
    portal: &Portal,
    payment_id: &str,
    reason: &str,
    metadata: CommandMetadata,
) -> Result<(), CommandError> {
    portal
        .payments
        .execute(
            payment_id,
            PaymentCommand::MarkRefundDue {
                reason: reason.to_string(),
                at: portal.now(),
            },
            metadata,
        )
        .await?;
    Ok(())
}

/// Applies a bank answer (the fields as posted) from `source`. A forged, tampered,
/// mismatched or unknown answer changes nothing, is logged at WARN with its order id and
/// answers an error; the same answer again changes nothing and answers success.
pub async fn apply_confirmation(
    portal: &Portal,
    fields: &[(String, String)],
    source: ConfirmationSource,
) -> Result<Applied, ConfirmationRejected> {
    let claimed_order = fields
        .iter()
        .find(|(n, _)| n == "orderid")
        .map(|(_, v)| v.as_str())
        .unwrap_or("-");
    let verified = match portal.bank.verify_confirmation(fields) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(order_id = %claimed_order, ?source, error = %e,
                "bank answer refused: it does not verify");
            return Err(ConfirmationRejected::Unverified(e));
        }
    };
    apply_verified(portal, verified, source).await
}

/// Applies an answer whose digest checked out (also the reconciler's status answers).
pub async fn apply_verified(
    portal: &Portal,
    verified: VerifiedConfirmation,
    source: ConfirmationSource,
) -> Result<Applied, ConfirmationRejected> {
    let order_id = verified.order_id.clone();
    let payment = match process::by_order_id(&portal.pool, &order_id).await? {
        Some(p) => p,
        None => {
            // Perhaps not folded yet: look again once the engine's state reaches the log
            // head.
            portal.wait_for_payment_process().await?;
            match process::by_order_id(&portal.pool, &order_id).await? {
                Some(p) => p,
                None => {
                    tracing::warn!(%order_id, ?source, "bank answer refused: unknown order id");
                    return Err(ConfirmationRejected::UnknownOrder);
                }
            }
        }
    };
    let result = match verified.outcome {
        BankOutcome::Captured { tx_id, payment_ref } => BankResult::Captured { tx_id, payment_ref },
        BankOutcome::Refused { reason } => BankResult::Refused { reason },
        BankOutcome::Cancelled => BankResult::Cancelled,
        BankOutcome::Error { reason } => BankResult::Error { reason },
    };
    let command = PaymentCommand::Confirm {
        source,
        order_id: order_id.clone(),
        amount_cents: verified.amount_cents,
        currency: verified.currency,
        result,
        at: portal.now(),
    };
    let metadata = system_metadata("system:bank");
    match portal
        .payments
        .execute(&payment.payment_id, command, metadata)
        .await
    {
        Ok(executed) => Ok(Applied {
            payment_id: payment.payment_id,
            executed,
        }),
        Err(CommandError::Refused(refusal)) => {
            tracing::warn!(%order_id, payment = %payment.payment_id, ?source, code = refusal.code,
                "bank answer refused by the payment");
            Err(ConfirmationRejected::Refused(refusal))
        }
        Err(e) => Err(ConfirmationRejected::Failed(e)),
    }
}

/// The background reconciler: asks the bank about payments left without an answer, and
/// expires payments past their expiry after a last status query (a payment the bank
/// captured is never expired blindly). Runs in every portal process; one pass at a time
/// across processes (an advisory lock), and every step is idempotent anyway.
#[derive(Clone)]
pub struct PaymentReconciler {
    portal: Arc<Portal>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Payments the bank's status answer settled.
    pub settled: usize,
    pub expired: usize,
    /// The pass did not run: another process holds the reconciler's lock.
    pub skipped: bool,
}

impl PaymentReconciler {
    pub fn new(portal: Arc<Portal>) -> Self {
        Self { portal }
    }

    pub fn spawn(self, poll: Duration) -> LoopTask {
        background::every("payment reconciler", poll, move || {
            let reconciler = self.clone();
            async move { reconciler.run_once().await }
        })
    }

    /// One pass, under the reconciler's advisory lock (held by a transaction on one
    /// connection of the pool, released when it ends).
    pub async fn run_once(&self) -> Result<ReconcileReport, sqlx::Error> {
        let portal = &self.portal;
        // A pass sees every payment written before it started.
        portal.wait_for_payment_process().await?;
        let Some(lock) = background::pass_lock(&portal.pool, "payment-reconciler").await? else {
            return Ok(ReconcileReport {
                skipped: true,
                ..ReconcileReport::default()
            });
        };
        let mut report = ReconcileReport::default();
        let now = portal.now();

        let stale = process::stale_redirected(
            &portal.pool,
            now - portal.settings.payments.reconcile_after,
            50,
        )
        .await?;
        for payment in stale {
            if payment.expires_at <= now {
                continue; // the expiry step below asks about it
            }
            if let Some(true) = self.settle_from_bank(&payment).await {
                report.settled += 1;
            }
        }

        for payment in process::due_for_expiry(&portal.pool, now, 50).await? {
            if payment.status == "redirected" {
                match self.settle_from_bank(&payment).await {
                    Some(true) => {
                        report.settled += 1;
                        continue;
                    }
                    Some(false) => {}
                    // The bank could not be asked: expire later, never blindly.
                    None => continue,
                }
            }
            match portal
                .payments
                .execute(
                    &payment.payment_id,
                    PaymentCommand::Expire { at: portal.now() },
                    system_metadata("system:payment-reconciler"),
                )
                .await
            {
                Ok(_) => report.expired += 1,
                // Settled meanwhile by a confirmation: nothing to expire.
                Err(CommandError::Refused(r)) if r.code == "payment_settled" => {}
                Err(e) => {
                    tracing::warn!(payment = %payment.payment_id, error = %e, "payment reconciler: expiry failed")
                }
            }
        }
        lock.commit().await?;
        if report.settled + report.expired > 0 {
            // The next pass must see what this one did.
            portal.wait_for_payment_process().await?;
        }
        Ok(report)
    }

    /// Asks the bank about `payment`: `Some(true)` the answer settled it, `Some(false)` the
    /// bank has no final outcome, `None` the bank could not be asked (or answered
    /// something unusable).
    async fn settle_from_bank(&self, payment: &ProcessRow) -> Option<bool> {
        match self.portal.bank.query_status(&payment.order_id).await {
            Ok(Some(verified)) => {
                match apply_verified(&self.portal, verified, ConfirmationSource::StatusQuery).await
                {
                    Ok(_) => Some(true),
                    Err(e) => {
                        tracing::warn!(order_id = %payment.order_id, error = %e,
                            "payment reconciler: the bank's status answer was not applied");
                        None
                    }
                }
            }
            Ok(None) => Some(false),
            Err(e) => {
                tracing::warn!(order_id = %payment.order_id, error = %e,
                    "payment reconciler: status query failed");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_short_and_distinct() {
        let a = new_order_id(Utc::now());
        let b = new_order_id(Utc::now());
        assert_ne!(a, b);
        assert_eq!(a.len(), 17);
        assert!(a.len() <= 20);
        assert!(a.starts_with('P'));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
