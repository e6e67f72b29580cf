//! The model's configuration, beside the models: the `model:` section of a pipeline file (also
//! the featurize file's, and what `--model tsm-r50` means), and the `train:` section the
//! optimizer and schedules read. mmaction2 names; [`ModelConfig::spec`] turns the section into the
//! [`ModelSpec`] a [`super::Recognizer`] is built from. The one place model defaults live.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::{ModelKind, ModelSpec, Video3dParams};
use crate::metrics::AverageClips;

/// The model section (mmaction2 `model=dict(backbone=…, cls_head=…)`, flattened).
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `TSM`, `TSN`, `R2Plus1D`, `R3D`, `MC3`, `I3D`, `SlowFast`, `TorchScript` (with `path`);
    /// or a short name `tsm-r50`, `tsm-r18`, `tsn-r50`, `tsn-r18`, `r2plus1d-r18`,
    /// `r2plus1d-r34`, `r3d-r18`, `mc3-r18`, `i3d-r50`, `slowfast-r50` (family and depth, the
    /// `--model` names); or a TorchScript file.
    #[serde(rename = "type")]
    pub kind: ModelType,
    /// ResNet depth: 18 or 50 for TSM/TSN (default 50), 18 or 34 for R2Plus1D (default 18), 18
    /// for R3D/MC3, 50 for I3D and SlowFast; or the short name's.
    pub depth: Option<u32>,
    /// Images per view (TSM/TSN `num_segments`).
    #[serde(default = "eight")]
    pub num_segments: usize,
    /// TSM `shift_div`: 1/shift_div of the channels move each way.
    #[serde(default = "eight")]
    pub shift_div: usize,
    /// Classes of the head (required for TSM/TSN).
    pub num_classes: Option<usize>,
    /// Head dropout before the fc layer while training (default: mmaction2's head configs,
    /// TSMHead 0.5, TSNHead 0.4, I3DHead 0.5 for R2Plus1D).
    pub dropout: Option<f64>,
    /// Std of the fc layer's normal init (default TSMHead 0.001, TSNHead 0.01, torchvision 0.01).
    pub init_std: Option<f64>,
    /// Keep BatchNorm layers in eval mode while training.
    #[serde(default)]
    pub norm_eval: bool,
    /// Freeze the stem and the first N ResNet stages (−1 = none).
    #[serde(default = "minus_one")]
    pub frozen_stages: i64,
    /// `.safetensors` weights to start from (`load_from`), mmaction2 names.
    pub weights: Option<PathBuf>,
    /// TorchScript file for `type: TorchScript`.
    pub path: Option<PathBuf>,
    /// Clip averaging at test time: `prob` (softmax then mean), `score` (mean), `sigmoid` (mean
    /// of sigmoids) or `sigmoid_max` (per-class maximum of sigmoids, PySlowFast Charades).
    /// Default `prob`, or `sigmoid` with `loss: BCELossWithLogits`.
    pub average_clips: Option<AverageClips>,
    /// I3D stem kernel (T, H, W) (mmaction2 `conv1_kernel`, default [5, 7, 7]).
    pub conv1_kernel: Option<[i64; 3]>,
    /// I3D stem temporal stride (`conv1_stride_t`, default 2).
    pub conv1_stride_t: Option<i64>,
    /// I3D first max-pool temporal stride (`pool1_stride_t`, default 2).
    pub pool1_stride_t: Option<i64>,
    /// SlowFast τ (`resample_rate`, default 8): the slow pathway takes one frame in τ.
    pub resample_rate: Option<i64>,
    /// SlowFast α (`speed_ratio`, default 8): the fast pathway's frame rate over the slow one's.
    pub speed_ratio: Option<i64>,
    /// SlowFast β (`channel_ratio`, default 8): slow channels over fast.
    pub channel_ratio: Option<i64>,
    /// The head's training loss (mmaction2 `cls_head.loss_cls.type`): `CrossEntropyLoss`
    /// (single-label, default) or `BCELossWithLogits` (multi-label, alias `BCEWithLogits`).
    #[serde(default)]
    pub loss: Loss,
    /// Modules between backbone and head (mmaction2's `neck`): CDAR's DANN `DomainClassifier`,
    /// trained on two-domain data (`data.train.target`); validation and testing pass the
    /// features through it unchanged.
    pub neck: Option<crate::model::NeckConfig>,
    /// A detection head in place of the classifier: `{type: RoIHead}`, PySlowFast's
    /// `ResNetRoIHead` on R(2+1)D / R3D / MC3 (SEVERE's AVA). Its outputs are per-box sigmoid
    /// probabilities, trained with BCE on them.
    pub head: Option<crate::model::HeadConfig>,
}

