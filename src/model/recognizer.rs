//! Recognisers: backbone + head, or a TorchScript module, mapping a batch of views to per-view
//! logits and features.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use tch::{nn, IValue, Kind, Tensor};

use super::{DomainClassifier, DomainLoss, PathwayConfig, ResNet, ResNet3d, SlowFast, VideoArch, VideoResNet};

/// Which built-in architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// TSM (`Recognizer2D` + `ResNetTSM` + `TSMHead`): temporal shift in every residual branch;
    /// logits of the `num_segments` images of a view are averaged (logit consensus).
    Tsm,
    /// TSN (`Recognizer2D` + `ResNet` + `TSNHead`): features of the view's images are averaged, then
    /// one fc.
    Tsn,
    /// R(2+1)D (torchvision `VideoResNet` names, depth 18 or 34): one NCTHW clip per view,
    /// pooled features, dropout, `fc`.
    R2Plus1D,
    /// R3D-18 (torchvision `r3d_18`: 3×3×3 convs), as R(2+1)D otherwise.
    R3D,
    /// MC3-18 (torchvision `mc3_18`: 3D convs in layer1, 2D in layers 2–4), as R(2+1)D otherwise.
    MC3,
    /// I3D (`Recognizer3D` + `ResNet3d` R50 + `I3DHead`): one NCTHW clip per view, pooled
    /// 2048 features, dropout, `cls_head.fc_cls`.
    I3D,
    /// SlowFast (`Recognizer3D` + `ResNet3dSlowFast` R50 + `SlowFastHead`): one NCTHW clip per
    /// view, split into the two pathways inside; pooled 2304 features, dropout, `cls_head.fc_cls`.
    SlowFast,
}

/// Settings of mmaction2's 3D ResNets (I3D: the stem; SlowFast: τ, α, β); other models ignore
/// them. Defaults are mmaction2's `i3d_r50.py` and `slowfast_r50.py`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Video3dParams {
    /// I3D stem kernel (T, H, W).
    pub conv1_kernel: [i64; 3],
    /// I3D stem temporal stride.
    pub conv1_stride_t: i64,
    /// I3D first max-pool's temporal stride.
    pub pool1_stride_t: i64,
    /// SlowFast τ: the slow pathway takes one frame in `resample_rate`.
    pub resample_rate: i64,
    /// SlowFast α: fast frame rate over slow.
    pub speed_ratio: i64,
    /// SlowFast β: slow channels over fast.
    pub channel_ratio: i64,
}

impl Default for Video3dParams {
    fn default() -> Self {
        Video3dParams { conv1_kernel: [5, 7, 7], conv1_stride_t: 2, pool1_stride_t: 2, resample_rate: 8, speed_ratio: 8, channel_ratio: 8 }
    }
}

impl ModelKind {
    /// The short family name used in `--model` names and metadata (`tsm`, `tsn`, `r2plus1d`).
    pub fn short_name(self) -> &'static str {
        match self {
            ModelKind::Tsm => "tsm",
            ModelKind::Tsn => "tsn",
            ModelKind::R2Plus1D => "r2plus1d",
            ModelKind::R3D => "r3d",
            ModelKind::MC3 => "mc3",
            ModelKind::I3D => "i3d",
            ModelKind::SlowFast => "slowfast",
        }
    }

    /// Whether the model takes NCTHW clips (3D) rather than NCHW images.
    pub fn is_3d(self) -> bool {
        !matches!(self, ModelKind::Tsm | ModelKind::Tsn)
    }

    /// The torchvision video-ResNet family of the kind, if it is one.
    pub(crate) fn video_arch(self) -> Option<VideoArch> {
        match self {
            ModelKind::R2Plus1D => Some(VideoArch::R2Plus1D),
            ModelKind::R3D => Some(VideoArch::R3D),
            ModelKind::MC3 => Some(VideoArch::MC3),
            _ => None,
        }
    }
}

/// What model to build: a built-in architecture, or a TorchScript file.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    /// Built-in TSM/TSN with ResNet `depth` (18 or 50), or R(2+1)D of depth 18 or 34.
    BuiltIn {
        /// The architecture.
        kind: ModelKind,
        /// ResNet depth (18/50 TSM/TSN, 18/34 R(2+1)D, 18 R3D/MC3, 50 I3D/SlowFast).
        depth: u32,
        /// Classes of the head (logits per view).
        num_classes: i64,
        /// Images per view (`num_segments`; TSM shifts across them).
        num_segments: i64,
        /// TSM `shift_div` (1/shift_div of the channels shift each way).
        shift_div: i64,
        /// `.safetensors` with the source's names; `None` = random init from `seed`.
        weights: Option<PathBuf>,
        /// Seed of the random init.
        seed: i64,
        /// Head dropout before fc while training (TSMHead config 0.5, TSNHead 0.4).
        dropout: f64,
        /// Std of the fc init; `None` = the head's default (TSM 0.001, TSN 0.01).
        init_std: Option<f64>,
        /// BatchNorms in eval mode while training.
        norm_eval: bool,
        /// Stem and `layer1..=frozen_stages` not trained (−1: none).
        frozen_stages: i64,
        /// I3D / SlowFast settings.
        video: Video3dParams,
        /// CDAR's DANN domain classifier on the clip features (trained with two-domain data).
        neck: Option<crate::model::DomainClassifierConfig>,
        /// PySlowFast's `ResNetRoIHead` in place of the classifier (video ResNets only): the
        /// model then scores boxes ([`Recognizer::forward_rois_t`]).
        roi_head: Option<crate::model::RoiHeadConfig>,
    },
    /// A TorchScript module (`torch.jit.save`): takes the batch as one tensor (NCHW
    /// `(B·M, C, H, W)` or NCTHW `(B·V, C, L, H, W)`) and returns logits `(B·V, num_classes)`, or a
    /// tuple `(logits, features)` with features `(B·V, D)`.
    TorchScript(PathBuf),
}

