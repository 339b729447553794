//! The backup procedure of docs/operations.md, as an operator runs it (issue 14):
//! `pg_dump -Fc`, restore into a new database, `portal projections rebuild`,
//! `portal audit verify --all`. The restored portal has the same read models and every hash
//! chain verifies; a copy whose log was altered does not verify, and says where.

use std::process::Command;

use crate::common::{every_read_model_table, portal_command, TestApp, TestDatabase};

/// `portal <args>` against the database at `url`.
async fn portal_on(url: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .expect("the portal binary runs")
}

#[tokio::test]
async fn a_dump_restored_into_a_new_database_rebuilds_and_verifies() {
    let app = TestApp::spawn().await;
    let maria = app
        .citizen("maria.backup@example.gr", "Μαρία Αντίγραφο")
        .await;
    let mut cases = Vec::new();
    for _ in 0..3 {
        let (_, case) = app.complain(&maria).await;
        cases.push(case["id"].as_str().unwrap().to_string());
    }
    let clerk = app
        .staff(
            "clerk",
            "clerk.backup@dimos.example.gr",
            "Υπάλληλος Αντιγράφου",
        )
        .await;
    let r = app
        .post(
            &format!("/api/v1/staff/requests/{}/review", cases[0]),
            Some(&clerk),
            serde_json::json!({}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = app
        .get(&format!("/api/v1/my/requests/{}", cases[0]), Some(&maria))
        .await;
    assert!(r.status().is_success());
    // The live portal verifies first.
    let out = portal_command(&app, &["audit", "verify", "--all"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every hash chain verifies"), "{stdout}");
    let original = every_read_model_table(&app.state.pool).await;

    // 1. pg_dump of the whole database.
    let dump = std::env::temp_dir().join(format!("{}.dump", app.db.name));
    let out = Command::new("pg_dump")
        .args(["-Fc", "-d", &app.db.url, "-f", dump.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 2. Restore the whole dump into a new, empty database.
    let copy = TestDatabase::new();
    let out = Command::new("createdb")
        .arg(format!("--maintenance-db={}/postgres", copy.server))
        .arg(&copy.name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "createdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("pg_restore")
        .args(["-d", &copy.url, dump.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&dump);
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 3. Rebuild every read model from the restored log.
    let out = portal_on(&copy.url, &["projections", "rebuild"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 4. Prove the hash chains.
    let out = portal_on(&copy.url, &["audit", "verify", "--all"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Three complaints and the citizen's certification-free account: 3 request streams.
    assert!(stdout.contains("streams, "), "{stdout}");
    assert!(stdout.contains("every hash chain verifies"), "{stdout}");
    let out = portal_on(&copy.url, &["audit", "verify", &cases[0]]).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 events, the hash chain verifies"));

    // The restored read models are what the live ones were.
    let restored = copy.pool().await;
    assert_eq!(every_read_model_table(&restored).await, original);

    // A copy whose log was altered behind the portal's back does not verify.
    let mut tx = restored.begin().await.unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{data,subject}', '\"Αλλαγμένο\"') \
         WHERE aggregate_id = $1 AND sequence = 1",
    )
    .bind(&cases[1])
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    restored.close().await;
    let out = portal_on(&copy.url, &["audit", "verify", "--all"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "BROKEN CitizenRequest {}: at sequence 1:",
            cases[1]
        )),
        "{stdout}"
    );
    assert!(stdout.contains("1 do not verify"), "{stdout}");
    assert!(
        stderr.contains("1 stream(s) of the log do not verify"),
        "{stderr}"
    );
    // Bad input: neither an id nor --all; an id that names nothing.
    let out = portal_on(&copy.url, &["audit", "verify"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = portal_on(&copy.url, &["audit", "verify", "no-such-stream"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no stream has the id \"no-such-stream\"")
    );
}
