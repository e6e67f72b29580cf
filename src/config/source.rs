//! The `source:` section: where samples come from.

use std::path::PathBuf;

use anyhow::Result;
use serde::Deserialize;

use crate::decode::{FilenameTemplate, Modality, RawframeSpec};
use crate::source::{folder_per_class, read_rawframe_list, read_video_list, Sample};

/// Where the videos come from.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum SourceConfig {
    /// mmaction2 video list (`path label …`), paths relative to `root`. `multi_class` and
    /// `num_classes` as mmaction2's datasets take them (see `check_labels`).
    VideoList {
        /// The list file.
        ann_file: PathBuf,
        /// The folder the list's paths are relative to (mmaction2 `data_prefix`).
        root: PathBuf,
        /// Samples carry several labels (mmaction2 `multi_class`; needs `num_classes`).
        #[serde(default)]
        multi_class: bool,
        /// Classes of the dataset: every label must be below it.
        num_classes: Option<usize>,
    },
    /// `root/<class>/<video>`, labels by sorted class name.
    VideoFolder {
        /// The dataset folder: one subfolder per class.
        root: PathBuf,
    },
    /// mmaction2 rawframe list (`frame_dir total_frames label …`, or `frame_dir offset
    /// total_frames label` with `with_offset`), folders relative to `root` (`data_prefix`).
    /// Defaults as mmaction2's `RawframeDataset`: `img_{:05}.jpg` (flow `{}_{:05d}.jpg`),
    /// `start_index: 1`, `modality: RGB`.
    #[serde(alias = "RawframeDataset")]
    RawframeList {
        /// The list file.
        ann_file: PathBuf,
        /// The folder the frame folders are relative to (`data_prefix`).
        #[serde(alias = "data_prefix")]
        root: PathBuf,
        /// Lines are `frame_dir offset total_frames label …`.
        #[serde(default)]
        with_offset: bool,
        /// Frame file names (default `img_{:05}.jpg`, flow `{}_{:05d}.jpg`).
        filename_tmpl: Option<FilenameTemplate>,
        /// Number of the first frame file (default 1).
        start_index: Option<usize>,
        /// RGB (default) or Flow.
        #[serde(default)]
        modality: Modality,
        /// Samples carry several labels (mmaction2 `multi_class`; needs `num_classes`).
        #[serde(default)]
        multi_class: bool,
        /// Classes of the dataset: every label must be below it.
        num_classes: Option<usize>,
    },
}

/// mmaction2's dataset label checks: `multi_class: true` needs `num_classes` (its datasets
/// assert it); with `num_classes` every label must be below it. The message names the list file
/// and the sample's line. (Lines with several labels are read as multi-label either way; the
/// loss decides how they train.)
///
/// # Errors
/// As above.
pub fn check_labels(samples: &[Sample], ann_file: &std::path::Path, multi_class: bool, num_classes: Option<usize>) -> Result<()> {
    if multi_class && num_classes.is_none() {
        anyhow::bail!("`multi_class: true` needs `num_classes` (mmaction2's datasets require it)");
    }
    for (line, s) in samples.iter().enumerate() {
        if let Some(l) = s.labels.iter().find(|&&l| num_classes.is_some_and(|n| l < 0 || l as usize >= n)) {
            anyhow::bail!("{}:{}: label {l} is outside `num_classes` {}", ann_file.display(), line + 1, num_classes.unwrap_or(0));
        }
    }
    Ok(())
}

pub use crate::source::VIDEO_EXTENSIONS;

impl SourceConfig {
    /// The samples the source lists, in list order.
    ///
    /// # Errors
    /// Unreadable or malformed lists (named with their line), an empty folder tree.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        match self {
            SourceConfig::VideoList { ann_file, root, multi_class, num_classes } => {
                let samples = read_video_list(ann_file, root)?;
                check_labels(&samples, ann_file, *multi_class, *num_classes)?;
                Ok(samples)
            }
            SourceConfig::VideoFolder { root } => Ok(folder_per_class(root, VIDEO_EXTENSIONS)?.0),
            SourceConfig::RawframeList { ann_file, root, with_offset, multi_class, num_classes, .. } => {
                let samples = read_rawframe_list(ann_file, root, *with_offset)?;
                check_labels(&samples, ann_file, *multi_class, *num_classes)?;
                Ok(samples)
            }
        }
    }

    /// Checks that the annotation file and root exist.
    ///
    /// # Errors
    /// A missing path, named with its key (`ann_file`, `root`).
    pub fn check_paths(&self) -> Result<()> {
        let (ann, root) = match self {
            SourceConfig::VideoList { ann_file, root, .. } | SourceConfig::RawframeList { ann_file, root, .. } => (Some(ann_file), root),
            SourceConfig::VideoFolder { root } => (None, root),
        };
        if let Some(a) = ann.filter(|a| !a.is_file()) {
            anyhow::bail!("`ann_file` {} does not exist", a.display());
        }
        if !root.is_dir() {
            anyhow::bail!("`root` {} is not a folder", root.display());
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(labels: Vec<i32>) -> Sample {
        Sample { index: 0, name: "v.mp4".into(), path: "v.mp4".into(), labels, rawframes: None }
    }

    #[test]
    fn mmaction2_label_checks_name_the_line() {
        let list = std::path::Path::new("charades_train.txt");
        let samples = vec![sample(vec![1, 3]), sample(vec![156]), sample(vec![157])];
        assert!(check_labels(&samples[..2], list, true, Some(157)).is_ok());
        let e = check_labels(&samples, list, true, Some(157)).unwrap_err().to_string();
        assert!(e.contains("charades_train.txt:3") && e.contains("label 157"), "{e}");
        let e = check_labels(&samples, list, true, None).unwrap_err().to_string();
        assert!(e.contains("needs `num_classes`"), "{e}");
        assert!(check_labels(&samples, list, false, None).is_ok(), "no keys, no checks");
    }
}
