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

use domain::Money;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::business::{CertifiedDebt, DebtPaymentNotice, RevenueError};
use domain::certification::Business;
use domain::payment::Obligation;
use domain::ports::RedirectForm;
use domain::tax_debt::{tax_debt_id, DebtPortalState, DebtSnapshot, TaxDebt, TaxDebtCommand};
use domain::Refusal;
use serde::Serialize;
use uuid::Uuid;

use async_trait::async_trait;

use crate::background::Outbox;
use crate::business::{certified_business, BusinessError};
use crate::context::{Actor, Portal, Settings};
use crate::fines::ProfileError;
use crate::notices::{NoticeStep, NoticeTarget, Notifier, PaidNotice, TellFailure};
use crate::payments::PaymentError;
use crate::{CommandError, CommandMetadata, Commands};

/// The obligation kind of a certified debt in the payment engine.
pub const OBLIGATION_KIND: &str = "municipal_tax_debt";

/// Why the debts could not be listed or one paid.
#[derive(Debug, thiserror::Error)]
pub enum DebtError {
    #[error(transparent)]
    Business(#[from] BusinessError),
    /// A rule said no, or the revenue system did (unavailable, no such debt, paid).
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
}

impl From<Refusal> for DebtError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

/// A debt as the revenue system answered it, and what the portal knows of it.
#[derive(Debug, Clone)]
pub struct DebtItem {
    pub debt: CertifiedDebt,
    pub portal: DebtPortalState,
}

/// How a paid debt was settled, as the pages show it ([`DebtItem::settlement`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownSettlement<'a> {
    pub at: DateTime<Utc>,
    pub amount_cents: Money,
    pub payment_ref: &'a str,
    /// Paid through the portal, and the revenue system not yet told.
    pub being_recorded: bool,
}

/// A payment through the portal, as a debt's answer shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PortalPayment {
    InProgress {
        payment_id: String,
    },
    Paid {
        payment_id: String,
        payment_ref: String,
        #[schema(value_type = i64)]
        amount_cents: Money,
        paid_at: DateTime<Utc>,
        /// Whether the revenue system has been told: `pending`, `notified` or `refused`.
        #[schema(pattern = "^(pending|notified|refused)$")]
        revenue_system: &'static str,
    },
}

/// A debt as the API answers it: the revenue system's data, with the amount due as zero
/// once paid, and the portal's payment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Debt)]
pub struct DebtView {
    /// The revenue system's id of the debt, e.g. `DF-2025-000142`.
    pub debt_id: String,
    pub afm: String,
    pub description: String,
    pub certified_on: chrono::NaiveDate,
    #[schema(value_type = i64)]
    pub principal_cents: Money,
    #[schema(value_type = i64)]
    pub surcharge_cents: Money,
    /// Nothing once paid.
    #[schema(value_type = i64)]
    pub amount_due_cents: Money,
    /// The day the amounts are computed for (today in Athens).
    pub amount_as_of: chrono::NaiveDate,
    /// How the revenue system has it settled, if it has.
    #[schema(required)]
    pub paid: Option<domain::business::DebtSettlement>,
    // `paid` or `due` (no doc comment: utoipa would wrap the inline enum in an object).
    #[schema(value_type = DebtStatus, inline)]
    pub status: &'static str,
    /// The portal's payment of it, if any.
    #[schema(required)]
    pub portal_payment: Option<PortalPayment>,
}

/// Whether a debt is still due (documentation: the view names it in text).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum DebtStatus {
    Due,
    Paid,
}

impl DebtItem {
    /// Debt `debt` as the revenue system answered it, with `portal`, the portal's side of
    /// it (the `tax_debts` read model's [`DebtPortalState`] at this moment).
    pub fn new(debt: CertifiedDebt, portal: DebtPortalState) -> Self {
        Self { debt, portal }
    }

    /// Debt `debt` as the list of debts shows it: one the revenue system already has as
    /// paid shows nothing of the portal's payments (its own page does).
    pub fn listed(debt: CertifiedDebt, portal: DebtPortalState) -> Self {
        let portal = if debt.paid.is_some() {
            DebtPortalState::None
        } else {
            portal
        };
        Self { debt, portal }
    }

    /// The list of debts: each debt the revenue system answered, with the portal's side of
    /// it that `portal_of` finds by the debt's stream id (none: nothing known), as the list
    /// shows it ([`DebtItem::listed`]).
    pub fn list(
        debts: Vec<CertifiedDebt>,
        portal_of: impl Fn(&str) -> Option<DebtPortalState>,
    ) -> Vec<DebtItem> {
        debts
            .into_iter()
            .map(|debt| {
                let portal = portal_of(&tax_debt_id(&debt.afm, &debt.debt_id))
                    .unwrap_or(DebtPortalState::None);
                DebtItem::listed(debt, portal)
            })
            .collect()
    }

