//! Given/when/then tests for `CertificateApplication`: every command, accepted and refused.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use cqrs_es::test::{AggregateResultValidator, TestFramework};
use cqrs_es::Aggregate;

use super::{ApplicationCommand, ApplicationServices, CertificateApplication, RetryPolicy};
use crate::application::{
    Applicant, ApplicationDetails, ApplicationEvent, ApplicationStatus, Delivery, Issue,
};
use crate::ports::{ProtocolDocument, ProtocolError, ProtocolReceipt, ProtocolSystem};
use crate::refusal::RefusalKind;
use crate::request::StaffMember;
use crate::values::{CaseNumber, CaseText, Note, Question, Reply};

const ID: &str = "7d4c2a9e-0000-4000-8000-000000000002";
const OWNER: &str = "citizen-42";

struct FakeProtocol {
    outcome: Result<ProtocolReceipt, ProtocolError>,
    received: Mutex<Vec<ProtocolDocument>>,
}

#[async_trait]
impl ProtocolSystem for FakeProtocol {
    async fn register(&self, d: &ProtocolDocument) -> Result<ProtocolReceipt, ProtocolError> {
        self.received.lock().expect("poisoned").push(d.clone());
        self.outcome.clone()
    }
}

fn protocol(outcome: Result<ProtocolReceipt, ProtocolError>) -> Arc<FakeProtocol> {
    Arc::new(FakeProtocol {
        outcome,
        received: Mutex::new(Vec::new()),
    })
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

fn later(minutes: i64) -> DateTime<Utc> {
    at() + Duration::minutes(minutes)
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        first: Duration::minutes(5),
        every: Duration::minutes(30),
    }
}

fn framework_with(p: &Arc<FakeProtocol>) -> TestFramework<CertificateApplication> {
    TestFramework::with(ApplicationServices {
        protocol: p.clone(),
        retry: retry(),
    })
}

fn framework() -> TestFramework<CertificateApplication> {
    framework_with(&protocol(Ok(receipt())))
}

fn receipt() -> ProtocolReceipt {
    ProtocolReceipt {
        protocol_number: "ΠΡΩΤ-2026/900".into(),
        registered_at: later(1),
    }
}

fn clerk() -> StaffMember {
    StaffMember {
        account_id: "clerk-7".into(),
        name: "Νίκος Δημητρίου".into(),
    }
}

fn applicant() -> Applicant {
    Applicant {
        account_id: OWNER.into(),
        name: "Γιώργος Νικολάου".into(),
        business: None,
    }
}

fn details() -> ApplicationDetails {
    ApplicationDetails::CivilRegistry {
        certificate_type: "family_status".into(),
        certificate_name: "Πιστοποιητικό Οικογενειακής Κατάστασης".into(),
    }
}

fn number() -> CaseNumber {
    CaseNumber {
        year: 2026,
        serial: 12,
    }
}

fn due() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
}

fn submit(certified: bool, delivery: Delivery) -> ApplicationCommand {
    ApplicationCommand::Submit {
        id: ID.into(),
        number: number(),
        applicant: applicant(),
        certified,
        details: details(),
        text: CaseText::parse("Για την εγγραφή του παιδιού στο σχολείο.").unwrap(),
        delivery,
        due_on: due(),
        at: at(),
    }
}

fn submitted(delivery: Delivery) -> ApplicationEvent {
    ApplicationEvent::ApplicationSubmitted {
        id: ID.into(),
        number: number(),
        applicant: applicant(),
        details: details(),
        text: "Για την εγγραφή του παιδιού στο σχολείο.".into(),
        delivery,
        due_on: due(),
        at: at(),
    }
}

fn registered() -> ApplicationEvent {
    ApplicationEvent::ApplicationProtocolRegistered {
        attempt: 1,
        protocol_number: "ΠΡΩΤ-2026/900".into(),
        protocol_date: later(1),
        at: later(1),
    }
}

fn reviewed() -> ApplicationEvent {
    ApplicationEvent::ApplicationTakenIntoReview {
        clerk: clerk(),
        at: later(2),
    }
}

fn asked() -> ApplicationEvent {
    ApplicationEvent::InformationRequested {
        clerk: clerk(),
        question: "Ποιο είναι το όνομα του πατέρα;".into(),
        at: later(3),
    }
}

fn answered() -> ApplicationEvent {
    ApplicationEvent::InformationProvided {
        account_id: OWNER.into(),
        reply: "Κωνσταντίνος".into(),
        at: later(4),
    }
}

