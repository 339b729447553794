//! HTTP tests of the certificate pages (issue 4, contract: docs/pages.md): the citizen's
//! «Αιτήσεις Δημοτολογίου» and «Αιτήσεις Βεβαιώσεων ΤΑΠ» with their forms, confirmations
//! and application pages; the page an uncertified user gets instead of a form; the
//! clerks' queue, application actions (with the PDF upload) and certification page, each
//! action behind its confirmation; the auditor's view of an application and of a
//! certification. They go through the pages themselves (the `portal_csrf` cookie and
//! hidden field) and keep their cookies by hand.

use crate::common::pages::{Page, Visitor};
use crate::common::TestApp;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::StatusCode;
use sandboxes::protocol::ProtocolFaults;
use serde_json::{json, Value};

const CITIZEN_EMAIL: &str = "maria@example.gr";
const CITIZEN_NAME: &str = "Μαρία Παπαδοπούλου";
const CITIZEN_PASSWORD: &str = "Κωδικός-Δοκιμής-42";
const OTHER_EMAIL: &str = "nikos@example.gr";
const CLERK_EMAIL: &str = "clerk@dimos.example.gr";
const CLERK_NAME: &str = "Γεώργιος Υπαλληλίδης";
const AUDITOR_EMAIL: &str = "auditor@dimos.example.gr";
const STAFF_PASSWORD: &str = "Υπάλληλος-Δήμου-2026";
/// A ΑΦΜ with a valid check digit.
const VALID_AFM: &str = "090000045";
/// The smallest file the portal takes for a PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

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
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

impl Visitor {
    /// Posts a `multipart/form-data` form as a browser sends a form with a file: the
    /// fields in order, then the file (`document`), or an empty file part if none.
    async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Page {
        let boundary = "----PortalTestBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let (filename, bytes) = file.unwrap_or(("", b""));
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; \
                 filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("request sent");
        self.absorb(r).await
    }
}

// ---------------------------------------------------------------------------------------
// Set-up through the JSON API
// ---------------------------------------------------------------------------------------

/// A portal with a citizen and a clerk; answers the clerk's API token.
async fn office() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.citizen(CITIZEN_EMAIL, CITIZEN_NAME).await;
    let clerk = app.staff("clerk", CLERK_EMAIL, CLERK_NAME).await;
    (app, clerk)
}

async fn certify_by_api(app: &TestApp, clerk: &str, email: &str) {
    let r = app
        .post(
            "/api/v1/staff/certifications",
            Some(clerk),
            json!({"email": email, "document": "identity_card", "document_number": "ΑΚ 123456"}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "certify: {}",
        r.text().await.unwrap()
    );
    app.read_models_caught_up().await;
}

/// Files an application through the API as the citizen; answers its JSON.
async fn apply_by_api(app: &TestApp, body: Value) -> Value {
    let token = app.login(CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let r = app.post("/api/v1/applications", Some(&token), body).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "apply: {}",
        r.text().await.unwrap()
    );
    let answer = crate::common::json_body(r).await;
    app.read_models_caught_up().await;
    answer
}

fn birth_certificate(delivery: &str) -> Value {
    json!({
        "kind": "civil_registry",
        "certificate_type": "birth",
        "text": "Για την εγγραφή του παιδιού μου στο σχολείο.",
        "delivery": delivery,
        "postal_address": if delivery == "post" { "Ερμού 12, 10563 Αθήνα" } else { "" },
    })
}

async fn api_status(app: &TestApp, clerk: &str, id: &str) -> Value {
    app.read_models_caught_up().await;
    let r = app
        .get(&format!("/api/v1/staff/applications/{id}"), Some(clerk))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    crate::common::json_body(r).await["application"].clone()
}

/// The clerk performs an action through the application page: the first POST asks, and
/// the confirmation page's form does it. Answers the confirmation page.
async fn clerk_confirms(
    clerk: &mut Visitor,
    id: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Page {
    let case_path = format!("/staff/applications/{id}");
    let case = clerk.get(&case_path).await;
    case.assert_status(StatusCode::OK);
    case.assert_has(&format!("id=\"action-{action}\""));
    let confirm = clerk
        .post(&case, &format!("{case_path}/{action}"), fields)
        .await;
    confirm.assert_status(StatusCode::OK);
    confirm.assert_has("id=\"confirm\"");
    confirm.assert_has(&format!("id=\"cancel\" href=\"{case_path}\""));
    let mut again: Vec<(&str, &str)> = fields.to_vec();
    again.push(("confirmed", "yes"));
    let done = clerk
        .post(&confirm, &format!("{case_path}/{action}"), &again)
        .await;
    done.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{case_path}?done={action}").as_str())
    );
    confirm
}

// ---------------------------------------------------------------------------------------
// The citizen
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_uncertified_citizen_is_told_how_to_get_certified_instead_of_a_form() {
    let (app, _) = office().await;

    // A visitor logs in first.
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/certificates/civil-registry/new").await;
    page.assert_status(StatusCode::SEE_OTHER);
    assert!(page
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with("/login?next=%2Fcertificates%2Fcivil-registry%2Fnew")));

    let mut citizen = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let home = citizen.get("/").await;
    home.assert_has("href=\"/certificates\"");
    home.assert_has("href=\"/certificates/civil-registry\"");
    home.assert_has("href=\"/certificates/tap\"");
    home.assert_has("id=\"nav-certificates\"");

    let services = citizen.get("/certificates").await;
    services.assert_status(StatusCode::OK);
    services.assert_has("tag tag--not_certified");
    services.assert_has(&greek("ui_cert_civil_registry_title"));
    services.assert_has(&greek("ui_cert_tap_title"));

    for (list, form) in [
        (
            "/certificates/civil-registry",
            "/certificates/civil-registry/new",
        ),
        ("/certificates/tap", "/certificates/tap/new"),
    ] {
        let page = citizen.get(list).await;
        page.assert_status(StatusCode::OK);
        page.assert_has("id=\"certification-required\"");
        page.assert_lacks("id=\"new-application\"");
        page.assert_has("id=\"no-applications\"");

        // The form is not there: the page explains what to do, never a bare 403.
        let page = citizen.get(form).await;
        page.assert_status(StatusCode::FORBIDDEN);
        page.assert_has("id=\"certification-required\"");
        page.assert_has(&greek("ui_certify_step_visit"));
        page.assert_has(&escaped(&greek("ui_certify_business_text")));
        page.assert_has(CITIZEN_EMAIL);
        page.assert_lacks("name=\"delivery\"");
        assert_eq!(page.body.matches("<h1").count(), 1, "one h1");
    }

    // Posting the form anyway stores nothing and explains the same.
    let form_page = citizen.get("/certificates").await;
    let refused = citizen
        .post(
            &form_page,
            "/certificates/civil-registry/new",
            &[
                ("certificate_type", "birth"),
                ("text", "Κείμενο."),
                ("delivery", "electronic"),
            ],
        )
        .await;
    refused.assert_status(StatusCode::FORBIDDEN);
    refused.assert_has("id=\"certification-required\"");
    let token = app.login(CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let mine =
        crate::common::json_body(app.get("/api/v1/my/applications", Some(&token)).await).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);

    let mine = citizen.get("/certification").await;
    mine.assert_status(StatusCode::OK);
    mine.assert_has("id=\"certification-status\"");
    mine.assert_has(&greek("ui_certification_status_not_certified"));
    mine.assert_has("id=\"certification-required\"");
    let profile = citizen.get("/profile").await;
    profile.assert_has("id=\"profile-certification-status\"");
    profile.assert_has("href=\"/certification\"");

    // Staff are told that citizens apply.
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let page = clerk.get("/certificates/civil-registry/new").await;
    page.assert_status(StatusCode::FORBIDDEN);
    page.assert_has(&greek("ui_cert_staff_not_applicant"));
    // Their front page is their work overview, its menu the staff menu.
    let front = clerk.get("/").await;
    assert_eq!(front.location.as_deref(), Some("/staff"));
    let home = clerk.get("/staff").await;
    home.assert_has("id=\"nav-staff-applications\"");
    home.assert_has("id=\"nav-staff-certification\"");
    home.assert_lacks("id=\"nav-certificates\"");
}

