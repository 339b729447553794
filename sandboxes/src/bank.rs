//! The sandbox bank: a payment gateway that speaks the Greek "redirect with digest" VPOS
//! protocol over real HTTP (contract in `commands::adapters::vpos`), with its own hosted card page,
//! test cards, a 3-D Secure step, server-to-server notifications and a status query.
//! Card data stays here: the merchant only ever sees the signed answer.
//!
//! - `POST /vpos/payment`: the merchant's auto-submitted form (`version, mid, lang,
//!   orderid, orderDesc, orderAmount, currency, payerEmail, confirmUrl, cancelUrl,
//!   digest`). A bad digest, another mid, a missing field, a bad amount, a currency other
//!   than EUR or an order id already completed → an error page (400). Otherwise the card
//!   page (in `lang`, "el" or "en").
//! - `POST /vpos/card` (`session, card_number, expiry, cvv, action=pay|cancel`) and
//!   `POST /vpos/3ds` (`session, otp, action=confirm|cancel`). Test cards:
//!   `4111 1111 1111 1111` succeeds, `4000 0000 0000 0002` is declined, `4000 0000 0000
//!   3220` asks a one-time code (`123456` passes, anything else is a refusal), `4000 0000
//!   0000 0119` is captured but the bank "times out" (no return, no notification: only
//!   the status query tells), `4000 0000 0000 0069` ends in `ERROR`. A bad Luhn, a
//!   malformed or past expiry, a bad CVV or another card → a message on the card page.
//! - Completion: a page whose form (auto-submitted by `/vpos/assets/return.js`, with a
//!   visible «Συνέχεια / Continue» button) POSTs the signed answer (`version, mid,
//!   orderid, status, orderAmount, currency, paymentTotal, message, riskScore, payMethod,
//!   txId, paymentRef, digest`) to `confirmUrl`, or to `cancelUrl` after a cancel. The
//!   same answer goes server to server (form-urlencoded POST) to the notify URL (by
//!   default the order's `confirmUrl`), retried until a 2xx, up to 3 attempts.
//! - `POST /vpos/status` (`mid, orderid, digest` over `mid ‖ orderid ‖ secret`) → JSON
//!   object of the signed answer; `status` is `PENDING` while the payer is on the bank's
//!   pages and `UNKNOWN` for an order never seen. A bad digest or mid → 403.
//!
//! Fault switches: `GET|PUT /_sandbox/faults` with `{"down": bool, "slow_ms": n,
//! "drop_notifications": bool, "duplicate_notifications": bool, "notify_before_return":
//! bool, "forge_next": n}`: down answers 503 to every `/vpos` request, slow delays them,
//! drop never notifies, duplicate notifies twice, notify_before_return delivers the
//! notification before the browser gets the return page, forge_next signs the next n
//! answers (one completion's return and notifications are one answer; each status answer
//! is one) with a wrong secret. `GET /_sandbox/orders` lists the orders and their state.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::RunningSandbox;

/// The fields of the merchant's payment request, in digest order.
const REQUEST_FIELDS: [&str; 10] = [
    "version",
    "mid",
    "lang",
    "orderid",
    "orderDesc",
    "orderAmount",
    "currency",
    "payerEmail",
    "confirmUrl",
    "cancelUrl",
];

/// The fields of the bank's answer, in digest order.
const ANSWER_FIELDS: [&str; 12] = [
    "version",
    "mid",
    "orderid",
    "status",
    "orderAmount",
    "currency",
    "paymentTotal",
    "message",
    "riskScore",
    "payMethod",
    "txId",
    "paymentRef",
];

const VERSION: &str = "2";
const NOTIFY_ATTEMPTS: u32 = 3;
const MAX_ORDER_ID_CHARS: usize = 50;

pub const CARD_SUCCEEDS: &str = "4111111111111111";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_3DS: &str = "4000000000003220";
pub const CARD_TIMES_OUT: &str = "4000000000000119";
pub const CARD_BANK_ERROR: &str = "4000000000000069";
pub const OTP_PASSES: &str = "123456";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BankFaults {
    pub down: bool,
    pub slow_ms: u64,
    pub drop_notifications: bool,
    pub duplicate_notifications: bool,
    pub notify_before_return: bool,
    pub forge_next: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    AwaitingCard,
    AwaitingOtp,
    Captured,
    Refused,
    Cancelled,
    Error,
}

impl OrderState {
    fn vpos_status(self) -> &'static str {
        match self {
            Self::AwaitingCard | Self::AwaitingOtp => "PENDING",
            Self::Captured => "CAPTURED",
            Self::Refused => "REFUSED",
            Self::Cancelled => "CANCELED",
            Self::Error => "ERROR",
        }
    }

    fn is_final(self) -> bool {
        !matches!(self, Self::AwaitingCard | Self::AwaitingOtp)
    }
}

/// An order as the bank keeps it (never the card number).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BankOrder {
    pub order_id: String,
    pub description: String,
    pub amount_cents: i64,
    pub currency: String,
    pub lang: String,
    pub payer_email: Option<String>,
    pub confirm_url: String,
    pub cancel_url: String,
    pub state: OrderState,
    pub message: String,
    pub pay_method: String,
    pub tx_id: String,
    pub payment_ref: String,
    /// Whether the browser was given the return page.
    pub returned: bool,
    /// Server-to-server notifications the merchant accepted (2xx).
    pub notifications_delivered: u32,
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    session: String,
}

#[derive(Default)]
struct Ledger {
    faults: BankFaults,
    orders: Vec<BankOrder>,
    serial: u64,
}

