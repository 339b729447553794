//! The sandbox fines-management system (Διαχείριση Κλήσεων): a seeded register of traffic
//! fines that finds a fine by its ticket's details or registers it anew with its amount,
//! and records payments idempotently.
//!
//! Contract (the adapter is `commands::adapters::fines`); money in euro cents, times RFC 3339 UTC,
//! days counted in Europe/Athens:
//! - `POST /api/v1/fines/find-or-register`
//!   `{municipality_code, fine_type, fine_number, plate, offence_at}` → `200` (found) or
//!   `201` (registered) with a fine record `{fine_number, plate, fine_type, offence_at,
//!   base_cents, amount_due_cents, amount_valid_until (YYYY-MM-DD|null), origin
//!   ("found"|"registered"), paid (null|{payment_ref, amount_cents, paid_at})}`.
//!   A fine is found by number; its plate, type and offence time (to the minute) must
//!   match. Refusals: `422 {"error", "detail"}` with `error` one of `details_mismatch`,
//!   `municipality_code_foreign`, `fine_type_unknown`, `offence_in_future`, `invalid`.
//! - `POST /api/v1/fines/{fine_number}/payments` `{payment_ref, amount_cents,
//!   idempotency_key}` → `201` (recorded) or `200` (the same key again) with the record;
//!   `404 {"error":"not_found"}`; `409 {"error":"already_paid"}` (paid with another key);
//!   `422 {"error":"idempotency_key_reused"}` (same key, other ref or amount) or
//!   `{"error":"invalid"}`.
//!
//! A `5xx` means "unavailable, try later". Fault switches: `GET|PUT /_sandbox/faults`
//! `{"down": bool, "slow_ms": n, "fail_next": n, "malformed": bool}`: down answers 503,
//! slow delays every answer, fail_next answers 500 to the next n calls, malformed answers
//! `200` with a body that breaks the contract. `GET /_sandbox/fines` lists the register.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Athens;
use serde::{Deserialize, Serialize};

/// The system's fault switches (see [`crate::faults`]).
pub type FinesFaults = crate::faults::Faults;

/// A band of the sandbox's schedule: days `from_day..=to_day` after the offence (day 0 is
/// its date in Athens; no `to_day`: every later day) change the base amount by `percent`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxBand {
    pub from_day: u32,
    pub to_day: Option<u32>,
    pub percent: i32,
}

/// What the sandbox system knows of the municipality: its code, the fine types with
/// their base amounts, and the schedule. Bands must start at day 0 and cover every day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxRules {
    pub municipality_code: String,
    /// `(code, base_cents)`.
    pub types: Vec<(String, i64)>,
    pub bands: Vec<SandboxBand>,
}

impl Default for SandboxRules {
    /// The same example data as `config/fines.example.toml`.
    fn default() -> Self {
        Self {
            municipality_code: "9999".into(),
            types: vec![
                ("P01".into(), 8000),
                ("P02".into(), 8000),
                ("P03".into(), 4000),
                ("P04".into(), 2000),
            ],
            bands: vec![
                SandboxBand {
                    from_day: 0,
                    to_day: Some(10),
                    percent: -50,
                },
                SandboxBand {
                    from_day: 11,
                    to_day: Some(60),
                    percent: 0,
                },
                SandboxBand {
                    from_day: 61,
                    to_day: None,
                    percent: 20,
                },
            ],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxPayment {
    pub payment_ref: String,
    pub amount_cents: i64,
    pub paid_at: DateTime<Utc>,
    pub idempotency_key: String,
}

/// A fine in the sandbox's register.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxFine {
    pub fine_number: String,
    pub plate: String,
    pub fine_type: String,
    pub offence_at: DateTime<Utc>,
    pub base_cents: i64,
    /// `false` for the seeded fines, `true` for those registered through the API.
    pub registered_online: bool,
    pub paid: Option<SandboxPayment>,
}

/// The seeded fines' numbers (municipality `9999`; see [`FinesSandbox::new`]).
pub const SEEDED_EARLY: &str = "100000001";
pub const SEEDED_BASE: &str = "100000002";
pub const SEEDED_LATE: &str = "100000003";
pub const SEEDED_PAID: &str = "100000004";

#[derive(Default)]
struct Register {
    faults: FinesFaults,
    rules: SandboxRules,
    now: Option<DateTime<Utc>>,
    fines: Vec<SandboxFine>,
}

/// The sandbox's state, shared with tests that flip its switches directly.
#[derive(Clone, Default)]
pub struct FinesSandbox {
    register: Arc<Mutex<Register>>,
}

#[derive(Debug, Deserialize)]
struct FineQueryBody {
    municipality_code: String,
    fine_type: String,
    fine_number: String,
    plate: String,
    offence_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct PaymentBody {
    payment_ref: String,
    amount_cents: i64,
    idempotency_key: String,
}

#[derive(Serialize)]
struct Settlement<'a> {
    payment_ref: &'a str,
    amount_cents: i64,
    paid_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct RecordBody<'a> {
    fine_number: &'a str,
    plate: &'a str,
    fine_type: &'a str,
    offence_at: DateTime<Utc>,
    base_cents: i64,
    amount_due_cents: i64,
    amount_valid_until: Option<NaiveDate>,
    origin: &'static str,
    paid: Option<Settlement<'a>>,
}

fn athens_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Athens).date_naive()
}