#[tokio::test]
async fn a_certified_citizen_applies_and_sees_the_number_and_the_protocol() {
    let (app, clerk_token) = office().await;
    certify_by_api(&app, &clerk_token, CITIZEN_EMAIL).await;
    let mut citizen = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;

    let list = citizen.get("/certificates/civil-registry").await;
    list.assert_status(StatusCode::OK);
    list.assert_has("id=\"new-application\"");
    list.assert_has("href=\"/certificates/civil-registry/new\"");
    list.assert_lacks("id=\"certification-required\"");

    let form = citizen.get("/certificates/civil-registry/new").await;
    form.assert_status(StatusCode::OK);
    form.assert_has("<select class=\"select\" id=\"certificate_type\" name=\"certificate_type\"");
    for name in [
        "Πιστοποιητικό Οικογενειακής Κατάστασης",
        "Πιστοποιητικό Γέννησης",
        "Πιστοποιητικό Εγγυτέρων Συγγενών",
        "Βεβαίωση Μόνιμης Κατοικίας",
    ] {
        form.assert_has(name);
    }
    for id in [
        "delivery-electronic",
        "delivery-post",
        "delivery-in_person",
        "postal_address",
        "text",
    ] {
        form.assert_has(&format!("id=\"{id}\""));
    }
    form.assert_has(&format!(">{}</button>", greek("ui_submit_button")));
    let english = citizen
        .get("/certificates/civil-registry/new?lang=en")
        .await;
    english.assert_has("Birth certificate");
    citizen.get("/?lang=el").await;

    // An empty form: every field says what it needs, next to itself.
    let empty = citizen
        .post(&form, "/certificates/civil-registry/new", &[])
        .await;
    empty.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    empty.assert_has("class=\"error-summary\"");
    for field in ["certificate_type", "text", "delivery"] {
        empty.assert_has(&format!("href=\"#{field}\""));
        empty.assert_has(&format!("id=\"{field}-error\""));
    }
    empty.assert_has("aria-invalid=\"true\" aria-describedby=\"certificate_type-error");
    empty.assert_has("aria-describedby=\"delivery-error\"");
    empty.assert_has(&greek("certificate_type_required"));
    empty.assert_has(&greek("delivery_required"));
    assert_eq!(empty.csrf_field(), form.csrf_field());

    // By post without an address: the address says so, and what was typed stays.
    let text = "Για την εγγραφή του παιδιού μου στο σχολείο.";
    let post = citizen
        .post(
            &form,
            "/certificates/civil-registry/new",
            &[
                ("certificate_type", "birth"),
                ("text", text),
                ("delivery", "post"),
                ("postal_address", ""),
            ],
        )
        .await;
    post.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    post.assert_has("id=\"postal_address-error\"");
    post.assert_has(&greek("postal_address_required"));
    post.assert_has("<option value=\"birth\" selected>");
    post.assert_has(text);
    post.assert_has(
        "value=\"post\" id=\"delivery-post\" aria-describedby=\"delivery-post-hint\" checked",
    );
    post.assert_lacks("id=\"certificate_type-error\"");

    // Submitted: the confirmation shows the Α.Α. and the protocol number and date.
    let done = citizen
        .post(
            &form,
            "/certificates/civil-registry/new",
            &[
                ("certificate_type", "birth"),
                ("text", text),
                ("delivery", "electronic"),
            ],
        )
        .await;
    done.assert_status(StatusCode::SEE_OTHER);
    let location = done.location.clone().expect("a redirect");
    assert!(
        location.starts_with("/certificates/applications/") && location.ends_with("?submitted=1"),
        "{location}"
    );
    let page = citizen.get(&location).await;
    page.assert_status(StatusCode::OK);
    page.assert_has("class=\"panel-confirmation\"");
    let number = page.text_of("confirmation-number");
    assert!(number.contains('/'), "Α.Α. {number:?}");
    let protocol = page.text_of("confirmation-protocol-number");
    assert!(
        !protocol.is_empty(),
        "no protocol number in the confirmation"
    );
    assert!(!page.text_of("confirmation-protocol-date").is_empty());
    page.assert_lacks("id=\"confirmation-protocol-pending\"");
    page.assert_has(&format!(
        "<strong class=\"tag tag--submitted\">{}</strong>",
        greek("application_status_submitted")
    ));
    page.assert_has("id=\"application-due\"");
    page.assert_lacks("id=\"overdue\"");
    assert_eq!(page.text_of("protocol-number"), protocol);
    page.assert_has("Πιστοποιητικό Γέννησης");
    page.assert_has(text);
    page.assert_has("id=\"timeline\"");
    page.assert_has(&greek("timeline_ApplicationSubmitted"));
    page.assert_has(&greek("timeline_ApplicationProtocolRegistered"));
    page.assert_has("id=\"refresh\"");
    page.assert_has(&format!(">{}</a>", greek("ui_refresh_button")));
    page.assert_has("id=\"no-answer\"");
    assert_eq!(page.body.matches("<h1").count(), 1, "one h1");

    // «Ενημέρωση» reloads without the panel; the list shows the row.
    let id = location
        .trim_start_matches("/certificates/applications/")
        .trim_end_matches("?submitted=1")
        .to_string();
    let again = citizen
        .get(&format!("/certificates/applications/{id}"))
        .await;
    again.assert_lacks("class=\"panel-confirmation\"");
    let list = citizen.get("/certificates/civil-registry").await;
    list.assert_has("id=\"my-applications\"");
    list.assert_has("class=\"application-row\"");
    list.assert_has(&format!("href=\"/certificates/applications/{id}\""));
    list.assert_has(&number);
    list.assert_has(&protocol);
    let tap = citizen.get("/certificates/tap").await;
    tap.assert_has("id=\"no-applications\"");

    // Nobody else sees it.
    app.citizen(OTHER_EMAIL, "Νίκος Νικολάου").await;
    let mut other = Visitor::log_in(&app, OTHER_EMAIL, CITIZEN_PASSWORD).await;
    let hidden = other.get(&format!("/certificates/applications/{id}")).await;
    hidden.assert_status(StatusCode::NOT_FOUND);
    hidden.assert_lacks(&number);
}

