//! A browser without a browser for the page tests: a client that keeps its cookies and
//! never follows redirects, and the pages it gets with what the tests read from them.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use sandboxes::bank::{read_form, HtmlForm};

use super::TestApp;

/// A browser without a browser: keeps its cookies and never follows redirects.
pub struct Visitor {
    pub base: String,
    pub client: Client,
    pub cookies: BTreeMap<String, String>,
}

/// A page as answered: status, `Location`, the headers the tests look at, and the body
/// (as bytes and as text).
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub csp: String,
    pub content_type: String,
    pub disposition: String,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub body: String,
}

impl Page {
    /// Reads an answer (the body whole).
    pub async fn read(r: Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap_or("").to_string())
        };
        let location = header(LOCATION.as_str());
        let csp = header("content-security-policy").unwrap_or_default();
        let content_type = header(CONTENT_TYPE.as_str()).unwrap_or_default();
        let disposition = header(CONTENT_DISPOSITION.as_str()).unwrap_or_default();
        let bytes = r.bytes().await.expect("a body").to_vec();
        Self {
            status,
            location,
            csp,
            content_type,
            disposition,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub fn assert_has(&self, needle: &str) {
        assert!(
            self.body.contains(needle),
            "the page (status {}) lacks {needle:?}:\n{}",
            self.status,
            self.body
        );
    }

    pub fn assert_lacks(&self, needle: &str) {
        assert!(
            !self.body.contains(needle),
            "the page (status {}) has {needle:?}:\n{}",
            self.status,
            self.body
        );
    }

    pub fn assert_status(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
    }

    /// The value of the first hidden `csrf_token` field.
    pub fn csrf_field(&self) -> String {
        self.hidden("csrf_token")
            .unwrap_or_else(|| panic!("no csrf_token field in:\n{}", self.body))
    }

    /// The value of the first hidden field `name`.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_string())
    }

    /// The value of input `name` (the first one, whatever its attributes' order).
    pub fn value_of(&self, name: &str) -> String {
        let at = self
            .body
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("no input {name} in:\n{}", self.body));
        let close = self.body[at..].find('>').unwrap() + at;
        let tag = &self.body[at..close];
        let start = tag.find("value=\"").expect("a value") + 7;
        let end = tag[start..].find('"').unwrap() + start;
        tag[start..end].to_string()
    }

    /// The form with this id (its action and hidden fields).
    pub fn form(&self, id: &str) -> HtmlForm {
        let at = self
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in:\n{}", self.body));
        let open = self.body[..at].rfind("<form").expect("a form tag");
        read_form(&self.body[open..]).expect("the form")
    }

    /// The form that posts to the bank (`form#bank-form`; the header has others).
    pub fn bank_form(&self) -> HtmlForm {
        self.form("bank-form")
    }

    /// The form-action directive of the page's CSP.
    pub fn form_action(&self) -> String {
        self.csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("form-action"))
            .unwrap_or_else(|| panic!("no form-action in {:?}", self.csp))
            .to_string()
    }

    /// The text of the element with this id: its content up to its closing tag, tags
    /// removed, whitespace collapsed.
    pub fn text_of(&self, id: &str) -> String {
        let marker = format!("id=\"{id}\"");
        let at = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no #{id} in:\n{}", self.body));
        let open = self.body[..at].rfind('<').expect("an opening tag");
        let tag: String = self.body[open + 1..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let content_start = self.body[at..].find('>').expect("the tag closes") + at + 1;
        let content_end = self.body[content_start..]
            .find(&format!("</{tag}>"))
            .expect("a closing tag")
            + content_start;
        let mut text = String::new();
        let mut in_tag = false;
        for c in self.body[content_start..content_end].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The `href` of the link with this id, as written (entities left as they are).
    pub fn raw_href_of(&self, id: &str) -> String {
        let at = self
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in:\n{}", self.body));
        let open = self.body[..at].rfind('<').unwrap();
        let close = self.body[at..].find('>').unwrap() + at;
        let tag = &self.body[open..close];
        let start = tag.find("href=\"").expect("an href") + 6;
        let end = tag[start..].find('"').unwrap() + start;
        tag[start..end].to_string()
    }

    /// The `href` of the link with this id, the entities of `&` undone.
    pub fn href_of(&self, id: &str) -> String {
        self.raw_href_of(id)
            .replace("&#38;", "&")
            .replace("&amp;", "&")
    }
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            client: Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("a client"),
            cookies: BTreeMap::new(),
        }
    }

    /// A visitor whose session is `token` (`None`: logged out).
    pub fn with_session(app: &TestApp, token: Option<&str>) -> Self {
        let mut visitor = Self::new(app);
        if let Some(token) = token {
            visitor
                .cookies
                .insert("portal_session".to_string(), token.to_string());
        }
        visitor
    }

    /// Logs in through the login page.
    pub async fn log_in(app: &TestApp, email: &str, password: &str) -> Self {
        let mut v = Self::new(app);
        let form = v.get("/login").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(
            v.cookies.contains_key("portal_csrf"),
            "GET /login sets no portal_csrf cookie"
        );
        let done = v
            .post(
                &form,
                "/login",
                &[("email", email), ("password", password), ("next", "/")],
            )
            .await;
        assert_eq!(
            done.status,
            StatusCode::SEE_OTHER,
            "login of {email}: {}",
            done.body
        );
        v
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps the cookies an answer sets (and forgets the ones it clears), and reads it.
    pub async fn absorb(&mut self, r: Response) -> Page {
        for value in r.headers().get_all(SET_COOKIE) {
            let value = value.to_str().expect("ASCII cookie");
            let pair = value.split(';').next().unwrap_or("");
            if let Some((name, v)) = pair.split_once('=') {
                if v.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), v.to_string());
                }
            }
        }
        Page::read(r).await
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("request sent");
        self.absorb(r).await
    }

    /// Posts a form as it is, without adding a CSRF token.
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(fields)
            .send()
            .await
            .expect("request sent");
        self.absorb(r).await
    }

    /// Posts a form with the CSRF token read from the hidden field of `form_page`.
    pub async fn post(&mut self, form_page: &Page, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = form_page.csrf_field();
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts the form `id` of `page` as it is (its hidden fields; the CSRF token once).
    pub async fn submit(&mut self, page: &Page, id: &str) -> Page {
        let form = page.form(id);
        let fields: Vec<(&str, &str)> = form
            .hidden
            .iter()
            .filter(|(n, _)| n != "csrf_token")
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.post(page, &form.action, &fields).await
    }
}
