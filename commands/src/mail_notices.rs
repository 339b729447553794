//! E-mail notices (issue 4): on an application's submission, its protocol number, a
//! request for information, its issue or rejection, on the municipality's answer to a
//! citizen's request, and (issue 14) to the payer when the fines or revenue system first
//! refuses to record their payment, when their payment is to be returned because another
//! payment had settled the obligation, and when a clerk recorded it returned.
//!
//! Two halves, so that a notice is neither lost nor doubled by the log:
//! - the `mail_notices` consumer (checkpointed like a read model, but never rebuilt) turns
//!   each notifying event into one row of `mail_outbox`, keyed by the event
//!   (`event_key` is unique), in the transaction that moves its checkpoint;
//! - the sender delivers due rows through the [`Mailer`] port. It leases a few rows with
//!   one short statement (pushing their next attempt into the future), sends without any
//!   transaction open, then marks each sent, or schedules a retry (temporary failure:
//!   1, 5, 30 minutes, then every 2 hours), or marks it failed (permanent refusal).
//!
//! What reaches the mail server is at least once: a crash between the server's "250" and
//! the row being marked sent sends that one notice again, with the same Message-ID
//! (`<event_key@portal>`), which mail systems use to recognise a duplicate.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::Aggregate;
use domain::application::{ApplicationDetails, ApplicationEvent, CertificateApplication, Issue};
use domain::payment::{Payment, PaymentEvent};
use domain::ports::{MailError, MailMessage, Mailer};
use domain::request::{CitizenRequest, RequestEvent, Submitter};
use domain::tax_debt::{TaxDebt, TaxDebtEvent};
use domain::tax_declaration::{TaxDeclaration, TaxDeclarationEvent};
use domain::traffic_fine::{TrafficFine, TrafficFineEvent};
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// Notices for events older than this when the consumer first sees them are not sent
/// (e.g. when mail is switched on for a log that already holds years of cases).
const MAX_NOTICE_AGE: chrono::Duration = chrono::Duration::hours(24);

/// What the templates need for one notice.
#[derive(Debug, Clone, Default)]
struct Notice {
    kind: &'static str,
    account_id: String,
    name: String,
    number: String,
    what: String,
    due_on: String,
    protocol_number: String,
    protocol_date: String,
    method: String,
    text: String,
}

#[derive(Template)]
#[template(path = "mail/notice.el.txt")]
struct NoticeEl<'a> {
    kind: &'a str,
    name: &'a str,
    number: &'a str,
    what: &'a str,
    due_on: &'a str,
    protocol_number: &'a str,
    protocol_date: &'a str,
    method: &'a str,
    text: &'a str,
    portal_url: &'a str,
    municipality: &'a str,
}

#[derive(Template)]
#[template(path = "mail/notice.en.txt")]
struct NoticeEn<'a> {
    kind: &'a str,
    name: &'a str,
    number: &'a str,
    what: &'a str,
    due_on: &'a str,
    protocol_number: &'a str,
    protocol_date: &'a str,
    method: &'a str,
    text: &'a str,
    portal_url: &'a str,
    municipality: &'a str,
}

/// Splits a rendered template into its `Subject:` line and the body after the blank line.
fn split_subject(rendered: &str) -> (String, String) {
    let (first, rest) = rendered.split_once('\n').unwrap_or((rendered, ""));
    let subject = first
        .strip_prefix("Θέμα: ")
        .or_else(|| first.strip_prefix("Subject: "))
        .unwrap_or(first)
        .trim()
        .to_string();
    (
        subject,
        rest.trim_start_matches('\n').trim_end().to_string(),
    )
}

/// A time as people in Athens read it: `27/11/2026 14:05`.
fn athens(at: &DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Athens)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

