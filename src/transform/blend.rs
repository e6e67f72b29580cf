//! `BackgroundBlend` (CDAR `mmaction/datasets/pipelines/augmentations.py`, semantics §8): blends
//! every frame of a sample with a random video's temporal-median background, to remove scene bias.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, bail, Context, Result};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::geometry;
use super::ops::{resize_frame, Interpolation};
use crate::decode::{read_jpeg, Frame};

/// `alpha`: a fixed weight of the frame in [0, 1], or `random` (U[0,1) per sample).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Alpha {
    Value(f64),
    Named(AlphaName),
}

/// The only named alpha.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlphaName {
    Random,
}

/// One background image and, from its list line's last token, its video's label.
#[derive(Clone, Debug, PartialEq)]
pub struct Background {
    /// The median image (`.jpg`).
    pub path: PathBuf,
    /// The label (`blend_label`); `None` for globbed backgrounds.
    pub label: Option<i32>,
    /// The video file or rawframe folder to compute the image from when it is missing
    /// (`median_from`).
    pub source: Option<PathBuf>,
}

/// Computes a temporal-median image: `(source video or rawframe folder, destination .jpg,
/// max_frames)`. Installed by the graph (`vpipe median`'s rule; transforms know nothing of
/// FFmpeg).
pub type MedianFn = dyn Fn(&Path, &Path, usize) -> Result<()> + Send + Sync;

/// The in-stream median: the function the graph installs, and one lock per image so concurrent
/// samples compute a missing background once.
#[derive(Clone, Default)]
pub struct MedianHook {
    compute: Option<Arc<MedianFn>>,
    locks: Arc<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>>,
}

impl MedianHook {
    /// A hook computing missing backgrounds with `f`.
    pub fn new(f: Arc<MedianFn>) -> Self {
        MedianHook { compute: Some(f), locks: Arc::default() }
    }
}

impl std::fmt::Debug for MedianHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MedianHook({})", if self.compute.is_some() { "installed" } else { "none" })
    }
}

impl PartialEq for MedianHook {
    fn eq(&self, _: &Self) -> bool {
        true // wiring, not configuration
    }
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

/// The background list, built once per pipeline on first use.
#[derive(Clone, Debug, Default)]
pub struct Backgrounds(Arc<OnceLock<std::result::Result<Vec<Background>, String>>>);

impl PartialEq for Backgrounds {
    fn eq(&self, _: &Self) -> bool {
        true // a cache, not configuration
    }
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
    #[serde(skip)]
    #[schemars(skip)]
    pub median: MedianHook,
    /// mmaction2 loader settings: accepted for config compatibility (vpipe reads JPEG from disk).
    #[serde(default)]
    pub io_backend: Option<String>,
    #[serde(default)]
    pub decoding_backend: Option<String>,
    #[serde(skip)]
    #[schemars(skip)]
    pub backgrounds: Backgrounds,
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

    /// The background images (built on first call).
    ///
    /// # Errors
    /// An unreadable list, a named background that does not exist, or an empty list.
    pub fn background_list(&self) -> Result<&[Background]> {
        self.backgrounds.0.get_or_init(|| self.build_list().map_err(|e| format!("{e:#}"))).as_deref().map_err(|e| anyhow!("{e}"))
    }

    fn build_list(&self) -> Result<Vec<Background>> {
        let mut out = Vec::new();
        if self.ann_files.is_empty() {
            let mut paths = Vec::new();
            for prefix in &self.data_prefixes {
                glob_jpg(prefix, &mut paths)?;
            }
            paths.sort();
            out = paths.into_iter().map(|path| Background { path, label: None, source: None }).collect();
        } else {
            for (k, (prefix, ann)) in self.data_prefixes.iter().zip(&self.ann_files).enumerate() {
                let text = std::fs::read_to_string(ann).with_context(|| format!("reading {}", ann.display()))?;
                for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                    let t = line.split(' ').next().unwrap_or_default();
                    let p = prefix.join(t).with_extension("jpg");
                    let source = self.median_from.get(k).map(|root| root.join(t));
                    match &source {
                        _ if p.is_file() => {}
                        None => bail!(
                            "{}:{}: background {} does not exist (run `vpipe median`, or set median_from)",
                            ann.display(),
                            i + 1,
                            p.display()
                        ),
                        Some(src) if !src.exists() => {
                            bail!("{}:{}: neither background {} nor its source {} exists", ann.display(), i + 1, p.display(), src.display())
                        }
                        Some(_) => {}
                    }
                    let last = line.split_whitespace().last().unwrap_or_default();
                    let label = match (self.blend_label, last.parse::<i32>()) {
                        (true, Err(_)) => bail!("{}:{}: blend_label needs a numeric last token, got {last:?}", ann.display(), i + 1),
                        (_, l) => l.ok(),
                    };
                    out.push(Background { path: p, label, source });
                }
            }
        }
        if out.is_empty() {
            bail!("BackgroundBlend: no background images under {:?}", self.data_prefixes);
        }
        Ok(out)
    }