impl Ledger {
    fn by_id(&mut self, order_id: &str) -> Option<&mut BankOrder> {
        self.orders.iter_mut().find(|o| o.order_id == order_id)
    }

    fn by_session(&mut self, session: &str) -> Option<&mut BankOrder> {
        self.orders
            .iter_mut()
            .find(|o| !session.is_empty() && o.session == session)
    }

    /// The digest secret for the next answer: consumes one `forge_next`.
    fn answer_secret(&mut self, genuine: &str) -> String {
        if self.faults.forge_next > 0 {
            self.faults.forge_next -= 1;
            format!("forged-{genuine}")
        } else {
            genuine.to_string()
        }
    }
}

/// The sandbox bank of one merchant (`mid` and shared secret), shared with tests that
/// flip its switches or read its orders directly.
#[derive(Clone)]
pub struct BankSandbox {
    mid: String,
    secret: String,
    merchant_name: String,
    notify_url: Option<String>,
    ledger: Arc<Mutex<Ledger>>,
    client: reqwest::Client,
}

impl BankSandbox {
    pub fn new(mid: impl Into<String>, secret: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("a reqwest client with a timeout always builds");
        let mid = mid.into();
        Self {
            merchant_name: format!("Merchant {mid}"),
            mid,
            secret: secret.into(),
            notify_url: None,
            ledger: Arc::default(),
            client,
        }
    }

    /// Sends the server-to-server notifications here instead of to each order's
    /// `confirmUrl`.
    pub fn with_notify_url(mut self, url: impl Into<String>) -> Self {
        self.notify_url = Some(url.into());
        self
    }

    /// The merchant's name shown on the card page.
    pub fn with_merchant_name(mut self, name: impl Into<String>) -> Self {
        self.merchant_name = name.into();
        self
    }

    pub fn router(&self) -> Router {
        let vpos = Router::new()
            .route("/vpos/payment", post(payment))
            .route("/vpos/card", post(card))
            .route("/vpos/3ds", post(three_d_secure))
            .route("/vpos/status", post(status))
            .route("/vpos/assets/bank.css", get(stylesheet))
            .route("/vpos/assets/return.js", get(return_script))
            .route_layer(middleware::from_fn_with_state(self.clone(), faults_layer));
        Router::new()
            .merge(vpos)
            .route("/_sandbox/faults", get(get_faults).put(put_faults))
            .route("/_sandbox/orders", get(list_orders))
            .with_state(self.clone())
    }

    /// Serves the bank on `bind` (port 0 picks a free port).
    pub async fn start(&self, bind: SocketAddr) -> std::io::Result<RunningSandbox> {
        crate::serve(self.router(), bind).await
    }

    pub fn set_faults(&self, faults: BankFaults) {
        self.ledger.lock().expect("bank lock").faults = faults;
    }

    pub fn faults(&self) -> BankFaults {
        self.ledger.lock().expect("bank lock").faults.clone()
    }

    pub fn orders(&self) -> Vec<BankOrder> {
        self.ledger.lock().expect("bank lock").orders.clone()
    }

    pub fn order(&self, order_id: &str) -> Option<BankOrder> {
        self.ledger
            .lock()
            .expect("bank lock")
            .by_id(order_id)
            .cloned()
    }
}

/// `Base64(SHA-256(v1 ‖ v2 ‖ … ‖ secret))`.
fn digest<'a>(values: impl IntoIterator<Item = &'a str>, secret: &str) -> String {
    let mut hasher = Sha256::new();
    for value in values {
        hasher.update(value.as_bytes());
    }
    hasher.update(secret.as_bytes());
    BASE64.encode(hasher.finalize())
}

fn digests_match(received: &str, expected: &str) -> bool {
    received.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// "12.50" → 1250; refuses signs, more than two decimals and overflow.
fn parse_amount(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "00"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return None;
    }
    let scale = if fraction.len() == 1 { 10 } else { 1 };
    let cents = fraction.parse::<i64>().ok()? * scale;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

fn format_amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// An amount as the card page shows it to the payer: `1.234,50 €` in Greek, `€1,234.50` in
/// English (the protocol's fields keep `1234.50`).
fn shown_amount(cents: i64, el: bool) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(if el { '.' } else { ',' });
        }
        grouped.push(digit);
    }
    if el {
        format!("{grouped},{:02} €", cents % 100)
    } else {
        format!("€{grouped}.{:02}", cents % 100)
    }
}

/// The values of a posted form by name; `None` when a name appears twice.
fn by_name(fields: &[(String, String)]) -> Option<HashMap<&str, &str>> {
    let mut map = HashMap::new();
    for (name, value) in fields {
        if map.insert(name.as_str(), value.as_str()).is_some() {
            return None;
        }
    }
    Some(map)
}

// ---- pages ----

#[derive(Template)]
#[template(path = "bank/card.html")]
struct CardPage<'a> {
    el: bool,
    merchant: &'a str,
    description: &'a str,
    /// As the payer reads it (`40,00 €`).
    amount: String,
    order_id: &'a str,
    session: &'a str,
    error: &'static str,
}

#[derive(Template)]
#[template(path = "bank/otp.html")]
struct OtpPage<'a> {
    el: bool,
    merchant: &'a str,
    description: &'a str,
    /// As the payer reads it (`40,00 €`).
    amount: String,
    order_id: &'a str,
    session: &'a str,
}

#[derive(Template)]
#[template(path = "bank/return.html")]
struct ReturnPage<'a> {
    el: bool,
    status: &'a str,
    action: &'a str,
    fields: &'a [(String, String)],
}

#[derive(Template)]
#[template(path = "bank/processing.html")]
struct ProcessingPage {
    el: bool,
}

