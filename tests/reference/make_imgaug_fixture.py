"""Reference outputs of mmaction2 0.x `Imgaug(transforms='default')`'s 15 augmenters for vpipe's tests
(tests/imgaug.rs): imgaug 0.4.0 itself (with OpenCV and Pillow, as mmaction2 builds them in
`Imgaug.default_transforms`, level 0.9, both signs of the signed ones) on the real frame of
tests/fixtures/rand_augment/input.png. imgaug 0.4.0 needs NumPy < 1.24, so it has a venv of its own:

    python3 -m venv /tmp/imgaug-venv && /tmp/imgaug-venv/bin/pip install "numpy<1.24" imgaug opencv-python-headless
    /tmp/imgaug-venv/bin/python tests/reference/make_imgaug_fixture.py tests/fixtures/rand_augment/input.png tests/fixtures/imgaug
"""
import json
import os
import sys

import cv2
import imgaug
import imgaug.augmenters as iaa
import numpy as np
import PIL
from PIL import Image

LEVEL = 0.9  # mmaction2: cur_magnitude 9 / max_magnitude 10

CASES = [  # (name in mmaction2's list, argument, augmenter)
    ("ShearX", 17.19 * LEVEL, iaa.ShearX(shear=17.19 * LEVEL)),
    ("ShearX", -17.19 * LEVEL, iaa.ShearX(shear=-17.19 * LEVEL)),
    ("ShearY", 17.19 * LEVEL, iaa.ShearY(shear=17.19 * LEVEL)),
    ("ShearY", -17.19 * LEVEL, iaa.ShearY(shear=-17.19 * LEVEL)),
    ("TranslateX", .2 * LEVEL, iaa.TranslateX(percent=.2 * LEVEL)),
    ("TranslateX", -.2 * LEVEL, iaa.TranslateX(percent=-.2 * LEVEL)),
    ("TranslateY", .2 * LEVEL, iaa.TranslateY(percent=.2 * LEVEL)),
    ("TranslateY", -.2 * LEVEL, iaa.TranslateY(percent=-.2 * LEVEL)),
    ("Rotate", 30 * LEVEL, iaa.Rotate(rotate=30 * LEVEL)),
    ("Rotate", -30 * LEVEL, iaa.Rotate(rotate=-30 * LEVEL)),
    ("Posterize", max(1, int(4 * LEVEL)), iaa.Posterize(nb_bits=max(1, int(4 * LEVEL)))),
    ("Solarize", 256 * LEVEL, iaa.Solarize(threshold=256 * LEVEL)),
    ("EnhanceColor", 1.8 * LEVEL + .1, iaa.pillike.EnhanceColor(factor=1.8 * LEVEL + .1)),
    ("EnhanceContrast", 1.8 * LEVEL + .1, iaa.pillike.EnhanceContrast(factor=1.8 * LEVEL + .1)),
    ("EnhanceBrightness", 1.8 * LEVEL + .1, iaa.pillike.EnhanceBrightness(factor=1.8 * LEVEL + .1)),
    ("EnhanceSharpness", 1.8 * LEVEL + .1, iaa.pillike.EnhanceSharpness(factor=1.8 * LEVEL + .1)),
    ("Autocontrast", 0, iaa.pillike.Autocontrast(cutoff=0)),
    ("Equalize", None, iaa.pillike.Equalize()),
    ("Invert", None, iaa.Invert(p=1.)),
    ("Cutout", 0.2 * LEVEL, iaa.Cutout(nb_iterations=1, size=0.2 * LEVEL, squared=True)),
]


def main(src, out):
    img = np.array(Image.open(src).convert("RGB"))
    manifest = []
    for i, (name, arg, aug) in enumerate(CASES):
        y = aug(image=img)
        assert y.dtype == np.uint8 and y.shape == img.shape, name
        file = f"{i:02d}_{name}.png"
        Image.fromarray(y).save(os.path.join(out, file))
        manifest.append({"op": name, "arg": arg, "file": file})
    versions = f"imgaug {imgaug.__version__}, OpenCV {cv2.__version__}, Pillow {PIL.__version__}, NumPy {np.__version__}"
    json.dump({"source": versions, "input": os.path.basename(src), "ops": manifest}, open(os.path.join(out, "manifest.json"), "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
