//! «Απορριφθείσες ενημερώσεις» (issue 14): the clerks' list of payments made through the
//! portal that the fines or revenue system would not record (and second payments of an
//! obligation another payment had settled), with the clerk's «Νέα αποστολή» once the
//! other system's records were put right, or «Καταχώριση επιστροφής» once a second
//! payment's money was returned; each after a confirmation page that restates the notice.
//! The same service functions as the JSON API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use commands::refused_notices;
use serde::Deserialize;

use super::cases::error_page;
use super::staff::staff_user;
use super::{render, FormState, Page};
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::i18n;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/notices", get(list_page))
        .route("/staff/notices/{payment_id}/retry", post(retry))
        .route("/staff/notices/{payment_id}/refund", post(refund))
}

/// One refused notice as the page shows it.
struct Row {
    payment_id: String,
    kind: String,
    what: String,
    payer: String,
    amount: String,
    reference: String,
    reason: String,
    when: String,
    second_payment: bool,
}

impl Row {
    fn of(p: &Page, n: refused_notices::RefusedNotice) -> Self {
        Self {
            kind: p.t(&format!("ui_notice_kind_{}", n.obligation_kind)),
            what: n.description.unwrap_or(n.obligation_id),
            payer: match (n.payer_name, n.payer_email) {
                (Some(name), Some(email)) => format!("{name} ({email})"),
                (name, email) => name.or(email).unwrap_or_default(),
            },
            amount: n.amount_cents.map(|a| a.to_string()).unwrap_or_default(),
            reference: n.payment_ref.unwrap_or_default(),
            reason: n
                .code
                .as_deref()
                .map(|code| {
                    if i18n::has_message(code) {
                        format!("{} ({code})", p.t(code))
                    } else {
                        code.to_string()
                    }
                })
                .unwrap_or_default(),
            when: p.datetime(&n.refused_at),
            second_payment: n.second_payment,
            payment_id: n.payment_id,
        }
    }
}

#[derive(Template)]
#[template(path = "staff_notices.html")]
struct NoticesPage {
    p: Page,
    rows: Vec<Row>,
    /// The payment whose notice was just sent again.
    done: Option<String>,
    /// The payment whose refund was just recorded.
    refunded: Option<String>,
    pager: super::layout::Pager,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
    refunded: Option<String>,
    after: Option<String>,
}

async fn list_page(State(state): State<AppState>, p: Page, Query(q): Query<Done>) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let page = super::layout::list_page(q.after.as_deref(), projections::paging::TIME_THEN_TEXT);
    let (notices, next) = match crate::reads::refused_notices(&state, &user, &page).await {
        Ok(found) => found,
        Err(e) => return error_page(p, e),
    };
    // From the list's own address: a banner of what was just done stays on this page.
    let pager = super::layout::Pager::new("/staff/notices", &page, next.as_deref());
    let rows = notices.into_iter().map(|n| Row::of(&p, n)).collect();
    render(&NoticesPage {
        p,
        rows,
        done: q.done.filter(|d| !d.is_empty()),
        refunded: q.refunded.filter(|d| !d.is_empty()),
        pager,
    })
}

/// The confirmation page of an action on one notice (`retry` or `refund`), which posts
/// the same action again with `confirmed=yes`.
#[derive(Template)]
#[template(path = "staff_notice_confirm.html")]
struct ConfirmPage {
    p: Page,
    row: Row,
    action: &'static str,
    /// The refund's note and its message, if any.
    form: FormState,
}

/// The fields of an action's form (the CSRF token is checked before the handler).
#[derive(Deserialize, Default)]
struct ActionForm {
    confirmed: Option<String>,
    note: Option<String>,
}

/// The confirmation page of `action` on the notice of `payment_id` (a 404 page when there
/// is none waiting), with `form` (the note, and what to correct in it) and `status`.
async fn confirmation(
    state: &AppState,
    p: Page,
    user: &crate::auth::CurrentUser,
    payment_id: &str,
    action: &'static str,
    form: FormState,
    status: StatusCode,
) -> Response {
    match refused_notices::get(state, &user.actor(), payment_id).await {
        // A refund of money the obligation keeps is refused at once, before a note is
        // typed (a retry of a second payment is refused by its obligation on confirming).
        Ok(notice) if action == "refund" && !notice.second_payment => error_page(
            p,
            refused_notices::RefusedNoticeError::NotASecondPayment.into(),
        ),
        Ok(notice) => {
            let row = Row::of(&p, notice);
            let mut response = render(&ConfirmPage {
                p,
                row,
                action,
                form,
            });
            *response.status_mut() = status;
            response
        }
        Err(e) => error_page(p, e.into()),
    }
}

/// The list's address that says what was just done to the notice of `payment_id`.
fn done_href(key: &str, payment_id: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair(key, payment_id);
    format!("/staff/notices?{}", query.finish())
}

async fn retry(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Path(payment_id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    if f.confirmed.as_deref() != Some("yes") {
        let form = FormState::new();
        return confirmation(&state, p, &user, &payment_id, "retry", form, StatusCode::OK).await;
    }
    match refused_notices::retry(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &payment_id,
    )
    .await
    {
        Ok(notice) => Redirect::to(&done_href("done", &notice.payment_id)).into_response(),
        Err(e) => error_page(p, ApiError::from(e)),
    }
}

async fn refund(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Path(payment_id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let note = f.note.unwrap_or_default();
    let mut form = FormState::with_values([("refund-note", note.as_str())]);
    if f.confirmed.as_deref() != Some("yes") {
        return confirmation(
            &state,
            p,
            &user,
            &payment_id,
            "refund",
            form,
            StatusCode::OK,
        )
        .await;
    }
    match refused_notices::record_refund(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &payment_id,
        &note,
    )
    .await
    .map_err(crate::http::refund_error)
    {
        Ok(notice) => Redirect::to(&done_href("refunded", &notice.payment_id)).into_response(),
        Err(ApiError::Validation(errors)) => {
            // The note to correct: the same page again, with what was typed.
            for e in &errors {
                form.add_error(
                    p.lang,
                    &crate::error::FieldError::new("refund-note", &e.code),
                );
            }
            confirmation(
                &state,
                p,
                &user,
                &payment_id,
                "refund",
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => error_page(p, e),
    }
}
