//! HTTP tests of the clerks' and auditors' side of citizen requests (S5, design §6): the
//! queue, every clerk action accepted and refused, who may do what, optimistic
//! concurrency, the auditor's event list, state as of a sequence number, the hash-chain
//! verification, and tamper detection, all against a real portal and PostgreSQL.

use std::collections::BTreeSet;

use crate::common::{json_body, TestApp};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sandboxes::protocol::ProtocolFaults;
use serde_json::{json, Value};

const CITIZEN_NAME: &str = "Μαρία Παπαδοπούλου";
const CLERK_NAME: &str = "Γεώργιος Υπαλληλίδης";
const AUDITOR_NAME: &str = "Ελένη Ελεγκτή";
const ADMIN_NAME: &str = "Νίκος Διαχειριστής";

/// The Greek messages the API answers with by default.
const MESSAGES_EL: &str = "el";

fn greek_message(code: &str) -> String {
    let messages: Value = crate::common::catalog(MESSAGES_EL);
    messages[code]
        .as_str()
        .unwrap_or_else(|| panic!("el.ftl has no {code}"))
        .to_string()
}

const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A portal with one account of every role, logged in.
struct Office {
    app: TestApp,
    citizen: String,
    clerk: String,
    auditor: String,
    admin: String,
}

impl Office {
    async fn open() -> Self {
        Self::open_with(|_| {}).await
    }

