//! HTTP tests of the «Πληρωμή Προστίμων ΚΟΚ» pages (issue 5, contract: docs/pages.md):
//! step 1 and step 2 with their field errors (another municipality's code next to its
//! field), the quote for a visitor and for a citizen whose profile is incomplete, the
//! confirmation, the page holding the bank's form (its signed fields, and a CSP that lets
//! only that page post to the bank), and the outcome pages after the sandbox bank: a
//! declined card with the way to try again, then a good card and the receipt.

use crate::common::pages::{Page, Visitor};
use crate::common::TestApp;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Athens;
use reqwest::StatusCode;
use sandboxes::bank::{CARD_DECLINED, CARD_SUCCEEDS};
use sandboxes::fines::{SandboxFine, SEEDED_BASE, SEEDED_EARLY, SEEDED_LATE};
use serde_json::{json, Value};

const CITIZEN_EMAIL: &str = "nikos@example.gr";
const CITIZEN_PASSWORD: &str = "Κωδικός-Δοκιμής-42";
const MESSAGES_EL: &str = "el";

fn greek(code: &str) -> String {
    let messages: Value = crate::common::catalog(MESSAGES_EL);
    messages[code]
        .as_str()
        .unwrap_or_else(|| panic!("el.ftl has no {code}"))
        .to_string()
}

impl Page {
    /// A field's message and that its input points at it.
    fn assert_field_error(&self, field: &str, code: &str) {
        self.assert_has("class=\"error-summary\"");
        self.assert_has(&format!("href=\"#{field}\""));
        assert_eq!(
            self.text_of(&format!("{field}-error")),
            format!("{} {}", greek("ui_error_prefix"), greek(code)),
            "{}",
            self.body
        );
        self.assert_has(&format!("aria-describedby=\"{field}-error"));
    }
}

impl Visitor {
    /// Steps 1 and 2 for a ticket; answers the quote page's path.
    async fn quote(&mut self, fine: &SandboxFine) -> String {
        let step1 = self.get("/fines").await;
        step1.assert_status(StatusCode::OK);
        let to_step2 = self
            .post(
                &step1,
                "/fines",
                &[
                    ("municipality_code", "9999"),
                    ("fine_type", &fine.fine_type),
                ],
            )
            .await;
        to_step2.assert_status(StatusCode::SEE_OTHER);
        let step2 = self.get(to_step2.location.as_deref().unwrap()).await;
        step2.assert_status(StatusCode::OK);
        let (date, time) = local(fine.offence_at);
        let quoted = self
            .post(
                &step2,
                "/fines/details",
                &[
                    ("municipality_code", "9999"),
                    ("fine_type", &fine.fine_type),
                    ("fine_number", &fine.fine_number),
                    ("plate", &fine.plate),
                    ("offence_date", &date),
                    ("offence_time", &time),
                ],
            )
            .await;
        quoted.assert_status(StatusCode::SEE_OTHER);
        let location = quoted.location.unwrap();
        assert!(location.starts_with("/fines/quotes/"), "{location}");
        location
    }

    /// From a quote page to the bank form page (confirmation included).
    async fn go_to_bank(&mut self, quote_path: &str) -> Page {
        let quote = self.get(quote_path).await;
        quote.assert_status(StatusCode::OK);
        let confirm_path = quote.href_of("pay");
        let confirm = self.get(&confirm_path).await;
        confirm.assert_status(StatusCode::OK);
        let bank = self.post(&confirm, &confirm_path, &[]).await;
        bank.assert_status(StatusCode::OK);
        bank
    }

    /// Walks the sandbox bank from the bank form page with `card` (or cancels there) and
    /// follows the bank's return; answers the portal's outcome page.
    async fn at_bank(&mut self, bank_page: &Page, card: Option<&str>) -> Page {
        let form = bank_page.bank_form();
        let back = crate::common::bank::walk(
            &crate::common::bank::client(),
            &form.action,
            &form.hidden,
            card,
        )
        .await;
        let r = self
            .client
            .post(&back.action)
            .form(&back.hidden)
            .send()
            .await
            .unwrap();
        let returned = self.absorb(r).await;
        returned.assert_status(StatusCode::SEE_OTHER);
        self.get(returned.location.as_deref().unwrap()).await
    }
}

