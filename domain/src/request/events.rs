//! What happened to a `CitizenRequest`. Events carry the facts a reader needs (names,
//! times, the status after the event) so every projection stays a simple fold.
//! Documented one by one in `docs/events.md`.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{CloseReason, Coordinates, RequestKind, RequestStatus, StaffMember, Submitter};
use crate::values::CaseNumber;

/// The version of every event shape below but `RequestSubmitted`. Raise it (and say how an
/// older payload is read) when one changes.
pub const EVENT_VERSION: &str = "1.0";
/// `RequestSubmitted` 1.1 (issue 15) adds `category`, `address`, `location` and
/// `attributes`. A 1.0 payload is upcast on reading by the fields' defaults: no category,
/// no place, no answers.
pub const SUBMITTED_VERSION: &str = "1.1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum RequestEvent {
    RequestSubmitted {
        id: String,
        number: CaseNumber,
        kind: RequestKind,
        subject: String,
        text: String,
        desired_action: Option<String>,
        submitter: Submitter,
        at: DateTime<Utc>,
        /// The category's service code (1.1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        /// Where, as typed (1.1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// Where, as a point inside the municipality's area (1.1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Coordinates>,
        /// The answers to the category's attributes, by attribute code (1.1).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        attributes: std::collections::BTreeMap<String, String>,
    },
    RequestTakenIntoReview {
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
    RequestAnswered {
        clerk: StaffMember,
        text: String,
        at: DateTime<Utc>,
    },
    RequestStatusChanged {
        clerk: StaffMember,
        from: RequestStatus,
        to: RequestStatus,
        at: DateTime<Utc>,
    },
    ProtocolRegistered {
        clerk: StaffMember,
        protocol_number: String,
        protocol_date: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    RequestClosed {
        clerk: StaffMember,
        reason: CloseReason,
        note: Option<String>,
        at: DateTime<Utc>,
    },
    RequestReopened {
        account_id: String,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl RequestEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::RequestSubmitted { at, .. }
            | Self::RequestTakenIntoReview { at, .. }
            | Self::RequestAnswered { at, .. }
            | Self::RequestStatusChanged { at, .. }
            | Self::ProtocolRegistered { at, .. }
            | Self::RequestClosed { at, .. }
            | Self::RequestReopened { at, .. } => *at,
        }
    }

    /// The request's status after this event; `None`: the event leaves it as it was (a
    /// protocol number registered).
    pub fn status_after(&self) -> Option<RequestStatus> {
        match self {
            Self::RequestSubmitted { .. } => Some(RequestStatus::Submitted),
            Self::RequestTakenIntoReview { .. } => Some(RequestStatus::InReview),
            Self::RequestAnswered { .. } => Some(RequestStatus::Answered),
            Self::RequestStatusChanged { to, .. } => Some(*to),
            Self::RequestClosed { .. } => Some(RequestStatus::Closed),
            Self::RequestReopened { .. } => Some(RequestStatus::Reopened),
            Self::ProtocolRegistered { .. } => None,
        }
    }
}

impl DomainEvent for RequestEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::RequestSubmitted { .. } => "RequestSubmitted",
            Self::RequestTakenIntoReview { .. } => "RequestTakenIntoReview",
            Self::RequestAnswered { .. } => "RequestAnswered",
            Self::RequestStatusChanged { .. } => "RequestStatusChanged",
            Self::ProtocolRegistered { .. } => "ProtocolRegistered",
            Self::RequestClosed { .. } => "RequestClosed",
            Self::RequestReopened { .. } => "RequestReopened",
        };
        name.to_string()
    }

    fn event_version(&self) -> String {
        match self {
            Self::RequestSubmitted { .. } => SUBMITTED_VERSION,
            _ => EVENT_VERSION,
        }
        .to_string()
    }
}
