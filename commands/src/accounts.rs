//! Accounts and sessions (S2): registering a citizen, adding staff, logging in and out, the
//! session behind a token, the session's last write (read-your-writes), and the profile.
//! Passwords are kept only as argon2id hashes, session tokens only as their SHA-256.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::account::{check_password, normalize_email, normalize_phone, profile_line, Role};
use domain::refusal::FieldError;
use eventlog::Position;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::context::{Actor, Portal};

/// Why an account use case did not go through.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Fields to correct (`email_taken` among them: the e-mail has an account already).
    #[error("invalid: {0:?}")]
    Invalid(Vec<FieldError>),
    /// No account has this e-mail and password (which of the two is never said).
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The SHA-256 of a session token: what the database keeps instead of the token.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

// ---------------------------------------------------------------------------------------
// Passwords.
// ---------------------------------------------------------------------------------------

/// Hashes with argon2id (on a blocking thread: it is meant to be slow).
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hashing(format!("task failed: {e}")))?
}

/// Verifies against a stored hash; with no account, verifies against a throw-away hash so
/// that the answer takes as long whether the e-mail exists or not.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let exists = stored.is_some();
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
                    Argon2::default()
                        .hash_password(b"no account has this password", &salt)
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .clone()
        });
        let ok = PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && exists
    })
    .await
    .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------
// New accounts.
// ---------------------------------------------------------------------------------------

/// A new account. A taken e-mail (the unique key says so) is the field error `email_taken`.
async fn insert_account(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    full_name: &str,
    role: Role,
) -> Result<Uuid, AccountError> {
    let id = Uuid::new_v4();
    let result = sqlx::query(
        "INSERT INTO accounts (id, email, email_normalized, password_hash, full_name, role) \
         VALUES ($1, $2, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(email)
    .bind(password_hash)
    .bind(full_name)
    .bind(role.as_str())
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => Err(
            AccountError::Invalid(vec![FieldError::new("email", "email_taken")]),
        ),
        Err(e) => Err(e.into()),
    }
}

/// A citizen account that was created.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: Uuid,
    /// As stored: trimmed and in lower case.
    pub email: String,
    pub full_name: String,
}

/// Registers a citizen: every field is checked (all the problems are said at once), the
/// password is hashed, the account created.
pub async fn register_citizen(
    portal: &Portal,
    email: &str,
    password: &str,
    full_name: &str,
) -> Result<NewAccount, AccountError> {
    let mut errors = Vec::new();
    let email = normalize_email(email).map_err(|e| errors.push(e)).ok();
    if let Some(code) = check_password(password, email.as_deref().unwrap_or("")) {
        errors.push(FieldError::new("password", code));
    }
    let full_name = profile_line("full_name", full_name, 100)
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(email), Some(full_name), true) = (email, full_name, errors.is_empty()) else {
        return Err(AccountError::Invalid(errors));
    };
    let hash = hash_password(password.to_string()).await?;
    let id = insert_account(&portal.pool, &email, &hash, &full_name, Role::Citizen).await?;
    Ok(NewAccount {
        id,
        email,
        full_name,
    })
}

/// A staff account to create, checked.
#[derive(Debug, Clone)]
pub struct NewStaff {
    email: String,
    name: String,
    role: Role,
    password: String,
}

impl NewStaff {
    /// The e-mail as it will be stored.
    pub fn email(&self) -> &str {
        &self.email
    }
}

/// Checks a staff account (staff do not register through the public form): a role other
/// than citizen, a valid e-mail, a name of 1 to 100 characters, an acceptable password. The
/// first problem is answered, on the field `role`, `email`, `name` or `password`.
pub fn check_staff(
    email: &str,
    name: &str,
    role: &str,
    password: &str,
) -> Result<NewStaff, FieldError> {
    let role = match Role::parse(role) {
        Some(Role::Citizen) | None => return Err(FieldError::new("role", "role_invalid")),
        Some(role) => role,
    };
    let email = normalize_email(email)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new("name", "name_invalid"));
    }
    if let Some(code) = check_password(password, &email) {
        return Err(FieldError::new("password", code));
    }
    Ok(NewStaff {
        email,
        name: name.to_string(),
        role,
        password: password.to_string(),
    })
}

