//! Open311 GeoReport v2 (issue 15): a client with an API key files a request of a category
//! and reads it back by id, by token and with filters, in JSON and in XML; every mistake is
//! the specification's error list with its HTTP status, and nothing is stored.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{json_body, portal_command, TestApp};

async fn key_for(app: &TestApp, name: &str) -> String {
    let out = portal_command(app, &["open311", "keys", "add", "--name", name]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let r = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn filed(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'RequestSubmitted'")
        .fetch_one(&app.state.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_files_a_request_and_reads_it_back_in_json_and_xml() {
    let app = TestApp::spawn().await;
    let key = key_for(&app, "Εφαρμογή Γειτονιάς").await;
    assert_eq!(key.len(), 48);

    // Discovery and services.
    let (status, body) = get(&app, "/open311/v2/discovery.json").await;
    assert_eq!(status, StatusCode::OK);
    let discovery: Value = serde_json::from_str(&body).unwrap();
    assert!(discovery["endpoints"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/open311/v2"));
    let (_, body) = get(&app, "/open311/v2/services.json").await;
    let services: Value = serde_json::from_str(&body).unwrap();
    let light = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "street_light")
        .unwrap();
    assert_eq!(light["metadata"], true);
    assert_eq!(light["type"], "realtime");
    let (status, xml) = get(&app, "/open311/v2/services.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<services><service>"), "{xml}");
    assert!(
        xml.contains("<service_code>pothole</service_code>"),
        "{xml}"
    );
    assert!(xml.contains("<metadata>true</metadata>"), "{xml}");
    let (_, body) = get(&app, "/open311/v2/services/street_light.json").await;
    let definition: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(definition["attributes"][0]["code"], "lamp_post_number");
    assert_eq!(definition["attributes"][0]["required"], true);
    assert_eq!(definition["attributes"][0]["order"], 1);
    assert_eq!(definition["attributes"][1]["values"][0]["key"], "one");
    let (_, xml) = get(&app, "/open311/v2/services/street_light.xml").await;
    assert!(
        xml.contains("<service_definition><attributes><attribute>"),
        "{xml}"
    );
    assert!(
        xml.contains("<service_code>street_light</service_code></service_definition>"),
        "{xml}"
    );
    assert!(xml.contains("<values><value><key>one</key>"), "{xml}");

    // File, in JSON.
    let (status, body) = post(
        &app,
        "/open311/v2/requests.json",
        &[
            ("api_key", key.as_str()),
            ("service_code", "street_light"),
            ("lat", "37.9755"),
            ("long", "23.7348"),
            ("address_string", "Ερμού 12"),
            ("description", "Σβηστός εδώ και μία εβδομάδα."),
            ("attribute[lamp_post_number]", "ΦΣ-118"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let id = answer[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = answer[0]["token"].as_str().unwrap().to_string();
    // The client is in the event's metadata.
    let metadata: Value =
        sqlx::query_scalar("SELECT metadata FROM events WHERE aggregate_id = $1 AND sequence = 1")
            .bind(&id)
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    assert_eq!(metadata["open311_client"], "Εφαρμογή Γειτονιάς");

    // File, in XML.
    let (status, xml) = post(
        &app,
        "/open311/v2/requests.xml",
        &[
            ("api_key", key.as_str()),
            ("service_code", "pothole"),
            ("address_string", "Αιόλου 3"),
            ("description", "Λακκούβα."),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{xml}");
    assert!(xml.contains("<service_requests><request>"), "{xml}");
    assert!(xml.contains("<service_request_id>"), "{xml}");
    app.read_models_caught_up().await;

    // Back by id, by token, and in a filtered list.
    let (status, body) = get(&app, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let one: Value = serde_json::from_str(&body).unwrap();
    let request = &one[0];
    assert_eq!(request["service_request_id"], id.as_str());
    assert_eq!(request["status"], "open");
    assert_eq!(request["service_code"], "street_light");
    assert_eq!(request["description"], "Σβηστός εδώ και μία εβδομάδα.");
    assert_eq!(request["address"], "Ερμού 12");
    assert_eq!(request["lat"], 37.9755);
    let requested = request["requested_datetime"].as_str().unwrap();
    assert!(
        requested.ends_with("+02:00") || requested.ends_with("+03:00"),
        "{requested}"
    );
    assert!(request["expected_datetime"].is_string());
    let (_, body) = get(&app, &format!("/open311/v2/tokens/{token}.json")).await;
    let by_token: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(by_token[0]["service_request_id"], id.as_str());
    let (_, xml) = get(&app, &format!("/open311/v2/requests/{id}.xml")).await;
    assert!(
        xml.contains(&format!("<service_request_id>{id}</service_request_id>")),
        "{xml}"
    );
    assert!(xml.contains("<status>open</status>"), "{xml}");
    let (_, body) = get(
        &app,
        "/open311/v2/requests.json?service_code=pothole&status=open",
    )
    .await;
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["service_code"], "pothole");
    let (_, body) = get(&app, "/open311/v2/requests.json?status=closed").await;
    assert_eq!(body, "[]");
    let (_, body) = get(
        &app,
        &format!("/open311/v2/requests.json?service_request_id={id}"),
    )
    .await;
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, body) = get(
        &app,
        "/open311/v2/requests.json?start_date=2020-01-01T00:00:00Z&end_date=2020-12-31T00:00:00%2B02:00",
    )
    .await;
    assert_eq!(body, "[]");
    let (_, body) = get(&app, "/open311/v2/requests.json?page_size=1&page=2").await;
    assert_eq!(
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Several codes at once; an unencoded `+` in an offset; ids override the other filters.
    let (_, body) = get(
        &app,
        "/open311/v2/requests.json?service_code=pothole,street_light",
    )
    .await;
    let count = |body: &str| {
        serde_json::from_str::<Value>(body)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&body), 2, "{body}");
    let (status, body) = get(
        &app,
        "/open311/v2/requests.json?start_date=2020-01-01T00:00:00+02:00",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(count(&body), 2, "{body}");
    let (_, body) = get(
        &app,
        &format!("/open311/v2/requests.json?service_request_id={id},%00&status=closed"),
    )
    .await;
    assert_eq!(count(&body), 1, "{body}");

    // What citizens file on the portal is theirs: not published, even with a category.
    let maria = app
        .citizen("maria.private@example.gr", "Μαρία Ιδιωτική")
        .await;
    let r = app
        .post(
            "/api/v1/requests",
            Some(&maria),
            serde_json::json!({"kind": "complaint", "subject": "Φανοστάτης",
                "text": "Μένω στο 12.", "category": "street_light",
                "attributes": {"lamp_post_number": "1"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let private = json_body(r).await["id"].as_str().unwrap().to_string();
    let (status, _) = get(&app, &format!("/open311/v2/requests/{private}.json")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = get(&app, "/open311/v2/requests.json").await;
    assert!(!body.contains(&private), "{body}");
    assert!(!body.contains("Μένω στο 12."), "{body}");

    // A clerk answers and closes it: closed, with the answer as status_notes.
    let clerk = app
        .staff(
            "clerk",
            "clerk.open311@dimos.example.gr",
            "Υπάλληλος Open311",
        )
        .await;
    for (action, body) in [
        ("review", serde_json::json!({})),
        (
            "answer",
            serde_json::json!({"text": "Αντικαταστάθηκε η λάμπα."}),
        ),
        ("close", serde_json::json!({"reason": "done", "note": ""})),
    ] {
        let r = app
            .post(
                &format!("/api/v1/staff/requests/{id}/{action}"),
                Some(&clerk),
                body,
            )
            .await;
        assert!(r.status().is_success(), "{action}: {}", json_body(r).await);
    }
    app.read_models_caught_up().await;
    // The clerk sees which client filed it.
    let page = crate::common::pages::Visitor::with_session(&app, Some(&clerk))
        .get(&format!("/staff/requests/{id}"))
        .await;
    page.assert_has("id=\"case-open311-client\"");
    page.assert_has("Εφαρμογή Γειτονιάς");
    let (_, body) = get(&app, &format!("/open311/v2/requests/{id}.json")).await;
    let closed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(closed[0]["status"], "closed", "{closed}");
    assert_eq!(closed[0]["status_notes"], "Αντικαταστάθηκε η λάμπα.");
}

#[tokio::test]
async fn every_mistake_is_the_specifications_error_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let key = key_for(&app, "Δοκιμαστικός πελάτης").await;
    let good = |extra: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, String)> = vec![
            ("api_key", key.clone()),
            ("service_code", "street_light".into()),
            ("lat", "37.9755".into()),
            ("long", "23.7348".into()),
            ("description", "Σβηστός.".into()),
            ("attribute[lamp_post_number]", "ΦΣ-118".into()),
        ];
        for (k, v) in extra {
            form.retain(|(name, _)| name != k);
            if !v.is_empty() {
                form.push((k, v.to_string()));
            }
        }
        form
    };
    // The form, the status it gets, and what its description names.
    type Case<'a> = (Vec<(&'a str, String)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (good(&[("api_key", "")]), StatusCode::FORBIDDEN, "api_key"),
        (
            good(&[("api_key", "not-a-key")]),
            StatusCode::FORBIDDEN,
            "api_key",
        ),
        (
            good(&[("service_code", "lamp")]),
            StatusCode::NOT_FOUND,
            "service_code",
        ),
        (
            good(&[("service_code", "")]),
            StatusCode::BAD_REQUEST,
            "service_code",
        ),
        (
            good(&[("attribute[lamp_post_number]", "")]),
            StatusCode::BAD_REQUEST,
            "attribute[lamp_post_number]",
        ),
        (
            good(&[("lat", "40.64"), ("long", "22.94")]),
            StatusCode::BAD_REQUEST,
            "lat",
        ),
        (
            good(&[("lat", ""), ("long", "")]),
            StatusCode::BAD_REQUEST,
            "lat: Δώστε το σημείο",
        ),
        (good(&[("long", "")]), StatusCode::BAD_REQUEST, "long"),
        (
            good(&[("attribute[lights_out]", "all")]),
            StatusCode::BAD_REQUEST,
            "attribute[lights_out]",
        ),
        (
            good(&[("description", "")]),
            StatusCode::BAD_REQUEST,
            "description",
        ),
    ];
    for (form, status, names) in cases {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got, body) = post(&app, "/open311/v2/requests.json", &pairs).await;
        assert_eq!(got, status, "{pairs:?}: {body}");
        let errors: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(errors[0]["code"], status.as_u16(), "{body}");
        assert!(
            errors[0]["description"].as_str().unwrap().contains(names),
            "{pairs:?}: {body}"
        );
    }
    // A long description is refused too; and in XML the errors are XML.
    let long = "α".repeat(5_001);
    let mut form = good(&[]);
    form.retain(|(k, _)| *k != "description");
    form.push(("description", long));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, xml) = post(&app, "/open311/v2/requests.xml", &pairs).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        xml.contains("<errors><error><code>400</code><description>description"),
        "{xml}"
    );
    assert_eq!(filed(&app).await, 0);

    // A revoked key stops working.
    let out = portal_command(
        &app,
        &[
            "open311",
            "keys",
            "revoke",
            "--name",
            "Δοκιμαστικός πελάτης",
        ],
    )
    .await;
    assert!(out.status.success());
    let pairs: Vec<(String, String)> = good(&[])
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _) = post(&app, "/open311/v2/requests.json", &pairs).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let out = portal_command(&app, &["open311", "keys", "list"]).await;
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.contains("Δοκιμαστικός πελάτης\t") && list.contains("revoked"),
        "{list}"
    );
    let out = portal_command(&app, &["open311", "keys", "revoke", "--name", "κανείς"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("κανείς"));
    let out = portal_command(&app, &["open311", "keys", "add", "--name", "   "]).await;
    assert!(!out.status.success());

    // Reads: an unknown format, service, request, token or filter.
    for (path, status, names) in [
        (
            "/open311/v2/services.html",
            StatusCode::BAD_REQUEST,
            ".json or .xml",
        ),
        (
            "/open311/v2/services/lamp.json",
            StatusCode::NOT_FOUND,
            "lamp",
        ),
        ("/open311/v2/requests/%00.json", StatusCode::NOT_FOUND, "id"),
        (
            "/open311/v2/requests/nope.json",
            StatusCode::NOT_FOUND,
            "nope",
        ),
        (
            "/open311/v2/tokens/NOPE.json",
            StatusCode::NOT_FOUND,
            "token",
        ),
        (
            "/open311/v2/requests.json?start_date=yesterday",
            StatusCode::BAD_REQUEST,
            "start_date",
        ),
        (
            "/open311/v2/requests.json?status=maybe",
            StatusCode::BAD_REQUEST,
            "status",
        ),
        (
            "/open311/v2/requests.json?service_code=lamp",
            StatusCode::BAD_REQUEST,
            "service_code",
        ),
        (
            "/open311/v2/requests.json?page_size=0",
            StatusCode::BAD_REQUEST,
            "page_size",
        ),
        (
            "/open311/v2/everything.json",
            StatusCode::NOT_FOUND,
            "everything",
        ),
    ] {
        let (got, body) = get(&app, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(names), "{path}: {body}");
    }
}
