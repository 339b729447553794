//! `/metrics` (Prometheus text format) and `/readyz`.
//!
//! Two kinds of figures:
//! - counted as things happen, through the `metrics` facade into the process's Prometheus
//!   recorder: HTTP requests and their latency, commands by aggregate and outcome, events
//!   appended, background loop runs and failures, consumer failures;
//! - read at each scrape from the database and the pool, written straight into the answer:
//!   each consumer's position and lag and whether it is stuck, each outbox's depth and
//!   oldest age, payments by status, the pool's connections.
//!
//! The second kind is not put in the global recorder: two portals in one process (the
//! tests) would overwrite each other's gauges between a scrape's update and its render.
//! The list of every metric, with alert rules, is in `docs/operations.md`.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::AppState;

/// The buckets of the HTTP latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process's Prometheus recorder, installed on first use.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("portal_http_request_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .expect("the buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows only gauges");
        }
        handle
    })
}

/// The methods the portal answers, as a label; anything else is `other` (a client must not
/// be able to mint label values).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts every request by method, route pattern (never the path: it carries ids and
/// codes; a request that matched no route is `unmatched`) and status, and times it.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("portal_http_requests_total",
        "method" => method, "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("portal_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(started.elapsed().as_secs_f64());
    response
}

/// Prometheus text of one gauge family.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        Self { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let escaped = val
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{key}=\"{escaped}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// The figures read at scrape time, as Prometheus text.
async fn scraped(state: &AppState) -> Result<String, sqlx::Error> {
    let mut out = String::new();
    let consumers = eventlog::consumer_status(
        &state.pool,
        &state.consumers.consumers(),
        Some(&state.progress),
    )
    .await?;
    let mut f = Family::new(
        &mut out,
        "portal_consumer_position",
        "The global position of the last event a read model or process manager has handled.",
    );
    for c in &consumers {
        f.sample(
            "portal_consumer_position",
            &[("consumer", &c.name)],
            c.position.global_position as f64,
        );
    }
    let mut f = Family::new(
        &mut out,
        "portal_consumer_lag_events",
        "Events of the types a consumer reads that it has not handled yet (among the next 100,000 of the log).",
    );
    for c in &consumers {
        f.sample(
            "portal_consumer_lag_events",
            &[("consumer", &c.name)],
            c.lag_events as f64,
        );
    }
    let mut f = Family::new(
        &mut out,
        "portal_consumer_lag_seconds",
        "How long ago the oldest event a consumer has not handled yet was recorded (0: none).",
    );
    for c in &consumers {
        f.sample(
            "portal_consumer_lag_seconds",
            &[("consumer", &c.name)],
            c.lag_seconds,
        );
    }
    let mut f = Family::new(
        &mut out,
        "portal_consumer_stuck",
        "1 while a consumer cannot handle an event (see `portal projections status`).",
    );
    for c in &consumers {
        f.sample(
            "portal_consumer_stuck",
            &[("consumer", &c.name)],
            if c.failure.is_some() { 1.0 } else { 0.0 },
        );
    }
    let mut f = Family::new(
        &mut out,
        "portal_consumer_stuck_attempts",
        "Attempts so far on the event a consumer is stuck on (0: not stuck).",
    );
    for c in &consumers {
        f.sample(
            "portal_consumer_stuck_attempts",
            &[("consumer", &c.name)],
            c.failure.as_ref().map_or(0.0, |f| f64::from(f.attempts)),
        );
    }

    let outboxes = commands::background::outbox_status(&state.pool).await?;
    let mut f = Family::new(
        &mut out,
        "portal_outbox_depth",
        "Rows of an outbox not done yet (e-mails, protocol registrations, notices to other systems).",
    );
    for o in &outboxes {
        f.sample("portal_outbox_depth", &[("outbox", o.name)], o.depth as f64);
    }
    let mut f = Family::new(
        &mut out,
        "portal_outbox_oldest_age_seconds",
        "Age of the oldest row of an outbox not done yet (0: empty).",
    );
    for o in &outboxes {
        f.sample(
            "portal_outbox_oldest_age_seconds",
            &[("outbox", o.name)],
            o.oldest_age_seconds,
        );
    }

    let refused = commands::refused_notices::count_by_outbox(&state.pool).await?;
    let mut f = Family::new(
        &mut out,
        "portal_refused_notices",
        "Payment notices the fines or revenue system refused, waiting for a clerk (/staff/notices).",
    );
    for (outbox, n) in &refused {
        f.sample("portal_refused_notices", &[("outbox", outbox)], *n as f64);
    }

    let payments = projections::payments::count_by_status(&state.pool).await?;
    let mut f = Family::new(
        &mut out,
        "portal_payments",
        "Payments by status (created, redirected, succeeded, failed, error, cancelled, expired).",
    );
    for status in [
        "created",
        "redirected",
        "succeeded",
        "failed",
        "error",
        "cancelled",
        "expired",
    ] {
        let n = payments
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        f.sample("portal_payments", &[("status", status)], n as f64);
    }

    let pool = &state.pool;
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
    let mut f = Family::new(
        &mut out,
        "portal_db_pool_connections",
        "Connections of the database pool, in use and idle.",
    );
    f.sample(
        "portal_db_pool_connections",
        &[("state", "in_use")],
        f64::from(size - idle),
    );
    f.sample(
        "portal_db_pool_connections",
        &[("state", "idle")],
        f64::from(idle),
    );
    let mut f = Family::new(
        &mut out,
        "portal_db_pool_max_connections",
        "The most connections the pool opens (PORTAL_DB_CONNECTIONS).",
    );
    f.sample(
        "portal_db_pool_max_connections",
        &[],
        f64::from(pool.options().get_max_connections()),
    );
    Ok(out)
}

