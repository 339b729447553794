//! The hash chain that lets an auditor detect an altered or removed event.
//!
//! Each stored event carries `hash = SHA-256(previous hash ‖ canonical content)`, where the
//! first event of a case chains from 64 zeros. The database computes it on insert (trigger
//! in `migrations/`); [`verify_chain`] recomputes it independently from what is stored.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The previous hash of a case's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The parts of a stored event that its hash covers. `payload` and `metadata` are
/// PostgreSQL's canonical `jsonb` text (keys sorted, fixed spacing).
#[derive(Debug, Clone)]
pub struct ChainedContent<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a str,
    pub metadata: &'a str,
    pub recorded_at_micros: i64,
}

/// The hash of one event given the hash of the one before it.
pub fn event_hash(previous_hash: &str, c: &ChainedContent<'_>) -> String {
    let content = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        c.aggregate_type,
        c.aggregate_id,
        c.sequence,
        c.event_type,
        c.event_version,
        c.payload,
        c.metadata,
        c.recorded_at_micros
    );
    let mut hasher = Sha256::new();
    hasher.update(previous_hash.as_bytes());
    hasher.update(content.as_bytes());
    hex::encode(hasher.finalize())
}

/// One event as stored, with the hashes the database recorded for it.
#[derive(Debug, Clone)]
pub struct StoredLink<'a> {
    pub content: ChainedContent<'a>,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// The outcome of verifying a case's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainVerification {
    pub valid: bool,
    pub events_checked: usize,
    /// Where the chain first breaks.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub first_broken_sequence: Option<i64>,
    /// Why it breaks: a missing event (sequence gap), a link that does not match, or content
    /// that does not match its hash.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub problem: Option<String>,
    /// The last event's hash. Compare it with one recorded earlier elsewhere: only that
    /// detects removed trailing events or a recomputed chain.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub head_hash: Option<String>,
}

/// Recomputes every hash from the stored content. Detects an altered event (its hash no
/// longer matches), a removed event (a gap in the sequence or a broken link) and a
/// rewritten tail (links that no longer chain).
pub fn verify_chain(links: &[StoredLink<'_>]) -> ChainVerification {
    let mut expected_prev = GENESIS_HASH.to_string();
    for (expected_sequence, link) in (1_i64..).zip(links) {
        let broken_at = |sequence: i64, problem: String| ChainVerification {
            valid: false,
            events_checked: links.len(),
            first_broken_sequence: Some(sequence),
            problem: Some(problem),
            head_hash: links.last().map(|l| l.hash.to_string()),
        };
        let broken = |problem: String| broken_at(link.content.sequence, problem);
        if link.content.sequence != expected_sequence {
            // The chain breaks at the first missing sequence number.
            return broken_at(
                expected_sequence,
                format!(
                    "expected sequence {expected_sequence}, found {}: an event is missing",
                    link.content.sequence
                ),
            );
        }
        if link.prev_hash != expected_prev {
            return broken("the link to the previous event does not match".into());
        }
        let recomputed = event_hash(&expected_prev, &link.content);
        if recomputed != link.hash {
            return broken("the event's content does not match its hash".into());
        }
        expected_prev = recomputed;
    }
    ChainVerification {
        valid: true,
        events_checked: links.len(),
        first_broken_sequence: None,
        problem: None,
        head_hash: links.last().map(|l| l.hash.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(sequence: i64, payload: &str) -> ChainedContent<'_> {
        ChainedContent {
            aggregate_type: "CitizenRequest",
            aggregate_id: "abc",
            sequence,
            event_type: "RequestSubmitted",
            event_version: "1.0",
            payload,
            metadata: "{}",
            recorded_at_micros: 1_700_000_000_000_000,
        }
    }

    #[test]
    fn a_chain_verifies_and_an_altered_payload_breaks_it() {
        let h1 = event_hash(GENESIS_HASH, &content(1, "{\"a\": 1}"));
        let h2 = event_hash(&h1, &content(2, "{\"b\": 2}"));
        let good = vec![
            StoredLink {
                content: content(1, "{\"a\": 1}"),
                prev_hash: GENESIS_HASH,
                hash: &h1,
            },
            StoredLink {
                content: content(2, "{\"b\": 2}"),
                prev_hash: &h1,
                hash: &h2,
            },
        ];
        assert!(verify_chain(&good).valid);

        let altered = vec![
            StoredLink {
                content: content(1, "{\"a\": 9}"),
                prev_hash: GENESIS_HASH,
                hash: &h1,
            },
            StoredLink {
                content: content(2, "{\"b\": 2}"),
                prev_hash: &h1,
                hash: &h2,
            },
        ];
        let v = verify_chain(&altered);
        assert!(!v.valid);
        assert_eq!(v.first_broken_sequence, Some(1));

        let removed = vec![StoredLink {
            content: content(2, "{\"b\": 2}"),
            prev_hash: &h1,
            hash: &h2,
        }];
        assert_eq!(verify_chain(&removed).first_broken_sequence, Some(1));
    }
}

// ---------------------------------------------------------------------------------------
// What an auditor searches the streams by
// ---------------------------------------------------------------------------------------

/// The kinds of stream an auditor can look for, each with the aggregate type it is.
pub const STREAM_KINDS: &[(&str, &str)] = &[
    ("requests", "CitizenRequest"),
    ("applications", "CertificateApplication"),
    ("certifications", "Certification"),
    ("payments", "Payment"),
    ("fines", "TrafficFine"),
    ("declarations", "TaxDeclaration"),
    ("debts", "TaxDebt"),
];

/// The aggregate types of the event log, as the JSON API names a stream's (the second of
/// each of [`STREAM_KINDS`]; a test holds the two together). Documentation only: the code
/// keeps each as its aggregate's `TYPE`.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
pub enum AggregateType {
    CitizenRequest,
    CertificateApplication,
    Certification,
    Payment,
    TrafficFine,
    TaxDeclaration,
    TaxDebt,
}

/// The kinds of stream an auditor's search names (the first of each of [`STREAM_KINDS`]).
/// Documentation only.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum StreamKind {
    Requests,
    Applications,
    Certifications,
    Payments,
    Fines,
    Declarations,
    Debts,
}

/// Whose streams: a person by the e-mail they log in with (normalized as accounts are), or
/// a business (and whoever represents it) by its ΑΦΜ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchPerson {
    Email(String),
    Afm(String),
}

