//! «Πληρωμή Βεβαιωμένου Δημοτικού Φόρου» (S14): the certified municipal-tax debts of the
//! business a certified representative acts for, as the revenue system holds them today
//! (amounts with surcharges as of today), one debt's data, paying one through the payment
//! engine, and the notifier that tells the revenue system about every captured payment,
//! durably and once per payment.
//!
//! Nothing is kept of the debts themselves: every list and every payment asks the revenue
//! system afresh, so a payment always charges the amount due that day, and when the
//! revenue system is down nothing stale is shown. The `TaxDebt` aggregate (one stream per
//! AFM + debt id) holds what the portal did: the payments started (one at a time), the one
//! that settled the debt, and whether the revenue system was told.

use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::{CommandError, CommandMetadata};
use domain::business::{CertifiedDebt, DebtPaymentNotice, RevenueError};
use domain::certification::Business;
use domain::payment::{BankResult, Obligation, PaymentStatus};
use domain::ports::RedirectForm;
use domain::tax_debt::{tax_debt_id, DebtSnapshot, TaxDebt, TaxDebtCommand};
use domain::Refusal;
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::i18n::{self, Lang};
use crate::AppState;
use commands::background::{self, LoopTask, Outbox};

/// The obligation kind of a certified debt in the payment engine.
pub const OBLIGATION_KIND: &str = "municipal_tax_debt";

/// What the portal knows of a debt beyond what the revenue system says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalState {
    /// Nothing started, or every attempt ended without taking money.
    None,
    /// A payment is open (at the bank, or not yet final).
    InProgress { payment_id: String },
    /// Paid through the portal; `told`: `pending`, `notified` or `refused`.
    Paid {
        payment_id: String,
        payment_ref: String,
        amount_cents: i64,
        at: DateTime<Utc>,
        told: &'static str,
    },
}

/// A debt as the revenue system answered it, and what the portal knows of it.
#[derive(Debug, Clone)]
pub struct DebtItem {
    pub debt: CertifiedDebt,
    pub portal: PortalState,
}

impl DebtItem {
    /// Paid, in the revenue system or through the portal.
    pub fn is_paid(&self) -> bool {
        self.debt.paid.is_some() || matches!(self.portal, PortalState::Paid { .. })
    }

    pub fn to_json(&self) -> Value {
        let d = &self.debt;
        let portal = match &self.portal {
            PortalState::None => Value::Null,
            PortalState::InProgress { payment_id } => {
                json!({"status": "in_progress", "payment_id": payment_id})
            }
            PortalState::Paid {
                payment_id,
                payment_ref,
                amount_cents,
                at,
                told,
            } => json!({
                "status": "paid",
                "payment_id": payment_id,
                "payment_ref": payment_ref,
                "amount_cents": amount_cents,
                "paid_at": at,
                "revenue_system": told,
            }),
        };
        json!({
            "debt_id": d.debt_id,
            "afm": d.afm,
            "description": d.description,
            "certified_on": d.certified_on,
            "principal_cents": d.principal_cents,
            "surcharge_cents": d.surcharge_cents,
            "amount_due_cents": if self.is_paid() { 0 } else { d.amount_due_cents },
            "amount_as_of": d.amount_as_of,
            "paid": d.paid,
            "status": if self.is_paid() { "paid" } else { "due" },
            "portal_payment": portal,
        })
    }
}

fn revenue_refusal(error: RevenueError) -> ApiError {
    if let RevenueError::Unavailable(why) = &error {
        tracing::warn!(error = %why, "revenue system unavailable");
    }
    ApiError::Refused(error.to_refusal())
}

fn debt_not_found() -> ApiError {
    ApiError::Refused(Refusal::not_found("debt_not_found", "no such debt"))
}

/// A debt id as the revenue system writes them (ASCII letters, digits and '-').
fn check_debt_id(debt_id: &str) -> Result<(), ApiError> {
    let ok = !debt_id.is_empty()
        && debt_id.len() <= 64
        && debt_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then_some(()).ok_or_else(debt_not_found)
}

