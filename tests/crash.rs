//! The crash test: `kill -9` the real `portal` process in the middle of a burst of
//! submissions, start it again on the same database, and show that every submission it
//! acknowledged is stored in the event log and visible through the read model.

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::TestDatabase;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// A running `portal serve`. Killed (SIGKILL) when dropped, so that a failing test leaves
/// no process behind.
struct PortalProcess {
    child: Child,
    base: String,
    log: PathBuf,
}

impl PortalProcess {
    fn start(db: &TestDatabase, run: &str) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("{}-{run}.log", db.name));
        let child = Command::new(env!("CARGO_BIN_EXE_portal"))
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("PORTAL_BIND", format!("127.0.0.1:{port}"))
            .env("PORTAL_DB_CONNECTIONS", "20")
            // The burst comes from one address: no rate limit in this test.
            .env("PORTAL_RATE_LIMIT", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("the portal binary starts");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Waits until `/healthz` answers 200.
    async fn ready(&mut self, client: &Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the portal exited ({status}): {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the portal was not healthy within 30 s: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flushing, no goodbye.
    fn kill_9(&mut self) {
        self.child.kill().expect("the portal is killed");
        self.child.wait().expect("the killed portal is reaped");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PortalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One acknowledged anonymous submission.
#[derive(Debug, Clone)]
struct Acknowledged {
    id: String,
    tracking_code: String,
}

/// What one client saw of the burst.
#[derive(Debug, Default)]
struct ClientReport {
    attempts: usize,
    /// Requests that reached the server and were cut off by the kill.
    cut_in_flight: usize,
}

/// Submits until the server stops answering; records every 201.
async fn submit_until_down(
    client: Client,
    base: String,
    client_no: usize,
    acknowledged: Arc<Mutex<Vec<Acknowledged>>>,
) -> ClientReport {
    let mut report = ClientReport::default();
    let mut failures = 0;
    loop {
        report.attempts += 1;
        let n = report.attempts;
        let body = json!({
            "subject": format!("Κατεστραμμένο παγκάκι {client_no}/{n}"),
            "text": "Στην πλατεία Συντάγματος ένα παγκάκι είναι σπασμένο.",
            "desired_action": "Αντικατάσταση."
        });
        match client
            .post(format!("{base}/api/v1/requests"))
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == StatusCode::CREATED => {
                // The answer may be cut by the kill: only a whole body is an acknowledgement.
                match r.json::<Value>().await {
                    Ok(answer) => acknowledged.lock().unwrap().push(Acknowledged {
                        id: answer["id"].as_str().unwrap().to_string(),
                        tracking_code: answer["tracking_code"].as_str().unwrap().to_string(),
                    }),
                    Err(_) => report.cut_in_flight += 1,
                }
            }
            Ok(r) => panic!("a submission answered {}", r.status()),
            Err(e) => {
                // The server is gone: the request was cut, or the connection refused.
                if !e.is_connect() {
                    report.cut_in_flight += 1;
                }
                failures += 1;
                if failures >= 3 {
                    return report;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_submission_survives_kill_9() {
    // Declared first so that it is dropped last, after the processes.
    let db = TestDatabase::new();
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut portal = PortalProcess::start(&db, "first");
    portal.ready(&client).await;

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..16)
        .map(|c| {
            tokio::spawn(submit_until_down(
                client.clone(),
                portal.base.clone(),
                c,
                acknowledged.clone(),
            ))
        })
        .collect();
    // Kill in the middle of the burst: once a good number went through, while 16 clients
    // still have requests in flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 150 {
        assert!(
            Instant::now() < deadline,
            "the burst was too slow: {}",
            portal.log_text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    portal.kill_9();
    let mut attempted = 0;
    let mut cut_in_flight = 0;
    for c in clients {
        let report = c.await.unwrap();
        attempted += report.attempts;
        cut_in_flight += report.cut_in_flight;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        cut_in_flight > 0,
        "the kill did not land in the middle of the burst"
    );

    let mut portal = PortalProcess::start(&db, "second");
    portal.ready(&client).await;
    let pool = db.pool().await;

    // Stored: every acknowledged submission is in the event log.
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE event_type = 'RequestSubmitted' \
         AND aggregate_id = ANY($1)",
    )
    .bind(
        acknowledged
            .iter()
            .map(|a| a.id.clone())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "acknowledged submissions are missing from the event log"
    );

    // Visible: each one through its tracking code.
    for a in &acknowledged {
        let r = client
            .get(format!(
                "{}/api/v1/requests/track/{}",
                portal.base, a.tracking_code
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "case {} is not visible", a.id);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["case"]["id"], json!(a.id));
        assert_eq!(body["case"]["status"], json!("submitted"));
    }

    // The read model holds exactly what the log holds: nothing lost, nothing twice.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (in_log, in_read_model, timeline): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events WHERE event_type = 'RequestSubmitted'),
                    (SELECT count(*) FROM request_cases),
                    (SELECT count(*) FROM request_timeline)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(in_log >= acknowledged.len() as i64);
        if in_read_model == in_log && timeline == in_log {
            eprintln!(
                "{attempted} submissions attempted, {} acknowledged, {cut_in_flight} cut in \
                 flight by the kill; {in_log} in the log and the read model after the restart",
                acknowledged.len()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the read model has {in_read_model} cases ({timeline} timeline entries), \
             the log {in_log} submissions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
}
