//! `vpipe resize-videos` (mmaction2's `resize_videos.py`, `--dense` cache) on every real clip of
//! ../shared/data: the output has the source's frame count, so `SampleFrames` picks the same
//! indices; rotation is applied into the pixels; `--dense` puts a keyframe every 16 frames; a
//! corrupt input is reported while the others complete; a killed run resumes to the same tree;
//! shards split the list; `--remove-dup` and a variable-rate source match the FFmpeg CLI; `vpipe
//! probe` measures random access and suggests the dense cache.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vpipe::decode::VideoReader;
use vpipe::sample::SampleFrames;

fn resize(src: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    common::vpipe().arg("resize-videos").arg(src).arg(out).args(["--scale", "128", "--preset", "ultrafast"]).args(extra).output().unwrap()
}

fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir(root) {
        if e.extension().is_some_and(|x| x != "txt") {
            out.insert(e.strip_prefix(root).unwrap().to_path_buf(), fs::read(&e).unwrap());
        }
    }
    out
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(root).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every real clip (and the edge cases) under one flat folder.
fn all_clips(data: &Path, dir: &Path) -> PathBuf {
    let src = dir.join("src");
    fs::create_dir(&src).unwrap();
    let mut rels: Vec<String> =
        walkdir(&data.join("mini/videos")).iter().map(|p| p.strip_prefix(data).unwrap().display().to_string()).collect();
    // (mmaction2/test.avi and test.mp4 would both become test.mp4 with --to-mp4: the .avi goes.)
    rels.extend(["kinetics/SOX5yA1l24A.mp4", "mmaction2/test.avi"].map(String::from));
    rels.extend(
        [
            "unordered.mov",
            "video_90.mov",
            "h265_video.mp4",
            "av1_video.mkv",
            "bbb_480p_vp9_opus_1second.webm",
            "tiny_1x1.mp4",
            "short_32f.mp4",
            "corrupted.mp4",
        ]
        .map(|f| format!("edge/{f}")),
    );
    for r in rels {
        let p = data.join(&r);
        std::os::unix::fs::symlink(&p, src.join(p.file_name().unwrap())).unwrap();
    }
    src
}

