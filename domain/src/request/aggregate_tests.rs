//! Given/when/then tests for `CitizenRequest`: every command, accepted and refused, plus
//! the fold of a full history. Refusals are compared by `code` (and `kind`), never by the
//! English detail text.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::{AggregateResultValidator, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};

use super::{CitizenRequest, RequestServices};
use crate::ports::{ProtocolDocument, ProtocolError, ProtocolReceipt, ProtocolSystem};
use crate::refusal::RefusalKind;
use crate::request::{
    CloseReason, Place, RequestCommand, RequestEvent, RequestKind, RequestStatus, StaffMember,
    Submitter, SUBMITTED_VERSION,
};
use crate::values::{AnswerText, CaseNumber, CaseText, DesiredAction, Note, Subject};

const CASE_ID: &str = "3f0c2a9e-0000-4000-8000-000000000001";
const OWNER: &str = "citizen-42";
const PROTOCOL_NUMBER: &str = "ΠΡΩΤ-2026/4711";

// ---------------------------------------------------------------------------------------
// The protocol port, faked.
// ---------------------------------------------------------------------------------------

/// A protocol system that always answers the same way and remembers what it was sent.
struct FakeProtocol {
    outcome: Result<ProtocolReceipt, ProtocolError>,
    received: Mutex<Vec<ProtocolDocument>>,
}

impl FakeProtocol {
    fn with_outcome(outcome: Result<ProtocolReceipt, ProtocolError>) -> Arc<Self> {
        Arc::new(Self {
            outcome,
            received: Mutex::new(Vec::new()),
        })
    }

    /// Registers every document under [`receipt`].
    fn answering() -> Arc<Self> {
        Self::with_outcome(Ok(receipt()))
    }

    fn unavailable() -> Arc<Self> {
        Self::with_outcome(Err(ProtocolError::Unavailable("connection refused".into())))
    }

    fn rejecting() -> Arc<Self> {
        Self::with_outcome(Err(ProtocolError::Rejected(
            "subject too long for ΙΡΙΔΑ".into(),
        )))
    }

    fn received(&self) -> Vec<ProtocolDocument> {
        self.received.lock().expect("poisoned").clone()
    }
}

