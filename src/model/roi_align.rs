//! RoIAlign (Mask R-CNN; `torchvision.ops.roi_align`, which PySlowFast's `ResNetRoIHead` uses
//! through detectron2's `ROIAlign`), built from libtorch tensor ops because libtorch has no
//! RoIAlign: per box, the bilinear sample points' corner indices and weights are computed as
//! torchvision's CPU kernel computes them (float32), and the output is a weighted gather of the
//! feature map, so gradients flow to the features as torchvision's backward sends them (boxes
//! get none, as in torchvision).

use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// RoIAlign settings (torchvision's arguments).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoiAlign {
    /// Output bins (height, width); PySlowFast: 7×7.
    pub output_size: (usize, usize),
    /// Box coordinates × this = feature coordinates; PySlowFast: 1/16 (R(2+1)D-18's stride).
    pub spatial_scale: f32,
    /// Sample points per bin side; 0 = adaptive, ⌈box side / bins⌉ (PySlowFast: 0).
    pub sampling_ratio: usize,
    /// Shift the box by −0.5 pixel so that sample points sit on pixel centres (PySlowFast: true).
    pub aligned: bool,
}

impl RoiAlign {
    /// The pooled features `(K, C, out_h, out_w)` of `input` `(N, C, H, W)` in the boxes `rois`
    /// `(K, 5)`: rows `[batch_index, x1, y1, x2, y2]` in input-image pixels.
    ///
    /// # Errors
    /// `input` is not 4-D; `rois` is not `(K, 5)`; a batch index outside `0..N`.
    pub fn forward(&self, input: &Tensor, rois: &Tensor) -> Result<Tensor> {
        let size = input.size();
        let (rs, kind) = (rois.size(), input.kind());
        if size.len() != 4 || rs.len() != 2 || rs[1] != 5 {
            bail!("RoIAlign takes features (N, C, H, W) and boxes (K, 5), got {size:?} and {rs:?}");
        }
        let (n, c, h, w) = (size[0], size[1], size[2] as usize, size[3] as usize);
        let boxes = Vec::<f32>::try_from(rois.to_device(tch::Device::Cpu).to_kind(Kind::Float).flatten(0, -1))?;
        let (ph, pw) = self.output_size;
        let mut outs = Vec::with_capacity(boxes.len() / 5);
        for b in boxes.chunks(5) {
            let batch = b[0] as i64;
            if !(0..n).contains(&batch) {
                bail!("RoIAlign: box batch index {} outside 0..{n}", b[0]);
            }
            let (idx, wgt, count) = self.samples(b, h, w);
            let idx = Tensor::from_slice(&idx).to_device(input.device());
            let wgt = Tensor::from_slice(&wgt).to_device(input.device()).to_kind(kind);
            let plane = input.get(batch).reshape([c, (h * w) as i64]);
            let picked = plane.index_select(1, &idx) * wgt; // (C, ph·pw·S·4)
            let pooled = picked.reshape([c, (ph * pw) as i64, -1]).sum_dim_intlist(2, false, kind) / count as f64;
            outs.push(pooled.reshape([c, ph as i64, pw as i64]));
        }
        if outs.is_empty() {
            return Ok(Tensor::zeros([0, c, ph as i64, pw as i64], (kind, input.device())));
        }
        Ok(Tensor::stack(&outs, 0))
    }

    /// For one box: per output bin (row-major), its sample points' 4 corner indices into the
    /// flattened H×W plane and their bilinear weights (0 for points outside), and the sample
    /// count each bin averages over — torchvision's `roi_align_forward_kernel_impl` arithmetic.
    fn samples(&self, b: &[f32], h: usize, w: usize) -> (Vec<i64>, Vec<f32>, usize) {
        let off = if self.aligned { 0.5f32 } else { 0.0 };
        let s = self.spatial_scale;
        let (x1, y1, x2, y2) = (b[1] * s - off, b[2] * s - off, b[3] * s - off, b[4] * s - off);
        let (mut rw, mut rh) = (x2 - x1, y2 - y1);
        if !self.aligned {
            (rw, rh) = (rw.max(1.0), rh.max(1.0));
        }
        let (ph, pw) = self.output_size;
        let (bin_h, bin_w) = (rh / ph as f32, rw / pw as f32);
        let grid_h = if self.sampling_ratio > 0 { self.sampling_ratio } else { (rh / ph as f32).ceil().max(0.0) as usize };
        let grid_w = if self.sampling_ratio > 0 { self.sampling_ratio } else { (rw / pw as f32).ceil().max(0.0) as usize };
        let count = (grid_h * grid_w).max(1);
        let (mut idx, mut wgt) = (Vec::new(), Vec::new());
        for py in 0..ph {
            for px in 0..pw {
                for iy in 0..grid_h {
                    let y = y1 + py as f32 * bin_h + (iy as f32 + 0.5) * bin_h / grid_h as f32;
                    for ix in 0..grid_w {
                        let x = x1 + px as f32 * bin_w + (ix as f32 + 0.5) * bin_w / grid_w as f32;
                        let (i, c) = bilinear(y, x, h, w);
                        idx.extend(i);
                        wgt.extend(c);
                    }
                }
                if grid_h * grid_w == 0 {
                    // No sample point: the bin is 0 (one zero-weight entry keeps the shape).
                    idx.extend([0; 4]);
                    wgt.extend([0.0; 4]);
                }
            }
        }
        (idx, wgt, count)
    }
}

