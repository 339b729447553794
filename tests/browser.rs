//! Browser tests of the web pages (issue 3, contract: docs/pages.md): a real Chromium,
//! driven through chromedriver by fantoccini, walks the citizens', clerks' and auditors'
//! journeys against a real portal and PostgreSQL. Every page loaded is checked with
//! axe-core (no serious or critical violations) and the main pages are saved as
//! screenshots in docs/screenshots/. Needs `scripts/setup-browser-tests`.

mod harness;

use crate::common::TestApp;
use fantoccini::key::Key;
use harness::Browser;
use serde_json::json;

/// The passwords `TestApp::citizen` and `TestApp::staff` give the accounts they create.
const CITIZEN_PASSWORD: &str = "Κωδικός-Δοκιμής-42";
const STAFF_PASSWORD: &str = "Υπάλληλος-Δήμου-2026";

const CITIZEN_NAME: &str = "Μαρία Παπαδοπούλου";
const CLERK_NAME: &str = "Γεώργιος Υπαλληλίδης";
const AUDITOR_NAME: &str = "Ελένη Ελεγκτή";

/// The services of the seed guide that the home page lists.
const SERVICES: [&str; 4] = [
    "Αιτήματα – Καταγγελίες Πολιτών",
    "Πιστοποιητικά – Βεβαιώσεις",
    "Πληρωμή Προστίμων ΚΟΚ",
    "Υπηρεσίες προς Επιχειρήσεις",
];

/// Α.Α. of a case as the portal prints it: year/serial.
fn looks_like_case_number(text: &str) -> bool {
    let mut parts = text.trim().split('/');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(year), Some(serial), None)
            if year.len() == 4
                && serial.len() == 6
                && year.chars().chain(serial.chars()).all(|c| c.is_ascii_digit())
    )
}

/// The case page's status: `#case-status` is the tag, or holds it.
fn status_tag(status: &str) -> String {
    format!("#case-status.tag.tag--{status}, #case-status strong.tag.tag--{status}")
}

/// Logs in through the /login page and lands on «Τα αιτήματά μου» (or `?next=`).
async fn log_in(b: &mut Browser, email: &str, password: &str) {
    b.open("/login").await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click_and_load("button#submit").await;
    assert!(
        b.find_now("button#logout").await.is_some(),
        "after logging in as {email} the header has no button#logout (page {})",
        b.path().await
    );
}

/// Opens the activation link e-mailed to `email` and activates the account.
async fn activate(b: &mut Browser, app: &TestApp, email: &str) {
    let token = app.emailed_token("activate", email).await;
    b.open(&format!("/activate/{token}")).await;
    b.click_and_load("button#activate").await;
    assert!(
        b.find_now("#account-activated").await.is_some(),
        "the account of {email} is not activated: {}",
        b.shown_text().await
    );
}

async fn log_out(b: &mut Browser) {
    b.click_and_load("button#logout").await;
    assert!(
        b.find_now("button#logout").await.is_none(),
        "still logged in after «Έξοδος» (page {})",
        b.path().await
    );
}

/// Performs a clerk's action from the staff case page: the action button, the
/// confirmation page (which repeats what will happen), «confirm», and back on the case
/// page with a confirmation panel.
async fn clerk_action(b: &mut Browser, button: &str, repeated: &[&str], screenshot: Option<&str>) {
    let path = b.path().await;
    let case_page = path.split('?').next().unwrap_or_default().to_string();
    b.click_and_load(button).await;
    b.find("button#confirm").await;
    b.find("a#cancel").await;
    let confirmation = b.text("main").await;
    for text in repeated {
        assert!(
            confirmation.contains(text),
            "the confirmation page of {button} does not repeat {text:?}: {confirmation}"
        );
    }
    if let Some(name) = screenshot {
        b.screenshot(name).await;
    }
    b.click_and_load("button#confirm").await;
    let back = b.path().await;
    assert!(
        back.split('?').next() == Some(case_page.as_str()),
        "after confirming {button} the browser is on {back}, not back on {case_page}"
    );
    b.find(".panel-confirmation").await;
}

/// Chromium, chromedriver and axe-core work together: a plain JSON answer of the
/// portal loads, and axe-core runs in it and finds what such a page lacks.
#[tokio::test]
async fn the_harness_drives_chromium_and_runs_axe() {
    let app = TestApp::spawn().await;
    let b = Browser::start(&app.base).await;
    b.open_unchecked("/healthz").await;
    let body = b.text("body").await;
    // The health answer, whatever it says: the page came through Chromium.
    assert!(body.contains("\"database\""), "healthz shows {body}");
    let found: Vec<String> = b.axe_violations().await.into_iter().map(|v| v.id).collect();
    assert!(
        found
            .iter()
            .any(|id| id == "html-has-lang" || id == "document-title"),
        "axe-core finds nothing wrong with a bare JSON page: {found:?}"
    );
    b.finish().await;
}

/// (a) register → login → «Νέο Αίτημα» (a complaint) → the confirmation shows the Α.Α.
/// → the case is in «Τα αιτήματά μου» → its page; then «Τα στοιχεία μου».
#[tokio::test]
async fn a_citizen_registers_submits_a_complaint_and_finds_it() {
    let app = TestApp::spawn().await;
    let mut b = Browser::start(&app.base).await;
    let email = "maria@example.gr";

    b.open("/").await;
    let home = b.text("main").await;
    for service in SERVICES {
        assert!(home.contains(service), "the home page lacks «{service}»");
    }
    b.screenshot("home").await;

    b.open("/register").await;
    b.fill("#email", email).await;
    b.fill("#password", CITIZEN_PASSWORD).await;
    b.fill("#full_name", CITIZEN_NAME).await;
    b.screenshot("register").await;
    b.click_and_load("button#submit").await;
    assert!(
        b.find_now(".error-summary").await.is_none(),
        "registration refused: {}",
        b.text("main").await
    );
    assert!(b.find_now("#registration-sent").await.is_some());
    b.screenshot("register-sent").await;
    activate(&mut b, &app, email).await;
    log_in(&mut b, email, CITIZEN_PASSWORD).await;
    assert_eq!(
        b.path().await,
        "/requests",
        "login lands on «Τα αιτήματά μου»"
    );

    b.open("/requests/new").await;
    b.click("#kind-complaint").await;
    b.fill("#subject", "Σπασμένο πεζοδρόμιο στην οδό Ερμού")
        .await;
    b.fill("#text", "Το πεζοδρόμιο μπροστά στο 12 έχει σπάσει.")
        .await;
    b.fill("#desired_action", "Να επισκευαστεί.").await;
    b.click_and_load("button#submit").await;

    let path = b.path().await;
    assert!(
        path.starts_with("/requests/") && path.ends_with("?submitted=1"),
        "«Υποβολή» lands on {path}, not /requests/{{id}}?submitted=1"
    );
    let case_path = path.trim_end_matches("?submitted=1").to_string();
    let number = b.text("#case-number").await;
    assert!(looks_like_case_number(&number), "Α.Α. is {number:?}");
    let panel = b.text(".panel-confirmation").await;
    assert!(
        panel.contains(&number),
        "the confirmation panel does not show the Α.Α. {number}: {panel:?}"
    );
    b.screenshot("confirmation").await;

    b.open("/requests").await;
    let rows = b.find_all("table#my-requests tr.case-row").await;
    assert_eq!(rows.len(), 1, "«Τα αιτήματά μου» lists one case");
    let row = b.text("table#my-requests tr.case-row").await;
    assert!(row.contains(&number), "the row lacks the Α.Α.: {row}");
    assert!(
        row.contains("Σπασμένο πεζοδρόμιο"),
        "the row lacks the subject: {row}"
    );
    b.find("tr.case-row strong.tag.tag--submitted").await;
    b.screenshot("my-requests").await;

    b.click_and_load("tr.case-row a.case-link").await;
    assert_eq!(b.path().await, case_path, "the case link opens the case");
    assert_eq!(b.text("#case-number").await, number);
    let main = b.text("main").await;
    for part in [
        "Σπασμένο πεζοδρόμιο στην οδό Ερμού",
        "Το πεζοδρόμιο μπροστά στο 12 έχει σπάσει.",
        "Να επισκευαστεί.",
    ] {
        assert!(main.contains(part), "the case page lacks {part:?}");
    }
    b.find(&status_tag("submitted")).await;
    assert!(
        !b.find_all("ol#timeline > li.timeline-entry")
            .await
            .is_empty(),
        "the timeline is empty"
    );
    b.click_and_load("a#refresh").await;
    assert_eq!(b.path().await, case_path, "«Ενημέρωση» reloads the case");

    b.open("/profile").await;
    assert_eq!(b.value("#full_name").await, CITIZEN_NAME);
    b.fill("#father_name", "Ιωάννης").await;
    b.fill("#address", "Ερμού 12, Αθήνα").await;
    b.fill("#phone", "2101234567").await;
    b.click_and_load("button#submit").await;
    b.find(".panel-confirmation").await;
    b.open("/profile").await;
    assert_eq!(
        b.value("#father_name").await,
        "Ιωάννης",
        "the profile is kept"
    );

    log_out(&mut b).await;
    b.finish().await;
}

