//! Keyset paging of the lists that grow (issue 14): a page ends with `next`, the `after` of
//! the page that follows; a case filed meanwhile neither repeats a row nor hides one.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::pages::Visitor;
use crate::common::{json_body, TestApp};

async fn page(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.get(path, Some(token)).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    json_body(r).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_citizens_requests_come_a_page_at_a_time_newest_first() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria.pages@example.gr", "Μαρία Σελίδες").await;
    let mut filed = Vec::new();
    for _ in 0..23 {
        let (_, case) = app.complain(&maria).await;
        filed.push(case["id"].as_str().unwrap().to_string());
    }

    // The default page: 20, newest first.
    let first = page(&app, &maria, "/api/v1/my/requests").await;
    assert_eq!(ids(&first).len(), 20);
    assert_eq!(ids(&first)[0], filed[22]);
    assert!(first["next"].is_string());

    let first = page(&app, &maria, "/api/v1/my/requests?limit=10").await;
    let mut seen = ids(&first);
    assert_eq!(
        seen,
        filed.iter().rev().take(10).cloned().collect::<Vec<_>>()
    );
    // A case filed between two pages does not push a row onto the next page twice.
    let (_, late) = app.complain(&maria).await;
    let after = first["next"].as_str().unwrap();
    let second = page(
        &app,
        &maria,
        &format!("/api/v1/my/requests?limit=10&after={after}"),
    )
    .await;
    seen.extend(ids(&second));
    let after = second["next"].as_str().unwrap();
    let third = page(
        &app,
        &maria,
        &format!("/api/v1/my/requests?limit=10&after={after}"),
    )
    .await;
    assert_eq!(ids(&third).len(), 3);
    assert!(third["next"].is_null());
    seen.extend(ids(&third));
    assert_eq!(seen.len(), 23);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        23,
        "a row came twice"
    );
    assert_eq!(seen, filed.iter().rev().cloned().collect::<Vec<_>>());
    // The late one is on the first page now.
    assert_eq!(
        ids(&page(&app, &maria, "/api/v1/my/requests?limit=1").await),
        vec![late["id"].as_str().unwrap().to_string()]
    );

    // Bad paging says what to fix.
    for (query, code) in [
        ("limit=0", "limit_out_of_range"),
        ("limit=101", "limit_out_of_range"),
        ("after=not-a-cursor", "cursor_invalid"),
        ("after=%00%01", "cursor_invalid"),
        ("page=2", "malformed_query"),
    ] {
        let r = app
            .get(&format!("/api/v1/my/requests?{query}"), Some(&maria))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let error = json_body(r).await;
        assert_eq!(error["error"]["code"], code, "{query}: {error}");
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
    }
    // Another citizen's cursor shows that citizen nothing of Μαρία's.
    let nikos = app.citizen("nikos.pages@example.gr", "Νίκος Σελίδες").await;
    let r = page(&app, &nikos, &format!("/api/v1/my/requests?after={after}")).await;
    assert!(ids(&r).is_empty());
}

#[tokio::test]
async fn the_clerks_queue_pages_by_keyset_and_by_page_number() {
    let app = TestApp::spawn().await;
    let maria = app.citizen("maria.queue@example.gr", "Μαρία Ουρά").await;
    let mut filed = Vec::new();
    for _ in 0..7 {
        let (_, case) = app.complain(&maria).await;
        filed.push(case["id"].as_str().unwrap().to_string());
    }
    let clerk = app
        .staff("clerk", "clerk.pages@dimos.example.gr", "Υπάλληλος Σελίδων")
        .await;
    let first = page(&app, &clerk, "/api/v1/staff/requests?per_page=3").await;
    assert_eq!(ids(&first), filed[..3].to_vec(), "oldest first");
    assert_eq!(first["total"], 7);
    let mut seen = ids(&first);
    let mut next = first["next"].as_str().map(str::to_string);
    while let Some(after) = next {
        let p = page(
            &app,
            &clerk,
            &format!("/api/v1/staff/requests?per_page=3&after={after}"),
        )
        .await;
        seen.extend(ids(&p));
        next = p["next"].as_str().map(str::to_string);
    }
    assert_eq!(seen, filed);
    // The page numbers still work.
    let third = page(&app, &clerk, "/api/v1/staff/requests?per_page=3&page=3").await;
    assert_eq!(ids(&third), filed[6..].to_vec());
    assert!(third["next"].is_null());
    let r = app
        .get("/api/v1/staff/requests?after=zzz", Some(&clerk))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(r).await["error"]["code"], "cursor_invalid");
}

