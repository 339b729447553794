//! HTTP tests of certificates (issue 4: S6–S9, S15) against a real portal and PostgreSQL:
//! certification by a clerk, civil-registry and ΤΑΠ applications, automatic protocol
//! registration with retries (the protocol sandbox down, slow, failing, answering twice,
//! and across a portal restart), the clerks' processing, deadlines, and the audit trail.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::pages::Visitor;
use crate::common::{json_body, test_config, DetachedPortal, TestApp, TestDatabase};
use chrono::{NaiveDate, TimeZone, Utc};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use sandboxes::protocol::{ProtocolFaults, ProtocolSandbox};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CITIZEN_EMAIL: &str = "maria@example.gr";
const CITIZEN_NAME: &str = "Μαρία Παπαδοπούλου";
const OTHER_EMAIL: &str = "kostas@example.gr";
const OTHER_NAME: &str = "Κώστας Νικολάου";
const CLERK_NAME: &str = "Γεώργιος Υπαλληλίδης";
const AUDITOR_NAME: &str = "Ελένη Ελεγκτή";
const VALID_AFM: &str = "094259216";
const COMPANY: &str = "Ταβέρνα «Ο Μύλος» Ο.Ε.";

/// A small but real-looking PDF.
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% \xce\xa0\xce\xb9\xcf\x83\xcf\x84\xce\xbf\xcf\x80\xce\xbf\xce\xb9\xce\xb7\xcf\x84\xce\xb9\xce\xba\xcf\x8c\n%%EOF\n";

/// A portal with a citizen, a second citizen, a clerk and an auditor, logged in.
struct Office {
    app: TestApp,
    citizen: String,
    other: String,
    clerk: String,
    auditor: String,
}

impl Office {
    async fn open() -> Self {
        Self::open_with(|_| {}).await
    }

    async fn open_with(adjust: impl FnOnce(&mut portal::Config)) -> Self {
        let app = TestApp::spawn_with(adjust).await;
        let citizen = app.citizen(CITIZEN_EMAIL, CITIZEN_NAME).await;
        let other = app.citizen(OTHER_EMAIL, OTHER_NAME).await;
        let clerk = app
            .staff("clerk", "clerk@dimos.example.gr", CLERK_NAME)
            .await;
        let auditor = app
            .staff("auditor", "auditor@dimos.example.gr", AUDITOR_NAME)
            .await;
        Self {
            app,
            citizen,
            other,
            clerk,
            auditor,
        }
    }

    /// An office whose protocol registrar retries every second and looks every 100 ms.
    async fn with_fast_retries() -> Self {
        Self::open_with(fast_retries).await
    }

    /// An office whose citizen is certified.
    async fn certified() -> Self {
        let office = Self::open().await;
        office.certify_ok(CITIZEN_EMAIL).await;
        office
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut req = self.app.client.request(method, self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req
    }

    /// `GET path` after `position` (read-your-writes across sessions).
    async fn get_after(&self, path: &str, token: &str, position: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .header("x-portal-position", position)
            .send()
            .await
            .expect("request sent")
    }

    // --- Certification ---------------------------------------------------------------

    async fn certify(&self, token: &str, body: Value) -> Response {
        self.app
            .post("/api/v1/staff/certifications", Some(token), body)
            .await
    }

    /// The clerk certifies the account of `email` with an identity card; answers the JSON.
    async fn certify_ok(&self, email: &str) -> Value {
        let r = self
            .certify(
                &self.clerk,
                json!({"email": email, "document": "identity_card", "document_number": "ΑΚ 123456"}),
            )
            .await;
        created(r).await
    }

    async fn revoke(&self, email: &str, reason: &str) -> Response {
        self.app
            .post(
                "/api/v1/staff/certifications/revoke",
                Some(&self.clerk),
                json!({"email": email, "reason": reason}),
            )
            .await
    }

    /// `GET /api/v1/my/certification` as `token`, after `position`.
    async fn my_certification(&self, token: &str, position: &str) -> Value {
        ok(self
            .get_after("/api/v1/my/certification", token, position)
            .await)
        .await
    }

    // --- Applications ----------------------------------------------------------------

    async fn apply(&self, token: &str, body: Value) -> Response {
        self.app
            .post("/api/v1/applications", Some(token), body)
            .await
    }

    /// The citizen applies; answers the 201's JSON.
    async fn apply_ok(&self, body: Value) -> Value {
        created(self.apply(&self.citizen, body).await).await
    }

    /// The citizen applies for a birth certificate delivered `delivery`; answers its id.
    async fn new_application(&self, delivery: Value) -> String {
        let mut body = civil_registry("birth");
        merge(&mut body, delivery);
        id_of(&self.apply_ok(body).await)
    }

    async fn act(&self, token: &str, id: &str, action: &str, body: Option<Value>) -> Response {
        let mut req = self.request(
            Method::POST,
            &format!("/api/v1/staff/applications/{id}/{action}"),
            Some(token),
        );
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    async fn review(&self, id: &str) -> Response {
        self.act(&self.clerk, id, "review", None).await
    }

    async fn request_information(&self, id: &str, question: &str) -> Response {
        self.act(
            &self.clerk,
            id,
            "request-information",
            Some(json!({ "question": question })),
        )
        .await
    }

    async fn reject(&self, id: &str, reason: &str) -> Response {
        self.act(&self.clerk, id, "reject", Some(json!({ "reason": reason })))
            .await
    }

    async fn issue_note(&self, id: &str, note: Option<&str>) -> Response {
        let body = match note {
            Some(n) => json!({ "note": n }),
            None => json!({}),
        };
        self.act(&self.clerk, id, "issue", Some(body)).await
    }

    async fn issue_pdf(&self, id: &str, filename: &str, bytes: Vec<u8>) -> Response {
        self.request(
            Method::POST,
            &format!("/api/v1/staff/applications/{id}/issue"),
            Some(&self.clerk),
        )
        .header("content-type", "application/pdf")
        .header("x-filename", filename)
        .body(bytes)
        .send()
        .await
        .expect("request sent")
    }

    async fn register_now(&self, id: &str) -> Response {
        self.act(&self.clerk, id, "protocol", None).await
    }

    async fn reply(&self, token: &str, id: &str, reply: &str) -> Response {
        self.app
            .post(
                &format!("/api/v1/my/applications/{id}/reply"),
                Some(token),
                json!({ "reply": reply }),
            )
            .await
    }

    /// The application as its citizen sees it, after `position`.
    async fn mine(&self, id: &str, position: &str) -> Value {
        ok(self
            .get_after(
                &format!("/api/v1/my/applications/{id}"),
                &self.citizen,
                position,
            )
            .await)
        .await
    }

    /// The application as the clerk sees it.
    async fn staff_view(&self, id: &str) -> Value {
        self.app.read_models_caught_up().await;
        ok(self
            .app
            .get(
                &format!("/api/v1/staff/applications/{id}"),
                Some(&self.clerk),
            )
            .await)
        .await
    }

    /// The clerks' dashboard's figures.
    async fn dashboard(&self) -> Value {
        ok(self.app.get("/api/v1/staff/stats", Some(&self.clerk)).await).await
    }

    async fn queue(&self, query: &str) -> Response {
        self.app
            .get(
                &format!("/api/v1/staff/applications{query}"),
                Some(&self.clerk),
            )
            .await
    }

    async fn my_list(&self, token: &str, query: &str) -> Response {
        self.app.read_models_caught_up().await;
        self.app
            .get(&format!("/api/v1/my/applications{query}"), Some(token))
            .await
    }

    async fn events(&self, id: &str) -> Vec<Value> {
        events_of(&self.app.client, &self.app.base, &self.auditor, id).await
    }

    async fn account_id(&self, token: &str) -> String {
        let me = ok(self.app.get("/api/v1/me", Some(token)).await).await;
        me["id"].as_str().expect("an account id").to_string()
    }

    /// How many events of applications the log holds.
    async fn application_events_stored(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = 'CertificateApplication'",
        )
        .fetch_one(&self.app.state.pool)
        .await
        .expect("the events table answers")
    }

    async fn documents_stored(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM documents")
            .fetch_one(&self.app.state.pool)
            .await
            .expect("the documents table answers")
    }
}

fn fast_retries(config: &mut portal::Config) {
    config.protocol_retry_first = Duration::from_secs(1);
    config.protocol_retry_every = Duration::from_secs(1);
    config.protocol_poll = Duration::from_millis(100);
}

fn down() -> ProtocolFaults {
    ProtocolFaults {
        down: true,
        ..Default::default()
    }
}

/// A civil-registry application of `certificate_type`, delivered electronically.
fn civil_registry(certificate_type: &str) -> Value {
    json!({
        "kind": "civil_registry",
        "certificate_type": certificate_type,
        "text": "Χρειάζομαι το πιστοποιητικό για την εγγραφή του παιδιού μου στο σχολείο.",
        "delivery": "electronic",
    })
}

/// A ΤΑΠ application delivered in person.
fn tap() -> Value {
    json!({
        "kind": "tap",
        "property_address": "Οδός Ερμού 12, 105 63 Αθήνα",
        "supply_number": "1 23456789-01",
        "area": "85,50",
        "kaek": "050681726001/0/3",
        "text": "Για τη μεταβίβαση του ακινήτου.",
        "delivery": "in_person",
    })
}

fn merge(body: &mut Value, changes: Value) {
    for (k, v) in changes.as_object().expect("an object of changes") {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
}

fn with(mut body: Value, changes: Value) -> Value {
    merge(&mut body, changes);
    body
}

fn id_of(answer: &Value) -> String {
    answer["id"].as_str().expect("an id").to_string()
}

fn position_of(answer: &Value) -> String {
    answer["position"].as_str().expect("a position").to_string()
}

/// Today in Athens, where deadlines are counted.
fn athens_today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Athens)
        .date_naive()
}

async fn ok(r: Response) -> Value {
    let status = r.status();
    let body = json_body(r).await;
    assert_eq!(status, StatusCode::OK, "expected 200, got {status}: {body}");
    body
}

async fn created(r: Response) -> Value {
    let status = r.status();
    let body = json_body(r).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "expected 201, got {status}: {body}"
    );
    body
}

/// Asserts an error answer with `status` and `code`, and a message for the reader.
async fn refused(r: Response, status: StatusCode, code: &str) -> Value {
    let got = r.status();
    let body = json_body(r).await;
    assert_eq!(got, status, "expected {status} {code}, got {got}: {body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error says what to do: {body}");
    body
}

/// Asserts a 422 naming `field` with `code` among the fields to correct.
async fn field_refused(r: Response, field: &str, code: &str) -> Value {
    let body = refused(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields = body["error"]["fields"].as_array().expect("fields");
    assert!(
        fields
            .iter()
            .any(|f| f["field"] == field && f["code"] == code),
        "expected field {field} with {code}: {body}"
    );
    body
}

/// A rule's refusal (422 with `code`).
async fn rule_refused(r: Response, code: &str) -> Value {
    refused(r, StatusCode::UNPROCESSABLE_ENTITY, code).await
}

fn types_of(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("an event type"))
        .collect()
}

fn count_of(events: &[Value], event_type: &str) -> usize {
    events.iter().filter(|e| e["type"] == event_type).count()
}

fn timeline_types(detail: &Value) -> Vec<&str> {
    detail["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|e| e["event_type"].as_str().expect("an event type"))
        .collect()
}

fn ids_of(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("an id"))
        .collect()
}

fn is_protocol_number(value: &Value) -> bool {
    // The sandbox numbers documents `serial/year`.
    value.as_str().is_some_and(|n| {
        n.split_once('/').is_some_and(|(serial, year)| {
            serial.parse::<u64>().is_ok() && year.len() == 4 && year.parse::<u32>().is_ok()
        })
    })
}

fn time_of(value: &Value) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// The auditor's event list of a case on the portal at `base`.
async fn events_of(client: &Client, base: &str, auditor: &str, id: &str) -> Vec<Value> {
    let r = client
        .get(format!("{base}/api/v1/audit/cases/{id}/events"))
        .bearer_auth(auditor)
        .send()
        .await
        .expect("request sent");
    let body = ok(r).await;
    body["events"].as_array().expect("an event list").clone()
}

