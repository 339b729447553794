//! «Πληρωμή Προστίμων ΚΟΚ» (issue 5): step 1 (municipality code and fine type as printed on
//! the ticket), step 2 (fine number, plate, date and time) → the quote, «Επιβεβαίωση
//! πληρωμής», and the page that holds the bank's form. The outcome is `/payments/{id}`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono_tz::Europe::Athens;
use projections::traffic_fines::{self, TrafficFineRow};
use serde::Deserialize;

use super::bank::{bank_form_page, missing_profile};
use super::cases::error_page;
use super::login_redirect;
use super::{render, FormState, Page};
use crate::auth::Role;
use crate::error::{ApiError, FieldError};
use crate::http::RequestContext;
use crate::AppState;
use commands::fines::{self, CheckInput, QuoteInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/fines", get(step1).post(step1_submit))
        .route("/fines/details", get(step2).post(step2_submit))
        .route("/fines/quotes/{id}", get(quote_page))
        .route("/fines/quotes/{id}/confirm", get(confirm_page).post(pay))
}

pub(super) struct Choice {
    pub value: String,
    pub label: String,
}

/// A rule's refusal that belongs next to a field.
fn field_of(code: &str) -> Option<&'static str> {
    match code {
        "municipality_code_foreign" => Some("municipality_code"),
        "fine_type_not_payable" => Some("fine_type"),
        "offence_date_in_future" => Some("offence_date"),
        _ => None,
    }
}

fn absorb(form: &mut FormState, p: &Page, error: &ApiError) {
    match error {
        ApiError::Refused(r) => match field_of(r.code) {
            Some(field) => form.add_error(p.lang, &FieldError::new(field, r.code)),
            None => form.absorb(p.lang, error),
        },
        _ => form.absorb(p.lang, error),
    }
}

fn type_choices(state: &AppState, p: &Page) -> Vec<Choice> {
    let mut choices = vec![Choice {
        value: String::new(),
        label: p.t("ui_fines_choose_type"),
    }];
    for t in &state.config.municipality.fines.types {
        let name = match p.lang {
            crate::i18n::Lang::En => &t.name_en,
            crate::i18n::Lang::El => &t.name_el,
        };
        choices.push(Choice {
            value: t.code.clone(),
            label: format!("{} – {} ({})", t.code, name, t.base_cents),
        });
    }
    choices
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Step 2 of a registered fine, filled in: where to try again.
pub(super) fn step2_href(fine: &TrafficFineRow) -> String {
    let at = fine.offence_at.with_timezone(&Athens);
    let date = at.format("%Y-%m-%d").to_string();
    let time = at.format("%H:%M").to_string();
    format!(
        "/fines/details?{}",
        query_string(&[
            ("municipality_code", &fine.municipality_code),
            ("fine_type", &fine.fine_type),
            ("fine_number", &fine.fine_number),
            ("plate", &fine.plate),
            ("offence_date", &date),
            ("offence_time", &time),
        ])
    )
}

// ---------------------------------------------------------------------------------------
// Step 1
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "fines_step1.html")]
struct Step1Page {
    p: Page,
    form: FormState,
    types: Vec<Choice>,
}

#[derive(Deserialize, Default)]
struct Step1Form {
    #[serde(default)]
    municipality_code: String,
    #[serde(default)]
    fine_type: String,
}

async fn step1(State(state): State<AppState>, p: Page) -> Response {
    let types = type_choices(&state, &p);
    render(&Step1Page {
        p,
        form: FormState::new(),
        types,
    })
}

async fn step1_submit(
    State(state): State<AppState>,
    p: Page,
    Form(f): Form<Step1Form>,
) -> Response {
    let input = CheckInput {
        municipality_code: f.municipality_code.clone(),
        fine_type: f.fine_type.clone(),
    };
    match fines::check(&state, &input).map_err(ApiError::from) {
        Ok(t) => Redirect::to(&format!(
            "/fines/details?{}",
            query_string(&[
                (
                    "municipality_code",
                    &state.config.municipality.fines.municipality_code
                ),
                ("fine_type", &t.code),
            ])
        ))
        .into_response(),
        Err(e) => {
            let mut form = FormState::with_values([
                ("municipality_code", f.municipality_code.as_str()),
                ("fine_type", f.fine_type.as_str()),
            ]);
            absorb(&mut form, &p, &e);
            let types = type_choices(&state, &p);
            let mut response = render(&Step1Page { p, form, types });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
    }
}

// ---------------------------------------------------------------------------------------
// Step 2
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "fines_step2.html")]
struct Step2Page {
    p: Page,
    form: FormState,
    municipality_code: String,
    fine_type: String,
    type_label: String,
    amount: String,
}