#[tokio::test]
async fn a_tap_request_while_the_protocol_system_is_down_says_registration_will_follow() {
    let (app, clerk_token) = office().await;
    certify_by_api(&app, &clerk_token, CITIZEN_EMAIL).await;
    let mut citizen = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;

    let form = citizen.get("/certificates/tap/new").await;
    form.assert_status(StatusCode::OK);
    for id in ["property_address", "supply_number", "area", "kaek", "text"] {
        form.assert_has(&format!("id=\"{id}\" name=\"{id}\""));
    }
    form.assert_has(&greek("ui_cert_new_tap"));

    // Wrong values are said next to their fields, and kept.
    let wrong = citizen
        .post(
            &form,
            "/certificates/tap/new",
            &[
                ("property_address", "Ερμού 12, Αθήνα"),
                ("supply_number", "12ab"),
                ("area", "πολύ"),
                ("kaek", "123"),
                ("text", "Για τη μεταβίβαση."),
                ("delivery", "in_person"),
            ],
        )
        .await;
    wrong.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    for (field, code) in [
        ("supply_number", "supply_number_invalid"),
        ("area", "area_invalid"),
        ("kaek", "kaek_invalid"),
    ] {
        wrong.assert_has(&format!("id=\"{field}-error\""));
        wrong.assert_has(&format!("href=\"#{field}\""));
        wrong.assert_has(&greek(code));
    }
    wrong.assert_lacks("id=\"property_address-error\"");
    wrong.assert_has("value=\"Ερμού 12, Αθήνα\"");

    app.protocol.set_faults(ProtocolFaults {
        down: true,
        ..Default::default()
    });
    let done = citizen
        .post(
            &form,
            "/certificates/tap/new",
            &[
                ("property_address", "Ερμού 12, Αθήνα"),
                ("supply_number", "123456789"),
                ("area", "85,50"),
                ("kaek", ""),
                ("text", "Για τη μεταβίβαση."),
                ("delivery", "in_person"),
            ],
        )
        .await;
    done.assert_status(StatusCode::SEE_OTHER);
    let location = done.location.clone().unwrap();
    let id = location
        .trim_start_matches("/certificates/applications/")
        .trim_end_matches("?submitted=1")
        .to_string();
    let page = citizen.get(&location).await;
    page.assert_status(StatusCode::OK);
    page.assert_has("id=\"confirmation-number\"");
    page.assert_has("id=\"confirmation-protocol-pending\"");
    page.assert_has(&greek("ui_app_submitted_protocol_later"));
    page.assert_lacks("id=\"confirmation-protocol-number\"");
    page.assert_has("id=\"protocol-pending\"");
    page.assert_has("id=\"protocol-attempts\"");
    page.assert_has("id=\"protocol-next-attempt\"");
    page.assert_has("85,50 m²");
    page.assert_has("123456789");
    page.assert_has(&greek("timeline_ApplicationProtocolFailed"));
    page.assert_has(&format!("{} 1:", greek("ui_app_attempt")));
    page.assert_has(&greek("ui_app_protocol_unavailable"));

    // Clerks see the failing registration and its attempts, and register it by hand.
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let failing = clerk.get("/staff/applications?protocol=failing").await;
    failing.assert_status(StatusCode::OK);
    failing.assert_has(&format!("href=\"/staff/applications/{id}\""));
    failing.assert_has("tag tag--protocol_failing");
    failing.assert_has("count-link count-link--current count-protocol-failing");
    let case = clerk.get(&format!("/staff/applications/{id}")).await;
    case.assert_has("id=\"protocol-failing\"");
    assert_eq!(case.text_of("staff-protocol-attempts"), "1");
    case.assert_has("id=\"protocol-last-error\"");

    app.protocol.set_faults(ProtocolFaults::default());
    let confirm = clerk_confirms(&mut clerk, &id, "protocol", &[]).await;
    confirm.assert_has(&greek("ui_staff_confirm_protocol_number"));
    let after = clerk
        .get(&format!("/staff/applications/{id}?done=protocol"))
        .await;
    after.assert_has("class=\"panel-confirmation\"");
    after.assert_lacks("id=\"protocol-failing\"");
    let protocol = after.text_of("protocol-number");
    assert!(!protocol.is_empty() && !protocol.contains(&greek("ui_app_protocol_pending_tag")));

    app.read_models_caught_up().await;
    let page = citizen
        .get(&format!("/certificates/applications/{id}"))
        .await;
    assert_eq!(page.text_of("protocol-number"), protocol);
    page.assert_lacks("id=\"protocol-pending\"");
    let list = citizen.get("/certificates/tap").await;
    list.assert_has(&protocol);
    list.assert_has("Ερμού 12, Αθήνα");
}

