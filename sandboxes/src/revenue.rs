//! The sandbox revenue system (Έσοδα / Δημοτικός Φόρος): a register of the businesses
//! subject to the municipal tax, which checks a declaration and computes its tax and
//! late-declaration surcharge, records paid declarations, and lists and settles the
//! certified debts (βεβαιωμένες οφειλές) of an AFM.
//!
//! Everything it holds is example data, not the municipality's: the categories and rates
//! (`food` «Καταστήματα υγειονομικού ενδιαφέροντος» 0.5 %, `night` «Κέντρα διασκέδασης»
//! 5 %), the surcharge rules ([`RevenueRules`]) and the seeded businesses and debts
//! ([`RevenueSandbox::new`]).
//!
//! Contract (the adapter is `commands::adapters::revenue`); money in euro cents (integers), rates in
//! basis points (1 % = 100), days `YYYY-MM-DD` counted in Europe/Athens, times RFC 3339
//! UTC. A period is `{"filing": "monthly"|"quarterly", "number": 1–12|1–4, "year": n}`.
//! - `POST /api/v1/declarations/assess` `{afm, period, gross_revenue_cents,
//!   vat_return_date}` → `200` with the assessment `{assessment_id, afm, period,
//!   gross_revenue_cents, vat_return_date, category, category_name_el, category_name_en,
//!   rate_basis_points, tax_cents, deadline, months_late, surcharge_basis_points,
//!   surcharge_cents, total_cents, computed_on}`. Rules, in this order: the AFM is
//!   registered (`422 afm_not_registered`); the filing is the register's
//!   (`422 filing_mismatch`); the period number is 1–12 or 1–4 and the year 2000–9999
//!   (`422 invalid`); the period ended before today (`422 period_not_ended`); the VAT
//!   return is dated after the period's last day and not after today
//!   (`422 vat_return_date_invalid`); the gross revenue is ≥ 0 (`422 invalid`); the period
//!   is not already declared and paid (`409 period_already_declared`).
//!   `tax = round(gross × rate / 10 000)`; the deadline is the last day of the month after
//!   the period; `months_late` is 0 up to the deadline, then the number of calendar months
//!   begun since the deadline's month (deadline 28/02: 01/03 → 1, 31/03 → 1, 01/04 → 2);
//!   `surcharge_basis_points = min(200 × months_late, 10 000)`;
//!   `surcharge = round(tax × surcharge_basis_points / 10 000)`;
//!   `total = tax + surcharge`. Rounding is to the cent, an exact half up.
//! - `POST /api/v1/declarations/paid` `{assessment, payment_ref, amount_cents, paid_at,
//!   idempotency_key}` (the assessment as `assess` answered it; the amount its total) →
//!   `201 {"recorded": declaration}` or `200` for the same key again;
//!   `409 period_already_declared` (the period was paid with another key);
//!   `422 idempotency_key_reused` (the key was used for another payment or period),
//!   `422 assessment_unknown` (not an assessment this system made), `422 invalid`.
//! - `GET /api/v1/businesses/{afm}/debts` → `200 [debt]`, each `{debt_id, afm,
//!   description, certified_on, principal_cents, surcharge_cents, amount_due_cents,
//!   amount_as_of, paid (null|{payment_ref, amount_cents, paid_at})}`; an AFM it does not
//!   know: `[]`. The surcharge of a debt is 1 % of the principal per calendar month begun
//!   since the month of certification, capped at 100 % ([`RevenueRules`]), as of today;
//!   `amount_due = principal + surcharge`. A paid debt shows its surcharge as of the day it
//!   was paid and `amount_due = 0`.
//! - `POST /api/v1/debts/{debt_id}/payments` `{debt_id, afm, payment_ref, amount_cents,
//!   paid_at, idempotency_key}` → `201` (recorded) or `200` (the same key again) with the
//!   debt; `404 not_found` (no such debt for that AFM); `409 already_paid` (paid with
//!   another key); `422 idempotency_key_reused` (same key, other ref or amount) or
//!   `invalid`.
//!
//! A refusal is `{"error": code, "detail": text}`. A `5xx` means "unavailable, try later".
//! Fault switches: `GET|PUT /_sandbox/faults` `{"down": bool, "slow_ms": n, "fail_next": n,
//! "malformed": bool}`: down answers 503, slow delays every answer, fail_next answers 500
//! to the next n calls, malformed answers `200` with a body that breaks the contract.
//! For tests and demos: `GET|PUT /_sandbox/today` `{"today": "YYYY-MM-DD"|null}` (null:
//! the real date in Athens); `PUT /_sandbox/businesses/{afm}` `{company_name, category,
//! filing}` registers or changes a business; `PUT /_sandbox/debts/{afm}` `[{debt_id,
//! description, certified_on, principal_cents}]` replaces the AFM's debts;
//! `GET /_sandbox/businesses`, `GET /_sandbox/declarations` and
//! `GET /_sandbox/debt-payments` show what it holds and what was recorded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Europe::Athens;
use serde::{Deserialize, Serialize};

/// The system's fault switches (see [`crate::faults`]).
pub type RevenueFaults = crate::faults::Faults;

/// A category of business with its tax rate (example data).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxCategory {
    pub code: String,
    pub name_el: String,
    pub name_en: String,
    /// The tax rate in basis points of the gross revenue (0.5 % = 50).
    pub rate_basis_points: u32,
}

/// The sandbox's configuration: categories and the surcharge rules. Example data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevenueRules {
    pub categories: Vec<SandboxCategory>,
    /// Late declaration: basis points of the tax per calendar month begun after the
    /// deadline (2 % = 200).
    pub surcharge_basis_points_per_month: u32,
    /// The cap of the late-declaration surcharge, in basis points of the tax (100 % =
    /// 10 000).
    pub surcharge_cap_basis_points: u32,
    /// Certified debts: basis points of the principal per calendar month begun since the
    /// month of certification (1 % = 100).
    pub debt_surcharge_basis_points_per_month: u32,
    /// The cap of a debt's surcharge, in basis points of the principal.
    pub debt_surcharge_cap_basis_points: u32,
}

