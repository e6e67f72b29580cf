//! Bad input as users and clusters produce it (issue 11): two writers on one output, truncated
//! files, absurd numbers, bad labels, special files, odd list encodings, bad templates. Each test
//! asserts the message a user reads, and that nothing is lost or silently wrong.

mod common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, Float32Array, ListArray, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run(args: &[&str]) -> Output {
    common::vpipe().args(args).output().unwrap()
}

/// The mini pipeline (tsm_r18_mini.yaml) with its data paths at `data`, edited by `edit`.
fn pipeline(data: &Path, dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let t = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r18_mini.yaml")).unwrap();
    let p = dir.join(name);
    fs::write(&p, edit(t.replace("../shared/data", s(data)))).unwrap();
    p
}

/// Featurize flags over `ann` (videos under the mini root) with the small TSN-R18 model.
fn featurize_args<'a>(data: &'a Path, ann: &'a Path, out: &'a Path) -> Vec<String> {
    let root = data.join("mini/videos");
    ["featurize", "--ann", s(ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--workers", "1", "--out", s(out)]
        .map(String::from)
        .to_vec()
}

/// (video, logits) of every row of a Parquet part, in file order.
fn rows(part: &Path) -> Vec<(String, Vec<f32>)> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(part).unwrap()).unwrap().build().unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let v = b.column_by_name("video").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
        let l = b.column_by_name("logits").unwrap().as_any().downcast_ref::<arrow::array::FixedSizeListArray>().cloned();
        for i in 0..b.num_rows() {
            let logits = match &l {
                Some(l) => l.value(i).as_any().downcast_ref::<Float32Array>().unwrap().values().to_vec(),
                None => {
                    let l = b.column_by_name("logits").unwrap().as_any().downcast_ref::<ListArray>().unwrap().value(i);
                    l.as_any().downcast_ref::<Float32Array>().unwrap().values().to_vec()
                }
            };
            out.push((v.value(i).to_string(), logits));
        }
    }
    out
}

#[test]
fn a_second_featurize_on_the_same_out_fails_at_once_naming_the_first_whose_output_equals_a_lone_run() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ann = common::mini_list_repeated(&data, dir.path(), 3);
    let out = dir.path().join("out");
    let args = featurize_args(&data, &ann, &out);
    let mut first = common::vpipe().args(&args).args(["--commit-every", "2"]).stderr(Stdio::null()).spawn().unwrap();
    // Wait until the first run holds the shard's lock (it writes its name into the lock file).
    let lock = out.join(".part-00000-of-00001.lock");
    let t0 = Instant::now();
    while !fs::read_to_string(&lock).is_ok_and(|t| t.contains(&format!("\"pid\":{}", first.id()))) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the first run never took its lock");
        assert!(first.try_wait().unwrap().is_none(), "the first run ended before the second started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = Instant::now();
    let second = common::vpipe().args(&args).args(["--commit-every", "5", "--batch-size", "2"]).output().unwrap();
    let err = text(&second);
    assert!(!second.status.success(), "{err}");
    assert!(t.elapsed() < Duration::from_secs(20), "the second run must fail at once, not after work");
    assert!(err.contains("is being written by another vpipe run") && err.contains(&format!("pid {}", first.id())), "{err}");
    let shards = run(&["shards", s(&out)]);
    let table = text(&shards);
    if first.try_wait().unwrap().is_none() {
        assert!(table.contains("running") && table.contains("1 running, 0 to run"), "a locked shard is running, not to run: {table}");
        assert!(!table.contains("resubmit"), "{table}");
    }
    assert!(first.wait().unwrap().success());

    let lone = dir.path().join("lone");
    let o = common::vpipe().args(featurize_args(&data, &ann, &lone)).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (a, b) = (rows(&out.join("part-00000-of-00001.parquet")), rows(&lone.join("part-00000-of-00001.parquet")));
    assert_eq!(a.len(), 24);
    assert!(a == b, "the first run's rows equal a lone run's");
    let o = run(&["shards", s(&out)]);
    assert!(text(&o).contains("1 complete, 0 running, 0 to run"), "{}", text(&o));
}

