//! The citizen pages over HTTP (no browser): forms, CSRF, redirects, rate limits,
//! language, security headers. The browser journeys are in tests/browser.rs.

use crate::common::TestApp;
use reqwest::{redirect, Client, StatusCode};

/// A browser-like client: keeps cookies, does not follow redirects (so tests see them).
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token of the form on `path` (the page also sets the cookie).
async fn csrf(app: &TestApp, client: &Client, path: &str) -> String {
    let html = client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csrf_field(&html)
}

/// The value of the `csrf_token` field of a page.
fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// A complaint's form fields with CSRF token `token`, ready to post.
fn complaint_form(client: &Client, app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    client.post(app.url("/requests/new")).form(&[
        ("csrf_token", token),
        ("kind", "complaint"),
        ("subject", "Θέμα"),
        ("text", "Κείμενο"),
    ])
}

/// How many requests were filed.
async fn requests_filed(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'CitizenRequest'")
        .fetch_one(&app.state.pool)
        .await
        .unwrap()
}

async fn post_form(
    app: &TestApp,
    client: &Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// Registers through the pages, activates the account through the e-mailed link's page
/// and logs in (the client keeps the cookie).
async fn register(app: &TestApp, client: &Client, email: &str) {
    let token = csrf(app, client, "/register").await;
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", email),
        ("password", "Κωδικός-Δοκιμής-42"),
        ("full_name", "Ελένη Γεωργίου"),
    ];
    let r = post_form(app, client, "/register", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/register?sent=1");
    let link = format!("/activate/{}", app.emailed_token("activate", email).await);
    let token = csrf(app, client, &link).await;
    let r = post_form(app, client, &link, &[("csrf_token", &token)]).await;
    assert_eq!(location(&r), "/login?activated=1");
    let token = csrf(app, client, "/login").await;
    let login = [
        ("csrf_token", token.as_str()),
        ("email", email),
        ("password", "Κωδικός-Δοκιμής-42"),
        ("next", "/"),
    ];
    let r = post_form(app, client, "/login", &login).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_citizen_submits_through_the_form_and_sees_the_case() {
    let app = TestApp::spawn().await;
    let client = browser();
    register(&app, &client, "eleni@example.gr").await;
    let token = csrf(&app, &client, "/requests/new").await;
    let r = post_form(
        &app,
        &client,
        "/requests/new",
        &[
            ("csrf_token", &token),
            ("kind", "complaint"),
            ("subject", "Σπασμένο φανάρι"),
            ("text", "Στη γωνία Ερμού και Αιόλου."),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let case_url = location(&r);
    assert!(case_url.ends_with("?submitted=1"), "{case_url}");
    let html = client
        .get(app.url(&case_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Σπασμένο φανάρι"));
    assert!(html.contains("id=\"case-number\""));
    assert!(html.contains("panel-confirmation"));
    assert!(html.contains("class=\"tag tag--submitted\">Υποβλήθηκε"));
    let list = client
        .get(app.url("/requests"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("class=\"case-row\""), "{list}");
    assert!(list.contains("Σπασμένο φανάρι"));
}

#[tokio::test]
async fn an_empty_form_comes_back_with_every_error_and_the_values_kept() {
    let app = TestApp::spawn().await;
    let client = browser();
    register(&app, &client, "eleni@example.gr").await;
    let token = csrf(&app, &client, "/requests/new").await;
    let r = post_form(
        &app,
        &client,
        "/requests/new",
        &[
            ("csrf_token", &token),
            ("desired_action", "Κάτι <b>σημαντικό</b>"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("class=\"error-summary\""));
    for field in ["kind", "subject", "text"] {
        assert!(
            html.contains(&format!("href=\"#{field}\"")),
            "summary links to {field}"
        );
    }
    assert!(html.contains("id=\"subject-error\""));
    assert!(html.contains("aria-invalid=\"true\""));
    // What was typed comes back, escaped (never as markup).
    assert!(html.contains("σημαντικό"), "{html}");
    assert!(!html.contains("<b>σημαντικό</b>"));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let client = browser();
    register(&app, &client, "eleni@example.gr").await;
    let r = post_form(
        &app,
        &client,
        "/requests/new",
        &[
            ("kind", "complaint"),
            ("subject", "Θέμα"),
            ("text", "Κείμενο"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Η φόρμα δεν έγινε δεκτή"));
    let r = post_form(
        &app,
        &client,
        "/requests/new",
        &[
            (
                "csrf_token",
                "a-forged-token-that-is-long-enough-to-look-real",
            ),
            ("kind", "complaint"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

/// Issue 12, defect 9: the CSRF token of an anonymous cookie (one an attacker obtained
/// for themselves and planted in the victim's browser) does not go with anybody's session.
#[tokio::test]
async fn an_anonymous_csrf_token_is_refused_with_a_session() {
    let app = TestApp::spawn().await;
    // The attacker's own anonymous cookie and the token the page gave them (an attacker
    // who can plant cookies, from a sibling host say, puts this pair in the victim's
    // browser).
    let fresh = Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let r = fresh.get(app.url("/login")).send().await.unwrap();
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    let anonymous_token = csrf_field(&r.text().await.unwrap());

    // The victim is logged in.
    let session = app.citizen("victim@example.gr", "Μαρία Παππά").await;
    let cookies = format!("{cookie}; portal_session={session}");
    let forged = complaint_form(&fresh, &app, &anonymous_token)
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        requests_filed(&app).await,
        0,
        "nothing filed in the victim's name"
    );

    // The same browser's own page, rendered with the session, gives a token that works.
    let page = fresh
        .get(app.url("/requests/new"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    let own_token = csrf_field(&page.text().await.unwrap());
    assert_ne!(own_token, anonymous_token);
    let filed = complaint_form(&fresh, &app, &own_token)
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), StatusCode::SEE_OTHER);
}

/// Issue 12, defect 9: a form posted from another site is refused even with a good token,
/// by what the browser says of it (`Sec-Fetch-Site`) or by its `Origin`.
#[tokio::test]
async fn a_form_posted_from_another_site_is_refused() {
    let app = TestApp::spawn().await;
    let client = browser();
    register(&app, &client, "eleni@example.gr").await;
    let host = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let attempts: [(&str, String); 4] = [
        ("sec-fetch-site", "cross-site".to_string()),
        ("sec-fetch-site", "same-site".to_string()),
        ("origin", "https://evil.example".to_string()),
        ("origin", "null".to_string()),
    ];
    for (name, value) in attempts {
        let token = csrf(&app, &client, "/requests/new").await;
        let r = complaint_form(&client, &app, &token)
            .header(name, value.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(r.text().await.unwrap().contains("Η φόρμα δεν έγινε δεκτή"));
    }
    assert_eq!(requests_filed(&app).await, 0);
    // From the portal's own page, as a browser sends it: accepted.
    let token = csrf(&app, &client, "/requests/new").await;
    let r = complaint_form(&client, &app, &token)
        .header("sec-fetch-site", "same-origin")
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

/// Issue 12, defect 9, for the JSON API: a browser's session cookie does not carry a
/// state change from another site; a deliberate `Authorization` header does.
#[tokio::test]
async fn the_api_refuses_a_cross_site_change_made_with_the_session_cookie() {
    let app = TestApp::spawn().await;
    let token = app.citizen("eleni@example.gr", "Ελένη Παπαδοπούλου").await;
    let body = serde_json::json!({"kind": "complaint", "subject": "Θέμα", "text": "Κείμενο."});
    let client = Client::new();
    let by_cookie = |origin: &'static str| {
        client
            .post(app.url("/api/v1/requests"))
            .header("cookie", format!("portal_session={token}"))
            .header("origin", origin)
            .json(&body)
    };
    let r = by_cookie("https://evil.example").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["error"]["code"], "cross_site_request", "{error}");
    let r = client
        .post(app.url("/api/v1/requests"))
        .header("cookie", format!("portal_session={token}"))
        .header("sec-fetch-site", "cross-site")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(requests_filed(&app).await, 0);
    // In the reader's language.
    let r = by_cookie("https://evil.example")
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    let error: serde_json::Value = r.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Not accepted"),
        "{error}"
    );
    // A bearer token is not ambient: a client that holds it means to use it.
    let r = client
        .post(app.url("/api/v1/requests"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Issue 12, defect 6: bytes that are not UTF-8 in a form are refused beside their field
/// (the JSON API already refuses them with 400), never stored as U+FFFD.
#[tokio::test]
async fn a_form_with_invalid_utf8_is_refused_beside_the_field() {
    let app = TestApp::spawn().await;
    let client = browser();
    register(&app, &client, "eleni@example.gr").await;
    let raw_form = |path: &str, token: &str, fields: &str| {
        client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf_token={token}&{fields}"))
    };
    let token = csrf(&app, &client, "/requests/new").await;
    let r = raw_form(
        "/requests/new",
        &token,
        "kind=complaint&subject=%FF%FE&text=%CE%9A%CE%B5%CE%AF%CE%BC%CE%B5%CE%BD%CE%BF",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"subject-error\""), "{page}");
    assert_eq!(requests_filed(&app).await, 0);

    let token = csrf(&app, &client, "/profile").await;
    let r = raw_form(
        "/profile",
        &token,
        "full_name=%C0%80&phone=&address=&father_name=",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"full_name-error\""), "{page}");
    let stored: String =
        sqlx::query_scalar("SELECT full_name FROM accounts WHERE email = 'eleni@example.gr'")
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    assert!(!stored.contains('\u{FFFD}'), "{stored:?}");
}

#[tokio::test]
async fn pages_that_need_a_login_send_visitors_to_it_and_back() {
    let app = TestApp::spawn().await;
    let client = browser();
    let r = client.get(app.url("/requests/new")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Frequests%2Fnew");
    register(&app, &client, "eleni@example.gr").await;
    // Log out and back in through the form, with next.
    let token = csrf(&app, &client, "/").await;
    let r = post_form(&app, &client, "/logout", &[("csrf_token", &token)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let token = csrf(&app, &client, "/login?next=/requests/new").await;
    let r = post_form(
        &app,
        &client,
        "/login",
        &[
            ("csrf_token", &token),
            ("email", "eleni@example.gr"),
            ("password", "λάθος-κωδικός-1"),
            ("next", "/requests/new"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(html.contains("Λάθος e-mail ή κωδικός"));
    // The page that answers a refused form carries a working token for the next try.
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let token = html[start..].split('"').next().unwrap().to_string();
    assert!(
        !token.is_empty(),
        "the re-rendered form lost its CSRF token"
    );
    let r = post_form(
        &app,
        &client,
        "/login",
        &[
            ("csrf_token", &token),
            ("email", "eleni@example.gr"),
            ("password", "Κωδικός-Δοκιμής-42"),
            ("next", "https://evil.example/"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/requests", "never an open redirect");
}

#[tokio::test]
async fn another_citizens_case_page_is_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.citizen("maria@example.gr", "Μαρία").await;
    let case = app.submit(&owner, "Δικό μου").await;
    let client = browser();
    register(&app, &client, "eleni@example.gr").await;
    let r = client
        .get(app.url(&format!("/requests/{}", case["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().await.unwrap().contains("Δικό μου"));
}

#[tokio::test]
async fn an_anonymous_comment_gets_a_tracking_code_that_shows_the_case() {
    let app = TestApp::spawn().await;
    let client = browser();
    let token = csrf(&app, &client, "/anonymous").await;
    let r = post_form(
        &app,
        &client,
        "/anonymous",
        &[
            ("csrf_token", &token),
            ("subject", "Σκουπίδια στην πλατεία"),
            ("text", "Από χθες."),
        ],
    )
    .await;
    // Post/redirect/get: the form's answer is a redirect to the case's tracking page,
    // which shows the code at its top; reading it again (a reload) files nothing more.
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let done = location(&r);
    assert!(
        !r.text().await.unwrap().contains("tracking-code"),
        "the POST's answer is no page: a reload of what the browser shows is a GET"
    );
    assert!(
        done.starts_with("/track/") && done.ends_with("?submitted=1"),
        "{done}"
    );
    let mut html = String::new();
    for _ in 0..2 {
        let page = client.get(app.url(&done)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        // Kept by no cache, named in no Referer: its address holds the code.
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        html = page.text().await.unwrap();
        assert!(html.contains("id=\"submitted\""), "{html}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM request_cases")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "reading the page twice filed nothing more");
    let marker = "id=\"tracking-code\">";
    let start = html.find(marker).expect("tracking code shown") + marker.len();
    let code = html[start..].split('<').next().unwrap().to_string();
    assert_eq!(done, format!("/track/{code}?submitted=1"));
    let r = client
        .get(app.url(&format!("/track?code={}", code.to_lowercase())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = client.get(app.url(&location(&r))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Σκουπίδια στην πλατεία"));
    assert!(page.contains("tag--submitted"));
    let missing = client
        .get(app.url("/track/AAAA-BBBB-CCCC"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_language_switch_turns_pages_english_and_remembers_it() {
    let app = TestApp::spawn().await;
    let client = browser();
    let html = client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"el\">"));
    assert!(html.contains("id=\"language-switch\""));
    let html = client
        .get(app.url("/?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("online services"), "{html}");
    // Remembered on the next page, without the parameter.
    let html = client
        .get(app.url("/anonymous"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("Request – Comment"));
    let html = client
        .get(app.url("/anonymous?lang=el"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Αίτημα – Σχόλιο"));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/", "/login", "/api/v1/openapi.json", "/no-such-page"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(h.get("referrer-policy").unwrap(), "same-origin");
    }
    // Cookies: the CSRF cookie is HttpOnly and SameSite=Strict.
    let r = app.client.get(app.url("/login")).send().await.unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("portal_csrf=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Over plain HTTP (no https public address): no Secure, no HSTS.
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(r.headers().get("strict-transport-security").is_none());
}

/// Issue 12: a portal whose public address is https marks every cookie `Secure` and asks
/// browsers to keep to HTTPS.
#[tokio::test]
async fn behind_https_every_cookie_is_secure_and_hsts_is_sent() {
    let app = TestApp::spawn_with(|c| c.public_url = Some("https://dimos.example.gr".into())).await;
    let r = app
        .client
        .get(app.url("/login?lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("strict-transport-security").unwrap(),
        "max-age=31536000"
    );
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies.len(), 2, "CSRF and language: {cookies:?}");
    for cookie in &cookies {
        assert!(cookie.contains("; Secure"), "{cookie}");
    }
    let token = app.citizen("eleni@example.gr", "Ελένη Παπαδοπούλου").await;
    let login = app
        .post(
            "/api/v1/session",
            None,
            serde_json::json!({"email": "eleni@example.gr", "password": "Κωδικός-Δοκιμής-42"}),
        )
        .await;
    let cookie = login.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.starts_with("portal_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    let r = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(
        r.headers().get("strict-transport-security").unwrap(),
        "max-age=31536000"
    );
}

#[tokio::test]
async fn logins_registrations_and_anonymous_submissions_are_rate_limited() {
    let app = TestApp::spawn_with(|c| c.rate_limit = 3).await;
    let client = browser();
    let token = csrf(&app, &client, "/login").await;
    for _ in 0..3 {
        let r = post_form(
            &app,
            &client,
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "x@example.gr"),
                ("password", "whatever-123"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = post_form(
        &app,
        &client,
        "/login",
        &[
            ("csrf_token", &token),
            ("email", "x@example.gr"),
            ("password", "whatever-123"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Κάνατε πολλές προσπάθειες"));
    // The API's login counts against the same limit, and answers in JSON.
    let r = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"email": "x@example.gr", "password": "whatever-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        crate::common::json_body(r).await["error"]["code"],
        "rate_limited"
    );
    // Anonymous submissions have their own allowance.
    for i in 0..4 {
        let r = app
            .post(
                "/api/v1/requests",
                None,
                serde_json::json!({"subject": format!("Θέμα {i}"), "text": "Κείμενο"}),
            )
            .await;
        let expected = if i < 3 {
            StatusCode::CREATED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status(), expected, "anonymous submission {i}");
    }
}

#[tokio::test]
async fn an_unknown_address_is_a_page_for_people_and_json_for_the_api() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<h1 class=\"heading-xl\">Δεν βρέθηκε</h1>"),
        "{html}"
    );
    let r = app
        .client
        .get(app.url("/api/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        crate::common::json_body(r).await["error"]["code"],
        "not_found"
    );
}

/// `next` after a login never leads off this origin, however a browser would read it, and
/// never breaks the answer (issue 12, defects 1 and 2).
#[tokio::test]
async fn the_login_never_redirects_off_the_portal() {
    let app = TestApp::spawn().await;
    let client = browser();
    register(&app, &client, "eleni@example.gr").await;
    for next in [
        "/\t/evil.example/x",
        "/\n/evil",
        "/\r/evil",
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
    ] {
        let token = csrf(&app, &client, "/login").await;
        let r = post_form(
            &app,
            &client,
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "eleni@example.gr"),
                ("password", "Κωδικός-Δοκιμής-42"),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&r), "/requests", "{next:?}");
    }
}
