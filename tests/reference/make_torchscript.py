"""Writes a small trainable TorchScript module without importing torch.

The test environment's torch wheel is a CUDA build whose Python extension cannot load without the
NVIDIA libraries, so this script writes the archive `torch.jit.save` would write: TorchScript source
under `code/`, the module object pickled in `data.pkl` (tensors as `_rebuild_tensor_v2` over
persistent storages) and the storages under `data/`. Format: PyTorch
`torch/csrc/jit/docs/serialization.md`.

The module, for NCHW batches of `segments` images per view:
    conv 3→C 3×3 stride 2 → ReLU → global average pool → fc C→K per image → mean over segments
and returns `(logits (V, K), features (V, C))`. Its parameters are named like a torch module's
(`backbone.conv.weight`, `cls_head.fc_cls.weight`, …) and drawn from N(0, 0.1) with a seed.

usage: make_torchscript.py OUT.pt [--classes K] [--channels C] [--segments T] [--seed S]
"""
import argparse
import collections
import io
import pickle
import random
import struct
import sys
import types
import zipfile

CODE = """class Conv(Module):
  __parameters__ = ["weight", "bias", ]
  __buffers__ = []
  weight : Tensor
  bias : Tensor
  training : bool
  def forward(self: __torch__.Conv,
    x: Tensor) -> Tensor:
    y = torch.conv2d(x, self.weight, self.bias, [2, 2], [1, 1], [1, 1], 1)
    return torch.relu(y)
class Backbone(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  conv : __torch__.Conv
  def forward(self: __torch__.Backbone,
    x: Tensor) -> Tensor:
    y = (self.conv).forward(x, )
    return torch.mean(y, [2, 3])
class Fc(Module):
  __parameters__ = ["weight", "bias", ]
  __buffers__ = []
  weight : Tensor
  bias : Tensor
  training : bool
  def forward(self: __torch__.Fc,
    x: Tensor) -> Tensor:
    return torch.linear(x, self.weight, self.bias)
class Head(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  fc_cls : __torch__.Fc
  def forward(self: __torch__.Head,
    x: Tensor) -> Tensor:
    return (self.fc_cls).forward(x, )
class Net(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  backbone : __torch__.Backbone
  cls_head : __torch__.Head
  def forward(self: __torch__.Net,
    x: Tensor) -> Tuple[Tensor, Tensor]:
    f = (self.backbone).forward(x, )
    logits = (self.cls_head).forward(f, )
    d = torch.size(f, 1)
    k = torch.size(logits, 1)
    views = torch.mean(torch.view(f, [-1, SEGMENTS, d]), [1])
    out = torch.mean(torch.view(logits, [-1, SEGMENTS, k]), [1])
    return (out, views)
"""


def rebuild_tensor_v2(*args):  # a name for the pickle GLOBAL; never called here
    raise NotImplementedError


class FloatStorage:  # pickled by reference as `torch FloatStorage`
    pass


# The pickler writes classes and functions by reference after checking that their module holds
# them: give it stand-in `torch`, `torch._utils` and `__torch__` modules.
torch_mod = types.ModuleType("torch")
torch_mod.FloatStorage = FloatStorage
FloatStorage.__module__ = "torch"
utils_mod = types.ModuleType("torch._utils")
utils_mod._rebuild_tensor_v2 = rebuild_tensor_v2
rebuild_tensor_v2.__module__ = "torch._utils"
rebuild_tensor_v2.__qualname__ = rebuild_tensor_v2.__name__ = "_rebuild_tensor_v2"
ts_mod = types.ModuleType("__torch__")
sys.modules.update({"torch": torch_mod, "torch._utils": utils_mod, "__torch__": ts_mod})


class Storage:
    def __init__(self, key, values):
        self.key, self.values = key, values


class Tensor:
    def __init__(self, storage, size):
        self.storage, self.size = storage, size

    def __reduce__(self):
        stride, acc = [], 1
        for d in reversed(self.size):
            stride.insert(0, acc)
            acc *= d
        return (rebuild_tensor_v2, (self.storage, 0, tuple(self.size), tuple(stride), True, collections.OrderedDict()))


def module_class(name):
    cls = type(name, (), {})
    cls.__module__ = "__torch__"
    setattr(ts_mod, name, cls)
    return cls


def module(name, **attrs):
    """An instance pickled as GLOBAL __torch__ NAME, EMPTY_TUPLE, NEWOBJ, {attrs}, BUILD."""
    obj = module_class(name).__new__(getattr(ts_mod, name))
    obj.__dict__.update({"training": True, **attrs})
    return obj


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", len(obj.values))
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--segments", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    storages = []

    def tensor(*size, std=0.1):
        n = 1
        for d in size:
            n *= d
        s = Storage(str(len(storages)), [rng.gauss(0.0, std) for _ in range(n)])
        storages.append(s)
        return Tensor(s, list(size))

    c, k = a.channels, a.classes
    conv = module("Conv", weight=tensor(c, 3, 3, 3), bias=tensor(c, std=0.0))
    fc = module("Fc", weight=tensor(k, c), bias=tensor(k, std=0.0))
    net = module("Net", backbone=module("Backbone", conv=conv), cls_head=module("Head", fc_cls=fc))
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(net)
    consts = io.BytesIO()
    pickle.Pickler(consts, protocol=2).dump(())
    with zipfile.ZipFile(a.out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/constants.pkl", consts.getvalue())
        z.writestr("archive/code/__torch__.py", CODE.replace("SEGMENTS", str(a.segments)))
        z.writestr("archive/version", "3\n")
        z.writestr("archive/byteorder", "little")
        for s in storages:
            z.writestr(f"archive/data/{s.key}", struct.pack(f"<{len(s.values)}f", *s.values))


if __name__ == "__main__":
    main()