/// Frames the FFmpeg CLI decodes from `video`.
fn ffmpeg_frames(video: &Path) -> usize {
    let o =
        Command::new("ffmpeg").args(["-v", "quiet", "-i", s(video), "-fps_mode", "passthrough", "-f", "framemd5", "-"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.starts_with('#')).count()
}

#[test]
fn a_truncated_avi_is_counted_from_its_packets_with_a_warning_never_as_one_frame() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = data.join("mini/videos/SoccerJuggling/v_SoccerJuggling_g23_c01.avi");
    let bytes = fs::read(&src).unwrap();
    let mut cuts: Vec<(String, usize)> = [10, 50, 90].iter().map(|p| (format!("t{p}.avi"), bytes.len() * p / 100)).collect();
    cuts.push(("t99.avi".into(), 503310)); // the cut: the idx1 index gone, every frame there
    for (name, len) in &cuts {
        let video = dir.path().join(name);
        fs::write(&video, &bytes[..*len]).unwrap();
        let want = ffmpeg_frames(&video);
        assert!(want > 1, "{name}: FFmpeg decodes {want}");
        let o = run(&["probe", "--json", s(&video)]);
        assert!(o.status.success(), "{}", text(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["num_frames"], want, "{name}: probe gives the frames FFmpeg decodes");
        assert_eq!(j["frame_count"], "packet_index");
        assert!(j["count_note"].as_str().unwrap().contains("truncated"), "{name}: {j}");
        let o = run(&["probe", s(&video)]);
        assert!(
            text(&o).contains(&format!("frames      {want} (counted by packet index)")) && text(&o).contains("warning"),
            "{}",
            text(&o)
        );
    }
    assert_eq!(ffmpeg_frames(&dir.path().join("t99.avi")), 240);

    // The pipeline warns and the run summary counts it; the three cuts sample different frames.
    let root = dir.path().join("root/c");
    fs::create_dir_all(&root).unwrap();
    for (name, _) in &cuts {
        fs::rename(dir.path().join(name), root.join(name)).unwrap();
    }
    let ann = dir.path().join("list.txt");
    fs::write(&ann, cuts.iter().map(|(n, _)| format!("c/{n} 0\n")).collect::<String>()).unwrap();
    let out = dir.path().join("o.parquet");
    let root = dir.path().join("root");
    let o = run(&["featurize", "--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--out", s(&out)]);
    let err = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("warning: ") && err.contains("t50.avi: the AVI index lists 1 frame(s)"), "{err}");
    assert!(err.contains("recounted 4"), "{err}");
    let r = rows(&out);
    assert!(r[0].1 != r[1].1 && r[1].1 != r[2].1, "10/50/90% cuts sample different frames");
}

