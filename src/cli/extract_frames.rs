//! `vpipe extract-frames SRC OUT`: flags → [`vpipe::graph::extract::ExtractJob`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::video_tree::{finish, VideoTreeArgs};
use vpipe::config::limits;
use vpipe::decode::FilenameTemplate;
use vpipe::graph::extract::{self, ExtractJob, ExtractOptions};

/// Flags of `vpipe extract-frames` (names follow mmaction2's `build_rawframes.py`).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder of videos: SRC/<class>/<video> (--level 2) or SRC/<video> (--level 1).
    src: PathBuf,
    /// Output folder: OUT/<class>/<video_stem>/img_00001.jpg …
    out: PathBuf,
    #[command(flatten)]
    tree: VideoTreeArgs,
    /// Resize the short side to N pixels, long side trunc(N/short·long), as mmaction2's OpenCV
    /// path does (0 = keep the size).
    #[arg(long, default_value_t = 0)]
    new_short: usize,
    /// Resize to exactly this width (with --new-height).
    #[arg(long)]
    new_width: Option<usize>,
    /// Resize to exactly this height (with --new-width).
    #[arg(long)]
    new_height: Option<usize>,
    /// JPEG quality, 1–100 (OpenCV's default).
    #[arg(long, default_value_t = 95)]
    quality: i32,
    /// Number of the first frame's file: 1 = mmaction2 OpenCV layout, 0 = denseflow layout.
    #[arg(long, default_value_t = 1)]
    start_index: usize,
    /// File name template, Python format syntax; `{video}` is the video's name (AVA's
    /// `{video}_{:06d}.jpg`).
    #[arg(long, default_value = "img_{:05d}.jpg")]
    filename_tmpl: String,
    /// Write frames at this constant rate, frames per second (`30`, `30000/1001`), dropping and
    /// repeating frames as the FFmpeg CLI's `-r` does (AVA: 30).
    #[arg(long)]
    fps: Option<String>,
    /// Skip this many seconds first, as the CLI's input `-ss` (AVA: 900).
    #[arg(long)]
    start: Option<f64>,
    /// Keep this many seconds, as the CLI's input `-t` (AVA: 901).
    #[arg(long)]
    duration: Option<f64>,
}

/// Runs the command; prints the summary; exits non-zero when any video failed.
pub fn run(a: Args) -> Result<()> {
    let new_wh = match (a.new_width, a.new_height) {
        (Some(w), Some(h)) => Some((limits::check("--new-width", w, limits::SIDE)?, limits::check("--new-height", h, limits::SIDE)?)),
        (None, None) => None,
        _ => bail!("--new-width and --new-height go together"),
    };
    if a.new_short > 0 {
        limits::check("--new-short", a.new_short, limits::SIDE)?;
    }
    limits::check("--quality", a.quality, limits::JPEG_QUALITY)?;
    limits::check("--start-index", a.start_index, limits::START_INDEX)?;
    let filename_tmpl = FilenameTemplate::parse(&a.filename_tmpl).context("--filename-tmpl")?;
    let retime = vpipe::decode::retime::Retime { fps: a.fps.as_deref().map(parse_rate).transpose()?, start: a.start, duration: a.duration };
    for (flag, v) in [("--start", a.start), ("--duration", a.duration)] {
        if v.is_some_and(|v| !(v.is_finite() && (0.0..=1e7).contains(&v))) {
            bail!("{flag} must be seconds in 0..=10000000, got {}", v.unwrap_or_default());
        }
    }
    filename_tmpl.check_writable().context("--filename-tmpl")?;
    let videos = extract::list_videos(&a.src, &a.out, a.tree.level as usize, &a.tree.ext)?;
    // The locks lie beside OUT (as the summary does): OUT holds only frames and the report.
    let selected = a.tree.select("extract-frames", &a.src, &a.out, videos)?;
    let job = ExtractJob {
        videos: selected.videos,
        options: ExtractOptions { new_short: a.new_short, new_wh, quality: a.quality, filename_tmpl, start_index: a.start_index, retime },
        workers: a.tree.workers()?,
        report: Some(a.tree.report(&a.out, "build_report.txt")),
        progress: true, // a bar on a terminal, else a line every VPIPE_PROGRESS_SECS
    };
    let summary = extract::run(job)?;
    finish(&summary, &a.out, selected.shard, "summary")
}

/// A `--fps` value: `30` or `30000/1001`, both parts 1..=100000.
///
/// # Errors
/// Anything else, with the value.
fn parse_rate(text: &str) -> Result<(i64, i64)> {
    let (n, d) = text.split_once('/').unwrap_or((text, "1"));
    match (n.trim().parse::<i64>(), d.trim().parse::<i64>()) {
        (Ok(n), Ok(d)) if (1..=100_000).contains(&n) && (1..=100_000).contains(&d) => Ok((n, d)),
        _ => bail!("--fps {text:?}: a rate like 30 or 30000/1001"),
    }
}
