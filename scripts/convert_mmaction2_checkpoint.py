#!/usr/bin/env python3
"""Convert an mmaction2 or torchvision checkpoint (.pth from torch.save) into a .safetensors file
vpipe loads (`vpipe run --load-from`, `model.weights`, `vpipe featurize --weights`).

    scripts/convert_mmaction2_checkpoint.py tsm_r50_1x1x8_50e_kinetics400_rgb.pth tsm_r50_k400.safetensors
    scripts/convert_mmaction2_checkpoint.py r2plus1d_18-91a641e6.pth r2plus1d_18_k400.safetensors
    scripts/convert_mmaction2_checkpoint.py r2plus1d_34_clip32_ft_kinetics_from_ig65m_f128022400.pkl r2plus1d_34_k400.safetensors

Works without PyTorch: the .pth zip archive (torch >= 1.6 format) is read with pickle and numpy.
Name mapping (vpipe uses mmaction2 0.x's names, so it is nearly the identity):
  - the `state_dict` entry of the checkpoint is used (or the object itself when it is a plain
    dict): mmaction2 0.x/1.x and mmengine training checkpoints (`epoch_N.pth`, `best_*.pth`) load
    without mmengine — objects of other classes in them (the message hub, numpy scalars in `meta`)
    are stubbed, only the weights are kept;
  - a DataParallel `module.` prefix is stripped;
  - `*.num_batches_tracked` buffers are dropped (vpipe's BatchNorm has none);
  - the layout is recognised by its names and printed:
    * mmaction2 0.x (`backbone.*`, `cls_head.*` kept; others, e.g. `data_preprocessor`, reported);
    * mmaction2 1.x: as 0.x, with TSM's shifted convs renamed from 1.x's `….conv1.conv.net.*` /
      `….conv1.bn.*` (the shift wraps the conv) to 0.x's `….conv1.net.conv.*` / `….conv1.net.bn.*`
      (the shift wraps conv and bn);
    * torchvision's 2D ResNets (`conv1`, `bn1`, `layer1-4`, `fc`: ImageNet ResNet-18/50 weights):
      renamed to an mmaction2 ResNet backbone (`conv1` → `backbone.conv1.conv`, `bn1` →
      `backbone.conv1.bn`, `layerL.B.convK` / `bnK` → `backbone.layerL.B.convK.conv` / `.bn`,
      `downsample.0/1` → `downsample.conv/bn`, `fc` → `cls_head.fc_cls`), the initialisation of a
      TSN, or of a TSM (vpipe loads the unshifted convs into its shifted ones, as mmaction2's TSM
      loads ImageNet weights before it wraps them);
    * torchvision's video ResNets (`stem.*`, `layer1-4.*`, `fc.*`: R(2+1)D-18, which vpipe builds
      under the same names).
A VMZ / Caffe2 `.pkl` (`{'blobs': {name: array}}`) of R(2+1)D-18 or -34 is renamed to torchvision's
names, as ig65m-pytorch's converter maps them (`conv1_middle` → `stem.0`, `comp_{i}_conv_{j}_middle`
→ `layer{L}.{b}.conv{j}.0.0`, `comp_{i}_spatbn_{j}` → `….conv{j}.1`, `shortcut_projection_{i}` →
`….downsample`, `last_out_L{n}` → `fc`; BN `_s/_b/_rm/_riv` → weight/bias/running_mean/running_var);
solver blobs (`*_momentum`, `lr`, `model_iter`) are dropped and reported.
Tensors are written as float32 (half/bfloat16 checkpoints are widened).
"""
import argparse
import pickle
import sys
import zipfile
from collections import OrderedDict

import numpy as np

DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "BFloat16Storage": "bfloat16",
}


class _Storage:
    def __init__(self, name):
        self.name = name


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    arr = storage
    itemsize = arr.itemsize
    if not size:
        return arr[offset:offset + 1].reshape(())
    return np.lib.stride_tricks.as_strided(arr[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)).copy()


def _rebuild_parameter(data, requires_grad=False, hooks=None, *rest):
    return data


