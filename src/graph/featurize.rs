//! The featurize job: every clip of every video → model logits and pooled features → Parquet.
//!
//! ```text
//! source ─▶ prepare × workers (SampleFrames, decode, transforms, Normalize/FormatShape)
//!        ─▶ batch ─▶ collate ─▶ model (forward on CPU/CUDA) ─▶ sink (Parquet)
//! ```
//! The loader graph of [`super::loader::batches`] with the model and the sink after it, on the
//! engine ([`super::engine`]); a failing sample becomes a
//! [`super::metrics::Failure`] and the job goes on unless `fail_fast`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::engine::Settings;
use super::loader::{batches, Batch};
use super::pipeline::DataPipeline;
use super::{PoolConfig, Summary};
use crate::model::{views_per_sample, ModelSpec, Recognizer};
use crate::sink::{ClipRow, ParquetSink};
use crate::source::Sample;

/// Everything a featurize run needs.
#[derive(Clone, Debug)]
pub struct FeaturizeJob {
    /// Videos, in output order.
    pub samples: Vec<Sample>,
    /// Per-sample data pipeline.
    pub pipeline: DataPipeline,
    /// Model to run.
    pub model: ModelSpec,
    /// Samples per forward pass.
    pub batch_size: usize,
    /// Decode/transform worker threads.
    pub workers: usize,
    /// In-flight window and channel capacities, in samples.
    pub capacity: usize,
    /// Stop at the first failure, exit non-zero, write nothing.
    pub fail_fast: bool,
    /// Stop once more than this many samples failed, exit non-zero, write nothing.
    pub max_failures: Option<usize>,
    /// Parquet file to write (atomically).
    pub out: PathBuf,
    /// `auto`, `cpu` or `cuda`.
    pub device: String,
    /// Key-value metadata for the Parquet file.
    pub metadata: Vec<(String, String)>,
    /// Show a progress bar (it hides itself when stderr is not a terminal).
    pub progress: bool,
}

/// Runs the job on the engine: `prepare` (decode, transform) on `workers` threads → batches of
/// `batch_size` → `model` → the Parquet `sink` on the calling thread. Failed samples are
/// collected in the summary (and in the file's `vpipe.failures` metadata, JSON); the file holds
/// the rows of every good sample, in list order.
///
/// # Errors
/// The model cannot be built, the output cannot be written, a model forward fails, or — with
/// `fail_fast` — the first failed sample, or more than `max_failures` failures (no file is
/// written then).
pub fn run(job: FeaturizeJob) -> Result<Summary> {
    let device = crate::model::pick_device(&job.device)?;
    let model = Recognizer::new(&job.model, device)?;
    let settings = Settings {
        capacity: job.capacity,
        fail_fast: job.fail_fast,
        max_failures: job.max_failures,
        progress: job.progress.then_some("videos"),
    };
    let pool = PoolConfig { workers: job.workers, capacity: job.capacity };
    let mut sink = ParquetSink::new(&job.out, job.metadata.clone());
    let summary = batches("featurize", job.samples.clone(), job.pipeline.clone(), job.batch_size, pool, settings)
        .then("model", move |batch: Batch| forward_batch(&model, batch))
        .run("sink", |rows| rows.into_iter().try_for_each(|r| sink.push(r)));
    // On failure the sink is dropped unfinished: its temporary file is removed.
    let mut summary = summary?;
    summary.outputs = sink.rows_written();
    let failures_json = serde_json::to_string(&summary.failures)?;
    sink.finish(vec![("vpipe.failures".into(), failures_json)])?;
    Ok(summary)
}

/// Runs the model on a collated batch and splits its per-view outputs into rows, each sample's
/// in proportion to its images ([`views_per_sample`]).
fn forward_batch(model: &Recognizer, batch: Batch) -> Result<Vec<ClipRow>> {
    let out = model.forward(&model.input(&batch.tensor))?;
    let total_views = out.logits.size().first().copied().unwrap_or(0) as usize;
    let views = views_per_sample(total_views, &batch.images)?;
    let logits = to_rows(&out.logits, total_views).context("model logits")?;
    let features = out.features.as_ref().map(|f| to_rows(f, total_views)).transpose().context("model features")?;
    let mut rows = Vec::with_capacity(total_views);
    let mut v = 0;
    for (s, n) in batch.samples.into_iter().zip(views) {
        for clip in 0..n {
            rows.push(ClipRow {
                video: s.name.clone(),
                labels: s.labels.clone(),
                clip: clip as i32,
                logits: logits[v].clone(),
                feature: features.as_ref().map(|f| f[v].clone()),
            });
            v += 1;
        }
    }
    Ok(rows)
}

/// A (V, D) tensor as V rows of f32.
fn to_rows(t: &tch::Tensor, views: usize) -> Result<Vec<Vec<f32>>> {
    let t = t.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).contiguous();
    let size = t.size();
    if size.len() != 2 || size[0] as usize != views {
        bail!("expected ({views}, D) output, got {size:?}");
    }
    let flat = Vec::<f32>::try_from(t.flatten(0, -1))?;
    Ok(flat.chunks(size[1] as usize).map(|c| c.to_vec()).collect())
}