impl Default for RevenueRules {
    fn default() -> Self {
        Self {
            categories: vec![
                SandboxCategory {
                    code: "food".into(),
                    name_el: "Καταστήματα υγειονομικού ενδιαφέροντος".into(),
                    name_en: "Food and drink businesses".into(),
                    rate_basis_points: 50,
                },
                SandboxCategory {
                    code: "night".into(),
                    name_el: "Κέντρα διασκέδασης".into(),
                    name_en: "Night-time entertainment venues".into(),
                    rate_basis_points: 500,
                },
            ],
            surcharge_basis_points_per_month: 200,
            surcharge_cap_basis_points: 10_000,
            debt_surcharge_basis_points_per_month: 100,
            debt_surcharge_cap_basis_points: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxFiling {
    Monthly,
    Quarterly,
}

/// A business in the register.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxBusiness {
    pub company_name: String,
    /// A category's code.
    pub category: String,
    pub filing: SandboxFiling,
}

/// A period as the contract writes it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxPeriod {
    pub filing: SandboxFiling,
    pub number: u32,
    pub year: i32,
}

impl SandboxPeriod {
    fn valid(&self) -> bool {
        let periods = match self.filing {
            SandboxFiling::Monthly => 12,
            SandboxFiling::Quarterly => 4,
        };
        (1..=periods).contains(&self.number) && (2000..=9999).contains(&self.year)
    }

    /// `2026-M03`, `2026-Q1`.
    fn key(&self) -> String {
        match self.filing {
            SandboxFiling::Monthly => format!("{}-M{:02}", self.year, self.number),
            SandboxFiling::Quarterly => format!("{}-Q{}", self.year, self.number),
        }
    }

    /// The period's last day (a valid period only).
    pub fn last_day(&self) -> NaiveDate {
        let last_month = match self.filing {
            SandboxFiling::Monthly => self.number,
            SandboxFiling::Quarterly => self.number * 3,
        };
        end_of_month(self.year * 12 + last_month as i32 - 1)
    }

    /// The last day of the month after the period (the VAT return's deadline).
    pub fn deadline(&self) -> NaiveDate {
        let last = self.last_day();
        end_of_month(month_index(last) + 1)
    }
}

/// `year × 12 + month0`: consecutive months are consecutive numbers.
fn month_index(day: NaiveDate) -> i32 {
    day.year() * 12 + day.month0() as i32
}

/// The last day of the month with this index.
fn end_of_month(index: i32) -> NaiveDate {
    let next = index + 1;
    NaiveDate::from_ymd_opt(next.div_euclid(12), next.rem_euclid(12) as u32 + 1, 1)
        .and_then(|d| d.pred_opt())
        .expect("month arithmetic stays within chrono's range")
}

/// `value × basis_points / 10 000`, to the cent, an exact half up (values ≥ 0).
pub fn apply_basis_points(value: i64, basis_points: u32) -> Option<i64> {
    let product = i128::from(value) * i128::from(basis_points);
    i64::try_from((product + 5_000).div_euclid(10_000)).ok()
}

/// Calendar months begun after `from`'s month, as of `today` (0 if `today` ≤ `from`).
pub fn months_begun_after(from: NaiveDate, today: NaiveDate) -> u32 {
    if today <= from {
        return 0;
    }
    u32::try_from(month_index(today) - month_index(from)).unwrap_or(0)
}

/// What an assessment computes, the rules applied (see the module's contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Computed {
    pub tax_cents: i64,
    pub deadline: NaiveDate,
    pub months_late: u32,
    pub surcharge_basis_points: u32,
    pub surcharge_cents: i64,
    pub total_cents: i64,
}

impl RevenueRules {
    /// The tax and surcharge of `gross_revenue_cents` (≥ 0) declared `today` for `period`
    /// at `rate_basis_points`; `None` if the amounts overflow.
    pub fn compute(
        &self,
        period: &SandboxPeriod,
        gross_revenue_cents: i64,
        rate_basis_points: u32,
        today: NaiveDate,
    ) -> Option<Computed> {
        let tax_cents = apply_basis_points(gross_revenue_cents, rate_basis_points)?;
        let deadline = period.deadline();
        let months_late = months_begun_after(deadline, today);
        let surcharge_basis_points = self
            .surcharge_basis_points_per_month
            .saturating_mul(months_late)
            .min(self.surcharge_cap_basis_points);
        let surcharge_cents = apply_basis_points(tax_cents, surcharge_basis_points)?;
        Some(Computed {
            tax_cents,
            deadline,
            months_late,
            surcharge_basis_points,
            surcharge_cents,
            total_cents: tax_cents.checked_add(surcharge_cents)?,
        })
    }

    /// A certified debt's surcharge as of `day`.
    pub fn debt_surcharge(
        &self,
        principal_cents: i64,
        certified_on: NaiveDate,
        day: NaiveDate,
    ) -> i64 {
        let months = months_begun_after(certified_on, day);
        let basis_points = self
            .debt_surcharge_basis_points_per_month
            .saturating_mul(months)
            .min(self.debt_surcharge_cap_basis_points);
        apply_basis_points(principal_cents, basis_points).unwrap_or(i64::MAX)
    }
}

/// A payment recorded against a declaration or a debt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxSettlement {
    pub payment_ref: String,
    pub amount_cents: i64,
    pub paid_at: DateTime<Utc>,
}

/// A declaration recorded as filed and paid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordedDeclaration {
    pub afm: String,
    /// `2026-M03`, `2026-Q1`.
    pub period_key: String,
    pub assessment_id: String,
    pub assessment: serde_json::Value,
    pub payment_ref: String,
    pub amount_cents: i64,
    pub paid_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub recorded_at: DateTime<Utc>,
}

/// A certified debt as seeded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeedDebt {
    pub debt_id: String,
    pub description: String,
    pub certified_on: NaiveDate,
    pub principal_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct HeldDebt {
    afm: String,
    seed: SeedDebt,
    paid: Option<(SandboxSettlement, String)>,
}

/// A payment of a debt as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordedDebtPayment {
    pub debt_id: String,
    pub afm: String,
    pub payment_ref: String,
    pub amount_cents: i64,
    pub paid_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub recorded_at: DateTime<Utc>,
}

/// The seeded businesses: `(afm, company name, category, filing)`.
pub const SEEDED_FOOD_QUARTERLY: &str = "094259216";
pub const SEEDED_FOOD_MONTHLY: &str = "090012345";
pub const SEEDED_NIGHT_MONTHLY: &str = "800123456";

struct Register {
    faults: RevenueFaults,
    rules: RevenueRules,
    today: Option<NaiveDate>,
    businesses: BTreeMap<String, SandboxBusiness>,
    /// Assessments made, by id.
    assessments: BTreeMap<String, serde_json::Value>,
    declarations: Vec<RecordedDeclaration>,
    debts: Vec<HeldDebt>,
    debt_payments: Vec<RecordedDebtPayment>,
    next_id: u64,
    id_prefix: String,
}

/// The sandbox's state, shared with tests that set its clock and switches directly.
#[derive(Clone)]
pub struct RevenueSandbox {
    register: Arc<Mutex<Register>>,
}

