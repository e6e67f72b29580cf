//! `vpipe probe VIDEO…`: what vpipe's decoder sees in each file (frames and how they were
//! counted, geometry before and after rotation, colour tags, GOP structure, chosen stream).

use std::path::PathBuf;

use anyhow::Result;

use vpipe::decode::{DecodeOptions, VideoInfo, VideoReader};
use vpipe::sample::SampleFrames;

/// Flags of `vpipe probe`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Video files.
    #[arg(required = true)]
    videos: Vec<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Read this stream index instead of FFmpeg's best video stream.
    #[arg(long)]
    stream: Option<usize>,
    /// Report the coded geometry (no display-matrix rotation).
    #[arg(long)]
    no_autorotate: bool,
}

fn text(path: &str, i: &VideoInfo, access: &Result<Option<f64>, String>) -> String {
    let how = match i.frame_count {
        vpipe::decode::FrameCount::PacketIndex => "packet index",
        vpipe::decode::FrameCount::ContainerIndex => "the container's index",
        vpipe::decode::FrameCount::Decoded => "decoded (no pts)",
        vpipe::decode::FrameCount::VopHeaders => "VOP headers (no pts)",
    };
    let note = i.count_note.as_ref().map_or(String::new(), |n| format!("\n  warning     {n}"));
    [
        path.to_string(),
        format!("  frames      {} (counted by {how}){note}", i.num_frames),
        format!("  fps         {:.3}    duration {:.3} s", i.fps, i.duration),
        format!(
            "  size        {}x{} (coded {}x{}, rotation {}°, display matrix {:.1}°)",
            i.width, i.height, i.coded_width, i.coded_height, i.applied_rotation, i.rotation
        ),
        format!("  codec       {}    pixel format {}", i.codec, i.pix_fmt),
        format!("  colour      matrix {}, range {}", i.color_space, i.color_range),
        format!(
            "  keyframes   {} (mean GOP {:.1} frames)    B-frames {}",
            i.keyframes,
            i.mean_gop(),
            if i.b_frames { "yes" } else { "no" }
        ),
        format!("  stream      {} (of {} video stream(s))", i.stream_index, i.video_streams),
        random_access(access),
    ]
    .join("\n")
}

/// Frames vpipe's decoder decodes per frame kept when it fetches a TSM test clip from this file
/// (`SampleFrames` test mode, 8 segment centres, `clip_len` 1), measured by fetching it: the
/// loader's own cost of random access, with its one-pass runs through a GOP and its skipped
/// B-frames (`vpipe bench` reports the same ratio for a whole epoch). `None` for an empty video.
///
/// # Errors
/// The frames cannot be decoded (the error names the frame).
pub fn decoded_per_sparse_frame(r: &mut VideoReader) -> Result<Option<f64>> {
    let n = r.info().num_frames;
    if n == 0 {
        return Ok(None);
    }
    // Test mode takes segment centres: the generator is not used.
    let picks = SampleFrames::segments(TSM_SEGMENTS).sample_at(n, 0, None, &mut <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(0));
    let wanted: Vec<usize> = picks.frame_inds.iter().map(|&i| i as usize).collect();
    let before = r.stats();
    r.frames(&wanted)?;
    let after = r.stats();
    let kept = (after.frames_kept - before.frames_kept).max(1);
    Ok(Some((after.frames_decoded - before.frames_decoded) as f64 / kept as f64))
}

/// TSM/TSN's segments per clip (mmaction2's `num_clips=8`).
const TSM_SEGMENTS: usize = 8;

/// Frames decoded per kept frame above which the probe (and `vpipe bench`) suggests a dense cache:
/// a keyframe every 16 frames costs at most (16 + 1) / 2 on average.
pub const DENSE_HINT_ABOVE: f64 = 8.5;

/// The probe's line on random access (or on why fetching failed), with `resize-videos --dense` suggested where long GOPs
/// would make decoding the loader's bottleneck.
fn random_access(cost: &Result<Option<f64>, String>) -> String {
    let cost = match cost {
        Ok(Some(c)) => *c,
        Ok(None) => return "  access      no frames".into(),
        Err(e) => return format!("  access      fetching a TSM clip failed: {e}"),
    };
    let hint = if cost > DENSE_HINT_ABOVE {
        "; `vpipe resize-videos --dense` (a keyframe every 16 frames) makes random access cheaper"
    } else {
        ""
    };
    format!(
        "  access      a TSM clip ({TSM_SEGMENTS} segments) decodes {:.0} frames, {cost:.1} per frame kept{hint}",
        cost * TSM_SEGMENTS as f64
    )
}

/// Runs the command: one report per file; the first file that cannot be probed is an error
/// naming it, after the others are printed.
pub fn run(a: Args) -> Result<()> {
    let options = DecodeOptions { autorotate: !a.no_autorotate, stream: a.stream, ..Default::default() };
    let mut failed = Vec::new();
    for path in &a.videos {
        match VideoReader::open_with(path, &options) {
            Ok(mut r) => {
                // A file that opens but cannot be decoded is still described, then counted failed.
                let access = decoded_per_sparse_frame(&mut r).map_err(|e| format!("{e:#}"));
                if let Err(e) = &access {
                    eprintln!("error: {}: {e}", path.display());
                    failed.push(path.display().to_string());
                }
                if a.json {
                    let mut v = serde_json::to_value(r.info())?;
                    v["path"] = path.display().to_string().into();
                    v["mean_gop"] = r.info().mean_gop().into();
                    v["decoded_per_sparse_frame"] = access.clone().ok().flatten().into();
                    if let Err(e) = &access {
                        v["access_error"] = e.clone().into();
                    }
                    println!("{v}");
                } else {
                    println!("{}", text(&path.display().to_string(), r.info(), &access));
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e:#}", path.display());
                failed.push(path.display().to_string());
            }
        }
    }
    if let Some(first) = failed.first() {
        anyhow::bail!("could not probe {} of {} file(s), first {first}", failed.len(), a.videos.len());
    }
    Ok(())
}
