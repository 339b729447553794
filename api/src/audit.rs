//! The auditors' reads (§6 of the design), shared by the JSON API and the pages so that
//! they cannot disagree: a case's full event list, its state as of any sequence number,
//! and the verification of its hash chain, each as JSON.

use cqrs_es::Aggregate;
use domain::application::CertificateApplication;
use domain::audit::{verify_chain, ChainedContent, StoredLink};
use domain::certification::Certification;
use domain::payment::Payment;
use domain::request::{CitizenRequest, RequestEvent};
use domain::tax_debt::TaxDebt;
use domain::tax_declaration::TaxDeclaration;
use domain::traffic_fine::TrafficFine;
use eventlog::RecordedEvent;
use serde_json::{json, Value};

use crate::auth::{CurrentUser, Role};
use crate::error::{ApiError, FieldError};
use crate::AppState;

const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];

/// A stream an auditor may open: a case's UUID (requests, applications, payments) or the
/// readable id of a stream keyed by its subject (a traffic fine `9999-123456`, a business's
/// declaration `094259216-2026-Q1`): ASCII letters, digits and '-', at most 100.
pub struct StreamId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for StreamId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound("case_not_found"))?;
        stream_id(&raw).map(Self)
    }
}

/// See [`StreamId`].
pub fn stream_id(raw: &str) -> Result<String, ApiError> {
    if let Ok(id) = uuid::Uuid::parse_str(raw) {
        return Ok(id.to_string());
    }
    let readable = !raw.is_empty()
        && raw.len() <= 100
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if readable {
        Ok(raw.to_string())
    } else {
        Err(ApiError::NotFound("case_not_found"))
    }
}

async fn case_events(
    state: &AppState,
    id: &str,
    up_to: Option<i64>,
) -> Result<(String, Vec<RecordedEvent>), ApiError> {
    let aggregate_type = eventlog::aggregate_type_of(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("case_not_found"))?;
    let events = eventlog::load_case_events(&state.pool, &aggregate_type, id, up_to).await?;
    Ok((aggregate_type, events))
}

/// A case's events as stored, with their metadata and hash-chain fields.
pub async fn events(state: &AppState, user: &CurrentUser, id: &str) -> Result<Value, ApiError> {
    user.require(AUDITORS)?;
    let (aggregate_type, events) = case_events(state, id, None).await?;
    let items: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "sequence": e.sequence,
                "type": e.event_type,
                "version": e.event_version,
                "payload": e.payload,
                "metadata": e.metadata,
                "recorded_at": e.recorded_at,
                "position": e.position.to_string(),
                "prev_hash": e.chain.as_ref().map(|c| c.prev_hash.as_str()),
                "hash": e.chain.as_ref().map(|c| c.hash.as_str()),
            })
        })
        .collect();
    Ok(json!({"case_id": id, "aggregate_type": aggregate_type, "events": items}))
}

/// The case folded from its first `sequence` events (all of them without).
pub async fn state(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    sequence: Option<&str>,
) -> Result<Value, ApiError> {
    user.require(AUDITORS)?;
    let up_to = match sequence {
        None | Some("") => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "sequence",
                    "sequence_invalid",
                )]))
            }
        },
    };
    let (aggregate_type, events) = case_events(state, id, up_to).await?;
    let folded = match aggregate_type.as_str() {
        CitizenRequest::TYPE => {
            let mut case = CitizenRequest::default();
            for event in &events {
                let payload: RequestEvent = serde_json::from_value(event.payload.clone())
                    .map_err(|e| ApiError::Internal(format!("undecodable event: {e}")))?;
                case.apply(payload);
            }
            serde_json::to_value(&case).map_err(|e| ApiError::Internal(e.to_string()))?
        }
        CertificateApplication::TYPE => fold::<CertificateApplication>(&events)?,
        Certification::TYPE => fold::<Certification>(&events)?,
        Payment::TYPE => fold::<Payment>(&events)?,
        TrafficFine::TYPE => fold::<TrafficFine>(&events)?,
        TaxDeclaration::TYPE => fold::<TaxDeclaration>(&events)?,
        TaxDebt::TYPE => fold::<TaxDebt>(&events)?,
        other => {
            return Err(ApiError::Internal(format!(
                "no fold for aggregate type {other}"
            )))
        }
    };
    Ok(json!({
        "case_id": id,
        "aggregate_type": aggregate_type,
        "sequence": events.last().map(|e| e.sequence).unwrap_or(0),
        "state": folded,
    }))
}

/// Folds stored events into the aggregate's state, as JSON.
fn fold<A>(events: &[RecordedEvent]) -> Result<Value, ApiError>
where
    A: Aggregate + serde::Serialize,
{
    let mut state = A::default();
    for event in events {
        let payload: A::Event = serde_json::from_value(event.payload.clone())
            .map_err(|e| ApiError::Internal(format!("undecodable event: {e}")))?;
        state.apply(payload);
    }
    serde_json::to_value(&state).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The verdict of the case's hash chain, recomputed from what is stored.
pub async fn verify(state: &AppState, user: &CurrentUser, id: &str) -> Result<Value, ApiError> {
    user.require(AUDITORS)?;
    let (_, events) = case_events(state, id, None).await?;
    let links: Vec<StoredLink<'_>> = events
        .iter()
        .filter_map(|e| e.chain.as_ref().map(|c| (e, c)))
        .map(|(e, c)| StoredLink {
            content: ChainedContent {
                aggregate_type: &e.aggregate_type,
                aggregate_id: &e.aggregate_id,
                sequence: e.sequence,
                event_type: &e.event_type,
                event_version: &e.event_version,
                payload: &c.payload_text,
                metadata: &c.metadata_text,
                recorded_at_micros: e.recorded_at.timestamp_micros(),
            },
            prev_hash: &c.prev_hash,
            hash: &c.hash,
        })
        .collect();
    let verification = verify_chain(&links);
    Ok(json!({
        "case_id": id,
        "valid": verification.valid,
        "events_checked": verification.events_checked,
        "first_broken_sequence": verification.first_broken_sequence,
        "problem": verification.problem,
        "head_hash": verification.head_hash,
    }))
}
