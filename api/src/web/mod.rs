//! The web pages (issue 3): server-rendered HTML that works without JavaScript, Greek by
//! default and English on request, over the same commands and read models as the JSON API.
//! The page contract (routes, fields, ids) is `docs/pages.md`.

mod account;
mod account_security;
mod audit;
mod bank;
pub mod business;
mod cases;
mod certificates;
mod fines;
mod forms;
mod layout;
pub mod payments;
mod security;
mod staff;
mod staff_applications;
mod staff_certification;
mod tax_debts;
mod tax_declarations;
mod warrants;

pub use forms::FormState;
pub use layout::{Page, PageUser};
pub use security::{api_cross_site, csrf_and_language, rate_limit, security_headers, RateLimiter};

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/portal.css", get(stylesheet))
        .merge(account::router())
        .merge(account_security::router())
        .merge(cases::router())
        .merge(staff::router())
        .merge(certificates::router())
        .merge(staff_applications::router())
        .merge(staff_certification::router())
        .merge(audit::router())
        .merge(payments::router())
        .merge(fines::router())
        .merge(business::router())
        .merge(warrants::router())
        .merge(tax_declarations::router())
        .merge(tax_debts::router())
}

/// Renders a template, or a logged 500 page if rendering fails.
/// Where a page that needs a login sends a visitor.
pub fn login_redirect(p: &Page) -> Response {
    let next: String = form_urlencoded::byte_serialize(p.here.as_bytes()).collect();
    axum::response::Redirect::to(&format!("/login?next={next}")).into_response()
}

pub fn render(template: &impl askama::Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<h1>500</h1>")).into_response()
        }
    }
}

#[derive(askama::Template)]
#[template(path = "home.html")]
struct HomePage {
    p: Page,
}

async fn home(p: Page) -> Response {
    render(&HomePage { p })
}

/// Any address nobody serves: a JSON error under the API, a page everywhere else.
pub async fn not_found(p: Page, uri: axum::http::Uri) -> Response {
    let error = crate::error::ApiError::NotFound("not_found");
    if uri.path().starts_with("/api/") || uri.path() == "/healthz" {
        error.into_response()
    } else {
        cases::error_page(p, error)
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../static/portal.css"),
    )
}
