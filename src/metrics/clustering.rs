//! Clustering accuracy of features, the generalized-category-discovery protocol CDAR evaluates
//! with (`--eval kmeans gcd_v2`; repository `Haawron/mmaction2`, branch `ariel`,
//! `mmaction/datasets/{base,custom_metrics}.py`, `slurm/gcd4da/commons/{kmeans,semi_kmeans}.py`;
//! semantics §11):
//!
//! - [`split_cluster_acc`]: clusters matched to labels by one Hungarian matching on the
//!   contingency matrix (scipy `linear_sum_assignment`, here pathfinding's Kuhn–Munkres), then
//!   accuracy over All samples, over those of Old classes (label < `num_old_classes`) and of New
//!   ones; also the class-balanced variant (mean of per-class recalls).
//! - [`kmeans`]: k-means++ on the features (scikit-learn `KMeans(init='k-means++')`, here
//!   linfa-clustering's, seeded).
//! - [`gcd_v2`]: CDAR's semi-supervised k-means (`semi_kmeans.KMeans` driven by
//!   `SSKMeansTrainer`): angular (cosine) distance; the first `num_old_classes` centroids start
//!   at the labelled source samples' class means, the rest from a k-means++-like draw; every
//!   update weights labelled samples `alpha` = 0.3 and the others 1 − alpha; 20 restarts seeded
//!   5236·n; fitted on labelled source + target features and scored on the target.
//!
//! Accuracies are fractions in [0, 1].

use anyhow::{bail, Context, Result};
use pathfinding::matrix::Matrix;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// All / Old / New clustering accuracy (GCD's v2 protocol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SplitAcc {
    /// Over every sample.
    pub all: f64,
    /// Over samples whose label is an old (known) class.
    pub old: f64,
    /// Over samples of new classes (0 where there are none, as CDAR reports).
    pub new: f64,
}

/// [`split_cluster_acc`]'s result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterAcc {
    /// Sample-weighted accuracies (`split_cluster_acc_v2`).
    pub plain: SplitAcc,
    /// Class-balanced accuracies, means of per-class recalls (`split_cluster_acc_v2_balanced`).
    pub balanced: SplitAcc,
    /// For each cluster id `0..D`, the label it is matched to (D = max(cluster, label) + 1).
    pub assignment: Vec<usize>,
}

/// The maximum-weight matching of rows to columns of the square count matrix `w` (rows:
/// clusters, columns: labels): for each row its column. scipy's `linear_sum_assignment(w.max()
/// − w)` finds the same total; where several matchings reach it, either may be returned.
pub fn hungarian(w: &[Vec<i64>]) -> Vec<usize> {
    if w.is_empty() {
        return Vec::new();
    }
    let m = Matrix::from_rows(w.iter().cloned()).expect("a square matrix");
    pathfinding::kuhn_munkres::kuhn_munkres(&m).1
}

/// Clustering accuracy of cluster ids `pred` against labels `gt`, samples of old classes
/// flagged by `old` (CDAR `split_cluster_acc_v2` and `_balanced`): the D×D contingency matrix
/// (D = max of both + 1) is matched once by [`hungarian`], then All counts every matched
/// sample, Old and New those of the classes present among the old / new samples.
///
/// # Panics
/// The three slices differ in length, or are empty.
pub fn split_cluster_acc(gt: &[usize], pred: &[usize], old: &[bool]) -> ClusterAcc {
    assert!(gt.len() == pred.len() && gt.len() == old.len() && !gt.is_empty(), "one prediction and flag per label");
    let d = gt.iter().chain(pred).max().copied().unwrap_or(0) + 1;
    let mut w = vec![vec![0i64; d]; d];
    for (&p, &t) in pred.iter().zip(gt) {
        w[p][t] += 1;
    }
    let assignment = hungarian(&w);
    let mut gt_to_pred = vec![0; d];
    for (p, &t) in assignment.iter().enumerate() {
        gt_to_pred[t] = p;
    }
    let classes = |flag: bool| -> Vec<usize> {
        let set: std::collections::BTreeSet<usize> = gt.iter().zip(old).filter(|(_, &o)| o == flag).map(|(&t, _)| t).collect();
        set.into_iter().collect()
    };
    let (old_classes, new_classes) = (classes(true), classes(false));
    let hits = |l: usize| w[gt_to_pred[l]][l] as f64;
    let count = |l: usize| w.iter().map(|row| row[l]).sum::<i64>() as f64;
    let pooled = |cs: &[usize]| {
        let n: f64 = cs.iter().map(|&l| count(l)).sum();
        if n == 0.0 {
            0.0
        } else {
            cs.iter().map(|&l| hits(l)).sum::<f64>() / n
        }
    };
    let mean_recall =
        |cs: &[usize]| if cs.is_empty() { 0.0 } else { cs.iter().map(|&l| hits(l) / count(l)).sum::<f64>() / cs.len() as f64 };
    let total: f64 = assignment.iter().enumerate().map(|(p, &t)| w[p][t] as f64).sum::<f64>() / gt.len() as f64;
    let every: Vec<usize> = old_classes.iter().chain(&new_classes).copied().collect();
    ClusterAcc {
        plain: SplitAcc { all: total, old: pooled(&old_classes), new: pooled(&new_classes) },
        balanced: SplitAcc { all: mean_recall(&every), old: mean_recall(&old_classes), new: mean_recall(&new_classes) },
        assignment,
    }
}

