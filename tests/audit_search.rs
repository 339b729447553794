//! The auditor's search of every stream of the log (issue 17), as JSON and as a page, and
//! the audit view in plain words: what happened, by whom, what each event changed, the
//! record as stored behind a disclosure, the state after each event, and the whole stream
//! as a file to keep.

use chrono::{Days, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::pages::Visitor;
use crate::common::{catalog, field_codes, json_body, TestApp};

const MARIA: &str = "maria@example.gr";
const NIKOS: &str = "nikos@example.gr";
const CLERK: &str = "clerk@dimos.example.gr";
const AUDITOR: &str = "auditor@dimos.example.gr";
const AFM: &str = "094259216";

fn greek(code: &str) -> String {
    catalog("el")[code].as_str().unwrap_or(code).to_string()
}

/// Maria's complaint (taken into review) and request (registered in the protocol), Nikos's
/// complaint, and Nikos certified as the representative of a business.
struct Office {
    app: TestApp,
    auditor: String,
    clerk: String,
    complaint: Value,
    request: Value,
    protocol_number: String,
    nikos_case: Value,
    nikos_id: String,
}

impl Office {
    async fn open() -> Self {
        let app = TestApp::spawn().await;
        let maria = app.citizen(MARIA, "Μαρία Παπαδοπούλου").await;
        let nikos = app.citizen(NIKOS, "Νίκος Επιχειρηματίας").await;
        let clerk = app.staff("clerk", CLERK, "Γεώργιος Υπαλληλίδης").await;
        let auditor = app.staff("auditor", AUDITOR, "Ελένη Ελεγκτή").await;
        let complaint = app.submit(&maria, "Λακκούβα στην οδό Αθηνάς").await;
        let request = app.submit(&maria, "Βεβαίωση μόνιμης κατοικίας").await;
        let nikos_case = app.submit(&nikos, "Θόρυβος από συνεργείο").await;
        let r = app
            .post(
                &format!(
                    "/api/v1/staff/requests/{}/review",
                    complaint["id"].as_str().unwrap()
                ),
                Some(&clerk),
                json!({}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .post(
                &format!(
                    "/api/v1/staff/requests/{}/protocol",
                    request["id"].as_str().unwrap()
                ),
                Some(&clerk),
                json!({}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let protocol_number = json_body(r).await["case"]["protocol_number"]
            .as_str()
            .unwrap()
            .to_string();
        app.certify(&clerk, NIKOS, Some(("Συνεργείο Νίκου Ο.Ε.", AFM)))
            .await;
        let nikos_id: String =
            sqlx::query_scalar("SELECT id::text FROM accounts WHERE email_normalized = $1")
                .bind(NIKOS)
                .fetch_one(&app.state.pool)
                .await
                .unwrap();
        Self {
            app,
            auditor,
            clerk,
            complaint,
            request,
            protocol_number,
            nikos_case,
            nikos_id,
        }
    }

    /// The stream ids a search as the auditor answers, and the whole answer.
    async fn search(&self, query: &str) -> (Vec<String>, Value) {
        let r = self
            .app
            .get(
                &format!("/api/v1/audit/streams?{query}"),
                Some(&self.auditor),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{query}");
        let body = json_body(r).await;
        let ids = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stream_id"].as_str().unwrap().to_string())
            .collect();
        (ids, body)
    }

    async fn refused(&self, query: &str) -> Vec<(String, String)> {
        let r = self
            .app
            .get(
                &format!("/api/v1/audit/streams?{query}"),
                Some(&self.auditor),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        field_codes(&json_body(r).await["error"])
    }
}

fn id(case: &Value) -> String {
    case["id"].as_str().unwrap().to_string()
}

/// `2026/000002` written short, `2026/2`.
fn short(number: &str) -> String {
    let (year, serial) = number.split_once('/').unwrap();
    format!("{year}/{}", serial.trim_start_matches('0'))
}

#[tokio::test]
async fn every_stream_is_found_by_number_person_kind_and_days() {
    let office = Office::open().await;
    let (complaint, request, nikos_case) = (
        id(&office.complaint),
        id(&office.request),
        id(&office.nikos_case),
    );

    // No criteria: every stream, the most recently begun first.
    let (all, body) = office.search("").await;
    assert_eq!(
        all,
        [
            office.nikos_id.clone(),
            nikos_case.clone(),
            request.clone(),
            complaint.clone()
        ],
        "{body}"
    );
    let first = &body["items"][3];
    assert_eq!(first["aggregate_type"], "CitizenRequest");
    assert_eq!(first["case_number"], office.complaint["number"]);
    assert_eq!(first["title"], "Λακκούβα στην οδό Αθηνάς");
    assert_eq!(first["email"], MARIA);
    assert_eq!(first["events"], 2);
    assert_eq!(first["last_event_type"], "RequestTakenIntoReview");
    let certification = &body["items"][0];
    assert_eq!(certification["aggregate_type"], "Certification");
    assert_eq!(certification["afms"], json!([AFM]));
    assert_eq!(certification["title"], "Νίκος Επιχειρηματίας");

    // By Α.Α., in full or short.
    let number = office.complaint["number"].as_str().unwrap();
    assert_eq!(
        office.search(&format!("number={number}")).await.0,
        vec![complaint.clone()]
    );
    assert_eq!(
        office.search(&format!("number={}", short(number))).await.0,
        vec![complaint.clone()]
    );
    // By protocol number, and by the stream's own id.
    let protocol: String =
        form_urlencoded::byte_serialize(office.protocol_number.as_bytes()).collect();
    assert_eq!(
        office.search(&format!("number={protocol}")).await.0,
        vec![request.clone()]
    );
    assert_eq!(
        office.search(&format!("number={request}")).await.0,
        vec![request.clone()]
    );
    assert_eq!(
        office
            .search(&format!("number={}", request.to_uppercase()))
            .await
            .0,
        vec![request.clone()]
    );
    // By the certified document's number.
    let document: String = form_urlencoded::byte_serialize("ΑΚ123456".as_bytes()).collect();
    assert_eq!(
        office.search(&format!("number={document}")).await.0,
        vec![office.nikos_id.clone()]
    );
    assert!(office.search("number=2099/000001").await.0.is_empty());

    // By a person's e-mail (written as the citizen might): their streams only.
    assert_eq!(
        office.search("person=%20Maria%40Example.GR").await.0,
        [request.clone(), complaint.clone()]
    );
    assert!(office
        .search("person=nobody%40example.gr")
        .await
        .0
        .is_empty());
    // By a business's ΑΦΜ: its streams (here its representative's certification), not its
    // representative's own complaints.
    assert_eq!(
        office.search(&format!("person={AFM}")).await.0,
        vec![office.nikos_id.clone()]
    );

    // By kind, and by the days the streams began (Athens).
    assert_eq!(
        office.search("kind=certifications").await.0,
        vec![office.nikos_id.clone()]
    );
    assert!(office.search("kind=payments").await.0.is_empty());
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Athens)
        .date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let around = format!(
        "from={}&to={}",
        day(today - Days::new(1)),
        day(today + Days::new(1))
    );
    assert_eq!(office.search(&around).await.0.len(), 4);
    let only_today = format!("from={}&to={}", day(today), day(today));
    assert_eq!(office.search(&only_today).await.0.len(), 4);
    assert!(office
        .search(&format!("from={}", day(today + Days::new(1))))
        .await
        .0
        .is_empty());
    // Criteria together.
    assert_eq!(
        office
            .search(&format!(
                "person=maria%40example.gr&number={protocol}&{around}"
            ))
            .await
            .0,
        vec![request.clone()]
    );

    // A page at a time.
    let (page, body) = office.search("limit=3").await;
    assert_eq!(page, all[..3]);
    let next = body["next"].as_str().unwrap().to_string();
    let (rest, body) = office.search(&format!("limit=3&after={next}")).await;
    assert_eq!(rest, all[3..]);
    assert!(body["next"].is_null(), "{body}");

    // Each wrong criterion is named; the log is searched by auditors only.
    assert_eq!(
        office
            .refused("person=%CE%9C%CE%B1%CF%81%CE%AF%CE%B1")
            .await,
        [("person".into(), "audit_person_invalid".into())]
    );
    assert_eq!(
        office.refused("person=094259217").await,
        [("person".into(), "audit_person_invalid".into())]
    );
    assert_eq!(
        office
            .refused("kind=warrants&from=1%2F12%2F2026&to=2026-13-01")
            .await,
        [
            ("kind".into(), "audit_kind_invalid".into()),
            ("from".into(), "audit_from_invalid".into()),
            ("to".into(), "audit_to_invalid".into()),
        ]
    );
    assert_eq!(
        office.refused("from=2026-12-02&to=2026-12-01").await,
        [("to".into(), "audit_range_invalid".into())]
    );
    assert_eq!(
        office.refused(&format!("number={}", "9".repeat(101))).await,
        [("number".into(), "audit_number_too_long".into())]
    );
    let r = office
        .app
        .get("/api/v1/audit/streams", Some(&office.clerk))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let admin = office
        .app
        .staff("admin", "admin@dimos.example.gr", "Νίκος Διαχειριστής")
        .await;
    let r = office.app.get("/api/v1/audit/streams", Some(&admin)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = office.app.get("/api/v1/audit/streams", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The index rebuilds from the log to the same rows.
    office.app.read_models_caught_up().await;
    crate::common::assert_a_rebuild_of_everything_changes_nothing(&office.app.state.pool).await;
}

#[tokio::test]
async fn the_search_page_lists_links_and_names_what_to_fix() {
    let office = Office::open().await;
    let mut auditor = Visitor::with_session(&office.app, Some(&office.auditor));
    let page = auditor.get("/audit").await;
    page.assert_status(StatusCode::OK);
    assert_eq!(page.body.matches("class=\"result-row\"").count(), 4);
    page.assert_has("id=\"number\" name=\"number\"");
    page.assert_has(&greek("ui_audit_kind_certifications"));

    let number = office.complaint["number"].as_str().unwrap();
    let found = auditor
        .get(&format!("/audit?number={}&kind=requests", short(number)))
        .await;
    found.assert_status(StatusCode::OK);
    assert_eq!(found.body.matches("class=\"result-row\"").count(), 1);
    found.assert_has(&format!(
        "<a class=\"stream-link\" href=\"/audit/cases/{}\">{number}</a>",
        id(&office.complaint)
    ));
    found.assert_has(MARIA);
    found.assert_has(&greek("timeline_RequestTakenIntoReview"));

    let by_afm = auditor.get(&format!("/audit?person={AFM}")).await;
    assert_eq!(by_afm.body.matches("class=\"result-row\"").count(), 1);
    by_afm.assert_has(&format!("ΑΦΜ {AFM}"));

    let none = auditor.get("/audit?number=2099%2F1").await;
    none.assert_status(StatusCode::OK);
    none.assert_has("id=\"no-results\"");

    let wrong = auditor.get("/audit?person=Maria&from=yesterday").await;
    wrong.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        wrong.text_of("person-error"),
        format!(
            "{} {}",
            greek("ui_error_prefix"),
            greek("audit_person_invalid")
        )
    );
    wrong.assert_has("id=\"from-error\"");
    wrong.assert_has("value=\"Maria\"");
    wrong.assert_lacks("class=\"result-row\"");

    // Clerks and citizens do not search the log.
    let mut clerk = Visitor::with_session(&office.app, Some(&office.clerk));
    clerk
        .get("/audit")
        .await
        .assert_status(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_stream_reads_in_plain_words_with_the_record_behind_a_disclosure() {
    let office = Office::open().await;
    let complaint = id(&office.complaint);
    let mut auditor = Visitor::with_session(&office.app, Some(&office.auditor));
    let page = auditor.get(&format!("/audit/cases/{complaint}")).await;
    page.assert_status(StatusCode::OK);
    assert_eq!(page.body.matches("class=\"event-row\"").count(), 2);
    // What happened and by whom, in words.
    page.assert_has(&greek("timeline_RequestSubmitted"));
    page.assert_has(&format!(
        "{}: Μαρία Παπαδοπούλου ({MARIA})",
        greek("ui_role_citizen")
    ));
    page.assert_has(&format!(
        "{}: Γεώργιος Υπαλληλίδης ({CLERK})",
        greek("ui_role_clerk")
    ));
    // What each event changed: the status, from submitted to in review, in words.
    page.assert_has("data-path=\"status\"");
    page.assert_has(&format!("{} (in_review)", greek("status_in_review")));
    page.assert_has(&format!("{} (submitted)", greek("status_submitted")));
    page.assert_has(&greek("audit_field_assigned_to"));
    page.assert_has("Λακκούβα στην οδό Αθηνάς");
    // Every field has a name in words.
    page.assert_lacks("field-unlabelled");
    // The record as stored, behind a disclosure; the state one click away.
    page.assert_has("<details class=\"event-record\">");
    page.assert_has("class=\"payload\"");
    page.assert_has("RequestTakenIntoReview");
    page.assert_has(&format!("/audit/cases/{complaint}/state?sequence=2"));
    page.assert_has("tag tag--valid");

    let state = auditor
        .get(&format!("/audit/cases/{complaint}/state?sequence=1"))
        .await;
    state.assert_status(StatusCode::OK);
    state.assert_has(&greek("audit_field_subject"));
    state.assert_has(&format!("{} (submitted)", greek("status_submitted")));
    state.assert_lacks("field-unlabelled");
    state.assert_has("id=\"state\"");

    // The certification and the protocol registration read in words too.
    for stream in [office.nikos_id.clone(), id(&office.request)] {
        let page = auditor.get(&format!("/audit/cases/{stream}")).await;
        page.assert_status(StatusCode::OK);
        page.assert_lacks("field-unlabelled");
    }
    let certification = auditor
        .get(&format!("/audit/cases/{}", office.nikos_id))
        .await;
    certification.assert_has(AFM);
    certification.assert_has(&format!(
        "{} (identity_card)",
        greek("document_identity_card")
    ));

    // The whole stream, to keep.
    let r = office
        .app
        .client
        .get(
            office
                .app
                .url(&format!("/audit/cases/{complaint}/events.json")),
        )
        .header("cookie", format!("portal_session={}", office.auditor))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"stream-{complaint}.json\"")
    );
    let file = json_body(r).await;
    assert_eq!(file["case_id"], complaint.as_str());
    assert_eq!(file["events"].as_array().unwrap().len(), 2);
    assert_eq!(file["events"][0]["type"], "RequestSubmitted");
    assert!(
        file["events"][1]["hash"].as_str().unwrap().len() == 64,
        "{file}"
    );
    assert_eq!(file["verification"]["valid"], true, "{file}");
    assert!(file["downloaded_at"].is_string());
    // Not for clerks.
    let mut clerk = Visitor::with_session(&office.app, Some(&office.clerk));
    clerk
        .get(&format!("/audit/cases/{complaint}/events.json"))
        .await
        .assert_status(StatusCode::FORBIDDEN);
}

/// A stream with an event the portal can no longer read (altered in the database): the
/// search still finds it, its page shows every record as stored and says from which event
/// the changes cannot be shown, and its state is the one before that event.
#[tokio::test]
async fn a_stream_with_an_unreadable_event_is_found_and_shown_as_stored() {
    let office = Office::open().await;
    let complaint = id(&office.complaint);
    let pool = &office.app.state.pool;
    let mut tx = pool.begin().await.unwrap();
    for sql in [
        "ALTER TABLE events DISABLE TRIGGER events_append_only",
        "UPDATE events SET payload = jsonb_set(payload, '{data,clerk}', '\"nobody\"'::jsonb) \
         WHERE aggregate_id = $1 AND sequence = 2",
        "ALTER TABLE events ENABLE TRIGGER events_append_only",
    ] {
        let q = sqlx::query(sql);
        let q = if sql.contains("$1") {
            q.bind(&complaint)
        } else {
            q
        };
        q.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();

    let number = office.complaint["number"].as_str().unwrap();
    assert_eq!(
        office.search(&format!("number={number}")).await.0,
        vec![complaint.clone()]
    );
    let mut auditor = Visitor::with_session(&office.app, Some(&office.auditor));
    let page = auditor.get(&format!("/audit/cases/{complaint}")).await;
    page.assert_status(StatusCode::OK);
    let said = page.text_of("undecodable");
    assert!(said.contains(" 2 "), "{said}");
    assert_eq!(page.body.matches("class=\"event-row\"").count(), 2);
    page.assert_has("nobody");
    // The altered event breaks the chain too.
    page.assert_has("tag tag--broken");
    let state = auditor
        .get(&format!("/audit/cases/{complaint}/state?sequence=2"))
        .await;
    state.assert_status(StatusCode::OK);
    state.assert_has(&format!("{} 1", greek("ui_audit_state_title")));
}
