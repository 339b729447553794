//! A form as a page shows it: the values the user typed and the messages of the fields
//! that need correcting (rendered as an error summary at the top and next to each field).

use std::collections::HashMap;

use crate::error::{ApiError, FieldError};
use crate::i18n::{self, Lang};

#[derive(Debug, Clone, Default)]
pub struct FormState {
    values: HashMap<String, String>,
    /// In the order they should be listed: (field, message).
    errors: Vec<(String, String)>,
}

impl FormState {
    pub fn new() -> Self {
        Self::default()
    }

    /// A form filled with what the user sent.
    pub fn with_values<'a>(values: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            values: values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            errors: Vec::new(),
        }
    }

    pub fn set(&mut self, field: &str, value: &str) {
        self.values.insert(field.to_string(), value.to_string());
    }

    pub fn add_error(&mut self, lang: Lang, error: &FieldError) {
        if !self.errors.iter().any(|(f, _)| f == &error.field) {
            self.errors
                .push((error.field.clone(), i18n::message(lang, &error.code)));
        }
    }

    /// Turns an API error into field messages when it is about fields; other errors (a
    /// rule's refusal without a field) become a message on `general`.
    pub fn absorb(&mut self, lang: Lang, error: &ApiError) {
        match error {
            ApiError::Validation(fields) => {
                for f in fields {
                    self.add_error(lang, f);
                }
            }
            ApiError::Refused(refusal) => {
                self.errors
                    .push(("general".to_string(), i18n::message(lang, refusal.code)));
            }
            ApiError::InvalidCredentials => {
                self.errors.push((
                    "email".to_string(),
                    i18n::message(lang, "invalid_credentials"),
                ));
            }
            ApiError::Conflict => {
                self.errors
                    .push(("general".to_string(), i18n::message(lang, "conflict")));
            }
            ApiError::LoginThrottled(_) => {
                self.errors.push((
                    "general".to_string(),
                    i18n::message(lang, "login_throttled"),
                ));
            }
            _ => {
                self.errors
                    .push(("general".to_string(), i18n::message(lang, "internal")));
            }
        }
    }

    pub fn value(&self, field: &str) -> &str {
        self.values.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn is_checked(&self, field: &str, value: &str) -> bool {
        self.value(field) == value
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn has_error(&self, field: &str) -> bool {
        self.error(field).is_some()
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// (field, message) pairs for the error summary.
    pub fn errors(&self) -> &[(String, String)] {
        &self.errors
    }

    /// Says the message of `field`'s error differently (e.g. naming a question the
    /// page built from configuration), in the summary and beside the field alike.
    pub fn reword(&mut self, field: &str, message: String) {
        if let Some((_, m)) = self.errors.iter_mut().find(|(f, _)| f == field) {
            *m = message;
        }
    }
}
