//! What can be asked of a `CitizenRequest`. Every field is already a parsed value; the
//! aggregate decides only what the case's state allows.

use chrono::{DateTime, Utc};

use super::{CloseReason, RequestKind, RequestStatus, StaffMember, Submitter};
use crate::values::{AnswerText, CaseNumber, CaseText, DesiredAction, Note, Subject};

#[derive(Debug, Clone)]
pub enum RequestCommand {
    Submit {
        id: String,
        number: CaseNumber,
        kind: RequestKind,
        subject: Subject,
        text: CaseText,
        desired_action: Option<DesiredAction>,
        submitter: Submitter,
        at: DateTime<Utc>,
        /// The category, place and answers, checked against the municipality's list.
        place: super::Place,
    },
    TakeIntoReview {
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
    Answer {
        clerk: StaffMember,
        text: AnswerText,
        at: DateTime<Utc>,
    },
    ChangeStatus {
        clerk: StaffMember,
        status: RequestStatus,
        at: DateTime<Utc>,
    },
    /// Registers the case in the protocol system through the [`crate::ports::ProtocolSystem`] port.
    RegisterInProtocol {
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
    Close {
        clerk: StaffMember,
        reason: CloseReason,
        note: Option<Note>,
        at: DateTime<Utc>,
    },
    /// The citizen who filed a closed case reopens it, once, saying why.
    Reopen {
        account_id: String,
        reason: Note,
        at: DateTime<Utc>,
    },
}