#[async_trait]
impl ProtocolSystem for FakeProtocol {
    async fn register(
        &self,
        document: &ProtocolDocument,
    ) -> Result<ProtocolReceipt, ProtocolError> {
        self.received
            .lock()
            .expect("poisoned")
            .push(document.clone());
        self.outcome.clone()
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------

/// The fixed moment every test starts from.
fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

/// `minutes` after [`at`], so the events of a history keep their order.
fn later(minutes: i64) -> DateTime<Utc> {
    at() + Duration::minutes(minutes)
}

fn receipt() -> ProtocolReceipt {
    ProtocolReceipt {
        protocol_number: PROTOCOL_NUMBER.to_string(),
        registered_at: later(30),
    }
}

/// A framework whose protocol port answers with a receipt (for tests that never reach it).
fn framework() -> TestFramework<CitizenRequest> {
    framework_with(&FakeProtocol::answering())
}

fn framework_with(protocol: &Arc<FakeProtocol>) -> TestFramework<CitizenRequest> {
    TestFramework::<CitizenRequest>::with(RequestServices {
        protocol: protocol.clone(),
    })
}

fn clerk() -> StaffMember {
    StaffMember {
        account_id: "clerk-7".to_string(),
        name: "Μαρία Παπαδοπούλου".to_string(),
    }
}

fn citizen() -> Submitter {
    Submitter::Citizen {
        account_id: OWNER.to_string(),
        name: "Γιώργος Νικολάου".to_string(),
    }
}

fn anonymous() -> Submitter {
    Submitter::Anonymous {
        tracking_code_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            .to_string(),
    }
}

fn number() -> CaseNumber {
    CaseNumber {
        year: 2026,
        serial: 123,
    }
}

fn submit(kind: RequestKind, submitter: Submitter, desired_action: Option<&str>) -> RequestCommand {
    RequestCommand::Submit {
        id: CASE_ID.to_string(),
        number: number(),
        kind,
        subject: Subject::parse("  Λακκούβα στην οδό Ερμού ").unwrap(),
        text: CaseText::parse("Μεγάλη λακκούβα μπροστά στο νούμερο 12.\nΚινδυνεύουν τα μηχανάκια.")
            .unwrap(),
        desired_action: desired_action.map(|d| DesiredAction::parse(d).unwrap()),
        submitter,
        at: at(),
        place: Place::default(),
    }
}

/// The event [`submit`] records for a named complaint.
fn submitted() -> RequestEvent {
    submitted_by(
        RequestKind::Complaint,
        citizen(),
        Some("Να κλείσει η λακκούβα."),
    )
}

fn submitted_anonymously() -> RequestEvent {
    submitted_by(RequestKind::Comment, anonymous(), None)
}

fn submitted_by(
    kind: RequestKind,
    submitter: Submitter,
    desired_action: Option<&str>,
) -> RequestEvent {
    RequestEvent::RequestSubmitted {
        id: CASE_ID.to_string(),
        number: number(),
        kind,
        subject: "Λακκούβα στην οδό Ερμού".to_string(),
        text: "Μεγάλη λακκούβα μπροστά στο νούμερο 12.\nΚινδυνεύουν τα μηχανάκια.".to_string(),
        desired_action: desired_action.map(str::to_string),
        submitter,
        at: at(),
        category: None,
        address: None,
        location: None,
        attributes: Default::default(),
    }
}

/// A `RequestSubmitted` of version 1.0, as the log holds it from before categories and
/// places, reads as a case without them; one with them keeps them.
#[test]
fn a_submission_of_version_1_0_reads_without_a_place_and_1_1_with_it() {
    let old = serde_json::json!({"type": "RequestSubmitted", "data": {
        "id": CASE_ID, "number": {"year": 2026, "serial": 123}, "kind": "complaint",
        "subject": "Λακκούβα στην οδό Ερμού",
        "text": "Μεγάλη λακκούβα μπροστά στο νούμερο 12.\nΚινδυνεύουν τα μηχανάκια.",
        "desired_action": "Να κλείσει η λακκούβα.",
        "submitter": {"type": "citizen", "account_id": "acc-1", "name": "Μαρία Παπαδοπούλου"},
        "at": "2026-11-26T09:00:00Z"}});
    let event: RequestEvent = serde_json::from_value(old).unwrap();
    let RequestEvent::RequestSubmitted {
        category,
        location,
        attributes,
        ..
    } = &event
    else {
        panic!("{event:?}")
    };
    assert_eq!((category, location), (&None, &None));
    assert!(attributes.is_empty());
    // Written now: version 1.1, and only the parts that are there.
    assert_eq!(event.event_version(), SUBMITTED_VERSION);
    let written = serde_json::to_value(&event).unwrap();
    assert!(written["data"].get("category").is_none(), "{written}");
    let mut with_place = written.clone();
    with_place["data"]["category"] = "street_light".into();
    with_place["data"]["location"] = serde_json::json!({"lat": 37.97, "long": 23.72});
    with_place["data"]["attributes"] = serde_json::json!({"lamp_post_number": "ΦΣ-118"});
    let back: RequestEvent = serde_json::from_value(with_place.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), with_place);
}

fn taken_into_review() -> RequestEvent {
    RequestEvent::RequestTakenIntoReview {
        clerk: clerk(),
        at: later(5),
    }
}

fn answered() -> RequestEvent {
    RequestEvent::RequestAnswered {
        clerk: clerk(),
        text: "Το συνεργείο θα επισκευάσει τον δρόμο την Πέμπτη.".to_string(),
        at: later(60),
    }
}

fn protocolled() -> RequestEvent {
    RequestEvent::ProtocolRegistered {
        clerk: clerk(),
        protocol_number: PROTOCOL_NUMBER.to_string(),
        protocol_date: later(30),
        at: later(31),
    }
}

fn closed() -> RequestEvent {
    RequestEvent::RequestClosed {
        clerk: clerk(),
        reason: CloseReason::Done,
        note: None,
        at: later(90),
    }
}

fn reopened() -> RequestEvent {
    RequestEvent::RequestReopened {
        account_id: OWNER.to_string(),
        reason: "Η λακκούβα άνοιξε ξανά.".to_string(),
        at: later(120),
    }
}

fn reopen(account_id: &str) -> RequestCommand {
    RequestCommand::Reopen {
        account_id: account_id.to_string(),
        reason: Note::parse("Η λακκούβα άνοιξε ξανά.").unwrap(),
        at: later(120),
    }
}

fn close(reason: CloseReason, note: Option<&str>) -> RequestCommand {
    RequestCommand::Close {
        clerk: clerk(),
        reason,
        note: note.map(|n| Note::parse(n).unwrap()),
        at: later(90),
    }
}

fn change_status(status: RequestStatus) -> RequestCommand {
    RequestCommand::ChangeStatus {
        clerk: clerk(),
        status,
        at: later(10),
    }
}

fn take_into_review() -> RequestCommand {
    RequestCommand::TakeIntoReview {
        clerk: clerk(),
        at: later(5),
    }
}

fn answer() -> RequestCommand {
    RequestCommand::Answer {
        clerk: clerk(),
        text: AnswerText::parse("Το συνεργείο θα επισκευάσει τον δρόμο την Πέμπτη.").unwrap(),
        at: later(60),
    }
}

fn register() -> RequestCommand {
    RequestCommand::RegisterInProtocol {
        clerk: clerk(),
        at: later(31),
    }
}

/// Asserts the command was refused with `code` and `kind`, whatever the detail text says.
fn assert_refused(result: AggregateResultValidator<CitizenRequest>, code: &str, kind: RefusalKind) {
    match result.inspect_result() {
        Ok(events) => panic!("expected refusal {code:?}, got events {events:?}"),
        Err(refusal) => {
            assert_eq!(
                refusal.code, code,
                "refusal code (detail: {})",
                refusal.detail
            );
            assert_eq!(refusal.kind, kind, "refusal kind of {code:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Submit.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn submit_by_a_citizen_records_the_case() {
    framework()
        .given_no_previous_events()
        .when_async(submit(
            RequestKind::Complaint,
            citizen(),
            Some("Να κλείσει η λακκούβα."),
        ))
        .await
        .then_expect_events(vec![submitted()]);
}

#[tokio::test]
async fn submit_of_an_anonymous_comment_records_the_case() {
    framework()
        .given_no_previous_events()
        .when_async(submit(RequestKind::Comment, anonymous(), None))
        .await
        .then_expect_events(vec![submitted_anonymously()]);
}

#[tokio::test]
async fn submit_is_refused_when_the_case_exists() {
    let result = framework()
        .given(vec![submitted()])
        .when_async(submit(RequestKind::Complaint, citizen(), None))
        .await;
    assert_refused(result, "case_exists", RefusalKind::Rule);
}

#[tokio::test]
async fn submit_of_a_named_comment_is_refused() {
    let result = framework()
        .given_no_previous_events()
        .when_async(submit(RequestKind::Comment, citizen(), None))
        .await;
    assert_refused(result, "kind_comment_is_anonymous", RefusalKind::Invalid);
}

#[tokio::test]
async fn submit_of_an_anonymous_complaint_is_refused() {
    let result = framework()
        .given_no_previous_events()
        .when_async(submit(RequestKind::Complaint, anonymous(), None))
        .await;
    assert_refused(result, "kind_anonymous_is_comment", RefusalKind::Invalid);
}

// ---------------------------------------------------------------------------------------
// TakeIntoReview.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn take_into_review_of_a_submitted_case() {
    framework()
        .given(vec![submitted()])
        .when_async(take_into_review())
        .await
        .then_expect_events(vec![taken_into_review()]);
}

#[tokio::test]
async fn take_into_review_of_a_reopened_case() {
    framework()
        .given(vec![
            submitted(),
            taken_into_review(),
            answered(),
            closed(),
            reopened(),
        ])
        .when_async(take_into_review())
        .await
        .then_expect_events(vec![taken_into_review()]);
}

#[tokio::test]
async fn take_into_review_of_a_missing_case_is_refused() {
    let result = framework()
        .given_no_previous_events()
        .when_async(take_into_review())
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
}

#[tokio::test]
async fn take_into_review_of_a_case_in_review_is_refused() {
    let result = framework()
        .given(vec![submitted(), taken_into_review()])
        .when_async(take_into_review())
        .await;
    assert_refused(result, "review_not_allowed", RefusalKind::Rule);
}

#[tokio::test]
async fn take_into_review_of_a_closed_case_is_refused() {
    let result = framework()
        .given(vec![submitted(), closed()])
        .when_async(take_into_review())
        .await;
    assert_refused(result, "case_closed", RefusalKind::Rule);
}

// ---------------------------------------------------------------------------------------
// Answer.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn answer_of_a_case_in_review() {
    framework()
        .given(vec![submitted(), taken_into_review()])
        .when_async(answer())
        .await
        .then_expect_events(vec![answered()]);
}

#[tokio::test]
async fn answer_of_a_closed_case_is_refused() {
    let result = framework()
        .given(vec![submitted(), taken_into_review(), closed()])
        .when_async(answer())
        .await;
    assert_refused(result, "case_closed", RefusalKind::Rule);
}

#[tokio::test]
async fn answer_of_a_missing_case_is_refused() {
    let result = framework()
        .given_no_previous_events()
        .when_async(answer())
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
}

// ---------------------------------------------------------------------------------------
// ChangeStatus.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn change_status_to_in_progress() {
    framework()
        .given(vec![submitted(), taken_into_review()])
        .when_async(change_status(RequestStatus::InProgress))
        .await
        .then_expect_events(vec![RequestEvent::RequestStatusChanged {
            clerk: clerk(),
            from: RequestStatus::InReview,
            to: RequestStatus::InProgress,
            at: later(10),
        }]);
}

#[tokio::test]
async fn change_status_to_a_status_that_follows_from_its_own_act_is_refused() {
    for status in [
        RequestStatus::Answered,
        RequestStatus::Closed,
        RequestStatus::Submitted,
    ] {
        let result = framework()
            .given(vec![submitted(), taken_into_review()])
            .when_async(change_status(status))
            .await;
        assert_refused(result, "status_not_settable", RefusalKind::Invalid);
    }
}

#[tokio::test]
async fn change_status_to_the_current_status_is_refused() {
    let result = framework()
        .given(vec![submitted(), taken_into_review()])
        .when_async(change_status(RequestStatus::InReview))
        .await;
    assert_refused(result, "status_unchanged", RefusalKind::Rule);
}

#[tokio::test]
async fn change_status_before_review_is_refused() {
    let result = framework()
        .given(vec![submitted()])
        .when_async(change_status(RequestStatus::InProgress))
        .await;
    assert_refused(result, "review_first", RefusalKind::Rule);
}

#[tokio::test]
async fn change_status_of_a_closed_case_is_refused() {
    let result = framework()
        .given(vec![submitted(), taken_into_review(), closed()])
        .when_async(change_status(RequestStatus::InProgress))
        .await;
    assert_refused(result, "case_closed", RefusalKind::Rule);
}

// ---------------------------------------------------------------------------------------
// RegisterInProtocol.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn register_in_protocol_records_the_receipt() {
    let protocol = FakeProtocol::answering();
    framework_with(&protocol)
        .given(vec![submitted(), taken_into_review()])
        .when_async(register())
        .await
        .then_expect_events(vec![protocolled()]);

