//! `vpipe run`: training with periodic validation, checkpoints and resume, then testing — one
//! streamed process (mmaction2 `tools/train.py` + `tools/test.py`, 0.x epoch-based runner).
//!
//! ```text
//! train list ─▶ epoch shuffle ─▶ loader pool (decode, augment) ─▶ batches ─▶ forward/backward/step
//!            every val_interval epochs: val loader ─▶ forward ─▶ clip averaging ─▶ metrics
//! ```
//! Work dir: `pipeline.yaml` (the file as given), `run.log` (human), `log.jsonl` (one JSON record
//! per logged iteration and per validation), `epoch_N.safetensors` + `epoch_N.optim.safetensors` +
//! `epoch_N.json` (written in that order, each atomically: the `.json` marks a complete checkpoint),
//! `best_<metric>_epoch_N.safetensors`, and `best_pred.parquet` from the test phase. TorchScript
//! models checkpoint as `epoch_N.pt` / `best_<metric>_epoch_N.pt` (the whole module) instead.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::checkpoint::{self, Meta, Position, Start};
use super::domains::{self, TargetCycle};
use super::interrupt::{self, Interrupted};
use super::loader::{batches, epoch_order, Batch};
use super::pipeline::DataPipeline;
use super::{PoolConfig, Settings};
use crate::config::{PipelineConfig, SplitName, TrainSection};
use crate::metrics::{average_clips, evaluate, mean_average_precision, AverageClips, Evaluation};
use crate::model::amp::GradScaler;
use crate::model::optim::{lr_at, Optim};
use crate::model::{Loss, Recognizer};
use crate::sink::atomic::write_with;
use crate::sink::{ClipRow, ParquetSink};
use crate::source::Sample;
use crate::transform::LabelMix;

/// One data split ready to load.
#[derive(Clone, Debug)]
pub struct SplitData {
    /// The split's samples in list order.
    pub samples: Vec<Sample>,
    /// Per-sample data pipeline (its `epoch` is set per epoch).
    pub pipeline: DataPipeline,
    /// Samples per batch.
    pub batch_size: usize,
    /// Loader threads and in-flight bound.
    pub pool: PoolConfig,
    /// The AVA evaluation of an `AVADataset` split (its ground truth, classes, exclusions);
    /// validation and testing then report frame mAP@0.5.
    pub ava: Option<std::sync::Arc<crate::source::ava::AvaEval>>,
}

impl SplitData {
    /// Split `name` of `cfg` ready to load, `None` where the file has no such split: its
    /// samples (list order), data pipeline (epoch 0) and loader sizing (`workers`, else the
    /// split's `workers`, else the cores; ranges of [`crate::config::limits::loader_sizes`]).
    ///
    /// # Errors
    /// The split's list or pipeline does not load, or a size is out of range (the message names
    /// the key, e.g. `data.train.batch_size`, and the file and line of a pipeline step).
    pub fn load(cfg: &PipelineConfig, name: SplitName, workers: Option<usize>) -> Result<Option<SplitData>> {
        let Some(s) = cfg.data.get(&name) else { return Ok(None) };
        Self::of(cfg, &format!("{name:?}").to_lowercase(), s, cfg.parts(name)?, workers).map(Some)
    }

    /// The target domain of two-domain training (`data.train.target`), `None` without one; as
    /// [`Self::load`].
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_target(cfg: &PipelineConfig, workers: Option<usize>) -> Result<Option<SplitData>> {
        let (Some(s), Some(parts)) = (cfg.data.get(&SplitName::Train).and_then(|s| s.target.as_deref()), cfg.target_parts()?) else {
            return Ok(None);
        };
        Self::of(cfg, "train.target", s, parts, workers).map(Some)
    }

    /// Split `s`, written at `data.<short>`, with its pipeline's `parts`.
    fn of(
        cfg: &PipelineConfig,
        short: &str,
        s: &crate::config::DataSplit,
        parts: crate::config::PipelineParts,
        workers: Option<usize>,
    ) -> Result<SplitData> {
        let key = format!("data.{short}");
        let (batch_size, workers, capacity) = crate::config::limits::loader_sizes(&key, s.batch_size, workers.or(s.workers), s.capacity)?;
        let ava = match (&s.source, s.source.ava_files()) {
            (crate::config::SourceConfig::AvaDataset { label_map, exclude_file, .. }, Some(files)) => Some(std::sync::Arc::new(
                crate::source::ava::AvaEval::load(&files, label_map.as_deref(), exclude_file.as_deref())
                    .with_context(|| format!("`{key}`'s AVA evaluation files"))?,
            )),
            _ => None,
        };
        Ok(SplitData {
            ava,
            samples: s.source.samples()?,
            pipeline: DataPipeline::build(parts, cfg.seed, 0, s.source.rawframe_spec()?).map_err(|e| cfg.locate_key(short, e))?,
            batch_size,
            pool: PoolConfig { workers, capacity },
        })
    }
}

/// Which weights the test phase uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestWith {
    /// No test phase.
    None,
    /// The weights training ended with.
    Last,
    /// The best validation checkpoint (`best_top1_acc_epoch_N`).
    Best,
}