/// (b) the anonymous «Αίτημα – Σχόλιο»: the tracking code is shown, and /track/{code}
/// (also reached through the /track form) shows the status.
#[tokio::test]
async fn an_anonymous_comment_gets_a_tracking_code() {
    let app = TestApp::spawn().await;
    let mut b = Browser::start(&app.base).await;

    b.open("/anonymous").await;
    b.fill("#subject", "Φωτισμός στην πλατεία").await;
    b.fill(
        "#text",
        "Οι λάμπες στην πλατεία είναι σβηστές εδώ και μια εβδομάδα.",
    )
    .await;
    b.fill("#desired_action", "Να αλλαχτούν οι λάμπες.").await;
    b.click_and_load("button#submit").await;

    let main = b.text("main").await;
    let code = b.text("#tracking-code").await.trim().to_string();
    assert!(code.len() >= 12, "tracking code {code:?}");
    // Post/redirect/get (issue 17): the confirmation is a page of its own, and loading it
    // again (a reload) files nothing again.
    let confirmation = b.path().await;
    assert!(
        confirmation.starts_with("/track/") && confirmation.ends_with("?submitted=1"),
        "{confirmation}"
    );
    b.open(&confirmation).await;
    assert_eq!(b.text("#tracking-code").await.trim(), code);
    let filed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'RequestSubmitted'")
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    assert_eq!(filed, 1, "a reload filed the comment again");
    b.phone().await;
    b.screenshot("phone-anonymous-confirmation").await;
    b.desktop().await;
    assert!(
        main.lines()
            .any(|l| looks_like_case_number(l) || l.split_whitespace().any(looks_like_case_number)),
        "the confirmation does not show the Α.Α.: {main}"
    );
    b.screenshot("anonymous-confirmation").await;

    b.click_and_load("main a[href*=\"/track/\"]").await;
    let path = b.path().await;
    assert!(
        path.starts_with("/track/"),
        "the tracking link opens {path}"
    );
    b.find("strong.tag.tag--submitted").await;
    let tracked = b.text("main").await;
    assert!(
        tracked.contains("Φωτισμός στην πλατεία"),
        "the tracking page does not say which case: {tracked}"
    );
    b.screenshot("tracking").await;

    b.open("/track").await;
    b.fill("#code", &code).await;
    b.click_and_load("form:has(#code) button").await;
    assert!(
        b.path().await.starts_with("/track/"),
        "the /track form leads to {}",
        b.path().await
    );
    b.find("strong.tag.tag--submitted").await;

    // A clerk answers (through the API): the tracking page shows the answer and the
    // status, but not who handled the case.
    let tracked = crate::common::json_body(
        app.get(&format!("/api/v1/requests/track/{code}"), None)
            .await,
    )
    .await;
    let id = tracked["case"]["id"].as_str().expect("case id").to_string();
    let clerk = app
        .staff("clerk", "clerk@dimos.example.gr", CLERK_NAME)
        .await;
    let answer = "Οι λάμπες αλλάχτηκαν.";
    for (action, body) in [("review", json!({})), ("answer", json!({"text": answer}))] {
        let r = app
            .post(
                &format!("/api/v1/staff/requests/{id}/{action}"),
                Some(&clerk),
                body,
            )
            .await;
        assert!(
            r.status().is_success(),
            "{action}: {}",
            r.text().await.unwrap()
        );
    }
    app.read_models_caught_up().await;
    b.open(&format!("/track/{code}")).await;
    b.find("strong.tag.tag--answered").await;
    let tracked = b.text("main").await;
    assert!(
        tracked.contains(answer),
        "the tracking page lacks the answer: {tracked}"
    );
    assert!(
        !tracked.contains(CLERK_NAME),
        "the tracking page names the clerk: {tracked}"
    );
    b.finish().await;
}

/// (c) a clerk takes a case into review and answers it through the staff pages, each
/// action behind its confirmation page; the citizen then sees the answer and a new
/// timeline entry.
#[tokio::test]
async fn a_clerk_answers_and_the_citizen_sees_the_answer() {
    let app = TestApp::spawn().await;
    let citizen_email = "maria@example.gr";
    let clerk_email = "clerk@dimos.example.gr";
    let token = app.citizen(citizen_email, CITIZEN_NAME).await;
    let case = app.submit(&token, "Λακκούβα στην οδό Αθηνάς").await;
    let id = case["id"].as_str().expect("case id").to_string();
    let number = case["number"].as_str().expect("case number").to_string();
    app.staff("clerk", clerk_email, CLERK_NAME).await;
    let mut b = Browser::start(&app.base).await;

    log_in(&mut b, citizen_email, CITIZEN_PASSWORD).await;
    b.open(&format!("/requests/{id}")).await;
    let entries_before = b.find_all("ol#timeline > li.timeline-entry").await.len();
    log_out(&mut b).await;

    log_in(&mut b, clerk_email, STAFF_PASSWORD).await;
    b.open("/staff/requests").await;
    b.find("ul#counts").await;
    let queue = b.text("table#queue").await;
    assert!(queue.contains(&number), "the queue lacks {number}: {queue}");
    b.screenshot("clerk-queue").await;
    b.select("select#status", "answered").await;
    b.click_and_load("button#filter").await;
    assert!(
        b.find_now(&format!("table#queue a[href$=\"/staff/requests/{id}\"]"))
            .await
            .is_none(),
        "the filter «answered» still lists the new case"
    );
    b.select("select#status", "submitted").await;
    b.select("select#kind", "complaint").await;
    b.click_and_load("button#filter").await;
    b.click_and_load(&format!("table#queue a[href$=\"/staff/requests/{id}\"]"))
        .await;
    assert_eq!(b.path().await, format!("/staff/requests/{id}"));

    clerk_action(&mut b, "button#action-review", &[CLERK_NAME], None).await;
    b.find(&status_tag("in_review")).await;

    let answer = "Το συνεργείο θα επισκευάσει το οδόστρωμα την Πέμπτη.";
    b.fill("textarea#answer-text", answer).await;
    clerk_action(
        &mut b,
        "button#action-answer",
        &[answer],
        Some("clerk-confirm"),
    )
    .await;
    b.find(&status_tag("answered")).await;
    let clerk_view = b.text("main").await;
    assert!(
        clerk_view.contains(answer),
        "the clerk's case page lacks the answer"
    );

    clerk_action(&mut b, "button#action-protocol", &[], None).await;
    let protocol_number = b.text("#protocol-number").await;
    assert!(
        !protocol_number.trim().is_empty(),
        "no protocol number after registering in the protocol"
    );
    b.screenshot("clerk-case").await;
    log_out(&mut b).await;
    app.read_models_caught_up().await;

    log_in(&mut b, citizen_email, CITIZEN_PASSWORD).await;
    b.open(&format!("/requests/{id}")).await;
    assert!(
        b.text("#case-answer").await.contains(answer),
        "the citizen does not see the answer"
    );
    b.find(&status_tag("answered")).await;
    assert_eq!(
        b.text("#protocol-number").await.trim(),
        protocol_number.trim()
    );
    assert!(!b.text("#protocol-date").await.trim().is_empty());
    let entries_after = b.find_all("ol#timeline > li.timeline-entry").await.len();
    assert!(
        entries_after > entries_before,
        "the timeline has {entries_after} entries after the answer, {entries_before} before"
    );
    b.screenshot("case-answered").await;
    // The record to keep: the link on the page answers a PDF in the citizen's session.
    let fetched = b
        .eval(
            "const r = new XMLHttpRequest(); \
             r.open('GET', document.querySelector('a#download-record').href, false); \
             r.overrideMimeType('text/plain; charset=x-user-defined'); r.send(); \
             return [r.status, r.getResponseHeader('content-type'), r.responseText.slice(0, 5)];",
        )
        .await;
    assert_eq!(
        fetched,
        json!([200, "application/pdf", "%PDF-"]),
        "{fetched}"
    );
    b.finish().await;
}

/// A clerk changes the status and closes the case through the staff page (the close
/// behind its confirmation, with the reason and note repeated); the citizen sees it
/// closed and reopens it with a reason.
#[tokio::test]
async fn a_clerk_closes_and_the_citizen_reopens() {
    let app = TestApp::spawn().await;
    let citizen_email = "maria@example.gr";
    let clerk_email = "clerk@dimos.example.gr";
    let token = app.citizen(citizen_email, CITIZEN_NAME).await;
    let case = app.submit(&token, "Κομμένο δέντρο").await;
    let id = case["id"].as_str().expect("case id").to_string();
    let clerk = app.staff("clerk", clerk_email, CLERK_NAME).await;
    let r = app
        .post(
            &format!("/api/v1/staff/requests/{id}/review"),
            Some(&clerk),
            json!({}),
        )
        .await;
    assert!(
        r.status().is_success(),
        "review: {}",
        r.text().await.unwrap()
    );
    app.read_models_caught_up().await;
    let mut b = Browser::start(&app.base).await;

    log_in(&mut b, clerk_email, STAFF_PASSWORD).await;
    b.open(&format!("/staff/requests/{id}")).await;
    b.select("select#status", "in_progress").await;
    clerk_action(&mut b, "button#action-status", &[], None).await;
    b.find(&status_tag("in_progress")).await;

    let note = "Ίδιο με το αίτημα 2026/000007.";
    b.select("select#close-reason", "duplicate").await;
    b.fill("textarea#close-note", note).await;
    clerk_action(&mut b, "button#action-close", &[note], None).await;
    b.find(&status_tag("closed")).await;
    log_out(&mut b).await;
    app.read_models_caught_up().await;

    log_in(&mut b, citizen_email, CITIZEN_PASSWORD).await;
    b.open(&format!("/requests/{id}")).await;
    b.find(&status_tag("closed")).await;
    assert!(
        b.text("main").await.contains(note),
        "the citizen does not see the note"
    );
    b.fill("#reason", "Δεν είναι το ίδιο: το άλλο αφορά άλλη οδό.")
        .await;
    b.click_and_load("button#reopen").await;
    b.find(".panel-confirmation").await;
    b.find(&status_tag("reopened")).await;
    assert!(
        b.find_now("button#reopen").await.is_none(),
        "a case reopened once offers to reopen again"
    );
    b.finish().await;
}

