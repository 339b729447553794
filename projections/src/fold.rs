//! Folding a batch of events in memory: the rows a batch touches are read in one statement,
//! the events are applied to them in commit order, and the rows that changed are written
//! back in one statement per table. A read model then costs a few round trips per batch
//! instead of one or more per event, live and in a rebuild alike (issue 13).
//!
//! Rows travel as JSON text (`to_jsonb` out, `jsonb_populate_recordset` in; decoded and
//! encoded straight from and into the row types, not through `serde_json::Value` trees,
//! except the first row of a write, for its column names), so a row type is a plain serde
//! struct whose fields are the table's columns, named as they are. Every column must be a
//! field: a missing one would be written NULL. The row types say
//! `#[serde(deny_unknown_fields)]`, so a column added to a table but not to its row type
//! fails the first load of a stored row (a consumer error, and every test that folds two
//! events of one case) instead of being wiped. Table names are unqualified, so a rebuild's
//! `search_path` points them at its scratch copies.

use std::collections::{BTreeMap, BTreeSet};

use eventlog::{ConsumerError, RecordedEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

/// A row of a table folded in memory.
pub(crate) trait Row: Serialize + DeserializeOwned + Send {
    /// The values of its key columns, joined: unique in the table.
    fn key(&self) -> String;
}

/// A row that records the sequence of the last event folded into it (`last_sequence`):
/// an event at or below it changes nothing (it was folded before).
pub(crate) trait Sequenced: Row {
    fn last_sequence(&self) -> i64;
    fn set_last_sequence(&mut self, sequence: i64);
}

/// Implements [`Row`] and [`Sequenced`] for a row type keyed by its column `$key` (a
/// `String`) that has a `last_sequence: i64` column.
macro_rules! sequenced_row {
    ($row:ty, $key:ident) => {
        impl $crate::fold::Row for $row {
            fn key(&self) -> String {
                self.$key.clone()
            }
        }

        impl $crate::fold::Sequenced for $row {
            fn last_sequence(&self) -> i64 {
                self.last_sequence
            }
            fn set_last_sequence(&mut self, sequence: i64) {
                self.last_sequence = sequence;
            }
        }
    };
}
pub(crate) use sequenced_row;

/// Some rows of one table, as a batch folds them.
pub(crate) struct Table<R: Row> {
    name: &'static str,
    key_columns: &'static [&'static str],
    rows: BTreeMap<String, R>,
    changed: BTreeSet<String>,
}

