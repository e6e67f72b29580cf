//! `vpipe resize-videos SRC OUT`: flags → [`vpipe::graph::resize::ResizeJob`] (names follow
//! mmaction2's `tools/data/resize_videos.py`).

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::{default_workers, sibling};
use vpipe::config::limits;
use vpipe::encode::EncodeOptions;
use vpipe::graph::resize::{self, ResizeJob};

/// Flags of `vpipe resize-videos`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder of videos: SRC/<class>/<video> (--level 2) or SRC/<video> (--level 1).
    src: PathBuf,
    /// Output folder: OUT/<class>/<video>, the same names (`.mp4` with --to-mp4).
    out: PathBuf,
    /// Directory depth of the videos under SRC: 2 = class folders, 1 = flat.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    level: u8,
    /// Video extensions to take, comma-separated (case-insensitive).
    #[arg(long, default_value = vpipe::source::VIDEO_EXTENSIONS_CSV, value_delimiter = ',')]
    ext: Vec<String>,
    /// Short side in pixels (long side kept in ratio, rounded to even; 0 keeps the size).
    #[arg(long, default_value_t = 256)]
    scale: usize,
    /// Write every output as .mp4 (otherwise mp4, m4v, mov, mkv and avi keep their container).
    #[arg(long)]
    to_mp4: bool,
    /// A keyframe every 16 frames, mmaction2's "faster cache" (`-g 16`).
    #[arg(long, conflicts_with = "gop")]
    dense: bool,
    /// Frames between keyframes (1: every frame a keyframe) [default: libx264's 250].
    #[arg(long)]
    gop: Option<u32>,
    /// libx264 constant rate factor (lower is better quality, bigger files).
    #[arg(long, default_value_t = 23.0)]
    crf: f32,
    /// libx264 preset (ultrafast … veryslow).
    #[arg(long, default_value = "medium")]
    preset: String,
    /// Encode without B-frames.
    #[arg(long)]
    no_bframes: bool,
    /// Drop near-duplicate frames (`mpdecimate`, variable rate): frame counts change (reported).
    #[arg(long)]
    remove_dup: bool,
    /// Videos encoded in parallel [default: number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// File listing completed videos [default: OUT/resize_report.txt]; videos whose frame count
    /// changed are listed with both counts and why.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Process shard I of N (`I/N`, round-robin over the sorted video list); defaults to the
    /// Slurm array task's position in an array job.
    #[arg(long)]
    shard: Option<String>,
}

const PRESETS: &[&str] = &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

/// Runs the command; prints the summary; exits non-zero when any video failed.
pub fn run(a: Args) -> Result<()> {
    if a.scale > 0 {
        limits::check("--scale", a.scale, limits::SIDE)?;
    }
    if !(0.0..=51.0).contains(&a.crf) {
        bail!("--crf must be in 0..=51 (libx264), got {}", a.crf);
    }
    if !PRESETS.contains(&a.preset.as_str()) {
        bail!("--preset {:?}: one of {}", a.preset, PRESETS.join(", "));
    }
    if a.gop.is_some_and(|g| !(1..=10_000).contains(&g)) {
        bail!("--gop must be 1..=10000 frames, got {}", a.gop.unwrap_or(0));
    }
    let options = EncodeOptions {
        scale: a.scale,
        gop: if a.dense { Some(16) } else { a.gop },
        crf: a.crf,
        preset: a.preset.clone(),
        bframes: !a.no_bframes,
        remove_dup: a.remove_dup,
    };
    let videos = resize::list_resize_tasks(&a.src, &a.out, a.level as usize, &a.ext, a.to_mp4)?;
    if videos.is_empty() {
        bail!("no videos with extensions {:?} under {} at --level {}", a.ext, a.src.display(), a.level);
    }
    let (videos, shard, _locks) = super::shard_and_lock("resize-videos", &a.out, a.shard.as_deref(), videos)?;
    let job = ResizeJob {
        videos,
        options,
        workers: limits::check("--workers", a.workers.unwrap_or_else(default_workers), limits::WORKERS)?,
        report: Some(a.report.unwrap_or_else(|| a.out.join("resize_report.txt"))),
        progress: true,
    };
    let summary = resize::run(job)?;
    eprint!("{summary}");
    let suffix = shard.map_or("resize-summary.json".into(), |s| format!("resize-summary-{:05}-of-{:05}.json", s.index, s.count));
    summary.write_json(&sibling(&a.out, &suffix))?;
    if !summary.failures.is_empty() {
        bail!("{} video(s) failed (listed above); the others are complete — re-run to retry", summary.failures.len());
    }
    Ok(())
}
