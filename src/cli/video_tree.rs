//! What the per-video jobs over a folder of videos (`extract-frames`, `resize-videos`) share on
//! the command line: the tree's flags, the shard and its locks, and the end of the run (summary
//! printed and written beside OUT, a failure when any video failed).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::{default_workers, sibling};
use vpipe::config::limits;
use vpipe::graph::Summary;
use vpipe::sink::OutputLock;
use vpipe::source::Shard;

/// Flags of a per-video job over SRC's tree (names follow mmaction2's `build_rawframes.py` and
/// `resize_videos.py`).
#[derive(clap::Args, Debug)]
pub struct VideoTreeArgs {
    /// Directory depth of the videos under SRC: 2 = class folders, 1 = flat.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub level: u8,
    /// Video extensions to take, comma-separated (case-insensitive).
    #[arg(long, default_value = vpipe::source::VIDEO_EXTENSIONS_CSV, value_delimiter = ',')]
    pub ext: Vec<String>,
    /// Videos processed in parallel [default: number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// File listing completed videos, appended as they finish [default: OUT/build_report.txt
    /// for extract-frames, OUT/resize_report.txt for resize-videos].
    #[arg(long)]
    report: Option<PathBuf>,
    /// Process shard I of N (`I/N`, round-robin over the sorted video list). Defaults to the
    /// Slurm array task's position (SLURM_ARRAY_TASK_ID, _MIN, _STEP, _COUNT) in an array job.
    #[arg(long)]
    shard: Option<String>,
}

/// A job's videos after its shard is applied, with the shard and the locks held while it runs.
pub struct Selected<T> {
    /// The videos this run processes, in list order.
    pub videos: Vec<T>,
    /// `--shard` or the Slurm array's position; `None` for the whole list.
    pub shard: Option<Shard>,
    /// Held until the job ends (dropped with the rest of this value).
    _locks: Vec<OutputLock>,
}

impl VideoTreeArgs {
    /// `--workers`, else the number of cores, checked against [`limits::WORKERS`].
    pub fn workers(&self) -> Result<usize> {
        limits::check("--workers", self.workers.unwrap_or_else(default_workers), limits::WORKERS)
    }

    /// `--report`, else `out/default`.
    pub fn report(&self, out: &Path, default: &str) -> PathBuf {
        self.report.clone().unwrap_or_else(|| out.join(default))
    }

    /// This run's share of `videos` (listed from `src`) and the locks its output folder `out`
    /// needs beside it (`<out>.<job>.lock`): an unsharded run holds OUT's exclusively; a shard
    /// shares it and holds its own (`<job>-IIIII-of-NNNNN.lock`), so that no second run of the
    /// same shard deletes the first's partial outputs as stale.
    ///
    /// # Errors
    /// No videos under `src`, a malformed shard, or another run holding a lock (the message
    /// names it).
    pub fn select<T>(&self, job: &str, src: &Path, out: &Path, videos: Vec<T>) -> Result<Selected<T>> {
        if videos.is_empty() {
            bail!("no videos with extensions {:?} under {} at --level {}", self.ext, src.display(), self.level);
        }
        let shard = Shard::resolve(self.shard.as_deref())?;
        let videos = match shard {
            Some(s) => s.select(videos),
            None => videos,
        };
        let out_lock = sibling(out, &format!("{job}.lock"));
        let locks = match shard {
            None => vec![OutputLock::acquire(&out_lock, &out.display().to_string())?],
            Some(s) => vec![
                OutputLock::acquire_shared(&out_lock, &format!("{} (by an unsharded run)", out.display()))?,
                OutputLock::acquire(
                    &sibling(out, &format!("{job}-{:05}-of-{:05}.lock", s.index, s.count)),
                    &format!("shard {} of {} of {}", s.index, s.count, out.display()),
                )?,
            ],
        };
        Ok(Selected { videos, shard, _locks: locks })
    }
}

/// The end of a per-video job: prints `summary`, writes it beside OUT, not in it (OUT holds only
/// the outputs and the report): `<out>.<name>.json`, or `<out>.<name>-IIIII-of-NNNNN.json` for a
/// shard.
///
/// # Errors
/// The JSON cannot be written, or a video failed (the others are complete: a re-run retries it).
pub fn finish(summary: &Summary, out: &Path, shard: Option<Shard>, name: &str) -> Result<()> {
    eprint!("{summary}");
    let suffix = shard.map_or(format!("{name}.json"), |s| format!("{name}-{:05}-of-{:05}.json", s.index, s.count));
    summary.write_json(&sibling(out, &suffix))?;
    if !summary.failures.is_empty() {
        bail!("{} video(s) failed (listed above); the others are complete — re-run to retry", summary.failures.len());
    }
    Ok(())
}
