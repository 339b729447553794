//! The API's one error type. A rule's "no" is a 4xx with a message the user can act on (in
//! Greek, or English on request); a conflict is 409; an infrastructure failure is a logged
//! 500 whose body reveals nothing.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use commands::CommandError;
use domain::refusal::RefusalKind;
use domain::Refusal;

use crate::i18n::{self, Lang};

pub use domain::refusal::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    #[error("bad request ({code}): {detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("not authenticated")]
    Unauthenticated,
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    #[error("forbidden")]
    Forbidden,
    #[error("not found ({0})")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("refused: {0}")]
    Refused(Refusal),
    /// A refusal that names several fields to correct (e.g. the profile details a payment
    /// needs).
    #[error("refused: {0}")]
    RefusedFields(Refusal, Vec<FieldError>),
    #[error("conflict")]
    Conflict,
    /// Another request with the same idempotency key is still running.
    #[error("idempotency key in use")]
    IdempotencyKeyInProgress,
    /// The idempotency key was used before with another request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// The database (or another part the portal cannot do without) does not answer: try
    /// again in a few seconds.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("too many attempts")]
    TooManyRequests,
    /// Too many failed logins for one e-mail from this address: retry after this many
    /// seconds.
    #[error("too many failed logins")]
    LoginThrottled(u64),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if eventlog::is_unavailable(&e) {
            Self::Unavailable(format!("database: {e}"))
        } else {
            Self::Internal(format!("database: {e}"))
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Refused(refusal) => Self::Refused(refusal),
            CommandError::Conflict => Self::Conflict,
            CommandError::Unavailable(why) => Self::Unavailable(why),
            CommandError::Infrastructure(why) => Self::Internal(why),
        }
    }
}

impl From<commands::audit::AuditError> for ApiError {
    fn from(e: commands::audit::AuditError) -> Self {
        use commands::audit::AuditError;
        match e {
            AuditError::NotAuditor => Self::Forbidden,
            AuditError::NotFound => Self::NotFound("case_not_found"),
            AuditError::SequenceInvalid => {
                Self::Validation(vec![FieldError::new("sequence", "sequence_invalid")])
            }
            AuditError::Unavailable(why) => Self::Unavailable(why),
            AuditError::Infrastructure(why) => Self::Internal(why),
        }
    }
}

impl From<commands::payments::PaymentError> for ApiError {
    fn from(e: commands::payments::PaymentError) -> Self {
        use commands::payments::PaymentError;
        match e {
            PaymentError::NotFound => Self::NotFound("payment_not_found"),
            PaymentError::Command(e) => e.into(),
        }
    }
}

impl From<commands::fines::FineError> for ApiError {
    fn from(e: commands::fines::FineError) -> Self {
        use commands::fines::FineError;
        match e {
            FineError::Invalid(fields) => Self::Validation(fields),
            FineError::Refused(refusal) => Self::Refused(refusal),
            FineError::ProfileIncomplete(refusal, fields) => Self::RefusedFields(refusal, fields),
            FineError::NoAccount => Self::Unauthenticated,
            FineError::Command(e) => e.into(),
            FineError::Payment(e) => e.into(),
        }
    }
}

impl From<commands::fines::ProfileError> for ApiError {
    fn from(e: commands::fines::ProfileError) -> Self {
        commands::fines::FineError::from(e).into()
    }
}

impl From<commands::refused_notices::RefusedNoticeError> for ApiError {
    fn from(e: commands::refused_notices::RefusedNoticeError) -> Self {
        use commands::refused_notices::RefusedNoticeError;
        match e {
            RefusedNoticeError::Forbidden => Self::Forbidden,
            RefusedNoticeError::NotFound => Self::NotFound("notice_not_found"),
            RefusedNoticeError::NotASecondPayment => Self::Refused(domain::Refusal::rule(
                "not_a_second_payment",
                "its notice is to be sent again, not its money returned",
            )),
            RefusedNoticeError::Command(e) => e.into(),
        }
    }
}

