"""3D convolution and BatchNorm in NumPy (float64), shared by the 3D models' reference forwards."""
import numpy as np


def conv3d(x, w, stride, pad):
    """Cross-correlation of (N, C, T, H, W) `x` with (O, C, kt, kh, kw) `w`, no bias."""
    n, c, t, h, wd = x.shape
    o, _, kt, kh, kw = w.shape
    (st, sh, sw), (pt, ph, pw) = stride, pad
    x = np.pad(x, ((0, 0), (0, 0), (pt, pt), (ph, ph), (pw, pw)))
    ot, oh, ow = (t + 2 * pt - kt) // st + 1, (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    cols = np.empty((n, c, kt, kh, kw, ot, oh, ow), dtype=np.float64)
    for a in range(kt):
        for i in range(kh):
            for j in range(kw):
                cols[:, :, a, i, j] = x[:, :, a:a + st * ot:st, i:i + sh * oh:sh, j:j + sw * ow:sw]
    return np.einsum("ncaijtuv,ocaij->notuv", cols, w, optimize=True)


def bn(x, p, prefix, eps=1e-5):
    """Eval-mode BatchNorm3d with the `prefix.{weight,bias,running_mean,running_var}` of `p`."""
    g, b = p[prefix + ".weight"], p[prefix + ".bias"]
    m, v = p[prefix + ".running_mean"], p[prefix + ".running_var"]
    s = g / np.sqrt(v + eps)
    return x * s.reshape(1, -1, 1, 1, 1) + (b - m * s).reshape(1, -1, 1, 1, 1)
