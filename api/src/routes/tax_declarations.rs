//! «Δήλωση και Πληρωμή Δημοτικού Φόρου» (S13) in the JSON API: the assessment of a
//! declaration, filing it together with its payment, and the business's declarations
//! (the use cases are `commands::tax_declarations`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::declarations::{self as read, DeclarationRow, FilingRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::http::{wait_for_own_writes, RequestContext};
use crate::i18n::{self, Lang};
use crate::AppState;
use commands::tax_declarations::{
    self as declarations, AssessmentView, DeclarationForm, FileError,
};

/// `POST /api/v1/business/declarations/assess`: the tax and surcharges of a declaration as
/// the revenue system computes them today (nothing is filed).
#[utoipa::path(
    post,
    path = "/api/v1/business/declarations/assess",
    operation_id = "assessTaxDeclaration",
    tag = "business-declarations",
    summary = "The tax and surcharges of a declaration as the revenue system computes them today (nothing is filed)",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = DeclarationForm),
    responses(
        (status = 200, description = "`{declaration_id, assessment_id, afm, company_name, period: {filing, number, year, key, label_el, label_en}, gross_revenue_cents, vat_return_date, category: {code, name_el, name_en}, rate_basis_points, tax_cents, deadline, months_late, surcharge_basis_points, surcharge_cents, total_cents, computed_on}`", body = AssessmentView),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required`, `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` (fields: `filing`, `period`, `year`, `gross_revenue`, `vat_return_date`), `filing_mismatch`, `period_not_ended`, `period_already_declared`, `afm_not_registered`, `revenue_rejected`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "`revenue_system_unavailable`", body = crate::error::ErrorBody),
    )
)]
pub async fn assess(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(form): ApiJson<DeclarationForm>,
) -> Result<Json<AssessmentView>, ApiError> {
    let (business, assessment) = declarations::assess(&state, &user.actor(), &form).await?;
    Ok(Json(AssessmentView::of(
        &assessment,
        &business.company_name,
    )))
}

/// The declaration as assessed, and the total the user was shown (the form's fields as in
/// `assess`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    #[serde(default, deserialize_with = "commands::tax_declarations::text")]
    #[schema(pattern = "^(monthly|quarterly)$")]
    pub filing: String,
    #[serde(default, deserialize_with = "commands::tax_declarations::text")]
    #[schema(schema_with = commands::tax_declarations::text_or_number)]
    pub period: String,
    #[serde(default, deserialize_with = "commands::tax_declarations::text")]
    #[schema(schema_with = commands::tax_declarations::text_or_number)]
    pub year: String,
    #[serde(default, deserialize_with = "commands::tax_declarations::amount_text")]
    #[schema(schema_with = commands::tax_declarations::text_or_number)]
    pub gross_revenue: String,
    #[serde(default, deserialize_with = "commands::tax_declarations::text")]
    #[schema(format = Date)]
    pub vat_return_date: String,
    /// The total the user was shown (from the assessment).
    #[schema(value_type = i64)]
    pub expected_total_cents: domain::Money,
}

/// A declaration filed and its payment started: where to send the payer.
#[derive(Serialize, ToSchema)]
pub struct DeclarationFiled {
    declaration_id: String,
    payment_id: String,
    #[schema(value_type = i64, minimum = 1)]
    amount_cents: domain::money::Money,
    form: super::payments::BankRedirect,
}

/// The total changed since the user saw it: the error, and the new assessment.
#[derive(Serialize, ToSchema)]
pub struct AssessmentChanged {
    error: crate::error::ErrorDetails,
    assessment: AssessmentView,
}

/// What a 409 of a filing answers: the total changed (with the new assessment), or the
/// plain error body (`conflict`, `idempotency_key_in_progress`). Documentation only.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum FilingConflict {
    Changed(Box<AssessmentChanged>),
    Other(crate::error::ErrorBody),
}

/// A declaration with its labels and its filings.
#[derive(Serialize, ToSchema)]
#[schema(as = Declaration)]
pub struct LabelledDeclaration {
    #[serde(flatten)]
    declaration: DeclarationRow,
    /// The status in the reader's language.
    status_label: String,
    /// Why it was rejected, in the reader's language; only when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected_reason_label: Option<String>,
    /// Its filings, newest first, each with its status in the reader's language.
    filings_history: Vec<LabelledFiling>,
}

/// A filing with its status in the reader's language.
#[derive(Serialize, ToSchema)]
pub struct LabelledFiling {
    #[serde(flatten)]
    filing: FilingRow,
    status_label: String,
}

/// A page of the business's declarations.
#[derive(Serialize, ToSchema)]
pub struct Declarations {
    afm: String,
    company_name: String,
    /// One per period, latest filed first.
    items: Vec<LabelledDeclaration>,
    /// The filings of the declarations in `items`, newest first.
    filings: Vec<FilingRow>,
    /// The `after` of the next page; `null` on the last.
    #[schema(required)]
    next: Option<String>,
}

impl FileBody {
    fn form(&self) -> DeclarationForm {
        DeclarationForm {
            filing: self.filing.clone(),
            period: self.period.clone(),
            year: self.year.clone(),
            gross_revenue: self.gross_revenue.clone(),
            vat_return_date: self.vat_return_date.clone(),
        }
    }
}

/// The answer to a total that changed since the user saw it: 409 with the new assessment.
pub fn assessment_changed(
    assessment: &domain::business::TaxAssessment,
    company_name: &str,
    lang: Lang,
) -> Response {
    (
        StatusCode::CONFLICT,
        Json(AssessmentChanged {
            error: crate::error::ErrorBody::new(lang, "assessment_changed", &[], None).error,
            assessment: AssessmentView::of(assessment, company_name),
        }),
    )
        .into_response()
}

/// `POST /api/v1/business/declarations`: files the declaration and starts its payment;
/// answers 201 with the declaration, the payment and the bank form (its fields as
/// `[name, value]` pairs).
#[utoipa::path(
    post,
    path = "/api/v1/business/declarations",
    operation_id = "fileTaxDeclaration",
    tag = "business-declarations",
    summary = "Files the declaration (assessed again) and starts its payment; answers the bank form",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId, crate::openapi::IdempotencyKey),
    request_body(content = FileBody),
    responses(
        (status = 201, description = "`{declaration_id, payment_id, amount_cents, form: {method: POST, action, fields: [[name, value]]}}`", body = DeclarationFiled),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required`, `forbidden`, `profile_incomplete` (fields name the missing details)", body = crate::error::ErrorBody),
        (status = 409, description = "`assessment_changed` with the new assessment in `assessment`, or `conflict`", body = FilingConflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "the refusals of assess, `declaration_in_progress`, `declaration_nothing_to_pay`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "`revenue_system_unavailable`", body = crate::error::ErrorBody),
    )
)]
pub async fn file(
    State(state): State<AppState>,
    context: RequestContext,
    user: CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FileBody>,
) -> Result<Response, ApiError> {
    let lang = Lang::from_headers(&headers);
    match declarations::file_and_pay(
        &state,
        &user.actor(),
        &body.form(),
        body.expected_total_cents,
        lang.code(),
        i18n::declaration_payment_description,
        context.metadata(Some(&user)),
    )
    .await
    {
        Ok(started) => Ok((
            StatusCode::CREATED,
            Json(DeclarationFiled {
                declaration_id: started.declaration_id,
                payment_id: started.payment_id,
                amount_cents: started.amount_cents,
                form: super::payments::BankRedirect::of(started.form),
            }),
        )
            .into_response()),
        Err(FileError::AssessmentChanged(assessment, company)) => {
            Ok(assessment_changed(&assessment, &company, lang))
        }
        Err(FileError::Refused(e)) => Err(e.into()),
    }
}

