//! `UniformSampleFrames`, mmaction2 (`pose_loading.py`; PoseC3D, also used for RGB), semantics §3.

use anyhow::{bail, Result};
use rand::seq::index::sample as choose_distinct;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::sample_frames::Sampled;

/// mmaction2 `UniformSampleFrames(clip_len, num_clips=1, test_mode=False, seed=255)`.
///
/// Each clip takes `clip_len` frames spread uniformly over the whole video: one random frame per
/// equal part when N ≥ 2L, all frames with random repeats when L ≤ N < 2L, a looped run when N < L.
/// Test mode draws from numpy's legacy RNG seeded with `seed` (mmaction2 reseeds numpy), so test
/// clips equal mmaction2's and are the same for every epoch and worker. 1.x loop semantics for K > 1 (0.x asserts K = 1 in training).
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
    /// numpy seed of test mode (0 ≤ seed < 2^32).
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
    /// `clip_len` or `num_clips` is 0, `seed` ≥ 2^32, or more than
    /// [`super::MAX_FRAMES_PER_SAMPLE`] indices per sample.
    pub fn validate(&self) -> Result<()> {
        if self.clip_len == 0 || self.num_clips == 0 {
            bail!("UniformSampleFrames: clip_len and num_clips must be ≥ 1");
        }
        if self.seed > u32::MAX as u64 {
            bail!("UniformSampleFrames: seed must be below 2^32 (numpy's limit), got {}", self.seed);
        }
        super::check_frames_per_sample("UniformSampleFrames", &[self.clip_len, self.num_clips])
    }

    /// Samples indices for `total_frames` frames (N ≥ 1) numbered from `start_index`. Train mode
    /// draws from `rng`; test mode from numpy's legacy `RandomState(seed)`, draw for draw, so its
    /// indices equal mmaction2's `_get_test_clips` (semantics §3).
    pub fn sample<R: Rng + ?Sized>(&self, total_frames: usize, start_index: i64, rng: &mut R) -> Sampled {
        if self.test_mode {
            self.sample_with(total_frames, start_index, &mut NumpyRandomState::new(self.seed as u32))
        } else {
            self.sample_with(total_frames, start_index, &mut RandDraws(rng))
        }
    }

    fn sample_with(&self, n: usize, start_index: i64, draws: &mut impl Draws) -> Sampled {
        let l = self.clip_len;
        let mut inds = Vec::with_capacity(self.num_clips * l);
        for i in 0..self.num_clips {
            let clip: Vec<usize> = if n < l {
                let start = match (self.test_mode, n < self.num_clips) {
                    (false, _) => draws.below(n),
                    (true, true) => i,
                    (true, false) => i * n / self.num_clips,
                };
                (start..start + l).collect()
            } else if n < 2 * l {
                let picked = draws.choose_distinct(l + 1, n - l);
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
                (0..l).map(|j| b[j] + draws.below(b[j + 1] - b[j])).collect()
            };
            inds.extend(clip.into_iter().map(|x| (x % n) as i64 + start_index));
        }
        Sampled { frame_inds: inds, clip_len: l, num_clips: self.num_clips }
    }
}

/// The two kinds of draw the sampler makes.
trait Draws {
    /// A uniform integer in 0..n (n ≥ 1).
    fn below(&mut self, n: usize) -> usize;
    /// `k` distinct integers from 0..pop.
    fn choose_distinct(&mut self, pop: usize, k: usize) -> Vec<usize>;
}

/// Train mode: any `rand` generator (the sample's (seed, epoch, index) stream).
struct RandDraws<'a, R: Rng + ?Sized>(&'a mut R);

impl<R: Rng + ?Sized> Draws for RandDraws<'_, R> {
    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }
    fn choose_distinct(&mut self, pop: usize, k: usize) -> Vec<usize> {
        choose_distinct(self.0, pop, k).into_vec()
    }
}

