//! `vpipe plot WORK_DIR`: a `vpipe run` work dir's `log.jsonl` as loss, accuracy and
//! learning-rate curves (mmaction2 `tools/analysis/analyze_logs.py plot_curve`).

use std::path::PathBuf;

use anyhow::{Context, Result};

use vpipe::plot::TrainingCurves;

/// Flags of `vpipe plot`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A `vpipe run` work dir (holding `log.jsonl`), or the `log.jsonl` itself.
    work_dir: PathBuf,
    /// Where the PNGs go [default: WORK_DIR/plots].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the command: writes `loss.png`, `accuracy.png`, `lr.png` and prints their paths.
///
/// # Errors
/// No readable `log.jsonl`, a line that is not JSON, no train/val records; writing fails.
pub fn run(a: Args) -> Result<()> {
    let (log, dir) = if a.work_dir.is_dir() {
        (a.work_dir.join("log.jsonl"), a.work_dir.clone())
    } else {
        (a.work_dir.clone(), a.work_dir.parent().unwrap_or(".".as_ref()).to_path_buf())
    };
    let text = std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    let curves = TrainingCurves::parse(&text).with_context(|| log.display().to_string())?;
    for p in curves.write(&a.out.unwrap_or_else(|| dir.join("plots")))? {
        println!("{}", p.display());
    }
    Ok(())
}
