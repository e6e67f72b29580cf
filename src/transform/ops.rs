//! The configured transform steps and the uint8 clip they act on.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use fast_image_resize::{
    images::{Image, ImageRef},
    FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use std::sync::{Arc, Mutex};

use super::blend::{BackgroundBlend, BackgroundSource, Blend, LabelMix};
use super::color::ColorJitter;
use super::geometry::{self, CropBox};
use crate::frame::{buffer, Frame};

/// The frames of one sample, in mmaction2 order: `num_crops` blocks (crop-major), each of
/// `num_clips` clips of `clip_len` frames. All frames share one size after the first crop/resize.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// `num_crops · num_clips · clip_len` RGB frames, or twice as many grayscale frames for flow
    /// (x and y images interleaved: `[x0, y0, x1, y1, …]`, mmaction2 0.x).
    pub frames: Vec<Frame>,
    /// Frames per clip (L).
    pub clip_len: usize,
    /// Clips per crop (K, doubled by `twice_sample`).
    pub num_clips: usize,
    /// Spatial crops per clip (1, 3 after `ThreeCrop`, 10 after `TenCrop`).
    pub num_crops: usize,
    /// What each step decided for this sample (crop boxes, flips, jitter factors), for
    /// `vpipe inspect`.
    pub trace: Vec<String>,
    /// Label remapping decided by the pipeline (`Flip` with `flip_label_map` when it flipped).
    pub label_map: Option<BTreeMap<i32, i32>>,
    /// Soft target decided by the pipeline (`BackgroundBlend` with `blend_label` when it blended).
    pub label_mix: Option<LabelMix>,
    /// An AVA sample's person boxes `[x1, y1, x2, y2]` in pixels of the current frames, moved by
    /// every step that moves pixels (PySlowFast's cv2 box transforms; semantics §12); `None`
    /// for samples without boxes.
    pub boxes: Option<Vec<[f64; 4]>>,
    /// Labels decided by the sampled frames (PySlowFast's Charades training: the union over the
    /// clip's span), replacing the sample's.
    pub labels: Option<Vec<i32>>,
}

impl Clip {
    /// A clip straight from the decoder: one crop, no decisions yet.
    pub fn new(frames: Vec<Frame>, clip_len: usize, num_clips: usize) -> Self {
        Clip { frames, clip_len, num_clips, num_crops: 1, trace: Vec::new(), label_map: None, label_mix: None, boxes: None, labels: None }
    }

    /// Boxes scaled by (`fx`, `fy`).
    fn scale_boxes(&mut self, fx: f64, fy: f64) {
        for b in self.boxes.iter_mut().flatten() {
            *b = [b[0] * fx, b[1] * fy, b[2] * fx, b[3] * fy];
        }
    }

    /// Boxes clipped to a `w`×`h` image: x in [0, w − 1], y in [0, h − 1] (PySlowFast's
    /// `clip_boxes_to_image`).
    pub fn clip_boxes(&mut self, w: usize, h: usize) {
        let (xm, ym) = (w as f64 - 1.0, h as f64 - 1.0);
        for b in self.boxes.iter_mut().flatten() {
            *b = [b[0].clamp(0.0, xm), b[1].clamp(0.0, ym), b[2].clamp(0.0, xm), b[3].clamp(0.0, ym)];
        }
    }

    /// Refuses a step that moves pixels in ways boxes cannot follow (several crops, rotations).
    ///
    /// # Errors
    /// The clip has boxes.
    pub(crate) fn refuse_boxes(&self, step: &str) -> Result<()> {
        if self.boxes.is_some() {
            bail!("{step} cannot move person boxes: an AVA pipeline takes resizes, one crop and flips");
        }
        Ok(())
    }
}

impl Clip {
    /// Views of this sample: `num_crops · num_clips`, the rows a model emits per sample.
    pub fn num_views(&self) -> usize {
        self.num_crops * self.num_clips
    }
}

/// A size given as one number (square) or `[w, h]`, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Size {
    /// A square side, pixels.
    Square(usize),
    /// [width, height], pixels.
    Wh([usize; 2]),
}

impl Size {
    /// (width, height) in pixels.
    pub fn wh(self) -> (usize, usize) {
        match self {
            Size::Square(s) => (s, s),
            Size::Wh([w, h]) => (w, h),
        }
    }
}

/// `Resize` interpolation (mmcv names). Bilinear is OpenCV-like: fixed kernel, no antialiasing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Bilinear (OpenCV `INTER_LINEAR`, mmcv default).
    #[default]
    Bilinear,
    /// Nearest neighbour.
    Nearest,
    /// Bicubic.
    Bicubic,
}

impl Interpolation {
    /// The swscale flag of the nearest filter, for resizing in the decoder.
    pub fn swscale_flags(self) -> &'static str {
        match self {
            Interpolation::Bilinear => "bilinear",
            Interpolation::Nearest => "neighbor",
            Interpolation::Bicubic => "bicubic",
        }
    }
}

/// `Resize(scale, keep_ratio=True, interpolation='bilinear')`; `scale: [-1, 256]` resizes the
/// short side to 256 (see [`geometry::resize_size`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    /// Target (w, h) in pixels; −1 = unbounded.
    pub scale: [i64; 2],
    /// Keep the aspect ratio (mmcv `rescale_size`); else resize to exactly `scale`.
    #[serde(default = "yes")]
    pub keep_ratio: bool,
    /// Interpolation.
    #[serde(default)]
    pub interpolation: Interpolation,
}

