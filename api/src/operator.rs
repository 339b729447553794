//! Operator commands on read models: `portal projections rebuild [NAME]` (with a progress
//! bar) and `portal projections list`.

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

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
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
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

/// Prints each read model's checkpoint and schema version.
pub async fn list(pool: &PgPool) -> anyhow::Result<()> {
    let rows = eventlog::checkpoints(pool).await?;
    let mut out = String::from("name                 checkpoint            version  updated\n");
    for (name, position, version, updated) in rows {
        out.push_str(&format!(
            "{name:<20} {:<21} {version:<8} {updated}\n",
            position.to_string()
        ));
    }
    eprint!("{out}");
    Ok(())
}
