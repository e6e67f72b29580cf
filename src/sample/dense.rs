//! `DenseSampleFrames`, mmaction2 0.x (`loading.py`; I3D/SlowOnly dense sampling), semantics §3.

use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::sample_frames::{Clips, OutOfBound, Sampled};

/// mmaction2 `DenseSampleFrames(clip_len, frame_interval=1, num_clips=1, sample_range=64,
/// num_sample_positions=10, temporal_jitter=False, out_of_bound_opt='loop', test_mode=False)`.
///
/// Clips start `sample_range // num_clips` frames apart inside a window of `sample_range` frames:
/// train picks one random window start; test takes `num_sample_positions` evenly spaced starts,
/// giving `num_sample_positions · num_clips` clips.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenseSampleFrames {
    /// Frames per clip (L).
    pub clip_len: usize,
    /// Distance between sampled frames inside a clip, in frames (I).
    #[serde(default = "one")]
    pub frame_interval: usize,
    /// Clips per window (K).
    #[serde(default = "one")]
    pub num_clips: usize,
    /// Window length in frames.
    #[serde(default = "sixty_four")]
    pub sample_range: usize,
    /// Test mode: number of evenly spaced window starts.
    #[serde(default = "ten")]
    pub num_sample_positions: usize,
    /// Add U{0..I−1} to every index.
    #[serde(default)]
    pub temporal_jitter: bool,
    /// Indices past the end: `loop` or `repeat_last`.
    #[serde(default)]
    pub out_of_bound_opt: OutOfBound,
    /// Evenly spaced windows instead of one random window.
    #[serde(default)]
    pub test_mode: bool,
}

fn one() -> usize {
    1
}
fn sixty_four() -> usize {
    64
}
fn ten() -> usize {
    10
}

impl DenseSampleFrames {
    /// Checks the parameters.
    ///
    /// # Errors
    /// A zero `clip_len`, `frame_interval`, `num_clips`, `sample_range` or `num_sample_positions`;
    /// more than [`super::MAX_FRAMES_PER_SAMPLE`] indices per sample.
    pub fn validate(&self) -> Result<()> {
        if [self.clip_len, self.frame_interval, self.num_clips, self.sample_range, self.num_sample_positions].contains(&0) {
            bail!("DenseSampleFrames: clip_len, frame_interval, num_clips, sample_range and num_sample_positions must be ≥ 1");
        }
        super::check_frames_per_sample("DenseSampleFrames", &[self.clip_len, self.num_clips, self.num_sample_positions])
    }

    /// Samples indices for `total_frames` frames (N ≥ 1) numbered from `start_index`.
    pub fn sample<R: Rng + ?Sized>(&self, total_frames: usize, start_index: i64, rng: &mut R) -> Sampled {
        let n = total_frames as i64;
        let sp = (1 + n - self.sample_range as i64).max(1);
        let iv = (self.sample_range / self.num_clips) as i64;
        let starts: Vec<i64> = if self.test_mode {
            linspace_trunc(0.0, (sp - 1) as f64, self.num_sample_positions)
        } else {
            vec![if sp == 1 { 0 } else { rng.random_range(0..sp - 1) }]
        };
        let offsets: Vec<i64> =
            starts.iter().flat_map(|&st| (0..self.num_clips as i64).map(move |k| (k * iv + st).rem_euclid(n))).collect();
        let clips = Clips {
            clip_len: self.clip_len,
            frame_interval: self.frame_interval,
            temporal_jitter: self.temporal_jitter,
            out_of_bound_opt: self.out_of_bound_opt,
        };
        clips.assemble(&offsets, total_frames, start_index, rng)
    }
}

/// `np.linspace(a, b, num).astype(int)`: evenly spaced, truncated toward zero.
fn linspace_trunc(a: f64, b: f64, num: usize) -> Vec<i64> {
    if num == 1 {
        return vec![a as i64];
    }
    let step = (b - a) / (num - 1) as f64;
    (0..num).map(|i| if i == num - 1 { b as i64 } else { (a + i as f64 * step) as i64 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn dense(k: usize, test_mode: bool) -> DenseSampleFrames {
        DenseSampleFrames {
            clip_len: 1,
            frame_interval: 1,
            num_clips: k,
            sample_range: 64,
            num_sample_positions: 10,
            temporal_jitter: false,
            out_of_bound_opt: OutOfBound::Loop,
            test_mode,
        }
    }

    #[test]
    fn test_mode_n300_k1_starts() {
        let s = dense(1, true).sample(300, 0, &mut rand_pcg::Pcg64::seed_from_u64(0));
        assert_eq!(s.frame_inds, vec![0, 26, 52, 78, 104, 131, 157, 183, 209, 236]);
        assert_eq!(s.num_clips, 10);
    }

    #[test]
    fn train_clips_are_iv_apart_inside_the_window() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        for _ in 0..100 {
            let s = dense(4, false).sample(300, 0, &mut rng);
            let st = s.frame_inds[0];
            assert!((0..236).contains(&st));
            assert_eq!(s.frame_inds, (0..4).map(|k| st + 16 * k).collect::<Vec<_>>());
        }
        // Short video: one window start at 0, offsets wrap.
        let s = dense(4, false).sample(20, 1, &mut rng);
        assert_eq!(s.frame_inds, vec![1, 17, 13, 9]);
    }
}
