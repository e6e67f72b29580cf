#!/usr/bin/env python3
"""The temporal-median rule of CDAR's `slurm/utils/extract_median_by_rawframes.py` (semantics §8),
as that script runs it, in one process: for every folder under SRC holding *.jpg, the sorted
frames (at most MAX_FRAMES, numpy linspace(dtype=int) selection), decoded with PIL, np.median over
time in float64, cast to uint8 by truncation, saved under OUT/<folder relative to SRC>.<ext>.

Usage: median_reference.py SRC OUT [--max-frames 100] [--png]
Used by tests/median.rs (pixel parity with `vpipe median --png`) and scripts/bench_median.sh.
"""
import argparse
import glob
import os

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--max-frames", type=int, default=100)
    ap.add_argument("--png", action="store_true")
    a = ap.parse_args()
    dirs = sorted({os.path.dirname(p) for p in glob.glob(os.path.join(a.src, "**", "*.jpg"), recursive=True)})
    for d in dirs:
        frames = sorted(glob.glob(os.path.join(d, "*.jpg")))
        if a.max_frames and len(frames) > a.max_frames:
            frames = [frames[i] for i in np.linspace(0, len(frames) - 1, a.max_frames, dtype=int)]
        stack = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in frames])
        median = np.median(stack, axis=0).astype(np.uint8)
        rel = os.path.relpath(d, a.src)
        dest = os.path.join(a.out, rel) + (".png" if a.png else ".jpg")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        Image.fromarray(median).save(dest)


if __name__ == "__main__":
    main()
