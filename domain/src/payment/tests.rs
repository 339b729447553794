//! The payment state machine: every state × every input, as a table, plus the properties
//! that matter for money (idempotent confirmations in any order, mismatches change nothing).

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
}

fn later(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

const AMOUNT: Money = Money::from_cents(8_000);

fn obligation() -> Obligation {
    Obligation {
        kind: "traffic_fine".into(),
        reference: "ΚΟΚ-123456".into(),
        description: "Πρόστιμο ΚΟΚ 123456 (ΥΧΡ-1234)".into(),
    }
}

fn create() -> PaymentCommand {
    PaymentCommand::Create {
        id: "pay-1".into(),
        order_id: "ORD-1".into(),
        obligation: obligation(),
        amount_cents: AMOUNT,
        currency: "EUR".into(),
        payer_account_id: "acc-1".into(),
        expires_at: later(30),
        at: t0(),
    }
}

fn created() -> PaymentEvent {
    PaymentEvent::PaymentCreated {
        id: "pay-1".into(),
        order_id: "ORD-1".into(),
        obligation: obligation(),
        amount_cents: AMOUNT,
        currency: "EUR".into(),
        payer_account_id: "acc-1".into(),
        expires_at: later(30),
        at: t0(),
    }
}

fn captured() -> BankResult {
    BankResult::Captured {
        tx_id: "TX-9".into(),
        payment_ref: "REF-9".into(),
    }
}

fn confirm(result: BankResult) -> PaymentCommand {
    PaymentCommand::Confirm {
        source: ConfirmationSource::BrowserReturn,
        order_id: "ORD-1".into(),
        amount_cents: Some(AMOUNT),
        currency: Some("EUR".into()),
        result,
        at: later(5),
    }
}

/// The history that puts a payment in `state` (`None`: no payment).
fn history(state: Option<PaymentStatus>) -> Vec<PaymentEvent> {
    let redirected = PaymentEvent::PaymentRedirected { at: later(1) };
    let source = ConfirmationSource::Notification;
    let mut events = vec![created()];
    match state {
        None => return vec![],
        Some(PaymentStatus::Created) => {}
        Some(PaymentStatus::Redirected) => events.push(redirected),
        Some(PaymentStatus::Succeeded) => events.extend([
            redirected,
            PaymentEvent::PaymentSucceeded {
                source,
                tx_id: "TX-9".into(),
                payment_ref: "REF-9".into(),
                after_expiry: false,
                at: later(2),
            },
        ]),
        Some(PaymentStatus::Failed) => events.extend([
            redirected,
            PaymentEvent::PaymentFailed {
                source,
                reason: "declined".into(),
                at: later(2),
            },
        ]),
        Some(PaymentStatus::Cancelled) => events.extend([
            redirected,
            PaymentEvent::PaymentCancelled {
                source,
                at: later(2),
            },
        ]),
        Some(PaymentStatus::Error) => events.extend([
            redirected,
            PaymentEvent::PaymentErrored {
                source,
                reason: "bank error".into(),
                at: later(2),
            },
        ]),
        Some(PaymentStatus::Expired) => {
            events.extend([redirected, PaymentEvent::PaymentExpired { at: later(31) }])
        }
    }
    events
}

/// What a command did: the type of the one event it wrote, nothing, or a refusal code.
fn outcome(given: Vec<PaymentEvent>, command: PaymentCommand) -> String {
    let result = TestFramework::<Payment>::with(())
        .given(given)
        .when(command)
        .inspect_result();
    match result {
        Ok(events) if events.is_empty() => "-".to_string(),
        Ok(events) => {
            assert_eq!(events.len(), 1, "one event per command: {events:?}");
            events[0].event_type()
        }
        Err(refusal) => format!("!{}", refusal.code),
    }
}

#[test]
fn every_state_by_every_input() {
    use PaymentStatus::*;
    let inputs: Vec<(&str, PaymentCommand)> = vec![
        ("create", create()),
        ("redirect", PaymentCommand::Redirect { at: later(1) }),
        ("redirect late", PaymentCommand::Redirect { at: later(31) }),
        ("captured", confirm(captured())),
        (
            "refused",
            confirm(BankResult::Refused {
                reason: "declined".into(),
            }),
        ),
        ("cancelled", confirm(BankResult::Cancelled)),
        (
            "error",
            confirm(BankResult::Error {
                reason: "bank error".into(),
            }),
        ),
        (
            "other amount",
            PaymentCommand::Confirm {
                source: ConfirmationSource::Notification,
                order_id: "ORD-1".into(),
                amount_cents: Some(AMOUNT - Money::from_cents(1)),
                currency: Some("EUR".into()),
                result: captured(),
                at: later(5),
            },
        ),
        (
            "other order",
            PaymentCommand::Confirm {
                source: ConfirmationSource::Notification,
                order_id: "ORD-2".into(),
                amount_cents: Some(AMOUNT),
                currency: Some("EUR".into()),
                result: captured(),
                at: later(5),
            },
        ),
        ("expire due", PaymentCommand::Expire { at: later(30) }),
        ("expire early", PaymentCommand::Expire { at: later(29) }),
        (
            "refund due",
            PaymentCommand::MarkRefundDue {
                reason: "fine_already_paid".into(),
                at: later(40),
            },
        ),
        ("refunded", refund("Ταμείο, απόδειξη 17")),
    ];
    let nf = "!payment_not_found";
    let ex = "!payment_exists";
    let mm = "!confirmation_mismatch";
    let st = "!payment_settled";
    let nc = "!payment_not_captured";
    let nd = "!refund_not_due";
    // Columns in the order of `inputs`.
    #[rustfmt::skip]
    let table: Vec<(Option<PaymentStatus>, [&str; 13])> = vec![
        (None, ["PaymentCreated", nf, nf, nf, nf, nf, nf, nf, nf, nf, nf, nf, nf]),
        (Some(Created), [ex, "PaymentRedirected", "!payment_expired", "!payment_not_started",
            "!payment_not_started", "!payment_not_started", "!payment_not_started", mm, mm,
            "PaymentExpired", "!payment_not_expired", nc, nd]),
        (Some(Redirected), [ex, "!payment_already_redirected", "!payment_already_redirected",
            "PaymentSucceeded", "PaymentFailed", "PaymentCancelled", "PaymentErrored", mm, mm,
            "PaymentExpired", "!payment_not_expired", nc, nd]),
        (Some(Succeeded), [ex, st, st, "-", st, st, st, mm, mm, st, st, "PaymentRefundDue", nd]),
        (Some(Failed), [ex, st, st, st, "-", st, st, mm, mm, st, st, nc, nd]),
        (Some(Cancelled), [ex, st, st, st, st, "-", st, mm, mm, st, st, nc, nd]),
        (Some(Error), [ex, st, st, st, st, st, "-", mm, mm, st, st, nc, nd]),
        (Some(Expired), [ex, st, st, "PaymentSucceeded", "-", "-", "-", mm, mm, st, st, nc, nd]),
    ];
    let mut wrong = Vec::new();
    for (state, expected) in table {
        for ((name, command), want) in inputs.iter().zip(expected) {
            let got = outcome(history(state), command.clone());
            if got != want {
                wrong.push(format!("{state:?} × {name}: expected {want}, got {got}"));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

fn refund(note: &str) -> PaymentCommand {
    PaymentCommand::RecordRefund {
        clerk: StaffMember {
            account_id: "clerk-1".into(),
            name: "Ελένη Ταμία".into(),
        },
        note: note.into(),
        at: later(60),
    }
}

#[test]
fn a_refund_is_recorded_once_only_when_due_and_with_a_note() {
    let mut due = history(Some(PaymentStatus::Succeeded));
    due.push(PaymentEvent::PaymentRefundDue {
        reason: "fine_already_paid".into(),
        at: later(40),
    });
    assert_eq!(outcome(due.clone(), refund("  ")), "!refund_note_required");
    assert_eq!(
        outcome(due.clone(), refund(&"α".repeat(MAX_REFUND_NOTE_CHARS + 1))),
        "!refund_note_too_long"
    );
    assert_eq!(
        outcome(due.clone(), refund(&"α".repeat(MAX_REFUND_NOTE_CHARS))),
        "PaymentRefunded"
    );
    TestFramework::<Payment>::with(())
        .given(due.clone())
        .when(refund(" Ταμείο, απόδειξη 17 "))
        .then_expect_events(vec![PaymentEvent::PaymentRefunded {
            clerk: StaffMember {
                account_id: "clerk-1".into(),
                name: "Ελένη Ταμία".into(),
            },
            note: "Ταμείο, απόδειξη 17".into(),
            at: later(60),
        }]);
    due.push(PaymentEvent::PaymentRefunded {
        clerk: StaffMember {
            account_id: "clerk-1".into(),
            name: "Ελένη Ταμία".into(),
        },
        note: "Ταμείο, απόδειξη 17".into(),
        at: later(60),
    });
    // Pressed twice: recorded once.
    assert_eq!(outcome(due, refund("Ταμείο, απόδειξη 17")), "-");
}

#[test]
fn a_refund_is_marked_due_once_and_the_payment_stays_captured() {
    let mark = || PaymentCommand::MarkRefundDue {
        reason: "fine_already_paid".into(),
        at: later(40),
    };
    let mut given = history(Some(PaymentStatus::Succeeded));
    given.push(PaymentEvent::PaymentRefundDue {
        reason: "fine_already_paid".into(),
        at: later(40),
    });
    // Marked again (the notifier's pass repeated after a crash): nothing new.
    assert_eq!(outcome(given.clone(), mark()), "-");
    // The bank's same confirmation still changes nothing; the state says both.
    assert_eq!(outcome(given.clone(), confirm(captured())), "-");
    let mut payment = Payment::default();
    for event in given {
        payment.apply(event);
    }
    assert_eq!(payment.status, Some(PaymentStatus::Succeeded));
    assert_eq!(payment.refund_due.as_deref(), Some("fine_already_paid"));
}

#[test]
fn a_late_capture_after_expiry_is_recorded_as_such() {
    TestFramework::<Payment>::with(())
        .given(history(Some(PaymentStatus::Expired)))
        .when(confirm(captured()))
        .then_expect_events(vec![PaymentEvent::PaymentSucceeded {
            source: ConfirmationSource::BrowserReturn,
            tx_id: "TX-9".into(),
            payment_ref: "REF-9".into(),
            after_expiry: true,
            at: later(5),
        }]);
}

#[test]
fn the_same_confirmation_from_every_source_in_any_order_is_applied_once() {
    let mut payment = Payment::default();
    for e in history(Some(PaymentStatus::Redirected)) {
        payment.apply(e);
    }
    let sources = [
        ConfirmationSource::Notification,
        ConfirmationSource::BrowserReturn,
        ConfirmationSource::StatusQuery,
        ConfirmationSource::Notification,
    ];
    let mut written = 0;
    for source in sources {
        let command = PaymentCommand::Confirm {
            source,
            order_id: "ORD-1".into(),
            amount_cents: Some(AMOUNT),
            currency: Some("EUR".into()),
            result: captured(),
            at: later(5),
        };
        let events = TestFramework::<Payment>::with(())
            .given({
                let mut h = history(Some(PaymentStatus::Redirected));
                if written > 0 {
                    h.push(PaymentEvent::PaymentSucceeded {
                        source: ConfirmationSource::Notification,
                        tx_id: "TX-9".into(),
                        payment_ref: "REF-9".into(),
                        after_expiry: false,
                        at: later(5),
                    });
                }
                h
            })
            .when(command)
            .inspect_result()
            .expect("a repeated confirmation is not an error");
        written += events.len();
    }
    assert_eq!(written, 1);
}

#[test]
fn a_payment_needs_a_positive_amount_and_a_future_expiry() {
    let mut zero = create();
    if let PaymentCommand::Create { amount_cents, .. } = &mut zero {
        *amount_cents = Money::from_cents(0);
    }
    assert_eq!(outcome(vec![], zero), "!amount_not_positive");
    let mut past = create();
    if let PaymentCommand::Create { expires_at, .. } = &mut past {
        *expires_at = t0();
    }
    assert_eq!(outcome(vec![], past), "!expiry_in_the_past");
}

#[test]
fn the_state_folds() {
    let mut p = Payment::default();
    for e in history(Some(PaymentStatus::Succeeded)) {
        p.apply(e);
    }
    assert_eq!(p.status, Some(PaymentStatus::Succeeded));
    assert_eq!(p.result, Some(captured()));
    assert_eq!(p.amount_cents, AMOUNT);
    assert!(PaymentStatus::Succeeded.is_final());
    assert!(!PaymentStatus::Redirected.is_final());
}

#[test]
fn a_new_attempt_may_follow_only_a_payment_that_took_no_money() {
    use PaymentStatus as S;
    let took_none: Vec<S> = S::ALL.into_iter().filter(|s| s.took_no_money()).collect();
    assert_eq!(
        took_none,
        vec![S::Failed, S::Cancelled, S::Expired, S::Error]
    );
}
