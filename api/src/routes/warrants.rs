//! «Εγκεκριμένες Πληρωμές» (S12) in the JSON API: the warrants of the business the user
//! represents, as JSON or as a CSV download (see `crate::warrants`).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::i18n::Lang;
use crate::AppState;
use commands::warrants::{self, Sorting};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarrantsQuery {
    sort: Option<String>,
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
pub async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<WarrantsQuery>,
) -> Result<Response, ApiError> {
    let sorting = query.sorting()?;
    let list = warrants::list(&state, &user.actor(), sorting).await?;
    Ok(crate::warrants::csv_response(&list))
}
