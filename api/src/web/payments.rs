//! The payer's payment page: where the bank's return lands (after a login if the session
//! cookie did not come along), with the receipt of a successful payment or why one failed
//! and how to try again.

use axum::extract::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use commands::payments::apply_confirmation;
use domain::payment::ConfirmationSource;
use domain::ports::RedirectForm;
use projections::payments::PaymentRow;

use super::account::login_redirect;
use super::cases::error_page;
use super::security::FormActionOrigin;
use super::{render, Page};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/payments", get(my_payments))
        .route("/payments/{id}", get(payment_page))
        // Outside the pages' CSRF check (see `security::csrf_exempt`); its authenticity is
        // the bank's digest.
        .route(
            commands::payments::RETURN_PATH,
            axum::routing::post(browser_return),
        )
}

#[derive(askama::Template)]
#[template(path = "payment.html")]
struct PaymentPage {
    p: Page,
    payment: PaymentRow,
    amount: String,
    title_key: String,
    text_key: String,
    status_key: String,
    pending: bool,
    /// Where to start a new attempt after a payment that took no money (a fine's step 2,
    /// filled in).
    try_again: Option<String>,
}

/// Cents as people read an amount: `1.234,50 €` (see [`domain::Money`]'s `Display`).
pub fn euros(cents: i64) -> String {
    domain::Money::from_cents(cents).to_string()
}

