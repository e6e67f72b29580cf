"""Tensor operations of vpipe's models for PyTorch code: :func:`roi_align`."""

from typing import Tuple, Union

import torch

from . import _vpipe


def _bytes(t: torch.Tensor) -> bytes:
    return t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()


def _tensor(b: bytes, shape) -> torch.Tensor:
    return torch.frombuffer(bytearray(b), dtype=torch.float32).reshape(shape)


class _RoIAlign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, boxes, output_size, spatial_scale, sampling_ratio, aligned):
        ctx.save_for_backward(input, boxes)
        ctx.args = (output_size, spatial_scale, sampling_ratio, aligned)
        out, _ = _vpipe.roi_align(_bytes(input), list(input.shape), _bytes(boxes), output_size, spatial_scale,
                                  sampling_ratio, aligned)
        return _tensor(out, (boxes.shape[0], input.shape[1], *output_size)).to(input.device)

    @staticmethod
    def backward(ctx, grad_output):
        input, boxes = ctx.saved_tensors
        output_size, spatial_scale, sampling_ratio, aligned = ctx.args
        _, grad = _vpipe.roi_align(_bytes(input), list(input.shape), _bytes(boxes), output_size, spatial_scale,
                                   sampling_ratio, aligned, _bytes(grad_output))
        return _tensor(grad, input.shape).to(input.device), None, None, None, None, None


def roi_align(input: torch.Tensor, boxes: torch.Tensor, output_size: Union[int, Tuple[int, int]],
              spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    """RoIAlign as vpipe's detection head (``model.head: RoIHead``, PySlowFast's
    ``ResNetRoIHead``) computes it — built from libtorch tensor ops, since libtorch has none —
    with the arguments and arithmetic of ``torchvision.ops.roi_align``, differentiable with
    respect to ``input`` (boxes get no gradient, as in torchvision). Computed on the CPU in
    float32 (values are copied there and back).

    Args:
        input: features ``(N, C, H, W)``.
        boxes: ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` in input-image pixels.
        output_size: bins ``(h, w)`` (or one int for both).
        spatial_scale: feature pixels per input pixel (PySlowFast: 1/16).
        sampling_ratio: sample points per bin side; ≤ 0 adaptive, ``ceil(box side / bins)``.
        aligned: shift boxes by −0.5 pixel (PySlowFast: ``True``).

    Returns:
        ``(K, C, h, w)`` pooled features.

    Raises:
        vpipe.ConfigError: ``boxes`` not ``(K, 5)`` or a batch index outside ``0..N``.
    """
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    return _RoIAlign.apply(input, boxes, tuple(int(v) for v in output_size), float(spatial_scale), int(sampling_ratio),
                           bool(aligned))
