//! Evaluation metrics, mmaction2 `mmaction/core/evaluation/accuracy.py` (0.x; 1.x computes the
//! same): top-k accuracy, mean class accuracy, confusion matrix, and test-time clip averaging.
//! Semantics: `shared/docs/semantics.md` §5 (clip averaging) and §7. Values are fractions in [0, 1].

pub mod ava;
pub mod clustering;

use std::collections::BTreeSet;

use serde::Serialize;

/// Top-k accuracy for each k in `ks`: a sample is a hit when its label is among the k highest
/// scores. Ties are broken as numpy's ascending `argsort` then "last k" does on small rows (a
/// stable sort): of equal scores the later class ranks higher. `scores` is (N, C), row-major.
///
/// # Panics
/// `scores.len() != labels.len()`.
pub fn top_k_accuracy(scores: &[Vec<f32>], labels: &[usize], ks: &[usize]) -> Vec<f64> {
    assert_eq!(scores.len(), labels.len(), "one score row per label");
    let n = labels.len().max(1) as f64;
    ks.iter()
        .map(|&k| {
            let hits = scores
                .iter()
                .zip(labels)
                .filter(|(row, &label)| {
                    let mut order: Vec<usize> = (0..row.len()).collect();
                    order.sort_by(|&a, &b| row[a].total_cmp(&row[b])); // stable, ascending
                    order.iter().rev().take(k).any(|&c| c == label)
                })
                .count();
            hits as f64 / n
        })
        .collect()
}

/// Index of the first maximum of `row` (numpy `argmax`).
pub fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// The confusion matrix over the label set S = sorted unique(preds ∪ labels): `matrix[i][j]` counts
/// samples of true label `S[i]` predicted as `S[j]`. Returns (S, matrix).
pub fn confusion_matrix(preds: &[usize], labels: &[usize]) -> (Vec<usize>, Vec<Vec<u64>>) {
    let set: Vec<usize> = preds.iter().chain(labels).copied().collect::<BTreeSet<_>>().into_iter().collect();
    let pos = |x: usize| set.binary_search(&x).expect("in the set");
    let mut m = vec![vec![0u64; set.len()]; set.len()];
    for (&p, &t) in preds.iter().zip(labels) {
        m[pos(t)][pos(p)] += 1;
    }
    (set, m)
}

/// Accuracy of each label in S (see [`confusion_matrix`]): the diagonal over the row sum, 0.0 for
/// a row sum of 0 (a label only ever predicted). `matrix` is S×S, rows true labels.
pub fn per_class_accuracy(matrix: &[Vec<u64>]) -> Vec<f64> {
    matrix
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let total: u64 = row.iter().sum();
            if total == 0 {
                0.0
            } else {
                row[i] as f64 / total as f64
            }
        })
        .collect()
}

/// Mean class accuracy: predictions by [`argmax`]; the mean over S of [`per_class_accuracy`].
pub fn mean_class_accuracy(scores: &[Vec<f32>], labels: &[usize]) -> f64 {
    let preds: Vec<usize> = scores.iter().map(|r| argmax(r)).collect();
    let per = per_class_accuracy(&confusion_matrix(&preds, labels).1);
    if per.is_empty() {
        return 0.0;
    }
    per.iter().sum::<f64>() / per.len() as f64
}

/// mmaction2 `average_clips`: how a video's V view scores become one score vector (`prob`,
/// `score`, `sigmoid` or `sigmoid_max` in YAML).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AverageClips {
    /// Mean of the softmax of each view (applied even for one view); mmaction2's default.
    #[default]
    Prob,
    /// Mean of the raw scores.
    Score,
    /// Mean of the sigmoid of each view: multi-label heads (mmaction2 1.x `average_clips='sigmoid'`).
    Sigmoid,
    /// Maximum over the views of each class's sigmoid: PySlowFast's Charades test
    /// (`DATA.ENSEMBLE_METHOD: max` over the sigmoid head's outputs).
    SigmoidMax,
}

impl AverageClips {
    /// Whether the scores are per-class sigmoids (multi-label), not a distribution.
    pub fn is_sigmoid(self) -> bool {
        matches!(self, AverageClips::Sigmoid | AverageClips::SigmoidMax)
    }

    /// The YAML / flag name.
    pub fn name(self) -> &'static str {
        match self {
            AverageClips::Prob => "prob",
            AverageClips::Score => "score",
            AverageClips::Sigmoid => "sigmoid",
            AverageClips::SigmoidMax => "sigmoid_max",
        }
    }
}

impl std::str::FromStr for AverageClips {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [AverageClips::Prob, AverageClips::Score, AverageClips::Sigmoid, AverageClips::SigmoidMax]
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown average_clips {s:?}: prob, score, sigmoid or sigmoid_max"))
    }
}

