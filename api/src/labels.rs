//! The read models' rows as JSON for the reader: with labels in their language (statuses,
//! kinds, delivery methods, documents), a case's timeline in plain words, the deadline flag
//! and areas in Greek notation. Shared by the JSON API and the pages.

use projections::applications as read;
use projections::certifications::CertificationRow;
use serde::Serialize;
use utoipa::ToSchema;

use crate::i18n::{self, Lang};

/// A request (summary or detail) with its labels in the reader's language.
#[derive(Debug, Serialize, ToSchema)]
pub struct Labelled<T> {
    #[serde(flatten)]
    pub case: T,
    /// The status in the reader's language, e.g. «Σε εξέταση».
    pub status_label: String,
    /// The kind in the reader's language, e.g. «Καταγγελία».
    pub kind_label: String,
    /// The closing reason in the reader's language, e.g. «Αναρμόδιος ο Δήμος –
    /// διαβιβάστηκε»; only when the case has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason_label: Option<String>,
}

/// What a request's labels are made from.
pub trait CaseCodes: Clone {
    fn status(&self) -> &str;
    fn kind(&self) -> &str;
    fn close_reason(&self) -> Option<&str>;
}

impl CaseCodes for projections::requests::CaseSummary {
    fn status(&self) -> &str {
        &self.status
    }
    fn kind(&self) -> &str {
        &self.kind
    }
    fn close_reason(&self) -> Option<&str> {
        None
    }
}

impl CaseCodes for projections::requests::CaseDetail {
    fn status(&self) -> &str {
        &self.status
    }
    fn kind(&self) -> &str {
        &self.kind
    }
    fn close_reason(&self) -> Option<&str> {
        self.close_reason.as_deref()
    }
}

/// A request (summary or detail) with its labels in the reader's language.
pub fn labelled_case<T: CaseCodes>(case: &T, lang: Lang) -> Labelled<T> {
    Labelled {
        status_label: i18n::message(lang, &format!("status_{}", case.status())),
        kind_label: i18n::message(lang, &format!("kind_{}", case.kind())),
        close_reason_label: case
            .close_reason()
            .map(|reason| i18n::message(lang, &format!("close_reason_{reason}"))),
        case: case.clone(),
    }
}

/// One event of a request in plain words.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineItem {
    #[serde(flatten)]
    pub entry: projections::requests::TimelineEntry,
    /// What happened, in the reader's language, e.g. «Πρωτοκολλήθηκε» / `Registered in the
    /// protocol`.
    pub title: String,
    /// `status` in the reader's language.
    pub status_label: String,
}

/// A case's timeline in plain words: each entry gets a `title` and a `status_label`.
pub fn labelled_timeline(
    entries: &[projections::requests::TimelineEntry],
    lang: Lang,
) -> Vec<TimelineItem> {
    entries
        .iter()
        .map(|entry| TimelineItem {
            title: i18n::message(lang, &format!("timeline_{}", entry.event_type)),
            status_label: i18n::message(lang, &format!("status_{}", entry.status)),
            entry: entry.clone(),
        })
        .collect()
}

/// A request with its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseWithTimeline {
    pub case: Labelled<projections::requests::CaseDetail>,
    pub timeline: Vec<TimelineItem>,
}

/// An application as the `applications` read model has it, with labels in the reader's
/// language and derived fields (`overdue`, `area`, `protocol_pending`). The same object in
/// the applicant's and the clerks' reads.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Application)]
pub struct LabelledApplication {
    #[serde(flatten)]
    pub application: read::ApplicationRow,
    /// `status` in the reader's language.
    pub status_label: String,
    /// `kind` in the reader's language.
    pub kind_label: String,
    /// `delivery_method` in the reader's language.
    pub delivery_label: String,
    /// Past its deadline (in Athens) and neither issued nor rejected.
    pub overdue: bool,
    /// The area in m², Greek notation (`85,50`); ΤΑΠ applications only.
    #[schema(required)]
    pub area: Option<String>,
    /// No protocol number yet (the portal keeps trying).
    pub protocol_pending: bool,
}

/// An application with its labels in the reader's language and its deadline flag (past due
/// on `today`).
pub fn labelled_application(
    row: &read::ApplicationRow,
    lang: Lang,
    today: chrono::NaiveDate,
) -> LabelledApplication {
    LabelledApplication {
        status_label: i18n::message(lang, &format!("application_status_{}", row.status)),
        kind_label: i18n::message(lang, &format!("application_kind_{}", row.kind)),
        delivery_label: i18n::message(lang, &format!("delivery_{}", row.delivery_method)),
        overdue: row.overdue(today),
        area: row.area_hundredths.map(|h| format_area(h as u32)),
        protocol_pending: row.protocol_number.is_none(),
        application: row.clone(),
    }
}

/// One event of an application in plain words.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationTimelineItem {
    #[serde(flatten)]
    pub entry: read::ApplicationTimelineEntry,
    /// What happened, in the reader's language.
    pub title: String,
    /// `status` in the reader's language.
    pub status_label: String,
}

/// An application with its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationWithTimeline {
    pub application: LabelledApplication,
    pub timeline: Vec<ApplicationTimelineItem>,
}

/// m² × 100 in Greek notation (`85,50`).
pub fn format_area(hundredths: u32) -> String {
    let (whole, fraction) = (hundredths / 100, hundredths % 100);
    if fraction == 0 {
        whole.to_string()
    } else {
        format!("{whole},{fraction:02}")
    }
}

pub fn labelled_application_timeline(
    entries: &[read::ApplicationTimelineEntry],
    lang: Lang,
) -> Vec<ApplicationTimelineItem> {
    entries
        .iter()
        .map(|entry| ApplicationTimelineItem {
            title: i18n::message(lang, &format!("timeline_{}", entry.event_type)),
            status_label: i18n::message(lang, &format!("application_status_{}", entry.status)),
            entry: entry.clone(),
        })
        .collect()
}

/// A user's certification, with its document in the reader's language.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Certification)]
pub struct LabelledCertification {
    #[serde(flatten)]
    pub certification: CertificationRow,
    /// `document` in the reader's language (key `document_<document>`).
    pub document_label: String,
}

/// A certification with its labels.
pub fn labelled_certification(row: &CertificationRow, lang: Lang) -> LabelledCertification {
    LabelledCertification {
        document_label: i18n::message(lang, &format!("document_{}", row.document)),
        certification: row.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_in_greek_notation() {
        assert_eq!(format_area(8550), "85,50");
        assert_eq!(format_area(12000), "120");
    }
}

/// A session's device in a few words («Firefox σε Windows»), from its `User-Agent`.
pub fn device_label(lang: Lang, user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return i18n::message(lang, "ui_session_unknown_device");
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} {} {s}", i18n::message(lang, "ui_session_on")),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => s.to_string(),
        // A program, not a browser: its own words, cut short.
        (None, None) => ua.chars().take(40).collect(),
    }
}

#[cfg(test)]
mod device_tests {
    use super::*;

    #[test]
    fn devices_are_named_by_browser_and_system() {
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device_label(Lang::El, Some(firefox)), "Firefox σε Windows");
        assert_eq!(device_label(Lang::En, Some(firefox)), "Firefox on Windows");
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(device_label(Lang::En, Some(chrome)), "Chrome on Linux");
        let edge =
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(device_label(Lang::En, Some(edge)), "Edge on Windows");
        assert_eq!(device_label(Lang::En, Some("curl/8.5.0")), "curl/8.5.0");
        assert_eq!(device_label(Lang::El, None), "Άγνωστη συσκευή");
    }
}
