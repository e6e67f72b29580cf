//! `SampleFrames`, mmaction2 0.x semantics (`mmaction/datasets/pipelines/loading.py`), the
//! behaviour CDAR and most published configs use. See `shared/docs/semantics.md` §3.

use anyhow::{bail, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// What to do with indices past the last frame (`out_of_bound_opt`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutOfBound {
    /// Wrap around: index mod N (mmaction2 default).
    #[default]
    Loop,
    /// Per clip, indices ≥ N become the clip's largest in-range index (0 if none).
    RepeatLast,
}

/// mmaction2 `SampleFrames(clip_len, frame_interval=1, num_clips=1, temporal_jitter=False,
/// twice_sample=False, out_of_bound_opt='loop', test_mode=False, keep_tail_frames=False)`, 0.x.
///
/// Produces `num_clips` clips (twice that with `twice_sample` in test mode) of `clip_len` frame
/// indices each, `frame_interval` frames apart, clip-major.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleFrames {
    /// Frames per clip (L).
    pub clip_len: usize,
    /// Distance between sampled frames inside a clip, in frames (I).
    #[serde(default = "one")]
    pub frame_interval: usize,
    /// Clips per video (K).
    #[serde(default = "one")]
    pub num_clips: usize,
    /// Add U{0..I−1} to every index (train-time jitter).
    #[serde(default)]
    pub temporal_jitter: bool,
    /// Test mode: append K more clips at the uniform segment starts (mmaction2 TSM test).
    #[serde(default)]
    pub twice_sample: bool,
    /// Indices past the end: `loop` or `repeat_last`.
    #[serde(default)]
    pub out_of_bound_opt: OutOfBound,
    /// Deterministic, evenly spaced clips (evaluation) instead of random offsets (training).
    #[serde(default)]
    pub test_mode: bool,
    /// Training: spread clips over the whole video including its tail (real-valued segment length).
    #[serde(default)]
    pub keep_tail_frames: bool,
    /// Test-mode semantics: `0.x` (default; CDAR and most published configs) or `1.x` (mmaction2
    /// ≥ 1.0: clips spread from the first to the last possible start). Train mode is the same.
    #[serde(default)]
    pub semantics: Semantics,
    /// 1.x only: resample to this frame rate — the clip spans `clip_len · frame_interval` frames
    /// at `target_fps`, i.e. that many times avg_fps / target_fps source frames (at least 1), read
    /// at trunc(linspace(0, span − 1, clip_len)); test offsets j·⌊m/(K−1)⌋ (PySlowFast).
    #[serde(default)]
    pub target_fps: Option<f64>,
}

/// Which mmaction2 generation's test-mode `SampleFrames` to follow (semantics §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Semantics {
    /// mmaction2 0.x (`v0.21`–`0.24`): segment centres.
    #[default]
    #[serde(rename = "0.x")]
    V0,
    /// mmaction2 1.x: for clip_len > 1, offsets rhe(j·m/(K−1)) with m = max(N − (L−1)·I − 1, 0);
    /// for clip_len 1, centres of K segments of N/K frames (`frame_interval` ignored).
    #[serde(rename = "1.x")]
    V1,
}

fn one() -> usize {
    1
}

/// Sampled frame indices for one video.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sampled {
    /// Flattened clip-major indices, each already offset by `start_index` (0-based for videos).
    pub frame_inds: Vec<i64>,
    /// Frames per clip (L).
    pub clip_len: usize,
    /// Clips actually sampled (2K with `twice_sample` in test mode, else K).
    pub num_clips: usize,
}

