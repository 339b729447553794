//! HTTP tests of «Εγκεκριμένες Πληρωμές» (S12, issue 6) against a real portal, PostgreSQL
//! and the sandbox financial system (started here and named by `PORTAL_FINANCIAL_URL`'s
//! setting, so each test flips its fault switches): the preconditions (logged in, a
//! certified business, not revoked), the list with its totals and every sort, the CSV for
//! Greek Excel, the financial system down, failing, slow or talking nonsense (503 and no
//! data, nothing cached), an ΑΦΜ with no warrants, and the page (sortable headers, totals,
//! the download link, the empty state, the 503 page, the page for uncertified users).

use std::time::Duration;

use crate::common::pages::Page;
use crate::common::{json_body, TestApp};
use chrono::Utc;
use chrono_tz::Europe::Athens;
use reqwest::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE};
use reqwest::{Client, Response, StatusCode};
use sandboxes::financial::{
    FinancialFaults, FinancialSandbox, SandboxWarrant, SandboxWarrantStatus, SEEDED_AFM,
    SEEDED_AFM_NONE,
};
use sandboxes::RunningSandbox;
use serde_json::{json, Value};

const CITIZEN_EMAIL: &str = "maria@example.gr";
const CITIZEN_NAME: &str = "Μαρία Παπαδοπούλου";
const COMPANY: &str = "Ταβέρνα «Ο Μύλος» Ο.Ε.";
const MESSAGES_EL: &str = "el";
const MESSAGES_EN: &str = "en";

/// The seeded warrants of `SEEDED_AFM`, newest first: (number, issued, cents, status).
const SEEDED_NEWEST_FIRST: [(&str, &str, i64, &str); 8] = [
    ("2026/1161", "2026-11-20", 131_440, "issued"),
    ("2026/1105", "2026-11-03", 9_920, "issued"),
    ("2026/0967", "2026-09-30", 237_500, "issued"),
    ("2026/0412", "2026-04-15", 18_550, "paid"),
    ("2026/0231", "2026-03-02", 124_000, "paid"),
    ("2026/0088", "2026-01-28", 124_000, "paid"),
    ("2025/1302", "2025-12-19", 42_160, "paid"),
    ("2025/1187", "2025-11-14", 86_800, "paid"),
];

fn message(catalog: &str, code: &str) -> String {
    let messages: Value = crate::common::catalog(catalog);
    messages[code]
        .as_str()
        .unwrap_or_else(|| panic!("no message {code}"))
        .to_string()
}

fn greek(code: &str) -> String {
    message(MESSAGES_EL, code)
}

/// A portal whose financial system is a sandbox this test holds, with a citizen and a
/// clerk logged in.
struct Office {
    app: TestApp,
    financial: FinancialSandbox,
    _running: RunningSandbox,
    citizen: String,
    clerk: String,
    pages: Client,
}

