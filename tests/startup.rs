//! Starting the `portal` binary: what it refuses to start with, and how it says so.

use std::process::Command;

/// `PORTAL_ENV=production` without the real systems' addresses: the portal refuses to
/// start (a sandbox bank must never take a citizen's payment), names every missing setting
/// on one line, exits non-zero, and neither binds nor touches a database.
#[test]
fn production_refuses_to_start_with_sandboxes_and_names_the_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_portal"))
        .env("PORTAL_ENV", "production")
        .env("PORTAL_BIND", "127.0.0.1:0")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the portal binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in [
        "PORTAL_PROTOCOL_URL",
        "PORTAL_SMTP_URL",
        "PORTAL_BANK_URL",
        "PORTAL_FINES_URL",
        "PORTAL_FINANCIAL_URL",
        "PORTAL_REVENUE_URL",
        "PORTAL_PUBLIC_URL",
        "PORTAL_BANK_SECRET",
    ] {
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
    }
    assert!(
        stderr.starts_with("portal: PORTAL_ENV=production"),
        "{stderr}"
    );
    assert!(!stderr.contains("Stack backtrace"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_portal"))
        .env("PORTAL_ENV", "staging")
        .output()
        .expect("the portal binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORTAL_ENV=\"staging\""), "{stderr}");
}

/// `portal config show`: the settings in effect as TOML, from the configuration file and
/// the environment (the environment wins), with passwords and secrets redacted; a setting
/// that would not start the portal is named, and the exit status says so.
#[test]
fn config_show_prints_the_settings_in_effect_without_secrets() {
    let dir = std::env::temp_dir().join(format!("portal-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("portal.toml");
    std::fs::write(
        &file,
        "rate_limit = 5\nsession_hours = 8\nbank_mid = \"0020000007\"\n\
         trusted_proxies = [\"10.0.0.5\"]\n",
    )
    .unwrap();
    let show = |envs: &[(&str, &str)]| {
        // Only what this test sets: not the runner's own PORTAL_* variables.
        let mut command = Command::new(env!("CARGO_BIN_EXE_portal"));
        command
            .args(["config", "show"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORTAL_CONFIG", &file);
        for (name, value) in envs {
            command.env(name, value);
        }
        command.output().expect("the portal binary runs")
    };
    let out = show(&[
        ("PORTAL_RATE_LIMIT", "9"),
        ("PORTAL_SESSION_HOURS", ""),
        (
            "DATABASE_URL",
            "postgres://portal:s3cret-pass@db.example:5432/portal",
        ),
        ("PORTAL_BANK_SECRET", "the-bank-secret"),
        (
            "PORTAL_SMTP_URL",
            "smtps://mailer:mail-pass@mail.example:465",
        ),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("rate_limit = 9"),
        "the environment wins: {text}"
    );
    assert!(
        text.contains("session_hours = 8"),
        "an empty variable is unset: {text}"
    );
    assert!(text.contains("bank_mid = \"0020000007\""), "{text}");
    assert!(text.contains("trusted_proxies = [\"10.0.0.5\"]"), "{text}");
    assert!(
        text.contains(&file.display().to_string()),
        "names its file: {text}"
    );
    assert!(
        text.contains("postgres://portal:[redacted]@db.example:5432/portal"),
        "{text}"
    );
    assert!(
        text.contains("smtps://mailer:[redacted]@mail.example:465"),
        "{text}"
    );
    for secret in ["s3cret-pass", "the-bank-secret", "mail-pass"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    assert!(
        text.contains("Not set") && text.contains("protocol_url"),
        "{text}"
    );

    let out = show(&[("PORTAL_RATE_LIMIT", "many")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORTAL_RATE_LIMIT"), "{stderr}");

    std::fs::write(&file, "rate_limt = 5\n").unwrap();
    let out = show(&[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rate_limt") && stderr.contains("portal.toml"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