fn local(at: DateTime<Utc>) -> (String, String) {
    let l = at.with_timezone(&Athens);
    (
        l.format("%Y-%m-%d").to_string(),
        l.format("%H:%M").to_string(),
    )
}

fn seeded(app: &TestApp, number: &str) -> SandboxFine {
    app.fines
        .fines()
        .into_iter()
        .find(|f| f.fine_number == number)
        .expect("a seeded fine")
}

async fn complete_profile(app: &TestApp, token: &str) {
    let r = app
        .client
        .put(app.url("/api/v1/me"))
        .bearer_auth(token)
        .json(&json!({
            "full_name": "Νίκος Οδηγός",
            "father_name": "Γεώργιος",
            "address": "Οδός Ερμού 1, 10563 Αθήνα",
            "phone": "2101234567",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn step_one_offers_the_payable_types_and_refuses_next_to_the_fields() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let step1 = v.get("/fines").await;
    step1.assert_status(StatusCode::OK);
    step1.assert_has("<h1 class=\"heading-xl\">Πληρωμή Προστίμων ΚΟΚ</h1>");
    step1.assert_has("id=\"municipality_code\"");
    step1.assert_has("<select class=\"select\" id=\"fine_type\" name=\"fine_type\"");
    for t in &app.state.config.municipality.fines.types {
        step1.assert_has(&format!("<option value=\"{}\"", t.code));
    }
    step1.assert_has(" €)</option>");

    let empty = v
        .post(
            &step1,
            "/fines",
            &[("municipality_code", ""), ("fine_type", "")],
        )
        .await;
    empty.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    empty.assert_field_error("municipality_code", "municipality_code_required");
    empty.assert_field_error("fine_type", "fine_type_required");

    let foreign = v
        .post(
            &step1,
            "/fines",
            &[("municipality_code", "1234"), ("fine_type", "P01")],
        )
        .await;
    foreign.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    foreign.assert_field_error("municipality_code", "municipality_code_foreign");
    foreign.assert_has("value=\"1234\"");

    let unknown = v
        .post(
            &step1,
            "/fines",
            &[("municipality_code", "9999"), ("fine_type", "ZZ99")],
        )
        .await;
    unknown.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    unknown.assert_field_error("fine_type", "fine_type_not_payable");

    let ok = v
        .post(
            &step1,
            "/fines",
            &[("municipality_code", "9999"), ("fine_type", "P01")],
        )
        .await;
    ok.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        ok.location.as_deref(),
        Some("/fines/details?municipality_code=9999&fine_type=P01")
    );
    let step2 = v
        .get("/fines/details?municipality_code=9999&fine_type=P01")
        .await;
    step2.assert_status(StatusCode::OK);
    assert_eq!(step2.text_of("step-municipality-code"), "9999");
    assert!(step2.text_of("type-amount").ends_with(" €"));
    for id in ["fine_number", "plate", "offence_date", "offence_time"] {
        step2.assert_has(&format!("id=\"{id}\""));
    }
    // Step 2 with another municipality's code goes back to step 1's message.
    let forged = v
        .get("/fines/details?municipality_code=1234&fine_type=P01")
        .await;
    forged.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    forged.assert_field_error("municipality_code", "municipality_code_foreign");
}

#[tokio::test]
async fn step_two_says_what_is_wrong_next_to_each_field() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let step2 = v
        .get("/fines/details?municipality_code=9999&fine_type=P01")
        .await;
    let bad = v
        .post(
            &step2,
            "/fines/details",
            &[
                ("municipality_code", "9999"),
                ("fine_type", "P01"),
                ("fine_number", ""),
                ("plate", "12"),
                ("offence_date", "31/02/2026"),
                ("offence_time", "25:00"),
            ],
        )
        .await;
    bad.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    bad.assert_field_error("fine_number", "fine_number_required");
    bad.assert_has("id=\"plate-error\"");
    bad.assert_field_error("offence_date", "offence_date_invalid");
    bad.assert_field_error("offence_time", "offence_time_invalid");
    bad.assert_has("value=\"12\"");

    let tomorrow = (Utc::now() + chrono::Duration::days(2)).with_timezone(&Athens);
    let future = v
        .post(
            &step2,
            "/fines/details",
            &[
                ("municipality_code", "9999"),
                ("fine_type", "P01"),
                ("fine_number", "555000111"),
                ("plate", "ΙΚΑ 1234"),
                ("offence_date", &tomorrow.format("%Y-%m-%d").to_string()),
                ("offence_time", "10:00"),
            ],
        )
        .await;
    future.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    future.assert_field_error("offence_date", "offence_date_in_future");
}

#[tokio::test]
async fn a_visitor_sees_the_quote_and_is_asked_to_log_in_to_pay() {
    let app = TestApp::spawn().await;
    let fine = seeded(&app, SEEDED_BASE);
    let mut v = Visitor::new(&app);
    let path = v.quote(&fine).await;
    let quote = v.get(&path).await;
    quote.assert_status(StatusCode::OK);
    assert_eq!(quote.text_of("fine-number"), fine.fine_number);
    assert_eq!(quote.text_of("fine-municipality-code"), "9999");
    assert!(quote.text_of("quote-amount").ends_with(" €"));
    assert!(!quote.text_of("quote-valid-until").is_empty());
    assert_eq!(
        quote.text_of("quote-may-change"),
        greek("ui_fines_quote_may_change")
    );
    let login = quote.href_of("login-to-pay");
    assert!(
        login.starts_with("/login?next=%2Ffines%2Fquotes%2F"),
        "{login}"
    );
    quote.assert_lacks("id=\"pay\"");
    // The confirmation needs a login.
    let confirm = v.get(&format!("{path}/confirm")).await;
    confirm.assert_status(StatusCode::SEE_OTHER);
    assert!(confirm.location.unwrap().starts_with("/login?next="));
    // A quote id that is not one.
    let missing = v.get("/fines/quotes/9999-1-nothing").await;
    missing.assert_status(StatusCode::NOT_FOUND);
}

/// A quote page past the quote's validity, by the portal's clock (moved, not waited for):
/// 410 with the way back to step 2, as «Πληρωμή» would refuse it.
#[tokio::test]
async fn a_quote_past_its_validity_is_gone_with_the_way_back() {
    let clock = domain::ports::ManualClock::at(chrono::Utc::now());
    let app = TestApp::spawn_with({
        let clock = clock.clone();
        move |c| {
            c.fines_quote_ttl = std::time::Duration::from_secs(30 * 60);
            c.clock = std::sync::Arc::new(clock);
        }
    })
    .await;
    let fine = seeded(&app, SEEDED_BASE);
    let mut v = Visitor::new(&app);
    let path = v.quote(&fine).await;
    v.get(&path).await.assert_status(StatusCode::OK);
    clock.advance(chrono::Duration::seconds(30 * 60 + 1));
    let gone = v.get(&path).await;
    gone.assert_status(StatusCode::GONE);
    gone.assert_has(&greek("ui_fines_quote_expired_text"));
    gone.assert_lacks("id=\"pay\"");
}

#[tokio::test]
async fn an_incomplete_profile_is_told_what_to_complete_with_a_link() {
    let app = TestApp::spawn().await;
    app.citizen(CITIZEN_EMAIL, "Νίκος Οδηγός").await;
    let fine = seeded(&app, SEEDED_EARLY);
    let mut v = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let path = v.quote(&fine).await;
    let quote = v.get(&path).await;
    quote.assert_status(StatusCode::OK);
    let missing = quote.text_of("profile-missing");
    for key in ["ui_field_father_name", "ui_field_address", "ui_field_phone"] {
        assert!(missing.contains(&greek(key)), "{missing}");
    }
    assert!(!missing.contains(&greek("ui_field_full_name")), "{missing}");
    quote.assert_lacks("id=\"pay\"");
    let confirm = v.get(&format!("{path}/confirm")).await;
    confirm.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(confirm.location.as_deref(), Some(path.as_str()));

    // The detour (issue 17): the profile says which services need which details and that
    // saving returns to the quote; a refused save stays on the profile with the way back;
    // a good one returns to the quote, which now offers to pay.
    let href = quote.href_of("profile-link");
    let encoded: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    assert_eq!(href, format!("/profile?next={encoded}"));
    let profile = v.get(&href).await;
    profile.assert_status(StatusCode::OK);
    assert_eq!(
        profile.text_of("profile-return"),
        greek("ui_profile_return")
    );
    profile.assert_has(&greek("ui_profile_needs_payments"));
    assert_eq!(
        profile.text_of("father_name-hint"),
        greek("ui_hint_needed_for_payments")
    );
    profile.assert_has(&format!("name=\"next\" value=\"{path}\""));
    let refused = v
        .post(
            &profile,
            "/profile",
            &[
                ("full_name", "Νίκος Οδηγός"),
                ("father_name", "Γεώργιος"),
                ("address", "Οδός Ερμού 1, 10563 Αθήνα"),
                ("phone", "όχι τηλέφωνο"),
                ("next", &path),
            ],
        )
        .await;
    refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_has(&format!("name=\"next\" value=\"{path}\""));
    let saved = v
        .post(
            &refused,
            "/profile",
            &[
                ("full_name", "Νίκος Οδηγός"),
                ("father_name", "Γεώργιος"),
                ("address", "Οδός Ερμού 1, 10563 Αθήνα"),
                ("phone", "2101234567"),
                ("next", &path),
            ],
        )
        .await;
    saved.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(saved.location.as_deref(), Some(path.as_str()));
    let quote = v.get(&path).await;
    quote.assert_status(StatusCode::OK);
    quote.assert_lacks("id=\"profile-incomplete\"");
    assert_eq!(quote.href_of("pay"), format!("{path}/confirm"));

    // Another site is never where saving leads.
    let profile = v.get("/profile?next=//evil.example").await;
    profile.assert_lacks("id=\"profile-return\"");
    let saved = v
        .post(
            &profile,
            "/profile",
            &[
                ("full_name", "Νίκος Οδηγός"),
                ("father_name", "Γεώργιος"),
                ("address", "Οδός Ερμού 1, 10563 Αθήνα"),
                ("phone", "2101234567"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(saved.location.as_deref(), Some("/profile?saved=1"));
}

/// «Ποσό του είδους 80,00 €» and then 40,00 € asked: the quote says why (issue 17) — the
/// municipality's reduction or surcharge for the days since the offence, with its amount —
/// and so does the confirmation before the bank. The base amount alone needs no reason.
#[tokio::test]
async fn the_quote_says_why_the_amount_differs_from_the_base() {
    let app = TestApp::spawn().await;
    let token = app.citizen(CITIZEN_EMAIL, "Νίκος Οδηγός").await;
    complete_profile(&app, &token).await;
    let mut v = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let euros = |cents: i64| format!("{},{:02} €", cents / 100, cents % 100);

    // Three days after the offence: −50 % within 10 days (the example schedule).
    let early = seeded(&app, SEEDED_EARLY);
    let path = v.quote(&early).await;
    let quote = v.get(&path).await;
    quote.assert_status(StatusCode::OK);
    assert_eq!(quote.text_of("quote-base-amount"), euros(early.base_cents));
    assert_eq!(
        quote.text_of("quote-adjustment-label"),
        "Μείωση 50 % για πληρωμή εντός 10 ημερών από την παράβαση"
    );
    assert_eq!(
        quote.text_of("quote-adjustment"),
        format!("−{}", euros(early.base_cents / 2))
    );
    assert_eq!(quote.text_of("quote-amount"), euros(early.base_cents / 2));
    let confirm = v.get(&quote.href_of("pay")).await;
    confirm.assert_status(StatusCode::OK);
    assert_eq!(
        confirm.text_of("confirm-adjustment-label"),
        quote.text_of("quote-adjustment-label")
    );

    // Ninety days after: +20 % after day 60.
    let late = seeded(&app, SEEDED_LATE);
    let path = v.quote(&late).await;
    let quote = v.get(&path).await;
    assert_eq!(
        quote.text_of("quote-adjustment-label"),
        "Προσαύξηση 20 % για πληρωμή μετά την παρέλευση 60 ημερών από την παράβαση"
    );
    assert_eq!(
        quote.text_of("quote-adjustment"),
        format!("+{}", euros(late.base_cents / 5))
    );

    // Between: the base amount, nothing to explain.
    let base = seeded(&app, SEEDED_BASE);
    let path = v.quote(&base).await;
    let quote = v.get(&path).await;
    assert_eq!(quote.text_of("quote-amount"), euros(base.base_cents));
    quote.assert_lacks("id=\"quote-adjustment\"");
}

#[tokio::test]
async fn a_declined_card_offers_a_new_attempt_that_succeeds_with_a_receipt() {
    let app = TestApp::spawn().await;
    let token = app.citizen(CITIZEN_EMAIL, "Νίκος Οδηγός").await;
    complete_profile(&app, &token).await;
    let fine = seeded(&app, SEEDED_EARLY);
    let mut v = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let path = v.quote(&fine).await;
    let quote = v.get(&path).await;
    let amount = quote.text_of("quote-amount");
    let why = quote.text_of("quote-adjustment-label");
    assert!(why.starts_with("Μείωση 50 %"), "{why}");

    let confirm = v.get(&quote.href_of("pay")).await;
    confirm.assert_status(StatusCode::OK);
    assert_eq!(confirm.text_of("confirm-amount"), amount);
    assert!(confirm.text_of("confirm-what").contains(&fine.fine_number));
    confirm.assert_has(&greek("ui_payment_what_due"));
    assert_eq!(confirm.form_action(), "form-action 'self'");

    let bank = v.go_to_bank(&path).await;
    let form = bank.bank_form();
    assert!(form.action.ends_with("/vpos/payment"), "{}", form.action);
    let names: Vec<&str> = form.hidden.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "mid",
        "orderid",
        "orderAmount",
        "currency",
        "confirmUrl",
        "cancelUrl",
        "digest",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(!names.contains(&"csrf_token"), "{names:?}");
    bank.assert_has("id=\"continue-to-bank\"");
    bank.assert_has(&greek("ui_fines_continue_to_bank"));
    let origin = form.action.trim_end_matches("/vpos/payment");
    assert_eq!(bank.form_action(), format!("form-action 'self' {origin}"));

    let failed = v.at_bank(&bank, Some(CARD_DECLINED)).await;
    failed.assert_status(StatusCode::OK);
    failed.assert_has("data-status=\"failed\"");
    // The bank's reason in Greek (it answers «Card declined by the issuer»), and what the
    // payment was for, not «Τι πληρώθηκε».
    assert_eq!(
        failed.text_of("payment-reason"),
        format!(
            "{} {}",
            greek("ui_payment_reason"),
            greek("payment_reason_declined")
        )
    );
    failed.assert_lacks("Card declined");
    assert_eq!(
        failed.text_of("payment-what-label"),
        greek("ui_payment_what_unpaid")
    );
    let again = failed.href_of("try-again");
    assert!(again.starts_with("/fines/details?"), "{again}");

    let step2 = v.get(&again).await;
    step2.assert_status(StatusCode::OK);
    step2.assert_has(&format!("value=\"{}\"", fine.fine_number));
    let (date, time) = local(fine.offence_at);
    let requoted = v
        .post(
            &step2,
            "/fines/details",
            &[
                ("municipality_code", "9999"),
                ("fine_type", &fine.fine_type),
                ("fine_number", &fine.fine_number),
                ("plate", &fine.plate),
                ("offence_date", &date),
                ("offence_time", &time),
            ],
        )
        .await;
    requoted.assert_status(StatusCode::SEE_OTHER);
    let new_path = requoted.location.unwrap();
    // The old quote no longer holds.
    let old = v.get(&path).await;
    old.assert_status(StatusCode::GONE);
    old.assert_has("id=\"try-again\"");

    let bank = v.go_to_bank(&new_path).await;
    let paid = v.at_bank(&bank, Some(CARD_SUCCEEDS)).await;
    paid.assert_status(StatusCode::OK);
    paid.assert_has("data-status=\"succeeded\"");
    assert_eq!(paid.text_of("payment-amount"), amount);
    assert!(paid.text_of("payment-what").contains(&fine.fine_number));
    assert_eq!(paid.text_of("payment-what-label"), "Τι πληρώθηκε");
    // The receipt explains the amount as the quote did (issue 17): the type's amount and
    // the early-payment reduction.
    assert_eq!(
        paid.text_of("payment-base-amount"),
        quote.text_of("quote-base-amount")
    );
    assert_eq!(paid.text_of("payment-adjustment-label"), why);
    assert_eq!(
        paid.text_of("payment-adjustment"),
        quote.text_of("quote-adjustment")
    );
    paid.assert_lacks("id=\"payment-reason\"");
    assert!(!paid.text_of("payment-ref").is_empty());
    paid.assert_lacks("id=\"try-again\"");

    // «Οι πληρωμές μου»: the declined attempt and the paid one, each linking its page.
    let list = v.get("/payments").await;
    list.assert_status(StatusCode::OK);
    assert_eq!(list.body.matches("class=\"payment-row\"").count(), 2);
    list.assert_has("tag--succeeded");
    list.assert_has("tag--failed");

    // The auditor finds the fine and both its payments by the fine's number, and by the
    // bank's reference the paid one and the fine; each reads in words, every field named.
    let auditor = app
        .staff("auditor", "auditor@dimos.example.gr", "Ελένη Ελεγκτή")
        .await;
    let search = |query: String| {
        let app = &app;
        let auditor = auditor.clone();
        async move {
            let r = app
                .get(&format!("/api/v1/audit/streams?{query}"), Some(&auditor))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            let body: Value = r.json().await.unwrap();
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["aggregate_type"].as_str().unwrap().to_string(),
                        s["stream_id"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let by_number = search(format!("number={}", fine.fine_number)).await;
    let kinds: Vec<&str> = by_number.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["Payment", "Payment", "TrafficFine"],
        "{by_number:?}"
    );
    // The fine records the payment (`FinePaid`) just after the bank's answer, in the
    // background.
    let reference = paid.text_of("payment-ref");
    crate::common::eventually(
        "the payment and the fine found by the bank's reference",
        || {
            let search = &search;
            let reference = reference.clone();
            async move { search(format!("number={reference}")).await.len() == 2 }
        },
    )
    .await;
    let mut audit = Visitor::with_session(&app, Some(&auditor));
    for (_, stream) in &by_number {
        let page = audit.get(&format!("/audit/cases/{stream}")).await;
        page.assert_status(StatusCode::OK);
        page.assert_lacks("field-unlabelled");
        page.assert_lacks("id=\"undecodable\"");
    }
}

#[tokio::test]
async fn cancelling_at_the_bank_comes_back_with_nothing_paid() {
    let app = TestApp::spawn().await;
    let token = app.citizen(CITIZEN_EMAIL, "Νίκος Οδηγός").await;
    complete_profile(&app, &token).await;
    let fine = seeded(&app, SEEDED_BASE);
    let mut v = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let path = v.quote(&fine).await;
    let bank = v.go_to_bank(&path).await;
    let cancelled = v.at_bank(&bank, None).await;
    cancelled.assert_has("data-status=\"cancelled\"");
    assert!(cancelled
        .href_of("try-again")
        .starts_with("/fines/details?"));
    assert!(seeded(&app, SEEDED_BASE).paid.is_none());
}

#[tokio::test]
async fn the_home_page_and_the_header_lead_to_the_fines() {
    let app = TestApp::spawn().await;
    app.citizen(CITIZEN_EMAIL, "Νίκος Οδηγός").await;
    let mut v = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let home = v.get("/").await;
    assert_eq!(home.href_of("service-fines"), "/fines");
    assert_eq!(home.href_of("nav-fines"), "/fines");
    assert_eq!(home.href_of("nav-payments"), "/payments");
    let empty = v.get("/payments").await;
    empty.assert_status(StatusCode::OK);
    empty.assert_has("id=\"no-payments\"");
    assert_eq!(home.form_action(), "form-action 'self'");
}