#[test]
fn a_run_whose_every_sample_fails_is_an_error_and_the_corrected_run_needs_no_force() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ann = dir.path().join("missing.txt");
    fs::write(&ann, "no/such_1.avi 0\nno/such_2.avi 1\nno/such_3.avi 2\n").unwrap();
    let out = dir.path().join("out");
    let o = common::vpipe().args(featurize_args(&data, &ann, &out)).args(["--batch-size", "2"]).output().unwrap();
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("every one of the shard's 3 samples failed") && err.contains("no/such_1.avi"), "{err}");
    assert!(err.contains("No such file or directory"), "the first failure's message: {err}");
    assert!(!out.join("part-00000-of-00001.json").exists(), "nothing marked complete");
    assert!(!out.join(".part-00000-of-00001.work").exists(), "no partial run left to refuse the next one");
    // bench says why no clip came through instead of printing 0 clips/s.
    let p = pipeline(&data, dir.path(), "p.yaml", |t| t.replace(&format!("{}/mini/mini_videos.txt", s(&data)), s(&ann)));
    let o = run(&["bench", s(&p), "--no-model"]);
    assert!(!o.status.success() && text(&o).contains("no clip came through in epoch 1: all 3 samples failed"), "{}", text(&o));
    // The corrected list runs without --force.
    fs::write(&ann, fs::read_to_string(data.join("mini/mini_videos.txt")).unwrap()).unwrap();
    let o = common::vpipe().args(featurize_args(&data, &ann, &out)).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn failures_are_counted_per_sample_and_printed_a_bounded_number_of_times() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ann = dir.path().join("list.txt");
    let mut list = fs::read_to_string(data.join("mini/mini_videos.txt")).unwrap();
    for i in 0..60 {
        list.push_str(&format!("gone/v{i}.avi 0\n"));
    }
    fs::write(&ann, list).unwrap();
    let out = dir.path().join("o.parquet");
    let o = common::vpipe().args(featurize_args(&data, &ann, &out)).output().unwrap();
    let err = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("videos ok 8, skipped 0, failed 60"), "{err}");
    // Without a terminal the failures are listed by the summary only, the first 20 of them.
    let printed = err.lines().filter(|l| l.starts_with("FAILED")).count();
    assert_eq!(printed, 20, "FAILED lines for 60 failures: {err}");
    assert!(err.contains("… and 40 more failures"), "{err}");
    let meta = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap().metadata().clone();
    let kv = meta.file_metadata().key_value_metadata().cloned().unwrap_or_default();
    assert!(kv.iter().all(|k| k.key != "vpipe.failures"), "the failure list stays in the errors file");
    assert_eq!(kv.iter().find(|k| k.key == "vpipe.failures_count").and_then(|k| k.value.clone()).as_deref(), Some("60"));
    let errors = ParquetRecordBatchReaderBuilder::try_new(File::open(dir.path().join("o.errors.parquet")).unwrap()).unwrap();
    assert_eq!(errors.metadata().file_metadata().num_rows(), 60);
}