fn greek_date(d: &NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// Where the notices are written from and what they link to.
#[derive(Debug, Clone)]
pub struct NoticeSettings {
    pub portal_url: String,
    pub municipality_el: String,
    pub municipality_en: String,
}

impl Notice {
    /// The subject (Greek) and the body: Greek first, then English.
    fn render(&self, settings: &NoticeSettings) -> Result<(String, String), askama::Error> {
        let el = NoticeEl {
            kind: self.kind,
            name: &self.name,
            number: &self.number,
            what: &self.what,
            due_on: &self.due_on,
            protocol_number: &self.protocol_number,
            protocol_date: &self.protocol_date,
            method: &self.method,
            text: &self.text,
            portal_url: &settings.portal_url,
            municipality: &settings.municipality_el,
        }
        .render()?;
        let en = NoticeEn {
            kind: self.kind,
            name: &self.name,
            number: &self.number,
            what: &self.what,
            due_on: &self.due_on,
            protocol_number: &self.protocol_number,
            protocol_date: &self.protocol_date,
            method: &self.method,
            text: &self.text,
            portal_url: &settings.portal_url,
            municipality: &settings.municipality_en,
        }
        .render()?;
        let (subject, body_el) = split_subject(&el);
        let (subject_en, body_en) = split_subject(&en);
        let body = format!("{body_el}\n\n----- English -----\n{subject_en}\n\n{body_en}\n");
        Ok((subject, body))
    }
}

/// The consumer that writes `mail_outbox`.
pub struct MailNotices {
    pub settings: NoticeSettings,
}

impl MailNotices {
    pub const NAME: &'static str = "mail_notices";
    /// The aggregate types whose events it reads.
    pub const TYPES: &'static [&'static str] = &[
        CertificateApplication::TYPE,
        CitizenRequest::TYPE,
        TrafficFine::TYPE,
        TaxDebt::TYPE,
        TaxDeclaration::TYPE,
        Payment::TYPE,
    ];
}

/// The payload of a stream's first event (its submission), read from the log.
async fn first_payload(
    conn: &mut PgConnection,
    aggregate_type: &str,
    id: &str,
) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
    )
    .bind(aggregate_type)
    .bind(id)
    .fetch_optional(conn)
    .await
}

fn application_what(details: &ApplicationDetails) -> String {
    match details {
        ApplicationDetails::CivilRegistry {
            certificate_name, ..
        } => certificate_name.clone(),
        ApplicationDetails::Tap {
            property_address, ..
        } => format!("Βεβαίωση μη οφειλής ΤΑΠ — {property_address}"),
    }
}

