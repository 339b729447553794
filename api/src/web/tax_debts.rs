//! «Πληρωμή Βεβαιωμένου Δημοτικού Φόρου» (S14): the business's certified debts as of today
//! (paid ones marked), one debt's data with «Πληρωμή», and the page that holds the bank's
//! form. After the bank the payer lands on the payment's page (`/payments/{id}`), which
//! links back to the debt after a payment that took no money.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::NaiveDate;
use domain::certification::Business;

use super::bank::{bank_form_page, missing_profile};
use super::business::business_required;
use super::cases::{error_page, error_page_with};
use super::certificates::applicant;
use super::{render, Page};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::AppState;
use commands::tax_debts::{self, DebtItem};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/business/debts", get(list_page))
        .route("/business/debts/{id}", get(debt_page))
        .route("/business/debts/{id}/pay", post(pay))
}

/// The page of debt `debt_id` (for links from elsewhere, e.g. a failed payment's page).
pub fn debt_href(stream_id: &str) -> Option<String> {
    tax_debts::debt_id_of(stream_id).map(|id| format!("/business/debts/{id}"))
}

fn day(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// Amounts change every month: never kept by the browser.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn is_unavailable(error: &ApiError) -> bool {
    matches!(error, ApiError::Refused(r) if r.code == "revenue_system_unavailable")
}

/// A debt as the pages show it.
struct DebtView {
    debt_id: String,
    description: String,
    certified_on: String,
    principal: String,
    surcharge: String,
    amount_due: String,
    amount_as_of: String,
    paid: bool,
    status_label: String,
    /// For a paid debt: when, how much and the bank's reference.
    paid_on: Option<String>,
    paid_amount: Option<String>,
    payment_ref: Option<String>,
    /// Paid through the portal and not yet recorded by the revenue system.
    being_recorded: bool,
    /// A payment through the portal is open (its page).
    in_progress: Option<String>,
}

impl DebtView {
    fn new(p: &Page, item: &DebtItem) -> Self {
        let d = &item.debt;
        let paid = item.is_paid();
        let settlement = item.settlement();
        let in_progress = item
            .payment_in_progress()
            .map(|payment_id| format!("/payments/{payment_id}"));
        Self {
            debt_id: d.debt_id.clone(),
            description: d.description.clone(),
            certified_on: day(d.certified_on),
            principal: d.principal_cents.to_string(),
            surcharge: d.surcharge_cents.to_string(),
            amount_due: item.amount_due().to_string(),
            amount_as_of: day(d.amount_as_of),
            paid,
            status_label: p.t(if paid {
                "ui_debts_status_paid"
            } else if in_progress.is_some() {
                "ui_debts_status_in_progress"
            } else {
                "ui_debts_status_due"
            }),
            paid_on: settlement.as_ref().map(|s| p.datetime(&s.at)),
            paid_amount: settlement.as_ref().map(|s| s.amount_cents.to_string()),
            payment_ref: settlement.as_ref().map(|s| s.payment_ref.to_string()),
            being_recorded: settlement.as_ref().is_some_and(|s| s.being_recorded),
            in_progress,
        }
    }
}

#[derive(Template)]
#[template(path = "business_debts.html")]
struct ListPage {
    p: Page,
    business: Option<Business>,
    rows: Vec<DebtView>,
    total_due: String,
    due_count: usize,
    as_of: String,
    unavailable: bool,
}

async fn representative(state: &AppState, p: &Page) -> Result<CurrentUser, Box<Response>> {
    let user = applicant(p)?;
    // The precondition first: an uncertified user sees how to get certified, not an error
    // of the revenue system.
    match commands::business::certified_business(state, &user.actor())
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(user),
        Err(e) => Err(Box::new(
            business_required(state, p.clone(), &user, e).await,
        )),
    }
}

