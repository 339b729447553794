//! HTTP tests of the citizen's and the visitor's side of requests (S1, S3, S4): named and
//! anonymous submission, case numbers, read-your-writes, «Τα αιτήματά μου», tracking,
//! validation, privacy between citizens, and reopening.

use crate::common::{field_codes, json_body, TestApp};
use reqwest::header::ACCEPT_LANGUAGE;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const POSITION: &str = "x-portal-position";

/// Asserts the status and the error code of a refusal; answers the `error` object.
async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let error = json_body(r).await["error"].clone();
    assert_eq!(error["code"], code, "{error}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error carries a message: {error}"
    );
    error
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(f, c)| (f.to_string(), c.to_string()))
        .collect()
}

/// A submission refused as invalid: 422 naming exactly these fields.
async fn assert_submission_refused(
    app: &TestApp,
    token: Option<&str>,
    body: Value,
    code: &str,
    fields: &[(&str, &str)],
) {
    let r = app.post("/api/v1/requests", token, body.clone()).await;
    let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    assert_eq!(field_codes(&error), pairs(fields), "for {body}");
}

/// `2026/000123` → (2026, 123), checking the shape `^\d{4}/\d{6}$`.
fn parse_number(number: &str) -> (i32, i64) {
    let (year, serial) = number.split_once('/').expect("a number like 2026/000123");
    assert!(
        year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()),
        "year of {number}"
    );
    assert!(
        serial.len() == 6 && serial.bytes().all(|b| b.is_ascii_digit()),
        "serial of {number}"
    );
    (year.parse().unwrap(), serial.parse().unwrap())
}

/// A tracking code as handed out: three groups of four, no look-alike characters.
fn assert_tracking_code_shape(code: &str) {
    let groups: Vec<_> = code.split('-').collect();
    assert_eq!(groups.len(), 3, "{code}");
    for group in groups {
        assert_eq!(group.len(), 4, "{code}");
        assert!(
            group
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "{code}"
        );
        assert!(!group.contains(['0', 'O', '1', 'I', 'L']), "{code}");
    }
}

async fn my_list(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/api/v1/my/requests", Some(token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    json_body(r).await["items"]
        .as_array()
        .expect("a list of items")
        .clone()
}

async fn my_detail(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/my/requests/{id}"), Some(token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    json_body(r).await
}

async fn reopen(app: &TestApp, token: &str, id: &str, reason: &str) -> Response {
    app.post(
        &format!("/api/v1/my/requests/{id}/reopen"),
        Some(token),
        json!({ "reason": reason }),
    )
    .await
}

