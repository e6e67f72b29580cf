//! `vpipe featurize --config` YAML: a pipeline file ([`super::PipelineConfig`]: its `model:`,
//! `seed:` and one split's source, pipeline, batch size and workers), or the pipeline file's
//! short featurize form below — one split's keys at the top, plus the output settings
//! (mmaction2 names, one-to-one).
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

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{parse_yaml, PipelineConfig, SourceConfig, SplitName, Step};
use crate::model::ModelConfig;

/// The whole featurize file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturizeConfig {
    /// Where the videos come from (else --ann/--root).
    pub source: Option<SourceConfig>,
    /// Test-mode data pipeline (else the TSN/TSM test pipeline).
    pub pipeline: Option<Vec<Step>>,
    /// The model (else tsm-r50 with 400 classes).
    pub model: Option<ModelConfig>,
    /// Samples per model batch (default 4).
    pub batch_size: Option<usize>,
    /// Decode/transform threads (default: the cores).
    pub workers: Option<usize>,
    /// Samples in flight between stages (default 2 × workers).
    pub capacity: Option<usize>,
    /// Seed of sampling and random init (default 0).
    pub seed: Option<u64>,
    /// auto, cpu or cuda.
    pub device: Option<String>,
    /// Output folder (part files) or `.parquet` file.
    pub out: Option<PathBuf>,
}

impl FeaturizeConfig {
    /// Reads and parses `path`, a short featurize file or a pipeline file's `test` split.
    ///
    /// # Errors
    /// As [`Self::load_split`].
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_split(path, SplitName::Test, &[])
    }

    /// Reads `path`: a pipeline file (it has `data:` or `_base_:`) gives its split `split`
    /// ([`Self::from_pipeline`]), with `options` (`--cfg-options`, [`super::compose`]) applied;
    /// any other file is the short form.
    ///
    /// # Errors
    /// Unreadable file; YAML syntax errors, unknown keys, wrong types — with file, line and
    /// column; a pipeline file without `split`.
    pub fn load_split(path: &Path, split: SplitName, options: &[String]) -> Result<Self> {
        let text = super::read_config_text(path)?;
        let keys: BTreeMap<String, IgnoredAny> = parse_yaml(&text).unwrap_or_default();
        if keys.contains_key("data") || keys.contains_key("_base_") {
            return Self::from_pipeline(&PipelineConfig::load_with(path, options)?, split);
        }
        if !options.is_empty() {
            bail!("{}: --cfg-options apply to pipeline files (with `data:`), not to the short featurize form", path.display());
        }
        parse_yaml(&text).with_context(|| format!("in featurize file {}", path.display()))
    }

    /// The featurize settings of a pipeline file's split `split`: its source, pipeline, batch
    /// size, workers and capacity, and the file's model and seed.
    ///
    /// # Errors
    /// The file has no such split.
    pub fn from_pipeline(cfg: &PipelineConfig, split: SplitName) -> Result<Self> {
        let s = cfg.split(split)?;
        Ok(FeaturizeConfig {
            source: Some(s.source.clone()),
            pipeline: Some(s.pipeline.clone()),
            model: cfg.model.clone(),
            batch_size: Some(s.batch_size),
            workers: s.workers,
            capacity: s.capacity,
            seed: Some(cfg.seed),
            device: None,
            out: None,
        })
    }

    /// Parses YAML text.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn parse(text: &str) -> Result<Self> {
        parse_yaml(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::split_pipeline;
    use crate::decode::RawframeSpec;

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
        let crate::sample::Sampler::SampleFrames(sf) = &parts.sampler else { panic!() };
        assert_eq!(sf.num_clips, 8);
        assert!(sf.test_mode);
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
    fn a_pipeline_file_is_a_featurize_file_for_one_split() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let c = FeaturizeConfig::load_split(&dir.join("tsm_r50_ucf101.yaml"), SplitName::Val, &[]).unwrap();
        let p = PipelineConfig::load(&dir.join("tsm_r50_ucf101.yaml")).unwrap();
        let val = p.split(SplitName::Val).unwrap();
        assert_eq!((c.source.as_ref(), c.pipeline.as_ref(), c.batch_size), (Some(&val.source), Some(&val.pipeline), Some(val.batch_size)));
        assert_eq!((c.model, c.seed), (p.model.clone(), Some(p.seed)));
        let short = FeaturizeConfig::load(&dir.join("featurize_tsm.yaml")).unwrap();
        assert_eq!(short.batch_size, Some(4), "the short form still reads");
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
