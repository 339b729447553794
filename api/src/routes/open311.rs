//! Open311 GeoReport v2 under `/open311/v2/` (issue 15): discovery, the services (the
//! request categories) and their attribute definitions, filing a request with an API key,
//! and reading requests by id, by token and by filters — each in JSON or XML, by the
//! `.json` / `.xml` suffix, as the specification defines them
//! (<http://wiki.open311.org/GeoReport_v2>). Errors are the specification's list of
//! `{code, description}` with the matching HTTP status.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Athens;
use commands::open311::{self, Filing};
use commands::requests::{tracking_code_sha256, RequestError};
use projections::requests as read;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::RequestContext;
use crate::i18n::{self, Lang};
use crate::AppState;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    // Each document by its name, so that a path answers exactly the methods it has (`Allow`);
    // any other name or suffix gets the specification's error.
    for name in ["discovery", "services"] {
        for suffix in ["json", "xml"] {
            router = router.route(&format!("/open311/v2/{name}.{suffix}"), get(top));
        }
    }
    for suffix in ["json", "xml"] {
        router = router.route(
            &format!("/open311/v2/requests.{suffix}"),
            get(top).post(post_top),
        );
    }
    router
        .route("/open311/v2/{file}", get(top).post(post_top))
        .route("/open311/v2/services/{file}", get(service))
        .route("/open311/v2/requests/{file}", get(one_request))
        .route("/open311/v2/tokens/{file}", get(token))
}

/// GeoReport v2 errors: the HTTP status repeated as `code`, and what to fix.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311Error)]
pub struct GeoErrorItem {
    code: u16,
    description: String,
}

/// The discovery document.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311Discovery)]
pub struct Discovery {
    changeset: String,
    contact: String,
    key_service: String,
    endpoints: Vec<Endpoint>,
}

/// The GeoReport v2 endpoint.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311Endpoint)]
pub struct Endpoint {
    specification: String,
    url: String,
    changeset: String,
    #[serde(rename = "type")]
    kind: String,
    formats: Vec<String>,
}

/// A category of request, as GeoReport names a service.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311Service)]
pub struct GeoService {
    service_code: String,
    service_name: String,
    description: String,
    /// The service has attributes (`services/{service_code}.json`).
    metadata: bool,
    #[serde(rename = "type")]
    #[schema(pattern = "^realtime$")]
    kind: String,
    /// Comma-separated.
    keywords: String,
    group: String,
}

/// A service's attribute definitions.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311ServiceDefinition)]
pub struct ServiceDefinition {
    service_code: String,
    attributes: Vec<GeoAttribute>,
}

/// A question of a service.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311Attribute)]
pub struct GeoAttribute {
    variable: bool,
    code: String,
    #[schema(pattern = "^(string|number|text|singlevaluelist)$")]
    datatype: &'static str,
    required: bool,
    /// Always null.
    #[schema(required, value_type = Option<String>)]
    datatype_description: Option<()>,
    #[schema(minimum = 1)]
    order: usize,
    description: String,
    values: Vec<GeoAttributeValue>,
}

/// One answer of a list.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311AttributeValue)]
pub struct GeoAttributeValue {
    key: String,
    name: String,
}

/// A request as GeoReport shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311Request)]
pub struct GeoRequest {
    service_request_id: String,
    #[schema(pattern = "^(open|closed)$")]
    status: &'static str,
    /// The municipality's answer.
    #[schema(required)]
    status_notes: Option<String>,
    #[schema(required)]
    service_name: Option<String>,
    service_code: String,
    /// Only for requests filed anonymously (GeoReport's among them).
    #[schema(required)]
    description: Option<String>,
    agency_responsible: String,
    /// Always null.
    #[schema(required, value_type = Option<String>)]
    service_notice: Option<()>,
    #[schema(format = DateTime)]
    requested_datetime: String,
    #[schema(format = DateTime)]
    updated_datetime: String,
    /// Filed + the category's deadline_days.
    #[schema(required, format = DateTime)]
    expected_datetime: Option<String>,
    #[schema(required)]
    address: Option<String>,
    /// Always null.
    #[schema(required, value_type = Option<String>)]
    address_id: Option<()>,
    /// Always null.
    #[schema(required, value_type = Option<String>)]
    zipcode: Option<()>,
    #[schema(required)]
    lat: Option<f64>,
    #[schema(required)]
    long: Option<f64>,
    /// Always null.
    #[schema(required, value_type = Option<String>)]
    media_url: Option<()>,
}

