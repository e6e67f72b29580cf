//! Sparse fetch vs full decode on real clips: the time to get TSM's 8 segment-centre frames
//! (keyframe seek, each needed GOP decoded once) against decoding every frame, measured side by
//! side in one run; medians of 7 repetitions. Run: `scripts/bench_decode.sh` (release build).
//! Data: `$VPIPE_TEST_DATA`, else `../shared/data`.

use std::path::PathBuf;
use std::time::Instant;

use vpipe::decode::VideoReader;
use vpipe::sample::SampleFrames;

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..7)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[3]
}

fn main() {
    let data = std::env::var_os("VPIPE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let clips = [
        "mini/videos/arm_wrestling/demo.mp4",
        "mini/videos/flipping_pancake/flipping_a_pancake.mkv",
        "kinetics/R6llTwEh07w.mp4",
        "kinetics/SOX5yA1l24A.mp4",
        "mini/videos/SoccerJuggling/v_SoccerJuggling_g24_c01.avi",
        "mini/videos/wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi",
    ];
    println!("{:<58} {:>6} {:>12} {:>12} {:>7}", "clip", "frames", "8 frames ms", "all ms", "ratio");
    let mut rng = rand::rng();
    for rel in clips {
        let path = data.join(rel);
        let Ok(reader) = VideoReader::open(&path) else {
            eprintln!("skipped {}: not found", path.display());
            continue;
        };
        let n = reader.info().num_frames;
        let picks: Vec<usize> = SampleFrames::segments(8).sample(n, 0, &mut rng).frame_inds.iter().map(|&i| i as usize).collect();
        let all: Vec<usize> = (0..n).collect();
        let sparse = median_ms(|| {
            let r = VideoReader::open(&path).unwrap();
            r.frames(&picks).unwrap();
        });
        let full = median_ms(|| {
            let r = VideoReader::open(&path).unwrap();
            r.frames(&all).unwrap();
        });
        println!("{rel:<58} {n:>6} {sparse:>12.2} {full:>12.2} {:>6.2}x", full / sparse);
    }
}
