//! Traffic fines (ΚΟΚ): the two steps a citizen takes from the ticket to a quote (checked
//! against the municipality's configuration, then found or registered in the fines system),
//! paying a quote through the payment engine, and the notifier that tells the fines system
//! about every captured payment, durably and once per payment.
//!
//! Quotes live in the `TrafficFine` aggregate (one stream per municipality code + fine
//! number): the quote's id, amount and expiry are events, so a payment can only start from
//! the fine's latest unexpired quote, and optimistic concurrency on that stream lets one
//! payment start at a time (two tabs, double clicks).

use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Athens;
use commands::{CommandError, CommandMetadata};
use domain::fines::{FineNumber, FineType, Plate};
use domain::payment::Obligation;
use domain::ports::{FinePaymentNotice, FineQuery, FineRecord, FinesError, RedirectForm};
use domain::traffic_fine::{fine_id, RegisteredFine, TrafficFine, TrafficFineCommand};
use domain::Refusal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::error::{ApiError, FieldError};
use crate::i18n::{self, Lang};
use crate::AppState;
use commands::background::{self, LoopTask, Outbox};

/// The obligation kind of a traffic fine in the payment engine.
pub const OBLIGATION_KIND: &str = "traffic_fine";

/// The notices to the fines system, one per captured payment.
const NOTICES: Outbox = Outbox {
    table: "fine_payment_notices",
    status_column: "status",
};

/// A fine type as the API shows it.
pub fn type_json(t: &FineType) -> Value {
    json!({"code": t.code, "name_el": t.name_el, "name_en": t.name_en, "base_cents": t.base_cents})
}

/// Step 1: the ticket's municipality code and fine type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    pub municipality_code: String,
    pub fine_type: String,
}

/// Step 2: step 1 plus the ticket's details.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteInput {
    pub municipality_code: String,
    pub fine_type: String,
    pub fine_number: String,
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
    if refusal.kind == domain::refusal::RefusalKind::Invalid {
        fields.push(FieldError::new(field, refusal.code));
    } else if rule.is_none() {
        *rule = Some(refusal);
    }
}

/// Step 1: the municipality code must be this municipality's and the type payable here.
pub fn check<'a>(state: &'a AppState, input: &CheckInput) -> Result<&'a FineType, ApiError> {
    let config = &state.config.municipality.fines;
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
        return Err(ApiError::Validation(fields));
    }
    match (rule, fine_type) {
        (Some(r), _) => Err(ApiError::Refused(r)),
        (None, Some(t)) => Ok(t),
        (None, None) => Err(ApiError::Internal(
            "fine type neither found nor refused".into(),
        )),
    }
}