impl Default for RevenueSandbox {
    fn default() -> Self {
        Self::new()
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid seed date")
}

fn seed_debt(
    id: &str,
    description: &str,
    certified_on: NaiveDate,
    principal_cents: i64,
) -> SeedDebt {
    SeedDebt {
        debt_id: id.into(),
        description: description.into(),
        certified_on,
        principal_cents,
    }
}

impl RevenueSandbox {
    /// A sandbox with [`RevenueRules::default`], the real date, and the seeded register:
    /// `094259216` «Ταβέρνα Ο Πλάτανος Ο.Ε.» (food, quarterly) with three debts (one paid),
    /// `090012345` «Φούρνος Η Ζύμη Ι.Κ.Ε.» (food, monthly) with one debt, `800123456»
    /// «Club Αστέρια Α.Ε.» (night, monthly) with one debt.
    pub fn new() -> Self {
        Self::with_rules(RevenueRules::default())
    }

    pub fn with_rules(rules: RevenueRules) -> Self {
        let business = |name: &str, category: &str, filing| SandboxBusiness {
            company_name: name.into(),
            category: category.into(),
            filing,
        };
        let businesses = BTreeMap::from([
            (
                SEEDED_FOOD_QUARTERLY.to_string(),
                business("Ταβέρνα Ο Πλάτανος Ο.Ε.", "food", SandboxFiling::Quarterly),
            ),
            (
                SEEDED_FOOD_MONTHLY.to_string(),
                business("Φούρνος Η Ζύμη Ι.Κ.Ε.", "food", SandboxFiling::Monthly),
            ),
            (
                SEEDED_NIGHT_MONTHLY.to_string(),
                business("Club Αστέρια Α.Ε.", "night", SandboxFiling::Monthly),
            ),
        ]);
        let held = |afm: &str, seed: SeedDebt| HeldDebt {
            afm: afm.into(),
            seed,
            paid: None,
        };
        let mut paid = held(
            SEEDED_FOOD_QUARTERLY,
            seed_debt(
                "DF-2024-000311",
                "Δημοτικός φόρος 0,5% — 4ο τρίμηνο 2024 (βεβαίωση 12/04/2025)",
                day(2025, 4, 12),
                9_850,
            ),
        );
        paid.paid = Some((
            SandboxSettlement {
                payment_ref: "SANDBOX-DEBT-0001".into(),
                amount_cents: 10_244,
                paid_at: "2025-08-05T09:30:00Z".parse().expect("a valid seed time"),
            },
            "seed-debt-paid-0001".into(),
        ));
        let debts = vec![
            held(
                SEEDED_FOOD_QUARTERLY,
                seed_debt(
                    "DF-2025-000142",
                    "Δημοτικός φόρος 0,5% — 2ο τρίμηνο 2025 (βεβαίωση 14/10/2025)",
                    day(2025, 10, 14),
                    18_240,
                ),
            ),
            held(
                SEEDED_FOOD_QUARTERLY,
                seed_debt(
                    "DF-2025-000287",
                    "Δημοτικός φόρος 0,5% — 3ο τρίμηνο 2025 (βεβαίωση 20/01/2026)",
                    day(2026, 1, 20),
                    21_075,
                ),
            ),
            paid,
            held(
                SEEDED_FOOD_MONTHLY,
                seed_debt(
                    "DF-2025-000415",
                    "Δημοτικός φόρος 0,5% — Ιούνιος 2025 (βεβαίωση 02/10/2025)",
                    day(2025, 10, 2),
                    3_120,
                ),
            ),
            held(
                SEEDED_NIGHT_MONTHLY,
                seed_debt(
                    "DF-2025-000523",
                    "Δημοτικός φόρος 5% — Αύγουστος 2025 (βεβαίωση 05/12/2025)",
                    day(2025, 12, 5),
                    146_500,
                ),
            ),
        ];
        let register = Register {
            faults: RevenueFaults::default(),
            rules,
            today: None,
            businesses,
            assessments: BTreeMap::new(),
            declarations: Vec::new(),
            debts,
            debt_payments: Vec::new(),
            next_id: 1,
            id_prefix: format!("{:X}", Utc::now().timestamp()),
        };
        Self {
            register: Arc::new(Mutex::new(register)),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/declarations/assess", post(assess))
            .route("/api/v1/declarations/paid", post(declaration_paid))
            .route("/api/v1/businesses/{afm}/debts", get(list_debts))
            .route("/api/v1/debts/{debt_id}/payments", post(debt_paid))
            .route("/_sandbox/faults", get(get_faults).put(put_faults))
            .route("/_sandbox/today", get(get_today).put(put_today))
            .route("/_sandbox/businesses", get(get_businesses))
            .route("/_sandbox/businesses/{afm}", put(put_business))
            .route("/_sandbox/debts/{afm}", put(put_debts))
            .route("/_sandbox/declarations", get(get_declarations))
            .route("/_sandbox/debt-payments", get(get_debt_payments))
            .with_state(self.clone())
    }

    pub fn set_faults(&self, faults: RevenueFaults) {
        self.lock().faults = faults;
    }

    /// Fixes the sandbox's "today" (`None`: the real date in Athens).
    pub fn set_today(&self, today: Option<NaiveDate>) {
        self.lock().today = today;
    }

    pub fn today(&self) -> NaiveDate {
        self.lock().today()
    }

    /// Registers (or changes) a business.
    pub fn put_business(&self, afm: &str, business: SandboxBusiness) {
        self.lock().businesses.insert(afm.to_string(), business);
    }

    /// Replaces the certified debts of `afm` (none paid).
    pub fn put_debts(&self, afm: &str, debts: Vec<SeedDebt>) {
        let mut register = self.lock();
        register.debts.retain(|d| d.afm != afm);
        register
            .debts
            .extend(debts.into_iter().map(|seed| HeldDebt {
                afm: afm.to_string(),
                seed,
                paid: None,
            }));
    }

    pub fn declarations(&self) -> Vec<RecordedDeclaration> {
        self.lock().declarations.clone()
    }

    pub fn debt_payments(&self) -> Vec<RecordedDebtPayment> {
        self.lock().debt_payments.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Register> {
        self.register.lock().expect("sandbox lock")
    }
}

impl Register {
    fn today(&self) -> NaiveDate {
        self.today
            .unwrap_or_else(|| Utc::now().with_timezone(&Athens).date_naive())
    }

    fn debt_json(&self, debt: &HeldDebt) -> serde_json::Value {
        let today = self.today();
        let (surcharge, due, as_of) = match &debt.paid {
            Some((settlement, _)) => {
                let paid_on = settlement.paid_at.with_timezone(&Athens).date_naive();
                let surcharge = self.rules.debt_surcharge(
                    debt.seed.principal_cents,
                    debt.seed.certified_on,
                    paid_on,
                );
                (surcharge, 0, today)
            }
            None => {
                let surcharge = self.rules.debt_surcharge(
                    debt.seed.principal_cents,
                    debt.seed.certified_on,
                    today,
                );
                (
                    surcharge,
                    debt.seed.principal_cents.saturating_add(surcharge),
                    today,
                )
            }
        };
        serde_json::json!({
            "debt_id": debt.seed.debt_id,
            "afm": debt.afm,
            "description": debt.seed.description,
            "certified_on": debt.seed.certified_on,
            "principal_cents": debt.seed.principal_cents,
            "surcharge_cents": surcharge,
            "amount_due_cents": due,
            "amount_as_of": as_of,
            "paid": debt.paid.as_ref().map(|(s, _)| s),
        })
    }
}

fn refusal(status: StatusCode, error: &str, detail: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error, "detail": detail })),
    )
        .into_response()
}

