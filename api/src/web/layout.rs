//! What every page knows: the reader's language, who is logged in, the CSRF token for its
//! forms, and where it is (for the language switch).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;

use crate::auth::{CurrentUser, MaybeUser, Role};
use crate::error::ApiError;
use crate::i18n::{self, Lang};
use crate::AppState;

use super::security::{cookie_value, CsrfToken, LANG_COOKIE};

/// The logged-in user as pages show them.
#[derive(Debug, Clone)]
pub struct PageUser {
    pub name: String,
    pub role: Role,
    pub user: CurrentUser,
}

/// The context of every page (`p` in the templates).
#[derive(Debug, Clone)]
pub struct Page {
    pub lang: Lang,
    pub user: Option<PageUser>,
    pub csrf: String,
    /// The path and query of this page, without any `lang=` parameter.
    pub here: String,
    /// The municipality's configuration (the names of request categories).
    pub municipality: std::sync::Arc<domain::municipality::Municipality>,
}

impl Page {
    /// The stylesheet's address (with its content hash: [`super::stylesheet_href`]).
    pub fn stylesheet(&self) -> &'static str {
        super::stylesheet_href()
    }

    /// A fresh key for a form that creates something: the form sends it back as
    /// `idempotency_key`, so that pressing «Υποβολή» twice (or again after a dropped
    /// connection) files one case (`crate::idempotency`).
    pub fn form_key(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// A message of the translation files in the page's language.
    pub fn t(&self, key: &str) -> String {
        i18n::message(self.lang, key)
    }

    /// The message of the first of `keys` the translation files have, in the page's
    /// language; `None` when they have none of them (the caller shows the stored value).
    pub fn t_first(&self, keys: &[String]) -> Option<String> {
        keys.iter()
            .find(|key| i18n::has_message(key))
            .map(|key| self.t(key))
    }

    /// A message about `n` things, in the page's language and its plural rules.
    pub fn count<N: Copy + TryInto<usize>>(&self, key: &str, n: &N) -> String {
        i18n::count(self.lang, key, (*n).try_into().unwrap_or(0))
    }

    /// The menu's entries, longest path first: the entry a page belongs to is the first
    /// whose path is the page's or a prefix of it at a `/`.
    const SECTIONS: [(&'static str, &'static str); 18] = [
        ("/staff/applications", "ui_nav_staff_applications"),
        ("/staff/certification", "ui_nav_staff_certification"),
        ("/staff/dashboard", "ui_nav_staff_dashboard"),
        ("/staff/requests", "ui_nav_staff_queue"),
        ("/staff/notices", "ui_nav_staff_notices"),
        ("/requests/new", "ui_nav_new_request"),
        ("/certificates", "ui_nav_certificates"),
        ("/anonymous", "ui_nav_anonymous"),
        ("/business", "ui_nav_business"),
        ("/payments", "ui_nav_payments"),
        ("/register", "ui_nav_register"),
        ("/requests", "ui_nav_my_requests"),
        ("/profile", "ui_nav_profile"),
        ("/staff", "ui_nav_staff_home"),
        ("/audit", "ui_nav_audit"),
        ("/fines", "ui_nav_fines"),
        ("/login", "ui_nav_login"),
        ("/track", "ui_nav_track"),
    ];

    /// The menu entry this page belongs to (its path), if any.
    fn section_path(&self) -> Option<&'static str> {
        let path = self.here.split('?').next().unwrap_or("");
        Self::SECTIONS
            .iter()
            .map(|(prefix, _)| *prefix)
            .find(|prefix| {
                path == *prefix
                    || path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
    }

    /// Whether the menu entry `href` is this page's section (`aria-current="page"`).
    pub fn is_current(&self, href: &str) -> bool {
        self.section_path() == Some(href)
    }

    /// The name of this page's section, for the phone menu's button («Μενού · Πρόστιμα»).
    pub fn section(&self) -> Option<String> {
        let path = self.section_path()?;
        let (_, key) = Self::SECTIONS.iter().find(|(p, _)| *p == path)?;
        Some(self.t(key))
    }

    pub fn lang_code(&self) -> &'static str {
        match self.lang {
            Lang::El => "el",
            Lang::En => "en",
        }
    }

    /// The link of the language switch: this page in the other language.
    pub fn other_lang_href(&self) -> String {
        let other = match self.lang {
            Lang::El => "en",
            Lang::En => "el",
        };
        let sep = if self.here.contains('?') { '&' } else { '?' };
        format!("{}{sep}lang={other}", self.here)
    }

    pub fn other_lang_label(&self) -> &'static str {
        match self.lang {
            Lang::El => "English",
            Lang::En => "Ελληνικά",
        }
    }

    pub fn other_lang_code(&self) -> &'static str {
        match self.lang {
            Lang::El => "en",
            Lang::En => "el",
        }
    }

    pub fn is_staff(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| matches!(u.role, Role::Clerk | Role::Admin))
    }

    /// The hint of a profile field: for a citizen, what the field is needed for
    /// (`citizen_key`); for staff, who pay nothing, `staff_key`.
    pub fn profile_hint(&self, citizen_key: &'static str, staff_key: &'static str) -> &'static str {
        if self.is_citizen() {
            citizen_key
        } else {
            staff_key
        }
    }

    /// A citizen (not staff, not an auditor): the one who applies for certificates.
    pub fn is_citizen(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Citizen)
    }

    pub fn is_auditor(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| matches!(u.role, Role::Auditor | Role::Admin))
    }

    /// A UTC time as people in Athens read it: `26/11/2026 14:05`.
    pub fn datetime(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        at.with_timezone(&chrono_tz::Europe::Athens)
            .format("%d/%m/%Y %H:%M")
            .to_string()
    }

    pub fn status_label(&self, status: &str) -> String {
        self.t(&format!("status_{status}"))
    }

    /// A request category's name in the page's language (its code if it is no longer
    /// configured).
    pub fn category_label(&self, code: &str) -> String {
        match self.municipality.requests.find(code) {
            Some(c) => match self.lang {
                Lang::El => c.name_el.clone(),
                Lang::En => c.name_en.clone(),
            },
            None => code.to_string(),
        }
    }

    /// A category's attribute question in the page's language (its code if unknown).
    pub fn attribute_label(&self, category: &str, code: &str) -> String {
        self.municipality
            .requests
            .find(category)
            .and_then(|c| c.attributes.iter().find(|a| a.code == code))
            .map(|a| match self.lang {
                Lang::El => a.description_el.clone(),
                Lang::En => a.description_en.clone(),
            })
            .unwrap_or_else(|| code.to_string())
    }

    pub fn kind_label(&self, kind: &str) -> String {
        self.t(&format!("kind_{kind}"))
    }

    pub fn close_reason_label(&self, reason: &str) -> String {
        self.t(&format!("close_reason_{reason}"))
    }

    pub fn application_status_label(&self, status: &str) -> String {
        self.t(&format!("application_status_{status}"))
    }

    pub fn application_kind_label(&self, kind: &str) -> String {
        self.t(&format!("application_kind_{kind}"))
    }

    pub fn delivery_label(&self, method: &str) -> String {
        self.t(&format!("delivery_{method}"))
    }

    /// The identity document a clerk checked (`identity_card`, `passport`, …).
    pub fn document_label(&self, document: &str) -> String {
        self.t(&format!("document_{document}"))
    }

    /// A calendar day (a deadline) as `26/11/2026`.
    pub fn day(&self, day: &chrono::NaiveDate) -> String {
        day.format("%d/%m/%Y").to_string()
    }

    pub fn date(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        at.with_timezone(&chrono_tz::Europe::Athens)
            .format("%d/%m/%Y")
            .to_string()
    }
}

