//! RandAugment for video as pytorchvideo defines it (`pytorchvideo/transforms/rand_augment.py`,
//! `augmentations.py`; semantics §11), the step mmaction2 0.x configs write
//! `PytorchVideoTrans: {trans_type: RandAugment}` and 1.x `PytorchVideoWrapper: {op:
//! RandAugment, magnitude, num_layers, prob}`.
//!
//! Per clip, one draw shared by all its frames: `num_layers` of the 14 ops, uniformly without
//! replacement, applied in the drawn order; each applied with probability `prob`, at magnitude
//! m = clip(N(magnitude, 0.5), 0, 10) and level m/10: Brightness / Contrast / Saturation /
//! Sharpness factor 1 ± 0.9·level (sign 50/50), Rotate ±30°·level, ShearX/Y ±0.3·level,
//! TranslateX/Y ±0.45·level of the width / height, Posterize to 4 − int(4·level) bits, Solarize
//! above int((1 − level)·255); AutoContrast, Equalize and Invert take no argument.
//!
//! The pixel ops are torchvision's tensor functions on uint8 `(C, H, W)` (float32 arithmetic,
//! truncation or round-half-even as each does), and pytorchvideo's own `affine` for shears and
//! translations. Geometric ops fill with pytorchvideo's default `fill=(0.5, 0.5, 0.5)`, which on
//! uint8 frames (as mmaction2 hands them) is 0.5 of 255 levels: black, blended at the edges.

use anyhow::{bail, Result};
use rand::{Rng, RngCore};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::lut::{level_range, map, per_channel};
use super::ops::{check_prob, BuildCtx, Clip, FrameOp, OpConfig};
use crate::frame::Frame;

/// `PytorchVideoTrans` (0.x) / `PytorchVideoWrapper` (1.x) with `RandAugment`, pytorchvideo's
/// defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PytorchVideoTrans {
    /// The pytorchvideo transform: `RandAugment` (0.x `trans_type`, 1.x `op`).
    #[serde(alias = "op")]
    pub trans_type: String,
    /// Mean magnitude, 0..=10 (default 9; 1.x UniFormerV2/MViT configs use 7).
    #[serde(default = "nine")]
    pub magnitude: f64,
    /// Ops drawn per clip, 1..=14 (default 2; 1.x configs use 4).
    #[serde(default = "two")]
    pub num_layers: usize,
    /// Probability of applying each drawn op (default 0.5).
    #[serde(default = "half")]
    pub prob: f64,
}

fn nine() -> f64 {
    9.0
}
fn two() -> usize {
    2
}
fn half() -> f64 {
    0.5
}

/// One of RandAugment's 14 ops, in pytorchvideo's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AugOp {
    /// `adjust_brightness(factor)`.
    AdjustBrightness,
    /// `adjust_contrast(factor)`.
    AdjustContrast,
    /// `adjust_saturation(factor)`.
    AdjustSaturation,
    /// `adjust_sharpness(factor)`.
    AdjustSharpness,
    /// `autocontrast`.
    AutoContrast,
    /// `equalize`.
    Equalize,
    /// `invert`.
    Invert,
    /// `rotate(angle°)`, bilinear.
    Rotate,
    /// `posterize(bits)`.
    Posterize,
    /// `solarize(factor)`: threshold int(factor·255).
    Solarize,
    /// Affine shear along x by the factor.
    ShearX,
    /// Affine shear along y by the factor.
    ShearY,
    /// Translate along x by the factor × width.
    TranslateX,
    /// Translate along y by the factor × height.
    TranslateY,
}

/// The 14 ops in `_TRANSFORM_RANDAUG_MAX_PARAMS` order.
pub const OPS: [AugOp; 14] = [
    AugOp::AdjustBrightness,
    AugOp::AdjustContrast,
    AugOp::AdjustSaturation,
    AugOp::AdjustSharpness,
    AugOp::AutoContrast,
    AugOp::Equalize,
    AugOp::Invert,
    AugOp::Rotate,
    AugOp::Posterize,
    AugOp::Solarize,
    AugOp::ShearX,
    AugOp::ShearY,
    AugOp::TranslateX,
    AugOp::TranslateY,
];

