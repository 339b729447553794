//! «Δήλωση και Πληρωμή Δημοτικού Φόρου» (S13): a certified business's representative
//! declares a VAT period's gross revenue; the revenue system checks it and computes the tax
//! and any surcharge for late declaration; the representative files the declaration and
//! pays it through the bank in one step.
//!
//! Declaration and payment are one unit: the `TaxDeclaration` aggregate (one stream per
//! business and period) records each filing together with its one payment. The
//! [`DeclarationWorker`] applies every finished payment of a declaration to it exactly once
//! (paid, or rejected with the reason: declined, cancelled, expired, bank error) through the
//! `declaration_outcomes` outbox (written by the payment process as payments finish), and tells the revenue system about each paid one, durably
//! and once (the payment id is the idempotency key), with backoff while it is down.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use domain::business::{
    DeclarationInput, DeclarationPaidNotice, Filing, RevenueError, TaxAssessment, TaxPeriod,
};
use domain::certification::Business;
use domain::payment::{BankResult, Obligation, PaymentStatus};
use domain::ports::RedirectForm;
use domain::refusal::{FieldError, RefusalKind};
use domain::tax_declaration::{
    declaration_id, DeclarationStatus, PaymentOutcome, RejectionReason, TaxDeclaration,
    TaxDeclarationCommand,
};
use domain::{Money, Refusal};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::background::{self, LoopTask, Outbox};
use crate::business::{certified_business, BusinessError};
use crate::context::{Actor, Portal};
use crate::fines::ProfileError;
use crate::payments::PaymentError;
use crate::{CommandError, CommandMetadata};

/// The obligation kind of a tax declaration in the payment engine.
pub const OBLIGATION_KIND: &str = "municipal_tax_declaration";

/// The largest gross revenue the form takes: 10 billion euro (in cents).
const MAX_GROSS_REVENUE: Money = Money::from_cents(1_000_000_000_000);

/// A form value as typed: JSON strings, or numbers (kept as their text, never as floats).
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "expected text or a number, found {other}"
        ))),
    }
}

/// An amount of euros as typed (a form's text, kept as it is) or as a JSON number, which is
/// a number: `1.234` is one euro and 23.4 cents (refused: no amount has a fraction of a
/// cent), never 1.234,00 €. A number becomes the amount's plain text with a decimal comma,
/// which the form's parser reads back exactly.
pub fn amount_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => match Money::from_json_number(&n) {
            Ok(amount) if !amount.is_negative() => Ok(amount.to_decimal_string().replace('.', ",")),
            _ => Err(serde::de::Error::custom(format!(
                "{n} is not an amount of euros with at most two decimals (a JSON number is a \
                 number: write 1234.56, or the text \"1.234,56\")"
            ))),
        },
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "expected an amount as text or a number, found {other}"
        ))),
    }
}

/// The declaration as the representative typed it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclarationForm {
    /// `monthly` or `quarterly`.
    #[serde(default, deserialize_with = "text")]
    #[schema(pattern = "^(monthly|quarterly)$")]
    pub filing: String,
    /// 1–12 (monthly) or 1–4 (quarterly); a string or a number.
    #[serde(default, deserialize_with = "text")]
    #[schema(schema_with = text_or_number)]
    pub period: String,
    /// 2000–9999; a string or a number.
    #[serde(default, deserialize_with = "text")]
    #[schema(schema_with = text_or_number)]
    pub year: String,
    /// Euros as declared in the VAT return, ≥ 0, at most two decimals: `12.345,67`,
    /// `12345,67`, `12345.67` as text, or a JSON number of euros.
    #[serde(default, deserialize_with = "amount_text")]
    #[schema(schema_with = text_or_number, examples("12.345,67"))]
    pub gross_revenue: String,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "text")]
    #[schema(format = Date)]
    pub vat_return_date: String,
}

/// A field the form takes as text or as a JSON number (its OpenAPI schema).
pub fn text_or_number() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .build(),
    )
}

/// An amount of gross revenue as people type it, to exact cents (`12.345,67`, `12345,67`,
/// `12345.67`, `12.345`, `12 345,67`, an optional `€`: [`Money::parse`] once the spaces
/// are gone), at most
/// [`MAX_GROSS_REVENUE`]. `None` for anything else.
pub fn parse_gross_revenue(raw: &str) -> Option<Money> {
    // Spaces between digit groups (`12 345,67`) are how many people write thousands.
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .collect();
    Money::parse(&compact)
        .ok()
        .filter(|amount| *amount <= MAX_GROSS_REVENUE)
}