/// The auditor's pages (issue 17): the search finds a case by its Α.Α. and a business's
/// streams by its ΑΦΜ; a case reads in plain words (what happened, by whom, what changed),
/// the record as stored opens from a disclosure, the state after an event is one click
/// away; the hash-chain verification; all of it on a phone too.
#[tokio::test]
async fn an_auditor_sees_the_events_and_the_verification() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", CITIZEN_NAME).await;
    let case = app.submit(&token, "Θόρυβος από κατάστημα").await;
    let id = case["id"].as_str().expect("case id").to_string();
    let number = case["number"].as_str().expect("case number").to_string();
    let clerk = app
        .staff("clerk", "clerk@dimos.example.gr", CLERK_NAME)
        .await;
    let r = app
        .post(
            &format!("/api/v1/staff/requests/{id}/review"),
            Some(&clerk),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    app.citizen("nikos@example.gr", "Νίκος Επιχειρηματίας")
        .await;
    app.certify(
        &clerk,
        "nikos@example.gr",
        Some(("Συνεργείο Νίκου Ο.Ε.", "094259216")),
    )
    .await;
    let auditor_email = "auditor@dimos.example.gr";
    app.staff("auditor", auditor_email, AUDITOR_NAME).await;
    let mut b = Browser::start(&app.base).await;

    log_in(&mut b, auditor_email, STAFF_PASSWORD).await;
    assert_eq!(b.path().await, "/audit");
    // Every stream, newest first, before any search.
    assert_eq!(b.find_all("#audit-results tr.result-row").await.len(), 2);
    b.screenshot("audit-search").await;
    // By ΑΦΜ: the business's representative's certification.
    b.fill("#person", "094259216").await;
    b.click_and_load("button#search").await;
    let rows = b.text("#audit-results").await;
    assert!(rows.contains("Νίκος Επιχειρηματίας"), "{rows}");
    assert_eq!(b.find_all("#audit-results tr.result-row").await.len(), 1);
    // By Α.Α., written short.
    b.open("/audit").await;
    let (year, serial) = number.split_once('/').unwrap();
    b.fill(
        "#number",
        &format!("{year}/{}", serial.trim_start_matches('0')),
    )
    .await;
    b.click_and_load("button#search").await;
    assert_eq!(b.find_all("#audit-results tr.result-row").await.len(), 1);
    b.click_and_load("#audit-results a.stream-link").await;
    assert_eq!(b.path().await, format!("/audit/cases/{id}"));

    // In plain words: two events, who did each, what changed.
    let rows = b.find_all("#events li.event-row").await;
    assert_eq!(rows.len(), 2, "the submission and the review");
    let review = b.text("#event-2").await;
    assert!(review.contains("Τέθηκε σε εξέταση"), "{review}");
    assert!(review.contains(CLERK_NAME), "{review}");
    assert!(review.contains("Σε εξέταση (in_review)"), "{review}");
    // The record as stored is folded away until asked for.
    assert!(!b
        .find("#event-1 pre.payload")
        .await
        .is_displayed()
        .await
        .unwrap());
    b.click("#event-1 details.event-record summary").await;
    assert!(b
        .find("#event-1 pre.payload")
        .await
        .is_displayed()
        .await
        .unwrap());
    assert!(b
        .text("#event-1 pre.payload")
        .await
        .contains("RequestSubmitted"));
    b.find("#verification .tag--valid").await;
    let verification = b.text("#verification").await;
    assert!(
        !verification.trim().is_empty(),
        "#verification says nothing"
    );
    b.find("a#download-stream").await;
    b.eval("window.scrollTo(0, 0); return 0;").await;
    b.screenshot("auditor").await;
    // The state after the first event, one click away.
    b.click_and_load("#event-1 a.state-link").await;
    assert!(b
        .text("#state-fields")
        .await
        .contains("Θόρυβος από κατάστημα"));
    b.screenshot("audit-state").await;

    // On a phone: the search's results and the changes are cards.
    b.phone().await;
    b.open("/audit").await;
    assert_fits_a_phone(&b, "#audit-results").await;
    b.screenshot("phone-audit-search").await;
    b.open(&format!("/audit/cases/{id}")).await;
    assert_fits_a_phone(&b, "#event-2 table").await;
    b.screenshot("phone-auditor").await;
    b.desktop().await;

    // The staff accounts and their changes (issue 12), from the audit form's link.
    b.open("/audit").await;
    b.click_and_load("a#audit-staff-link").await;
    let accounts = b.text("table#staff-accounts").await;
    assert!(accounts.contains(auditor_email), "{accounts}");
    let changes = b.text("table#staff-changes").await;
    assert!(
        changes.contains("Δημιουργία λογαριασμού") && changes.contains("command line ("),
        "{changes}"
    );
    b.screenshot("audit-staff").await;
    b.finish().await;
}

/// (d) «Υποβολή» of an empty «Νέο Αίτημα»: an error summary at the top links to each
/// field, each field has its message, and what was typed is kept.
#[tokio::test]
async fn validation_errors_are_shown_next_to_the_fields() {
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", CITIZEN_NAME).await;
    let mut b = Browser::start(&app.base).await;
    log_in(&mut b, "maria@example.gr", CITIZEN_PASSWORD).await;

    b.open("/requests/new").await;
    b.click_and_load("button#submit").await;
    assert!(
        b.path().await.starts_with("/requests/new"),
        "an empty form is not accepted"
    );
    let summary = b.find("div.error-summary").await;
    assert_eq!(
        summary.attr("role").await.unwrap().as_deref(),
        Some("alert"),
        "the error summary has role=alert"
    );
    let summary_first = b
        .eval(
            "const s = document.querySelector('div.error-summary');
             const fields = document.querySelector('main form input, main form textarea');
             return !!fields && !!(s.compareDocumentPosition(fields) & Node.DOCUMENT_POSITION_FOLLOWING);",
        )
        .await;
    assert_eq!(summary_first, true, "the error summary is above the fields");
    let focused = b
        .eval("return document.activeElement && document.activeElement.closest('div.error-summary') !== null;")
        .await;
    assert_eq!(focused, true, "the error summary is focused");
    for field in ["subject", "text"] {
        b.find(&format!("div.error-summary a[href=\"#{field}\"]"))
            .await;
        let message = b.text(&format!("p.field-error#{field}-error")).await;
        assert!(!message.trim().is_empty(), "#{field}-error is empty");
        assert_eq!(
            b.attr(&format!("#{field}"), "aria-invalid")
                .await
                .as_deref(),
            Some("true"),
            "#{field} is not aria-invalid"
        );
        let described = b
            .attr(&format!("#{field}"), "aria-describedby")
            .await
            .unwrap_or_default();
        assert!(
            described
                .split_whitespace()
                .any(|d| d == format!("{field}-error")),
            "#{field} aria-describedby={described:?} does not point to #{field}-error"
        );
    }
    // Following a link of the summary reaches its field.
    b.click("div.error-summary a[href=\"#subject\"]").await;
    let hash = b.eval("return location.hash;").await;
    assert_eq!(hash, "#subject");
    b.screenshot("new-request-errors").await;

    // A partly filled form comes back with what was typed.
    b.click("#kind-proposal").await;
    b.fill("#subject", "Πεζόδρομος στο κέντρο").await;
    b.fill("#desired_action", "Να γίνει πεζόδρομος.").await;
    b.fill("#text", "").await;
    b.click_and_load("button#submit").await;
    b.find("div.error-summary a[href=\"#text\"]").await;
    b.find("p.field-error#text-error").await;
    assert!(
        b.find_now("p.field-error#subject-error").await.is_none(),
        "the subject has an error though it was filled"
    );
    assert_eq!(b.value("#subject").await, "Πεζόδρομος στο κέντρο");
    assert_eq!(b.value("#desired_action").await, "Να γίνει πεζόδρομος.");
    assert!(
        b.find("#kind-proposal")
            .await
            .is_selected()
            .await
            .expect("radio state"),
        "the chosen kind is not kept"
    );
    b.finish().await;
}

/// The account forms answer a mistake with the error summary and a form that can be
/// sent again: registration without anything typed, a wrong password then the right one,
/// and an empty «Αίτημα – Σχόλιο».
#[tokio::test]
async fn account_and_anonymous_forms_can_be_corrected_and_sent_again() {
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", CITIZEN_NAME).await;
    let mut b = Browser::start(&app.base).await;

    b.open("/register").await;
    b.fill("#full_name", "Νίκος Νικολάου").await;
    b.click_and_load("button#submit").await;
    for field in ["email", "password"] {
        b.find(&format!("div.error-summary a[href=\"#{field}\"]"))
            .await;
        b.find(&format!("p.field-error#{field}-error")).await;
    }
    assert_eq!(b.value("#full_name").await, "Νίκος Νικολάου");
    b.fill("#email", "nikos@example.gr").await;
    b.fill("#password", CITIZEN_PASSWORD).await;
    b.click_and_load("button#submit").await;
    assert!(
        b.find_now("div.error-summary").await.is_none(),
        "the corrected registration is refused: {}",
        b.shown_text().await
    );
    assert!(b.find_now("#registration-sent").await.is_some());

    b.open("/login").await;
    b.fill("#email", "maria@example.gr").await;
    b.fill("#password", "λάθος-κωδικός").await;
    b.click_and_load("button#submit").await;
    b.find("div.error-summary").await;
    assert_eq!(
        b.value("#email").await,
        "maria@example.gr",
        "the e-mail is kept"
    );
    assert_eq!(
        b.value("#password").await,
        "",
        "the password is not sent back"
    );
    b.fill("#password", CITIZEN_PASSWORD).await;
    b.click_and_load("button#submit").await;
    b.find("button#logout").await;
    log_out(&mut b).await;

    b.open("/anonymous").await;
    b.fill("#subject", "Αδέσποτα σκυλιά").await;
    b.click_and_load("button#submit").await;
    b.find("div.error-summary a[href=\"#text\"]").await;
    assert_eq!(b.value("#subject").await, "Αδέσποτα σκυλιά");
    b.fill("#text", "Στο πάρκο κυκλοφορούν αδέσποτα σκυλιά.")
        .await;
    b.click_and_load("button#submit").await;
    b.find("#tracking-code").await;
    b.finish().await;
}

