//! Certification of users (S6): a clerk finds an account by e-mail and certifies it after
//! an in-person identity check (a business through its representative) or revokes the
//! certification with a reason; and whether a user's certification stands, read from their
//! `Certification` stream for the services that require it.

use domain::account::{normalize_email, Role, STAFF};
use domain::certification::{Certification, CertificationCommand, IdentityDocument};
use domain::refusal::FieldError;
use domain::values::{Afm, CompanyName, DocumentNumber, Note};
use serde::Serialize;
use uuid::Uuid;

use crate::context::{Actor, Portal};
use crate::{accounts, CommandError, CommandMetadata, Executed};

/// Why a certification use case did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CertificationError {
    /// Fields to correct (`account_not_found` on `email` among them).
    #[error("invalid: {0:?}")]
    Invalid(Vec<FieldError>),
    /// Only clerks and admins certify.
    #[error("only staff certify users")]
    Forbidden,
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl From<sqlx::Error> for CertificationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Command(e.into())
    }
}

/// An account as a clerk finds it to certify it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AccountSummary {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    #[schema(required)]
    pub father_name: Option<String>,
    #[schema(required)]
    pub address: Option<String>,
    #[schema(required)]
    pub phone: Option<String>,
    #[schema(value_type = domain::account::Role)]
    pub role: String,
}

impl AccountSummary {
    /// Only citizens' accounts are certified.
    pub fn certifiable(&self) -> bool {
        self.role == Role::Citizen.as_str()
    }

    /// The details of the profile the guide asks for before certification (its step 2: the
    /// full details) that are missing: `full_name`, `father_name`, `address`, `phone`. The
    /// same ones a payment needs (`Profile::check_complete_for_payment`).
    pub fn missing_details(&self) -> Vec<String> {
        let profile = domain::account::Profile {
            full_name: self.full_name.clone(),
            father_name: self.father_name.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
        };
        match profile.check_complete_for_payment() {
            Ok(()) => Vec::new(),
            Err((_, fields)) => fields.into_iter().map(|f| f.field).collect(),
        }
    }
}

/// The account with this e-mail (as typed: case and spaces do not matter).
pub async fn find_account(
    portal: &Portal,
    email: &str,
) -> Result<AccountSummary, CertificationError> {
    let normalized = normalize_email(email).map_err(|e| CertificationError::Invalid(vec![e]))?;
    sqlx::query_as(
        "SELECT id, email, full_name, father_name, address, phone, role FROM accounts \
         WHERE email_normalized = $1",
    )
    .bind(normalized)
    .fetch_optional(&portal.pool)
    .await?
    .ok_or(CertificationError::Invalid(vec![FieldError::new(
        "email",
        "account_not_found",
    )]))
}

/// The clerk's certification form, as typed.
#[derive(Debug, Clone, Default)]
pub struct CertifyForm {
    pub email: Option<String>,
    pub document: Option<String>,
    pub document_number: Option<String>,
    /// For a business: both, or neither.
    pub company_name: Option<String>,
    pub afm: Option<String>,
}

/// What a certification form says once checked: the document, its number, and the
/// business the person represents (if any).
pub type CheckedCertification = (IdentityDocument, DocumentNumber, Option<(CompanyName, Afm)>);

/// Checks the certification form's document and business fields (every problem at once),
/// as [`certify`] does; the clerks' page calls it before its confirmation step.
pub fn check_certify_form(form: &CertifyForm) -> Result<CheckedCertification, Vec<FieldError>> {
    let mut errors = Vec::new();
    let document = match form.document.as_deref().filter(|d| !d.is_empty()) {
        None => {
            errors.push(FieldError::new("document", "document_kind_invalid"));
            None
        }
        Some(raw) => FieldError::collect("document", IdentityDocument::parse(raw), &mut errors),
    };
    let number = FieldError::collect(
        "document_number",
        DocumentNumber::parse(form.document_number.as_deref().unwrap_or("")),
        &mut errors,
    );
    let company = form
        .company_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let afm = form.afm.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let business = match (company, afm) {
        (None, None) => Some(None),
        (Some(c), Some(a)) => {
            let c = FieldError::collect("company_name", CompanyName::parse(c), &mut errors);
            let a = FieldError::collect("afm", Afm::parse(a), &mut errors);
            c.zip(a).map(Some)
        }
        (None, Some(_)) => {
            errors.push(FieldError::new("company_name", "business_incomplete"));
            None
        }
        (Some(_), None) => {
            errors.push(FieldError::new("afm", "business_incomplete"));
            None
        }
    };
    match (document, number, business, errors.is_empty()) {
        (Some(document), Some(number), Some(business), true) => Ok((document, number, business)),
        _ => Err(errors),
    }
}

/// `clerk` certifies the account named by e-mail, after checking the identity document in
/// person; a business is certified through its representative.
pub async fn certify(
    portal: &Portal,
    clerk: &Actor,
    metadata: CommandMetadata,
    form: CertifyForm,
) -> Result<(AccountSummary, Executed), CertificationError> {
    if !clerk.holds(STAFF) {
        return Err(CertificationError::Forbidden);
    }
    let account = find_account(portal, form.email.as_deref().unwrap_or("")).await?;
    if !account.certifiable() {
        return Err(CertificationError::Invalid(vec![FieldError::new(
            "email",
            "staff_not_certifiable",
        )]));
    }
    let (document, number, business) =
        check_certify_form(&form).map_err(CertificationError::Invalid)?;
    let executed = portal
        .certifications
        .execute(
            &account.id.to_string(),
            CertificationCommand::Certify {
                account_id: account.id.to_string(),
                holder_name: account.full_name.clone(),
                document,
                document_number: number,
                business,
                clerk: clerk.staff_member(),
                at: portal.now(),
            },
            metadata,
        )
        .await?;
    accounts::record_write(portal, clerk, executed.position);
    Ok((account, executed))
}

/// `clerk` revokes the certification of the account named by e-mail, saying why.
pub async fn revoke(
    portal: &Portal,
    clerk: &Actor,
    metadata: CommandMetadata,
    email: &str,
    reason: &str,
) -> Result<(AccountSummary, Executed), CertificationError> {
    if !clerk.holds(STAFF) {
        return Err(CertificationError::Forbidden);
    }
    let account = find_account(portal, email).await?;
    let reason = Note::parse(reason)
        .map_err(|r| CertificationError::Invalid(vec![FieldError::of("reason", &r)]))?;
    let executed = portal
        .certifications
        .execute(
            &account.id.to_string(),
            CertificationCommand::Revoke {
                clerk: clerk.staff_member(),
                reason,
                at: portal.now(),
            },
            metadata,
        )
        .await?;
    accounts::record_write(portal, clerk, executed.position);
    Ok((account, executed))
}

/// Whether the certification of account `account_id` stands, and the business it names;
/// folded from its `Certification` stream (consistent at once, unlike the read model), so
/// a revocation takes effect immediately.
pub async fn certification_of(
    portal: &Portal,
    account_id: Uuid,
) -> Result<Certification, CommandError> {
    portal.certifications.load(&account_id.to_string()).await
}
