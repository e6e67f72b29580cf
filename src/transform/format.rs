//! `Normalize` and `FormatShape`: from a uint8 [`Clip`] to the float tensor a model takes.

use serde::{Deserialize, Serialize};

use super::Clip;

/// `Normalize(mean, std, to_bgr=False)`, mmaction2 0.x: per channel (x − mean) · (1/std) in
/// float32, RGB order unless `to_bgr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Per-channel mean, RGB, in uint8 units (ImageNet: `[123.675, 116.28, 103.53]`).
    pub mean: [f32; 3],
    /// Per-channel standard deviation, uint8 units (ImageNet: `[58.395, 57.12, 57.375]`).
    pub std: [f32; 3],
    /// Swap to BGR before normalising.
    #[serde(default)]
    pub to_bgr: bool,
}

impl Normalize {
    /// ImageNet statistics, as in every mmaction2 RGB config.
    pub fn imagenet() -> Self {
        Normalize { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_bgr: false }
    }

    /// Normalised value of channel `c` (0..3, output order) for the RGB pixel `px`.
    fn value(&self, px: &[u8], c: usize) -> f32 {
        let src = if self.to_bgr { 2 - c } else { c };
        (px[src] as f32 - self.mean[c]) * (1.0 / self.std[c])
    }
}

/// `FormatShape(input_format)`: the per-sample tensor layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputFormat {
    /// 2D recognisers (TSN/TSM): (M, C, H, W), M = crops · clips · clip_len.
    #[default]
    NCHW,
    /// 3D recognisers: (crops · clips, C, L, H, W).
    NCTHW,
}

/// A dense float32 tensor, row-major (C order).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

/// Normalises `clip` and lays it out as `format` for one sample: NCHW (M, 3, H, W) or NCTHW
/// (crops · K, 3, L, H, W). Frames must share one size (crop or resize first).
///
/// # Panics
/// Frames of different sizes.
pub fn to_tensor(clip: &Clip, norm: &Normalize, format: InputFormat) -> Tensor {
    let (w, h) = clip.frames.first().map_or((0, 0), |f| (f.width, f.height));
    let hw = w * h;
    let m = clip.frames.len();
    let mut data = vec![0f32; m * 3 * hw];
    let l = clip.clip_len;
    for (i, f) in clip.frames.iter().enumerate() {
        assert_eq!((f.width, f.height), (w, h), "frames of one sample must share one size");
        // NCTHW: image i is frame t of view v; channel c's plane sits at ((v·3 + c)·L + t)·HW.
        let (v, t) = (i / l, i % l);
        for c in 0..3 {
            let base = match format {
                InputFormat::NCHW => (i * 3 + c) * hw,
                InputFormat::NCTHW => ((v * 3 + c) * l + t) * hw,
            };
            let plane = &mut data[base..base + hw];
            for (dst, px) in plane.iter_mut().zip(f.data.chunks_exact(3)) {
                *dst = norm.value(px, c);
            }
        }
    }
    let shape = match format {
        InputFormat::NCHW => vec![m, 3, h, w],
        InputFormat::NCTHW => vec![m / l, 3, l, h, w],
    };
    Tensor { shape, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Frame;

    #[test]
    fn imagenet_normalize_worked_example() {
        let n = Normalize::imagenet();
        let px = [255u8, 0, 128];
        let got = [0, 1, 2].map(|c| n.value(&px, c));
        for (g, want) in got.iter().zip([2.248908f32, -2.035714, 0.426492]) {
            assert!((g - want).abs() < 1e-5, "{got:?}");
        }
    }

    #[test]
    fn cdar_gcd_normalize_128_50() {
        let n = Normalize { mean: [128.0; 3], std: [50.0; 3], to_bgr: false };
        assert!((n.value(&[0, 0, 0], 0) + 2.56).abs() < 1e-6 && (n.value(&[255, 0, 0], 0) - 2.54).abs() < 1e-6);
    }

    fn clip(num_crops: usize, k: usize, l: usize, w: usize, h: usize) -> Clip {
        let frames = (0..num_crops * k * l).map(|i| Frame::new(w, h, vec![i as u8; w * h * 3])).collect();
        Clip { frames, clip_len: l, num_clips: k, num_crops }
    }

    #[test]
    fn shapes_match_mmaction2_table() {
        let id = Normalize { mean: [0.0; 3], std: [1.0; 3], to_bgr: false };
        // TSM 0.x test, 8 clips, CenterCrop: (8,3,224,224).
        assert_eq!(to_tensor(&clip(1, 8, 1, 224, 224), &id, InputFormat::NCHW).shape, vec![8, 3, 224, 224]);
        // TSN test, 25 clips x ThreeCrop 256: (75,3,256,256).
        assert_eq!(to_tensor(&clip(3, 25, 1, 8, 8), &id, InputFormat::NCHW).shape[0], 75);
        // NCTHW L=8, K=2, twice_sample (4 clips): (4,3,8,H,W).
        assert_eq!(to_tensor(&clip(1, 4, 8, 4, 4), &id, InputFormat::NCTHW).shape, vec![4, 3, 8, 4, 4]);
    }

    #[test]
    fn ncthw_puts_frame_t_of_view_v_in_place() {
        let id = Normalize { mean: [0.0; 3], std: [1.0; 3], to_bgr: false };
        let t = to_tensor(&clip(1, 2, 3, 2, 2), &id, InputFormat::NCTHW);
        // element [v=1, c=2, t=1, 0, 0] comes from image 1·3+1 = 4.
        let idx = (((1 * 3 + 2) * 3 + 1) * 2) * 2;
        assert_eq!(t.data[idx], 4.0);
    }
}
