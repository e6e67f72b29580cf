//! `vpipe check`, `vpipe inspect` and `vpipe bench` on the mini TSM pipeline: test-mode indices equal semantics
//! §3 for the mini frame counts, train indices fall in their segments, `--dump` writes what the
//! model sees.

mod common;

use std::path::{Path, PathBuf};

/// tsm_r18_mini.yaml with its data paths pointed at the test data folder.
fn mini_pipeline(data: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r18_mini.yaml")).unwrap();
    let p = dir.join("tsm_mini.yaml");
    std::fs::write(&p, text.replace("../shared/data", data.to_str().unwrap())).unwrap();
    p
}

/// The `frame_inds: [...]` lines of inspect's output.
fn frame_inds(stdout: &str) -> Vec<Vec<i64>> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("frame_inds: "))
        .map(|l| l.trim_matches(['[', ']']).split(", ").map(|x| x.parse().unwrap()).collect())
        .collect()
}

#[test]
fn inspect_val_prints_semantics_indices_and_train_stays_in_segments() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = mini_pipeline(&data, dir.path());
    let o = common::vpipe().arg("check").arg(&yaml).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("data.train: 8 samples"));

    let o = common::vpipe().arg("inspect").arg(&yaml).args(["--split", "val", "--limit", "3"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 0.x test mode, K = 8, L = 1, start_index 0, for N = 240, 251, 72.
    assert_eq!(
        frame_inds(&out),
        vec![vec![15, 45, 75, 105, 135, 165, 195, 225], vec![15, 47, 78, 109, 141, 172, 203, 235], vec![4, 13, 22, 31, 40, 49, 58, 67]]
    );
    assert!(out.contains("output NCHW [8, 3, 64, 64]"), "{out}");

    let dump = dir.path().join("dump");
    let o = common::vpipe().arg("inspect").arg(&yaml).args(["--limit", "3", "--epoch", "2", "--dump"]).arg(&dump).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (inds, n) in frame_inds(&out).iter().zip([240i64, 251, 72]) {
        let seg = n / 8; // T1: clip k in [k·a, k·a + a)
        for (k, &x) in inds.iter().enumerate() {
            assert!((k as i64 * seg..(k as i64 + 1) * seg).contains(&x), "N={n} clip {k}: {x}");
        }
    }
    assert_eq!(out.matches("MultiScaleCrop: x").count(), 3);
    assert_eq!(out.matches("Flip: ").count(), 3);
    let folders: Vec<_> = std::fs::read_dir(&dump).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 3);
    for f in folders {
        let pngs: Vec<_> = std::fs::read_dir(&f).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(pngs.len(), 8);
        let bytes = std::fs::read(&pngs[0]).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // IHDR width and height: 64 x 64.
        assert_eq!(
            (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap())),
            (64, 64)
        );
    }
}

#[test]
fn check_names_the_line_of_a_misspelled_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r50_ucf101.yaml")).unwrap();
    let bad = text.replace("{type: CenterCrop, crop_size: 224}", "{type: CenterCrop, crop_sise: 224}");
    let line = bad.lines().position(|l| l.contains("crop_sise")).unwrap() + 1;
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, bad).unwrap();
    let o = common::vpipe().arg("check").arg(&p).arg("--syntax-only").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("bad.yaml") && err.contains(&format!("line {line}")) && err.contains("crop_sise") && err.contains("crop_size"),
        "{err}"
    );
    let o = common::vpipe()
        .args(["check", "--syntax-only"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r50_ucf101.yaml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Problems knowable before the first sample fail `vpipe check` with the pipeline file's line
/// (issue 7): an absurd `num_clips` (which once aborted `inspect` with a failed allocation) and a
/// `BackgroundBlend` whose background list is missing. No command aborts on them.
#[test]
fn check_names_file_and_line_for_absurd_sizes_and_missing_background_lists() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r18_mini_tmf.yaml")).unwrap();
    // An absurd clip count, and an absurd crop size (a typo for 64).
    for (from, to, shown) in
        [("num_clips: 8}", "num_clips: 99999999999}", "99999999999"), ("input_size: 64,", "input_size: 640000,", "input_size must be")]
    {
        let bad = text.replacen(from, to, 1);
        let line = bad.lines().position(|l| l.contains(to)).unwrap() + 1;
        let p = dir.path().join("absurd.yaml");
        std::fs::write(&p, &bad).unwrap();
        for cmd in [&["check", "--syntax-only"][..], &["inspect"], &["bench", "--no-model"]] {
            let o = common::vpipe().args(cmd).arg(&p).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{cmd:?} must fail cleanly, not abort: {err}");
            assert!(err.contains(&format!("absurd.yaml:{line}: in `data.train.pipeline`")) && err.contains(shown), "{cmd:?}: {err}");
        }
    }

    let Some(data) = common::data_dir() else { return };
    let missing = dir.path().join("no_such_list.txt");
    let bad = text
        .replace("../shared/data", data.to_str().unwrap())
        .replace(&format!("ann_files: [{}/mini/mini_videos.txt]", data.display()), &format!("ann_files: [{}]", missing.display()));
    let line = bad.lines().position(|l| l.contains("type: BackgroundBlend")).unwrap() + 1;
    let p = dir.path().join("blend.yaml");
    std::fs::write(&p, &bad).unwrap();
    let o = common::vpipe().arg("check").arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains(&format!("blend.yaml:{line}: in `data.train.pipeline`")) && err.contains("no_such_list.txt"), "{err}");
}