impl MailNotices {
    /// The notice an event calls for, if any.
    async fn notice_for(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<Option<Notice>, ConsumerError> {
        match event.aggregate_type.as_str() {
            CertificateApplication::TYPE => {
                let payload: ApplicationEvent = serde::Deserialize::deserialize(&event.payload)
                    .map_err(|e| ConsumerError::decode(event, e))?;
                let submitted = match &payload {
                    ApplicationEvent::ApplicationSubmitted { .. } => payload.clone(),
                    ApplicationEvent::ApplicationProtocolRegistered { .. }
                    | ApplicationEvent::ApplicationProtocolFailed { refused: true, .. }
                    | ApplicationEvent::InformationRequested { .. }
                    | ApplicationEvent::CertificateIssued { .. }
                    | ApplicationEvent::ApplicationRejected { .. } => {
                        let Some(first) =
                            first_payload(conn, &event.aggregate_type, &event.aggregate_id).await?
                        else {
                            return Ok(None);
                        };
                        serde_json::from_value(first)
                            .map_err(|e| ConsumerError::decode(event, e))?
                    }
                    _ => return Ok(None),
                };
                let ApplicationEvent::ApplicationSubmitted {
                    number,
                    applicant,
                    details,
                    due_on,
                    ..
                } = submitted
                else {
                    return Ok(None);
                };
                let mut notice = Notice {
                    account_id: applicant.account_id,
                    name: applicant.name,
                    number: number.to_string(),
                    what: application_what(&details),
                    due_on: greek_date(&due_on),
                    ..Notice::default()
                };
                match payload {
                    ApplicationEvent::ApplicationSubmitted { .. } => {
                        notice.kind = "application_submitted";
                    }
                    ApplicationEvent::ApplicationProtocolRegistered {
                        protocol_number,
                        protocol_date,
                        ..
                    } => {
                        notice.kind = "application_protocolled";
                        notice.protocol_number = protocol_number;
                        notice.protocol_date = athens(&protocol_date);
                    }
                    ApplicationEvent::ApplicationProtocolFailed { refused: true, .. } => {
                        // The citizen need do nothing; they are told why it waits.
                        notice.kind = "application_protocol_refused";
                    }
                    ApplicationEvent::InformationRequested { question, .. } => {
                        notice.kind = "information_requested";
                        notice.text = question;
                    }
                    ApplicationEvent::CertificateIssued { issue, .. } => {
                        notice.kind = "certificate_issued";
                        notice.method = issue.method().to_string();
                        if let Issue::Post { note: Some(n) } | Issue::InPerson { note: Some(n) } =
                            issue
                        {
                            notice.text = n;
                        }
                    }
                    ApplicationEvent::ApplicationRejected { reason, .. } => {
                        notice.kind = "application_rejected";
                        notice.text = reason;
                    }
                    _ => return Ok(None),
                }
                Ok(Some(notice))
            }
            CitizenRequest::TYPE => {
                if event.event_type != "RequestAnswered" {
                    return Ok(None);
                }
                let payload: RequestEvent = serde::Deserialize::deserialize(&event.payload)
                    .map_err(|e| ConsumerError::decode(event, e))?;
                let RequestEvent::RequestAnswered { text, .. } = payload else {
                    return Ok(None);
                };
                let Some(first) =
                    first_payload(conn, &event.aggregate_type, &event.aggregate_id).await?
                else {
                    return Ok(None);
                };
                let first: RequestEvent =
                    serde_json::from_value(first).map_err(|e| ConsumerError::decode(event, e))?;
                let RequestEvent::RequestSubmitted {
                    number,
                    subject,
                    submitter: Submitter::Citizen { account_id, name },
                    ..
                } = first
                else {
                    // Anonymous visitors follow their case with the tracking code.
                    return Ok(None);
                };
                Ok(Some(Notice {
                    kind: "request_answered",
                    account_id,
                    name,
                    number: number.to_string(),
                    what: subject,
                    text,
                    ..Notice::default()
                }))
            }
            TrafficFine::TYPE | TaxDebt::TYPE | TaxDeclaration::TYPE => {
                let payment_id = match event.aggregate_type.as_str() {
                    TrafficFine::TYPE => match decode::<TrafficFineEvent>(event)? {
                        TrafficFineEvent::FinesSystemRefusedNotice { payment_id, .. } => payment_id,
                        _ => return Ok(None),
                    },
                    TaxDebt::TYPE => match decode::<TaxDebtEvent>(event)? {
                        TaxDebtEvent::RevenueSystemRefusedNotice { payment_id, .. } => payment_id,
                        _ => return Ok(None),
                    },
                    _ => match decode::<TaxDeclarationEvent>(event)? {
                        TaxDeclarationEvent::RevenueSystemRefusedNotice { payment_id, .. } => {
                            payment_id
                        }
                        _ => return Ok(None),
                    },
                };
                payment_notice_refused(conn, event, &payment_id).await
            }
            Payment::TYPE => match decode::<PaymentEvent>(event)? {
                // A second captured payment of a settled obligation: its money goes back.
                PaymentEvent::PaymentRefundDue { .. } => {
                    // Marked by the clerk's refund itself (a payment found before the mark
                    // existed): the refund's own notice says it all.
                    let refunded: bool = sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = $1 \
                           AND aggregate_id = $2 AND sequence > $3 \
                           AND event_type = 'PaymentRefunded')",
                    )
                    .bind(&event.aggregate_type)
                    .bind(&event.aggregate_id)
                    .bind(event.sequence)
                    .fetch_one(&mut *conn)
                    .await?;
                    if refunded {
                        return Ok(None);
                    }
                    payer_notice(conn, event, &event.aggregate_id, "payment_refund_due").await
                }
                // A clerk recorded the money returned.
                PaymentEvent::PaymentRefunded { .. } => {
                    payer_notice(conn, event, &event.aggregate_id, "payment_refunded").await
                }
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }
}

fn decode<E: serde::de::DeserializeOwned>(event: &RecordedEvent) -> Result<E, ConsumerError> {
    E::deserialize(&event.payload).map_err(|e| ConsumerError::decode(event, e))
}

/// The payer's notice that the fines or revenue system refused to record their payment
/// `payment_id`: a clerk will see to it (`crate::refused_notices`); they need not pay again.
/// Sent for the first refusal of the payment only.
async fn payment_notice_refused(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    payment_id: &str,
) -> Result<Option<Notice>, ConsumerError> {
    // Once per payment: a refusal after a clerk had the notice sent again tells the payer
    // nothing new.
    let told_before: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
           AND sequence < $3 AND event_type = $4 AND payload->$4->>'payment_id' = $5)",
    )
    .bind(&event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(event.sequence)
    .bind(&event.event_type)
    .bind(payment_id)
    .fetch_one(&mut *conn)
    .await?;
    if told_before {
        return Ok(None);
    }
    payer_notice(conn, event, payment_id, "payment_notice_refused").await
}

