//! A refusal by a business rule: a stable machine code that the API and the UI translate
//! into a message a citizen can act on. Refused is not failed (see STYLE.md, practice 3).

use serde::Serialize;

/// Why a command or a value was refused. `code` is a stable key into the translation files
/// (`api/locales/*.json`); the English text here is for logs and developers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Refusal {
    pub code: &'static str,
    pub kind: RefusalKind,
    pub detail: String,
}

/// How the refusal maps onto HTTP: a missing thing (404), a forbidden act (403), or a rule
/// that said no in the current state (422).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    NotFound,
    Forbidden,
    Rule,
    Invalid,
    /// A system the rule depends on (e.g. the protocol system) is unreachable right now.
    Unavailable,
}

impl Refusal {
    pub fn rule(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            kind: RefusalKind::Rule,
            detail: detail.into(),
        }
    }
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            kind: RefusalKind::NotFound,
            detail: detail.into(),
        }
    }
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            kind: RefusalKind::Forbidden,
            detail: detail.into(),
        }
    }
    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            kind: RefusalKind::Unavailable,
            detail: detail.into(),
        }
    }
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            kind: RefusalKind::Invalid,
            detail: detail.into(),
        }
    }
}

/// A field of a form or a JSON body that needs correcting, and why (a message code, like a
/// refusal's). Use cases answer a list of them so that a form can show each in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str) -> Self {
        Self {
            field: field.to_string(),
            code: code.to_string(),
        }
    }

    /// A value's refusal (from parsing it) as an error of `field`.
    pub fn of(field: &str, refusal: &Refusal) -> Self {
        Self::new(field, refusal.code)
    }

    /// A field's parsed value, or `None` with its refusal added to `errors`: a form is
    /// checked whole, so that every field to correct is said at once.
    pub fn collect<T>(
        field: &str,
        parsed: Result<T, Refusal>,
        errors: &mut Vec<Self>,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(refusal) => {
                errors.push(Self::of(field, &refusal));
                None
            }
        }
    }
}