    async fn open_with(adjust: impl FnOnce(&mut portal::Config)) -> Self {
        let app = TestApp::spawn_with(adjust).await;
        let citizen = app.citizen("maria@example.gr", CITIZEN_NAME).await;
        let clerk = app
            .staff("clerk", "clerk@dimos.example.gr", CLERK_NAME)
            .await;
        let auditor = app
            .staff("auditor", "auditor@dimos.example.gr", AUDITOR_NAME)
            .await;
        let admin = app
            .staff("admin", "admin@dimos.example.gr", ADMIN_NAME)
            .await;
        Self {
            app,
            citizen,
            clerk,
            auditor,
            admin,
        }
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut req = self.app.client.request(method, self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req
    }

    /// The citizen files a named case of `kind`; answers the submission's JSON.
    async fn submit(&self, kind: &str, subject: &str) -> Value {
        let r = self
            .app
            .post(
                "/api/v1/requests",
                Some(&self.citizen),
                json!({
                    "kind": kind,
                    "subject": subject,
                    "text": "Η λάμπα του στύλου στη γωνία δεν ανάβει εδώ και μία εβδομάδα.",
                    "desired_action": "Να αντικατασταθεί η λάμπα.",
                }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        json_body(r).await
    }

    /// Files a case and answers its id.
    async fn new_case(&self, subject: &str) -> String {
        id_of(&self.submit("complaint", subject).await)
    }

    /// `POST /api/v1/staff/requests/{id}/{action}` with `token`, and the body if any.
    async fn act(&self, token: &str, id: &str, action: &str, body: Option<Value>) -> Response {
        let mut req = self.request(
            Method::POST,
            &format!("/api/v1/staff/requests/{id}/{action}"),
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

    async fn answer(&self, id: &str, text: &str) -> Response {
        self.act(&self.clerk, id, "answer", Some(json!({ "text": text })))
            .await
    }

    async fn set_status(&self, id: &str, status: &str) -> Response {
        self.act(&self.clerk, id, "status", Some(json!({ "status": status })))
            .await
    }

    async fn protocol(&self, id: &str) -> Response {
        self.act(&self.clerk, id, "protocol", None).await
    }

    async fn close(&self, id: &str, body: Value) -> Response {
        self.act(&self.clerk, id, "close", Some(body)).await
    }

    /// The case as the clerk sees it (`GET /api/v1/staff/requests/{id}`).
    async fn staff_case(&self, id: &str) -> Value {
        let r = self
            .app
            .get(&format!("/api/v1/staff/requests/{id}"), Some(&self.clerk))
            .await;
        ok(r).await
    }

    /// The case as its citizen sees it (`GET /api/v1/my/requests/{id}`).
    async fn my_case(&self, id: &str) -> Value {
        let r = self
            .app
            .get(&format!("/api/v1/my/requests/{id}"), Some(&self.citizen))
            .await;
        ok(r).await
    }

    /// The clerks' queue, read after `position` (read-your-writes across sessions).
    async fn queue(&self, query: &str, position: &str) -> Response {
        self.queue_as(&self.clerk, query, position).await
    }

    async fn queue_as(&self, token: &str, query: &str, position: &str) -> Response {
        self.request(
            Method::GET,
            &format!("/api/v1/staff/requests{query}"),
            Some(token),
        )
        .header("x-portal-position", position)
        .send()
        .await
        .expect("request sent")
    }

    /// The auditor's event list of a case.
    async fn events(&self, id: &str) -> Vec<Value> {
        let r = self
            .app
            .get(
                &format!("/api/v1/audit/cases/{id}/events"),
                Some(&self.auditor),
            )
            .await;
        let body = ok(r).await;
        body["events"].as_array().expect("an event list").clone()
    }

    async fn verify(&self, id: &str) -> Value {
        let r = self
            .app
            .get(
                &format!("/api/v1/audit/cases/{id}/verify"),
                Some(&self.auditor),
            )
            .await;
        ok(r).await
    }

    async fn account_id(&self, token: &str) -> String {
        let me = ok(self.app.get("/api/v1/me", Some(token)).await).await;
        me["id"].as_str().expect("an account id").to_string()
    }
}

fn id_of(submission: &Value) -> String {
    submission["id"].as_str().expect("a case id").to_string()
}

/// Asserts a 200 and answers its JSON body.
async fn ok(r: Response) -> Value {
    let status = r.status();
    let body = json_body(r).await;
    assert_eq!(status, StatusCode::OK, "expected 200, got {status}: {body}");
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

fn types_of(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("an event type"))
        .collect()
}

fn subjects_of(queue: &Value) -> Vec<&str> {
    queue["items"]
        .as_array()
        .expect("queue items")
        .iter()
        .map(|i| i["subject"].as_str().expect("a subject"))
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

fn parses_as_time(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

// ---------------------------------------------------------------------------------------
// The queue.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_queue_lists_cases_oldest_first_and_filters_by_status_and_kind() {
    let office = Office::open().await;
    let a = office.submit("request", "Α: λακκούβα στην Ερμού").await;
    let b = office.submit("complaint", "Β: θόρυβος τη νύχτα").await;
    let _c = office.submit("proposal", "Γ: ποδηλατόδρομος").await;
    let _d = office.submit("request", "Δ: κλάδεμα δέντρων").await;
    // An anonymous comment reaches the clerks like any other case.
    let r = office
        .app
        .post(
            "/api/v1/requests",
            None,
            json!({"subject": "Ε: σχόλιο επισκέπτη", "text": "Καθαρή πλατεία, μπράβο."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let e = json_body(r).await;
    let seen = e["position"].as_str().unwrap().to_string();
    ok(office.review(&id_of(&b)).await).await;

    let all = ok(office.queue("", &seen).await).await;
    assert_eq!(
        subjects_of(&all),
        [
            "Α: λακκούβα στην Ερμού",
            "Β: θόρυβος τη νύχτα",
            "Γ: ποδηλατόδρομος",
            "Δ: κλάδεμα δέντρων",
            "Ε: σχόλιο επισκέπτη"
        ]
    );
    assert_eq!(all["total"], 5);
    assert_eq!(
        all["counts_by_status"],
        json!({"submitted": 4, "in_review": 1})
    );
    assert_eq!(all["page"], 1);
    assert_eq!(all["per_page"], 50);
    let items = all["items"].as_array().unwrap();
    let first = &items[0];
    assert_eq!(first["id"], a["id"]);
    assert_eq!(first["number"], a["number"]);
    assert_eq!(first["kind"], "request");
    assert_eq!(first["status"], "submitted");
    assert_eq!(first["submitter_name"], CITIZEN_NAME);
    assert_eq!(first["anonymous"], false);
    assert_eq!(items[1]["status"], "in_review");
    assert_eq!(items[4]["kind"], "comment");
    assert_eq!(items[4]["anonymous"], true);
    assert_eq!(items[4]["submitter_name"], Value::Null);
    let submitted_at: Vec<&str> = items
        .iter()
        .map(|i| i["submitted_at"].as_str().unwrap())
        .collect();
    let times: Vec<_> = submitted_at
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{submitted_at:?}");

    let submitted = ok(office.queue("?status=submitted", &seen).await).await;
    assert_eq!(
        subjects_of(&submitted),
        [
            "Α: λακκούβα στην Ερμού",
            "Γ: ποδηλατόδρομος",
            "Δ: κλάδεμα δέντρων",
            "Ε: σχόλιο επισκέπτη"
        ]
    );
    assert_eq!(submitted["total"], 4);
    // The counts are for the tabs: they ignore the status filter.
    assert_eq!(
        submitted["counts_by_status"],
        json!({"submitted": 4, "in_review": 1})
    );

    let in_review = ok(office.queue("?status=in_review", &seen).await).await;
    assert_eq!(subjects_of(&in_review), ["Β: θόρυβος τη νύχτα"]);
    assert_eq!(in_review["total"], 1);

    let requests = ok(office.queue("?kind=request", &seen).await).await;
    assert_eq!(
        subjects_of(&requests),
        ["Α: λακκούβα στην Ερμού", "Δ: κλάδεμα δέντρων"]
    );
    assert_eq!(requests["total"], 2);
    assert_eq!(requests["counts_by_status"], json!({"submitted": 2}));

    let both = ok(office
        .queue("?kind=complaint&status=in_review", &seen)
        .await)
    .await;
    assert_eq!(subjects_of(&both), ["Β: θόρυβος τη νύχτα"]);
    let none = ok(office.queue("?kind=proposal&status=in_review", &seen).await).await;
    assert_eq!(subjects_of(&none), Vec::<&str>::new());
    assert_eq!(none["total"], 0);

    let comments = ok(office.queue("?kind=comment", &seen).await).await;
    assert_eq!(subjects_of(&comments), ["Ε: σχόλιο επισκέπτη"]);

    // An empty filter means any.
    let empty = ok(office.queue("?status=&kind=", &seen).await).await;
    assert_eq!(empty["total"], 5);
}

#[tokio::test]
async fn the_queue_refuses_unknown_filters() {
    let office = Office::open().await;
    let seen = office.submit("request", "Θέμα").await["position"]
        .as_str()
        .unwrap()
        .to_string();

    field_refused(
        office.queue("?status=lost", &seen).await,
        "status",
        "status_invalid",
    )
    .await;
    field_refused(
        office.queue("?kind=petition", &seen).await,
        "kind",
        "kind_invalid",
    )
    .await;
    // Both at once are both named.
    let body = field_refused(
        office.queue("?status=lost&kind=petition", &seen).await,
        "status",
        "status_invalid",
    )
    .await;
    assert_eq!(body["error"]["fields"].as_array().unwrap().len(), 2);
    // An unknown parameter or a page that is not a number is a malformed query.
    refused(
        office.queue("?sort=newest", &seen).await,
        StatusCode::BAD_REQUEST,
        "malformed_query",
    )
    .await;
    refused(
        office.queue("?page=two", &seen).await,
        StatusCode::BAD_REQUEST,
        "malformed_query",
    )
    .await;
}

#[tokio::test]
async fn the_queue_pages() {
    let office = Office::open().await;
    let mut seen = String::new();
    for subject in ["Α", "Β", "Γ", "Δ", "Ε"] {
        seen = office.submit("request", subject).await["position"]
            .as_str()
            .unwrap()
            .to_string();
    }

    let page1 = ok(office.queue("?per_page=2", &seen).await).await;
    assert_eq!(subjects_of(&page1), ["Α", "Β"]);
    assert_eq!(page1["total"], 5);
    assert_eq!(page1["page"], 1);
    assert_eq!(page1["per_page"], 2);
    let page2 = ok(office.queue("?per_page=2&page=2", &seen).await).await;
    assert_eq!(subjects_of(&page2), ["Γ", "Δ"]);
    assert_eq!(page2["page"], 2);
    let page3 = ok(office.queue("?per_page=2&page=3", &seen).await).await;
    assert_eq!(subjects_of(&page3), ["Ε"]);
    assert_eq!(page3["total"], 5);
    let past = ok(office.queue("?per_page=2&page=4", &seen).await).await;
    assert_eq!(subjects_of(&past), Vec::<&str>::new());
    assert_eq!(past["total"], 5);
    // With a status filter the pages and the total follow the filter.
    let filtered = ok(office
        .queue("?status=submitted&per_page=3&page=2", &seen)
        .await)
    .await;
    assert_eq!(subjects_of(&filtered), ["Δ", "Ε"]);
    assert_eq!(filtered["total"], 5);

    // Out-of-range values are brought into range rather than refused.
    let clamped = ok(office.queue("?per_page=0&page=0", &seen).await).await;
    assert_eq!(clamped["per_page"], 1);
    assert_eq!(clamped["page"], 1);
    assert_eq!(subjects_of(&clamped), ["Α"]);
    let big = ok(office.queue("?per_page=100000", &seen).await).await;
    assert_eq!(big["per_page"], 200);
    assert_eq!(subjects_of(&big).len(), 5);
    // A page whose offset would not fit is refused, not a 500 (issue 12, defect 3).
    for page in ["200000000000000000", "9223372036854775807", "100001"] {
        refused(
            office.queue(&format!("?page={page}"), &seen).await,
            StatusCode::BAD_REQUEST,
            "page_out_of_range",
        )
        .await;
    }
    let last = ok(office.queue("?page=100000", &seen).await).await;
    assert_eq!(subjects_of(&last), Vec::<&str>::new());
}

// ---------------------------------------------------------------------------------------
// Who may do what.
// ---------------------------------------------------------------------------------------

/// Every staff endpoint on case `id`, with a body the handler would accept.
fn staff_endpoints(id: &str) -> Vec<(Method, String, Option<Value>)> {
    let base = format!("/api/v1/staff/requests/{id}");
    vec![
        (Method::GET, "/api/v1/staff/requests".to_string(), None),
        (Method::GET, base.clone(), None),
        (Method::POST, format!("{base}/review"), None),
        (
            Method::POST,
            format!("{base}/answer"),
            Some(json!({"text": "Απάντηση."})),
        ),
        (
            Method::POST,
            format!("{base}/status"),
            Some(json!({"status": "in_progress"})),
        ),
        (Method::POST, format!("{base}/protocol"), None),
        (
            Method::POST,
            format!("{base}/close"),
            Some(json!({"reason": "done"})),
        ),
    ]
}

fn audit_endpoints(id: &str) -> Vec<(Method, String, Option<Value>)> {
    let base = format!("/api/v1/audit/cases/{id}");
    vec![
        (Method::GET, format!("{base}/events"), None),
        (Method::GET, format!("{base}/state?sequence=1"), None),
        (Method::GET, format!("{base}/verify"), None),
    ]
}

async fn call(
    office: &Office,
    (method, path, body): &(Method, String, Option<Value>),
    token: Option<&str>,
) -> Response {
    let mut req = office.request(method.clone(), path, token);
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.expect("request sent")
}

#[tokio::test]
async fn only_staff_act_and_only_auditors_audit() {
    let office = Office::open().await;
    let submission = office.submit("complaint", "Σπασμένο παγκάκι").await;
    let id = id_of(&submission);
    let seen = submission["position"].as_str().unwrap();
    let staff = staff_endpoints(&id);
    let audit = audit_endpoints(&id);

    for endpoint in staff.iter().chain(&audit) {
        let what = format!("{} {}", endpoint.0, endpoint.1);
        let r = call(&office, endpoint, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no token: {what}");
        assert_eq!(json_body(r).await["error"]["code"], "unauthenticated");
        let r = call(&office, endpoint, Some("not-a-session-token")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "bad token: {what}");
        assert_eq!(json_body(r).await["error"]["code"], "unauthenticated");
        let r = call(&office, endpoint, Some(&office.citizen)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "citizen: {what}");
        assert_eq!(json_body(r).await["error"]["code"], "forbidden");
    }
    for endpoint in &staff {
        let what = format!("{} {}", endpoint.0, endpoint.1);
        let r = call(&office, endpoint, Some(&office.auditor)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "auditor: {what}");
        assert_eq!(json_body(r).await["error"]["code"], "forbidden");
    }
    for endpoint in &audit {
        let what = format!("{} {}", endpoint.0, endpoint.1);
        let r = call(&office, endpoint, Some(&office.clerk)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "clerk: {what}");
        assert_eq!(json_body(r).await["error"]["code"], "forbidden");
    }

    // Nothing the refused calls asked for happened.
    let events = office.events(&id).await;
    assert_eq!(types_of(&events), ["RequestSubmitted"]);
    assert!(office.app.protocol.documents().is_empty());

    // An admin may do both.
    // (Another session's write: the read names the position to wait for.)
    let queue = ok(office.queue_as(&office.admin, "", seen).await).await;
    assert_eq!(queue["total"], 1);
    assert_eq!(queue["items"][0]["id"], id.as_str());
    let reviewed = ok(office.act(&office.admin, &id, "review", None).await).await;
    assert_eq!(reviewed["case"]["status"], "in_review");
    assert_eq!(reviewed["case"]["assigned_to_name"], ADMIN_NAME);
    for endpoint in &audit {
        ok(call(&office, endpoint, Some(&office.admin)).await).await;
    }
    let events = ok(call(&office, &audit[0], Some(&office.admin)).await).await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events[1]["metadata"]["role"], "admin");
    // And the clerk and the auditor may do their own part.
    ok(call(&office, &staff[0], Some(&office.clerk)).await).await;
    ok(call(&office, &staff[1], Some(&office.clerk)).await).await;
    for endpoint in &audit {
        ok(call(&office, endpoint, Some(&office.auditor)).await).await;
    }
}

// ---------------------------------------------------------------------------------------
// The clerks' actions, accepted and refused.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn review_assigns_the_case_once() {
    let office = Office::open().await;
    let id = office.new_case("Λακκούβα").await;

    let r = office.review(&id).await;
    let position = r
        .headers()
        .get("x-portal-position")
        .expect("a command answers its position")
        .to_str()
        .unwrap()
        .to_string();
    let body = ok(r).await;
    assert_eq!(body["position"], position.as_str());
    assert_eq!(body["case"]["id"], id.as_str());
    assert_eq!(body["case"]["status"], "in_review");
    assert_eq!(body["case"]["assigned_to_name"], CLERK_NAME);

    refused(
        office.review(&id).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "review_not_allowed",
    )
    .await;

    // The citizen sees the case in review in its history.
    let mine = office.my_case(&id).await;
    assert_eq!(mine["case"]["status"], "in_review");
    let timeline = mine["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[1]["event_type"], "RequestTakenIntoReview");
    assert_eq!(timeline[1]["status"], "in_review");
    assert_eq!(timeline[1]["actor_role"], "clerk");
    assert_eq!(
        types_of(&office.events(&id).await),
        ["RequestSubmitted", "RequestTakenIntoReview"]
    );
}

#[tokio::test]
async fn status_changes_follow_the_rules() {
    let office = Office::open().await;
    let id = office.new_case("Σκουπίδια").await;

    refused(
        office.set_status(&id, "in_progress").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "review_first",
    )
    .await;
    ok(office.review(&id).await).await;

    let body = ok(office.set_status(&id, "in_progress").await).await;
    assert_eq!(body["case"]["status"], "in_progress");
    refused(
        office.set_status(&id, "in_progress").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "status_unchanged",
    )
    .await;
    for own_act in ["answered", "closed", "reopened", "submitted"] {
        refused(
            office.set_status(&id, own_act).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "status_not_settable",
        )
        .await;
    }
    field_refused(
        office.set_status(&id, "frozen").await,
        "status",
        "status_invalid",
    )
    .await;
    field_refused(
        office
            .act(&office.clerk, &id, "status", Some(json!({})))
            .await,
        "status",
        "status_invalid",
    )
    .await;
    let body = refused(
        office
            .act(
                &office.clerk,
                &id,
                "status",
                Some(json!({"status": "on_hold", "priority": "high"})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
    )
    .await;
    assert_eq!(body["error"]["fields"][0]["field"], "priority");

    let body = ok(office.set_status(&id, "on_hold").await).await;
    assert_eq!(body["case"]["status"], "on_hold");

    let mine = office.my_case(&id).await;
    assert_eq!(mine["case"]["status"], "on_hold");
    let changes: Vec<&Value> = mine["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "RequestStatusChanged")
        .map(|e| &e["details"])
        .collect();
    assert_eq!(
        changes,
        [
            &json!({"from": "in_review", "to": "in_progress"}),
            &json!({"from": "in_progress", "to": "on_hold"})
        ]
    );
    // Only the accepted changes were recorded.
    assert_eq!(
        types_of(&office.events(&id).await),
        [
            "RequestSubmitted",
            "RequestTakenIntoReview",
            "RequestStatusChanged",
            "RequestStatusChanged"
        ]
    );
}

#[tokio::test]
async fn the_citizen_sees_the_answer() {
    let office = Office::open().await;
    let id = office.new_case("Φωτισμός").await;
    ok(office.review(&id).await).await;

    field_refused(office.answer(&id, "   ").await, "text", "answer_required").await;
    field_refused(
        office
            .act(&office.clerk, &id, "answer", Some(json!({})))
            .await,
        "text",
        "answer_required",
    )
    .await;
    field_refused(
        office.answer(&id, &"α".repeat(10_001)).await,
        "text",
        "answer_too_long",
    )
    .await;
    assert_eq!(office.events(&id).await.len(), 2, "refusals store nothing");

    let text = "Αγαπητή κυρία Παπαδοπούλου,\nη λάμπα αντικαταστάθηκε σήμερα.\n«Ευχαριστούμε» για την ενημέρωση.";
    let body = ok(office.answer(&id, text).await).await;
    assert_eq!(body["case"]["status"], "answered");
    assert_eq!(body["case"]["answer"], text);

    let mine = office.my_case(&id).await;
    assert_eq!(mine["case"]["status"], "answered");
    assert_eq!(mine["case"]["answer"], text);
    assert!(parses_as_time(&mine["case"]["answered_at"]), "{mine}");
    let timeline = mine["timeline"].as_array().unwrap();
    let answered = timeline.last().unwrap();
    assert_eq!(answered["event_type"], "RequestAnswered");
    assert_eq!(answered["status"], "answered");
    assert_eq!(answered["actor_role"], "clerk");
    assert_eq!(answered["actor_name"], CLERK_NAME);
    assert_eq!(answered["details"]["answer"], text);

    let list = ok(office
        .app
        .get("/api/v1/my/requests", Some(&office.citizen))
        .await)
    .await;
    let item = &list["items"][0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["status"], "answered");
    assert_eq!(item["answered"], true);
}

#[tokio::test]
async fn protocol_registration_gives_one_number_the_citizen_sees() {
    let office = Office::open().await;
    let submission = office.submit("request", "Βεβαίωση").await;
    let id = id_of(&submission);

    let body = ok(office.protocol(&id).await).await;
    let number = body["case"]["protocol_number"].clone();
    assert!(is_protocol_number(&number), "{body}");
    assert!(parses_as_time(&body["case"]["protocol_date"]), "{body}");

    // The citizen sees the protocol number and date in the list and in the case.
    let list = ok(office
        .app
        .get("/api/v1/my/requests", Some(&office.citizen))
        .await)
    .await;
    let item = &list["items"][0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["protocol_number"], number);
    assert_eq!(item["protocol_date"], body["case"]["protocol_date"]);
    let mine = office.my_case(&id).await;
    assert_eq!(mine["case"]["protocol_number"], number);
    let registered = mine["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(registered["event_type"], "ProtocolRegistered");
    assert_eq!(registered["details"]["protocol_number"], number);

    // What the protocol system received.
    let documents = office.app.protocol.documents();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].protocol_number, number.as_str().unwrap());
    assert_eq!(documents[0].subject, "Βεβαίωση");
    assert_eq!(documents[0].sender, CITIZEN_NAME);
    assert_eq!(
        documents[0].case_number,
        submission["number"].as_str().unwrap()
    );
    assert_eq!(documents[0].idempotency_key, format!("CitizenRequest:{id}"));

    refused(
        office.protocol(&id).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "already_protocolled",
    )
    .await;
    assert_eq!(office.app.protocol.documents().len(), 1);
    assert_eq!(
        types_of(&office.events(&id).await),
        ["RequestSubmitted", "ProtocolRegistered"]
    );
}

#[tokio::test]
async fn protocol_system_down_stores_nothing_and_a_later_try_succeeds() {
    let office = Office::open().await;
    let id = office.new_case("Άδεια κατάληψης πεζοδρομίου").await;

    office.app.protocol.set_faults(ProtocolFaults {
        down: true,
        ..Default::default()
    });
    let body = refused(
        office.protocol(&id).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "protocol_unavailable",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        greek_message("protocol_unavailable"),
        "{body}"
    );
    assert_eq!(types_of(&office.events(&id).await), ["RequestSubmitted"]);
    let case = office.staff_case(&id).await;
    assert_eq!(case["case"]["protocol_number"], Value::Null);
    assert_eq!(case["case"]["protocol_date"], Value::Null);
    assert!(office.app.protocol.documents().is_empty());

    // A failure of the system (500) is also "unavailable, try later".
    office.app.protocol.set_faults(ProtocolFaults {
        fail_next: 1,
        ..Default::default()
    });
    refused(
        office.protocol(&id).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "protocol_unavailable",
    )
    .await;
    assert_eq!(office.events(&id).await.len(), 1);

    // Up again: the same call succeeds.
    office.app.protocol.set_faults(ProtocolFaults::default());
    let body = ok(office.protocol(&id).await).await;
    assert!(
        is_protocol_number(&body["case"]["protocol_number"]),
        "{body}"
    );
    assert_eq!(
        types_of(&office.events(&id).await),
        ["RequestSubmitted", "ProtocolRegistered"]
    );
}

#[tokio::test]
async fn a_misbehaving_protocol_system_still_gives_one_number_per_case() {
    let office = Office::open().await;
    office.app.protocol.set_faults(ProtocolFaults {
        duplicate: true,
        ..Default::default()
    });

    // One after the other: the case refuses a second registration before asking.
    let id = office.new_case("Διπλή πρωτοκόλληση").await;
    let body = ok(office.protocol(&id).await).await;
    let number = body["case"]["protocol_number"].clone();
    refused(
        office.protocol(&id).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "already_protocolled",
    )
    .await;
    assert_eq!(office.app.protocol.documents().len(), 1);
    assert_eq!(
        office.staff_case(&id).await["case"]["protocol_number"],
        number
    );

    // At the same moment: the system may hand out several numbers, the case keeps one.
    let id = office.new_case("Ταυτόχρονη πρωτοκόλληση").await;
    office.app.protocol.set_faults(ProtocolFaults {
        duplicate: true,
        slow_ms: 300,
        ..Default::default()
    });
    let calls = (0..5).map(|_| office.protocol(&id));
    let responses = futures::future::join_all(calls).await;
    let mut accepted = Vec::new();
    for r in responses {
        let status = r.status();
        let body = json_body(r).await;
        match status {
            StatusCode::OK => accepted.push(body["case"]["protocol_number"].clone()),
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["error"]["code"], "already_protocolled", "{body}")
            }
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "conflict", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted.len(), 1, "one registration wins: {accepted:?}");
    let events = office.events(&id).await;
    let registered: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "ProtocolRegistered")
        .collect();
    assert_eq!(registered.len(), 1);
    assert_eq!(
        registered[0]["payload"]["data"]["protocol_number"],
        accepted[0]
    );
    assert_eq!(
        office.staff_case(&id).await["case"]["protocol_number"],
        accepted[0]
    );
}

#[tokio::test]
async fn closing_needs_a_reason_and_ends_the_case() {
    let office = Office::open().await;

    // Done needs no note.
    let done = office.new_case("Κλάδεμα").await;
    let body = ok(office.close(&done, json!({"reason": "done"})).await).await;
    assert_eq!(body["case"]["status"], "closed");
    assert_eq!(body["case"]["close_reason"], "done");
    assert_eq!(body["case"]["close_note"], Value::Null);
    refused(
        office.close(&done, json!({"reason": "done"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "case_already_closed",
    )
    .await;

    // Every other reason needs one.
    let forwarded = office.new_case("Εθνική οδός").await;
    for reason in ["not_competent", "duplicate", "rejected"] {
        refused(
            office.close(&forwarded, json!({ "reason": reason })).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "close_note_required",
        )
        .await;
    }
    refused(
        office
            .close(
                &forwarded,
                json!({"reason": "not_competent", "note": "   "}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "close_note_required",
    )
    .await;
    field_refused(
        office.close(&forwarded, json!({"reason": "lost"})).await,
        "reason",
        "close_reason_invalid",
    )
    .await;
    field_refused(
        office.close(&forwarded, json!({})).await,
        "reason",
        "close_reason_invalid",
    )
    .await;
    let body = field_refused(
        office
            .close(
                &forwarded,
                json!({"reason": "lost", "note": "ν".repeat(1001)}),
            )
            .await,
        "reason",
        "close_reason_invalid",
    )
    .await;
    assert!(
        body["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "note" && f["code"] == "note_too_long"),
        "{body}"
    );
    assert_eq!(office.events(&forwarded).await.len(), 1);

    let note = "Διαβιβάστηκε στην Περιφέρεια Αττικής (αρμόδια για την Εθνική οδό).";
    let body = ok(office
        .close(&forwarded, json!({"reason": "not_competent", "note": note}))
        .await)
    .await;
    assert_eq!(body["case"]["status"], "closed");
    assert_eq!(body["case"]["close_reason"], "not_competent");
    assert_eq!(body["case"]["close_note"], note);
    let mine = office.my_case(&forwarded).await;
    assert_eq!(mine["case"]["status"], "closed");
    assert_eq!(mine["case"]["close_note"], note);
    let closed = mine["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(closed["event_type"], "RequestClosed");
    assert_eq!(
        closed["details"],
        json!({"reason": "not_competent", "note": note})
    );

    // A closed case takes no further action.
    for r in [
        office.review(&done).await,
        office.answer(&done, "Αργοπορημένη απάντηση.").await,
        office.set_status(&done, "in_progress").await,
        office.protocol(&done).await,
    ] {
        refused(r, StatusCode::UNPROCESSABLE_ENTITY, "case_closed").await;
    }
    assert!(office.app.protocol.documents().is_empty());
    assert_eq!(
        types_of(&office.events(&done).await),
        ["RequestSubmitted", "RequestClosed"]
    );
}

#[tokio::test]
async fn actions_on_a_missing_case_answer_404() {
    let office = Office::open().await;
    office.new_case("Υπαρκτό αίτημα").await;
    let missing = uuid::Uuid::new_v4().to_string();

    for r in [
        office.review(&missing).await,
        office.answer(&missing, "Απάντηση.").await,
        office.set_status(&missing, "in_progress").await,
        office.protocol(&missing).await,
        office.close(&missing, json!({"reason": "done"})).await,
        office
            .app
            .get(
                &format!("/api/v1/staff/requests/{missing}"),
                Some(&office.clerk),
            )
            .await,
    ] {
        refused(r, StatusCode::NOT_FOUND, "case_not_found").await;
    }
    for endpoint in audit_endpoints(&missing) {
        let r = call(&office, &endpoint, Some(&office.auditor)).await;
        refused(r, StatusCode::NOT_FOUND, "case_not_found").await;
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
        .bind(&missing)
        .fetch_one(&office.app.state.pool)
        .await
        .unwrap();
    assert_eq!(
        stored, 0,
        "a refused command on a missing case stores nothing"
    );
    assert!(office.app.protocol.documents().is_empty());
}

// ---------------------------------------------------------------------------------------
// Optimistic concurrency.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_answers_are_stored_or_answer_409_never_500() {
    let office = Office::open_with(|c| c.conflict_retries = 0).await;
    let id = office.new_case("Ταυτόχρονες απαντήσεις").await;

    let texts: Vec<String> = (1..=20).map(|n| format!("Απάντηση αριθμός {n}.")).collect();
    let responses =
        futures::future::join_all(texts.iter().map(|text| office.answer(&id, text))).await;

    let mut stored_texts = BTreeSet::new();
    let mut conflicts = 0;
    for (text, r) in texts.iter().zip(responses) {
        let status = r.status();
        let body = json_body(r).await;
        match status {
            StatusCode::OK => {
                stored_texts.insert(text.clone());
            }
            StatusCode::CONFLICT => {
                conflicts += 1;
                assert_eq!(body["error"]["code"], "conflict", "{body}");
                assert_eq!(
                    body["error"]["message"],
                    greek_message("conflict"),
                    "{body}"
                );
            }
            other => panic!("expected 200 or 409, got {other}: {body}"),
        }
    }
    assert!(!stored_texts.is_empty(), "at least one answer goes through");
    assert_eq!(stored_texts.len() + conflicts, 20);

    // Every 200 is exactly one stored event, and every 409 stored nothing.
    let events = office.events(&id).await;
    let answered: BTreeSet<String> = events
        .iter()
        .filter(|e| e["type"] == "RequestAnswered")
        .map(|e| e["payload"]["data"]["text"].as_str().unwrap().to_string())
        .collect();
    let answered_events = events
        .iter()
        .filter(|e| e["type"] == "RequestAnswered")
        .count();
    assert_eq!(answered_events, stored_texts.len());
    assert_eq!(answered, stored_texts);
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=events.len() as i64).collect::<Vec<_>>());
    let verification = office.verify(&id).await;
    assert_eq!(verification["valid"], true, "{verification}");
}

#[tokio::test]
async fn concurrent_reviews_assign_the_case_once() {
    let office = Office::open_with(|c| c.conflict_retries = 0).await;
    let id = office.new_case("Ταυτόχρονη ανάληψη").await;

    let responses = futures::future::join_all((0..10).map(|_| office.review(&id))).await;
    let mut accepted = 0;
    for r in responses {
        let status = r.status();
        let body = json_body(r).await;
        match status {
            StatusCode::OK => accepted += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "conflict", "{body}"),
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["error"]["code"], "review_not_allowed", "{body}")
            }
            other => panic!("expected 200, 409 or 422, got {other}: {body}"),
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(
        types_of(&office.events(&id).await),
        ["RequestSubmitted", "RequestTakenIntoReview"]
    );
}

// ---------------------------------------------------------------------------------------
// The auditor's view.
// ---------------------------------------------------------------------------------------

/// Submit, review, answer, in progress, protocol, close: six events. Answers the case id,
/// the `x-request-id` the portal gave the submission, and the answer's text.
async fn full_history(office: &Office, review_request_id: &str) -> (String, String, String) {
    let r = office
        .app
        .post(
            "/api/v1/requests",
            Some(&office.citizen),
            json!({"kind": "complaint", "subject": "Θόρυβος από κλιματιστικό", "text": "Κάθε βράδυ.", "desired_action": "Έλεγχος."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let submit_request_id = r
        .headers()
        .get("x-request-id")
        .expect("every answer carries a request id")
        .to_str()
        .unwrap()
        .to_string();
    let id = id_of(&json_body(r).await);

    let r = office
        .request(
            Method::POST,
            &format!("/api/v1/staff/requests/{id}/review"),
            Some(&office.clerk),
        )
        .header("x-request-id", review_request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("x-request-id").unwrap(),
        review_request_id,
        "the portal keeps the caller's request id"
    );
    ok(r).await;

    let answer = "Έγινε αυτοψία· ο ιδιοκτήτης ειδοποιήθηκε.".to_string();
    ok(office.answer(&id, &answer).await).await;
    ok(office.set_status(&id, "in_progress").await).await;
    ok(office.protocol(&id).await).await;
    ok(office.close(&id, json!({"reason": "done"})).await).await;
    (id, submit_request_id, answer)
}

#[tokio::test]
async fn the_auditor_sees_every_event_with_metadata_and_chained_hashes() {
    let office = Office::open().await;
    let citizen_id = office.account_id(&office.citizen).await;
    let clerk_id = office.account_id(&office.clerk).await;
    let (id, submit_request_id, answer) = full_history(&office, "elegxos-review-0001").await;

    let r = office
        .app
        .get(
            &format!("/api/v1/audit/cases/{id}/events"),
            Some(&office.auditor),
        )
        .await;
    let body = ok(r).await;
    assert_eq!(body["case_id"], id.as_str());
    assert_eq!(body["aggregate_type"], "CitizenRequest");
    let events = body["events"].as_array().unwrap();
    assert_eq!(
        types_of(events),
        [
            "RequestSubmitted",
            "RequestTakenIntoReview",
            "RequestAnswered",
            "RequestStatusChanged",
            "ProtocolRegistered",
            "RequestClosed"
        ]
    );

    let mut previous_hash = GENESIS_HASH.to_string();
    let mut previous_position = 0_i64;
    let mut previous_recorded = None;
    let mut hashes = BTreeSet::new();
    for (n, event) in (1_i64..).zip(events) {
        assert_eq!(event["sequence"], n, "{event}");
        // `RequestSubmitted` is 1.1 since it may carry a category and a place (issue 15).
        let version = if n == 1 { "1.1" } else { "1.0" };
        assert_eq!(event["version"], version, "{event}");
        assert_eq!(event["payload"]["type"], event["type"], "{event}");
        assert!(event["payload"]["data"].is_object(), "{event}");

        let metadata = &event["metadata"];
        let (actor, role) = if n == 1 {
            (&citizen_id, "citizen")
        } else {
            (&clerk_id, "clerk")
        };
        assert_eq!(metadata["actor_id"], actor.as_str(), "{event}");
        assert_eq!(metadata["role"], role, "{event}");
        assert!(
            metadata["correlation_id"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{event}"
        );
        assert!(parses_as_time(&metadata["time"]), "{event}");

        assert!(parses_as_time(&event["recorded_at"]), "{event}");
        let recorded =
            chrono::DateTime::parse_from_rfc3339(event["recorded_at"].as_str().unwrap()).unwrap();
        assert!(previous_recorded.is_none_or(|p| p <= recorded), "{event}");
        previous_recorded = Some(recorded);

        let (txid, global) = event["position"]
            .as_str()
            .and_then(|p| p.split_once('.'))
            .expect("a position is <transaction id>.<global position>");
        assert!(txid.parse::<i64>().is_ok(), "{event}");
        let global: i64 = global.parse().unwrap();
        assert!(global > previous_position, "{event}");
        previous_position = global;

        assert_eq!(event["prev_hash"], previous_hash.as_str(), "{event}");
        let hash = event["hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64, "{event}");
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{event}"
        );
        assert!(hashes.insert(hash.to_string()), "hashes differ: {event}");
        previous_hash = hash.to_string();
    }

    // The payloads are the facts as recorded.
    let submitted = &events[0]["payload"]["data"];
    assert_eq!(submitted["id"], id.as_str());
    assert_eq!(submitted["subject"], "Θόρυβος από κλιματιστικό");
    assert_eq!(submitted["submitter"]["name"], CITIZEN_NAME);
    assert_eq!(events[1]["payload"]["data"]["clerk"]["name"], CLERK_NAME);
    assert_eq!(events[2]["payload"]["data"]["text"], answer.as_str());
    assert_eq!(
        events[3]["payload"]["data"]["to"], "in_progress",
        "{}",
        events[3]
    );
    assert!(is_protocol_number(
        &events[4]["payload"]["data"]["protocol_number"]
    ));
    assert_eq!(events[5]["payload"]["data"]["reason"], "done");

    // The correlation id is the x-request-id of the HTTP request that wrote the event:
    // the one the portal made up for the submission, the caller's own for the review.
    assert_eq!(
        events[0]["metadata"]["correlation_id"],
        submit_request_id.as_str()
    );
    assert_eq!(
        events[1]["metadata"]["correlation_id"],
        "elegxos-review-0001"
    );

    let verification = office.verify(&id).await;
    assert_eq!(verification["case_id"], id.as_str());
    assert_eq!(verification["valid"], true, "{verification}");
    assert_eq!(verification["events_checked"], 6);
    assert_eq!(verification["first_broken_sequence"], Value::Null);
    assert_eq!(verification["problem"], Value::Null);
    assert_eq!(verification["head_hash"], events[5]["hash"]);
}

#[tokio::test]
async fn every_command_records_its_own_correlation_id() {
    let office = Office::open().await;
    let id = office.new_case("Συσχέτιση").await;
    let steps: [(&str, Option<Value>); 4] = [
        ("review", None),
        ("answer", Some(json!({"text": "Απάντηση."}))),
        ("protocol", None),
        ("close", Some(json!({"reason": "done"}))),
    ];
    let mut sent = Vec::new();
    for (action, body) in steps {
        let request_id = format!("corr-{action}-{}", uuid::Uuid::new_v4());
        let mut req = office
            .request(
                Method::POST,
                &format!("/api/v1/staff/requests/{id}/{action}"),
                Some(&office.clerk),
            )
            .header("x-request-id", &request_id);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        assert_eq!(
            r.headers().get("x-request-id").unwrap(),
            request_id.as_str()
        );
        ok(r).await;
        sent.push(request_id);
    }
    // A refused command answers with the request id too, and stores nothing under it.
    let r = office
        .request(
            Method::POST,
            &format!("/api/v1/staff/requests/{id}/review"),
            Some(&office.clerk),
        )
        .header("x-request-id", "corr-refused")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("x-request-id").unwrap(), "corr-refused");
    refused(r, StatusCode::UNPROCESSABLE_ENTITY, "case_closed").await;

    let events = office.events(&id).await;
    let recorded: Vec<&str> = events[1..]
        .iter()
        .map(|e| e["metadata"]["correlation_id"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, sent);
}

#[tokio::test]
async fn the_auditor_replays_the_state_as_of_any_sequence() {
    let office = Office::open().await;
    let (id, _, answer) = full_history(&office, "replay").await;
    let office = &office;
    let state = |query: &str| {
        let path = format!("/api/v1/audit/cases/{id}/state{query}");
        async move { office.app.get(&path, Some(&office.auditor)).await }
    };

    let first = ok(state("?sequence=1").await).await;
    assert_eq!(first["case_id"], id.as_str());
    assert_eq!(first["aggregate_type"], "CitizenRequest");
    assert_eq!(first["sequence"], 1);
    let s = &first["state"];
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["status"], "submitted");
    assert_eq!(s["kind"], "complaint");
    assert_eq!(s["subject"], "Θόρυβος από κλιματιστικό");
    assert_eq!(s["submitter"]["name"], CITIZEN_NAME);
    assert_eq!(s["answer"], Value::Null);
    assert_eq!(s["assigned_to"], Value::Null);
    assert_eq!(s["protocol_number"], Value::Null);

    let third = ok(state("?sequence=3").await).await;
    assert_eq!(third["sequence"], 3);
    let s = &third["state"];
    assert_eq!(s["status"], "answered");
    assert_eq!(s["answer"], answer.as_str());
    assert_eq!(s["assigned_to"]["name"], CLERK_NAME);
    assert_eq!(s["protocol_number"], Value::Null);
    assert_eq!(s["close_reason"], Value::Null);

    let latest = ok(state("").await).await;
    assert_eq!(latest["sequence"], 6);
    let s = &latest["state"];
    assert_eq!(s["status"], "closed");
    assert_eq!(s["close_reason"], "done");
    assert_eq!(s["answer"], answer.as_str());
    let staff_view = office.staff_case(&id).await;
    assert_eq!(s["protocol_number"], staff_view["case"]["protocol_number"]);
    assert!(is_protocol_number(&s["protocol_number"]));

    // Past the end is the latest state; an empty sequence means no sequence.
    assert_eq!(ok(state("?sequence=99").await).await, latest);
    assert_eq!(ok(state("?sequence=").await).await, latest);

    for bad in ["0", "abc", "-1", "1.5"] {
        field_refused(
            state(&format!("?sequence={bad}")).await,
            "sequence",
            "sequence_invalid",
        )
        .await;
    }
    refused(
        state("?seq=1").await,
        StatusCode::BAD_REQUEST,
        "malformed_query",
    )
    .await;
    let missing = uuid::Uuid::new_v4();
    let r = office
        .app
        .get(
            &format!("/api/v1/audit/cases/{missing}/state?sequence=1"),
            Some(&office.auditor),
        )
        .await;
    refused(r, StatusCode::NOT_FOUND, "case_not_found").await;
}

// ---------------------------------------------------------------------------------------
// Tampering with the event log.
// ---------------------------------------------------------------------------------------

/// A case with four events: submitted, in review, answered, in progress.
async fn four_event_case(office: &Office, subject: &str) -> String {
    let id = office.new_case(subject).await;
    ok(office.review(&id).await).await;
    ok(office.answer(&id, "Η απάντηση του Δήμου.").await).await;
    ok(office.set_status(&id, "in_progress").await).await;
    assert_eq!(office.events(&id).await.len(), 4);
    id
}

/// Runs `sql` (binding the case id as $1) as the database superuser with the append-only
/// trigger switched off for the transaction; answers the rows it touched.
async fn tamper(office: &Office, sql: &str, id: &str) -> u64 {
    let mut tx = office.app.state.pool.begin().await.unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .unwrap();
    let touched = sqlx::query(sql)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    touched
}

#[tokio::test]
async fn an_altered_event_breaks_the_chain_at_its_sequence() {
    let office = Office::open().await;

    // The subject of the submission.
    let id = four_event_case(&office, "Αρχικό θέμα").await;
    assert_eq!(office.verify(&id).await["valid"], true);
    let touched = tamper(
        &office,
        "UPDATE events SET payload = jsonb_set(payload, '{data,subject}', to_jsonb('Αλλοιωμένο θέμα'::text)) \
         WHERE aggregate_id = $1 AND sequence = 1",
        &id,
    )
    .await;
    assert_eq!(touched, 1);
    let events = office.events(&id).await;
    assert_eq!(events[0]["payload"]["data"]["subject"], "Αλλοιωμένο θέμα");
    let v = office.verify(&id).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["first_broken_sequence"], 1, "{v}");
    assert_eq!(v["events_checked"], 4, "{v}");
    assert!(v["problem"].as_str().is_some_and(|p| !p.is_empty()), "{v}");

    // The answer in the middle of the history.
    let id = four_event_case(&office, "Άλλο θέμα").await;
    let touched = tamper(
        &office,
        "UPDATE events SET payload = jsonb_set(payload, '{data,text}', to_jsonb('Άλλη απάντηση'::text)) \
         WHERE aggregate_id = $1 AND sequence = 3",
        &id,
    )
    .await;
    assert_eq!(touched, 1);
    let v = office.verify(&id).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["first_broken_sequence"], 3, "{v}");

    // Who did it, in the metadata.
    let id = four_event_case(&office, "Τρίτο θέμα").await;
    let auditor_id = office.account_id(&office.auditor).await;
    let touched = tamper(
        &office,
        &format!(
            "UPDATE events SET metadata = jsonb_set(metadata, '{{actor_id}}', to_jsonb('{auditor_id}'::text)) \
             WHERE aggregate_id = $1 AND sequence = 2"
        ),
        &id,
    )
    .await;
    assert_eq!(touched, 1);
    let v = office.verify(&id).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["first_broken_sequence"], 2, "{v}");

    // The trigger is back on: the log refuses changes again.
    let refused_update =
        sqlx::query("UPDATE events SET event_version = '9.9' WHERE aggregate_id = $1")
            .bind(&id)
            .execute(&office.app.state.pool)
            .await;
    assert!(refused_update.is_err());
}

#[tokio::test]
async fn a_removed_event_breaks_the_chain() {
    let office = Office::open().await;
    let id = four_event_case(&office, "Θέμα με κενό").await;
    let before = office.verify(&id).await;
    assert_eq!(before["valid"], true);

    let touched = tamper(
        &office,
        "DELETE FROM events WHERE aggregate_id = $1 AND sequence = 2",
        &id,
    )
    .await;
    assert_eq!(touched, 1);
    let events = office.events(&id).await;
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 3, 4]);

    let v = office.verify(&id).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["events_checked"], 3, "{v}");
    // The chain breaks at the missing event.
    assert_eq!(v["first_broken_sequence"], 2, "{v}");
    assert!(
        v["problem"].as_str().is_some_and(|p| p.contains("missing")),
        "{v}"
    );
}

#[tokio::test]
async fn the_event_log_refuses_update_delete_and_truncate() {
    let office = Office::open().await;
    let id = four_event_case(&office, "Αμετάβλητο").await;
    let before = office.events(&id).await;
    let pool = &office.app.state.pool;

    let attempts = [
        "UPDATE events SET payload = jsonb_set(payload, '{data,subject}', '\"Άλλο\"') \
         WHERE aggregate_id = $1 AND sequence = 1",
        "DELETE FROM events WHERE aggregate_id = $1 AND sequence = 2",
        "DELETE FROM events WHERE aggregate_id = $1",
    ];
    for sql in attempts {
        let e = sqlx::query(sql)
            .bind(&id)
            .execute(pool)
            .await
            .expect_err("the event log is append-only");
        let db = e.as_database_error().expect("a database error");
        assert_eq!(db.code().as_deref(), Some("42501"), "{sql}: {db}");
        assert!(db.message().contains("append-only"), "{sql}: {db}");
    }
    let e = sqlx::query("TRUNCATE events")
        .execute(pool)
        .await
        .expect_err("the event log is append-only");
    let db = e.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("42501"), "{db}");
    assert!(db.message().contains("TRUNCATE"), "{db}");

    // Nothing changed.
    assert_eq!(office.events(&id).await, before);
    let v = office.verify(&id).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["events_checked"], 4, "{v}");
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(total, 4);
}