impl ModelSpec {
    /// The `FormatShape` layout a built-in model takes (NCHW for TSM/TSN, NCTHW for R(2+1)D);
    /// `None` for TorchScript, which takes whatever its author wrote.
    pub fn input_format(&self) -> Option<crate::transform::InputFormat> {
        match self {
            ModelSpec::BuiltIn { kind, .. } if kind.is_3d() => Some(crate::transform::InputFormat::NCTHW),
            ModelSpec::BuiltIn { .. } => Some(crate::transform::InputFormat::NCHW),
            ModelSpec::TorchScript(_) => None,
        }
    }

    /// Checks that the pipeline's `FormatShape` is the layout the model takes.
    ///
    /// # Errors
    /// Another layout (the message names both).
    pub fn check_input(&self, format: crate::transform::InputFormat) -> anyhow::Result<()> {
        use crate::transform::InputFormat::{NCHW, NCTHW, TCNHW};
        // A 2D recogniser also takes clips, their frames as its images (CDAR's Recognizer2D: an
        // 8-frame NCTHW source clip meets 8 TCNHW target segments); TCNHW is a clip layout.
        let also = match self {
            ModelSpec::BuiltIn { kind, .. } if kind.is_3d() => format == TCNHW,
            ModelSpec::BuiltIn { .. } => matches!(format, NCTHW | TCNHW),
            ModelSpec::TorchScript(_) => true,
        };
        match self.input_format() {
            Some(want) if want != format && !(also && format != NCHW) => {
                bail!("{} takes FormatShape {want:?} input, the pipeline makes {format:?}", self.describe())
            }
            _ => Ok(()),
        }
    }

    /// Checks one sample's tensor shape (`[images, C, H, W]` for NCHW, `[views, C, T, H, W]` for
    /// NCTHW) against what [`Recognizer::forward`] takes: TSM cuts the images into views of
    /// `num_segments`, TSN averages however many there are, a 3D model takes clips. What
    /// `vpipe check` asks of the first sample of each split.
    ///
    /// # Errors
    /// A TSM sample whose images are not a multiple of `num_segments`; a 3D model given images,
    /// a 2D one given clips; a sample of no images.
    pub fn check_input_shape(&self, shape: &[usize]) -> anyhow::Result<()> {
        let ModelSpec::BuiltIn { kind, num_segments, .. } = self else { return Ok(()) };
        // A 2D model takes a clip's frames as images.
        let images = shape.first().copied().unwrap_or(0) * if !kind.is_3d() && shape.len() == 5 { shape[2] } else { 1 };
        let fits = if kind.is_3d() { shape.len() == 5 } else { matches!(shape.len(), 4 | 5) };
        if !fits || images == 0 {
            let dims = if kind.is_3d() { "5-D" } else { "4-D (or 5-D clip)" };
            bail!("{} takes {dims} samples of at least one image or clip, the pipeline makes {shape:?}", kind.short_name());
        }
        if *kind == ModelKind::Tsm && images % (*num_segments as usize).max(1) != 0 {
            bail!("{images} images per sample is not a multiple of the model's num_segments = {num_segments}");
        }
        Ok(())
    }

    /// A short description for metadata and logs, e.g. `tsm-r50` or `torchscript:model.pt`.
    pub fn describe(&self) -> String {
        match self {
            ModelSpec::BuiltIn { kind, depth, weights, .. } => {
                let w = weights.as_ref().map_or("random-init".to_string(), |p| p.display().to_string());
                format!("{}-r{depth} ({w})", kind.short_name())
            }
            ModelSpec::TorchScript(p) => format!("torchscript:{}", p.display()),
        }
    }
}

/// How many of a batch's `rows` output rows (views) belong to each sample, given each sample's
/// images (the first dimension of its tensor): in proportion to them, in batch order — a 2D
/// recogniser turns each run of `num_segments` images into one view, a 3D one each clip.
///
/// # Errors
/// No rows, or rows that do not divide into whole views per sample.
pub fn views_per_sample(rows: usize, images: &[usize]) -> Result<Vec<usize>> {
    let total: usize = images.iter().sum();
    let whole = |m: &usize| (rows * m) % total.max(1) == 0;
    if rows == 0 || total == 0 || !images.iter().all(whole) {
        bail!("model returned {rows} rows for {total} images {images:?}: not a whole number of views per sample");
    }
    Ok(images.iter().map(|m| rows * m / total).collect())
}

