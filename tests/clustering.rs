//! vpipe's clustering metrics against the code they reproduce, run by
//! `tests/reference/make_clustering_fixture.py` into `tests/fixtures/clustering/reference.json`:
//! scipy's `linear_sum_assignment`, CDAR's `split_cluster_acc_v2` (and `_balanced`),
//! scikit-learn's k-means++ and CDAR's semi-supervised k-means (`gcd_v2`).

use serde_json::Value;
use vpipe::metrics::clustering::{gcd_v2, hungarian, kmeans, split_cluster_acc, ClusterAcc, SsKMeans, SsKMeansConfig};

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/clustering/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
}

/// `got` equals CDAR's six accuracies in `want` to 1e-12.
fn assert_accs(got: &ClusterAcc, want: &Value, what: &str) {
    let pairs = [
        (got.plain.all, "all"),
        (got.plain.old, "old"),
        (got.plain.new, "new"),
        (got.balanced.all, "balanced_all"),
        (got.balanced.old, "balanced_old"),
        (got.balanced.new, "balanced_new"),
    ];
    for (g, k) in pairs {
        let w = want[k].as_f64().unwrap();
        assert!((g - w).abs() < 1e-12, "{what}: {k} = {g}, CDAR's code gives {w}");
    }
}

#[test]
fn hungarian_matching_and_split_accuracies_equal_scipy_and_cdar() {
    let f = fixture();
    for (i, c) in f["assignment_cases"].as_array().unwrap().iter().enumerate() {
        let (gt, pred) = (usizes(&c["gt"]), usizes(&c["pred"]));
        let num_old = c["num_old"].as_u64().unwrap() as usize;
        let old: Vec<bool> = gt.iter().map(|&l| l < num_old).collect();
        let r = split_cluster_acc(&gt, &pred, &old);
        assert_eq!(r.assignment, usizes(&c["assignment"]), "case {i}: linear_sum_assignment differs");
        assert_accs(&r, c, &format!("case {i}"));
        // The matching's total is the maximum (the assignment is a permutation).
        let d = r.assignment.len();
        let mut w = vec![vec![0i64; d]; d];
        gt.iter().zip(&pred).for_each(|(&t, &p)| w[p][t] += 1);
        assert_eq!(hungarian(&w).iter().enumerate().map(|(p, &t)| w[p][t]).sum::<i64>(), c["matched"].as_i64().unwrap());
    }
}

#[test]
fn kmeans_accuracy_is_scikit_learns_within_seeding() {
    let f = fixture();
    let (x, gt) = (rows(&f["target"]["features"]), usizes(&f["target"]["labels"]));
    let num_old = f["num_old_classes"].as_u64().unwrap() as usize;
    let old: Vec<bool> = gt.iter().map(|&l| l < num_old).collect();
    let ours: Vec<f64> = (0..10).map(|s| split_cluster_acc(&gt, &kmeans(&x, 6, 10, s).unwrap(), &old).plain.all).collect();
    let theirs: Vec<f64> = f["sklearn_kmeans"].as_array().unwrap().iter().map(|r| r["all"].as_f64().unwrap()).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!((mean(&ours) - mean(&theirs)).abs() < 0.03, "k-means All: vpipe {ours:?}, scikit-learn {theirs:?}");
    // Seeded: the same seed gives the same clusters.
    assert_eq!(kmeans(&x, 6, 10, 3).unwrap(), kmeans(&x, 6, 10, 3).unwrap());
}

#[test]
fn semi_supervised_kmeans_equals_cdars() {
    let f = fixture();
    let (num_old, num_all) = (f["num_old_classes"].as_u64().unwrap() as usize, f["num_all_classes"].as_u64().unwrap() as usize);
    let (xs, ys) = (rows(&f["source"]["features"]), usizes(&f["source"]["labels"]));
    let (xt, yt) = (rows(&f["target"]["features"]), usizes(&f["target"]["labels"]));
    let to64 = |v: &[Vec<f32>]| -> Vec<Vec<f64>> { v.iter().map(|r| r.iter().map(|&a| a as f64).collect()).collect() };
    let x: Vec<Vec<f64>> = to64(&xs).into_iter().chain(to64(&xt)).collect();
    let known: Vec<Vec<usize>> = (0..num_old).map(|c| (0..ys.len()).filter(|&i| ys[i] == c).collect()).collect();
    // Closed set (k = old classes): no random draw, so the very same clusters.
    let closed =
        SsKMeans::fit(&x, &known, SsKMeansConfig::cdar(num_old), &mut <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(0)).unwrap();
    let pred = closed.predict(&to64(&xt));
    assert_eq!(pred, usizes(&f["closed_set_predictions"]), "closed-set clusters differ from CDAR's");
    let old: Vec<bool> = yt.iter().map(|&l| l < num_old).collect();
    assert_accs(&split_cluster_acc(&yt, &pred, &old), &f["closed_set"], "closed set");
    // Open set: 20 restarts of another generator than numpy's; the mean over restarts and the
    // best restart agree within what the draws explain.
    let source: Vec<(Vec<f32>, usize)> = xs.into_iter().zip(ys).collect();
    let target: Vec<(Vec<f32>, usize)> = xt.into_iter().zip(yt).collect();
    let r = gcd_v2(&source, &target, num_old, num_all, 20, 5236).unwrap();
    let tries: Vec<f64> = f["gcd_v2_tries"].as_array().unwrap().iter().map(|t| t["all"].as_f64().unwrap()).collect();
    let theirs = tries.iter().sum::<f64>() / tries.len() as f64;
    assert!((r.mean.all - theirs).abs() < 0.1, "gcd_v2 mean All over restarts: vpipe {}, CDAR {theirs}", r.mean.all);
    let best = f["gcd_v2_best"]["balanced_all"].as_f64().unwrap();
    assert!((r.best.balanced.all - best).abs() < 0.05, "gcd_v2 best: vpipe {:?}, CDAR {best}", r.best);
    assert_eq!(r.tries, 20);
}