/// mmaction2 0.x `RandomRescale(scale_range, interpolation)`: per sample a short side drawn
/// uniformly from the closed integer range, then `Resize((-1, short_edge), keep_ratio=True)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomRescale {
    /// [low, high] short side in pixels, both included (mmaction2 asserts low < high).
    pub scale_range: [usize; 2],
    /// Interpolation (default bilinear).
    #[serde(default)]
    pub interpolation: Interpolation,
}

/// PySlowFast's `random_short_side_scale_jitter` (cv2 backend, SEVERE's AVA and Charades
/// loaders): per sample a short side `s = round(1 / U(1/max_size, 1/min_size))`, the long side
/// `floor(long / short · s)`, bilinear (OpenCV `INTER_LINEAR`); a frame whose short side is
/// already `s` is left alone. Boxes scale by new long / old long on both axes, as PySlowFast's.
/// `min_size = max_size` is PySlowFast's deterministic `scale(size, image)` (val and test).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShortSideScaleJitter {
    /// Smallest short side, pixels (`DATA.TRAIN_JITTER_SCALES[0]`, SEVERE 256).
    pub min_size: usize,
    /// Largest short side, pixels (`DATA.TRAIN_JITTER_SCALES[1]`, SEVERE 320).
    pub max_size: usize,
}

/// PySlowFast's `uniform_crop` / `spatial_shift_crop_list`: square crops of `size` at positions
/// `spatial_idx` along the long side — 0 the start, 1 the centre (offsets `ceil((side − size)/2)`
/// on both axes), 2 the end — one view per position, in the given order (SEVERE's Charades test:
/// `[0, 1, 2]`; AVA val: `[1]`). Boxes follow a single crop only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UniformCrop {
    /// Crop side, pixels.
    pub size: usize,
    /// Positions along the long side (each 0, 1 or 2); default `[1]`, the centre.
    #[serde(default = "centre")]
    pub spatial_idx: Vec<usize>,
}

fn centre() -> Vec<usize> {
    vec![1]
}

/// `CenterCrop(crop_size)`: one centred crop (left (W−w)//2, top (H−h)//2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CenterCrop {
    /// Crop size in pixels: `224` or `[w, h]`.
    pub crop_size: Size,
}

/// `ThreeCrop(crop_size)`: three crops along the long side; triples the views (crop-major).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreeCrop {
    /// Crop size in pixels; must equal the image's height or width.
    pub crop_size: Size,
}

/// `TenCrop(crop_size)`: 5 crops (corners, centre) plus their horizontal flips; ×10 views in the
/// order [UL, UL-flip, UR, UR-flip, LL, LL-flip, LR, LR-flip, C, C-flip].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenCrop {
    /// Crop size in pixels: `224` or `[w, h]`.
    pub crop_size: Size,
}

/// `RandomCrop(size)`: a `size`×`size` crop at a uniform offset (upper bound exclusive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomCrop {
    /// Side in pixels.
    pub size: usize,
}

/// `RandomResizedCrop(area_range=(0.08, 1.0), aspect_ratio_range=(3/4, 4/3))`: Inception-style
/// crop; follow it with `Resize(scale: [224, 224], keep_ratio: false)` as mmaction2 configs do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomResizedCrop {
    /// Crop area as a fraction of the image, [min, max).
    #[serde(default = "default_area")]
    pub area_range: [f64; 2],
    /// Crop width / height, [min, max) (log-uniform).
    #[serde(default = "default_aspect")]
    pub aspect_ratio_range: [f64; 2],
}

fn default_area() -> [f64; 2] {
    [0.08, 1.0]
}
fn default_aspect() -> [f64; 2] {
    [3.0 / 4.0, 4.0 / 3.0]
}

/// `MultiScaleCrop(input_size, scales=(1,), max_wh_scale_gap=1, random_crop=False,
/// num_fixed_crops=5)`: TSN's corner/centre multi-scale crop (see [`geometry::multi_scale_crop`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiScaleCrop {
    /// Target size the crop sides snap to: `224` or `[w, h]`.
    pub input_size: Size,
    /// Crop sides as fractions of the short side.
    #[serde(default = "default_scales")]
    pub scales: Vec<f64>,
    /// Largest allowed index gap between width and height scales.
    #[serde(default = "one_usize")]
    pub max_wh_scale_gap: usize,
    /// Uniform offset instead of the fixed ones.
    #[serde(default)]
    pub random_crop: bool,
    /// 5 or 13 fixed offsets.
    #[serde(default = "five")]
    pub num_fixed_crops: usize,
}

fn default_scales() -> Vec<f64> {
    vec![1.0]
}
fn one_usize() -> usize {
    1
}
fn five() -> usize {
    5
}

/// Flip direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Left–right mirror.
    #[default]
    Horizontal,
    /// Top–bottom mirror.
    Vertical,
}

/// `Flip(flip_ratio=0.5, direction='horizontal')`: flips every frame of a sample with probability
/// `flip_ratio` (one draw per sample). Horizontally flipped x-flow images become 255 − v (0.x).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flip {
    /// Probability of flipping.
    #[serde(default = "half")]
    pub flip_ratio: f64,
    /// `horizontal` or `vertical`.
    #[serde(default)]
    pub direction: Direction,
    /// Labels to swap when the sample is flipped (`{left_class: right_class, …}`, e.g.
    /// Something-Something); labels not in the map stay.
    #[serde(default)]
    pub flip_label_map: Option<BTreeMap<i32, i32>>,
}

fn half() -> f64 {
    0.5
}

fn yes() -> bool {
    true
}

/// The largest image side any step may produce or ask for, in pixels (FFmpeg's own limit for
/// most codecs): a larger `scale` or `crop_size` is a typo, refused when the pipeline is built.
pub const MAX_SIDE: usize = 16384;

