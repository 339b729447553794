//! Traffic fines (ΚΟΚ) payable to the municipality: the values a citizen types from the
//! ticket (plate, fine number), and the municipality's fine configuration as data (its
//! code, the payable fine types, and the reductions/surcharges by elapsed days) with the
//! pure rule that turns a base amount into the amount due on a given day.
//!
//! Money is [`Money`] (integer euro cents, like the payment aggregate). Days are calendar days
//! in the municipality's time zone: the caller turns the offence instant into a local date.

use crate::Money;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::Refusal;

/// Latin capitals that look like the Greek capitals allowed on plates, and those Greek
/// capitals. People type plates on Latin keyboards; the two must compare equal.
const LOOK_ALIKES: [(char, char); 14] = [
    ('A', 'Α'),
    ('B', 'Β'),
    ('E', 'Ε'),
    ('Z', 'Ζ'),
    ('H', 'Η'),
    ('I', 'Ι'),
    ('K', 'Κ'),
    ('M', 'Μ'),
    ('N', 'Ν'),
    ('O', 'Ο'),
    ('P', 'Ρ'),
    ('T', 'Τ'),
    ('Y', 'Υ'),
    ('X', 'Χ'),
];

fn latin_to_greek(c: char) -> char {
    LOOK_ALIKES
        .iter()
        .find(|(latin, _)| *latin == c)
        .map_or(c, |(_, greek)| *greek)
}

fn greek_to_latin(c: char) -> char {
    LOOK_ALIKES
        .iter()
        .find(|(_, greek)| *greek == c)
        .map_or(c, |(latin, _)| *latin)
}

fn is_plate_letter(c: char) -> bool {
    LOOK_ALIKES.iter().any(|(_, greek)| *greek == c)
}

/// Drops the separators people type inside plates and ticket numbers.
fn without_separators(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '\u{00A0}' | '\u{2010}'..='\u{2013}'))
        .collect()
}

/// A Greek vehicle registration plate, stored canonically as `ΥΧΡ-1234` (or `ΥΧ-1234`):
/// 2 or 3 capital letters from Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ, a dash, 4 digits.
///
/// Parsing accepts lower case, spaces or no dash, and Latin look-alike letters
/// (`ABEZHIKMNOPTYX`), which it turns into the Greek ones, so that `yxp 1234` and
/// `ΥΧΡ-1234` are the same plate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Plate(String);

