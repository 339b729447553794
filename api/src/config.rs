//! Configuration, read at start-up by figment into one typed struct ([`Settings`]): the
//! defaults, then the configuration file (`config/portal.toml`, or the one `PORTAL_CONFIG`
//! names), then the environment. Every setting is documented in `docs/operations.md`;
//! nothing else reads the environment. `portal config show` prints what is in effect.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::municipality::Municipality;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/portal";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// `PORTAL_ENV`: where the portal runs. Only `production` changes anything: there, every
/// external system must be configured, because a missing address would otherwise start a
/// sandbox (a fake bank, a fake protocol system) in place of the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// A developer's machine, the tests, a demonstration: sandboxes stand in for every
    /// external system whose address is not set (the default).
    #[default]
    Development,
    Production,
}

impl Environment {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        match raw.trim() {
            "" | "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            other => anyhow::bail!(
                "PORTAL_ENV={other:?} is not an environment: use production or development"
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `PORTAL_ENV`: `production` refuses to start while any external system would fall
    /// back to a sandbox (see [`Config::check_production`]).
    pub environment: Environment,
    /// `DATABASE_URL`; may carry a password, so it is kept secret (never logged).
    pub database_url: SecretString,
    /// `PORTAL_BIND`.
    pub bind: SocketAddr,
    /// `PORTAL_DB_CONNECTIONS`: the pool size.
    pub db_connections: u32,
    /// `PORTAL_READY_MAX_LAG_SECONDS`: `/readyz` says not ready while a read model or
    /// process manager has an event older than this still to handle (default 30).
    pub ready_max_lag: Duration,
    /// `PORTAL_METRICS_TOKEN`: when set, `/metrics` asks for `Authorization: Bearer <it>`.
    pub metrics_token: Option<SecretString>,
    /// `PORTAL_DB_STARTUP_WAIT_SECONDS`: how long start-up waits for a database that does
    /// not answer before it gives up (default 30).
    pub db_startup_wait: Duration,
    /// `PORTAL_PROTOCOL_URL`: the protocol system. Unset: an in-process sandbox.
    pub protocol_url: Option<String>,
    /// `PORTAL_PROTOCOL_TIMEOUT_MS`.
    pub protocol_timeout: Duration,
    /// `PORTAL_SESSION_HOURS`: how long a login lasts.
    pub session_lifetime: chrono::Duration,
    /// A session unused this long ends (`PORTAL_SESSION_IDLE_MINUTES`).
    pub session_idle: chrono::Duration,
    /// `PORTAL_SESSION_CACHE_SECONDS`: how long a session once read is served from memory
    /// (0: every request reads it from the database). Logout, password, role and profile
    /// changes drop it at once in every process (`commands::session_cache`).
    pub session_cache: Duration,
    /// `PORTAL_READ_WAIT_MS`: the longest a read waits for the read models to reach the
    /// reader's own latest write.
    pub read_wait: Duration,
    /// The time the use cases act at: the system clock (no setting); tests give a
    /// [`domain::ports::ManualClock`] to move time without sleeping.
    pub clock: std::sync::Arc<dyn domain::ports::Clock>,
    /// `PORTAL_SECURE_COOKIES`: mark the session cookie `Secure` (behind TLS).
    pub secure_cookies: bool,
    /// `PORTAL_CONFLICT_RETRIES`: how often a command that lost a concurrency race is
    /// retried before answering 409.
    pub conflict_retries: u32,
    /// `PORTAL_RATE_LIMIT`: logins, registrations and anonymous submissions allowed at once
    /// per client address, each, then one more every 10 minutes ÷ this number (0 turns
    /// limiting off). Behind a proxy every
    /// client shares its address: raise it or limit at the proxy.
    pub rate_limit: u32,
    /// `PORTAL_MUNICIPALITY_CONFIG`: the municipality's configuration (certificates and
    /// their deadlines); unset: the built-in `config/municipality.toml`.
    pub municipality: Arc<Municipality>,
    /// `PORTAL_PROTOCOL_INLINE_TIMEOUT_MS`: how long a citizen's submission waits for the
    /// protocol system before it answers "registration will follow".
    pub protocol_inline_timeout: Duration,
    /// `PORTAL_PROTOCOL_RETRY_FIRST_SECS` / `PORTAL_PROTOCOL_RETRY_EVERY_SECS`: when a failed
    /// automatic protocol registration is tried again.
    pub protocol_retry_first: Duration,
    pub protocol_retry_every: Duration,
    /// `PORTAL_PROTOCOL_POLL_MS`: how often the background registrar looks for due
    /// registrations.
    pub protocol_poll: Duration,
    /// `PORTAL_DOCUMENT_MAX_BYTES`: the largest issued document (PDF) a clerk may upload.
    pub document_max_bytes: usize,
    /// `PORTAL_SMTP_URL`: the mail server (`smtp://host:25`, `smtp://host:587?tls=required`,
    /// `smtps://user:pass@host:465`). Unset: a mail sandbox is started in-process.
    pub smtp_url: Option<String>,
    /// Where the in-process mail sandbox shows what it received (`PORTAL_MAIL_SANDBOX_BIND`;
    /// a free port when unset). Only when `smtp_url` is unset.
    pub mail_sandbox_bind: Option<SocketAddr>,
    /// `PORTAL_TRUSTED_PROXIES`: the reverse proxies (comma-separated addresses) whose
    /// `X-Forwarded-For` names the client; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `PORTAL_MAIL_FROM`: the sender of the notices.
    pub mail_from: String,
    /// `PORTAL_PUBLIC_URL`: the portal's address as citizens reach it, for links in notices.
    /// Unset: `http://` + `PORTAL_BIND`.
    pub public_url: Option<String>,
    /// `PORTAL_MAIL_POLL_MS`: how often the sender looks for notices to send.
    pub mail_poll: Duration,
    /// `PORTAL_MAIL_RETRY_SECS`: the first retry of a notice the mail server could not take
    /// (then ×5, ×30, ×120).
    pub mail_retry_first: Duration,
    /// `PORTAL_BANK_URL`: the bank's VPOS gateway. Unset: the sandbox bank is started
    /// in-process.
    pub bank_url: Option<String>,
    /// `PORTAL_BANK_MID`: the municipality's merchant id at the bank.
    pub bank_mid: String,
    /// `PORTAL_BANK_SECRET`: the shared secret the bank's digests are made with (never
    /// logged).
    pub bank_secret: SecretString,
    /// `PORTAL_BANK_TIMEOUT_MS`: the longest a status query to the bank may take.
    pub bank_timeout: Duration,
    /// `PORTAL_PAYMENT_EXPIRY_MINUTES`: how long a payment may wait for the bank's answer
    /// before it is abandoned (expired).
    pub payment_expiry: Duration,
    /// `PORTAL_PAYMENT_RECONCILE_AFTER_SECS`: a payment sent to the bank that has no answer
    /// for this long is asked about (the bank's status query).
    pub payment_reconcile_after: Duration,
    /// `PORTAL_PAYMENT_POLL_MS`: how often the payment reconciler looks for stale and
    /// expired payments.
    pub payment_poll: Duration,
    /// `PORTAL_FINES_URL`: the fines-management system. Unset: the sandbox fines system is
    /// started in-process.
    pub fines_url: Option<String>,
    /// `PORTAL_FINES_TIMEOUT_MS`: the longest a call to the fines system may take.
    pub fines_timeout: Duration,
    /// `PORTAL_FINES_QUOTE_SECS`: how long a quoted amount may be paid (never past the day
    /// the fines system holds it).
    pub fines_quote_ttl: Duration,
    /// `PORTAL_FINES_POLL_MS`: how often the fine notifier looks for paid fines to report.
    pub fines_poll: Duration,
    /// `PORTAL_FINES_RETRY_SECS`: the first retry of a notice the fines system could not
    /// take (then doubling, at most an hour apart).
    pub fines_retry_first: Duration,
    /// `PORTAL_DECLARATIONS_POLL_MS`: how often the declaration worker looks for finished
    /// payments of tax declarations (S13).
    pub declarations_poll: Duration,
    /// `PORTAL_DECLARATIONS_RETRY_SECS`: the first retry of a paid declaration the revenue
    /// system could not take (then doubling, at most an hour apart).
    pub declarations_retry_first: Duration,
    /// `PORTAL_FINANCIAL_URL`: the municipality's financial system (warrants to suppliers,
    /// S12). Unset: the sandbox financial system is started in-process.
    pub financial_url: Option<String>,
    /// `PORTAL_FINANCIAL_TIMEOUT_SECS`: the longest a call to the financial system may take.
    pub financial_timeout: Duration,
    /// `PORTAL_REVENUE_URL`: the municipality's revenue system (municipal tax, S13–S14).
    /// Unset: the sandbox revenue system is started in-process.
    pub revenue_url: Option<String>,
    /// `PORTAL_REVENUE_TIMEOUT_SECS`: the longest a call to the revenue system may take.
    pub revenue_timeout: Duration,
    /// `PORTAL_REVENUE_POLL_MS`: how often the debt notifier looks for paid certified debts
    /// to report to the revenue system (S14).
    pub revenue_poll: Duration,
    /// `PORTAL_REVENUE_RETRY_SECS`: the first retry of a debt payment the revenue system
    /// could not take (then doubling, at most an hour apart).
    pub revenue_retry_first: Duration,
}

/// The shared secret of the in-process sandbox bank (and the default of
/// `PORTAL_BANK_SECRET`): fine for a sandbox, never for a real bank.
pub const SANDBOX_BANK_SECRET: &str = "sandbox-bank-secret";
/// The default `PORTAL_BANK_MID`.
pub const DEFAULT_BANK_MID: &str = "0020000001";

/// The municipality configuration built into the binary.
pub const DEFAULT_MUNICIPALITY: &str = include_str!("../../config/municipality.toml");

/// Parses and checks a municipality configuration (`source` names it in messages).
pub fn parse_municipality(text: &str, source: &str) -> anyhow::Result<Municipality> {
    let m: Municipality = toml::from_str(text)
        .with_context(|| format!("{source} is not a valid municipality configuration"))?;
    m.check().map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    Ok(m)
}

impl Config {
    /// Defaults suitable for one machine; `database_url` and `bind` are the only ones a
    /// test usually changes.
    pub fn new(database_url: &str, bind: SocketAddr) -> Self {
        Self {
            environment: Environment::Development,
            database_url: SecretString::from(database_url.to_string()),
            bind,
            db_connections: 40,
            protocol_url: None,
            protocol_timeout: Duration::from_secs(10),
            session_lifetime: chrono::Duration::hours(12),
            session_idle: chrono::Duration::minutes(60),
            session_cache: Duration::from_secs(10),
            read_wait: Duration::from_secs(3),
            clock: std::sync::Arc::new(domain::ports::SystemClock),
            secure_cookies: false,
            conflict_retries: 1,
            rate_limit: 20,
            ready_max_lag: Duration::from_secs(30),
            metrics_token: None,
            db_startup_wait: Duration::from_secs(30),
            municipality: Arc::new(
                parse_municipality(DEFAULT_MUNICIPALITY, "config/municipality.toml")
                    .expect("the built-in municipality configuration is valid"),
            ),
            protocol_inline_timeout: Duration::from_secs(3),
            protocol_retry_first: Duration::from_secs(300),
            protocol_retry_every: Duration::from_secs(1800),
            protocol_poll: Duration::from_secs(5),
            document_max_bytes: 10 * 1024 * 1024,
            smtp_url: None,
            mail_sandbox_bind: None,
            trusted_proxies: Vec::new(),
            mail_from: "Δήμος Παραδείγματος <noreply@dimos.example.gr>".to_string(),
            public_url: None,
            mail_poll: Duration::from_secs(2),
            mail_retry_first: Duration::from_secs(60),
            bank_url: None,
            bank_mid: DEFAULT_BANK_MID.to_string(),
            bank_secret: SecretString::from(SANDBOX_BANK_SECRET),
            bank_timeout: Duration::from_secs(10),
            payment_expiry: Duration::from_secs(30 * 60),
            payment_reconcile_after: Duration::from_secs(120),
            payment_poll: Duration::from_secs(5),
            fines_url: None,
            fines_timeout: Duration::from_secs(10),
            fines_quote_ttl: Duration::from_secs(30 * 60),
            fines_poll: Duration::from_secs(2),
            fines_retry_first: Duration::from_secs(60),
            declarations_poll: Duration::from_secs(2),
            declarations_retry_first: Duration::from_secs(60),
            financial_url: None,
            financial_timeout: Duration::from_secs(10),
            revenue_url: None,
            revenue_timeout: Duration::from_secs(10),
            revenue_poll: Duration::from_secs(2),
            revenue_retry_first: Duration::from_secs(60),
        }
    }