// ---------------------------------------------------------------------------------------
// The clerk
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_clerk_reviews_asks_and_issues_a_pdf_that_the_citizen_downloads() {
    let (app, clerk_token) = office().await;
    certify_by_api(&app, &clerk_token, CITIZEN_EMAIL).await;
    let applied = apply_by_api(&app, birth_certificate("electronic")).await;
    let id = applied["id"].as_str().unwrap().to_string();
    let number = applied["number"].as_str().unwrap().to_string();
    let case_path = format!("/staff/applications/{id}");

    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let queue = clerk.get("/staff/applications").await;
    queue.assert_status(StatusCode::OK);
    queue.assert_has("id=\"queue\"");
    queue.assert_has("id=\"counts\"");
    queue.assert_has("id=\"filter\"");
    queue.assert_has(&number);
    queue.assert_has(CITIZEN_NAME);
    queue.assert_has("Πιστοποιητικό Γέννησης");
    queue.assert_has("tag tag--submitted");
    queue.assert_has(&format!("{} (1)", greek("application_status_submitted")));

    // Review, through its confirmation.
    let case = clerk.get(&case_path).await;
    case.assert_has("id=\"action-review\"");
    case.assert_has("id=\"action-reject\"");
    case.assert_lacks("id=\"action-issue\"");
    case.assert_lacks("id=\"action-protocol\"");
    let confirm = clerk_confirms(&mut clerk, &id, "review", &[]).await;
    confirm.assert_has(CLERK_NAME);
    confirm.assert_has(&greek("application_status_in_review"));
    assert_eq!(
        api_status(&app, &clerk_token, &id).await["status"],
        "in_review"
    );

    // An empty question is said next to its field; nothing happens.
    let case = clerk.get(&format!("{case_path}?done=review")).await;
    case.assert_has("class=\"panel-confirmation\"");
    case.assert_has("id=\"action-request-information\"");
    case.assert_has("enctype=\"multipart/form-data\"");
    case.assert_has("id=\"document\" name=\"document\" accept=\"application/pdf,.pdf\"");
    let empty = clerk
        .post(
            &case,
            &format!("{case_path}/request-information"),
            &[("question", " ")],
        )
        .await;
    empty.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    empty.assert_has("href=\"#question\"");
    empty.assert_has("id=\"question-error\"");
    empty.assert_has(&greek("question_required"));
    empty.assert_lacks("id=\"confirm\"");

    let question = "Χρειαζόμαστε το πατρώνυμο του παιδιού.";
    let confirm = clerk_confirms(
        &mut clerk,
        &id,
        "request-information",
        &[("question", question)],
    )
    .await;
    confirm.assert_has(question);
    assert_eq!(
        api_status(&app, &clerk_token, &id).await["status"],
        "information_requested"
    );

    // The citizen sees the question and answers it on the page.
    let mut citizen = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let page = citizen
        .get(&format!("/certificates/applications/{id}"))
        .await;
    page.assert_has("tag tag--information_requested");
    assert_eq!(page.text_of("application-question"), question);
    page.assert_has("id=\"reply\" name=\"reply\"");
    let empty = citizen
        .post(
            &page,
            &format!("/certificates/applications/{id}/reply"),
            &[("reply", "")],
        )
        .await;
    empty.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    empty.assert_has("id=\"reply-error\"");
    empty.assert_has(&greek("reply_required"));
    let reply = "Ιωάννης.";
    let replied = citizen
        .post(
            &page,
            &format!("/certificates/applications/{id}/reply"),
            &[("reply", reply)],
        )
        .await;
    replied.assert_status(StatusCode::SEE_OTHER);
    let page = citizen.get(replied.location.as_deref().unwrap()).await;
    page.assert_has("id=\"replied-panel\"");
    page.assert_has("tag tag--in_review");
    page.assert_lacks("id=\"reply\" name=\"reply\"");
    page.assert_has(reply);

    // Issue: a file that is not a PDF is refused next to the file field.
    app.read_models_caught_up().await;
    let case = clerk.get(&case_path).await;
    case.assert_has("id=\"action-issue\"");
    let token = case.csrf_field();
    let not_pdf = clerk
        .post_multipart(
            &format!("{case_path}/issue"),
            &[("csrf_token", &token)],
            Some(("photo.png", b"\x89PNG\r\n")),
        )
        .await;
    not_pdf.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    not_pdf.assert_has("id=\"document-error\"");
    not_pdf.assert_has(&greek("document_not_pdf"));
    not_pdf.assert_has("aria-invalid=\"true\" aria-describedby=\"document-error document-hint\"");
    let no_file = clerk
        .post_multipart(
            &format!("{case_path}/issue"),
            &[("csrf_token", &token)],
            None,
        )
        .await;
    no_file.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    no_file.assert_has(&greek("document_required"));
    // Without the CSRF field the upload is refused before anything is read.
    let forged = clerk
        .post_multipart(
            &format!("{case_path}/issue"),
            &[("confirmed", "yes")],
            Some(("certificate.pdf", PDF)),
        )
        .await;
    forged.assert_status(StatusCode::FORBIDDEN);
    forged.assert_has(&greek("csrf_failed"));

    // The PDF: the confirmation names it, and confirming issues it.
    let confirm = clerk
        .post_multipart(
            &format!("{case_path}/issue"),
            &[("csrf_token", &token)],
            Some(("pistopoiitiko-gennisis.pdf", PDF)),
        )
        .await;
    confirm.assert_status(StatusCode::OK);
    confirm.assert_has("id=\"confirm\"");
    assert!(confirm
        .text_of("confirm-document")
        .starts_with("pistopoiitiko-gennisis.pdf"));
    confirm.assert_has(&greek("application_status_issued"));
    let upload = confirm.hidden("upload").expect("the upload's token");
    assert_eq!(
        api_status(&app, &clerk_token, &id).await["status"],
        "in_review"
    );
    let done = clerk
        .post(
            &confirm,
            &format!("{case_path}/issue"),
            &[("upload", &upload), ("confirmed", "yes")],
        )
        .await;
    done.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{case_path}?done=issue").as_str())
    );
    assert_eq!(
        api_status(&app, &clerk_token, &id).await["status"],
        "issued"
    );
    let after = clerk.get(&format!("{case_path}?done=issue")).await;
    after.assert_has("id=\"application-finished-notice\"");
    after.assert_has(&format!("href=\"/staff/applications/{id}/document\""));
    for action in ["review", "request-information", "issue", "reject"] {
        after.assert_lacks(&format!("id=\"action-{action}\""));
    }
    let staff_copy = clerk.get(&format!("{case_path}/document")).await;
    staff_copy.assert_status(StatusCode::OK);
    assert_eq!(staff_copy.bytes, PDF);

    // The citizen sees «Εκδόθηκε» and downloads the same bytes.
    app.read_models_caught_up().await;
    let page = citizen
        .get(&format!("/certificates/applications/{id}"))
        .await;
    page.assert_has(&format!(
        "<strong class=\"tag tag--issued\">{}</strong>",
        greek("application_status_issued")
    ));
    page.assert_has("id=\"document-link\"");
    page.assert_has(&format!(
        "href=\"/certificates/applications/{id}/document\""
    ));
    page.assert_has(&greek("timeline_CertificateIssued"));
    page.assert_has("pistopoiitiko-gennisis.pdf");
    let pdf = citizen
        .get(&format!("/certificates/applications/{id}/document"))
        .await;
    pdf.assert_status(StatusCode::OK);
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(
        pdf.disposition.starts_with("attachment"),
        "{}",
        pdf.disposition
    );
    assert_eq!(pdf.bytes, PDF);

    // Nobody else downloads it.
    app.citizen(OTHER_EMAIL, "Νίκος Νικολάου").await;
    let mut other = Visitor::log_in(&app, OTHER_EMAIL, CITIZEN_PASSWORD).await;
    let refused = other
        .get(&format!("/certificates/applications/{id}/document"))
        .await;
    refused.assert_status(StatusCode::NOT_FOUND);
    assert_ne!(refused.bytes, PDF);
}

