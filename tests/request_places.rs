//! Categories and places on requests (issue 15): a request carries a category of the
//! municipality's list with its attribute answers, an address and a point inside the
//! municipality's area; clerks see and filter by them; every mistake is named at its
//! field and stores nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::pages::Visitor;
use crate::common::{field_codes, json_body, TestApp};

async fn cases_filed(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'CitizenRequest' \
         AND event_type = 'RequestSubmitted'",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap()
}

fn street_light() -> Value {
    json!({
        "kind": "complaint",
        "subject": "Σβηστός φανοστάτης",
        "text": "Ο φανοστάτης έξω από το 12 είναι σβηστός εδώ και μία εβδομάδα.",
        "category": "street_light",
        "address": "Ερμού 12",
        "lat": 37.9755,
        "long": 23.7348,
        "attributes": {"lamp_post_number": "ΦΣ-118", "lights_out": "one"},
    })
}

#[tokio::test]
async fn a_request_keeps_its_category_place_and_answers_and_clerks_filter_by_them() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria.place@example.gr", "Μαρία Τόπου").await;
    let r = app
        .post("/api/v1/requests", Some(&maria), street_light())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = json_body(r).await["id"].as_str().unwrap().to_string();
    // One without a place, as before.
    let (_, plain) = app.complain(&maria).await;

    let case = json_body(
        app.get(&format!("/api/v1/my/requests/{id}"), Some(&maria))
            .await,
    )
    .await;
    let case = &case["case"];
    assert_eq!(case["category"], "street_light", "{case}");
    assert_eq!(case["address"], "Ερμού 12");
    assert_eq!(case["lat"], 37.9755);
    assert_eq!(case["long"], 23.7348);
    assert_eq!(
        case["attributes"],
        json!({"lamp_post_number": "ΦΣ-118", "lights_out": "one"})
    );
    // The event says it, version 1.1.
    let (version, payload): (String, Value) = sqlx::query_as(
        "SELECT event_version, payload FROM events WHERE aggregate_id = $1 AND sequence = 1",
    )
    .bind(&id)
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(version, "1.1");
    assert_eq!(
        payload["data"]["location"],
        json!({"lat": 37.9755, "long": 23.7348})
    );

    let clerk = app
        .staff("clerk", "clerk.place@dimos.example.gr", "Υπάλληλος Τόπου")
        .await;
    let queue = json_body(
        app.get("/api/v1/staff/requests?category=street_light", Some(&clerk))
            .await,
    )
    .await;
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{queue}");
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["category"], "street_light");
    assert_eq!(queue["total"], 1);
    let all = json_body(app.get("/api/v1/staff/requests", Some(&clerk)).await).await;
    assert_eq!(all["total"], 2);
    assert!(all["items"][1]["category"].is_null(), "{all}");
    assert_eq!(all["items"][1]["id"], plain["id"]);
    let r = app
        .get("/api/v1/staff/requests?category=lamp", Some(&clerk))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_codes(&json_body(r).await["error"]),
        vec![("category".to_string(), "category_unknown".to_string())]
    );

    // The clerk's pages: the column, the filter and the case.
    let mut v = Visitor::with_session(&app, Some(&clerk));
    let page = v.get("/staff/requests?category=street_light").await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_has("Σβηστός ή χαλασμένος φανοστάτης");
    page.assert_has(&format!("/staff/requests/{id}"));
    page.assert_lacks(&format!(
        "/staff/requests/{}",
        plain["id"].as_str().unwrap()
    ));
    // An unknown category (an edited address) is named at the filter; the list is unfiltered.
    let page = v.get("/staff/requests?category=lamp").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    page.assert_has("id=\"category-error\"");
    page.assert_has("Η κατηγορία αυτή δεν υπάρχει");
    page.assert_has(&format!("/staff/requests/{id}"));
    let page = v.get(&format!("/staff/requests/{id}")).await;
    page.assert_has("id=\"case-category\"");
    page.assert_has("Ο αριθμός που είναι γραμμένος στον φανοστάτη");
    page.assert_has("ΦΣ-118");
    page.assert_has("37.9755, 23.7348");
    // The categories, for clients.
    let categories = json_body(app.get("/api/v1/request-categories", None).await).await;
    let light = categories["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["service_code"] == "street_light")
        .unwrap()
        .clone();
    assert_eq!(light["attributes"][0]["code"], "lamp_post_number");
    assert_eq!(light["attributes"][0]["required"], true);
    assert!(categories["area"]["min_lat"].is_number());

    crate::common::assert_a_rebuild_of_everything_changes_nothing(&app.state.pool).await;
}

