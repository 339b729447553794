//! User-facing messages in Greek and English, keyed by stable codes, with Project
//! Fluent (`fluent-bundle`): the texts live in `api/locales/{el,en}.ftl`; a message may take
//! arguments (`{ $afm }`) and choose its words by CLDR's plural rules of its language
//! (`{ $count -> [one] … *[other] … }`, [`count`]). Greek is the default, English on
//! request.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    El,
    En,
}

impl Lang {
    /// The text of this language, of a pair the configuration gives in both (`name_el`,
    /// `name_en`).
    pub fn pick(self, el: &str, en: &str) -> String {
        match self {
            Lang::El => el.to_string(),
            Lang::En => en.to_string(),
        }
    }

    /// The ISO 639-1 code (`el`, `en`), as the bank's card page takes it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::El => "el",
            Lang::En => "en",
        }
    }

    /// The language the client prefers of the two, by `Accept-Language` with its quality
    /// values (RFC 9110 §12.5.4: `en;q=0.3, el` is Greek; `q=0` means "not this one");
    /// Greek when it names neither. The header is parsed by the `accept-language` crate.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let Some(value) = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::El;
        };
        let mut ranked: Vec<(String, f32)> = accept_language::parse_with_quality(value)
            .into_iter()
            // A quality is at most 1 (`q=2` is a client's mistake, not a preference).
            .map(|(tag, quality)| (tag.trim().to_string(), quality.clamp(0.0, 1.0)))
            .collect();
        // A stable sort: equal qualities keep the order the client wrote them in.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
            .iter()
            .filter(|(_, quality)| *quality > 0.0)
            .find_map(|(tag, _)| {
                let primary = tag.split(['-', '_']).next().unwrap_or("");
                // `*`: any language, so the default one.
                if primary.eq_ignore_ascii_case("el") || primary == "*" {
                    Some(Lang::El)
                } else if primary.eq_ignore_ascii_case("en") {
                    Some(Lang::En)
                } else {
                    None
                }
            })
            .unwrap_or(Lang::El)
    }
}

type Bundle = FluentBundle<FluentResource>;

const EL_FTL: &str = include_str!("../locales/el.ftl");
const EN_FTL: &str = include_str!("../locales/en.ftl");

/// The catalogue of `lang_id` from `text`. A syntax error or a message written twice is a
/// bug of the build (the tests read both files), so it stops the portal at the first
/// message rather than showing a wrong text.
fn bundle(lang_id: &str, text: &str) -> Bundle {
    let resource = FluentResource::try_new(text.to_string())
        .unwrap_or_else(|(_, errors)| panic!("locales/{lang_id}.ftl does not parse: {errors:?}"));
    let lang = lang_id.parse().expect("a language identifier");
    let mut bundle = FluentBundle::new_concurrent(vec![lang]);
    // No Unicode isolation marks around arguments: the texts go into HTML, e-mail and PDF,
    // where they would be stray characters.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .unwrap_or_else(|errors| panic!("locales/{lang_id}.ftl: {errors:?}"));
    bundle
}

fn catalogs() -> &'static (Bundle, Bundle) {
    static CATALOGS: OnceLock<(Bundle, Bundle)> = OnceLock::new();
    CATALOGS.get_or_init(|| (bundle("el", EL_FTL), bundle("en", EN_FTL)))
}

fn catalog(lang: Lang) -> &'static Bundle {
    let (el, en) = catalogs();
    match lang {
        Lang::El => el,
        Lang::En => en,
    }
}

/// Whether `code` has a message (in both languages; a test keeps them in step).
pub fn has_message(code: &str) -> bool {
    catalogs().0.has_message(code)
}

/// Every message code (those of the Greek catalogue; a test keeps the English one in step).
pub fn codes() -> Vec<String> {
    codes_in(EL_FTL)
}

/// The message codes of a catalogue's text, each as often as it is written.
fn codes_in(text: &str) -> Vec<String> {
    match fluent_syntax::parser::parse(text) {
        Ok(resource) | Err((resource, _)) => resource
            .body
            .iter()
            .filter_map(|entry| match entry {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                _ => None,
            })
            .collect(),
    }
}

/// The message for `code`; a code without one falls back to the generic failure text
/// (and is logged, since every code should have a message).
pub fn message(lang: Lang, code: &str) -> String {
    format(lang, code, None)
}

/// The message for `code` with its arguments (`{ $name }` in the catalogue).
pub fn message_with(lang: Lang, code: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, value.clone());
    }
    format(lang, code, Some(&fluent_args))
}

/// The message for `code` about `count` things, its words chosen by the plural rules of
/// `lang` (`$count` in the catalogue).
pub fn count(lang: Lang, code: &str, count: usize) -> String {
    message_with(lang, code, &[("count", FluentValue::from(count))])
}

fn format(lang: Lang, code: &str, args: Option<&FluentArgs<'_>>) -> String {
    let bundle = catalog(lang);
    let Some(pattern) = bundle.get_message(code).and_then(|m| m.value()) else {
        tracing::warn!(code, "no message for this code");
        return match bundle.get_message("internal").and_then(|m| m.value()) {
            Some(pattern) => bundle
                .format_pattern(pattern, None, &mut Vec::new())
                .into_owned(),
            None => String::new(),
        };
    };
    let mut errors = Vec::new();
    let text = bundle
        .format_pattern(pattern, args, &mut errors)
        .into_owned();
    if !errors.is_empty() {
        tracing::warn!(
            code,
            ?errors,
            "a message's arguments do not match the catalogue"
        );
    }
    text
}

