//! The featurize job: every clip of every video → model logits and pooled features → Parquet.
//!
//! ```text
//! source ─▶ prepare × workers (SampleFrames, decode, transforms, Normalize/FormatShape)
//!        ─▶ batch ─▶ collate ─▶ model (forward on CPU/CUDA) ─▶ sink (Parquet)
//! ```
//! The loader graph of [`super::loader::batches`] with the model and the sink after it, on the
//! engine ([`super::engine`]); a failing sample becomes a
//! [`super::metrics::Failure`] and the job goes on unless `fail_fast`.

use anyhow::{bail, Context, Result};

use super::engine::Settings;
use super::interrupt::{self, Interrupted};
use super::loader::{batches, Batch};
use super::metrics::Failure;
use super::pipeline::DataPipeline;
use super::{PoolConfig, Summary};
use crate::model::{ModelSpec, Recognizer};
use crate::sink::{explain_disk_full, ClipRow, ErrorRecord, JobKey, Manifest, Opened, ShardPaths, ShardWriter};
use crate::source::Sample;

/// Everything a featurize run needs.
#[derive(Clone, Debug)]
pub struct FeaturizeJob {
    /// The shard's videos, in output order.
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
    /// Stop at the first failure, exit non-zero, write nothing more.
    pub fail_fast: bool,
    /// Stop once more than this many samples of the shard failed (earlier runs' committed
    /// failures included), exit non-zero.
    pub max_failures: Option<usize>,
    /// Batches handed to the model as uint8 (normalised on its device) or normalised on the CPU;
    /// `None`: uint8 when the model is on a GPU.
    pub upload_u8: Option<bool>,
    /// Where the shard's part file, errors file, manifest and work folder go.
    pub paths: ShardPaths,
    /// The shard and digests of its inputs and configuration (resume and skip decisions).
    pub key: JobKey,
    /// Commit a chunk of rows every this many settled samples (and at least every 30 s).
    pub commit_every: usize,
    /// Delete any previous output of the shard and start over.
    pub force: bool,
    /// `auto`, `cpu` or `cuda`.
    pub device: String,
    /// Key-value metadata for the Parquet file.
    pub metadata: Vec<(String, String)>,
    /// Show progress: a bar on a terminal, else a line every `VPIPE_PROGRESS_SECS` (30 s).
    pub progress: bool,
    /// Images per row for 2D models (`--clips`, and the default pipeline's `clips ×
    /// num_segments` frames: each run of `num_segments` images is one view and one row); `None`:
    /// the views mmaction2's recogniser makes in test mode ([`Recognizer::forward`]: TSN one per
    /// video).
    pub view_images: Option<usize>,
}

/// How a featurize run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The shard was already complete for the same inputs and configuration.
    Complete(Manifest),
    /// This run finished the shard (`summary.skipped`: samples committed by earlier runs).
    Finished(Summary, Manifest),
}

