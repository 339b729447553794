//! Issue 12, what accounts lack: changing the password (current one required, other
//! sessions end, an e-mail tells the owner), the sessions a person sees and ends, the
//! inactivity limit, and staff accounts that can be listed, disabled and given another
//! role, every change on the auditors' staff page.

use crate::common::{field_codes, json_body, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PASSWORD: &str = "Κωδικός-Δοκιμής-42";
const NEW_PASSWORD: &str = "Καινούριος-Κωδικός-2027";

/// Logs `email` in once more, as a browser naming itself `user_agent`.
async fn login_as(
    app: &TestApp,
    email: &str,
    password: &str,
    user_agent: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/session"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn token_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::CREATED);
    json_body(r).await["token"].as_str().unwrap().to_string()
}

async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    app.client
        .put(app.url("/api/v1/me/password"))
        .bearer_auth(token)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let here = app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let phone = token_of(
        login_as(
            &app,
            "maria@example.gr",
            PASSWORD,
            "Mozilla/5.0 (Linux; Android 14) Chrome/120.0 Mobile Safari/537.36",
        )
        .await,
    )
    .await;

    // Refusals: a wrong current password, a weak new one, the same one again.
    let r = change_password(&app, &here, "λάθος-κωδικός-123", NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = json_body(r).await["error"].clone();
    assert!(
        field_codes(&error).contains(&("current_password".into(), "current_password_wrong".into())),
        "{error}"
    );
    let r = change_password(&app, &here, PASSWORD, "short").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = json_body(r).await["error"].clone();
    assert!(
        field_codes(&error).iter().any(|(f, _)| f == "new_password"),
        "{error}"
    );
    let r = change_password(&app, &here, PASSWORD, PASSWORD).await;
    let error = json_body(r).await["error"].clone();
    assert!(
        field_codes(&error).contains(&("new_password".into(), "new_password_unchanged".into())),
        "{error}"
    );
    // Nothing changed on a refusal: both sessions stand.
    assert_eq!(
        app.get("/api/v1/me", Some(&phone)).await.status(),
        StatusCode::OK
    );

    let r = change_password(&app, &here, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["sessions_ended"], 1);
    assert_eq!(
        app.get("/api/v1/me", Some(&here)).await.status(),
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&phone)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the other ended"
    );
    assert_eq!(
        login_as(&app, "maria@example.gr", PASSWORD, "x")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    token_of(login_as(&app, "maria@example.gr", NEW_PASSWORD, "x").await).await;

    // The owner is told by e-mail.
    let (to, subject, body): (String, String, String) = sqlx::query_as(
        "SELECT to_address, subject, body FROM mail_outbox WHERE event_key LIKE 'password-changed.%'",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(to, "maria@example.gr");
    assert!(subject.contains("Αλλαγή κωδικού"), "{subject}");
    assert!(
        body.contains("Μαρία Παππά") && body.contains("επικοινωνήστε"),
        "{body}"
    );
}

#[tokio::test]
async fn a_citizen_sees_their_sessions_and_ends_them() {
    let app = TestApp::spawn().await;
    let here = app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let firefox =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let other = token_of(login_as(&app, "maria@example.gr", PASSWORD, firefox).await).await;
    let third = token_of(login_as(&app, "maria@example.gr", PASSWORD, "curl/8").await).await;

    let r = app.get("/api/v1/me/sessions", Some(&here)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sessions = json_body(r).await["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3);
    assert_eq!(
        sessions[0]["current"], true,
        "this device first: {sessions:?}"
    );
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let firefox_session = sessions
        .iter()
        .find(|s| s["user_agent"] == firefox)
        .expect("the device is recorded");
    for key in [
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "client_ip",
    ] {
        assert!(!firefox_session[key].is_null(), "{key}: {firefox_session}");
    }
    assert!(
        sessions[0].get("token_sha256").is_none(),
        "no token hash leaves the server"
    );

    // End one other session.
    let id = firefox_session["id"].as_str().unwrap();
    let r = delete(&app, &format!("/api/v1/me/sessions/{id}"), &here).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", Some(&other)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Again, or someone else's, or not an id: 404.
    let r = delete(&app, &format!("/api/v1/me/sessions/{id}"), &here).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(r).await["error"]["code"], "session_not_found");
    let stranger = app.citizen("nikos@example.gr", "Νίκος Νικολάου").await;
    let mine = json_body(app.get("/api/v1/me/sessions", Some(&here)).await).await["sessions"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = delete(&app, &format!("/api/v1/me/sessions/{mine}"), &stranger).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/me", Some(&here)).await.status(),
        StatusCode::OK
    );
    let r = delete(&app, "/api/v1/me/sessions/not-a-session", &here).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // End every other one.
    let r = delete(&app, "/api/v1/me/sessions", &here).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["sessions_ended"], 1);
    assert_eq!(
        app.get("/api/v1/me", Some(&third)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&here)).await.status(),
        StatusCode::OK
    );
    let sessions: Value = json_body(app.get("/api/v1/me/sessions", Some(&here)).await).await;
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_session_unused_for_longer_than_the_idle_limit_ends() {
    let app = TestApp::spawn_with(|c| c.session_idle = chrono::Duration::minutes(30)).await;
    let token = app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let hash = commands::accounts::token_sha256(&token);
    let last_used_minutes_ago = |minutes: i32| {
        sqlx::query(
            "UPDATE sessions SET last_used_at = now() - make_interval(mins => $2) \
             WHERE token_sha256 = $1",
        )
        .bind(hash.clone())
        .bind(minutes)
        .execute(&app.state.pool)
    };
    // Last used 29 minutes ago: it stands, and the use is recorded.
    last_used_minutes_ago(29).await.unwrap();
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    let recent: bool = sqlx::query_scalar(
        "SELECT last_used_at > now() - interval '1 minute' FROM sessions WHERE token_sha256 = $1",
    )
    .bind(&hash)
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert!(recent, "the use was recorded");
    // Not used for 31 minutes: it has ended, though its lifetime has not. (31 minutes
    // are far longer than a session stays in the session cache.)
    last_used_minutes_ago(31).await.unwrap();
    app.state.sessions.clear();
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn staff_accounts_are_listed_disabled_and_given_another_role_and_auditors_see_it() {
    let app = TestApp::spawn().await;
    let config = app.state.config.as_ref().clone();
    let clerk = app
        .staff("clerk", "clerk@dimos.gr", "Γιώργος Υπάλληλος")
        .await;
    let auditor = app
        .staff("auditor", "auditor@dimos.gr", "Άννα Ελέγκτρια")
        .await;
    app.citizen("maria@example.gr", "Μαρία Παππά").await;

    let list = portal::staff::list(&config).await.unwrap();
    assert!(
        list.contains("clerk@dimos.gr\tclerk\tactive\tΓιώργος Υπάλληλος"),
        "{list}"
    );
    assert!(
        !list.contains("maria@example.gr"),
        "citizens are not staff: {list}"
    );

    // Disabled: the session ends at once, and the password no longer logs in.
    let said = portal::staff::disable(&config, "clerk@dimos.gr", true)
        .await
        .unwrap();
    assert!(said.contains("disabled"), "{said}");
    assert_eq!(
        app.get("/api/v1/staff/requests", Some(&clerk))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .post(
            "/api/v1/session",
            None,
            json!({"email": "clerk@dimos.gr", "password": "Υπάλληλος-Δήμου-2026"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(portal::staff::list(&config)
        .await
        .unwrap()
        .contains("clerk@dimos.gr\tclerk\tdisabled"));
    // Enabled again: logs in.
    portal::staff::disable(&config, "clerk@dimos.gr", false)
        .await
        .unwrap();
    let clerk = app.login("clerk@dimos.gr", "Υπάλληλος-Δήμου-2026").await;
    // Another role: the session ends; the next login has the new role.
    let said = portal::staff::role(&config, "clerk@dimos.gr", "auditor")
        .await
        .unwrap();
    assert!(said.contains("now auditor"), "{said}");
    assert_eq!(
        app.get("/api/v1/staff/requests", Some(&clerk))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let now_auditor = app.login("clerk@dimos.gr", "Υπάλληλος-Δήμου-2026").await;
    assert_eq!(
        app.get("/api/v1/audit/staff", Some(&now_auditor))
            .await
            .status(),
        StatusCode::OK
    );

    // Refusals say what is wrong.
    let e = portal::staff::role(&config, "clerk@dimos.gr", "citizen")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--role must be"), "{e}");
    let e = portal::staff::disable(&config, "maria@example.gr", true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no staff account"), "{e}");
    let e = portal::staff::disable(&config, "nobody@dimos.gr", true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no staff account"), "{e}");

    // The auditors' record of every change, newest first, with who made it.
    let r = app.get("/api/v1/audit/staff", Some(&auditor)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let audit = json_body(r).await;
    let changes: Vec<(String, String, String)> = audit["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(
                c["changed_by"]
                    .as_str()
                    .unwrap()
                    .starts_with("command line ("),
                "{c}"
            );
            (
                c["email"].as_str().unwrap().to_string(),
                c["change"].as_str().unwrap().to_string(),
                c["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("clerk@dimos.gr", "role_changed", "clerk → auditor"),
        ("clerk@dimos.gr", "enabled", ""),
        ("clerk@dimos.gr", "disabled", ""),
        ("auditor@dimos.gr", "added", "auditor"),
        ("clerk@dimos.gr", "added", "clerk"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(changes, expected);
    assert_eq!(audit["staff"].as_array().unwrap().len(), 2);
    // Only auditors and administrators read it; the record cannot be rewritten.
    let citizen = app.login("maria@example.gr", PASSWORD).await;
    assert_eq!(
        app.get("/api/v1/audit/staff", Some(&citizen))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let rewrite = sqlx::query("DELETE FROM staff_changes")
        .execute(&app.state.pool)
        .await;
    assert!(rewrite.is_err(), "staff_changes is append-only");
}

#[tokio::test]
async fn the_auditors_staff_page_shows_the_accounts_and_their_changes() {
    use crate::common::pages::Visitor;
    let app = TestApp::spawn().await;
    let config = app.state.config.as_ref().clone();
    app.staff("clerk", "clerk@dimos.gr", "Γιώργος Υπάλληλος")
        .await;
    app.staff("auditor", "auditor@dimos.gr", "Άννα Ελέγκτρια")
        .await;
    portal::staff::disable(&config, "clerk@dimos.gr", true)
        .await
        .unwrap();

    let mut auditor = Visitor::log_in(&app, "auditor@dimos.gr", "Υπάλληλος-Δήμου-2026").await;
    let form = auditor.get("/audit").await;
    assert_eq!(form.href_of("audit-staff-link"), "/audit/staff");
    let page = auditor.get("/audit/staff").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.assert_has("Λογαριασμοί προσωπικού");
    page.assert_has("clerk@dimos.gr");
    page.assert_has("Απενεργοποιημένος");
    page.assert_has("Απενεργοποίηση");
    page.assert_has("Δημιουργία λογαριασμού");
    page.assert_has("command line (");

    app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let mut citizen = Visitor::log_in(&app, "maria@example.gr", PASSWORD).await;
    assert_eq!(
        citizen.get("/audit/staff").await.status,
        StatusCode::FORBIDDEN
    );
    let mut visitor = Visitor::new(&app);
    assert_eq!(
        visitor.get("/audit/staff").await.status,
        StatusCode::SEE_OTHER
    );
}

/// The reset links e-mailed to `to`, newest last.
async fn reset_links_to(app: &TestApp, to: &str) -> Vec<String> {
    let bodies: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM mail_outbox WHERE to_address = $1 AND event_key LIKE 'password-reset.%' \
         ORDER BY created_at",
    )
    .bind(to)
    .fetch_all(&app.state.pool)
    .await
    .unwrap();
    bodies
        .iter()
        .map(|body| {
            let start = body.find("/password-reset/").expect("a link") + "/password-reset/".len();
            body[start..]
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn set_password_by_link(app: &TestApp, token: &str, new: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/password-reset/{token}"),
        None,
        json!({ "new_password": new }),
    )
    .await
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_a_single_use_link() {
    let app = TestApp::spawn().await;
    let session = app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let ask =
        |email: &'static str| app.post("/api/v1/password-reset", None, json!({ "email": email }));

    // The same answer with or without an account; a link only to an account's address.
    assert_eq!(ask("maria@example.gr").await.status(), StatusCode::ACCEPTED);
    assert_eq!(
        ask("nobody@example.gr").await.status(),
        StatusCode::ACCEPTED
    );
    assert!(reset_links_to(&app, "nobody@example.gr").await.is_empty());
    let links = reset_links_to(&app, "maria@example.gr").await;
    assert_eq!(links.len(), 1);
    let token = links[0].clone();
    // Asked again at once: the same answer, no second e-mail.
    assert_eq!(ask("maria@example.gr").await.status(), StatusCode::ACCEPTED);
    assert_eq!(reset_links_to(&app, "maria@example.gr").await.len(), 1);
    // A malformed address is said.
    let r = ask("not-an-address").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Only the token's hash is kept.
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_sha256 FROM password_resets")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(stored, vec![commands::accounts::token_sha256(&token)]);

    // A weak password is refused and the link still works.
    let r = set_password_by_link(&app, &token, "short").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = json_body(r).await["error"].clone();
    assert!(
        field_codes(&error).iter().any(|(f, _)| f == "new_password"),
        "{error}"
    );
    let r = set_password_by_link(&app, &token, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Every session ended; the old password is gone; the new one works.
    assert_eq!(
        app.get("/api/v1/me", Some(&session)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_as(&app, "maria@example.gr", PASSWORD, "x")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    token_of(login_as(&app, "maria@example.gr", NEW_PASSWORD, "x").await).await;
    // Used once.
    let r = set_password_by_link(&app, &token, "Τρίτος-Κωδικός-2028").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = json_body(r).await["error"].clone();
    assert!(
        field_codes(&error).contains(&("token".into(), "reset_link_invalid".into())),
        "{error}"
    );
    // The owner is told that the password changed.
    let told: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mail_outbox WHERE to_address = 'maria@example.gr' \
         AND event_key LIKE 'password-changed.%'",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(told, 1);

    // A link older than 30 minutes no longer works.
    sqlx::query("UPDATE password_resets SET created_at = now() - interval '31 minutes'")
        .execute(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(ask("maria@example.gr").await.status(), StatusCode::ACCEPTED);
    let links = reset_links_to(&app, "maria@example.gr").await;
    assert_eq!(links.len(), 2, "a new link after a while");
    sqlx::query(
        "UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    .execute(&app.state.pool)
    .await
    .unwrap();
    let r = set_password_by_link(&app, &links[1], "Τρίτος-Κωδικός-2028").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Not a token at all.
    let r = set_password_by_link(&app, "nonsense", "Τρίτος-Κωδικός-2028").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn failed_logins_slow_that_address_down_and_tell_the_owner() {
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let wrong = || login_as(&app, "maria@example.gr", "λάθος-κωδικός-1", "x");
    for _ in 0..5 {
        assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
    }
    // The 6th at once, even with the right password: wait.
    let r = login_as(&app, "maria@example.gr", PASSWORD, "x").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(json_body(r).await["error"]["code"], "login_throttled");
    // An address without an account is held back the same way: nothing tells them apart.
    for _ in 0..5 {
        let r = login_as(&app, "nobody@example.gr", "λάθος-κωδικός-1", "x").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login_as(&app, "nobody@example.gr", "λάθος-κωδικός-1", "x").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another address (the owner at home) is not held back.
    let elsewhere = commands::accounts::log_in(
        &app.state,
        "maria@example.gr",
        PASSWORD.to_string(),
        commands::accounts::Device {
            user_agent: None,
            client_ip: Some("203.0.113.9".to_string()),
        },
    )
    .await;
    assert!(elsewhere.is_ok(), "{elsewhere:?}");

    // Waiting passes; on the 10th failure in a row the owner is told, once.
    let time_passes = || {
        sqlx::query("UPDATE login_failures SET last_failed_at = now() - interval '1 hour'")
            .execute(&app.state.pool)
    };
    for _ in 5..12 {
        time_passes().await.unwrap();
        assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
    }
    let notices: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM mail_outbox WHERE to_address = 'maria@example.gr' \
         AND event_key LIKE 'failed-logins.%'",
    )
    .fetch_all(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("127.0.0.1"), "{}", notices[0]);
    // After the wait the right password works, and clears the count.
    time_passes().await.unwrap();
    token_of(login_as(&app, "maria@example.gr", PASSWORD, "x").await).await;
    assert_eq!(wrong().await.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn the_login_delay_doubles_from_the_fifth_failure_up_to_fifteen_minutes() {
    use commands::accounts::login_delay_seconds;
    assert_eq!(login_delay_seconds(4), 0);
    assert_eq!(login_delay_seconds(5), 1);
    assert_eq!(login_delay_seconds(6), 2);
    assert_eq!(login_delay_seconds(10), 32);
    assert_eq!(login_delay_seconds(15), 900);
    assert_eq!(login_delay_seconds(1000), 900);
}

/// The login page says why it holds an address back, not "something went wrong".
#[tokio::test]
async fn the_login_page_says_when_an_address_must_wait() {
    use crate::common::pages::Visitor;
    let app = TestApp::spawn().await;
    app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let mut visitor = Visitor::new(&app);
    let form = visitor.get("/login").await;
    for _ in 0..5 {
        let page = visitor
            .post(
                &form,
                "/login",
                &[
                    ("email", "maria@example.gr"),
                    ("password", "λάθος-κωδικός-1"),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let page = visitor
        .post(
            &form,
            "/login",
            &[
                ("email", "maria@example.gr"),
                ("password", PASSWORD),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    page.assert_has("Πολλές αποτυχημένες προσπάθειες σύνδεσης");
    page.assert_has("Ξεχάσατε τον κωδικό σας;");
}

/// Someone who registers another person's address first does not keep the account: the
/// owner's own registration sends a link that, when opened, sets the owner's password.
#[tokio::test]
async fn the_owners_activation_link_sets_the_owners_password() {
    let app = TestApp::spawn().await;
    let register = |password: &'static str| {
        app.post(
            "/api/v1/accounts",
            None,
            json!({"email": "maria@example.gr", "password": password, "full_name": "Μαρία Παππά"}),
        )
    };
    assert_eq!(
        register("Του-Επιτιθέμενου-1").await.status(),
        StatusCode::ACCEPTED
    );
    sqlx::query("UPDATE account_activations SET created_at = now() - interval '2 minutes'")
        .execute(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(register(PASSWORD).await.status(), StatusCode::ACCEPTED);
    // The owner opens the newest link, the one their registration sent.
    app.activate("maria@example.gr").await;
    token_of(login_as(&app, "maria@example.gr", PASSWORD, "x").await).await;
    assert_eq!(
        login_as(&app, "maria@example.gr", "Του-Επιτιθέμενου-1", "x")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A reset link asked for before a password change does not undo the change.
#[tokio::test]
async fn a_password_change_ends_pending_reset_links() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let r = app
        .post(
            "/api/v1/password-reset",
            None,
            json!({"email": "maria@example.gr"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let link = app
        .emailed_token("password-reset", "maria@example.gr")
        .await;
    let r = change_password(&app, &token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = set_password_by_link(&app, &link, "Τρίτος-Κωδικός-2028").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    token_of(login_as(&app, "maria@example.gr", NEW_PASSWORD, "x").await).await;
}

/// Behind a reverse proxy (`PORTAL_TRUSTED_PROXIES`), the throttle and the sessions see the
/// client's address the proxy forwards, so a guesser elsewhere cannot hold the owner back.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_not_everyone() {
    let app = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let login_from = |client: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/v1/session"))
            .header("x-forwarded-for", client)
            .json(&json!({"email": "maria@example.gr", "password": password}))
            .send()
    };
    for _ in 0..5 {
        let r = login_from("203.0.113.5", "λάθος-κωδικός-1").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login_from("203.0.113.5", PASSWORD).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser waits"
    );
    // A client's claim to the left of what the proxy appended is not believed.
    let r = login_from("198.51.100.7, 203.0.113.5", PASSWORD)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, at another address behind the same proxy, logs in.
    let owner = token_of(login_from("198.51.100.7", PASSWORD).await.unwrap()).await;
    let sessions = json_body(app.get("/api/v1/me/sessions", Some(&owner)).await).await;
    let current = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["client_ip"], "198.51.100.7");
}

/// Waits (up to 5 s) until `path` answers 401 to `token`; answers how long it took.
async fn until_refused(app: &TestApp, path: &str, token: &str) -> std::time::Duration {
    let started = std::time::Instant::now();
    while app.get(path, Some(token)).await.status() != StatusCode::UNAUTHORIZED {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the session still stands after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Sessions are served from memory (an hour here, so that only an explicit invalidation
/// can end one in time), and whatever ends a session ends it at once: logging out, a
/// password change, and a change of role or disabling made by `portal staff` from a
/// process of its own (told over NOTIFY).
#[tokio::test]
async fn cached_sessions_end_at_once_when_ended_or_changed() {
    let app = TestApp::spawn_with(|c| c.session_cache = std::time::Duration::from_secs(3600)).await;
    let config = app.state.config.as_ref().clone();
    let token = app.citizen("maria@example.gr", "Μαρία Παππά").await;
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    assert!(!app.state.sessions.is_empty(), "the session is cached");

    // Served from memory: a revocation written behind the portal's back (no
    // notification) is not seen until the entry is dropped.
    let hash = commands::accounts::token_sha256(&token);
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE token_sha256 = $1")
        .bind(&hash)
        .execute(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    app.state.sessions.forget(&hash);
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Logging out ends it at once.
    let token = token_of(login_as(&app, "maria@example.gr", PASSWORD, "Firefox").await).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        delete(&app, "/api/v1/session", &token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A password change ends the other session, used a moment ago, at once.
    let phone = token_of(login_as(&app, "maria@example.gr", PASSWORD, "Phone").await).await;
    let laptop = token_of(login_as(&app, "maria@example.gr", PASSWORD, "Laptop").await).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&phone)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        change_password(&app, &laptop, PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&phone)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&laptop)).await.status(),
        StatusCode::OK
    );

    // `portal staff role` and `portal staff disable` run in a process of their own: the
    // portal hears of them over NOTIFY, well before an hour.
    let clerk = app
        .staff("clerk", "clerk@dimos.gr", "Γιώργος Υπάλληλος")
        .await;
    assert_eq!(
        app.get("/api/v1/staff/requests", Some(&clerk))
            .await
            .status(),
        StatusCode::OK
    );
    portal::staff::role(&config, "clerk@dimos.gr", "auditor")
        .await
        .unwrap();
    let took = until_refused(&app, "/api/v1/staff/requests", &clerk).await;
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    let auditor =
        token_of(login_as(&app, "clerk@dimos.gr", "Υπάλληλος-Δήμου-2026", "Firefox").await).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&auditor)).await.status(),
        StatusCode::OK
    );
    portal::staff::disable(&config, "clerk@dimos.gr", true)
        .await
        .unwrap();
    until_refused(&app, "/api/v1/me", &auditor).await;
}

/// Two portal processes on one database (behind a load balancer): a write through one is
/// learned by the other's session cache as it commits, so the session's next read there
/// waits for it; and a logout through one ends the session in the other at once.
#[tokio::test]
async fn a_second_portal_process_learns_a_sessions_writes_and_its_end() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let second = portal::Application::build(crate::common::test_config(&app.db))
        .await
        .expect("a second portal builds");
    let (second_base, second_state, _) = second.spawn();
    let get_second = |path: &str| {
        app.client
            .get(format!("{second_base}{path}"))
            .bearer_auth(&token)
            .send()
    };
    // The second process's listener must be up before it caches anything.
    let started = std::time::Instant::now();
    while second_state.sessions.is_empty() {
        assert_eq!(
            get_second("/api/v1/me").await.unwrap().status(),
            StatusCode::OK
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "never cached"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let hash = commands::accounts::token_sha256(&token);

    let (written, _) = app.complain(&token).await;
    let started = std::time::Instant::now();
    loop {
        let known = second_state
            .sessions
            .get(&hash, chrono::Utc::now())
            .and_then(|s| s.last_position);
        if known >= Some(written) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the second process never learned the write: {known:?} < {written}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mine = json_body(get_second("/api/v1/my/requests").await.unwrap()).await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "{mine}");

    assert_eq!(
        delete(&app, "/api/v1/session", &token).await.status(),
        StatusCode::NO_CONTENT
    );
    let started = std::time::Instant::now();
    while get_second("/api/v1/me").await.unwrap().status() != StatusCode::UNAUTHORIZED {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the session still stands in the second process"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
