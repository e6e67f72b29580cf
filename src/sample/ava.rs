//! `SampleAVAFrames`: the frames of an AVA keyframe's clip, centred on the keyframe, as
//! PySlowFast's `utils.get_sequence` takes them (SEVERE's AVA loader; semantics §12).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::Sampled;

/// mmaction2's `SampleAVAFrames(clip_len, frame_interval)` with PySlowFast's arithmetic:
/// `range(center − clip_len·frame_interval/2, center + clip_len·frame_interval/2,
/// frame_interval)` (halves rounded down), each index clamped to the video's frames. Needs a
/// sample with a keyframe (an `AVADataset` source).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleAVAFrames {
    /// Frames of the clip (PySlowFast `DATA.NUM_FRAMES`; SEVERE 32).
    pub clip_len: usize,
    /// Frames between two sampled frames (`DATA.SAMPLING_RATE`; SEVERE 2).
    pub frame_interval: usize,
}

impl SampleAVAFrames {
    /// The clip around 0-based frame `center` of a video of `total_frames` frames, numbered from
    /// `start_index`.
    pub fn sample(&self, center: usize, total_frames: usize, start_index: i64) -> Sampled {
        let half = (self.clip_len * self.frame_interval / 2) as i64;
        let (c, last) = (center as i64, total_frames.max(1) as i64 - 1);
        let frame_inds: Vec<i64> =
            (c - half..c + half).step_by(self.frame_interval.max(1)).map(|i| i.clamp(0, last) + start_index).collect();
        Sampled { clip_len: frame_inds.len(), frame_inds, num_clips: 1 }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// A zero `clip_len` or `frame_interval`, or more frames than
    /// [`super::MAX_FRAMES_PER_SAMPLE`].
    pub fn validate(&self) -> Result<()> {
        if self.clip_len == 0 || self.frame_interval == 0 {
            bail!("SampleAVAFrames: clip_len and frame_interval must be at least 1");
        }
        super::check_frames_per_sample("SampleAVAFrames", &[self.clip_len, self.frame_interval])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_are_pyslowfasts_get_sequence() {
        let s = SampleAVAFrames { clip_len: 32, frame_interval: 2 };
        // get_sequence(60, 32, 2, 100): range(28, 92, 2).
        let got = s.sample(60, 100, 0);
        assert_eq!(got.frame_inds, (28..92).step_by(2).collect::<Vec<i64>>());
        assert_eq!((got.clip_len, got.num_clips), (32, 1));
        // Clamped at both ends; rawframe files from 1.
        let short = s.sample(10, 40, 1).frame_inds;
        assert_eq!(&short[..4], &[1, 1, 1, 1]);
        assert_eq!(short[3 + 13], 1 + 10 - 32 + 2 * 16);
        assert_eq!(*short.last().unwrap(), 40);
        assert!(SampleAVAFrames { clip_len: 0, frame_interval: 2 }.validate().is_err());
    }
}
