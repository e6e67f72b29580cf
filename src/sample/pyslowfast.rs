//! `PySlowFastSampleFrames`: PySlowFast's frame sampling of a rawframe video (SEVERE's
//! Charades, `slowfast/datasets/charades.py` `get_seq_frames`; semantics §12).

use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Sampled;

/// One clip of `clip_len` frames `frame_interval` apart, spanning `len = (clip_len − 1) ·
/// frame_interval + 1` frames. Training: the start uniform in `0..=L − len` (Python's
/// `random.randint`, both ends included; `L − len..=0` for a shorter video). Test:
/// `num_clips` views (`TEST.NUM_ENSEMBLE_VIEWS`), view k starting at
/// `round(max(L − len, 0) / (num_clips − 1) · k)` (ties to even, as Python's `round`; 0 for a
/// single view, where PySlowFast would divide by zero). Indices clamped to `[0, L − 1]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PySlowFastSampleFrames {
    /// Frames per clip (`DATA.NUM_FRAMES`; SEVERE's Charades 32).
    pub clip_len: usize,
    /// Frames between two sampled frames (`DATA.SAMPLING_RATE`; 8).
    pub frame_interval: usize,
    /// Test views (`TEST.NUM_ENSEMBLE_VIEWS`; 10); training takes one clip.
    #[serde(default = "one")]
    pub num_clips: usize,
    /// Evenly spaced test views instead of a random training clip.
    #[serde(default)]
    pub test_mode: bool,
}

fn one() -> usize {
    1
}

impl PySlowFastSampleFrames {
    /// The frame indices for a video of `total_frames` frames numbered from `start_index`.
    pub fn sample<R: Rng + ?Sized>(&self, total_frames: usize, start_index: i64, rng: &mut R) -> Sampled {
        let (l, len) = (total_frames as i64, ((self.clip_len.max(1) - 1) * self.frame_interval + 1) as i64);
        let starts: Vec<i64> = if self.test_mode {
            let gap = if self.num_clips > 1 { (l - len).max(0) as f64 / (self.num_clips - 1) as f64 } else { 0.0 };
            (0..self.num_clips).map(|k| (gap * k as f64).round_ties_even() as i64).collect()
        } else if len > l {
            vec![rng.random_range(l - len..=0)]
        } else {
            vec![rng.random_range(0..=l - len)]
        };
        let frame_inds = starts
            .iter()
            .flat_map(|s| {
                (0..self.clip_len as i64).map(move |i| (s + i * self.frame_interval as i64).clamp(0, (l - 1).max(0)) + start_index)
            })
            .collect();
        Sampled { frame_inds, clip_len: self.clip_len, num_clips: starts.len() }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// A zero `clip_len`, `frame_interval` or `num_clips`, several clips in training, or more
    /// frames than [`super::MAX_FRAMES_PER_SAMPLE`].
    pub fn validate(&self) -> Result<()> {
        if self.clip_len == 0 || self.frame_interval == 0 || self.num_clips == 0 {
            bail!("PySlowFastSampleFrames: clip_len, frame_interval and num_clips must be at least 1");
        }
        if !self.test_mode && self.num_clips != 1 {
            bail!("PySlowFastSampleFrames: training takes one clip (num_clips views are for test_mode)");
        }
        super::check_frames_per_sample("PySlowFastSampleFrames", &[self.clip_len, self.num_clips])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn views_and_clips_follow_get_seq_frames() {
        let test = PySlowFastSampleFrames { clip_len: 32, frame_interval: 8, num_clips: 10, test_mode: true };
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        // L = 500, len = 249: gap 251/9; starts round(27.888…·k).
        let s = test.sample(500, 1, &mut rng);
        let starts: Vec<i64> = s.frame_inds.chunks(32).map(|c| c[0] - 1).collect();
        assert_eq!(starts, [0, 28, 56, 84, 112, 139, 167, 195, 223, 251]);
        assert_eq!((s.num_clips, s.clip_len, s.frame_inds[1] - 1), (10, 32, 8));
        // Shorter than a clip: all views start at 0, indices clamped to the last frame.
        let s = test.sample(100, 0, &mut rng);
        assert_eq!((s.frame_inds[0], s.frame_inds[12], s.frame_inds[31]), (0, 96, 99));
        let train = PySlowFastSampleFrames { clip_len: 4, frame_interval: 2, num_clips: 1, test_mode: false };
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..400 {
            let s = train.sample(10, 0, &mut rng).frame_inds;
            assert_eq!(s.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>(), [2, 2, 2]);
            seen.insert(s[0]);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3], "randint(0, L − len) includes both ends");
        // Longer clip than video: start in len − L..=0, clamped at 0.
        let s = train.sample(5, 0, &mut rng).frame_inds;
        assert!(s[0] == 0 && s[3] <= 4, "{s:?}");
        assert!(PySlowFastSampleFrames { num_clips: 3, ..train }.validate().is_err());
    }
}
