//! The payment engine: start a payment of an obligation, send the payer to the bank, apply
//! what the bank answers (browser return, server notification, status query), and the
//! background reconciler that asks the bank about payments left without an answer and
//! expires abandoned ones. Shared by the JSON API and the pages (e.g. traffic fines).
//!
//! Every bank answer is verified by the gateway (digest in constant time) before anything
//! happens; the `Payment` aggregate then matches order id, amount and currency and applies
//! the outcome idempotently, so answers may arrive in any order and any number of times,
//! from any number of portal processes.

use std::time::Duration;

use chrono::Utc;
use commands::{CommandError, CommandMetadata, Executed};
use domain::payment::{BankResult, ConfirmationSource, Obligation, PaymentCommand, PaymentStatus};
use domain::ports::{BankOutcome, PaymentOrder, RedirectForm, VerifiedConfirmation};
use domain::Refusal;
use projections::payments::{self as read, PaymentRow};
use rand::Rng;

use crate::auth::CurrentUser;
use crate::background::{self, LoopTask};
use crate::config::Config;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::AppState;

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
    /// `portal_url`: the portal as the payer's browser and the bank reach it.
    pub fn new(config: &Config, portal_url: &str) -> anyhow::Result<Self> {
        let portal_url = portal_url.trim_end_matches('/');
        Ok(Self {
            return_url: format!("{portal_url}{RETURN_PATH}"),
            notify_url: format!("{portal_url}{NOTIFY_PATH}"),
            expiry: chrono::Duration::from_std(config.payment_expiry)
                .map_err(|_| anyhow::anyhow!("PORTAL_PAYMENT_EXPIRY_MINUTES is too large"))?,
            reconcile_after: chrono::Duration::from_std(config.payment_reconcile_after)
                .map_err(|_| anyhow::anyhow!("PORTAL_PAYMENT_RECONCILE_AFTER_SECS is too large"))?,
        })
    }
}

/// A payment that was created.
#[derive(Debug, Clone)]
pub struct StartedPayment {
    pub id: String,
    pub order_id: String,
    pub executed: Executed,
}

/// A new order id for the bank: `P` + the year + 12 random base32 characters (17
/// characters; 60 random bits, so two payments never share one in practice).
pub fn new_order_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let random: String = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("P{}{random}", Utc::now().format("%Y"))
}

