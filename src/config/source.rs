//! The `source:` section: where samples come from.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::decode::{FilenameTemplate, Modality, RawframeSpec};
use crate::source::{folder_per_class, read_rawframe_list, read_video_list, Sample};

fn epic_frame_dir() -> String {
    "{participant_id}/rgb_frames/{video_id}".into()
}

/// Where the videos come from.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum SourceConfig {
    /// mmaction2 video list (`path label …`), paths relative to `root`. `multi_class` and
    /// `num_classes` as mmaction2's datasets take them (see `check_labels`).
    #[serde(alias = "VideoDataset")]
    VideoList {
        /// The list file.
        ann_file: PathBuf,
        /// The folder the list's paths are relative to (mmaction2 `data_prefix`).
        #[serde(alias = "data_prefix")]
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
    /// EPIC-Kitchens-100 action segments from the dataset's annotation CSV
    /// (`EPIC_100_train.csv`, `EPIC_100_uda_source_train.csv` …): per row the rawframes
    /// `start_frame..=stop_frame` of `root/<frame_dir>`, labelled `verb_class` (or `noun_class`).
    /// Frames `frame_{:010}.jpg` from 1, as the dataset ships them
    /// ([`crate::source::epic_kitchens`]).
    #[serde(alias = "EpicKitchens100")]
    EpicKitchens {
        /// The annotation CSV.
        ann_file: PathBuf,
        /// The folder holding the participants' frame folders (`data_prefix`).
        #[serde(alias = "data_prefix")]
        root: PathBuf,
        /// A segment's frame folder under `root`, `{participant_id}` and `{video_id}` replaced
        /// (default `{participant_id}/rgb_frames/{video_id}`, the dataset's layout).
        #[serde(default = "epic_frame_dir")]
        frame_dir: String,
        /// `verb` (default) or `noun`.
        #[serde(default)]
        label: crate::source::epic_kitchens::EpicLabel,
        /// Frame file names (default `frame_{:010}.jpg`).
        filename_tmpl: Option<FilenameTemplate>,
    },
}

/// mmaction2's dataset label checks: `multi_class: true` needs `num_classes` (its datasets
/// assert it); with `num_classes` every label must be in `0..num_classes`. The message names the
/// list file and the sample's line. (Lines with several labels are read as multi-label either
/// way; the loss decides how they train.)
///
/// # Errors
/// As above.
pub fn check_labels(samples: &[Sample], ann_file: &std::path::Path, multi_class: bool, num_classes: Option<usize>) -> Result<()> {
    if multi_class && num_classes.is_none() {
        anyhow::bail!("`multi_class: true` needs `num_classes` (mmaction2's datasets require it)");
    }
    let Some(n) = num_classes else { return Ok(()) };
    for s in samples {
        if let Some(l) = s.labels.iter().find(|&&l| l < 0 || l as usize >= n) {
            let at = if s.line > 0 { format!("{}:{}", ann_file.display(), s.line) } else { format!("{} ({})", ann_file.display(), s.name) };
            anyhow::bail!("{at}: label {l} is outside 0..{n} (`num_classes` {n})");
        }
    }
    Ok(())
}

pub use crate::source::VIDEO_EXTENSIONS;

impl SourceConfig {
    /// The classes of a multi-label source (`multi_class: true`): its `num_classes`, or
    /// `model_classes` (the head's) where it gives none; `None` for single-label sources.
    pub fn multi_hot_classes(&self, model_classes: Option<usize>) -> Option<usize> {
        match self {
            SourceConfig::VideoList { multi_class: true, num_classes, .. }
            | SourceConfig::RawframeList { multi_class: true, num_classes, .. } => num_classes.or(model_classes),
            _ => None,
        }
    }

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
            SourceConfig::EpicKitchens { ann_file, root, frame_dir, label, .. } => {
                crate::source::epic_kitchens::read_epic_kitchens(ann_file, root, frame_dir, *label)
            }
        }
    }

    /// Checks `samples` (read from this source) against the classes of the model that will
    /// score them: every label in `0..num_classes`. Run by `check`, `run` and `featurize` when
    /// the list is read, so that a bad label is named by file and line instead of failing in
    /// libtorch mid-training.
    ///
    /// # Errors
    /// A label outside the range, naming the list file (or dataset folder) and line.
    pub fn check_model_labels(&self, samples: &[Sample], num_classes: usize) -> Result<()> {
        let list = match self {
            SourceConfig::VideoList { ann_file, .. }
            | SourceConfig::RawframeList { ann_file, .. }
            | SourceConfig::EpicKitchens { ann_file, .. } => ann_file,
            SourceConfig::VideoFolder { root } => root,
        };
        check_labels(samples, list, false, Some(num_classes)).context("the model's `num_classes`")
    }

    /// Checks that the annotation file and root exist.
    ///
    /// # Errors
    /// A missing path, named with its key (`ann_file`, `root`).
    pub fn check_paths(&self) -> Result<()> {
        let (ann, root) = match self {
            SourceConfig::VideoList { ann_file, root, .. }
            | SourceConfig::RawframeList { ann_file, root, .. }
            | SourceConfig::EpicKitchens { ann_file, root, .. } => (Some(ann_file), root),
            SourceConfig::VideoFolder { root } => (None, root),
        };
        if let Some(a) = ann {
            if !a.exists() {
                anyhow::bail!("`ann_file` {} does not exist", a.display());
            }
            crate::source::walk::regular_file(a).with_context(|| format!("`ann_file` {}", a.display()))?;
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
        if let SourceConfig::EpicKitchens { filename_tmpl, .. } = self {
            let tmpl = filename_tmpl.clone().unwrap_or_else(|| FilenameTemplate::parse("frame_{:010}.jpg").expect("valid"));
            let spec = RawframeSpec { filename_tmpl: tmpl, start_index: 1, modality: Modality::RGB };
            spec.validate()?;
            return Ok(spec);
        }
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

    fn sample(line: usize, labels: Vec<i32>) -> Sample {
        Sample { index: line - 1, line, name: "v.mp4".into(), path: "v.mp4".into(), labels, rawframes: None }
    }

    #[test]
    fn mmaction2_label_checks_name_the_line() {
        let list = std::path::Path::new("charades_train.txt");
        let samples = vec![sample(1, vec![1, 3]), sample(2, vec![156]), sample(3, vec![157])];
        assert!(check_labels(&samples[..2], list, true, Some(157)).is_ok());
        let e = check_labels(&samples, list, true, Some(157)).unwrap_err().to_string();
        assert!(e.contains("charades_train.txt:3") && e.contains("label 157"), "{e}");
        let e = check_labels(&samples, list, true, None).unwrap_err().to_string();
        assert!(e.contains("needs `num_classes`"), "{e}");
        assert!(check_labels(&samples, list, false, None).is_ok(), "no keys, no checks");
        let e = check_labels(&[sample(7, vec![-1])], list, false, Some(5)).unwrap_err().to_string();
        assert_eq!(e, "charades_train.txt:7: label -1 is outside 0..5 (`num_classes` 5)");
    }
}
