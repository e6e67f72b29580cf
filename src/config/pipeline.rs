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
use crate::transform::BuildCtx;

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
    pub model: Option<ModelConfig>,
    /// Optimisation settings (`vpipe run`).
    pub train: Option<TrainSection>,
    /// Folder for logs, checkpoints and predictions.
    pub work_dir: Option<PathBuf>,
    /// Weights to start training from, or to test with `--test-only` (mmaction2's `load_from`;
    /// `vpipe run --load-from` overrides it). Relative to the current directory.
    pub load_from: Option<PathBuf>,
    /// Whether backbone tensors that `load_from` lacks or holds with another shape are an error
    /// (default true; the head may always differ, as when fine-tuning on other classes).
    #[serde(default = "strict_default")]
    pub load_from_strict: bool,
    /// The effective text (the file as written, or with `_base_` and options merged): what a
    /// work dir keeps as `pipeline.yaml`.
    #[serde(skip)]
    #[schemars(skip)]
    pub text: String,
    /// The file this came from and its steps' lines (set by [`Self::load`]), for messages.
    #[serde(skip)]
    #[schemars(skip)]
    pub origin: Option<super::Origin>,
}

fn strict_default() -> bool {
    true
}

/// A data split's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    /// The training split (`data.train`).
    Train,
    /// The validation split (`data.val`).
    Val,
    /// The test split (`data.test`).
    Test,
}

impl SplitName {
    /// The names [`str::parse`] takes, as written in pipeline files.
    pub const NAMES: &'static [&'static str] = &["train", "val", "test"];
}

impl std::str::FromStr for SplitName {
    type Err = String;

    /// `train`, `val` or `test`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "train" => Ok(SplitName::Train),
            "val" => Ok(SplitName::Val),
            "test" => Ok(SplitName::Test),
            _ => Err(format!("unknown split {s:?}: expected train, val or test")),
        }
    }
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
    /// Only in `data.train`: the target domain of two-domain training (CDAR's
    /// `data.train = [source, target]` with its `DomainAdaptationRunner`), a split of its own
    /// (list, pipeline, batch size); the split around it is the source domain. An epoch is one
    /// pass over the source; the target cycles, reshuffled each pass; each step takes one batch
    /// of each, truncated to the smaller. Labels of the target feed only the logged `t_mca`.
    /// Validation and testing (`data.val`, `data.test`) are the target domain's.
    pub target: Option<Box<DataSplit>>,
}

fn eight() -> usize {
    8
}

pub use crate::metrics::AverageClips;
pub use crate::model::{DynamicName, Fp16, LossScale, ModelConfig, ModelType, Optimizer, Schedule, TrainSection, Warmup};