/// A clerk closes the case as done.
async fn close(app: &TestApp, clerk: &str, id: &str) {
    let r = app
        .post(
            &format!("/api/v1/staff/requests/{id}/close"),
            Some(clerk),
            json!({"reason": "done"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

fn event_types(timeline: &Value) -> Vec<&str> {
    timeline
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_named_submission_answers_its_id_number_and_position() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία Παπαδοπούλου").await;

    let r = app
        .post(
            "/api/v1/requests",
            Some(&token),
            json!({"kind": "request", "subject": "Κλάδεμα δέντρων", "text": "Στην πλατεία.", "desired_action": "Να κλαδευτούν."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let header = r
        .headers()
        .get(POSITION)
        .expect("the position header")
        .to_str()
        .unwrap()
        .to_string();
    let body = json_body(r).await;
    uuid::Uuid::parse_str(body["id"].as_str().unwrap()).expect("the id is a UUID");
    let (year, serial) = parse_number(body["number"].as_str().unwrap());
    assert!(year >= 2025 && serial >= 1, "{body}");
    assert_eq!(body["kind"], "request");
    assert_eq!(body["status"], "submitted");
    assert_eq!(body["position"], header.as_str());
    let (transaction, global) = header.split_once('.').expect("<transaction>.<position>");
    assert!(transaction.parse::<i64>().unwrap() > 0 && global.parse::<i64>().unwrap() > 0);
    assert!(
        body.get("tracking_code").is_none(),
        "a named case has no tracking code"
    );
}

/// Case numbers run per year as it is in Athens: on New Year's Eve a case filed at 23:59
/// there is the year's, one filed two minutes later is the new year's first (while it is
/// still 31 December in UTC). The portal's clock is moved, not waited for.
#[tokio::test]
async fn case_numbers_start_again_at_new_year_in_athens() {
    use chrono::TimeZone;
    // 21:59 UTC is 23:59 in Athens (UTC+2 in winter).
    let clock = domain::ports::ManualClock::at(
        chrono::Utc
            .with_ymd_and_hms(2030, 12, 31, 21, 59, 0)
            .unwrap(),
    );
    let app = TestApp::spawn_with({
        let clock = clock.clone();
        move |c| c.clock = std::sync::Arc::new(clock)
    })
    .await;
    let token = app.citizen("maria@example.gr", "Μαρία Παπαδοπούλου").await;
    let first = app.submit(&token, "Λακκούβα").await;
    let second = app.submit(&token, "Σπασμένο φανάρι").await;
    assert_eq!(first["number"], "2030/000001", "{first}");
    assert_eq!(second["number"], "2030/000002", "{second}");
    clock.advance(chrono::Duration::minutes(2));
    let third = app.submit(&token, "Σκουπίδια").await;
    assert_eq!(third["number"], "2031/000001", "{third}");
    // The case records the time the portal's clock gave it.
    let r = app
        .get(
            &format!("/api/v1/my/requests/{}", third["id"].as_str().unwrap()),
            Some(&token),
        )
        .await;
    let detail = json_body(r).await;
    let submitted = chrono::DateTime::parse_from_rfc3339(
        detail["case"]["submitted_at"]
            .as_str()
            .expect("submitted_at"),
    )
    .expect("an RFC 3339 time");
    assert_eq!(
        submitted,
        chrono::Utc
            .with_ymd_and_hms(2030, 12, 31, 22, 1, 0)
            .unwrap(),
        "{detail}"
    );
}

#[tokio::test]
async fn every_named_kind_is_accepted() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    for kind in ["request", "complaint", "proposal"] {
        let r = app
            .post(
                "/api/v1/requests",
                Some(&token),
                json!({"kind": kind, "subject": "Θέμα", "text": "Κείμενο."}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}");
        assert_eq!(json_body(r).await["kind"], kind);
    }
    let kinds: Vec<_> = my_list(&app, &token)
        .await
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["proposal", "complaint", "request"], "newest first");
}

#[tokio::test]
async fn case_numbers_are_sequential() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria@example.gr", "Μαρία").await;
    let nikos = app.citizen("nikos@example.gr", "Νίκος").await;

    let first = app.submit(&maria, "Πρώτο").await;
    let second = app.submit(&maria, "Δεύτερο").await;
    let third = app.submit(&nikos, "Τρίτο, άλλου πολίτη").await;
    let (y1, s1) = parse_number(first["number"].as_str().unwrap());
    let (y2, s2) = parse_number(second["number"].as_str().unwrap());
    let (y3, s3) = parse_number(third["number"].as_str().unwrap());
    assert_eq!((y1, y1), (y2, y3), "the same year");
    assert_eq!(s2, s1 + 1);
    assert_eq!(s3, s2 + 1, "one sequence for all citizens");
}

#[tokio::test]
async fn the_new_case_is_in_my_list_at_once() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    for i in 1..=20 {
        let submitted = app.submit(&token, &format!("Αίτημα αριθμός {i}")).await;
        let items = my_list(&app, &token).await;
        assert_eq!(items.len(), i, "after submission {i}");
        let newest = &items[0];
        assert_eq!(newest["id"], submitted["id"], "after submission {i}");
        assert_eq!(newest["number"], submitted["number"]);
        assert_eq!(newest["status"], "submitted");
        assert_eq!(newest["subject"], format!("Αίτημα αριθμός {i}"));
    }
}

#[tokio::test]
async fn a_fresh_session_sees_its_case_when_it_sends_the_position() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let submitted = app.submit(&token, "Από άλλη συσκευή").await;
    // A second login has not written anything: the position header carries the write.
    let other = app.login("maria@example.gr", "Κωδικός-Δοκιμής-42").await;
    let r = app
        .client
        .get(app.url("/api/v1/my/requests"))
        .bearer_auth(&other)
        .header(POSITION, submitted["position"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let items = json_body(r).await["items"].clone();
    assert_eq!(items[0]["id"], submitted["id"]);
}

#[tokio::test]
async fn a_garbage_position_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    for garbage in ["yesterday", "12", "1.x", "-1.-5"] {
        let r = app
            .client
            .get(app.url("/api/v1/my/requests"))
            .bearer_auth(&token)
            .header(POSITION, garbage)
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::BAD_REQUEST, "position_invalid").await;
    }
    let r = app
        .client
        .get(app.url("/api/v1/requests/track/ABCD-EFGH-JKMN"))
        .header(POSITION, "not-a-position")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "position_invalid").await;
}

/// A position beyond the head of the log is no one's write: refused at once, never waited
/// for (issue 12, defect 8).
#[tokio::test]
async fn a_position_from_the_future_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let started = std::time::Instant::now();
    let r = app
        .client
        .get(app.url("/api/v1/requests/track/ABCD-EFGH-JKMN"))
        .header(POSITION, "99999999999.1")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "position_invalid").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
}

