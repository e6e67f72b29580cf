//! `vpipe featurize --config` YAML (flat form; mmaction2 names, one-to-one).
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

use anyhow::Result;
use serde::Deserialize;

use super::{load_yaml, parse_yaml, SourceConfig, Step};
use crate::model::ModelConfig;

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

impl FeaturizeConfig {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// Unreadable file; YAML syntax errors, unknown keys, wrong types — with line and column.
    pub fn load(path: &Path) -> Result<Self> {
        load_yaml(path)
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