/// The head's loss, which also decides single- or multi-label evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum Loss {
    /// Softmax cross-entropy against one label per sample; metrics top1_acc, top5_acc,
    /// mean_class_accuracy.
    #[default]
    #[serde(rename = "CrossEntropyLoss", alias = "CrossEntropy")]
    CrossEntropy,
    /// Mean binary cross-entropy of each class's logit against the sample's many-hot labels
    /// (mmaction2 `BCELossWithLogits`, `F.binary_cross_entropy_with_logits`); metric mAP.
    #[serde(rename = "BCELossWithLogits", alias = "BCEWithLogits")]
    BceWithLogits,
    /// Mean binary cross-entropy of sigmoid probabilities (`nn.BCELoss`), PySlowFast's `bce`:
    /// the loss of a detection head (`head: RoIHead`), whose outputs are probabilities; metric
    /// AVA's frame mAP@0.5.
    #[serde(rename = "BCELoss", alias = "bce")]
    Bce,
}

impl Loss {
    /// Whether samples carry several labels (many-hot targets, mAP).
    pub fn multi_label(self) -> bool {
        matches!(self, Loss::BceWithLogits | Loss::Bce)
    }
}

/// The model's `type:`: a family, a short name, or a TorchScript file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ModelType {
    /// A family or short name.
    Named(ModelName),
    /// Any other string: a TorchScript file (the featurize file's and `--model`'s form).
    File(PathBuf),
}

/// Recognizer families and the short names of their ResNet variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum ModelName {
    /// TSM on ResNet `depth` (mmaction2 `ResNetTSM` + `TSMHead`).
    TSM,
    /// TSN on ResNet `depth` (mmaction2 `ResNet` + `TSNHead`).
    TSN,
    /// R(2+1)D of `depth` 18 (torchvision) or 34 (VMZ).
    R2Plus1D,
    /// R3D-18 (torchvision).
    R3D,
    /// MC3-18 (torchvision).
    MC3,
    /// I3D-R50 (mmaction2 `ResNet3d` + `I3DHead`).
    I3D,
    /// SlowFast-R50 (mmaction2 `ResNet3dSlowFast` + `SlowFastHead`).
    SlowFast,
    /// A TorchScript module at `path`.
    TorchScript,
    /// TSM-R50.
    #[serde(rename = "tsm-r50")]
    TsmR50,
    /// TSM-R18.
    #[serde(rename = "tsm-r18")]
    TsmR18,
    /// TSN-R50.
    #[serde(rename = "tsn-r50")]
    TsnR50,
    /// TSN-R18.
    #[serde(rename = "tsn-r18")]
    TsnR18,
    /// R(2+1)D-18.
    #[serde(rename = "r2plus1d-r18")]
    R2Plus1DR18,
    /// R(2+1)D-34 (VMZ).
    #[serde(rename = "r2plus1d-r34")]
    R2Plus1DR34,
    /// R3D-18.
    #[serde(rename = "r3d-r18")]
    R3DR18,
    /// MC3-18.
    #[serde(rename = "mc3-r18")]
    MC3R18,
    /// I3D-R50.
    #[serde(rename = "i3d-r50")]
    I3DR50,
    /// SlowFast-R50.
    #[serde(rename = "slowfast-r50")]
    SlowFastR50,
}

