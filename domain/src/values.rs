//! Value types that can only be built valid ("parse, don't validate"). Each `parse`
//! returns a [`Refusal`] whose code names what to fix.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::Refusal;

/// The three refusal codes of one text field: empty, too long, control characters.
pub(crate) struct TextCodes {
    pub(crate) required: &'static str,
    pub(crate) too_long: &'static str,
    pub(crate) control_chars: &'static str,
}

/// The one policy for text a person types (subjects, texts, answers, names, addresses):
/// trimmed, in Unicode NFC, without control characters (but line breaks and tabs where
/// the text may span lines), format or bidi characters, or U+FFFD (what a form's invalid
/// UTF-8 becomes), and with something a reader can see besides combining marks. Lengths
/// count characters, not bytes, so Greek text has the same limits as Latin.
pub(crate) fn bounded_text(
    raw: &str,
    max_chars: usize,
    multiline: bool,
    codes: &TextCodes,
) -> Result<String, Refusal> {
    let normalized: String = raw.trim().nfc().collect();
    let trimmed = normalized.as_str();
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
    if bad || !has_visible_content(trimmed) {
        return Err(Refusal::invalid(
            codes.control_chars,
            "contains control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// Format characters (zero-width, bidirectional marks and overrides, the soft hyphen, tag
/// characters) and U+FFFD: they make text display differently from what it says (a
/// classic way to disguise a subject in a clerk's queue, or a second account that looks
/// like an existing one), or stand for bytes that were not text at all (a form's invalid
/// UTF-8, which the browser's form encoding cannot refuse for us).
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFD}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Whether `text` has something a reader sees: a character that is neither white space
/// nor a combining mark.
pub(crate) fn has_visible_content(text: &str) -> bool {
    text.chars()
        .any(|c| !c.is_whitespace() && !unicode_normalization::char::is_combining_mark(c))
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

bounded_text_type!(
    /// A business's registered name: one line, up to 200 characters.
    CompanyName, 200, false, "company_name"
);
bounded_text_type!(
    /// A property's address (ΤΑΠ): one line, up to 200 characters.
    PropertyAddress, 200, false, "property_address"
);
bounded_text_type!(
    /// A postal address to send a certificate to: up to 300 characters, lines kept.
    PostalAddress, 300, true, "postal_address"
);
bounded_text_type!(
    /// The name of an application filing requests through Open311 (shown on the cases it
    /// files): one line, up to 100 characters.
    ClientName, 100, false, "client_name"
);
bounded_text_type!(
    /// A clerk's question to the applicant: up to 2,000 characters.
    Question, 2000, true, "question"
);
bounded_text_type!(
    /// The applicant's reply to a question: up to 5,000 characters.
    Reply, 5000, true, "reply"
);

/// Keeps the characters of `raw` that are not spaces, dots or dashes (the separators
/// people type inside numbers).
fn without_separators(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '\u{00A0}'))
        .collect()
}

/// A Greek tax number (ΑΦΜ): 9 digits whose last is the check digit
/// `(Σ dᵢ·2^(8−i), i = 0..7) mod 11 mod 10`; `000000000` is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Afm(String);

impl Afm {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let digits = without_separators(raw);
        if digits.is_empty() {
            return Err(Refusal::invalid("afm_required", "must not be empty"));
        }
        if digits.len() != 9 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(Refusal::invalid("afm_invalid", "an AFM is 9 digits"));
        }
        let d: Vec<u32> = digits
            .chars()
            .map(|c| c.to_digit(10).unwrap_or(0))
            .collect();
        if d.iter().all(|&x| x == 0) {
            return Err(Refusal::invalid("afm_invalid", "000000000 is not an AFM"));
        }
        let sum: u32 = (0..8).map(|i| d[i] << (8 - i)).sum();
        if sum % 11 % 10 != d[8] {
            return Err(Refusal::invalid(
                "afm_invalid",
                "the check digit does not match",
            ));
        }
        Ok(Self(digits))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The number of an identity document checked in person: 4 to 20 letters or digits
/// (Greek or Latin), kept in upper case without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentNumber(String);

impl DocumentNumber {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let kept = without_separators(raw).to_uppercase();
        if kept.is_empty() {
            return Err(Refusal::invalid(
                "document_number_required",
                "must not be empty",
            ));
        }
        let count = kept.chars().count();
        if !(4..=20).contains(&count) || !kept.chars().all(char::is_alphanumeric) {
            return Err(Refusal::invalid(
                "document_number_invalid",
                "4 to 20 letters or digits",
            ));
        }
        Ok(Self(kept))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An electricity supply number (αριθμός παροχής), as printed on the bill: 8 to 12 digits;
/// spaces and dashes are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SupplyNumber(String);

impl SupplyNumber {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let digits = without_separators(raw);
        if digits.is_empty() {
            return Err(Refusal::invalid(
                "supply_number_required",
                "must not be empty",
            ));
        }
        if !(8..=12).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(Refusal::invalid("supply_number_invalid", "8 to 12 digits"));
        }
        Ok(Self(digits))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A cadastral code (ΚΑΕΚ): 12 digits, optionally followed by `/` and the numbers of a
/// horizontal property (e.g. `050681726001/0/3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Kaek(String);

impl Kaek {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let kept: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        let mut parts = kept.split('/');
        let base = parts.next().unwrap_or_default();
        let base_ok = base.len() == 12 && base.chars().all(|c| c.is_ascii_digit());
        let rest_ok =
            parts.all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit()));
        if !base_ok || !rest_ok || kept.split('/').count() > 3 {
            return Err(Refusal::invalid(
                "kaek_invalid",
                "12 digits, optionally followed by /n/n",
            ));
        }
        Ok(Self(kept))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A floor area in square metres, to the hundredth: more than 0, at most 100,000. Accepts a
/// comma or a dot as the decimal mark (`85,5` and `85.50` are the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Area {
    hundredths: u32,
}

impl Area {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Refusal::invalid("area_required", "must not be empty"));
        }
        let invalid = || Refusal::invalid("area_invalid", "a number of m², e.g. 85 or 85,50");
        let normalised = raw.replace(',', ".");
        let (whole, fraction) = match normalised.split_once('.') {
            Some((w, f)) => (w, f),
            None => (normalised.as_str(), ""),
        };
        if whole.is_empty()
            || whole.len() > 6
            || fraction.len() > 2
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !fraction.chars().all(|c| c.is_ascii_digit())
        {
            return Err(invalid());
        }
        let whole: u32 = whole.parse().map_err(|_| invalid())?;
        let fraction: u32 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
        let hundredths = whole * 100 + fraction;
        if hundredths == 0 || hundredths > 100_000 * 100 {
            return Err(Refusal::invalid(
                "area_out_of_range",
                "more than 0 and at most 100,000 m²",
            ));
        }
        Ok(Self { hundredths })
    }

    pub fn hundredths(self) -> u32 {
        self.hundredths
    }

    /// Greek notation: `85,5` → `85,50`; `120` → `120`.
    pub fn to_greek(self) -> String {
        let (whole, fraction) = (self.hundredths / 100, self.hundredths % 100);
        if fraction == 0 {
            whole.to_string()
        } else {
            format!("{whole},{fraction:02}")
        }
    }
}

