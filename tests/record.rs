//! A citizen's printable record of a case (issue 16): the case's page links a PDF of its
//! summary and timeline that ends with the hash of its last event, for its owner only.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::pages::Visitor;
use crate::common::{json_body, TestApp};

/// The text of a PDF, read by poppler's `pdftotext` (installed by
/// `scripts/setup-browser-tests`).
fn pdf_text(bytes: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("record-{}.pdf", uuid::Uuid::new_v4()));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext runs (scripts/setup-browser-tests installs poppler-utils)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_citizen_downloads_the_record_of_a_case_with_the_hash_of_its_last_event() {
    let app = TestApp::spawn().await;
    let citizen = app
        .citizen("eleni.record@example.gr", "Ελένη Αρχείου")
        .await;
    let other = app.citizen("kostas.other@example.gr", "Κώστας Άλλος").await;
    let clerk = app
        .staff(
            "clerk",
            "clerk.record@dimos.example.gr",
            "Υπάλληλος Αρχείου",
        )
        .await;
    let r = app
        .post(
            "/api/v1/requests",
            Some(&citizen),
            json!({"kind": "complaint", "subject": "Σπασμένο παγκάκι",
                   "text": "Στην πλατεία, δίπλα στη βρύση."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let case = json_body(r).await;
    let id = case["id"].as_str().unwrap().to_string();
    let number = case["number"].as_str().unwrap().to_string();
    for (action, body) in [
        ("review", json!({})),
        (
            "answer",
            json!({"text": "Το παγκάκι επισκευάστηκε στις 3 Δεκεμβρίου."}),
        ),
    ] {
        let r = app
            .post(
                &format!("/api/v1/staff/requests/{id}/{action}"),
                Some(&clerk),
                body,
            )
            .await;
        assert!(r.status().is_success(), "{action}");
    }
    app.read_models_caught_up().await;
    let last_hash: String = sqlx::query_scalar(
        "SELECT hash FROM events WHERE aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(&id)
    .fetch_one(&app.state.pool)
    .await
    .unwrap();

    // The case's page links it; the PDF holds the case, every event and the last hash.
    let mut v = Visitor::with_session(&app, Some(&citizen));
    let page = v.get(&format!("/requests/{id}")).await;
    page.assert_has(&format!(
        "href=\"/requests/{id}/record.pdf\" id=\"download-record\""
    ));
    let pdf = v.get(&format!("/requests/{id}/record.pdf")).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.content_type, "application/pdf");
    assert_eq!(
        pdf.disposition,
        format!(
            "attachment; filename=\"request-{}.pdf\"",
            number.replace('/', "-")
        )
    );
    assert!(pdf.bytes.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf.bytes);
    for expected in [
        format!("Ιστορικό αιτήματος {number}"),
        "Σπασμένο παγκάκι".to_string(),
        "Στην πλατεία, δίπλα στη βρύση.".to_string(),
        "Υποβλήθηκε το αίτημα".to_string(),
        "Το παγκάκι επισκευάστηκε στις 3 Δεκεμβρίου.".to_string(),
        "Υπάλληλος Αρχείου".to_string(),
        "Ψηφιακό αποτύπωμα της καταχώρισης αρ. 3 (SHA-256):".to_string(),
        last_hash.clone(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }

    // Only its owner gets it.
    let mut stranger = Visitor::with_session(&app, Some(&other));
    let refused = stranger.get(&format!("/requests/{id}/record.pdf")).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert!(!refused.bytes.starts_with(b"%PDF-"));
    let mut visitor = Visitor::with_session(&app, None);
    let refused = visitor.get(&format!("/requests/{id}/record.pdf")).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(refused.location.unwrap().starts_with("/login"));
}
