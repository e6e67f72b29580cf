//! The streaming runtime. [`engine`] is the one staged graph every job is declared on: a source,
//! named stages with their own thread counts joined by bounded crossbeam channels, batching, and
//! a consumer on the calling thread, with one failure path and one [`Summary`]. The jobs:
//! [`featurize`] (prepare → batch → model → Parquet), [`loader`] (prepare → batch → collate, the
//! training and evaluation loaders of [`train`]), [`extract`] (video → JPEG folder → report) and
//! [`median`] (frames → median image). This module is the only one that knows about threads
//! and channels.

pub mod backgrounds;
pub mod bench;
pub mod checkpoint;
pub mod distributed;
pub mod domains;
pub mod engine;
pub mod extract;
pub mod featurize;
pub mod interrupt;
pub mod loader;
pub mod median;
pub mod metrics;
pub mod pipeline;
pub mod resize;
pub mod train;

pub use engine::{Graph, Settings, Stream};
pub use metrics::{Failure, FrameCounts, StageMetrics, Summary};

/// Loader sizing: `workers` threads prepare samples, at most `capacity` samples in flight.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Worker threads (≥ 1).
    pub workers: usize,
    /// In-flight window and channel capacity, in samples (≥ 1).
    pub capacity: usize,
}

use rand::SeedableRng;

/// The RNG for one sample's random choices: a pure function of (seed, epoch, sample index), so
/// outputs do not depend on worker count or scheduling.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> rand_pcg::Pcg64 {
    // Distinct, well-mixed streams per (seed, epoch, index): SplitMix-style mixing into a u64 seed.
    let mut z = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    rand_pcg::Pcg64::seed_from_u64(z ^ (z >> 31))
}