/// A request and its token.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311Token)]
pub struct GeoToken {
    service_request_id: String,
    token: String,
}

/// A request filed.
#[derive(Serialize, ToSchema)]
#[schema(as = Open311Filed)]
pub struct GeoFiled {
    service_request_id: String,
    /// The request's tracking code (`tokens/{token}.json`, and `/track/{token}` on the
    /// portal).
    #[schema(required)]
    token: Option<String>,
    /// Its Α.Α.
    service_notice: String,
    /// Always null.
    #[schema(required, value_type = Option<String>)]
    account_id: Option<()>,
}

/// A typed answer as the JSON tree the JSON and XML writers share.
fn tree(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "open311: an answer does not serialise");
        Value::Null
    })
}

// The GeoReport paths are routed by file name (`router`): one handler answers several
// documents, in JSON or XML by the suffix. Their JSON forms are declared here, each naming
// the type its handler builds the answer from.

#[utoipa::path(
    get,
    path = "/open311/v2/discovery.json",
    operation_id = "open311Discovery",
    tag = "open311",
    summary = "GeoReport v2 discovery",
    description = "The endpoint, its formats and how to get a key. The same path with `.xml` answers the specification's XML (`text/xml`).",
    security(),
    params(crate::openapi::AcceptLanguage),
    responses(
        (status = 200, description = "The discovery document.", body = Discovery),
        (status = 400, description = "The path does not end in `.json` or `.xml`, or a parameter is wrong (named in `description`).", body = Vec<GeoErrorItem>),
        (status = 500, description = "Internal error.", body = Vec<GeoErrorItem>),
        (status = 503, description = "The database does not answer for a moment.", body = Vec<GeoErrorItem>),
    )
)]
#[allow(dead_code)]
fn discovery_json() {}

#[utoipa::path(
    get,
    path = "/open311/v2/services.json",
    operation_id = "open311Services",
    tag = "open311",
    summary = "GeoReport v2 services: the request categories",
    description = "From the municipality's configuration. The same path with `.xml` answers the specification's XML (`text/xml`).",
    security(),
    params(crate::openapi::AcceptLanguage),
    responses(
        (status = 200, description = "The services.", body = Vec<GeoService>),
        (status = 400, description = "The path does not end in `.json` or `.xml`, or a parameter is wrong (named in `description`).", body = Vec<GeoErrorItem>),
        (status = 500, description = "Internal error.", body = Vec<GeoErrorItem>),
        (status = 503, description = "The database does not answer for a moment.", body = Vec<GeoErrorItem>),
    )
)]
#[allow(dead_code)]
fn services_json() {}

#[utoipa::path(
    get,
    path = "/open311/v2/services/{service_code}.json",
    operation_id = "open311ServiceDefinition",
    tag = "open311",
    summary = "GeoReport v2 service definition: a category's attributes",
    description = " The same path with `.xml` answers the specification's XML (`text/xml`).",
    security(),
    params(("service_code" = String, Path), crate::openapi::AcceptLanguage),
    responses(
        (status = 200, description = "The attributes.", body = ServiceDefinition),
        (status = 400, description = "The path does not end in `.json` or `.xml`, or a parameter is wrong (named in `description`).", body = Vec<GeoErrorItem>),
        (status = 404, description = "No service has this code.", body = Vec<GeoErrorItem>),
        (status = 500, description = "Internal error.", body = Vec<GeoErrorItem>),
        (status = 503, description = "The database does not answer for a moment.", body = Vec<GeoErrorItem>),
    )
)]
#[allow(dead_code)]
fn service_json() {}

