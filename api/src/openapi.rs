//! The OpenAPI document of the JSON API (issue 16), generated from the code: each operation
//! from its handler's `#[utoipa::path]` (the GeoReport paths, routed by file name, from the
//! declarations in `routes::open311`), each body and answer from its type's `ToSchema`, the
//! shared error answers from [`error_responses!`] and the common parameters below, the
//! document's head (info, tags, security) from [`FromCode`].
//!
//! One part is not derived: the schemas of three aggregates' folded state, which the
//! auditors' `state` answers (`api/openapi/aggregate-states.json`: the domain's aggregates
//! do not derive `ToSchema`); [`document`] merges them in and refuses a component declared
//! in both. `docs/openapi.json` is [`document`] written out by `portal openapi`; a test fails
//! when it differs from what the code generates, and another when a routed operation is
//! missing from it.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use utoipa::openapi::{RefOr, Response};
use utoipa::OpenApi;

use crate::error::ErrorBody;
use crate::i18n::Lang;

/// The schemas of the aggregates' folded state (see the module's documentation).
const AGGREGATE_STATES: &str = include_str!("../openapi/aggregate-states.json");

/// Declares the shared error answers (`#/components/responses/<name>`): for each, a type that
/// operations name in `responses((status = 401, response = Unauthenticated))`, its
/// description, examples built from the message catalogue (code, fields to correct, the
/// parser's detail) and, where the answer carries it, `Retry-After` (description, minimum).
macro_rules! error_responses {
    ($($name:ident => ($description:expr, $examples:expr, $retry_after:expr $(,)?),)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (
                        stringify!($name),
                        RefOr::T(error_response($description, $examples, $retry_after)),
                    )
                }
            }
        )*
    };
}

/// An example's code, the fields it names (field, code) and the parser's detail.
type ErrorExample = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

fn error_response(
    description: &str,
    examples: &[ErrorExample],
    retry_after: Option<(&str, Option<i64>)>,
) -> Response {
    let mut content = json!({"schema": {"$ref": "#/components/schemas/Error"}});
    if !examples.is_empty() {
        let examples: Map<String, Value> = examples
            .iter()
            .map(|(code, fields, detail)| {
                let fields: Vec<domain::refusal::FieldError> = fields
                    .iter()
                    .map(|(field, code)| domain::refusal::FieldError::new(field, code))
                    .collect();
                let body = ErrorBody::new(Lang::El, code, &fields, *detail);
                (code.to_string(), json!({ "value": body }))
            })
            .collect();
        content["examples"] = Value::Object(examples);
    }
    let mut response = json!({
        "description": description,
        "content": {"application/json": content},
    });
    if let Some((description, minimum)) = retry_after {
        let mut schema = json!({"type": "integer"});
        if let Some(minimum) = minimum {
            schema["minimum"] = json!(minimum);
        }
        response["headers"] =
            json!({"Retry-After": {"description": description, "schema": schema}});
    }
    serde_json::from_value(response).expect("an error response is a Response")
}

