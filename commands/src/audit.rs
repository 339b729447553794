//! The auditors' reads (§6 of the design), shared by the JSON API and the pages so that
//! they cannot disagree: a case's full event list as stored, its state as of any sequence
//! number (folded through the aggregate's own event type), and the verification of its
//! hash chain. Only auditors and administrators may read them.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::account::Role;
use domain::application::{ApplicationEvent, CertificateApplication};
use domain::audit::{
    state_changes, verify_chain, ChainVerification, ChainedContent, FieldChange, StoredLink,
};
use domain::certification::Certification;
use domain::payment::Payment;
use domain::request::{CitizenRequest, RequestEvent};
use domain::tax_debt::TaxDebt;
use domain::tax_declaration::TaxDeclaration;
use domain::traffic_fine::TrafficFine;
use domain::values::CaseNumber;
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::{Actor, Portal};

/// Who may read the audit views.
pub const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];

/// Why an audit read has no answer.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The reader is not an auditor or an administrator.
    #[error("only auditors may read the audit views")]
    NotAuditor,
    /// No stream has this id (or the id cannot be one).
    #[error("no such case")]
    NotFound,
    /// `sequence` is not a positive whole number.
    #[error("sequence must be a positive whole number")]
    SequenceInvalid,
    /// The database cannot be reached (a restart): try again in a few seconds.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A stored event does not decode as its aggregate's event type, or the store failed.
    #[error("{0}")]
    Infrastructure(String),
}

impl From<sqlx::Error> for AuditError {
    fn from(e: sqlx::Error) -> Self {
        if eventlog::is_unavailable(&e) {
            Self::Unavailable(format!("database: {e}"))
        } else {
            Self::Infrastructure(format!("database: {e}"))
        }
    }
}

/// A stream an auditor may open: a case's UUID (requests, applications, payments) or the
/// readable id of a stream keyed by its subject (a traffic fine `9999-123456`, a business's
/// declaration `094259216-2026-Q1`): ASCII letters, digits and '-', at most 100.
pub fn stream_id(raw: &str) -> Result<String, AuditError> {
    if let Ok(id) = uuid::Uuid::parse_str(raw) {
        return Ok(id.to_string());
    }
    let readable = !raw.is_empty()
        && raw.len() <= 100
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if readable {
        Ok(raw.to_string())
    } else {
        Err(AuditError::NotFound)
    }
}

/// Who caused an event, as its stored metadata says (every field may be missing from
/// events recorded before it existed).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventActor {
    #[serde(default)]
    pub actor_id: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub correlation_id: String,
    #[serde(default)]
    pub client_ip: Option<String>,
    /// The Open311 application that filed it (GeoReport v2), if any.
    #[serde(default)]
    pub open311_client: Option<String>,
}

/// One event as stored: its payload and metadata verbatim, and its hash-chain links.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    #[schema(minimum = 1)]
    pub sequence: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(examples("1.0"))]
    pub version: String,
    /// The stored event, adjacently tagged: `{"type": …, "data": {…}}` (docs/events.md).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// `actor_id`, `role`, `correlation_id`, `time`, and `client_ip` when known.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
    /// Its position in the log's commit order: `<transaction id>.<global position>`.
    #[schema(pattern = r"^[0-9]+\.[0-9]+$")]
    pub position: String,
    /// The hash of the event before it (64 zeros for the first).
    #[schema(required, pattern = r"^[0-9a-f]{64}$")]
    pub prev_hash: Option<String>,
    /// SHA-256 over the previous hash and the event's content.
    #[schema(required, pattern = r"^[0-9a-f]{64}$")]
    pub hash: Option<String>,
}

impl AuditEvent {
    /// Who caused the event.
    pub fn actor(&self) -> EventActor {
        serde_json::from_value(self.metadata.clone()).unwrap_or_default()
    }
}

/// A case's events, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEvents)]
pub struct CaseEvents {
    pub case_id: String,
    #[schema(value_type = domain::audit::AggregateType)]
    pub aggregate_type: String,
    pub events: Vec<AuditEvent>,
}