/// k-means++ cluster ids of `x` (N rows of D features) into `k` clusters: linfa-clustering's
/// `KMeans` with k-means++ init, `n_init` runs (the lowest inertia kept), at most 300
/// iterations, tolerance 1e-4 (scikit-learn's defaults), drawing from a generator seeded `seed`.
///
/// # Errors
/// Fewer samples than clusters; rows of different widths; linfa fails.
pub fn kmeans(x: &[Vec<f32>], k: usize, n_init: usize, seed: u64) -> Result<Vec<usize>> {
    use linfa::traits::{Fit, Predict};
    if x.len() < k {
        bail!("k-means: {} samples cannot make {k} clusters", x.len());
    }
    let a = to_array(x)?;
    let rng = <rand_xoshiro::Xoshiro256Plus as rand_xoshiro::rand_core::SeedableRng>::seed_from_u64(seed);
    let model = linfa_clustering::KMeans::params_with_rng(k, rng)
        .init_method(linfa_clustering::KMeansInit::KMeansPlusPlus)
        .n_runs(n_init.max(1))
        .max_n_iterations(300)
        .tolerance(1e-4)
        .fit(&linfa::DatasetBase::from(a.clone()))
        .context("k-means")?;
    Ok(model.predict(&a).to_vec())
}

fn to_array(x: &[Vec<f32>]) -> Result<ndarray::Array2<f64>> {
    let d = x.first().map_or(0, Vec::len);
    if x.iter().any(|r| r.len() != d) {
        bail!("features of different widths");
    }
    Ok(ndarray::Array2::from_shape_vec((x.len(), d), x.iter().flatten().map(|&v| v as f64).collect())?)
}

/// CDAR's semi-supervised k-means settings (`SSKMeansTrainer`'s defaults for `gcd_v2`).
#[derive(Clone, Copy, Debug)]
pub struct SsKMeansConfig {
    /// Clusters (`num_all_classes`).
    pub k: usize,
    /// Update weight of labelled samples (0.3); the others weigh 1 − alpha.
    pub alpha: f64,
    /// Stop when the centroids' RMS change is at most this (1e-7).
    pub tol: f64,
    /// At most this many updates (30).
    pub max_iter: usize,
}

impl SsKMeansConfig {
    /// CDAR's `gcd_v2` settings for `k` clusters.
    pub fn cdar(k: usize) -> Self {
        SsKMeansConfig { k, alpha: 0.3, tol: 1e-7, max_iter: 30 }
    }
}

/// Angle between each row of `x` and each of `c` (`semi_kmeans.KMeans._get_distance` with
/// `metric='cosine'`): arccos of the cosine similarity, similarities within 1e-4 beyond ±1
/// clamped. (N, K) row-major.
fn angles(x: &[Vec<f64>], c: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let cn: Vec<f64> = c.iter().map(|r| dot(r, r)).collect();
    x.iter()
        .map(|r| {
            let xn = dot(r, r);
            c.iter()
                .zip(&cn)
                .map(|(cr, &n)| {
                    let mut s = dot(r, cr) / (xn * n).sqrt();
                    if s > 1.0 && (s - 1.0).abs() < 1e-4 {
                        s = 1.0;
                    } else if s < -1.0 && (s + 1.0).abs() < 1e-4 {
                        s = -1.0;
                    }
                    s.acos()
                })
                .collect()
        })
        .collect()
}

/// numpy's `argmin` of a row: the first minimum, or the first NaN (numpy propagates NaN; an
/// emptied cluster's zero centroid gives NaN angles, and CDAR's code then sends samples to it).
fn argmin(row: &[f64]) -> usize {
    if let Some(i) = row.iter().position(|v| v.is_nan()) {
        return i;
    }
    row.iter().enumerate().fold(0, |best, (i, &v)| if v < row[best] { i } else { best })
}

