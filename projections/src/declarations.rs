//! The `tax_declarations` read model (S13): one row per business and period with its latest
//! filing's assessment and where it stands (awaiting payment, paid, rejected and why), and
//! `tax_declaration_filings`, one row per filing, for a business's history of every
//! filing, newest first. Folded from `TaxDeclaration` events.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use domain::tax_declaration::{TaxDeclaration, TaxDeclarationEvent};
use domain::Money;
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::ReadModel;

pub struct DeclarationsProjection;

impl DeclarationsProjection {
    pub const NAME: &'static str = "tax_declarations";
}

impl ReadModel for DeclarationsProjection {
    fn schema_version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tax_declarations", "tax_declaration_filings"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE tax_declarations (
    id                     text PRIMARY KEY,
    afm                    text        NOT NULL,
    company_name           text        NOT NULL,
    period_key             text        NOT NULL,
    filing                 text        NOT NULL,
    period_number          integer     NOT NULL,
    year                   integer     NOT NULL,
    filings                integer     NOT NULL,
    status                 text        NOT NULL,
    assessment_id          text        NOT NULL,
    gross_revenue_cents    bigint      NOT NULL,
    vat_return_date        date        NOT NULL,
    category               text        NOT NULL,
    category_name_el       text        NOT NULL,
    category_name_en       text        NOT NULL,
    rate_basis_points      integer     NOT NULL,
    tax_cents              bigint      NOT NULL,
    deadline               date        NOT NULL,
    months_late            integer     NOT NULL,
    surcharge_basis_points integer     NOT NULL,
    surcharge_cents        bigint      NOT NULL,
    total_cents            bigint      NOT NULL,
    computed_on            date        NOT NULL,
    declarant_account_id   text        NOT NULL,
    payment_id             text        NOT NULL,
    payment_ref            text,
    filed_at               timestamptz NOT NULL,
    paid_at                timestamptz,
    rejected_reason        text,
    rejected_detail        text,
    rejected_at            timestamptz,
    revenue_system         text        NOT NULL DEFAULT 'pending',
    revenue_system_code    text,
    updated_at             timestamptz NOT NULL,
    last_sequence          bigint      NOT NULL
);
CREATE INDEX tax_declarations_afm_idx ON tax_declarations (afm, year DESC, period_key DESC);
CREATE INDEX tax_declarations_payment_idx ON tax_declarations (payment_id);
CREATE TABLE tax_declaration_filings (
    declaration_id   text        NOT NULL,
    filing_number    integer     NOT NULL,
    afm              text        NOT NULL,
    period_key       text        NOT NULL,
    payment_id       text        NOT NULL,
    total_cents      bigint      NOT NULL,
    status           text        NOT NULL,
    payment_ref      text,
    rejected_reason  text,
    filed_at         timestamptz NOT NULL,
    settled_at       timestamptz,
    PRIMARY KEY (declaration_id, filing_number)
);
CREATE INDEX tax_declaration_filings_afm_idx ON tax_declaration_filings (afm, filed_at DESC);
CREATE INDEX tax_declaration_filings_payment_idx ON tax_declaration_filings (payment_id);
"#
    }
}

