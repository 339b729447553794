//! Citizens' requests (S1, S3–S5): a citizen's request or complaint, a visitor's anonymous
//! comment with its private tracking code, the citizen's reopening of a closed case, and
//! the clerks' actions on a case (review, answer, change status, register in the protocol
//! system, close).

use domain::account::STAFF;
use domain::refusal::FieldError;
use domain::request::{CloseReason, RequestCommand, RequestKind, RequestStatus, Submitter};
use domain::values::{AnswerText, CaseNumber, CaseText, DesiredAction, Note, Subject};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::context::{Actor, Portal};
use crate::{accounts, CommandError, CommandMetadata, Executed};

/// Why a request use case did not go through.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Fields to correct.
    #[error("invalid: {0:?}")]
    Invalid(Vec<FieldError>),
    /// Only clerks and admins act on cases.
    #[error("only staff act on cases")]
    Forbidden,
    /// No clerk's action has this name (see [`ACTIONS`]).
    #[error("no such action")]
    UnknownAction,
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl From<sqlx::Error> for RequestError {
    fn from(e: sqlx::Error) -> Self {
        Self::Command(e.into())
    }
}

/// A tracking code: 12 characters without look-alikes (no 0/O, 1/I/L), grouped by four.
fn new_tracking_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The SHA-256 of a tracking code as typed: case, spaces and dashes do not matter. Only
/// this is stored; a case is found by it.
pub fn tracking_code_sha256(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// A submission as typed.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub kind: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub desired_action: Option<String>,
    /// The category, address, coordinates and attribute answers, as typed (issue 15).
    pub place: domain::request::PlaceInput,
    /// Whether the channel needs a category (Open311 does; the portal's form does not).
    pub category_required: bool,
}

/// A submission that went through.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub id: String,
    pub number: String,
    pub kind: RequestKind,
    pub position: eventlog::Position,
    /// Only for anonymous submissions: shown once, never stored in clear.
    pub tracking_code: Option<String>,
}