#[utoipa::path(
    get,
    path = "/open311/v2/requests.json",
    operation_id = "open311Requests",
    tag = "open311",
    summary = "GeoReport v2 requests, filtered",
    description = "Only requests filed through Open311 are published. Reads what the log holds now. `service_request_id` overrides the other filters. The same path with `.xml` answers the specification's XML (`text/xml`).",
    security(),
    params(("service_request_id" = Option<String>, Query, description = "Comma-separated ids."), ("service_code" = Option<String>, Query, description = "One or several comma-separated service codes (an unknown one: 400)."), ("start_date" = Option<String>, Query, description = "ISO 8601, e.g. 2026-12-01T00:00:00+02:00 (without dates or ids: the last 90 days)."), ("end_date" = Option<String>, Query, description = "ISO 8601."), ("status" = Option<String>, Query, description = "open, closed or open,closed."), ("page" = Option<String>, Query, description = "1, 2, … (default 1)."), ("page_size" = Option<String>, Query, description = "1–1000 (default 100)."), crate::openapi::AcceptLanguage),
    responses(
        (status = 200, description = "The requests, newest first (only those with a category).", body = Vec<GeoRequest>),
        (status = 400, description = "The path does not end in `.json` or `.xml`, or a parameter is wrong (named in `description`).", body = Vec<GeoErrorItem>),
        (status = 500, description = "Internal error.", body = Vec<GeoErrorItem>),
        (status = 503, description = "The database does not answer for a moment.", body = Vec<GeoErrorItem>),
    )
)]
#[allow(dead_code)]
fn requests_json() {}

#[utoipa::path(
    post,
    path = "/open311/v2/requests.json",
    operation_id = "open311FileRequest",
    tag = "open311",
    summary = "GeoReport v2: file a request with an API key",
    description = "An anonymous request of the category, recorded with the client's name in its event metadata (`open311_client`). The answer's `token` is the request's tracking code (`tokens/{token}.json`, and `/track/{token}` on the portal). The key may also be in the query string. The same path with `.xml` answers the specification's XML (`text/xml`).",
    security(),
    params(crate::openapi::AcceptLanguage),
    request_body(content = std::collections::HashMap<String, String>, content_type = "application/x-www-form-urlencoded", description = "`api_key`, `service_code`, `lat` and `long` or `address_string`, `description`, and `attribute[{code}]` for the service's attributes, as the specification has them."),
    responses(
        (status = 201, description = "Filed.", body = Vec<GeoFiled>),
        (status = 400, description = "The path does not end in `.json` or `.xml`, or a parameter is wrong (named in `description`).", body = Vec<GeoErrorItem>),
        (status = 403, description = "No `api_key`, or one that is unknown or revoked.", body = Vec<GeoErrorItem>),
        (status = 404, description = "No service has this `service_code`.", body = Vec<GeoErrorItem>),
        (status = 405, description = "Only `requests` is filed with POST.", body = Vec<GeoErrorItem>),
        (status = 413, description = "The form is larger than 64 KB.", body = Vec<GeoErrorItem>),
        (status = 500, description = "Internal error.", body = Vec<GeoErrorItem>),
        (status = 503, description = "The database does not answer for a moment.", body = Vec<GeoErrorItem>),
    )
)]
#[allow(dead_code)]
fn file_json() {}

#[utoipa::path(
    get,
    path = "/open311/v2/requests/{service_request_id}.json",
    operation_id = "open311Request",
    tag = "open311",
    summary = "GeoReport v2: one request",
    description = "Reads what the log holds now. The same path with `.xml` answers the specification's XML (`text/xml`).",
    security(),
    params(("service_request_id" = String, Path), crate::openapi::AcceptLanguage),
    responses(
        (status = 200, description = "The requests, newest first (only those with a category).", body = Vec<GeoRequest>),
        (status = 400, description = "The path does not end in `.json` or `.xml`, or a parameter is wrong (named in `description`).", body = Vec<GeoErrorItem>),
        (status = 404, description = "No request filed through Open311 has this id.", body = Vec<GeoErrorItem>),
        (status = 500, description = "Internal error.", body = Vec<GeoErrorItem>),
        (status = 503, description = "The database does not answer for a moment.", body = Vec<GeoErrorItem>),
    )
)]
#[allow(dead_code)]
fn request_json_doc() {}