    /// What is still due of `items`: the amounts of the debts not paid.
    pub fn total_due(items: &[DebtItem]) -> Money {
        items
            .iter()
            .filter(|i| !i.is_paid())
            .map(|i| i.debt.amount_due_cents)
            .sum()
    }

    /// What is due now: nothing once paid (here or there), else the revenue system's amount.
    pub fn amount_due(&self) -> Money {
        if self.is_paid() {
            Money::ZERO
        } else {
            self.debt.amount_due_cents
        }
    }

    /// How a paid debt was settled: the revenue system's record when it has one, else the
    /// payment through the portal (then `being_recorded` until the revenue system has been
    /// told of it).
    pub fn settlement(&self) -> Option<ShownSettlement<'_>> {
        if let Some(s) = &self.debt.paid {
            return Some(ShownSettlement {
                at: s.paid_at,
                amount_cents: s.amount_cents,
                payment_ref: &s.payment_ref,
                being_recorded: false,
            });
        }
        match &self.portal {
            DebtPortalState::Paid {
                payment_ref,
                amount_cents,
                at,
                told,
                ..
            } => Some(ShownSettlement {
                at: *at,
                amount_cents: *amount_cents,
                payment_ref,
                being_recorded: *told != domain::settlement::Told::Notified,
            }),
            _ => None,
        }
    }

    /// The open payment through the portal, if one is in progress (and the revenue system
    /// does not have the debt as paid).
    pub fn payment_in_progress(&self) -> Option<&str> {
        match (&self.debt.paid, &self.portal) {
            (None, DebtPortalState::InProgress { payment_id }) => Some(payment_id),
            _ => None,
        }
    }

    /// Paid, in the revenue system or through the portal.
    pub fn is_paid(&self) -> bool {
        self.debt.paid.is_some() || matches!(self.portal, DebtPortalState::Paid { .. })
    }

    /// The debt as the API answers it (the total due is nothing once it is paid).
    pub fn view(&self) -> DebtView {
        let d = &self.debt;
        let portal_payment = match &self.portal {
            DebtPortalState::None => None,
            DebtPortalState::InProgress { payment_id } => Some(PortalPayment::InProgress {
                payment_id: payment_id.clone(),
            }),
            DebtPortalState::Paid {
                payment_id,
                payment_ref,
                amount_cents,
                at,
                told,
            } => Some(PortalPayment::Paid {
                payment_id: payment_id.clone(),
                payment_ref: payment_ref.clone(),
                amount_cents: *amount_cents,
                paid_at: *at,
                revenue_system: told.as_str(),
            }),
        };
        DebtView {
            debt_id: d.debt_id.clone(),
            afm: d.afm.clone(),
            description: d.description.clone(),
            certified_on: d.certified_on,
            principal_cents: d.principal_cents,
            surcharge_cents: d.surcharge_cents,
            amount_due_cents: self.amount_due(),
            amount_as_of: d.amount_as_of,
            paid: d.paid.clone(),
            status: if self.is_paid() { "paid" } else { "due" },
            portal_payment,
        }
    }
}

fn revenue_refusal(error: RevenueError) -> DebtError {
    if let RevenueError::Unavailable(why) = &error {
        tracing::warn!(error = %why, "revenue system unavailable");
    }
    DebtError::Refused(error.to_refusal())
}

fn debt_not_found() -> DebtError {
    DebtError::Refused(Refusal::not_found("debt_not_found", "no such debt"))
}

/// A debt id as the revenue system writes them (ASCII letters, digits and '-').
fn check_debt_id(debt_id: &str) -> Result<(), DebtError> {
    let ok = !debt_id.is_empty()
        && debt_id.len() <= 64
        && debt_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then_some(()).ok_or_else(debt_not_found)
}

/// The certified debts of the business `actor` represents, as the revenue system answers
/// them today. What the portal knows of each (its payments) is in the `tax_debts` read
/// model; [`DebtItem::new`] puts the two together.
pub async fn certified_debts(
    portal: &Portal,
    actor: &Actor,
) -> Result<(Business, Vec<CertifiedDebt>), DebtError> {
    let business = certified_business(portal, actor).await?;
    let debts = portal
        .revenue
        .certified_debts(&business.afm)
        .await
        .map_err(revenue_refusal)?;
    Ok((business, debts))
}

/// One certified debt of the business `actor` represents, as the revenue system answers it
/// today.
pub async fn certified_debt(
    portal: &Portal,
    actor: &Actor,
    debt_id: &str,
) -> Result<(Business, CertifiedDebt), DebtError> {
    let business = certified_business(portal, actor).await?;
    let debt = find_debt(portal, &business, debt_id).await?;
    Ok((business, debt))
}