impl Plate {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let kept: String = without_separators(raw.trim())
            .to_uppercase()
            .chars()
            .map(latin_to_greek)
            .collect();
        if kept.is_empty() {
            return Err(Refusal::invalid("plate_required", "must not be empty"));
        }
        let letters: String = kept.chars().take_while(|c| !c.is_ascii_digit()).collect();
        let digits: String = kept.chars().skip(letters.chars().count()).collect();
        let letters_ok =
            (2..=3).contains(&letters.chars().count()) && letters.chars().all(is_plate_letter);
        let digits_ok = digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit());
        if !letters_ok || !digits_ok {
            return Err(Refusal::invalid(
                "plate_invalid",
                "2 or 3 letters of ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ and 4 digits, e.g. ΥΧΡ-1234",
            ));
        }
        Ok(Self(format!("{letters}-{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Plate {
    type Error = Refusal;
    fn try_from(raw: String) -> Result<Self, Refusal> {
        Self::parse(&raw)
    }
}

impl From<Plate> for String {
    fn from(plate: Plate) -> String {
        plate.0
    }
}

impl std::fmt::Display for Plate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The number printed on a traffic ticket: 6 to 15 Latin capitals or digits, at least one
/// digit. Spaces, dashes and dots are dropped, letters are upper-cased, and Greek capitals
/// that look like Latin ones (typed with a Greek keyboard layout) become Latin, so one
/// ticket has exactly one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FineNumber(String);

impl FineNumber {
    pub const MIN_CHARS: usize = 6;
    pub const MAX_CHARS: usize = 15;

    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let kept: String = without_separators(raw.trim())
            .to_uppercase()
            .chars()
            .map(greek_to_latin)
            .collect();
        if kept.is_empty() {
            return Err(Refusal::invalid(
                "fine_number_required",
                "must not be empty",
            ));
        }
        let count = kept.chars().count();
        let ok = (Self::MIN_CHARS..=Self::MAX_CHARS).contains(&count)
            && kept
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && kept.chars().any(|c| c.is_ascii_digit());
        if !ok {
            return Err(Refusal::invalid(
                "fine_number_invalid",
                "6 to 15 letters or digits as printed on the ticket",
            ));
        }
        Ok(Self(kept))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FineNumber {
    type Error = Refusal;
    fn try_from(raw: String) -> Result<Self, Refusal> {
        Self::parse(&raw)
    }
}

impl From<FineNumber> for String {
    fn from(number: FineNumber) -> String {
        number.0
    }
}

impl std::fmt::Display for FineNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `[fines]` section of the municipality's configuration (see
/// `config/fines.example.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinesConfig {
    /// The municipality's code as printed on its tickets (1–10 Latin letters or digits).
    pub municipality_code: String,
    /// The fine types payable to the municipality through the portal.
    pub types: Vec<FineType>,
    /// The reductions and surcharges by elapsed days, in order, covering every day from
    /// the day of the offence (day 0) on.
    pub adjustments: Vec<AdjustmentRule>,
}

/// A fine type payable to the municipality, with its base amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FineType {
    /// As printed on the ticket: 1–16 of `A–Z 0–9 . - _`.
    pub code: String,
    pub name_el: String,
    pub name_en: String,
    /// The base amount in euro cents, before any reduction or surcharge.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1))]
    pub base_cents: Money,
}

/// One band of the schedule: on the days `from_day..=to_day` after the offence (day 0 is
/// the day of the offence; no `to_day`: every day after), the base amount changes by
/// `percent` (negative: a reduction, positive: a surcharge, 0: the base amount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRule {
    /// A stable key naming the band for the pages and the translation files
    /// (e.g. `early_payment_reduction`).
    pub code: String,
    pub from_day: u32,
    #[serde(default)]
    pub to_day: Option<u32>,
    pub percent: i32,
}

/// The amount due for a fine on one day, and until when it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountQuote {
    pub base_cents: Money,
    /// Negative for a reduction, positive for a surcharge.
    pub adjustment_cents: Money,
    pub total_cents: Money,
    /// Calendar days from the offence's date to the day quoted (0: the same day).
    pub elapsed_days: u32,
    pub rule_applied: AdjustmentRule,
    /// The last day (inclusive) on which `total_cents` is the amount due; `None` if the
    /// amount never changes again.
    pub valid_until: Option<NaiveDate>,
}

/// The highest base amount the configuration accepts (100,000 €): a guard against a typo
/// that puts euros × 100 into cents twice.
pub const MAX_BASE_CENTS: Money = Money::from_cents(10_000_000);

fn code_ok(code: &str, max: usize, extra: &[char]) -> bool {
    !code.is_empty()
        && code.len() <= max
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || extra.contains(&c))
}

