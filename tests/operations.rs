//! Operations (issue 14): `/metrics`, `/readyz`, a consumer that cannot handle an event
//! (recorded, shown, retried, skipped by an operator's recorded decision), and start-up
//! against a database that does not answer.

use std::time::{Duration, Instant};

use cqrs_es::persist::SerializedEvent;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{eventually, json_body, portal_command, TestApp};

async fn scrape(app: &TestApp) -> String {
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

/// The value of the sample `series` (name and labels exactly as written) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_count_requests_commands_events_and_read_the_state_of_the_portal() {
    let app = TestApp::spawn().await;
    let maria = app
        .citizen("maria.metrics@example.gr", "Μαρία Μετρικού")
        .await;
    let (_, case) = app.complain(&maria).await;
    let id = case["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/my/requests/{id}"), Some(&maria))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/no/such/page/12345", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    // Counted as it happened (the recorder is the process's: other tests' requests may
    // add to these, never take away).
    let created = sample(
        &text,
        r#"portal_http_requests_total{method="POST",route="/api/v1/requests",status="201"}"#,
    );
    assert!(created >= Some(1.0), "{text}");
    assert!(text.contains(
        r#"portal_http_request_duration_seconds_bucket{method="POST",route="/api/v1/requests",le="0.005"}"#
    ));
    assert!(
        sample(
            &text,
            r#"portal_http_requests_total{method="GET",route="/api/v1/my/requests/{id}",status="200"}"#
        ) >= Some(1.0)
    );
    assert!(
        sample(
            &text,
            r#"portal_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ) >= Some(1.0)
    );
    // Routes are patterns: no case id and no path a client made up is a label.
    assert!(!text.contains(id) && !text.contains("/no/such/page"));
    assert!(
        sample(
            &text,
            r#"portal_commands_total{aggregate="CitizenRequest",outcome="ok"}"#
        ) >= Some(1.0)
    );
    assert!(
        sample(
            &text,
            r#"portal_events_appended_total{aggregate="CitizenRequest"}"#
        ) >= Some(1.0)
    );
    // Read from this portal's database at the scrape.
    for consumer in ["requests", "payments", "mail_notices", "payment_process"] {
        assert!(
            sample(
                &text,
                &format!(r#"portal_consumer_lag_seconds{{consumer="{consumer}"}}"#)
            )
            .is_some(),
            "{consumer} missing in {text}"
        );
        assert_eq!(
            sample(
                &text,
                &format!(r#"portal_consumer_stuck{{consumer="{consumer}"}}"#)
            ),
            Some(0.0)
        );
    }
    assert!(
        sample(&text, r#"portal_consumer_position{consumer="requests"}"#) >= Some(1.0),
        "{text}"
    );
    for outbox in [
        "mail",
        "protocol_registrations",
        "fine_payment_notices",
        "tax_debt_notices",
        "declaration_outcomes",
    ] {
        assert!(sample(
            &text,
            &format!(r#"portal_outbox_depth{{outbox="{outbox}"}}"#)
        )
        .is_some());
        assert!(sample(
            &text,
            &format!(r#"portal_outbox_oldest_age_seconds{{outbox="{outbox}"}}"#)
        )
        .is_some());
    }
    for outbox in [
        "fine_payment_notices",
        "tax_debt_notices",
        "declaration_outcomes",
    ] {
        assert_eq!(
            sample(
                &text,
                &format!(r#"portal_refused_notices{{outbox="{outbox}"}}"#)
            ),
            Some(0.0)
        );
    }
    assert_eq!(
        sample(&text, r#"portal_payments{status="succeeded"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&text, "portal_db_pool_max_connections"), Some(10.0));
    assert!(sample(&text, r#"portal_db_pool_connections{state="idle"}"#).is_some());
    assert_eq!(sample(&text, "portal_database_up"), Some(1.0));
    assert_eq!(sample(&text, "portal_metrics_scrape_complete"), Some(1.0));

    // Bad scrape paths and methods.
    let r = app.get("/metrics/extra", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(r).await["error"]["code"], "not_found");
    let r = app.post("/metrics", None, json!({})).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = app.get("/readyz/now", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_ask_for_the_operators_token_when_one_is_set() {
    let app = TestApp::spawn_with(|c| {
        c.metrics_token = Some(secrecy::SecretString::from("metrics-secret-2026"));
    })
    .await;
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = app.get("/metrics", Some("wrong")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.get("/metrics", Some("metrics-secret-2026")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("portal_database_up 1"));
}

/// `portal projections skip NAME --position N --reason R`.
async fn skip(app: &TestApp, name: &str, position: i64, reason: &str) -> std::process::Output {
    let position = position.to_string();
    let args = [
        "projections",
        "skip",
        name,
        "--position",
        &position,
        "--reason",
        reason,
    ];
    portal_command(app, &args).await
}

/// An event of a `CitizenRequest` that no consumer of requests can decode.
fn undecodable(case_id: &str, sequence: usize) -> SerializedEvent {
    SerializedEvent::new(
        case_id.to_string(),
        sequence,
        "CitizenRequest".to_string(),
        "RequestTakenIntoReview".to_string(),
        "1.0".to_string(),
        json!({"type": "RequestTakenIntoReview", "data": {"at": "yesterday"}}),
        json!({"actor_id": "test", "correlation_id": "broken-import"}),
    )
}

#[tokio::test]
async fn a_consumer_that_cannot_handle_an_event_is_recorded_shown_and_passed_over_only_by_an_operator(
) {
    let app = TestApp::spawn_with(|c| c.ready_max_lag = Duration::from_secs(1)).await;
    let pool = &app.state.pool;
    let maria = app
        .citizen("maria.stuck@example.gr", "Μαρία Κολλημένη")
        .await;
    let (_, first) = app.complain(&maria).await;
    let first_id = first["id"].as_str().unwrap().to_string();
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["status"], "ready");

    // A broken event enters the log (say, from a faulty import).
    let broken = [undecodable(&first_id, 2)];
    let appended = eventlog::append(
        pool,
        eventlog::Append {
            events: &broken,
            case_number: None,
            session: None,
        },
    )
    .await
    .unwrap();
    let position = appended.position.global_position;

    // The runtime narrows down to the event and records it, for the consumer it breaks.
    eventually("the failure is recorded", || async {
        let failures = eventlog::failures(pool).await.unwrap();
        failures
            .iter()
            .any(|(n, f)| n == "requests" && f.position.global_position == position)
    })
    .await;
    let failures = eventlog::failures(pool).await.unwrap();
    let (_, failure) = failures.iter().find(|(n, _)| n == "requests").unwrap();
    assert_eq!(failure.aggregate_id, first_id);
    assert_eq!(failure.event_type, "RequestTakenIntoReview");
    assert!(failure.error.contains("cannot decode"), "{}", failure.error);
    // Only `requests` is stuck: `mail_notices` reads the same events but e-mails nothing
    // about this one, so it passes it, `audit_streams` lists the stream by its id
    // whatever its events say, and `dashboard` leaves the case's counts as they were.
    assert_eq!(failures.len(), 1, "{failures:?}");

    // Other read models go on past it: a complaint filed now is not in `requests` (stuck)
    // but `payments`, which reads none of it, stands at the head, and so do `dashboard`
    // and `audit_streams`, which passed over it.
    let (after, _) = app.complain(&maria).await;
    eventually(
        "the retries count up, and the others pass the complaint",
        || async {
            let retried = eventlog::failures(pool)
                .await
                .unwrap()
                .iter()
                .any(|(n, f)| n == "requests" && f.attempts >= 2);
            retried
                && app.state.progress.reached("payments") >= Some(after)
                && app.state.progress.reached("dashboard") >= Some(after)
                && app.state.progress.reached("audit_streams") >= Some(after)
        },
    )
    .await;
    let status = eventlog::consumer_status(
        pool,
        &app.state.consumers.consumers(),
        Some(&app.state.progress),
    )
    .await
    .unwrap();
    let requests = status.iter().find(|s| s.name == "requests").unwrap();
    assert!(requests.position.global_position < position);
    assert!(requests.lag_events >= 2, "{requests:?}");
    assert!(requests.failure.is_some());
    let payments = status.iter().find(|s| s.name == "payments").unwrap();
    assert!(payments.position >= after, "{payments:?}");
    assert_eq!(payments.lag_events, 0);

    // Shown: in the metrics, by `portal projections status` (exit 1) and by /readyz.
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"portal_consumer_stuck{consumer="requests"}"#),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            r#"portal_consumer_stuck_attempts{consumer="requests"}"#
        ) >= Some(2.0)
    );
    assert_eq!(
        sample(&text, r#"portal_consumer_stuck{consumer="payments"}"#),
        Some(0.0)
    );
    // The two models that pass over an event they cannot decode count it.
    for model in ["audit_streams", "dashboard"] {
        assert!(
            sample(
                &text,
                &format!(r#"portal_consumer_passed_over_total{{consumer="{model}"}}"#)
            ) >= Some(1.0),
            "{model}"
        );
    }
    assert!(
        sample(
            &text,
            r#"portal_consumer_failures_total{consumer="requests"}"#
        ) >= Some(1.0)
    );
    let out = portal_command(&app, &["projections", "status"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("STUCK on the event at position {position} (RequestTakenIntoReview v2 of CitizenRequest {first_id})")),
        "{stdout}"
    );
    assert!(stderr.contains("1 consumer(s) stuck"), "{stderr}");
    // Readiness lists it but stays ready: the consumer is stuck in every process alike, and
    // taking them all out of the load balancer would turn stale reads into an outage.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["lagging"], json!([]), "{body}");
    let stuck = &body["stuck"][0];
    assert_eq!(stuck["name"], "requests", "{body}");
    assert_eq!(stuck["stuck"], true);
    assert!(stuck["lag_seconds"].as_f64().unwrap() >= 1.0, "{body}");
    assert_eq!(body["stuck"].as_array().unwrap().len(), 1, "{body}");

    // The operator's commands refuse what they cannot do, and say why.
    let out = portal_command(
        &app,
        &[
            "projections",
            "skip",
            "requests",
            "--position",
            &position.to_string(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reason"));
    let out = skip(&app, "requests", position, "   ").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a skip needs a reason"));
    let out = skip(&app, "requests", position + 1, "x").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "stuck on the event at position {position}, not {}",
            position + 1
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = skip(&app, "payments", position, "x").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("payments is not stuck"));
    let out = skip(&app, "no_such", 1, "x").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no consumer named \"no_such\"; there are:")
    );
    let out = portal_command(&app, &["projections", "retry", "no_such"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no consumer named \"no_such\""));
    let out = portal_command(&app, &["projections", "retry", "requests"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing was skipped by a refused command, and the consumer is still stuck.
    assert!(eventlog::skips(pool).await.unwrap().is_empty());
    assert_eq!(eventlog::failures(pool).await.unwrap().len(), 1);

    // The decision: recorded, and the consumer goes on at once (not after its backoff).
    let out = skip(
        &app,
        "requests",
        position,
        "Σφάλμα εισαγωγής δεδομένων, αίτημα 4711",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("the decision is recorded"));
    let started = Instant::now();
    eventually("the read model goes on past the skipped event", || async {
        let r = app.get("/api/v1/my/requests", Some(&maria)).await;
        json_body(r).await["items"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it waited out its backoff"
    );
    let skips = eventlog::skips(pool).await.unwrap();
    assert_eq!(skips.len(), 1);
    assert!(skips.iter().all(|s| s.position == position
        && s.reason == "Σφάλμα εισαγωγής δεδομένων, αίτημα 4711"
        && s.decided_by == "operator-in-test"
        && s.aggregate_id == first_id));
    assert!(eventlog::failures(pool).await.unwrap().is_empty());
    let out = portal_command(&app, &["projections", "status"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("events skipped by an operator:"));
    assert!(stdout.contains(&format!("requests at position {position} (RequestTakenIntoReview of CitizenRequest {first_id}), by operator-in-test")));
    // A second skip of the same event is refused: it is not stuck any more.
    let out = skip(&app, "requests", position, "again").await;
    assert_eq!(out.status.code(), Some(1));
    eventually("nothing stuck any more", || async {
        json_body(app.get("/readyz", None).await).await["stuck"] == json!([])
    })
    .await;

    // A rebuild passes over the skipped event too, and changes nothing.
    crate::common::assert_a_rebuild_of_everything_changes_nothing(pool).await;
}

#[tokio::test]
async fn readiness_says_not_ready_while_a_read_model_lags_and_names_it() {
    let app = TestApp::spawn_with(|c| c.ready_max_lag = Duration::from_secs(1)).await;
    let pool = &app.state.pool;
    let maria = app
        .citizen("maria.lag@example.gr", "Μαρία Καθυστέρηση")
        .await;
    // Hold the `requests` consumer's lock as another portal process would while it works
    // off a backlog: its events wait.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(eventlog::consumer_lock_key("requests"))
        .execute(&mut *holder)
        .await
        .unwrap();
    app.complain(&maria).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json_body(r).await;
    assert_eq!(body["database"], "ok");
    assert_eq!(body["max_lag_seconds"], 1.0);
    let requests = body["lagging"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "requests")
        .cloned()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(requests["lag_events"], 1);
    assert_eq!(requests["stuck"], false);
    assert!(requests["lag_seconds"].as_f64().unwrap() >= 1.0);
    holder.rollback().await.unwrap();
    eventually("ready once it catches up", || async {
        app.get("/readyz", None).await.status() == StatusCode::OK
    })
    .await;
    // Liveness does not care.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

/// A database that refuses connections at start-up: the portal says so and retries, then
/// exits non-zero after `PORTAL_DB_STARTUP_WAIT_SECONDS`, without a stack trace.
#[tokio::test]
async fn start_up_waits_a_bounded_time_for_a_database_that_does_not_answer() {
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/portal")
        .env("PORTAL_BIND", "127.0.0.1:0")
        .env("PORTAL_DB_STARTUP_WAIT_SECONDS", "2")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(20),
        "{elapsed:?}"
    );
    assert!(
        stderr.contains("the database does not answer yet; trying again in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("portal: gave up after 2 s (PORTAL_DB_STARTUP_WAIT_SECONDS): cannot reach PostgreSQL at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("backtrace"));
}

/// `PORTAL_LOG_FORMAT=json`: one JSON object per line; anything else but `text` is refused.
#[tokio::test]
async fn the_log_can_be_json_lines() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/portal")
        .env("PORTAL_BIND", "127.0.0.1:0")
        .env("PORTAL_DB_STARTUP_WAIT_SECONDS", "1")
        .env("PORTAL_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!lines.is_empty(), "{stderr}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .env("PORTAL_LOG_FORMAT", "xml")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("PORTAL_LOG_FORMAT=\"xml\" is not a log format: use text or json"));
}

/// The operator's commands (`portal projections status`, `retry`, `skip`) know every
/// consumer the server runs, each with the aggregate types it reads: no consumer a
/// `status` would leave out, none it would name that does not run.
#[tokio::test]
async fn the_operators_list_of_consumers_is_the_one_the_server_runs() {
    let app = TestApp::spawn().await;
    let described = |infos: Vec<eventlog::ConsumerInfo>| {
        let mut all: Vec<(String, Option<Vec<String>>)> = infos
            .into_iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.types
                        .map(|types| types.iter().map(|t| t.to_string()).collect()),
                )
            })
            .collect();
        all.sort();
        all
    };
    let running = described(app.state.consumers.consumers());
    assert_eq!(described(portal::operator::consumer_infos()), running);
    assert!(running.iter().any(|(name, _)| name == "mail_notices"));
    assert!(running.iter().any(|(name, _)| name == "payment_process"));
}
