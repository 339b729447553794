//! Idempotent submissions over HTTP (issue 14): a POST that creates something may carry an
//! `Idempotency-Key` header (the pages: a hidden `idempotency_key` field that every
//! rendering of the form fills with a fresh key). Within 24 hours a repeat with the same
//! key, from the same caller, to the same address and with the same body gets the first
//! answer again (`Idempotent-Replayed: true`) instead of a second case; with another body,
//! 422. A repeat that arrives while the first is still running waits for its answer.
//!
//! Only answers that created something (2xx and 3xx) are kept: after a refusal or a failure
//! the key is free again, so a citizen may correct the form and send it with the same key.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use commands::idempotency::{self, Begin, IdempotentRequest, StoredAnswer};

use crate::error::ApiError;
use crate::AppState;

/// The header a client sends its key in.
pub const HEADER: &str = "idempotency-key";

/// The hidden field of the pages' forms.
pub const FIELD: &str = "idempotency_key";

/// The routes that create something, and so take a key.
const CREATING: [&str; 14] = [
    "/api/v1/requests",
    "/api/v1/applications",
    "/api/v1/fines/quote",
    "/api/v1/fines/pay",
    "/api/v1/business/debts/{debt_id}/payments",
    "/api/v1/business/declarations",
    "/requests/new",
    "/anonymous",
    "/certificates/civil-registry/new",
    "/certificates/tap/new",
    "/fines/details",
    "/fines/quotes/{id}/confirm",
    "/business/debts/{id}/pay",
    "/business/declarations",
];

/// The largest body that takes part: the API's limit for a JSON body (2 MB). The creating
/// forms and bodies are far smaller.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How long a repeat waits for the first request's answer.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(15);

/// The answer's headers that are kept with it.
const KEPT_HEADERS: [&str; 4] = [
    "content-type",
    "location",
    "set-cookie",
    crate::http::POSITION_HEADER,
];

/// Whether a key is acceptable: 1 to 255 visible ASCII characters.
pub fn acceptable_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

pub async fn idempotent(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let takes_part =
        request.method() == Method::POST && route.as_deref().is_some_and(|r| CREATING.contains(&r));
    if !takes_part {
        return next.run(request).await;
    }
    let route = route.unwrap_or_default();
    let page = !route.starts_with("/api/");
    let header_key = request
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().map(str::to_string));
    if header_key.is_none() && !page {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        if page {
            let lang = crate::web::lang_of(&parts.headers);
            return crate::web::message_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                lang,
                "payload_too_large",
            );
        }
        return ApiError::PayloadTooLarge.into_response();
    };
    let key = match header_key {
        Some(Ok(key)) => Some(key),
        Some(Err(_)) => Some(String::new()),
        None => form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == FIELD)
            .map(|(_, v)| v.into_owned()),
    };
    let Some(key) = key else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    let lang = crate::web::lang_of(&parts.headers);
    // The pages answer with a page, the API with its JSON error.
    let refuse = |error: ApiError| {
        if !page {
            return error.into_response();
        }
        match &error {
            ApiError::Internal(why) => tracing::error!(error = %why, "idempotent page failed"),
            ApiError::Unavailable(why) => tracing::warn!(error = %why, "page refused: unavailable"),
            _ => {}
        }
        crate::web::message_page(error.status(), lang, &error.code())
    };
    if !acceptable_key(&key) {
        if page {
            return crate::web::message_page(
                StatusCode::BAD_REQUEST,
                lang,
                "idempotency_key_invalid",
            );
        }
        return ApiError::Validation(vec![crate::error::FieldError::new(
            "Idempotency-Key",
            "idempotency_key_invalid",
        )])
        .into_response();
    }
    // Who: the session (bearer token or cookie, as authentication reads them), else the
    // browser's CSRF cookie (an anonymous visitor of the pages), else the client's address
    // (an anonymous program): one caller's key never finds another caller's answer.
    let credential = crate::auth::presented_token(&parts.headers)
        .map(|t| format!("session {t}"))
        .or_else(|| {
            crate::auth::cookie_value(&parts.headers, crate::web::CSRF_COOKIE)
                .map(|c| format!("browser {c}"))
        })
        .unwrap_or_else(|| {
            let address = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default();
            format!("anonymous {address}")
        });
    let scope = format!("{route}\n{credential}");
    // What: the method, the path (ids in it) and the body as sent (a form's CSRF token
    // included: it is the same for the whole session).
    let what = [
        parts.method.as_str().as_bytes(),
        b"\n",
        parts.uri.path().as_bytes(),
        b"\n",
        &bytes,
    ]
    .concat();
    let idem = IdempotentRequest::new(&scope, &key, &what);
    let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
        match idempotency::begin(&state.pool, &idem).await {
            Ok(Begin::Run) => break,
            Ok(Begin::Replay(answer)) => return replay(answer),
            Ok(Begin::OtherRequest) => return refuse(ApiError::IdempotencyKeyReused),
            Ok(Begin::InProgress) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Begin::InProgress) => {
                let mut response = refuse(ApiError::IdempotencyKeyInProgress);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            // A lost connection (the database restarting) is a 503, like everywhere.
            Err(idempotency::IdempotencyError::Sql(e)) => return refuse(ApiError::from(e)),
            Err(e) => return ApiError::Internal(format!("idempotency: {e}")).into_response(),
        }
    }
    // The request and the keeping of its answer run in a task of their own: a client that
    // goes away (the dropped connection this is for) or the outage watchdog drops this
    // future, not the submission, whose answer is then kept for the repeat.
    let request = Request::from_parts(parts, Body::from(bytes));
    let pool = state.pool.clone();
    let task = tokio::spawn(async move {
        let response = next.run(request).await;
        settle(&pool, &idem, response).await
    });
    match task.await {
        Ok(response) => response,
        Err(e) => ApiError::Internal(format!("idempotent request: {e}")).into_response(),
    }
}

/// Keeps the answer of a claimed request (2xx, 3xx), or frees the key after any other
/// answer (a refusal, a failure) so that the corrected request may use it.
async fn settle(pool: &sqlx::PgPool, idem: &IdempotentRequest, response: Response) -> Response {
    let status = response.status();
    if !(status.is_success() || status.is_redirection()) {
        if let Err(e) = idempotency::abandon(pool, idem).await {
            tracing::warn!(error = %e, "cannot free an idempotency key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "cannot read an answer to keep it");
            let _ = idempotency::abandon(pool, idem).await;
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let answer = StoredAnswer {
        status: status.as_u16(),
        headers: parts
            .headers
            .iter()
            .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect(),
        body: bytes.to_vec(),
    };
    if let Err(e) = idempotency::complete(pool, idem, &answer).await {
        // The case exists; only a repeat would not find its answer: say so, but answer.
        tracing::error!(error = %e, "cannot keep an answer under its idempotency key");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(answer: StoredAnswer) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