    let sent = protocol.received();
    assert_eq!(sent.len(), 1, "the port is called exactly once");
    assert_eq!(sent[0].idempotency_key, format!("CitizenRequest:{CASE_ID}"));
    assert_eq!(sent[0].subject, "Λακκούβα στην οδό Ερμού");
    assert_eq!(sent[0].sender, "Γιώργος Νικολάου");
    assert_eq!(sent[0].case_number, "2026/000123");
}

#[tokio::test]
async fn register_in_protocol_of_an_anonymous_case_sends_no_name() {
    let protocol = FakeProtocol::answering();
    framework_with(&protocol)
        .given(vec![submitted_anonymously()])
        .when_async(register())
        .await
        .then_expect_events(vec![protocolled()]);

    let sent = protocol.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sender, "Ανώνυμος");
    assert_eq!(sent[0].idempotency_key, format!("CitizenRequest:{CASE_ID}"));
}

#[tokio::test]
async fn register_in_protocol_twice_is_refused_without_calling_the_port() {
    let protocol = FakeProtocol::answering();
    let result = framework_with(&protocol)
        .given(vec![submitted(), taken_into_review(), protocolled()])
        .when_async(register())
        .await;
    assert_refused(result, "already_protocolled", RefusalKind::Rule);
    assert!(protocol.received().is_empty());
}

