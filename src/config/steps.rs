//! Pipeline steps (`pipeline:` lists), mmaction2 `type:` names one-to-one, and their split into
//! sampler, transforms, Normalize and FormatShape.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use super::location::StepAt;
use crate::decode::{ColorConvention, DecodeOptions, Modality};
use crate::sample::{DenseSampleFrames, SampleFrames, Sampler, UniformSampleFrames};
use std::sync::Arc;

use crate::transform::{
    BackgroundBlend, BuildCtx, CenterCrop, ColorJitter, Flip, FrameOp, InputFormat, MultiScaleCrop, Normalize, OpConfig, PytorchVideoTrans,
    RandomCrop, RandomResizedCrop, Resize, TenCrop, ThreeCrop,
};

/// One pipeline step (`type:` names as in mmaction2 0.x configs).
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum Step {
    /// mmaction2 `SampleFrames` (0.x semantics; `semantics: 1.x` for 1.x test mode).
    SampleFrames(SampleFrames),
    /// mmaction2 `DenseSampleFrames`.
    DenseSampleFrames(DenseSampleFrames),
    /// mmaction2 `UniformSampleFrames`.
    UniformSampleFrames(UniformSampleFrames),
    /// mmaction2 `SampleAVAFrames(clip_len, frame_interval)`, PySlowFast's clip around an AVA
    /// keyframe.
    SampleAVAFrames(crate::sample::SampleAVAFrames),
    /// PySlowFast's Charades sampling (`get_seq_frames`): a random clip, or evenly spaced test
    /// views.
    PySlowFastSampleFrames(crate::sample::PySlowFastSampleFrames),
    /// Decoding (`Decode`, or mmaction2's `DecordInit` / `DecordDecode` / `PyAVInit` /
    /// `PyAVDecode` / `OpenCVInit` / `OpenCVDecode` / `RawFrameDecode`): decoding always happens
    /// right after sampling, only of the sampled frames; this step sets how videos are decoded.
    #[serde(
        alias = "DecordDecode",
        alias = "PyAVDecode",
        alias = "OpenCVDecode",
        alias = "DecordInit",
        alias = "PyAVInit",
        alias = "OpenCVInit",
        alias = "RawFrameDecode"
    )]
    Decode(DecodeStep),
    /// `Resize(scale, keep_ratio, interpolation)`.
    Resize(Resize),
    /// mmaction2 0.x `RandomRescale(scale_range, interpolation)`.
    RandomRescale(crate::transform::RandomRescale),
    /// `RandomResizedCrop(area_range, aspect_ratio_range)`.
    RandomResizedCrop(RandomResizedCrop),
    /// PySlowFast's short-side scale jitter (SEVERE's AVA and Charades).
    ShortSideScaleJitter(crate::transform::ShortSideScaleJitter),
    /// PySlowFast's `uniform_crop`: square crops at the start, centre or end of the long side.
    UniformCrop(crate::transform::UniformCrop),
    /// `MultiScaleCrop(input_size, scales, max_wh_scale_gap, random_crop, num_fixed_crops)`.
    MultiScaleCrop(MultiScaleCrop),
    /// `RandomCrop(size)`.
    RandomCrop(RandomCrop),
    /// `CenterCrop(crop_size)`.
    CenterCrop(CenterCrop),
    /// `ThreeCrop(crop_size)`.
    ThreeCrop(ThreeCrop),
    /// `TenCrop(crop_size)`.
    TenCrop(TenCrop),
    /// `Flip(flip_ratio, direction)`.
    Flip(Flip),
    /// `ColorJitter(brightness, contrast, saturation, hue, p)`.
    ColorJitter(ColorJitter),
    /// CDAR `BackgroundBlend(resize_h, crop_size, p, ann_files, data_prefixes, alpha)`.
    BackgroundBlend(BackgroundBlend),
    /// pytorchvideo's `RandAugment(magnitude, num_layers, prob)`: mmaction2 0.x
    /// `PytorchVideoTrans(trans_type='RandAugment')`, 1.x `PytorchVideoWrapper(op='RandAugment')`.
    #[serde(alias = "PytorchVideoWrapper")]
    PytorchVideoTrans(PytorchVideoTrans),
    /// mmaction2 0.x `Imgaug(transforms='default')`: imgaug's `SomeOf(2, 15 augmenters)`.
    Imgaug(crate::transform::imgaug::Imgaug),
    /// `Normalize(mean, std, to_bgr)`.
    Normalize(Normalize),
    /// `FormatShape(input_format)`.
    FormatShape {
        /// NCHW (2D models), NCTHW (3D models) or NCHW_Flow.
        input_format: InputFormat,
    },
    /// `Collect` / `ToTensor` from mmaction2 configs: accepted and ignored (always done).
    #[serde(alias = "ToTensor")]
    Collect {
        /// Ignored (vpipe always hands on the images and labels).
        #[serde(default)]
        keys: Vec<String>,
        /// Ignored.
        #[serde(default)]
        meta_keys: Vec<String>,
    },
}