/// A fitted semi-supervised k-means: its centroids.
#[derive(Clone, Debug)]
pub struct SsKMeans {
    /// K centroids, the first `num_old_classes` seeded by the labelled classes.
    pub centroids: Vec<Vec<f64>>,
}

impl SsKMeans {
    /// Fits CDAR's semi-supervised k-means to `x`, of which the rows `known[i]` are labelled
    /// class i (`semi_kmeans.KMeans(k, known_data, alpha, metric='cosine', tol).fit(X)`):
    /// centroids start at the known classes' means; each further one is drawn with probability
    /// ∝ angle^0.3 to the centroid drawn last (rows drawn before excluded); then, up to
    /// `max_iter` times while the centroids' RMS change exceeds `tol`, every row goes to its
    /// nearest centroid by angle and each centroid becomes the weighted sum of its rows
    /// (weights alpha for labelled rows, 1 − alpha for the others, divided by their total over
    /// all elements). Draws come from `rng`.
    ///
    /// # Errors
    /// A known class without a labelled row; more known classes than clusters; fewer rows than
    /// clusters.
    pub fn fit(x: &[Vec<f64>], known: &[Vec<usize>], cfg: SsKMeansConfig, rng: &mut impl Rng) -> Result<SsKMeans> {
        if known.len() > cfg.k {
            bail!("gcd_v2: {} old classes cannot fit in {} clusters", known.len(), cfg.k);
        }
        if x.len() < cfg.k {
            bail!("gcd_v2: {} samples cannot make {} clusters", x.len(), cfg.k);
        }
        let dim = x[0].len();
        let mean = |rows: &[usize]| -> Vec<f64> {
            let mut m = vec![0.0; dim];
            for &r in rows {
                m.iter_mut().zip(&x[r]).for_each(|(a, b)| *a += b);
            }
            m.iter().map(|v| v / rows.len() as f64).collect()
        };
        let mut centroids = Vec::new();
        for (i, rows) in known.iter().enumerate() {
            if rows.is_empty() {
                bail!("gcd_v2: old class {i} has no labelled sample (its centroid would be the mean of nothing)");
            }
            centroids.push(mean(rows));
        }
        // k-means++ as CDAR draws it: the angle to the last centroid only, to the power 0.3.
        let mut drawn: Vec<usize> = Vec::new();
        while centroids.len() < cfg.k {
            let last = centroids.last().cloned().unwrap_or_else(|| x[rng.random_range(0..x.len())].clone());
            let mut d: Vec<f64> = angles(x, std::slice::from_ref(&last)).iter().map(|r| r[0].powf(0.3)).collect();
            for &i in &drawn {
                d[i] = 0.0;
            }
            let total: f64 = d.iter().sum();
            let u = rng.random::<f64>() * total;
            let mut acc = 0.0;
            let pick = d.iter().position(|&v| {
                acc += v;
                acc > u
            });
            let pick = pick.unwrap_or_else(|| d.iter().rposition(|&v| v > 0.0).unwrap_or(0));
            drawn.push(pick);
            centroids.push(x[pick].clone());
        }
        let mut weight = vec![1.0 - cfg.alpha; x.len()];
        for &r in known.iter().flatten() {
            weight[r] = cfg.alpha;
        }
        let total = weight.iter().sum::<f64>() * dim as f64;
        let mut model = SsKMeans { centroids };
        for _ in 0..cfg.max_iter {
            let labels = model.predict(x);
            let old = std::mem::replace(&mut model.centroids, vec![vec![0.0; dim]; cfg.k]);
            for (r, &l) in labels.iter().enumerate() {
                let w = weight[r] / total;
                model.centroids[l].iter_mut().zip(&x[r]).for_each(|(c, v)| *c += w * v);
            }
            let sq: f64 = old.iter().flatten().zip(model.centroids.iter().flatten()).map(|(a, b)| (a - b) * (a - b)).sum();
            if (sq / (cfg.k * dim) as f64).sqrt() <= cfg.tol {
                break;
            }
        }
        Ok(model)
    }

    /// Each row's nearest centroid by angle (numpy `argmin`, [`argmin`]).
    pub fn predict(&self, x: &[Vec<f64>]) -> Vec<usize> {
        angles(x, &self.centroids).iter().map(|r| argmin(r)).collect()
    }
}

