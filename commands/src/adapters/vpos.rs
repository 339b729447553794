//! The adapter behind the domain's `BankGateway` port for the Greek "redirect with
//! digest" VPOS protocol (Cardlink / Nexi / Worldline style). The sandbox bank in the
//! `sandboxes` crate speaks the same protocol.
//!
//! Contract (the bank's base URL is `bank_url`):
//! - The payer's browser POSTs to `{bank_url}/vpos/payment` the fields, in this order,
//!   `version, mid, lang, orderid, orderDesc, orderAmount, currency, payerEmail,
//!   confirmUrl, cancelUrl, digest`. `orderAmount` is decimal euros with two decimals
//!   (`12.50`); `payerEmail` is left out when unknown.
//! - The bank answers (browser return to `confirmUrl`/`cancelUrl`, and server to server to
//!   the merchant's notify URL) with `version, mid, orderid, status, orderAmount,
//!   currency, paymentTotal, message, riskScore, payMethod, txId, paymentRef, digest`.
//!   `status` is one of `CAPTURED`, `AUTHORIZED`, `REFUSED`, `CANCELED`, `ERROR`.
//! - `digest = Base64(SHA-256(v1 ‖ v2 ‖ … ‖ shared secret))` over the values (UTF-8) of
//!   the fields before `digest`, in the order above; a field left out counts as empty.
//! - Status query: `POST {bank_url}/vpos/status` (form: `mid, orderid, digest` over
//!   `mid ‖ orderid ‖ secret`) answers `200` with a JSON object of the answer fields above
//!   (signed the same way); `status` is `PENDING` while the payer is still at the bank and
//!   `UNKNOWN` for an order the bank never saw. `403` means the bank refused the query.
//!
//! Digests are compared in constant time; amounts are parsed exactly to cents.

use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use domain::ports::{
    BankGateway, BankOutcome, ConfirmationError, GatewayError, PaymentOrder, RedirectForm,
    VerifiedConfirmation,
};
use domain::Money;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The protocol version the adapter speaks.
pub const VPOS_VERSION: &str = "2";

/// The fields of an answer from the bank, in the order their values enter the digest.
pub const ANSWER_FIELDS: [&str; 12] = [
    "version",
    "mid",
    "orderid",
    "status",
    "orderAmount",
    "currency",
    "paymentTotal",
    "message",
    "riskScore",
    "payMethod",
    "txId",
    "paymentRef",
];

/// The merchant's account at the bank and where the bank is.
pub struct VposGateway {
    mid: String,
    shared_secret: SecretString,
    bank_url: String,
    client: reqwest::Client,
}

impl VposGateway {
    /// `timeout` bounds a status query from connecting to the last byte of the answer.
    pub fn new(
        mid: impl Into<String>,
        shared_secret: SecretString,
        bank_url: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a reqwest client with a timeout always builds");
        Self {
            mid: mid.into(),
            shared_secret,
            bank_url: bank_url.into().trim_end_matches('/').to_string(),
            client,
        }
    }

    fn sign<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> String {
        digest(values, self.shared_secret.expose_secret())
    }
}

/// `Base64(SHA-256(v1 ‖ v2 ‖ … ‖ secret))`.
pub fn digest<'a>(values: impl IntoIterator<Item = &'a str>, secret: &str) -> String {
    let mut hasher = Sha256::new();
    for value in values {
        hasher.update(value.as_bytes());
    }
    hasher.update(secret.as_bytes());
    BASE64.encode(hasher.finalize())
}

