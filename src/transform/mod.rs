//! Spatial transforms and tensor formatting, mmaction2 0.x names, parameters and defaults
//! (`mmaction/datasets/pipelines/augmentations.py`, `formatting.py`; semantics.md §5).
//!
//! A [`Clip`] holds the frames of one sample in mmaction2's order: crop-major, then clip, then
//! frame within clip. Geometry (output sizes, crop boxes) lives in pure functions of [`geometry`];
//! each step's configuration ([`OpConfig`]) builds the [`FrameOp`] that applies it to a [`Clip`];
//! [`format`](mod@format) turns the uint8 clip into the normalised float tensor the model takes.

pub mod blend;
pub mod color;
pub mod format;
pub mod geometry;
pub mod imgaug;
mod lut;
pub mod median;
mod ops;
pub mod rand_augment;

pub use blend::{BackgroundBlend, BackgroundSource, Blend, LabelMix};
pub use color::ColorJitter;
pub use format::{InputFormat, Normalize, Tensor};
pub use ops::{
    resize_frame, BuildCtx, CenterCrop, Clip, Direction, Flip, FrameOp, Interpolation, MultiScaleCrop, OpConfig, RandomCrop, RandomRescale,
    RandomResizedCrop, Resize, ResizeOp, ShortSideScaleJitter, Size, TenCrop, ThreeCrop, UniformCrop, MAX_SIDE,
};
pub use rand_augment::PytorchVideoTrans;