#[tokio::test]
async fn the_citizens_requests_page_links_to_the_next_page_and_back_to_the_first() {
    let app = TestApp::spawn().await;
    let maria = app
        .citizen("maria.pager@example.gr", "Μαρία Σελιδοδείκτης")
        .await;
    let mut subjects = Vec::new();
    for _ in 0..21 {
        let (_, case) = app.complain(&maria).await;
        subjects.push(case["number"].as_str().unwrap().to_string());
    }
    let mut v = Visitor::with_session(&app, Some(&maria));
    let first = v.get("/requests").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains(&subjects[20]) && !first.body.contains(&subjects[0]));
    assert!(!first.body.contains("id=\"first-page\""));
    let next = first.href_of("next-page");
    assert!(next.starts_with("/requests?after="), "{next}");
    let second = v.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.body.contains(&subjects[0]) && !second.body.contains(&subjects[20]));
    assert!(!second.body.contains("id=\"next-page\""));
    assert_eq!(second.href_of("first-page"), "/requests");
    second.assert_has("Πρώτη σελίδα");
    // An address with a cursor that is not one shows the first page.
    let odd = v.get("/requests?after=garbage").await;
    assert_eq!(odd.status, StatusCode::OK);
    assert!(odd.body.contains(&subjects[20]));
}

#[tokio::test]
async fn the_clerks_queue_page_pages_by_keyset_keeping_its_filters() {
    let app = TestApp::spawn().await;
    let maria = app
        .citizen("maria.staffpager@example.gr", "Μαρία Ουρά Σελίδων")
        .await;
    let mut numbers = Vec::new();
    for _ in 0..26 {
        let (_, case) = app.complain(&maria).await;
        numbers.push(case["number"].as_str().unwrap().to_string());
    }
    let clerk = app
        .staff(
            "clerk",
            "clerk.staffpager@dimos.example.gr",
            "Υπάλληλος Ουράς",
        )
        .await;
    let mut v = Visitor::with_session(&app, Some(&clerk));
    // 25 a page, oldest first; the filters ride along to the next page.
    let first = v
        .get("/staff/requests?status=submitted&kind=complaint")
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains(&numbers[0]) && !first.body.contains(&numbers[25]));
    assert!(!first.body.contains("id=\"first-page\""));
    let next = first.href_of("next-page");
    assert!(
        next.starts_with("/staff/requests?status=submitted&kind=complaint&after="),
        "{next}"
    );
    // A case filed between the two pages is on neither twice: it is the last one.
    let (_, late) = app.complain(&maria).await;
    let second = v.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.body.contains(&numbers[25]) && !second.body.contains(&numbers[0]));
    assert!(second.body.contains(late["number"].as_str().unwrap()));
    assert!(!second.body.contains("id=\"next-page\""));
    assert_eq!(
        second.href_of("first-page"),
        "/staff/requests?status=submitted&kind=complaint"
    );
    second.assert_has("Πρώτη σελίδα");
    // The total counts every case of the filter, not those of the page.
    assert!(
        second.body.contains("<strong>27</strong>"),
        "{}",
        second.body
    );
    // An edited cursor, or an old address with a page number, shows the first page.
    for odd in ["/staff/requests?after=garbage", "/staff/requests?page=9"] {
        let r = v.get(odd).await;
        assert_eq!(r.status, StatusCode::OK, "{odd}");
        assert!(r.body.contains(&numbers[0]), "{odd}");
    }
}