impl SampleFrames {
    /// Test-mode sampler for `num_clips` single-frame segments (TSN/TSM evaluation).
    pub fn segments(num_clips: usize) -> Self {
        SampleFrames {
            clip_len: 1,
            frame_interval: 1,
            num_clips,
            temporal_jitter: false,
            twice_sample: false,
            out_of_bound_opt: OutOfBound::Loop,
            test_mode: true,
            keep_tail_frames: false,
            semantics: Semantics::V0,
            target_fps: None,
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// `clip_len`, `frame_interval` or `num_clips` is 0; 1.x `twice_sample` with one clip (mmaction2
    /// divides by zero there); more than [`super::MAX_FRAMES_PER_SAMPLE`] indices per sample.
    pub fn validate(&self) -> Result<()> {
        if self.clip_len == 0 || self.frame_interval == 0 || self.num_clips == 0 {
            bail!("SampleFrames: clip_len, frame_interval and num_clips must be ≥ 1");
        }
        super::check_frames_per_sample("SampleFrames", &[self.clip_len, self.num_clips, if self.twice_sample { 2 } else { 1 }])?;
        if self.semantics == Semantics::V1 && self.twice_sample && self.num_clips == 1 && self.clip_len > 1 {
            bail!("SampleFrames: 1.x twice_sample needs num_clips ≥ 2");
        }
        match self.target_fps {
            Some(_) if self.semantics != Semantics::V1 => bail!("SampleFrames: target_fps is a 1.x option; add `semantics: 1.x`"),
            Some(f) if !(f > 0.0) => bail!("SampleFrames: target_fps must be > 0, got {f}"),
            _ => {}
        }
        Ok(())
    }

    /// Samples indices for a video of `total_frames` frames (N ≥ 1) whose first frame is numbered
    /// `start_index` (0 for videos, usually 1 for rawframes). `rng` is used only in train mode.
    pub fn sample<R: Rng + ?Sized>(&self, total_frames: usize, start_index: i64, rng: &mut R) -> Sampled {
        self.sample_at(total_frames, start_index, None, rng)
    }

    /// As [`Self::sample`] for a video of `avg_fps` frames per second (used only by 1.x
    /// `target_fps`; unknown or 0 fps means no resampling, as in mmaction2).
    pub fn sample_at<R: Rng + ?Sized>(&self, total_frames: usize, start_index: i64, avg_fps: Option<f64>, rng: &mut R) -> Sampled {
        if let Some(target) = self.target_fps {
            let ratio = avg_fps.filter(|f| *f > 0.0).map_or(1.0, |f| f / target);
            return self.sample_target_fps(total_frames, start_index, ratio, rng);
        }
        let offsets = match (self.test_mode, self.semantics) {
            (false, _) => self.train_offsets(total_frames, rng),
            (true, Semantics::V1) => self.test_offsets_1x(total_frames),
            (true, Semantics::V0) => self.test_offsets(total_frames),
        };
        self.clips(self.clip_len).assemble(&offsets, total_frames, start_index, rng)
    }

    /// The shared clip assembly with this sampler's interval, jitter and out-of-bound rule and
    /// `clip_len` frames per clip.
    fn clips(&self, clip_len: usize) -> Clips {
        Clips {
            clip_len,
            frame_interval: self.frame_interval,
            temporal_jitter: self.temporal_jitter,
            out_of_bound_opt: self.out_of_bound_opt,
        }
    }

    /// 1.x with `target_fps`: span = max(1, L·I·ratio) source frames; offsets as 1.x (test:
    /// j·⌊m/(K−1)⌋, or ⌊m/2⌋ for one clip; train: the T1–T4 rules on ⌊span⌋); in-clip positions
    /// trunc(linspace(0, span − 1, L)).
    fn sample_target_fps<R: Rng + ?Sized>(&self, n: usize, start_index: i64, ratio: f64, rng: &mut R) -> Sampled {
        let (l, k) = (self.clip_len, self.num_clips);
        let span = ((l * self.frame_interval) as f64 * ratio).max(1.0);
        let offsets: Vec<i64> = if self.test_mode && l == 1 {
            self.test_offsets_1x(n)
        } else if self.test_mode {
            let m = (n as f64 - span).max(0.0);
            let c = if self.twice_sample { 2 * k } else { k };
            if c > 1 {
                let between = (m / (k - 1) as f64).floor();
                (0..c).map(|j| (j as f64 * between) as i64).collect()
            } else {
                vec![(m / 2.0).floor() as i64]
            }
        } else {
            // Train offsets for a clip of ⌊span⌋ frames: reuse the rules with I = 1.
            SampleFrames { clip_len: span as usize, frame_interval: 1, target_fps: None, ..self.clone() }.train_offsets(n, rng)
        };
        let steps: Vec<i64> = if l == 1 { vec![0] } else { (0..l).map(|j| (j as f64 * (span - 1.0) / (l - 1) as f64) as i64).collect() };
        let clips = self.clips(l);
        clips.assemble_steps(&offsets, &steps, n, start_index, rng)
    }

    /// 1.x `_get_test_clips` (semantics §3). With clip_len 1 (2D recognisers) the segments are
    /// N/K frames long whatever `frame_interval` is, and a video shorter than the interval is no
    /// special case, unlike 0.x.
    fn test_offsets_1x(&self, n: usize) -> Vec<i64> {
        let k = self.num_clips;
        if self.clip_len == 1 {
            let avg = n as f64 / k as f64;
            let mut offs: Vec<i64> = (0..k).map(|j| (j as f64 * avg + avg / 2.0) as i64).collect();
            if self.twice_sample {
                offs.extend((0..k).map(|j| (j as f64 * avg) as i64));
            }
            return offs;
        }
        let ori = (self.clip_len - 1) * self.frame_interval + 1;
        let m = n.saturating_sub(ori) as f64;
        let c = if self.twice_sample { 2 * k } else { k };
        if c == 1 {
            return vec![(m as i64) / 2];
        }
        (0..c).map(|j| round_half_even(j as f64 * m / (k - 1) as f64) as i64).collect()
    }

    /// 0.x `_get_test_clips`: centres of K equal segments (trunc), plus segment starts when
    /// `twice_sample`; K zeros when the video is shorter than one clip.
    fn test_offsets(&self, n: usize) -> Vec<i64> {
        let k = self.num_clips;
        let ori = (self.clip_len * self.frame_interval) as f64;
        if (n as f64) < ori {
            return vec![0; k];
        }
        let avg = (n as f64 - ori + 1.0) / k as f64;
        let mut offs: Vec<i64> = (0..k).map(|j| (j as f64 * avg + avg / 2.0) as i64).collect();
        if self.twice_sample {
            offs.extend((0..k).map(|j| (j as f64 * avg) as i64));
        }
        offs
    }

    /// 0.x `_get_train_clips`, rules T1–T4 of semantics §3 (and `keep_tail_frames`).
    fn train_offsets<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<i64> {
        let k = self.num_clips as i64;
        let ori = (self.clip_len * self.frame_interval) as i64;
        let n = n as i64;
        if self.keep_tail_frames {
            let avg = (n - ori + 1) as f64 / k as f64;
            if n >= ori {
                return (0..k).map(|j| (j as f64 * avg + rng.random_range(0.0..avg.max(f64::MIN_POSITIVE))) as i64).collect();
            }
            return vec![0; k as usize];
        }
        let avg = (n - ori + 1).div_euclid(k);
        if avg > 0 {
            (0..k).map(|j| j * avg + rng.random_range(0..avg)).collect()
        } else if n > k.max(ori) && ori > 1 {
            let mut v: Vec<i64> = (0..k).map(|_| rng.random_range(0..=n - ori)).collect();
            v.sort_unstable();
            v
        } else if avg == 0 {
            let ratio = (n - ori + 1) as f64 / k as f64;
            (0..k).map(|j| round_half_even(j as f64 * ratio) as i64).collect()
        } else {
            vec![0; k as usize]
        }
    }
}

/// The shared second half of every sampler (semantics §3 "Assembly"): clip k is
/// `o_k + l·frame_interval` for l < clip_len, optionally jittered, out-of-range indices looped or
/// clamped, then offset by `start_index`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clips {
    pub clip_len: usize,
    pub frame_interval: usize,
    pub temporal_jitter: bool,
    pub out_of_bound_opt: OutOfBound,
}

impl Clips {
    pub(crate) fn assemble<R: Rng + ?Sized>(&self, offsets: &[i64], total_frames: usize, start_index: i64, rng: &mut R) -> Sampled {
        let steps: Vec<i64> = (0..self.clip_len as i64).map(|j| j * self.frame_interval as i64).collect();
        self.assemble_steps(offsets, &steps, total_frames, start_index, rng)
    }