/// The human number of a case (Α.Α.): sequential per year, shown as `2026/000123`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseNumber {
    pub year: i32,
    pub serial: i64,
}

impl CaseNumber {
    /// The number of a case being filed, before the event log hands out its serial: the
    /// log writes the serial into the stream's first event, at
    /// [`CASE_NUMBER_SERIAL_PATH`], in the same statement that appends it.
    pub fn to_be_assigned(year: i32) -> Self {
        CaseNumber { year, serial: 0 }
    }
}

/// Where the first event of a numbered stream (`RequestSubmitted`,
/// `ApplicationSubmitted`) carries its case number's serial in its stored JSON.
pub const CASE_NUMBER_SERIAL_PATH: [&str; 3] = ["data", "number", "serial"];

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
    fn typed_text_is_stored_in_nfc_and_must_be_visible_and_valid() {
        // Issue 12, defects 5 and 6: «ά» typed as α + combining acute is stored as the
        // one precomposed letter; U+FFFD (a form's invalid UTF-8), a soft hyphen, a tag
        // character or text of combining marks alone are refused.
        assert_eq!(
            Subject::parse("Λακκούβα στην οδό Καλαματα\u{0301}")
                .unwrap()
                .as_str(),
            "Λακκούβα στην οδό Καλαματά"
        );
        for bad in [
            "\u{FFFD}\u{FFFD}",
            "Θέμα\u{FFFD}",
            "α\u{00AD}β",
            "flag\u{E0067}",
            "\u{0301}\u{0301}",
        ] {
            assert_eq!(
                Subject::parse(bad).unwrap_err().code,
                "subject_control_chars",
                "{bad:?}"
            );
        }
        assert_eq!(CaseText::parse("?").unwrap().as_str(), "?");
    }

    #[test]
    fn case_number_is_zero_padded() {
        let n = CaseNumber {
            year: 2026,
            serial: 123,
        };
        assert_eq!(n.to_string(), "2026/000123");
    }

    #[test]
    fn afm_check_digit() {
        assert_eq!(Afm::parse("094259216").unwrap().as_str(), "094259216");
        assert_eq!(Afm::parse("094 259 216").unwrap().as_str(), "094259216");
        assert_eq!(Afm::parse("094259217").unwrap_err().code, "afm_invalid");
        assert_eq!(Afm::parse("000000000").unwrap_err().code, "afm_invalid");
        assert_eq!(Afm::parse("12345678").unwrap_err().code, "afm_invalid");
        assert_eq!(Afm::parse("09425921Α").unwrap_err().code, "afm_invalid");
        assert_eq!(Afm::parse("  ").unwrap_err().code, "afm_required");
    }

    #[test]
    fn property_numbers() {
        assert_eq!(
            SupplyNumber::parse("1 23456789-01").unwrap().as_str(),
            "12345678901"
        );
        assert_eq!(
            SupplyNumber::parse("1234").unwrap_err().code,
            "supply_number_invalid"
        );
        assert_eq!(
            SupplyNumber::parse("").unwrap_err().code,
            "supply_number_required"
        );
        assert!(Kaek::parse("050681726001").is_ok());
        assert!(Kaek::parse("050681726001/0/3").is_ok());
        assert_eq!(Kaek::parse("05068172600").unwrap_err().code, "kaek_invalid");
        assert_eq!(
            Kaek::parse("050681726001/").unwrap_err().code,
            "kaek_invalid"
        );
        assert_eq!(Area::parse("85,5").unwrap().to_greek(), "85,50");
        assert_eq!(Area::parse("85.50").unwrap().hundredths(), 8550);
        assert_eq!(Area::parse("120").unwrap().to_greek(), "120");
        assert_eq!(Area::parse("0").unwrap_err().code, "area_out_of_range");
        assert_eq!(
            Area::parse("100000,01").unwrap_err().code,
            "area_out_of_range"
        );
        assert_eq!(Area::parse("12,345").unwrap_err().code, "area_invalid");
        assert_eq!(Area::parse("-5").unwrap_err().code, "area_invalid");
        assert_eq!(Area::parse("").unwrap_err().code, "area_required");
    }

    #[test]
    fn document_numbers() {
        assert_eq!(
            DocumentNumber::parse("ακ 123456").unwrap().as_str(),
            "ΑΚ123456"
        );
        assert_eq!(
            DocumentNumber::parse("12").unwrap_err().code,
            "document_number_invalid"
        );
        assert_eq!(
            DocumentNumber::parse("ΑΚ/123456").unwrap_err().code,
            "document_number_invalid"
        );
    }
}
