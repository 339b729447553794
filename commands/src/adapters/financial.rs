//! The HTTP adapter to the municipality's financial system (οικονομική υπηρεσία): the
//! payment orders (χρηματικά εντάλματα) issued to a supplier's ΑΦΜ. The sandbox in
//! `sandboxes::financial` speaks the same contract. Money is euro cents, days `YYYY-MM-DD`.
//!
//! - `GET {base}/api/v1/suppliers/{afm}/warrants` answers `200` with `{afm, warrants:
//!   [{number, issued_on, amount_cents, purpose, status ("issued"|"paid"), paid_on
//!   (YYYY-MM-DD|null)}]}`; an ΑΦΜ it holds nothing for: an empty list.
//!
//! A refusal is a 4xx with `{"error": code, "detail": text}` → [`FinancialError::Rejected`].
//! A 5xx, a time-out, no answer, a 4xx without that body (e.g. a 404 of a wrong URL), or a
//! 2xx whose body breaks the contract (another ΑΦΜ, an amount that is not positive, a paid
//! warrant without its day or an issued one with it, a day of payment before the day of
//! issue, an empty number) mean "unavailable": the portal then shows nothing rather than
//! something half-read.

use domain::Money;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use domain::business::{FinancialError, FinancialSystem, Warrant, WarrantStatus};
use serde::Deserialize;

use super::http::{json_call, CallFailure};

pub struct HttpFinancialSystem {
    base_url: String,
    client: reqwest::Client,
}

impl HttpFinancialSystem {
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
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    detail: String,
}

#[derive(Deserialize)]
struct WarrantBody {
    number: String,
    issued_on: NaiveDate,
    amount_cents: Money,
    purpose: String,
    status: WarrantStatus,
    paid_on: Option<NaiveDate>,
}

#[derive(Deserialize)]
struct WarrantsBody {
    afm: String,
    warrants: Vec<WarrantBody>,
}

fn broken(what: &str) -> FinancialError {
    FinancialError::Unavailable(format!("answer breaks the contract: {what}"))
}

impl WarrantsBody {
    /// Checks what serde cannot: the ΑΦΜ asked about, positive amounts, and a day of
    /// payment exactly on the paid warrants, not before their issue.
    fn into_warrants(self, afm: &str) -> Result<Vec<Warrant>, FinancialError> {
        if self.afm != afm {
            return Err(broken("another ΑΦΜ"));
        }
        self.warrants
            .into_iter()
            .map(|w| {
                if w.number.trim().is_empty() {
                    return Err(broken("a warrant without a number"));
                }
                if w.amount_cents <= Money::ZERO {
                    return Err(broken(&format!("warrant {}: amount", w.number)));
                }
                match (w.status, w.paid_on) {
                    (WarrantStatus::Paid, Some(paid_on)) if paid_on >= w.issued_on => {}
                    (WarrantStatus::Issued, None) => {}
                    _ => return Err(broken(&format!("warrant {}: paid_on", w.number))),
                }
                Ok(Warrant {
                    number: w.number.trim().to_string(),
                    issued_on: w.issued_on,
                    amount_cents: w.amount_cents,
                    purpose: w.purpose.trim().to_string(),
                    status: w.status,
                    paid_on: w.paid_on,
                })
            })
            .collect()
    }
}

/// A 4xx: the system's refusal if it says one, else a wrong address or a broken server.
fn refusal(status: reqwest::StatusCode, text: &str) -> FinancialError {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => FinancialError::Rejected(format!("{}: {}", body.error, body.detail)),
        Err(_) => FinancialError::Unavailable(format!("answered {status}")),
    }
}

