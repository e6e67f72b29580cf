//! The `vpipe run` / `check` / `inspect` pipeline file (DESIGN §5): data splits, model, training
//! and work dir, with mmaction2's names.
//!
//! ```yaml
//! seed: 0
//! data:
//!   train:
//!     source: {type: VideoList, ann_file: data/ucf101/ucf101_train_split_1_videos.txt, root: data/ucf101/videos}
//!     pipeline:
//!       - {type: SampleFrames, clip_len: 1, frame_interval: 1, num_clips: 8}
//!       - {type: Decode}
//!       - {type: Resize, scale: [-1, 256]}
//!       - {type: MultiScaleCrop, input_size: 224, scales: [1, 0.875, 0.75, 0.66], num_fixed_crops: 13}
//!       - {type: Resize, scale: [224, 224], keep_ratio: false}
//!       - {type: Flip, flip_ratio: 0.5}
//!       - {type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]}
//!       - {type: FormatShape, input_format: NCHW}
//!     batch_size: 8
//! model: {type: TSM, depth: 50, num_segments: 8, shift_div: 8, num_classes: 101, dropout: 0.5}
//! train: {epochs: 25, optimizer: {type: SGD, lr: 0.0015, momentum: 0.9, weight_decay: 0.0001},
//!         lr_schedule: {type: MultiStep, milestones: [10, 20]}, grad_clip: 20}
//! work_dir: work_dirs/tsm_ucf101
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::{parse_yaml, split_pipeline, PipelineParts, SourceConfig, Step};

/// The whole pipeline file.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Seed of every random draw: sample i of epoch e uses the stream (seed, e, i).
    #[serde(default)]
    pub seed: u64,
    /// Data splits by name: `train`, `val`, `test`.
    pub data: BTreeMap<SplitName, DataSplit>,
    /// The recognizer.
    pub model: Option<ModelSection>,
    /// Optimisation settings (`vpipe run`).
    pub train: Option<TrainSection>,
    /// Folder for logs, checkpoints and predictions.
    pub work_dir: Option<PathBuf>,
    /// The file this came from and its steps' lines (set by [`Self::load`]), for messages.
    #[serde(skip)]
    #[schemars(skip)]
    pub origin: Option<super::Origin>,
}

/// A data split's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, schemars::JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    Train,
    Val,
    Test,
}

/// One split: where its samples come from and how each becomes a model input.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSplit {
    /// The annotation list or folder.
    pub source: SourceConfig,
    /// mmaction2 pipeline steps, in order.
    pub pipeline: Vec<Step>,
    /// Samples per batch.
    #[serde(default = "eight")]
    pub batch_size: usize,
    /// Decode/transform threads (default: cores).
    pub workers: Option<usize>,
    /// Samples in flight between source and model (default: 2 × workers).
    pub capacity: Option<usize>,
}

fn eight() -> usize {
    8
}

/// The model section (mmaction2 `model=dict(backbone=…, cls_head=…)`, flattened).
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// `TSM`, `TSN`, or `TorchScript` (with `path`).
    #[serde(rename = "type")]
    pub kind: ModelType,
    /// ResNet depth: 18 or 50.
    #[serde(default = "fifty")]
    pub depth: u32,
    /// Images per view (TSM/TSN `num_segments`).
    #[serde(default = "eight")]
    pub num_segments: usize,
    /// TSM `shift_div`: 1/shift_div of the channels move each way.
    #[serde(default = "eight")]
    pub shift_div: usize,
    /// Classes of the head.
    pub num_classes: usize,
    /// Head dropout before the fc layer.
    #[serde(default = "half")]
    pub dropout: f64,
    /// Std of the fc layer's normal init (TSMHead 0.001, TSNHead 0.01).
    pub init_std: Option<f64>,
    /// Keep BatchNorm layers in eval mode while training.
    #[serde(default)]
    pub norm_eval: bool,
    /// Freeze the stem and the first N ResNet stages (−1 = none).
    #[serde(default = "minus_one")]
    pub frozen_stages: i64,
    /// `.safetensors` weights to start from (`load_from`).
    pub weights: Option<PathBuf>,
    /// TorchScript file for `type: TorchScript`.
    pub path: Option<PathBuf>,
    /// Clip averaging at test time: `prob` (softmax then mean), `score` (mean), or none.
    pub average_clips: Option<AverageClips>,
}