/// The most bytes one sample's frames may take after a `Resize` (uint8): 2 GB, 50× a
/// 32-frame 1080p clip. Each side may be up to [`MAX_SIDE`], but many frames at that size would
/// exhaust memory (8 frames at 16384² are 6.4 GB, and the float tensor 4× that).
pub const MAX_SAMPLE_BYTES: u64 = 2_000_000_000;

/// What building a step needs from the engine: where `BackgroundBlend` gets its backgrounds.
/// `backgrounds: None` builds for checking the configuration only (`vpipe check
/// --syntax-only`): a blend built so refuses to run.
#[derive(Clone, Copy, Default)]
pub struct BuildCtx<'a> {
    /// The engine's background provider for a `BackgroundBlend` config.
    pub backgrounds: Option<&'a dyn Fn(&BackgroundBlend) -> Result<Arc<dyn BackgroundSource>>>,
}

/// A frame transform ready to run, built from its config by [`OpConfig::build`]. Workers share
/// one op (`&self`); random steps draw from the sample's stream and record their decision in
/// [`Clip::trace`].
pub trait FrameOp: Send + Sync + std::fmt::Debug {
    /// Applies the step to `clip` (an empty clip passes through).
    ///
    /// # Errors
    /// A crop that does not fit (ThreeCrop), a second multi-crop step, ColorJitter or
    /// BackgroundBlend on flow frames, a background that cannot be loaded.
    fn apply(&self, clip: Clip, rng: &mut dyn RngCore) -> Result<Clip>;
}

/// The configuration of a frame-transform step (mmaction2 `type:` names, in
/// [`crate::config::Step`]): checks itself and builds the [`FrameOp`] that runs it.
pub trait OpConfig {
    /// The runtime op of this step, checked: sizes in 1..=[`MAX_SIDE`] pixels, probabilities in
    /// [0, 1]; `BackgroundBlend` gets its backgrounds from `ctx` (listing them now, so a missing
    /// list or image fails here rather than at the first sample that draws it).
    ///
    /// # Errors
    /// A parameter out of range (the message names it), or the backgrounds cannot be listed.
    fn build(&self, ctx: &BuildCtx) -> Result<Arc<dyn FrameOp>>;
}

/// Refuses a side outside 1..=[`MAX_SIDE`] pixels, naming the key.
fn check_side(name: &str, v: usize) -> Result<()> {
    if v == 0 || v > MAX_SIDE {
        bail!("{name} must be 1..={MAX_SIDE} pixels, got {v}");
    }
    Ok(())
}

/// [`check_side`] for both sides of a size.
fn check_size(name: &str, s: Size) -> Result<()> {
    check_side(name, s.wh().0).and_then(|_| check_side(name, s.wh().1))
}

/// Refuses a probability outside [0, 1], naming the key.
pub(crate) fn check_prob(name: &str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(anyhow!("{name} must be in [0, 1], got {p}"))
    }
}

/// `Resize` ready to run: it keeps fast_image_resize's resizers (and their scratch buffers) for
/// reuse, one per worker resizing at once.
#[derive(Debug)]
pub struct ResizeOp {
    config: Resize,
    resizers: Mutex<Vec<Resizer>>,
}

impl OpConfig for Resize {
    fn build(&self, _: &BuildCtx) -> Result<Arc<dyn FrameOp>> {
        for v in self.scale {
            if v != -1 {
                check_side("scale", usize::try_from(v).unwrap_or(0))?;
            }
        }
        if self.scale == [-1, -1] {
            bail!("scale [-1, -1] gives no size");
        }
        Ok(Arc::new(ResizeOp { config: self.clone(), resizers: Mutex::default() }))
    }
}

impl OpConfig for RandomRescale {
    fn build(&self, _: &BuildCtx) -> Result<Arc<dyn FrameOp>> {
        let [lo, hi] = self.scale_range;
        check_side("scale_range", lo)?;
        check_side("scale_range", hi)?;
        if lo >= hi {
            bail!("scale_range must be [low, high] with low < high, got {:?}", self.scale_range);
        }
        let resize = Resize { scale: [-1, lo as i64], keep_ratio: true, interpolation: self.interpolation };
        Ok(Arc::new(RandomRescaleOp { range: (lo, hi), inner: ResizeOp { config: resize, resizers: Mutex::default() } }))
    }
}

/// `RandomRescale` ready to run: a [`ResizeOp`] (for its resizers) told each sample's size.
#[derive(Debug)]
struct RandomRescaleOp {
    range: (usize, usize),
    inner: ResizeOp,
}

impl FrameOp for RandomRescaleOp {
    fn apply(&self, mut clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        let short_edge = rng.random_range(self.range.0..=self.range.1);
        clip.trace.push(format!("RandomRescale: short_edge {short_edge}"));
        let resize = Resize { scale: [-1, short_edge as i64], ..self.inner.config.clone() };
        self.inner.resize(clip, &resize)
    }
}

impl OpConfig for ShortSideScaleJitter {
    fn build(&self, _: &BuildCtx) -> Result<Arc<dyn FrameOp>> {
        check_side("min_size", self.min_size)?;
        check_side("max_size", self.max_size)?;
        if self.min_size > self.max_size {
            bail!("min_size {} is above max_size {}", self.min_size, self.max_size);
        }
        let resize = Resize { scale: [-1, -1], keep_ratio: false, interpolation: Interpolation::Bilinear };
        Ok(Arc::new(ShortSideScaleJitterOp { config: self.clone(), inner: ResizeOp { config: resize, resizers: Mutex::default() } }))
    }
}