/// Everything a run needs.
pub struct RunJob {
    /// Training data (absent: no training, e.g. `--test-only`); with [`Self::target`], the
    /// source domain.
    pub train: Option<SplitData>,
    /// The target domain of two-domain training (`data.train.target`, [`super::domains`]).
    pub target: Option<SplitData>,
    /// Validation data, run every `val_interval` epochs.
    pub val: Option<SplitData>,
    /// Test data for `--test-last` / `--test-best` (falls back to `val`).
    pub test: Option<SplitData>,
    /// Optimizer, schedule and loop settings.
    pub train_cfg: Option<TrainSection>,
    /// Seed of the data streams and of libtorch's generator (dropout), reseeded per epoch.
    pub seed: u64,
    /// Where logs, checkpoints and predictions go.
    pub work_dir: PathBuf,
    /// The pipeline file's text, copied into the work dir.
    pub pipeline_text: String,
    /// How a video's views are combined before metrics.
    pub average_clips: AverageClips,
    /// The head's loss: single-label cross-entropy (top1_acc …) or multi-label BCE (mAP).
    pub loss: Loss,
    /// A new run, a run over an old one, or the continuation of one (weights, optimizer state,
    /// position, best score) — what a work dir that holds a run allows.
    pub start: Start,
    /// Weights only (`load_from`): for training, the tensors whose names and shapes match
    /// (mmaction2 `strict=False`; the rest are logged); for `--test-only`, all of them.
    pub load_from: Option<PathBuf>,
    /// Whether missing or mismatched backbone tensors of `load_from` are an error when training
    /// (`load_from_strict`, default true; the head may always differ).
    pub load_from_strict: bool,
    /// Whether and with which weights to test after training.
    pub test_with: TestWith,
}

/// What a run ended with.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Epochs trained in this process (after any resume).
    pub epochs_run: usize,
    /// Metrics of the last validation.
    pub last_val: Option<Metrics>,
    /// Best validation value of [`Metrics::key`] (top1_acc or mAP) and its epoch (1-based).
    pub best: Option<(f64, usize)>,
    /// Metrics of the test phase.
    pub test: Option<Metrics>,
}

/// The metrics of a validation or test pass, by the loss's kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Metrics {
    /// Single-label: top1_acc, top5_acc, mean_class_accuracy, confusion matrix (semantics §7).
    SingleLabel(Evaluation),
    /// Multi-label: mmaction2 `mean_average_precision` over the videos' many-hot labels.
    MultiLabel {
        /// mAP, a fraction (NaN when no class has a positive).
        map: f64,
    },
    /// Detection: AVA's frame mAP at IoU 0.5 (`PascalBoxes_Precision/mAP@0.5IOU`).
    Detection {
        /// mAP, a fraction.
        map: f64,
    },
}

impl Metrics {
    /// The metrics of `split`'s predictions: AVA's frame mAP for a split with an AVA evaluation,
    /// else as [`Self::of`].
    pub fn of_split(split: &SplitData, preds: &[Prediction], loss: Loss) -> Self {
        match &split.ava {
            Some(ava) => Metrics::Detection { map: ava.map(&detections(ava, preds)) },
            None => Self::of(preds, loss),
        }
    }

    /// Scores `preds` (per video: sample and clip-averaged scores) as `loss` asks.
    pub fn of(preds: &[Prediction], loss: Loss) -> Self {
        let scores: Vec<Vec<f32>> = preds.iter().map(|p| p.scores.clone()).collect();
        if loss.multi_label() {
            let labels: Vec<Vec<usize>> = preds.iter().map(|p| p.sample.labels.iter().map(|&l| l.max(0) as usize).collect()).collect();
            return Metrics::MultiLabel { map: mean_average_precision(&scores, &labels) };
        }
        let labels: Vec<usize> = preds.iter().map(|p| p.sample.labels.first().copied().unwrap_or(-1).max(0) as usize).collect();
        Metrics::SingleLabel(evaluate(&scores, &labels))
    }

    /// The value of metric `name` (`top1_acc`, `top5_acc`, `mean_class_accuracy`; `mAP`), `None`
    /// where this kind of evaluation has no such metric (higher is better).
    pub fn value(&self, name: &str) -> Option<f64> {
        match (self, name) {
            (Metrics::SingleLabel(e), "top1_acc") => Some(e.top1_acc),
            (Metrics::SingleLabel(e), "top5_acc") => Some(e.top5_acc),
            (Metrics::SingleLabel(e), "mean_class_accuracy") => Some(e.mean_class_accuracy),
            (Metrics::MultiLabel { map } | Metrics::Detection { map }, "mAP") => Some(*map),
            _ => None,
        }
    }

    /// The log.jsonl fields (`with_matrix`: the confusion matrix and its labels too).
    fn record(&self, with_matrix: bool) -> serde_json::Value {
        match self {
            Metrics::SingleLabel(e) if with_matrix => json!({"top1_acc": e.top1_acc, "top5_acc": e.top5_acc,
                "mean_class_accuracy": e.mean_class_accuracy, "confusion_matrix": e.confusion_matrix, "labels": e.labels}),
            Metrics::SingleLabel(e) => {
                json!({"top1_acc": e.top1_acc, "top5_acc": e.top5_acc, "mean_class_accuracy": e.mean_class_accuracy})
            }
            Metrics::MultiLabel { map } => json!({"mAP": map}),
            Metrics::Detection { map } => json!({"mAP": map, "metric": "PascalBoxes_Precision/mAP@0.5IOU"}),
        }
    }

    /// The run.log line's tail, mmaction2's format.
    fn line(&self) -> String {
        match self {
            Metrics::SingleLabel(e) => {
                format!("top1_acc: {:.4}, top5_acc: {:.4}, mean_class_accuracy: {:.4}", e.top1_acc, e.top5_acc, e.mean_class_accuracy)
            }
            Metrics::MultiLabel { map } => format!("mAP: {map:.4}"),
            Metrics::Detection { map } => format!("mAP@0.5IOU: {map:.4}"),
        }
    }
}

/// `seconds` as Python's `str(timedelta(seconds=int(s)))`, mmaction2's `eta` (`0:10:00`,
/// `1 day, 2:03:04`).
fn timedelta(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 { seconds as u64 } else { 0 };
    let (days, h, m, sec) = (s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60);
    let clock = format!("{h}:{m:02}:{sec:02}");
    match days {
        0 => clock,
        1 => format!("1 day, {clock}"),
        d => format!("{d} days, {clock}"),
    }
}

