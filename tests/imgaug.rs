//! mmaction2 0.x `Imgaug(transforms='default')`: each of its 15 augmenters against imgaug 0.4.0
//! itself (OpenCV, Pillow) on a real frame, written by `tests/reference/make_imgaug_fixture.py`
//! into `tests/fixtures/imgaug/`. Every deterministic augmenter must give identical bytes;
//! Cutout, whose position imgaug draws, must fill a square of the same size with 128.

use std::path::Path;

use vpipe::frame::Frame;
use vpipe::transform::imgaug::ImgaugOp;

fn png(path: &Path) -> Frame {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    Frame::new(img.width() as usize, img.height() as usize, img.into_raw())
}

fn op(name: &str, arg: f64) -> ImgaugOp {
    match name {
        "ShearX" => ImgaugOp::ShearX(arg),
        "ShearY" => ImgaugOp::ShearY(arg),
        "TranslateX" => ImgaugOp::TranslateX(arg),
        "TranslateY" => ImgaugOp::TranslateY(arg),
        "Rotate" => ImgaugOp::Rotate(arg),
        "Posterize" => ImgaugOp::Posterize(arg as u32),
        "Solarize" => ImgaugOp::Solarize(arg),
        "EnhanceColor" => ImgaugOp::EnhanceColor(arg),
        "EnhanceContrast" => ImgaugOp::EnhanceContrast(arg),
        "EnhanceBrightness" => ImgaugOp::EnhanceBrightness(arg),
        "EnhanceSharpness" => ImgaugOp::EnhanceSharpness(arg),
        "Autocontrast" => ImgaugOp::Autocontrast,
        "Equalize" => ImgaugOp::Equalize,
        "Invert" => ImgaugOp::Invert,
        "Cutout" => ImgaugOp::Cutout(arg),
        other => panic!("unknown augmenter {other}"),
    }
}

/// The bounding box (x1, y1, x2, y2) of the pixels where `a` and `b` differ.
fn changed_box(a: &Frame, b: &Frame) -> (usize, usize, usize, usize) {
    let mut bx = (usize::MAX, usize::MAX, 0, 0);
    for (i, (p, q)) in a.data.chunks(3).zip(b.data.chunks(3)).enumerate() {
        if p != q {
            let (x, y) = (i % a.width, i / a.width);
            bx = (bx.0.min(x), bx.1.min(y), bx.2.max(x + 1), bx.3.max(y + 1));
        }
    }
    bx
}

#[test]
fn every_augmenter_equals_imgaugs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imgaug");
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let input = png(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rand_augment/input.png"));
    for case in manifest["ops"].as_array().unwrap() {
        let name = case["op"].as_str().unwrap();
        let arg = case["arg"].as_f64().unwrap_or(0.0);
        let want = png(&dir.join(case["file"].as_str().unwrap()));
        assert_ne!(want.data, input.data, "{name}({arg}) left the frame unchanged");
        if name == "Cutout" {
            // The position is imgaug's random draw: compare the square it filled.
            let (x1, y1, x2, y2) = changed_box(&input, &want);
            let got = op(name, arg).apply(&input, (0.5, 0.5));
            let (a1, b1, a2, b2) = changed_box(&input, &got);
            assert_eq!((x2 - x1, y2 - y1), (a2 - a1, b2 - b1), "Cutout square");
            assert!(want
                .data
                .chunks(3)
                .enumerate()
                .filter(|(i, _)| (x1..x2).contains(&(i % 96)) && (y1..y2).contains(&(i / 96)))
                .all(|(_, p)| p == [128, 128, 128]));
            continue;
        }
        let got = op(name, arg).apply(&input, (0.0, 0.0));
        let diffs: Vec<u8> = got.data.iter().zip(&want.data).map(|(a, b)| a.abs_diff(*b)).collect();
        let max = diffs.iter().copied().max().unwrap();
        let frac = diffs.iter().filter(|&&d| d > 0).count() as f64 / diffs.len() as f64;
        // Integer ops, OpenCV's fixed-point warp and Pillow's float32 blends are reproduced in
        // their own arithmetic: identical bytes on every case.
        assert!(max == 0, "{name}({arg}): max diff {max}, {:.3}% of values differ", 100.0 * frac);
    }
}
