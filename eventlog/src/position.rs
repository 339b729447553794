//! A position in the event log's commit order: `(transaction id, global position)`.
//!
//! Global positions are handed out at insert time, so a transaction that inserted later
//! may commit earlier. Consumers therefore read only events whose transaction has
//! finished (`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`), ordered by
//! transaction id then global position; in that order no finished event can ever appear
//! behind one already read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Position {
    pub transaction_id: i64,
    pub global_position: i64,
}

impl Position {
    pub const START: Position = Position {
        transaction_id: 0,
        global_position: 0,
    };
}

/// Shown as `txid.position`, e.g. `7841.1203`: the form the API hands out and takes back.
impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.transaction_id, self.global_position)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a position looks like 7841.1203 (transaction id, dot, global position)")]
pub struct PositionParseError;

impl FromStr for Position {
    type Err = PositionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (t, g) = s.split_once('.').ok_or(PositionParseError)?;
        let transaction_id = t.parse().map_err(|_| PositionParseError)?;
        let global_position = g.parse().map_err(|_| PositionParseError)?;
        if transaction_id < 0 || global_position < 0 {
            return Err(PositionParseError);
        }
        Ok(Position {
            transaction_id,
            global_position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_transaction_then_global_position() {
        let a = Position {
            transaction_id: 10,
            global_position: 99,
        };
        let b = Position {
            transaction_id: 11,
            global_position: 5,
        };
        assert!(a < b);
        assert_eq!("10.99".parse::<Position>().unwrap(), a);
        assert_eq!(a.to_string(), "10.99");
        assert!("10".parse::<Position>().is_err());
        assert!("-1.2".parse::<Position>().is_err());
    }
}