/// What [`gcd_v2`] reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GcdReport {
    /// The restart CDAR reports: the best class-balanced All accuracy on the target (an oracle
    /// choice by the target's labels, as `SSKMeansTrainer` makes it).
    pub best: ClusterAcc,
    /// Its index among the restarts (seed 5236 · index).
    pub best_try: usize,
    /// Sample-weighted All / Old / New averaged over the restarts (no label peeks at).
    pub mean: SplitAcc,
    /// Restarts run.
    pub tries: usize,
}

/// CDAR's `gcd_v2` metric: [`SsKMeans`] with [`SsKMeansConfig::cdar`]`(num_all_classes)` on the
/// labelled `source` rows of old classes (label < `num_old_classes`; the others are dropped)
/// followed by every `target` row, `tries` restarts (CDAR: 20) whose draws come from
/// generators seeded `seed_of_seeds · n` (CDAR: 5236), each scored by [`split_cluster_acc`] on
/// the target; the restart with the best balanced All accuracy is reported.
///
/// # Errors
/// No target row; an old class without a labelled source row; as [`SsKMeans::fit`].
pub fn gcd_v2(
    source: &[(Vec<f32>, usize)],
    target: &[(Vec<f32>, usize)],
    num_old_classes: usize,
    num_all_classes: usize,
    tries: usize,
    seed_of_seeds: u64,
) -> Result<GcdReport> {
    if target.is_empty() {
        bail!("gcd_v2: no target sample");
    }
    let labelled: Vec<&(Vec<f32>, usize)> = source.iter().filter(|(_, l)| *l < num_old_classes).collect();
    let x: Vec<Vec<f64>> =
        labelled.iter().map(|(f, _)| f).chain(target.iter().map(|(f, _)| f)).map(|f| f.iter().map(|&v| v as f64).collect()).collect();
    let known: Vec<Vec<usize>> =
        (0..num_old_classes).map(|c| labelled.iter().enumerate().filter(|(_, (_, l))| *l == c).map(|(i, _)| i).collect()).collect();
    let gt: Vec<usize> = target.iter().map(|(_, l)| *l).collect();
    let old: Vec<bool> = gt.iter().map(|&l| l < num_old_classes).collect();
    let xt = &x[labelled.len()..];
    let mut results = Vec::new();
    for n in 0..tries.max(1) {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed_of_seeds * n as u64);
        let model = SsKMeans::fit(&x, &known, SsKMeansConfig::cdar(num_all_classes), &mut rng)?;
        results.push(split_cluster_acc(&gt, &model.predict(xt), &old));
    }
    // numpy argmax: the first best.
    let best_try = results.iter().enumerate().fold(0, |b, (i, r)| if r.balanced.all > results[b].balanced.all { i } else { b });
    let n = results.len() as f64;
    let mean = SplitAcc {
        all: results.iter().map(|r| r.plain.all).sum::<f64>() / n,
        old: results.iter().map(|r| r.plain.old).sum::<f64>() / n,
        new: results.iter().map(|r| r.plain.new).sum::<f64>() / n,
    };
    Ok(GcdReport { best: results[best_try].clone(), best_try, mean, tries: results.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_undoes_a_relabelling_and_splits_old_and_new() {
        // Clusters are labels permuted (0→2, 1→0, 2→1), with one error on a new-class sample.
        let gt = [0, 0, 1, 1, 2, 2, 2, 2];
        let pred = [2, 2, 0, 0, 1, 1, 1, 0];
        let old: Vec<bool> = gt.iter().map(|&l| l < 2).collect();
        let r = split_cluster_acc(&gt, &pred, &old);
        assert_eq!(r.assignment, vec![1, 2, 0]);
        assert_eq!(r.plain, SplitAcc { all: 7.0 / 8.0, old: 1.0, new: 0.75 });
        assert_eq!(r.balanced, SplitAcc { all: (1.0 + 1.0 + 0.75) / 3.0, old: 1.0, new: 0.75 });
    }

    #[test]
    fn closed_set_semi_supervised_kmeans_keeps_separable_classes() {
        // Two directions; labelled rows 0 and 1; no k-means++ draw with k = old classes.
        let x = vec![vec![1.0, 0.1], vec![0.1, 1.0], vec![2.0, 0.3], vec![0.2, 3.0], vec![5.0, -0.2]];
        let m = SsKMeans::fit(&x, &[vec![0], vec![1]], SsKMeansConfig::cdar(2), &mut rand_pcg::Pcg64::seed_from_u64(0)).unwrap();
        assert_eq!(m.predict(&x), vec![0, 1, 0, 1, 0]);
    }
}