error_responses! {
    BadRequest => (
        "The body is not valid JSON, or has a field of the wrong type or an unknown field. Codes: `malformed_json`, `unknown_field`.",
        &[("malformed_json", &[], Some("Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 15")), ("unknown_field", &[("email", "unknown_field")], Some("Failed to deserialize the JSON body into the target type: email: unknown field `email`, expected one of `kind`, `subject`, `text`, `desired_action` at line 1 column 33"))],
        None,
    ),
    BadPosition => (
        "The `X-Portal-Position` header is not `<transaction id>.<global position>`. Codes: `position_invalid`.",
        &[],
        None,
    ),
    BadQuery => (
        "A query parameter is unknown or not of its type. Codes: `malformed_query`, `position_invalid`, and on lists that page `cursor_invalid`, `limit_out_of_range`, `page_out_of_range`.",
        &[],
        None,
    ),
    Unauthenticated => (
        "No session, or the session presented (bearer token or cookie) is unknown, expired or revoked. Codes: `unauthenticated`.",
        &[("unauthenticated", &[], None)],
        None,
    ),
    Forbidden => (
        "The user's role may not do this. Codes: `forbidden`.",
        &[],
        None,
    ),
    CaseNotFound => (
        "No such case, or (for a citizen) a case that is not theirs: it answers exactly like a missing one. Codes: `case_not_found`.",
        &[("case_not_found", &[], None)],
        None,
    ),
    Conflict => (
        "Someone else changed the case at the same moment; the command was retried (PORTAL_CONFLICT_RETRIES, default once) against the fresh state and lost again. Reload and try again. Codes: `conflict`. On a creating POST also `idempotency_key_in_progress` (another request with the same `Idempotency-Key` is still running; `Retry-After: 1`).",
        &[("conflict", &[], None)],
        Some(("With `idempotency_key_in_progress`: seconds to wait.", Some(1))),
    ),
    PayloadTooLarge => (
        "The body is larger than 2 MB. Codes: `payload_too_large`.",
        &[],
        None,
    ),
    UnsupportedMediaType => (
        "The body was not sent with `Content-Type: application/json`. Codes: `unsupported_media_type`.",
        &[],
        None,
    ),
    Internal => (
        "An infrastructure failure (logged); the body reveals nothing. Code: `internal`.",
        &[],
        None,
    ),
    TooManyRequests => (
        "Too many logins, registrations or anonymous submissions from this address in 10 minutes (PORTAL_RATE_LIMIT, default 20 each). Wait the seconds in Retry-After. Codes: `rate_limited`.",
        &[("rate_limited", &[], None)],
        Some(("Seconds until another attempt is allowed.", Some(1))),
    ),
    Unavailable => (
        "The database does not answer (e.g. it is restarting): try again after `Retry-After` seconds. Nothing already acknowledged is lost. Code: `service_unavailable`.",
        &[],
        Some(("Seconds to wait.", None)),
    ),
}

