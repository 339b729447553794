//! The database restarting under load (issue 14): a private PostgreSQL cluster of the test's
//! own, stopped and started again while citizens submit. During the outage the portal
//! answers 503 with `Retry-After` and a clear Greek message (never a 500, never a hang past
//! a bound) and `/readyz` says not ready; once the database is back it serves again without
//! a restart, and every acknowledged submission is in the log and in the read model.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{eventually_within, json_body, TestApp, TestDatabase};
use crate::crash::free_port;

/// A PostgreSQL cluster initialised for one test in the target directory, from the
/// system's binaries; stopped and removed when dropped. As root it runs as `postgres`
/// (PostgreSQL refuses root), like the scripts' private cluster.
pub struct PrivateCluster {
    dir: PathBuf,
    bindir: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn bindir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| d.ok())
                .map(|d| d.path().join("bin"))
                .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().expect(
        "PostgreSQL's server binaries (initdb, pg_ctl) under /usr/lib/postgresql: \
         scripts/test installs them (scripts/lib.sh, install_postgres_packages)",
    )
}

impl PrivateCluster {
    pub fn start(name: &str) -> Self {
        let root = running_as_root();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cluster-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = Self {
            dir,
            bindir: bindir(),
            port: free_port(),
            as_postgres: root,
        };
        if root {
            let status = Command::new("chown")
                .args(["postgres:", cluster.dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = cluster.dir.join("data");
        let out = cluster
            .command("initdb")
            .args([
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
            ])
            .args(["-E", "UTF8", "--locale=C.UTF-8"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start_again();
        cluster
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let out = self
            .command("pg_ctl")
            .args(["-D", self.dir.join("data").to_str().unwrap()])
            .args(["-l", self.dir.join("server.log").to_str().unwrap()])
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server as a restart does (`-m fast`: every session is ended at once).
    pub fn stop(&self) {
        let out = self
            .command("pg_ctl")
            .args([
                "-D",
                self.dir.join("data").to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                self.dir.join("data").to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// What one submission got.
#[derive(Debug, Clone)]
struct Outcome {
    status: StatusCode,
    took: Duration,
    retry_after: Option<String>,
    body: serde_json::Value,
}

/// Four citizens' clients submitting complaints in a loop (each with its own idempotency
/// key) until stopped; every answer is kept.
struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(app: Arc<TestApp>, token: String) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut clients = Vec::new();
        for n in 0..4 {
            let (app, token, stop) = (app.clone(), token.clone(), stop.clone());
            let (acknowledged, outcomes, client) =
                (acknowledged.clone(), outcomes.clone(), client.clone());
            clients.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let started = Instant::now();
                    let r = client
                        .post(app.url("/api/v1/requests"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("restart-{n}-{i}"))
                        .json(
                            &json!({"kind": "complaint", "subject": format!("Λακκούβα {n}-{i}"),
                                      "text": "Στην οδό Ερμού."}),
                        )
                        .send()
                        .await
                        .expect("the portal answers (it does not go down with its database)");
                    let status = r.status();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    if status == StatusCode::CREATED {
                        acknowledged
                            .lock()
                            .unwrap()
                            .push(body["id"].as_str().unwrap().to_string());
                    }
                    outcomes.lock().unwrap().push(Outcome {
                        status,
                        took: started.elapsed(),
                        retry_after,
                        body,
                    });
                    if status != StatusCode::CREATED {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }));
        }
        Self {
            stop,
            acknowledged,
            outcomes,
            clients,
        }
    }

    fn acknowledged(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// Stops the clients: what was acknowledged, and every answer.
    async fn stop(self) -> (Vec<String>, Vec<Outcome>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in self.clients {
            c.await.unwrap();
        }
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        let outcomes = self.outcomes.lock().unwrap().clone();
        (acknowledged, outcomes)
    }
}

/// Never a 500, never a hang: every answer was 201, or 503 with Retry-After and the
/// message, within the pool's 5 s wait plus the check.
fn assert_created_or_unavailable(outcomes: &[Outcome]) {
    for o in outcomes {
        match o.status {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(o.retry_after.as_deref(), Some("5"), "{o:?}");
                assert_eq!(o.body["error"]["code"], "service_unavailable", "{o:?}");
            }
            _ => panic!("an answer other than 201 or 503: {o:?}"),
        }
        assert!(o.took < Duration::from_secs(8), "a request hung: {o:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_rides_out_a_database_restart_under_load() {
    let cluster = PrivateCluster::start("restart");
    let app = Arc::new(TestApp::spawn_on(TestDatabase::on(&cluster.server_url()), |_| {}).await);
    let token = app
        .citizen("maria.restart@example.gr", "Μαρία Επανεκκίνηση")
        .await;

    let load = Load::start(app.clone(), token.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = load.acknowledged();
    assert!(before > 0, "nothing was acknowledged before the restart");

    cluster.stop();
    let down = Instant::now();
    // During the outage: not ready, and a submission is told to come back.
    eventually_within("readyz says not ready", 400, || async {
        app.get("/readyz", None).await.status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let r = app.get("/readyz", None).await;
    assert_eq!(json_body(r).await["database"], "unreachable");
    let r = app
        .post(
            "/api/v1/requests",
            Some(&token),
            json!({"kind": "complaint", "subject": "Κατά τη διακοπή", "text": "Κείμενο."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    let error = json_body(r).await;
    assert_eq!(error["error"]["code"], "service_unavailable");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Η υπηρεσία δεν είναι διαθέσιμη"));
    // The pages too: a page in Greek, not a 500.
    let r = app
        .client
        .get(app.url("/requests"))
        .header("cookie", format!("portal_session={token}"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    assert!(page.contains("Η υπηρεσία δεν είναι διαθέσιμη"), "{page}");
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(down.elapsed())).await;

    cluster.start_again();
    let up = Instant::now();
    eventually_within("submissions are acknowledged again", 1000, || async {
        load.acknowledged() > before + 8
    })
    .await;
    let recovered = up.elapsed();
    eventually_within("ready again", 1000, || async {
        app.get("/readyz", None).await.status() == StatusCode::OK
    })
    .await;
    let (acknowledged, outcomes) = load.stop().await;
    assert!(recovered < Duration::from_secs(15), "{recovered:?}");
    let unavailable = outcomes
        .iter()
        .filter(|o| o.status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(unavailable > 0, "the outage was not seen");
    assert_created_or_unavailable(&outcomes);

    // Every acknowledged submission is in the log, and in the read model once it catches up.
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE aggregate_type = 'CitizenRequest' AND sequence = 1",
    )
    .fetch_all(&app.state.pool)
    .await
    .unwrap();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged {id} is not in the log");
    }
    eventually_within(
        "the read model has every acknowledged case",
        1000,
        || async {
            let listed: Vec<String> = sqlx::query_scalar("SELECT id FROM request_cases")
                .fetch_all(&app.state.pool)
                .await
                .unwrap();
            acknowledged.iter().all(|id| listed.contains(id))
        },
    )
    .await;
    let status = eventlog::consumer_status(
        &app.state.pool,
        &app.state.consumers.consumers(),
        Some(&app.state.progress),
    )
    .await
    .unwrap();
    assert!(status.iter().all(|s| s.failure.is_none()), "{status:?}");
    drop(app);
}

/// The server stays up but drops the portal's connections (an operator's
/// `pg_terminate_backend`, a pooler failing over): a request whose connection went is told
/// to come back (503, as during an outage: the database answers again by the time the
/// outage check asks, so the error itself must say so), the others are served, none is a
/// 500, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_answered_503_never_500() {
    use sqlx::Connection;
    let app = Arc::new(TestApp::spawn().await);
    let token = app.citizen("nikos.drop@example.gr", "Νίκος Διακοπή").await;
    let load = Load::start(app.clone(), token);
    let mut admin = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let mut dropped = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        dropped += n;
    }
    let before = load.acknowledged();
    eventually_within("submissions are acknowledged again", 200, || async {
        load.acknowledged() > before + 4
    })
    .await;
    let (acknowledged, outcomes) = load.stop().await;
    assert!(dropped > 20, "only {dropped} connections were dropped");
    assert_created_or_unavailable(&outcomes);
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE aggregate_type = 'CitizenRequest' AND sequence = 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged {id} is not in the log");
    }
    admin.close().await.unwrap();
}
