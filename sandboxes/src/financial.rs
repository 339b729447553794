//! The sandbox financial system of the municipality (οικονομική υπηρεσία): the register of
//! payment orders (χρηματικά εντάλματα) issued to suppliers, by the supplier's ΑΦΜ, seeded
//! with example data, with fault switches.
//!
//! Contract (the adapter is `commands::adapters::financial`); money in euro cents, days `YYYY-MM-DD`:
//! - `GET /api/v1/suppliers/{afm}/warrants` → `200`
//!   `{"afm": "094259216", "warrants": [{"number": "2026/0412", "issued_on": "2026-03-02",
//!   "amount_cents": 124000, "purpose": "…", "status": "issued"|"paid",
//!   "paid_on": "YYYY-MM-DD"|null}]}`, every warrant issued to that ΑΦΜ to date (in the
//!   register's order: oldest first). An ΑΦΜ the system holds nothing for answers an empty
//!   list. `paid_on` is set exactly when `status` is `paid`. Something that is not nine
//!   digits answers `422 {"error": "afm_invalid", "detail": text}`.
//!
//! A `5xx` means "unavailable, try later". Fault switches: `GET|PUT /_sandbox/faults`
//! `{"down": bool, "slow_ms": n, "fail_next": n, "malformed": bool}`: down answers 503,
//! slow delays every answer, fail_next answers 500 to the next n calls, malformed answers
//! `200` with a body that breaks the contract. `GET /_sandbox/warrants` lists the whole
//! register by ΑΦΜ; `PUT /_sandbox/warrants/{afm}` with a list of warrants replaces that
//! ΑΦΜ's (an empty list removes them), for tests and demos.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The system's fault switches (see [`crate::faults`]).
pub type FinancialFaults = crate::faults::Faults;

/// Where a warrant stands in the sandbox's register.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SandboxWarrantStatus {
    Issued,
    Paid,
}

/// A payment order in the sandbox's register, exactly as the API answers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SandboxWarrant {
    pub number: String,
    pub issued_on: NaiveDate,
    pub amount_cents: i64,
    pub purpose: String,
    pub status: SandboxWarrantStatus,
    #[serde(default)]
    pub paid_on: Option<NaiveDate>,
}

/// The ΑΦΜ of the business the other tests certify (Ταβέρνα «Ο Μύλος» Ο.Ε.): eight
/// warrants, five paid and three issued.
pub const SEEDED_AFM: &str = "094259216";
/// A construction company with three warrants, one of them issued.
pub const SEEDED_AFM_WORKS: &str = "800123456";
/// A stationer with two paid warrants.
pub const SEEDED_AFM_STATIONER: &str = "123456783";
/// A valid ΑΦΜ the system knows no warrant of.
pub const SEEDED_AFM_NONE: &str = "045678904";

#[derive(Default)]
struct Register {
    faults: FinancialFaults,
    warrants: BTreeMap<String, Vec<SandboxWarrant>>,
}

/// The sandbox's state, shared with tests that flip its switches directly.
#[derive(Clone, Default)]
pub struct FinancialSandbox {
    register: Arc<Mutex<Register>>,
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid seed date")
}

fn issued(number: &str, issued_on: NaiveDate, amount_cents: i64, purpose: &str) -> SandboxWarrant {
    SandboxWarrant {
        number: number.into(),
        issued_on,
        amount_cents,
        purpose: purpose.into(),
        status: SandboxWarrantStatus::Issued,
        paid_on: None,
    }
}

fn paid(
    number: &str,
    issued_on: NaiveDate,
    amount_cents: i64,
    purpose: &str,
    paid_on: NaiveDate,
) -> SandboxWarrant {
    SandboxWarrant {
        status: SandboxWarrantStatus::Paid,
        paid_on: Some(paid_on),
        ..issued(number, issued_on, amount_cents, purpose)
    }
}