/// What the code declares: the document's head, operations, schemas, responses.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Δημοτική Διαδικτυακή Πύλη — JSON API",
        version = "0.1.0",
        description = "The municipal e-services portal: accounts, citizen requests/complaints/proposals, clerks' actions, certification of users, certificate applications, payments and traffic fines, business services, audit, Open311. A guide with curl examples is docs/api.md. Every error of the JSON API answers the `Error` body (GeoReport's paths answer the specification's list of errors; `/metrics` answers text). Any path not listed answers 404 `not_found`; a listed path with another method answers 405 `method_not_allowed`; any route that reaches the database may answer 500 `internal`. Bodies are JSON (`Content-Type: application/json`, at most 2 MB: larger answers 413) and refuse unknown fields; the exceptions are a clerk's PDF upload to `/api/v1/staff/applications/{id}/issue` (`application/pdf`, up to 64 MB), the bank's notification and GeoReport's filing (form-encoded). An `Authorization` header of another scheme than `Bearer` is ignored (the session cookie, if any, decides). Times are UTC (RFC 3339), except GeoReport's, which carry the municipality's offset.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    servers((url = "http://127.0.0.1:8080", description = "`portal serve` with the default PORTAL_BIND")),
    tags(
        (name = "health"),
        (name = "accounts", description = "Registration, login, profile (S2)."),
        (name = "requests", description = "Citizens and visitors: submit, list, read, track, reopen (S1, S3, S4)."),
        (name = "staff", description = "Clerks: queue, review, answer, status, protocol, close (S5)."),
        (name = "certification", description = "Certification of users after an in-person identity check (S6): the user's view and the clerks' lookup, certify, revoke."),
        (name = "certificates", description = "Certificate applications (S7–S9): civil-registry and ΤΑΠ certificates; types, apply, list, read, answer a question, download the issued PDF."),
        (name = "staff-applications", description = "Clerks: the applications queue, review, request information, issue, reject, protocol registration now (S15)."),
        (name = "audit", description = "Auditors: events, state as of a sequence, hash-chain verification."),
        (name = "payments", description = "Payments by card through the bank's hosted page (issue 5): the payer's payments with their receipts, and the bank's server-to-server notification. The bank's browser return is `POST /payments/return` (a page endpoint, see pages.md)."),
        (name = "fines", description = "Traffic fines (ΚΟΚ) payable to the municipality (issue 5): types, step 1 check, step 2 quote from the fines system, pay a quote, the payer's paid fines. See api.md «Traffic fines (issue 5)»."),
        (name = "business", description = "The precondition of the business services (a certification naming a business) and the business's history."),
        (name = "business-warrants", description = "«Εγκεκριμένες Πληρωμές» (issue 6, S12): the warrants issued to a certified business, from the financial system, as JSON or CSV. See api.md «Εγκεκριμένες Πληρωμές»."),
        (name = "business-declarations", description = "«Δήλωση και Πληρωμή Δημοτικού Φόρου» (issue 6, S13): the revenue system's assessment of a declaration, filing it together with its payment (one unit: a payment that does not complete rejects the declaration), the business's declarations. See api.md «Δήλωση και Πληρωμή Δημοτικού Φόρου»."),
        (name = "business-debts", description = "«Πληρωμή Βεβαιωμένου Δημοτικού Φόρου» (S14): the certified municipal-tax debts of the business, as of today, and paying one"),
        (name = "open311", description = "Open311 GeoReport v2 (issue 15): docs/open311.md. JSON shown; `.xml` gives the specification's XML.")
    ),
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    modifiers(&SessionSchemes),
    paths(
        crate::routes::health::healthz,
        crate::metrics::readyz,
        crate::metrics::metrics,
        crate::routes::health::openapi,
        crate::routes::accounts::register,
        crate::routes::accounts::activate,
        crate::routes::accounts::login,
        crate::routes::accounts::logout,
        crate::routes::accounts::me,
        crate::routes::accounts::update_me,
        crate::routes::accounts::change_password,
        crate::routes::accounts::sessions,
        crate::routes::accounts::end_other_sessions,
        crate::routes::accounts::end_session,
        crate::routes::accounts::request_password_reset,
        crate::routes::accounts::reset_password,
        crate::routes::business::me,
        crate::routes::business::history,
        crate::routes::audit::events,
        crate::routes::audit::state,
        crate::routes::audit::verify,
        crate::routes::audit::staff,
        crate::routes::audit::streams,
        crate::routes::requests::submit,
        crate::routes::requests::track,
        crate::routes::requests::my_list,
        crate::routes::requests::my_detail,
        crate::routes::requests::reopen,
        crate::routes::requests::categories,
        crate::routes::staff::queue,
        crate::routes::staff::stats,
        crate::routes::staff::stats_csv,
        crate::routes::staff::detail,
        crate::routes::staff::review,
        crate::routes::staff::answer,
        crate::routes::staff::change_status,
        crate::routes::staff::protocol,
        crate::routes::staff::close,
        crate::routes::payments::notify,
        crate::routes::payments::my_list,
        crate::routes::payments::my_detail,
        crate::routes::certifications::lookup,
        crate::routes::certifications::certify,
        crate::routes::certifications::revoke,
        crate::routes::certifications::mine,
        crate::routes::certifications::types,
        crate::routes::refused_notices::list,
        crate::routes::refused_notices::retry,
        crate::routes::refused_notices::refund,
        crate::routes::warrants::list,
        crate::routes::warrants::csv,
        crate::routes::fines::types,
        crate::routes::fines::check,
        crate::routes::fines::quote,
        crate::routes::fines::pay,
        crate::routes::fines::my_fines,
        crate::routes::tax_debts::list,
        crate::routes::tax_debts::detail,
        crate::routes::tax_debts::pay,
        crate::routes::tax_declarations::assess,
        crate::routes::tax_declarations::file,
        crate::routes::tax_declarations::list,
        crate::routes::tax_declarations::detail,
        crate::routes::applications::apply,
        crate::routes::applications::my_list,
        crate::routes::applications::my_detail,
        crate::routes::applications::reply,
        crate::routes::applications::my_document,
        crate::routes::applications::queue,
        crate::routes::applications::staff_detail,
        crate::routes::applications::staff_document,
        crate::routes::applications::review,
        crate::routes::applications::request_information,
        crate::routes::applications::reject,
        crate::routes::applications::issue,
        crate::routes::applications::protocol,
        crate::routes::open311::discovery_json,
        crate::routes::open311::services_json,
        crate::routes::open311::service_json,
        crate::routes::open311::requests_json,
        crate::routes::open311::file_json,
        crate::routes::open311::request_json_doc,
        crate::routes::open311::token_json,
    ),
    components(
        // The schemas an operation names only through a parameter's `value_type` (utoipa
        // collects those of bodies and answers by itself).
        schemas(
            crate::error::ErrorBody,
            crate::error::ErrorDetails,
            crate::error::FieldMessage,
            domain::audit::StreamKind,
        ),
        responses(
            BadRequest,
            BadPosition,
            BadQuery,
            Unauthenticated,
            Forbidden,
            CaseNotFound,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Internal,
            TooManyRequests,
            Unavailable,
        )
    )
)]
struct FromCode;

