//! Accounts and sessions (S2): registering a citizen, adding and managing staff, logging in
//! and out, the session behind a token (ending after [`crate::Settings::session_lifetime`]
//! or [`crate::Settings::session_idle`] without use), the sessions a person sees and ends,
//! changing the password, the session's last write (read-your-writes), and the profile.
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
use crate::session_cache::{announce_change, SESSIONS_CHANNEL};

/// Why an account use case did not go through.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Fields to correct (`email_taken` among them: the e-mail has an account already).
    #[error("invalid: {0:?}")]
    Invalid(Vec<FieldError>),
    /// No account has this e-mail and password (which of the two is never said; a
    /// disabled account fails the same way).
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// No such account, or no such session of the actor's.
    #[error("not found")]
    NotFound,
    /// The actor's role may not do this.
    #[error("forbidden")]
    Forbidden,
    /// Too many failed logins for this e-mail from this address: wait this many seconds.
    #[error("too many failed logins; retry in {0} s")]
    Throttled(u64),
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
    activated: bool,
) -> Result<Uuid, AccountError> {
    let id = Uuid::new_v4();
    let result = sqlx::query(
        "INSERT INTO accounts (id, email, email_normalized, password_hash, full_name, role, \
         activated_at) VALUES ($1, $2, $2, $3, $4, $5, CASE WHEN $6 THEN now() END)",
    )
    .bind(id)
    .bind(email)
    .bind(password_hash)
    .bind(full_name)
    .bind(role.as_str())
    .bind(activated)
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

/// Registers a citizen: every field is checked (all the problems are said at once) and
/// the answer is the e-mail as it will be stored, whether or not it has an account already
/// — so registration tells nobody whether an address is registered. A new address gets an
/// account that is activated through a link e-mailed to it (48 hours, once); an address
/// with an account not yet activated gets a new link; an address with an active account
/// gets an e-mail saying someone tried to register with it (at most one an hour).
pub async fn register_citizen(
    portal: &Portal,
    email: &str,
    password: &str,
    full_name: &str,
) -> Result<String, AccountError> {
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
    // Hashed either way, so that both answers take as long.
    let hash = hash_password(password.to_string()).await?;
    let registration = Registration {
        email: &email,
        full_name: &full_name,
        password_hash: &hash,
    };
    match insert_account(
        &portal.pool,
        &email,
        &hash,
        &full_name,
        Role::Citizen,
        false,
    )
    .await
    {
        Ok(id) => {
            send_activation(portal, id, &registration).await?;
            Ok(email)
        }
        Err(AccountError::Invalid(_)) => {
            let existing: Option<(Uuid, String, bool)> = sqlx::query_as(
                "SELECT id, full_name, activated_at IS NOT NULL FROM accounts \
                 WHERE email_normalized = $1",
            )
            .bind(&email)
            .fetch_optional(&portal.pool)
            .await?;
            match existing {
                // This registration's own link: opening it sets this password and name.
                Some((id, _, false)) => send_activation(portal, id, &registration).await?,
                Some((id, name, true)) => {
                    tell_of_registration_attempt(portal, id, &email, &name).await?
                }
                None => {}
            }
            Ok(email)
        }
        Err(e) => Err(e),
    }
}

/// How long an activation link works.
const ACTIVATION_LIFETIME_HOURS: i32 = 48;

/// A registration as typed and checked (the password already hashed).
struct Registration<'a> {
    email: &'a str,
    full_name: &'a str,
    password_hash: &'a str,
}