fn invalid(detail: &str) -> Response {
    refusal(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail)
}

/// The body, or what is wrong with it (for a `422 invalid`).
fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, String> {
    body.map(|Json(b)| b).map_err(|e| e.body_text())
}

/// Applies the fault switches; `Some` is the answer to give instead of the real one.
async fn faults(sandbox: &RevenueSandbox) -> Option<Response> {
    let delay = sandbox.lock().faults.delay();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    sandbox.lock().faults.answer(
        "revenue system",
        || serde_json::json!({ "assessment_id": 7, "debt_id": [], "total_cents": "much" }),
    )
}

#[derive(Debug, Deserialize)]
struct AssessBody {
    afm: String,
    period: SandboxPeriod,
    gross_revenue_cents: i64,
    vat_return_date: NaiveDate,
}

async fn assess(
    State(sandbox): State<RevenueSandbox>,
    input: Result<Json<AssessBody>, JsonRejection>,
) -> Response {
    if let Some(answer) = faults(&sandbox).await {
        return answer;
    }
    let input = match body(input) {
        Ok(input) => input,
        Err(detail) => return invalid(&detail),
    };
    let mut register = sandbox.lock();
    let today = register.today();
    let Some(business) = register.businesses.get(&input.afm).cloned() else {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "afm_not_registered",
            "this AFM is not in the register of businesses subject to the municipal tax",
        );
    };
    if business.filing != input.period.filing {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "filing_mismatch",
            "the business files VAT the other way (monthly vs quarterly)",
        );
    }
    if !input.period.valid() {
        return invalid("the period is 1–12 (monthly) or 1–4 (quarterly), the year 2000–9999");
    }
    let period = input.period;
    if period.last_day() >= today {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "period_not_ended",
            "the period has not ended yet",
        );
    }
    if input.vat_return_date <= period.last_day() || input.vat_return_date > today {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "vat_return_date_invalid",
            "the VAT return must be dated after the period's last day and not after today",
        );
    }
    if input.gross_revenue_cents < 0 {
        return invalid("gross_revenue_cents must be zero or more");
    }
    let key = period.key();
    if register
        .declarations
        .iter()
        .any(|d| d.afm == input.afm && d.period_key == key)
    {
        return refusal(
            StatusCode::CONFLICT,
            "period_already_declared",
            "this period is already declared and paid",
        );
    }
    let Some(category) = register
        .rules
        .categories
        .iter()
        .find(|c| c.code == business.category)
        .cloned()
    else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the business's category has no rate",
        )
            .into_response();
    };
    let Some(computed) = register.rules.compute(
        &period,
        input.gross_revenue_cents,
        category.rate_basis_points,
        today,
    ) else {
        return invalid("gross_revenue_cents is too large");
    };
    let assessment_id = format!("TA-{}-{:06}", register.id_prefix, register.next_id);
    register.next_id += 1;
    let assessment = serde_json::json!({
        "assessment_id": assessment_id,
        "afm": input.afm,
        "period": period,
        "gross_revenue_cents": input.gross_revenue_cents,
        "vat_return_date": input.vat_return_date,
        "category": category.code,
        "category_name_el": category.name_el,
        "category_name_en": category.name_en,
        "rate_basis_points": category.rate_basis_points,
        "tax_cents": computed.tax_cents,
        "deadline": computed.deadline,
        "months_late": computed.months_late,
        "surcharge_basis_points": computed.surcharge_basis_points,
        "surcharge_cents": computed.surcharge_cents,
        "total_cents": computed.total_cents,
        "computed_on": today,
    });
    register
        .assessments
        .insert(assessment_id, assessment.clone());
    (StatusCode::OK, Json(assessment)).into_response()
}

#[derive(Debug, Deserialize)]
struct DeclarationPaidBody {
    assessment: serde_json::Value,
    payment_ref: String,
    amount_cents: i64,
    paid_at: DateTime<Utc>,
    idempotency_key: String,
}

async fn declaration_paid(
    State(sandbox): State<RevenueSandbox>,
    notice: Result<Json<DeclarationPaidBody>, JsonRejection>,
) -> Response {
    if let Some(answer) = faults(&sandbox).await {
        return answer;
    }
    let notice = match body(notice) {
        Ok(notice) => notice,
        Err(detail) => return invalid(&detail),
    };
    if notice.payment_ref.trim().is_empty() || notice.idempotency_key.trim().is_empty() {
        return invalid("a payment_ref and an idempotency_key are required");
    }
    let mut register = sandbox.lock();
    let assessment_id = notice.assessment["assessment_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(assessment) = register.assessments.get(&assessment_id).cloned() else {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "assessment_unknown",
            "no assessment of this system has this assessment_id",
        );
    };
    if assessment != notice.assessment {
        return invalid("the assessment differs from the one this system made");
    }
    if notice.amount_cents != assessment["total_cents"].as_i64().unwrap_or(-1) {
        return invalid("amount_cents is not the assessment's total_cents");
    }
    let afm = assessment["afm"].as_str().unwrap_or_default().to_string();
    let period: SandboxPeriod = match serde_json::from_value(assessment["period"].clone()) {
        Ok(period) => period,
        Err(_) => return invalid("the assessment's period is unreadable"),
    };
    let key = period.key();
    if let Some(same_key) = register
        .declarations
        .iter()
        .find(|d| d.idempotency_key == notice.idempotency_key)
    {
        if same_key.assessment_id != assessment_id
            || same_key.payment_ref != notice.payment_ref
            || same_key.amount_cents != notice.amount_cents
        {
            return refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this key was used for another payment",
            );
        }
        let recorded = same_key.clone();
        return (
            StatusCode::OK,
            Json(serde_json::json!({ "recorded": recorded })),
        )
            .into_response();
    }
    if register
        .declarations
        .iter()
        .any(|d| d.afm == afm && d.period_key == key)
    {
        return refusal(
            StatusCode::CONFLICT,
            "period_already_declared",
            "this period is already declared and paid by another payment",
        );
    }
    let recorded = RecordedDeclaration {
        afm,
        period_key: key,
        assessment_id,
        assessment,
        payment_ref: notice.payment_ref,
        amount_cents: notice.amount_cents,
        paid_at: notice.paid_at,
        idempotency_key: notice.idempotency_key,
        recorded_at: Utc::now(),
    };
    register.declarations.push(recorded.clone());
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "recorded": recorded })),
    )
        .into_response()
}

