//! `portal staff add|list|disable|enable|role`: staff accounts (staff do not register
//! through the public form), through `commands::accounts`. Every change is recorded in
//! `staff_changes` with who made it (the operating-system user at the command line), and
//! auditors see it at `/audit/staff`.

use anyhow::{bail, Context};
use commands::accounts::{self, AccountError};

use crate::config::Config;

/// Who changes staff accounts from the command line, as `staff_changes` records it.
fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    format!("command line ({user})")
}

/// The message for an account error of the staff commands.
fn explain(e: AccountError, email: &str) -> anyhow::Error {
    match e {
        AccountError::NotFound => anyhow::anyhow!("no staff account has e-mail {email}"),
        AccountError::Invalid(fields) => match fields.first().map(|f| f.field.as_str()) {
            Some("role") => anyhow::anyhow!("--role must be clerk, auditor or admin"),
            Some("email") => anyhow::anyhow!("{email:?} is not a valid e-mail address"),
            _ => anyhow::anyhow!("an account with e-mail {email} already exists"),
        },
        e => anyhow::anyhow!("{e}"),
    }
}

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
    accounts::add_staff(&pool, staff, &operator())
        .await
        .map(|id| id.to_string())
        .map_err(|e| explain(e, &email))
        .context("Failed to create the account")
}

/// The staff accounts as a table: e-mail, role, state, name.
pub async fn list(config: &Config) -> anyhow::Result<String> {
    let pool = crate::app::prepare_database(config).await?;
    let staff = accounts::staff(&pool).await.map_err(|e| explain(e, ""))?;
    let mut out = String::new();
    for m in staff {
        let state = match m.disabled_at {
            Some(at) => format!("disabled {}", at.format("%Y-%m-%d")),
            None => "active".to_string(),
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            m.email, m.role, state, m.full_name
        ));
    }
    Ok(out)
}

/// Disables (`true`) or enables staff account `email`; answers what happened.
pub async fn disable(config: &Config, email: &str, disabled: bool) -> anyhow::Result<String> {
    let pool = crate::app::prepare_database(config).await?;
    let changed = accounts::set_staff_disabled(&pool, email, disabled, &operator())
        .await
        .map_err(|e| explain(e, email))?;
    Ok(match (changed, disabled) {
        (true, true) => format!("disabled {email}; its sessions ended"),
        (true, false) => format!("enabled {email}"),
        (false, true) => format!("{email} was already disabled"),
        (false, false) => format!("{email} was not disabled"),
    })
}

/// Gives staff account `email` role `role`; answers what happened.
pub async fn role(config: &Config, email: &str, role: &str) -> anyhow::Result<String> {
    let pool = crate::app::prepare_database(config).await?;
    let changed = accounts::set_staff_role(&pool, email, role, &operator())
        .await
        .map_err(|e| explain(e, email))?;
    Ok(if changed {
        format!("{email} is now {role}; its sessions ended")
    } else {
        format!("{email} already has role {role}")
    })
}