/// Why a declaration could not be assessed, filed or paid.
#[derive(Debug, thiserror::Error)]
pub enum DeclarationError {
    /// Fields to correct (each with its message code).
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// A rule said no, or the revenue system did.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The revenue system's "no" about one field of the form.
    #[error("refused: {0}")]
    RefusedField(Refusal, Vec<FieldError>),
    #[error(transparent)]
    Business(#[from] BusinessError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
}

impl From<sqlx::Error> for DeclarationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Command(e.into())
    }
}

/// The form checked field by field (every error at once).
pub fn parse_form(afm: &str, form: &DeclarationForm) -> Result<DeclarationInput, DeclarationError> {
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
    let gross = parse_gross_revenue(&form.gross_revenue);
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
        _ => Err(DeclarationError::Invalid(fields)),
    }
}

/// A revenue system's "no" as the form shows it: next to its field where it has one.
fn revenue_refusal(e: RevenueError) -> DeclarationError {
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
        Some(f) if refusal.kind == RefusalKind::Invalid => {
            DeclarationError::Invalid(vec![FieldError::new(f, refusal.code)])
        }
        Some(f) => {
            let code = refusal.code;
            DeclarationError::RefusedField(refusal, vec![FieldError::new(f, code)])
        }
        None => DeclarationError::Refused(refusal),
    }
}

fn already_declared() -> DeclarationError {
    DeclarationError::Refused(Refusal::rule(
        "period_already_declared",
        "this period is already declared and paid",
    ))
}

/// Checks the form, refuses a period already declared and paid, and asks the revenue
/// system for the assessment.
async fn assess_for(
    portal: &Portal,
    business: &Business,
    form: &DeclarationForm,
) -> Result<TaxAssessment, DeclarationError> {
    let input = parse_form(&business.afm, form)?;
    let id = declaration_id(&business.afm, &input.period);
    let declaration: TaxDeclaration = portal.tax_declarations.load(&id).await?;
    if declaration.status == Some(DeclarationStatus::Paid) {
        return Err(already_declared());
    }
    let assessment = portal
        .revenue
        .assess(&input)
        .await
        .map_err(revenue_refusal)?;
    if !assessment.answers(&input) {
        tracing::error!(
            ?input,
            ?assessment,
            "the revenue system answered another declaration"
        );
        return Err(DeclarationError::Refused(Refusal::unavailable(
            "revenue_system_unavailable",
            "the revenue system's answer does not match the declaration",
        )));
    }
    Ok(assessment)
}

/// The assessment of what the representative of `user`'s business typed.
pub async fn assess(
    portal: &Portal,
    actor: &Actor,
    form: &DeclarationForm,
) -> Result<(Business, TaxAssessment), DeclarationError> {
    let business = certified_business(portal, actor).await?;
    let assessment = assess_for(portal, &business, form).await?;
    Ok((business, assessment))
}

/// A tax period as the API answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodView {
    #[schema(pattern = "^(monthly|quarterly)$")]
    pub filing: &'static str,
    pub number: u32,
    pub year: i32,
    pub key: String,
    pub label_el: String,
    pub label_en: String,
}

/// A category of business as the API answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryView {
    pub code: String,
    pub name_el: String,
    pub name_en: String,
}

/// An assessment as the API answers it: the tax and surcharges of a declaration as the
/// revenue system computes them today.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Assessment)]
pub struct AssessmentView {
    pub declaration_id: String,
    pub assessment_id: String,
    pub afm: String,
    pub company_name: String,
    pub period: PeriodView,
    #[schema(value_type = i64)]
    pub gross_revenue_cents: Money,
    pub vat_return_date: NaiveDate,
    pub category: CategoryView,
    pub rate_basis_points: u32,
    #[schema(value_type = i64)]
    pub tax_cents: Money,
    pub deadline: NaiveDate,
    pub months_late: u32,
    pub surcharge_basis_points: u32,
    #[schema(value_type = i64)]
    pub surcharge_cents: Money,
    #[schema(value_type = i64)]
    pub total_cents: Money,
    pub computed_on: NaiveDate,
}

