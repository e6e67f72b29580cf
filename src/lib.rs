//! vpipe: a streaming engine for video deep-learning data.
//!
//! decode (FFmpeg) → sample clips (mmaction2 `SampleFrames`) → transforms → model (tch) → Parquet,
//! as one dataflow graph of bounded, backpressured channels. The binary (`src/main.rs`, `src/cli/`)
//! is a thin layer over these modules; each is usable and tested on its own.
//!
//! Layers: `cli → graph → config → {source, decode, sample, transform, model, sink} → frame`.
//! [`frame`] imports nothing of the crate; `sample` and `transform` know nothing of FFmpeg, tch,
//! files or threads (the engine hands `BackgroundBlend` its backgrounds); only `graph` spawns
//! threads and only `cli` knows clap.

#![warn(missing_docs)]

pub mod config;
pub mod decode;
pub mod device;
pub mod encode;
pub mod frame;
pub mod graph;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod sample;
pub mod sink;
pub mod source;
pub mod transform;

#[cfg(test)]
mod fuzz;

/// This crate's version, written into output metadata.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
