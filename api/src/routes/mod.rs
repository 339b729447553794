//! The JSON API under `/api/v1` and the health check (contract: `docs/openapi.json`, which
//! [`crate::openapi`] generates).

pub(crate) mod accounts;
pub(crate) mod applications;
pub(crate) mod audit;
pub(crate) mod business;
pub(crate) mod certifications;
pub(crate) mod fines;
pub(crate) mod health;
pub(crate) mod open311;
pub(crate) mod payments;
pub(crate) mod refused_notices;
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

/// Declares the routes of the JSON API once: [`router`] routes them and [`ROUTES`] lists
/// each path with its methods, so that a test can hold the list against
/// `docs/openapi.json` (a route cannot be added without the test seeing it).
macro_rules! api_routes {
    ($($path:expr => $first:ident($handler:expr) $(.$method:ident($arg:expr))*,)*) => {
        /// Every path of [`router`] (Open311's are [`open311::router`]'s) with the HTTP
        /// methods it answers, as routed.
        pub const ROUTES: &[(&str, &[&str])] = &[
            $(($path, &[stringify!($first) $(, stringify!($method))*]),)*
        ];

        fn api_router() -> Router<AppState> {
            Router::new()
                $(.route($path, $first($handler) $(.$method($arg))*))*
        }
    };
}

api_routes! {
    "/healthz" => get(health::healthz),
    "/readyz" => get(crate::metrics::readyz),
    "/metrics" => get(crate::metrics::metrics),
    "/api/v1/openapi.json" => get(health::openapi),
    "/api/v1/accounts" => post(accounts::register),
    "/api/v1/accounts/activation" => post(accounts::activate),
    "/api/v1/session" => post(accounts::login).delete(accounts::logout),
    "/api/v1/me" => get(accounts::me).put(accounts::update_me),
    "/api/v1/me/password" => put(accounts::change_password),
    "/api/v1/password-reset" => post(accounts::request_password_reset),
    "/api/v1/password-reset/{token}" => post(accounts::reset_password),
    "/api/v1/me/sessions" => get(accounts::sessions).delete(accounts::end_other_sessions),
    "/api/v1/me/sessions/{id}" => delete(accounts::end_session),
    "/api/v1/requests" => post(requests::submit),
    "/api/v1/requests/track/{code}" => get(requests::track),
    "/api/v1/my/requests" => get(requests::my_list),
    "/api/v1/my/requests/{id}" => get(requests::my_detail),
    "/api/v1/my/requests/{id}/reopen" => post(requests::reopen),
    "/api/v1/staff/requests" => get(staff::queue),
    "/api/v1/staff/stats" => get(staff::stats),
    "/api/v1/staff/stats.csv" => get(staff::stats_csv),
    "/api/v1/staff/requests/{id}" => get(staff::detail),
    "/api/v1/staff/requests/{id}/review" => post(staff::review),
    "/api/v1/staff/requests/{id}/answer" => post(staff::answer),
    "/api/v1/staff/requests/{id}/status" => post(staff::change_status),
    "/api/v1/staff/requests/{id}/protocol" => post(staff::protocol),
    "/api/v1/staff/requests/{id}/close" => post(staff::close),
    "/api/v1/fines/types" => get(fines::types),
    "/api/v1/fines/check" => post(fines::check),
    "/api/v1/fines/quote" => post(fines::quote),
    "/api/v1/fines/pay" => post(fines::pay),
    "/api/v1/my/fines" => get(fines::my_fines),
    "/api/v1/business/warrants" => get(warrants::list),
    "/api/v1/business/debts" => get(tax_debts::list),
    "/api/v1/business/debts/{debt_id}" => get(tax_debts::detail),
    "/api/v1/business/debts/{debt_id}/payments" => post(tax_debts::pay),
    "/api/v1/business/warrants.csv" => get(warrants::csv),
    "/api/v1/certificates/types" => get(certifications::types),
    "/api/v1/my/certification" => get(certifications::mine),
    "/api/v1/staff/certifications" => get(certifications::lookup).post(certifications::certify),
    "/api/v1/staff/certifications/revoke" => post(certifications::revoke),
    "/api/v1/request-categories" => get(requests::categories),
    "/api/v1/staff/notices" => get(refused_notices::list),
    "/api/v1/staff/notices/{payment_id}/retry" => post(refused_notices::retry),
    "/api/v1/staff/notices/{payment_id}/refund" => post(refused_notices::refund),
    "/api/v1/applications" => post(applications::apply),
    "/api/v1/my/applications" => get(applications::my_list),
    "/api/v1/my/applications/{id}" => get(applications::my_detail),
    "/api/v1/my/applications/{id}/reply" => post(applications::reply),
    "/api/v1/my/applications/{id}/document" => get(applications::my_document),
    "/api/v1/staff/applications" => get(applications::queue),
    "/api/v1/staff/applications/{id}" => get(applications::staff_detail),
    "/api/v1/staff/applications/{id}/document" => get(applications::staff_document),
    "/api/v1/staff/applications/{id}/review" => post(applications::review),
    "/api/v1/staff/applications/{id}/request-information" => post(applications::request_information),
    "/api/v1/staff/applications/{id}/reject" => post(applications::reject),
    // A certificate's PDF may be larger than the default 2 MB; the configured
    // limit (PORTAL_DOCUMENT_MAX_BYTES) is checked in the handler.
    "/api/v1/staff/applications/{id}/issue" => post(applications::issue).layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024)),
    "/api/v1/staff/applications/{id}/protocol" => post(applications::protocol),
    commands::payments::NOTIFY_PATH => post(payments::notify),
    "/api/v1/my/payments" => get(payments::my_list),
    "/api/v1/my/payments/{id}" => get(payments::my_detail),
    "/api/v1/business" => get(business::me),
    "/api/v1/business/history" => get(business::history),
    "/api/v1/business/declarations" => get(tax_declarations::list).post(tax_declarations::file),
    "/api/v1/business/declarations/assess" => post(tax_declarations::assess),
    "/api/v1/business/declarations/{id}" => get(tax_declarations::detail),
    "/api/v1/audit/cases/{id}/events" => get(audit::events),
    "/api/v1/audit/cases/{id}/state" => get(audit::state),
    "/api/v1/audit/cases/{id}/verify" => get(audit::verify),
    "/api/v1/audit/staff" => get(audit::staff),
    "/api/v1/audit/streams" => get(audit::streams),
}

