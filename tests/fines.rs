//! HTTP tests of traffic fines (issue 5) against a real portal, PostgreSQL, the sandbox
//! fines system and the sandbox bank: the payable types, step 1's refusals, step 2's field
//! errors, quotes found and registered (and re-quoted later at another amount), the fines
//! system down, paying with a good card and the fines system told once (even after being
//! down), two tabs paying once, an expired quote, and an incomplete profile.

use std::time::Duration;

use crate::common::{eventually, field_codes, json_body, TestApp};
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Athens;
use commands::fines::FineNotifier;
use domain::ports::ManualClock;
use reqwest::{redirect::Policy, Client, StatusCode};
use sandboxes::bank::{CARD_DECLINED, CARD_SUCCEEDS};
use sandboxes::fines::{FinesFaults, SandboxFine, SEEDED_EARLY, SEEDED_LATE, SEEDED_PAID};
use serde_json::{json, Value};

struct Desk {
    app: TestApp,
    token: String,
    http: Client,
}

impl Desk {
    async fn open() -> Self {
        Self::open_with(|_| {}).await
    }

    async fn open_with(adjust: impl FnOnce(&mut portal::Config)) -> Self {
        let app = TestApp::spawn_with(|config| {
            config.payment_poll = Duration::from_secs(3600);
            config.fines_poll = Duration::from_millis(50);
            config.fines_retry_first = Duration::from_millis(200);
            adjust(config);
        })
        .await;
        let token = app.citizen("nikos@example.gr", "Νίκος Οδηγός").await;
        let http = Client::builder().redirect(Policy::none()).build().unwrap();
        Self { app, token, http }
    }

