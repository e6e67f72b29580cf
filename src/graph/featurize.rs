//! The featurize job: every clip of every video → model logits and pooled features → Parquet.
//!
//! ```text
//! source ─▶ prepare × workers (probe, SampleFrames, decode, transforms, Normalize/FormatShape)
//!        ─▶ batch ─▶ model (collate B samples, forward on CPU/CUDA) ─▶ sink (Parquet)
//! ```
//! One graph on the engine ([`super::engine`]); a failing sample becomes a
//! [`super::metrics::Failure`] and the job goes on unless `fail_fast`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::engine::Settings;
use super::loader::{batches, Batch};
use super::metrics::FrameTally;
use super::{sample_rng, PoolConfig, StageMetrics, Summary};
use crate::config::PipelineParts;
use crate::decode::{read_rawframes, DecodeOptions, RawframeSpec, VideoReader};
use crate::model::{views_per_sample, ModelSpec, Recognizer};
use crate::sample::Sampler;
use crate::sink::{ClipRow, ParquetSink};
use crate::source::Sample;
use crate::transform::{format, Clip, FrameOp, InputFormat, Normalize, Tensor};

/// The data pipeline of one sample, mmaction2 order: SampleFrames → decode → spatial transforms →
/// Normalize → FormatShape.
#[derive(Clone, Debug)]
pub struct DataPipeline {
    /// Which frames to decode.
    pub sampler: Sampler,
    /// Spatial steps, built and applied in order (shared by the workers).
    pub transforms: Vec<Arc<dyn FrameOp>>,
    /// Normalisation (RGB, uint8 units).
    pub normalize: Normalize,
    /// Output layout per sample.
    pub format: InputFormat,
    /// RNG seed for train-mode random choices.
    pub seed: u64,
    /// Epoch for the RNG stream (0 for featurize).
    pub epoch: u64,
    /// How rawframe samples name their files (used for samples with [`Sample::rawframes`]).
    pub rawframes: RawframeSpec,
    /// How video samples are decoded (rotation, colour convention, stream, threads).
    pub decode: DecodeOptions,
    /// Frames decoded and kept by this pipeline (shared by its clones, the workers).
    pub frames: Arc<FrameTally>,
}

impl DataPipeline {
    /// The pipeline of a parsed `pipeline:` list, its transforms built with the engine's context
    /// ([`super::backgrounds::build_ctx`]: `BackgroundBlend` backgrounds from disk, computed as
    /// in-stream medians where `median_from` says so), drawing from the (seed, epoch, index)
    /// streams; `rawframes` names the files of rawframe samples.
    ///
    /// # Errors
    /// A transform does not build ([`PipelineParts::build_transforms`]: out-of-range parameter,
    /// missing background list or image), marked with its step.
    pub fn build(parts: PipelineParts, seed: u64, epoch: u64, rawframes: RawframeSpec) -> Result<Self> {
        let transforms = parts.build_transforms(&super::backgrounds::build_ctx())?;
        Ok(DataPipeline {
            sampler: parts.sampler,
            transforms,
            normalize: parts.normalize,
            format: parts.format,
            seed,
            epoch,
            rawframes,
            decode: parts.decode,
            frames: Arc::default(),
        })
    }

    /// This pipeline with its decoder threads chosen for `workers` concurrent videos, where the
    /// pipeline left them to the engine (`threads: 0`): 1 when `workers` ≥ cores, else
    /// cores ÷ `workers`.
    pub fn for_workers(mut self, workers: usize) -> Self {
        if self.decode.threads == 0 {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            self.decode.threads = if workers >= cores { 1 } else { cores / workers.max(1) };
        }
        self
    }

