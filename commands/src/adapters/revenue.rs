//! The HTTP adapter to the municipality's revenue system (Έσοδα / Δημοτικός Φόρος). The
//! sandbox in `sandboxes::revenue` speaks the same contract (its module documentation has
//! it in full). Money in euro cents, rates in basis points, days `YYYY-MM-DD`, times
//! RFC 3339.
//!
//! - `POST {base}/api/v1/declarations/assess` → `200` with a [`TaxAssessment`].
//! - `POST {base}/api/v1/declarations/paid` (a [`DeclarationPaidNotice`], and the
//!   `Idempotency-Key` header) → `201`, or `200` for a repeated key, `{"recorded": …}`.
//! - `GET {base}/api/v1/businesses/{afm}/debts` → `200 [CertifiedDebt]`.
//! - `POST {base}/api/v1/debts/{debt_id}/payments` (a [`DebtPaymentNotice`], and the
//!   `Idempotency-Key` header) → `201`, or `200` for a repeated key, with the debt, paid.
//!
//! A refusal is a 4xx with `{"error": code, "detail": text}`: `afm_not_registered`,
//! `period_not_ended`, `vat_return_date_invalid`, `filing_mismatch`,
//! `period_already_declared`, `already_paid` ([`RevenueRejection::DebtAlreadyPaid`]),
//! `idempotency_key_reused`, `not_found` (404, [`RevenueError::NotFound`]), anything else
//! → [`RevenueRejection::Other`]. A 5xx, a time-out, no answer, a 404 without the
//! `not_found` code (a wrong URL), or a 2xx whose body breaks the contract (checked: the
//! answer is about what was asked, and its sums add up) mean "unavailable, try later".

use domain::Money;
use std::time::Duration;

use async_trait::async_trait;
use domain::business::{
    CertifiedDebt, DebtPaymentNotice, DeclarationInput, DeclarationPaidNotice, RevenueError,
    RevenueRejection, RevenueSystem, TaxAssessment,
};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::http::{json_call, CallFailure};

pub struct HttpRevenueSystem {
    base_url: String,
    client: reqwest::Client,
}

