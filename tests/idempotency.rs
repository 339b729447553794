//! Idempotent submissions (issue 14): a repeat with the same `Idempotency-Key` and body gets
//! the first answer instead of a second case; with another body, 422; two at once, one case.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::pages::Visitor;
use crate::common::{json_body, TestApp};

async fn submit(app: &TestApp, token: Option<&str>, key: &str, body: &Value) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/requests"))
        .header("Idempotency-Key", key)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn my_cases(app: &TestApp, token: &str) -> usize {
    let r = app.get("/api/v1/my/requests", Some(token)).await;
    json_body(r).await["items"].as_array().unwrap().len()
}

fn complaint(subject: &str) -> Value {
    json!({"kind": "complaint", "subject": subject, "text": "Λακκούβα μπροστά στο νούμερο 10."})
}

#[tokio::test]
async fn a_repeat_with_the_same_key_and_body_gets_the_first_answer_and_files_nothing() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria.idem@example.gr", "Μαρία Ιδέμ").await;
    let body = complaint("Λακκούβα στην Ερμού");
    let first = submit(&app, Some(&maria), "b7f9c1e0-retry-1", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let position = first.headers()["x-portal-position"].clone();
    let first = json_body(first).await;

    let again = submit(&app, Some(&maria), "b7f9c1e0-retry-1", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["x-portal-position"], position);
    assert!(again.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(json_body(again).await, first);
    assert_eq!(my_cases(&app, &maria).await, 1);

    // Another body under the same key: refused, nothing filed.
    let other = submit(
        &app,
        Some(&maria),
        "b7f9c1e0-retry-1",
        &complaint("Άλλο θέμα"),
    )
    .await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = json_body(other).await;
    assert_eq!(error["error"]["code"], "idempotency_key_reused");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("έχει ήδη υποβληθεί"));
    assert_eq!(my_cases(&app, &maria).await, 1);

    // Another key, or no key: a new case each.
    let r = submit(&app, Some(&maria), "b7f9c1e0-retry-2", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_ne!(json_body(r).await["id"], first["id"]);
    let r = app
        .post("/api/v1/requests", Some(&maria), body.clone())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(my_cases(&app, &maria).await, 3);

    // The same key from another citizen is theirs alone.
    let nikos = app.citizen("nikos.idem@example.gr", "Νίκος Ιδέμ").await;
    let r = submit(&app, Some(&nikos), "b7f9c1e0-retry-1", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("idempotent-replayed").is_none());
    assert_ne!(json_body(r).await["id"], first["id"]);
    assert_eq!(my_cases(&app, &nikos).await, 1);
}

#[tokio::test]
async fn two_repeats_at_once_file_one_case_and_both_get_its_answer() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria.twice@example.gr", "Μαρία Δύο").await;
    let body = complaint("Σπασμένο φανάρι");
    for round in 0..3 {
        let key = format!("concurrent-{round}");
        let (a, b, c) = tokio::join!(
            submit(&app, Some(&maria), &key, &body),
            submit(&app, Some(&maria), &key, &body),
            submit(&app, Some(&maria), &key, &body),
        );
        let mut ids = Vec::new();
        for r in [a, b, c] {
            assert_eq!(r.status(), StatusCode::CREATED);
            ids.push(json_body(r).await["id"].as_str().unwrap().to_string());
        }
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    }
    assert_eq!(my_cases(&app, &maria).await, 3);
}