/// `GET /metrics`: Prometheus text format. With `PORTAL_METRICS_TOKEN` set, only for
/// `Authorization: Bearer <token>`. When the database does not answer, the counters are
/// still served, with `portal_database_up 0`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    summary = "Prometheus metrics",
    description = "Prometheus text format (0.0.4): HTTP requests and latency, commands, events \
                   appended, consumers' position, lag and failures, outboxes, payments by \
                   status, the database pool. The list is in docs/operations.md. With \
                   `PORTAL_METRICS_TOKEN` set, only with `Authorization: Bearer <token>`.",
    security(()),
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "text/plain"),
        (status = 401, description = "`PORTAL_METRICS_TOKEN` is set and the request does not \
                                      carry it.", body = String, content_type = "text/plain"),
        (status = 500, response = crate::openapi::Internal),
    )
)]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need the operator's token (PORTAL_METRICS_TOKEN)\n",
            )
                .into_response();
        }
    }
    let mut body = recorder().render();
    let scrape = tokio::time::timeout(std::time::Duration::from_secs(5), scraped(&state)).await;
    // Whether this scrape read what it reads from the database, and whether the database
    // answered at all (a slow answer is not a down database).
    let (complete, up) = match scrape {
        Ok(Ok(text)) => {
            body.push_str(&text);
            (1, 1)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: the database did not answer");
            (0, u8::from(state.database_probe.answers().await))
        }
        Err(_) => {
            tracing::warn!("metrics: the database took more than 5 s; gauges left out");
            (0, u8::from(state.database_probe.answers().await))
        }
    };
    let mut f = Family::new(
        &mut body,
        "portal_database_up",
        "1 when the database answers a new connection.",
    );
    f.sample("portal_database_up", &[], f64::from(up));
    let mut f = Family::new(
        &mut body,
        "portal_metrics_scrape_complete",
        "1 when this scrape read every gauge from the database (within 5 s).",
    );
    f.sample("portal_metrics_scrape_complete", &[], f64::from(complete));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The readiness check's answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    #[schema(inline)]
    status: ReadyStatus,
    #[schema(inline)]
    database: DatabaseReadiness,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    migrations: Option<Migrations>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_lag_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    lagging: Option<Vec<ConsumerLag>>,
    /// Consumers stuck on an event they cannot handle (see `portal projections status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    stuck: Option<Vec<ConsumerLag>>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum ReadyStatus {
    Ready,
    NotReady,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum DatabaseReadiness {
    Ok,
    Unreachable,
    Slow,
    Error,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct Migrations {
    applied: i64,
    expected: i64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct ConsumerLag {
    name: String,
    lag_events: i64,
    lag_seconds: f64,
    /// It cannot handle an event (see `portal projections status`).
    stuck: bool,
}

/// `GET /readyz`: 200 when the database answers, every migration is applied and no read
/// model or process manager is catching up with an event older than
/// `PORTAL_READY_MAX_LAG_SECONDS`; 503 otherwise, saying which. A consumer *stuck* on an
/// event it cannot handle is listed (`stuck`) but does not make the portal unready: it is
/// stuck in every process alike (the consumers share one checkpoint), so taking processes
/// out of the load balancer would only turn a stale read model into an outage; the
/// alert on `portal_consumer_stuck` is what calls an operator. Liveness stays `/healthz`.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    summary = "Readiness",
    description = "200 when the database answers, every migration is applied and no read model \
                   or process manager that is catching up has an event older than \
                   `PORTAL_READY_MAX_LAG_SECONDS` (default 30) still to handle; 503 otherwise, \
                   naming the lagging ones. A consumer stuck on an event it cannot handle is \
                   listed under `stuck` and does not make the portal unready (it is stuck in \
                   every process alike). Liveness is `/healthz`.",
    security(()),
    responses(
        (status = 200, description = "Ready.", body = Readiness,
         example = json!({"status": "ready", "database": "ok",
                          "migrations": {"applied": 16, "expected": 16},
                          "max_lag_seconds": 30.0, "lagging": [], "stuck": []})),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, description = "Not ready: the database does not answer (with \
                                      `Retry-After`), migrations are missing, or a consumer \
                                      lags.", body = Readiness,
         headers(("Retry-After" = u32, description = "When the database does not answer: \
                                                       seconds to wait."))),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let bound = state.config.ready_max_lag.as_secs_f64();
    let check = async {
        let (applied, expected) = eventlog::migration_status(&state.pool).await?;
        let consumers = eventlog::consumer_status(
            &state.pool,
            &state.consumers.consumers(),
            Some(&state.progress),
        )
        .await?;
        Ok::<_, sqlx::Error>((applied, expected, consumers))
    };
    let describe = |c: &eventlog::ConsumerStatus| ConsumerLag {
        name: c.name.clone(),
        lag_events: c.lag_events,
        lag_seconds: (c.lag_seconds * 10.0).round() / 10.0,
        stuck: c.failure.is_some(),
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), check).await {
        Ok(Ok((applied, expected, consumers))) => {
            let lagging: Vec<_> = consumers
                .iter()
                .filter(|c| c.failure.is_none() && c.lag_seconds > bound)
                .map(describe)
                .collect();
            let stuck: Vec<_> = consumers
                .iter()
                .filter(|c| c.failure.is_some())
                .map(describe)
                .collect();
            let ready = applied >= expected && lagging.is_empty();
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (
                status,
                Json(Readiness {
                    status: if ready {
                        ReadyStatus::Ready
                    } else {
                        ReadyStatus::NotReady
                    },
                    database: DatabaseReadiness::Ok,
                    migrations: Some(Migrations { applied, expected }),
                    max_lag_seconds: Some(bound),
                    lagging: Some(lagging),
                    stuck: Some(stuck),
                }),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database failed");
            let answers = state.database_probe.answers().await;
            not_ready_database(if answers {
                DatabaseReadiness::Error
            } else {
                DatabaseReadiness::Unreachable
            })
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within 3 s");
            let answers = state.database_probe.answers().await;
            not_ready_database(if answers {
                DatabaseReadiness::Slow
            } else {
                DatabaseReadiness::Unreachable
            })
        }
    }
}

fn not_ready_database(database: DatabaseReadiness) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        Json(Readiness {
            status: ReadyStatus::NotReady,
            database,
            migrations: None,
            max_lag_seconds: None,
            lagging: None,
            stuck: None,
        }),
    )
        .into_response()
}