impl From<commands::business::BusinessError> for ApiError {
    fn from(e: commands::business::BusinessError) -> Self {
        use commands::business::BusinessError;
        match e {
            BusinessError::StaffAccount => Self::Forbidden,
            BusinessError::NotCertified(refusal) => Self::Refused(refusal),
            BusinessError::Command(e) => e.into(),
        }
    }
}

impl From<commands::tax_debts::DebtError> for ApiError {
    fn from(e: commands::tax_debts::DebtError) -> Self {
        use commands::tax_debts::DebtError;
        match e {
            DebtError::Business(e) => e.into(),
            DebtError::Refused(refusal) => Self::Refused(refusal),
            DebtError::Profile(e) => e.into(),
            DebtError::Command(e) => e.into(),
            DebtError::Payment(e) => e.into(),
        }
    }
}

impl From<commands::tax_declarations::DeclarationError> for ApiError {
    fn from(e: commands::tax_declarations::DeclarationError) -> Self {
        use commands::tax_declarations::DeclarationError;
        match e {
            DeclarationError::Invalid(fields) => Self::Validation(fields),
            DeclarationError::Refused(refusal) => Self::Refused(refusal),
            DeclarationError::RefusedField(refusal, fields) => Self::RefusedFields(refusal, fields),
            DeclarationError::Business(e) => e.into(),
            DeclarationError::Profile(e) => e.into(),
            DeclarationError::Command(e) => e.into(),
            DeclarationError::Payment(e) => e.into(),
        }
    }
}

impl From<commands::warrants::WarrantError> for ApiError {
    fn from(e: commands::warrants::WarrantError) -> Self {
        use commands::warrants::WarrantError;
        match e {
            WarrantError::BadSorting { code, detail } => Self::BadRequest { code, detail },
            WarrantError::Business(e) => e.into(),
            WarrantError::Refused(refusal) => Self::Refused(refusal),
        }
    }
}

impl ApiError {
    /// Whether this is one of the refusals of `commands::business::certified_business` (a
    /// page then shows how to get certified instead of an error).
    pub fn is_certification_refusal(&self) -> bool {
        matches!(self, Self::Refused(r) if commands::business::is_certification_refusal(r))
    }
}

impl From<commands::payments::ConfirmationRejected> for ApiError {
    fn from(e: commands::payments::ConfirmationRejected) -> Self {
        use commands::payments::ConfirmationRejected;
        match e {
            ConfirmationRejected::Unverified(_) => Self::BadRequest {
                code: "confirmation_invalid",
                detail: "the bank's answer does not verify".into(),
            },
            ConfirmationRejected::UnknownOrder => Self::BadRequest {
                code: "confirmation_unknown_order",
                detail: "no payment has this order id".into(),
            },
            ConfirmationRejected::Refused(r) => Self::Refused(r),
            ConfirmationRejected::Failed(e) => e.into(),
        }
    }
}

impl From<commands::accounts::AccountError> for ApiError {
    fn from(e: commands::accounts::AccountError) -> Self {
        use commands::accounts::AccountError;
        match e {
            AccountError::Invalid(fields) => Self::Validation(fields),
            AccountError::InvalidCredentials => Self::InvalidCredentials,
            AccountError::NotFound => Self::NotFound("not_found"),
            AccountError::Forbidden => Self::Forbidden,
            AccountError::Throttled(seconds) => Self::LoginThrottled(seconds),
            AccountError::Hashing(why) => Self::Internal(format!("password hashing: {why}")),
            AccountError::Database(e) => e.into(),
        }
    }
}

impl From<commands::requests::RequestError> for ApiError {
    fn from(e: commands::requests::RequestError) -> Self {
        use commands::requests::RequestError;
        match e {
            RequestError::Invalid(fields) => Self::Validation(fields),
            RequestError::Forbidden => Self::Forbidden,
            RequestError::UnknownAction => Self::NotFound("not_found"),
            RequestError::Command(e) => e.into(),
        }
    }
}

impl From<commands::certification::CertificationError> for ApiError {
    fn from(e: commands::certification::CertificationError) -> Self {
        use commands::certification::CertificationError;
        match e {
            CertificationError::Invalid(fields) => Self::Validation(fields),
            CertificationError::Forbidden => Self::Forbidden,
            CertificationError::Command(e) => e.into(),
        }
    }
}