#[utoipa::path(
    get,
    path = "/open311/v2/tokens/{token}.json",
    operation_id = "open311Token",
    tag = "open311",
    summary = "GeoReport v2: the request a token stands for",
    description = " The same path with `.xml` answers the specification's XML (`text/xml`).",
    security(),
    params(("token" = String, Path), crate::openapi::AcceptLanguage),
    responses(
        (status = 200, description = "The request's id.", body = Vec<GeoToken>),
        (status = 400, description = "The path does not end in `.json` or `.xml`, or a parameter is wrong (named in `description`).", body = Vec<GeoErrorItem>),
        (status = 404, description = "No request filed through Open311 has this token.", body = Vec<GeoErrorItem>),
        (status = 500, description = "Internal error.", body = Vec<GeoErrorItem>),
        (status = 503, description = "The database does not answer for a moment.", body = Vec<GeoErrorItem>),
    )
)]
#[allow(dead_code)]
fn token_json() {}

/// The answer's format, from the path's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// An error as GeoReport answers it: one `error` for each thing to correct.
struct GeoError {
    status: StatusCode,
    descriptions: Vec<String>,
    format: Format,
}

impl GeoError {
    fn new(status: StatusCode, format: Format, description: impl Into<String>) -> Self {
        Self {
            status,
            descriptions: vec![description.into()],
            format,
        }
    }

    /// The database (or the service) does not answer for a moment: 503, with `Retry-After`.
    fn unavailable(format: Format) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format,
            "the service is unavailable for a moment; try again in a few seconds",
        )
    }

    /// A database error, in the format the client asked for.
    fn database(format: Format) -> impl FnOnce(sqlx::Error) -> Self {
        move |e| {
            let unavailable = eventlog::is_unavailable(&e);
            tracing::error!(error = %e, "open311: database");
            if unavailable {
                Self::unavailable(format)
            } else {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, format, "internal error")
            }
        }
    }
}

impl IntoResponse for GeoError {
    fn into_response(self) -> Response {
        let code = self.status.as_u16();
        let errors = self
            .descriptions
            .into_iter()
            .map(|description| tree(&GeoErrorItem { code, description }))
            .collect();
        let mut response = answer(self.format, "errors", "error", errors);
        *response.status_mut() = self.status;
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

/// The database does not answer: GeoReport's 503 (with `Retry-After`) in the format of the
/// path's suffix (the outage middleware, `http::unavailable_while_database_down`).
pub fn unavailable(uri: &Uri) -> Response {
    GeoError::unavailable(format_of(uri)).into_response()
}

/// The format a GeoReport path's suffix asks for (JSON when it names none).
fn format_of(uri: &Uri) -> Format {
    split(last_segment(uri)).map_or(Format::Json, |(_, format)| format)
}

/// A method a GeoReport path does not have (the router's `Allow` header is kept): the
/// specification's error, in the format of the path's suffix.
pub fn method_not_allowed(uri: &Uri) -> Response {
    GeoError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format_of(uri),
        "this path does not take this method: documents are read with GET, and requests are \
         filed with POST requests.json or requests.xml",
    )
    .into_response()
}

/// The path's last segment (`services.json`).
fn last_segment(uri: &Uri) -> &str {
    uri.path().rsplit('/').next().unwrap_or("")
}

/// Reads wait for the requests read model to reach the log's head: a client reads back
/// what it has just filed.
async fn caught_up(state: &AppState, format: Format) -> Result<(), GeoError> {
    state
        .wait_for_log_head(projections::REQUEST_READS)
        .await
        .map_err(|_| {
            GeoError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format,
                "the requests are being brought up to date; try again in a few seconds",
            )
        })
}