#[tokio::test]
async fn posting_is_recorded_with_a_note_and_a_rejection_shows_its_reason() {
    let (app, clerk_token) = office().await;
    certify_by_api(&app, &clerk_token, CITIZEN_EMAIL).await;
    let by_post = apply_by_api(&app, birth_certificate("post")).await;
    let post_id = by_post["id"].as_str().unwrap().to_string();
    let in_person = apply_by_api(&app, birth_certificate("in_person")).await;
    let person_id = in_person["id"].as_str().unwrap().to_string();

    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    clerk_confirms(&mut clerk, &post_id, "review", &[]).await;
    let case = clerk.get(&format!("/staff/applications/{post_id}")).await;
    case.assert_has("id=\"issue-note\" name=\"note\"");
    case.assert_lacks("enctype=\"multipart/form-data\"");
    let note = "Συστημένη ΡΕ123456789GR.";
    let confirm = clerk_confirms(&mut clerk, &post_id, "issue", &[("note", note)]).await;
    assert_eq!(confirm.text_of("confirm-note"), note);
    confirm.assert_has("Ερμού 12, 10563 Αθήνα");

    // A rejection needs its reason, said next to the field.
    let case = clerk.get(&format!("/staff/applications/{person_id}")).await;
    let empty = clerk
        .post(
            &case,
            &format!("/staff/applications/{person_id}/reject"),
            &[("reason", ""), ("confirmed", "yes")],
        )
        .await;
    empty.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    empty.assert_has("id=\"reject-reason-error\"");
    empty.assert_has("href=\"#reject-reason\"");
    let reason = "Δεν είστε δημότης του Δήμου.";
    let confirm = clerk_confirms(&mut clerk, &person_id, "reject", &[("reason", reason)]).await;
    assert_eq!(confirm.text_of("confirm-reason"), reason);
    confirm.assert_has("button button--warning");

    // A stale page acting on a finished application gets the rule's message.
    let stale = clerk
        .post(
            &case,
            &format!("/staff/applications/{person_id}/review"),
            &[("confirmed", "yes")],
        )
        .await;
    stale.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    stale.assert_has(&greek("application_finished"));

    app.read_models_caught_up().await;
    let mut citizen = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let posted = citizen
        .get(&format!("/certificates/applications/{post_id}"))
        .await;
    posted.assert_has("tag tag--issued");
    posted.assert_has("id=\"issue-post\"");
    assert_eq!(posted.text_of("issue-note"), note);
    posted.assert_lacks("id=\"document-link\"");
    let rejected = citizen
        .get(&format!("/certificates/applications/{person_id}"))
        .await;
    rejected.assert_has("tag tag--rejected");
    assert_eq!(rejected.text_of("reject-reason"), reason);
    rejected.assert_has(&greek("timeline_ApplicationRejected"));
}