/// Debt `debt_id` of `business`, as the revenue system answers it today.
async fn find_debt(
    portal: &Portal,
    business: &Business,
    debt_id: &str,
) -> Result<CertifiedDebt, DebtError> {
    check_debt_id(debt_id)?;
    portal
        .revenue
        .certified_debts(&business.afm)
        .await
        .map_err(revenue_refusal)?
        .into_iter()
        .find(|d| d.debt_id == debt_id)
        .ok_or_else(debt_not_found)
}

/// A payment started for a debt: its id and the form that sends the payer to the bank.
#[derive(Debug, Clone)]
pub struct StartedDebtPayment {
    pub payment_id: String,
    pub amount_cents: Money,
    pub form: RedirectForm,
}

fn already_paid() -> DebtError {
    DebtError::Refused(Refusal::rule(
        domain::tax_debt::codes::ALREADY_PAID,
        "this debt is already paid",
    ))
}

/// Pays debt `debt_id` of the business `user` represents: asks the revenue system for the
/// debt as of now, reserves it on its aggregate for a payment of the amount due (one
/// payment at a time, never a paid debt), creates the payment and answers the bank form.
/// `describe` writes the payment's description for the bank (debt id, ΑΦΜ) in the front
/// door's language files; `lang` is the bank page's language.
pub async fn pay(
    portal: &Portal,
    actor: &Actor,
    debt_id: &str,
    lang: &str,
    describe: impl FnOnce(&str, &str) -> String,
    metadata: CommandMetadata,
) -> Result<StartedDebtPayment, DebtError> {
    let business = certified_business(portal, actor).await?;
    crate::fines::check_profile(portal, actor).await?;
    let debt = find_debt(portal, &business, debt_id).await?;
    if debt.paid.is_some() {
        return Err(already_paid());
    }
    let id = tax_debt_id(&business.afm, &debt.debt_id);
    let aggregate: TaxDebt = portal.tax_debts.load(&id).await?;
    let open_payment = match &aggregate.open_payment {
        Some(open) => portal
            .payments
            .load(&open.payment_id)
            .await?
            .status
            .map(|s| (open.payment_id.clone(), s)),
        None => None,
    };
    let now = portal.now();
    let payment_id = Uuid::new_v4().to_string();
    let amount_cents = debt.amount_due_cents;
    portal
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
                payer_account_id: actor.account_id.to_string(),
                expires_at: now + portal.settings.payments.expiry,
                open_payment,
                at: now,
            },
            metadata.clone(),
        )
        .await?;
    let description = describe(&debt.debt_id, &business.afm);
    let obligation = Obligation {
        kind: OBLIGATION_KIND.to_string(),
        reference: id,
        description,
    };
    let form = crate::payments::start_reserved(
        portal,
        actor,
        &payment_id,
        obligation,
        amount_cents,
        metadata,
        lang,
    )
    .await?;
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

/// The revenue system, told about every captured payment of a certified debt (see
/// [`crate::notices`]).
pub struct RevenueSystemDebtNotices;

/// Tells the revenue system about captured debt payments, durably and once per payment.
pub type DebtNotifier = Notifier<RevenueSystemDebtNotices>;

/// What one pass of the [`DebtNotifier`] did.
pub type DebtNotifyReport = crate::notices::NotifyReport;

#[async_trait]
impl NoticeTarget for RevenueSystemDebtNotices {
    type Obligation = TaxDebt;
    const TASK: &'static str = "debt notifier";
    const LOCK: &'static str = "tax-debt-notifier";
    const ACTOR: &'static str = "system:tax-debt-notifier";
    const OUTBOX: Outbox = Outbox {
        table: "tax_debt_notices",
        status_column: "status",
    };
    const DUE_SQL: &'static str = "SELECT payment_id, debt_stream_id AS obligation_id, \
        payment_ref, amount_cents, paid_at, attempts FROM tax_debt_notices \
        WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 20";

    fn retry_first(settings: &Settings) -> Duration {
        settings.revenue_retry_first
    }

    fn obligations(portal: &Portal) -> &Commands<TaxDebt> {
        &portal.tax_debts
    }

    fn record(notice: &PaidNotice, step: NoticeStep<'_>, now: DateTime<Utc>) -> TaxDebtCommand {
        let payment_id = notice.payment_id.clone();
        match step {
            NoticeStep::Paid => TaxDebtCommand::RecordPaid {
                payment_id,
                payment_ref: notice.payment_ref.clone(),
                amount_cents: notice.amount_cents,
                at: notice.paid_at.unwrap_or(now),
            },
            NoticeStep::Told => TaxDebtCommand::RecordRevenueSystemNotified {
                payment_id,
                at: now,
            },
            NoticeStep::Refused(code) => TaxDebtCommand::RecordRevenueSystemRefused {
                payment_id,
                code: code.to_string(),
                at: now,
            },
        }
    }

