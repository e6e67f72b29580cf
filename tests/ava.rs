//! SEVERE's AVA detection path end to end on the AVA-format mini set (scripts/make_ava_mini.sh
//! from real clips, hand-drawn boxes in pipelines/ava_mini/): `vpipe check`, `vpipe inspect`'s
//! keyframes and boxes, `vpipe run --test-last` writing AVA's detections and ground-truth CSVs
//! with the mAP, and `vpipe eval` scoring those CSVs.

mod common;

use std::path::{Path, PathBuf};

/// The mini set made into `dir/ava_mini` and `pipelines/ava_r2plus1d_r18_mini.yaml` pointed at
/// it (1 epoch), written into `dir`.
fn mini(data: &Path, dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join("ava_mini");
    let st = std::process::Command::new(root.join("scripts/make_ava_mini.sh"))
        .arg(&out)
        .env("VPIPE_TEST_DATA", data)
        .env("VPIPE", env!("CARGO_BIN_EXE_vpipe"))
        .current_dir(root)
        .status()
        .unwrap();
    assert!(st.success(), "make_ava_mini.sh failed");
    // `extract-frames --fps 30` repeats 2 frames a second of the 28-fps clip, as `ffmpeg -r 30`
    // (tests/decode_parity.rs checks the pixels): 280 frames become 300.
    let demo = std::fs::read_dir(out.join("frames/demo"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("demo_"))
        .count();
    assert_eq!(demo, 300);
    let text = std::fs::read_to_string(root.join("pipelines/ava_r2plus1d_r18_mini.yaml")).unwrap();
    let text = text
        .replace("out/ava_mini", out.to_str().unwrap())
        .replace("pipelines/ava_mini", root.join("pipelines/ava_mini").to_str().unwrap())
        .replace("epochs: 2", "epochs: 1");
    let p = dir.join("ava_mini.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn ok(o: std::process::Output) -> String {
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    out
}

#[test]
fn ava_mini_checks_inspects_trains_tests_and_evaluates() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = mini(&data, dir.path());
    ok(common::vpipe().arg("check").arg(&yaml).output().unwrap());

    // The first keyframe: second 902 of the segway clip, clip of 8 frames every 4 around frame 60
    // (files 45…73), boxes after the drawn scale, crop and flip.
    let shown = ok(common::vpipe().args(["inspect"]).arg(&yaml).args(["--limit", "1"]).output().unwrap());
    assert!(shown.contains("[0] R6llTwEh07w,0902"), "{shown}");
    assert!(shown.contains("frame_inds: [45, 49, 53, 57, 61, 65, 69, 73]"), "{shown}");
    assert!(shown.contains("keyframe R6llTwEh07w second 902 centre frame 60"), "{shown}");
    let line = shown.lines().find(|l| l.contains("box 0:")).unwrap();
    let nums = |prefix: &str| -> Vec<f64> {
        let t = shown.lines().find(|l| l.trim_start().starts_with(prefix)).unwrap();
        t.split([' ', ',', '[', ']']).filter_map(|w| w.parse().ok()).collect()
    };
    let short = nums("ShortSideScaleJitter")[0];
    let crop = nums("RandomCrop");
    let flipped = !shown.contains("Flip: no");
    // By hand: 340×256 frames; long side floor(340/256·s); boxes × (new long / 340), shifted by
    // the crop, clipped to 0..=111, mirrored as x' = 112 − x − 1.
    let f = (340.0 / 256.0 * short).floor() / 340.0;
    let clip = |v: f64| v.clamp(0.0, 111.0);
    let (x1, y1, x2, y2) = (
        clip(0.43 * 340.0 * f - crop[0]),
        clip(0.17 * 256.0 * f - crop[1]),
        clip(0.85 * 340.0 * f - crop[0]),
        clip(0.8 * 256.0 * f - crop[1]),
    );
    let want = if flipped { [111.0 - x2, y1, 111.0 - x1, y2] } else { [x1, y1, x2, y2] };
    let got: Vec<f64> = line.split('[').nth(1).unwrap().split(']').next().unwrap().split(", ").map(|v| v.parse().unwrap()).collect();
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 0.006, "{line} vs {want:?}");
    }

    let work = dir.path().join("work");
    ok(common::vpipe().arg("run").arg(&yaml).arg("--test-last").arg("--work-dir").arg(&work).output().unwrap());
    let log = std::fs::read_to_string(work.join("log.jsonl")).unwrap();
    let test: serde_json::Value =
        log.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|r| r["mode"] == "test").unwrap();
    let map = test["mAP"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&map), "{test}");
    // Test keyframes: 7 seconds × 2 videos; person boxes above 0.9: 1 (segway) and 2 (demo) per
    // second; demo,0908 is excluded; 60 evaluated classes per box.
    let dets = std::fs::read_to_string(work.join("detections.csv")).unwrap();
    assert_eq!(dets.lines().count(), (7 + 2 * 6) * 60);
    assert!(!dets.contains("demo,0908"));
    let first: Vec<&str> = dets.lines().next().unwrap().split(',').collect();
    assert_eq!(&first[..6], ["R6llTwEh07w", "0902", "0.444", "0.180", "0.847", "0.790"], "original person box, AVA's %.03f");
    let gt = std::fs::read_to_string(work.join("groundtruth.csv")).unwrap();
    assert_eq!(gt.lines().count(), 43 - 4, "the 43 drawn (box, action) rows but demo,0908's 4");

    // vpipe eval on the written CSVs: the files' rounding (%.03f boxes, %.04f scores) moves the
    // mAP a little at most.
    let args = ["--label-map", "pipelines/ava_mini/ava_action_list_v2.2_for_activitynet_2019.pbtxt", "--json"];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = ok(common::vpipe()
        .arg("eval")
        .arg(work.join("detections.csv"))
        .arg("--groundtruth")
        .arg(work.join("groundtruth.csv"))
        .args(args)
        .current_dir(root)
        .output()
        .unwrap());
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let from_files = j["PascalBoxes_Precision/mAP@0.5IOU"].as_f64().unwrap();
    assert!((from_files - map).abs() < 0.05, "{from_files} vs {map}");
    assert!(j.as_object().unwrap().keys().any(|k| k.ends_with("/ride (e.g., a bike, a car, a horse)")), "{j}");
}