/// Compares two digests without leaking, through timing, how much of a forged one was
/// right. (Lengths are not secret: every genuine digest is 44 characters.)
pub fn digests_match(received: &str, expected: &str) -> bool {
    received.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Decimal euros to cents, exactly: "12.5" → 1250, "12" → 1200, "0.01" → 1. Refuses signs,
/// more than two decimals, separators other than one dot, and overflow.
pub fn parse_amount(text: &str) -> Option<Money> {
    if text.starts_with('-') {
        return None;
    }
    Money::from_decimal_str(text).ok()
}

/// The value of `name`; a field sent twice is malformed (which one would the bank mean?).
fn field<'a>(
    fields: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, ConfirmationError> {
    let mut found = fields.iter().filter(|(n, _)| n == name);
    let first = found.next().map(|(_, v)| v.as_str());
    if found.next().is_some() {
        return Err(ConfirmationError::Malformed(format!("{name} given twice")));
    }
    Ok(first)
}

fn required<'a>(fields: &'a [(String, String)], name: &str) -> Result<&'a str, ConfirmationError> {
    match field(fields, name)? {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ConfirmationError::MissingField(name.to_string())),
    }
}

fn optional<'a>(
    fields: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, ConfirmationError> {
    Ok(field(fields, name)?.filter(|v| !v.is_empty()))
}

impl VposGateway {
    /// The digest check and the parse shared by confirmations and status answers.
    /// `Ok(None)` is a genuine `PENDING`/`UNKNOWN` status answer.
    fn verify_answer(
        &self,
        fields: &[(String, String)],
    ) -> Result<Option<VerifiedConfirmation>, ConfirmationError> {
        let received = required(fields, "digest")?;
        let mut values = Vec::with_capacity(ANSWER_FIELDS.len());
        for name in ANSWER_FIELDS {
            values.push(field(fields, name)?.unwrap_or(""));
        }
        let expected = self.sign(values);
        if !digests_match(received, &expected) {
            return Err(ConfirmationError::ForgedDigest);
        }
        let mid = required(fields, "mid")?;
        if mid != self.mid {
            return Err(ConfirmationError::UnknownMerchant(mid.to_string()));
        }
        let order_id = required(fields, "orderid")?.to_string();
        let text = |name| optional(fields, name).map(|v| v.unwrap_or("").to_string());
        let outcome = match required(fields, "status")? {
            "CAPTURED" | "AUTHORIZED" => BankOutcome::Captured {
                tx_id: required(fields, "txId")?.to_string(),
                payment_ref: required(fields, "paymentRef")?.to_string(),
            },
            "REFUSED" => BankOutcome::Refused {
                reason: text("message")?,
            },
            "CANCELED" => BankOutcome::Cancelled,
            "ERROR" => BankOutcome::Error {
                reason: text("message")?,
            },
            "PENDING" | "UNKNOWN" => return Ok(None),
            other => {
                return Err(ConfirmationError::Malformed(format!(
                    "unknown status {other:?}"
                )))
            }
        };
        let amount_cents =
            match optional(fields, "orderAmount")? {
                Some(amount) => Some(parse_amount(amount).ok_or_else(|| {
                    ConfirmationError::Malformed(format!("orderAmount {amount:?}"))
                })?),
                None => None,
            };
        let currency = optional(fields, "currency")?.map(str::to_string);
        Ok(Some(VerifiedConfirmation {
            order_id,
            amount_cents,
            currency,
            outcome,
        }))
    }
}

#[async_trait]
impl BankGateway for VposGateway {
    fn redirect_form(&self, order: &PaymentOrder) -> RedirectForm {
        let mut fields: Vec<(String, String)> = vec![
            ("version".into(), VPOS_VERSION.into()),
            ("mid".into(), self.mid.clone()),
            ("lang".into(), order.lang.clone()),
            ("orderid".into(), order.order_id.clone()),
            ("orderDesc".into(), order.description.clone()),
            ("orderAmount".into(), order.amount_cents.to_decimal_string()),
            ("currency".into(), order.currency.clone()),
        ];
        if let Some(email) = &order.payer_email {
            fields.push(("payerEmail".into(), email.clone()));
        }
        fields.push(("confirmUrl".into(), order.confirm_url.clone()));
        fields.push(("cancelUrl".into(), order.cancel_url.clone()));
        let digest = self.sign(fields.iter().map(|(_, v)| v.as_str()));
        fields.push(("digest".into(), digest));
        RedirectForm {
            action: format!("{}/vpos/payment", self.bank_url),
            fields,
        }
    }

