//! Accounts: the roles a person can hold, and the rules for what they type when they
//! register or complete their profile (the password policy, a plausible e-mail address,
//! names and addresses, a phone number).

use serde::Serialize;

use crate::refusal::FieldError;
use crate::Refusal;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Citizen,
    Clerk,
    Auditor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Clerk => "clerk",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Citizen, Self::Clerk, Self::Auditor, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// The roles that handle cases: they act on citizens' requests and applications and
/// certify users.
pub const STAFF: &[Role] = &[Role::Clerk, Role::Admin];

/// A few of the most used passwords of at least 10 characters; a longer list can come.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "0123456789",
    "qwertyuiop",
    "password12",
    "password123",
    "1q2w3e4r5t",
    "iloveyou12",
    "qwerty1234",
    "abcdefghij",
    "1111111111",
    "aaaaaaaaaa",
    "asdfghjkl1",
    "passw0rd12",
    "123456789a",
];

/// The password rules: 10 to 128 characters, not a common one, not containing the e-mail.
pub fn check_password(password: &str, email: &str) -> Option<&'static str> {
    let count = password.chars().count();
    if count < 10 {
        return Some("password_too_short");
    }
    if count > 128 {
        return Some("password_too_long");
    }
    let lower = password.to_lowercase();
    let distinct = {
        let mut chars: Vec<char> = lower.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        chars.len()
    };
    if distinct < 4 || COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Some("password_too_common");
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.chars().count() >= 4 && lower.contains(&local) {
        return Some("password_contains_email");
    }
    None
}

/// A plausible e-mail address: one `@`, a dotted domain, no spaces or invisible
/// characters, at most 254 characters; stored in NFC and lower case. The whole address is
/// lower-cased, not just the domain: every mail service people here use treats the local
/// part without regard to case, and two accounts that differ only in case would look the
/// same to the person and to the clerks.
pub fn normalize_email(raw: &str) -> Result<String, FieldError> {
    use unicode_normalization::UnicodeNormalization;
    let email: String = raw.trim().nfc().collect::<String>().to_lowercase();
    let valid = email.len() <= 254
        // Invisible characters would make a second account look like an existing one.
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || crate::values::is_invisible(c))
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(FieldError::new("email", "email_invalid"))
    }
}

/// The details of a person's profile that some services need (S10: a payer of a fine or a
/// tax must be identifiable by the municipality's systems).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub full_name: String,
    pub father_name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
}

impl Profile {
    /// Refuses a payment by a profile without a name, father's name, address or phone:
    /// `profile_incomplete` (403), with a field error for each one missing.
    pub fn check_complete_for_payment(&self) -> Result<(), (Refusal, Vec<FieldError>)> {
        let blank = |v: Option<&str>| v.is_none_or(|s| s.trim().is_empty());
        let missing: Vec<FieldError> = [
            ("full_name", blank(Some(&self.full_name))),
            ("father_name", blank(self.father_name.as_deref())),
            ("address", blank(self.address.as_deref())),
            ("phone", blank(self.phone.as_deref())),
        ]
        .into_iter()
        .filter(|(_, missing)| *missing)
        .map(|(field, _)| FieldError::new(field, "profile_field_required"))
        .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.iter().map(|f| f.field.as_str()).collect();
        Err((
            Refusal::forbidden(
                "profile_incomplete",
                format!("complete: {}", names.join(", ")),
            ),
            missing,
        ))
    }
}

/// One line of profile text (name, father's name, address): trimmed, at most `max`
/// characters, no control characters. The codes are `{field}_required`, `{field}_too_long`
/// and `{field}_control_chars`.
pub fn profile_line(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    use unicode_normalization::UnicodeNormalization;
    let value: String = raw.trim().nfc().collect();
    let value = value.as_str();
    let code = |suffix: &str| FieldError::new(field, &format!("{field}_{suffix}"));
    if value.is_empty() {
        return Err(code("required"));
    }
    if value.chars().count() > max {
        return Err(code("too_long"));
    }
    // Control, zero-width and bidi characters, or nothing a reader can see (only
    // combining marks): a name must read as what it is.
    if value
        .chars()
        .any(|c| c.is_control() || crate::values::is_invisible(c))
        || !value.chars().any(char::is_alphanumeric)
    {
        return Err(code("control_chars"));
    }
    Ok(value.to_string())
}