#[async_trait]
impl Consumer for DeclarationsProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[TaxDeclaration::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        if event.aggregate_type != TaxDeclaration::TYPE {
            return Ok(());
        }
        let payload: TaxDeclarationEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ConsumerError::decode(event, e))?;
        let id = &event.aggregate_id;
        let seq = event.sequence;
        match &payload {
            TaxDeclarationEvent::DeclarationFiled {
                filing_number,
                assessment: a,
                company_name,
                declarant_account_id,
                payment_id,
                amount_cents,
                at,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO tax_declarations (id, afm, company_name, period_key, filing, \
                     period_number, year, filings, status, assessment_id, gross_revenue_cents, \
                     vat_return_date, category, category_name_el, category_name_en, \
                     rate_basis_points, tax_cents, deadline, months_late, \
                     surcharge_basis_points, surcharge_cents, total_cents, computed_on, \
                     declarant_account_id, payment_id, filed_at, updated_at, last_sequence) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'awaiting_payment',$9,$10,$11,$12,$13,$14, \
                     $15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$25,$26) \
                     ON CONFLICT (id) DO UPDATE SET company_name = EXCLUDED.company_name, \
                     filings = EXCLUDED.filings, status = EXCLUDED.status, \
                     assessment_id = EXCLUDED.assessment_id, \
                     gross_revenue_cents = EXCLUDED.gross_revenue_cents, \
                     vat_return_date = EXCLUDED.vat_return_date, category = EXCLUDED.category, \
                     category_name_el = EXCLUDED.category_name_el, \
                     category_name_en = EXCLUDED.category_name_en, \
                     rate_basis_points = EXCLUDED.rate_basis_points, \
                     tax_cents = EXCLUDED.tax_cents, deadline = EXCLUDED.deadline, \
                     months_late = EXCLUDED.months_late, \
                     surcharge_basis_points = EXCLUDED.surcharge_basis_points, \
                     surcharge_cents = EXCLUDED.surcharge_cents, \
                     total_cents = EXCLUDED.total_cents, computed_on = EXCLUDED.computed_on, \
                     declarant_account_id = EXCLUDED.declarant_account_id, \
                     payment_id = EXCLUDED.payment_id, payment_ref = NULL, \
                     filed_at = EXCLUDED.filed_at, paid_at = NULL, rejected_reason = NULL, \
                     rejected_detail = NULL, rejected_at = NULL, \
                     updated_at = EXCLUDED.updated_at, last_sequence = EXCLUDED.last_sequence \
                     WHERE tax_declarations.last_sequence < EXCLUDED.last_sequence",
                )
                .bind(id)
                .bind(&a.afm)
                .bind(company_name)
                .bind(a.period.key())
                .bind(a.period.filing.as_str())
                .bind(a.period.number as i32)
                .bind(a.period.year)
                .bind(*filing_number as i32)
                .bind(&a.assessment_id)
                .bind(a.gross_revenue_cents)
                .bind(a.vat_return_date)
                .bind(&a.category)
                .bind(&a.category_name_el)
                .bind(&a.category_name_en)
                .bind(a.rate_basis_points as i32)
                .bind(a.tax_cents)
                .bind(a.deadline)
                .bind(a.months_late as i32)
                .bind(a.surcharge_basis_points as i32)
                .bind(a.surcharge_cents)
                .bind(a.total_cents)
                .bind(a.computed_on)
                .bind(declarant_account_id)
                .bind(payment_id)
                .bind(at)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO tax_declaration_filings (declaration_id, filing_number, afm, \
                     period_key, payment_id, total_cents, status, filed_at) \
                     VALUES ($1,$2,$3,$4,$5,$6,'awaiting_payment',$7) \
                     ON CONFLICT (declaration_id, filing_number) DO NOTHING",
                )
                .bind(id)
                .bind(*filing_number as i32)
                .bind(&a.afm)
                .bind(a.period.key())
                .bind(payment_id)
                .bind(amount_cents)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            TaxDeclarationEvent::DeclarationPaid {
                payment_id,
                payment_ref,
                at,
                ..
            } => {
                sqlx::query(
                    "UPDATE tax_declarations SET status = 'paid', payment_ref = $3, paid_at = $4, \
                     rejected_reason = NULL, rejected_detail = NULL, rejected_at = NULL, \
                     updated_at = $4, last_sequence = $2 WHERE id = $1 AND last_sequence < $2",
                )
                .bind(id)
                .bind(seq)
                .bind(payment_ref)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE tax_declaration_filings SET status = 'paid', payment_ref = $3, \
                     rejected_reason = NULL, settled_at = $4 \
                     WHERE declaration_id = $1 AND payment_id = $2",
                )
                .bind(id)
                .bind(payment_id)
                .bind(payment_ref)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            TaxDeclarationEvent::DeclarationRejected {
                payment_id,
                reason,
                detail,
                at,
            } => {
                sqlx::query(
                    "UPDATE tax_declarations SET status = 'rejected', rejected_reason = $3, \
                     rejected_detail = $4, rejected_at = $5, updated_at = $5, last_sequence = $2 \
                     WHERE id = $1 AND last_sequence < $2 AND payment_id = $6",
                )
                .bind(id)
                .bind(seq)
                .bind(reason.as_str())
                .bind(detail)
                .bind(at)
                .bind(payment_id)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE tax_declaration_filings SET status = 'rejected', rejected_reason = $3, \
                     settled_at = $4 WHERE declaration_id = $1 AND payment_id = $2",
                )
                .bind(id)
                .bind(payment_id)
                .bind(reason.as_str())
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            TaxDeclarationEvent::RevenueSystemNotified { at, .. } => {
                revenue_system(conn, id, seq, "notified", None, at).await?;
            }
            TaxDeclarationEvent::RevenueSystemRefusedNotice { code, at, .. } => {
                revenue_system(conn, id, seq, "refused", Some(code), at).await?;
            }
        }
        Ok(())
    }
}