#[test]
fn every_clip_keeps_its_frames_and_sampleframes_indices_and_dense_has_short_gops() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = all_clips(&data, dir.path());
    let out = dir.path().join("out");
    let o = resize(&src, &out, &["--level", "1", "--dense", "--to-mp4", "--workers", "2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    // The corrupt clip fails and is named; every other one is written.
    assert!(!o.status.success() && err.contains("corrupted.mp4") && err.contains("failed 1"), "{err}");
    let report = fs::read_to_string(out.join("resize_report.txt")).unwrap();
    let sf = SampleFrames { test_mode: false, ..SampleFrames::segments(8) };
    let mut checked = 0;
    for s in walkdir(&src) {
        let name = s.file_name().unwrap().to_string_lossy().into_owned();
        if name == "corrupted.mp4" {
            continue;
        }
        let stem = s.file_stem().unwrap().to_string_lossy().into_owned();
        let dest = out.join(format!("{stem}.mp4"));
        let (a, b) = (VideoReader::open(&s).unwrap(), VideoReader::open(&dest).unwrap_or_else(|e| panic!("{name}: {e:#}")));
        let (ia, ib) = (a.info(), b.info());
        assert_eq!(ib.num_frames, ia.num_frames, "{name}: frame count ({report})");
        let mut r = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(0);
        let mut r2 = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(0);
        assert_eq!(sf.sample_at(ia.num_frames, 0, None, &mut r), sf.sample_at(ib.num_frames, 0, None, &mut r2), "{name}");
        // Short side 128, long side even; the rotated clip is stored upright.
        let (w, h) = (ib.width, ib.height);
        assert_eq!(w.min(h), 128, "{name}: {w}x{h}");
        assert_eq!(ia.width > ia.height, w > h, "{name}: orientation {}x{} → {w}x{h}", ia.width, ia.height);
        assert_eq!(ib.rotation, 0.0, "{name}: rotation goes into the pixels");
        // --dense: a keyframe at least every 16 frames.
        assert!(ib.num_frames as f64 / ib.keyframes.max(1) as f64 <= 16.0, "{name}: {} frames, {} keyframes", ib.num_frames, ib.keyframes);
        assert!(report.lines().any(|l| l == name), "{name} not reported whole: {report}");
        checked += 1;
    }
    assert!(checked >= 15, "{checked}");
}

#[test]
fn a_killed_run_resumes_to_the_same_tree_and_shards_split_the_list() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = common::long_clips(&data, dir.path());
    let args = ["--level", "1", "--workers", "1"];
    let whole = dir.path().join("whole");
    let o = resize(&src, &whole, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let killed = dir.path().join("killed");
    let mut child = common::vpipe()
        .arg("resize-videos")
        .arg(&src)
        .arg(&killed)
        .args(["--scale", "128", "--preset", "ultrafast"])
        .args(args)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while files(&killed).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no video finished");
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be killed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(files(&killed).len() < 4);
    let o = resize(&src, &killed, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(files(&killed) == files(&whole), "the resumed tree differs from the uninterrupted one");
    let hidden: Vec<_> = walkdir(&killed).into_iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.')).collect();
    assert!(hidden.is_empty(), "temporary files left: {hidden:?}");

    // Two shards, one by flag and one by Slurm's array variables, make the whole tree.
    let sharded = dir.path().join("sharded");
    assert!(resize(&src, &sharded, &[&args[..], &["--shard", "0/2"]].concat()).status.success());
    let o = common::vpipe()
        .arg("resize-videos")
        .arg(&src)
        .arg(&sharded)
        .args(["--scale", "128", "--preset", "ultrafast"])
        .args(args)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .env("SLURM_ARRAY_TASK_STEP", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(files(&sharded) == files(&whole));
}

/// The dense cache at libx264's default preset (B-frames, `-g 16`): closed GOPs, so random access
/// gives the frames a sequential decode gives, at a fraction of the decoding.
#[test]
fn the_dense_cache_with_b_frames_is_randomly_accessible() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = common::long_clips(&data, dir.path());
    let out = dir.path().join("dense");
    let o = common::vpipe().arg("resize-videos").arg(&src).arg(&out).args(["--level", "1", "--dense", "--scale", "128"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in walkdir(&out).into_iter().filter(|p| p.extension().is_some_and(|e| e == "mp4")) {
        let mut all = Vec::new();
        vpipe::decode::decode_all(&f, &Default::default(), |_, fr| {
            all.push(fr.data.clone());
            Ok(())
        })
        .unwrap();
        let mut r = VideoReader::open(&f).unwrap();
        assert!(r.info().b_frames, "{}: the default preset uses B-frames", f.display());
        let n = all.len();
        let picks = [n - 1, 3, n / 2, 17, 16, n / 3, 5];
        let got = r.frames(&picks).unwrap_or_else(|e| panic!("{}: {e:#}", f.display()));
        for (p, g) in picks.iter().zip(&got) {
            assert!(g.data == all[*p], "{}: frame {p} by random access differs from the sequential decode", f.display());
        }
    }
}

/// Each frame's time in seconds, in presentation order, as ffprobe reads the file.
fn frame_times(f: &Path) -> Vec<f64> {
    let o = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time", "-of", "csv=p=0"])
        .arg(f)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect()
}

/// `--remove-dup` drops the frames mmaction2's command line drops (`-vf mpdecimate,scale=-2:S
/// -vsync vfr -c:v libx264`), keeps the kept frames' times (a variable-rate output of the same
/// duration), and the report names the video with both counts. No real clip repeats frames
/// exactly, so the input is made here: 5 fps content written at 25 fps (each picture 5 times).
#[test]
fn remove_dup_drops_what_mmaction2s_command_drops_and_reports_the_counts() {
    if common::data_dir().is_none() {
        return; // the test suite's data requirement also stands for FFmpeg's CLI being present
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    let dup = src.join("dup.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=5",
            "-t",
            "4",
            "-r",
            "25",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&dup)
        .status()
        .unwrap();
    assert!(made.success());
    let out = dir.path().join("out");
    let o = resize(&src, &out, &["--level", "1", "--remove-dup"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cli = dir.path().join("cli.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&dup)
        .args(["-vf", "mpdecimate,scale=-2:128", "-vsync", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-an"])
        .arg(&cli)
        .status()
        .unwrap();
    assert!(ok.success());
    let (ours, theirs, source) = (frame_times(&out.join("dup.mp4")), frame_times(&cli), frame_times(&dup));
    assert_eq!(source.len(), 100);
    assert!(ours.len() < 40, "mpdecimate keeps about one frame in 5: {}", ours.len());
    assert_eq!(ours.len(), theirs.len(), "frames kept: vpipe {ours:?}, FFmpeg CLI {theirs:?}");
    for (a, b) in ours.iter().zip(&theirs) {
        assert!((a - b).abs() < 1e-3, "times of the kept frames: vpipe {ours:?}, FFmpeg CLI {theirs:?}");
    }
    let report = fs::read_to_string(out.join("resize_report.txt")).unwrap();
    let line = format!("dup.mp4\tframes 100 -> {} (--remove-dup dropped near-duplicate frames)", ours.len());
    assert!(report.lines().any(|l| l == line), "{report}");

    // The CLI's output is variable-rate (no real clip of ../shared/data is): resized without
    // --remove-dup, it keeps every frame at its time.
    let vfr = dir.path().join("vfr");
    fs::create_dir(&vfr).unwrap();
    fs::rename(&cli, vfr.join("vfr.mp4")).unwrap();
    let o = resize(&vfr, &dir.path().join("vfr_out"), &["--level", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let kept = frame_times(&dir.path().join("vfr_out/vfr.mp4"));
    assert_eq!(kept.len(), theirs.len(), "a VFR source keeps its frame count");
    for (a, b) in kept.iter().zip(&theirs) {
        assert!((a - b).abs() < 1e-3, "a VFR source keeps its frame times: {kept:?} vs {theirs:?}");
    }
}

/// `vpipe probe` measures random access by fetching a TSM test clip: a Kinetics clip (keyframes
/// 100+ frames apart) costs more per kept frame than a keyframe every 16 frames can, and the
/// probe suggests `resize-videos --dense`; its dense cache costs less than half as much, without
/// the hint.
#[test]
fn probe_measures_random_access_and_suggests_the_dense_cache_where_it_pays() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    std::os::unix::fs::symlink(data.join("kinetics/R6llTwEh07w.mp4"), src.join("R6llTwEh07w.mp4")).unwrap();
    let out = dir.path().join("dense");
    assert!(resize(&src, &out, &["--level", "1", "--dense"]).status.success());
    let probe = |f: &Path, json: bool| {
        let o = common::vpipe().arg("probe").args(json.then_some("--json")).arg(f).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let cost = |f: &Path| {
        let v: serde_json::Value = serde_json::from_str(probe(f, true).trim()).unwrap();
        v["decoded_per_sparse_frame"].as_f64().unwrap()
    };
    let (original, dense) = (src.join("R6llTwEh07w.mp4"), out.join("R6llTwEh07w.mp4"));
    let (a, b) = (cost(&original), cost(&dense));
    assert!(a > 8.5 && b <= 8.5 && b < a / 2.0, "decoded per kept frame: original {a}, dense {b}");
    assert!(probe(&original, false).contains("resize-videos --dense"));
    assert!(!probe(&dense, false).contains("resize-videos --dense"));

    // A file that opens but does not decode is still described; the failure is named and counted.
    let o = common::vpipe().arg("probe").arg(data.join("edge/corrupted.mp4")).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success() && err.contains("corrupted.mp4"), "{err}");
    assert!(out.contains("frames      50") && out.contains("access      fetching a TSM clip failed"), "{out}");
}