/// `at` in Athens, `days_ago` days before `now`, as UTC.
fn athens_time(now: DateTime<Utc>, days_ago: u64, hour: u32, minute: u32) -> DateTime<Utc> {
    let day = athens_date(now) - Days::new(days_ago);
    let time = NaiveTime::from_hms_opt(hour, minute, 0).expect("a valid time of day");
    Athens
        .from_local_datetime(&day.and_time(time))
        .earliest()
        .expect("seed times avoid the DST gap")
        .with_timezone(&Utc)
}

fn truncate_to_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}

impl FinesSandbox {
    /// A sandbox with [`SandboxRules::default`] and four seeded fines, dated relative to
    /// today so the demo always shows each band: `100000001` ΥΧΡ-1234 P01 3 days ago
    /// (reduced), `100000002` ΙΚΑ-5678 P03 30 days ago (base amount), `100000003`
    /// ΝΒΧ-9012 P02 90 days ago (surcharged), `100000004` ΚΗ-3456 P04 5 days ago, paid.
    pub fn new() -> Self {
        Self::with_rules(SandboxRules::default(), Utc::now())
    }

    /// A sandbox with these rules and the seeded fines dated relative to `now` (which
    /// becomes the sandbox's fixed clock).
    pub fn with_rules(rules: SandboxRules, now: DateTime<Utc>) -> Self {
        let seed = |number: &str, plate: &str, fine_type: &str, offence_at| SandboxFine {
            fine_number: number.into(),
            plate: plate.into(),
            fine_type: fine_type.into(),
            offence_at,
            base_cents: rules
                .types
                .iter()
                .find(|(code, _)| code == fine_type)
                .map_or(8000, |(_, cents)| *cents),
            registered_online: false,
            paid: None,
        };
        let mut paid = seed(SEEDED_PAID, "ΚΗ-3456", "P04", athens_time(now, 5, 12, 0));
        paid.paid = Some(SandboxPayment {
            payment_ref: "SANDBOX-PAID-0001".into(),
            amount_cents: 1000,
            paid_at: athens_time(now, 4, 9, 0),
            idempotency_key: "seed-paid-0001".into(),
        });
        let fines = vec![
            seed(SEEDED_EARLY, "ΥΧΡ-1234", "P01", athens_time(now, 3, 10, 30)),
            seed(SEEDED_BASE, "ΙΚΑ-5678", "P03", athens_time(now, 30, 9, 15)),
            seed(SEEDED_LATE, "ΝΒΧ-9012", "P02", athens_time(now, 90, 18, 45)),
            paid,
        ];
        let register = Register {
            faults: FinesFaults::default(),
            rules,
            now: Some(now),
            fines,
        };
        Self {
            register: Arc::new(Mutex::new(register)),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/fines/find-or-register", post(find_or_register))
            .route("/api/v1/fines/{fine_number}/payments", post(mark_paid))
            .route("/_sandbox/faults", get(get_faults).put(put_faults))
            .route("/_sandbox/fines", get(list_fines))
            .with_state(self.clone())
    }

    pub fn set_faults(&self, faults: FinesFaults) {
        self.lock().faults = faults;
    }

    /// Fixes the sandbox's clock (`None`: the real time).
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.lock().now = now;
    }

    pub fn fines(&self) -> Vec<SandboxFine> {
        self.lock().fines.clone()
    }

