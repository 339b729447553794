//! Traffic fines (ΚΟΚ): the two steps a citizen takes from the ticket to a quote (checked
//! against the municipality's configuration, then found or registered in the fines system),
//! paying a quote through the payment engine, and the notifier that tells the fines system
//! about every captured payment, durably and once per payment.
//!
//! Quotes live in the `TrafficFine` aggregate (one stream per municipality code + fine
//! number): the quote's id, amount and expiry are events, so a payment can only start from
//! the fine's latest unexpired quote, and optimistic concurrency on that stream lets one
//! payment start at a time (two tabs, double clicks).

use domain::Money;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Athens;
use domain::account::Profile;
use domain::fines::{FineNumber, FineType, Plate};
use domain::payment::Obligation;
use domain::ports::{
    FineOrigin, FinePaymentNotice, FineQuery, FineRecord, FinesError, RedirectForm,
};
use domain::refusal::{FieldError, RefusalKind};
use domain::traffic_fine::{fine_id, RegisteredFine, TrafficFine, TrafficFineCommand};
use domain::Refusal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use async_trait::async_trait;

use crate::background::Outbox;
use crate::context::{Actor, Portal, Settings};
use crate::notices::{NoticeStep, NoticeTarget, Notifier, PaidNotice, TellFailure};
use crate::payments::PaymentError;
use crate::{CommandError, CommandMetadata, Commands};

/// The obligation kind of a traffic fine in the payment engine.
pub const OBLIGATION_KIND: &str = "traffic_fine";

/// Why a fine could not be checked, quoted or paid.
#[derive(Debug, thiserror::Error)]
pub enum FineError {
    /// Fields to correct (each with its message code).
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// A rule said no (another municipality's code, a type not payable here, a paid fine,
    /// the fines system unavailable, …).
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The payer's profile lacks details a payment needs: these fields.
    #[error("refused: {0}")]
    ProfileIncomplete(Refusal, Vec<FieldError>),
    /// The payer's account is gone.
    #[error("no such account")]
    NoAccount,
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
}

impl From<sqlx::Error> for FineError {
    fn from(e: sqlx::Error) -> Self {
        Self::Command(e.into())
    }
}

impl From<ProfileError> for FineError {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::Incomplete(r, fields) => Self::ProfileIncomplete(r, fields),
            ProfileError::NoAccount => Self::NoAccount,
            ProfileError::Database(e) => e.into(),
        }
    }
}

/// Step 1: the ticket's municipality code and fine type.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    /// As on the ticket.
    pub municipality_code: String,
    /// A type code (`GET /api/v1/fines/types`).
    pub fine_type: String,
}

/// Step 2: step 1 plus the ticket's details.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteInput {
    /// As on the ticket.
    pub municipality_code: String,
    /// A type code.
    pub fine_type: String,
    /// As on the ticket.
    pub fine_number: String,
    /// A Greek plate; Latin look-alikes are accepted.
    pub plate: String,
    /// `YYYY-MM-DD`.
    pub offence_date: String,
    /// `HH:MM`, Athens time.
    pub offence_time: String,
}

/// Sorts a refusal into "fix this field" (kept in `fields`) or a rule's "no" (kept in
/// `rule`, the first one wins).
fn sort_refusal(
    field: &str,
    refusal: Refusal,
    fields: &mut Vec<FieldError>,
    rule: &mut Option<Refusal>,
) {
    if refusal.kind == RefusalKind::Invalid {
        fields.push(FieldError::new(field, refusal.code));
    } else if rule.is_none() {
        *rule = Some(refusal);
    }
}

/// Step 1: the municipality code must be this municipality's and the type payable here.
pub fn check<'a>(portal: &'a Portal, input: &CheckInput) -> Result<&'a FineType, FineError> {
    let config = &portal.settings.municipality.fines;
    let mut fields = Vec::new();
    let mut rule = None;
    if let Err(r) = config.check_municipality_code(&input.municipality_code) {
        sort_refusal("municipality_code", r, &mut fields, &mut rule);
    }
    let fine_type = match config.payable_type(&input.fine_type) {
        Ok(t) => Some(t),
        Err(r) => {
            sort_refusal("fine_type", r, &mut fields, &mut rule);
            None
        }
    };
    if !fields.is_empty() {
        return Err(FineError::Invalid(fields));
    }
    match (rule, fine_type) {
        (Some(r), _) => Err(FineError::Refused(r)),
        (None, Some(t)) => Ok(t),
        (None, None) => {
            Err(CommandError::Infrastructure("fine type neither found nor refused".into()).into())
        }
    }
}

