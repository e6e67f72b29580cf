//! The `vpipe median` job (CDAR `extract_median_by_rawframes.py` / `_by_videos.py` /
//! `extract_median_ek100.py`, semantics §8): one temporal-median background image per video (or
//! per annotated segment), in parallel over videos, resumable.
//!
//! ```text
//! rawframe folders / videos ─▶ workers (select ≤ max_frames, decode, median, encode) ─▶ OUT/<rel>.jpg
//! ```
//! A video's selected frames are the working set; an output that exists is complete (written
//! through a temporary name and renamed) and is skipped on a re-run.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use super::engine::{Graph, Settings};
use super::Summary;
use crate::decode::{read_jpeg, FilenameTemplate, Frame, JpegEncoder, VideoReader};
use crate::source::walk;
use crate::transform::median::{median_frame_indices, temporal_median};

/// Where a video's frames come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MedianInput {
    /// A folder of `*.jpg` frames, taken in lexicographic order (the reference's rule).
    Rawframes(PathBuf),
    /// A video file, decoded with FFmpeg.
    Video(PathBuf),
    /// Frames `first..=last` of a rawframe folder, named by a template (an EPIC-Kitchens
    /// segment: `frame_{:010d}.jpg`, CDAR `extract_median_ek100.py`).
    Segment {
        /// The video's rawframe folder.
        dir: PathBuf,
        /// First frame number (inclusive).
        first: usize,
        /// Last frame number (inclusive).
        last: usize,
        /// Frame file names (`frame_{:010d}.jpg`).
        tmpl: FilenameTemplate,
    },
}

impl MedianInput {
    /// The folder or file the frames come from, for messages.
    pub fn path(&self) -> &Path {
        match self {
            MedianInput::Rawframes(p) | MedianInput::Video(p) | MedianInput::Segment { dir: p, .. } => p,
        }
    }
}

/// One median image to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedianTask {
    /// Videos or rawframe folders to take medians of.
    pub input: MedianInput,
    /// The image to write.
    pub dest: PathBuf,
}

/// Output image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG at a quality (PIL's default is 75).
    Jpeg(i32),
    /// Lossless PNG (for exact comparisons).
    Png,
}

impl ImageFormat {
    fn ext(self) -> &'static str {
        match self {
            ImageFormat::Jpeg(_) => "jpg",
            ImageFormat::Png => "png",
        }
    }
}

/// Every folder under `src` (recursively, `src` included) that holds a `*.jpg`, as tasks writing
/// `out/<folder relative to src>.<ext>`; sorted.
///
/// # Errors
/// A folder cannot be read.
pub fn list_rawframe_dirs(src: &Path, out: &Path, format: ImageFormat) -> Result<Vec<MedianTask>> {
    let mut tasks = Vec::new();
    for dir in walk::folders_below(src)? {
        if !walk::files_with_ext(&dir, &["jpg"])?.is_empty() {
            let rel = dir.strip_prefix(src).unwrap_or(&dir);
            let dest =
                if rel.as_os_str().is_empty() { out.with_extension(format.ext()) } else { out.join(rel).with_extension(format.ext()) };
            tasks.push(MedianTask { input: MedianInput::Rawframes(dir), dest });
        }
    }
    tasks.sort_by(|a, b| a.dest.cmp(&b.dest));
    Ok(tasks)
}

/// Every video file (extension in `exts`) under `src`, recursively, writing
/// `out/<path relative to src without extension>.<ext>`; sorted.
///
/// # Errors
/// A folder cannot be read.
pub fn list_videos(src: &Path, out: &Path, exts: &[&str], format: ImageFormat) -> Result<Vec<MedianTask>> {
    let mut tasks = Vec::new();
    for p in walk::files_below(src, exts)? {
        let rel = p.strip_prefix(src).unwrap_or(&p);
        tasks.push(MedianTask { dest: out.join(rel).with_extension(format.ext()), input: MedianInput::Video(p) });
    }
    tasks.sort_by(|a, b| a.dest.cmp(&b.dest));
    Ok(tasks)
}

/// The longest segment `list_segments` takes: 10 million frames (three days at 30 fps).
pub const MAX_SEGMENT_FRAMES: usize = 10_000_000;

/// One task per segment line `path start length [label …]` of an EPIC-Kitchens-style list: frames
/// `src/<path>/<tmpl(n)>` for n = start..=start+length (CDAR `extract_median_ek100.py`), written to
/// `out/<last component of path>/<start>_<start+length>.<ext>`. Repeated segments are listed once.
///
/// # Errors
/// The list cannot be read, or a line lacks a numeric start or length, or its segment is longer
/// than [`MAX_SEGMENT_FRAMES`] (the message names the file and line).
pub fn list_segments(ann: &Path, src: &Path, out: &Path, tmpl: &FilenameTemplate, format: ImageFormat) -> Result<Vec<MedianTask>> {
    let mut tasks = Vec::new();
    for line in crate::source::list_file::read_list(ann)? {
        let at = &line.at;
        let f = line.texts(1)?;
        let [start, length, ..] = f.as_slice() else { bail!("{at}: expected `path start length label`, got {:?}", line.display()) };
        let num = |v: &str, what: &str| v.parse::<usize>().with_context(|| format!("{at}: {what} {v:?} is not a frame number"));
        let (first, length) = (num(start, "start")?, num(length, "length")?);
        let last = first.checked_add(length).filter(|_| length <= MAX_SEGMENT_FRAMES).with_context(|| {
            format!("{at}: a segment of {length} frames from frame {first}: at most {MAX_SEGMENT_FRAMES} frames, ending below 2^64")
        })?;
        let path = line.path(0).expect("an entry line has a column");
        let video_id = path.file_name().map(|n| n.to_os_string()).with_context(|| format!("{at}: empty path"))?;
        let dest = out.join(video_id).join(format!("{first}_{last}.{}", format.ext()));
        tasks.push(MedianTask { input: MedianInput::Segment { dir: src.join(&path), first, last, tmpl: tmpl.clone() }, dest });
    }
    tasks.sort_by(|a, b| a.dest.cmp(&b.dest));
    tasks.dedup_by(|a, b| a.dest == b.dest);
    Ok(tasks)
}

