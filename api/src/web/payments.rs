//! The payer's payment page: where the bank's return lands (after a login if the session
//! cookie did not come along), with the receipt of a successful payment or why one failed
//! and how to try again.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use projections::payments::PaymentRow;

use super::account::login_redirect;
use super::cases::error_page;
use super::{render, Page};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/payments/{id}", get(payment_page))
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
}

/// Cents as people read an amount: `1.234,50 €`.
pub fn euros(cents: i64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{grouped},{:02} €", cents % 100)
}

async fn payment_page(State(state): State<AppState>, p: Page, Path(id): Path<String>) -> Response {
    let Some(user) = p.user.as_ref().map(|u| u.user.clone()) else {
        return login_redirect(&p);
    };
    let Ok(id) = crate::routes::case_id(&id) else {
        return error_page(p, ApiError::NotFound("payment_not_found"));
    };
    match crate::payments::payment_of(&state, &user, &id).await {
        Ok(payment) => {
            let status = payment.status.clone();
            render(&PaymentPage {
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

/// The page of a bank return that could not be applied (forged, tampered, unknown).
pub fn return_refused(p: Page, error: ApiError) -> Response {
    error_page(p, error)
}

#[cfg(test)]
mod tests {
    use super::euros;

    #[test]
    fn amounts_read_as_euros() {
        assert_eq!(euros(1250), "12,50 €");
        assert_eq!(euros(7), "0,07 €");
        assert_eq!(euros(123_456_789), "1.234.567,89 €");
    }
}