    fn verify_confirmation(
        &self,
        fields: &[(String, String)],
    ) -> Result<VerifiedConfirmation, ConfirmationError> {
        self.verify_answer(fields)?.ok_or_else(|| {
            ConfirmationError::Malformed("a confirmation without a final status".into())
        })
    }

    async fn query_status(
        &self,
        order_id: &str,
    ) -> Result<Option<VerifiedConfirmation>, GatewayError> {
        let url = format!("{}/vpos/status", self.bank_url);
        let digest = self.sign([self.mid.as_str(), order_id]);
        let form = [
            ("mid", self.mid.as_str()),
            ("orderid", order_id),
            ("digest", digest.as_str()),
        ];
        let response = self
            .client
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(GatewayError::Unavailable(format!("answered {status}")));
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(GatewayError::Rejected(format!("answered {status}: {body}")));
        }
        let answer: serde_json::Map<String, serde_json::Value> = response
            .json()
            .await
            .map_err(|e| GatewayError::Unavailable(format!("unreadable answer: {e}")))?;
        let mut fields = Vec::with_capacity(answer.len());
        for (name, value) in answer {
            let serde_json::Value::String(value) = value else {
                return Err(GatewayError::Rejected(format!("{name} is not a string")));
            };
            fields.push((name, value));
        }
        let verified = self
            .verify_answer(&fields)
            .map_err(|e| GatewayError::Rejected(format!("unverifiable answer: {e}")))?;
        if let Some(answer) = &verified {
            if answer.order_id != order_id {
                return Err(GatewayError::Rejected(format!(
                    "answered about order {} instead of {order_id}",
                    answer.order_id
                )));
            }
        }
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MID: &str = "0020000001";
    const SECRET: &str = "Cardlink1";

    fn gateway(bank_url: &str) -> VposGateway {
        VposGateway::new(
            MID,
            SecretString::from(SECRET),
            bank_url,
            Duration::from_secs(5),
        )
    }

    fn order(order_id: &str) -> PaymentOrder {
        PaymentOrder {
            order_id: order_id.into(),
            amount_cents: Money::from_cents(1250),
            currency: "EUR".into(),
            description: "Πρόστιμο ΚΟΚ 12/2024".into(),
            payer_email: Some("citizen@example.gr".into()),
            lang: "el".into(),
            confirm_url: "https://portal.example.gr/payments/confirm".into(),
            cancel_url: "https://portal.example.gr/payments/cancel".into(),
        }
    }

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// A bank answer signed with `secret`, in protocol order.
    fn answer(status: &str, amount: &str, secret: &str) -> Vec<(String, String)> {
        let values = [
            "2", MID, "PAY-0001", status, amount, "EUR", amount, "", "0", "visa", "90000017",
            "123456",
        ];
        let mut fields: Vec<(String, String)> = ANSWER_FIELDS
            .iter()
            .zip(values)
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        fields.push(("digest".into(), digest(values, secret)));
        fields
    }

