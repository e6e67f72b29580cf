//! `vpipe shards DIR`: which shards of a featurize output folder are complete, running (a run
//! holds the shard's lock), partial or missing, their rows and failures, what to resubmit, and (`--merge`) one file of them all.

use std::path::PathBuf;

use anyhow::{bail, Result};

use vpipe::sink::shard_output::concat_parquet;
use vpipe::sink::{survey, ShardState};

/// Flags of `vpipe shards`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The featurize output folder (`--out DIR`).
    dir: PathBuf,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Once every shard is complete, write all rows, in shard order, to this one Parquet file.
    #[arg(long)]
    merge: Option<PathBuf>,
}

/// Runs the command: prints the table (or JSON) to stdout.
///
/// # Errors
/// As [`survey`]; `--merge` with shards not complete, or a file that cannot be read or written.
pub fn run(a: Args) -> Result<()> {
    let shards = survey(&a.dir)?;
    let n = shards.len();
    let (mut rows, mut failures) = (0, 0);
    let (mut todo, mut running) = (Vec::new(), Vec::new());
    let mut lines = vec![format!("{:>5}  {:<8}  {:>8}  {:>9}  {:>8}  host", "shard", "state", "samples", "rows", "failures")];
    for (i, s) in shards.iter().enumerate() {
        lines.push(match s {
            ShardState::Complete(m) => {
                (rows, failures) = (rows + m.rows, failures + m.failures);
                format!("{i:>5}  {:<8}  {:>8}  {:>9}  {:>8}  {}", "complete", m.samples, m.rows, m.failures, m.host)
            }
            ShardState::Running { committed, holder } => {
                running.push(i);
                let host = format!("pid {} on {}", holder.pid, holder.host);
                format!("{i:>5}  {:<8}  {:>8}  {:>9}  {:>8}  {host}", "running", format!("{committed} done"), "-", "-")
            }
            ShardState::Partial { committed } => {
                todo.push(i);
                format!("{i:>5}  {:<8}  {:>8}  {:>9}  {:>8}", "partial", format!("{committed} done"), "-", "-")
            }
            ShardState::Missing => {
                todo.push(i);
                format!("{i:>5}  {:<8}  {:>8}  {:>9}  {:>8}", "missing", "-", "-", "-")
            }
        });
    }
    let list = todo.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    if a.json {
        let j = serde_json::json!({"dir": a.dir, "shards": n, "complete": n - todo.len() - running.len(), "incomplete": todo, "running": running,
            "rows": rows, "failures": failures, "states": shards});
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        println!("{}", lines.join("\n"));
        let complete = n - todo.len() - running.len();
        println!(
            "{n} shards: {complete} complete, {} running, {} to run; {rows} rows, {failures} failed videos",
            running.len(),
            todo.len()
        );
        if !todo.is_empty() {
            // Array ids = shard indices when VPIPE_SHARD_COUNT is set (scripts/slurm/featurize.sbatch).
            println!("resubmit: VPIPE_SHARD_COUNT={n} sbatch --array={list} scripts/slurm/featurize.sbatch …");
        }
    }
    if let Some(dest) = &a.merge {
        if !todo.is_empty() || !running.is_empty() {
            let all = todo.iter().chain(&running).map(usize::to_string).collect::<Vec<_>>().join(",");
            bail!("--merge: shards {all} of {} are not complete", a.dir.display());
        }
        let parts: Vec<PathBuf> = shards
            .iter()
            .filter_map(|s| match s {
                ShardState::Complete(m) => m.data.as_ref().map(|d| a.dir.join(d)),
                _ => None,
            })
            .collect();
        let merged = concat_parquet(&parts, dest, &[("vpipe.version".into(), vpipe::VERSION.into())])?;
        eprintln!("merged {} parts into {} ({merged} rows)", parts.len(), dest.display());
    }
    Ok(())
}
