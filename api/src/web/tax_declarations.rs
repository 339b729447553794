//! «Δήλωση και Πληρωμή Δημοτικού Φόρου» (S13): the declaration form, the breakdown the
//! revenue system computed with «Υποβολή δήλωσης και πληρωμή», the page that holds the
//! bank's form, the declaration's page after the bank (paid with its receipt, or rejected
//! with the reason and a «Νέα υποβολή» link filled in) and the business's declarations.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use domain::business::TaxAssessment;
use domain::certification::Business;
use projections::declarations::{self as read, DeclarationRow, FilingRow};
use serde::Deserialize;

use super::bank::bank_form_page;
use super::business::business_required;
use super::cases::error_page;
use super::certificates::applicant;
use super::{render, FormState, Page};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::AppState;
use commands::tax_declarations::{self as declarations, DeclarationForm, FileError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/business/declarations", get(list_page).post(file))
        .route("/business/declarations/new", get(new_form).post(assess))
        .route("/business/declarations/{id}", get(declaration_page))
}

#[derive(Deserialize, Default)]
struct DeclarationFields {
    #[serde(default)]
    filing: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    gross_revenue: String,
    #[serde(default)]
    vat_return_date: String,
}

impl DeclarationFields {
    fn form(&self) -> DeclarationForm {
        DeclarationForm {
            filing: self.filing.clone(),
            period: self.period.clone(),
            year: self.year.clone(),
            gross_revenue: self.gross_revenue.clone(),
            vat_return_date: self.vat_return_date.clone(),
        }
    }

    fn values(&self) -> FormState {
        FormState::with_values([
            ("filing", self.filing.as_str()),
            ("period", self.period.as_str()),
            ("year", self.year.as_str()),
            ("gross_revenue", self.gross_revenue.as_str()),
            ("vat_return_date", self.vat_return_date.as_str()),
        ])
    }
}

// ---------------------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "declaration_new.html")]
struct NewPage {
    p: Page,
    form: FormState,
    business: Business,
}

/// The user, if a certified business's representative; the page to show otherwise.
async fn representative(
    state: &AppState,
    p: &Page,
) -> Result<(CurrentUser, Business), Box<Response>> {
    let user = applicant(p)?;
    match commands::business::certified_business(state, &user.actor())
        .await
        .map_err(ApiError::from)
    {
        Ok(business) => Ok((user, business)),
        Err(e) => Err(Box::new(
            business_required(state, p.clone(), &user, e).await,
        )),
    }
}

fn form_page(p: Page, form: FormState, business: Business, status: StatusCode) -> Response {
    let mut response = render(&NewPage { p, form, business });
    *response.status_mut() = status;
    response
}

/// `GET /business/declarations/new`: the form (filled from the query, for «Νέα υποβολή»).
async fn new_form(
    State(state): State<AppState>,
    p: Page,
    Query(fields): Query<DeclarationFields>,
) -> Response {
    let (_, business) = match representative(&state, &p).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    form_page(p, fields.values(), business, StatusCode::OK)
}

// ---------------------------------------------------------------------------------------
// The breakdown
// ---------------------------------------------------------------------------------------

/// An assessment as the breakdown shows it.
struct AssessmentView {
    period_label: String,
    company_name: String,
    afm: String,
    category: String,
    gross_revenue: String,
    vat_return_date: String,
    rate: String,
    tax: String,
    deadline: String,
    months_late: u32,
    surcharge_rate: String,
    surcharge: String,
    total: String,
    computed_on: String,
}

impl AssessmentView {
    fn new(p: &Page, a: &TaxAssessment, company_name: &str) -> Self {
        let en = p.lang == crate::i18n::Lang::En;
        Self {
            period_label: if en {
                a.period.label_en()
            } else {
                a.period.label_el()
            },
            company_name: company_name.to_string(),
            afm: a.afm.clone(),
            category: if en {
                a.category_name_en.clone()
            } else {
                a.category_name_el.clone()
            },
            gross_revenue: a.gross_revenue_cents.to_string(),
            vat_return_date: p.day(&a.vat_return_date),
            rate: percent(a.rate_basis_points),
            tax: a.tax_cents.to_string(),
            deadline: p.day(&a.deadline),
            months_late: a.months_late,
            surcharge_rate: percent(a.surcharge_basis_points),
            surcharge: a.surcharge_cents.to_string(),
            total: a.total_cents.to_string(),
            computed_on: p.day(&a.computed_on),
        }
    }
}

