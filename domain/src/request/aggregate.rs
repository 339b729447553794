//! The `CitizenRequest` aggregate: decides which commands the case's state allows and
//! records the outcome as events. State changes only in [`CitizenRequest::apply`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{RequestCommand, RequestEvent, RequestKind, RequestStatus, StaffMember, Submitter};
use crate::ports::{ProtocolDocument, ProtocolError, ProtocolSystem};
use crate::values::CaseNumber;
use crate::Refusal;

/// What a `CitizenRequest` command needs from outside.
#[derive(Clone)]
pub struct RequestServices {
    pub protocol: Arc<dyn ProtocolSystem>,
}

/// The state of one case, folded from its events. Serialised as-is by the auditor's
/// "state as of sequence N" view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CitizenRequest {
    pub id: String,
    pub number: Option<CaseNumber>,
    pub kind: Option<RequestKind>,
    pub status: Option<RequestStatus>,
    pub subject: String,
    pub text: String,
    pub desired_action: Option<String>,
    pub submitter: Option<Submitter>,
    pub answer: Option<String>,
    pub protocol_number: Option<String>,
    pub protocol_date: Option<DateTime<Utc>>,
    pub assigned_to: Option<StaffMember>,
    pub close_reason: Option<super::CloseReason>,
    pub close_note: Option<String>,
    pub times_reopened: u32,
    pub submitted_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Its category, address, point and attribute answers (issue 15).
    #[serde(default)]
    pub place: super::Place,
}

impl CitizenRequest {
    fn exists(&self) -> Result<RequestStatus, Refusal> {
        self.status
            .ok_or_else(|| Refusal::not_found("case_not_found", "no such case"))
    }

    /// The current status, refusing if the case does not exist or is closed.
    fn open_status(&self) -> Result<RequestStatus, Refusal> {
        match self.exists()? {
            RequestStatus::Closed => Err(Refusal::rule("case_closed", "the case is closed")),
            status => Ok(status),
        }
    }

    fn owned_by(&self, account_id: &str) -> bool {
        matches!(&self.submitter, Some(Submitter::Citizen { account_id: owner, .. }) if owner == account_id)
    }
}

