//! The auditors' view (§6 of the design) as JSON: a case's full event list, its state as of
//! any sequence number, and the verification of its hash chain (see `crate::audit`).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::audit::{self, StreamId};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::AppState;

/// `GET /api/v1/audit/cases/{id}/events`.
pub async fn events(
    State(state): State<AppState>,
    user: CurrentUser,
    StreamId(id): StreamId,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(audit::events(&state, &user, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateQuery {
    sequence: Option<String>,
}

/// `GET /api/v1/audit/cases/{id}/state?sequence=N`: the case folded from its first N
/// events (all of them without `sequence`).
pub async fn state(
    State(state): State<AppState>,
    user: CurrentUser,
    StreamId(id): StreamId,
    ApiQuery(query): ApiQuery<StateQuery>,
) -> Result<Json<Value>, ApiError> {
    let sequence = query.sequence.as_deref();
    Ok(Json(audit::state(&state, &user, &id, sequence).await?))
}

/// `GET /api/v1/audit/cases/{id}/verify`: recomputes the hash chain from what is stored.
pub async fn verify(
    State(state): State<AppState>,
    user: CurrentUser,
    StreamId(id): StreamId,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(audit::verify(&state, &user, &id).await?))
}
