//! mmaction2 0.x `Imgaug(transforms='default')` (`mmaction/datasets/pipelines/augmentations.py`,
//! semantics §11): imgaug's `SomeOf(2, [...])` over 15 augmenters at level 0.9, the RandAugment
//! of the TPU EfficientNet code as mmaction2 builds it with imgaug 0.4.0:
//!
//! ShearX / ShearY ±15.471°, TranslateX / TranslateY ±18 % of the side, Rotate ±27°,
//! Posterize(3 bits), Solarize(threshold 230.4), EnhanceColor / Contrast / Brightness /
//! Sharpness(1.72), Autocontrast(cutoff 0), Equalize, Invert, Cutout(1 square, 18 % of the height,
//! filled with 128).
//!
//! mmaction2 draws each ± sign once, when the step is built (`random.choice`); vpipe draws them
//! from seed 0, so every worker and run agrees. Per clip one draw (`to_deterministic()`): two of
//! the 15 augmenters without replacement, applied in list order (`SomeOf`'s `random_order=False`),
//! and Cutout's position; every frame of the clip gets the same.
//!
//! The pixels are imgaug's: OpenCV's fixed-point `warpAffine` (bilinear, 1/32-pixel grid, 15-bit
//! weights, black border) on imgaug's affine matrix (skimage's `AffineTransform` composition with
//! its −3.141592/2 rotations); Pillow's `ImageEnhance` (its L conversion, float blend, SMOOTH
//! filter); imgaug's own autocontrast, equalize (`_equalize_no_pil_`), posterize (uniform
//! quantisation), solarize and cutout.

use anyhow::{bail, Result};
use rand::{Rng, RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use super::lut::{level_range, map, per_channel};
use super::ops::{BuildCtx, Clip, FrameOp, OpConfig};
use crate::frame::Frame;

/// `Imgaug(transforms)`: only mmaction2's `default` set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Imgaug {
    /// `default` (mmaction2's RandAugment through imgaug); lists of imgaug augmenters are not
    /// supported.
    pub transforms: String,
}

/// One of the 15 augmenters with its argument (degrees, fractions of the side, bits, factors).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ImgaugOp {
    /// `iaa.ShearX(shear=deg)`.
    ShearX(f64),
    /// `iaa.ShearY(shear=deg)`.
    ShearY(f64),
    /// `iaa.TranslateX(percent=fraction of the width)`.
    TranslateX(f64),
    /// `iaa.TranslateY(percent=fraction of the height)`.
    TranslateY(f64),
    /// `iaa.Rotate(rotate=deg)`.
    Rotate(f64),
    /// `iaa.Posterize(nb_bits)`.
    Posterize(u32),
    /// `iaa.Solarize(threshold)`: values ≥ threshold inverted.
    Solarize(f64),
    /// `iaa.pillike.EnhanceColor(factor)`.
    EnhanceColor(f64),
    /// `iaa.pillike.EnhanceContrast(factor)`.
    EnhanceContrast(f64),
    /// `iaa.pillike.EnhanceBrightness(factor)`.
    EnhanceBrightness(f64),
    /// `iaa.pillike.EnhanceSharpness(factor)`.
    EnhanceSharpness(f64),
    /// `iaa.pillike.Autocontrast(cutoff=0)`.
    Autocontrast,
    /// `iaa.pillike.Equalize()`.
    Equalize,
    /// `iaa.Invert(p=1)`.
    Invert,
    /// `iaa.Cutout(nb_iterations=1, size, squared=True)`, cval 128.
    Cutout(f64),
}

/// mmaction2's level: magnitude 9 of 10.
const LEVEL: f64 = 0.9;

/// mmaction2's `default_transforms()` list, its ± signs drawn from `rng`.
pub fn default_ops(rng: &mut impl Rng) -> Vec<ImgaugOp> {
    let mut sign = || if rng.random::<bool>() { 1.0 } else { -1.0 };
    let f = 1.8 * LEVEL + 0.1;
    vec![
        ImgaugOp::ShearX(17.19 * LEVEL * sign()),
        ImgaugOp::ShearY(17.19 * LEVEL * sign()),
        ImgaugOp::TranslateX(0.2 * LEVEL * sign()),
        ImgaugOp::TranslateY(0.2 * LEVEL * sign()),
        ImgaugOp::Rotate(30.0 * LEVEL * sign()),
        ImgaugOp::Posterize(((4.0 * LEVEL) as u32).max(1)),
        ImgaugOp::Solarize(256.0 * LEVEL),
        ImgaugOp::EnhanceColor(f),
        ImgaugOp::EnhanceContrast(f),
        ImgaugOp::EnhanceBrightness(f),
        ImgaugOp::EnhanceSharpness(f),
        ImgaugOp::Autocontrast,
        ImgaugOp::Equalize,
        ImgaugOp::Invert,
        ImgaugOp::Cutout(0.2 * LEVEL),
    ]
}