#[tokio::test]
async fn register_in_protocol_while_the_system_is_unreachable_is_refused() {
    let protocol = FakeProtocol::unavailable();
    let result = framework_with(&protocol)
        .given(vec![submitted(), taken_into_review()])
        .when_async(register())
        .await;
    assert_refused(result, "protocol_unavailable", RefusalKind::Unavailable);
    assert_eq!(protocol.received().len(), 1, "the port was asked");
}

#[tokio::test]
async fn register_in_protocol_rejected_by_the_system_is_refused() {
    let protocol = FakeProtocol::rejecting();
    let result = framework_with(&protocol)
        .given(vec![submitted(), taken_into_review()])
        .when_async(register())
        .await;
    assert_refused(result, "protocol_rejected", RefusalKind::Rule);
    assert_eq!(protocol.received().len(), 1, "the port was asked");
}

#[tokio::test]
async fn register_in_protocol_of_a_closed_case_is_refused_without_calling_the_port() {
    let protocol = FakeProtocol::answering();
    let result = framework_with(&protocol)
        .given(vec![submitted(), closed()])
        .when_async(register())
        .await;
    assert_refused(result, "case_closed", RefusalKind::Rule);
    assert!(protocol.received().is_empty());
}

// ---------------------------------------------------------------------------------------
// Close.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn close_as_done_needs_no_note() {
    framework()
        .given(vec![submitted(), taken_into_review(), answered()])
        .when_async(close(CloseReason::Done, None))
        .await
        .then_expect_events(vec![closed()]);
}

