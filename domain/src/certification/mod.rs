//! `Certification`: the municipality's record that a clerk checked a user's identity in
//! person (S6). Certificates and business services require it. One stream per account
//! (the stream id is the account id); a business is certified through its representative,
//! whose account carries the business's name and ΑΦΜ.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::request::StaffMember;
use crate::values::{Afm, CompanyName, DocumentNumber, Note};
use crate::Refusal;

/// The version of every event shape below.
pub const EVENT_VERSION: &str = "1.0";

/// The identity document the clerk checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The identity document the clerk checked in person.")
)]
#[serde(rename_all = "snake_case")]
pub enum IdentityDocument {
    /// Αστυνομική ταυτότητα.
    IdentityCard,
    /// Διαβατήριο.
    Passport,
    /// Άδεια διαμονής.
    ResidencePermit,
}

impl IdentityDocument {
    pub const ALL: [IdentityDocument; 3] =
        [Self::IdentityCard, Self::Passport, Self::ResidencePermit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdentityCard => "identity_card",
            Self::Passport => "passport",
            Self::ResidencePermit => "residence_permit",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == raw)
            .ok_or_else(|| {
                Refusal::invalid("document_kind_invalid", format!("unknown document {raw:?}"))
            })
    }
}

/// A business certified through its representative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Business {
    pub company_name: String,
    pub afm: String,
}