fn rejected() -> ApplicationEvent {
    ApplicationEvent::ApplicationRejected {
        clerk: clerk(),
        reason: "Δεν είστε δημότης.".into(),
        at: later(5),
    }
}

fn electronic_issue() -> Issue {
    Issue::Electronic {
        document_id: "doc-1".into(),
        filename: "pistopoiitiko.pdf".into(),
        sha256: "ab".repeat(32),
        size_bytes: 1234,
    }
}

fn issue(issue: Issue) -> ApplicationCommand {
    ApplicationCommand::Issue {
        clerk: clerk(),
        issue,
        at: later(6),
    }
}

fn reject() -> ApplicationCommand {
    ApplicationCommand::Reject {
        clerk: clerk(),
        reason: Note::parse("Δεν είστε δημότης.").unwrap(),
        at: later(5),
    }
}

fn ask() -> ApplicationCommand {
    ApplicationCommand::RequestInformation {
        clerk: clerk(),
        question: Question::parse("Ποιο είναι το όνομα του πατέρα;").unwrap(),
        at: later(3),
    }
}

fn reply(account: &str) -> ApplicationCommand {
    ApplicationCommand::ProvideInformation {
        account_id: account.into(),
        reply: Reply::parse("Κωνσταντίνος").unwrap(),
        at: later(4),
    }
}

fn review() -> ApplicationCommand {
    ApplicationCommand::TakeIntoReview {
        clerk: clerk(),
        at: later(2),
    }
}

fn assert_refused(
    result: AggregateResultValidator<CertificateApplication>,
    code: &str,
    kind: RefusalKind,
) {
    match result.inspect_result() {
        Ok(events) => panic!("expected refusal {code:?}, got events {events:?}"),
        Err(refusal) => {
            assert_eq!(refusal.code, code, "detail: {}", refusal.detail);
            assert_eq!(refusal.kind, kind, "kind of {code:?}");
        }
    }
}

#[tokio::test]
async fn a_certified_user_submits() {
    framework()
        .given_no_previous_events()
        .when_async(submit(true, Delivery::Electronic))
        .await
        .then_expect_events(vec![submitted(Delivery::Electronic)]);
}

#[tokio::test]
async fn an_uncertified_user_is_refused() {
    let result = framework()
        .given_no_previous_events()
        .when_async(submit(false, Delivery::Electronic))
        .await;
    assert_refused(result, "certification_required", RefusalKind::Forbidden);
}

#[tokio::test]
async fn the_same_id_twice_is_refused() {
    let result = framework()
        .given(vec![submitted(Delivery::InPerson)])
        .when_async(submit(true, Delivery::InPerson))
        .await;
    assert_refused(result, "case_exists", RefusalKind::Rule);
}

#[tokio::test]
async fn protocol_registration_records_the_number_with_an_idempotency_key() {
    let p = protocol(Ok(receipt()));
    framework_with(&p)
        .given(vec![submitted(Delivery::Electronic)])
        .when_async(ApplicationCommand::RegisterInProtocol { at: later(1) })
        .await
        .then_expect_events(vec![registered()]);
    let sent = p.received.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].idempotency_key,
        format!("CertificateApplication:{ID}")
    );
    assert_eq!(sent[0].case_number, "2026/000012");
    assert!(sent[0].subject.contains("Οικογενειακής Κατάστασης"));
}

#[tokio::test]
async fn a_failed_attempt_is_recorded_with_backoff() {
    let down = protocol(Err(ProtocolError::Unavailable("connection refused".into())));
    framework_with(&down)
        .given(vec![submitted(Delivery::Electronic)])
        .when_async(ApplicationCommand::RegisterInProtocol { at: at() })
        .await
        .then_expect_events(vec![ApplicationEvent::ApplicationProtocolFailed {
            attempt: 1,
            error: "connection refused".into(),
            refused: false,
            next_attempt_at: at() + Duration::minutes(5),
            at: at(),
        }]);
    let first_failure = ApplicationEvent::ApplicationProtocolFailed {
        attempt: 1,
        error: "connection refused".into(),
        refused: false,
        next_attempt_at: later(5),
        at: at(),
    };
    let refusing = protocol(Err(ProtocolError::Rejected("bad subject".into())));
    framework_with(&refusing)
        .given(vec![submitted(Delivery::Electronic), first_failure.clone()])
        .when_async(ApplicationCommand::RegisterInProtocol { at: later(5) })
        .await
        .then_expect_events(vec![ApplicationEvent::ApplicationProtocolFailed {
            attempt: 2,
            error: "bad subject".into(),
            refused: true,
            next_attempt_at: later(35),
            at: later(5),
        }]);
    framework()
        .given(vec![submitted(Delivery::Electronic), first_failure])
        .when_async(ApplicationCommand::RegisterInProtocol { at: later(1) })
        .await
        .then_expect_events(vec![ApplicationEvent::ApplicationProtocolRegistered {
            attempt: 2,
            protocol_number: "ΠΡΩΤ-2026/900".into(),
            protocol_date: later(1),
            at: later(1),
        }]);
}