impl Office {
    async fn open() -> Self {
        let financial = FinancialSandbox::new();
        let running = sandboxes::serve(financial.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the financial sandbox starts");
        let url = running.base_url();
        let app = TestApp::spawn_with(|config| {
            config.financial_url = Some(url);
            // The sandbox's slow switch must outlast it in a test that waits for it.
            config.financial_timeout = Duration::from_secs(1);
        })
        .await;
        let citizen = app.citizen(CITIZEN_EMAIL, CITIZEN_NAME).await;
        let clerk = app
            .staff("clerk", "clerk@dimos.example.gr", "Γεώργιος Υπαλληλίδης")
            .await;
        Self {
            app,
            financial,
            _running: running,
            citizen,
            clerk,
            pages: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// An office whose citizen represents the business of `afm`.
    async fn with_business(afm: &str) -> Self {
        let office = Self::open().await;
        office.certify(Some(afm)).await;
        office
    }

    /// The clerk certifies the citizen, as the representative of the business of `afm`
    /// (`None`: as a person only).
    async fn certify(&self, afm: Option<&str>) {
        let business = afm.map(|afm| (COMPANY, afm));
        self.app.certify(&self.clerk, CITIZEN_EMAIL, business).await;
    }

    async fn revoke(&self) {
        self.app
            .revoke_certification(&self.clerk, CITIZEN_EMAIL)
            .await;
    }

    async fn api(&self, path: &str, token: Option<&str>) -> Response {
        self.app.get(path, token).await
    }

    /// `GET /api/v1/business/warrants{query}` as the citizen; answers the JSON of a 200.
    async fn list(&self, query: &str) -> Value {
        let r = self
            .api(
                &format!("/api/v1/business/warrants{query}"),
                Some(&self.citizen),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
        json_body(r).await
    }

    /// A page as a browser with the citizen's session cookie (and `lang` cookie) gets it.
    async fn page(&self, path: &str, token: Option<&str>) -> Page {
        let mut request = self.pages.get(self.app.url(path));
        if let Some(token) = token {
            request = request.header(COOKIE, format!("portal_session={token}"));
        }
        let r = request.send().await.expect("request sent");
        Page::read(r).await
    }

    fn set_faults(&self, faults: FinancialFaults) {
        self.financial.set_faults(faults);
    }
}

impl Page {
    /// The opening tag of the element with this id.
    fn tag_of(&self, id: &str) -> String {
        let at = self
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in:\n{}", self.body));
        let open = self.body[..at].rfind('<').unwrap();
        let close = self.body[at..].find('>').unwrap() + at;
        self.body[open..=close].to_string()
    }

    /// The warrant numbers of the table, top to bottom.
    fn numbers(&self) -> Vec<String> {
        self.body
            .split("class=\"warrant-number\">")
            .skip(1)
            .map(|rest| rest.split('<').next().unwrap().to_string())
            .collect()
    }
}

fn numbers_of(list: &Value) -> Vec<&str> {
    list["warrants"]
        .as_array()
        .expect("a warrants list")
        .iter()
        .map(|w| w["number"].as_str().unwrap())
        .collect()
}

async fn refused(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "expected {code}");
    let body = json_body(r).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body.get("warrants").is_none(),
        "a refusal carries no data: {body}"
    );
    body
}

fn down() -> FinancialFaults {
    FinancialFaults {
        down: true,
        ..FinancialFaults::default()
    }
}

// -------------------------------------------------------------------------------------
// Preconditions
// -------------------------------------------------------------------------------------

#[tokio::test]
async fn a_visitor_is_asked_to_log_in() {
    let office = Office::open().await;
    for path in ["/api/v1/business/warrants", "/api/v1/business/warrants.csv"] {
        refused(
            office.api(path, None).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
    let page = office.page("/business/warrants?sort=amount", None).await;
    page.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/login?next=%2Fbusiness%2Fwarrants%3Fsort%3Damount")
    );
    let csv = office.page("/business/warrants.csv", None).await;
    csv.assert_status(StatusCode::SEE_OTHER);
    assert!(csv.location.unwrap().starts_with("/login?next="));
}

#[tokio::test]
async fn uncertified_users_and_certified_persons_are_told_how_to_certify_the_business() {
    let office = Office::open().await;
    // Not certified at all.
    for path in ["/api/v1/business/warrants", "/api/v1/business/warrants.csv"] {
        refused(
            office.api(path, Some(&office.citizen)).await,
            StatusCode::FORBIDDEN,
            "certification_required",
        )
        .await;
    }
    let page = office
        .page("/business/warrants", Some(&office.citizen))
        .await;
    page.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(
        page.text_of("business-required-lead"),
        greek("ui_business_required_lead")
    );
    page.assert_lacks("id=\"warrants\"");

    // Certified as a person only: the certification names no business.
    office.certify(None).await;
    refused(
        office
            .api("/api/v1/business/warrants", Some(&office.citizen))
            .await,
        StatusCode::FORBIDDEN,
        "business_certification_required",
    )
    .await;
    let page = office
        .page("/business/warrants", Some(&office.citizen))
        .await;
    page.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(
        page.text_of("business-required-lead"),
        greek("business_certification_required")
    );
    let csv = office
        .page("/business/warrants.csv", Some(&office.citizen))
        .await;
    csv.assert_status(StatusCode::FORBIDDEN);
    assert!(csv.headers[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    // Staff are not businesses.
    refused(
        office
            .api("/api/v1/business/warrants", Some(&office.clerk))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    office
        .page("/business/warrants", Some(&office.clerk))
        .await
        .assert_status(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_revoked_certification_ends_access_at_once() {
    let office = Office::with_business(SEEDED_AFM).await;
    assert_eq!(
        office.list("").await["warrants"].as_array().unwrap().len(),
        8
    );
    office.revoke().await;
    refused(
        office
            .api("/api/v1/business/warrants", Some(&office.citizen))
            .await,
        StatusCode::FORBIDDEN,
        "certification_required",
    )
    .await;
    refused(
        office
            .api("/api/v1/business/warrants.csv", Some(&office.citizen))
            .await,
        StatusCode::FORBIDDEN,
        "certification_required",
    )
    .await;
    let page = office
        .page("/business/warrants", Some(&office.citizen))
        .await;
    page.assert_status(StatusCode::FORBIDDEN);
    page.assert_lacks("2026/1161");
}

// -------------------------------------------------------------------------------------
// The list
// -------------------------------------------------------------------------------------

#[tokio::test]
async fn the_business_sees_every_warrant_newest_first_with_totals() {
    let office = Office::with_business(SEEDED_AFM).await;
    let before = Utc::now();
    let list = office.list("").await;
    assert_eq!(list["business"]["company_name"], COMPANY);
    assert_eq!(list["business"]["afm"], SEEDED_AFM);
    assert_eq!(
        (list["sort"].as_str(), list["order"].as_str()),
        (Some("issued_on"), Some("desc"))
    );
    let warrants = list["warrants"].as_array().unwrap();
    assert_eq!(warrants.len(), SEEDED_NEWEST_FIRST.len());
    for (w, (number, issued_on, cents, status)) in warrants.iter().zip(SEEDED_NEWEST_FIRST) {
        assert_eq!(w["number"], number);
        assert_eq!(w["issued_on"], issued_on);
        assert_eq!(w["amount_cents"], cents);
        assert_eq!(w["status"], status);
        assert_eq!(
            w["status_label"],
            greek(&format!("warrant_status_{status}"))
        );
        assert_eq!(w["paid_on"].is_null(), status == "issued", "{w}");
    }
    let stationery = &warrants[3];
    assert_eq!(
        stationery["purpose"],
        "Προμήθεια γραφικής ύλης — τιμολόγιο 145/2026"
    );
    assert_eq!(stationery["paid_on"], "2026-05-08");
    assert_eq!(
        list["totals"],
        json!({"count": 8, "amount_cents": 774_370, "issued_cents": 378_860,
               "paid_cents": 395_510})
    );
    let fetched_at: chrono::DateTime<Utc> =
        serde_json::from_value(list["fetched_at"].clone()).unwrap();
    assert!(fetched_at >= before && fetched_at <= Utc::now());

    // In English on request.
    let r = office
        .app
        .client
        .get(office.app.url("/api/v1/business/warrants"))
        .bearer_auth(&office.citizen)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    let english = json_body(r).await;
    assert_eq!(english["warrants"][0]["status_label"], "Issued");
    assert_eq!(english["warrants"][7]["status_label"], "Paid");
}

#[tokio::test]
async fn every_column_sorts_both_ways_and_a_bad_sort_is_named() {
    let office = Office::with_business(SEEDED_AFM).await;
    let newest: Vec<&str> = SEEDED_NEWEST_FIRST.iter().map(|w| w.0).collect();
    let oldest: Vec<&str> = newest.iter().rev().copied().collect();
    assert_eq!(numbers_of(&office.list("?sort=issued_on").await), newest);
    assert_eq!(
        numbers_of(&office.list("?sort=issued_on&order=asc").await),
        oldest
    );
    // Numbers in their natural order: 2025 before 2026, /0088 before /0231.
    assert_eq!(numbers_of(&office.list("?sort=number").await), oldest);
    assert_eq!(
        numbers_of(&office.list("?sort=number&order=desc").await),
        newest
    );
    // Largest first; the two equal amounts (124.000 cents) the newer first.
    assert_eq!(
        numbers_of(&office.list("?sort=amount").await),
        [
            "2026/0967",
            "2026/1161",
            "2026/0231",
            "2026/0088",
            "2025/1187",
            "2025/1302",
            "2026/0412",
            "2026/1105"
        ]
    );
    assert_eq!(
        numbers_of(&office.list("?sort=amount&order=asc").await),
        [
            "2026/1105",
            "2026/0412",
            "2025/1302",
            "2025/1187",
            "2026/0231",
            "2026/0088",
            "2026/1161",
            "2026/0967"
        ]
    );
    // Issued (still to be paid) first, each group newest first.
    assert_eq!(numbers_of(&office.list("?sort=status").await), newest);
    let by_status_desc = office.list("?sort=status&order=desc").await;
    assert_eq!(
        numbers_of(&by_status_desc),
        [
            "2026/0412",
            "2026/0231",
            "2026/0088",
            "2025/1302",
            "2025/1187",
            "2026/1161",
            "2026/1105",
            "2026/0967"
        ]
    );
    assert_eq!(by_status_desc["totals"]["count"], 8);

    for (query, code, field) in [
        ("?sort=price", "warrants_sort_invalid", "sort"),
        ("?sort=number&order=up", "warrants_order_invalid", "order"),
    ] {
        for path in ["/api/v1/business/warrants", "/api/v1/business/warrants.csv"] {
            let body = refused(
                office
                    .api(&format!("{path}{query}"), Some(&office.citizen))
                    .await,
                StatusCode::BAD_REQUEST,
                code,
            )
            .await;
            assert_eq!(body["error"]["message"], greek(code));
            assert!(
                body["error"]["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{field}: ")),
                "{body}"
            );
        }
    }
    refused(
        office
            .api("/api/v1/business/warrants?page=2", Some(&office.citizen))
            .await,
        StatusCode::BAD_REQUEST,
        "malformed_query",
    )
    .await;
    let page = office
        .page("/business/warrants?sort=price", Some(&office.citizen))
        .await;
    page.assert_status(StatusCode::BAD_REQUEST);
    page.assert_has(&greek("warrants_sort_invalid"));
}

#[tokio::test]
async fn the_csv_opens_in_greek_excel() {
    let office = Office::with_business(SEEDED_AFM).await;
    let r = office
        .api("/api/v1/business/warrants.csv", Some(&office.citizen))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    let today = Utc::now().with_timezone(&Athens).format("%Y-%m-%d");
    assert_eq!(
        r.headers()[CONTENT_DISPOSITION],
        format!("attachment; filename=\"warrants-{SEEDED_AFM}-{today}.csv\"").as_str()
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 with a byte-order mark");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines.len(),
        10,
        "header, 8 rows, and the last line end: {text:?}"
    );
    assert_eq!(lines[9], "");
    assert_eq!(
        lines[0],
        "Αριθμός εντάλματος;Ημερομηνία έκδοσης;Ποσό (€);Αιτιολογία;Κατάσταση;Ημερομηνία πληρωμής"
    );
    assert_eq!(
        lines[1],
        "2026/1161;20/11/2026;1314,40;Προμήθεια γευμάτων Κέντρου Ημερήσιας Φροντίδας Ηλικιωμένων, Οκτώβριος — τιμολόγιο 240/2026;Εκδόθηκε;"
    );
    assert_eq!(
        lines[4],
        "2026/0412;15/04/2026;185,50;Προμήθεια γραφικής ύλης — τιμολόγιο 145/2026;Πληρώθηκε;08/05/2026"
    );
    assert_eq!(lines[3].split(';').nth(2), Some("2375,00"));

    // The same sort as the page; a purpose with the separator or quotes stays one cell.
    office.financial.set_warrants(
        SEEDED_AFM,
        vec![
            SandboxWarrant {
                number: "2026/0001".into(),
                issued_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 9).unwrap(),
                amount_cents: 5,
                purpose: "Επισκευή; «Ο \"Μύλος\"»".into(),
                status: SandboxWarrantStatus::Issued,
                paid_on: None,
            },
            SandboxWarrant {
                number: "2026/0002".into(),
                issued_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 8).unwrap(),
                amount_cents: 123_456_789,
                purpose: "=HYPERLINK(\"http://example.com\")".into(),
                status: SandboxWarrantStatus::Paid,
                paid_on: chrono::NaiveDate::from_ymd_opt(2026, 2, 1),
            },
        ],
    );
    let r = office
        .api(
            "/api/v1/business/warrants.csv?sort=amount&order=desc",
            Some(&office.citizen),
        )
        .await;
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert_eq!(
        lines[1],
        "2026/0002;08/01/2026;1234567,89;\"'=HYPERLINK(\"\"http://example.com\"\")\";Πληρώθηκε;01/02/2026"
    );
    assert_eq!(
        lines[2],
        "2026/0001;09/01/2026;0,05;\"Επισκευή; «Ο \"\"Μύλος\"\"»\";Εκδόθηκε;"
    );
}

// -------------------------------------------------------------------------------------
// The financial system failing
// -------------------------------------------------------------------------------------

#[tokio::test]
async fn a_financial_system_that_is_down_shows_nothing_stale() {
    let office = Office::with_business(SEEDED_AFM).await;
    // Seen once, while it answered.
    assert_eq!(office.list("").await["totals"]["count"], 8);
    let seen = office
        .page("/business/warrants", Some(&office.citizen))
        .await;
    seen.assert_status(StatusCode::OK);
    seen.assert_has("2026/1161");

    office.set_faults(down());
    for path in [
        "/api/v1/business/warrants",
        "/api/v1/business/warrants?sort=amount",
        "/api/v1/business/warrants.csv",
    ] {
        let body = refused(
            office.api(path, Some(&office.citizen)).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "financial_system_unavailable",
        )
        .await;
        assert_eq!(
            body["error"]["message"],
            greek("financial_system_unavailable")
        );
        let text = body.to_string();
        assert!(
            !text.contains("2026/1161") && !text.contains("totals"),
            "{text}"
        );
    }
    for path in ["/business/warrants", "/business/warrants.csv"] {
        let page = office.page(path, Some(&office.citizen)).await;
        page.assert_status(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.headers[CACHE_CONTROL], "no-store");
        assert_eq!(page.headers["retry-after"], "5");
        assert_eq!(
            page.text_of("financial-unavailable"),
            format!(
                "{} {} {}",
                greek("ui_warrants_unavailable_title"),
                greek("financial_system_unavailable"),
                greek("ui_warrants_unavailable_nothing_shown")
            )
        );
        page.assert_lacks("id=\"warrants\"");
        page.assert_lacks("2026/1161");
        page.assert_lacks("id=\"warrants-csv\"");
        page.assert_lacks("id=\"warrants-empty\"");
        assert_eq!(page.href_of("warrants-retry"), "/business/warrants");
    }

    // Back up: the list is asked anew, so a change in the financial system shows at once.
    office.set_faults(FinancialFaults::default());
    let mut warrants = office.financial.warrants(SEEDED_AFM);
    warrants.retain(|w| w.number != "2026/1105");
    office.financial.set_warrants(SEEDED_AFM, warrants);
    let list = office.list("").await;
    assert_eq!(list["totals"]["count"], 7);
    assert!(!numbers_of(&list).contains(&"2026/1105"));
}

#[tokio::test]
async fn errors_timeouts_and_broken_answers_are_unavailable_too() {
    let office = Office::with_business(SEEDED_AFM).await;
    let unavailable = |r| {
        refused(
            r,
            StatusCode::SERVICE_UNAVAILABLE,
            "financial_system_unavailable",
        )
    };

    office.set_faults(FinancialFaults {
        fail_next: 1,
        ..FinancialFaults::default()
    });
    unavailable(
        office
            .api("/api/v1/business/warrants", Some(&office.citizen))
            .await,
    )
    .await;
    assert_eq!(
        office.list("").await["totals"]["count"],
        8,
        "the next call is fine"
    );

    office.set_faults(FinancialFaults {
        malformed: true,
        ..FinancialFaults::default()
    });
    unavailable(
        office
            .api("/api/v1/business/warrants", Some(&office.citizen))
            .await,
    )
    .await;
    let page = office
        .page("/business/warrants", Some(&office.citizen))
        .await;
    page.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    page.assert_has("id=\"financial-unavailable\"");

    // Slower than PORTAL_FINANCIAL_TIMEOUT_SECS (1 s here).
    office.set_faults(FinancialFaults {
        slow_ms: 2500,
        ..FinancialFaults::default()
    });
    let started = std::time::Instant::now();
    unavailable(
        office
            .api("/api/v1/business/warrants", Some(&office.citizen))
            .await,
    )
    .await;
    assert!(started.elapsed() < Duration::from_millis(2400));

    // An answer that breaks the contract in one warrant breaks the whole list.
    office.set_faults(FinancialFaults::default());
    let mut warrants = office.financial.warrants(SEEDED_AFM);
    warrants[0].amount_cents = 0;
    office.financial.set_warrants(SEEDED_AFM, warrants);
    unavailable(
        office
            .api("/api/v1/business/warrants", Some(&office.citizen))
            .await,
    )
    .await;
}

// -------------------------------------------------------------------------------------
// The page
// -------------------------------------------------------------------------------------

#[tokio::test]
async fn an_afm_without_warrants_shows_the_empty_state() {
    let office = Office::with_business(SEEDED_AFM_NONE).await;
    let list = office.list("").await;
    assert_eq!(list["business"]["afm"], SEEDED_AFM_NONE);
    assert_eq!(list["warrants"], json!([]));
    assert_eq!(
        list["totals"],
        json!({"count": 0, "amount_cents": 0, "issued_cents": 0, "paid_cents": 0})
    );
    let page = office
        .page("/business/warrants", Some(&office.citizen))
        .await;
    page.assert_status(StatusCode::OK);
    assert_eq!(page.text_of("warrants-empty"), greek("ui_warrants_empty"));
    assert_eq!(page.text_of("business-afm"), SEEDED_AFM_NONE);
    page.assert_lacks("id=\"warrants\"");
    page.assert_lacks("id=\"financial-unavailable\"");
    let csv = office
        .api("/api/v1/business/warrants.csv", Some(&office.citizen))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.matches("\r\n").count(), 1, "only the header: {csv:?}");
}

#[tokio::test]
async fn the_page_shows_the_table_sortable_with_totals_and_the_download() {
    let office = Office::with_business(SEEDED_AFM).await;
    let page = office
        .page("/business/warrants", Some(&office.citizen))
        .await;
    page.assert_status(StatusCode::OK);
    assert_eq!(page.headers[CACHE_CONTROL], "no-store");
    page.assert_has(&format!(
        "<h1 class=\"heading-xl\">{}</h1>",
        greek("ui_business_warrants_title")
    ));
    assert_eq!(page.text_of("business-name"), COMPANY);
    assert_eq!(page.text_of("business-afm"), SEEDED_AFM);
    assert_eq!(page.href_of("back-to-business"), "/business");
    let newest: Vec<String> = SEEDED_NEWEST_FIRST
        .iter()
        .map(|w| w.0.to_string())
        .collect();
    assert_eq!(page.numbers(), newest);

    // The headers, in order, and the sorted one says so.
    let headers: Vec<String> = ["number", "issued_on", "amount", "status"]
        .iter()
        .map(|k| page.text_of(&format!("sort-{k}")))
        .collect();
    assert_eq!(
        headers,
        [
            greek("ui_warrants_col_number"),
            greek("ui_warrants_col_issued_on") + " ▼",
            greek("ui_warrants_col_amount"),
            greek("ui_warrants_col_status"),
        ]
    );
    page.assert_has(&greek("ui_warrants_col_purpose"));
    assert!(page
        .tag_of("col-issued_on")
        .contains("aria-sort=\"descending\""));
    assert!(!page.tag_of("col-number").contains("aria-sort"));
    assert_eq!(
        page.href_of("sort-issued_on"),
        "/business/warrants?sort=issued_on&order=asc"
    );
    assert_eq!(
        page.href_of("sort-number"),
        "/business/warrants?sort=number&order=asc"
    );
    assert_eq!(
        page.href_of("sort-amount"),
        "/business/warrants?sort=amount&order=desc"
    );

    // A row: the day as dd/mm/yyyy, the amount as «1.314,40 €», the status and its day.
    assert_eq!(
        page.text_of("warrant-1"),
        format!(
            "2026/1161 20/11/2026 1.314,40 € Προμήθεια γευμάτων Κέντρου Ημερήσιας Φροντίδας \
             Ηλικιωμένων, Οκτώβριος — τιμολόγιο 240/2026 {}",
            greek("warrant_status_issued")
        )
    );
    assert_eq!(
        page.text_of("warrant-4"),
        format!(
            "2026/0412 15/04/2026 185,50 € Προμήθεια γραφικής ύλης — τιμολόγιο 145/2026 {} {} 08/05/2026",
            greek("warrant_status_paid"),
            greek("ui_warrants_paid_on")
        )
    );
    assert_eq!(page.text_of("total-amount"), "7.743,70 €");
    assert_eq!(page.text_of("total-issued"), "3.788,60 €");
    assert_eq!(page.text_of("total-paid"), "3.955,10 €");
    assert_eq!(
        page.text_of("warrants-total"),
        format!("{} (8) 7.743,70 €", greek("ui_warrants_total"))
    );
    assert_eq!(page.text_of("warrants-csv"), greek("ui_warrants_csv"));
    assert_eq!(
        page.href_of("warrants-csv"),
        "/business/warrants.csv?sort=issued_on&order=desc"
    );

    // Following a header: sorted by amount, largest first; again: smallest first.
    let by_amount = office
        .page(&page.href_of("sort-amount"), Some(&office.citizen))
        .await;
    by_amount.assert_status(StatusCode::OK);
    assert_eq!(by_amount.numbers()[0], "2026/0967");
    assert!(by_amount
        .tag_of("col-amount")
        .contains("aria-sort=\"descending\""));
    assert!(!by_amount.tag_of("col-issued_on").contains("aria-sort"));
    assert_eq!(
        by_amount.href_of("sort-amount"),
        "/business/warrants?sort=amount&order=asc"
    );
    let smallest = office
        .page(&by_amount.href_of("sort-amount"), Some(&office.citizen))
        .await;
    assert_eq!(smallest.numbers()[0], "2026/1105");
    assert!(smallest
        .tag_of("col-amount")
        .contains("aria-sort=\"ascending\""));
    assert_eq!(
        smallest.href_of("warrants-csv"),
        "/business/warrants.csv?sort=amount&order=asc"
    );

    // The download link gives the CSV in the same order, to the same browser session.
    let csv = office
        .page(&smallest.href_of("warrants-csv"), Some(&office.citizen))
        .await;
    csv.assert_status(StatusCode::OK);
    assert!(csv.headers[CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains(&format!("warrants-{SEEDED_AFM}-")));
    let second_line = csv.body.split("\r\n").nth(1).unwrap();
    assert!(
        second_line.starts_with("2026/1105;03/11/2026;99,20;"),
        "{second_line}"
    );

    // In English.
    let english = office
        .page("/business/warrants?lang=en", Some(&office.citizen))
        .await;
    english.assert_status(StatusCode::OK);
    assert_eq!(
        english.text_of("sort-number"),
        message(MESSAGES_EN, "ui_warrants_col_number")
    );
    english.assert_has(&message(MESSAGES_EN, "ui_warrants_total_issued"));
}

/// An external system that answers slowly for minutes (issue 14): each call is cut at its
/// timeout (1 s here) and answered 503, and nothing else the portal does waits for it — a
/// citizen's complaint filed meanwhile is acknowledged at once. (The bounds are loose, for
/// a loaded CI machine: the system would take 300 s.)
#[tokio::test]
async fn a_financial_system_slow_for_minutes_slows_nothing_else() {
    let office = Office::with_business(SEEDED_AFM).await;
    let maria = office
        .app
        .citizen("maria.meanwhile@example.gr", "Μαρία Εν τω μεταξύ")
        .await;
    office.set_faults(FinancialFaults {
        slow_ms: 300_000,
        ..FinancialFaults::default()
    });
    let slow_calls = async {
        let started = std::time::Instant::now();
        let answers = futures::future::join_all(
            (0..6).map(|_| office.api("/api/v1/business/warrants", Some(&office.citizen))),
        )
        .await;
        (answers, started.elapsed())
    };
    // While six calls wait on the financial system, another citizen files complaints.
    let others = async {
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            office.app.complain(&maria).await;
            slowest = slowest.max(t.elapsed());
        }
        slowest
    };
    let ((answers, took), slowest_complaint) = tokio::join!(slow_calls, others);
    for r in answers {
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "financial_system_unavailable"
        );
    }
    assert!(
        took < Duration::from_secs(5),
        "the slow calls were not cut at their timeout: {took:?}"
    );
    assert!(
        slowest_complaint < Duration::from_secs(2),
        "a complaint waited on the financial system: {slowest_complaint:?}"
    );
    office.set_faults(FinancialFaults::default());
}
