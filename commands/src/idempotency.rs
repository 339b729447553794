//! Idempotent submissions: the first answer to a POST with an idempotency key, kept for
//! [`KEPT_FOR_HOURS`] so that a repeat (a citizen pressing «Υποβολή» again after their
//! connection dropped) gets that answer instead of filing a second case.
//!
//! The HTTP layer decides which requests take part and what "the same request" is (route,
//! caller and body); this module keeps the record. Neither the key nor the credential is
//! stored (only a hash of both), and the answer's body is encrypted under a key derived
//! from the idempotency key: an answer may carry a secret, such as the tracking code of an
//! anonymous request, which the portal otherwise keeps only as a hash.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// How long an answer is kept (the issue asks for at least 24 hours).
pub const KEPT_FOR_HOURS: i32 = 24;

/// A first request that has neither finished nor failed after this long is taken to be
/// lost (its process died): a repeat with the same body runs it again.
pub const ABANDONED_AFTER_SECONDS: i32 = 120;

/// One request's identity for this module: where it went and who sent it (`scope`: route
/// and credential), its key, and the hash of what it asked (method, path, body).
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    id: String,
    cipher_key: [u8; 32],
    request_sha256: String,
}

impl IdempotentRequest {
    pub fn new(scope: &str, key: &str, request: &[u8]) -> Self {
        let id = hex::encode(Sha256::digest(
            [b"id\0".as_slice(), scope.as_bytes(), b"\0", key.as_bytes()].concat(),
        ));
        let cipher_key: [u8; 32] = Sha256::digest(
            [
                b"body\0".as_slice(),
                scope.as_bytes(),
                b"\0",
                key.as_bytes(),
            ]
            .concat(),
        )
        .into();
        Self {
            id,
            cipher_key,
            request_sha256: hex::encode(Sha256::digest(request)),
        }
    }

    fn cipher(&self) -> LessSafeKey {
        LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &self.cipher_key).expect("a 32-byte key"),
        )
    }
}

/// A kept answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    /// The answer's headers that matter to the client (content type, location, cookies,
    /// the log position).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The first time (or the key's answer expired, or its first run was lost): run it,
    /// then [`complete`] or [`abandon`].
    Run,
    /// Seen before with the same request: answer this.
    Replay(StoredAnswer),
    /// Seen before with another request: refuse (422).
    OtherRequest,
    /// The first request with this key is still running.
    InProgress,
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("a kept answer cannot be read back: {0}")]
    Corrupt(&'static str),
}

/// Claims the key for `request`, or says what was answered under it.
pub async fn begin(pool: &PgPool, request: &IdempotentRequest) -> Result<Begin, IdempotencyError> {
    // A new key, an expired one, or a lost first run of the same request: claimed.
    let claimed: Option<bool> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys AS k (id, request_sha256) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET request_sha256 = EXCLUDED.request_sha256, \
             status = NULL, headers = NULL, nonce = NULL, body = NULL, \
             created_at = now(), completed_at = NULL \
           WHERE k.created_at < now() - make_interval(hours => $3) \
              OR (k.status IS NULL AND k.request_sha256 = EXCLUDED.request_sha256 \
                  AND k.created_at < now() - make_interval(secs => $4)) \
         RETURNING true",
    )
    .bind(&request.id)
    .bind(&request.request_sha256)
    .bind(KEPT_FOR_HOURS)
    .bind(f64::from(ABANDONED_AFTER_SECONDS))
    .fetch_optional(pool)
    .await?;
    if claimed.is_some() {
        return Ok(Begin::Run);
    }
    type Row = (
        String,
        Option<i16>,
        Option<serde_json::Value>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT request_sha256, status, headers, nonce, body FROM idempotency_keys WHERE id = $1",
    )
    .bind(&request.id)
    .fetch_optional(pool)
    .await?;
    let Some((hash, status, headers, nonce, body)) = row else {
        // Abandoned and deleted between the two statements: claim it again.
        return Box::pin(begin(pool, request)).await;
    };
    if hash != request.request_sha256 {
        return Ok(Begin::OtherRequest);
    }
    let Some(status) = status else {
        return Ok(Begin::InProgress);
    };
    let headers: Vec<(String, String)> = serde_json::from_value(headers.unwrap_or_default())
        .map_err(|_| IdempotencyError::Corrupt("headers"))?;
    let nonce = nonce.ok_or(IdempotencyError::Corrupt("nonce"))?;
    let mut body = body.ok_or(IdempotencyError::Corrupt("body"))?;
    let nonce =
        Nonce::try_assume_unique_for_key(&nonce).map_err(|_| IdempotencyError::Corrupt("nonce"))?;
    let plain = request
        .cipher()
        .open_in_place(nonce, Aad::from(request.id.as_bytes()), &mut body)
        .map_err(|_| IdempotencyError::Corrupt("body"))?;
    Ok(Begin::Replay(StoredAnswer {
        status: u16::try_from(status).map_err(|_| IdempotencyError::Corrupt("status"))?,
        headers,
        body: plain.to_vec(),
    }))
}

/// Keeps the answer of a request claimed with [`begin`].
pub async fn complete(
    pool: &PgPool,
    request: &IdempotentRequest,
    answer: &StoredAnswer,
) -> Result<(), IdempotencyError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let mut body = answer.body.clone();
    request
        .cipher()
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(request.id.as_bytes()),
            &mut body,
        )
        .map_err(|_| IdempotencyError::Corrupt("sealing"))?;
    let status = i16::try_from(answer.status).map_err(|_| IdempotencyError::Corrupt("status"))?;
    sqlx::query(
        "UPDATE idempotency_keys SET status = $2, headers = $3, nonce = $4, body = $5, \
         completed_at = now() WHERE id = $1 AND request_sha256 = $6",
    )
    .bind(&request.id)
    .bind(status)
    .bind(serde_json::json!(answer.headers))
    .bind(nonce.as_slice())
    .bind(&body)
    .bind(&request.request_sha256)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a claim whose request did not go through (refused, failed): the key may be used
/// again, with the same body or a corrected one.
pub async fn abandon(pool: &PgPool, request: &IdempotentRequest) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE id = $1 AND status IS NULL AND request_sha256 = $2",
    )
    .bind(&request.id)
    .bind(&request.request_sha256)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes the answers kept longer than [`KEPT_FOR_HOURS`]; answers how many.
pub async fn purge_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
    )
    .bind(KEPT_FOR_HOURS)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_means_the_same_record_only_within_one_scope() {
        let a = IdempotentRequest::new("route|token-a", "k1", b"body");
        let b = IdempotentRequest::new("route|token-b", "k1", b"body");
        let again = IdempotentRequest::new("route|token-a", "k1", b"body");
        let other_body = IdempotentRequest::new("route|token-a", "k1", b"other");
        assert_ne!(a.id, b.id);
        assert_eq!(a.id, again.id);
        assert_eq!(a.id, other_body.id);
        assert_ne!(a.request_sha256, other_body.request_sha256);
        assert_ne!(a.cipher_key, b.cipher_key);
        // Neither the key nor the scope can be read off what is stored.
        assert!(!a.id.contains("k1") && !a.id.contains("token"));
    }
}
