//! `portal bench`: measures durable submissions over HTTP against the raw insert rate of
//! the same PostgreSQL server (see `docs/benchmarks.md`).

#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("the benchmark is not written yet")
}
