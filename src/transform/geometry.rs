//! Output sizes and crop boxes: pure functions (of an RNG for the random crops), sizes as
//! (width, height) in pixels. Semantics: mmaction2 0.x `augmentations.py`, semantics §5.

use rand::{Rng, RngCore};

/// A crop rectangle: left `x`, top `y`, width `w`, height `h`, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    /// Left edge, pixels.
    pub x: usize,
    /// Top edge, pixels.
    pub y: usize,
    /// Width, pixels.
    pub w: usize,
    /// Height, pixels.
    pub h: usize,
}

/// PySlowFast's `uniform_crop` box of a `size`×`size` crop of a `w`×`h` image at position
/// `spatial_idx` along the long side (0 start, 1 centre, 2 end); the centre offsets are
/// `ceil((side − size) / 2)` on both axes.
///
/// # Errors
/// `size` exceeds a side, or the position is not 0, 1 or 2.
pub fn uniform_crop(w: usize, h: usize, size: usize, spatial_idx: usize) -> Result<CropBox, String> {
    if size > w || size > h || spatial_idx > 2 {
        return Err(format!("UniformCrop: a {size}×{size} crop at position {spatial_idx} does not fit a {w}x{h} frame"));
    }
    let (mut x, mut y) = ((w - size).div_ceil(2), (h - size).div_ceil(2));
    match (h > w, spatial_idx) {
        (true, 0) => y = 0,
        (true, 2) => y = h - size,
        (false, 0) => x = 0,
        (false, 2) => x = w - size,
        _ => {}
    }
    Ok(CropBox { x, y, w: size, h: size })
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

/// `CenterCrop(crop_size)` box: left (W−w)//2, top (H−h)//2.
///
/// # Errors
/// The crop is wider or taller than the image (the message says so and suggests a Resize).
pub fn center_crop(w: usize, h: usize, crop: (usize, usize)) -> Result<CropBox, String> {
    let (cw, ch) = crop;
    if cw > w || ch > h {
        // mmaction2 slices with a negative offset there (garbage); clamping would give frames of
        // another size for each video narrower than the crop, which no batch can hold.
        return Err(format!("CenterCrop {cw}x{ch} is larger than the {w}x{h} frame: resize first (e.g. Resize scale: [-1, 256])"));
    }
    Ok(CropBox { x: (w - cw) / 2, y: (h - ch) / 2, w: cw, h: ch })
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

/// `TenCrop(crop_size)` boxes: UL (0,0), UR (4ws,0), LL (0,4hs), LR (4ws,4hs), C (2ws,2hs) with
/// ws = (W−w)//4, hs = (H−h)//4. Each is used twice (plain, then flipped) by the transform.
pub fn five_crop(w: usize, h: usize, crop: (usize, usize)) -> [CropBox; 5] {
    let (cw, ch) = (crop.0.min(w), crop.1.min(h));
    let (ws, hs) = ((w - cw) / 4, (h - ch) / 4);
    [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)].map(|(a, b)| CropBox { x: a * ws, y: b * hs, w: cw, h: ch })
}

/// `RandomCrop(size)`: x ~ U{0..W−size−1} when W > size, else 0 (same for y); the upper bound is
/// exclusive as in mmaction2, so the last offset is never drawn.
pub fn random_crop(w: usize, h: usize, size: usize, rng: &mut dyn RngCore) -> CropBox {
    let draw = |rng: &mut dyn RngCore, full: usize| if full > size { rng.random_range(0..full - size) } else { 0 };
    let x = draw(rng, w);
    let y = draw(rng, h);
    CropBox { x, y, w: size.min(w), h: size.min(h) }
}

/// `RandomResizedCrop(area_range, aspect_ratio_range)`: 10 aspect ratios r = exp(U[ln lo, ln hi)),
/// then 10 areas t = U[a0, a1)·W·H; crop w = rhe(√(t·r)), h = rhe(√(t/r)); the first that fits is
/// placed uniformly; if none fits, the centred square of side min(W, H).
pub fn random_resized_crop(w: usize, h: usize, area_range: (f64, f64), aspect_ratio_range: (f64, f64), rng: &mut dyn RngCore) -> CropBox {
    let (ln_lo, ln_hi) = (aspect_ratio_range.0.ln(), aspect_ratio_range.1.ln());
    let ratios: Vec<f64> = (0..10).map(|_| uniform(rng, ln_lo, ln_hi).exp()).collect();
    let areas: Vec<f64> = (0..10).map(|_| uniform(rng, area_range.0, area_range.1) * (w * h) as f64).collect();
    for (r, t) in ratios.iter().zip(&areas) {
        let (cw, ch) = rrc_size(*t, *r);
        if cw <= w && ch <= h && cw > 0 && ch > 0 {
            let x = rng.random_range(0..=w - cw);
            let y = rng.random_range(0..=h - ch);
            return CropBox { x, y, w: cw, h: ch };
        }
    }
    let side = w.min(h);
    CropBox { x: (w - side) / 2, y: (h - side) / 2, w: side, h: side }
}

/// A RandomResizedCrop candidate of `area` pixels and aspect ratio `ratio` (w/h):
/// (rhe(√(area·ratio)), rhe(√(area/ratio))).
pub fn rrc_size(area: f64, ratio: f64) -> (usize, usize) {
    (round_half_even((area * ratio).sqrt()) as usize, round_half_even((area / ratio).sqrt()) as usize)
}

fn uniform(rng: &mut dyn RngCore, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// numpy `around`: round half to even.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// `MultiScaleCrop` candidate sizes (w, h): crop sides c_i = trunc(min(W,H)·scale_i); pairs
/// (c_j, c_i) for height index i then width index j with |i − j| ≤ `max_wh_scale_gap`; sides within
/// 2 pixels of `input_size` snap to it.
pub fn multi_scale_sizes(w: usize, h: usize, input_size: (usize, usize), scales: &[f64], max_wh_scale_gap: usize) -> Vec<(usize, usize)> {
    let base = w.min(h) as f64;
    let sides: Vec<usize> = scales.iter().map(|s| (base * s) as usize).collect();
    let snap = |v: usize, to: usize| if v.abs_diff(to) < 3 { to } else { v };
    let mut out = Vec::new();
    for (i, &ch) in sides.iter().enumerate() {
        for (j, &cw) in sides.iter().enumerate() {
            if i.abs_diff(j) <= max_wh_scale_gap {
                out.push((snap(cw, input_size.0), snap(ch, input_size.1)));
            }
        }
    }
    out
}

/// `MultiScaleCrop` fixed offsets for a `cw`×`ch` crop, in mmaction2's order: 5 (corners and
/// centre) or 13 (adds edge midpoints and quarter points), in units of ((W−w)//4, (H−h)//4).
pub fn multi_scale_offsets(w: usize, h: usize, cw: usize, ch: usize, num_fixed_crops: usize) -> Vec<(usize, usize)> {
    let (ws, hs) = ((w - cw.min(w)) / 4, (h - ch.min(h)) / 4);
    let mut units = vec![(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)];
    if num_fixed_crops == 13 {
        units.extend([(0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]);
    }
    units.into_iter().map(|(a, b)| (a * ws, b * hs)).collect()
}

/// `MultiScaleCrop(input_size, scales, max_wh_scale_gap, random_crop, num_fixed_crops)` box: a
/// uniformly chosen candidate size ([`multi_scale_sizes`]) at a uniformly chosen fixed offset
/// ([`multi_scale_offsets`]) or, with `random_crop`, anywhere.
pub fn multi_scale_crop(
    w: usize,
    h: usize,
    input_size: (usize, usize),
    scales: &[f64],
    max_wh_scale_gap: usize,
    random_crop: bool,
    num_fixed_crops: usize,
    rng: &mut dyn RngCore,
) -> CropBox {
    let sizes = multi_scale_sizes(w, h, input_size, scales, max_wh_scale_gap);
    let (cw, ch) = sizes[rng.random_range(0..sizes.len())];
    let (cw, ch) = (cw.min(w), ch.min(h));
    let (x, y) = if random_crop {
        (rng.random_range(0..=w - cw), rng.random_range(0..=h - ch))
    } else {
        let offs = multi_scale_offsets(w, h, cw, ch, num_fixed_crops);
        offs[rng.random_range(0..offs.len())]
    };
    CropBox { x, y, w: cw, h: ch }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::SeedableRng;

    fn rng() -> rand_pcg::Pcg64 {
        rand_pcg::Pcg64::seed_from_u64(0)
    }

    #[test]
    fn multi_scale_candidates_match_semantics() {
        let sizes = multi_scale_sizes(341, 256, (224, 224), &[1.0, 0.875, 0.75, 0.66], 1);
        let want = [(256, 256), (224, 256), (256, 224), (224, 224), (192, 224), (224, 192), (192, 192), (168, 192), (192, 168), (168, 168)];
        assert_eq!(sizes, want);
        let cdar = multi_scale_sizes(341, 256, (224, 224), &[1.0, 0.875, 0.66], 1);
        assert_eq!(cdar, [(256, 256), (224, 256), (256, 224), (224, 224), (168, 224), (224, 168), (168, 168)]);
        // Base 258: sides 258, 225, 193, 170; 225 snaps to 224.
        let s = multi_scale_sizes(300, 258, (224, 224), &[1.0, 0.875, 0.75, 0.66], 0);
        assert_eq!(s, [(258, 258), (224, 224), (193, 193), (170, 170)]);
    }

    #[test]
    fn multi_scale_13_offsets_match_semantics() {
        let o = multi_scale_offsets(341, 256, 224, 224, 13);
        let want =
            [(0, 0), (116, 0), (0, 32), (116, 32), (58, 16), (0, 16), (116, 16), (58, 32), (58, 0), (29, 8), (87, 8), (29, 24), (87, 24)];
        assert_eq!(o, want);
        assert_eq!(multi_scale_offsets(341, 256, 224, 224, 5).len(), 5);
        let mut r = rng();
        for _ in 0..100 {
            let b = multi_scale_crop(341, 256, (224, 224), &[1.0, 0.875, 0.75, 0.66], 1, false, 13, &mut r);
            assert!(b.x + b.w <= 341 && b.y + b.h <= 256);
        }
    }

    #[test]
    fn ten_crop_and_center_crop_boxes() {
        let b = five_crop(341, 256, (224, 224));
        assert_eq!(b.map(|c| (c.x, c.y)), [(0, 0), (116, 0), (0, 32), (116, 32), (58, 16)]);
        // 342x256: TenCrop centre x = 58, CenterCrop x = 59.
        assert_eq!(five_crop(342, 256, (224, 224))[4].x, 58);
        assert_eq!(center_crop(342, 256, (224, 224)).unwrap().x, 59);
        assert_eq!(center_crop(341, 256, (224, 224)), Ok(CropBox { x: 58, y: 16, w: 224, h: 224 }));
        let t = three_crop(341, 256, (256, 256)).unwrap();
        assert_eq!(t.map(|c| (c.x, c.y)), [(0, 0), (84, 0), (42, 0)]);
    }

    #[test]
    fn random_crop_upper_bound_is_exclusive() {
        let mut r = rng();
        let (mut max_x, mut max_y) = (0, 0);
        for _ in 0..3000 {
            let b = random_crop(341, 256, 224, &mut r);
            (max_x, max_y) = (max_x.max(b.x), max_y.max(b.y));
        }
        assert_eq!((max_x, max_y), (116, 31));
        assert_eq!(random_crop(200, 100, 224, &mut r), CropBox { x: 0, y: 0, w: 200, h: 100 });
    }

    #[test]
    fn random_resized_crop_fits_and_falls_back_to_centre_square() {
        let mut r = rng();
        for _ in 0..200 {
            let b = random_resized_crop(341, 256, (0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0), &mut r);
            assert!(b.x + b.w <= 341 && b.y + b.h <= 256);
            let ratio = b.w as f64 / b.h as f64;
            assert!(ratio > 0.7 && ratio < 1.4 || b.w == 256 && b.h == 256, "{b:?}");
        }
        // Areas larger than the image never fit: the fallback is 256x256 at (42, 0).
        assert_eq!(random_resized_crop(341, 256, (1.5, 2.0), (3.0 / 4.0, 4.0 / 3.0), &mut r), CropBox { x: 42, y: 0, w: 256, h: 256 });
        // Worked examples on 341x256: (t/A = 0.5, r = 1) → 209x209; (0.3, 4/3) → 187x140.
        let a = 341.0 * 256.0;
        assert_eq!(rrc_size(0.5 * a, 1.0), (209, 209));
        assert_eq!(rrc_size(0.3 * a, 4.0 / 3.0), (187, 140));
    }

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
        assert_eq!(center_crop(341, 256, (224, 224)), Ok(CropBox { x: 58, y: 16, w: 224, h: 224 }));
        assert_eq!(center_crop(342, 256, (224, 224)).unwrap().x, 59);
        let e = center_crop(171, 128, (224, 224)).unwrap_err();
        assert!(e.contains("larger than the 171x128 frame"), "{e}");
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