/// E-mails account `account` a new activation link that carries `registration`'s password
/// hash and name (not while the last link is younger than a minute).
async fn send_activation(
    portal: &Portal,
    account: Uuid,
    registration: &Registration<'_>,
) -> Result<(), AccountError> {
    if sent_lately(&portal.pool, "account_activations", account, 60).await? {
        return Ok(());
    }
    let (email, name) = (registration.email, registration.full_name);
    let mut tx = portal.pool.begin().await?;
    let minutes = ACTIVATION_LIFETIME_HOURS * 60;
    let (key, link) = issue_link(
        portal,
        &mut tx,
        "account_activations",
        account,
        minutes,
        "activate",
    )
    .await?;
    // The link carries this registration's password and name.
    sqlx::query(
        "UPDATE account_activations SET password_hash = $2, full_name = $3 \
         WHERE token_sha256 = $1",
    )
    .bind(&key)
    .bind(registration.password_hash)
    .bind(registration.full_name)
    .execute(&mut *tx)
    .await?;
    let (subject, body) = account_notice(
        portal,
        "Ενεργοποίηση λογαριασμού / Activate your account",
        &format!(
            "Αγαπητή/έ {name},\n\n\
             για να ενεργοποιήσετε τον λογαριασμό σας στην πύλη, ανοίξτε τον σύνδεσμο \
             (ισχύει {ACTIVATION_LIFETIME_HOURS} ώρες, μία φορά):\n\n\
             {link}\n\n\
             Αν δεν κάνατε εσείς εγγραφή, αγνοήστε αυτό το μήνυμα."
        ),
        &format!(
            "Dear {name},\n\n\
             to activate your account at the portal, open the link (it works for \
             {ACTIVATION_LIFETIME_HOURS} hours, once):\n\n\
             {link}\n\n\
             If you did not register, ignore this message."
        ),
    );
    queue_account_mail(
        &mut *tx,
        "account-activation",
        account,
        email,
        &subject,
        &body,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// E-mails the owner of an active account that someone tried to register with its
/// address (at most one an hour).
async fn tell_of_registration_attempt(
    portal: &Portal,
    account: Uuid,
    email: &str,
    name: &str,
) -> Result<(), AccountError> {
    let recent: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mail_outbox WHERE account_id = $1 \
         AND event_key LIKE 'registration-attempt.%' AND created_at > now() - interval '1 hour')",
    )
    .bind(account.to_string())
    .fetch_one(&portal.pool)
    .await?;
    if recent {
        return Ok(());
    }
    let (subject, body) = account_notice(
        portal,
        "Προσπάθεια εγγραφής με το e-mail σας / Someone tried to register with your e-mail",
        &format!(
            "Αγαπητή/έ {name},\n\n\
             κάποιος προσπάθησε να κάνει εγγραφή στην πύλη με αυτό το e-mail, που έχει ήδη \
             λογαριασμό. Δεν άλλαξε τίποτα στον λογαριασμό σας.\n\
             Αν ήσασταν εσείς, συνδεθείτε με τον κωδικό σας· αν τον ξεχάσατε, επιλέξτε \
             «Ξεχάσατε τον κωδικό σας;» στη σελίδα εισόδου."
        ),
        &format!(
            "Dear {name},\n\n\
             someone tried to register at the portal with this e-mail, which already has an \
             account. Nothing changed in your account.\n\
             If it was you, log in with your password; if you forgot it, choose “Forgot your \
             password?” on the login page."
        ),
    );
    queue_account_mail(
        &portal.pool,
        "registration-attempt",
        account,
        email,
        &subject,
        &body,
    )
    .await?;
    Ok(())
}

/// Stores a new single-use link of `account` in `table` (`account_activations` or
/// `password_resets`: only the token's SHA-256), valid for `minutes`, and answers the
/// token's SHA-256 (the row's key) and the link's address `{portal}/{path}/{token}`.
async fn issue_link(
    portal: &Portal,
    tx: &mut sqlx::PgConnection,
    table: &'static str,
    account: Uuid,
    minutes: i32,
    path: &str,
) -> Result<(String, String), sqlx::Error> {
    let token = new_token();
    let key = token_sha256(&token);
    sqlx::query(&format!(
        "INSERT INTO {table} (token_sha256, account_id, expires_at) \
         VALUES ($1, $2, now() + make_interval(mins => $3))"
    ))
    .bind(&key)
    .bind(account)
    .bind(minutes)
    .execute(tx)
    .await?;
    let url = format!(
        "{}/{path}/{token}",
        portal.settings.portal_url.trim_end_matches('/')
    );
    Ok((key, url))
}

/// Whether `table` (`account_activations` or `password_resets`) holds an unused link of
/// `account` younger than `seconds`.
async fn sent_lately(
    pool: &PgPool,
    table: &'static str,
    account: Uuid,
    seconds: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE account_id = $1 \
         AND used_at IS NULL AND created_at > now() - make_interval(secs => $2))"
    ))
    .bind(account)
    .bind(seconds as f64)
    .fetch_one(pool)
    .await
}