#[test]
fn extract_frames_templates_are_validated_and_nothing_is_written_outside_out() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = data.join("mini/videos");
    let out = dir.path().join("a/b/c/out");
    for (tmpl, want) in [
        ("../../../escape_{:05d}.jpg", "'/' is not allowed"),
        ("{:0100000d}.jpg", "a field 100000 digits wide"),
        ("img_{:05d}.png", "must end in .jpg or .jpeg"),
        ("{}_{:05d}.jpg", "RGB frames take one field"),
    ] {
        let o = run(&["extract-frames", s(&src), s(&out), "--filename-tmpl", tmpl]);
        assert!(!o.status.success() && text(&o).contains(want), "{tmpl}: {}", text(&o));
    }
    for (flags, want) in [
        (&["--new-short", "1000000000"][..], "`--new-short` must be in 1..=16384"),
        (&["--new-width", "100000", "--new-height", "100000"], "`--new-width` must be in 1..=16384"),
        (&["--quality", "0"], "`--quality` must be in 1..=100, got 0"),
        (&["--start-index", "18446744073709551615"], "`--start-index` must be in 0..=1000000"),
        (&["--workers", "0"], "`--workers` must be in 1..=1024, got 0"),
    ] {
        let o = common::vpipe().args(["extract-frames", s(&src), s(&out)]).args(flags).output().unwrap();
        assert!(!o.status.success() && text(&o).contains(want), "{flags:?}: {}", text(&o));
        assert!(!text(&o).contains("memory allocation"), "{}", text(&o));
    }
    let written: Vec<_> = walk(dir.path());
    assert!(written.iter().all(|p| !p.to_string_lossy().contains("escape")), "{written:?}");
    assert!(!out.exists(), "nothing written for a refused template");
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(d).into_iter().flatten().flatten() {
        out.push(e.path());
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

/// `vpipe check` on the mini pipeline edited `from` → `to` (the first occurrence) fails with
/// `want`, for each case, without a panic.
fn check_fails_with(data: &Path, dir: &Path, cases: &[(&str, &str, &str)]) {
    for (i, (from, to, want)) in cases.iter().enumerate() {
        let p = pipeline(data, dir, &format!("case{i}.yaml"), |t| {
            assert!(t.contains(from), "tsm_r18_mini.yaml has {from}");
            t.replacen(from, to, 1)
        });
        let o = run(&["check", s(&p)]);
        assert!(!o.status.success() && text(&o).contains(want), "{to}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
}

#[test]
fn check_refuses_absurd_numbers_naming_the_key() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 15] = [
        ("epochs: 50", "epochs: 0", "`train.epochs` must be in 1..=100000, got 0"),
        ("val_interval: 5", "val_interval: 0", "`train.val_interval` must be ≥ 1, got 0"),
        ("lr: 0.02", "lr: -1", "`train.optimizer.lr` must be a finite number ≥ 0, got -1"),
        ("batch_size: 4\n  val", "batch_size: 1000000000\n  val", "`data.train.batch_size` must be in 1..=4096"),
        ("batch_size: 4\n  val", "batch_size: 4\n    capacity: 4000000000\n  val", "`data.train.capacity` must be in 1..=65536"),
        ("batch_size: 4\n  val", "batch_size: 4\n    workers: 100000\n  val", "`data.train.workers` must be in 1..=1024"),
        ("batch_size: 4\n  val", "batch_size: 4\n    workers: 0\n  val", "`data.train.workers` must be in 1..=1024, got 0"),
        ("batch_size: 4\n  val", "batch_size: 0\n  val", "`data.train.batch_size` must be in 1..=4096, got 0"),
        ("num_classes: 5", "num_classes: 4000000000", "`model.num_classes` must be in 1..=100000"),
        ("num_classes: 5", "num_classes: 0", "`model.num_classes` must be in 1..=100000, got 0"),
        ("dropout: 0.5", "dropout: -1", "`model.dropout` must be in [0, 1), got -1"),
        ("dropout: 0.5", "dropout: 2.0", "`model.dropout` must be in [0, 1), got 2"),
        ("num_segments: 8", "num_segments: 0", "`model.num_segments` must be in 1..=1024, got 0"),
        ("shift_div: 8", "shift_div: 0", "`model.shift_div` must be in 2..=64, got 0"),
        ("batch_size: 4\n  val", "batch_size: '4'\n  val", "is a quoted string where a number is expected"),
    ];
    check_fails_with(&data, dir.path(), &cases);
    let p = pipeline(&data, dir.path(), "tag.yaml", |t| t.replacen("batch_size: 4", "batch_size: !foo 4", 1));
    assert!(text(&run(&["check", s(&p)])).contains("unsupported tag `!foo`"));
}

#[test]
fn featurize_flags_follow_the_yaml_keys_ranges() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ann = data.join("mini/mini_videos.txt");
    let out = dir.path().join("o.parquet");
    let base = featurize_args(&data, &ann, &out);
    for (flag, value, want) in [
        ("--batch-size", "4000000000", "`--batch-size` must be in 1..=4096"),
        ("--batch-size", "0", "`--batch-size` must be in 1..=4096, got 0"),
        ("--capacity", "4000000000", "`--capacity` must be in 1..=65536"),
        ("--capacity", "0", "`--capacity` must be in 1..=65536, got 0"),
        ("--clips", "100000000", "`--clips` must be in 1..=1000"),
        ("--clips", "0", "`--clips` must be in 1..=1000, got 0"),
        ("--num-segments", "1000000", "`model.num_segments` must be in 1..=1024"),
        ("--num-segments", "0", "`model.num_segments` must be in 1..=1024, got 0"),
        ("--num-classes", "4000000000", "`model.num_classes` must be in 1..=100000"),
        ("--num-classes", "0", "`model.num_classes` must be in 1..=100000, got 0"),
    ] {
        let mut args = base.clone();
        if let Some(i) = args.iter().position(|a| a == flag) {
            args.drain(i..i + 2);
        }
        let o = common::vpipe().args(&args).args([flag, value]).output().unwrap();
        assert!(!o.status.success() && text(&o).contains(want), "{flag} {value}: {}", text(&o));
        assert!(!out.exists() && !text(&o).contains("panicked") && !text(&o).contains("memory allocation"));
    }
    let mut args = base.clone();
    let i = args.iter().position(|a| a == "--workers").unwrap();
    args[i + 1] = "100000".into();
    let o = common::vpipe().args(&args).output().unwrap();
    assert!(text(&o).contains("`--workers` must be in 1..=1024"), "{}", text(&o));
}