impl From<commands::applications::ApplicationError> for ApiError {
    fn from(e: commands::applications::ApplicationError) -> Self {
        use commands::applications::ApplicationError;
        match e {
            ApplicationError::Invalid(fields) => Self::Validation(fields),
            ApplicationError::Forbidden => Self::Forbidden,
            ApplicationError::NotFound => Self::NotFound("case_not_found"),
            ApplicationError::Command(e) => e.into(),
        }
    }
}

/// A refusal of a value (parsing) becomes a field error on `field`.
impl ApiError {
    pub fn field(field: &str, refusal: &Refusal) -> FieldError {
        FieldError::new(field, refusal.code)
    }
}

/// What the error-rendering middleware needs to write the body in the reader's language.
#[derive(Debug, Clone)]
struct ErrorPayload {
    code: String,
    fields: Vec<FieldError>,
    detail: Option<String>,
}

impl ApiError {
    fn status_and_payload(&self) -> (StatusCode, ErrorPayload) {
        let simple = |status, code: &str| {
            (
                status,
                ErrorPayload {
                    code: code.to_string(),
                    fields: vec![],
                    detail: None,
                },
            )
        };
        match self {
            Self::Validation(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorPayload {
                    code: "validation_failed".into(),
                    fields: fields.clone(),
                    detail: None,
                },
            ),
            Self::BadRequest { code, detail } => (
                StatusCode::BAD_REQUEST,
                ErrorPayload {
                    code: code.to_string(),
                    fields: unknown_field_name(detail)
                        .map(|f| vec![FieldError::new(&f, "unknown_field")])
                        .unwrap_or_default(),
                    detail: Some(detail.clone()),
                },
            ),
            Self::UnsupportedMediaType => {
                simple(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::PayloadTooLarge => simple(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unauthenticated => simple(StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::InvalidCredentials => simple(StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::Forbidden => simple(StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(code) => simple(StatusCode::NOT_FOUND, code),
            Self::MethodNotAllowed => simple(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Refused(refusal) => {
                let status = match refusal.kind {
                    RefusalKind::NotFound => StatusCode::NOT_FOUND,
                    RefusalKind::Forbidden => StatusCode::FORBIDDEN,
                    RefusalKind::Rule | RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                    RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                };
                let (status, mut payload) = simple(status, refusal.code);
                if let Some(field) = refusal_field(refusal.code) {
                    payload.fields.push(FieldError::new(field, refusal.code));
                }
                (status, payload)
            }
            Self::RefusedFields(refusal, fields) => {
                let (status, mut payload) = Self::Refused(refusal.clone()).status_and_payload();
                payload.fields.extend(fields.iter().cloned());
                (status, payload)
            }
            Self::Conflict => simple(StatusCode::CONFLICT, "conflict"),
            Self::IdempotencyKeyInProgress => {
                simple(StatusCode::CONFLICT, "idempotency_key_in_progress")
            }
            Self::IdempotencyKeyReused => {
                simple(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            Self::Unavailable(_) => simple(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            Self::TooManyRequests => simple(StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::LoginThrottled(_) => simple(StatusCode::TOO_MANY_REQUESTS, "login_throttled"),
            Self::Internal(_) => simple(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// The form field a rule's refusal is about, so that a form can show it in place.
fn refusal_field(code: &str) -> Option<&'static str> {
    match code {
        "close_note_required" => Some("note"),
        "kind_comment_is_anonymous" | "kind_anonymous_is_comment" => Some("kind"),
        "status_not_settable" | "status_unchanged" => Some("status"),
        "municipality_code_foreign" => Some("municipality_code"),
        "fine_type_not_payable" => Some("fine_type"),
        "offence_date_in_future" => Some("offence_date"),
        _ => None,
    }
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_payload().0
    }

    /// The message code this error answers with.
    pub fn code(&self) -> String {
        self.status_and_payload().1.code
    }
}

/// serde says "unknown field `foo`, expected one of …": the field to name.
fn unknown_field_name(detail: &str) -> Option<String> {
    let rest = detail.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// Every error the API answers has this body. `message` is Greek unless the request prefers
/// English (`Accept-Language: en…`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetails,
}

/// What went wrong.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetails {
    /// A stable machine code; the full list with its Greek and English messages is in
    /// docs/api.md (api/locales/*.ftl).
    #[schema(examples("validation_failed", "case_not_found", "conflict"))]
    pub code: String,
    pub message: String,
    /// One entry per field to correct: for `validation_failed`; for
    /// `unknown_field`/`malformed_query` when the parser names the unknown field; and for the
    /// rule refusals that concern one form field (`close_note_required` → `note`,
    /// `kind_comment_is_anonymous`/`kind_anonymous_is_comment` → `kind`,
    /// `status_not_settable`/`status_unchanged` → `status`). Empty otherwise.
    pub fields: Vec<FieldMessage>,
    /// Only on 400 answers: the parser's own explanation (English), e.g. the line and column
    /// of a JSON syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A field to correct, and why.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FieldError)]
pub struct FieldMessage {
    /// The body field or query parameter to correct, e.g. `subject`.
    pub field: String,
    /// A stable message code (see the list in docs/api.md), e.g. `subject_too_long`.
    pub code: String,
    /// The message for `code` in the reader's language.
    pub message: String,
}

impl ErrorBody {
    /// The body for `code` (and the fields to correct) in `lang`.
    pub fn new(lang: Lang, code: &str, fields: &[FieldError], detail: Option<&str>) -> Self {
        ErrorBody {
            error: ErrorDetails {
                code: code.to_string(),
                message: i18n::message(lang, code),
                fields: fields
                    .iter()
                    .map(|f| FieldMessage {
                        field: f.field.clone(),
                        code: f.code.clone(),
                        message: i18n::message(lang, &f.code),
                    })
                    .collect(),
                detail: detail.map(str::to_string),
            },
        }
    }
}

fn render(status: StatusCode, payload: &ErrorPayload, lang: Lang) -> Response {
    let body = ErrorBody::new(
        lang,
        &payload.code,
        &payload.fields,
        payload.detail.as_deref(),
    );
    let mut response = (status, axum::Json(body)).into_response();
    response.extensions_mut().insert(payload.clone());
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(why) = &self {
            tracing::error!(error = %why, "request failed");
        }
        if let Self::Unavailable(why) = &self {
            tracing::warn!(error = %why, "request refused: unavailable");
        }
        if let Self::Refused(r) = &self {
            tracing::info!(code = r.code, detail = %r.detail, "refused");
        }
        let (status, payload) = self.status_and_payload();
        let mut response = render(status, &payload, Lang::El);
        match self {
            Self::LoginThrottled(seconds) => {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, seconds.into());
            }
            Self::Unavailable(_) => {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    RETRY_AFTER_UNAVAILABLE.into(),
                );
            }
            Self::IdempotencyKeyInProgress => {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, 1.into());
            }
            _ => {}
        }
        response
    }
}

/// Seconds a client is told to wait when the portal is unavailable (`Retry-After`).
pub const RETRY_AFTER_UNAVAILABLE: u64 = 5;

/// Re-renders error bodies in the reader's language (the handlers do not know it).
pub async fn localize_errors(request: Request, next: Next) -> Response {
    let lang = Lang::from_headers(request.headers());
    let response = next.run(request).await;
    if lang == Lang::El {
        return response;
    }
    match response.extensions().get::<ErrorPayload>().cloned() {
        Some(payload) => {
            let mut localized = render(response.status(), &payload, lang);
            if let Some(wait) = response.headers().get(axum::http::header::RETRY_AFTER) {
                localized
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, wait.clone());
            }
            localized
        }
        None => response,
    }
}

/// The body of a response that is neither ours nor JSON (e.g. a panic caught by a layer).
pub fn plain_internal_error() -> Response<Body> {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"error":{"code":"internal","message":"internal error","fields":[]}}"#,
    )
        .into_response()
}

/// A method a path does not have: the portal's JSON error, or GeoReport's under
/// `/open311/` (axum adds the `Allow` header to either).
pub async fn method_not_allowed_fallback(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/open311/") {
        return crate::routes::open311_method_not_allowed(&uri);
    }
    ApiError::MethodNotAllowed.into_response()
}