/// The first instant of the day after `day` in Athens.
fn end_of_athens_day(day: NaiveDate) -> Option<DateTime<Utc>> {
    let next = day.checked_add_days(Days::new(1))?;
    Athens
        .from_local_datetime(&next.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Step 2: validates the ticket's details, asks the fines system, records the quote on
/// the fine and answers it.
pub async fn quote(
    state: &AppState,
    input: QuoteInput,
    metadata: CommandMetadata,
) -> Result<Value, ApiError> {
    let config = &state.config.municipality.fines;
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
        return Err(ApiError::Validation(fields));
    }
    if let Some(r) = rule {
        return Err(ApiError::Refused(r));
    }
    let (Some(fine_type), Some(fine_number), Some(plate), Some(offence_at)) =
        (fine_type, fine_number, plate, offence_at)
    else {
        return Err(ApiError::Internal(
            "quote input neither parsed nor refused".into(),
        ));
    };
    let now = Utc::now();
    if offence_at > now {
        return Err(ApiError::Refused(Refusal::invalid(
            "offence_date_in_future",
            format!("offence at {offence_at}, now is {now}"),
        )));
    }
    let query = FineQuery {
        municipality_code: config.municipality_code.clone(),
        fine_type: fine_type.code.clone(),
        fine_number,
        plate,
        offence_at,
    };
    let record = state.fines.find_or_register(&query).await.map_err(|e| {
        if matches!(e, FinesError::Unavailable(_)) {
            tracing::warn!(error = %e, "fines system unavailable for a quote");
        }
        ApiError::Refused(e.to_refusal())
    })?;
    if record.paid.is_some() {
        return Err(ApiError::Refused(Refusal::rule(
            "fine_already_paid",
            "the fines system has this fine as paid",
        )));
    }
    record_quote(state, &query, &record, fine_type, now, metadata).await
}

async fn record_quote(
    state: &AppState,
    query: &FineQuery,
    record: &FineRecord,
    fine_type: &FineType,
    now: DateTime<Utc>,
    metadata: CommandMetadata,
) -> Result<Value, ApiError> {
    let ttl = chrono::Duration::from_std(state.config.fines_quote_ttl)
        .map_err(|_| ApiError::Internal("PORTAL_FINES_QUOTE_SECS is too large".into()))?;
    let mut valid_until = now + ttl;
    if let Some(end) = record.amount_valid_until.and_then(end_of_athens_day) {
        valid_until = valid_until.min(end);
    }
    let id = fine_id(&query.municipality_code, record.fine_number.as_str());
    let quote_id = format!("{id}-{}", uuid::Uuid::new_v4().simple());
    let fine = RegisteredFine {
        municipality_code: query.municipality_code.clone(),
        fine_number: record.fine_number.to_string(),
        plate: record.plate.to_string(),
        fine_type: record.fine_type.clone(),
        offence_at: record.offence_at,
        base_cents: record.base_cents,
        origin: record.origin,
    };
    state
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
    let recorded = state.traffic_fines.load(&id).await?;
    let previous = recorded
        .quote
        .as_ref()
        .filter(|q| q.quote_id == quote_id)
        .and_then(|q| q.previous_amount_cents);
    Ok(json!({
        "quote_id": quote_id,
        "fine": {
            "municipality_code": fine.municipality_code,
            "fine_number": fine.fine_number,
            "plate": fine.plate,
            "fine_type": type_json(fine_type),
            "offence_at": fine.offence_at,
            "origin": fine.origin,
        },
        "base_cents": record.base_cents,
        "amount_cents": record.amount_due_cents,
        "amount_valid_until": record.amount_valid_until,
        "valid_until": valid_until,
        "previous_amount_cents": previous,
        "changed_since_last_quote": previous.is_some_and(|p| p != record.amount_due_cents),
    }))
}

/// The profile details a payer must have filled in (S10's preconditions).
pub(crate) async fn check_profile(state: &AppState, user: &CurrentUser) -> Result<(), ApiError> {
    let row: Option<ProfileRow> =
        sqlx::query_as("SELECT full_name, father_name, address, phone FROM accounts WHERE id = $1")
            .bind(user.account_id)
            .fetch_optional(&state.pool)
            .await?;
    let Some((full_name, father_name, address, phone)) = row else {
        return Err(ApiError::Unauthenticated);
    };
    let blank = |v: Option<&str>| v.is_none_or(|s| s.trim().is_empty());
    let missing: Vec<FieldError> = [
        ("full_name", blank(Some(&full_name))),
        ("father_name", blank(father_name.as_deref())),
        ("address", blank(address.as_deref())),
        ("phone", blank(phone.as_deref())),
    ]
    .into_iter()
    .filter(|(_, missing)| *missing)
    .map(|(field, _)| FieldError::new(field, "profile_field_required"))
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|f| f.field.as_str()).collect();
    Err(ApiError::RefusedFields(
        Refusal::forbidden(
            "profile_incomplete",
            format!("complete: {}", names.join(", ")),
        ),
        missing,
    ))
}

/// A payment started for a quote: its id and the form that sends the payer to the bank.
#[derive(Debug, Clone)]
pub struct StartedFinePayment {
    pub payment_id: String,
    pub amount_cents: i64,
    pub form: RedirectForm,
}

