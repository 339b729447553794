//! Cookies, read and written with the `cookie` crate (the one axum-extra's jar is made of):
//! the `Cookie` header parsed, the `Set-Cookie` values built with their attributes.

use std::time::Duration;

use axum::http::{header, HeaderMap};
use axum_extra::extract::cookie::{Cookie, SameSite};

/// The value of cookie `name`, if the request carries it: the first one, as browsers send
/// the most specific cookie first (a cookie of the same name planted for a parent domain
/// comes after the portal's own). Parsed by the `cookie` crate, values as sent.
pub fn value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_string())
}

/// How a cookie the portal sets is scoped. Every cookie is for the whole site (`Path=/`)
/// and `Secure` when the portal is served over HTTPS.
pub struct Spec {
    pub http_only: bool,
    pub same_site: SameSite,
    /// `None`: a session cookie (gone when the browser closes); zero clears it.
    pub max_age: Option<Duration>,
    pub secure: bool,
}

/// The `Set-Cookie` value of cookie `name` = `value` under `spec`.
pub fn set(name: &'static str, value: String, spec: Spec) -> String {
    let mut cookie = Cookie::build((name, value))
        .path("/")
        .http_only(spec.http_only)
        .same_site(spec.same_site)
        .secure(spec.secure);
    if let Some(max_age) = spec.max_age {
        let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        cookie = cookie.max_age(cookie::time::Duration::seconds(seconds));
    }
    cookie.build().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_cookie_is_found_among_several_headers_and_pairs() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; portal_lang=en"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(value(&headers, "portal_lang").as_deref(), Some("en"));
        assert_eq!(value(&headers, "b").as_deref(), Some("2"));
        assert_eq!(value(&headers, "c"), None);
        // Two of one name: the first, the most specific, as the browser sent them.
        let mut twice = HeaderMap::new();
        twice.insert(
            header::COOKIE,
            HeaderValue::from_static("s=mine; s=planted"),
        );
        assert_eq!(value(&twice, "s").as_deref(), Some("mine"));
    }

    #[test]
    fn a_set_cookie_carries_its_attributes() {
        let text = set(
            "portal_session",
            "abc".into(),
            Spec {
                http_only: true,
                same_site: SameSite::Lax,
                max_age: Some(Duration::from_secs(3600)),
                secure: true,
            },
        );
        for part in [
            "portal_session=abc",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=3600",
            "Secure",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        let cleared = set(
            "portal_session",
            String::new(),
            Spec {
                http_only: true,
                same_site: SameSite::Lax,
                max_age: Some(Duration::ZERO),
                secure: false,
            },
        );
        assert!(
            cleared.contains("Max-Age=0") && !cleared.contains("Secure"),
            "{cleared}"
        );
    }
}
