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
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::fold::{self, Row, Table};
use crate::paging::{Cursor, PageRequest, Paged};
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
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Folds the batch in memory: one read of the declarations it touches and one of their
    /// filings, one write of each.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        let events = fold::decode::<TaxDeclarationEvent>(events, TaxDeclaration::TYPE)?;
        if events.is_empty() {
            return Ok(());
        }
        let ids = fold::stream_ids(&events);
        let mut declarations =
            Table::<DeclarationState>::load(conn, "tax_declarations", &["id"], "id", &ids).await?;
        let mut filings = Table::<FilingState>::load(
            conn,
            "tax_declaration_filings",
            &["declaration_id", "filing_number"],
            "declaration_id",
            &ids,
        )
        .await?;
        for (event, payload) in events {
            apply(&mut declarations, &mut filings, event, payload);
        }
        declarations.save(conn).await?;
        filings.save(conn).await
    }
}

fn apply(
    declarations: &mut Table<DeclarationState>,
    filings: &mut Table<FilingState>,
    event: &RecordedEvent,
    payload: TaxDeclarationEvent,
) {
    let id = event.aggregate_id.as_str();
    let seq = event.sequence;
    let of_payment = |payment: &str| {
        let (id, payment) = (id.to_string(), payment.to_string());
        move |f: &FilingState| f.declaration_id == id && f.payment_id == payment
    };
    match payload {
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
            let period_key = a.period.key();
            if !declarations.has_folded(id, seq) {
                // A later filing of the period replaces the earlier one's assessment and
                // outcome; the revenue system's answer stays until it is told again.
                let (revenue_system, revenue_system_code) = declarations
                    .get(id)
                    .map(|d| (d.revenue_system.clone(), d.revenue_system_code.clone()))
                    .unwrap_or_else(|| ("pending".into(), None));
                declarations.put(DeclarationState {
                    id: id.to_string(),
                    afm: a.afm.clone(),
                    company_name,
                    period_key: period_key.clone(),
                    filing: a.period.filing.as_str().to_string(),
                    period_number: a.period.number as i32,
                    year: a.period.year,
                    filings: filing_number as i32,
                    status: "awaiting_payment".into(),
                    assessment_id: a.assessment_id.clone(),
                    gross_revenue_cents: a.gross_revenue_cents,
                    vat_return_date: a.vat_return_date,
                    category: a.category.clone(),
                    category_name_el: a.category_name_el.clone(),
                    category_name_en: a.category_name_en.clone(),
                    rate_basis_points: a.rate_basis_points as i32,
                    tax_cents: a.tax_cents,
                    deadline: a.deadline,
                    months_late: a.months_late as i32,
                    surcharge_basis_points: a.surcharge_basis_points as i32,
                    surcharge_cents: a.surcharge_cents,
                    total_cents: a.total_cents,
                    computed_on: a.computed_on,
                    declarant_account_id,
                    payment_id: payment_id.clone(),
                    payment_ref: None,
                    filed_at: at,
                    paid_at: None,
                    rejected_reason: None,
                    rejected_detail: None,
                    rejected_at: None,
                    revenue_system,
                    revenue_system_code,
                    updated_at: at,
                    last_sequence: seq,
                });
            }
            let filing = FilingState {
                declaration_id: id.to_string(),
                filing_number: filing_number as i32,
                afm: a.afm.clone(),
                period_key,
                payment_id,
                total_cents: amount_cents,
                status: "awaiting_payment".into(),
                payment_ref: None,
                rejected_reason: None,
                filed_at: at,
                settled_at: None,
            };
            if filings.get(&filing.key()).is_none() {
                filings.put(filing);
            }
        }
        TaxDeclarationEvent::DeclarationPaid {
            payment_id,
            payment_ref,
            at,
            ..
        } => {
            if let Some(d) = declarations.advance(id, seq) {
                d.status = "paid".into();
                d.payment_ref = Some(payment_ref.clone());
                d.paid_at = Some(at);
                d.rejected_reason = None;
                d.rejected_detail = None;
                d.rejected_at = None;
                d.updated_at = at;
            }
            filings.update_where(of_payment(&payment_id), |f| {
                f.status = "paid".into();
                f.payment_ref = Some(payment_ref.clone());
                f.rejected_reason = None;
                f.settled_at = Some(at);
            });
        }
        TaxDeclarationEvent::DeclarationRejected {
            payment_id,
            reason,
            detail,
            at,
        } => {
            // Only the rejection of the period's latest filing changes the period.
            if declarations
                .get(id)
                .is_some_and(|d| d.payment_id == payment_id)
            {
                if let Some(d) = declarations.advance(id, seq) {
                    d.status = "rejected".into();
                    d.rejected_reason = Some(reason.as_str().to_string());
                    d.rejected_detail = detail;
                    d.rejected_at = Some(at);
                    d.updated_at = at;
                }
            }
            filings.update_where(of_payment(&payment_id), |f| {
                f.status = "rejected".into();
                f.rejected_reason = Some(reason.as_str().to_string());
                f.settled_at = Some(at);
            });
        }
        TaxDeclarationEvent::RevenueSystemNotified { at, .. } => {
            if let Some(d) = declarations.advance(id, seq) {
                d.revenue_system = "notified".into();
                d.revenue_system_code = None;
                d.updated_at = at;
            }
        }
        TaxDeclarationEvent::RevenueSystemRefusedNotice { code, at, .. } => {
            if let Some(d) = declarations.advance(id, seq) {
                d.revenue_system = "refused".into();
                d.revenue_system_code = Some(code);
                d.updated_at = at;
            }
        }
        // Sent again: pending until the revenue system answers.
        TaxDeclarationEvent::RevenueSystemNoticeRetried { at, .. } => {
            if let Some(d) = declarations.advance(id, seq) {
                d.revenue_system = "pending".into();
                d.revenue_system_code = None;
                d.updated_at = at;
            }
        }
    }
}

