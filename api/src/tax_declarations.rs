//! «Δήλωση και Πληρωμή Δημοτικού Φόρου» (S13): a certified business's representative
//! declares a VAT period's gross revenue; the revenue system checks it and computes the tax
//! and any surcharge for late declaration; the representative files the declaration and
//! pays it through the bank in one step.
//!
//! Declaration and payment are one unit: the `TaxDeclaration` aggregate (one stream per
//! business and period) records each filing together with its one payment. The
//! [`DeclarationWorker`] applies every finished payment of a declaration to it exactly once
//! (paid, or rejected with the reason: declined, cancelled, expired, bank error) through the
//! `declaration_outcomes` outbox, and tells the revenue system about each paid one, durably
//! and once (the payment id is the idempotency key), with backoff while it is down.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use commands::{CommandError, CommandMetadata};
use domain::business::{
    DeclarationInput, DeclarationPaidNotice, Filing, RevenueError, TaxAssessment, TaxPeriod,
};
use domain::certification::Business;
use domain::payment::{BankResult, Obligation, PaymentStatus};
use domain::ports::RedirectForm;
use domain::tax_declaration::{
    declaration_id, DeclarationStatus, PaymentOutcome, RejectionReason, TaxDeclaration,
    TaxDeclarationCommand,
};
use domain::Refusal;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::i18n::{self, Lang};
use crate::AppState;
use commands::background::{self, LoopTask, Outbox};

/// The obligation kind of a tax declaration in the payment engine.
pub const OBLIGATION_KIND: &str = "municipal_tax_declaration";

/// The largest gross revenue the form takes: 10 billion euro (in cents).
const MAX_GROSS_REVENUE_CENTS: i64 = 1_000_000_000_000;

/// A form value as typed: JSON strings, or numbers (kept as their text, never as floats).
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "expected text or a number, found {other}"
        ))),
    }
}

/// The declaration as the representative typed it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclarationForm {
    /// `monthly` or `quarterly`.
    #[serde(default, deserialize_with = "text")]
    pub filing: String,
    /// 1–12 or 1–4.
    #[serde(default, deserialize_with = "text")]
    pub period: String,
    #[serde(default, deserialize_with = "text")]
    pub year: String,
    /// In euros: `12.345,67`, `12345,67` or `12345.67`.
    #[serde(default, deserialize_with = "text")]
    pub gross_revenue: String,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "text")]
    pub vat_return_date: String,
}

/// Every digit group after the first has exactly three digits, the first one to three.
fn grouped(parts: &[&str]) -> bool {
    parts.iter().enumerate().all(|(i, p)| {
        p.chars().all(|c| c.is_ascii_digit())
            && if i == 0 {
                (1..=3).contains(&p.len())
            } else {
                p.len() == 3
            }
    })
}

/// An amount in euros as people type it, to exact cents: `12.345,67` (Greek), `12345,67`,
/// `12345.67`, `12,345.67`, `12.345` (Greek thousands), `12345`; an optional `€`. `None`
/// for anything else (negative, empty, more than two decimals, a misplaced separator).
pub fn parse_euros(raw: &str) -> Option<i64> {
    let cleaned: String = raw
        .trim()
        .trim_end_matches('€')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .collect();
    if cleaned.is_empty()
        || !cleaned
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    let last_sep = cleaned.rfind(['.', ',']);
    let (whole, cents): (String, &str) = match last_sep {
        None => (cleaned.clone(), ""),
        Some(at) => {
            let sep = cleaned.as_bytes()[at] as char;
            let after = &cleaned[at + 1..];
            let before = &cleaned[..at];
            let other = if sep == '.' { ',' } else { '.' };
            if before.contains(other) || before.contains(sep) {
                // Grouped thousands before a decimal separator (`12.345,67`), or only
                // grouping (`1.234.567`).
                let group_sep = if before.contains(other) { other } else { sep };
                if before.contains(other) && before.contains(sep) {
                    return None;
                }
                if group_sep == sep {
                    // Every separator is the same: they all group thousands.
                    let parts: Vec<&str> = cleaned.split(sep).collect();
                    if !grouped(&parts) {
                        return None;
                    }
                    (parts.concat(), "")
                } else {
                    let parts: Vec<&str> = before.split(group_sep).collect();
                    if !grouped(&parts) || after.is_empty() || after.len() > 2 {
                        return None;
                    }
                    (parts.concat(), after)
                }
            } else if (1..=2).contains(&after.len()) && !before.is_empty() {
                (before.to_string(), after)
            } else if after.len() == 3 && grouped(&[before, after]) {
                // `12.345`: thousands.
                (format!("{before}{after}"), "")
            } else {
                return None;
            }
        }
    };
    if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let euros: i64 = whole.parse().ok()?;
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().ok()? * 10,
        _ => cents.parse().ok()?,
    };
    let total = euros.checked_mul(100)?.checked_add(cents)?;
    (total <= MAX_GROSS_REVENUE_CENTS).then_some(total)
}

