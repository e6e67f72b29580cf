//! `vpipe eval PREDS.parquet`: mmaction2's test metrics (`top1_acc`, `top5_acc`,
//! `mean_class_accuracy`, confusion matrix; semantics §7) of a featurize part file or a
//! `best_pred.parquet`, its clips averaged per video as mmaction2's `average_clips` does; or, given
//! an AVA detections CSV, AVA's frame mAP@0.5 (PySlowFast's `evaluate_ava_from_files`).

use std::path::PathBuf;

use anyhow::{bail, Result};

use vpipe::metrics::{average_clips, evaluate, mean_average_precision, per_class_accuracy, AverageClips};
use vpipe::sink::{read_clip_rows, ClipRow};

/// Flags of `vpipe eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Parquet with one row per (video, clip): `video`, `label`/`labels`, `clip`, `logits`
    /// (what `vpipe featurize` and `vpipe run`'s test phase write); or an AVA detections CSV
    /// (`video,sec,x1,y1,x2,y2,action,score`, a detection run's `detections.csv`) with
    /// `--groundtruth`.
    preds: PathBuf,
    /// AVA: the ground-truth CSV (`ava_val_v2.2.csv`, or a run's `groundtruth.csv`).
    #[arg(long)]
    groundtruth: Option<PathBuf>,
    /// AVA: the label map of the evaluated classes (`ava_action_list_v2.2_for_activitynet_2019.pbtxt`;
    /// default all 80).
    #[arg(long)]
    label_map: Option<PathBuf>,
    /// AVA: excluded timestamps (`ava_val_excluded_timestamps_v2.2.csv`).
    #[arg(long)]
    exclusions: Option<PathBuf>,
    /// Label names, one per line (mmaction2 label_map.txt, or UCF101 classInd.txt), for the
    /// confusion matrix and plots.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// How a video's clips become one score: prob (mean of softmaxes, mmaction2's default),
    /// score (mean), sigmoid (mean of sigmoids) or sigmoid_max (PySlowFast Charades). The sigmoid
    /// ones, or any video with several labels, evaluate multi-label: mAP.
    #[arg(long, default_value = "prob", value_parser = super::choice::<AverageClips>(&["prob", "score", "sigmoid", "sigmoid_max"]))]
    average_clips: AverageClips,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write DIR/confusion_matrix.png and DIR/per_class_accuracy.png.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Metrics, comma-separated (mmaction2 `--eval` names): `top_k_accuracy`,
    /// `mean_class_accuracy`, `confusion_matrix` (the classification report, from the logits),
    /// `kmeans`, `gcd_v2` (CDAR's clustering accuracy of the `feature` column: All / Old / New).
    #[arg(long, value_delimiter = ',', default_value = "top_k_accuracy,mean_class_accuracy,confusion_matrix",
          value_parser = ["top_k_accuracy", "mean_class_accuracy", "confusion_matrix", "kmeans", "gcd_v2"])]
    metrics: Vec<String>,
    /// Classes known in training (kmeans, gcd_v2): labels below it are Old, the others New
    /// (CDAR `metric_options.num_old_classes`).
    #[arg(long, required_if_eq_any = [("metrics", "kmeans"), ("metrics", "gcd_v2")])]
    num_old_classes: Option<usize>,
    /// Clusters (CDAR `num_all_classes`); default: the old classes for a closed set, else the
    /// largest label + 1.
    #[arg(long)]
    num_all_classes: Option<usize>,
    /// Labelled source-domain features (a featurize file): gcd_v2 fixes its old-class videos'
    /// classes; kmeans clusters them along and scores PREDS only.
    #[arg(long, value_name = "SOURCE.parquet")]
    labelled: Option<PathBuf>,
    /// Seed of k-means++ (gcd_v2's restart n is seeded 5236·n, as CDAR).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// k-means++ runs, the lowest inertia kept (scikit-learn `n_init`).
    #[arg(long, default_value_t = 10)]
    n_init: usize,
    /// gcd_v2 restarts (CDAR: 20).
    #[arg(long, default_value_t = 20)]
    gcd_tries: usize,
}

/// One video's rows: consecutive rows of the same video, a new one at each `clip` 0 (a list may
/// name a video twice).
pub(super) fn videos(rows: Vec<ClipRow>) -> Vec<Vec<ClipRow>> {
    let mut out: Vec<Vec<ClipRow>> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(v) if r.clip != 0 && v[0].video == r.video => v.push(r),
            _ => out.push(vec![r]),
        }
    }
    out
}

