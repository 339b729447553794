//! The engine's hard properties, against the real PostgreSQL: a consumer never skips an
//! event when transactions commit out of order, handles every event exactly once under
//! concurrent writers and with two portal processes, a rebuilt read model equals the live
//! one, and so do all of them rebuilt in one pass (also while writers keep submitting, and
//! through the `portal` command), and the event log refuses to be changed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{json_body, TestApp, TestDatabase};
use async_trait::async_trait;
use eventlog::{
    consumer_lock_key, run_batch, BatchOutcome, Consumer, ConsumerError, ConsumerRuntime, Position,
    Progress, RecordedEvent, RuntimeConfig,
};
use projections::requests::RequestsProjection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

// ---------------------------------------------------------------------------------------
// A consumer that records what it saw, and a bare event log to run it on.
// ---------------------------------------------------------------------------------------

/// Writes every event it handles into `handled_events`, inside the batch's transaction,
/// so that its record commits exactly when its checkpoint does. No key stops a duplicate:
/// the tests count them.
struct Recorder {
    name: &'static str,
    /// Which runtime (portal process) handled the event.
    instance: &'static str,
}

#[async_trait]
impl Consumer for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        sqlx::query(
            "INSERT INTO handled_events (consumer, instance, global_position, transaction_id, \
             aggregate_id, sequence) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.name)
        .bind(self.instance)
        .bind(event.position.global_position)
        .bind(event.position.transaction_id)
        .bind(&event.aggregate_id)
        .bind(event.sequence)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// A fresh database with the event log and the recorder's table, and a pool on it.
pub(crate) async fn event_log_database() -> (TestDatabase, PgPool) {
    let db = TestDatabase::new();
    eventlog::ensure_database(&db.url).await.unwrap();
    let pool = eventlog::connect(&db.url, 20).await.unwrap();
    eventlog::migrate(&pool).await.unwrap();
    sqlx::query(
        "CREATE TABLE handled_events (
             handled_order   bigserial PRIMARY KEY,
             consumer        text   NOT NULL,
             instance        text   NOT NULL,
             global_position bigint NOT NULL,
             transaction_id  bigint NOT NULL,
             aggregate_id    text   NOT NULL,
             sequence        bigint NOT NULL
         )",
    )
    .execute(&pool)
    .await
    .unwrap();
    (db, pool)
}

/// Appends a raw event (the trigger fills in transaction id, time and hashes); answers its
/// commit-order position.
async fn append(conn: &mut PgConnection, aggregate_id: &str, sequence: i64) -> Position {
    let (global_position, transaction_id): (i64, i64) = sqlx::query_as(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES ('TestCase', $1, $2, 'Tested', '1.0', $3, '{}'::jsonb) \
         RETURNING global_position, transaction_id::text::bigint",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .bind(json!({"case": aggregate_id, "sequence": sequence}))
    .fetch_one(conn)
    .await
    .unwrap();
    Position {
        transaction_id,
        global_position,
    }
}

/// The global positions `consumer` handled, in the order it handled them.
async fn handled(pool: &PgPool, consumer: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT global_position FROM handled_events WHERE consumer = $1 ORDER BY handled_order",
    )
    .bind(consumer)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn checkpoint(pool: &PgPool, consumer: &str) -> Position {
    let (transaction_id, global_position): (i64, i64) = sqlx::query_as(
        "SELECT last_transaction_id::text::bigint, last_position FROM consumer_checkpoints \
         WHERE name = $1",
    )
    .bind(consumer)
    .fetch_one(pool)
    .await
    .unwrap();
    Position {
        transaction_id,
        global_position,
    }
}

/// Runs batches until `consumer` has handled `expected` events. Transaction ids are
/// cluster-wide, so a transaction of another test's database can hold events back for a
/// moment: hence a loop with a deadline rather than a fixed number of batches.
async fn drain(pool: &PgPool, consumer: &Recorder, progress: &Progress, expected: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        run_batch(pool, consumer, 100, progress).await.unwrap();
        let seen = handled(pool, consumer.name).await.len();
        if seen >= expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} handled {seen} of {expected} events after 10 s",
            consumer.name
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts that `consumer` handled every event of the log exactly once and in commit-safe
/// order (transaction id, then global position); answers how many.
async fn assert_handled_exactly_once(pool: &PgPool, consumer: &str) -> i64 {
    let (events, handled, distinct, missing): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events),
                (SELECT count(*) FROM handled_events WHERE consumer = $1),
                (SELECT count(DISTINCT global_position) FROM handled_events WHERE consumer = $1),
                (SELECT count(*) FROM events e WHERE NOT EXISTS (
                     SELECT 1 FROM handled_events h
                      WHERE h.consumer = $1 AND h.global_position = e.global_position))",
    )
    .bind(consumer)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        missing, 0,
        "{consumer} skipped {missing} of {events} events"
    );
    assert_eq!(
        handled,
        distinct,
        "{consumer} handled {} events more than once",
        handled - distinct
    );
    assert_eq!(handled, events);
    let order: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id, global_position FROM handled_events WHERE consumer = $1 \
         ORDER BY handled_order",
    )
    .bind(consumer)
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{consumer} did not handle events in commit-safe order"
    );
    events
}