/// Checks and files a submission: `citizen`'s named one (which needs a kind), or a
/// visitor's anonymous one (`None`: a comment, which gets a tracking code).
pub async fn submit(
    portal: &Portal,
    citizen: Option<&Actor>,
    metadata: CommandMetadata,
    submission: Submission,
) -> Result<Submitted, RequestError> {
    let mut errors = Vec::new();
    let kind = match (citizen, submission.kind.as_deref()) {
        (Some(_), None) => {
            errors.push(FieldError::new("kind", "kind_required"));
            None
        }
        (None, None) => Some(RequestKind::Comment),
        (_, Some(raw)) => FieldError::collect("kind", RequestKind::parse(raw), &mut errors),
    };
    let subject = FieldError::collect(
        "subject",
        Subject::parse(submission.subject.as_deref().unwrap_or("")),
        &mut errors,
    );
    let text = FieldError::collect(
        "text",
        CaseText::parse(submission.text.as_deref().unwrap_or("")),
        &mut errors,
    );
    let desired_action = match submission.desired_action.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => FieldError::collect("desired_action", DesiredAction::parse(raw), &mut errors),
    };
    let place = match submission.place.check(
        &portal.settings.municipality.requests,
        submission.category_required,
    ) {
        Ok(place) => Some(place),
        Err(place_errors) => {
            errors.extend(place_errors);
            None
        }
    };
    let (Some(kind), Some(subject), Some(text), Some(place), true) =
        (kind, subject, text, place, errors.is_empty())
    else {
        return Err(RequestError::Invalid(errors));
    };
    let (submitter, tracking_code) = match citizen {
        Some(c) => (
            Submitter::Citizen {
                account_id: c.account_id.to_string(),
                name: c.full_name.clone(),
            },
            None,
        ),
        None => {
            let code = new_tracking_code();
            let submitter = Submitter::Anonymous {
                tracking_code_sha256: tracking_code_sha256(&code),
            };
            (submitter, Some(code))
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let year = crate::case_numbers::year_of(portal.now());
    let executed = portal
        .requests
        .create_numbered(
            &id,
            year,
            RequestCommand::Submit {
                id: id.clone(),
                number: CaseNumber::to_be_assigned(year),
                kind,
                subject,
                text,
                desired_action,
                submitter,
                at: portal.now(),
                place,
            },
            metadata,
        )
        .await?;
    if let Some(c) = citizen {
        accounts::record_write(portal, c, executed.position);
    }
    let number = executed.number.expect("a numbered case has its number");
    Ok(Submitted {
        id,
        number: number.to_string(),
        kind,
        position: executed.position,
        tracking_code,
    })
}

/// The citizen who filed closed case `id` reopens it, saying why (once; the case decides).
pub async fn reopen(
    portal: &Portal,
    citizen: &Actor,
    metadata: CommandMetadata,
    id: &str,
    reason: Option<&str>,
) -> Result<Executed, RequestError> {
    let reason = Note::parse(reason.unwrap_or(""))
        .map_err(|r| RequestError::Invalid(vec![FieldError::of("reason", &r)]))?;
    let executed = portal
        .requests
        .execute(
            id,
            RequestCommand::Reopen {
                account_id: citizen.account_id.to_string(),
                reason,
                at: portal.now(),
            },
            metadata,
        )
        .await?;
    accounts::record_write(portal, citizen, executed.position);
    Ok(executed)
}

// ---------------------------------------------------------------------------------------
// Clerks
// ---------------------------------------------------------------------------------------

/// The clerk's actions on a case, by the last segment of their path.
pub const ACTIONS: &[&str] = &["review", "answer", "status", "protocol", "close"];

/// The fields a clerk's action may carry (each action reads its own).
#[derive(Debug, Clone, Default)]
pub struct ActionFields {
    pub text: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

/// Builds the command of `action` (one of [`ACTIONS`]) by `clerk` from its fields, refusing
/// fields that need correcting. Separate from [`act`] so that a page can check the fields
/// before it asks the clerk to confirm.
pub fn clerk_command(
    portal: &Portal,
    action: &str,
    clerk: &Actor,
    fields: &ActionFields,
) -> Result<RequestCommand, RequestError> {
    if !ACTIONS.contains(&action) {
        return Err(RequestError::UnknownAction);
    }
    let staff = clerk.staff_member();
    let at = portal.now();
    let one_field =
        |name: &str, r: domain::Refusal| RequestError::Invalid(vec![FieldError::new(name, r.code)]);
    Ok(match action {
        "review" => RequestCommand::TakeIntoReview { clerk: staff, at },
        "answer" => RequestCommand::Answer {
            clerk: staff,
            text: AnswerText::parse(fields.text.as_deref().unwrap_or(""))
                .map_err(|r| one_field("text", r))?,
            at,
        },
        "status" => RequestCommand::ChangeStatus {
            clerk: staff,
            status: RequestStatus::parse(fields.status.as_deref().unwrap_or(""))
                .map_err(|r| one_field("status", r))?,
            at,
        },
        "protocol" => RequestCommand::RegisterInProtocol { clerk: staff, at },
        "close" => {
            let mut errors = Vec::new();
            let reason = FieldError::collect(
                "reason",
                CloseReason::parse(fields.reason.as_deref().unwrap_or("")),
                &mut errors,
            );
            let note = match fields.note.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(raw) => FieldError::collect("note", Note::parse(raw), &mut errors),
            };
            match reason {
                Some(reason) if errors.is_empty() => RequestCommand::Close {
                    clerk: staff,
                    reason,
                    note,
                    at,
                },
                _ => return Err(RequestError::Invalid(errors)),
            }
        }
        _ => return Err(RequestError::UnknownAction),
    })
}

/// Runs a clerk's command on case `id` and records the session's write, so the clerk's
/// next read waits for the change.
pub async fn act(
    portal: &Portal,
    clerk: &Actor,
    metadata: CommandMetadata,
    id: &str,
    command: RequestCommand,
) -> Result<Executed, RequestError> {
    if !clerk.holds(STAFF) {
        return Err(RequestError::Forbidden);
    }
    let executed = portal.requests.execute(id, command, metadata).await?;
    accounts::record_write(portal, clerk, executed.position);
    Ok(executed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_codes_are_grouped_and_typed_loosely() {
        let code = new_tracking_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        let loose = code.to_lowercase().replace('-', " ");
        assert_eq!(tracking_code_sha256(&code), tracking_code_sha256(&loose));
    }
}
