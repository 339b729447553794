//! The application as a value: `Application::build(config)` prepares the database, the
//! read models, the consumers and the sandboxes and binds the listener (port 0 in tests);
//! `run` serves until stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::Router;
use commands::adapters::protocol::HttpProtocolSystem;
use commands::background::LoopTask;
use commands::mail_notices::{MailNotices, MailSender, NoticeSettings};
use commands::payments::{PaymentReconciler, PaymentSettings};
use commands::registrar::Registrar;
use commands::{Commands, Portal, RequestCommands, Settings};
use domain::application::{ApplicationServices, CertificateApplication, RetryPolicy};
use domain::business::{FinancialSystem, RevenueSystem};
use domain::certification::Certification;
use domain::payment::Payment;
use domain::ports::{BankGateway, FinesSystem};
use domain::request::RequestServices;
use domain::tax_debt::TaxDebt;
use domain::tax_declaration::TaxDeclaration;
use domain::traffic_fine::TrafficFine;
use eventlog::{ConsumerRuntime, Progress, RuntimeConfig};
use sandboxes::bank::BankSandbox;
use sandboxes::financial::FinancialSandbox;
use sandboxes::fines::FinesSandbox;
use sandboxes::mail::{MailSandbox, RunningMailSandbox};
use sandboxes::protocol::ProtocolSandbox;
use sandboxes::revenue::RevenueSandbox;
use sandboxes::RunningSandbox;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error;
use crate::routes;
use commands::fines::FineNotifier;
use commands::tax_debts::DebtNotifier;
use commands::tax_declarations::DeclarationWorker;

/// What every handler can reach: the application (every use case runs over it) and what
/// only HTTP needs. It dereferences to the [`Portal`], so a handler reads `state.pool` or
/// calls a use case with `&state`.
#[derive(Clone)]
pub struct AppState {
    pub portal: Arc<Portal>,
    pub config: Arc<Config>,
    /// The consumers this process runs (for `/metrics`, `/readyz`).
    pub consumers: eventlog::ConsumerDirectory,
    /// Whether the database answers, shared by the outage checks of every request.
    pub database_probe: Arc<crate::http::DatabaseProbe>,
    pub rate_limiter: Arc<crate::web::RateLimiter>,
}

impl std::ops::Deref for AppState {
    type Target = Portal;