/// `fields` of a log record with `mode` (and `epoch`) in front.
fn with_mode(mode: &str, epoch: Option<usize>, fields: serde_json::Value) -> serde_json::Value {
    let mut rec = json!({"mode": mode});
    if let Some(e) = epoch {
        rec["epoch"] = json!(e);
    }
    for (k, v) in fields.as_object().into_iter().flatten() {
        rec[k] = v.clone();
    }
    rec
}

/// Human log (file + stderr) and JSON-lines log.
struct Logs {
    human: File,
    json: File,
}

impl Logs {
    fn open(dir: &Path) -> Result<Self> {
        let open = |n: &str| {
            OpenOptions::new().create(true).append(true).open(dir.join(n)).with_context(|| format!("opening {}", dir.join(n).display()))
        };
        Ok(Logs { human: open("run.log")?, json: open("log.jsonl")? })
    }
    /// `line` on stderr and in run.log, after the wall-clock time (mmengine's
    /// `2026/12/06 12:00:00 - vpipe - INFO - ` prefix, local time).
    fn say(&mut self, line: &str) -> Result<()> {
        let line = format!("{} - vpipe - INFO - {line}", chrono::Local::now().format("%Y/%m/%d %H:%M:%S"));
        eprintln!("{line}");
        writeln!(self.human, "{line}").context("writing run.log")
    }
    /// The length of log.jsonl so far (a checkpoint records it).
    fn json_bytes(&self) -> Result<u64> {
        Ok(self.json.metadata().context("reading log.jsonl's length")?.len())
    }
    fn record(&mut self, v: serde_json::Value) -> Result<()> {
        writeln!(self.json, "{v}").context("writing log.jsonl")
    }
}

/// Mean cross-entropy over the batch. A sample whose pipeline decided a label mixture
/// (`BackgroundBlend` with `blend_label`) contributes `w·CE(label) + (1−w)·CE(other)`, the
/// cross-entropy against the mixed one-hot target.
/// `y` holds `labels` on the logits' device.
pub(crate) fn cross_entropy(logits: &tch::Tensor, y: &tch::Tensor, labels: &[i64], mix: &[Option<LabelMix>]) -> tch::Tensor {
    let device = logits.device();
    if mix.iter().all(Option::is_none) {
        return logits.cross_entropy_for_logits(y);
    }
    let other: Vec<i64> = labels.iter().zip(mix).map(|(&l, m)| m.map_or(l, |m| m.other as i64)).collect();
    let w: Vec<f32> = mix.iter().map(|m| m.map_or(1.0, |m| m.weight as f32)).collect();
    let (other, w) = (tch::Tensor::from_slice(&other).to_device(device), tch::Tensor::from_slice(&w).to_device(device));
    let logp = logits.log_softmax(-1, tch::Kind::Float);
    let pick = |t: &tch::Tensor| logp.gather(1, &t.unsqueeze(1), false).squeeze_dim(1);
    let mixed: tch::Tensor = &w * pick(y) + (1.0 - &w) * pick(&other);
    -mixed.mean(tch::Kind::Float)
}