fn fifty() -> u32 {
    50
}
fn half() -> f64 {
    0.5
}
fn minus_one() -> i64 {
    -1
}

/// Recognizer families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum ModelType {
    TSM,
    TSN,
    TorchScript,
}

pub use crate::metrics::AverageClips;

/// The train section.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Epochs to train.
    pub epochs: usize,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Learning-rate schedule (constant when absent).
    pub lr_schedule: Option<Schedule>,
    /// Linear warm-up before the schedule.
    pub warmup: Option<Warmup>,
    /// Clip gradients to this total L2 norm.
    pub grad_clip: Option<f64>,
    /// Validate every N epochs.
    #[serde(default = "one")]
    pub val_interval: usize,
    /// Log every N iterations.
    #[serde(default = "twenty")]
    pub log_interval: usize,
    /// Save a checkpoint every N epochs.
    #[serde(default = "one")]
    pub checkpoint_interval: usize,
    /// Keep at most this many epoch checkpoints (−1 = all).
    #[serde(default = "minus_one")]
    pub max_keep_ckpts: i64,
    /// Linear scaling rule: lr × (total batch size / base_batch_size).
    pub auto_scale_lr: Option<AutoScaleLr>,
    /// Mixed precision on CUDA (mmaction2 0.x `fp16 = dict(loss_scale=…)`): float16 autocast
    /// forward, scaled loss, unscaled gradients, overflowed steps skipped. On the CPU training runs
    /// in float32 and says so.
    pub fp16: Option<Fp16>,
}

/// `fp16: {loss_scale: dynamic}` or `fp16: {loss_scale: 512.0}`.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fp16 {
    /// `dynamic` (start at 65536, halve on overflow, double after 2000 good steps) or a fixed
    /// scale.
    #[serde(default = "dynamic")]
    pub loss_scale: LossScale,
}

fn dynamic() -> LossScale {
    LossScale::Dynamic(DynamicName::Dynamic)
}

/// A loss scale: fixed number or `dynamic`.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum LossScale {
    /// A fixed scale (mmaction2 `loss_scale=512.`).
    Static(f64),
    /// `dynamic`: GradScaler's adaptive scale.
    Dynamic(DynamicName),
}

/// The only named loss scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicName {
    /// `dynamic`.
    Dynamic,
}

fn one() -> usize {
    1
}
fn twenty() -> usize {
    20
}

/// mmaction2 `auto_scale_lr=dict(enable=True, base_batch_size=…)`.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoScaleLr {
    #[serde(default = "yes")]
    pub enable: bool,
    pub base_batch_size: usize,
}

fn yes() -> bool {
    true
}

/// Optimizers with mmaction2's parameter names.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Optimizer {
    /// SGD with momentum; `fc_lr5` gives the fc layer 5× the lr (TSM/TSN `constructor`),
    /// `no_decay_norm_bias` drops weight decay on norm layers and biases.
    SGD {
        lr: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        weight_decay: f64,
        #[serde(default)]
        nesterov: bool,
        #[serde(default)]
        fc_lr5: bool,
        #[serde(default)]
        no_decay_norm_bias: bool,
    },
    /// AdamW.
    AdamW {
        lr: f64,
        #[serde(default = "adamw_decay")]
        weight_decay: f64,
        #[serde(default = "adam_betas")]
        betas: [f64; 2],
        #[serde(default)]
        no_decay_norm_bias: bool,
    },
}

