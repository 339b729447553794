//! The settlement machine: every stage × every input, as a table.

use chrono::{Duration, TimeZone};

use super::*;

struct Obligation;

impl Payable for Obligation {
    fn settlement(&self) -> Settlement<'_> {
        unreachable!("the table gives the settlement")
    }
    fn already_paid() -> Refusal {
        Refusal::rule("paid", "")
    }
    fn payment_in_progress() -> Refusal {
        Refusal::rule("busy", "")
    }
    fn unknown_payment() -> Refusal {
        Refusal::rule("unknown", "")
    }
    fn not_paid_by_payment() -> Refusal {
        Refusal::rule("not_paid_by", "")
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
}

fn outcome(result: Result<Decision, Refusal>) -> String {
    match result {
        Ok(Decision::Reserve { release: None }) => "reserve".into(),
        Ok(Decision::Reserve {
            release: Some(Release { payment_id, reason }),
        }) => format!("release {payment_id} {} + reserve", reason.as_str()),
        Ok(Decision::RecordPaid) => "paid".into(),
        Ok(Decision::RecordReleased) => "released".into(),
        Ok(Decision::RecordNotified) => "notified".into(),
        Ok(Decision::RecordNoticeRefused) => "notice refused".into(),
        Ok(Decision::RecordNoticeRetried) => "notice retried".into(),
        Ok(Decision::Unchanged) => "-".into(),
        Err(refusal) => format!("!{}", refusal.code),
    }
}