/// What one optimisation step did.
pub struct Step {
    /// The batch's mean loss (two-domain: `loss_cls + loss_dom`).
    pub loss: f64,
    /// Samples whose top-1 prediction equals their label (two-domain: source samples).
    pub hits: usize,
    /// Samples the hits are counted over.
    pub samples: usize,
    /// Further values to log, in order (two-domain: `loss_cls`, `loss_dom`, `acc_dom`, `t_mca`).
    pub fields: Vec<(&'static str, f64)>,
    /// Gradient norm before clipping (when `grad_clip` is set and the gradients are finite).
    pub grad_norm: Option<f64>,
    /// Whether the optimizer stepped (false: fp16 loss scaling skipped an overflow).
    pub stepped: bool,
}

/// Training hyper-parameters of one step.
#[derive(Clone, Copy, Debug)]
pub struct StepConfig {
    /// Learning rate of this iteration.
    pub lr: f64,
    /// float16 autocast (CUDA only).
    pub fp16: bool,
    /// Clip the gradients' L2 norm to this.
    pub grad_clip: Option<f64>,
    /// The head's loss.
    pub loss: Loss,
}

/// One training step on `batch`: forward in train mode (float16 autocast when `fp16`, on CUDA),
/// the loss — cross-entropy (mixed targets where the pipeline decided them) or, multi-label,
/// mean BCE with logits against many-hot targets — backward, unscale, clip to `grad_clip`,
/// step at `lr`. The step `vpipe run` and `vpipe bench` take. A hit is a sample whose top-1
/// class is (one of) its label(s).
///
/// # Errors
/// Single-label: a sample without exactly one label; multi-label: a label outside the head's
/// classes, or a label mixture (not defined for BCE); the model fails.
pub fn train_step(model: &Recognizer, optim: &mut Optim, batch: &Batch, cfg: StepConfig) -> Result<Step> {
    if model.has_roi_head() {
        return detection_step(model, optim, batch, cfg);
    }
    let x = batch.tensor.model_input(model.device());
    // Autocast runs convolutions and matmuls in float16 on CUDA; the loss is float32.
    let logits = tch::autocast(cfg.fp16, || model.forward_t(&x, &batch.images, true))?.logits.to_kind(tch::Kind::Float);
    let top1: Vec<i64> = Vec::try_from(logits.argmax(-1, false).to_device(tch::Device::Cpu))?;
    let (loss, hits) = if cfg.loss.multi_label() {
        if batch.label_mix.iter().any(Option::is_some) {
            bail!("blend_label mixes single labels; it is not defined for loss BCELossWithLogits");
        }
        let target = many_hot(batch, logits.size()[1])?.to_device(model.device());
        let hits = batch.samples.iter().zip(&top1).filter(|(s, &p)| s.labels.contains(&(p as i32))).count();
        (logits.binary_cross_entropy_with_logits::<tch::Tensor>(&target, None, None, tch::Reduction::Mean), hits)
    } else {
        let labels = single_labels(&batch.samples)?;
        let y = tch::Tensor::from_slice(&labels).to_device(model.device());
        let hits = labels.iter().zip(&top1).filter(|(l, p)| l == p).count();
        (cross_entropy(&logits, &y, &labels, &batch.label_mix), hits)
    };
    optim.zero_grad();
    optim.backward(&loss);
    let finite = optim.unscale();
    let grad_norm = cfg.grad_clip.filter(|_| finite).map(|m| optim.clip_grad_norm(m));
    let stepped = optim.step(cfg.lr);
    Ok(Step { loss: loss.double_value(&[]), hits, samples: batch.samples.len(), fields: Vec::new(), grad_norm, stepped })
}

/// [`train_step`] for a detection head: per box its sigmoid probabilities, the mean BCE
/// against the box's multi-hot actions (PySlowFast's `nn.BCELoss` on `ResNetRoIHead`'s
/// outputs). A hit is a box whose top class is one of its actions.
///
/// # Errors
/// A sample without boxes, a head whose classes are not AVA's 80; the model fails.
fn detection_step(model: &Recognizer, optim: &mut Optim, batch: &Batch, cfg: StepConfig) -> Result<Step> {
    let (rois, counts, target) = box_targets(batch)?;
    let x = batch.tensor.model_input(model.device());
    let probs = tch::autocast(cfg.fp16, || model.forward_rois_t(&x, &rois, &counts, true))?.logits.to_kind(tch::Kind::Float);
    if probs.size()[1] != crate::source::ava::NUM_CLASSES as i64 {
        bail!("the RoI head has {} classes; AVA's actions are {}", probs.size()[1], crate::source::ava::NUM_CLASSES);
    }
    let target = target.to_device(model.device());
    let loss = probs.binary_cross_entropy::<tch::Tensor>(&target, None, tch::Reduction::Mean);
    let top: tch::Tensor = probs.argmax(-1, true);
    let hits = i64::try_from(target.gather(1, &top, false).sum(tch::Kind::Int64))? as usize;
    optim.zero_grad();
    optim.backward(&loss);
    let finite = optim.unscale();
    let grad_norm = cfg.grad_clip.filter(|_| finite).map(|m| optim.clip_grad_norm(m));
    let stepped = optim.step(cfg.lr);
    Ok(Step { loss: loss.double_value(&[]), hits, samples: counts.iter().sum(), fields: Vec::new(), grad_norm, stepped })
}

/// A detection batch's boxes as RoIAlign takes them `(K, 5)`, each sample's box count, and the
/// boxes' `(K, 80)` multi-hot actions.
///
/// # Errors
/// A sample without boxes (the message names it).
fn box_targets(batch: &Batch) -> Result<(tch::Tensor, Vec<usize>, tch::Tensor)> {
    let mut counts = Vec::with_capacity(batch.samples.len());
    let mut hot: Vec<f32> = Vec::new();
    for (s, b) in batch.samples.iter().zip(&batch.boxes) {
        let (Some(k), Some(b)) = (&s.keyframe, b) else {
            bail!("{}: a detection head needs samples with boxes (an `AVADataset` source)", s.name);
        };
        counts.push(b.len());
        hot.extend(k.multi_hot().iter().flatten());
    }
    let rois = batch.rois().context("no boxes in the batch")?;
    let classes = crate::source::ava::NUM_CLASSES as i64;
    Ok((rois, counts, tch::Tensor::from_slice(&hot).view([-1, classes])))
}

/// The AVA detections of `preds` (keyframe samples with box scores), in prediction order.
fn detections(ava: &crate::source::ava::AvaEval, preds: &[Prediction]) -> Vec<crate::metrics::ava::Detection> {
    preds.iter().filter_map(|p| Some(ava.detections(p.sample.keyframe.as_ref()?, p.boxes.as_ref()?))).flatten().collect()
}

/// The samples' single labels.
///
/// # Errors
/// A sample without exactly one label (the message names it).
pub(crate) fn single_labels(samples: &[Sample]) -> Result<Vec<i64>> {
    samples
        .iter()
        .map(|s| match s.labels.as_slice() {
            [l] => Ok(*l as i64),
            other => bail!(
                "{}: training needs exactly one label, got {other:?} (multi-label lists need loss: BCELossWithLogits)",
                s.path.display()
            ),
        })
        .collect()
}

/// The batch's labels as a (B, `classes`) float32 many-hot tensor (mmaction2's multi-label
/// one-hot vector, semantics §1); a sample without labels is all zeros.
///
/// # Errors
/// A label outside `0..classes` (the message names the sample).
fn many_hot(b: &Batch, classes: i64) -> Result<tch::Tensor> {
    let mut t = vec![0f32; b.samples.len() * classes as usize];
    for (i, s) in b.samples.iter().enumerate() {
        for &l in &s.labels {
            if l < 0 || l as i64 >= classes {
                bail!("{}: label {l} is outside the head's {classes} classes", s.path.display());
            }
            t[i * classes as usize + l as usize] = 1.0;
        }
    }
    Ok(tch::Tensor::from_slice(&t).view([b.samples.len() as i64, classes]))
}

/// Runs the split through the model in eval mode; per video the clip-averaged scores.
///
/// # Errors
/// A sample fails, the model fails; SIGINT/SIGTERM ([`Interrupted`]).
fn predict(model: &Recognizer, split: &SplitData, epoch: u64, mode: AverageClips) -> Result<Vec<Prediction>> {
    let mut pipeline = split.pipeline.clone().for_device(model.device(), None);
    pipeline.epoch = epoch;
    let mut out = Vec::new();
    let mut loader =
        batches("loader", split.samples.clone(), pipeline, split.batch_size, split.pool.clone(), Settings::default()).into_iter("model");
    for b in loader.by_ref() {
        out.extend(batch_scores(model, b?, mode)?);
    }
    if loader.interrupted() {
        return Err(
            Interrupted { committed: "nothing of this pass".into(), resume: "run the same command with --resume to continue" }.into()
        );
    }
    Ok(out)
}

/// The rows of a 2-D tensor `(N, C)` as N float32 vectors of C values, on the CPU.
///
/// # Errors
/// libtorch fails to copy the values.
pub(crate) fn tensor_rows(t: &tch::Tensor) -> Result<Vec<Vec<f32>>> {
    let t = t.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).contiguous();
    let c = t.size().get(1).copied().unwrap_or(0).max(1) as usize;
    Ok(Vec::<f32>::try_from(t.flatten(0, -1))?.chunks(c).map(<[f32]>::to_vec).collect())
}