impl Step {
    /// The configuration of the frame transform this step is, if it is one.
    pub fn op_config(&self) -> Option<&dyn OpConfig> {
        Some(match self {
            Step::Resize(t) => t,
            Step::RandomResizedCrop(t) => t,
            Step::RandomRescale(t) => t,
            Step::ShortSideScaleJitter(t) => t,
            Step::UniformCrop(t) => t,
            Step::MultiScaleCrop(t) => t,
            Step::RandomCrop(t) => t,
            Step::CenterCrop(t) => t,
            Step::ThreeCrop(t) => t,
            Step::TenCrop(t) => t,
            Step::Flip(t) => t,
            Step::ColorJitter(t) => t,
            Step::BackgroundBlend(t) => t,
            Step::PytorchVideoTrans(t) => t,
            Step::Imgaug(t) => t,
            _ => return None,
        })
    }

    /// The sampler this step is, if it is one.
    fn sampler(&self) -> Option<Sampler> {
        Some(match self {
            Step::SampleFrames(s) => Sampler::SampleFrames(s.clone()),
            Step::DenseSampleFrames(s) => Sampler::DenseSampleFrames(s.clone()),
            Step::UniformSampleFrames(s) => Sampler::UniformSampleFrames(s.clone()),
            Step::SampleAVAFrames(s) => Sampler::SampleAVAFrames(s.clone()),
            Step::PySlowFastSampleFrames(s) => Sampler::PySlowFastSampleFrames(s.clone()),
            _ => return None,
        })
    }
}

/// Options of a `Decode` step. Keys left out keep the value of an earlier decode step (so
/// `DecordInit` + `DecordDecode` pairs combine), else FFmpeg's default. mmaction2's other keys
/// (`io_backend`, `mode` …) are accepted and ignored: decoding is always frame-accurate.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, schemars::JsonSchema)]
pub struct DecodeStep {
    /// Apply the display-matrix rotation as the FFmpeg CLI does (default true).
    pub autorotate: Option<bool>,
    /// `ffmpeg` (default: the stream's colour matrix and range) or `bt601` (legacy decord/PyAV
    /// conversion, for checkpoints trained on their frames).
    pub color_convention: Option<ColorConvention>,
    /// Stream index to read (default: FFmpeg's best video stream).
    pub stream: Option<usize>,
    /// Decoder threads per video (mmaction2's `num_threads`). Left out, the engine picks: one per
    /// video when at least as many videos decode at once as there are cores, else cores ÷ workers
    /// (frame and slice threads), so a single worker still uses every core on 720p video.
    #[serde(alias = "num_threads")]
    pub threads: Option<usize>,
    /// Resize videos in the colour conversion's swscale call when the first frame step is
    /// `Resize` (default false). Faster on large videos (one pass over the full-size picture),
    /// but swscale's filters are not OpenCV's: pixels differ from mmaction2's `Resize` by a few
    /// levels, so use it for pipelines trained this way. Rawframes are resized as usual.
    pub resize_in_decoder: Option<bool>,
}

impl DecodeStep {
    /// `options` with this step's keys applied.
    fn apply(&self, options: &mut DecodeOptions) {
        options.autorotate = self.autorotate.unwrap_or(options.autorotate);
        options.color_convention = self.color_convention.unwrap_or(options.color_convention);
        options.stream = self.stream.or(options.stream);
        options.threads = self.threads.unwrap_or(options.threads);
        options.resize_in_decoder = self.resize_in_decoder.unwrap_or(options.resize_in_decoder);
    }
}

/// A pipeline split into its parts, checked for order and completeness.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineParts {
    /// The frame sampler.
    pub sampler: Sampler,
    /// The frame-transform steps in order (spatial, flip, colour, blend: those with a
    /// [`Step::op_config`]), each with its place in the `pipeline:` list;
    /// [`Self::build_transforms`] makes their ops.
    pub transforms: Vec<(StepAt, Step)>,
    /// Normalisation (ImageNet when the pipeline has none).
    pub normalize: Normalize,
    /// Output layout (NCHW when the pipeline has no FormatShape).
    pub format: InputFormat,
    /// How videos are decoded (FFmpeg CLI defaults when the pipeline has no `Decode` options).
    pub decode: DecodeOptions,
}