/// One writer: `events` events in transactions of one to three events each, sleeping
/// inside the transaction between inserts so that transactions interleave; one in ten
/// transactions rolls back (its positions become gaps). Answers the events it committed.
async fn write_events(pool: PgPool, writer: usize, events: usize) -> usize {
    let mut rng = StdRng::seed_from_u64(writer as u64);
    let mut committed = 0;
    let mut transaction = 0;
    while committed < events {
        transaction += 1;
        let aggregate_id = format!("writer{writer}-tx{transaction}");
        let size = rng.gen_range(1..=3).min(events - committed);
        let mut tx = pool.begin().await.unwrap();
        for sequence in 1..=size {
            append(&mut tx, &aggregate_id, sequence as i64).await;
            let pause = rng.gen_range(0..1500);
            tokio::time::sleep(Duration::from_micros(pause)).await;
        }
        if rng.gen_ratio(1, 10) {
            tx.rollback().await.unwrap();
        } else {
            tx.commit().await.unwrap();
            committed += size;
        }
    }
    committed
}

async fn run_writers(pool: &PgPool, writers: usize, events_each: usize) -> usize {
    let tasks: Vec<_> = (0..writers)
        .map(|w| tokio::spawn(write_events(pool.clone(), w, events_each)))
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

/// Waits until `consumer` has handled `expected` events (by any runtime).
async fn wait_until_handled(pool: &PgPool, consumer: &str, expected: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let seen = handled(pool, consumer).await.len();
        if seen >= expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{consumer} handled only {seen} of {expected} events after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Out-of-order commits.
// ---------------------------------------------------------------------------------------

/// Transaction A takes the lower global position, B the higher one and commits first. A
/// reader keyed on `global_position > checkpoint` would read B, move its checkpoint past
/// A's position and never see A. The consumer instead holds B back while A runs.
#[tokio::test]
async fn an_event_whose_transaction_commits_late_is_not_skipped() {
    let (_db, pool) = event_log_database().await;
    let consumer = Recorder {
        name: "out_of_order",
        instance: "one",
    };
    ConsumerRuntime::register(&pool, consumer.name)
        .await
        .unwrap();
    let progress = Progress::new(pool.clone());

    let mut tx_a = pool.begin().await.unwrap();
    let a = append(&mut tx_a, "case-a", 1).await;
    let mut tx_b = pool.begin().await.unwrap();
    let b = append(&mut tx_b, "case-b", 1).await;
    assert!(a.global_position < b.global_position);
    tx_b.commit().await.unwrap();

    // What a naive reader sees now: only B. Its checkpoint would move to B's position.
    let naive_first: Vec<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events WHERE global_position > 0 ORDER BY global_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(naive_first, vec![b.global_position]);
    let naive_checkpoint = b.global_position;

    // The consumer's batch while A is still open handles nothing: B is held back.
    let outcome = run_batch(&pool, &consumer, 100, &progress).await.unwrap();
    assert_eq!(
        outcome,
        BatchOutcome::Handled {
            count: 0,
            held_back: true
        },
        "B must wait while A, which holds a lower position, is still running"
    );
    assert!(handled(&pool, consumer.name).await.is_empty());
    assert_eq!(checkpoint(&pool, consumer.name).await, Position::START);

    tx_a.commit().await.unwrap();

    // The naive reader's next read starts after B and never sees A.
    let naive_next: Vec<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events WHERE global_position > $1 ORDER BY global_position",
    )
    .bind(naive_checkpoint)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        naive_next.is_empty() && a.global_position < naive_checkpoint,
        "a naive reader would have skipped A for ever"
    );

    // The consumer handles both, each once, A first (commit-safe order).
    drain(&pool, &consumer, &progress, 2).await;
    assert_eq!(
        handled(&pool, consumer.name).await,
        vec![a.global_position, b.global_position]
    );
    let again = run_batch(&pool, &consumer, 100, &progress).await.unwrap();
    assert!(matches!(again, BatchOutcome::Handled { count: 0, .. }));
    assert_eq!(handled(&pool, consumer.name).await.len(), 2);
    assert_eq!(checkpoint(&pool, consumer.name).await, b);
    assert_handled_exactly_once(&pool, consumer.name).await;
}

