//! HTTP tests of the payment engine (issue 5) against a real portal, PostgreSQL and the
//! sandbox bank, without a browser: the test posts the portal's redirect form to the bank,
//! fills the bank's card page, and follows the bank's return form back to the portal.
//! Good card, declined, cancel, forged and tampered answers, duplicate and early
//! notifications, a lost confirmation settled by the reconciler, expiry, and a capture
//! that arrives after expiry.

use std::time::Duration;

use crate::common::{json_body, TestApp};
use commands::payments::{self, PaymentReconciler};
use domain::payment::Obligation;
use portal::auth::{CurrentUser, Role};
use reqwest::{redirect::Policy, Client, StatusCode};
use sandboxes::bank::{read_form, BankFaults, CARD_DECLINED, CARD_SUCCEEDS, CARD_TIMES_OUT};
use serde_json::Value;

const AMOUNT: domain::Money = domain::Money::from_cents(1250);

/// A portal with a logged-in citizen, and a client that does not follow redirects (to see
/// where the portal sends the returning payer).
struct Till {
    app: TestApp,
    token: String,
    user: CurrentUser,
    http: Client,
}

impl Till {
    async fn open() -> Self {
        Self::open_with(|_| {}).await
    }

    async fn open_with(adjust: impl FnOnce(&mut portal::Config)) -> Self {
        let app = TestApp::spawn_with(|config| {
            // The background reconciler stays out of the way unless a test wants it.
            config.payment_poll = Duration::from_secs(3600);
            adjust(config);
        })
        .await;
        let token = app.citizen("maria@example.gr", "Μαρία Παπαδοπούλου").await;
        let me = json_body(app.get("/api/v1/me", Some(&token)).await).await;
        let user = CurrentUser {
            account_id: me["id"]
                .as_str()
                .or_else(|| me["account_id"].as_str())
                .expect("the account's id")
                .parse()
                .unwrap(),
            email: "maria@example.gr".into(),
            full_name: "Μαρία Παπαδοπούλου".into(),
            role: Role::Citizen,
            session: String::new(),
            last_position: None,
        };
        let http = Client::builder().redirect(Policy::none()).build().unwrap();
        Self {
            app,
            token,
            user,
            http,
        }
    }

    /// Starts a payment of a test obligation; answers (payment id, order id).
    async fn start(&self, reference: &str) -> (String, String) {
        let started = payments::start_payment(
            &self.app.state,
            &self.user.actor(),
            Obligation {
                kind: "test".into(),
                reference: reference.into(),
                description: format!("Δοκιμαστική οφειλή {reference}"),
            },
            AMOUNT,
            None,
        )
        .await
        .expect("the payment starts");
        assert!(started.order_id.len() <= 20);
        (started.id, started.order_id)
    }

    /// Redirects to the bank and opens its card page; answers (bank base URL, session).
    async fn card_page(&self, id: &str) -> (String, String) {
        let form = payments::redirect(&self.app.state, &self.user.actor(), id, "el")
            .await
            .expect("the redirect form");
        let bank = form.action.trim_end_matches("/vpos/payment").to_string();
        let page = self
            .http
            .post(&form.action)
            .form(&form.fields)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let card = read_form(&page).unwrap_or_else(|| panic!("a card page: {page}"));
        (bank, card.hidden[0].1.clone())
    }

    /// Pays on the bank's page with `card`; answers the bank's answer page.
    async fn pay_at_bank(&self, bank: &str, session: &str, card: &str) -> String {
        self.bank_post(
            bank,
            "/vpos/card",
            &[
                ("session", session),
                ("card_number", card),
                ("expiry", "09/38"),
                ("cvv", "737"),
                ("action", "pay"),
            ],
        )
        .await
    }

    async fn bank_post(&self, bank: &str, path: &str, fields: &[(&str, &str)]) -> String {
        self.http
            .post(format!("{bank}{path}"))
            .form(fields)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Follows the bank's return form to the portal (as the browser does, without the
    /// session cookie); answers the portal's status and Location.
    async fn follow_return(&self, bank_page: &str) -> (StatusCode, String) {
        let form = read_form(bank_page).unwrap_or_else(|| panic!("a return form: {bank_page}"));
        assert!(form.action.ends_with("/payments/return"), "{}", form.action);
        self.post_return(&form.action, &form.hidden).await
    }

    async fn post_return(&self, action: &str, fields: &[(String, String)]) -> (StatusCode, String) {
        let r = self.http.post(action).form(fields).send().await.unwrap();
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, location)
    }

