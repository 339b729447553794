//! What the JSON API (`routes/`) and the pages (`web/`) share about HTTP: where a request
//! came from, read-your-writes, the case id of a path, the position header, and the labels
//! of a case in the reader's language. Neither front door imports the other; both use this.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use eventlog::Position;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::AppState;

/// The header a command's answer carries its position in, and a read may send back.
pub const POSITION_HEADER: &str = "x-portal-position";

/// Whether a client's `X-Request-Id` may be kept: it ends up in the append-only log as the
/// events' correlation id, so only a short id of a safe alphabet is (else one is made).
pub fn acceptable_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Drops an `X-Request-Id` that is not [`acceptable_request_id`], so that the request id
/// layer gives the request a fresh one.
pub async fn drop_unacceptable_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let unacceptable = request
        .headers()
        .get_all("x-request-id")
        .iter()
        .any(|v| v.to_str().map_or(true, |id| !acceptable_request_id(id)))
        || request.headers().get_all("x-request-id").iter().count() > 1;
    if unacceptable {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// The client's address: the TCP peer, unless the peer is one of `trusted` proxies; then the
/// rightmost address of `X-Forwarded-For` that is not a trusted proxy (the left part of
/// that header is whatever the client wrote, so it is never believed).
pub fn client_address(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

/// Middleware: behind a trusted proxy ([`client_address`]), every later reader of the
/// connection's address (rate limits, login throttling, sessions, event metadata) sees the
/// client's instead of the proxy's.
pub async fn resolve_client_address(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !state.config.trusted_proxies.is_empty() {
        if let Some(ConnectInfo(peer)) = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
        {
            let client =
                client_address(peer.ip(), request.headers(), &state.config.trusted_proxies);
            if client != peer.ip() {
                request
                    .extensions_mut()
                    .insert(ConnectInfo(SocketAddr::new(client, 0)));
            }
        }
    }
    next.run(request).await
}

/// A request's path and query as the log may keep them: the token of an e-mailed link
/// (`/activate/{token}`, `/password-reset/{token}`, which still works until used), a
/// tracking code (`/track/{code}`, an Open311 `tokens/{token}`) and an Open311 `api_key`
/// in the query are replaced by `…`.
pub fn loggable_path(uri: &axum::http::Uri) -> String {
    let mut text = uri.to_string();
    if let Some(at) = text.find("api_key=") {
        let start = at + "api_key=".len();
        let end = text[start..].find('&').map_or(text.len(), |i| start + i);
        text = format!("{}…{}", &text[..start], &text[end..]);
    }
    for prefix in [
        "/activate/",
        "/password-reset/",
        "/api/v1/password-reset/",
        "/track/",
        "/open311/v2/tokens/",
    ] {
        if let Some(at) = text.find(prefix) {
            let start = at + prefix.len();
            let end = text[start..]
                .find(['/', '?'])
                .map_or(text.len(), |i| start + i);
            if end > start {
                return format!("{}…{}", &text[..start], &text[end..]);
            }
        }
    }
    text
}

/// The most header bytes (names and values) a request may carry. Browsers send a few KB;
/// the largest legitimate ones (many cookies) stay far below.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses with 431 a request whose headers together exceed [`MAX_HEADER_BYTES`], before
/// anything reads them (a session lookup, the log's metadata).
pub async fn refuse_oversized_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        tracing::warn!(size, "request refused: headers too large");
        return (
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            "Request headers too large (at most 16 KB).\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// `after` and `limit` of a list that pages by keyset: a cursor of the list's `shape`, as
/// a previous page answered it (`next`), and 1 to
/// [`projections::paging::MAX_LIMIT`] rows (default
/// [`projections::paging::DEFAULT_LIMIT`]); anything else is a 400 naming the parameter.
pub fn page_request(
    after: Option<&str>,
    limit: Option<i64>,
    shape: &[projections::paging::Part],
) -> Result<projections::paging::PageRequest, ApiError> {
    use projections::paging::{Cursor, PageRequest, DEFAULT_LIMIT, MAX_LIMIT};
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: "limit_out_of_range",
            detail: format!("limit: {limit} is not between 1 and {MAX_LIMIT}"),
        });
    }
    let after = match after.filter(|a| !a.is_empty()) {
        None => None,
        Some(text) => Some(Cursor::decode(text, shape).ok_or_else(|| {
            ApiError::BadRequest {
                code: "cursor_invalid",
                detail:
                    "after: not a cursor this list answered (use the `next` of the previous page)"
                        .into(),
            }
        })?),
    };
    Ok(PageRequest { after, limit })
}