async fn revenue_system(
    conn: &mut PgConnection,
    id: &str,
    seq: i64,
    status: &str,
    code: Option<&str>,
    at: &DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tax_declarations SET revenue_system = $3, revenue_system_code = $4, \
         updated_at = $5, last_sequence = $2 WHERE id = $1 AND last_sequence < $2",
    )
    .bind(id)
    .bind(seq)
    .bind(status)
    .bind(code)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A business's declaration of one period, with its latest filing.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeclarationRow {
    pub id: String,
    pub afm: String,
    pub company_name: String,
    pub period_key: String,
    pub filing: String,
    pub period_number: i32,
    pub year: i32,
    /// How many filings the period has had.
    pub filings: i32,
    /// `awaiting_payment`, `paid` or `rejected`.
    pub status: String,
    pub assessment_id: String,
    pub gross_revenue_cents: Money,
    pub vat_return_date: NaiveDate,
    pub category: String,
    pub category_name_el: String,
    pub category_name_en: String,
    pub rate_basis_points: i32,
    pub tax_cents: Money,
    pub deadline: NaiveDate,
    pub months_late: i32,
    pub surcharge_basis_points: i32,
    pub surcharge_cents: Money,
    pub total_cents: Money,
    pub computed_on: NaiveDate,
    pub declarant_account_id: String,
    pub payment_id: String,
    pub payment_ref: Option<String>,
    pub filed_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// `payment_declined`, `payment_cancelled`, `payment_expired` or `payment_error`.
    pub rejected_reason: Option<String>,
    pub rejected_detail: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    /// Whether the revenue system recorded the payment: `pending`, `notified`, `refused`.
    pub revenue_system: String,
    pub revenue_system_code: Option<String>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, afm, company_name, period_key, filing, period_number, year, \
    filings, status, assessment_id, gross_revenue_cents, vat_return_date, category, \
    category_name_el, category_name_en, rate_basis_points, tax_cents, deadline, months_late, \
    surcharge_basis_points, surcharge_cents, total_cents, computed_on, declarant_account_id, \
    payment_id, payment_ref, filed_at, paid_at, rejected_reason, rejected_detail, rejected_at, \
    revenue_system, revenue_system_code, updated_at";

pub async fn get(pool: &PgPool, id: &str) -> Result<Option<DeclarationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tax_declarations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A business's declarations (one per period), the latest filed first.
pub async fn list_for_afm(pool: &PgPool, afm: &str) -> Result<Vec<DeclarationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tax_declarations WHERE afm = $1 ORDER BY filed_at DESC, id"
    ))
    .bind(afm)
    .fetch_all(pool)
    .await
}

/// One filing of a period, as the business's history shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FilingRow {
    pub declaration_id: String,
    pub filing_number: i32,
    pub afm: String,
    pub period_key: String,
    pub payment_id: String,
    pub total_cents: Money,
    pub status: String,
    pub payment_ref: Option<String>,
    pub rejected_reason: Option<String>,
    pub filed_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

const FILING_COLUMNS: &str = "declaration_id, filing_number, afm, period_key, payment_id, \
    total_cents, status, payment_ref, rejected_reason, filed_at, settled_at";

/// Every filing of a business, newest first.
pub async fn filings_for_afm(pool: &PgPool, afm: &str) -> Result<Vec<FilingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {FILING_COLUMNS} FROM tax_declaration_filings WHERE afm = $1 \
         ORDER BY filed_at DESC, declaration_id, filing_number DESC"
    ))
    .bind(afm)
    .fetch_all(pool)
    .await
}

/// The filings of one period, newest first.
pub async fn filings_of(pool: &PgPool, id: &str) -> Result<Vec<FilingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {FILING_COLUMNS} FROM tax_declaration_filings WHERE declaration_id = $1 \
         ORDER BY filing_number DESC"
    ))
    .bind(id)
    .fetch_all(pool)
    .await
}
