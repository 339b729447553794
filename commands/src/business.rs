//! Business services (S12–S14): the precondition every one of them shares. The user must
//! be a citizen account whose certification stands and names the business they represent
//! (company name and ΑΦΜ, checked by a clerk in person, S6). Read from the user's
//! `Certification` stream, so a revocation takes effect at once.

use cqrs_es::Aggregate;
use domain::account::Role;
use domain::certification::Business;
use domain::tax_debt::TaxDebt;
use domain::tax_declaration::TaxDeclaration;
use domain::Refusal;

use crate::context::{Actor, Portal};
use crate::CommandError;

pub use domain::certification::{BUSINESS_CERTIFICATION_REQUIRED, CERTIFICATION_REQUIRED};

/// The aggregate types of a business's own streams (ids start with its ΑΦΜ and '-').
pub const BUSINESS_STREAM_TYPES: [&str; 2] = [TaxDeclaration::TYPE, TaxDebt::TYPE];
/// The obligation kinds of a business's payments (references start with its ΑΦΜ and '-').
pub const BUSINESS_OBLIGATION_KINDS: [&str; 2] = [
    crate::tax_declarations::OBLIGATION_KIND,
    crate::tax_debts::OBLIGATION_KIND,
];

/// Why a user may not use the business services.
#[derive(Debug, thiserror::Error)]
pub enum BusinessError {
    /// Staff accounts: business services are for the businesses themselves.
    #[error("staff accounts do not act for businesses")]
    StaffAccount,
    /// `certification_required` or `business_certification_required`: says how to get
    /// there.
    #[error("refused: {0}")]
    NotCertified(Refusal),
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Whether a refusal is one of [`certified_business`]'s (a page then shows how to get
/// certified instead of an error).
pub fn is_certification_refusal(refusal: &Refusal) -> bool {
    refusal.code == CERTIFICATION_REQUIRED || refusal.code == BUSINESS_CERTIFICATION_REQUIRED
}

/// The business `actor` represents, or a refusal that says how to get there: 403
/// `certification_required` (not certified, or revoked) or 403
/// `business_certification_required` (certified as a person only).
pub async fn certified_business(portal: &Portal, actor: &Actor) -> Result<Business, BusinessError> {
    if actor.role != Role::Citizen {
        return Err(BusinessError::StaffAccount);
    }
    let certification = crate::certification::certification_of(portal, actor.account_id).await?;
    certification
        .represented_business()
        .cloned()
        .map_err(BusinessError::NotCertified)
}
