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
    /// Lengths that do not match `channels` (1 = flow, 3 = RGB), a zero std, or a value that is
    /// not finite.
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
        if !self.mean.iter().chain(&self.std).all(|v| v.is_finite()) {
            bail!("Normalize: mean and std must be finite numbers, got mean {:?} std {:?}", self.mean, self.std);
        }
        Ok(())
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
    /// CDAR's clip layout of TSN segments: (crops · L, C, K, H, W), einops
    /// `'(crops n t) h w c -> (crops t) c n h w'` — the K sampled segments become the time
    /// axis, so 8 segments (`SampleFrames(1, 1, 8)`) meet an 8-frame NCTHW clip in one batch.
    TCNHW,
}

/// A dense tensor, row-major (C order): float32 model input, or (`Tensor<u8>`) the same layout
/// before normalisation, as uploaded to a GPU.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T = f32> {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<T>,
}

/// A batch's values as the model's input conversion takes them
/// ([`crate::model::upload`]).
#[derive(Clone, Copy, Debug)]
pub enum ModelInput<'a> {
    /// Normalised float32 values.
    F32(&'a Tensor),
    /// uint8 values in the same layout, normalised by the conversion (on the model's device)
    /// with `normalize`'s per-channel statistics ([`Normalize::channel_stats`]).
    U8 {
        /// The values, in the layout's order.
        data: &'a [u8],
        /// The dimensions, outermost first.
        shape: &'a [usize],
        /// The statistics.
        normalize: &'a Normalize,
        /// The layout, which says where the channel axis is.
        format: InputFormat,
    },
}

/// Normalises `clip` and lays it out as `format` for one sample: NCHW (M, 3, H, W), NCTHW
/// (crops · K, 3, L, H, W) for RGB clips; NCHW_Flow (crops · K, 2L, H, W) for flow clips, whose
/// `clip_len` counts (x, y) pairs and whose frames are the interleaved grayscale images.
/// Equals [`normalize_into`] of [`to_u8_tensor`], value for value.
///
/// # Errors
/// As [`to_u8_tensor`].
pub fn to_tensor(clip: &Clip, norm: &Normalize, format: InputFormat) -> Result<Tensor> {
    let raw = to_u8_tensor(clip, norm, format)?;
    let mut data = Vec::with_capacity(raw.data.len());
    normalize_into(&raw, norm, format, &mut data);
    Ok(Tensor { shape: raw.shape, data })
}

/// `clip` laid out as `format` (shapes as [`to_tensor`]) in uint8, channels in `norm`'s order
/// (swapped to BGR when `to_bgr`) but not normalised: what a loader hands on when the
/// normalisation runs later, on the model's device ([`Normalize::channel_stats`]).
///
/// # Errors
/// Frames of different sizes or channel counts, RGB frames with NCHW_Flow or flow frames with
/// another layout, or `norm` not matching the channels (see [`Normalize::check`]).
pub fn to_u8_tensor(clip: &Clip, norm: &Normalize, format: InputFormat) -> Result<Tensor<u8>> {
    let Some(first) = clip.frames.first() else { bail!("FormatShape: empty clip") };
    let (w, h, channels) = (first.width, first.height, first.channels);
    if clip.frames.iter().any(|f| (f.width, f.height, f.channels) != (w, h, channels)) {
        bail!("FormatShape: frames of one sample must share one size (crop or resize first)");
    }
    norm.check(channels)?;
    match (channels, format) {
        (1, InputFormat::NCHW_Flow) => Ok(flow_tensor(clip, w, h)),
        (1, f) => bail!("FormatShape {f:?} on flow frames: use NCHW_Flow"),
        (_, InputFormat::NCHW_Flow) => bail!("FormatShape NCHW_Flow needs flow frames (modality Flow)"),
        _ => Ok(rgb_tensor(clip, norm.to_bgr, format, w, h)),
    }
}

/// Appends the normalised values of `raw` (a [`to_u8_tensor`] of the same `norm` and `format`)
/// to `out`: per plane, (v − mean) · (1/std) in float32 with that plane's channel statistics.
pub fn normalize_into(raw: &Tensor<u8>, norm: &Normalize, format: InputFormat, out: &mut Vec<f32>) {
    let (mean, inv_std) = norm.channel_stats(format, &raw.shape);
    let hw = raw.shape.iter().rev().take(2).product::<usize>().max(1);
    let per_channel = if format.is_clip() { raw.shape.get(2).copied().unwrap_or(1) } else { 1 };
    for (p, plane) in raw.data.chunks(hw).enumerate() {
        let c = (p / per_channel) % mean.len();
        let (m, s) = (mean[c], inv_std[c]);
        out.extend(plane.iter().map(|&v| (v as f32 - m) * s));
    }
}

impl InputFormat {
    /// Whether the layout is 5-D clips `(V, C, T, H, W)` whose dimension 2 is time (NCTHW,
    /// TCNHW).
    pub fn is_clip(self) -> bool {
        matches!(self, InputFormat::NCTHW | InputFormat::TCNHW)
    }
}

