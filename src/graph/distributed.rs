//! One rank's share of an epoch in a distributed (DDP) job: PyTorch's
//! `torch.utils.data.DistributedSampler` rules (torch/utils/data/distributed.py, `__iter__`)
//! applied to vpipe's epoch order ([`super::loader::epoch_order`]).
//!
//! Every rank computes the same (seed, epoch) order with no communication. The order is padded
//! by wrapping round to a multiple of `world_size` (or, with `drop_last`, trimmed to one), and
//! rank r takes positions r, r + W, r + 2W, … So every rank loads the same number of samples and
//! yields the same number of batches. A sample's random draws stay keyed by its list index
//! ([`super::sample_rng`]), so the ranks' samples together are the single-process epoch's.

use anyhow::{ensure, Result};

use super::loader::{batches_with, epoch_order, Batch, FailureLog, OnFailure};
use super::train::SplitData;
use super::{Settings, Stream};
use crate::source::Sample;

/// Which rank of how many, and whether the tail that does not divide among them is dropped
/// (`DistributedSampler(num_replicas=world_size, rank=rank, drop_last=drop_last)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This process's rank, 0 ≤ rank < world_size.
    pub rank: usize,
    /// Processes sharing the epoch (≥ 1).
    pub world_size: usize,
    /// Trim the order to a multiple of `world_size` instead of padding it.
    pub drop_last: bool,
}

impl Shard {
    /// The whole epoch in one process.
    pub const SINGLE: Shard = Shard { rank: 0, world_size: 1, drop_last: false };

    /// Rank `rank` of `world_size`.
    ///
    /// # Errors
    /// `world_size` is 0 or `rank` is not below it (the message gives both).
    pub fn new(rank: usize, world_size: usize, drop_last: bool) -> Result<Self> {
        ensure!(world_size >= 1, "world_size must be at least 1, not {world_size}");
        ensure!(rank < world_size, "rank {rank} is not below world_size {world_size} (ranks are 0 … world_size-1)");
        Ok(Shard { rank, world_size, drop_last })
    }

    /// Samples each rank loads from an epoch of `n` (`DistributedSampler.num_samples`):
    /// ⌈n / W⌉, or ⌊n / W⌋ with `drop_last`.
    pub fn num_samples(&self, n: usize) -> usize {
        if self.drop_last {
            n / self.world_size
        } else {
            n.div_ceil(self.world_size)
        }
    }

    /// This rank's positions in an epoch order of `n` samples, in the order it loads them; a
    /// position ≥ `n` is not possible: padding wraps round (position p of the padded order is
    /// sample p mod n).
    pub fn positions(&self, n: usize) -> Vec<usize> {
        if n == 0 {
            return Vec::new();
        }
        (0..self.num_samples(n)).map(|k| (self.rank + k * self.world_size) % n).collect()
    }

    /// This rank's samples of `order` and, for each, whether it is the sample's own place
    /// (`false` for the padding that repeats samples from the start of the order, which an
    /// evaluation must not count twice).
    pub fn take(&self, order: &[Sample]) -> (Vec<Sample>, Vec<bool>) {
        let n = order.len();
        (0..self.num_samples(n)).map(|k| self.rank + k * self.world_size).map(|p| (order[p % n].clone(), p < n)).unzip()
    }
}

/// One rank's epoch, ready to iterate.
pub struct RankEpoch {
    /// The batches, in order; each full but the last (of [`Self::samples`]' length mod the
    /// batch size). A sample that fails is replaced ([`OnFailure::Replace`]).
    pub stream: Stream<Batch>,
    /// The rank's samples in load order (padding included).
    pub samples: Vec<Sample>,
    /// Per sample, whether it holds its own place (see [`Shard::take`]).
    pub valid: Vec<bool>,
}

/// Epoch `epoch` of `split` for `shard`: the (seed, epoch) order (shuffled when `shuffle`),
/// this rank's share of it, and its loader with failing samples replaced and logged in `log`.
pub fn rank_epoch(split: &SplitData, seed: u64, epoch: u64, shuffle: bool, shard: Shard, log: FailureLog) -> RankEpoch {
    let order = epoch_order(&split.samples, seed, epoch, shuffle);
    let (samples, valid) = shard.take(&order);
    let mut pipeline = split.pipeline.clone();
    pipeline.epoch = epoch;
    let stream = batches_with(
        "loader",
        samples.clone(),
        pipeline,
        split.batch_size,
        split.pool.clone(),
        Settings::default(),
        OnFailure::Replace(log),
    );
    RankEpoch { stream, samples, valid }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torch/utils/data/distributed.py `__iter__` with shuffle=False, transcribed: the positions
    /// rank r loads from a dataset of n.
    fn torch_rule(n: usize, w: usize, r: usize, drop_last: bool) -> Vec<usize> {
        let num_samples = if drop_last && n % w != 0 { ((n as f64 - w as f64) / w as f64).ceil().max(0.0) as usize } else { n.div_ceil(w) };
        let total = num_samples * w;
        let mut idx: Vec<usize> = (0..n).collect();
        if !drop_last {
            let pad = total - idx.len();
            let base = idx.clone();
            idx.extend(base.iter().cycle().take(pad));
        } else {
            idx.truncate(total);
        }
        idx.into_iter().skip(r).step_by(w).take(num_samples).collect()
    }

    #[test]
    fn positions_follow_distributed_samplers_padding_trimming_and_striding() {
        for n in 1..30 {
            for w in 1..9 {
                for drop_last in [false, true] {
                    let mut seen = vec![0usize; n];
                    for r in 0..w {
                        let s = Shard::new(r, w, drop_last).unwrap();
                        assert_eq!(s.positions(n), torch_rule(n, w, r, drop_last), "n {n} w {w} r {r} drop_last {drop_last}");
                        s.positions(n).iter().for_each(|&p| seen[p] += 1);
                    }
                    if !drop_last {
                        assert!(seen.iter().all(|&c| c >= 1), "every sample loaded at least once: n {n} w {w}");
                    }
                }
            }
        }
        assert!(Shard::new(2, 2, false).is_err() && Shard::new(0, 0, false).is_err());
    }
}
