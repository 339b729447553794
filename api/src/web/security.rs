//! What keeps the pages safe: the CSRF token on every state-changing form (bound to the
//! browser's CSRF cookie and to its session) and the refusal of cross-site state changes
//! (`Sec-Fetch-Site`, `Origin`), security headers on every response, per-client rate limits on the forms people abuse,
//! and the remembered language choice.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as GovernorLimiter};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::cookies;
use crate::i18n::{self, Lang};
use crate::AppState;
use axum_extra::extract::cookie::SameSite;

pub const CSRF_COOKIE: &str = "portal_csrf";
pub const CSRF_FIELD: &str = "csrf_token";
/// The largest form a page accepts.
const FORM_LIMIT: usize = 256 * 1024;
/// What a multipart form (a clerk's upload) may carry beyond the document itself: the
/// other fields and the part headers. A larger document still reaches the handler, which
/// says next to the file field that it is too large.
const MULTIPART_SLACK: usize = 1024 * 1024;

/// The CSRF token of this request's forms: [`form_token`] of the browser's CSRF cookie
/// (or a new one) and its session cookie.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// The token a form must send back: a hash of the browser's random CSRF cookie and of its
/// session cookie (empty without one). A token is valid only with the cookie it was made
/// from *and* the session it was made in: a token learned with an anonymous cookie (say,
/// one an attacker planted) is refused with anybody's session, and a form rendered before
/// a login or a logout is refused after it. Both cookies are HttpOnly, so a page cannot
/// compute it; no server secret is needed, so every portal process agrees.
pub fn form_token(csrf_cookie: &str, session: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"portal-csrf-v1\0");
    hash.update(csrf_cookie.as_bytes());
    hash.update(b"\0");
    hash.update(session.unwrap_or("").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// Whether a state-changing request comes from another site: the browser says so
/// (`Sec-Fetch-Site: cross-site` or `same-site`, a sibling host), or its `Origin` is `null`
/// or names another host than the one it was sent to (or than `PORTAL_PUBLIC_URL`'s, for a
/// portal behind a proxy that rewrites `Host`). Clients that send neither header
/// (scripts, the tests' HTTP client, old browsers) are judged by the token alone.
pub fn cross_site(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return true;
        }
    }
    let Some(origin) = text(header::ORIGIN) else {
        return false;
    };
    let host = text(header::HOST).unwrap_or("");
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let public = public_url.map(|url| url.trim_end_matches('/'));
    match authority {
        Some(authority) => {
            !authority.eq_ignore_ascii_case(host)
                && !public.is_some_and(|url| url.eq_ignore_ascii_case(origin))
        }
        None => true,
    }
}

pub const LANG_COOKIE: &str = "portal_lang";

/// The language of a request from its headers alone (cookie, then Greek).
pub fn lang_of(headers: &HeaderMap) -> Lang {
    match cookie_value(headers, LANG_COOKIE).as_deref() {
        Some("en") => Lang::En,
        _ => Lang::El,
    }
}

pub use crate::auth::cookie_value;

