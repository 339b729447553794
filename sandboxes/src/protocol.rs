//! The sandbox protocol system (ηλεκτρονικό πρωτόκολλο): registers incoming documents and
//! answers with a protocol number and date, honouring idempotency keys.
//!
//! Contract: `POST /api/v1/documents` `{idempotency_key, subject, sender, case_number}` →
//! `201 {protocol_number, registered_at}`; the same key again → `200` with the same
//! receipt. Fault switches: `GET|PUT /_sandbox/faults` with
//! `{"down": bool, "slow_ms": n, "fail_next": n, "refuse_next": n, "duplicate": bool}`: down
//! answers 503, slow delays every answer, fail_next answers 500 to the next n documents,
//! refuse_next answers 422 (the registry refuses the document, a final answer) to the next n
//! documents, duplicate ignores the idempotency key (a misbehaving system that hands out a
//! second number).
//! `GET /_sandbox/documents` lists what was registered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolFaults {
    pub down: bool,
    pub slow_ms: u64,
    pub fail_next: u32,
    pub refuse_next: u32,
    pub duplicate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registered {
    pub idempotency_key: String,
    pub subject: String,
    pub sender: String,
    pub case_number: String,
    pub protocol_number: String,
    pub registered_at: DateTime<Utc>,
}

#[derive(Default)]
struct Book {
    faults: ProtocolFaults,
    next_serial: u64,
    by_key: HashMap<String, usize>,
    documents: Vec<Registered>,
}

/// The sandbox's state, shared with tests that flip its switches directly.
#[derive(Clone, Default)]
pub struct ProtocolSandbox {
    book: Arc<Mutex<Book>>,
}

#[derive(Debug, Deserialize)]
struct Incoming {
    idempotency_key: String,
    subject: String,
    sender: String,
    case_number: String,
}

#[derive(Serialize)]
struct Receipt<'a> {
    protocol_number: &'a str,
    registered_at: DateTime<Utc>,
}

impl ProtocolSandbox {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/documents", post(register))
            .route("/_sandbox/faults", get(get_faults).put(put_faults))
            .route("/_sandbox/documents", get(list_documents))
            .with_state(self.clone())
    }

    pub fn set_faults(&self, faults: ProtocolFaults) {
        self.book.lock().expect("sandbox lock").faults = faults;
    }

    pub fn documents(&self) -> Vec<Registered> {
        self.book.lock().expect("sandbox lock").documents.clone()
    }
}

async fn register(State(sandbox): State<ProtocolSandbox>, Json(doc): Json<Incoming>) -> Response {
    let slow_ms = sandbox.book.lock().expect("sandbox lock").faults.slow_ms;
    if slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(slow_ms)).await;
    }
    let mut book = sandbox.book.lock().expect("sandbox lock");
    if book.faults.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "protocol system down").into_response();
    }
    if book.faults.fail_next > 0 {
        book.faults.fail_next -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "protocol system error").into_response();
    }
    if book.faults.refuse_next > 0 {
        book.faults.refuse_next -= 1;
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the sender is not in the registry's list of correspondents",
        )
            .into_response();
    }
    if doc.subject.trim().is_empty() || doc.idempotency_key.trim().is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "subject and idempotency_key are required",
        )
            .into_response();
    }
    if !book.faults.duplicate {
        if let Some(&index) = book.by_key.get(&doc.idempotency_key) {
            let r = &book.documents[index];
            let body = Receipt {
                protocol_number: &r.protocol_number,
                registered_at: r.registered_at,
            };
            return (StatusCode::OK, Json(body)).into_response();
        }
    }
    book.next_serial += 1;
    let now = Utc::now();
    let registered = Registered {
        protocol_number: format!("{}/{}", book.next_serial, now.year()),
        registered_at: now,
        idempotency_key: doc.idempotency_key,
        subject: doc.subject,
        sender: doc.sender,
        case_number: doc.case_number,
    };
    book.documents.push(registered.clone());
    let index = book.documents.len() - 1;
    book.by_key
        .insert(registered.idempotency_key.clone(), index);
    let body = Receipt {
        protocol_number: &registered.protocol_number,
        registered_at: registered.registered_at,
    };
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn get_faults(State(sandbox): State<ProtocolSandbox>) -> Json<ProtocolFaults> {
    Json(sandbox.book.lock().expect("sandbox lock").faults.clone())
}

async fn put_faults(
    State(sandbox): State<ProtocolSandbox>,
    Json(faults): Json<ProtocolFaults>,
) -> Json<ProtocolFaults> {
    sandbox.set_faults(faults.clone());
    Json(faults)
}

async fn list_documents(State(sandbox): State<ProtocolSandbox>) -> Json<Vec<Registered>> {
    Json(sandbox.documents())
}
