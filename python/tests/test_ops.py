"""vpipe.ops.roi_align — the RoIAlign of vpipe's detection head (R(2+1)D + PySlowFast's
ResNetRoIHead), built from libtorch tensor ops — equals torchvision.ops.roi_align within 1e-5, in
values and in the gradient of the features, on random inputs with boxes inside, across and
outside the border."""

import pytest
import torch

torchvision = pytest.importorskip("torchvision")


def random_case(seed, n=2, c=5, h=9, w=13, k=12):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    # Boxes in input pixels at spatial scale 1/4: the feature map covers 36×52 pixels; boxes
    # reach from −20 to +70 so that some cross or leave the map.
    xy1 = torch.rand(k, 2, generator=g) * torch.tensor([70.0, 50.0]) - 20
    wh = torch.rand(k, 2, generator=g) * 30 + 0.5
    idx = torch.randint(0, n, (k, 1), generator=g).float()
    boxes = torch.cat([idx, xy1, xy1 + wh], 1)
    boxes[0] = torch.tensor([0, 3.0, 2.0, 3.2, 2.1])  # smaller than a bin
    return x, boxes


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2, -1])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roi_align_equals_torchvisions_values_and_gradients(seed, sampling_ratio, aligned):
    import vpipe

    x, boxes = random_case(seed)
    args = dict(output_size=(7, 7), spatial_scale=0.25, sampling_ratio=sampling_ratio, aligned=aligned)
    xv = x.clone().requires_grad_(True)
    xt = x.clone().requires_grad_(True)
    ours = vpipe.ops.roi_align(xv, boxes, **args)
    ref = torchvision.ops.roi_align(xt, boxes, **args)
    assert ours.shape == ref.shape == (12, 5, 7, 7)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=0), (ours - ref).abs().max()
    upstream = torch.randn(ref.shape, generator=torch.Generator().manual_seed(seed + 100))
    (ours * upstream).sum().backward()
    (ref * upstream).sum().backward()
    assert torch.allclose(xv.grad, xt.grad, atol=1e-5, rtol=0), (xv.grad - xt.grad).abs().max()
    assert xv.grad.abs().sum() > 0


def test_pyslowfast_head_settings_and_bad_boxes():
    import vpipe

    # PySlowFast's head: 7×7 bins, 1/16 scale, adaptive sampling, aligned, on an R(2+1)D-18
    # layer4-sized map of a 112×112 clip (7×7).
    x, _ = random_case(3, n=1, c=8, h=7, w=7, k=1)
    boxes = torch.tensor([[0, 10.0, 5.0, 90.0, 111.0], [0, -4.0, 60.0, 40.0, 130.0]])
    args = dict(output_size=7, spatial_scale=1 / 16, sampling_ratio=0, aligned=True)
    assert torch.allclose(vpipe.ops.roi_align(x, boxes, **args), torchvision.ops.roi_align(x, boxes, **args), atol=1e-5, rtol=0)
    with pytest.raises(vpipe.ConfigError, match="batch index"):
        vpipe.ops.roi_align(x, torch.tensor([[3.0, 0, 0, 4, 4]]), **args)


def test_ava_batches_carry_pyslowfasts_boxes_and_roi_align_takes_them(tmp_path, data, vpipe_bin):
    """vpipe.Loader over the AVA mini pipeline: each batch carries its boxes as
    [batch_index, x1, y1, x2, y2] inside the clip, per-box multi-hot actions and [video, second]
    metadata, which vpipe.ops.roi_align pools from a feature map of the clips."""
    import os
    import subprocess

    import vpipe

    out = tmp_path / "ava_mini"
    env = dict(os.environ, VPIPE=vpipe_bin, VPIPE_TEST_DATA=str(data))
    subprocess.run(["scripts/make_ava_mini.sh", str(out)], check=True, env=env, capture_output=True)
    text = open("pipelines/ava_r2plus1d_r18_mini.yaml").read().replace("out/ava_mini", str(out))
    p = tmp_path / "ava.yaml"
    p.write_text(text)
    b = next(iter(vpipe.Loader(str(p), split="train", workers=1)))
    assert b.inputs.shape == (2, 3, 8, 112, 112)
    n = b.rois.shape[0]
    assert b.rois.shape == (n, 5) and b.box_labels.shape == (n, 80) and b.box_meta.shape == (n, 2)
    assert set(b.rois[:, 0].tolist()) <= {0.0, 1.0}
    assert (b.rois[:, 1:] >= 0).all() and (b.rois[:, 1:] <= 111).all()
    assert (b.box_labels.sum(1) >= 1).all(), "ground-truth boxes carry actions"
    assert (b.box_meta[:, 1] >= 902).all() and (b.box_meta[:, 1] <= 908).all()
    feats = torch.randn(2, 4, 7, 7)
    assert vpipe.ops.roi_align(feats, b.rois, 7, spatial_scale=1 / 16, sampling_ratio=0, aligned=True).shape == (n, 4, 7, 7)
