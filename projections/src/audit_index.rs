//! The `audit_streams` read model: one row per stream of the event log, of every aggregate
//! type, with what an auditor searches it by (issue 17): its Α.Α., the numbers it is known
//! by (protocol numbers, a payment's order number and bank reference, a fine's number and
//! plate, a debt's number, the payments of an obligation), the accounts it is about (the
//! citizen, the applicant, the payer, the declarant, the certified user), the ΑΦΜ of every
//! business it is about (a certification's every business, over time), when it began and
//! when it last changed. Folded from every event, decoded through its
//! aggregate's own event type.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cqrs_es::Aggregate;
use domain::application::{ApplicationDetails, ApplicationEvent, CertificateApplication};
use domain::audit::{SearchPerson, StreamSearch};
use domain::certification::{Certification, CertificationEvent};
use domain::payment::{Payment, PaymentEvent};
use domain::request::{CitizenRequest, RequestEvent, Submitter};
use domain::tax_debt::{TaxDebt, TaxDebtEvent};
use domain::tax_declaration::{TaxDeclaration, TaxDeclarationEvent};
use domain::traffic_fine::{TrafficFine, TrafficFineEvent};
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::fold::{self, Table};
use crate::paging::{Cursor, PageRequest, Paged};
use crate::ReadModel;

pub struct AuditIndexProjection;

impl AuditIndexProjection {
    pub const NAME: &'static str = "audit_streams";
}

impl ReadModel for AuditIndexProjection {
    fn schema_version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_streams"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE audit_streams (
    stream_id       text PRIMARY KEY,
    aggregate_type  text        NOT NULL,
    case_number     text,
    title           text        NOT NULL,
    afms            text[]      NOT NULL,
    accounts        text[]      NOT NULL,
    refs            text[]      NOT NULL,
    first_at        timestamptz NOT NULL,
    last_at         timestamptz NOT NULL,
    events          bigint      NOT NULL,
    last_event_type text        NOT NULL,
    last_sequence   bigint      NOT NULL
);
CREATE INDEX audit_streams_first_idx ON audit_streams (first_at DESC, stream_id DESC);
CREATE INDEX audit_streams_number_idx ON audit_streams (case_number);
CREATE INDEX audit_streams_afms_idx ON audit_streams USING gin (afms);
CREATE INDEX audit_streams_accounts_idx ON audit_streams USING gin (accounts);
CREATE INDEX audit_streams_refs_idx ON audit_streams USING gin (refs);
"#
    }
}

/// A row of `audit_streams`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamRow {
    stream_id: String,
    aggregate_type: String,
    case_number: Option<String>,
    title: String,
    afms: Vec<String>,
    accounts: Vec<String>,
    refs: Vec<String>,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    events: i64,
    last_event_type: String,
    last_sequence: i64,
}

fold::sequenced_row!(StreamRow, stream_id);

/// What one event adds to its stream's row.
#[derive(Default)]
struct Found {
    case_number: Option<String>,
    title: Option<String>,
    afms: Vec<String>,
    accounts: Vec<String>,
    refs: Vec<String>,
}

impl Found {
    fn with_ref(mut self, reference: impl Into<String>) -> Self {
        self.refs.push(reference.into());
        self
    }

    fn with_account(mut self, account: impl Into<String>) -> Self {
        self.accounts.push(account.into());
        self
    }

    fn with_afm(mut self, afm: Option<String>) -> Self {
        self.afms.extend(afm);
        self
    }
}

/// The ΑΦΜ a business's stream id starts with (`{afm}-2026-Q1`, `{afm}-{debt id}`).
fn afm_prefix(stream_id: &str) -> Option<String> {
    stream_id
        .split_once('-')
        .map(|(afm, _)| afm.to_string())
        .filter(|afm| afm.len() == 9 && afm.chars().all(|c| c.is_ascii_digit()))
}

/// The event decoded through its type; `None` (and a warning) when it does not decode: the
/// index still lists the stream and counts the event, so that an auditor finds the very
/// streams whose events the other read models cannot read.
fn decode<E: serde::de::DeserializeOwned>(event: &RecordedEvent) -> Option<E> {
    fold::decoded_or_pass(event, AuditIndexProjection::NAME)
}

/// What `event` tells of its stream, decoded through its aggregate's event type (nothing
/// when it does not decode).
fn found_in(event: &RecordedEvent) -> Found {
    decoded(event).unwrap_or_default()
}