/// The built step: the 15 augmenters with their signs.
#[derive(Debug)]
struct ImgaugDefault {
    ops: Vec<ImgaugOp>,
}

impl OpConfig for Imgaug {
    fn build(&self, _: &BuildCtx) -> Result<std::sync::Arc<dyn FrameOp>> {
        if self.transforms != "default" {
            bail!("transforms {:?} is not supported: vpipe implements mmaction2's `default` set", self.transforms);
        }
        Ok(std::sync::Arc::new(ImgaugDefault { ops: default_ops(&mut rand_pcg::Pcg64::seed_from_u64(0)) }))
    }
}

impl FrameOp for ImgaugDefault {
    fn apply(&self, mut clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        let Some(first) = clip.frames.first() else { return Ok(clip) };
        if first.channels != 3 {
            bail!("Imgaug needs RGB frames, not flow");
        }
        clip.refuse_boxes("Imgaug")?;
        // SomeOf(2): two distinct augmenters, applied in list order; one draw for the whole clip.
        let a = rng.random_range(0..self.ops.len());
        let b = (a + 1 + rng.random_range(0..self.ops.len() - 1)) % self.ops.len();
        let (a, b) = (a.min(b), a.max(b));
        let position = (rng.random::<f64>(), rng.random::<f64>());
        for op in [self.ops[a], self.ops[b]] {
            clip.frames = clip.frames.iter().map(|f| op.apply(f, position)).collect();
        }
        clip.trace.push(format!("Imgaug: {:?}, {:?} (cutout centre {:.3}, {:.3})", self.ops[a], self.ops[b], position.0, position.1));
        Ok(clip)
    }
}

impl ImgaugOp {
    /// The augmenter on one RGB frame; `cutout` is Cutout's centre as fractions of (width,
    /// height), ignored by the others.
    pub fn apply(self, f: &Frame, cutout: (f64, f64)) -> Frame {
        let (w, h) = (f.width as f64, f.height as f64);
        match self {
            ImgaugOp::ShearX(deg) => warp_affine(f, affine_matrix(w, h, 0.0, deg.to_radians(), 0.0, (0.0, 0.0))),
            ImgaugOp::ShearY(deg) => warp_affine(f, affine_matrix(w, h, 0.0, 0.0, deg.to_radians(), (0.0, 0.0))),
            ImgaugOp::TranslateX(p) => warp_affine(f, affine_matrix(w, h, 0.0, 0.0, 0.0, (p * w, 0.0))),
            ImgaugOp::TranslateY(p) => warp_affine(f, affine_matrix(w, h, 0.0, 0.0, 0.0, (0.0, p * h))),
            ImgaugOp::Rotate(deg) => warp_affine(f, affine_matrix(w, h, deg.to_radians(), 0.0, 0.0, (0.0, 0.0))),
            ImgaugOp::Posterize(bits) => {
                let bin = 256 / (1u32 << bits);
                map(f, |v| ((v as u32 / bin) * bin) as u8)
            }
            // numpy compares with the threshold cast to the image dtype: 230.4 → 230.
            ImgaugOp::Solarize(t) => map(f, |v| if v as f64 >= t.trunc() { 255 - v } else { v }),
            ImgaugOp::Invert => map(f, |v| 255 - v),
            ImgaugOp::EnhanceColor(k) => {
                let l = luma(f);
                pil_blend(f, |p, _| l[p], k)
            }
            ImgaugOp::EnhanceContrast(k) => {
                let l = luma(f);
                let mean = l.iter().map(|&v| v as f64).sum::<f64>() / l.len().max(1) as f64;
                let m = (mean + 0.5) as u8;
                pil_blend(f, |_, _| m, k)
            }
            ImgaugOp::EnhanceBrightness(k) => pil_blend(f, |_, _| 0, k),
            ImgaugOp::EnhanceSharpness(k) => {
                let smooth = pil_smooth(f);
                pil_blend(f, |p, c| smooth.data[p * 3 + c], k)
            }
            ImgaugOp::Autocontrast => autocontrast(f),
            ImgaugOp::Equalize => equalize(f),
            ImgaugOp::Cutout(size) => {
                let (cx, cy) = cutout;
                let (y1, y2) = ((cy - size / 2.0) * h, (cy + size / 2.0) * h);
                let half = (y2 - y1) / 2.0;
                let (x1, x2) = (cx * w - half, cx * w + half);
                let clampi = |v: f64, hi: usize| (v.trunc() as i64).clamp(0, hi as i64) as usize;
                let (x1, x2, y1, y2) = (clampi(x1, f.width), clampi(x2, f.width), clampi(y1, f.height), clampi(y2, f.height));
                let mut out = f.clone();
                for y in y1..y2 {
                    out.data[(y * f.width + x1) * 3..(y * f.width + x2) * 3].fill(128);
                }
                out
            }
        }
    }
}

