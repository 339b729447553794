//! HTTP tests of what every business service shares (issue 6): the precondition — a
//! logged-in citizen whose certification stands and names the business (its name and
//! ΑΦΜ) — in the API and in the pages (a 403 page that says what is missing and how to get
//! certified), the hub «Υπηρεσίες προς Επιχειρήσεις», and the business's history (its
//! timeline and receipts).

use crate::common::{json_body, TestApp};
use reqwest::header::{COOKIE, LOCATION};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const CITIZEN_EMAIL: &str = "eleni@example.gr";
const COMPANY: &str = "Καφενείο «Η Πλατεία» Ο.Ε.";
const AFM: &str = "094259216";
const MESSAGES_EL: &str = "el";

fn greek(code: &str) -> String {
    let messages: Value = crate::common::catalog(MESSAGES_EL);
    let text = messages[code]
        .as_str()
        .unwrap_or_else(|| panic!("no message {code}"));
    // As the page escapes it.
    text.replace('"', "&#34;")
}

struct Office {
    app: TestApp,
    citizen: String,
    clerk: String,
    pages: Client,
}

impl Office {
    async fn open() -> Self {
        let app = TestApp::spawn().await;
        let citizen = app.citizen(CITIZEN_EMAIL, "Ελένη Καφετζή").await;
        let clerk = app
            .staff("clerk", "clerk@dimos.example.gr", "Γεώργιος Υπαλληλίδης")
            .await;
        Self {
            app,
            citizen,
            clerk,
            pages: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn certify(&self, business: bool) {
        let business = business.then_some((COMPANY, AFM));
        self.app.certify(&self.clerk, CITIZEN_EMAIL, business).await;
    }

    async fn revoke(&self) {
        self.app
            .revoke_certification(&self.clerk, CITIZEN_EMAIL)
            .await;
    }

    /// `GET /api/v1/business` as `token`: the status and the error code (or the AFM).
    async fn me(&self, token: Option<&str>) -> (StatusCode, String) {
        let r = self.app.get("/api/v1/business", token).await;
        let status = r.status();
        let body = json_body(r).await;
        let code = body["error"]["code"]
            .as_str()
            .or(body["afm"].as_str())
            .unwrap_or_default()
            .to_string();
        (status, code)
    }

    async fn page(&self, path: &str, token: Option<&str>) -> (StatusCode, Option<String>, String) {
        let mut request = self.pages.get(self.app.url(path));
        if let Some(token) = token {
            request = request.header(COOKIE, format!("portal_session={token}"));
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let location = r
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        (status, location, r.text().await.unwrap())
    }
}

#[tokio::test]
async fn the_api_names_what_is_missing_before_any_business_service() {
    let office = Office::open().await;
    assert_eq!(office.me(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        office.me(Some(&office.citizen)).await,
        (StatusCode::FORBIDDEN, "certification_required".into())
    );
    office.certify(false).await;
    assert_eq!(
        office.me(Some(&office.citizen)).await,
        (
            StatusCode::FORBIDDEN,
            "business_certification_required".into()
        )
    );
    office.revoke().await;
    office.certify(true).await;
    assert_eq!(
        office.me(Some(&office.citizen)).await,
        (StatusCode::OK, AFM.into())
    );
    let history = json_body(
        office
            .app
            .get("/api/v1/business/history", Some(&office.citizen))
            .await,
    )
    .await;
    assert_eq!(history["business"]["company_name"], COMPANY);
    assert_eq!(history["timeline"], json!([]));
    assert_eq!(history["payments"], json!([]));
    // Revoked: refused at once, as before certification.
    office.revoke().await;
    assert_eq!(
        office.me(Some(&office.citizen)).await,
        (StatusCode::FORBIDDEN, "certification_required".into())
    );
    let r = office
        .app
        .get("/api/v1/business/history", Some(&office.citizen))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Staff are not businesses.
    assert_eq!(
        office.me(Some(&office.clerk)).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_pages_say_how_to_get_certified() {
    let office = Office::open().await;
    // A visitor is sent to log in first.
    let (status, location, _) = office.page("/business/history", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().starts_with("/login"));

    // The hub is open to every citizen and says what is missing.
    let (status, _, hub) = office.page("/business", Some(&office.citizen)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hub.contains("id=\"business-summary\""), "{hub}");
    assert!(hub.contains(&greek("ui_business_required_lead")), "{hub}");
    for link in [
        "/business/warrants",
        "/business/declarations/new",
        "/business/debts",
        "/business/history",
    ] {
        assert!(hub.contains(&format!("href=\"{link}\"")), "{link}");
    }

    // A service: 403 with how to get certified.
    let (status, _, page) = office
        .page("/business/history", Some(&office.citizen))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("id=\"certification-required\""), "{page}");
    assert!(page.contains(&greek("ui_business_required_lead")), "{page}");
    assert!(page.contains(CITIZEN_EMAIL));

    // Certified as a person only: the page says the business is what is missing.
    office.certify(false).await;
    let (status, _, page) = office
        .page("/business/history", Some(&office.citizen))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains(&greek("business_certification_required")),
        "{page}"
    );

    // Certified for the business: the hub names it, the history is empty.
    office.revoke().await;
    office.certify(true).await;
    let (_, _, hub) = office.page("/business", Some(&office.citizen)).await;
    assert!(hub.contains("id=\"business-afm\">094259216<"), "{hub}");
    let (status, _, page) = office
        .page("/business/history", Some(&office.citizen))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"no-business-payments\""));
    assert!(page.contains("id=\"no-business-events\""));
    assert!(page.contains("id=\"history-afm\">094259216<"));

    // Staff see a 403 page, not a business.
    let (status, _, _) = office.page("/business", Some(&office.clerk)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
