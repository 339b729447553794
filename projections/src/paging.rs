//! Keyset paging of the lists that grow (a citizen's requests, applications and payments;
//! the clerks' queues): a page ends with an opaque cursor made of the sort key of its last
//! row, and the next page starts after that key. Unlike `OFFSET`, a row filed meanwhile
//! neither shifts a row onto two pages nor hides one, and a late page costs what the first
//! does.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// Rows per page when the client does not say.
pub const DEFAULT_LIMIT: i64 = 20;
/// The most rows a page holds.
pub const MAX_LIMIT: i64 = 100;

/// One page of a list, with the cursor of the next (`None`: this is the last page).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// The `after` of the next page; `null` on the last.
    #[schema(required)]
    pub next: Option<String>,
}

impl<T> Paged<T> {
    /// From up to `limit + 1` rows: the extra row only says that a next page exists; the
    /// cursor is the key of the last row kept.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = more.then(|| rows.last().map(|r| key(r).encode())).flatten();
        Self { items: rows, next }
    }
}

/// The sort key of a row: its parts as text (a timestamp with microseconds, a date, a
/// case number, an id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub Vec<String>);

/// What one part of a list's cursor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Time,
    Date,
    Text,
    /// A position in the event log (a whole number, not negative).
    Position,
}

/// The cursor of the lists sorted by a time, then a number or an id (a citizen's requests,
/// applications and payments; the clerks' requests queue).
pub const TIME_THEN_TEXT: &[Part] = &[Part::Time, Part::Text];
/// The cursor of the clerks' applications queue: deadline, submission time, id.
pub const DATE_TIME_TEXT: &[Part] = &[Part::Date, Part::Time, Part::Text];
/// The cursor of the lists in the order of the event log (a business's timeline).
pub const POSITION: &[Part] = &[Part::Position];

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.join("\n"))
    }

    /// `None` for anything that is not a cursor of this `shape`: every part must be there
    /// and read as what it is (a time, a date, a short text).
    pub fn decode(text: &str, shape: &[Part]) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let cursor = Self(text.split('\n').map(str::to_string).collect());
        let fits = cursor.0.len() == shape.len()
            && shape.iter().enumerate().all(|(i, part)| match part {
                Part::Time => cursor.time(i).is_some(),
                Part::Date => cursor.date(i).is_some(),
                Part::Position => cursor.position(i).is_some(),
                Part::Text => cursor
                    .text(i)
                    .is_some_and(|t| !t.is_empty() && t.len() <= 200),
            });
        fits.then_some(cursor)
    }

    pub fn at(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    /// Part `i` as a timestamp.
    pub fn time(&self, i: usize) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.0.get(i)?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Part `i` as a date.
    pub fn date(&self, i: usize) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(self.0.get(i)?, "%Y-%m-%d").ok()
    }

    /// Part `i` as a position in the event log.
    pub fn position(&self, i: usize) -> Option<i64> {
        self.0.get(i)?.parse().ok().filter(|n: &i64| *n >= 0)
    }

    pub fn text(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(String::as_str)
    }
}

/// A page request: where to start (after the row of `after`) and how many rows.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub after: Option<Cursor>,
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_goes_through_text_and_back() {
        let at = Utc::now();
        let c = Cursor(vec![Cursor::at(&at), "2026/000012".into()]);
        let back = Cursor::decode(&c.encode(), TIME_THEN_TEXT).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            back.time(0).unwrap().timestamp_micros(),
            at.timestamp_micros()
        );
        assert_eq!(back.text(1), Some("2026/000012"));
        let not_a_time = Cursor(vec!["yesterday".into(), "2026/000012".into()]).encode();
        for bad in ["", "!!", "bm9wZQ", &c.encode()[..5], &not_a_time] {
            assert!(Cursor::decode(bad, TIME_THEN_TEXT).is_none(), "{bad}");
        }
        assert!(Cursor::decode(&c.encode(), DATE_TIME_TEXT).is_none());
        let at_position = Cursor(vec!["1234".into()]);
        assert_eq!(
            Cursor::decode(&at_position.encode(), POSITION)
                .unwrap()
                .position(0),
            Some(1234)
        );
        for bad in ["-1", "x", "", "99999999999999999999"] {
            let c = Cursor(vec![bad.into()]).encode();
            assert!(Cursor::decode(&c, POSITION).is_none(), "{bad}");
        }
        let queue = Cursor(vec!["2026-12-07".into(), Cursor::at(&at), "id-1".into()]);
        assert_eq!(Cursor::decode(&queue.encode(), DATE_TIME_TEXT), Some(queue));
    }

    #[test]
    fn a_page_says_whether_another_follows() {
        let key = |n: &i32| Cursor(vec![n.to_string()]);
        let page = Paged::from_rows(vec![1, 2, 3], 2, key);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(
            Cursor::decode(page.next.as_deref().unwrap(), &[Part::Text])
                .unwrap()
                .0,
            vec!["2"]
        );
        let last = Paged::from_rows(vec![1, 2], 2, key);
        assert_eq!(last.items, vec![1, 2]);
        assert!(last.next.is_none());
    }
}