#[derive(Template)]
#[template(path = "bank/error.html")]
struct ErrorPage {
    el: bool,
    code: &'static str,
}

fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "sandbox bank page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn error_page(el: bool, code: &'static str) -> Response {
    page(StatusCode::BAD_REQUEST, &ErrorPage { el, code })
}

fn card_page(sandbox: &BankSandbox, order: &BankOrder, error: &'static str) -> Response {
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(
        status,
        &CardPage {
            el: order.lang != "en",
            merchant: &sandbox.merchant_name,
            description: &order.description,
            amount: shown_amount(order.amount_cents, order.lang != "en"),
            order_id: &order.order_id,
            session: &order.session,
            error,
        },
    )
}

// ---- handlers ----

async fn faults_layer(
    State(sandbox): State<BankSandbox>,
    request: Request,
    next: Next,
) -> Response {
    let faults = sandbox.faults();
    if faults.slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.slow_ms)).await;
    }
    if faults.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "bank down").into_response();
    }
    next.run(request).await
}

async fn payment(
    State(sandbox): State<BankSandbox>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let Some(form) = by_name(&fields) else {
        return error_page(true, "request");
    };
    let value = |name: &str| form.get(name).copied().unwrap_or("");
    let el = value("lang") != "en";
    let expected = digest(REQUEST_FIELDS.iter().map(|f| value(f)), &sandbox.secret);
    if !digests_match(value("digest"), &expected) {
        tracing::warn!(
            orderid = value("orderid"),
            "sandbox bank: request with a bad digest"
        );
        return error_page(el, "digest");
    }
    if value("mid") != sandbox.mid {
        return error_page(el, "merchant");
    }
    let order_id = value("orderid");
    let required = [
        "orderid",
        "orderAmount",
        "currency",
        "confirmUrl",
        "cancelUrl",
    ];
    if required.iter().any(|f| value(f).is_empty()) || order_id.chars().count() > MAX_ORDER_ID_CHARS
    {
        return error_page(el, "request");
    }
    let Some(amount_cents) = parse_amount(value("orderAmount")).filter(|&c| c > 0) else {
        return error_page(el, "request");
    };
    if value("currency") != "EUR" {
        return error_page(el, "request");
    }
    let mut ledger = sandbox.ledger.lock().expect("bank lock");
    ledger.serial += 1;
    let session = URL_SAFE_NO_PAD.encode(Sha256::digest(format!(
        "{}|{}|{}|{:?}",
        sandbox.secret,
        order_id,
        ledger.serial,
        Utc::now().timestamp_nanos_opt()
    )));
    let order = BankOrder {
        order_id: order_id.to_string(),
        description: value("orderDesc").to_string(),
        amount_cents,
        currency: value("currency").to_string(),
        lang: if el { "el" } else { "en" }.to_string(),
        payer_email: Some(value("payerEmail").to_string()).filter(|e| !e.is_empty()),
        confirm_url: value("confirmUrl").to_string(),
        cancel_url: value("cancelUrl").to_string(),
        state: OrderState::AwaitingCard,
        message: String::new(),
        pay_method: String::new(),
        tx_id: String::new(),
        payment_ref: String::new(),
        returned: false,
        notifications_delivered: 0,
        created_at: Utc::now(),
        session,
    };
    // The same order id again while the payer is still at the bank (back button, a second
    // tab) starts over; once the order has ended it can never be paid again.
    match ledger.by_id(order_id) {
        Some(existing) if existing.state.is_final() => return error_page(el, "duplicate"),
        Some(existing) => *existing = order.clone(),
        None => ledger.orders.push(order.clone()),
    }
    drop(ledger);
    card_page(&sandbox, &order, "")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CardForm {
    session: String,
    action: String,
    card_number: String,
    expiry: String,
    cvv: String,
}

/// What the card page's fields say, before the bank decides.
fn check_card(form: &CardForm, today: DateTime<Utc>) -> Result<String, &'static str> {
    let number: String = form
        .card_number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if !(12..=19).contains(&number.len()) || !luhn(&number) {
        return Err("card_number");
    }
    let expiry: String = form.expiry.chars().filter(|c| *c != ' ').collect();
    let Some((month, year)) = expiry.split_once('/') else {
        return Err("expiry_format");
    };
    let (Ok(month), Ok(year)) = (month.parse::<u32>(), year.parse::<i32>()) else {
        return Err("expiry_format");
    };
    if !(1..=12).contains(&month) || year > 99 || expiry.len() != 5 {
        return Err("expiry_format");
    }
    if (2000 + year, month) < (today.year(), today.month()) {
        return Err("expired");
    }
    let cvv = form.cvv.trim();
    if !(3..=4).contains(&cvv.len()) || !cvv.bytes().all(|b| b.is_ascii_digit()) {
        return Err("cvv");
    }
    Ok(number)
}

