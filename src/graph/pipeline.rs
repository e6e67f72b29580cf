//! The data pipeline of one sample, shared by every loader (featurize, `run`, `bench`,
//! `inspect`): SampleFrames → decode → frame transforms → Normalize → FormatShape, drawing every
//! random choice from the sample's (seed, epoch, index) stream.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::metrics::{FrameCounts, FrameTally};
use super::{sample_rng, StageMetrics};
use crate::config::PipelineParts;
use crate::config::Step;
use crate::decode::{read_rawframes, DecodeOptions, RawframeSpec, VideoReader};
use crate::sample::Sampler;
use crate::source::Sample;
use crate::transform::{format, geometry, Clip, FrameOp, InputFormat, Normalize, Resize, Tensor};

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
    /// The first step's `Resize`, done by the video decoder's swscale call
    /// (`resize_in_decoder: true`); the step itself then finds its frames at size.
    pub decoder_resize: Option<Resize>,
    /// Hand the model uint8 batches and leave Normalize to its device (a GPU: a quarter of the
    /// bytes to copy); false normalises on the CPU, in the loader's collate stage.
    pub upload_u8: bool,
    /// Where the loader's `upload` stage puts each batch (the model's device); `None`: no upload
    /// stage, the model converts batches itself.
    pub upload_to: Option<tch::Device>,
    /// Collate uint8 batches ([`Self::upload_u8`]) into page-locked memory pinned by CUDA
    /// device N's context, for a consumer that copies them to that device itself (PyTorch's
    /// `DataLoader(pin_memory=True, pin_memory_device=...)`); where no GPU can be opened, pageable
    /// memory (one line on stderr says why). `None`: pinned only for the `upload` stage.
    pub pin_memory: Option<usize>,
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
        let decoder_resize = match parts.transforms.first() {
            Some((_, Step::Resize(r))) if parts.decode.resize_in_decoder => Some(r.clone()),
            _ => None,
        };
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
            decoder_resize,
            upload_u8: false,
            upload_to: None,
            pin_memory: None,
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

    /// This pipeline feeding a model on `device`: its loader uploads each batch there in an
    /// `upload` stage, as uint8 when `upload_u8` says so or (`None`) when `device` is a GPU.
    pub fn for_device(mut self, device: tch::Device, upload_u8: Option<bool>) -> Self {
        self.upload_u8 = upload_u8.unwrap_or(device.is_cuda());
        self.upload_to = Some(device);
        self
    }

    /// The model input for one video: a uint8 tensor in [`Self::format`] layout, channels in
    /// Normalize's order ([`format::to_u8_tensor`]); the loader normalises it (or the model's
    /// device does, [`Self::upload_u8`]).
    ///
    /// # Errors
    /// The video cannot be opened or decoded, or a transform does not fit its frames; the message
    /// says which stage.
    pub fn prepare(&self, sample: &Sample, decode: &StageMetrics, transform: &StageMetrics) -> Result<Prepared> {
        self.run(sample, decode, transform, |clip| {
            Ok(Prepared {
                tensor: format::to_u8_tensor(&clip, &self.normalize, self.format).context("transform")?,
                label_map: clip.label_map,
                label_mix: clip.label_mix,
                boxes: clip.boxes,
                labels: clip.labels,
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
            let decoded = clip.frames.len();
            let mut clip = clip;
            for t in &self.transforms {
                clip = t.apply(clip, &mut rng).context("transform")?;
            }
            if let Some(f) = clip.frames.first() {
                // PySlowFast clips the boxes to the final frames once more.
                let (w, h) = (f.width, f.height);
                clip.clip_boxes(w, h);
            }
            // A step holds its input and output frames at once; crops only add frames, so no
            // sample ever holds more than its decoded plus its final frames, all on this thread.
            crate::frame::reserve_pool(decoded + clip.frames.len());
            finish(clip)
        })
    }

    /// SampleFrames + decoding: a video (0-based frame indices, start_index 0) or a rawframe folder
    /// (indices from the spec's start_index, files numbered index + offset; mmaction2
    /// `RawFrameDecode`).
    fn decode(&self, sample: &Sample, rng: &mut rand_pcg::Pcg64) -> Result<Clip> {
        let center = sample.keyframe.as_ref().map(|k| k.center);
        let (frames, s) = match sample.rawframes {
            Some(r) => {
                if r.total_frames == 0 {
                    bail!("decode: the list gives 0 frames for {}", sample.path.display());
                }
                let s = self.sampler.sample(r.total_frames, self.rawframes.start_index as i64, None, center, rng).context("sample")?;
                let frames = read_rawframes(&sample.path, r.offset, &self.rawframes, &s.frame_inds).context("decode")?;
                self.frames.add(FrameCounts { decoded: frames.len() as u64, kept: frames.len() as u64, ..FrameCounts::default() });
                (frames, s)
            }
            None => {
                let mut reader = VideoReader::open_with(&sample.path, &self.decode).context("decode")?;
                if let Some(r) = &self.decoder_resize {
                    let (w, h) = geometry::resize_size(reader.info().width, reader.info().height, (r.scale[0], r.scale[1]), r.keep_ratio);
                    reader.scale_output_to(w, h, r.interpolation.swscale_flags());
                }
                let s = self.sampler.sample(reader.info().num_frames, 0, Some(reader.info().fps), center, rng).context("sample")?;
                let idx: Vec<usize> = s.frame_inds.iter().map(|&i| i as usize).collect();
                let frames = reader.frames(&idx).context("decode")?;
                if let Some(note) = &reader.info().count_note {
                    eprintln!("warning: {}: {note} ({} frames)", sample.path.display(), reader.info().num_frames);
                }
                let mut counts = FrameCounts::from(reader.stats());
                counts.recounted = reader.info().count_note.is_some() as u64;
                if counts.index_mismatches > 0 {
                    // Frames stay right (numbered by decoding), but the fetch cost a decode from frame 0.
                    eprintln!(
                        "warning: {}: the decoder's frames disagree with the packet index (or frame map); frames numbered by decoding from frame 0",
                        sample.path.display()
                    );
                }
                self.frames.add(counts);
                (frames, s)
            }
        };
        let mut clip = Clip::new(frames, s.clip_len, s.num_clips);
        clip.trace.push(format!("frame_inds: {:?}", s.frame_inds));
        if let (Some(v), Some(&first), Some(&last)) = (&sample.frame_labels, s.frame_inds.first(), s.frame_inds.last()) {
            // PySlowFast: the labels of frames seq[0]..=seq[-1].
            let base = self.rawframes.start_index as i64;
            clip.labels = Some(v.labels_between((first - base).max(0) as usize, (last - base).max(0) as usize));
        }
        if let (Some(k), Some(f)) = (&sample.keyframe, clip.frames.first()) {
            // PySlowFast: normalised boxes × (W, H) of the decoded frames, clipped to them.
            let (w, h) = (f.width as f64, f.height as f64);
            clip.boxes = Some(k.boxes.iter().map(|b| [b.bbox[0] * w, b.bbox[1] * h, b.bbox[2] * w, b.bbox[3] * h]).collect());
            let (w, h) = (f.width, f.height);
            clip.clip_boxes(w, h);
        }
        if let (Some(r), None, Some(f)) = (&self.decoder_resize, sample.rawframes, clip.frames.first()) {
            let flags = r.interpolation.swscale_flags();
            clip.trace.push(format!("Resize: {}x{} in the decoder's swscale call (flags={flags})", f.width, f.height));
        }
        Ok(clip)
    }
}

/// Runs the first sample of split `name` through its whole pipeline to the model's input, so
/// that what every sample would hit is found before a job starts (`vpipe check`, `vpipe run`):
/// a crop larger than the frames, an empty crop, a shape the model cannot take. Returns a line
/// naming the sample and its tensor shape.
///
/// # Errors
/// The split's pipeline does not build, or its first sample fails (message with the sample and
/// the stage), or the model cannot take its shape ([`crate::model::ModelSpec::check_input_shape`]).
pub fn probe_split(
    cfg: &crate::config::PipelineConfig,
    name: crate::config::SplitName,
    model: Option<&crate::model::ModelSpec>,
) -> Result<String> {
    probe_data(cfg, &format!("{name:?}").to_lowercase(), cfg.split(name)?, cfg.parts(name)?, model)
}

/// As [`probe_split`], for two-domain training's target split (`data.train.target`); `None`
/// without one.
///
/// # Errors
/// As [`probe_split`].
pub fn probe_target(cfg: &crate::config::PipelineConfig, model: Option<&crate::model::ModelSpec>) -> Result<Option<String>> {
    let target = cfg.data.get(&crate::config::SplitName::Train).and_then(|s| s.target.as_deref());
    match (target, cfg.target_parts()?) {
        (Some(t), Some(parts)) => probe_data(cfg, "train.target", t, parts, model).map(Some),
        _ => Ok(None),
    }
}

/// The first sample of `split` (written at `data.<short>`) through `parts` and `model`'s shape
/// check.
fn probe_data(
    cfg: &crate::config::PipelineConfig,
    short: &str,
    split: &crate::config::DataSplit,
    parts: PipelineParts,
    model: Option<&crate::model::ModelSpec>,
) -> Result<String> {
    let key = format!("data.{short}");
    let pipeline = DataPipeline::build(parts, cfg.seed, 0, split.source.rawframe_spec()?).map_err(|e| cfg.locate_key(short, e))?;
    let Some(first) = split.source.samples()?.into_iter().next() else { anyhow::bail!("`{key}` lists no samples") };
    let (d, t) = (StageMetrics::part("decode", 1), StageMetrics::part("transform", 1));
    let prepared = pipeline
        .prepare(&first, &d, &t)
        .with_context(|| format!("probing `{key}` with its first sample {} (skip with --no-probe)", first.path.display()))?;
    let shape = prepared.tensor.shape.clone();
    if let Some(m) = model {
        m.check_input_shape(&shape).with_context(|| format!("`{key}`'s first sample {} gives {shape:?}", first.name))?;
    }
    Ok(format!("{key}: first sample {} → {:?} {shape:?}", first.name, pipeline.format))
}

/// One sample ready for the model.
#[derive(Debug)]
pub struct Prepared {
    /// NCHW (M, 3, H, W), NCTHW (V, 3, L, H, W) or NCHW_Flow (V, 2L, H, W), uint8, not yet
    /// normalised.
    pub tensor: Tensor<u8>,
    /// Label remapping the pipeline decided (a flip with `flip_label_map`).
    pub label_map: Option<std::collections::BTreeMap<i32, i32>>,
    /// Soft target the pipeline decided (`BackgroundBlend` with `blend_label`); training uses it,
    /// featurize writes the sample's own labels.
    pub label_mix: Option<crate::transform::LabelMix>,
    /// An AVA sample's boxes `[x1, y1, x2, y2]` in pixels of the model's input (after every
    /// transform, clipped to it); `None` for samples without boxes.
    pub boxes: Option<Vec<[f64; 4]>>,
    /// Labels the sampled frames decided (Charades training), replacing the sample's.
    pub labels: Option<Vec<i32>>,
}

impl Prepared {
    /// `sample` with its labels as this sample's pipeline decided: those of its sampled frames'
    /// span where the source gives per-frame labels, remapped by a flip's `flip_label_map`.
    pub fn relabel(&self, mut sample: Sample) -> Sample {
        if let Some(labels) = &self.labels {
            sample.labels = labels.clone();
        }
        if let Some(map) = &self.label_map {
            sample.labels.iter_mut().for_each(|l| *l = *map.get(l).unwrap_or(l));
        }
        sample
    }
}
