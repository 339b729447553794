//! `--preload N`: fills the benchmark's log with N events of every aggregate type the portal
//! has, so that the second round of measurements runs against a grown log.
//!
//! The events are the domain's own event types, serialised as the write path serialises
//! them, in streams of one to five events each (a case's life cut at a different point),
//! with ids, numbers and times varied per stream. They are bulk-inserted (multi-row
//! `INSERT … SELECT FROM UNNEST`, real `sequence` numbers per stream), so the hash-chain
//! trigger links and hashes every one of them as it does for the portal's own appends.
//!
//! The preloaded history stands for old cases whose side effects (mails, protocol
//! registrations, payment reconciliation) happened long ago: the process managers
//! (`payment_process`, `protocol_queue`, `mail_notices`) are paused while it is inserted and
//! their checkpoints then moved past it. The read models fold it like any other events,
//! and the benchmark waits until they have.

use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use domain::application::{
    Applicant, ApplicationDetails, ApplicationEvent, CertificateApplication, Delivery, Issue,
};
use domain::business::{Filing, TaxAssessment, TaxPeriod};
use domain::certification::{Business, Certification, CertificationEvent, IdentityDocument};
use domain::payment::{ConfirmationSource, Obligation, Payment, PaymentEvent};
use domain::ports::FineOrigin;
use domain::request::{
    CitizenRequest, CloseReason, RequestEvent, RequestKind, StaffMember, Submitter,
};
use domain::tax_debt::{DebtSnapshot, TaxDebt, TaxDebtEvent};
use domain::tax_declaration::{TaxDeclaration, TaxDeclarationEvent};
use domain::traffic_fine::{RegisteredFine, TrafficFine, TrafficFineEvent};
use domain::values::CaseNumber;
use domain::Money;
use eventlog::{consumer_lock_key, Progress};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{DESIRED_ACTION, SUBJECT, TEXT};

/// The process managers: their side effects are not replayed for the preloaded history.
const PROCESS_MANAGERS: [&str; 3] = [
    commands::payment_process::PaymentProcess::NAME,
    commands::registrar::ProtocolQueue::NAME,
    commands::mail_notices::MailNotices::NAME,
];

/// Events per `INSERT` statement (and transaction); whole streams only.
const CHUNK_EVENTS: usize = 2_000;
/// Concurrent inserting connections: one per core of the project machine.
const INSERTERS: usize = 2;

/// What the preload did.
pub struct Preloaded {
    pub events: u64,
    pub streams: u64,
    /// `CitizenRequest` streams (rows the requests read model gains).
    pub requests: u64,
    /// Streams per aggregate type.
    pub by_type: Vec<(&'static str, u64)>,
    pub inserted_in: Duration,
    /// From the last insert until every read model's checkpoint reached the head.
    pub folded_after: Duration,
}

/// One event ready to insert.
struct Row {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    payload: String,
    metadata: String,
}

/// The seven kinds of stream, in the order they are dealt out.
const KINDS: [&str; 7] = [
    CitizenRequest::TYPE,
    CertificateApplication::TYPE,
    Certification::TYPE,
    Payment::TYPE,
    TrafficFine::TYPE,
    TaxDebt::TYPE,
    TaxDeclaration::TYPE,
];

/// Inserts `events` events, then waits until every read model has folded them.
pub async fn preload(pool: &PgPool, progress: &Progress, events: u64) -> anyhow::Result<Preloaded> {
    // The process managers first finish what the measured phases gave them, then pause.
    if let Some(head) = eventlog::log_head(pool).await? {
        if !progress
            .wait_for(&PROCESS_MANAGERS, head, Duration::from_secs(120))
            .await
        {
            bail!("the process managers did not catch up before the preload");
        }
    }
    let mut pause = pool.acquire().await?;
    for name in PROCESS_MANAGERS {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(consumer_lock_key(name))
            .execute(&mut *pause)
            .await?;
    }

    let started = Instant::now();
    let inserted = insert_streams(pool, events).await;
    let inserted_in = started.elapsed();

    // Past the preload for the process managers, then let them go on.
    let head = eventlog::log_head(pool).await?;
    if let Some(head) = head {
        for name in PROCESS_MANAGERS {
            eventlog::save_checkpoint(&mut pause, name, head).await?;
        }
    }
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut *pause)
        .await?;
    drop(pause);
    let mut preloaded = inserted?;
    preloaded.inserted_in = inserted_in;

