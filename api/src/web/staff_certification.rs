//! The clerks' certification page (issue 4, S6): find a user by e-mail, see their details
//! and certification, certify them after the in-person identity check (a business through
//! its representative) or revoke the certification with a reason, each behind a
//! confirmation page. The actions run through the same service functions as the JSON API.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::certification::IdentityDocument;
use domain::values::Note;
use projections::certifications as read;
use serde::Deserialize;

use super::cases::error_page;
use super::certificates::{CertificationView, Choice};
use super::staff::staff_user;
use super::{render, FormState, Page};
use crate::auth::{CurrentUser, Role};
use crate::error::{ApiError, FieldError};
use crate::http::{wait_for_log_head, wait_for_own_writes, RequestContext};
use crate::i18n::Lang;
use crate::AppState;
use commands::certification::{self, AccountSummary, CertifyForm as Certify};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/certification", get(certification_page))
        .route("/staff/certification/certify", post(certify))
        .route("/staff/certification/revoke", post(revoke))
}

/// The page's address for an account (and the confirmation panel of an action).
fn page_href(email: &str, done: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("email", email);
    if let Some(done) = done {
        query.append_pair("done", done);
    }
    format!("/staff/certification?{}", query.finish())
}

#[derive(Template)]
#[template(path = "staff_certification.html")]
struct CertificationPage {
    p: Page,
    /// Values and messages keyed by the id of their element (`email`, `document`,
    /// `document_number`, `company_name`, `afm`, `revoke-reason`).
    form: FormState,
    account: Option<AccountSummary>,
    certification: Option<CertificationView>,
    /// Only citizens' accounts can be certified.
    certifiable: bool,
    /// The labels of the profile's details the guide asks for that are missing.
    missing_details: Vec<String>,
    done: Option<String>,
    document_choices: Vec<Choice>,
}

fn document_choices(p: &Page) -> Vec<Choice> {
    std::iter::once(Choice {
        value: String::new(),
        label: p.t("ui_staff_cert_document_choose"),
    })
    .chain(IdentityDocument::ALL.iter().map(|d| Choice {
        value: d.as_str().to_string(),
        label: p.document_label(d.as_str()),
    }))
    .collect()
}

/// The account with this e-mail and its certification, after the clerk's own writes and
/// everyone else's so far.
async fn load(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    email: &str,
) -> Result<(AccountSummary, Option<read::CertificationRow>), ApiError> {
    wait_for_own_writes(state, Some(user), headers, projections::APPLICATION_READS).await?;
    let account = certification::find_account(state, email).await?;
    wait_for_log_head(state, projections::APPLICATION_READS).await?;
    let certification = read::get(&state.pool, &account.id.to_string()).await?;
    Ok((account, certification))
}

fn page_for(
    p: Page,
    form: FormState,
    found: Option<(AccountSummary, Option<read::CertificationRow>)>,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let (account, certification) = match found {
        Some((account, row)) => {
            let view = CertificationView::about_someone_else(&p, row.as_ref());
            (Some(account), Some(view))
        }
        None => (None, None),
    };
    let certifiable = account
        .as_ref()
        .is_some_and(|a| a.role == Role::Citizen.as_str());
    let missing_details = account
        .as_ref()
        .map(|a| missing_detail_labels(&p, a))
        .unwrap_or_default();
    let done = done
        .filter(|d| ["certify", "revoke"].contains(d))
        .map(|d| p.t(&format!("ui_staff_cert_done_{d}")));
    let document_choices = document_choices(&p);
    let mut response = render(&CertificationPage {
        p,
        form,
        account,
        certification,
        certifiable,
        missing_details,
        done,
        document_choices,
    });
    *response.status_mut() = status;
    response
}

#[derive(Deserialize)]
struct PageQuery {
    email: Option<String>,
    done: Option<String>,
}

