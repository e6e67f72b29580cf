//! `vpipe probe VIDEO…`: what vpipe's decoder sees in each file (frames and how they were
//! counted, geometry before and after rotation, colour tags, GOP structure, chosen stream).

use std::path::PathBuf;

use anyhow::Result;

use vpipe::decode::{DecodeOptions, VideoInfo, VideoReader};

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

fn text(path: &str, i: &VideoInfo) -> String {
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
        random_access(i),
    ]
    .join("\n")
}

/// Frames an exact decoder decodes per frame a sparse sampler keeps (TSM's segments, one frame
/// per GOP or fewer): a frame at a uniform position of a GOP of G frames costs the frames from
/// its keyframe, (G + 1) / 2 on average.
pub fn decoded_per_sparse_frame(i: &VideoInfo) -> f64 {
    (i.mean_gop().max(1.0) + 1.0) / 2.0
}

/// The probe's line on random access, with `resize-videos --dense` suggested where long GOPs
/// would make decoding the loader's bottleneck.
fn random_access(i: &VideoInfo) -> String {
    if i.keyframes == 0 {
        return "  access      unknown: no keyframe index (frames numbered by decoding)".into();
    }
    let cost = decoded_per_sparse_frame(i);
    let hint =
        if cost > 8.5 { "; `vpipe resize-videos --dense` (a keyframe every 16 frames: ≈ 8.5) makes random access cheaper" } else { "" };
    format!("  access      ≈ {cost:.1} frames decoded per frame a sparse sampler (TSM) keeps{hint}")
}

/// Runs the command: one report per file; the first file that cannot be probed is an error
/// naming it, after the others are printed.
pub fn run(a: Args) -> Result<()> {
    let options = DecodeOptions { autorotate: !a.no_autorotate, stream: a.stream, ..Default::default() };
    let mut failed = Vec::new();
    for path in &a.videos {
        match VideoReader::open_with(path, &options) {
            Ok(r) => {
                if a.json {
                    let mut v = serde_json::to_value(r.info())?;
                    v["path"] = path.display().to_string().into();
                    v["mean_gop"] = r.info().mean_gop().into();
                    v["decoded_per_sparse_frame"] = decoded_per_sparse_frame(r.info()).into();
                    println!("{v}");
                } else {
                    println!("{}", text(&path.display().to_string(), r.info()));
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
