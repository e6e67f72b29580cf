#!/usr/bin/env python3
"""Train a model vpipe does not implement with vpipe's loader under a plain PyTorch loop.

vpipe.Loader replaces DataLoader + decord/torchcodec + DistributedSampler: it decodes, samples
(mmaction2 SampleFrames) and augments in its own threads and hands NCTHW float32 batches to the
loop. The same script runs alone or under torchrun (DDP, one process per rank; gloo on CPUs,
NCCL on GPUs):

    .venv/bin/python examples/train_torch.py --epochs 3
    .venv/bin/torchrun --nproc_per_node 2 examples/train_torch.py --epochs 2

Models: `tiny_timesformer` (default: a divided space-time attention transformer, TimeSformer's
block, small enough for a CPU) or torchvision's `r2plus1d_18` (from scratch). Data: an
mmaction2 video list (`path label` lines) and its root, default the mini dataset in
../shared/data. Each rank prints one JSON line per epoch and, with --json-out, writes its
totals to JSON_OUT.rank<R>.json.
"""

import argparse
import json
import math
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

import vpipe

NORM = {"type": "Normalize", "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_bgr": False}


def pipeline(args) -> dict:
    """mmaction2's R(2+1)D/TimeSformer clip pipeline (SampleFrames → Resize → RandomResizedCrop
    → Resize → Flip → Normalize → NCTHW), as a dict: a pipeline file's content works the same."""
    return {
        "seed": args.seed,
        "data": {"train": {
            "source": {"type": "VideoList", "ann_file": args.list, "root": args.root},
            "pipeline": [
                {"type": "SampleFrames", "clip_len": args.clip_len, "frame_interval": 4, "num_clips": 1},
                {"type": "DecordDecode"},
                {"type": "Resize", "scale": [-1, int(args.size * 1.15)]},
                {"type": "RandomResizedCrop"},
                {"type": "Resize", "scale": [args.size, args.size], "keep_ratio": False},
                {"type": "Flip", "flip_ratio": 0.5},
                NORM,
                {"type": "FormatShape", "input_format": "NCTHW"},
            ],
            "batch_size": args.batch_size,
            "workers": args.workers,
        }},
    }


class DividedBlock(nn.Module):
    """TimeSformer's divided space-time block: temporal attention, spatial attention, MLP."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm_t, self.attn_t = nn.LayerNorm(dim), nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_s, self.attn_s = nn.LayerNorm(dim), nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_m = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):  # (B, T, P, D)
        b, t, p, d = x.shape
        xt = x.permute(0, 2, 1, 3).reshape(b * p, t, d)
        h = self.norm_t(xt)
        xt = xt + self.attn_t(h, h, h, need_weights=False)[0]
        xs = xt.reshape(b, p, t, d).permute(0, 2, 1, 3).reshape(b * t, p, d)
        h = self.norm_s(xs)
        xs = xs + self.attn_s(h, h, h, need_weights=False)[0]
        xs = xs + self.mlp(self.norm_m(xs))
        return xs.reshape(b, t, p, d)


class TinyTimeSformer(nn.Module):
    """Patch embedding (16² patches per frame) + divided space-time blocks + mean pool + head;
    input NCTHW (B, 3, T, H, W)."""

    def __init__(self, num_classes, frames, size, dim=96, depth=2, heads=4, patch=16):
        super().__init__()
        self.embed = nn.Conv3d(3, dim, (1, patch, patch), (1, patch, patch))
        self.pos = nn.Parameter(torch.zeros(1, frames, (size // patch) ** 2, dim))
        self.blocks = nn.Sequential(*[DividedBlock(dim, heads) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, x):
        x = self.embed(x).flatten(3).permute(0, 2, 3, 1)  # (B, T, P, D)
        x = self.blocks(x + self.pos)
        return self.head(self.norm(x.mean(dim=(1, 2))))


def build_model(args, num_classes):
    if args.model == "r2plus1d_18":
        import torchvision
        return torchvision.models.video.r2plus1d_18(weights=None, num_classes=num_classes)
    return TinyTimeSformer(num_classes, args.clip_len, args.size)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = os.environ.get("VPIPE_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    ap.add_argument("--list", default=os.path.join(data, "mini", "mini_videos.txt"))
    ap.add_argument("--root", default=os.path.join(data, "mini", "videos"))
    ap.add_argument("--num-classes", type=int, default=5)
    ap.add_argument("--model", choices=["tiny_timesformer", "r2plus1d_18"], default="tiny_timesformer")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="vpipe loader threads per rank")
    ap.add_argument("--clip-len", type=int, default=8)
    ap.add_argument("--size", type=int, default=112, help="crop side, pixels")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json-out", help="write this rank's totals to JSON_OUT.rank<R>.json")
    args = ap.parse_args()

    distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
    if distributed:
        dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    if args.device == "cpu":
        # vpipe's threads decode; one libtorch thread per rank leaves them the cores.
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // int(os.environ.get("WORLD_SIZE", 1)) // 2))
    torch.manual_seed(args.seed)

    loader = vpipe.Loader(pipeline(args), split="train", device=args.device)  # rank, world_size: torch.distributed's
    device = loader.device
    model = build_model(args, args.num_classes).to(device)
    if distributed:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total_steps = args.epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))

    rank = loader.rank
    steps, epoch_losses = 0, []
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)
        model.train()
        t0, losses = time.time(), []
        for batch in loader:
            loss = F.cross_entropy(model(batch.inputs), batch.labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            steps += 1
        epoch_losses.append(sum(losses) / max(1, len(losses)))
        print(json.dumps({"rank": rank, "epoch": epoch + 1, "steps": len(losses), "loss": round(epoch_losses[-1], 4),
                          "seconds": round(time.time() - t0, 2), "failures": len(loader.failures)}), flush=True)

    summary = loader.summary() or {}
    totals = {"rank": rank, "world_size": loader.world_size, "steps": steps, "batches_per_epoch": len(loader),
              "epoch_losses": epoch_losses, "failures": loader.failures,
              "bottleneck": summary.get("bottleneck"), "decoded_per_kept": summary.get("decoded_per_kept")}
    for f in loader.failures:
        print(f"rank {rank}: replaced {f['path']}: {f['message']}", flush=True)
    if args.json_out:
        with open(f"{args.json_out}.rank{rank}.json", "w") as f:
            json.dump(totals, f)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
