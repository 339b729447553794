//! What every page that takes a payment shares: the page that sends the payer to the
//! bank (the only kind whose CSP lets a form post to the bank's origin), amounts as people
//! read them, and the profile details a payer still has to fill in.

use axum::response::Response;
use domain::ports::RedirectForm;

use super::cases::error_page;
use super::security::FormActionOrigin;
use super::{render, Page};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::AppState;

/// The labels of the profile details `user` still has to fill in before paying (none for
/// a visitor: the login comes first).
pub async fn missing_profile(
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
pub fn bank_form_page(p: Page, form: RedirectForm, amount_cents: domain::Money) -> Response {
    let Some(origin) = origin_of(&form.action) else {
        return error_page(p, ApiError::Internal("the bank URL has no origin".into()));
    };
    let mut response = render(&BankFormPage {
        p,
        action: form.action,
        fields: form.fields,
        amount: amount_cents.to_string(),
    });
    response.extensions_mut().insert(FormActionOrigin(origin));
    response
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL, if it is one a CSP
/// source may name.
pub fn origin_of(url: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::origin_of;

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