/// `resize_in_decoder: true` resizes in the decoder's swscale call (inspect says so) and the
/// pipeline's frames keep the sizes of the usual Resize; the key needs Resize as the first step.
#[test]
fn resize_in_decoder_is_shown_by_inspect_and_needs_resize_first() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(mini_pipeline(&data, dir.path())).unwrap();
    let fused = dir.path().join("fused.yaml");
    std::fs::write(&fused, text.replace("{type: DecordDecode}", "{type: DecordDecode, resize_in_decoder: true}")).unwrap();
    let o = common::vpipe().arg("inspect").arg(&fused).args(["--split", "val", "--limit", "2"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(out.matches("in the decoder's swscale call (flags=bilinear)").count(), 2, "{out}");
    // SoccerJuggling 320x240 → Resize(-1, 80) gives 107x80, then the 64² centre crop.
    assert!(out.contains("Resize: 107x80 in the decoder's swscale call"), "{out}");
    assert!(out.contains("CenterCrop: x 21 y 8 w 64 h 64"), "{out}");
    let misplaced = dir.path().join("misplaced.yaml");
    let text = text.replace("{type: DecordDecode}", "{type: DecordDecode, resize_in_decoder: true}");
    std::fs::write(
        &misplaced,
        text.replacen(
            "      - {type: Resize, scale: [-1, 80]}\n      - {type: CenterCrop, crop_size: 64}",
            "      - {type: CenterCrop, crop_size: 64}",
            1,
        ),
    )
    .unwrap();
    let o = common::vpipe().arg("check").arg(&misplaced).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("resize_in_decoder: true needs Resize as the first frame step"), "{err}");
}

/// `vpipe bench` runs the loader for real and reports, as JSON, what the issue asks for: clips/s,
/// frames decoded per frame kept, per-stage busy/starved/blocked time, peak RSS, bottleneck.
#[test]
fn bench_reports_stages_and_the_bottleneck_as_json() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = mini_pipeline(&data, dir.path());
    let o = common::vpipe().args(["bench", "--no-model", "--json", "--workers", "2"]).arg(&yaml).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!((j["ok"].as_u64(), j["outputs"].as_u64(), j["failed"].as_u64()), (Some(8), Some(8), Some(0)));
    assert!(j["rate_per_s"].as_f64().unwrap() > 0.0 && j["peak_rss_bytes"].as_u64().unwrap() > 0);
    // 8 videos × 8 frames kept; more decoded (GOP spans, no-pts AVIs counted by decoding).
    assert_eq!(j["frames_kept"].as_u64(), Some(64));
    assert!(j["decoded_per_kept"].as_f64().unwrap() >= 1.0);
    assert_eq!(j["index_mismatches"].as_u64(), Some(0), "every mini video's decoder agrees with its packet index");
    let stages: Vec<&str> = j["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(stages, ["source", "prepare", "decode", "transform", "batch", "collate", "count"]);
    let prepare = &j["stages"][1];
    assert_eq!((prepare["items"].as_u64(), prepare["workers"].as_u64()), (Some(8), Some(2)));
    assert!(prepare["busy_s"].as_f64().unwrap() > 0.0);
    assert_eq!(j["bottleneck"], "prepare", "without the model the loader is the bottleneck");
}

