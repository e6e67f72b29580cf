//! Pipeline YAML for `vpipe featurize --config` (first form; mmaction2 names, one-to-one).
//!
//! ```yaml
//! source: {type: VideoList, ann_file: data/mini/mini_videos.txt, root: data/mini/videos}
//! pipeline:
//!   - {type: SampleFrames, clip_len: 1, frame_interval: 1, num_clips: 8, test_mode: true}
//!   - {type: Decode}
//!   - {type: Resize, scale: [-1, 256]}
//!   - {type: CenterCrop, crop_size: 224}
//!   - {type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]}
//!   - {type: FormatShape, input_format: NCHW}
//! model: {type: tsm-r50, num_classes: 5, num_segments: 8}
//! batch_size: 4
//! out: out/mini.parquet
//! ```
//! Every key is optional; command-line flags override the file. Unknown keys are errors.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::decode::{FilenameTemplate, Modality, RawframeSpec};
use crate::sample::SampleFrames;
use crate::source::{folder_per_class, read_rawframe_list, read_video_list, Sample};
use crate::transform::{CenterCrop, InputFormat, Normalize, Resize, ThreeCrop, Transform};

/// Where the videos come from.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum SourceConfig {
    /// mmaction2 video list (`path label …`), paths relative to `root`.
    VideoList { ann_file: PathBuf, root: PathBuf },
    /// `root/<class>/<video>`, labels by sorted class name.
    VideoFolder { root: PathBuf },
    /// mmaction2 rawframe list (`frame_dir total_frames label …`, or `frame_dir offset
    /// total_frames label` with `with_offset`), folders relative to `root` (`data_prefix`).
    /// Defaults as mmaction2's `RawframeDataset`: `img_{:05}.jpg` (flow `{}_{:05d}.jpg`),
    /// `start_index: 1`, `modality: RGB`.
    #[serde(alias = "RawframeDataset")]
    RawframeList {
        ann_file: PathBuf,
        #[serde(alias = "data_prefix")]
        root: PathBuf,
        #[serde(default)]
        with_offset: bool,
        filename_tmpl: Option<FilenameTemplate>,
        start_index: Option<usize>,
        #[serde(default)]
        modality: Modality,
    },
}

/// Video extensions a folder-per-class source takes.
pub const VIDEO_EXTENSIONS: &[&str] = &["avi", "mp4", "mkv", "webm", "mov", "m4v"];

impl SourceConfig {
    /// The samples the source lists, in list order.
    ///
    /// # Errors
    /// Unreadable or malformed lists (named with their line), an empty folder tree.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        match self {
            SourceConfig::VideoList { ann_file, root } => read_video_list(ann_file, root),
            SourceConfig::VideoFolder { root } => Ok(folder_per_class(root, VIDEO_EXTENSIONS)?.0),
            SourceConfig::RawframeList { ann_file, root, with_offset, .. } => read_rawframe_list(ann_file, root, *with_offset),
        }
    }

    /// How rawframe files are named (mmaction2 defaults for video sources, which ignore it).
    ///
    /// # Errors
    /// A template that does not fit the modality.
    pub fn rawframe_spec(&self) -> Result<RawframeSpec> {
        let SourceConfig::RawframeList { filename_tmpl, start_index, modality, .. } = self else { return Ok(RawframeSpec::default()) };
        let default_tmpl = if *modality == Modality::Flow { "{}_{:05d}.jpg" } else { "img_{:05}.jpg" };
        let spec = RawframeSpec {
            filename_tmpl: filename_tmpl.clone().unwrap_or_else(|| FilenameTemplate::parse(default_tmpl).expect("valid")),
            start_index: start_index.unwrap_or(1),
            modality: *modality,
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// One pipeline step (`type:` names as in mmaction2).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum Step {
    /// mmaction2 `SampleFrames` (0.x semantics).
    SampleFrames(SampleFrames),
    /// Decoding marker (`DecordDecode` / `PyAVDecode` / `OpenCVDecode` / `Decode`): decoding always
    /// happens right after sampling, only of the sampled frames.
    #[serde(
        alias = "DecordDecode",
        alias = "PyAVDecode",
        alias = "OpenCVDecode",
        alias = "DecordInit",
        alias = "PyAVInit",
        alias = "OpenCVInit",
        alias = "RawFrameDecode"
    )]
    Decode {},
    /// `Normalize(mean, std, to_bgr)`.
    Normalize(Normalize),
    /// `FormatShape(input_format)`.
    FormatShape { input_format: InputFormat },
    /// `Collect` / `ToTensor` from mmaction2 configs: accepted and ignored (always done).
    #[serde(alias = "ToTensor")]
    Collect {
        #[serde(default)]
        keys: Vec<String>,
        #[serde(default)]
        meta_keys: Vec<String>,
    },
    /// `Resize(scale, keep_ratio, interpolation)`.
    Resize(Resize),
    /// `CenterCrop(crop_size)`.
    CenterCrop(CenterCrop),
    /// `ThreeCrop(crop_size)`.
    ThreeCrop(ThreeCrop),
}