#[test]
fn labels_outside_the_models_classes_are_named_by_file_and_line() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ann = dir.path().join("bad_labels.txt");
    let good = fs::read_to_string(data.join("mini/mini_videos.txt")).unwrap();
    fs::write(&ann, good.replacen("demo.mp4 3", "demo.mp4 7", 1)).unwrap();
    let line = fs::read_to_string(&ann).unwrap().lines().position(|l| l.ends_with(" 7")).unwrap() + 1;
    let want = format!("{}:{line}: label 7 is outside 0..5", ann.display());
    let p = pipeline(&data, dir.path(), "p.yaml", |t| t.replace(&format!("{}/mini/mini_videos.txt", s(&data)), s(&ann)));
    let work = dir.path().join("w");
    for args in [vec!["check", s(&p)], vec!["run", s(&p), "--work-dir", s(&work)]] {
        let o = run(&args);
        assert!(!o.status.success() && text(&o).contains(&want), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("panicked") && !text(&o).contains("out of bounds"), "{}", text(&o));
    }
    fs::write(&ann, good.replacen("demo.mp4 3", "demo.mp4 -2", 1)).unwrap();
    let out = dir.path().join("o.parquet");
    let o = common::vpipe().args(featurize_args(&data, &ann, &out)).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("label -2 is outside 0..5"), "{}", text(&o));
    assert!(!out.exists());

    // eval: a label the logits cannot score.
    let bad = dir.path().join("bad.parquet");
    write_preds(&bad, &[("a.mp4", 0, vec![1.0, 0.0, 0.0, 0.0, 0.0]), ("b.mp4", 9, vec![0.0, 1.0, 0.0, 0.0, 0.0])]);
    let o = run(&["eval", s(&bad)]);
    assert!(!o.status.success() && text(&o).contains("video b.mp4: label 9 is outside the 5 classes its logits score"), "{}", text(&o));
}

/// A featurize-schema Parquet file of (video, label, logits) rows, clip 0 each.
fn write_preds(path: &Path, rows: &[(&str, i32, Vec<f32>)]) {
    let mut sink = vpipe::sink::ParquetSink::new(path, vec![]);
    for (v, l, logits) in rows {
        sink.push(vpipe::sink::ClipRow { video: v.to_string(), labels: vec![*l], clip: 0, logits: logits.clone(), feature: None }).unwrap();
    }
    sink.finish(vec![]).unwrap();
}

#[test]
fn check_probes_what_every_sample_would_hit() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 5] = [
        ("std: [58.395, 57.12, 57.375]", "std: [0, 0, 0]", "Normalize: std must not be 0"),
        ("mean: [123.675, 116.28, 103.53]", "mean: [123.675, 116.28]", "Normalize: RGB frames need 3 mean and std values"),
        ("mean: [123.675, 116.28, 103.53]", "mean: []", "Normalize: RGB frames need 3 mean and std values"),
        ("{type: CenterCrop, crop_size: 64}", "{type: CenterCrop, crop_size: 400}", "CenterCrop 400x400 is larger than the"),
        (
            "{type: Resize, scale: [-1, 80]}\n      - {type: MultiScaleCrop, input_size: 64, scales: [1, 0.875, 0.75, 0.66]",
            "{type: Resize, scale: [-1, 1]}\n      - {type: MultiScaleCrop, input_size: 64, scales: [0.5]",
            "MultiScaleCrop: empty crop box (0x0 pixels) from a 1x1 frame",
        ),
    ];
    check_fails_with(&data, dir.path(), &cases);
    // An empty list: nothing to train on, nothing to validate.
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, "").unwrap();
    let p = pipeline(&data, dir.path(), "empty.yaml", |t| t.replace(&format!("{}/mini/mini_videos.txt", s(&data)), s(&empty)));
    let o = run(&["check", s(&p)]);
    assert!(!o.status.success() && text(&o).contains("lists no samples"), "{}", text(&o));
    let o = run(&["run", s(&p), "--work-dir", s(&dir.path().join("w"))]);
    assert!(!o.status.success() && text(&o).contains("lists no samples"), "{}", text(&o));
    assert!(!dir.path().join("w").exists(), "no best checkpoint for an empty validation");
    // The good pipeline probes each split to the model's input shape.
    let p = pipeline(&data, dir.path(), "good.yaml", |t| t);
    let o = run(&["check", s(&p)]);
    assert!(
        o.status.success() && text(&o).contains("data.val: first sample SoccerJuggling/v_SoccerJuggling_g23_c01.avi → NCHW [8, 3, 64, 64]"),
        "{}",
        text(&o)
    );
}