/// Per-view outputs of one forward pass.
#[derive(Debug)]
pub struct Output {
    /// (V, num_classes) float32 logits, one row per view (before softmax / clip averaging).
    pub logits: Tensor,
    /// (V, D) float32 pooled backbone features (mean over the view's images), when the model
    /// provides them.
    pub features: Option<Tensor>,
    /// Per sample of the batch, its views (rows of `logits`), in batch order.
    pub views: Vec<usize>,
}

/// A built-in backbone: 2D ResNet (TSM/TSN, images) or R(2+1)D (clips).
enum Backbone {
    ResNet(ResNet),
    VideoResNet(VideoResNet),
    ResNet3d(ResNet3d),
    SlowFast(SlowFast),
}

impl Backbone {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Backbone::ResNet(b) => b.forward(x, train),
            Backbone::VideoResNet(b) => b.forward(x, train),
            Backbone::ResNet3d(b) => b.forward(x, train),
            Backbone::SlowFast(b) => b.forward(x, train),
        }
    }

    /// Builds `kind`'s backbone under its source's names; returns it, its feature width and the
    /// fc's path.
    fn build<'a>(vs: &'a nn::VarStore, spec: &ModelSpec) -> Result<(Self, i64, nn::Path<'a>)> {
        let ModelSpec::BuiltIn { kind, depth, num_segments, shift_div, norm_eval, frozen_stages, video, .. } = spec else {
            bail!("not a built-in model");
        };
        let (root, head) = (vs.root() / "backbone", vs.root() / "cls_head" / "fc_cls");
        if matches!(kind, ModelKind::I3D | ModelKind::SlowFast) && *depth != 50 {
            bail!("{} is built with depth 50 only, got {depth}", kind.short_name());
        }
        Ok(match kind {
            ModelKind::Tsm | ModelKind::Tsn => {
                let tsm = (*kind == ModelKind::Tsm).then_some((*num_segments, *shift_div));
                let mut b = ResNet::new(&root, *depth, tsm)?;
                (b.norm_eval, b.frozen_stages) = (*norm_eval, *frozen_stages);
                let w = b.out_channels;
                (Backbone::ResNet(b), w, head)
            }
            ModelKind::R2Plus1D | ModelKind::R3D | ModelKind::MC3 => {
                let arch = kind.video_arch().expect("a video ResNet");
                let mut b = VideoResNet::new(&vs.root(), arch, *depth)?;
                (b.norm_eval, b.frozen_stages) = (*norm_eval, *frozen_stages);
                let w = b.out_channels;
                (Backbone::VideoResNet(b), w, vs.root() / "fc")
            }
            ModelKind::I3D => {
                let cfg = PathwayConfig::i3d(video.conv1_kernel, video.conv1_stride_t, video.pool1_stride_t);
                let mut b = ResNet3d::new(&root, cfg, false);
                (b.norm_eval, b.frozen_stages) = (*norm_eval, *frozen_stages);
                let w = b.out_channels;
                (Backbone::ResNet3d(b), w, head)
            }
            ModelKind::SlowFast => {
                let mut b = SlowFast::new(&root, video.resample_rate, video.speed_ratio, video.channel_ratio);
                b.set_norms(*norm_eval, *frozen_stages);
                let w = b.out_channels;
                (Backbone::SlowFast(b), w, head)
            }
        })
    }
}

enum Net {
    BuiltIn {
        backbone: Backbone,
        fc: nn::Linear,
        kind: ModelKind,
        num_segments: i64,
        dropout: f64,
        neck: Option<DomainClassifier>,
        roi_head: Option<crate::model::RoiHeadConfig>,
    },
    /// The module and whether it is in train mode (switched per call: `set_train` needs `&mut`).
    Script(Mutex<(tch::CModule, bool)>),
}

/// A model ready for inference on one device.
pub struct Recognizer {
    net: Net,
    vs: Option<nn::VarStore>,
    device: tch::Device,
}

impl Recognizer {
    /// Builds (and loads) the model on `device`.
    ///
    /// # Errors
    /// Unsupported depth; a weights file that is missing, unreadable, or lacks a parameter (the
    /// message names it); a TorchScript file that does not load.
    pub fn new(spec: &ModelSpec, device: tch::Device) -> Result<Self> {
        let mut r = Self::build(spec, device)?;
        if let Some(vs) = r.vs.as_mut() {
            vs.freeze();
        }
        Ok(r)
    }