    /// The configuration in effect: the defaults, the configuration file and the
    /// environment ([`Settings::load`]), checked.
    pub fn load() -> anyhow::Result<Self> {
        let (settings, _) = Settings::load()?;
        Self::from_settings(&settings)
    }

    /// The portal's configuration from `settings`, each checked (an address that is not one,
    /// a production portal that would start a sandbox) with a message that names the
    /// setting.
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        let bind: SocketAddr = s.bind.parse().with_context(|| {
            format!(
                "PORTAL_BIND={:?} is not an address like 127.0.0.1:8080",
                s.bind
            )
        })?;
        let mut config = Self::new(&s.database_url, bind);
        config.environment = Environment::parse(&s.env)?;
        config.db_connections = s.db_connections.max(1);
        config.protocol_url = s.protocol_url.clone().filter(|u| !u.is_empty());
        config.protocol_timeout = Duration::from_millis(s.protocol_timeout_ms);
        config.session_lifetime = chrono::Duration::hours(s.session_hours.min(24 * 366) as i64);
        config.session_idle =
            chrono::Duration::minutes(s.session_idle_minutes.clamp(1, 60 * 24 * 366) as i64);
        config.session_cache = Duration::from_secs(s.session_cache_seconds);
        config.read_wait = Duration::from_millis(s.read_wait_ms);
        config.conflict_retries = s.conflict_retries;
        config.rate_limit = s.rate_limit;
        config.ready_max_lag = Duration::from_secs(s.ready_max_lag_seconds.max(1));
        config.db_startup_wait = Duration::from_secs(s.db_startup_wait_seconds);
        config.metrics_token = s
            .metrics_token
            .clone()
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        if let Some(path) = s.municipality_config.as_deref().filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("PORTAL_MUNICIPALITY_CONFIG={path:?} cannot be read"))?;
            config.municipality = Arc::new(parse_municipality(&text, path)?);
        }
        config.protocol_inline_timeout = Duration::from_millis(s.protocol_inline_timeout_ms);
        config.protocol_retry_first = Duration::from_secs(s.protocol_retry_first_secs);
        config.protocol_retry_every = Duration::from_secs(s.protocol_retry_every_secs);
        config.protocol_poll = Duration::from_millis(s.protocol_poll_ms.max(10));
        config.document_max_bytes = usize::try_from(s.document_max_bytes).unwrap_or(usize::MAX);
        config.smtp_url = s.smtp_url.clone().filter(|u| !u.is_empty());
        config.trusted_proxies = s
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse().with_context(|| {
                    format!("PORTAL_TRUSTED_PROXIES: {p:?} is not an IP address like 10.0.0.5")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        if let Some(raw) = s.mail_sandbox_bind.as_deref().filter(|b| !b.is_empty()) {
            config.mail_sandbox_bind = Some(raw.parse().with_context(|| {
                format!("PORTAL_MAIL_SANDBOX_BIND={raw:?} is not an address like 127.0.0.1:8025")
            })?);
        }
        if !s.mail_from.is_empty() {
            config.mail_from = s.mail_from.clone();
        }
        config.public_url = s.public_url.clone().filter(|u| !u.is_empty());
        config.mail_poll = Duration::from_millis(s.mail_poll_ms.max(10));
        config.mail_retry_first = Duration::from_secs(s.mail_retry_secs.max(1));
        config.bank_url = s.bank_url.clone().filter(|u| !u.is_empty());
        if !s.bank_mid.is_empty() {
            config.bank_mid = s.bank_mid.clone();
        }
        if !s.bank_secret.is_empty() {
            config.bank_secret = SecretString::from(s.bank_secret.clone());
        }
        if config.bank_url.is_some() && config.bank_secret.expose_secret() == SANDBOX_BANK_SECRET {
            anyhow::bail!(
                "PORTAL_BANK_URL is set: set PORTAL_BANK_SECRET to the bank's shared secret"
            );
        }
        config.bank_timeout = Duration::from_millis(s.bank_timeout_ms.max(100));
        config.payment_expiry = Duration::from_secs(s.payment_expiry_minutes.max(1) * 60);
        config.payment_reconcile_after = Duration::from_secs(s.payment_reconcile_after_secs);
        config.payment_poll = Duration::from_millis(s.payment_poll_ms.max(10));
        config.fines_url = s.fines_url.clone().filter(|u| !u.is_empty());
        config.fines_timeout = Duration::from_millis(s.fines_timeout_ms.max(100));
        config.fines_quote_ttl = Duration::from_secs(s.fines_quote_secs.max(60));
        config.fines_poll = Duration::from_millis(s.fines_poll_ms.max(10));
        config.fines_retry_first = Duration::from_secs(s.fines_retry_secs.max(1));
        config.declarations_poll = Duration::from_millis(s.declarations_poll_ms.max(10));
        config.declarations_retry_first = Duration::from_secs(s.declarations_retry_secs.max(1));
        config.financial_url = s.financial_url.clone().filter(|u| !u.is_empty());
        config.financial_timeout = Duration::from_secs(s.financial_timeout_secs.max(1));
        config.revenue_url = s.revenue_url.clone().filter(|u| !u.is_empty());
        config.revenue_timeout = Duration::from_secs(s.revenue_timeout_secs.max(1));
        config.revenue_poll = Duration::from_millis(s.revenue_poll_ms.max(10));
        config.revenue_retry_first = Duration::from_secs(s.revenue_retry_secs.max(1));
        config.secure_cookies = s.secure_cookies;
        config.check_production()?;
        Ok(config)
    }

    /// Whether people reach the portal over HTTPS: `PORTAL_SECURE_COOKIES` says so, or
    /// `PORTAL_PUBLIC_URL` starts with `https://`. Then every cookie is `Secure` and every
    /// answer carries `Strict-Transport-Security`.
    pub fn https(&self) -> bool {
        self.secure_cookies
            || self
                .public_url
                .as_deref()
                .is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"))
    }

    /// In production, names every setting whose absence would put a sandbox in place of a
    /// real system (and the sandbox bank's secret), so that the portal refuses to start
    /// instead of taking payments at a fake bank.
    pub fn check_production(&self) -> anyhow::Result<()> {
        if self.environment != Environment::Production {
            return Ok(());
        }
        let mut missing: Vec<&str> = [
            ("PORTAL_PROTOCOL_URL", &self.protocol_url),
            ("PORTAL_SMTP_URL", &self.smtp_url),
            ("PORTAL_BANK_URL", &self.bank_url),
            ("PORTAL_FINES_URL", &self.fines_url),
            ("PORTAL_FINANCIAL_URL", &self.financial_url),
            ("PORTAL_REVENUE_URL", &self.revenue_url),
            ("PORTAL_PUBLIC_URL", &self.public_url),
        ]
        .into_iter()
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| name)
        .collect();
        if self.bank_secret.expose_secret() == SANDBOX_BANK_SECRET {
            missing.push("PORTAL_BANK_SECRET");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(
                "PORTAL_ENV=production: set {} (without them the portal would start sandboxes \
                 in place of the real systems; in the configuration file each is the name \
                 without PORTAL_, in lower case)",
                missing.join(", ")
            )
        }
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }
}

