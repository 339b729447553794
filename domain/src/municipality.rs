//! The municipality's configuration as data: the certificates it offers and their
//! statutory deadlines, the categories of requests and its area. Read from `config/municipality.toml` by the `api` crate; checked
//! here so that a bad file stops the start with a message naming what to fix.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Municipality {
    pub municipality: MunicipalityNames,
    pub civil_registry: Vec<CertificateType>,
    pub tap: TapCertificate,
    /// Traffic fines (ΚΟΚ) payable to the municipality (see `config/fines.example.toml`).
    pub fines: crate::fines::FinesConfig,
    /// The categories of requests (GeoReport v2 services) and the municipality's area.
    #[serde(default)]
    pub requests: RequestCategories,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MunicipalityNames {
    pub name_el: String,
    pub name_en: String,
}

/// A civil-registry certificate the municipality issues online.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateType {
    pub code: String,
    pub name_el: String,
    pub name_en: String,
    pub deadline_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TapCertificate {
    pub name_el: String,
    pub name_en: String,
    pub deadline_days: u32,
}

impl Municipality {
    /// Checks what the type system cannot: a non-empty list, unique codes, sane deadlines.
    pub fn check(&self) -> Result<(), String> {
        self.fines.check()?;
        self.requests.check()?;
        if self.civil_registry.is_empty() {
            return Err("civil_registry: list at least one certificate".into());
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.civil_registry {
            if t.code.is_empty() || !t.code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(format!(
                    "civil_registry: code {:?} must be lower-case letters and _",
                    t.code
                ));
            }
            if !seen.insert(t.code.as_str()) {
                return Err(format!("civil_registry: code {:?} appears twice", t.code));
            }
            if !(1..=365).contains(&t.deadline_days) {
                return Err(format!(
                    "civil_registry {:?}: deadline_days must be 1 to 365",
                    t.code
                ));
            }
        }
        if !(1..=365).contains(&self.tap.deadline_days) {
            return Err("tap: deadline_days must be 1 to 365".into());
        }
        Ok(())
    }

    pub fn certificate_type(&self, code: &str) -> Option<&CertificateType> {
        self.civil_registry.iter().find(|t| t.code == code)
    }
}

/// The request categories (GeoReport v2 services) and the municipality's area.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestCategories {
    /// Coordinates of a request must fall inside it.
    #[serde(default)]
    pub area: Area,
    #[serde(default)]
    pub categories: Vec<RequestCategory>,
}

/// A latitude/longitude box, in WGS 84 degrees.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub min_lat: f64,
    pub max_lat: f64,
    pub min_long: f64,
    pub max_long: f64,
}

impl Default for Area {
    /// Greece, roughly: for a configuration that names no area.
    fn default() -> Self {
        Self {
            min_lat: 34.5,
            max_lat: 42.0,
            min_long: 19.0,
            max_long: 30.0,
        }
    }
}

impl Area {
    pub fn contains(&self, lat: f64, long: f64) -> bool {
        (self.min_lat..=self.max_lat).contains(&lat)
            && (self.min_long..=self.max_long).contains(&long)
    }
}

/// A category of request (a GeoReport v2 service).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestCategory {
    /// The stable key (GeoReport's `service_code`): lower-case letters, digits and _.
    pub service_code: String,
    pub name_el: String,
    pub name_en: String,
    /// The group it is listed under.
    pub group_el: String,
    pub group_en: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Days the municipality takes to answer (GeoReport's `expected_datetime`).
    pub deadline_days: u32,
    #[serde(default)]
    pub attributes: Vec<CategoryAttribute>,
}

/// An extra question of a category (GeoReport's attribute).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryAttribute {
    pub code: String,
    pub datatype: AttributeType,
    #[serde(default)]
    pub required: bool,
    pub description_el: String,
    pub description_en: String,
    /// The choices of a `singlevaluelist`.
    #[serde(default)]
    pub values: Vec<AttributeValue>,
}

/// GeoReport's attribute datatypes the portal takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    String,
    Number,
    Text,
    Singlevaluelist,
}

impl AttributeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Text => "text",
            Self::Singlevaluelist => "singlevaluelist",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeValue {
    pub key: String,
    pub name_el: String,
    pub name_en: String,
}

fn is_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 40
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl RequestCategories {
    pub fn find(&self, service_code: &str) -> Option<&RequestCategory> {
        self.categories
            .iter()
            .find(|c| c.service_code == service_code)
    }

    /// Unique codes, sane deadlines, an area that is a box, a list with its values.
    pub fn check(&self) -> Result<(), String> {
        let a = &self.area;
        let finite = [a.min_lat, a.max_lat, a.min_long, a.max_long]
            .iter()
            .all(|v| v.is_finite());
        if !finite
            || a.min_lat >= a.max_lat
            || a.min_long >= a.max_long
            || a.min_lat < -90.0
            || a.max_lat > 90.0
            || a.min_long < -180.0
            || a.max_long > 180.0
        {
            return Err("requests.area: min_lat < max_lat (−90 to 90) and min_long < max_long (−180 to 180)".into());
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.categories {
            if !is_code(&c.service_code) {
                return Err(format!(
                    "requests.categories: service_code {:?} must be 1–40 lower-case letters, digits and _",
                    c.service_code
                ));
            }
            if !seen.insert(c.service_code.as_str()) {
                return Err(format!(
                    "requests.categories: service_code {:?} appears twice",
                    c.service_code
                ));
            }
            if !(1..=365).contains(&c.deadline_days) {
                return Err(format!(
                    "requests.categories {:?}: deadline_days must be 1 to 365",
                    c.service_code
                ));
            }
            let mut codes = std::collections::HashSet::new();
            for attr in &c.attributes {
                if !is_code(&attr.code) || !codes.insert(attr.code.as_str()) {
                    return Err(format!(
                        "requests.categories {:?}: attribute code {:?} must be unique, 1–40 lower-case letters, digits and _",
                        c.service_code, attr.code
                    ));
                }
                if (attr.datatype == AttributeType::Singlevaluelist) == attr.values.is_empty() {
                    return Err(format!(
                        "requests.categories {:?}: attribute {:?}: a singlevaluelist lists its values, other types none",
                        c.service_code, attr.code
                    ));
                }
            }
        }
        Ok(())
    }
}