/// The notice `kind` to the payer of payment `payment_id`, about what they paid and how
/// much.
async fn payer_notice(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    payment_id: &str,
    kind: &'static str,
) -> Result<Option<Notice>, ConsumerError> {
    let Some(first) = first_payload(conn, Payment::TYPE, payment_id).await? else {
        return Ok(None);
    };
    let PaymentEvent::PaymentCreated {
        obligation,
        amount_cents,
        payer_account_id,
        ..
    } = PaymentEvent::deserialize(&first).map_err(|e| ConsumerError::decode(event, e))?
    else {
        return Ok(None);
    };
    let name: Option<String> = match uuid::Uuid::parse_str(&payer_account_id) {
        Ok(account) => {
            sqlx::query_scalar("SELECT full_name FROM accounts WHERE id = $1")
                .bind(account)
                .fetch_optional(&mut *conn)
                .await?
        }
        Err(_) => None,
    };
    Ok(Some(Notice {
        kind,
        account_id: payer_account_id,
        name: name.unwrap_or_default(),
        what: obligation.description,
        text: amount_cents.to_string(),
        ..Notice::default()
    }))
}

#[async_trait]
impl Consumer for MailNotices {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(Self::TYPES)
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        if Utc::now() - event.recorded_at > MAX_NOTICE_AGE {
            return Ok(());
        }
        let Some(notice) = self.notice_for(conn, event).await? else {
            return Ok(());
        };
        let Ok(account) = uuid::Uuid::parse_str(&notice.account_id) else {
            return Ok(());
        };
        let email: Option<String> = sqlx::query_scalar("SELECT email FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(email) = email else {
            tracing::warn!(account = %notice.account_id, "no account to notify");
            return Ok(());
        };
        let (subject, body) = notice
            .render(&self.settings)
            .map_err(|e| ConsumerError::Other(format!("mail template failed: {e}")))?;
        sqlx::query(
            "INSERT INTO mail_outbox (id, event_key, account_id, to_address, subject, body) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_key) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(format!(
            "{}.{}.{}",
            event.aggregate_type, event.aggregate_id, event.sequence
        ))
        .bind(&notice.account_id)
        .bind(email)
        .bind(subject)
        .bind(body)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// When a temporarily failed notice is tried again, by the number of failures so far:
/// `first` (1 minute by default), then ×5 per failure (5, 25 minutes), at most 120 times
/// `first` (two hours).
fn retry_delay(first: Duration, attempts: i32) -> chrono::Duration {
    let failures = u32::try_from(attempts).unwrap_or(0);
    let delay = eventlog::backoff(first, 5.0, first * 120, failures);
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(2))
}

/// Delivers `mail_outbox`.
#[derive(Clone)]
pub struct MailSender {
    pub pool: PgPool,
    pub mailer: Arc<dyn Mailer>,
    /// How long a leased row stays invisible to other senders (longer than a send).
    pub lease: Duration,
    /// The first retry after a temporary failure (`PORTAL_MAIL_RETRY_SECS`).
    pub retry_first: Duration,
}

