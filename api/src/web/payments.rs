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
use projections::payments::PaymentRow;

use super::cases::error_page;
use super::login_redirect;
use super::{render, Page};
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
    /// «Τι πληρώθηκε» after a payment, «Τι πληρώνετε» while it is under way, «Τι θα
    /// πληρωνόταν» after one that took no money.
    what_key: &'static str,
    /// Why the bank took no money, in the reader's language ([`bank_reason`]).
    reason: Option<String>,
    pending: bool,
    /// Where to start a new attempt after a payment that took no money (a fine's step 2,
    /// filled in).
    try_again: Option<String>,
    /// The debt a succeeded payment paid (its page shows it paid).
    debt_page: Option<String>,
    /// A fine's payment: the fine type's amount and why the payment's differs from it
    /// (the reduction or surcharge of the day it was quoted), as its quote said.
    fine_breakdown: Option<super::fines::FineBreakdown>,
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
        if let Err(e) = crate::http::wait_for_log_head(&state, projections::PAYMENT_READS).await {
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
            use domain::payment::PaymentStatus;
            let parsed = PaymentStatus::parse(&status);
            let no_money = parsed.is_some_and(PaymentStatus::took_no_money);
            let mut try_again = None;
            let mut debt_page = None;
            let mut fine_breakdown = None;
            if payment.obligation_kind == commands::fines::OBLIGATION_KIND {
                if let Ok(Some(fine)) =
                    projections::traffic_fines::get(&state.pool, &payment.obligation_reference)
                        .await
                {
                    if no_money {
                        try_again = Some(super::fines::step2_href(&fine));
                    }
                    fine_breakdown = Some(super::fines::breakdown(
                        &state,
                        &p,
                        &fine,
                        payment.amount_cents,
                        payment.created_at,
                    ));
                }
            }
            if payment.obligation_kind == commands::tax_debts::OBLIGATION_KIND {
                // A certified debt: back to its page (after a payment that took no money,
                // to pay again with the amount due as of now).
                let href = super::tax_debts::debt_href(&payment.obligation_reference);
                if no_money {
                    try_again = href;
                } else if parsed == Some(PaymentStatus::Succeeded) {
                    debt_page = href;
                }
            }
            render(&PaymentPage {
                try_again,
                debt_page,
                fine_breakdown,
                amount: payment.amount_cents.to_string(),
                title_key: format!("ui_payment_{status}_title"),
                text_key: format!("ui_payment_{status}_text"),
                status_key: format!("payment_status_{status}"),
                what_key: if parsed == Some(PaymentStatus::Succeeded) {
                    "ui_payment_what"
                } else if no_money {
                    "ui_payment_what_unpaid"
                } else {
                    "ui_payment_what_due"
                },
                reason: bank_reason(&status, payment.failure_reason.as_deref())
                    .map(|code| p.t(code)),
                pending: matches!(status.as_str(), "created" | "redirected"),
                payment,
                p,
            })
        }
        Err(e) => error_page(p, e),
    }
}

/// The message code that says, in the reader's language, why the bank took no money: the
/// bank answers a refusal or an error with a text of its own, in English (`message` of its
/// answer, kept as `failure_reason` for the clerks and the JSON API), and no code: the
/// status tells a refusal from an error, and a message naming 3-D Secure the failed check
/// of the card's one-time code. Any other refusal is the issuer's, any error the bank's.
fn bank_reason(status: &str, bank_message: Option<&str>) -> Option<&'static str> {
    let message = bank_message.unwrap_or("").to_ascii_lowercase();
    match status {
        "failed" if message.contains("3-d secure") || message.contains("3ds") => {
            Some("payment_reason_authentication")
        }
        "failed" => Some("payment_reason_declined"),
        "error" => Some("payment_reason_bank_error"),
        _ => None,
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
    pager: super::layout::Pager,
}

/// «Οι πληρωμές μου»: every payment attempt of the user, newest first, a page at a time.
async fn my_payments(
    State(state): State<AppState>,
    p: Page,
    axum::extract::Query(q): axum::extract::Query<super::layout::AfterParam>,
) -> Response {
    let Some(user) = p.user.as_ref().map(|u| u.user.clone()) else {
        return login_redirect(&p);
    };
    if let Err(e) = crate::http::wait_for_log_head(&state, projections::PAYMENT_READS).await {
        return error_page(p, e);
    }
    let page = super::layout::list_page(q.after.as_deref(), projections::paging::TIME_THEN_TEXT);
    let rows = match projections::payments::page_for_payer(
        &state.pool,
        &user.account_id.to_string(),
        &page,
    )
    .await
    {
        Ok(rows) => rows,
        Err(e) => return error_page(p, e.into()),
    };
    let pager = super::layout::Pager::new(&p.here, &page, rows.next.as_deref());
    let rows = rows
        .items
        .into_iter()
        .map(|r| PaymentListRow {
            what: r.obligation_description.clone(),
            amount: r.amount_cents.to_string(),
            status_label: p.t(&format!("payment_status_{}", r.status)),
            date: p.datetime(r.settled_at.as_ref().unwrap_or(&r.created_at)),
            reference: r.payment_ref.clone().unwrap_or_default(),
            status: r.status,
            id: r.id,
        })
        .collect();
    render(&PaymentsListPage { p, rows, pager })
}

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
    use super::bank_reason;

    #[test]
    fn the_bank_s_reasons_are_told_in_the_reader_s_words() {
        assert_eq!(
            bank_reason("failed", Some("Card declined by the issuer")),
            Some("payment_reason_declined")
        );
        assert_eq!(
            bank_reason("failed", Some("3-D Secure authentication failed")),
            Some("payment_reason_authentication")
        );
        assert_eq!(bank_reason("failed", None), Some("payment_reason_declined"));
        assert_eq!(
            bank_reason("error", Some("Processing error at the bank")),
            Some("payment_reason_bank_error")
        );
        assert_eq!(bank_reason("cancelled", None), None);
        assert_eq!(bank_reason("succeeded", Some("Approved")), None);
    }
}