/// `ShortSideScaleJitter` ready to run: a [`ResizeOp`] (for its resizers) told each sample's size.
#[derive(Debug)]
struct ShortSideScaleJitterOp {
    config: ShortSideScaleJitter,
    inner: ResizeOp,
}

impl FrameOp for ShortSideScaleJitterOp {
    fn apply(&self, mut clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        let (lo, hi) = (self.config.min_size as f64, self.config.max_size as f64);
        // np.random.uniform(1/max, 1/min), then Python's round (ties to even).
        let inv = 1.0 / hi + rng.random::<f64>() * (1.0 / lo - 1.0 / hi);
        let size = (1.0 / inv).round_ties_even() as usize;
        clip.trace.push(format!("ShortSideScaleJitter: short side {size}"));
        if w.min(h) == size {
            return Ok(clip);
        }
        let (ow, oh, f) = if w < h {
            let oh = (h as f64 / w as f64 * size as f64).floor() as usize;
            (size, oh, oh as f64 / h as f64)
        } else {
            let ow = (w as f64 / h as f64 * size as f64).floor() as usize;
            (ow, size, ow as f64 / w as f64)
        };
        let boxes = clip.boxes.take();
        let resize = Resize { scale: [ow as i64, oh as i64], ..self.inner.config.clone() };
        let mut out = self.inner.resize(clip, &resize)?;
        out.boxes = boxes;
        out.scale_boxes(f, f);
        Ok(out)
    }
}

/// A step whose configuration is its op (no run-time state): building it only checks it.
trait Stateless: FrameOp + Clone + 'static {
    /// Refuses parameters no run can use, naming the key.
    fn check(&self) -> Result<()>;
}

impl<T: Stateless> OpConfig for T {
    fn build(&self, _: &BuildCtx) -> Result<Arc<dyn FrameOp>> {
        self.check()?;
        Ok(Arc::new(self.clone()))
    }
}

impl Stateless for CenterCrop {
    fn check(&self) -> Result<()> {
        check_size("crop_size", self.crop_size)
    }
}

impl Stateless for ThreeCrop {
    fn check(&self) -> Result<()> {
        check_size("crop_size", self.crop_size)
    }
}

impl Stateless for TenCrop {
    fn check(&self) -> Result<()> {
        check_size("crop_size", self.crop_size)
    }
}

impl Stateless for UniformCrop {
    fn check(&self) -> Result<()> {
        check_side("size", self.size)?;
        if self.spatial_idx.is_empty() || self.spatial_idx.iter().any(|&i| i > 2) {
            bail!("spatial_idx must list positions 0, 1 or 2, got {:?}", self.spatial_idx);
        }
        Ok(())
    }
}

impl Stateless for RandomCrop {
    fn check(&self) -> Result<()> {
        check_side("size", self.size)
    }
}

impl Stateless for MultiScaleCrop {
    fn check(&self) -> Result<()> {
        check_size("input_size", self.input_size)?;
        if self.scales.is_empty() || self.scales.iter().any(|s| !(*s > 0.0 && *s <= 1.0)) {
            bail!("scales must be fractions in (0, 1], got {:?}", self.scales);
        }
        Ok(())
    }
}

impl Stateless for RandomResizedCrop {
    fn check(&self) -> Result<()> {
        let (area, aspect) = (self.area_range, self.aspect_ratio_range);
        if !(area[0] > 0.0 && area[0] <= area[1] && area[1] <= 1.0) {
            bail!("area_range must satisfy 0 < min ≤ max ≤ 1, got {area:?}");
        }
        if !(aspect[0] > 0.0 && aspect[0] <= aspect[1]) {
            bail!("aspect_ratio_range must satisfy 0 < min ≤ max, got {aspect:?}");
        }
        Ok(())
    }
}

impl Stateless for Flip {
    fn check(&self) -> Result<()> {
        check_prob("flip_ratio", self.flip_ratio)
    }
}

impl Stateless for ColorJitter {
    fn check(&self) -> Result<()> {
        for (name, v) in [("brightness", self.brightness), ("contrast", self.contrast), ("saturation", self.saturation)] {
            if !(v >= 0.0 && v.is_finite()) {
                bail!("{name} must be a range ≥ 0, got {v}");
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            bail!("hue must be in [0, 0.5], got {}", self.hue);
        }
        check_prob("p", self.p.into())
    }
}

impl OpConfig for BackgroundBlend {
    fn build(&self, ctx: &BuildCtx) -> Result<Arc<dyn FrameOp>> {
        check_side("resize_h", usize::try_from(self.resize_h).unwrap_or(0))?;
        check_side("crop_size", self.crop_size)?;
        check_prob("p", self.p)?;
        let backgrounds = ctx.backgrounds.map(|f| f(self)).transpose()?;
        Ok(Arc::new(Blend::new(self.clone(), backgrounds)?))
    }
}

/// The first frame's (width, height), `None` for an empty clip.
fn size_of(clip: &Clip) -> Option<(usize, usize)> {
    clip.frames.first().map(|f| (f.width, f.height))
}

impl FrameOp for ResizeOp {
    fn apply(&self, clip: Clip, _: &mut dyn RngCore) -> Result<Clip> {
        self.resize(clip, &self.config)
    }
}

impl ResizeOp {
    /// `clip` resized as `c` says, with this op's resizers.
    fn resize(&self, clip: Clip, c: &Resize) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        let (ow, oh) = geometry::resize_size(w, h, (c.scale[0], c.scale[1]), c.keep_ratio);
        if ow == 0 || oh == 0 {
            bail!("Resize to {ow}x{oh} from {w}x{h}: empty output");
        }
        if (ow, oh) == (w, h) {
            return Ok(clip); // already at size (or resized by the decoder: resize_in_decoder)
        }
        let bytes = clip.frames.len() as u64 * ow as u64 * oh as u64 * clip.frames[0].channels as u64;
        if bytes > MAX_SAMPLE_BYTES {
            bail!(
                "Resize to {ow}x{oh} of {} frames would hold {:.1} GB, more than {} GB a sample",
                clip.frames.len(),
                bytes as f64 / 1e9,
                MAX_SAMPLE_BYTES / 1_000_000_000
            );
        }
        let mut resizer = self.resizers.lock().ok().and_then(|mut r| r.pop()).unwrap_or_default();
        let frames = clip.frames.iter().map(|f| resize_frame(&mut resizer, f, ow, oh, c.interpolation)).collect::<Result<_>>();
        if let Ok(mut r) = self.resizers.lock() {
            r.push(resizer);
        }
        let mut out = Clip { frames: frames?, ..clip };
        out.scale_boxes(ow as f64 / w as f64, oh as f64 / h as f64);
        Ok(out)
    }
}

