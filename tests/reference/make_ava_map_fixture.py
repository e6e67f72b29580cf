"""Reference frame-mAP@0.5 for vpipe's AVA evaluator (src/metrics/ava.rs, tests/ava_map.rs): the
ActivityNet AVA evaluator as SEVERE's PySlowFast ships it (slowfast/utils/ava_evaluation/ of
fmthoker/SEVERE-BENCHMARK at 2f99365, copied verbatim into tests/reference/ava_evaluation/),
driven as PySlowFast's ava_eval_helper drives it: `PascalDetectionEvaluator`, boxes [y1, x1, y2, x2],
1-based classes. It needs NumPy < 1.24 (its metrics.py uses `np.float`):

    /tmp/imgaug-venv/bin/python tests/reference/make_ava_map_fixture.py tests/fixtures/ava/reference.json

Fixture: 5 cases of random frames, ground-truth boxes per class, and detections (jittered copies of
ground truth, duplicates and false positives) with random scores in a random order — distinct in the
first three, rounded (tied) in the last two; and np.argsort of tied arrays (NumPy 1.23's introsort).
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from ava_evaluation import object_detection_evaluation, standard_fields  # noqa: E402


def case(rng, frames, classes, decimals=None):
    gt, det = [], []
    for f in range(frames):
        key = f"video{f // 4},{900 + f % 4:04d}"
        for _ in range(rng.integers(0, 4)):
            y1, x1 = rng.random(2) * 0.7
            h, w = 0.1 + rng.random(2) * 0.3
            box = [y1, x1, min(y1 + h, 1.0), min(x1 + w, 1.0)]
            for c in rng.choice(np.arange(1, classes + 1), rng.integers(1, 3), replace=False):
                gt.append((key, box, int(c)))
                for _ in range(rng.integers(0, 3)):  # 0 to 2 detections of it, jittered
                    j = (rng.random(4) - 0.5) * 0.12
                    det.append((key, [min(max(v + d, 0.0), 1.0) for v, d in zip(box, j)], int(c)))
        for _ in range(rng.integers(0, 3)):  # false positives
            y1, x1 = rng.random(2) * 0.7
            det.append((key, [y1, x1, y1 + 0.2, x1 + 0.2], int(rng.integers(1, classes + 1))))
    order = rng.permutation(len(det))
    scores = rng.permutation(len(det)) / len(det) + rng.random(len(det)) * 1e-3  # distinct
    if decimals is not None:  # AVA CSV scores have 4 decimals: ties, ordered by numpy's argsort
        scores = np.round(scores, decimals)
    det = [(det[i][0], det[i][1], det[i][2], float(scores[n])) for n, i in enumerate(order)]
    categories = [{"id": c, "name": f"action {c}"} for c in range(1, classes + 1)]
    ev = object_detection_evaluation.PascalDetectionEvaluator(categories)
    for key in sorted({g[0] for g in gt}):
        rows = [g for g in gt if g[0] == key]
        ev.add_single_ground_truth_image_info(key, {
            standard_fields.InputDataFields.groundtruth_boxes: np.array([r[1] for r in rows], dtype=float),
            standard_fields.InputDataFields.groundtruth_classes: np.array([r[2] for r in rows], dtype=int),
            standard_fields.InputDataFields.groundtruth_difficult: np.zeros(len(rows), dtype=bool)})
    for key in dict.fromkeys(d[0] for d in det):  # first-seen order, as the helper's dict
        rows = [d for d in det if d[0] == key]
        ev.add_single_detected_image_info(key, {
            standard_fields.DetectionResultFields.detection_boxes: np.array([r[1] for r in rows], dtype=float),
            standard_fields.DetectionResultFields.detection_classes: np.array([r[2] for r in rows], dtype=int),
            standard_fields.DetectionResultFields.detection_scores: np.array([r[3] for r in rows], dtype=float)})
    metrics = ev.evaluate()
    per_class = {k: (None if np.isnan(v) else float(v)) for k, v in metrics.items()}
    return {"classes": classes, "gt": gt, "det": det, "metrics": per_class}


def main(out):
    rng = np.random.default_rng(20261206)
    cases = [case(rng, 12, 5), case(rng, 20, 8), case(rng, 6, 3), case(rng, 80, 3, decimals=1), case(rng, 40, 4, decimals=2)]
    # np.argsort's order of ties (introsort), which the AP follows: arrays of few distinct values.
    arrays = [rng.integers(0, k, n).astype(float) / 4 for n, k in [(10, 3), (17, 2), (40, 5), (300, 7), (1000, 3)]]
    argsort = [{"values": a.tolist(), "order": np.argsort(a).tolist()} for a in arrays]
    json.dump({"cases": cases, "argsort": argsort}, open(out, "w"), indent=0)


if __name__ == "__main__":
    main(sys.argv[1])