fn adamw_decay() -> f64 {
    0.01
}
fn adam_betas() -> [f64; 2] {
    [0.9, 0.999]
}

/// Learning-rate schedules (mmengine names).
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Schedule {
    /// lr × gamma at each milestone.
    MultiStep {
        milestones: Vec<usize>,
        #[serde(default = "tenth")]
        gamma: f64,
        #[serde(default = "yes")]
        by_epoch: bool,
    },
    /// Cosine from lr to `eta_min` over the run.
    CosineAnnealing {
        #[serde(default)]
        eta_min: f64,
        #[serde(default = "yes")]
        by_epoch: bool,
    },
}

fn tenth() -> f64 {
    0.1
}

/// mmengine `LinearLR` warm-up: lr × start_factor rising linearly to lr over `length` units.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Warmup {
    LinearLR {
        #[serde(default = "third")]
        start_factor: f64,
        length: usize,
        #[serde(default)]
        by_epoch: bool,
    },
}

fn third() -> f64 {
    1.0 / 3.0
}

impl PipelineConfig {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// Unreadable file; YAML errors, unknown keys, wrong types, missing keys — with line and column.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut cfg: Self = parse_yaml(&text).with_context(|| format!("in pipeline file {}", path.display()))?;
        cfg.origin = Some(super::Origin::of(path, &text));
        Ok(cfg)
    }

    /// `e`, a problem in split `split`, with the file and line of the step it names (see
    /// [`super::Origin::locate`]); unchanged when the config was not loaded from a file.
    pub fn locate(&self, split: SplitName, e: anyhow::Error) -> anyhow::Error {
        let key = format!("{split:?}").to_lowercase();
        match &self.origin {
            Some(o) => o.locate(&key, e),
            None => e.context(format!("in `data.{key}`")),
        }
    }

    /// The runtime parts of split `name`'s pipeline ([`split_pipeline`]), errors located.
    ///
    /// # Errors
    /// As [`split_pipeline`], with file and line.
    pub fn parts(&self, name: SplitName) -> Result<PipelineParts> {
        split_pipeline(&self.split(name)?.pipeline).map_err(|e| self.locate(name, e))
    }

    /// Parses YAML text.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn parse(text: &str) -> Result<Self> {
        parse_yaml(text)
    }

    /// The split `name`.
    ///
    /// # Errors
    /// The file has no such split (the message lists those it has).
    pub fn split(&self, name: SplitName) -> Result<&DataSplit> {
        self.data
            .get(&name)
            .with_context(|| format!("no `data.{name:?}` split in the pipeline (it has {:?})", self.data.keys().collect::<Vec<_>>()))
    }

    /// Checks what parsing cannot: every split's pipeline order and parameters, with `paths` that
    /// annotation files and roots exist (and their lists parse), and the model/train sections'
    /// ranges. Returns one line per split.
    ///
    /// # Errors
    /// The first problem, naming its key (`data.train.pipeline`, `data.val.source.ann_file`, …).
    pub fn check(&self, paths: bool) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        if self.data.is_empty() {
            bail!("`data` has no splits (train, val, test)");
        }
        for (name, split) in &self.data {
            let key = format!("data.{}", format!("{name:?}").to_lowercase());
            let parts: PipelineParts = self.parts(*name)?;
            if paths {
                self.check_backgrounds(*name, split)?;
            }
            split.source.rawframe_spec().with_context(|| format!("in `{key}.source`"))?;
            if split.batch_size == 0 {
                bail!("`{key}.batch_size` must be ≥ 1");
            }
            let samples = if paths {
                split.source.check_paths().with_context(|| format!("in `{key}.source`"))?;
                format!("{} samples", split.source.samples().with_context(|| format!("in `{key}.source`"))?.len())
            } else {
                "paths not checked".to_string()
            };
            lines.push(format!("{key}: {samples}, {} transforms, {:?}, batch {}", parts.transforms.len(), parts.format, split.batch_size));
        }
        if let Some(m) = &self.model {
            if m.kind != ModelType::TorchScript && ![18, 50].contains(&m.depth) {
                bail!("`model.depth` must be 18 or 50, got {}", m.depth);
            }
            if m.kind == ModelType::TorchScript && m.path.is_none() {
                bail!("`model.path` is required for `type: TorchScript`");
            }
        }
        if let Some(t) = &self.train {
            if let Some(Schedule::MultiStep { milestones, .. }) = &t.lr_schedule {
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    bail!("`train.lr_schedule.milestones` must increase: {milestones:?}");
                }
            }
        }
        Ok(lines)
    }
}

