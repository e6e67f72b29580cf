//! `vpipe resize-videos SRC OUT`: flags → [`vpipe::graph::resize::ResizeJob`] (names follow
//! mmaction2's `tools/data/resize_videos.py`).

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::video_tree::{finish, VideoTreeArgs};
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
    #[command(flatten)]
    tree: VideoTreeArgs,
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
    let videos = resize::list_resize_tasks(&a.src, &a.out, a.tree.level as usize, &a.tree.ext, a.to_mp4)?;
    let selected = a.tree.select("resize-videos", &a.src, &a.out, videos)?;
    let job = ResizeJob {
        videos: selected.videos,
        options,
        workers: a.tree.workers()?,
        report: Some(a.tree.report(&a.out, "resize_report.txt")),
        progress: true,
    };
    let summary = resize::run(job)?;
    finish(&summary, &a.out, selected.shard, "resize-summary")
}