    #[test]
    fn the_redirect_form_matches_a_known_answer() {
        let form = gateway("https://bank.example/").redirect_form(&order("PAY-0001"));
        assert_eq!(form.action, "https://bank.example/vpos/payment");
        let names: Vec<&str> = form.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "version",
                "mid",
                "lang",
                "orderid",
                "orderDesc",
                "orderAmount",
                "currency",
                "payerEmail",
                "confirmUrl",
                "cancelUrl",
                "digest"
            ]
        );
        assert_eq!(form.fields[5].1, "12.50");
        // printf '%s' 20020000001elPAY-0001'Πρόστιμο ΚΟΚ 12/2024'12.50EUR… Cardlink1 |
        //   openssl dgst -sha256 -binary | base64
        assert_eq!(
            form.fields[10].1,
            "lXRwUCLJFqssxQtknYWAxrduFBm/Lb3qIo7b2jZFb7k="
        );
    }

    #[test]
    fn an_unknown_payer_email_is_left_out_and_signs_as_empty() {
        let mut without = order("PAY-0001");
        without.payer_email = None;
        let form = gateway("https://bank.example").redirect_form(&without);
        assert!(form.fields.iter().all(|(n, _)| n != "payerEmail"));
        let values: Vec<&str> = form.fields[..9].iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(form.fields[9].1, digest(values, SECRET));
    }

    #[test]
    fn field_order_matters_for_the_digest_but_not_for_reading() {
        assert_ne!(digest(["a", "b"], "s"), digest(["b", "a"], "s"));
        assert_ne!(digest(["ab", ""], "s"), digest(["a", "b"], "x"));
        // The answer's fields may arrive in any order: they are read by name.
        let mut shuffled = answer("CAPTURED", "12.50", SECRET);
        shuffled.reverse();
        assert!(gateway("http://bank")
            .verify_confirmation(&shuffled)
            .is_ok());
    }

    #[test]
    fn a_genuine_capture_is_verified() {
        let verified = gateway("http://bank")
            .verify_confirmation(&answer("CAPTURED", "12.50", SECRET))
            .unwrap();
        assert_eq!(
            verified,
            VerifiedConfirmation {
                order_id: "PAY-0001".into(),
                amount_cents: Some(Money::from_cents(1250)),
                currency: Some("EUR".into()),
                outcome: BankOutcome::Captured {
                    tx_id: "90000017".into(),
                    payment_ref: "123456".into()
                },
            }
        );
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let bank = gateway("http://bank");
        let outcome = |status| bank.verify_confirmation(&answer(status, "1.00", SECRET));
        assert!(matches!(
            outcome("AUTHORIZED").unwrap().outcome,
            BankOutcome::Captured { .. }
        ));
        assert_eq!(
            outcome("REFUSED").unwrap().outcome,
            BankOutcome::Refused {
                reason: String::new()
            }
        );
        assert_eq!(outcome("CANCELED").unwrap().outcome, BankOutcome::Cancelled);
        assert!(matches!(
            outcome("ERROR").unwrap().outcome,
            BankOutcome::Error { .. }
        ));
        assert!(matches!(
            outcome("PENDING"),
            Err(ConfirmationError::Malformed(_))
        ));
        assert!(matches!(
            outcome("PAID"),
            Err(ConfirmationError::Malformed(_))
        ));
    }

    #[test]
    fn a_forged_digest_is_refused() {
        let bank = gateway("http://bank");
        let forged = answer("CAPTURED", "12.50", "not-the-secret");
        assert_eq!(
            bank.verify_confirmation(&forged),
            Err(ConfirmationError::ForgedDigest)
        );
        let mut no_digest = answer("CAPTURED", "12.50", SECRET);
        no_digest.pop();
        assert_eq!(
            bank.verify_confirmation(&no_digest),
            Err(ConfirmationError::MissingField("digest".into()))
        );
    }

    #[test]
    fn a_tampered_amount_or_status_is_refused() {
        let bank = gateway("http://bank");
        let mut tampered = answer("CAPTURED", "12.50", SECRET);
        tampered[4].1 = "0.01".into();
        assert_eq!(
            bank.verify_confirmation(&tampered),
            Err(ConfirmationError::ForgedDigest)
        );
        let mut tampered = answer("REFUSED", "12.50", SECRET);
        tampered[3].1 = "CAPTURED".into();
        assert_eq!(
            bank.verify_confirmation(&tampered),
            Err(ConfirmationError::ForgedDigest)
        );
        // A field sent twice cannot smuggle a second value past the digest.
        let mut doubled = answer("REFUSED", "12.50", SECRET);
        doubled.push(("status".into(), "CAPTURED".into()));
        assert!(matches!(
            bank.verify_confirmation(&doubled),
            Err(ConfirmationError::Malformed(_))
        ));
    }

    #[test]
    fn another_merchants_answer_is_refused() {
        let other = VposGateway::new(
            "999",
            SecretString::from(SECRET),
            "http://bank",
            Duration::from_secs(1),
        );
        assert_eq!(
            other.verify_confirmation(&answer("CAPTURED", "12.50", SECRET)),
            Err(ConfirmationError::UnknownMerchant(MID.into()))
        );
    }

    #[test]
    fn a_capture_without_a_transaction_id_is_missing_a_field() {
        let values = [
            "2", MID, "PAY-0001", "CAPTURED", "1.00", "EUR", "1.00", "", "0", "visa", "", "",
        ];
        let mut fields: Vec<(String, String)> = ANSWER_FIELDS
            .iter()
            .zip(values)
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        fields.push(("digest".into(), digest(values, SECRET)));
        assert_eq!(
            gateway("http://bank").verify_confirmation(&fields),
            Err(ConfirmationError::MissingField("txId".into()))
        );
    }

    #[test]
    fn digests_are_compared_in_constant_time() {
        let genuine = digest(["x"], SECRET);
        assert!(digests_match(&genuine, &genuine.clone()));
        let mut last_wrong = genuine.clone().into_bytes();
        *last_wrong.last_mut().unwrap() ^= 1;
        assert!(!digests_match(
            std::str::from_utf8(&last_wrong).unwrap(),
            &genuine
        ));
        assert!(!digests_match(&genuine[..43], &genuine));
        assert!(!digests_match("", &genuine));
        // `digests_match` is subtle's `ct_eq`; guard against a later "simplification".
        let source = include_str!("vpos.rs");
        assert!(source.contains(".ct_eq(expected.as_bytes())"));
        assert!(!source.contains(&["received", " == ", "expected"].concat()));
    }

    #[test]
    fn amounts_are_parsed_exactly() {
        assert_eq!(parse_amount("12.5"), Some(Money::from_cents(1250)));
        assert_eq!(parse_amount("12.50"), Some(Money::from_cents(1250)));
        assert_eq!(parse_amount("12"), Some(Money::from_cents(1200)));
        assert_eq!(parse_amount("0.01"), Some(Money::from_cents(1)));
        assert_eq!(parse_amount("0.10"), Some(Money::from_cents(10)));
        assert_eq!(
            parse_amount("92233720368547758.07"),
            Some(Money::from_cents(i64::MAX))
        );
        assert_eq!(
            parse_amount("1000000.00"),
            Some(Money::from_cents(100_000_000))
        );
        for bad in [
            "12.345",
            "-1.00",
            "+1.00",
            "92233720368547758.08",
            "",
            ".5",
            "1.",
            "1,50",
            "1.5e2",
            " 1.00",
            "1.-5",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad:?}");
        }
        for cents in [0, 1, 99, 100, 1250, 123_456_789] {
            let amount = Money::from_cents(cents);
            assert_eq!(parse_amount(&amount.to_decimal_string()), Some(amount));
        }
    }

    /// Against the sandbox bank, over HTTP, without a browser.
    mod against_the_sandbox {
        use std::net::SocketAddr;
        use std::sync::{Arc, Mutex};

        use axum::routing::post;
        use axum::{Form, Router};
        use sandboxes::bank::{read_form, BankFaults, BankSandbox, CARD_3DS, OTP_PASSES};
        use sandboxes::RunningSandbox;

        use super::*;

        type Received = Arc<Mutex<Vec<Vec<(String, String)>>>>;

        struct Setup {
            bank: BankSandbox,
            running: RunningSandbox,
            _shop: RunningSandbox,
            shop_url: String,
            received: Received,
            gateway: VposGateway,
            http: reqwest::Client,
        }

        fn local() -> SocketAddr {
            SocketAddr::from(([127, 0, 0, 1], 0))
        }

        async fn setup() -> Setup {
            let received: Received = Arc::default();
            let store = received.clone();
            let shop = Router::new().route(
                "/confirm",
                post(move |Form(fields): Form<Vec<(String, String)>>| {
                    let store = store.clone();
                    async move {
                        store.lock().unwrap().push(fields);
                        "OK"
                    }
                }),
            );
            let shop = sandboxes::serve(shop, local()).await.unwrap();
            let bank = BankSandbox::new(MID, SECRET);
            let running = bank.start(local()).await.unwrap();
            let gateway = gateway(&running.base_url());
            Setup {
                bank,
                shop_url: shop.base_url(),
                _shop: shop,
                running,
                received,
                gateway,
                http: reqwest::Client::new(),
            }
        }

        impl Setup {
            fn order(&self, order_id: &str) -> PaymentOrder {
                PaymentOrder {
                    confirm_url: format!("{}/confirm", self.shop_url),
                    cancel_url: format!("{}/cancel", self.shop_url),
                    ..order(order_id)
                }
            }

            async fn post(&self, url: &str, fields: &[(String, String)]) -> String {
                let url = if url.starts_with("http") {
                    url.to_string()
                } else {
                    format!("{}{url}", self.running.base_url())
                };
                let response = self.http.post(url).form(fields).send().await.unwrap();
                response.text().await.unwrap()
            }

            /// What the browser does: auto-submits the portal's form, gets the card page.
            async fn card_page(&self, order_id: &str) -> String {
                let form = self.gateway.redirect_form(&self.order(order_id));
                let page = self.post(&form.action, &form.fields).await;
                let card = read_form(&page).expect("the card page");
                card.hidden[0].1.clone()
            }

            async fn pay(&self, order_id: &str, card: &str) -> String {
                let session = self.card_page(order_id).await;
                let fields = owned(&[
                    ("session", &session),
                    ("card_number", card),
                    ("expiry", "09/38"),
                    ("cvv", "737"),
                    ("action", "pay"),
                ]);
                self.post("/vpos/card", &fields).await
            }

            /// The return form the browser would post to the portal, verified.
            fn returned(
                &self,
                page: &str,
            ) -> (String, Result<VerifiedConfirmation, ConfirmationError>) {
                let form = read_form(page).expect("a return form");
                (form.action, self.gateway.verify_confirmation(&form.hidden))
            }
        }

        #[tokio::test]
        async fn a_good_card_round_trip_verifies() {
            let s = setup().await;
            let page = s.pay("PAY-A", "4111 1111 1111 1111").await;
            let (action, verified) = s.returned(&page);
            assert_eq!(action, format!("{}/confirm", s.shop_url));
            let verified = verified.unwrap();
            assert_eq!(verified.order_id, "PAY-A");
            assert_eq!(verified.amount_cents, Some(Money::from_cents(1250)));
            assert_eq!(verified.currency.as_deref(), Some("EUR"));
            let BankOutcome::Captured { tx_id, payment_ref } = &verified.outcome else {
                panic!("not captured: {verified:?}");
            };
            assert!(!tx_id.is_empty() && !payment_ref.is_empty());

            // The server-to-server notification carries the same verified answer.
            for _ in 0..50 {
                if !s.received.lock().unwrap().is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let notified = s.received.lock().unwrap().clone();
            assert_eq!(notified.len(), 1);
            assert_eq!(
                s.gateway.verify_confirmation(&notified[0]),
                Ok(verified.clone())
            );
            assert_eq!(s.gateway.query_status("PAY-A").await, Ok(Some(verified)));
        }

        #[tokio::test]
        async fn declined_and_cancelled() {
            let s = setup().await;
            let (_, verified) = s.returned(&s.pay("PAY-B", "4000 0000 0000 0002").await);
            assert!(matches!(
                verified.unwrap().outcome,
                BankOutcome::Refused { .. }
            ));

            let session = s.card_page("PAY-C").await;
            let page = s
                .post(
                    "/vpos/card",
                    &owned(&[("session", &session), ("action", "cancel")]),
                )
                .await;
            let (action, verified) = s.returned(&page);
            assert_eq!(action, format!("{}/cancel", s.shop_url));
            assert_eq!(verified.unwrap().outcome, BankOutcome::Cancelled);
        }

        #[tokio::test]
        async fn three_d_secure_pass_and_fail() {
            let s = setup().await;
            for (order_id, code, captured) in
                [("PAY-D", OTP_PASSES, true), ("PAY-E", "111111", false)]
            {
                let otp_page = s.pay(order_id, CARD_3DS).await;
                let session = read_form(&otp_page).unwrap().hidden[0].1.clone();
                let fields = owned(&[("session", &session), ("otp", code), ("action", "confirm")]);
                let (_, verified) = s.returned(&s.post("/vpos/3ds", &fields).await);
                let outcome = verified.unwrap().outcome;
                assert_eq!(
                    matches!(outcome, BankOutcome::Captured { .. }),
                    captured,
                    "{outcome:?}"
                );
            }
        }

        #[tokio::test]
        async fn a_timed_out_payment_is_settled_by_the_status_query() {
            let s = setup().await;
            assert_eq!(s.gateway.query_status("PAY-F").await, Ok(None));
            s.card_page("PAY-F").await;
            assert_eq!(s.gateway.query_status("PAY-F").await, Ok(None), "pending");
            let page = s.pay("PAY-F", "4000 0000 0000 0119").await;
            assert!(read_form(&page).is_none());
            let settled = s.gateway.query_status("PAY-F").await.unwrap().unwrap();
            assert!(matches!(settled.outcome, BankOutcome::Captured { .. }));
            assert_eq!(settled.amount_cents, Some(Money::from_cents(1250)));
        }

        #[tokio::test]
        async fn forged_answers_are_detected() {
            let s = setup().await;
            s.bank.set_faults(BankFaults {
                forge_next: 2,
                ..BankFaults::default()
            });
            let (_, verified) = s.returned(&s.pay("PAY-G", "4111111111111111").await);
            assert_eq!(verified, Err(ConfirmationError::ForgedDigest));
            assert!(matches!(
                s.gateway.query_status("PAY-G").await,
                Err(GatewayError::Rejected(_))
            ));
            assert!(s.gateway.query_status("PAY-G").await.unwrap().is_some());

            // A merchant with the wrong secret is refused by the bank.
            let wrong = VposGateway::new(
                MID,
                SecretString::from("wrong"),
                s.running.base_url(),
                Duration::from_secs(5),
            );
            assert!(matches!(
                wrong.query_status("PAY-G").await,
                Err(GatewayError::Rejected(_))
            ));
            let form = wrong.redirect_form(&s.order("PAY-H"));
            let page = s.post(&form.action, &form.fields).await;
            assert!(page.contains("data-code=\"digest\""));
        }

        #[tokio::test]
        async fn a_bank_down_or_slow_is_unavailable() {
            let s = setup().await;
            s.bank.set_faults(BankFaults {
                down: true,
                ..BankFaults::default()
            });
            assert!(matches!(
                s.gateway.query_status("PAY-I").await,
                Err(GatewayError::Unavailable(_))
            ));
            s.bank.set_faults(BankFaults {
                slow_ms: 500,
                ..BankFaults::default()
            });
            let impatient = VposGateway::new(
                MID,
                SecretString::from(SECRET),
                s.running.base_url(),
                Duration::from_millis(100),
            );
            assert!(matches!(
                impatient.query_status("PAY-I").await,
                Err(GatewayError::Unavailable(_))
            ));
            let nowhere = VposGateway::new(
                MID,
                SecretString::from(SECRET),
                "http://127.0.0.1:9",
                Duration::from_secs(1),
            );
            assert!(matches!(
                nowhere.query_status("PAY-I").await,
                Err(GatewayError::Unavailable(_))
            ));
        }
    }
}
