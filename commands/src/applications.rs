//! Certificate applications (S7–S9, S15): a certified citizen applies for a civil-registry
//! or ΤΑΠ certificate and answers the clerk's question; clerks review, ask for
//! information, issue (a stored PDF, or by post / in person), reject, and register an
//! application in the protocol system at once. Also the issued documents and the uploads
//! a clerk's confirmation waits for.

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use domain::account::{Role, STAFF};
use domain::application::{
    due_date, Applicant, ApplicationCommand, ApplicationDetails, ApplicationKind,
    CertificateApplication, Delivery, Issue,
};
use domain::refusal::FieldError;
use domain::values::{
    Area, CaseNumber, CaseText, Kaek, Note, PostalAddress, PropertyAddress, Question, Reply,
    SupplyNumber,
};
use domain::Refusal;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::context::{Actor, Portal};
use crate::registrar::Attempt;
use crate::{accounts, certification, CommandError, CommandMetadata, Executed};

/// Why an application use case did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    /// Fields to correct.
    #[error("invalid: {0:?}")]
    Invalid(Vec<FieldError>),
    /// Only citizens apply; only clerks and admins act on applications.
    #[error("forbidden")]
    Forbidden,
    /// No such application.
    #[error("no such application")]
    NotFound,
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl From<sqlx::Error> for ApplicationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Command(e.into())
    }
}

impl From<Refusal> for ApplicationError {
    fn from(refusal: Refusal) -> Self {
        Self::Command(CommandError::Refused(refusal))
    }
}

fn one_field(field: &str, code: &str) -> ApplicationError {
    ApplicationError::Invalid(vec![FieldError::new(field, code)])
}

// ---------------------------------------------------------------------------------------
// The applicant
// ---------------------------------------------------------------------------------------

/// The form of «Νέα Αίτηση» (civil registry) and «Νέο Αίτημα ΤΑΠ», as typed.
#[derive(Debug, Clone, Default)]
pub struct ApplicationForm {
    pub kind: Option<String>,
    pub certificate_type: Option<String>,
    pub property_address: Option<String>,
    pub supply_number: Option<String>,
    /// m², as text (`85,50`).
    pub area: Option<String>,
    pub kaek: Option<String>,
    pub text: Option<String>,
    pub delivery: Option<String>,
    pub postal_address: Option<String>,
}

/// An application that went through, with the outcome of its first protocol attempt.
#[derive(Debug, Clone)]
pub struct Applied {
    pub id: String,
    pub number: String,
    pub due_on: NaiveDate,
    pub protocol_number: Option<String>,
    pub protocol_date: Option<DateTime<Utc>>,
    pub position: eventlog::Position,
}

