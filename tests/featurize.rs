//! `vpipe featurize` end to end on the real mini dataset: rows, labels, schema, failures,
//! determinism across worker counts, the in-flight bound under a slow consumer, and shards
//! killed (SIGKILL at exact points, SIGTERM) and resumed.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{Array, FixedSizeListArray, Float32Array, Int32Array, StringArray};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use vpipe::graph::pipeline::DataPipeline;
use vpipe::graph::{Graph, Settings, StageMetrics};
use vpipe::source::read_video_list;

fn read(path: &Path) -> (RecordBatch, Vec<(String, String)>) {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let kv = b.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    let kv = kv.into_iter().map(|k| (k.key, k.value.unwrap_or_default())).collect();
    let batches: Vec<RecordBatch> = b.build().unwrap().map(|r| r.unwrap()).collect();
    (arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap(), kv)
}

fn featurize(args: &[&str]) -> std::process::Output {
    common::vpipe().arg("featurize").args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn mini_tsm_r50_writes_one_row_per_video_with_2048_finite_features() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mini.parquet");
    let ann = data.join("mini/mini_videos.txt");
    let o = featurize(&[
        "--ann",
        s(&ann),
        "--root",
        s(&data.join("mini/videos")),
        "--model",
        "tsm-r50",
        "--num-classes",
        "5",
        "--clips",
        "1",
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (batch, kv) = read(&out);
    assert_eq!(batch.num_rows(), 8);
    let videos = batch.column_by_name("video").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let labels = batch.column_by_name("label").unwrap().as_any().downcast_ref::<Int32Array>().unwrap();
    let list = std::fs::read_to_string(&ann).unwrap();
    for (i, line) in list.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let mut p = line.split_whitespace();
        assert_eq!(videos.value(i), p.next().unwrap());
        assert_eq!(labels.value(i), p.next().unwrap().parse::<i32>().unwrap());
    }
    let feats = batch.column_by_name("feature").unwrap().as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    assert_eq!(feats.value_length(), 2048);
    let vals = feats.values().as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(vals.len(), 8 * 2048);
    assert!(vals.values().iter().all(|v| v.is_finite()));
    let logits = batch.column_by_name("logits").unwrap().as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    assert_eq!(logits.value_length(), 5);
    // Features differ between videos: the model saw real, different frames.
    assert_ne!(
        feats.value(0).as_any().downcast_ref::<Float32Array>().unwrap().values(),
        feats.value(7).as_any().downcast_ref::<Float32Array>().unwrap().values()
    );
    assert!(kv.iter().any(|(k, v)| k == "vpipe.model" && v.starts_with("tsm-r50")));
    assert!(kv.iter().any(|(k, _)| k == "vpipe.version"));
    // pyarrow (what researchers use) reads it with the documented schema.
    if let Ok(py) = std::env::var("VPIPE_PYTHON") {
        let check = "import sys, pyarrow.parquet as pq, pyarrow as pa\n\
                     t = pq.read_table(sys.argv[1])\n\
                     assert t.num_rows == 8, t.num_rows\n\
                     assert t.schema.field('feature').type == pa.list_(pa.field('item', pa.float32(), nullable=False), 2048), t.schema\n\
                     assert t.schema.field('label').type == pa.int32() and t.schema.field('clip').type == pa.int32()\n\
                     assert t.schema.field('video').type == pa.string()\n";
        let r = std::process::Command::new(py).args(["-c", check, s(&out)]).output().unwrap();
        assert!(r.status.success(), "pyarrow: {}", String::from_utf8_lossy(&r.stderr));
    }
}

fn list_with_bad_entries(data: &Path, dir: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(data.join("mini/mini_videos.txt")).unwrap();
    text = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    text.push_str("../../edge/corrupted.mp4 1\nwave/does_not_exist.avi 1\n");
    let ann = dir.join("list.txt");
    std::fs::write(&ann, text).unwrap();
    ann
}

#[test]
fn corrupt_and_missing_videos_are_reported_and_the_job_goes_on() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ann = list_with_bad_entries(&data, dir.path());
    let out = dir.path().join("o.parquet");
    let root = data.join("mini/videos");
    let base = ["--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--workers", "2"];
    let o = featurize(&[&base[..], &["--out", s(&out)]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("corrupted.mp4") && err.contains("does_not_exist.avi"), "{err}");
    assert!(err.contains("No such file or directory"), "underlying message: {err}");
    assert!(err.contains("failed 2"), "{err}");
    let (batch, kv) = read(&out);
    assert_eq!(batch.num_rows(), 3, "every good row is written");
    assert_eq!(kv.iter().find(|(k, _)| k == "vpipe.failures_count").unwrap().1, "2");
    let (errors, _) = read(&dir.path().join("o.errors.parquet"));
    let videos = format!("{:?}", errors.column_by_name("video").unwrap());
    assert!(videos.contains("corrupted.mp4") && videos.contains("does_not_exist.avi"), "{videos}");

    let out2 = dir.path().join("ff.parquet");
    let o = featurize(&[&base[..], &["--out", s(&out2), "--fail-fast"]].concat());
    assert!(!o.status.success(), "--fail-fast must exit non-zero");
    assert!(!out2.exists(), "--fail-fast leaves no output file");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // Two failures: --max-failures 2 tolerates them, --max-failures 1 stops and writes nothing.
    let out3 = dir.path().join("m2.parquet");
    let o = featurize(&[&base[..], &["--out", s(&out3), "--max-failures", "2"]].concat());
    assert!(o.status.success() && out3.exists(), "{}", String::from_utf8_lossy(&o.stderr));
    let out4 = dir.path().join("m1.parquet");
    let o = featurize(&[&base[..], &["--out", s(&out4), "--max-failures", "1"]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !out4.exists() && err.contains("more than 1"), "{err}");
}

#[test]
fn one_and_two_workers_give_identical_parquet_contents() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = |w: &str| {
        let out = dir.path().join(format!("w{w}.parquet"));
        let o = featurize(&[
            "--ann",
            s(&data.join("mini/mini_videos.txt")),
            "--root",
            s(&data.join("mini/videos")),
            "--model",
            "tsm-r18",
            "--num-classes",
            "5",
            "--clips",
            "2",
            "--batch-size",
            "3",
            "--workers",
            w,
            "--out",
            s(&out),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read(&out).0
    };
    let (a, b) = (run("1"), run("2"));
    assert_eq!(a.num_rows(), 16, "2 clips per video");
    assert_eq!(a, b);
}

#[test]
fn slow_consumer_keeps_decoded_samples_within_capacity() {
    let Some(data) = common::data_dir() else { return };
    let samples = read_video_list(&data.join("mini/mini_videos.txt"), &data.join("mini/videos")).unwrap();
    let samples: Vec<_> = samples
        .into_iter()
        .cycle()
        .take(24)
        .enumerate()
        .map(|(i, mut s)| {
            s.index = i;
            s
        })
        .collect();
    let parts = vpipe::config::default_test_pipeline(8, vpipe::decode::Modality::RGB);
    let pipeline = Arc::new(DataPipeline::build(parts, 0, 0, Default::default()).unwrap());
    let (d, t) = (StageMetrics::new("decode"), StageMetrics::new("transform"));
    // Decoded but not yet consumed: up when a worker finishes a sample, down when the sink is done.
    let (unconsumed, max_unconsumed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (u, m) = (unconsumed.clone(), max_unconsumed.clone());
    let settings = Settings { capacity: 3, ..Settings::default() };
    let mut n = 0;
    Graph::source("test", samples, |s| s.name.clone(), settings)
        .map("prepare", 2, move |s| {
            let p = pipeline.prepare(&s, &d, &t);
            m.fetch_max(u.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            p
        })
        .run("sink", |p| {
            assert_eq!(p.tensor.shape, vec![8, 3, 224, 224]);
            std::thread::sleep(std::time::Duration::from_millis(40)); // the slow sink
            unconsumed.fetch_sub(1, Ordering::SeqCst);
            n += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 24);
    let max = max_unconsumed.load(Ordering::SeqCst);
    assert!(max <= 3, "decoded-but-unconsumed samples reached {max} > capacity 3");
    assert!(max >= 2, "the decoders should run ahead of a slow sink (max {max})");
}

#[test]
fn shards_split_the_list_into_part_files_and_skip_finished_ones() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("feats.parquet");
    let (ann, root) = (data.join("mini/mini_videos.txt"), data.join("mini/videos"));
    let mut videos = Vec::new();
    for i in 0..2 {
        let shard = format!("{i}/2");
        let args = ["--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18"];
        let o = featurize(&[&args[..], &["--num-classes", "5", "--shard", shard.as_str(), "--out", s(&out)]].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let part = dir.path().join(format!("feats-part-0000{i}-of-00002.parquet"));
        let (batch, _) = read(&part);
        assert_eq!(batch.num_rows(), 4, "8 videos round-robin over 2 shards");
        let v = batch.column_by_name("video").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        videos.extend(v.iter().map(|x| x.unwrap().to_string()));
        // A re-run of a finished shard does nothing and leaves the file alone.
        let before = std::fs::metadata(&part).unwrap().modified().unwrap();
        let o = featurize(&[&args[..], &["--num-classes", "5", "--shard", shard.as_str(), "--out", s(&out)]].concat());
        assert!(o.status.success() && String::from_utf8_lossy(&o.stderr).contains("skipping"));
        assert_eq!(std::fs::metadata(&part).unwrap().modified().unwrap(), before);
    }
    videos.sort();
    let mut all: Vec<String> = std::fs::read_to_string(data.join("mini/mini_videos.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    all.sort();
    assert_eq!(videos, all, "the shards together cover the list exactly once");
}

/// Memory is bounded by the engine's window, not by the list: featurizing the mini list repeated
/// ten times peaks within 10% of featurizing it once (issue 7), read from the job's summary.
#[test]
fn featurize_peak_rss_stays_flat_when_the_list_grows_tenfold() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let peak = |copies: usize| -> (u64, u64, u64) {
        let ann = common::mini_list_repeated(&data, dir.path(), copies);
        let out = dir.path().join(format!("f{copies}.parquet"));
        let root = data.join("mini/videos");
        let args = ["--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--workers", "2", "--out", s(&out)];
        let o = featurize(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let manifest = std::fs::read(dir.path().join(format!("f{copies}.json"))).unwrap();
        let j = &serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()["summary"];
        (j["outputs"].as_u64().unwrap(), j["peak_rss_bytes"].as_u64().unwrap(), j["frame_buffers_allocated"].as_u64().unwrap())
    };
    let (n1, rss1, fresh1) = peak(1);
    let (n10, rss10, fresh10) = peak(10);
    assert_eq!((n1, n10), (8, 80));
    // Frame buffers are recycled: ten times the samples do not allocate ten times the buffers.
    assert!(fresh10 < 2 * fresh1, "{fresh10} frame buffers allocated for 80 videos vs {fresh1} for 8");
    assert!((rss10 as f64) < 1.1 * rss1 as f64, "peak RSS {} MiB for 80 videos vs {} MiB for 8", rss10 >> 20, rss1 >> 20);
}

/// The mini list with a corrupt and a missing video among the good ones (10 samples).
fn list_with_failures_inside(data: &Path, dir: &Path) -> PathBuf {
    let mut lines: Vec<String> = std::fs::read_to_string(data.join("mini/mini_videos.txt")).unwrap().lines().map(String::from).collect();
    lines.insert(2, "../../edge/corrupted.mp4 1".into());
    lines.insert(6, "wave/does_not_exist.avi 1".into());
    let ann = dir.join("list10.txt");
    std::fs::write(&ann, lines.join("\n") + "\n").unwrap();
    ann
}

/// (video, clip, logits) of every row of a part file.
fn rows_of(part: &Path) -> Vec<(String, i32, Vec<f32>)> {
    let (b, _) = read(part);
    let v = b.column_by_name("video").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let c = b.column_by_name("clip").unwrap().as_any().downcast_ref::<Int32Array>().unwrap();
    let l = b.column_by_name("logits").unwrap().as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    (0..b.num_rows())
        .map(|i| {
            let logits = l.value(i).as_any().downcast_ref::<Float32Array>().unwrap().values().to_vec();
            (v.value(i).to_string(), c.value(i), logits)
        })
        .collect()
}

/// (video, clip, logits) of every row of a part file, and the errors file's (video, stage).
fn rows_and_errors(part: &Path, errors: &Path) -> (Vec<(String, i32, Vec<f32>)>, Vec<(String, String)>) {
    let rows = rows_of(part);
    let (e, _) = read(errors);
    let col = |n: &str| e.column_by_name(n).unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
    let (ev, es) = (col("video"), col("stage"));
    (rows, (0..e.num_rows()).map(|i| (ev.value(i).to_string(), es.value(i).to_string())).collect())
}

/// Runs featurize with `args` until the crash point `point` kills it.
fn killed_at(args: &[String], point: &str) {
    let o = common::vpipe().arg("featurize").args(args).env("VPIPE_CRASH_AT", point).output().unwrap();
    assert!(!o.status.success(), "the crash point {point} kills");
}

/// The rows and error records of an unsharded featurize output folder.
#[allow(clippy::type_complexity)]
fn shard_rows(d: &Path) -> (Vec<(String, i32, Vec<f32>)>, Vec<(String, String)>) {
    let (p, e) = shard_files(d);
    rows_and_errors(&p, &e)
}

/// The part and errors files of an unsharded featurize output folder.
fn shard_files(d: &Path) -> (PathBuf, PathBuf) {
    (d.join("part-00000-of-00001.parquet"), d.join("errors-00000.parquet"))
}

/// The featurize flags of the resumable-shard tests (a 10-sample list with a corrupt and a
/// missing video, chunks of 2, output `out`), and the rows and error records of an
/// uninterrupted run of them.
#[allow(clippy::type_complexity)]
fn uninterrupted_shard(data: &Path, dir: &Path) -> (impl Fn(&Path) -> Vec<String>, (Vec<(String, i32, Vec<f32>)>, Vec<(String, String)>)) {
    let ann = list_with_failures_inside(data, dir);
    let root = data.join("mini/videos");
    let args = move |out: &Path| -> Vec<String> {
        ["--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--workers", "2", "--batch-size", "3"]
            .iter()
            .map(|a| a.to_string())
            .chain(["--commit-every".into(), "2".into(), "--out".into(), s(out).into()])
            .collect()
    };
    let whole = dir.join("whole");
    let o = common::vpipe().arg("featurize").args(args(&whole)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (p, e) = shard_files(&whole);
    let expected = rows_and_errors(&p, &e);
    (args, expected)
}

/// `--upload u8` (uint8 batches normalised by the model's conversion, the GPU path) writes the
/// same rows, bit for bit, as `--upload f32` (normalised by the loader), here on the CPU.
#[test]
fn uint8_upload_writes_the_rows_of_float_batches() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ann, root) = (data.join("mini/mini_videos.txt"), data.join("mini/videos"));
    let run = |upload: &str| {
        let out = dir.path().join(format!("{upload}.parquet"));
        let args = ["--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--upload", upload, "--out", s(&out)];
        let o = featurize(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        rows_of(&out)
    };
    let (u8_rows, f32_rows) = (run("u8"), run("f32"));
    assert_eq!(u8_rows.len(), 8);
    assert_eq!(u8_rows, f32_rows);
}

/// A partial shard resumes only with the vpipe version that started it (chunks of two versions
/// never share a part file); `--force` starts it over.
#[test]
fn a_partial_shard_started_by_another_vpipe_version_is_not_resumed() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (args, expected) = uninterrupted_shard(&data, dir.path());
    let out = dir.path().join("other-version");
    killed_at(&args(&out), "commit-0");
    let job = out.join(".part-00000-of-00001.work/job.json");
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(&job).unwrap()).unwrap();
    assert_eq!(record["vpipe_version"], env!("CARGO_PKG_VERSION"));
    record["vpipe_version"] = "0.0.1".into();
    std::fs::write(&job, serde_json::to_vec(&record).unwrap()).unwrap();
    let o = common::vpipe().arg("featurize").args(args(&out)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("started by vpipe 0.0.1") && err.contains("--force"), "{err}");
    let o = common::vpipe().arg("featurize").args(args(&out)).arg("--force").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(shard_rows(&out), expected);
}

/// `--max-failures` counts the failures a killed run committed: the shard fails (corrupt video at
/// position 2 committed by the killed run, missing one at 6 by the resumed run) with
/// `--max-failures 1`, and the same resumed run passes with `--max-failures 2`.
#[test]
fn max_failures_counts_the_failures_of_earlier_runs_of_the_shard() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (args, expected) = uninterrupted_shard(&data, dir.path());
    let out = dir.path().join("resumed");
    killed_at(&args(&out), "commit-1");
    let with_limit = |m: &str| common::vpipe().arg("featurize").args(args(&out)).args(["--max-failures", m]).output().unwrap();
    let o = with_limit("1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "two failures in all are more than 1: {err}");
    assert!(err.contains("earlier runs of this shard"), "{err}");
    let o = with_limit("2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(shard_rows(&out), expected);
}

/// Issue 9: a shard SIGKILLed at any moment — before its first commit, between the two renames
/// of a chunk, between commits, after the part file's rename, after the manifest — and run
/// again ends with exactly the rows (and failure records) of an uninterrupted run.
#[test]
fn a_shard_killed_at_any_point_resumes_to_the_rows_of_an_uninterrupted_run() {
    use std::os::unix::process::ExitStatusExt;
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (args, expected) = uninterrupted_shard(&data, dir.path());
    assert_eq!(expected.0.len(), 8, "8 good videos");
    assert_eq!(expected.1.iter().map(|(v, _)| v.rsplit('/').next().unwrap()).collect::<Vec<_>>(), ["corrupted.mp4", "does_not_exist.avi"]);

    for point in ["chunk-0", "commit-0", "chunk-1", "commit-1", "merged", "manifest"] {
        let out = dir.path().join(point);
        let o = common::vpipe().arg("featurize").args(args(&out)).env("VPIPE_CRASH_AT", point).output().unwrap();
        assert_eq!(o.status.signal(), Some(9), "{point}: the crash point kills: {}", String::from_utf8_lossy(&o.stderr));
        if point != "manifest" {
            assert!(!out.join("part-00000-of-00001.json").exists(), "{point}: no manifest, so not complete");
        }
        let o = common::vpipe().arg("featurize").args(args(&out)).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{point}: {err}");
        if point.starts_with("commit") || point == "chunk-1" {
            assert!(err.contains("resumed after"), "{point}: {err}");
        }
        let (p, e) = shard_files(&out);
        assert_eq!(rows_and_errors(&p, &e), expected, "{point}: rows after resume");
        assert!(!out.join(".part-00000-of-00001.work").exists(), "{point}: work folder removed");
    }
}

/// SIGTERM (Slurm's time limit and preemption) commits what settled and exits 75; the re-run
/// resumes and ends with the rows of an uninterrupted run.
#[test]
fn sigterm_commits_and_exits_with_its_own_code_and_the_rerun_completes() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ann = common::mini_list_repeated(&data, dir.path(), 3);
    let root = data.join("mini/videos");
    let out = dir.path().join("o");
    let args = ["--ann", s(&ann), "--root", s(&root), "--model", "tsn-r18", "--num-classes", "5", "--workers", "1", "--batch-size", "1"];
    let args = [&args[..], &["--commit-every", "1", "--out", s(&out)]].concat();
    let child = common::vpipe().arg("featurize").args(&args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let work = out.join(".part-00000-of-00001.work");
    let start = std::time::Instant::now();
    while !work.join("chunk-000001.json").exists() {
        assert!(start.elapsed().as_secs() < 120, "no chunk committed in 120 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: kill only sends a signal to the child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(75), "{err}");
    assert!(err.contains("SIGTERM") && err.contains("resume"), "{err}");
    assert!(!out.join("part-00000-of-00001.json").exists());
    let o = featurize(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (b, _) = read(&out.join("part-00000-of-00001.parquet"));
    let v = b.column_by_name("video").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let names: Vec<&str> = v.iter().map(|x| x.unwrap()).collect();
    let list: Vec<String> =
        std::fs::read_to_string(&ann).unwrap().lines().map(|l| l.split_whitespace().next().unwrap().to_string()).collect();
    assert_eq!(names, list, "every video once, in list order");
}

/// A small tmpfs mounted for one test and unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a `size` tmpfs at `dir`; None (the test is skipped, and says so) without the
    /// privilege to mount.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).status();
        if !ok.is_ok_and(|s| s.success()) {
            eprintln!("skipped: cannot mount a tmpfs here (needs root); the full-disk test did not run");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let s = std::process::Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap();
        assert!(s.success(), "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 9: a full disk is a clear error that loses nothing committed; with space again the same
/// command resumes and ends with the rows of an uninterrupted run.
#[test]
fn a_full_disk_is_a_clear_error_and_the_rerun_resumes() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (args, expected) = uninterrupted_shard(&data, dir.path());

    // 40 KiB holds the job record and two chunks (~12 KiB each), not the whole shard.
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "40k") else { return };
    let out = disk.0.join("out");
    let o = common::vpipe().arg("featurize").args(args(&out)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("the disk is full") && err.contains("run the same command again") && err.contains(s(&out)), "{err}");
    assert!(!out.join("part-00000-of-00001.parquet").exists() && !out.join("part-00000-of-00001.json").exists());
    let work = out.join(".part-00000-of-00001.work");
    let leftovers: Vec<String> = std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(leftovers.iter().all(|n| !n.contains(".tmp")), "no half-written file left: {leftovers:?}");
    assert!(leftovers.iter().any(|n| n == "chunk-000000.json"), "the first chunk stays committed: {leftovers:?}");

    disk.resize("4m");
    let o = common::vpipe().arg("featurize").args(args(&out)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("resumed after"), "{err}");
    let (p, e) = shard_files(&out);
    assert_eq!(rows_and_errors(&p, &e), expected, "rows after the disk had space again");
}

/// A batch that fails as a whole (frames of different sizes cannot be collated: no crop in the
/// pipeline) leaves one error record per sample of it, so rows and records still account for
/// every video of the list.
#[test]
fn a_failed_batch_records_each_of_its_samples() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mixed.yaml");
    let mini = data.join("mini");
    std::fs::write(
        &cfg,
        format!(
            "source: {{type: VideoList, ann_file: {}, root: {}}}\npipeline:\n\
             \x20 - {{type: SampleFrames, clip_len: 1, frame_interval: 1, num_clips: 2, test_mode: true}}\n\
             \x20 - {{type: DecordDecode}}\n\
             \x20 - {{type: Resize, scale: [-1, 64]}}\n\
             \x20 - {{type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_bgr: false}}\n\
             \x20 - {{type: FormatShape, input_format: NCHW}}\n\
             model: {{type: tsn-r18, num_classes: 5, num_segments: 2}}\nbatch_size: 2\n",
            s(&mini.join("mini_videos.txt")),
            s(&mini.join("videos"))
        ),
    )
    .unwrap();
    let out = dir.path().join("o");
    let o = common::vpipe().args(["featurize", "--config", s(&cfg), "--out", s(&out), "--workers", "1"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (p, e) = shard_files(&out);
    let (rows, errors) = rows_and_errors(&p, &e);
    assert!(errors.iter().all(|(_, stage)| stage == "collate") && errors.len() >= 2, "{errors:?}");
    let mut seen: Vec<String> = rows.iter().map(|r| r.0.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    seen.extend(errors.iter().map(|(v, _)| v.rsplit("videos/").next().unwrap().to_string()));
    seen.sort();
    let mut listed: Vec<String> = std::fs::read_to_string(mini.join("mini_videos.txt"))
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(seen, listed, "every video has rows or an error record");
}
