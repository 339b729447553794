//! Extractors whose rejections speak the API's error format instead of axum's plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` with our errors: malformed JSON, a wrong type or an unknown field is a 400 that
/// says what is wrong; a missing `Content-Type: application/json` is a 415; a body over
/// the size limit is a 413.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge)
            }
            Err(JsonRejection::JsonDataError(e)) => {
                let detail = e.body_text();
                let code = if detail.contains("unknown field") {
                    "unknown_field"
                } else {
                    "malformed_json"
                };
                Err(ApiError::BadRequest { code, detail })
            }
            Err(e) => Err(ApiError::BadRequest {
                code: "malformed_json",
                detail: e.body_text(),
            }),
        }
    }
}

/// `Form<T>` (a form-urlencoded body, e.g. the bank's server-to-server notification) with
/// our errors: another content type is a 415 in the API's error format, a body over the
/// limit a 413, an undecodable one a 400.
pub struct ApiForm<T>(pub T);

impl<T, S> FromRequest<S> for ApiForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::FormRejection;
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(FormRejection::InvalidFormContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge)
            }
            Err(e) => Err(ApiError::BadRequest {
                code: "malformed_form",
                detail: e.body_text(),
            }),
        }
    }
}

/// `Query<T>` with our errors.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::BadRequest {
                code: "malformed_query",
                detail: e.body_text(),
            }),
        }
    }
}
