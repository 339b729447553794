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