#[derive(Deserialize, Default)]
struct Step2Form {
    #[serde(default)]
    municipality_code: String,
    #[serde(default)]
    fine_type: String,
    #[serde(default)]
    fine_number: String,
    #[serde(default)]
    plate: String,
    #[serde(default)]
    offence_date: String,
    #[serde(default)]
    offence_time: String,
}

impl Step2Form {
    fn values(&self) -> FormState {
        FormState::with_values([
            ("municipality_code", self.municipality_code.as_str()),
            ("fine_type", self.fine_type.as_str()),
            ("fine_number", self.fine_number.as_str()),
            ("plate", self.plate.as_str()),
            ("offence_date", self.offence_date.as_str()),
            ("offence_time", self.offence_time.as_str()),
        ])
    }
}

fn step2_response(state: &AppState, p: Page, f: &Step2Form, form: FormState) -> Response {
    let input = CheckInput {
        municipality_code: f.municipality_code.clone(),
        fine_type: f.fine_type.clone(),
    };
    let t = match fines::check(state, &input).map_err(ApiError::from) {
        Ok(t) => t,
        // Step 1 again, with what was wrong next to its field.
        Err(e) => {
            let mut form = FormState::with_values([
                ("municipality_code", f.municipality_code.as_str()),
                ("fine_type", f.fine_type.as_str()),
            ]);
            absorb(&mut form, &p, &e);
            let types = type_choices(state, &p);
            let mut response = render(&Step1Page { p, form, types });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return response;
        }
    };
    let name = match p.lang {
        crate::i18n::Lang::En => &t.name_en,
        crate::i18n::Lang::El => &t.name_el,
    };
    render(&Step2Page {
        municipality_code: state.config.municipality.fines.municipality_code.clone(),
        fine_type: t.code.clone(),
        type_label: format!("{} – {name}", t.code),
        amount: t.base_cents.to_string(),
        form,
        p,
    })
}

async fn step2(State(state): State<AppState>, p: Page, Query(f): Query<Step2Form>) -> Response {
    let form = f.values();
    step2_response(&state, p, &f, form)
}

