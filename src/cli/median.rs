//! `vpipe median SRC OUT`: temporal-median background images (CDAR's median scripts).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::default_workers;
use vpipe::config::VIDEO_EXTENSIONS;
use vpipe::decode::FilenameTemplate;
use vpipe::graph::median::{self, ImageFormat};
use vpipe::source::Shard;

/// Flags of `vpipe median`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rawframe root (every folder below it holding *.jpg is one video; with --segments, the root
    /// the list's paths are relative to) or, with --videos, a video tree.
    src: PathBuf,
    /// Output root: OUT/<path below SRC>.jpg (CDAR: SRC=/local_datasets, OUT=data/median).
    out: PathBuf,
    /// SRC holds video files (decoded with FFmpeg) instead of rawframe folders.
    #[arg(long)]
    videos: bool,
    /// One median per segment of this EPIC-Kitchens-style list (`path start length label`):
    /// frames start..=start+length of SRC/<path>, written to OUT/<video_id>/<start>_<end>.jpg.
    #[arg(long, conflicts_with = "videos")]
    segments: Option<PathBuf>,
    /// Frame file names for --segments (python format, EPIC-Kitchens' by default).
    #[arg(long, default_value = "frame_{:010d}.jpg", requires = "segments")]
    filename_tmpl: String,
    /// Use at most this many frames, chosen by numpy's linspace rule (0 = all frames).
    #[arg(long, default_value_t = 100)]
    max_frames: usize,
    /// JPEG quality (PIL's default).
    #[arg(long, default_value_t = 75)]
    quality: i32,
    /// Write lossless PNG instead of JPEG.
    #[arg(long)]
    png: bool,
    /// Benchmark baseline: read and decode the selected frames, compute and write nothing.
    #[arg(long)]
    decode_only: bool,
    /// Videos processed in parallel [default: cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Process shard I of N (`I/N`, round-robin over the sorted task list). Defaults to the Slurm
    /// array task's position (SLURM_ARRAY_TASK_ID, _MIN, _STEP, _COUNT) in an array job.
    #[arg(long)]
    shard: Option<String>,
}

/// Runs the command; exits non-zero when a video failed (the others are written).
pub fn run(a: Args) -> Result<()> {
    let format = if a.png {
        ImageFormat::Png
    } else {
        ImageFormat::Jpeg(vpipe::config::limits::check("--quality", a.quality, vpipe::config::limits::JPEG_QUALITY)?)
    };
    let tasks = if let Some(list) = &a.segments {
        let tmpl = FilenameTemplate::parse(&a.filename_tmpl).with_context(|| format!("--filename-tmpl {}", a.filename_tmpl))?;
        median::list_segments(list, &a.src, &a.out, &tmpl, format)?
    } else if a.videos {
        median::list_videos(&a.src, &a.out, VIDEO_EXTENSIONS, format)?
    } else {
        median::list_rawframe_dirs(&a.src, &a.out, format)?
    };
    if tasks.is_empty() {
        bail!(
            "nothing under {} ({})",
            a.src.display(),
            if a.videos { "no video files" } else { "no folder with *.jpg; use --videos for video files" }
        );
    }
    let shard = Shard::resolve(a.shard.as_deref())?;
    let tasks = match shard {
        Some(s) => s.select(tasks),
        None => tasks,
    };
    let workers = vpipe::config::limits::check("--workers", a.workers.unwrap_or_else(default_workers), vpipe::config::limits::WORKERS)?;
    let s = if a.decode_only {
        median::decode_only(tasks, a.max_frames, workers)?
    } else {
        median::run(tasks, a.max_frames, format, workers, true)?
    };
    eprint!("{s}");
    let suffix = shard.map_or("summary.json".into(), |s| format!("summary-{:05}-of-{:05}.json", s.index, s.count));
    s.write_json(&super::sibling(&a.out, &suffix))?;
    if !s.failures.is_empty() {
        bail!("{} video(s) failed (listed above)", s.failures.len());
    }
    Ok(())
}
