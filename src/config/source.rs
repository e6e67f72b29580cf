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
    /// AVA 2.2 keyframes with their person boxes, PySlowFast's reading (SEVERE;
    /// [`crate::source::ava`], semantics §12): one sample per keyframe second with boxes, its
    /// frames `<frame_dir>/<video>/<video>_{:06d}.jpg` from 1 (as AVA's preparation writes them).
    #[serde(alias = "AVADataset", alias = "Ava")]
    AvaDataset {
        /// The folder of the videos' frame folders (PySlowFast `AVA.FRAME_DIR`).
        frame_dir: PathBuf,
        /// The frame list CSV (`frame_lists/train.csv`): each video's frames in order.
        frame_list: PathBuf,
        /// The ground-truth CSV (`ava_train_v2.2.csv`; for val/test the evaluation's ground truth).
        annotation_file: PathBuf,
        /// Person boxes with detector scores (`ava_detection_train_boxes_and_labels_include_negative_v2.2.csv`);
        /// required for val/test.
        proposal_file: Option<PathBuf>,
        /// The evaluated classes (`ava_action_list_v2.2_for_activitynet_2019.pbtxt`, 60 ids).
        label_map: Option<PathBuf>,
        /// Keyframes left out of the evaluation (`ava_val_excluded_timestamps_v2.2.csv`).
        exclude_file: Option<PathBuf>,
        /// Person boxes scoring below this are dropped (`AVA.DETECTION_SCORE_THRESH`).
        #[serde(default = "ava_thresh")]
        detection_score_thresh: f64,
        /// Frame rate of the extracted frames, frames per second (AVA's preparation: 30).
        #[serde(default = "ava_fps")]
        fps: u32,
        /// PySlowFast's mode: `train` (ground-truth and person boxes), `val` (person boxes, every
        /// 4th second), `test` (person boxes, every second).
        #[serde(default)]
        split: crate::source::ava::AvaSplit,
        /// `val` on every second (`AVA.FULL_TEST_ON_VAL`).
        #[serde(default)]
        full_test_on_val: bool,
        /// Frame file names (default `{video}_{:06d}.jpg`, `{video}` the folder's name).
        filename_tmpl: Option<FilenameTemplate>,
    },
    /// PySlowFast's Charades (SEVERE's multi-label task; [`crate::source::frame_list`]): one
    /// sample per video of a frame list, frames `<frame_dir>/<video>/<video>-{:06d}.jpg` from 1;
    /// labels per frame, trained on the union over the sampled clip's span (`mode: train`) or
    /// the video's (`val`, `test`).
    #[serde(alias = "Charades")]
    CharadesFrameList {
        /// The folder of the videos' frame folders (`DATA.PATH_PREFIX`).
        frame_dir: PathBuf,
        /// The frame list (`train.csv`, `val.csv`).
        frame_list: PathBuf,
        /// Classes (Charades: 157); every label must be below it.
        #[serde(default = "charades_classes")]
        num_classes: usize,
        /// PySlowFast's mode: `train` (clip-span labels) or `val` / `test` (video labels).
        #[serde(default)]
        mode: crate::source::frame_list::Mode,
        /// Frame file names (default `{video}-{:06d}.jpg`, `{video}` the folder's name).
        filename_tmpl: Option<FilenameTemplate>,
    },
}

fn charades_classes() -> usize {
    157
}
fn ava_thresh() -> f64 {
    0.9
}
fn ava_fps() -> u32 {
    30
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
            SourceConfig::AvaDataset { .. } => crate::source::ava::read_ava(&self.ava_files().expect("an AVA source")),
            SourceConfig::CharadesFrameList { frame_dir, frame_list, num_classes, mode, .. } => {
                crate::source::frame_list::read_charades(frame_list, frame_dir, *mode, *num_classes)
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
            SourceConfig::AvaDataset { annotation_file, .. } => annotation_file,
            SourceConfig::CharadesFrameList { frame_list, .. } => frame_list,
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
            SourceConfig::AvaDataset { frame_dir, frame_list, annotation_file, proposal_file, label_map, exclude_file, .. } => {
                let files = [("frame_list", Some(frame_list)), ("annotation_file", Some(annotation_file))];
                let optional = [("proposal_file", proposal_file), ("label_map", label_map), ("exclude_file", exclude_file)];
                for (key, path) in files.into_iter().chain(optional.iter().map(|(k, p)| (*k, p.as_ref()))) {
                    if let Some(p) = path {
                        crate::source::walk::regular_file(p).with_context(|| format!("`{key}` {}", p.display()))?;
                    }
                }
                (None, frame_dir)
            }
            SourceConfig::CharadesFrameList { frame_dir, frame_list, .. } => {
                crate::source::walk::regular_file(frame_list).with_context(|| format!("`frame_list` {}", frame_list.display()))?;
                (None, frame_dir)
            }
        };
        if let Some(a) = ann {
            if !a.exists() {
                anyhow::bail!("`ann_file` {} does not exist", a.display());
            }
            crate::source::walk::regular_file(a).with_context(|| format!("`ann_file` {}", a.display()))?;
        }
        if !root.is_dir() {
            let key =
                if matches!(self, SourceConfig::AvaDataset { .. } | SourceConfig::CharadesFrameList { .. }) { "frame_dir" } else { "root" };
            anyhow::bail!("`{key}` {} is not a folder", root.display());
        }
        Ok(())
    }

    /// The files and settings of an `AVADataset` source, `None` for other sources.
    pub fn ava_files(&self) -> Option<crate::source::ava::AvaFiles<'_>> {
        let SourceConfig::AvaDataset {
            frame_dir,
            frame_list,
            annotation_file,
            proposal_file,
            detection_score_thresh,
            fps,
            split,
            full_test_on_val,
            ..
        } = self
        else {
            return None;
        };
        Some(crate::source::ava::AvaFiles {
            frame_dir,
            frame_list,
            annotation_file,
            proposal_file: proposal_file.as_deref(),
            detection_score_thresh: *detection_score_thresh,
            fps: *fps,
            split: *split,
            full_test_on_val: *full_test_on_val,
        })
    }

    /// How rawframe files are named (mmaction2 defaults for video sources, which ignore it).
    ///
    /// # Errors
    /// A template that does not fit the modality.
    pub fn rawframe_spec(&self) -> Result<RawframeSpec> {
        let pyslowfast = match self {
            SourceConfig::AvaDataset { filename_tmpl, .. } => Some((filename_tmpl, "{video}_{:06d}.jpg")),
            SourceConfig::CharadesFrameList { filename_tmpl, .. } => Some((filename_tmpl, "{video}-{:06d}.jpg")),
            _ => None,
        };
        if let Some((filename_tmpl, default)) = pyslowfast {
            let tmpl = filename_tmpl.clone().unwrap_or_else(|| FilenameTemplate::parse(default).expect("valid"));
            let spec = RawframeSpec { filename_tmpl: tmpl, start_index: 1, modality: Modality::RGB };
            spec.validate()?;
            return Ok(spec);
        }
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
        Sample {
            index: line - 1,
            line,
            name: "v.mp4".into(),
            path: "v.mp4".into(),
            labels,
            rawframes: None,
            keyframe: None,
            frame_labels: None,
        }
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