    /// The whole journey with `card`; answers the payment id.
    async fn pay(&self, reference: &str, card: &str) -> String {
        let (id, _) = self.start(reference).await;
        let (bank, session) = self.card_page(&id).await;
        let page = self.pay_at_bank(&bank, &session, card).await;
        let (status, location) = self.follow_return(&page).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location, format!("/payments/{id}"));
        id
    }

    /// The payment as its payer reads it through the API.
    async fn payment(&self, id: &str) -> Value {
        self.app.read_models_caught_up().await;
        let r = self
            .app
            .get(&format!("/api/v1/my/payments/{id}"), Some(&self.token))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        json_body(r).await
    }

    /// How many events of `event_type` payment `id` has.
    async fn events(&self, id: &str, event_type: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Payment' \
             AND aggregate_id = $1 AND event_type = $2",
        )
        .bind(id)
        .bind(event_type)
        .fetch_one(&self.app.state.pool)
        .await
        .unwrap()
    }

    async fn all_events(&self, id: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = 'Payment' AND aggregate_id = $1",
        )
        .bind(id)
        .fetch_one(&self.app.state.pool)
        .await
        .unwrap()
    }

    /// Waits until the bank has delivered `n` notifications of `order_id`.
    async fn notified(&self, order_id: &str, n: u32) {
        for _ in 0..250 {
            if self
                .app
                .bank
                .order(order_id)
                .is_some_and(|o| o.notifications_delivered >= n)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the bank did not deliver {n} notifications of {order_id}");
    }

    /// One reconciler pass, once the read models have caught up with the log (the pass
    /// itself waits for the payment engine's own state; the test then reads the payments
    /// read model).
    async fn reconcile(&self) -> payments::ReconcileReport {
        self.app.read_models_caught_up().await;
        PaymentReconciler::new(self.app.state.portal.clone())
            .run_once()
            .await
            .expect("a reconciler pass")
    }

    fn order_id_of(payment: &Value) -> String {
        payment["order_id"].as_str().unwrap().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_card_succeeds_with_a_receipt() {
    let till = Till::open().await;
    let id = till.pay("R-1", CARD_SUCCEEDS).await;
    let payment = till.payment(&id).await;
    assert_eq!(payment["status"], "succeeded", "{payment}");
    assert_eq!(payment["status_label"], "Ολοκληρώθηκε");
    assert_eq!(payment["amount_cents"], AMOUNT.cents());
    assert_eq!(payment["currency"], "EUR");
    assert_eq!(payment["obligation_kind"], "test");
    assert_eq!(payment["after_expiry"], false);
    let tx_id = payment["tx_id"].as_str().unwrap();
    let payment_ref = payment["payment_ref"].as_str().unwrap();
    assert!(!tx_id.is_empty() && !payment_ref.is_empty());
    assert!(payment["settled_at"].is_string());

    // The payer's list has it.
    let list = json_body(till.app.get("/api/v1/my/payments", Some(&till.token)).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], id.as_str());
    let english = till
        .http
        .get(till.app.url("/api/v1/my/payments"))
        .bearer_auth(&till.token)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(english).await["items"][0]["status_label"], "Paid");

    // The page the return lands on: a login first without a session, then the receipt.
    let r = till
        .http
        .get(till.app.url(&format!("/payments/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?next=%2Fpayments%2F"));
    let page = till
        .http
        .get(till.app.url(&format!("/payments/{id}")))
        .bearer_auth(&till.token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Η πληρωμή ολοκληρώθηκε"), "{page}");
    assert!(page.contains("12,50 €"));
    assert!(page.contains(payment_ref) && page.contains("Δοκιμαστική οφειλή R-1"));
    assert!(page.contains("data-status=\"succeeded\""));

    // Someone else sees nothing of it.
    let other = till
        .app
        .citizen("kostas@example.gr", "Κώστας Νικολάου")
        .await;
    let r = till
        .app
        .get(&format!("/api/v1/my/payments/{id}"), Some(&other))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The obligation cannot be paid twice.
    let again = payments::start_payment(
        &till.app.state,
        &till.user.actor(),
        Obligation {
            kind: "test".into(),
            reference: "R-1".into(),
            description: "x".into(),
        },
        AMOUNT,
        None,
    )
    .await;
    assert!(
        matches!(&again, Err(payments::PaymentError::Command(commands::CommandError::Refused(r))) if r.code == "obligation_already_paid"),
        "{again:?}"
    );
    till.notified(&Till::order_id_of(&payment), 1).await;
    assert_eq!(till.events(&id, "PaymentSucceeded").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_fails_and_a_cancel_cancels() {
    let till = Till::open().await;
    let id = till.pay("R-2", CARD_DECLINED).await;
    let payment = till.payment(&id).await;
    assert_eq!(payment["status"], "failed", "{payment}");
    assert!(payment["tx_id"].is_null());
    let page = till
        .http
        .get(till.app.url(&format!("/payments/{id}")))
        .bearer_auth(&till.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Η πληρωμή δεν έγινε") && page.contains("δοκιμάσετε ξανά"));

    // A new attempt at the same obligation is allowed after a refusal.
    let (id, _) = till.start("R-2").await;
    let (bank, session) = till.card_page(&id).await;
    let page = till
        .bank_post(
            &bank,
            "/vpos/card",
            &[("session", &session), ("action", "cancel")],
        )
        .await;
    let (status, location) = till.follow_return(&page).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("/payments/{id}"));
    assert_eq!(till.payment(&id).await["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_answer_changes_nothing() {
    let till = Till::open().await;
    let (id, order_id) = till.start("R-3").await;
    let (bank, session) = till.card_page(&id).await;
    till.app.bank.set_faults(BankFaults {
        forge_next: 1,
        ..BankFaults::default()
    });
    let page = till.pay_at_bank(&bank, &session, CARD_SUCCEEDS).await;
    let (status, _) = till.follow_return(&page).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The forged notification (retried by the bank) is refused too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        till.app
            .bank
            .order(&order_id)
            .unwrap()
            .notifications_delivered,
        0
    );
    assert_eq!(till.payment(&id).await["status"], "redirected");
    assert_eq!(till.all_events(&id).await, 2, "created and redirected only");

    // Posted straight to the notify endpoint: 400.
    let forged = read_form(&page).unwrap().hidden;
    let r = till
        .http
        .post(till.app.url("/api/v1/payments/notify"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(till.all_events(&id).await, 2);
    // Not a form at all: 415 in the API's error format (issue 12, defect 11: it was plain
    // text), and nothing changes.
    let r = till
        .http
        .post(till.app.url("/api/v1/payments/notify"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unsupported_media_type", "{error}");
    assert_eq!(till.all_events(&id).await, 2);
}

/// A bank answer for `order_id` signed with the portal's (sandbox) secret.
fn signed_answer(order_id: &str, status: &str, amount: &str) -> Vec<(String, String)> {
    let values = [
        "2",
        portal::config::DEFAULT_BANK_MID,
        order_id,
        status,
        amount,
        "EUR",
        amount,
        "",
        "0",
        "visa",
        "90000017",
        "123456",
    ];
    let mut fields: Vec<(String, String)> = commands::adapters::vpos::ANSWER_FIELDS
        .iter()
        .zip(values)
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    fields.push((
        "digest".into(),
        commands::adapters::vpos::digest(values, portal::config::SANDBOX_BANK_SECRET),
    ));
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_or_mismatched_amount_changes_nothing() {
    let till = Till::open().await;
    let (id, order_id) = till.start("R-4").await;
    till.card_page(&id).await;
    let return_url = till.app.state.settings.payments.return_url.clone();

    // Tampered after signing: the digest gives it away.
    let mut tampered = signed_answer(&order_id, "CAPTURED", "12.50");
    tampered[4].1 = "0.01".into();
    let (status, _) = till.post_return(&return_url, &tampered).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Genuinely signed, but for another amount: the payment refuses it.
    let cheaper = signed_answer(&order_id, "CAPTURED", "0.01");
    let (status, _) = till.post_return(&return_url, &cheaper).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = till
        .http
        .post(till.app.url("/api/v1/payments/notify"))
        .form(&cheaper)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_body(r).await["error"]["code"], "confirmation_mismatch");

    // An order id the portal never issued.
    let unknown = signed_answer("P2026NOSUCHORDER", "CAPTURED", "12.50");
    let (status, _) = till.post_return(&return_url, &unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(till.payment(&id).await["status"], "redirected");
    assert_eq!(till.all_events(&id).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_early_notifications_make_one_success() {
    let till = Till::open().await;
    till.app.bank.set_faults(BankFaults {
        duplicate_notifications: true,
        notify_before_return: true,
        ..BankFaults::default()
    });
    let (id, order_id) = till.start("R-5").await;
    let (bank, session) = till.card_page(&id).await;
    let page = till.pay_at_bank(&bank, &session, CARD_SUCCEEDS).await;
    // Both notifications were accepted before the browser came back.
    till.notified(&order_id, 2).await;
    assert_eq!(till.payment(&id).await["status"], "succeeded");
    let (status, location) = till.follow_return(&page).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "an answer already applied");
    assert_eq!(location, format!("/payments/{id}"));
    // And the same return again (a reload).
    let (status, _) = till.follow_return(&page).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let payment = till.payment(&id).await;
    assert_eq!(payment["status"], "succeeded");
    assert_eq!(payment["settled_by"], "notification");
    assert_eq!(till.events(&id, "PaymentSucceeded").await, 1);
    assert_eq!(till.all_events(&id).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_confirmation_is_settled_by_the_reconciler() {
    let till = Till::open_with(|config| {
        config.payment_poll = Duration::from_millis(100);
        config.payment_reconcile_after = Duration::from_secs(1);
    })
    .await;
    let (id, _) = till.start("R-6").await;
    let (bank, session) = till.card_page(&id).await;
    let page = till.pay_at_bank(&bank, &session, CARD_TIMES_OUT).await;
    assert!(read_form(&page).is_none(), "the bank never answers");
    assert_eq!(till.payment(&id).await["status"], "redirected");
    // The background loop asks the bank once the payment is a second old.
    let mut payment = Value::Null;
    for _ in 0..100 {
        payment = till.payment(&id).await;
        if payment["status"] != "redirected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(payment["status"], "succeeded", "{payment}");
    assert_eq!(payment["settled_by"], "status_query");
    assert!(payment["payment_ref"].is_string());
    assert_eq!(till.events(&id, "PaymentSucceeded").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_payment_expires_and_a_late_capture_still_succeeds() {
    let till = Till::open_with(|config| {
        config.payment_expiry = Duration::from_secs(1);
        config.payment_reconcile_after = Duration::from_secs(3600);
    })
    .await;
    // Never sent to the bank, and sent but left on the bank's page.
    let (never, _) = till.start("R-7").await;
    let (left, _) = till.start("R-8").await;
    let (bank, session) = till.card_page(&left).await;
    // Captured at the bank, but the answer was lost: the last status query finds it.
    let (lost, _) = till.start("R-9").await;
    let (_, lost_session) = till.card_page(&lost).await;
    till.pay_at_bank(&bank, &lost_session, CARD_TIMES_OUT).await;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = till.reconcile().await;
    assert_eq!(report.expired, 2, "{report:?}");
    assert_eq!(report.settled, 1, "{report:?}");
    assert_eq!(till.payment(&never).await["status"], "expired");
    assert_eq!(till.payment(&left).await["status"], "expired");
    let captured = till.payment(&lost).await;
    assert_eq!(captured["status"], "succeeded", "never expired blindly");
    assert_eq!(captured["after_expiry"], false);
    assert_eq!(till.reconcile().await, payments::ReconcileReport::default());

    // The payer finishes on the bank's page after all: the money was taken.
    let page = till.pay_at_bank(&bank, &session, CARD_SUCCEEDS).await;
    let (status, location) = till.follow_return(&page).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("/payments/{left}"));
    let late = till.payment(&left).await;
    assert_eq!(late["status"], "succeeded");
    assert_eq!(late["after_expiry"], true);
    let page = till
        .http
        .get(till.app.url(&format!("/payments/{left}")))
        .bearer_auth(&till.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"payment-after-expiry\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payments_read_model_rebuilds_to_the_same_table() {
    let till = Till::open().await;
    till.pay("R-10", CARD_SUCCEEDS).await;
    till.pay("R-11", CARD_DECLINED).await;
    till.start("R-12").await;
    till.pay("R-13", CARD_SUCCEEDS).await;
    till.app.read_models_caught_up().await;
    let pool = &till.app.state.pool;
    // The clerks' dashboard counts the two that succeeded today, and their total, not the
    // declined one nor the one still open.
    let clerk = till
        .app
        .staff("clerk", "clerk.till@dimos.example.gr", "Υπάλληλος Ταμείου")
        .await;
    let stats = json_body(till.app.get("/api/v1/staff/stats", Some(&clerk)).await).await;
    // The day they succeeded on (not the list's last: the clock may have passed midnight).
    let settled: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT ((settled_at AT TIME ZONE 'Europe/Athens')::date)::text \
         FROM payments WHERE status = 'succeeded'",
    )
    .fetch_all(&till.app.state.pool)
    .await
    .unwrap();
    // (Paid on either side of midnight, they are on two days: nothing to add up on one.)
    if let [day] = settled.as_slice() {
        let today = stats["payments_per_day"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["day"] == day.as_str())
            .unwrap_or_else(|| panic!("{day} in {stats}"));
        assert_eq!(today["payments"], 2, "{stats}");
        assert_eq!(today["amount_cents"], 2 * AMOUNT.cents(), "{stats}");
    }
    let snapshot = || async {
        sqlx::query_scalar::<_, Value>(
            "SELECT coalesce(json_agg(t ORDER BY id), '[]'::json) FROM payments t",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let live = snapshot().await;
    assert_eq!(live.as_array().unwrap().len(), 4);
    projections::rebuild(
        pool,
        std::sync::Arc::new(projections::payments::PaymentsProjection),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(snapshot().await, live);

    // So does a rebuild of every read model in one pass, for every table.
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tabs_double_clicks_and_racing_answers_pay_once() {
    let till = Till::open().await;
    let (id, order_id) = till.start("R-13").await;
    // A second tab cannot start another payment of the same obligation meanwhile.
    let again = payments::start_payment(
        &till.app.state,
        &till.user.actor(),
        Obligation {
            kind: "test".into(),
            reference: "R-13".into(),
            description: "x".into(),
        },
        AMOUNT,
        None,
    )
    .await;
    assert!(
        matches!(&again, Err(payments::PaymentError::Command(commands::CommandError::Refused(r))) if r.code == "payment_in_progress"),
        "{again:?}"
    );
    // A double click on «pay»: the same form twice, one redirect.
    let first = payments::redirect(&till.app.state, &till.user.actor(), &id, "el")
        .await
        .unwrap();
    let second = payments::redirect(&till.app.state, &till.user.actor(), &id, "el")
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(till.events(&id, "PaymentRedirected").await, 1);
    assert!(first
        .fields
        .iter()
        .any(|(n, v)| n == "orderid" && *v == order_id));

    // The same genuine answer, five times at once: one success.
    till.app.bank.set_faults(BankFaults {
        drop_notifications: true,
        ..BankFaults::default()
    });
    let (bank, session) = till.card_page(&id).await;
    let page = till.pay_at_bank(&bank, &session, CARD_SUCCEEDS).await;
    let form = read_form(&page).unwrap();
    let posts = (0..5).map(|_| till.post_return(&form.action, &form.hidden));
    for (status, location) in futures::future::join_all(posts).await {
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location, format!("/payments/{id}"));
    }
    assert_eq!(till.events(&id, "PaymentSucceeded").await, 1);
    assert_eq!(till.payment(&id).await["status"], "succeeded");

    // Another user cannot send the payer's payment to the bank.
    let stranger = CurrentUser {
        account_id: uuid::Uuid::new_v4(),
        ..till.user.clone()
    };
    let refused = payments::redirect(&till.app.state, &stranger.actor(), &id, "el").await;
    assert!(matches!(refused, Err(payments::PaymentError::NotFound)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconcilers_of_several_processes_expire_a_payment_once() {
    let till = Till::open_with(|config| {
        config.payment_expiry = Duration::from_secs(1);
    })
    .await;
    let (id, _) = till.start("R-14").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let passes = (0..4).map(|_| till.reconcile());
    let reports = futures::future::join_all(passes).await;
    let expired: usize = reports.iter().map(|r| r.expired).sum();
    assert_eq!(expired, 1, "{reports:?}");
    assert_eq!(till.events(&id, "PaymentExpired").await, 1);
    assert_eq!(till.payment(&id).await["status"], "expired");
}
