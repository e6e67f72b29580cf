//! `vpipe eval` on Parquet files of known predictions (semantics §7's worked examples) and
//! `vpipe predict` on a real video (semantics §9's output format).

mod common;

use std::path::Path;

use vpipe::sink::{ClipRow, ParquetSink};

/// Writes rows (video name, label, clip, logits) as featurize does.
fn preds(dir: &Path, name: &str, rows: &[(&str, i32, i32, Vec<f32>)]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut sink = ParquetSink::new(&path, vec![]);
    for (v, l, c, logits) in rows {
        sink.push(ClipRow { video: v.to_string(), labels: vec![*l], clip: *c, logits: logits.clone(), feature: None }).unwrap();
    }
    sink.finish(vec![]).unwrap();
    path
}

fn eval(path: &Path, extra: &[&str]) -> serde_json::Value {
    let o = common::vpipe().arg("eval").arg(path).args(["--json"]).args(extra).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn one_hot(c: usize, n: usize) -> Vec<f32> {
    (0..n).map(|i| if i == c { 1.0 } else { 0.0 }).collect()
}

#[test]
fn eval_reproduces_the_worked_examples_of_semantics_section_7() {
    let dir = tempfile::tempdir().unwrap();
    // Scores [[.7,.2,.1],[.6,.3,.1],[.1,.3,.6],[.2,.5,.3]], labels [0,1,2,2].
    let p = preds(
        dir.path(),
        "a.parquet",
        &[
            ("v0", 0, 0, vec![0.7, 0.2, 0.1]),
            ("v1", 1, 0, vec![0.6, 0.3, 0.1]),
            ("v2", 2, 0, vec![0.1, 0.3, 0.6]),
            ("v3", 2, 0, vec![0.2, 0.5, 0.3]),
        ],
    );
    let plots = dir.path().join("plots");
    let j = eval(&p, &["--average-clips", "score", "--plot", plots.to_str().unwrap()]);
    for f in ["confusion_matrix.png", "per_class_accuracy.png"] {
        image::open(plots.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    assert_eq!((j["top1_acc"].as_f64(), j["top5_acc"].as_f64(), j["mean_class_accuracy"].as_f64()), (Some(0.5), Some(1.0), Some(0.5)));
    assert_eq!(j["confusion_matrix"], serde_json::json!([[1, 0, 0], [1, 0, 0], [0, 1, 1]]));
    // Labels [0,0], predictions [0,1] → 0.25; labels [3,0,0], predictions [3,0,3] → 0.75.
    let p = preds(dir.path(), "b.parquet", &[("a", 0, 0, one_hot(0, 2)), ("b", 0, 0, one_hot(1, 2))]);
    assert_eq!(eval(&p, &[])["mean_class_accuracy"].as_f64(), Some(0.25));
    let p = preds(dir.path(), "c.parquet", &[("a", 3, 0, one_hot(3, 4)), ("b", 0, 0, one_hot(0, 4)), ("c", 0, 0, one_hot(3, 4))]);
    let j = eval(&p, &[]);
    assert_eq!((j["mean_class_accuracy"].as_f64(), j["labels"].clone()), (Some(0.75), serde_json::json!([0, 3])));
}

#[test]
fn eval_averages_each_videos_clips_before_scoring() {
    let dir = tempfile::tempdir().unwrap();
    // v0's two clips disagree; their mean probability favours class 1 (a confident clip beats
    // a hesitant one); the same name listed again later is another video.
    let p = preds(
        dir.path(),
        "clips.parquet",
        &[("v0", 1, 0, vec![0.2, 0.0]), ("v0", 1, 1, vec![0.0, 4.0]), ("v1", 0, 0, vec![3.0, 0.0]), ("v0", 0, 0, vec![1.0, 0.0])],
    );
    let j = eval(&p, &[]);
    assert_eq!((j["videos"].as_u64(), j["top1_acc"].as_f64()), (Some(3), Some(1.0)));
}

#[test]
fn predict_prints_five_labels_and_scores_like_mmaction2_demo() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("label_map.txt");
    let names = ["arm wrestling", "balloon blowing", "cheerleading", "dribbling basketball", "flipping pancake", "yoga"];
    std::fs::write(&labels, names.join("\n") + "\n").unwrap();
    let video = data.join("mmaction2/test.mp4");
    let o = common::vpipe()
        .args(["predict", video.to_str().unwrap(), "--model", "tsn-r18", "--labels", labels.to_str().unwrap(), "--clips", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "The top-5 labels with corresponding scores are:");
    assert_eq!(lines.len(), 6, "{text}");
    let scores: Vec<f64> = lines[1..]
        .iter()
        .map(|l| {
            let (name, score) = l.split_once(":  ").unwrap_or_else(|| panic!("`label:  score`: {l}"));
            assert!(names.contains(&name), "{name} is a label of the file");
            score.parse().unwrap()
        })
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "descending: {scores:?}");
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)) && scores.iter().sum::<f64>() < 1.0 + 1e-6, "probabilities: {scores:?}");
}

/// `--config`: the pipeline file's R(2+1)D model and split pipeline (NCTHW clips) predict the
/// video; the JSON form lists top-k (label, probability) pairs.
#[test]
fn predict_with_a_pipeline_files_3d_model() {
    let Some(data) = common::data_dir() else { return };
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/r2plus1d_r18_mini.yaml");
    let video = data.join("mmaction2/test.mp4");
    let o = common::vpipe()
        .args(["predict", video.to_str().unwrap(), "--config", cfg, "--split", "val", "--top-k", "3", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top = j["labels"].as_array().unwrap();
    assert_eq!(top.len(), 3, "{j}");
    assert!(top.iter().all(|p| p[1].as_f64().is_some_and(|s| (0.0..=1.0).contains(&s))), "{j}");
}