impl ModelType {
    /// The type a `--model` value names: a family or short name, else a file.
    pub fn from_name(name: &str) -> Self {
        serde_saphyr::from_str::<ModelName>(name).map_or_else(|_| ModelType::File(name.into()), ModelType::Named)
    }
}

fn eight() -> usize {
    8
}
fn minus_one() -> i64 {
    -1
}

impl ModelConfig {
    /// The section `--model NAME` means: a short name (`tsm-r50` …) or a TorchScript file, with
    /// every other key at its default.
    pub fn named(name: &str, num_classes: usize, num_segments: usize, weights: Option<PathBuf>) -> Self {
        ModelConfig {
            kind: ModelType::from_name(name),
            depth: None,
            num_segments,
            shift_div: 8,
            num_classes: Some(num_classes),
            dropout: None,
            init_std: None,
            norm_eval: false,
            frozen_stages: -1,
            weights,
            path: None,
            average_clips: None,
            conv1_kernel: None,
            conv1_stride_t: None,
            pool1_stride_t: None,
            resample_rate: None,
            speed_ratio: None,
            channel_ratio: None,
            loss: Loss::CrossEntropy,
            neck: None,
            head: None,
        }
    }

    /// The built-in family and ResNet depth, or the TorchScript file.
    ///
    /// # Errors
    /// A depth other than 18/50, a depth contradicting the short name, `TorchScript` without
    /// `path`, a `type` that names no family and no existing file.
    fn resolve(&self) -> Result<Result<(ModelKind, u32), &Path>> {
        let (kind, depth) = match &self.kind {
            ModelType::Named(ModelName::TorchScript) => {
                return Ok(Err(self.path.as_deref().context("`model.path` is required for `type: TorchScript`")?));
            }
            ModelType::File(p) if p.is_file() => return Ok(Err(p)),
            ModelType::File(p) => bail!(
                "unknown model {:?}: expected TSM, TSN, R2Plus1D, R3D, MC3, I3D, SlowFast, TorchScript, tsm-r50, tsm-r18, tsn-r50, tsn-r18, r2plus1d-r18, r2plus1d-r34, r3d-r18, mc3-r18, i3d-r50, slowfast-r50 or a TorchScript file",
                p.display().to_string()
            ),
            ModelType::Named(n) => match n {
                ModelName::TSM => (ModelKind::Tsm, None),
                ModelName::TSN => (ModelKind::Tsn, None),
                ModelName::TsmR50 => (ModelKind::Tsm, Some(50)),
                ModelName::TsmR18 => (ModelKind::Tsm, Some(18)),
                ModelName::TsnR50 => (ModelKind::Tsn, Some(50)),
                ModelName::TsnR18 => (ModelKind::Tsn, Some(18)),
                ModelName::R2Plus1D => (ModelKind::R2Plus1D, None),
                ModelName::R2Plus1DR18 => (ModelKind::R2Plus1D, Some(18)),
                ModelName::R2Plus1DR34 => (ModelKind::R2Plus1D, Some(34)),
                ModelName::R3D | ModelName::R3DR18 => (ModelKind::R3D, Some(18)),
                ModelName::MC3 | ModelName::MC3R18 => (ModelKind::MC3, Some(18)),
                ModelName::I3D | ModelName::I3DR50 => (ModelKind::I3D, Some(50)),
                ModelName::SlowFast | ModelName::SlowFastR50 => (ModelKind::SlowFast, Some(50)),
                ModelName::TorchScript => unreachable!("handled above"),
            },
        };
        let (default, allowed) = match kind {
            ModelKind::R2Plus1D => (18, [18, 34]),
            ModelKind::R3D | ModelKind::MC3 => (18, [18, 18]),
            ModelKind::I3D | ModelKind::SlowFast => (50, [50, 50]),
            ModelKind::Tsm | ModelKind::Tsn => (50, [18, 50]),
        };
        let d = match (depth, self.depth) {
            (Some(a), Some(b)) if a != b => bail!("`model.depth` {b} contradicts `type` (depth {a})"),
            (a, b) => b.or(a).unwrap_or(default),
        };
        if !allowed.contains(&d) {
            bail!(
                "`model.depth` must be {} for {}, got {d}",
                if allowed[0] == allowed[1] { allowed[0].to_string() } else { format!("{} or {}", allowed[0], allowed[1]) },
                kind.short_name()
            );
        }
        Ok(Ok((kind, d)))
    }

