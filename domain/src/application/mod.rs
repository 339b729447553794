//! `CertificateApplication`: an application for a civil-registry certificate (S7) or a
//! ΤΑΠ non-debt certificate (S8), from submission through automatic protocol registration
//! (retried until the protocol system answers) to the clerk's issue or rejection (S15).

mod aggregate;
mod events;

/// How long after submission the background registrar looks at an application that the
/// submitting request did not get to register (e.g. the process stopped in between).
pub const PROTOCOL_GRACE_SECONDS: i64 = 60;

pub use aggregate::{ApplicationCommand, ApplicationServices, CertificateApplication, RetryPolicy};
pub use events::{ApplicationEvent, EVENT_VERSION};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::Refusal;

/// The two services that issue certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`civil_registry` («Αιτήσεις Δημοτολογίου»: a civil-registry certificate) or `tap` («Αιτήσεις Βεβαιώσεων ΤΑΠ»: a ΤΑΠ non-debt certificate for one property)."
    )
)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationKind {
    /// «Αιτήσεις Δημοτολογίου»: a civil-registry certificate.
    CivilRegistry,
    /// «Αιτήσεις Βεβαιώσεων ΤΑΠ»: a ΤΑΠ non-debt certificate for one property.
    Tap,
}

impl ApplicationKind {
    pub const ALL: [ApplicationKind; 2] = [Self::CivilRegistry, Self::Tap];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CivilRegistry => "civil_registry",
            Self::Tap => "tap",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| {
                Refusal::invalid("application_kind_invalid", format!("unknown kind {raw:?}"))
            })
    }
}

/// What is applied for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApplicationDetails {
    CivilRegistry {
        /// The code of the type in the municipality's list (configuration).
        certificate_type: String,
        /// Its Greek name as the list had it at submission.
        certificate_name: String,
    },
    Tap {
        property_address: String,
        supply_number: String,
        /// m² × 100, exact.
        area_hundredths: u32,
        kaek: Option<String>,
    },
}

impl ApplicationDetails {
    pub fn kind(&self) -> ApplicationKind {
        match self {
            Self::CivilRegistry { .. } => ApplicationKind::CivilRegistry,
            Self::Tap { .. } => ApplicationKind::Tap,
        }
    }
}

/// How the applicant wants the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Delivery {
    /// A PDF to download from the case page (and a notice by e-mail).
    Electronic,
    /// By post to this address.
    Post { address: String },
    /// Collected in person at the town hall / ΚΕΠ.
    InPerson,
}

impl Delivery {
    pub fn method(&self) -> &'static str {
        match self {
            Self::Electronic => "electronic",
            Self::Post { .. } => "post",
            Self::InPerson => "in_person",
        }
    }

    /// How a certificate delivered this way is issued without a document: posted, or
    /// ready for collection, with the clerk's note. The method follows the applicant's
    /// choice; an electronic delivery needs the document itself (`None`).
    pub fn issue_without_document(&self, note: Option<String>) -> Option<Issue> {
        match self {
            Self::InPerson => Some(Issue::InPerson { note }),
            Self::Post { .. } => Some(Issue::Post { note }),
            Self::Electronic => None,
        }
    }
}

/// Where an application stands in the clerk's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "`submitted` (new), `in_review` (taken by a clerk), `information_requested` (waiting for the applicant's reply), `issued` and `rejected` (final)."
    )
)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    Submitted,
    InReview,
    InformationRequested,
    Issued,
    Rejected,
}

impl ApplicationStatus {
    pub const ALL: [ApplicationStatus; 5] = [
        Self::Submitted,
        Self::InReview,
        Self::InformationRequested,
        Self::Issued,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::InformationRequested => "information_requested",
            Self::Issued => "issued",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| {
                Refusal::invalid(
                    "application_status_invalid",
                    format!("unknown status {raw:?}"),
                )
            })
    }

    /// Issued or rejected: nothing more happens to the application. (The `dashboard` read
    /// model stores whether an application is past this per case: changing it needs a new
    /// schema version there.)
    pub fn is_final(self) -> bool {
        matches!(self, Self::Issued | Self::Rejected)
    }
}

/// The applicant: a certified user (and the business they represent, if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    pub account_id: String,
    pub name: String,
    pub business: Option<crate::certification::Business>,
}

/// What the clerk hands over, matching the delivery method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Issue {
    /// The issued document, stored by the portal; the event keeps its hash.
    Electronic {
        document_id: String,
        filename: String,
        sha256: String,
        size_bytes: u64,
    },
    /// Posted to the applicant's address.
    Post { note: Option<String> },
    /// Ready for collection.
    InPerson { note: Option<String> },
}

impl Issue {
    pub fn method(&self) -> &'static str {
        match self {
            Self::Electronic { .. } => "electronic",
            Self::Post { .. } => "post",
            Self::InPerson { .. } => "in_person",
        }
    }
}

/// The statutory deadline: `days` calendar days after the day of submission (in Athens).
pub fn due_date(submitted_on: NaiveDate, days: u32) -> NaiveDate {
    submitted_on + chrono::Days::new(u64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuing_without_a_document_follows_the_delivery() {
        let note = Some("RR123456789GR".to_string());
        let post = Delivery::Post {
            address: "Ερμού 1".into(),
        };
        assert_eq!(
            post.issue_without_document(note.clone()),
            Some(Issue::Post { note: note.clone() })
        );
        assert_eq!(
            Delivery::InPerson.issue_without_document(None),
            Some(Issue::InPerson { note: None })
        );
        assert_eq!(Delivery::Electronic.issue_without_document(note), None);
    }
}