/// Every setting as the configuration file (`config/portal.toml`, or the file
/// `PORTAL_CONFIG` names) and the environment give it: one typed struct read by figment,
/// defaults first, then the file, then the environment (`PORTAL_<NAME>` for setting
/// `<name>`; the database's address is `DATABASE_URL`). An empty environment variable counts
/// as unset. [`Config::from_settings`] turns it into the portal's [`Config`];
/// `portal config show` prints it with its secrets redacted.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub env: String,
    pub database_url: String,
    pub bind: String,
    pub db_connections: u32,
    pub ready_max_lag_seconds: u64,
    pub metrics_token: Option<String>,
    pub db_startup_wait_seconds: u64,
    pub protocol_url: Option<String>,
    pub protocol_timeout_ms: u64,
    pub session_hours: u64,
    pub session_idle_minutes: u64,
    pub session_cache_seconds: u64,
    pub read_wait_ms: u64,
    #[serde(deserialize_with = "flag")]
    pub secure_cookies: bool,
    pub conflict_retries: u32,
    pub rate_limit: u32,
    pub municipality_config: Option<String>,
    pub protocol_inline_timeout_ms: u64,
    pub protocol_retry_first_secs: u64,
    pub protocol_retry_every_secs: u64,
    pub protocol_poll_ms: u64,
    pub document_max_bytes: u64,
    pub smtp_url: Option<String>,
    pub mail_sandbox_bind: Option<String>,
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
    pub mail_from: String,
    pub public_url: Option<String>,
    pub mail_poll_ms: u64,
    pub mail_retry_secs: u64,
    pub bank_url: Option<String>,
    pub bank_mid: String,
    pub bank_secret: String,
    pub bank_timeout_ms: u64,
    pub payment_expiry_minutes: u64,
    pub payment_reconcile_after_secs: u64,
    pub payment_poll_ms: u64,
    pub fines_url: Option<String>,
    pub fines_timeout_ms: u64,
    pub fines_quote_secs: u64,
    pub fines_poll_ms: u64,
    pub fines_retry_secs: u64,
    pub declarations_poll_ms: u64,
    pub declarations_retry_secs: u64,
    pub financial_url: Option<String>,
    pub financial_timeout_secs: u64,
    pub revenue_url: Option<String>,
    pub revenue_timeout_secs: u64,
    pub revenue_poll_ms: u64,
    pub revenue_retry_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: "development".into(),
            database_url: DEFAULT_DATABASE_URL.into(),
            bind: DEFAULT_BIND.into(),
            db_connections: 40,
            ready_max_lag_seconds: 30,
            metrics_token: None,
            db_startup_wait_seconds: 30,
            protocol_url: None,
            protocol_timeout_ms: 10_000,
            session_hours: 12,
            session_idle_minutes: 60,
            session_cache_seconds: 10,
            read_wait_ms: 3000,
            secure_cookies: false,
            conflict_retries: 1,
            rate_limit: 20,
            municipality_config: None,
            protocol_inline_timeout_ms: 3000,
            protocol_retry_first_secs: 300,
            protocol_retry_every_secs: 1800,
            protocol_poll_ms: 5000,
            document_max_bytes: 10 * 1024 * 1024,
            smtp_url: None,
            mail_sandbox_bind: None,
            trusted_proxies: Vec::new(),
            mail_from: "Δήμος Παραδείγματος <noreply@dimos.example.gr>".into(),
            public_url: None,
            mail_poll_ms: 2000,
            mail_retry_secs: 60,
            bank_url: None,
            bank_mid: DEFAULT_BANK_MID.into(),
            bank_secret: SANDBOX_BANK_SECRET.into(),
            bank_timeout_ms: 10_000,
            payment_expiry_minutes: 30,
            payment_reconcile_after_secs: 120,
            payment_poll_ms: 5000,
            fines_url: None,
            fines_timeout_ms: 10_000,
            fines_quote_secs: 1800,
            fines_poll_ms: 2000,
            fines_retry_secs: 60,
            declarations_poll_ms: 2000,
            declarations_retry_secs: 60,
            financial_url: None,
            financial_timeout_secs: 10,
            revenue_url: None,
            revenue_timeout_secs: 10,
            revenue_poll_ms: 2000,
            revenue_retry_secs: 60,
        }
    }
}