    /// Checks the section without building a model.
    ///
    /// # Errors
    /// As [`Self::spec`].
    pub fn check(&self) -> Result<()> {
        self.clip_averaging()?;
        self.spec(0).map(drop)
    }

    /// How test views combine: `average_clips`, by default `prob`, or `sigmoid` for a
    /// multi-label loss.
    ///
    /// # Errors
    /// `prob` (a softmax) with `BCELossWithLogits`, whose classes are independent.
    pub fn clip_averaging(&self) -> Result<AverageClips> {
        match (self.average_clips, self.loss) {
            (Some(AverageClips::Prob), Loss::BceWithLogits) => {
                bail!("`model.average_clips: prob` takes a softmax, wrong for `loss: BCELossWithLogits`: use sigmoid or sigmoid_max")
            }
            (Some(a), _) => Ok(a),
            (None, Loss::BceWithLogits) => Ok(AverageClips::Sigmoid),
            (None, Loss::Bce) => Ok(AverageClips::Score),
            (None, Loss::CrossEntropy) => Ok(AverageClips::Prob),
        }
    }

    /// The model to build, with random init drawn from `seed` where no weights are given.
    /// Every number is checked against its range ([`crate::config::limits`]) here, where the
    /// model is built from the file's section and the flags alike.
    ///
    /// # Errors
    /// As `resolve`; no `num_classes` for a built-in model; a number out of its range
    /// (`num_classes` 1..=100000, `num_segments` 1..=1024, `shift_div` 2..=64, `dropout` in
    /// [0, 1), `init_std` ≥ 0, `frozen_stages` −1..=4, temporal strides and SlowFast ratios ≥ 1),
    /// naming the key.
    pub fn spec(&self, seed: u64) -> Result<ModelSpec> {
        use crate::config::limits;
        let num_segments = limits::check("model.num_segments", self.num_segments, limits::NUM_SEGMENTS)? as i64;
        let (kind, depth) = match self.resolve()? {
            Err(file) => return Ok(ModelSpec::TorchScript(file.to_path_buf())),
            Ok(kd) => kd,
        };
        let num_classes =
            limits::check("model.num_classes", self.num_classes.context("`model.num_classes` is required")?, limits::NUM_CLASSES)?;
        let shift_div = limits::check("model.shift_div", self.shift_div, limits::SHIFT_DIV)? as i64;
        let dropout = limits::check_unit_open("model.dropout", self.dropout.unwrap_or(if kind == ModelKind::Tsn { 0.4 } else { 0.5 }))?;
        if let Some(std) = self.init_std {
            limits::check_non_negative("model.init_std", std)?;
        }
        limits::check("model.frozen_stages", self.frozen_stages, limits::FROZEN_STAGES)?;
        for (key, v) in [
            ("conv1_stride_t", self.conv1_stride_t),
            ("pool1_stride_t", self.pool1_stride_t),
            ("resample_rate", self.resample_rate),
            ("speed_ratio", self.speed_ratio),
            ("channel_ratio", self.channel_ratio),
        ] {
            if let Some(v) = v {
                limits::check(&format!("model.{key}"), v, 1..=64)?;
            }
        }
        if let Some(k) = self.conv1_kernel {
            for v in k {
                limits::check("model.conv1_kernel", v, 1..=15)?;
            }
        }
        if let Some(crate::model::NeckConfig::DomainClassifier(n)) = &self.neck {
            n.check(feature_width(kind, depth))?;
        }
        let roi_head = self.head.as_ref().map(|crate::model::HeadConfig::RoIHead(h)| *h);
        if roi_head.is_some() != (self.loss == Loss::Bce) {
            bail!("`model.head: RoIHead` and `model.loss: BCELoss` go together (the head's outputs are probabilities)");
        }
        if let Some(h) = &roi_head {
            h.check()?;
            if kind.video_arch().is_none() {
                bail!("`model.head: RoIHead` sits on R2Plus1D, R3D or MC3, not {}", kind.short_name());
            }
            if self.neck.is_some() {
                bail!("`model.head: RoIHead` takes no `neck`");
            }
        }
        Ok(ModelSpec::BuiltIn {
            kind,
            depth,
            num_classes: num_classes as i64,
            num_segments,
            shift_div,
            weights: self.weights.clone(),
            seed: seed as i64,
            dropout,
            init_std: self.init_std,
            norm_eval: self.norm_eval,
            frozen_stages: self.frozen_stages,
            neck: self.neck.as_ref().map(|crate::model::NeckConfig::DomainClassifier(d)| d.clone()),
            roi_head,
            video: {
                let d = Video3dParams::default();
                Video3dParams {
                    conv1_kernel: self.conv1_kernel.unwrap_or(d.conv1_kernel),
                    conv1_stride_t: self.conv1_stride_t.unwrap_or(d.conv1_stride_t),
                    pool1_stride_t: self.pool1_stride_t.unwrap_or(d.pool1_stride_t),
                    resample_rate: self.resample_rate.unwrap_or(d.resample_rate),
                    speed_ratio: self.speed_ratio.unwrap_or(d.speed_ratio),
                    channel_ratio: self.channel_ratio.unwrap_or(d.channel_ratio),
                }
            },
        })
    }
}

