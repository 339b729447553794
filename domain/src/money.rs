//! `Money`: an amount in euros as a whole number of cents, never a float. It reads the ways
//! people type amounts (`1.234,56`, `1234.56`, `1.234 €`), JSON numbers as decimals, and
//! prints the Greek way (`1.234,56 €`) and the machine way (`1234.56`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Refusal;

/// An amount in euro cents. Signed: a balance or a difference may be negative, but what a
/// person types into [`Money::parse`] never is.
///
/// Serialized as the bare number of cents (`1250`), the shape of the `amount_cents: i64`
/// fields of stored events, so such a field can become `Money` without changing its JSON.
/// With the `sqlx` feature it is also a `BIGINT` column of cents, bound and read as is.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
pub struct Money(i64);

/// The refusal codes of amounts (each has el/en messages in `api/locales`).
pub mod codes {
    /// Nothing was typed.
    pub const REQUIRED: &str = "amount_required";
    /// Not an amount (letters, a misplaced separator, a sign other than one leading minus).
    pub const INVALID: &str = "amount_invalid";
    /// A negative amount where only zero or more makes sense.
    pub const NEGATIVE: &str = "amount_negative";
    /// More than two decimals: a fraction of a cent.
    pub const SUB_CENT: &str = "amount_sub_cent";
    /// Beyond what an `i64` of cents holds (about 92 million billion euros).
    pub const TOO_LARGE: &str = "amount_too_large";
}

fn invalid(detail: &str) -> Refusal {
    Refusal::invalid("amount_invalid", detail.to_string())
}

fn sub_cent() -> Refusal {
    Refusal::invalid("amount_sub_cent", "more than two decimals")
}

fn too_large() -> Refusal {
    Refusal::invalid("amount_too_large", "too many euros")
}