/// `name.json` → (`name`, JSON); another suffix is the specification's 400.
fn split(file: &str) -> Result<(&str, Format), GeoError> {
    match file.rsplit_once('.') {
        Some((name, "json")) if !name.is_empty() => Ok((name, Format::Json)),
        Some((name, "xml")) if !name.is_empty() => Ok((name, Format::Xml)),
        _ => Err(GeoError::new(
            StatusCode::BAD_REQUEST,
            Format::Json,
            "the format is .json or .xml at the end of the path, e.g. services.json",
        )),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Only what XML 1.0 allows (no other control character, no U+FFFE/U+FFFF).
            c if c.is_control() && c != '\n' && c != '\t' && c != '\r' => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The element name of one item of the list `field` (GeoReport's XML).
fn item_name(field: &str) -> &'static str {
    match field {
        "attributes" => "attribute",
        "values" => "value",
        "endpoints" => "endpoint",
        "formats" => "format",
        _ => "item",
    }
}

/// The order of an element's children in the specification's examples (a JSON object's
/// keys come sorted); a field not listed goes last.
fn field_order(element: &str) -> &'static [&'static str] {
    match element {
        "discovery" => &["changeset", "contact", "key_service", "endpoints"],
        "endpoint" => &["specification", "url", "changeset", "type", "formats"],
        "service" => &[
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group",
        ],
        "service_definition" => &["service_code", "attributes"],
        "attribute" => &[
            "variable",
            "code",
            "datatype",
            "required",
            "datatype_description",
            "order",
            "description",
            "values",
        ],
        "value" => &["key", "name"],
        "request" => &[
            "service_request_id",
            "token",
            "status",
            "status_notes",
            "service_name",
            "service_code",
            "description",
            "agency_responsible",
            "service_notice",
            "account_id",
            "requested_datetime",
            "updated_datetime",
            "expected_datetime",
            "address",
            "address_id",
            "zipcode",
            "lat",
            "long",
            "media_url",
        ],
        "error" => &["code", "description"],
        _ => &[],
    }
}

fn xml_value(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::Object(fields) => {
            out.push_str(&format!("<{name}>"));
            let order = field_order(name);
            let mut fields: Vec<_> = fields.iter().collect();
            fields.sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(order.len()));
            for (k, v) in fields {
                xml_value(out, k, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Array(items) => {
            out.push_str(&format!("<{name}>"));
            let item = item_name(name);
            for v in items {
                xml_value(out, item, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// A list answer: a JSON array, or `<root><item>…</item></root>`.
fn answer(format: Format, root: &str, item: &str, items: Vec<Value>) -> Response {
    match format {
        Format::Json => axum::Json(Value::Array(items)).into_response(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            out.push_str(&format!("<{root}>"));
            for v in &items {
                xml_value(&mut out, item, v);
            }
            out.push_str(&format!("</{root}>"));
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], out).into_response()
        }
    }
}

/// An object answer: a JSON object, or `<root>…</root>`.
fn answer_object(format: Format, root: &str, value: Value) -> Response {
    match format {
        Format::Json => axum::Json(value).into_response(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            xml_value(&mut out, root, &value);
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], out).into_response()
        }
    }
}

/// GeoReport's times: ISO 8601 with the municipality's offset.
fn time(at: &DateTime<Utc>) -> String {
    at.with_timezone(&Athens)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn base_url(state: &AppState) -> String {
    state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", state.config.bind))
}

/// `GET discovery`, `GET services`, `GET requests`.
async fn top(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, GeoError> {
    let (name, format) = split(last_segment(&uri))?;
    let lang = Lang::from_headers(&headers);
    match name {
        "discovery" => Ok(discovery(&state, format)),
        "services" => Ok(services(&state, lang, format)),
        "requests" => list_requests(&state, lang, format, query.as_deref().unwrap_or("")).await,
        _ => Err(GeoError::new(
            StatusCode::NOT_FOUND,
            format,
            format!("no {name}: the paths are discovery, services, requests and tokens"),
        )),
    }
}

fn discovery(state: &AppState, format: Format) -> Response {
    let municipality = &state.config.municipality.municipality;
    let changeset = "2026-12-07T00:00:00+02:00";
    answer_object(
        format,
        "discovery",
        tree(&Discovery {
            changeset: changeset.to_string(),
            contact: format!("{} — {}", municipality.name_el, base_url(state)),
            key_service: "An API key is issued by the municipality (portal open311 keys add)."
                .to_string(),
            endpoints: vec![Endpoint {
                specification: "http://wiki.open311.org/GeoReport_v2".to_string(),
                url: format!("{}/open311/v2", base_url(state)),
                changeset: changeset.to_string(),
                kind: "production".to_string(),
                formats: vec!["text/xml".to_string(), "application/json".to_string()],
            }],
        }),
    )
}

fn services(state: &AppState, lang: Lang, format: Format) -> Response {
    let items = state
        .config
        .municipality
        .requests
        .categories
        .iter()
        .map(|c| {
            tree(&GeoService {
                service_code: c.service_code.clone(),
                service_name: lang.pick(&c.name_el, &c.name_en),
                description: lang.pick(&c.name_el, &c.name_en),
                metadata: !c.attributes.is_empty(),
                kind: "realtime".to_string(),
                keywords: c.keywords.join(", "),
                group: lang.pick(&c.group_el, &c.group_en),
            })
        })
        .collect();
    answer(format, "services", "service", items)
}

/// `GET services/{service_code}`: the category's attribute definitions.
async fn service(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, GeoError> {
    let (code, format) = split(&file)?;
    let lang = Lang::from_headers(&headers);
    let category = state
        .config
        .municipality
        .requests
        .find(code)
        .ok_or_else(|| {
            GeoError::new(
                StatusCode::NOT_FOUND,
                format,
                format!(
                    "no service has the code {code:?}: see services.{}",
                    suffix(format)
                ),
            )
        })?;
    let attributes = category
        .attributes
        .iter()
        .enumerate()
        .map(|(n, a)| GeoAttribute {
            variable: true,
            code: a.code.clone(),
            datatype: a.datatype.as_str(),
            required: a.required,
            datatype_description: None,
            order: n + 1,
            description: lang.pick(&a.description_el, &a.description_en),
            values: a
                .values
                .iter()
                .map(|v| GeoAttributeValue {
                    key: v.key.clone(),
                    name: lang.pick(&v.name_el, &v.name_en),
                })
                .collect(),
        })
        .collect();
    Ok(answer_object(
        format,
        "service_definition",
        tree(&ServiceDefinition {
            service_code: category.service_code.clone(),
            attributes,
        }),
    ))
}

fn suffix(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}

/// A request as GeoReport shows it.
fn request_json(state: &AppState, lang: Lang, row: &read::GeoReportRow) -> Value {
    let m = &state.config.municipality;
    let category = m.requests.find(&row.category);
    tree(&GeoRequest {
        service_request_id: row.id.clone(),
        status: if row.status == "closed" {
            "closed"
        } else {
            "open"
        },
        status_notes: row.answer.clone(),
        service_name: category.map(|c| lang.pick(&c.name_el, &c.name_en)),
        service_code: row.category.clone(),
        description: row.description.clone(),
        agency_responsible: lang
            .pick(&m.municipality.name_el, &m.municipality.name_en)
            .to_string(),
        service_notice: None,
        requested_datetime: time(&row.submitted_at),
        updated_datetime: time(&row.updated_at),
        expected_datetime: category.map(|c| {
            time(&(row.submitted_at + chrono::Duration::days(i64::from(c.deadline_days))))
        }),
        address: row.address.clone(),
        address_id: None,
        zipcode: None,
        lat: row.lat,
        long: row.long,
        media_url: None,
    })
}

/// A date parameter: ISO 8601 (with an offset, or UTC).
fn date_param(name: &str, raw: &str, format: Format) -> Result<DateTime<Utc>, GeoError> {
    // An offset's `+` sent unencoded arrives as a space (`…T00:00:00 02:00`).
    let raw = raw.trim();
    let raw = match raw.rsplit_once(' ') {
        Some((time, offset)) if offset.len() == 5 && offset.as_bytes()[2] == b':' => {
            format!("{time}+{offset}")
        }
        _ => raw.to_string(),
    };
    DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            GeoError::new(
                StatusCode::BAD_REQUEST,
                format,
                format!("{name}: not an ISO 8601 time, e.g. 2026-12-01T00:00:00+02:00"),
            )
        })
}

/// `GET requests?service_request_id=&service_code=&start_date=&end_date=&status=&page=&page_size=`.
async fn list_requests(
    state: &AppState,
    lang: Lang,
    format: Format,
    query: &str,
) -> Result<Response, GeoError> {
    let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let bad = |what: String| GeoError::new(StatusCode::BAD_REQUEST, format, what);
    // Ids that are not a request's (not a UUID) match nothing.
    let ids = get("service_request_id").map(|ids| {
        ids.split(',')
            .filter_map(|id| uuid::Uuid::parse_str(id.trim()).ok())
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
    });
    let service_codes = match get("service_code") {
        None => None,
        Some(codes) => {
            let codes: Vec<String> = codes.split(',').map(|c| c.trim().to_string()).collect();
            if let Some(code) = codes
                .iter()
                .find(|c| state.config.municipality.requests.find(c).is_none())
            {
                return Err(bad(format!(
                    "service_code: no service has the code {code:?}"
                )));
            }
            Some(codes)
        }
    };
    let start = get("start_date")
        .map(|d| date_param("start_date", d, format))
        .transpose()?;
    let end = get("end_date")
        .map(|d| date_param("end_date", d, format))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(bad("start_date: after end_date".into()));
        }
    }
    // Without dates and ids: the last 90 days, as the specification suggests.
    let start = match (start, end, &ids) {
        (None, None, None) => Some(Utc::now() - chrono::Duration::days(90)),
        _ => start,
    };
    // `service_request_id` overrides every other filter (the specification).
    let (service_codes, start, end) = if ids.is_some() {
        (None, None, None)
    } else {
        (service_codes, start, end)
    };
    let closed = match get("status") {
        None => None,
        Some(s) => {
            let parts: Vec<&str> = s.split(',').map(str::trim).collect();
            if parts.iter().any(|p| *p != "open" && *p != "closed") {
                return Err(bad(format!(
                    "status: {s:?} is not open, closed or open,closed"
                )));
            }
            match (parts.contains(&"open"), parts.contains(&"closed")) {
                (true, false) => Some(false),
                (false, true) => Some(true),
                _ => None,
            }
        }
    };
    let number = |k: &str, default: i64, max: i64| -> Result<i64, GeoError> {
        match get(k) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| bad(format!("{k}: a whole number from 1 to {max}"))),
        }
    };
    let page_size = number("page_size", 100, 1000)?;
    let page = number("page", 1, 100_000)?;
    // What the log holds now: a client reads back what it has just filed.
    caught_up(state, format).await?;
    let rows = read::georeport_requests(
        &state.pool,
        &read::GeoReportFilter {
            closed: if ids.is_some() { None } else { closed },
            ids,
            service_codes,
            start,
            end,
            limit: page_size,
            offset: (page - 1) * page_size,
        },
    )
    .await
    .map_err(GeoError::database(format))?;
    let items = rows.iter().map(|r| request_json(state, lang, r)).collect();
    Ok(answer(format, "service_requests", "request", items))
}