#[async_trait]
impl FinancialSystem for HttpFinancialSystem {
    async fn warrants(&self, afm: &str) -> Result<Vec<Warrant>, FinancialError> {
        // The ΑΦΜ is nine digits (checked at certification); never let anything else
        // reach the path.
        if afm.len() != 9 || !afm.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FinancialError::Rejected(format!("{afm:?} is not an ΑΦΜ")));
        }
        let url = format!("{}/api/v1/suppliers/{afm}/warrants", self.base_url);
        let request = self
            .client
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json");
        let body: WarrantsBody = json_call(request).await.map_err(|failure| match failure {
            CallFailure::Unavailable(why) => FinancialError::Unavailable(why),
            CallFailure::Refused(status, text) => refusal(status, &text),
        })?;
        body.into_warrants(afm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandboxes::financial::{FinancialFaults, FinancialSandbox, SEEDED_AFM, SEEDED_AFM_NONE};
    use serde_json::json;

    async fn start(
        timeout_ms: u64,
    ) -> (
        FinancialSandbox,
        sandboxes::RunningSandbox,
        HttpFinancialSystem,
    ) {
        let sandbox = FinancialSandbox::new();
        let running = sandboxes::serve(sandbox.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let adapter = HttpFinancialSystem::new(
            format!("{}/", running.base_url()),
            Duration::from_millis(timeout_ms),
        );
        (sandbox, running, adapter)
    }

    fn unavailable(result: Result<Vec<Warrant>, FinancialError>) -> bool {
        matches!(result, Err(FinancialError::Unavailable(_)))
    }

    #[tokio::test]
    async fn reads_the_seeded_warrants() {
        let (_sandbox, _running, financial) = start(2000).await;
        let warrants = financial.warrants(SEEDED_AFM).await.unwrap();
        assert_eq!(warrants.len(), 8);
        let stationery = warrants.iter().find(|w| w.number == "2026/0412").unwrap();
        assert_eq!(stationery.amount_cents, Money::from_cents(18_550));
        assert_eq!(stationery.status, WarrantStatus::Paid);
        assert_eq!(
            stationery.issued_on,
            NaiveDate::from_ymd_opt(2026, 4, 15).unwrap()
        );
        assert_eq!(stationery.paid_on, NaiveDate::from_ymd_opt(2026, 5, 8));
        assert_eq!(
            stationery.purpose,
            "Προμήθεια γραφικής ύλης — τιμολόγιο 145/2026"
        );
        assert_eq!(
            warrants
                .iter()
                .filter(|w| w.status == WarrantStatus::Issued)
                .count(),
            3
        );
        assert!(financial
            .warrants(SEEDED_AFM_NONE)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            financial.warrants("12345").await,
            Err(FinancialError::Rejected(_))
        ));
    }

    #[tokio::test]
    async fn faults_are_unavailable() {
        let (sandbox, running, financial) = start(300).await;
        sandbox.set_faults(FinancialFaults {
            down: true,
            ..FinancialFaults::default()
        });
        assert!(unavailable(financial.warrants(SEEDED_AFM).await));
        sandbox.set_faults(FinancialFaults {
            fail_next: 1,
            ..FinancialFaults::default()
        });
        assert!(unavailable(financial.warrants(SEEDED_AFM).await));
        assert_eq!(financial.warrants(SEEDED_AFM).await.unwrap().len(), 8);
        sandbox.set_faults(FinancialFaults {
            slow_ms: 1000,
            ..FinancialFaults::default()
        });
        assert!(unavailable(financial.warrants(SEEDED_AFM).await));
        sandbox.set_faults(FinancialFaults {
            malformed: true,
            ..FinancialFaults::default()
        });
        assert!(unavailable(financial.warrants(SEEDED_AFM).await));
        sandbox.set_faults(FinancialFaults::default());

        let wrong_path = HttpFinancialSystem::new(
            format!("{}/nothing-here", running.base_url()),
            Duration::from_millis(300),
        );
        assert!(unavailable(wrong_path.warrants(SEEDED_AFM).await));
        let gone = HttpFinancialSystem::new(running.base_url(), Duration::from_millis(300));
        drop(running);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(unavailable(gone.warrants(SEEDED_AFM).await));
    }

    #[test]
    fn answers_that_break_the_contract_are_unavailable() {
        let good = json!({"afm": "094259216", "warrants": [
            {"number": "2026/0001", "issued_on": "2026-01-05", "amount_cents": 100,
             "purpose": " Δοκιμή ", "status": "paid", "paid_on": "2026-01-06"},
            {"number": "2026/0002", "issued_on": "2026-01-05", "amount_cents": 100,
             "purpose": "Δοκιμή", "status": "issued", "paid_on": null},
        ]});
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<WarrantsBody>(v)
                .map_err(|e| FinancialError::Unavailable(e.to_string()))
                .and_then(|b| b.into_warrants("094259216"))
        };
        let parsed = parse(good.clone()).unwrap();
        assert_eq!(parsed[0].purpose, "Δοκιμή");
        assert_eq!(parsed[1].status, WarrantStatus::Issued);
        for (index, field, value) in [
            (0, "amount_cents", json!(0)),
            (0, "amount_cents", json!(-5)),
            (0, "amount_cents", json!("12,00")),
            (0, "paid_on", json!(null)),
            (0, "paid_on", json!("2026-01-04")),
            (1, "paid_on", json!("2026-01-06")),
            (1, "status", json!("cancelled")),
            (1, "issued_on", json!("05/01/2026")),
            (1, "number", json!("  ")),
        ] {
            let mut bad = good.clone();
            bad["warrants"][index][field] = value.clone();
            assert!(unavailable(parse(bad)), "{field} = {value}");
        }
        let mut other_afm = good.clone();
        other_afm["afm"] = json!("800123456");
        assert!(unavailable(parse(other_afm)));
        assert!(unavailable(parse(json!({"afm": "094259216"}))));
        assert_eq!(
            refusal(reqwest::StatusCode::NOT_FOUND, "<html>Not Found</html>"),
            FinancialError::Unavailable("answered 404 Not Found".into())
        );
        assert_eq!(
            refusal(
                reqwest::StatusCode::UNPROCESSABLE_ENTITY,
                r#"{"error":"afm_invalid","detail":"nine digits"}"#
            ),
            FinancialError::Rejected("afm_invalid: nine digits".into())
        );
    }
}