/// One video's prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The video.
    pub sample: Sample,
    /// Its views' scores combined by the clip averaging (`num_classes` values).
    pub scores: Vec<f32>,
    /// Its views' pooled backbone features averaged (`D` values), when the model gives them:
    /// what `vpipe eval --metrics kmeans,gcd_v2` clusters.
    pub feature: Option<Vec<f32>>,
    /// A detection model's scores of each of the sample's boxes (`num_classes` sigmoid
    /// probabilities per box, the sample's box order); [`Self::scores`] is then their per-class
    /// maximum.
    pub boxes: Option<Vec<Vec<f32>>>,
}

/// The model's eval-mode predictions for each sample of `b`, its views combined by `mode`.
///
/// # Errors
/// The model fails.
pub fn batch_scores(model: &Recognizer, b: Batch, mode: AverageClips) -> Result<Vec<Prediction>> {
    if model.has_roi_head() {
        return box_scores(model, b);
    }
    let x = b.tensor.model_input(model.device());
    let out = model.forward(&x, &b.images)?;
    let logits = tensor_rows(&out.logits)?;
    let features = out.features.as_ref().map(tensor_rows).transpose()?;
    let mut start = 0;
    let mut preds = Vec::with_capacity(b.samples.len());
    for (sample, n) in b.samples.into_iter().zip(out.views) {
        let feature = features.as_ref().map(|f| {
            let views = &f[start..start + n];
            let mut mean = vec![0f32; views[0].len()];
            views.iter().for_each(|v| mean.iter_mut().zip(v).for_each(|(m, x)| *m += x / n as f32));
            mean
        });
        preds.push(Prediction { sample, scores: average_clips(&logits[start..start + n], mode), feature, boxes: None });
        start += n;
    }
    Ok(preds)
}

/// [`batch_scores`] for a detection head: each sample's boxes scored in eval mode.
///
/// # Errors
/// A sample without boxes; the model fails.
fn box_scores(model: &Recognizer, b: Batch) -> Result<Vec<Prediction>> {
    let (rois, counts, _) = box_targets(&b)?;
    let x = b.tensor.model_input(model.device());
    let out = {
        let _guard = tch::no_grad_guard();
        model.forward_rois_t(&x, &rois, &counts, false)?
    };
    let rows = tensor_rows(&out.logits)?;
    let mut start = 0;
    let mut preds = Vec::with_capacity(b.samples.len());
    for (sample, n) in b.samples.into_iter().zip(counts) {
        let boxes = rows[start..start + n].to_vec();
        let scores = (0..rows.first().map_or(0, Vec::len)).map(|c| boxes.iter().map(|r| r[c]).fold(0.0f32, f32::max)).collect();
        preds.push(Prediction { sample, scores, feature: None, boxes: Some(boxes) });
        start += n;
    }
    Ok(preds)
}

/// Runs training (if the job has a train split and section), validation and testing.
///
/// The work dir is locked ([`crate::sink::OutputLock`], `work_dir/.vpipe.lock`) while it runs,
/// and made ready as `job.start` says ([`checkpoint::prepare`]). SIGINT/SIGTERM during training
/// finish the current iteration, write checkpoint `iter_N` and return
/// [`Interrupted`] (exit 75); `Start::Resume` continues from there, mid-epoch included, with
/// the same batches in the same order.
///
/// # Errors
/// Another run holds the work dir (the message names it); the work dir holds a run and
/// `job.start` is [`Start::Fresh`]; the work dir cannot be written; a checkpoint to resume or
/// load is missing or does not fit; a sample fails to load (training stops: mmaction2 would
/// crash too); the model fails; SIGINT/SIGTERM ([`Interrupted`], after the checkpoint).
pub fn run(job: RunJob, mut model: Recognizer) -> Result<RunSummary> {
    interrupt::watch()?;
    fs::create_dir_all(&job.work_dir).with_context(|| format!("creating work dir {}", job.work_dir.display()))?;
    let _lock = crate::sink::OutputLock::acquire(&job.work_dir.join(".vpipe.lock"), &format!("work dir {}", job.work_dir.display()))?;
    let resume = match (&job.train, &job.train_cfg) {
        (Some(_), Some(tc)) => checkpoint::prepare(&job.work_dir, &job.start, tc.epochs)?,
        _ => None,
    };
    fs::write(job.work_dir.join("pipeline.yaml"), &job.pipeline_text).context("copying the pipeline into the work dir")?;
    let mut logs = Logs::open(&job.work_dir)?;
    let mut summary = RunSummary::default();
    if let Some(w) = &job.load_from {
        load_from(&mut model, w, job.train.is_some() && job.load_from_strict, job.train.is_some(), &mut logs)?;
    }
    if let (Some(train), Some(tc)) = (&job.train, &job.train_cfg) {
        let mut t = Training::start(&job, train, tc, &mut model, &mut logs, resume)?;
        t.run(&mut summary)?;
        summary.best = t.best;
    }
    if job.test_with != TestWith::None {
        test(&job, &mut model, &mut logs, &mut summary)?;
    }
    Ok(summary)
}

