"""Independent NumPy forward pass of mmaction2's TSM-ResNet18 (eval mode), for the parity test.

Usage: tsm_numpy.py WEIGHTS.safetensors INPUT.f32 N C H W NUM_SEGMENTS OUT.f32
Reads weights with mmaction2 state_dict names, the input as raw little-endian float32 (N, C, H, W),
and writes the logits (N / NUM_SEGMENTS, num_classes) as raw float32.
Semantics: shared/docs/semantics.md §6 (blockres shift of conv1's input, TSMHead logit averaging).
"""
import sys

import numpy as np
from safetensors.numpy import load_file


def conv2d(x, w, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return np.einsum("nckluv,ockl->nouv", cols, w, optimize=True)


def bn(x, p, prefix):
    g, b = p[prefix + ".weight"], p[prefix + ".bias"]
    m, v = p[prefix + ".running_mean"], p[prefix + ".running_var"]
    s = g / np.sqrt(v + 1e-5)
    return x * s[None, :, None, None] + (b - m * s)[None, :, None, None]


def maxpool(x):
    n, c, h, w = x.shape
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    oh, ow = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(3):
        for j in range(3):
            out = np.maximum(out, x[:, :, i:i + 2 * oh:2, j:j + 2 * ow:2])
    return out


def shift(x, t, div=8):
    nt, c, h, w = x.shape
    x = x.reshape(nt // t, t, c, h, w)
    fold = c // div
    out = np.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]  # frame t takes t+1
    out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]  # frame t takes t-1
    out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
    return out.reshape(nt, c, h, w)


def main():
    wpath, xpath, n, c, h, w, t, out = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:8]), sys.argv[8]
    p = {k: v.astype(np.float64) for k, v in load_file(wpath).items()}
    x = np.fromfile(xpath, dtype="<f4").reshape(n, c, h, w).astype(np.float64)
    y = np.maximum(bn(conv2d(x, p["backbone.conv1.conv.weight"], 2, 3), p, "backbone.conv1.bn"), 0)
    y = maxpool(y)
    for layer in range(1, 5):
        for block in range(2):
            pre = f"backbone.layer{layer}.{block}"
            stride = 2 if layer > 1 and block == 0 else 1
            r = shift(y, t)
            r = np.maximum(bn(conv2d(r, p[pre + ".conv1.net.conv.weight"], stride, 1), p, pre + ".conv1.net.bn"), 0)
            r = bn(conv2d(r, p[pre + ".conv2.conv.weight"], 1, 1), p, pre + ".conv2.bn")
            if pre + ".downsample.conv.weight" in p:
                idn = bn(conv2d(y, p[pre + ".downsample.conv.weight"], stride, 0), p, pre + ".downsample.bn")
            else:
                idn = y
            y = np.maximum(r + idn, 0)
    feats = y.mean(axis=(2, 3))
    logits = feats @ p["cls_head.fc_cls.weight"].T + p["cls_head.fc_cls.bias"]
    logits = logits.reshape(n // t, t, -1).mean(axis=1)
    logits.astype("<f4").tofile(out)


if __name__ == "__main__":
    main()
