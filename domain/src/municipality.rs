//! The municipality's configuration as data: the certificates it offers and their
//! statutory deadlines. Read from `config/municipality.toml` by the `api` crate; checked
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
