//! Open311 GeoReport v2 (issue 15): the API keys of the clients that file requests through
//! it, and the filing itself — an anonymous Αίτημα – Σχόλιο of a category, with its place
//! and answers, whose event metadata names the client (`open311_client`).

use chrono::{DateTime, Utc};
use domain::refusal::FieldError;
use domain::request::PlaceInput;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::context::Portal;
use crate::requests::{self, RequestError, Submission, Submitted};
use crate::CommandMetadata;

/// A client's key, as `keys list` shows it (never the key itself).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientKey {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a client's name is 1 to 100 visible characters on one line (no control, format or bidi characters)")]
    BadName,
    #[error("a client named {0:?} has a key already")]
    NameTaken(String),
    #[error("no client named {0:?} has a key that works")]
    NotFound(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn sha256(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// A new key for client `name`: answers the key (shown once; only its hash is kept).
pub async fn add_key(pool: &PgPool, name: &str) -> Result<String, KeyError> {
    // The portal's text policy: the name is shown on the cases the client files.
    let name = domain::values::ClientName::parse(name).map_err(|_| KeyError::BadName)?;
    let name = name.as_str();
    let bytes: [u8; 24] = rand::thread_rng().gen();
    let key = hex::encode(bytes);
    let inserted = sqlx::query(
        "INSERT INTO open311_keys (id, name, key_sha256) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(name)
    .bind(sha256(&key))
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(KeyError::NameTaken(name.to_string()));
    }
    Ok(key)
}

/// Every client's key, oldest first.
pub async fn list_keys(pool: &PgPool) -> Result<Vec<ClientKey>, sqlx::Error> {
    sqlx::query_as("SELECT name, created_at, revoked_at FROM open311_keys ORDER BY created_at")
        .fetch_all(pool)
        .await
}

/// Client `name`'s key stops working at once.
pub async fn revoke_key(pool: &PgPool, name: &str) -> Result<(), KeyError> {
    let revoked = sqlx::query(
        "UPDATE open311_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
    )
    .bind(name.trim())
    .execute(pool)
    .await?;
    if revoked.rows_affected() == 0 {
        return Err(KeyError::NotFound(name.trim().to_string()));
    }
    Ok(())
}

/// The client whose working key `key` is.
pub async fn client_of(pool: &PgPool, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM open311_keys WHERE key_sha256 = $1 AND revoked_at IS NULL")
        .bind(sha256(key))
        .fetch_optional(pool)
        .await
}

/// A GeoReport `POST requests` as received.
#[derive(Debug, Clone, Default)]
pub struct Filing {
    pub service_code: Option<String>,
    pub lat: Option<String>,
    pub long: Option<String>,
    pub address_string: Option<String>,
    pub description: Option<String>,
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// Files `filing` for client `client`: an anonymous request of the category, which needs a
/// place (`lat`/`long` or `address_string`) and a description. Answers the case (its
/// tracking code is GeoReport's `token`). Errors name GeoReport's fields.
pub async fn file(
    portal: &Portal,
    client: &str,
    metadata: CommandMetadata,
    filing: Filing,
) -> Result<Submitted, RequestError> {
    let categories = &portal.settings.municipality.requests;
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .is_some()
    };
    // GeoReport needs a place; nothing is filed without one.
    if !text(&filing.lat) && !text(&filing.long) && !text(&filing.address_string) {
        return Err(RequestError::Invalid(vec![FieldError::new(
            "lat",
            "location_required",
        )]));
    }
    // The subject is the category's name (GeoReport has none).
    let subject = filing
        .service_code
        .as_deref()
        .and_then(|code| categories.find(code.trim()))
        .map(|c| c.name_el.clone());
    let submission = Submission {
        kind: None,
        subject: subject.clone().or(Some("GeoReport".into())),
        text: filing.description,
        desired_action: None,
        place: PlaceInput {
            category: filing.service_code,
            address: filing.address_string,
            lat: filing.lat,
            long: filing.long,
            attributes: filing.attributes,
        },
        category_required: true,
    };
    let metadata = CommandMetadata {
        open311_client: Some(client.to_string()),
        ..metadata
    };
    requests::submit(portal, None, metadata, submission).await
}