fn non_empty(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Checks and files `applicant`'s application, then tries to register it in the protocol
/// system at once (the background registrar retries what this attempt leaves).
pub async fn apply(
    portal: &Portal,
    applicant: &Actor,
    metadata: CommandMetadata,
    form: ApplicationForm,
) -> Result<Applied, ApplicationError> {
    if applicant.role != Role::Citizen {
        return Err(ApplicationError::Forbidden);
    }
    let certification = certification::certification_of(portal, applicant.account_id).await?;
    // Before the form's own errors: nothing the user types can fix this.
    certification.require_certified()?;
    let mut errors = Vec::new();
    let kind = match non_empty(&form.kind) {
        None => {
            errors.push(FieldError::new("kind", "application_kind_invalid"));
            None
        }
        Some(raw) => FieldError::collect("kind", ApplicationKind::parse(raw), &mut errors),
    };
    let municipality = portal.settings.municipality.clone();
    let details = match kind {
        Some(ApplicationKind::CivilRegistry) => match non_empty(&form.certificate_type) {
            None => {
                errors.push(FieldError::new(
                    "certificate_type",
                    "certificate_type_required",
                ));
                None
            }
            Some(code) => match municipality.certificate_type(code) {
                Some(t) => Some((
                    ApplicationDetails::CivilRegistry {
                        certificate_type: t.code.clone(),
                        certificate_name: t.name_el.clone(),
                    },
                    t.deadline_days,
                )),
                None => {
                    errors.push(FieldError::new(
                        "certificate_type",
                        "certificate_type_invalid",
                    ));
                    None
                }
            },
        },
        Some(ApplicationKind::Tap) => {
            let address = FieldError::collect(
                "property_address",
                PropertyAddress::parse(form.property_address.as_deref().unwrap_or("")),
                &mut errors,
            );
            let supply = FieldError::collect(
                "supply_number",
                SupplyNumber::parse(form.supply_number.as_deref().unwrap_or("")),
                &mut errors,
            );
            let area = FieldError::collect(
                "area",
                Area::parse(form.area.as_deref().unwrap_or("")),
                &mut errors,
            );
            let kaek = match non_empty(&form.kaek) {
                None => Some(None),
                Some(raw) => FieldError::collect("kaek", Kaek::parse(raw), &mut errors).map(Some),
            };
            match (address, supply, area, kaek) {
                (Some(address), Some(supply), Some(area), Some(kaek)) => Some((
                    ApplicationDetails::Tap {
                        property_address: address.as_str().to_string(),
                        supply_number: supply.as_str().to_string(),
                        area_hundredths: area.hundredths(),
                        kaek: kaek.map(|k| k.as_str().to_string()),
                    },
                    municipality.tap.deadline_days,
                )),
                _ => None,
            }
        }
        None => None,
    };
    let text = FieldError::collect(
        "text",
        CaseText::parse(form.text.as_deref().unwrap_or("")),
        &mut errors,
    );
    let delivery = match non_empty(&form.delivery) {
        None => {
            errors.push(FieldError::new("delivery", "delivery_required"));
            None
        }
        Some("electronic") => Some(Delivery::Electronic),
        Some("in_person") => Some(Delivery::InPerson),
        Some("post") => FieldError::collect(
            "postal_address",
            PostalAddress::parse(form.postal_address.as_deref().unwrap_or("")),
            &mut errors,
        )
        .map(|a| Delivery::Post {
            address: a.as_str().to_string(),
        }),
        Some(_) => {
            errors.push(FieldError::new("delivery", "delivery_invalid"));
            None
        }
    };
    let (Some((details, deadline_days)), Some(text), Some(delivery), true) =
        (details, text, delivery, errors.is_empty())
    else {
        return Err(ApplicationError::Invalid(errors));
    };
    let id = Uuid::new_v4().to_string();
    let year = crate::case_numbers::year_of(portal.now());
    let due_on = due_date(portal.today(), deadline_days);
    let applicant_of_record = Applicant {
        account_id: applicant.account_id.to_string(),
        name: applicant.full_name.clone(),
        business: certification.business.clone(),
    };
    let mut executed = portal
        .applications
        .create_numbered(
            &id,
            year,
            ApplicationCommand::Submit {
                id: id.clone(),
                number: CaseNumber::to_be_assigned(year),
                applicant: applicant_of_record,
                certified: certification.certified,
                details,
                text,
                delivery,
                due_on,
                at: portal.now(),
            },
            metadata.clone(),
        )
        .await?;
    let number = executed.number.expect("a numbered case has its number");
    // The first protocol attempt, while the citizen waits (briefly). A failure is already
    // an event with the time of the next attempt; anything else is logged and left to the
    // background registrar: the application is stored either way.
    match portal
        .registrar
        .attempt(&portal.applications, &id, metadata)
        .await
    {
        Ok(Attempt::Ran(e)) => executed = e,
        Ok(_) => {}
        Err(e) => tracing::warn!(application = %id, error = %e, "first protocol attempt failed"),
    }
    accounts::record_write(portal, applicant, executed.position);
    let current = portal.applications.load(&id).await?;
    Ok(Applied {
        id,
        number: number.to_string(),
        due_on,
        protocol_number: current.protocol_number,
        protocol_date: current.protocol_date,
        position: executed.position,
    })
}

/// The applicant answers the clerk's question on application `id`.
pub async fn reply(
    portal: &Portal,
    applicant: &Actor,
    metadata: CommandMetadata,
    id: &str,
    reply: Option<&str>,
) -> Result<Executed, ApplicationError> {
    let reply = Reply::parse(reply.unwrap_or(""))
        .map_err(|r| ApplicationError::Invalid(vec![FieldError::of("reply", &r)]))?;
    let executed = portal
        .applications
        .execute(
            id,
            ApplicationCommand::ProvideInformation {
                account_id: applicant.account_id.to_string(),
                reply,
                at: portal.now(),
            },
            metadata,
        )
        .await?;
    accounts::record_write(portal, applicant, executed.position);
    Ok(executed)
}

/// Application `id` as its stream has it now (consistent at once, unlike the read model).
pub async fn application(
    portal: &Portal,
    id: &str,
) -> Result<CertificateApplication, ApplicationError> {
    Ok(portal.applications.load(id).await?)
}

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

/// An issued certificate as stored.
#[derive(Debug, Clone)]
pub struct StoredDocument {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Document `document_id` of application `application_id` (`None` for a document id that
/// is not a UUID, or not this application's).
pub async fn stored_document(
    portal: &Portal,
    application_id: &str,
    document_id: &str,
) -> Result<Option<StoredDocument>, ApplicationError> {
    let Ok(document_id) = Uuid::parse_str(document_id) else {
        return Ok(None);
    };
    let found: Option<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT filename, content_type, bytes FROM documents WHERE id = $1 AND application_id = $2",
    )
    .bind(document_id)
    .bind(application_id)
    .fetch_optional(&portal.pool)
    .await?;
    Ok(found.map(|(filename, content_type, bytes)| StoredDocument {
        filename,
        content_type,
        bytes,
    }))
}

/// A PDF as uploaded: not empty, within `max` bytes, starting with `%PDF-`.
pub fn check_pdf(bytes: &[u8], max: usize) -> Result<(), FieldError> {
    let code = if bytes.is_empty() {
        "document_required"
    } else if bytes.len() > max {
        "document_too_large"
    } else if !bytes.starts_with(b"%PDF-") {
        "document_not_pdf"
    } else {
        return Ok(());
    };
    Err(FieldError::new("document", code))
}

/// A file name kept for the download: its last path segment, at most 120 characters,
/// ending in `.pdf`.
fn clean_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let kept: String = last.chars().filter(|c| !c.is_control()).take(120).collect();
    let kept = if kept.is_empty() {
        "certificate".to_string()
    } else {
        kept
    };
    if kept.to_lowercase().ends_with(".pdf") {
        kept
    } else {
        format!("{kept}.pdf")
    }
}

/// A PDF a clerk uploaded to issue is kept in `staged_uploads` until they confirm (or for
/// half an hour), so that the confirmation may reach any portal process.
const STAGED_FOR_SECONDS: f64 = 30.0 * 60.0;

/// Keeps `clerk`'s upload for application `application` until the confirmation; answers
/// its token. Forgets uploads past their time.
pub async fn stage_upload(
    portal: &Portal,
    clerk: &Actor,
    application: &str,
    filename: &str,
    bytes: &[u8],
) -> Result<String, ApplicationError> {
    sqlx::query("DELETE FROM staged_uploads WHERE staged_at < now() - make_interval(secs => $1)")
        .bind(STAGED_FOR_SECONDS)
        .execute(&portal.pool)
        .await?;
    let mut random = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut random);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
    sqlx::query(
        "INSERT INTO staged_uploads (token, clerk_id, application_id, filename, bytes) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&token)
    .bind(clerk.account_id)
    .bind(application)
    .bind(filename)
    .bind(bytes)
    .execute(&portal.pool)
    .await?;
    Ok(token)
}

/// The upload behind `token` (its file name and bytes), if it is `clerk`'s for
/// `application` and still kept.
pub async fn staged_upload(
    portal: &Portal,
    clerk: &Actor,
    application: &str,
    token: &str,
) -> Result<Option<(String, Vec<u8>)>, ApplicationError> {
    Ok(sqlx::query_as(
        "SELECT filename, bytes FROM staged_uploads WHERE token = $1 AND clerk_id = $2 \
         AND application_id = $3 AND staged_at >= now() - make_interval(secs => $4)",
    )
    .bind(token)
    .bind(clerk.account_id)
    .bind(application)
    .bind(STAGED_FOR_SECONDS)
    .fetch_optional(&portal.pool)
    .await?)
}

/// Forgets the upload behind `token` (once it has been issued).
pub async fn unstage_upload(portal: &Portal, token: &str) -> Result<(), ApplicationError> {
    sqlx::query("DELETE FROM staged_uploads WHERE token = $1")
        .bind(token)
        .execute(&portal.pool)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Clerks
// ---------------------------------------------------------------------------------------

/// A clerk's action on an application.
#[derive(Debug, Clone)]
pub enum ClerkAction {
    Review,
    RequestInformation {
        question: Option<String>,
    },
    Reject {
        reason: Option<String>,
    },
    /// Post or in person: a note (e.g. the registered-mail number, where to collect).
    IssueWithoutDocument {
        note: Option<String>,
    },
    /// Electronic delivery: the certificate's PDF.
    IssueDocument {
        filename: String,
        bytes: Vec<u8>,
    },
}

/// Runs `clerk`'s action on application `id`; answers the position it wrote. An issued
/// document is stored first and removed again if the application refuses the issue.
pub async fn act(
    portal: &Portal,
    clerk: &Actor,
    metadata: CommandMetadata,
    id: &str,
    action: ClerkAction,
) -> Result<Executed, ApplicationError> {
    if !clerk.holds(STAFF) {
        return Err(ApplicationError::Forbidden);
    }
    let staff = clerk.staff_member();
    let at = portal.now();
    let invalid =
        |field: &str, r: Refusal| ApplicationError::Invalid(vec![FieldError::of(field, &r)]);
    let mut stored_document: Option<Uuid> = None;
    let command = match action {
        ClerkAction::Review => ApplicationCommand::TakeIntoReview { clerk: staff, at },
        ClerkAction::RequestInformation { question } => ApplicationCommand::RequestInformation {
            clerk: staff,
            question: Question::parse(question.as_deref().unwrap_or(""))
                .map_err(|r| invalid("question", r))?,
            at,
        },
        ClerkAction::Reject { reason } => ApplicationCommand::Reject {
            clerk: staff,
            reason: Note::parse(reason.as_deref().unwrap_or(""))
                .map_err(|r| invalid("reason", r))?,
            at,
        },
        ClerkAction::IssueWithoutDocument { note } => {
            let note = match note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                None => None,
                Some(raw) => Some(
                    Note::parse(raw)
                        .map_err(|r| invalid("note", r))?
                        .as_str()
                        .to_string(),
                ),
            };
            // The aggregate refuses a method that does not match the applicant's choice.
            let current = portal.applications.load(id).await?;
            let delivery = current.delivery.ok_or(ApplicationError::NotFound)?;
            let issue = delivery
                .issue_without_document(note)
                .ok_or_else(|| one_field("document", "document_required"))?;
            ApplicationCommand::Issue {
                clerk: staff,
                issue,
                at,
            }
        }
        ClerkAction::IssueDocument { filename, bytes } => {
            check_pdf(&bytes, portal.settings.document_max_bytes)
                .map_err(|e| ApplicationError::Invalid(vec![e]))?;
            let document_id = Uuid::new_v4();
            let filename = clean_filename(&filename);
            let sha256 = hex::encode(Sha256::digest(&bytes));
            sqlx::query(
                "INSERT INTO documents (id, application_id, filename, content_type, size_bytes, \
                 sha256, bytes, uploaded_by) VALUES ($1, $2, $3, 'application/pdf', $4, $5, $6, $7)",
            )
            .bind(document_id)
            .bind(id)
            .bind(&filename)
            .bind(bytes.len() as i64)
            .bind(&sha256)
            .bind(&bytes)
            .bind(clerk.account_id.to_string())
            .execute(&portal.pool)
            .await?;
            stored_document = Some(document_id);
            ApplicationCommand::Issue {
                clerk: staff,
                issue: Issue::Electronic {
                    document_id: document_id.to_string(),
                    filename,
                    sha256,
                    size_bytes: bytes.len() as u64,
                },
                at,
            }
        }
    };
    let executed = match portal.applications.execute(id, command, metadata).await {
        Ok(executed) => executed,
        Err(e) => {
            // A refused issue leaves no orphan file behind.
            if let Some(document_id) = stored_document {
                let _ = sqlx::query("DELETE FROM documents WHERE id = $1")
                    .bind(document_id)
                    .execute(&portal.pool)
                    .await;
            }
            return Err(e.into());
        }
    };
    accounts::record_write(portal, clerk, executed.position);
    Ok(executed)
}

/// The clerk's "register in the protocol system now": the same attempt as the automatic
/// one, at once. An attempt the protocol system did not answer is recorded (and retried in
/// the background) like any other: see the application's protocol number.
pub async fn register_now(
    portal: &Portal,
    clerk: &Actor,
    metadata: CommandMetadata,
    id: &str,
) -> Result<Executed, ApplicationError> {
    if !clerk.holds(STAFF) {
        return Err(ApplicationError::Forbidden);
    }
    match portal
        .registrar
        .attempt(&portal.applications, id, metadata)
        .await?
    {
        Attempt::Ran(executed) => {
            accounts::record_write(portal, clerk, executed.position);
            Ok(executed)
        }
        Attempt::AlreadyRegistered => Err(Refusal::rule(
            "already_protocolled",
            "the application already has a protocol number",
        )
        .into()),
        Attempt::Busy => Err(CommandError::Conflict.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_kept_safe() {
        assert_eq!(
            clean_filename("C:\\docs\\πιστοποιητικό.pdf"),
            "πιστοποιητικό.pdf"
        );
        assert_eq!(clean_filename("../../etc/passwd"), "passwd.pdf");
        assert_eq!(clean_filename(""), "certificate.pdf");
    }

    #[test]
    fn only_pdfs_within_the_limit() {
        assert!(check_pdf(b"%PDF-1.7\n...", 100).is_ok());
        assert!(check_pdf(b"GIF89a", 100).is_err());
        assert!(check_pdf(b"", 100).is_err());
        assert!(check_pdf(&[b'%'; 200], 100).is_err());
        assert!(check_pdf(b"%PDF-1.7\n", 100).is_ok());
        assert_eq!(check_pdf(b"", 100).unwrap_err().code, "document_required");
        assert_eq!(
            check_pdf(b"GIF89a", 100).unwrap_err().code,
            "document_not_pdf"
        );
        assert_eq!(
            check_pdf(&[b'%'; 200], 100).unwrap_err().code,
            "document_too_large"
        );
    }
}
