//! vpipe's side of `scripts/bench_peers.sh`: times one decode task on one clip, in-process,
//! including opening the file, and prints one JSON line (median of `--reps` runs, milliseconds,
//! plus frames decoded and kept). The peers' side is `scripts/bench_peers.py`, with the same
//! tasks and indices:
//! - `tsm8`: open + mmaction2 0.x `SampleFrames(clip_len=1, num_clips=8, test_mode=True)` indices
//!   (segment centres);
//! - `dense32x2`: open + 32 frames at stride 2 from the middle of the video (indices mod n);
//! - `full`: every frame, one at a time (one reused RGB buffer), by vpipe's full-decode path
//!   [`decode_all`] (`vpipe extract-frames`): open, no packet index or frame count, one decode pass;
//! - `open`: the open alone (probe, packet index or count), the part of the others that is per file.
//!
//! Run: `cargo bench --bench decode -- --task tsm8 --clip V [--reps 5] [--dump OUT.rgb]`;
//! `--dump` writes the task's frames as raw RGB24 for the frame check.

use std::io::Write;
use std::time::Instant;

use vpipe::decode::{decode_all, DecodeOptions, VideoReader};

/// mmaction2 0.x SampleFrames test mode, clip_len 1: int(avg * k + avg / 2) with avg = n / 8.
fn tsm8(n: usize) -> Vec<usize> {
    let avg = n as f64 / 8.0;
    (0..8).map(|k| ((avg * k as f64 + avg / 2.0) as usize).min(n - 1)).collect()
}

fn dense32x2(n: usize) -> Vec<usize> {
    let start = n.saturating_sub(64) / 2;
    (0..32).map(|k| (start + 2 * k) % n).collect()
}

fn run(task: &str, clip: &str, dump: Option<&mut Vec<u8>>) -> (f64, u64, u64) {
    let t = Instant::now();
    let mut checksum = 0u64;
    let (decoded, kept) = if task == "full" {
        let n = decode_all(clip.as_ref(), &DecodeOptions::default(), |_, f| {
            checksum = checksum.wrapping_add(f.data[f.data.len() / 2] as u64);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{clip}: {e:#}")) as u64;
        (n, n)
    } else {
        let mut r = VideoReader::open(clip).unwrap_or_else(|e| panic!("{clip}: {e:#}"));
        let n = r.info().num_frames;
        if task == "open" {
            checksum = n as u64;
        } else {
            let idx = if task == "tsm8" { tsm8(n) } else { dense32x2(n) };
            let frames = r.frames(&idx).unwrap_or_else(|e| panic!("{clip}: {e:#}"));
            if let Some(out) = dump {
                frames.iter().for_each(|f| out.extend_from_slice(&f.data));
            }
            checksum = frames.iter().map(|f| f.data[f.data.len() / 2] as u64).sum();
        }
        (r.stats().frames_decoded, r.stats().frames_kept)
    };
    std::hint::black_box(checksum);
    (t.elapsed().as_secs_f64() * 1e3, decoded, kept)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let (Some(task), Some(clip)) = (flag("--task"), flag("--clip")) else {
        eprintln!("usage: decode --task tsm8|dense32x2|full|open --clip VIDEO [--reps N] [--dump FILE]");
        return; // `cargo bench` with no arguments runs nothing
    };
    let reps: usize = flag("--reps").map_or(5, |r| r.parse().expect("--reps N"));
    if let Some(path) = flag("--dump") {
        let mut out = Vec::new();
        run(&task, &clip, Some(&mut out));
        std::fs::File::create(&path).and_then(|mut f| f.write_all(&out)).expect("writing --dump");
    }
    let mut runs: Vec<(f64, u64, u64)> = (0..reps).map(|_| run(&task, &clip, None)).collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ms, decoded, kept) = runs[reps / 2];
    println!("{{\"lib\":\"vpipe\",\"task\":\"{task}\",\"ms\":{ms:.3},\"decoded\":{decoded},\"kept\":{kept}}}");
}
