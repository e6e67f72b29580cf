//! `UniformSampleFrames`, mmaction2 (`pose_loading.py`; PoseC3D, also used for RGB), semantics §3.

use anyhow::{bail, Result};
use rand::seq::index::sample as choose_distinct;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::sample_frames::Sampled;

/// mmaction2 `UniformSampleFrames(clip_len, num_clips=1, test_mode=False, seed=255)`.
///
/// Each clip takes `clip_len` frames spread uniformly over the whole video: one random frame per
/// equal part when N ≥ 2L, all frames with random repeats when L ≤ N < 2L, a looped run when N < L.
/// Test mode draws from an RNG seeded with `seed` (mmaction2 reseeds numpy), so test clips are the
/// same for every epoch and worker. 1.x loop semantics for K > 1 (0.x asserts K = 1 in training).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UniformSampleFrames {
    /// Frames per clip (L).
    pub clip_len: usize,
    /// Clips per video (K).
    #[serde(default = "one")]
    pub num_clips: usize,
    /// Fixed-seed draws (evaluation).
    #[serde(default)]
    pub test_mode: bool,
    /// RNG seed of test mode.
    #[serde(default = "seed255")]
    pub seed: u64,
}

fn one() -> usize {
    1
}
fn seed255() -> u64 {
    255
}

impl UniformSampleFrames {
    /// Checks the parameters.
    ///
    /// # Errors
    /// `clip_len` or `num_clips` is 0.
    pub fn validate(&self) -> Result<()> {
        if self.clip_len == 0 || self.num_clips == 0 {
            bail!("UniformSampleFrames: clip_len and num_clips must be ≥ 1");
        }
        Ok(())
    }

    /// Samples indices for `total_frames` frames (N ≥ 1) numbered from `start_index`. Train mode
    /// draws from `rng`; test mode from an RNG seeded with [`Self::seed`].
    pub fn sample<R: Rng + ?Sized>(&self, total_frames: usize, start_index: i64, rng: &mut R) -> Sampled {
        let mut fixed = rand_pcg::Pcg64::seed_from_u64(self.seed);
        let rng: &mut dyn rand::RngCore = if self.test_mode { &mut fixed } else { &mut RngRef(rng) };
        let (n, l) = (total_frames, self.clip_len);
        let mut inds = Vec::with_capacity(self.num_clips * l);
        for i in 0..self.num_clips {
            let clip: Vec<usize> = if n < l {
                let start = match (self.test_mode, n < self.num_clips) {
                    (false, _) => rng.random_range(0..n),
                    (true, true) => i,
                    (true, false) => i * n / self.num_clips,
                };
                (start..start + l).collect()
            } else if n < 2 * l {
                let picked = choose_distinct(rng, l + 1, n - l).into_vec();
                let mut bump = vec![0usize; l + 1];
                picked.iter().for_each(|&p| bump[p] = 1);
                let mut acc = 0;
                (0..l)
                    .map(|j| {
                        acc += bump[j];
                        j + acc
                    })
                    .collect()
            } else {
                let b: Vec<usize> = (0..=l).map(|j| j * n / l).collect();
                (0..l).map(|j| b[j] + rng.random_range(0..b[j + 1] - b[j])).collect()
            };
            inds.extend(clip.into_iter().map(|x| (x % n) as i64 + start_index));
        }
        Sampled { frame_inds: inds, clip_len: l, num_clips: self.num_clips }
    }
}

/// Lets a generic `Rng` stand where a `dyn RngCore` is needed.
struct RngRef<'a, R: Rng + ?Sized>(&'a mut R);

impl<R: Rng + ?Sized> rand::RngCore for RngRef<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(l: usize, k: usize, test_mode: bool) -> UniformSampleFrames {
        UniformSampleFrames { clip_len: l, num_clips: k, test_mode, seed: 255 }
    }

    #[test]
    fn short_video_test_mode_worked_example() {
        // N=30, L=48, K=10, test: clip 1 = 3..29 then 0..20.
        let s = u(48, 10, true).sample(30, 0, &mut rand_pcg::Pcg64::seed_from_u64(0));
        let clip1: Vec<i64> = s.frame_inds[48..96].to_vec();
        let want: Vec<i64> = (3..30).chain(0..21).collect();
        assert_eq!(clip1, want);
    }

    #[test]
    fn long_video_one_frame_per_part_and_test_mode_is_fixed() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        for _ in 0..50 {
            let s = u(8, 1, false).sample(100, 1, &mut rng);
            for (j, &x) in s.frame_inds.iter().enumerate() {
                let (lo, hi) = (j as i64 * 100 / 8, (j as i64 + 1) * 100 / 8);
                assert!((lo + 1..hi + 1).contains(&x), "part {j}: {x}");
            }
        }
        let a = u(8, 2, true).sample(100, 0, &mut rand_pcg::Pcg64::seed_from_u64(1));
        let b = u(8, 2, true).sample(100, 0, &mut rand_pcg::Pcg64::seed_from_u64(2));
        assert_eq!(a, b);
    }

    #[test]
    fn medium_video_uses_every_frame_with_repeats() {
        // L ≤ N < 2L: increasing, starts at 0 or 1, ends at N−1 or before, covers N−L bumps.
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        for _ in 0..50 {
            let s = u(8, 1, false).sample(12, 0, &mut rng);
            assert!(s.frame_inds.windows(2).all(|w| w[0] < w[1]), "{:?}", s.frame_inds);
            assert!(*s.frame_inds.last().unwrap() <= 11);
        }
    }
}
