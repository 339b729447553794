//! HTTP tests of the clerks' and auditors' pages (issue 3, contract: docs/pages.md): the
//! queue, a case's actions behind their confirmation page, field errors and refusals on
//! the case page, the CSRF check, and the auditor's events with the chain verification.
//! They log in through the pages themselves (the `portal_csrf` cookie and hidden field)
//! and keep their cookies by hand.

use crate::common::pages::Visitor;
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

const CITIZEN_EMAIL: &str = "maria@example.gr";
const CITIZEN_NAME: &str = "Μαρία Παπαδοπούλου";
const CITIZEN_PASSWORD: &str = "Κωδικός-Δοκιμής-42";
const CLERK_EMAIL: &str = "clerk@dimos.example.gr";
const CLERK_NAME: &str = "Γεώργιος Υπαλληλίδης";
const AUDITOR_EMAIL: &str = "auditor@dimos.example.gr";
const STAFF_PASSWORD: &str = "Υπάλληλος-Δήμου-2026";

const MESSAGES_EL: &str = "el";

fn greek(code: &str) -> String {
    let messages: Value = crate::common::catalog(MESSAGES_EL);
    messages[code]
        .as_str()
        .unwrap_or_else(|| panic!("el.ftl has no {code}"))
        .to_string()
}

/// Text as askama escapes it in a page (enough for the texts of these tests).
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
}

/// A portal with a citizen's submitted complaint and a clerk; answers (app, id, number).
async fn office_with_a_case(subject: &str) -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let token = app.citizen(CITIZEN_EMAIL, CITIZEN_NAME).await;
    let case = app.submit(&token, subject).await;
    app.staff("clerk", CLERK_EMAIL, CLERK_NAME).await;
    let id = case["id"].as_str().expect("case id").to_string();
    let number = case["number"].as_str().expect("case number").to_string();
    (app, id, number)
}