/// The portal's side of a debt: paid here, or a payment open.
async fn portal_state(state: &AppState, debt: &CertifiedDebt) -> Result<PortalState, ApiError> {
    let aggregate: TaxDebt = state
        .tax_debts
        .load(&tax_debt_id(&debt.afm, &debt.debt_id))
        .await?;
    if let Some(paid) = &aggregate.paid {
        let told = if aggregate.revenue_system_notified {
            "notified"
        } else if aggregate.revenue_system_refusal.is_some() {
            "refused"
        } else {
            "pending"
        };
        return Ok(PortalState::Paid {
            payment_id: paid.payment_id.clone(),
            payment_ref: paid.payment_ref.clone(),
            amount_cents: paid.amount_cents,
            at: paid.at,
            told,
        });
    }
    if let Some(open) = &aggregate.open_payment {
        let payment = state.payments.load(&open.payment_id).await?;
        // Captured, not yet recorded on the debt by the notifier: paid all the same.
        if let (Some(PaymentStatus::Succeeded), Some(BankResult::Captured { payment_ref, .. })) =
            (payment.status, &payment.result)
        {
            return Ok(PortalState::Paid {
                payment_id: open.payment_id.clone(),
                payment_ref: payment_ref.clone(),
                amount_cents: payment.amount_cents,
                at: payment.updated_at.unwrap_or_else(Utc::now),
                told: "pending",
            });
        }
        let open_now = match payment.status {
            Some(status) => !status.is_final(),
            None => Utc::now() < open.expires_at,
        };
        if open_now {
            return Ok(PortalState::InProgress {
                payment_id: open.payment_id.clone(),
            });
        }
    }
    Ok(PortalState::None)
}

/// The certified debts of the business `user` represents, as of today.
pub async fn debts(
    state: &AppState,
    user: &CurrentUser,
) -> Result<(Business, Vec<DebtItem>), ApiError> {
    let business = crate::business::certified_business(state, user).await?;
    let debts = state
        .revenue
        .certified_debts(&business.afm)
        .await
        .map_err(revenue_refusal)?;
    let mut items = Vec::with_capacity(debts.len());
    for debt in debts {
        let portal = if debt.paid.is_some() {
            PortalState::None
        } else {
            portal_state(state, &debt).await?
        };
        items.push(DebtItem { debt, portal });
    }
    Ok((business, items))
}

/// One certified debt of the business `user` represents, as of today.
pub async fn debt(
    state: &AppState,
    user: &CurrentUser,
    debt_id: &str,
) -> Result<(Business, DebtItem), ApiError> {
    let business = crate::business::certified_business(state, user).await?;
    check_debt_id(debt_id)?;
    let debt = state
        .revenue
        .certified_debts(&business.afm)
        .await
        .map_err(revenue_refusal)?
        .into_iter()
        .find(|d| d.debt_id == debt_id)
        .ok_or_else(debt_not_found)?;
    let portal = portal_state(state, &debt).await?;
    Ok((business, DebtItem { debt, portal }))
}

/// A payment started for a debt: its id and the form that sends the payer to the bank.
#[derive(Debug, Clone)]
pub struct StartedDebtPayment {
    pub payment_id: String,
    pub amount_cents: i64,
    pub form: RedirectForm,
}

fn already_paid() -> ApiError {
    ApiError::Refused(Refusal::rule(
        domain::tax_debt::codes::ALREADY_PAID,
        "this debt is already paid",
    ))
}