/// What the bank shows as the payment of a declaration of `period` by `afm`.
pub fn declaration_payment_description(period: &domain::business::TaxPeriod, afm: &str) -> String {
    message_with(
        Lang::El,
        "declaration_payment_description",
        &[
            ("period", FluentValue::from(period.label_el())),
            ("afm", FluentValue::from(afm)),
        ],
    )
}

/// What the bank shows as the payment of certified debt `debt_id` of `afm`.
pub fn tax_debt_payment_description(debt_id: &str, afm: &str) -> String {
    message_with(
        Lang::El,
        "tax_debt_payment_description",
        &[
            ("debt_id", FluentValue::from(debt_id)),
            ("afm", FluentValue::from(afm)),
        ],
    )
}

/// What the bank shows as the payment of a fine (in Greek, the municipality's language).
pub fn fine_payment_description(fine: &domain::traffic_fine::RegisteredFine) -> String {
    message_with(
        Lang::El,
        "fine_payment_description",
        &[
            ("number", FluentValue::from(fine.fine_number.as_str())),
            ("plate", FluentValue::from(fine.plate.as_str())),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_quality_values() {
        let lang = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::header::ACCEPT_LANGUAGE,
                axum::http::HeaderValue::from_static(value),
            );
            Lang::from_headers(&headers)
        };
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::El);
        assert_eq!(lang("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(lang("el-GR,el;q=0.9,en;q=0.8"), Lang::El);
        assert_eq!(lang("en;q=0.3, el"), Lang::El, "the higher quality wins");
        assert_eq!(lang("el;q=0.5, en;q=0.9"), Lang::En);
        assert_eq!(
            lang("fr-FR, en;q=0.5, de"),
            Lang::En,
            "the first one we speak"
        );
        assert_eq!(lang("en;q=0, el;q=0.1"), Lang::El, "q=0 refuses English");
        assert_eq!(lang("en;q=0"), Lang::El);
        assert_eq!(lang("fr, de"), Lang::El, "Greek when neither is named");
        assert_eq!(lang("*"), Lang::El);
        assert_eq!(lang("en, el"), Lang::En, "equal qualities keep their order");
        assert_eq!(
            lang("fr, *;q=0.9, en;q=0.1"),
            Lang::El,
            "* is Greek, the default"
        );
        assert_eq!(lang("en;q=0.5, el;q=2"), Lang::El, "q=2 counts as 1");
    }

    #[test]
    fn both_languages_have_the_same_codes() {
        let mut el = codes_in(EL_FTL);
        let mut en = codes_in(EN_FTL);
        el.sort();
        en.sort();
        assert_eq!(el, en);
        assert!(el.len() > 1000, "{}", el.len());
        // Both bundles load (no syntax error, no code written twice: Fluent refuses to
        // override a message, where JSON kept the last one silently).
        let _ = catalogs();
    }

    #[test]
    fn no_code_is_written_twice() {
        for (name, text) in [("el", EL_FTL), ("en", EN_FTL)] {
            let mut seen = std::collections::HashSet::new();
            for code in codes_in(text) {
                assert!(seen.insert(code.clone()), "{name}.ftl: {code} twice");
            }
        }
    }

    #[test]
    fn counts_follow_each_language_s_plural_rules() {
        assert_eq!(
            count(Lang::El, "ui_app_protocol_attempt_count", 1),
            "1 προσπάθεια πρωτοκόλλησης"
        );
        assert_eq!(
            count(Lang::El, "ui_app_protocol_attempt_count", 3),
            "3 προσπάθειες πρωτοκόλλησης"
        );
        assert_eq!(
            count(Lang::En, "ui_app_protocol_attempt_count", 1),
            "1 protocol attempt"
        );
        assert_eq!(
            count(Lang::En, "ui_app_protocol_attempt_count", 0),
            "0 protocol attempts"
        );
        assert_eq!(
            tax_debt_payment_description("ΒΟ-2026-7", "094014298"),
            "Βεβαιωμένη οφειλή Δημοτικού Φόρου ΒΟ-2026-7, ΑΦΜ 094014298"
        );
    }

    /// Every refusal code the domain can produce has a message.
    #[test]
    fn every_domain_refusal_code_has_a_message() {
        let mut missing = Vec::new();
        let mut found = 0;
        let root = format!("{}/../domain/src", env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(root)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).expect("domain sources listable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.to_string_lossy().ends_with("_tests.rs")
                {
                    files.push(path);
                }
            }
        }
        for path in files {
            let source = std::fs::read_to_string(&path).expect("domain source readable");
            for ctor in [
                "Refusal::rule(",
                "Refusal::invalid(",
                "Refusal::not_found(",
                "Refusal::unavailable(",
                "Refusal::forbidden(",
            ] {
                for piece in source.split(ctor).skip(1) {
                    let rest = piece.trim_start();
                    if let Some(code) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                        found += 1;
                        if !has_message(code) {
                            missing.push(code.to_string());
                        }
                    }
                }
            }
        }
        for field in [
            "subject",
            "text",
            "desired_action",
            "answer",
            "note",
            "company_name",
            "property_address",
            "postal_address",
            "client_name",
            "question",
            "reply",
        ] {
            for suffix in ["required", "too_long", "control_chars"] {
                let code = format!("{field}_{suffix}");
                if !has_message(&code) {
                    missing.push(code);
                }
            }
        }
        assert!(found > 10, "the scan found only {found} codes");
        assert!(missing.is_empty(), "codes without a message: {missing:?}");
    }

    #[test]
    fn accept_language_picks_english_only_when_preferred() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::El);
        h.insert("accept-language", "en-GB,en;q=0.9".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert("accept-language", "el-GR,en;q=0.8".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::El);
    }
}
