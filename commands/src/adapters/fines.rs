//! The HTTP adapter to the fines-management system (Διαχείριση Κλήσεων). The sandbox in
//! `sandboxes::fines` speaks the same contract. Money is euro cents, times RFC 3339.
//!
//! - `POST {base}/api/v1/fines/find-or-register` with
//!   `{municipality_code, fine_type, fine_number, plate, offence_at}` answers `200` (found)
//!   or `201` (registered) with `{fine_number, plate, fine_type, offence_at, base_cents,
//!   amount_due_cents, amount_valid_until (YYYY-MM-DD|null), origin ("found"|"registered"),
//!   paid (null|{payment_ref, amount_cents, paid_at})}`.
//! - `POST {base}/api/v1/fines/{fine_number}/payments` with
//!   `{payment_ref, amount_cents, idempotency_key}` (and the `Idempotency-Key` header)
//!   answers `201`, or `200` for a repeated key, with the same record, now paid.
//!
//! A refusal is a 4xx with `{"error": code, "detail": text}`; codes: `details_mismatch`,
//! `municipality_code_foreign`, `fine_type_unknown`, `offence_in_future`, `already_paid`
//! (409), `idempotency_key_reused`, `not_found` (404), anything else →
//! [`FinesRejection::Other`]. A 5xx, a time-out, no answer, a 404 without the `not_found`
//! code (a wrong URL), or a 2xx whose body breaks the contract mean "unavailable, try
//! later".

use domain::Money;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use domain::fines::{FineNumber, Plate};
use domain::ports::{
    FineOrigin, FinePaymentNotice, FineQuery, FineRecord, FineSettlement, FinesError,
    FinesRejection, FinesSystem,
};
use reqwest::StatusCode;
use serde::Deserialize;

use super::http::{json_call, CallFailure};

pub struct HttpFinesSystem {
    base_url: String,
    client: reqwest::Client,
}

impl HttpFinesSystem {
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

    /// Sends `body` to `path` and turns the answer into a record or an error.
    async fn call(
        &self,
        path: &str,
        idempotency_key: Option<&str>,
        body: &impl serde::Serialize,
    ) -> Result<FineRecord, FinesError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self.client.post(&url).json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let body: RecordBody = json_call(request).await.map_err(|failure| match failure {
            CallFailure::Unavailable(why) => FinesError::Unavailable(why),
            CallFailure::Refused(status, text) => refusal(status, &text),
        })?;
        body.into_record()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    detail: String,
}

fn refusal(status: StatusCode, text: &str) -> FinesError {
    let Ok(body) = serde_json::from_str::<ErrorBody>(text) else {
        if status == StatusCode::NOT_FOUND {
            return FinesError::Unavailable(format!("answered {status}: wrong address?"));
        }
        return FinesError::Rejected(FinesRejection::Other(format!("answered {status}: {text}")));
    };
    let rejection = match body.error.as_str() {
        "not_found" => return FinesError::NotFound,
        "details_mismatch" => FinesRejection::DetailsMismatch,
        "municipality_code_foreign" => FinesRejection::MunicipalityCodeForeign,
        "fine_type_unknown" => FinesRejection::FineTypeUnknown,
        "offence_in_future" => FinesRejection::OffenceInFuture,
        "already_paid" => FinesRejection::AlreadyPaid,
        "idempotency_key_reused" => FinesRejection::IdempotencyKeyReused,
        other => FinesRejection::Other(format!("{other}: {}", body.detail)),
    };
    FinesError::Rejected(rejection)
}

#[derive(Deserialize)]
struct SettlementBody {
    payment_ref: String,
    amount_cents: Money,
    paid_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RecordBody {
    fine_number: String,
    plate: String,
    fine_type: String,
    offence_at: DateTime<Utc>,
    base_cents: Money,
    amount_due_cents: Money,
    amount_valid_until: Option<NaiveDate>,
    origin: FineOrigin,
    paid: Option<SettlementBody>,
}

impl RecordBody {
    /// Checks what serde cannot: numbers and plates in our formats, sane amounts.
    fn into_record(self) -> Result<FineRecord, FinesError> {
        let broken =
            |what: &str| FinesError::Unavailable(format!("answer breaks the contract: {what}"));
        let fine_number =
            FineNumber::parse(&self.fine_number).map_err(|_| broken("fine_number"))?;
        let plate = Plate::parse(&self.plate).map_err(|_| broken("plate"))?;
        if self.base_cents <= Money::ZERO || self.amount_due_cents < Money::ZERO {
            return Err(broken("amounts"));
        }
        Ok(FineRecord {
            fine_number,
            plate,
            fine_type: self.fine_type,
            offence_at: self.offence_at,
            base_cents: self.base_cents,
            amount_due_cents: self.amount_due_cents,
            amount_valid_until: self.amount_valid_until,
            origin: self.origin,
            paid: self.paid.map(|p| FineSettlement {
                payment_ref: p.payment_ref,
                amount_cents: p.amount_cents,
                paid_at: p.paid_at,
            }),
        })
    }
}

#[async_trait]
impl FinesSystem for HttpFinesSystem {
    async fn find_or_register(&self, query: &FineQuery) -> Result<FineRecord, FinesError> {
        let record = self
            .call("/api/v1/fines/find-or-register", None, query)
            .await?;
        if record.fine_number != query.fine_number {
            return Err(FinesError::Unavailable(
                "answer breaks the contract: another fine number".into(),
            ));
        }
        Ok(record)
    }