async fn certification_page(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let Some(email) = q.email.as_deref() else {
        return page_for(p, FormState::new(), None, None, StatusCode::OK);
    };
    let mut form = FormState::with_values([("email", email)]);
    if email.trim().is_empty() {
        form.add_error(
            p.lang,
            &FieldError::new("email", "ui_staff_cert_email_required"),
        );
        return page_for(p, form, None, None, StatusCode::UNPROCESSABLE_ENTITY);
    }
    match load(&state, &user, &headers, email).await {
        Ok(found) => page_for(p, form, Some(found), q.done.as_deref(), StatusCode::OK),
        Err(e @ ApiError::Validation(_)) => {
            form.absorb(p.lang, &e);
            page_for(p, form, None, None, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => error_page(p, e),
    }
}

// ---------------------------------------------------------------------------------------
// Certify and revoke
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct CertifyForm {
    email: Option<String>,
    document: Option<String>,
    document_number: Option<String>,
    company_name: Option<String>,
    afm: Option<String>,
    confirmed: Option<String>,
}

#[derive(Deserialize)]
struct RevokeForm {
    email: Option<String>,
    reason: Option<String>,
    confirmed: Option<String>,
}

/// A field restated on the confirmation page and sent again with `confirmed=yes`.
struct Hidden {
    name: &'static str,
    value: String,
}

/// The labels of the details of `account`'s profile the guide asks for before certification
/// that are missing («Πατρώνυμο», «Διεύθυνση»…).
fn missing_detail_labels(p: &Page, account: &AccountSummary) -> Vec<String> {
    account
        .missing_details()
        .iter()
        .map(|field| p.t(&format!("ui_field_{field}")))
        .collect()
}

#[derive(Template)]
#[template(path = "staff_certification_confirm.html")]
struct ConfirmPage {
    p: Page,
    account: AccountSummary,
    /// As on the certification page: told again before the clerk confirms.
    missing_details: Vec<String>,
    action: &'static str,
    title: String,
    explanation: String,
    hidden: Vec<Hidden>,
    clerk_name: String,
    document: String,
    document_number: String,
    company_name: String,
    afm: String,
    reason: String,
    cancel_href: String,
}

fn value(v: &Option<String>) -> String {
    v.as_deref().unwrap_or("").trim().to_string()
}

impl CertifyForm {
    /// The form as the use case takes it.
    fn to_command(&self) -> Certify {
        Certify {
            email: self.email.clone(),
            document: self.document.clone(),
            document_number: self.document_number.clone(),
            company_name: self.company_name.clone(),
            afm: self.afm.clone(),
        }
    }
}

/// The certification form's fields, checked by the service's own check
/// ([`certification::check_certify_form`]) before the confirmation page restates them.
fn check_certify(f: &CertifyForm) -> Result<(), ApiError> {
    certification::check_certify_form(&f.to_command())
        .map(|_| ())
        .map_err(ApiError::Validation)
}

/// An action's error on the certification page: next to its field when it is about one,
/// else in the error box at the top.
fn absorb(form: &mut FormState, lang: Lang, error: &ApiError) {
    match error {
        ApiError::Validation(fields) => {
            for f in fields {
                let id = if f.field == "reason" {
                    "revoke-reason"
                } else {
                    f.field.as_str()
                };
                form.add_error(lang, &FieldError::new(id, &f.code));
            }
        }
        other => form.absorb(lang, other),
    }
}

fn shown_on_the_page(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Validation(_) | ApiError::Refused(_) | ApiError::Conflict
    ) && !matches!(
        error.status(),
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
    )
}

/// The page again, for the account the action was about, with what went wrong.
async fn refused(
    state: &AppState,
    p: Page,
    user: &CurrentUser,
    headers: &HeaderMap,
    email: &str,
    mut form: FormState,
    error: &ApiError,
) -> Response {
    let status = error.status();
    absorb(&mut form, p.lang, error);
    form.set("email", email);
    let found = load(state, user, headers, email).await.ok();
    page_for(p, form, found, None, status)
}

async fn certify(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    context: RequestContext,
    Form(f): Form<CertifyForm>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let email = value(&f.email);
    let form = FormState::with_values([
        ("document", value(&f.document).as_str()),
        ("document_number", value(&f.document_number).as_str()),
        ("company_name", value(&f.company_name).as_str()),
        ("afm", value(&f.afm).as_str()),
    ]);
    let account = match certification::find_account(&state, &email)
        .await
        .map_err(ApiError::from)
    {
        Ok(account) => account,
        Err(e) if shown_on_the_page(&e) => {
            return refused(&state, p, &user, &headers, &email, form, &e).await
        }
        Err(e) => return error_page(p, e),
    };
    if let Err(e) = check_certify(&f) {
        return refused(&state, p, &user, &headers, &email, form, &e).await;
    }
    if f.confirmed.as_deref() != Some("yes") {
        let hidden = [
            ("email", &f.email),
            ("document", &f.document),
            ("document_number", &f.document_number),
            ("company_name", &f.company_name),
            ("afm", &f.afm),
        ]
        .into_iter()
        .map(|(name, v)| Hidden {
            name,
            value: value(v),
        })
        .collect();
        return render(&ConfirmPage {
            title: p.t("ui_staff_cert_confirm_certify"),
            explanation: p.t("ui_staff_cert_confirm_explain_certify"),
            action: "certify",
            hidden,
            clerk_name: user.full_name.clone(),
            document: p.document_label(&value(&f.document)),
            document_number: value(&f.document_number),
            company_name: value(&f.company_name),
            afm: value(&f.afm),
            reason: String::new(),
            cancel_href: page_href(&account.email, None),
            missing_details: missing_detail_labels(&p, &account),
            account,
            p,
        });
    }
    let certified = certification::certify(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        f.to_command(),
    )
    .await
    .map_err(ApiError::from);
    match certified {
        Ok((account, _)) => {
            Redirect::to(&page_href(&account.email, Some("certify"))).into_response()
        }
        Err(e) if shown_on_the_page(&e) => {
            refused(&state, p, &user, &headers, &email, form, &e).await
        }
        Err(e) => error_page(p, e),
    }
}

async fn revoke(
    State(state): State<AppState>,
    p: Page,
    headers: HeaderMap,
    context: RequestContext,
    Form(f): Form<RevokeForm>,
) -> Response {
    let user = match staff_user(&p) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let email = value(&f.email);
    let form = FormState::with_values([("revoke-reason", value(&f.reason).as_str())]);
    let account = match certification::find_account(&state, &email)
        .await
        .map_err(ApiError::from)
    {
        Ok(account) => account,
        Err(e) if shown_on_the_page(&e) => {
            return refused(&state, p, &user, &headers, &email, form, &e).await
        }
        Err(e) => return error_page(p, e),
    };
    let reason = match Note::parse(&value(&f.reason)) {
        Ok(reason) => reason.as_str().to_string(),
        Err(r) => {
            let e = ApiError::Validation(vec![ApiError::field("reason", &r)]);
            return refused(&state, p, &user, &headers, &email, form, &e).await;
        }
    };
    if f.confirmed.as_deref() != Some("yes") {
        return render(&ConfirmPage {
            title: p.t("ui_staff_cert_confirm_revoke"),
            explanation: p.t("ui_staff_cert_confirm_explain_revoke"),
            action: "revoke",
            hidden: vec![
                Hidden {
                    name: "email",
                    value: email.clone(),
                },
                Hidden {
                    name: "reason",
                    value: reason.clone(),
                },
            ],
            clerk_name: user.full_name.clone(),
            document: String::new(),
            document_number: String::new(),
            company_name: String::new(),
            afm: String::new(),
            reason,
            cancel_href: page_href(&account.email, None),
            missing_details: Vec::new(),
            account,
            p,
        });
    }
    let revoked = certification::revoke(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        f.email.as_deref().unwrap_or(""),
        &reason,
    )
    .await
    .map_err(ApiError::from);
    match revoked {
        Ok((account, _)) => {
            Redirect::to(&page_href(&account.email, Some("revoke"))).into_response()
        }
        Err(e) if shown_on_the_page(&e) => {
            refused(&state, p, &user, &headers, &email, form, &e).await
        }
        Err(e) => error_page(p, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(document: &str, number: &str, company: &str, afm: &str) -> CertifyForm {
        CertifyForm {
            email: Some("a@example.gr".into()),
            document: Some(document.into()),
            document_number: Some(number.into()),
            company_name: Some(company.into()),
            afm: Some(afm.into()),
            confirmed: None,
        }
    }

    fn fields(result: Result<(), ApiError>) -> Vec<(String, String)> {
        match result {
            Ok(()) => vec![],
            Err(ApiError::Validation(f)) => f.into_iter().map(|f| (f.field, f.code)).collect(),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn the_certification_form_is_checked_like_the_service_checks_it() {
        assert!(fields(check_certify(&form("passport", "AK123456", "", ""))).is_empty());
        let wrong = fields(check_certify(&form("", "1", "", "")));
        assert!(wrong.iter().any(|(f, _)| f == "document"));
        assert!(wrong.iter().any(|(f, _)| f == "document_number"));
        let half = fields(check_certify(&form("passport", "AK123456", "Α.Ε.", "")));
        assert_eq!(half, vec![("afm".into(), "business_incomplete".into())]);
        let bad_afm = fields(check_certify(&form(
            "passport",
            "AK123456",
            "Παράδειγμα Α.Ε.",
            "123456789",
        )));
        assert_eq!(bad_afm, vec![("afm".into(), "afm_invalid".into())]);
    }

    #[test]
    fn the_page_address_keeps_the_email() {
        assert_eq!(
            page_href("a+b@example.gr", Some("certify")),
            "/staff/certification?email=a%2Bb%40example.gr&done=certify"
        );
    }
}
