//! `GET /healthz` and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::AppState;

/// 200 when the database answers and every migration has been applied; 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match eventlog::migration_status(&state.pool).await {
        Ok((n, expected)) if n >= expected => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok", "migrations": n})),
        ),
        Ok((n, expected)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unavailable", "database": "ok", "migrations": n, "expected": expected}),
            ),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "unreachable"})),
            )
        }
    }
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../../docs/openapi.json"),
    )
}
