//! The extract-frames job (mmaction2 `build_rawframes.py --task rgb --use-opencv`, semantics §2):
//! every video → a folder of JPEGs `OUT/<class>/<video_stem>/img_00001.jpg …`.
//!
//! ```text
//! source ─▶ extract × workers (decode all frames → resize → JPEG → files in .<stem>.partial/
//!        → rename) ─▶ report (report file, on the calling thread)
//! ```
//! A folder under its final name is always complete (see [`AtomicDir`]): a re-run skips it and
//! redoes any video whose folder is missing, so a killed run resumes where it stopped. One decoder
//! thread per video; parallelism is across videos.

use anyhow::{Context, Result};
use fast_image_resize::Resizer;
use std::cell::RefCell;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::engine::{Graph, Settings};
use super::Summary;
use crate::decode::{decode_all, decode_all_retimed, DecodeOptions, FilenameTemplate, JpegEncoder};
use crate::sink::AtomicDir;
use crate::source::walk;
use crate::transform::{geometry, resize_frame, Interpolation};

/// One video to extract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoTask {
    /// The video file.
    pub src: PathBuf,
    /// Its rawframe folder (`OUT/<class>/<stem>`).
    pub dest: PathBuf,
    /// Name for reports and errors: the path relative to the source folder.
    pub name: String,
}

/// Lists the videos under `src` as mmaction2 does: `--level 2` globs `src/*/*.<ext>` (class
/// folders), level 1 `src/*.<ext>`; extensions compared case-insensitively. The folder of
/// `src/<class>/<stem>.<ext>` is `out/<class>/<stem>`. Sorted by name.
///
/// # Errors
/// `src` cannot be read, or two videos share a class and stem (`a.avi`, `a.mp4`), which would
/// extract into one folder.
pub fn list_videos(src: &Path, out: &Path, level: usize, exts: &[String]) -> Result<Vec<VideoTask>> {
    list_videos_named(src, out, level, exts, |p| p.file_stem().unwrap_or_default().to_string_lossy().into_owned())
}

/// [`list_videos`] with each output named by `name` from its source file (`extract-frames`:
/// the stem, a folder; `resize-videos`: a file).
///
/// # Errors
/// As [`list_videos`], for outputs that `name` makes equal.
pub fn list_videos_named(src: &Path, out: &Path, level: usize, exts: &[String], name: impl Fn(&Path) -> String) -> Result<Vec<VideoTask>> {
    let mut tasks = Vec::new();
    let dirs: Vec<(PathBuf, String)> = if level >= 2 {
        walk::subdirs(src)?
            .into_iter()
            .map(|p| {
                let c = p.file_name().unwrap().to_string_lossy().into_owned();
                (p, format!("{c}/"))
            })
            .collect()
    } else {
        vec![(src.to_path_buf(), String::new())]
    };
    for (dir, prefix) in dirs {
        let exts: Vec<&str> = exts.iter().map(String::as_str).collect();
        for p in walk::files_with_ext(&dir, &exts)? {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            let dest = out.join(format!("{prefix}{}", name(&p)));
            if let Some(other) = tasks.iter().find(|t: &&VideoTask| t.dest == dest) {
                anyhow::bail!("{} and {prefix}{file} would both extract into {}", other.name, dest.display());
            }
            tasks.push(VideoTask { src: p, dest, name: format!("{prefix}{file}") });
        }
    }
    Ok(tasks)
}

/// How to write the frames.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Resize the short side to this many pixels (0 = keep the size); see [`geometry::extract_size`].
    pub new_short: usize,
    /// Resize to exactly (width, height) pixels instead.
    pub new_wh: Option<(usize, usize)>,
    /// JPEG quality 1–100 (OpenCV default 95).
    pub quality: i32,
    /// File name template (`img_{:05d}.jpg`).
    pub filename_tmpl: FilenameTemplate,
    /// Number of the first frame's file: 1 (mmaction2 OpenCV) or 0 (denseflow).
    pub start_index: usize,
    /// The FFmpeg CLI's `-ss`/`-t` cut and `-r` rate (AVA's preparation); none: every decoded
    /// frame once.
    pub retime: crate::decode::retime::Retime,
}

/// Everything an extraction run needs.
#[derive(Clone, Debug)]
pub struct ExtractJob {
    /// Videos to extract, in report order.
    pub videos: Vec<VideoTask>,
    /// Output settings.
    pub options: ExtractOptions,
    /// Worker threads (videos in parallel).
    pub workers: usize,
    /// File that lists completed videos, one `name` per line, appended as they finish
    /// (mmaction2 `build_report.txt`).
    pub report: Option<PathBuf>,
    /// Show progress: a bar on a terminal, else a line every `VPIPE_PROGRESS_SECS` (30 s).
    pub progress: bool,
}