impl AugOp {
    /// pytorchvideo's level function: the op's argument at magnitude `m` (0..=10), negated when
    /// `negative` for the ops that take a random sign. `None` for the ops without argument.
    pub fn arg(self, m: f64, negative: bool) -> Option<f64> {
        let level = m / 10.0;
        let sign = if negative { -1.0 } else { 1.0 };
        Some(match self {
            AugOp::AdjustBrightness | AugOp::AdjustContrast | AugOp::AdjustSaturation | AugOp::AdjustSharpness => 1.0 + sign * level * 0.9,
            AugOp::Rotate => sign * level * 30.0,
            AugOp::ShearX | AugOp::ShearY => sign * level * 0.3,
            AugOp::TranslateX | AugOp::TranslateY => sign * level * 0.45,
            AugOp::Posterize => 4.0 - (level * 4.0).trunc(),
            AugOp::Solarize => 1.0 - level,
            AugOp::AutoContrast | AugOp::Equalize | AugOp::Invert => return None,
        })
    }

    /// Whether the op draws a sign (`_increasing_randomly_negate_to_arg`).
    fn signed(self) -> bool {
        !matches!(self, AugOp::Posterize | AugOp::Solarize | AugOp::AutoContrast | AugOp::Equalize | AugOp::Invert)
    }

    /// The op on one RGB frame with argument `arg` ([`Self::arg`]; ignored by the ops without).
    pub fn apply(self, f: &Frame, arg: f64) -> Frame {
        match self {
            AugOp::AdjustBrightness => blend(f, |_, _| 0.0, arg),
            AugOp::AdjustContrast => {
                let g = grayscale(f);
                let mean = (g.iter().map(|&v| v as f64).sum::<f64>() / g.len().max(1) as f64) as f32;
                blend(f, |_, _| mean, arg)
            }
            AugOp::AdjustSaturation => {
                let g = grayscale(f);
                blend(f, |p, _| g[p] as f32, arg)
            }
            AugOp::AdjustSharpness => {
                if f.width <= 2 || f.height <= 2 {
                    return f.clone();
                }
                let blurred = degenerate(f);
                blend(f, |p, c| blurred.data[p * 3 + c] as f32, arg)
            }
            AugOp::AutoContrast => autocontrast(f),
            AugOp::Equalize => equalize(f),
            AugOp::Invert => map(f, |v| 255 - v),
            AugOp::Posterize => {
                let mask = (-(1i32 << (8 - arg as i32))) as u8;
                map(f, |v| v & mask)
            }
            AugOp::Solarize => {
                let t = (arg * 255.0).trunc() as i32;
                map(f, |v| if v as i32 >= t { 255 - v } else { v })
            }
            AugOp::Rotate => affine(f, rotation_matrix(arg)),
            AugOp::ShearX => affine(f, [1.0, arg, f.height as f64 * arg / 2.0, 0.0, 1.0, 0.0]),
            AugOp::ShearY => affine(f, [1.0, 0.0, 0.0, arg, 1.0, f.width as f64 * arg / 2.0]),
            AugOp::TranslateX => affine(f, [1.0, 0.0, arg * f.width as f64, 0.0, 1.0, 0.0]),
            AugOp::TranslateY => affine(f, [1.0, 0.0, 0.0, 0.0, 1.0, arg * f.height as f64]),
        }
    }
}

/// One drawn op: `None` when the `prob` draw skipped it, else its magnitude and argument.
pub type Drawn = (AugOp, Option<(f64, Option<f64>)>);

/// What one clip drew, in application order.
#[derive(Clone, Debug, PartialEq)]
pub struct Draw(pub Vec<Drawn>);