impl CaseEvents {
    /// The case number a citizen reads (requests and certificate applications have one),
    /// from the first event, decoded through its type.
    pub fn case_number(&self) -> Option<CaseNumber> {
        let first = self.events.first()?.payload.clone();
        match self.aggregate_type.as_str() {
            CitizenRequest::TYPE => match serde_json::from_value(first).ok()? {
                RequestEvent::RequestSubmitted { number, .. } => Some(number),
                _ => None,
            },
            CertificateApplication::TYPE => match serde_json::from_value(first).ok()? {
                ApplicationEvent::ApplicationSubmitted { number, .. } => Some(number),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A case as folded from its first `sequence` events.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AuditState)]
pub struct CaseState {
    pub case_id: String,
    #[schema(value_type = domain::audit::AggregateType)]
    pub aggregate_type: String,
    /// The last event folded: the one asked for (or the last), unless an event before it
    /// does not decode as its aggregate's event type, which stops the fold.
    pub sequence: i64,
    /// By `aggregate_type`: the aggregate's state as its type serializes it. Three have a
    /// schema of their own in the document (api/openapi/aggregate-states.json); the others
    /// are objects.
    #[schema(schema_with = aggregate_state)]
    pub state: Value,
}

/// A request's, an application's or a certification's state, or another aggregate's.
fn aggregate_state() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
    use utoipa::openapi::Ref;
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("CitizenRequestState"))
            .item(Ref::from_schema_name("CertificateApplicationState"))
            .item(Ref::from_schema_name("CertificationState"))
            .item(ObjectBuilder::new().schema_type(Type::Object))
            .build(),
    )
}

/// The verdict on a case's hash chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Verification)]
pub struct CaseVerification {
    pub case_id: String,
    #[serde(flatten)]
    pub verdict: ChainVerification,
}

/// Refuses anyone but an auditor or an administrator.
pub fn require_auditor(actor: &Actor) -> Result<(), AuditError> {
    if actor.holds(AUDITORS) {
        Ok(())
    } else {
        Err(AuditError::NotAuditor)
    }
}

async fn load(
    portal: &Portal,
    id: &str,
    up_to: Option<i64>,
) -> Result<(String, Vec<RecordedEvent>), AuditError> {
    let aggregate_type = eventlog::aggregate_type_of(&portal.pool, id)
        .await?
        .ok_or(AuditError::NotFound)?;
    let events = eventlog::load_case_events(&portal.pool, &aggregate_type, id, up_to).await?;
    Ok((aggregate_type, events))
}

/// Case `id`'s events as stored, with their metadata and hash-chain fields.
pub async fn events(portal: &Portal, actor: &Actor, id: &str) -> Result<CaseEvents, AuditError> {
    require_auditor(actor)?;
    let (aggregate_type, events) = load(portal, id, None).await?;
    Ok(case_events(id, aggregate_type, events))
}

/// Case `id`'s events as stored and the verdict on their hash chain, from one read of the
/// stream: the verdict is on exactly these events (the auditor's page and download).
pub async fn events_verified(
    portal: &Portal,
    actor: &Actor,
    id: &str,
) -> Result<(CaseEvents, CaseVerification), AuditError> {
    require_auditor(actor)?;
    let (aggregate_type, events) = load(portal, id, None).await?;
    let verification = CaseVerification {
        case_id: id.to_string(),
        verdict: verify_events(&events),
    };
    Ok((case_events(id, aggregate_type, events), verification))
}

fn case_events(id: &str, aggregate_type: String, events: Vec<RecordedEvent>) -> CaseEvents {
    let events = events
        .into_iter()
        .map(|e| AuditEvent {
            sequence: e.sequence,
            event_type: e.event_type,
            version: e.event_version,
            payload: e.payload,
            metadata: e.metadata,
            recorded_at: e.recorded_at,
            position: e.position.to_string(),
            prev_hash: e.chain.as_ref().map(|c| c.prev_hash.clone()),
            hash: e.chain.map(|c| c.hash),
        })
        .collect();
    CaseEvents {
        case_id: id.to_string(),
        aggregate_type,
        events,
    }
}

/// Parses an auditor's `sequence` (empty or missing: every event).
fn parse_sequence(raw: Option<&str>) -> Result<Option<i64>, AuditError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(AuditError::SequenceInvalid),
        },
    }
}

