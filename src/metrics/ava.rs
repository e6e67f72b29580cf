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

/// `np.argsort(v)` (default `kind='quicksort'`) as NumPy before 1.25 computes it for float64
/// (`npysort/quicksort.cpp`, `aquicksort_`: introsort — median-of-3 quicksort, insertion sort
/// below 16 elements, heapsort past a depth of 2·log2 n; NaN last). Its order of equal values is
/// not stable, and the evaluator's AP depends on it wherever scores tie (AVA's CSV scores have 4
/// decimals), so it is reproduced step for step. (NumPy ≥ 1.25 may dispatch to SIMD sorts; the
/// evaluator needs NumPy < 1.24 for its `np.float`.)
pub fn numpy_argsort(v: &[f64]) -> Vec<usize> {
    const SMALL_QUICKSORT: usize = 15;
    let less = |a: f64, b: f64| a < b || (b.is_nan() && !a.is_nan());
    let mut t: Vec<usize> = (0..v.len()).collect();
    if v.len() < 2 {
        return t;
    }
    let mut stack: Vec<(usize, usize, i64)> = Vec::new();
    let (mut pl, mut pr) = (0usize, v.len() - 1);
    let mut cdepth = 2 * (usize::BITS - 1 - v.len().leading_zeros()) as i64;
    loop {
        if cdepth < 0 {
            heapsort(v, &mut t[pl..=pr], less);
        } else {
            while pr - pl > SMALL_QUICKSORT {
                let pm = pl + ((pr - pl) >> 1);
                if less(v[t[pm]], v[t[pl]]) {
                    t.swap(pm, pl);
                }
                if less(v[t[pr]], v[t[pm]]) {
                    t.swap(pr, pm);
                }
                if less(v[t[pm]], v[t[pl]]) {
                    t.swap(pm, pl);
                }
                let vp = v[t[pm]];
                let (mut pi, mut pj) = (pl, pr - 1);
                t.swap(pm, pj);
                loop {
                    pi += 1;
                    while less(v[t[pi]], vp) {
                        pi += 1;
                    }
                    pj -= 1;
                    while less(vp, v[t[pj]]) {
                        pj -= 1;
                    }
                    if pi >= pj {
                        break;
                    }
                    t.swap(pi, pj);
                }
                t.swap(pi, pr - 1);
                // The larger part waits on the stack.
                cdepth -= 1;
                if pi - pl < pr - pi {
                    stack.push((pi + 1, pr, cdepth));
                    pr = pi - 1;
                } else {
                    stack.push((pl, pi - 1, cdepth));
                    pl = pi + 1;
                }
            }
            for pi in pl + 1..=pr {
                let vi = t[pi];
                let mut pj = pi;
                while pj > pl && less(v[vi], v[t[pj - 1]]) {
                    t[pj] = t[pj - 1];
                    pj -= 1;
                }
                t[pj] = vi;
            }
        }
        match stack.pop() {
            Some((l, r, d)) => (pl, pr, cdepth) = (l, r, d),
            None => return t,
        }
    }
}

/// NumPy's `aheapsort_` of the indices `a` by `v`.
fn heapsort(v: &[f64], a: &mut [usize], less: impl Fn(f64, f64) -> bool) {
    // 1-based heap indexing, as NumPy's.
    let mut n = a.len();
    let at = |a: &[usize], i: usize| a[i - 1];
    let sift = |a: &mut [usize], mut i: usize, n: usize, tmp: usize| {
        let mut j = i << 1;
        while j <= n {
            if j < n && less(v[at(a, j)], v[at(a, j + 1)]) {
                j += 1;
            }
            if less(v[tmp], v[at(a, j)]) {
                a[i - 1] = a[j - 1];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        a[i - 1] = tmp;
    };
    for l in (1..=n >> 1).rev() {
        let tmp = a[l - 1];
        sift(a, l, n, tmp);
    }
    while n > 1 {
        let tmp = a[n - 1];
        a[n - 1] = a[0];
        n -= 1;
        sift(a, 1, n, tmp);
    }
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
    // The evaluator concatenates each class's detections image by image, images in the order
    // they were first added (`dict` order of the CSV's keys).
    let mut rank: HashMap<&str, usize> = HashMap::new();
    for (k, ..) in det {
        let next = rank.len();
        rank.entry(k.as_str()).or_insert(next);
    }
    let mut order: Vec<&Detection> = det.iter().collect();
    order.sort_by_key(|d| rank[d.0.as_str()]); // stable: detection order within an image
                                               // Per (frame, class), greedy matching in detection order.
    let mut matched: HashMap<(&str, usize), Vec<bool>> = HashMap::new();
    let mut scored: HashMap<usize, Vec<(f64, bool)>> = HashMap::new();
    for (k, b, c, s) in order {
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
        let d = scored.remove(&c).unwrap_or_default();
        // np.argsort(scores)[::-1]: descending score, ties in the order numpy's sort leaves them.
        let scores: Vec<f64> = d.iter().map(|x| x.0).collect();
        let (mut tp, mut fp) = (0usize, 0usize);
        let (mut precision, mut recall) = (Vec::new(), Vec::new());
        for hit in numpy_argsort(&scores).into_iter().rev().map(|i| d[i].1) {
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