    /// The model input for one video: a tensor in [`Self::format`] layout.
    ///
    /// # Errors
    /// The video cannot be opened or decoded, or a transform does not fit its frames; the message
    /// says which stage.
    pub fn prepare(&self, sample: &Sample, decode: &StageMetrics, transform: &StageMetrics) -> Result<Prepared> {
        self.run(sample, decode, transform, |clip| {
            Ok(Prepared {
                tensor: format::to_tensor(&clip, &self.normalize, self.format).context("transform")?,
                label_map: clip.label_map,
                label_mix: clip.label_mix,
            })
        })
    }

    /// The uint8 frames after sampling, decoding and every frame transform, before Normalize and
    /// FormatShape, with each step's decisions in [`Clip::trace`] (what `vpipe inspect` shows).
    ///
    /// # Errors
    /// As [`Self::prepare`].
    pub fn transformed(&self, sample: &Sample, decode: &StageMetrics, transform: &StageMetrics) -> Result<Clip> {
        self.run(sample, decode, transform, Ok)
    }

    /// Decode and transform `sample`, then `finish` the clip, timing decode and the rest.
    fn run<T>(
        &self,
        sample: &Sample,
        decode: &StageMetrics,
        transform: &StageMetrics,
        finish: impl FnOnce(Clip) -> Result<T>,
    ) -> Result<T> {
        // One RNG stream per sample: sampling first, then each random transform in order.
        let mut rng = sample_rng(self.seed, self.epoch, sample.index as u64);
        let clip = decode.busy(|| self.decode(sample, &mut rng))?;
        transform.busy(|| {
            let mut clip = clip;
            for t in &self.transforms {
                clip = t.apply(clip, &mut rng).context("transform")?;
            }
            finish(clip)
        })
    }

    /// SampleFrames + decoding: a video (0-based frame indices, start_index 0) or a rawframe folder
    /// (indices from the spec's start_index, files numbered index + offset; mmaction2
    /// `RawFrameDecode`).
    fn decode(&self, sample: &Sample, rng: &mut rand_pcg::Pcg64) -> Result<Clip> {
        let (frames, s) = match sample.rawframes {
            Some(r) => {
                if r.total_frames == 0 {
                    bail!("decode: the list gives 0 frames for {}", sample.path.display());
                }
                let s = self.sampler.sample(r.total_frames, self.rawframes.start_index as i64, None, rng);
                let frames = read_rawframes(&sample.path, r.offset, &self.rawframes, &s.frame_inds).context("decode")?;
                self.frames.add(frames.len() as u64, frames.len() as u64);
                (frames, s)
            }
            None => {
                let mut reader = VideoReader::open_with(&sample.path, &self.decode).context("decode")?;
                let s = self.sampler.sample(reader.info().num_frames, 0, Some(reader.info().fps), rng);
                let idx: Vec<usize> = s.frame_inds.iter().map(|&i| i as usize).collect();
                let frames = reader.frames(&idx).context("decode")?;
                self.frames.add(reader.stats().frames_decoded, reader.stats().frames_kept);
                (frames, s)
            }
        };
        let mut clip = Clip::new(frames, s.clip_len, s.num_clips);
        clip.trace.push(format!("frame_inds: {:?}", s.frame_inds));
        Ok(clip)
    }
}

/// One sample ready for the model.
#[derive(Debug)]
pub struct Prepared {
    /// NCHW (M, 3, H, W) or NCTHW (V, 3, L, H, W).
    pub tensor: Tensor,
    /// Label remapping the pipeline decided (a flip with `flip_label_map`).
    pub label_map: Option<std::collections::BTreeMap<i32, i32>>,
    /// Soft target the pipeline decided (`BackgroundBlend` with `blend_label`); training uses it,
    /// featurize writes the sample's own labels.
    pub label_mix: Option<crate::transform::LabelMix>,
}

impl Prepared {
    /// `sample` with its labels remapped as this sample's pipeline decided.
    pub fn relabel(&self, mut sample: Sample) -> Sample {
        if let Some(map) = &self.label_map {
            sample.labels.iter_mut().for_each(|l| *l = *map.get(l).unwrap_or(l));
        }
        sample
    }
}

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
