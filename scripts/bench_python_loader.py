#!/usr/bin/env python3
"""vpipe.Loader's side of scripts/bench_python_loader.sh: EPOCHS epochs of a pipeline file's
train split, consumed by the same loop as scripts/bench_loader_peer.py's (it touches every
batch), printing one JSON line per epoch: clips, seconds, clips/s, and the process's RSS after
the epoch (KiB)."""
import argparse
import json
import time

import torch

import vpipe


def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epoch", type=int, default=0, help="first epoch")
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    loader = vpipe.Loader(a.pipeline, split="train", workers=a.workers)
    for e in range(a.epoch, a.epoch + a.epochs):
        loader.set_epoch(e)
        t = time.perf_counter()
        clips, touched = 0, 0.0
        for b in loader:
            clips += len(b.indices)
            touched += float(b.inputs.view(-1)[::4096].sum())
        secs = time.perf_counter() - t
        print(json.dumps({"lib": "vpipe.Loader", "epoch": e, "clips": clips, "seconds": round(secs, 3),
                          "clips_per_s": round(clips / secs, 2), "rss_kib": rss_kib()}), flush=True)


if __name__ == "__main__":
    main()