/// The `head:` of a detection model: PySlowFast's `ResNetRoIHead` (SEVERE's AVA), as
/// `model: {type: R2Plus1D, head: {type: RoIHead}}`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum HeadConfig {
    /// Temporal average pool → RoIAlign → spatial max pool → dropout (`model.dropout`) →
    /// Linear(D, `num_classes`) named `head.projection` → sigmoid.
    RoIHead(RoiHeadConfig),
}

/// `ResNetRoIHead`'s settings; defaults as SEVERE's AVA configs.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoiHeadConfig {
    /// RoIAlign output bins per side (`DETECTION.ROI_XFORM_RESOLUTION`, 7), also the max pool's
    /// kernel.
    #[serde(default = "seven")]
    pub output_size: usize,
    /// Feature pixels per input pixel (1 / `DETECTION.SPATIAL_SCALE_FACTOR`, 1/16).
    #[serde(default = "sixteenth")]
    pub spatial_scale: f32,
    /// Sample points per bin side, 0 = adaptive (PySlowFast: 0).
    #[serde(default)]
    pub sampling_ratio: usize,
    /// Half-pixel box shift (`DETECTION.ALIGNED`, true).
    #[serde(default = "yes")]
    pub aligned: bool,
}

fn seven() -> usize {
    7
}
fn sixteenth() -> f32 {
    1.0 / 16.0
}
fn yes() -> bool {
    true
}

impl RoiHeadConfig {
    /// The RoIAlign the head runs.
    pub fn roi_align(&self) -> RoiAlign {
        RoiAlign {
            output_size: (self.output_size, self.output_size),
            spatial_scale: self.spatial_scale,
            sampling_ratio: self.sampling_ratio,
            aligned: self.aligned,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// `output_size` outside 1..=32, `spatial_scale` not in (0, 1], `sampling_ratio` above 16.
    pub fn check(&self) -> Result<()> {
        if !(1..=32).contains(&self.output_size) {
            bail!("`model.head.output_size` must be 1..=32, got {}", self.output_size);
        }
        if !(self.spatial_scale > 0.0 && self.spatial_scale <= 1.0) {
            bail!("`model.head.spatial_scale` must be in (0, 1], got {}", self.spatial_scale);
        }
        if self.sampling_ratio > 16 {
            bail!("`model.head.sampling_ratio` must be 0..=16, got {}", self.sampling_ratio);
        }
        Ok(())
    }

    /// The head's features `(K, C)` of backbone feature maps `maps` `(B, C, T, H, W)` in boxes
    /// `rois` `(K, 5)` (`[batch_index, x1, y1, x2, y2]`, input pixels): mean over T, RoIAlign,
    /// max over the bins (PySlowFast's `AvgPool3d([T, 1, 1])`, `ROIAlign`, `MaxPool2d`).
    ///
    /// # Errors
    /// As [`RoiAlign::forward`].
    pub fn pool(&self, maps: &Tensor, rois: &Tensor) -> Result<Tensor> {
        let frames = maps.mean_dim(2, false, maps.kind());
        let pooled = self.roi_align().forward(&frames, &rois.to_device(maps.device()))?;
        Ok(pooled.amax([2, 3], false))
    }
}

/// torchvision's `bilinear_interpolate_pre_calc` for one point: the 4 corner indices and
/// weights, all 0 for a point beyond one pixel outside the map.
fn bilinear(mut y: f32, mut x: f32, h: usize, w: usize) -> ([i64; 4], [f32; 4]) {
    if y < -1.0 || y > h as f32 || x < -1.0 || x > w as f32 {
        return ([0; 4], [0.0; 4]);
    }
    y = y.max(0.0);
    x = x.max(0.0);
    let (mut y_low, mut x_low) = (y as usize, x as usize);
    let (y_high, x_high);
    if y_low >= h - 1 {
        y_low = h - 1;
        y_high = h - 1;
        y = y_low as f32;
    } else {
        y_high = y_low + 1;
    }
    if x_low >= w - 1 {
        x_low = w - 1;
        x_high = w - 1;
        x = x_low as f32;
    } else {
        x_high = x_low + 1;
    }
    let (ly, lx) = (y - y_low as f32, x - x_low as f32);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    let at = |yy: usize, xx: usize| (yy * w + xx) as i64;
    ([at(y_low, x_low), at(y_low, x_high), at(y_high, x_low), at(y_high, x_high)], [hy * hx, hy * lx, ly * hx, ly * lx])
}