/// The highest page a list answers: far beyond any real queue, and small enough that the
/// offset it makes never overflows.
pub const MAX_PAGE: i64 = 100_000;

/// The page (1 when absent, or below 1) and the offset of its first row, for pages of
/// `per_page` rows; a page above [`MAX_PAGE`] is a 400 that names the parameter.
pub fn page_offset(page: Option<i64>, per_page: i64) -> Result<(i64, i64), ApiError> {
    let page = page.unwrap_or(1).max(1);
    if page > MAX_PAGE {
        return Err(ApiError::BadRequest {
            code: "page_out_of_range",
            detail: format!("page: {page} is not between 1 and {MAX_PAGE}"),
        });
    }
    Ok((page, (page - 1) * per_page))
}

/// Where a request came from, for event metadata.
pub struct RequestContext {
    pub correlation_id: String,
    pub client_ip: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let correlation_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Self {
            correlation_id,
            client_ip,
        })
    }
}

/// The device a login comes from: its `User-Agent` and address (the sessions page shows
/// them to the person).
pub struct ClientDevice(pub commands::accounts::Device);

impl<S: Send + Sync> FromRequestParts<S> for ClientDevice {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Self, std::convert::Infallible> {
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Self(commands::accounts::Device {
            user_agent,
            client_ip,
        }))
    }
}

impl RequestContext {
    pub fn metadata(&self, user: Option<&CurrentUser>) -> commands::CommandMetadata {
        commands::CommandMetadata {
            actor_id: user.map_or("anonymous".to_string(), |u| u.account_id.to_string()),
            role: user.map_or("anonymous", |u| u.role.as_str()).to_string(),
            correlation_id: self.correlation_id.clone(),
            client_ip: self.client_ip.clone(),
            session: user.map(|u| u.session.clone()),
            open311_client: None,
        }
    }
}

/// Read-your-writes: waits (bounded by `PORTAL_READ_WAIT_MS`) until `reads`, the read
/// models the answer reads (`projections::REQUEST_READS`, …), have reached the reader's
/// own latest write and any position the client sent.
pub async fn wait_for_own_writes(
    state: &AppState,
    user: Option<&CurrentUser>,
    headers: &HeaderMap,
    reads: &[&str],
) -> Result<(), ApiError> {
    let sent = match headers.get(POSITION_HEADER) {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<Position>().ok())
                .ok_or(ApiError::BadRequest {
                    code: "position_invalid",
                    detail: "expected <transaction id>.<global position>".into(),
                })?,
        ),
        None => None,
    };
    if let Some(sent) = sent {
        // A position from the future is no one's write: refused at once, not waited for.
        let head = eventlog::log_head(&state.pool).await?.unwrap_or_default();
        if sent > head {
            return Err(ApiError::BadRequest {
                code: "position_invalid",
                detail: "the position is beyond the head of the event log".into(),
            });
        }
    }
    let target = sent.max(user.and_then(|u| u.last_position));
    if let Some(target) = target {
        let reached = state.portal.wait_for(reads, target).await;
        if !reached {
            tracing::warn!(%target, "read models did not reach the reader's write in time");
        }
    }
    Ok(())
}

/// A case id from a path. Cases are named by UUIDs the portal hands out, so anything else
/// (including text PostgreSQL cannot hold, like a NUL byte) is a case that does not exist.
/// The `{id}` of a case route, already checked by [`case_id`].
pub struct CaseId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CaseId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound("case_not_found"))?;
        case_id(&raw).map(Self)
    }
}

pub fn case_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::NotFound("case_not_found"))
}

/// On a miss, the thing may exist but not be projected yet: wait until the read models
/// reach the head of the log as it is now, then look again.
pub async fn wait_for_log_head(state: &AppState, reads: &[&str]) -> Result<(), ApiError> {
    Ok(state.portal.wait_for_log_head(reads).await?)
}