impl FrameOp for CenterCrop {
    fn apply(&self, clip: Clip, _: &mut dyn RngCore) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        let b = geometry::center_crop(w, h, self.crop_size.wh()).map_err(|e| anyhow!(e))?;
        crop_all(clip, b, "CenterCrop")
    }
}

impl FrameOp for RandomCrop {
    fn apply(&self, clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        crop_all(clip, geometry::random_crop(w, h, self.size, rng), "RandomCrop")
    }
}

impl FrameOp for RandomResizedCrop {
    fn apply(&self, clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        let (area, aspect) = (self.area_range, self.aspect_ratio_range);
        let b = geometry::random_resized_crop(w, h, (area[0], area[1]), (aspect[0], aspect[1]), rng);
        crop_all(clip, b, "RandomResizedCrop")
    }
}

impl FrameOp for MultiScaleCrop {
    fn apply(&self, clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        let m = self;
        let b = geometry::multi_scale_crop(w, h, m.input_size.wh(), &m.scales, m.max_wh_scale_gap, m.random_crop, m.num_fixed_crops, rng);
        crop_all(clip, b, "MultiScaleCrop")
    }
}

impl FrameOp for UniformCrop {
    fn apply(&self, clip: Clip, _: &mut dyn RngCore) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        let boxes = self.spatial_idx.iter().map(|&i| geometry::uniform_crop(w, h, self.size, i)).collect::<Result<Vec<_>, _>>();
        let boxes = boxes.map_err(|e| anyhow!(e))?;
        if let [b] = boxes[..] {
            return crop_all(clip, b, "UniformCrop");
        }
        clip.refuse_boxes("UniformCrop with several positions")?;
        if clip.num_crops != 1 {
            bail!("UniformCrop after another multi-crop step");
        }
        let frames = boxes.iter().flat_map(|&b| clip.frames.iter().map(move |f| crop(f, b))).collect();
        Ok(Clip { frames, num_crops: boxes.len(), ..clip })
    }
}

impl FrameOp for ThreeCrop {
    fn apply(&self, clip: Clip, _: &mut dyn RngCore) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        clip.refuse_boxes("ThreeCrop")?;
        if clip.num_crops != 1 {
            bail!("ThreeCrop after another multi-crop step");
        }
        let boxes = geometry::three_crop(w, h, self.crop_size.wh()).map_err(|e| anyhow!(e))?;
        let frames = boxes.iter().flat_map(|&b| clip.frames.iter().map(move |f| crop(f, b))).collect();
        Ok(Clip { frames, num_crops: 3, ..clip })
    }
}

impl FrameOp for TenCrop {
    fn apply(&self, clip: Clip, _: &mut dyn RngCore) -> Result<Clip> {
        let Some((w, h)) = size_of(&clip) else { return Ok(clip) };
        clip.refuse_boxes("TenCrop")?;
        if clip.num_crops != 1 {
            bail!("TenCrop after another multi-crop step");
        }
        let mut frames = Vec::with_capacity(clip.frames.len() * 10);
        for b in geometry::five_crop(w, h, self.crop_size.wh()) {
            let plain: Vec<Frame> = clip.frames.iter().map(|f| crop(f, b)).collect();
            let flipped: Vec<Frame> =
                plain.iter().enumerate().map(|(i, f)| flip_frame(f, Direction::Horizontal, is_x_flow(f, i))).collect();
            frames.extend(plain);
            frames.extend(flipped);
        }
        Ok(Clip { frames, num_crops: 10, ..clip })
    }
}

impl FrameOp for Flip {
    fn apply(&self, mut clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        if clip.frames.is_empty() {
            return Ok(clip);
        }
        let flip = rng.random::<f64>() < self.flip_ratio;
        let direction = self.direction;
        clip.trace.push(format!("Flip: {}", if flip { format!("{direction:?}").to_lowercase() } else { "no".into() }));
        if flip {
            let (w, h) = size_of(&clip).expect("frames");
            for b in clip.boxes.iter_mut().flatten() {
                // PySlowFast's flip_boxes: x1' = W − x2 − 1, x2' = W − x1 − 1.
                *b = match direction {
                    Direction::Horizontal => [w as f64 - b[2] - 1.0, b[1], w as f64 - b[0] - 1.0, b[3]],
                    Direction::Vertical => [b[0], h as f64 - b[3] - 1.0, b[2], h as f64 - b[1] - 1.0],
                };
            }
            let negate_x = direction == Direction::Horizontal;
            clip.frames = clip.frames.iter().enumerate().map(|(i, f)| flip_frame(f, direction, negate_x && is_x_flow(f, i))).collect();
            clip.label_map = self.flip_label_map.clone();
        }
        Ok(clip)
    }
}