/// Case `id` folded from its first `sequence` events (all of them when it is missing or
/// empty).
pub async fn state(
    portal: &Portal,
    actor: &Actor,
    id: &str,
    sequence: Option<&str>,
) -> Result<CaseState, AuditError> {
    require_auditor(actor)?;
    let up_to = parse_sequence(sequence)?;
    let (aggregate_type, events) = load(portal, id, up_to).await?;
    let payloads: Vec<&Value> = events.iter().map(|e| &e.payload).collect();
    let (mut states, _) = fold_states(&aggregate_type, &payloads).ok_or_else(|| {
        AuditError::Infrastructure(format!("no fold for aggregate type {aggregate_type}"))
    })?;
    // As far as the events decode: the state after the last one folded.
    let folded = states.len() - 1;
    let sequence = folded
        .checked_sub(1)
        .map_or(0, |last| events[last].sequence);
    let state = states.pop().unwrap_or(Value::Null);
    Ok(CaseState {
        case_id: id.to_string(),
        aggregate_type,
        sequence,
        state,
    })
}

/// What each event of a case changed in the case's state.
#[derive(Debug, Clone, Default)]
pub struct CaseChanges {
    /// Per event, in order: the fields of the state folded through it that differ from
    /// the state folded before it (empty from `undecodable_from` on).
    pub per_event: Vec<Vec<FieldChange>>,
    /// The sequence of the first event that does not decode as its aggregate's event type
    /// (or of the first event of a type the portal cannot fold): from it on, the state is
    /// unknown and only the records as stored can be read.
    pub undecodable_from: Option<i64>,
}

/// What each event of `case` changed in the case's state, event by event (the fields of
/// the state folded through the event, against the state folded before it). Never fails on
/// what is stored: an event that does not decode stops the folding there (the auditor then
/// reads the records as stored).
pub fn changes(case: &CaseEvents) -> CaseChanges {
    let events = &case.events;
    let payloads: Vec<&Value> = events.iter().map(|e| &e.payload).collect();
    // A type the portal cannot fold: nothing of it decodes.
    let (states, undecodable) =
        fold_states(&case.aggregate_type, &payloads).unwrap_or((Vec::new(), Some(0)));
    let undecodable_from = undecodable.and_then(|i| events.get(i)).map(|e| e.sequence);
    let mut per_event: Vec<Vec<FieldChange>> = states
        .windows(2)
        .map(|pair| state_changes(&pair[0], &pair[1]))
        .collect();
    per_event.resize(events.len(), Vec::new());
    CaseChanges {
        per_event,
        undecodable_from,
    }
}

/// The states of a stream of `aggregate_type` folded through its own event type: before
/// any event, then after each of `payloads`, as far as they decode; and the index of the
/// first that does not. `None` for an aggregate type the portal cannot fold.
fn fold_states(aggregate_type: &str, payloads: &[&Value]) -> Option<(Vec<Value>, Option<usize>)> {
    Some(match aggregate_type {
        CitizenRequest::TYPE => states::<CitizenRequest>(payloads),
        CertificateApplication::TYPE => states::<CertificateApplication>(payloads),
        Certification::TYPE => states::<Certification>(payloads),
        Payment::TYPE => states::<Payment>(payloads),
        TrafficFine::TYPE => states::<TrafficFine>(payloads),
        TaxDeclaration::TYPE => states::<TaxDeclaration>(payloads),
        TaxDebt::TYPE => states::<TaxDebt>(payloads),
        _ => return None,
    })
}

fn states<A>(payloads: &[&Value]) -> (Vec<Value>, Option<usize>)
where
    A: Aggregate + Serialize,
{
    let mut state = A::default();
    let mut states = vec![serde_json::to_value(&state).unwrap_or(Value::Null)];
    for (i, payload) in payloads.iter().enumerate() {
        let Ok(event) = <A::Event as serde::Deserialize>::deserialize(*payload) else {
            return (states, Some(i));
        };
        state.apply(event);
        states.push(serde_json::to_value(&state).unwrap_or(Value::Null));
    }
    (states, None)
}

/// An account that acted on a case, as the auditor reads it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Person {
    pub id: String,
    pub full_name: String,
    pub email: String,
}

/// The accounts among `ids` (the actors of a case's events; ids that are not accounts,
/// such as `system` or an Open311 client, are skipped).
pub async fn people(
    portal: &Portal,
    actor: &Actor,
    ids: &[String],
) -> Result<Vec<Person>, AuditError> {
    require_auditor(actor)?;
    let ids: Vec<uuid::Uuid> = ids
        .iter()
        .filter_map(|id| uuid::Uuid::parse_str(id).ok())
        .collect();
    Ok(
        sqlx::query_as("SELECT id::text AS id, full_name, email FROM accounts WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&portal.pool)
            .await?,
    )
}

/// The stored hash of event `sequence` of stream `id`, for a record its owner keeps (the
/// caller has checked that the reader owns the case; a hash tells nothing of the case).
pub async fn event_hash(
    portal: &Portal,
    id: &str,
    sequence: i64,
) -> Result<Option<String>, AuditError> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT hash FROM events WHERE aggregate_id = $1 AND sequence = $2")
            .bind(id)
            .bind(sequence)
            .fetch_optional(&portal.pool)
            .await?;
    Ok(hash.flatten())
}