/// A declaration as the API shows it, with its labels in the reader's language.
pub fn declaration_json(
    row: &DeclarationRow,
    filings: &[FilingRow],
    lang: Lang,
) -> LabelledDeclaration {
    LabelledDeclaration {
        status_label: i18n::message(lang, &format!("declaration_status_{}", row.status)),
        rejected_reason_label: row
            .rejected_reason
            .as_ref()
            .map(|reason| i18n::message(lang, &format!("declaration_rejected_{reason}"))),
        filings_history: filings
            .iter()
            .map(|f| LabelledFiling {
                status_label: i18n::message(lang, &format!("declaration_status_{}", f.status)),
                filing: f.clone(),
            })
            .collect(),
        declaration: row.clone(),
    }
}

/// `GET /api/v1/business/declarations?after=&limit=`: the business's declarations, one per
/// period, latest filed first, a page at a time (`items`, `next`: the `after` of the next
/// page), and the filings of those declarations with their status, newest first
/// (`filings`).
#[utoipa::path(
    get,
    path = "/api/v1/business/declarations",
    operation_id = "listTaxDeclarations",
    tag = "business-declarations",
    summary = "The business's declarations (one per period, latest filed first), a page at a time, and the filings of those declarations (newest first)",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(super::requests::ListQuery, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "`{afm, company_name, items: [declaration], filings: [filing], next}`: `filings` are those of the declarations in `items`; `next` is the `after` of the next page, `null` on the last", body = Declarations),
        (status = 400, description = "`limit_out_of_range` or `cursor_invalid` (an `after` this list did not hand out).", body = crate::error::ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required`, `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<super::requests::ListQuery>,
) -> Result<Json<Declarations>, ApiError> {
    let page = crate::http::page_request(
        query.after.as_deref(),
        query.limit,
        projections::paging::TIME_THEN_TEXT,
    )?;
    let business = commands::business::certified_business(&state, &user.actor()).await?;
    wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::DECLARATION_READS,
    )
    .await?;
    let lang = Lang::from_headers(&headers);
    let rows = read::page_for_afm(&state.pool, &business.afm, &page).await?;
    let ids: Vec<String> = rows.items.iter().map(|r| r.id.clone()).collect();
    let filings = read::filings_of_many(&state.pool, &ids).await?;
    let items = rows
        .items
        .iter()
        .map(|r| {
            let mine: Vec<FilingRow> = filings
                .iter()
                .filter(|f| f.declaration_id == r.id)
                .cloned()
                .collect();
            declaration_json(r, &mine, lang)
        })
        .collect();
    Ok(Json(Declarations {
        afm: business.afm,
        company_name: business.company_name,
        items,
        filings,
        next: rows.next,
    }))
}

/// `GET /api/v1/business/declarations/{id}`: one declaration of the business (404 for any
/// other business's).
#[utoipa::path(
    get,
    path = "/api/v1/business/declarations/{id}",
    operation_id = "getTaxDeclaration",
    tag = "business-declarations",
    summary = "One declaration of the business, with its filings",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(("id" = String, Path, description = "`{afm}-{period key}`, e.g. `094259216-2026-Q1`"), crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The declaration: status `awaiting_payment|paid|rejected`, the latest filing's breakdown, `payment_ref`, `rejected_reason`, `revenue_system`, `filings_history`", body = LabelledDeclaration),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required`, `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 404, description = "`declaration_not_found`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<LabelledDeclaration>, ApiError> {
    let business = commands::business::certified_business(&state, &user.actor()).await?;
    wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::DECLARATION_READS,
    )
    .await?;
    let row = crate::reads::declaration_of(&state, &business, &id).await?;
    let filings = read::filings_of(&state.pool, &row.id).await?;
    Ok(Json(declaration_json(
        &row,
        &filings,
        Lang::from_headers(&headers),
    )))
}