async fn list_debts(State(sandbox): State<RevenueSandbox>, Path(afm): Path<String>) -> Response {
    if let Some(answer) = faults(&sandbox).await {
        return answer;
    }
    let register = sandbox.lock();
    let debts: Vec<serde_json::Value> = register
        .debts
        .iter()
        .filter(|d| d.afm == afm)
        .map(|d| register.debt_json(d))
        .collect();
    (StatusCode::OK, Json(debts)).into_response()
}

#[derive(Debug, Deserialize)]
struct DebtPaymentBody {
    debt_id: String,
    afm: String,
    payment_ref: String,
    amount_cents: i64,
    paid_at: DateTime<Utc>,
    idempotency_key: String,
}

async fn debt_paid(
    State(sandbox): State<RevenueSandbox>,
    Path(debt_id): Path<String>,
    notice: Result<Json<DebtPaymentBody>, JsonRejection>,
) -> Response {
    if let Some(answer) = faults(&sandbox).await {
        return answer;
    }
    let notice = match body(notice) {
        Ok(notice) => notice,
        Err(detail) => return invalid(&detail),
    };
    if notice.amount_cents <= 0
        || notice.payment_ref.trim().is_empty()
        || notice.idempotency_key.trim().is_empty()
        || notice.debt_id != debt_id
    {
        return invalid(
            "a positive amount, a payment_ref, an idempotency_key and the debt_id of the path \
             are required",
        );
    }
    let mut register = sandbox.lock();
    let Some(index) = register
        .debts
        .iter()
        .position(|d| d.seed.debt_id == debt_id && d.afm == notice.afm)
    else {
        return refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such debt for this AFM",
        );
    };
    match &register.debts[index].paid {
        Some((_, key)) if *key != notice.idempotency_key => {
            return refusal(
                StatusCode::CONFLICT,
                "already_paid",
                "the debt was paid by another payment",
            );
        }
        Some((settlement, _))
            if settlement.payment_ref != notice.payment_ref
                || settlement.amount_cents != notice.amount_cents =>
        {
            return refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this key was used for another payment",
            );
        }
        Some(_) => {
            let answer = register.debt_json(&register.debts[index]);
            return (StatusCode::OK, Json(answer)).into_response();
        }
        None => {}
    }
    if register
        .debt_payments
        .iter()
        .any(|p| p.idempotency_key == notice.idempotency_key)
    {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this key was used for another debt",
        );
    }
    let settlement = SandboxSettlement {
        payment_ref: notice.payment_ref.clone(),
        amount_cents: notice.amount_cents,
        paid_at: notice.paid_at,
    };
    register.debts[index].paid = Some((settlement, notice.idempotency_key.clone()));
    register.debt_payments.push(RecordedDebtPayment {
        debt_id,
        afm: notice.afm,
        payment_ref: notice.payment_ref,
        amount_cents: notice.amount_cents,
        paid_at: notice.paid_at,
        idempotency_key: notice.idempotency_key,
        recorded_at: Utc::now(),
    });
    let answer = register.debt_json(&register.debts[index]);
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn get_faults(State(sandbox): State<RevenueSandbox>) -> Json<RevenueFaults> {
    Json(sandbox.lock().faults.clone())
}

async fn put_faults(
    State(sandbox): State<RevenueSandbox>,
    Json(faults): Json<RevenueFaults>,
) -> Json<RevenueFaults> {
    sandbox.set_faults(faults.clone());
    Json(faults)
}

#[derive(Debug, Serialize, Deserialize)]
struct TodayBody {
    today: Option<NaiveDate>,
}

async fn get_today(State(sandbox): State<RevenueSandbox>) -> Json<TodayBody> {
    Json(TodayBody {
        today: Some(sandbox.today()),
    })
}

async fn put_today(
    State(sandbox): State<RevenueSandbox>,
    Json(body): Json<TodayBody>,
) -> Json<TodayBody> {
    sandbox.set_today(body.today);
    Json(TodayBody {
        today: Some(sandbox.today()),
    })
}

async fn get_businesses(
    State(sandbox): State<RevenueSandbox>,
) -> Json<BTreeMap<String, SandboxBusiness>> {
    Json(sandbox.lock().businesses.clone())
}

async fn put_business(
    State(sandbox): State<RevenueSandbox>,
    Path(afm): Path<String>,
    business: Result<Json<SandboxBusiness>, JsonRejection>,
) -> Response {
    let business = match body(business) {
        Ok(business) => business,
        Err(detail) => return invalid(&detail),
    };
    let known = sandbox
        .lock()
        .rules
        .categories
        .iter()
        .any(|c| c.code == business.category);
    if !known {
        return invalid("no such category");
    }
    sandbox.put_business(&afm, business.clone());
    (StatusCode::OK, Json(business)).into_response()
}

async fn put_debts(
    State(sandbox): State<RevenueSandbox>,
    Path(afm): Path<String>,
    debts: Result<Json<Vec<SeedDebt>>, JsonRejection>,
) -> Response {
    let debts = match body(debts) {
        Ok(debts) => debts,
        Err(detail) => return invalid(&detail),
    };
    let well_formed = debts.iter().all(|d| {
        !d.debt_id.is_empty()
            && d.debt_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && d.principal_cents > 0
    });
    if !well_formed {
        return invalid("debt ids are ASCII letters, digits and '-'; principals are positive");
    }
    sandbox.put_debts(&afm, debts);
    let register = sandbox.lock();
    let listed: Vec<serde_json::Value> = register
        .debts
        .iter()
        .filter(|d| d.afm == afm)
        .map(|d| register.debt_json(d))
        .collect();
    (StatusCode::OK, Json(listed)).into_response()
}

async fn get_declarations(State(sandbox): State<RevenueSandbox>) -> Json<Vec<RecordedDeclaration>> {
    Json(sandbox.declarations())
}