/// A JSON float shows at most this many significant digits exactly; beyond them the value
/// may already have been rounded by the time it reached us.
const F64_EXACT_DIGITS: usize = 15;

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// The sum, or `None` on overflow (an amount is never silently clamped).
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// The difference, or `None` on overflow (an amount is never silently clamped).
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// Decimal euros with a dot and always two decimals, no grouping: `1234.56`, `-0.05`.
    /// For machine formats such as the bank's `orderAmount`.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.is_negative() { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }

    /// Decimal euros with a comma and two decimals, no grouping and no `€`: `1234,56`,
    /// `-0,05`. How Greek Excel reads a number in a CSV cell, and how an amount field of a
    /// form is filled in again ([`Money::parse`] reads it back).
    pub fn to_decimal_comma_string(self) -> String {
        self.to_decimal_string().replace('.', ",")
    }

    /// Decimal euros as machines write them: `12`, `12.5`, `12.50`, `-3.00` (a dot, at
    /// most two decimals, no grouping, no exponent, no `+`). The bank's `orderAmount`
    /// reads this way; a caller that only takes positive amounts checks the sign.
    pub fn from_decimal_str(text: &str) -> Result<Money, Refusal> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
            return Err(invalid("not a decimal number like 1234.56"));
        }
        let cents = cents_of(whole, fraction.unwrap_or(""))?;
        Ok(Money(if negative { -cents } else { cents }))
    }

    /// An amount as a person types it, in euros, to the cent. Accepted:
    ///
    /// - a decimal comma or a decimal point with one or two decimals: `1234,56`,
    ///   `1234.56`, `0,5`;
    /// - thousands grouped with the other separator before it: `1.234,56` (Greek),
    ///   `1,234.56` (English);
    /// - thousands grouped with one separator and no decimals: `1.234.567`, `1,234,567`;
    /// - **a single separator followed by exactly three digits groups thousands**:
    ///   `1.234` and `1,234` are 1.234,00 €. Read as decimals they would be fractions of
    ///   a cent, which no amount has, so the only reading that is an amount is the
    ///   thousands one (the portal's declaration form reads them so too).
    ///   A first group of `0` is no grouping: `0.125` is refused as sub-cent, not read as
    ///   125 €;
    /// - surrounding white space (also U+00A0), and one `€` at the end, with or without a
    ///   space before it.
    ///
    /// Refused: empty (`amount_required`); letters, exponents, inner spaces, a misplaced
    /// or dangling separator, `+`, more than one sign (`amount_invalid`); a leading `-`
    /// before an otherwise good amount (`amount_negative`: amounts people type are never
    /// negative); more than two decimals (`amount_sub_cent`); more than an `i64` of cents
    /// (`amount_too_large`). No rounding ever happens. Domain limits (a maximum revenue,
    /// more than zero to pay) are the caller's to check.
    pub fn parse(raw: &str) -> Result<Money, Refusal> {
        let trimmed = raw.trim();
        let text = trimmed.strip_suffix('€').map_or(trimmed, str::trim_end);
        if text.is_empty() {
            return Err(Refusal::invalid("amount_required", "no amount"));
        }
        match text.strip_prefix('-') {
            Some(rest) => match typed_cents(rest) {
                Ok(_) => Err(Refusal::invalid("amount_negative", "a negative amount")),
                Err(refusal) => Err(refusal),
            },
            None => typed_cents(text).map(Money),
        }
    }

    /// A JSON number read as a decimal number of euros, from its text: `12` is 12,00 €,
    /// `1.5` is 1,50 €, `1.234` is refused as sub-cent — the dot of a JSON number is
    /// always the decimal point, never a thousands separator. Exponents are read exactly
    /// (`1.5e2` is 150,00 €); negative numbers are read as negative amounts (the caller
    /// refuses them where they make no sense).
    ///
    /// No float arithmetic: the number's own text is read. A float with more than 15
    /// significant digits is refused (`amount_invalid`): it may have been rounded when
    /// the JSON was parsed, so it is not known to the cent; such an amount is sent as a
    /// string.
    pub fn from_json_number(number: &serde_json::Number) -> Result<Money, Refusal> {
        let text = number.to_string();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => {
                let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
                let exponent: i64 = exponent
                    .parse()
                    .map_err(|_| invalid("a JSON number with an unreadable exponent"))?;
                (mantissa, exponent)
            }
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return Err(invalid("not a JSON number"));
        }
        let digits = format!("{whole}{fraction}");
        let significant = digits.trim_start_matches('0');
        if significant.is_empty() {
            return Ok(Money::ZERO);
        }
        if number.is_f64() && significant.trim_end_matches('0').len() > F64_EXACT_DIGITS {
            return Err(invalid(
                "a JSON float with more than 15 significant digits is not known to the cent",
            ));
        }
        // Where the cent falls in `significant`: after its first `point` digits.
        let leading_zeros = (digits.len() - significant.len()) as i64;
        let point = (whole.len() as i64)
            .saturating_add(exponent)
            .saturating_add(2)
            .saturating_sub(leading_zeros);
        let len = significant.len() as i64;
        if point < len
            && significant[point.max(0) as usize..]
                .bytes()
                .any(|b| b != b'0')
        {
            return Err(sub_cent());
        }
        // An i64 has at most 19 digits.
        if point > 19 {
            return Err(too_large());
        }
        let mut cents: i128 = 0;
        for i in 0..point.max(0) {
            let digit = if i < len {
                i128::from(significant.as_bytes()[i as usize] - b'0')
            } else {
                0
            };
            cents = cents * 10 + digit;
        }
        let cents = if negative { -cents } else { cents };
        i64::try_from(cents).map(Money).map_err(|_| too_large())
    }
}

/// An unsigned amount as typed (see [`Money::parse`]) in cents.
fn typed_cents(body: &str) -> Result<i64, Refusal> {
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
    {
        return Err(invalid(
            "only digits, a decimal comma or point, and thousands separators",
        ));
    }
    let Some(at) = body.rfind(['.', ',']) else {
        return cents_of(body, "");
    };
    let sep = if body.as_bytes()[at] == b'.' {
        '.'
    } else {
        ','
    };
    let other = if sep == '.' { ',' } else { '.' };
    let (before, after) = (&body[..at], &body[at + 1..]);
    if before.contains(other) {
        // `1.234,56`: `other` groups thousands, `sep` is the decimal separator.
        let groups: Vec<&str> = before.split(other).collect();
        if before.contains(sep) || !grouped(&groups) || after.is_empty() {
            return Err(invalid("misplaced separators"));
        }
        cents_of(&groups.concat(), after)
    } else if before.contains(sep) {
        // `1.234.567`: the same separator more than once only groups thousands.
        let groups: Vec<&str> = body.split(sep).collect();
        if !grouped(&groups) {
            return Err(invalid("misplaced thousands separators"));
        }
        cents_of(&groups.concat(), "")
    } else if after.len() == 3 && grouped(&[before, after]) {
        // `1.234`: thousands (see `Money::parse`).
        cents_of(&format!("{before}{after}"), "")
    } else if before.is_empty() || after.is_empty() {
        Err(invalid("a separator needs digits on both sides"))
    } else {
        cents_of(before, after)
    }
}