/// An auditor's search of the event log's streams, every criterion optional (none: every
/// stream, newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSearch {
    /// The spellings of a number a stream is known by (its Α.Α., a protocol number, a
    /// payment's order number or bank reference, a fine's number or plate, a debt's number,
    /// the stream's own id): as written, and as the portal stores it where that differs
    /// (a case number in full, `2026/2` → `2026/000002`; a UUID in lower case; a plate as
    /// the fines system writes it, `yxp 1234` → `ΥΧΡ1234`). Empty: not a criterion.
    pub numbers: Vec<String>,
    pub person: Option<SearchPerson>,
    /// The aggregate type (from [`STREAM_KINDS`]).
    pub aggregate_type: Option<&'static str>,
    /// The stream began on or after this day (Athens).
    pub from: Option<chrono::NaiveDate>,
    /// The stream began on or before this day (Athens).
    pub to: Option<chrono::NaiveDate>,
}

/// The raw fields of a search, as a form or a query string sends them.
#[derive(Debug, Clone, Default)]
pub struct StreamSearchFields<'a> {
    pub number: Option<&'a str>,
    pub person: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

impl StreamSearch {
    /// Reads the fields; each one that is wrong gets its error: `audit_number_too_long`,
    /// `audit_person_invalid` (neither an e-mail nor a valid ΑΦΜ), `audit_kind_invalid`,
    /// `audit_from_invalid` / `audit_to_invalid` (not a day `YYYY-MM-DD`),
    /// `audit_range_invalid` (on `to`: it is before `from`). Empty fields are not criteria.
    pub fn parse(f: &StreamSearchFields<'_>) -> Result<Self, Vec<crate::refusal::FieldError>> {
        use crate::refusal::FieldError;
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let mut errors = Vec::new();
        let numbers = match given(f.number) {
            Some(n) if n.chars().count() > 100 => {
                errors.push(FieldError::new("number", "audit_number_too_long"));
                Vec::new()
            }
            Some(n) => spellings(n),
            None => Vec::new(),
        };
        let person = given(f.person).and_then(|p| {
            let found = if p.contains('@') {
                crate::account::normalize_email(&p)
                    .ok()
                    .map(SearchPerson::Email)
            } else {
                crate::values::Afm::parse(&p)
                    .ok()
                    .map(|afm| SearchPerson::Afm(afm.as_str().to_string()))
            };
            if found.is_none() {
                errors.push(FieldError::new("person", "audit_person_invalid"));
            }
            found
        });
        let aggregate_type = given(f.kind).and_then(|k| {
            let found = STREAM_KINDS
                .iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, ty)| *ty);
            if found.is_none() {
                errors.push(FieldError::new("kind", "audit_kind_invalid"));
            }
            found
        });
        let mut day = |field: &str, code: &str, v: Option<&str>| {
            given(v).and_then(|d| {
                let parsed = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok();
                if parsed.is_none() {
                    errors.push(FieldError::new(field, code));
                }
                parsed
            })
        };
        let from = day("from", "audit_from_invalid", f.from);
        let to = day("to", "audit_to_invalid", f.to);
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                errors.push(FieldError::new("to", "audit_range_invalid"));
            }
        }
        if errors.is_empty() {
            Ok(Self {
                numbers,
                person,
                aggregate_type,
                from,
                to,
            })
        } else {
            Err(errors)
        }
    }
}