/// imgaug's `_AffineSamplingResult.to_matrix` for an image of `w`×`h`: about the centre
/// (shifted by 0.5), y-shear done as an x-shear between ∓3.141592/2 rotations, then
/// rotation / x-shear / translation (skimage `AffineTransform` formulas; `A + B` = B·A).
fn affine_matrix(w: f64, h: f64, rot: f64, shear_x: f64, shear_y: f64, t: (f64, f64)) -> [[f64; 3]; 3] {
    let (sx, sy) = (w / 2.0 - 0.5, h / 2.0 - 0.5);
    let translate = |x: f64, y: f64| [[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]];
    // skimage AffineTransform(scale 1, rotation r, shear (shx, 0), translation).
    let affine = |r: f64, shx: f64, tx: f64, ty: f64| {
        [[r.cos(), -(shx.tan() * r.cos() + r.sin()), tx], [r.sin(), -(shx.tan() * r.sin() - r.cos()), ty], [0.0, 0.0, 1.0]]
    };
    // imgaug writes π as 3.141592: its y-shear rotations are that far from a quarter turn.
    #[allow(clippy::approx_constant)]
    const IMGAUG_PI: f64 = 3.141592;
    let steps = [
        translate(-sx, -sy),
        affine(-IMGAUG_PI / 2.0, 0.0, 0.0, 0.0),
        affine(0.0, shear_y, 0.0, 0.0),
        affine(IMGAUG_PI / 2.0, 0.0, 0.0, 0.0),
        affine(rot, shear_x, t.0, t.1),
        translate(sx, sy),
    ];
    steps.iter().fold(translate(0.0, 0.0), |acc, m| matmul(m, &acc))
}

fn matmul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

/// OpenCV's `warpAffine(src, M, INTER_LINEAR, BORDER_CONSTANT, 0)` on 8-bit RGB: the inverse map
/// in 1/1024 fixed point rounded to a 1/32-pixel grid, bilinear weights in 1/32768, black
/// outside.
fn warp_affine(f: &Frame, m: [[f64; 3]; 3]) -> Frame {
    // invertAffineTransform.
    let d = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let d = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (a11, a22, a12, a21) = (m[1][1] * d, m[0][0] * d, -m[0][1] * d, -m[1][0] * d);
    let b1 = -a11 * m[0][2] - a12 * m[1][2];
    let b2 = -a21 * m[0][2] - a22 * m[1][2];
    let inv = [a11, a12, b1, a21, a22, b2];
    let (w, h) = (f.width as i64, f.height as i64);
    let cv_round = |v: f64| v.round_ties_even() as i64;
    let mut out = f.clone();
    for y in 0..h {
        let x0 = cv_round((inv[1] * y as f64 + inv[2]) * 1024.0) + 16;
        let y0 = cv_round((inv[4] * y as f64 + inv[5]) * 1024.0) + 16;
        for x in 0..w {
            let xx = (x0 + cv_round(inv[0] * x as f64 * 1024.0)) >> 5;
            let yy = (y0 + cv_round(inv[3] * x as f64 * 1024.0)) >> 5;
            let (ix, iy, fx, fy) = (xx >> 5, yy >> 5, xx & 31, yy & 31);
            let weights = [(0, 0, (32 - fx) * (32 - fy)), (1, 0, fx * (32 - fy)), (0, 1, (32 - fx) * fy), (1, 1, fx * fy)];
            for c in 0..3 {
                let mut acc = 0i64;
                for (dx, dy, wgt) in weights {
                    let (sx, sy) = (ix + dx, iy + dy);
                    if sx >= 0 && sy >= 0 && sx < w && sy < h {
                        acc += wgt * 32 * f.data[((sy * w + sx) * 3 + c) as usize] as i64;
                    }
                }
                out.data[((y * w + x) * 3 + c) as usize] = ((acc + (1 << 14)) >> 15).clamp(0, 255) as u8;
            }
        }
    }
    out
}