    fn deref(&self) -> &Portal {
        &self.portal
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    pub state: AppState,
    /// The in-process protocol sandbox, when `PORTAL_PROTOCOL_URL` is unset.
    pub protocol_sandbox: Option<ProtocolSandbox>,
    /// The in-process mail sandbox, when `PORTAL_SMTP_URL` is unset.
    pub mail_sandbox: Option<MailSandbox>,
    /// The in-process sandbox bank, when `PORTAL_BANK_URL` is unset.
    pub bank_sandbox: Option<BankSandbox>,
    /// The in-process sandbox fines system, when `PORTAL_FINES_URL` is unset.
    pub fines_sandbox: Option<FinesSandbox>,
    /// The in-process sandbox financial system, when `PORTAL_FINANCIAL_URL` is unset.
    pub financial_sandbox: Option<FinancialSandbox>,
    /// The in-process sandbox revenue system, when `PORTAL_REVENUE_URL` is unset.
    pub revenue_sandbox: Option<RevenueSandbox>,
    _fine_notifier: LoopTask,
    _declaration_worker: LoopTask,
    _debt_notifier: LoopTask,
    _idempotency_purge: LoopTask,
    _reconciler: LoopTask,
    _mail_sandbox: Option<RunningMailSandbox>,
    _mail_sender: LoopTask,
    _sandboxes: Vec<RunningSandbox>,
    _consumers: ConsumerRuntime,
    _registrar: LoopTask,
    _session_listener: LoopTask,
}

/// Creates the database if needed, applies migrations and returns a pool.
pub async fn prepare_database(config: &Config) -> anyhow::Result<PgPool> {
    // A server that is still starting (or restarting) gets `PORTAL_DB_STARTUP_WAIT_SECONDS`
    // before the portal gives up, with a line each time it tries again.
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(250);
    loop {
        match eventlog::ensure_database(config.database_url()).await {
            Ok(()) => break,
            Err(e @ eventlog::DatabaseError::Unreachable { .. }) => {
                let left = config.db_startup_wait.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(anyhow::anyhow!(e).context(format!(
                        "gave up after {} s (PORTAL_DB_STARTUP_WAIT_SECONDS)",
                        config.db_startup_wait.as_secs()
                    )));
                }
                let pause = wait.min(left);
                tracing::warn!(
                    error = %e,
                    "the database does not answer yet; trying again in {:.1} s (giving up in {} s)",
                    pause.as_secs_f64(),
                    left.as_secs()
                );
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let pool = eventlog::connect(config.database_url(), config.db_connections).await?;
    eventlog::migrate(&pool).await?;
    Ok(pool)
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.check_production()?;
        // Counting starts now, not at the first scrape.
        crate::metrics::recorder();
        let pool = prepare_database(&config).await?;
        // Bound first: the bank's return and notification addresses are built from it when
        // PORTAL_PUBLIC_URL is unset.
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("Failed to bind {}", config.bind))?;
        let bound = listener
            .local_addr()
            .context("Failed to read the bound address")?;
        let portal_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_string();

        let mut sandboxes = Vec::new();
        let (protocol_url, protocol_sandbox) = match &config.protocol_url {
            Some(url) => (url.clone(), None),
            None => {
                let sandbox = ProtocolSandbox::new();
                let running =
                    sandboxes::serve(sandbox.router(), SocketAddr::from(([127, 0, 0, 1], 0)))
                        .await
                        .context("Failed to start the protocol sandbox")?;
                let url = running.base_url();
                tracing::info!(%url, "protocol sandbox started in-process");
                sandboxes.push(running);
                (url, Some(sandbox))
            }
        };
        let protocol = Arc::new(HttpProtocolSystem::new(
            protocol_url.clone(),
            config.protocol_timeout,
        ));
        let requests = RequestCommands::new(pool.clone(), RequestServices { protocol })
            .with_conflict_retries(config.conflict_retries);
        let retry = RetryPolicy {
            first: chrono::Duration::from_std(config.protocol_retry_first)
                .context("PORTAL_PROTOCOL_RETRY_FIRST_SECS is too large")?,
            every: chrono::Duration::from_std(config.protocol_retry_every)
                .context("PORTAL_PROTOCOL_RETRY_EVERY_SECS is too large")?,
        };
        let application_commands = |timeout| {
            Commands::<CertificateApplication>::new(
                pool.clone(),
                ApplicationServices {
                    protocol: Arc::new(HttpProtocolSystem::new(protocol_url.clone(), timeout)),
                    retry,
                },
            )
            .with_conflict_retries(config.conflict_retries)
        };
        let applications = Arc::new(application_commands(config.protocol_inline_timeout));
        let background_applications = application_commands(config.protocol_timeout);
        let certifications = Commands::<Certification>::new(pool.clone(), ())
            .with_conflict_retries(config.conflict_retries);

        // The bank: the configured gateway, or the sandbox bank in-process. Its
        // server-to-server notifications go to the portal's notify endpoint.
        let payment_settings = PaymentSettings::new(
            &portal_url,
            config.payment_expiry,
            config.payment_reconcile_after,
        )
        .context(
            "PORTAL_PAYMENT_EXPIRY_MINUTES or PORTAL_PAYMENT_RECONCILE_AFTER_SECS is too large",
        )?;
        let (bank_url, bank_sandbox) = match &config.bank_url {
            Some(url) => (url.clone(), None),
            None => {
                use secrecy::ExposeSecret;
                let sandbox =
                    BankSandbox::new(config.bank_mid.clone(), config.bank_secret.expose_secret())
                        .with_notify_url(payment_settings.notify_url.clone())
                        .with_merchant_name(config.municipality.municipality.name_el.clone());
                let running = sandbox
                    .start(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .context("Failed to start the sandbox bank")?;
                let url = running.base_url();
                tracing::info!(%url, "sandbox bank started in-process");
                sandboxes.push(running);
                (url, Some(sandbox))
            }
        };
        let bank: Arc<dyn BankGateway> = Arc::new(commands::adapters::vpos::VposGateway::new(
            config.bank_mid.clone(),
            config.bank_secret.clone(),
            bank_url,
            config.bank_timeout,
        ));
        let payments = Commands::<Payment>::new(pool.clone(), ())
            .with_conflict_retries(config.conflict_retries.max(2));

        // The fines-management system: the configured one, or the sandbox in-process.
        let (fines_url, fines_sandbox) = match &config.fines_url {
            Some(url) => (url.clone(), None),
            None => {
                let sandbox = FinesSandbox::new();
                let running =
                    sandboxes::serve(sandbox.router(), SocketAddr::from(([127, 0, 0, 1], 0)))
                        .await
                        .context("Failed to start the sandbox fines system")?;
                let url = running.base_url();
                tracing::info!(%url, "sandbox fines system started in-process");
                sandboxes.push(running);
                (url, Some(sandbox))
            }
        };
        let fines: Arc<dyn FinesSystem> = Arc::new(
            commands::adapters::fines::HttpFinesSystem::new(fines_url, config.fines_timeout),
        );
        let traffic_fines = Commands::<TrafficFine>::new(pool.clone(), ())
            .with_conflict_retries(config.conflict_retries.max(2));
        let tax_declarations = Commands::<TaxDeclaration>::new(pool.clone(), ())
            .with_conflict_retries(config.conflict_retries.max(2));
        let tax_debts = Commands::<TaxDebt>::new(pool.clone(), ())
            .with_conflict_retries(config.conflict_retries.max(2));

        // The financial system: the configured one, or the sandbox in-process.
        let (financial_url, financial_sandbox) = match &config.financial_url {
            Some(url) => (url.clone(), None),
            None => {
                let sandbox = FinancialSandbox::new();
                let running =
                    sandboxes::serve(sandbox.router(), SocketAddr::from(([127, 0, 0, 1], 0)))
                        .await
                        .context("Failed to start the sandbox financial system")?;
                let url = running.base_url();
                tracing::info!(%url, "sandbox financial system started in-process");
                sandboxes.push(running);
                (url, Some(sandbox))
            }
        };
        let financial: Arc<dyn FinancialSystem> =
            Arc::new(commands::adapters::financial::HttpFinancialSystem::new(
                financial_url,
                config.financial_timeout,
            ));

        // The revenue system: the configured one, or the sandbox in-process.
        let (revenue_url, revenue_sandbox) = match &config.revenue_url {
            Some(url) => (url.clone(), None),
            None => {
                let sandbox = RevenueSandbox::new();
                let running =
                    sandboxes::serve(sandbox.router(), SocketAddr::from(([127, 0, 0, 1], 0)))
                        .await
                        .context("Failed to start the sandbox revenue system")?;
                let url = running.base_url();
                tracing::info!(%url, "sandbox revenue system started in-process");
                sandboxes.push(running);
                (url, Some(sandbox))
            }
        };
        let revenue: Arc<dyn RevenueSystem> =
            Arc::new(commands::adapters::revenue::HttpRevenueSystem::new(
                revenue_url,
                config.revenue_timeout,
            ));

        let models = projections::all();
        projections::prepare(&pool, &models)
            .await
            .context("Failed to build the read models")?;
        let progress = Progress::new(pool.clone());
        let mut consumers =
            ConsumerRuntime::new(pool.clone(), RuntimeConfig::default(), progress.clone());
        for model in models {
            consumers
                .start(model)
                .await
                .context("Failed to start a consumer")?;
        }

        // The payment engine's own state, and the outboxes of the notifiers and the
        // declaration worker.
        let managers = commands::process_managers();
        let process: Vec<&'static str> = managers.iter().map(|m| m.name()).collect();
        for manager in managers {
            let name = manager.name();
            consumers
                .start(manager)
                .await
                .with_context(|| format!("Failed to start the process manager {name}"))?;
        }
        // Their state must be current before the portal answers: the bank's answer to a
        // recent order is looked up there. A new release on an old database folds the
        // whole log first (the read models were built above the same way).
        if let Some(head) = eventlog::log_head(&pool)
            .await
            .context("Failed to read the head of the event log")?
        {
            if !progress
                .wait_for(&process, head, std::time::Duration::from_secs(600))
                .await
            {
                anyhow::bail!(
                    "the payment process and the protocol queue did not catch up with the \
                     event log within 10 minutes; see `portal projections status`"
                );
            }
        }

        // E-mail notices: the consumer that writes the outbox, and its sender.
        let (smtp_url, running_mail) = match &config.smtp_url {
            Some(url) => (url.clone(), None),
            None => {
                let local = SocketAddr::from(([127, 0, 0, 1], 0));
                let http = config.mail_sandbox_bind.unwrap_or(local);
                let running = sandboxes::mail::start(local, http)
                    .await
                    .context("Failed to start the mail sandbox")?;
                tracing::info!(
                    smtp = %running.smtp_url(),
                    messages = %format!("{}/messages", running.base_url()),
                    "mail sandbox started in-process"
                );
                (running.smtp_url(), Some(running))
            }
        };
        let mailer =
            commands::adapters::smtp::SmtpMailer::new(&commands::adapters::smtp::SmtpConfig {
                url: smtp_url,
                from: config.mail_from.clone(),
                timeout: std::time::Duration::from_secs(30),
            })
            .map_err(|e| anyhow::anyhow!("PORTAL_SMTP_URL / PORTAL_MAIL_FROM: {e}"))?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.bind));
        consumers
            .start(Arc::new(MailNotices {
                settings: NoticeSettings {
                    portal_url: public_url,
                    municipality_el: config.municipality.municipality.name_el.clone(),
                    municipality_en: config.municipality.municipality.name_en.clone(),
                },
            }))
            .await
            .context("Failed to start the mail consumer")?;
        let mail_sender = MailSender {
            pool: pool.clone(),
            mailer: Arc::new(mailer),
            lease: std::time::Duration::from_secs(120),
            retry_first: config.mail_retry_first,
        }
        .spawn(config.mail_poll);
        let mail_sandbox = running_mail.as_ref().map(|r| r.sandbox().clone());

        let registrar = Registrar::new(
            pool.clone(),
            progress.clone(),
            &[
                commands::registrar::ProtocolQueue::NAME,
                projections::applications::ApplicationsProjection::NAME,
            ],
            config.clock.clone(),
        );
        let registrar_task = registrar
            .clone()
            .spawn(Arc::new(background_applications), config.protocol_poll);

        // At most a minute and a quarter of the idle limit: a cached session is not looked
        // up, and its use is written down (for the idle limit) only when it is.
        let cache_lifetime = config
            .session_cache
            .min(std::time::Duration::from_secs(60))
            .min(config.session_idle.to_std().unwrap_or_default() / 4);
        let sessions = Arc::new(commands::session_cache::SessionCache::new(cache_lifetime));
        let session_listener = LoopTask::new(sessions.clone().listen(pool.clone()));
        let portal = Arc::new(Portal {
            pool,
            progress,
            sessions,
            clock: config.clock.clone(),
            settings: Settings {
                municipality: config.municipality.clone(),
                session_lifetime: config.session_lifetime,
                session_idle: config.session_idle,
                portal_url: config
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", config.bind)),
                document_max_bytes: config.document_max_bytes,
                read_wait: config.read_wait,
                payments: payment_settings,
                fines_quote_ttl: config.fines_quote_ttl,
                fines_retry_first: config.fines_retry_first,
                declarations_retry_first: config.declarations_retry_first,
                revenue_retry_first: config.revenue_retry_first,
            },
            requests,
            applications,
            certifications,
            payments,
            traffic_fines,
            tax_declarations,
            tax_debts,
            bank,
            fines,
            financial,
            revenue,
            registrar,
        });
        let state = AppState {
            portal: portal.clone(),
            config: Arc::new(config.clone()),
            consumers: consumers.directory(),
            database_probe: Arc::new(crate::http::DatabaseProbe::new(config.database_url())),
            rate_limiter: Arc::new(crate::web::RateLimiter::new(
                config.rate_limit,
                std::time::Duration::from_secs(600),
            )),
        };
        let reconciler = PaymentReconciler::new(portal.clone()).spawn(config.payment_poll);
        let fine_notifier = FineNotifier::new(portal.clone()).spawn(config.fines_poll);
        let declaration_worker =
            DeclarationWorker::new(portal.clone()).spawn(config.declarations_poll);
        let debt_notifier = DebtNotifier::new(portal.clone()).spawn(config.revenue_poll);
        let purge_pool = portal.pool.clone();
        let idempotency_purge = commands::background::every(
            "idempotency purge",
            std::time::Duration::from_secs(3600),
            move || {
                let pool = purge_pool.clone();
                async move { commands::idempotency::purge_expired(&pool).await }
            },
        );
        let pages = crate::web::router().layer(middleware::from_fn_with_state(
            state.clone(),
            crate::web::csrf_and_language,
        ));
        let router = routes::router()
            .merge(pages)
            .fallback(crate::web::not_found)
            .method_not_allowed_fallback(error::method_not_allowed_fallback)
            .with_state(state.clone())
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::idempotency::idempotent,
            ))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::http::unavailable_while_database_down,
            ))
            // Inside `localize_errors`, so that its refusal speaks the reader's language.
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::web::api_cross_site,
            ))
            .layer(middleware::from_fn(error::localize_errors))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::web::rate_limit,
            ))
            .layer(middleware::from_fn(crate::web::personal_answers_not_stored))
            // Security headers on every answer, pages and API alike (tower-http).
            .layer(SetResponseHeaderLayer::overriding(
                header::CONTENT_SECURITY_POLICY,
                crate::web::content_security_policy,
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
            // Unless the page says otherwise (a tracking page says `no-referrer`).
            .layer(SetResponseHeaderLayer::if_not_present(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ))
            // A year, this host only: other hosts of the municipality decide for
            // themselves. Only when the portal is served over HTTPS.
            .layer(tower::util::option_layer(config.https().then(|| {
                SetResponseHeaderLayer::overriding(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000"),
                )
            })))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    let uri = crate::http::loggable_path(request.uri());
                    tracing::info_span!("request", method = %request.method(), uri = %uri, request_id)
                }),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(middleware::from_fn(crate::http::drop_unacceptable_request_id))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::http::resolve_client_address,
            ))
            .layer(middleware::from_fn(crate::http::refuse_oversized_headers))
            // Outermost, so that it counts every answer (refusals by the layers above
            // included); a `Router::layer` runs after routing, so the route is known.
            .layer(middleware::from_fn(crate::metrics::track_http));

        Ok(Self {
            listener,
            router,
            state,
            protocol_sandbox,
            bank_sandbox,
            fines_sandbox,
            financial_sandbox,
            revenue_sandbox,
            _fine_notifier: fine_notifier,
            _declaration_worker: declaration_worker,
            _debt_notifier: debt_notifier,
            _idempotency_purge: idempotency_purge,
            _reconciler: reconciler,
            _sandboxes: sandboxes,
            _consumers: consumers,
            _registrar: registrar_task,
            _session_listener: session_listener,
            mail_sandbox,
            _mail_sandbox: running_mail,
            _mail_sender: mail_sender,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.address().port()
    }

    /// Serves until the process receives Ctrl-C or SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            _sandboxes,
            _consumers,
            _registrar,
            _mail_sandbox,
            _mail_sender,
            _reconciler,
            _fine_notifier,
            _declaration_worker,
            _debt_notifier,
            _idempotency_purge,
            _session_listener,
            ..
        } = self;
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
    }

    /// Serves in a background task (tests): returns the base URL; dropping the runtime
    /// stops it.
    pub fn spawn(self) -> (String, AppState, Option<ProtocolSandbox>) {
        let base = format!("http://{}", self.address());
        let state = self.state.clone();
        let sandbox = self.protocol_sandbox.clone();
        tokio::spawn(async move {
            if let Err(e) = self.run().await {
                tracing::error!(error = %e, "server stopped");
            }
        });
        (base, state, sandbox)
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
