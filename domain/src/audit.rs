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
pub struct ChainVerification {
    pub valid: bool,
    pub events_checked: usize,
    /// The first sequence number at which the chain breaks, and why.
    pub first_broken_sequence: Option<i64>,
    pub problem: Option<String>,
    /// The hash of the last event: an auditor who wrote it down earlier can compare.
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