impl FrameOp for ColorJitter {
    fn apply(&self, mut clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        let Some(first) = clip.frames.first() else { return Ok(clip) };
        if first.channels != 3 {
            bail!("ColorJitter needs RGB frames, not flow");
        }
        match self.draw(rng) {
            Some(j) => {
                clip.trace.push(format!(
                    "ColorJitter: brightness {:.3} contrast {:.3} saturation {:.3} hue {:.3} order {:?}",
                    j.brightness, j.contrast, j.saturation, j.hue, j.order
                ));
                clip.frames = clip.frames.iter().map(|f| j.apply(f)).collect();
            }
            None => clip.trace.push("ColorJitter: skipped (p)".into()),
        }
        Ok(clip)
    }
}

/// Whether frame `i` of a clip is an x-flow image (grayscale, even position in `[x0, y0, …]`).
fn is_x_flow(f: &Frame, i: usize) -> bool {
    f.channels == 1 && i % 2 == 0
}

/// Crops every frame to `b`, recording the box.
///
/// # Errors
/// An empty box (a frame already 0 or a few pixels wide, e.g. after `Resize scale: [-1, 1]`):
/// all-black or empty frames would reach the model without a word.
fn crop_all(mut clip: Clip, b: CropBox, step: &str) -> Result<Clip> {
    if b.w == 0 || b.h == 0 {
        let (w, h) = size_of(&clip).unwrap_or_default();
        bail!("{step}: empty crop box ({}x{} pixels) from a {w}x{h} frame: resize to a larger frame before this step", b.w, b.h);
    }
    clip.trace.push(format!("{step}: x {} y {} w {} h {}", b.x, b.y, b.w, b.h));
    clip.frames = clip.frames.iter().map(|f| crop(f, b)).collect();
    let (dx, dy) = (b.x as f64, b.y as f64);
    for bx in clip.boxes.iter_mut().flatten() {
        *bx = [bx[0] - dx, bx[1] - dy, bx[2] - dx, bx[3] - dy];
    }
    clip.clip_boxes(b.w, b.h);
    Ok(clip)
}

/// Mirrors a frame; `negate` turns v into 255 − v (horizontally flipped x-flow).
fn flip_frame(f: &Frame, direction: Direction, negate: bool) -> Frame {
    let c = f.channels;
    let row_len = f.width * c;
    let mut data = buffer(f.data.len());
    match direction {
        Direction::Horizontal => {
            for row in f.data.chunks_exact(row_len) {
                for px in row.chunks_exact(c).rev() {
                    data.extend_from_slice(px);
                }
            }
        }
        Direction::Vertical => {
            for row in f.data.chunks_exact(row_len).rev() {
                data.extend_from_slice(row);
            }
        }
    }
    if negate {
        data.iter_mut().for_each(|v| *v = 255 - *v);
    }
    Frame::with_channels(f.width, f.height, c, data)
}

/// Resizes one frame (RGB or grayscale) to `w`×`h` pixels with fast_image_resize, without
/// antialiasing (OpenCV `cv2.resize` style); the same size returns a copy.
///
/// # Errors
/// A zero-sized input or output.
pub fn resize_frame(resizer: &mut Resizer, f: &Frame, w: usize, h: usize, interpolation: Interpolation) -> Result<Frame> {
    if (f.width, f.height) == (w, h) {
        return Ok(f.clone());
    }
    let alg = match interpolation {
        Interpolation::Bilinear => ResizeAlg::Interpolation(FilterType::Bilinear),
        Interpolation::Bicubic => ResizeAlg::Interpolation(FilterType::CatmullRom),
        Interpolation::Nearest => ResizeAlg::Nearest,
    };
    let pixel = if f.channels == 1 { PixelType::U8 } else { PixelType::U8x3 };
    let src = ImageRef::new(f.width as u32, f.height as u32, &f.data, pixel)?;
    let mut buf = buffer(w * h * f.channels);
    buf.resize(w * h * f.channels, 0);
    let mut dst = Image::from_vec_u8(w as u32, h as u32, buf, pixel)?;
    resizer.resize(&src, &mut dst, &ResizeOptions::new().resize_alg(alg))?;
    Ok(Frame::with_channels(w, h, f.channels, dst.into_vec()))
}