/// A row of `tax_declarations`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclarationState {
    id: String,
    afm: String,
    company_name: String,
    period_key: String,
    filing: String,
    period_number: i32,
    year: i32,
    filings: i32,
    status: String,
    assessment_id: String,
    gross_revenue_cents: Money,
    vat_return_date: NaiveDate,
    category: String,
    category_name_el: String,
    category_name_en: String,
    rate_basis_points: i32,
    tax_cents: Money,
    deadline: NaiveDate,
    months_late: i32,
    surcharge_basis_points: i32,
    surcharge_cents: Money,
    total_cents: Money,
    computed_on: NaiveDate,
    declarant_account_id: String,
    payment_id: String,
    payment_ref: Option<String>,
    filed_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    rejected_reason: Option<String>,
    rejected_detail: Option<String>,
    rejected_at: Option<DateTime<Utc>>,
    revenue_system: String,
    revenue_system_code: Option<String>,
    updated_at: DateTime<Utc>,
    last_sequence: i64,
}

fold::sequenced_row!(DeclarationState, id);

/// A row of `tax_declaration_filings`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilingState {
    declaration_id: String,
    filing_number: i32,
    afm: String,
    period_key: String,
    payment_id: String,
    total_cents: Money,
    status: String,
    payment_ref: Option<String>,
    rejected_reason: Option<String>,
    filed_at: DateTime<Utc>,
    settled_at: Option<DateTime<Utc>>,
}

impl Row for FilingState {
    fn key(&self) -> String {
        format!("{}\n{}", self.declaration_id, self.filing_number)
    }
}

/// A business's declaration of one period, with its latest filing.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    #[schema(value_type = i64)]
    pub gross_revenue_cents: Money,
    pub vat_return_date: NaiveDate,
    pub category: String,
    pub category_name_el: String,
    pub category_name_en: String,
    pub rate_basis_points: i32,
    #[schema(value_type = i64)]
    pub tax_cents: Money,
    pub deadline: NaiveDate,
    pub months_late: i32,
    pub surcharge_basis_points: i32,
    #[schema(value_type = i64)]
    pub surcharge_cents: Money,
    #[schema(value_type = i64)]
    pub total_cents: Money,
    pub computed_on: NaiveDate,
    pub declarant_account_id: String,
    pub payment_id: String,
    #[schema(required)]
    pub payment_ref: Option<String>,
    pub filed_at: DateTime<Utc>,
    #[schema(required)]
    pub paid_at: Option<DateTime<Utc>>,
    /// `payment_declined`, `payment_cancelled`, `payment_expired` or `payment_error`.
    #[schema(required)]
    pub rejected_reason: Option<String>,
    #[schema(required)]
    pub rejected_detail: Option<String>,
    #[schema(required)]
    pub rejected_at: Option<DateTime<Utc>>,
    /// Whether the revenue system recorded the payment: `pending`, `notified`, `refused`.
    pub revenue_system: String,
    #[schema(required)]
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

/// A business's declarations, the latest filed first, a page at a time (keyset: filing
/// time, id).
pub async fn page_for_afm(
    pool: &PgPool,
    afm: &str,
    page: &PageRequest,
) -> Result<Paged<DeclarationRow>, sqlx::Error> {
    let after = page.after.as_ref();
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tax_declarations WHERE afm = $1 \
           AND ($2::timestamptz IS NULL OR (filed_at, id) < ($2, $3)) \
         ORDER BY filed_at DESC, id DESC LIMIT $4"
    ))
    .bind(afm)
    .bind(after.and_then(|c| c.time(0)))
    .bind(after.and_then(|c| c.text(1)))
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(Paged::from_rows(rows, page.limit, |d: &DeclarationRow| {
        Cursor(vec![Cursor::at(&d.filed_at), d.id.clone()])
    }))
}

/// One filing of a period, as the business's history shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Filing)]
pub struct FilingRow {
    pub declaration_id: String,
    pub filing_number: i32,
    pub afm: String,
    pub period_key: String,
    pub payment_id: String,
    #[schema(value_type = i64)]
    pub total_cents: Money,
    pub status: String,
    #[schema(required)]
    pub payment_ref: Option<String>,
    #[schema(required)]
    pub rejected_reason: Option<String>,
    pub filed_at: DateTime<Utc>,
    #[schema(required)]
    pub settled_at: Option<DateTime<Utc>>,
}

const FILING_COLUMNS: &str = "declaration_id, filing_number, afm, period_key, payment_id, \
    total_cents, status, payment_ref, rejected_reason, filed_at, settled_at";

/// The filings of the declarations `ids`, newest first.
pub async fn filings_of_many(pool: &PgPool, ids: &[String]) -> Result<Vec<FilingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {FILING_COLUMNS} FROM tax_declaration_filings WHERE declaration_id = ANY($1) \
         ORDER BY filed_at DESC, declaration_id, filing_number DESC"
    ))
    .bind(ids)
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