/// Thousands groups: the first of one to three digits not starting with `0`, every other
/// of exactly three.
fn grouped(groups: &[&str]) -> bool {
    groups.iter().enumerate().all(|(i, g)| {
        g.bytes().all(|b| b.is_ascii_digit())
            && if i == 0 {
                (1..=3).contains(&g.len()) && !g.starts_with('0')
            } else {
                g.len() == 3
            }
    })
}

/// Cents of `whole` euros (non-empty digits) and `fraction` (digits, at most two).
fn cents_of(whole: &str, fraction: &str) -> Result<i64, Refusal> {
    if fraction.len() > 2 {
        return Err(sub_cent());
    }
    let euros: i64 = whole.parse().map_err(|_| too_large())?;
    let fraction_cents: i64 = match fraction.len() {
        0 => 0,
        1 => i64::from(fraction.as_bytes()[0] - b'0') * 10,
        _ => fraction.parse().map_err(|_| invalid("not a number"))?,
    };
    euros
        .checked_mul(100)
        .and_then(|c| c.checked_add(fraction_cents))
        .ok_or_else(too_large)
}

/// The Greek way: thousands grouped with `.`, a decimal comma, a space and `€`:
/// `1.234,56 €`, `-1,50 €`. (A plain space, as the portal's pages have always printed.)
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = self.0.unsigned_abs();
        let whole = (abs / 100).to_string();
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push('.');
            }
            grouped.push(digit);
        }
        let sign = if self.is_negative() { "-" } else { "" };
        write!(f, "{sign}{grouped},{:02} €", abs % 100)
    }
}

/// Sums of amounts the portal bounds (a fine's base, a declared revenue, a debt): like the
/// `i64` cents they replace, an overflow is a bug, not an input. Where an input could
/// overflow, use [`Money::checked_add`].
impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money(self.0 + other.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, other: Money) -> Money {
        Money(self.0 - other.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, other: Money) {
        self.0 += other.0;
    }
}

impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, other: Money) {
        self.0 -= other.0;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

/// `Money(1234.56)`: the amount, readable in a failed assertion.
impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({})", self.to_decimal_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(raw: &str) -> Result<i64, &'static str> {
        Money::parse(raw).map(Money::cents).map_err(|r| r.code)
    }

    #[test]
    fn typed_amounts_are_read_to_the_cent() {
        for (raw, expected) in [
            // The declaration form's accepted amounts (its parser before `Money`).
            ("12.345,67", 1_234_567),
            ("12345.67", 1_234_567),
            ("12345,67", 1_234_567),
            ("12,345.67", 1_234_567),
            (" 1.234.567,8 € ", 123_456_780),
            ("12.345", 1_234_500),
            ("1.234.567", 123_456_700),
            ("12345", 1_234_500),
            ("0", 0),
            ("0,05", 5),
            ("0.1", 10),
            ("10000000000", 1_000_000_000_000),
            // And the rest.
            ("1.234,56", 123_456),
            ("1234,56", 123_456),
            ("1234.56", 123_456),
            ("1234", 123_400),
            ("1.234", 123_400),
            ("1,234", 123_400),
            ("1,234,567", 123_456_700),
            ("1,234,567.89", 123_456_789),
            ("999.999,99", 99_999_999),
            ("12,5", 1250),
            ("12,50", 1250),
            ("0012,50", 1250),
            ("0,00", 0),
            ("12€", 1200),
            ("12 €", 1200),
            ("12\u{a0}€", 1200),
            ("\u{a0}12,50\u{a0}€\u{a0}", 1250),
            ("\t7\n", 700),
            // The largest amount there is, and one cent more.
            ("92233720368547758,07", i64::MAX),
            ("92.233.720.368.547.758,07", i64::MAX),
        ] {
            assert_eq!(cents(raw), Ok(expected), "{raw:?}");
        }
    }

    #[test]
    fn what_is_not_an_amount_is_refused_with_what_to_fix() {
        for (raw, code) in [
            ("", codes::REQUIRED),
            (" ", codes::REQUIRED),
            ("€", codes::REQUIRED),
            (" € ", codes::REQUIRED),
            // The declaration form's refused amounts (its parser before `Money`).
            ("-12,00", codes::NEGATIVE),
            ("12,345,67", codes::INVALID),
            ("12.34.56", codes::INVALID),
            ("1,2345", codes::SUB_CENT),
            ("12.3456", codes::SUB_CENT),
            ("abc", codes::INVALID),
            ("12,", codes::INVALID),
            (",5", codes::INVALID),
            ("1.23,45", codes::INVALID),
            ("12.345.67,8,9", codes::INVALID),
            ("1e5", codes::INVALID),
            ("99999999999999999999", codes::TOO_LARGE),
            // And the rest.
            ("-1", codes::NEGATIVE),
            ("-0", codes::NEGATIVE),
            ("-1.234,56 €", codes::NEGATIVE),
            ("-", codes::INVALID),
            ("--5", codes::INVALID),
            ("-+5", codes::INVALID),
            ("+5", codes::INVALID),
            ("5-", codes::INVALID),
            ("1-2", codes::INVALID),
            ("- 5", codes::INVALID),
            ("-abc", codes::INVALID),
            ("1 234,56", codes::INVALID),
            ("12 34", codes::INVALID),
            ("€12", codes::INVALID),
            ("12 € €", codes::INVALID),
            ("12€€", codes::INVALID),
            ("EUR 12", codes::INVALID),
            ("12,50 EUR", codes::INVALID),
            ("1,5e2", codes::INVALID),
            ("NaN", codes::INVALID),
            ("١٢", codes::INVALID),
            (".", codes::INVALID),
            (",", codes::INVALID),
            (".5", codes::INVALID),
            ("5.", codes::INVALID),
            ("1.234,", codes::INVALID),
            ("1.234,567", codes::SUB_CENT),
            ("1,234.567", codes::SUB_CENT),
            ("1234,567", codes::SUB_CENT),
            ("0.125", codes::SUB_CENT),
            ("0,001", codes::SUB_CENT),
            ("00.125", codes::SUB_CENT),
            ("0.123.456", codes::INVALID),
            ("1234.567.890", codes::INVALID),
            ("1.2345.678", codes::INVALID),
            ("92233720368547758,08", codes::TOO_LARGE),
            ("92233720368547759", codes::TOO_LARGE),
            ("92.233.720.368.547.759", codes::TOO_LARGE),
        ] {
            assert_eq!(cents(raw), Err(code), "{raw:?}");
        }
    }

    #[test]
    fn amounts_print_the_greek_way() {
        for (cents, shown) in [
            (0, "0,00 €"),
            (7, "0,07 €"),
            (50, "0,50 €"),
            (1250, "12,50 €"),
            (100_000, "1.000,00 €"),
            (123_456, "1.234,56 €"),
            (123_456_789, "1.234.567,89 €"),
            (-7, "-0,07 €"),
            (-150, "-1,50 €"),
            (-123_456, "-1.234,56 €"),
            (-100_000_000, "-1.000.000,00 €"),
            (i64::MAX, "92.233.720.368.547.758,07 €"),
            (i64::MIN, "-92.233.720.368.547.758,08 €"),
        ] {
            assert_eq!(Money::from_cents(cents).to_string(), shown, "{cents}");
        }
    }

    #[test]
    fn amounts_print_and_read_the_machine_way() {
        for (cents, text) in [
            (0, "0.00"),
            (5, "0.05"),
            (1250, "12.50"),
            (123_456, "1234.56"),
            (-5, "-0.05"),
            (-123_456, "-1234.56"),
            (i64::MAX, "92233720368547758.07"),
            (i64::MIN + 1, "-92233720368547758.07"),
        ] {
            let money = Money::from_cents(cents);
            assert_eq!(money.to_decimal_string(), text);
            assert_eq!(Money::from_decimal_str(text), Ok(money), "{text}");
            // The comma form, as a CSV cell or a refilled field holds it, reads back (what
            // people type is never negative).
            let comma = money.to_decimal_comma_string();
            assert_eq!(comma, text.replace('.', ","));
            if cents >= 0 && cents != i64::MAX {
                assert_eq!(Money::parse(&comma), Ok(money), "{comma}");
            }
        }
        assert_eq!(
            Money::from_cents(i64::MIN).to_decimal_string(),
            "-92233720368547758.08"
        );
        for (text, cents) in [("12", 1200), ("12.5", 1250), ("0.01", 1), ("007.10", 710)] {
            assert_eq!(Money::from_decimal_str(text).map(Money::cents), Ok(cents));
        }
        for (text, code) in [
            ("", codes::INVALID),
            ("12,50", codes::INVALID),
            ("1.234.56", codes::INVALID),
            ("+1", codes::INVALID),
            ("--1", codes::INVALID),
            (".5", codes::INVALID),
            ("5.", codes::INVALID),
            ("1e2", codes::INVALID),
            (" 1", codes::INVALID),
            ("1.234", codes::SUB_CENT),
            ("92233720368547758.08", codes::TOO_LARGE),
        ] {
            assert_eq!(
                Money::from_decimal_str(text).map_err(|r| r.code),
                Err(code),
                "{text:?}"
            );
        }
    }

    fn json(text: &str) -> Result<i64, &'static str> {
        let number: serde_json::Number = serde_json::from_str(text).expect("a JSON number");
        Money::from_json_number(&number)
            .map(Money::cents)
            .map_err(|r| r.code)
    }

    #[test]
    fn json_numbers_are_decimal_euros() {
        for (text, cents) in [
            ("12", Ok(1200)),
            ("1.5", Ok(150)),
            ("1.50", Ok(150)),
            ("12.0", Ok(1200)),
            ("0", Ok(0)),
            ("0.0", Ok(0)),
            ("-0.0", Ok(0)),
            ("0.01", Ok(1)),
            ("1234.56", Ok(123_456)),
            ("-1.5", Ok(-150)),
            ("-12", Ok(-1200)),
            ("1.5e2", Ok(15_000)),
            ("15E-1", Ok(150)),
            ("1e-2", Ok(1)),
            ("1e+3", Ok(100_000)),
            ("0e999", Ok(0)),
            ("123456789012.34", Ok(12_345_678_901_234)),
            ("92233720368547758", Ok(9_223_372_036_854_775_800)),
            // Never thousands: a dot in a JSON number is the decimal point.
            ("1.234", Err(codes::SUB_CENT)),
            ("0.001", Err(codes::SUB_CENT)),
            ("1e-3", Err(codes::SUB_CENT)),
            ("0.30000000000000004", Err(codes::INVALID)),
            ("1234567890123.456", Err(codes::INVALID)),
            ("92233720368547759", Err(codes::TOO_LARGE)),
            ("18446744073709551615", Err(codes::TOO_LARGE)),
            ("1e300", Err(codes::TOO_LARGE)),
            ("1e-300", Err(codes::SUB_CENT)),
        ] {
            assert_eq!(json(text), cents, "{text}");
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::from_cents(150);
        assert_eq!(
            a.checked_add(Money::from_cents(-200)),
            Some(Money::from_cents(-50))
        );
        assert_eq!(a.checked_sub(a), Some(Money::ZERO));
        assert_eq!(
            Money::from_cents(i64::MAX).checked_add(Money::from_cents(1)),
            None
        );
        assert_eq!(
            Money::from_cents(i64::MIN).checked_sub(Money::from_cents(1)),
            None
        );
        assert!(Money::from_cents(-1).is_negative());
        assert!(!Money::ZERO.is_negative() && Money::ZERO.is_zero());
        assert!(Money::from_cents(1).is_positive());
        assert!(Money::from_cents(-1) < Money::ZERO && Money::ZERO < Money::from_cents(1));
        assert_eq!(Money::default(), Money::ZERO);
        assert_eq!(format!("{:?}", Money::from_cents(-150)), "Money(-1.50)");
    }

    #[test]
    fn serialized_as_cents() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Paid {
            amount_cents: Money,
        }
        let paid = Paid {
            amount_cents: Money::from_cents(-1250),
        };
        let json = serde_json::to_string(&paid).unwrap();
        assert_eq!(json, r#"{"amount_cents":-1250}"#);
        assert_eq!(serde_json::from_str::<Paid>(&json).unwrap(), paid);
        assert!(serde_json::from_str::<Money>("12.5").is_err());
        assert!(serde_json::from_str::<Money>("\"12\"").is_err());
    }

    #[test]
    fn printed_amounts_read_back() {
        for cents in [
            0,
            1,
            99,
            100,
            123_456,
            100_000_000,
            999_999_999_999,
            i64::MAX,
        ] {
            let money = Money::from_cents(cents);
            assert_eq!(Money::parse(&money.to_string()), Ok(money), "{cents}");
            assert_eq!(
                Money::parse(&money.to_decimal_string()),
                Ok(money),
                "{cents}"
            );
        }
    }
}