/// Pays debt `debt_id` of the business `user` represents: asks the revenue system for the
/// debt as of now, reserves it on its aggregate for a payment of the amount due (one
/// payment at a time, never a paid debt), creates the payment and answers the bank form.
pub async fn pay(
    state: &AppState,
    user: &CurrentUser,
    debt_id: &str,
    lang: Lang,
    metadata: CommandMetadata,
) -> Result<StartedDebtPayment, ApiError> {
    let business = crate::business::certified_business(state, user).await?;
    crate::fines::check_profile(state, user).await?;
    check_debt_id(debt_id)?;
    let debt = state
        .revenue
        .certified_debts(&business.afm)
        .await
        .map_err(revenue_refusal)?
        .into_iter()
        .find(|d| d.debt_id == debt_id)
        .ok_or_else(debt_not_found)?;
    if debt.paid.is_some() {
        return Err(already_paid());
    }
    let id = tax_debt_id(&business.afm, &debt.debt_id);
    let aggregate: TaxDebt = state.tax_debts.load(&id).await?;
    let open_payment = match &aggregate.open_payment {
        Some(open) => state
            .payments
            .load(&open.payment_id)
            .await?
            .status
            .map(|s| (open.payment_id.clone(), s)),
        None => None,
    };
    let now = Utc::now();
    let payment_id = uuid::Uuid::new_v4().to_string();
    let amount_cents = debt.amount_due_cents;
    state
        .tax_debts
        .execute(
            &id,
            TaxDebtCommand::StartPayment {
                debt: Box::new(DebtSnapshot {
                    debt_id: debt.debt_id.clone(),
                    afm: debt.afm.clone(),
                    description: debt.description.clone(),
                    certified_on: debt.certified_on,
                    principal_cents: debt.principal_cents,
                    surcharge_cents: debt.surcharge_cents,
                    amount_due_cents: amount_cents,
                    amount_as_of: debt.amount_as_of,
                }),
                payment_id: payment_id.clone(),
                payer_account_id: user.account_id.to_string(),
                expires_at: now + state.settings.payments.expiry,
                open_payment,
                at: now,
            },
            metadata.clone(),
        )
        .await?;
    let description = i18n::message(Lang::El, "tax_debt_payment_description")
        .replace("{debt_id}", &debt.debt_id)
        .replace("{afm}", &business.afm);
    commands::payments::create_payment(
        state,
        &user.actor(),
        payment_id.clone(),
        Obligation {
            kind: OBLIGATION_KIND.to_string(),
            reference: id,
            description,
        },
        amount_cents,
        Some(metadata),
    )
    .await?;
    let form = commands::payments::redirect(state, &user.actor(), &payment_id, lang.code()).await?;
    Ok(StartedDebtPayment {
        payment_id,
        amount_cents,
        form,
    })
}

/// The debt id of a debt's stream id (`{afm}-{debt_id}`; an AFM is 9 digits).
pub fn debt_id_of(stream_id: &str) -> Option<&str> {
    stream_id
        .split_once('-')
        .filter(|(afm, _)| afm.len() == 9 && afm.chars().all(|c| c.is_ascii_digit()))
        .map(|(_, debt_id)| debt_id)
}

/// The notices to the revenue system, one per captured debt payment.
const NOTICES: Outbox = Outbox {
    table: "tax_debt_notices",
    status_column: "status",
};

/// Tells the revenue system about captured debt payments: a row per captured payment in
/// `tax_debt_notices` (keyed by payment id, so written once), the payment recorded on the
/// debt, then `mark_debt_paid` with the payment id as idempotency key until the revenue
/// system takes it, with backoff while it is down. Every step is idempotent, so a crash
/// between them only repeats a step. One pass at a time across processes (an advisory
/// lock).
#[derive(Clone)]
pub struct DebtNotifier {
    state: AppState,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DebtNotifyReport {
    pub notified: usize,
    pub retried: usize,
    pub refused: usize,
    pub skipped: bool,
}

type NoticeRow = (String, String, String, i64, DateTime<Utc>, i32);

impl DebtNotifier {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    pub fn spawn(self, poll: Duration) -> LoopTask {
        background::every("debt notifier", poll, move || {
            let notifier = self.clone();
            async move { notifier.run_once().await }
        })
    }

    pub async fn run_once(&self) -> Result<DebtNotifyReport, ApiError> {
        let pool = &self.state.pool;
        let Some(lock) = background::pass_lock(pool, "tax-debt-notifier").await? else {
            return Ok(DebtNotifyReport {
                skipped: true,
                ..DebtNotifyReport::default()
            });
        };
        sqlx::query(
            "INSERT INTO tax_debt_notices \
             (payment_id, debt_stream_id, payment_ref, amount_cents, paid_at) \
             SELECT p.id, p.obligation_reference, p.payment_ref, p.amount_cents, \
             COALESCE(p.settled_at, p.updated_at) FROM payments p \
             WHERE p.obligation_kind = $1 AND p.status = 'succeeded' AND p.payment_ref IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM tax_debt_notices n WHERE n.payment_id = p.id) \
             ON CONFLICT (payment_id) DO NOTHING",
        )
        .bind(OBLIGATION_KIND)
        .execute(pool)
        .await?;
        let due: Vec<NoticeRow> = sqlx::query_as(
            "SELECT payment_id, debt_stream_id, payment_ref, amount_cents, paid_at, attempts \
             FROM tax_debt_notices WHERE status = 'pending' AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT 20",
        )
        .fetch_all(pool)
        .await?;
        let mut report = DebtNotifyReport::default();
        for row in due {
            self.notify(row, &mut report).await?;
        }
        lock.commit().await?;
        Ok(report)
    }

