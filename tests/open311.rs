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
    // In the order of the specification's example.
    assert!(
        xml.contains(
            "<service_definition><service_code>street_light</service_code><attributes>\
             <attribute><variable>true</variable><code>lamp_post_number</code>\
             <datatype>string</datatype><required>true</required>"
        ),
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
    assert!(
        xml.contains(&format!(
            "<request><service_request_id>{id}</service_request_id><status>open</status>\
             <status_notes/><service_name>"
        )),
        "{xml}"
    );
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
    // The timeline's first entry names the client: on the clerk's page, on the tracking
    // page the token opens, in the JSON timeline, and in the auditor's view of the events.
    page.assert_has("μέσω της εφαρμογής «Εφαρμογή Γειτονιάς»");
    let tracking = crate::common::pages::Visitor::with_session(&app, None)
        .get(&format!("/track/{token}"))
        .await;
    tracking.assert_has("μέσω της εφαρμογής «Εφαρμογή Γειτονιάς»");
    let r = app
        .get(&format!("/api/v1/staff/requests/{id}"), Some(&clerk))
        .await;
    let case = json_body(r).await;
    assert_eq!(
        case["timeline"][0]["details"]["open311_client"], "Εφαρμογή Γειτονιάς",
        "{case}"
    );
    let auditor = app
        .staff("auditor", "auditor.open311@dimos.example.gr", "Ελέγκτρια")
        .await;
    let audit = crate::common::pages::Visitor::with_session(&app, Some(&auditor))
        .get(&format!("/audit/cases/{id}"))
        .await;
    audit.assert_has("Open311: Εφαρμογή Γειτονιάς");
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
    // Each thing to correct is its own error; an address follows the portal's text policy.
    let mut form = good(&[("description", ""), ("attribute[lamp_post_number]", "")]);
    form.push(("address_string", "α".repeat(201)));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post(&app, "/open311/v2/requests.json", &pairs).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let errors: Value = serde_json::from_str(&body).unwrap();
    let descriptions: Vec<&str> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["description"].as_str().unwrap())
        .collect();
    assert_eq!(descriptions.len(), 3, "{body}");
    assert!(descriptions
        .iter()
        .any(|d| d.starts_with("address_string: ")));
    assert!(descriptions.iter().any(|d| d.starts_with("description: ")));
    assert!(descriptions
        .iter()
        .any(|d| d.starts_with("attribute[lamp_post_number]: ")));
    let mut form = good(&[]);
    form.push(("address_string", "Ερμού \u{202E}21".to_string()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post(&app, "/open311/v2/requests.json", &pairs).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("address_string: "), "{body}");

    // A form over 64 KB, and one over the server's 2 MB: the specification's 413.
    for size in [70 * 1024, 3 * 1024 * 1024] {
        for suffix in ["json", "xml"] {
            let r = app
                .client
                .post(app.url(&format!("/open311/v2/requests.{suffix}")))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("api_key={key}&description={}", "a".repeat(size)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{size}");
            let body = r.text().await.unwrap();
            match suffix {
                "json" => {
                    let errors: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(errors[0]["code"], 413, "{body}");
                }
                _ => assert!(body.contains("<errors><error><code>413</code>"), "{body}"),
            }
        }
    }
    assert_eq!(filed(&app).await, 0);

    // A method a path does not have: the specification's error, with `Allow`.
    for (path, xml) in [
        ("/open311/v2/discovery.json", false),
        ("/open311/v2/services.xml", true),
        ("/open311/v2/services/pothole.json", false),
        ("/open311/v2/tokens/ABC.xml", true),
    ] {
        let r = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = r.headers()[reqwest::header::ALLOW]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            allow.contains("GET") && !allow.contains("POST"),
            "{path}: {allow}"
        );
        let body = r.text().await.unwrap();
        if xml {
            assert!(
                body.contains("<errors><error><code>405</code>"),
                "{path}: {body}"
            );
        } else {
            let errors: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(errors[0]["code"], 405, "{path}: {body}");
        }
    }
    let r = app
        .client
        .delete(app.url("/open311/v2/requests.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = r.headers()[reqwest::header::ALLOW]
        .to_str()
        .unwrap()
        .to_string();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    // A key for a name that has one, a name too long or with a bidi override: refused.
    let out = portal_command(
        &app,
        &["open311", "keys", "add", "--name", "Δοκιμαστικός πελάτης"],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has a key already"));
    let long = "α".repeat(101);
    for name in [long.as_str(), "Εφαρμογή\u{202E}"] {
        let out = portal_command(&app, &["open311", "keys", "add", "--name", name]).await;
        assert!(!out.status.success(), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("1 to 100 visible characters"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

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
            "/open311/v2/requests.json?page_size=1001",
            StatusCode::BAD_REQUEST,
            "page_size",
        ),
        (
            "/open311/v2/requests.json?page=0",
            StatusCode::BAD_REQUEST,
            "page: a whole number",
        ),
        (
            "/open311/v2/requests.xml?page=100001",
            StatusCode::BAD_REQUEST,
            "<description>page: a whole number",
        ),
        (
            "/open311/v2/requests.json?start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "start_date: after end_date",
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
