//! `BackgroundBlend` (CDAR `mmaction/datasets/pipelines/augmentations.py`, semantics §8): blends
//! every frame of a sample with a random video's temporal-median background, to remove scene bias.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::geometry;
use super::ops::{resize_frame, Clip, FrameOp, Interpolation};
use crate::frame::Frame;

/// `alpha`: a fixed weight of the frame in [0, 1], or `random` (U[0,1) per sample).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Alpha {
    /// A fixed weight in [0, 1].
    Value(f64),
    /// A named rule (`random`).
    Named(AlphaName),
}

/// The only named alpha.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlphaName {
    /// A uniform draw in [0, 1) per sample.
    Random,
}

/// The backgrounds a built [`Blend`] draws from, handed to it by the engine at build time
/// (transforms read no files): `len` images, each with an optional label, loaded on demand —
/// from disk, or first computed as an in-stream median.
pub trait BackgroundSource: Send + Sync {
    /// Number of backgrounds (≥ 1).
    fn len(&self) -> usize;
    /// Background `i`'s video label (`blend_label`: its list line's last token), if any.
    fn label(&self, i: usize) -> Option<i32>;
    /// Background `i`'s name for traces (its path).
    fn name(&self, i: usize) -> String;
    /// Background `i` as an RGB frame, any size.
    ///
    /// # Errors
    /// The image cannot be read or computed (the message names it).
    fn load(&self, i: usize) -> Result<Frame>;
}

/// A soft target decided by a blend with `blend_label`: weight `weight` on the sample's own label
/// and `1 − weight` on `other` (the background video's label). CDAR writes
/// `alpha·label + (1−alpha)·bg_label`; over one-hot labels that is this mixture, and the loss is
/// `weight·CE(label) + (1−weight)·CE(other)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelMix {
    /// The background video's label.
    pub other: i32,
    /// Weight of the sample's own label (the blend's alpha), in [0, 1].
    pub weight: f64,
}

/// `BackgroundBlend(resize_h=256, crop_size=224, p=0.5, ann_files=[], data_prefixes=[],
/// alpha=0.5)`: with probability `p` (U[0,1) ≤ p), picks one background uniformly from the list
/// and one alpha, resizes the background (short side `resize_h`, centre crop `crop_size`) and
/// sets every frame to trunc(a·frame + (1−a)·bg). The clip must already be crop_size².
///
/// Backgrounds: with `ann_files`, line `t …` of `ann_files[i]` names `data_prefixes[i]/t` with its
/// suffix replaced by `.jpg` (the median image of that list's video, as `vpipe median` writes
/// it); without, every `*.jpg` below each prefix. `blend_label` (needs `ann_files`) mixes the
/// sample's label with the background video's (the line's last token), see [`LabelMix`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackgroundBlend {
    /// Short side the background is resized to, pixels.
    #[serde(default = "h256")]
    pub resize_h: i64,
    /// Side of the centre crop of the background, pixels (= the clip's size).
    #[serde(default = "c224")]
    pub crop_size: usize,
    /// Probability of blending a sample.
    #[serde(default = "half")]
    pub p: f64,
    /// Annotation lists naming the videos whose backgrounds to use.
    #[serde(default)]
    pub ann_files: Vec<PathBuf>,
    /// Background roots, one per annotation list (or globbed without lists).
    #[serde(default)]
    pub data_prefixes: Vec<PathBuf>,
    /// Frame weight.
    #[serde(default = "alpha_half")]
    pub alpha: Alpha,
    /// Mix the sample's label with the background video's label by alpha (soft target).
    #[serde(default)]
    pub blend_label: bool,
    /// In-stream median: one root per annotation list; a background `data_prefixes[i]/t.jpg`
    /// that does not exist yet is computed from `median_from[i]/t` (a video file or a rawframe
    /// folder) with `vpipe median`'s rule, written there (the disk cache) and used.
    #[serde(default)]
    pub median_from: Vec<PathBuf>,
    /// Frames per in-stream median (`vpipe median --max-frames`; 0 = all).
    #[serde(default = "hundred")]
    pub median_max_frames: usize,
    /// mmaction2 loader settings: accepted for config compatibility (vpipe reads JPEG from disk).
    #[serde(default)]
    pub io_backend: Option<String>,
    /// Accepted for mmaction2 configs; vpipe decodes with FFmpeg.
    #[serde(default)]
    pub decoding_backend: Option<String>,
}

fn hundred() -> usize {
    100
}
fn h256() -> i64 {
    256
}
fn c224() -> usize {
    224
}
fn half() -> f64 {
    0.5
}
fn alpha_half() -> Alpha {
    Alpha::Value(0.5)
}

/// One frame value blended as CDAR computes it: f32(a)·f32(frame) in f32, plus (1−a)·bg in f64,
/// truncated to uint8.
pub fn blend_value(a: f64, frame: u8, bg: u8) -> u8 {
    let fg = (a as f32) * (frame as f32);
    let v = fg as f64 + (1.0 - a) * bg as f64;
    v.clamp(0.0, 255.0) as u8
}

