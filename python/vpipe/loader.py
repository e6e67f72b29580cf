"""`vpipe.Loader`: vpipe's engine as the data loader of a PyTorch training loop."""

import collections
import json
import os
from typing import List, NamedTuple, Optional, Union

import torch

from . import _vpipe
from ._errors import ConfigError, Error


class Batch(NamedTuple):
    """One batch, samples in load order.

    Attributes:
        inputs: the model input, ``float32`` normalised (mmaction2 ``Normalize``) or ``uint8``
            (``output="uint8"``), in the pipeline's ``FormatShape`` layout with the samples'
            clips stacked on dimension 0: NCHW ``(B·M, C, H, W)`` (M = clips × frames per
            sample, TSN/TSM), NCTHW ``(B·V, C, T, H, W)`` (V = views per sample, I3D/SlowFast),
            NCHW_Flow ``(B·V, 2L, H, W)``. On the loader's device.
        labels: ``int64 (B,)`` class indices, or for a multi-label head (``loss:
            multi_label``) multi-hot ``float32 (B, K)`` with K = ``num_classes``.
        indices: ``int64 (B,)`` each sample's position in the split's list.
        videos: each sample's path as the list writes it.
        valid: ``bool (B,)``: False where the sample repeats another to pad the rank's share
            (``DistributedSampler`` padding) or replaces one that failed to load; evaluation
            counts only the valid ones, so every video is counted once.
        rois: AVA keyframes (``AVADataset``) only, else ``None``: ``float32 (ΣN, 5)`` boxes
            ``[batch_index, x1, y1, x2, y2]`` in pixels of ``inputs`` (PySlowFast's collate;
            what ``vpipe.ops.roi_align`` takes).
        box_labels: with ``rois``: ``float32 (ΣN, 80)`` multi-hot actions (action ``a`` sets
            column ``a − 1``).
        box_meta: with ``rois``: ``int64 (ΣN, 2)`` ``[video_index, second]`` per box.
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    videos: List[str]
    valid: torch.Tensor
    rois: Optional[torch.Tensor] = None
    box_labels: Optional[torch.Tensor] = None
    box_meta: Optional[torch.Tensor] = None


def _in_dataloader_worker() -> bool:
    info = getattr(torch.utils.data, "get_worker_info", None)
    return info is not None and info() is not None


def _rank_and_world(rank: Optional[int], world_size: Optional[int]):
    """torch.distributed's when it is initialised, else RANK/WORLD_SIZE, else 0 of 1."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        default = (dist.get_rank(), dist.get_world_size())
    else:
        default = (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))
    return (default[0] if rank is None else rank, default[1] if world_size is None else world_size)


def _device(device) -> torch.device:
    """``"cuda"`` means this process's GPU, ``cuda:LOCAL_RANK`` (torchrun's one GPU per rank)."""
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        d = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if d.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r}: \"cpu\", \"cuda\" or \"cuda:N\"")
    if d.type == "cuda" and not (torch.cuda.is_available() and d.index < torch.cuda.device_count()):
        seen = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise ConfigError(f"device {str(d)!r}: torch sees {seen} CUDA device(s) (LOCAL_RANK={os.environ.get('LOCAL_RANK')})")
    return d


def _cfg_options(options) -> list:
    """``KEY=VALUE`` strings from a dict (values as JSON, which is YAML) or a list of them."""
    if options is None:
        return []
    if isinstance(options, dict):
        return [f"{k}={json.dumps(v)}" for k, v in options.items()]
    if isinstance(options, (list, tuple)) and all(isinstance(o, str) for o in options):
        return list(options)
    raise ConfigError(f"cfg_options: a dict or a list of \"KEY=VALUE\" strings, got {options!r}")