impl std::fmt::Display for Draw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(op, d)| match d {
                None => format!("{op:?} skipped"),
                Some((m, Some(a))) => format!("{op:?} m={m:.2} arg={a:.4}"),
                Some((m, None)) => format!("{op:?} m={m:.2}"),
            })
            .collect();
        write!(f, "RandAugment: {}", parts.join(", "))
    }
}

impl PytorchVideoTrans {
    /// This clip's draw, pytorchvideo's order: the ops (`OpSampler`: multinomial without
    /// replacement), then per op the `prob` draw, the magnitude and the sign.
    pub fn draw(&self, rng: &mut dyn RngCore) -> Draw {
        let mut pool: Vec<AugOp> = OPS.to_vec();
        let picked: Vec<AugOp> = (0..self.num_layers.min(OPS.len())).map(|_| pool.remove(rng.random_range(0..pool.len()))).collect();
        let normal = Normal::new(self.magnitude, 0.5).expect("finite magnitude");
        Draw(
            picked
                .into_iter()
                .map(|op| {
                    if rng.random::<f64>() > self.prob {
                        return (op, None);
                    }
                    let m = normal.sample(rng).clamp(0.0, 10.0);
                    let negative = op.signed() && rng.random::<f64>() <= 0.5;
                    (op, Some((m, op.arg(m, negative))))
                })
                .collect(),
        )
    }
}

impl OpConfig for PytorchVideoTrans {
    fn build(&self, _: &BuildCtx) -> Result<std::sync::Arc<dyn FrameOp>> {
        if self.trans_type != "RandAugment" {
            bail!("trans_type (op) {:?} is not supported: vpipe implements pytorchvideo's RandAugment", self.trans_type);
        }
        if !(0.0..=10.0).contains(&self.magnitude) {
            bail!("magnitude must be in [0, 10], got {}", self.magnitude);
        }
        if !(1..=OPS.len()).contains(&self.num_layers) {
            bail!("num_layers must be 1..=14, got {}", self.num_layers);
        }
        check_prob("prob", self.prob)?;
        Ok(std::sync::Arc::new(self.clone()))
    }
}

impl FrameOp for PytorchVideoTrans {
    fn apply(&self, mut clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        let Some(first) = clip.frames.first() else { return Ok(clip) };
        if first.channels != 3 {
            bail!("RandAugment needs RGB frames, not flow");
        }
        clip.refuse_boxes("RandAugment")?;
        let draw = self.draw(rng);
        for (op, d) in &draw.0 {
            if let Some((_, arg)) = d {
                clip.frames = clip.frames.iter().map(|f| op.apply(f, arg.unwrap_or(0.0))).collect();
            }
        }
        clip.trace.push(draw.to_string());
        Ok(clip)
    }
}

/// torchvision `_blend`: trunc(clamp(ratio·x + (1 − ratio)·other(pixel, channel), 0, 255)) in
/// float32.
fn blend(f: &Frame, other: impl Fn(usize, usize) -> f32, ratio: f64) -> Frame {
    let (r, q) = (ratio as f32, (1.0 - ratio) as f32);
    let data = f.data.iter().enumerate().map(|(i, &v)| (r * v as f32 + q * other(i / 3, i % 3)).clamp(0.0, 255.0) as u8).collect();
    Frame { data, ..f.clone() }
}

/// torchvision `rgb_to_grayscale` on uint8: trunc(0.2989 R + 0.587 G + 0.114 B), per pixel.
fn grayscale(f: &Frame) -> Vec<u8> {
    f.data.chunks_exact(3).map(|p| (0.2989f32 * p[0] as f32 + 0.587f32 * p[1] as f32 + 0.114f32 * p[2] as f32) as u8).collect()
}