    /// Fine `fine_number` paid at the municipality's counter (as `POST …/payments` with a
    /// key of the counter's): a later notice of another payment is refused
    /// (`409 already_paid`). Answers whether the fine exists and was unpaid.
    pub fn pay_at_counter(&self, fine_number: &str, payment_ref: &str) -> bool {
        let mut register = self.lock();
        let now = register.now();
        let Some(fine) = register
            .fines
            .iter_mut()
            .find(|f| f.fine_number == fine_number && f.paid.is_none())
        else {
            return false;
        };
        fine.paid = Some(SandboxPayment {
            payment_ref: payment_ref.to_string(),
            amount_cents: fine.base_cents,
            paid_at: now,
            idempotency_key: format!("counter-{payment_ref}"),
        });
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Register> {
        self.register.lock().expect("sandbox lock")
    }
}

impl Register {
    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    /// The amount due today and the last day it holds, with the portal's rounding (to the
    /// cent, an exact half in the payer's favour).
    fn amount_due(&self, fine: &SandboxFine) -> (i64, Option<NaiveDate>) {
        let offence_day = athens_date(fine.offence_at);
        let elapsed = (athens_date(self.now()) - offence_day).num_days().max(0);
        let bands = &self.rules.bands;
        let index = bands
            .iter()
            .position(|b| {
                i64::from(b.from_day) <= elapsed
                    && b.to_day.is_none_or(|to| elapsed <= i64::from(to))
            })
            .unwrap_or(bands.len().saturating_sub(1));
        let Some(band) = bands.get(index) else {
            return (fine.base_cents, None);
        };
        let valid_until = bands[index + 1..]
            .iter()
            .find(|b| b.percent != band.percent)
            .and_then(|b| offence_day.checked_add_days(Days::new(u64::from(b.from_day))))
            .and_then(|d| d.pred_opt());
        let adjustment = (fine.base_cents * i64::from(band.percent) + 49).div_euclid(100);
        (fine.base_cents + adjustment, valid_until)
    }

    fn record(&self, fine: &SandboxFine, origin: &'static str) -> Json<serde_json::Value> {
        let (amount_due_cents, amount_valid_until) = match &fine.paid {
            Some(_) => (0, None),
            None => self.amount_due(fine),
        };
        let body = RecordBody {
            fine_number: &fine.fine_number,
            plate: &fine.plate,
            fine_type: &fine.fine_type,
            offence_at: fine.offence_at,
            base_cents: fine.base_cents,
            amount_due_cents,
            amount_valid_until,
            origin,
            paid: fine.paid.as_ref().map(|p| Settlement {
                payment_ref: &p.payment_ref,
                amount_cents: p.amount_cents,
                paid_at: p.paid_at,
            }),
        };
        Json(serde_json::to_value(body).expect("a record serialises"))
    }
}

fn refusal(status: StatusCode, error: &str, detail: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error, "detail": detail })),
    )
        .into_response()
}

/// Applies the fault switches; `Some` is the answer to give instead of the real one.
async fn faults(sandbox: &FinesSandbox) -> Option<Response> {
    let delay = sandbox.lock().faults.delay();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    sandbox.lock().faults.answer(
        "fines system",
        || serde_json::json!({ "fine_number": 42, "amount_due_cents": "a lot" }),
    )
}

async fn find_or_register(
    State(sandbox): State<FinesSandbox>,
    Json(query): Json<FineQueryBody>,
) -> Response {
    if let Some(answer) = faults(&sandbox).await {
        return answer;
    }
    let mut register = sandbox.lock();
    if query.municipality_code != register.rules.municipality_code {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "municipality_code_foreign",
            "not a fine of this municipality",
        );
    }
    let offence_at = truncate_to_minute(query.offence_at);
    if let Some(fine) = register
        .fines
        .iter()
        .find(|f| f.fine_number == query.fine_number)
    {
        let matches = fine.plate == query.plate
            && fine.fine_type == query.fine_type
            && truncate_to_minute(fine.offence_at) == offence_at;
        if !matches {
            return refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "details_mismatch",
                "a fine with this number has other details",
            );
        }
        return (StatusCode::OK, register.record(fine, "found")).into_response();
    }
    let Some(base_cents) = register
        .rules
        .types
        .iter()
        .find(|(code, _)| *code == query.fine_type)
        .map(|(_, cents)| *cents)
    else {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "fine_type_unknown",
            "no such fine type",
        );
    };
    if offence_at > register.now() {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "offence_in_future",
            "the offence is dated in the future",
        );
    }
    if query.fine_number.trim().is_empty() || query.plate.trim().is_empty() {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "fine_number and plate are required",
        );
    }
    let fine = SandboxFine {
        fine_number: query.fine_number,
        plate: query.plate,
        fine_type: query.fine_type,
        offence_at,
        base_cents,
        registered_online: true,
        paid: None,
    };
    let answer = register.record(&fine, "registered");
    register.fines.push(fine);
    (StatusCode::CREATED, answer).into_response()
}