/// `load_from` weights `w`. For training (`partial`) mmaction2's non-strict load: the tensors
/// whose names and shapes match, with a table of what was loaded, mismatched and missing per
/// module; the head may differ (fine-tuning on other classes), the backbone may not when
/// `strict` (`load_from_strict`, default true). Testing without training needs every tensor.
///
/// # Errors
/// The file does not load; with `strict`, backbone tensors left at their initialisation (the
/// message names how many and the first).
fn load_from(model: &mut Recognizer, w: &Path, strict: bool, partial: bool, logs: &mut Logs) -> Result<()> {
    logs.say(&format!("load_from {}", w.display()))?;
    if !(partial && model.var_store().is_some()) {
        return model.load(w);
    }
    let report = model.load_matching(w)?;
    for line in report.table().lines() {
        logs.say(line)?;
    }
    let left = report.backbone_left();
    if strict && !left.is_empty() {
        bail!(
            "load_from {}: {} backbone tensors would keep their random initialisation (first: {}); convert the checkpoint with scripts/convert_mmaction2_checkpoint.py, or set `load_from_strict: false` to train so",
            w.display(),
            left.len(),
            left[0]
        );
    }
    Ok(())
}

/// The test phase: the last or best weights over data.test (else data.val), metrics into the
/// logs and predictions into `best_pred.parquet`.
fn test(job: &RunJob, model: &mut Recognizer, logs: &mut Logs, summary: &mut RunSummary) -> Result<()> {
    let split = job.test.as_ref().or(job.val.as_ref()).context("--test-last/--test-best need a `data.test` (or `data.val`) split")?;
    if job.test_with == TestWith::Best {
        let (_, e) = summary.best.context("--test-best: no best checkpoint (no validation ran)")?;
        let metric = metric_name(job.loss, job.train_cfg.as_ref().and_then(|t| t.save_best.as_deref()));
        model.load(&job.work_dir.join(format!("best_{metric}_epoch_{e}.{}", model.checkpoint_ext())))?;
    }
    let preds = predict(model, split, 0, job.average_clips)?;
    let e = Metrics::of_split(split, &preds, job.loss);
    if let Some(ava) = &split.ava {
        // PySlowFast's evaluate_ava writes both files in AVA's format beside the metric.
        let dets = detections(ava, &preds);
        crate::source::ava::write_results(&job.work_dir.join("detections.csv"), &dets)?;
        let gt: Vec<_> = ava.groundtruth.iter().map(|(k, b, c)| (k.clone(), *b, *c, 1.0)).collect();
        crate::source::ava::write_results(&job.work_dir.join("groundtruth.csv"), &gt)?;
        logs.say(&format!("AVA results wrote to {}", job.work_dir.join("detections.csv").display()))?;
    }
    logs.record(with_mode("test", None, e.record(true)))?;
    logs.say(&format!("Test: {}", e.line()))?;
    let mut sink = ParquetSink::new(&job.work_dir.join("best_pred.parquet"), vec![("vpipe.version".into(), crate::VERSION.into())]);
    for p in preds {
        sink.push(ClipRow { video: p.sample.name, labels: p.sample.labels, clip: 0, logits: p.scores, feature: p.feature })?;
    }
    sink.finish(vec![])?;
    summary.test = Some(e);
    Ok(())
}

/// The validation metric best checkpoints follow (the `best_<metric>_epoch_N` checkpoint's
/// name): `save_best` when set, else `top1_acc`, or `mAP` for a multi-label head.
pub fn metric_name(loss: Loss, save_best: Option<&str>) -> &str {
    match save_best {
        Some(m) => m,
        None if loss.multi_label() => "mAP",
        None => "top1_acc",
    }
}

/// libtorch's generator seed for global iteration `global` of a run seeded `seed`: dropout is
/// reseeded every iteration, so that a run resumed mid-epoch draws what the uninterrupted run
/// drew.
fn step_seed(seed: u64, global: usize) -> i64 {
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ global as u64) as i64
}

/// A training run in progress: the epoch loop with its validation, checkpoints and stops.
struct Training<'a> {
    job: &'a RunJob,
    train: &'a SplitData,
    tc: &'a TrainSection,
    model: &'a mut Recognizer,
    logs: &'a mut Logs,
    optim: Optim,
    fp16: bool,
    base_lr: f64,
    iters_per_epoch: usize,
    /// Where training stands.
    pos: Position,
    /// Best validation value and its epoch (1-based).
    best: Option<(f64, usize)>,
    /// The current epoch's training hits and samples.
    hits: usize,
    seen: usize,
    /// This process's start and iterations, for mmaction2's ETA.
    started: Instant,
    iters_here: usize,
}