/// torchvision `_blurred_degenerate_image`: the 3×3 kernel [1 1 1; 1 5 1; 1 1 1]/13 inside the
/// border (rounded half to even), the border kept.
fn degenerate(f: &Frame) -> Frame {
    let (w, h) = (f.width, f.height);
    let k = [1.0f32 / 13.0, 5.0f32 / 13.0];
    let mut out = f.clone();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            for c in 0..3 {
                let mut s = 0.0f32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        let wgt = if dx == 1 && dy == 1 { k[1] } else { k[0] };
                        s += wgt * f.data[((y + dy - 1) * w + x + dx - 1) * 3 + c] as f32;
                    }
                }
                out.data[(y * w + x) * 3 + c] = s.round_ties_even() as u8;
            }
        }
    }
    out
}

/// torchvision `autocontrast`: per channel, (x − min) · 255/(max − min) in float32, truncated; a
/// flat channel is kept.
fn autocontrast(f: &Frame) -> Frame {
    per_channel(f, |hist| {
        let (lo, hi) = level_range(hist).filter(|(lo, hi)| lo != hi)?;
        let scale = 255.0f32 / (hi as f32 - lo as f32);
        Some(std::array::from_fn(|v| ((v as f32 - lo as f32) * scale).clamp(0.0, 255.0) as u8))
    })
}

/// torchvision `equalize` (`_scale_channel`): per channel, the histogram's cumulative sum
/// divided by step = (pixels − the last non-empty bin's count) div 255, shifted by one bin.
fn equalize(f: &Frame) -> Frame {
    per_channel(f, |hist| {
        let nonzero: Vec<i64> = hist.iter().copied().filter(|&n| n != 0).collect();
        let step = nonzero[..nonzero.len().saturating_sub(1)].iter().sum::<i64>() / 255;
        if step == 0 {
            return None;
        }
        let mut lut = [0u8; 256];
        let mut cum = 0i64;
        for (i, &n) in hist.iter().enumerate().take(255) {
            cum += n;
            lut[i + 1] = ((cum + step / 2) / step).clamp(0, 255) as u8;
        }
        Some(lut)
    })
}

/// torchvision `rotate`'s inverse affine matrix for `angle` degrees counter-clockwise about the
/// centre (`_get_inverse_affine_matrix(center=[0, 0], -angle, [0, 0], 1, [0, 0])`).
fn rotation_matrix(angle: f64) -> [f64; 6] {
    let rot = (-angle).to_radians();
    let (a, b, c, d) = (rot.cos(), -rot.sin(), rot.sin(), rot.cos());
    [d, -b, 0.0, -c, a, 0.0]
}