impl Step {
    /// The spatial transform this step is, if it is one.
    fn spatial(&self) -> Option<Transform> {
        match self {
            Step::Resize(t) => Some(Transform::Resize(t.clone())),
            Step::CenterCrop(t) => Some(Transform::CenterCrop(t.clone())),
            Step::ThreeCrop(t) => Some(Transform::ThreeCrop(t.clone())),
            _ => None,
        }
    }
}

/// The model section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `tsm-r50`, `tsm-r18`, `tsn-r50`, `tsn-r18`, or a TorchScript file.
    #[serde(rename = "type")]
    pub kind: String,
    /// Classes of the fc head.
    pub num_classes: Option<i64>,
    /// Images per view (TSM/TSN `num_segments`), default 8.
    pub num_segments: Option<i64>,
    /// `.safetensors` weights with mmaction2 names.
    pub weights: Option<PathBuf>,
}

/// The whole featurize file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturizeConfig {
    pub source: Option<SourceConfig>,
    pub pipeline: Option<Vec<Step>>,
    pub model: Option<ModelConfig>,
    pub batch_size: Option<usize>,
    pub workers: Option<usize>,
    pub capacity: Option<usize>,
    pub seed: Option<u64>,
    pub device: Option<String>,
    pub out: Option<PathBuf>,
}

/// A pipeline split into its parts, checked for order and completeness.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineParts {
    pub sampler: SampleFrames,
    pub transforms: Vec<Transform>,
    pub normalize: Normalize,
    pub format: InputFormat,
}

impl FeaturizeConfig {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// Unreadable file; YAML syntax errors, unknown keys, wrong types — with line and column.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in pipeline file {}", path.display()))
    }

    /// Parses YAML text.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn parse(text: &str) -> Result<Self> {
        serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Splits a step list into sampler, spatial transforms, Normalize and FormatShape.
///
/// # Errors
/// No or several `SampleFrames`; a spatial step after `Normalize`; `FormatShape` missing is fine
/// (NCHW), `Normalize` missing means ImageNet statistics.
pub fn split_pipeline(steps: &[Step]) -> Result<PipelineParts> {
    let mut sampler = None;
    let mut transforms = Vec::new();
    let mut normalize = None;
    let mut format = InputFormat::NCHW;
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::SampleFrames(s) => {
                if sampler.replace(s.clone()).is_some() {
                    bail!("pipeline step {}: a second SampleFrames", i + 1);
                }
                s.validate()?;
            }
            Step::Decode {} | Step::Collect { .. } => {}
            Step::Resize(_) | Step::CenterCrop(_) | Step::ThreeCrop(_) => {
                if normalize.is_some() {
                    bail!("pipeline step {}: spatial transform after Normalize", i + 1);
                }
                transforms.extend(step.spatial());
            }
            Step::Normalize(n) => normalize = Some(n.clone()),
            Step::FormatShape { input_format } => format = *input_format,
        }
    }
    let sampler = sampler.context("pipeline has no SampleFrames step")?;
    Ok(PipelineParts { sampler, transforms, normalize: normalize.unwrap_or_else(Normalize::imagenet), format })
}