impl FinesConfig {
    /// Checks what the type system cannot: a well-formed municipality code, at least one
    /// fine type with a unique code and a sane amount, and a schedule that covers every
    /// day from the offence on exactly once.
    pub fn check(&self) -> Result<(), String> {
        if !code_ok(&self.municipality_code, 10, &[]) {
            return Err(format!(
                "fines.municipality_code {:?}: 1 to 10 capital Latin letters or digits",
                self.municipality_code
            ));
        }
        if self.types.is_empty() {
            return Err("fines.types: list at least one fine type".into());
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.types {
            if !code_ok(&t.code, 16, &['.', '-', '_']) {
                return Err(format!(
                    "fines.types: code {:?} must be 1 to 16 of A-Z 0-9 . - _",
                    t.code
                ));
            }
            if !seen.insert(t.code.as_str()) {
                return Err(format!("fines.types: code {:?} appears twice", t.code));
            }
            if t.name_el.trim().is_empty() || t.name_en.trim().is_empty() {
                return Err(format!(
                    "fines.types {:?}: name_el and name_en must not be empty",
                    t.code
                ));
            }
            if !(Money::from_cents(1)..=MAX_BASE_CENTS).contains(&t.base_cents) {
                return Err(format!(
                    "fines.types {:?}: base_cents must be 1 to {} (cents)",
                    t.code,
                    MAX_BASE_CENTS.cents()
                ));
            }
        }
        check_schedule(&self.adjustments)
    }

    /// Refuses a municipality code (as typed from the ticket) that is not this
    /// municipality's: another municipality's fine cannot be paid here.
    pub fn check_municipality_code(&self, raw: &str) -> Result<(), Refusal> {
        let typed = without_separators(raw.trim()).to_ascii_uppercase();
        if typed.is_empty() {
            return Err(Refusal::invalid(
                "municipality_code_required",
                "must not be empty",
            ));
        }
        if !code_ok(&typed, 10, &[]) {
            return Err(Refusal::invalid(
                "municipality_code_invalid",
                "1 to 10 letters or digits as printed on the ticket",
            ));
        }
        if typed != self.municipality_code {
            return Err(Refusal::rule(
                "municipality_code_foreign",
                format!(
                    "code {typed} is another municipality's; this portal takes fines of {}",
                    self.municipality_code
                ),
            ));
        }
        Ok(())
    }

    /// The payable fine type with this code (surrounding spaces and case ignored).
    pub fn payable_type(&self, raw: &str) -> Result<&FineType, Refusal> {
        let code = raw.trim().to_ascii_uppercase();
        if code.is_empty() {
            return Err(Refusal::invalid("fine_type_required", "must not be empty"));
        }
        self.types.iter().find(|t| t.code == code).ok_or_else(|| {
            Refusal::rule(
                "fine_type_not_payable",
                format!("fine type {code:?} is not payable to this municipality"),
            )
        })
    }

    /// The amount due today for a fine of this type committed on `offence_date`.
    pub fn quote(
        &self,
        fine_type: &FineType,
        offence_date: NaiveDate,
        today: NaiveDate,
    ) -> Result<AmountQuote, Refusal> {
        amount_due(fine_type.base_cents, offence_date, today, &self.adjustments)
    }
}

fn check_schedule(rules: &[AdjustmentRule]) -> Result<(), String> {
    let Some(first) = rules.first() else {
        return Err("fines.adjustments: list at least one band (from_day = 0)".into());
    };
    if first.from_day != 0 {
        return Err("fines.adjustments: the first band must start at from_day = 0".into());
    }
    let mut next_day = 0u32;
    for (i, rule) in rules.iter().enumerate() {
        let name = format!("fines.adjustments[{i}] {:?}", rule.code);
        if rule.code.is_empty()
            || !rule
                .code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!(
                "{name}: code must be lower-case letters, digits and _"
            ));
        }
        if rule.from_day != next_day {
            return Err(format!(
                "{name}: from_day must be {next_day} (no gaps, no overlaps)"
            ));
        }
        if !(-99..=100).contains(&rule.percent) {
            return Err(format!("{name}: percent must be -99 to 100"));
        }
        let last = i + 1 == rules.len();
        match rule.to_day {
            Some(to) if to < rule.from_day => {
                return Err(format!("{name}: to_day must not be before from_day"));
            }
            Some(_) if last => {
                return Err(format!(
                    "{name}: the last band must have no to_day (it covers every later day)"
                ));
            }
            Some(to) => next_day = to + 1,
            None if !last => {
                return Err(format!("{name}: only the last band may omit to_day"));
            }
            None => {}
        }
    }
    Ok(())
}

/// `base × percent / 100` in whole cents, rounded to the nearest cent; an exact half cent
/// is rounded in the payer's favour (a reduction of 2000.5 becomes 2001, a surcharge of
/// 400.5 becomes 400).
pub fn adjustment_cents(base_cents: Money, percent: i32) -> Money {
    Money::from_cents((base_cents.cents() * i64::from(percent) + 49).div_euclid(100))
}

/// The band of `rules` that explains why a fine with base amount `base_cents`, committed on
/// `offence_date`, is due `amount` on `today` (a reduction or a surcharge): the band that
/// gives exactly that amount. `None` when the amount is the base amount, or when the
/// schedule gives another amount (the fines system adjusted it by a rule of its own).
pub fn band_explaining(
    base_cents: Money,
    amount: Money,
    offence_date: NaiveDate,
    today: NaiveDate,
    rules: &[AdjustmentRule],
) -> Option<AdjustmentRule> {
    amount_due(base_cents, offence_date, today, rules)
        .ok()
        .filter(|q| q.total_cents == amount && q.rule_applied.percent != 0)
        .map(|q| q.rule_applied)
}

