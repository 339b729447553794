mod common;

use common::{json_body, TestApp};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn health_is_ok_when_the_database_is_migrated() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["status"], "ok");
}

#[tokio::test]
async fn register_login_profile_logout() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία Παπαδοπούλου").await;
    let me = json_body(app.get("/api/v1/me", Some(&token)).await).await;
    assert_eq!(me["full_name"], "Μαρία Παπαδοπούλου");
    assert_eq!(me["role"], "citizen");
    let r = app
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let _ = json!({});
}
