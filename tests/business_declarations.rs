//! HTTP tests of «Δήλωση και Πληρωμή Δημοτικού Φόρου» (S13) against a real portal,
//! PostgreSQL, the sandbox revenue system (started here, with its clock and fault switches
//! in the test's hands) and the sandbox bank: the preconditions, the breakdown with and
//! without surcharges (month boundaries, the cap), field errors, a declined / cancelled /
//! expired payment rejecting the declaration (an event says why) and filing again, a
//! period declared twice, the revenue system down (503, and the paid declaration told once
//! it is back, exactly once), an amount that changed since it was shown, and the pages.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::pages::{Page, Visitor};
use crate::common::{eventually_within, field_codes, json_body, TestApp};
use chrono::NaiveDate;
use commands::tax_declarations::DeclarationWorker;
use domain::ports::ManualClock;
use reqwest::header::COOKIE;
use reqwest::{redirect::Policy, Client, StatusCode};
use sandboxes::bank::{CARD_DECLINED, CARD_SUCCEEDS};
use sandboxes::revenue::{RevenueFaults, RevenueSandbox, SEEDED_FOOD_QUARTERLY};
use sandboxes::RunningSandbox;
use serde_json::{json, Value};

const REP_EMAIL: &str = "maria@example.gr";
const REP_NAME: &str = "Μαρία Παπαδοπούλου";
const REP_PASSWORD: &str = "Κωδικός-Δοκιμής-42";
const COMPANY: &str = "Ταβέρνα Ο Πλάτανος Ο.Ε.";
const AFM: &str = SEEDED_FOOD_QUARTERLY;
const STREAM: &str = "094259216-2026-Q1";
const MESSAGES_EL: &str = "el";

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

/// Q1 2026 with 12.345,67 € of gross revenue, the VAT return filed on 20/04/2026.
fn q1() -> Value {
    json!({
        "filing": "quarterly",
        "period": 1,
        "year": 2026,
        "gross_revenue": "12.345,67",
        "vat_return_date": "2026-04-20",
    })
}

/// The tax of 12.345,67 € at 0,5 %.
const TAX: i64 = 6_173;

struct Office {
    app: TestApp,
    revenue: RevenueSandbox,
    _running: RunningSandbox,
    /// The business's representative (certified with the business, profile complete).
    rep: String,
    clerk: String,
    http: Client,
}

impl Office {
    async fn open() -> Self {
        Self::open_with(|_| {}).await
    }

