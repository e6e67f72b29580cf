"""Checkpoints as people have them, and their models' own outputs, for the converter tests
(tests/models.rs).

    make_checkpoints.py mmaction2_1x VPIPE_TSM.safetensors OUT_DIR
        OUT_DIR/tsm_1x.pth: the TSM weights under mmaction2 1.x's names ({'state_dict': …}; the
        shift wraps the conv: `….conv1.conv.net.weight`, `….conv1.bn.*`);
        OUT_DIR/epoch_3.pth: the same as an mmengine training checkpoint (`meta` with numpy
        scalars, a `message_hub` of mmengine's class, `optimizer`, `data_preprocessor` buffers).

    make_checkpoints.py torchvision_resnet DEPTH CLASSES SAMPLES IMAGES SIZE OUT_DIR
        OUT_DIR/resnet.pth: a torchvision resnet{DEPTH}(num_classes=CLASSES) state_dict (random
        weights and BatchNorm statistics, seed 0); OUT_DIR/x.f32: SAMPLES × IMAGES images
        (3 × SIZE × SIZE, float32); OUT_DIR/tsn_{score,prob}.f32: the (SAMPLES, CLASSES) test
        scores of mmaction2's TSN over them — torchvision's trunk, then mmaction2's own
        `TSNHead.forward` and `BaseHead.average_clip` (copied below from open-mmlab/mmaction2
        commit 4d6c9347, mmaction/models/heads/tsn_head.py and base.py) with `num_segs` = the
        images per sample, as `Recognizer2D` passes them in test mode.
"""
import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file


def to_1x(state):
    """mmaction2 0.x TSM names → 1.x: `P.net.conv.X` → `P.conv.net.X`, `P.net.bn.X` → `P.bn.X`."""
    out = OrderedDict()
    for k, v in state.items():
        k = k.replace(".conv1.net.conv.", ".conv1.conv.net.").replace(".conv1.net.bn.", ".conv1.bn.")
        out[k] = v
    return out


def mmengine_message_hub():
    """An object whose class pickles as mmengine.logging.message_hub.MessageHub."""
    mod = types.ModuleType("mmengine.logging.message_hub")

    class MessageHub:
        def __init__(self):
            self.log_scalars = {"train/loss": np.float64(0.5)}
            self.runtime_info = {"epoch": np.int64(3), "iter": 300}

    MessageHub.__module__, MessageHub.__qualname__ = mod.__name__, "MessageHub"
    mod.MessageHub = MessageHub
    for name in ("mmengine", "mmengine.logging"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[mod.__name__] = mod
    return MessageHub()


def mmaction2_1x(weights, out_dir):
    state = to_1x(OrderedDict((k, v) for k, v in sorted(load_file(weights).items())))
    torch.save({"state_dict": state}, os.path.join(out_dir, "tsm_1x.pth"))
    state = OrderedDict(state)
    state["data_preprocessor.mean"] = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    state["data_preprocessor.std"] = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    ckpt = {
        "meta": {"epoch": np.int64(3), "iter": np.int64(300), "mmengine_version": "0.10.4", "seed": np.int32(0),
                 "dataset_meta": {"classes": np.array(["a", "b"])}},
        "state_dict": state,
        "message_hub": mmengine_message_hub(),
        "optimizer": {"state": {0: {"momentum_buffer": torch.zeros(2)}}, "param_groups": [{"lr": np.float64(0.01)}]},
    }
    torch.save(ckpt, os.path.join(out_dir, "epoch_3.pth"), pickle_protocol=pickle.DEFAULT_PROTOCOL)


# --- mmaction2's own code (open-mmlab/mmaction2 @ 4d6c9347) ---------------------------------

class AvgConsensus(torch.nn.Module):
    def __init__(self, dim=1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.mean(dim=self.dim, keepdim=True)


class TSNHead(torch.nn.Module):
    def __init__(self, fc_cls, average_clips):
        super().__init__()
        self.avg_pool = torch.nn.AdaptiveAvgPool2d((1, 1))
        self.consensus = AvgConsensus(dim=1)
        self.dropout = None
        self.fc_cls = fc_cls
        self.average_clips = average_clips

    def forward(self, x, num_segs, **kwargs):
        # [N * num_segs, in_channels, 7, 7]
        if self.avg_pool is not None:
            x = self.avg_pool(x)
            # [N * num_segs, in_channels, 1, 1]
        x = x.reshape((-1, num_segs) + x.shape[1:])
        # [N, num_segs, in_channels, 1, 1]
        x = self.consensus(x)
        # [N, 1, in_channels, 1, 1]
        x = x.squeeze(1)
        # [N, in_channels, 1, 1]
        if self.dropout is not None:
            x = self.dropout(x)
            # [N, in_channels, 1, 1]
        x = x.view(x.size(0), -1)
        # [N, in_channels]
        cls_score = self.fc_cls(x)
        # [N, num_classes]
        return cls_score

    def average_clip(self, cls_scores, num_segs=1):
        if self.average_clips not in ['score', 'prob', None]:
            raise ValueError(f'{self.average_clips} is not supported. ')
        batch_size = cls_scores.shape[0]
        cls_scores = cls_scores.view((batch_size // num_segs, num_segs) + cls_scores.shape[1:])
        if self.average_clips is None:
            return cls_scores
        elif self.average_clips == 'prob':
            cls_scores = F.softmax(cls_scores, dim=2).mean(dim=1)
        elif self.average_clips == 'score':
            cls_scores = cls_scores.mean(dim=1)
        return cls_scores

# ---------------------------------------------------------------------------------------------


def torchvision_resnet(depth, classes, samples, images, size, out_dir):
    torch.manual_seed(0)
    net = getattr(torchvision.models, f"resnet{depth}")(num_classes=classes).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
        net.fc.weight.normal_(0, 0.05)
    torch.save(net.state_dict(), os.path.join(out_dir, "resnet.pth"))
    x = torch.randn(samples * images, 3, size, size)
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, "x.f32"))
    trunk = torch.nn.Sequential(*list(net.children())[:-2])
    with torch.no_grad():
        feats = trunk(x)
        for mode in ("score", "prob"):
            head = TSNHead(net.fc, mode)
            # Recognizer2D: num_segs = inputs.shape[1] (the sample's images), then the head, then
            # average_clip over cls_scores.shape[0] // batch_size views.
            cls_score = head(feats, num_segs=images)
            scores = head.average_clip(cls_score, cls_score.shape[0] // samples)
            scores.numpy().astype("<f4").tofile(os.path.join(out_dir, f"tsn_{mode}.f32"))


if __name__ == "__main__":
    if sys.argv[1] == "mmaction2_1x":
        mmaction2_1x(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "torchvision_resnet":
        torchvision_resnet(*map(int, sys.argv[2:7]), sys.argv[7])
    else:
        sys.exit(__doc__)
