"""Independent NumPy forward passes of mmaction2's I3D-R50 (`ResNet3d` + `I3DHead`) and
SlowFast-R50 (`ResNet3dSlowFast` + `SlowFastHead`), eval mode, for the parity tests.

Usage: resnet3d_numpy.py {i3d|slowfast} WEIGHTS.safetensors INPUT.f32 N T H W OUT.f32
Reads weights with mmaction2 state_dict names, the input as raw little-endian float32
(N, 3, T, H, W), and writes the logits (N, num_classes) as raw float32. Settings are the configs'
defaults: I3D conv1 5x7x7 stride (2,2,2), pool1 stride t 2, pool2 after layer1, inflate
((1,1,1),(1,0,1,0),(1,0,1,0,1,0),(0,1,0)); SlowFast tau 8, alpha 8, beta 8, fusion kernel 5,
slow conv1 1x7x7 and inflate (0,0,1,1), fast base 8 channels, conv1 5x7x7, every block inflated.
Source: mmaction/models/backbones/resnet3d.py, resnet3d_slowfast.py, heads/slowfast_head.py.
"""
import sys

import numpy as np
from safetensors.numpy import load_file

from numpy3d import bn, conv3d


def conv_module(x, p, prefix, stride, norm=True, relu=True):
    """mmcv ConvModule: conv (padding (k-1)//2), BN, ReLU."""
    w = p[prefix + ".conv.weight"]
    y = conv3d(x, w, stride, tuple((k - 1) // 2 for k in w.shape[2:]))
    if norm:
        y = bn(y, p, prefix + ".bn")
    return np.maximum(y, 0) if relu else y


def maxpool(x, kernel, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0)) + tuple((q, q) for q in pad), constant_values=-np.inf)
    n, c, t, h, w = x.shape
    out_shape = [(d - k) // s + 1 for d, k, s in zip((t, h, w), kernel, stride)]
    out = np.full((n, c, *out_shape), -np.inf)
    for a in range(kernel[0]):
        for i in range(kernel[1]):
            for j in range(kernel[2]):
                out = np.maximum(out, x[:, :, a:a + stride[0] * out_shape[0]:stride[0],
                                        i:i + stride[1] * out_shape[1]:stride[1],
                                        j:j + stride[2] * out_shape[2]:stride[2]])
    return out


def stage(x, p, prefix, blocks, spatial_stride):
    for b in range(blocks):
        pre = f"{prefix}.{b}"
        s = spatial_stride if b == 0 else 1
        y = conv_module(x, p, pre + ".conv1", (1, 1, 1))  # kernel (3,1,1) or (1,1,1) from the weight
        y = conv_module(y, p, pre + ".conv2", (1, s, s))
        y = conv_module(y, p, pre + ".conv3", (1, 1, 1), relu=False)
        idn = conv_module(x, p, pre + ".downsample", (1, s, s), relu=False) if pre + ".downsample.conv.weight" in p else x
        x = np.maximum(y + idn, 0)
    return x


BLOCKS = [3, 4, 6, 3]


def i3d(x, p):
    y = conv_module(x, p, "backbone.conv1", (2, 2, 2))
    y = maxpool(y, (1, 3, 3), (2, 2, 2), (0, 1, 1))
    for i in range(4):
        y = stage(y, p, f"backbone.layer{i + 1}", BLOCKS[i], 1 if i == 0 else 2)
        if i == 0:
            y = maxpool(y, (2, 1, 1), (2, 1, 1), (0, 0, 0))
    return y.mean(axis=(2, 3, 4))


def slowfast(x, p, tau=8, alpha=8):
    slow = x[:, :, ::tau][:, :, :x.shape[2] // tau]
    fast = x[:, :, ::tau // alpha][:, :, :x.shape[2] // (tau // alpha)]
    sp, fp = "backbone.slow_path", "backbone.fast_path"
    slow = maxpool(conv_module(slow, p, sp + ".conv1", (1, 2, 2)), (1, 3, 3), (1, 2, 2), (0, 1, 1))
    fast = maxpool(conv_module(fast, p, fp + ".conv1", (1, 2, 2)), (1, 3, 3), (1, 2, 2), (0, 1, 1))
    lateral = lambda f, name: conv_module(f, p, f"{sp}.{name}", (alpha, 1, 1), norm=False, relu=False)
    slow = np.concatenate([slow, lateral(fast, "conv1_lateral")], axis=1)
    for i in range(4):
        slow = stage(slow, p, f"{sp}.layer{i + 1}", BLOCKS[i], 1 if i == 0 else 2)
        fast = stage(fast, p, f"{fp}.layer{i + 1}", BLOCKS[i], 1 if i == 0 else 2)
        if i < 3:
            slow = np.concatenate([slow, lateral(fast, f"layer{i + 1}_lateral")], axis=1)
    # SlowFastHead: fast features first, then slow.
    return np.concatenate([fast.mean(axis=(2, 3, 4)), slow.mean(axis=(2, 3, 4))], axis=1)


def main():
    kind, wpath, xpath = sys.argv[1], sys.argv[2], sys.argv[3]
    n, t, h, w = map(int, sys.argv[4:8])
    p = {k: v.astype(np.float64) for k, v in load_file(wpath).items()}
    x = np.fromfile(xpath, dtype="<f4").reshape(n, 3, t, h, w).astype(np.float64)
    feats = i3d(x, p) if kind == "i3d" else slowfast(x, p)
    logits = feats @ p["cls_head.fc_cls.weight"].T + p["cls_head.fc_cls.bias"]
    logits.astype("<f4").tofile(sys.argv[8])


if __name__ == "__main__":
    main()
