//! `GET /healthz` and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::openapi::Internal;
use crate::openapi::Unavailable;
use crate::AppState;

/// The health check's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(inline)]
    status: HealthStatus,
    #[schema(inline)]
    database: DatabaseHealth,
    /// Migrations applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    migrations: Option<i64>,
    /// Migrations this binary carries (only when some are missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum HealthStatus {
    Ok,
    Unavailable,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum DatabaseHealth {
    Ok,
    Unreachable,
}

/// 200 when the database answers and every migration has been applied; 503 otherwise.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    summary = "Health check",
    description = "200 when the database answers and every migration this binary carries has \
                   been applied; 503 otherwise. It does not look at consumer lag.",
    security(()),
    responses(
        (status = 200, description = "Healthy.", body = Health,
         example = json!({"status": "ok", "database": "ok", "migrations": 17})),
        (status = 500, response = Internal),
        (status = 503, description = "The database is unreachable or migrations are missing.",
         body = Health),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let (status, health) = match eventlog::migration_status(&state.pool).await {
        Ok((n, expected)) if n >= expected => (
            StatusCode::OK,
            Health {
                status: HealthStatus::Ok,
                database: DatabaseHealth::Ok,
                migrations: Some(n),
                expected: None,
            },
        ),
        Ok((n, expected)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Health {
                status: HealthStatus::Unavailable,
                database: DatabaseHealth::Ok,
                migrations: Some(n),
                expected: Some(expected),
            },
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Health {
                    status: HealthStatus::Unavailable,
                    database: DatabaseHealth::Unreachable,
                    migrations: None,
                    expected: None,
                },
            )
        }
    };
    (status, Json(health))
}

/// The OpenAPI document, as the code generates it ([`crate::openapi`]).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "health",
    summary = "This document",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI document (generated from the code; \
                                      docs/openapi.json holds the same).",
         body = Object, content_type = "application/json"),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::text(),
    )
}