/// The configuration file read when `PORTAL_CONFIG` does not name one (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "config/portal.toml";

impl Settings {
    /// The setting names (the file's keys; `PORTAL_` + the name in capitals in the
    /// environment).
    pub fn names() -> Vec<String> {
        match serde_json::to_value(Settings::default()) {
            Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The settings from the defaults, the configuration file and the environment: the
    /// file `PORTAL_CONFIG` names (which must exist), else `config/portal.toml` if there is
    /// one.
    pub fn load() -> anyhow::Result<(Self, Option<String>)> {
        let file = match Env::var("PORTAL_CONFIG").filter(|p| !p.trim().is_empty()) {
            Some(path) => {
                anyhow::ensure!(
                    std::path::Path::new(&path).is_file(),
                    "PORTAL_CONFIG={path:?}: there is no such file"
                );
                Some(path)
            }
            None => std::path::Path::new(DEFAULT_CONFIG_FILE)
                .is_file()
                .then(|| DEFAULT_CONFIG_FILE.to_string()),
        };
        let settings = Self::figment(file.as_deref())
            .extract()
            .map_err(|e| anyhow::anyhow!("the configuration is not valid: {}", describe(e)))?;
        Ok((settings, file))
    }

    /// Defaults, then `file`, then the environment.
    pub fn figment(file: Option<&str>) -> Figment {
        let names = Self::names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // The database's address is `DATABASE_URL` only (not `PORTAL_DATABASE_URL`).
        let names: Vec<&str> = names.into_iter().filter(|n| *n != "database_url").collect();
        figment
            .merge(Variables(Env::prefixed("PORTAL_").only(&names)))
            .merge(Variables(Env::raw().only(&["database_url"])))
    }

    /// The optional settings that are not set (TOML has no way to print "none").
    pub fn unset(&self) -> Vec<String> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(fields)) => fields
                .into_iter()
                .filter(|(_, value)| value.is_null())
                .map(|(name, _)| name)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The settings as `portal config show` prints them (TOML), with the passwords in
    /// addresses and the secrets replaced by `[redacted]`.
    pub fn redacted(&self) -> Self {
        let secret = |value: &str| {
            if value.is_empty() {
                String::new()
            } else {
                REDACTED.to_string()
            }
        };
        let mut shown = self.clone();
        shown.database_url = redact_url(&self.database_url);
        for url in [
            &mut shown.smtp_url,
            &mut shown.protocol_url,
            &mut shown.bank_url,
            &mut shown.fines_url,
            &mut shown.financial_url,
            &mut shown.revenue_url,
            &mut shown.public_url,
        ] {
            *url = url.as_deref().map(redact_url);
        }
        shown.metrics_token = self.metrics_token.as_deref().map(secret);
        shown.bank_secret = if self.bank_secret == SANDBOX_BANK_SECRET {
            format!("{SANDBOX_BANK_SECRET} (the sandbox bank's)")
        } else {
            secret(&self.bank_secret)
        };
        shown
    }
}

/// As `portal config show` prints them: never a password or a secret in a log or a
/// test's failure.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match toml::to_string(&self.redacted()) {
            Ok(text) => write!(f, "Settings {{ {} }}", text.trim().replace('\n', ", ")),
            Err(_) => f.write_str("Settings { .. }"),
        }
    }
}