/// The verdict on case `id`'s hash chain, recomputed from what is stored.
pub async fn verify(
    portal: &Portal,
    actor: &Actor,
    id: &str,
) -> Result<CaseVerification, AuditError> {
    require_auditor(actor)?;
    let (_, events) = load(portal, id, None).await?;
    Ok(CaseVerification {
        case_id: id.to_string(),
        verdict: verify_events(&events),
    })
}

/// A stream whose hash chain does not verify.
#[derive(Debug, Clone)]
pub struct BrokenStream {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub verdict: ChainVerification,
}

/// What verifying every hash chain found.
#[derive(Debug, Clone, Default)]
pub struct LogVerification {
    pub streams: u64,
    pub events: u64,
    pub broken: Vec<BrokenStream>,
}

/// Verifies the hash chain of every stream of the log, reading it in batches in the order
/// of its primary key (so one stream's events come together). `on_progress(events done,
/// events in all)` after every batch. Needs no auditor: it is the operator's command.
pub async fn verify_all(
    pool: &sqlx::PgPool,
    on_progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<LogVerification, sqlx::Error> {
    const BATCH: i64 = 10_000;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let total = u64::try_from(total).unwrap_or_default();
    let mut report = LogVerification::default();
    let mut stream: Vec<RecordedEvent> = Vec::new();
    let finish = |stream: &mut Vec<RecordedEvent>, report: &mut LogVerification| {
        let Some(first) = stream.first() else { return };
        let verdict = verify_events(stream);
        report.streams += 1;
        if !verdict.valid {
            report.broken.push(BrokenStream {
                aggregate_type: first.aggregate_type.clone(),
                aggregate_id: first.aggregate_id.clone(),
                verdict,
            });
        }
        stream.clear();
    };
    let mut after: Option<(String, String, i64)> = None;
    loop {
        let batch = eventlog::audit_batch(
            pool,
            after
                .as_ref()
                .map(|(t, id, s)| (t.as_str(), id.as_str(), *s)),
            BATCH,
        )
        .await?;
        let Some(last) = batch.last() else { break };
        after = Some((
            last.aggregate_type.clone(),
            last.aggregate_id.clone(),
            last.sequence,
        ));
        let full = batch.len() as i64 == BATCH;
        report.events += batch.len() as u64;
        for event in batch {
            let same = stream.first().is_none_or(|f| {
                f.aggregate_type == event.aggregate_type && f.aggregate_id == event.aggregate_id
            });
            if !same {
                finish(&mut stream, &mut report);
            }
            stream.push(event);
        }
        on_progress(report.events, total.max(report.events));
        if !full {
            break;
        }
    }
    finish(&mut stream, &mut report);
    Ok(report)
}

/// The verdict on a stream's hash chain, from its events as loaded with their chain
/// fields ([`eventlog::load_case_events`]; events without them are left out).
pub fn verify_events(events: &[RecordedEvent]) -> ChainVerification {
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
    verify_chain(&links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_are_uuids_or_readable_ids() {
        let uuid = "0b4ad5a6-3c41-4b1e-9d1b-6a5f0f0c9a11";
        assert_eq!(stream_id(&uuid.to_uppercase()).unwrap(), uuid);
        assert_eq!(stream_id("9999-100000001").unwrap(), "9999-100000001");
        assert_eq!(stream_id("094259216-2026-Q1").unwrap(), "094259216-2026-Q1");
        for bad in ["", "a b", "../x", "x;drop", &"a".repeat(101)] {
            assert!(matches!(stream_id(bad), Err(AuditError::NotFound)), "{bad}");
        }
    }

    #[test]
    fn a_sequence_is_a_positive_whole_number() {
        assert_eq!(parse_sequence(None).unwrap(), None);
        assert_eq!(parse_sequence(Some("")).unwrap(), None);
        assert_eq!(parse_sequence(Some("3")).unwrap(), Some(3));
        for bad in ["0", "-1", "1.5", "x"] {
            assert!(matches!(
                parse_sequence(Some(bad)),
                Err(AuditError::SequenceInvalid)
            ));
        }
    }
}