impl BackgroundBlend {
    /// Checks `alpha` and the list/prefix pairing.
    ///
    /// # Errors
    /// alpha outside [0, 1], or ann_files and data_prefixes of different lengths, or no prefixes.
    pub fn validate(&self) -> Result<()> {
        if let Alpha::Value(a) = self.alpha {
            if !(0.0..=1.0).contains(&a) {
                bail!("BackgroundBlend: alpha must be in [0, 1] or 'random', got {a}");
            }
        }
        if self.data_prefixes.is_empty() {
            bail!("BackgroundBlend: data_prefixes is empty");
        }
        if self.blend_label && self.ann_files.is_empty() {
            bail!("BackgroundBlend: blend_label needs ann_files (the background's label is its line's last token)");
        }
        if !self.median_from.is_empty() && self.median_from.len() != self.ann_files.len() {
            bail!("BackgroundBlend: median_from needs one root per ann_file ({} for {})", self.median_from.len(), self.ann_files.len());
        }
        if !self.ann_files.is_empty() && self.ann_files.len() != self.data_prefixes.len() {
            bail!("BackgroundBlend: {} ann_files but {} data_prefixes", self.ann_files.len(), self.data_prefixes.len());
        }
        Ok(())
    }
}

/// A `BackgroundBlend` ready to run: its configuration and the backgrounds the engine handed it
/// (`None` when built only to check the configuration: applying it is then an error).
#[derive(Clone)]
pub struct Blend {
    config: BackgroundBlend,
    backgrounds: Option<Arc<dyn BackgroundSource>>,
}

impl std::fmt::Debug for Blend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.backgrounds.as_ref().map(|b| b.len());
        f.debug_struct("Blend").field("config", &self.config).field("backgrounds", &n).finish()
    }
}

impl Blend {
    /// The op of `config` drawing from `backgrounds`.
    ///
    /// # Errors
    /// As [`BackgroundBlend::validate`], or an empty background source.
    pub fn new(config: BackgroundBlend, backgrounds: Option<Arc<dyn BackgroundSource>>) -> Result<Self> {
        config.validate()?;
        if backgrounds.as_ref().is_some_and(|b| b.len() == 0) {
            bail!("BackgroundBlend: no background images under {:?}", config.data_prefixes);
        }
        Ok(Blend { config, backgrounds })
    }