/// `GET requests/{service_request_id}`.
async fn one_request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, GeoError> {
    let (id, format) = split(&file)?;
    let lang = Lang::from_headers(&headers);
    let not_found = || {
        GeoError::new(
            StatusCode::NOT_FOUND,
            format,
            format!("no service request has the id {id:?}"),
        )
    };
    // Not a UUID: no request's id (and never a text the database would refuse).
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| not_found())?
        .to_string();
    caught_up(&state, format).await?;
    let rows = read::georeport_requests(
        &state.pool,
        &read::GeoReportFilter {
            ids: Some(vec![id.clone()]),
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .map_err(GeoError::database(format))?;
    if rows.is_empty() {
        return Err(not_found());
    }
    let items = rows.iter().map(|r| request_json(&state, lang, r)).collect();
    Ok(answer(format, "service_requests", "request", items))
}

/// `GET tokens/{token}`: the request a token (the tracking code) stands for.
async fn token(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, GeoError> {
    let (token, format) = split(&file)?;
    caught_up(&state, format).await?;
    match read::id_of_tracking_hash(&state.pool, &tracking_code_sha256(token))
        .await
        .map_err(GeoError::database(format))?
    {
        Some(id) => Ok(answer(
            format,
            "service_requests",
            "request",
            vec![tree(&GeoToken {
                service_request_id: id,
                token: token.to_string(),
            })],
        )),
        None => Err(GeoError::new(
            StatusCode::NOT_FOUND,
            format,
            "no service request has this token",
        )),
    }
}

/// The most a GeoReport form may hold.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// `POST requests` (form-urlencoded, as the specification has it).
async fn post_top(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    context: RequestContext,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, GeoError> {
    let (name, format) = split(last_segment(&uri))?;
    if name != "requests" {
        let mut response = GeoError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format,
            format!(
                "{name} is read with GET; requests are filed with POST requests.{}",
                suffix(format)
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
        return Ok(response);
    }
    let too_large = || {
        GeoError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format,
            "the form is larger than 64 KB",
        )
    };
    // A body over the server's limit is refused while it is read; a body that could not be
    // read at all (a broken upload) is a bad request.
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            GeoError::new(
                StatusCode::BAD_REQUEST,
                format,
                "the form could not be read; send it again",
            )
        }
    })?;
    if body.len() > MAX_FORM_BYTES {
        return Err(too_large());
    }
    let lang = Lang::from_headers(&headers);
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut attributes = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(&body) {
        match k
            .strip_prefix("attribute[")
            .and_then(|k| k.strip_suffix(']'))
        {
            Some(code) => {
                attributes.insert(code.to_string(), v.into_owned());
            }
            None => {
                fields.insert(k.into_owned(), v.into_owned());
            }
        }
    }
    // The key in the form, as the specification has it, or in the query string, where
    // some clients put it.
    let from_query = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v.into_owned());
    let key = fields
        .get("api_key")
        .cloned()
        .or(from_query)
        .unwrap_or_default();
    let key = key.trim();
    if key.is_empty() {
        return Err(GeoError::new(
            StatusCode::FORBIDDEN,
            format,
            "api_key: filing a request needs an API key issued by the municipality",
        ));
    }
    let Some(client) = open311::client_of(&state.pool, key)
        .await
        .map_err(GeoError::database(format))?
    else {
        return Err(GeoError::new(
            StatusCode::FORBIDDEN,
            format,
            "api_key: this key is not valid (unknown or revoked)",
        ));
    };
    let filing = Filing {
        service_code: fields.get("service_code").cloned(),
        lat: fields.get("lat").cloned(),
        long: fields.get("long").cloned(),
        address_string: fields.get("address_string").cloned(),
        description: fields.get("description").cloned(),
        attributes,
    };
    match open311::file(&state, &client, context.metadata(None), filing).await {
        Ok(submitted) => {
            let mut response = answer(
                format,
                "service_requests",
                "request",
                vec![tree(&GeoFiled {
                    service_request_id: submitted.id.to_string(),
                    token: submitted.tracking_code.clone(),
                    service_notice: format!("{} {}", lang.pick("Α.Α.", "No."), submitted.number),
                    account_id: None,
                })],
            );
            *response.status_mut() = StatusCode::CREATED;
            Ok(response)
        }
        Err(RequestError::Invalid(errors))
            if errors.iter().any(|e| e.code == "category_unknown") =>
        {
            Err(GeoError::new(
                StatusCode::NOT_FOUND,
                format,
                "service_code: no service has this code (see services.json)",
            ))
        }
        Err(RequestError::Invalid(errors)) => {
            // Named by GeoReport's fields: the portal's `text` is the `description`, its
            // `address` the `address_string`, its `category` the `service_code`.
            let descriptions = errors
                .iter()
                .map(|e| {
                    let field = match e.field.as_str() {
                        "text" => "description",
                        "address" => "address_string",
                        "category" => "service_code",
                        "subject" => "service_code",
                        other => other,
                    };
                    format!("{field}: {}", i18n::message(lang, &e.code))
                })
                .collect();
            Err(GeoError {
                status: StatusCode::BAD_REQUEST,
                descriptions,
                format,
            })
        }
        Err(RequestError::Command(commands::CommandError::Unavailable(_))) => {
            Err(GeoError::unavailable(format))
        }
        Err(e) => {
            tracing::error!(error = %e, "open311: filing failed");
            Err(GeoError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format,
                "internal error",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the outage middleware answers an Open311 client: GeoReport's error, in the
    /// path's format, with when to come back.
    #[test]
    fn an_outage_answers_in_the_paths_format() {
        for (path, content_type) in [
            ("/open311/v2/requests.xml", "text/xml; charset=utf-8"),
            ("/open311/v2/services/pothole.json", "application/json"),
            ("/open311/v2/unknown", "application/json"),
        ] {
            let answer = unavailable(&path.parse().unwrap());
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_eq!(
                answer.headers()[header::CONTENT_TYPE],
                content_type,
                "{path}"
            );
            assert_eq!(answer.headers()[header::RETRY_AFTER], "5", "{path}");
        }
    }
}