async fn mark_paid(
    State(sandbox): State<FinesSandbox>,
    Path(fine_number): Path<String>,
    Json(payment): Json<PaymentBody>,
) -> Response {
    if let Some(answer) = faults(&sandbox).await {
        return answer;
    }
    if payment.amount_cents <= 0
        || payment.payment_ref.trim().is_empty()
        || payment.idempotency_key.trim().is_empty()
    {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "a positive amount, a payment_ref and an idempotency_key are required",
        );
    }
    let mut register = sandbox.lock();
    let now = register.now();
    let Some(index) = register
        .fines
        .iter()
        .position(|f| f.fine_number == fine_number)
    else {
        return refusal(StatusCode::NOT_FOUND, "not_found", "no such fine");
    };
    let fine = &mut register.fines[index];
    match &fine.paid {
        Some(paid) if paid.idempotency_key != payment.idempotency_key => {
            return refusal(
                StatusCode::CONFLICT,
                "already_paid",
                "the fine was paid by another payment",
            );
        }
        Some(paid)
            if paid.payment_ref != payment.payment_ref
                || paid.amount_cents != payment.amount_cents =>
        {
            return refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this key was used for another payment",
            );
        }
        Some(_) => {
            let fine = register.fines[index].clone();
            return (StatusCode::OK, register.record(&fine, "found")).into_response();
        }
        None => {}
    }
    fine.paid = Some(SandboxPayment {
        payment_ref: payment.payment_ref,
        amount_cents: payment.amount_cents,
        paid_at: now,
        idempotency_key: payment.idempotency_key,
    });
    let fine = fine.clone();
    (StatusCode::CREATED, register.record(&fine, "found")).into_response()
}

async fn get_faults(State(sandbox): State<FinesSandbox>) -> Json<FinesFaults> {
    Json(sandbox.lock().faults.clone())
}

async fn put_faults(
    State(sandbox): State<FinesSandbox>,
    Json(faults): Json<FinesFaults>,
) -> Json<FinesFaults> {
    sandbox.set_faults(faults.clone());
    Json(faults)
}