impl<'a> Training<'a> {
    /// Sets up the optimizer and, from `resume`, the weights, optimizer state and position.
    fn start(
        job: &'a RunJob,
        train: &'a SplitData,
        tc: &'a TrainSection,
        model: &'a mut Recognizer,
        logs: &'a mut Logs,
        resume: Option<(Meta, PathBuf)>,
    ) -> Result<Self> {
        let iters_per_epoch = train.samples.len().div_ceil(train.batch_size.max(1));
        let mut resumed_optim = None;
        let mut meta = Meta::default();
        if let Some((m, stem)) = resume {
            let (w, o, _) = checkpoint::paths(&stem, model.checkpoint_ext());
            if m.iters_per_epoch.is_some_and(|n| n != iters_per_epoch) && m.position.iter > 0 {
                bail!(
                    "checkpoint {} stopped mid-epoch with {} iterations per epoch; this pipeline has {iters_per_epoch} (another list or batch_size)",
                    stem.display(),
                    m.iters_per_epoch.unwrap_or(0)
                );
            }
            // Weights first: a TorchScript checkpoint replaces the module, and the optimizer must
            // hold the new module's parameters.
            model.load(&w)?;
            resumed_optim = Some(o);
            logs.say(&format!("resumed from {} at {}", w.display(), m.describe()))?;
            meta = m;
        }
        let scale = tc.auto_scale_lr.as_ref().filter(|a| a.enable).map_or(1.0, |a| train.batch_size as f64 / a.base_batch_size as f64);
        let mut optim = Optim::new(&tc.optimizer, &model.parameters()?);
        let fp16 = tc.fp16.is_some() && model.device().is_cuda();
        if let Some(f) = tc.fp16.as_ref() {
            if fp16 {
                optim = optim.with_loss_scaling(GradScaler::new(&f.loss_scale));
            } else {
                logs.say("fp16: mixed precision needs CUDA; training in float32 on the CPU")?;
            }
        }
        if let Some(o) = resumed_optim {
            optim.load(&o)?;
        }
        let base_lr = optim.base_lr() * scale;
        Ok(Training {
            job,
            train,
            tc,
            model,
            logs,
            optim,
            fp16,
            base_lr,
            iters_per_epoch,
            pos: meta.position,
            best: meta.best,
            hits: meta.hits,
            seen: meta.seen,
            started: Instant::now(),
            iters_here: 0,
        })
    }