/// The example register (see the constants for what each ΑΦΜ holds).
pub fn seed() -> BTreeMap<String, Vec<SandboxWarrant>> {
    let mut register = BTreeMap::new();
    register.insert(
        SEEDED_AFM.to_string(),
        vec![
            paid(
                "2025/1187",
                day(2025, 11, 14),
                86_800,
                "Τροφοδοσία εκδήλωσης «Χριστούγεννα στην Πλατεία» — τιμολόγιο 312/2025",
                day(2025, 12, 5),
            ),
            paid(
                "2025/1302",
                day(2025, 12, 19),
                42_160,
                "Γεύμα εθελοντών πυρασφάλειας — τιμολόγιο 338/2025",
                day(2026, 1, 16),
            ),
            paid(
                "2026/0088",
                day(2026, 1, 28),
                124_000,
                "Προμήθεια γευμάτων Κέντρου Ημερήσιας Φροντίδας Ηλικιωμένων, Ιανουάριος — τιμολόγιο 12/2026",
                day(2026, 2, 20),
            ),
            paid(
                "2026/0231",
                day(2026, 3, 2),
                124_000,
                "Προμήθεια γευμάτων Κέντρου Ημερήσιας Φροντίδας Ηλικιωμένων, Φεβρουάριος — τιμολόγιο 41/2026",
                day(2026, 3, 27),
            ),
            paid(
                "2026/0412",
                day(2026, 4, 15),
                18_550,
                "Προμήθεια γραφικής ύλης — τιμολόγιο 145/2026",
                day(2026, 5, 8),
            ),
            issued(
                "2026/0967",
                day(2026, 9, 30),
                237_500,
                "Σίτιση μαθητών κατασκήνωσης, Ιούλιος–Αύγουστος — σύμβαση 27/2026, τιμολόγιο 201/2026",
            ),
            issued(
                "2026/1105",
                day(2026, 11, 3),
                9_920,
                "Κέρασμα εορτασμού 28ης Οκτωβρίου — τιμολόγιο 233/2026",
            ),
            issued(
                "2026/1161",
                day(2026, 11, 20),
                131_440,
                "Προμήθεια γευμάτων Κέντρου Ημερήσιας Φροντίδας Ηλικιωμένων, Οκτώβριος — τιμολόγιο 240/2026",
            ),
        ],
    );
    register.insert(
        SEEDED_AFM_WORKS.to_string(),
        vec![
            paid(
                "2026/0154",
                day(2026, 2, 11),
                1_860_000,
                "Ασφαλτόστρωση οδού Αγίου Νικολάου, 1ος λογαριασμός — σύμβαση 8/2026",
                day(2026, 3, 10),
            ),
            paid(
                "2026/0533",
                day(2026, 5, 20),
                2_315_480,
                "Ασφαλτόστρωση οδού Αγίου Νικολάου, 2ος λογαριασμός — σύμβαση 8/2026",
                day(2026, 6, 12),
            ),
            issued(
                "2026/1042",
                day(2026, 10, 16),
                497_600,
                "Αποκατάσταση πεζοδρομίων Δημοτικού Σχολείου — τιμολόγιο Α-77/2026",
            ),
        ],
    );
    register.insert(
        SEEDED_AFM_STATIONER.to_string(),
        vec![
            paid(
                "2026/0119",
                day(2026, 2, 3),
                31_248,
                "Προμήθεια γραφικής ύλης Δημαρχείου — τιμολόγιο 19/2026",
                day(2026, 2, 25),
            ),
            paid(
                "2026/0608",
                day(2026, 6, 9),
                7_440,
                "Προμήθεια μελανιών εκτυπωτών ΚΕΠ — τιμολόγιο 88/2026",
                day(2026, 7, 1),
            ),
        ],
    );
    register
}

/// Whether `afm` is nine digits (the check digit is the portal's to check).
fn nine_digits(afm: &str) -> bool {
    afm.len() == 9 && afm.bytes().all(|b| b.is_ascii_digit())
}