fn unavailable_list(p: Page) -> Response {
    let mut response = render(&ListPage {
        p,
        business: None,
        rows: Vec::new(),
        total_due: String::new(),
        due_count: 0,
        as_of: String::new(),
        unavailable: true,
    });
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// `GET /business/debts`: the certified debts as of today.
async fn list_page(State(state): State<AppState>, p: Page) -> Response {
    let user = match representative(&state, &p).await {
        Ok(user) => user,
        Err(response) => return *response,
    };
    match crate::reads::business_debts(&state, &user).await {
        Ok((business, items)) => {
            let due_count = items.iter().filter(|i| !i.is_paid()).count();
            let total = DebtItem::total_due(&items);
            let as_of = items
                .first()
                .map(|i| day(i.debt.amount_as_of))
                .unwrap_or_default();
            let rows = items.iter().map(|i| DebtView::new(&p, i)).collect();
            no_store(render(&ListPage {
                business: Some(business),
                rows,
                total_due: total.to_string(),
                due_count,
                as_of,
                unavailable: false,
                p,
            }))
        }
        Err(e) if is_unavailable(&e) => unavailable_list(p),
        Err(e) => business_required(&state, p, &user, e).await,
    }
}

#[derive(Template)]
#[template(path = "business_debt.html")]
struct DebtPage {
    p: Page,
    debt: DebtView,
    /// The profile details still to fill in (labels).
    missing: Vec<String>,
    /// Why the last «Πληρωμή» was refused.
    problem: Option<String>,
    /// The profile, returning to the debt once saved.
    profile_href: String,
}

/// The debt's page, `problem` said on it, with `status`.
async fn show_debt(
    state: &AppState,
    p: Page,
    user: &CurrentUser,
    id: &str,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let item = match crate::reads::business_debt(state, user, id).await {
        Ok(item) => item,
        Err(e) if is_unavailable(&e) => return unavailable_list(p),
        Err(e) if e.is_certification_refusal() => {
            return business_required(state, p, user, e).await
        }
        Err(e) => {
            // Not a debt of this business: the way back is the list of its debts.
            let back = (
                "/business/debts".to_string(),
                p.t("ui_business_debts_title"),
            );
            return error_page_with(p, e, Some(back));
        }
    };
    let missing = match missing_profile(state, &p, Some(user)).await {
        Ok(m) => m,
        Err(e) => return error_page(p, e),
    };
    let mut response = render(&DebtPage {
        profile_href: super::profile_detour(&format!("/business/debts/{id}")),
        debt: DebtView::new(&p, &item),
        missing,
        problem,
        p,
    });
    *response.status_mut() = status;
    no_store(response)
}

/// `GET /business/debts/{id}`: the debt's data as of today, and «Πληρωμή».
async fn debt_page(State(state): State<AppState>, p: Page, Path(id): Path<String>) -> Response {
    let user = match representative(&state, &p).await {
        Ok(user) => user,
        Err(response) => return *response,
    };
    show_debt(&state, p, &user, &id, None, StatusCode::OK).await
}

/// `POST /business/debts/{id}/pay`: starts the payment of the amount due now; answers the
/// page that holds the bank's form.
async fn pay(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Path(id): Path<String>,
) -> Response {
    let user = match representative(&state, &p).await {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let paid = tax_debts::pay(
        &state,
        &user.actor(),
        &id,
        p.lang.code(),
        crate::i18n::tax_debt_payment_description,
        context.metadata(Some(&user)),
    )
    .await;
    match paid.map_err(ApiError::from) {
        Ok(started) => bank_form_page(p, started.form, started.amount_cents),
        Err(ApiError::RefusedFields(..)) => {
            Redirect::to(&format!("/business/debts/{id}")).into_response()
        }
        Err(e) if is_unavailable(&e) => unavailable_list(p),
        Err(e) if e.is_certification_refusal() => business_required(&state, p, &user, e).await,
        Err(ApiError::Refused(r)) if r.kind == domain::refusal::RefusalKind::Rule => {
            let problem = Some(crate::i18n::message(p.lang, r.code));
            let status = ApiError::Refused(r).status();
            show_debt(&state, p, &user, &id, problem, status).await
        }
        Err(e) => error_page(p, e),
    }
}
