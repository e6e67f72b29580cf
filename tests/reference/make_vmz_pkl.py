"""Writes a VMZ / Caffe2 R(2+1)D checkpoint (`pickle.dump({'blobs': …})`, protocol 2) from a
.safetensors file with torchvision names, for the converter test.

Usage: make_vmz_pkl.py WEIGHTS.safetensors OUT.pkl
Blob names follow VMZ's model builder (lib/models/r3d_model.py) as ig65m-pytorch reads them; the
residual blocks are numbered across stages (comp_0 … comp_15 for depth 34). Solver blobs
(`*_momentum`, `lr`, `model_iter`) are added as a training snapshot has them.
"""
import pickle
import re
import sys

import numpy as np
from safetensors.numpy import load_file

BN = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}


def main():
    w = load_file(sys.argv[1])
    per_layer = {}
    for k in w:
        m = re.match(r"layer(\d)\.(\d+)\.", k)
        if m:
            per_layer[int(m[1])] = max(per_layer.get(int(m[1]), 0), int(m[2]) + 1)
    first = {layer: sum(per_layer[x] for x in range(1, layer)) for layer in per_layer}
    blobs = {}
    for k, v in w.items():
        *mod, leaf = k.split(".")
        mod = ".".join(mod)
        if mod == "fc":
            name = f"last_out_L{v.shape[0]}_{'w' if leaf == 'weight' else 'b'}"
        elif mod.startswith("stem."):
            base = {"stem.0": "conv1_middle", "stem.1": "conv1_middle_spatbn_relu", "stem.3": "conv1", "stem.4": "conv1_spatbn_relu"}[mod]
            name = base + ("_w" if mod in ("stem.0", "stem.3") else "_" + BN[leaf])
        else:
            m = re.match(r"layer(\d)\.(\d+)\.(.*)", mod)
            i = first[int(m[1])] + int(m[2])
            rest = m[3]
            table = {
                "conv1.0.0": f"comp_{i}_conv_1_middle_w", "conv2.0.0": f"comp_{i}_conv_2_middle_w",
                "conv1.0.3": f"comp_{i}_conv_1_w", "conv2.0.3": f"comp_{i}_conv_2_w",
                "downsample.0": f"shortcut_projection_{i}_w",
            }
            bns = {
                "conv1.0.1": f"comp_{i}_spatbn_1_middle", "conv2.0.1": f"comp_{i}_spatbn_2_middle",
                "conv1.1": f"comp_{i}_spatbn_1", "conv2.1": f"comp_{i}_spatbn_2",
                "downsample.1": f"shortcut_projection_{i}_spatbn",
            }
            name = table[rest] if rest in table else f"{bns[rest]}_{BN[leaf]}"
        blobs[name] = np.asarray(v, dtype=np.float32)
        if name.endswith("_w"):
            blobs[name + "_momentum"] = np.zeros_like(blobs[name])
    blobs["lr"] = np.array([0.01], dtype=np.float32)
    blobs["model_iter"] = np.array([1000], dtype=np.int64)
    with open(sys.argv[2], "wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)


if __name__ == "__main__":
    main()
