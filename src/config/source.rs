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

pub use crate::source::VIDEO_EXTENSIONS;

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

    /// Checks that the annotation file and root exist.
    ///
    /// # Errors
    /// A missing path, named with its key (`ann_file`, `root`).
    pub fn check_paths(&self) -> Result<()> {
        let (ann, root) = match self {
            SourceConfig::VideoList { ann_file, root } | SourceConfig::RawframeList { ann_file, root, .. } => (Some(ann_file), root),
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
