//! What happened to a `CertificateApplication`. Documented one by one in `docs/events.md`.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{Applicant, ApplicationDetails, ApplicationStatus, Delivery, Issue};
use crate::request::StaffMember;
use crate::values::CaseNumber;

/// The version of every event shape below.
pub const EVENT_VERSION: &str = "1.0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ApplicationEvent {
    ApplicationSubmitted {
        id: String,
        number: CaseNumber,
        applicant: Applicant,
        details: ApplicationDetails,
        text: String,
        delivery: Delivery,
        /// The statutory deadline (configuration per certificate type).
        due_on: NaiveDate,
        at: DateTime<Utc>,
    },
    /// An attempt to register the application in the protocol system failed; the next is
    /// due at `next_attempt_at`.
    ApplicationProtocolFailed {
        attempt: u32,
        error: String,
        /// The protocol system refused the document (4xx) rather than being unreachable.
        refused: bool,
        next_attempt_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    ApplicationProtocolRegistered {
        attempt: u32,
        protocol_number: String,
        protocol_date: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    ApplicationTakenIntoReview {
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
    InformationRequested {
        clerk: StaffMember,
        question: String,
        at: DateTime<Utc>,
    },
    InformationProvided {
        account_id: String,
        reply: String,
        at: DateTime<Utc>,
    },
    CertificateIssued {
        clerk: StaffMember,
        issue: Issue,
        at: DateTime<Utc>,
    },
    ApplicationRejected {
        clerk: StaffMember,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl ApplicationEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::ApplicationSubmitted { at, .. }
            | Self::ApplicationProtocolFailed { at, .. }
            | Self::ApplicationProtocolRegistered { at, .. }
            | Self::ApplicationTakenIntoReview { at, .. }
            | Self::InformationRequested { at, .. }
            | Self::InformationProvided { at, .. }
            | Self::CertificateIssued { at, .. }
            | Self::ApplicationRejected { at, .. } => *at,
        }
    }

    /// The application's status after this event; `None`: the event leaves it as it was
    /// (the protocol registration's attempts).
    pub fn status_after(&self) -> Option<ApplicationStatus> {
        match self {
            Self::ApplicationSubmitted { .. } => Some(ApplicationStatus::Submitted),
            Self::ApplicationTakenIntoReview { .. } | Self::InformationProvided { .. } => {
                Some(ApplicationStatus::InReview)
            }
            Self::InformationRequested { .. } => Some(ApplicationStatus::InformationRequested),
            Self::CertificateIssued { .. } => Some(ApplicationStatus::Issued),
            Self::ApplicationRejected { .. } => Some(ApplicationStatus::Rejected),
            Self::ApplicationProtocolFailed { .. } | Self::ApplicationProtocolRegistered { .. } => {
                None
            }
        }
    }
}

impl DomainEvent for ApplicationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ApplicationSubmitted { .. } => "ApplicationSubmitted",
            Self::ApplicationProtocolFailed { .. } => "ApplicationProtocolFailed",
            Self::ApplicationProtocolRegistered { .. } => "ApplicationProtocolRegistered",
            Self::ApplicationTakenIntoReview { .. } => "ApplicationTakenIntoReview",
            Self::InformationRequested { .. } => "InformationRequested",
            Self::InformationProvided { .. } => "InformationProvided",
            Self::CertificateIssued { .. } => "CertificateIssued",
            Self::ApplicationRejected { .. } => "ApplicationRejected",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}
