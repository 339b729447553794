//! `CitizenRequest`: a request, complaint, proposal or anonymous comment filed with the
//! municipality (S1, S3–S5), from submission to closing.

mod aggregate;
mod commands;
mod events;
pub mod place;

pub use aggregate::{CitizenRequest, RequestServices};
pub use commands::RequestCommand;
pub use events::{RequestEvent, EVENT_VERSION, SUBMITTED_VERSION};
pub use place::{Coordinates, Place, PlaceInput};

use serde::{Deserialize, Serialize};

/// What the citizen files: Αίτημα, Καταγγελία, Πρόταση, or the anonymous Αίτημα – Σχόλιο.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "Αίτημα (`request`), Καταγγελία (`complaint`), Πρόταση (`proposal`) are filed by a logged-in user; Αίτημα – Σχόλιο (`comment`) is the anonymous submission and only that."
    )
)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Request,
    Complaint,
    Proposal,
    Comment,
}

impl RequestKind {
    pub const ALL: [RequestKind; 4] = [
        Self::Request,
        Self::Complaint,
        Self::Proposal,
        Self::Comment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Complaint => "complaint",
            Self::Proposal => "proposal",
            Self::Comment => "comment",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, crate::Refusal> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| crate::Refusal::invalid("kind_invalid", format!("unknown kind {raw:?}")))
    }
}

/// Where a case stands. `closed` is reached only through [`RequestCommand::Close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`submitted` (new), `in_review` (taken by a clerk), `in_progress`, `on_hold`, `answered` (the municipality answered), `closed`, `reopened` (by the citizen after closing)."
    )
)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Submitted,
    InReview,
    InProgress,
    OnHold,
    Answered,
    Closed,
    Reopened,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 7] = [
        Self::Submitted,
        Self::InReview,
        Self::InProgress,
        Self::OnHold,
        Self::Answered,
        Self::Closed,
        Self::Reopened,
    ];

    /// The statuses a clerk may set directly with "change status". The others follow from
    /// their own acts (submit, answer, close, reopen).
    pub const SETTABLE: [RequestStatus; 3] = [Self::InReview, Self::InProgress, Self::OnHold];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::InProgress => "in_progress",
            Self::OnHold => "on_hold",
            Self::Answered => "answered",
            Self::Closed => "closed",
            Self::Reopened => "reopened",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, crate::Refusal> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| {
                crate::Refusal::invalid("status_invalid", format!("unknown status {raw:?}"))
            })
    }

    /// The municipality still owes an answer: neither answered nor closed, so its
    /// category's deadline runs (the clerks' dashboard counts it late past it). The
    /// `dashboard` read model stores it per case: changing it needs a new schema version
    /// there.
    pub fn awaits_answer(self) -> bool {
        !matches!(self, Self::Answered | Self::Closed)
    }
}

/// Why a clerk closed a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`done`; `not_competent` (not the municipality's competence — the note says where it was forwarded); `duplicate` (the note names the other case); `rejected` (the note says why). Every reason but `done` needs a note."
    )
)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Done: the municipality did what was asked or answered it.
    Done,
    /// Not the municipality's competence; the note says where it was forwarded.
    NotCompetent,
    /// Same as another case; the note names it.
    Duplicate,
    /// Rejected; the note says why.
    Rejected,
}

impl CloseReason {
    pub const ALL: [CloseReason; 4] = [
        Self::Done,
        Self::NotCompetent,
        Self::Duplicate,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::NotCompetent => "not_competent",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, crate::Refusal> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| {
                crate::Refusal::invalid("close_reason_invalid", format!("unknown reason {raw:?}"))
            })
    }

    /// Every reason but "done" needs a note: where it was forwarded, which case it
    /// duplicates, why it was rejected.
    pub fn needs_note(self) -> bool {
        !matches!(self, Self::Done)
    }
}

/// Who filed the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Submitter {
    /// A registered citizen, by account id and the name they registered with.
    Citizen { account_id: String, name: String },
    /// A visitor without an account. Only the SHA-256 of the private tracking code is
    /// kept, so the code itself never sits in the event log.
    Anonymous { tracking_code_sha256: String },
}

/// A member of staff acting on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    pub account_id: String,
    pub name: String,
}
