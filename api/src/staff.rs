//! `portal staff add`: creates a clerk, auditor or admin account (staff do not register
//! through the public form).

use anyhow::{bail, Context};

use crate::auth::{self, Role};
use crate::config::Config;

pub async fn add(
    config: &Config,
    email: &str,
    name: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<String> {
    let role = match Role::parse(role) {
        Some(Role::Citizen) | None => {
            bail!("--role must be clerk, auditor or admin (got {role:?})")
        }
        Some(r) => r,
    };
    let email = auth::normalize_email(email)
        .map_err(|_| anyhow::anyhow!("{email:?} is not a valid e-mail address"))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        bail!("--name must be 1 to 100 characters");
    }
    if let Some(code) = auth::check_password(password, &email) {
        bail!(
            "the password is not acceptable: {}",
            crate::i18n::message(crate::i18n::Lang::En, code)
        );
    }
    let pool = crate::app::prepare_database(config).await?;
    let hash = auth::hash_password(password.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match auth::insert_account(&pool, &email, &hash, name, role).await {
        Ok(id) => Ok(id.to_string()),
        Err(crate::error::ApiError::Validation(_)) => {
            bail!("an account with e-mail {email} already exists")
        }
        Err(e) => Err(anyhow::anyhow!("{e}")).context("Failed to create the account"),
    }
}