fn decoded(event: &RecordedEvent) -> Option<Found> {
    let found = Found::default();
    Some(match event.aggregate_type.as_str() {
        CitizenRequest::TYPE => match decode::<RequestEvent>(event)? {
            RequestEvent::RequestSubmitted {
                number,
                subject,
                submitter,
                ..
            } => {
                let found = Found {
                    case_number: Some(number.to_string()),
                    title: Some(subject),
                    ..found
                };
                match submitter {
                    Submitter::Citizen { account_id, .. } => found.with_account(account_id),
                    Submitter::Anonymous { .. } => found,
                }
            }
            RequestEvent::ProtocolRegistered {
                protocol_number, ..
            } => found.with_ref(protocol_number),
            _ => found,
        },
        CertificateApplication::TYPE => match decode::<ApplicationEvent>(event)? {
            ApplicationEvent::ApplicationSubmitted {
                number,
                applicant,
                details,
                ..
            } => {
                let title = match details {
                    ApplicationDetails::CivilRegistry {
                        certificate_name, ..
                    } => certificate_name,
                    ApplicationDetails::Tap {
                        property_address, ..
                    } => format!("ΤΑΠ · {property_address}"),
                };
                Found {
                    case_number: Some(number.to_string()),
                    title: Some(title),
                    ..found
                }
                .with_afm(applicant.business.map(|b| b.afm))
                .with_account(applicant.account_id)
            }
            ApplicationEvent::ApplicationProtocolRegistered {
                protocol_number, ..
            } => found.with_ref(protocol_number),
            ApplicationEvent::InformationProvided { account_id, .. } => {
                found.with_account(account_id)
            }
            _ => found,
        },
        Certification::TYPE => match decode::<CertificationEvent>(event)? {
            CertificationEvent::UserCertified {
                account_id,
                holder_name,
                document_number,
                business,
                ..
            } => Found {
                title: Some(holder_name),
                ..found
            }
            .with_afm(business.map(|b| b.afm))
            .with_account(account_id)
            .with_ref(document_number),
            CertificationEvent::CertificationRevoked { .. } => found,
        },
        Payment::TYPE => match decode::<PaymentEvent>(event)? {
            PaymentEvent::PaymentCreated {
                order_id,
                obligation,
                payer_account_id,
                ..
            } => {
                // The obligation's own number too (a fine's after its municipality code,
                // a debt's after the ΑΦΜ), so that it finds the payments of it.
                let own_number = obligation
                    .reference
                    .split_once('-')
                    .map(|(_, number)| number.to_string());
                Found {
                    title: Some(obligation.description),
                    ..found
                }
                .with_afm(afm_prefix(&obligation.reference))
                .with_account(payer_account_id)
                .with_ref(order_id)
                .with_ref(obligation.reference)
                .with_ref(own_number.unwrap_or_default())
            }
            PaymentEvent::PaymentSucceeded {
                tx_id, payment_ref, ..
            } => found.with_ref(tx_id).with_ref(payment_ref),
            _ => found,
        },
        TrafficFine::TYPE => match decode::<TrafficFineEvent>(event)? {
            TrafficFineEvent::FineQuoted { fine, .. } => Found {
                title: Some(format!("{} · {}", fine.fine_number, fine.plate)),
                ..found
            }
            .with_ref(fine.fine_number)
            .with_ref(fine.plate),
            TrafficFineEvent::FinePaymentStarted {
                payment_id,
                payer_account_id,
                ..
            } => found.with_account(payer_account_id).with_ref(payment_id),
            TrafficFineEvent::FinePaid { payment_ref, .. } => found.with_ref(payment_ref),
            _ => found,
        },
        TaxDeclaration::TYPE => match decode::<TaxDeclarationEvent>(event)? {
            TaxDeclarationEvent::DeclarationFiled {
                company_name,
                declarant_account_id,
                payment_id,
                ..
            } => Found {
                title: Some(company_name),
                ..found
            }
            .with_afm(afm_prefix(&event.aggregate_id))
            .with_account(declarant_account_id)
            .with_ref(payment_id),
            TaxDeclarationEvent::DeclarationPaid { payment_ref, .. } => found.with_ref(payment_ref),
            _ => found,
        },
        TaxDebt::TYPE => match decode::<TaxDebtEvent>(event)? {
            TaxDebtEvent::TaxDebtPaymentStarted {
                debt,
                payment_id,
                payer_account_id,
                ..
            } => Found {
                title: Some(debt.description),
                ..found
            }
            .with_afm(Some(debt.afm))
            .with_account(payer_account_id)
            .with_ref(debt.debt_id)
            .with_ref(payment_id),
            TaxDebtEvent::TaxDebtPaid { payment_ref, .. } => found.with_ref(payment_ref),
            _ => found,
        },
        // A stream of a type the portal does not know yet: listed by its id alone.
        _ => found,
    })
}

/// Adds `more` to `list`, each once, in the order first seen.
fn add_unique(list: &mut Vec<String>, more: Vec<String>) {
    for item in more {
        if !item.is_empty() && !list.contains(&item) {
            list.push(item);
        }
    }
}

