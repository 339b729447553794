//! Operator commands on read models and process managers: `portal projections rebuild
//! [NAME]` (with a progress bar), `status` (alias `list`), `retry NAME` and `skip NAME
//! --position N --reason "…"`.

use anyhow::bail;
use eventlog::ConsumerInfo;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

/// Every consumer a portal runs (read models and process managers), with the aggregate
/// types each reads.
pub fn consumer_infos() -> Vec<ConsumerInfo> {
    let mut infos: Vec<ConsumerInfo> = projections::all()
        .iter()
        .map(|m| ConsumerInfo {
            name: m.name(),
            types: m.aggregate_types(),
        })
        .collect();
    infos.extend(commands::process_managers().iter().map(|c| ConsumerInfo {
        name: c.name(),
        types: c.aggregate_types(),
    }));
    infos.push(ConsumerInfo {
        name: commands::mail_notices::MailNotices::NAME,
        types: Some(commands::mail_notices::MailNotices::TYPES),
    });
    infos
}

/// Rebuilds one read model by name, or all of them in one pass over the log.
pub async fn rebuild(pool: &PgPool, name: Option<&str>) -> anyhow::Result<()> {
    let models = projections::all();
    let chosen: Vec<_> = match name {
        None => models,
        Some(name) => {
            let found: Vec<_> = models.into_iter().filter(|m| m.name() == name).collect();
            if found.is_empty() {
                let names: Vec<_> = projections::all().iter().map(|m| m.name()).collect();
                bail!(
                    "no read model named {name:?}; there are: {}",
                    names.join(", ")
                );
            }
            found
        }
    };
    let bar = events_bar();
    bar.set_prefix(match name {
        Some(name) => name.to_string(),
        None => "all".to_string(),
    });
    let report = projections::rebuild_all(pool, &chosen, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish();
    eprintln!(
        "{}: {} events in {:.2} s ({:.0} events/s)",
        report.models.join(", "),
        report.events,
        report.seconds,
        report.events_per_second()
    );
    Ok(())
}

/// Prints each consumer's position, how far it is behind the head of the log, and the
/// event it is stuck on, if any. Fails (exit status 1) when one is stuck, so that a script
/// can tell.
pub async fn status(pool: &PgPool) -> anyhow::Result<()> {
    let rows = eventlog::consumer_status(pool, &consumer_infos(), None).await?;
    let mut out = String::from(
        "name                 position              behind (events)  behind (s)  state\n",
    );
    let mut stuck = 0;
    for row in &rows {
        let state = match &row.failure {
            None => "ok".to_string(),
            Some(f) => {
                stuck += 1;
                format!(
                    "STUCK on the event at position {} ({} v{} of {} {}), {} attempts since {}: {}",
                    f.position.global_position,
                    f.event_type,
                    f.sequence,
                    f.aggregate_type,
                    f.aggregate_id,
                    f.attempts,
                    f.first_failed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    f.error
                )
            }
        };
        let capped = if row.lag_events >= eventlog::LAG_COUNT_CAP {
            format!("{}+", row.lag_events)
        } else {
            row.lag_events.to_string()
        };
        out.push_str(&format!(
            "{:<20} {:<21} {:>16} {:>11.1}  {state}\n",
            row.name,
            row.position.to_string(),
            capped,
            row.lag_seconds
        ));
    }
    let skips = eventlog::skips(pool).await?;
    if !skips.is_empty() {
        out.push_str("\nevents skipped by an operator:\n");
        for s in skips {
            out.push_str(&format!(
                "  {} at position {} ({} of {} {}), by {} on {}: {}\n",
                s.name,
                s.position,
                s.event_type,
                s.aggregate_type,
                s.aggregate_id,
                s.decided_by,
                s.decided_at.format("%Y-%m-%d %H:%M:%S UTC"),
                s.reason
            ));
        }
    }
    // The command's output, for a script to read: on standard output.
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    if stuck > 0 {
        bail!(
            "{stuck} consumer(s) stuck: fix the cause and run `portal projections retry NAME`, \
             or decide to pass over the event with `portal projections skip NAME --position N \
             --reason \"…\"`"
        );
    }
    Ok(())
}

/// Tells running portals to retry consumer `name` now.
pub async fn retry(pool: &PgPool, name: &str) -> anyhow::Result<()> {
    if !eventlog::request_retry(pool, name).await? {
        let names: Vec<_> = consumer_infos().iter().map(|c| c.name).collect();
        bail!(
            "no consumer named {name:?}; there are: {}",
            names.join(", ")
        );
    }
    eprintln!("{name}: running portals retry it now (see `portal projections status`)");
    Ok(())
}

/// Passes consumer `name` over the event it is stuck on, recording the decision.
pub async fn skip(pool: &PgPool, name: &str, position: i64, reason: &str) -> anyhow::Result<()> {
    let by = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "operator".to_string());
    let skipped = eventlog::skip(pool, name, position, reason, &by).await?;
    let f = &skipped.failure;
    eprintln!(
        "{name}: skipped the event at position {position} ({} v{} of {} {}); the decision is \
         recorded (reason: {}, by {by}). A rebuild passes over it too.",
        f.event_type,
        f.sequence,
        f.aggregate_type,
        f.aggregate_id,
        reason.trim()
    );
    Ok(())
}

