//! The resize-videos job (mmaction2 `tools/data/resize_videos.py`): every video → the same
//! frames re-encoded by libx264 at a smaller size and, with `--dense`, a keyframe every 16
//! frames, so that the loader's random access decodes few frames ([`crate::encode`]).
//!
//! ```text
//! source ─▶ resize × workers (decode → filter → libx264 → .tmp file → rename) ─▶ report
//! ```
//! An output under its final name is always complete (written to a temporary name, renamed when
//! done): a re-run skips it and redoes the rest, so a killed run resumes where it stopped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::engine::{Graph, Settings};
use super::extract::{list_videos_named, open_report, VideoTask};
use super::Summary;
use crate::encode::{encode_video, EncodeOptions, Encoded};

/// Containers the output may keep from its source's name; any other becomes `.mp4`.
const KEPT_CONTAINERS: &[(&str, &str)] = &[("mp4", "mp4"), ("m4v", "mp4"), ("mov", "mov"), ("mkv", "matroska"), ("avi", "avi")];

/// The videos under `src` (`level` as `extract-frames`), each with its output file under `out`:
/// the same relative path, `.mp4` with `to_mp4` or where the source's container is not one
/// libx264 output keeps (mp4, m4v, mov, mkv, avi).
///
/// # Errors
/// As [`super::extract::list_videos`] (two sources with one output name, `a.avi` and `a.mp4`
/// with `to_mp4`).
pub fn list_resize_tasks(src: &Path, out: &Path, level: usize, exts: &[String], to_mp4: bool) -> Result<Vec<VideoTask>> {
    list_videos_named(src, out, level, exts, |p| {
        let ext = p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let keep = !to_mp4 && KEPT_CONTAINERS.iter().any(|(e, _)| *e == ext);
        let stem = p.file_stem().unwrap_or_default().to_string_lossy();
        format!("{stem}.{}", if keep { ext.as_str() } else { "mp4" })
    })
}

/// FFmpeg's muxer for an output file's extension.
fn muxer(dest: &Path) -> &'static str {
    let ext = dest.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    KEPT_CONTAINERS.iter().find(|(e, _)| *e == ext).map_or("mp4", |(_, m)| m)
}

/// Everything a resize run needs.
#[derive(Clone, Debug)]
pub struct ResizeJob {
    /// Videos and their outputs, in report order.
    pub videos: Vec<VideoTask>,
    /// Encoder settings.
    pub options: EncodeOptions,
    /// Videos encoded at once.
    pub workers: usize,
    /// File listing finished videos, appended as they finish; a video whose frame count changed
    /// is listed with the counts and why.
    pub report: Option<PathBuf>,
    /// A bar on a terminal, else a line every `VPIPE_PROGRESS_SECS`.
    pub progress: bool,
}

/// Re-encodes one video to its output, atomically; returns what it did.
///
/// # Errors
/// As [`encode_video`]; the temporary file is removed.
pub fn resize_video(task: &VideoTask, o: &EncodeOptions) -> Result<Encoded> {
    remove_stale_temporaries(&task.dest);
    let mut done = None;
    crate::sink::atomic::write_with(&task.dest, |tmp| {
        done = Some(encode_video(&task.src, tmp, muxer(&task.dest), o)?);
        Ok(())
    })?;
    done.context("nothing encoded")
}

/// Removes what a killed run left of `dest` ([`crate::sink::atomic::write_with`]'s
/// `.tmp-<pid>-<name>` files). Only this video's: shards never share a video.
fn remove_stale_temporaries(dest: &Path) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name().map(|n| n.to_string_lossy().into_owned())) else { return };
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if f.starts_with(".tmp-") && f.ends_with(&format!("-{name}")) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The report line of a finished video: its name, and for a changed frame count the counts and
/// the reason.
fn report_line(name: &str, e: &Encoded, o: &EncodeOptions) -> String {
    if e.frames_in == e.frames_out {
        return name.to_string();
    }
    let why = if o.remove_dup { "--remove-dup dropped near-duplicate frames" } else { "the encoder dropped frames" };
    format!("{name}\tframes {} -> {} ({why})", e.frames_in, e.frames_out)
}

/// Runs the job on the engine: skips videos whose output exists, re-encodes the rest on
/// `workers` threads (stage `resize`), records each in the report. Failures are collected,
/// not fatal; SIGINT/SIGTERM stop it as `extract-frames` stops.
///
/// # Errors
/// The report file cannot be written; SIGINT/SIGTERM.
pub fn run(job: ResizeJob) -> Result<Summary> {
    super::interrupt::watch()?;
    let mut report = job.report.as_deref().map(open_report).transpose()?;
    let (todo, done): (Vec<VideoTask>, Vec<VideoTask>) = job.videos.into_iter().partition(|t| !t.dest.is_file());
    let options = job.options.clone();
    let settings = Settings { capacity: 2 * job.workers.max(1), progress: job.progress.then_some("videos"), ..Settings::default() };
    let mut frames = 0usize;
    let mut changed = Vec::new();
    let o = job.options.clone();
    let mut summary = Graph::source("resize-videos", todo, |t| t.src.display().to_string(), settings)
        .map("resize", job.workers, move |t: VideoTask| Ok((resize_video(&t, &options)?, t.name)))
        .run("report", |(e, name)| {
            frames += e.frames_out;
            let line = report_line(&name, &e, &o);
            if e.frames_in != e.frames_out {
                eprintln!("note: {line}");
                changed.push(line.clone());
            }
            match report.as_mut() {
                Some(f) => writeln!(f, "{line}").context("writing the report file"),
                None => Ok(()),
            }
        })?;
    summary.skipped = done.len();
    (summary.outputs, summary.output_unit) = (frames, "frames");
    Ok(summary)
}
