//! «Ξεχάσατε τον κωδικό σας;»: asking for a reset link by e-mail (the same answer whether
//! or not the address has an account) and setting a new password through the link.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use commands::accounts;
use serde::Deserialize;

use super::cases::error_page;
use super::{render, FormState, Page};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/password-reset", get(request_form).post(request_reset))
        .route("/password-reset/{token}", get(reset_form).post(reset))
}

#[derive(Template)]
#[template(path = "password_reset_request.html")]
struct RequestPage {
    p: Page,
    form: FormState,
    sent: bool,
}

#[derive(Deserialize)]
struct SentQuery {
    sent: Option<String>,
}

async fn request_form(p: Page, Query(q): Query<SentQuery>) -> Response {
    render(&RequestPage {
        p,
        form: FormState::new(),
        sent: q.sent.is_some(),
    })
}

#[derive(Deserialize)]
struct RequestForm {
    email: Option<String>,
}

async fn request_reset(
    State(state): State<AppState>,
    p: Page,
    Form(f): Form<RequestForm>,
) -> Response {
    let email = f.email.unwrap_or_default();
    match accounts::request_password_reset(&state, &email).await {
        Ok(()) => Redirect::to("/password-reset?sent=1").into_response(),
        Err(accounts::AccountError::Invalid(fields)) => {
            let mut form = FormState::with_values([("email", email.as_str())]);
            form.absorb(p.lang, &ApiError::Validation(fields));
            let mut response = render(&RequestPage {
                p,
                form,
                sent: false,
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => error_page(p, e.into()),
    }
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    p: Page,
    form: FormState,
    token: String,
    /// The link still works (else the page says so and offers a new one).
    works: bool,
}

use super::account::plausible_token as plausible;

async fn reset_form(State(state): State<AppState>, p: Page, Path(token): Path<String>) -> Response {
    let works = plausible(&token)
        && match accounts::reset_link_works(&state, &token).await {
            Ok(works) => works,
            Err(e) => return error_page(p, e.into()),
        };
    let mut response = render(&ResetPage {
        p,
        form: FormState::new(),
        token: if works { token } else { String::new() },
        works,
    });
    if !works {
        *response.status_mut() = StatusCode::GONE;
    }
    response
}

#[derive(Deserialize)]
struct ResetForm {
    new_password: Option<String>,
}

async fn reset(
    State(state): State<AppState>,
    p: Page,
    Path(token): Path<String>,
    Form(f): Form<ResetForm>,
) -> Response {
    let new = f.new_password.unwrap_or_default();
    let result = if plausible(&token) {
        accounts::reset_password(&state, &token, &new).await
    } else {
        Err(accounts::AccountError::Invalid(vec![
            domain::refusal::FieldError::new("token", "reset_link_invalid"),
        ]))
    };
    match result {
        Ok(()) => Redirect::to("/login?reset=1").into_response(),
        Err(accounts::AccountError::Invalid(fields)) => {
            let works = !fields.iter().any(|f| f.field == "token");
            let mut form = FormState::new();
            form.absorb(p.lang, &ApiError::Validation(fields));
            let mut response = render(&ResetPage {
                p,
                form,
                token: if works { token } else { String::new() },
                works,
            });
            *response.status_mut() = if works {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::GONE
            };
            response
        }
        Err(e) => error_page(p, e.into()),
    }
}
