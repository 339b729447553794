//! The auditors' view (§6 of the design) as JSON: a case's full event list, its state as of
//! any sequence number, and the verification of its hash chain (`commands::audit`).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use commands::audit::{self, CaseEvents, CaseState, CaseVerification};
use domain::audit::StreamSearchFields;
use projections::audit_index::StreamListing;
use projections::paging::Paged;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::AppState;

/// The `{id}` of an audit route: a stream id ([`audit::stream_id`]), else 404.
pub struct StreamId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for StreamId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("case_not_found"))?;
        Ok(Self(audit::stream_id(&raw)?))
    }
}

/// `GET /api/v1/audit/cases/{id}/events`.
pub async fn events(
    State(state): State<AppState>,
    user: CurrentUser,
    StreamId(id): StreamId,
) -> Result<Json<CaseEvents>, ApiError> {
    Ok(Json(audit::events(&state, &user.actor(), &id).await?))
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
) -> Result<Json<CaseState>, ApiError> {
    let sequence = query.sequence.as_deref();
    Ok(Json(
        audit::state(&state, &user.actor(), &id, sequence).await?,
    ))
}

/// `GET /api/v1/audit/cases/{id}/verify`: recomputes the hash chain from what is stored.
pub async fn verify(
    State(state): State<AppState>,
    user: CurrentUser,
    StreamId(id): StreamId,
) -> Result<Json<CaseVerification>, ApiError> {
    Ok(Json(audit::verify(&state, &user.actor(), &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamsQuery {
    number: Option<String>,
    person: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/audit/streams?number=&person=&kind=&from=&to=&after=&limit=`: the event
/// log's streams that match every criterion given, the most recently begun first, a page at
/// a time (issue 17).
pub async fn streams(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<StreamsQuery>,
) -> Result<Json<Paged<StreamListing>>, ApiError> {
    let page = crate::http::page_request(
        q.after.as_deref(),
        q.limit,
        projections::paging::TIME_THEN_TEXT,
    )?;
    let fields = StreamSearchFields {
        number: q.number.as_deref(),
        person: q.person.as_deref(),
        kind: q.kind.as_deref(),
        from: q.from.as_deref(),
        to: q.to.as_deref(),
    };
    Ok(Json(
        crate::reads::audit_streams(&state, &user, &fields, &page).await?,
    ))
}

/// `GET /api/v1/audit/staff`: the staff accounts and every change made to them.
pub async fn staff(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let changes = commands::accounts::staff_changes(&state, &user.actor()).await?;
    let staff = commands::accounts::staff(&state.pool).await?;
    Ok(Json(
        serde_json::json!({ "staff": staff, "changes": changes }),
    ))
}
