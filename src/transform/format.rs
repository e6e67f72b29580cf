//! `Normalize` and `FormatShape`: from a uint8 [`Clip`] to the float tensor a model takes.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::Clip;

/// `Normalize(mean, std, to_bgr=False)`, mmaction2 0.x: per channel (x − mean) · (1/std) in
/// float32, RGB order unless `to_bgr`. Flow clips (grayscale x/y images, interleaved
/// `[x0, y0, x1, y1, …]`) take two values: x images use `mean[0]`/`std[0]`, y images `mean[1]`/`std[1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Per-channel mean in uint8 units: RGB `[123.675, 116.28, 103.53]` (ImageNet), flow `[128, 128]`.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation in uint8 units: RGB `[58.395, 57.12, 57.375]`, flow `[128, 128]`.
    pub std: Vec<f32>,
    /// Swap to BGR before normalising (RGB only).
    #[serde(default)]
    pub to_bgr: bool,
}

impl Normalize {
    /// ImageNet statistics, as in every mmaction2 RGB config.
    pub fn imagenet() -> Self {
        Normalize { mean: vec![123.675, 116.28, 103.53], std: vec![58.395, 57.12, 57.375], to_bgr: false }
    }

    /// Statistics mmaction2's flow configs use: `mean=[128, 128], std=[128, 128]`.
    pub fn flow() -> Self {
        Normalize { mean: vec![128.0; 2], std: vec![128.0; 2], to_bgr: false }
    }

    /// Checks that there is one mean and std per channel: 3 for RGB frames, 2 (x, y) for flow.
    ///
    /// # Errors
    /// Lengths that do not match `channels` (1 = flow, 3 = RGB), or a zero std.
    pub fn check(&self, channels: usize) -> Result<()> {
        let want = if channels == 1 { 2 } else { 3 };
        if self.mean.len() != want || self.std.len() != want {
            bail!(
                "Normalize: {} frames need {want} mean and std values, got mean {:?} std {:?}",
                if channels == 1 { "flow" } else { "RGB" },
                self.mean,
                self.std
            );
        }
        if self.std.contains(&0.0) {
            bail!("Normalize: std must not be 0: {:?}", self.std);
        }
        Ok(())
    }

    /// Normalised value of channel `c` (0..3, output order) for the RGB pixel `px`.
    fn value(&self, px: &[u8], c: usize) -> f32 {
        let src = if self.to_bgr { 2 - c } else { c };
        (px[src] as f32 - self.mean[c]) * (1.0 / self.std[c])
    }
}

/// `FormatShape(input_format)`: the per-sample tensor layout.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum InputFormat {
    /// 2D recognisers (TSN/TSM): (M, C, H, W), M = crops · clips · clip_len.
    #[default]
    NCHW,
    /// 3D recognisers: (crops · clips, C, L, H, W).
    NCTHW,
    /// 0.x flow for 2D recognisers: (crops · clips, 2L, H, W), channels x0, y0, x1, y1, ….
    NCHW_Flow,
}

/// A dense float32 tensor, row-major (C order).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

/// Normalises `clip` and lays it out as `format` for one sample: NCHW (M, 3, H, W), NCTHW
/// (crops · K, 3, L, H, W) for RGB clips; NCHW_Flow (crops · K, 2L, H, W) for flow clips, whose
/// `clip_len` counts (x, y) pairs and whose frames are the interleaved grayscale images.
///
/// # Errors
/// Frames of different sizes or channel counts, RGB frames with NCHW_Flow or flow frames with
/// another layout, or `norm` not matching the channels (see [`Normalize::check`]).
pub fn to_tensor(clip: &Clip, norm: &Normalize, format: InputFormat) -> Result<Tensor> {
    let Some(first) = clip.frames.first() else { bail!("FormatShape: empty clip") };
    let (w, h, channels) = (first.width, first.height, first.channels);
    if clip.frames.iter().any(|f| (f.width, f.height, f.channels) != (w, h, channels)) {
        bail!("FormatShape: frames of one sample must share one size (crop or resize first)");
    }
    norm.check(channels)?;
    match (channels, format) {
        (1, InputFormat::NCHW_Flow) => Ok(flow_tensor(clip, norm, w, h)),
        (1, f) => bail!("FormatShape {f:?} on flow frames: use NCHW_Flow"),
        (_, InputFormat::NCHW_Flow) => bail!("FormatShape NCHW_Flow needs flow frames (modality Flow)"),
        _ => Ok(rgb_tensor(clip, norm, format, w, h)),
    }
}

fn rgb_tensor(clip: &Clip, norm: &Normalize, format: InputFormat, w: usize, h: usize) -> Tensor {
    let hw = w * h;
    let m = clip.frames.len();
    let mut data = vec![0f32; m * 3 * hw];
    let l = clip.clip_len;
    for (i, f) in clip.frames.iter().enumerate() {
        // NCTHW: image i is frame t of view v; channel c's plane sits at ((v·3 + c)·L + t)·HW.
        let (v, t) = (i / l, i % l);
        for c in 0..3 {
            let base = match format {
                InputFormat::NCTHW => ((v * 3 + c) * l + t) * hw,
                _ => (i * 3 + c) * hw,
            };
            let plane = &mut data[base..base + hw];
            for (dst, px) in plane.iter_mut().zip(f.data.chunks_exact(3)) {
                *dst = norm.value(px, c);
            }
        }
    }
    let shape = match format {
        InputFormat::NCTHW => vec![m / l, 3, l, h, w],
        _ => vec![m, 3, h, w],
    };
    Tensor { shape, data }
}