#[test]
fn special_files_are_refused_per_video_and_never_block() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root/c");
    fs::create_dir_all(&root).unwrap();
    let fifo = root.join("fifo.avi");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::os::unix::fs::symlink(data.join("mini/videos/SoccerJuggling/v_SoccerJuggling_g23_c01.avi"), root.join("ok.avi")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("zero.avi")).unwrap();
    let ann = dir.path().join("list.txt");
    fs::write(&ann, "c/fifo.avi 0\nc/ok.avi 0\nc/zero.avi 0\n").unwrap();
    let out = dir.path().join("o.parquet");
    let root = dir.path().join("root");
    let t = Instant::now();
    let o = run(&["featurize", "--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--out", s(&out)]);
    let err = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(t.elapsed() < Duration::from_secs(120));
    assert!(err.contains("fifo.avi [prepare]: decode: not a regular file but a FIFO (named pipe)"), "{err}");
    assert!(err.contains("zero.avi [prepare]: decode: not a regular file but a character device"), "{err}");
    assert_eq!(rows(&out).len(), 1);

    let o = run(&["probe", s(&fifo)]);
    assert!(!o.status.success() && text(&o).contains("FIFO"), "{}", text(&o));
    // /dev/zero as the list: named as what it is, never read.
    let p = pipeline(&data, dir.path(), "zero.yaml", |t| t.replace(&format!("{}/mini/mini_videos.txt", s(&data)), "/dev/zero"));
    let o = run(&["check", s(&p)]);
    assert!(!o.status.success() && text(&o).contains("/dev/zero: not a regular file but a character device"), "{}", text(&o));
    let o = run(&["inspect", s(&p)]);
    assert!(!o.status.success() && text(&o).contains("not a regular file but a character device"), "{}", text(&o));
}

#[test]
fn lists_with_a_bom_and_non_utf8_paths_are_read() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(&root).unwrap();
    use std::os::unix::ffi::OsStrExt;
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.avi");
    std::os::unix::fs::symlink(data.join("mini/videos/SoccerJuggling/v_SoccerJuggling_g23_c01.avi"), root.join(latin1)).unwrap();
    std::os::unix::fs::symlink(data.join("mini/videos/arm_wrestling/demo.mp4"), root.join("demo.mp4")).unwrap();
    let ann = dir.path().join("list.txt");
    fs::write(&ann, [b"\xEF\xBB\xBFdemo.mp4 3\r\n".as_slice(), b"caf\xe9.avi 0\r\n"].concat()).unwrap();
    let out = dir.path().join("o.parquet");
    let o = run(&["featurize", "--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--out", s(&out)]);
    assert!(o.status.success() && text(&o).contains("failed 0"), "{}", text(&o));
    let videos: Vec<String> = rows(&out).into_iter().map(|(v, _)| v).collect();
    assert_eq!(videos, ["demo.mp4", "caf\u{FFFD}.avi"]);
    // A label column that is not text names its line.
    fs::write(&ann, b"demo.mp4 3\ndemo.mp4 \xff\n").unwrap();
    let o = run(&["featurize", "--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--out", s(&out)]);
    assert!(!o.status.success() && text(&o).contains(&format!("{}:2: column 2 is not UTF-8", ann.display())), "{}", text(&o));
}