#[derive(Template)]
#[template(path = "declaration_review.html")]
struct ReviewPage {
    p: Page,
    a: AssessmentView,
    /// The form's values, canonical, as hidden fields.
    hidden: Vec<(String, String)>,
    /// The amount changed since the user last saw it.
    changed: bool,
    /// A refusal to show above the button (e.g. an incomplete profile).
    problem: Option<String>,
    /// The profile details still to fill in (labels).
    missing: Vec<String>,
    /// The profile, returning to the declaration's form filled in as it was.
    profile_href: String,
}

fn hidden_fields(a: &TaxAssessment) -> Vec<(String, String)> {
    vec![
        ("filing".into(), a.period.filing.as_str().into()),
        ("period".into(), a.period.number.to_string()),
        ("year".into(), a.period.year.to_string()),
        (
            "gross_revenue".into(),
            a.gross_revenue_cents.to_decimal_comma_string(),
        ),
        (
            "vat_return_date".into(),
            a.vat_return_date.format("%Y-%m-%d").to_string(),
        ),
        (
            "expected_total_cents".into(),
            a.total_cents.cents().to_string(),
        ),
    ]
}

fn review_page(
    p: Page,
    a: &TaxAssessment,
    company_name: &str,
    changed: bool,
    problem: Option<String>,
    missing: Vec<String>,
) -> Response {
    let hidden = hidden_fields(a);
    // The form's own fields (not the total the breakdown showed): the form takes them.
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            hidden
                .iter()
                .filter(|(name, _)| name != "expected_total_cents"),
        )
        .finish();
    render(&ReviewPage {
        a: AssessmentView::new(&p, a, company_name),
        profile_href: super::profile_detour(&format!("/business/declarations/new?{query}")),
        hidden,
        changed,
        problem,
        missing,
        p,
    })
}

/// What the form shows for an error of the assessment: field messages, or a general one.
fn form_error(
    p: Page,
    business: Business,
    fields: &DeclarationFields,
    error: ApiError,
) -> Result<Response, ApiError> {
    let mut form = fields.values();
    match &error {
        ApiError::Validation(_) => form.absorb(p.lang, &error),
        ApiError::RefusedFields(refusal, errors) => {
            for e in errors {
                form.add_error(p.lang, e);
            }
            if errors.is_empty() {
                form.absorb(p.lang, &ApiError::Refused(refusal.clone()));
            }
        }
        ApiError::Refused(_) => form.absorb(p.lang, &error),
        _ => return Err(error),
    }
    Ok(form_page(p, form, business, error.status()))
}