pub fn router() -> Router<AppState> {
    Router::new().merge(open311::router()).merge(api_router())
}

/// The HTTP methods of [`ROUTES`] (its lists also name what is not one, such as `layer`).
const HTTP_METHODS: &[&str] = &["get", "post", "put", "delete", "patch"];

/// Every (path, method) the JSON API routes, from [`ROUTES`].
pub fn routed_operations() -> Vec<(&'static str, &'static str)> {
    ROUTES
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .iter()
                .filter(|m| HTTP_METHODS.contains(m))
                .map(move |m| (*path, *m))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The OpenAPI document and the router name the same operations: a path routed but
    /// not documented, or documented but not routed, fails here. (Open311's paths are the
    /// GeoReport specification's and are routed by file name in `open311::router`; the
    /// Open311 interop run and schemathesis exercise them.)
    #[test]
    fn the_document_and_the_router_name_the_same_operations() {
        let document = crate::openapi::document();
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .expect("the document has paths")
            .iter()
            .filter(|(path, _)| !path.starts_with("/open311/"))
            .flat_map(|(path, operations)| {
                operations
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .filter(|m| super::HTTP_METHODS.contains(&m.as_str()))
                    .map(move |m| (path.clone(), m.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = super::routed_operations()
            .into_iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routed but not in docs/openapi.json: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "in docs/openapi.json but not routed: {unrouted:?}"
        );
        assert!(routed.len() > 70, "{}", routed.len());
    }
}