const REDACTED: &str = "[redacted]";

/// The environment's settings, as figment's `Env` finds them, but with text settings kept
/// as written: `Env` reads `0020000001` as a number (a merchant id would lose its zeros, a
/// secret of digits would not be text). Numbers and yes/no settings are read by `Env`'s
/// rules; an empty variable counts as unset (`PORTAL_X=` in a shell script means that).
struct Variables(Env);

impl figment::Provider for Variables {
    fn metadata(&self) -> figment::Metadata {
        self.0.metadata()
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
        let mut dict = figment::value::Dict::new();
        for (key, value) in self.0.iter() {
            if value.trim().is_empty() {
                continue;
            }
            let key = key.as_str().to_ascii_lowercase();
            let read_as_written = !matches!(
                defaults.get(&key),
                Some(serde_json::Value::Number(_) | serde_json::Value::Bool(_))
            );
            let value = if read_as_written {
                figment::value::Value::from(value)
            } else {
                value
                    .parse()
                    .unwrap_or_else(|_| figment::value::Value::from(String::new()))
            };
            dict.insert(key, value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// `url` with its password (`scheme://user:password@host`) and the values of query
/// parameters that carry one (`?password=`, `sslpassword`, a token, a key, a secret)
/// replaced by `[redacted]`. A text that does not parse as a URL is shown only by its scheme.
fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://{REDACTED}"),
            None => REDACTED.to_string(),
        };
    };
    if parsed.password().is_some() {
        // A URL with a host takes a password; `[redacted]` is percent-encoded in it.
        let _ = parsed.set_password(Some("REDACTED"));
    }
    let secret = |name: &str| {
        let name = name.to_ascii_lowercase();
        ["password", "passwd", "secret", "token", "key"]
            .iter()
            .any(|s| name.contains(s))
    };
    if parsed.query_pairs().any(|(name, _)| secret(&name)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if secret(&name) {
                    "REDACTED".to_string()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string().replace("REDACTED", REDACTED)
}

/// A figment error in words: what is wrong, and which setting in which source.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.last().cloned().unwrap_or_default();
            let source = match e.metadata.as_ref() {
                Some(m) if m.name.contains("environment") => {
                    if key == "database_url" {
                        "the environment variable DATABASE_URL".to_string()
                    } else {
                        format!("the environment variable PORTAL_{}", key.to_uppercase())
                    }
                }
                Some(m) => match &m.source {
                    Some(source) => format!("`{key}` in {source}"),
                    None => format!("`{key}` in {}", m.name),
                },
                None => format!("`{key}`"),
            };
            format!("{source}: {}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A yes/no setting: `true`/`false`, `1`/`0` or `yes`/`no`.
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Bool(b) => Ok(b),
        Raw::Number(0) => Ok(false),
        Raw::Number(1) => Ok(true),
        Raw::Text(t) if matches!(t.trim(), "1" | "true" | "yes") => Ok(true),
        Raw::Text(t) if matches!(t.trim(), "" | "0" | "false" | "no") => Ok(false),
        _ => Err(serde::de::Error::custom("use true or false")),
    }
}

/// A list: a TOML array, or one text with the items separated by commas.
fn list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    let items = match Raw::deserialize(deserializer)? {
        Raw::List(items) => items,
        Raw::Text(text) => text.split(',').map(str::to_string).collect(),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_municipality_configuration_is_valid() {
        let m = parse_municipality(DEFAULT_MUNICIPALITY, "built-in").unwrap();
        assert!(m.certificate_type("family_status").is_some());
        assert_eq!(m.tap.deadline_days, 10);
        assert_eq!(m.fines.municipality_code, "9999");
        let mut broken = m.clone();
        broken.fines.types.clear();
        assert!(broken.check().unwrap_err().contains("fines.types"));
    }

    #[test]
    fn production_refuses_every_sandbox_and_names_the_setting() {
        let mut config = Config::new(DEFAULT_DATABASE_URL, DEFAULT_BIND.parse().unwrap());
        assert!(
            config.check_production().is_ok(),
            "development allows sandboxes"
        );
        config.environment = Environment::Production;
        let err = config.check_production().unwrap_err().to_string();
        for name in [
            "PORTAL_PROTOCOL_URL",
            "PORTAL_SMTP_URL",
            "PORTAL_BANK_URL",
            "PORTAL_FINES_URL",
            "PORTAL_FINANCIAL_URL",
            "PORTAL_REVENUE_URL",
            "PORTAL_PUBLIC_URL",
            "PORTAL_BANK_SECRET",
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
        let url = Some("https://system.example.gr".to_string());
        config.protocol_url = url.clone();
        config.smtp_url = Some("smtp://mail.example.gr:25".into());
        config.bank_url = url.clone();
        config.fines_url = url.clone();
        config.financial_url = url.clone();
        config.revenue_url = url.clone();
        let err = config.check_production().unwrap_err().to_string();
        assert!(!err.contains("PORTAL_BANK_URL"), "{err}");
        assert!(
            err.contains("PORTAL_PUBLIC_URL") && err.contains("PORTAL_BANK_SECRET"),
            "{err}"
        );
        config.public_url = url;
        config.bank_secret = SecretString::from("the-bank's-real-secret");
        assert!(config.check_production().is_ok());
        assert!(Environment::parse("staging").is_err());
        assert_eq!(Environment::parse("").unwrap(), Environment::Development);
    }

    // figment's `Jail` takes a closure that answers figment's (large) error.
    #[allow(clippy::result_large_err)]
    #[test]
    fn settings_come_from_defaults_then_the_file_then_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            assert_eq!(
                Settings::figment(None).extract::<Settings>()?,
                Settings::default()
            );
            jail.create_file(
                "portal.toml",
                "rate_limit = 5\nbind = \"0.0.0.0:9000\"\ntrusted_proxies = [\"10.0.0.5\"]\n\
                 bank_mid = \"0020000001\"\nsecure_cookies = true\n",
            )?;
            let from_file: Settings = Settings::figment(Some("portal.toml")).extract()?;
            assert_eq!(from_file.rate_limit, 5);
            assert_eq!(from_file.bind, "0.0.0.0:9000");
            assert_eq!(from_file.trusted_proxies, vec!["10.0.0.5".to_string()]);
            assert_eq!(from_file.bank_mid, "0020000001");
            assert!(from_file.secure_cookies);
            assert_eq!(from_file.db_connections, 40, "a default the file leaves");

            jail.set_env("PORTAL_RATE_LIMIT", "7");
            jail.set_env("PORTAL_BIND", "");
            jail.set_env("PORTAL_TRUSTED_PROXIES", "10.0.0.6, 10.0.0.7");
            jail.set_env("PORTAL_BANK_MID", "0020000002");
            jail.set_env("PORTAL_BANK_SECRET", "000123");
            jail.set_env("PORTAL_SECURE_COOKIES", "no");
            jail.set_env("PORTAL_SOMETHING_ELSE", "not a setting: left alone");
            jail.set_env(
                "DATABASE_URL",
                "postgres://portal:hunter2@db.example:5432/portal",
            );
            let merged: Settings = Settings::figment(Some("portal.toml")).extract()?;
            assert_eq!(merged.rate_limit, 7, "the environment wins over the file");
            assert_eq!(
                merged.bind, "0.0.0.0:9000",
                "an empty variable counts as unset"
            );
            assert_eq!(merged.trusted_proxies, vec!["10.0.0.6", "10.0.0.7"]);
            assert_eq!(
                merged.bank_mid, "0020000002",
                "digits stay text, zeros kept"
            );
            assert_eq!(merged.bank_secret, "000123");
            assert!(!merged.secure_cookies);
            assert_eq!(
                merged.database_url,
                "postgres://portal:hunter2@db.example:5432/portal"
            );
            let config = Config::from_settings(&merged).map_err(|e| e.to_string())?;
            assert_eq!(config.rate_limit, 7);
            assert_eq!(config.trusted_proxies.len(), 2);

            let shown = toml::to_string(&merged.redacted()).map_err(|e| e.to_string())?;
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("000123"), "{shown}");
            assert!(shown.contains("postgres://portal:[redacted]@db.example:5432/portal"));
            let query = redact_url("postgres://u@h/db?sslmode=require&password=hunter2");
            assert_eq!(
                query,
                "postgres://u@h/db?sslmode=require&password=[redacted]"
            );
            let slash = redact_url("smtps://mailer:pa/ss@mail.example:465");
            assert!(
                !slash.contains("pa/ss") && !slash.contains("ss@"),
                "{slash}"
            );
            assert!(shown.contains("rate_limit = 7"), "{shown}");
            Ok(())
        });
    }

    #[allow(clippy::result_large_err)]
    #[test]
    fn a_bad_setting_is_named_with_where_it_came_from() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("PORTAL_RATE_LIMIT", "many");
            let err = describe(Settings::figment(None).extract::<Settings>().unwrap_err());
            assert!(err.contains("PORTAL_RATE_LIMIT"), "{err}");
            jail.set_env("PORTAL_RATE_LIMIT", "3");
            jail.create_file("portal.toml", "rate_limt = 3\n")?;
            let err = describe(
                Settings::figment(Some("portal.toml"))
                    .extract::<Settings>()
                    .unwrap_err(),
            );
            assert!(
                err.contains("rate_limt") && err.contains("portal.toml"),
                "{err}"
            );
            jail.create_file("portal.toml", "bind = \"somewhere\"\n")?;
            let settings: Settings = Settings::figment(Some("portal.toml")).extract()?;
            let err = Config::from_settings(&settings).unwrap_err().to_string();
            assert!(err.contains("PORTAL_BIND=\"somewhere\""), "{err}");
            Ok(())
        });
    }

    /// The defaults are written twice (`Config::new`, which tests start from, and
    /// `Settings::default`, which a portal starts from): they must agree.
    #[test]
    fn the_settings_defaults_are_the_config_defaults() {
        let from_settings = Config::from_settings(&Settings::default()).unwrap();
        let new = Config::new(DEFAULT_DATABASE_URL, DEFAULT_BIND.parse().unwrap());
        assert_eq!(format!("{from_settings:?}"), format!("{new:?}"));
    }

    #[test]
    fn settings_print_no_secret() {
        let settings = Settings {
            bank_secret: "the-bank-secret".into(),
            metrics_token: Some("metrics-token".into()),
            database_url: "postgres://portal:db-pass@db/portal".into(),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        for secret in ["the-bank-secret", "metrics-token", "db-pass"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("rate_limit = 20"), "{shown}");
    }

    #[test]
    fn a_bad_municipality_configuration_names_what_to_fix() {
        let dup = DEFAULT_MUNICIPALITY.replace("code = \"birth\"", "code = \"family_status\"");
        let err = parse_municipality(&dup, "m.toml").unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        let unknown = format!("{DEFAULT_MUNICIPALITY}\n[extra]\nx = 1\n");
        assert!(parse_municipality(&unknown, "m.toml").is_err());
    }
}
