"""Independent NumPy forward pass of torchvision's video ResNets — R(2+1)D-18 (`r2plus1d_18`), VMZ's
R(2+1)D-34, R3D-18, MC3-18 — in eval mode, for the parity tests.

Usage: video_resnet_numpy.py {18|34|r3d|mc3} WEIGHTS.safetensors INPUT.f32 N T H W OUT.f32
Depth 34: [3, 4, 6, 3] blocks and Caffe2's BatchNorm epsilon 1e-3 (mid channels come from the
weights' shapes).
Reads weights with torchvision state_dict names, the input as raw little-endian float32
(N, 3, T, H, W), and writes the logits (N, num_classes) as raw float32.
Architecture (torchvision/models/video/resnet.py): R2Plus1dStem, then 4 stages of 2 BasicBlocks
whose convs are Conv2Plus1D (1x3x3 spatial conv, BN, ReLU, 3x1x1 temporal conv), the stride s of
a stage's first block applied as (1, s, s) by the spatial and (s, 1, 1) by the temporal conv, a
1x1x1 (s, s, s) downsample; global average pool; fc.
"""
import sys

import numpy as np
from safetensors.numpy import load_file

import numpy3d
from numpy3d import conv3d

EPS = 1e-5


def bn(x, p, prefix):
    return numpy3d.bn(x, p, prefix, EPS)


def relu(x):
    return np.maximum(x, 0)


def conv2plus1d(x, p, prefix, s):
    y = relu(bn(conv3d(x, p[prefix + ".0.0.weight"], (1, s, s), (0, 1, 1)), p, prefix + ".0.1"))
    return bn(conv3d(y, p[prefix + ".0.3.weight"], (s, 1, 1), (1, 0, 0)), p, prefix + ".1")


def temporal(p, prefix):
    """Whether a single-conv block convolves in time: a 3x3x3 kernel (Conv3DSimple), not 1x3x3."""
    return p[prefix + ".0.weight"].shape[2] == 3


def single(x, p, prefix, s):
    if temporal(p, prefix):
        return bn(conv3d(x, p[prefix + ".0.weight"], (s, s, s), (1, 1, 1)), p, prefix + ".1")
    return bn(conv3d(x, p[prefix + ".0.weight"], (1, s, s), (0, 1, 1)), p, prefix + ".1")


def main():
    global EPS
    mode, wpath, xpath, n, t, h, w, out = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8]), sys.argv[8]
    EPS = 1e-3 if mode == "34" else 1e-5
    blocks = [3, 4, 6, 3] if mode == "34" else [2, 2, 2, 2]
    factorized = mode in ("18", "34")
    conv = conv2plus1d if factorized else single
    p = {k: v.astype(np.float64) for k, v in load_file(wpath).items()}
    x = np.fromfile(xpath, dtype="<f4").reshape(n, 3, t, h, w).astype(np.float64)
    if factorized:
        y = relu(bn(conv3d(x, p["stem.0.weight"], (1, 2, 2), (0, 3, 3)), p, "stem.1"))
        y = relu(bn(conv3d(y, p["stem.3.weight"], (1, 1, 1), (1, 0, 0)), p, "stem.4"))
    else:  # BasicStem
        y = relu(bn(conv3d(x, p["stem.0.weight"], (1, 2, 2), (1, 3, 3)), p, "stem.1"))
    for layer in range(1, 5):
        for block in range(blocks[layer - 1]):
            pre = f"layer{layer}.{block}"
            s = 2 if layer > 1 and block == 0 else 1
            r = relu(conv(y, p, pre + ".conv1", s))
            r = conv(r, p, pre + ".conv2", 1)
            if pre + ".downsample.0.weight" in p:
                st = 1 if not factorized and not temporal(p, pre + ".conv1") else s
                idn = bn(conv3d(y, p[pre + ".downsample.0.weight"], (st, s, s), (0, 0, 0)), p, pre + ".downsample.1")
            else:
                idn = y
            y = relu(r + idn)
    feats = y.mean(axis=(2, 3, 4))
    logits = feats @ p["fc.weight"].T + p["fc.bias"]
    logits.astype("<f4").tofile(out)


if __name__ == "__main__":
    main()