fn luhn(number: &str) -> bool {
    let mut sum = 0;
    for (i, b) in number.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// How a completion reaches the merchant.
enum Ending {
    /// The return page and the notifications.
    Answer {
        state: OrderState,
        message: &'static str,
    },
    /// Captured, but neither the browser nor the merchant's server hears of it.
    Silent,
}

async fn card(State(sandbox): State<BankSandbox>, Form(form): Form<CardForm>) -> Response {
    let order = {
        let mut ledger = sandbox.ledger.lock().expect("bank lock");
        match ledger.by_session(&form.session) {
            Some(order) if order.state == OrderState::AwaitingCard => order.clone(),
            _ => return error_page(true, "session"),
        }
    };
    if form.action == "cancel" {
        return complete(
            &sandbox,
            &order.session,
            "",
            ended(OrderState::Cancelled, ""),
        )
        .await;
    }
    let number = match check_card(&form, Utc::now()) {
        Ok(number) => number,
        Err(code) => return card_page(&sandbox, &order, code),
    };
    let ending = match number.as_str() {
        CARD_SUCCEEDS => ended(OrderState::Captured, "Approved"),
        CARD_DECLINED => ended(OrderState::Refused, "Card declined by the issuer"),
        CARD_BANK_ERROR => ended(OrderState::Error, "Processing error at the bank"),
        CARD_TIMES_OUT => Ending::Silent,
        CARD_3DS => {
            let mut ledger = sandbox.ledger.lock().expect("bank lock");
            if let Some(o) = ledger.by_session(&order.session) {
                o.state = OrderState::AwaitingOtp;
                o.pay_method = "visa".to_string();
            }
            drop(ledger);
            return page(
                StatusCode::OK,
                &OtpPage {
                    el: order.lang != "en",
                    merchant: &sandbox.merchant_name,
                    description: &order.description,
                    amount: shown_amount(order.amount_cents, order.lang != "en"),
                    order_id: &order.order_id,
                    session: &order.session,
                },
            );
        }
        _ => return card_page(&sandbox, &order, "unknown_card"),
    };
    complete(&sandbox, &order.session, pay_method(&number), ending).await
}

fn ended(state: OrderState, message: &'static str) -> Ending {
    Ending::Answer { state, message }
}

fn pay_method(number: &str) -> &'static str {
    match number.as_bytes().first() {
        Some(b'4') => "visa",
        Some(b'5') => "mastercard",
        _ => "card",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OtpForm {
    session: String,
    action: String,
    otp: String,
}

async fn three_d_secure(State(sandbox): State<BankSandbox>, Form(form): Form<OtpForm>) -> Response {
    let awaiting = {
        let mut ledger = sandbox.ledger.lock().expect("bank lock");
        matches!(ledger.by_session(&form.session), Some(o) if o.state == OrderState::AwaitingOtp)
    };
    if !awaiting {
        return error_page(true, "session");
    }
    let ending = if form.action == "cancel" {
        ended(OrderState::Cancelled, "")
    } else if form.otp.trim() == OTP_PASSES {
        ended(OrderState::Captured, "Approved")
    } else {
        ended(OrderState::Refused, "3-D Secure authentication failed")
    };
    complete(&sandbox, &form.session, "visa", ending).await
}

/// Records how the order ended and answers the merchant: the return page for the browser
/// and the server-to-server notifications (none for a "time-out").
async fn complete(sandbox: &BankSandbox, session: &str, method: &str, ending: Ending) -> Response {
    let (order, fields, faults) = {
        let mut ledger = sandbox.ledger.lock().expect("bank lock");
        ledger.serial += 1;
        let serial = ledger.serial;
        let Some(order) = ledger.by_session(session) else {
            return error_page(true, "session");
        };
        let (state, message) = match ending {
            Ending::Answer { state, message } => (state, message),
            Ending::Silent => (OrderState::Captured, "Approved"),
        };
        order.state = state;
        order.message = message.to_string();
        if state != OrderState::Cancelled && !method.is_empty() {
            order.pay_method = method.to_string();
        }
        if state == OrderState::Captured {
            order.tx_id = format!("{}", 90_000_000 + serial);
            order.payment_ref = format!("{:06}", (serial * 7919 + 104_729) % 1_000_000);
        }
        order.returned = matches!(ending, Ending::Answer { .. });
        // A finished order's page cannot be posted again (double clicks, back button).
        order.session = String::new();
        let order = order.clone();
        let secret = ledger.answer_secret(&sandbox.secret);
        let fields = answer_fields(&sandbox.mid, &order, &secret);
        (order, fields, ledger.faults.clone())
    };
    let el = order.lang != "en";
    if matches!(ending, Ending::Silent) {
        return page(StatusCode::OK, &ProcessingPage { el });
    }
    if !faults.drop_notifications {
        let copies = if faults.duplicate_notifications { 2 } else { 1 };
        let url = sandbox
            .notify_url
            .clone()
            .unwrap_or_else(|| order.confirm_url.clone());
        let notify = notify(
            sandbox.clone(),
            url,
            order.order_id.clone(),
            fields.clone(),
            copies,
        );
        if faults.notify_before_return {
            notify.await;
        } else {
            tokio::spawn(notify);
        }
    }
    let action = if order.state == OrderState::Cancelled {
        &order.cancel_url
    } else {
        &order.confirm_url
    };
    page(
        StatusCode::OK,
        &ReturnPage {
            el,
            status: order.state.vpos_status(),
            action,
            fields: &fields,
        },
    )
}

/// The signed answer about `order`, in protocol order, `digest` last.
fn answer_fields(mid: &str, order: &BankOrder, secret: &str) -> Vec<(String, String)> {
    let amount = format_amount(order.amount_cents);
    let values = [
        VERSION,
        mid,
        &order.order_id,
        order.state.vpos_status(),
        &amount,
        &order.currency,
        &amount,
        &order.message,
        "0",
        &order.pay_method,
        &order.tx_id,
        &order.payment_ref,
    ];
    signed(&values, secret)
}

fn signed(values: &[&str; 12], secret: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = ANSWER_FIELDS
        .iter()
        .zip(values)
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    fields.push(("digest".into(), digest(values.iter().copied(), secret)));
    fields
}

/// Posts the answer `copies` times, each retried until the merchant answers 2xx.
async fn notify(
    sandbox: BankSandbox,
    url: String,
    order_id: String,
    fields: Vec<(String, String)>,
    copies: u32,
) {
    for _ in 0..copies {
        for attempt in 1..=NOTIFY_ATTEMPTS {
            let sent = sandbox.client.post(&url).form(&fields).send().await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    let mut ledger = sandbox.ledger.lock().expect("bank lock");
                    if let Some(order) = ledger.by_id(&order_id) {
                        order.notifications_delivered += 1;
                    }
                    break;
                }
                Ok(response) => {
                    tracing::info!(%url, status = %response.status(), attempt, "sandbox bank: notification refused");
                }
                Err(e) => {
                    tracing::info!(%url, error = %e, attempt, "sandbox bank: notification failed");
                }
            }
            if attempt < NOTIFY_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
}

async fn status(
    State(sandbox): State<BankSandbox>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let Some(form) = by_name(&fields) else {
        return (StatusCode::BAD_REQUEST, "a field given twice").into_response();
    };
    let value = |name: &str| form.get(name).copied().unwrap_or("");
    let (mid, order_id) = (value("mid"), value("orderid"));
    if order_id.is_empty() {
        return (StatusCode::BAD_REQUEST, "orderid is required").into_response();
    }
    let expected = digest([mid, order_id], &sandbox.secret);
    if mid != sandbox.mid || !digests_match(value("digest"), &expected) {
        return (StatusCode::FORBIDDEN, "bad merchant or digest").into_response();
    }
    let mut ledger = sandbox.ledger.lock().expect("bank lock");
    let known = ledger.by_id(order_id).cloned();
    let secret = ledger.answer_secret(&sandbox.secret);
    drop(ledger);
    let fields = match known {
        Some(order) => answer_fields(&sandbox.mid, &order, &secret),
        None => signed(
            &[
                VERSION, mid, order_id, "UNKNOWN", "", "", "", "", "", "", "", "",
            ],
            &secret,
        ),
    };
    let body: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(name, value)| (name, serde_json::Value::String(value)))
        .collect();
    Json(body).into_response()
}

async fn stylesheet() -> Response {
    let css = include_str!("../static/bank.css");
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response()
}

async fn return_script() -> Response {
    let js = include_str!("../static/return.js");
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        js,
    )
        .into_response()
}