class _Stub:
    """An object of a class the weights do not need: kept as its arguments and state."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh, archive, prefix):
        super().__init__(fh)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in DTYPES:
            return _Storage(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module.startswith("torch") or module.startswith("numpy"):
            # Metadata objects (dtypes, sizes, numpy scalars and arrays in `meta`) that do not
            # affect the weights.
            return _Stub
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            # mmengine's MessageHub, HistoryBuffer, config objects … where mmengine is not
            # installed: not needed for the weights.
            return _Stub

    def persistent_load(self, pid):
        kind, storage_type, key, _location, _numel = pid[:5]
        assert kind == "storage", pid
        raw = self.archive.read(f"{self.prefix}/data/{key}")
        dtype = DTYPES[storage_type.name]
        if dtype == "bfloat16":
            return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))


def load_pth(path):
    if not zipfile.is_zipfile(path):
        sys.exit(f"{path}: not a torch zip checkpoint (saved with torch < 1.6?); re-save it with a recent torch")
    with zipfile.ZipFile(path) as z:
        pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
        with z.open(pkl) as fh:
            return _Unpickler(fh, z, pkl[: -len("/data.pkl")]).load()


# Name prefixes of the parameters each known layout keeps, keyed by a name only that layout has.
LAYOUTS = {
    "backbone.": ("backbone.", "cls_head."),  # mmaction2 recognisers
    "stem.0.weight": ("stem.", "layer1.", "layer2.", "layer3.", "layer4.", "fc."),  # torchvision VideoResNet
}


def torchvision_resnet_to_mmaction2(name):
    """mmaction2's ResNet name for a torchvision 2D ResNet tensor `name` (None: not one of its)."""
    parts = name.split(".")
    if parts[0] == "conv1":
        return "backbone.conv1.conv." + parts[-1]
    if parts[0] == "bn1":
        return "backbone.conv1.bn." + parts[-1]
    if parts[0] == "fc":
        return "cls_head.fc_cls." + parts[-1]
    if parts[0].startswith("layer") and len(parts) == 4 and parts[2].startswith(("conv", "bn")):
        kind, k = ("conv", parts[2][4:]) if parts[2].startswith("conv") else ("bn", parts[2][2:])
        return f"backbone.{parts[0]}.{parts[1]}.conv{k}.{kind}.{parts[3]}"
    if parts[0].startswith("layer") and len(parts) == 5 and parts[2] == "downsample":
        return f"backbone.{parts[0]}.{parts[1]}.downsample.{'conv' if parts[3] == '0' else 'bn'}.{parts[4]}"
    return None


def mmaction2_1x_to_0x(names):
    """{1.x name: 0.x name} for TSM's shifted convs: `P.conv.net.X` → `P.net.conv.X` and
    `P.bn.X` → `P.net.bn.X` for every `P` that has a `P.conv.net.weight`."""
    shifted = {n[: -len(".conv.net.weight")] for n in names if n.endswith(".conv.net.weight")}
    out = {}
    for n in names:
        for p in shifted:
            if n.startswith(p + ".conv.net."):
                out[n] = p + ".net.conv." + n[len(p + ".conv.net."):]
            elif n.startswith(p + ".bn."):
                out[n] = p + ".net.bn." + n[len(p + ".bn."):]
    return out


def layout_of(names):
    """The checkpoint's layout, by the names only it has."""
    if any(n.startswith("backbone.") for n in names):
        return "mmaction2 1.x (TSM shift renamed)" if mmaction2_1x_to_0x(names) else "mmaction2"
    if "stem.0.weight" in names:
        return "torchvision VideoResNet"
    if {"conv1.weight", "bn1.weight", "layer1.0.conv1.weight"} <= set(names):
        return "torchvision ResNet (2D)"
    return None


