//! vpipe: a streaming engine for video deep-learning data.
//!
//! decode (FFmpeg) → sample clips (mmaction2 `SampleFrames`) → transforms → model (tch) → Parquet,
//! as one dataflow graph of bounded, backpressured channels. The binary (`src/main.rs`, `src/cli/`)
//! is a thin layer over these modules; each is usable and tested on its own.
//!
//! Layers: `cli → graph → {source, decode, sample, transform, model, sink}`; `sample` and
//! `transform` know nothing of FFmpeg or tch.

pub mod config;
pub mod decode;
pub mod graph;
pub mod metrics;
pub mod model;
pub mod sample;
pub mod sink;
pub mod source;
pub mod transform;

/// This crate's version, written into output metadata.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
