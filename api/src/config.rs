//! Configuration, read from the environment at start-up. Every setting is documented in
//! `docs/operations.md`; nothing else reads the environment.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/portal";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`; may carry a password, so it is kept secret (never logged).
    pub database_url: SecretString,
    /// `PORTAL_BIND`.
    pub bind: SocketAddr,
    /// `PORTAL_DB_CONNECTIONS`: the pool size.
    pub db_connections: u32,
    /// `PORTAL_PROTOCOL_URL`: the protocol system. Unset: an in-process sandbox.
    pub protocol_url: Option<String>,
    /// `PORTAL_PROTOCOL_TIMEOUT_MS`.
    pub protocol_timeout: Duration,
    /// `PORTAL_SESSION_HOURS`: how long a login lasts.
    pub session_lifetime: chrono::Duration,
    /// `PORTAL_READ_WAIT_MS`: the longest a read waits for the read models to reach the
    /// reader's own latest write.
    pub read_wait: Duration,
    /// `PORTAL_SECURE_COOKIES`: mark the session cookie `Secure` (behind TLS).
    pub secure_cookies: bool,
    /// `PORTAL_CONFLICT_RETRIES`: how often a command that lost a concurrency race is
    /// retried before answering 409.
    pub conflict_retries: u32,
    /// `PORTAL_RATE_LIMIT`: logins, registrations and anonymous submissions allowed per
    /// client address per 10 minutes, each (0 turns limiting off). Behind a proxy every
    /// client shares its address: raise it or limit at the proxy.
    pub rate_limit: u32,
}

impl Config {
    /// Defaults suitable for one machine; `database_url` and `bind` are the only ones a
    /// test usually changes.
    pub fn new(database_url: &str, bind: SocketAddr) -> Self {
        Self {
            database_url: SecretString::from(database_url.to_string()),
            bind,
            db_connections: 40,
            protocol_url: None,
            protocol_timeout: Duration::from_secs(10),
            session_lifetime: chrono::Duration::hours(12),
            read_wait: Duration::from_secs(3),
            secure_cookies: false,
            conflict_retries: 1,
            rate_limit: 20,
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
        if let Some(ms) = env_number("PORTAL_READ_WAIT_MS")? {
            config.read_wait = Duration::from_millis(ms);
        }
        if let Some(n) = env_number("PORTAL_CONFLICT_RETRIES")? {
            config.conflict_retries = n as u32;
        }
        if let Some(n) = env_number("PORTAL_RATE_LIMIT")? {
            config.rate_limit = n as u32;
        }
        config.secure_cookies = matches!(
            std::env::var("PORTAL_SECURE_COOKIES").as_deref(),
            Ok("1" | "true" | "yes")
        );
        Ok(config)
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