    /// Blends `frames` (RGB, crop_size²) with a randomly drawn background; returns the trace line
    /// and, with `blend_label`, the label mixture.
    ///
    /// # Errors
    /// Frames of another size, flow frames, or 10 backgrounds in a row that fail to load.
    pub fn apply(&self, frames: &mut [Frame], rng: &mut dyn RngCore) -> Result<(String, Option<LabelMix>)> {
        if rng.random::<f64>() > self.p {
            return Ok(("BackgroundBlend: no".into(), None));
        }
        let list = self.background_list()?;
        if let Some(f) = frames.iter().find(|f| (f.width, f.height, f.channels) != (self.crop_size, self.crop_size, 3)) {
            bail!("BackgroundBlend needs {0}x{0} RGB frames (crop first), got {1}x{2}x{3}", self.crop_size, f.width, f.height, f.channels);
        }
        let mut last_err = None;
        for _ in 0..10 {
            let bg = &list[rng.random_range(0..list.len())];
            let (path, label) = (&bg.path, &bg.label);
            match self.load_background(bg) {
                Ok(bg) => {
                    let a = match self.alpha {
                        Alpha::Value(a) => a,
                        Alpha::Named(AlphaName::Random) => rng.random::<f64>(),
                    };
                    for f in frames.iter_mut() {
                        f.data.iter_mut().zip(&bg.data).for_each(|(v, &b)| *v = blend_value(a, *v, b));
                    }
                    let mix = label.filter(|_| self.blend_label).map(|other| LabelMix { other, weight: a });
                    let mut line = format!("BackgroundBlend: alpha {a:.3} background {}", path.display());
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

    /// Computes a missing background from its source (at most once at a time per image).
    fn ensure(&self, bg: &Background) -> Result<()> {
        let Some(src) = bg.source.as_ref().filter(|_| !bg.path.is_file()) else { return Ok(()) };
        let compute =
            self.median.compute.as_ref().context("BackgroundBlend: median_from needs vpipe's data pipeline to compute medians")?;
        let lock = self.median.locks.lock().expect("median locks").entry(bg.path.clone()).or_default().clone();
        let _held = lock.lock().expect("median lock");
        if !bg.path.is_file() {
            compute(src, &bg.path, self.median_max_frames).with_context(|| format!("in-stream median of {}", src.display()))?;
        }
        Ok(())
    }

    /// Resize((−1, resize_h)) → CenterCrop(crop_size) → Resize((crop_size, crop_size)).
    fn load_background(&self, bg: &Background) -> Result<Frame> {
        self.ensure(bg)?;
        let img = read_jpeg(&bg.path, 3)?;
        let (w, h) = geometry::resize_size(img.width, img.height, (-1, self.resize_h), true);
        let mut resizer = fast_image_resize::Resizer::new();
        let img = resize_frame(&mut resizer, &img, w, h, Interpolation::Bilinear)?;
        let b = geometry::center_crop(w, h, (self.crop_size, self.crop_size));
        let mut data = Vec::with_capacity(b.w * b.h * 3);
        for row in b.y..b.y + b.h {
            data.extend_from_slice(&img.data[(row * w + b.x) * 3..(row * w + b.x + b.w) * 3]);
        }
        resize_frame(&mut resizer, &Frame::new(b.w, b.h, data), self.crop_size, self.crop_size, Interpolation::Bilinear)
    }
}

fn glob_jpg(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            glob_jpg(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "jpg") {
            out.push(p);
        }
    }
    Ok(())
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

    #[test]
    fn blends_a_known_frame_with_a_known_background() {
        let dir = tempfile::tempdir().unwrap();
        // A 320x240 background of constant colour → 341x256 → crop → 8x8 of the same colour.
        let bg = Frame::new(320, 240, [100u8, 40, 0].repeat(320 * 240));
        std::fs::write(dir.path().join("v.jpg"), crate::decode::JpegEncoder::new(100).unwrap().encode(&bg).unwrap()).unwrap();
        let t = BackgroundBlend {
            resize_h: 16,
            crop_size: 8,
            p: 1.0,
            ann_files: vec![],
            data_prefixes: vec![dir.path().to_path_buf()],
            alpha: Alpha::Value(0.75),
            blend_label: false,
            median_from: vec![],
            median_max_frames: 100,
            median: MedianHook::default(),
            io_backend: None,
            decoding_backend: None,
            backgrounds: Backgrounds::default(),
        };
        t.validate().unwrap();
        let mut frames = vec![Frame::new(8, 8, [200u8, 200, 200].repeat(64)); 2];
        let (trace, mix) = t.apply(&mut frames, &mut rand_pcg::Pcg64::seed_from_u64(0)).unwrap();
        assert_eq!(mix, None);
        assert!(trace.contains("alpha 0.750"), "{trace}");
        let decoded_bg = read_jpeg(&dir.path().join("v.jpg"), 3).unwrap();
        let want: Vec<u8> = decoded_bg.data[..3].iter().map(|&b| blend_value(0.75, 200, b)).collect();
        assert!(frames.iter().all(|f| f.data.chunks(3).all(|px| px == want.as_slice())), "{:?} vs {want:?}", &frames[0].data[..3]);
        // p = 0 never blends; a wrong size is an error.
        let never = BackgroundBlend { p: 0.0, ..t.clone() };
        assert_eq!(never.apply(&mut frames, &mut rand_pcg::Pcg64::seed_from_u64(0)).unwrap(), ("BackgroundBlend: no".into(), None));
        assert!(t.apply(&mut [Frame::new(4, 4, vec![0; 48])], &mut rand_pcg::Pcg64::seed_from_u64(0)).is_err());
        assert!(BackgroundBlend { alpha: Alpha::Value(1.5), ..t.clone() }.validate().is_err());
        assert!(BackgroundBlend { blend_label: true, ..t.clone() }.validate().is_err(), "blend_label without lists");

        // blend_label: the background's label is its list line's last token.
        std::fs::write(dir.path().join("list.txt"), "v.avi 7\n").unwrap();
        let labelled =
            BackgroundBlend { ann_files: vec![dir.path().join("list.txt")], blend_label: true, backgrounds: Backgrounds::default(), ..t };
        labelled.validate().unwrap();
        let (trace, mix) = labelled.apply(&mut frames, &mut rand_pcg::Pcg64::seed_from_u64(0)).unwrap();
        assert_eq!(mix, Some(LabelMix { other: 7, weight: 0.75 }), "{trace}");
    }
}
