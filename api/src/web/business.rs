//! «Υπηρεσίες προς Επιχειρήσεις»: the hub of the business services (S12–S14) and the page
//! every one of them shows to a user who is not a certified business: what is missing and
//! how to get certified.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::cases::error_page;
use super::certificates::{applicant, own_certification, CertificationView};
use super::{render, Page};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::AppState;
use commands::business::BUSINESS_CERTIFICATION_REQUIRED;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/business", get(hub))
        .route("/business/history", get(history))
}

#[derive(askama::Template)]
#[template(path = "business_hub.html")]
struct HubPage {
    p: Page,
    certification: CertificationView,
}

async fn hub(State(state): State<AppState>, p: Page) -> Response {
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    match own_certification(&state, &user).await {
        Ok((_, row)) => {
            let certification = CertificationView::new(&p, row.as_ref());
            render(&HubPage { p, certification })
        }
        Err(e) => error_page(p, e),
    }
}

#[derive(askama::Template)]
#[template(path = "business_required.html")]
struct RequiredPage {
    p: Page,
    certification: CertificationView,
    email: String,
    /// Certified as a person, but the certification names no business.
    person_only: bool,
}

/// What a business page shows for `error`: for the refusals of
/// [`commands::business::certified_business`] a 403 page that says what is missing and how to
/// get certified; any other error as usual.
pub async fn business_required(
    state: &AppState,
    p: Page,
    user: &CurrentUser,
    error: ApiError,
) -> Response {
    if !error.is_certification_refusal() {
        return error_page(p, error);
    }
    let person_only =
        matches!(&error, ApiError::Refused(r) if r.code == BUSINESS_CERTIFICATION_REQUIRED);
    let row = own_certification(state, user)
        .await
        .ok()
        .and_then(|(_, row)| row);
    let certification = CertificationView::new(&p, row.as_ref());
    let mut response = render(&RequiredPage {
        p,
        certification,
        email: user.email.clone(),
        person_only,
    });
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// A timeline row as the page shows it.
struct EntryView {
    time: String,
    what: String,
    /// The declaration's period or the debt's id, and where it is shown.
    subject: String,
    href: Option<String>,
    amount: String,
    reason: String,
    event_type: String,
}

/// A payment row (a receipt link when it is the user's own).
struct PaymentView {
    id: String,
    what: String,
    amount: String,
    status: String,
    status_label: String,
    date: String,
    reference: String,
    own: bool,
}

#[derive(askama::Template)]
#[template(path = "business_history.html")]
struct HistoryPage {
    p: Page,
    company_name: String,
    afm: String,
    entries: Vec<EntryView>,
    payments: Vec<PaymentView>,
    /// The timeline's links (`?after=`).
    timeline_pager: super::layout::Pager,
    /// The payments' links (`?payments_after=`).
    payments_pager: super::layout::Pager,
}

/// `?after=` (the timeline's cursor) and `?payments_after=` of the history page.
#[derive(Debug, Default, Deserialize)]
struct HistoryParams {
    after: Option<String>,
    payments_after: Option<String>,
}

/// The period of a declaration stream `{afm}-2026-Q1` / `{afm}-2026-M03` as a label.
fn period_label(p: &Page, stream_id: &str, afm: &str) -> Option<String> {
    let key = stream_id.strip_prefix(afm)?.strip_prefix('-')?;
    let (year, period) = key.split_once('-')?;
    let (filing, number) = match period.split_at_checked(1)? {
        ("M", n) => ("monthly", n),
        ("Q", n) => ("quarterly", n),
        _ => return None,
    };
    let period = domain::business::TaxPeriod::parse(filing, number, year).ok()?;
    Some(match p.lang {
        crate::i18n::Lang::El => period.label_el(),
        crate::i18n::Lang::En => period.label_en(),
    })
}

async fn history(
    State(state): State<AppState>,
    p: Page,
    Query(q): Query<HistoryParams>,
) -> Response {
    let user = match applicant(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let business = match commands::business::certified_business(&state, &user.actor())
        .await
        .map_err(ApiError::from)
    {
        Ok(b) => b,
        Err(e) => return business_required(&state, p, &user, e).await,
    };
    // Each list pages by its own cursor; one that is not one shows that list's first page.
    let timeline_page = super::layout::list_page(q.after.as_deref(), projections::paging::POSITION);
    let payments_page = super::layout::list_page(
        q.payments_after.as_deref(),
        projections::paging::TIME_THEN_TEXT,
    );
    let (timeline, payments) =
        match crate::reads::business_history(&state, &business.afm, &timeline_page, &payments_page)
            .await
        {
            Ok(found) => found,
            Err(e) => return error_page(p, e),
        };
    let pager = super::layout::Pager::new(&p.here, &timeline_page, timeline.next.as_deref());
    let payments_pager = super::layout::Pager {
        id_prefix: "payments-",
        label_key: "ui_business_payments_paging",
        ..super::layout::Pager::for_param(
            &p.here,
            "payments_after",
            &payments_page,
            payments.next.as_deref(),
        )
    };
    let timeline_pager = super::layout::Pager {
        label_key: "ui_business_timeline_paging",
        ..pager
    };
    let entries = timeline
        .items
        .into_iter()
        .map(|e| {
            let (subject, href) = if e.aggregate_type
                == <domain::tax_declaration::TaxDeclaration as cqrs_es::Aggregate>::TYPE
            {
                let label = period_label(&p, &e.stream_id, &business.afm)
                    .unwrap_or_else(|| e.stream_id.clone());
                (
                    label,
                    Some(format!("/business/declarations/{}", e.stream_id)),
                )
            } else {
                let debt = e
                    .stream_id
                    .strip_prefix(&format!("{}-", business.afm))
                    .unwrap_or(&e.stream_id)
                    .to_string();
                let href = format!("/business/debts/{debt}");
                (
                    format!("{} {debt}", p.t("ui_business_debt_label")),
                    Some(href),
                )
            };
            EntryView {
                time: p.datetime(&e.at),
                what: p.t(&format!("ui_business_event_{}", e.event_type)),
                subject,
                href,
                amount: e
                    .amount_cents
                    .map(|amount| amount.to_string())
                    .unwrap_or_default(),
                reason: e
                    .reason
                    .map(|r| format!("ui_business_reason_{r}"))
                    .filter(|key| crate::i18n::has_message(key))
                    .map(|key| p.t(&key))
                    .unwrap_or_default(),
                event_type: e.event_type,
            }
        })
        .collect();
    let account = user.account_id.to_string();
    let payments = payments
        .items
        .into_iter()
        .map(|r| PaymentView {
            what: r.obligation_description,
            amount: r.amount_cents.to_string(),
            status_label: p.t(&format!("payment_status_{}", r.status)),
            status: r.status,
            date: p.datetime(&r.settled_at.unwrap_or(r.created_at)),
            reference: r.payment_ref.unwrap_or_default(),
            own: r.payer_account_id == account,
            id: r.id,
        })
        .collect();
    render(&HistoryPage {
        p,
        company_name: business.company_name,
        afm: business.afm,
        entries,
        payments,
        timeline_pager,
        payments_pager,
    })
}