    async fn complete_profile(&self) {
        let r = self
            .app
            .client
            .put(self.app.url("/api/v1/me"))
            .bearer_auth(&self.token)
            .json(&json!({
                "full_name": "Νίκος Οδηγός",
                "father_name": "Γεώργιος",
                "address": "Οδός Ερμού 1, 10563 Αθήνα",
                "phone": "2101234567",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    fn seeded(&self, number: &str) -> SandboxFine {
        self.app
            .fines
            .fines()
            .into_iter()
            .find(|f| f.fine_number == number)
            .expect("a seeded fine")
    }

    async fn quote_raw(&self, body: Value) -> (StatusCode, Value) {
        let r = self.app.post("/api/v1/fines/quote", None, body).await;
        let status = r.status();
        (status, json_body(r).await)
    }

    /// Quotes seeded fine `number` with the plate typed `plate`.
    async fn quote_seeded(&self, number: &str, plate: &str) -> (StatusCode, Value) {
        let fine = self.seeded(number);
        self.quote_raw(ticket(
            &fine.fine_number,
            plate,
            &fine.fine_type,
            fine.offence_at,
        ))
        .await
    }

    async fn pay(&self, quote_id: &str) -> (StatusCode, Value) {
        let r = self
            .app
            .post(
                "/api/v1/fines/pay",
                Some(&self.token),
                json!({ "quote_id": quote_id }),
            )
            .await;
        let status = r.status();
        (status, json_body(r).await)
    }

    /// Walks the bank with `card` from the portal's redirect answer, and follows the
    /// bank's return to the portal.
    async fn pay_at_bank(&self, redirect: &Value, card_number: &str) {
        let action = redirect["action"].as_str().unwrap();
        let fields: Vec<(String, String)> =
            serde_json::from_value(redirect["fields"].clone()).unwrap();
        let back = crate::common::bank::walk(&self.http, action, &fields, Some(card_number)).await;
        let r = self
            .http
            .post(&back.action)
            .form(&back.hidden)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    async fn notice(&self, payment_id: &str) -> Option<(String, i32)> {
        sqlx::query_as("SELECT status, attempts FROM fine_payment_notices WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_optional(&self.app.state.pool)
            .await
            .unwrap()
    }

    async fn fine_events(&self, fine_id: &str, event_type: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = 'TrafficFine' \
             AND aggregate_id = $1 AND event_type = $2",
        )
        .bind(fine_id)
        .bind(event_type)
        .fetch_one(&self.app.state.pool)
        .await
        .unwrap()
    }
}

/// The ticket's details as the citizen types them (date and time in Athens).
fn ticket(number: &str, plate: &str, fine_type: &str, at: DateTime<Utc>) -> Value {
    let local = at.with_timezone(&Athens);
    json!({
        "municipality_code": "9999",
        "fine_type": fine_type,
        "fine_number": number,
        "plate": plate,
        "offence_date": local.format("%Y-%m-%d").to_string(),
        "offence_time": local.format("%H:%M").to_string(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_and_step_one_refuse_other_municipalities_and_types() {
    let desk = Desk::open().await;
    let types = json_body(desk.app.get("/api/v1/fines/types", None).await).await;
    assert_eq!(types["municipality_code"], "9999");
    let items = types["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["code"], "P01");
    assert_eq!(items[0]["base_cents"], 8000);
    assert!(items[0]["name_el"].as_str().unwrap().contains("ΑμεΑ"));
    assert!(!items[0]["name_en"].as_str().unwrap().is_empty());

    let check = |code: &'static str, fine_type: &'static str| {
        let app = &desk.app;
        async move {
            let r = app
                .post(
                    "/api/v1/fines/check",
                    None,
                    json!({"municipality_code": code, "fine_type": fine_type}),
                )
                .await;
            (r.status(), json_body(r).await)
        }
    };
    let (status, body) = check(" 9999 ", "p03").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fine_type"]["code"], "P03");
    assert_eq!(body["fine_type"]["base_cents"], 4000);

    let (status, body) = check("1234", "P01").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "municipality_code_foreign");
    assert!(body["error"]["message"].as_str().unwrap().len() > 10);

    let (status, body) = check("9999", "X99").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "fine_type_not_payable");

    let (status, body) = check("", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(
        field_codes(&body["error"]),
        vec![
            (
                "municipality_code".into(),
                "municipality_code_required".into()
            ),
            ("fine_type".into(), "fine_type_required".into()),
        ]
    );

    // Step 2 refuses another municipality's ticket just the same.
    let mut body = ticket("555000111", "ΑΒΕ-1111", "P01", Utc::now());
    body["municipality_code"] = json!("1234");
    let (status, body) = desk.quote_raw(body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "municipality_code_foreign");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_plate_date_and_time_are_named_per_field() {
    let desk = Desk::open().await;
    let (status, body) = desk
        .quote_raw(json!({
            "municipality_code": "9999",
            "fine_type": "P01",
            "fine_number": "12",
            "plate": "QQQ-1234",
            "offence_date": "2026-13-01",
            "offence_time": "25:00",
        }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_codes(&body["error"]),
        vec![
            ("fine_number".into(), "fine_number_invalid".into()),
            ("plate".into(), "plate_invalid".into()),
            ("offence_date".into(), "offence_date_invalid".into()),
            ("offence_time".into(), "offence_time_invalid".into()),
        ]
    );
    let (status, body) = desk
        .quote_raw(json!({
            "municipality_code": "9999",
            "fine_type": "P01",
            "fine_number": "555000111",
            "plate": "ΑΒΕ-1111",
            "offence_date": "01/03/2026",
            "offence_time": "10.30",
        }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_codes(&body["error"]).len(), 2, "{body}");

    // An offence tomorrow.
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    let (status, body) = desk
        .quote_raw(ticket("555000111", "ΑΒΕ-1111", "P01", tomorrow))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "offence_date_in_future");
    assert!(desk
        .app
        .fines
        .fines()
        .iter()
        .all(|f| f.fine_number != "555000111"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fines_system_down_answers_503_with_a_clear_message() {
    let desk = Desk::open().await;
    desk.app.fines.set_faults(FinesFaults {
        down: true,
        ..FinesFaults::default()
    });
    let (status, body) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "fines_system_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().len() > 10);
    assert!(
        body["error"].get("detail").is_none(),
        "no internals: {body}"
    );
    // And when to come back.
    let fine = desk.seeded(SEEDED_EARLY);
    let r = desk
        .app
        .post(
            "/api/v1/fines/quote",
            None,
            ticket(
                &fine.fine_number,
                "ΥΧΡ-1234",
                &fine.fine_type,
                fine.offence_at,
            ),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_find_or_register_and_a_later_quote_may_differ() {
    let desk = Desk::open().await;
    // Found, with the plate typed in Latin look-alikes.
    let (status, found) = desk.quote_seeded(SEEDED_EARLY, "yxp 1234").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["fine"]["origin"], "found");
    assert_eq!(found["fine"]["plate"], "ΥΧΡ-1234");
    assert_eq!(found["base_cents"], 8000);
    assert_eq!(found["amount_cents"], 4000);
    assert_eq!(found["changed_since_last_quote"], false);
    assert!(found["quote_id"]
        .as_str()
        .unwrap()
        .starts_with("9999-100000001-"));
    let valid_until: DateTime<Utc> = serde_json::from_value(found["valid_until"].clone()).unwrap();
    assert!(valid_until > Utc::now());
    assert!(valid_until <= Utc::now() + chrono::Duration::minutes(31));

    // Registered anew: a ticket the fines system did not have.
    let yesterday = Utc::now() - chrono::Duration::days(1);
    let (status, registered) = desk
        .quote_raw(ticket("555000111", "abe-1111", "P03", yesterday))
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_eq!(registered["fine"]["origin"], "registered");
    assert_eq!(registered["amount_cents"], 2000);
    assert!(desk
        .app
        .fines
        .fines()
        .iter()
        .any(|f| f.fine_number == "555000111" && f.plate == "ΑΒΕ-1111"));

    // Twenty days later (the fines system's clock) the reduction has ended.
    desk.app
        .fines
        .set_now(Some(Utc::now() + chrono::Duration::days(20)));
    let (status, later) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    assert_eq!(status, StatusCode::OK, "{later}");
    assert_eq!(later["amount_cents"], 8000);
    assert_eq!(later["previous_amount_cents"], 4000);
    assert_eq!(later["changed_since_last_quote"], true);
    assert_ne!(later["quote_id"], found["quote_id"]);
    assert_eq!(desk.fine_events("9999-100000001", "FineQuoted").await, 2);

    // A fine the fines system has as paid cannot be quoted for payment.
    let (status, body) = desk.quote_seeded(SEEDED_PAID, "ΚΗ-3456").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "fine_already_paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_card_pays_and_the_fines_system_is_told_once_even_after_being_down() {
    let desk = Desk::open().await;
    desk.complete_profile().await;
    let (_, quote) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let quote_id = quote["quote_id"].as_str().unwrap().to_string();

    // The fines system goes down after the quote.
    desk.app.fines.set_faults(FinesFaults {
        down: true,
        ..FinesFaults::default()
    });
    let (status, started) = desk.pay(&quote_id).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["amount_cents"], 4000);
    let payment_id = started["payment_id"].as_str().unwrap().to_string();
    let fields = started["redirect"]["fields"].as_array().unwrap();
    let amount = fields.iter().find(|f| f[0] == "orderAmount").unwrap();
    assert_eq!(amount[1], "40.00");
    let description = fields.iter().find(|f| f[0] == "orderDesc").unwrap();
    assert!(
        description[1].as_str().unwrap().contains("ΥΧΡ-1234"),
        "{description}"
    );
    desk.pay_at_bank(&started["redirect"], CARD_SUCCEEDS).await;

    // The notice waits, retried, while the fines system is down.
    eventually("a retried notice", || async {
        desk.notice(&payment_id)
            .await
            .is_some_and(|(status, attempts)| status == "pending" && attempts >= 2)
    })
    .await;
    assert!(desk.seeded(SEEDED_EARLY).paid.is_none());
    assert_eq!(desk.fine_events("9999-100000001", "FinePaid").await, 1);

    // It comes back: told once, with the payment id as the idempotency key.
    desk.app.fines.set_faults(FinesFaults::default());
    eventually("the notice sent", || async {
        desk.notice(&payment_id)
            .await
            .is_some_and(|(status, _)| status == "notified")
    })
    .await;
    let paid = desk
        .seeded(SEEDED_EARLY)
        .paid
        .expect("the fines system has it paid");
    assert_eq!(paid.idempotency_key, payment_id);
    assert_eq!(paid.amount_cents, 4000);
    let report = FineNotifier::new(desk.app.state.portal.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.notified + report.retried + report.refused, 0);
    assert_eq!(desk.fine_events("9999-100000001", "FinePaid").await, 1);
    assert_eq!(
        desk.fine_events("9999-100000001", "FinesSystemNotified")
            .await,
        1
    );

    // The citizen's payments show it paid, with the bank's reference.
    desk.app.read_models_caught_up().await;
    let mine = json_body(desk.app.get("/api/v1/my/payments", Some(&desk.token)).await).await;
    let item = &mine["items"][0];
    assert_eq!(item["id"], payment_id.as_str());
    assert_eq!(item["status"], "succeeded");
    assert_eq!(item["obligation_kind"], "traffic_fine");
    assert_eq!(item["obligation_reference"], "9999-100000001");
    assert!(item["payment_ref"].as_str().is_some_and(|r| !r.is_empty()));
    // The clerks' dashboard counts it on today's date.
    let clerk = desk
        .app
        .staff("clerk", "clerk.fines.stats@dimos.example.gr", "Υπάλληλος")
        .await;
    let stats = json_body(desk.app.get("/api/v1/staff/stats", Some(&clerk)).await).await;
    let today = &stats["payments_per_day"][29];
    assert_eq!(today["payments"], 1, "{stats}");
    assert_eq!(today["amount_cents"], 4000, "{stats}");

    // Paid: the old quote and a new one are both refused.
    let (status, body) = desk.pay(&quote_id).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "fine_already_paid");
    let (status, body) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "fine_already_paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tabs_and_double_clicks_start_one_payment() {
    let desk = Desk::open().await;
    desk.complete_profile().await;
    let (_, quote) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let quote_id = quote["quote_id"].as_str().unwrap().to_string();
    let clicks = (0..4).map(|_| desk.pay(&quote_id));
    let answers = futures::future::join_all(clicks).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert!(
            *status == StatusCode::CONFLICT || body["error"]["code"] == "fine_payment_in_progress",
            "{status} {body}"
        );
    }
    // A second tab with a fresh quote is refused too.
    let (_, again) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let (status, body) = desk.pay(again["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "fine_payment_in_progress");
    assert_eq!(
        desk.fine_events("9999-100000001", "FinePaymentStarted")
            .await,
        1
    );
    let payments: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Payment' \
         AND event_type = 'PaymentCreated'",
    )
    .fetch_one(&desk.app.state.pool)
    .await
    .unwrap();
    assert_eq!(payments, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_replaced_quote_is_refused() {
    // The portal's clock stands still until the test moves it: no sleeping.
    let clock = ManualClock::at(Utc::now());
    let desk = Desk::open_with({
        let clock = clock.clone();
        move |c| {
            c.fines_quote_ttl = Duration::from_secs(30 * 60);
            c.clock = std::sync::Arc::new(clock);
        }
    })
    .await;
    desk.complete_profile().await;
    let (_, first) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let (_, second) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    // Replaced by a newer quote.
    let (status, body) = desk.pay(first["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "quote_expired");
    // Thirty minutes and a second later the newest quote has lapsed too.
    clock.advance(chrono::Duration::seconds(30 * 60 + 1));
    let (status, body) = desk.pay(second["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "quote_expired");
    let (status, body) = desk
        .pay("9999-100000001-0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "quote_expired");
    let (status, body) = desk.pay("nonsense").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "quote_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_profile_or_no_login_cannot_pay() {
    let desk = Desk::open().await;
    let (_, quote) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let quote_id = quote["quote_id"].as_str().unwrap();
    let (status, body) = desk.pay(quote_id).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "profile_incomplete");
    let missing: Vec<String> = field_codes(&body["error"])
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(missing, vec!["father_name", "address", "phone"]);
    let r = desk
        .app
        .post("/api/v1/fines/pay", None, json!({ "quote_id": quote_id }))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        desk.fine_events("9999-100000001", "FinePaymentStarted")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_frees_the_fine_for_a_new_attempt() {
    let desk = Desk::open().await;
    desk.complete_profile().await;
    let (_, quote) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let (status, first) = desk.pay(quote["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    desk.pay_at_bank(&first["redirect"], CARD_DECLINED).await;
    let (status, second) = desk.pay(quote["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["payment_id"], first["payment_id"]);
    desk.pay_at_bank(&second["redirect"], CARD_SUCCEEDS).await;
    let second_id = second["payment_id"].as_str().unwrap().to_string();
    eventually("the notice sent", || async {
        desk.notice(&second_id)
            .await
            .is_some_and(|(status, _)| status == "notified")
    })
    .await;
    assert!(desk
        .notice(first["payment_id"].as_str().unwrap())
        .await
        .is_none());
    let paid = desk.seeded(SEEDED_EARLY).paid.unwrap();
    assert_eq!(paid.idempotency_key, second_id);

    desk.app.read_models_caught_up().await;
    let mine = json_body(desk.app.get("/api/v1/my/fines", Some(&desk.token)).await).await;
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{mine}");
    assert_eq!(items[0]["fine_id"], "9999-100000001");
    assert_eq!(items[0]["payment_id"], second_id.as_str());
    assert_eq!(items[0]["fines_system"], "notified");
    assert!(items[0]["payment_ref"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));

    // The traffic_fines read model: the fine, its quote and the payment that paid it; a
    // rebuild from the log gives the same table.
    let pool = &desk.app.state.pool;
    let table = || async {
        sqlx::query_scalar::<_, Value>(
            "SELECT coalesce(json_agg(t ORDER BY id), '[]'::json) FROM traffic_fines t",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let live = table().await;
    assert_eq!(live[0]["id"], "9999-100000001", "{live}");
    assert_eq!(live[0]["quote_id"], quote["quote_id"]);
    assert_eq!(live[0]["open_payment_id"], second_id.as_str());
    assert_eq!(live[0]["paid_payment_id"], second_id.as_str());
    projections::rebuild(
        pool,
        std::sync::Arc::new(projections::traffic_fines::TrafficFinesProjection),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(table().await, live);

    // So does a rebuild of every read model in one pass, for every table.
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;
}

/// An auditor opens a paid fine's stream by its readable id and the payment's by its UUID:
/// every event, the state folded from them, and an intact hash chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_replays_a_fine_and_its_payment() {
    let desk = Desk::open().await;
    desk.complete_profile().await;
    let (_, quote) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let (status, started) = desk.pay(quote["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let payment_id = started["payment_id"].as_str().unwrap().to_string();
    desk.pay_at_bank(&started["redirect"], CARD_SUCCEEDS).await;
    eventually("the fines system told", || async {
        desk.notice(&payment_id)
            .await
            .is_some_and(|(status, _)| status == "notified")
    })
    .await;

    let auditor = desk
        .app
        .staff("auditor", "auditor@dimos.example.gr", "Ελένη Ελέγχου")
        .await;
    let get = |path: String| {
        let app = &desk.app;
        let auditor = auditor.clone();
        async move {
            let r = app.get(&path, Some(&auditor)).await;
            (r.status(), json_body(r).await)
        }
    };
    let fine = "9999-100000001";
    let (status, events) = get(format!("/api/v1/audit/cases/{fine}/events")).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events["aggregate_type"], "TrafficFine");
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"FinePaid"), "{types:?}");
    assert!(types.contains(&"FinesSystemNotified"), "{types:?}");
    let (status, state) = get(format!("/api/v1/audit/cases/{fine}/state")).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["state"]["fine"]["fine_number"], "100000001");
    let (_, verified) = get(format!("/api/v1/audit/cases/{fine}/verify")).await;
    assert_eq!(verified["valid"], true, "{verified}");

    let (status, state) = get(format!("/api/v1/audit/cases/{payment_id}/state")).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["aggregate_type"], "Payment");
    assert_eq!(state["state"]["status"], "succeeded");
    let (_, verified) = get(format!("/api/v1/audit/cases/{payment_id}/verify")).await;
    assert_eq!(verified["valid"], true, "{verified}");

    // Anything else is not a stream id: 404, never a 500.
    let (status, _) = get("/api/v1/audit/cases/9999_1%20x/events".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The citizen's paid fines come a page at a time, newest first, and only the paid ones:
/// a declined attempt is not a paid fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_fines_come_a_page_at_a_time() {
    let desk = Desk::open().await;
    desk.complete_profile().await;
    let mut paid = Vec::new();
    for (number, plate) in [
        (SEEDED_EARLY, "ΥΧΡ-1234"),
        ("100000002", "ΙΚΑ-5678"),
        ("100000003", "ΝΒΧ-9012"),
    ] {
        let (status, quote) = desk.quote_seeded(number, plate).await;
        assert_eq!(status, StatusCode::OK, "{quote}");
        let (status, mut started) = desk.pay(quote["quote_id"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        if number == SEEDED_EARLY {
            // Declined first, then paid: one paid fine, not two.
            desk.pay_at_bank(&started["redirect"], CARD_DECLINED).await;
            desk.app.read_models_caught_up().await;
            let (status, again) = desk.pay(quote["quote_id"].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::CREATED, "{again}");
            started = again;
        }
        desk.pay_at_bank(&started["redirect"], CARD_SUCCEEDS).await;
        paid.push(started["payment_id"].as_str().unwrap().to_string());
    }
    desk.app.read_models_caught_up().await;

    let payment_ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["payment_id"].as_str().unwrap().to_string())
            .collect()
    };
    let first = json_body(
        desk.app
            .get("/api/v1/my/fines?limit=2", Some(&desk.token))
            .await,
    )
    .await;
    assert_eq!(payment_ids(&first), vec![paid[2].clone(), paid[1].clone()]);
    let after = first["next"].as_str().expect("a next page");
    let second = json_body(
        desk.app
            .get(
                &format!("/api/v1/my/fines?limit=2&after={after}"),
                Some(&desk.token),
            )
            .await,
    )
    .await;
    assert_eq!(payment_ids(&second), vec![paid[0].clone()]);
    assert!(second["next"].is_null(), "{second}");
    assert_eq!(second["items"][0]["fine_id"], "9999-100000001");

    // A cursor this list did not hand out is a 400 that says what to do.
    let r = desk
        .app
        .get("/api/v1/my/fines?after=nonsense", Some(&desk.token))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(r).await["error"]["code"], "cursor_invalid");
}

/// Paid at the counter while the payer was at the bank: the fines system refuses the
/// portal's notice; the clerks' list shows the fine, and a clerk's retry is recorded on it
/// and tells the fines system again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_fine_notice_is_listed_for_clerks_and_sent_again() {
    let desk = Desk::open_with(|c| c.fines_poll = Duration::from_secs(3600)).await;
    desk.complete_profile().await;
    let (_, quote) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let (status, started) = desk.pay(quote["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert!(desk.app.fines.pay_at_counter(SEEDED_EARLY, "TAMEIO-7"));
    desk.pay_at_bank(&started["redirect"], CARD_SUCCEEDS).await;
    let payment_id = started["payment_id"].as_str().unwrap();
    desk.app.read_models_caught_up().await;
    let notifier = FineNotifier::new(desk.app.state.portal.clone());
    assert_eq!(notifier.run_once().await.unwrap().refused, 1);
    assert_eq!(
        desk.fine_events("9999-100000001", "FinesSystemRefusedNotice")
            .await,
        1
    );

    let clerk = desk
        .app
        .staff("clerk", "clerk@dimos.example.gr", "Γεώργιος Υπαλληλίδης")
        .await;
    desk.app.read_models_caught_up().await;
    let list = json_body(desk.app.get("/api/v1/staff/notices", Some(&clerk)).await).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["payment_id"], payment_id);
    assert_eq!(items[0]["obligation_kind"], "traffic_fine");
    assert_eq!(items[0]["obligation_id"], "9999-100000001");
    assert_eq!(items[0]["second_payment"], false);
    assert_eq!(items[0]["payer_email"], "nikos@example.gr");
    // Its money is not to be returned: the fines system's record is to be put right.
    let r = desk
        .app
        .post(
            &format!("/api/v1/staff/notices/{payment_id}/refund"),
            Some(&clerk),
            json!({ "note": "Ταμείο" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_body(r).await["error"]["code"], "not_a_second_payment");

    let r = desk
        .app
        .post(
            &format!("/api/v1/staff/notices/{payment_id}/retry"),
            Some(&clerk),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        desk.fine_events("9999-100000001", "FinesSystemNoticeRetried")
            .await,
        1
    );
    assert_eq!(desk.notice(payment_id).await.unwrap().0, "pending");
    let list = json_body(desk.app.get("/api/v1/staff/notices", Some(&clerk)).await).await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    // Told again: still paid at the counter, so refused again, and listed again.
    assert_eq!(notifier.run_once().await.unwrap().refused, 1);
    assert_eq!(
        desk.fine_events("9999-100000001", "FinesSystemRefusedNotice")
            .await,
        2
    );
    let list = json_body(desk.app.get("/api/v1/staff/notices", Some(&clerk)).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
}

/// A payment left on the bank's page expires, a second one pays the fine, and then the
/// payer finishes the first at the bank after all: the bank took the money twice. The
/// fine keeps the payment that settled it; the late one is marked for a refund on its own
/// stream, the payer is mailed and told on the payment's page, and clerks see it listed as
/// a second payment with nothing to send again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_captured_payment_of_a_paid_fine_is_marked_for_refund() {
    let desk = Desk::open_with(|c| {
        c.fines_poll = Duration::from_secs(3600);
        c.payment_expiry = Duration::from_secs(1);
        c.payment_reconcile_after = Duration::from_secs(3600);
    })
    .await;
    desk.complete_profile().await;
    let (_, quote) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let (status, first) = desk.pay(quote["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let fields: Vec<(String, String)> =
        serde_json::from_value(first["redirect"]["fields"].clone()).unwrap();
    let (bank, session) = crate::common::bank::open_card_page(
        &desk.http,
        first["redirect"]["action"].as_str().unwrap(),
        &fields,
    )
    .await;
    // Left on the bank's page past its expiry: the reconciler expires it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    desk.app.read_models_caught_up().await;
    let reconciler = commands::payments::PaymentReconciler::new(desk.app.state.portal.clone());
    assert_eq!(reconciler.run_once().await.unwrap().expired, 1);
    desk.app.read_models_caught_up().await;
    let (_, quote) = desk.quote_seeded(SEEDED_EARLY, "ΥΧΡ-1234").await;
    let (status, second) = desk.pay(quote["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    desk.pay_at_bank(&second["redirect"], CARD_SUCCEEDS).await;
    // The payer finishes the first one at the bank after all.
    let back =
        crate::common::bank::answer_card_page(&desk.http, &bank, &session, Some(CARD_SUCCEEDS))
            .await;
    let r = desk
        .http
        .post(&back.action)
        .form(&back.hidden)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let first_id = first["payment_id"].as_str().unwrap();
    let second_id = second["payment_id"].as_str().unwrap();
    desk.app.read_models_caught_up().await;
    let notifier = FineNotifier::new(desk.app.state.portal.clone());
    let report = notifier.run_once().await.unwrap();
    assert_eq!((report.notified, report.refused), (1, 1), "{report:?}");
    assert_eq!(desk.notice(second_id).await.unwrap().0, "notified");
    assert_eq!(desk.notice(first_id).await.unwrap().0, "refused");
    // The fine is paid by the second; the first is to be returned, on its own stream.
    let paid = desk.seeded(SEEDED_EARLY).paid.unwrap();
    assert_eq!(paid.idempotency_key, second_id);
    let pool = &desk.app.state.pool;
    let refund: Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = 'Payment' AND aggregate_id = $1 \
         AND event_type = 'PaymentRefundDue'",
    )
    .bind(first_id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(refund["data"]["reason"], "fine_already_paid", "{refund}");
    // A second pass (or a crash before the outbox row was done with) marks nothing twice.
    assert_eq!(notifier.run_once().await.unwrap(), Default::default());

    // The payer: an e-mail, and the payment's page and answer say it.
    mailed_once(pool, "Το ποσό της πληρωμής σας θα σας επιστραφεί").await;
    desk.app.read_models_caught_up().await;
    let payment = json_body(
        desk.app
            .get(
                &format!("/api/v1/my/payments/{first_id}"),
                Some(&desk.token),
            )
            .await,
    )
    .await;
    assert_eq!(payment["status"], "succeeded", "{payment}");
    assert_eq!(payment["after_expiry"], true);
    assert!(payment["refund_due_at"].is_string(), "{payment}");
    assert_eq!(payment["refund_reason"], "fine_already_paid");
    let mut v = crate::common::pages::Visitor::with_session(&desk.app, Some(&desk.token));
    let page = v.get(&format!("/payments/{first_id}")).await;
    page.assert_has("id=\"payment-refund-due\"");
    page.assert_has("Το ποσό θα σας επιστραφεί");
    let page = v.get(&format!("/payments/{second_id}")).await;
    page.assert_lacks("id=\"payment-refund-due\"");

    // A notice the fines system refuses for another fine (paid at its counter meanwhile).
    let (_, other) = desk.quote_seeded(SEEDED_LATE, "ΝΒΧ-9012").await;
    let (status, started) = desk.pay(other["quote_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert!(desk.app.fines.pay_at_counter(SEEDED_LATE, "TAMEIO-3"));
    desk.pay_at_bank(&started["redirect"], CARD_SUCCEEDS).await;
    let refused_id = started["payment_id"].as_str().unwrap();
    desk.app.read_models_caught_up().await;
    assert_eq!(notifier.run_once().await.unwrap().refused, 1);

    // The clerks: two refused notices, newest first, a page at a time.
    let clerk = desk
        .app
        .staff("clerk", "clerk.refund@dimos.example.gr", "Ελένη Ταμία")
        .await;
    let first_page = json_body(
        desk.app
            .get("/api/v1/staff/notices?limit=1", Some(&clerk))
            .await,
    )
    .await;
    assert_eq!(
        first_page["items"][0]["payment_id"], refused_id,
        "{first_page}"
    );
    let after = first_page["next"].as_str().expect("a second page");
    let second_page = json_body(
        desk.app
            .get(
                &format!("/api/v1/staff/notices?limit=1&after={after}"),
                Some(&clerk),
            )
            .await,
    )
    .await;
    assert_eq!(
        second_page["items"][0]["payment_id"], first_id,
        "{second_page}"
    );
    assert!(second_page["next"].is_null());
    let r = desk
        .app
        .get("/api/v1/staff/notices?after=zzz", Some(&desk.token))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "the role before the paging"
    );
    // Refunding what the fines system refused is said at once on the page.
    let mut clerk_pages = crate::common::pages::Visitor::with_session(&desk.app, Some(&clerk));
    let list_page = clerk_pages.get("/staff/notices").await;
    let wrong = clerk_pages
        .post(
            &list_page,
            &format!("/staff/notices/{refused_id}/refund"),
            &[],
        )
        .await;
    wrong.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    wrong.assert_has("Τα χρήματα αυτής της πληρωμής δεν επιστρέφονται");
    // A citizen's session reaches neither action.
    let mut citizen_pages =
        crate::common::pages::Visitor::with_session(&desk.app, Some(&desk.token));
    let own = citizen_pages.get("/payments").await;
    for action in ["refund", "retry"] {
        let r = citizen_pages
            .post(
                &own,
                &format!("/staff/notices/{first_id}/{action}"),
                &[("confirmed", "yes"), ("note", "x")],
            )
            .await;
        r.assert_status(StatusCode::FORBIDDEN);
    }
    // The second payment is listed as such; sending it again is refused by the fine.
    let list = json_body(desk.app.get("/api/v1/staff/notices", Some(&clerk)).await).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[1]["payment_id"], first_id);
    assert_eq!(items[1]["second_payment"], true);
    assert_eq!(items[1]["code"], "fine_already_paid");
    assert_eq!(items[0]["second_payment"], false);
    let metrics = desk.app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("portal_refused_notices{outbox=\"fine_payment_notices\"} 2\n"),
        "{metrics}"
    );
    let page = clerk_pages.get("/staff/notices").await;
    page.assert_has("Δεύτερη πληρωμή: επιστροφή χρημάτων");
    page.assert_lacks(&format!("/staff/notices/{first_id}/retry"));
    let r = desk
        .app
        .post(
            &format!("/api/v1/staff/notices/{first_id}/retry"),
            Some(&clerk),
            json!({}),
        )
        .await;
    let status = r.status();
    let body = json_body(r).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    assert_eq!(desk.notice(first_id).await.unwrap().0, "refused");

    // The cashier returns the money; the clerk records it. A note is required.
    let refund = |note: Value| {
        let (desk, clerk) = (&desk, &clerk);
        async move {
            let r = desk
                .app
                .post(
                    &format!("/api/v1/staff/notices/{first_id}/refund"),
                    Some(clerk),
                    json!({ "note": note }),
                )
                .await;
            let status = r.status();
            (status, json_body(r).await)
        }
    };
    let (status, body) = refund(json!("   ")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        field_codes(&body["error"]),
        vec![("note".to_string(), "refund_note_required".to_string())]
    );
    let (status, body) = refund(json!("α".repeat(501))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        field_codes(&body["error"]),
        vec![("note".to_string(), "refund_note_too_long".to_string())]
    );
    // Not for a citizen, nor for a payment the fine took.
    let r = desk
        .app
        .post(
            &format!("/api/v1/staff/notices/{first_id}/refund"),
            Some(&desk.token),
            json!({ "note": "x" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, body) = {
        let r = desk
            .app
            .post(
                &format!("/api/v1/staff/notices/{second_id}/refund"),
                Some(&clerk),
                json!({ "note": "x" }),
            )
            .await;
        let status = r.status();
        (status, json_body(r).await)
    };
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "notice_not_found");
    let refunds = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Payment' \
             AND aggregate_id = $1 AND event_type = 'PaymentRefunded'",
        )
        .bind(first_id)
        .fetch_one(pool)
        .await
        .unwrap()
    };
    assert_eq!(refunds().await, 0);

    // Through the page: the button asks for the note on a confirmation page.
    let page = clerk_pages.get("/staff/notices").await;
    let confirm = clerk_pages
        .post(&page, &format!("/staff/notices/{first_id}/refund"), &[])
        .await;
    confirm.assert_status(StatusCode::OK);
    confirm.assert_has("Καταχώριση επιστροφής χρημάτων");
    confirm.assert_has("id=\"refund-note\"");
    let empty = clerk_pages
        .post(
            &confirm,
            &format!("/staff/notices/{first_id}/refund"),
            &[("confirmed", "yes"), ("note", "")],
        )
        .await;
    empty.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    empty.assert_has("id=\"error-summary\"");
    empty.assert_has("id=\"refund-note-error\"");
    empty.assert_has("Γράψτε πώς επιστράφηκαν τα χρήματα");
    let done = clerk_pages
        .post(
            &empty,
            &format!("/staff/notices/{first_id}/refund"),
            &[
                ("confirmed", "yes"),
                ("note", "Ταμείο Δήμου, απόδειξη 4411"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let list_page = clerk_pages.get(done.location.as_deref().unwrap()).await;
    list_page.assert_has("id=\"notice-refunded\"");
    list_page.assert_lacks(&format!("id=\"notice-{first_id}\""));
    list_page.assert_has(&format!("id=\"notice-{refused_id}\""));
    // Recorded once, with the clerk and the note; pressed again: nothing more.
    let refunded: Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = 'Payment' AND aggregate_id = $1 \
         AND event_type = 'PaymentRefunded'",
    )
    .bind(first_id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(refunded["data"]["note"], "Ταμείο Δήμου, απόδειξη 4411");
    assert_eq!(refunded["data"]["clerk"]["name"], "Ελένη Ταμία");
    // Sent again (a retried request): the same answer, nothing recorded twice.
    let (status, body) = refund(json!("ξανά")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["refunded"], true);
    assert_eq!(body["obligation_id"], "9999-100000001");
    assert_eq!(refunds().await, 1);
    let list = json_body(desk.app.get("/api/v1/staff/notices", Some(&clerk)).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["payment_id"], refused_id);
    // Nor does the operators' gauge count it any more.
    let metrics = desk.app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("portal_refused_notices{outbox=\"fine_payment_notices\"} 1\n"),
        "{metrics}"
    );

    // The payer is told: an e-mail, and the payment's page.
    mailed_once(pool, "Το ποσό της πληρωμής σας επιστράφηκε").await;
    desk.app.read_models_caught_up().await;
    let page = v.get(&format!("/payments/{first_id}")).await;
    page.assert_has("id=\"payment-refunded\"");
    page.assert_lacks("id=\"payment-refund-due\"");

    // Every read model rebuilds from the log to the same tables.
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;
}

/// Waits until the driver has been sent exactly one e-mail with this subject.
async fn mailed_once(pool: &sqlx::PgPool, subject: &str) {
    eventually(subject, || async {
        let mails: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mail_outbox WHERE to_address = 'nikos@example.gr' \
             AND subject = $1",
        )
        .bind(subject)
        .fetch_one(pool)
        .await
        .unwrap();
        mails == 1
    })
    .await;
}