    let folding = Instant::now();
    if let Some(head) = head {
        if !progress
            .wait_for(projections::ALL_READS, head, Duration::from_secs(1800))
            .await
        {
            bail!("the read models did not fold the preload within 30 minutes");
        }
    }
    preloaded.folded_after = folding.elapsed();
    Ok(preloaded)
}

async fn insert_streams(pool: &PgPool, events: u64) -> anyhow::Result<Preloaded> {
    let mut preloaded = Preloaded {
        events: 0,
        streams: 0,
        requests: 0,
        by_type: KINDS.iter().map(|&kind| (kind, 0)).collect(),
        inserted_in: Duration::ZERO,
        folded_after: Duration::ZERO,
    };
    let mut inserters = JoinSet::new();
    let mut chunk = Vec::with_capacity(CHUNK_EVENTS + 5);
    let mut stream: u64 = 0;
    while preloaded.events < events {
        let left = (events - preloaded.events) as usize;
        let rows = stream_rows(stream, left);
        preloaded.events += rows.len() as u64;
        preloaded.by_type[(stream % KINDS.len() as u64) as usize].1 += 1;
        if rows[0].aggregate_type == CitizenRequest::TYPE {
            preloaded.requests += 1;
        }
        chunk.extend(rows);
        stream += 1;
        if chunk.len() >= CHUNK_EVENTS {
            if inserters.len() >= INSERTERS {
                inserters.join_next().await.expect("an inserter runs")??;
            }
            let rows = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_EVENTS + 5));
            inserters.spawn(insert(pool.clone(), rows));
        }
    }
    if !chunk.is_empty() {
        inserters.spawn(insert(pool.clone(), chunk));
    }
    while let Some(done) = inserters.join_next().await {
        done??;
    }
    preloaded.streams = stream;
    Ok(preloaded)
}

async fn insert(pool: PgPool, rows: Vec<Row>) -> anyhow::Result<()> {
    let aggregate_types: Vec<&str> = rows.iter().map(|r| r.aggregate_type).collect();
    let aggregate_ids: Vec<&str> = rows.iter().map(|r| r.aggregate_id.as_str()).collect();
    let sequences: Vec<i64> = rows.iter().map(|r| r.sequence).collect();
    let event_types: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    let payloads: Vec<&str> = rows.iter().map(|r| r.payload.as_str()).collect();
    let metadata: Vec<&str> = rows.iter().map(|r| r.metadata.as_str()).collect();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) \
         SELECT t, i, s, e, '1.0', p::jsonb, m::jsonb \
         FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[]) \
              AS u(t, i, s, e, p, m)",
    )
    .bind(&aggregate_types)
    .bind(&aggregate_ids)
    .bind(&sequences)
    .bind(&event_types)
    .bind(&payloads)
    .bind(&metadata)
    .execute(&pool)
    .await
    .context("Failed to insert a chunk of the preload")?;
    Ok(())
}

/// Stream number `n`: its kind goes round the seven, its length round 1..=its life's
/// length, never more than `left` events.
fn stream_rows(n: u64, left: usize) -> Vec<Row> {
    let kind = KINDS[(n % KINDS.len() as u64) as usize];
    let at =
        Utc.with_ymd_and_hms(2025, 3, 1, 7, 0, 0).unwrap() + chrono::Duration::seconds(n as i64);
    let ids = StreamIds::of(n);
    let (id, events): (String, Vec<(String, String)>) = match kind {
        CitizenRequest::TYPE => (ids.uuid.clone(), serialised(request_life(&ids, at))),
        CertificateApplication::TYPE => (ids.uuid.clone(), serialised(application_life(&ids, at))),
        Certification::TYPE => (
            ids.account.clone(),
            serialised(certification_life(&ids, at)),
        ),
        Payment::TYPE => (ids.uuid.clone(), serialised(payment_life(&ids, at))),
        TrafficFine::TYPE => (
            format!("9999-{}", ids.fine_number),
            serialised(fine_life(&ids, at)),
        ),
        TaxDebt::TYPE => (
            format!("{}-{}", ids.afm, ids.debt_id),
            serialised(debt_life(&ids, at)),
        ),
        _ => (
            format!("{}-{}-Q{}", ids.afm, 2020 + (n / 7) % 5, 1 + (n / 35) % 4),
            serialised(declaration_life(&ids, at)),
        ),
    };
    let length = (1 + (n / KINDS.len() as u64) as usize % events.len()).min(left);
    let metadata = serde_json::json!({
        "actor_id": ids.account,
        "role": "citizen",
        "correlation_id": ids.uuid,
        "time": at.to_rfc3339(),
        "client_ip": "127.0.0.1",
    })
    .to_string();
    events
        .into_iter()
        .take(length)
        .enumerate()
        .map(|(i, (event_type, payload))| Row {
            aggregate_type: kind,
            aggregate_id: id.clone(),
            sequence: i as i64 + 1,
            event_type,
            payload,
            metadata: metadata.clone(),
        })
        .collect()
}

