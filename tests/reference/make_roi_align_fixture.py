"""Reference values and gradients of `torchvision.ops.roi_align` for vpipe's RoIAlign
(src/model/roi_align.rs, tests/roi_align.rs): PySlowFast's ResNetRoIHead settings (7x7 output,
spatial scale 1/16, sampling_ratio 0 = adaptive, aligned=True) and others, on random features and
random boxes, some of them crossing the feature map's border.

    .venv/bin/python tests/reference/make_roi_align_fixture.py tests/fixtures/roi_align/reference.json
"""
import json
import sys

import torch
import torchvision
from torchvision.ops import roi_align


def case(g, n, c, h, w, k, out, scale, ratio, aligned):
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float32, requires_grad=True)
    img_w, img_h = w / scale, h / scale
    x1 = torch.rand(k, generator=g) * img_w * 1.2 - 0.1 * img_w  # some start left of / above the map
    y1 = torch.rand(k, generator=g) * img_h * 1.2 - 0.1 * img_h
    x2 = x1 + torch.rand(k, generator=g) * img_w * 0.8 + 1
    y2 = y1 + torch.rand(k, generator=g) * img_h * 0.8 + 1
    b = torch.randint(0, n, (k,), generator=g).float()
    rois = torch.stack([b, x1, y1, x2, y2], 1)
    y = roi_align(x, rois, out, spatial_scale=scale, sampling_ratio=ratio, aligned=aligned)
    grad_out = torch.randn(y.shape, generator=g)
    y.backward(grad_out)
    return {"input": x.detach().tolist(), "rois": rois.tolist(), "output_size": out, "spatial_scale": scale,
            "sampling_ratio": ratio, "aligned": aligned, "output": y.detach().tolist(),
            "grad_output": grad_out.tolist(), "grad_input": x.grad.tolist()}


def main(out):
    g = torch.Generator().manual_seed(20261206)
    cases = [
        case(g, 2, 3, 7, 9, 6, 7, 1 / 16, 0, True),   # PySlowFast's ResNetRoIHead
        case(g, 1, 2, 6, 5, 4, 3, 1.0, 2, True),
        case(g, 2, 2, 5, 6, 4, 2, 0.5, 0, False),
    ]
    json.dump({"torchvision": torchvision.__version__, "cases": cases}, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1])