/// The mirror case: A starts first (older transaction id) but writes its event after B
/// has written and committed, so A's event has the *higher* global position and the
/// *lower* transaction id. Still held back while A runs, still handled, and first.
#[tokio::test]
async fn an_older_transaction_that_writes_late_is_not_skipped() {
    let (_db, pool) = event_log_database().await;
    let consumer = Recorder {
        name: "older_writes_late",
        instance: "one",
    };
    ConsumerRuntime::register(&pool, consumer.name)
        .await
        .unwrap();
    let progress = Progress::new(pool.clone());

    let mut tx_a = pool.begin().await.unwrap();
    // Something else A does first gives it its transaction id.
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx_a)
        .await
        .unwrap();
    let mut tx_b = pool.begin().await.unwrap();
    let b = append(&mut tx_b, "case-b", 1).await;
    tx_b.commit().await.unwrap();
    let a = append(&mut tx_a, "case-a", 1).await;
    assert!(a.global_position > b.global_position);
    assert!(a.transaction_id < b.transaction_id);

    let outcome = run_batch(&pool, &consumer, 100, &progress).await.unwrap();
    assert_eq!(
        outcome,
        BatchOutcome::Handled {
            count: 0,
            held_back: true
        }
    );
    tx_a.commit().await.unwrap();

    drain(&pool, &consumer, &progress, 2).await;
    assert_eq!(
        handled(&pool, consumer.name).await,
        vec![a.global_position, b.global_position]
    );
    assert_eq!(checkpoint(&pool, consumer.name).await, b);
    assert_handled_exactly_once(&pool, consumer.name).await;
}

// ---------------------------------------------------------------------------------------
// Concurrency.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_concurrent_writers_every_event_is_handled_exactly_once() {
    let (_db, pool) = event_log_database().await;
    let name = "stress";
    let mut runtime = ConsumerRuntime::new(
        pool.clone(),
        RuntimeConfig {
            batch_size: 64,
            ..RuntimeConfig::default()
        },
        Progress::new(pool.clone()),
    );
    runtime
        .start(Arc::new(Recorder {
            name,
            instance: "one",
        }))
        .await
        .unwrap();

    let written = run_writers(&pool, 8, 200).await;
    assert_eq!(written, 8 * 200);
    wait_until_handled(&pool, name, written).await;
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(assert_handled_exactly_once(&pool, name).await, 1600);

    // The interleaving the test is about did happen: transactions whose position ranges
    // overlap, so some committed out of global-position order.
    let overlapping: i64 = sqlx::query_scalar(
        "WITH t AS (SELECT transaction_id, min(global_position) AS lo, max(global_position) AS hi
                      FROM events GROUP BY transaction_id)
         SELECT count(*) FROM t t1 JOIN t t2 ON t1.lo < t2.lo AND t2.lo < t1.hi",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(overlapping > 0, "the writers never interleaved");
    drop(runtime);
}

/// Two runtimes on two pools, as two portal processes behind a load balancer would run
/// them: the advisory lock lets only one handle a batch at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_portal_processes_handle_every_event_exactly_once() {
    let (db, pool) = event_log_database().await;
    let name = "single_instance";

    // The lock, deterministically: while someone holds it, a batch does nothing.
    ConsumerRuntime::register(&pool, name).await.unwrap();
    {
        let mut holder = pool.begin().await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(consumer_lock_key(name))
            .execute(&mut *holder)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        append(&mut conn, "before-start", 1).await;
        let recorder = Recorder {
            name,
            instance: "probe",
        };
        let outcome = run_batch(&pool, &recorder, 100, &Progress::new(pool.clone()))
            .await
            .unwrap();
        assert_eq!(outcome, BatchOutcome::Busy);
        holder.rollback().await.unwrap();
    }

    let mut runtimes = Vec::new();
    for instance in ["one", "two"] {
        let own_pool = eventlog::connect(&db.url, 5).await.unwrap();
        let mut runtime = ConsumerRuntime::new(
            own_pool.clone(),
            RuntimeConfig {
                batch_size: 16,
                ..RuntimeConfig::default()
            },
            Progress::new(own_pool),
        );
        runtime
            .start(Arc::new(Recorder { name, instance }))
            .await
            .unwrap();
        runtimes.push(runtime);
    }

    let written = run_writers(&pool, 4, 150).await + 1;
    wait_until_handled(&pool, name, written).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        assert_handled_exactly_once(&pool, name).await,
        written as i64
    );
    let split: Vec<(String, i64)> = sqlx::query_as(
        "SELECT instance, count(*) FROM handled_events GROUP BY instance ORDER BY instance",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    eprintln!("events handled per process: {split:?}");
    assert_eq!(
        split.len(),
        2,
        "both processes must have run batches (they competed for the lock): {split:?}"
    );
    drop(runtimes);
}