/// Pays quote `quote_id`: reserves the fine on its aggregate (one payment at a time, never
/// a paid fine, never an expired quote), creates the payment and answers the bank form.
pub async fn pay(
    state: &AppState,
    user: &CurrentUser,
    quote_id: &str,
    lang: Lang,
    metadata: CommandMetadata,
) -> Result<StartedFinePayment, ApiError> {
    check_profile(state, user).await?;
    let not_found = || ApiError::Refused(Refusal::not_found("quote_not_found", "no such quote"));
    let (id, random) = quote_id.rsplit_once('-').ok_or_else(not_found)?;
    if random.len() != 32 || !random.chars().all(|c| c.is_ascii_hexdigit()) || id.len() > 40 {
        return Err(not_found());
    }
    let fine: TrafficFine = state.traffic_fines.load(id).await?;
    let (Some(registered), Some(_)) = (&fine.fine, &fine.quote) else {
        return Err(not_found());
    };
    let open_payment = match &fine.open_payment {
        Some(open) => state
            .payments
            .load(&open.payment_id)
            .await?
            .status
            .map(|s| (open.payment_id.clone(), s)),
        None => None,
    };
    let now = Utc::now();
    let payment_id = uuid::Uuid::new_v4().to_string();
    state
        .traffic_fines
        .execute(
            id,
            TrafficFineCommand::StartPayment {
                quote_id: quote_id.to_string(),
                payment_id: payment_id.clone(),
                payer_account_id: user.account_id.to_string(),
                expires_at: now + state.settings.payments.expiry,
                open_payment,
                at: now,
            },
            metadata.clone(),
        )
        .await?;
    // The amount the reservation recorded (the quote's).
    let reserved = state.traffic_fines.load(id).await?;
    let amount_cents = reserved
        .open_payment
        .as_ref()
        .filter(|p| p.payment_id == payment_id)
        .map(|p| p.amount_cents)
        .ok_or_else(|| ApiError::Internal("the reservation is not on the fine".into()))?;
    let description = i18n::message(Lang::El, "fine_payment_description")
        .replace("{number}", &registered.fine_number)
        .replace("{plate}", &registered.plate);
    commands::payments::create_payment(
        state,
        &user.actor(),
        payment_id.clone(),
        Obligation {
            kind: OBLIGATION_KIND.to_string(),
            reference: id.to_string(),
            description,
        },
        amount_cents,
        Some(metadata),
    )
    .await?;
    let form = commands::payments::redirect(state, &user.actor(), &payment_id, lang.code()).await?;
    Ok(StartedFinePayment {
        payment_id,
        amount_cents,
        form,
    })
}

/// Tells the fines system about captured fine payments: a row per captured payment in
/// `fine_payment_notices` (keyed by payment id, so written once), then `mark_paid` with the
/// payment id as idempotency key until the fines system takes it, with backoff while it is
/// down. Every step is idempotent, so a crash between them only repeats a step. One pass
/// at a time across processes (an advisory lock).
#[derive(Clone)]
pub struct FineNotifier {
    state: AppState,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NotifyReport {
    pub notified: usize,
    pub retried: usize,
    pub refused: usize,
    pub skipped: bool,
}

type NoticeRow = (String, String, String, i64, i32);

/// An account's name, father's name, address and phone.
type ProfileRow = (String, Option<String>, Option<String>, Option<String>);

impl FineNotifier {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    pub fn spawn(self, poll: Duration) -> LoopTask {
        background::every("fine notifier", poll, move || {
            let notifier = self.clone();
            async move { notifier.run_once().await }
        })
    }