    /// As [`Self::assemble`] with explicit in-clip positions (1.x `target_fps` uses a linspace).
    pub(crate) fn assemble_steps<R: Rng + ?Sized>(
        &self,
        offsets: &[i64],
        steps: &[i64],
        total_frames: usize,
        start_index: i64,
        rng: &mut R,
    ) -> Sampled {
        let n = total_frames as i64;
        let i = self.frame_interval as i64;
        let mut inds = Vec::with_capacity(offsets.len() * steps.len());
        for &o in offsets {
            let mut clip: Vec<i64> = steps.iter().map(|s| o + s).collect();
            if self.temporal_jitter {
                for x in &mut clip {
                    *x += rng.random_range(0..i);
                }
            }
            match self.out_of_bound_opt {
                OutOfBound::Loop => clip.iter_mut().for_each(|x| *x = x.rem_euclid(n)),
                OutOfBound::RepeatLast => {
                    let last = clip.iter().copied().filter(|&x| x < n).max().unwrap_or(0);
                    clip.iter_mut().filter(|x| **x >= n).for_each(|x| *x = last);
                }
            }
            inds.extend(clip);
        }
        inds.iter_mut().for_each(|x| *x += start_index);
        Sampled { frame_inds: inds, clip_len: self.clip_len, num_clips: offsets.len() }
    }
}

/// numpy `around`: round half to even.
pub(crate) fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn rng() -> Pcg64 {
        Pcg64::seed_from_u64(0)
    }
    fn test_sf(l: usize, i: usize, k: usize) -> SampleFrames {
        SampleFrames { clip_len: l, frame_interval: i, num_clips: k, test_mode: true, ..SampleFrames::segments(1) }
    }

