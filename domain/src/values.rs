//! Value types that can only be built valid ("parse, don't validate"). Each `parse`
//! returns a [`Refusal`] whose code names what to fix.

use serde::{Deserialize, Serialize};

use crate::Refusal;

/// The three refusal codes of one text field: empty, too long, control characters.
struct TextCodes {
    required: &'static str,
    too_long: &'static str,
    control_chars: &'static str,
}

/// Trims surrounding white space, refuses empty or over-long text, and refuses control
/// characters other than line breaks and tabs. Lengths count characters, not bytes, so
/// Greek text has the same limits as Latin.
fn bounded_text(
    raw: &str,
    max_chars: usize,
    multiline: bool,
    codes: &TextCodes,
) -> Result<String, Refusal> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Refusal::invalid(codes.required, "must not be empty"));
    }
    let count = trimmed.chars().count();
    if count > max_chars {
        return Err(Refusal::invalid(
            codes.too_long,
            format!("{count} characters, at most {max_chars}"),
        ));
    }
    let bad = trimmed.chars().any(|c| {
        (c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) || is_invisible(c)
    });
    if bad {
        return Err(Refusal::invalid(
            codes.control_chars,
            "contains control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// Zero-width and bidirectional-override characters: they make text display differently
/// from what it says (a classic way to disguise a subject in a clerk's queue).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200E}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

macro_rules! bounded_text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr, $multiline:expr, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;
            pub fn parse(raw: &str) -> Result<Self, Refusal> {
                const CODES: TextCodes = TextCodes {
                    required: concat!($field, "_required"),
                    too_long: concat!($field, "_too_long"),
                    control_chars: concat!($field, "_control_chars"),
                };
                bounded_text(raw, $max, $multiline, &CODES).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

bounded_text_type!(
    /// A case's subject: one line, up to 200 characters.
    Subject, 200, false, "subject"
);
bounded_text_type!(
    /// A case's text: up to 5,000 characters, line breaks kept.
    CaseText, 5000, true, "text"
);
bounded_text_type!(
    /// What the citizen wants the municipality to do: up to 2,000 characters.
    DesiredAction, 2000, true, "desired_action"
);
bounded_text_type!(
    /// The municipality's answer to a case: up to 10,000 characters.
    AnswerText, 10000, true, "answer"
);
bounded_text_type!(
    /// A short free-text note (closing note, reopening reason): up to 1,000 characters.
    Note, 1000, true, "note"
);

/// The human number of a case (Α.Α.): sequential per year, shown as `2026/000123`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseNumber {
    pub year: i32,
    pub serial: i64,
}

impl std::fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{:06}", self.year, self.serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_trimmed_and_greek_counts_characters() {
        let s = Subject::parse("  Λακκούβα στην οδό Ερμού  ").unwrap();
        assert_eq!(s.as_str(), "Λακκούβα στην οδό Ερμού");
        let exactly = "Α".repeat(Subject::MAX_CHARS);
        assert!(Subject::parse(&exactly).is_ok());
        let over = "Α".repeat(Subject::MAX_CHARS + 1);
        assert_eq!(Subject::parse(&over).unwrap_err().code, "subject_too_long");
    }

    #[test]
    fn empty_and_control_characters_are_refused() {
        assert_eq!(Subject::parse("   ").unwrap_err().code, "subject_required");
        assert_eq!(
            Subject::parse("a\nb").unwrap_err().code,
            "subject_control_chars"
        );
        assert!(CaseText::parse("γραμμή 1\nγραμμή 2").is_ok());
        assert_eq!(
            Subject::parse("abc\u{202E}fdp.exe").unwrap_err().code,
            "subject_control_chars"
        );
        assert_eq!(
            CaseText::parse("zero\u{200B}width").unwrap_err().code,
            "text_control_chars"
        );
        assert_eq!(
            CaseText::parse("a\u{0007}b").unwrap_err().code,
            "text_control_chars"
        );
    }

    #[test]
    fn case_number_is_zero_padded() {
        let n = CaseNumber {
            year: 2026,
            serial: 123,
        };
        assert_eq!(n.to_string(), "2026/000123");
    }
}