/// Step 2: validates the ticket's details, asks the fines system, records the quote on
/// the fine and answers it.
pub async fn quote(
    portal: &Portal,
    input: QuoteInput,
    metadata: CommandMetadata,
) -> Result<Quote, FineError> {
    let config = &portal.settings.municipality.fines;
    let mut fields = Vec::new();
    let mut rule = None;
    if let Err(r) = config.check_municipality_code(&input.municipality_code) {
        sort_refusal("municipality_code", r, &mut fields, &mut rule);
    }
    let fine_type = config
        .payable_type(&input.fine_type)
        .map_err(|r| sort_refusal("fine_type", r, &mut fields, &mut rule))
        .ok();
    let fine_number = FineNumber::parse(&input.fine_number)
        .map_err(|r| fields.push(FieldError::new("fine_number", r.code)))
        .ok();
    let plate = Plate::parse(&input.plate)
        .map_err(|r| fields.push(FieldError::new("plate", r.code)))
        .ok();
    let date = NaiveDate::parse_from_str(input.offence_date.trim(), "%Y-%m-%d")
        .map_err(|_| fields.push(FieldError::new("offence_date", "offence_date_invalid")))
        .ok();
    let time = NaiveTime::parse_from_str(input.offence_time.trim(), "%H:%M")
        .map_err(|_| fields.push(FieldError::new("offence_time", "offence_time_invalid")))
        .ok();
    let offence_at = match (date, time) {
        (Some(d), Some(t)) => {
            match Athens.from_local_datetime(&d.and_time(t)).earliest() {
                Some(at) => Some(at.with_timezone(&Utc)),
                // The hour skipped when the clocks go forward.
                None => {
                    fields.push(FieldError::new("offence_time", "offence_time_invalid"));
                    None
                }
            }
        }
        _ => None,
    };
    if !fields.is_empty() {
        return Err(FineError::Invalid(fields));
    }
    if let Some(r) = rule {
        return Err(FineError::Refused(r));
    }
    let (Some(fine_type), Some(fine_number), Some(plate), Some(offence_at)) =
        (fine_type, fine_number, plate, offence_at)
    else {
        return Err(
            CommandError::Infrastructure("quote input neither parsed nor refused".into()).into(),
        );
    };
    let now = portal.now();
    domain::fines::check_offence_not_in_future(offence_at, now).map_err(FineError::Refused)?;
    let query = FineQuery {
        municipality_code: config.municipality_code.clone(),
        fine_type: fine_type.code.clone(),
        fine_number,
        plate,
        offence_at,
    };
    let record = portal.fines.find_or_register(&query).await.map_err(|e| {
        if matches!(e, FinesError::Unavailable(_)) {
            tracing::warn!(error = %e, "fines system unavailable for a quote");
        }
        FineError::Refused(e.to_refusal())
    })?;
    if record.paid.is_some() {
        return Err(FineError::Refused(Refusal::rule(
            "fine_already_paid",
            "the fines system has this fine as paid",
        )));
    }
    record_quote(portal, &query, &record, fine_type, now, metadata).await
}

/// A fine as its quote names it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuotedFine {
    pub municipality_code: String,
    pub fine_number: String,
    pub plate: String,
    pub fine_type: FineType,
    pub offence_at: DateTime<Utc>,
    pub origin: FineOrigin,
}

/// The amount due now for a fine, and until when it may be paid (step 2's answer).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Quote {
    /// What `POST /api/v1/fines/pay` takes.
    pub quote_id: String,
    pub fine: QuotedFine,
    /// The type's amount.
    #[schema(value_type = i64)]
    pub base_cents: Money,
    /// The amount due now, as the fines system computed it (a reduction or surcharge
    /// included).
    #[schema(value_type = i64)]
    pub amount_cents: Money,
    /// The last day this amount applies, if the fines system says.
    #[schema(required)]
    pub amount_valid_until: Option<NaiveDate>,
    /// Until when the quote may be paid.
    pub valid_until: DateTime<Utc>,
    /// The amount of the fine's previous quote, if it had one.
    #[schema(required, value_type = Option<i64>)]
    pub previous_amount_cents: Option<Money>,
    pub changed_since_last_quote: bool,
}