/// Activates the account of activation link `token` (field `token`, code
/// `activation_link_invalid`, when the link is expired, used or unknown).
pub async fn activate_account(portal: &Portal, token: &str) -> Result<(), AccountError> {
    let invalid =
        || AccountError::Invalid(vec![FieldError::new("token", "activation_link_invalid")]);
    let mut tx = portal.pool.begin().await?;
    let claimed: Option<(Uuid, Option<String>, Option<String>)> = sqlx::query_as(
        "UPDATE account_activations SET used_at = now() \
         WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > now() \
         RETURNING account_id, password_hash, full_name",
    )
    .bind(token_sha256(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((account, password_hash, full_name)) = claimed else {
        return Err(invalid());
    };
    // The password and name of the registration whose link this is: an earlier
    // registration of the same address by someone else does not keep its password.
    sqlx::query(
        "UPDATE accounts SET password_hash = coalesce($2, password_hash), \
         full_name = coalesce($3, full_name) WHERE id = $1 AND activated_at IS NULL",
    )
    .bind(account)
    .bind(password_hash)
    .bind(full_name)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE account_activations SET used_at = now() WHERE account_id = $1 AND used_at IS NULL",
    )
    .bind(account)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE accounts SET activated_at = coalesce(activated_at, now()), updated_at = now() \
         WHERE id = $1",
    )
    .bind(account)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
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
/// [`Portal`]); `by` says who (recorded in `staff_changes`).
pub async fn add_staff(pool: &PgPool, staff: NewStaff, by: &str) -> Result<Uuid, AccountError> {
    let hash = hash_password(staff.password).await?;
    let id = insert_account(pool, &staff.email, &hash, &staff.name, staff.role, true).await?;
    // Recorded after the insert (whose unique key decides "already exists"); should this
    // fail, the account is removed again so that no staff account lacks its history.
    if let Err(e) = record_staff_change(pool, id, "added", staff.role.as_str(), by).await {
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
        return Err(e.into());
    }
    Ok(id)
}

async fn record_staff_change(
    db: impl sqlx::PgExecutor<'_>,
    account_id: Uuid,
    change: &str,
    detail: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO staff_changes (account_id, change, detail, changed_by) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(account_id)
    .bind(change)
    .bind(detail)
    .bind(by)
    .execute(db)
    .await?;
    Ok(())
}

/// Ends every session of account `account_id` but the one whose token hash is `keep`;
/// answers how many.
async fn revoke_sessions(
    db: impl sqlx::PgExecutor<'_>,
    account_id: Uuid,
    keep: Option<&str>,
) -> Result<u64, sqlx::Error> {
    // Every portal process drops the account's cached sessions when this commits
    // (commands::session_cache); the caller drops them in its own at once.
    let ended: i64 = sqlx::query_scalar(
        "WITH ended AS (UPDATE sessions SET revoked_at = now() \
                         WHERE account_id = $1 AND token_sha256 <> $2 AND revoked_at IS NULL \
                         RETURNING 1), \
              told AS (SELECT pg_notify($3, $1::text)) \
         SELECT count(*) FROM ended, told",
    )
    .bind(account_id)
    .bind(keep.unwrap_or(""))
    .bind(SESSIONS_CHANNEL)
    .fetch_one(db)
    .await?;
    Ok(ended as u64)
}

/// A staff account as `portal staff list` and the auditors' staff page show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = StaffAccount)]
pub struct StaffMember {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    #[schema(value_type = domain::account::Role)]
    pub role: String,
    pub created_at: DateTime<Utc>,
    #[schema(required)]
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Every staff account (clerks, auditors, administrators), by e-mail.
pub async fn staff(pool: &PgPool) -> Result<Vec<StaffMember>, AccountError> {
    Ok(sqlx::query_as(
        "SELECT id, email, full_name, role, created_at, disabled_at FROM accounts \
         WHERE role <> 'citizen' ORDER BY email",
    )
    .fetch_all(pool)
    .await?)
}

/// The staff account with e-mail `email` (a citizen's is not one).
async fn staff_member(pool: &PgPool, email: &str) -> Result<StaffMember, AccountError> {
    let email = normalize_email(email).map_err(|e| AccountError::Invalid(vec![e]))?;
    let found: Option<StaffMember> = sqlx::query_as(
        "SELECT id, email, full_name, role, created_at, disabled_at FROM accounts \
         WHERE email_normalized = $1 AND role <> 'citizen'",
    )
    .bind(&email)
    .fetch_optional(pool)
    .await?;
    found.ok_or(AccountError::NotFound)
}

/// Disables (or enables again) staff account `email`; disabling ends its sessions at
/// once. Answers whether anything changed.
pub async fn set_staff_disabled(
    pool: &PgPool,
    email: &str,
    disabled: bool,
    by: &str,
) -> Result<bool, AccountError> {
    let member = staff_member(pool, email).await?;
    if member.disabled_at.is_some() == disabled {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE accounts SET disabled_at = CASE WHEN $2 THEN now() END, updated_at = now() WHERE id = $1")
        .bind(member.id)
        .bind(disabled)
        .execute(&mut *tx)
        .await?;
    if disabled {
        revoke_sessions(&mut *tx, member.id, None).await?;
    }
    let change = if disabled { "disabled" } else { "enabled" };
    record_staff_change(&mut *tx, member.id, change, "", by).await?;
    tx.commit().await?;
    Ok(true)
}

/// Gives staff account `email` another staff role (`clerk`, `auditor`, `admin`); its
/// sessions end, so the new role applies from its next login. Answers whether anything
/// changed.
pub async fn set_staff_role(
    pool: &PgPool,
    email: &str,
    role: &str,
    by: &str,
) -> Result<bool, AccountError> {
    let role = match Role::parse(role) {
        Some(Role::Citizen) | None => {
            return Err(AccountError::Invalid(vec![FieldError::new(
                "role",
                "role_invalid",
            )]))
        }
        Some(role) => role,
    };
    let member = staff_member(pool, email).await?;
    if member.role == role.as_str() {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE accounts SET role = $2, updated_at = now() WHERE id = $1")
        .bind(member.id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
    revoke_sessions(&mut *tx, member.id, None).await?;
    let detail = format!("{} → {}", member.role, role.as_str());
    record_staff_change(&mut *tx, member.id, "role_changed", &detail, by).await?;
    tx.commit().await?;
    Ok(true)
}

/// One change to a staff account, as the auditors' staff page shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StaffChange {
    pub email: String,
    pub full_name: String,
    #[schema(value_type = StaffChangeKind, inline)]
    pub change: String,
    /// `added`: the role; `role_changed`: `old → new`; otherwise empty.
    pub detail: String,
    /// Who made the change, e.g. `command line (operator)`.
    pub changed_by: String,
    pub at: DateTime<Utc>,
}

/// The changes a staff account goes through (the `change` of a [`StaffChange`]; the
/// column is text). Documentation only.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum StaffChangeKind {
    Added,
    RoleChanged,
    Disabled,
    Enabled,
}

/// Every change to staff accounts, newest first (auditors and administrators only).
pub async fn staff_changes(
    portal: &Portal,
    actor: &Actor,
) -> Result<Vec<StaffChange>, AccountError> {
    if !actor.holds(&[Role::Auditor, Role::Admin]) {
        return Err(AccountError::Forbidden);
    }
    Ok(sqlx::query_as(
        "SELECT a.email, a.full_name, c.change, c.detail, c.changed_by, c.at \
         FROM staff_changes c JOIN accounts a ON a.id = c.account_id ORDER BY c.id DESC",
    )
    .fetch_all(&portal.pool)
    .await?)
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

/// The device a session is opened from, as its browser names itself.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
}

/// Checks the credentials and opens a session for [`crate::Settings::session_lifetime`].
pub async fn log_in(
    portal: &Portal,
    email: &str,
    password: String,
    device: Device,
) -> Result<OpenedSession, AccountError> {
    // Every account was registered with a valid e-mail: one that is not (say, with a NUL
    // byte, which PostgreSQL text cannot hold) has no account, and fails like a wrong one.
    let email = normalize_email(email).ok();
    let client_ip = device
        .client_ip
        .clone()
        .unwrap_or_else(|| "unknown".to_string());
    if let Some(email) = &email {
        if let Some(wait) = login_wait(portal, email, &client_ip).await? {
            return Err(AccountError::Throttled(wait));
        }
    }
    let row: Option<(Uuid, String, String)> = match &email {
        Some(email) => {
            sqlx::query_as(
                "SELECT id, password_hash, role FROM accounts \
                 WHERE email_normalized = $1 AND disabled_at IS NULL \
                   AND activated_at IS NOT NULL",
            )
            .bind(email)
            .fetch_optional(&portal.pool)
            .await?
        }
        None => None,
    };
    let stored = row.as_ref().map(|(_, hash, _)| hash.clone());
    let verified = verify_password(password, stored).await;
    let (Some(email), Some((account_id, _, role)), true) = (&email, &row, verified) else {
        if let Some(email) = &email {
            record_login_failure(portal, email, &client_ip, row.as_ref().map(|r| r.0)).await?;
        }
        return Err(AccountError::InvalidCredentials);
    };
    let (account_id, role) = (*account_id, role.clone());
    sqlx::query("DELETE FROM login_failures WHERE email_normalized = $1 AND client_ip = $2")
        .bind(email)
        .bind(&client_ip)
        .execute(&portal.pool)
        .await?;
    let token = new_token();
    let expires_at = Utc::now() + portal.settings.session_lifetime;
    // What the browser says of itself, cut to a length a page can show.
    let user_agent = device.user_agent.map(|ua| {
        ua.chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect::<String>()
    });
    sqlx::query(
        "INSERT INTO sessions (token_sha256, account_id, expires_at, user_agent, client_ip, \
         last_used_at) VALUES ($1, $2, $3, $4, $5, now())",
    )
    .bind(token_sha256(&token))
    .bind(account_id)
    .bind(expires_at)
    .bind(user_agent)
    .bind(device.client_ip)
    .execute(&portal.pool)
    .await?;
    Ok(OpenedSession {
        token,
        expires_at,
        role: Role::parse(&role).unwrap_or(Role::Citizen),
        account_id,
    })
}

/// Failed logins from one address for one e-mail before that address must wait.
pub const LOGIN_FAILURES_BEFORE_DELAY: i32 = 5;
/// Failed logins from one address after which the account's owner is told by e-mail.
pub const LOGIN_FAILURES_NOTICE: i32 = 10;
/// The longest wait between attempts, in seconds.
const LOGIN_DELAY_MAX_SECONDS: i64 = 15 * 60;

/// How long an address must wait after `failures` failed logins in a row: nothing for the
/// first [`LOGIN_FAILURES_BEFORE_DELAY`] - 1, then 1 s, 2 s, 4 s … at most 15 minutes.
pub fn login_delay_seconds(failures: i32) -> i64 {
    if failures < LOGIN_FAILURES_BEFORE_DELAY {
        return 0;
    }
    let doublings = (failures - LOGIN_FAILURES_BEFORE_DELAY).min(20) as u32;
    (1_i64 << doublings).min(LOGIN_DELAY_MAX_SECONDS)
}

/// Seconds `client_ip` must still wait before trying `email` again, if any.
async fn login_wait(
    portal: &Portal,
    email: &str,
    client_ip: &str,
) -> Result<Option<u64>, AccountError> {
    let row: Option<(i32, DateTime<Utc>)> = sqlx::query_as(
        "SELECT failures, last_failed_at FROM login_failures \
         WHERE email_normalized = $1 AND client_ip = $2",
    )
    .bind(email)
    .bind(client_ip)
    .fetch_optional(&portal.pool)
    .await?;
    let Some((failures, last)) = row else {
        return Ok(None);
    };
    let until = last + chrono::Duration::seconds(login_delay_seconds(failures));
    let left = (until - Utc::now()).num_milliseconds();
    Ok((left > 0).then(|| (left as u64).div_ceil(1000)))
}

/// Counts a failed login of `email` from `client_ip`; on the
/// [`LOGIN_FAILURES_NOTICE`]th in a row, tells the account's owner (if there is an account).
async fn record_login_failure(
    portal: &Portal,
    email: &str,
    client_ip: &str,
    account: Option<Uuid>,
) -> Result<(), AccountError> {
    let failures: i32 = sqlx::query_scalar(
        "INSERT INTO login_failures (email_normalized, client_ip, failures, last_failed_at) \
         VALUES ($1, $2, 1, now()) \
         ON CONFLICT (email_normalized, client_ip) \
         DO UPDATE SET failures = login_failures.failures + 1, last_failed_at = now() \
         RETURNING failures",
    )
    .bind(email)
    .bind(client_ip)
    .fetch_one(&portal.pool)
    .await?;
    if let (LOGIN_FAILURES_NOTICE, Some(account)) = (failures, account) {
        let name: String = sqlx::query_scalar("SELECT full_name FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_one(&portal.pool)
            .await?;
        let (subject, body) = failed_logins_notice(portal, &name, client_ip);
        queue_account_mail(
            &portal.pool,
            "failed-logins",
            account,
            email,
            &subject,
            &body,
        )
        .await?;
    }
    Ok(())
}

/// Queues an e-mail about the account itself (not a case) in the mail outbox; the mail
/// sender delivers it like every notice.
async fn queue_account_mail(
    db: impl sqlx::PgExecutor<'_>,
    kind: &str,
    account: Uuid,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, event_key, account_id, to_address, subject, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4())
    .bind(format!("{kind}.{account}.{}", Uuid::new_v4()))
    .bind(account.to_string())
    .bind(to)
    .bind(subject)
    .bind(body)
    .execute(db)
    .await?;
    Ok(())
}

/// A notice about the account, in Greek then English, signed by the municipality.
fn account_notice(portal: &Portal, subject: &str, el: &str, en: &str) -> (String, String) {
    let names = &portal.settings.municipality.municipality;
    let body = format!(
        "{el}\n\n{}\n\n---\n\n{en}\n\n{}\n",
        names.name_el, names.name_en
    );
    (subject.to_string(), body)
}

fn failed_logins_notice(portal: &Portal, name: &str, client_ip: &str) -> (String, String) {
    account_notice(
        portal,
        "Αποτυχημένες συνδέσεις στον λογαριασμό σας / Failed logins to your account",
        &format!(
            "Αγαπητή/έ {name},\n\n\
             έγιναν {LOGIN_FAILURES_NOTICE} συνεχόμενες αποτυχημένες προσπάθειες σύνδεσης στον \
             λογαριασμό σας από τη διεύθυνση {client_ip}. Οι νέες προσπάθειες από εκεί \
             καθυστερούν· εσείς μπορείτε να συνδέεστε κανονικά.\n\
             Αν δεν ήσασταν εσείς, αλλάξτε τον κωδικό σας (Τα στοιχεία μου → Κωδικός και \
             συνδέσεις)."
        ),
        &format!(
            "Dear {name},\n\n\
             there were {LOGIN_FAILURES_NOTICE} failed logins in a row to your account from the \
             address {client_ip}. Further attempts from there are slowed down; you can log in \
             as usual.\n\
             If it was not you, change your password (My details → Password and sessions)."
        ),
    )
}

/// Ends the session `session` (the SHA-256 of its token).
pub async fn log_out(portal: &Portal, session: &str) -> Result<(), AccountError> {
    // Every other portal process drops it too (commands::session_cache).
    sqlx::query(
        "WITH ended AS (UPDATE sessions SET revoked_at = now() \
                         WHERE token_sha256 = $1 AND revoked_at IS NULL RETURNING account_id) \
         SELECT pg_notify($2, account_id::text) FROM ended",
    )
    .bind(session)
    .bind(SESSIONS_CHANNEL)
    .execute(&portal.pool)
    .await?;
    portal.sessions.forget(session);
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
    /// Whether the last use was long enough ago to be recorded again.
    stale_use: bool,
    /// When the session expires or falls idle, counting this use.
    valid_until: DateTime<Utc>,
}

/// How often a session's last use is written down: often enough for the inactivity
/// limit and the sessions page, rarely enough that reads stay reads.
const LAST_USE_PRECISION_SECONDS: i64 = 60;

/// The session of `token`, if it stands: not revoked, not past its lifetime, used within
/// [`crate::Settings::session_idle`], and its account not disabled. Records the use.
pub async fn session(portal: &Portal, token: &str) -> Result<Option<Session>, AccountError> {
    let hash = token_sha256(token);
    if let Some(session) = portal.sessions.get(&hash, Utc::now()) {
        return Ok(Some(session));
    }
    let generation = portal.sessions.generation();
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT a.id, a.email, a.full_name, a.role, s.last_transaction_id, s.last_position, \
         coalesce(s.last_used_at, s.created_at) < now() - make_interval(secs => $3) AS stale_use, \
         least(s.expires_at, \
               CASE WHEN coalesce(s.last_used_at, s.created_at) < now() - make_interval(secs => $3) \
                    THEN now() ELSE coalesce(s.last_used_at, s.created_at) END \
               + make_interval(secs => $2)) AS valid_until \
         FROM sessions s JOIN accounts a ON a.id = s.account_id \
         WHERE s.token_sha256 = $1 AND s.revoked_at IS NULL AND s.expires_at > now() \
           AND coalesce(s.last_used_at, s.created_at) > now() - make_interval(secs => $2) \
           AND a.disabled_at IS NULL",
    )
    .bind(&hash)
    .bind(portal.settings.session_idle.num_seconds() as f64)
    // Written down often enough that a short idle limit still sees the use.
    .bind(LAST_USE_PRECISION_SECONDS.min(portal.settings.session_idle.num_seconds() / 4) as f64)
    .fetch_optional(&portal.pool)
    .await?;
    if row.as_ref().is_some_and(|r| r.stale_use) {
        sqlx::query("UPDATE sessions SET last_used_at = now() WHERE token_sha256 = $1")
            .bind(&hash)
            .execute(&portal.pool)
            .await?;
    }
    let Some(r) = row else { return Ok(None) };
    let session = Session {
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
    };
    portal
        .sessions
        .put(session.clone(), r.valid_until, generation);
    Ok(Some(session))
}

/// One of a person's sessions, as «Συνδέσεις» shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// What the browser said of itself at login (at most 300 characters).
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    /// The session this request came with.
    pub current: bool,
}

/// The actor's sessions that still stand, the current one first, then by last use.
pub async fn sessions(portal: &Portal, actor: &Actor) -> Result<Vec<SessionInfo>, AccountError> {
    Ok(sqlx::query_as(
        "SELECT id, created_at, coalesce(last_used_at, created_at) AS last_used_at, expires_at, \
         user_agent, client_ip, token_sha256 = $2 AS current \
         FROM sessions WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > now() \
           AND coalesce(last_used_at, created_at) > now() - make_interval(secs => $3) \
         ORDER BY token_sha256 = $2 DESC, coalesce(last_used_at, created_at) DESC",
    )
    .bind(actor.account_id)
    .bind(actor.session.as_deref().unwrap_or(""))
    .bind(portal.settings.session_idle.num_seconds() as f64)
    .fetch_all(&portal.pool)
    .await?)
}

/// Ends the actor's session `id` (another device's, or this one); answers whether it was
/// the one this request came with (then the actor is logged out). Someone else's session,
/// or one that already ended, is [`AccountError::NotFound`].
pub async fn end_session(portal: &Portal, actor: &Actor, id: Uuid) -> Result<bool, AccountError> {
    let ended: Option<(String, bool)> = sqlx::query_as(
        "WITH ended AS (UPDATE sessions SET revoked_at = now() \
                         WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL \
                         RETURNING token_sha256, token_sha256 = $3 AS current) \
         SELECT token_sha256, current FROM ended, LATERAL pg_notify($4, $2::text)",
    )
    .bind(id)
    .bind(actor.account_id)
    .bind(actor.session.as_deref().unwrap_or(""))
    .bind(SESSIONS_CHANNEL)
    .fetch_optional(&portal.pool)
    .await?;
    let (hash, current) = ended.ok_or(AccountError::NotFound)?;
    portal.sessions.forget(&hash);
    Ok(current)
}

/// Ends every session of the actor's but the one this request came with; answers how
/// many.
pub async fn end_other_sessions(portal: &Portal, actor: &Actor) -> Result<u64, AccountError> {
    let ended = revoke_sessions(&portal.pool, actor.account_id, actor.session.as_deref()).await?;
    portal.sessions.forget_account(actor.account_id);
    Ok(ended)
}

/// Changes the actor's password: the current one must be given (field
/// `current_password`, code `current_password_wrong`) and the new one must pass the
/// password rules (field `new_password`). Every other session of the account ends, and the
/// account's address is told by e-mail. Answers how many sessions ended.
pub async fn change_password(
    portal: &Portal,
    actor: &Actor,
    current: &str,
    new: &str,
) -> Result<u64, AccountError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM accounts WHERE id = $1")
            .bind(actor.account_id)
            .fetch_optional(&portal.pool)
            .await?;
    let mut errors = Vec::new();
    if !verify_password(current.to_string(), stored).await {
        errors.push(FieldError::new(
            "current_password",
            "current_password_wrong",
        ));
    }
    if let Some(code) = check_password(new, &actor.email) {
        errors.push(FieldError::new("new_password", code));
    } else if new == current {
        errors.push(FieldError::new("new_password", "new_password_unchanged"));
    }
    if !errors.is_empty() {
        return Err(AccountError::Invalid(errors));
    }
    let hash = hash_password(new.to_string()).await?;
    let mut tx = portal.pool.begin().await?;
    sqlx::query(
        "UPDATE accounts SET password_hash = $2, password_changed_at = now(), updated_at = now() \
         WHERE id = $1",
    )
    .bind(actor.account_id)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    let ended = revoke_sessions(&mut *tx, actor.account_id, actor.session.as_deref()).await?;
    // A reset link asked for before the change must not undo it.
    sqlx::query(
        "UPDATE password_resets SET used_at = now() WHERE account_id = $1 AND used_at IS NULL",
    )
    .bind(actor.account_id)
    .execute(&mut *tx)
    .await?;
    let (subject, body) = password_changed_notice(portal, &actor.full_name);
    queue_account_mail(
        &mut *tx,
        "password-changed",
        actor.account_id,
        &actor.email,
        &subject,
        &body,
    )
    .await?;
    tx.commit().await?;
    portal.sessions.forget_account(actor.account_id);
    Ok(ended)
}