/// The form checked field by field (every error at once).
pub fn parse_form(afm: &str, form: &DeclarationForm) -> Result<DeclarationInput, ApiError> {
    let mut fields = Vec::new();
    let filing = Filing::parse(&form.filing)
        .map_err(|r| fields.push(FieldError::new("filing", r.code)))
        .ok();
    let number = match form.period.trim().parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => {
            fields.push(FieldError::new("period", "period_invalid"));
            None
        }
    };
    let year = match form.year.trim().parse::<i32>() {
        Ok(y) if (TaxPeriod::FIRST_YEAR..=9999).contains(&y) => Some(y),
        _ => {
            fields.push(FieldError::new("year", "year_invalid"));
            None
        }
    };
    let period = match (filing, number, year) {
        (Some(f), Some(n), Some(y)) => TaxPeriod::new(f, n, y)
            .map_err(|r| fields.push(FieldError::new("period", r.code)))
            .ok(),
        (None, Some(n), _) if !(1..=12).contains(&n) => {
            fields.push(FieldError::new("period", "period_invalid"));
            None
        }
        _ => None,
    };
    let gross = parse_euros(&form.gross_revenue);
    if gross.is_none() {
        fields.push(FieldError::new("gross_revenue", "gross_revenue_invalid"));
    }
    let date = NaiveDate::parse_from_str(form.vat_return_date.trim(), "%Y-%m-%d")
        .map_err(|_| {
            fields.push(FieldError::new(
                "vat_return_date",
                "vat_return_date_malformed",
            ))
        })
        .ok();
    match (period, gross, date) {
        (Some(period), Some(gross_revenue_cents), Some(vat_return_date)) if fields.is_empty() => {
            Ok(DeclarationInput {
                afm: afm.to_string(),
                period,
                gross_revenue_cents,
                vat_return_date,
            })
        }
        _ => Err(ApiError::Validation(fields)),
    }
}

/// A revenue system's "no" as the form shows it: next to its field where it has one.
fn revenue_refusal(e: RevenueError) -> ApiError {
    if let RevenueError::Unavailable(why) = &e {
        tracing::warn!(error = %why, "revenue system unavailable for an assessment");
    }
    let refusal = e.to_refusal();
    let field = match refusal.code {
        "vat_return_date_invalid" => Some("vat_return_date"),
        "period_not_ended" => Some("period"),
        "filing_mismatch" => Some("filing"),
        _ => None,
    };
    match field {
        Some(f) if refusal.kind == domain::refusal::RefusalKind::Invalid => {
            ApiError::Validation(vec![FieldError::new(f, refusal.code)])
        }
        Some(f) => {
            let code = refusal.code;
            ApiError::RefusedFields(refusal, vec![FieldError::new(f, code)])
        }
        None => ApiError::Refused(refusal),
    }
}

fn already_declared() -> ApiError {
    ApiError::Refused(Refusal::rule(
        "period_already_declared",
        "this period is already declared and paid",
    ))
}

