//! Pages: registration, login, logout and «Τα στοιχεία μου» (the profile).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::certificates::CertificationView;
use super::{login_redirect, render, FormState, Page};
use crate::auth::{self, Role};
use crate::error::ApiError;
use crate::http::ClientDevice;
use crate::AppState;
use commands::accounts::{self, ProfileDetails};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/register", get(register_form).post(register))
        .route("/activate/{token}", get(activate_form).post(activate))
        .route("/logout", post(logout))
        .route("/profile", get(profile_form).post(save_profile))
}

/// Where saving the profile may return to: the pages that send a payer there for the
/// details a payment needs (a fine's quote, a certified debt, a declaration's form).
const PROFILE_RETURNS: &[&str] = &[
    "/fines/quotes/",
    "/business/debts/",
    "/business/declarations/new",
];

/// `next` of the profile page: one of [`PROFILE_RETURNS`], else empty (saving stays on the
/// profile).
fn profile_next(next: Option<&str>) -> String {
    let next = safe_next(next, "");
    if PROFILE_RETURNS.iter().any(|start| next.starts_with(start)) {
        next
    } else {
        String::new()
    }
}

/// Only a path on this site: never an open redirect.
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    let Some(raw) = next else {
        return default.to_string();
    };
    // What a browser does to a URL before it reads it: drop the C0 controls and spaces at
    // both ends and every tab, CR and LF inside (`/\t/evil.example` becomes
    // `//evil.example`, another origin).
    let cleaned: String = raw
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let on_this_origin = cleaned.starts_with('/')
        && !cleaned.starts_with("//")
        && !cleaned.contains('\\')
        && !cleaned.chars().any(char::is_control);
    if !on_this_origin {
        return default.to_string();
    }
    // A Location header holds visible ASCII only: anything else is percent-encoded.
    cleaned
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() {
                c.to_string()
            } else {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    p: Page,
    form: FormState,
    next: String,
    /// The password was just set through a reset link.
    reset: bool,
    /// The account was just activated.
    activated: bool,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    reset: Option<String>,
    activated: Option<String>,
}

