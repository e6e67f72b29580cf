//! AVA frame-level mAP at IoU 0.5: the ActivityNet AVA evaluator (PASCAL VOC metric) as
//! PySlowFast's `ava_eval_helper` runs it (`slowfast/utils/ava_evaluation/`, as SEVERE ships it;
//! semantics §12). Per frame and class, detections are matched in the order given (the
//! evaluator's copy has no NMS, so no re-sorting) to the ground-truth box of highest IoU, each
//! ground-truth box at most once; a class's detections over all frames, sorted by score, give
//! precision and recall; AP is VOC's all-point area under the interpolated curve; mAP is the
//! mean over classes with ground truth. Boxes are `[y1, x1, y2, x2]` (any units).

use std::collections::{BTreeMap, HashMap};

/// One ground-truth box: frame key (`video,second`), box, class.
pub type GroundTruth = (String, [f64; 4], usize);
/// One detection: frame key, box, class, score.
pub type Detection = (String, [f64; 4], usize, f64);

/// IoU of two `[y1, x1, y2, x2]` boxes (`np_box_ops.iou`: areas without +1).
fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let area = |x: &[f64; 4]| (x[2] - x[0]) * (x[3] - x[1]);
    let ih = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iw = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ih * iw;
    inter / (area(a) + area(b) - inter)
}

/// VOC all-point average precision of `precision`/`recall` (`metrics.compute_average_precision`).
fn average_precision(precision: &[f64], recall: &[f64]) -> f64 {
    if precision.is_empty() {
        return 0.0;
    }
    let r: Vec<f64> = std::iter::once(0.0).chain(recall.iter().copied()).chain([1.0]).collect();
    let mut p: Vec<f64> = std::iter::once(0.0).chain(precision.iter().copied()).chain([0.0]).collect();
    for i in (0..p.len() - 1).rev() {
        p[i] = p[i].max(p[i + 1]);
    }
    (1..r.len()).filter(|&i| r[i] != r[i - 1]).map(|i| (r[i] - r[i - 1]) * p[i]).sum()
}

/// Frame mAP at `iou_threshold` over `classes`; returns the mean and each class's AP (`None`
/// for a class without ground truth, left out of the mean).
pub fn frame_map(gt: &[GroundTruth], det: &[Detection], classes: &[usize], iou_threshold: f64) -> (f64, BTreeMap<usize, Option<f64>>) {
    let mut gt_boxes: HashMap<(&str, usize), Vec<[f64; 4]>> = HashMap::new();
    let mut num_gt: HashMap<usize, usize> = HashMap::new();
    for (k, b, c) in gt {
        gt_boxes.entry((k.as_str(), *c)).or_default().push(*b);
        *num_gt.entry(*c).or_default() += 1;
    }
    // Per (frame, class), greedy matching in detection order.
    let mut matched: HashMap<(&str, usize), Vec<bool>> = HashMap::new();
    let mut scored: HashMap<usize, Vec<(f64, bool)>> = HashMap::new();
    for (k, b, c, s) in det {
        let boxes = gt_boxes.get(&(k.as_str(), *c)).map_or(&[][..], Vec::as_slice);
        let used = matched.entry((k.as_str(), *c)).or_insert_with(|| vec![false; boxes.len()]);
        // numpy argmax: the first of the highest IoUs.
        let best = boxes.iter().map(|g| iou(b, g)).enumerate().fold(None, |acc: Option<(usize, f64)>, (i, v)| match acc {
            Some((_, m)) if m >= v => acc,
            _ => Some((i, v)),
        });
        let tp = match best {
            Some((i, v)) if v >= iou_threshold && !used[i] => {
                used[i] = true;
                true
            }
            _ => false,
        };
        scored.entry(*c).or_default().push((*s, tp));
    }
    let mut per_class = BTreeMap::new();
    for &c in classes {
        let n = num_gt.get(&c).copied().unwrap_or(0);
        if n == 0 {
            per_class.insert(c, None);
            continue;
        }
        let mut d = scored.remove(&c).unwrap_or_default();
        // np.argsort(scores)[::-1]: descending score.
        d.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut tp, mut fp) = (0usize, 0usize);
        let (mut precision, mut recall) = (Vec::new(), Vec::new());
        for (_, hit) in d {
            if hit {
                tp += 1;
            } else {
                fp += 1;
            }
            precision.push(tp as f64 / (tp + fp) as f64);
            recall.push(tp as f64 / n as f64);
        }
        per_class.insert(c, Some(average_precision(&precision, &recall)));
    }
    let aps: Vec<f64> = per_class.values().flatten().copied().collect();
    let mean = if aps.is_empty() { f64::NAN } else { aps.iter().sum::<f64>() / aps.len() as f64 };
    (mean, per_class)
}
