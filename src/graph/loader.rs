//! Batches for training and evaluation: samples (shuffled per epoch when training) → worker pool
//! (decode, transforms, Normalize/FormatShape) → batches in a deterministic order.
//!
//! Every random draw of sample i in epoch e comes from the stream (seed, e, i) and the epoch's order
//! from the stream (seed, e, u64::MAX), so a batch's bytes depend on neither the worker count nor
//! scheduling, and differ between epochs.

use anyhow::Result;
use rand::seq::SliceRandom;

use super::engine::{Graph, Settings, Stream};
use super::featurize::{DataPipeline, Prepared};
use super::{sample_rng, PoolConfig, StageMetrics};
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
    /// Per sample, its images in [`Self::tensor`] (its tensor's first dimension), from which
    /// [`crate::model::views_per_sample`] tells its output rows.
    pub images: Vec<usize>,
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

/// The loader graph of job `job` (every job that feeds a model: train, val and test loaders,
/// featurize, bench): `pipeline` (whose `epoch` field selects the random streams) over
/// `samples` on `pool.workers` threads (stage `prepare`, with its `decode` and `transform`
/// parts), then batches of `batch_size` (the last may be smaller) collated in order (stage
/// `collate`). A failing sample is a [`super::Failure`] naming the file, outside any batch;
/// `settings` says what failures stop the job (its capacity is the window, at least the pool's).
pub fn batches(job: &'static str, samples: Vec<Sample>, pipeline: DataPipeline, batch_size: usize, pool: PoolConfig, settings: Settings) -> Stream<Batch> {
    let mut pipeline = pipeline.for_workers(pool.workers);
    pipeline.frames = Default::default(); // this graph's own count
    let settings = Settings { capacity: settings.capacity.max(pool.capacity), ..settings };
    let mut stream = Graph::source(job, samples, |s| s.path.display().to_string(), settings).count_frames(pipeline.frames.clone());
    let prepare = stream.metrics(StageMetrics::stage("prepare", pool.workers));
    let (d, t) =
        (stream.metrics(StageMetrics::part("decode", pool.workers)), stream.metrics(StageMetrics::part("transform", pool.workers)));
    stream
        .map_with(prepare, move |s: Sample| {
            let p = pipeline.prepare(&s, &d, &t)?;
            Ok((p.relabel(s), p))
        })
        .batch(batch_size)
        .map("collate", 1, |items: Vec<(Sample, Prepared)>| {
            let tensors: Vec<&Tensor> = items.iter().map(|(_, p)| &p.tensor).collect();
            let tensor = collate(&tensors)?;
            let images = tensors.iter().map(|t| t.shape[0]).collect();
            let (samples, label_mix) = items.into_iter().map(|(s, p)| (s, p.label_mix)).unzip();
            Ok(Batch { samples, tensor, images, label_mix })
        })
}

/// Concatenates per-sample tensors along dimension 0.
///
/// # Errors
/// Tensors whose trailing dimensions differ.
pub fn collate(tensors: &[&Tensor]) -> Result<Tensor> {
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