    /// Builds the model for training: parameters require gradients except those of frozen stages
    /// (a TorchScript module's parameters keep the `requires_grad` they were saved with).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn trainable(spec: &ModelSpec, device: tch::Device) -> Result<Self> {
        let r = Self::build(spec, device)?;
        if let (ModelSpec::BuiltIn { frozen_stages, .. }, Some(vs)) = (spec, r.vs.as_ref()) {
            for (name, t) in vs.variables() {
                if is_frozen(&name, *frozen_stages) {
                    let _ = t.set_requires_grad(false);
                }
            }
        }
        Ok(r)
    }

    fn build(spec: &ModelSpec, device: tch::Device) -> Result<Self> {
        match spec {
            ModelSpec::BuiltIn { kind, num_classes, num_segments, weights, seed, dropout, init_std, neck, roi_head, .. } => {
                // Initialised on the CPU and then moved: one seed gives the same weights on every
                // device (CUDA's generator draws other numbers).
                tch::manual_seed(*seed);
                let mut vs = nn::VarStore::new(tch::Device::Cpu);
                // Each family keeps its source's names: mmaction2 `backbone.` + `cls_head.fc_cls`,
                // torchvision's root-level layers + `fc` for R(2+1)D.
                let (backbone, width, fc_path) = Backbone::build(&vs, spec)?;
                // PySlowFast's ResNetRoIHead names its linear layer `head.projection`.
                let fc_path = if roi_head.is_some() { vs.root() / "head" / "projection" } else { fc_path };
                // fc ~ N(0, init_std), bias 0: mmaction2 TSMHead 0.001, TSNHead 0.01; torchvision
                // VideoResNet 0.01.
                let std = init_std.unwrap_or(if *kind == ModelKind::Tsm { 0.001 } else { 0.01 });
                let cfg = nn::LinearConfig {
                    ws_init: nn::Init::Randn { mean: 0.0, stdev: std },
                    bs_init: Some(nn::Init::Const(0.0)),
                    bias: true,
                };
                let fc = nn::linear(fc_path, width, *num_classes, cfg);
                let neck = match neck {
                    Some(n) => {
                        n.check(width)?;
                        Some(DomainClassifier::new(&(vs.root() / "neck"), n))
                    }
                    None => None,
                };
                if let Some(w) = weights {
                    load_vars(&vs, w)?.complete(w)?;
                }
                vs.set_device(device);
                let net =
                    Net::BuiltIn { backbone, fc, kind: *kind, num_segments: *num_segments, dropout: *dropout, neck, roi_head: *roi_head };
                Ok(Recognizer { net, vs: Some(vs), device })
            }
            ModelSpec::TorchScript(path) => {
                let mut m =
                    tch::CModule::load_on_device(path, device).with_context(|| format!("loading TorchScript module {}", path.display()))?;
                m.set_eval();
                Ok(Recognizer { net: Net::Script(Mutex::new((m, false))), vs: None, device })
            }
        }
    }

    /// The file extension of [`Self::save`]'s checkpoints: `safetensors` for built-in models
    /// (parameters and BatchNorm statistics under mmaction2 names), `pt` for TorchScript (the whole
    /// module, buffers included, loadable by `torch.jit.load` and `--model`).
    pub fn checkpoint_ext(&self) -> &'static str {
        match self.net {
            Net::BuiltIn { .. } => "safetensors",
            Net::Script(_) => "pt",
        }
    }

    /// Saves the weights to `path`: a built-in model's parameters and buffers as `.safetensors`
    /// under mmaction2's names (what `--weights` loads), a TorchScript module with `torch.jit.save`'s
    /// format.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        match (&self.net, &self.vs) {
            (Net::Script(m), _) => m.lock().expect("model lock").0.save(path),
            (_, Some(vs)) => vs.save(path),
            (_, None) => unreachable!("built-in models have a VarStore"),
        }
        .map_err(|e| anyhow!("saving weights {}: {e}", path.display()))
    }

    /// The trainable tensors by name: a built-in model's parameters and buffers (mmaction2 names;
    /// frozen ones and buffers do not require grad), or a TorchScript module's `named_parameters`
    /// (`backbone.conv.weight`, …).
    ///
    /// # Errors
    /// libtorch fails to list a TorchScript module's parameters.
    pub fn parameters(&self) -> Result<HashMap<String, Tensor>> {
        match (&self.net, &self.vs) {
            (Net::Script(m), _) => Ok(m.lock().expect("model lock").0.named_parameters()?.into_iter().collect()),
            (_, Some(vs)) => Ok(vs.variables()),
            (_, None) => unreachable!("built-in models have a VarStore"),
        }
    }

    /// The parameters and buffers of a built-in model (mmaction2 names), `None` for TorchScript.
    pub fn var_store(&self) -> Option<&nn::VarStore> {
        self.vs.as_ref()
    }

    /// Loads weights in place. Built-in models: `.safetensors` with every parameter present
    /// under its name or an alias ([`weights_names`]) and of its shape.
    /// TorchScript: a `.pt` module replaces the current one (its train/eval mode kept), a
    /// `.safetensors` file must name every parameter. Tensors handed out earlier by
    /// [`Self::parameters`] stay valid for `.safetensors`, not for a replaced `.pt` module.
    ///
    /// # Errors
    /// A missing/unreadable file, or parameters missing or of another shape (the message names
    /// the file, how many, and the first of them with both shapes).
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let ctx = |e: tch::TchError| anyhow!("loading weights {}: {e}", path.display());
        match (&mut self.net, &mut self.vs) {
            (Net::Script(m), _) if path.extension().is_some_and(|e| e == "pt") => {
                let mut new = tch::CModule::load_on_device(path, self.device).map_err(ctx)?;
                let (module, train) = &mut *m.lock().expect("model lock");
                if *train {
                    new.set_train();
                } else {
                    new.set_eval();
                }
                *module = new;
                Ok(())
            }
            (Net::Script(m), _) => {
                let named = m.lock().expect("model lock").0.named_parameters().map_err(ctx)?;
                let file: HashMap<String, Tensor> = Tensor::read_safetensors(path).map_err(ctx)?.into_iter().collect();
                let _g = tch::no_grad_guard();
                for (name, mut t) in named {
                    let src = file.get(&name).with_context(|| format!("{}: no tensor {name:?}", path.display()))?;
                    t.f_copy_(src).map_err(ctx)?;
                }
                Ok(())
            }
            (_, Some(vs)) => load_vars(vs, path)?.complete(path),
            (_, None) => unreachable!("built-in models have a VarStore"),
        }
    }

    /// Loads the tensors of a `.safetensors` file whose name and shape match the model's, as
    /// mmaction2's `load_from` (`load_checkpoint(strict=False)`) does: fine-tuning from a
    /// checkpoint with another head (Kinetics-400 → UCF101) keeps the head's initialisation.
    /// Names are matched as [`weights_names`] says (a TSM loads a TSN or ImageNet ResNet's
    /// unshifted convs, and mmaction2 1.x's names). The report says what was loaded, what was
    /// not and why.
    ///
    /// # Errors
    /// An unreadable file; no tensor matched at all (another architecture); a TorchScript model
    /// (use [`Self::load`]).
    pub fn load_matching(&mut self, path: &Path) -> Result<LoadReport> {
        let vs = self.vs.as_ref().with_context(|| format!("{}: partial loading is for built-in models", path.display()))?;
        let report = load_vars(vs, path)?;
        if report.loaded.is_empty() {
            bail!("{}: no tensor matches the model's names and shapes (another architecture?)", path.display());
        }
        Ok(report)
    }

    /// A 2D recogniser's (TSM, TSN) view of clips `x` `(V, C, T, H, W)` whose samples have
    /// `images` clips: their frames as images `(V·T, C, H, W)`, each sample's count times T
    /// (CDAR's Recognizer2D: `b n c t h w -> (b n t) c h w`). Other inputs and models: as given.
    pub fn as_images(&self, x: &Tensor, images: &[usize]) -> (Tensor, Vec<usize>) {
        match &self.net {
            Net::BuiltIn { kind, .. } if !kind.is_3d() && x.dim() == 5 => {
                let size = x.size();
                let frames = x.permute([0, 2, 1, 3, 4]).reshape([size[0] * size[2], size[1], size[3], size[4]]);
                (frames, images.iter().map(|m| m * size[2] as usize).collect())
            }
            _ => (x.shallow_clone(), images.to_vec()),
        }
    }

    /// Whether the model has a domain classifier neck ([`Self::domain_loss`]).
    pub fn has_domain_classifier(&self) -> bool {
        matches!(&self.net, Net::BuiltIn { neck: Some(_), .. })
    }

    /// CDAR's DANN losses of one training batch: the domain classifier ([`DomainClassifier`]) on
    /// clip features `(N, D)` ([`Output::features`], one row per view) of samples whose domain
    /// is `is_source` (one flag per row), through gradient reversal when `reverse` (training
    /// always reverses; `false` gives the plain classifier's gradient, to compare). `None`
    /// without a neck.
    ///
    /// # Errors
    /// Flags and rows disagree.
    pub fn domain_loss(&self, features: &Tensor, is_source: &[bool], reverse: bool) -> Result<Option<DomainLoss>> {
        match &self.net {
            Net::BuiltIn { neck: Some(n), .. } => n.loss(features, is_source, reverse).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether the model has a detection head ([`Self::forward_rois_t`]).
    pub fn has_roi_head(&self) -> bool {
        matches!(&self.net, Net::BuiltIn { roi_head: Some(_), .. })
    }

    /// The detection head's scores of boxes `rois` `(K, 5)` (`[batch_index, x1, y1, x2, y2]` in
    /// input pixels, [`crate::graph::Batch::rois`]) in clips `x` `(B, 3, T, H, W)`: per box the
    /// `num_classes` sigmoid probabilities, as PySlowFast's `ResNetRoIHead` (it applies the
    /// sigmoid in training too, and trains with BCE on the probabilities). `boxes` gives each
    /// sample's box count (the output's `views`); `features` are the pooled `(K, D)` box
    /// features. `train` switches dropout and BatchNorm statistics as [`Self::forward_t`].
    ///
    /// # Errors
    /// A model without a RoI head; `x` not 5-D; box counts that do not add up to K; RoIAlign's.
    pub fn forward_rois_t(&self, x: &Tensor, rois: &Tensor, boxes: &[usize], train: bool) -> Result<Output> {
        let Net::BuiltIn { backbone: Backbone::VideoResNet(b), fc, dropout, roi_head: Some(head), .. } = &self.net else {
            bail!("this model has no detection head: boxes need `model.head: {{type: RoIHead}}`");
        };
        if x.dim() != 5 {
            bail!("RoIHead takes NCTHW clips (B, 3, T, H, W), got {:?}", x.size());
        }
        let k = rois.size().first().copied().unwrap_or(0);
        if boxes.iter().sum::<usize>() as i64 != k {
            bail!("{k} boxes given as {boxes:?} per sample");
        }
        let features = head.pool(&b.forward_map(x, train), rois)?;
        let probs = features.dropout(*dropout, train).apply(fc).sigmoid();
        Ok(Output { logits: probs, features: Some(features), views: boxes.to_vec() })
    }

    /// The device the model lives on.
    pub fn device(&self) -> tch::Device {
        self.device
    }

    /// Inference on `x`, already on [`Self::device`], a batch whose samples have `images` images
    /// each (the first dimensions of their tensors, in batch order): NCHW `(ΣM, 3, H, W)` for
    /// TSM/TSN, NCTHW `(ΣV, 3, L, H, W)` for the 3D models, or whatever the TorchScript module
    /// takes. Views, as mmaction2 0.x's recognisers make them in test mode: TSN one per sample (its
    /// head averages all the sample's images: 25 clips × 10 crops = 250 in one view), TSM one per
    /// `num_segments` images, a 3D model one per clip, TorchScript in proportion to the images
    /// ([`views_per_sample`]).
    ///
    /// # Errors
    /// A TSM sample whose images are not a multiple of `num_segments`, `images` that do not add
    /// up to the batch, a 3D model given no 5-D clip batch, or a TorchScript failure / output of
    /// an unexpected type.
    pub fn forward(&self, x: &Tensor, images: &[usize]) -> Result<Output> {
        let _guard = tch::no_grad_guard();
        self.forward_t(x, images, false)
    }

    /// Forward pass recording gradients; `train` switches dropout and BatchNorm statistics to
    /// training mode (except frozen stages / `norm_eval`). Shapes and views as [`Self::forward`];
    /// a TSM/TSN also takes clips `(V, C, T, H, W)` (NCTHW, TCNHW), each clip's T frames its
    /// images.
    ///
    /// # Errors
    /// As [`Self::forward`].
    pub fn forward_t(&self, x: &Tensor, images: &[usize], train: bool) -> Result<Output> {
        let n = x.size().first().copied().unwrap_or(0);
        if images.iter().sum::<usize>() as i64 != n {
            bail!("a batch of {n} images or clips given as {images:?} per sample");
        }
        match &self.net {
            Net::BuiltIn { backbone, fc, kind, dropout, .. } if kind.is_3d() => {
                if x.dim() != 5 {
                    bail!("{} takes NCTHW clips (V, 3, L, H, W), got {:?}: use FormatShape NCTHW", kind.short_name(), x.size());
                }
                let feats = backbone.forward(x, train); // (V, D)
                Ok(Output { logits: feats.dropout(*dropout, train).apply(fc), features: Some(feats), views: images.to_vec() })
            }
            Net::BuiltIn { .. } if x.dim() == 5 => {
                let (frames, images) = self.as_images(x, images);
                self.forward_t(&frames, &images, train)
            }
            Net::BuiltIn { backbone, fc, kind: ModelKind::Tsm, num_segments, dropout, .. } => {
                let t = *num_segments as usize;
                if let Some(m) = images.iter().find(|&&m| m % t != 0) {
                    bail!("{m} images is not a multiple of num_segments = {num_segments}");
                }
                let feats = backbone.forward(x, train); // (V·T, D)
                let d = feats.size()[1];
                // TSMHead: dropout, fc per image, then average logits over the segments.
                let per_image = feats.dropout(*dropout, train).apply(fc);
                let logits = per_image.view([-1, *num_segments, fc.ws.size()[0]]).mean_dim(1, false, Kind::Float);
                let features = feats.view([-1, *num_segments, d]).mean_dim(1, false, Kind::Float);
                Ok(Output { logits, features: Some(features), views: images.iter().map(|m| m / t).collect() })
            }
            Net::BuiltIn { backbone, fc, dropout, .. } => {
                // TSNHead: average the features of all the sample's images (its `num_segs` is the
                // sample's image count), dropout, then fc.
                let feats = backbone.forward(x, train); // (ΣM, D)
                let sizes: Vec<i64> = images.iter().map(|&m| m as i64).collect();
                let per_sample: Vec<Tensor> = feats.split_with_sizes(&sizes, 0).iter().map(|f| f.mean_dim(0, false, Kind::Float)).collect();
                let features = Tensor::stack(&per_sample, 0);
                Ok(Output { logits: features.dropout(*dropout, train).apply(fc), features: Some(features), views: vec![1; images.len()] })
            }
            Net::Script(m) => {
                let (logits, features) = match script_forward(m, x, train)? {
                    IValue::Tensor(t) => (t, None),
                    IValue::Tuple(v) if v.len() == 2 => match (&v[0], &v[1]) {
                        (IValue::Tensor(l), IValue::Tensor(f)) => (l.shallow_clone(), Some(f.shallow_clone())),
                        _ => bail!("TorchScript module returned a tuple that is not (logits, features)"),
                    },
                    other => bail!("TorchScript module returned {other:?}; expected a tensor or (logits, features)"),
                };
                let views = views_per_sample(logits.size().first().copied().unwrap_or(0) as usize, images)?;
                Ok(Output { logits, features, views })
            }
        }
    }
}

/// The names under which a weights file may hold model tensor `name`: its own, then the
/// unshifted ResNet's for a TSM's shifted `conv1` (`….conv1.net.conv.weight` ←
/// `….conv1.conv.weight`, `….conv1.net.bn.*` ← `….conv1.bn.*`: a TSN checkpoint, or torchvision
/// ImageNet weights converted by `scripts/convert_mmaction2_checkpoint.py`, initialise a TSM as
/// mmaction2's TSM does, loading them before it wraps the convs), then mmaction2 1.x's
/// (`….conv1.conv.net.weight`).
pub fn weights_names(name: &str) -> Vec<String> {
    let mut names = vec![name.to_string()];
    if name.contains(".conv1.net.conv.") {
        names.push(name.replacen(".conv1.net.conv.", ".conv1.conv.", 1));
        names.push(name.replacen(".conv1.net.conv.", ".conv1.conv.net.", 1));
    } else if name.contains(".conv1.net.bn.") {
        names.push(name.replacen(".conv1.net.bn.", ".conv1.bn.", 1));
    }
    names
}

/// What loading a weights file into a built-in model did, tensor by tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Model tensors loaded (model names).
    pub loaded: Vec<String>,
    /// Model tensors the file has with another shape: (name, file shape, model shape).
    pub mismatched: Vec<(String, Vec<i64>, Vec<i64>)>,
    /// Model tensors the file lacks.
    pub missing: Vec<String>,
    /// File tensors no model tensor took.
    pub unused: Vec<String>,
}