/// Adds the position header to a command's answer.
pub fn position_header(position: Position) -> [(HeaderName, HeaderValue); 1] {
    [(
        HeaderName::from_static(POSITION_HEADER),
        HeaderValue::from_str(&position.to_string()).expect("a position is ASCII"),
    )]
}

/// The stored document of an issued application, as a download.
pub async fn document_response(
    state: &AppState,
    row: &projections::applications::ApplicationRow,
) -> Result<Response, ApiError> {
    let document_id = row.document_id.as_deref().unwrap_or("");
    let document = commands::applications::stored_document(state, &row.id, document_id)
        .await?
        .ok_or(ApiError::NotFound("document_not_found"))?;
    Ok((
        [
            (header::CONTENT_TYPE, document.content_type),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(&document.filename),
            ),
        ],
        document.bytes,
    )
        .into_response())
}

/// A CSV file (UTF-8) as a download named `filename` (ASCII), never cached.
pub fn csv_download(filename: &str, body: String) -> Response {
    attachment("text/csv; charset=utf-8", filename, body)
}

/// A file of `content_type` as a download named `filename` (ASCII), never cached.
pub fn attachment(
    content_type: &'static str,
    filename: &str,
    body: impl Into<axum::body::Body>,
) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body.into(),
    )
        .into_response()
}

/// A `Content-Disposition` that keeps a Greek file name (RFC 6266 `filename*`) with an
/// ASCII fallback for old clients.
fn content_disposition(filename: &str) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii() && keep(c as u8) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // RFC 8187's attr-char, less what a file name does not need.
    const ENCODED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'.')
        .remove(b'-')
        .remove(b'_');
    let encoded = percent_encoding::utf8_percent_encode(filename, ENCODED);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Whether the database answers, asked at most once a second for the whole process: the
/// outage checks of every request share one fresh connection attempt and its answer.
pub struct DatabaseProbe {
    url: String,
    last: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

impl DatabaseProbe {
    /// How long an answer is reused, and how long one attempt may take.
    const FRESH: std::time::Duration = std::time::Duration::from_secs(1);

    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            last: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn answers(&self) -> bool {
        // Held across the attempt: callers meanwhile wait for it and share its answer.
        let mut last = self.last.lock().await;
        if let Some((at, answered)) = *last {
            if at.elapsed() < Self::FRESH {
                return answered;
            }
        }
        let answered = eventlog::database_answers(&self.url, Self::FRESH).await;
        *last = Some((std::time::Instant::now(), answered));
        answered
    }
}

/// The operator's addresses (liveness, readiness, metrics): JSON, never a page, and not
/// watched for outages (they bound their own database checks and say what they found).
pub const OPERATIONAL_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// While the database does not answer, requests answer `503 Service Unavailable` with
/// `Retry-After` and a clear message (a JSON error under the API, a page elsewhere) instead
/// of a 500 or a hang:
/// - a request still running after `WATCH_AFTER` asks the [`DatabaseProbe`] once a second
///   whether the server answers at all; when it does not, the request is dropped (as when
///   a client goes away: handlers are cancel-safe, a command has committed or not, and the
///   creating routes finish in a task of their own, `crate::idempotency`) and answered 503.
///   A slow request on a healthy database (an external system taking its time) is left
///   alone.
/// - an answer 500 is checked the same way, and becomes a 503 when the database is down.
pub async fn unavailable_while_database_down(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    const WATCH_AFTER: std::time::Duration = std::time::Duration::from_secs(2);
    let path = request.uri().path();
    // The health, readiness and metrics answers bound their own database checks and say
    // what they found.
    if OPERATIONAL_PATHS.contains(&path) {
        return next.run(request).await;
    }
    let audience = if path.starts_with("/api/") {
        Audience::Api
    } else if path.starts_with("/open311/") {
        Audience::Open311(request.uri().clone())
    } else {
        Audience::Page
    };
    let lang = crate::web::lang_of(request.headers());
    let probe = state.database_probe.clone();
    let run = next.run(request);
    tokio::pin!(run);
    let watch = async {
        tokio::time::sleep(WATCH_AFTER).await;
        loop {
            if !probe.answers().await {
                return;
            }
            tokio::time::sleep(DatabaseProbe::FRESH).await;
        }
    };
    let mut response = tokio::select! {
        response = &mut run => response,
        () = watch => return unavailable(&audience, lang, "the database stopped answering during the request"),
    };
    if response.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE {
        // Every 503 says when to come back, whatever answered it (the database, an
        // external system, a page that shows nothing rather than stale data).
        response
            .headers_mut()
            .entry(axum::http::header::RETRY_AFTER)
            .or_insert(crate::error::RETRY_AFTER_UNAVAILABLE.into());
        return response;
    }
    if response.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR
        || state.database_probe.answers().await
    {
        return response;
    }
    unavailable(&audience, lang, "the database does not answer")
}

/// Who a request's answer is for: the JSON API, an Open311 client (GeoReport's errors, in
/// the format of the path's suffix), or a person reading pages.
enum Audience {
    Api,
    Open311(axum::http::Uri),
    Page,
}

fn unavailable(audience: &Audience, lang: crate::i18n::Lang, why: &str) -> Response {
    match audience {
        Audience::Api => {
            return crate::error::ApiError::Unavailable(why.to_string()).into_response()
        }
        Audience::Open311(uri) => {
            tracing::warn!(error = %why, "open311 refused: unavailable");
            return crate::routes::open311_unavailable(uri);
        }
        Audience::Page => {}
    }
    tracing::warn!(error = %why, "page refused: unavailable");
    let mut page = crate::web::message_page(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        lang,
        "service_unavailable",
    );
    page.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        crate::error::RETRY_AFTER_UNAVAILABLE.into(),
    );
    page
}