    #[test]
    fn test_n100_l1_k8_start1() {
        let s = test_sf(1, 1, 8).sample(100, 1, &mut rng());
        assert_eq!(s.frame_inds, vec![7, 19, 32, 44, 57, 69, 82, 94]);
    }

    #[test]
    fn test_n100_l1_k8_start0() {
        let s = test_sf(1, 1, 8).sample(100, 0, &mut rng());
        assert_eq!(s.frame_inds, vec![6, 18, 31, 43, 56, 68, 81, 93]);
    }

    #[test]
    fn test_twice_sample_appends_segment_starts() {
        let sf = SampleFrames { twice_sample: true, ..test_sf(1, 1, 8) };
        let s = sf.sample(100, 1, &mut rng());
        assert_eq!(s.frame_inds, vec![7, 19, 32, 44, 57, 69, 82, 94, 1, 13, 26, 38, 51, 63, 76, 88]);
        assert_eq!(s.num_clips, 16);
    }

    #[test]
    fn test_n5_l1_k8() {
        assert_eq!(test_sf(1, 1, 8).sample(5, 1, &mut rng()).frame_inds, vec![1, 1, 2, 3, 3, 4, 5, 5]);
    }

    #[test]
    fn train_n5_l1_k8_rule_t3_rounds_half_to_even() {
        let sf = SampleFrames { test_mode: false, ..test_sf(1, 1, 8) };
        assert_eq!(sf.sample(5, 1, &mut rng()).frame_inds, vec![1, 2, 2, 3, 3, 4, 5, 5]);
    }

    #[test]
    fn train_n100_l1_k8_each_clip_in_its_segment() {
        let sf = SampleFrames { test_mode: false, ..test_sf(1, 1, 8) };
        let mut r = rng();
        for _ in 0..200 {
            let s = sf.sample(100, 1, &mut r);
            for (k, &x) in s.frame_inds.iter().enumerate() {
                let lo = 12 * k as i64 + 1;
                assert!((lo..lo + 12).contains(&x), "clip {k}: {x}");
            }
        }
    }

    #[test]
    fn test_n100_l32_i2_k10_offsets() {
        let s = test_sf(32, 2, 10).sample(100, 0, &mut rng());
        let firsts: Vec<i64> = s.frame_inds.chunks(32).map(|c| c[0]).collect();
        assert_eq!(firsts, vec![1, 5, 9, 12, 16, 20, 24, 27, 31, 35]);
    }

    #[test]
    fn test_n300_l8_i8_k1() {
        let s = test_sf(8, 8, 1).sample(300, 0, &mut rng());
        assert_eq!(s.frame_inds, (0..8).map(|j| 118 + 8 * j).collect::<Vec<i64>>());
    }

    #[test]
    fn test_n50_l8_i8_k1_loops() {
        assert_eq!(test_sf(8, 8, 1).sample(50, 0, &mut rng()).frame_inds, vec![0, 8, 16, 24, 32, 40, 48, 6]);
    }

    #[test]
    fn test_n10_l4_i4_loop_and_repeat_last() {
        assert_eq!(test_sf(4, 4, 1).sample(10, 0, &mut rng()).frame_inds, vec![0, 4, 8, 2]);
        let rl = SampleFrames { out_of_bound_opt: OutOfBound::RepeatLast, ..test_sf(4, 4, 1) };
        assert_eq!(rl.sample(10, 0, &mut rng()).frame_inds, vec![0, 4, 8, 8]);
    }

    #[test]
    fn train_rule_t2_sorted_draws_within_range() {
        // N=40, L=8, I=4 (ori 32), K=10: a = 9 // 10 = 0, N > max(K, ori) → sorted draws in 0..=8.
        let sf = SampleFrames { test_mode: false, ..test_sf(8, 4, 10) };
        let s = sf.sample(40, 0, &mut rng());
        let firsts: Vec<i64> = s.frame_inds.chunks(8).map(|c| c[0]).collect();
        assert!(firsts.windows(2).all(|w| w[0] <= w[1]) && firsts.iter().all(|&x| (0..=8).contains(&x)));
    }

