"""Reference Charades mAP for vpipe (src/metrics/mod.rs `mean_average_precision`, tests/charades_map.rs):
PySlowFast's `get_map` as SEVERE ships it (slowfast/utils/meters.py): classes without a positive are
dropped, then scikit-learn's `average_precision_score(labels, preds, average=None)`, then the mean.

    .venv/bin/python tests/reference/make_charades_map_fixture.py tests/fixtures/charades/map.json

Fixture: 4 cases of (videos, classes) sigmoid-like scores — distinct, and rounded to 2 decimals
(ties) — with multi-hot labels, some classes all-negative.
"""
import json
import sys

import numpy as np
from sklearn.metrics import average_precision_score


def get_map(preds, labels):
    # slowfast/utils/meters.py get_map, verbatim but for logging.
    preds = preds[:, ~(np.all(labels == 0, axis=0))]
    labels = labels[:, ~(np.all(labels == 0, axis=0))]
    aps = [0]
    try:
        aps = average_precision_score(labels, preds, average=None)
    except ValueError:
        print("Average precision requires a sufficient number of samples in a batch which are missing in this sample.")
    return float(np.mean(aps))


def case(rng, n, c, decimals):
    preds = rng.random((n, c)).astype(np.float32)
    if decimals is not None:
        preds = np.round(preds, decimals).astype(np.float32)
    labels = (rng.random((n, c)) < 0.2).astype(int)
    labels[:, 0] = 0  # a class without positives
    return {"scores": preds.tolist(), "labels": [np.flatnonzero(r).tolist() for r in labels], "map": get_map(preds.astype(np.float64), labels)}


def main(out):
    rng = np.random.default_rng(20261206)
    cases = [case(rng, 40, 6, None), case(rng, 200, 12, 2), case(rng, 15, 157, 1), case(rng, 60, 5, 1)]
    json.dump({"cases": cases}, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1])