/// Pillow's RGB → L: (19595 R + 38470 G + 7471 B + 0x8000) >> 16, per pixel.
fn luma(f: &Frame) -> Vec<u8> {
    f.data.chunks_exact(3).map(|p| ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16) as u8).collect()
}

/// Pillow's `Image.blend(degenerate, image, alpha)`: degenerate + alpha·(image − degenerate) in
/// float32, clipped to [0, 255] and truncated.
fn pil_blend(f: &Frame, degenerate: impl Fn(usize, usize) -> u8, alpha: f64) -> Frame {
    let a = alpha as f32;
    let data = f
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let d = degenerate(i / 3, i % 3) as i32;
            let t = d as f32 + a * (v as i32 - d) as f32;
            t.clamp(0.0, 255.0) as u8
        })
        .collect();
    Frame { data, ..f.clone() }
}

/// Pillow's `ImageFilter.SMOOTH` ([1 1 1; 1 5 1; 1 1 1] / 13) inside the border, float32 sums
/// rounded; the border rows and columns kept.
fn pil_smooth(f: &Frame) -> Frame {
    let (w, h) = (f.width, f.height);
    let mut out = f.clone();
    if w < 3 || h < 3 {
        return out;
    }
    let k = [1.0f32 / 13.0, 5.0 / 13.0];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            for c in 0..3 {
                let mut s = 0.0f32;
                for dy in [1i64, 0, -1] {
                    for dx in [-1i64, 0, 1] {
                        let wgt = if dx == 0 && dy == 0 { k[1] } else { k[0] };
                        s += f.data[(((y as i64 + dy) as usize) * w + (x as i64 + dx) as usize) * 3 + c] as f32 * wgt;
                    }
                }
                out.data[(y * w + x) * 3 + c] = (s + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// imgaug `_autocontrast_no_pil` (cutoff 0): per channel, the lowest and highest levels present
/// stretched to 0 and 255 (float64, truncated).
fn autocontrast(f: &Frame) -> Frame {
    per_channel(f, |hist| {
        let (lo, hi) = level_range(hist).filter(|(lo, hi)| hi > lo)?;
        let scale = 255.0 / (hi as f64 - lo as f64);
        let offset = -(lo as f64) * scale;
        Some(std::array::from_fn(|i| (i as f64 * scale + offset).clamp(0.0, 255.0) as u8))
    })
}

/// imgaug `_equalize_no_pil_`: per channel, step = (pixels − count of level 255) div 255, then
/// lut[i] = (step div 2 + pixels below i) div step.
fn equalize(f: &Frame) -> Frame {
    per_channel(f, |hist| {
        if hist.iter().filter(|&&n| n > 0).count() <= 1 {
            return None;
        }
        let step = hist[..255].iter().sum::<i64>() / 255;
        if step == 0 {
            return None;
        }
        let mut lut = [0u8; 256];
        let mut below = 0i64;
        for (i, &n) in hist.iter().enumerate() {
            lut[i] = ((step / 2 + below) / step).min(255) as u8;
            below += n;
        }
        Some(lut)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_draw_per_clip_of_two_augmenters_in_list_order() {
        let op = Imgaug { transforms: "default".into() }.build(&BuildCtx::default()).unwrap();
        let ops = default_ops(&mut rand_pcg::Pcg64::seed_from_u64(0));
        let frame = Frame::new(8, 6, (0..8 * 6 * 3).map(|i| (i * 7 % 256) as u8).collect());
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        let mut counts = vec![0usize; 15];
        let n = 3000;
        for _ in 0..n {
            let clip = op.apply(Clip::new(vec![frame.clone(), frame.clone()], 1, 2), &mut rng).unwrap();
            assert_eq!(clip.frames[0], clip.frames[1], "every frame of a clip gets the same draw");
            let trace = &clip.trace[0];
            let at: Vec<usize> = (0..15).filter(|&i| trace.contains(&format!("{:?}", ops[i]))).collect();
            assert_eq!(at.len(), 2, "{trace}");
            // List order: the earlier augmenter is named first.
            assert!(trace.find(&format!("{:?}", ops[at[0]])) < trace.find(&format!("{:?}", ops[at[1]])), "{trace}");
            at.iter().for_each(|&i| counts[i] += 1);
        }
        // Each augmenter is in 2/15 of the clips: 400 of 3000, σ ≈ 19.
        assert!(counts.iter().all(|&c| (300..500).contains(&c)), "{counts:?}");
        assert!(Imgaug { transforms: "imgaug.Sequential".into() }.build(&BuildCtx::default()).is_err());
    }
}