/// Every stage × every input. `p1` is the reservation's (or the settling) payment,
/// `p0` an earlier payment of the obligation, `p9` a payment it does not know.
#[test]
fn every_stage_by_every_input() {
    use PaymentStatus::*;
    let expiry = t0() + Duration::minutes(30);
    let status = |id: &str, s| (id.to_string(), s);
    let statuses: Vec<(String, PaymentStatus)> = vec![
        status("p1", Created),
        status("p1", Redirected),
        status("p1", Succeeded),
        status("p1", Failed),
        status("p1", Cancelled),
        status("p1", Expired),
        status("p1", Error),
        status("p9", Failed),
        status("p9", Succeeded),
    ];
    let reserve = |open, at| Input::Reserve {
        open_payment: open,
        at,
    };
    let inputs: Vec<(&str, Input)> = vec![
        ("reserve, not looked up", reserve(None, t0())),
        ("reserve, not looked up, expired", reserve(None, expiry)),
        ("reserve, p1 created", reserve(Some(&statuses[0]), t0())),
        (
            "reserve, p1 created, expired",
            reserve(Some(&statuses[0]), expiry),
        ),
        ("reserve, p1 redirected", reserve(Some(&statuses[1]), t0())),
        ("reserve, p1 succeeded", reserve(Some(&statuses[2]), t0())),
        ("reserve, p1 failed", reserve(Some(&statuses[3]), t0())),
        ("reserve, p1 cancelled", reserve(Some(&statuses[4]), t0())),
        ("reserve, p1 expired", reserve(Some(&statuses[5]), t0())),
        ("reserve, p1 error", reserve(Some(&statuses[6]), t0())),
        ("reserve, p9 failed", reserve(Some(&statuses[7]), t0())),
        ("reserve, p9 succeeded", reserve(Some(&statuses[8]), t0())),
        ("p1 paid", Input::Paid { payment_id: "p1" }),
        ("p0 paid", Input::Paid { payment_id: "p0" }),
        ("p9 paid", Input::Paid { payment_id: "p9" }),
        (
            "p1 not completed",
            Input::NotCompleted {
                payment_id: "p1",
                reason: ReleaseReason::PaymentDeclined,
            },
        ),
        (
            "p0 not completed",
            Input::NotCompleted {
                payment_id: "p0",
                reason: ReleaseReason::PaymentDeclined,
            },
        ),
        (
            "p9 not completed",
            Input::NotCompleted {
                payment_id: "p9",
                reason: ReleaseReason::PaymentDeclined,
            },
        ),
        ("p1 notified", Input::Notified { payment_id: "p1" }),
        ("p0 notified", Input::Notified { payment_id: "p0" }),
        (
            "p1 notice refused",
            Input::NoticeRefused { payment_id: "p1" },
        ),
        (
            "p0 notice refused",
            Input::NoticeRefused { payment_id: "p0" },
        ),
        ("p1 notice retried", Input::RetryNotice { payment_id: "p1" }),
        ("p0 notice retried", Input::RetryNotice { payment_id: "p0" }),
    ];
    let none: &[String] = &[];
    let both = &["p0".to_string(), "p1".to_string()];
    let reserved = Stage::Reserved {
        payment_id: "p1",
        expires_at: expiry,
    };
    let paid = |told| Stage::Paid {
        payment_id: "p1",
        told,
    };
    let stages: Vec<(&str, Settlement)> = vec![
        (
            "unreserved",
            Settlement {
                stage: Stage::Unreserved,
                known_payments: none,
            },
        ),
        (
            "reserved p1",
            Settlement {
                stage: reserved,
                known_payments: both,
            },
        ),
        (
            "released p1",
            Settlement {
                stage: Stage::Released { payment_id: "p1" },
                known_payments: both,
            },
        ),
        (
            "paid p1",
            Settlement {
                stage: paid(Told::NotYet),
                known_payments: both,
            },
        ),
        (
            "paid p1, notified",
            Settlement {
                stage: paid(Told::Notified),
                known_payments: both,
            },
        ),
        (
            "paid p1, refused",
            Settlement {
                stage: paid(Told::Refused),
                known_payments: both,
            },
        ),
    ];
    let (r, ip, ap, un, np) = ("reserve", "!busy", "!paid", "!unknown", "!not_paid_by");
    let nr = "!notice_not_refused";
    let ex = "release p1 payment_expired + reserve";
    // Rows in the order of `stages`, columns in the order of `inputs`.
    #[rustfmt::skip]
    let table: [[&str; 24]; 6] = [
        // unreserved
        [r, r, r, r, r, r, r, r, r, r, r, r,
         un, un, un, un, un, un, np, np, np, np, np, np],
        // reserved p1
        [ip, ex, ip, ip, ip, ap,
         "release p1 payment_declined + reserve", "release p1 payment_cancelled + reserve",
         ex, "release p1 payment_error + reserve", ip, ip,
         "paid", "paid", un, "released", "-", un, np, np, np, np, np, np],
        // released p1
        [r, r, r, r, r, ap, r, r, r, r, r, r,
         "paid", "paid", un, "-", "-", un, np, np, np, np, np, np],
        // paid p1
        [ap, ap, ap, ap, ap, ap, ap, ap, ap, ap, ap, ap,
         "-", ap, ap, ap, ap, ap, "notified", np, "notice refused", np, "-", np],
        // paid p1, notified
        [ap, ap, ap, ap, ap, ap, ap, ap, ap, ap, ap, ap,
         "-", ap, ap, ap, ap, ap, "-", np, "-", np, nr, np],
        // paid p1, refused
        [ap, ap, ap, ap, ap, ap, ap, ap, ap, ap, ap, ap,
         "-", ap, ap, ap, ap, ap, "notified", np, "-", np, "notice retried", np],
    ];
    let mut wrong = Vec::new();
    for ((stage, settlement), expected) in stages.iter().zip(table) {
        for ((name, input), want) in inputs.iter().zip(expected) {
            let got = outcome(decide::<Obligation>(*settlement, *input));
            if got != want {
                wrong.push(format!("{stage} × {name}: expected {want}, got {got}"));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn told_reads_the_two_fields() {
    assert_eq!(Told::of(false, false), Told::NotYet);
    assert_eq!(Told::of(true, false), Told::Notified);
    assert_eq!(Told::of(false, true), Told::Refused);
    assert_eq!(Told::of(true, true), Told::Notified);
    assert_eq!(
        [Told::NotYet, Told::Notified, Told::Refused].map(Told::as_str),
        ["pending", "notified", "refused"]
    );
    assert_eq!(
        ReleaseReason::of_status(PaymentStatus::Expired),
        Some(ReleaseReason::PaymentExpired)
    );
    assert_eq!(ReleaseReason::of_status(PaymentStatus::Succeeded), None);
}