/// Runs the command: prints the metrics.
///
/// # Errors
/// Unreadable file or label names; no video to evaluate; a label ≥ the number of logits (naming
/// the video).
pub fn run(a: Args) -> Result<()> {
    if a.preds.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return ava(&a);
    }
    let wants = |m: &str| a.metrics.iter().any(|x| x == m);
    if wants("kmeans") || wants("gcd_v2") {
        let o = super::eval_clustering::Options {
            kmeans: wants("kmeans"),
            gcd_v2: wants("gcd_v2"),
            num_old_classes: a.num_old_classes.unwrap_or(0),
            num_all_classes: a.num_all_classes,
            labelled: a.labelled.as_deref(),
            seed: a.seed,
            n_init: a.n_init,
            tries: a.gcd_tries,
        };
        let (j, text) = super::eval_clustering::evaluate(&a.preds, &o)?;
        let classification = wants("top_k_accuracy") || wants("mean_class_accuracy") || wants("confusion_matrix");
        if !a.json {
            print!("{text}");
        } else if !classification {
            println!("{}", serde_json::to_string_pretty(&j)?);
        }
        if !classification {
            return Ok(());
        }
        return classify(&a, Some(j));
    }
    classify(&a, None)
}

/// AVA's frame mAP@0.5 of a detections CSV against `--groundtruth`, with each class's AP under
/// the ActivityNet evaluator's names.
///
/// # Errors
/// No `--groundtruth`; a file does not read (named with its line).
fn ava(a: &Args) -> Result<()> {
    use vpipe::source::ava;
    let Some(gt) = &a.groundtruth else { bail!("{}: an AVA detections CSV is scored against --groundtruth", a.preds.display()) };
    let names: Vec<(usize, String)> = match &a.label_map {
        Some(p) => ava::read_label_map(p)?,
        None => (1..=ava::NUM_CLASSES).map(|c| (c, c.to_string())).collect(),
    };
    let classes = names.iter().map(|(c, _)| *c).collect();
    let excluded = a.exclusions.as_deref().map(ava::read_excluded).transpose()?.unwrap_or_default();
    let truth = ava::read_groundtruth(gt, &classes, &excluded)?;
    let dets = ava::read_detections(&a.preds, &classes, &excluded)?;
    let ids: Vec<usize> = classes.iter().copied().collect();
    let (map, per_class) = vpipe::metrics::ava::frame_map(&truth, &dets, &ids, 0.5);
    let mut j = serde_json::json!({"PascalBoxes_Precision/mAP@0.5IOU": map});
    for (id, name) in &names {
        if let Some(Some(ap)) = per_class.get(id) {
            j[format!("PascalBoxes_PerformanceByCategory/AP@0.5IOU/{name}")] = serde_json::json!(ap);
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        for (k, v) in j.as_object().into_iter().flatten() {
            println!("{k}: {:.6}", v.as_f64().unwrap_or(f64::NAN));
        }
    }
    Ok(())
}

/// The classification metrics of the logits; with `--json`, `clustering`'s keys merged in.
///
/// # Errors
/// As [`run`].
fn classify(a: &Args, clustering: Option<serde_json::Value>) -> Result<()> {
    let print_json = |mut j: serde_json::Value| -> Result<()> {
        for (k, v) in clustering.iter().flat_map(|c| c.as_object().into_iter().flatten()) {
            j[k] = v.clone();
        }
        println!("{}", serde_json::to_string_pretty(&j)?);
        Ok(())
    };
    let mode = a.average_clips;
    let groups = videos(read_clip_rows(&a.preds)?);
    let scored = |v: &Vec<ClipRow>| average_clips(&v.iter().map(|r| r.logits.clone()).collect::<Vec<_>>(), mode);
    let labelled: Vec<&Vec<ClipRow>> = groups.iter().filter(|v| !v[0].labels.is_empty() && v[0].labels.iter().all(|&l| l >= 0)).collect();
    // A label the logits cannot score (a list for another model, a shifted label column) would
    // count as a miss, quietly lowering every metric.
    for v in &labelled {
        let classes = v[0].logits.len();
        if let Some(l) = v[0].labels.iter().find(|&&l| l as usize >= classes) {
            bail!("{}: video {}: label {l} is outside the {classes} classes its logits score", a.preds.display(), v[0].video);
        }
    }
    if mode.is_sigmoid() || labelled.iter().any(|v| v[0].labels.len() > 1) {
        return multi_label(a, &labelled, groups.len() - labelled.len(), scored, print_json);
    }
    let (mut scores, mut labels, mut unlabelled) = (Vec::new(), Vec::new(), 0);
    for v in &groups {
        match v[0].labels.as_slice() {
            [l] if *l >= 0 => {
                scores.push(scored(v));
                labels.push(*l as usize);
            }
            _ => unlabelled += 1,
        }
    }
    if labels.is_empty() {
        bail!("{}: no video has exactly one label, nothing to evaluate", a.preds.display());
    }
    let names = a.labels.as_deref().map(super::read_label_names).transpose()?;
    let name = |c: usize| names.as_ref().and_then(|n| n.get(c).cloned()).unwrap_or_else(|| c.to_string());
    let e = evaluate(&scores, &labels);
    if let Some(dir) = &a.plot {
        let names: Vec<String> = e.labels.iter().map(|&c| name(c)).collect();
        vpipe::plot::confusion_matrix(&dir.join("confusion_matrix.png"), &names, &e.confusion_matrix)?;
        vpipe::plot::per_class_accuracy(&dir.join("per_class_accuracy.png"), &names, &per_class_accuracy(&e.confusion_matrix))?;
        eprintln!("wrote {0}/confusion_matrix.png and {0}/per_class_accuracy.png", dir.display());
    }
    if a.json {
        let mut j = serde_json::to_value(&e)?;
        j["videos"] = labels.len().into();
        j["unlabelled_videos"] = unlabelled.into();
        j["average_clips"] = a.average_clips.name().into();
        j["label_names"] = e.labels.iter().map(|&c| name(c)).collect::<Vec<_>>().into();
        return print_json(j);
    }
    println!("{} videos ({} clips), average_clips {}", labels.len(), groups.iter().map(Vec::len).sum::<usize>(), a.average_clips.name());
    if unlabelled > 0 {
        println!("{unlabelled} videos without exactly one label left out");
    }
    println!("top1_acc {:.4}\ntop5_acc {:.4}\nmean_class_accuracy {:.4}", e.top1_acc, e.top5_acc, e.mean_class_accuracy);
    println!("confusion matrix (rows: true label, columns: predicted):");
    let w = e.labels.iter().map(|&c| name(c).len()).max().unwrap_or(1).max(3);
    let header: String = e.labels.iter().map(|&c| format!(" {:>5}", c)).collect();
    println!("{:>w$}{header}", "");
    for (i, row) in e.confusion_matrix.iter().enumerate() {
        let cells: String = row.iter().map(|n| format!(" {n:>5}")).collect();
        println!("{:>w$}{cells}", name(e.labels[i]));
    }
    Ok(())
}

/// Multi-label evaluation (Charades): mmaction2 `mean_average_precision` over the `labelled`
/// videos' many-hot labels.
///
/// # Errors
/// No labelled video.
fn multi_label(
    a: &Args,
    labelled: &[&Vec<ClipRow>],
    unlabelled: usize,
    scored: impl Fn(&Vec<ClipRow>) -> Vec<f32>,
    print_json: impl Fn(serde_json::Value) -> Result<()>,
) -> Result<()> {
    if labelled.is_empty() {
        bail!("{}: no video has labels, nothing to evaluate", a.preds.display());
    }
    let scores: Vec<Vec<f32>> = labelled.iter().map(|v| scored(v)).collect();
    let labels: Vec<Vec<usize>> = labelled.iter().map(|v| v[0].labels.iter().map(|&l| l as usize).collect()).collect();
    let map = mean_average_precision(&scores, &labels);
    if a.json {
        print_json(serde_json::json!({"mAP": map, "videos": labelled.len(), "unlabelled_videos": unlabelled,
            "average_clips": a.average_clips.name()}))?;
    } else {
        println!("{} videos, multi-label, average_clips {}", labelled.len(), a.average_clips.name());
        if unlabelled > 0 {
            println!("{unlabelled} videos without labels left out");
        }
        println!("mAP {map:.4}");
    }
    Ok(())
}
