//! «Εγκεκριμένες Πληρωμές» (S12) in the JSON API: the warrants of the business the user
//! represents, as JSON or as a CSV download (see `crate::warrants`).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::i18n::Lang;
use crate::AppState;
use commands::warrants::{self, Sorting};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WarrantsQuery {
    /// `issued_on` (the default), `number`, `amount` or `status`; empty means the default,
    /// as an HTML form sends it.
    #[param(pattern = r"^(issued_on|number|amount|status)?$")]
    sort: Option<String>,
    /// `asc` or `desc`; the default is `desc` for issued_on and amount, `asc` for number and
    /// status; empty means the default.
    #[param(pattern = r"^(asc|desc)?$")]
    order: Option<String>,
}

impl WarrantsQuery {
    fn sorting(&self) -> Result<Sorting, ApiError> {
        Ok(Sorting::parse(self.sort.as_deref(), self.order.as_deref())?)
    }
}

/// `GET /api/v1/business/warrants?sort=issued_on|number|amount|status&order=asc|desc`:
/// every warrant issued to the business's ΑΦΜ, asked of the financial system now, with
/// totals. Never cached.
#[utoipa::path(
    get,
    path = "/api/v1/business/warrants",
    operation_id = "listBusinessWarrants",
    tag = "business-warrants",
    summary = "«Εγκεκριμένες Πληρωμές»: every warrant the municipality issued to the business's ΑΦΜ, from the financial system now, sorted, with totals",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(WarrantsQuery, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The warrants; `Cache-Control: no-store`.", body = crate::warrants::Warrants),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required` or `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 422, description = "`financial_system_rejected`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "`financial_system_unavailable`: no data, nothing cached", body = crate::error::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<WarrantsQuery>,
) -> Result<Response, ApiError> {
    let sorting = query.sorting()?;
    let list = warrants::list(&state, &user.actor(), sorting).await?;
    let lang = Lang::from_headers(&headers);
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(crate::warrants::to_json(&list, lang)),
    )
        .into_response())
}

/// `GET /api/v1/business/warrants.csv?sort=…&order=…`: the same list as a CSV for Greek
/// Excel (UTF-8 with BOM, `;`, decimal comma), as an attachment.
#[utoipa::path(
    get,
    path = "/api/v1/business/warrants.csv",
    operation_id = "downloadBusinessWarrantsCsv",
    tag = "business-warrants",
    summary = "The same list as a CSV for Greek Excel (UTF-8 with BOM, `;`, decimal comma, Greek header), as an attachment",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(WarrantsQuery, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "`Content-Disposition: attachment; filename=\"warrants-{afm}-{YYYY-MM-DD}.csv\"`", body = String, content_type = "text/csv"),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required` or `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 422, description = "`financial_system_rejected`", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "`financial_system_unavailable`: no data, nothing cached", body = crate::error::ErrorBody),
    )
)]
pub async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<WarrantsQuery>,
) -> Result<Response, ApiError> {
    let sorting = query.sorting()?;
    let list = warrants::list(&state, &user.actor(), sorting).await?;
    Ok(crate::warrants::csv_response(&list))
}