pub(super) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A plain page saying what went wrong (used by the middlewares, which have no template
/// context).
pub fn message_page(status: StatusCode, lang: Lang, code: &str) -> Response {
    let title = i18n::message(lang, &format!("{code}_title"));
    let text = i18n::message(lang, code);
    let lang_code = if lang == Lang::En { "en" } else { "el" };
    let body = format!(
        "<!doctype html><html lang=\"{lang_code}\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"{css}\"></head><body>\
         <a class=\"skip-link\" href=\"#main\">{skip}</a>\
         <main id=\"main\" class=\"container\"><h1 class=\"heading-xl\">{title}</h1><p>{text}</p>\
         <p><a href=\"/\">{home}</a></p></main></body></html>",
        title = html_escape(&title),
        text = html_escape(&text),
        skip = html_escape(&i18n::message(lang, "ui_skip_link")),
        home = html_escape(&i18n::message(lang, "ui_back_home")),
        css = super::stylesheet_href(),
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Form POSTs that are exempt from the CSRF check, and why.
///
/// - `/payments/return` ([`commands::payments::RETURN_PATH`]): the bank's page sends the
///   payer's browser back with a cross-site form POST, which cannot carry our token (and,
///   with SameSite cookies, usually carries no session either). Its authenticity is the
///   bank's digest over its fields, checked in constant time before anything happens; a
///   forged one changes nothing. The route is a page route (`web::payments`), so this
///   exemption is what lets the bank's return through.
pub fn csrf_exempt(path: &str) -> bool {
    path == commands::payments::RETURN_PATH
}

/// Page middleware: gives every page a CSRF token (setting its cookie when new), refuses
/// a form POST from another site or whose `csrf_token` field is not [`form_token`] of the
/// request's cookies, and remembers `?lang=`.
pub async fn csrf_and_language(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Static files are the same for everyone and cached publicly: no cookie on them.
    if request.method() == Method::GET && request.uri().path().starts_with("/static/") {
        return next.run(request).await;
    }
    let cookie_token = cookie_value(request.headers(), CSRF_COOKIE).filter(|t| t.len() >= 32);
    let session = cookie_value(request.headers(), crate::auth::SESSION_COOKIE);
    let lang = lang_of(request.headers());
    if request.method() == Method::POST && csrf_exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let request = if parts.method == Method::POST {
        if cross_site(&parts.headers, state.config.public_url.as_deref()) {
            tracing::warn!(path = %crate::http::loggable_path(&parts.uri), "form refused: sent from another site");
            return message_page(StatusCode::FORBIDDEN, lang, "csrf_failed");
        }
        let boundary = multipart_boundary(&parts.headers);
        // Only a clerk's issue form uploads a file: nowhere else may a body be this large
        // (it is buffered before the token is checked, so the limit is what an anonymous
        // client can make the portal hold).
        let limit = match boundary {
            Some(_) if is_upload_path(parts.uri.path()) => {
                state.config.document_max_bytes + MULTIPART_SLACK
            }
            _ => FORM_LIMIT,
        };
        let Ok(bytes) = to_bytes(body, limit).await else {
            return message_page(StatusCode::PAYLOAD_TOO_LARGE, lang, "payload_too_large");
        };
        let sent = match boundary {
            Some(boundary) => multipart_text_field(bytes.clone(), boundary, CSRF_FIELD).await,
            None => form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned()),
        };
        let valid = match (&cookie_token, &sent) {
            (Some(cookie), Some(sent)) => {
                let expected = form_token(cookie, session.as_deref());
                bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
            }
            _ => false,
        };
        if !valid {
            tracing::warn!(path = %crate::http::loggable_path(&parts.uri), "form refused: CSRF token missing or wrong");
            return message_page(StatusCode::FORBIDDEN, lang, "csrf_failed");
        }
        // A page rendered in answer to the POST (a form with errors) needs the same token.
        if let Some(sent) = sent {
            parts.extensions.insert(CsrfToken(sent));
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        let cookie = cookie_token.clone().unwrap_or_else(new_token);
        parts
            .extensions
            .insert(CsrfToken(form_token(&cookie, session.as_deref())));
        if cookie_token.is_none() {
            parts.extensions.insert(NewCsrfCookie(cookie));
        }
        Request::from_parts(parts, body)
    };
    let chosen_lang = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned())
    });
    let new_csrf = request
        .extensions()
        .get::<NewCsrfCookie>()
        .map(|c| c.0.clone());
    let mut response = next.run(request).await;
    let secure = state.config.https();
    let mut set = |cookie: String| {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    };
    if let Some(token) = new_csrf {
        set(cookies::set(
            CSRF_COOKIE,
            token,
            cookies::Spec {
                http_only: true,
                same_site: SameSite::Strict,
                max_age: None,
                secure,
            },
        ));
    }
    if let Some(lang) = chosen_lang.filter(|l| l == "el" || l == "en") {
        // Remembered for a year; not a secret, so not HttpOnly (as before).
        set(cookies::set(
            LANG_COOKIE,
            lang,
            cookies::Spec {
                http_only: false,
                same_site: SameSite::Lax,
                max_age: Some(Duration::from_secs(31_536_000)),
                secure,
            },
        ));
    }
    response
}

/// API middleware: a state-changing JSON request that authenticates with the session
/// cookie (a browser's ambient credential, not a deliberate `Authorization` header) is
/// refused when it comes from another site (see [`cross_site`]).
pub async fn api_cross_site(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let by_cookie = !request.headers().contains_key(header::AUTHORIZATION)
        && cookie_value(request.headers(), crate::auth::SESSION_COOKIE).is_some();
    if changes_state
        && by_cookie
        && request.uri().path().starts_with("/api/")
        && cross_site(request.headers(), state.config.public_url.as_deref())
    {
        tracing::warn!(path = %crate::http::loggable_path(request.uri()), "API request refused: sent from another site");
        return crate::error::ApiError::Refused(domain::Refusal::forbidden(
            "cross_site_request",
            "a request that changes something must come from the portal's own pages",
        ))
        .into_response();
    }
    next.run(request).await
}