    async fn notify(&self, row: NoticeRow, report: &mut DebtNotifyReport) -> Result<(), ApiError> {
        let (payment_id, stream_id, payment_ref, amount_cents, paid_at, attempts) = row;
        let state = &self.state;
        let metadata = CommandMetadata {
            actor_id: "system:tax-debt-notifier".into(),
            role: "system".into(),
            correlation_id: payment_id.clone(),
            client_ip: None,
        };
        let recorded = state
            .tax_debts
            .execute(
                &stream_id,
                TaxDebtCommand::RecordPaid {
                    payment_id: payment_id.clone(),
                    payment_ref: payment_ref.clone(),
                    amount_cents,
                    at: paid_at,
                },
                metadata.clone(),
            )
            .await;
        if let Err(CommandError::Refused(r)) = &recorded {
            // Another payment already settled this debt: the money must go back by hand.
            tracing::error!(payment = %payment_id, debt = %stream_id, code = r.code,
                "debt notifier: a second captured payment of one debt; refund it");
            self.finish(&payment_id, "refused", r.code).await?;
            report.refused += 1;
            return Ok(());
        }
        recorded?;
        let (Some((afm, _)), Some(debt_id)) = (stream_id.split_once('-'), debt_id_of(&stream_id))
        else {
            return Err(ApiError::Internal(format!(
                "debt stream id {stream_id} has no AFM and debt id"
            )));
        };
        let notice = DebtPaymentNotice {
            debt_id: debt_id.to_string(),
            afm: afm.to_string(),
            payment_ref,
            amount_cents,
            paid_at,
            idempotency_key: payment_id.clone(),
        };
        match state.revenue.mark_debt_paid(&notice).await {
            Ok(()) => {
                state
                    .tax_debts
                    .execute(
                        &stream_id,
                        TaxDebtCommand::RecordRevenueSystemNotified {
                            payment_id: payment_id.clone(),
                            at: Utc::now(),
                        },
                        metadata,
                    )
                    .await?;
                self.finish(&payment_id, "notified", "").await?;
                report.notified += 1;
            }
            Err(RevenueError::Unavailable(why)) => {
                tracing::warn!(payment = %payment_id, attempts, error = %why,
                    "debt notifier: the revenue system is unavailable; will retry");
                NOTICES
                    .retry_later(
                        &state.pool,
                        &payment_id,
                        &why,
                        state.config.revenue_retry_first,
                        attempts,
                    )
                    .await?;
                report.retried += 1;
            }
            Err(e) => {
                let refusal = e.to_refusal();
                tracing::error!(payment = %payment_id, debt = %stream_id, code = refusal.code,
                    "debt notifier: the revenue system refused the payment notice; a clerk must look");
                state
                    .tax_debts
                    .execute(
                        &stream_id,
                        TaxDebtCommand::RecordRevenueSystemRefused {
                            payment_id: payment_id.clone(),
                            code: refusal.code.to_string(),
                            at: Utc::now(),
                        },
                        metadata,
                    )
                    .await?;
                self.finish(&payment_id, "refused", refusal.code).await?;
                report.refused += 1;
            }
        }
        Ok(())
    }

    async fn finish(&self, payment_id: &str, status: &str, error: &str) -> Result<(), ApiError> {
        Ok(NOTICES
            .finish(&self.state.pool, payment_id, status, error)
            .await?)
    }
}

/// Whether `status` is one a new attempt may follow (no money taken).
pub fn took_no_money(status: &str) -> bool {
    PaymentStatus::ALL
        .iter()
        .any(|s| s.as_str() == status && s.is_final() && *s != PaymentStatus::Succeeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_ids_of_streams() {
        assert_eq!(
            debt_id_of("094259216-DF-2025-000142"),
            Some("DF-2025-000142")
        );
        assert_eq!(debt_id_of("DF-2025-000142"), None);
        assert!(check_debt_id("DF-2025-000142").is_ok());
        assert!(check_debt_id("../etc").is_err());
        assert!(check_debt_id("").is_err());
        assert!(took_no_money("failed") && took_no_money("expired"));
        assert!(!took_no_money("succeeded") && !took_no_money("redirected"));
    }
}