/// The request id becomes the events' correlation id in the append-only log: a long or
/// odd one is replaced by a fresh id, a short safe one is kept (issue 12, defect 7).
#[tokio::test]
async fn only_a_short_safe_request_id_reaches_the_log() {
    let app = TestApp::spawn().await;
    let body = serde_json::json!({
        "kind": "comment",
        "subject": "Φωτισμός στην πλατεία",
        "text": "Δύο λάμπες στην πλατεία Αγίου Νικολάου δεν ανάβουν εδώ και μία εβδομάδα.",
        "desired_action": "Να αντικατασταθούν οι λάμπες."
    });
    // Headers over 16 KB in all are refused before anything reads them (431).
    let huge = "x".repeat(60_000);
    let r = app
        .client
        .post(app.url("/api/v1/requests"))
        .header("x-request-id", huge.as_str())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let long = "x".repeat(100);
    for (sent, kept) in [
        (long.as_str(), false),
        ("abc def", false),
        ("req-2026.12.06_01:x", true),
    ] {
        let r = app
            .client
            .post(app.url("/api/v1/requests"))
            .header("x-request-id", sent)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let answered = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(answered == sent, kept, "{}", &sent[..sent.len().min(20)]);
        assert!(answered.len() <= 64);
        let id = json_body(r).await["id"].as_str().unwrap().to_string();
        let stored: String = sqlx::query_scalar(
            "SELECT metadata->>'correlation_id' FROM events WHERE aggregate_id = $1",
        )
        .bind(&id)
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
        assert_eq!(stored, answered);
    }
}

#[tokio::test]
async fn my_case_shows_its_content_and_a_timeline() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία Παπαδοπούλου").await;
    let submitted = app.submit(&token, "Λακκούβα στην οδό Ερμού").await;
    let id = submitted["id"].as_str().unwrap();

    let detail = my_detail(&app, &token, id).await;
    let case = &detail["case"];
    assert_eq!(case["id"], id);
    assert_eq!(case["number"], submitted["number"]);
    assert_eq!(case["kind"], "complaint");
    assert_eq!(case["kind_label"], "Καταγγελία");
    assert_eq!(case["subject"], "Λακκούβα στην οδό Ερμού");
    assert_eq!(case["text"], "Κείμενο του αιτήματος.");
    assert_eq!(case["desired_action"], "Να επισκευαστεί.");
    assert_eq!(case["status"], "submitted");
    assert_eq!(case["status_label"], "Υποβλήθηκε");
    assert_eq!(case["submitter_name"], "Μαρία Παπαδοπούλου");
    assert_eq!(case["anonymous"], false);
    assert_eq!(case["answer"], Value::Null);
    assert_eq!(case["protocol_number"], Value::Null);
    assert_eq!(case["protocol_date"], Value::Null);
    assert_eq!(case["close_reason"], Value::Null);
    assert_eq!(case["times_reopened"], 0);

    let timeline = &detail["timeline"];
    assert_eq!(event_types(timeline), ["RequestSubmitted"]);
    let entry = &timeline[0];
    assert_eq!(entry["status"], "submitted");
    assert_eq!(entry["actor_role"], "citizen");
    assert_eq!(entry["title"], "Υποβλήθηκε το αίτημα");
    assert!(entry["at"].as_str().is_some(), "{entry}");

    // The list row carries status and protocol fields too.
    let items = my_list(&app, &token).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["status"], "submitted");
    assert_eq!(items[0]["status_label"], "Υποβλήθηκε");
    assert_eq!(items[0]["protocol_number"], Value::Null);
    assert_eq!(items[0]["answered"], false);

    // Labels follow the reader's language.
    let r = app
        .client
        .get(app.url(&format!("/api/v1/my/requests/{id}")))
        .bearer_auth(&token)
        .header(ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .unwrap();
    let detail = json_body(r).await;
    assert_eq!(detail["case"]["status_label"], "Submitted");
    assert_eq!(detail["case"]["kind_label"], "Complaint");
    assert_eq!(detail["timeline"][0]["title"], "Submitted");
}