/// `number` as written, then as the portal would store it, where that differs.
fn spellings(number: String) -> Vec<String> {
    let stored = [
        case_number_in_full(&number),
        uuid::Uuid::parse_str(&number).ok().map(|id| id.to_string()),
        crate::fines::Plate::parse(&number)
            .ok()
            .map(|plate| plate.as_str().to_string()),
    ];
    let mut all = vec![number];
    for form in stored.into_iter().flatten() {
        if !all.contains(&form) {
            all.push(form);
        }
    }
    all
}

/// `2026/2` written in full as a case number is stored (`2026/000002`); `None` for
/// anything else.
fn case_number_in_full(raw: &str) -> Option<String> {
    let (year, serial) = raw.split_once('/')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if year.len() != 4 || !digits(year) || !digits(serial) || serial.len() > 6 {
        return None;
    }
    let serial: i64 = serial.parse().ok()?;
    Some(format!("{year}/{serial:06}"))
}

#[cfg(test)]
mod search_tests {
    use super::*;

    fn fields<'a>(pairs: &[(&str, &'a str)]) -> StreamSearchFields<'a> {
        let get = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        StreamSearchFields {
            number: get("number"),
            person: get("person"),
            kind: get("kind"),
            from: get("from"),
            to: get("to"),
        }
    }

    fn codes(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        StreamSearch::parse(&fields(pairs))
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn empty_fields_search_everything() {
        let all = StreamSearch::parse(&fields(&[("number", "  "), ("person", "")])).unwrap();
        assert_eq!(all, StreamSearch::default());
    }

    #[test]
    fn a_number_is_searched_as_written_and_as_stored() {
        let n = |raw| {
            StreamSearch::parse(&fields(&[("number", raw)]))
                .unwrap()
                .numbers
        };
        assert_eq!(n(" 2026/2 "), ["2026/2", "2026/000002"]);
        assert_eq!(n("2026/000123"), ["2026/000123"]);
        // A protocol number `{serial}/{year}` is searched as written too.
        assert_eq!(n("1234/2026"), ["1234/2026", "1234/002026"]);
        assert_eq!(n("ΠΡΩΤ-2026/77"), ["ΠΡΩΤ-2026/77"]);
        assert_eq!(n("2026/1234567"), ["2026/1234567"]);
        assert_eq!(
            n("3F2B9C1E-8D4A-4C7B-9E1F-2A6B5C4D3E2F"),
            [
                "3F2B9C1E-8D4A-4C7B-9E1F-2A6B5C4D3E2F",
                "3f2b9c1e-8d4a-4c7b-9e1f-2a6b5c4d3e2f"
            ]
        );
        let plate = n("yxp 1234");
        assert_eq!(plate[0], "yxp 1234");
        assert_eq!(
            plate[1],
            crate::fines::Plate::parse("ΥΧΡ-1234").unwrap().as_str()
        );
        assert_eq!(
            codes(&[("number", &"1".repeat(101))]),
            [("number".into(), "audit_number_too_long".into())]
        );
    }

    #[test]
    fn a_person_is_an_e_mail_or_an_afm() {
        let p = |raw| {
            StreamSearch::parse(&fields(&[("person", raw)]))
                .unwrap()
                .person
        };
        assert_eq!(
            p(" Maria@Example.GR "),
            Some(SearchPerson::Email("maria@example.gr".into()))
        );
        assert_eq!(p("094259216"), Some(SearchPerson::Afm("094259216".into())));
        for bad in ["094259217", "Μαρία", "12345", "@"] {
            assert_eq!(
                codes(&[("person", bad)]),
                [("person".into(), "audit_person_invalid".into())],
                "{bad}"
            );
        }
    }

    #[test]
    fn kinds_and_days_are_checked() {
        let s = StreamSearch::parse(&fields(&[
            ("kind", "fines"),
            ("from", "2026-12-01"),
            ("to", "2026-12-01"),
        ]))
        .unwrap();
        assert_eq!(s.aggregate_type, Some("TrafficFine"));
        assert_eq!(s.from, s.to);
        assert_eq!(
            codes(&[
                ("kind", "warrants"),
                ("from", "1/12/2026"),
                ("to", "2026-13-01")
            ]),
            [
                ("kind".into(), "audit_kind_invalid".into()),
                ("from".into(), "audit_from_invalid".into()),
                ("to".into(), "audit_to_invalid".into()),
            ]
        );
        assert_eq!(
            codes(&[("from", "2026-12-02"), ("to", "2026-12-01")]),
            [("to".into(), "audit_range_invalid".into())]
        );
    }
}