/// The pages that say something went wrong follow the same skeleton and pass axe-core:
/// a case that does not exist, and the rate limit's page (in Greek, then in English).
#[tokio::test]
async fn error_pages_are_accessible() {
    // Two logins per client and 10 minutes: `citizen` (through the API) and the browser's
    // first log in; the next ones are refused.
    let app = TestApp::spawn_with(|c| c.rate_limit = 2).await;
    app.citizen("maria@example.gr", CITIZEN_NAME).await;
    let mut b = Browser::start(&app.base).await;

    log_in(&mut b, "maria@example.gr", CITIZEN_PASSWORD).await;
    b.open("/requests/00000000-0000-4000-8000-000000000000")
        .await;
    assert!(
        b.find_now("#case-number").await.is_none(),
        "a case that does not exist has a page"
    );
    log_out(&mut b).await;

    for lang in ["el", "en"] {
        b.open(&format!("/login?lang={lang}")).await;
        b.fill("#email", "maria@example.gr").await;
        b.fill("#password", CITIZEN_PASSWORD).await;
        b.click_and_load("button#submit").await;
        assert_eq!(b.lang().await, lang);
        assert!(
            b.find_now("button#logout").await.is_none() && b.find_now("#email").await.is_none(),
            "a login over the limit does not show the rate-limit page: {}",
            b.shown_text().await
        );
    }
    b.finish().await;
}

/// (e) the language switch: «English» turns the pages English, they stay English from
/// page to page, and «Ελληνικά» turns them back.
#[tokio::test]
async fn the_language_switch_turns_the_pages_english_and_back() {
    let app = TestApp::spawn().await;
    let mut b = Browser::start(&app.base).await;

    b.open("/").await;
    assert_eq!(b.lang().await, "el", "Greek by default");
    let greek_heading = b.text("h1").await;
    assert_eq!(b.text("a#language-switch").await.trim(), "English");

    b.click_and_load("a#language-switch").await;
    assert_eq!(b.lang().await, "en");
    assert_ne!(
        b.text("h1").await,
        greek_heading,
        "the heading is translated"
    );
    assert_eq!(b.text("a#language-switch").await.trim(), "Ελληνικά");
    assert!(
        !b.text("main")
            .await
            .contains("Αιτήματα – Καταγγελίες Πολιτών"),
        "the English home page still names the services in Greek"
    );

    for path in ["/register", "/login", "/anonymous", "/track", "/"] {
        b.open(path).await;
        assert_eq!(
            b.lang().await,
            "en",
            "{path} is not English after the switch"
        );
    }

    b.click_and_load("a#language-switch").await;
    assert_eq!(b.lang().await, "el");
    assert_eq!(b.text("h1").await, greek_heading);
    b.open("/register").await;
    assert_eq!(b.lang().await, "el", "Greek again after switching back");
    b.finish().await;
}

/// (f) keyboard: the first Tab reaches the skip link, which is visible and shows its
/// focus, and Enter on it moves on into the main content.
#[tokio::test]
async fn the_first_tab_focuses_the_skip_link() {
    let app = TestApp::spawn().await;
    let mut b = Browser::start(&app.base).await;
    for path in ["/", "/login"] {
        b.open(path).await;
        b.press(Key::Tab).await;
        let focus = focused(&b).await;
        assert_eq!(
            focus["skip"], true,
            "the first Tab on {path} does not focus the skip link: {focus}"
        );
        assert_eq!(
            focus["visible"], true,
            "the focused skip link on {path} is not visible: {focus}"
        );
        assert_eq!(
            focus["indicator"], true,
            "the focused skip link on {path} shows no focus indicator: {focus}"
        );
        b.press(Key::Enter).await;
        assert_eq!(b.eval("return location.hash;").await, "#main");
        b.press(Key::Tab).await;
        let focus = focused(&b).await;
        assert_eq!(
            focus["inMain"], true,
            "after the skip link, Tab on {path} does not go into the main content: {focus}"
        );
        assert_eq!(
            focus["indicator"], true,
            "the first control of {path} shows no focus indicator: {focus}"
        );
    }
    b.finish().await;
}

/// What has the keyboard focus, and whether a person can see that it has.
async fn focused(b: &Browser) -> serde_json::Value {
    b.eval(
        "const a = document.activeElement;
         const r = a.getBoundingClientRect();
         const s = getComputedStyle(a);
         return {
             element: a.outerHTML.slice(0, 120),
             skip: a.matches('a.skip-link[href=\"#main\"]'),
             inMain: document.getElementById('main').contains(a) && a.id !== 'main',
             visible: r.width > 1 && r.height > 1,
             indicator: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
                 || s.boxShadow !== 'none',
         };",
    )
    .await
}

/// A certificate PDF as a clerk's scanner would leave it on disk (for the file input).
fn certificate_pdf_on_disk() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portal-upload-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join("pistopoiitiko-gennisis.pdf");
    std::fs::write(
        &path,
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    )
    .expect("a temporary PDF");
    path
}

