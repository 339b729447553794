//! The test harness: every test gets its own database and its own portal on port 0,
//! talks to it over real HTTP, and drops the database at the end.

#![allow(dead_code)]

pub mod bank;
pub mod pages;

use std::net::SocketAddr;

use portal::{AppState, Application, Config};
use reqwest::{Client, Response, StatusCode};
use sandboxes::protocol::ProtocolSandbox;
use serde_json::{json, Value};

/// The server the tests use (override with `TEST_DATABASE_SERVER`).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A fresh, uniquely named database on the test server; dropped with the guard.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    /// The server it is on (no database name).
    pub server: String,
}

impl TestDatabase {
    pub fn new() -> Self {
        Self::on(&server_url())
    }

    /// A fresh database on `server` (`postgres://user@host:port`).
    pub fn on(server: &str) -> Self {
        let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{server}/{name}");
        Self {
            name,
            url,
            server: server.to_string(),
        }
    }

    /// A pool on the database (which must exist: build an app first, or call
    /// `eventlog::ensure_database`).
    pub async fn pool(&self) -> sqlx::PgPool {
        eventlog::connect(&self.url, 10)
            .await
            .expect("test database reachable")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = format!("{}/postgres", self.server);
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub state: AppState,
    pub protocol: ProtocolSandbox,
    /// The in-process sandbox bank.
    pub bank: sandboxes::bank::BankSandbox,
    /// The in-process sandbox fines system.
    pub fines: sandboxes::fines::FinesSandbox,
    pub db: TestDatabase,
}

/// The token of the latest link of `kind` (`activate`, `password-reset`) e-mailed to
/// `email`, as the mail outbox of the database behind `pool` holds it.
pub async fn emailed_token(pool: &sqlx::PgPool, kind: &str, email: &str) -> String {
    let body: String = sqlx::query_scalar(
        "SELECT body FROM mail_outbox WHERE to_address = $1 AND body LIKE $2 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(email.trim().to_lowercase())
    .bind(format!("%/{kind}/%"))
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("no {kind} link was e-mailed to {email}: {e}"));
    let marker = format!("/{kind}/");
    let start = body.find(&marker).unwrap() + marker.len();
    body[start..]
        .split(char::is_whitespace)
        .next()
        .unwrap()
        .to_string()
}

pub fn test_config(db: &TestDatabase) -> Config {
    let mut config = Config::new(&db.url, SocketAddr::from(([127, 0, 0, 1], 0)));
    config.db_connections = 10;
    // Tests submit from one address far faster than people do; rate-limit tests turn it on.
    config.rate_limit = 0;
    config
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(TestDatabase::new(), adjust).await
    }