#[tokio::test]
async fn close_as_duplicate_with_a_note() {
    framework()
        .given(vec![submitted(), taken_into_review()])
        .when_async(close(
            CloseReason::Duplicate,
            Some("Ίδιο με την υπόθεση 2026/000101."),
        ))
        .await
        .then_expect_events(vec![RequestEvent::RequestClosed {
            clerk: clerk(),
            reason: CloseReason::Duplicate,
            note: Some("Ίδιο με την υπόθεση 2026/000101.".to_string()),
            at: later(90),
        }]);
}

#[tokio::test]
async fn close_without_a_note_is_refused_for_every_reason_but_done() {
    for reason in [
        CloseReason::NotCompetent,
        CloseReason::Duplicate,
        CloseReason::Rejected,
    ] {
        let result = framework()
            .given(vec![submitted(), taken_into_review()])
            .when_async(close(reason, None))
            .await;
        assert_refused(result, "close_note_required", RefusalKind::Invalid);
    }
}

#[tokio::test]
async fn close_of_a_closed_case_is_refused() {
    let result = framework()
        .given(vec![submitted(), closed()])
        .when_async(close(CloseReason::Done, None))
        .await;
    assert_refused(result, "case_already_closed", RefusalKind::Rule);
}

#[tokio::test]
async fn close_of_a_missing_case_is_refused() {
    let result = framework()
        .given_no_previous_events()
        .when_async(close(CloseReason::Done, None))
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
}

// ---------------------------------------------------------------------------------------
// Reopen.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn reopen_by_the_owner_of_a_closed_case() {
    framework()
        .given(vec![submitted(), taken_into_review(), answered(), closed()])
        .when_async(reopen(OWNER))
        .await
        .then_expect_events(vec![reopened()]);
}

#[tokio::test]
async fn reopen_by_another_citizen_looks_like_a_missing_case() {
    let result = framework()
        .given(vec![submitted(), closed()])
        .when_async(reopen("citizen-99"))
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
}

#[tokio::test]
async fn reopen_of_an_anonymous_case_looks_like_a_missing_case() {
    let result = framework()
        .given(vec![submitted_anonymously(), closed()])
        .when_async(reopen(OWNER))
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
}

#[tokio::test]
async fn reopen_of_a_missing_case_is_refused() {
    let result = framework()
        .given_no_previous_events()
        .when_async(reopen(OWNER))
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
}

#[tokio::test]
async fn reopen_of_an_open_case_is_refused() {
    let result = framework()
        .given(vec![submitted(), taken_into_review(), answered()])
        .when_async(reopen(OWNER))
        .await;
    assert_refused(result, "reopen_not_closed", RefusalKind::Rule);
}