impl AssessmentView {
    pub fn of(a: &TaxAssessment, company_name: &str) -> Self {
        Self {
            declaration_id: declaration_id(&a.afm, &a.period),
            assessment_id: a.assessment_id.clone(),
            afm: a.afm.clone(),
            company_name: company_name.to_string(),
            period: PeriodView {
                filing: a.period.filing.as_str(),
                number: a.period.number,
                year: a.period.year,
                key: a.period.key(),
                label_el: a.period.label_el(),
                label_en: a.period.label_en(),
            },
            gross_revenue_cents: a.gross_revenue_cents,
            vat_return_date: a.vat_return_date,
            category: CategoryView {
                code: a.category.clone(),
                name_el: a.category_name_el.clone(),
                name_en: a.category_name_en.clone(),
            },
            rate_basis_points: a.rate_basis_points,
            tax_cents: a.tax_cents,
            deadline: a.deadline,
            months_late: a.months_late,
            surcharge_basis_points: a.surcharge_basis_points,
            surcharge_cents: a.surcharge_cents,
            total_cents: a.total_cents,
            computed_on: a.computed_on,
        }
    }
}

/// Why filing did not start.
#[derive(Debug)]
pub enum FileError {
    /// The amount differs from the one the user was shown: here is the new assessment.
    AssessmentChanged(Box<TaxAssessment>, String),
    Refused(DeclarationError),
}

impl<E: Into<DeclarationError>> From<E> for FileError {
    fn from(e: E) -> Self {
        Self::Refused(e.into())
    }
}

/// A filing whose payment was created: its ids and the form that sends the payer to the
/// bank.
#[derive(Debug, Clone)]
pub struct StartedDeclaration {
    pub declaration_id: String,
    pub payment_id: String,
    pub amount_cents: Money,
    pub form: RedirectForm,
}