#[async_trait]
impl Consumer for AuditIndexProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Folds the batch in memory: one read of the streams it touches, one write.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        if events.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = events
            .iter()
            .map(|e| e.aggregate_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut rows =
            Table::<StreamRow>::load(conn, "audit_streams", &["stream_id"], "stream_id", &ids)
                .await?;
        for event in events {
            let id = event.aggregate_id.as_str();
            if rows.has_folded(id, event.sequence) {
                continue;
            }
            let found = found_in(event);
            match rows.advance(id, event.sequence) {
                Some(row) => {
                    row.last_at = event.recorded_at;
                    row.events += 1;
                    row.last_event_type.clone_from(&event.event_type);
                    if row.case_number.is_none() {
                        row.case_number = found.case_number;
                    }
                    if let Some(title) = found.title.filter(|_| row.title.is_empty()) {
                        row.title = title;
                    }
                    add_unique(&mut row.afms, found.afms);
                    add_unique(&mut row.accounts, found.accounts);
                    add_unique(&mut row.refs, found.refs);
                }
                None => {
                    let mut row = StreamRow {
                        stream_id: id.to_string(),
                        aggregate_type: event.aggregate_type.clone(),
                        case_number: found.case_number,
                        title: found.title.unwrap_or_default(),
                        afms: Vec::new(),
                        accounts: Vec::new(),
                        refs: Vec::new(),
                        first_at: event.recorded_at,
                        last_at: event.recorded_at,
                        events: 1,
                        last_event_type: event.event_type.clone(),
                        last_sequence: event.sequence,
                    };
                    add_unique(&mut row.afms, found.afms);
                    add_unique(&mut row.accounts, found.accounts);
                    add_unique(&mut row.refs, found.refs);
                    rows.put(row);
                }
            }
        }
        rows.save(conn).await
    }
}

/// A stream as the auditor's search lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = AuditStream)]
pub struct StreamListing {
    /// The stream's id: what `/api/v1/audit/cases/{id}/…` takes.
    pub stream_id: String,
    #[schema(value_type = domain::audit::AggregateType)]
    pub aggregate_type: String,
    /// The Α.Α. of a request or an application.
    #[schema(required)]
    pub case_number: Option<String>,
    /// A line to recognise it by: a request's subject, a certificate's name, a fine's
    /// number and plate, what a payment is for, a company's or a person's name.
    pub title: String,
    /// The ΑΦΜ of every business the stream is about.
    pub afms: Vec<String>,
    /// The e-mail of the first account it is about (the citizen, the applicant, the payer,
    /// the declarant, the certified user), if any.
    #[schema(required)]
    pub email: Option<String>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    #[schema(minimum = 1)]
    pub events: i64,
    pub last_event_type: String,
}

/// The first instant of `day` in Athens.
fn start_of(day: NaiveDate) -> Option<DateTime<Utc>> {
    chrono_tz::Europe::Athens
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A page of the streams that match `search`, the most recently begun first.
pub async fn search(
    pool: &PgPool,
    search: &StreamSearch,
    page: &PageRequest,
) -> Result<Paged<StreamListing>, sqlx::Error> {
    let (email, afm) = match &search.person {
        Some(SearchPerson::Email(email)) => (Some(email.as_str()), None),
        Some(SearchPerson::Afm(afm)) => (None, Some(afm.as_str())),
        None => (None, None),
    };
    let from = search.from.and_then(start_of);
    let until = search.to.and_then(|d| d.succ_opt()).and_then(start_of);
    let after = page.after.as_ref();
    let rows = sqlx::query_as(
        "SELECT s.stream_id, s.aggregate_type, s.case_number, s.title, s.afms, a.email, \
                s.first_at, s.last_at, s.events, s.last_event_type \
         FROM audit_streams s \
         LEFT JOIN accounts a ON a.id = CASE WHEN s.accounts[1] ~ '^[0-9a-f-]{36}$' \
                                            THEN s.accounts[1]::uuid END \
         WHERE (cardinality($1::text[]) = 0 OR s.stream_id = ANY($1) \
                OR s.case_number = ANY($1) OR s.refs && $1) \
           AND ($2::text IS NULL OR s.accounts && ARRAY(SELECT id::text FROM accounts \
                                                        WHERE email_normalized = $2)) \
           AND ($3::text IS NULL OR s.afms @> ARRAY[$3::text]) \
           AND ($4::text IS NULL OR s.aggregate_type = $4) \
           AND ($5::timestamptz IS NULL OR s.first_at >= $5) \
           AND ($6::timestamptz IS NULL OR s.first_at < $6) \
           AND ($7::timestamptz IS NULL OR (s.first_at, s.stream_id) < ($7, $8)) \
         ORDER BY s.first_at DESC, s.stream_id DESC LIMIT $9",
    )
    .bind(&search.numbers)
    .bind(email)
    .bind(afm)
    .bind(search.aggregate_type)
    .bind(from)
    .bind(until)
    .bind(after.and_then(|c| c.time(0)))
    .bind(after.and_then(|c| c.text(1)))
    .bind(page.limit + 1)
    .fetch_all(pool)
    .await?;
    Ok(Paged::from_rows(rows, page.limit, |s: &StreamListing| {
        Cursor(vec![Cursor::at(&s.first_at), s.stream_id.clone()])
    }))
}