/// The labels of the profile details `user` still has to fill in before paying (none for
/// a visitor: the login comes first).
pub(super) async fn missing_profile(
    state: &AppState,
    p: &Page,
    user: Option<&CurrentUser>,
) -> Result<Vec<String>, ApiError> {
    let Some(user) = user else {
        return Ok(Vec::new());
    };
    match commands::fines::check_profile(state, &user.actor()).await {
        Ok(()) => Ok(Vec::new()),
        Err(commands::fines::ProfileError::Incomplete(_, fields)) => Ok(fields
            .iter()
            .map(|f| p.t(&format!("ui_field_{}", f.field)))
            .collect()),
        Err(e) => Err(e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "bank_form.html")]
struct BankFormPage {
    p: Page,
    action: String,
    fields: Vec<(String, String)>,
    amount: String,
}

/// The page that holds the bank's form (its button, or the browser, posts it to the
/// bank's card page) for a payment of `amount_cents`: the only kind of page whose CSP lets
/// a form post to the bank's origin.
pub(super) fn bank_form_page(p: Page, form: RedirectForm, amount_cents: i64) -> Response {
    let Some(origin) = origin_of(&form.action) else {
        return error_page(p, ApiError::Internal("the bank URL has no origin".into()));
    };
    let mut response = render(&BankFormPage {
        p,
        action: form.action,
        fields: form.fields,
        amount: euros(amount_cents),
    });
    response.extensions_mut().insert(FormActionOrigin(origin));
    response
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL, if it is one a CSP
/// source may name.
pub(super) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    let ok = !host.is_empty()
        && !host.contains('@')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    ok.then(|| format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// `?receipt=1`: the payment's own page (its receipt) even where the bank's return
/// leads elsewhere (a tax declaration's payment lands on the declaration).
#[derive(serde::Deserialize)]
struct PaymentQuery {
    receipt: Option<String>,
}

async fn payment_page(
    State(state): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<PaymentQuery>,
) -> Response {
    let receipt = query.receipt.is_some();
    let Some(user) = p.user.as_ref().map(|u| u.user.clone()) else {
        return login_redirect(&p);
    };
    let Ok(id) = crate::http::case_id(&id) else {
        return error_page(p, ApiError::NotFound("payment_not_found"));
    };
    let mut found = crate::reads::payment_of(&state, &user, &id).await;
    // Just back from the bank: the outcome may not have reached the read model yet.
    if found
        .as_ref()
        .is_ok_and(|p| matches!(p.status.as_str(), "created" | "redirected"))
    {
        if let Err(e) = crate::http::wait_for_log_head(&state).await {
            return error_page(p, e);
        }
        found = crate::reads::payment_of(&state, &user, &id).await;
    }
    // A tax declaration's payment lands on the declaration, for a payer who still
    // represents the business (one whose certification was revoked since sees the receipt).
    let to_declaration = match &found {
        Ok(payment)
            if !receipt
                && payment.obligation_kind == commands::tax_declarations::OBLIGATION_KIND =>
        {
            commands::business::certified_business(&state, &user.actor())
                .await
                .is_ok()
        }
        _ => false,
    };
    match found {
        Ok(payment) if to_declaration => {
            // A tax declaration's payment: its outcome applied at once, then the declaration.
            super::tax_declarations::after_bank(&state, &payment.id, &payment.obligation_reference)
                .await
        }
        Ok(payment) => {
            let status = payment.status.clone();
            let mut try_again = None;
            if payment.obligation_kind == commands::fines::OBLIGATION_KIND
                && matches!(
                    status.as_str(),
                    "failed" | "cancelled" | "expired" | "error"
                )
            {
                if let Ok(fine) =
                    projections::traffic_fines::get(&state.pool, &payment.obligation_reference)
                        .await
                {
                    try_again = fine.as_ref().map(super::fines::step2_href);
                }
            }
            if payment.obligation_kind == commands::tax_debts::OBLIGATION_KIND
                && commands::tax_debts::took_no_money(&status)
            {
                // A certified debt: back to its page, with the amount due as of now.
                try_again = super::tax_debts::debt_href(&payment.obligation_reference);
            }
            render(&PaymentPage {
                try_again,
                amount: euros(payment.amount_cents),
                title_key: format!("ui_payment_{status}_title"),
                text_key: format!("ui_payment_{status}_text"),
                status_key: format!("payment_status_{status}"),
                pending: matches!(status.as_str(), "created" | "redirected"),
                payment,
                p,
            })
        }
        Err(e) => error_page(p, e),
    }
}

/// A payment as «Οι πληρωμές μου» lists it.
struct PaymentListRow {
    id: String,
    what: String,
    amount: String,
    status: String,
    status_label: String,
    date: String,
    reference: String,
}

#[derive(askama::Template)]
#[template(path = "payments_list.html")]
struct PaymentsListPage {
    p: Page,
    rows: Vec<PaymentListRow>,
}

/// «Οι πληρωμές μου»: every payment attempt of the user, newest first.
async fn my_payments(State(state): State<AppState>, p: Page) -> Response {
    let Some(user) = p.user.as_ref().map(|u| u.user.clone()) else {
        return login_redirect(&p);
    };
    if let Err(e) = crate::http::wait_for_log_head(&state).await {
        return error_page(p, e);
    }
    let rows = match projections::payments::list_for_payer(
        &state.pool,
        &user.account_id.to_string(),
    )
    .await
    {
        Ok(rows) => rows,
        Err(e) => return error_page(p, e.into()),
    };
    let rows = rows
        .into_iter()
        .map(|r| PaymentListRow {
            what: r.obligation_description.clone(),
            amount: euros(r.amount_cents),
            status_label: p.t(&format!("payment_status_{}", r.status)),
            date: p.datetime(r.settled_at.as_ref().unwrap_or(&r.created_at)),
            reference: r.payment_ref.clone().unwrap_or_default(),
            status: r.status,
            id: r.id,
        })
        .collect();
    render(&PaymentsListPage { p, rows })
}

/// The page of a bank return that could not be applied (forged, tampered, unknown).
/// The payer's browser back from the bank's page (confirmUrl / cancelUrl). It is a
/// cross-site form POST from the bank's page: it carries no CSRF token and, with SameSite
/// cookies, usually no session. It is believed on its digest alone (checked by the gateway)
/// and answers a redirect to the payment's page, which asks for a login if needed.
///
/// `POST /payments/return`: success, refusal or cancel.
pub async fn browser_return(
    State(state): State<AppState>,
    p: Page,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    match apply_confirmation(&state, &fields, ConfirmationSource::BrowserReturn).await {
        Ok(applied) => Redirect::to(&format!("/payments/{}", applied.payment_id)).into_response(),
        Err(e) => error_page(p, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::{euros, origin_of};

    #[test]
    fn amounts_read_as_euros() {
        assert_eq!(euros(1250), "12,50 €");
        assert_eq!(euros(7), "0,07 €");
        assert_eq!(euros(123_456_789), "1.234.567,89 €");
        assert_eq!(euros(-150), "-1,50 €");
    }

    #[test]
    fn origins_of_bank_urls() {
        assert_eq!(
            origin_of("https://Bank.example.gr/vpos/payment").as_deref(),
            Some("https://bank.example.gr")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:4000/vpos/payment").as_deref(),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(origin_of("/vpos/payment"), None);
        assert_eq!(origin_of("javascript://x"), None);
        assert_eq!(origin_of("https://a;b/"), None);
    }
}
