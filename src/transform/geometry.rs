//! Output sizes and crop boxes: pure functions, sizes as (width, height) in pixels.

/// A crop rectangle: left `x`, top `y`, width `w`, height `h`, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

/// mmaction2 `Resize` output size for an input of `w`×`h` and `scale` (w, h), where −1 stands for
/// "unbounded" (so `(-1, 256)` scales the short side to 256).
///
/// keep_ratio: f = min(max(scale)/max(w,h), min(scale)/min(w,h)), out = trunc(w·f + 0.5) ×
/// trunc(h·f + 0.5) (mmcv `rescale_size`). Without keep_ratio the output is `scale` itself.
pub fn resize_size(w: usize, h: usize, scale: (i64, i64), keep_ratio: bool) -> (usize, usize) {
    if !keep_ratio {
        return (scale.0 as usize, scale.1 as usize);
    }
    let (a, b) = (scale.0 as f64, scale.1 as f64);
    let (a, b) = if a.min(b) == -1.0 { (f64::INFINITY, a.max(b)) } else { (a, b) };
    let (long, short) = (a.max(b), a.min(b));
    let (wf, hf) = (w as f64, h as f64);
    let f = (long / wf.max(hf)).min(short / wf.min(hf));
    ((wf * f + 0.5) as usize, (hf * f + 0.5) as usize)
}

/// Size of extracted rawframes, mmaction2 `build_rawframes.py --use-opencv` (semantics §2.2):
/// `new_wh` = Some((W, H)) resizes to exactly that; else `new_short` = 0 keeps the size, and
/// otherwise the short side becomes `new_short` and the long side trunc(new_short / short · long)
/// (upscaling too). 320×240 with new_short 256 → 341×256.
pub fn extract_size(w: usize, h: usize, new_short: usize, new_wh: Option<(usize, usize)>) -> (usize, usize) {
    if let Some(wh) = new_wh {
        return wh;
    }
    if new_short == 0 {
        return (w, h);
    }
    let long = |l: usize, s: usize| (new_short as f64 / s as f64 * l as f64) as usize;
    if w < h {
        (new_short, long(h, w))
    } else {
        (long(w, h), new_short)
    }
}

/// `CenterCrop(crop_size)` box: left (W−w)//2, top (H−h)//2; the crop is clamped to the image.
pub fn center_crop(w: usize, h: usize, crop: (usize, usize)) -> CropBox {
    let (cw, ch) = (crop.0.min(w), crop.1.min(h));
    CropBox { x: (w - cw) / 2, y: (h - ch) / 2, w: cw, h: ch }
}

/// `ThreeCrop(crop_size)` boxes in mmaction2's order: with full height, left, right, middle; else
/// top, bottom, middle.
///
/// # Errors
/// The crop matches neither the image height nor its width (mmaction2 asserts the same).
pub fn three_crop(w: usize, h: usize, crop: (usize, usize)) -> Result<[CropBox; 3], String> {
    let (cw, ch) = crop;
    if ch == h && cw <= w {
        let st = (w - cw) / 2;
        Ok([0, 2 * st, st].map(|x| CropBox { x, y: 0, w: cw, h: ch }))
    } else if cw == w && ch <= h {
        let st = (h - ch) / 2;
        Ok([0, 2 * st, st].map(|y| CropBox { x: 0, y, w: cw, h: ch }))
    } else {
        Err(format!("ThreeCrop {cw}x{ch} needs the crop to span the full width or height of a {w}x{h} image"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_size_follows_the_opencv_path() {
        assert_eq!(extract_size(320, 240, 256, None), (341, 256));
        assert_eq!(extract_size(1920, 1080, 256, None), (455, 256));
        assert_eq!(extract_size(400, 226, 256, None), (453, 256));
        assert_eq!(extract_size(240, 320, 256, None), (256, 341));
        assert_eq!(extract_size(320, 240, 0, None), (320, 240));
        assert_eq!(extract_size(320, 240, 256, Some((171, 128))), (171, 128));
    }

    #[test]
    fn resize_short_side_256() {
        assert_eq!(resize_size(320, 240, (-1, 256), true), (341, 256));
        assert_eq!(resize_size(240, 320, (-1, 256), true), (256, 341));
        for (w, h) in [(1920, 1080), (1280, 720), (640, 360)] {
            assert_eq!(resize_size(w, h, (-1, 256), true), (455, 256));
        }
        assert_eq!(resize_size(171, 128, (-1, 256), true), (342, 256));
        assert_eq!(resize_size(176, 144, (-1, 256), true), (313, 256));
    }

    #[test]
    fn resize_keep_ratio_340_256() {
        assert_eq!(resize_size(320, 240, (340, 256), true), (340, 255));
    }

    #[test]
    fn resize_without_ratio_is_exact() {
        assert_eq!(resize_size(341, 256, (224, 224), false), (224, 224));
    }

    #[test]
    fn center_crop_341x256_224() {
        assert_eq!(center_crop(341, 256, (224, 224)), CropBox { x: 58, y: 16, w: 224, h: 224 });
        assert_eq!(center_crop(342, 256, (224, 224)).x, 59);
    }

    #[test]
    fn three_crop_341x256_256_left_right_middle() {
        let b = three_crop(341, 256, (256, 256)).unwrap();
        assert_eq!(b.map(|c| (c.x, c.y)), [(0, 0), (84, 0), (42, 0)]);
    }

    #[test]
    fn three_crop_tall_image_top_bottom_middle() {
        let b = three_crop(256, 341, (256, 256)).unwrap();
        assert_eq!(b.map(|c| (c.x, c.y)), [(0, 0), (0, 84), (0, 42)]);
    }

    #[test]
    fn three_crop_rejects_small_crop() {
        assert!(three_crop(341, 256, (224, 224)).is_err());
    }
}