// ---------------------------------------------------------------------------------------
// Rebuild == live.
// ---------------------------------------------------------------------------------------

/// Every row of the requests read model, all columns, in key order.
async fn read_model_snapshot(pool: &PgPool) -> (Value, Value) {
    sqlx::query_as(
        "SELECT (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]')
                   FROM request_cases c),
                (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.case_id, t.sequence), '[]')
                   FROM request_timeline t)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits until the requests read model has reached the head of the log.
async fn caught_up(app: &TestApp) {
    let head: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_optional(&app.state.pool)
    .await
    .unwrap();
    let Some((transaction_id, global_position)) = head else {
        return;
    };
    let head = Position {
        transaction_id,
        global_position,
    };
    assert!(
        app.state
            .progress
            .wait_for(projections::REQUEST_READS, head, Duration::from_secs(10))
            .await,
        "the requests read model did not reach {head} in 10 s"
    );
}

async fn request_event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'CitizenRequest'")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn table_oid(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar("SELECT $1::regclass::oid::bigint")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A named submission of `kind`; answers the case id.
async fn submit_named(app: &TestApp, token: &str, kind: &str, subject: &str) -> String {
    let r = app
        .post(
            "/api/v1/requests",
            Some(token),
            json!({"kind": kind, "subject": subject, "text": "Περιγραφή του θέματος.", "desired_action": "Να γίνει έλεγχος."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    json_body(r).await["id"].as_str().unwrap().to_string()
}

/// An anonymous submission; answers the case id.
async fn submit_anonymous(app: &TestApp, subject: &str) -> String {
    let r = app
        .post(
            "/api/v1/requests",
            None,
            json!({"subject": subject, "text": "Ανώνυμο σχόλιο.", "desired_action": "Ενημέρωση."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    json_body(r).await["id"].as_str().unwrap().to_string()
}

/// A clerk's (or the citizen's reopen) action; must succeed.
async fn act(app: &TestApp, token: &str, path: String, body: Value) {
    let r = app.post(&path, Some(token), body).await;
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        r.text().await.unwrap()
    );
}

async fn staff_act(app: &TestApp, clerk: &str, id: &str, action: &str, body: Value) {
    act(
        app,
        clerk,
        format!("/api/v1/staff/requests/{id}/{action}"),
        body,
    )
    .await;
}

/// Several citizens, anonymous visitors and a clerk who reviews, changes status, answers,
/// registers in the protocol, closes; a citizen reopens.
async fn realistic_history(app: &TestApp) -> usize {
    let clerk = app
        .staff(
            "clerk",
            "ypallilos@dimos.example.gr",
            "Γιώργος Παπαδόπουλος",
        )
        .await;
    let citizens = [
        ("maria@example.gr", "Μαρία Κωνσταντίνου"),
        ("nikos@example.gr", "Νίκος Αλεξίου"),
        ("eleni@example.gr", "Ελένη Δημητρίου"),
    ];
    let mut named = Vec::new();
    for (i, (email, full_name)) in citizens.iter().enumerate() {
        let token = app.citizen(email, full_name).await;
        for (j, kind) in ["request", "complaint", "proposal"].iter().enumerate() {
            if (i + j) % 3 == 2 {
                continue;
            }
            let subject = format!("Λακκούβα στην οδό Ερμού {i}{j}");
            named.push((
                submit_named(app, &token, kind, &subject).await,
                token.clone(),
            ));
        }
    }
    let mut anonymous = Vec::new();
    for i in 0..3 {
        anonymous.push(submit_anonymous(app, &format!("Σβηστός φανοστάτης {i}")).await);
    }

    // The full life of a case, with a reopen.
    let (case, owner) = &named[0];
    staff_act(app, &clerk, case, "review", json!({})).await;
    staff_act(
        app,
        &clerk,
        case,
        "status",
        json!({"status": "in_progress"}),
    )
    .await;
    staff_act(
        app,
        &clerk,
        case,
        "answer",
        json!({"text": "Η βλάβη αποκαταστάθηκε."}),
    )
    .await;
    staff_act(app, &clerk, case, "protocol", json!({})).await;
    staff_act(app, &clerk, case, "close", json!({"reason": "done"})).await;
    act(
        app,
        owner,
        format!("/api/v1/my/requests/{case}/reopen"),
        json!({"reason": "Η λακκούβα άνοιξε ξανά."}),
    )
    .await;
    staff_act(app, &clerk, case, "review", json!({})).await;
    staff_act(
        app,
        &clerk,
        case,
        "close",
        json!({"reason": "not_competent", "note": "Διαβιβάστηκε στην Περιφέρεια Αττικής."}),
    )
    .await;

    let (case, _) = &named[1];
    staff_act(app, &clerk, case, "review", json!({})).await;
    staff_act(app, &clerk, case, "status", json!({"status": "on_hold"})).await;
    staff_act(
        app,
        &clerk,
        case,
        "status",
        json!({"status": "in_progress"}),
    )
    .await;
    staff_act(app, &clerk, case, "protocol", json!({})).await;
    staff_act(
        app,
        &clerk,
        case,
        "close",
        json!({"reason": "rejected", "note": "Εκτός αρμοδιότητας του Δήμου."}),
    )
    .await;

    let (case, _) = &named[2];
    staff_act(app, &clerk, case, "review", json!({})).await;
    staff_act(
        app,
        &clerk,
        case,
        "answer",
        json!({"text": "Προγραμματίστηκε αυτοψία."}),
    )
    .await;

    let (case, _) = &named[3];
    staff_act(app, &clerk, case, "review", json!({})).await;
    staff_act(
        app,
        &clerk,
        case,
        "close",
        json!({"reason": "duplicate", "note": "Ίδιο με το 2026/000001."}),
    )
    .await;

    let case = &anonymous[0];
    staff_act(app, &clerk, case, "review", json!({})).await;
    staff_act(app, &clerk, case, "protocol", json!({})).await;
    staff_act(
        app,
        &clerk,
        case,
        "answer",
        json!({"text": "Ευχαριστούμε για την ενημέρωση."}),
    )
    .await;
    staff_act(app, &clerk, case, "close", json!({"reason": "done"})).await;

    let case = &anonymous[1];
    staff_act(app, &clerk, case, "review", json!({})).await;
    staff_act(app, &clerk, case, "status", json!({"status": "on_hold"})).await;

    named.len() + anonymous.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_read_model_equals_the_live_one() {
    let app = TestApp::spawn().await;
    let cases = realistic_history(&app).await;
    caught_up(&app).await;
    let pool = &app.state.pool;

    let live = read_model_snapshot(pool).await;
    let events = request_event_count(pool).await;
    assert_eq!(live.0.as_array().unwrap().len(), cases);
    assert_eq!(live.1.as_array().unwrap().len() as i64, events);
    let reopened = live.0.as_array().unwrap().iter().find(|c| {
        c["times_reopened"] == json!(1)
            && c["status"] == json!("closed")
            && c["close_reason"] == json!("not_competent")
            && c["protocol_number"].is_string()
    });
    assert!(reopened.is_some(), "the history did not happen: {}", live.0);

    let before = table_oid(pool, "request_cases").await;
    let report = projections::rebuild(
        pool,
        std::sync::Arc::new(RequestsProjection),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(report.events as i64, events);
    assert_ne!(
        table_oid(pool, "request_cases").await,
        before,
        "the tables were not replaced"
    );
    let rebuilt = read_model_snapshot(pool).await;
    assert_eq!(rebuilt.0, live.0, "request_cases differ after the rebuild");
    assert_eq!(
        rebuilt.1, live.1,
        "request_timeline differs after the rebuild"
    );

    // The live consumer carries on from the rebuild's checkpoint.
    let token = app
        .citizen("late@example.gr", "Αργοπορημένος Πολίτης")
        .await;
    let id = submit_named(&app, &token, "request", "Μετά την ανακατασκευή").await;
    caught_up(&app).await;
    let r = app
        .get(&format!("/api/v1/my/requests/{id}"), Some(&token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        read_model_snapshot(pool).await.0.as_array().unwrap().len(),
        cases + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_while_citizens_keep_submitting_loses_nothing() {
    let app = Arc::new(TestApp::spawn().await);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (app, stop, acknowledged) = (app.clone(), stop.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = submit_anonymous(&app, &format!("Θόρυβος {w}/{n}")).await;
                    acknowledged.lock().unwrap().push(id);
                }
            })
        })
        .collect();
    let acknowledged_count = || acknowledged.lock().unwrap().len();
    while acknowledged_count() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let pool = &app.state.pool;
    let before = acknowledged_count();
    for _ in 0..3 {
        projections::rebuild(
            pool,
            std::sync::Arc::new(RequestsProjection),
            &mut |_, _| {},
        )
        .await
        .unwrap();
    }
    let during = acknowledged_count() - before;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(during > 0, "no submission overlapped the rebuilds");

    caught_up(&app).await;
    let in_log: BTreeSet<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE event_type = 'RequestSubmitted'")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let in_read_model: BTreeSet<String> = sqlx::query_scalar("SELECT id FROM request_cases")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let acknowledged: BTreeSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert_eq!(in_read_model, in_log, "the read model and the log disagree");
    assert!(acknowledged.is_subset(&in_read_model));
    let timeline: i64 = sqlx::query_scalar("SELECT count(*) FROM request_timeline")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(timeline, request_event_count(pool).await);

    // And the result is exactly what a quiet rebuild gives.
    let live = read_model_snapshot(pool).await;
    projections::rebuild(
        pool,
        std::sync::Arc::new(RequestsProjection),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(read_model_snapshot(pool).await, live);
}

/// Every read model's checkpoint and schema version.
async fn checkpoints_of_read_models(pool: &PgPool) -> Vec<(String, i64, i64, i32)> {
    let names: Vec<&str> = projections::all().iter().map(|m| m.name()).collect();
    sqlx::query_as(
        "SELECT name, last_transaction_id::text::bigint, last_position, schema_version \
         FROM consumer_checkpoints WHERE name = ANY($1) ORDER BY name",
    )
    .bind(&names)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The last event in commit order, as (transaction id, global position).
async fn log_head(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_model_rebuilt_in_one_pass_equals_the_live_ones() {
    let app = TestApp::spawn().await;
    let cases = realistic_history(&app).await;
    // A business representative, for the certifications and business_timeline models.
    let clerk = app
        .staff("clerk", "grammateia@dimos.example.gr", "Άννα Γεωργίου")
        .await;
    app.citizen("edra@example.gr", "Κώστας Ιωάννου").await;
    app.certify(
        &clerk,
        "edra@example.gr",
        Some(("ΙΩΑΝΝΟΥ ΚΑΙ ΣΙΑ Ο.Ε.", "094259216")),
    )
    .await;
    app.read_models_caught_up().await;
    let pool = &app.state.pool;

    let live = crate::common::every_read_model_table(pool).await;
    let with_rows: Vec<_> = live
        .iter()
        .filter(|(_, rows)| !rows.as_array().unwrap().is_empty())
        .map(|(table, _)| *table)
        .collect();
    for table in ["request_cases", "request_timeline", "certifications"] {
        assert!(
            with_rows.contains(&table),
            "{table} is empty: {with_rows:?}"
        );
    }
    let models = projections::all();
    let tables: Vec<&str> = models.iter().flat_map(|m| m.tables()).copied().collect();
    let mut oids_before = Vec::new();
    for table in &tables {
        oids_before.push(table_oid(pool, table).await);
    }
    let shape_before = public_tables_and_indexes(pool).await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();

    let mut progress = Vec::new();
    let report = projections::rebuild_all(pool, &models, &mut |done, total| {
        progress.push((done, total))
    })
    .await
    .unwrap();
    assert_eq!(
        report.models,
        models.iter().map(|m| m.name()).collect::<Vec<_>>()
    );
    assert_eq!(report.events as i64, events, "the log is read once");
    assert_eq!(progress.first(), Some(&(0, events as u64)));
    assert_eq!(progress.last(), Some(&(events as u64, events as u64)));
    assert!(
        progress.windows(2).all(|w| w[0].0 <= w[1].0),
        "{progress:?}"
    );

    for (table, before) in tables.iter().zip(oids_before) {
        assert_ne!(
            table_oid(pool, table).await,
            before,
            "{table} was not replaced"
        );
    }
    assert_eq!(crate::common::every_read_model_table(pool).await, live);
    assert_eq!(public_tables_and_indexes(pool).await, shape_before);
    let scratch: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(scratch, 0, "a scratch schema was left behind");
    // Every model's checkpoint is the head of the log, with its current schema version.
    let head = log_head(pool).await;
    let checkpoints = checkpoints_of_read_models(pool).await;
    assert_eq!(checkpoints.len(), models.len());
    for (name, transaction_id, position, version) in checkpoints {
        assert_eq!((transaction_id, position), head, "{name}");
        let model = models.iter().find(|m| m.name() == name).unwrap();
        assert_eq!(version, model.schema_version(), "{name}");
    }

    // The live consumers carry on from the rebuild's checkpoints.
    let token = app
        .citizen("late@example.gr", "Αργοπορημένος Πολίτης")
        .await;
    let id = submit_named(&app, &token, "request", "Μετά την ανακατασκευή").await;
    app.read_models_caught_up().await;
    let r = app
        .get(&format!("/api/v1/my/requests/{id}"), Some(&token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        read_model_snapshot(pool).await.0.as_array().unwrap().len(),
        cases + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_of_every_read_model_while_citizens_keep_submitting_loses_nothing() {
    let app = Arc::new(TestApp::spawn().await);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (app, stop, acknowledged) = (app.clone(), stop.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = submit_anonymous(&app, &format!("Θόρυβος {w}/{n}")).await;
                    acknowledged.lock().unwrap().push(id);
                }
            })
        })
        .collect();
    let acknowledged_count = || acknowledged.lock().unwrap().len();
    while acknowledged_count() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let pool = &app.state.pool;
    let models = projections::all();
    let before = acknowledged_count();
    for _ in 0..3 {
        projections::rebuild_all(pool, &models, &mut |_, _| {})
            .await
            .unwrap();
    }
    let during = acknowledged_count() - before;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(during > 0, "no submission overlapped the rebuilds");

    app.read_models_caught_up().await;
    let in_log: BTreeSet<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE event_type = 'RequestSubmitted'")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let in_read_model: BTreeSet<String> = sqlx::query_scalar("SELECT id FROM request_cases")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let acknowledged: BTreeSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert_eq!(in_read_model, in_log, "the read model and the log disagree");
    assert!(acknowledged.is_subset(&in_read_model));
    let timeline: i64 = sqlx::query_scalar("SELECT count(*) FROM request_timeline")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(timeline, request_event_count(pool).await);
    // The stored checkpoints follow the positions within a second (those of models that
    // read none of the last events move in memory first).
    let head = log_head(pool).await;
    let started = std::time::Instant::now();
    loop {
        let behind: Vec<_> = checkpoints_of_read_models(pool)
            .await
            .into_iter()
            .filter(|(_, transaction_id, position, _)| (*transaction_id, *position) != head)
            .collect();
        if behind.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "checkpoints not at the head {head:?}: {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // And the result is exactly what a quiet rebuild gives.
    let live = crate::common::every_read_model_table(pool).await;
    projections::rebuild_all(pool, &models, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(crate::common::every_read_model_table(pool).await, live);
}

/// Every table and index in `public` (name, kind, persistence: `p` logged, `u` unlogged).
async fn public_tables_and_indexes(pool: &sqlx::PgPool) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT relname::text, relkind::text, relpersistence::text FROM pg_class \
         WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i') \
         ORDER BY relname",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rebuild_command_leaves_identical_tables() {
    let app = TestApp::spawn().await;
    let cases = realistic_history(&app).await;
    caught_up(&app).await;
    let pool = &app.state.pool;
    let live = read_model_snapshot(pool).await;
    assert_eq!(live.0.as_array().unwrap().len(), cases);
    let before = table_oid(pool, "request_cases").await;
    let shape_before = public_tables_and_indexes(pool).await;

    let out = crate::common::portal_command(&app, &["projections", "rebuild", "requests"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rebuild failed: {stderr}");
    assert!(
        stderr.contains("requests:"),
        "no report of the rebuild: {stderr}"
    );
    assert_ne!(table_oid(pool, "request_cases").await, before);
    assert_eq!(read_model_snapshot(pool).await, live);
    // Built unlogged and without its secondary indexes, swapped in logged and indexed: the
    // same tables and indexes as before, every one of them logged.
    assert_eq!(public_tables_and_indexes(pool).await, shape_before);
    assert!(
        shape_before
            .iter()
            .all(|(_, _, persistence)| persistence == "p"),
        "{shape_before:?}"
    );

    // Without a name: every read model in one pass, one report line naming them all.
    let everything = crate::common::every_read_model_table(pool).await;
    let out = crate::common::portal_command(&app, &["projections", "rebuild"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rebuild failed: {stderr}");
    let names: Vec<&str> = projections::all().iter().map(|m| m.name()).collect();
    assert!(
        stderr.contains(&format!("{}: ", names.join(", "))) && stderr.contains("events/s"),
        "no report of the rebuild of every model: {stderr}"
    );
    assert_eq!(
        crate::common::every_read_model_table(pool).await,
        everything
    );
    assert_eq!(public_tables_and_indexes(pool).await, shape_before);

    let out =
        crate::common::portal_command(&app, &["projections", "rebuild", "no_such_model"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unknown model must fail");
    assert!(
        stderr.contains("no_such_model") && stderr.contains("requests"),
        "the message must name the read models: {stderr}"
    );
    assert_eq!(read_model_snapshot(pool).await, live);
}

// ---------------------------------------------------------------------------------------
// Append-only.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_event_log_refuses_update_delete_and_truncate() {
    let (_db, pool) = event_log_database().await;
    let mut conn = pool.acquire().await.unwrap();
    append(&mut conn, "case-1", 1).await;
    append(&mut conn, "case-1", 2).await;
    let original: Value =
        sqlx::query_scalar("SELECT jsonb_agg(to_jsonb(e) ORDER BY global_position) FROM events e")
            .fetch_one(&pool)
            .await
            .unwrap();

    for statement in [
        "UPDATE events SET payload = '{\"altered\": true}' WHERE sequence = 1",
        "UPDATE events SET hash = prev_hash",
        "DELETE FROM events WHERE sequence = 2",
        "DELETE FROM events",
        "TRUNCATE events",
        "TRUNCATE events CASCADE",
    ] {
        let error = sqlx::query(statement)
            .execute(&pool)
            .await
            .expect_err(statement);
        let db_error = error
            .as_database_error()
            .unwrap_or_else(|| panic!("{statement}: {error}"));
        assert_eq!(db_error.code().as_deref(), Some("42501"), "{statement}");
        assert!(
            db_error.message().contains("append-only"),
            "{statement}: {}",
            db_error.message()
        );
    }
    let after: Value =
        sqlx::query_scalar("SELECT jsonb_agg(to_jsonb(e) ORDER BY global_position) FROM events e")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(after, original);
    assert_eq!(after.as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// One loop for every consumer.
// ---------------------------------------------------------------------------------------

/// A recorder that reads only `TestCase` events.
struct Picky(Recorder);

#[async_trait]
impl Consumer for Picky {
    fn name(&self) -> &'static str {
        self.0.name
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["TestCase"])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.0.handle(conn, event).await
    }
}

/// A consumer that cannot apply any event.
struct Broken;

#[async_trait]
impl Consumer for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }

    async fn handle(
        &self,
        _conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        Err(ConsumerError::decode(
            event,
            "this consumer cannot apply anything",
        ))
    }
}

/// Appends an event of another aggregate type than `TestCase`.
async fn append_other(conn: &mut PgConnection, aggregate_id: &str) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES ('OtherCase', $1, 1, 'Other', '1.0', '{}'::jsonb, '{}'::jsonb)",
    )
    .bind(aggregate_id)
    .execute(conn)
    .await
    .unwrap();
}

/// One loop reads each batch once and feeds every consumer the aggregate types it reads: a
/// consumer of `TestCase` handles only those, yet its position (and, within a second, its
/// stored checkpoint) passes the others; a consumer that fails on every event keeps its
/// checkpoint and holds no one else back.
#[tokio::test]
async fn one_loop_feeds_each_consumer_its_types_and_a_failing_one_holds_no_one_back() {
    let (_db, pool) = event_log_database().await;
    let progress = Progress::new(pool.clone());
    let mut runtime =
        ConsumerRuntime::new(pool.clone(), RuntimeConfig::default(), progress.clone());
    runtime.start(Arc::new(Broken)).await.unwrap();
    runtime
        .start(Arc::new(Picky(Recorder {
            name: "picky",
            instance: "a",
        })))
        .await
        .unwrap();
    runtime
        .start(Arc::new(Recorder {
            name: "everything",
            instance: "a",
        }))
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    for i in 0..10 {
        append(&mut conn, &format!("case-{i}"), 1).await;
        append_other(&mut conn, &format!("other-{i}")).await;
    }
    // The log ends with an event the picky consumer does not read.
    let head = eventlog::log_head(&pool).await.unwrap().unwrap();
    assert!(
        progress
            .wait_for(&["picky", "everything"], head, Duration::from_secs(10))
            .await,
        "both reached the head"
    );
    assert_eq!(handled(&pool, "picky").await.len(), 10);
    assert_eq!(handled(&pool, "everything").await.len(), 20);
    let started = std::time::Instant::now();
    while checkpoint(&pool, "picky").await != head {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the picky consumer's checkpoint follows its position"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(checkpoint(&pool, "everything").await, head);
    assert_eq!(checkpoint(&pool, "broken").await, Position::START);
    assert!(handled(&pool, "broken").await.is_empty());
}