/// Creates a checked staff account (from the command line, which has a pool and no
/// [`Portal`]).
pub async fn add_staff(pool: &PgPool, staff: NewStaff) -> Result<Uuid, AccountError> {
    let hash = hash_password(staff.password).await?;
    insert_account(pool, &staff.email, &hash, &staff.name, staff.role).await
}

// ---------------------------------------------------------------------------------------
// Sessions.
// ---------------------------------------------------------------------------------------

/// A session just opened.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    /// Handed out once; the database keeps only its SHA-256.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub role: Role,
    pub account_id: Uuid,
}

/// Checks the credentials and opens a session for [`crate::Settings::session_lifetime`].
pub async fn log_in(
    portal: &Portal,
    email: &str,
    password: String,
) -> Result<OpenedSession, AccountError> {
    // Every account was registered with a valid e-mail: one that is not (say, with a NUL
    // byte, which PostgreSQL text cannot hold) has no account, and fails like a wrong one.
    let email = normalize_email(email).ok();
    let row: Option<(Uuid, String, String)> = match &email {
        Some(email) => {
            sqlx::query_as(
                "SELECT id, password_hash, role FROM accounts WHERE email_normalized = $1",
            )
            .bind(email)
            .fetch_optional(&portal.pool)
            .await?
        }
        None => None,
    };
    let stored = row.as_ref().map(|(_, hash, _)| hash.clone());
    if !verify_password(password, stored).await {
        return Err(AccountError::InvalidCredentials);
    }
    let Some((account_id, _, role)) = row else {
        return Err(AccountError::InvalidCredentials);
    };
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let expires_at = Utc::now() + portal.settings.session_lifetime;
    sqlx::query("INSERT INTO sessions (token_sha256, account_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_sha256(&token))
        .bind(account_id)
        .bind(expires_at)
        .execute(&portal.pool)
        .await?;
    Ok(OpenedSession {
        token,
        expires_at,
        role: Role::parse(&role).unwrap_or(Role::Citizen),
        account_id,
    })
}

/// Ends the session `session` (the SHA-256 of its token).
pub async fn log_out(portal: &Portal, session: &str) -> Result<(), AccountError> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(session)
    .execute(&portal.pool)
    .await?;
    Ok(())
}

/// A session that stands, and who it is.
#[derive(Debug, Clone)]
pub struct Session {
    pub account_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    /// The SHA-256 of the token, to revoke the session or record positions on it.
    pub session: String,
    /// The position of the last event this session wrote (see [`record_write`]).
    pub last_position: Option<Position>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    email: String,
    full_name: String,
    role: String,
    last_transaction_id: Option<i64>,
    last_position: Option<i64>,
}

/// The session of `token`, if it stands (not revoked, not expired).
pub async fn session(portal: &Portal, token: &str) -> Result<Option<Session>, AccountError> {
    let hash = token_sha256(token);
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT a.id, a.email, a.full_name, a.role, s.last_transaction_id, s.last_position \
         FROM sessions s JOIN accounts a ON a.id = s.account_id \
         WHERE s.token_sha256 = $1 AND s.revoked_at IS NULL AND s.expires_at > now()",
    )
    .bind(&hash)
    .fetch_optional(&portal.pool)
    .await?;
    Ok(row.map(|r| Session {
        account_id: r.id,
        email: r.email,
        full_name: r.full_name,
        role: Role::parse(&r.role).unwrap_or(Role::Citizen),
        session: hash,
        last_position: r.last_transaction_id.zip(r.last_position).map(
            |(transaction_id, global_position)| Position {
                transaction_id,
                global_position,
            },
        ),
    }))
}