thread_local! {
    /// Per worker thread: encoder (at the job's quality) and resizer, built on first use.
    static CODERS: RefCell<Option<(i32, JpegEncoder, Resizer)>> = const { RefCell::new(None) };
}

/// Extracts one video into its folder; returns the number of frames written.
///
/// # Errors
/// Decoding, resizing, encoding or writing fails; the partial folder is removed.
pub fn extract_video(task: &VideoTask, o: &ExtractOptions) -> Result<usize> {
    let dir = AtomicDir::create(&task.dest)?;
    let n = CODERS
        .with(|cell| -> Result<usize> {
            let mut slot = cell.borrow_mut();
            if !matches!(&*slot, Some((q, ..)) if *q == o.quality) {
                *slot = Some((o.quality, JpegEncoder::new(o.quality)?, Resizer::new()));
            }
            let (_, encoder, resizer) = slot.as_mut().expect("set above");
            let folder = task.dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tmpl = o.filename_tmpl.for_folder(&folder);
            let write = |i: usize, frame: &crate::frame::Frame| {
                let (w, h) = geometry::extract_size(frame.width, frame.height, o.new_short, o.new_wh);
                if w.max(h) > crate::transform::MAX_SIDE {
                    anyhow::bail!(
                        "resizing {}x{} to {w}x{h}: a side over {} pixels",
                        frame.width,
                        frame.height,
                        crate::transform::MAX_SIDE
                    );
                }
                let resized;
                let frame = if (w, h) == (frame.width, frame.height) {
                    frame
                } else {
                    resized = resize_frame(resizer, frame, w, h, Interpolation::Bilinear)?;
                    &resized
                };
                let path = dir.path().join(tmpl.render("", i + o.start_index));
                fs::write(&path, encoder.encode(frame)?).with_context(|| format!("writing {}", path.display()))
            };
            if o.retime.is_some() {
                decode_all_retimed(&task.src, &DecodeOptions::default(), o.retime, write)
            } else {
                decode_all(&task.src, &DecodeOptions::default(), write)
            }
        })
        .context("decode")?;
    dir.commit()?;
    Ok(n)
}

/// Opens a per-video job's report file for appending (its folder made first).
///
/// # Errors
/// The file or its folder cannot be created (the message names it).
pub fn open_report(path: &Path) -> Result<fs::File> {
    if let Some(parent) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening report {}", path.display()))
}

/// Runs the job on the engine: skips videos whose folder exists, extracts the rest on `workers`
/// threads (stage `extract`), records each finished video in the report (stage `report`).
/// Failures are collected, not fatal.
///
/// SIGINT/SIGTERM stop it after the videos in progress are abandoned (their partial folders
/// are removed by the next run): [`super::interrupt::Interrupted`], exit 75, as featurize.
///
/// # Errors
/// The report file cannot be written; SIGINT/SIGTERM.
pub fn run(job: ExtractJob) -> Result<Summary> {
    super::interrupt::watch()?;
    let mut report = job.report.as_deref().map(open_report).transpose()?;
    let reported: std::collections::HashSet<String> =
        job.report.as_ref().and_then(|p| fs::read_to_string(p).ok()).map(|t| t.lines().map(str::to_string).collect()).unwrap_or_default();
    let mut record = |name: &str| -> Result<()> {
        match report.as_mut() {
            Some(f) if !reported.contains(name) => writeln!(f, "{name}").context("writing the report file"),
            _ => Ok(()),
        }
    };

    let (todo, done): (Vec<VideoTask>, Vec<VideoTask>) = job.videos.into_iter().partition(|t| !t.dest.is_dir());
    for t in &done {
        record(&t.name)?; // complete from an earlier run that was killed before reporting it
    }
    let options = job.options.clone();
    let settings = Settings { capacity: 2 * job.workers.max(1), progress: job.progress.then_some("videos"), ..Settings::default() };
    let mut frames = 0usize;
    let mut summary = Graph::source("extract-frames", todo, |t| t.src.display().to_string(), settings)
        .map("extract", job.workers, move |t: VideoTask| Ok((extract_video(&t, &options)?, t.name)))
        .run("report", |(n, name)| {
            frames += n;
            record(&name)
        })?;
    summary.skipped = done.len();
    (summary.outputs, summary.output_unit) = (frames, "frames");
    Ok(summary)
}
