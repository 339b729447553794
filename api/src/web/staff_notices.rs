//! «Απορριφθείσες ενημερώσεις» (issue 14): the clerks' list of payments made through the
//! portal that the fines or revenue system would not record (and second payments of an
//! obligation another payment had settled), with the clerk's «Νέα αποστολή» once the
//! other system's records were put right. The same service functions as the JSON API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use commands::refused_notices;
use serde::Deserialize;

use super::cases::error_page;
use super::staff::staff_user;
use super::{render, Page};
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::i18n;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/notices", get(list_page))
        .route("/staff/notices/{payment_id}/retry", post(retry))
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

#[derive(Template)]
#[template(path = "staff_notices.html")]
struct NoticesPage {
    p: Page,
    rows: Vec<Row>,
    /// The payment whose notice was just sent again.
    done: Option<String>,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn list_page(State(state): State<AppState>, p: Page, Query(q): Query<Done>) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let notices = match refused_notices::list(&state, &user.actor()).await {
        Ok(notices) => notices,
        Err(e) => return error_page(p, e.into()),
    };
    let rows = notices
        .into_iter()
        .map(|n| Row {
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
            when: n
                .refused_at
                .as_ref()
                .map(|at| p.datetime(at))
                .unwrap_or_default(),
            second_payment: n.second_payment,
            payment_id: n.payment_id,
        })
        .collect();
    let done = q.done.filter(|d| !d.is_empty());
    render(&NoticesPage { p, rows, done })
}

async fn retry(
    State(state): State<AppState>,
    p: Page,
    context: RequestContext,
    Path(payment_id): Path<String>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    match refused_notices::retry(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        &payment_id,
    )
    .await
    {
        Ok(notice) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("done", &notice.payment_id);
            Redirect::to(&format!("/staff/notices?{}", query.finish())).into_response()
        }
        Err(e) => error_page(p, ApiError::from(e)),
    }
}
