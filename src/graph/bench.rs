//! `vpipe bench`: one split's loader, and the model after it, run for real on the engine, so
//! that the summary says where a training or evaluation run's time goes.
//!
//! ```text
//! source ─▶ prepare × workers (decode, transform) ─▶ batch ─▶ collate ─▶ model ─▶ count
//! ```
//! The model stage is a training step (forward, loss, backward, optimizer step) on the train
//! split and an eval forward on the others; `--no-model` leaves it out.

use std::sync::{Arc, Mutex};

use std::path::Path;

use anyhow::{anyhow, Context, Result};

use super::loader::{batches, epoch_order, Batch};
use super::train::{batch_scores, train_step, SplitData, StepConfig};
use super::{Settings, Summary};
use crate::config::TrainSection;
use crate::metrics::AverageClips;
use crate::model::optim::Optim;
use crate::model::{Loss, Recognizer};

/// The model stage of a bench.
pub struct BenchModel {
    /// The model, built trainable for a training bench.
    pub model: Recognizer,
    /// Optimizer and schedule: `Some` runs training steps at the optimizer's base lr, `None`
    /// eval forwards.
    pub train: Option<TrainSection>,
    /// The head's loss for training steps.
    pub loss: Loss,
}

/// Runs `epochs` epochs of `split` (shuffled with `seed` when `shuffle`, as a training epoch is),
/// each through the model when there is one. Failed samples are recorded in the summary and the
/// epoch goes on. With `dump` (and no model), every batch is also written to
/// `DUMP/epoch_E/batch_KKKKK.safetensors` (tensors `inputs`, the host batch as the model would
/// get it, and `indices`, the samples' list positions, int64): the reference the Python
/// loader's tests compare with. Returns one [`Summary`] per epoch (job `bench`, outputs in
/// clips, frames decoded and kept).
///
/// # Errors
/// The model fails (the engine reports it as the `model` stage's failure of the batch), the
/// model lock was poisoned by an earlier panic, or no clip came through an epoch (every sample
/// failed: the first failure is named).
pub fn run(
    split: &SplitData,
    model: Option<BenchModel>,
    epochs: usize,
    seed: u64,
    shuffle: bool,
    dump: Option<&Path>,
) -> Result<Vec<Summary>> {
    // The model moves into each epoch's `model` stage thread; the mutex hands it back between
    // epochs (one thread uses it at a time, so the lock is never contended).
    let device = model.as_ref().map(|m| m.model.device());
    let state = model.map(|m| {
        let optim = m.train.as_ref().map(|t| m.model.parameters().map(|p| Optim::new(&t.optimizer, &p))).transpose();
        optim.map(|o| Arc::new(Mutex::new((m.model, o, m.loss))))
    });
    let state = state.transpose()?;
    let mut out = Vec::new();
    for epoch in 0..epochs.max(1) {
        let mut pipeline = split.pipeline.clone();
        if let Some(device) = device {
            pipeline = pipeline.for_device(device, None);
        }
        pipeline.epoch = epoch as u64;
        let order = epoch_order(&split.samples, seed, epoch as u64, shuffle);
        // Progress in clips: a bar on a terminal, else a line every VPIPE_PROGRESS_SECS (a CPU
        // step of a large model takes minutes).
        let settings = Settings { progress: Some("clips"), ..Settings::default() };
        let stream = batches("loader", order, pipeline, split.batch_size, split.pool.clone(), settings);
        let mut clips = 0usize;
        let mut count = |n: usize| {
            clips += n;
            Ok(())
        };
        let dir = dump.map(|d| d.join(format!("epoch_{epoch}")));
        let mut batch_no = 0usize;
        let mut summary = match &state {
            None => stream.run("count", |b: Batch| {
                if let Some(dir) = &dir {
                    write_batch(&b, &dir.join(format!("batch_{batch_no:05}.safetensors")))?;
                    batch_no += 1;
                }
                count(b.samples.len())
            })?,
            Some(state) => {
                let state = state.clone();
                stream.then("model", move |b: Batch| model_step(&state, b)).run("count", count)?
            }
        };
        summary.job = "bench";
        summary.outputs = clips;
        if clips == 0 {
            // A rate of 0 clips/s measures nothing: say why nothing came through.
            let why = summary.failures.first().map_or_else(
                || "the split lists no samples".to_string(),
                |f| format!("all {} samples failed; the first: {} [{}]: {}", summary.failures.len(), f.path, f.stage, f.message),
            );
            anyhow::bail!("bench: no clip came through in epoch {}: {why}", epoch + 1);
        }
        out.push(summary);
    }
    Ok(out)
}

/// Writes `b`'s host input and sample positions as safetensors at `path` (folder made).
fn write_batch(b: &Batch, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let inputs = b.tensor.model_input(tch::Device::Cpu);
    let indices = tch::Tensor::from_slice(&b.samples.iter().map(|s| s.index as i64).collect::<Vec<_>>());
    tch::Tensor::write_safetensors(&[("inputs", inputs), ("indices", indices)], path)
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))
}

/// One training step at the optimizer's base lr (with an optimizer) or one eval forward;
/// returns the batch's clip count.
fn model_step(state: &Mutex<(Recognizer, Option<Optim>, Loss)>, b: Batch) -> Result<usize> {
    let mut guard = state.lock().map_err(|_| anyhow!("the model panicked in an earlier batch"))?;
    let (model, optim, loss) = &mut *guard;
    let n = b.samples.len();
    match optim {
        Some(o) => {
            let cfg = StepConfig { lr: o.base_lr(), fp16: false, grad_clip: None, loss: *loss };
            train_step(model, o, &b, cfg)?;
        }
        None => {
            batch_scores(model, b, AverageClips::Score)?;
        }
    }
    Ok(n)
}
