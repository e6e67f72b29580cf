"""Frame-level access: :class:`VideoReader` and :func:`sample_frames`."""

import json
import os
from typing import List, Optional, Sequence, Union

import torch

from . import _vpipe


class VideoReader:
    """One video, read exactly as the FFmpeg CLI decodes it (``ffmpeg -i V -pix_fmt rgb24``:
    the same frames, counted and numbered the same way, and the same pixels), through
    vpipe's decoder (FFmpeg's libavcodec).

    Args:
        path: the video file.
        autorotate: apply the display-matrix rotation as the FFmpeg CLI does (its default).
        stream: the video stream index to read (default: FFmpeg's best video stream).
        color_convention: ``"ffmpeg"`` (default: the stream's own colour matrix and range, as
            the FFmpeg CLI and torchcodec convert) or ``"bt601"``.

    Raises:
        vpipe.FileNotFound: ``path`` does not exist.
        vpipe.DecodeError: not a video, no video stream, or no frame decodes.
        vpipe.ConfigError: an unknown ``color_convention``.
    """

    def __init__(self, path: Union[str, os.PathLike], autorotate: bool = True, stream: Optional[int] = None,
                 color_convention: Optional[str] = None):
        self._r = _vpipe.VideoReader(os.fspath(path), autorotate, stream, color_convention)
        self._metadata = None

    @property
    def metadata(self) -> dict:
        """What ``vpipe probe --json`` prints for the file: ``num_frames``, ``fps``, ``duration``
        (seconds), ``width``/``height`` (pixels, after rotation), ``codec``, colour tags, how the
        frames were counted (``frame_count``, ``count_note``), keyframes, ``path``."""
        if self._metadata is None:
            self._metadata = json.loads(self._r.metadata_json)
        return self._metadata

    def __len__(self) -> int:
        """Frames in the stream."""
        return len(self._r)

    def get_frames(self, indices: Union[Sequence[int], torch.Tensor]) -> torch.Tensor:
        """The frames at 0-based ``indices`` (any order, repeats allowed, negative ones from the
        end), decoded in one pass, as a uint8 tensor ``(N, H, W, 3)``, RGB, at the displayed
        size.

        Raises:
            vpipe.IndexOutOfRange: an index outside the video (also an ``IndexError``).
            vpipe.DecodeError: a corrupt packet, or a frame the decoder never produced.
        """
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        return torch.from_dlpack(self._r.get_frames([int(i) for i in indices]))

    def __getitem__(self, i: int) -> torch.Tensor:
        """Frame ``i`` as a uint8 tensor ``(H, W, 3)``."""
        return self.get_frames([i])[0]


def sample_frames(num_frames: int, clip_len: int, frame_interval: int = 1, num_clips: int = 1,
                  test_mode: bool = False, seed: int = 0, epoch: int = 0, index: int = 0,
                  semantics: str = "0.x", **options) -> List[int]:
    """mmaction2's ``SampleFrames`` frame indices for a video of ``num_frames`` frames,
    clip-major (``num_clips`` clips of ``clip_len`` indices, ``frame_interval`` frames apart),
    as vpipe's loader draws them for sample ``index`` (its position in the list) in ``epoch``
    under ``seed``: train mode's random offsets come from that sample's own random stream, so
    they do not depend on workers or ranks; test mode (``test_mode=True``) is deterministic.

    ``semantics``: ``"0.x"`` (mmaction2 0.x, CDAR and most published configs) or ``"1.x"``
    (mmaction2 ≥ 1.0 test-mode clip placement). ``options``: ``temporal_jitter``,
    ``twice_sample``, ``out_of_bound_opt`` (``"loop"``/``"repeat_last"``),
    ``keep_tail_frames``, ``start_index`` (added to every index; 1 for most rawframe lists).

    Raises:
        vpipe.ConfigError: parameters mmaction2 refuses (0 frames per clip …) or unknown names.
    """
    return _vpipe.sample_frames(num_frames, clip_len, frame_interval, num_clips, test_mode, seed, epoch, index,
                                semantics, **options)