#[tokio::test]
async fn reopen_a_second_time_is_refused() {
    let result = framework()
        .given(vec![
            submitted(),
            closed(),
            reopened(),
            taken_into_review(),
            closed(),
        ])
        .when_async(reopen(OWNER))
        .await;
    assert_refused(result, "reopen_only_once", RefusalKind::Rule);
}

// ---------------------------------------------------------------------------------------
// apply.
// ---------------------------------------------------------------------------------------

#[test]
fn apply_folds_a_full_history() {
    let history = vec![
        submitted(),
        taken_into_review(),
        RequestEvent::RequestStatusChanged {
            clerk: clerk(),
            from: RequestStatus::InReview,
            to: RequestStatus::InProgress,
            at: later(10),
        },
        protocolled(),
        answered(),
        closed(),
        reopened(),
    ];
    let mut case = CitizenRequest::default();
    for event in history {
        case.apply(event);
    }

    assert_eq!(case.id, CASE_ID);
    assert_eq!(case.number, Some(number()));
    assert_eq!(case.kind, Some(RequestKind::Complaint));
    assert_eq!(case.status, Some(RequestStatus::Reopened));
    assert_eq!(case.subject, "Λακκούβα στην οδό Ερμού");
    assert_eq!(
        case.desired_action.as_deref(),
        Some("Να κλείσει η λακκούβα.")
    );
    assert_eq!(case.submitter, Some(citizen()));
    assert_eq!(
        case.answer.as_deref(),
        Some("Το συνεργείο θα επισκευάσει τον δρόμο την Πέμπτη.")
    );
    assert_eq!(case.protocol_number.as_deref(), Some(PROTOCOL_NUMBER));
    assert_eq!(case.protocol_date, Some(later(30)));
    assert_eq!(case.assigned_to, Some(clerk()));
    assert_eq!(case.close_reason, None, "reopening clears the close reason");
    assert_eq!(case.close_note, None);
    assert_eq!(case.times_reopened, 1);
    assert_eq!(case.submitted_at, Some(at()));
    assert_eq!(case.updated_at, Some(later(120)));
}

/// `RequestEvent::status_after` (what the read models take a case's status from) says
/// what the aggregate's own fold says, event by event of a full history.
#[test]
fn status_after_is_the_status_the_aggregate_folds_to() {
    let history = vec![
        submitted(),
        taken_into_review(),
        RequestEvent::RequestStatusChanged {
            clerk: clerk(),
            from: RequestStatus::InReview,
            to: RequestStatus::OnHold,
            at: later(10),
        },
        protocolled(),
        answered(),
        closed(),
        reopened(),
    ];
    let mut case = CitizenRequest::default();
    for event in history {
        let before = case.status;
        let said = event.status_after();
        case.apply(event);
        assert_eq!(case.status, said.or(before));
    }
    assert_eq!(case.status, Some(RequestStatus::Reopened));
}

#[test]
fn apply_of_a_closing_records_reason_and_note() {
    let mut case = CitizenRequest::default();
    case.apply(submitted());
    case.apply(RequestEvent::RequestClosed {
        clerk: clerk(),
        reason: CloseReason::NotCompetent,
        note: Some("Διαβιβάστηκε στην Περιφέρεια.".to_string()),
        at: later(90),
    });

    assert_eq!(case.status, Some(RequestStatus::Closed));
    assert_eq!(case.close_reason, Some(CloseReason::NotCompetent));
    assert_eq!(
        case.close_note.as_deref(),
        Some("Διαβιβάστηκε στην Περιφέρεια.")
    );
    assert_eq!(case.times_reopened, 0);
}

/// The event log writes a new case's serial into the stored event at
/// `CASE_NUMBER_SERIAL_PATH`: the path must name the number's serial.
#[test]
fn the_stored_submission_carries_its_serial_where_the_log_writes_it() {
    let stored =
        serde_json::to_value(submitted_by(RequestKind::Comment, anonymous(), None)).unwrap();
    let pointer = format!("/{}", crate::values::CASE_NUMBER_SERIAL_PATH.join("/"));
    assert_eq!(stored.pointer(&pointer), Some(&serde_json::json!(123)));
}