    #[test]
    fn semantics_1x_test_offsets() {
        let v1 = |l, i, k| SampleFrames { semantics: Semantics::V1, ..test_sf(l, i, k) };
        let s = v1(32, 2, 10).sample(100, 0, &mut rng());
        let firsts: Vec<i64> = s.frame_inds.chunks(32).map(|c| c[0]).collect();
        assert_eq!(firsts, vec![0, 4, 8, 12, 16, 21, 25, 29, 33, 37]);
        assert_eq!(v1(8, 8, 1).sample(300, 0, &mut rng()).frame_inds, (0..8).map(|j| 121 + 8 * j).collect::<Vec<i64>>());
        assert_eq!(v1(8, 8, 1).sample(50, 0, &mut rng()).frame_inds, vec![0, 8, 16, 24, 32, 40, 48, 6]);
        // L = 1, I = 1 is the same in both.
        assert_eq!(v1(1, 1, 8).sample(100, 1, &mut rng()).frame_inds, vec![7, 19, 32, 44, 57, 69, 82, 94]);
        // L = 1 ignores frame_interval in 1.x (semantics §3): N=2, I=2, K=1 → 1.x [1], 0.x [0].
        assert_eq!(v1(1, 2, 1).sample(2, 0, &mut rng()).frame_inds, vec![1]);
        assert_eq!(test_sf(1, 2, 1).sample(2, 0, &mut rng()).frame_inds, vec![0]);
        // N=21, I=8, K=7: 1.x segments of 21/7 = 3 frames; 0.x of (21 − 8 + 1)/7 = 2.
        assert_eq!(v1(1, 8, 7).sample(21, 0, &mut rng()).frame_inds, vec![1, 4, 7, 10, 13, 16, 19]);
        assert_eq!(test_sf(1, 8, 7).sample(21, 0, &mut rng()).frame_inds, vec![1, 3, 5, 7, 9, 11, 13]);
        // N=5 < I=8: 0.x gives zeros, 1.x no special case.
        assert_eq!(test_sf(1, 8, 2).sample(5, 0, &mut rng()).frame_inds, vec![0, 0]);
        assert_eq!(v1(1, 8, 2).sample(5, 0, &mut rng()).frame_inds, vec![1, 3]);
        let twice = SampleFrames { twice_sample: true, ..v1(1, 8, 7) }.sample(21, 0, &mut rng());
        assert_eq!(twice.frame_inds[7..], [0, 3, 6, 9, 12, 15, 18]);
        assert!(SampleFrames { twice_sample: true, ..v1(8, 8, 1) }.validate().is_err());
    }

    #[test]
    fn target_fps_resamples_a_60fps_video_to_30() {
        // 1.x, L=8, I=8 at 30 fps on a 60 fps video: span 128 source frames, 8 reads 18 apart
        // (trunc(linspace(0, 127, 8))); N=300 test: m = 172, one clip at 86.
        let sf = SampleFrames { semantics: Semantics::V1, target_fps: Some(30.0), ..test_sf(8, 8, 1) };
        sf.validate().unwrap();
        let s = sf.sample_at(300, 0, Some(60.0), &mut rng());
        assert_eq!(s.frame_inds, vec![86, 104, 122, 140, 158, 176, 194, 213]);
        // Three clips: j·⌊172/2⌋.
        let s = SampleFrames { num_clips: 3, ..sf.clone() }.sample_at(300, 0, Some(60.0), &mut rng());
        assert_eq!(s.frame_inds.chunks(8).map(|c| c[0]).collect::<Vec<_>>(), vec![0, 86, 172]);
        // Unknown fps: no resampling (span = L·I = 64, linspace steps of 9).
        assert_eq!(sf.sample_at(300, 0, None, &mut rng()).frame_inds[..3], [118, 127, 136]);
        assert!(SampleFrames { target_fps: Some(30.0), ..test_sf(8, 8, 1) }.validate().is_err());
    }

    #[test]
    fn round_half_even_matches_numpy() {
        assert_eq!([0.5, 1.5, 2.5, -0.5, 2.4].map(round_half_even), [0.0, 2.0, 2.0, -0.0, 2.0]);
    }
}