impl PipelineParts {
    /// The runtime ops of the frame transforms, in order ([`OpConfig::build`]).
    ///
    /// # Errors
    /// A step that does not build (out-of-range parameter, background list missing), marked with
    /// its [`StepAt`] so [`super::Origin::locate`] can name its line.
    pub fn build_transforms(&self, ctx: &BuildCtx) -> Result<Vec<Arc<dyn FrameOp>>> {
        let configs = self.transforms.iter().filter_map(|(at, step)| Some((at, step.op_config()?)));
        configs.map(|(at, config)| config.build(ctx).with_context(|| at.clone())).collect()
    }
}

/// Splits a step list into sampler, frame transforms, Normalize and FormatShape.
///
/// # Errors
/// No sampler or several; a transform after `Normalize`; a second multi-crop step. `FormatShape`
/// missing means NCHW, `Normalize` missing means ImageNet statistics. Messages name the step
/// (1-based) as `pipeline step N`.
pub fn split_pipeline(steps: &[Step]) -> Result<PipelineParts> {
    let mut sampler = None;
    let mut transforms = Vec::new();
    let mut normalize = None;
    let mut format = InputFormat::NCHW;
    let mut multi_crops = 0;
    // Decoder threads: 0 until a step sets them, so the engine can pick them for its worker count.
    let mut decode = DecodeOptions { threads: 0, ..Default::default() };
    for (i, step) in steps.iter().enumerate() {
        let at = || StepAt { step: i, name: step_name(step) };
        if let Some(s) = step.sampler() {
            if sampler.replace(s.clone()).is_some() {
                return Err(anyhow!("a second sampler").context(at()));
            }
            s.validate().with_context(at)?;
        } else if step.op_config().is_some() {
            if normalize.is_some() {
                return Err(anyhow!("frame transforms must come before Normalize").context(at()));
            }
            if matches!(step, Step::ThreeCrop(_) | Step::TenCrop(_)) {
                multi_crops += 1;
                if multi_crops > 1 {
                    return Err(anyhow!("only one ThreeCrop/TenCrop per pipeline").context(at()));
                }
            }
            transforms.push((at(), step.clone()));
        } else {
            match step {
                Step::Normalize(n) => normalize = Some(n.clone()),
                Step::FormatShape { input_format } => format = *input_format,
                Step::Decode(d) => d.apply(&mut decode),
                _ => {}
            }
        }
    }
    let sampler = sampler.context("pipeline has no SampleFrames / DenseSampleFrames / UniformSampleFrames step")?;
    if decode.resize_in_decoder && !matches!(transforms.first(), Some((_, Step::Resize(_)))) {
        bail!("resize_in_decoder: true needs Resize as the first frame step");
    }
    Ok(PipelineParts { sampler, transforms, normalize: normalize.unwrap_or_else(Normalize::imagenet), format, decode })
}

/// The `type:` name of a step, for messages.
fn step_name(step: &Step) -> String {
    format!("{step:?}").split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default().to_string()
}

/// mmaction2's TSM/TSN test pipeline (0.x): `num_clips` single-frame segments, Resize(−1, 256),
/// CenterCrop(224), ImageNet Normalize, NCHW. For flow (TSN flow configs): 5 (x, y) pairs per
/// segment, `mean=std=[128, 128]`, NCHW_Flow.
pub fn default_test_pipeline(num_clips: usize, modality: Modality) -> PipelineParts {
    use crate::transform::{Interpolation, Size};
    let rgb = PipelineParts {
        sampler: SampleFrames::segments(num_clips).into(),
        transforms: vec![
            (
                StepAt { step: 0, name: "Resize".into() },
                Step::Resize(Resize { scale: [-1, 256], keep_ratio: true, interpolation: Interpolation::Bilinear }),
            ),
            (StepAt { step: 1, name: "CenterCrop".into() }, Step::CenterCrop(CenterCrop { crop_size: Size::Square(224) })),
        ],
        normalize: Normalize::imagenet(),
        format: InputFormat::NCHW,
        decode: DecodeOptions::default(),
    };
    match modality {
        Modality::RGB => rgb,
        Modality::Flow => PipelineParts {
            sampler: SampleFrames { clip_len: 5, ..SampleFrames::segments(num_clips) }.into(),
            normalize: Normalize::flow(),
            format: InputFormat::NCHW_Flow,
            ..rgb
        },
    }
}
