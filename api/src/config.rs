//! Configuration, read from the environment at start-up. Every setting is documented in
//! `docs/operations.md`; nothing else reads the environment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::municipality::Municipality;
use secrecy::{ExposeSecret, SecretString};

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
    /// `PORTAL_RATE_LIMIT`: logins, registrations and anonymous submissions allowed per
    /// client address per 10 minutes, each (0 turns limiting off). Behind a proxy every
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

    pub fn from_env() -> anyhow::Result<Self> {
        let database_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string());
        let bind = std::env::var("PORTAL_BIND").unwrap_or_else(|_| DEFAULT_BIND.to_string());
        let bind: SocketAddr = bind.parse().with_context(|| {
            format!("PORTAL_BIND={bind:?} is not an address like 127.0.0.1:8080")
        })?;
        let mut config = Self::new(&database_url, bind);
        config.environment = Environment::parse(&std::env::var("PORTAL_ENV").unwrap_or_default())?;
        if let Some(n) = env_number("PORTAL_DB_CONNECTIONS")? {
            config.db_connections = n as u32;
        }
        config.protocol_url = std::env::var("PORTAL_PROTOCOL_URL")
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(ms) = env_number("PORTAL_PROTOCOL_TIMEOUT_MS")? {
            config.protocol_timeout = Duration::from_millis(ms);
        }
        if let Some(h) = env_number("PORTAL_SESSION_HOURS")? {
            config.session_lifetime = chrono::Duration::hours(h as i64);
        }
        if let Some(m) = env_number("PORTAL_SESSION_IDLE_MINUTES")? {
            config.session_idle = chrono::Duration::minutes(m.max(1) as i64);
        }
        if let Some(s) = env_number("PORTAL_SESSION_CACHE_SECONDS")? {
            config.session_cache = Duration::from_secs(s);
        }
        if let Some(ms) = env_number("PORTAL_READ_WAIT_MS")? {
            config.read_wait = Duration::from_millis(ms);
        }
        if let Some(n) = env_number("PORTAL_CONFLICT_RETRIES")? {
            config.conflict_retries = n as u32;
        }
        if let Some(n) = env_number("PORTAL_RATE_LIMIT")? {
            config.rate_limit = n as u32;
        }
        if let Some(s) = env_number("PORTAL_READY_MAX_LAG_SECONDS")? {
            config.ready_max_lag = Duration::from_secs(s.max(1));
        }
        if let Some(s) = env_number("PORTAL_DB_STARTUP_WAIT_SECONDS")? {
            config.db_startup_wait = Duration::from_secs(s);
        }
        config.metrics_token = std::env::var("PORTAL_METRICS_TOKEN")
            .ok()
            .filter(|s| !s.is_empty())
            .map(SecretString::from);
        if let Ok(path) = std::env::var("PORTAL_MUNICIPALITY_CONFIG") {
            if !path.is_empty() {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("PORTAL_MUNICIPALITY_CONFIG={path:?} cannot be read")
                })?;
                config.municipality = Arc::new(parse_municipality(&text, &path)?);
            }
        }
        if let Some(ms) = env_number("PORTAL_PROTOCOL_INLINE_TIMEOUT_MS")? {
            config.protocol_inline_timeout = Duration::from_millis(ms);
        }
        if let Some(s) = env_number("PORTAL_PROTOCOL_RETRY_FIRST_SECS")? {
            config.protocol_retry_first = Duration::from_secs(s);
        }
        if let Some(s) = env_number("PORTAL_PROTOCOL_RETRY_EVERY_SECS")? {
            config.protocol_retry_every = Duration::from_secs(s);
        }
        if let Some(ms) = env_number("PORTAL_PROTOCOL_POLL_MS")? {
            config.protocol_poll = Duration::from_millis(ms.max(10));
        }
        if let Some(n) = env_number("PORTAL_DOCUMENT_MAX_BYTES")? {
            config.document_max_bytes = n as usize;
        }
        config.smtp_url = std::env::var("PORTAL_SMTP_URL")
            .ok()
            .filter(|s| !s.is_empty());
        if let Ok(raw) = std::env::var("PORTAL_TRUSTED_PROXIES") {
            config.trusted_proxies = raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse().with_context(|| {
                        format!("PORTAL_TRUSTED_PROXIES: {s:?} is not an IP address like 10.0.0.5")
                    })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(raw) = std::env::var("PORTAL_MAIL_SANDBOX_BIND")
            .ok()
            .filter(|s| !s.is_empty())
        {
            config.mail_sandbox_bind = Some(raw.parse().with_context(|| {
                format!("PORTAL_MAIL_SANDBOX_BIND={raw:?} is not an address like 127.0.0.1:8025")
            })?);
        }
        if let Ok(from) = std::env::var("PORTAL_MAIL_FROM") {
            if !from.is_empty() {
                config.mail_from = from;
            }
        }
        config.public_url = std::env::var("PORTAL_PUBLIC_URL")
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(ms) = env_number("PORTAL_MAIL_POLL_MS")? {
            config.mail_poll = Duration::from_millis(ms.max(10));
        }
        if let Some(secs) = env_number("PORTAL_MAIL_RETRY_SECS")? {
            config.mail_retry_first = Duration::from_secs(secs.max(1));
        }
        config.bank_url = std::env::var("PORTAL_BANK_URL")
            .ok()
            .filter(|s| !s.is_empty());
        if let Ok(mid) = std::env::var("PORTAL_BANK_MID") {
            if !mid.is_empty() {
                config.bank_mid = mid;
            }
        }
        if let Ok(secret) = std::env::var("PORTAL_BANK_SECRET") {
            if !secret.is_empty() {
                config.bank_secret = SecretString::from(secret);
            }
        }
        if config.bank_url.is_some() && config.bank_secret.expose_secret() == SANDBOX_BANK_SECRET {
            anyhow::bail!(
                "PORTAL_BANK_URL is set: set PORTAL_BANK_SECRET to the bank's shared secret"
            );
        }
        if let Some(ms) = env_number("PORTAL_BANK_TIMEOUT_MS")? {
            config.bank_timeout = Duration::from_millis(ms.max(100));
        }
        if let Some(m) = env_number("PORTAL_PAYMENT_EXPIRY_MINUTES")? {
            config.payment_expiry = Duration::from_secs(m.max(1) * 60);
        }
        if let Some(s) = env_number("PORTAL_PAYMENT_RECONCILE_AFTER_SECS")? {
            config.payment_reconcile_after = Duration::from_secs(s);
        }
        if let Some(ms) = env_number("PORTAL_PAYMENT_POLL_MS")? {
            config.payment_poll = Duration::from_millis(ms.max(10));
        }
        config.fines_url = std::env::var("PORTAL_FINES_URL")
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(ms) = env_number("PORTAL_FINES_TIMEOUT_MS")? {
            config.fines_timeout = Duration::from_millis(ms.max(100));
        }
        if let Some(s) = env_number("PORTAL_FINES_QUOTE_SECS")? {
            config.fines_quote_ttl = Duration::from_secs(s.max(60));
        }
        if let Some(ms) = env_number("PORTAL_FINES_POLL_MS")? {
            config.fines_poll = Duration::from_millis(ms.max(10));
        }
        if let Some(s) = env_number("PORTAL_FINES_RETRY_SECS")? {
            config.fines_retry_first = Duration::from_secs(s.max(1));
        }
        if let Some(ms) = env_number("PORTAL_DECLARATIONS_POLL_MS")? {
            config.declarations_poll = Duration::from_millis(ms.max(10));
        }
        if let Some(s) = env_number("PORTAL_DECLARATIONS_RETRY_SECS")? {
            config.declarations_retry_first = Duration::from_secs(s.max(1));
        }
        config.financial_url = std::env::var("PORTAL_FINANCIAL_URL")
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(s) = env_number("PORTAL_FINANCIAL_TIMEOUT_SECS")? {
            config.financial_timeout = Duration::from_secs(s.max(1));
        }
        config.revenue_url = std::env::var("PORTAL_REVENUE_URL")
            .ok()
            .filter(|s| !s.is_empty());
        if let Some(s) = env_number("PORTAL_REVENUE_TIMEOUT_SECS")? {
            config.revenue_timeout = Duration::from_secs(s.max(1));
        }
        if let Some(ms) = env_number("PORTAL_REVENUE_POLL_MS")? {
            config.revenue_poll = Duration::from_millis(ms.max(10));
        }
        if let Some(s) = env_number("PORTAL_REVENUE_RETRY_SECS")? {
            config.revenue_retry_first = Duration::from_secs(s.max(1));
        }
        config.secure_cookies = matches!(
            std::env::var("PORTAL_SECURE_COOKIES").as_deref(),
            Ok("1" | "true" | "yes")
        );
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
                 in place of the real systems)",
                missing.join(", ")
            )
        }
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }
}

fn env_number(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map(Some)
            .with_context(|| format!("{name}={v:?} is not a whole number")),
        _ => Ok(None),
    }
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

    #[test]
    fn a_bad_municipality_configuration_names_what_to_fix() {
        let dup = DEFAULT_MUNICIPALITY.replace("code = \"birth\"", "code = \"family_status\"");
        let err = parse_municipality(&dup, "m.toml").unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        let unknown = format!("{DEFAULT_MUNICIPALITY}\n[extra]\nx = 1\n");
        assert!(parse_municipality(&unknown, "m.toml").is_err());
    }
}