class Loader:
    """Batches of one split of a vpipe pipeline file, loaded by vpipe's engine (its own worker
    threads decode, sample and transform; no Python runs per sample), as torch tensors. It
    replaces ``DataLoader(dataset, sampler=DistributedSampler(...))`` with decord/torchcodec
    decoding and mmaction2 transforms.

    Batches are bit-identical to those ``vpipe run`` / ``vpipe bench`` build from the same file,
    seed, epoch and rank, for any ``workers``. In a distributed job every rank draws the same
    (seed, epoch) order (shuffled for ``split="train"``), which ``DistributedSampler``'s rules
    share out: padded by wrapping round to a multiple of ``world_size`` (trimmed instead with
    ``drop_last``), rank r taking positions r, r+W, … So every rank yields ``len(loader)``
    batches with no communication, and a sample's random draws stay keyed by its list
    position, so the ranks together load the single-process epoch. A sample that fails to load
    is replaced by the next one of the rank's share that loads (reported in :attr:`failures`
    and :meth:`summary`), never dropped: a short batch on one rank would hang the others'
    all-reduce.

    Args:
        config: a pipeline file (path) or the same content as a dict.
        split: ``"train"``, ``"val"`` or ``"test"``; or ``"train.target"``, the target domain of a
            two-domain (CDAR) pipeline's ``data.train.target``, shuffled like ``"train"`` from its own
            seed stream: cycle it yourself, calling ``set_epoch`` with a new number for each pass.
        batch_size: samples per batch (default: the split's ``batch_size``).
        workers: vpipe's loader threads (default: the split's ``workers``, else the cores).
        seed: the random streams' seed (default: the file's ``seed``).
        rank, world_size: this process's share (default: ``torch.distributed``'s when it is
            initialised, else the ``RANK``/``WORLD_SIZE`` variables torchrun sets, else 0 of 1).
        drop_last: trim the order to a multiple of ``world_size`` instead of padding it
            (``DistributedSampler(drop_last=...)``; default False). The rank's last batch may
            still be short, as a ``DataLoader``'s without ``drop_last``.
        device: ``"cpu"``, or ``"cuda"`` (this rank's GPU, ``cuda:LOCAL_RANK``) or
            ``"cuda:N"``: batches then cross as uint8 (a quarter of float32's bytes) from
            page-locked memory, on the current stream of that device, and are normalised there.
        output: ``"float32"`` (normalised) or ``"uint8"`` (before ``Normalize``; channels
            already in its order).
        cfg_options: overrides of a pipeline file's keys after its ``_base_`` files are merged,
            as ``vpipe run --cfg-options`` and mmaction2's: ``{"train.epochs": 10,
            "data.train.pipeline.0.clip_len": 16}`` or ``["data.train.batch_size=4"]`` (dotted
            keys, numbers index lists; dict values are written as YAML/JSON). A dict config is
            edited directly instead.

    Raises:
        vpipe.ConfigError: a bad file, key, value, split or argument (file, line and key named).
        vpipe.FileNotFound: the file, or its list, is missing.
        vpipe.Error: created inside a ``DataLoader`` worker.
    """

    def __init__(self, config: Union[str, os.PathLike, dict], split: str = "train", batch_size: Optional[int] = None,
                 workers: Optional[int] = None, seed: Optional[int] = None, rank: Optional[int] = None,
                 world_size: Optional[int] = None, drop_last: Optional[bool] = None, device="cpu",
                 output: str = "float32", cfg_options: Optional[Union[dict, list]] = None):
        if _in_dataloader_worker():
            raise Error("vpipe.Loader runs its own worker threads: create and iterate it in the training process "
                        "itself, not inside a torch DataLoader worker (it replaces the DataLoader)")
        if output not in ("float32", "uint8"):
            raise ConfigError(f"output {output!r}: \"float32\" or \"uint8\"")
        self.device = _device(device)
        self.output = output
        self.rank, self.world_size = _rank_and_world(rank, world_size)
        options = _cfg_options(cfg_options)
        if isinstance(config, dict):
            if options:
                raise ConfigError("cfg_options apply to a pipeline file; edit the dict itself")
            text, from_text = json.dumps(config), True
        else:
            text, from_text = os.fspath(config), False
        on_gpu = self.device.type == "cuda"
        self._inner = _vpipe.Loader(text, from_text, split, batch_size, workers, seed, self.rank, self.world_size,
                                    bool(drop_last), output == "uint8" or on_gpu, self.device.index if on_gpu else None,
                                    options)
        self.split = split

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch the next ``iter(loader)`` loads: its order and random draws
        (``DistributedSampler.set_epoch``). Call it before each epoch, on every rank."""
        self._inner.set_epoch(int(epoch))

    @property
    def epoch(self) -> int:
        """The epoch the next iteration loads."""
        return self._inner.epoch

    def __len__(self) -> int:
        """Batches this rank yields per epoch (the same on every rank)."""
        return len(self._inner)

    @property
    def batch_size(self) -> int:
        """Samples per batch."""
        return self._inner.batch_size

    @property
    def num_samples(self) -> int:
        """Samples this rank loads per epoch (``DistributedSampler.num_samples``)."""
        return self._inner.num_samples

    def plan(self, epoch: Optional[int] = None):
        """This rank's list positions for ``epoch`` (default: the current one) in load order, and
        a bool per position that is False for padding, without loading anything."""
        return self._inner.plan(self.epoch if epoch is None else int(epoch))

    def __iter__(self):
        """One epoch: starts vpipe's threads, yields :class:`Batch` es, and stops the threads
        and frees the buffers when the epoch ends or the iteration is abandoned (``break``,
        ``del``, an exception such as ``KeyboardInterrupt``)."""
        self._inner.start()
        in_flight = collections.deque()
        try:
            while True:
                parts = self._inner.next_batch()
                if parts is None:
                    return
                yield self._batch(parts, in_flight)
        finally:
            for _, event in in_flight:
                event.synchronize()
            in_flight.clear()
            self._inner.close()

    def _batch(self, parts: dict, in_flight) -> Batch:
        x = torch.from_dlpack(parts["inputs"])
        if self.device.type == "cuda":
            x = self._to_device(x, parts, in_flight)
        labels = parts["labels"]
        k = parts["num_classes"]
        if k is not None:
            y = torch.zeros(len(labels), k, dtype=torch.float32)
            for i, ls in enumerate(labels):
                y[i, [c for c in ls if 0 <= c < k]] = 1.0
        else:
            y = torch.tensor([ls[0] if ls else -1 for ls in labels], dtype=torch.int64)
        rois = box_labels = box_meta = None
        if "rois" in parts:
            rois = torch.tensor(parts["rois"], dtype=torch.float32).reshape(-1, 5).to(self.device)
            box_labels = torch.zeros(len(parts["box_actions"]), 80, dtype=torch.float32)
            for i, acts in enumerate(parts["box_actions"]):
                box_labels[i, [a - 1 for a in acts if 1 <= a <= 80]] = 1.0
            box_labels = box_labels.to(self.device)
            box_meta = torch.tensor(parts["box_meta"], dtype=torch.int64).reshape(-1, 2)
        return Batch(inputs=x, labels=y.to(self.device), indices=torch.tensor(parts["indices"], dtype=torch.int64),
                     videos=list(parts["videos"]), valid=torch.tensor(parts["valid"], dtype=torch.bool),
                     rois=rois, box_labels=box_labels, box_meta=box_meta)

    def _to_device(self, host: torch.Tensor, parts: dict, in_flight) -> torch.Tensor:
        """The uint8 host batch on this rank's GPU, copied on the current stream (asynchronous
        from page-locked memory) and normalised there as vpipe's CPU path does: (x − mean) ·
        (1/std) in float32 per index along dimension 1."""
        stream = torch.cuda.current_stream(self.device)
        x = host.to(self.device, non_blocking=True)
        # The host buffer returns to vpipe's pool when `host` dies: keep it until the copy ran.
        event = torch.cuda.Event()
        event.record(stream)
        in_flight.append((host, event))
        while len(in_flight) > 2:
            in_flight.popleft()[1].synchronize()
        if self.output == "uint8":
            return x
        shape = [1] * x.dim()
        shape[1] = -1
        mean = torch.tensor(parts["mean"], dtype=torch.float32).view(shape).to(self.device, non_blocking=True)
        inv_std = torch.tensor(parts["inv_std"], dtype=torch.float32).view(shape).to(self.device, non_blocking=True)
        return (x.float() - mean) * inv_std

    def summary(self) -> Optional[dict]:
        """The engine's summary of the last finished epoch (``vpipe bench --json``'s fields:
        per-stage busy and blocked seconds, the bottleneck, frames decoded per kept frame,
        failures, peak RSS), or None before one finished."""
        s = self._inner.summary_json()
        return None if s is None else json.loads(s)

    @property
    def failures(self) -> List[dict]:
        """Every sample that failed to load and was replaced, all epochs so far: dicts of
        ``path``, ``stage`` and ``message`` (which names the replacement)."""
        return [dict(path=p, stage=s, message=m) for p, s, m in self._inner.failures()]

    def close(self) -> None:
        """Stops a running epoch now (threads joined, buffers freed)."""
        self._inner.close()

    def __repr__(self) -> str:
        return (f"vpipe.Loader(split={self.split!r}, batch_size={self.batch_size}, rank={self.rank}, "
                f"world_size={self.world_size}, batches={len(self)}, device={str(self.device)!r})")
