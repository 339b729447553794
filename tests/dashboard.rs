//! The clerks' dashboard (issue 16): the figures of cases per status and category, those
//! past their deadline, the time to answer per month, payments per day — as JSON, as CSV
//! and as a page with charts and tables; staff only.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Athens;
use domain::request::{Place, RequestCommand, RequestKind, StaffMember, Submitter};
use domain::values::{AnswerText, CaseNumber, CaseText, Subject};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::pages::Visitor;
use crate::common::{json_body, TestApp};

fn metadata() -> commands::CommandMetadata {
    commands::CommandMetadata {
        actor_id: "test".into(),
        role: "citizen".into(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        client_ip: None,
        session: None,
        open311_client: None,
    }
}

/// Files an anonymous request of `category` as of `at`, through the real command (the API
/// files only as of now), and answers its id.
async fn file_as_of(app: &TestApp, category: &str, at: DateTime<Utc>) -> String {
    let submitter = Submitter::Anonymous {
        tracking_code_sha256: uuid::Uuid::new_v4().simple().to_string(),
    };
    file_by_as_of(app, submitter, category, at).await
}

/// Files a request of `category` by `submitter` as of `at`; answers its id.
async fn file_by_as_of(
    app: &TestApp,
    submitter: Submitter,
    category: &str,
    at: DateTime<Utc>,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let year = commands::case_numbers::year_of(Utc::now());
    app.state
        .requests
        .create_numbered(
            &id,
            year,
            RequestCommand::Submit {
                id: id.clone(),
                number: CaseNumber::to_be_assigned(year),
                // A comment is anonymous; a named submission files a complaint.
                kind: if matches!(submitter, Submitter::Anonymous { .. }) {
                    RequestKind::Comment
                } else {
                    RequestKind::Complaint
                },
                subject: Subject::parse("Παλαιότερο αίτημα").unwrap(),
                text: CaseText::parse("Υποβλήθηκε πριν από εβδομάδες.").unwrap(),
                desired_action: None,
                submitter,
                at,
                place: Place {
                    category: Some(category.into()),
                    address: Some("Αιόλου 3".into()),
                    ..Place::default()
                },
            },
            metadata(),
        )
        .await
        .expect("the submission is stored");
    id
}

fn clerk() -> StaffMember {
    StaffMember {
        account_id: "clerk-1".into(),
        name: "Υπάλληλος".into(),
    }
}

/// Runs `command` on request `id`.
async fn execute(app: &TestApp, id: &str, command: RequestCommand) {
    app.state
        .requests
        .execute(id, command, metadata())
        .await
        .expect("the command is stored");
}

/// Reviews and answers request `id` as of `at`.
async fn answer_as_of(app: &TestApp, id: &str, at: DateTime<Utc>) {
    let clerk = clerk();
    for command in [
        RequestCommand::TakeIntoReview {
            clerk: clerk.clone(),
            at,
        },
        RequestCommand::Answer {
            clerk: clerk.clone(),
            text: AnswerText::parse("Έγινε.").unwrap(),
            at,
        },
    ] {
        execute(app, id, command).await;
    }
}

fn count(list: &Value, key: Option<&str>) -> i64 {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"].as_str() == key)
        .map_or(0, |c| c["count"].as_i64().unwrap())
}

#[tokio::test]
async fn clerks_see_cases_by_status_and_category_overdue_ones_and_answer_times() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff(
            "clerk",
            "clerk.dashboard@dimos.example.gr",
            "Υπάλληλος Πίνακα",
        )
        .await;
    let citizen = app
        .citizen("maria.dashboard@example.gr", "Μαρία Πίνακα")
        .await;
    let now = Utc::now();
    // Filed now through the API: two street lights, a pothole, one without a category.
    for body in [
        json!({"kind": "complaint", "subject": "Φανοστάτης", "text": "Σβηστός.",
               "category": "street_light", "attributes": {"lamp_post_number": "1"}}),
        json!({"kind": "complaint", "subject": "Φανοστάτης", "text": "Σβηστός.",
               "category": "street_light", "attributes": {"lamp_post_number": "2"}}),
        json!({"kind": "complaint", "subject": "Λακκούβα", "text": "Μεγάλη.",
               "category": "pothole", "address": "Ερμού 1"}),
        json!({"kind": "proposal", "subject": "Πρόταση", "text": "Ένα πάρκο."}),
    ] {
        let r = app.post("/api/v1/requests", Some(&citizen), body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // Filed weeks ago: a pothole 20 days ago (deadline 15: 5 days late), rubbish 40 days
    // ago (deadline 5: 35 days late), a street light 30 days ago answered 5 days later
    // (answered: not late).
    file_as_of(&app, "pothole", now - Duration::days(20)).await;
    file_as_of(&app, "rubbish", now - Duration::days(40)).await;
    let answered = file_as_of(&app, "street_light", now - Duration::days(30)).await;
    answer_as_of(&app, &answered, now - Duration::days(25)).await;

    let stats = stats(&app, &clerk).await;
    let by_category = &stats["requests_by_category"];
    assert_eq!(count(by_category, Some("street_light")), 3, "{stats}");
    assert_eq!(count(by_category, Some("pothole")), 2);
    assert_eq!(count(by_category, Some("rubbish")), 1);
    assert_eq!(count(by_category, None), 1);
    let labels: Vec<&str> = by_category
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"Σβηστός ή χαλασμένος φανοστάτης"),
        "{labels:?}"
    );
    assert!(labels.contains(&"Χωρίς κατηγορία"), "{labels:?}");
    assert_eq!(count(&stats["requests_by_status"], Some("submitted")), 6);
    assert_eq!(count(&stats["requests_by_status"], Some("answered")), 1);
    assert_eq!(overdue_requests(&stats), (1, 0, 1), "{stats}");
    assert_eq!(stats["overdue"][1]["what"], "applications");
    // The answer 5 days after submission, in the month it was given.
    let month = (now - Duration::days(25))
        .with_timezone(&Athens)
        .format("%Y-%m")
        .to_string();
    let times = stats["answer_times"].as_array().unwrap();
    assert_eq!(times.len(), 1, "{stats}");
    assert_eq!(times[0]["month"], month.as_str());
    assert_eq!(times[0]["answered"], 1);
    assert!((times[0]["median_days"].as_f64().unwrap() - 5.0).abs() < 0.01);
    // Thirty days of payments, every day listed, none yet.
    let days = stats["payments_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(
        days[29]["day"],
        now.with_timezone(&Athens).date_naive().to_string()
    );
    assert!(days.iter().all(|d| d["payments"] == 0));

    // English labels for an English reader.
    let r = app
        .client
        .get(app.url("/api/v1/staff/stats"))
        .bearer_auth(&clerk)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    let english = json_body(r).await;
    assert!(english["requests_by_category"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["label"] == "Street light out or broken"));

    // The CSV, for a spreadsheet.
    let r = app
        .client
        .get(app.url("/api/v1/staff/stats.csv"))
        .bearer_auth(&clerk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"dashboard-"));
    let csv = r.text().await.unwrap();
    // For Greek Excel: `;` between cells, CRLF, decimal commas.
    assert!(
        csv.starts_with("\u{FEFF}figure;key;label;value\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("requests_by_category;street_light;Σβηστός ή χαλασμένος φανοστάτης;3\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("overdue_requests_days;days_over_30;Αιτήματα;1\r\n"),
        "{csv}"
    );
    assert!(csv.contains(&format!("answered;{month};;1\r\n")), "{csv}");
    assert!(
        csv.contains(&format!("answer_median_days;{month};;5,0\r\n")),
        "{csv}"
    );

    // The page: a chart and a table for each figure.
    let mut v = Visitor::with_session(&app, Some(&clerk));
    // The clerk's work overview counts the same two requests past their deadline (issue 17).
    let overview = v.get("/staff").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert_eq!(overview.text_of("work-requests-overdue"), "2 Εκπρόθεσμα");
    let page = v.get("/staff/dashboard").await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_has("<h1 class=\"heading-xl\">Πίνακας στοιχείων</h1>");
    for id in [
        "chart-requests-by-status",
        "chart-requests-by-category",
        "chart-overdue",
        "chart-answer-times",
        "chart-payments",
        "table-requests-by-category",
        "table-overdue",
        "table-answer-times",
        "table-payments",
    ] {
        page.assert_has(&format!("id=\"{id}\""));
    }
    page.assert_has("role=\"img\" aria-labelledby=\"chart-requests-by-category-title\"");
    page.assert_has(
        "<th scope=\"row\">Σβηστός ή χαλασμένος φανοστάτης</th><td class=\"table__numeric\">3</td>",
    );
    page.assert_has("id=\"nav-staff-dashboard\"");
    page.assert_has("href=\"/staff/dashboard.csv\"");
    // The page's CSV is in the page's language, whatever the browser's.
    let english = v.get("/staff/dashboard.csv?lang=en").await;
    assert_eq!(english.status, StatusCode::OK);
    assert_eq!(english.content_type, "text/csv; charset=utf-8");
    assert!(
        english
            .body
            .contains("requests_by_category;street_light;Street light out or broken;3\r\n"),
        "{}",
        english.body
    );

    // Clerks and administrators only: not a citizen, not an auditor.
    let r = app.get("/api/v1/staff/stats", Some(&citizen)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let auditor = app
        .staff("auditor", "auditor.dashboard@dimos.example.gr", "Ελέγκτρια")
        .await;
    let r = app.get("/api/v1/staff/stats", Some(&auditor)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = Visitor::with_session(&app, Some(&auditor))
        .get("/staff/dashboard")
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let r = app.get("/api/v1/staff/stats.csv", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let page = Visitor::with_session(&app, Some(&citizen))
        .get("/staff/dashboard")
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    page.assert_lacks("chart-requests-by-status");
    let csv = Visitor::with_session(&app, Some(&citizen))
        .get("/staff/dashboard.csv")
        .await;
    assert_eq!(csv.status, StatusCode::FORBIDDEN);
}

/// The dashboard's figures as `clerk` reads them.
async fn stats(app: &TestApp, clerk: &str) -> Value {
    let r = app.get("/api/v1/staff/stats", Some(clerk)).await;
    assert_eq!(r.status(), StatusCode::OK);
    json_body(r).await
}

/// The requests past their deadline, by range: (1–7, 8–30, over 30 days late).
fn overdue_requests(stats: &Value) -> (i64, i64, i64) {
    let row = &stats["overdue"][0];
    assert_eq!(row["what"], "requests");
    let n = |k: &str| row[k].as_i64().unwrap();
    (n("up_to_a_week"), n("up_to_a_month"), n("over_a_month"))
}

/// The dashboard's read model keeps its counts as a case moves: a status a case leaves is
/// counted one less (and left out at zero), a closed case is no longer late and a reopened
/// one is again; a rebuild of the read models counts the same.
#[tokio::test]
async fn the_dashboard_follows_a_case_from_status_to_status_and_a_rebuild_counts_the_same() {
    let app = TestApp::spawn().await;
    let clerk_token = app
        .staff(
            "clerk",
            "clerk.moves@dimos.example.gr",
            "Υπάλληλος Κινήσεων",
        )
        .await;
    let citizen = app
        .citizen("eleni.moves@example.gr", "Ελένη Κινήσεων")
        .await;
    let account_id = json_body(app.get("/api/v1/me", Some(&citizen)).await).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = Utc::now();
    // A pothole filed 20 days ago (deadline 15 days): 5 days late.
    let submitter = Submitter::Citizen {
        account_id: account_id.clone(),
        name: "Ελένη Κινήσεων".into(),
    };
    let id = file_by_as_of(&app, submitter, "pothole", now - Duration::days(20)).await;
    let s = stats(&app, &clerk_token).await;
    assert_eq!(count(&s["requests_by_status"], Some("submitted")), 1, "{s}");
    assert_eq!(count(&s["requests_by_category"], Some("pothole")), 1, "{s}");
    assert_eq!(overdue_requests(&s), (1, 0, 0), "{s}");

    execute(
        &app,
        &id,
        RequestCommand::TakeIntoReview {
            clerk: clerk(),
            at: now,
        },
    )
    .await;
    let s = stats(&app, &clerk_token).await;
    let statuses: Vec<&str> = s["requests_by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["in_review"],
        "a status no case has is left out: {s}"
    );
    assert_eq!(overdue_requests(&s), (1, 0, 0), "still owed an answer: {s}");

    execute(
        &app,
        &id,
        RequestCommand::Close {
            clerk: clerk(),
            reason: domain::request::CloseReason::Done,
            note: None,
            at: now,
        },
    )
    .await;
    let s = stats(&app, &clerk_token).await;
    assert_eq!(count(&s["requests_by_status"], Some("closed")), 1, "{s}");
    assert_eq!(count(&s["requests_by_status"], Some("in_review")), 0, "{s}");
    assert_eq!(
        overdue_requests(&s),
        (0, 0, 0),
        "a closed case is not late: {s}"
    );

    execute(
        &app,
        &id,
        RequestCommand::Reopen {
            account_id,
            reason: domain::values::Note::parse("Η λακκούβα άνοιξε ξανά.").unwrap(),
            at: now,
        },
    )
    .await;
    let s = stats(&app, &clerk_token).await;
    assert_eq!(count(&s["requests_by_status"], Some("reopened")), 1, "{s}");
    assert_eq!(count(&s["requests_by_status"], Some("closed")), 0, "{s}");
    assert_eq!(count(&s["requests_by_category"], Some("pothole")), 1, "{s}");
    assert_eq!(
        overdue_requests(&s),
        (1, 0, 0),
        "reopened, it is late again: {s}"
    );
    // The clerk's work overview counts from the same read model.
    let overview = Visitor::with_session(&app, Some(&clerk_token))
        .get("/staff")
        .await;
    assert_eq!(overview.text_of("work-requests-overdue"), "1 Εκπρόθεσμα");

    let before: Vec<(String, String, String, i64)> =
        sqlx::query_as("SELECT what, dimension, key, count FROM dashboard_counts ORDER BY 1, 2, 3")
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
    assert!(
        before.contains(&("requests".into(), "status".into(), "submitted".into(), 0)),
        "a count that fell to zero stays, as 0: {before:?}"
    );
    crate::common::assert_a_rebuild_of_everything_changes_nothing(&app.state.pool).await;
    assert_eq!(stats(&app, &clerk_token).await, s);
}