/// The case's status as the JSON API tells staff.
async fn status_of(app: &TestApp, id: &str) -> String {
    let token = app.login(CLERK_EMAIL, STAFF_PASSWORD).await;
    let r = app
        .get(&format!("/api/v1/staff/requests/{id}"), Some(&token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["case"]["status"].as_str().unwrap().to_string()
}

/// Takes the case into review through the JSON API (for tests about later actions).
async fn review_by_api(app: &TestApp, id: &str) {
    let token = app.login(CLERK_EMAIL, STAFF_PASSWORD).await;
    let r = app
        .post(
            &format!("/api/v1/staff/requests/{id}/review"),
            Some(&token),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn the_queue_lists_a_submitted_case_for_clerks_only() {
    let (app, id, number) = office_with_a_case("Λακκούβα στην οδό Αθηνάς").await;

    // A visitor is sent to log in first.
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/staff/requests").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login?next=")),
        "a visitor goes to {:?}",
        page.location
    );

    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let queue = clerk.get("/staff/requests").await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    queue.assert_has("id=\"queue\"");
    queue.assert_has("id=\"counts\"");
    queue.assert_has(&format!("href=\"/staff/requests/{id}\""));
    queue.assert_has(&number);
    queue.assert_has("Λακκούβα στην οδό Αθηνάς");
    queue.assert_has(CITIZEN_NAME);
    queue.assert_has(&format!(
        "<strong class=\"tag tag--submitted\">{}</strong>",
        greek("status_submitted")
    ));
    queue.assert_has("id=\"filter\"");
    assert_eq!(queue.body.matches("<h1").count(), 1, "one h1");

    // Filtering by another status leaves it out, and marks that status current.
    let filtered = clerk.get("/staff/requests?status=closed").await;
    assert_eq!(filtered.status, StatusCode::OK);
    filtered.assert_lacks(&number);
    filtered.assert_has("count-link--current\" href=\"/staff/requests?status=closed\"");
    // An unknown filter value is said next to the field.
    let wrong = clerk.get("/staff/requests?status=lost").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    wrong.assert_has("id=\"status-error\"");
    wrong.assert_has(&number);

    // A citizen is not staff.
    let mut citizen = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let refused = citizen.get("/staff/requests").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.assert_has(&greek("forbidden"));
    refused.assert_lacks(&number);
    let refused = citizen.get(&format!("/staff/requests/{id}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn review_asks_for_confirmation_and_acts_only_when_confirmed() {
    let (app, id, number) = office_with_a_case("Σπασμένο παγκάκι").await;
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let case_path = format!("/staff/requests/{id}");

    let case = clerk.get(&case_path).await;
    assert_eq!(case.status, StatusCode::OK, "{}", case.body);
    case.assert_has("id=\"action-review\"");
    case.assert_has("id=\"action-protocol\"");
    case.assert_has("id=\"action-close\"");
    // Neither answering nor changing the status before the review.
    case.assert_lacks("id=\"action-answer\"");
    case.assert_lacks("id=\"action-status\"");
    case.assert_has("id=\"timeline\"");
    case.assert_has(&number);

    // The first POST only asks.
    let confirm = clerk.post(&case, &format!("{case_path}/review"), &[]).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    confirm.assert_has("id=\"confirm\"");
    confirm.assert_has(&format!("id=\"cancel\" href=\"{case_path}\""));
    confirm.assert_has("name=\"confirmed\" value=\"yes\"");
    confirm.assert_has(CLERK_NAME);
    confirm.assert_has(&greek("status_in_review"));
    assert_eq!(status_of(&app, &id).await, "submitted", "asking acted");

    // Confirming acts, and the case page says so.
    let done = clerk
        .post(
            &confirm,
            &format!("{case_path}/review"),
            &[("confirmed", "yes")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{case_path}?done=review").as_str())
    );
    assert_eq!(status_of(&app, &id).await, "in_review");
    let after = clerk.get(&format!("{case_path}?done=review")).await;
    after.assert_has("class=\"panel-confirmation\"");
    after.assert_has(&greek("ui_staff_done_review"));
    after.assert_has("tag tag--in_review");
    after.assert_has(CLERK_NAME);
    after.assert_lacks("id=\"action-review\"");
    after.assert_has("id=\"action-answer\"");
    after.assert_has("id=\"answer-text\" name=\"text\"");
    after.assert_has("id=\"action-status\"");

    // Answering: the confirmation restates the answer, then it is recorded.
    let answer = "Το συνεργείο θα το αντικαταστήσει την Πέμπτη & την Παρασκευή.";
    let confirm = clerk
        .post(&after, &format!("{case_path}/answer"), &[("text", answer)])
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    confirm.assert_has(&escaped(answer));
    assert_eq!(status_of(&app, &id).await, "in_review");
    let done = clerk
        .post(
            &confirm,
            &format!("{case_path}/answer"),
            &[("text", answer), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(status_of(&app, &id).await, "answered");
    let after = clerk.get(done.location.as_deref().unwrap()).await;
    after.assert_has("class=\"panel-confirmation\"");
    after.assert_has(&escaped(answer));
    after.assert_has(&escaped(&greek("timeline_RequestAnswered")));
}

#[tokio::test]
async fn an_empty_answer_is_shown_next_to_its_field_and_nothing_happens() {
    let (app, id, _) = office_with_a_case("Θόρυβος τη νύχτα").await;
    review_by_api(&app, &id).await;
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let case_path = format!("/staff/requests/{id}");
    let case = clerk.get(&case_path).await;

    for fields in [
        vec![("text", "   ")],
        vec![("text", ""), ("confirmed", "yes")],
    ] {
        let page = clerk
            .post(&case, &format!("{case_path}/answer"), &fields)
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            page.body
        );
        page.assert_has("class=\"error-summary\"");
        page.assert_has("href=\"#answer-text\"");
        page.assert_has("class=\"field-error\" id=\"answer-text-error\"");
        page.assert_has("aria-invalid=\"true\" aria-describedby=\"answer-text-error");
        page.assert_has(&greek("answer_required"));
        page.assert_lacks("id=\"confirm\"");
        // The re-rendered forms still carry a token that works.
        assert_eq!(page.csrf_field(), case.csrf_field());
    }
    assert_eq!(status_of(&app, &id).await, "in_review");
}

#[tokio::test]
async fn a_rule_refusal_is_said_on_the_case_page_and_keeps_what_was_typed() {
    let (app, id, _) = office_with_a_case("Κλαδιά στο πεζοδρόμιο").await;
    review_by_api(&app, &id).await;
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let case_path = format!("/staff/requests/{id}");
    let case = clerk.get(&case_path).await;

    // "Not competent" needs a note: said next to the note, the reason kept.
    let page = clerk
        .post(
            &case,
            &format!("{case_path}/close"),
            &[
                ("reason", "not_competent"),
                ("note", ""),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    page.assert_has("id=\"close-note-error\"");
    page.assert_has("<option value=\"not_competent\" selected>");
    assert_eq!(status_of(&app, &id).await, "in_review");

    // Closing with a note, through its confirmation.
    let note = "Διαβιβάστηκε στην Περιφέρεια.";
    let confirm = clerk
        .post(
            &case,
            &format!("{case_path}/close"),
            &[("reason", "not_competent"), ("note", note)],
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    confirm.assert_has(&greek("close_reason_not_competent"));
    confirm.assert_has(note);
    let done = clerk
        .post(
            &confirm,
            &format!("{case_path}/close"),
            &[
                ("reason", "not_competent"),
                ("note", note),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let closed = clerk.get(&case_path).await;
    closed.assert_has("tag tag--closed");
    for action in ["review", "answer", "status", "protocol", "close"] {
        closed.assert_lacks(&format!("id=\"action-{action}\""));
    }
    closed.assert_has("id=\"timeline\"");

    // A stale page answering a closed case: the rule's Greek message, the text kept.
    let answer = "Καθυστερημένη απάντηση.";
    let page = clerk
        .post(
            &case,
            &format!("{case_path}/answer"),
            &[("text", answer), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    page.assert_has("class=\"error-summary\"");
    page.assert_has(&greek("case_closed"));
    assert_eq!(status_of(&app, &id).await, "closed");
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let (app, id, _) = office_with_a_case("Χαλασμένος φανοστάτης").await;
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let path = format!("/staff/requests/{id}/review");

    let refused = clerk.post_raw(&path, &[("confirmed", "yes")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.assert_has(&greek("csrf_failed"));
    let wrong = clerk
        .post_raw(
            &path,
            &[
                ("csrf_token", "not-the-token-of-this-browser-0123456789"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, &id).await, "submitted");
}

#[tokio::test]
async fn the_auditor_sees_the_events_and_a_valid_chain() {
    let (app, id, number) = office_with_a_case("Παράνομη στάθμευση").await;
    review_by_api(&app, &id).await;
    app.staff("auditor", AUDITOR_EMAIL, "Ελένη Ελεγκτή").await;

    // Clerks do not audit.
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    assert_eq!(clerk.get("/audit").await.status, StatusCode::FORBIDDEN);

    let mut auditor = Visitor::log_in(&app, AUDITOR_EMAIL, STAFF_PASSWORD).await;
    let form = auditor.get("/audit").await;
    assert_eq!(form.status, StatusCode::OK);
    form.assert_has("<label class=\"label\" for=\"number\">");
    // The case is found by its id as well as by its number.
    let found = auditor.get(&format!("/audit?number=+{id}+")).await;
    assert_eq!(found.status, StatusCode::OK);
    found.assert_has(&format!("href=\"/audit/cases/{id}\""));

    let page = auditor.get(&format!("/audit/cases/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.assert_has("id=\"events\"");
    assert_eq!(page.body.matches("class=\"event-row\"").count(), 2);
    page.assert_has("RequestSubmitted");
    page.assert_has("RequestTakenIntoReview");
    page.assert_has(&number);
    page.assert_has("class=\"payload\"");
    page.assert_has("class=\"hash\"");
    page.assert_has(&format!("/audit/cases/{id}/state?sequence=2"));
    page.assert_has("id=\"verification\"");
    page.assert_has("tag tag--valid");
    page.assert_lacks("tag--broken");
    let english = auditor.get(&format!("/audit/cases/{id}?lang=en")).await;
    english.assert_has("The chain is valid");

    let state = auditor
        .get(&format!("/audit/cases/{id}/state?sequence=1"))
        .await;
    assert_eq!(state.status, StatusCode::OK, "{}", state.body);
    state.assert_has("submitted");
    state.assert_lacks("in_review");

    // Altering the first event breaks the chain there.
    let mut tx = app.state.pool.begin().await.unwrap();
    for sql in [
        "ALTER TABLE events DISABLE TRIGGER events_append_only",
        "UPDATE events SET payload = jsonb_set(payload, '{data,subject}', to_jsonb('Αλλοιωμένο'::text)) \
         WHERE aggregate_id = $1 AND sequence = 1",
        "ALTER TABLE events ENABLE TRIGGER events_append_only",
    ] {
        let q = sqlx::query(sql);
        let q = if sql.contains("$1") { q.bind(&id) } else { q };
        q.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let broken = auditor.get(&format!("/audit/cases/{id}?lang=en")).await;
    assert_eq!(broken.status, StatusCode::OK);
    broken.assert_has("tag tag--broken");
    broken.assert_has("The chain is broken at sequence <strong>1</strong>");
}
