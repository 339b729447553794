//! The `CertificateApplication` aggregate: decides which commands the application's state
//! allows. State changes only in [`CertificateApplication::apply`].

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{Applicant, ApplicationDetails, ApplicationEvent, ApplicationStatus, Delivery, Issue};
use crate::ports::{ProtocolDocument, ProtocolError, ProtocolSystem};
use crate::request::StaffMember;
use crate::values::{CaseNumber, CaseText, Note, Question, Reply};
use crate::Refusal;

/// When a failed protocol registration is tried again: `first` after the first failure,
/// then every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub every: Duration,
}

/// What an application's commands need from outside.
#[derive(Clone)]
pub struct ApplicationServices {
    pub protocol: Arc<dyn ProtocolSystem>,
    pub retry: RetryPolicy,
}

#[derive(Debug, Clone)]
pub enum ApplicationCommand {
    Submit {
        id: String,
        number: CaseNumber,
        applicant: Applicant,
        /// Whether the applicant's certification stands (read from their `Certification`
        /// stream by the caller, just before).
        certified: bool,
        details: ApplicationDetails,
        text: CaseText,
        delivery: Delivery,
        due_on: NaiveDate,
        at: DateTime<Utc>,
    },
    /// One attempt to register the application in the protocol system. Never refused for
    /// an unreachable system: the failure is recorded with the time of the next attempt.
    RegisterInProtocol { at: DateTime<Utc> },
    TakeIntoReview {
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
    RequestInformation {
        clerk: StaffMember,
        question: Question,
        at: DateTime<Utc>,
    },
    ProvideInformation {
        account_id: String,
        reply: Reply,
        at: DateTime<Utc>,
    },
    Issue {
        clerk: StaffMember,
        issue: Issue,
        at: DateTime<Utc>,
    },
    Reject {
        clerk: StaffMember,
        reason: Note,
        at: DateTime<Utc>,
    },
}

/// The state of one application, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CertificateApplication {
    pub id: String,
    pub number: Option<CaseNumber>,
    pub applicant: Option<Applicant>,
    pub details: Option<ApplicationDetails>,
    pub text: String,
    pub delivery: Option<Delivery>,
    pub due_on: Option<NaiveDate>,
    pub status: Option<ApplicationStatus>,
    pub protocol_number: Option<String>,
    pub protocol_date: Option<DateTime<Utc>>,
    pub protocol_attempts: u32,
    pub protocol_next_attempt_at: Option<DateTime<Utc>>,
    pub protocol_last_error: Option<String>,
    pub assigned_to: Option<StaffMember>,
    pub open_question: Option<String>,
    pub issue: Option<Issue>,
    pub reject_reason: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl CertificateApplication {
    fn exists(&self) -> Result<ApplicationStatus, Refusal> {
        self.status
            .ok_or_else(|| Refusal::not_found("case_not_found", "no such application"))
    }

    /// The status, refusing once the application is issued or rejected.
    fn open_status(&self) -> Result<ApplicationStatus, Refusal> {
        let status = self.exists()?;
        if status.is_final() {
            return Err(Refusal::rule(
                "application_finished",
                "the application is already issued or rejected",
            ));
        }
        Ok(status)
    }

    /// The status of an application a clerk works on: reviewed, not waiting on the citizen.
    fn reviewed(&self) -> Result<(), Refusal> {
        match self.open_status()? {
            ApplicationStatus::Submitted => Err(Refusal::rule(
                "review_first",
                "take the application into review first",
            )),
            ApplicationStatus::InformationRequested => Err(Refusal::rule(
                "information_pending",
                "the applicant has not answered the question yet",
            )),
            _ => Ok(()),
        }
    }

    fn protocol_document(&self) -> ProtocolDocument {
        let subject = match &self.details {
            Some(ApplicationDetails::CivilRegistry {
                certificate_name, ..
            }) => format!("Αίτηση: {certificate_name}"),
            Some(ApplicationDetails::Tap {
                property_address, ..
            }) => {
                format!("Αίτηση βεβαίωσης μη οφειλής ΤΑΠ: {property_address}")
            }
            None => String::new(),
        };
        let sender = match &self.applicant {
            Some(Applicant {
                name,
                business: Some(b),
                ..
            }) => format!("{} (εκπρόσωπος: {name})", b.company_name),
            Some(a) => a.name.clone(),
            None => String::new(),
        };
        ProtocolDocument {
            idempotency_key: format!("{}:{}", Self::TYPE, self.id),
            subject,
            sender,
            case_number: self.number.map(|n| n.to_string()).unwrap_or_default(),
        }
    }
}

impl Aggregate for CertificateApplication {
    const TYPE: &'static str = "CertificateApplication";
    type Command = ApplicationCommand;
    type Event = ApplicationEvent;
    type Error = Refusal;
    type Services = ApplicationServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            ApplicationCommand::Submit {
                id,
                number,
                applicant,
                certified,
                details,
                text,
                delivery,
                due_on,
                at,
            } => {
                if self.status.is_some() {
                    return Err(Refusal::rule(
                        "case_exists",
                        "an application with this id exists",
                    ));
                }
                if !certified {
                    return Err(crate::certification::certification_required());
                }
                ApplicationEvent::ApplicationSubmitted {
                    id,
                    number,
                    applicant,
                    details,
                    text: text.as_str().to_string(),
                    delivery,
                    due_on,
                    at,
                }
            }
            ApplicationCommand::RegisterInProtocol { at } => {
                self.exists()?;
                if self.protocol_number.is_some() {
                    return Err(Refusal::rule(
                        "already_protocolled",
                        "the application already has a protocol number",
                    ));
                }
                let attempt = self.protocol_attempts + 1;
                match services.protocol.register(&self.protocol_document()).await {
                    Ok(receipt) => ApplicationEvent::ApplicationProtocolRegistered {
                        attempt,
                        protocol_number: receipt.protocol_number,
                        protocol_date: receipt.registered_at,
                        at,
                    },
                    Err(e) => {
                        let delay = if self.protocol_attempts == 0 {
                            services.retry.first
                        } else {
                            services.retry.every
                        };
                        let (error, refused) = match e {
                            ProtocolError::Unavailable(why) => (why, false),
                            ProtocolError::Rejected(why) => (why, true),
                        };
                        ApplicationEvent::ApplicationProtocolFailed {
                            attempt,
                            error,
                            refused,
                            next_attempt_at: at + delay,
                            at,
                        }
                    }
                }
            }
            ApplicationCommand::TakeIntoReview { clerk, at } => match self.open_status()? {
                ApplicationStatus::Submitted => {
                    ApplicationEvent::ApplicationTakenIntoReview { clerk, at }
                }
                _ => {
                    return Err(Refusal::rule(
                        "application_review_not_allowed",
                        "only a new application can be taken into review",
                    ))
                }
            },
            ApplicationCommand::RequestInformation {
                clerk,
                question,
                at,
            } => {
                self.reviewed()?;
                ApplicationEvent::InformationRequested {
                    clerk,
                    question: question.as_str().to_string(),
                    at,
                }
            }
            ApplicationCommand::ProvideInformation {
                account_id,
                reply,
                at,
            } => {
                let status = self.exists()?;
                if self.applicant.as_ref().map(|a| a.account_id.as_str()) != Some(&account_id) {
                    // Another user's application looks exactly like a missing one.
                    return Err(Refusal::not_found("case_not_found", "no such application"));
                }
                if status != ApplicationStatus::InformationRequested {
                    return Err(Refusal::rule(
                        "no_information_requested",
                        "the municipality has not asked for more information",
                    ));
                }
                ApplicationEvent::InformationProvided {
                    account_id,
                    reply: reply.as_str().to_string(),
                    at,
                }
            }
            ApplicationCommand::Issue { clerk, issue, at } => {
                self.reviewed()?;
                if self.protocol_number.is_none() {
                    return Err(Refusal::rule(
                        "protocol_pending",
                        "the application has no protocol number yet",
                    ));
                }
                let expected = self.delivery.as_ref().map(Delivery::method);
                if expected != Some(issue.method()) {
                    return Err(Refusal::invalid(
                        "issue_method_mismatch",
                        format!(
                            "the applicant chose {}, not {}",
                            expected.unwrap_or("?"),
                            issue.method()
                        ),
                    ));
                }
                ApplicationEvent::CertificateIssued { clerk, issue, at }
            }
            ApplicationCommand::Reject { clerk, reason, at } => {
                self.open_status()?;
                ApplicationEvent::ApplicationRejected {
                    clerk,
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
            ApplicationEvent::ApplicationSubmitted {
                id,
                number,
                applicant,
                details,
                text,
                delivery,
                due_on,
                at,
            } => {
                self.id = id;
                self.number = Some(number);
                self.applicant = Some(applicant);
                self.details = Some(details);
                self.text = text;
                self.delivery = Some(delivery);
                self.due_on = Some(due_on);
                self.status = Some(ApplicationStatus::Submitted);
                self.submitted_at = Some(at);
            }
            ApplicationEvent::ApplicationProtocolFailed {
                attempt,
                error,
                next_attempt_at,
                ..
            } => {
                self.protocol_attempts = attempt;
                self.protocol_last_error = Some(error);
                self.protocol_next_attempt_at = Some(next_attempt_at);
            }
            ApplicationEvent::ApplicationProtocolRegistered {
                attempt,
                protocol_number,
                protocol_date,
                ..
            } => {
                self.protocol_attempts = attempt;
                self.protocol_number = Some(protocol_number);
                self.protocol_date = Some(protocol_date);
                self.protocol_next_attempt_at = None;
            }
            ApplicationEvent::ApplicationTakenIntoReview { clerk, .. } => {
                self.status = Some(ApplicationStatus::InReview);
                self.assigned_to = Some(clerk);
            }
            ApplicationEvent::InformationRequested { question, .. } => {
                self.status = Some(ApplicationStatus::InformationRequested);
                self.open_question = Some(question);
            }
            ApplicationEvent::InformationProvided { .. } => {
                self.status = Some(ApplicationStatus::InReview);
                self.open_question = None;
            }
            ApplicationEvent::CertificateIssued { issue, .. } => {
                self.status = Some(ApplicationStatus::Issued);
                self.issue = Some(issue);
            }
            ApplicationEvent::ApplicationRejected { reason, .. } => {
                self.status = Some(ApplicationStatus::Rejected);
                self.reject_reason = Some(reason);
            }
        }
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
