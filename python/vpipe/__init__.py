"""vpipe in Python: the engine's video loader under any PyTorch training script.

* :class:`Loader` replaces ``torch.utils.data.DataLoader`` + decord/torchcodec + a
  ``DistributedSampler``: batches of a vpipe pipeline file's split as torch tensors, one rank's
  share under torchrun/DDP.
* :class:`VideoReader` gives frames exactly as the FFmpeg CLI does (uint8 ``(N, H, W, 3)``).
* :func:`sample_frames` gives mmaction2's ``SampleFrames`` indices as vpipe's loader draws them.
* Errors are :class:`Error` subclasses carrying vpipe's message (file, line, key).

``import torch`` runs first: the extension module links the libtorch that torch loads.
"""

import torch  # noqa: F401  (loads libtorch, which vpipe._vpipe links, before it)

from . import _vpipe
from ._errors import ConfigError, DecodeError, Error, FileNotFound, IndexOutOfRange
from . import ops
from .loader import Batch, Loader
from .reader import VideoReader, sample_frames

__version__ = _vpipe.__version__

__all__ = [
    "ops",
    "Batch",
    "ConfigError",
    "DecodeError",
    "Error",
    "FileNotFound",
    "IndexOutOfRange",
    "Loader",
    "VideoReader",
    "sample_frames",
]