/// The width of a built-in backbone's pooled features: 512 for the 18/34-layer ResNets, 2048
/// for the 50-layer ones, 2304 for SlowFast-R50 (slow 2048 + fast 256).
fn feature_width(kind: ModelKind, depth: u32) -> i64 {
    match (kind, depth) {
        (ModelKind::SlowFast, _) => 2304,
        (_, d) if d >= 50 => 2048,
        _ => 512,
    }
}

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
    /// Save a checkpoint every N epochs (`epoch_N`), or with `checkpoint_by_epoch: false` every N
    /// iterations (`iter_N`, N counted over the whole run; mmengine's `CheckpointHook`).
    #[serde(default = "one")]
    pub checkpoint_interval: usize,
    /// Whether `checkpoint_interval` counts epochs (default) or iterations (mmengine's `by_epoch`).
    #[serde(default = "yes")]
    pub checkpoint_by_epoch: bool,
    /// The validation metric the `best_<metric>_epoch_N` checkpoint follows (mmaction2
    /// `evaluation.save_best`): `top1_acc`, `top5_acc`, `mean_class_accuracy` (CDAR's) or, for a
    /// multi-label head, `mAP`. Default `top1_acc` (`mAP` multi-label).
    pub save_best: Option<String>,
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

/// `fp16: {loss_scale: dynamic}`, `fp16: {loss_scale: 512.0}` or
/// `fp16: {loss_scale: {init_scale: 512.0, growth_interval: 100}}`.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fp16 {
    /// `dynamic` (start at 65536, halve on overflow, double after 2000 good steps), a fixed
    /// scale, or a dynamic scale's settings.
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
    /// A dynamic scale with `torch.cuda.amp.GradScaler`'s arguments (mmcv's
    /// `Fp16OptimizerHook(loss_scale=dict(...))` passes the dict to `GradScaler(**loss_scale)`).
    Settings(DynamicScale),
}

/// `GradScaler`'s arguments, with its defaults.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamicScale {
    /// The first scale (default 65536 = 2¹⁶).
    #[serde(default = "init_scale")]
    pub init_scale: f64,
    /// Factor after `growth_interval` finite steps in a row (default 2).
    #[serde(default = "two")]
    pub growth_factor: f64,
    /// Factor after a step with an inf or NaN gradient (default 0.5).
    #[serde(default = "half")]
    pub backoff_factor: f64,
    /// Finite steps before the scale grows (default 2000).
    #[serde(default = "growth_interval")]
    pub growth_interval: i64,
}