/// PySlowFast's Charades path on the mini set's real frames: a frame list with per-frame labels,
/// training labels the union over the sampled clip's span, 10 test views × 3 crops aggregated by
/// the maximum, and the run's test mAP.
#[test]
fn charades_frame_lists_train_on_clip_span_labels_and_test_thirty_views() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    mini(&data, dir.path());
    let frames = dir.path().join("ava_mini/frames");
    // Segway clip: class 2 on frames 0–99, 5 on 100–299; demo: class 7 throughout.
    let mut list = String::from("original_vido_id video_id frame_id path labels\n");
    for (v, (vid, n)) in [("R6llTwEh07w", 303), ("demo", 300)].into_iter().enumerate() {
        for f in 0..n {
            let labels = match (vid, f) {
                ("demo", _) => "7",
                (_, f) if f < 100 => "2",
                _ => "5",
            };
            list += &format!("{vid} {v} {f} {vid}/{vid}_{:06}.jpg \"{labels}\"\n", f + 1);
        }
    }
    std::fs::write(dir.path().join("charades.csv"), list).unwrap();
    let source = |mode: &str| {
        format!(
            "{{type: CharadesFrameList, frame_dir: {}, frame_list: {}, num_classes: 8, mode: {mode}, filename_tmpl: '{{video}}_{{:06d}}.jpg'}}",
            frames.display(),
            dir.path().join("charades.csv").display()
        )
    };
    let norm = "{type: Normalize, mean: [114.75, 114.75, 114.75], std: [57.375, 57.375, 57.375], to_bgr: false}";
    let yaml = format!(
        "seed: 0\ndata:\n  train:\n    source: {}\n    pipeline:\n      - {{type: PySlowFastSampleFrames, clip_len: 4, frame_interval: 8}}\n      - {{type: RawFrameDecode}}\n      - {{type: ShortSideScaleJitter, min_size: 64, max_size: 80}}\n      - {{type: RandomCrop, size: 56}}\n      - {{type: Flip, flip_ratio: 0.5}}\n      - {norm}\n      - {{type: FormatShape, input_format: NCTHW}}\n    batch_size: 2\n  test:\n    source: {}\n    pipeline:\n      - {{type: PySlowFastSampleFrames, clip_len: 4, frame_interval: 8, num_clips: 10, test_mode: true}}\n      - {{type: RawFrameDecode}}\n      - {{type: ShortSideScaleJitter, min_size: 56, max_size: 56}}\n      - {{type: UniformCrop, size: 56, spatial_idx: [0, 1, 2]}}\n      - {norm}\n      - {{type: FormatShape, input_format: NCTHW}}\n    batch_size: 1\nmodel: {{type: R2Plus1D, depth: 18, num_classes: 8, loss: BCELossWithLogits, average_clips: sigmoid_max}}\ntrain: {{epochs: 1, optimizer: {{type: SGD, lr: 0.01, momentum: 0.9}}}}\n",
        source("train"),
        source("test")
    );
    let p = dir.path().join("charades.yaml");
    std::fs::write(&p, yaml).unwrap();
    // Training labels follow the clip: over a few epochs the segway clip's spans cover class 2
    // only, 5 only, and both.
    let mut seen = std::collections::BTreeSet::new();
    for epoch in 0..12 {
        let shown = ok(common::vpipe().arg("inspect").arg(&p).args(["--limit", "1", "--epoch", &epoch.to_string()]).output().unwrap());
        assert!(shown.contains("labels [2, 5]"), "the video's labels: {shown}");
        let inds: Vec<i64> = shown
            .lines()
            .find(|l| l.contains("frame_inds"))
            .unwrap()
            .split(['[', ']', ','])
            .filter_map(|t| t.trim().parse().ok())
            .collect();
        let span = shown.lines().find(|l| l.contains("sampled frames' span")).unwrap();
        let (first, last) = (inds[0] - 1, inds[3] - 1); // 0-based frames
        let want = match (first < 100, last < 100) {
            (true, true) => "[2]",
            (false, false) => "[5]",
            _ => "[2, 5]",
        };
        assert!(span.ends_with(want), "frames {first}..={last}: {span}");
        seen.insert(want);
    }
    assert!(seen.len() >= 2, "{seen:?}");
    let test = ok(common::vpipe().arg("inspect").arg(&p).args(["--split", "test", "--limit", "1"]).output().unwrap());
    assert!(test.contains("(crops 3, clips 10, clip_len 4)") && !test.contains("sampled frames' span"), "{test}");
    let work = dir.path().join("work");
    ok(common::vpipe().arg("run").arg(&p).arg("--test-last").arg("--work-dir").arg(&work).output().unwrap());
    let log = std::fs::read_to_string(work.join("log.jsonl")).unwrap();
    let rec: serde_json::Value =
        log.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|r| r["mode"] == "test").unwrap();
    assert!((0.0..=1.0).contains(&rec["mAP"].as_f64().unwrap()), "{rec}");
}