/// The module a tensor belongs to, for [`LoadReport::table`]: `backbone.layer1`,
/// `cls_head.fc_cls`, `fc`, `stem`.
fn module_of(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let n = if matches!(parts.first(), Some(&"backbone") | Some(&"cls_head") | Some(&"neck")) { 2 } else { 1 };
    parts[..n.min(parts.len().saturating_sub(1)).max(1)].join(".")
}

impl LoadReport {
    /// Whether tensor `name` is the classification head's or the neck's (they may differ, as
    /// mmaction2 users expect when fine-tuning on other classes or adding CDAR's domain
    /// classifier to Kinetics weights).
    pub fn is_head(name: &str) -> bool {
        name.starts_with("cls_head.") || name.starts_with("fc.") || name.starts_with("neck.") || name.starts_with("head.")
    }

    /// Model tensors left at their initialisation outside the head: missing or mismatched.
    pub fn backbone_left(&self) -> Vec<String> {
        let mismatched = self.mismatched.iter().map(|m| m.0.clone());
        self.missing.iter().cloned().chain(mismatched).filter(|n| !Self::is_head(n)).collect()
    }

    /// Per module: tensors loaded / shape-mismatched / missing, then the file's unused tensors.
    pub fn table(&self) -> String {
        let mut rows: std::collections::BTreeMap<String, [usize; 3]> = Default::default();
        for n in &self.loaded {
            rows.entry(module_of(n)).or_default()[0] += 1;
        }
        for (n, _, _) in &self.mismatched {
            rows.entry(module_of(n)).or_default()[1] += 1;
        }
        for n in &self.missing {
            rows.entry(module_of(n)).or_default()[2] += 1;
        }
        let mut out = format!("{:<24} {:>7} {:>10} {:>8}\n", "module", "loaded", "mismatched", "missing");
        for (m, [l, x, g]) in rows {
            out += &format!("{m:<24} {l:>7} {x:>10} {g:>8}\n");
        }
        for (n, f, m) in &self.mismatched {
            out += &format!("shape mismatch: {n}: {f:?} in the file, {m:?} in the model\n");
        }
        if !self.unused.is_empty() {
            out += &format!("{} tensors of the file unused: {}\n", self.unused.len(), self.unused.join(", "));
        }
        out
    }