impl Default for DynamicScale {
    fn default() -> Self {
        DynamicScale { init_scale: init_scale(), growth_factor: two(), backoff_factor: half(), growth_interval: growth_interval() }
    }
}

fn init_scale() -> f64 {
    65536.0
}
fn two() -> f64 {
    2.0
}
fn half() -> f64 {
    0.5
}
fn growth_interval() -> i64 {
    2000
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
    /// Scale at all (default true).
    #[serde(default = "yes")]
    pub enable: bool,
    /// The batch size the configured lr is for; lr × batch_size / base_batch_size.
    pub base_batch_size: usize,
}

fn yes() -> bool {
    true
}

impl TrainSection {
    /// Checks every number of the section against its range ([`crate::config::limits`]):
    /// `epochs` 1–100000; `val_interval`, `log_interval`, `checkpoint_interval` ≥ 1 (0 was read
    /// as 1 before: one rule, no silent clamp); `max_keep_ckpts` −1 (all) or ≥ 0; `grad_clip` > 0;
    /// the optimizer's `lr` and `weight_decay` finite and ≥ 0, SGD `momentum` and AdamW `betas`
    /// in [0, 1).
    ///
    /// # Errors
    /// The first number out of range, naming its key under `train`.
    pub fn check(&self) -> Result<()> {
        use crate::config::limits::{check, check_at_least, check_non_negative, check_unit_open};
        check("train.epochs", self.epochs, 1..=100_000)?;
        if let Some(m) = &self.save_best {
            if !["top1_acc", "top5_acc", "mean_class_accuracy", "mAP"].contains(&m.as_str()) {
                anyhow::bail!("`train.save_best` {m:?} is not a metric: top1_acc, top5_acc, mean_class_accuracy or mAP");
            }
        }
        check_at_least("train.val_interval", self.val_interval, 1)?;
        check_at_least("train.log_interval", self.log_interval, 1)?;
        check_at_least("train.checkpoint_interval", self.checkpoint_interval, 1)?;
        check_at_least("train.max_keep_ckpts", self.max_keep_ckpts, -1)?;
        if let Some(g) = self.grad_clip {
            if !(check_non_negative("train.grad_clip", g)? > 0.0) {
                bail!("`train.grad_clip` must be > 0, got {g}");
            }
        }
        match &self.optimizer {
            Optimizer::SGD { lr, momentum, weight_decay, .. } => {
                check_non_negative("train.optimizer.lr", *lr)?;
                check_unit_open("train.optimizer.momentum", *momentum)?;
                check_non_negative("train.optimizer.weight_decay", *weight_decay)?;
            }
            Optimizer::AdamW { lr, weight_decay, betas, .. } => {
                check_non_negative("train.optimizer.lr", *lr)?;
                check_non_negative("train.optimizer.weight_decay", *weight_decay)?;
                for b in betas {
                    check_unit_open("train.optimizer.betas", *b)?;
                }
            }
        }
        Ok(())
    }
}