fn serialised<E: DomainEvent>(events: Vec<E>) -> Vec<(String, String)> {
    events
        .into_iter()
        .map(|e| {
            let payload = serde_json::to_string(&e).expect("an event serialises");
            (e.event_type(), payload)
        })
        .collect()
}

/// The ids of stream `n`, distinct from every other stream's.
struct StreamIds {
    n: u64,
    uuid: String,
    account: String,
    payment: String,
    afm: String,
    fine_number: String,
    debt_id: String,
    /// 64 hex digits, as a tracking code's SHA-256.
    tracking: String,
}

impl StreamIds {
    fn of(n: u64) -> Self {
        let hex = |salt: u64| {
            let x = n
                .wrapping_add(salt)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(17);
            format!("{:016x}", x)
        };
        let uuid_of = |salt: u64| {
            let (a, b) = (hex(salt), format!("{n:016x}"));
            format!(
                "{}-{}-4{}-8{}-{}",
                &a[..8],
                &a[8..12],
                &a[13..16],
                &b[1..4],
                &b[4..16]
            )
        };
        Self {
            n,
            uuid: uuid_of(1),
            account: uuid_of(2),
            payment: uuid_of(3),
            afm: format!("{:09}", 800_000_000 + n % 100_000_000),
            fine_number: format!("{}", 200_000_000 + n),
            debt_id: format!("DF-2025-{:07}", n),
            tracking: format!("{}{n:048x}", hex(4)),
        }
    }
}

fn clerk() -> StaffMember {
    StaffMember {
        account_id: "00000000-0000-4000-8000-00000000c1e5".to_string(),
        name: "Γιώργος Παπαδόπουλος".to_string(),
    }
}

fn minutes(at: DateTime<Utc>, m: i64) -> DateTime<Utc> {
    at + chrono::Duration::minutes(m)
}

fn request_life(ids: &StreamIds, at: DateTime<Utc>) -> Vec<RequestEvent> {
    let submitter = if ids.n.is_multiple_of(2) {
        Submitter::Citizen {
            account_id: ids.account.clone(),
            name: "Μαρία Κωνσταντίνου".to_string(),
        }
    } else {
        Submitter::Anonymous {
            tracking_code_sha256: ids.tracking.clone(),
        }
    };
    vec![
        RequestEvent::RequestSubmitted {
            id: ids.uuid.clone(),
            number: CaseNumber {
                year: at.year(),
                serial: 100_000 + ids.n as i64,
            },
            kind: RequestKind::ALL[(ids.n / 7 % 4) as usize],
            subject: SUBJECT.to_string(),
            text: TEXT.to_string(),
            desired_action: Some(DESIRED_ACTION.to_string()),
            submitter,
            at,
            category: None,
            address: None,
            location: None,
            attributes: Default::default(),
        },
        RequestEvent::RequestTakenIntoReview {
            clerk: clerk(),
            at: minutes(at, 60),
        },
        RequestEvent::ProtocolRegistered {
            clerk: clerk(),
            protocol_number: format!("{}/{}", 40_000 + ids.n, at.year()),
            protocol_date: minutes(at, 61),
            at: minutes(at, 61),
        },
        RequestEvent::RequestAnswered {
            clerk: clerk(),
            text: "Προγραμματίστηκε αυτοψία από το συνεργείο του Δήμου.".to_string(),
            at: minutes(at, 180),
        },
        RequestEvent::RequestClosed {
            clerk: clerk(),
            reason: CloseReason::Done,
            note: None,
            at: minutes(at, 240),
        },
    ]
}