impl MailSender {
    /// Sends every due notice once; answers how many were sent.
    pub async fn send_due(&self) -> Result<usize, sqlx::Error> {
        let leased: Vec<(uuid::Uuid, String, String, String, String, i32)> = sqlx::query_as(
            "UPDATE mail_outbox SET next_attempt_at = now() + make_interval(secs => $1) \
             WHERE id IN (SELECT id FROM mail_outbox \
                          WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now() \
                          ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED) \
             RETURNING id, event_key, to_address, subject, body, attempts",
        )
        .bind(self.lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        let mut sent = 0;
        for (id, key, to, subject, body, attempts) in leased {
            let message = MailMessage {
                to,
                subject,
                text_body: body,
                message_id: format!("<{key}@portal>"),
            };
            match self.mailer.send(&message).await {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, \
                         last_error = NULL WHERE id = $1",
                    )
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                    sent += 1;
                }
                Err(MailError::Unavailable(why)) => {
                    let delay = retry_delay(self.retry_first, attempts + 1);
                    tracing::warn!(notice = %key, error = %why, "mail server unavailable; will retry");
                    sqlx::query(
                        "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, \
                         next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                    )
                    .bind(id)
                    .bind(why)
                    .bind(delay.num_milliseconds() as f64 / 1000.0)
                    .execute(&self.pool)
                    .await?;
                }
                Err(MailError::Rejected(why)) => {
                    tracing::error!(notice = %key, error = %why, "mail server refused a notice");
                    sqlx::query(
                        "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, \
                         failed_at = now() WHERE id = $1",
                    )
                    .bind(id)
                    .bind(why)
                    .execute(&self.pool)
                    .await?;
                }
            }
        }
        Ok(sent)
    }

    /// Sends due notices every `poll` until the handle is dropped.
    pub fn spawn(self, poll: Duration) -> crate::background::LoopTask {
        crate::background::LoopTask::new(tokio::spawn(async move {
            loop {
                if let Err(e) = self.send_due().await {
                    tracing::warn!(error = %e, "mail sender: a pass failed; trying again");
                }
                tokio::time::sleep(poll).await;
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NoticeSettings {
        NoticeSettings {
            portal_url: "http://127.0.0.1:8080".into(),
            municipality_el: "Δήμος Παραδείγματος".into(),
            municipality_en: "Municipality of Paradeigma".into(),
        }
    }

    #[test]
    fn every_notice_renders_in_greek_then_english() {
        for kind in [
            "application_submitted",
            "application_protocolled",
            "application_protocol_refused",
            "information_requested",
            "certificate_issued",
            "application_rejected",
            "request_answered",
        ] {
            let notice = Notice {
                kind,
                name: "Μαρία Παπαδοπούλου".into(),
                number: "2026/000012".into(),
                what: "Πιστοποιητικό Γέννησης".into(),
                due_on: "07/12/2026".into(),
                protocol_number: "ΠΡΩΤ-2026/4".into(),
                protocol_date: "27/11/2026 10:00".into(),
                method: "post".into(),
                text: "Κείμενο".into(),
                ..Notice::default()
            };
            let (subject, body) = notice.render(&settings()).unwrap();
            assert!(subject.contains("2026/000012"), "{kind}: {subject}");
            assert!(!subject.starts_with("Θέμα"), "{kind}: {subject}");
            assert!(body.contains("Μαρία Παπαδοπούλου"), "{kind}: {body}");
            assert!(body.contains("----- English -----"), "{kind}: {body}");
            assert!(body.contains("http://127.0.0.1:8080"), "{kind}: {body}");
            assert!(!body.contains("{{"), "{kind}: {body}");
        }
    }

    #[test]
    fn retries_back_off() {
        let minute = Duration::from_secs(60);
        assert_eq!(retry_delay(minute, 1), chrono::Duration::minutes(1));
        assert_eq!(retry_delay(minute, 2), chrono::Duration::minutes(5));
        assert_eq!(retry_delay(minute, 3), chrono::Duration::minutes(25));
        assert_eq!(retry_delay(minute, 4), chrono::Duration::hours(2));
        assert_eq!(retry_delay(minute, 9), chrono::Duration::hours(2));
    }
}