/// The security schemes `security(…)` names: the bearer token and the session cookie.
struct SessionSchemes;

impl utoipa::Modify for SessionSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `token` from `POST /api/v1/session`; the scheme name is \
                         case-insensitive. A `Bearer` header is used instead of the cookie when \
                         both are sent.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "portal_session",
                "Set by `POST /api/v1/session` (HttpOnly, SameSite=Lax).",
            ))),
        );
    }
}

/// The whole document: what the code declares, with the aggregates' state schemas.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| build().unwrap_or_else(|why| panic!("the OpenAPI document: {why}")))
}

/// [`document`] as written to `docs/openapi.json` and served at `/api/v1/openapi.json`.
pub fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(document()).expect("JSON is serialisable");
        text.push('\n');
        text
    })
}

fn build() -> Result<Value, String> {
    let mut document = serde_json::to_value(FromCode::openapi()).map_err(|e| e.to_string())?;
    let states: Value = serde_json::from_str(AGGREGATE_STATES)
        .map_err(|e| format!("aggregate-states.json is not JSON: {e}"))?;
    merge(&mut document, &states)?;
    worded_from_the_catalogue(&mut document);
    Ok(document)
}

/// Every example of an error answer (`{"error": {"code": …}}`) says what the portal says:
/// its message, and each field's, are the Greek catalogue's (a message reworded in
/// `api/locales/el.ftl` cannot leave a stale example behind).
fn worded_from_the_catalogue(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(error)) = map.get_mut("error") {
                if let Some(code) = error.get("code").and_then(Value::as_str) {
                    if crate::i18n::has_message(code) {
                        let message = crate::i18n::message(Lang::El, code);
                        error.insert("message".into(), Value::String(message));
                    }
                }
                if let Some(Value::Array(fields)) = error.get_mut("fields") {
                    for field in fields.iter_mut().filter_map(Value::as_object_mut) {
                        if let Some(code) = field.get("code").and_then(Value::as_str) {
                            let message = crate::i18n::message(Lang::El, code);
                            field.insert("message".into(), Value::String(message));
                        }
                    }
                }
            }
            map.values_mut().for_each(worded_from_the_catalogue);
        }
        Value::Array(items) => items.iter_mut().for_each(worded_from_the_catalogue),
        _ => {}
    }
}

/// Adds `more`'s operations (by path and method) and components (by kind and name) to
/// `document`; either declared twice is an error.
fn merge(document: &mut Value, more: &Value) -> Result<(), String> {
    for (section, depth) in [("paths", 2), ("components", 2)] {
        let Some(from) = more.get(section).and_then(Value::as_object) else {
            continue;
        };
        let into = document
            .as_object_mut()
            .ok_or("the document is not an object")?
            .entry(section)
            .or_insert_with(|| json!({}));
        merge_level(into, from, depth, section)?;
    }
    Ok(())
}