async fn login_form(p: Page, Query(q): Query<NextQuery>) -> Response {
    // No `next`: after the login, the person's own home (by role), chosen then.
    let next = match q.next.as_deref() {
        Some(next) => safe_next(Some(next), ""),
        None => String::new(),
    };
    render(&LoginPage {
        p,
        form: FormState::new(),
        next,
        reset: q.reset.is_some(),
        activated: q.activated.is_some(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    email: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ClientDevice(device): ClientDevice,
    p: Page,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref(), "");
    let email = f.email.clone().unwrap_or_default();
    match accounts::log_in(&state, &email, f.password.unwrap_or_default(), device).await {
        Ok(session) => {
            let cookie = auth::opened_session_cookie(&state, &session);
            let next = if next.is_empty() {
                super::staff_home::home_of(session.role).to_string()
            } else {
                next
            };
            ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
        }
        Err(e) => {
            let e = ApiError::from(e);
            let status = match e {
                ApiError::LoginThrottled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let mut form = FormState::with_values([("email", email.as_str())]);
            form.absorb(p.lang, &e);
            let mut response = render(&LoginPage {
                p,
                form,
                next,
                reset: false,
                activated: false,
            });
            *response.status_mut() = status;
            response
        }
    }
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    p: Page,
    form: FormState,
    /// The registration went through: «we sent you an e-mail».
    sent: bool,
}

#[derive(Deserialize)]
struct SentQuery {
    sent: Option<String>,
}

async fn register_form(p: Page, Query(q): Query<SentQuery>) -> Response {
    render(&RegisterPage {
        p,
        form: FormState::new(),
        sent: q.sent.is_some(),
    })
}

#[derive(Deserialize)]
struct RegisterForm {
    email: Option<String>,
    password: Option<String>,
    full_name: Option<String>,
}

/// Registers: the same answer whether or not the address had an account — «we sent you an
/// e-mail» (`/register?sent=1`); the account is activated through the e-mailed link.
async fn register(State(state): State<AppState>, p: Page, Form(f): Form<RegisterForm>) -> Response {
    let values = FormState::with_values([
        ("email", f.email.as_deref().unwrap_or("")),
        ("full_name", f.full_name.as_deref().unwrap_or("")),
    ]);
    let email = f.email.unwrap_or_default();
    let password = f.password.unwrap_or_default();
    let full_name = f.full_name.unwrap_or_default();
    match accounts::register_citizen(&state, &email, &password, &full_name).await {
        Ok(_) => Redirect::to("/register?sent=1").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let mut form = values;
            form.absorb(p.lang, &e);
            let mut response = render(&RegisterPage {
                p,
                form,
                sent: false,
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
    }
}

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    p: Page,
    token: String,
    /// The link still works (else the page says so).
    works: bool,
}

/// The page of an activation link: a button that activates (a POST, so that a mail
/// scanner that opens links does not activate anything by itself).
async fn activate_form(p: Page, Path(token): Path<String>) -> Response {
    let works = plausible_token(&token);
    let mut response = render(&ActivatePage {
        p,
        token: if works { token } else { String::new() },
        works,
    });
    if !works {
        *response.status_mut() = StatusCode::GONE;
    }
    response
}

async fn activate(State(state): State<AppState>, p: Page, Path(token): Path<String>) -> Response {
    let result = if plausible_token(&token) {
        accounts::activate_account(&state, &token).await
    } else {
        Err(accounts::AccountError::Invalid(vec![]))
    };
    match result {
        Ok(()) => Redirect::to("/login?activated=1").into_response(),
        Err(accounts::AccountError::Invalid(_)) => {
            let mut response = render(&ActivatePage {
                p,
                token: String::new(),
                works: false,
            });
            *response.status_mut() = StatusCode::GONE;
            response
        }
        Err(e) => super::cases::error_page(p, e.into()),
    }
}

/// A token as the e-mailed links carry them (URL-safe base64), else nothing is looked up.
pub(super) fn plausible_token(token: &str) -> bool {
    (20..=100).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

async fn logout(State(state): State<AppState>, p: Page) -> Response {
    if let Some(u) = &p.user {
        if let Err(e) = accounts::log_out(&state, &u.user.session).await {
            return ApiError::from(e).into_response();
        }
    }
    let cookie = auth::session_cookie(None, std::time::Duration::ZERO, state.config.https());
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    p: Page,
    form: FormState,
    email: String,
    saved: bool,
    /// «Η πιστοποίησή μου», for citizens.
    certification: Option<CertificationView>,
    /// Where saving returns to (a payment's page that asked for the details), or empty.
    next: String,
}

/// The citizen's certification for the profile page (none for staff, or when it cannot
/// be read: the profile still works).
async fn certification_summary(state: &AppState, p: &Page) -> Option<CertificationView> {
    let u = p.user.as_ref().filter(|u| u.role == Role::Citizen)?;
    let row = projections::certifications::get(&state.pool, &u.user.account_id.to_string())
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "certification unreadable"))
        .ok()?;
    Some(CertificationView::new(p, row.as_ref()))
}

#[derive(Deserialize)]
struct ProfileQuery {
    saved: Option<String>,
    next: Option<String>,
}

async fn profile_form(
    State(state): State<AppState>,
    p: Page,
    Query(q): Query<ProfileQuery>,
) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    let profile = match accounts::profile(&state, u.user.account_id).await {
        Ok(profile) => profile,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let form = FormState::with_values([
        ("full_name", profile.full_name.as_str()),
        ("father_name", profile.father_name.as_deref().unwrap_or("")),
        ("address", profile.address.as_deref().unwrap_or("")),
        ("phone", profile.phone.as_deref().unwrap_or("")),
    ]);
    let certification = certification_summary(&state, &p).await;
    render(&ProfilePage {
        p,
        form,
        email: profile.email,
        saved: q.saved.is_some(),
        certification,
        next: profile_next(q.next.as_deref()),
    })
}

#[derive(Deserialize)]
struct ProfileForm {
    full_name: Option<String>,
    father_name: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    next: Option<String>,
}

async fn save_profile(
    State(state): State<AppState>,
    p: Page,
    Form(f): Form<ProfileForm>,
) -> Response {
    let Some(u) = p.user.clone() else {
        return login_redirect(&p);
    };
    let form = FormState::with_values([
        ("full_name", f.full_name.as_deref().unwrap_or("")),
        ("father_name", f.father_name.as_deref().unwrap_or("")),
        ("address", f.address.as_deref().unwrap_or("")),
        ("phone", f.phone.as_deref().unwrap_or("")),
    ]);
    let next = profile_next(f.next.as_deref());
    let details = ProfileDetails {
        full_name: f.full_name,
        father_name: f.father_name,
        address: f.address,
        phone: f.phone,
    };
    match accounts::update_profile(&state, &u.user.actor(), details).await {
        // Back to the payment that asked for the details, else the profile, saved.
        Ok(_) if !next.is_empty() => Redirect::to(&next).into_response(),
        Ok(_) => Redirect::to("/profile?saved=1").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let mut form = form;
            form.absorb(p.lang, &e);
            let certification = certification_summary(&state, &p).await;
            let mut response = render(&ProfilePage {
                p,
                form,
                email: u.user.email.clone(),
                saved: false,
                certification,
                next,
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_returns_only_to_a_payment_s_page() {
        assert_eq!(
            profile_next(Some("/fines/quotes/9999-1-abc")),
            "/fines/quotes/9999-1-abc"
        );
        assert_eq!(
            profile_next(Some("/business/declarations/new?period=3")),
            "/business/declarations/new?period=3"
        );
        assert_eq!(profile_next(Some("/requests")), "");
        assert_eq!(profile_next(Some("//evil.example/fines/quotes/")), "");
        assert_eq!(profile_next(None), "");
    }

    #[test]
    fn next_is_only_ever_a_local_path() {
        assert_eq!(safe_next(Some("/requests/1"), "/"), "/requests/1");
        assert_eq!(safe_next(Some("//evil.example"), "/"), "/");
        assert_eq!(safe_next(Some("https://evil.example"), "/"), "/");
        assert_eq!(safe_next(Some("/\\evil"), "/"), "/");
        assert_eq!(safe_next(None, "/requests"), "/requests");
        // Browsers drop tabs and newlines before reading a URL: these lead off the origin.
        assert_eq!(safe_next(Some("/\t/evil.example/x"), "/"), "/");
        assert_eq!(safe_next(Some("/\n/evil"), "/"), "/");
        assert_eq!(safe_next(Some("/\r/evil"), "/"), "/");
        assert_eq!(safe_next(Some(" //evil.example"), "/"), "/");
        assert_eq!(safe_next(Some("/a\u{0}b"), "/"), "/");
        // Harmless ones are kept, and what a header cannot hold is percent-encoded.
        assert_eq!(safe_next(Some("/requests/\tnew"), "/"), "/requests/new");
        assert_eq!(
            safe_next(Some("/certificates?q=γ"), "/"),
            "/certificates?q=%CE%B3"
        );
    }
}
