//! Event metadata: who did it, in which role, under which correlation id, from where.

use std::collections::HashMap;

use chrono::Utc;

/// Recorded with every event a command writes (stored as `jsonb`).
#[derive(Debug, Clone, Default)]
pub struct CommandMetadata {
    /// The account id, or `anonymous`.
    pub actor_id: String,
    /// `citizen`, `clerk`, `auditor`, `admin` or `anonymous`.
    pub role: String,
    /// Ties together everything one HTTP request caused (the `x-request-id` header).
    pub correlation_id: String,
    pub client_ip: Option<String>,
    /// The session (the SHA-256 of its token) the command comes through, if any: its next
    /// reads wait for what the command writes. Recorded on the session with the append,
    /// never in the event.
    pub session: Option<String>,
    /// The Open311 client (its key's name) a request came through, if any (issue 15).
    pub open311_client: Option<String>,
}

impl CommandMetadata {
    pub fn into_map(self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            ("actor_id".to_string(), self.actor_id),
            ("role".to_string(), self.role),
            ("correlation_id".to_string(), self.correlation_id),
            ("time".to_string(), Utc::now().to_rfc3339()),
        ]);
        if let Some(ip) = self.client_ip {
            map.insert("client_ip".to_string(), ip);
        }
        if let Some(client) = self.open311_client {
            map.insert("open311_client".to_string(), client);
        }
        map
    }
}