    fn metric(&self) -> &'a str {
        metric_name(self.job.loss, self.tc.save_best.as_deref())
    }

    /// Iterations of the whole run done.
    fn global_iter(&self) -> usize {
        self.pos.epoch * self.iters_per_epoch + self.pos.iter
    }

    /// The epochs from where training stands to the last.
    fn run(&mut self, summary: &mut RunSummary) -> Result<()> {
        while self.pos.epoch < self.tc.epochs {
            if self.pos.iter < self.iters_per_epoch {
                self.train_epoch()?;
            }
            let done = self.pos.epoch + 1;
            if done % self.tc.val_interval.max(1) == 0 {
                if let Some(val) = self.job.val.as_ref() {
                    summary.last_val = Some(self.validate(val, done)?);
                }
            }
            self.pos = Position { epoch: done, iter: 0 };
            (self.hits, self.seen) = (0, 0);
            summary.epochs_run += 1;
            let due = self.tc.checkpoint_by_epoch && done % self.tc.checkpoint_interval.max(1) == 0;
            if due || done == self.tc.epochs {
                let stem = if self.tc.checkpoint_by_epoch { format!("epoch_{done}") } else { format!("iter_{}", self.global_iter()) };
                self.checkpoint(&stem)?;
            }
        }
        Ok(())
    }

    /// The rest of the current epoch's iterations (the batches an uninterrupted run had after
    /// `pos.iter`), logging and checkpointing by iteration as configured.
    fn train_epoch(&mut self) -> Result<()> {
        let (epoch, tc, train) = (self.pos.epoch, self.tc, self.train);
        let mut pipeline = train.pipeline.clone().for_device(self.model.device(), None);
        pipeline.epoch = epoch as u64;
        let mut order = epoch_order(&train.samples, self.job.seed, epoch as u64, true);
        order.drain(..(self.pos.iter * train.batch_size).min(order.len()));
        let mut loader =
            batches("loader", order, pipeline, train.batch_size, train.pool.clone(), Settings::default()).into_iter("train_step");
        let device = self.model.device();
        let mut target = self.job.target.as_ref().map(|t| TargetCycle::new(t, self.job.seed, epoch, self.pos.iter, device));
        let mut t_data = Instant::now();
        for batch in loader.by_ref() {
            let batch = batch?;
            let target_batch = match target.as_mut().map(TargetCycle::next_batch).transpose() {
                Err(e) if e.is::<Interrupted>() => {
                    drop(loader);
                    return Err(self.stop());
                }
                t => t?,
            };
            let data_time = t_data.elapsed().as_secs_f64();
            let t_iter = Instant::now();
            tch::manual_seed(step_seed(self.job.seed, self.global_iter()));
            let lr = lr_at(tc, self.base_lr, epoch, self.pos.iter, self.iters_per_epoch);
            let cfg = StepConfig { lr, fp16: self.fp16, grad_clip: tc.grad_clip, loss: self.job.loss };
            let step = match &target_batch {
                Some(t) => domains::train_step(self.model, &mut self.optim, &batch, t, cfg, (self.job.seed, epoch, self.pos.iter))?,
                None => train_step(self.model, &mut self.optim, &batch, cfg)?,
            };
            (self.hits, self.seen) = (self.hits + step.hits, self.seen + step.samples);
            self.pos.iter += 1;
            self.iters_here += 1;
            if !step.loss.is_finite() {
                bail!("epoch {} iter {}: loss is {}", epoch + 1, self.pos.iter, step.loss);
            }
            if self.pos.iter % tc.log_interval.max(1) == 0 || self.pos.iter == self.iters_per_epoch {
                self.log_step(&step, lr, t_iter.elapsed().as_secs_f64() + data_time, data_time)?;
            }
            if !tc.checkpoint_by_epoch && self.global_iter() % tc.checkpoint_interval.max(1) == 0 {
                self.checkpoint(&format!("iter_{}", self.global_iter()))?;
            }
            t_data = Instant::now();
        }
        if loader.interrupted() {
            drop(loader);
            return Err(self.stop());
        }
        // Where the epoch's time went: the engine's summary (loader stages and the train step).
        let engine = loader.finish().to_json();
        let acc = self.hits as f64 / self.seen.max(1) as f64;
        self.logs.record(json!({"mode": "train_epoch", "epoch": epoch + 1, "top1_acc": acc, "engine": engine}))
    }

    /// Validation after epoch `done` (1-based); a new best is saved as
    /// `best_<metric>_epoch_<done>`.
    fn validate(&mut self, val: &SplitData, done: usize) -> Result<Metrics> {
        let preds = match predict(self.model, val, 0, self.job.average_clips) {
            Err(e) if e.is::<Interrupted>() => return Err(self.stop()),
            p => p?,
        };
        let e = Metrics::of_split(val, &preds, self.job.loss);
        self.logs.record(with_mode("val", Some(done), e.record(false)))?;
        self.logs.say(&format!("Epoch(val) [{done}] {}", e.line()))?;
        let (metric, ext) = (self.metric(), self.model.checkpoint_ext());
        let value = e.value(metric).with_context(|| {
            format!("`train.save_best: {metric}` is not a metric of this {} evaluation", metric_name(self.job.loss, None))
        })?;
        // NaN (mAP with no positive at all) is never best.
        if !value.is_nan() && self.best.is_none_or(|(b, _)| value > b) {
            if let Some((_, old)) = self.best {
                let _ = fs::remove_file(self.job.work_dir.join(format!("best_{metric}_epoch_{old}.{ext}")));
            }
            write_with(&self.job.work_dir.join(format!("best_{metric}_epoch_{done}.{ext}")), |t| self.model.save(t))?;
            self.best = Some((value, done));
        }
        Ok(e)
    }

    /// One iteration's records: log.jsonl and mmaction2's `Epoch [e][i/n]` line.
    fn log_step(&mut self, step: &Step, lr: f64, time: f64, data_time: f64) -> Result<()> {
        let (epoch, iter, n) = (self.pos.epoch + 1, self.pos.iter, self.iters_per_epoch);
        let top1 = step.hits as f64 / step.samples.max(1) as f64;
        // mmaction2's ETA: this process's mean iteration time × the iterations left (all epochs).
        let left = (self.tc.epochs * n).saturating_sub(self.global_iter());
        let eta = self.started.elapsed().as_secs_f64() / self.iters_here.max(1) as f64 * left as f64;
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let mut rec = json!({"mode": "train", "epoch": epoch, "iter": iter, "lr": lr, "loss": step.loss, "top1_acc": top1,
            "grad_norm": step.grad_norm, "time": time, "data_time": data_time, "eta_s": eta, "unix_time": wall});
        if let Some(s) = self.optim.loss_scale() {
            rec["loss_scale"] = json!(s);
            rec["skipped"] = json!(!step.stepped);
        }
        // mmaction2 logs a recogniser's named losses and accuracies before the total.
        let mut named = String::new();
        for (k, v) in &step.fields {
            rec[*k] = json!(v);
            named += &format!("{k}: {v:.4}, ");
        }
        self.logs.record(rec)?;
        self.logs.say(&format!(
            "Epoch [{epoch}][{iter}/{n}] lr: {lr:.3e}, eta: {}, {named}loss: {:.4}, top1_acc: {top1:.4}, time: {time:.3}, data_time: {data_time:.3}",
            timedelta(eta),
            step.loss
        ))
    }

    /// Writes checkpoint `stem` of the work dir at the current position, then keeps the newest
    /// `max_keep_ckpts`.
    fn checkpoint(&mut self, stem: &str) -> Result<Meta> {
        let meta = Meta {
            position: self.pos,
            iters_per_epoch: Some(self.iters_per_epoch),
            best: self.best,
            metric: self.metric().into(),
            hits: self.hits,
            seen: self.seen,
            log_bytes: Some(self.logs.json_bytes()?),
        };
        checkpoint::save(&self.job.work_dir.join(stem), self.model, Some(&self.optim), &meta)?;
        checkpoint::prune(&self.job.work_dir, self.model.checkpoint_ext(), self.tc.max_keep_ckpts)?;
        Ok(meta)
    }

    /// On SIGINT/SIGTERM: the checkpoint of where training stands, and the error that exits 75.
    fn stop(&mut self) -> anyhow::Error {
        let stem = format!("iter_{}", self.global_iter());
        let meta = match self.checkpoint(&stem) {
            Ok(m) => m,
            Err(e) => return e.context("SIGINT/SIGTERM: writing the checkpoint to resume from"),
        };
        let committed = format!("checkpoint {} at {}", self.job.work_dir.join(&stem).display(), meta.describe());
        let _ = self.logs.say(&format!("interrupted: {committed}"));
        Interrupted { committed, resume: "run the same command with --resume to continue" }.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_reads_as_pythons_timedelta() {
        // str(datetime.timedelta(seconds=...)) for 0, 600, 3723.9, 93784, 200000.
        let got: Vec<String> = [0.0, 600.0, 3723.9, 93784.0, 200000.0].map(timedelta).into();
        assert_eq!(got, ["0:00:00", "0:10:00", "1:02:03", "1 day, 2:03:04", "2 days, 7:33:20"]);
    }

    #[test]
    fn blend_label_loss_is_the_mixed_target_cross_entropy() {
        let logits = tch::Tensor::from_slice(&[2.0f32, 0.5, -1.0, 0.0, 1.0, 3.0]).view([2, 3]);
        let ce = |row: i64, label: usize| -> f64 {
            let r: Vec<f32> = Vec::try_from(logits.get(row)).unwrap();
            let lse = r.iter().map(|v| (*v as f64).exp()).sum::<f64>().ln();
            lse - r[label] as f64
        };
        let y = tch::Tensor::from_slice(&[0i64, 2]);
        let plain = cross_entropy(&logits, &y, &[0, 2], &[None, None]).double_value(&[]);
        assert!((plain - (ce(0, 0) + ce(1, 2)) / 2.0).abs() < 1e-6);
        let mix = [Some(LabelMix { other: 1, weight: 0.75 }), None];
        let mixed = cross_entropy(&logits, &y, &[0, 2], &mix).double_value(&[]);
        let want = (0.75 * ce(0, 0) + 0.25 * ce(0, 1) + ce(1, 2)) / 2.0;
        assert!((mixed - want).abs() < 1e-6, "{mixed} vs {want}");
    }
}
