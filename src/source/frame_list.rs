//! PySlowFast's frame lists (`slowfast/datasets/utils.py` `load_image_lists`, AVA's
//! `ava_helper.load_image_lists`; semantics §12): a header line starting `original_vido_id`, then
//! one space-separated row per frame, `original_vido_id video_id frame_id path labels`; a
//! video's rows are its frames in order, videos in order of first appearance, `labels` a quoted
//! comma-separated list of class ids (`""` for none).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// One video of a frame list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedVideo {
    /// `original_vido_id`: the video's name (its frame folder's).
    pub name: String,
    /// The line of its first row (1-based).
    pub line: usize,
    /// Per frame, its class ids (the `labels` column).
    pub labels: Vec<Vec<i32>>,
}

impl ListedVideo {
    /// Its frame count (rows).
    pub fn frames(&self) -> usize {
        self.labels.len()
    }

    /// The union of the labels of frames `first..=last` (0-based, clamped to the video), sorted:
    /// PySlowFast's `aggregate_labels` over a clip's span, or over the whole video
    /// (`convert_to_video_level_labels`) for `0..=frames − 1`.
    pub fn labels_between(&self, first: usize, last: usize) -> Vec<i32> {
        let last = last.min(self.labels.len().saturating_sub(1));
        let mut all: Vec<i32> = self.labels.get(first..=last).into_iter().flatten().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// Reads a frame list.
///
/// # Errors
/// An unreadable file, a first line that is not the header, a row without 5 columns, a label
/// that is not an integer, or a video whose `frame_id`s do not count 0, 1, 2 … (the message names
/// the file and line).
pub fn read_frame_list(path: &Path) -> Result<Vec<ListedVideo>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading frame list {}", path.display()))?;
    let mut lines = text.lines();
    if !lines.next().is_some_and(|h| h.starts_with("original_vido_id")) {
        bail!("{}:1: a frame list starts with the header `original_vido_id video_id frame_id path labels`", path.display());
    }
    let mut videos: Vec<ListedVideo> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (n, line) in lines.enumerate() {
        let at = || format!("{}:{}", path.display(), n + 2);
        let row: Vec<&str> = line.split_whitespace().collect();
        if row.is_empty() {
            continue;
        }
        if row.len() != 5 {
            bail!("{}: {} columns; a frame list row is `original_vido_id video_id frame_id path labels`", at(), row.len());
        }
        let v = *index.entry(row[0].to_string()).or_insert_with(|| {
            videos.push(ListedVideo { name: row[0].to_string(), line: n + 2, labels: Vec::new() });
            videos.len() - 1
        });
        let frame: usize = row[2].parse().with_context(|| format!("{}: frame_id {:?} is not a number", at(), row[2]))?;
        if frame != videos[v].frames() {
            bail!("{}: frame_id {frame} of {} where {} was due (rows are the video's frames in order)", at(), row[0], videos[v].frames());
        }
        let text = row[4].replace('"', "");
        let labels = if text.is_empty() {
            Vec::new()
        } else {
            text.split(',')
                .map(|l| l.parse::<i32>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("{}: labels {:?} are not integers", at(), row[4]))?
        };
        videos[v].labels.push(labels);
    }
    if videos.is_empty() {
        bail!("{}: no frames listed", path.display());
    }
    Ok(videos)
}

/// PySlowFast's modes, which decide how a split reads its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Training.
    #[default]
    Train,
    /// Validation during training.
    Val,
    /// Testing.
    Test,
}

/// PySlowFast's Charades (`slowfast/datasets/charades.py`): one sample per video of a frame list,
/// its frames `<frame_dir>/<video>/…`; labels the union over the video (val, test), or, in
/// training, over the frames the sampled clip spans ([`crate::source::Sample::frame_labels`]).
///
/// # Errors
/// As [`read_frame_list`]; a label outside `0..num_classes` (named with the video).
pub fn read_charades(frame_list: &Path, frame_dir: &Path, mode: Mode, num_classes: usize) -> Result<Vec<super::Sample>> {
    let videos = read_frame_list(frame_list)?;
    let mut out = Vec::with_capacity(videos.len());
    for v in videos {
        let labels = v.labels_between(0, v.frames().saturating_sub(1));
        if let Some(l) = labels.iter().find(|&&l| l < 0 || l as usize >= num_classes) {
            bail!("{}:{}: video {}: label {l} is outside 0..{num_classes} (`num_classes`)", frame_list.display(), v.line, v.name);
        }
        out.push(super::Sample {
            index: out.len(),
            line: v.line,
            path: frame_dir.join(&v.name),
            name: v.name.clone(),
            labels,
            rawframes: Some(super::RawframeRange { total_frames: v.frames(), offset: 0 }),
            keyframe: None,
            frame_labels: (mode == Mode::Train).then(|| std::sync::Arc::new(v)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charades_labels_are_per_frame_in_training_and_per_video_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.csv");
        let rows = "original_vido_id video_id frame_id path labels\n\
                    46GP8 0 0 46GP8/46GP8-000001.jpg \"\"\n46GP8 0 1 46GP8/46GP8-000002.jpg \"3,7\"\n\
                    46GP8 0 2 46GP8/46GP8-000003.jpg \"7\"\nN11GT 1 0 N11GT/N11GT-000001.jpg \"156\"\n";
        std::fs::write(&p, rows).unwrap();
        let train = read_charades(&p, Path::new("/f"), Mode::Train, 157).unwrap();
        assert_eq!(
            train.iter().map(|s| (s.name.as_str(), s.labels.clone())).collect::<Vec<_>>(),
            [("46GP8", vec![3, 7]), ("N11GT", vec![156])]
        );
        let fl = train[0].frame_labels.as_ref().unwrap();
        assert_eq!((fl.labels_between(0, 0), fl.labels_between(2, 9), fl.frames()), (vec![], vec![7], 3));
        assert!(read_charades(&p, Path::new("/f"), Mode::Test, 157).unwrap()[0].frame_labels.is_none());
        let e = read_charades(&p, Path::new("/f"), Mode::Val, 100).unwrap_err().to_string();
        assert!(e.contains("train.csv:5") && e.contains("label 156"), "{e}");
        std::fs::write(&p, rows.replace("46GP8 0 2", "46GP8 0 5")).unwrap();
        let e = read_frame_list(&p).unwrap_err().to_string();
        assert!(e.contains("train.csv:4") && e.contains("frame_id 5"), "{e}");
    }
}