/// The e-mail that tells a person their password changed (in Greek, then English).
fn password_changed_notice(portal: &Portal, name: &str) -> (String, String) {
    account_notice(
        portal,
        "Αλλαγή κωδικού πρόσβασης / Password changed",
        &format!(
            "Αγαπητή/έ {name},\n\n\
             ο κωδικός πρόσβασης του λογαριασμού σας στην πύλη άλλαξε και οι άλλες συνδέσεις \
             σας τερματίστηκαν.\n\
             Αν δεν κάνατε εσείς την αλλαγή, επικοινωνήστε αμέσως με τον Δήμο."
        ),
        &format!(
            "Dear {name},\n\n\
             the password of your account at the portal was changed and your other sessions \
             were ended.\n\
             If you did not change it, contact the municipality at once."
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Password reset by e-mail.
// ---------------------------------------------------------------------------------------

/// How long a reset link works.
const RESET_LIFETIME_MINUTES: i64 = 30;
/// A new link is not sent while the last one is younger than this (the answer is the
/// same): a form submitted again and again does not flood the owner's mailbox.
const RESET_RESEND_AFTER_SECONDS: i64 = 60;

/// Asks for a password reset of `email`. The answer is the same whether or not the
/// address has an account (only a malformed address is refused, on field `email`): when it
/// has one (not disabled), a single-use link valid for 30 minutes is e-mailed to it. The
/// database keeps only the link token's SHA-256.
pub async fn request_password_reset(portal: &Portal, email: &str) -> Result<(), AccountError> {
    let email = normalize_email(email).map_err(|e| AccountError::Invalid(vec![e]))?;
    let account: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT id, full_name FROM accounts WHERE email_normalized = $1 AND disabled_at IS NULL",
    )
    .bind(&email)
    .fetch_optional(&portal.pool)
    .await?;
    let Some((account_id, name)) = account else {
        return Ok(());
    };
    if sent_lately(
        &portal.pool,
        "password_resets",
        account_id,
        RESET_RESEND_AFTER_SECONDS,
    )
    .await?
    {
        return Ok(());
    }
    let mut tx = portal.pool.begin().await?;
    let minutes = RESET_LIFETIME_MINUTES as i32;
    let (_, link) = issue_link(
        portal,
        &mut tx,
        "password_resets",
        account_id,
        minutes,
        "password-reset",
    )
    .await?;
    let (subject, body) = account_notice(
        portal,
        "Επαναφορά κωδικού πρόσβασης / Password reset",
        &format!(
            "Αγαπητή/έ {name},\n\n\
             ζητήθηκε επαναφορά του κωδικού πρόσβασης του λογαριασμού σας. Για να ορίσετε νέο \
             κωδικό, ανοίξτε τον σύνδεσμο (ισχύει {RESET_LIFETIME_MINUTES} λεπτά, μία φορά):\n\n\
             {link}\n\n\
             Αν δεν το ζητήσατε εσείς, αγνοήστε αυτό το μήνυμα· ο κωδικός σας δεν αλλάζει."
        ),
        &format!(
            "Dear {name},\n\n\
             a password reset was asked for your account. To set a new password, open the link \
             (it works for {RESET_LIFETIME_MINUTES} minutes, once):\n\n\
             {link}\n\n\
             If you did not ask for it, ignore this message; your password stays as it is."
        ),
    );
    queue_account_mail(
        &mut *tx,
        "password-reset",
        account_id,
        &email,
        &subject,
        &body,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The account a reset link stands for, if it still works (not used, not expired, the
/// account not disabled): its id and e-mail.
async fn reset_account(
    db: impl sqlx::PgExecutor<'_>,
    token: &str,
) -> Result<Option<(Uuid, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.email, a.full_name FROM password_resets r \
         JOIN accounts a ON a.id = r.account_id \
         WHERE r.token_sha256 = $1 AND r.used_at IS NULL AND r.expires_at > now() \
           AND a.disabled_at IS NULL",
    )
    .bind(token_sha256(token))
    .fetch_optional(db)
    .await
}

/// Whether reset link `token` still works (the page asks before showing its form).
pub async fn reset_link_works(portal: &Portal, token: &str) -> Result<bool, AccountError> {
    Ok(reset_account(&portal.pool, token).await?.is_some())
}

/// Sets a new password through reset link `token`: the link must still work (field
/// `token`, code `reset_link_invalid`) and the password pass the rules (field
/// `new_password`). Every link of the account stops working, every session ends, and the
/// owner is told by e-mail.
pub async fn reset_password(portal: &Portal, token: &str, new: &str) -> Result<(), AccountError> {
    let Some((account_id, email, name)) = reset_account(&portal.pool, token).await? else {
        return Err(AccountError::Invalid(vec![FieldError::new(
            "token",
            "reset_link_invalid",
        )]));
    };
    if let Some(code) = check_password(new, &email) {
        return Err(AccountError::Invalid(vec![FieldError::new(
            "new_password",
            code,
        )]));
    }
    let hash = hash_password(new.to_string()).await?;
    let mut tx = portal.pool.begin().await?;
    // Used once: the row is claimed in the same statement that checks it.
    let claimed = sqlx::query(
        "UPDATE password_resets SET used_at = now() \
         WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > now()",
    )
    .bind(token_sha256(token))
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(AccountError::Invalid(vec![FieldError::new(
            "token",
            "reset_link_invalid",
        )]));
    }
    sqlx::query(
        "UPDATE password_resets SET used_at = now() WHERE account_id = $1 AND used_at IS NULL",
    )
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    // The link reached the address: an account not yet activated is activated too.
    sqlx::query(
        "UPDATE accounts SET password_hash = $2, password_changed_at = now(), updated_at = now(), \
         activated_at = coalesce(activated_at, now()) WHERE id = $1",
    )
    .bind(account_id)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    revoke_sessions(&mut *tx, account_id, None).await?;
    sqlx::query("DELETE FROM login_failures WHERE email_normalized = $1")
        .bind(&email)
        .execute(&mut *tx)
        .await?;
    let (subject, body) = password_changed_notice(portal, &name);
    queue_account_mail(
        &mut *tx,
        "password-changed",
        account_id,
        &email,
        &subject,
        &body,
    )
    .await?;
    tx.commit().await?;
    portal.sessions.forget_account(account_id);
    Ok(())
}

/// 32 random bytes, URL-safe: a session token or a reset link's.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Records that the actor's session wrote up to `position`, so its next reads wait for it
/// (nothing to record without a session, e.g. from the command line). The database has it
/// already: the append recorded it with the events ([`crate::CommandMetadata::session`]);
/// this tells the session cache. Positions never move backwards.
pub fn record_write(portal: &Portal, actor: &Actor, position: Position) {
    if let Some(session) = &actor.session {
        portal.sessions.record_write(session, position);
    }
}

// ---------------------------------------------------------------------------------------
// The profile.
// ---------------------------------------------------------------------------------------

/// The account's details as its owner sees them («Τα στοιχεία μου», `GET /api/v1/me`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Profile {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    #[schema(required)]
    pub father_name: Option<String>,
    #[schema(required)]
    pub address: Option<String>,
    #[schema(required)]
    pub phone: Option<String>,
    #[schema(value_type = domain::account::Role)]
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
    // The cached sessions carry the name.
    announce_change(&portal.pool, actor.account_id).await?;
    portal.sessions.forget_account(actor.account_id);
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