/// `portal audit verify --all`: every stream's hash chain, with a progress bar; fails when
/// one does not verify, naming each such stream, where it breaks and why.
pub async fn verify_all(pool: &PgPool) -> anyhow::Result<()> {
    let bar = events_bar();
    bar.set_prefix("verify");
    let started = std::time::Instant::now();
    let report = commands::audit::verify_all(pool, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish();
    let seconds = started.elapsed().as_secs_f64();
    let mut out = String::new();
    for b in &report.broken {
        out.push_str(&format!(
            "BROKEN {} {}: at sequence {}: {}\n",
            b.aggregate_type,
            b.aggregate_id,
            b.verdict
                .first_broken_sequence
                .map_or("?".to_string(), |s| s.to_string()),
            b.verdict.problem.as_deref().unwrap_or("does not verify")
        ));
    }
    out.push_str(&format!(
        "{} streams, {} events in {seconds:.2} s: {}\n",
        report.streams,
        report.events,
        if report.broken.is_empty() {
            "every hash chain verifies".to_string()
        } else {
            format!("{} do not verify", report.broken.len())
        }
    ));
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    if !report.broken.is_empty() {
        bail!(
            "{} stream(s) of the log do not verify: the log was altered outside the portal",
            report.broken.len()
        );
    }
    Ok(())
}

/// `portal audit verify ID`: one stream's hash chain.
pub async fn verify_one(pool: &PgPool, id: &str) -> anyhow::Result<()> {
    let id =
        commands::audit::stream_id(id).map_err(|_| anyhow::anyhow!("{id:?} is not a stream id"))?;
    let Some(aggregate_type) = eventlog::aggregate_type_of(pool, &id).await? else {
        bail!("no stream has the id {id:?}");
    };
    let events = eventlog::load_case_events(pool, &aggregate_type, &id, None).await?;
    let verdict = commands::audit::verify_events(&events);
    let line = if verdict.valid {
        format!(
            "{aggregate_type} {id}: {} events, the hash chain verifies (head {})\n",
            verdict.events_checked,
            verdict.head_hash.as_deref().unwrap_or("-")
        )
    } else {
        format!(
            "BROKEN {aggregate_type} {id}: at sequence {}: {}\n",
            verdict
                .first_broken_sequence
                .map_or("?".to_string(), |s| s.to_string()),
            verdict.problem.as_deref().unwrap_or("does not verify")
        )
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes())?;
    if !verdict.valid {
        bail!("the hash chain of {id} does not verify");
    }
    Ok(())
}

/// A progress bar over the events of the log: done of the total, events/s, time left.
fn events_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar
}