impl FinancialSandbox {
    /// A sandbox holding the example register of [`seed`].
    pub fn new() -> Self {
        let register = Register {
            faults: FinancialFaults::default(),
            warrants: seed(),
        };
        Self {
            register: Arc::new(Mutex::new(register)),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/suppliers/{afm}/warrants", get(warrants_of))
            .route("/_sandbox/faults", get(get_faults).put(put_faults))
            .route("/_sandbox/warrants", get(list_register))
            .route("/_sandbox/warrants/{afm}", put(replace_warrants))
            .with_state(self.clone())
    }

    pub fn set_faults(&self, faults: FinancialFaults) {
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> FinancialFaults {
        self.lock().faults.clone()
    }

    /// The warrants of `afm` (none: an empty list).
    pub fn warrants(&self, afm: &str) -> Vec<SandboxWarrant> {
        self.lock().warrants.get(afm).cloned().unwrap_or_default()
    }

    /// Replaces the warrants of `afm` (an empty list removes them).
    pub fn set_warrants(&self, afm: &str, warrants: Vec<SandboxWarrant>) {
        let mut register = self.lock();
        if warrants.is_empty() {
            register.warrants.remove(afm);
        } else {
            register.warrants.insert(afm.to_string(), warrants);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Register> {
        self.register.lock().expect("sandbox lock")
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
async fn faults(sandbox: &FinancialSandbox) -> Option<Response> {
    let delay = sandbox.lock().faults.delay();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    sandbox.lock().faults.answer("financial system", || {
        serde_json::json!({
            "afm": 94259216,
            "warrants": [{"number": null, "amount_cents": "πολλά", "status": "maybe"}],
        })
    })
}

async fn warrants_of(State(sandbox): State<FinancialSandbox>, Path(afm): Path<String>) -> Response {
    if let Some(answer) = faults(&sandbox).await {
        return answer;
    }
    if !nine_digits(&afm) {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "afm_invalid",
            "an ΑΦΜ is nine digits",
        );
    }
    let warrants = sandbox.warrants(&afm);
    Json(serde_json::json!({ "afm": afm, "warrants": warrants })).into_response()
}

async fn get_faults(State(sandbox): State<FinancialSandbox>) -> Json<FinancialFaults> {
    Json(sandbox.faults())
}

async fn put_faults(
    State(sandbox): State<FinancialSandbox>,
    Json(faults): Json<FinancialFaults>,
) -> Json<FinancialFaults> {
    sandbox.set_faults(faults.clone());
    Json(faults)
}

async fn list_register(
    State(sandbox): State<FinancialSandbox>,
) -> Json<BTreeMap<String, Vec<SandboxWarrant>>> {
    Json(sandbox.lock().warrants.clone())
}

async fn replace_warrants(
    State(sandbox): State<FinancialSandbox>,
    Path(afm): Path<String>,
    Json(warrants): Json<Vec<SandboxWarrant>>,
) -> Response {
    if !nine_digits(&afm) {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "afm_invalid",
            "an ΑΦΜ is nine digits",
        );
    }
    sandbox.set_warrants(&afm, warrants);
    Json(serde_json::json!({ "afm": afm, "warrants": sandbox.warrants(&afm) })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    async fn start() -> (FinancialSandbox, crate::RunningSandbox, reqwest::Client) {
        let sandbox = FinancialSandbox::new();
        let running = crate::serve(sandbox.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        (sandbox, running, reqwest::Client::new())
    }

    async fn get_json(client: &reqwest::Client, url: String) -> (u16, Value) {
        let response = client.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    #[test]
    fn the_seed_keeps_the_contract() {
        let register = seed();
        let main = &register[SEEDED_AFM];
        assert_eq!(main.len(), 8);
        let paid = main
            .iter()
            .filter(|w| w.status == SandboxWarrantStatus::Paid)
            .count();
        assert_eq!(paid, 5);
        assert!(!register.contains_key(SEEDED_AFM_NONE));
        for (afm, warrants) in &register {
            assert!(nine_digits(afm));
            for w in warrants {
                assert!(w.amount_cents > 0, "{}", w.number);
                match w.status {
                    SandboxWarrantStatus::Paid => {
                        assert!(w.paid_on.is_some_and(|d| d >= w.issued_on), "{}", w.number)
                    }
                    SandboxWarrantStatus::Issued => assert!(w.paid_on.is_none()),
                }
            }
        }
        assert!(main
            .iter()
            .any(|w| w.purpose == "Προμήθεια γραφικής ύλης — τιμολόγιο 145/2026"));
    }

    #[tokio::test]
    async fn answers_the_warrants_of_an_afm() {
        let (_sandbox, running, client) = start().await;
        let base = running.base_url();
        let (status, body) = get_json(
            &client,
            format!("{base}/api/v1/suppliers/{SEEDED_AFM}/warrants"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["afm"], SEEDED_AFM);
        assert_eq!(body["warrants"].as_array().unwrap().len(), 8);
        let first = &body["warrants"][0];
        assert_eq!(first["number"], "2025/1187");
        assert_eq!(first["issued_on"], "2025-11-14");
        assert_eq!(first["amount_cents"], 86_800);
        assert_eq!(first["status"], "paid");
        assert_eq!(first["paid_on"], "2025-12-05");
        assert_eq!(body["warrants"][7]["paid_on"], Value::Null);

        let (status, body) = get_json(
            &client,
            format!("{base}/api/v1/suppliers/{SEEDED_AFM_NONE}/warrants"),
        )
        .await;
        assert_eq!((status, body["warrants"].clone()), (200, json!([])));

        let (status, body) =
            get_json(&client, format!("{base}/api/v1/suppliers/12345/warrants")).await;
        assert_eq!((status, body["error"].as_str()), (422, Some("afm_invalid")));
    }

    #[tokio::test]
    async fn warrants_can_be_replaced_and_listed() {
        let (sandbox, running, client) = start().await;
        let base = running.base_url();
        let one = json!([{"number": "2026/0001", "issued_on": "2026-01-05", "amount_cents": 100,
                          "purpose": "Δοκιμή", "status": "issued", "paid_on": null}]);
        let r = client
            .put(format!("{base}/_sandbox/warrants/{SEEDED_AFM_NONE}"))
            .json(&one)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(sandbox.warrants(SEEDED_AFM_NONE).len(), 1);
        let (_, listed) = get_json(&client, format!("{base}/_sandbox/warrants")).await;
        assert_eq!(listed[SEEDED_AFM_NONE][0]["number"], "2026/0001");
        assert_eq!(listed[SEEDED_AFM].as_array().unwrap().len(), 8);
        let r = client
            .put(format!("{base}/_sandbox/warrants/{SEEDED_AFM}"))
            .json(&json!([]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(sandbox.warrants(SEEDED_AFM).is_empty());
        let bad = client
            .put(format!("{base}/_sandbox/warrants/{SEEDED_AFM}"))
            .json(&json!([{"number": "x"}]))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
    }

    #[tokio::test]
    async fn fault_switches() {
        let (_sandbox, running, client) = start().await;
        let base = running.base_url();
        let url = format!("{base}/api/v1/suppliers/{SEEDED_AFM}/warrants");
        let put_faults = |faults: Value| {
            let client = client.clone();
            let base = base.clone();
            async move {
                let r = client
                    .put(format!("{base}/_sandbox/faults"))
                    .json(&faults)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        };
        put_faults(json!({"down": true})).await;
        assert_eq!(get_json(&client, url.clone()).await.0, 503);
        put_faults(json!({"fail_next": 1})).await;
        assert_eq!(get_json(&client, url.clone()).await.0, 500);
        assert_eq!(get_json(&client, url.clone()).await.0, 200);
        put_faults(json!({"malformed": true})).await;
        let (status, body) = get_json(&client, url.clone()).await;
        assert_eq!(status, 200);
        assert!(body["afm"].is_number(), "{body}");
        put_faults(json!({})).await;
        let (_, faults) = get_json(&client, format!("{base}/_sandbox/faults")).await;
        assert_eq!(
            faults,
            serde_json::to_value(FinancialFaults::default()).unwrap()
        );
        let r = client
            .put(format!("{base}/_sandbox/faults"))
            .json(&json!({"sideways": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
    }
}
