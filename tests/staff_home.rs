//! Where each person lands after logging in (issue 17): a clerk on the work overview with
//! the counts of their queues, an auditor on «Έλεγχος ιστορικού», a citizen on «Τα αιτήματά
//! μου»; staff menus without the citizens' links; the clerk's certification screen speaking
//! of the other person, and telling the clerk before confirming what the profile lacks.

use crate::common::pages::{Page, Visitor};
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

const CITIZEN_EMAIL: &str = "maria@example.gr";
const CITIZEN_PASSWORD: &str = "Κωδικός-Δοκιμής-42";
const CLERK_EMAIL: &str = "clerk@dimos.example.gr";
const AUDITOR_EMAIL: &str = "auditor@dimos.example.gr";
const STAFF_PASSWORD: &str = "Υπάλληλος-Δήμου-2026";

fn greek(code: &str) -> String {
    portal::i18n::message(portal::i18n::Lang::El, code)
}

/// Logs in through the login form as it comes (no `next`): answers the visitor and where
/// the login sent them.
async fn log_in_from_the_form(app: &TestApp, email: &str, password: &str) -> (Visitor, String) {
    let mut v = Visitor::new(app);
    let form = v.get("/login").await;
    form.assert_has("name=\"next\" value=\"\"");
    let done = v
        .post(
            &form,
            "/login",
            &[("email", email), ("password", password), ("next", "")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let location = done.location.clone().expect("a redirect");
    (v, location)
}

fn assert_no_citizen_links(page: &Page) {
    for link in [
        "href=\"/requests\"",
        "href=\"/requests/new\"",
        "href=\"/certificates\"",
        "href=\"/fines\"",
        "href=\"/business\"",
        "href=\"/payments\"",
    ] {
        page.assert_lacks(link);
    }
}

#[tokio::test]
async fn each_person_lands_on_their_own_home() {
    let app = TestApp::spawn().await;
    let citizen = app.citizen(CITIZEN_EMAIL, "Μαρία Παπαδοπούλου").await;
    app.submit(&citizen, "Λακκούβα στην οδό Αθηνάς").await;
    app.submit(&citizen, "Σβηστός φανοστάτης").await;
    let clerk_token = app
        .staff("clerk", CLERK_EMAIL, "Γεώργιος Υπαλληλίδης")
        .await;
    app.staff("auditor", AUDITOR_EMAIL, "Ελένη Ελεγκτή").await;
    // And a certificate application, certified first.
    app.certify(&clerk_token, CITIZEN_EMAIL, None).await;
    let r = app
        .post(
            "/api/v1/applications",
            Some(&citizen),
            json!({"kind": "civil_registry", "certificate_type": "birth",
                   "text": "Για την εγγραφή του παιδιού μου στο σχολείο.",
                   "delivery": "electronic"}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );

    // The clerk: the work overview, with the two new complaints and the new application
    // counted and linked.
    let (mut clerk, home) = log_in_from_the_form(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    assert_eq!(home, "/staff");
    let overview = clerk.get("/staff").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    overview.assert_has(&greek("ui_work_title"));
    assert_eq!(overview.text_of("work-requests-submitted"), "2 Νέα");
    assert_eq!(
        overview.href_of("work-requests-submitted"),
        "/staff/requests?status=submitted"
    );
    assert_eq!(overview.text_of("work-requests-in_review"), "0 Σε εξέταση");
    assert!(overview.text_of("work-requests-overdue").starts_with("0 "));
    assert_eq!(overview.text_of("work-applications-submitted"), "1 Νέες");
    assert_eq!(
        overview.href_of("work-applications-submitted"),
        "/staff/applications?status=submitted"
    );
    assert!(overview
        .text_of("work-applications-in_review")
        .starts_with("0 "));
    assert_eq!(
        overview.href_of("work-applications-protocol-failing"),
        "/staff/applications?protocol=failing"
    );
    assert!(overview.text_of("work-notices").starts_with("0 "));
    overview.assert_has("id=\"nav-staff-home\"");
    assert_no_citizen_links(&overview);
    // Each count leads to a queue that lists as many.
    let queue = clerk.get("/staff/requests?status=submitted").await;
    assert_eq!(queue.status, StatusCode::OK);
    queue.assert_has("Λακκούβα στην οδό Αθηνάς");
    queue.assert_has("Σβηστός φανοστάτης");
    // The front page and the citizens' list take a clerk home.
    for path in ["/", "/requests"] {
        let r = clerk.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location.as_deref(), Some("/staff"), "{path}");
    }

    // The auditor: «Έλεγχος ιστορικού», and a menu without the citizens' services.
    let (mut auditor, home) = log_in_from_the_form(&app, AUDITOR_EMAIL, STAFF_PASSWORD).await;
    assert_eq!(home, "/audit");
    let audit = auditor.get("/audit").await;
    assert_eq!(audit.status, StatusCode::OK);
    audit.assert_has("id=\"nav-audit\"");
    audit.assert_lacks("id=\"nav-staff-home\"");
    assert_no_citizen_links(&audit);
    let r = auditor.get("/").await;
    assert_eq!(r.location.as_deref(), Some("/audit"));
    // The overview is the clerks': an auditor is refused it.
    assert_eq!(auditor.get("/staff").await.status, StatusCode::FORBIDDEN);

    // The citizen: «Τα αιτήματά μου», with the citizens' menu; no staff overview.
    let (mut citizen_page, home) =
        log_in_from_the_form(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    assert_eq!(home, "/requests");
    let mine = citizen_page.get("/requests").await;
    assert_eq!(mine.status, StatusCode::OK);
    mine.assert_has("href=\"/requests/new\"");
    mine.assert_lacks("id=\"nav-staff-home\"");
    assert_eq!(
        citizen_page.get("/staff").await.status,
        StatusCode::FORBIDDEN
    );
    // A `next` still wins over the home.
    let mut v = Visitor::new(&app);
    let form = v.get("/login?next=/staff/requests").await;
    let done = v
        .post(
            &form,
            "/login",
            &[
                ("email", CLERK_EMAIL),
                ("password", STAFF_PASSWORD),
                ("next", "/staff/requests"),
            ],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("/staff/requests"));
}

#[tokio::test]
async fn the_certification_screen_speaks_of_the_citizen_and_names_what_the_profile_lacks() {
    let app = TestApp::spawn().await;
    let citizen = app.citizen(CITIZEN_EMAIL, "Μαρία Παπαδοπούλου").await;
    app.staff("clerk", CLERK_EMAIL, "Γεώργιος Υπαλληλίδης")
        .await;
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;

    let page = clerk
        .get(&format!("/staff/certification?email={CITIZEN_EMAIL}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // About another person: «Δεν έχει πιστοποιηθεί», not «Δεν έχετε πιστοποιηθεί».
    assert_eq!(
        page.text_of("certification-status"),
        "Δεν έχει πιστοποιηθεί"
    );
    page.assert_lacks(&greek("ui_certification_status_not_certified"));
    // The profile has only the name: the clerk is told what the guide's full details lack.
    page.assert_has("id=\"profile-incomplete\"");
    let missing = page.text_of("profile-missing");
    for field in ["ui_field_father_name", "ui_field_address", "ui_field_phone"] {
        assert!(missing.contains(&greek(field)), "{missing}");
    }
    assert!(!missing.contains(&greek("ui_field_full_name")), "{missing}");
    // …and again on the confirmation page, before the clerk confirms.
    let confirm = clerk
        .post(
            &page,
            "/staff/certification/certify",
            &[
                ("email", CITIZEN_EMAIL),
                ("document", "identity_card"),
                ("document_number", "ΑΚ 123456"),
            ],
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    confirm.assert_has("id=\"confirm\"");
    assert!(confirm
        .text_of("profile-missing")
        .contains(&greek("ui_field_phone")));

    // With the full details there is nothing to tell.
    let r = app
        .client
        .put(app.url("/api/v1/me"))
        .bearer_auth(&citizen)
        .json(
            &json!({"full_name": "Μαρία Παπαδοπούλου", "father_name": "Γεώργιος",
                      "address": "Αθηνάς 12, Αθήνα", "phone": "2101234567"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let page = clerk
        .get(&format!("/staff/certification?email={CITIZEN_EMAIL}"))
        .await;
    page.assert_lacks("id=\"profile-incomplete\"");
}