/// The frames of `input` the median uses: ≤ `max_frames` chosen by [`median_frame_indices`].
///
/// # Errors
/// An unreadable folder or frame, or a video that cannot be decoded.
pub fn selected_frames(input: &MedianInput, max_frames: usize) -> Result<Vec<Frame>> {
    match input {
        MedianInput::Rawframes(dir) => {
            let files = walk::files_with_ext(dir, &["jpg"])?;
            median_frame_indices(files.len(), max_frames).into_iter().map(|i| read_jpeg(&files[i], 3)).collect()
        }
        MedianInput::Video(path) => {
            let mut reader = VideoReader::open(path)?;
            reader.frames(&median_frame_indices(reader.info().num_frames, max_frames))
        }
        MedianInput::Segment { dir, first, last, tmpl } => {
            let n = last + 1 - first;
            median_frame_indices(n, max_frames).into_iter().map(|i| read_jpeg(&dir.join(tmpl.render("", first + i)), 3)).collect()
        }
    }
}

/// Computes and writes one median image; returns the number of frames it used.
///
/// # Errors
/// Reading, differing frame sizes, encoding, or writing fails (no output is left).
pub fn median_one(task: &MedianTask, max_frames: usize, format: ImageFormat) -> Result<usize> {
    let frames = selected_frames(&task.input, max_frames)?;
    if frames.is_empty() {
        bail!("no frames");
    }
    let median = temporal_median(&frames)?;
    let bytes = match format {
        ImageFormat::Jpeg(q) => JpegEncoder::new(q)?.encode(&median)?,
        ImageFormat::Png => {
            let mut buf = Vec::new();
            image::write_buffer_with_format(
                &mut std::io::Cursor::new(&mut buf),
                &median.data,
                median.width as u32,
                median.height as u32,
                image::ExtendedColorType::Rgb8,
                image::ImageFormat::Png,
            )?;
            buf
        }
    };
    crate::sink::atomic::write_file(&task.dest, &bytes)?;
    Ok(frames.len())
}

/// The median image of `source` (a rawframe folder, else a video file) written to `dest` as a
/// quality-75 JPEG: the in-stream median of `BackgroundBlend.median_from`, the same image
/// `vpipe median` writes.
///
/// # Errors
/// As [`median_one`].
pub fn median_of_source(source: &Path, dest: &Path, max_frames: usize) -> Result<()> {
    let input = if source.is_dir() { MedianInput::Rawframes(source.into()) } else { MedianInput::Video(source.into()) };
    median_one(&MedianTask { input, dest: dest.into() }, max_frames, ImageFormat::Jpeg(75)).map(drop)
}

/// Runs every task whose output does not exist yet on `workers` threads (stage `median`), on
/// the engine. Failures are collected, not fatal.
///
/// # Errors
/// None today beyond the engine's own (the sink only counts frames); kept fallible like every job.
pub fn run(tasks: Vec<MedianTask>, max_frames: usize, format: ImageFormat, workers: usize, progress: bool) -> Result<Summary> {
    let (todo, done): (Vec<MedianTask>, Vec<MedianTask>) = tasks.into_iter().partition(|t| !t.dest.exists());
    let mut summary = per_task("median", todo, workers, progress, move |t| median_one(&t, max_frames, format))?;
    summary.skipped = done.len();
    Ok(summary)
}

/// Reads and decodes the frames every task would use and nothing more (the baseline
/// `scripts/bench_median.sh` compares against); outputs are neither checked nor written.
///
/// # Errors
/// As [`run`].
pub fn decode_only(tasks: Vec<MedianTask>, max_frames: usize, workers: usize) -> Result<Summary> {
    per_task("decode", tasks, workers, false, move |t| Ok(selected_frames(&t.input, max_frames)?.len()))
}

/// The median graph: `stage` × `workers` over `tasks`, counting the frames each used.
fn per_task(
    stage: &'static str,
    tasks: Vec<MedianTask>,
    workers: usize,
    progress: bool,
    f: impl Fn(MedianTask) -> Result<usize> + Send + Sync + 'static,
) -> Result<Summary> {
    let settings = Settings { capacity: 2 * workers.max(1), progress: progress.then_some("videos"), ..Settings::default() };
    let mut frames = 0usize;
    let mut summary =
        Graph::source("median", tasks, |t| t.input.path().display().to_string(), settings).map(stage, workers, f).run("count", |n| {
            frames += n;
            Ok(())
        })?;
    (summary.outputs, summary.output_unit) = (frames, "frames");
    Ok(summary)
}