/// Without a terminal (a Slurm log), a long command prints progress lines (items, rate, ETA)
/// every VPIPE_PROGRESS_SECS; `vpipe bench --limit N` loads only the first N samples (issue 13).
#[test]
fn without_a_terminal_bench_prints_progress_lines_and_limit_bounds_the_samples() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = mini_pipeline(&data, dir.path());
    let o = common::vpipe()
        .args(["bench", "--no-model", "--json", "--workers", "1", "--limit", "3"])
        .arg(&yaml)
        .env("VPIPE_PROGRESS_SECS", "0.001")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(j["outputs"].as_u64(), Some(3), "--limit 3");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("loader: ") && l.contains("/3 clips (")).collect();
    assert!(!lines.is_empty() && lines.iter().all(|l| l.contains("clips/s") && l.contains("ETA")), "{err}");
    let o = common::vpipe().args(["bench", "--no-model", "--limit", "0"]).arg(&yaml).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--limit 0"));
}

/// With the model (a TSM-R18 training step per batch) on a machine without a GPU, `--device auto`
/// says it is on the CPU and why, and the model is the bottleneck (issues 7 and 8).
#[test]
fn bench_with_the_model_on_the_cpu_says_why_and_names_the_model_the_bottleneck() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = mini_pipeline(&data, dir.path());
    let o = common::vpipe().args(["bench", "--json", "--workers", "2", "--device", "auto"]).arg(&yaml).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    if j["device"] != "cpu" {
        println!("a GPU is present ({}): the CPU fallback is not exercised here", j["device"]);
        return;
    }
    let note = j["device_note"].as_str().expect("a reason for the CPU");
    assert!(err.contains(&format!("device: cpu ({note})")), "{err}");
    assert!(note.contains("libcuda.so.1") || note.contains("libtorch_cuda.so") || note.contains("no CUDA device"), "{note}");
    assert_eq!(j["bottleneck"], "model", "a CPU training step outweighs loading: {j}");
    // The upload stage (issue 8) sits between collate and the model and counts what it copies:
    // 8 clips × 8 segments × 3 × 64² float32 values (normalised on the CPU).
    let upload = j["stages"].as_array().unwrap().iter().find(|s| s["name"] == "upload").expect("an upload stage");
    assert_eq!(upload["bytes"].as_u64(), Some(8 * 8 * 3 * 64 * 64 * 4), "{upload}");
    assert!(upload["gb_per_s"].as_f64().unwrap() > 0.0, "{upload}");
}

/// Memory is bounded by the engine's window, not by the list: a training epoch over the mini
/// list repeated ten times peaks within 10% of the same epoch over the list once (issue 7).
#[test]
fn training_epoch_peak_rss_stays_flat_when_the_list_grows_tenfold() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let peak = |copies: usize| -> (u64, u64, u64) {
        let ann = common::mini_list_repeated(&data, dir.path(), copies);
        let text = std::fs::read_to_string(mini_pipeline(&data, dir.path())).unwrap();
        let yaml = dir.path().join(format!("p{copies}.yaml"));
        let mini_list = data.join("mini/mini_videos.txt");
        std::fs::write(&yaml, text.replace(mini_list.to_str().unwrap(), ann.to_str().unwrap())).unwrap();
        let o = common::vpipe().args(["bench", "--json", "--workers", "2"]).arg(&yaml).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (j["outputs"].as_u64().unwrap(), j["peak_rss_bytes"].as_u64().unwrap(), j["frame_buffers_allocated"].as_u64().unwrap())
    };
    let (n1, rss1, fresh1) = peak(1);
    let (n10, rss10, fresh10) = peak(10);
    assert_eq!((n1, n10), (8, 80));
    // Frame buffers are recycled: ten times the samples do not allocate ten times the buffers.
    assert!(fresh10 < 2 * fresh1, "{fresh10} frame buffers allocated for 80 clips vs {fresh1} for 8");
    assert!((rss10 as f64) < 1.1 * rss1 as f64, "peak RSS {} MiB for 80 clips vs {} MiB for 8", rss10 >> 20, rss1 >> 20);
}