#[tokio::test]
async fn greek_text_round_trips_exactly() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let subject = "Πεζοδρόμιο: «Ελληνικά» — ΐ ΰ ϊ ϋ, τελικό σίγμα ς 🚧";
    let text = "Πρώτη γραμμή με τόνους: άέήίόύώ.\nΔεύτερη γραμμή με ς και Σ.\r\n\tΤρίτη με εσοχή 👍🏽 και ελληνικό ερωτηματικό;";
    let desired_action = "Να φτιαχτεί\nαμέσως 🙏";
    let r = app
        .post(
            "/api/v1/requests",
            Some(&token),
            json!({"kind": "proposal", "subject": subject, "text": text, "desired_action": desired_action}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = json_body(r).await["id"].as_str().unwrap().to_string();

    let case = my_detail(&app, &token, &id).await["case"].clone();
    assert_eq!(case["subject"].as_str().unwrap(), subject);
    assert_eq!(case["text"].as_str().unwrap(), text);
    assert_eq!(case["desired_action"].as_str().unwrap(), desired_action);
    let items = my_list(&app, &token).await;
    assert_eq!(items[0]["subject"].as_str().unwrap(), subject);
}

#[tokio::test]
async fn another_citizens_case_is_invisible() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria@example.gr", "Μαρία").await;
    let nikos = app.citizen("nikos@example.gr", "Νίκος").await;
    let id = app.submit(&maria, "Της Μαρίας").await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = app
        .get(&format!("/api/v1/my/requests/{id}"), Some(&nikos))
        .await;
    let error = assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    let r = reopen(&app, &nikos, &id, "Θέλω να το ξανανοίξω").await;
    let reopen_error = assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    assert_eq!(error, reopen_error, "the same answer as a missing case");
    assert!(my_list(&app, &nikos).await.is_empty());

    // Exactly what a case that does not exist answers.
    let missing = uuid::Uuid::new_v4();
    let r = app
        .get(&format!("/api/v1/my/requests/{missing}"), Some(&nikos))
        .await;
    let missing_error = assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    assert_eq!(error, missing_error);

    // And Maria still has it.
    assert_eq!(my_list(&app, &maria).await[0]["id"], id.as_str());
}

#[tokio::test]
async fn a_case_that_does_not_exist_is_not_found() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-case".to_string()] {
        let r = app
            .get(&format!("/api/v1/my/requests/{id}"), Some(&token))
            .await;
        assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
        let r = reopen(&app, &token, &id, "Λόγος").await;
        assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    }
}