/// Checks the form, refuses a period already declared and paid, and asks the revenue
/// system for the assessment.
async fn assess_for(
    state: &AppState,
    business: &Business,
    form: &DeclarationForm,
) -> Result<TaxAssessment, ApiError> {
    let input = parse_form(&business.afm, form)?;
    let id = declaration_id(&business.afm, &input.period);
    let declaration: TaxDeclaration = state.tax_declarations.load(&id).await?;
    if declaration.status == Some(DeclarationStatus::Paid) {
        return Err(already_declared());
    }
    let assessment = state
        .revenue
        .assess(&input)
        .await
        .map_err(revenue_refusal)?;
    if assessment.afm != input.afm
        || assessment.period != input.period
        || assessment.gross_revenue_cents != input.gross_revenue_cents
        || assessment.total_cents != assessment.tax_cents + assessment.surcharge_cents
        || assessment.total_cents < 0
    {
        tracing::error!(
            ?input,
            ?assessment,
            "the revenue system answered another declaration"
        );
        return Err(ApiError::Refused(Refusal::unavailable(
            "revenue_system_unavailable",
            "the revenue system's answer does not match the declaration",
        )));
    }
    Ok(assessment)
}

/// The assessment of what the representative of `user`'s business typed.
pub async fn assess(
    state: &AppState,
    user: &CurrentUser,
    form: &DeclarationForm,
) -> Result<(Business, TaxAssessment), ApiError> {
    let business = crate::business::certified_business(state, user).await?;
    let assessment = assess_for(state, &business, form).await?;
    Ok((business, assessment))
}

/// A percentage of basis points as people read it: `0,5 %`, `2 %`, `100 %`.
pub fn percent(basis_points: u32) -> String {
    let whole = basis_points / 100;
    let rest = basis_points % 100;
    if rest == 0 {
        format!("{whole} %")
    } else if rest.is_multiple_of(10) {
        format!("{whole},{} %", rest / 10)
    } else {
        format!("{whole},{rest:02} %")
    }
}

/// An assessment as the API answers it.
pub fn assessment_json(a: &TaxAssessment, company_name: &str) -> Value {
    json!({
        "declaration_id": declaration_id(&a.afm, &a.period),
        "assessment_id": a.assessment_id,
        "afm": a.afm,
        "company_name": company_name,
        "period": {
            "filing": a.period.filing.as_str(),
            "number": a.period.number,
            "year": a.period.year,
            "key": a.period.key(),
            "label_el": a.period.label_el(),
            "label_en": a.period.label_en(),
        },
        "gross_revenue_cents": a.gross_revenue_cents,
        "vat_return_date": a.vat_return_date,
        "category": {"code": a.category, "name_el": a.category_name_el, "name_en": a.category_name_en},
        "rate_basis_points": a.rate_basis_points,
        "tax_cents": a.tax_cents,
        "deadline": a.deadline,
        "months_late": a.months_late,
        "surcharge_basis_points": a.surcharge_basis_points,
        "surcharge_cents": a.surcharge_cents,
        "total_cents": a.total_cents,
        "computed_on": a.computed_on,
    })
}

/// Why filing did not start.
#[derive(Debug)]
pub enum FileError {
    /// The amount differs from the one the user was shown: here is the new assessment.
    AssessmentChanged(Box<TaxAssessment>, String),
    Refused(ApiError),
}

impl From<ApiError> for FileError {
    fn from(e: ApiError) -> Self {
        Self::Refused(e)
    }
}

impl From<commands::payments::PaymentError> for FileError {
    fn from(e: commands::payments::PaymentError) -> Self {
        Self::Refused(e.into())
    }
}

impl From<CommandError> for FileError {
    fn from(e: CommandError) -> Self {
        Self::Refused(e.into())
    }
}

/// A filing whose payment was created: its ids and the form that sends the payer to the
/// bank.
#[derive(Debug, Clone)]
pub struct StartedDeclaration {
    pub declaration_id: String,
    pub payment_id: String,
    pub amount_cents: i64,
    pub form: RedirectForm,
}

