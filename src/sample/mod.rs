//! Frame sampling: which frame indices a clip is built from. Pure functions of the frame count,
//! the parameters and an RNG, so they are tested without video.

mod sample_frames;

pub use sample_frames::{OutOfBound, SampleFrames, Sampled};