    /// Blends `frames` (RGB, crop_size²) with a randomly drawn background; returns the trace line
    /// and, with `blend_label`, the label mixture.
    ///
    /// # Errors
    /// Frames of another size, flow frames, no backgrounds (built for checking only), or 10
    /// backgrounds in a row that fail to load.
    pub fn blend(&self, frames: &mut [Frame], rng: &mut dyn RngCore) -> Result<(String, Option<LabelMix>)> {
        let c = &self.config;
        if rng.random::<f64>() > c.p {
            return Ok(("BackgroundBlend: no".into(), None));
        }
        let list = self.backgrounds.as_ref().context("BackgroundBlend: built without backgrounds (configuration check only)")?;
        if let Some(f) = frames.iter().find(|f| (f.width, f.height, f.channels) != (c.crop_size, c.crop_size, 3)) {
            bail!("BackgroundBlend needs {0}x{0} RGB frames (crop first), got {1}x{2}x{3}", c.crop_size, f.width, f.height, f.channels);
        }
        let mut last_err = None;
        for _ in 0..10 {
            let i = rng.random_range(0..list.len());
            match list.load(i).and_then(|img| self.fit(&img)) {
                Ok(bg) => {
                    let a = match c.alpha {
                        Alpha::Value(a) => a,
                        Alpha::Named(AlphaName::Random) => rng.random::<f64>(),
                    };
                    for f in frames.iter_mut() {
                        f.data.iter_mut().zip(&bg.data).for_each(|(v, &b)| *v = blend_value(a, *v, b));
                    }
                    let mix = list.label(i).filter(|_| c.blend_label).map(|other| LabelMix { other, weight: a });
                    let mut line = format!("BackgroundBlend: alpha {a:.3} background {}", list.name(i));
                    if let Some(m) = mix {
                        line += &format!(" label weight {a:.3} + background label {}", m.other);
                    }
                    return Ok((line, mix));
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.expect("ten attempts").context("BackgroundBlend: 10 backgrounds failed to load"))
    }

    /// A background image fitted to the clip: Resize((−1, resize_h)) → CenterCrop(crop_size) →
    /// Resize((crop_size, crop_size)).
    fn fit(&self, img: &Frame) -> Result<Frame> {
        let (resize_h, crop_size) = (self.config.resize_h, self.config.crop_size);
        let (w, h) = geometry::resize_size(img.width, img.height, (-1, resize_h), true);
        let mut resizer = fast_image_resize::Resizer::new();
        let img = resize_frame(&mut resizer, img, w, h, Interpolation::Bilinear)?;
        // Clamped to the image: the resize after it brings any background to crop_size.
        let b = geometry::center_crop(w, h, (crop_size.min(w), crop_size.min(h))).map_err(|e| anyhow::anyhow!(e))?;
        let mut data = Vec::with_capacity(b.w * b.h * 3);
        for row in b.y..b.y + b.h {
            data.extend_from_slice(&img.data[(row * w + b.x) * 3..(row * w + b.x + b.w) * 3]);
        }
        resize_frame(&mut resizer, &Frame::new(b.w, b.h, data), crop_size, crop_size, Interpolation::Bilinear)
    }
}

impl FrameOp for Blend {
    fn apply(&self, mut clip: Clip, rng: &mut dyn RngCore) -> Result<Clip> {
        if clip.frames.first().is_some_and(|f| f.channels != 3) {
            bail!("BackgroundBlend needs RGB frames, not flow");
        }
        let (line, mix) = self.blend(&mut clip.frames, rng)?;
        clip.trace.push(line);
        clip.label_mix = mix;
        Ok(clip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn blend_arithmetic_matches_cdar() {
        assert_eq!(blend_value(0.75, 200, 100), 175);
        assert_eq!(blend_value(0.5, 201, 50), 125);
        assert_eq!(blend_value(1.0, 17, 250), 17);
        assert_eq!(blend_value(0.0, 17, 250), 250);
    }

    /// Backgrounds held in memory, as a test hands them to a [`Blend`].
    struct InMemory(Vec<(Frame, Option<i32>)>);

    impl BackgroundSource for InMemory {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn label(&self, i: usize) -> Option<i32> {
            self.0[i].1
        }
        fn name(&self, i: usize) -> String {
            format!("bg{i}")
        }
        fn load(&self, i: usize) -> Result<Frame> {
            Ok(self.0[i].0.clone())
        }
    }

    fn config() -> BackgroundBlend {
        BackgroundBlend {
            resize_h: 16,
            crop_size: 8,
            p: 1.0,
            ann_files: vec![],
            data_prefixes: vec!["bg".into()],
            alpha: Alpha::Value(0.75),
            blend_label: false,
            median_from: vec![],
            median_max_frames: 100,
            io_backend: None,
            decoding_backend: None,
        }
    }

    #[test]
    fn blends_a_known_frame_with_a_known_background() {
        // A 320x240 background of constant colour → 21x16 → crop → 8x8 of the same colour.
        let bg = Arc::new(InMemory(vec![(Frame::new(320, 240, [100u8, 40, 0].repeat(320 * 240)), Some(7))]));
        let t = Blend::new(config(), Some(bg.clone())).unwrap();
        let mut frames = vec![Frame::new(8, 8, [200u8, 200, 200].repeat(64)); 2];
        let (trace, mix) = t.blend(&mut frames, &mut rand_pcg::Pcg64::seed_from_u64(0)).unwrap();
        assert_eq!(mix, None);
        assert!(trace.contains("alpha 0.750 background bg0"), "{trace}");
        let want = [blend_value(0.75, 200, 100), blend_value(0.75, 200, 40), blend_value(0.75, 200, 0)];
        assert!(frames.iter().all(|f| f.data.chunks(3).all(|px| px == want)), "{:?} vs {want:?}", &frames[0].data[..3]);
        // p = 0 never blends; a wrong size is an error; so is a clip blended by a check-only op.
        let never = Blend::new(BackgroundBlend { p: 0.0, ..config() }, Some(bg.clone())).unwrap();
        assert_eq!(never.blend(&mut frames, &mut rand_pcg::Pcg64::seed_from_u64(0)).unwrap(), ("BackgroundBlend: no".into(), None));
        assert!(t.blend(&mut [Frame::new(4, 4, vec![0; 48])], &mut rand_pcg::Pcg64::seed_from_u64(0)).is_err());
        assert!(Blend::new(config(), None).unwrap().blend(&mut frames, &mut rand_pcg::Pcg64::seed_from_u64(0)).is_err());
        assert!(Blend::new(BackgroundBlend { alpha: Alpha::Value(1.5), ..config() }, None).is_err());
        assert!(Blend::new(BackgroundBlend { blend_label: true, ..config() }, None).is_err(), "blend_label without lists");
        assert!(Blend::new(config(), Some(Arc::new(InMemory(vec![])))).is_err(), "no backgrounds");

        // blend_label: the sample's label is mixed with the background's by alpha.
        let labelled = BackgroundBlend { ann_files: vec!["list.txt".into()], blend_label: true, ..config() };
        let (trace, mix) = Blend::new(labelled, Some(bg)).unwrap().blend(&mut frames, &mut rand_pcg::Pcg64::seed_from_u64(0)).unwrap();
        assert_eq!(mix, Some(LabelMix { other: 7, weight: 0.75 }), "{trace}");
    }
}