    /// `Ok` when every model tensor was loaded.
    ///
    /// # Errors
    /// Tensors missing or mismatched: the file, the counts and the first few with shapes.
    pub fn complete(&self, path: &Path) -> Result<()> {
        if self.missing.is_empty() && self.mismatched.is_empty() {
            return Ok(());
        }
        let first: Vec<String> = self
            .mismatched
            .iter()
            .map(|(n, f, m)| format!("{n} is {f:?} in the file, {m:?} in the model"))
            .chain(self.missing.iter().map(|n| format!("{n} is not in the file")))
            .take(3)
            .collect();
        bail!(
            "weights {}: {} of the model's tensors have another shape and {} are missing ({}); a checkpoint of another architecture, num_classes or layout? (scripts/convert_mmaction2_checkpoint.py converts mmaction2 0.x/1.x and torchvision checkpoints)",
            path.display(),
            self.mismatched.len(),
            self.missing.len(),
            first.join("; ")
        )
    }
}

/// Copies into `vs` the tensors of `.safetensors` file `path` that match by name
/// ([`weights_names`]) and shape.
///
/// # Errors
/// The file cannot be read, or a copy fails (the message names the tensor).
fn load_vars(vs: &nn::VarStore, path: &Path) -> Result<LoadReport> {
    let file: HashMap<String, Tensor> =
        Tensor::read_safetensors(path).map_err(|e| anyhow!("loading weights {}: {e}", path.display()))?.into_iter().collect();
    let mut used = std::collections::HashSet::new();
    let mut r = LoadReport::default();
    let _g = tch::no_grad_guard();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut t) in vars {
        let found = weights_names(&name).into_iter().find_map(|n| file.get(&n).map(|src| (n, src)));
        match found {
            Some((n, src)) if src.size() == t.size() => {
                t.f_copy_(src).map_err(|e| anyhow!("loading {name} from {}: {e}", path.display()))?;
                used.insert(n);
                r.loaded.push(name);
            }
            Some((n, src)) => {
                used.insert(n);
                r.mismatched.push((name, src.size(), t.size()));
            }
            None => r.missing.push(name),
        }
    }
    r.unused = file.keys().filter(|k| !used.contains(*k)).cloned().collect();
    r.unused.sort();
    Ok(r)
}

