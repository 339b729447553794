//! `portal staff add`: creates a clerk, auditor or admin account (staff do not register
//! through the public form), through `commands::accounts`.

use anyhow::{bail, Context};
use commands::accounts::{self, AccountError};

use crate::config::Config;

pub async fn add(
    config: &Config,
    email: &str,
    name: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<String> {
    // Checked before the database is touched: a typing mistake is said at once.
    let staff = match accounts::check_staff(email, name, role, password) {
        Ok(staff) => staff,
        Err(e) => match e.field.as_str() {
            "role" => bail!("--role must be clerk, auditor or admin (got {role:?})"),
            "email" => bail!("{email:?} is not a valid e-mail address"),
            "name" => bail!("--name must be 1 to 100 characters"),
            _ => bail!(
                "the password is not acceptable: {}",
                crate::i18n::message(crate::i18n::Lang::En, &e.code)
            ),
        },
    };
    let pool = crate::app::prepare_database(config).await?;
    let email = staff.email().to_string();
    match accounts::add_staff(&pool, staff).await {
        Ok(id) => Ok(id.to_string()),
        Err(AccountError::Invalid(_)) => bail!("an account with e-mail {email} already exists"),
        Err(e) => Err(anyhow::anyhow!("{e}")).context("Failed to create the account"),
    }
}
