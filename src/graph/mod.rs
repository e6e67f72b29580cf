//! The streaming runtime: stages on threads joined by bounded crossbeam channels.
//!
//! [`pool::run_pool`] runs the source and a worker pool and yields results **in source order**; a
//! token window bounds the number of samples between the source and the consumer (being decoded,
//! queued, or waiting to be reordered), so memory is bounded by configuration, not dataset size.
//! [`featurize`] wires the featurize job: sample → decode → transform (pool) → model → Parquet;
//! [`extract`] the extract-frames job: video → JPEG folder (pool) → report.
//! This module is the only one that knows about threads and channels.

pub mod extract;
pub mod featurize;
pub mod loader;
pub mod median;
pub mod metrics;
pub mod pool;
pub mod train;

pub use metrics::{StageMetrics, Summary, VideoJobSummary};
pub use pool::{run_pool, Done, PoolConfig};

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