/// Averages the (V, C) `views` of one video into C scores.
///
/// # Panics
/// No views.
pub fn average_clips(views: &[Vec<f32>], mode: AverageClips) -> Vec<f32> {
    assert!(!views.is_empty(), "a video has at least one view");
    // Each view's scores as the mode reads them, then the mean (or, sigmoid_max, the maximum).
    let per_view = |v: &[f32]| -> Vec<f64> {
        match mode {
            AverageClips::Score => v.iter().map(|&x| x as f64).collect(),
            AverageClips::Sigmoid | AverageClips::SigmoidMax => v.iter().map(|&x| 1.0 / (1.0 + (-(x as f64)).exp())).collect(),
            AverageClips::Prob => {
                let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let exp: Vec<f64> = v.iter().map(|&x| (x as f64 - max).exp()).collect();
                let sum: f64 = exp.iter().sum();
                exp.iter().map(|e| e / sum).collect()
            }
        }
    };
    let scored = views.iter().map(|v| per_view(v));
    if mode == AverageClips::SigmoidMax {
        let max = scored.reduce(|a, b| a.iter().zip(&b).map(|(x, y)| x.max(*y)).collect()).expect("at least one view");
        return max.into_iter().map(|x| x as f32).collect();
    }
    let sum = scored.reduce(|a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect()).expect("at least one view");
    sum.into_iter().map(|x| (x / views.len() as f64) as f32).collect()
}

/// Average precision of one class: `scores` of N samples, `truth` whether each is a positive.
/// mmaction2 `binary_precision_recall_curve` + `-sum(diff(recall) · precision[:-1])`: samples by
/// descending score, tied scores one threshold; AP = Σ over thresholds up to full recall of
/// (recall gained) × precision there. `None` without positives (mmaction2's NaN).
pub fn average_precision(scores: &[f32], truth: &[bool]) -> Option<f64> {
    let positives = truth.iter().filter(|&&t| t).count();
    if positives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut ap, mut recall) = (0usize, 0usize, 0f64, 0f64);
    let mut i = 0;
    while i < order.len() && tp < positives {
        // One threshold: every sample of this score.
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            tp += truth[order[i]] as usize;
            seen += 1;
            i += 1;
        }
        let r = tp as f64 / positives as f64;
        ap += (r - recall) * tp as f64 / seen as f64;
        recall = r;
    }
    Some(ap)
}

/// mmaction2 `mean_average_precision`: per class (column of the (N, C) `scores`), the
/// [`average_precision`] over the N samples, a sample being a positive when the class is among
/// its `labels`; classes without positives are skipped; the mean of the rest. NaN when no class
/// has a positive.
pub fn mean_average_precision(scores: &[Vec<f32>], labels: &[Vec<usize>]) -> f64 {
    let c = scores.first().map_or(0, Vec::len);
    let aps: Vec<f64> = (0..c)
        .filter_map(|j| {
            let col: Vec<f32> = scores.iter().map(|r| r[j]).collect();
            let truth: Vec<bool> = labels.iter().map(|l| l.contains(&j)).collect();
            average_precision(&col, &truth)
        })
        .collect();
    if aps.is_empty() {
        return f64::NAN;
    }
    aps.iter().sum::<f64>() / aps.len() as f64
}

/// The evaluation keys mmaction2 0.x reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Fraction of samples whose label is the top score.
    pub top1_acc: f64,
    /// Fraction of samples whose label is among the 5 top scores.
    pub top5_acc: f64,
    /// Mean over the label set of the per-class accuracy.
    pub mean_class_accuracy: f64,
    /// Label set S of the confusion matrix.
    pub labels: Vec<usize>,
    /// Rows true label, columns prediction, over S.
    pub confusion_matrix: Vec<Vec<u64>>,
}

