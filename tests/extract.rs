//! `vpipe extract-frames` and `vpipe build-file-list` on the real mini dataset: one JPEG per
//! decoded frame at the video's size, resume after SIGKILL to an identical tree, failures reported
//! without losing the other videos, mmaction2 list files, and featurize over the extracted frames.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use vpipe::decode::{read_jpeg, VideoReader};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn extract(src: &Path, out: &Path, extra: &[&str]) -> Output {
    common::vpipe().arg("extract-frames").arg(src).arg(out).args(extra).output().unwrap()
}

/// Every file under `root` (relative path → bytes), skipping the report file.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "build_report.txt" {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn partial_dirs(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for class in fs::read_dir(root).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().is_dir()) {
        for e in fs::read_dir(class.path()).unwrap().filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().ends_with(".partial") {
                v.push(e.path());
            }
        }
    }
    v
}

#[test]
fn mini_extracts_one_jpeg_per_frame_at_video_size() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = data.join("mini/videos");
    let out = dir.path().join("raw");
    let o = extract(&src, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("videos ok 8, skipped 0, failed 0"));
    let expected = [
        ("SoccerJuggling/v_SoccerJuggling_g23_c01.avi", 240),
        ("SoccerJuggling/v_SoccerJuggling_g24_c01.avi", 251),
        ("wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi", 72),
        ("wave/SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi", 74),
        ("wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi", 48),
        ("cartwheel/hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi", 83),
        ("arm_wrestling/demo.mp4", 280),
        ("flipping_pancake/flipping_a_pancake.mkv", 310),
    ];
    for (video, n) in expected {
        let info = VideoReader::open(src.join(video)).unwrap().info().clone();
        assert_eq!(info.num_frames, n, "{video}");
        let folder = out.join(video.rsplit_once('.').unwrap().0);
        let mut names: Vec<String> =
            fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        let want: Vec<String> = (1..=n).map(|i| format!("img_{i:05}.jpg")).collect();
        assert_eq!(names, want, "{video}");
        for name in [&want[0], &want[n - 1]] {
            let f = read_jpeg(&folder.join(name), 3).unwrap();
            assert_eq!((f.width, f.height), (info.width, info.height), "{video}/{name}");
        }
    }
    let report = fs::read_to_string(out.join("build_report.txt")).unwrap();
    assert_eq!(report.lines().count(), 8);

    // A second run skips everything and changes nothing.
    let before = tree(&out);
    let o = extract(&src, &out, &[]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("videos ok 0, skipped 8"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(tree(&out), before);
    assert_eq!(fs::read_to_string(out.join("build_report.txt")).unwrap(), report);
}

#[test]
fn sigkill_mid_run_then_rerun_gives_the_uninterrupted_tree() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A flat (level 1) source long enough to kill in the middle: 4 Kinetics-length clips.
    let src = common::long_clips(&data, dir.path());
    let args = ["--level", "1", "--workers", "1"];
    let whole = dir.path().join("whole");
    assert!(extract(&src, &whole, &args).status.success());

    let killed = dir.path().join("killed");
    let mut child = common::vpipe().arg("extract-frames").arg(&src).arg(&killed).args(args).spawn().unwrap();
    // Kill once the first video is complete and the second is half written.
    let t0 = Instant::now();
    loop {
        let complete = fs::read_dir(&killed)
            .map(|r| r.filter_map(|e| e.ok()).filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.')).count())
            .unwrap_or(0);
        let partial_files = fs::read_dir(&killed)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
                    .map(|e| fs::read_dir(e.path()).map_or(0, |d| d.count()))
                    .sum::<usize>()
            })
            .unwrap_or(0);
        if complete >= 1 && partial_files >= 20 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "extraction never reached the second video");
        assert!(child.try_wait().unwrap().is_none(), "extraction finished before it could be killed");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let leftovers: Vec<_> =
        fs::read_dir(&killed).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(leftovers.iter().any(|n| n.ends_with(".partial")), "the kill should have left a partial folder: {leftovers:?}");
    assert!(tree(&killed).len() < tree(&whole).len());

    let o = extract(&src, &killed, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("skipped 1") || String::from_utf8_lossy(&o.stderr).contains("skipped 2"));
    let left: Vec<_> =
        fs::read_dir(&killed).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with('.')).collect();
    assert!(left.is_empty(), "partial folders left behind");
    assert!(tree(&killed) == tree(&whole), "resumed tree differs from the uninterrupted one");
    let mut report: Vec<String> = fs::read_to_string(killed.join("build_report.txt")).unwrap().lines().map(str::to_string).collect();
    report.sort();
    assert_eq!(report, vec!["R6llTwEh07w.mp4", "SOX5yA1l24A.mp4", "WUzgd7C1pWA.mp4", "test.mp4"]);
}