// ---------------------------------------------------------------------------------------
// What an event changed in its case's state
// ---------------------------------------------------------------------------------------

/// One field of a case's state that an event changed: its path in the state as the
/// aggregate serializes it (`assigned_to.name`, `answers[1].text`), and its value before
/// and after (`None`: absent or null).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// The fields that differ between two states of a case, leaf by leaf: objects are walked
/// into, lists of objects item by item, and a list of plain values is one value. In the
/// order of the later state's fields, then those it no longer has.
pub fn state_changes(before: &serde_json::Value, after: &serde_json::Value) -> Vec<FieldChange> {
    let mut old = Vec::new();
    let mut new = Vec::new();
    leaves("", before, &mut old);
    leaves("", after, &mut new);
    let find = |list: &[(String, serde_json::Value)], path: &str| {
        list.iter().find(|(p, _)| p == path).map(|(_, v)| v.clone())
    };
    let mut changes: Vec<FieldChange> = new
        .iter()
        .filter_map(|(path, value)| {
            let was = find(&old, path);
            (was.as_ref() != Some(value)).then(|| FieldChange {
                path: path.clone(),
                before: was,
                after: Some(value.clone()),
            })
        })
        .collect();
    changes.extend(
        old.iter()
            .filter(|(path, _)| find(&new, path).is_none())
            .map(|(path, value)| FieldChange {
                path: path.clone(),
                before: Some(value.clone()),
                after: None,
            }),
    );
    changes
}

fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    use serde_json::Value;
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        // Nothing, or an empty map (a request without a category's fields): no field.
        Value::Null => {}
        Value::Object(fields) if fields.is_empty() => {}
        // A case number is one value (`2026/000002`), not a year and a serial.
        Value::Object(fields) if fields.len() == 2 && fields.contains_key("serial") => {
            match serde_json::from_value::<crate::values::CaseNumber>(value.clone()) {
                Ok(number) => out.push((prefix.to_string(), Value::String(number.to_string()))),
                Err(_) => {
                    for (key, v) in fields {
                        leaves(&join(key), v, out);
                    }
                }
            }
        }
        Value::Object(fields) => {
            for (key, v) in fields {
                leaves(&join(key), v, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for (i, item) in items.iter().enumerate() {
                leaves(&format!("{prefix}[{i}]"), item, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

#[cfg(test)]
mod change_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_changed_leaves_are_listed_with_their_values_before_and_after() {
        let before = json!({"status": "submitted", "assigned_to": null, "times_reopened": 0,
                            "answers": [{"text": "α"}], "tags": ["x"], "gone": "y"});
        let after = json!({"status": "in_review", "assigned_to": {"name": "Γιώργος"},
                           "times_reopened": 0, "answers": [{"text": "α"}, {"text": "β"}],
                           "tags": ["x", "z"]});
        let changes = state_changes(&before, &after);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        // serde_json's map keeps keys sorted.
        assert_eq!(
            paths,
            [
                "answers[1].text",
                "assigned_to.name",
                "status",
                "tags",
                "gone"
            ]
        );
        assert_eq!(changes[1].before, None);
        assert_eq!(changes[1].after, Some(json!("Γιώργος")));
        assert_eq!(changes[2].before, Some(json!("submitted")));
        assert_eq!(changes[3].after, Some(json!(["x", "z"])));
        assert_eq!(changes[4].after, None);
        assert!(state_changes(&after, &after).is_empty());
        // An empty map is no field; its first entry is one.
        let changes = state_changes(&json!({"attributes": {}}), &json!({"attributes": {}}));
        assert!(changes.is_empty());
        let changes = state_changes(
            &json!({"attributes": {}}),
            &json!({"attributes": {"pole": "Α12"}}),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "attributes.pole");
        assert!(state_changes(&json!(null), &json!({"place": {"attributes": {}}})).is_empty());
    }

    #[test]
    fn a_case_number_is_one_value() {
        let changes = state_changes(
            &json!({"number": null}),
            &json!({"number": {"year": 2026, "serial": 2}}),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "number");
        assert_eq!(changes[0].after, Some(json!("2026/000002")));
    }
}