/// (issue 4) A clerk certifies a citizen on «Πιστοποίηση χρηστών» → the citizen applies for
/// a civil-registry certificate, electronically, and sees the Α.Α. and the protocol number
/// → the clerk takes it into review and uploads the PDF → the citizen sees «Εκδόθηκε» and
/// downloads the certificate. Every page is checked with axe-core.
#[tokio::test]
async fn a_clerk_certifies_a_citizen_who_applies_and_downloads_the_certificate() {
    let app = TestApp::spawn().await;
    let citizen_email = "maria@example.gr";
    let clerk_email = "clerk@dimos.example.gr";
    app.citizen(citizen_email, CITIZEN_NAME).await;
    app.staff("clerk", clerk_email, CLERK_NAME).await;
    let mut b = Browser::start(&app.base).await;

    // The clerk finds the citizen by e-mail and certifies them after the identity check.
    log_in(&mut b, clerk_email, STAFF_PASSWORD).await;
    b.click_and_load("a#nav-staff-certification").await;
    b.fill("#email", citizen_email).await;
    b.click_and_load("button#find").await;
    assert_eq!(b.text("#account-name").await, CITIZEN_NAME);
    b.find("#certification-status.tag--not_certified").await;
    b.select("select#document", "identity_card").await;
    b.fill("#document_number", "ΑΚ 123456").await;
    b.screenshot("staff-certification").await;
    b.click_and_load("button#action-certify").await;
    let confirmation = b.text("main").await;
    for text in [
        CITIZEN_NAME,
        "ΑΚ 123456",
        "Αστυνομική ταυτότητα",
        CLERK_NAME,
    ] {
        assert!(
            confirmation.contains(text),
            "the certification's confirmation does not repeat {text:?}: {confirmation}"
        );
    }
    b.click_and_load("button#confirm").await;
    b.find(".panel-confirmation").await;
    b.find("#certification-status.tag--certified").await;
    b.find("button#action-revoke").await;
    log_out(&mut b).await;

    // The citizen applies: «Πιστοποιητικά – Βεβαιώσεις» → «Αιτήσεις Δημοτολογίου» →
    // «Νέα Αίτηση».
    log_in(&mut b, citizen_email, CITIZEN_PASSWORD).await;
    b.open("/").await;
    b.click_and_load("a#service-certificates").await;
    b.find("#certification-status.tag--certified").await;
    b.click_and_load("a#civil-registry-link").await;
    b.find("#no-applications").await;
    b.click_and_load("a#new-application").await;
    assert_eq!(b.path().await, "/certificates/civil-registry/new");
    b.select("select#certificate_type", "birth").await;
    b.fill("#text", "Για την εγγραφή του παιδιού μου στο σχολείο.")
        .await;
    b.click("#delivery-electronic").await;
    b.screenshot("certificate-new").await;
    b.click_and_load("button#submit").await;
    let path = b.path().await;
    assert!(
        path.starts_with("/certificates/applications/") && path.ends_with("?submitted=1"),
        "«Υποβολή» lands on {path}"
    );
    let id = path
        .trim_start_matches("/certificates/applications/")
        .trim_end_matches("?submitted=1")
        .to_string();
    let number = b.text("#confirmation-number").await;
    assert!(looks_like_case_number(&number), "Α.Α. is {number:?}");
    let protocol_number = b.text("#confirmation-protocol-number").await;
    assert!(
        !protocol_number.trim().is_empty(),
        "no protocol number on the confirmation"
    );
    assert!(!b
        .text("#confirmation-protocol-date")
        .await
        .trim()
        .is_empty());
    b.find("#application-status .tag.tag--submitted").await;
    b.screenshot("certificate-submitted").await;
    b.click_and_load("a#back-to-list").await;
    let row = b.text("table#my-applications tr.application-row").await;
    assert!(
        row.contains(&number) && row.contains(protocol_number.trim()),
        "the list's row lacks the Α.Α. or the protocol number: {row}"
    );
    log_out(&mut b).await;

    // The clerk: the queue, review, and the PDF upload behind its confirmation.
    log_in(&mut b, clerk_email, STAFF_PASSWORD).await;
    b.click_and_load("a#nav-staff-applications").await;
    b.find("ul#counts").await;
    let queue = b.text("table#queue").await;
    assert!(queue.contains(&number), "the queue lacks {number}: {queue}");
    b.screenshot("clerk-applications").await;
    b.click_and_load(&format!(
        "table#queue a[href$=\"/staff/applications/{id}\"]"
    ))
    .await;
    clerk_action(&mut b, "button#action-review", &[CLERK_NAME], None).await;
    b.find("#application-status .tag.tag--in_review").await;
    let pdf = certificate_pdf_on_disk();
    b.find("input#document")
        .await
        .send_keys(&pdf.display().to_string())
        .await
        .expect("the PDF is chosen");
    b.screenshot("clerk-application").await;
    let filename = pdf
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    clerk_action(
        &mut b,
        "button#action-issue",
        &[&filename, "Εκδόθηκε"],
        Some("clerk-application-confirm"),
    )
    .await;
    if let Some(dir) = pdf.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    b.find("#application-status .tag.tag--issued").await;
    b.find("#application-finished-notice").await;
    log_out(&mut b).await;
    app.read_models_caught_up().await;

    // The citizen sees «Εκδόθηκε» and the download link, which answers the PDF.
    log_in(&mut b, citizen_email, CITIZEN_PASSWORD).await;
    b.open(&format!("/certificates/applications/{id}")).await;
    let status = b.text("#application-status").await;
    assert_eq!(status.trim(), "Εκδόθηκε");
    b.find("a#document-link").await;
    assert!(
        !b.find_all("ol#timeline > li.timeline-entry")
            .await
            .is_empty(),
        "the timeline is empty"
    );
    b.screenshot("certificate-issued").await;
    let download = b
        .client
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            fetch(document.querySelector('a#document-link').href)
                .then(async (r) => done({
                    status: r.status,
                    type: r.headers.get('content-type'),
                    start: new TextDecoder().decode((await r.arrayBuffer()).slice(0, 5)),
                }))
                .catch((e) => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .expect("the download runs");
    assert_eq!(download["status"], 200, "download: {download}");
    assert_eq!(download["type"], "application/pdf", "download: {download}");
    assert_eq!(download["start"], "%PDF-", "download: {download}");
    b.click_and_load("a#refresh").await;
    assert_eq!(b.path().await, format!("/certificates/applications/{id}"));
    b.finish().await;
}

/// The other certificate pages pass the page contract and axe-core: the page an
/// uncertified citizen gets instead of a form, «Η πιστοποίησή μου», the form with its
/// errors next to the fields, «Νέο Αίτημα ΤΑΠ» with the protocol system down (the
/// confirmation says registration will follow), and the clerk's view of the failing
/// registration.
#[tokio::test]
async fn certificate_pages_explain_certification_errors_and_a_delayed_protocol() {
    let app = TestApp::spawn().await;
    let citizen_email = "maria@example.gr";
    let clerk_email = "clerk@dimos.example.gr";
    app.citizen(citizen_email, CITIZEN_NAME).await;
    let clerk = app.staff("clerk", clerk_email, CLERK_NAME).await;
    let mut b = Browser::start(&app.base).await;

    log_in(&mut b, citizen_email, CITIZEN_PASSWORD).await;
    b.open("/certificates/tap").await;
    b.find("#certification-required").await;
    b.open("/certificates/civil-registry/new").await;
    b.find("#certification-required").await;
    assert!(
        b.find_now("select#certificate_type").await.is_none(),
        "an uncertified citizen gets the form"
    );
    b.screenshot("certification-required").await;
    b.open("/certification").await;
    b.find("#certification-status.tag--not_certified").await;
    b.open("/profile").await;
    b.find("#profile-certification-status").await;
    log_out(&mut b).await;

    let r = app
        .post(
            "/api/v1/staff/certifications",
            Some(&clerk),
            json!({"email": citizen_email, "document": "passport", "document_number": "AK1234567"}),
        )
        .await;
    assert!(
        r.status().is_success(),
        "certify: {}",
        r.text().await.unwrap()
    );
    app.read_models_caught_up().await;

    log_in(&mut b, citizen_email, CITIZEN_PASSWORD).await;
    b.open("/certification").await;
    b.find("#certification-status.tag--certified").await;
    b.open("/certificates/civil-registry/new").await;
    b.click("#delivery-post").await;
    b.click_and_load("button#submit").await;
    for field in ["certificate_type", "text", "postal_address"] {
        b.find(&format!("div.error-summary a[href=\"#{field}\"]"))
            .await;
        b.find(&format!("p.field-error#{field}-error")).await;
        let described = b
            .attr(&format!("#{field}"), "aria-describedby")
            .await
            .unwrap_or_default();
        assert!(
            described
                .split_whitespace()
                .any(|d| d == format!("{field}-error")),
            "#{field} aria-describedby={described:?}"
        );
    }
    assert!(
        b.find("#delivery-post")
            .await
            .is_selected()
            .await
            .expect("radio state"),
        "the chosen delivery is not kept"
    );
    b.screenshot("certificate-new-errors").await;

    app.protocol
        .set_faults(sandboxes::protocol::ProtocolFaults {
            down: true,
            ..Default::default()
        });
    b.open("/certificates/tap/new").await;
    b.fill("#property_address", "Ερμού 12, Αθήνα").await;
    b.fill("#supply_number", "123456789").await;
    b.fill("#area", "85,50").await;
    b.fill("#text", "Για τη μεταβίβαση του ακινήτου.").await;
    b.click("#delivery-in_person").await;
    b.click_and_load("button#submit").await;
    b.find("#confirmation-number").await;
    let pending = b.text("#confirmation-protocol-pending").await;
    assert!(
        pending.contains("αυτόματα") && pending.contains("e-mail"),
        "the confirmation does not say that registration will follow: {pending}"
    );
    b.find("#protocol-pending #protocol-next-attempt").await;
    b.screenshot("certificate-protocol-pending").await;
    log_out(&mut b).await;

    log_in(&mut b, clerk_email, STAFF_PASSWORD).await;
    b.open("/staff/applications").await;
    b.click("#filter-protocol-failing").await;
    b.click_and_load("button#filter").await;
    b.find("table#queue .tag--protocol_failing").await;
    b.click_and_load("table#queue a.application-link").await;
    b.find("#protocol-failing #protocol-last-error").await;
    b.find("button#action-protocol").await;
    b.finish().await;
}

// ---------------------------------------------------------------------------------------
// «Πληρωμή Προστίμων ΚΟΚ» (issue 5)
// ---------------------------------------------------------------------------------------

const DRIVER_EMAIL: &str = "nikos@example.gr";

/// A portal with a citizen whose profile is complete, logged in in a browser; answers
/// a seeded fine of the sandbox fines system.
async fn fines_desk(number: &str) -> (TestApp, Browser, sandboxes::fines::SandboxFine) {
    let app = TestApp::spawn().await;
    let token = app.citizen(DRIVER_EMAIL, "Νίκος Οδηγός").await;
    let r = app
        .client
        .put(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .json(&json!({
            "full_name": "Νίκος Οδηγός",
            "father_name": "Γεώργιος",
            "address": "Οδός Ερμού 1, 10563 Αθήνα",
            "phone": "2101234567",
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let fine = app
        .fines
        .fines()
        .into_iter()
        .find(|f| f.fine_number == number)
        .expect("a seeded fine");
    let mut b = Browser::start(&app.base).await;
    log_in(&mut b, DRIVER_EMAIL, CITIZEN_PASSWORD).await;
    (app, b, fine)
}

/// Step 2 as the citizen fills it (the date and time inputs get their values set, as a
/// date picker would), then «Υποβολή» → the quote page.
async fn fill_step2(b: &mut Browser, fine: &sandboxes::fines::SandboxFine) {
    let at = fine.offence_at.with_timezone(&chrono_tz::Europe::Athens);
    b.fill("#fine_number", &fine.fine_number).await;
    b.fill("#plate", &fine.plate).await;
    b.eval(&format!(
        "document.getElementById('offence_date').value = '{}'; \
         document.getElementById('offence_time').value = '{}'; return true;",
        at.format("%Y-%m-%d"),
        at.format("%H:%M")
    ))
    .await;
    b.click_and_load("button#submit").await;
    b.find("#quote-amount").await;
}

/// From the quote page: «Πληρωμή», «Επιβεβαίωση πληρωμής», the page with the bank's form
/// («Συνέχεια στην τράπεζα»), then the bank's card page where `card` is typed in (or
/// «Ακύρωση» pressed); answers when the portal's payment page is shown.
async fn pay_at_bank(b: &mut Browser, card: Option<&str>) {
    b.click_and_load("a#pay").await;
    b.find("#confirm-amount").await;
    // The page holding the bank's form posts to the bank (no CSRF token of ours there):
    // axe-core only.
    b.click_and_wait("button#confirm").await;
    b.find("form#bank-form").await;
    b.assert_accessible().await;
    b.click_and_wait("button#continue-to-bank").await;
    b.find("#card_number").await;
    // The bank's page writes the amount as the portal does (`40,00 €`, not `40.00 EUR`).
    let amount = b.text("#amount").await;
    assert!(amount.ends_with(" €") && amount.contains(','), "{amount}");
    match card {
        Some(number) => {
            b.fill("#card_number", number).await;
            b.fill("#expiry", "09/38").await;
            b.fill("#cvv", "737").await;
            b.click("button#pay").await;
        }
        None => b.click("button#cancel").await,
    }
    b.wait_for_portal_page("/payments/").await;
}

/// A citizen with a complete profile pays a fine: a declined card first (the failure
/// page says how to try again), then a new attempt with the good card and the receipt.
#[tokio::test]
async fn a_citizen_pays_a_fine_after_a_declined_card() {
    let (app, mut b, fine) = fines_desk(sandboxes::fines::SEEDED_EARLY).await;
    b.open("/").await;
    b.click_and_load("a#service-fines").await;
    assert_eq!(b.path().await, "/fines");
    b.screenshot("fines-step1").await;
    // Another municipality's code is refused next to the field.
    b.fill("#municipality_code", "1234").await;
    b.select("#fine_type", &fine.fine_type).await;
    b.click_and_load("button#submit").await;
    assert!(!b.text("#municipality_code-error").await.is_empty());
    assert_eq!(
        b.attr("#municipality_code", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );
    b.find(".error-summary a[href=\"#municipality_code\"]")
        .await;
    b.fill("#municipality_code", "9999").await;
    b.click_and_load("button#submit").await;
    b.find("#type-amount").await;
    fill_step2(&mut b, &fine).await;
    let amount = b.text("#quote-amount").await;
    // Why the amount is half the type's: the early-payment reduction, said on the quote.
    let why = b.text("#quote-adjustment-label").await;
    assert!(why.starts_with("Μείωση 50 %"), "{why}");
    b.find("#quote-base-amount").await;
    b.find("#quote-valid-until").await;
    b.find("#quote-may-change").await;
    b.screenshot("fines-quote").await;

    pay_at_bank(&mut b, Some(sandboxes::bank::CARD_DECLINED)).await;
    b.find("#payment-outcome[data-status=\"failed\"]").await;
    // The bank's reason in the page's language, not the bank's English.
    let reason = b.text("#payment-reason").await;
    assert!(reason.contains("δεν ενέκρινε τη συναλλαγή"), "{reason}");
    assert!(!reason.contains("declined"), "{reason}");
    b.click_and_load("a#try-again").await;
    assert_eq!(b.value("#fine_number").await, fine.fine_number);
    b.click_and_load("button#submit").await;
    b.find("#quote-amount").await;

    pay_at_bank(&mut b, Some(sandboxes::bank::CARD_SUCCEEDS)).await;
    b.find("#payment-outcome[data-status=\"succeeded\"]").await;
    assert_eq!(b.text("#payment-amount").await, amount);
    assert!(b.text("#payment-what").await.contains(&fine.fine_number));
    assert!(!b.text("#payment-ref").await.is_empty());
    // The receipt says why the amount is what it is, as the quote did.
    assert_eq!(b.text("#payment-adjustment-label").await, why);
    b.find("#payment-base-amount").await;
    b.screenshot("fines-receipt").await;
    b.click_and_load("a#nav-payments").await;
    assert_eq!(b.find_all("#my-payments tr.payment-row").await.len(), 2);
    b.finish().await;
    drop(app);
}

/// «Ακύρωση» on the bank's page brings the citizen back to the portal; nothing is paid.
#[tokio::test]
async fn cancelling_on_the_bank_page_pays_nothing() {
    let (app, mut b, fine) = fines_desk(sandboxes::fines::SEEDED_BASE).await;
    b.open("/fines").await;
    b.fill("#municipality_code", "9999").await;
    b.select("#fine_type", &fine.fine_type).await;
    b.click_and_load("button#submit").await;
    fill_step2(&mut b, &fine).await;
    pay_at_bank(&mut b, None).await;
    b.find("#payment-outcome[data-status=\"cancelled\"]").await;
    b.find("a#try-again").await;
    let now = app
        .fines
        .fines()
        .into_iter()
        .find(|f| f.fine_number == fine.fine_number)
        .unwrap();
    assert!(now.paid.is_none(), "a cancelled payment paid the fine");
    b.finish().await;
}

/// A fine paid at the counter while the citizen paid it by card: the fines system refuses
/// the portal's notice, and a clerk finds it under «Απορριφθείσες ενημερώσεις» and presses
/// «Νέα αποστολή». Both pages pass axe-core.
#[tokio::test]
async fn a_clerk_sends_a_refused_fine_notice_again() {
    let (app, mut b, fine) = fines_desk(sandboxes::fines::SEEDED_LATE).await;
    let clerk_email = "clerk@dimos.example.gr";
    app.staff("clerk", clerk_email, CLERK_NAME).await;
    b.open("/fines").await;
    b.fill("#municipality_code", "9999").await;
    b.select("#fine_type", &fine.fine_type).await;
    b.click_and_load("button#submit").await;
    fill_step2(&mut b, &fine).await;
    assert!(app.fines.pay_at_counter(&fine.fine_number, "TAMEIO-0099"));
    pay_at_bank(&mut b, Some(sandboxes::bank::CARD_SUCCEEDS)).await;
    b.find("#payment-outcome[data-status=\"succeeded\"]").await;
    log_out(&mut b).await;

    log_in(&mut b, clerk_email, STAFF_PASSWORD).await;
    // A clerk lands on the work overview, not on a citizen's «Τα αιτήματά μου».
    assert_eq!(b.path().await, "/staff");
    b.find("#work-requests-submitted").await;
    assert!(b.find_now("a[href=\"/requests/new\"]").await.is_none());
    // The fine notifier runs in the background: the refusal shows once it has run.
    let mut listed = false;
    for _ in 0..100 {
        b.open("/staff/notices").await;
        if !b.find_all("tr.refused-notice").await.is_empty() {
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listed, "the refused notice is not listed");
    let row = b.text("table#refused-notices").await;
    assert!(row.contains("Κλήση ΚΟΚ"), "{row}");
    assert!(row.contains(&fine.fine_number), "{row}");
    assert!(row.contains(DRIVER_EMAIL), "{row}");
    b.assert_accessible().await;
    b.screenshot("staff-refused-notices").await;
    b.click_and_load("tr.refused-notice button[type=submit]")
        .await;
    // A confirmation page restates the notice before anything is recorded.
    b.find("#confirm-summary").await;
    b.assert_accessible().await;
    b.screenshot("staff-refused-notice-confirm").await;
    b.click_and_load("button#confirm").await;
    b.find("#notice-retried").await;
    b.assert_accessible().await;
    // The dashboard, from the menu: the payment counted today, a chart and a table each
    // (three requests filed meanwhile, so that its bars show).
    let citizen = app
        .citizen("dashboard.citizen@example.gr", "Νίκος Πίνακα")
        .await;
    for (category, attributes) in [
        ("street_light", json!({"lamp_post_number": "7"})),
        ("street_light", json!({"lamp_post_number": "8"})),
        ("pothole", json!({})),
    ] {
        let r = app
            .post(
                "/api/v1/requests",
                Some(&citizen),
                json!({"kind": "complaint", "subject": "Πρόβλημα", "text": "Στη γειτονιά.",
                       "category": category, "attributes": attributes}),
            )
            .await;
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    }
    b.click_and_load("#nav-staff-dashboard").await;
    b.find("svg#chart-requests-by-category").await;
    b.find("svg#chart-payments").await;
    b.find("table#table-overdue").await;
    let total = b.text("#payments-total").await;
    assert_eq!(total.trim(), "1", "{total}");
    b.assert_accessible().await;
    b.screenshot("staff-dashboard").await;
    // The work overview counts the three new complaints, a link to their queue.
    b.click_and_load("#nav-staff-home").await;
    let new = b.text("#work-requests-submitted").await;
    assert!(new.starts_with('3'), "{new}");
    b.assert_accessible().await;
    b.screenshot("staff-home").await;
    b.click_and_load("#work-requests-submitted").await;
    assert_eq!(b.path().await, "/staff/requests?status=submitted");
    assert_eq!(b.find_all("#queue tbody tr").await.len(), 3);
    b.finish().await;
}

const REPRESENTATIVE_EMAIL: &str = "eleni.kafe@example.gr";

/// A café's representative with a complete profile, certified by a clerk for the business
/// the sandboxes know (ΑΦΜ 094259216: quarterly VAT, 0.5 %), logged in.
async fn business_desk() -> (TestApp, Browser) {
    let app = TestApp::spawn().await;
    let token = app.citizen(REPRESENTATIVE_EMAIL, "Ελένη Καφετζή").await;
    let r = app
        .client
        .put(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .json(&json!({
            "full_name": "Ελένη Καφετζή",
            "father_name": "Ιωάννης",
            "address": "Πλατεία Αγίου Γεωργίου 3, 10682 Αθήνα",
            "phone": "2101112233",
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let clerk = app
        .staff("clerk", "clerk@dimos.example.gr", CLERK_NAME)
        .await;
    app.certify(
        &clerk,
        REPRESENTATIVE_EMAIL,
        Some((
            "Καφενείο «Η Πλατεία» Ο.Ε.",
            sandboxes::revenue::SEEDED_FOOD_QUARTERLY,
        )),
    )
    .await;
    let mut b = Browser::start(&app.base).await;
    log_in(&mut b, REPRESENTATIVE_EMAIL, CITIZEN_PASSWORD).await;
    (app, b)
}

/// The declaration form for the third quarter of 2026, as the representative types it
/// (the date input gets its value set, as a date picker would).
async fn fill_declaration(b: &mut Browser) {
    b.click("#filing-quarterly").await;
    b.fill("#period", "3").await;
    b.fill("#year", "2026").await;
    b.fill("#gross_revenue", "24.680,50").await;
    b.eval("document.getElementById('vat_return_date').value = '2026-10-20'; return true;")
        .await;
    b.click_and_load("button#submit").await;
}

/// From the breakdown: «Υποβολή δήλωσης και πληρωμή» → the page holding the bank's form →
/// the bank's card page; answers on the declaration's page.
async fn file_and_pay_at_bank(b: &mut Browser, card: &str) {
    b.click_and_wait("button#file-and-pay").await;
    b.find("form#bank-form").await;
    b.assert_accessible().await;
    b.click_and_wait("button#continue-to-bank").await;
    b.find("#card_number").await;
    b.fill("#card_number", card).await;
    b.fill("#expiry", "09/38").await;
    b.fill("#cvv", "737").await;
    b.click("button#pay").await;
    b.wait_for_portal_page("/business/declarations/").await;
}

/// A business sees its warrants, declares a quarter late (the surcharge shown), is declined
/// at the bank (the declaration rejected, with the reason), files again and pays; the
/// history shows every step and the receipt.
#[tokio::test]
async fn a_business_declares_and_pays_its_municipal_tax() {
    let (app, mut b) = business_desk().await;
    b.open("/").await;
    b.click_and_load("a#service-business").await;
    assert_eq!(b.path().await, "/business");
    assert_eq!(b.text("#business-afm").await, "094259216");
    b.screenshot("business-hub").await;

    // «Εγκεκριμένες Πληρωμές»: the seeded warrants, sortable, with totals.
    b.click_and_load("a#warrants-link").await;
    assert_eq!(b.path().await, "/business/warrants");
    assert!(!b.find_all("tbody tr").await.is_empty());
    b.screenshot("business-warrants").await;

    // The declaration: an empty form names every field at once.
    b.open("/business/declarations/new").await;
    b.click_and_load("button#submit").await;
    b.find(".error-summary").await;
    assert!(!b.text("#gross_revenue-error").await.is_empty());
    fill_declaration(&mut b).await;
    // Q3 2026 was due by 31/10/2026: declared in December, two months late (2 × 2 %).
    let total = b.text("#review-total").await;
    assert!(b.text("#review-months-late").await.contains('2'));
    assert!(!b.text("#review-surcharge").await.is_empty());
    b.screenshot("declaration-review").await;

    file_and_pay_at_bank(&mut b, sandboxes::bank::CARD_DECLINED).await;
    b.find("#declaration-status").await;
    assert!(!b.text("#declaration-reason").await.is_empty());
    b.screenshot("declaration-rejected").await;

    // Filed again from the prefilled form, and paid.
    b.click_and_load("a#file-again").await;
    assert_eq!(b.value("#period").await, "3");
    b.click_and_load("button#submit").await;
    assert_eq!(b.text("#review-total").await, total);
    file_and_pay_at_bank(&mut b, sandboxes::bank::CARD_SUCCEEDS).await;
    assert!(!b.text("#declaration-payment-ref").await.is_empty());
    assert_eq!(b.text("#declaration-total").await, total);
    b.screenshot("declaration-paid").await;
    b.click_and_load("a#receipt-link").await;
    b.find("#payment-outcome[data-status=\"succeeded\"]").await;

    // The history: both attempts, the rejection and the payment, and the receipt.
    b.open("/business/history").await;
    let events: Vec<String> = {
        let mut found = Vec::new();
        for row in b.find_all("#business-timeline tr.timeline-row").await {
            found.push(row.attr("data-event").await.unwrap().unwrap_or_default());
        }
        found
    };
    for expected in ["DeclarationFiled", "DeclarationRejected", "DeclarationPaid"] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }
    assert_eq!(
        b.find_all("#business-payments tr.business-payment-row")
            .await
            .len(),
        2
    );
    b.find("#business-payments tr[data-status=\"succeeded\"] a.receipt-link")
        .await;
    b.screenshot("business-history").await;
    b.finish().await;

    // An auditor replays the declaration's stream by its readable id.
    let auditor = app
        .staff("auditor", "auditor@dimos.example.gr", AUDITOR_NAME)
        .await;
    let stream = "094259216-2026-Q3";
    let r = app
        .get(
            &format!("/api/v1/audit/cases/{stream}/state"),
            Some(&auditor),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let state: serde_json::Value = r.json().await.unwrap();
    assert_eq!(state["aggregate_type"], "TaxDeclaration");
    let r = app
        .get(
            &format!("/api/v1/audit/cases/{stream}/verify"),
            Some(&auditor),
        )
        .await;
    let verified: serde_json::Value = r.json().await.unwrap();
    assert_eq!(verified["valid"], true, "{verified}");
    // Its audit page reads in words, every field of the declaration named.
    let mut audit = crate::common::pages::Visitor::with_session(&app, Some(&auditor));
    let page = audit.get(&format!("/audit/cases/{stream}")).await;
    page.assert_status(reqwest::StatusCode::OK);
    page.assert_lacks("field-unlabelled");
    drop(app);
}

/// Issue 12: «Κωδικός και συνδέσεις» — a citizen sees where they are logged in, changes
/// the password (a wrong current one is said beside its field; the other session ends),
/// and ends this session, which logs out.
#[tokio::test]
async fn a_citizen_changes_the_password_and_sees_the_sessions() {
    const NEW_PASSWORD: &str = "Καινούριος-Κωδικός-2027";
    let app = TestApp::spawn().await;
    // A session elsewhere (the API login of the test's own client).
    let elsewhere = app.citizen("maria@example.gr", CITIZEN_NAME).await;
    let mut b = Browser::start(&app.base).await;
    log_in(&mut b, "maria@example.gr", CITIZEN_PASSWORD).await;
    b.open("/profile").await;
    b.click_and_load("a#security-link").await;
    assert_eq!(b.find_all("tr.session-row").await.len(), 2);
    assert_eq!(b.find_all(".session-current").await.len(), 1);
    assert!(
        b.text("table#sessions").await.contains("Chrom"),
        "the browser is named"
    );
    b.screenshot("profile-security").await;

    b.fill("#current_password", "λάθος-κωδικός-999").await;
    b.fill("#new_password", NEW_PASSWORD).await;
    b.click_and_load("button#change-password").await;
    assert!(
        b.text("#current_password-error")
            .await
            .contains("Ο τρέχων κωδικός δεν είναι σωστός"),
        "the wrong current password is said beside its field"
    );
    assert!(b.find_now("div.error-summary").await.is_some());

    b.fill("#current_password", CITIZEN_PASSWORD).await;
    b.fill("#new_password", NEW_PASSWORD).await;
    b.click_and_load("button#change-password").await;
    assert!(b
        .text("#password-changed")
        .await
        .contains("Ο κωδικός σας άλλαξε"));
    assert_eq!(
        b.find_all("tr.session-row").await.len(),
        1,
        "the other session ended"
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&elsewhere)).await.status(),
        reqwest::StatusCode::UNAUTHORIZED
    );

    // Ending this very session logs out.
    b.click_and_load("button.session-end").await;
    assert!(b.path().await.starts_with("/login"), "{}", b.path().await);
    assert!(b.find_now("button#logout").await.is_none());
    log_in(&mut b, "maria@example.gr", NEW_PASSWORD).await;
    b.finish().await;
}

/// Issue 12: «Ξεχάσατε τον κωδικό σας;» — the link by e-mail sets a new password once.
#[tokio::test]
async fn a_citizen_who_forgot_the_password_sets_a_new_one_from_the_emailed_link() {
    const NEW_PASSWORD: &str = "Καινούριος-Κωδικός-2027";
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", CITIZEN_NAME).await;
    let mut b = Browser::start(&app.base).await;
    b.open("/login").await;
    b.click_and_load("a#forgot-password").await;
    b.fill("#email", "maria@example.gr").await;
    b.click_and_load("button#submit").await;
    assert!(b
        .text("#password-reset-sent")
        .await
        .contains("Αν υπάρχει λογαριασμός"));
    b.screenshot("password-reset-sent").await;

    let body: String =
        sqlx::query_scalar("SELECT body FROM mail_outbox WHERE event_key LIKE 'password-reset.%'")
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    let start = body.find("/password-reset/").unwrap();
    let path = body[start..].split_whitespace().next().unwrap().to_string();
    b.open(&path).await;
    b.fill("#new_password", "short").await;
    b.click_and_load("button#submit").await;
    assert!(b.find_now("#new_password-error").await.is_some());
    b.fill("#new_password", NEW_PASSWORD).await;
    b.click_and_load("button#submit").await;
    assert!(b
        .text("#password-reset-done")
        .await
        .contains("Ο νέος κωδικός σας ορίστηκε"));
    log_in(&mut b, "maria@example.gr", NEW_PASSWORD).await;
    // The link worked once.
    b.open_unchecked(&path).await;
    b.page_loaded().await;
    assert!(b.find_now("#reset-link-invalid").await.is_some());
    b.finish().await;
}

/// Whether the element `css` is shown: it has a box, and no closed details element or
/// `display: none` hides it (`checkVisibility`).
async fn shown(b: &Browser, css: &str) -> bool {
    let script = format!(
        "const e = document.querySelector({css:?}); \
         return !!e && e.checkVisibility({{visibilityProperty: true}});"
    );
    b.eval(&script).await.as_bool().unwrap_or(false)
}

/// On a phone: the page is no wider than the phone, the table `table` shows its rows as
/// cards (its cells are blocks), and every status tag in it ends inside the screen.
async fn assert_rows_are_cards(b: &Browser, table: &str) {
    assert_fits_a_phone(b, table).await;
    let script = format!(
        "return Math.max(...[...document.querySelector({table:?}).querySelectorAll('.tag')] \
                          .map(e => e.getBoundingClientRect().right));"
    );
    let right = b.eval(&script).await.as_f64().unwrap();
    assert!(
        right <= f64::from(harness::PHONE_WIDTH),
        "a status tag of {table} ends at {right} px"
    );
}

/// Nothing of the page is wider than a phone, and the table `table`'s cells stack (a card
/// per row).
async fn assert_fits_a_phone(b: &Browser, table: &str) {
    let width = b
        .eval("return document.documentElement.scrollWidth;")
        .await
        .as_u64()
        .unwrap();
    assert!(
        width <= u64::from(harness::PHONE_WIDTH),
        "the page is {width} px wide"
    );
    let script = format!(
        "return getComputedStyle(document.querySelector({table:?}).querySelector('td')).display;"
    );
    assert_eq!(b.eval(&script).await, json!("block"), "{table}'s cells");
}

/// On a phone (375 pixels wide, issue 17): the menu folds behind «Μενού · <the section>»
/// (a details element, no JavaScript) and opens on a tap; «Τα αιτήματά μου» and «Οι πληρωμές
/// μου» show each row as a card with nothing cut off; the clerks' queue too. On the desktop
/// the menu is the row of links it was.
#[tokio::test]
async fn on_a_phone_the_menu_folds_and_tables_become_cards() {
    let app = TestApp::spawn().await;
    let citizen = app.citizen("maria@example.gr", CITIZEN_NAME).await;
    app.submit(
        &citizen,
        "Λακκούβα μπροστά στο 2ο Δημοτικό Σχολείο της οδού Αθηνάς",
    )
    .await;
    app.submit(&citizen, "Σβηστός φανοστάτης").await;
    let mut b = Browser::start(&app.base).await;
    log_in(&mut b, "maria@example.gr", CITIZEN_PASSWORD).await;
    b.phone().await;
    b.open("/requests").await;

    // The menu is one line: a button naming the section, the links folded behind it.
    let toggle = b.text("#menu-toggle").await;
    assert!(
        toggle.contains("Μενού") && toggle.contains("Τα αιτήματά μου"),
        "{toggle}"
    );
    assert!(!shown(&b, "a#nav-fines").await, "the links are folded");
    let header = b
        .eval("return document.querySelector('.site-header').getBoundingClientRect().height;")
        .await
        .as_f64()
        .unwrap();
    assert!(
        header < 160.0,
        "the header takes {header} px of the phone's 812"
    );
    // Nothing wider than the phone: every row a card, its status in view.
    assert_rows_are_cards(&b, "#my-requests").await;
    b.assert_accessible().await;
    b.screenshot("phone-my-requests").await;

    // A tap opens the menu; its entry for this page is marked current.
    b.click("#menu-toggle").await;
    assert!(shown(&b, "a#nav-fines").await, "the menu opens");
    assert_eq!(
        b.attr("#site-menu-links a[href=\"/requests\"]", "aria-current")
            .await
            .as_deref(),
        Some("page")
    );
    b.assert_accessible().await;
    b.screenshot("phone-menu-open").await;
    b.click_and_load("a#nav-payments").await;
    let toggle = b.text("#menu-toggle").await;
    assert!(toggle.contains("Οι πληρωμές μου"), "{toggle}");

    // A clerk's queue on a phone: cards too.
    app.staff("clerk", "clerk@dimos.example.gr", CLERK_NAME)
        .await;
    // «Έξοδος» is in the menu: open it first.
    b.click("#menu-toggle").await;
    log_out(&mut b).await;
    log_in(&mut b, "clerk@dimos.example.gr", STAFF_PASSWORD).await;
    assert_eq!(
        b.path().await,
        "/staff",
        "a clerk lands on the work overview"
    );
    b.assert_accessible().await;
    b.screenshot("phone-staff-home").await;
    b.open("/staff/requests").await;
    assert_rows_are_cards(&b, "#queue").await;
    b.assert_accessible().await;
    b.screenshot("phone-clerk-queue").await;

    // On the desktop: no button, the links in a row, the table a table.
    b.desktop().await;
    b.open("/staff/requests").await;
    assert!(
        !shown(&b, "#menu-toggle").await,
        "no menu button on the desktop"
    );
    assert!(shown(&b, "a#nav-staff-dashboard").await);
    let cell = b
        .eval("return getComputedStyle(document.querySelector('#queue td')).display;")
        .await;
    assert_eq!(cell, json!("table-cell"));
    b.finish().await;
}

/// Issue 17 on a phone (375 px) and a desktop: a citizen whose profile lacks the details a
/// payment needs goes from the quote (which explains the early-payment reduction) to the
/// profile, which says which services need which details, and saving brings them back to
/// the quote; the bank declines the card and says why in Greek; a new attempt pays and the
/// receipt explains the amount; «Οι πληρωμές μου» are cards.
#[tokio::test]
async fn a_citizen_completes_the_profile_from_the_quote_and_pays_on_a_phone() {
    let app = TestApp::spawn().await;
    app.citizen(DRIVER_EMAIL, "Νίκος Οδηγός").await;
    let fine = app
        .fines
        .fines()
        .into_iter()
        .find(|f| f.fine_number == sandboxes::fines::SEEDED_EARLY)
        .expect("a seeded fine");
    let mut b = Browser::start(&app.base).await;
    log_in(&mut b, DRIVER_EMAIL, CITIZEN_PASSWORD).await;
    b.phone().await;
    b.open("/fines").await;
    b.fill("#municipality_code", "9999").await;
    b.select("#fine_type", &fine.fine_type).await;
    b.click_and_load("button#submit").await;
    fill_step2(&mut b, &fine).await;
    let quote = b.path().await;
    let why = b.text("#quote-adjustment-label").await;
    assert!(why.starts_with("Μείωση 50 %"), "{why}");
    let missing = b.text("#profile-missing").await;
    assert!(missing.contains("Πατρώνυμο"), "{missing}");
    b.screenshot("phone-fines-quote").await;

    // The detour: the profile says why, and what each service needs.
    b.click_and_load("a#profile-link").await;
    assert!(b.path().await.starts_with("/profile?next="));
    b.find("#profile-return").await;
    assert!(b.text("#profile-needs").await.contains("όλα τα στοιχεία"));
    b.screenshot("phone-profile-detour").await;
    b.desktop().await;
    b.screenshot("profile-detour").await;
    b.phone().await;
    // A wrong phone keeps the way back.
    b.fill("#father_name", "Γεώργιος").await;
    b.fill("#address", "Οδός Ερμού 1, 10563 Αθήνα").await;
    b.fill("#phone", "όχι").await;
    b.click_and_load("button#submit").await;
    b.find("#phone-error").await;
    b.find("#profile-return").await;
    b.fill("#phone", "2101234567").await;
    b.click_and_load("button#submit").await;
    assert_eq!(b.path().await, quote, "saving returns to the quote");
    assert!(b.find_now("#profile-incomplete").await.is_none());

    // Declined: the reason in Greek; then paid, the receipt explaining the amount.
    pay_at_bank(&mut b, Some(sandboxes::bank::CARD_DECLINED)).await;
    let reason = b.text("#payment-reason").await;
    assert!(reason.contains("δεν ενέκρινε τη συναλλαγή"), "{reason}");
    b.screenshot("phone-payment-declined").await;
    b.desktop().await;
    b.screenshot("payment-declined").await;
    b.phone().await;
    b.click_and_load("a#try-again").await;
    b.click_and_load("button#submit").await;
    b.find("#quote-amount").await;
    pay_at_bank(&mut b, Some(sandboxes::bank::CARD_SUCCEEDS)).await;
    b.find("#payment-outcome[data-status=\"succeeded\"]").await;
    assert_eq!(b.text("#payment-adjustment-label").await, why);
    b.screenshot("phone-fines-receipt").await;
    b.open("/payments").await;
    assert_rows_are_cards(&b, "#my-payments").await;
    b.screenshot("phone-my-payments").await;
    b.finish().await;
}

/// Issue 17: every attempt to pay a certified debt, and its outcome, is in the business's
/// timeline — a declined card included, not only in the payments' table.
#[tokio::test]
async fn a_declined_debt_payment_is_in_the_business_timeline() {
    let (_app, mut b) = business_desk().await;
    let debt = "DF-2025-000287";
    b.open(&format!("/business/debts/{debt}")).await;
    b.click_and_wait("button#pay").await;
    b.find("form#bank-form").await;
    b.click_and_wait("button#continue-to-bank").await;
    b.find("#card_number").await;
    b.fill("#card_number", sandboxes::bank::CARD_DECLINED).await;
    b.fill("#expiry", "09/38").await;
    b.fill("#cvv", "737").await;
    b.click("button#pay").await;
    b.wait_for_portal_page("/payments/").await;
    b.find("#payment-outcome[data-status=\"failed\"]").await;

    b.open("/business/history").await;
    let failed = b
        .text("#business-timeline tr.timeline-row[data-event=\"PaymentFailed\"]")
        .await;
    assert!(failed.contains("δεν ενέκρινε"), "{failed}");
    assert!(failed.contains(debt), "{failed}");
    b.find("#business-timeline tr.timeline-row[data-event=\"TaxDebtPaymentStarted\"]")
        .await;
    b.screenshot("business-history-debt").await;
    // On a phone: the history's two tables and the debts' list are cards.
    b.phone().await;
    b.open("/business/history").await;
    assert_rows_are_cards(&b, "#business-payments").await;
    assert_fits_a_phone(&b, "#business-timeline").await;
    b.screenshot("phone-business-history").await;
    b.open("/business/debts").await;
    assert_rows_are_cards(&b, "#debts").await;
    b.screenshot("phone-business-debts").await;
    b.finish().await;
}