#[tokio::test]
async fn the_queue_filters_by_status_kind_failing_protocol_and_deadline() {
    let (app, clerk_token) = office().await;
    certify_by_api(&app, &clerk_token, CITIZEN_EMAIL).await;
    let civil = apply_by_api(&app, birth_certificate("electronic")).await;
    let tap = apply_by_api(
        &app,
        json!({"kind": "tap", "property_address": "Αιόλου 3, Αθήνα", "supply_number": "12345678",
               "area": "120", "text": "Για πώληση.", "delivery": "electronic"}),
    )
    .await;
    let civil_number = civil["number"].as_str().unwrap();
    let tap_number = tap["number"].as_str().unwrap();
    // The civil-registry application is past its deadline (as if filed long ago).
    sqlx::query("UPDATE applications SET due_on = due_on - 40 WHERE id = $1")
        .bind(civil["id"].as_str().unwrap())
        .execute(&app.state.pool)
        .await
        .unwrap();

    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    let all = clerk.get("/staff/applications").await;
    all.assert_has(civil_number);
    all.assert_has(tap_number);
    all.assert_has(&format!("{} (2)", greek("ui_staff_app_counts_all")));
    all.assert_has(&format!("{} (1)", greek("ui_staff_app_overdue")));
    all.assert_has(&format!("{} (0)", greek("ui_staff_app_protocol_failing")));
    all.assert_has("application-row application-row--overdue");
    all.assert_has("tag tag--overdue");

    let overdue = clerk.get("/staff/applications?overdue=1").await;
    overdue.assert_has(civil_number);
    overdue.assert_lacks(tap_number);
    overdue.assert_has("id=\"filter-overdue\" name=\"overdue\" value=\"1\" checked");
    let tap_only = clerk.get("/staff/applications?kind=tap").await;
    tap_only.assert_has(tap_number);
    tap_only.assert_lacks(civil_number);
    tap_only.assert_has("<option value=\"tap\" selected>");
    let issued = clerk.get("/staff/applications?status=issued").await;
    issued.assert_has("id=\"queue-empty\"");
    let wrong = clerk.get("/staff/applications?status=lost&kind=x").await;
    wrong.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    wrong.assert_has("id=\"status-error\"");
    wrong.assert_has("id=\"kind-error\"");
    wrong.assert_has(civil_number);

    // The citizen sees the overdue flag too.
    let mut citizen = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let page = citizen
        .get(&format!(
            "/certificates/applications/{}",
            civil["id"].as_str().unwrap()
        ))
        .await;
    page.assert_has("id=\"overdue\"");

    // Citizens are not clerks.
    let refused = citizen.get("/staff/applications").await;
    refused.assert_status(StatusCode::FORBIDDEN);
    refused.assert_lacks(civil_number);
}