/// mmaction2's TSM/TSN test pipeline (0.x): `num_clips` single-frame segments, Resize(−1, 256),
/// CenterCrop(224), ImageNet Normalize, NCHW. For flow (TSN flow configs): 5 (x, y) pairs per
/// segment, `mean=std=[128, 128]`, NCHW_Flow.
pub fn default_test_pipeline(num_clips: usize, modality: Modality) -> PipelineParts {
    use crate::transform::{Interpolation, Size};
    let rgb = PipelineParts {
        sampler: SampleFrames::segments(num_clips),
        transforms: vec![
            Transform::Resize(Resize { scale: [-1, 256], keep_ratio: true, interpolation: Interpolation::Bilinear }),
            Transform::CenterCrop(CenterCrop { crop_size: Size::Square(224) }),
        ],
        normalize: Normalize::imagenet(),
        format: InputFormat::NCHW,
    };
    match modality {
        Modality::RGB => rgb,
        Modality::Flow => PipelineParts {
            sampler: SampleFrames { clip_len: 5, ..SampleFrames::segments(num_clips) },
            normalize: Normalize::flow(),
            format: InputFormat::NCHW_Flow,
            ..rgb
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let c = FeaturizeConfig::parse(
            "source: {type: VideoList, ann_file: a.txt, root: v}\n\
             pipeline:\n\
             \x20 - {type: SampleFrames, clip_len: 1, frame_interval: 1, num_clips: 8, test_mode: true}\n\
             \x20 - {type: DecordDecode}\n\
             \x20 - {type: Resize, scale: [-1, 256]}\n\
             \x20 - {type: ThreeCrop, crop_size: 256}\n\
             \x20 - {type: Normalize, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]}\n\
             \x20 - {type: FormatShape, input_format: NCHW}\n\
             model: {type: tsm-r50, num_classes: 5}\n",
        )
        .unwrap();
        let parts = split_pipeline(c.pipeline.as_ref().unwrap()).unwrap();
        assert_eq!(parts.sampler.num_clips, 8);
        assert!(parts.sampler.test_mode);
        assert_eq!(parts.transforms.len(), 2);
        assert_eq!(c.model.unwrap().num_classes, Some(5));
    }

    #[test]
    fn rawframe_source_takes_mmaction2_names_and_defaults() {
        let c = FeaturizeConfig::parse("source: {type: RawframeDataset, ann_file: a.txt, data_prefix: raw, with_offset: true}\n").unwrap();
        let src = c.source.unwrap();
        assert_eq!(src.rawframe_spec().unwrap(), RawframeSpec::default());
        let c =
            FeaturizeConfig::parse("source: {type: RawframeList, ann_file: a.txt, root: raw, modality: Flow, start_index: 0}\n").unwrap();
        let spec = c.source.unwrap().rawframe_spec().unwrap();
        assert_eq!((spec.filename_tmpl.render("x", 0), spec.start_index), ("x_00000.jpg".to_string(), 0));
        let e =
            FeaturizeConfig::parse("source: {type: RawframeList, ann_file: a.txt, root: r, filename_tmpl: 'img_{:05.jpg'}\n").unwrap_err();
        assert!(e.to_string().contains("unclosed"), "{e}");
    }

    #[test]
    fn unknown_top_level_key_is_an_error_with_its_line() {
        let e = FeaturizeConfig::parse("batch_size: 2\nbatchsize: 3\n").unwrap_err().to_string();
        assert!(e.contains("batchsize") && e.contains('2'), "{e}");
    }

    #[test]
    fn misspelled_sampleframes_parameter_is_rejected() {
        let e = FeaturizeConfig::parse("pipeline:\n  - {type: SampleFrames, clip_len: 1, num_clip: 8}\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `num_clip`") && e.contains("num_clips") && e.contains("line 2"), "{e}");
        let e = FeaturizeConfig::parse("pipeline:\n  - {type: CenterCrop, size: 8}\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `size`") && e.contains("crop_size"), "{e}");
    }
}