/// `POST /business/declarations/new`: the revenue system's breakdown, or the form again.
async fn assess(
    State(state): State<AppState>,
    p: Page,
    Form(fields): Form<DeclarationFields>,
) -> Response {
    let (user, business) = match representative(&state, &p).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    match declarations::assess(&state, &user.actor(), &fields.form())
        .await
        .map_err(ApiError::from)
    {
        Ok((business, assessment)) => review_page(
            p,
            &assessment,
            &business.company_name,
            false,
            None,
            Vec::new(),
        ),
        Err(e) if e.is_certification_refusal() => business_required(&state, p, &user, e).await,
        Err(e) => match form_error(p.clone(), business, &fields, e) {
            Ok(response) => response,
            Err(e) => error_page(p, e),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Filing and paying
// ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct FileFields {
    #[serde(flatten)]
    declaration: DeclarationFields,
    #[serde(default)]
    expected_total_cents: String,
}

/// `POST /business/declarations`: files the declaration and starts its payment; answers
/// the page that holds the bank's form.
async fn file(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Form(f): Form<FileFields>,
) -> Response {
    let (user, business) = match representative(&state, &p).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let fields = &f.declaration;
    // A tampered or missing total is a changed one: the breakdown is shown again.
    let expected =
        domain::Money::from_cents(f.expected_total_cents.trim().parse::<i64>().unwrap_or(-1));
    let result = declarations::file_and_pay(
        &state,
        &user.actor(),
        &fields.form(),
        expected,
        p.lang.code(),
        crate::i18n::declaration_payment_description,
        context.metadata(Some(&user)),
    )
    .await
    .map_err(|e| match e {
        FileError::Refused(e) => Filed::Refused(e.into()),
        FileError::AssessmentChanged(a, company) => Filed::AssessmentChanged(a, company),
    });
    match result {
        Ok(started) => bank_form_page(p, started.form, started.amount_cents),
        Err(Filed::AssessmentChanged(assessment, company)) => {
            let mut response = review_page(p, &assessment, &company, true, None, Vec::new());
            *response.status_mut() = StatusCode::CONFLICT;
            response
        }
        Err(Filed::Refused(ApiError::RefusedFields(refusal, missing)))
            if refusal.code == "profile_incomplete" =>
        {
            // Show the breakdown again, with what the profile lacks.
            match declarations::assess(&state, &user.actor(), &fields.form())
                .await
                .map_err(ApiError::from)
            {
                Ok((business, assessment)) => {
                    let labels = missing
                        .iter()
                        .map(|f| p.t(&format!("ui_field_{}", f.field)))
                        .collect();
                    let problem = Some(p.t("ui_declaration_profile_incomplete"));
                    let mut response = review_page(
                        p,
                        &assessment,
                        &business.company_name,
                        false,
                        problem,
                        labels,
                    );
                    *response.status_mut() = StatusCode::FORBIDDEN;
                    response
                }
                Err(e) => error_page(p, e),
            }
        }
        Err(Filed::Refused(e)) if e.is_certification_refusal() => {
            business_required(&state, p, &user, e).await
        }
        Err(Filed::Refused(e)) => match form_error(p.clone(), business, fields, e) {
            Ok(response) => response,
            Err(e) => error_page(p, e),
        },
    }
}

/// How filing ended, as this page shows it.
enum Filed {
    AssessmentChanged(Box<domain::business::TaxAssessment>, String),
    Refused(ApiError),
}

// ---------------------------------------------------------------------------------------
// A declaration, and the list
// ---------------------------------------------------------------------------------------

struct FilingView {
    number: i32,
    filed_at: String,
    total: String,
    status: String,
    status_label: String,
    reason: Option<String>,
    payment_ref: Option<String>,
    payment_id: String,
}

fn filing_views(p: &Page, filings: &[FilingRow]) -> Vec<FilingView> {
    filings
        .iter()
        .map(|f| FilingView {
            number: f.filing_number,
            filed_at: p.datetime(&f.filed_at),
            total: f.total_cents.to_string(),
            status_label: p.t(&format!("declaration_status_{}", f.status)),
            status: f.status.clone(),
            reason: f
                .rejected_reason
                .as_ref()
                .map(|r| p.t(&format!("declaration_rejected_{r}"))),
            payment_ref: f.payment_ref.clone(),
            payment_id: f.payment_id.clone(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "declaration.html")]
struct DeclarationPage {
    p: Page,
    d: DeclarationRow,
    period_label: String,
    category: String,
    gross_revenue: String,
    rate: String,
    tax: String,
    surcharge_rate: String,
    surcharge: String,
    total: String,
    status_label: String,
    reason: Option<String>,
    filings: Vec<FilingView>,
    /// «Νέα υποβολή», filled in, for a rejected declaration.
    again_href: Option<String>,
}

fn period_label(p: &Page, row: &DeclarationRow) -> String {
    let filing = match row.filing.as_str() {
        "monthly" => domain::business::Filing::Monthly,
        _ => domain::business::Filing::Quarterly,
    };
    match domain::business::TaxPeriod::new(filing, row.period_number as u32, row.year) {
        Ok(period) if p.lang == crate::i18n::Lang::En => period.label_en(),
        Ok(period) => period.label_el(),
        Err(_) => row.period_key.clone(),
    }
}

fn again_href(row: &DeclarationRow) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("filing", row.filing.as_str()),
            ("period", &row.period_number.to_string()),
            ("year", &row.year.to_string()),
            (
                "gross_revenue",
                &row.gross_revenue_cents.to_decimal_comma_string(),
            ),
            (
                "vat_return_date",
                &row.vat_return_date.format("%Y-%m-%d").to_string(),
            ),
        ])
        .finish();
    format!("/business/declarations/new?{query}")
}

/// `GET /business/declarations/{id}`: where the bank's return lands.
async fn declaration_page(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (user, business) = match representative(&state, &p).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if let Err(e) = crate::http::wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::DECLARATION_READS,
    )
    .await
    {
        return error_page(p, e);
    }
    let mut row = match crate::reads::declaration_of(&state, &business, &id).await {
        Ok(row) => row,
        Err(e) => return error_page(p, e),
    };
    if row.status == "awaiting_payment" {
        // Back from the bank: apply the payment's outcome now if it has one.
        let settled = declarations::settle_now(&state.portal, &row.payment_id)
            .await
            .map_err(ApiError::from);
        if let Err(e) = settled
            .and(crate::http::wait_for_log_head(&state, projections::DECLARATION_READS).await)
        {
            return error_page(p, e);
        }
        row = match crate::reads::declaration_of(&state, &business, &id).await {
            Ok(row) => row,
            Err(e) => return error_page(p, e),
        };
    }
    let filings = match read::filings_of(&state.pool, &row.id).await {
        Ok(f) => filing_views(&p, &f),
        Err(e) => return error_page(p, e.into()),
    };
    let en = p.lang == crate::i18n::Lang::En;
    render(&DeclarationPage {
        period_label: period_label(&p, &row),
        category: if en {
            row.category_name_en.clone()
        } else {
            row.category_name_el.clone()
        },
        gross_revenue: row.gross_revenue_cents.to_string(),
        rate: percent(row.rate_basis_points as u32),
        tax: row.tax_cents.to_string(),
        surcharge_rate: percent(row.surcharge_basis_points as u32),
        surcharge: row.surcharge_cents.to_string(),
        total: row.total_cents.to_string(),
        status_label: p.t(&format!("declaration_status_{}", row.status)),
        reason: row
            .rejected_reason
            .as_ref()
            .map(|r| p.t(&format!("declaration_rejected_{r}"))),
        again_href: (row.status == "rejected").then(|| again_href(&row)),
        filings,
        d: row,
        p,
    })
}