#[derive(Debug, Clone)]
pub enum CertificationCommand {
    Certify {
        account_id: String,
        /// The name on the checked document (the representative's, for a business).
        holder_name: String,
        document: IdentityDocument,
        document_number: DocumentNumber,
        business: Option<(CompanyName, Afm)>,
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
    Revoke {
        clerk: StaffMember,
        reason: Note,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CertificationEvent {
    UserCertified {
        account_id: String,
        holder_name: String,
        document: IdentityDocument,
        document_number: String,
        business: Option<Business>,
        clerk: StaffMember,
        at: DateTime<Utc>,
    },
    CertificationRevoked {
        clerk: StaffMember,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for CertificationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::UserCertified { .. } => "UserCertified",
            Self::CertificationRevoked { .. } => "CertificationRevoked",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

/// The certification state of one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Certification {
    pub account_id: String,
    pub certified: bool,
    pub holder_name: Option<String>,
    pub document: Option<IdentityDocument>,
    pub document_number: Option<String>,
    pub business: Option<Business>,
    pub certified_by: Option<StaffMember>,
    pub certified_at: Option<DateTime<Utc>>,
    pub times_revoked: u32,
}

/// The refusal code of a user who is not certified (or whose certification was revoked).
pub const CERTIFICATION_REQUIRED: &str = "certification_required";
/// The refusal code of a certified user whose certification names no business.
pub const BUSINESS_CERTIFICATION_REQUIRED: &str = "business_certification_required";

/// Certificates and business services are for users the municipality certified (S6).
pub fn certification_required() -> Refusal {
    Refusal::forbidden(
        CERTIFICATION_REQUIRED,
        "certificates and business services are for users certified by the municipality",
    )
}

impl Certification {
    /// Refuses a user who is not certified (`certification_required`).
    pub fn require_certified(&self) -> Result<(), Refusal> {
        if self.certified {
            Ok(())
        } else {
            Err(certification_required())
        }
    }

    /// The business a certified user represents, or the refusal that says how to get
    /// there: `certification_required`, or `business_certification_required` (certified
    /// as a person only).
    pub fn represented_business(&self) -> Result<&Business, Refusal> {
        self.require_certified()?;
        self.business.as_ref().ok_or_else(|| {
            Refusal::forbidden(
                BUSINESS_CERTIFICATION_REQUIRED,
                "the certification names no business: its representative must have the \
                 business (name and ΑΦΜ) certified at the municipality",
            )
        })
    }
}

impl Aggregate for Certification {
    const TYPE: &'static str = "Certification";
    type Command = CertificationCommand;
    type Event = CertificationEvent;
    type Error = Refusal;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            CertificationCommand::Certify {
                account_id,
                holder_name,
                document,
                document_number,
                business,
                clerk,
                at,
            } => {
                if self.certified {
                    return Err(Refusal::rule(
                        "already_certified",
                        "the user is already certified; revoke first to certify anew",
                    ));
                }
                CertificationEvent::UserCertified {
                    account_id,
                    holder_name,
                    document,
                    document_number: document_number.as_str().to_string(),
                    business: business.map(|(name, afm)| Business {
                        company_name: name.as_str().to_string(),
                        afm: afm.as_str().to_string(),
                    }),
                    clerk,
                    at,
                }
            }
            CertificationCommand::Revoke { clerk, reason, at } => {
                if !self.certified {
                    return Err(Refusal::rule("not_certified", "the user is not certified"));
                }
                CertificationEvent::CertificationRevoked {
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
        match event {
            CertificationEvent::UserCertified {
                account_id,
                holder_name,
                document,
                document_number,
                business,
                clerk,
                at,
            } => {
                self.account_id = account_id;
                self.certified = true;
                self.holder_name = Some(holder_name);
                self.document = Some(document);
                self.document_number = Some(document_number);
                self.business = business;
                self.certified_by = Some(clerk);
                self.certified_at = Some(at);
            }
            CertificationEvent::CertificationRevoked { .. } => {
                self.certified = false;
                self.times_revoked += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    fn clerk() -> StaffMember {
        StaffMember {
            account_id: "clerk-1".into(),
            name: "Νίκος Δημητρίου".into(),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap()
    }

    fn certify(business: bool) -> CertificationCommand {
        CertificationCommand::Certify {
            account_id: "acc-1".into(),
            holder_name: "Μαρία Παπαδοπούλου".into(),
            document: IdentityDocument::IdentityCard,
            document_number: DocumentNumber::parse("ΑΚ 123456").unwrap(),
            business: business.then(|| {
                (
                    CompanyName::parse("Ταβέρνα Ο Μύλος Ο.Ε.").unwrap(),
                    Afm::parse("094259216").unwrap(),
                )
            }),
            clerk: clerk(),
            at: at(),
        }
    }

    fn certified(business: bool) -> CertificationEvent {
        CertificationEvent::UserCertified {
            account_id: "acc-1".into(),
            holder_name: "Μαρία Παπαδοπούλου".into(),
            document: IdentityDocument::IdentityCard,
            document_number: "ΑΚ123456".into(),
            business: business.then(|| Business {
                company_name: "Ταβέρνα Ο Μύλος Ο.Ε.".into(),
                afm: "094259216".into(),
            }),
            clerk: clerk(),
            at: at(),
        }
    }

    fn revoked() -> CertificationEvent {
        CertificationEvent::CertificationRevoked {
            clerk: clerk(),
            reason: "Λάθος στοιχεία".into(),
            at: at(),
        }
    }

    fn revoke() -> CertificationCommand {
        CertificationCommand::Revoke {
            clerk: clerk(),
            reason: Note::parse("Λάθος στοιχεία").unwrap(),
            at: at(),
        }
    }

    type Fw = TestFramework<Certification>;

    #[test]
    fn a_citizen_is_certified() {
        Fw::with(())
            .given_no_previous_events()
            .when(certify(false))
            .then_expect_events(vec![certified(false)]);
    }

    #[test]
    fn a_business_is_certified_through_its_representative() {
        Fw::with(())
            .given_no_previous_events()
            .when(certify(true))
            .then_expect_events(vec![certified(true)]);
    }

    #[test]
    fn certifying_twice_is_refused() {
        let err = Fw::with(())
            .given(vec![certified(false)])
            .when(certify(false))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.code, "already_certified");
    }

    #[test]
    fn revoking_then_certifying_again() {
        Fw::with(())
            .given(vec![certified(false)])
            .when(revoke())
            .then_expect_events(vec![revoked()]);
        Fw::with(())
            .given(vec![certified(false), revoked()])
            .when(certify(true))
            .then_expect_events(vec![certified(true)]);
    }

    #[test]
    fn revoking_an_uncertified_user_is_refused() {
        for given in [vec![], vec![certified(false), revoked()]] {
            let err = Fw::with(())
                .given(given)
                .when(revoke())
                .inspect_result()
                .unwrap_err();
            assert_eq!(err.code, "not_certified");
        }
    }

    #[test]
    fn the_state_folds() {
        let mut c = Certification::default();
        c.apply(certified(true));
        assert!(c.certified);
        assert_eq!(c.business.as_ref().unwrap().afm, "094259216");
        c.apply(revoked());
        assert!(!c.certified);
        assert_eq!(c.times_revoked, 1);
    }
}