impl PipelineConfig {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// Unreadable file; YAML errors, unknown keys, wrong types, missing keys — with line and column.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, &[])
    }

    /// Reads `path` with its `_base_` files merged under it and `options` (`--cfg-options
    /// KEY=VALUE …`) applied ([`super::compose`]); the result's [`Self::text`] is the effective
    /// file. Errors in a merged file name it as `FILE (merged)`, with the effective text's lines.
    ///
    /// # Errors
    /// As [`Self::load`] and [`super::compose::effective_text`].
    pub fn load_with(path: &Path, options: &[String]) -> Result<Self> {
        let (text, merged) = super::compose::effective_text(path, options)?;
        let shown = if merged { PathBuf::from(format!("{} (merged)", path.display())) } else { path.to_path_buf() };
        let mut cfg: Self = parse_yaml(&text).with_context(|| format!("in pipeline file {}", shown.display()))?;
        cfg.origin = Some(super::Origin::of(&shown, &text));
        cfg.text = text;
        Ok(cfg)
    }

    /// `e`, a problem in split `split`, with the file and line of the step it names (see
    /// [`super::Origin::locate`]); unchanged when the config was not loaded from a file.
    pub fn locate(&self, split: SplitName, e: anyhow::Error) -> anyhow::Error {
        self.locate_key(&format!("{split:?}").to_lowercase(), e)
    }

    /// The runtime parts of split `name`'s pipeline ([`split_pipeline`]), errors located.
    ///
    /// # Errors
    /// As [`split_pipeline`], with file and line.
    pub fn parts(&self, name: SplitName) -> Result<PipelineParts> {
        split_pipeline(&self.split(name)?.pipeline).map_err(|e| self.locate(name, e))
    }

    /// The runtime parts of `data.train.target`'s pipeline, `None` without a target domain.
    ///
    /// # Errors
    /// As [`split_pipeline`], with file and line.
    pub fn target_parts(&self) -> Result<Option<PipelineParts>> {
        let Some(t) = self.data.get(&SplitName::Train).and_then(|s| s.target.as_deref()) else { return Ok(None) };
        split_pipeline(&t.pipeline).map(Some).map_err(|e| self.locate_key("train.target", e))
    }

    /// `e` located in split `key` as written (`train`, `train.target`), with the file and line
    /// of the step it names.
    pub fn locate_key(&self, key: &str, e: anyhow::Error) -> anyhow::Error {
        match &self.origin {
            Some(o) => o.locate(key, e),
            None => e.context(format!("in `data.{key}`")),
        }
    }

    /// Every split with its key as written and its parts: `train`, `train.target`, `val`, `test`.
    ///
    /// # Errors
    /// A `target` outside `data.train` or inside a target; a pipeline that does not split.
    fn all_splits(&self) -> Result<Vec<(String, &DataSplit, PipelineParts)>> {
        let mut out = Vec::new();
        for (name, split) in &self.data {
            let key = format!("{name:?}").to_lowercase();
            if let (Some(_), false) = (&split.target, *name == SplitName::Train) {
                bail!("`data.{key}.target`: a target domain belongs in `data.train` (validation and testing are the target's lists)");
            }
            out.push((key.clone(), split, self.parts(*name)?));
            if let Some(t) = split.target.as_deref() {
                if t.target.is_some() {
                    bail!("`data.{key}.target.target`: two-domain training takes one source and one target");
                }
                out.push((format!("{key}.target"), t, self.target_parts()?.expect("a target split")));
            }
        }
        Ok(out)
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

    /// Checks what parsing cannot: builds every split's pipeline with `ctx` (order, parameter
    /// ranges, absurd sizes; with the engine's context also the `BackgroundBlend` lists and
    /// images), with `paths` that annotation files and roots exist (and their lists parse), and
    /// the model/train sections' ranges. Returns one line per split.
    ///
    /// # Errors
    /// The first problem, naming its key (`data.train.pipeline`, `data.val.source.ann_file`, …)
    /// and, for a pipeline step, its file and line.
    pub fn check(&self, paths: bool, ctx: &BuildCtx) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        if self.data.is_empty() {
            bail!("`data` has no splits (train, val, test)");
        }
        // The model's own numbers first: the labels are checked against its classes below.
        if let Some(m) = &self.model {
            m.check()?;
        }
        for (short, split, parts) in self.all_splits()? {
            let key = format!("data.{short}");
            parts.build_transforms(ctx).map_err(|e| self.locate_key(&short, e))?;
            let spec = split.source.rawframe_spec().with_context(|| format!("in `{key}.source`"))?;
            // Every sample would fail on it: say so now, not at the first sample.
            let channels = if spec.modality == crate::decode::Modality::Flow { 1 } else { 3 };
            parts.normalize.check(channels).map_err(|e| self.locate_key(&short, e))?;
            super::limits::loader_sizes(&key, split.batch_size, split.workers, split.capacity)?;
            let samples = if paths {
                split.source.check_paths().with_context(|| format!("in `{key}.source`"))?;
                let samples = split.source.samples().with_context(|| format!("in `{key}.source`"))?;
                if samples.is_empty() {
                    bail!("`{key}.source` lists no samples: an empty split would train on nothing or validate to a meaningless score");
                }
                // A target domain may hold classes the head does not know (open-set, GCD): its
                // labels only feed the logged t_mca and the clustering metrics.
                if let Some(n) = self.model.as_ref().and_then(|m| m.num_classes).filter(|_| !short.ends_with(".target")) {
                    split.source.check_model_labels(&samples, n).with_context(|| format!("in `{key}.source`"))?;
                }
                format!("{} samples", samples.len())
            } else {
                "paths not checked".to_string()
            };
            lines.push(format!("{key}: {samples}, {} transforms, {:?}, batch {}", parts.transforms.len(), parts.format, split.batch_size));
            if !split.pipeline.iter().any(|s| matches!(s, super::Step::Normalize(_))) {
                let n = &parts.normalize;
                lines.push(format!(
                    "warning: `{key}.pipeline` has no Normalize: the model gets the default mean {:?}, std {:?}; add a Normalize step (or, in an mmaction2 1.x layout, model.data_preprocessor) if the weights expect others",
                    n.mean, n.std
                ));
            }
        }
        if let Some(m) = &self.model {
            let spec = m.spec(0)?;
            for (short, _, parts) in self.all_splits()? {
                spec.check_input(parts.format).with_context(|| format!("in `model` with `data.{short}`"))?;
            }
            if m.neck.is_some() && self.data.get(&SplitName::Train).is_some_and(|s| s.target.is_none()) {
                bail!("`model.neck` (DomainClassifier) needs two-domain training: add `data.train.target`");
            }
        }
        if let Some(t) = &self.train {
            t.check()?;
            if let Some(Schedule::MultiStep { milestones, .. }) = &t.lr_schedule {
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    bail!("`train.lr_schedule.milestones` must increase: {milestones:?}");
                }
            }
        }
        Ok(lines)
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
        assert_eq!(c.model.unwrap().num_classes, Some(101));
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
                c.check(false, &BuildCtx::default()).unwrap_or_else(|e| panic!("{name}: {e:#}"));
                n += 1;
            }
        }
        assert!(n >= 6, "{n} example pipelines");
    }

    #[test]
    fn two_domain_mistakes_name_their_key() {
        let cdar = include_str!("../../pipelines/cdar_mini.yaml");
        let check =
            |text: &str| PipelineConfig::parse(text).unwrap().check(false, &BuildCtx::default()).map(drop).map_err(|e| format!("{e:#}"));
        check(cdar).unwrap();
        // A target domain outside data.train.
        let val_target = cdar.replacen("  val:\n", "  val:\n    target: {source: {type: VideoFolder, root: x}, pipeline: []}\n", 1);
        assert!(check(&val_target).unwrap_err().contains("`data.val.target`"));
        // A DANN neck without a target domain to tell apart.
        let start = cdar.find("    target:\n").unwrap();
        let end = cdar.find("  val:\n").unwrap();
        let no_target = format!("{}{}", &cdar[..start], &cdar[end..]);
        assert!(check(&no_target).unwrap_err().contains("`model.neck` (DomainClassifier) needs two-domain training"));
        // The neck's width must be the backbone's (ResNet-18: 512).
        let e = check(&cdar.replace("in_channels: 512", "in_channels: 2048")).unwrap_err();
        assert!(e.contains("`model.neck.in_channels` is 2048") && e.contains("512"), "{e}");
        // A misspelt RandAugment key is named with its line.
        let e = PipelineConfig::parse(&cdar.replace("num_layers: 4, prob", "num_layer: 4, prob")).unwrap_err().to_string();
        assert!(e.contains("num_layer") && e.contains("line"), "{e}");
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