def vmz_to_torchvision(blobs):
    """torchvision names for the blobs of a VMZ R(2+1)D model; returns (tensors, dropped)."""
    blocks = sorted({int(k.split("_")[1]) for k in blobs if k.startswith("comp_")})
    counts = {8: [2, 2, 2, 2], 16: [3, 4, 6, 3]}.get(len(blocks))
    if counts is None:
        sys.exit(f"VMZ checkpoint with {len(blocks)} residual blocks: only R(2+1)D-18 (8) and -34 (16) are known")
    out, used = OrderedDict(), set()

    def take(dst, src):
        if src not in blobs:
            sys.exit(f"VMZ checkpoint lacks blob {src!r} (for {dst})")
        out[dst] = blobs[src]
        used.add(src)

    def conv(dst, src):
        take(dst + ".weight", src + "_w")

    def bn(dst, src):
        for ours, theirs in (("weight", "s"), ("bias", "b"), ("running_mean", "rm"), ("running_var", "riv")):
            take(f"{dst}.{ours}", f"{src}_{theirs}")

    conv("stem.0", "conv1_middle")
    bn("stem.1", "conv1_middle_spatbn_relu")
    conv("stem.3", "conv1")
    bn("stem.4", "conv1_spatbn_relu")
    i = 0
    for layer, n in enumerate(counts, 1):
        for b in range(n):
            pre = f"layer{layer}.{b}"
            for j in (1, 2):
                conv(f"{pre}.conv{j}.0.0", f"comp_{i}_conv_{j}_middle")
                bn(f"{pre}.conv{j}.0.1", f"comp_{i}_spatbn_{j}_middle")
                conv(f"{pre}.conv{j}.0.3", f"comp_{i}_conv_{j}")
                bn(f"{pre}.conv{j}.1", f"comp_{i}_spatbn_{j}")
            if f"shortcut_projection_{i}_w" in blobs:
                conv(f"{pre}.downsample.0", f"shortcut_projection_{i}")
                bn(f"{pre}.downsample.1", f"shortcut_projection_{i}_spatbn")
            i += 1
    fc = [k[: -len("_w")] for k in blobs if k.startswith("last_out_L") and k.endswith("_w")]
    if len(fc) == 1:
        take("fc.weight", fc[0] + "_w")
        take("fc.bias", fc[0] + "_b")
    tensors = OrderedDict((k, np.ascontiguousarray(np.asarray(v).astype(np.float32))) for k, v in out.items())
    return tensors, sorted(k for k in blobs if k not in used)


def load_any(path):
    """The checkpoint object: a torch zip `.pth`, or a Caffe2 pickle `.pkl`."""
    if path.endswith(".pkl"):
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    return load_pth(path)


def convert(obj):
    """(tensors under vpipe's names, dropped keys, layout name) of a checkpoint object."""
    if isinstance(obj, dict) and isinstance(obj.get("blobs"), dict):
        return (*vmz_to_torchvision(obj["blobs"]), "VMZ / Caffe2 R(2+1)D")
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        sys.exit(f"the checkpoint holds a {type(state).__name__}, not a state_dict")
    state = OrderedDict((k[len("module."):] if k.startswith("module.") else k, v) for k, v in state.items())
    names = [n for n, v in state.items() if isinstance(v, np.ndarray)]
    layout = layout_of(names)
    rename = {}
    if layout == "torchvision ResNet (2D)":
        rename = {n: torchvision_resnet_to_mmaction2(n) for n in names}
    elif layout and layout.startswith("mmaction2"):
        rename = {n: n for n in names if n.startswith(("backbone.", "cls_head."))} | mmaction2_1x_to_0x(names)
    elif layout == "torchvision VideoResNet":
        rename = {n: n for n in names if n.startswith(LAYOUTS["stem.0.weight"])}
    out, dropped = OrderedDict(), []
    for name, value in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        if rename.get(name) is None:
            dropped.append(name)
            continue
        out[rename[name]] = np.ascontiguousarray(value.astype(np.float32))
    return out, dropped, layout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pth")
    ap.add_argument("out")
    a = ap.parse_args()
    from safetensors.numpy import save_file

    tensors, dropped, layout = convert(load_any(a.pth))
    if not tensors:
        sys.exit(f"{a.pth}: no mmaction2 (backbone.*, cls_head.*) or torchvision (conv1/bn1/layer*/fc, stem.*) weights found")
    print(f"{a.pth}: layout {layout}")
    tmp = a.out + ".tmp"
    save_file(tensors, tmp)
    import os

    os.replace(tmp, a.out)
    print(f"{a.out}: {len(tensors)} tensors" + (f"; dropped {len(dropped)}: {', '.join(dropped[:5])}" if dropped else ""))


if __name__ == "__main__":
    main()