    async fn open_with(adjust: impl FnOnce(&mut portal::Config)) -> Self {
        let revenue = RevenueSandbox::new();
        // Q1 2026's deadline is 30/04/2026: on time by default.
        revenue.set_today(Some(day(2026, 4, 30)));
        let running = sandboxes::serve(revenue.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the revenue sandbox starts");
        let url = running.base_url();
        let app = TestApp::spawn_with(|config| {
            config.revenue_url = Some(url);
            config.revenue_timeout = Duration::from_secs(2);
            config.payment_poll = Duration::from_secs(3600);
            config.declarations_poll = Duration::from_millis(50);
            config.declarations_retry_first = Duration::from_millis(200);
            adjust(config);
        })
        .await;
        let clerk = app
            .staff("clerk", "clerk@dimos.example.gr", "Γεώργιος Υπαλληλίδης")
            .await;
        let rep = app.citizen(REP_EMAIL, REP_NAME).await;
        let office = Self {
            app,
            revenue,
            _running: running,
            rep,
            clerk,
            http: Client::builder().redirect(Policy::none()).build().unwrap(),
        };
        office.certify(REP_EMAIL, Some(AFM)).await;
        office.complete_profile(&office.rep).await;
        office
    }

    /// The clerk certifies `email` (as the representative of `afm`'s business, or as a
    /// person only).
    async fn certify(&self, email: &str, afm: Option<&str>) {
        let business = afm.map(|afm| (COMPANY, afm));
        self.app.certify(&self.clerk, email, business).await;
    }

    async fn complete_profile(&self, token: &str) {
        let r = self
            .app
            .client
            .put(self.app.url("/api/v1/me"))
            .bearer_auth(token)
            .json(&json!({
                "full_name": REP_NAME,
                "father_name": "Γεώργιος",
                "address": "Οδός Ερμού 1, 10563 Αθήνα",
                "phone": "2101234567",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    async fn assess_as(&self, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let r = self
            .app
            .post("/api/v1/business/declarations/assess", token, body)
            .await;
        let status = r.status();
        (status, json_body(r).await)
    }

    async fn assess(&self, body: Value) -> (StatusCode, Value) {
        self.assess_as(Some(&self.rep), body).await
    }

    /// Assesses `body` and answers the assessment (which must succeed).
    async fn assessed(&self, body: Value) -> Value {
        let (status, a) = self.assess(body).await;
        assert_eq!(status, StatusCode::OK, "{a}");
        a
    }

    async fn file(&self, body: Value, expected_total_cents: i64) -> (StatusCode, Value) {
        let mut body = body;
        body["expected_total_cents"] = json!(expected_total_cents);
        let r = self
            .app
            .post("/api/v1/business/declarations", Some(&self.rep), body)
            .await;
        let status = r.status();
        (status, json_body(r).await)
    }

    /// Assesses and files `body`: answers the 201 answer.
    async fn file_ok(&self, body: Value) -> Value {
        let a = self.assessed(body.clone()).await;
        let (status, started) = self.file(body, a["total_cents"].as_i64().unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        started
    }

    /// An office whose payments expire after a second, where Q1 was filed and its payer
    /// left on the bank's card page past the expiry, so the declaration was rejected:
    /// answers the office, the filing's 201 answer, and the card page (bank, session) that
    /// can still be paid.
    async fn with_a_lapsed_filing() -> (Self, Value, (String, String)) {
        let office = Self::open_with(|config| {
            config.payment_expiry = Duration::from_secs(1);
            config.payment_reconcile_after = Duration::from_secs(3600);
        })
        .await;
        let started = office.file_ok(q1()).await;
        let card_page = office.card_page(&started["form"]).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        office.expire_payments(1).await;
        let d = office.until_status(STREAM, "rejected").await;
        assert_eq!(d["rejected_reason"], "payment_expired");
        (office, started, card_page)
    }

    /// Files the quarters `periods` of `year` (each VAT return in the month after its
    /// quarter): answers their 201 answers.
    async fn file_quarters(&self, year: i32, periods: std::ops::RangeInclusive<u32>) -> Vec<Value> {
        let mut filed = Vec::new();
        for period in periods {
            let mut body = q1();
            body["year"] = json!(year);
            body["period"] = json!(period);
            body["vat_return_date"] = json!(if period == 4 {
                format!("{}-01-20", year + 1)
            } else {
                format!("{year}-{:02}-20", period * 3 + 1)
            });
            filed.push(self.file_ok(body).await);
        }
        filed
    }

    /// Walks the bank from the portal's answer with `card` (`None`: cancels there) and
    /// posts the bank's return to the portal.
    async fn at_bank(&self, form: &Value, card: Option<&str>) {
        let (bank, session) = self.card_page(form).await;
        self.on_card_page(&bank, &session, card).await;
    }

    /// Posts the portal's form to the bank: answers the bank's base URL and the card
    /// page's session.
    async fn card_page(&self, form: &Value) -> (String, String) {
        let action = form["action"].as_str().unwrap();
        let fields: Vec<(String, String)> = serde_json::from_value(form["fields"].clone()).unwrap();
        crate::common::bank::open_card_page(&self.http, action, &fields).await
    }

    /// Pays (or cancels) on the bank's card page and posts the bank's return to the portal.
    async fn on_card_page(&self, bank: &str, session: &str, card: Option<&str>) {
        let back = crate::common::bank::answer_card_page(&self.http, bank, session, card).await;
        let r = self
            .http
            .post(&back.action)
            .form(&back.hidden)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    /// Runs the payment reconciler (once the read models have caught up) until it has
    /// expired `n` payments.
    async fn expire_payments(&self, n: usize) {
        let reconciler = commands::payments::PaymentReconciler::new(self.app.state.portal.clone());
        let mut expired = 0;
        for _ in 0..100 {
            self.app.read_models_caught_up().await;
            expired += reconciler.run_once().await.unwrap().expired;
            if expired >= n {
                assert_eq!(expired, n);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the reconciler expired {expired} payments, not {n}");
    }

    async fn detail(&self, id: &str) -> Value {
        let r = self
            .app
            .get(
                &format!("/api/v1/business/declarations/{id}"),
                Some(&self.rep),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        json_body(r).await
    }

    /// Waits until the declaration's read model has `status`; answers it.
    async fn until_status(&self, id: &str, status: &str) -> Value {
        for _ in 0..300 {
            self.app.read_models_caught_up().await;
            let d = self.detail(id).await;
            if d["status"] == status {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the declaration {id} never became {status}: {}",
            self.detail(id).await
        );
    }

    async fn events(&self, event_type: &str) -> Vec<Value> {
        sqlx::query_scalar(
            "SELECT payload FROM events WHERE aggregate_type = 'TaxDeclaration' \
             AND aggregate_id = $1 AND event_type = $2 ORDER BY sequence",
        )
        .bind(STREAM)
        .bind(event_type)
        .fetch_all(&self.app.state.pool)
        .await
        .unwrap()
    }

    /// The notice's state in the outbox: (notice, attempts).
    async fn outbox(&self, payment_id: &str) -> Option<(String, String, i32)> {
        sqlx::query_as(
            "SELECT applied, notice, attempts FROM declaration_outcomes WHERE payment_id = $1",
        )
        .bind(payment_id)
        .fetch_optional(&self.app.state.pool)
        .await
        .unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Preconditions
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_certified_business_declares() {
    let office = Office::open().await;
    // Anonymous.
    let (status, body) = office.assess_as(None, q1()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let r = office.app.get("/api/v1/business/declarations", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A citizen who is not certified at all.
    let stranger = office
        .app
        .citizen("kostas@example.gr", "Κώστας Νικολάου")
        .await;
    let (status, body) = office.assess_as(Some(&stranger), q1()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "certification_required");
    let mut filing = q1();
    filing["expected_total_cents"] = json!(TAX);
    let r = office
        .app
        .post(
            "/api/v1/business/declarations",
            Some(&stranger),
            filing.clone(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Certified as a person, without a business.
    office.certify("kostas@example.gr", None).await;
    let (status, body) = office.assess_as(Some(&stranger), q1()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "business_certification_required");
    let r = office
        .app
        .get("/api/v1/business/declarations", Some(&stranger))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = office
        .app
        .post("/api/v1/business/declarations", Some(&stranger), filing)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(office.events("DeclarationFiled").await.is_empty());

    // Staff are not businesses.
    let (status, _) = office.assess_as(Some(&office.clerk), q1()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------------------------------
// The breakdown
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declaration_on_time_has_no_surcharge() {
    let office = Office::open().await;
    let a = office.assessed(q1()).await;
    assert_eq!(a["declaration_id"], STREAM);
    assert_eq!(a["afm"], AFM);
    assert_eq!(a["company_name"], COMPANY);
    assert_eq!(a["period"]["key"], "2026-Q1");
    assert_eq!(a["period"]["label_el"], "1ο τρίμηνο 2026");
    assert_eq!(a["gross_revenue_cents"], 1_234_567);
    assert_eq!(a["category"]["code"], "food");
    assert_eq!(a["rate_basis_points"], 50);
    assert_eq!(a["tax_cents"], TAX);
    assert_eq!(a["deadline"], "2026-04-30");
    assert_eq!(a["months_late"], 0);
    assert_eq!(a["surcharge_basis_points"], 0);
    assert_eq!(a["surcharge_cents"], 0);
    assert_eq!(a["total_cents"], TAX);
    assert_eq!(a["computed_on"], "2026-04-30");
    // Plain notation and numbers give the same exact cents.
    let mut plain = q1();
    plain["gross_revenue"] = json!("12345.67");
    plain["period"] = json!("1");
    assert_eq!(office.assessed(plain).await["tax_cents"], TAX);
    // Assessing files nothing.
    assert!(office.events("DeclarationFiled").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surcharges_count_months_begun_after_the_deadline_up_to_the_cap() {
    let office = Office::open().await;
    // (today, months late, surcharge in basis points, surcharge in cents)
    let cases = [
        (day(2026, 4, 30), 0, 0, 0),
        (day(2026, 5, 1), 1, 200, 123),
        (day(2026, 5, 31), 1, 200, 123),
        (day(2026, 6, 1), 2, 400, 247),
        (day(2026, 12, 4), 8, 1_600, 988),
        (day(2030, 5, 31), 49, 9_800, 6_050),
        (day(2030, 6, 1), 50, 10_000, TAX),
        (day(2035, 1, 1), 105, 10_000, TAX),
    ];
    for (today, months, basis_points, surcharge) in cases {
        office.revenue.set_today(Some(today));
        let a = office.assessed(q1()).await;
        assert_eq!(a["months_late"], months, "{today}: {a}");
        assert_eq!(a["surcharge_basis_points"], basis_points, "{today}: {a}");
        assert_eq!(a["tax_cents"], TAX, "{today}");
        assert_eq!(a["surcharge_cents"], surcharge, "{today}: {a}");
        assert_eq!(a["total_cents"], TAX + surcharge, "{today}: {a}");
        assert_eq!(a["computed_on"], today.to_string());
    }
}

/// A JSON number is a number of euros: `1.234` is refused (a fraction of a cent), never read
/// as 1.234,00 € (issue 12, defect 4); `12345.67` is 12.345,67 €.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_number_of_euros_is_never_read_as_greek_thousands() {
    let office = Office::open().await;
    let mut body = q1();
    body["gross_revenue"] = json!(1.234);
    let (status, answer) = office.assess(body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "malformed_json");
    assert!(
        answer["error"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("at most two decimals")),
        "{answer}"
    );
    body["gross_revenue"] = json!(12345.67);
    let assessed = office.assessed(body).await;
    assert_eq!(assessed["gross_revenue_cents"], 1_234_567);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_error_is_named_at_once() {
    let office = Office::open().await;
    let (status, body) = office
        .assess(json!({
            "filing": "monthly",
            "period": "13",
            "year": "2026",
            "gross_revenue": "-5,00",
            "vat_return_date": "20/04/2026",
        }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(
        field_codes(&body["error"]),
        vec![
            ("period".into(), "period_month_invalid".into()),
            ("gross_revenue".into(), "gross_revenue_invalid".into()),
            ("vat_return_date".into(), "vat_return_date_malformed".into()),
        ]
    );
    assert!(body["error"]["fields"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("12")));

    let (status, body) = office
        .assess(
            json!({"filing": "", "period": "", "year": "26", "gross_revenue": "",
                       "vat_return_date": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_codes(&body["error"]),
        vec![
            ("filing".into(), "filing_required".into()),
            ("period".into(), "period_invalid".into()),
            ("year".into(), "year_invalid".into()),
            ("gross_revenue".into(), "gross_revenue_invalid".into()),
            ("vat_return_date".into(), "vat_return_date_malformed".into()),
        ]
    );
    let mut bad_amount = q1();
    bad_amount["gross_revenue"] = json!("12,345,67");
    let (status, body) = office.assess(bad_amount).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_codes(&body["error"]),
        vec![("gross_revenue".into(), "gross_revenue_invalid".into())]
    );

    // The revenue system's checks come back next to their fields.
    let mut monthly = q1();
    monthly["filing"] = json!("monthly");
    let (status, body) = office.assess(monthly).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "filing_mismatch");
    assert_eq!(
        field_codes(&body["error"]),
        vec![("filing".into(), "filing_mismatch".into())]
    );
    let mut early = q1();
    early["vat_return_date"] = json!("2026-03-31");
    let (status, body) = office.assess(early).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        field_codes(&body["error"]),
        vec![("vat_return_date".into(), "vat_return_date_invalid".into())]
    );
    office.revenue.set_today(Some(day(2026, 3, 15)));
    let mut not_ended = q1();
    not_ended["vat_return_date"] = json!("2026-03-10");
    let (status, body) = office.assess(not_ended).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "period_not_ended");
    // Unknown fields are named too.
    let mut extra = q1();
    extra["tax_cents"] = json!(1);
    let (status, body) = office.assess(extra).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

// ---------------------------------------------------------------------------------------
// Declaration and payment as one unit
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_rejects_the_declaration_which_is_filed_again_and_paid() {
    let office = Office::open().await;
    office.revenue.set_today(Some(day(2026, 5, 10)));
    let first = office.file_ok(q1()).await;
    assert_eq!(first["declaration_id"], STREAM);
    assert_eq!(first["amount_cents"], TAX + 123);
    let fields = first["form"]["fields"].as_array().unwrap();
    let amount = fields.iter().find(|f| f[0] == "orderAmount").unwrap();
    assert_eq!(amount[1], "62.96");
    let description = fields.iter().find(|f| f[0] == "orderDesc").unwrap();
    assert!(
        description[1].as_str().unwrap().contains("1ο τρίμηνο 2026"),
        "{description}"
    );

    office.at_bank(&first["form"], Some(CARD_DECLINED)).await;
    let rejected = office.until_status(STREAM, "rejected").await;
    assert_eq!(rejected["rejected_reason"], "payment_declined");
    assert_eq!(rejected["revenue_system"], "pending");
    let events = office.events("DeclarationRejected").await;
    assert_eq!(events.len(), 1);
    let event = &events[0]["DeclarationRejected"];
    assert_eq!(event["reason"], "payment_declined");
    assert_eq!(event["payment_id"], first["payment_id"]);
    let filed = office.events("DeclarationFiled").await;
    assert_eq!(filed[0]["DeclarationFiled"]["assessment"]["tax_cents"], TAX);
    assert_eq!(
        filed[0]["DeclarationFiled"]["assessment"]["surcharge_cents"],
        123
    );

    // Filed again, and paid.
    let second = office.file_ok(q1()).await;
    assert_ne!(second["payment_id"], first["payment_id"]);
    office.at_bank(&second["form"], Some(CARD_SUCCEEDS)).await;
    let paid = office.until_status(STREAM, "paid").await;
    assert_eq!(paid["payment_id"], second["payment_id"]);
    assert!(paid["payment_ref"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(paid["filings"], 2);
    assert_eq!(paid["filings_history"].as_array().unwrap().len(), 2);
    assert_eq!(paid["filings_history"][1]["status"], "rejected");

    // The revenue system records it once, keyed by the payment.
    let payment_id = second["payment_id"].as_str().unwrap().to_string();
    eventually_within("the revenue system told", 400, || async {
        office
            .outbox(&payment_id)
            .await
            .is_some_and(|(_, notice, _)| notice == "notified")
    })
    .await;
    let recorded = office.revenue.declarations();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].period_key, "2026-Q1");
    assert_eq!(recorded[0].idempotency_key, payment_id);
    assert_eq!(recorded[0].amount_cents, TAX + 123);
    assert_eq!(office.events("DeclarationPaid").await.len(), 1);
    assert_eq!(office.events("RevenueSystemNotified").await.len(), 1);
    assert_eq!(
        office
            .outbox(first["payment_id"].as_str().unwrap())
            .await
            .map(|(applied, notice, _)| (applied, notice)),
        Some(("applied".to_string(), "none".to_string()))
    );

    // Declared and paid: never again.
    let (status, body) = office.assess(q1()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "period_already_declared");
    let (status, body) = office.file(q1(), TAX + 123).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "period_already_declared");
    assert_eq!(office.events("DeclarationFiled").await.len(), 2);

    // The business's list.
    let list = json_body(
        office
            .app
            .get("/api/v1/business/declarations", Some(&office.rep))
            .await,
    )
    .await;
    assert_eq!(list["afm"], AFM);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["status"], "paid");
    assert_eq!(list["filings"].as_array().unwrap().len(), 2);
    assert_eq!(list["filings"][0]["status"], "paid");

    // The read model rebuilds from the log to the same tables.
    office.app.read_models_caught_up().await;
    let pool = &office.app.state.pool;
    let snapshot = || async {
        sqlx::query_as::<_, (Value, Value)>(
            "SELECT (SELECT coalesce(json_agg(t ORDER BY id), '[]'::json) FROM tax_declarations t), \
             (SELECT coalesce(json_agg(f ORDER BY declaration_id, filing_number), '[]'::json) \
              FROM tax_declaration_filings f)",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let live = snapshot().await;
    assert_eq!(live.1.as_array().unwrap().len(), 2);
    projections::rebuild(
        pool,
        std::sync::Arc::new(projections::declarations::DeclarationsProjection),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(snapshot().await, live);

    // So does a rebuild of every read model in one pass, for every table.
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_payment_rejects_the_declaration() {
    let office = Office::open().await;
    let started = office.file_ok(q1()).await;
    office.at_bank(&started["form"], None).await;
    let d = office.until_status(STREAM, "rejected").await;
    assert_eq!(d["rejected_reason"], "payment_cancelled");
    assert_eq!(
        office.events("DeclarationRejected").await[0]["DeclarationRejected"]["reason"],
        "payment_cancelled"
    );
    assert!(office.revenue.declarations().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_payment_rejects_the_declaration() {
    // The portal's clock stands still until the test moves it: no sleeping.
    let clock = ManualClock::at(chrono::Utc::now());
    let office = Office::open_with({
        let clock = clock.clone();
        move |config| {
            config.payment_expiry = Duration::from_secs(30 * 60);
            config.payment_reconcile_after = Duration::from_secs(3600);
            config.clock = std::sync::Arc::new(clock);
        }
    })
    .await;
    let started = office.file_ok(q1()).await;
    // Never paid at the bank: while open it blocks another filing.
    let (status, body) = office.file(q1(), TAX).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "declaration_in_progress");
    // A minute before its expiry the reconciler leaves it alone; a second after, expires it.
    clock.advance(chrono::Duration::minutes(29));
    let reconciler = commands::payments::PaymentReconciler::new(office.app.state.portal.clone());
    office.app.read_models_caught_up().await;
    let early = reconciler.run_once().await.unwrap();
    assert!(!early.skipped, "{early:?}");
    assert_eq!(early.expired, 0);
    let (status, body) = office.file(q1(), TAX).await;
    assert_eq!(
        body["error"]["code"], "declaration_in_progress",
        "{status} {body}"
    );
    clock.advance(chrono::Duration::seconds(61));
    office.expire_payments(1).await;
    let d = office.until_status(STREAM, "rejected").await;
    assert_eq!(d["rejected_reason"], "payment_expired");
    assert_eq!(d["payment_id"], started["payment_id"]);
    // Filed again at once.
    let again = office.file_ok(q1()).await;
    assert_ne!(again["payment_id"], started["payment_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_after_the_filing_lapsed_still_pays_the_declaration() {
    let (office, started, (bank, session)) = Office::with_a_lapsed_filing().await;
    // Then pays: the bank took the money, so the declaration is paid after all, and the
    // revenue system is told once.
    office
        .on_card_page(&bank, &session, Some(CARD_SUCCEEDS))
        .await;
    let paid = office.until_status(STREAM, "paid").await;
    assert_eq!(paid["payment_id"], started["payment_id"]);
    let payment_id = started["payment_id"].as_str().unwrap().to_string();
    eventually_within("the revenue system told", 400, || async {
        office
            .outbox(&payment_id)
            .await
            .is_some_and(|(_, notice, _)| notice == "notified")
    })
    .await;
    assert_eq!(office.revenue.declarations().len(), 1);
    let rejected = office.events("DeclarationRejected").await;
    let paid = office.events("DeclarationPaid").await;
    assert_eq!((rejected.len(), paid.len()), (1, 1));
}

/// The first filing's payment lapses, the period is filed again and paid, and then the
/// payer finishes the first payment at the bank after all: that money does not settle the
/// declaration, so it is marked due back on the payment, the payer is mailed, and clerks
/// list it to record the refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_capture_of_a_superseded_filing_is_marked_for_refund_and_listed() {
    let (office, first, (bank, session)) = Office::with_a_lapsed_filing().await;
    let second = office.file_ok(q1()).await;
    office.at_bank(&second["form"], Some(CARD_SUCCEEDS)).await;
    let paid = office.until_status(STREAM, "paid").await;
    assert_eq!(paid["payment_id"], second["payment_id"]);
    office
        .on_card_page(&bank, &session, Some(CARD_SUCCEEDS))
        .await;
    let first_id = first["payment_id"].as_str().unwrap().to_string();
    let pool = &office.app.state.pool;
    eventually_within("the refund marked due", 400, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Payment' \
             AND aggregate_id = $1 AND event_type = 'PaymentRefundDue'",
        )
        .bind(&first_id)
        .fetch_one(pool)
        .await
        .unwrap()
            == 1
    })
    .await;
    // Still paid by the second; the revenue system was told of that one only.
    let d = office.detail(STREAM).await;
    assert_eq!(d["payment_id"], second["payment_id"]);
    eventually_within("the payer's e-mail", 400, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM mail_outbox WHERE to_address = $1 \
             AND subject = 'Το ποσό της πληρωμής σας θα σας επιστραφεί'",
        )
        .bind(REP_EMAIL)
        .fetch_one(pool)
        .await
        .unwrap()
            == 1
    })
    .await;

    // The clerks see it as a second payment of the declaration and record the refund.
    let list = json_body(
        office
            .app
            .get("/api/v1/staff/notices", Some(&office.clerk))
            .await,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["payment_id"], first_id.as_str());
    assert_eq!(items[0]["obligation_kind"], "tax_declaration");
    assert_eq!(items[0]["obligation_id"], STREAM);
    assert_eq!(items[0]["second_payment"], true);
    let r = office
        .app
        .post(
            &format!("/api/v1/staff/notices/{first_id}/refund"),
            Some(&office.clerk),
            json!({ "note": "Έμβασμα στον λογαριασμό του πληρωτή" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = json_body(
        office
            .app
            .get("/api/v1/staff/notices", Some(&office.clerk))
            .await,
    )
    .await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    let metrics = office.app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("portal_refused_notices{outbox=\"declaration_outcomes\"} 0\n"),
        "{metrics}"
    );
    // The live tables first take in the refund (the list above reads the log, not them).
    office.app.read_models_caught_up().await;
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_filing_waiting_for_its_payment_blocks_a_second_one() {
    let office = Office::open().await;
    let a = office.assessed(q1()).await;
    let total = a["total_cents"].as_i64().unwrap();
    // Two tabs at once: one filing.
    let clicks = (0..3).map(|_| office.file(q1(), total));
    let answers = futures::future::join_all(clicks).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert!(
            *status == StatusCode::CONFLICT || body["error"]["code"] == "declaration_in_progress",
            "{status} {body}"
        );
    }
    let (status, body) = office.file(q1(), total).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "declaration_in_progress");
    assert_eq!(office.events("DeclarationFiled").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amount_that_changed_since_it_was_shown_is_shown_again() {
    let office = Office::open().await;
    office.revenue.set_today(Some(day(2026, 5, 31)));
    let shown = office.assessed(q1()).await;
    assert_eq!(shown["total_cents"], TAX + 123);
    // Midnight: a month more of delay.
    office.revenue.set_today(Some(day(2026, 6, 1)));
    let (status, body) = office.file(q1(), TAX + 123).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "assessment_changed");
    assert_eq!(body["error"]["message"], greek("assessment_changed"));
    assert_eq!(body["assessment"]["total_cents"], TAX + 247);
    assert_eq!(body["assessment"]["months_late"], 2);
    assert!(office.events("DeclarationFiled").await.is_empty());
    let (status, _) = office.file(q1(), TAX + 247).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revenue_system_down_refuses_assessments_and_is_told_once_it_is_back() {
    let office = Office::open().await;
    office.revenue.set_faults(RevenueFaults {
        down: true,
        ..RevenueFaults::default()
    });
    let (status, body) = office.assess(q1()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "revenue_system_unavailable");
    assert_eq!(
        body["error"]["message"],
        greek("revenue_system_unavailable")
    );
    assert!(
        body["error"].get("detail").is_none(),
        "no internals: {body}"
    );
    let mut v = Visitor::log_in(&office.app, REP_EMAIL, REP_PASSWORD).await;
    let form = v.get("/business/declarations/new").await;
    let page = v
        .post(
            &form,
            "/business/declarations/new",
            &[
                ("filing", "quarterly"),
                ("period", "1"),
                ("year", "2026"),
                ("gross_revenue", "12.345,67"),
                ("vat_return_date", "2026-04-20"),
            ],
        )
        .await;
    page.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.text_of("general"), greek("revenue_system_unavailable"));
    assert_eq!(page.value_of("gross_revenue"), "12.345,67");

    // Up for the filing, down again while the payment is at the bank.
    office.revenue.set_faults(RevenueFaults::default());
    let started = office.file_ok(q1()).await;
    office.revenue.set_faults(RevenueFaults {
        down: true,
        ..RevenueFaults::default()
    });
    office.at_bank(&started["form"], Some(CARD_SUCCEEDS)).await;
    let payment_id = started["payment_id"].as_str().unwrap().to_string();
    office.until_status(STREAM, "paid").await;
    eventually_within("the notice retried", 400, || async {
        office
            .outbox(&payment_id)
            .await
            .is_some_and(|(_, notice, attempts)| notice == "pending" && attempts >= 2)
    })
    .await;
    assert!(office.revenue.declarations().is_empty());
    assert!(office.events("RevenueSystemNotified").await.is_empty());

    office.revenue.set_faults(RevenueFaults::default());
    eventually_within("the notice sent", 400, || async {
        office
            .outbox(&payment_id)
            .await
            .is_some_and(|(_, notice, _)| notice == "notified")
    })
    .await;
    let report = DeclarationWorker::new(office.app.state.portal.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!(
        report.paid + report.rejected + report.notified + report.retried + report.refused,
        0,
        "{report:?}"
    );
    let recorded = office.revenue.declarations();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].idempotency_key, payment_id);
    assert_eq!(office.events("DeclarationPaid").await.len(), 1);
    assert_eq!(office.events("RevenueSystemNotified").await.len(), 1);
    let d = office.until_status(STREAM, "paid").await;
    assert_eq!(d["revenue_system"], "notified");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_tax_cannot_be_paid_and_an_incomplete_profile_cannot_file() {
    let office = Office::open().await;
    let mut zero = q1();
    zero["gross_revenue"] = json!("0");
    let a = office.assessed(zero.clone()).await;
    assert_eq!(a["total_cents"], 0);
    let (status, body) = office.file(zero, 0).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "declaration_nothing_to_pay");

    // A second representative of the same business whose profile is incomplete.
    let other = office
        .app
        .citizen("nikos@example.gr", "Νίκος Νικολάου")
        .await;
    office.certify("nikos@example.gr", Some(AFM)).await;
    let mut body = q1();
    body["expected_total_cents"] = json!(TAX);
    let r = office
        .app
        .post("/api/v1/business/declarations", Some(&other), body)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = json_body(r).await;
    assert_eq!(body["error"]["code"], "profile_incomplete");
    assert!(office.events("DeclarationFiled").await.is_empty());
    // Another business's declaration is not found.
    let r = office
        .app
        .get(
            "/api/v1/business/declarations/090012345-2026-M01",
            Some(&office.rep),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// The pages
// ---------------------------------------------------------------------------------------

impl Page {
    fn assert_field_message(&self, field: &str, code: &str) {
        assert_eq!(
            self.text_of(&format!("{field}-error")),
            format!("{} {}", greek("ui_error_prefix"), greek(code)),
        );
        self.assert_has(&format!("href=\"#{field}\""));
    }
}

impl Visitor {
    /// Walks the sandbox bank from the bank form page with `card` and follows the return
    /// to the portal (and its redirects); answers the declaration's page.
    async fn pay_at_bank(&mut self, bank_page: &Page, card: &str) -> Page {
        let form = bank_page.form("bank-form");
        let back = crate::common::bank::walk(
            &crate::common::bank::client(),
            &form.action,
            &form.hidden,
            Some(card),
        )
        .await;
        let r = self
            .client
            .post(&back.action)
            .header(COOKIE, self.cookie_header())
            .form(&back.hidden)
            .send()
            .await
            .unwrap();
        let mut page = self.absorb(r).await;
        while let Some(location) = page.location.clone() {
            page = self.get(&location).await;
        }
        page
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_refuse_an_uncertified_user_with_how_to_get_certified() {
    let office = Office::open().await;
    office
        .app
        .citizen("kostas@example.gr", "Κώστας Νικολάου")
        .await;
    let mut v = Visitor::log_in(&office.app, "kostas@example.gr", REP_PASSWORD).await;
    for path in ["/business/declarations/new", "/business/declarations"] {
        let page = v.get(path).await;
        page.assert_status(StatusCode::FORBIDDEN);
        page.assert_has(&greek("ui_business_required_title"));
    }
    let mut anonymous = Visitor {
        base: office.app.base.clone(),
        client: Client::builder().redirect(Policy::none()).build().unwrap(),
        cookies: BTreeMap::new(),
    };
    let page = anonymous.get("/business/declarations/new").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location.unwrap().starts_with("/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_declares_is_declined_files_again_and_pays_through_the_pages() {
    let office = Office::open().await;
    office.revenue.set_today(Some(day(2026, 6, 1)));
    let mut v = Visitor::log_in(&office.app, REP_EMAIL, REP_PASSWORD).await;
    let form = v.get("/business/declarations/new").await;
    form.assert_status(StatusCode::OK);
    form.assert_has(&greek("ui_declaration_filing"));
    form.assert_has(&greek("ui_declaration_gross_revenue"));
    form.assert_has(&greek("ui_declaration_vat_return_date"));
    assert_eq!(form.text_of("business-afm"), AFM);

    // Field errors: the form again, values kept, messages next to the fields.
    let wrong = v
        .post(
            &form,
            "/business/declarations/new",
            &[
                ("filing", "quarterly"),
                ("period", "5"),
                ("year", "2026"),
                ("gross_revenue", "12,3,4"),
                ("vat_return_date", "2026-4-31"),
            ],
        )
        .await;
    wrong.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    wrong.assert_field_message("period", "period_quarter_invalid");
    wrong.assert_field_message("gross_revenue", "gross_revenue_invalid");
    wrong.assert_field_message("vat_return_date", "vat_return_date_malformed");
    assert_eq!(wrong.value_of("gross_revenue"), "12,3,4");
    wrong.assert_has("value=\"quarterly\" id=\"filing-quarterly\" checked");

    // The breakdown: two months late.
    let fields = [
        ("filing", "quarterly"),
        ("period", "1"),
        ("year", "2026"),
        ("gross_revenue", "12.345,67"),
        ("vat_return_date", "2026-04-20"),
    ];
    let review = v.post(&wrong, "/business/declarations/new", &fields).await;
    review.assert_status(StatusCode::OK);
    assert_eq!(review.text_of("review-gross-revenue"), "12.345,67 €");
    assert_eq!(review.text_of("review-rate"), "0,5 %");
    assert_eq!(review.text_of("review-tax"), "61,73 €");
    assert_eq!(review.text_of("review-deadline"), "30/04/2026");
    assert_eq!(review.text_of("review-months-late"), "2");
    assert_eq!(review.text_of("review-surcharge-rate"), "4 %");
    assert_eq!(review.text_of("review-surcharge"), "2,47 €");
    assert_eq!(review.text_of("review-total"), "64,20 €");
    assert_eq!(
        review.text_of("declaration-one-unit"),
        greek("ui_declaration_one_unit")
    );
    review.assert_has(&greek("ui_declaration_file_button"));

    // Declined at the bank: the declaration's page says rejected, and why.
    let bank = v.submit(&review, "declaration-file").await;
    bank.assert_status(StatusCode::OK);
    bank.assert_has("id=\"bank-form\"");
    assert_eq!(bank.text_of("bank-amount"), "64,20 €");
    let outcome = v.pay_at_bank(&bank, CARD_DECLINED).await;
    outcome.assert_status(StatusCode::OK);
    outcome.assert_has("data-status=\"rejected\"");
    assert_eq!(
        outcome.text_of("declaration-reason"),
        format!(
            "{} {}",
            greek("ui_declaration_reason"),
            greek("declaration_rejected_payment_declined")
        )
    );

    // «Νέα υποβολή»: the form filled in again.
    let again = v.get(&outcome.href_of("file-again")).await;
    again.assert_status(StatusCode::OK);
    assert_eq!(again.value_of("period"), "1");
    assert_eq!(again.value_of("year"), "2026");
    assert_eq!(again.value_of("gross_revenue"), "12345,67");
    assert_eq!(again.value_of("vat_return_date"), "2026-04-20");
    let review = v.post(&again, "/business/declarations/new", &fields).await;
    review.assert_status(StatusCode::OK);

    // The amount changes before the click: the breakdown again, with the new amount.
    office.revenue.set_today(Some(day(2026, 7, 1)));
    let changed = v.submit(&review, "declaration-file").await;
    changed.assert_status(StatusCode::CONFLICT);
    changed.assert_has("id=\"assessment-changed\"");
    assert_eq!(changed.text_of("review-months-late"), "3");
    let bank = v.submit(&changed, "declaration-file").await;
    bank.assert_status(StatusCode::OK);
    let paid = v.pay_at_bank(&bank, CARD_SUCCEEDS).await;
    paid.assert_status(StatusCode::OK);
    paid.assert_has("data-status=\"paid\"");
    assert!(!paid.text_of("declaration-payment-ref").is_empty());
    assert!(paid.href_of("receipt-link").starts_with("/payments/"));
    paid.assert_has("id=\"declaration-filings\"");

    // The list.
    let list = v.get("/business/declarations").await;
    list.assert_status(StatusCode::OK);
    assert!(list
        .text_of(&format!("declaration-{STREAM}"))
        .contains(&greek("declaration_status_paid")));

    // The same period again: refused on the form.
    let form = v.get("/business/declarations/new").await;
    let refused = v.post(&form, "/business/declarations/new", &fields).await;
    refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_has(&greek("period_already_declared"));
}

/// The business's declarations come a page at a time, the latest filed first, each page
/// with the filings of its own declarations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declarations_come_a_page_at_a_time_with_their_filings() {
    let office = Office::open().await;
    let filed: Vec<String> = office
        .file_quarters(2025, 1..=3)
        .await
        .iter()
        .map(|started| started["declaration_id"].as_str().unwrap().to_string())
        .collect();
    office.app.read_models_caught_up().await;
    let list = |query: String| {
        let office = &office;
        async move {
            let r = office
                .app
                .get(
                    &format!("/api/v1/business/declarations{query}"),
                    Some(&office.rep),
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            json_body(r).await
        }
    };
    let ids = |page: &Value, key: &str, field: &str| -> Vec<String> {
        page[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d[field].as_str().unwrap().to_string())
            .collect()
    };

    let first = list("?limit=2".into()).await;
    assert_eq!(
        ids(&first, "items", "id"),
        vec![filed[2].clone(), filed[1].clone()]
    );
    assert_eq!(
        ids(&first, "filings", "declaration_id"),
        vec![filed[2].clone(), filed[1].clone()]
    );
    let after = first["next"].as_str().expect("a next page");
    let second = list(format!("?limit=2&after={after}")).await;
    assert_eq!(ids(&second, "items", "id"), vec![filed[0].clone()]);
    assert_eq!(
        ids(&second, "filings", "declaration_id"),
        vec![filed[0].clone()]
    );
    assert!(second["next"].is_null(), "{second}");

    let r = office
        .app
        .get("/api/v1/business/declarations?limit=0", Some(&office.rep))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(r).await["error"]["code"], "limit_out_of_range");
}

#[tokio::test]
async fn the_business_history_pages_its_timeline_and_its_payments_each_by_its_own_cursor() {
    let office = Office::open().await;
    let payment_ids = |filed: Vec<Value>| -> Vec<String> {
        filed
            .iter()
            .map(|started| started["payment_id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut payments = payment_ids(office.file_quarters(2025, 1..=3).await);
    office.app.read_models_caught_up().await;
    let history = |query: String| {
        let office = &office;
        async move {
            let r = office
                .app
                .get(
                    &format!("/api/v1/business/history{query}"),
                    Some(&office.rep),
                )
                .await;
            let status = r.status();
            (status, json_body(r).await)
        }
    };
    let (status, all) = history(String::new()).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let timeline = all["timeline"].as_array().unwrap().clone();
    assert!(timeline.len() >= 3, "{all}");
    assert!(
        all["next"].is_null() && all["payments_next"].is_null(),
        "{all}"
    );

    // Two at a time: the timeline walks to its end, newest first, every event once.
    let mut walked = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let (status, page) = history(query.clone()).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        walked.extend(page["timeline"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(walked, timeline);
    // The payments page by their own cursor, newest first; the timeline's stays put.
    let (_, first) = history("?limit=2".into()).await;
    let ids = |page: &Value| -> Vec<String> {
        page["payments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first), vec![payments[2].clone(), payments[1].clone()]);
    let after = first["payments_next"].as_str().expect("a second page");
    let (_, second) = history(format!("?limit=2&payments_after={after}")).await;
    assert_eq!(ids(&second), vec![payments[0].clone()]);
    assert!(second["payments_next"].is_null());
    assert_eq!(second["timeline"], first["timeline"]);

    // Bad paging says which parameter to fix.
    for (query, code, names) in [
        ("?limit=0", "limit_out_of_range", "limit"),
        ("?after=zzz", "cursor_invalid", "after"),
        ("?payments_after=zzz", "cursor_invalid", "payments_after"),
        ("?page=2", "malformed_query", "page"),
    ] {
        let (status, error) = history(query.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error["error"]["code"], code, "{query}: {error}");
        assert!(error.to_string().contains(names), "{query}: {error}");
    }

    // The page: each list has its own links, and following one keeps the other's place.
    let mut v = Visitor::log_in(&office.app, REP_EMAIL, REP_PASSWORD).await;
    let page = v.get("/business/history").await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_lacks("id=\"next-page\"");
    page.assert_lacks("id=\"payments-next-page\"");
    // 20 a page: more events than that make the timeline's link appear.
    for year in 2020..=2024 {
        payments.extend(payment_ids(office.file_quarters(year, 1..=4).await));
    }
    office.app.read_models_caught_up().await;
    let (_, all) = history("?limit=100".into()).await;
    let walked = all["timeline"].as_array().unwrap();
    assert_eq!(walked.len(), 23, "one event a filing");
    let page = v.get("/business/history").await;
    let next = page.href_of("next-page");
    assert!(next.starts_with("/business/history?after="), "{next}");
    let older = v.get(&next).await;
    assert_eq!(older.status, StatusCode::OK);
    assert_eq!(older.href_of("first-page"), "/business/history");
    older.assert_has("Πρώτη σελίδα");
    older.assert_lacks("id=\"next-page\"");
    // The payments are still on their first page (the 20 newest), with their own link
    // that keeps the timeline's place.
    older.assert_has(&payments[22]);
    older.assert_lacks(&format!("/payments/{}?", payments[0]));
    let payments_next = older.href_of("payments-next-page");
    assert!(
        payments_next.starts_with("/business/history?after=")
            && payments_next.contains("&payments_after="),
        "{payments_next}"
    );
    let both = v.get(&payments_next).await;
    assert_eq!(both.status, StatusCode::OK);
    both.assert_has(&format!("/payments/{}?", payments[0]));
    both.assert_lacks(&format!("/payments/{}?", payments[22]));
    assert_eq!(both.href_of("payments-first-page"), next);
    assert!(both
        .href_of("first-page")
        .starts_with("/business/history?payments_after="));
    // An edited cursor shows the first page of that list.
    let odd = v
        .get("/business/history?after=garbage&payments_after=%00")
        .await;
    assert_eq!(odd.status, StatusCode::OK);
}