/// torchvision / pytorchvideo `affine` through `_gen_affine_grid` and `grid_sample` (bilinear,
/// zero padding, `align_corners=False`) with a ones channel that blends the fill 0.5 in at the
/// edges, rounded half to even; all in float32. `theta` maps output pixel centres (origin at
/// the image centre) to input ones.
fn affine(f: &Frame, theta: [f64; 6]) -> Frame {
    let (w, h) = (f.width, f.height);
    let t: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
    let (hw, hh) = (0.5 * w as f32, 0.5 * h as f32);
    // rescaled_theta = thetaᵀ / [w/2, h/2]: the grid is base @ rescaled_theta.
    let r = [[t[0] / hw, t[3] / hh], [t[1] / hw, t[4] / hh], [t[2] / hw, t[5] / hh]];
    let mut out = f.clone();
    const FILL: f32 = 0.5;
    for oy in 0..h {
        let y = -(h as f32) * 0.5 + 0.5 + oy as f32;
        for ox in 0..w {
            let x = -(w as f32) * 0.5 + 0.5 + ox as f32;
            let gx = x * r[0][0] + y * r[1][0] + r[2][0];
            let gy = x * r[0][1] + y * r[1][1] + r[2][1];
            // grid_sampler_unnormalize, align_corners=False.
            let ix = ((gx + 1.0) * w as f32 - 1.0) / 2.0;
            let iy = ((gy + 1.0) * h as f32 - 1.0) / 2.0;
            let (x0, y0) = (ix.floor(), iy.floor());
            let (x1, y1) = (x0 + 1.0, y0 + 1.0);
            let corners = [
                (x0, y0, (x1 - ix) * (y1 - iy)),
                (x1, y0, (ix - x0) * (y1 - iy)),
                (x0, y1, (x1 - ix) * (iy - y0)),
                (x1, y1, (ix - x0) * (iy - y0)),
            ];
            let mut acc = [0.0f32; 3];
            let mut mask = 0.0f32;
            for (cx, cy, wgt) in corners {
                if cx >= 0.0 && cy >= 0.0 && (cx as usize) < w && (cy as usize) < h {
                    let p = (cy as usize * w + cx as usize) * 3;
                    for (c, a) in acc.iter_mut().enumerate() {
                        *a += f.data[p + c] as f32 * wgt;
                    }
                    mask += wgt;
                }
            }
            let p = (oy * w + ox) * 3;
            for (c, a) in acc.iter().enumerate() {
                out.data[p + c] = (a * mask + (1.0 - mask) * FILL).round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_follow_pytorchvideos_definition() {
        let t = PytorchVideoTrans { trans_type: "RandAugment".into(), magnitude: 9.0, num_layers: 2, prob: 0.5 };
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let n = 20000;
        let mut counts = std::collections::HashMap::new();
        let (mut applied, mut mags, mut negative, mut signed) = (0usize, Vec::new(), 0usize, 0usize);
        for _ in 0..n {
            let d = t.draw(&mut rng);
            assert_eq!(d.0.len(), 2);
            assert_ne!(d.0[0].0, d.0[1].0, "without replacement");
            for (op, x) in d.0 {
                *counts.entry(op).or_insert(0usize) += 1;
                if let Some((m, arg)) = x {
                    applied += 1;
                    assert!((0.0..=10.0).contains(&m));
                    mags.push(m);
                    if op.signed() {
                        signed += 1;
                        let factor = matches!(
                            op,
                            AugOp::AdjustBrightness | AugOp::AdjustContrast | AugOp::AdjustSaturation | AugOp::AdjustSharpness
                        );
                        let neutral = if factor { 1.0 } else { 0.0 };
                        negative += (arg.unwrap() < neutral) as usize;
                    }
                }
            }
        }
        // Each op is drawn 2/14 of the time: 20000·2/14 ≈ 2857, σ ≈ 50.
        assert_eq!(counts.len(), 14);
        for (op, c) in &counts {
            assert!((c * 14).abs_diff(2 * n) < 14 * 250, "{op:?} drawn {c} times");
        }
        assert!((applied as f64 / (2 * n) as f64 - 0.5).abs() < 0.02, "applied {applied}");
        let mean = mags.iter().sum::<f64>() / mags.len() as f64;
        let sd = (mags.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / mags.len() as f64).sqrt();
        assert!((mean - 9.0).abs() < 0.02 && (sd - 0.5).abs() < 0.02, "magnitude mean {mean} sd {sd}");
        assert!((negative as f64 / signed as f64 - 0.5).abs() < 0.02, "negative {negative}/{signed}");
    }

    #[test]
    fn level_functions_are_pytorchvideos() {
        assert_eq!(AugOp::Posterize.arg(9.0, false), Some(1.0)); // 4 − int(3.6)
        assert_eq!(AugOp::Posterize.arg(10.0, false), Some(0.0));
        assert!((AugOp::Solarize.arg(9.0, false).unwrap() - 0.1).abs() < 1e-12);
        assert!((AugOp::Rotate.arg(5.0, true).unwrap() + 15.0).abs() < 1e-12);
        assert!((AugOp::AdjustContrast.arg(10.0, true).unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(AugOp::Invert.arg(3.0, true), None);
    }
}