/// Polls `probe` until it answers `Some`, for at most `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the citizen sees a protocol number on application `id`; answers the detail.
async fn protocol_number_reaches_the_citizen(office: &Office, id: &str) -> Value {
    eventually("the protocol number", Duration::from_secs(20), || async {
        let r = office
            .app
            .get(
                &format!("/api/v1/my/applications/{id}"),
                Some(&office.citizen),
            )
            .await;
        let detail = ok(r).await;
        is_protocol_number(&detail["application"]["protocol_number"]).then_some(detail)
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Certification (S6).
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_clerk_certifies_a_citizen_and_the_citizen_sees_it() {
    let office = Office::open().await;
    let before = ok(office
        .app
        .get("/api/v1/my/certification", Some(&office.citizen))
        .await)
    .await;
    assert_eq!(before["certified"], false, "{before}");
    assert_eq!(before["certification"], Value::Null);
    assert!(
        before["how_to_get_certified"]
            .as_str()
            .is_some_and(|s| s.contains("ΚΕΠ")),
        "an uncertified user is told how to get certified: {before}"
    );

    let answer = office
        .certify(
            &office.clerk,
            json!({"email": "  MARIA@example.gr ", "document": "passport", "document_number": "ak-123 456"}),
        )
        .await;
    let answer = created(answer).await;
    let citizen_id = office.account_id(&office.citizen).await;
    assert_eq!(answer["account_id"], citizen_id.as_str());
    assert_eq!(answer["certified"], true);

    let mine = office
        .my_certification(&office.citizen, &position_of(&answer))
        .await;
    assert_eq!(mine["certified"], true, "{mine}");
    let c = &mine["certification"];
    assert_eq!(c["account_id"], citizen_id.as_str());
    assert_eq!(c["holder_name"], CITIZEN_NAME);
    assert_eq!(c["document"], "passport");
    assert_eq!(c["document_number"], "AK123456");
    assert_eq!(c["certified_by_name"], CLERK_NAME);
    assert_eq!(c["business_name"], Value::Null);
    assert_eq!(c["business_afm"], Value::Null);
    let certified_at = time_of(&c["certified_at"]);
    assert!((Utc::now() - certified_at).num_seconds().abs() < 60, "{c}");

    // The clerk finds the account and its certification by e-mail.
    let r = office
        .app
        .get(
            "/api/v1/staff/certifications?email=maria@example.gr",
            Some(&office.clerk),
        )
        .await;
    let found = ok(r).await;
    assert_eq!(found["account"]["id"], citizen_id.as_str());
    assert_eq!(found["account"]["full_name"], CITIZEN_NAME);
    assert_eq!(found["account"]["role"], "citizen");
    assert_eq!(found["certification"]["certified"], true);
    assert_eq!(found["certification"]["document_number"], "AK123456");

    // The other citizen is untouched.
    let other = office
        .my_certification(&office.other, &position_of(&answer))
        .await;
    assert_eq!(other["certified"], false);
}

#[tokio::test]
async fn a_business_is_certified_through_its_representative() {
    let office = Office::open().await;
    let answer = created(
        office
            .certify(
                &office.clerk,
                json!({
                    "email": CITIZEN_EMAIL,
                    "document": "identity_card",
                    "document_number": "ΑΚ 654321",
                    "company_name": COMPANY,
                    "afm": "094 259 216",
                }),
            )
            .await,
    )
    .await;
    let mine = office
        .my_certification(&office.citizen, &position_of(&answer))
        .await;
    assert_eq!(mine["certified"], true);
    let c = &mine["certification"];
    assert_eq!(c["holder_name"], CITIZEN_NAME);
    assert_eq!(c["document"], "identity_card");
    assert_eq!(c["document_number"], "ΑΚ654321");
    assert_eq!(c["business_name"], COMPANY);
    assert_eq!(c["business_afm"], VALID_AFM);

    // The representative applies on behalf of the business: the application and the
    // protocol system name the business.
    let applied = office.apply_ok(tap()).await;
    let id = id_of(&applied);
    let detail = office.mine(&id, &position_of(&applied)).await;
    assert_eq!(detail["application"]["business_name"], COMPANY);
    assert_eq!(detail["application"]["business_afm"], VALID_AFM);
    assert_eq!(detail["application"]["applicant_name"], CITIZEN_NAME);
    let documents = office.app.protocol.documents();
    assert_eq!(documents.len(), 1);
    assert_eq!(
        documents[0].sender,
        format!("{COMPANY} (εκπρόσωπος: {CITIZEN_NAME})")
    );
}

#[tokio::test]
async fn certification_refusals_name_what_to_fix() {
    let office = Office::open().await;
    let office = &office;
    let base = || json!({"email": CITIZEN_EMAIL, "document": "identity_card", "document_number": "ΑΚ 123456"});
    let certify = |changes: Value| {
        let body = with(base(), changes);
        async move { office.certify(&office.clerk, body).await }
    };

    // The ΑΦΜ's check digit (094259216 is valid; 094259217 is not).
    field_refused(
        certify(json!({"company_name": COMPANY, "afm": "094259217"})).await,
        "afm",
        "afm_invalid",
    )
    .await;
    field_refused(
        certify(json!({"company_name": COMPANY, "afm": "12345678"})).await,
        "afm",
        "afm_invalid",
    )
    .await;
    // A business needs both its name and its ΑΦΜ.
    field_refused(
        certify(json!({"company_name": COMPANY})).await,
        "afm",
        "business_incomplete",
    )
    .await;
    field_refused(
        certify(json!({"afm": VALID_AFM})).await,
        "company_name",
        "business_incomplete",
    )
    .await;
    field_refused(
        certify(json!({"email": "nobody@example.gr"})).await,
        "email",
        "account_not_found",
    )
    .await;
    field_refused(
        certify(json!({"email": "clerk@dimos.example.gr"})).await,
        "email",
        "staff_not_certifiable",
    )
    .await;
    field_refused(
        certify(json!({"email": "auditor@dimos.example.gr"})).await,
        "email",
        "staff_not_certifiable",
    )
    .await;
    field_refused(
        certify(json!({"document": "driving_licence"})).await,
        "document",
        "document_kind_invalid",
    )
    .await;
    field_refused(
        certify(json!({"document": null})).await,
        "document",
        "document_kind_invalid",
    )
    .await;
    field_refused(
        certify(json!({"document_number": "ΑΚ/123456"})).await,
        "document_number",
        "document_number_invalid",
    )
    .await;
    field_refused(
        certify(json!({"document_number": "12"})).await,
        "document_number",
        "document_number_invalid",
    )
    .await;
    field_refused(
        certify(json!({"document_number": " "})).await,
        "document_number",
        "document_number_required",
    )
    .await;
    // Several mistakes at once are all named.
    let body = field_refused(
        certify(json!({"document": "x", "document_number": "1", "company_name": COMPANY, "afm": "111111111"}))
            .await,
        "document",
        "document_kind_invalid",
    )
    .await;
    assert_eq!(
        body["error"]["fields"].as_array().unwrap().len(),
        3,
        "{body}"
    );
    refused(
        certify(json!({"colour": "blue"})).await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
    )
    .await;

    // Nothing was certified by any of that.
    office.app.read_models_caught_up().await;
    let mine = ok(office
        .app
        .get("/api/v1/my/certification", Some(&office.citizen))
        .await)
    .await;
    assert_eq!(mine["certified"], false, "{mine}");

    // Once certified, certifying again is refused.
    office.certify_ok(CITIZEN_EMAIL).await;
    rule_refused(certify(json!({})).await, "already_certified").await;
}

#[tokio::test]
async fn revoking_needs_a_reason_and_a_certification_and_a_user_may_be_certified_again() {
    let office = Office::open().await;
    rule_refused(
        office.revoke(CITIZEN_EMAIL, "Λάθος στοιχεία").await,
        "not_certified",
    )
    .await;
    office.certify_ok(CITIZEN_EMAIL).await;
    field_refused(
        office.revoke(CITIZEN_EMAIL, "  ").await,
        "reason",
        "note_required",
    )
    .await;
    field_refused(
        office.revoke("nobody@example.gr", "Λάθος").await,
        "email",
        "account_not_found",
    )
    .await;

    let revoked = ok(office
        .revoke(CITIZEN_EMAIL, "Η ταυτότητα είχε δηλωθεί κλεμμένη.")
        .await)
    .await;
    assert_eq!(revoked["certified"], false);
    let mine = office
        .my_certification(&office.citizen, &position_of(&revoked))
        .await;
    assert_eq!(mine["certified"], false, "{mine}");
    let c = &mine["certification"];
    assert_eq!(c["revoke_reason"], "Η ταυτότητα είχε δηλωθεί κλεμμένη.");
    assert_eq!(c["revoked_by_name"], CLERK_NAME);
    assert!(c["revoked_at"].is_string(), "{c}");
    rule_refused(office.revoke(CITIZEN_EMAIL, "Ξανά").await, "not_certified").await;

    // A revoked user cannot apply.
    refused(
        office.apply(&office.citizen, civil_registry("birth")).await,
        StatusCode::FORBIDDEN,
        "certification_required",
    )
    .await;

    // Certified again, now as a business's representative.
    let again = created(
        office
            .certify(
                &office.clerk,
                json!({"email": CITIZEN_EMAIL, "document": "residence_permit", "document_number": "X1234567",
                       "company_name": COMPANY, "afm": VALID_AFM}),
            )
            .await,
    )
    .await;
    let mine = office
        .my_certification(&office.citizen, &position_of(&again))
        .await;
    assert_eq!(mine["certified"], true, "{mine}");
    let c = &mine["certification"];
    assert_eq!(c["document"], "residence_permit");
    assert_eq!(c["business_afm"], VALID_AFM);
    assert_eq!(c["revoke_reason"], Value::Null);
    assert_eq!(c["revoked_at"], Value::Null);
    created(office.apply(&office.citizen, civil_registry("birth")).await).await;
}

#[tokio::test]
async fn only_staff_certify() {
    let office = Office::open().await;
    let body =
        json!({"email": OTHER_EMAIL, "document": "identity_card", "document_number": "ΑΚ 123456"});
    for (token, status, code) in [
        (
            Some(office.citizen.as_str()),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(office.auditor.as_str()),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (None, StatusCode::UNAUTHORIZED, "unauthenticated"),
    ] {
        let r = office
            .app
            .post("/api/v1/staff/certifications", token, body.clone())
            .await;
        refused(r, status, code).await;
        let r = office
            .app
            .post(
                "/api/v1/staff/certifications/revoke",
                token,
                json!({"email": OTHER_EMAIL, "reason": "x"}),
            )
            .await;
        refused(r, status, code).await;
        let r = office
            .app
            .get(
                "/api/v1/staff/certifications?email=kostas@example.gr",
                token,
            )
            .await;
        refused(r, status, code).await;
    }
    refused(
        office.app.get("/api/v1/my/certification", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    office.app.read_models_caught_up().await;
    let other = ok(office
        .app
        .get("/api/v1/my/certification", Some(&office.other))
        .await)
    .await;
    assert_eq!(other["certified"], false);
}

// ---------------------------------------------------------------------------------------
// Applying (S7, S8) and the applicant's lists (S9).
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_uncertified_citizen_is_refused_and_nothing_is_stored() {
    let office = Office::open().await;
    let body = refused(
        office.apply(&office.citizen, civil_registry("birth")).await,
        StatusCode::FORBIDDEN,
        "certification_required",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ΚΕΠ")),
        "the refusal says how to get certified: {body}"
    );
    // Before the form's own errors: an invalid form gets the same answer.
    refused(
        office.apply(&office.citizen, json!({"kind": "tap"})).await,
        StatusCode::FORBIDDEN,
        "certification_required",
    )
    .await;
    assert_eq!(office.application_events_stored().await, 0);
    let list = ok(office.my_list(&office.citizen, "").await).await;
    assert_eq!(list["items"], json!([]));
    assert!(office.app.protocol.documents().is_empty());
    let queue = ok(office.queue("").await).await;
    assert_eq!(queue["items"], json!([]));
}

/// The use cases act at the portal's clock: an application filed at 00:30 on 1 July 2031 in
/// Athens (21:30 UTC on 30 June) is numbered in that year, due ten days after that day in
/// Athens (11 July, not 10), and its submission and registration events carry that time,
/// whatever the machine's clock says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_is_filed_and_registered_at_the_portals_clock() {
    let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2031, 6, 30, 21, 30, 0).unwrap();
    let clock = domain::ports::ManualClock::at(at);
    let office = Office::open_with({
        let clock = clock.clone();
        move |c| c.clock = std::sync::Arc::new(clock)
    })
    .await;
    office.certify_ok(CITIZEN_EMAIL).await;
    let answer = office.apply_ok(civil_registry("birth")).await;
    let id = id_of(&answer);
    assert_eq!(answer["number"], "2031/000001", "{answer}");
    assert_eq!(answer["due_on"], "2031-07-11", "{answer}");
    // (The protocol date is the protocol system's own record, by its own clock.)
    protocol_number_reaches_the_citizen(&office, &id).await;
    let events = office.events(&id).await;
    for event_type in ["ApplicationSubmitted", "ApplicationProtocolRegistered"] {
        let event = events
            .iter()
            .find(|e| e["type"] == event_type)
            .unwrap_or_else(|| panic!("{event_type} in {events:?}"));
        assert_eq!(time_of(&event["payload"]["data"]["at"]), at, "{event}");
    }
}

#[tokio::test]
async fn a_certified_citizen_applies_for_a_civil_registry_certificate() {
    let office = Office::certified().await;
    let text = "Παρακαλώ για πιστοποιητικό οικογενειακής κατάστασης.\nΧρήση: «ΟΠΕΚΑ» — επίδομα παιδιών;\tΕυχαριστώ!";
    let started = Utc::now();
    let answer = office
        .apply_ok(json!({
            "kind": "civil_registry",
            "certificate_type": "family_status",
            "text": text,
            "delivery": "post",
            "postal_address": "Οδός Αθηνάς 5\n105 51 Αθήνα",
        }))
        .await;
    let id = id_of(&answer);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{answer}");
    assert_eq!(answer["status"], "submitted");
    let year = athens_today().format("%Y").to_string();
    assert!(
        answer["number"]
            .as_str()
            .is_some_and(|n| n.starts_with(&format!("{year}/"))),
        "{answer}"
    );
    let due = athens_today() + chrono::Days::new(10);
    assert_eq!(answer["due_on"], due.to_string(), "{answer}");
    assert!(is_protocol_number(&answer["protocol_number"]), "{answer}");
    assert_eq!(answer["protocol_pending"], false);
    let protocol_date = time_of(&answer["protocol_date"]);
    assert!(protocol_date >= started - chrono::Duration::seconds(1));

    // What the protocol system received, and what it answered.
    let documents = office.app.protocol.documents();
    assert_eq!(documents.len(), 1);
    let document = &documents[0];
    assert_eq!(
        document.protocol_number,
        answer["protocol_number"].as_str().unwrap()
    );
    assert_eq!(document.registered_at, protocol_date);
    assert_eq!(
        document.idempotency_key,
        format!("CertificateApplication:{id}")
    );
    assert_eq!(
        document.subject,
        "Αίτηση: Πιστοποιητικό Οικογενειακής Κατάστασης"
    );
    assert_eq!(document.sender, CITIZEN_NAME);
    assert_eq!(document.case_number, answer["number"].as_str().unwrap());

    // The citizen's case page: the text exactly as typed, the protocol data, the deadline.
    let detail = office.mine(&id, &position_of(&answer)).await;
    let a = &detail["application"];
    assert_eq!(a["id"], id.as_str());
    assert_eq!(a["number"], answer["number"]);
    assert_eq!(a["kind"], "civil_registry");
    assert_eq!(a["certificate_type"], "family_status");
    assert_eq!(
        a["certificate_name"],
        "Πιστοποιητικό Οικογενειακής Κατάστασης"
    );
    assert_eq!(a["text"], text);
    assert_eq!(a["delivery_method"], "post");
    assert_eq!(a["delivery_address"], "Οδός Αθηνάς 5\n105 51 Αθήνα");
    assert_eq!(a["status"], "submitted");
    assert_eq!(a["due_on"], due.to_string());
    assert_eq!(a["overdue"], false);
    assert_eq!(a["protocol_number"], answer["protocol_number"]);
    // The read model keeps microseconds.
    let shown = time_of(&a["protocol_date"]);
    assert!(
        (shown - protocol_date).num_microseconds().unwrap().abs() <= 1,
        "{a}"
    );
    assert_eq!(a["protocol_pending"], false);
    assert_eq!(a["protocol_attempts"], 1);
    assert_eq!(a["applicant_name"], CITIZEN_NAME);
    assert_eq!(a["business_name"], Value::Null);
    assert_eq!(
        timeline_types(&detail),
        ["ApplicationSubmitted", "ApplicationProtocolRegistered"]
    );
    let registered = &detail["timeline"][1];
    assert_eq!(
        registered["details"]["protocol_number"],
        answer["protocol_number"]
    );
    assert_eq!(registered["status"], "submitted");
    assert_eq!(detail["timeline"][0]["actor_name"], CITIZEN_NAME);

    // The event keeps the Greek text byte for byte.
    let events = office.events(&id).await;
    assert_eq!(events[0]["payload"]["data"]["text"], text);
}

#[tokio::test]
async fn a_certified_citizen_applies_for_a_tap_certificate() {
    let office = Office::certified().await;
    let answer = office.apply_ok(tap()).await;
    let id = id_of(&answer);
    assert_eq!(
        answer["due_on"],
        (athens_today() + chrono::Days::new(10)).to_string()
    );
    assert!(is_protocol_number(&answer["protocol_number"]), "{answer}");
    let detail = office.mine(&id, &position_of(&answer)).await;
    let a = &detail["application"];
    assert_eq!(a["kind"], "tap");
    assert_eq!(a["property_address"], "Οδός Ερμού 12, 105 63 Αθήνα");
    assert_eq!(a["supply_number"], "12345678901");
    assert_eq!(a["area"], "85,50");
    assert_eq!(a["area_hundredths"], 8550);
    assert_eq!(a["kaek"], "050681726001/0/3");
    assert_eq!(a["text"], "Για τη μεταβίβαση του ακινήτου.");
    assert_eq!(a["delivery_method"], "in_person");
    assert_eq!(a["certificate_type"], Value::Null);
    assert_eq!(
        office.app.protocol.documents()[0].subject,
        "Αίτηση βεβαίωσης μη οφειλής ΤΑΠ: Οδός Ερμού 12, 105 63 Αθήνα"
    );

    // ΚΑΕΚ is optional; a dot is a decimal mark too.
    let answer = office
        .apply_ok(with(
            tap(),
            json!({"kaek": null, "area": "120.5", "delivery": "electronic"}),
        ))
        .await;
    let detail = office.mine(&id_of(&answer), &position_of(&answer)).await;
    assert_eq!(detail["application"]["kaek"], Value::Null);
    assert_eq!(detail["application"]["area"], "120,50");
    let answer = office
        .apply_ok(with(tap(), json!({"kaek": "", "area": "42"})))
        .await;
    let detail = office.mine(&id_of(&answer), &position_of(&answer)).await;
    assert_eq!(detail["application"]["kaek"], Value::Null);
    assert_eq!(detail["application"]["area"], "42");
}

#[tokio::test]
async fn every_deadline_comes_from_the_certificate_type() {
    let office = Office::certified().await;
    // Εντοπιότητας has 15 days in the municipality's configuration; the others 10.
    let types = ok(office.app.get("/api/v1/certificates/types", None).await).await;
    let local_origin = types["civil_registry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "local_origin")
        .cloned()
        .expect("local_origin is offered");
    assert_eq!(local_origin["deadline_days"], 15);
    assert_eq!(local_origin["name"], "Πιστοποιητικό Εντοπιότητας");
    assert_eq!(types["tap"]["deadline_days"], 10);
    let answer = office.apply_ok(civil_registry("local_origin")).await;
    assert_eq!(
        answer["due_on"],
        (athens_today() + chrono::Days::new(15)).to_string()
    );
}

#[tokio::test]
async fn every_validation_error_names_its_field() {
    let office = Office::certified().await;
    let office = &office;
    let civil = |changes: Value| {
        let body = with(civil_registry("birth"), changes);
        async move { office.apply(&office.citizen, body).await }
    };
    let tap_with = |changes: Value| {
        let body = with(tap(), changes);
        async move { office.apply(&office.citizen, body).await }
    };

    field_refused(
        civil(json!({"certificate_type": "driving_licence"})).await,
        "certificate_type",
        "certificate_type_invalid",
    )
    .await;
    field_refused(
        civil(json!({"certificate_type": null})).await,
        "certificate_type",
        "certificate_type_required",
    )
    .await;
    field_refused(
        civil(json!({"kind": "passport"})).await,
        "kind",
        "application_kind_invalid",
    )
    .await;
    field_refused(
        civil(json!({"kind": null})).await,
        "kind",
        "application_kind_invalid",
    )
    .await;
    field_refused(
        tap_with(json!({"supply_number": "1234"})).await,
        "supply_number",
        "supply_number_invalid",
    )
    .await;
    field_refused(
        tap_with(json!({"supply_number": null})).await,
        "supply_number",
        "supply_number_required",
    )
    .await;
    field_refused(
        tap_with(json!({"area": "85,555"})).await,
        "area",
        "area_invalid",
    )
    .await;
    field_refused(
        tap_with(json!({"area": "ογδόντα"})).await,
        "area",
        "area_invalid",
    )
    .await;
    field_refused(
        tap_with(json!({"area": "0"})).await,
        "area",
        "area_out_of_range",
    )
    .await;
    field_refused(
        tap_with(json!({"area": null})).await,
        "area",
        "area_required",
    )
    .await;
    field_refused(
        tap_with(json!({"kaek": "05068172600"})).await,
        "kaek",
        "kaek_invalid",
    )
    .await;
    field_refused(
        tap_with(json!({"property_address": null})).await,
        "property_address",
        "property_address_required",
    )
    .await;
    field_refused(
        civil(json!({"delivery": "post"})).await,
        "postal_address",
        "postal_address_required",
    )
    .await;
    field_refused(
        civil(json!({"delivery": "carrier_pigeon"})).await,
        "delivery",
        "delivery_invalid",
    )
    .await;
    field_refused(
        civil(json!({"delivery": null})).await,
        "delivery",
        "delivery_required",
    )
    .await;
    field_refused(civil(json!({"text": null})).await, "text", "text_required").await;
    field_refused(
        civil(json!({"text": " \n "})).await,
        "text",
        "text_required",
    )
    .await;
    field_refused(
        civil(json!({"text": "κρυφό\u{202E}κείμενο"})).await,
        "text",
        "text_control_chars",
    )
    .await;
    field_refused(
        civil(json!({"text": "α".repeat(5001)})).await,
        "text",
        "text_too_long",
    )
    .await;
    // Every mistake at once is named at once.
    let body = field_refused(
        tap_with(json!({"supply_number": "12", "area": "x", "kaek": "1", "text": null, "delivery": "post"}))
            .await,
        "supply_number",
        "supply_number_invalid",
    )
    .await;
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for expected in ["supply_number", "area", "kaek", "text", "postal_address"] {
        assert!(fields.contains(&expected), "{expected} in {fields:?}");
    }

    // Malformed requests.
    let body = refused(
        civil(json!({"colour": "blue"})).await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "colour", "{body}");
    refused(
        civil(json!({"text": 42})).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    let r = office
        .request(Method::POST, "/api/v1/applications", Some(&office.citizen))
        .body(civil_registry("birth").to_string())
        .send()
        .await
        .unwrap();
    refused(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    // None of it was stored.
    assert_eq!(office.application_events_stored().await, 0);
    assert!(office.app.protocol.documents().is_empty());
}

#[tokio::test]
async fn staff_cannot_apply_and_visitors_must_log_in() {
    let office = Office::certified().await;
    for token in [&office.clerk, &office.auditor] {
        refused(
            office.apply(token, civil_registry("birth")).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    refused(
        office
            .app
            .post("/api/v1/applications", None, civil_registry("birth"))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    refused(
        office.app.get("/api/v1/my/applications", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(office.application_events_stored().await, 0);
}

#[tokio::test]
async fn the_citizen_lists_applications_by_kind_and_reads_each_with_its_timeline() {
    let office = Office::certified().await;
    office.certify_ok(OTHER_EMAIL).await;
    let birth = id_of(&office.apply_ok(civil_registry("birth")).await);
    let property = id_of(&office.apply_ok(tap()).await);
    let residence = id_of(&office.apply_ok(civil_registry("permanent_residence")).await);
    let others = id_of(&created(office.apply(&office.other, tap()).await).await);

    let all = ok(office.my_list(&office.citizen, "").await).await;
    assert_eq!(
        ids_of(&all),
        [residence.as_str(), property.as_str(), birth.as_str()],
        "newest first: {all}"
    );
    let civil = ok(office
        .my_list(&office.citizen, "?kind=civil_registry")
        .await)
    .await;
    assert_eq!(ids_of(&civil), [residence.as_str(), birth.as_str()]);
    let item = &civil["items"][1];
    assert_eq!(item["certificate_name"], "Πιστοποιητικό Γέννησης");
    assert!(is_protocol_number(&item["protocol_number"]), "{item}");
    assert_eq!(item["status"], "submitted");
    assert_eq!(item["overdue"], false);
    let taps = ok(office.my_list(&office.citizen, "?kind=tap").await).await;
    assert_eq!(ids_of(&taps), [property.as_str()]);
    assert_eq!(taps["items"][0]["area"], "85,50");
    let empty = ok(office.my_list(&office.citizen, "?kind=").await).await;
    assert_eq!(empty["items"].as_array().unwrap().len(), 3);
    field_refused(
        office.my_list(&office.citizen, "?kind=passport").await,
        "kind",
        "application_kind_invalid",
    )
    .await;
    refused(
        office.my_list(&office.citizen, "?sort=old").await,
        StatusCode::BAD_REQUEST,
        "malformed_query",
    )
    .await;
    let theirs = ok(office.my_list(&office.other, "").await).await;
    assert_eq!(ids_of(&theirs), [others.as_str()]);

    // Detail with its timeline.
    let r = office
        .app
        .get(
            &format!("/api/v1/my/applications/{birth}"),
            Some(&office.citizen),
        )
        .await;
    let detail = ok(r).await;
    assert_eq!(detail["application"]["id"], birth.as_str());
    let timeline = detail["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0]["event_type"], "ApplicationSubmitted");
    assert_eq!(timeline[0]["sequence"], 1);
    assert_eq!(timeline[0]["status"], "submitted");
    assert_eq!(timeline[0]["details"]["delivery"], "electronic");
    assert_eq!(timeline[1]["event_type"], "ApplicationProtocolRegistered");
    assert_eq!(timeline[1]["sequence"], 2);
    for entry in timeline {
        assert!(entry["title"].is_string(), "{entry}");
        assert!(entry["at"].is_string(), "{entry}");
    }

    // Another citizen's application is exactly like a missing one.
    for (token, id) in [
        (&office.citizen, others.as_str()),
        (&office.other, birth.as_str()),
        (&office.citizen, &uuid::Uuid::new_v4().to_string()),
        (&office.citizen, "not-a-uuid"),
    ] {
        let r = office
            .app
            .get(&format!("/api/v1/my/applications/{id}"), Some(token))
            .await;
        refused(r, StatusCode::NOT_FOUND, "case_not_found").await;
        let r = office
            .app
            .get(
                &format!("/api/v1/my/applications/{id}/document"),
                Some(token),
            )
            .await;
        refused(r, StatusCode::NOT_FOUND, "case_not_found").await;
    }
    // Nothing issued yet: no document to download.
    let r = office
        .app
        .get(
            &format!("/api/v1/my/applications/{birth}/document"),
            Some(&office.citizen),
        )
        .await;
    refused(r, StatusCode::NOT_FOUND, "document_not_found").await;
}

// ---------------------------------------------------------------------------------------
// Protocol registration.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn protocol_down_at_submission_is_registered_exactly_once_after_recovery() {
    let office = Office::with_fast_retries().await;
    office.certify_ok(CITIZEN_EMAIL).await;
    office.app.protocol.set_faults(down());

    let answer = office.apply_ok(civil_registry("birth")).await;
    let id = id_of(&answer);
    assert_eq!(answer["protocol_pending"], true, "{answer}");
    assert_eq!(answer["protocol_number"], Value::Null);
    assert_eq!(answer["protocol_date"], Value::Null);
    assert_eq!(answer["status"], "submitted");

    // The citizen is told it will follow; the failure is in the timeline.
    let detail = office.mine(&id, &position_of(&answer)).await;
    assert_eq!(detail["application"]["protocol_pending"], true);
    assert_eq!(detail["application"]["protocol_number"], Value::Null);
    assert_eq!(
        timeline_types(&detail)[..2],
        ["ApplicationSubmitted", "ApplicationProtocolFailed"]
    );
    let failed = &detail["timeline"][1];
    assert_eq!(failed["details"]["attempt"], 1);
    assert_eq!(failed["details"]["refused"], false);
    assert!(failed["details"]["error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    let next = time_of(&failed["details"]["next_attempt_at"]);
    let at = time_of(&failed["at"]);
    let delay = (next - at).num_milliseconds();
    assert!(
        (999..=1001).contains(&delay),
        "the configured first retry: {delay} ms"
    );

    // Let the registrar fail a few more times while the system stays down.
    let failing = eventually(
        "a second failed attempt",
        Duration::from_secs(10),
        || async {
            let queue = ok(office.queue("?protocol=failing").await).await;
            let attempts = queue["items"][0]["protocol_attempts"].as_i64().unwrap_or(0);
            (attempts >= 2).then_some(queue)
        },
    )
    .await;
    assert_eq!(ids_of(&failing), [id.as_str()]);
    let item = &failing["items"][0];
    assert_eq!(item["protocol_pending"], true);
    assert!(
        item["protocol_last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{item}"
    );
    assert!(item["protocol_next_attempt_at"].is_string(), "{item}");
    assert_eq!(failing["counts"]["protocol_failing"], 1);
    // A registered application is not in that list.
    office.app.protocol.set_faults(ProtocolFaults {
        down: false,
        ..Default::default()
    });
    let registered = protocol_number_reaches_the_citizen(&office, &id).await;
    let number = registered["application"]["protocol_number"].clone();
    let queue = ok(office.queue("?protocol=failing").await).await;
    assert_eq!(queue["items"], json!([]));
    assert_eq!(queue["counts"]["protocol_failing"], 0);

    // However many retries: one registration, one number, one document.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = office.events(&id).await;
    assert_eq!(
        count_of(&events, "ApplicationProtocolRegistered"),
        1,
        "{:?}",
        types_of(&events)
    );
    let failures = count_of(&events, "ApplicationProtocolFailed");
    assert!(failures >= 2, "{:?}", types_of(&events));
    assert_eq!(
        *types_of(&events).last().unwrap(),
        "ApplicationProtocolRegistered"
    );
    let registration = events.last().unwrap();
    assert_eq!(registration["payload"]["data"]["protocol_number"], number);
    assert_eq!(
        registration["payload"]["data"]["attempt"],
        failures as u64 + 1
    );
    assert_eq!(
        registration["metadata"]["actor_id"],
        "system:protocol-registrar"
    );
    let documents = office.app.protocol.documents();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].protocol_number, number.as_str().unwrap());
    // The citizen's timeline ends with the registration.
    let detail = office.staff_view(&id).await;
    assert_eq!(
        *timeline_types(&detail).last().unwrap(),
        "ApplicationProtocolRegistered"
    );
    assert_eq!(
        detail["application"]["protocol_attempts"],
        failures as u64 + 1
    );
}

#[tokio::test]
async fn a_failing_protocol_system_is_retried_until_it_answers() {
    let office = Office::with_fast_retries().await;
    office.certify_ok(CITIZEN_EMAIL).await;
    // Two errors (500): the submission's attempt and the first retry; then it answers.
    office.app.protocol.set_faults(ProtocolFaults {
        fail_next: 2,
        ..Default::default()
    });
    let answer = office.apply_ok(tap()).await;
    let id = id_of(&answer);
    assert_eq!(answer["protocol_pending"], true);
    let detail = protocol_number_reaches_the_citizen(&office, &id).await;
    assert_eq!(
        timeline_types(&detail),
        [
            "ApplicationSubmitted",
            "ApplicationProtocolFailed",
            "ApplicationProtocolFailed",
            "ApplicationProtocolRegistered"
        ]
    );
    assert!(detail["timeline"][1]["details"]["error"]
        .as_str()
        .is_some_and(|e| e.contains("500")));
    assert_eq!(detail["timeline"][3]["details"]["attempt"], 3);
    assert_eq!(detail["application"]["protocol_attempts"], 3);
    assert_eq!(office.app.protocol.documents().len(), 1);
}

#[tokio::test]
async fn a_slow_protocol_system_does_not_keep_the_citizen_waiting() {
    let office = Office::open_with(|c| {
        fast_retries(c);
        c.protocol_inline_timeout = Duration::from_millis(300);
    })
    .await;
    office.certify_ok(CITIZEN_EMAIL).await;
    office.app.protocol.set_faults(ProtocolFaults {
        slow_ms: 1500,
        ..Default::default()
    });
    let started = Instant::now();
    let answer = office.apply_ok(civil_registry("citizenship")).await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(1400),
        "the citizen waited {waited:?}"
    );
    let id = id_of(&answer);
    assert_eq!(answer["protocol_pending"], true, "{answer}");

    // The background registrar waits longer (PORTAL_PROTOCOL_TIMEOUT_MS) and gets there.
    let detail = protocol_number_reaches_the_citizen(&office, &id).await;
    let number = detail["application"]["protocol_number"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(timeline_types(&detail)[1], "ApplicationProtocolFailed");
    // Whether or not the abandoned first call got through, the idempotency key makes the
    // retry's number the only one: the protocol book holds one document for it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let documents = office.app.protocol.documents();
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0].protocol_number, number);
    let events = office.events(&id).await;
    assert_eq!(count_of(&events, "ApplicationProtocolRegistered"), 1);
}

#[tokio::test]
async fn a_protocol_system_that_answers_twice_still_gives_one_number() {
    let office = Office::open().await;
    office.certify_ok(CITIZEN_EMAIL).await;
    office.app.protocol.set_faults(down());
    let answer = office.apply_ok(civil_registry("birth")).await;
    let id = id_of(&answer);
    assert_eq!(answer["protocol_pending"], true);

    // The system now ignores idempotency keys and is slow: five clerks press "register now"
    // at once. One call reaches it; the others wait their turn or find the number.
    office.app.protocol.set_faults(ProtocolFaults {
        duplicate: true,
        slow_ms: 300,
        ..Default::default()
    });
    let calls = (0..5).map(|_| office.register_now(&id));
    let responses = futures::future::join_all(calls).await;
    let mut numbers = Vec::new();
    for r in responses {
        let status = r.status();
        let body = json_body(r).await;
        match status {
            StatusCode::OK => numbers.push(body["protocol_number"].clone()),
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["error"]["code"], "already_protocolled", "{body}")
            }
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "conflict", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(numbers.len(), 1, "one registration: {numbers:?}");
    assert!(is_protocol_number(&numbers[0]));
    assert_eq!(office.app.protocol.documents().len(), 1);
    let events = office.events(&id).await;
    assert_eq!(count_of(&events, "ApplicationProtocolRegistered"), 1);
    let detail = office.staff_view(&id).await;
    assert_eq!(detail["application"]["protocol_number"], numbers[0]);
    rule_refused(office.register_now(&id).await, "already_protocolled").await;
    assert_eq!(office.app.protocol.documents().len(), 1);
}

#[tokio::test]
async fn the_clerk_registers_an_application_now() {
    let office = Office::open().await;
    office.certify_ok(CITIZEN_EMAIL).await;
    office.app.protocol.set_faults(down());
    let id = id_of(&office.apply_ok(civil_registry("next_of_kin")).await);

    // Still down: the attempt is recorded and the clerk is told it failed.
    let body = refused(
        office.register_now(&id).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "protocol_unavailable",
    )
    .await;
    assert!(body["error"]["message"].is_string());
    let detail = office.staff_view(&id).await;
    assert_eq!(detail["application"]["protocol_attempts"], 2);
    assert_eq!(detail["application"]["protocol_number"], Value::Null);
    assert_eq!(
        timeline_types(&detail),
        [
            "ApplicationSubmitted",
            "ApplicationProtocolFailed",
            "ApplicationProtocolFailed"
        ]
    );

    office.app.protocol.set_faults(ProtocolFaults::default());
    let answer = ok(office.register_now(&id).await).await;
    assert!(is_protocol_number(&answer["protocol_number"]), "{answer}");
    assert_eq!(answer["protocol_attempts"], 3);
    assert!(answer["protocol_date"].is_string());
    assert_eq!(answer["status"], "submitted");
    let events = office.events(&id).await;
    let registration = events.last().unwrap();
    assert_eq!(registration["type"], "ApplicationProtocolRegistered");
    assert_eq!(
        registration["metadata"]["actor_id"],
        office.account_id(&office.clerk).await.as_str()
    );
    let mine = office.mine(&id, &position_of(&answer)).await;
    assert_eq!(
        mine["application"]["protocol_number"],
        answer["protocol_number"]
    );

    rule_refused(office.register_now(&id).await, "already_protocolled").await;
    assert_eq!(office.app.protocol.documents().len(), 1);
    // A missing application; a citizen or auditor may not.
    refused(
        office.register_now(&uuid::Uuid::new_v4().to_string()).await,
        StatusCode::NOT_FOUND,
        "case_not_found",
    )
    .await;
    for token in [&office.citizen, &office.auditor] {
        refused(
            office.act(token, &id, "protocol", None).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
}

/// A citizen, a clerk and an auditor on a portal that may be restarted.
struct Accounts {
    citizen: String,
    clerk: String,
    auditor: String,
}

async fn accounts_on(
    db: &TestDatabase,
    config: &portal::Config,
    portal: &DetachedPortal,
    client: &Client,
) -> Accounts {
    let login = |email: &'static str, password: &'static str| async move {
        let r = client
            .post(portal.url("/api/v1/session"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        created(r).await["token"].as_str().unwrap().to_string()
    };
    let r = client
        .post(portal.url("/api/v1/accounts"))
        .json(&json!({"email": CITIZEN_EMAIL, "password": "Κωδικός-Δοκιμής-42", "full_name": CITIZEN_NAME}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let token = crate::common::emailed_token(&pool, "activate", CITIZEN_EMAIL).await;
    let r = client
        .post(portal.url("/api/v1/accounts/activation"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    pool.close().await;
    let staff_password = "Υπάλληλος-Δήμου-2026";
    portal::staff::add(
        config,
        "clerk@dimos.example.gr",
        CLERK_NAME,
        "clerk",
        staff_password,
    )
    .await
    .unwrap();
    portal::staff::add(
        config,
        "auditor@dimos.example.gr",
        AUDITOR_NAME,
        "auditor",
        staff_password,
    )
    .await
    .unwrap();
    Accounts {
        citizen: login(CITIZEN_EMAIL, "Κωδικός-Δοκιμής-42").await,
        clerk: login("clerk@dimos.example.gr", staff_password).await,
        auditor: login("auditor@dimos.example.gr", staff_password).await,
    }
}

async fn put_faults(client: &Client, sandbox: &str, faults: Value) {
    let r = client
        .put(format!("{sandbox}/_sandbox/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// The protocol sandbox standalone (it outlives the portals), and a portal configuration
/// that uses it with fast retries.
async fn standalone_protocol(
    db: &TestDatabase,
) -> (sandboxes::RunningSandbox, ProtocolSandbox, portal::Config) {
    let sandbox = ProtocolSandbox::new();
    let running = sandboxes::serve(sandbox.router(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the protocol sandbox starts");
    let mut config = test_config(db);
    config.protocol_url = Some(running.base_url());
    fast_retries(&mut config);
    (running, sandbox, config)
}

/// Certifies the citizen and applies while the protocol system is down; answers the id.
async fn apply_while_down(portal: &DetachedPortal, client: &Client, accounts: &Accounts) -> String {
    let r = client
        .post(portal.url("/api/v1/staff/certifications"))
        .bearer_auth(&accounts.clerk)
        .json(&json!({"email": CITIZEN_EMAIL, "document": "identity_card", "document_number": "ΑΚ 123456"}))
        .send()
        .await
        .unwrap();
    created(r).await;
    let r = client
        .post(portal.url("/api/v1/applications"))
        .bearer_auth(&accounts.citizen)
        .json(&civil_registry("birth"))
        .send()
        .await
        .unwrap();
    let answer = created(r).await;
    assert_eq!(answer["protocol_pending"], true, "{answer}");
    id_of(&answer)
}

async fn number_on(portal: &DetachedPortal, client: &Client, token: &str, id: &str) -> Value {
    eventually("the protocol number", Duration::from_secs(20), || async {
        let r = client
            .get(portal.url(&format!("/api/v1/my/applications/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        let detail = ok(r).await;
        let number = detail["application"]["protocol_number"].clone();
        is_protocol_number(&number).then_some(number)
    })
    .await
}

#[tokio::test]
async fn an_application_is_registered_exactly_once_across_a_portal_restart() {
    let db = TestDatabase::new();
    let (running, sandbox, config) = standalone_protocol(&db).await;
    let client = Client::new();
    put_faults(&client, &running.base_url(), json!({"down": true})).await;

    let first = DetachedPortal::start(config.clone()).await;
    let accounts = accounts_on(&db, &config, &first, &client).await;
    let id = apply_while_down(&first, &client, &accounts).await;
    // The first portal's registrar retries (and fails) at least once more.
    eventually(
        "a retry by the first portal",
        Duration::from_secs(10),
        || async {
            let events = events_of(&client, &first.base, &accounts.auditor, &id).await;
            (count_of(&events, "ApplicationProtocolFailed") >= 2).then_some(())
        },
    )
    .await;
    let first_base = first.base.clone();
    first.stop().await;
    assert!(
        client
            .get(format!("{first_base}/healthz"))
            .send()
            .await
            .is_err(),
        "the first portal is gone"
    );

    put_faults(&client, &running.base_url(), json!({})).await;
    assert!(sandbox.documents().is_empty());
    let second = DetachedPortal::start(config.clone()).await;
    // Sessions live in the database: the citizen is still logged in.
    let number = number_on(&second, &client, &accounts.citizen, &id).await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = events_of(&client, &second.base, &accounts.auditor, &id).await;
    assert_eq!(
        count_of(&events, "ApplicationProtocolRegistered"),
        1,
        "{:?}",
        types_of(&events)
    );
    assert_eq!(
        events.last().unwrap()["payload"]["data"]["protocol_number"],
        number
    );
    let r = client
        .get(format!("{}/_sandbox/documents", running.base_url()))
        .send()
        .await
        .unwrap();
    let documents: Value = r.json().await.unwrap();
    let documents = documents.as_array().unwrap();
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0]["protocol_number"], number);
    assert_eq!(
        documents[0]["idempotency_key"],
        format!("CertificateApplication:{id}")
    );
    second.stop().await;
}

#[tokio::test]
async fn two_portals_on_one_database_register_an_application_once() {
    let db = TestDatabase::new();
    let (running, sandbox, config) = standalone_protocol(&db).await;
    let client = Client::new();
    put_faults(&client, &running.base_url(), json!({"down": true})).await;
    let first = DetachedPortal::start(config.clone()).await;
    let second = DetachedPortal::start(config.clone()).await;
    let accounts = accounts_on(&db, &config, &first, &client).await;
    let id = apply_while_down(&first, &client, &accounts).await;

    // Both registrars find it due; the system ignores idempotency keys and is slow, so
    // two calls at once would give two numbers.
    put_faults(
        &client,
        &running.base_url(),
        json!({"duplicate": true, "slow_ms": 400}),
    )
    .await;
    let number = number_on(&second, &client, &accounts.citizen, &id).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let events = events_of(&client, &first.base, &accounts.auditor, &id).await;
    assert_eq!(
        count_of(&events, "ApplicationProtocolRegistered"),
        1,
        "{:?}",
        types_of(&events)
    );
    assert_eq!(
        events.last().unwrap()["payload"]["data"]["protocol_number"],
        number
    );
    let documents = sandbox.documents();
    assert_eq!(documents.len(), 1, "{documents:?}");
    first.stop().await;
    second.stop().await;
}

// ---------------------------------------------------------------------------------------
// Clerk processing (S15).
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_clerks_queue_filters_and_counts() {
    let office = Office::certified().await;
    let birth = id_of(&office.apply_ok(civil_registry("birth")).await);
    // Εντοπιότητας is due in 15 days: later in the queue than the rest.
    let local = id_of(&office.apply_ok(civil_registry("local_origin")).await);
    let property = id_of(&office.apply_ok(tap()).await);
    office.app.protocol.set_faults(down());
    let pending = id_of(&office.apply_ok(civil_registry("citizenship")).await);
    office.app.protocol.set_faults(ProtocolFaults::default());
    ok(office.review(&property).await).await;

    let all = ok(office.queue("").await).await;
    assert_eq!(
        ids_of(&all),
        [
            birth.as_str(),
            property.as_str(),
            pending.as_str(),
            local.as_str()
        ],
        "by deadline, then by submission: {all}"
    );
    assert_eq!(
        all["counts"]["by_status"],
        json!({"submitted": 3, "in_review": 1})
    );
    assert_eq!(all["counts"]["protocol_failing"], 1);
    assert_eq!(all["counts"]["overdue"], 0);
    let item = &all["items"][1];
    assert_eq!(item["status"], "in_review");
    assert_eq!(item["assigned_to_name"], CLERK_NAME);
    assert_eq!(item["applicant_name"], CITIZEN_NAME);
    assert_eq!(
        item["due_on"],
        (athens_today() + chrono::Days::new(10)).to_string()
    );
    assert_eq!(item["overdue"], false);

    let submitted = ok(office.queue("?status=submitted").await).await;
    assert_eq!(
        ids_of(&submitted),
        [birth.as_str(), pending.as_str(), local.as_str()]
    );
    let in_review = ok(office.queue("?status=in_review").await).await;
    assert_eq!(ids_of(&in_review), [property.as_str()]);
    let taps = ok(office.queue("?kind=tap").await).await;
    assert_eq!(ids_of(&taps), [property.as_str()]);
    let civil_submitted = ok(office.queue("?kind=civil_registry&status=submitted").await).await;
    assert_eq!(civil_submitted["items"].as_array().unwrap().len(), 3);
    let failing = ok(office.queue("?protocol=failing").await).await;
    assert_eq!(ids_of(&failing), [pending.as_str()]);
    let overdue = ok(office.queue("?overdue=1").await).await;
    assert_eq!(overdue["items"], json!([]));
    let none = ok(office.queue("?kind=tap&status=issued").await).await;
    assert_eq!(none["items"], json!([]));
    let empty = ok(office.queue("?status=&kind=").await).await;
    assert_eq!(empty["items"].as_array().unwrap().len(), 4);

    field_refused(
        office.queue("?status=lost").await,
        "status",
        "application_status_invalid",
    )
    .await;
    field_refused(
        office.queue("?kind=passport").await,
        "kind",
        "application_kind_invalid",
    )
    .await;
    refused(
        office.queue("?sort=newest").await,
        StatusCode::BAD_REQUEST,
        "malformed_query",
    )
    .await;

    // The clerk's detail of one application.
    let detail = office.staff_view(&pending).await;
    assert_eq!(detail["application"]["protocol_pending"], true);
    assert_eq!(detail["application"]["protocol_attempts"], 1);
    assert!(detail["application"]["protocol_last_error"].is_string());
    refused(
        office
            .app
            .get(
                &format!("/api/v1/staff/applications/{}", uuid::Uuid::new_v4()),
                Some(&office.clerk),
            )
            .await,
        StatusCode::NOT_FOUND,
        "case_not_found",
    )
    .await;
}

#[tokio::test]
async fn review_request_information_reply_and_issue_electronically() {
    let office = Office::certified().await;
    office.certify_ok(OTHER_EMAIL).await;
    let id = office.new_application(json!({})).await;

    let reviewed = ok(office.review(&id).await).await;
    assert_eq!(reviewed["status"], "in_review");
    rule_refused(office.review(&id).await, "application_review_not_allowed").await;
    field_refused(
        office.request_information(&id, "  ").await,
        "question",
        "question_required",
    )
    .await;
    // The citizen cannot answer a question that was not asked.
    rule_refused(
        office.reply(&office.citizen, &id, "Ορίστε.").await,
        "no_information_requested",
    )
    .await;

    let question = "Στείλτε μας τον αριθμό δημοτολογίου («μερίδα») του πατέρα σας.";
    let asked = ok(office.request_information(&id, question).await).await;
    assert_eq!(asked["status"], "information_requested");
    let detail = office.mine(&id, &position_of(&asked)).await;
    assert_eq!(detail["application"]["status"], "information_requested");
    assert_eq!(detail["application"]["open_question"], question);
    let last = detail["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event_type"], "InformationRequested");
    assert_eq!(last["details"]["question"], question);
    assert_eq!(last["actor_name"], CLERK_NAME);

    // The clerk waits for the answer.
    rule_refused(
        office.issue_pdf(&id, "birth.pdf", PDF.to_vec()).await,
        "information_pending",
    )
    .await;
    rule_refused(
        office.request_information(&id, "Και κάτι ακόμα;").await,
        "information_pending",
    )
    .await;
    assert_eq!(
        office.documents_stored().await,
        0,
        "a refused issue leaves no file"
    );
    // Only the applicant answers.
    refused(
        office
            .reply(&office.other, &id, "Δεν είναι δική μου.")
            .await,
        StatusCode::NOT_FOUND,
        "case_not_found",
    )
    .await;
    refused(
        office.reply(&office.clerk, &id, "Υπάλληλος.").await,
        StatusCode::NOT_FOUND,
        "case_not_found",
    )
    .await;
    field_refused(
        office.reply(&office.citizen, &id, "").await,
        "reply",
        "reply_required",
    )
    .await;

    let reply = "Μερίδα 1234, Δήμος Παραδείγματος.\nΕυχαριστώ.";
    let replied = ok(office.reply(&office.citizen, &id, reply).await).await;
    assert_eq!(replied["status"], "in_review");
    let detail = office.mine(&id, &position_of(&replied)).await;
    assert_eq!(detail["application"]["status"], "in_review");
    assert_eq!(detail["application"]["open_question"], Value::Null);
    let last = detail["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event_type"], "InformationProvided");
    assert_eq!(last["details"]["reply"], reply);
    rule_refused(
        office.reply(&office.citizen, &id, "Και πάλι.").await,
        "no_information_requested",
    )
    .await;

    // Issued electronically: a PDF larger than the default 2 MB request limit.
    let mut pdf = PDF.to_vec();
    pdf.extend(vec![b'\n'; 3 * 1024 * 1024]);
    let issued = ok(office
        .issue_pdf(
            &id,
            "C:\\Documents\\pistopoiitiko-gennisis.pdf",
            pdf.clone(),
        )
        .await)
    .await;
    assert_eq!(issued["status"], "issued");

    let r = office
        .get_after(
            &format!("/api/v1/my/applications/{id}/document"),
            &office.citizen,
            &position_of(&issued),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("pistopoiitiko-gennisis.pdf"),
        "{disposition}"
    );
    let downloaded = r.bytes().await.unwrap();
    assert_eq!(downloaded.len(), pdf.len());
    assert!(downloaded.as_ref() == pdf.as_slice(), "the same bytes");
    let r = office
        .app
        .get(
            &format!("/api/v1/staff/applications/{id}/document"),
            Some(&office.clerk),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().as_ref() == pdf.as_slice());
    refused(
        office
            .app
            .get(
                &format!("/api/v1/my/applications/{id}/document"),
                Some(&office.other),
            )
            .await,
        StatusCode::NOT_FOUND,
        "case_not_found",
    )
    .await;

    // The event names the file by its hash.
    let events = office.events(&id).await;
    assert_eq!(
        types_of(&events),
        [
            "ApplicationSubmitted",
            "ApplicationProtocolRegistered",
            "ApplicationTakenIntoReview",
            "InformationRequested",
            "InformationProvided",
            "CertificateIssued"
        ]
    );
    let issue = &events[5]["payload"]["data"]["issue"];
    assert_eq!(issue["method"], "electronic");
    assert_eq!(issue["sha256"], hex::encode(Sha256::digest(&pdf)));
    assert_eq!(issue["size_bytes"], pdf.len() as u64);
    assert_eq!(issue["filename"], "pistopoiitiko-gennisis.pdf");
    assert_eq!(events[5]["payload"]["data"]["clerk"]["name"], CLERK_NAME);

    let detail = office.mine(&id, &position_of(&issued)).await;
    let a = &detail["application"];
    assert_eq!(a["status"], "issued");
    assert_eq!(a["issue_method"], "electronic");
    assert_eq!(a["document_filename"], "pistopoiitiko-gennisis.pdf");
    assert!(a["finished_at"].is_string());
    assert_eq!(a["overdue"], false);
    // Nothing more happens to it.
    for r in [
        office.review(&id).await,
        office.reject(&id, "Αργότερα.").await,
        office.request_information(&id, "Κι άλλο;").await,
        office.issue_pdf(&id, "again.pdf", PDF.to_vec()).await,
    ] {
        rule_refused(r, "application_finished").await;
    }
    assert_eq!(office.documents_stored().await, 1);
}

#[tokio::test]
async fn issue_for_post_or_in_person_with_a_note() {
    let office = Office::certified().await;
    let post = office
        .new_application(
            json!({"delivery": "post", "postal_address": "Οδός Αθηνάς 5, 105 51 Αθήνα"}),
        )
        .await;
    let in_person = id_of(&office.apply_ok(tap()).await);
    let without_note = office
        .new_application(json!({"delivery": "in_person"}))
        .await;
    for id in [&post, &in_person, &without_note] {
        ok(office.review(id).await).await;
    }

    let note = "Στάλθηκε με συστημένη επιστολή ΡΕ123456789GR.";
    let issued = ok(office.issue_note(&post, Some(note)).await).await;
    assert_eq!(issued["status"], "issued");
    let detail = office.mine(&post, &position_of(&issued)).await;
    assert_eq!(detail["application"]["issue_method"], "post");
    assert_eq!(detail["application"]["issue_note"], note);
    assert_eq!(detail["application"]["document_id"], Value::Null);
    let last = detail["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event_type"], "CertificateIssued");
    assert_eq!(last["details"]["note"], note);
    assert_eq!(last["status"], "issued");

    let note = "Παραλαβή από το ΚΕΠ του Δήμου, Δευτέρα–Παρασκευή 08:00–14:00.";
    let issued = ok(office.issue_note(&in_person, Some(note)).await).await;
    let detail = office.mine(&in_person, &position_of(&issued)).await;
    assert_eq!(detail["application"]["issue_method"], "in_person");
    assert_eq!(detail["application"]["issue_note"], note);

    let issued = ok(office.issue_note(&without_note, None).await).await;
    let detail = office.mine(&without_note, &position_of(&issued)).await;
    assert_eq!(detail["application"]["status"], "issued");
    assert_eq!(detail["application"]["issue_note"], Value::Null);
    let events = office.events(&without_note).await;
    assert_eq!(
        events.last().unwrap()["payload"]["data"]["issue"],
        json!({"method": "in_person", "note": null})
    );
    // No document to download for these.
    let r = office
        .get_after(
            &format!("/api/v1/my/applications/{post}/document"),
            &office.citizen,
            &position_of(&issued),
        )
        .await;
    refused(r, StatusCode::NOT_FOUND, "document_not_found").await;
}

#[tokio::test]
async fn reject_with_a_reason() {
    let office = Office::certified().await;
    let id = office.new_application(json!({})).await;
    field_refused(office.reject(&id, " ").await, "reason", "note_required").await;
    // A new application may be rejected without review (e.g. a duplicate).
    let reason = "Δεν είστε εγγεγραμμένη στο δημοτολόγιο του Δήμου μας.";
    let rejected = ok(office.reject(&id, reason).await).await;
    assert_eq!(rejected["status"], "rejected");
    let detail = office.mine(&id, &position_of(&rejected)).await;
    assert_eq!(detail["application"]["status"], "rejected");
    assert_eq!(detail["application"]["reject_reason"], reason);
    assert!(detail["application"]["finished_at"].is_string());
    let last = detail["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event_type"], "ApplicationRejected");
    assert_eq!(last["details"]["reason"], reason);
    rule_refused(office.reject(&id, "Ξανά.").await, "application_finished").await;
    rule_refused(office.review(&id).await, "application_finished").await;
    rule_refused(
        office.issue_pdf(&id, "x.pdf", PDF.to_vec()).await,
        "application_finished",
    )
    .await;
    let queue = ok(office.queue("?status=rejected").await).await;
    assert_eq!(ids_of(&queue), [id.as_str()]);
    assert_eq!(queue["counts"]["by_status"], json!({"rejected": 1}));
}

#[tokio::test]
async fn every_clerk_refusal_has_its_code() {
    let office = Office::open_with(|c| c.document_max_bytes = 64 * 1024).await;
    office.certify_ok(CITIZEN_EMAIL).await;
    let electronic = office.new_application(json!({})).await;
    let post = office
        .new_application(json!({"delivery": "post", "postal_address": "Οδός Αθηνάς 5, Αθήνα"}))
        .await;
    let in_person = office
        .new_application(json!({"delivery": "in_person"}))
        .await;

    // Not reviewed yet.
    rule_refused(
        office.issue_note(&in_person, Some("x")).await,
        "review_first",
    )
    .await;
    rule_refused(
        office.issue_pdf(&electronic, "c.pdf", PDF.to_vec()).await,
        "review_first",
    )
    .await;
    rule_refused(
        office.request_information(&in_person, "Ερώτηση;").await,
        "review_first",
    )
    .await;
    for id in [&electronic, &post, &in_person] {
        ok(office.review(id).await).await;
    }

    // The method follows the applicant's choice.
    rule_refused(
        office.issue_pdf(&post, "c.pdf", PDF.to_vec()).await,
        "issue_method_mismatch",
    )
    .await;
    rule_refused(
        office.issue_pdf(&in_person, "c.pdf", PDF.to_vec()).await,
        "issue_method_mismatch",
    )
    .await;
    field_refused(
        office.issue_note(&electronic, Some("Στάλθηκε.")).await,
        "document",
        "document_required",
    )
    .await;
    // What is uploaded must be a PDF, not empty, not too large.
    field_refused(
        office.issue_pdf(&electronic, "c.pdf", Vec::new()).await,
        "document",
        "document_required",
    )
    .await;
    field_refused(
        office
            .issue_pdf(&electronic, "c.gif", b"GIF89a....".to_vec())
            .await,
        "document",
        "document_not_pdf",
    )
    .await;
    let mut large = PDF.to_vec();
    large.resize(64 * 1024 + 1, b' ');
    field_refused(
        office.issue_pdf(&electronic, "c.pdf", large).await,
        "document",
        "document_too_large",
    )
    .await;
    let r = office
        .request(
            Method::POST,
            &format!("/api/v1/staff/applications/{electronic}/issue"),
            Some(&office.clerk),
        )
        .header("content-type", "text/plain")
        .body("Εκδόθηκε.")
        .send()
        .await
        .unwrap();
    refused(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    refused(
        office
            .act(
                &office.clerk,
                &in_person,
                "issue",
                Some(json!({"notes": "x"})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
    )
    .await;
    field_refused(
        office.issue_note(&in_person, Some(&"α".repeat(1001))).await,
        "note",
        "note_too_long",
    )
    .await;
    assert_eq!(
        office.documents_stored().await,
        0,
        "refused uploads leave no file"
    );

    // Actions on a missing application.
    let missing = uuid::Uuid::new_v4().to_string();
    for r in [
        office.review(&missing).await,
        office.reject(&missing, "x").await,
        office.request_information(&missing, "x").await,
        office.issue_note(&missing, None).await,
        office.issue_pdf(&missing, "c.pdf", PDF.to_vec()).await,
        office.review("not-a-uuid").await,
    ] {
        refused(r, StatusCode::NOT_FOUND, "case_not_found").await;
    }
    refused(
        office.reply(&office.citizen, &missing, "Ορίστε.").await,
        StatusCode::NOT_FOUND,
        "case_not_found",
    )
    .await;
    assert_eq!(office.documents_stored().await, 0);

    // Issuing waits for the protocol number.
    office.app.protocol.set_faults(down());
    let pending = office
        .new_application(json!({"delivery": "in_person"}))
        .await;
    ok(office.review(&pending).await).await;
    rule_refused(office.issue_note(&pending, None).await, "protocol_pending").await;
    office.app.protocol.set_faults(ProtocolFaults::default());
    ok(office.register_now(&pending).await).await;
    ok(office.issue_note(&pending, None).await).await;
}

#[tokio::test]
async fn only_clerks_act_on_applications() {
    let office = Office::certified().await;
    let id = office.new_application(json!({})).await;
    let actions: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/staff/applications".into(), None),
        (
            Method::GET,
            format!("/api/v1/staff/applications/{id}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/staff/applications/{id}/document"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/staff/applications/{id}/review"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/staff/applications/{id}/request-information"),
            Some(json!({"question": "Ερώτηση;"})),
        ),
        (
            Method::POST,
            format!("/api/v1/staff/applications/{id}/reject"),
            Some(json!({"reason": "Λόγος."})),
        ),
        (
            Method::POST,
            format!("/api/v1/staff/applications/{id}/issue"),
            Some(json!({"note": "Σημείωση."})),
        ),
        (
            Method::POST,
            format!("/api/v1/staff/applications/{id}/protocol"),
            None,
        ),
    ];
    for (method, path, body) in &actions {
        for (token, status, code) in [
            (
                Some(office.citizen.as_str()),
                StatusCode::FORBIDDEN,
                "forbidden",
            ),
            (
                Some(office.auditor.as_str()),
                StatusCode::FORBIDDEN,
                "forbidden",
            ),
            (None, StatusCode::UNAUTHORIZED, "unauthenticated"),
        ] {
            let mut req = office.request(method.clone(), path, token);
            if let Some(body) = body {
                req = req.json(body);
            }
            let r = req.send().await.unwrap();
            let body = refused(r, status, code).await;
            assert_eq!(body["error"]["code"], code, "{method} {path}");
        }
    }
    // Nothing changed.
    assert_eq!(
        types_of(&office.events(&id).await),
        ["ApplicationSubmitted", "ApplicationProtocolRegistered"]
    );
}

// ---------------------------------------------------------------------------------------
// Deadlines.
// ---------------------------------------------------------------------------------------

/// Files an application for the citizen as if submitted on `submitted_on` (Athens), through
/// the aggregate's own command (the API always submits "now").
async fn file_as_of(office: &Office, submitted_on: NaiveDate) -> String {
    use domain::application::{
        due_date, Applicant, ApplicationCommand, ApplicationDetails, Delivery,
    };
    let account_id = office.account_id(&office.citizen).await;
    let id = uuid::Uuid::new_v4().to_string();
    let year = commands::case_numbers::year_of(chrono::Utc::now());
    let number = domain::values::CaseNumber::to_be_assigned(year);
    let at = chrono_tz::Europe::Athens
        .from_local_datetime(&submitted_on.and_hms_opt(10, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    office
        .app
        .state
        .applications
        .create_numbered(
            &id,
            year,
            ApplicationCommand::Submit {
                id: id.clone(),
                number,
                applicant: Applicant {
                    account_id,
                    name: CITIZEN_NAME.into(),
                    business: None,
                },
                certified: true,
                details: ApplicationDetails::CivilRegistry {
                    certificate_type: "birth".into(),
                    certificate_name: "Πιστοποιητικό Γέννησης".into(),
                },
                text: domain::values::CaseText::parse("Αίτηση παλαιότερης ημερομηνίας.").unwrap(),
                delivery: Delivery::InPerson,
                due_on: due_date(submitted_on, 10),
                at,
            },
            commands::CommandMetadata {
                actor_id: "test".into(),
                role: "citizen".into(),
                correlation_id: uuid::Uuid::new_v4().to_string(),
                client_ip: None,
                session: None,
                open311_client: None,
            },
        )
        .await
        .expect("the submission is stored");
    id
}

/// The applications past their deadline on the dashboard, by range: (1–7, 8–30, over 30
/// days late).
fn overdue_applications(stats: &Value) -> (i64, i64, i64) {
    let row = &stats["overdue"][1];
    assert_eq!(row["what"], "applications", "{stats}");
    let n = |k: &str| row[k].as_i64().unwrap();
    (n("up_to_a_week"), n("up_to_a_month"), n("over_a_month"))
}

#[tokio::test]
async fn overdue_applications_are_flagged_and_filtered() {
    let office = Office::certified().await;
    let today = athens_today();
    // Due yesterday: overdue. Due today: not yet.
    let late = file_as_of(&office, today - chrono::Days::new(11)).await;
    let due_today = file_as_of(&office, today - chrono::Days::new(10)).await;
    let fresh = office
        .new_application(json!({"delivery": "in_person"}))
        .await;

    let all = ok(office.queue("").await).await;
    assert_eq!(
        ids_of(&all),
        [late.as_str(), due_today.as_str(), fresh.as_str()]
    );
    assert_eq!(all["counts"]["overdue"], 1);
    // The clerks' dashboard counts it past its deadline by a day, and all three by type.
    let stats = office.dashboard().await;
    assert_eq!(overdue_applications(&stats), (1, 0, 0), "{stats}");
    assert_eq!(stats["applications_by_type"][0]["key"], "birth", "{stats}");
    assert_eq!(stats["applications_by_type"][0]["count"], 3, "{stats}");
    assert_eq!(
        stats["applications_by_type"][0]["label"],
        "Πιστοποιητικό Γέννησης"
    );
    let flags: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["overdue"])
        .collect();
    assert_eq!(flags, [&json!(true), &json!(false), &json!(false)]);
    assert_eq!(
        all["items"][0]["due_on"],
        (today - chrono::Days::new(1)).to_string()
    );
    assert_eq!(all["items"][1]["due_on"], today.to_string());
    let overdue = ok(office.queue("?overdue=1").await).await;
    assert_eq!(ids_of(&overdue), [late.as_str()]);
    let mine = ok(office
        .my_list(&office.citizen, "?kind=civil_registry")
        .await)
    .await;
    let late_item = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == late.as_str())
        .unwrap();
    assert_eq!(late_item["overdue"], true);

    // Finishing it clears the flag.
    ok(office.review(&late).await).await;
    // The background registrar may get there first, or be at it right now (409).
    eventually("the protocol number", Duration::from_secs(20), || async {
        let r = office.register_now(&late).await;
        let status = r.status();
        let body = json_body(r).await;
        match status {
            StatusCode::OK => Some(()),
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["error"]["code"], "already_protocolled", "{body}");
                Some(())
            }
            StatusCode::CONFLICT => None,
            other => panic!("unexpected {other}: {body}"),
        }
    })
    .await;
    let issued = ok(office.issue_note(&late, Some("Έτοιμο για παραλαβή.")).await).await;
    let detail = office.mine(&late, &position_of(&issued)).await;
    assert_eq!(detail["application"]["overdue"], false);
    let overdue = ok(office.queue("?overdue=1").await).await;
    assert_eq!(overdue["items"], json!([]));
    assert_eq!(overdue["counts"]["overdue"], 0);
    // The dashboard counts it issued and no longer late.
    let stats = office.dashboard().await;
    assert_eq!(overdue_applications(&stats), (0, 0, 0), "{stats}");
    let by_status: Vec<(&str, i64)> = stats["applications_by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap(), c["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(by_status, [("issued", 1), ("submitted", 2)], "{stats}");
}

// ---------------------------------------------------------------------------------------
// Audit.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_auditor_replays_an_application_and_a_certification() {
    let office = Office::open().await;
    let certified = office.certify_ok(CITIZEN_EMAIL).await;
    let account = certified["account_id"].as_str().unwrap().to_string();
    let id = office
        .new_application(json!({"delivery": "in_person"}))
        .await;
    ok(office.review(&id).await).await;
    ok(office.reject(&id, "Ελλιπή στοιχεία.").await).await;
    ok(office.revoke(CITIZEN_EMAIL, "Λήξη ταυτότητας.").await).await;
    office.certify_ok(CITIZEN_EMAIL).await;

    let office = &office;
    let auditor = &office.auditor;
    let state = |case: &str, query: &str| {
        let path = format!("/api/v1/audit/cases/{case}/state{query}");
        async move { ok(office.app.get(&path, Some(auditor)).await).await }
    };

    // The application.
    let events = office.events(&id).await;
    assert_eq!(
        types_of(&events),
        [
            "ApplicationSubmitted",
            "ApplicationProtocolRegistered",
            "ApplicationTakenIntoReview",
            "ApplicationRejected"
        ]
    );
    assert_eq!(
        events[0]["payload"]["data"]["applicant"]["name"],
        CITIZEN_NAME
    );
    assert_eq!(events[0]["metadata"]["role"], "citizen");
    assert_eq!(events[2]["metadata"]["role"], "clerk");
    let first = state(&id, "?sequence=1").await;
    assert_eq!(first["aggregate_type"], "CertificateApplication");
    assert_eq!(first["sequence"], 1);
    let s = &first["state"];
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["status"], "submitted");
    assert_eq!(s["protocol_number"], Value::Null);
    assert_eq!(s["details"]["certificate_type"], "birth");
    assert_eq!(s["delivery"]["method"], "in_person");
    let second = state(&id, "?sequence=2").await;
    assert!(is_protocol_number(&second["state"]["protocol_number"]));
    assert_eq!(second["state"]["protocol_attempts"], 1);
    let latest = state(&id, "").await;
    assert_eq!(latest["sequence"], 4);
    assert_eq!(latest["state"]["status"], "rejected");
    assert_eq!(latest["state"]["reject_reason"], "Ελλιπή στοιχεία.");
    assert_eq!(latest["state"]["assigned_to"]["name"], CLERK_NAME);
    let verified = ok(office
        .app
        .get(&format!("/api/v1/audit/cases/{id}/verify"), Some(auditor))
        .await)
    .await;
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["events_checked"], 4);
    assert_eq!(verified["head_hash"], events[3]["hash"]);

    // The certification: its stream is the account's.
    let events = office.events(&account).await;
    assert_eq!(
        types_of(&events),
        ["UserCertified", "CertificationRevoked", "UserCertified"]
    );
    let one = state(&account, "?sequence=1").await;
    assert_eq!(one["aggregate_type"], "Certification");
    assert_eq!(one["state"]["certified"], true);
    assert_eq!(one["state"]["document_number"], "ΑΚ123456");
    assert_eq!(one["state"]["certified_by"]["name"], CLERK_NAME);
    let two = state(&account, "?sequence=2").await;
    assert_eq!(two["state"]["certified"], false);
    assert_eq!(two["state"]["times_revoked"], 1);
    let three = state(&account, "").await;
    assert_eq!(three["sequence"], 3);
    assert_eq!(three["state"]["certified"], true);
    assert_eq!(three["state"]["times_revoked"], 1);
    let verified = ok(office
        .app
        .get(
            &format!("/api/v1/audit/cases/{account}/verify"),
            Some(auditor),
        )
        .await)
    .await;
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["events_checked"], 3);

    // Clerks do not audit.
    refused(
        office
            .app
            .get(
                &format!("/api/v1/audit/cases/{id}/events"),
                Some(&office.clerk),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn many_submissions_at_once_while_the_protocol_system_is_slow() {
    let office = Office::certified().await;
    office.app.protocol.set_faults(ProtocolFaults {
        slow_ms: 1000,
        ..Default::default()
    });
    let started = Instant::now();
    let submissions = (0..16).map(|_| office.apply(&office.citizen, civil_registry("birth")));
    let responses = futures::future::join_all(submissions).await;
    let took = started.elapsed();
    let mut numbers = Vec::new();
    for r in responses {
        let answer = created(r).await;
        numbers.push(answer["protocol_number"].clone());
    }
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(numbers.iter().all(is_protocol_number), "{numbers:?}");
    assert_eq!(office.app.protocol.documents().len(), 16);
}

#[tokio::test]
async fn a_citizen_who_leaves_during_the_protocol_call_still_gets_the_number() {
    let office = Office::with_fast_retries().await;
    office.certify_ok(CITIZEN_EMAIL).await;
    office.app.protocol.set_faults(ProtocolFaults {
        slow_ms: 1000,
        ..Default::default()
    });
    // The citizen's browser gives up while the portal waits for the protocol system.
    let impatient = Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(office.app.url("/api/v1/applications"))
        .bearer_auth(&office.citizen)
        .json(&civil_registry("birth"))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client timed out");

    // The application was stored and is registered without waiting for a retry.
    let list = eventually("the stored application", Duration::from_secs(5), || async {
        let list = ok(office.my_list(&office.citizen, "").await).await;
        (!list["items"].as_array().unwrap().is_empty()).then_some(list)
    })
    .await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let detail = eventually("the protocol number", Duration::from_secs(5), || async {
        let r = office
            .app
            .get(
                &format!("/api/v1/my/applications/{id}"),
                Some(&office.citizen),
            )
            .await;
        let detail = ok(r).await;
        is_protocol_number(&detail["application"]["protocol_number"]).then_some(detail)
    })
    .await;
    assert_eq!(
        timeline_types(&detail),
        ["ApplicationSubmitted", "ApplicationProtocolRegistered"]
    );
    assert_eq!(office.app.protocol.documents().len(), 1);
    // And the clerk's "register now" is not locked out.
    rule_refused(office.register_now(&id).await, "already_protocolled").await;
}

// ---------------------------------------------------------------------------------------
// Read models.
// ---------------------------------------------------------------------------------------

/// Every row of `table`, ordered, as JSON.
async fn table_snapshot(pool: &sqlx::PgPool, table: &str, order: &str) -> Value {
    sqlx::query_scalar(&format!(
        "SELECT coalesce(json_agg(t ORDER BY {order}), '[]'::json) FROM {table} t"
    ))
    .fetch_one(pool)
    .await
    .expect("the table answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_and_certification_read_models_rebuild_to_the_same_tables() {
    let office = Office::open().await;
    // A history with every kind of event.
    office.certify_ok(CITIZEN_EMAIL).await;
    ok(office.revoke(CITIZEN_EMAIL, "Λήξη ταυτότητας.").await).await;
    created(
        office
            .certify(
                &office.clerk,
                json!({"email": CITIZEN_EMAIL, "document": "passport", "document_number": "ΑΒ 998877",
                       "company_name": COMPANY, "afm": VALID_AFM}),
            )
            .await,
    )
    .await;
    office.certify_ok(OTHER_EMAIL).await;
    let issued = office.new_application(json!({})).await;
    ok(office.review(&issued).await).await;
    ok(office.request_information(&issued, "Ποιο σχολείο;").await).await;
    ok(office
        .reply(&office.citizen, &issued, "Το 3ο Δημοτικό.")
        .await)
    .await;
    ok(office.issue_pdf(&issued, "c.pdf", PDF.to_vec()).await).await;
    let rejected = id_of(&office.apply_ok(tap()).await);
    ok(office.reject(&rejected, "Λάθος ακίνητο.").await).await;
    office.app.protocol.set_faults(down());
    let pending = id_of(&created(office.apply(&office.other, tap()).await).await);
    refused(
        office.register_now(&pending).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "protocol_unavailable",
    )
    .await;
    office.app.protocol.set_faults(ProtocolFaults::default());
    let posted = office
        .new_application(json!({"delivery": "post", "postal_address": "Οδός Αθηνάς 5, Αθήνα"}))
        .await;
    ok(office.review(&posted).await).await;
    ok(office.issue_note(&posted, Some("Συστημένη ΡΕ1GR.")).await).await;
    office.app.read_models_caught_up().await;

    let pool = &office.app.state.pool;
    let snapshot = || async {
        (
            table_snapshot(pool, "applications", "id").await,
            table_snapshot(pool, "application_timeline", "application_id, sequence").await,
            table_snapshot(pool, "certifications", "account_id").await,
        )
    };
    let live = snapshot().await;
    assert_eq!(live.0.as_array().unwrap().len(), 4);
    assert_eq!(live.2.as_array().unwrap().len(), 2);
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type IN ('CertificateApplication', 'Certification')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        live.1.as_array().unwrap().len() as i64 + 4,
        events,
        "a timeline entry per application event (and four certification events)"
    );

    projections::rebuild(
        pool,
        std::sync::Arc::new(projections::applications::ApplicationsProjection),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    projections::rebuild(
        pool,
        std::sync::Arc::new(projections::certifications::CertificationsProjection),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    let rebuilt = snapshot().await;
    assert_eq!(rebuilt.0, live.0, "applications differ after the rebuild");
    assert_eq!(
        rebuilt.1, live.1,
        "application_timeline differs after the rebuild"
    );
    assert_eq!(rebuilt.2, live.2, "certifications differ after the rebuild");

    // So does a rebuild of every read model in one pass, for every table.
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;

    // The live consumers carry on from the rebuild's checkpoint.
    let after = office.apply_ok(civil_registry("birth")).await;
    let detail = office.mine(&id_of(&after), &position_of(&after)).await;
    assert_eq!(detail["application"]["status"], "submitted");
}

// ---------------------------------------------------------------------------------------
// Labels.
// ---------------------------------------------------------------------------------------

/// The message of `code` in `lang` (`el` or `en`), from the translation files.
fn message(lang: &str, code: &str) -> String {
    let messages: Value = crate::common::catalog(lang);
    messages[code]
        .as_str()
        .unwrap_or_else(|| panic!("{lang}.ftl has no {code}"))
        .to_string()
}

#[tokio::test]
async fn labels_and_timeline_titles_are_in_the_readers_language() {
    let office = Office::certified().await;
    office.app.protocol.set_faults(down());
    let id = office.new_application(json!({})).await;
    office.app.protocol.set_faults(ProtocolFaults::default());
    ok(office.register_now(&id).await).await;
    ok(office.review(&id).await).await;
    ok(office.request_information(&id, "Ποιο σχολείο;").await).await;
    ok(office.reply(&office.citizen, &id, "Το 3ο Δημοτικό.").await).await;
    ok(office.issue_pdf(&id, "c.pdf", PDF.to_vec()).await).await;
    let rejected = id_of(&office.apply_ok(tap()).await);
    ok(office.reject(&rejected, "Λάθος ακίνητο.").await).await;
    office.app.read_models_caught_up().await;

    for lang in ["el", "en"] {
        let get = |path: String| {
            office
                .request(Method::GET, &path, Some(&office.citizen))
                .header("accept-language", lang)
                .send()
        };
        for (case, status, kind, delivery) in [
            (&id, "issued", "civil_registry", "electronic"),
            (&rejected, "rejected", "tap", "in_person"),
        ] {
            let detail = ok(get(format!("/api/v1/my/applications/{case}"))
                .await
                .unwrap())
            .await;
            let a = &detail["application"];
            assert_eq!(
                a["status_label"],
                message(lang, &format!("application_status_{status}"))
            );
            assert_eq!(
                a["kind_label"],
                message(lang, &format!("application_kind_{kind}"))
            );
            assert_eq!(
                a["delivery_label"],
                message(lang, &format!("delivery_{delivery}"))
            );
            for entry in detail["timeline"].as_array().unwrap() {
                let event_type = entry["event_type"].as_str().unwrap();
                assert_eq!(
                    entry["title"],
                    message(lang, &format!("timeline_{event_type}"))
                );
                let status = entry["status"].as_str().unwrap();
                assert_eq!(
                    entry["status_label"],
                    message(lang, &format!("application_status_{status}"))
                );
            }
        }
        let mine = ok(get("/api/v1/my/certification".into()).await.unwrap()).await;
        assert_eq!(
            mine["certification"]["document_label"],
            message(lang, "document_identity_card")
        );
        assert_eq!(
            mine["how_to_get_certified"],
            message(lang, "certification_required")
        );
    }
    let detail = office.staff_view(&id).await;
    assert_eq!(
        timeline_types(&detail),
        [
            "ApplicationSubmitted",
            "ApplicationProtocolFailed",
            "ApplicationProtocolRegistered",
            "ApplicationTakenIntoReview",
            "InformationRequested",
            "InformationProvided",
            "CertificateIssued"
        ]
    );
}

#[tokio::test]
async fn a_rejected_application_is_still_registered_in_the_protocol() {
    let office = Office::with_fast_retries().await;
    office.certify_ok(CITIZEN_EMAIL).await;
    office.app.protocol.set_faults(down());
    let id = office
        .new_application(json!({"delivery": "in_person"}))
        .await;
    let rejected = ok(office.reject(&id, "Διπλή αίτηση.").await).await;
    assert_eq!(rejected["protocol_number"], Value::Null);
    office.app.protocol.set_faults(ProtocolFaults::default());
    let detail = protocol_number_reaches_the_citizen(&office, &id).await;
    assert_eq!(detail["application"]["status"], "rejected");
    assert_eq!(detail["application"]["reject_reason"], "Διπλή αίτηση.");
    let last = detail["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event_type"], "ApplicationProtocolRegistered");
    assert_eq!(last["status"], "rejected");
    assert_eq!(
        count_of(&office.events(&id).await, "ApplicationProtocolRegistered"),
        1
    );
}

#[tokio::test]
async fn two_clerks_issuing_at_once_issue_once_and_keep_one_document() {
    let office = Office::certified().await;
    let id = office.new_application(json!({})).await;
    ok(office.review(&id).await).await;
    let first = {
        let mut pdf = PDF.to_vec();
        pdf.extend_from_slice(b"% first\n");
        pdf
    };
    let second = {
        let mut pdf = PDF.to_vec();
        pdf.extend_from_slice(b"% second\n");
        pdf
    };
    let (a, b) = tokio::join!(
        office.issue_pdf(&id, "first.pdf", first.clone()),
        office.issue_pdf(&id, "second.pdf", second.clone())
    );
    let mut issued = Vec::new();
    for (r, bytes) in [(a, first), (b, second)] {
        let status = r.status();
        let body = json_body(r).await;
        match status {
            StatusCode::OK => issued.push((body, bytes)),
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["error"]["code"], "application_finished", "{body}")
            }
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "conflict", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(issued.len(), 1, "one issue wins");
    let (answer, bytes) = &issued[0];
    assert_eq!(
        office.documents_stored().await,
        1,
        "the loser's file is gone"
    );
    let r = office
        .get_after(
            &format!("/api/v1/my/applications/{id}/document"),
            &office.citizen,
            &position_of(answer),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().as_ref() == bytes.as_slice());
    let events = office.events(&id).await;
    assert_eq!(count_of(&events, "CertificateIssued"), 1);
    assert_eq!(
        events.last().unwrap()["payload"]["data"]["issue"]["sha256"],
        hex::encode(Sha256::digest(bytes))
    );
}

/// A refusal by the protocol system (4xx) is final (issue 14): no automatic retry follows;
/// the clerk sees the reason and that it waits for them, the citizen is told by e-mail, and
/// the clerk's «Πρωτοκόλληση τώρα» registers it once the cause is put right. An unavailable
/// system (5xx) is still retried on its own.
#[tokio::test]
async fn a_refusal_by_the_protocol_system_stops_the_retries_and_waits_for_a_clerk() {
    let office = Office::open_with(fast_retries).await;
    office.certify_ok(CITIZEN_EMAIL).await;
    office.app.protocol.set_faults(ProtocolFaults {
        refuse_next: 1,
        ..Default::default()
    });
    let answer = office.apply_ok(civil_registry("birth")).await;
    let id = id_of(&answer);
    assert_eq!(answer["protocol_pending"], true, "{answer}");

    // With retries every second, none follows the refusal.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let events = office.events(&id).await;
    assert_eq!(
        count_of(&events, "ApplicationProtocolFailed"),
        1,
        "{events:?}"
    );
    assert_eq!(count_of(&events, "ApplicationProtocolRegistered"), 0);
    assert!(office.app.protocol.documents().is_empty());
    let detail = office.staff_view(&id).await;
    let application = &detail["application"];
    assert!(application["protocol_number"].is_null());
    assert!(
        application["protocol_next_attempt_at"].is_null(),
        "{application}"
    );
    assert!(
        application["protocol_last_error"]
            .as_str()
            .is_some_and(|e| e.contains("422") && e.contains("not in the registry")),
        "{application}"
    );
    // In the clerks' queue of failing registrations.
    let failing = ok(office.queue("?protocol=failing").await).await;
    assert_eq!(ids_of(&failing), [id.as_str()]);

    // The clerk's page says it waits for them; the citizen's timeline says so too.
    let page = Visitor::with_session(&office.app, Some(&office.clerk))
        .get(&format!("/staff/applications/{id}"))
        .await
        .body;
    assert!(page.contains("id=\"protocol-refused\""), "{page}");
    assert!(page.contains("δεν θα γίνει νέα αυτόματη προσπάθεια"));
    let citizen_page = Visitor::with_session(&office.app, Some(&office.citizen))
        .get(&format!("/certificates/applications/{id}"))
        .await
        .body;
    assert!(
        citizen_page.contains("υπάλληλος του Δήμου θα την ελέγξει"),
        "{citizen_page}"
    );

    // The citizen is told by e-mail.
    crate::common::eventually("the citizen's notice", || async {
        let subjects: Vec<String> = sqlx::query_scalar(
            "SELECT subject FROM mail_outbox WHERE to_address = $1 ORDER BY created_at",
        )
        .bind(CITIZEN_EMAIL)
        .fetch_all(&office.app.state.pool)
        .await
        .unwrap();
        subjects.iter().any(|s| s.contains("περνά από υπάλληλο"))
    })
    .await;

    // The cause is put right: the clerk registers it.
    let body = ok(office.register_now(&id).await).await;
    assert!(is_protocol_number(&body["protocol_number"]), "{body}");
    let registered = protocol_number_reaches_the_citizen(&office, &id).await;
    assert!(registered["application"]["protocol_number"].is_string());
    assert_eq!(office.app.protocol.documents().len(), 1);
    let failing = ok(office.queue("?protocol=failing").await).await;
    assert_eq!(failing["items"], json!([]));
}
