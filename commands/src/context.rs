//! The application's context: everything a use case or a process manager reaches — the
//! write side of every aggregate, the ports to the systems the portal does not own, the
//! clock and the settings — built once at start-up and shared by the JSON API, the pages,
//! the command line and any other front door.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::account::Role;
use domain::application::CertificateApplication;
use domain::business::{FinancialSystem, RevenueSystem};
use domain::certification::Certification;
use domain::municipality::Municipality;
use domain::payment::Payment;
use domain::ports::{BankGateway, Clock, FinesSystem};
use domain::tax_debt::TaxDebt;
use domain::tax_declaration::TaxDeclaration;
use domain::traffic_fine::TrafficFine;
use eventlog::{Position, Progress};
use sqlx::PgPool;
use uuid::Uuid;

use crate::payments::PaymentSettings;
use crate::registrar::Registrar;
use crate::{CommandMetadata, Commands, RequestCommands};

/// The portal's use cases run over this.
pub struct Portal {
    pub pool: PgPool,
    /// How far each read model has folded the log (read-your-writes waits on it).
    pub progress: Progress,
    /// Sessions read recently, so that a request need not read its session again.
    pub sessions: Arc<crate::session_cache::SessionCache>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub requests: RequestCommands,
    /// Applications, with the short protocol timeout of a submission the citizen waits on
    /// (shared with the protocol attempts it starts, which outlive a dropped request).
    pub applications: Arc<Commands<CertificateApplication>>,
    pub certifications: Commands<Certification>,
    pub payments: Commands<Payment>,
    pub traffic_fines: Commands<TrafficFine>,
    /// Municipal-tax declarations (S13), one stream per business and period.
    pub tax_declarations: Commands<TaxDeclaration>,
    /// Certified municipal-tax debts paid through the portal (S14), one stream per ΑΦΜ and
    /// debt.
    pub tax_debts: Commands<TaxDebt>,
    /// The bank's payment gateway.
    pub bank: Arc<dyn BankGateway>,
    /// The fines-management system.
    pub fines: Arc<dyn FinesSystem>,
    /// The municipality's financial system (warrants to suppliers, S12).
    pub financial: Arc<dyn FinancialSystem>,
    /// The municipality's revenue system (municipal tax, S13–S14).
    pub revenue: Arc<dyn RevenueSystem>,
    /// Automatic protocol registration of applications.
    pub registrar: Registrar,
}

/// What the use cases read from the configuration (documented in `docs/operations.md`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The municipality: certificate types, fines, tax categories.
    pub municipality: Arc<Municipality>,
    /// How long a login lasts.
    pub session_lifetime: chrono::Duration,
    /// How long a session lasts without use.
    pub session_idle: chrono::Duration,
    /// The portal's address as people reach it (links in e-mails).
    pub portal_url: String,
    /// The largest certificate document (PDF) a clerk may upload, in bytes.
    pub document_max_bytes: usize,
    /// The longest a read waits for the read models to reach a write.
    pub read_wait: Duration,
    pub payments: PaymentSettings,
    /// How long a quoted fine may be paid.
    pub fines_quote_ttl: Duration,
    /// The first retry of a notice the fines system could not take.
    pub fines_retry_first: Duration,
    /// The first retry of a paid declaration the revenue system could not take.
    pub declarations_retry_first: Duration,
    /// The first retry of a debt payment the revenue system could not take.
    pub revenue_retry_first: Duration,
}

impl Portal {
    /// Today in Athens, by the portal's clock: deadlines are calendar days there.
    pub fn today(&self) -> chrono::NaiveDate {
        self.now()
            .with_timezone(&chrono_tz::Europe::Athens)
            .date_naive()
    }

    /// Now, by the portal's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Read-your-writes: waits (bounded by [`Settings::read_wait`]) until `reads` (the
    /// read models the answer reads) have folded `position`. Answers whether they did.
    pub async fn wait_for(&self, reads: &[&str], position: Position) -> bool {
        self.progress
            .wait_for(reads, position, self.settings.read_wait)
            .await
    }

    /// On a miss, the thing may exist but not be projected yet: waits until `reads` reach
    /// the head of the log as it is now.
    pub async fn wait_for_log_head(&self, reads: &[&str]) -> Result<(), sqlx::Error> {
        self.wait_for_head_of(reads).await
    }

    /// Waits (bounded) until the payment engine's own state (and the outboxes it fills)
    /// has folded the log as it is now: what a process manager does before a pass, so that
    /// it sees every payment that finished before it started.
    pub async fn wait_for_payment_process(&self) -> Result<(), sqlx::Error> {
        self.wait_for_head_of(&[crate::payment_process::PaymentProcess::NAME])
            .await
    }

    /// Waits (bounded) until `consumers` have folded the log as it is now.
    pub async fn wait_for_head_of(&self, consumers: &[&str]) -> Result<(), sqlx::Error> {
        if let Some(head) = eventlog::log_head(&self.pool).await? {
            let reached = self
                .progress
                .wait_for(consumers, head, self.settings.read_wait)
                .await;
            if !reached {
                tracing::warn!(%head, ?consumers, "read models did not reach the log head in time");
            }
        }
        Ok(())
    }
}

/// Who acts: the logged-in person a use case acts for.
#[derive(Debug, Clone)]
pub struct Actor {
    pub account_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    /// The session the person acts through (the SHA-256 of its token), whose next reads
    /// wait for what the use case writes; `None` where there is no session (the command
    /// line).
    pub session: Option<String>,
}

impl Actor {
    /// Whether the person holds one of `roles`.
    pub fn holds(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }

    /// The person as the domain names a clerk acting on a case.
    pub fn staff_member(&self) -> domain::request::StaffMember {
        domain::request::StaffMember {
            account_id: self.account_id.to_string(),
            name: self.full_name.clone(),
        }
    }

    /// The metadata of what this person does, under a fresh correlation id (use cases that
    /// run inside a request are handed the request's metadata instead).
    pub fn metadata(&self) -> CommandMetadata {
        CommandMetadata {
            actor_id: self.account_id.to_string(),
            role: self.role.as_str().to_string(),
            correlation_id: Uuid::new_v4().to_string(),
            client_ip: None,
            session: self.session.clone(),
            open311_client: None,
        }
    }
}

/// The metadata of what the portal does by itself, or what another system says, as
/// `actor` (`system:bank`, `system:payment-reconciler`, …).
pub fn system_metadata(actor: &str) -> CommandMetadata {
    CommandMetadata {
        actor_id: actor.to_string(),
        role: "system".to_string(),
        correlation_id: Uuid::new_v4().to_string(),
        client_ip: None,
        session: None,
        open311_client: None,
    }
}