/// Files the declaration and starts its payment: the S10 profile check, the assessment
/// again (amounts never come from the browser; a total other than `expected_total_cents`,
/// the one the user saw, is refused with the new assessment), the filing on the
/// declaration's stream (one at a time; never a period declared and paid), the payment,
/// and the bank's form.
pub async fn file_and_pay(
    state: &AppState,
    user: &CurrentUser,
    form: &DeclarationForm,
    expected_total_cents: i64,
    lang: Lang,
    metadata: CommandMetadata,
) -> Result<StartedDeclaration, FileError> {
    let business = crate::business::certified_business(state, user).await?;
    crate::fines::check_profile(state, user).await?;
    let assessment = assess_for(state, &business, form).await?;
    if assessment.total_cents != expected_total_cents {
        return Err(FileError::AssessmentChanged(
            Box::new(assessment),
            business.company_name,
        ));
    }
    let id = declaration_id(&business.afm, &assessment.period);
    let declaration: TaxDeclaration = state.tax_declarations.load(&id).await?;
    let open_payment = match (&declaration.current, declaration.status) {
        (Some(current), Some(DeclarationStatus::AwaitingPayment)) => state
            .payments
            .load(&current.payment_id)
            .await?
            .status
            .map(|s| (current.payment_id.clone(), s)),
        _ => None,
    };
    let now = Utc::now();
    let payment_id = uuid::Uuid::new_v4().to_string();
    let amount_cents = assessment.total_cents;
    let description = i18n::message(Lang::El, "declaration_payment_description")
        .replace("{period}", &assessment.period.label_el())
        .replace("{afm}", &business.afm);
    state
        .tax_declarations
        .execute(
            &id,
            TaxDeclarationCommand::File {
                assessment: Box::new(assessment),
                company_name: business.company_name.clone(),
                declarant_account_id: user.account_id.to_string(),
                payment_id: payment_id.clone(),
                expires_at: now + state.settings.payments.expiry,
                open_payment,
                at: now,
            },
            metadata.clone(),
        )
        .await?;
    commands::payments::create_payment(
        state,
        &user.actor(),
        payment_id.clone(),
        Obligation {
            kind: OBLIGATION_KIND.to_string(),
            reference: id.clone(),
            description,
        },
        amount_cents,
        Some(metadata),
    )
    .await?;
    let form = commands::payments::redirect(state, &user.actor(), &payment_id, lang.code()).await?;
    Ok(StartedDeclaration {
        declaration_id: id,
        payment_id,
        amount_cents,
        form,
    })
}

/// The declaration `id` of `user`'s business (not found for any other business's).
pub async fn declaration_of(
    state: &AppState,
    business: &Business,
    id: &str,
) -> Result<projections::declarations::DeclarationRow, ApiError> {
    let not_found = || ApiError::NotFound("declaration_not_found");
    if id.len() > 40 || !id.starts_with(&format!("{}-", business.afm)) {
        return Err(not_found());
    }
    let mut row = projections::declarations::get(&state.pool, id).await?;
    if row.is_none() {
        crate::routes::wait_for_log_head(state).await?;
        row = projections::declarations::get(&state.pool, id).await?;
    }
    row.filter(|r| r.afm == business.afm).ok_or_else(not_found)
}

// ---------------------------------------------------------------------------------------
// The worker: outcomes applied once, paid declarations told to the revenue system once.
// ---------------------------------------------------------------------------------------

