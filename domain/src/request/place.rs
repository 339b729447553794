//! Where a request is about and what kind of problem it reports (issue 15): a category of
//! the municipality's list (a GeoReport v2 service code) with its extra attributes, an
//! address and coordinates inside the municipality's area. Checked here against the
//! municipality's configuration ([`crate::municipality::RequestCategories`]); stored on
//! `RequestSubmitted` (version 1.1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::municipality::{AttributeType, RequestCategories};
use crate::refusal::FieldError;
use crate::values::{bounded_text, TextCodes};

/// The longest address kept.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// The longest answer to one attribute.
pub const MAX_ATTRIBUTE_CHARS: usize = 200;

/// A point, in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub lat: f64,
    pub long: f64,
}

/// The category, place and attribute answers of a request, checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// The category's service code, if one was chosen.
    pub category: Option<String>,
    pub address: Option<String>,
    pub location: Option<Coordinates>,
    /// The answers to the category's attributes, by attribute code.
    pub attributes: BTreeMap<String, String>,
}

/// The place as typed (every part optional, as text).
#[derive(Debug, Clone, Default)]
pub struct PlaceInput {
    pub category: Option<String>,
    pub address: Option<String>,
    pub lat: Option<String>,
    pub long: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A coordinate as typed: a decimal number with a point or a comma.
fn degrees(raw: &str) -> Option<f64> {
    let value: f64 = raw.trim().replace(',', ".").parse().ok()?;
    value.is_finite().then_some(value)
}

impl PlaceInput {
    /// The place, or every field to correct (`category`, `address`, `lat`, `long`,
    /// `attribute[{code}]`). `category_required`: whether the channel needs a category
    /// (GeoReport does; the portal's form does not).
    pub fn check(
        &self,
        categories: &RequestCategories,
        category_required: bool,
    ) -> Result<Place, Vec<FieldError>> {
        let mut errors = Vec::new();
        let category = match text(&self.category) {
            None => {
                if category_required {
                    errors.push(FieldError::new("category", "category_required"));
                }
                None
            }
            Some(code) => match categories.find(code) {
                Some(c) => Some(c),
                None => {
                    errors.push(FieldError::new("category", "category_unknown"));
                    None
                }
            },
        };
        // Addresses and answers follow the portal's one text policy (NFC, no control,
        // format or bidi characters); an address is one line.
        const ADDRESS: TextCodes = TextCodes {
            required: "address_required",
            too_long: "address_too_long",
            control_chars: "address_control_chars",
        };
        let address = match text(&self.address) {
            None => None,
            Some(raw) => match bounded_text(raw, MAX_ADDRESS_CHARS, false, &ADDRESS) {
                Ok(address) => Some(address),
                Err(refusal) => {
                    errors.push(FieldError::new("address", refusal.code));
                    None
                }
            },
        };
        let lat = text(&self.lat).map(|raw| (raw, degrees(raw)));
        let long = text(&self.long).map(|raw| (raw, degrees(raw)));
        let location = match (lat, long) {
            (None, None) => None,
            (Some(_), None) => {
                errors.push(FieldError::new("long", "long_required"));
                None
            }
            (None, Some(_)) => {
                errors.push(FieldError::new("lat", "lat_required"));
                None
            }
            (Some((_, lat)), Some((_, long))) => {
                let lat = lat.filter(|v| (-90.0..=90.0).contains(v));
                let long = long.filter(|v| (-180.0..=180.0).contains(v));
                if lat.is_none() {
                    errors.push(FieldError::new("lat", "lat_invalid"));
                }
                if long.is_none() {
                    errors.push(FieldError::new("long", "long_invalid"));
                }
                match (lat, long) {
                    (Some(lat), Some(long)) if categories.area.contains(lat, long) => {
                        Some(Coordinates { lat, long })
                    }
                    (Some(_), Some(_)) => {
                        errors.push(FieldError::new("lat", "location_outside_area"));
                        None
                    }
                    _ => None,
                }
            }
        };
        const ANSWER: TextCodes = TextCodes {
            required: "attribute_required",
            too_long: "attribute_invalid",
            control_chars: "attribute_invalid",
        };
        let mut attributes = BTreeMap::new();
        if let Some(c) = category {
            for code in self.attributes.keys() {
                if !c.attributes.iter().any(|a| &a.code == code) {
                    errors.push(FieldError::new(
                        &format!("attribute[{code}]"),
                        "attribute_unknown",
                    ));
                }
            }
            for a in &c.attributes {
                let field = format!("attribute[{}]", a.code);
                let answer = self
                    .attributes
                    .get(&a.code)
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty());
                let Some(answer) = answer else {
                    if a.required {
                        errors.push(FieldError::new(&field, "attribute_required"));
                    }
                    continue;
                };
                // A `text` answer may span lines; a `string` is one line.
                let multiline = a.datatype == AttributeType::Text;
                let answer = bounded_text(answer, MAX_ATTRIBUTE_CHARS, multiline, &ANSWER)
                    .ok()
                    .filter(|answer| match a.datatype {
                        AttributeType::String | AttributeType::Text => true,
                        AttributeType::Number => degrees(answer).is_some(),
                        AttributeType::Singlevaluelist => a.values.iter().any(|v| &v.key == answer),
                    });
                match answer {
                    Some(answer) => {
                        attributes.insert(a.code.clone(), answer);
                    }
                    None => errors.push(FieldError::new(&field, "attribute_invalid")),
                }
            }
        } else if !self.attributes.is_empty() && errors.iter().all(|e| e.field != "category") {
            errors.push(FieldError::new("category", "category_required"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Place {
            category: category.map(|c| c.service_code.clone()),
            address,
            location,
            attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::municipality::Municipality;

    fn categories() -> RequestCategories {
        let m: Municipality =
            toml::from_str(include_str!("../../../config/municipality.toml")).unwrap();
        m.check().unwrap();
        m.requests
    }

    fn codes(input: PlaceInput, required: bool) -> Vec<(String, String)> {
        match input.check(&categories(), required) {
            Ok(place) => panic!("accepted: {place:?}"),
            Err(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    fn pair(field: &str, code: &str) -> (String, String) {
        (field.to_string(), code.to_string())
    }

    #[test]
    fn a_category_with_its_answers_and_a_point_in_the_area_is_kept() {
        let place = PlaceInput {
            category: Some("street_light".into()),
            address: Some("  Ερμού 12 ".into()),
            lat: Some("37,9755".into()),
            long: Some("23.7348".into()),
            attributes: [
                ("lamp_post_number".to_string(), " ΦΣ-118 ".to_string()),
                ("lights_out".to_string(), "several".to_string()),
            ]
            .into(),
        }
        .check(&categories(), false)
        .unwrap();
        assert_eq!(place.category.as_deref(), Some("street_light"));
        assert_eq!(place.address.as_deref(), Some("Ερμού 12"));
        assert_eq!(
            place.location,
            Some(Coordinates {
                lat: 37.9755,
                long: 23.7348
            })
        );
        assert_eq!(place.attributes["lamp_post_number"], "ΦΣ-118");
        // Nothing at all is a request without a place (the portal's form); GeoReport
        // needs a category.
        assert_eq!(
            PlaceInput::default().check(&categories(), false).unwrap(),
            Place::default()
        );
        assert_eq!(
            codes(PlaceInput::default(), true),
            vec![pair("category", "category_required")]
        );
    }

    #[test]
    fn every_mistake_is_named_at_its_field() {
        assert_eq!(
            codes(
                PlaceInput {
                    category: Some("lamp".into()),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![pair("category", "category_unknown")]
        );
        assert_eq!(
            codes(
                PlaceInput {
                    category: Some("street_light".into()),
                    attributes: [
                        ("lights_out".to_string(), "all".to_string()),
                        ("colour".to_string(), "red".to_string()),
                    ]
                    .into(),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![
                pair("attribute[colour]", "attribute_unknown"),
                pair("attribute[lamp_post_number]", "attribute_required"),
                pair("attribute[lights_out]", "attribute_invalid"),
            ]
        );
        assert_eq!(
            codes(
                PlaceInput {
                    address: Some("α".repeat(MAX_ADDRESS_CHARS + 1)),
                    lat: Some("37.97".into()),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![
                pair("address", "address_too_long"),
                pair("long", "long_required")
            ]
        );
        assert_eq!(
            codes(
                PlaceInput {
                    lat: Some("βορράς".into()),
                    long: Some("200".into()),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![pair("lat", "lat_invalid"), pair("long", "long_invalid")]
        );
        // Thessaloniki is not in this municipality.
        assert_eq!(
            codes(
                PlaceInput {
                    lat: Some("40.64".into()),
                    long: Some("22.94".into()),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![pair("lat", "location_outside_area")]
        );
        assert_eq!(
            codes(
                PlaceInput {
                    attributes: [("lamp_post_number".to_string(), "1".to_string())].into(),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![pair("category", "category_required")]
        );
    }

    #[test]
    fn addresses_and_answers_follow_the_text_policy() {
        // A right-to-left override would make the address read differently in a queue.
        assert_eq!(
            codes(
                PlaceInput {
                    address: Some("Ερμού \u{202E}21".into()),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![pair("address", "address_control_chars")]
        );
        assert_eq!(
            codes(
                PlaceInput {
                    address: Some("Ερμού 12\nΑθήνα".into()),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![pair("address", "address_control_chars")]
        );
        // A `string` answer is one line; a `text` answer may span lines.
        assert_eq!(
            codes(
                PlaceInput {
                    category: Some("street_light".into()),
                    attributes: [("lamp_post_number".to_string(), "ΦΣ\n118".to_string())].into(),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![pair("attribute[lamp_post_number]", "attribute_invalid")]
        );
        assert_eq!(
            codes(
                PlaceInput {
                    category: Some("rubbish".into()),
                    attributes: [("bin_location".to_string(), "\u{200B}".to_string())].into(),
                    ..PlaceInput::default()
                },
                false
            ),
            vec![pair("attribute[bin_location]", "attribute_invalid")]
        );
        let place = PlaceInput {
            category: Some("rubbish".into()),
            // Decomposed (NFD) «ά»: kept composed.
            address: Some("  Οδο\u{3B1}\u{301}ς 3 ".into()),
            attributes: [(
                "bin_location".to_string(),
                "Στη γωνία,\nαπέναντι από το περίπτερο".to_string(),
            )]
            .into(),
            ..PlaceInput::default()
        }
        .check(&categories(), false)
        .unwrap();
        assert_eq!(place.address.as_deref(), Some("Οδοάς 3"));
        assert_eq!(
            place.attributes["bin_location"],
            "Στη γωνία,\nαπέναντι από το περίπτερο"
        );
    }
}
