"""Reference outputs of RandAugment's 14 ops for vpipe's tests (tests/rand_augment.rs): pytorchvideo's
own op functions (tests/reference/pytorchvideo_augmentations.py, copied verbatim; they call
torchvision's tensor functions) on a real frame as mmaction2's PytorchVideoTrans hands it: a uint8
(T, C, H, W) tensor, pytorchvideo's default fill (0.5, 0.5, 0.5).

    .venv/bin/python tests/reference/make_rand_augment_fixture.py ../shared/data/mmaction2/imgs/img_00001.jpg tests/fixtures/rand_augment

Writes input.png (a 96x72 crop of the frame), one PNG per (op, argument) and manifest.json.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import pytorchvideo_augmentations as aug  # noqa: E402

ARGS = {
    "AdjustBrightness": [0.19, 1.81, 0.55],
    "AdjustContrast": [0.19, 1.81, 0.55],
    "AdjustSaturation": [0.19, 1.81, 0.55],
    "AdjustSharpness": [0.19, 1.81, 0.55],
    "AutoContrast": [None],
    "Equalize": [None],
    "Invert": [None],
    "Rotate": [26.3, -12.0],
    "Posterize": [1, 2],
    "Solarize": [0.1, 0.37],
    "ShearX": [0.27, -0.13],
    "ShearY": [0.27, -0.13],
    "TranslateX": [0.405, -0.2],
    "TranslateY": [0.405, -0.2],
}


def main(src, out):
    frame = np.array(Image.open(src).convert("RGB"))[60:132, 110:206]
    Image.fromarray(frame).save(os.path.join(out, "input.png"))
    video = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).contiguous()  # (T=1, C, H, W) uint8
    manifest = []
    for name, args in ARGS.items():
        fn = aug._NAME_TO_TRANSFORM_FUNC[name]
        for i, arg in enumerate(args):
            y = fn(video, **aug.TRANSFORM_DEFAULT_HPARAS) if arg is None else fn(video, arg, **aug.TRANSFORM_DEFAULT_HPARAS)
            assert y.dtype == torch.uint8 and y.shape == video.shape
            file = f"{name}_{i}.png"
            Image.fromarray(y[0].permute(1, 2, 0).numpy()).save(os.path.join(out, file))
            manifest.append({"op": name, "arg": arg, "file": file})
    json.dump({"source": "pytorchvideo f3142bb0 augmentations.py, torchvision " + __import__("torchvision").__version__, "input": "input.png", "ops": manifest}, open(os.path.join(out, "manifest.json"), "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