impl<R: Row> Table<R> {
    /// The rows of table `name` (key `key_columns`) whose `column` is one of `values`.
    pub async fn load(
        conn: &mut PgConnection,
        name: &'static str,
        key_columns: &'static [&'static str],
        column: &str,
        values: &[String],
    ) -> Result<Self, ConsumerError> {
        // As text, decoded straight into the row type (no JSON tree in between).
        let stored: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(t)::text FROM {name} t WHERE {column} = ANY($1)"
        ))
        .bind(values)
        .fetch_all(&mut *conn)
        .await?;
        let mut rows = BTreeMap::new();
        for text in stored {
            let row: R = serde_json::from_str(&text).map_err(|e| {
                ConsumerError::Other(format!("a stored row of {name} does not decode: {e}"))
            })?;
            rows.insert(row.key(), row);
        }
        Ok(Self {
            name,
            key_columns,
            rows,
            changed: BTreeSet::new(),
        })
    }

    pub fn get(&self, key: &str) -> Option<&R> {
        self.rows.get(key)
    }

    /// Adds `row`, or replaces the one with its key.
    pub fn put(&mut self, row: R) {
        let key = row.key();
        self.changed.insert(key.clone());
        self.rows.insert(key, row);
    }

    /// The row `key` to change, made by `new` when there is none yet (its own key must be
    /// `key`): for rows that add up, like counts.
    pub fn entry(&mut self, key: String, new: impl FnOnce() -> R) -> &mut R {
        self.changed.insert(key.clone());
        self.rows.entry(key).or_insert_with(new)
    }

    /// Changes every row that `select` picks.
    pub fn update_where(&mut self, select: impl Fn(&R) -> bool, mut change: impl FnMut(&mut R)) {
        for (key, row) in self.rows.iter_mut() {
            if select(row) {
                change(row);
                self.changed.insert(key.clone());
            }
        }
    }

    /// Writes the rows that changed: one statement.
    pub async fn save(self, conn: &mut PgConnection) -> Result<(), ConsumerError> {
        let changed: Vec<&R> = self
            .changed
            .iter()
            .filter_map(|key| self.rows.get(key))
            .collect();
        let Some(first) = changed.first() else {
            return Ok(());
        };
        let columns = column_names(self.name, *first)?;
        let set = columns
            .iter()
            .filter(|c| !self.key_columns.contains(&c.as_str()))
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let json = serde_json::to_string(&changed)
            .map_err(|e| ConsumerError::Other(format!("{}: {e}", self.name)))?;
        sqlx::query(&format!(
            "INSERT INTO {name} SELECT * FROM jsonb_populate_recordset(NULL::{name}, $1::jsonb) \
             ON CONFLICT ({keys}) DO UPDATE SET {set}",
            name = self.name,
            keys = self.key_columns.join(", "),
        ))
        .bind(json)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

impl<R: Sequenced> Table<R> {
    /// The row `key` if event `sequence` is new to it, its `last_sequence` moved to it;
    /// `None` when there is no such row (the event has nothing to change) or the event was
    /// folded before.
    pub fn advance(&mut self, key: &str, sequence: i64) -> Option<&mut R> {
        let row = self.rows.get_mut(key)?;
        if row.last_sequence() >= sequence {
            return None;
        }
        row.set_last_sequence(sequence);
        self.changed.insert(key.to_string());
        Some(row)
    }

    /// Whether event `sequence` of stream `key` was folded before (a row at or past it).
    pub fn has_folded(&self, key: &str, sequence: i64) -> bool {
        self.rows
            .get(key)
            .is_some_and(|row| row.last_sequence() >= sequence)
    }
}

/// Inserts rows that are only ever added (timeline entries): one with an existing key
/// stays as it is. One statement.
pub(crate) async fn insert_new<T: Serialize>(
    conn: &mut PgConnection,
    table: &str,
    rows: &[T],
) -> Result<(), ConsumerError> {
    if rows.is_empty() {
        return Ok(());
    }
    let json =
        serde_json::to_string(rows).map_err(|e| ConsumerError::Other(format!("{table}: {e}")))?;
    sqlx::query(&format!(
        "INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, $1::jsonb) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(json)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The events of `aggregate_type` in `events`, each with its decoded payload.
pub(crate) fn decode<'e, E: DeserializeOwned>(
    events: &'e [RecordedEvent],
    aggregate_type: &str,
) -> Result<Vec<(&'e RecordedEvent, E)>, ConsumerError> {
    events
        .iter()
        .filter(|e| e.aggregate_type == aggregate_type)
        .map(|e| {
            let payload =
                E::deserialize(&e.payload).map_err(|err| ConsumerError::decode(e, err))?;
            Ok((e, payload))
        })
        .collect()
}

/// The events of `aggregate_type` in `events` that decode, each with its payload. One that
/// does not is passed over with a warning naming `model`: for the read models that must
/// not stop at it (the auditors' index lists its stream by its id; the dashboard's counts
/// leave its case as it was), while the models that show the case stop.
pub(crate) fn decode_or_pass<'e, E: DeserializeOwned>(
    events: &'e [RecordedEvent],
    aggregate_type: &str,
    model: &str,
) -> Vec<(&'e RecordedEvent, E)> {
    events
        .iter()
        .filter(|e| e.aggregate_type == aggregate_type)
        .filter_map(|e| decoded_or_pass(e, model).map(|payload| (e, payload)))
        .collect()
}

/// `event`'s payload, decoded; `None` (and a warning naming `model`, and one more in the
/// counter `portal_consumer_passed_over_total{consumer=model}`) when it does not decode.
pub(crate) fn decoded_or_pass<E: DeserializeOwned>(
    event: &RecordedEvent,
    model: &str,
) -> Option<E> {
    E::deserialize(&event.payload)
        .inspect_err(|e| {
            metrics::counter!("portal_consumer_passed_over_total", "consumer" => model.to_string())
                .increment(1);
            tracing::warn!(
                model,
                stream = %event.aggregate_id,
                sequence = event.sequence,
                event_type = %event.event_type,
                error = %e,
                "an event does not decode: the read model passes over it (rebuild it once a \
                 release that reads the event runs)"
            );
        })
        .ok()
}

/// The distinct stream ids of `events`.
pub(crate) fn stream_ids<E>(events: &[(&RecordedEvent, E)]) -> Vec<String> {
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|(e, _)| e.aggregate_id.as_str())
        .collect();
    ids.into_iter().map(str::to_string).collect()
}

fn column_names<R: Serialize>(table: &str, row: &R) -> Result<Vec<String>, ConsumerError> {
    match serde_json::to_value(row) {
        Ok(Value::Object(fields)) => Ok(fields.keys().cloned().collect()),
        Ok(_) => Err(ConsumerError::Other(format!(
            "{table}: a row must serialise as an object"
        ))),
        Err(e) => Err(ConsumerError::Other(format!("{table}: {e}"))),
    }
}
