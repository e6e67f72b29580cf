#!/usr/bin/env python3
"""The temporal-median rule of CDAR's `slurm/utils/extract_median_by_rawframes.py` (semantics §8),
as that script runs it, in one process: for every folder under SRC holding *.jpg, the sorted
frames (at most MAX_FRAMES, numpy linspace(dtype=int) selection), decoded with PIL, np.median over
time in float64, cast to uint8 by truncation, saved under OUT/<folder relative to SRC>.<ext>.

With --segments LIST (CDAR `extract_median_ek100.py`): one image per line `path start length label`,
over frames SRC/<path>/<tmpl.format(n)> for n = start..start+length, saved as
OUT/<video_id>/<start>_<start+length>.<ext>.

Usage: median_reference.py SRC OUT [--max-frames 100] [--png] [--segments LIST [--filename-tmpl T]]
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
    ap.add_argument("--segments")
    ap.add_argument("--filename-tmpl", default="frame_{:010d}.jpg")
    a = ap.parse_args()
    ext = ".png" if a.png else ".jpg"
    if a.segments:
        for line in open(a.segments):
            if not line.strip():
                continue
            path, start, length = line.split()[:3]
            start, end = int(start), int(start) + int(length)
            frames = [os.path.join(a.src, path, a.filename_tmpl.format(n)) for n in range(start, end + 1)]
            save(median_of(frames, a.max_frames), os.path.join(a.out, os.path.basename(path), f"{start}_{end}{ext}"))
        return
    dirs = sorted({os.path.dirname(p) for p in glob.glob(os.path.join(a.src, "**", "*.jpg"), recursive=True)})
    for d in dirs:
        frames = sorted(glob.glob(os.path.join(d, "*.jpg")))
        save(median_of(frames, a.max_frames), os.path.join(a.out, os.path.relpath(d, a.src)) + ext)


def median_of(frames, max_frames):
    if max_frames and len(frames) > max_frames:
        frames = [frames[i] for i in np.linspace(0, len(frames) - 1, max_frames, dtype=int)]
    stack = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in frames])
    return np.median(stack, axis=0).astype(np.uint8)


def save(median, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    Image.fromarray(median).save(dest)


if __name__ == "__main__":
    main()