#[test]
fn sigterm_stops_extract_frames_with_75_and_a_message() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = common::long_clips(&data, dir.path());
    let out = dir.path().join("out");
    let mut child = common::vpipe()
        .args(["extract-frames", s(&src), s(&out), "--level", "1", "--workers", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !out.exists() || fs::read_dir(&out).unwrap().count() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(60) && child.try_wait().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(75), "{err}");
    assert!(err.contains("stopped by SIGINT/SIGTERM") && err.contains("run the same command again to resume"), "{err}");
    // The re-run completes.
    let o = run(&["extract-frames", s(&src), s(&out), "--level", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read_to_string(out.join("build_report.txt")).unwrap().lines().count(), 4);
}

#[test]
fn an_unreadable_weights_file_gives_one_message_not_a_cpp_backtrace() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.parquet");
    let ann = data.join("mini/mini_videos.txt");
    let o = common::vpipe().args(featurize_args(&data, &ann, &out)).args(["--weights", "/etc/passwd"]).output().unwrap();
    let err = text(&o);
    assert!(!o.status.success() && err.contains("loading weights /etc/passwd"), "{err}");
    assert!(!err.contains("frame #") && !err.contains("Exception raised from"), "{err}");
    assert!(err.lines().count() <= 4, "{err}");
}

#[test]
fn a_second_training_in_one_work_dir_fails_naming_the_first() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&data, dir.path(), "p.yaml", |t| t);
    let work = dir.path().join("w");
    fs::create_dir_all(&work).unwrap();
    // Hold the work dir's lock as a running `vpipe run` would.
    let _held = vpipe::sink::OutputLock::acquire(&work.join(".vpipe.lock"), "test").unwrap();
    let o = run(&["run", s(&p), "--work-dir", s(&work)]);
    let err = text(&o);
    assert!(!o.status.success() && err.contains(&format!("is being written by another vpipe run: pid {}", std::process::id())), "{err}");
    assert!(!work.join("log.jsonl").exists(), "the second run wrote nothing");
}

#[test]
fn extract_frames_runs_exclude_each_other_by_shard_and_by_folder() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (data.join("mini/videos"), dir.path().join("out"));
    // As a running `--shard 1/2` holds them: OUT's lock shared, its shard's exclusively.
    let folder = vpipe::sink::OutputLock::acquire_shared(&dir.path().join("out.extract-frames.lock"), "out").unwrap();
    let shard = vpipe::sink::OutputLock::acquire(&dir.path().join("out.extract-frames-00001-of-00002.lock"), "shard").unwrap();
    let o = run(&["extract-frames", s(&src), s(&out)]);
    assert!(!o.status.success() && text(&o).contains("is being written by another vpipe run"), "{}", text(&o));
    let o = run(&["extract-frames", s(&src), s(&out), "--shard", "1/2"]);
    assert!(!o.status.success() && text(&o).contains(&format!("pid {}", std::process::id())), "{}", text(&o));
    let o = run(&["extract-frames", s(&src), s(&out), "--shard", "0/2"]);
    assert!(o.status.success(), "another shard runs beside it: {}", text(&o));
    drop((folder, shard));
    let o = run(&["extract-frames", s(&src), s(&out)]);
    assert!(o.status.success() && text(&o).contains("skipped 4"), "{}", text(&o));
}

#[test]
fn median_segments_with_absurd_numbers_name_their_line() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("segments.txt");
    fs::write(&seg, "imgs 1 5 0\nimgs 18446744073709551610 100 0\n").unwrap();
    let (src, out) = (data.join("mmaction2"), dir.path().join("med"));
    let o = run(&["median", s(&src), s(&out), "--segments", s(&seg), "--filename-tmpl", "img_{:05d}.jpg"]);
    assert!(
        !o.status.success() && text(&o).contains(&format!("{}:2: a segment of 100 frames from frame 18446744073709551610", seg.display())),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    let o = run(&["median", s(&src), s(&out), "--quality", "0"]);
    assert!(!o.status.success() && text(&o).contains("`--quality` must be in 1..=100, got 0"), "{}", text(&o));
}
