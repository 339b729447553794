//! The JSON API under `/api/v1` and the health check (contract: `docs/openapi.json`).

pub(crate) mod accounts;
pub(crate) mod applications;
pub(crate) mod audit;
mod business;
pub(crate) mod certifications;
pub(crate) mod fines;
mod health;
mod open311;
pub(crate) mod payments;
mod refused_notices;
pub(crate) mod requests;
pub(crate) mod staff;
pub(crate) mod tax_debts;
pub(crate) mod tax_declarations;
pub(crate) mod warrants;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::AppState;

pub use open311::method_not_allowed as open311_method_not_allowed;
pub use open311::unavailable as open311_unavailable;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(open311::router())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(crate::metrics::readyz))
        .route("/metrics", get(crate::metrics::metrics))
        .route("/api/v1/openapi.json", get(health::openapi))
        .route("/api/v1/accounts", post(accounts::register))
        .route("/api/v1/accounts/activation", post(accounts::activate))
        .route(
            "/api/v1/session",
            post(accounts::login).delete(accounts::logout),
        )
        .route("/api/v1/me", get(accounts::me).put(accounts::update_me))
        .route("/api/v1/me/password", put(accounts::change_password))
        .route(
            "/api/v1/password-reset",
            post(accounts::request_password_reset),
        )
        .route(
            "/api/v1/password-reset/{token}",
            post(accounts::reset_password),
        )
        .route(
            "/api/v1/me/sessions",
            get(accounts::sessions).delete(accounts::end_other_sessions),
        )
        .route("/api/v1/me/sessions/{id}", delete(accounts::end_session))
        .route("/api/v1/requests", post(requests::submit))
        .route("/api/v1/requests/track/{code}", get(requests::track))
        .route("/api/v1/my/requests", get(requests::my_list))
        .route("/api/v1/my/requests/{id}", get(requests::my_detail))
        .route("/api/v1/my/requests/{id}/reopen", post(requests::reopen))
        .route("/api/v1/staff/requests", get(staff::queue))
        .route("/api/v1/staff/stats", get(staff::stats))
        .route("/api/v1/staff/stats.csv", get(staff::stats_csv))
        .route("/api/v1/staff/requests/{id}", get(staff::detail))
        .route("/api/v1/staff/requests/{id}/review", post(staff::review))
        .route("/api/v1/staff/requests/{id}/answer", post(staff::answer))
        .route(
            "/api/v1/staff/requests/{id}/status",
            post(staff::change_status),
        )
        .route(
            "/api/v1/staff/requests/{id}/protocol",
            post(staff::protocol),
        )
        .route("/api/v1/staff/requests/{id}/close", post(staff::close))
        .route("/api/v1/fines/types", get(fines::types))
        .route("/api/v1/fines/check", post(fines::check))
        .route("/api/v1/fines/quote", post(fines::quote))
        .route("/api/v1/fines/pay", post(fines::pay))
        .route("/api/v1/my/fines", get(fines::my_fines))
        .route("/api/v1/business/warrants", get(warrants::list))
        .route("/api/v1/business/debts", get(tax_debts::list))
        .route("/api/v1/business/debts/{debt_id}", get(tax_debts::detail))
        .route(
            "/api/v1/business/debts/{debt_id}/payments",
            post(tax_debts::pay),
        )
        .route("/api/v1/business/warrants.csv", get(warrants::csv))
        .route("/api/v1/certificates/types", get(certifications::types))
        .route("/api/v1/my/certification", get(certifications::mine))
        .route(
            "/api/v1/staff/certifications",
            get(certifications::lookup).post(certifications::certify),
        )
        .route(
            "/api/v1/staff/certifications/revoke",
            post(certifications::revoke),
        )
        .route("/api/v1/request-categories", get(requests::categories))
        .route("/api/v1/staff/notices", get(refused_notices::list))
        .route(
            "/api/v1/staff/notices/{payment_id}/retry",
            post(refused_notices::retry),
        )
        .route(
            "/api/v1/staff/notices/{payment_id}/refund",
            post(refused_notices::refund),
        )
        .route("/api/v1/applications", post(applications::apply))
        .route("/api/v1/my/applications", get(applications::my_list))
        .route("/api/v1/my/applications/{id}", get(applications::my_detail))
        .route(
            "/api/v1/my/applications/{id}/reply",
            post(applications::reply),
        )
        .route(
            "/api/v1/my/applications/{id}/document",
            get(applications::my_document),
        )
        .route("/api/v1/staff/applications", get(applications::queue))
        .route(
            "/api/v1/staff/applications/{id}",
            get(applications::staff_detail),
        )
        .route(
            "/api/v1/staff/applications/{id}/document",
            get(applications::staff_document),
        )
        .route(
            "/api/v1/staff/applications/{id}/review",
            post(applications::review),
        )
        .route(
            "/api/v1/staff/applications/{id}/request-information",
            post(applications::request_information),
        )
        .route(
            "/api/v1/staff/applications/{id}/reject",
            post(applications::reject),
        )
        .route(
            "/api/v1/staff/applications/{id}/issue",
            // A certificate's PDF may be larger than the default 2 MB; the configured
            // limit (PORTAL_DOCUMENT_MAX_BYTES) is checked in the handler.
            post(applications::issue).layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024)),
        )
        .route(
            "/api/v1/staff/applications/{id}/protocol",
            post(applications::protocol),
        )
        .route(commands::payments::NOTIFY_PATH, post(payments::notify))
        .route("/api/v1/my/payments", get(payments::my_list))
        .route("/api/v1/my/payments/{id}", get(payments::my_detail))
        .route("/api/v1/business", get(business::me))
        .route("/api/v1/business/history", get(business::history))
        .route(
            "/api/v1/business/declarations",
            get(tax_declarations::list).post(tax_declarations::file),
        )
        .route(
            "/api/v1/business/declarations/assess",
            post(tax_declarations::assess),
        )
        .route(
            "/api/v1/business/declarations/{id}",
            get(tax_declarations::detail),
        )
        .route("/api/v1/audit/cases/{id}/events", get(audit::events))
        .route("/api/v1/audit/cases/{id}/state", get(audit::state))
        .route("/api/v1/audit/cases/{id}/verify", get(audit::verify))
        .route("/api/v1/audit/staff", get(audit::staff))
}