/// The language: `?lang=` first (the security middleware remembers it in a cookie), then
/// the cookie, then Greek.
fn page_lang(parts: &Parts) -> Lang {
    let query_lang = parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .map(|(_, v)| v.to_string())
    });
    match query_lang
        .or_else(|| cookie_value(&parts.headers, LANG_COOKIE))
        .as_deref()
    {
        Some("en") => Lang::En,
        _ => Lang::El,
    }
}

fn here_without_lang(parts: &Parts) -> String {
    let path = parts.uri.path();
    let kept: Vec<&str> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

impl FromRequestParts<AppState> for Page {
    /// Only when the session cannot be looked up at all (the database fails): a stale or
    /// revoked session cookie on a page just means "logged out", but a failed lookup must
    /// not log a citizen out (the answer is 503 when the database cannot be reached, 500
    /// otherwise, which also becomes 503 while the database is down:
    /// `crate::http::unavailable_while_database_down`).
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = match MaybeUser::from_request_parts(parts, state).await {
            Ok(MaybeUser(user)) => user,
            Err(ApiError::Unauthenticated) => None,
            Err(ApiError::Unavailable(why)) => {
                tracing::warn!(error = %why, "page: the session cannot be looked up");
                return Err(super::message_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    page_lang(parts),
                    "service_unavailable",
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "page: the session cannot be looked up");
                return Err(super::message_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    page_lang(parts),
                    "internal",
                ));
            }
        }
        .map(|user| PageUser {
            name: user.full_name.clone(),
            role: user.role,
            user,
        });
        let csrf = parts
            .extensions
            .get::<CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        Ok(Self {
            lang: page_lang(parts),
            user,
            csrf,
            here: here_without_lang(parts),
            municipality: state.config.municipality.clone(),
        })
    }
}