impl PipelineConfig {
    /// Builds every `BackgroundBlend` background list of `split` now, so that a missing list or
    /// background image fails `vpipe check` instead of the first sample that draws it.
    fn check_backgrounds(&self, name: SplitName, split: &DataSplit) -> Result<()> {
        for (i, step) in split.pipeline.iter().enumerate() {
            if let Some(crate::transform::Transform::BackgroundBlend(b)) = step.transform() {
                b.background_list()
                    .map(drop)
                    .map_err(|e| self.locate(name, e.context(super::StepAt { step: i, name: "BackgroundBlend".into() })))?;
            }
        }
        Ok(())
    }
}

/// The JSON Schema (draft 2020-12) of [`PipelineConfig`], as in `schemas/pipeline.schema.json`.
pub fn pipeline_schema() -> String {
    let schema = schemars::schema_for!(PipelineConfig);
    serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSM: &str = include_str!("../../pipelines/tsm_r50_ucf101.yaml");

    #[test]
    fn design_example_parses() {
        let c = PipelineConfig::parse(TSM).unwrap();
        let train = c.split(SplitName::Train).unwrap();
        assert_eq!(train.batch_size, 8);
        let parts = split_pipeline(&train.pipeline).unwrap();
        assert_eq!(parts.transforms.len(), 4);
        assert_eq!(c.model.unwrap().num_classes, 101);
        assert!(matches!(c.train.unwrap().optimizer, Optimizer::SGD { fc_lr5: true, .. }));
    }

    #[test]
    fn misspelled_transform_parameter_names_line_and_suggests() {
        let bad = TSM.replace("flip_ratio: 0.5", "flip_ration: 0.5");
        let line = bad.lines().position(|l| l.contains("flip_ration")).unwrap() + 1;
        let e = PipelineConfig::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("unknown field `flip_ration`") && e.contains("flip_ratio") && e.contains(&format!("line {line}")), "{e}");
    }

    #[test]
    fn missing_required_key_and_wrong_type_are_named() {
        let e = PipelineConfig::parse("data:\n  train:\n    pipeline: []\n").unwrap_err().to_string();
        assert!(e.contains("source"), "{e}");
        let e = PipelineConfig::parse(&TSM.replace("batch_size: 8", "batch_size: eight")).unwrap_err().to_string();
        assert!(e.contains("batch_size") || e.contains("line"), "{e}");
        let e = PipelineConfig::parse(&TSM.replace("type: SampleFrames", "type: SampleFrame")).unwrap_err().to_string();
        assert!(e.contains("SampleFrame") && e.contains("SampleFrames"), "{e}");
    }

    #[test]
    fn every_example_pipeline_checks() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && !name.starts_with("featurize") {
                let c = PipelineConfig::load(&p).unwrap_or_else(|e| panic!("{name}: {e:#}"));
                c.check(false).unwrap_or_else(|e| panic!("{name}: {e:#}"));
                n += 1;
            }
        }
        assert!(n >= 6, "{n} example pipelines");
    }

    #[test]
    fn committed_schema_is_current() {
        let committed = include_str!("../../schemas/pipeline.schema.json");
        assert!(
            committed == pipeline_schema(),
            "schemas/pipeline.schema.json is stale: run `vpipe check --print-schema > schemas/pipeline.schema.json`"
        );
    }
}