/// Until when a quote may be paid: `ttl` from `now`, but never past the day the fines
/// system holds the amount (`amount_valid_until`, a day in Athens: its end is the first
/// instant of the next day there).
pub fn quote_valid_until(
    now: chrono::DateTime<chrono::Utc>,
    ttl: chrono::Duration,
    amount_valid_until: Option<NaiveDate>,
) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let end_of_day = |day: NaiveDate| {
        let next = day.checked_add_days(chrono::Days::new(1))?;
        chrono_tz::Europe::Athens
            .from_local_datetime(&next.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let valid_until = now + ttl;
    match amount_valid_until.and_then(end_of_day) {
        Some(end) => valid_until.min(end),
        None => valid_until,
    }
}

/// Refuses an offence after `now` (`offence_date_in_future`): a ticket is written after
/// the offence. (The schedule's [`amount_due`] refuses a later day for the same reason.)
pub fn check_offence_not_in_future(
    offence_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Refusal> {
    if offence_at > now {
        return Err(Refusal::invalid(
            "offence_date_in_future",
            format!("offence at {offence_at}, now is {now}"),
        ));
    }
    Ok(())
}

/// The amount due on `today` for a fine with base amount `base_cents` committed on
/// `offence_date`, under a schedule that passed [`FinesConfig::check`].
///
/// Refuses an offence dated after `today` (`offence_date_in_future`).
pub fn amount_due(
    base_cents: Money,
    offence_date: NaiveDate,
    today: NaiveDate,
    rules: &[AdjustmentRule],
) -> Result<AmountQuote, Refusal> {
    let elapsed = (today - offence_date).num_days();
    let elapsed = u32::try_from(elapsed).map_err(|_| {
        Refusal::invalid(
            "offence_date_in_future",
            format!("offence on {offence_date}, today is {today}"),
        )
    })?;
    let covers =
        |r: &AdjustmentRule| r.from_day <= elapsed && r.to_day.is_none_or(|to| elapsed <= to);
    let index = rules.iter().position(covers).ok_or_else(|| {
        Refusal::unavailable(
            "fines_schedule_incomplete",
            format!("no adjustment band covers day {elapsed}"),
        )
    })?;
    let rule = &rules[index];
    // The amount holds until the first later band with another percent starts.
    let changes_on_day = rules[index + 1..]
        .iter()
        .find(|r| r.percent != rule.percent)
        .map(|r| r.from_day);
    let valid_until = changes_on_day
        .and_then(|day| offence_date.checked_add_days(Days::new(u64::from(day))))
        .and_then(|d| d.pred_opt());
    let adjustment = adjustment_cents(base_cents, rule.percent);
    Ok(AmountQuote {
        base_cents,
        adjustment_cents: adjustment,
        total_cents: base_cents + adjustment,
        elapsed_days: elapsed,
        rule_applied: rule.clone(),
        valid_until,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_band_that_gives_an_amount_explains_it() {
        let rules = vec![
            AdjustmentRule {
                code: "early".into(),
                from_day: 0,
                to_day: Some(10),
                percent: -50,
            },
            AdjustmentRule {
                code: "base".into(),
                from_day: 11,
                to_day: Some(60),
                percent: 0,
            },
            AdjustmentRule {
                code: "late".into(),
                from_day: 61,
                to_day: None,
                percent: 20,
            },
        ];
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
        let base = Money::from_cents(8000);
        let band = band_explaining(base, Money::from_cents(4000), day(1), day(4), &rules);
        assert_eq!(band.map(|b| b.code).as_deref(), Some("early"));
        // The base amount needs no band; an amount the schedule does not give has none.
        assert_eq!(band_explaining(base, base, day(1), day(20), &rules), None);
        assert_eq!(
            band_explaining(base, Money::from_cents(3900), day(1), day(4), &rules),
            None
        );
    }

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn rule(code: &str, from_day: u32, to_day: Option<u32>, percent: i32) -> AdjustmentRule {
        AdjustmentRule {
            code: code.into(),
            from_day,
            to_day,
            percent,
        }
    }

    /// -50 % on days 0–10, the base amount on days 11–60, +20 % from day 61 on.
    fn schedule() -> Vec<AdjustmentRule> {
        vec![
            rule("early", 0, Some(10), -50),
            rule("standard", 11, Some(60), 0),
            rule("late", 61, None, 20),
        ]
    }

    fn config() -> FinesConfig {
        FinesConfig {
            municipality_code: "9999".into(),
            types: vec![FineType {
                code: "P01".into(),
                name_el: "Στάθμευση σε θέση ΑμεΑ".into(),
                name_en: "Parking in a disabled bay".into(),
                base_cents: Money::from_cents(8000),
            }],
            adjustments: schedule(),
        }
    }

    #[test]
    fn plates_are_normalised_to_the_greek_canonical_form() {
        for raw in [
            "ΥΧΡ-1234",
            "ΥΧΡ1234",
            "ΥΧΡ 1234",
            "  υχρ-1234 ",
            "YXP1234",
            "yxp 1234",
            "ΥXΡ-1234",
            "Υ Χ Ρ 1 2 3 4",
            "ΥΧΡ–1234",
        ] {
            assert_eq!(Plate::parse(raw).unwrap().as_str(), "ΥΧΡ-1234", "{raw:?}");
        }
        assert_eq!(Plate::parse("ik 5678").unwrap().as_str(), "ΙΚ-5678");
        assert_eq!(
            Plate::parse("ABEZHIKMNOPTYX").unwrap_err().code,
            "plate_invalid"
        );
        let all: Vec<String> = LOOK_ALIKES
            .iter()
            .map(|(latin, greek)| {
                let from_latin = Plate::parse(&format!("{latin}{latin}1000")).unwrap();
                assert_eq!(from_latin.as_str(), format!("{greek}{greek}-1000"));
                from_latin.to_string()
            })
            .collect();
        assert_eq!(all.len(), 14);
    }

    #[test]
    fn plates_with_letters_not_used_on_greek_plates_are_refused() {
        for raw in [
            "ΓΧΡ-1234", // Γ
            "QXP-1234", // Q
            "ΥΧΣ-1234", // Σ
            "CXP-1234", // C has no Greek look-alike on plates
            "ΥΧΡ-123",
            "ΥΧΡ-12345",
            "Υ-1234",
            "ΥΧΡΑ-1234",
            "1234-ΥΧΡ",
            "ΥΧΡ-12Α4",
            "ΥΧΡ/1234",
            "ύχρ-1234", // accented
        ] {
            assert_eq!(
                Plate::parse(raw).unwrap_err().code,
                "plate_invalid",
                "{raw:?}"
            );
        }
        assert_eq!(Plate::parse("").unwrap_err().code, "plate_required");
        assert_eq!(Plate::parse(" - ").unwrap_err().code, "plate_required");
    }

    #[test]
    fn plates_deserialise_only_when_valid() {
        let p: Plate = serde_json::from_str("\"yxp 1234\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"ΥΧΡ-1234\"");
        assert!(serde_json::from_str::<Plate>("\"QQQ-1234\"").is_err());
    }

    #[test]
    fn fine_numbers() {
        assert_eq!(FineNumber::parse(" 123 456 ").unwrap().as_str(), "123456");
        assert_eq!(
            FineNumber::parse("ab-1234567").unwrap().as_str(),
            "AB1234567"
        );
        // Greek capitals typed on a Greek keyboard become the Latin look-alikes.
        assert_eq!(
            FineNumber::parse("ΑΒ1234567").unwrap().as_str(),
            "AB1234567"
        );
        assert_eq!(
            FineNumber::parse("αβ1234567").unwrap().as_str(),
            "AB1234567"
        );
        assert!(FineNumber::parse("123456789012345").is_ok());
        for raw in [
            "12345",
            "1234567890123456",
            "ΓΔ123456",
            "ABCDEFG",
            "12345/6",
        ] {
            assert_eq!(
                FineNumber::parse(raw).unwrap_err().code,
                "fine_number_invalid",
                "{raw:?}"
            );
        }
        assert_eq!(
            FineNumber::parse("  ").unwrap_err().code,
            "fine_number_required"
        );
    }

    #[test]
    fn schedule_boundaries_day_by_day() {
        let offence = date(2026, 3, 1);
        for day in 0..=70u32 {
            let today = offence + chrono::Duration::days(i64::from(day));
            let q = amount_due(Money::from_cents(8000), offence, today, &schedule()).unwrap();
            assert_eq!(q.elapsed_days, day);
            let (code, total, until) = match day {
                0..=10 => ("early", 4000, Some(date(2026, 3, 11))),
                11..=60 => ("standard", 8000, Some(date(2026, 4, 30))),
                _ => ("late", 9600, None),
            };
            assert_eq!(q.rule_applied.code, code, "day {day}");
            assert_eq!(q.total_cents, Money::from_cents(total), "day {day}");
            assert_eq!(q.base_cents + q.adjustment_cents, q.total_cents);
            assert_eq!(q.valid_until, until, "day {day}");
        }
    }

    #[test]
    fn valid_until_skips_bands_with_the_same_percent() {
        let rules = vec![
            rule("early", 0, Some(4), -30),
            rule("early_too", 5, Some(9), -30),
            rule("standard", 10, None, 0),
        ];
        let q = amount_due(
            Money::from_cents(1000),
            date(2026, 1, 1),
            date(2026, 1, 2),
            &rules,
        )
        .unwrap();
        assert_eq!(q.total_cents, Money::from_cents(700));
        assert_eq!(q.valid_until, Some(date(2026, 1, 10)));
    }

    #[test]
    fn offence_in_the_future_is_refused() {
        let err = amount_due(
            Money::from_cents(8000),
            date(2026, 3, 2),
            date(2026, 3, 1),
            &schedule(),
        )
        .unwrap_err();
        assert_eq!(err.code, "offence_date_in_future");
    }

    #[test]
    fn rounding_is_to_the_cent_with_halves_in_the_payers_favour() {
        assert_eq!(
            adjustment_cents(Money::from_cents(4001), -50),
            Money::from_cents(-2001)
        ); // -2000.5
        assert_eq!(
            adjustment_cents(Money::from_cents(4005), 10),
            Money::from_cents(400)
        ); // 400.5
        assert_eq!(
            adjustment_cents(Money::from_cents(4006), 10),
            Money::from_cents(401)
        ); // 400.6
        assert_eq!(
            adjustment_cents(Money::from_cents(4004), 10),
            Money::from_cents(400)
        ); // 400.4
        assert_eq!(
            adjustment_cents(Money::from_cents(3333), -33),
            Money::from_cents(-1100)
        ); // -1099.89
        assert_eq!(
            adjustment_cents(Money::from_cents(101), -1),
            Money::from_cents(-1)
        ); // -1.01
        assert_eq!(
            adjustment_cents(Money::from_cents(150), -1),
            Money::from_cents(-2)
        ); // -1.5
        assert_eq!(
            adjustment_cents(Money::from_cents(149), -1),
            Money::from_cents(-1)
        ); // -1.49
        assert_eq!(
            adjustment_cents(Money::from_cents(8000), 0),
            Money::from_cents(0)
        );
        let q = amount_due(
            Money::from_cents(4001),
            date(2026, 1, 1),
            date(2026, 1, 1),
            &schedule(),
        )
        .unwrap();
        assert_eq!(
            (q.adjustment_cents.cents(), q.total_cents.cents()),
            (-2001, 2000)
        );
    }

    #[test]
    fn municipality_code_and_fine_type() {
        let c = config();
        assert!(c.check().is_ok());
        assert!(c.check_municipality_code(" 9999 ").is_ok());
        assert!(c.check_municipality_code("99 99").is_ok());
        let foreign = c.check_municipality_code("1234").unwrap_err();
        assert_eq!(foreign.code, "municipality_code_foreign");
        assert_eq!(foreign.kind, crate::refusal::RefusalKind::Rule);
        assert_eq!(
            c.check_municipality_code("").unwrap_err().code,
            "municipality_code_required"
        );
        assert_eq!(
            c.check_municipality_code("99/99").unwrap_err().code,
            "municipality_code_invalid"
        );
        assert_eq!(
            c.payable_type(" p01 ").unwrap().base_cents,
            Money::from_cents(8000)
        );
        assert_eq!(
            c.payable_type("P02").unwrap_err().code,
            "fine_type_not_payable"
        );
        assert_eq!(c.payable_type("").unwrap_err().code, "fine_type_required");
        let t = c.payable_type("P01").unwrap();
        let q = c.quote(t, date(2026, 3, 1), date(2026, 3, 5)).unwrap();
        assert_eq!(q.total_cents, Money::from_cents(4000));
    }

    fn check_error(change: impl FnOnce(&mut FinesConfig)) -> String {
        let mut c = config();
        change(&mut c);
        c.check().unwrap_err()
    }

    #[test]
    fn config_check_names_what_to_fix() {
        assert!(check_error(|c| c.municipality_code = "".into()).contains("municipality_code"));
        assert!(check_error(|c| c.municipality_code = "99a".into()).contains("municipality_code"));
        assert!(check_error(|c| c.types.clear()).contains("at least one fine type"));
        assert!(check_error(|c| c.types[0].code = "p 1".into()).contains("code"));
        assert!(check_error(|c| {
            let t = c.types[0].clone();
            c.types.push(t);
        })
        .contains("appears twice"));
        assert!(
            check_error(|c| c.types[0].base_cents = Money::from_cents(0)).contains("base_cents")
        );
        assert!(
            check_error(|c| c.types[0].base_cents = MAX_BASE_CENTS + Money::from_cents(1))
                .contains("base_cents")
        );
        assert!(check_error(|c| c.types[0].name_el = " ".into()).contains("name_el"));
        assert!(check_error(|c| c.adjustments.clear()).contains("at least one band"));
        assert!(check_error(|c| c.adjustments[0].from_day = 1).contains("from_day = 0"));
        assert!(check_error(|c| c.adjustments[1].from_day = 12).contains("no gaps"));
        assert!(check_error(|c| c.adjustments[1].from_day = 10).contains("no gaps"));
        assert!(check_error(|c| c.adjustments[0].to_day = None).contains("only the last"));
        assert!(check_error(|c| c.adjustments[2].to_day = Some(90)).contains("last band"));
        assert!(check_error(|c| c.adjustments[1].to_day = Some(5)).contains("before from_day"));
        assert!(check_error(|c| c.adjustments[0].percent = -100).contains("percent"));
        assert!(check_error(|c| c.adjustments[2].percent = 101).contains("percent"));
        assert!(check_error(|c| c.adjustments[0].code = "Early".into()).contains("code"));
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ExampleFile {
        fines: FinesConfig,
    }

    #[test]
    fn the_example_configuration_parses_and_checks() {
        let text = include_str!("../../config/fines.example.toml");
        let file: ExampleFile = toml::from_str(text).unwrap();
        file.fines.check().unwrap();
        assert!(file.fines.types.len() >= 3);
        let unknown = format!("{text}\n[fines.extra]\nx = 1\n");
        assert!(toml::from_str::<ExampleFile>(&unknown).is_err());
    }

    #[test]
    fn a_quote_is_valid_for_its_ttl_but_never_past_the_amounts_last_day() {
        use chrono::TimeZone;
        let now = chrono::Utc.with_ymd_and_hms(2026, 3, 10, 21, 0, 0).unwrap();
        let ttl = chrono::Duration::minutes(30);
        assert_eq!(quote_valid_until(now, ttl, None), now + ttl);
        // The amount holds until 10 March in Athens (UTC+2 in winter): its end is
        // 10 March 22:00 UTC, after the 30 minutes.
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(quote_valid_until(now, ttl, Some(day)), now + ttl);
        // Two hours of validity would pass midnight in Athens: cut at 22:00 UTC.
        let long = chrono::Duration::hours(2);
        assert_eq!(
            quote_valid_until(now, long, Some(day)),
            chrono::Utc.with_ymd_and_hms(2026, 3, 10, 22, 0, 0).unwrap()
        );
    }

    #[test]
    fn an_offence_cannot_come_after_now() {
        use chrono::TimeZone;
        let now = chrono::Utc.with_ymd_and_hms(2026, 3, 10, 21, 0, 0).unwrap();
        assert!(check_offence_not_in_future(now, now).is_ok());
        let later = now + chrono::Duration::seconds(1);
        let err = check_offence_not_in_future(later, now).unwrap_err();
        assert_eq!(err.code, "offence_date_in_future");
    }
}