async fn get_debt_payments(
    State(sandbox): State<RevenueSandbox>,
) -> Json<Vec<RecordedDebtPayment>> {
    Json(sandbox.debt_payments())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn quarter(number: u32, year: i32) -> SandboxPeriod {
        SandboxPeriod {
            filing: SandboxFiling::Quarterly,
            number,
            year,
        }
    }

    fn month(number: u32, year: i32) -> SandboxPeriod {
        SandboxPeriod {
            filing: SandboxFiling::Monthly,
            number,
            year,
        }
    }

    #[test]
    fn period_ends_and_deadlines() {
        assert_eq!(month(1, 2026).last_day(), day(2026, 1, 31));
        assert_eq!(month(1, 2026).deadline(), day(2026, 2, 28));
        assert_eq!(month(1, 2028).deadline(), day(2028, 2, 29));
        assert_eq!(month(2, 2028).last_day(), day(2028, 2, 29));
        assert_eq!(month(2, 2028).deadline(), day(2028, 3, 31));
        assert_eq!(month(12, 2026).deadline(), day(2027, 1, 31));
        assert_eq!(quarter(1, 2026).last_day(), day(2026, 3, 31));
        assert_eq!(quarter(1, 2026).deadline(), day(2026, 4, 30));
        assert_eq!(quarter(4, 2026).last_day(), day(2026, 12, 31));
        assert_eq!(quarter(4, 2026).deadline(), day(2027, 1, 31));
        assert_eq!(month(3, 2026).key(), "2026-M03");
        assert_eq!(quarter(2, 2026).key(), "2026-Q2");
        assert!(!month(13, 2026).valid());
        assert!(!quarter(0, 2026).valid());
        assert!(!quarter(5, 2026).valid());
        assert!(!month(1, 1999).valid());
    }

    #[test]
    fn months_late_count_every_month_begun_after_the_deadline() {
        // January 2026: deadline 28/02/2026.
        let rules = RevenueRules::default();
        let late = |today| rules.compute(&month(1, 2026), 100_000, 50, today).unwrap();
        assert_eq!(late(day(2026, 2, 1)).months_late, 0);
        assert_eq!(late(day(2026, 2, 28)).months_late, 0);
        assert_eq!(late(day(2026, 3, 1)).months_late, 1);
        assert_eq!(late(day(2026, 3, 31)).months_late, 1);
        assert_eq!(late(day(2026, 4, 1)).months_late, 2);
        assert_eq!(late(day(2027, 3, 1)).months_late, 13);
        // Leap February: January 2028's deadline is 29/02/2028.
        let leap = |today| rules.compute(&month(1, 2028), 100_000, 50, today).unwrap();
        assert_eq!(leap(day(2028, 2, 29)).deadline, day(2028, 2, 29));
        assert_eq!(leap(day(2028, 2, 29)).months_late, 0);
        assert_eq!(leap(day(2028, 3, 1)).months_late, 1);
    }

    #[test]
    fn tax_and_surcharge_with_the_cap_and_rounding() {
        let rules = RevenueRules::default();
        // Q1 2026: deadline 30/04/2026. 12,345.67 € at 0.5 % = 61.72835 € → 6,173 cents.
        let on_time = rules
            .compute(&quarter(1, 2026), 1_234_567, 50, day(2026, 4, 30))
            .unwrap();
        assert_eq!(
            on_time,
            Computed {
                tax_cents: 6_173,
                deadline: day(2026, 4, 30),
                months_late: 0,
                surcharge_basis_points: 0,
                surcharge_cents: 0,
                total_cents: 6_173,
            }
        );
        // Three months begun: 6 % of 6,173 = 370.38 → 370.
        let late = rules
            .compute(&quarter(1, 2026), 1_234_567, 50, day(2026, 7, 1))
            .unwrap();
        assert_eq!((late.months_late, late.surcharge_basis_points), (3, 600));
        assert_eq!((late.surcharge_cents, late.total_cents), (370, 6_543));
        // An exact half rounds up: 1 cent × 0.5 % … and 100 cents at 0.5 % = 0.5 → 1.
        assert_eq!(apply_basis_points(100, 50), Some(1));
        assert_eq!(apply_basis_points(99, 50), Some(0));
        assert_eq!(apply_basis_points(300, 5_000), Some(150));
        assert_eq!(apply_basis_points(25, 200), Some(1)); // 0.5 → 1
        assert_eq!(apply_basis_points(24, 200), Some(0)); // 0.48 → 0
                                                          // The cap: 49 months → 98 %, 50 → exactly 100 %, 51 and beyond stay at 100 %.
        let at = |today| {
            rules
                .compute(&month(1, 2020), 1_000_000, 500, today)
                .unwrap()
        };
        // Deadline 29/02/2020; +49 months = March 2024.
        assert_eq!(at(day(2024, 3, 1)).months_late, 49);
        assert_eq!(at(day(2024, 3, 1)).surcharge_basis_points, 9_800);
        let fifty = at(day(2024, 4, 1));
        assert_eq!(
            (fifty.months_late, fifty.surcharge_basis_points),
            (50, 10_000)
        );
        assert_eq!((fifty.tax_cents, fifty.surcharge_cents), (50_000, 50_000));
        assert_eq!(fifty.total_cents, 100_000);
        let beyond = at(day(2026, 12, 4));
        assert_eq!(beyond.surcharge_basis_points, 10_000);
        assert_eq!(beyond.surcharge_cents, 50_000);
        // Zero revenue: nothing to pay, even late.
        let zero = rules
            .compute(&quarter(1, 2026), 0, 50, day(2026, 9, 1))
            .unwrap();
        assert_eq!(
            (zero.tax_cents, zero.surcharge_cents, zero.total_cents),
            (0, 0, 0)
        );
        assert_eq!(zero.months_late, 5);
        // Overflow is refused, not wrapped.
        assert!(rules
            .compute(&quarter(1, 2026), i64::MAX, 20_000, day(2026, 9, 1))
            .is_none());
    }

    #[test]
    fn debt_surcharge_per_month_begun_since_certification() {
        let rules = RevenueRules::default();
        let certified = day(2025, 10, 14);
        assert_eq!(
            rules.debt_surcharge(18_240, certified, day(2025, 10, 31)),
            0
        );
        assert_eq!(
            rules.debt_surcharge(18_240, certified, day(2025, 11, 1)),
            182
        );
        assert_eq!(
            rules.debt_surcharge(18_240, certified, day(2026, 12, 4)),
            2_554
        );
        assert_eq!(
            rules.debt_surcharge(18_240, certified, day(2040, 1, 1)),
            18_240
        );
        assert_eq!(rules.debt_surcharge(18_240, certified, day(2025, 1, 1)), 0);
    }

    async fn start(today: NaiveDate) -> (RevenueSandbox, crate::RunningSandbox, reqwest::Client) {
        let sandbox = RevenueSandbox::new();
        sandbox.set_today(Some(today));
        let running = crate::serve(sandbox.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        (sandbox, running, reqwest::Client::new())
    }

    async fn call(
        client: &reqwest::Client,
        method: reqwest::Method,
        url: String,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = client.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(client: &reqwest::Client, url: String, body: &Value) -> (u16, Value) {
        call(client, reqwest::Method::POST, url, Some(body)).await
    }

    fn declaration(
        afm: &str,
        filing: &str,
        number: u32,
        year: i32,
        gross: i64,
        vat: &str,
    ) -> Value {
        json!({
            "afm": afm,
            "period": {"filing": filing, "number": number, "year": year},
            "gross_revenue_cents": gross,
            "vat_return_date": vat,
        })
    }

    #[tokio::test]
    async fn assesses_a_declaration_and_refuses_by_the_rules() {
        let (sandbox, running, client) = start(day(2026, 7, 1)).await;
        let url = format!("{}/api/v1/declarations/assess", running.base_url());
        let good = declaration(
            SEEDED_FOOD_QUARTERLY,
            "quarterly",
            1,
            2026,
            1_234_567,
            "2026-04-20",
        );
        let (status, body) = post(&client, url.clone(), &good).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["category"], "food");
        assert_eq!(body["rate_basis_points"], 50);
        assert_eq!(body["tax_cents"], 6_173);
        assert_eq!(body["deadline"], "2026-04-30");
        assert_eq!(body["months_late"], 3);
        assert_eq!(body["surcharge_basis_points"], 600);
        assert_eq!(body["surcharge_cents"], 370);
        assert_eq!(body["total_cents"], 6_543);
        assert_eq!(body["computed_on"], "2026-07-01");
        assert_eq!(body["period"], good["period"]);
        let (_, again) = post(&client, url.clone(), &good).await;
        assert_ne!(again["assessment_id"], body["assessment_id"]);

        let night = declaration(
            SEEDED_NIGHT_MONTHLY,
            "monthly",
            5,
            2026,
            1_000_000,
            "2026-06-10",
        );
        let (status, body) = post(&client, url.clone(), &night).await;
        assert_eq!((status, body["tax_cents"].as_i64()), (200, Some(50_000)));
        // Deadline 30/06/2026, declared 01/07: one month begun, 2 %.
        assert_eq!(body["months_late"], 1);
        assert_eq!(body["total_cents"], 51_000);

        let cases = [
            (
                declaration("123456783", "quarterly", 1, 2026, 1, "2026-04-20"),
                422,
                "afm_not_registered",
            ),
            (
                declaration(SEEDED_FOOD_QUARTERLY, "monthly", 1, 2026, 1, "2026-04-20"),
                422,
                "filing_mismatch",
            ),
            (
                declaration(SEEDED_FOOD_QUARTERLY, "quarterly", 5, 2026, 1, "2026-04-20"),
                422,
                "invalid",
            ),
            (
                declaration(SEEDED_FOOD_QUARTERLY, "quarterly", 1, 2027, 1, "2026-07-01"),
                422,
                "period_not_ended",
            ),
            (
                declaration(SEEDED_FOOD_QUARTERLY, "quarterly", 3, 2026, 1, "2026-07-01"),
                422,
                "period_not_ended",
            ),
            (
                declaration(SEEDED_FOOD_QUARTERLY, "quarterly", 1, 2026, 1, "2026-03-31"),
                422,
                "vat_return_date_invalid",
            ),
            (
                declaration(SEEDED_FOOD_QUARTERLY, "quarterly", 1, 2026, 1, "2026-07-02"),
                422,
                "vat_return_date_invalid",
            ),
            (
                declaration(
                    SEEDED_FOOD_QUARTERLY,
                    "quarterly",
                    1,
                    2026,
                    -1,
                    "2026-04-20",
                ),
                422,
                "invalid",
            ),
        ];
        for (body, status, code) in cases {
            let (got, answer) = post(&client, url.clone(), &body).await;
            assert_eq!(
                (got, answer["error"].as_str()),
                (status, Some(code)),
                "{body}"
            );
        }
        let (status, answer) = post(&client, url.clone(), &json!({"afm": 1})).await;
        assert_eq!((status, answer["error"].as_str()), (422, Some("invalid")));
        // The day a period ends it has not ended yet; the next day it has.
        let q2 = declaration(SEEDED_FOOD_QUARTERLY, "quarterly", 2, 2026, 1, "2026-06-30");
        sandbox.set_today(Some(day(2026, 6, 30)));
        assert_eq!(
            post(&client, url.clone(), &q2).await.1["error"],
            "period_not_ended"
        );
        sandbox.set_today(Some(day(2026, 7, 1)));
        assert_eq!(
            post(&client, url.clone(), &q2).await.1["error"],
            "vat_return_date_invalid"
        );
        let q2 = declaration(SEEDED_FOOD_QUARTERLY, "quarterly", 2, 2026, 1, "2026-07-01");
        assert_eq!(post(&client, url, &q2).await.0, 200);
    }

    #[tokio::test]
    async fn a_paid_declaration_is_recorded_once_per_period() {
        let (sandbox, running, client) = start(day(2026, 5, 15)).await;
        let base = running.base_url();
        let assess = format!("{base}/api/v1/declarations/assess");
        let paid = format!("{base}/api/v1/declarations/paid");
        let input = declaration(
            SEEDED_FOOD_MONTHLY,
            "monthly",
            3,
            2026,
            500_000,
            "2026-04-20",
        );
        let (_, first) = post(&client, assess.clone(), &input).await;
        let (_, second) = post(&client, assess.clone(), &input).await;
        let notice = |assessment: &Value, key: &str| {
            json!({
                "assessment": assessment,
                "payment_ref": format!("REF-{key}"),
                "amount_cents": assessment["total_cents"],
                "paid_at": "2026-05-15T09:00:00Z",
                "idempotency_key": key,
            })
        };
        let (status, body) = post(&client, paid.clone(), &notice(&first, "k1")).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["recorded"]["period_key"], "2026-M03");
        assert_eq!(
            post(&client, paid.clone(), &notice(&first, "k1")).await.0,
            200
        );
        let (status, body) = post(&client, paid.clone(), &notice(&second, "k2")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("period_already_declared"))
        );
        let (status, body) = post(&client, paid.clone(), &notice(&second, "k1")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("idempotency_key_reused"))
        );
        let mut wrong_amount = notice(&first, "k3");
        wrong_amount["amount_cents"] = json!(1);
        assert_eq!(
            post(&client, paid.clone(), &wrong_amount).await.1["error"],
            "invalid"
        );
        let mut invented = first.clone();
        invented["assessment_id"] = json!("TA-NOPE");
        let (status, body) = post(&client, paid, &notice(&invented, "k4")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("assessment_unknown"))
        );
        let (status, body) = post(&client, assess, &input).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("period_already_declared"))
        );
        let recorded = sandbox.declarations();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].idempotency_key, "k1");
        let (_, listed) = call(
            &client,
            reqwest::Method::GET,
            format!("{base}/_sandbox/declarations"),
            None,
        )
        .await;
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
    }

    #[tokio::test]
    async fn lists_debts_as_of_today_and_records_payments_by_key() {
        let (sandbox, running, client) = start(day(2026, 12, 4)).await;
        let base = running.base_url();
        let (status, debts) = call(
            &client,
            reqwest::Method::GET,
            format!("{base}/api/v1/businesses/{SEEDED_FOOD_QUARTERLY}/debts"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let debts = debts.as_array().unwrap().clone();
        assert_eq!(debts.len(), 3);
        // Certified 14/10/2025, 14 months begun by December 2026: 14 % of 182.40 €.
        assert_eq!(debts[0]["debt_id"], "DF-2025-000142");
        assert_eq!(debts[0]["surcharge_cents"], 2_554);
        assert_eq!(debts[0]["amount_due_cents"], 18_240 + 2_554);
        assert_eq!(debts[0]["amount_as_of"], "2026-12-04");
        assert!(debts[0]["paid"].is_null());
        // Paid 05/08/2025, certified 12/04/2025: 4 months' surcharge, nothing due.
        assert_eq!(debts[2]["paid"]["payment_ref"], "SANDBOX-DEBT-0001");
        assert_eq!(debts[2]["surcharge_cents"], 394);
        assert_eq!(debts[2]["amount_due_cents"], 0);
        let (_, none) = call(
            &client,
            reqwest::Method::GET,
            format!("{base}/api/v1/businesses/123456783/debts"),
            None,
        )
        .await;
        assert_eq!(none, json!([]));

        let pay = |debt: &str, afm: &str, key: &str, amount: i64| {
            json!({
                "debt_id": debt, "afm": afm, "payment_ref": format!("REF-{key}"),
                "amount_cents": amount, "paid_at": "2026-12-04T10:00:00Z", "idempotency_key": key,
            })
        };
        let url = |debt: &str| format!("{base}/api/v1/debts/{debt}/payments");
        let notice = pay("DF-2025-000142", SEEDED_FOOD_QUARTERLY, "k1", 20_794);
        let (status, body) = post(&client, url("DF-2025-000142"), &notice).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            (
                body["amount_due_cents"].as_i64(),
                body["paid"]["payment_ref"].as_str()
            ),
            (Some(0), Some("REF-k1"))
        );
        assert_eq!(post(&client, url("DF-2025-000142"), &notice).await.0, 200);
        let other_key = pay("DF-2025-000142", SEEDED_FOOD_QUARTERLY, "k2", 20_794);
        let (status, body) = post(&client, url("DF-2025-000142"), &other_key).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("already_paid"))
        );
        let reused = pay("DF-2025-000142", SEEDED_FOOD_QUARTERLY, "k1", 1);
        let (status, body) = post(&client, url("DF-2025-000142"), &reused).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("idempotency_key_reused"))
        );
        let reused_elsewhere = pay("DF-2025-000287", SEEDED_FOOD_QUARTERLY, "k1", 20_794);
        let (status, body) = post(&client, url("DF-2025-000287"), &reused_elsewhere).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("idempotency_key_reused"))
        );
        let foreign = pay("DF-2025-000287", SEEDED_FOOD_MONTHLY, "k5", 100);
        let (status, body) = post(&client, url("DF-2025-000287"), &foreign).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
        let unknown = pay("DF-0000", SEEDED_FOOD_QUARTERLY, "k6", 100);
        assert_eq!(post(&client, url("DF-0000"), &unknown).await.0, 404);
        let zero = pay("DF-2025-000287", SEEDED_FOOD_QUARTERLY, "k7", 0);
        assert_eq!(
            post(&client, url("DF-2025-000287"), &zero).await.1["error"],
            "invalid"
        );
        let recorded = sandbox.debt_payments();
        assert_eq!(recorded.len(), 1);
        assert_eq!(
            (
                recorded[0].debt_id.as_str(),
                recorded[0].idempotency_key.as_str()
            ),
            ("DF-2025-000142", "k1")
        );
    }

    #[tokio::test]
    async fn seeding_today_and_fault_switches() {
        let (sandbox, running, client) = start(day(2026, 12, 4)).await;
        let base = running.base_url();
        let put = |path: &str, body: Value| {
            let client = client.clone();
            let url = format!("{base}{path}");
            async move { call(&client, reqwest::Method::PUT, url, Some(&body)).await }
        };
        let (status, _) = put(
            "/_sandbox/businesses/998123451",
            json!({"company_name": "Δοκιμή", "category": "night", "filing": "quarterly"}),
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = put(
            "/_sandbox/businesses/998123451",
            json!({"company_name": "Δοκιμή", "category": "nope", "filing": "quarterly"}),
        )
        .await;
        assert_eq!(status, 422);
        let (status, debts) = put(
            "/_sandbox/debts/998123451",
            json!([{"debt_id": "T-1", "description": "Δοκιμή", "certified_on": "2026-11-30", "principal_cents": 1000}]),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(debts[0]["surcharge_cents"], 10);
        let (status, _) = put("/_sandbox/today", json!({"today": "2026-11-30"})).await;
        assert_eq!(status, 200);
        assert_eq!(sandbox.today(), day(2026, 11, 30));
        let url = format!("{base}/api/v1/businesses/998123451/debts");
        let (_, debts) = call(&client, reqwest::Method::GET, url.clone(), None).await;
        assert_eq!(debts[0]["amount_due_cents"], 1000);

        put("/_sandbox/faults", json!({"down": true})).await;
        assert_eq!(
            call(&client, reqwest::Method::GET, url.clone(), None)
                .await
                .0,
            503
        );
        put("/_sandbox/faults", json!({"fail_next": 1})).await;
        assert_eq!(
            call(&client, reqwest::Method::GET, url.clone(), None)
                .await
                .0,
            500
        );
        assert_eq!(
            call(&client, reqwest::Method::GET, url.clone(), None)
                .await
                .0,
            200
        );
        put("/_sandbox/faults", json!({"malformed": true})).await;
        let (status, body) = call(&client, reqwest::Method::GET, url.clone(), None).await;
        assert_eq!(status, 200);
        assert!(!body.is_array());
        sandbox.set_faults(RevenueFaults::default());
        let (_, faults) = call(
            &client,
            reqwest::Method::GET,
            format!("{base}/_sandbox/faults"),
            None,
        )
        .await;
        assert_eq!(
            faults,
            json!({"down": false, "slow_ms": 0, "fail_next": 0, "malformed": false})
        );
    }
}