#[tokio::test]
async fn every_mistake_in_a_place_is_named_at_its_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria.wrong@example.gr", "Μαρία Λάθους").await;
    let cases = [
        (
            json!({"category": "lamp"}),
            vec![("category", "category_unknown")],
        ),
        (
            json!({"attributes": {"lamp_post_number": "", "lights_out": "all", "colour": "x"}}),
            vec![
                ("attribute[colour]", "attribute_unknown"),
                ("attribute[lamp_post_number]", "attribute_required"),
                ("attribute[lights_out]", "attribute_invalid"),
            ],
        ),
        (
            json!({"lat": 40.64, "long": 22.94}),
            vec![("lat", "location_outside_area")],
        ),
        (json!({"lat": 95.0}), vec![("lat", "lat_invalid")]),
        (json!({"long": null}), vec![("long", "long_required")]),
        (
            json!({"address": "α".repeat(201)}),
            vec![("address", "address_too_long")],
        ),
    ];
    for (change, expected) in cases {
        let mut body = street_light();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app
            .post("/api/v1/requests", Some(&maria), body.clone())
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error = json_body(r).await;
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(f, c)| (f.to_string(), c.to_string()))
            .collect();
        assert_eq!(field_codes(&error["error"]), expected, "{body}");
        for f in error["error"]["fields"].as_array().unwrap() {
            assert!(!f["message"].as_str().unwrap().is_empty(), "{f}");
        }
    }
    // Attributes without a category; a coordinate that is not a number.
    let r = app
        .post(
            "/api/v1/requests",
            Some(&maria),
            json!({"kind": "complaint", "subject": "Θέμα", "text": "Κείμενο.",
                   "attributes": {"lamp_post_number": "1"}}),
        )
        .await;
    assert_eq!(
        field_codes(&json_body(r).await["error"]),
        vec![("category".to_string(), "category_required".to_string())]
    );
    let mut body = street_light();
    body["lat"] = json!("βορράς");
    let r = app.post("/api/v1/requests", Some(&maria), body).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(cases_filed(&app).await, 0);
}

#[tokio::test]
async fn the_form_asks_the_chosen_categorys_questions_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let token = app.citizen("nikos.form@example.gr", "Νίκος Φόρμας").await;
    let mut v = Visitor::with_session(&app, Some(&token));
    let form = v.get("/requests/new").await;
    form.assert_has("id=\"category\"");
    form.assert_has("<optgroup label=\"Ηλεκτροφωτισμός\">");
    form.assert_lacks("attribute[lamp_post_number]");
    let key = form.hidden("idempotency_key").unwrap();
    let mut fields = vec![
        ("idempotency_key", key.as_str()),
        ("kind", "complaint"),
        ("subject", "Σβηστός φανοστάτης"),
        ("text", "Σβηστός εδώ και μία εβδομάδα."),
        ("desired_action", ""),
        ("category", "street_light"),
        ("address", "Ερμού 12"),
        ("lat", "37,9755"),
        ("long", "23,7348"),
    ];
    // The category's required question was not on the form yet: the page comes back
    // with it, naming it, and keeps the rest.
    let asked = v.post(&form, "/requests/new", &fields).await;
    assert_eq!(
        asked.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        asked.body
    );
    asked.assert_has("id=\"attribute[lamp_post_number]-error\"");
    // The summary names the question, away from its label.
    asked.assert_has(
        "<a href=\"#attribute[lamp_post_number]\">Ο αριθμός που είναι γραμμένος στον φανοστάτη: \
         Συμπληρώστε αυτό το πεδίο για την κατηγορία που επιλέξατε.</a>",
    );
    asked.assert_has("value=\"Ερμού 12\"");
    asked.assert_has("<option value=\"street_light\" selected>");
    assert_eq!(cases_filed(&app).await, 0);
    // A question of another category, left from before, is not this request's.
    fields.push(("attribute[lamp_post_number]", "ΦΣ-118"));
    fields.push(("attribute[bin_colour]", "πράσινος"));
    let done = v.post(&asked, "/requests/new", &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let case = v.get(done.location.as_deref().unwrap()).await;
    case.assert_has("Σβηστός ή χαλασμένος φανοστάτης");
    case.assert_has("ΦΣ-118");
    case.assert_has("id=\"case-address\"");
    // Coordinates outside the municipality: said beside them.
    let form = v.get("/requests/new").await;
    let key = form.hidden("idempotency_key").unwrap();
    let outside = v
        .post(
            &form,
            "/requests/new",
            &[
                ("idempotency_key", key.as_str()),
                ("kind", "complaint"),
                ("subject", "Θέμα"),
                ("text", "Κείμενο."),
                ("lat", "40.64"),
                ("long", "22.94"),
            ],
        )
        .await;
    assert_eq!(outside.status, StatusCode::UNPROCESSABLE_ENTITY);
    outside.assert_has("id=\"lat-error\"");
    outside.assert_has("έξω από τα όρια του Δήμου");
    assert_eq!(cases_filed(&app).await, 1);
    // A `text` question is a text area, and its answer may span lines.
    let form = v.get("/requests/new").await;
    let key = form.hidden("idempotency_key").unwrap();
    let mut fields = vec![
        ("idempotency_key", key.as_str()),
        ("kind", "complaint"),
        ("subject", ""),
        ("text", "Δεν πέρασε το απορριμματοφόρο."),
        ("category", "rubbish"),
        ("address", "Αιόλου 3"),
        (
            "attribute[bin_location]",
            "Στη γωνία,\r\nαπέναντι από το περίπτερο",
        ),
    ];
    let asked = v.post(&form, "/requests/new", &fields).await;
    assert_eq!(asked.status, StatusCode::UNPROCESSABLE_ENTITY);
    asked.assert_has("<textarea class=\"textarea\" id=\"attribute[bin_location]\"");
    asked.assert_has("Στη γωνία,");
    fields[2] = ("subject", "Κάδοι");
    let done = v.post(&asked, "/requests/new", &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(cases_filed(&app).await, 2);
}