/// A phone number: 10 to 15 digits, with an optional leading `+`; spaces, dots, dashes and
/// parentheses are dropped.
pub fn normalize_phone(raw: &str) -> Result<String, FieldError> {
    let compact: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if (10..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(compact)
    } else {
        Err(FieldError::new("phone", "phone_invalid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_digits_and_a_leading_plus() {
        assert_eq!(
            normalize_phone("+30 691-234 5678").unwrap(),
            "+306912345678"
        );
        assert_eq!(normalize_phone("210 1234567").unwrap(), "2101234567");
        assert!(normalize_phone("12345").is_err());
        assert!(normalize_phone("21012345ab").is_err());
    }

    #[test]
    fn password_rules() {
        assert_eq!(
            check_password("short", "a@b.gr"),
            Some("password_too_short")
        );
        assert_eq!(
            check_password("1234567890", "a@b.gr"),
            Some("password_too_common")
        );
        assert_eq!(
            check_password("aaaaaaaaaaaa", "a@b.gr"),
            Some("password_too_common")
        );
        assert_eq!(
            check_password("maria.papa-2026", "maria.papa@example.gr"),
            Some("password_contains_email")
        );
        assert_eq!(
            check_password(&"x1".repeat(70), "a@b.gr"),
            Some("password_too_long")
        );
        assert_eq!(
            check_password("Κωδικός-Ασφαλής-7", "maria@example.gr"),
            None
        );
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Maria@Example.GR ").unwrap(),
            "maria@example.gr"
        );
        for bad in [
            "",
            "maria",
            "maria@",
            "@example.gr",
            "ma ria@example.gr",
            "maria@example",
            "a@b@c.gr",
            "maria@.gr",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_payment_needs_every_detail_of_the_profile() {
        let complete = Profile {
            full_name: "Μαρία Παπαδοπούλου".into(),
            father_name: Some("Γεώργιος".into()),
            address: Some("Ερμού 12, Αθήνα".into()),
            phone: Some("2101234567".into()),
        };
        assert!(complete.check_complete_for_payment().is_ok());
        let lacking = Profile {
            father_name: Some("  ".into()),
            phone: None,
            ..complete.clone()
        };
        let (refusal, fields) = lacking.check_complete_for_payment().unwrap_err();
        assert_eq!(refusal.code, "profile_incomplete");
        assert_eq!(refusal.kind, crate::refusal::RefusalKind::Forbidden);
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["father_name", "phone"]);
        assert!(fields.iter().all(|f| f.code == "profile_field_required"));
    }

    #[test]
    fn invisible_or_look_alike_identities_are_refused() {
        // Issue 12, defect 5: a zero-width space or a bidi override in an e-mail makes a
        // second account look like the first; an invisible or marks-only name.
        for email in [
            "maria\u{200B}@example.gr",
            "maria@exa\u{202E}mple.gr",
            "\u{FEFF}maria@example.gr",
        ] {
            assert!(normalize_email(email).is_err(), "{email:?}");
        }
        for name in [
            "\u{200B}",
            "\u{0301}\u{0301}",
            "Μαρία\u{202E}",
            "\u{2060}Μαρία",
        ] {
            let err = profile_line("full_name", name, 100).unwrap_err();
            assert_eq!(err.code, "full_name_control_chars", "{name:?}");
        }
        assert_eq!(
            profile_line("full_name", " Μαρία Παπαδοπούλου ", 100).unwrap(),
            "Μαρία Παπαδοπούλου"
        );
        assert_eq!(
            profile_line("address", "Ερμού 12", 100).unwrap(),
            "Ερμού 12"
        );
        // NFC: the same letters typed two ways are one name and one address.
        assert_eq!(
            profile_line("full_name", "Μαρι\u{0301}α", 100).unwrap(),
            "Μαρία"
        );
        assert_eq!(
            normalize_email("Maria@Exa\u{0301}mple.gr").unwrap(),
            "maria@exámple.gr"
        );
        assert!(profile_line("full_name", "\u{FFFD}\u{FFFD}", 100).is_err());
    }
}