async fn step2_submit(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Form(f): Form<Step2Form>,
) -> Response {
    let input = QuoteInput {
        municipality_code: f.municipality_code.clone(),
        fine_type: f.fine_type.clone(),
        fine_number: f.fine_number.clone(),
        plate: f.plate.clone(),
        offence_date: f.offence_date.clone(),
        offence_time: f.offence_time.clone(),
    };
    let user = p.user.as_ref().map(|u| &u.user);
    match fines::quote(&state, input, context.metadata(user))
        .await
        .map_err(ApiError::from)
    {
        Ok(quote) => Redirect::to(&format!("/fines/quotes/{}", quote.quote_id)).into_response(),
        Err(e @ (ApiError::Validation(_) | ApiError::Refused(_))) => {
            let mut form = f.values();
            absorb(&mut form, &p, &e);
            let mut response = step2_response(&state, p, &f, form);
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => error_page(p, e),
    }
}

// ---------------------------------------------------------------------------------------
// The quote and its confirmation
// ---------------------------------------------------------------------------------------

/// A quote as the pages show it.
struct QuoteView {
    id: String,
    municipality_code: String,
    fine_number: String,
    plate: String,
    type_label: String,
    offence_at: String,
    amount: String,
    /// The fine type's base amount, and why the amount due differs from it (issue 17):
    /// the municipality's reduction or surcharge for the days since the offence, or, when
    /// the fines system's amount is not what that schedule gives, its own adjustment.
    base_amount: String,
    adjustment: Option<AdjustmentView>,
    valid_until: String,
    changed: bool,
    previous_amount: Option<String>,
    step2_href: String,
}

/// A reduction or surcharge as the quote explains it: «Μείωση 50 % για πληρωμή εντός 10
/// ημερών από την παράβαση» and «−40,00 €».
pub(super) struct AdjustmentView {
    pub label: String,
    pub amount: String,
}

/// Why `amount` differs from `base` for a fine committed at `offence_at`, quoted `today`
/// (Athens): the band of the municipality's schedule (`[fines.adjustments]`) that gives that
/// amount, or the fines system's own adjustment when the schedule gives another; `None` when
/// the amount is the base amount.
fn adjustment_view(
    p: &Page,
    schedule: &[domain::fines::AdjustmentRule],
    base: domain::Money,
    amount: domain::Money,
    offence_at: chrono::DateTime<chrono::Utc>,
    today: chrono::NaiveDate,
) -> Option<AdjustmentView> {
    use crate::i18n::message_with;
    use fluent_bundle::FluentValue;
    if amount == base {
        return None;
    }
    let difference = amount - base;
    let signed = |m: domain::Money| {
        if m.cents() < 0 {
            format!("−{}", domain::Money::from_cents(-m.cents()))
        } else {
            format!("+{m}")
        }
    };
    let offence_date = offence_at
        .with_timezone(&chrono_tz::Europe::Athens)
        .date_naive();
    let band = domain::fines::band_explaining(base, amount, offence_date, today, schedule);
    let label = match band {
        Some(rule) => {
            let percent = FluentValue::from(rule.percent.unsigned_abs());
            match (rule.percent < 0, rule.to_day, rule.from_day) {
                (true, Some(to), _) => message_with(
                    p.lang,
                    "ui_fines_reduction_within",
                    &[("percent", percent), ("days", FluentValue::from(to))],
                ),
                (true, None, _) => {
                    message_with(p.lang, "ui_fines_reduction", &[("percent", percent)])
                }
                (false, _, from) if from > 0 => message_with(
                    p.lang,
                    "ui_fines_surcharge_after",
                    &[("percent", percent), ("days", FluentValue::from(from - 1))],
                ),
                (false, _, _) => {
                    message_with(p.lang, "ui_fines_surcharge", &[("percent", percent)])
                }
            }
        }
        None => p.t("ui_fines_adjustment_by_system"),
    };
    Some(AdjustmentView {
        label,
        amount: signed(difference),
    })
}

/// A fine's amount explained on its payment's receipt: the fine type's amount and the
/// reduction or surcharge that made the amount paid.
pub(super) struct FineBreakdown {
    pub base_amount: String,
    pub adjustment: Option<AdjustmentView>,
}

/// Why a payment of `amount` for `fine`, started at `started_at`, differs from the fine
/// type's amount: explained by the municipality's schedule as of the day (Athens) the
/// payment began, or the day before (a quote asked just before midnight and paid just
/// after), whichever of the two gives that amount.
pub(super) fn breakdown(
    state: &AppState,
    p: &Page,
    fine: &traffic_fines::TrafficFineRow,
    amount: domain::Money,
    started_at: chrono::DateTime<chrono::Utc>,
) -> FineBreakdown {
    let schedule = &state.config.municipality.fines.adjustments;
    let started = started_at
        .with_timezone(&chrono_tz::Europe::Athens)
        .date_naive();
    let offence = fine
        .offence_at
        .with_timezone(&chrono_tz::Europe::Athens)
        .date_naive();
    let quoted_on = [Some(started), started.pred_opt()]
        .into_iter()
        .flatten()
        .find(|day| {
            domain::fines::band_explaining(fine.base_cents, amount, offence, *day, schedule)
                .is_some()
        })
        .unwrap_or(started);
    FineBreakdown {
        base_amount: fine.base_cents.to_string(),
        adjustment: adjustment_view(
            p,
            schedule,
            fine.base_cents,
            amount,
            fine.offence_at,
            quoted_on,
        ),
    }
}

/// The fine's current quote `id`: `Ok(None)` when it is no longer current (replaced or
/// expired), with the fine's step 2 to ask again.
async fn load_quote(
    state: &AppState,
    p: &Page,
    id: &str,
) -> Result<Result<QuoteView, String>, ApiError> {
    let not_found = || ApiError::NotFound("quote_not_found");
    let (fine_id, random) = id.rsplit_once('-').ok_or_else(not_found)?;
    if random.len() != 32 || !random.chars().all(|c| c.is_ascii_hexdigit()) || fine_id.len() > 40 {
        return Err(not_found());
    }
    // The page must tell a current quote from one replaced a moment ago (another tab, a
    // new quote after a declined card): read once the read models reach the log head.
    state.wait_for_log_head(projections::FINE_READS).await?;
    let registered = traffic_fines::get(&state.pool, fine_id)
        .await?
        .ok_or_else(not_found)?;
    let again = step2_href(&registered);
    if !registered.quote_is_current(id, state.portal.now()) {
        return Ok(Err(again));
    }
    let quote = &registered;
    let type_label = state
        .config
        .municipality
        .fines
        .types
        .iter()
        .find(|t| t.code == registered.fine_type)
        .map(|t| match p.lang {
            crate::i18n::Lang::En => format!("{} – {}", t.code, t.name_en),
            crate::i18n::Lang::El => format!("{} – {}", t.code, t.name_el),
        })
        .unwrap_or_else(|| registered.fine_type.clone());
    Ok(Ok(QuoteView {
        id: id.to_string(),
        municipality_code: registered.municipality_code.clone(),
        fine_number: registered.fine_number.clone(),
        plate: registered.plate.clone(),
        type_label,
        offence_at: p.datetime(&registered.offence_at),
        amount: quote.amount_cents.to_string(),
        base_amount: registered.base_cents.to_string(),
        adjustment: adjustment_view(
            p,
            &state.config.municipality.fines.adjustments,
            registered.base_cents,
            quote.amount_cents,
            registered.offence_at,
            state.portal.today(),
        ),
        valid_until: p.datetime(&quote.valid_until),
        changed: quote
            .previous_amount_cents
            .is_some_and(|prev| prev != quote.amount_cents),
        previous_amount: quote.previous_amount_cents.map(|amount| amount.to_string()),
        step2_href: again,
    }))
}

#[derive(Template)]
#[template(path = "fines_quote.html")]
struct QuotePage {
    p: Page,
    quote: QuoteView,
    /// The profile details still to fill in (labels), for a logged-in citizen.
    missing: Vec<String>,
    can_pay: bool,
    login_href: String,
    /// The profile, returning here once saved.
    profile_href: String,
}

#[derive(Template)]
#[template(path = "fines_quote_expired.html")]
struct QuoteExpiredPage {
    p: Page,
    title: String,
    message: String,
    step2_href: Option<String>,
}

fn expired(p: Page, step2_href: String) -> Response {
    let mut response = render(&QuoteExpiredPage {
        title: p.t("ui_fines_quote_expired_title"),
        message: p.t("ui_fines_quote_expired_text"),
        step2_href: Some(step2_href),
        p,
    });
    *response.status_mut() = StatusCode::GONE;
    response
}

async fn quote_page(State(state): State<AppState>, p: Page, Path(id): Path<String>) -> Response {
    let quote = match load_quote(&state, &p, &id).await {
        Ok(Ok(q)) => q,
        Ok(Err(again)) => return expired(p, again),
        Err(e) => return error_page(p, e),
    };
    let missing = match missing_profile(&state, &p, p.user.as_ref().map(|u| &u.user)).await {
        Ok(m) => m,
        Err(e) => return error_page(p, e),
    };
    let citizen = p.user.as_ref().is_some_and(|u| u.role == Role::Citizen);
    let next: String = form_urlencoded::byte_serialize(p.here.as_bytes()).collect();
    render(&QuotePage {
        can_pay: citizen && missing.is_empty(),
        login_href: format!("/login?next={next}"),
        profile_href: super::profile_detour(&format!("/fines/quotes/{}", quote.id)),
        missing,
        quote,
        p,
    })
}

#[derive(Template)]
#[template(path = "fines_confirm.html")]
struct ConfirmPage {
    p: Page,
    quote: QuoteView,
}

async fn confirm_page(State(state): State<AppState>, p: Page, Path(id): Path<String>) -> Response {
    if p.user.is_none() {
        return login_redirect(&p);
    }
    let quote = match load_quote(&state, &p, &id).await {
        Ok(Ok(q)) => q,
        Ok(Err(again)) => return expired(p, again),
        Err(e) => return error_page(p, e),
    };
    match missing_profile(&state, &p, p.user.as_ref().map(|u| &u.user)).await {
        Ok(m) if m.is_empty() => {}
        Ok(_) => return Redirect::to(&format!("/fines/quotes/{id}")).into_response(),
        Err(e) => return error_page(p, e),
    }
    render(&ConfirmPage { p, quote })
}

async fn pay(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Path(id): Path<String>,
) -> Response {
    let Some(user) = p.user.as_ref().map(|u| u.user.clone()) else {
        return login_redirect(&p);
    };
    let paid = fines::pay(
        &state,
        &user.actor(),
        &id,
        p.lang.code(),
        crate::i18n::fine_payment_description,
        context.metadata(Some(&user)),
    )
    .await;
    match paid.map_err(ApiError::from) {
        Ok(started) => bank_form_page(p, started.form, started.amount_cents),
        Err(ApiError::RefusedFields(..)) => {
            Redirect::to(&format!("/fines/quotes/{id}")).into_response()
        }
        Err(e) => {
            let again = match load_quote(&state, &p, &id).await {
                Ok(Ok(q)) => Some(q.step2_href),
                Ok(Err(again)) => Some(again),
                Err(_) => None,
            };
            let status = e.status();
            let mut response = render(&QuoteExpiredPage {
                title: p.t("ui_fines_pay_refused_title"),
                message: crate::i18n::message(p.lang, &e.code()),
                step2_href: again,
                p,
            });
            *response.status_mut() = status;
            response
        }
    }
}
