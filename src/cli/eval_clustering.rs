//! `vpipe eval FEATS.parquet --metrics kmeans,gcd_v2 --num-old-classes K`: CDAR's clustering
//! metrics of a featurize file's features (semantics §11, [`vpipe::metrics::clustering`]), one
//! feature per video (its views' features averaged). Keys and report follow CDAR's
//! `eval_results` (`kmeans`, `kmeans_old`, `kmeans_new`, `kmeans_balanced…`, `gcd_v2…`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::json;

use vpipe::metrics::clustering::{gcd_v2, kmeans, split_cluster_acc, ClusterAcc, SplitAcc};
use vpipe::sink::read_clip_rows;

/// What the clustering metrics need besides the features file.
#[derive(Debug)]
pub struct Options<'a> {
    /// Run k-means++ (`kmeans`).
    pub kmeans: bool,
    /// Run CDAR's semi-supervised k-means (`gcd_v2`).
    pub gcd_v2: bool,
    /// Classes known at training time: labels below are Old, the rest New.
    pub num_old_classes: usize,
    /// Clusters; `None`: as CDAR, `num_old_classes` when no label reaches it (closed set), else
    /// the largest label + 1.
    pub num_all_classes: Option<usize>,
    /// Labelled source-domain features (`gcd_v2`'s fixed classes; k-means clusters them with
    /// the target, as CDAR's ConcatDataset does, and scores the target only).
    pub labelled: Option<&'a Path>,
    /// Seed of k-means++ (restart n of gcd_v2 uses 5236·n, as CDAR).
    pub seed: u64,
    /// k-means++ runs, the lowest inertia kept (scikit-learn's `n_init`).
    pub n_init: usize,
    /// gcd_v2 restarts (CDAR: 20).
    pub tries: usize,
}

/// Per video: its views' features averaged, and its label.
///
/// # Errors
/// An unreadable file; no `feature` column; a video without exactly one label.
fn video_features(path: &Path) -> Result<Vec<(Vec<f32>, usize)>> {
    let groups = super::eval::videos(read_clip_rows(path)?);
    if groups.is_empty() {
        bail!("{}: no rows", path.display());
    }
    groups
        .into_iter()
        .map(|rows| {
            let label = match rows[0].labels.as_slice() {
                [l] if *l >= 0 => *l as usize,
                other => bail!("{}: video {} has labels {other:?}; clustering accuracy needs exactly one", path.display(), rows[0].video),
            };
            let mut sum: Vec<f32> = Vec::new();
            for r in &rows {
                let f = r.feature.as_ref().with_context(|| {
                    format!(
                        "{}: no `feature` column (write one with `vpipe featurize`; TorchScript models without features give none)",
                        path.display()
                    )
                })?;
                sum.resize(f.len(), 0.0);
                sum.iter_mut().zip(f).for_each(|(s, v)| *s += v);
            }
            Ok((sum.into_iter().map(|v| v / rows.len() as f32).collect(), label))
        })
        .collect()
}

fn flat(prefix: &str, r: &ClusterAcc, j: &mut serde_json::Value) {
    for (suffix, v) in [("", r.plain), ("_balanced", r.balanced)] {
        j[format!("{prefix}{suffix}")] = json!(v.all);
        j[format!("{prefix}{suffix}_old")] = json!(v.old);
        j[format!("{prefix}{suffix}_new")] = json!(v.new);
    }
}

fn table(title: &str, rows: &[(&str, SplitAcc)]) -> String {
    let mut s = format!("{title}\n{:>10} {:>7} {:>7} {:>7}\n", "", "All", "Old", "New");
    for (name, a) in rows {
        s += &format!("{name:>10} {:>7.4} {:>7.4} {:>7.4}\n", a.all, a.old, a.new);
    }
    s
}

/// Computes the requested metrics of `feats`; returns CDAR's flat keys (JSON) and the text
/// report.
///
/// # Errors
/// As [`video_features`]; `gcd_v2` without `labelled`; too few videos for the clusters; an old
/// class without a labelled video.
pub fn evaluate(feats: &Path, o: &Options) -> Result<(serde_json::Value, String)> {
    let target = video_features(feats)?;
    let source = o.labelled.map(video_features).transpose()?.unwrap_or_default();
    let max_label = target.iter().chain(&source).map(|(_, l)| *l).max().unwrap_or(0);
    let k = o.num_all_classes.unwrap_or(if max_label < o.num_old_classes { o.num_old_classes } else { max_label + 1 });
    if k == 0 || o.num_old_classes == 0 {
        bail!("--num-old-classes must be at least 1");
    }
    let gt: Vec<usize> = target.iter().map(|(_, l)| *l).collect();
    let old: Vec<bool> = gt.iter().map(|&l| l < o.num_old_classes).collect();
    let mut j = json!({"videos": target.len(), "labelled_videos": source.len(), "num_old_classes": o.num_old_classes, "clusters": k});
    let mut text =
        format!("{} videos ({} labelled source videos), {k} clusters, {} old classes\n", target.len(), source.len(), o.num_old_classes);
    if o.kmeans {
        let x: Vec<Vec<f32>> = source.iter().chain(&target).map(|(f, _)| f.clone()).collect();
        let pred = kmeans(&x, k, o.n_init, o.seed)?;
        let r = split_cluster_acc(&gt, &pred[source.len()..], &old);
        flat("kmeans", &r, &mut j);
        let title = format!("kmeans (k-means++, {} runs, seed {})", o.n_init, o.seed);
        text += &table(&title, &[("plain", r.plain), ("balanced", r.balanced)]);
    }
    if o.gcd_v2 {
        if source.is_empty() {
            bail!("gcd_v2 needs the labelled source features: --labelled SOURCE.parquet (CDAR fits on source + target)");
        }
        let r = gcd_v2(&source, &target, o.num_old_classes, k, o.tries, 5236)?;
        flat("gcd_v2", &r.best, &mut j);
        j["gcd_v2_best_try"] = json!(r.best_try);
        j["gcd_v2_mean"] = json!(r.mean.all);
        j["gcd_v2_mean_old"] = json!(r.mean.old);
        j["gcd_v2_mean_new"] = json!(r.mean.new);
        let title = format!(
            "gcd_v2 (semi-supervised k-means, cosine, alpha 0.3; restart {} of {} — CDAR reports the best by balanced All on the target's labels)",
            r.best_try, r.tries
        );
        text += &table(&title, &[("plain", r.best.plain), ("balanced", r.best.balanced), ("mean", r.mean)]);
    }
    Ok((j, text))
}