fn merge_level(
    into: &mut Value,
    from: &Map<String, Value>,
    depth: u8,
    at: &str,
) -> Result<(), String> {
    let into = into
        .as_object_mut()
        .ok_or_else(|| format!("{at} is not an object"))?;
    for (key, value) in from {
        let here = format!("{at}/{key}");
        match (into.get_mut(key), depth) {
            (None, _) => {
                into.insert(key.clone(), value.clone());
            }
            (Some(existing), 2) => {
                let value = value
                    .as_object()
                    .ok_or_else(|| format!("{here} is not an object"))?;
                merge_level(existing, value, 1, &here)?;
            }
            (Some(_), _) => {
                return Err(format!(
                    "{here} is declared twice (in code and in aggregate-states.json?)"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is what the code generates (`portal openapi > docs/openapi.json`
    /// writes it).
    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        let checked_in: Value =
            serde_json::from_str(include_str!("../../docs/openapi.json")).expect("JSON");
        assert!(
            &checked_in == document(),
            "docs/openapi.json differs from the document the code generates: run \
             `cargo run -q --bin portal -- openapi > docs/openapi.json`"
        );
        assert_eq!(include_str!("../../docs/openapi.json"), text());
    }

    /// Every `$ref` of the document names a component it has (one named only by a parameter's
    /// `value_type` must be listed in `FromCode`'s schemas).
    #[test]
    fn every_reference_resolves() {
        fn refs<'v>(value: &'v Value, found: &mut Vec<&'v str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        found.push(target);
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(document(), &mut found);
        assert!(found.len() > 100, "{}", found.len());
        for target in found {
            let pointer = target.trim_start_matches('#');
            assert!(
                document().pointer(pointer).is_some(),
                "{target} names nothing in the document"
            );
        }
    }

    /// A doc comment on a field whose schema is an inline enum makes utoipa answer
    /// `allOf: [the enum, {"type": "object", "description": …}]`, which no string matches
    /// (schemathesis found one): there is none.
    #[test]
    fn no_description_wraps_a_schema_in_an_object() {
        fn walk(value: &Value, at: &str, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::Array(all)) = map.get("allOf") {
                        let wraps = all.iter().any(|item| {
                            item.get("type") == Some(&json!("object"))
                                && item.as_object().is_some_and(|o| {
                                    o.keys().all(|k| k == "type" || k == "description")
                                })
                        });
                        if wraps {
                            found.push(at.to_string());
                        }
                    }
                    for (key, v) in map {
                        walk(v, &format!("{at}/{key}"), found);
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, at, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        walk(document(), "", &mut found);
        assert!(found.is_empty(), "{found:?}");
    }

    /// The schema-only enums of the aggregate types and of the search's kinds say what
    /// `domain::audit::STREAM_KINDS` says.
    #[test]
    fn the_stream_kinds_of_the_document_are_the_domains() {
        let names = |schema: &str| -> Vec<String> {
            document()["components"]["schemas"][schema]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{schema} has an enum"))
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        let kinds: Vec<String> = domain::audit::STREAM_KINDS
            .iter()
            .map(|(kind, _)| kind.to_string())
            .collect();
        let types: Vec<String> = domain::audit::STREAM_KINDS
            .iter()
            .map(|(_, aggregate)| aggregate.to_string())
            .collect();
        assert_eq!(names("StreamKind"), kinds);
        assert_eq!(names("AggregateType"), types);
    }

    #[test]
    fn an_operation_declared_twice_is_refused() {
        let mut document = json!({"paths": {"/a": {"get": {}}}});
        let code = json!({"paths": {"/a": {"post": {}}}});
        merge(&mut document, &code).unwrap();
        assert_eq!(document, json!({"paths": {"/a": {"get": {}, "post": {}}}}));
        let again = json!({"paths": {"/a": {"get": {}}}});
        assert!(merge(&mut document, &again)
            .unwrap_err()
            .contains("paths//a/get"));
    }

    /// Every example of an error answer is what the portal answers: its message is the
    /// catalogue's.
    #[test]
    fn error_examples_carry_the_catalogues_messages() {
        let unauthenticated = &document()["components"]["responses"]["Unauthenticated"];
        let example = &unauthenticated["content"]["application/json"]["examples"]
            ["unauthenticated"]["value"]["error"];
        assert_eq!(example["code"], "unauthenticated");
        assert_eq!(
            example["message"],
            crate::i18n::message(Lang::El, "unauthenticated")
        );
    }

    /// Every code an example of the document answers with is in the catalogue.
    #[test]
    fn every_error_example_names_a_code_of_the_catalogue() {
        fn codes(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(error) = map.get("error") {
                        let fields = error.get("fields").and_then(Value::as_array);
                        let codes = std::iter::once(error.get("code"))
                            .chain(fields.into_iter().flatten().map(|f| f.get("code")));
                        found.extend(codes.flatten().filter_map(Value::as_str).map(String::from));
                    }
                    map.values().for_each(|v| codes(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| codes(v, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        codes(document(), &mut found);
        assert!(found.len() > 20, "{found:?}");
        for code in found {
            assert!(crate::i18n::has_message(&code), "{code}");
        }
    }
}
/// A PDF file, as a body or an answer (its bytes).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct PdfFile(Vec<u8>);

/// The parameters many operations share, one type each (utoipa inlines them into each
/// operation).

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct AcceptLanguage {
    /// Error messages are Greek by default; English when the request ranks English above
    /// Greek by quality (`en-GB,en;q=0.9`; `en;q=0.3, el` is Greek; `*` counts as Greek).
    /// Success bodies are language-neutral.
    #[param(rename = "Accept-Language", example = "en")]
    accept_language: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct PortalPosition {
    /// Read-your-writes: the `position` of a write this client made (from a command's
    /// answer). The read waits, up to PORTAL_READ_WAIT_MS (default 3 s), until the read
    /// models have passed it. With a session, the session's own latest write is waited for
    /// without the header.
    #[param(rename = "X-Portal-Position", value_type = Option<String>, pattern = r"^[0-9]+\.[0-9]+$")]
    position: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct RequestId {
    /// Optional correlation id; recorded as `correlation_id` in the metadata of the events
    /// the request writes. One is generated when absent and every answer carries it back.
    #[param(rename = "X-Request-Id")]
    request_id: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct CaseId {
    /// The case id (a UUID) from the submission's answer. Anything that is not a UUID answers
    /// 404 `case_not_found`.
    #[param(format = Uuid)]
    id: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ApplicationId {
    /// The application id (a UUID) from the application's answer. Anything that is not a UUID
    /// answers 404 `case_not_found`.
    #[param(format = Uuid)]
    id: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct AuditId {
    /// The stream to audit: a case id, an application id, or an account id for that user's
    /// certification (`Certification` stream). Anything that is not a UUID, or an id with no
    /// events, answers 404 `case_not_found`.
    #[param(format = Uuid)]
    id: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKey {
    /// Optional. A key the client makes up (a UUID, say) for one submission. Within 24 hours
    /// a repeat with the same key, from the same caller, with the same body gets the first
    /// answer again (with `Idempotent-Replayed: true`) instead of creating a second case;
    /// with another body, 422 `idempotency_key_reused`; while the first is still running, the
    /// repeat waits for it (at most 15 s, then 409 `idempotency_key_in_progress`). Only
    /// answers that created something are kept: after a refusal the key may be used again. 1
    /// to 255 visible ASCII characters, else 422 `validation_failed` naming `Idempotency-
    /// Key`.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = r"^[!-~]+$"
    )]
    idempotency_key: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct After {
    /// Keyset paging: the `next` of the previous page (opaque). Absent: the first page.
    /// Anything that is not such a cursor: 400 `cursor_invalid`.
    #[param(rename = "after", max_length = 1000)]
    after: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Limit {
    /// Rows per page, 1 to 100 (default 20); else 400 `limit_out_of_range`.
    #[param(rename = "limit", minimum = 1, maximum = 100, default = 20)]
    limit: Option<i64>,
}