/// Records that the actor's session wrote up to `position`, so its next reads wait for it
/// (nothing to record without a session, e.g. from the command line). Two concurrent
/// commands of one session never move the position backwards.
pub async fn record_write(
    portal: &Portal,
    actor: &Actor,
    position: Position,
) -> Result<(), sqlx::Error> {
    let Some(session) = &actor.session else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE sessions SET last_transaction_id = $2, last_position = $3 \
         WHERE token_sha256 = $1 \
           AND (last_transaction_id IS NULL OR (last_transaction_id, last_position) < ($2, $3))",
    )
    .bind(session)
    .bind(position.transaction_id)
    .bind(position.global_position)
    .execute(&portal.pool)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The profile.
// ---------------------------------------------------------------------------------------

/// The account's details as its owner sees them («Τα στοιχεία μου», `GET /api/v1/me`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Profile {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub father_name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The profile of account `id`.
pub async fn profile(portal: &Portal, id: Uuid) -> Result<Profile, AccountError> {
    Ok(sqlx::query_as(
        "SELECT id, email, full_name, father_name, address, phone, role, created_at, updated_at \
         FROM accounts WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&portal.pool)
    .await?)
}

/// The profile details as typed. The name is required; the others, absent or empty, are
/// cleared.
#[derive(Debug, Clone, Default)]
pub struct ProfileDetails {
    pub full_name: Option<String>,
    pub father_name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
}

/// An optional profile field: absent or empty clears it, otherwise it must be valid.
fn optional(
    raw: Option<String>,
    parse: impl Fn(&str) -> Result<String, FieldError>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let raw = raw.filter(|v| !v.trim().is_empty())?;
    parse(&raw).map_err(|e| errors.push(e)).ok()
}

/// Checks and replaces the actor's profile details (the e-mail stays as registered);
/// answers the profile as stored.
pub async fn update_profile(
    portal: &Portal,
    actor: &Actor,
    details: ProfileDetails,
) -> Result<Profile, AccountError> {
    let mut errors = Vec::new();
    let full_name = profile_line("full_name", details.full_name.as_deref().unwrap_or(""), 100)
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    let father_name = optional(
        details.father_name,
        |v| profile_line("father_name", v, 100),
        &mut errors,
    );
    let address = optional(
        details.address,
        |v| profile_line("address", v, 200),
        &mut errors,
    );
    let phone = optional(details.phone, normalize_phone, &mut errors);
    if !errors.is_empty() {
        return Err(AccountError::Invalid(errors));
    }
    sqlx::query(
        "UPDATE accounts SET full_name = $2, father_name = $3, address = $4, phone = $5, \
         updated_at = now() WHERE id = $1",
    )
    .bind(actor.account_id)
    .bind(&full_name)
    .bind(&father_name)
    .bind(&address)
    .bind(&phone)
    .execute(&portal.pool)
    .await?;
    profile(portal, actor.account_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_accounts_are_checked_field_by_field() {
        let ok = "Κωδικός-Ασφαλής-7";
        let field = |r: Result<NewStaff, FieldError>| r.unwrap_err().field;
        assert_eq!(field(check_staff("a@b.gr", "Α", "citizen", ok)), "role");
        assert_eq!(field(check_staff("a@b.gr", "Α", "boss", ok)), "role");
        assert_eq!(field(check_staff("not-mail", "Α", "clerk", ok)), "email");
        assert_eq!(field(check_staff("a@b.gr", "  ", "clerk", ok)), "name");
        assert_eq!(
            field(check_staff("a@b.gr", "Α", "clerk", "short")),
            "password"
        );
        let staff = check_staff(" A@B.gr ", " Μαρία ", "auditor", ok).unwrap();
        assert_eq!(
            (staff.email.as_str(), staff.name.as_str()),
            ("a@b.gr", "Μαρία")
        );
        assert_eq!(staff.role, Role::Auditor);
    }
}
