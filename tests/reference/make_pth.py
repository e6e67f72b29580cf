"""Writes a checkpoint in torch.save's zip format without PyTorch, for the converter test.

Usage: make_pth.py WEIGHTS.safetensors OUT.pth [--plain]
The state_dict holds every tensor of WEIGHTS under `module.<name>` (DataParallel style), plus
`*.num_batches_tracked` buffers and a `meta` entry, the way mmaction2's checkpoints look. With
`--plain` it is the bare state_dict under the tensors' own names, as torchvision's model zoo
files (`torch.save(model.state_dict())`) are. The
pickle uses the same globals and persistent ids as torch.save (protocol 2,
`torch._utils._rebuild_tensor_v2`, `('storage', torch.FloatStorage, key, 'cpu', numel)`).
"""
import io
import pickle
import sys
import types
import zipfile
from collections import OrderedDict

from safetensors.numpy import load_file

torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")


def _rebuild_tensor_v2(*a):
    raise AssertionError("only used for pickling")


class FloatStorage:
    pass


class LongStorage:
    pass


_rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
FloatStorage.__module__ = LongStorage.__module__ = "torch"
torch._utils, torch.FloatStorage, torch.LongStorage = torch_utils, FloatStorage, LongStorage
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
sys.modules["torch"], sys.modules["torch._utils"] = torch, torch_utils


class Stored:
    def __init__(self, arr, key, kind):
        self.arr, self.key, self.kind = arr, key, kind


class Tensor:
    def __init__(self, stored):
        self.stored = stored

    def __reduce__(self):
        a = self.stored.arr
        stride = tuple(s // a.itemsize for s in a.strides)
        return (_rebuild_tensor_v2, (self.stored, 0, a.shape, stride, False, OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Stored):
            return ("storage", obj.kind, obj.key, "cpu", obj.arr.size)
        return None


def main():
    import numpy as np

    weights = load_file(sys.argv[1])
    plain = "--plain" in sys.argv[3:]
    prefix = "" if plain else "module."
    state, blobs = OrderedDict(), {}
    for i, (name, arr) in enumerate(weights.items()):
        arr = np.ascontiguousarray(arr)
        s = Stored(arr, str(len(blobs)), FloatStorage)
        blobs[s.key] = arr.astype("<f4").tobytes()
        state[prefix + name] = Tensor(s)
        if name.endswith("running_var"):
            n = Stored(np.array([7], dtype=np.int64), str(len(blobs)), LongStorage)
            blobs[n.key] = n.arr.astype("<i8").tobytes()
            state[prefix + name.replace("running_var", "num_batches_tracked")] = Tensor(n)
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(state if plain else {"meta": {"epoch": 50}, "state_dict": state})
    with zipfile.ZipFile(sys.argv[2], "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for k, b in blobs.items():
            z.writestr(f"archive/data/{k}", b)
        z.writestr("archive/version", "3\n")


if __name__ == "__main__":
    main()
