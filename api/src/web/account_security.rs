//! «Κωδικός και συνδέσεις» (`/profile/security`): changing the password (the current one
//! required; every other session ends and an e-mail tells the owner), and the sessions that
//! stand — device, address, when opened and last used — each with a button that ends it,
//! and one that ends all but this one.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use commands::accounts::{self, AccountError, SessionInfo};
use serde::Deserialize;

use super::cases::error_page;
use super::{login_redirect, render, FormState, Page};
use crate::auth;
use crate::error::ApiError;
use crate::labels::device_label;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile/security", get(security_page))
        .route("/profile/password", post(change_password))
        .route("/profile/sessions/{id}/end", post(end_session))
        .route("/profile/sessions/end-others", post(end_others))
}

/// A session as a row of the table.
struct SessionRow {
    id: String,
    device: String,
    address: String,
    started: String,
    last_used: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "profile_security.html")]
struct SecurityPage {
    p: Page,
    form: FormState,
    /// What was just done: `password`, `session` or `others`.
    done: String,
    sessions: Vec<SessionRow>,
}

#[derive(Deserialize)]
struct SecurityQuery {
    done: Option<String>,
}

fn rows(p: &Page, sessions: Vec<SessionInfo>) -> Vec<SessionRow> {
    sessions
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            device: device_label(p.lang, s.user_agent.as_deref()),
            address: s.client_ip.unwrap_or_default(),
            started: p.datetime(&s.created_at),
            last_used: p.datetime(&s.last_used_at),
            current: s.current,
        })
        .collect()
}

/// The page with `form` (empty, or the password form with its errors) and `done`.
async fn page(state: &AppState, p: Page, form: FormState, done: String) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    let sessions = match accounts::sessions(state, &u.user.actor()).await {
        Ok(sessions) => rows(&p, sessions),
        Err(e) => return error_page(p, e.into()),
    };
    render(&SecurityPage {
        p,
        form,
        done,
        sessions,
    })
}

async fn security_page(
    State(state): State<AppState>,
    p: Page,
    Query(q): Query<SecurityQuery>,
) -> Response {
    let done = q
        .done
        .filter(|d| ["password", "session", "others"].contains(&d.as_str()))
        .unwrap_or_default();
    page(&state, p, FormState::new(), done).await
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: Option<String>,
    new_password: Option<String>,
}

async fn change_password(
    State(state): State<AppState>,
    p: Page,
    Form(f): Form<PasswordForm>,
) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    let result = accounts::change_password(
        &state,
        &u.user.actor(),
        f.current_password.as_deref().unwrap_or(""),
        f.new_password.as_deref().unwrap_or(""),
    )
    .await;
    match result {
        Ok(_) => Redirect::to("/profile/security?done=password").into_response(),
        Err(e) => {
            let mut form = FormState::new();
            form.absorb(p.lang, &ApiError::from(e));
            let mut response = page(&state, p, form, String::new()).await;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
    }
}

async fn end_session(State(state): State<AppState>, p: Page, Path(id): Path<String>) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return error_page(p, ApiError::NotFound("session_not_found"));
    };
    match accounts::end_session(&state, &u.user.actor(), id).await {
        // Ending this very session is logging out.
        Ok(true) => {
            let cookie =
                auth::session_cookie(None, std::time::Duration::ZERO, state.config.https());
            ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
        }
        Ok(false) => Redirect::to("/profile/security?done=session").into_response(),
        Err(AccountError::NotFound) => error_page(p, ApiError::NotFound("session_not_found")),
        Err(e) => error_page(p, e.into()),
    }
}

async fn end_others(State(state): State<AppState>, p: Page) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    match accounts::end_other_sessions(&state, &u.user.actor()).await {
        Ok(_) => Redirect::to("/profile/security?done=others").into_response(),
        Err(e) => error_page(p, e.into()),
    }
}
