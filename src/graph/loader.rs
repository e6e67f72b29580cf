//! Batches for training and evaluation: samples (shuffled per epoch when training) → worker pool
//! (decode, transforms, Normalize/FormatShape) → batches in a deterministic order.
//!
//! Every random draw of sample i in epoch e comes from the stream (seed, e, i) and the epoch's order
//! from the stream (seed, e, u64::MAX), so a batch's bytes depend on neither the worker count nor
//! scheduling, and differ between epochs.

use anyhow::{Context, Result};
use rand::seq::SliceRandom;

use super::featurize::DataPipeline;
use super::{run_pool, sample_rng, PoolConfig, StageMetrics};
use crate::source::Sample;
use crate::transform::{LabelMix, Tensor};

/// One batch: its samples and their tensors concatenated along the first dimension (NCHW
/// (B·M, C, H, W), NCTHW (B·V, C, L, H, W), NCHW_Flow (B·V, 2L, H, W)).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The samples, in batch order.
    pub samples: Vec<Sample>,
    /// The collated model input.
    pub tensor: Tensor,
    /// Per sample, the soft target its pipeline decided (`BackgroundBlend` with `blend_label`).
    pub label_mix: Vec<Option<LabelMix>>,
}

/// The order of `samples` for `epoch`: a seeded shuffle when `shuffle` (training), else list order.
pub fn epoch_order(samples: &[Sample], seed: u64, epoch: u64, shuffle: bool) -> Vec<Sample> {
    let mut order = samples.to_vec();
    if shuffle {
        order.shuffle(&mut sample_rng(seed, epoch, u64::MAX));
    }
    order
}

/// Runs `pipeline` (whose `epoch` field selects the random streams) over `samples` and yields
/// batches of `batch_size` (the last may be smaller) in order. A failing sample ends its batch with
/// an error naming the file; later batches still come.
pub fn batches(samples: Vec<Sample>, pipeline: DataPipeline, batch_size: usize, pool: PoolConfig) -> impl Iterator<Item = Result<Batch>> {
    let (d, t) = (StageMetrics::new("decode"), StageMetrics::new("transform"));
    let pipeline = pipeline.for_workers(pool.workers);
    let ordered = run_pool(samples, &pool, StageMetrics::new("source"), StageMetrics::new("workers"), move |s: &Sample| {
        pipeline.prepare(s, &d, &t).with_context(|| format!("sample {}", s.path.display()))
    });
    let mut ordered = ordered.peekable();
    std::iter::from_fn(move || {
        ordered.peek()?;
        let mut samples = Vec::with_capacity(batch_size);
        let mut tensors = Vec::with_capacity(batch_size);
        let mut label_mix = Vec::with_capacity(batch_size);
        for done in ordered.by_ref().take(batch_size.max(1)) {
            match done.result {
                Ok(p) => {
                    samples.push(p.relabel(done.item));
                    label_mix.push(p.label_mix);
                    tensors.push(p.tensor);
                }
                Err(e) => return Some(Err(e)),
            }
        }
        Some(collate(&tensors).map(|tensor| Batch { samples, tensor, label_mix }))
    })
}

/// Concatenates per-sample tensors along dimension 0.
///
/// # Errors
/// Tensors whose trailing dimensions differ.
pub fn collate(tensors: &[Tensor]) -> Result<Tensor> {
    let Some(first) = tensors.first() else { return Ok(Tensor { shape: vec![0], data: vec![] }) };
    let tail = &first.shape[1..];
    let mut shape = first.shape.clone();
    shape[0] = 0;
    let mut data = Vec::with_capacity(tensors.iter().map(|t| t.data.len()).sum());
    for t in tensors {
        anyhow::ensure!(&t.shape[1..] == tail, "cannot batch shapes {:?} and {:?}", first.shape, t.shape);
        shape[0] += t.shape[0];
        data.extend_from_slice(&t.data);
    }
    Ok(Tensor { shape, data })
}
