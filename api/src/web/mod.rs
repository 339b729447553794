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
mod password_reset;
pub mod payments;
pub(crate) mod place;
mod security;
mod staff;
mod staff_applications;
mod staff_certification;
mod staff_dashboard;
pub(crate) mod staff_home;
mod staff_notices;
mod tax_debts;
mod tax_declarations;
mod warrants;

pub use forms::FormState;
pub use layout::{Page, PageUser};
pub use security::{
    api_cross_site, content_security_policy, csrf_and_language, lang_of, message_page,
    personal_answers_not_stored, rate_limit, RateLimiter, CSRF_COOKIE,
};

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/{file}", get(static_file))
        .merge(account::router())
        .merge(account_security::router())
        .merge(password_reset::router())
        .merge(cases::router())
        .merge(staff::router())
        .merge(certificates::router())
        .merge(staff_applications::router())
        .merge(staff_certification::router())
        .merge(staff_notices::router())
        .merge(staff_dashboard::router())
        .merge(staff_home::router())
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

/// The profile page, from which saving returns to `next` (a page that asked for the
/// details a payment needs: a fine's quote, a debt, a declaration's form).
pub fn profile_detour(next: &str) -> String {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/profile?next={next}")
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

/// The portal's front page; staff and auditors, who use none of its services, are taken to
/// their own home.
async fn home(p: Page) -> Response {
    match &p.user {
        Some(u) if u.role != crate::auth::Role::Citizen => {
            axum::response::Redirect::to(staff_home::home_of(u.role)).into_response()
        }
        _ => render(&HomePage { p }),
    }
}

/// Any address nobody serves: a JSON error under the API, a page everywhere else.
pub async fn not_found(p: Page, uri: axum::http::Uri) -> Response {
    let error = crate::error::ApiError::NotFound("not_found");
    let operational = crate::http::OPERATIONAL_PATHS;
    if uri.path().starts_with("/api/") || operational.iter().any(|p| uri.path().starts_with(p)) {
        error.into_response()
    } else {
        cases::error_page(p, error)
    }
}

const STYLESHEET: &str = include_str!("../../static/portal.css");

/// Where the pages link the stylesheet: its name carries a hash of its content
/// (`/static/portal.<16 hex>.css`), so browsers and caches may keep it for a year and a
/// changed stylesheet is a new address.
pub fn stylesheet_href() -> &'static str {
    static HREF: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HREF.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let hash = format!("{:x}", Sha256::digest(STYLESHEET.as_bytes()));
        format!("/static/portal.{}.css", &hash[..16])
    })
}

/// The static files: the stylesheet under its hashed name (immutable, a year). Under its
/// plain name `portal.css`, or another version's hash (a page of another portal process
/// during a rolling upgrade), it is served for five minutes only, since it may not be
/// the content that name stands for. No cookie is set (the page middleware skips
/// `/static/`).
async fn static_file(
    p: Page,
    uri: axum::http::Uri,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let other_version = file
        .strip_prefix("portal.")
        .and_then(|rest| rest.strip_suffix(".css"))
        .is_some_and(|hash| hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()));
    let cache = if uri.path() == stylesheet_href() {
        "public, max-age=31536000, immutable"
    } else if file == "portal.css" || other_version {
        "public, max-age=300"
    } else {
        return not_found(p, uri).await;
    };
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, cache),
        ],
        STYLESHEET,
    )
        .into_response()
}