impl Normalize {
    /// Mean and 1/std of each index along dimension 1 of a `format` tensor of `shape`: the 3
    /// colour channels (NCHW, NCTHW), or the 2L flow planes x, y, x, … (NCHW_Flow); broadcast
    /// them over the other dimensions to normalise a [`to_u8_tensor`] on a device.
    pub fn channel_stats(&self, format: InputFormat, shape: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let n = if format == InputFormat::NCHW_Flow { shape.get(1).copied().unwrap_or(2) } else { 3 };
        let k = self.mean.len().max(1);
        let mean = (0..n).map(|c| self.mean[c % k]).collect();
        let inv_std = (0..n).map(|c| 1.0 / self.std[c % k]).collect();
        (mean, inv_std)
    }
}

fn rgb_tensor(clip: &Clip, to_bgr: bool, format: InputFormat, w: usize, h: usize) -> Tensor<u8> {
    let hw = w * h;
    let m = clip.frames.len();
    let mut data = vec![0u8; m * 3 * hw];
    let (l, k) = (clip.clip_len.max(1), clip.num_clips.max(1));
    for (i, f) in clip.frames.iter().enumerate() {
        // NCTHW: image i is frame t of view v; channel c's plane sits at ((v·3 + c)·L + t)·HW.
        // TCNHW: image i is frame t of clip n of crop r, at view r·L + t, time n.
        let (v, t) = (i / l, i % l);
        let (r, n) = (i / (k * l), (i / l) % k);
        for c in 0..3 {
            let base = match format {
                InputFormat::NCTHW => ((v * 3 + c) * l + t) * hw,
                InputFormat::TCNHW => (((r * l + t) * 3 + c) * k + n) * hw,
                _ => (i * 3 + c) * hw,
            };
            let src = if to_bgr { 2 - c } else { c };
            let plane = &mut data[base..base + hw];
            for (dst, px) in plane.iter_mut().zip(f.data.chunks_exact(3)) {
                *dst = px[src];
            }
        }
    }
    let shape = match format {
        InputFormat::NCTHW => vec![m / l, 3, l, h, w],
        InputFormat::TCNHW => vec![m / k, 3, k, h, w],
        _ => vec![m, 3, h, w],
    };
    Tensor { shape, data }
}

/// Flow images are already in channel order x0, y0, x1, …: image i is plane i, and every 2L
/// planes make one view.
fn flow_tensor(clip: &Clip, w: usize, h: usize) -> Tensor<u8> {
    let hw = w * h;
    let m = clip.frames.len();
    let mut data = Vec::with_capacity(m * hw);
    for f in &clip.frames {
        data.extend_from_slice(&f.data[..hw]);
    }
    let per_view = 2 * clip.clip_len;
    Tensor { shape: vec![m / per_view, per_view, h, w], data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    /// Normalised value of channel `c` of the one-pixel RGB image `px`.
    fn value(n: &Normalize, px: [u8; 3], c: usize) -> f32 {
        to_tensor(&Clip::new(vec![Frame::new(1, 1, px.to_vec())], 1, 1), n, InputFormat::NCHW).unwrap().data[c]
    }

    #[test]
    fn imagenet_normalize_worked_example() {
        let n = Normalize::imagenet();
        let clip = Clip::new(vec![Frame::new(1, 1, vec![255u8, 0, 128])], 1, 1);
        let got = to_tensor(&clip, &n, InputFormat::NCHW).unwrap().data;
        for (g, want) in got.iter().zip([2.248908f32, -2.035714, 0.426492]) {
            assert!((g - want).abs() < 1e-5, "{got:?}");
        }
    }

    #[test]
    fn cdar_gcd_normalize_128_50() {
        let n = Normalize { mean: vec![128.0; 3], std: vec![50.0; 3], to_bgr: false };
        assert!((value(&n, [0, 0, 0], 0) + 2.56).abs() < 1e-6 && (value(&n, [255, 0, 0], 0) - 2.54).abs() < 1e-6);
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
    fn tcnhw_is_cdars_einops_rearrangement() {
        // '(crops n t) h w c -> (crops t) c n h w' with crops=2, n=3 segments, t=2: frame i of
        // the clip lands at [r·t + ti, c, ni] (mmaction2 CDAR `FormatShape('TCNHW')`).
        let id = Normalize { mean: vec![0.0; 3], std: vec![1.0; 3], to_bgr: false };
        let c = clip(2, 3, 2, 2, 2);
        let t = to_tensor(&c, &id, InputFormat::TCNHW).unwrap();
        assert_eq!(t.shape, vec![4, 3, 3, 2, 2]);
        for i in 0..12 {
            let (r, n, ti) = (i / 6, (i / 2) % 3, i % 2);
            let idx = ((((r * 2 + ti) * 3 + 1) * 3 + n) * 2 + 1) * 2;
            assert_eq!(t.data[idx], c.frames[i].data[(2 + 0) * 3 + 1] as f32, "frame {i}");
        }
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
    fn to_bgr_swaps_the_channels_before_normalising() {
        let n = Normalize { mean: vec![10.0, 20.0, 30.0], std: vec![1.0; 3], to_bgr: true };
        assert_eq!([0, 1, 2].map(|c| value(&n, [100, 150, 200], c)), [190.0, 130.0, 70.0]);
    }

    #[test]
    fn cdar_k2b_normalize_maps_to_minus_one_one() {
        let n = Normalize { mean: vec![127.5; 3], std: vec![127.5; 3], to_bgr: false };
        assert_eq!((value(&n, [0, 0, 0], 0), value(&n, [255, 0, 0], 0)), (-1.0, 1.0));
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