struct ListRow {
    id: String,
    period_label: String,
    filed_at: String,
    total: String,
    status: String,
    status_label: String,
    reason: Option<String>,
}

#[derive(Template)]
#[template(path = "declarations_list.html")]
struct ListPage {
    p: Page,
    business: Business,
    rows: Vec<ListRow>,
}

/// `GET /business/declarations`: the business's declarations, latest filed first.
async fn list_page(State(state): State<AppState>, p: Page, headers: HeaderMap) -> Response {
    let (user, business) = match representative(&state, &p).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if let Err(e) = crate::http::wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::DECLARATION_READS,
    )
    .await
    {
        return error_page(p, e);
    }
    let rows = match read::list_for_afm(&state.pool, &business.afm).await {
        Ok(rows) => rows,
        Err(e) => return error_page(p, e.into()),
    };
    let rows = rows
        .iter()
        .map(|r| ListRow {
            id: r.id.clone(),
            period_label: period_label(&p, r),
            filed_at: p.datetime(&r.filed_at),
            total: r.total_cents.to_string(),
            status: r.status.clone(),
            status_label: p.t(&format!("declaration_status_{}", r.status)),
            reason: r
                .rejected_reason
                .as_ref()
                .map(|reason| p.t(&format!("declaration_rejected_{reason}"))),
        })
        .collect();
    render(&ListPage { p, business, rows })
}

/// The bank's return of a declaration's payment: its outcome applied at once, then the
/// declaration's page.
pub async fn after_bank(state: &AppState, payment_id: &str, declaration_id: &str) -> Response {
    if let Err(e) = declarations::settle_now(&state.portal, payment_id).await {
        tracing::warn!(payment = %payment_id, error = %e,
            "the declaration's outcome could not be applied at the return; the worker will");
    }
    Redirect::to(&format!("/business/declarations/{declaration_id}")).into_response()
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

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_read_in_greek() {
        assert_eq!(percent(50), "0,5 %");
        assert_eq!(percent(200), "2 %");
        assert_eq!(percent(10_000), "100 %");
        assert_eq!(percent(125), "1,25 %");
    }
}