#[tokio::test]
async fn an_anonymous_comment_is_tracked_by_its_code() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/requests",
            None,
            json!({"subject": "Σκουπίδια στην πλατεία", "text": "Δεν μαζεύτηκαν εδώ και μια εβδομάδα.", "desired_action": "Να μαζευτούν."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get(POSITION).is_some());
    let submitted = json_body(r).await;
    assert_eq!(submitted["kind"], "comment");
    assert_eq!(submitted["status"], "submitted");
    parse_number(submitted["number"].as_str().unwrap());
    let code = submitted["tracking_code"]
        .as_str()
        .expect("a tracking code")
        .to_string();
    assert_tracking_code_shape(&code);

    let r = app
        .get(&format!("/api/v1/requests/track/{code}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tracked = json_body(r).await;
    let case = &tracked["case"];
    assert_eq!(case["id"], submitted["id"]);
    assert_eq!(case["number"], submitted["number"]);
    assert_eq!(case["kind"], "comment");
    assert_eq!(case["status"], "submitted");
    assert_eq!(case["subject"], "Σκουπίδια στην πλατεία");
    assert_eq!(case["text"], "Δεν μαζεύτηκαν εδώ και μια εβδομάδα.");
    assert_eq!(case["anonymous"], true);
    assert_eq!(case["submitter_name"], Value::Null);
    assert_eq!(event_types(&tracked["timeline"]), ["RequestSubmitted"]);
    assert_eq!(tracked["timeline"][0]["actor_role"], "anonymous");

    // Typed loosely: lower case, without the dashes.
    let loose = code.to_lowercase().replace('-', "");
    let r = app
        .get(&format!("/api/v1/requests/track/{loose}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["case"]["id"], submitted["id"]);

    // An explicit "comment" is the same thing.
    let r = app
        .post(
            "/api/v1/requests",
            None,
            json!({"kind": "comment", "subject": "Σχόλιο", "text": "Κείμενο."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(json_body(r).await["kind"], "comment");
}

#[tokio::test]
async fn the_tracking_page_hides_who_handled_the_case() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff("clerk", "clerk@dimos.gr", "Γιώργος Υπάλληλος")
        .await;
    let r = app
        .post(
            "/api/v1/requests",
            None,
            json!({"subject": "Φανοστάτης σβηστός", "text": "Στη γωνία."}),
        )
        .await;
    let submitted = json_body(r).await;
    let id = submitted["id"].as_str().unwrap();
    let code = submitted["tracking_code"].as_str().unwrap();

    let r = app
        .post(
            &format!("/api/v1/staff/requests/{id}/review"),
            Some(&clerk),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let r = app
        .post(
            &format!("/api/v1/staff/requests/{id}/answer"),
            Some(&clerk),
            json!({"text": "Αντικαταστάθηκε η λάμπα."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    // Staff see who handled it…
    let staff_view = json_body(
        app.get(&format!("/api/v1/staff/requests/{id}"), Some(&clerk))
            .await,
    )
    .await;
    assert_eq!(staff_view["case"]["assigned_to_name"], "Γιώργος Υπάλληλος");

    // …the visitor sees the answer and the history, but no names.
    let r = app
        .get(&format!("/api/v1/requests/track/{code}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tracked = json_body(r).await;
    assert_eq!(tracked["case"]["status"], "answered");
    assert_eq!(tracked["case"]["answer"], "Αντικαταστάθηκε η λάμπα.");
    assert_eq!(tracked["case"]["assigned_to_name"], Value::Null);
    assert_eq!(
        event_types(&tracked["timeline"]),
        [
            "RequestSubmitted",
            "RequestTakenIntoReview",
            "RequestAnswered"
        ]
    );
    for entry in tracked["timeline"].as_array().unwrap() {
        assert_eq!(entry["actor_name"], Value::Null, "{entry}");
    }
    assert!(
        !tracked.to_string().contains("Γιώργος"),
        "no staff name anywhere: {tracked}"
    );
}

#[tokio::test]
async fn a_wrong_tracking_code_is_not_found() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/requests",
            None,
            json!({"subject": "Θέμα", "text": "Κείμενο."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    for code in ["ABCD-EFGH-JKMN", "nothing"] {
        let r = app
            .get(&format!("/api/v1/requests/track/{code}"), None)
            .await;
        assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    }
}

#[tokio::test]
async fn named_cases_have_no_tracking_code_to_find_them_by() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    app.submit(&token, "Επώνυμο").await;
    // The empty code must not match the named cases (whose code is NULL).
    let r = app.get("/api/v1/requests/track/----", None).await;
    assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
}

#[tokio::test]
async fn kinds_follow_who_submits() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let base = |kind: Option<&str>| {
        let mut body = json!({"subject": "Θέμα", "text": "Κείμενο."});
        if let Some(kind) = kind {
            body["kind"] = json!(kind);
        }
        body
    };

    assert_submission_refused(
        &app,
        None,
        base(Some("complaint")),
        "kind_anonymous_is_comment",
        &[("kind", "kind_anonymous_is_comment")],
    )
    .await;
    assert_submission_refused(
        &app,
        Some(&token),
        base(None),
        "validation_failed",
        &[("kind", "kind_required")],
    )
    .await;
    assert_submission_refused(
        &app,
        Some(&token),
        base(Some("comment")),
        "kind_comment_is_anonymous",
        &[("kind", "kind_comment_is_anonymous")],
    )
    .await;
    for invalid in ["petition", "Complaint", ""] {
        assert_submission_refused(
            &app,
            Some(&token),
            base(Some(invalid)),
            "validation_failed",
            &[("kind", "kind_invalid")],
        )
        .await;
    }
    assert_submission_refused(
        &app,
        None,
        base(Some("petition")),
        "validation_failed",
        &[("kind", "kind_invalid")],
    )
    .await;
    assert!(my_list(&app, &token).await.is_empty(), "nothing was filed");
}

#[tokio::test]
async fn subject_and_text_are_validated() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let named =
        |subject: &str, text: &str| json!({"kind": "request", "subject": subject, "text": text});

    for (body, fields) in [
        (named("", "Κείμενο."), [("subject", "subject_required")]),
        (named("   ", "Κείμενο."), [("subject", "subject_required")]),
        (
            named(&"Α".repeat(201), "Κείμενο."),
            [("subject", "subject_too_long")],
        ),
        (
            named("Πρώτη γραμμή\nδεύτερη", "Κείμενο."),
            [("subject", "subject_control_chars")],
        ),
        (named("Θέμα", ""), [("text", "text_required")]),
        (
            named("Θέμα", &"λ".repeat(5001)),
            [("text", "text_too_long")],
        ),
        (
            named("Θέμα", "κουδούνι \u{7}"),
            [("text", "text_control_chars")],
        ),
        (
            json!({"kind": "request", "subject": "Θέμα", "text": "Κείμενο.", "desired_action": "ω".repeat(2001)}),
            [("desired_action", "desired_action_too_long")],
        ),
        (
            json!({"kind": "request", "text": "Κείμενο."}),
            [("subject", "subject_required")],
        ),
    ] {
        assert_submission_refused(&app, Some(&token), body, "validation_failed", &fields).await;
    }

    // Several bad fields at once are all named.
    assert_submission_refused(
        &app,
        Some(&token),
        json!({"kind": "petition", "subject": "", "text": "λ".repeat(5001), "desired_action": "ω".repeat(2001)}),
        "validation_failed",
        &[
            ("kind", "kind_invalid"),
            ("subject", "subject_required"),
            ("text", "text_too_long"),
            ("desired_action", "desired_action_too_long"),
        ],
    )
    .await;
    assert!(my_list(&app, &token).await.is_empty(), "nothing was filed");

    // The limits themselves are accepted, counted in characters (Greek is two bytes each).
    let subject = "Α".repeat(200);
    let text = "λ".repeat(5000);
    let r = app
        .post("/api/v1/requests", Some(&token), named(&subject, &text))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = json_body(r).await["id"].as_str().unwrap().to_string();
    let case = my_detail(&app, &token, &id).await["case"].clone();
    assert_eq!(case["subject"].as_str().unwrap(), subject);
    assert_eq!(case["text"].as_str().unwrap().chars().count(), 5000);
    assert_eq!(case["desired_action"], Value::Null, "left out, left empty");
}

#[tokio::test]
async fn unknown_fields_and_bad_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let r = app
        .post(
            "/api/v1/requests",
            Some(&token),
            json!({"kind": "request", "subject": "Θέμα", "text": "Κείμενο.", "priority": "urgent"}),
        )
        .await;
    let error = assert_error(r, StatusCode::BAD_REQUEST, "unknown_field").await;
    assert_eq!(field_codes(&error), pairs(&[("priority", "unknown_field")]));

    let r = app
        .post(
            &format!("/api/v1/my/requests/{}/reopen", uuid::Uuid::new_v4()),
            Some(&token),
            json!({"reason": "Λόγος", "urgent": true}),
        )
        .await;
    let error = assert_error(r, StatusCode::BAD_REQUEST, "unknown_field").await;
    assert_eq!(error["fields"][0]["field"], "urgent");

    let r = app
        .client
        .post(app.url("/api/v1/requests"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"kind": "request", "subject": "#)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "malformed_json").await;

    let r = app
        .post(
            "/api/v1/requests",
            Some(&token),
            json!({"kind": "request", "subject": ["Θέμα"], "text": "Κείμενο."}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "malformed_json").await;

    let r = app
        .client
        .post(app.url("/api/v1/requests"))
        .bearer_auth(&token)
        .body(r#"{"kind": "request", "subject": "Θέμα", "text": "Κείμενο."}"#)
        .send()
        .await
        .unwrap();
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(my_list(&app, &token).await.is_empty(), "nothing was filed");
}

#[tokio::test]
async fn my_requests_need_a_session() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/my/requests", None).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let id = uuid::Uuid::new_v4();
    let r = app.get(&format!("/api/v1/my/requests/{id}"), None).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = app
        .post(
            &format!("/api/v1/my/requests/{id}/reopen"),
            None,
            json!({"reason": "Λόγος"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn a_closed_case_can_be_reopened_once() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let clerk = app
        .staff("clerk", "clerk@dimos.gr", "Γιώργος Υπάλληλος")
        .await;
    let id = app.submit(&token, "Σπασμένο παγκάκι").await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // An open case cannot be reopened.
    let r = reopen(&app, &token, &id, "Δεν φτιάχτηκε").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "reopen_not_closed").await;

    close(&app, &clerk, &id).await;
    let case = my_detail(&app, &token, &id).await["case"].clone();
    assert_eq!(case["status"], "closed");
    assert_eq!(case["close_reason"], "done");

    // A reason is required.
    for empty in ["", "   "] {
        let r = reopen(&app, &token, &id, empty).await;
        let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(field_codes(&error), pairs(&[("reason", "note_required")]));
    }
    let r = app
        .post(
            &format!("/api/v1/my/requests/{id}/reopen"),
            Some(&token),
            json!({}),
        )
        .await;
    let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(error["fields"][0]["field"], "reason");

    let r = reopen(&app, &token, &id, "Το παγκάκι είναι ακόμη σπασμένο.").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get(POSITION).is_some());
    let answer = json_body(r).await;
    assert_eq!(answer["id"], id.as_str());
    assert_eq!(answer["status"], "reopened");

    let detail = my_detail(&app, &token, &id).await;
    assert_eq!(detail["case"]["status"], "reopened");
    assert_eq!(detail["case"]["times_reopened"], 1);
    assert_eq!(detail["case"]["close_reason"], Value::Null);
    assert_eq!(
        event_types(&detail["timeline"]),
        ["RequestSubmitted", "RequestClosed", "RequestReopened"]
    );
    let last = &detail["timeline"][2];
    assert_eq!(last["status"], "reopened");
    assert_eq!(last["actor_role"], "citizen");
    assert_eq!(
        last["details"]["reason"],
        "Το παγκάκι είναι ακόμη σπασμένο."
    );
    assert_eq!(my_list(&app, &token).await[0]["status"], "reopened");

    // Closed again, it stays closed.
    close(&app, &clerk, &id).await;
    let r = reopen(&app, &token, &id, "Και πάλι δεν φτιάχτηκε").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "reopen_only_once").await;
    let case = my_detail(&app, &token, &id).await["case"].clone();
    assert_eq!(case["status"], "closed");
    assert_eq!(case["times_reopened"], 1);
}

#[tokio::test]
async fn only_the_citizen_who_filed_it_reopens_a_case() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria@example.gr", "Μαρία").await;
    let nikos = app.citizen("nikos@example.gr", "Νίκος").await;
    let clerk = app
        .staff("clerk", "clerk@dimos.gr", "Γιώργος Υπάλληλος")
        .await;
    let id = app.submit(&maria, "Της Μαρίας").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    close(&app, &clerk, &id).await;

    let r = reopen(&app, &nikos, &id, "Δεν είναι δικό μου").await;
    assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    let r = reopen(&app, &clerk, &id, "Υπάλληλος").await;
    assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    let case = my_detail(&app, &maria, &id).await["case"].clone();
    assert_eq!(case["status"], "closed", "still closed");
}

#[tokio::test]
async fn a_case_id_postgres_cannot_hold_is_not_found_not_a_failure() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let r = app.get("/api/v1/my/requests/%00", Some(&token)).await;
    assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    let r = reopen(&app, &token, "%00", "Λόγος").await;
    assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
    let r = app.get("/api/v1/requests/track/%00", None).await;
    assert_error(r, StatusCode::NOT_FOUND, "case_not_found").await;
}

#[tokio::test]
async fn the_case_id_may_be_typed_in_capitals() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let id = app.submit(&token, "Θέμα").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = my_detail(&app, &token, &id.to_uppercase()).await;
    assert_eq!(detail["case"]["id"], id.as_str());
}

#[tokio::test]
async fn an_oversized_body_is_refused_as_too_large() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let r = app
        .post(
            "/api/v1/requests",
            Some(&token),
            json!({"kind": "request", "subject": "Θέμα", "text": "λ".repeat(1_500_000)}),
        )
        .await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(my_list(&app, &token).await.is_empty(), "nothing was filed");
}