/// Files the declaration and starts its payment: the S10 profile check, the assessment
/// again (amounts never come from the browser; a total other than `expected_total_cents`,
/// the one the user saw, is refused with the new assessment), the filing on the
/// declaration's stream (one at a time; never a period declared and paid), the payment,
/// and the bank's form.
///
/// `describe` writes the payment's description for the bank (the period's Greek label and
/// the ΑΦΜ) in the front door's language files; `lang` is the bank page's language.
pub async fn file_and_pay(
    portal: &Portal,
    actor: &Actor,
    form: &DeclarationForm,
    expected_total_cents: Money,
    lang: &str,
    describe: impl FnOnce(&TaxPeriod, &str) -> String,
    metadata: CommandMetadata,
) -> Result<StartedDeclaration, FileError> {
    let business = certified_business(portal, actor).await?;
    crate::fines::check_profile(portal, actor).await?;
    let assessment = assess_for(portal, &business, form).await?;
    if assessment.total_cents != expected_total_cents {
        return Err(FileError::AssessmentChanged(
            Box::new(assessment),
            business.company_name,
        ));
    }
    let id = declaration_id(&business.afm, &assessment.period);
    let declaration: TaxDeclaration = portal.tax_declarations.load(&id).await?;
    let open_payment = match (&declaration.current, declaration.status) {
        (Some(current), Some(DeclarationStatus::AwaitingPayment)) => portal
            .payments
            .load(&current.payment_id)
            .await?
            .status
            .map(|s| (current.payment_id.clone(), s)),
        _ => None,
    };
    let now = portal.now();
    let payment_id = Uuid::new_v4().to_string();
    let amount_cents = assessment.total_cents;
    let description = describe(&assessment.period, &business.afm);
    portal
        .tax_declarations
        .execute(
            &id,
            TaxDeclarationCommand::File {
                assessment: Box::new(assessment),
                company_name: business.company_name.clone(),
                declarant_account_id: actor.account_id.to_string(),
                payment_id: payment_id.clone(),
                expires_at: now + portal.settings.payments.expiry,
                open_payment,
                at: now,
            },
            metadata.clone(),
        )
        .await?;
    let obligation = Obligation {
        kind: OBLIGATION_KIND.to_string(),
        reference: id.clone(),
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
    Ok(StartedDeclaration {
        declaration_id: id,
        payment_id,
        amount_cents,
        form,
    })
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
    portal: Arc<Portal>,
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
pub(crate) const OUTCOMES: Outbox = Outbox {
    table: "declaration_outcomes",
    status_column: "notice",
};

/// A row of `declaration_outcomes`: payment, declaration, applied, notice, attempts.
type OutcomeRow = (String, String, String, String, i32);

fn system_metadata(payment_id: &str) -> CommandMetadata {
    CommandMetadata {
        correlation_id: payment_id.to_string(),
        ..crate::context::system_metadata("system:declaration-worker")
    }
}

/// Applies payment `payment_id`'s outcome to its declaration now (e.g. when the payer is
/// back from the bank), so that the page shows paid or rejected at once. Does nothing for
/// a payment that has not finished, or was already applied. The revenue system is told by
/// the worker.
pub async fn settle_now(portal: &Arc<Portal>, payment_id: &str) -> Result<(), CommandError> {
    portal.wait_for_payment_process().await?;
    let row: Option<OutcomeRow> = sqlx::query_as(
        "SELECT payment_id, declaration_id, applied, notice, attempts \
         FROM declaration_outcomes WHERE payment_id = $1 AND applied = 'pending'",
    )
    .bind(payment_id)
    .fetch_optional(&portal.pool)
    .await?;
    if let Some(row) = row {
        DeclarationWorker::new(portal.clone())
            .apply(&row, &mut WorkerReport::default())
            .await?;
    }
    Ok(())
}

impl DeclarationWorker {
    pub fn new(portal: Arc<Portal>) -> Self {
        Self { portal }
    }

    pub fn spawn(self, poll: Duration) -> LoopTask {
        background::every("declaration worker", poll, move || {
            let worker = self.clone();
            async move { worker.run_once().await }
        })
    }

    pub async fn run_once(&self) -> Result<WorkerReport, CommandError> {
        let pool = &self.portal.pool;
        // The outbox is filled by the payment process as payments finish.
        self.portal.wait_for_payment_process().await?;
        let Some(lock) = background::pass_lock(pool, "declaration-worker").await? else {
            return Ok(WorkerReport {
                skipped: true,
                ..WorkerReport::default()
            });
        };

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
    async fn apply(
        &self,
        row: &OutcomeRow,
        report: &mut WorkerReport,
    ) -> Result<bool, CommandError> {
        let (payment_id, declaration_id, ..) = row;
        let portal = &self.portal;
        let payment = portal.payments.load(payment_id).await?;
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
        // The row is marked only if it still names the status applied here: a capture that
        // arrives after the expiry (the payment process upgrades the row to `succeeded`
        // meanwhile) is then applied by the next pass instead of being lost.
        let applied_status = payment.status.map_or("", |s| s.as_str());
        let recorded = portal
            .tax_declarations
            .execute(
                declaration_id,
                TaxDeclarationCommand::RecordPaymentOutcome {
                    payment_id: payment_id.clone(),
                    outcome,
                    at: portal.now(),
                },
                system_metadata(payment_id),
            )
            .await;
        match recorded {
            Ok(_) => {
                sqlx::query(
                    "UPDATE declaration_outcomes SET applied = 'applied', \
                     done_at = CASE WHEN notice = 'pending' THEN NULL ELSE now() END \
                     WHERE payment_id = $1 AND payment_status = $2",
                )
                .bind(payment_id)
                .bind(applied_status)
                .execute(&portal.pool)
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
                    // Recorded on the payment (the payer is mailed; clerks list it to
                    // record the refund) before the row is done with: a crash between the
                    // two repeats the mark, which then changes nothing.
                    crate::payments::mark_refund_due(
                        portal,
                        payment_id,
                        r.code,
                        system_metadata(payment_id),
                    )
                    .await?;
                } else {
                    tracing::info!(payment = %payment_id, declaration = %declaration_id,
                        code = r.code, "declaration worker: outcome of a superseded filing ignored");
                }
                sqlx::query(
                    "UPDATE declaration_outcomes SET applied = 'ignored', notice = 'none', \
                     last_error = $2, done_at = now() WHERE payment_id = $1 \
                     AND payment_status = $3",
                )
                .bind(payment_id)
                .bind(r.code)
                .bind(applied_status)
                .execute(&portal.pool)
                .await?;
                report.ignored += 1;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Tells the revenue system that the declaration was paid by this payment.
    async fn notify(
        &self,
        row: &OutcomeRow,
        report: &mut WorkerReport,
    ) -> Result<(), CommandError> {
        let (payment_id, declaration_id, _, _, attempts) = row;
        let portal = &self.portal;
        let declaration: TaxDeclaration = portal.tax_declarations.load(declaration_id).await?;
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
        match portal.revenue.record_declaration(&notice).await {
            Ok(()) => {
                portal
                    .tax_declarations
                    .execute(
                        declaration_id,
                        TaxDeclarationCommand::RecordRevenueSystemNotified {
                            payment_id: payment_id.clone(),
                            at: portal.now(),
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
                        &portal.pool,
                        payment_id,
                        &why,
                        portal.settings.declarations_retry_first,
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
                portal
                    .tax_declarations
                    .execute(
                        declaration_id,
                        TaxDeclarationCommand::RecordRevenueSystemRefused {
                            payment_id: payment_id.clone(),
                            code: refusal.code.to_string(),
                            at: portal.now(),
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

    async fn finish(
        &self,
        payment_id: &str,
        notice: &str,
        error: &str,
    ) -> Result<(), CommandError> {
        Ok(OUTCOMES
            .finish(&self.portal.pool, payment_id, notice, error)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gross_revenue_is_read_to_the_cent() {
        assert_eq!(
            parse_gross_revenue("12.345,67"),
            Some(Money::from_cents(1_234_567))
        );
        assert_eq!(
            parse_gross_revenue("12345.67"),
            Some(Money::from_cents(1_234_567))
        );
        assert_eq!(
            parse_gross_revenue("12345,67"),
            Some(Money::from_cents(1_234_567))
        );
        assert_eq!(
            parse_gross_revenue("12,345.67"),
            Some(Money::from_cents(1_234_567))
        );
        assert_eq!(
            parse_gross_revenue(" 1.234.567,8 € "),
            Some(Money::from_cents(123_456_780))
        );
        assert_eq!(
            parse_gross_revenue("12.345"),
            Some(Money::from_cents(1_234_500))
        );
        assert_eq!(
            parse_gross_revenue("1.234.567"),
            Some(Money::from_cents(123_456_700))
        );
        assert_eq!(
            parse_gross_revenue("12345"),
            Some(Money::from_cents(1_234_500))
        );
        assert_eq!(
            parse_gross_revenue("12 345,67"),
            Some(Money::from_cents(1_234_567))
        );
        assert_eq!(parse_gross_revenue("0"), Some(Money::from_cents(0)));
        assert_eq!(parse_gross_revenue("0,05"), Some(Money::from_cents(5)));
        assert_eq!(parse_gross_revenue("0.1"), Some(Money::from_cents(10)));
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
            assert_eq!(parse_gross_revenue(bad), None, "{bad:?}");
        }
        assert_eq!(parse_gross_revenue("10000000000"), Some(MAX_GROSS_REVENUE));
    }

    #[test]
    fn a_json_number_is_a_number_of_euros() {
        let form = |gross: serde_json::Value| {
            serde_json::from_value::<DeclarationForm>(serde_json::json!({
                "filing": "quarterly", "period": 1, "year": 2026,
                "gross_revenue": gross, "vat_return_date": "2026-04-20"
            }))
        };
        // Issue 12, defect 4: 1.234 was read as 1.234,00 €.
        assert!(form(serde_json::json!(1.234)).is_err());
        assert!(form(serde_json::json!(-5)).is_err());
        for (number, cents) in [
            (serde_json::json!(1.5), 150),
            (serde_json::json!(12), 1200),
            (serde_json::json!(1234.56), 123_456),
        ] {
            let typed = form(number.clone()).unwrap();
            let parsed = parse_form("094259216", &typed).unwrap();
            assert_eq!(
                parsed.gross_revenue_cents,
                Money::from_cents(cents),
                "{number}"
            );
        }
        // Text keeps the form's reading: Greek thousands.
        let typed = form(serde_json::json!("1.234")).unwrap();
        assert_eq!(
            parse_form("094259216", &typed).unwrap().gross_revenue_cents,
            Money::from_cents(123_400)
        );
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
        let Err(DeclarationError::Invalid(fields)) = parse_form("094259216", &form) else {
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
        let Err(DeclarationError::Invalid(fields)) = parse_form("094259216", &form) else {
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
        let Err(DeclarationError::Invalid(fields)) = parse_form("094259216", &form) else {
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
        assert_eq!(ok.gross_revenue_cents, Money::from_cents(1_234_567));
        assert_eq!(ok.period.key(), "2026-M03");
    }
}