/// Flow images are already in channel order x0, y0, x1, …: image i is plane i, and every 2L
/// planes make one view.
fn flow_tensor(clip: &Clip, norm: &Normalize, w: usize, h: usize) -> Tensor {
    let hw = w * h;
    let m = clip.frames.len();
    let mut data = vec![0f32; m * hw];
    for (i, f) in clip.frames.iter().enumerate() {
        let (mean, scale) = (norm.mean[i % 2], 1.0 / norm.std[i % 2]);
        for (dst, &v) in data[i * hw..(i + 1) * hw].iter_mut().zip(&f.data) {
            *dst = (v as f32 - mean) * scale;
        }
    }
    let per_view = 2 * clip.clip_len;
    Tensor { shape: vec![m / per_view, per_view, h, w], data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

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
        let n = Normalize { mean: vec![128.0; 3], std: vec![50.0; 3], to_bgr: false };
        assert!((n.value(&[0, 0, 0], 0) + 2.56).abs() < 1e-6 && (n.value(&[255, 0, 0], 0) - 2.54).abs() < 1e-6);
    }

    fn clip(num_crops: usize, k: usize, l: usize, w: usize, h: usize) -> Clip {
        let frames = (0..num_crops * k * l).map(|i| Frame::new(w, h, vec![i as u8; w * h * 3])).collect();
        Clip { num_crops, ..Clip::new(frames, l, k) }
    }

    #[test]
    fn shapes_match_mmaction2_table() {
        let id = Normalize { mean: vec![0.0; 3], std: vec![1.0; 3], to_bgr: false };
        // TSM 0.x test, 8 clips, CenterCrop: (8,3,224,224).
        assert_eq!(to_tensor(&clip(1, 8, 1, 224, 224), &id, InputFormat::NCHW).unwrap().shape, vec![8, 3, 224, 224]);
        // TSN test, 25 clips x ThreeCrop 256: (75,3,256,256).
        assert_eq!(to_tensor(&clip(3, 25, 1, 8, 8), &id, InputFormat::NCHW).unwrap().shape[0], 75);
        // NCTHW L=8, K=2, twice_sample (4 clips): (4,3,8,H,W).
        assert_eq!(to_tensor(&clip(1, 4, 8, 4, 4), &id, InputFormat::NCTHW).unwrap().shape, vec![4, 3, 8, 4, 4]);
        // TSM 1.x test, 8 clips × TenCrop: (80,3,H,W).
        assert_eq!(to_tensor(&clip(10, 8, 1, 4, 4), &id, InputFormat::NCHW).unwrap().shape, vec![80, 3, 4, 4]);
        // NCTHW L=32, K=10, ThreeCrop: (30,3,32,H,W).
        assert_eq!(to_tensor(&clip(3, 10, 32, 2, 2), &id, InputFormat::NCTHW).unwrap().shape, vec![30, 3, 32, 2, 2]);
    }

    #[test]
    fn ncthw_puts_frame_t_of_view_v_in_place() {
        let id = Normalize { mean: vec![0.0; 3], std: vec![1.0; 3], to_bgr: false };
        let t = to_tensor(&clip(1, 2, 3, 2, 2), &id, InputFormat::NCTHW).unwrap();
        // element [v=1, c=2, t=1, 0, 0] comes from image 1·3+1 = 4.
        let idx = (((1 * 3 + 2) * 3 + 1) * 2) * 2;
        assert_eq!(t.data[idx], 4.0);
    }

    #[test]
    fn nchw_flow_k3_l5_shape() {
        let frames = (0..30).map(|_| Frame::gray(4, 4, vec![0; 16])).collect();
        let t = to_tensor(&Clip::new(frames, 5, 3), &Normalize::flow(), InputFormat::NCHW_Flow).unwrap();
        assert_eq!(t.shape, vec![3, 10, 4, 4]);
    }

    #[test]
    fn cdar_k2b_normalize_maps_to_minus_one_one() {
        let n = Normalize { mean: vec![127.5; 3], std: vec![127.5; 3], to_bgr: false };
        assert_eq!((n.value(&[0, 0, 0], 0), n.value(&[255, 0, 0], 0)), (-1.0, 1.0));
    }

    #[test]
    fn flow_clip_is_nchw_flow_with_per_component_stats() {
        // K=2 clips of L=2 (x, y) pairs: 8 grayscale images of value = position.
        let frames = (0..8).map(|i| Frame::gray(3, 2, vec![i as u8 * 10; 6])).collect();
        let clip = Clip::new(frames, 2, 2);
        let norm = Normalize { mean: vec![0.0, 5.0], std: vec![1.0, 5.0], to_bgr: false };
        let t = to_tensor(&clip, &norm, InputFormat::NCHW_Flow).unwrap();
        assert_eq!(t.shape, vec![2, 4, 2, 3]);
        // View 1, channel 1 is image 5 (a y image): (50 − 5) / 5.
        assert_eq!(t.data[(4 + 1) * 6], 9.0);
        assert_eq!(t.data[4 * 6], 40.0); // view 1, channel 0: image 4, x
        assert!(to_tensor(&clip, &norm, InputFormat::NCHW).is_err());
        assert!(to_tensor(&clip, &Normalize::imagenet(), InputFormat::NCHW_Flow).is_err());
    }
}