/// A CSRF cookie this response must set (the browser had none).
#[derive(Debug, Clone)]
struct NewCsrfCookie(String);

/// The pages that take a file: a clerk issuing a certificate electronically
/// (`/staff/applications/{id}/issue`).
fn is_upload_path(path: &str) -> bool {
    path.strip_prefix("/staff/applications/")
        .and_then(|rest| rest.strip_suffix("/issue"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// The boundary of a `multipart/form-data` body (a form with a file), if it is one.
fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return None;
    }
    multer::parse_boundary(content_type).ok()
}

/// The value of a text field of a buffered multipart body (`None` if it has none, or the
/// body is not valid multipart).
async fn multipart_text_field(
    bytes: axum::body::Bytes,
    boundary: String,
    name: &str,
) -> Option<String> {
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// An origin one response's forms may post to besides the portal (`form-action`): the
/// bank's, on the page that sends the payer there. Set as a response extension; only that
/// response's CSP names it.
#[derive(Debug, Clone)]
pub struct FormActionOrigin(pub String);

/// An answer to a request that carried a session, or one that sets a cookie, is personal:
/// unless it says otherwise it is `Cache-Control: no-store`, so that no shared cache keeps
/// it. (The other security headers are tower-http layers, [`content_security_policy`];
/// this one depends on the request, which those layers do not see.)
pub async fn personal_answers_not_stored(request: Request, next: Next) -> Response {
    let credentials = request.headers().contains_key(header::AUTHORIZATION)
        || cookie_value(request.headers(), crate::auth::SESSION_COOKIE).is_some();
    let mut response = next.run(request).await;
    if !response.headers().contains_key(header::CACHE_CONTROL)
        && (credentials || response.headers().contains_key(header::SET_COOKIE))
    {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The `Content-Security-Policy` of `response`: the portal's own scripts, styles and
/// images only; forms post to the portal, and on the page that sends the payer to the bank
/// also to the bank's origin ([`FormActionOrigin`]). Set by tower-http's
/// `SetResponseHeaderLayer` on every response.
pub fn content_security_policy<B>(response: &axum::http::Response<B>) -> Option<HeaderValue> {
    let form_action = match response.extensions().get::<FormActionOrigin>() {
        Some(FormActionOrigin(origin)) => format!("'self' {origin}"),
        None => "'self'".to_string(),
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         frame-ancestors 'none'; form-action {form_action}; base-uri 'none'; object-src 'none'"
    );
    HeaderValue::from_str(&csp)
        .ok()
        .or(Some(HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        )))
}

/// Limits attempts per client address and action (governor's keyed GCRA limiter, in the
/// portal process's memory): `max` at once, then one more every `window / max`, so no
/// more than about `2 × max` in any `window`.
pub struct RateLimiter {
    limiter: Option<DefaultKeyedRateLimiter<(IpAddr, &'static str)>>,
}

/// Clients remembered before the idle ones are forgotten.
const REMEMBERED_CLIENTS: usize = 100_000;

impl RateLimiter {
    /// `max` attempts per `window`; `max == 0` turns limiting off.
    pub fn new(max: u32, window: Duration) -> Self {
        let limiter = NonZeroU32::new(max).map(|burst| {
            let period = (window / burst.get()).max(Duration::from_nanos(1));
            let quota = Quota::with_period(period)
                .expect("a period of at least a nanosecond")
                .allow_burst(burst);
            GovernorLimiter::keyed(quota)
        });
        Self { limiter }
    }

    /// Records an attempt; `Err(seconds to wait)` when over the limit.
    pub fn check(&self, ip: IpAddr, action: &'static str) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > REMEMBERED_CLIENTS {
            // Forget clients whose allowance is full again rather than grow without bound.
            limiter.retain_recent();
        }
        limiter.check_key(&(ip, action)).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Rounded up: a client that waits as long as it is told is let in.
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

/// Which limited action a request is, if any: logins, registrations and anonymous
/// submissions, through the API or the pages.
fn limited_action(request: &Request) -> Option<&'static str> {
    if request.method() != Method::POST {
        return None;
    }
    match request.uri().path() {
        "/api/v1/session" | "/login" => Some("login"),
        "/api/v1/accounts" | "/register" => Some("register"),
        "/anonymous" => Some("anonymous"),
        "/api/v1/password-reset" | "/password-reset" => Some("password_reset"),
        "/api/v1/requests" => {
            let has_bearer = request.headers().contains_key(header::AUTHORIZATION);
            let has_session =
                cookie_value(request.headers(), crate::auth::SESSION_COOKIE).is_some();
            (!has_bearer && !has_session).then_some("anonymous")
        }
        _ => None,
    }
}

/// Refuses with 429 (and `Retry-After`) a client over its limit.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(action) = limited_action(&request) {
        let ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        if let Some(ip) = ip {
            if let Err(wait) = state.rate_limiter.check(ip, action) {
                tracing::warn!(%ip, action, "rate limited");
                let is_api = request.uri().path().starts_with("/api/");
                let lang = if is_api {
                    Lang::from_headers(request.headers())
                } else {
                    lang_of(request.headers())
                };
                let mut response = if is_api {
                    crate::error::ApiError::TooManyRequests.into_response()
                } else {
                    message_page(StatusCode::TOO_MANY_REQUESTS, lang, "rate_limited")
                };
                if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return response;
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_token_belongs_to_one_cookie_and_one_session() {
        let cookie = "c".repeat(43);
        let anonymous = form_token(&cookie, None);
        assert_eq!(anonymous, form_token(&cookie, None));
        assert_ne!(anonymous, form_token(&cookie, Some("session-a")));
        assert_ne!(
            form_token(&cookie, Some("session-a")),
            form_token(&cookie, Some("session-b"))
        );
        assert_ne!(anonymous, form_token(&"d".repeat(43), None));
        assert_ne!(anonymous, cookie, "the token is not the cookie itself");
    }

    #[test]
    fn cross_site_requests_are_told_by_the_browser_or_the_origin() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            h.insert(
                header::HOST,
                HeaderValue::from_static("portal.example:8080"),
            );
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        let cross_site = |h: &HeaderMap| cross_site(h, None);
        assert!(!cross_site(&headers(&[])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "none")])));
        assert!(!cross_site(&headers(&[(
            "origin",
            "https://portal.example:8080"
        )])));
        assert!(!cross_site(&headers(&[(
            "origin",
            "http://PORTAL.example:8080"
        )])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(cross_site(&headers(&[("origin", "null")])));
        assert!(cross_site(&headers(&[("origin", "https://evil.example")])));
        assert!(cross_site(&headers(&[(
            "origin",
            "https://portal.example"
        )])));
        assert!(cross_site(&headers(&[(
            "origin",
            "https://portal.example:8080.evil.example"
        )])));
        // Behind a proxy that rewrites Host, the public address is the portal's own.
        let proxied = headers(&[("origin", "https://dimos.example.gr")]);
        assert!(!super::cross_site(
            &proxied,
            Some("https://dimos.example.gr/")
        ));
        assert!(super::cross_site(
            &proxied,
            Some("https://other.example.gr")
        ));
    }

    #[test]
    fn only_the_issue_form_takes_large_uploads() {
        assert!(is_upload_path("/staff/applications/3f0c2a9e/issue"));
        assert!(!is_upload_path("/staff/applications//issue"));
        assert!(!is_upload_path("/staff/applications/a/b/issue"));
        assert!(!is_upload_path("/login"));
        assert!(!is_upload_path("/staff/applications/3f0c2a9e/reject"));
    }

    #[test]
    fn only_the_bank_return_is_exempt_from_the_csrf_check() {
        assert!(csrf_exempt("/payments/return"));
        for path in [
            "/payments/return/",
            "/payments/x",
            "/login",
            "/requests/new",
            "/",
        ] {
            assert!(!csrf_exempt(path), "{path}");
        }
    }

    #[test]
    fn the_limiter_counts_per_client_and_action_in_a_window() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.check(a, "login").is_ok());
        assert!(limiter.check(a, "login").is_ok());
        let wait = limiter.check(a, "login").unwrap_err();
        assert_eq!(wait, 30, "one more after 60 s / 2, rounded up");
        assert!(limiter.check(a, "register").is_ok());
        assert!(limiter.check(b, "login").is_ok());
        assert!(RateLimiter::new(0, Duration::from_secs(1))
            .check(a, "login")
            .is_ok());
    }
}