    pub async fn run_once(&self) -> Result<NotifyReport, ApiError> {
        let pool = &self.state.pool;
        let Some(lock) = background::pass_lock(pool, "fine-notifier").await? else {
            return Ok(NotifyReport {
                skipped: true,
                ..NotifyReport::default()
            });
        };
        sqlx::query(
            "INSERT INTO fine_payment_notices (payment_id, fine_id, payment_ref, amount_cents) \
             SELECT p.id, p.obligation_reference, p.payment_ref, p.amount_cents FROM payments p \
             WHERE p.obligation_kind = $1 AND p.status = 'succeeded' AND p.payment_ref IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM fine_payment_notices n WHERE n.payment_id = p.id) \
             ON CONFLICT (payment_id) DO NOTHING",
        )
        .bind(OBLIGATION_KIND)
        .execute(pool)
        .await?;
        let due: Vec<NoticeRow> = sqlx::query_as(
            "SELECT payment_id, fine_id, payment_ref, amount_cents, attempts \
             FROM fine_payment_notices WHERE status = 'pending' AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT 20",
        )
        .fetch_all(pool)
        .await?;
        let mut report = NotifyReport::default();
        for row in due {
            self.notify(row, &mut report).await?;
        }
        lock.commit().await?;
        Ok(report)
    }

    async fn notify(&self, row: NoticeRow, report: &mut NotifyReport) -> Result<(), ApiError> {
        let (payment_id, fine_id, payment_ref, amount_cents, attempts) = row;
        let state = &self.state;
        let metadata = CommandMetadata {
            actor_id: "system:fine-notifier".into(),
            role: "system".into(),
            correlation_id: payment_id.clone(),
            client_ip: None,
        };
        let at = Utc::now();
        let recorded = state
            .traffic_fines
            .execute(
                &fine_id,
                TrafficFineCommand::RecordPaid {
                    payment_id: payment_id.clone(),
                    payment_ref: payment_ref.clone(),
                    amount_cents,
                    at,
                },
                metadata.clone(),
            )
            .await;
        if let Err(CommandError::Refused(r)) = &recorded {
            // Another payment already settled this fine: the money must go back by hand.
            tracing::error!(payment = %payment_id, fine = %fine_id, code = r.code,
                "fine notifier: a second captured payment of one fine; refund it");
            self.finish(&payment_id, "refused", r.code).await?;
            report.refused += 1;
            return Ok(());
        }
        recorded?;
        let number = fine_id.split_once('-').map_or("", |(_, n)| n);
        let fine_number = FineNumber::parse(number)
            .map_err(|_| ApiError::Internal(format!("fine id {fine_id} has no fine number")))?;
        let notice = FinePaymentNotice {
            fine_number,
            payment_ref,
            amount_cents,
            idempotency_key: payment_id.clone(),
        };
        match state.fines.mark_paid(&notice).await {
            Ok(()) => {
                state
                    .traffic_fines
                    .execute(
                        &fine_id,
                        TrafficFineCommand::RecordFinesSystemNotified {
                            payment_id: payment_id.clone(),
                            at: Utc::now(),
                        },
                        metadata,
                    )
                    .await?;
                self.finish(&payment_id, "notified", "").await?;
                report.notified += 1;
            }
            Err(FinesError::Unavailable(why)) => {
                tracing::warn!(payment = %payment_id, attempts, error = %why,
                    "fine notifier: the fines system is unavailable; will retry");
                NOTICES
                    .retry_later(
                        &state.pool,
                        &payment_id,
                        &why,
                        state.config.fines_retry_first,
                        attempts,
                    )
                    .await?;
                report.retried += 1;
            }
            Err(e) => {
                let refusal = e.to_refusal();
                tracing::error!(payment = %payment_id, fine = %fine_id, code = refusal.code,
                    "fine notifier: the fines system refused the payment notice; a clerk must look");
                state
                    .traffic_fines
                    .execute(
                        &fine_id,
                        TrafficFineCommand::RecordFinesSystemRefused {
                            payment_id: payment_id.clone(),
                            code: refusal.code.to_string(),
                            at: Utc::now(),
                        },
                        metadata,
                    )
                    .await?;
                self.finish(&payment_id, "refused", refusal.code).await?;
                report.refused += 1;
            }
        }
        Ok(())
    }

    async fn finish(&self, payment_id: &str, status: &str, error: &str) -> Result<(), ApiError> {
        Ok(NOTICES
            .finish(&self.state.pool, payment_id, status, error)
            .await?)
    }
}