/// numpy's legacy `np.random.seed(s)` state (MT19937 seeded by `init_genrand(s)`) and the two
/// legacy algorithms mmaction2's test mode calls, reproduced draw for draw:
/// `randint(n)` takes 32-bit words masked to the smallest all-ones mask ≥ n − 1 and rejects
/// values above n − 1 (no draw at all when n = 1: `random_bounded_uint64_fill`), and
/// `choice(pop, k, replace=False)` is `permutation(pop)[:k]`, a Fisher–Yates shuffle from the
/// last element down with the same masked rejection (`random_interval`), which draws even when
/// k = 0.
struct NumpyRandomState(rand_mt::Mt);

impl NumpyRandomState {
    fn new(seed: u32) -> Self {
        NumpyRandomState(rand_mt::Mt::new(seed))
    }

    /// numpy `random_interval(max)`: uniform in 0..=max by masked rejection.
    fn interval(&mut self, max: usize) -> usize {
        if max == 0 {
            return 0;
        }
        let mask = u32::MAX >> (max as u32).leading_zeros();
        loop {
            let v = (self.0.next_u32() & mask) as usize;
            if v <= max {
                return v;
            }
        }
    }
}

impl Draws for NumpyRandomState {
    fn below(&mut self, n: usize) -> usize {
        self.interval(n - 1)
    }
    fn choose_distinct(&mut self, pop: usize, k: usize) -> Vec<usize> {
        let mut perm: Vec<usize> = (0..pop).collect();
        for i in (1..pop).rev() {
            let j = self.interval(i);
            perm.swap(i, j);
        }
        perm.truncate(k);
        perm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn u(l: usize, k: usize, test_mode: bool) -> UniformSampleFrames {
        UniformSampleFrames { clip_len: l, num_clips: k, test_mode, seed: 255 }
    }

    /// Expected indices printed by mmaction2's `UniformSampleFrames._get_test_clips` code run
    /// under numpy 2.4 (`np.random.seed(255)`), `% num_frames` applied, start_index 0.
    #[test]
    fn test_mode_equals_mmaction2_under_numpy() {
        let cases: &[(usize, usize, usize, &[i64])] = &[
            (9, 8, 1, &[0, 1, 3, 4, 5, 6, 7, 8]),
            (8, 8, 1, &[0, 1, 2, 3, 4, 5, 6, 7]),
            (12, 8, 2, &[0, 1, 3, 4, 6, 7, 9, 10, 0, 1, 2, 4, 5, 7, 9, 11]),
            (15, 8, 3, &[1, 2, 4, 5, 7, 9, 11, 13, 1, 2, 4, 6, 7, 9, 11, 13, 1, 2, 4, 6, 7, 9, 11, 13]),
            (100, 8, 1, &[3, 21, 34, 43, 55, 70, 80, 96]),
            (100, 8, 3, &[3, 21, 34, 43, 55, 70, 80, 96, 2, 16, 34, 37, 60, 69, 76, 99, 4, 13, 32, 37, 56, 72, 81, 87]),
            (
                70,
                48,
                1,
                &[
                    0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 13, 14, 16, 18, 19, 21, 23, 24, 25, 26, 28, 29, 31, 32, 34, 36, 37, 39, 41, 43, 44, 45,
                    47, 49, 51, 52, 54, 56, 57, 58, 59, 60, 61, 62, 63, 65, 66, 68,
                ],
            ),
            (
                200,
                17,
                4,
                &[
                    3, 20, 32, 41, 52, 66, 75, 91, 96, 109, 126, 129, 151, 159, 165, 180, 189, 7, 11, 29, 45, 53, 58, 76, 86, 98, 109, 121,
                    138, 151, 156, 165, 177, 191, 3, 13, 28, 35, 49, 67, 77, 91, 103, 109, 124, 139, 150, 161, 174, 185, 196, 8, 13, 33,
                    37, 50, 67, 81, 87, 102, 115, 125, 136, 146, 162, 168, 180, 198,
                ],
            ),
        ];
        for &(n, l, k, want) in cases {
            let s = u(l, k, true).sample(n, 0, &mut rand_pcg::Pcg64::seed_from_u64(0));
            assert_eq!(s.frame_inds, want, "N={n} L={l} K={k}");
        }
        // Semantics §3 worked example, start_index 1.
        assert_eq!(u(8, 1, true).sample(9, 1, &mut rand_pcg::Pcg64::seed_from_u64(0)).frame_inds, [1, 2, 4, 5, 6, 7, 8, 9]);
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