/// All metrics for per-video `scores` (already clip-averaged) and `labels`.
pub fn evaluate(scores: &[Vec<f32>], labels: &[usize]) -> Evaluation {
    let top = top_k_accuracy(scores, labels, &[1, 5]);
    let preds: Vec<usize> = scores.iter().map(|r| argmax(r)).collect();
    let (set, cm) = confusion_matrix(&preds, labels);
    Evaluation {
        top1_acc: top[0],
        top5_acc: top[1],
        mean_class_accuracy: mean_class_accuracy(scores, labels),
        labels: set,
        confusion_matrix: cm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> (Vec<Vec<f32>>, Vec<usize>) {
        (vec![vec![0.7, 0.2, 0.1], vec![0.6, 0.3, 0.1], vec![0.1, 0.3, 0.6], vec![0.2, 0.5, 0.3]], vec![0, 1, 2, 2])
    }

    #[test]
    fn semantics_example() {
        let (s, l) = example();
        assert_eq!(top_k_accuracy(&s, &l, &[1, 2]), vec![0.5, 1.0]);
        let preds: Vec<usize> = s.iter().map(|r| argmax(r)).collect();
        assert_eq!(confusion_matrix(&preds, &l).1, vec![vec![1, 0, 0], vec![1, 0, 0], vec![0, 1, 1]]);
        assert_eq!(mean_class_accuracy(&s, &l), 0.5);
        let e = evaluate(&s, &l);
        assert_eq!((e.top1_acc, e.top5_acc), (0.5, 1.0));
    }

    #[test]
    fn mean_class_accuracy_counts_predicted_only_labels_as_zero() {
        let one_hot = |c: usize| (0..4).map(|j| if j == c { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
        // Labels [0,0], preds [0,1] → S = {0,1}: (0.5 + 0.0) / 2.
        assert_eq!(mean_class_accuracy(&[one_hot(0), one_hot(1)], &[0, 0]), 0.25);
        // Labels [3,0,0], preds [3,0,3] → S = {0,3}: (0.5 + 1.0) / 2.
        assert_eq!(mean_class_accuracy(&[one_hot(3), one_hot(0), one_hot(3)], &[3, 0, 0]), 0.75);
    }

    #[test]
    fn ties_argmax_first_topk_last() {
        let s = vec![vec![0.5, 0.5, 0.0]];
        assert_eq!(argmax(&s[0]), 0);
        assert_eq!(top_k_accuracy(&s, &[1], &[1]), vec![1.0]);
        assert_eq!(top_k_accuracy(&s, &[0], &[1]), vec![0.0]);
    }

    /// Worked examples computed with mmaction2's own `mean_average_precision` in NumPy.
    #[test]
    fn mean_average_precision_examples() {
        // Class 0: scores .9 .8 .3 .1, positives the 1st and 3rd → 0.5·1 + 0.5·2/3 = 0.8333;
        // class 1: both positives ranked first → 1.0; class 2 has no positive: skipped.
        let s = vec![vec![0.9, 0.1, 0.3], vec![0.8, 0.7, 0.2], vec![0.3, 0.6, 0.9], vec![0.1, 0.4, 0.5]];
        let l = vec![vec![0], vec![1], vec![0, 1], vec![]];
        assert_eq!(average_precision(&[0.9, 0.8, 0.3, 0.1], &[true, false, true, false]), Some(0.8333333333333333));
        assert!((mean_average_precision(&s, &l) - 0.9166666666666666).abs() < 1e-12);
        // Tied scores are one threshold: class 0 scores .5 .5 .1 with positives 2nd and 3rd →
        // 0.5·0.5 + 0.5·2/3 = 0.58333, whatever the order within the tie.
        let s = vec![vec![0.5, 0.2], vec![0.5, 0.9], vec![0.1, 0.9]];
        let l = vec![vec![1], vec![0], vec![0, 1]];
        assert!((mean_average_precision(&s, &l) - 0.5833333333333333).abs() < 1e-12);
        let swapped = vec![s[1].clone(), s[0].clone(), s[2].clone()];
        assert!((mean_average_precision(&swapped, &[l[1].clone(), l[0].clone(), l[2].clone()]) - 0.5833333333333333).abs() < 1e-12);
        assert!(mean_average_precision(&[vec![0.2], vec![0.1]], &[vec![], vec![]]).is_nan());
    }

    #[test]
    fn sigmoid_clip_aggregation_mean_and_max() {
        let views = vec![vec![0.0, 2.0], vec![2.0, -2.0]];
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mean = average_clips(&views, AverageClips::Sigmoid);
        let max = average_clips(&views, AverageClips::SigmoidMax);
        assert!((mean[0] as f64 - (0.5 + sig(2.0)) / 2.0).abs() < 1e-6 && (mean[1] as f64 - 0.5).abs() < 1e-6, "{mean:?}");
        assert!((max[0] as f64 - sig(2.0)).abs() < 1e-6 && (max[1] as f64 - sig(2.0)).abs() < 1e-6, "{max:?}");
        assert_eq!("sigmoid_max".parse::<AverageClips>(), Ok(AverageClips::SigmoidMax));
    }

    #[test]
    fn clip_averaging_example() {
        let views = vec![vec![2.0, 0.0, 0.0], vec![0.0, 0.0, 0.0]];
        let p = average_clips(&views, AverageClips::Prob);
        for (g, w) in p.iter().zip([0.560160, 0.219920, 0.219920]) {
            assert!((g - w).abs() < 1e-6, "{p:?}");
        }
        assert_eq!(average_clips(&views, AverageClips::Score), vec![1.0, 0.0, 0.0]);
    }
}
