//! E-mail notices (issue 4): what arrives at a real SMTP sink (the mail sandbox, run on
//! its own so that it outlives a portal), exactly once per event, across restarts, and
//! what happens when the mail server is down or refuses.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{json_body, test_config, TestApp, TestDatabase};
use portal::Application;
use reqwest::StatusCode;
use sandboxes::mail::{MailFaults, ReceivedMail, RunningMailSandbox};
use serde_json::json;

async fn mail_server() -> RunningMailSandbox {
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    sandboxes::mail::start(local, local)
        .await
        .expect("mail sandbox starts")
}

fn configure(config: &mut portal::Config, mail: &RunningMailSandbox) {
    config.smtp_url = Some(mail.smtp_url());
    config.mail_poll = Duration::from_millis(100);
    config.mail_retry_first = Duration::from_secs(1);
    config.public_url = Some("https://pyli.dimos.example.gr".to_string());
}

/// A portal on `db` that sends to `mail`.
async fn portal_on(db: TestDatabase, mail: &RunningMailSandbox) -> TestApp {
    let mut config = test_config(&db);
    configure(&mut config, mail);
    let app = Application::build(config).await.expect("the portal builds");
    let bank = app.bank_sandbox.clone().expect("in-process sandbox bank");
    let fines = app
        .fines_sandbox
        .clone()
        .expect("in-process sandbox fines system");
    let (base, state, protocol) = app.spawn();
    TestApp {
        base,
        client: reqwest::Client::new(),
        state,
        protocol: protocol.expect("in-process protocol sandbox"),
        bank,
        fines,
        db,
    }
}

/// Waits (up to 10 s) until `count` messages have arrived for `to`.
async fn wait_for_mail(mail: &RunningMailSandbox, to: &str, count: usize) -> Vec<ReceivedMail> {
    for _ in 0..200 {
        let got: Vec<_> = mail
            .sandbox()
            .messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect();
        if got.len() >= count {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} messages for {to}, got {:?}",
        mail.sandbox()
            .messages()
            .iter()
            .map(|m| (&m.to, &m.subject))
            .collect::<Vec<_>>()
    );
}

