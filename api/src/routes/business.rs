//! The business services' own JSON endpoints (the precondition and the business's
//! history); the services themselves are in `warrants`, `tax_declarations`, `tax_debts`.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::http::page_request;
use crate::AppState;
use commands::business::certified_business;

/// A business a user represents.
#[derive(Serialize, ToSchema)]
pub struct Business {
    company_name: String,
    #[schema(pattern = r"^[0-9]{9}$")]
    afm: String,
}

impl Business {
    pub fn new(company_name: String, afm: String) -> Self {
        Business { company_name, afm }
    }
}

/// A business's history, each list a page at a time.
#[derive(Serialize, ToSchema)]
pub struct BusinessHistory {
    business: Business,
    /// A page of every event of the business's declarations and certified debts, newest
    /// first.
    timeline: Vec<projections::business::TimelineEntry>,
    /// The `after` of the timeline's next page; `null` on the last.
    #[schema(required)]
    next: Option<String>,
    /// A page of its payments of declarations and debts, newest first.
    payments: Vec<projections::business::BusinessPayment>,
    /// The `payments_after` of the payments' next page; `null` on the last.
    #[schema(required)]
    payments_next: Option<String>,
}

/// `GET /api/v1/business`: the business the user represents (or the 403 that says what is
/// missing).
#[utoipa::path(
    get,
    path = "/api/v1/business",
    operation_id = "myBusiness",
    tag = "business",
    summary = "The business the user represents",
    description = "The precondition of every business service: a citizen whose certification stands and names a business.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The business.", body = Business),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required` or `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn me(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Business>, ApiError> {
    let business = certified_business(&state, &user.actor()).await?;
    Ok(Json(Business {
        company_name: business.company_name,
        afm: business.afm,
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    limit: Option<i64>,
    /// The timeline's cursor (`next` of the page before).
    after: Option<String>,
    /// The payments' cursor (`payments_next` of the page before).
    payments_after: Option<String>,
}

/// `GET /api/v1/business/history?limit=&after=&payments_after=`: the business's timeline
/// (every event of its declarations and debts, newest first) and its payments (receipts,
/// newest first), each a page at a time by its own cursor (`next`, `payments_next`).
#[utoipa::path(
    get,
    path = "/api/v1/business/history",
    operation_id = "businessHistory",
    tag = "business",
    summary = "The business's timeline and payments, each a page at a time",
    description = "Read from the event log itself (what an auditor sees) through the business_timeline read model, after it reaches the head of the log. The timeline (by `after`, answering `next`) and the payments (by `payments_after`, answering `payments_next`) page independently; `limit` is the size of both pages.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::Limit, crate::openapi::After, ("payments_after" = Option<String>, Query, description = "Keyset paging of `payments`: the `payments_next` of the previous page (opaque). Absent: the first page. Anything that is not such a cursor: 400 `cursor_invalid`.", max_length = 1000), crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The history.", body = BusinessHistory),
        (status = 400, description = "`limit_out_of_range`, `cursor_invalid` (an `after` or `payments_after` this list did not hand out) or `malformed_query` (an unknown parameter).", body = crate::error::ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "`certification_required`, `business_certification_required` or `forbidden` (staff)", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<BusinessHistory>, ApiError> {
    // The business's precondition first, as every business service.
    let business = certified_business(&state, &user.actor()).await?;
    let timeline = page_request(
        query.after.as_deref(),
        query.limit,
        projections::paging::POSITION,
    )?;
    let payments = page_request(
        query.payments_after.as_deref(),
        query.limit,
        projections::paging::TIME_THEN_TEXT,
    )
    .map_err(|e| match e {
        ApiError::BadRequest {
            code: "cursor_invalid",
            ..
        } => ApiError::BadRequest {
            code: "cursor_invalid",
            detail: "payments_after: not a cursor this list answered (use the `payments_next` \
                     of the previous page)"
                .into(),
        },
        other => other,
    })?;
    let (timeline, payments) =
        crate::reads::business_history(&state, &business.afm, &timeline, &payments).await?;
    Ok(Json(BusinessHistory {
        business: Business {
            company_name: business.company_name,
            afm: business.afm,
        },
        timeline: timeline.items,
        next: timeline.next,
        payments: payments.items,
        payments_next: payments.next,
    }))
}
