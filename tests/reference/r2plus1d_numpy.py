"""Independent NumPy forward pass of torchvision's R(2+1)D-18 (`r2plus1d_18`) and VMZ's R(2+1)D-34
(eval mode), for the parity tests.

Usage: r2plus1d_numpy.py {18|34} WEIGHTS.safetensors INPUT.f32 N T H W OUT.f32
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


def main():
    global EPS
    depth, wpath, xpath, n, t, h, w, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8]), sys.argv[8]
    EPS = 1e-3 if depth == 34 else 1e-5
    blocks = [3, 4, 6, 3] if depth == 34 else [2, 2, 2, 2]
    p = {k: v.astype(np.float64) for k, v in load_file(wpath).items()}
    x = np.fromfile(xpath, dtype="<f4").reshape(n, 3, t, h, w).astype(np.float64)
    y = relu(bn(conv3d(x, p["stem.0.weight"], (1, 2, 2), (0, 3, 3)), p, "stem.1"))
    y = relu(bn(conv3d(y, p["stem.3.weight"], (1, 1, 1), (1, 0, 0)), p, "stem.4"))
    for layer in range(1, 5):
        for block in range(blocks[layer - 1]):
            pre = f"layer{layer}.{block}"
            s = 2 if layer > 1 and block == 0 else 1
            r = relu(conv2plus1d(y, p, pre + ".conv1", s))
            r = conv2plus1d(r, p, pre + ".conv2", 1)
            if pre + ".downsample.0.weight" in p:
                idn = bn(conv3d(y, p[pre + ".downsample.0.weight"], (s, s, s), (0, 0, 0)), p, pre + ".downsample.1")
            else:
                idn = y
            y = relu(r + idn)
    feats = y.mean(axis=(2, 3, 4))
    logits = feats @ p["fc.weight"].T + p["fc.bias"]
    logits.astype("<f4").tofile(out)


if __name__ == "__main__":
    main()
