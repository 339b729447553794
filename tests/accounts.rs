//! HTTP tests of accounts and sessions (S2): registration and its refusals, login with a
//! bearer token and an HttpOnly cookie, the profile, logout, and the error format
//! (status, code, fields, messages in Greek or English).

use crate::common::{field_codes, json_body, TestApp};
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "Κωδικός-Δοκιμής-42";

/// The message catalogues the API answers from, to compare texts without copying them.
fn catalog(lang: &str) -> Value {
    crate::common::catalog(lang)
}

async fn register(app: &TestApp, body: Value) -> Response {
    app.post("/api/v1/accounts", None, body).await
}

/// Registration that must be refused with 422, naming `field` with `code`.
async fn assert_registration_refused(app: &TestApp, body: Value, field: &str, code: &str) {
    let r = register(app, body.clone()).await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "registration of {body} should be refused"
    );
    let error = json_body(r).await["error"].clone();
    assert_eq!(error["code"], "validation_failed", "{error}");
    assert!(
        field_codes(&error).contains(&(field.to_string(), code.to_string())),
        "expected {field}/{code} in {error}"
    );
}

/// Asserts the status and the error code of a refusal; answers the `error` object.
async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let error = json_body(r).await["error"].clone();
    assert_eq!(error["code"], code, "{error}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error carries a message: {error}"
    );
    error
}