/// The metadata of what the payer does.
fn payer_metadata(user: &CurrentUser) -> CommandMetadata {
    CommandMetadata {
        actor_id: user.account_id.to_string(),
        role: user.role.as_str().to_string(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        client_ip: None,
    }
}

/// The metadata of what the bank says or the portal does by itself (`actor`).
fn system_metadata(actor: &str) -> CommandMetadata {
    CommandMetadata {
        actor_id: actor.to_string(),
        role: "system".to_string(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        client_ip: None,
    }
}

/// Creates a payment of `amount_cents` for `obligation` by `user`. Refused while the same
/// obligation has a payment that succeeded or one still at the bank (a second tab, a
/// double click): one obligation is never paid twice through the portal. (The read model
/// answers this, so two starts in the same instant are kept apart by the obligation's own
/// aggregate, which decides what is due.)
pub async fn start_payment(
    state: &AppState,
    user: &CurrentUser,
    obligation: Obligation,
    amount_cents: i64,
    metadata: Option<CommandMetadata>,
) -> Result<StartedPayment, ApiError> {
    crate::routes::wait_for_log_head(state).await?;
    let open: Option<String> = sqlx::query_scalar(
        "SELECT status FROM payments WHERE obligation_kind = $1 AND obligation_reference = $2 \
         AND (status = 'succeeded' OR (status IN ('created', 'redirected') AND expires_at > now())) \
         ORDER BY status = 'succeeded' DESC LIMIT 1",
    )
    .bind(&obligation.kind)
    .bind(&obligation.reference)
    .fetch_optional(&state.pool)
    .await?;
    match open.as_deref() {
        Some("succeeded") => {
            return Err(ApiError::Refused(Refusal::rule(
                "obligation_already_paid",
                "this obligation is already paid",
            )))
        }
        Some(_) => {
            return Err(ApiError::Refused(Refusal::rule(
                "payment_in_progress",
                "a payment of this obligation is in progress",
            )))
        }
        None => {}
    }
    let id = uuid::Uuid::new_v4().to_string();
    create_payment(state, user, id, obligation, amount_cents, metadata).await
}

/// Creates payment `id` without the read-model check of [`start_payment`]: for callers
/// whose obligation aggregate already reserved the obligation for this payment (e.g. a
/// traffic fine's `FinePaymentStarted`).
pub async fn create_payment(
    state: &AppState,
    user: &CurrentUser,
    id: String,
    obligation: Obligation,
    amount_cents: i64,
    metadata: Option<CommandMetadata>,
) -> Result<StartedPayment, ApiError> {
    let order_id = new_order_id();
    let now = Utc::now();
    let executed = state
        .payments
        .execute(
            &id,
            PaymentCommand::Create {
                id: id.clone(),
                order_id: order_id.clone(),
                obligation,
                amount_cents,
                currency: CURRENCY.to_string(),
                payer_account_id: user.account_id.to_string(),
                expires_at: now + state.payment_settings.expiry,
                at: now,
            },
            metadata.unwrap_or_else(|| payer_metadata(user)),
        )
        .await?;
    Ok(StartedPayment {
        id,
        order_id,
        executed,
    })
}

/// Sends the payer to the bank: records the redirect and answers the signed form the
/// browser auto-submits. Asking again (a double click, a reload) while the payment is at
/// the bank answers the same form: the bank takes one order id once.
pub async fn redirect(
    state: &AppState,
    user: &CurrentUser,
    payment_id: &str,
    lang: Lang,
) -> Result<RedirectForm, ApiError> {
    let payment = state.payments.load(payment_id).await?;
    if payment.status.is_none() || payment.payer_account_id != user.account_id.to_string() {
        return Err(ApiError::NotFound("payment_not_found"));
    }
    if payment.status == Some(PaymentStatus::Created) {
        state
            .payments
            .execute(
                payment_id,
                PaymentCommand::Redirect { at: Utc::now() },
                payer_metadata(user),
            )
            .await?;
    } else if payment.status != Some(PaymentStatus::Redirected) {
        return Err(ApiError::Refused(Refusal::rule(
            "payment_settled",
            "the payment is already settled",
        )));
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
        payer_email: Some(user.email.clone()),
        lang: match lang {
            Lang::El => "el",
            Lang::En => "en",
        }
        .to_string(),
        confirm_url: state.payment_settings.return_url.clone(),
        cancel_url: state.payment_settings.return_url.clone(),
    };
    Ok(state.bank.redirect_form(&order))
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
    Failed(ApiError),
}

impl From<ConfirmationRejected> for ApiError {
    fn from(e: ConfirmationRejected) -> Self {
        match e {
            ConfirmationRejected::Unverified(_) => ApiError::BadRequest {
                code: "confirmation_invalid",
                detail: "the bank's answer does not verify".into(),
            },
            ConfirmationRejected::UnknownOrder => ApiError::BadRequest {
                code: "confirmation_unknown_order",
                detail: "no payment has this order id".into(),
            },
            ConfirmationRejected::Refused(r) => ApiError::Refused(r),
            ConfirmationRejected::Failed(e) => e,
        }
    }
}

/// Applies a bank answer (the fields as posted) from `source`. A forged, tampered,
/// mismatched or unknown answer changes nothing, is logged at WARN with its order id and
/// answers an error; the same answer again changes nothing and answers success.
pub async fn apply_confirmation(
    state: &AppState,
    fields: &[(String, String)],
    source: ConfirmationSource,
) -> Result<Applied, ConfirmationRejected> {
    let claimed_order = fields
        .iter()
        .find(|(n, _)| n == "orderid")
        .map(|(_, v)| v.as_str())
        .unwrap_or("-");
    let verified = match state.bank.verify_confirmation(fields) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(order_id = %claimed_order, ?source, error = %e,
                "bank answer refused: it does not verify");
            return Err(ConfirmationRejected::Unverified(e));
        }
    };
    apply_verified(state, verified, source).await
}