    async fn tell(portal: &Portal, notice: &PaidNotice) -> Result<(), TellFailure> {
        let stream_id = &notice.obligation_id;
        let (Some((afm, _)), Some(debt_id)) = (stream_id.split_once('-'), debt_id_of(stream_id))
        else {
            return Err(TellFailure::Broken(format!(
                "debt stream id {stream_id} has no AFM and debt id"
            )));
        };
        let paid = DebtPaymentNotice {
            debt_id: debt_id.to_string(),
            afm: afm.to_string(),
            payment_ref: notice.payment_ref.clone(),
            amount_cents: notice.amount_cents,
            paid_at: notice.paid_at.unwrap_or_else(|| portal.now()),
            idempotency_key: notice.payment_id.clone(),
        };
        portal
            .revenue
            .mark_debt_paid(&paid)
            .await
            .map_err(|e| match e {
                RevenueError::Unavailable(why) => TellFailure::Unavailable(why),
                other => TellFailure::Refused(other.to_refusal()),
            })
    }
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
    }

    fn certified(debt_id: &str, due: i64, paid_there: bool) -> CertifiedDebt {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        CertifiedDebt {
            debt_id: debt_id.into(),
            afm: "094259216".into(),
            description: "Δημοτικός φόρος".into(),
            certified_on: day,
            principal_cents: Money::from_cents(due),
            surcharge_cents: Money::ZERO,
            amount_due_cents: Money::from_cents(due),
            amount_as_of: day,
            paid: paid_there.then(|| domain::business::DebtSettlement {
                payment_ref: "SANDBOX-1".into(),
                amount_cents: Money::from_cents(due),
                paid_at: chrono::Utc::now(),
            }),
        }
    }

    /// The list joins each debt with the portal's side of it by stream id; a debt the
    /// revenue system has as paid shows nothing of the portal's payments there (its own
    /// page does), and the total counts only what is still due.
    #[test]
    fn the_list_joins_by_stream_and_totals_what_is_due() {
        let paid_here = DebtPortalState::Paid {
            payment_id: "p-1".into(),
            payment_ref: "REF-1".into(),
            amount_cents: Money::from_cents(100),
            at: chrono::Utc::now(),
            told: domain::settlement::Told::Notified,
        };
        let in_progress = DebtPortalState::InProgress {
            payment_id: "p-2".into(),
        };
        let debts = vec![
            certified("DF-1", 100, true),
            certified("DF-2", 200, false),
            certified("DF-3", 300, false),
            certified("DF-4", 400, false),
        ];
        let items = DebtItem::list(debts, |id| match id {
            "094259216-DF-1" => Some(paid_here.clone()),
            "094259216-DF-2" => Some(in_progress.clone()),
            "094259216-DF-3" => Some(paid_here.clone()),
            _ => None,
        });
        let portal: Vec<&DebtPortalState> = items.iter().map(|i| &i.portal).collect();
        assert_eq!(
            portal,
            vec![
                &DebtPortalState::None,
                &in_progress,
                &paid_here,
                &DebtPortalState::None
            ]
        );
        // DF-1 paid there, DF-3 paid here: 200 + 400 still due.
        assert_eq!(DebtItem::total_due(&items), Money::from_cents(600));
        // Its own page keeps the portal's payment of a debt paid there.
        let own = DebtItem::new(certified("DF-1", 100, true), paid_here.clone());
        assert_eq!(own.portal, paid_here);
        assert_eq!(own.view().status, "paid");
        // Shown settled by the revenue system's record when it has one…
        let shown = own.settlement().unwrap();
        assert_eq!(
            (shown.payment_ref, shown.being_recorded),
            ("SANDBOX-1", false)
        );
        assert_eq!(own.amount_due(), Money::ZERO);
        // …else by the portal's payment, being recorded until the revenue system is told.
        let pending = DebtPortalState::Paid {
            payment_id: "p-1".into(),
            payment_ref: "REF-1".into(),
            amount_cents: Money::from_cents(100),
            at: chrono::Utc::now(),
            told: domain::settlement::Told::NotYet,
        };
        let here = DebtItem::new(certified("DF-3", 300, false), pending);
        let shown = here.settlement().unwrap();
        assert_eq!((shown.payment_ref, shown.being_recorded), ("REF-1", true));
        assert_eq!(here.amount_due(), Money::ZERO);
        assert_eq!(here.payment_in_progress(), None);
        let open = DebtItem::new(certified("DF-2", 200, false), in_progress.clone());
        assert_eq!(open.payment_in_progress(), Some("p-2"));
        assert_eq!(open.settlement(), None);
        assert_eq!(open.amount_due(), Money::from_cents(200));
    }
}