/// Logs in and answers the whole response (the harness's `login` keeps only the token).
async fn login_response(app: &TestApp, email: &str, password: &str) -> Response {
    app.post(
        "/api/v1/session",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

/// The `Set-Cookie` header of a response.
fn set_cookie(r: &Response) -> String {
    r.headers()
        .get(SET_COOKIE)
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_string()
}

fn put_me(app: &TestApp, token: &str) -> RequestBuilder {
    app.client.put(app.url("/api/v1/me")).bearer_auth(token)
}

fn logout(app: &TestApp) -> RequestBuilder {
    app.client.delete(app.url("/api/v1/session"))
}

#[tokio::test]
async fn health_is_ok_when_the_database_is_migrated() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert!(body["migrations"].as_i64().unwrap() >= 1, "{body}");
}

#[tokio::test]
async fn register_then_login_then_read_the_profile() {
    let app = TestApp::spawn().await;

    let r = register(
        &app,
        json!({"email": "  Maria@Example.GR ", "password": PASSWORD, "full_name": " Μαρία Παπαδοπούλου "}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let answer = json_body(r).await;
    assert_eq!(
        answer,
        json!({"email": "maria@example.gr", "status": "activation_sent"})
    );
    // Not before the account is activated through the e-mailed link: the same answer as
    // a wrong password.
    let r = login_response(&app, "maria@example.gr", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let token = app.emailed_token("activate", "maria@example.gr").await;
    let r = app
        .post(
            "/api/v1/accounts/activation",
            None,
            json!({ "token": token }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Once only.
    let r = app
        .post(
            "/api/v1/accounts/activation",
            None,
            json!({ "token": token }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = json_body(r).await["error"].clone();
    assert!(
        field_codes(&error).contains(&("token".into(), "activation_link_invalid".into())),
        "{error}"
    );

    // The e-mail is matched case-insensitively at login too.
    let r = login_response(&app, "MARIA@example.gr", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let cookie = set_cookie(&r);
    let session = json_body(r).await;
    let token = session["token"].as_str().expect("a token").to_string();
    assert!(token.len() >= 32, "a token of real length: {token}");
    assert_eq!(session["role"], "citizen");
    let account_id = session["account_id"]
        .as_str()
        .expect("an account id")
        .to_string();
    uuid::Uuid::parse_str(&account_id).expect("the id is a UUID");
    let expires_at = session["expires_at"].as_str().expect("an expiry");
    let expires_at = chrono::DateTime::parse_from_rfc3339(expires_at).expect("an RFC 3339 time");
    assert!(
        expires_at > chrono::Utc::now(),
        "the session has not expired yet"
    );
    assert!(
        cookie.starts_with(&format!("portal_session={token};")),
        "the cookie carries the token: {cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite="), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");

    let r = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = json_body(r).await;
    assert_eq!(me["id"], account_id.as_str());
    assert_eq!(me["email"], "maria@example.gr");
    assert_eq!(me["full_name"], "Μαρία Παπαδοπούλου");
    assert_eq!(me["role"], "citizen");
    assert_eq!(me["father_name"], Value::Null);
    assert_eq!(me["address"], Value::Null);
    assert_eq!(me["phone"], Value::Null);
    assert!(me.get("password_hash").is_none(), "{me}");
}

#[tokio::test]
async fn the_session_cookie_alone_authenticates() {
    let app = TestApp::spawn().await;
    app.citizen("nikos@example.gr", "Νίκος Γεωργίου").await;
    let r = login_response(&app, "nikos@example.gr", PASSWORD).await;
    let cookie = set_cookie(&r);
    let pair = cookie.split(';').next().unwrap().to_string();

    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .header(COOKIE, format!("lang=el; {pair}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["email"], "nikos@example.gr");

    // Logging out with the cookie clears it and revokes the session behind it.
    let r = logout(&app).header(COOKIE, &pair).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(&r);
    assert!(cleared.starts_with("portal_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .header(COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn the_profile_is_updated_and_the_phone_normalised() {
    let app = TestApp::spawn().await;
    let token = app.citizen("eleni@example.gr", "Ελένη Κωνσταντίνου").await;

    let r = put_me(&app, &token)
        .json(&json!({
            "full_name": "Ελένη Κωνσταντίνου",
            "father_name": "Γεώργιος",
            "address": "Οδός Ερμού 12, 10563 Αθήνα",
            "phone": "+30 691-234 5678",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let updated = json_body(r).await;
    assert_eq!(updated["father_name"], "Γεώργιος");
    assert_eq!(updated["address"], "Οδός Ερμού 12, 10563 Αθήνα");
    assert_eq!(updated["phone"], "+306912345678");
    assert_eq!(updated["email"], "eleni@example.gr", "the e-mail stays");

    let me = json_body(app.get("/api/v1/me", Some(&token)).await).await;
    assert_eq!(me["father_name"], "Γεώργιος");
    assert_eq!(me["address"], "Οδός Ερμού 12, 10563 Αθήνα");
    assert_eq!(me["phone"], "+306912345678");

    // A bad phone is refused, naming the field, and nothing is changed.
    let r = put_me(&app, &token)
        .json(&json!({
            "full_name": "Ελένη Κωνσταντίνου",
            "father_name": "Δημήτριος",
            "phone": "12345",
        }))
        .send()
        .await
        .unwrap();
    let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        field_codes(&error),
        vec![("phone".to_string(), "phone_invalid".to_string())]
    );
    let me = json_body(app.get("/api/v1/me", Some(&token)).await).await;
    assert_eq!(me["father_name"], "Γεώργιος");
    assert_eq!(me["phone"], "+306912345678");

    // An empty optional field clears it.
    let r = put_me(&app, &token)
        .json(&json!({"full_name": "Ελένη Κωνσταντίνου", "father_name": "Γεώργιος", "phone": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me = json_body(r).await;
    assert_eq!(me["phone"], Value::Null);
    assert_eq!(me["address"], Value::Null);
    assert_eq!(me["father_name"], "Γεώργιος");
}

#[tokio::test]
async fn the_profile_needs_a_session() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/me", None).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = app
        .client
        .put(app.url("/api/v1/me"))
        .json(&json!({"full_name": "Κάποιος"}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

/// Issue 12: registration tells nobody whether an address has an account. Registering a
/// taken address (whatever its case) answers like a new registration, creates nothing, and
/// e-mails the owner instead (once an hour at most).
#[tokio::test]
async fn a_taken_email_answers_like_a_new_one_and_tells_the_owner() {
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", "Μαρία Παπαδοπούλου").await;
    let fresh = register(
        &app,
        json!({"email": "nikos@example.gr", "password": PASSWORD, "full_name": "Νίκος"}),
    )
    .await;
    let fresh_status = fresh.status();
    let fresh_body = json_body(fresh).await;
    for email in ["maria@example.gr", "MARIA@example.gr", " Maria@Example.Gr "] {
        let r = register(
            &app,
            json!({"email": email, "password": "Άλλος-Κωδικός-99", "full_name": "Άλλη Μαρία"}),
        )
        .await;
        assert_eq!(r.status(), fresh_status, "{email}");
        let body = json_body(r).await;
        assert_eq!(body["status"], fresh_body["status"]);
        assert_eq!(body["email"], "maria@example.gr");
    }
    let accounts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM accounts WHERE email_normalized = 'maria@example.gr'",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(accounts, 1);
    let (subject, body): (String, String) = sqlx::query_as(
        "SELECT subject, body FROM mail_outbox WHERE to_address = 'maria@example.gr' \
         AND event_key LIKE 'registration-attempt.%'",
    )
    .fetch_one(&app.state.pool)
    .await
    .expect("exactly one notice, however often it was tried");
    assert!(subject.contains("Προσπάθεια εγγραφής"), "{subject}");
    assert!(body.contains("Ξεχάσατε τον κωδικό σας;"), "{body}");
    // The account and its password are as they were.
    app.login("maria@example.gr", PASSWORD).await;
    let r = login_response(&app, "maria@example.gr", "Άλλος-Κωδικός-99").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // Registering an address whose account is not activated yet sends a new link (after a
    // minute), not a second account.
    sqlx::query("UPDATE account_activations SET created_at = now() - interval '2 minutes'")
        .execute(&app.state.pool)
        .await
        .unwrap();
    register(
        &app,
        json!({"email": "nikos@example.gr", "password": PASSWORD, "full_name": "Νίκος"}),
    )
    .await;
    let links: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mail_outbox WHERE to_address = 'nikos@example.gr' \
         AND event_key LIKE 'account-activation.%'",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(links, 2);
    app.activate("nikos@example.gr").await;
    app.login("nikos@example.gr", PASSWORD).await;
}

#[tokio::test]
async fn malformed_input_is_refused_field_by_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"email": "maria.example.gr", "password": PASSWORD, "full_name": "Μαρία"}),
            "email",
            "email_invalid",
        ),
        (
            json!({"email": "maria@example", "password": PASSWORD, "full_name": "Μαρία"}),
            "email",
            "email_invalid",
        ),
        (
            json!({"password": PASSWORD, "full_name": "Μαρία"}),
            "email",
            "email_invalid",
        ),
        (
            json!({"email": "maria@example.gr", "password": "Κωδ-42", "full_name": "Μαρία"}),
            "password",
            "password_too_short",
        ),
        (
            json!({"email": "maria@example.gr", "password": "1234567890", "full_name": "Μαρία"}),
            "password",
            "password_too_common",
        ),
        (
            json!({"email": "maria@example.gr", "password": "Qwertyuiop", "full_name": "Μαρία"}),
            "password",
            "password_too_common",
        ),
        (
            json!({"email": "papadopoulou@example.gr", "password": "Papadopoulou-2026", "full_name": "Μαρία"}),
            "password",
            "password_contains_email",
        ),
        (
            json!({"email": "maria@example.gr", "password": PASSWORD}),
            "full_name",
            "full_name_required",
        ),
        (
            json!({"email": "maria@example.gr", "password": PASSWORD, "full_name": "   "}),
            "full_name",
            "full_name_required",
        ),
    ];
    for (body, field, code) in cases {
        assert_registration_refused(&app, body, field, code).await;
    }

    // Several bad fields at once are all named.
    let r = register(&app, json!({"email": "x", "password": "short"})).await;
    let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields = field_codes(&error);
    for expected in [
        ("email", "email_invalid"),
        ("password", "password_too_short"),
        ("full_name", "full_name_required"),
    ] {
        assert!(
            fields.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} missing from {fields:?}"
        );
    }

    // None of the refused registrations left an account behind.
    let r = login_response(&app, "maria@example.gr", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn unknown_fields_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let r = register(
        &app,
        json!({"email": "maria@example.gr", "password": PASSWORD, "full_name": "Μαρία", "is_admin": true}),
    )
    .await;
    let error = assert_error(r, StatusCode::BAD_REQUEST, "unknown_field").await;
    assert_eq!(
        field_codes(&error),
        vec![("is_admin".to_string(), "unknown_field".to_string())]
    );

    let r = app
        .post(
            "/api/v1/session",
            None,
            json!({"email": "maria@example.gr", "password": PASSWORD, "remember": true}),
        )
        .await;
    let error = assert_error(r, StatusCode::BAD_REQUEST, "unknown_field").await;
    assert_eq!(error["fields"][0]["field"], "remember");

    let token = app.citizen("nikos@example.gr", "Νίκος").await;
    let r = put_me(&app, &token)
        .json(&json!({"full_name": "Νίκος", "role": "admin"}))
        .send()
        .await
        .unwrap();
    let error = assert_error(r, StatusCode::BAD_REQUEST, "unknown_field").await;
    assert_eq!(error["fields"][0]["field"], "role");
    let me = json_body(app.get("/api/v1/me", Some(&token)).await).await;
    assert_eq!(me["role"], "citizen");
}

#[tokio::test]
async fn malformed_json_and_a_missing_content_type_are_refused() {
    let app = TestApp::spawn().await;
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/v1/accounts")).body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        req.send()
    };

    let r = send(
        r#"{"email": "maria@example.gr", "#,
        Some("application/json"),
    )
    .await
    .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "malformed_json").await;

    let r = send(
        r#"{"email": 42, "password": "x", "full_name": "y"}"#,
        Some("application/json"),
    )
    .await
    .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "malformed_json").await;

    let good =
        r#"{"email": "maria@example.gr", "password": "Κωδικός-Δοκιμής-42", "full_name": "Μαρία"}"#;
    let r = send(good, None).await.unwrap();
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = send(good, Some("text/plain")).await.unwrap();
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", "Μαρία").await;

    let wrong_password = login_response(&app, "maria@example.gr", "Λάθος-Κωδικός-99").await;
    let unknown_email = login_response(&app, "nobody@example.gr", PASSWORD).await;
    for r in [&wrong_password, &unknown_email] {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers().get(SET_COOKIE).is_none(),
            "no cookie on failure"
        );
    }
    let a = wrong_password.text().await.unwrap();
    let b = unknown_email.text().await.unwrap();
    assert_eq!(a, b, "the two failures must not be told apart");
    let body: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(
        body["error"]["message"],
        catalog("el")["invalid_credentials"]
    );
}

#[tokio::test]
async fn logout_revokes_only_that_session() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let other = app.login("maria@example.gr", PASSWORD).await;
    assert_ne!(token, other);

    let r = logout(&app).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(&r).contains("Max-Age=0"));

    let r = app.get("/api/v1/me", Some(&token)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = logout(&app).bearer_auth(&token).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let r = app.get("/api/v1/me", Some(&other)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["email"], "maria@example.gr");

    let r = logout(&app).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn an_invalid_token_is_refused_not_taken_for_a_visitor() {
    let app = TestApp::spawn().await;
    let garbage = "not-a-real-token-0123456789abcdefghijklmnop";

    let r = app.get("/api/v1/me", Some(garbage)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Submitting works without a session, but a bad session is not quietly dropped.
    let submission = json!({"subject": "Λακκούβα", "text": "Στην οδό Ερμού."});
    let r = app
        .post("/api/v1/requests", Some(garbage), submission.clone())
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = app
        .client
        .post(app.url("/api/v1/requests"))
        .header(COOKIE, format!("portal_session={garbage}"))
        .json(&submission)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = app.post("/api/v1/requests", None, submission).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the same body, anonymously"
    );
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let app = TestApp::spawn_with(|c| c.session_lifetime = chrono::Duration::zero()).await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let r = app.get("/api/v1/me", Some(&token)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn staff_accounts_carry_their_role() {
    let app = TestApp::spawn().await;
    let token = app
        .staff("clerk", "clerk@dimos.gr", "Γιώργος Υπάλληλος")
        .await;
    let me = json_body(app.get("/api/v1/me", Some(&token)).await).await;
    assert_eq!(me["role"], "clerk");
    assert_eq!(me["full_name"], "Γιώργος Υπάλληλος");
}

#[tokio::test]
async fn messages_are_greek_by_default_and_english_on_request() {
    let app = TestApp::spawn().await;
    let (el, en) = (catalog("el"), catalog("en"));
    let bad = json!({"email": "not-an-email", "password": PASSWORD, "full_name": "Μαρία"});

    let in_language = |lang: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/v1/accounts")).json(&bad);
        if let Some(lang) = lang {
            req = req.header(ACCEPT_LANGUAGE, lang);
        }
        req.send()
    };

    for (lang, expected) in [
        (None, &el),
        (Some("el-GR,el;q=0.9"), &el),
        (Some("el-GR,en;q=0.8"), &el),
        (Some("en"), &en),
        (Some("en-GB,en;q=0.9,el;q=0.5"), &en),
    ] {
        let r = in_language(lang).await.unwrap();
        let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(error["message"], expected["validation_failed"], "{lang:?}");
        assert_eq!(error["fields"][0]["field"], "email");
        assert_eq!(
            error["fields"][0]["message"], expected["email_invalid"],
            "{lang:?}"
        );
    }
    assert_ne!(el["email_invalid"], en["email_invalid"]);

    // Errors raised before a handler runs (authentication) are translated too.
    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .header(ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .unwrap();
    let error = assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(error["message"], en["unauthenticated"]);
    let r = app.get("/api/v1/me", None).await;
    let error = assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(error["message"], el["unauthenticated"]);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία").await;
    let with_authorization = |value: String| {
        app.client
            .post(app.url("/api/v1/requests"))
            .header(reqwest::header::AUTHORIZATION, value)
            .json(&json!({"kind": "request", "subject": "Θέμα", "text": "Κείμενο."}))
            .send()
    };

    // `bearer` is the same scheme as `Bearer`: a named request, not an anonymous one.
    let r = with_authorization(format!("bearer {token}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = json_body(r).await;
    assert_eq!(body["kind"], "request");
    assert!(body.get("tracking_code").is_none(), "{body}");

    // A bearer scheme without a token is refused, not taken for a visitor.
    let r = with_authorization("Bearer".to_string()).await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn another_authorization_scheme_leaves_the_cookie_in_charge() {
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", "Μαρία").await;
    let r = login_response(&app, "maria@example.gr", PASSWORD).await;
    let pair = set_cookie(&r).split(';').next().unwrap().to_string();
    // E.g. the Basic auth of a proxy in front of a staging portal.
    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .header(reqwest::header::AUTHORIZATION, "Basic c3RhZ2luZzpzZWNyZXQ=")
        .header(COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["email"], "maria@example.gr");
}

#[tokio::test]
async fn a_login_with_an_impossible_email_fails_like_a_wrong_one() {
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", "Μαρία").await;
    for email in ["maria\u{0}@example.gr", "", "not an e-mail"] {
        let r = login_response(&app, email, PASSWORD).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

/// Personal answers are never kept by a shared cache, and the public stylesheet carries no
/// cookie (issue 12, defect 10).
#[tokio::test]
async fn personal_answers_are_no_store_and_static_files_set_no_cookie() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία Παπαδοπούλου").await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.headers()["cache-control"], "no-store");

    // A page that gives a visitor a CSRF cookie is theirs alone too.
    let page = app.client.get(app.url("/register")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().contains_key(SET_COOKIE));
    assert_eq!(page.headers()["cache-control"], "no-store");

    // The pages link the stylesheet under a name with its content hash: kept a year.
    let html = page.text().await.unwrap();
    let start = html
        .find("href=\"/static/portal.")
        .expect("a stylesheet link")
        + 6;
    let href = html[start..].split('"').next().unwrap().to_string();
    assert!(
        href.len() == "/static/portal..css".len() + 16 && href.ends_with(".css"),
        "{href}"
    );
    let css = app.client.get(app.url(&href)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        !css.headers().contains_key(SET_COOKIE),
        "{:?}",
        css.headers()
    );
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    // The plain name, or another version's hash, still answers, briefly cached; any other
    // name is 404.
    for other in ["/static/portal.css", "/static/portal.0123456789abcdef.css"] {
        let r = app.client.get(app.url(other)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{other}");
        assert!(!r.headers().contains_key(SET_COOKIE));
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=300",
            "{other}"
        );
    }
    for missing in ["/static/other.css", "/static/portal.xyz.css"] {
        let r = app.client.get(app.url(missing)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}