#[tokio::test]
async fn a_refused_first_try_leaves_the_key_free_for_the_corrected_one() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria.fix@example.gr", "Μαρία Διόρθωση").await;
    let wrong = json!({"kind": "complaint", "subject": "", "text": "Κείμενο."});
    let r = submit(&app, Some(&maria), "fix-me", &wrong).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_body(r).await["error"]["code"], "validation_failed");
    let r = submit(&app, Some(&maria), "fix-me", &complaint("Διορθωμένο θέμα")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(my_cases(&app, &maria).await, 1);

    // A key that is not one: said so, with the header named.
    for bad in [&"x".repeat(256), "μη-ascii"] {
        let r = app
            .client
            .post(app.url("/api/v1/requests"))
            .bearer_auth(&maria)
            .header("Idempotency-Key", bad.as_bytes())
            .json(&complaint("Θέμα"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let error = json_body(r).await;
        assert_eq!(error["error"]["fields"][0]["field"], "Idempotency-Key");
        assert_eq!(
            error["error"]["fields"][0]["code"],
            "idempotency_key_invalid"
        );
    }
    assert_eq!(my_cases(&app, &maria).await, 1);
}

#[tokio::test]
async fn an_anonymous_repeat_gets_the_same_tracking_code_which_is_not_stored_in_clear() {
    let app = TestApp::spawn().await;
    let body = json!({"subject": "Σχόλιο χωρίς λογαριασμό", "text": "Καλή δουλειά στην πλατεία."});
    let first = json_body(submit(&app, None, "anon-key-1", &body).await).await;
    let code = first["tracking_code"].as_str().unwrap().to_string();
    let again = submit(&app, None, "anon-key-1", &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json_body(again).await["tracking_code"], code.as_str());
    let r = app
        .get(&format!("/api/v1/requests/track/{code}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The kept answer is sealed under the key: neither the code nor the key is readable.
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT id, body FROM idempotency_keys")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (id, sealed) = &rows[0];
    assert!(!id.contains("anon-key-1"));
    assert!(!String::from_utf8_lossy(sealed).contains(&code));
    assert!(!String::from_utf8_lossy(sealed).contains("tracking_code"));
}

#[tokio::test]
async fn pressing_submit_twice_on_the_page_files_one_case() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria.page@example.gr", "Μαρία Σελίδα").await;
    let mut v = Visitor::with_session(&app, Some(&token));
    let form = v.get("/requests/new").await;
    assert_eq!(form.status, StatusCode::OK);
    let key = form
        .hidden("idempotency_key")
        .expect("the form carries a key");
    assert_eq!(key.len(), 36);
    let fields = [
        ("idempotency_key", key.as_str()),
        ("kind", "complaint"),
        ("subject", "Λακκούβα"),
        ("text", "Μεγάλη λακκούβα στην Ερμού."),
        ("desired_action", ""),
    ];
    let first = v.post(&form, "/requests/new", &fields).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let second = v.post(&form, "/requests/new", &fields).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert_eq!(second.location, first.location);
    assert_eq!(my_cases(&app, &token).await, 1);
    // Every rendering of the form has a key of its own.
    let again = v.get("/requests/new").await;
    assert_ne!(again.hidden("idempotency_key").unwrap(), key);

    // The same form sent again with other text: a page that says so, in Greek.
    let changed = [
        ("idempotency_key", key.as_str()),
        ("kind", "complaint"),
        ("subject", "Άλλο"),
        ("text", "Άλλο κείμενο."),
        ("desired_action", ""),
    ];
    let refused = v.post(&form, "/requests/new", &changed).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_has("Η φόρμα έχει ήδη υποβληθεί");
    assert_eq!(my_cases(&app, &token).await, 1);
}

#[tokio::test]
async fn an_oversized_submission_with_a_key_is_refused_as_too_large() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria.large@example.gr", "Μαρία Μεγάλη").await;
    let text = "α".repeat(1_600_000);
    let r = app
        .client
        .post(app.url("/api/v1/requests"))
        .bearer_auth(&maria)
        .header("Idempotency-Key", "large-1")
        .json(&json!({"kind": "complaint", "subject": "Θέμα", "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_body(r).await["error"]["code"], "payload_too_large");
    // A page answers with a page.
    let mut v = Visitor::with_session(&app, Some(&maria));
    let form = v.get("/requests/new").await;
    let key = form.hidden("idempotency_key").unwrap();
    let page = v
        .post(
            &form,
            "/requests/new",
            &[
                ("idempotency_key", key.as_str()),
                ("kind", "complaint"),
                ("subject", "Θέμα"),
                ("text", &text),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    page.assert_has("Πολύ μεγάλος όγκος δεδομένων");
    assert_eq!(my_cases(&app, &maria).await, 0);
}
