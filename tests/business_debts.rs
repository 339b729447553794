//! HTTP tests of «Πληρωμή Βεβαιωμένου Δημοτικού Φόρου» (S14, issue 6) against a real
//! portal, PostgreSQL, the sandbox bank and the sandbox revenue system (started here, its
//! "today" fixed at 04/12/2026 and named by `PORTAL_REVENUE_URL`'s setting, so each test
//! flips its switches): each precondition refused (anonymous, not certified, certified as a
//! person only, staff), the debts with amounts as of today and one debt, paying with a good
//! card and the revenue system told exactly once (retried while it is down), a declined
//! card and a new attempt at the amount of the day, two tabs paying a debt once, the
//! revenue system down (503, nothing stale), and the pages (list, debt, bank form, the
//! payment's page after the bank, the 503 page, the page for uncertified users).

use std::time::Duration;

use crate::common::pages::Visitor;
use crate::common::{eventually, json_body, TestApp};
use chrono::NaiveDate;
use commands::tax_debts::DebtNotifier;
use reqwest::header::LOCATION;
use reqwest::{redirect::Policy, Client, StatusCode};
use sandboxes::bank::{CARD_DECLINED, CARD_SUCCEEDS};
use sandboxes::revenue::{RevenueFaults, RevenueSandbox, SEEDED_FOOD_QUARTERLY};
use sandboxes::RunningSandbox;
use serde_json::{json, Value};

const CITIZEN_EMAIL: &str = "eleni@example.gr";
const COMPANY: &str = "Ταβέρνα Ο Πλάτανος Ο.Ε.";
const MESSAGES_EL: &str = "el";

/// The open debts of the seeded AFM on 04/12/2026: 1 % of the principal per month begun
/// since the month of certification.
const DEBT_Q2: &str = "DF-2025-000142"; // 182.40 € certified 14/10/2025: +14 %
const DEBT_Q2_DUE: i64 = 18_240 + 2_554;
const DEBT_Q3: &str = "DF-2025-000287"; // 210.75 € certified 20/01/2026: +11 %
const DEBT_Q3_DUE: i64 = 21_075 + 2_318;
const DEBT_PAID: &str = "DF-2024-000311";

