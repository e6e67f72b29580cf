#!/usr/bin/env python3
"""The peer of benches/loader.rs in scripts/bench_peers.sh and of vpipe.Loader in
scripts/bench_python_loader.sh: mmaction2 0.x's TSM train pipeline with decord (default) or
torchcodec (`--decoder torchcodec`) decoding, or JPEG rawframes read as mmaction2's
RawFrameDecode reads them (`--decoder rawframes`, an `--ann` of `frame_dir total_frames label`
lines), and OpenCV transforms in a torch DataLoader, one
epoch, consumed by a loop that touches every batch, printing one JSON line (clips, seconds,
clips/s).

Pipeline (tsm_r50_1x1x8 UCF101 train, mmaction2 0.x): SampleFrames(clip_len=1, frame_interval=1,
num_clips=8) train mode, DecordInit(num_threads=1) + DecordDecode, Resize(-1, 256),
MultiScaleCrop(224, scales=(1, .875, .75, .66), random_crop=False, max_wh_scale_gap=1,
num_fixed_crops=13), Resize(224, 224, keep_ratio=False), Flip(0.5), Normalize(ImageNet),
FormatShape(NCHW) — the same steps and parameters as scripts/bench_peers.sh's vpipe pipeline.
"""
import argparse
import json
import random
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def sample_frames(n, num_clips=8):
    """mmaction2 0.x SampleFrames._get_train_clips, clip_len 1."""
    avg = n // num_clips
    if avg > 0:
        return np.arange(num_clips) * avg + np.random.randint(avg, size=num_clips)
    if n > num_clips:
        return np.sort(np.random.randint(n, size=num_clips))
    return np.zeros(num_clips, dtype=int)


def multi_scale_crop(imgs, input_size=224, scales=(1, 0.875, 0.75, 0.66)):
    """mmaction2 0.x MultiScaleCrop, random_crop=False, max_wh_scale_gap=1, 13 fixed crops."""
    h, w = imgs[0].shape[:2]
    sizes = [int(min(h, w) * s) for s in scales]
    cand = [[cw, ch] for i, ch in enumerate(sizes) for j, cw in enumerate(sizes) if abs(i - j) <= 1]
    crop = random.choice(cand)
    crop = [input_size if abs(c - input_size) < 3 else c for c in crop]
    cw, ch = crop
    ws, hs = (w - cw) // 4, (h - ch) // 4
    offs = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs),
            (0, 2 * hs), (4 * ws, 2 * hs), (2 * ws, 4 * hs), (2 * ws, 0),
            (ws, hs), (3 * ws, hs), (ws, 3 * hs), (3 * ws, 3 * hs)]
    x, y = random.choice(offs)
    return [im[y:y + ch, x:x + cw] for im in imgs]


class Videos(Dataset):
    def __init__(self, ann, root, decoder="decord"):
        self.decoder = decoder
        self.items = []
        for line in open(ann):
            if line.strip():
                if decoder == "rawframes":  # mmaction2's rawframe list: frame_dir total_frames label
                    path, total, label = line.split()[:3]
                    self.items.append(((f"{root}/{path}", int(total)), int(label)))
                else:
                    path, label = line.split()[:2]
                    self.items.append((f"{root}/{path}", int(label)))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        if self.decoder == "rawframes":
            # mmaction2 0.x RawFrameDecode (cv2 backend): the file's bytes, mmcv.imfrombytes
            # (cv2.imdecode, BGR), then RGB; frames img_{:05d}.jpg from 1.
            folder, total = path
            imgs = []
            for k in sample_frames(total):
                with open(f"{folder}/img_{int(k) + 1:05d}.jpg", "rb") as f:
                    bgr = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
                imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        elif self.decoder == "torchcodec":
            from torchcodec.decoders import VideoDecoder
            d = VideoDecoder(path, num_ffmpeg_threads=1, dimension_order="NHWC")
            inds = [int(i) for i in sample_frames(d.metadata.num_frames)]
            imgs = list(d.get_frames_at(inds).data.numpy())
        else:
            import decord
            vr = decord.VideoReader(path, num_threads=1)
            imgs = list(vr.get_batch(list(sample_frames(len(vr)))).asnumpy())
        h, w = imgs[0].shape[:2]
        nh, nw = (256, int(w * 256 / h + 0.5)) if h < w else (int(h * 256 / w + 0.5), 256)
        imgs = [cv2.resize(im, (nw, nh), interpolation=cv2.INTER_LINEAR) for im in imgs]
        imgs = multi_scale_crop(imgs)
        imgs = [cv2.resize(im, (224, 224), interpolation=cv2.INTER_LINEAR) for im in imgs]
        if random.random() < 0.5:
            imgs = [np.flip(im, axis=1) for im in imgs]
        x = (np.stack(imgs).astype(np.float32) - MEAN) / STD
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), label


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ann", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--decoder", choices=["decord", "torchcodec", "rawframes"], default="decord")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    loader = DataLoader(Videos(a.ann, a.root, a.decoder), batch_size=a.batch_size, shuffle=True, num_workers=a.workers)
    t = time.perf_counter()
    clips, touched = 0, 0.0
    for x, _ in loader:
        clips += x.shape[0]  # (B, 8, 3, 224, 224): clips first
        touched += float(x.view(-1)[::4096].sum())  # the loop reads every batch
    secs = time.perf_counter() - t
    print(json.dumps({"lib": f"{a.decoder}+opencv DataLoader", "clips": clips, "seconds": round(secs, 3),
                      "clips_per_s": round(clips / secs, 2)}))


if __name__ == "__main__":
    main()