/// Runs the job on the engine: `prepare` (decode, transform) on `workers` threads → batches of
/// `batch_size` → `model` → the `sink` on the calling thread, which commits rows and failures in
/// chunks ([`ShardWriter`]): a killed run resumes after its last chunk and ends with the rows of
/// an uninterrupted run. The part file holds the rows of every good sample, in list order;
/// failed samples go to the errors file (the part's `vpipe.failures_count` metadata counts them).
///
/// # Errors
/// Previous output from other inputs or configuration (without `force`); the model cannot be
/// built; a file cannot be written (committed chunks stay); a model forward fails; with
/// `fail_fast` the first failed sample, or more than `max_failures` failures (no part file is
/// written then); every sample of the shard failed (its first failure named; the work folder is
/// removed and nothing is marked complete); SIGINT/SIGTERM ([`Interrupted`], after committing
/// what settled).
pub fn run(job: FeaturizeJob) -> Result<Outcome> {
    let mut writer = match ShardWriter::open(job.paths.clone(), job.key.clone(), job.metadata.clone(), job.commit_every, job.force)? {
        Opened::Complete(m) => return Ok(Outcome::Complete(m)),
        Opened::Writer(w) => w,
    };
    interrupt::watch()?;
    let (start, total) = (writer.resume_at(), job.samples.len());
    // --max-failures counts the shard's failures, including those earlier runs committed.
    let earlier = writer.earlier_failures();
    if let Some(m) = job.max_failures.filter(|&m| earlier > m) {
        bail!("earlier runs of this shard already recorded {earlier} failed videos, more than --max-failures {m}");
    }
    let device = crate::model::pick_device(&job.device)?;
    let model = Recognizer::new(&job.model, device)?;
    let settings = Settings {
        capacity: job.capacity,
        fail_fast: job.fail_fast,
        max_failures: job.max_failures.map(|m| m - earlier),
        progress: job.progress.then_some("videos"),
    };
    let pool = PoolConfig { workers: job.workers, capacity: job.capacity };
    let todo = job.samples.get(start..).unwrap_or_default().to_vec();
    let pipeline = job.pipeline.clone().for_device(device, job.upload_u8);
    let view_images = job.view_images;
    let mut out = batches("featurize", todo, pipeline, job.batch_size, pool, settings)
        .then("model", move |batch: Batch| forward_batch(&model, batch, view_images))
        .into_iter("sink");
    let (mut rows, mut result) = (0, Ok(()));
    while let Some(item) = out.next() {
        let step = match item {
            Ok(batch_rows) => {
                rows += batch_rows.len();
                batch_rows.into_iter().for_each(|r| writer.push(r));
                Ok(())
            }
            Err(f) => {
                // A batch-level failure (collate, model) loses every sample of the batch: one
                // record each, so that rows plus records still account for the whole list, and
                // the summary counts samples, not batches.
                let items = out.last_items().to_vec();
                let mut step = Ok(());
                for i in items {
                    let video = job.samples.get(start + i).map_or_else(|| f.path.clone(), |s| s.path.display().to_string());
                    writer.fail(start + i, ErrorRecord { video: video.clone(), stage: f.stage.clone(), message: f.message.clone() });
                    if step.is_ok() {
                        step = out.record(Failure { path: video, ..f.clone() });
                    }
                }
                step.map_err(|e| match job.max_failures {
                    Some(m) if earlier > 0 => {
                        e.context(format!("--max-failures {m} counts the {earlier} failed videos earlier runs of this shard committed"))
                    }
                    _ => e,
                })
            }
        };
        result = step.and_then(|()| writer.settled(start + out.settled()));
        if result.is_err() {
            break;
        }
    }
    // The iteration stops on SIGINT/SIGTERM, even with every worker blocked (engine.rs).
    if result.is_ok() && out.interrupted() {
        result = writer.commit().and_then(|()| Err(Interrupted::samples(start + out.settled(), total).into()));
    }
    let mut summary = out.finish();
    (summary.skipped, summary.outputs) = (start, rows);
    // Every sample of the shard failed (this run's, and every one earlier runs committed): a
    // configuration error far more often than a shard of corrupt videos. Marking it complete
    // would make the corrected re-run need --force.
    if result.is_ok() && total > 0 && rows == 0 && start == earlier && summary.failures.len() == total - start {
        writer.abandon()?;
        let first = &summary.failures[0];
        bail!(
            "every one of the shard's {total} samples failed, so nothing was written and the shard is not marked complete; \
             the first: {} [{}]: {}",
            first.path,
            first.stage,
            first.message
        );
    }
    let mut committed = writer.committed();
    let manifest = result
        .and_then(|()| {
            writer.commit()?;
            committed = writer.committed();
            writer.finish(total, summary.to_json())
        })
        .map_err(|e| explain_disk_full(e, committed, total))?;
    Ok(Outcome::Finished(summary, manifest))
}

/// Runs the model on a collated batch and splits its per-view outputs into rows, each sample's
/// views ([`Recognizer::forward`]); with `view_images`, each run of that many of a sample's
/// images is given to the model as a sample of its own (one row each), where they divide it.
fn forward_batch(model: &Recognizer, batch: Batch, view_images: Option<usize>) -> Result<Vec<ClipRow>> {
    let groups: Vec<Vec<usize>> = batch
        .images
        .iter()
        .map(|&m| match view_images {
            Some(n) if n > 0 && m % n == 0 => vec![n; m / n],
            _ => vec![m],
        })
        .collect();
    let out = model.forward(&batch.tensor.model_input(model.device()), &groups.concat())?;
    let total_views = out.logits.size().first().copied().unwrap_or(0) as usize;
    let mut group_views = out.views.into_iter();
    let views: Vec<usize> = groups.iter().map(|g| group_views.by_ref().take(g.len()).sum()).collect();
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

/// A (V, D) tensor (any device, any float kind) as V rows of f32.
///
/// # Errors
/// The tensor is not (`views`, D).
pub fn to_rows(t: &tch::Tensor, views: usize) -> Result<Vec<Vec<f32>>> {
    let t = t.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).contiguous();
    let size = t.size();
    if size.len() != 2 || size[0] as usize != views {
        bail!("expected ({views}, D) output, got {size:?}");
    }
    let flat = Vec::<f32>::try_from(t.flatten(0, -1))?;
    Ok(flat.chunks(size[1] as usize).map(|c| c.to_vec()).collect())
}
