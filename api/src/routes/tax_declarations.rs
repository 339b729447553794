//! «Δήλωση και Πληρωμή Δημοτικού Φόρου» (S13) in the JSON API: the assessment of a
//! declaration, filing it together with its payment, and the business's declarations
//! (the use cases are `commands::tax_declarations`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::declarations::{self as read, DeclarationRow, FilingRow};
use serde::Deserialize;
use serde_json::{json, Value};

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
pub async fn assess(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(form): ApiJson<DeclarationForm>,
) -> Result<Json<Value>, ApiError> {
    let (business, assessment) = declarations::assess(&state, &user.actor(), &form).await?;
    Ok(Json(json!(AssessmentView::of(
        &assessment,
        &business.company_name
    ))))
}

/// The declaration as assessed, and the total the user was shown.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    #[serde(default, deserialize_with = "commands::tax_declarations::text")]
    pub filing: String,
    #[serde(default, deserialize_with = "commands::tax_declarations::text")]
    pub period: String,
    #[serde(default, deserialize_with = "commands::tax_declarations::text")]
    pub year: String,
    #[serde(default, deserialize_with = "commands::tax_declarations::amount_text")]
    pub gross_revenue: String,
    #[serde(default, deserialize_with = "commands::tax_declarations::text")]
    pub vat_return_date: String,
    pub expected_total_cents: domain::Money,
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
        Json(json!({
            "error": {
                "code": "assessment_changed",
                "message": i18n::message(lang, "assessment_changed"),
                "fields": [],
            },
            "assessment": AssessmentView::of(assessment, company_name),
        })),
    )
        .into_response()
}

/// `POST /api/v1/business/declarations`: files the declaration and starts its payment;
/// answers 201 with the declaration, the payment and the bank form (its fields as
/// `[name, value]` pairs).
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
            Json(json!({
                "declaration_id": started.declaration_id,
                "payment_id": started.payment_id,
                "amount_cents": started.amount_cents,
                "form": {"method": "POST", "action": started.form.action, "fields": started.form.fields},
            })),
        )
            .into_response()),
        Err(FileError::AssessmentChanged(assessment, company)) => {
            Ok(assessment_changed(&assessment, &company, lang))
        }
        Err(FileError::Refused(e)) => Err(e.into()),
    }
}

/// A declaration as the API shows it, with its labels in the reader's language.
pub fn declaration_json(row: &DeclarationRow, filings: &[FilingRow], lang: Lang) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    value["status_label"] =
        i18n::message(lang, &format!("declaration_status_{}", row.status)).into();
    if let Some(reason) = &row.rejected_reason {
        value["rejected_reason_label"] =
            i18n::message(lang, &format!("declaration_rejected_{reason}")).into();
    }
    value["filings_history"] = filings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            v["status_label"] =
                i18n::message(lang, &format!("declaration_status_{}", f.status)).into();
            v
        })
        .collect::<Vec<_>>()
        .into();
    value
}

/// `GET /api/v1/business/declarations?after=&limit=`: the business's declarations, one per
/// period, latest filed first, a page at a time (`items`, `next`: the `after` of the next
/// page), and the filings of those declarations with their status, newest first
/// (`filings`).
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<super::requests::ListQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let items: Vec<Value> = rows
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
    Ok(Json(json!({
        "afm": business.afm,
        "company_name": business.company_name,
        "items": items,
        "filings": filings,
        "next": rows.next,
    })))
}

/// `GET /api/v1/business/declarations/{id}`: one declaration of the business (404 for any
/// other business's).
pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
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