async fn list_fines(State(sandbox): State<FinesSandbox>) -> Json<Vec<SandboxFine>> {
    Json(sandbox.fines())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// 2026-03-20 12:00 in Athens (10:00 UTC): seeds fall 3, 30, 90 and 5 days before.
    fn fixed_now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 20, 10, 0, 0).unwrap()
    }

    async fn start() -> (FinesSandbox, crate::RunningSandbox, reqwest::Client) {
        let sandbox = FinesSandbox::with_rules(SandboxRules::default(), fixed_now());
        let running = crate::serve(sandbox.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        (sandbox, running, reqwest::Client::new())
    }

    fn query(number: &str, plate: &str, fine_type: &str, at: DateTime<Utc>) -> Value {
        json!({
            "municipality_code": "9999",
            "fine_type": fine_type,
            "fine_number": number,
            "plate": plate,
            "offence_at": at,
        })
    }

    async fn post(client: &reqwest::Client, url: String, body: &Value) -> (u16, Value) {
        let response = client.post(url).json(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn finds_seeded_fines_with_the_amount_of_their_band() {
        let (sandbox, running, client) = start().await;
        let url = format!("{}/api/v1/fines/find-or-register", running.base_url());
        let expected = [
            (SEEDED_EARLY, 4000, Some("2026-03-27")),
            (SEEDED_BASE, 4000, Some("2026-04-19")),
            (SEEDED_LATE, 9600, None),
            (SEEDED_PAID, 0, None),
        ];
        for (number, due, until) in expected {
            let fine = sandbox
                .fines()
                .into_iter()
                .find(|f| f.fine_number == number)
                .unwrap();
            let q = query(number, &fine.plate, &fine.fine_type, fine.offence_at);
            let (status, body) = post(&client, url.clone(), &q).await;
            assert_eq!(status, 200, "{number}: {body}");
            assert_eq!(body["origin"], "found");
            assert_eq!(body["amount_due_cents"], due, "{number}");
            assert_eq!(body["amount_valid_until"], json!(until), "{number}");
        }
        let paid = post(&client, url.clone(), &{
            let f = &sandbox.fines()[3];
            query(SEEDED_PAID, &f.plate, &f.fine_type, f.offence_at)
        })
        .await
        .1;
        assert_eq!(paid["paid"]["payment_ref"], "SANDBOX-PAID-0001");
    }

    #[tokio::test]
    async fn registers_unknown_fines_once_and_refuses_mismatches() {
        let (sandbox, running, client) = start().await;
        let url = format!("{}/api/v1/fines/find-or-register", running.base_url());
        let at = Utc.with_ymd_and_hms(2026, 1, 10, 8, 5, 33).unwrap();
        let q = query("777777", "ΑΒΕ-1000", "P03", at);
        let (status, body) = post(&client, url.clone(), &q).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["origin"], "registered");
        assert_eq!(body["amount_due_cents"], 4800); // day 69: +20 %
        assert_eq!(body["offence_at"], "2026-01-10T08:05:00Z");
        let (status, body) = post(&client, url.clone(), &q).await;
        assert_eq!((status, body["origin"].as_str()), (200, Some("found")));
        assert_eq!(sandbox.fines().len(), 5);

        let other_plate = query("777777", "ΑΒΕ-1001", "P03", at);
        let (status, body) = post(&client, url.clone(), &other_plate).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("details_mismatch"))
        );
        let mut foreign = q.clone();
        foreign["municipality_code"] = json!("1234");
        let (status, body) = post(&client, url.clone(), &foreign).await;
        assert_eq!(body["error"], "municipality_code_foreign", "{status}");
        let unknown_type = query("888888", "ΑΒΕ-1000", "Z99", at);
        assert_eq!(
            post(&client, url.clone(), &unknown_type).await.1["error"],
            "fine_type_unknown"
        );
        let future = query(
            "888888",
            "ΑΒΕ-1000",
            "P01",
            fixed_now() + chrono::Duration::hours(1),
        );
        assert_eq!(
            post(&client, url, &future).await.1["error"],
            "offence_in_future"
        );
        assert_eq!(sandbox.fines().len(), 5);
    }

    #[tokio::test]
    async fn payments_are_idempotent_by_key() {
        let (sandbox, running, client) = start().await;
        let url = |n: &str| format!("{}/api/v1/fines/{n}/payments", running.base_url());
        let pay = json!({"payment_ref": "REF1", "amount_cents": 4000, "idempotency_key": "k1"});
        let (status, body) = post(&client, url(SEEDED_EARLY), &pay).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["paid"]["payment_ref"], "REF1");
        assert_eq!(body["amount_due_cents"], 0);
        assert_eq!(post(&client, url(SEEDED_EARLY), &pay).await.0, 200);
        let other_key =
            json!({"payment_ref": "REF2", "amount_cents": 4000, "idempotency_key": "k2"});
        let (status, body) = post(&client, url(SEEDED_EARLY), &other_key).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("already_paid"))
        );
        let reused = json!({"payment_ref": "REF9", "amount_cents": 4000, "idempotency_key": "k1"});
        let (status, body) = post(&client, url(SEEDED_EARLY), &reused).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("idempotency_key_reused"))
        );
        let (status, body) = post(&client, url("999999999"), &pay).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
        let paid = sandbox
            .fines()
            .into_iter()
            .find(|f| f.fine_number == SEEDED_EARLY);
        assert_eq!(paid.unwrap().paid.unwrap().idempotency_key, "k1");
    }

    #[tokio::test]
    async fn fault_switches() {
        let (_sandbox, running, client) = start().await;
        let base = running.base_url();
        let faults = json!({"down": true, "slow_ms": 0, "fail_next": 0, "malformed": false});
        let put = client
            .put(format!("{base}/_sandbox/faults"))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        let url = format!("{base}/api/v1/fines/find-or-register");
        let q = query("777777", "ΑΒΕ-1000", "P03", fixed_now());
        assert_eq!(post(&client, url.clone(), &q).await.0, 503);
        let faults = json!({"fail_next": 1});
        client
            .put(format!("{base}/_sandbox/faults"))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(post(&client, url.clone(), &q).await.0, 500);
        assert_eq!(post(&client, url, &q).await.0, 201);
        let got: FinesFaults = client
            .get(format!("{base}/_sandbox/faults"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got, FinesFaults::default());
        let listed: Vec<SandboxFine> = client
            .get(format!("{base}/_sandbox/fines"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed.len(), 5);
        assert!(listed[4].registered_online);
    }
}