#[tokio::test]
async fn a_clerk_certifies_a_business_representative_and_revokes_through_the_page() {
    let (app, _) = office().await;
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;

    let page = clerk.get("/staff/certification").await;
    page.assert_status(StatusCode::OK);
    page.assert_has("id=\"email\" name=\"email\"");
    page.assert_has("id=\"find\"");
    let unknown = clerk
        .get("/staff/certification?email=nobody%40example.gr")
        .await;
    unknown.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    unknown.assert_has("id=\"email-error\"");
    unknown.assert_has(&greek("account_not_found"));
    unknown.assert_has("value=\"nobody@example.gr\"");

    let found = clerk
        .get("/staff/certification?email=MARIA%40example.gr")
        .await;
    found.assert_status(StatusCode::OK);
    assert_eq!(found.text_of("account-name"), CITIZEN_NAME);
    found.assert_has("tag tag--not_certified");
    found.assert_has("id=\"action-certify\"");
    found.assert_has("id=\"document\" name=\"document\"");
    found.assert_lacks("id=\"action-revoke\"");

    // Wrong fields are said next to them; nothing is certified.
    let wrong = clerk
        .post(
            &found,
            "/staff/certification/certify",
            &[
                ("email", CITIZEN_EMAIL),
                ("document", ""),
                ("document_number", "1"),
                ("company_name", "Παράδειγμα Α.Ε."),
                ("afm", "123456789"),
            ],
        )
        .await;
    wrong.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["document", "document_number", "afm"] {
        wrong.assert_has(&format!("id=\"{field}-error\""));
        wrong.assert_has(&format!("href=\"#{field}\""));
    }
    wrong.assert_has(&greek("afm_invalid"));
    wrong.assert_has("value=\"Παράδειγμα Α.Ε.\"");
    assert_eq!(wrong.text_of("account-name"), CITIZEN_NAME);

    // Valid: the confirmation restates it; confirming certifies.
    let fields = [
        ("email", CITIZEN_EMAIL),
        ("document", "passport"),
        ("document_number", "AK1234567"),
        ("company_name", "Παράδειγμα Α.Ε."),
        ("afm", VALID_AFM),
    ];
    let confirm = clerk
        .post(&found, "/staff/certification/certify", &fields)
        .await;
    confirm.assert_status(StatusCode::OK);
    confirm.assert_has("id=\"confirm\"");
    assert_eq!(
        confirm.text_of("confirm-document"),
        greek("document_passport")
    );
    assert_eq!(confirm.text_of("confirm-afm"), VALID_AFM);
    assert_eq!(confirm.text_of("confirm-clerk"), CLERK_NAME);
    confirm.assert_has("id=\"cancel\" href=\"/staff/certification?email=maria%40example.gr\"");
    let token = app.login(CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let mine =
        crate::common::json_body(app.get("/api/v1/my/certification", Some(&token)).await).await;
    assert_eq!(mine["certified"], false, "asking certified");
    let mut confirmed = fields.to_vec();
    confirmed.push(("confirmed", "yes"));
    let done = clerk
        .post(&confirm, "/staff/certification/certify", &confirmed)
        .await;
    done.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        done.location.as_deref(),
        Some("/staff/certification?email=maria%40example.gr&done=certify")
    );
    let after = clerk.get(done.location.as_deref().unwrap()).await;
    after.assert_has("class=\"panel-confirmation\"");
    after.assert_has("tag tag--certified");
    after.assert_has("Παράδειγμα Α.Ε.");
    after.assert_has("id=\"action-revoke\"");
    after.assert_lacks("id=\"action-certify\"");

    // The citizen now sees the form, and their certification.
    let mut citizen = Visitor::log_in(&app, CITIZEN_EMAIL, CITIZEN_PASSWORD).await;
    let mine = citizen.get("/certification").await;
    mine.assert_has("tag tag--certified");
    mine.assert_has("Παράδειγμα Α.Ε.");
    mine.assert_has(VALID_AFM);
    let form = citizen.get("/certificates/civil-registry/new").await;
    form.assert_status(StatusCode::OK);

    // Revoking needs a reason; then it is behind its confirmation.
    let empty = clerk
        .post(
            &after,
            "/staff/certification/revoke",
            &[("email", CITIZEN_EMAIL), ("reason", " ")],
        )
        .await;
    empty.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    empty.assert_has("id=\"revoke-reason-error\"");
    let reason = "Ο εκπρόσωπος άλλαξε.";
    let confirm = clerk
        .post(
            &after,
            "/staff/certification/revoke",
            &[("email", CITIZEN_EMAIL), ("reason", reason)],
        )
        .await;
    confirm.assert_status(StatusCode::OK);
    assert_eq!(confirm.text_of("confirm-reason"), reason);
    let done = clerk
        .post(
            &confirm,
            "/staff/certification/revoke",
            &[
                ("email", CITIZEN_EMAIL),
                ("reason", reason),
                ("confirmed", "yes"),
            ],
        )
        .await;
    done.assert_status(StatusCode::SEE_OTHER);
    let after = clerk.get(done.location.as_deref().unwrap()).await;
    after.assert_has("tag tag--revoked");
    after.assert_has(reason);
    after.assert_has("id=\"action-certify\"");

    app.read_models_caught_up().await;
    let mine = citizen.get("/certification").await;
    mine.assert_has("tag tag--revoked");
    mine.assert_has("id=\"certification-revoked\"");
    mine.assert_has(reason);
    let refused = citizen.get("/certificates/tap/new").await;
    refused.assert_status(StatusCode::FORBIDDEN);

    // Staff accounts are not certified.
    let staff = clerk
        .get("/staff/certification?email=clerk%40dimos.example.gr")
        .await;
    staff.assert_has("id=\"not-certifiable\"");
    staff.assert_lacks("id=\"action-certify\"");
}