/// A citizen certified by a clerk; answers (citizen token, clerk token). The account's
/// activation e-mail is delivered and cleared from the sandbox first: the tests below are
/// about the notices of cases.
async fn certified_citizen(
    app: &TestApp,
    mail: &RunningMailSandbox,
    email: &str,
) -> (String, String) {
    let citizen = app.citizen(email, "Μαρία Παπαδοπούλου").await;
    wait_for_mail(mail, email, 1).await;
    mail.sandbox().clear();
    let clerk = app
        .staff("clerk", &format!("clerk-{email}"), "Νίκος Δημητρίου")
        .await;
    let r = app
        .post(
            "/api/v1/staff/certifications",
            Some(&clerk),
            json!({"email": email, "document": "identity_card", "document_number": "ΑΚ 123456"}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    (citizen, clerk)
}

async fn apply(app: &TestApp, token: &str, delivery: &str) -> serde_json::Value {
    let mut body = json!({
        "kind": "civil_registry",
        "certificate_type": "birth",
        "text": "Για την εγγραφή στο σχολείο.",
        "delivery": delivery,
    });
    if delivery == "post" {
        body["postal_address"] = json!("Ερμού 10, 10563 Αθήνα");
    }
    let r = app.post("/api/v1/applications", Some(token), body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    json_body(r).await
}

#[tokio::test]
async fn an_application_sends_its_notices_in_greek_and_english() {
    let mail = mail_server().await;
    let app = portal_on(TestDatabase::new(), &mail).await;
    let (citizen, clerk) = certified_citizen(&app, &mail, "maria@example.gr").await;
    let applied = apply(&app, &citizen, "post").await;
    let number = applied["number"].as_str().unwrap().to_string();
    let protocol_number = applied["protocol_number"].as_str().unwrap().to_string();

    // Submission and protocol number.
    let got = wait_for_mail(&mail, "maria@example.gr", 2).await;
    let submitted = got
        .iter()
        .find(|m| m.subject.contains("υποβλήθηκε"))
        .expect("a submission notice");
    assert_eq!(
        submitted.subject,
        format!("Η αίτησή σας {number} υποβλήθηκε")
    );
    assert!(submitted.body.starts_with("Αγαπητή/έ Μαρία Παπαδοπούλου,"));
    assert!(submitted.body.contains("«Πιστοποιητικό Γέννησης»"));
    assert!(submitted.body.contains("----- English -----"));
    assert!(submitted.body.contains("https://pyli.dimos.example.gr"));
    assert!(submitted.body.contains("Δήμος Παραδείγματος"));
    let protocolled = got
        .iter()
        .find(|m| m.subject.contains("πρωτοκόλλου"))
        .expect("a protocol notice");
    assert!(
        protocolled.body.contains(&protocol_number),
        "{}",
        protocolled.body
    );
    assert!(protocolled.message_id.ends_with("@portal>"));
    assert_ne!(submitted.message_id, protocolled.message_id);

    // The clerk asks, then issues by post.
    let id = applied["id"].as_str().unwrap();
    let staff = |action: &str| format!("/api/v1/staff/applications/{id}/{action}");
    assert!(app
        .post(&staff("review"), Some(&clerk), json!({}))
        .await
        .status()
        .is_success());
    let r = app
        .post(
            &staff("request-information"),
            Some(&clerk),
            json!({"question": "Ποιο είναι το πατρώνυμο;"}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let got = wait_for_mail(&mail, "maria@example.gr", 3).await;
    assert!(got
        .iter()
        .any(|m| m.body.contains("Ποιο είναι το πατρώνυμο;")));
    let r = app
        .post(
            &format!("/api/v1/my/applications/{id}/reply"),
            Some(&citizen),
            json!({"reply": "Κωνσταντίνος"}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = app
        .post(
            &staff("issue"),
            Some(&clerk),
            json!({"note": "Συστημένη επιστολή ΡΕ123456789GR"}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let got = wait_for_mail(&mail, "maria@example.gr", 4).await;
    let issued = got
        .iter()
        .find(|m| m.subject.contains("διεκπεραιώθηκε"))
        .expect("an issue notice");
    assert!(issued.body.contains("ταχυδρομικώς"));
    assert!(issued.body.contains("ΡΕ123456789GR"));
}

#[tokio::test]
async fn a_rejection_and_a_request_answer_are_notified_but_anonymous_cases_are_not() {
    let mail = mail_server().await;
    let app = portal_on(TestDatabase::new(), &mail).await;
    let (citizen, clerk) = certified_citizen(&app, &mail, "giorgos@example.gr").await;
    let applied = apply(&app, &citizen, "in_person").await;
    let id = applied["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/staff/applications/{id}/reject"),
            Some(&clerk),
            json!({"reason": "Δεν είστε εγγεγραμμένος στο δημοτολόγιο."}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let got = wait_for_mail(&mail, "giorgos@example.gr", 3).await;
    assert!(got.iter().any(|m| m.subject.contains("απορρίφθηκε")
        && m.body.contains("Δεν είστε εγγεγραμμένος στο δημοτολόγιο.")));

    // A named complaint answered by the clerk.
    let case = app.submit(&citizen, "Λακκούβα στην Ερμού").await;
    let case_id = case["id"].as_str().unwrap();
    for (action, body) in [
        ("review", json!({})),
        ("answer", json!({"text": "Θα επισκευαστεί την Παρασκευή."})),
    ] {
        let r = app
            .post(
                &format!("/api/v1/staff/requests/{case_id}/{action}"),
                Some(&clerk),
                body,
            )
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let got = wait_for_mail(&mail, "giorgos@example.gr", 4).await;
    assert!(got.iter().any(|m| m.subject.contains("Απάντηση του Δήμου")
        && m.body.contains("Θα επισκευαστεί την Παρασκευή.")
        && m.body.contains("«Λακκούβα στην Ερμού»")));

    // An anonymous comment answered: no account, no mail.
    let r = app
        .post(
            "/api/v1/requests",
            None,
            json!({"subject": "Σχόλιο", "text": "Καλή δουλειά."}),
        )
        .await;
    let anonymous = json_body(r).await;
    let anon_id = anonymous["id"].as_str().unwrap();
    for (action, body) in [
        ("review", json!({})),
        ("answer", json!({"text": "Ευχαριστούμε."})),
    ] {
        let r = app
            .post(
                &format!("/api/v1/staff/requests/{anon_id}/{action}"),
                Some(&clerk),
                body,
            )
            .await;
        assert!(r.status().is_success());
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!mail
        .sandbox()
        .messages()
        .iter()
        .any(|m| m.body.contains("Ευχαριστούμε.")));
}

#[tokio::test]
async fn each_event_is_mailed_once_when_a_second_portal_starts_on_the_same_database() {
    // A second portal process (as after a restart, or behind a load balancer) reads the
    // same log and the same outbox: it must not send anything again.
    let mail = mail_server().await;
    let app = portal_on(TestDatabase::new(), &mail).await;
    let (citizen, _clerk) = certified_citizen(&app, &mail, "eleni@example.gr").await;
    apply(&app, &citizen, "electronic").await;
    wait_for_mail(&mail, "eleni@example.gr", 2).await;
    let mut config = test_config(&app.db);
    configure(&mut config, &mail);
    let second = Application::build(config)
        .await
        .expect("a second portal builds");
    let (_, second_state, _) = second.spawn();
    portal::http::wait_for_log_head(&second_state, projections::ALL_READS)
        .await
        .expect("the second portal catches up");
    apply(&app, &citizen, "in_person").await;
    wait_for_mail(&mail, "eleni@example.gr", 4).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got: Vec<_> = mail
        .sandbox()
        .messages()
        .into_iter()
        .filter(|m| m.to == vec!["eleni@example.gr".to_string()])
        .collect();
    assert_eq!(
        got.len(),
        4,
        "{:?}",
        got.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let mut ids: Vec<_> = got.iter().map(|m| m.message_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "one message per event");
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mail_outbox WHERE sent_at IS NOT NULL \
             AND event_key NOT LIKE 'account-%'",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(rows, 4);
}

#[tokio::test]
async fn a_mail_server_that_is_down_gets_the_notice_later() {
    let mail = mail_server().await;
    let app = portal_on(TestDatabase::new(), &mail).await;
    let (citizen, _) = certified_citizen(&app, &mail, "nikos@example.gr").await;
    mail.sandbox().set_faults(MailFaults {
        down: true,
        ..MailFaults::default()
    });
    apply(&app, &citizen, "electronic").await;
    // The failures are recorded on the notices, which stay due.
    let mut failed: i64 = 0;
    for _ in 0..100 {
        failed = sqlx::query_scalar(
            "SELECT count(*) FROM mail_outbox WHERE attempts > 0 AND sent_at IS NULL \
             AND last_error IS NOT NULL",
        )
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
        if failed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed, 2, "both notices failed once");
    assert!(mail.sandbox().messages().is_empty());
    mail.sandbox().set_faults(MailFaults::default());
    let got = wait_for_mail(&mail, "nikos@example.gr", 2).await;
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn a_notice_the_mail_server_refuses_is_marked_failed_and_not_retried() {
    let mail = mail_server().await;
    let app = portal_on(TestDatabase::new(), &mail).await;
    let (citizen, _) = certified_citizen(&app, &mail, "kostas@example.gr").await;
    mail.sandbox().set_faults(MailFaults {
        reject_next: 10,
        ..MailFaults::default()
    });
    apply(&app, &citizen, "electronic").await;
    let mut failed: i64 = 0;
    for _ in 0..100 {
        failed = sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE failed_at IS NOT NULL")
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
        if failed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed, 2);
    mail.sandbox().set_faults(MailFaults::default());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        mail.sandbox().messages().is_empty(),
        "refused notices are not resent"
    );
}
