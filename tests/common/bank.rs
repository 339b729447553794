//! The sandbox bank walked as a payer's browser walks it: the portal's form posted to the
//! bank, the card page answered (a card, or «Ακύρωση»), and the bank's return form to post
//! back to the portal (each caller posts it its own way: with or without cookies).

use reqwest::Client;
use sandboxes::bank::{read_form, HtmlForm};

/// The test card's expiry and CVV (any in the future pass).
const EXPIRY: &str = "09/38";
const CVV: &str = "737";

/// Posts the portal's bank form (`action`, `fields`) to the bank: answers the bank's base
/// URL and the card page's session.
pub async fn open_card_page(
    http: &Client,
    action: &str,
    fields: &[(String, String)],
) -> (String, String) {
    let page = http
        .post(action)
        .form(fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let card_form = read_form(&page).unwrap_or_else(|| panic!("a card page: {page}"));
    let bank = action.trim_end_matches("/vpos/payment").to_string();
    (bank, card_form.hidden[0].1.clone())
}

/// Pays with `card` on the card page of `session` (`None`: cancels there); answers the
/// bank's return form to the portal.
pub async fn answer_card_page(
    http: &Client,
    bank: &str,
    session: &str,
    card: Option<&str>,
) -> HtmlForm {
    let fields: Vec<(&str, &str)> = match card {
        Some(number) => vec![
            ("session", session),
            ("card_number", number),
            ("expiry", EXPIRY),
            ("cvv", CVV),
            ("action", "pay"),
        ],
        None => vec![("session", session), ("action", "cancel")],
    };
    let answer = http
        .post(format!("{bank}/vpos/card"))
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    read_form(&answer).unwrap_or_else(|| panic!("a return form: {answer}"))
}

/// [`open_card_page`] then [`answer_card_page`]: the bank's return form.
pub async fn walk(
    http: &Client,
    action: &str,
    fields: &[(String, String)],
    card: Option<&str>,
) -> HtmlForm {
    let (bank, session) = open_card_page(http, action, fields).await;
    answer_card_page(http, &bank, &session, card).await
}

/// A client that does not follow redirects, as the walks above need.
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