impl HttpRevenueSystem {
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a reqwest client with a timeout always builds");
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            client,
        }
    }

    /// Sends the request and reads a 2xx answer as `T`, or turns the answer into an error.
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, RevenueError> {
        json_call(request).await.map_err(|failure| match failure {
            CallFailure::Unavailable(why) => RevenueError::Unavailable(why),
            CallFailure::Refused(status, text) => refusal(status, &text),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    detail: String,
}

fn refusal(status: StatusCode, text: &str) -> RevenueError {
    let Ok(body) = serde_json::from_str::<ErrorBody>(text) else {
        if status == StatusCode::NOT_FOUND {
            return RevenueError::Unavailable(format!("answered {status}: wrong address?"));
        }
        return RevenueError::Rejected(RevenueRejection::Other(format!(
            "answered {status}: {text}"
        )));
    };
    let rejection = match body.error.as_str() {
        "not_found" => return RevenueError::NotFound,
        "afm_not_registered" => RevenueRejection::AfmNotRegistered,
        "period_not_ended" => RevenueRejection::PeriodNotEnded,
        "vat_return_date_invalid" => RevenueRejection::VatReturnDateInvalid,
        "filing_mismatch" => RevenueRejection::FilingMismatch,
        "period_already_declared" => RevenueRejection::PeriodAlreadyDeclared,
        "already_paid" => RevenueRejection::DebtAlreadyPaid,
        "idempotency_key_reused" => RevenueRejection::IdempotencyKeyReused,
        other => RevenueRejection::Other(format!("{other}: {}", body.detail)),
    };
    RevenueError::Rejected(rejection)
}

fn broken(what: &str) -> RevenueError {
    RevenueError::Unavailable(format!("answer breaks the contract: {what}"))
}

/// A debt id as the contract allows it: ASCII letters, digits and '-' (it goes in a path).
fn debt_id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Checks what serde cannot: the assessment answers what was asked, and its sums add up.
fn check_assessment(
    input: &DeclarationInput,
    assessment: TaxAssessment,
) -> Result<TaxAssessment, RevenueError> {
    if assessment.afm != input.afm
        || assessment.period != input.period
        || assessment.gross_revenue_cents != input.gross_revenue_cents
        || assessment.vat_return_date != input.vat_return_date
    {
        return Err(broken("the assessment is of another declaration"));
    }
    if assessment.assessment_id.trim().is_empty() {
        return Err(broken("assessment_id"));
    }
    if assessment.tax_cents < Money::ZERO
        || assessment.surcharge_cents < Money::ZERO
        || assessment.tax_cents.checked_add(assessment.surcharge_cents)
            != Some(assessment.total_cents)
    {
        return Err(broken("amounts"));
    }
    if assessment.months_late == 0 && assessment.surcharge_cents != Money::ZERO {
        return Err(broken("a surcharge without delay"));
    }
    Ok(assessment)
}

/// Checks a debt of `afm`: well formed, and what is due adds up.
fn check_debt(afm: &str, debt: &CertifiedDebt) -> Result<(), RevenueError> {
    if debt.afm != afm {
        return Err(broken("a debt of another AFM"));
    }
    if !debt_id_ok(&debt.debt_id) {
        return Err(broken("debt_id"));
    }
    if debt.principal_cents <= Money::ZERO || debt.surcharge_cents < Money::ZERO {
        return Err(broken("amounts"));
    }
    let due = match &debt.paid {
        Some(_) => Money::ZERO,
        None => debt
            .principal_cents
            .checked_add(debt.surcharge_cents)
            .ok_or_else(|| broken("amounts"))?,
    };
    if debt.amount_due_cents != due {
        return Err(broken("amount_due_cents"));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Recorded {
    recorded: RecordedBody,
}

#[derive(Deserialize)]
struct RecordedBody {
    idempotency_key: String,
}

#[async_trait]
impl RevenueSystem for HttpRevenueSystem {
    async fn assess(&self, input: &DeclarationInput) -> Result<TaxAssessment, RevenueError> {
        let request = self
            .client
            .post(self.url("/api/v1/declarations/assess"))
            .json(input);
        let assessment: TaxAssessment = self.call(request).await?;
        check_assessment(input, assessment)
    }

    async fn record_declaration(&self, notice: &DeclarationPaidNotice) -> Result<(), RevenueError> {
        let request = self
            .client
            .post(self.url("/api/v1/declarations/paid"))
            .header("Idempotency-Key", &notice.idempotency_key)
            .json(notice);
        let answer: Recorded = self.call(request).await?;
        if answer.recorded.idempotency_key != notice.idempotency_key {
            return Err(broken("recorded under another key"));
        }
        Ok(())
    }

    async fn certified_debts(&self, afm: &str) -> Result<Vec<CertifiedDebt>, RevenueError> {
        if afm.is_empty() || !afm.chars().all(|c| c.is_ascii_digit()) {
            return Err(RevenueError::Rejected(RevenueRejection::Other(
                "an AFM is digits".into(),
            )));
        }
        let request = self
            .client
            .get(self.url(&format!("/api/v1/businesses/{afm}/debts")));
        let debts: Vec<CertifiedDebt> = self.call(request).await?;
        for debt in &debts {
            check_debt(afm, debt)?;
        }
        Ok(debts)
    }

    async fn mark_debt_paid(&self, notice: &DebtPaymentNotice) -> Result<(), RevenueError> {
        if !debt_id_ok(&notice.debt_id) {
            return Err(RevenueError::NotFound);
        }
        let request = self
            .client
            .post(self.url(&format!("/api/v1/debts/{}/payments", notice.debt_id)))
            .header("Idempotency-Key", &notice.idempotency_key)
            .json(notice);
        let debt: CertifiedDebt = self.call(request).await?;
        check_debt(&notice.afm, &debt)?;
        match debt.paid {
            Some(paid)
                if paid.payment_ref == notice.payment_ref && debt.debt_id == notice.debt_id =>
            {
                Ok(())
            }
            _ => Err(broken("the debt is not paid by this payment")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use domain::business::{Filing, TaxPeriod};
    use sandboxes::revenue::{RevenueFaults, RevenueSandbox, SEEDED_FOOD_QUARTERLY};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    async fn start(
        timeout_ms: u64,
    ) -> (RevenueSandbox, sandboxes::RunningSandbox, HttpRevenueSystem) {
        let sandbox = RevenueSandbox::new();
        sandbox.set_today(Some(day(2026, 7, 1)));
        let running = sandboxes::serve(sandbox.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let adapter = HttpRevenueSystem::new(
            format!("{}/", running.base_url()),
            Duration::from_millis(timeout_ms),
        );
        (sandbox, running, adapter)
    }

    fn input(number: u32, gross: i64, vat: NaiveDate) -> DeclarationInput {
        DeclarationInput {
            afm: SEEDED_FOOD_QUARTERLY.into(),
            period: TaxPeriod::new(Filing::Quarterly, number, 2026).unwrap(),
            gross_revenue_cents: Money::from_cents(gross),
            vat_return_date: vat,
        }
    }

    fn paid_notice(assessment: &TaxAssessment, key: &str) -> DeclarationPaidNotice {
        DeclarationPaidNotice {
            assessment: assessment.clone(),
            payment_ref: format!("REF-{key}"),
            amount_cents: assessment.total_cents,
            paid_at: Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).unwrap(),
            idempotency_key: key.into(),
        }
    }

    fn debt_notice(debt_id: &str, key: &str, amount: i64) -> DebtPaymentNotice {
        DebtPaymentNotice {
            debt_id: debt_id.into(),
            afm: SEEDED_FOOD_QUARTERLY.into(),
            payment_ref: format!("REF-{key}"),
            amount_cents: Money::from_cents(amount),
            paid_at: Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).unwrap(),
            idempotency_key: key.into(),
        }
    }

    #[tokio::test]
    async fn assesses_records_and_refuses_a_second_declaration_of_the_period() {
        let (sandbox, _running, revenue) = start(2000).await;
        let assessment = revenue
            .assess(&input(1, 1_234_567, day(2026, 4, 20)))
            .await
            .unwrap();
        assert_eq!(assessment.category, "food");
        assert_eq!(
            (
                assessment.tax_cents,
                assessment.months_late,
                assessment.surcharge_cents
            ),
            (Money::from_cents(6_173), 3, Money::from_cents(370))
        );
        assert_eq!(assessment.total_cents, Money::from_cents(6_543));
        assert_eq!(assessment.deadline, day(2026, 4, 30));
        assert_eq!(assessment.computed_on, day(2026, 7, 1));
        revenue
            .record_declaration(&paid_notice(&assessment, "p1"))
            .await
            .unwrap();
        revenue
            .record_declaration(&paid_notice(&assessment, "p1"))
            .await
            .unwrap();
        assert_eq!(sandbox.declarations().len(), 1);
        assert_eq!(
            revenue
                .assess(&input(1, 1, day(2026, 4, 20)))
                .await
                .unwrap_err(),
            RevenueError::Rejected(RevenueRejection::PeriodAlreadyDeclared)
        );
    }

    #[tokio::test]
    async fn refusals_are_typed() {
        let (_sandbox, _running, revenue) = start(2000).await;
        let reject = |r: RevenueRejection| RevenueError::Rejected(r);
        assert_eq!(
            revenue
                .assess(&input(3, 1, day(2026, 7, 1)))
                .await
                .unwrap_err(),
            reject(RevenueRejection::PeriodNotEnded)
        );
        assert_eq!(
            revenue
                .assess(&input(1, 1, day(2026, 3, 31)))
                .await
                .unwrap_err(),
            reject(RevenueRejection::VatReturnDateInvalid)
        );
        let mut monthly = input(1, 1, day(2026, 4, 20));
        monthly.period = TaxPeriod::new(Filing::Monthly, 1, 2026).unwrap();
        assert_eq!(
            revenue.assess(&monthly).await.unwrap_err(),
            reject(RevenueRejection::FilingMismatch)
        );
        let mut unknown = input(1, 1, day(2026, 4, 20));
        unknown.afm = "123456783".into();
        let err = revenue.assess(&unknown).await.unwrap_err();
        assert_eq!(err, reject(RevenueRejection::AfmNotRegistered));
        assert_eq!(err.to_refusal().code, "afm_not_registered");
        let negative = revenue
            .assess(&input(1, -1, day(2026, 4, 20)))
            .await
            .unwrap_err();
        assert!(matches!(
            negative,
            RevenueError::Rejected(RevenueRejection::Other(_))
        ));
        assert_eq!(
            revenue
                .mark_debt_paid(&debt_notice("DF-NOPE", "k", 100))
                .await
                .unwrap_err(),
            RevenueError::NotFound
        );
        assert_eq!(
            revenue
                .mark_debt_paid(&debt_notice("../x", "k", 100))
                .await
                .unwrap_err(),
            RevenueError::NotFound
        );
    }

    #[tokio::test]
    async fn debts_are_listed_and_paid_once() {
        let (sandbox, _running, revenue) = start(2000).await;
        let debts = revenue
            .certified_debts(SEEDED_FOOD_QUARTERLY)
            .await
            .unwrap();
        assert_eq!(debts.len(), 3);
        let open = &debts[0];
        assert_eq!(open.debt_id, "DF-2025-000142");
        assert_eq!(open.amount_as_of, day(2026, 7, 1));
        // 9 months begun since October 2025: 9 % of 182.40 €.
        assert_eq!(
            (open.surcharge_cents, open.amount_due_cents),
            (Money::from_cents(1_642), Money::from_cents(19_882))
        );
        assert!(debts[2].paid.is_some());
        assert!(revenue
            .certified_debts("123456783")
            .await
            .unwrap()
            .is_empty());

        let notice = debt_notice("DF-2025-000142", "d1", 19_882);
        revenue.mark_debt_paid(&notice).await.unwrap();
        revenue.mark_debt_paid(&notice).await.unwrap();
        assert_eq!(
            revenue
                .mark_debt_paid(&debt_notice("DF-2025-000142", "d2", 19_882))
                .await
                .unwrap_err(),
            RevenueError::Rejected(RevenueRejection::DebtAlreadyPaid)
        );
        assert_eq!(
            revenue
                .mark_debt_paid(&debt_notice("DF-2025-000142", "d1", 1))
                .await
                .unwrap_err(),
            RevenueError::Rejected(RevenueRejection::IdempotencyKeyReused)
        );
        assert_eq!(sandbox.debt_payments().len(), 1);
        let after = revenue
            .certified_debts(SEEDED_FOOD_QUARTERLY)
            .await
            .unwrap();
        assert_eq!(after[0].amount_due_cents, Money::ZERO);
        assert_eq!(after[0].paid.as_ref().unwrap().payment_ref, "REF-d1");
    }

    fn unavailable<T: std::fmt::Debug>(result: Result<T, RevenueError>) -> bool {
        matches!(result, Err(RevenueError::Unavailable(_)))
    }

    #[tokio::test]
    async fn faults_are_unavailable() {
        let (sandbox, running, revenue) = start(300).await;
        let declaration = input(1, 100_000, day(2026, 4, 20));
        for faults in [
            RevenueFaults {
                down: true,
                ..RevenueFaults::default()
            },
            RevenueFaults {
                malformed: true,
                ..RevenueFaults::default()
            },
            RevenueFaults {
                slow_ms: 1000,
                ..RevenueFaults::default()
            },
        ] {
            sandbox.set_faults(faults.clone());
            assert!(
                unavailable(revenue.assess(&declaration).await),
                "{faults:?}"
            );
            assert!(
                unavailable(revenue.certified_debts(SEEDED_FOOD_QUARTERLY).await),
                "{faults:?}"
            );
            assert!(
                unavailable(
                    revenue
                        .mark_debt_paid(&debt_notice("DF-2025-000142", "k", 100))
                        .await
                ),
                "{faults:?}"
            );
        }
        sandbox.set_faults(RevenueFaults {
            fail_next: 1,
            ..RevenueFaults::default()
        });
        assert!(unavailable(
            revenue.certified_debts(SEEDED_FOOD_QUARTERLY).await
        ));
        assert!(revenue.certified_debts(SEEDED_FOOD_QUARTERLY).await.is_ok());
        let assessment = revenue.assess(&declaration).await.unwrap();
        sandbox.set_faults(RevenueFaults {
            malformed: true,
            ..RevenueFaults::default()
        });
        assert!(unavailable(
            revenue
                .record_declaration(&paid_notice(&assessment, "k"))
                .await
        ));
        sandbox.set_faults(RevenueFaults::default());
        assert!(sandbox.declarations().is_empty());
        assert!(sandbox.debt_payments().is_empty());

        let wrong_path = HttpRevenueSystem::new(
            format!("{}/nothing-here", running.base_url()),
            Duration::from_millis(300),
        );
        assert!(unavailable(wrong_path.assess(&declaration).await));
        let gone = HttpRevenueSystem::new(running.base_url(), Duration::from_millis(300));
        drop(running);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(unavailable(
            gone.certified_debts(SEEDED_FOOD_QUARTERLY).await
        ));
    }

    #[test]
    fn answers_that_break_the_contract_are_unavailable() {
        let asked = input(1, 100_000, day(2026, 4, 20));
        let good = TaxAssessment {
            assessment_id: "TA-1".into(),
            afm: asked.afm.clone(),
            period: asked.period,
            gross_revenue_cents: asked.gross_revenue_cents,
            vat_return_date: asked.vat_return_date,
            category: "food".into(),
            category_name_el: "Καταστήματα".into(),
            category_name_en: "Food".into(),
            rate_basis_points: 50,
            tax_cents: Money::from_cents(500),
            deadline: day(2026, 4, 30),
            months_late: 1,
            surcharge_basis_points: 200,
            surcharge_cents: Money::from_cents(10),
            total_cents: Money::from_cents(510),
            computed_on: day(2026, 5, 2),
        };
        assert!(check_assessment(&asked, good.clone()).is_ok());
        let broken_ones = [
            TaxAssessment {
                total_cents: Money::from_cents(511),
                ..good.clone()
            },
            TaxAssessment {
                afm: "090012345".into(),
                ..good.clone()
            },
            TaxAssessment {
                gross_revenue_cents: Money::from_cents(1),
                ..good.clone()
            },
            TaxAssessment {
                assessment_id: " ".into(),
                ..good.clone()
            },
            TaxAssessment {
                months_late: 0,
                ..good.clone()
            },
            TaxAssessment {
                tax_cents: Money::from_cents(-10),
                surcharge_cents: Money::from_cents(520),
                ..good.clone()
            },
        ];
        for bad in broken_ones {
            assert!(
                unavailable(check_assessment(&asked, bad.clone())),
                "{bad:?}"
            );
        }
        let debt = CertifiedDebt {
            debt_id: "DF-1".into(),
            afm: SEEDED_FOOD_QUARTERLY.into(),
            description: "Δημοτικός φόρος".into(),
            certified_on: day(2025, 1, 1),
            principal_cents: Money::from_cents(1000),
            surcharge_cents: Money::from_cents(10),
            amount_due_cents: Money::from_cents(1010),
            amount_as_of: day(2026, 1, 1),
            paid: None,
        };
        assert!(check_debt(SEEDED_FOOD_QUARTERLY, &debt).is_ok());
        assert!(check_debt("090012345", &debt).is_err());
        for bad in [
            CertifiedDebt {
                amount_due_cents: Money::from_cents(1000),
                ..debt.clone()
            },
            CertifiedDebt {
                debt_id: "DF/1".into(),
                ..debt.clone()
            },
            CertifiedDebt {
                principal_cents: Money::ZERO,
                amount_due_cents: Money::from_cents(10),
                ..debt.clone()
            },
        ] {
            assert!(check_debt(SEEDED_FOOD_QUARTERLY, &bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            refusal(StatusCode::NOT_FOUND, "no json"),
            RevenueError::Unavailable("answered 404 Not Found: wrong address?".into())
        );
        assert_eq!(
            refusal(StatusCode::CONFLICT, r#"{"error":"already_paid"}"#),
            RevenueError::Rejected(RevenueRejection::DebtAlreadyPaid)
        );
        assert_eq!(
            refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                r#"{"error":"assessment_unknown","detail":"x"}"#
            ),
            RevenueError::Rejected(RevenueRejection::Other("assessment_unknown: x".into()))
        );
    }
}