async fn get_faults(State(sandbox): State<BankSandbox>) -> Json<BankFaults> {
    Json(sandbox.faults())
}

async fn put_faults(
    State(sandbox): State<BankSandbox>,
    Json(faults): Json<BankFaults>,
) -> Json<BankFaults> {
    sandbox.set_faults(faults.clone());
    Json(faults)
}

async fn list_orders(State(sandbox): State<BankSandbox>) -> Json<Vec<BankOrder>> {
    Json(sandbox.orders())
}

// ---- reading the bank's pages without a browser ----

/// A form found in an HTML page: where it posts and its hidden fields, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlForm {
    pub action: String,
    pub hidden: Vec<(String, String)>,
}

/// The first form of `html` (the bank's pages have one), for tests that walk the bank's
/// pages with an HTTP client instead of a browser.
pub fn read_form(html: &str) -> Option<HtmlForm> {
    let start = html.find("<form")?;
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    let form = &html[start..end];
    let tag_end = form.find('>')?;
    let action = attribute(&form[..tag_end], "action").unwrap_or_default();
    let mut hidden = Vec::new();
    let mut rest = form;
    while let Some(at) = rest.find("<input") {
        rest = &rest[at..];
        let close = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..close];
        if attribute(tag, "type").as_deref() == Some("hidden") {
            if let Some(name) = attribute(tag, "name") {
                hidden.push((name, attribute(tag, "value").unwrap_or_default()));
            }
        }
        rest = &rest[close..];
    }
    Some(HtmlForm { action, hidden })
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MID: &str = "0020000001";
    const SECRET: &str = "Cardlink1";

    type Received = Arc<Mutex<Vec<Vec<(String, String)>>>>;

    /// A merchant's notification endpoint that records every form posted to `/confirm`.
    async fn receiver() -> (RunningSandbox, Received) {
        let received: Received = Arc::default();
        let store = received.clone();
        let router = Router::new().route(
            "/confirm",
            post(move |Form(fields): Form<Vec<(String, String)>>| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push(fields);
                    "OK"
                }
            }),
        );
        let running = crate::serve(router, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        (running, received)
    }

    struct Merchant {
        bank: BankSandbox,
        running: RunningSandbox,
        shop: RunningSandbox,
        received: Received,
        http: reqwest::Client,
    }

    async fn merchant() -> Merchant {
        let (shop, received) = receiver().await;
        let bank = BankSandbox::new(MID, SECRET);
        let running = bank
            .start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        Merchant {
            bank,
            running,
            shop,
            received,
            http: reqwest::Client::new(),
        }
    }

    impl Merchant {
        fn confirm_url(&self) -> String {
            format!("{}/confirm", self.shop.base_url())
        }

        fn cancel_url(&self) -> String {
            format!("{}/cancel", self.shop.base_url())
        }

        fn request(&self, order_id: &str, amount: &str, lang: &str) -> Vec<(String, String)> {
            let values = [
                VERSION.to_string(),
                MID.to_string(),
                lang.to_string(),
                order_id.to_string(),
                "Πρόστιμο ΚΟΚ".to_string(),
                amount.to_string(),
                "EUR".to_string(),
                "citizen@example.gr".to_string(),
                self.confirm_url(),
                self.cancel_url(),
            ];
            let mut fields: Vec<(String, String)> = REQUEST_FIELDS
                .iter()
                .map(|f| f.to_string())
                .zip(values.iter().cloned())
                .collect();
            fields.push((
                "digest".into(),
                digest(values.iter().map(String::as_str), SECRET),
            ));
            fields
        }

        async fn post(&self, path: &str, fields: &[(String, String)]) -> (StatusCode, String) {
            let response = self
                .http
                .post(format!("{}{path}", self.running.base_url()))
                .form(fields)
                .send()
                .await
                .unwrap();
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            (status, response.text().await.unwrap())
        }

        /// Posts a signed request and returns the card page's session.
        async fn start(&self, order_id: &str) -> String {
            let (status, body) = self
                .post("/vpos/payment", &self.request(order_id, "12.50", "el"))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            session_of(&body)
        }

        async fn pay(&self, session: &str, card: &str) -> (StatusCode, String) {
            let form = [
                ("session", session),
                ("card_number", card),
                ("expiry", "12/39"),
                ("cvv", "123"),
                ("action", "pay"),
            ];
            self.post("/vpos/card", &owned(&form)).await
        }

        async fn notifications(&self, at_least: usize) -> Vec<Vec<(String, String)>> {
            for _ in 0..50 {
                if self.received.lock().unwrap().len() >= at_least {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.received.lock().unwrap().clone()
        }
    }

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn session_of(card_page: &str) -> String {
        let form = read_form(card_page).expect("a card form");
        assert_eq!(form.action, "/vpos/card");
        form.hidden
            .into_iter()
            .find(|(n, _)| n == "session")
            .expect("a session field")
            .1
    }

    fn value<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name}"))
    }

    fn genuine(fields: &[(String, String)]) -> bool {
        let values = ANSWER_FIELDS.iter().map(|f| value(fields, f));
        digests_match(value(fields, "digest"), &digest(values, SECRET))
    }

    #[tokio::test]
    async fn a_good_card_returns_a_signed_capture_and_notifies_the_merchant() {
        let m = merchant().await;
        let (status, card_page) = m
            .post("/vpos/payment", &m.request("PAY-1", "12.5", "el"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(card_page.contains("12,50 €"));
        assert!(card_page.contains("Πρόστιμο ΚΟΚ"));
        assert!(card_page.contains("Πληρωμή") && card_page.contains("Ακύρωση"));
        assert!(
            !card_page.contains("<script"),
            "the card page needs no script"
        );

        let (status, body) = m.pay(&session_of(&card_page), "4111 1111 1111 1111").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Συνέχεια"));
        let form = read_form(&body).unwrap();
        assert_eq!(form.action, m.confirm_url());
        let names: Vec<&str> = form.hidden.iter().map(|(n, _)| n.as_str()).collect();
        let mut expected = ANSWER_FIELDS.to_vec();
        expected.push("digest");
        assert_eq!(names, expected);
        assert_eq!(value(&form.hidden, "status"), "CAPTURED");
        assert_eq!(value(&form.hidden, "orderAmount"), "12.50");
        assert!(!value(&form.hidden, "txId").is_empty());
        assert_eq!(value(&form.hidden, "paymentRef").len(), 6);
        assert!(genuine(&form.hidden));
        assert!(
            !body.contains("4111"),
            "the card number never leaves the bank"
        );

        let notifications = m.notifications(1).await;
        assert_eq!(notifications, vec![form.hidden.clone()]);
        let order = m.bank.order("PAY-1").unwrap();
        assert_eq!(order.state, OrderState::Captured);
        assert!(order.returned);
        for _ in 0..50 {
            if m.bank.order("PAY-1").unwrap().notifications_delivered == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(m.bank.order("PAY-1").unwrap().notifications_delivered, 1);
    }

    #[tokio::test]
    async fn english_pages_follow_the_lang_field() {
        let m = merchant().await;
        let (_, page) = m
            .post("/vpos/payment", &m.request("PAY-EN", "1", "en"))
            .await;
        assert!(page.contains("<html lang=\"en\">"));
        assert!(page.contains("Pay €1.00") && page.contains("Cancel"));
    }

    #[tokio::test]
    async fn a_forged_or_tampered_request_gets_an_error_page_and_no_order() {
        let m = merchant().await;
        let mut tampered = m.request("PAY-2", "12.50", "el");
        tampered[5].1 = "0.01".into();
        let (status, body) = m.post("/vpos/payment", &tampered).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("data-code=\"digest\""));

        let mut other_merchant = m.request("PAY-2", "12.50", "el");
        other_merchant[1].1 = "999".into();
        other_merchant.pop();
        let values: Vec<&str> = other_merchant.iter().map(|(_, v)| v.as_str()).collect();
        let signature = digest(values, SECRET);
        other_merchant.push(("digest".into(), signature));
        let (status, body) = m.post("/vpos/payment", &other_merchant).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("data-code=\"merchant\""));

        let mut unsigned = m.request("PAY-2", "12.50", "el");
        unsigned.pop();
        let (status, _) = m.post("/vpos/payment", &unsigned).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(m.bank.orders().is_empty());
    }

    #[tokio::test]
    async fn bad_card_data_stays_on_the_card_page_and_may_be_retried() {
        let m = merchant().await;
        let session = m.start("PAY-3").await;
        let (status, body) = m.pay(&session, "4111 1111 1111 1112").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("id=\"card-error\"") && body.contains("αριθμός κάρτας"));

        let expired = owned(&[
            ("session", &session),
            ("card_number", CARD_SUCCEEDS),
            ("expiry", "01/20"),
            ("cvv", "123"),
            ("action", "pay"),
        ]);
        let (status, body) = m.post("/vpos/card", &expired).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("έχει λήξει"));
        assert_eq!(
            m.bank.order("PAY-3").unwrap().state,
            OrderState::AwaitingCard
        );

        let (status, body) = m.pay(&session, CARD_SUCCEEDS).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            value(&read_form(&body).unwrap().hidden, "status"),
            "CAPTURED"
        );
    }

    #[test]
    fn card_checks() {
        let today = Utc::now();
        let form = |number: &str, expiry: &str, cvv: &str| CardForm {
            session: String::new(),
            action: "pay".into(),
            card_number: number.into(),
            expiry: expiry.into(),
            cvv: cvv.into(),
        };
        assert_eq!(
            check_card(&form("4111-1111 1111 1111", "12/99", "123"), today),
            Ok(CARD_SUCCEEDS.to_string())
        );
        assert_eq!(
            check_card(&form("4111", "12/99", "123"), today),
            Err("card_number")
        );
        assert_eq!(
            check_card(&form(CARD_SUCCEEDS, "13/30", "123"), today),
            Err("expiry_format")
        );
        assert_eq!(
            check_card(&form(CARD_SUCCEEDS, "1230", "123"), today),
            Err("expiry_format")
        );
        assert_eq!(
            check_card(&form(CARD_SUCCEEDS, "12/99", "12"), today),
            Err("cvv")
        );
        for card in [
            CARD_SUCCEEDS,
            CARD_DECLINED,
            CARD_3DS,
            CARD_TIMES_OUT,
            CARD_BANK_ERROR,
        ] {
            assert!(luhn(card), "{card}");
        }
    }

    #[tokio::test]
    async fn a_declined_card_and_a_bank_error_return_to_the_confirm_url() {
        let m = merchant().await;
        let (_, body) = m.pay(&m.start("PAY-4").await, CARD_DECLINED).await;
        let form = read_form(&body).unwrap();
        assert_eq!(form.action, m.confirm_url());
        assert_eq!(value(&form.hidden, "status"), "REFUSED");
        assert!(value(&form.hidden, "txId").is_empty());
        assert!(genuine(&form.hidden));

        let (_, body) = m.pay(&m.start("PAY-5").await, CARD_BANK_ERROR).await;
        assert_eq!(value(&read_form(&body).unwrap().hidden, "status"), "ERROR");
    }

    #[tokio::test]
    async fn three_d_secure_passes_with_the_right_code_and_refuses_another() {
        let m = merchant().await;
        for (order, code, expected) in [
            ("PAY-6", OTP_PASSES, "CAPTURED"),
            ("PAY-7", "000000", "REFUSED"),
        ] {
            let (status, otp_page) = m.pay(&m.start(order).await, CARD_3DS).await;
            assert_eq!(status, StatusCode::OK);
            let form = read_form(&otp_page).unwrap();
            assert_eq!(form.action, "/vpos/3ds");
            let session = value(&form.hidden, "session").to_string();
            let answer = owned(&[("session", &session), ("otp", code), ("action", "confirm")]);
            let (_, body) = m.post("/vpos/3ds", &answer).await;
            let form = read_form(&body).unwrap();
            assert_eq!(value(&form.hidden, "status"), expected);
            assert!(genuine(&form.hidden));
        }
    }

    #[tokio::test]
    async fn a_cancel_returns_to_the_cancel_url_and_notifies() {
        let m = merchant().await;
        let session = m.start("PAY-8").await;
        let (_, body) = m
            .post(
                "/vpos/card",
                &owned(&[("session", &session), ("action", "cancel")]),
            )
            .await;
        let form = read_form(&body).unwrap();
        assert_eq!(form.action, m.cancel_url());
        assert_eq!(value(&form.hidden, "status"), "CANCELED");
        assert!(genuine(&form.hidden));
        assert_eq!(m.notifications(1).await.len(), 1);
        // The finished page cannot be posted again.
        let (status, body) = m.pay(&session, CARD_SUCCEEDS).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("data-code=\"session\""));
        // Nor can the order id be paid again.
        let (status, body) = m
            .post("/vpos/payment", &m.request("PAY-8", "12.50", "el"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("data-code=\"duplicate\""));
    }

    async fn status_of(m: &Merchant, order_id: &str) -> (StatusCode, serde_json::Value) {
        let fields = owned(&[
            ("mid", MID),
            ("orderid", order_id),
            ("digest", &digest([MID, order_id], SECRET)),
        ]);
        let response = m
            .http
            .post(format!("{}/vpos/status", m.running.base_url()))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    #[tokio::test]
    async fn a_timed_out_payment_is_told_only_by_the_status_query() {
        let m = merchant().await;
        let (_, status) = status_of(&m, "PAY-9").await;
        assert_eq!(status["status"], "UNKNOWN");
        let session = m.start("PAY-9").await;
        let (_, status) = status_of(&m, "PAY-9").await;
        assert_eq!(status["status"], "PENDING");

        let (code, body) = m.pay(&session, CARD_TIMES_OUT).await;
        assert_eq!(code, StatusCode::OK);
        assert!(body.contains("id=\"processing\""));
        assert!(read_form(&body).is_none(), "no way back to the merchant");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(m.received.lock().unwrap().is_empty());

        let (_, status) = status_of(&m, "PAY-9").await;
        assert_eq!(status["status"], "CAPTURED");
        let fields: Vec<(String, String)> = status
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_string()))
            .collect();
        assert!(genuine(&fields));
        assert!(!m.bank.order("PAY-9").unwrap().returned);
    }

    #[tokio::test]
    async fn a_status_query_with_a_bad_digest_is_refused() {
        let m = merchant().await;
        let fields = owned(&[("mid", MID), ("orderid", "PAY-1"), ("digest", "AAAA")]);
        let (status, _) = m.post("/vpos/status", &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn notification_switches_duplicate_drop_and_before_return() {
        let m = merchant().await;
        m.bank.set_faults(BankFaults {
            duplicate_notifications: true,
            ..BankFaults::default()
        });
        m.pay(&m.start("PAY-10").await, CARD_SUCCEEDS).await;
        let received = m.notifications(2).await;
        assert_eq!(received.len(), 2);
        assert_eq!(received[0], received[1]);

        m.received.lock().unwrap().clear();
        m.bank.set_faults(BankFaults {
            drop_notifications: true,
            ..BankFaults::default()
        });
        m.pay(&m.start("PAY-11").await, CARD_SUCCEEDS).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(m.received.lock().unwrap().is_empty());

        m.bank.set_faults(BankFaults {
            notify_before_return: true,
            ..BankFaults::default()
        });
        let (_, body) = m.pay(&m.start("PAY-12").await, CARD_SUCCEEDS).await;
        let received = m.received.lock().unwrap().clone();
        assert_eq!(received, vec![read_form(&body).unwrap().hidden]);
    }

    #[tokio::test]
    async fn notifications_go_to_the_configured_notify_url() {
        let (shop, received) = receiver().await;
        let m = merchant().await;
        let bank =
            BankSandbox::new(MID, SECRET).with_notify_url(format!("{}/confirm", shop.base_url()));
        let running = bank
            .start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let m = Merchant { bank, running, ..m };
        m.pay(&m.start("PAY-13").await, CARD_SUCCEEDS).await;
        for _ in 0..50 {
            if !received.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(received.lock().unwrap().len(), 1);
        assert!(m.received.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_refused_notification_is_retried_until_accepted() {
        let calls = Arc::new(Mutex::new(0u32));
        let counter = calls.clone();
        let flaky = Router::new().route(
            "/notify",
            post(move || {
                let counter = counter.clone();
                async move {
                    let mut calls = counter.lock().unwrap();
                    *calls += 1;
                    if *calls == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let shop = crate::serve(flaky, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let m = merchant().await;
        let bank =
            BankSandbox::new(MID, SECRET).with_notify_url(format!("{}/notify", shop.base_url()));
        let running = bank
            .start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let m = Merchant { bank, running, ..m };
        m.bank.set_faults(BankFaults {
            notify_before_return: true,
            ..BankFaults::default()
        });
        m.pay(&m.start("PAY-R").await, CARD_SUCCEEDS).await;
        assert_eq!(*calls.lock().unwrap(), 2);
        assert_eq!(m.bank.order("PAY-R").unwrap().notifications_delivered, 1);
    }

    #[tokio::test]
    async fn forge_next_signs_answers_with_a_wrong_secret() {
        let m = merchant().await;
        m.bank.set_faults(BankFaults {
            forge_next: 1,
            ..BankFaults::default()
        });
        let (_, body) = m.pay(&m.start("PAY-14").await, CARD_SUCCEEDS).await;
        let forged = read_form(&body).unwrap().hidden;
        assert!(!genuine(&forged));
        assert_eq!(m.notifications(1).await, vec![forged]);
        assert_eq!(m.bank.faults().forge_next, 0);
        let (_, body) = m.pay(&m.start("PAY-15").await, CARD_SUCCEEDS).await;
        assert!(genuine(&read_form(&body).unwrap().hidden));
    }

    #[tokio::test]
    async fn down_and_slow_are_switched_over_http() {
        let m = merchant().await;
        let faults = format!("{}/_sandbox/faults", m.running.base_url());
        let put = |body: serde_json::Value| m.http.put(&faults).json(&body).send();
        assert!(put(serde_json::json!({"down": true}))
            .await
            .unwrap()
            .status()
            .is_success());
        let (status, _) = m
            .post("/vpos/payment", &m.request("PAY-16", "1.00", "el"))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let (status, _) = m.post("/vpos/status", &[]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

        put(serde_json::json!({"slow_ms": 300})).await.unwrap();
        let started = std::time::Instant::now();
        m.start("PAY-16").await;
        assert!(started.elapsed() >= Duration::from_millis(300));

        let orders: serde_json::Value = m
            .http
            .get(format!("{}/_sandbox/orders", m.running.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(orders[0]["order_id"], "PAY-16");
        assert_eq!(orders[0]["state"], "awaiting_card");
        assert!(orders[0].get("session").is_none());
    }

    #[test]
    fn forms_are_read_back_unescaped() {
        let html = r#"<p>x</p><form id="f" method="post" action="http://shop/confirm?a=1&amp;b=2">
            <input type="hidden" name="digest" value="ab&#43;c&#x2f;d&#61;">
            <input type="text" name="visible" value="no">
            <input type="hidden" name="message" value="&quot;OK&quot; &lt;3"></form>"#;
        let form = read_form(html).unwrap();
        assert_eq!(form.action, "http://shop/confirm?a=1&b=2");
        assert_eq!(
            form.hidden,
            owned(&[("digest", "ab+c/d="), ("message", "\"OK\" <3")])
        );
    }

    #[test]
    fn amounts_round_trip_exactly() {
        assert_eq!(parse_amount("12.5"), Some(1250));
        assert_eq!(parse_amount("0.01"), Some(1));
        assert_eq!(parse_amount("12.345"), None);
        assert_eq!(parse_amount("-1.00"), None);
        assert_eq!(format_amount(1250), "12.50");
        assert_eq!(format_amount(7), "0.07");
        assert_eq!(shown_amount(4000, true), "40,00 €");
        assert_eq!(shown_amount(123_456_789, true), "1.234.567,89 €");
        assert_eq!(shown_amount(123_456, false), "€1,234.56");
        assert_eq!(shown_amount(7, false), "€0.07");
    }
}