fn crop(f: &Frame, b: CropBox) -> Frame {
    let c = f.channels;
    let mut data = buffer(b.w * b.h * c);
    for row in b.y..b.y + b.h {
        let start = (row * f.width + b.x) * c;
        data.extend_from_slice(&f.data[start..start + b.w * c]);
    }
    Frame::with_channels(b.w, b.h, c, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A frame whose red channel is the column and green channel the row.
    fn ramp(w: usize, h: usize) -> Frame {
        let mut d = Vec::new();
        for y in 0..h {
            for x in 0..w {
                d.extend([x as u8, y as u8, 7]);
            }
        }
        Frame::new(w, h, d)
    }

    fn clip_of(frames: Vec<Frame>) -> Clip {
        let n = frames.len();
        Clip::new(frames, 1, n)
    }

    #[test]
    fn random_rescale_draws_the_short_side_from_the_closed_range() {
        let op = RandomRescale { scale_range: [20, 30], interpolation: Interpolation::default() }.build(&BuildCtx::default()).unwrap();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..300 {
            let out = op.apply(clip_of(vec![ramp(32, 24), ramp(32, 24)]), &mut rng).unwrap();
            let (w, h) = (out.frames[0].width, out.frames[0].height);
            // mmcv rescale_size: factor s/24, width int(32·s/24 + 0.5); both frames alike.
            assert_eq!(w, (32.0 * h as f64 / 24.0 + 0.5) as usize);
            assert_eq!((out.frames[1].width, out.frames[1].height), (w, h));
            assert!(out.trace[0].ends_with(&format!("short_edge {h}")));
            seen.insert(h);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), (20..=30).collect::<Vec<_>>(), "every short side in 20..=30 is drawn");
        assert!(RandomRescale { scale_range: [320, 256], interpolation: Interpolation::default() }.build(&BuildCtx::default()).is_err());
    }

    fn rng() -> rand_pcg::Pcg64 {
        rand_pcg::Pcg64::seed_from_u64(0)
    }

    #[test]
    fn center_crop_takes_the_middle_pixels() {
        let out = CenterCrop { crop_size: Size::Square(4) }.apply(clip_of(vec![ramp(10, 8)]), &mut rng()).unwrap();
        let f = &out.frames[0];
        assert_eq!((f.width, f.height), (4, 4));
        assert_eq!(&f.data[..3], &[3, 2, 7]); // top-left of the crop is pixel (3, 2)
    }

    #[test]
    fn three_crop_is_crop_major() {
        let clip = clip_of(vec![ramp(12, 4), ramp(12, 4)]);
        let out = ThreeCrop { crop_size: Size::Square(4) }.apply(clip, &mut rng()).unwrap();
        assert_eq!((out.num_crops, out.frames.len(), out.num_views()), (3, 6, 6));
        let lefts: Vec<u8> = out.frames.iter().map(|f| f.data[0]).collect();
        assert_eq!(lefts, vec![0, 0, 8, 8, 4, 4]); // left, left, right, right, middle, middle
    }

    #[test]
    fn resize_short_side_gives_mmaction2_size_and_keeps_constant_colour() {
        let f = Frame::new(320, 240, [10u8, 200, 30].repeat(320 * 240));
        let t = Resize { scale: [-1, 256], keep_ratio: true, interpolation: Interpolation::Bilinear }.build(&BuildCtx::default()).unwrap();
        let out = t.apply(clip_of(vec![f]), &mut rng()).unwrap();
        assert_eq!((out.frames[0].width, out.frames[0].height), (341, 256));
        assert!(out.frames[0].data.chunks(3).all(|p| p == [10, 200, 30]));
    }

    #[test]
    fn ten_crop_order_is_box_then_flip() {
        let out = TenCrop { crop_size: Size::Square(4) }.apply(clip_of(vec![ramp(12, 8), ramp(12, 8)]), &mut rng()).unwrap();
        assert_eq!((out.num_crops, out.frames.len(), out.num_views()), (10, 20, 20));
        // ws = 2, hs = 1: UL (0,0), UR (8,0), LL (0,4), LR (8,4), C (4,2); flipped blocks start at x+3.
        let first_px: Vec<(u8, u8)> = out.frames.iter().step_by(2).map(|f| (f.data[0], f.data[1])).collect();
        assert_eq!(first_px, vec![(0, 0), (3, 0), (8, 0), (11, 0), (0, 4), (3, 4), (8, 4), (11, 4), (4, 2), (7, 2)]);
    }

    #[test]
    fn flip_mirrors_rgb_and_negates_x_flow_only() {
        let always = Flip { flip_ratio: 1.0, direction: Direction::Horizontal, flip_label_map: None };
        let out = always.apply(clip_of(vec![ramp(5, 2)]), &mut rng()).unwrap();
        assert_eq!(&out.frames[0].data[..3], &[4, 0, 7]);
        assert_eq!(out.trace, vec!["Flip: horizontal"]);
        let never = Flip { flip_ratio: 0.0, direction: Direction::Horizontal, flip_label_map: None };
        assert_eq!(never.apply(clip_of(vec![ramp(5, 2)]), &mut rng()).unwrap().frames[0], ramp(5, 2));
        let x = Frame::gray(3, 1, vec![10, 20, 30]);
        let y = Frame::gray(3, 1, vec![1, 2, 3]);
        let flow = Clip::new(vec![x, y], 1, 1);
        let out = always.apply(flow, &mut rng()).unwrap();
        assert_eq!(out.frames[0].data, vec![225, 235, 245]);
        assert_eq!(out.frames[1].data, vec![3, 2, 1]);
        let v = Flip { flip_ratio: 1.0, direction: Direction::Vertical, flip_label_map: None };
        assert_eq!(&v.apply(clip_of(vec![ramp(5, 2)]), &mut rng()).unwrap().frames[0].data[..3], &[0, 1, 7]);
    }

    #[test]
    fn flip_label_map_is_reported_only_when_flipped() {
        let map = BTreeMap::from([(3, 4), (4, 3)]);
        let t = |r| Flip { flip_ratio: r, direction: Direction::Horizontal, flip_label_map: Some(map.clone()) };
        assert_eq!(t(1.0).apply(clip_of(vec![ramp(3, 1)]), &mut rng()).unwrap().label_map, Some(map.clone()));
        assert_eq!(t(0.0).apply(clip_of(vec![ramp(3, 1)]), &mut rng()).unwrap().label_map, None);
        let parsed: Flip = serde_saphyr::from_str("{flip_ratio: 0.5, flip_label_map: {3: 4, 4: 3}}").unwrap();
        assert_eq!(parsed.flip_label_map, Some(map));
    }

    #[test]
    fn flip_ratio_is_respected_once_per_sample() {
        let t = Flip { flip_ratio: 0.5, direction: Direction::Horizontal, flip_label_map: None };
        let mut r = rng();
        let flips = (0..2000).filter(|_| t.apply(clip_of(vec![ramp(3, 1), ramp(3, 1)]), &mut r).unwrap().trace[0] != "Flip: no").count();
        assert!((850..1150).contains(&flips), "{flips}");
    }

    #[test]
    fn random_crops_record_their_boxes() {
        let t = MultiScaleCrop {
            input_size: Size::Square(224),
            scales: vec![1.0, 0.875, 0.75, 0.66],
            max_wh_scale_gap: 1,
            random_crop: false,
            num_fixed_crops: 13,
        };
        let out = t.apply(clip_of(vec![Frame::new(341, 256, vec![0; 341 * 256 * 3])]), &mut rng()).unwrap();
        assert!(out.trace[0].starts_with("MultiScaleCrop: x "), "{:?}", out.trace);
        let f = &out.frames[0];
        assert!([256, 224, 192, 168].contains(&f.width) && [256, 224, 192, 168].contains(&f.height));
    }

    #[test]
    fn boxes_follow_pyslowfasts_scale_crop_and_flip_worked_by_hand() {
        let ctx = BuildCtx::default();
        let mut clip = clip_of(vec![ramp(320, 240), ramp(320, 240)]);
        clip.boxes = Some(vec![[32.0, 24.0, 160.0, 200.0], [300.0, 10.0, 319.0, 239.0]]);
        // Short side 120: 320×240 → floor(320/240·120) = 160 × 120; boxes × 160/320 on both axes.
        let scale = ShortSideScaleJitter { min_size: 120, max_size: 120 }.build(&ctx).unwrap();
        let clip = scale.apply(clip, &mut rng()).unwrap();
        assert_eq!((clip.frames[0].width, clip.frames[0].height), (160, 120));
        assert_eq!(clip.boxes.as_ref().unwrap(), &[[16.0, 12.0, 80.0, 100.0], [150.0, 5.0, 159.5, 119.5]]);
        // Centre crop 100: offsets ceil(60/2) = 30, ceil(20/2) = 10; shifted, then clipped to 0..=99.
        let clip = UniformCrop { size: 100, spatial_idx: vec![1] }.apply(clip, &mut rng()).unwrap();
        assert_eq!(clip.boxes.as_ref().unwrap(), &[[0.0, 2.0, 50.0, 90.0], [99.0, 0.0, 99.0, 99.0]]);
        // Flip: x1' = W − x2 − 1, x2' = W − x1 − 1 with W = 100.
        let flip = Flip { flip_ratio: 1.0, direction: Direction::Horizontal, flip_label_map: None };
        let clip = flip.apply(clip, &mut rng()).unwrap();
        assert_eq!(clip.boxes.as_ref().unwrap(), &[[49.0, 2.0, 99.0, 90.0], [0.0, 0.0, 0.0, 99.0]]);
        // A random crop shifts by its recorded offset; mmaction2's Resize scales each axis.
        let mut c = clip_of(vec![ramp(100, 100)]);
        c.boxes = Some(vec![[10.0, 20.0, 60.0, 70.0]]);
        let c = RandomCrop { size: 50 }.apply(c, &mut rng()).unwrap();
        let nums: Vec<f64> = c.trace[0].split(' ').filter_map(|t| t.parse().ok()).collect();
        let (x, y) = (nums[0], nums[1]);
        let want = [(10.0 - x).clamp(0.0, 49.0), (20.0 - y).clamp(0.0, 49.0), (60.0 - x).clamp(0.0, 49.0), (70.0 - y).clamp(0.0, 49.0)];
        assert_eq!(c.boxes.as_ref().unwrap()[0], want, "{:?}", c.trace);
        let r = Resize { scale: [100, 25], keep_ratio: false, interpolation: Interpolation::Bilinear }.build(&ctx).unwrap();
        let c = r.apply(c, &mut rng()).unwrap();
        assert_eq!(c.boxes.as_ref().unwrap()[0], [want[0] * 2.0, want[1] * 0.5, want[2] * 2.0, want[3] * 0.5]);
        // Steps boxes cannot follow are refused.
        let e = ThreeCrop { crop_size: Size::Square(25) }.apply(c, &mut rng()).unwrap_err().to_string();
        assert!(e.contains("ThreeCrop cannot move person boxes"), "{e}");
    }

    #[test]
    fn build_refuses_parameters_no_run_can_use_and_names_them() {
        let ctx = BuildCtx::default();
        let resize = |scale| Resize { scale, keep_ratio: true, interpolation: Interpolation::Bilinear };
        assert!(resize([-1, 256]).build(&ctx).is_ok());
        let jitter = ColorJitter { brightness: 0.5, contrast: 0.5, saturation: 0.5, hue: 0.7, p: 1.0 };
        let bad: [(&dyn OpConfig, &str); 7] = [
            (&jitter, "hue must be in [0, 0.5]"),
            (&resize([-1, 100_000]), "scale must be 1..=16384"),
            (&resize([-1, -1]), "gives no size"),
            (&CenterCrop { crop_size: Size::Wh([224, 0]) }, "crop_size"),
            (&RandomCrop { size: 1 << 20 }, "size"),
            (&Flip { flip_ratio: 2.0, direction: Direction::Horizontal, flip_label_map: None }, "flip_ratio"),
            (
                &MultiScaleCrop {
                    input_size: Size::Square(224),
                    scales: vec![1.0, 1.5],
                    max_wh_scale_gap: 1,
                    random_crop: false,
                    num_fixed_crops: 5,
                },
                "scales",
            ),
        ];
        for (t, name) in bad {
            let e = t.build(&ctx).unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
    }
}