// ---------------------------------------------------------------------------------------
// The auditor
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_auditor_sees_the_events_of_an_application_and_of_a_certification() {
    let (app, clerk_token) = office().await;
    certify_by_api(&app, &clerk_token, CITIZEN_EMAIL).await;
    let applied = apply_by_api(&app, birth_certificate("electronic")).await;
    let id = applied["id"].as_str().unwrap();
    let number = applied["number"].as_str().unwrap();
    app.staff("auditor", AUDITOR_EMAIL, "Ελένη Ελεγκτή").await;
    let account_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM accounts WHERE email_normalized = $1")
            .bind(CITIZEN_EMAIL)
            .fetch_one(&app.state.pool)
            .await
            .unwrap();

    let mut auditor = Visitor::log_in(&app, AUDITOR_EMAIL, STAFF_PASSWORD).await;
    let page = auditor.get(&format!("/audit/cases/{id}")).await;
    page.assert_status(StatusCode::OK);
    page.assert_has("CertificateApplication");
    page.assert_has(number);
    page.assert_has("ApplicationSubmitted");
    page.assert_has("ApplicationProtocolRegistered");
    page.assert_has(&greek("timeline_ApplicationSubmitted"));
    page.assert_has("tag tag--valid");
    // Every field of the application's state is named in words.
    page.assert_lacks("field-unlabelled");
    let state = auditor
        .get(&format!("/audit/cases/{id}/state?sequence=1"))
        .await;
    state.assert_status(StatusCode::OK);
    state.assert_has("submitted");

    let page = auditor.get(&format!("/audit/cases/{account_id}")).await;
    page.assert_status(StatusCode::OK);
    page.assert_has("Certification");
    page.assert_has("UserCertified");
    page.assert_has(&greek("timeline_UserCertified"));
    page.assert_has("tag tag--valid");
    let state = auditor
        .get(&format!("/audit/cases/{account_id}/state"))
        .await;
    state.assert_status(StatusCode::OK);
    state.assert_has("identity_card");
}

#[tokio::test]
async fn a_pdf_larger_than_two_megabytes_uploads_and_one_over_the_limit_is_refused_in_place() {
    let app = TestApp::spawn_with(|c| c.document_max_bytes = 3 * 1024 * 1024).await;
    app.citizen(CITIZEN_EMAIL, CITIZEN_NAME).await;
    let clerk_token = app.staff("clerk", CLERK_EMAIL, CLERK_NAME).await;
    certify_by_api(&app, &clerk_token, CITIZEN_EMAIL).await;
    let applied = apply_by_api(&app, birth_certificate("electronic")).await;
    let id = applied["id"].as_str().unwrap().to_string();
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    clerk_confirms(&mut clerk, &id, "review", &[]).await;
    let case = clerk.get(&format!("/staff/applications/{id}")).await;
    case.assert_has("3 MB");
    let token = case.csrf_field();
    let pdf_of = |size: usize| {
        let mut bytes = PDF.to_vec();
        bytes.resize(size, b' ');
        bytes
    };

    // 2,5 MB: more than the extractors' default, within the portal's limit.
    let big = pdf_of(5 * 1024 * 1024 / 2);
    let confirm = clerk
        .post_multipart(
            &format!("/staff/applications/{id}/issue"),
            &[("csrf_token", &token)],
            Some(("big.pdf", &big)),
        )
        .await;
    confirm.assert_status(StatusCode::OK);
    assert_eq!(confirm.text_of("confirm-document"), "big.pdf (2,5 MB)");

    // 3,5 MB: over the limit, said next to the file field.
    let too_big = pdf_of(7 * 1024 * 1024 / 2);
    let refused = clerk
        .post_multipart(
            &format!("/staff/applications/{id}/issue"),
            &[("csrf_token", &token)],
            Some(("too-big.pdf", &too_big)),
        )
        .await;
    refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_has("id=\"document-error\"");
    refused.assert_has(&greek("document_too_large"));

    // Far over it: the body is not even read.
    let huge = pdf_of(6 * 1024 * 1024);
    let refused = clerk
        .post_multipart(
            &format!("/staff/applications/{id}/issue"),
            &[("csrf_token", &token)],
            Some(("huge.pdf", &huge)),
        )
        .await;
    refused.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        api_status(&app, &clerk_token, &id).await["status"],
        "in_review"
    );
}

#[tokio::test]
async fn an_uploaded_pdf_may_be_confirmed_through_another_portal_process() {
    // Behind a load balancer the confirmation may reach another process than the upload.
    let (app, clerk_token) = office().await;
    certify_by_api(&app, &clerk_token, CITIZEN_EMAIL).await;
    let applied = apply_by_api(&app, birth_certificate("electronic")).await;
    let id = applied["id"].as_str().unwrap().to_string();
    let case_path = format!("/staff/applications/{id}");
    let mut clerk = Visitor::log_in(&app, CLERK_EMAIL, STAFF_PASSWORD).await;
    clerk_confirms(&mut clerk, &id, "review", &[]).await;
    let case = clerk.get(&format!("{case_path}?done=review")).await;
    let token = case.csrf_field();
    let confirm = clerk
        .post_multipart(
            &format!("{case_path}/issue"),
            &[("csrf_token", &token)],
            Some(("gennisi.pdf", PDF)),
        )
        .await;
    confirm.assert_status(StatusCode::OK);
    let upload = confirm.hidden("upload").expect("the upload's token");

    let mut config = crate::common::test_config(&app.db);
    config.protocol_url = None;
    let second = portal::Application::build(config)
        .await
        .expect("a second portal builds");
    let (second_base, _, _) = second.spawn();
    clerk.base = second_base;
    let done = clerk
        .post(
            &confirm,
            &format!("{case_path}/issue"),
            &[("upload", &upload), ("confirmed", "yes")],
        )
        .await;
    done.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        api_status(&app, &clerk_token, &id).await["status"],
        "issued"
    );
    let copy = clerk.get(&format!("{case_path}/document")).await;
    assert_eq!(copy.bytes, PDF);
}

#[tokio::test]
async fn a_large_multipart_body_is_refused_outside_the_clerks_upload() {
    // Every page form is small; only the issue form takes a file. A large body elsewhere is
    // refused before the portal holds it.
    let app = TestApp::spawn().await;
    let mut visitor = Visitor::new(&app);
    let form = visitor.get("/register").await;
    let token = form.csrf_field();
    let big = vec![b'x'; 512 * 1024];
    let refused = visitor
        .post_multipart(
            "/register",
            &[("csrf_token", &token)],
            Some(("a.pdf", &big)),
        )
        .await;
    refused.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
}