/// The API error of a refund's refusal: a note to correct is said at the `note` field.
pub fn refund_error(e: commands::refused_notices::RefusedNoticeError) -> ApiError {
    match e {
        commands::refused_notices::RefusedNoticeError::Command(
            commands::CommandError::Refused(r),
        ) if r.code.starts_with("refund_note_") => {
            ApiError::Validation(vec![crate::error::FieldError::new("note", r.code)])
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greek_file_names_survive_the_download() {
        assert_eq!(
            content_disposition("γ 1.pdf"),
            "attachment; filename=\"__1.pdf\"; filename*=UTF-8''%CE%B3%201.pdf"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_forwarded_address() {
        let proxy: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let trusted = [proxy];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.7"),
        );
        let client = |peer: &str, h: &HeaderMap| client_address(peer.parse().unwrap(), h, &trusted);
        // From the proxy: the address it appended (the left one is the client's own claim).
        assert_eq!(client("10.0.0.5", &headers).to_string(), "203.0.113.7");
        // From anyone else: the peer, whatever it claims.
        assert_eq!(client("198.51.100.1", &headers).to_string(), "198.51.100.1");
        // Nothing usable forwarded: the proxy.
        assert_eq!(
            client("10.0.0.5", &HeaderMap::new()).to_string(),
            "10.0.0.5"
        );
        let mut chained = HeaderMap::new();
        chained.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.5"),
        );
        assert_eq!(client("10.0.0.5", &chained).to_string(), "203.0.113.7");
    }

    #[test]
    fn the_log_never_keeps_a_link_token() {
        let path = |p: &str| loggable_path(&p.parse::<axum::http::Uri>().unwrap());
        assert_eq!(path("/activate/abcDEF123_-x"), "/activate/…");
        assert_eq!(path("/password-reset/tok3n?x=1"), "/password-reset/…?x=1");
        assert_eq!(
            path("/api/v1/password-reset/tok3n"),
            "/api/v1/password-reset/…"
        );
        assert_eq!(path("/password-reset"), "/password-reset");
        assert_eq!(path("/requests/new?lang=en"), "/requests/new?lang=en");
        // Tracking codes and Open311 keys are secrets too.
        assert_eq!(path("/track/K7QM-AB2C-XY9Z"), "/track/…");
        assert_eq!(
            path("/open311/v2/tokens/K7QM-AB2C-XY9Z.json"),
            "/open311/v2/tokens/…"
        );
        assert_eq!(
            path("/open311/v2/requests.json?api_key=s3cr3t&x=1"),
            "/open311/v2/requests.json?api_key=…&x=1"
        );
    }
}