#[test]
fn a_corrupt_video_is_reported_and_the_others_complete() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src/cls");
    fs::create_dir_all(&src).unwrap();
    std::os::unix::fs::symlink(data.join("edge/corrupted.mp4"), src.join("corrupted.mp4")).unwrap();
    std::os::unix::fs::symlink(data.join("edge/unordered.mov"), src.join("unordered.mov")).unwrap();
    fs::write(src.join("empty.avi"), b"").unwrap();
    let out = dir.path().join("raw");
    let o = extract(&dir.path().join("src"), &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("videos ok 1, skipped 0, failed 2"), "{err}");
    assert!(err.contains("corrupted.mp4") && err.contains("Invalid data"), "{err}");
    assert!(err.contains("empty.avi"), "{err}");
    assert_eq!(fs::read_dir(out.join("cls/unordered")).unwrap().count(), 4);
    assert!(!out.join("cls/corrupted").exists() && !out.join("cls/empty").exists());
    assert!(partial_dirs(&out).is_empty());
}

#[test]
fn resize_and_denseflow_numbering_options() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src/cls");
    fs::create_dir_all(&src).unwrap();
    std::os::unix::fs::symlink(data.join("mini/videos/wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi"), src.join("t.avi")).unwrap();
    let out = dir.path().join("raw");
    // 432x240 → short side 256 → trunc(256/240·432) = 460 x 256; 0-based names.
    let o = extract(&dir.path().join("src"), &out, &["--new-short", "256", "--start-index", "0", "--quality", "80"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = read_jpeg(&out.join("cls/t/img_00000.jpg"), 3).unwrap();
    assert_eq!((f.width, f.height), (460, 256));
    assert!(out.join("cls/t/img_00047.jpg").exists() && !out.join("cls/t/img_00048.jpg").exists());

    let out2 = dir.path().join("raw2");
    let o = extract(&dir.path().join("src"), &out2, &["--new-width", "171", "--new-height", "128", "--filename-tmpl", "frame{:06d}.jpg"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = read_jpeg(&out2.join("cls/t/frame000001.jpg"), 3).unwrap();
    assert_eq!((f.width, f.height), (171, 128));
    assert!(!extract(&dir.path().join("src"), &out2, &["--new-width", "171"]).status.success());
}

/// Extracts the mini dataset once per test binary run into a shared folder.
fn mini_rawframes(data: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("rawframes");
    let o = extract(&data.join("mini/videos"), &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn build_file_list_ucf101_hmdb51_and_folder() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let raw = mini_rawframes(&data, dir.path());
    let ann = dir.path().join("ann");
    fs::create_dir(&ann).unwrap();
    fs::copy(data.join("mini/classInd.txt"), ann.join("classInd.txt")).unwrap();
    fs::write(ann.join("trainlist01.txt"), "SoccerJuggling/v_SoccerJuggling_g23_c01.avi 1\nwave/RATRACE_wave_f_nm_np1_fr_goo_37.avi 2\n")
        .unwrap();
    fs::write(ann.join("testlist01.txt"), "SoccerJuggling/v_SoccerJuggling_g24_c01.avi\nwave/NotExtracted.avi\n").unwrap();
    let lists = dir.path().join("data");
    let o = common::vpipe()
        .args(["build-file-list", "ucf101", s(&raw), "--annotations", s(&ann), "--num-split", "1", "--out-root-path", s(&lists)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NotExtracted"));
    let train = fs::read_to_string(lists.join("ucf101/ucf101_train_split_1_rawframes.txt")).unwrap();
    assert_eq!(train, "SoccerJuggling/v_SoccerJuggling_g23_c01 240 0\nwave/RATRACE_wave_f_nm_np1_fr_goo_37 72 1\n");
    let val = fs::read_to_string(lists.join("ucf101/ucf101_val_split_1_rawframes.txt")).unwrap();
    assert_eq!(val, "SoccerJuggling/v_SoccerJuggling_g24_c01 251 0\n");

    // HMDB51 flags over the video tree.
    let hann = dir.path().join("hann");
    fs::create_dir(&hann).unwrap();
    fs::write(hann.join("wave_test_split1.txt"), "RATRACE_wave_f_nm_np1_fr_goo_37.avi 1\nTrumanShow_wave_f_nm_np1_fr_med_26.avi 2\nSchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi 0\n").unwrap();
    fs::write(hann.join("cartwheel_test_split1.txt"), "hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi 1\n").unwrap();
    let o = common::vpipe()
        .args([
            "build-file-list",
            "hmdb51",
            s(&data.join("mini/videos")),
            "--format",
            "videos",
            "--annotations",
            s(&hann),
            "--num-split",
            "1",
            "--out-root-path",
            s(&lists),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let train = fs::read_to_string(lists.join("hmdb51/hmdb51_train_split_1_videos.txt")).unwrap();
    assert_eq!(
        train,
        "cartwheel/hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi 0\nwave/RATRACE_wave_f_nm_np1_fr_goo_37.avi 1\n"
    );
    let val = fs::read_to_string(lists.join("hmdb51/hmdb51_val_split_1_videos.txt")).unwrap();
    assert_eq!(val, "wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi 1\n");
}

#[test]
fn featurize_over_extracted_rawframes_matches_the_videos() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let raw = mini_rawframes(&data, dir.path());
    let lists = dir.path().join("data");
    let o = common::vpipe()
        .args([
            "build-file-list",
            "folder",
            s(&raw),
            "--class-ind",
            s(&data.join("mini/classInd.txt")),
            "--val-ratio",
            "0",
            "--name",
            "mini",
        ])
        .args(["--out-root-path", s(&lists)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list = lists.join("mini/mini_train_split_1_rawframes.txt");
    let run = |extra: &[&str], out: &Path| {
        let o = common::vpipe()
            .args(["featurize", "--model", "tsn-r18", "--num-classes", "5", "--num-segments", "4", "--clips", "2", "--out", s(out)])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read_rows(out)
    };
    let from_frames = run(&["--rawframes", "--ann", s(&list), "--root", s(&raw)], &dir.path().join("f.parquet"));
    let from_videos =
        run(&["--ann", s(&data.join("mini/mini_videos.txt")), "--root", s(&data.join("mini/videos"))], &dir.path().join("v.parquet"));
    assert_eq!(from_frames.len(), 16);
    let strip = |rows: &[(String, i32, i32, Vec<f32>)]| {
        let mut v: Vec<(String, i32, i32)> =
            rows.iter().map(|r| (r.0.rsplit_once('.').map_or(r.0.clone(), |x| x.0.to_string()), r.1, r.2)).collect();
        v.sort();
        v
    };
    assert_eq!(strip(&from_frames), strip(&from_videos), "labels and clips per video");
    // Same frames up to JPEG loss: the random-init model's logits agree closely.
    let by_key = |rows: &[(String, i32, i32, Vec<f32>)]| -> BTreeMap<(String, i32), Vec<f32>> {
        rows.iter().map(|r| ((r.0.rsplit_once('.').map_or(r.0.clone(), |x| x.0.to_string()), r.2), r.3.clone())).collect()
    };
    let (a, b) = (by_key(&from_frames), by_key(&from_videos));
    for (k, fa) in &a {
        let fb = &b[k];
        let dot: f32 = fa.iter().zip(fb).map(|(x, y)| x * y).sum();
        let cos = dot / (fa.iter().map(|x| x * x).sum::<f32>().sqrt() * fb.iter().map(|x| x * x).sum::<f32>().sqrt());
        assert!(cos > 0.99, "{k:?}: cosine {cos}");
    }
}

/// (video, label, clip, feature) per row.
fn read_rows(path: &Path) -> Vec<(String, i32, i32, Vec<f32>)> {
    use arrow::array::{Array, FixedSizeListArray, Float32Array, Int32Array, StringArray};
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap()).unwrap();
    let mut rows = Vec::new();
    for batch in b.build().unwrap() {
        let batch = batch.unwrap();
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let video = col("video");
        let video = video.as_any().downcast_ref::<StringArray>().unwrap();
        let label = col("label");
        let label = label.as_any().downcast_ref::<Int32Array>().unwrap();
        let clip = col("clip");
        let clip = clip.as_any().downcast_ref::<Int32Array>().unwrap();
        let feat = col("feature");
        let feat = feat.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        for i in 0..batch.num_rows() {
            let f = feat.value(i);
            let f = f.as_any().downcast_ref::<Float32Array>().unwrap().values().to_vec();
            rows.push((video.value(i).to_string(), label.value(i), clip.value(i), f));
        }
    }
    rows
}