    /// A portal on `db` (e.g. a database of a private cluster a test stops and starts).
    pub async fn spawn_on(db: TestDatabase, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(&db);
        adjust(&mut config);
        let app = Application::build(config).await.expect("the portal builds");
        let bank = app
            .bank_sandbox
            .clone()
            .expect("tests use the in-process sandbox bank");
        let fines = app
            .fines_sandbox
            .clone()
            .expect("tests use the in-process sandbox fines system");
        let (base, state, protocol) = app.spawn();
        Self {
            base,
            client: Client::new(),
            state,
            protocol: protocol.expect("tests use the in-process protocol sandbox"),
            bank,
            fines,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    /// Registers a citizen and logs in; answers the bearer token.
    /// A named complaint by the citizen of `token`: answers the position the answer carries
    /// (`X-Portal-Position`) and its body.
    pub async fn complain(&self, token: &str) -> (eventlog::Position, serde_json::Value) {
        let r = self
            .post(
                "/api/v1/requests",
                Some(token),
                serde_json::json!({"kind": "complaint", "subject": "Σπασμένο φανάρι",
                       "text": "Στη γωνία Ερμού και Αιόλου."}),
            )
            .await;
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
        let position = r.headers()["x-portal-position"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (position, json_body(r).await)
    }

    pub async fn citizen(&self, email: &str, name: &str) -> String {
        let password = "Κωδικός-Δοκιμής-42";
        let r = self
            .post(
                "/api/v1/accounts",
                None,
                json!({"email": email, "password": password, "full_name": name}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::ACCEPTED,
            "registration: {}",
            r.text().await.unwrap()
        );
        self.activate(email).await;
        self.login(email, password).await
    }

    /// The token of the latest link of `kind` (`activate`, `password-reset`) e-mailed to
    /// `email`, as the mail outbox holds it.
    pub async fn emailed_token(&self, kind: &str, email: &str) -> String {
        emailed_token(&self.state.pool, kind, email).await
    }

    /// Activates the account of `email` through the link e-mailed to it.
    pub async fn activate(&self, email: &str) {
        let token = self.emailed_token("activate", email).await;
        let r = self
            .post(
                "/api/v1/accounts/activation",
                None,
                json!({ "token": token }),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::NO_CONTENT,
            "activation: {}",
            r.text().await.unwrap()
        );
    }

    /// Clerk `clerk` certifies the citizen `email` after checking an identity card
    /// (ΑΚ 123456), as the representative of `business` (company name, ΑΦΜ) when given.
    pub async fn certify(&self, clerk: &str, email: &str, business: Option<(&str, &str)>) {
        let mut body = json!({"email": email, "document": "identity_card",
                              "document_number": "ΑΚ 123456"});
        if let Some((company_name, afm)) = business {
            body["company_name"] = json!(company_name);
            body["afm"] = json!(afm);
        }
        let r = self
            .post("/api/v1/staff/certifications", Some(clerk), body)
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }

    /// Clerk `clerk` revokes the certification of `email` (the representation ended).
    pub async fn revoke_certification(&self, clerk: &str, email: &str) {
        let r = self
            .post(
                "/api/v1/staff/certifications/revoke",
                Some(clerk),
                json!({"email": email, "reason": "Η εκπροσώπηση έληξε."}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    /// Creates a staff account (as `portal staff add` does) and logs in.
    pub async fn staff(&self, role: &str, email: &str, name: &str) -> String {
        let password = "Υπάλληλος-Δήμου-2026";
        let config = self.state.config.as_ref().clone();
        portal::staff::add(&config, email, name, role, password)
            .await
            .expect("staff account created");
        self.login(email, password).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/v1/session",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "login: {}",
            r.text().await.unwrap()
        );
        let body: Value = r.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// Files a named complaint; answers the submission's JSON.
    pub async fn submit(&self, token: &str, subject: &str) -> Value {
        let r = self
            .post(
                "/api/v1/requests",
                Some(token),
                json!({"kind": "complaint", "subject": subject, "text": "Κείμενο του αιτήματος.", "desired_action": "Να επισκευαστεί."}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "submit: {}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }
}

/// Reads a JSON body, failing with the raw text when it is not JSON.
/// The portal's messages in `lang` (`el` or `en`), from its Fluent catalogues
/// (`api/locales/*.ftl`), as a JSON object of code → text: to compare texts without copying
/// them.
pub fn catalog(lang: &str) -> Value {
    let lang = if lang == "el" {
        portal::i18n::Lang::El
    } else {
        portal::i18n::Lang::En
    };
    Value::Object(
        portal::i18n::codes()
            .into_iter()
            .map(|code| {
                let text = portal::i18n::message(lang, &code);
                (code, Value::String(text))
            })
            .collect(),
    )
}

pub async fn json_body(r: Response) -> Value {
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

impl TestApp {
    /// Waits until the read models have folded every event recorded so far: for a test
    /// that reads, as one person, what another person (or the API) has just written.
    pub async fn read_models_caught_up(&self) {
        portal::http::wait_for_log_head(&self.state, projections::ALL_READS)
            .await
            .expect("the read models catch up with the log");
    }
}

/// Rebuilding every read model in one pass leaves every table as the live consumers made
/// it.
pub async fn assert_a_rebuild_of_everything_changes_nothing(pool: &sqlx::PgPool) {
    let everything = every_read_model_table(pool).await;
    projections::rebuild_all(pool, &projections::all(), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(every_read_model_table(pool).await, everything);
}

/// Every table of every read model, each as a JSON array of its rows in the order of their
/// text: what "rebuild == live" compares, whatever the model.
pub async fn every_read_model_table(
    pool: &sqlx::PgPool,
) -> std::collections::BTreeMap<&'static str, Value> {
    let mut tables = std::collections::BTreeMap::new();
    for model in projections::all() {
        for &table in model.tables() {
            let rows: Value = sqlx::query_scalar(&format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t::text), '[]') FROM {table} t"
            ))
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
            tables.insert(table, rows);
        }
    }
    tables
}

/// A portal on an existing database, in a thread and Tokio runtime of its own, so that a
/// test can stop it (server, consumers, protocol registrar: every task) while the database
/// and the other services live on, and start another on the same database.
pub struct DetachedPortal {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DetachedPortal {
    /// Builds and starts a portal with `config`; answers once it listens.
    pub async fn start(config: Config) -> Self {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the portal");
            runtime.block_on(async move {
                let app = Application::build(config).await.expect("the portal builds");
                let (base, _state, _sandbox) = app.spawn();
                let _ = ready_tx.send(base);
                let _ = stop_rx.await;
            });
            // Dropping the runtime ends every task the portal started.
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        });
        let base = ready_rx.await.expect("the portal started");
        Self {
            base,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the portal and waits until all of its tasks have ended.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .expect("the join task ran")
                .expect("the portal's thread ended cleanly");
        }
    }
}

impl Drop for DetachedPortal {
    fn drop(&mut self) {
        // A failing test: stop without waiting (the thread ends on its own).
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The `(field, code)` pairs of an error answer's `error` object, in order.
pub fn field_codes(error: &Value) -> Vec<(String, String)> {
    error["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("an error lists its fields: {error}"))
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Checks `check` every 20 ms, at most `tries` times; panics naming `what` if it never
/// holds.
pub async fn eventually_within<F, Fut>(what: &str, tries: u32, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// [`eventually_within`] 300 tries (6 s).
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(what, 300, check).await
}

/// `portal <args>` (the binary) against the app's database.
pub async fn portal_command(app: &TestApp, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .env("USER", "operator-in-test")
        .kill_on_drop(true)
        .output()
        .await
        .expect("the portal binary runs")
}
