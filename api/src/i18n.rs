//! User-facing messages in Greek and English, keyed by stable codes. The texts live in
//! `api/locales/{el,en}.json`; Greek is the default, English on request.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::HeaderMap;

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
        let mut ranked = accept_language::parse_with_quality(value);
        // A stable sort: equal qualities keep the order the client wrote them in.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
            .iter()
            .filter(|(_, quality)| *quality > 0.0)
            .find_map(|(tag, _)| {
                let primary = tag.split(['-', '_']).next().unwrap_or("");
                if primary.eq_ignore_ascii_case("el") {
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

type Catalog = HashMap<String, String>;

fn catalogs() -> &'static (Catalog, Catalog) {
    static CATALOGS: OnceLock<(Catalog, Catalog)> = OnceLock::new();
    CATALOGS.get_or_init(|| {
        let el = serde_json::from_str(include_str!("../locales/el.json"))
            .expect("locales/el.json is a flat JSON object of strings");
        let en = serde_json::from_str(include_str!("../locales/en.json"))
            .expect("locales/en.json is a flat JSON object of strings");
        (el, en)
    })
}

/// Whether `code` has a message (in both languages; a test keeps them in step).
pub fn has_message(code: &str) -> bool {
    catalogs().0.contains_key(code)
}

/// The message for `code`; a code without one falls back to the generic failure text
/// (and is logged, since every code should have a message).
pub fn message(lang: Lang, code: &str) -> String {
    let (el, en) = catalogs();
    let catalog = match lang {
        Lang::El => el,
        Lang::En => en,
    };
    match catalog.get(code) {
        Some(text) => text.clone(),
        None => {
            tracing::warn!(code, "no message for this code");
            catalog.get("internal").cloned().unwrap_or_default()
        }
    }
}

/// What the bank shows as the payment of a declaration of `period` by `afm`.
pub fn declaration_payment_description(period: &domain::business::TaxPeriod, afm: &str) -> String {
    message(Lang::El, "declaration_payment_description")
        .replace("{period}", &period.label_el())
        .replace("{afm}", afm)
}

/// What the bank shows as the payment of certified debt `debt_id` of `afm`.
pub fn tax_debt_payment_description(debt_id: &str, afm: &str) -> String {
    message(Lang::El, "tax_debt_payment_description")
        .replace("{debt_id}", debt_id)
        .replace("{afm}", afm)
}

/// What the bank shows as the payment of a fine (in Greek, the municipality's language).
pub fn fine_payment_description(fine: &domain::traffic_fine::RegisteredFine) -> String {
    message(Lang::El, "fine_payment_description")
        .replace("{number}", &fine.fine_number)
        .replace("{plate}", &fine.plate)
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
    }

    #[test]
    fn both_languages_have_the_same_codes() {
        let (el, en) = catalogs();
        let mut el_keys: Vec<_> = el.keys().collect();
        let mut en_keys: Vec<_> = en.keys().collect();
        el_keys.sort();
        en_keys.sort();
        assert_eq!(el_keys, en_keys);
    }

    /// A code written twice in a catalogue: JSON keeps the last silently, so one of the
    /// two messages would never be read.
    #[test]
    fn no_code_is_written_twice() {
        for (name, text) in [
            ("el", include_str!("../locales/el.json")),
            ("en", include_str!("../locales/en.json")),
        ] {
            let mut seen = std::collections::HashSet::new();
            for line in text.lines() {
                let Some(key) = line.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some((key, _)) = key.split_once("\":") else {
                    continue;
                };
                assert!(seen.insert(key.to_string()), "{name}.json: {key} twice");
            }
        }
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