fn application_life(ids: &StreamIds, at: DateTime<Utc>) -> Vec<ApplicationEvent> {
    vec![
        ApplicationEvent::ApplicationSubmitted {
            id: ids.uuid.clone(),
            number: CaseNumber {
                year: at.year(),
                serial: 500_000 + ids.n as i64,
            },
            applicant: Applicant {
                account_id: ids.account.clone(),
                name: "Νίκος Αλεξίου".to_string(),
                business: None,
            },
            details: ApplicationDetails::CivilRegistry {
                certificate_type: "birth".to_string(),
                certificate_name: "Πιστοποιητικό Γέννησης".to_string(),
            },
            text: "Για την εγγραφή του παιδιού μου στο σχολείο.".to_string(),
            delivery: Delivery::InPerson,
            due_on: at.date_naive() + chrono::Days::new(10),
            at,
        },
        ApplicationEvent::ApplicationProtocolRegistered {
            attempt: 1,
            protocol_number: format!("{}/{}", 60_000 + ids.n, at.year()),
            protocol_date: minutes(at, 1),
            at: minutes(at, 1),
        },
        ApplicationEvent::ApplicationTakenIntoReview {
            clerk: clerk(),
            at: minutes(at, 60),
        },
        ApplicationEvent::CertificateIssued {
            clerk: clerk(),
            issue: Issue::InPerson {
                note: Some("Παραλαβή από το ΚΕΠ του Δήμου.".to_string()),
            },
            at: minutes(at, 120),
        },
    ]
}

fn certification_life(ids: &StreamIds, at: DateTime<Utc>) -> Vec<CertificationEvent> {
    vec![
        CertificationEvent::UserCertified {
            account_id: ids.account.clone(),
            holder_name: "Κώστας Ιωάννου".to_string(),
            document: IdentityDocument::IdentityCard,
            document_number: format!("ΑΚ{:06}", ids.n % 1_000_000),
            business: (ids.n.is_multiple_of(2)).then(|| Business {
                company_name: "ΙΩΑΝΝΟΥ ΚΑΙ ΣΙΑ Ο.Ε.".to_string(),
                afm: ids.afm.clone(),
            }),
            clerk: clerk(),
            at,
        },
        CertificationEvent::CertificationRevoked {
            clerk: clerk(),
            reason: "Η εκπροσώπηση έληξε.".to_string(),
            at: minutes(at, 60 * 24 * 30),
        },
    ]
}

fn payment_life(ids: &StreamIds, at: DateTime<Utc>) -> Vec<PaymentEvent> {
    vec![
        PaymentEvent::PaymentCreated {
            id: ids.uuid.clone(),
            order_id: format!("P{:019}", ids.n),
            obligation: Obligation {
                kind: "traffic_fine".to_string(),
                reference: format!("9999-{}", ids.fine_number),
                description: "Πρόστιμο ΚΟΚ 9999-100000001".to_string(),
            },
            amount_cents: Money::from_cents(8_000),
            currency: "EUR".to_string(),
            payer_account_id: ids.account.clone(),
            expires_at: minutes(at, 30),
            at,
        },
        PaymentEvent::PaymentRedirected { at: minutes(at, 1) },
        PaymentEvent::PaymentSucceeded {
            source: ConfirmationSource::Notification,
            tx_id: format!("TX{:012}", ids.n),
            payment_ref: format!("REF{:012}", ids.n),
            after_expiry: false,
            at: minutes(at, 3),
        },
    ]
}

fn fine_life(ids: &StreamIds, at: DateTime<Utc>) -> Vec<TrafficFineEvent> {
    let quote_id = format!("9999-{}-{}", ids.fine_number, ids.uuid.replace('-', ""));
    let amount = Money::from_cents(8_000);
    vec![
        TrafficFineEvent::FineQuoted {
            quote_id: quote_id.clone(),
            fine: RegisteredFine {
                municipality_code: "9999".to_string(),
                fine_number: ids.fine_number.clone(),
                plate: "ΙΚΤ1234".to_string(),
                fine_type: "parking".to_string(),
                offence_at: minutes(at, -60 * 24 * 3),
                base_cents: amount,
                origin: FineOrigin::Found,
            },
            amount_cents: amount,
            amount_valid_until: None,
            valid_until: minutes(at, 15),
            previous_amount_cents: None,
            at,
        },
        TrafficFineEvent::FinePaymentStarted {
            quote_id,
            payment_id: ids.payment.clone(),
            amount_cents: amount,
            payer_account_id: ids.account.clone(),
            expires_at: minutes(at, 31),
            at: minutes(at, 1),
        },
        TrafficFineEvent::FinePaid {
            payment_id: ids.payment.clone(),
            payment_ref: format!("REF{:012}", ids.n),
            amount_cents: amount,
            at: minutes(at, 4),
        },
        TrafficFineEvent::FinesSystemNotified {
            payment_id: ids.payment.clone(),
            at: minutes(at, 5),
        },
    ]
}