/// `?after=` of a list page that pages by keyset.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AfterParam {
    pub after: Option<String>,
}

/// The page of a list that `after` asks for, `shape` being that of its cursor. A cursor
/// that is not one (an edited or stale address) shows the first page.
pub fn list_page(
    after: Option<&str>,
    shape: &[projections::paging::Part],
) -> projections::paging::PageRequest {
    projections::paging::PageRequest {
        after: after.and_then(|a| projections::paging::Cursor::decode(a, shape)),
        limit: projections::paging::DEFAULT_LIMIT,
    }
}

/// The links under a paged list: to its first page (when this is not it) and to the next
/// one (when there is one), keeping the page's other parameters (its filters).
pub struct Pager {
    pub first_href: Option<String>,
    pub next_href: Option<String>,
    /// What goes before the links' ids (`first-page`, `next-page`): empty for the one list
    /// of a page, e.g. `payments-` for a second list paged by its own parameter.
    pub id_prefix: &'static str,
    /// The message key of the navigation's label (unique on the page).
    pub label_key: &'static str,
}

impl Pager {
    pub fn new(here: &str, request: &projections::paging::PageRequest, next: Option<&str>) -> Self {
        Self::for_param(here, "after", request, next)
    }

    /// The links of a list whose cursor is the parameter `param` (a page with two lists
    /// pages each by its own), keeping every other parameter (filters, the other list's
    /// cursor).
    pub fn for_param(
        here: &str,
        param: &str,
        request: &projections::paging::PageRequest,
        next: Option<&str>,
    ) -> Self {
        let (path, query) = here.split_once('?').unwrap_or((here, ""));
        let kept: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k != param)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let href = |after: Option<&str>| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
            if let Some(a) = after {
                q.append_pair(param, a);
            }
            let q = q.finish();
            if q.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{q}")
            }
        };
        Self {
            first_href: request.after.is_some().then(|| href(None)),
            next_href: next.map(|n| href(Some(n))),
            id_prefix: "",
            label_key: "ui_paging",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(here: &str) -> Page {
        Page {
            lang: Lang::El,
            user: None,
            csrf: String::new(),
            here: here.to_string(),
            municipality: std::sync::Arc::new(
                crate::config::parse_municipality(crate::config::DEFAULT_MUNICIPALITY, "built-in")
                    .expect("the built-in configuration"),
            ),
        }
    }

    #[test]
    fn a_page_belongs_to_the_menu_entry_whose_path_leads_to_it() {
        assert!(at("/requests").is_current("/requests"));
        assert!(at("/requests/4f1c?after=x").is_current("/requests"));
        assert!(at("/requests/new").is_current("/requests/new"));
        assert!(!at("/requests/new").is_current("/requests"));
        assert!(at("/staff/requests/9a?x=1").is_current("/staff/requests"));
        assert!(!at("/staff/requests").is_current("/staff"));
        assert!(at("/staff").is_current("/staff"));
        assert!(at("/fines/details?plate=1").is_current("/fines"));
        assert!(!at("/finesx").is_current("/fines"));
        assert_eq!(
            at("/payments/7").section().as_deref(),
            Some("Οι πληρωμές μου")
        );
        assert_eq!(at("/").section(), None);
        assert_eq!(at("/no-such-page").section(), None);
    }
}
