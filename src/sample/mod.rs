//! Frame sampling: which frame indices a clip is built from. Pure functions of the frame count,
//! the parameters and an RNG, so they are tested without video. Semantics: `shared/docs/
//! semantics.md` §3 (mmaction2 0.x, with a switch for 1.x test mode).

mod ava;
mod dense;
mod pyslowfast;
mod sample_frames;
mod uniform;

use anyhow::Result;
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use ava::SampleAVAFrames;
pub use dense::DenseSampleFrames;
pub use pyslowfast::PySlowFastSampleFrames;
pub use sample_frames::{OutOfBound, SampleFrames, Sampled, Semantics};
pub use uniform::UniformSampleFrames;

/// The most frame indices one sample may ask for (clips × frames per clip × positions): far
/// above any published config (SlowFast 10 × 3 × 32 = 960), low enough that a typo such as
/// `num_clips: 99999999999` is a config error instead of an allocation that aborts the process.
pub const MAX_FRAMES_PER_SAMPLE: usize = 1 << 16;

/// Checks that the product of `factors` (frames per clip, clips, …) is at most
/// [`MAX_FRAMES_PER_SAMPLE`], for sampler `name`'s messages.
///
/// # Errors
/// The product overflows or exceeds the limit.
pub(crate) fn check_frames_per_sample(name: &str, factors: &[usize]) -> Result<()> {
    let total = factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f));
    match total {
        Some(t) if t <= MAX_FRAMES_PER_SAMPLE => Ok(()),
        _ => anyhow::bail!(
            "{name}: {} frames per sample (the product of {factors:?}) is more than {MAX_FRAMES_PER_SAMPLE}",
            total.map_or("too many".into(), |t| t.to_string())
        ),
    }
}

/// Any of mmaction2's frame samplers (`type:` in YAML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum Sampler {
    /// mmaction2 `SampleFrames`.
    SampleFrames(SampleFrames),
    /// mmaction2 `DenseSampleFrames`.
    DenseSampleFrames(DenseSampleFrames),
    /// mmaction2 `UniformSampleFrames`.
    UniformSampleFrames(UniformSampleFrames),
    /// mmaction2 `SampleAVAFrames` (PySlowFast's clip around an AVA keyframe).
    SampleAVAFrames(SampleAVAFrames),
    /// PySlowFast's Charades clips and test views.
    PySlowFastSampleFrames(PySlowFastSampleFrames),
}

impl Sampler {
    /// Samples indices for `total_frames` frames numbered from `start_index` (0 for videos,
    /// the dataset's start_index for rawframes); `avg_fps` matters only to 1.x `target_fps`,
    /// `center` (an AVA keyframe's 0-based frame) only to `SampleAVAFrames`.
    ///
    /// # Errors
    /// `SampleAVAFrames` without a keyframe.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        total_frames: usize,
        start_index: i64,
        avg_fps: Option<f64>,
        center: Option<usize>,
        rng: &mut R,
    ) -> Result<Sampled> {
        Ok(match self {
            Sampler::SampleFrames(s) => s.sample_at(total_frames, start_index, avg_fps, rng),
            Sampler::DenseSampleFrames(s) => s.sample(total_frames, start_index, rng),
            Sampler::UniformSampleFrames(s) => s.sample(total_frames, start_index, rng),
            Sampler::PySlowFastSampleFrames(s) => s.sample(total_frames, start_index, rng),
            Sampler::SampleAVAFrames(s) => match center {
                Some(c) => s.sample(c, total_frames, start_index),
                None => anyhow::bail!("SampleAVAFrames samples around AVA keyframes: use it with an `AVADataset` source"),
            },
        })
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// As the sampler's own `validate`.
    pub fn validate(&self) -> Result<()> {
        match self {
            Sampler::SampleFrames(s) => s.validate(),
            Sampler::DenseSampleFrames(s) => s.validate(),
            Sampler::UniformSampleFrames(s) => s.validate(),
            Sampler::SampleAVAFrames(s) => s.validate(),
            Sampler::PySlowFastSampleFrames(s) => s.validate(),
        }
    }
}

impl From<SampleFrames> for Sampler {
    fn from(s: SampleFrames) -> Self {
        Sampler::SampleFrames(s)
    }
}