async fn record_quote(
    portal: &Portal,
    query: &FineQuery,
    record: &FineRecord,
    fine_type: &FineType,
    now: DateTime<Utc>,
    metadata: CommandMetadata,
) -> Result<Quote, FineError> {
    let ttl = chrono::Duration::from_std(portal.settings.fines_quote_ttl)
        .map_err(|_| CommandError::Infrastructure("PORTAL_FINES_QUOTE_SECS is too large".into()))?;
    let valid_until = domain::fines::quote_valid_until(now, ttl, record.amount_valid_until);
    let id = fine_id(&query.municipality_code, record.fine_number.as_str());
    let quote_id = format!("{id}-{}", Uuid::new_v4().simple());
    let fine = RegisteredFine {
        municipality_code: query.municipality_code.clone(),
        fine_number: record.fine_number.to_string(),
        plate: record.plate.to_string(),
        fine_type: record.fine_type.clone(),
        offence_at: record.offence_at,
        base_cents: record.base_cents,
        origin: record.origin,
    };
    portal
        .traffic_fines
        .execute(
            &id,
            TrafficFineCommand::Quote {
                quote_id: quote_id.clone(),
                fine: fine.clone(),
                amount_cents: record.amount_due_cents,
                amount_valid_until: record.amount_valid_until,
                valid_until,
                at: now,
            },
            metadata,
        )
        .await?;
    let recorded = portal.traffic_fines.load(&id).await?;
    let previous = recorded
        .quote
        .as_ref()
        .filter(|q| q.quote_id == quote_id)
        .and_then(|q| q.previous_amount_cents);
    Ok(Quote {
        quote_id,
        fine: QuotedFine {
            municipality_code: fine.municipality_code,
            fine_number: fine.fine_number,
            plate: fine.plate,
            fine_type: fine_type.clone(),
            offence_at: fine.offence_at,
            origin: fine.origin,
        },
        base_cents: record.base_cents,
        amount_cents: record.amount_due_cents,
        amount_valid_until: record.amount_valid_until,
        valid_until,
        previous_amount_cents: previous,
        changed_since_last_quote: previous.is_some_and(|p| p != record.amount_due_cents),
    })
}