#[tokio::test]
async fn a_second_registration_is_refused_without_calling_the_protocol_system() {
    let p = protocol(Ok(receipt()));
    let result = framework_with(&p)
        .given(vec![submitted(Delivery::Electronic), registered()])
        .when_async(ApplicationCommand::RegisterInProtocol { at: later(9) })
        .await;
    assert_refused(result, "already_protocolled", RefusalKind::Rule);
    assert!(p.received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn registering_a_missing_application_is_refused() {
    let result = framework()
        .given_no_previous_events()
        .when_async(ApplicationCommand::RegisterInProtocol { at: at() })
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
}

#[tokio::test]
async fn review_then_ask_then_reply() {
    framework()
        .given(vec![submitted(Delivery::Electronic)])
        .when_async(review())
        .await
        .then_expect_events(vec![reviewed()]);
    framework()
        .given(vec![submitted(Delivery::Electronic), reviewed()])
        .when_async(ask())
        .await
        .then_expect_events(vec![asked()]);
    framework()
        .given(vec![submitted(Delivery::Electronic), reviewed(), asked()])
        .when_async(reply(OWNER))
        .await
        .then_expect_events(vec![answered()]);
}

#[tokio::test]
async fn review_refusals() {
    let result = framework()
        .given(vec![submitted(Delivery::Electronic), reviewed()])
        .when_async(review())
        .await;
    assert_refused(result, "application_review_not_allowed", RefusalKind::Rule);
    let result = framework()
        .given(vec![submitted(Delivery::Electronic), rejected()])
        .when_async(review())
        .await;
    assert_refused(result, "application_finished", RefusalKind::Rule);
    let result = framework()
        .given_no_previous_events()
        .when_async(review())
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
}

#[tokio::test]
async fn asking_refusals() {
    let result = framework()
        .given(vec![submitted(Delivery::Electronic)])
        .when_async(ask())
        .await;
    assert_refused(result, "review_first", RefusalKind::Rule);
    let result = framework()
        .given(vec![submitted(Delivery::Electronic), reviewed(), asked()])
        .when_async(ask())
        .await;
    assert_refused(result, "information_pending", RefusalKind::Rule);
}

#[tokio::test]
async fn replying_refusals() {
    let result = framework()
        .given(vec![submitted(Delivery::Electronic), reviewed(), asked()])
        .when_async(reply("someone-else"))
        .await;
    assert_refused(result, "case_not_found", RefusalKind::NotFound);
    let result = framework()
        .given(vec![submitted(Delivery::Electronic), reviewed()])
        .when_async(reply(OWNER))
        .await;
    assert_refused(result, "no_information_requested", RefusalKind::Rule);
}

#[tokio::test]
async fn issuing_electronically_after_review_and_protocol() {
    framework()
        .given(vec![
            submitted(Delivery::Electronic),
            registered(),
            reviewed(),
            asked(),
            answered(),
        ])
        .when_async(issue(electronic_issue()))
        .await
        .then_expect_events(vec![ApplicationEvent::CertificateIssued {
            clerk: clerk(),
            issue: electronic_issue(),
            at: later(6),
        }]);
    let post = Delivery::Post {
        address: "Ερμού 10, 10563 Αθήνα".into(),
    };
    framework()
        .given(vec![submitted(post), registered(), reviewed()])
        .when_async(issue(Issue::Post { note: None }))
        .await
        .then_expect_events(vec![ApplicationEvent::CertificateIssued {
            clerk: clerk(),
            issue: Issue::Post { note: None },
            at: later(6),
        }]);
}

#[tokio::test]
async fn issuing_refusals() {
    let cases: Vec<(Vec<ApplicationEvent>, Issue, &str, RefusalKind)> = vec![
        (
            vec![submitted(Delivery::Electronic), registered()],
            electronic_issue(),
            "review_first",
            RefusalKind::Rule,
        ),
        (
            vec![
                submitted(Delivery::Electronic),
                registered(),
                reviewed(),
                asked(),
            ],
            electronic_issue(),
            "information_pending",
            RefusalKind::Rule,
        ),
        (
            vec![submitted(Delivery::Electronic), reviewed()],
            electronic_issue(),
            "protocol_pending",
            RefusalKind::Rule,
        ),
        (
            vec![submitted(Delivery::InPerson), registered(), reviewed()],
            electronic_issue(),
            "issue_method_mismatch",
            RefusalKind::Invalid,
        ),
        (
            vec![
                submitted(Delivery::Electronic),
                registered(),
                reviewed(),
                rejected(),
            ],
            electronic_issue(),
            "application_finished",
            RefusalKind::Rule,
        ),
    ];
    for (given, what, code, kind) in cases {
        let result = framework().given(given).when_async(issue(what)).await;
        assert_refused(result, code, kind);
    }
}

#[tokio::test]
async fn rejecting() {
    framework()
        .given(vec![submitted(Delivery::Electronic)])
        .when_async(reject())
        .await
        .then_expect_events(vec![rejected()]);
    let result = framework()
        .given(vec![submitted(Delivery::Electronic), rejected()])
        .when_async(reject())
        .await;
    assert_refused(result, "application_finished", RefusalKind::Rule);
}

#[test]
fn the_state_folds() {
    let mut a = CertificateApplication::default();
    for e in [
        submitted(Delivery::Electronic),
        ApplicationEvent::ApplicationProtocolFailed {
            attempt: 1,
            error: "down".into(),
            refused: false,
            next_attempt_at: later(5),
            at: at(),
        },
        ApplicationEvent::ApplicationProtocolRegistered {
            attempt: 2,
            protocol_number: "ΠΡΩΤ-1".into(),
            protocol_date: later(5),
            at: later(5),
        },
        reviewed(),
        asked(),
    ] {
        a.apply(e);
    }
    assert_eq!(a.status, Some(ApplicationStatus::InformationRequested));
    assert_eq!(a.protocol_attempts, 2);
    assert_eq!(a.protocol_number.as_deref(), Some("ΠΡΩΤ-1"));
    assert_eq!(a.protocol_next_attempt_at, None);
    assert_eq!(
        a.open_question.as_deref(),
        Some("Ποιο είναι το όνομα του πατέρα;")
    );
    a.apply(answered());
    assert_eq!(a.status, Some(ApplicationStatus::InReview));
    assert_eq!(a.open_question, None);
}

/// `ApplicationEvent::status_after` (what the read models take an application's status
/// from) says what the aggregate's own fold says, event by event, through to a rejection
/// and to an issue.
#[test]
fn status_after_is_the_status_the_aggregate_folds_to() {
    let issued = ApplicationEvent::CertificateIssued {
        clerk: clerk(),
        issue: Issue::Post { note: None },
        at: later(60),
    };
    for (last, end) in [
        (rejected(), ApplicationStatus::Rejected),
        (issued, ApplicationStatus::Issued),
    ] {
        let mut a = CertificateApplication::default();
        for e in [
            submitted(Delivery::Electronic),
            ApplicationEvent::ApplicationProtocolFailed {
                attempt: 1,
                error: "down".into(),
                refused: false,
                next_attempt_at: later(5),
                at: at(),
            },
            registered(),
            reviewed(),
            asked(),
            answered(),
            last,
        ] {
            let (before, said) = (a.status, e.status_after());
            a.apply(e);
            assert_eq!(a.status, said.or(before));
        }
        assert_eq!(a.status, Some(end));
    }
}

#[test]
fn the_due_date_counts_calendar_days() {
    let d = super::super::due_date(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(), 10);
    assert_eq!(d, NaiveDate::from_ymd_opt(2027, 1, 4).unwrap());
}

/// The event log writes a new application's serial into the stored event at
/// `CASE_NUMBER_SERIAL_PATH`: the path must name the number's serial.
#[test]
fn the_stored_application_carries_its_serial_where_the_log_writes_it() {
    let stored = serde_json::to_value(submitted(Delivery::Electronic)).unwrap();
    let pointer = format!("/{}", crate::values::CASE_NUMBER_SERIAL_PATH.join("/"));
    assert_eq!(
        stored.pointer(&pointer),
        Some(&serde_json::json!(number().serial))
    );
}