/// Optimizers with mmaction2's parameter names.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Optimizer {
    /// SGD with momentum; `fc_lr5` gives the fc layer 5× the lr (TSM/TSN `constructor`),
    /// `no_decay_norm_bias` drops weight decay on norm layers and biases.
    SGD {
        /// Base learning rate.
        lr: f64,
        /// Momentum (default 0).
        #[serde(default)]
        momentum: f64,
        /// L2 weight decay (default 0).
        #[serde(default)]
        weight_decay: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// The last fc: weight 5×, bias 10× the lr (TSM's optimizer constructor).
        #[serde(default)]
        fc_lr5: bool,
        /// No weight decay on norm layers and biases.
        #[serde(default)]
        no_decay_norm_bias: bool,
    },
    /// AdamW.
    AdamW {
        /// Base learning rate.
        lr: f64,
        /// Decoupled weight decay (default 0.01).
        #[serde(default = "adamw_decay")]
        weight_decay: f64,
        /// (β1, β2) (default [0.9, 0.999]).
        #[serde(default = "adam_betas")]
        betas: [f64; 2],
        /// No weight decay on norm layers and biases.
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
    /// lr × gamma at each milestone (mmengine's `MultiStepLR`).
    #[serde(alias = "MultiStepLR")]
    MultiStep {
        /// Epochs (or iterations) at which the lr is multiplied by `gamma`, increasing.
        milestones: Vec<usize>,
        /// Factor at each milestone (default 0.1).
        #[serde(default = "tenth")]
        gamma: f64,
        /// Milestones count epochs (default) or iterations.
        #[serde(default = "yes")]
        by_epoch: bool,
    },
    /// Cosine from lr to `eta_min` over the run, or from `begin` over `T_max` (mmengine's
    /// `CosineAnnealingLR`; past `begin + T_max` the cosine goes on, as torch's does).
    #[serde(alias = "CosineAnnealingLR")]
    CosineAnnealing {
        /// Final lr (default 0).
        #[serde(default)]
        eta_min: f64,
        /// The half period in epochs (or iterations without `by_epoch`); default the run.
        #[serde(rename = "T_max", alias = "t_max")]
        t_max: Option<usize>,
        /// Where the cosine starts (default 0): the lr is the base lr before it.
        #[serde(default)]
        begin: usize,
        /// Anneal per epoch (default) or per iteration.
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
    /// Linear warm-up.
    LinearLR {
        /// lr factor at the start (default 1/3).
        #[serde(default = "third")]
        start_factor: f64,
        /// Warm-up length in iterations, or epochs with `by_epoch`.
        length: usize,
        /// `length` counts epochs.
        #[serde(default)]
        by_epoch: bool,
    },
}

fn third() -> f64 {
    1.0 / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> ModelConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn loss_scale_takes_a_number_dynamic_or_grad_scaler_settings() {
        let fp16 = |yaml: &str| serde_saphyr::from_str::<Fp16>(yaml).map(|f| f.loss_scale);
        assert_eq!(fp16("{loss_scale: 512.0}").unwrap(), LossScale::Static(512.0));
        assert_eq!(fp16("{}").unwrap(), LossScale::Dynamic(DynamicName::Dynamic));
        let settings = DynamicScale { init_scale: 1024.0, growth_interval: 10, ..DynamicScale::default() };
        assert_eq!(fp16("{loss_scale: {init_scale: 1024, growth_interval: 10}}").unwrap(), LossScale::Settings(settings));
        assert!(fp16("{loss_scale: {init_scale: 1024, growth: 10}}").is_err(), "unknown keys are refused");
    }

    #[test]
    fn one_rule_for_every_form_and_its_defaults() {
        // The pipeline form, the featurize short name and `--model` agree, TSN dropout included.
        let long = parse("{type: TSN, depth: 18, num_classes: 4}").spec(3).unwrap();
        let short = parse("{type: tsn-r18, num_classes: 4}").spec(3).unwrap();
        let flag = ModelConfig::named("tsn-r18", 4, 8, None).spec(3).unwrap();
        assert_eq!((&long, &short), (&flag, &flag));
        let ModelSpec::BuiltIn { dropout, depth, .. } = flag else { panic!() };
        assert_eq!((dropout, depth), (0.4, 18));
        let ModelSpec::BuiltIn { dropout, depth, .. } = parse("{type: TSM, num_classes: 4}").spec(0).unwrap() else { panic!() };
        assert_eq!((dropout, depth), (0.5, 50));
    }

    #[test]
    fn impossible_sections_are_errors_naming_the_key() {
        let err = |yaml: &str| format!("{:#}", parse(yaml).check().unwrap_err());
        assert!(err("{type: TSM, depth: 34, num_classes: 4}").contains("model.depth"));
        assert!(err("{type: tsm-r18, depth: 50, num_classes: 4}").contains("contradicts"));
        assert!(err("{type: TSM}").contains("model.num_classes"));
        assert!(err("{type: TorchScript}").contains("model.path"));
        assert!(err("{type: tms-r50, num_classes: 4}").contains("unknown model \"tms-r50\""));
    }
}