/// Why a payer's profile does not allow a payment.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("refused: {0}")]
    Incomplete(Refusal, Vec<FieldError>),
    #[error("no such account")]
    NoAccount,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The profile details a payer must have filled in (S10's preconditions; the rule is
/// [`Profile::check_complete_for_payment`]). Shared by fines, tax declarations and debts.
pub async fn check_profile(portal: &Portal, actor: &Actor) -> Result<(), ProfileError> {
    let row: Option<ProfileRow> =
        sqlx::query_as("SELECT full_name, father_name, address, phone FROM accounts WHERE id = $1")
            .bind(actor.account_id)
            .fetch_optional(&portal.pool)
            .await?;
    let Some((full_name, father_name, address, phone)) = row else {
        return Err(ProfileError::NoAccount);
    };
    Profile {
        full_name,
        father_name,
        address,
        phone,
    }
    .check_complete_for_payment()
    .map_err(|(refusal, fields)| ProfileError::Incomplete(refusal, fields))
}

/// A payment started for a quote: its id and the form that sends the payer to the bank.
#[derive(Debug, Clone)]
pub struct StartedFinePayment {
    pub payment_id: String,
    pub amount_cents: Money,
    pub form: RedirectForm,
}

/// Pays quote `quote_id`: reserves the fine on its aggregate (one payment at a time, never
/// a paid fine, never an expired quote), creates the payment and answers the bank form.
/// `describe` writes the payment's description for the bank from the fine (in the
/// front door's language files); `lang` is the bank page's language (`el`, `en`).
pub async fn pay(
    portal: &Portal,
    actor: &Actor,
    quote_id: &str,
    lang: &str,
    describe: impl FnOnce(&RegisteredFine) -> String,
    metadata: CommandMetadata,
) -> Result<StartedFinePayment, FineError> {
    check_profile(portal, actor).await?;
    let not_found = || FineError::Refused(Refusal::not_found("quote_not_found", "no such quote"));
    let (id, random) = quote_id.rsplit_once('-').ok_or_else(not_found)?;
    if random.len() != 32 || !random.chars().all(|c| c.is_ascii_hexdigit()) || id.len() > 40 {
        return Err(not_found());
    }
    let fine: TrafficFine = portal.traffic_fines.load(id).await?;
    let (Some(registered), Some(_)) = (&fine.fine, &fine.quote) else {
        return Err(not_found());
    };
    let open_payment = match &fine.open_payment {
        Some(open) => portal
            .payments
            .load(&open.payment_id)
            .await?
            .status
            .map(|s| (open.payment_id.clone(), s)),
        None => None,
    };
    let now = portal.now();
    let payment_id = Uuid::new_v4().to_string();
    portal
        .traffic_fines
        .execute(
            id,
            TrafficFineCommand::StartPayment {
                quote_id: quote_id.to_string(),
                payment_id: payment_id.clone(),
                payer_account_id: actor.account_id.to_string(),
                expires_at: now + portal.settings.payments.expiry,
                open_payment,
                at: now,
            },
            metadata.clone(),
        )
        .await?;
    // The amount the reservation recorded (the quote's).
    let reserved = portal.traffic_fines.load(id).await?;
    let amount_cents = reserved
        .open_payment
        .as_ref()
        .filter(|p| p.payment_id == payment_id)
        .map(|p| p.amount_cents)
        .ok_or_else(|| CommandError::Infrastructure("the reservation is not on the fine".into()))?;
    let description = describe(registered);
    let obligation = Obligation {
        kind: OBLIGATION_KIND.to_string(),
        reference: id.to_string(),
        description,
    };
    let form = crate::payments::start_reserved(
        portal,
        actor,
        &payment_id,
        obligation,
        amount_cents,
        metadata,
        lang,
    )
    .await?;
    Ok(StartedFinePayment {
        payment_id,
        amount_cents,
        form,
    })
}

/// Where telling the fines system stands for each of `payment_ids` (`notified`,
/// `refused`; a payment without a row is still `pending`).
pub async fn notice_statuses(
    portal: &Portal,
    payment_ids: &[String],
) -> Result<Vec<(String, String)>, CommandError> {
    Ok(sqlx::query_as(
        "SELECT payment_id, status FROM fine_payment_notices WHERE payment_id = ANY($1)",
    )
    .bind(payment_ids)
    .fetch_all(&portal.pool)
    .await?)
}

/// An account's name, father's name, address and phone.
type ProfileRow = (String, Option<String>, Option<String>, Option<String>);

/// The fines-management system, told about every captured fine payment (see
/// [`crate::notices`]).
pub struct FinesSystemNotices;

/// Tells the fines system about captured fine payments, durably and once per payment.
pub type FineNotifier = Notifier<FinesSystemNotices>;

#[async_trait]
impl NoticeTarget for FinesSystemNotices {
    type Obligation = TrafficFine;
    const TASK: &'static str = "fine notifier";
    const LOCK: &'static str = "fine-notifier";
    const ACTOR: &'static str = "system:fine-notifier";
    const OUTBOX: Outbox = Outbox {
        table: "fine_payment_notices",
        status_column: "status",
    };
    const DUE_SQL: &'static str = "SELECT payment_id, fine_id AS obligation_id, payment_ref, \
        amount_cents, NULL::timestamptz AS paid_at, attempts FROM fine_payment_notices \
        WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 20";

    fn retry_first(settings: &Settings) -> Duration {
        settings.fines_retry_first
    }

    fn obligations(portal: &Portal) -> &Commands<TrafficFine> {
        &portal.traffic_fines
    }

    fn record(notice: &PaidNotice, step: NoticeStep<'_>, now: DateTime<Utc>) -> TrafficFineCommand {
        let payment_id = notice.payment_id.clone();
        match step {
            NoticeStep::Paid => TrafficFineCommand::RecordPaid {
                payment_id,
                payment_ref: notice.payment_ref.clone(),
                amount_cents: notice.amount_cents,
                at: now,
            },
            NoticeStep::Told => TrafficFineCommand::RecordFinesSystemNotified {
                payment_id,
                at: now,
            },
            NoticeStep::Refused(code) => TrafficFineCommand::RecordFinesSystemRefused {
                payment_id,
                code: code.to_string(),
                at: now,
            },
        }
    }

    async fn tell(portal: &Portal, notice: &PaidNotice) -> Result<(), TellFailure> {
        let fine_id = &notice.obligation_id;
        let number = fine_id.split_once('-').map_or("", |(_, n)| n);
        let fine_number = FineNumber::parse(number)
            .map_err(|_| TellFailure::Broken(format!("fine id {fine_id} has no fine number")))?;
        let paid = FinePaymentNotice {
            fine_number,
            payment_ref: notice.payment_ref.clone(),
            amount_cents: notice.amount_cents,
            idempotency_key: notice.payment_id.clone(),
        };
        portal.fines.mark_paid(&paid).await.map_err(|e| match e {
            FinesError::Unavailable(why) => TellFailure::Unavailable(why),
            other => TellFailure::Refused(other.to_refusal()),
        })
    }
}
