//! Batches for training and evaluation: samples (shuffled per epoch when training) → worker pool
//! (decode, transforms, Normalize/FormatShape) → batches in a deterministic order.
//!
//! Every random draw of sample i in epoch e comes from the stream (seed, e, i) and the epoch's order
//! from the stream (seed, e, u64::MAX), so a batch's bytes depend on neither the worker count nor
//! scheduling, and differ between epochs.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use rand::seq::SliceRandom;

use super::engine::{Graph, Settings, Stream};
use super::pipeline::{DataPipeline, Prepared};
use super::{sample_rng, PoolConfig, StageMetrics};
use crate::source::Sample;
use crate::transform::{LabelMix, Tensor};

/// One batch: its samples and their tensors concatenated along the first dimension (NCHW
/// (B·M, C, H, W), NCTHW (B·V, C, L, H, W), NCHW_Flow (B·V, 2L, H, W)).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The samples, in batch order.
    pub samples: Vec<Sample>,
    /// The collated model input; its buffer goes back to the loader's pool when the batch is
    /// dropped.
    pub tensor: BatchTensor,
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
pub fn batches(
    job: &'static str,
    samples: Vec<Sample>,
    pipeline: DataPipeline,
    batch_size: usize,
    pool: PoolConfig,
    settings: Settings,
) -> Stream<Batch> {
    let mut pipeline = pipeline.for_workers(pool.workers);
    pipeline.frames = Default::default(); // this graph's own count
    let settings = Settings { capacity: settings.capacity.max(pool.capacity), ..settings };
    // Batches alive at once: those in the channels the window allows, plus one in each stage.
    let buffers = BufferPool::new(settings.capacity.div_ceil(batch_size.max(1)) + 2);
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
        .map("collate", 1, move |items: Vec<(Sample, Prepared)>| {
            let tensors: Vec<&Tensor> = items.iter().map(|(_, p)| &p.tensor).collect();
            let tensor = BatchTensor { tensor: collate_into(&tensors, buffers.take())?, pool: Some(buffers.clone()) };
            let images = tensors.iter().map(|t| t.shape[0]).collect();
            let (samples, label_mix) = items.into_iter().map(|(s, p)| (s, p.label_mix)).unzip();
            Ok(Batch { samples, tensor, images, label_mix })
        })
}

/// Recycled float buffers for collated batches: in steady state a loader allocates none per
/// batch. A fresh 38 MB batch (8 × 8 × 3 × 224²) costs its page faults on every fill, which
/// made collation 17 ms of a batch; a recycled one is written in place. Holds at most `max`
/// idle buffers (the batches the engine's window lets live at once).
#[derive(Clone, Debug)]
pub struct BufferPool {
    idle: Arc<Mutex<Vec<Vec<f32>>>>,
    max: usize,
}

impl BufferPool {
    /// A pool keeping at most `max` idle buffers.
    pub fn new(max: usize) -> Self {
        BufferPool { idle: Arc::default(), max }
    }

    /// An empty buffer, recycled when one is idle.
    pub fn take(&self) -> Vec<f32> {
        self.idle.lock().map(|mut v| v.pop()).ok().flatten().unwrap_or_default()
    }

    /// Returns `buf` for reuse (dropped when the pool is full).
    pub fn give(&self, mut buf: Vec<f32>) {
        buf.clear();
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max {
                idle.push(buf);
            }
        }
    }
}

/// A collated batch tensor whose buffer returns to its [`BufferPool`] when dropped; reads as
/// a [`Tensor`].
#[derive(Debug)]
pub struct BatchTensor {
    /// The values and shape.
    pub tensor: Tensor,
    /// Where the buffer goes back to (`None`: freed).
    pub pool: Option<BufferPool>,
}

impl std::ops::Deref for BatchTensor {
    type Target = Tensor;

    fn deref(&self) -> &Tensor {
        &self.tensor
    }
}

impl Drop for BatchTensor {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.give(std::mem::take(&mut self.tensor.data));
        }
    }
}

impl Clone for BatchTensor {
    /// A copy with a buffer of its own (not pooled).
    fn clone(&self) -> Self {
        BatchTensor { tensor: self.tensor.clone(), pool: None }
    }
}

impl PartialEq for BatchTensor {
    fn eq(&self, other: &Self) -> bool {
        self.tensor == other.tensor
    }
}

/// Concatenates per-sample tensors along dimension 0 into a new buffer.
///
/// # Errors
/// Tensors whose trailing dimensions differ.
pub fn collate(tensors: &[&Tensor]) -> Result<Tensor> {
    collate_into(tensors, Vec::new())
}

/// [`collate`] into `data` (emptied first; a recycled buffer keeps its allocation).
///
/// # Errors
/// As [`collate`].
pub fn collate_into(tensors: &[&Tensor], mut data: Vec<f32>) -> Result<Tensor> {
    data.clear();
    let Some(first) = tensors.first() else { return Ok(Tensor { shape: vec![0], data }) };
    let tail = &first.shape[1..];
    let mut shape = first.shape.clone();
    shape[0] = 0;
    data.reserve(tensors.iter().map(|t| t.data.len()).sum());
    for t in tensors {
        anyhow::ensure!(&t.shape[1..] == tail, "cannot batch shapes {:?} and {:?}", first.shape, t.shape);
        shape[0] += t.shape[0];
        data.extend_from_slice(&t.data);
    }
    Ok(Tensor { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: usize, v: f32) -> Tensor {
        Tensor { shape: vec![rows, 2], data: vec![v; rows * 2] }
    }

    #[test]
    fn a_dropped_batch_hands_its_buffer_to_the_next_one() {
        let pool = BufferPool::new(1);
        let (a, b) = (t(1, 1.0), t(2, 2.0));
        let first = BatchTensor { tensor: collate_into(&[&a, &b], pool.take()).unwrap(), pool: Some(pool.clone()) };
        assert_eq!((first.shape.clone(), first.data.clone()), (vec![3, 2], vec![1.0, 1.0, 2.0, 2.0, 2.0, 2.0]));
        let ptr = first.data.as_ptr();
        drop(first);
        let second = collate_into(&[&b, &a], pool.take()).unwrap();
        assert_eq!(second.data.as_ptr(), ptr, "the same allocation, refilled");
        assert_eq!(second.data, vec![2.0, 2.0, 2.0, 2.0, 1.0, 1.0]);
        assert!(collate(&[&a, &Tensor { shape: vec![1, 3], data: vec![0.0; 3] }]).is_err(), "trailing dimensions differ");
    }
}