/// Applies every finished payment of a declaration to it, once, and tells the revenue
/// system about every paid declaration (see the module's documentation). One pass at a
/// time across processes (an advisory lock); every step is idempotent, so a crash between
/// steps only repeats one.
#[derive(Clone)]
pub struct DeclarationWorker {
    state: AppState,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerReport {
    pub paid: usize,
    pub rejected: usize,
    pub ignored: usize,
    pub notified: usize,
    pub retried: usize,
    pub refused: usize,
    pub skipped: bool,
}

/// The outcomes of declaration payments; `notice` says where telling the revenue system
/// stands.
const OUTCOMES: Outbox = Outbox {
    table: "declaration_outcomes",
    status_column: "notice",
};

/// A row of `declaration_outcomes`: payment, declaration, applied, notice, attempts.
type OutcomeRow = (String, String, String, String, i32);

fn system_metadata(payment_id: &str) -> CommandMetadata {
    CommandMetadata {
        actor_id: "system:declaration-worker".into(),
        role: "system".into(),
        correlation_id: payment_id.to_string(),
        client_ip: None,
    }
}

/// Writes the outbox rows of finished declaration payments (`payment_id`: only that one).
async fn collect(state: &AppState, payment_id: Option<&str>) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO declaration_outcomes (payment_id, declaration_id, payment_status, notice) \
         SELECT p.id, p.obligation_reference, p.status, \
                CASE WHEN p.status = 'succeeded' THEN 'pending' ELSE 'none' END \
         FROM payments p WHERE p.obligation_kind = $1 \
         AND p.status IN ('succeeded', 'failed', 'cancelled', 'expired', 'error') \
         AND ($2::text IS NULL OR p.id = $2) \
         AND NOT EXISTS (SELECT 1 FROM declaration_outcomes o \
                         WHERE o.payment_id = p.id AND o.payment_status = p.status) \
         ON CONFLICT (payment_id) DO UPDATE SET payment_status = 'succeeded', \
             applied = 'pending', notice = 'pending', next_attempt_at = now(), done_at = NULL \
         WHERE declaration_outcomes.payment_status = 'expired' \
         AND EXCLUDED.payment_status = 'succeeded'",
    )
    .bind(OBLIGATION_KIND)
    .bind(payment_id)
    .execute(&state.pool)
    .await?;
    Ok(())
}

/// Applies payment `payment_id`'s outcome to its declaration now (e.g. when the payer is
/// back from the bank), so that the page shows paid or rejected at once. Does nothing for
/// a payment that has not finished, or was already applied. The revenue system is told by
/// the worker.
pub async fn settle_now(state: &AppState, payment_id: &str) -> Result<(), ApiError> {
    collect(state, Some(payment_id)).await?;
    let row: Option<OutcomeRow> = sqlx::query_as(
        "SELECT payment_id, declaration_id, applied, notice, attempts \
         FROM declaration_outcomes WHERE payment_id = $1 AND applied = 'pending'",
    )
    .bind(payment_id)
    .fetch_optional(&state.pool)
    .await?;
    if let Some(row) = row {
        DeclarationWorker::new(state.clone())
            .apply(&row, &mut WorkerReport::default())
            .await?;
    }
    Ok(())
}

impl DeclarationWorker {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    pub fn spawn(self, poll: Duration) -> LoopTask {
        background::every("declaration worker", poll, move || {
            let worker = self.clone();
            async move { worker.run_once().await }
        })
    }

    pub async fn run_once(&self) -> Result<WorkerReport, ApiError> {
        let pool = &self.state.pool;
        let Some(lock) = background::pass_lock(pool, "declaration-worker").await? else {
            return Ok(WorkerReport {
                skipped: true,
                ..WorkerReport::default()
            });
        };
        collect(&self.state, None).await?;
        let due: Vec<OutcomeRow> = sqlx::query_as(
            "SELECT payment_id, declaration_id, applied, notice, attempts \
             FROM declaration_outcomes WHERE (applied = 'pending' OR notice = 'pending') \
             AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 20",
        )
        .fetch_all(pool)
        .await?;
        let mut report = WorkerReport::default();
        for row in due {
            let notice_due = if row.2 == "pending" {
                self.apply(&row, &mut report).await?
            } else {
                row.3 == "pending"
            };
            if notice_due {
                self.notify(&row, &mut report).await?;
            }
        }
        lock.commit().await?;
        Ok(report)
    }