fn greek(code: &str) -> String {
    let messages: Value = crate::common::catalog(MESSAGES_EL);
    messages[code]
        .as_str()
        .unwrap_or_else(|| panic!("el.ftl has no {code}"))
        .to_string()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A portal whose revenue system is a sandbox this test holds, a citizen (profile
/// complete) and a clerk logged in.
struct Office {
    app: TestApp,
    revenue: RevenueSandbox,
    running: RunningSandbox,
    citizen: String,
    clerk: String,
    http: Client,
}

impl Office {
    async fn open() -> Self {
        Self::open_with(|_| {}).await
    }

    async fn open_with(adjust: impl FnOnce(&mut portal::Config)) -> Self {
        let revenue = RevenueSandbox::new();
        revenue.set_today(Some(day(2026, 12, 4)));
        let running = sandboxes::serve(revenue.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the revenue sandbox starts");
        let url = running.base_url();
        let app = TestApp::spawn_with(|config| {
            config.revenue_url = Some(url);
            config.revenue_timeout = Duration::from_secs(1);
            config.payment_poll = Duration::from_secs(3600);
            config.revenue_poll = Duration::from_millis(50);
            config.revenue_retry_first = Duration::from_millis(200);
            adjust(config);
        })
        .await;
        let citizen = app.citizen(CITIZEN_EMAIL, "Ελένη Εστιάτορα").await;
        let clerk = app
            .staff("clerk", "clerk@dimos.example.gr", "Γεώργιος Υπαλληλίδης")
            .await;
        let r = app
            .client
            .put(app.url("/api/v1/me"))
            .bearer_auth(&citizen)
            .json(&json!({
                "full_name": "Ελένη Εστιάτορα",
                "father_name": "Ιωάννης",
                "address": "Πλατεία Αγοράς 3, 10556 Αθήνα",
                "phone": "2101234567",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        Self {
            app,
            revenue,
            running,
            citizen,
            clerk,
            http: Client::builder().redirect(Policy::none()).build().unwrap(),
        }
    }

    /// An office whose citizen represents the seeded business (094259216).
    async fn with_business() -> Self {
        let office = Self::open().await;
        office.certify(Some(SEEDED_FOOD_QUARTERLY)).await;
        office
    }

    /// The clerk certifies the citizen, as the representative of the business of `afm`
    /// (`None`: as a person only).
    async fn certify(&self, afm: Option<&str>) {
        let business = afm.map(|afm| (COMPANY, afm));
        self.app.certify(&self.clerk, CITIZEN_EMAIL, business).await;
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let r = self.app.get(path, token).await;
        let status = r.status();
        (status, json_body(r).await)
    }

    async fn list(&self) -> (StatusCode, Value) {
        self.get("/api/v1/business/debts", Some(&self.citizen))
            .await
    }

    async fn pay(&self, debt_id: &str) -> (StatusCode, Value) {
        let r = self
            .app
            .post(
                &format!("/api/v1/business/debts/{debt_id}/payments"),
                Some(&self.citizen),
                json!({}),
            )
            .await;
        let status = r.status();
        (status, json_body(r).await)
    }

    /// Walks the bank with `card` from the bank form's action and fields; answers where the
    /// portal sends the payer back (the payment's page).
    async fn pay_at_bank(&self, action: &str, fields: &[(String, String)], card: &str) -> String {
        let back = crate::common::bank::walk(&self.http, action, fields, Some(card)).await;
        let r = self
            .http
            .post(&back.action)
            .form(&back.hidden)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        r.headers()[LOCATION].to_str().unwrap().to_string()
    }

    /// Pays through the bank from the API's answer to a payment start.
    async fn pay_started_at_bank(&self, started: &Value, card: &str) -> String {
        let form = &started["form"];
        let fields: Vec<(String, String)> = serde_json::from_value(form["fields"].clone()).unwrap();
        self.pay_at_bank(form["action"].as_str().unwrap(), &fields, card)
            .await
    }

    async fn notice(&self, payment_id: &str) -> Option<(String, i32)> {
        sqlx::query_as("SELECT status, attempts FROM tax_debt_notices WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_optional(&self.app.state.pool)
            .await
            .unwrap()
    }

    /// `token`'s «Νέα αποστολή» of the refused notice of `payment_id`, through the API.
    async fn retry_notice(&self, token: &str, payment_id: &str) -> reqwest::Response {
        self.app
            .post(
                &format!("/api/v1/staff/notices/{payment_id}/retry"),
                Some(token),
                json!({}),
            )
            .await
    }

    async fn events(&self, debt_id: &str, event_type: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = 'TaxDebt' \
             AND aggregate_id = $1 AND event_type = $2",
        )
        .bind(format!("{SEEDED_FOOD_QUARTERLY}-{debt_id}"))
        .bind(event_type)
        .fetch_one(&self.app.state.pool)
        .await
        .unwrap()
    }

    fn set_faults(&self, faults: RevenueFaults) {
        self.revenue.set_faults(faults);
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_precondition_is_refused() {
    let office = Office::open().await;
    let paths = [
        "/api/v1/business/debts".to_string(),
        format!("/api/v1/business/debts/{DEBT_Q2}"),
    ];
    // Not logged in.
    for path in &paths {
        assert_eq!(
            office.get(path, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    let r = office
        .app
        .post(
            &format!("/api/v1/business/debts/{DEBT_Q2}/payments"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Logged in, not certified.
    for path in &paths {
        let (status, body) = office.get(path, Some(&office.citizen)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(code(&body), "certification_required");
    }
    let (status, body) = office.pay(DEBT_Q2).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "certification_required")
    );
    // Staff: business services are for the businesses.
    let (status, _) = office.get(&paths[0], Some(&office.clerk)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Certified as a person, without a business.
    office.certify(None).await;
    for path in &paths {
        let (status, body) = office.get(path, Some(&office.citizen)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(code(&body), "business_certification_required");
    }
    let (status, body) = office.pay(DEBT_Q2).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "business_certification_required")
    );
    assert_eq!(office.events(DEBT_Q2, "TaxDebtPaymentStarted").await, 0);
    assert!(office.revenue.debt_payments().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debts_with_amounts_as_of_today_and_one_debt() {
    let office = Office::with_business().await;
    let r = office
        .app
        .get("/api/v1/business/debts", Some(&office.citizen))
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (status, list) = (r.status(), json_body(r).await);
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["business"]["afm"], SEEDED_FOOD_QUARTERLY);
    assert_eq!(list["amount_as_of"], "2026-12-04");
    let items = list["items"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["debt_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![DEBT_Q2, DEBT_Q3, DEBT_PAID]);
    assert_eq!(items[0]["principal_cents"], 18_240);
    assert_eq!(items[0]["surcharge_cents"], 2_554);
    assert_eq!(items[0]["amount_due_cents"], DEBT_Q2_DUE);
    assert_eq!(items[0]["status"], "due");
    assert_eq!(items[0]["certified_on"], "2025-10-14");
    assert_eq!(items[1]["amount_due_cents"], DEBT_Q3_DUE);
    assert_eq!(items[2]["status"], "paid");
    assert_eq!(items[2]["amount_due_cents"], 0);
    assert_eq!(items[2]["paid"]["payment_ref"], "SANDBOX-DEBT-0001");
    assert_eq!(list["total_due_cents"], DEBT_Q2_DUE + DEBT_Q3_DUE);

    let (status, one) = office
        .get(
            &format!("/api/v1/business/debts/{DEBT_Q2}"),
            Some(&office.citizen),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one, items[0]);
    assert!(one["description"]
        .as_str()
        .unwrap()
        .contains("2ο τρίμηνο 2025"));

    // A month later the surcharge has grown: amounts are always today's.
    office.revenue.set_today(Some(day(2027, 1, 1)));
    let (_, later) = office
        .get(
            &format!("/api/v1/business/debts/{DEBT_Q2}"),
            Some(&office.citizen),
        )
        .await;
    assert_eq!(later["surcharge_cents"], 2_736);
    assert_eq!(later["amount_as_of"], "2027-01-01");

    for unknown in ["DF-0000-000000", "DF_1", "x".repeat(65).as_str()] {
        let (status, body) = office
            .get(
                &format!("/api/v1/business/debts/{unknown}"),
                Some(&office.citizen),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "debt_not_found"),
            "{unknown}"
        );
        let (status, body) = office.pay(unknown).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "debt_not_found"),
            "{unknown}"
        );
    }
    // Another business's debt is not this one's.
    let (status, body) = office.pay("DF-2025-000415").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "debt_not_found")
    );
    // A paid debt is not paid again.
    let (status, body) = office.pay(DEBT_PAID).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "debt_already_paid")
    );
    // A business with no debts.
    office.revenue.put_debts(SEEDED_FOOD_QUARTERLY, Vec::new());
    let (status, empty) = office.list().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["total_due_cents"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revenue_system_down_answers_503_and_nothing_stale() {
    let office = Office::with_business().await;
    assert_eq!(office.list().await.0, StatusCode::OK);
    for faults in [
        RevenueFaults {
            down: true,
            ..RevenueFaults::default()
        },
        RevenueFaults {
            fail_next: 3,
            ..RevenueFaults::default()
        },
        RevenueFaults {
            malformed: true,
            ..RevenueFaults::default()
        },
        RevenueFaults {
            slow_ms: 1500,
            ..RevenueFaults::default()
        },
    ] {
        office.set_faults(faults.clone());
        let (status, body) = office.list().await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{faults:?}: {body}"
        );
        assert_eq!(code(&body), "revenue_system_unavailable");
        assert!(body.get("items").is_none(), "{body}");
        let (status, body) = office
            .get(
                &format!("/api/v1/business/debts/{DEBT_Q2}"),
                Some(&office.citizen),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "revenue_system_unavailable"
            )
        );
        let (status, body) = office.pay(DEBT_Q2).await;
        assert_eq!(
            (status, code(&body)),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "revenue_system_unavailable"
            )
        );
        office.set_faults(RevenueFaults::default());
    }
    assert_eq!(office.events(DEBT_Q2, "TaxDebtPaymentStarted").await, 0);
    assert_eq!(office.list().await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_card_pays_and_the_revenue_system_is_told_once_even_after_being_down() {
    let office = Office::with_business().await;
    let (status, started) = office.pay(DEBT_Q2).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["amount_cents"], DEBT_Q2_DUE);
    let payment_id = started["payment_id"].as_str().unwrap().to_string();
    let fields = started["form"]["fields"].as_array().unwrap();
    let amount = fields.iter().find(|f| f[0] == "orderAmount").unwrap();
    assert_eq!(amount[1], "207.94");
    let description = fields.iter().find(|f| f[0] == "orderDesc").unwrap();
    assert!(
        description[1].as_str().unwrap().contains(DEBT_Q2),
        "{description}"
    );

    // The revenue system goes down while the payer is at the bank.
    office.set_faults(RevenueFaults {
        down: true,
        ..RevenueFaults::default()
    });
    let back = office.pay_started_at_bank(&started, CARD_SUCCEEDS).await;
    assert_eq!(back, format!("/payments/{payment_id}"));
    eventually("a retried notice", || async {
        office
            .notice(&payment_id)
            .await
            .is_some_and(|(status, attempts)| status == "pending" && attempts >= 2)
    })
    .await;
    assert!(office.revenue.debt_payments().is_empty());
    assert_eq!(office.events(DEBT_Q2, "TaxDebtPaid").await, 1);
    // Meanwhile: nothing shown as if current.
    assert_eq!(office.list().await.0, StatusCode::SERVICE_UNAVAILABLE);

    // It comes back: told once, with the payment id as the idempotency key.
    office.set_faults(RevenueFaults::default());
    eventually("the notice sent", || async {
        office
            .notice(&payment_id)
            .await
            .is_some_and(|(status, _)| status == "notified")
    })
    .await;
    let recorded = office.revenue.debt_payments();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].debt_id, DEBT_Q2);
    assert_eq!(recorded[0].afm, SEEDED_FOOD_QUARTERLY);
    assert_eq!(recorded[0].idempotency_key, payment_id);
    assert_eq!(recorded[0].amount_cents, DEBT_Q2_DUE);
    let report = DebtNotifier::new(office.app.state.portal.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.notified + report.retried + report.refused, 0);
    assert_eq!(office.revenue.debt_payments().len(), 1);
    assert_eq!(office.events(DEBT_Q2, "TaxDebtPaid").await, 1);
    assert_eq!(office.events(DEBT_Q2, "RevenueSystemNotified").await, 1);

    // The list has it paid, with the bank's reference; it cannot be paid again.
    let (_, list) = office.list().await;
    let paid = &list["items"][0];
    assert_eq!(paid["debt_id"], DEBT_Q2);
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["amount_due_cents"], 0);
    assert_eq!(
        paid["paid"]["payment_ref"],
        recorded[0].payment_ref.as_str()
    );
    // The list shows the revenue system's settlement only; the debt's own answer also
    // shows the payment through the portal, and that the revenue system was told.
    assert!(paid["portal_payment"].is_null(), "{paid}");
    let (_, one) = office
        .get(
            &format!("/api/v1/business/debts/{DEBT_Q2}"),
            Some(&office.citizen),
        )
        .await;
    assert_eq!(one["portal_payment"]["status"], "paid", "{one}");
    assert_eq!(one["portal_payment"]["payment_id"], payment_id.as_str());
    assert_eq!(one["portal_payment"]["revenue_system"], "notified", "{one}");
    assert_eq!(list["total_due_cents"], DEBT_Q3_DUE);
    let (status, body) = office.pay(DEBT_Q2).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "debt_already_paid")
    );
    // The payer's payments have it, under its own kind.
    office.app.read_models_caught_up().await;
    let (_, mine) = office
        .get("/api/v1/my/payments", Some(&office.citizen))
        .await;
    let item = &mine["items"][0];
    assert_eq!(item["id"], payment_id.as_str());
    assert_eq!(item["status"], "succeeded");
    assert_eq!(item["obligation_kind"], "municipal_tax_debt");
    assert_eq!(
        item["obligation_reference"],
        format!("{SEEDED_FOOD_QUARTERLY}-{DEBT_Q2}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tabs_pay_a_debt_once() {
    // The notifier runs only when the test says so.
    let office = Office::open_with(|c| c.revenue_poll = Duration::from_secs(3600)).await;
    office.certify(Some(SEEDED_FOOD_QUARTERLY)).await;
    let clicks = (0..4).map(|_| office.pay(DEBT_Q2));
    let answers = futures::future::join_all(clicks).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert!(
            *status == StatusCode::CONFLICT || code(body) == "debt_payment_in_progress",
            "{status} {body}"
        );
    }
    // A second tab while the first payment is at the bank.
    let (status, body) = office.pay(DEBT_Q2).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "debt_payment_in_progress")
    );
    let (_, one) = office
        .get(
            &format!("/api/v1/business/debts/{DEBT_Q2}"),
            Some(&office.citizen),
        )
        .await;
    assert_eq!(one["portal_payment"]["status"], "in_progress");
    assert_eq!(office.events(DEBT_Q2, "TaxDebtPaymentStarted").await, 1);

    // The first succeeds; the revenue system does not know yet, the portal refuses.
    let first = created[0];
    office.pay_started_at_bank(first, CARD_SUCCEEDS).await;
    let (status, body) = office.pay(DEBT_Q2).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "debt_already_paid")
    );
    office.app.read_models_caught_up().await;
    let report = DebtNotifier::new(office.app.state.portal.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.notified, 1);
    // A third start: the revenue system has it paid now.
    let (status, body) = office.pay(DEBT_Q2).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "debt_already_paid")
    );
    let payments: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Payment' \
         AND event_type = 'PaymentCreated'",
    )
    .fetch_one(&office.app.state.pool)
    .await
    .unwrap();
    assert_eq!(payments, 1);
    assert_eq!(office.revenue.debt_payments().len(), 1);
    assert_eq!(
        office.revenue.debt_payments()[0].idempotency_key,
        first["payment_id"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_frees_the_debt_and_a_new_attempt_charges_the_amount_of_the_day() {
    let office = Office::with_business().await;
    let (status, first) = office.pay(DEBT_Q3).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    office.pay_started_at_bank(&first, CARD_DECLINED).await;
    // The declined payment left nothing open: the debt is due, with no portal payment.
    let detail_path = format!("/api/v1/business/debts/{DEBT_Q3}");
    let (status, one) = office.get(&detail_path, Some(&office.citizen)).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["status"], "due", "{one}");
    assert!(one["portal_payment"].is_null(), "{one}");
    // The next month: the new attempt charges the new amount (12 % surcharge).
    office.revenue.set_today(Some(day(2027, 1, 2)));
    let (status, second) = office.pay(DEBT_Q3).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["payment_id"], first["payment_id"]);
    assert_eq!(second["amount_cents"], 21_075 + 2_529);
    office.pay_started_at_bank(&second, CARD_SUCCEEDS).await;
    let second_id = second["payment_id"].as_str().unwrap().to_string();
    eventually("the notice sent", || async {
        office
            .notice(&second_id)
            .await
            .is_some_and(|(status, _)| status == "notified")
    })
    .await;
    assert!(office
        .notice(first["payment_id"].as_str().unwrap())
        .await
        .is_none());
    let recorded = office.revenue.debt_payments();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].idempotency_key, second_id);
    assert_eq!(recorded[0].amount_cents, 21_075 + 2_529);
    assert_eq!(office.events(DEBT_Q3, "TaxDebtPaymentStarted").await, 2);
    assert_eq!(office.events(DEBT_Q3, "TaxDebtPaid").await, 1);

    // The business's timeline holds every attempt and its outcome (issue 17): the first
    // payment started and declined, the second started and paid, oldest last.
    office.app.read_models_caught_up().await;
    let (status, history) = office
        .get("/api/v1/business/history", Some(&office.citizen))
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let debt_stream = format!("{SEEDED_FOOD_QUARTERLY}-{DEBT_Q3}");
    let entries: Vec<(String, String)> = history["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["stream_id"] == debt_stream.as_str())
        .map(|e| {
            (
                e["event_type"].as_str().unwrap().to_string(),
                e["payment_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let first_id = first["payment_id"].as_str().unwrap().to_string();
    let started = |id: &str| ("TaxDebtPaymentStarted".to_string(), id.to_string());
    assert_eq!(
        entries.iter().rev().take(4).cloned().collect::<Vec<_>>(),
        vec![
            started(&first_id),
            ("PaymentFailed".to_string(), first_id.clone()),
            started(&second_id),
            ("TaxDebtPaid".to_string(), second_id.clone()),
        ],
        "{history}"
    );
    // And on the page, in words.
    let mut page = Visitor::with_session(&office.app, Some(&office.citizen));
    let html = page.get("/business/history").await;
    html.assert_status(StatusCode::OK);
    html.assert_has("data-event=\"PaymentFailed\"");
    html.assert_has(&greek("ui_business_event_PaymentFailed"));

    // The debt as the pages read it: paid through the portal, the revenue system told.
    let (status, one) = office.get(&detail_path, Some(&office.citizen)).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["status"], "paid", "{one}");
    assert_eq!(one["portal_payment"]["status"], "paid", "{one}");
    assert_eq!(one["portal_payment"]["payment_id"], second_id.as_str());
    assert_eq!(one["portal_payment"]["revenue_system"], "notified", "{one}");
    assert_eq!(one["portal_payment"]["amount_cents"], 21_075 + 2_529);

    // The tax_debts read model: the debt's latest payment and the one that paid it; a
    // rebuild from the log gives the same table.
    let pool = &office.app.state.pool;
    office.app.read_models_caught_up().await;
    let table = || async {
        sqlx::query_scalar::<_, Value>(
            "SELECT coalesce(json_agg(t ORDER BY id), '[]'::json) FROM tax_debts t",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let live = table().await;
    let row = &live[0];
    assert_eq!(
        row["id"],
        format!("{SEEDED_FOOD_QUARTERLY}-{DEBT_Q3}"),
        "{live}"
    );
    assert_eq!(row["debt_id"], DEBT_Q3);
    assert_eq!(row["open_payment_id"], second_id.as_str());
    assert_eq!(row["paid_payment_id"], second_id.as_str());
    assert_eq!(row["paid_amount_cents"], 21_075 + 2_529);
    assert_eq!(row["revenue_system_notified"], true);
    projections::rebuild(
        pool,
        std::sync::Arc::new(projections::tax_debts::TaxDebtsProjection),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(table().await, live);

    // So does a rebuild of every read model in one pass, for every table.
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;

    // The auditor finds the debt and both its payments by the debt's number, and by the
    // business's ΑΦΜ; each reads in words, every field named.
    let auditor = office
        .app
        .staff("auditor", "auditor@dimos.example.gr", "Ελένη Ελεγκτή")
        .await;
    for query in [
        format!("number={DEBT_Q3}"),
        format!("person={SEEDED_FOOD_QUARTERLY}&kind=debts"),
    ] {
        let (status, found) = office
            .get(&format!("/api/v1/audit/streams?{query}"), Some(&auditor))
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        let kinds: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["aggregate_type"].as_str().unwrap())
            .collect();
        if query.contains("kind=debts") {
            assert_eq!(kinds, ["TaxDebt"], "{found}");
        } else {
            assert_eq!(kinds, ["Payment", "Payment", "TaxDebt"], "{found}");
            let mut audit = Visitor::with_session(&office.app, Some(&auditor));
            for stream in found["items"].as_array().unwrap() {
                let id = stream["stream_id"].as_str().unwrap();
                let page = audit.get(&format!("/audit/cases/{id}")).await;
                page.assert_status(StatusCode::OK);
                page.assert_lacks("field-unlabelled");
            }
        }
    }
}

/// Paid at the municipality's counter while the payer was at the bank: the revenue system
/// refuses the portal's notice of the payment for good. Answers the payment's id.
async fn a_refused_notice(office: &Office) -> String {
    let (status, started) = office.pay(DEBT_Q2).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let counter = json!({
        "debt_id": DEBT_Q2, "afm": SEEDED_FOOD_QUARTERLY, "payment_ref": "TAMEIO-0042",
        "amount_cents": DEBT_Q2_DUE, "paid_at": "2026-12-04T08:00:00Z",
        "idempotency_key": "counter-0042",
    });
    let r = office
        .http
        .post(format!(
            "{}/api/v1/debts/{DEBT_Q2}/payments",
            office.running.base_url()
        ))
        .json(&counter)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    office.pay_started_at_bank(&started, CARD_SUCCEEDS).await;
    office.app.read_models_caught_up().await;
    let report = DebtNotifier::new(office.app.state.portal.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!((report.notified, report.refused), (0, 1));
    started["payment_id"].as_str().unwrap().to_string()
}

/// Paid at the municipality's counter while the payer was at the bank: the revenue system
/// refuses the portal's notice for good; the debt records the refusal for a clerk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_the_revenue_system_refuses_is_recorded_for_a_clerk() {
    let office = Office::open_with(|c| c.revenue_poll = Duration::from_secs(3600)).await;
    office.certify(Some(SEEDED_FOOD_QUARTERLY)).await;
    let payment_id = a_refused_notice(&office).await;
    let payment_id = payment_id.as_str();
    assert_eq!(office.notice(payment_id).await.unwrap().0, "refused");
    assert_eq!(office.events(DEBT_Q2, "TaxDebtPaid").await, 1);
    assert_eq!(
        office.events(DEBT_Q2, "RevenueSystemRefusedNotice").await,
        1
    );
    let code: String = sqlx::query_scalar(
        "SELECT payload->'RevenueSystemRefusedNotice'->>'code' FROM events \
         WHERE aggregate_type = 'TaxDebt' AND event_type = 'RevenueSystemRefusedNotice'",
    )
    .fetch_one(&office.app.state.pool)
    .await
    .unwrap();
    assert_eq!(code, "debt_already_paid");
    // Told once: a later pass sends nothing.
    let again = DebtNotifier::new(office.app.state.portal.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!(again.notified + again.retried + again.refused, 0);
    assert_eq!(office.revenue.debt_payments().len(), 1);
    // The debt's own answer shows the portal's payment and the refusal, for the payer and
    // a clerk to see.
    let (_, one) = office
        .get(
            &format!("/api/v1/business/debts/{DEBT_Q2}"),
            Some(&office.citizen),
        )
        .await;
    assert_eq!(one["portal_payment"]["payment_id"], payment_id, "{one}");
    assert_eq!(one["portal_payment"]["revenue_system"], "refused", "{one}");
}

/// A refused notice reaches the people who must act: the payer is e-mailed (paid, nothing
/// to do), clerks see it in their list (JSON and page, not the citizen), and a clerk's
/// «Νέα αποστολή» is recorded on the debt, takes it off the list and has the notifier tell
/// the revenue system again (which here refuses again: the debt was paid at the counter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_sees_a_refused_notice_and_has_it_sent_again() {
    let office = Office::open_with(|c| c.revenue_poll = Duration::from_secs(3600)).await;
    office.certify(Some(SEEDED_FOOD_QUARTERLY)).await;
    let payment_id = a_refused_notice(&office).await;
    let pool = &office.app.state.pool;

    eventually("the payer's e-mail", || async {
        let mails: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mail_outbox WHERE to_address = $1 \
             AND subject = 'Η πληρωμή σας καταχωρίζεται από υπάλληλο του Δήμου'",
        )
        .bind(CITIZEN_EMAIL)
        .fetch_one(pool)
        .await
        .unwrap();
        mails == 1
    })
    .await;
    let body: String = sqlx::query_scalar(
        "SELECT body FROM mail_outbox WHERE to_address = $1 \
         AND subject = 'Η πληρωμή σας καταχωρίζεται από υπάλληλο του Δήμου'",
    )
    .bind(CITIZEN_EMAIL)
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(body.contains("Δεν χρειάζεται να πληρώσετε ξανά"), "{body}");
    assert!(body.contains("Ελένη Εστιάτορα"), "{body}");

    // Clerks only.
    let (status, _) = office
        .get("/api/v1/staff/notices", Some(&office.citizen))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = office.retry_notice(&office.citizen, &payment_id).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, list) = office
        .get("/api/v1/staff/notices", Some(&office.clerk))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let item = &items[0];
    assert_eq!(item["payment_id"], payment_id.as_str());
    assert_eq!(item["obligation_kind"], "tax_debt");
    assert_eq!(
        item["obligation_id"],
        format!("{SEEDED_FOOD_QUARTERLY}-{DEBT_Q2}")
    );
    assert_eq!(item["code"], "debt_already_paid");
    assert_eq!(item["code_message"], greek("debt_already_paid"));
    assert_eq!(item["second_payment"], false);
    assert_eq!(item["payer_email"], CITIZEN_EMAIL);
    assert_eq!(item["amount_cents"], DEBT_Q2_DUE);
    assert!(item["payment_ref"].as_str().is_some_and(|r| !r.is_empty()));

    // The operators' metrics count it (an alert calls a clerk after an hour).
    let metrics = office.app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("portal_refused_notices{outbox=\"tax_debt_notices\"} 1\n"),
        "{metrics}"
    );

    // The clerk's page lists it with «Νέα αποστολή».
    let mut clerk = Visitor::with_session(&office.app, Some(&office.clerk));
    let page = clerk.get("/staff/notices").await;
    page.assert_status(StatusCode::OK);
    page.assert_has("Ενημερώσεις πληρωμών που απορρίφθηκαν");
    page.assert_has(&format!("id=\"notice-{payment_id}\""));
    page.assert_has("Βεβαιωμένη οφειλή");
    page.assert_has("Νέα αποστολή");
    // «Νέα αποστολή» first restates the notice and asks for confirmation; nothing happens.
    let confirm = clerk
        .post(&page, &format!("/staff/notices/{payment_id}/retry"), &[])
        .await;
    confirm.assert_status(StatusCode::OK);
    confirm.assert_has("Νέα αποστολή της ενημέρωσης");
    confirm.assert_has("id=\"confirm\"");
    assert_eq!(confirm.href_of("cancel"), "/staff/notices");
    assert_eq!(office.notice(&payment_id).await.unwrap().0, "refused");
    let done = clerk
        .post(
            &confirm,
            &format!("/staff/notices/{payment_id}/retry"),
            &[("confirmed", "yes")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = clerk.get(done.location.as_deref().unwrap()).await;
    page.assert_has("Η ενημέρωση θα σταλεί ξανά");
    page.assert_has("Δεν υπάρχουν ενημερώσεις που απορρίφθηκαν");

    // Recorded on the debt, with the clerk; due again in the outbox.
    let retried: Value = sqlx::query_scalar(
        "SELECT payload->'RevenueSystemNoticeRetried' FROM events \
         WHERE aggregate_type = 'TaxDebt' AND event_type = 'RevenueSystemNoticeRetried'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(retried["payment_id"], payment_id.as_str());
    assert_eq!(retried["clerk"]["name"], "Γεώργιος Υπαλληλίδης");
    assert_eq!(office.notice(&payment_id).await.unwrap().0, "pending");
    // A second press finds nothing to send again.
    let r = office.retry_notice(&office.clerk, &payment_id).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(r).await["error"]["code"], "notice_not_found");

    // The notifier tells the revenue system again; it refuses again, and the list shows it.
    office.app.read_models_caught_up().await;
    let report = DebtNotifier::new(office.app.state.portal.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!((report.notified, report.refused), (0, 1));
    assert_eq!(
        office.events(DEBT_Q2, "RevenueSystemRefusedNotice").await,
        2
    );
    // The payer was told at the first refusal; the second one mails nothing new.
    portal::http::wait_for_log_head(
        &office.app.state,
        &[commands::mail_notices::MailNotices::NAME],
    )
    .await
    .unwrap();
    let mails: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mail_outbox WHERE to_address = $1 AND subject = $2",
    )
    .bind(CITIZEN_EMAIL)
    .bind("Η πληρωμή σας καταχωρίζεται από υπάλληλο του Δήμου")
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(mails, 1);
    let (_, list) = office
        .get("/api/v1/staff/notices", Some(&office.clerk))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    // Once more through the API.
    let r = office.retry_notice(&office.clerk, &payment_id).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer = json_body(r).await;
    assert_eq!(answer["notice"], "pending");
    assert_eq!(answer["obligation_kind"], "tax_debt");
    // The business's history shows the clerk's retry; the read models rebuild to the same.
    office.app.read_models_caught_up().await;
    let (_, history) = office
        .get("/api/v1/business/history", Some(&office.citizen))
        .await;
    let retries = history["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "RevenueSystemNoticeRetried")
        .count();
    assert_eq!(retries, 2, "{history}");
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;
}

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_for_visitors_and_uncertified_users() {
    let office = Office::open().await;
    let mut visitor = Visitor::with_session(&office.app, None);
    let page = visitor.get("/business/debts").await;
    page.assert_status(StatusCode::SEE_OTHER);
    assert!(
        page.location.as_deref().unwrap().starts_with("/login"),
        "{:?}",
        page.location
    );

    let mut citizen = Visitor::with_session(&office.app, Some(&office.citizen));
    for path in [
        "/business/debts".to_string(),
        format!("/business/debts/{DEBT_Q2}"),
    ] {
        let page = citizen.get(&path).await;
        page.assert_status(StatusCode::FORBIDDEN);
        page.assert_has("/certification");
        page.assert_lacks("id=\"debts\"");
    }
    office.certify(None).await;
    let page = citizen.get("/business/debts").await;
    page.assert_status(StatusCode::FORBIDDEN);
    page.assert_lacks(DEBT_Q2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_list_a_debt_pay_it_and_show_the_outcome() {
    let office = Office::open_with(|c| c.revenue_poll = Duration::from_secs(3600)).await;
    office.certify(Some(SEEDED_FOOD_QUARTERLY)).await;
    let mut browser = Visitor::with_session(&office.app, Some(&office.citizen));

    let list = browser.get("/business/debts").await;
    list.assert_status(StatusCode::OK);
    assert_eq!(list.text_of("business-afm"), SEEDED_FOOD_QUARTERLY);
    assert!(list.text_of("debts-as-of").ends_with("04/12/2026"));
    list.assert_has(&format!("href=\"/business/debts/{DEBT_Q2}\""));
    assert_eq!(list.text_of("total-due"), "441,87 €");
    let paid_row = list.text_of(&format!("debt-{DEBT_PAID}"));
    assert!(
        paid_row.contains(&greek("ui_debts_status_paid")),
        "{paid_row}"
    );
    list.assert_has(&format!("id=\"debt-{DEBT_PAID}\" data-status=\"paid\""));
    list.assert_has(&format!("id=\"debt-{DEBT_Q2}\" data-status=\"due\""));

    let debt = browser.get(&format!("/business/debts/{DEBT_Q2}")).await;
    debt.assert_status(StatusCode::OK);
    assert_eq!(debt.text_of("debt-id"), DEBT_Q2);
    assert_eq!(debt.text_of("debt-principal"), "182,40 €");
    assert_eq!(debt.text_of("debt-surcharge"), "25,54 €");
    assert!(debt.text_of("debt-amount").starts_with("207,94 €"));
    assert_eq!(debt.text_of("debt-certified-on"), "14/10/2025");
    assert!(debt.text_of("pay").contains(&greek("ui_debt_pay_button")));

    // «Πληρωμή» → the page holding the bank's form, which alone may post to the bank.
    let bank = browser
        .post(&debt, &format!("/business/debts/{DEBT_Q2}/pay"), &[])
        .await;
    bank.assert_status(StatusCode::OK);
    assert_eq!(bank.text_of("bank-amount"), "207,94 €");
    let form = bank.bank_form();
    let origin = form.action.trim_end_matches("/vpos/payment");
    assert!(
        bank.csp.contains(&format!("form-action 'self' {origin}")),
        "{}",
        bank.csp
    );
    // A second tab: the payment is in progress.
    let again = browser.get(&format!("/business/debts/{DEBT_Q2}")).await;
    again.assert_has("id=\"debt-in-progress\"");
    again.assert_lacks("id=\"pay\"");
    let refused = browser
        .post(&again, &format!("/business/debts/{DEBT_Q2}/pay"), &[])
        .await;
    refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.text_of("debt-problem"),
        greek("debt_payment_in_progress")
    );

    // A declined card: the payment's page links back to the debt.
    let back = office
        .pay_at_bank(&form.action, &form.hidden, CARD_DECLINED)
        .await;
    let outcome = browser.get(&back).await;
    outcome.assert_status(StatusCode::OK);
    outcome.assert_has("data-status=\"failed\"");
    assert_eq!(
        outcome.href_of("try-again"),
        format!("/business/debts/{DEBT_Q2}")
    );
    outcome.assert_lacks("id=\"debt-page\"");

    // Again, with a good card: the receipt.
    let debt = browser.get(&format!("/business/debts/{DEBT_Q2}")).await;
    let bank = browser
        .post(&debt, &format!("/business/debts/{DEBT_Q2}/pay"), &[])
        .await;
    let form = bank.bank_form();
    let back = office
        .pay_at_bank(&form.action, &form.hidden, CARD_SUCCEEDS)
        .await;
    let receipt = browser.get(&back).await;
    receipt.assert_has("data-status=\"succeeded\"");
    assert!(receipt.text_of("payment-what").contains(DEBT_Q2));
    assert_eq!(receipt.text_of("payment-amount"), "207,94 €");
    // The receipt leads to the debt it paid; no new attempt is offered.
    assert_eq!(
        receipt.href_of("debt-page"),
        format!("/business/debts/{DEBT_Q2}")
    );
    receipt.assert_lacks("id=\"try-again\"");

    // Paid, not yet recorded by the revenue system: marked as paid, being recorded.
    let debt = browser.get(&format!("/business/debts/{DEBT_Q2}")).await;
    debt.assert_has("data-status=\"paid\"");
    assert_eq!(
        debt.text_of("debt-paid-note"),
        greek("ui_debts_being_recorded")
    );
    debt.assert_lacks("id=\"pay\"");
    office.app.read_models_caught_up().await;
    DebtNotifier::new(office.app.state.portal.clone())
        .run_once()
        .await
        .unwrap();
    let debt = browser.get(&format!("/business/debts/{DEBT_Q2}")).await;
    assert_eq!(debt.text_of("debt-paid-note"), greek("ui_debt_paid_note"));
    let list = browser.get("/business/debts").await;
    assert_eq!(list.text_of("total-due"), "233,93 €");

    // A debt this business does not have: 404, with the way back to its debts.
    let unknown = browser.get("/business/debts/DF-9999-123456").await;
    unknown.assert_status(StatusCode::NOT_FOUND);
    unknown.assert_has(&greek("debt_not_found"));
    assert_eq!(unknown.href_of("back"), "/business/debts");

    // The revenue system down: the page says so and shows no amounts.
    office.set_faults(RevenueFaults {
        down: true,
        ..RevenueFaults::default()
    });
    let down = browser.get("/business/debts").await;
    down.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.headers["retry-after"], "5");
    down.assert_has("id=\"revenue-unavailable\"");
    down.assert_lacks("id=\"debts\"");
    down.assert_lacks("233,93");
    let down = browser.get(&format!("/business/debts/{DEBT_Q3}")).await;
    down.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    down.assert_lacks("id=\"pay\"");
}