/// Runs a TorchScript module in train or eval mode (dropout, BatchNorm statistics), switching only
/// when the mode changes.
fn script_forward(m: &Mutex<(tch::CModule, bool)>, x: &Tensor, train: bool) -> Result<IValue> {
    let (module, mode) = &mut *m.lock().expect("model lock");
    if *mode != train {
        if train {
            module.set_train();
        } else {
            module.set_eval();
        }
        *mode = train;
    }
    Ok(module.forward_is(&[IValue::Tensor(x.shallow_clone())])?)
}

/// Whether parameter `name` belongs to a frozen stage (mmaction2 `_freeze_stages`): when
/// `frozen_stages` ≥ 0 the stem (`backbone.conv1.`, a SlowFast pathway's `conv1.`, torchvision's
/// `stem.`), and `layer{1..=frozen_stages}.` with, in SlowFast's slow pathway, the lateral conv
/// `layer{i}_lateral.` that follows it (the stem's `conv1_lateral` stays trainable, as in
/// mmaction2).
pub fn is_frozen(name: &str, frozen_stages: i64) -> bool {
    if frozen_stages < 0 {
        return false;
    }
    let inner = name.strip_prefix("backbone.").unwrap_or(name);
    let inner = ["slow_path.", "fast_path."].iter().find_map(|p| inner.strip_prefix(p)).unwrap_or(inner);
    if inner.starts_with("conv1.") && name.starts_with("backbone.") || name.starts_with("stem.") {
        return true;
    }
    (1..=frozen_stages).any(|i| inner.starts_with(&format!("layer{i}.")) || inner.starts_with(&format!("layer{i}_lateral.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_stages_follow_each_sources_names() {
        assert!(is_frozen("backbone.conv1.conv.weight", 0) && !is_frozen("backbone.conv1.conv.weight", -1));
        assert!(is_frozen("backbone.layer2.0.conv1.net.conv.weight", 2) && !is_frozen("backbone.layer3.0.conv1.conv.weight", 2));
        assert!(is_frozen("stem.0.weight", 0) && is_frozen("layer1.0.conv1.0.0.weight", 1) && !is_frozen("fc.weight", 4));
        assert!(is_frozen("backbone.slow_path.conv1.bn.weight", 0) && is_frozen("backbone.fast_path.layer1.2.conv3.conv.weight", 1));
        assert!(
            is_frozen("backbone.slow_path.layer1_lateral.conv.weight", 1) && !is_frozen("backbone.slow_path.layer2_lateral.conv.weight", 1)
        );
        assert!(!is_frozen("backbone.slow_path.conv1_lateral.conv.weight", 4), "mmaction2 leaves conv1_lateral trainable");
        assert!(!is_frozen("cls_head.fc_cls.weight", 4));
    }

    #[test]
    fn views_follow_each_samples_images() {
        // TSN with 8 segments: samples of 8 and 24 images (1 and 3 clips) give 1 and 3 rows.
        assert_eq!(views_per_sample(4, &[8, 24]).unwrap(), vec![1, 3]);
        // A 3D model: one row per clip, two clips each.
        assert_eq!(views_per_sample(4, &[2, 2]).unwrap(), vec![2, 2]);
        assert!(views_per_sample(3, &[8, 8]).is_err(), "1.5 views per sample");
        assert!(views_per_sample(0, &[8]).is_err());
    }
}