    async fn mark_paid(&self, notice: &FinePaymentNotice) -> Result<(), FinesError> {
        let path = format!("/api/v1/fines/{}/payments", notice.fine_number.as_str());
        let body = serde_json::json!({
            "payment_ref": notice.payment_ref,
            "amount_cents": notice.amount_cents,
            "idempotency_key": notice.idempotency_key,
        });
        let record = self
            .call(&path, Some(&notice.idempotency_key), &body)
            .await?;
        match record.paid {
            Some(paid) if paid.payment_ref == notice.payment_ref => Ok(()),
            _ => Err(FinesError::Unavailable(
                "answer breaks the contract: the fine is not paid by this payment".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sandboxes::fines::{FinesFaults, FinesSandbox, SandboxRules, SEEDED_EARLY, SEEDED_PAID};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 20, 10, 0, 0).unwrap()
    }

    async fn start(timeout_ms: u64) -> (FinesSandbox, sandboxes::RunningSandbox, HttpFinesSystem) {
        let sandbox = FinesSandbox::with_rules(SandboxRules::default(), now());
        let running = sandboxes::serve(sandbox.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let adapter = HttpFinesSystem::new(
            format!("{}/", running.base_url()),
            Duration::from_millis(timeout_ms),
        );
        (sandbox, running, adapter)
    }

    fn seeded_query(sandbox: &FinesSandbox, number: &str) -> FineQuery {
        let fine = sandbox
            .fines()
            .into_iter()
            .find(|f| f.fine_number == number)
            .unwrap();
        FineQuery {
            municipality_code: "9999".into(),
            fine_type: fine.fine_type,
            fine_number: FineNumber::parse(number).unwrap(),
            plate: Plate::parse(&fine.plate).unwrap(),
            offence_at: fine.offence_at,
        }
    }

    fn new_query() -> FineQuery {
        FineQuery {
            municipality_code: "9999".into(),
            fine_type: "P01".into(),
            fine_number: FineNumber::parse("AB 555 666").unwrap(),
            // Typed with Latin letters; the adapter sends the canonical Greek plate.
            plate: Plate::parse("ikm 4321").unwrap(),
            offence_at: Utc.with_ymd_and_hms(2026, 3, 12, 7, 40, 0).unwrap(),
        }
    }

    fn notice(number: &str, key: &str) -> FinePaymentNotice {
        FinePaymentNotice {
            fine_number: FineNumber::parse(number).unwrap(),
            payment_ref: format!("REF-{key}"),
            amount_cents: Money::from_cents(4000),
            idempotency_key: key.into(),
        }
    }

    #[tokio::test]
    async fn finds_a_seeded_fine_and_sees_a_paid_one() {
        let (sandbox, _running, fines) = start(2000).await;
        let record = fines
            .find_or_register(&seeded_query(&sandbox, SEEDED_EARLY))
            .await
            .unwrap();
        assert_eq!(record.origin, FineOrigin::Found);
        assert_eq!(record.plate.as_str(), "ΥΧΡ-1234");
        assert_eq!(
            (record.base_cents, record.amount_due_cents),
            (Money::from_cents(8000), Money::from_cents(4000))
        );
        assert_eq!(
            record.amount_valid_until,
            NaiveDate::from_ymd_opt(2026, 3, 27)
        );
        assert!(record.paid.is_none());
        let paid = fines
            .find_or_register(&seeded_query(&sandbox, SEEDED_PAID))
            .await
            .unwrap();
        assert_eq!(paid.paid.unwrap().payment_ref, "SANDBOX-PAID-0001");
    }

    #[tokio::test]
    async fn registers_a_fine_anew_then_finds_it() {
        let (sandbox, _running, fines) = start(2000).await;
        let record = fines.find_or_register(&new_query()).await.unwrap();
        assert_eq!(record.origin, FineOrigin::Registered);
        assert_eq!(record.fine_number.as_str(), "AB555666");
        assert_eq!(record.plate.as_str(), "ΙΚΜ-4321");
        assert_eq!(record.amount_due_cents, Money::from_cents(4000)); // day 8: −50 %
        let again = fines.find_or_register(&new_query()).await.unwrap();
        assert_eq!(again.origin, FineOrigin::Found);
        assert_eq!(sandbox.fines().last().unwrap().plate, "ΙΚΜ-4321");
    }

    #[tokio::test]
    async fn refusals_are_typed() {
        let (sandbox, _running, fines) = start(2000).await;
        let mut mismatch = seeded_query(&sandbox, SEEDED_EARLY);
        mismatch.plate = Plate::parse("ΥΧΡ-9999").unwrap();
        assert_eq!(
            fines.find_or_register(&mismatch).await.unwrap_err(),
            FinesError::Rejected(FinesRejection::DetailsMismatch)
        );
        let mut foreign = new_query();
        foreign.municipality_code = "1234".into();
        let err = fines.find_or_register(&foreign).await.unwrap_err();
        assert_eq!(err.to_refusal().code, "municipality_code_foreign");
        let mut unknown = new_query();
        unknown.fine_type = "Z99".into();
        assert_eq!(
            fines.find_or_register(&unknown).await.unwrap_err(),
            FinesError::Rejected(FinesRejection::FineTypeUnknown)
        );
        assert_eq!(
            fines
                .mark_paid(&notice("999999999", "k"))
                .await
                .unwrap_err(),
            FinesError::NotFound
        );
    }

    #[tokio::test]
    async fn paid_once_twice_with_the_same_key_and_refused_with_another() {
        let (sandbox, _running, fines) = start(2000).await;
        fines
            .mark_paid(&notice(SEEDED_EARLY, "pay-1"))
            .await
            .unwrap();
        fines
            .mark_paid(&notice(SEEDED_EARLY, "pay-1"))
            .await
            .unwrap();
        assert_eq!(
            fines
                .mark_paid(&notice(SEEDED_EARLY, "pay-2"))
                .await
                .unwrap_err(),
            FinesError::Rejected(FinesRejection::AlreadyPaid)
        );
        let mut reused = notice(SEEDED_EARLY, "pay-1");
        reused.amount_cents = Money::from_cents(1);
        assert_eq!(
            fines.mark_paid(&reused).await.unwrap_err(),
            FinesError::Rejected(FinesRejection::IdempotencyKeyReused)
        );
        let paid = sandbox
            .fines()
            .into_iter()
            .find(|f| f.fine_number == SEEDED_EARLY)
            .unwrap();
        assert_eq!(paid.paid.unwrap().payment_ref, "REF-pay-1");
        let record = fines
            .find_or_register(&seeded_query(&sandbox, SEEDED_EARLY))
            .await
            .unwrap();
        assert_eq!(record.amount_due_cents, Money::ZERO);
    }

    fn unavailable(result: Result<impl std::fmt::Debug, FinesError>) -> bool {
        matches!(result, Err(FinesError::Unavailable(_)))
    }

    #[tokio::test]
    async fn faults_are_unavailable() {
        let (sandbox, running, fines) = start(300).await;
        let down = FinesFaults {
            down: true,
            ..FinesFaults::default()
        };
        sandbox.set_faults(down);
        assert!(unavailable(fines.find_or_register(&new_query()).await));
        assert!(unavailable(
            fines.mark_paid(&notice(SEEDED_EARLY, "k")).await
        ));

        sandbox.set_faults(FinesFaults {
            fail_next: 1,
            ..FinesFaults::default()
        });
        assert!(unavailable(fines.find_or_register(&new_query()).await));
        assert!(fines.find_or_register(&new_query()).await.is_ok());

        sandbox.set_faults(FinesFaults {
            slow_ms: 1000,
            ..FinesFaults::default()
        });
        assert!(unavailable(fines.find_or_register(&new_query()).await));

        sandbox.set_faults(FinesFaults {
            malformed: true,
            ..FinesFaults::default()
        });
        assert!(unavailable(fines.find_or_register(&new_query()).await));
        assert!(unavailable(
            fines.mark_paid(&notice(SEEDED_EARLY, "k")).await
        ));
        sandbox.set_faults(FinesFaults::default());
        assert!(sandbox
            .fines()
            .iter()
            .all(|f| f.fine_number != SEEDED_EARLY || f.paid.is_none()));

        let wrong_path = HttpFinesSystem::new(
            format!("{}/nothing-here", running.base_url()),
            Duration::from_millis(300),
        );
        assert!(unavailable(wrong_path.find_or_register(&new_query()).await));
        let gone = HttpFinesSystem::new(running.base_url(), Duration::from_millis(300));
        drop(running);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(unavailable(gone.find_or_register(&new_query()).await));
    }

    #[test]
    fn answers_that_break_the_contract_are_unavailable() {
        let good = serde_json::json!({
            "fine_number": "123456", "plate": "ΥΧΡ-1234", "fine_type": "P01",
            "offence_at": "2026-03-01T10:00:00Z", "base_cents": 8000,
            "amount_due_cents": 4000, "amount_valid_until": null, "origin": "found",
            "paid": null,
        });
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<RecordBody>(v)
                .map_err(|e| FinesError::Unavailable(e.to_string()))
                .and_then(RecordBody::into_record)
        };
        assert!(parse(good.clone()).is_ok());
        for (field, value) in [
            ("plate", serde_json::json!("QQQ-1234")),
            ("fine_number", serde_json::json!("1")),
            ("base_cents", serde_json::json!(0)),
            ("amount_due_cents", serde_json::json!(-1)),
            ("origin", serde_json::json!("invented")),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            assert!(unavailable(parse(bad)), "{field}");
        }
        assert_eq!(
            refusal(StatusCode::BAD_REQUEST, "not json"),
            FinesError::Rejected(FinesRejection::Other(
                "answered 400 Bad Request: not json".into()
            ))
        );
    }
}