fn debt_life(ids: &StreamIds, at: DateTime<Utc>) -> Vec<TaxDebtEvent> {
    let day = at.date_naive();
    let (principal, surcharge) = (Money::from_cents(21_075), Money::from_cents(2_529));
    let due = Money::from_cents(21_075 + 2_529);
    vec![
        TaxDebtEvent::TaxDebtPaymentStarted {
            debt: Box::new(DebtSnapshot {
                debt_id: ids.debt_id.clone(),
                afm: ids.afm.clone(),
                description: "Τέλος καθαριότητας και φωτισμού 2024".to_string(),
                certified_on: NaiveDate::from_ymd_opt(2024, 11, 15).unwrap(),
                principal_cents: principal,
                surcharge_cents: surcharge,
                amount_due_cents: due,
                amount_as_of: day,
            }),
            payment_id: ids.payment.clone(),
            amount_cents: due,
            payer_account_id: ids.account.clone(),
            expires_at: minutes(at, 30),
            at,
        },
        TaxDebtEvent::TaxDebtPaid {
            payment_id: ids.payment.clone(),
            payment_ref: format!("REF{:012}", ids.n),
            amount_cents: due,
            at: minutes(at, 3),
        },
        TaxDebtEvent::RevenueSystemNotified {
            payment_id: ids.payment.clone(),
            at: minutes(at, 4),
        },
    ]
}

fn declaration_life(ids: &StreamIds, at: DateTime<Utc>) -> Vec<TaxDeclarationEvent> {
    let day = at.date_naive();
    let tax = Money::from_cents(25_000);
    vec![
        TaxDeclarationEvent::DeclarationFiled {
            filing_number: 1,
            assessment: Box::new(TaxAssessment {
                assessment_id: format!("AS-{}", ids.uuid),
                afm: ids.afm.clone(),
                period: TaxPeriod {
                    filing: Filing::Quarterly,
                    number: 1 + (ids.n / 35 % 4) as u32,
                    year: 2020 + (ids.n / 7 % 5) as i32,
                },
                gross_revenue_cents: Money::from_cents(5_000_000),
                vat_return_date: day,
                category: "food".to_string(),
                category_name_el: "Εστίαση".to_string(),
                category_name_en: "Food service".to_string(),
                rate_basis_points: 50,
                tax_cents: tax,
                deadline: day,
                months_late: 0,
                surcharge_basis_points: 0,
                surcharge_cents: Money::ZERO,
                total_cents: tax,
                computed_on: day,
            }),
            company_name: "ΙΩΑΝΝΟΥ ΚΑΙ ΣΙΑ Ο.Ε.".to_string(),
            declarant_account_id: ids.account.clone(),
            payment_id: ids.payment.clone(),
            amount_cents: tax,
            expires_at: minutes(at, 30),
            at,
        },
        TaxDeclarationEvent::DeclarationPaid {
            payment_id: ids.payment.clone(),
            payment_ref: format!("REF{:012}", ids.n),
            amount_cents: tax,
            at: minutes(at, 3),
        },
        TaxDeclarationEvent::RevenueSystemNotified {
            payment_id: ids.payment.clone(),
            at: minutes(at, 4),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of stream, cut at every length, decodes as the domain's events again, and
    /// the ids differ from stream to stream.
    #[test]
    fn preloaded_streams_are_the_domains_events() {
        let mut ids = std::collections::BTreeSet::new();
        for n in 0..200 {
            let rows = stream_rows(n, usize::MAX);
            assert!(!rows.is_empty() && rows.len() <= 5, "stream {n}");
            assert!(ids.insert((rows[0].aggregate_type, rows[0].aggregate_id.clone())));
            for (i, row) in rows.iter().enumerate() {
                assert_eq!(row.sequence, i as i64 + 1);
                let value: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
                let decoded = match row.aggregate_type {
                    CitizenRequest::TYPE => serde_json::from_value::<RequestEvent>(value).is_ok(),
                    CertificateApplication::TYPE => {
                        serde_json::from_value::<ApplicationEvent>(value).is_ok()
                    }
                    Certification::TYPE => {
                        serde_json::from_value::<CertificationEvent>(value).is_ok()
                    }
                    Payment::TYPE => serde_json::from_value::<PaymentEvent>(value).is_ok(),
                    TrafficFine::TYPE => serde_json::from_value::<TrafficFineEvent>(value).is_ok(),
                    TaxDebt::TYPE => serde_json::from_value::<TaxDebtEvent>(value).is_ok(),
                    _ => serde_json::from_value::<TaxDeclarationEvent>(value).is_ok(),
                };
                assert!(decoded, "{}", row.payload);
            }
        }
        assert_eq!(stream_rows(3, 1).len(), 1, "never more than what is left");
    }
}