/// Applies an answer whose digest checked out (also the reconciler's status answers).
pub async fn apply_verified(
    state: &AppState,
    verified: VerifiedConfirmation,
    source: ConfirmationSource,
) -> Result<Applied, ConfirmationRejected> {
    let order_id = verified.order_id.clone();
    let payment = match read::by_order_id(&state.pool, &order_id).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            // Perhaps not projected yet: look again once the read models reach the log head.
            crate::routes::wait_for_log_head(state)
                .await
                .map_err(ConfirmationRejected::Failed)?;
            match read::by_order_id(&state.pool, &order_id).await {
                Ok(Some(p)) => p,
                Ok(None) => {
                    tracing::warn!(%order_id, ?source, "bank answer refused: unknown order id");
                    return Err(ConfirmationRejected::UnknownOrder);
                }
                Err(e) => return Err(ConfirmationRejected::Failed(e.into())),
            }
        }
        Err(e) => return Err(ConfirmationRejected::Failed(e.into())),
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
        at: Utc::now(),
    };
    let metadata = system_metadata("system:bank");
    match state.payments.execute(&payment.id, command, metadata).await {
        Ok(executed) => Ok(Applied {
            payment_id: payment.id,
            executed,
        }),
        Err(CommandError::Refused(refusal)) => {
            tracing::warn!(%order_id, payment = %payment.id, ?source, code = refusal.code,
                "bank answer refused by the payment");
            Err(ConfirmationRejected::Refused(refusal))
        }
        Err(e) => Err(ConfirmationRejected::Failed(e.into())),
    }
}

/// The background reconciler: asks the bank about payments left without an answer, and
/// expires payments past their expiry after a last status query (a payment the bank
/// captured is never expired blindly). Runs in every portal process; one pass at a time
/// across processes (an advisory lock), and every step is idempotent anyway.
#[derive(Clone)]
pub struct PaymentReconciler {
    state: AppState,
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
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    pub fn spawn(self, poll: Duration) -> LoopTask {
        background::every("payment reconciler", poll, move || {
            let reconciler = self.clone();
            async move { reconciler.run_once().await }
        })
    }

    /// One pass, under the reconciler's advisory lock (held by a transaction on one
    /// connection of the pool, released when it ends).
    pub async fn run_once(&self) -> Result<ReconcileReport, ApiError> {
        let state = &self.state;
        let Some(lock) = background::pass_lock(&state.pool, "payment-reconciler").await? else {
            return Ok(ReconcileReport {
                skipped: true,
                ..ReconcileReport::default()
            });
        };
        let mut report = ReconcileReport::default();
        let now = Utc::now();

        let stale = read::stale_redirected(
            &state.pool,
            now - state.payment_settings.reconcile_after,
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

        for payment in read::due_for_expiry(&state.pool, now, 50).await? {
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
            match state
                .payments
                .execute(
                    &payment.id,
                    PaymentCommand::Expire { at: Utc::now() },
                    system_metadata("system:payment-reconciler"),
                )
                .await
            {
                Ok(_) => report.expired += 1,
                // Settled meanwhile by a confirmation: nothing to expire.
                Err(CommandError::Refused(r)) if r.code == "payment_settled" => {}
                Err(e) => {
                    tracing::warn!(payment = %payment.id, error = %e, "payment reconciler: expiry failed")
                }
            }
        }
        lock.commit().await?;
        if report.settled + report.expired > 0 {
            // The next pass must see what this one did.
            crate::routes::wait_for_log_head(state).await?;
        }
        Ok(report)
    }

    /// Asks the bank about `payment`: `Some(true)` the answer settled it, `Some(false)` the
    /// bank has no final outcome, `None` the bank could not be asked (or answered
    /// something unusable).
    async fn settle_from_bank(&self, payment: &PaymentRow) -> Option<bool> {
        match self.state.bank.query_status(&payment.order_id).await {
            Ok(Some(verified)) => {
                match apply_verified(&self.state, verified, ConfirmationSource::StatusQuery).await {
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

/// The payment `id` of `user` (not found for anyone else's).
pub async fn payment_of(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
) -> Result<PaymentRow, ApiError> {
    let mut row = read::get(&state.pool, id).await?;
    if row.is_none() {
        crate::routes::wait_for_log_head(state).await?;
        row = read::get(&state.pool, id).await?;
    }
    row.filter(|p| p.payer_account_id == user.account_id.to_string())
        .ok_or(ApiError::NotFound("payment_not_found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_short_and_distinct() {
        let a = new_order_id();
        let b = new_order_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 17);
        assert!(a.len() <= 20);
        assert!(a.starts_with('P'));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