    /// Applies the payment's outcome to the declaration; answers whether the revenue
    /// system is to be told (a payment that paid the declaration).
    async fn apply(&self, row: &OutcomeRow, report: &mut WorkerReport) -> Result<bool, ApiError> {
        let (payment_id, declaration_id, ..) = row;
        let state = &self.state;
        let payment = state.payments.load(payment_id).await?;
        let outcome = match (payment.status, &payment.result) {
            (Some(PaymentStatus::Succeeded), Some(BankResult::Captured { payment_ref, .. })) => {
                PaymentOutcome::Succeeded {
                    payment_ref: payment_ref.clone(),
                    amount_cents: payment.amount_cents,
                }
            }
            (Some(status), result) => match RejectionReason::of_status(status) {
                Some(reason) => PaymentOutcome::NotCompleted {
                    reason,
                    detail: match result {
                        Some(BankResult::Refused { reason } | BankResult::Error { reason })
                            if !reason.is_empty() =>
                        {
                            Some(reason.clone())
                        }
                        _ => None,
                    },
                },
                // Not finished (cannot happen: only finished payments are collected).
                None => return Ok(false),
            },
            (None, _) => return Ok(false),
        };
        let succeeded = matches!(outcome, PaymentOutcome::Succeeded { .. });
        let recorded = state
            .tax_declarations
            .execute(
                declaration_id,
                TaxDeclarationCommand::RecordPaymentOutcome {
                    payment_id: payment_id.clone(),
                    outcome,
                    at: Utc::now(),
                },
                system_metadata(payment_id),
            )
            .await;
        match recorded {
            Ok(_) => {
                sqlx::query(
                    "UPDATE declaration_outcomes SET applied = 'applied', \
                     done_at = CASE WHEN notice = 'pending' THEN NULL ELSE now() END \
                     WHERE payment_id = $1",
                )
                .bind(payment_id)
                .execute(&state.pool)
                .await?;
                if succeeded {
                    report.paid += 1;
                } else {
                    report.rejected += 1;
                }
                Ok(succeeded)
            }
            Err(CommandError::Refused(r)) => {
                if succeeded {
                    // Money taken for a filing that is no longer the declaration's (or a
                    // period paid by another payment): it must go back by hand.
                    tracing::error!(payment = %payment_id, declaration = %declaration_id,
                        code = r.code, "declaration worker: a captured payment that does not \
                        settle its declaration; refund it");
                } else {
                    tracing::info!(payment = %payment_id, declaration = %declaration_id,
                        code = r.code, "declaration worker: outcome of a superseded filing ignored");
                }
                sqlx::query(
                    "UPDATE declaration_outcomes SET applied = 'ignored', notice = 'none', \
                     last_error = $2, done_at = now() WHERE payment_id = $1",
                )
                .bind(payment_id)
                .bind(r.code)
                .execute(&state.pool)
                .await?;
                report.ignored += 1;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Tells the revenue system that the declaration was paid by this payment.
    async fn notify(&self, row: &OutcomeRow, report: &mut WorkerReport) -> Result<(), ApiError> {
        let (payment_id, declaration_id, _, _, attempts) = row;
        let state = &self.state;
        let declaration: TaxDeclaration = state.tax_declarations.load(declaration_id).await?;
        let (Some(current), Some(paid)) = (&declaration.current, &declaration.paid) else {
            return self.finish(payment_id, "none", "").await;
        };
        if paid.payment_id != *payment_id {
            return self.finish(payment_id, "none", "").await;
        }
        let notice = DeclarationPaidNotice {
            assessment: current.assessment.clone(),
            payment_ref: paid.payment_ref.clone(),
            amount_cents: paid.amount_cents,
            paid_at: paid.at,
            idempotency_key: payment_id.clone(),
        };
        match state.revenue.record_declaration(&notice).await {
            Ok(()) => {
                state
                    .tax_declarations
                    .execute(
                        declaration_id,
                        TaxDeclarationCommand::RecordRevenueSystemNotified {
                            payment_id: payment_id.clone(),
                            at: Utc::now(),
                        },
                        system_metadata(payment_id),
                    )
                    .await?;
                self.finish(payment_id, "notified", "").await?;
                report.notified += 1;
            }
            Err(RevenueError::Unavailable(why)) => {
                tracing::warn!(payment = %payment_id, attempts, error = %why,
                    "declaration worker: the revenue system is unavailable; will retry");
                OUTCOMES
                    .retry_later(
                        &state.pool,
                        payment_id,
                        &why,
                        state.config.declarations_retry_first,
                        *attempts,
                    )
                    .await?;
                report.retried += 1;
            }
            Err(e) => {
                let refusal = e.to_refusal();
                tracing::error!(payment = %payment_id, declaration = %declaration_id,
                    code = refusal.code, error = %e,
                    "declaration worker: the revenue system refused a paid declaration; a clerk must look");
                state
                    .tax_declarations
                    .execute(
                        declaration_id,
                        TaxDeclarationCommand::RecordRevenueSystemRefused {
                            payment_id: payment_id.clone(),
                            code: refusal.code.to_string(),
                            at: Utc::now(),
                        },
                        system_metadata(payment_id),
                    )
                    .await?;
                self.finish(payment_id, "refused", refusal.code).await?;
                report.refused += 1;
            }
        }
        Ok(())
    }

    async fn finish(&self, payment_id: &str, notice: &str, error: &str) -> Result<(), ApiError> {
        Ok(OUTCOMES
            .finish(&self.state.pool, payment_id, notice, error)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euros_are_read_to_the_cent() {
        assert_eq!(parse_euros("12.345,67"), Some(1_234_567));
        assert_eq!(parse_euros("12345.67"), Some(1_234_567));
        assert_eq!(parse_euros("12345,67"), Some(1_234_567));
        assert_eq!(parse_euros("12,345.67"), Some(1_234_567));
        assert_eq!(parse_euros(" 1.234.567,8 € "), Some(123_456_780));
        assert_eq!(parse_euros("12.345"), Some(1_234_500));
        assert_eq!(parse_euros("1.234.567"), Some(123_456_700));
        assert_eq!(parse_euros("12345"), Some(1_234_500));
        assert_eq!(parse_euros("0"), Some(0));
        assert_eq!(parse_euros("0,05"), Some(5));
        assert_eq!(parse_euros("0.1"), Some(10));
        for bad in [
            "",
            " ",
            "-12,00",
            "12,345,67",
            "12.34.56",
            "1,2345",
            "12.3456",
            "abc",
            "12,",
            ",5",
            "1.23,45",
            "12.345.67,8,9",
            "1e5",
            "99999999999999999999",
            "10000000000,01",
            "€",
        ] {
            assert_eq!(parse_euros(bad), None, "{bad:?}");
        }
        assert_eq!(parse_euros("10000000000"), Some(MAX_GROSS_REVENUE_CENTS));
    }

    #[test]
    fn every_field_error_at_once() {
        let form = DeclarationForm {
            filing: "quarterly".into(),
            period: "5".into(),
            year: "1999".into(),
            gross_revenue: "-3".into(),
            vat_return_date: "20/04/2026".into(),
        };
        let Err(ApiError::Validation(fields)) = parse_form("094259216", &form) else {
            panic!("refused");
        };
        let codes: Vec<(&str, &str)> = fields
            .iter()
            .map(|f| (f.field.as_str(), f.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("year", "year_invalid"),
                ("gross_revenue", "gross_revenue_invalid"),
                ("vat_return_date", "vat_return_date_malformed"),
            ]
        );
        let form = DeclarationForm {
            filing: "quarterly".into(),
            period: "5".into(),
            year: "2026".into(),
            gross_revenue: "1.000,00".into(),
            vat_return_date: "2026-04-20".into(),
        };
        let Err(ApiError::Validation(fields)) = parse_form("094259216", &form) else {
            panic!("refused");
        };
        assert_eq!(
            fields,
            vec![FieldError::new("period", "period_quarter_invalid")]
        );
        let form = DeclarationForm {
            filing: String::new(),
            period: "x".into(),
            ..form
        };
        let Err(ApiError::Validation(fields)) = parse_form("094259216", &form) else {
            panic!("refused");
        };
        assert_eq!(
            fields,
            vec![
                FieldError::new("filing", "filing_required"),
                FieldError::new("period", "period_invalid"),
            ]
        );
        let ok = parse_form(
            "094259216",
            &DeclarationForm {
                filing: "monthly".into(),
                period: " 3 ".into(),
                year: "2026".into(),
                gross_revenue: "12.345,67".into(),
                vat_return_date: "2026-04-20".into(),
            },
        )
        .unwrap();
        assert_eq!(ok.gross_revenue_cents, 1_234_567);
        assert_eq!(ok.period.key(), "2026-M03");
    }

    #[test]
    fn percentages_read_in_greek() {
        assert_eq!(percent(50), "0,5 %");
        assert_eq!(percent(200), "2 %");
        assert_eq!(percent(10_000), "100 %");
        assert_eq!(percent(125), "1,25 %");
    }
}
