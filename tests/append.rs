//! The one-statement append (`eventlog::append`) and the portal's cqrs-es repository over
//! it: optimistic concurrency, case numbers handed out by the log, the hash chain, the
//! writer's session position, and the stock cqrs-es framework running over it.

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::persist::{PersistedEventStore, SerializedEvent};
use cqrs_es::{AggregateError, CqrsFramework};
use domain::request::{CitizenRequest, RequestCommand, RequestKind, RequestServices, Submitter};
use domain::values::{CaseNumber, CaseText, Subject};
use eventlog::{Append, AppendError, CaseNumberSlot, EventLogRepository};
use serde_json::{json, Value};

use crate::common::TestApp;
use crate::event_log::event_log_database;

fn event(id: &str, sequence: usize, payload: Value) -> SerializedEvent {
    SerializedEvent::new(
        id.to_string(),
        sequence,
        "TestCase".to_string(),
        "Tested".to_string(),
        "1.0".to_string(),
        payload,
        json!({"actor_id": "test"}),
    )
}

fn numbered(year: i32) -> Value {
    json!({"type": "Opened", "data": {"number": {"year": year, "serial": 0}}})
}

/// Whether the stored chain of `id` verifies, and how many events it has.
async fn chain_of(pool: &sqlx::PgPool, id: &str) -> (bool, usize) {
    let events = eventlog::load_case_events(pool, "TestCase", id, None)
        .await
        .unwrap();
    (commands::audit::verify_events(&events).valid, events.len())
}

#[tokio::test]
async fn one_statement_appends_numbers_positions_and_chains_a_commands_events() {
    let (_db, pool) = event_log_database().await;
    let slot = CaseNumberSlot {
        // No case of 2031 yet: its sequence is created on the first append.
        sequence: "case_number_2031".into(),
        path: vec!["data".into(), "number".into(), "serial".into()],
    };
    let first = [event("a", 1, numbered(2031))];
    let a = eventlog::append(
        &pool,
        Append {
            events: &first,
            case_number: Some(&slot),
            session: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(a.case_serial, Some(1));
    let second = [event("b", 1, numbered(2031))];
    let b = eventlog::append(
        &pool,
        Append {
            events: &second,
            case_number: Some(&slot),
            session: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(b.case_serial, Some(2));
    assert!(b.position > a.position);
    // The log wrote the serial into the stored event, before the hash was taken.
    let stored: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE aggregate_id = 'b' AND sequence = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored["data"]["number"], json!({"year": 2031, "serial": 2}));

    // Two events of one command: one statement, the position of the last.
    let more = [
        event("a", 2, json!({"n": 2})),
        event("a", 3, json!({"n": 3})),
    ];
    let appended = eventlog::append(
        &pool,
        Append {
            events: &more,
            case_number: None,
            session: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(appended.case_serial, None);
    let latest = eventlog::latest_position(&pool, "TestCase", "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(appended.position, latest);
    assert_eq!(chain_of(&pool, "a").await, (true, 3));

    // A writer that saw sequence 2 too appends 3 again: a conflict, and nothing of it
    // stays (not even its first event, which did not collide).
    let stale = [
        event("a", 3, json!({"n": "late"})),
        event("a", 4, json!({"n": 4})),
    ];
    let conflict = eventlog::append(
        &pool,
        Append {
            events: &stale,
            case_number: None,
            session: None,
        },
    )
    .await;
    assert!(
        matches!(conflict, Err(AppendError::Conflict)),
        "{conflict:?}"
    );
    assert_eq!(chain_of(&pool, "a").await, (true, 3));
    // A stream whose first event is taken twice: the same.
    let again = [event("b", 1, numbered(2031))];
    assert!(matches!(
        eventlog::append(
            &pool,
            Append {
                events: &again,
                case_number: Some(&slot),
                session: None,
            },
        )
        .await,
        Err(AppendError::Conflict)
    ));
    assert!(matches!(
        eventlog::append(
            &pool,
            Append {
                events: &[],
                case_number: None,
                session: None,
            },
        )
        .await,
        Err(AppendError::Empty)
    ));
}

fn submit(id: &str) -> RequestCommand {
    RequestCommand::Submit {
        id: id.to_string(),
        number: CaseNumber {
            year: 2026,
            serial: 7,
        },
        kind: RequestKind::Comment,
        subject: Subject::parse("Λακκούβα στην οδό Ερμού").unwrap(),
        text: CaseText::parse("Μεγάλη λακκούβα μπροστά στο νούμερο 12.").unwrap(),
        desired_action: None,
        submitter: Submitter::Anonymous {
            tracking_code_sha256: "0".repeat(64),
        },
        at: chrono::Utc::now(),
        place: Default::default(),
    }
}

/// The repository implements cqrs-es's `PersistedEventRepository`: the stock framework
/// runs over it (load, decide, persist), and a second submission of the same case is
/// refused by the aggregate on the loaded state.
#[tokio::test]
async fn the_stock_cqrs_framework_runs_over_the_portal_repository() {
    let (_db, pool) = event_log_database().await;
    let protocol = Arc::new(commands::adapters::protocol::HttpProtocolSystem::new(
        "http://127.0.0.1:9",
        Duration::from_secs(1),
    ));
    let cqrs = CqrsFramework::new(
        PersistedEventStore::<_, CitizenRequest>::new_event_store(EventLogRepository::new(
            pool.clone(),
        )),
        vec![],
        RequestServices { protocol },
    );
    let id = uuid::Uuid::new_v4().to_string();
    cqrs.execute(&id, submit(&id)).await.unwrap();
    match cqrs.execute(&id, submit(&id)).await {
        Err(AggregateError::UserError(refusal)) => assert_eq!(refusal.code, "case_exists"),
        other => panic!("expected the case to refuse, got {other:?}"),
    }
    let events = eventlog::load_case_events(&pool, "CitizenRequest", &id, None)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "RequestSubmitted");
}

/// A named submission records the session's position in the append's own statement: the
/// session's row holds exactly the position the answer carries.
#[tokio::test]
async fn a_submission_records_its_sessions_position_with_the_events() {
    let app = TestApp::spawn().await;
    let token = app.citizen("maria@example.gr", "Μαρία Παππά").await;
    let (position, body) = app.complain(&token).await;
    assert_eq!(body["number"].as_str().unwrap().len(), "2026/000001".len());
    let (transaction_id, global_position): (i64, i64) = sqlx::query_as(
        "SELECT last_transaction_id, last_position FROM sessions WHERE token_sha256 = $1",
    )
    .bind(commands::accounts::token_sha256(&token))
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(
        format!("{transaction_id}.{global_position}"),
        position.to_string()
    );
}