impl Aggregate for CitizenRequest {
    const TYPE: &'static str = "CitizenRequest";
    type Command = RequestCommand;
    type Event = RequestEvent;
    type Error = Refusal;
    type Services = RequestServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            RequestCommand::Submit {
                id,
                number,
                kind,
                subject,
                text,
                desired_action,
                submitter,
                at,
                place,
            } => {
                if self.status.is_some() {
                    return Err(Refusal::rule("case_exists", "a case with this id exists"));
                }
                let anonymous = matches!(submitter, Submitter::Anonymous { .. });
                // The anonymous Αίτημα – Σχόλιο is its own kind; a named submission is one of
                // the other three (seed guide, «Επώνυμα Αιτήματα»).
                if kind == RequestKind::Comment && !anonymous {
                    return Err(Refusal::invalid(
                        "kind_comment_is_anonymous",
                        "a named submission is a request, a complaint or a proposal",
                    ));
                }
                if kind != RequestKind::Comment && anonymous {
                    return Err(Refusal::invalid(
                        "kind_anonymous_is_comment",
                        "an anonymous submission is a comment",
                    ));
                }
                RequestEvent::RequestSubmitted {
                    id,
                    number,
                    kind,
                    subject: subject.as_str().to_string(),
                    text: text.as_str().to_string(),
                    desired_action: desired_action.map(|d| d.as_str().to_string()),
                    submitter,
                    at,
                    category: place.category,
                    address: place.address,
                    location: place.location,
                    attributes: place.attributes,
                }
            }
            RequestCommand::TakeIntoReview { clerk, at } => match self.open_status()? {
                RequestStatus::Submitted | RequestStatus::Reopened => {
                    RequestEvent::RequestTakenIntoReview { clerk, at }
                }
                _ => {
                    return Err(Refusal::rule(
                        "review_not_allowed",
                        "only a new or reopened case can be taken into review",
                    ))
                }
            },
            RequestCommand::Answer { clerk, text, at } => {
                self.open_status()?;
                RequestEvent::RequestAnswered {
                    clerk,
                    text: text.as_str().to_string(),
                    at,
                }
            }
            RequestCommand::ChangeStatus { clerk, status, at } => {
                let from = self.open_status()?;
                if matches!(from, RequestStatus::Submitted | RequestStatus::Reopened) {
                    // Review is its own act: it records who took the case.
                    return Err(Refusal::rule(
                        "review_first",
                        "take the case into review before changing its status",
                    ));
                }
                if !RequestStatus::SETTABLE.contains(&status) {
                    return Err(Refusal::invalid(
                        "status_not_settable",
                        "that status follows from its own action (answer, close, reopen)",
                    ));
                }
                if from == status {
                    return Err(Refusal::rule(
                        "status_unchanged",
                        "the case already has that status",
                    ));
                }
                RequestEvent::RequestStatusChanged {
                    clerk,
                    from,
                    to: status,
                    at,
                }
            }
            RequestCommand::RegisterInProtocol { clerk, at } => {
                self.open_status()?;
                if self.protocol_number.is_some() {
                    return Err(Refusal::rule(
                        "already_protocolled",
                        "the case already has a protocol number",
                    ));
                }
                let number = self.number.map(|n| n.to_string()).unwrap_or_default();
                let sender = match &self.submitter {
                    Some(Submitter::Citizen { name, .. }) => name.clone(),
                    _ => "Ανώνυμος".to_string(),
                };
                let document = ProtocolDocument {
                    idempotency_key: format!("{}:{}", Self::TYPE, self.id),
                    subject: self.subject.clone(),
                    sender,
                    case_number: number,
                };
                let receipt = services
                    .protocol
                    .register(&document)
                    .await
                    .map_err(|e| match e {
                        ProtocolError::Unavailable(why) => {
                            Refusal::unavailable("protocol_unavailable", why)
                        }
                        ProtocolError::Rejected(why) => Refusal::rule("protocol_rejected", why),
                    })?;
                RequestEvent::ProtocolRegistered {
                    clerk,
                    protocol_number: receipt.protocol_number,
                    protocol_date: receipt.registered_at,
                    at,
                }
            }
            RequestCommand::Close {
                clerk,
                reason,
                note,
                at,
            } => {
                if self.exists()? == RequestStatus::Closed {
                    return Err(Refusal::rule(
                        "case_already_closed",
                        "the case is already closed",
                    ));
                }
                if reason.needs_note() && note.is_none() {
                    return Err(Refusal::invalid(
                        "close_note_required",
                        "this reason needs a note (where it was forwarded, which case it duplicates, why it was rejected)",
                    ));
                }
                RequestEvent::RequestClosed {
                    clerk,
                    reason,
                    note: note.map(|n| n.as_str().to_string()),
                    at,
                }
            }
            RequestCommand::Reopen {
                account_id,
                reason,
                at,
            } => {
                let status = self.exists()?;
                if !self.owned_by(&account_id) {
                    // Another citizen's case looks exactly like a missing one.
                    return Err(Refusal::not_found("case_not_found", "no such case"));
                }
                if status != RequestStatus::Closed {
                    return Err(Refusal::rule(
                        "reopen_not_closed",
                        "only a closed case can be reopened",
                    ));
                }
                if self.times_reopened > 0 {
                    return Err(Refusal::rule(
                        "reopen_only_once",
                        "a case can be reopened only once",
                    ));
                }
                RequestEvent::RequestReopened {
                    account_id,
                    reason: reason.as_str().to_string(),
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.updated_at = Some(event.at());
        match event {
            RequestEvent::RequestSubmitted {
                id,
                number,
                kind,
                subject,
                text,
                desired_action,
                submitter,
                at,
                category,
                address,
                location,
                attributes,
            } => {
                self.place = super::Place {
                    category,
                    address,
                    location,
                    attributes,
                };
                self.id = id;
                self.number = Some(number);
                self.kind = Some(kind);
                self.subject = subject;
                self.text = text;
                self.desired_action = desired_action;
                self.submitter = Some(submitter);
                self.status = Some(RequestStatus::Submitted);
                self.submitted_at = Some(at);
            }
            RequestEvent::RequestTakenIntoReview { clerk, .. } => {
                self.status = Some(RequestStatus::InReview);
                self.assigned_to = Some(clerk);
            }
            RequestEvent::RequestAnswered { text, .. } => {
                self.answer = Some(text);
                self.status = Some(RequestStatus::Answered);
            }
            RequestEvent::RequestStatusChanged { to, .. } => {
                self.status = Some(to);
            }
            RequestEvent::ProtocolRegistered {
                protocol_number,
                protocol_date,
                ..
            } => {
                self.protocol_number = Some(protocol_number);
                self.protocol_date = Some(protocol_date);
            }
            RequestEvent::RequestClosed { reason, note, .. } => {
                self.status = Some(RequestStatus::Closed);
                self.close_reason = Some(reason);
                self.close_note = note;
            }
            RequestEvent::RequestReopened { .. } => {
                self.status = Some(RequestStatus::Reopened);
                self.times_reopened += 1;
                self.close_reason = None;
                self.close_note = None;
            }
        }
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
