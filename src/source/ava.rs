//! AVA 2.2 spatio-temporal action detection data as PySlowFast reads it (SEVERE's copy,
//! `slowfast/datasets/{ava_helper,ava_dataset}.py`; semantics §12): one sample per keyframe —
//! a second in 902..=1798 of a video with at least one person box — whose clip is centred on
//! frame `(sec − 900)·fps` of the video's rawframe folder, carrying its boxes and their actions.
//!
//! Files (all AVA's own formats, no header unless said):
//! * frame list (`frame_lists/{train,val}.csv`): a header, then space-separated
//!   `original_vido_id video_id frame_id path labels`; a video's rows in frame order (its row
//!   count is its frame count; videos numbered by first appearance);
//! * ground truth (`ava_{train,val}_v2.2.csv`): `video,sec,x1,y1,x2,y2,action,person`, one row
//!   per (box, action), coordinates normalised to [0, 1];
//! * person boxes (`ava_detection_{train,val}_boxes_and_labels*.csv`): the same with the
//!   detector's score in column 8 (the action may be empty); boxes scoring below the threshold
//!   are dropped;
//! * label map (`ava_action_list_v2.2_for_activitynet_2019.pbtxt`): `item { name: "…" id: N }`,
//!   the 60 evaluated classes;
//! * excluded timestamps (`ava_val_excluded_timestamps_v2.2.csv`): `video,sec`, left out of the
//!   evaluation (not of the data).
//!
//! Boxes of one keyframe are keyed by their coordinate text (`",".join(row[2:6])`), so rows
//! with identical text merge their labels, in first-seen order, ground truth before detections.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::{RawframeRange, Sample};

/// PySlowFast's `AVA_VALID_FRAMES`: the seconds that can be keyframes.
pub const VALID_SECONDS: std::ops::RangeInclusive<u32> = 902..=1798;
/// The second the extracted frames start at (AVA's 15-minute cut, `ffmpeg -ss 900`).
pub const TIMESTAMP_START: u32 = 900;
/// AVA's action classes (ids 1..=80); the model's head has this many outputs.
pub const NUM_CLASSES: usize = 80;

/// One person box of a keyframe and its actions.
#[derive(Clone, Debug, PartialEq)]
pub struct AvaBox {
    /// `[x1, y1, x2, y2]`, normalised to [0, 1] (as the CSV gives it).
    pub bbox: [f64; 4],
    /// Action ids 1..=80 in file order; −1 marks a row without an action (an unlabelled
    /// detection), which trains as all-negative.
    pub labels: Vec<i32>,
}

/// A keyframe: the sample of an AVA source.
#[derive(Clone, Debug, PartialEq)]
pub struct Keyframe {
    /// The video's id (the frame folder's name).
    pub video: String,
    /// Its position in the frame list (PySlowFast's `video_idx`, the metadata's first column).
    pub video_index: usize,
    /// The keyframe's second (902..=1798).
    pub sec: u32,
    /// The clip's centre: frame `(sec − 900)·fps`, 0-based.
    pub center: usize,
    /// The keyframe's boxes.
    pub boxes: Vec<AvaBox>,
}

impl Eq for Keyframe {}

impl Keyframe {
    /// AVA's frame key `video,%04d`, the detections CSV's first two columns.
    pub fn key(&self) -> String {
        format!("{},{:04}", self.video, self.sec)
    }

    /// One row per box of 80 zeros and ones: action `a` sets column `a − 1` (PySlowFast's
    /// `label_arrs`); −1 sets none.
    pub fn multi_hot(&self) -> Vec<[f32; NUM_CLASSES]> {
        let mut out = vec![[0f32; NUM_CLASSES]; self.boxes.len()];
        for (row, b) in out.iter_mut().zip(&self.boxes) {
            for &a in b.labels.iter().filter(|&&a| (1..=NUM_CLASSES as i32).contains(&a)) {
                row[a as usize - 1] = 1.0;
            }
        }
        out
    }
}

/// PySlowFast's modes: `train` reads ground-truth and person boxes; `val` person boxes every
/// 4th second (unless `full_test_on_val`); `test` person boxes every second.
pub use super::frame_list::Mode as AvaSplit;

/// The `AVADataset` source's files and settings.
#[derive(Clone, Debug, PartialEq)]
pub struct AvaFiles<'a> {
    /// Frame folders `<frame_dir>/<video>/`.
    pub frame_dir: &'a Path,
    /// The frame list.
    pub frame_list: &'a Path,
    /// The ground-truth CSV.
    pub annotation_file: &'a Path,
    /// The person-box CSV (with scores).
    pub proposal_file: Option<&'a Path>,
    /// Person boxes scoring below this are dropped.
    pub detection_score_thresh: f64,
    /// Frames per second of the extracted frames.
    pub fps: u32,
    /// Which boxes make the samples.
    pub split: AvaSplit,
    /// Validation on every second instead of every 4th.
    pub full_test_on_val: bool,
}

/// Boxes read so far: video → second → (coordinate text, box), in first-seen order.
type BoxesByFrame = BTreeMap<String, BTreeMap<u32, Vec<(String, AvaBox)>>>;

/// The rows of one box CSV (`is_gt`: no score column) read into `boxes`
/// (`video → sec → box text → box`, insertion-ordered by `order`), as `parse_bboxes_file`.
fn read_boxes(path: &Path, is_gt: bool, thresh: f64, sample_rate: u32, boxes: &mut BoxesByFrame) -> Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("reading AVA boxes {}", path.display()))?;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: malformed CSV", path.display()))?;
        let line = rec.position().map_or(i + 1, |p| p.line() as usize);
        let at = || format!("{}:{line}", path.display());
        let need = if is_gt { 7 } else { 8 };
        if rec.len() < need {
            bail!("{}: {} columns, an AVA {} row has {need}", at(), rec.len(), if is_gt { "ground-truth" } else { "person-box" });
        }
        if !is_gt {
            let score: f64 = rec[7].trim().parse().with_context(|| format!("{}: score {:?} is not a number", at(), &rec[7]))?;
            if score < thresh {
                continue;
            }
        }
        let sec: u32 = rec[1].trim().parse().with_context(|| format!("{}: timestamp {:?} is not a whole second", at(), &rec[1]))?;
        if !sec.is_multiple_of(sample_rate) {
            continue;
        }
        let mut bbox = [0f64; 4];
        for (k, v) in bbox.iter_mut().enumerate() {
            *v = rec[2 + k].trim().parse().with_context(|| format!("{}: box coordinate {:?} is not a number", at(), &rec[2 + k]))?;
            if !(-0.01..=1.01).contains(v) {
                bail!("{}: box coordinate {v} is not normalised to [0, 1]", at());
            }
        }
        let label: i32 = match rec[6].trim() {
            "" => -1,
            t => t.parse().with_context(|| format!("{}: action {t:?} is not an integer", at()))?,
        };
        if label != -1 && !(1..=NUM_CLASSES as i32).contains(&label) {
            bail!("{}: action {label} is outside AVA's 1..={NUM_CLASSES}", at());
        }
        let key = (2..6).map(|k| &rec[k]).collect::<Vec<_>>().join(",");
        let frame = boxes.entry(rec[0].to_string()).or_default().entry(sec).or_default();
        match frame.iter_mut().find(|(k, _)| *k == key) {
            Some((_, b)) => b.labels.push(label),
            None => frame.push((key, AvaBox { bbox, labels: vec![label] })),
        }
    }
    Ok(())
}

/// The keyframe samples of an AVA split, in PySlowFast's order (videos in frame-list order,
/// seconds ascending): `name` the frame key `video,%04d`, `path` the video's frame folder,
/// `labels` the union of the boxes' actions as 0-based classes, `keyframe` the boxes.
///
/// # Errors
/// A file does not read (named with its line); a video with boxes that the frame list lacks; a
/// proposals `.pkl` (mmaction2's; convert it to AVA's CSV).
pub fn read_ava(f: &AvaFiles) -> Result<Vec<Sample>> {
    let rate = if f.split == AvaSplit::Val && !f.full_test_on_val { 4 } else { 1 };
    let mut boxes = BTreeMap::new();
    if f.split == AvaSplit::Train {
        read_boxes(f.annotation_file, true, f.detection_score_thresh, rate, &mut boxes)?;
    }
    match f.proposal_file {
        Some(p) if p.extension().is_some_and(|e| e == "pkl") => bail!(
            "`proposal_file` {}: mmaction2's pickled proposals are not read; write them as AVA's person-box CSV (video,sec,x1,y1,x2,y2,,score)",
            p.display()
        ),
        Some(p) => read_boxes(p, false, f.detection_score_thresh, rate, &mut boxes)?,
        None if f.split != AvaSplit::Train => {
            bail!("`proposal_file` is required for split {:?}: PySlowFast tests on the person detector's boxes", f.split)
        }
        None => {}
    }
    let videos: Vec<(String, usize)> =
        super::frame_list::read_frame_list(f.frame_list)?.into_iter().map(|v| (v.name.clone(), v.frames())).collect();
    let listed: BTreeSet<&str> = videos.iter().map(|(v, _)| v.as_str()).collect();
    if let Some(v) = boxes.keys().find(|v| !listed.contains(v.as_str())) {
        bail!("video {v} has boxes but is not in the frame list {}", f.frame_list.display());
    }
    let mut out = Vec::new();
    for (video_index, (video, frames)) in videos.iter().enumerate() {
        for (&sec, frame) in boxes.get(video).into_iter().flatten() {
            if !VALID_SECONDS.contains(&sec) || frame.is_empty() {
                continue;
            }
            let keyframe = Keyframe {
                video: video.clone(),
                video_index,
                sec,
                center: ((sec - TIMESTAMP_START) * f.fps) as usize,
                boxes: frame.iter().map(|(_, b)| b.clone()).collect(),
            };
            let labels: BTreeSet<i32> = keyframe.boxes.iter().flat_map(|b| &b.labels).filter(|&&a| a > 0).map(|a| a - 1).collect();
            out.push(Sample {
                index: out.len(),
                line: 0,
                name: keyframe.key(),
                path: f.frame_dir.join(video),
                labels: labels.into_iter().collect(),
                rawframes: Some(RawframeRange { total_frames: *frames, offset: 0 }),
                keyframe: Some(Arc::new(keyframe)),
                frame_labels: None,
            });
        }
    }
    Ok(out)
}

/// The class ids an AVA label map (pbtxt) lists, in file order, with their names.
///
/// # Errors
/// An unreadable file, an `id:` that is not an integer, or no item.
pub fn read_label_map(path: &Path) -> Result<Vec<(usize, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading AVA label map {}", path.display()))?;
    let mut out = Vec::new();
    let mut name = String::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("name:") {
            name = v.trim().trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("id:").or_else(|| line.strip_prefix("label_id:")) {
            let id = v.trim().parse().with_context(|| format!("{}:{}: id {v:?} is not an integer", path.display(), n + 1))?;
            out.push((id, std::mem::take(&mut name)));
        }
    }
    if out.is_empty() {
        bail!("{}: no `item {{ name: … id: … }}` entries", path.display());
    }
    Ok(out)
}

/// The excluded frame keys (`video,%04d`) of an exclusions CSV (`video,sec`).
///
/// # Errors
/// An unreadable file or a row without two columns.
pub fn read_excluded(path: &Path) -> Result<BTreeSet<String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("reading AVA exclusions {}", path.display()))?;
    let mut out = BTreeSet::new();
    for rec in rdr.records() {
        let rec = rec.with_context(|| format!("{}: malformed CSV", path.display()))?;
        if rec.len() < 2 {
            bail!("{}: a row needs `video,sec`", path.display());
        }
        let sec: u32 =
            rec[1].trim().parse().with_context(|| format!("{}: timestamp {:?} is not a whole second", path.display(), &rec[1]))?;
        out.insert(format!("{},{sec:04}", &rec[0]));
    }
    Ok(out)
}

/// Ground truth for the evaluator from AVA's ground-truth CSV (`read_csv` of `ava_eval_helper`):
/// rows of classes in `classes` (the label map's), excluded keys dropped. Boxes are returned as
/// the evaluator takes them, `[y1, x1, y2, x2]`, with class ids as in the file.
///
/// # Errors
/// As [`read_boxes`]'s file checks.
pub fn read_groundtruth(path: &Path, classes: &BTreeSet<usize>, excluded: &BTreeSet<String>) -> Result<Vec<GroundTruth>> {
    read_eval_rows(path, classes, excluded, false).map(|rows| rows.into_iter().map(|(k, b, c, _)| (k, b, c)).collect())
}

/// Detections from a detections CSV (`video,sec,x1,y1,x2,y2,action,score`), as
/// [`read_groundtruth`] filters them.
///
/// # Errors
/// As [`read_groundtruth`]; a row without a score.
pub fn read_detections(path: &Path, classes: &BTreeSet<usize>, excluded: &BTreeSet<String>) -> Result<Vec<Detection>> {
    read_eval_rows(path, classes, excluded, true)
}

/// `ava_eval_helper.read_csv`: rows `video,sec,x1,y1,x2,y2,action[,score]` → (key, `[y1, x1,
/// y2, x2]`, action, score (1 without a score column)), classes outside `classes` and excluded
/// keys dropped.
fn read_eval_rows(path: &Path, classes: &BTreeSet<usize>, excluded: &BTreeSet<String>, scored: bool) -> Result<Vec<Detection>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: malformed CSV", path.display()))?;
        let line = rec.position().map_or(i + 1, |p| p.line() as usize);
        let at = || format!("{}:{line}", path.display());
        if rec.len() < 7 + scored as usize {
            bail!("{}: {} columns; expected video,sec,x1,y1,x2,y2,action{}", at(), rec.len(), if scored { ",score" } else { "" });
        }
        let num = |k: usize| -> Result<f64> {
            rec[k].trim().parse().with_context(|| format!("{}: column {} {:?} is not a number", at(), k + 1, &rec[k]))
        };
        let sec = num(1)? as u32;
        let key = format!("{},{sec:04}", &rec[0]);
        let class = num(6)? as usize;
        if !classes.contains(&class) || excluded.contains(&key) {
            continue;
        }
        let score = if scored && rec.len() > 7 { num(7)? } else { 1.0 };
        out.push((key, [num(3)?, num(2)?, num(5)?, num(4)?], class, score));
    }
    Ok(out)
}

/// The AVA evaluation of one split (PySlowFast's `AVAMeter` + `ava_eval_helper`): its ground
/// truth (the label map's classes, excluded keys dropped; only seconds divisible by 4 for `val`
/// without `full_test_on_val`, the "mini" ground truth), the evaluated classes and the
/// excluded keys.
#[derive(Clone, Debug, PartialEq)]
pub struct AvaEval {
    /// Ground-truth boxes `[y1, x1, y2, x2]` (normalised) and their classes.
    pub groundtruth: Vec<GroundTruth>,
    /// The evaluated action ids (the label map's; all 80 without one).
    pub classes: BTreeSet<usize>,
    /// Frame keys left out (`exclude_file`).
    pub excluded: BTreeSet<String>,
}

use crate::metrics::ava::{Detection, GroundTruth};

impl AvaEval {
    /// Reads the evaluation files of an `AVADataset` source.
    ///
    /// # Errors
    /// A file does not read (named with its line).
    pub fn load(files: &AvaFiles, label_map: Option<&Path>, exclude_file: Option<&Path>) -> Result<Self> {
        let classes: BTreeSet<usize> = match label_map {
            Some(p) => read_label_map(p)?.into_iter().map(|(id, _)| id).collect(),
            None => (1..=NUM_CLASSES).collect(),
        };
        let excluded = exclude_file.map(read_excluded).transpose()?.unwrap_or_default();
        let mut groundtruth = read_groundtruth(files.annotation_file, &classes, &excluded)?;
        if files.split == AvaSplit::Val && !files.full_test_on_val {
            groundtruth
                .retain(|(key, _, _)| key.rsplit(',').next().and_then(|s| s.parse::<u32>().ok()).is_some_and(|s| s.is_multiple_of(4)));
        }
        Ok(AvaEval { groundtruth, classes, excluded })
    }

    /// The detections of one keyframe: each box (its original normalised coordinates) with each
    /// evaluated class, scored by `scores[box][class − 1]` (`get_ava_eval_data`); none for an
    /// excluded key.
    pub fn detections(&self, keyframe: &Keyframe, scores: &[Vec<f32>]) -> Vec<Detection> {
        let key = keyframe.key();
        if self.excluded.contains(&key) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (b, row) in keyframe.boxes.iter().zip(scores) {
            let [x1, y1, x2, y2] = b.bbox;
            for (c, &score) in row.iter().enumerate().filter(|(c, _)| self.classes.contains(&(c + 1))) {
                out.push((key.clone(), [y1, x1, y2, x2], c + 1, score as f64));
            }
        }
        out
    }

    /// `PascalBoxes_Precision/mAP@0.5IOU` of `detections` against this ground truth.
    pub fn map(&self, detections: &[Detection]) -> f64 {
        let classes: Vec<usize> = self.classes.iter().copied().collect();
        crate::metrics::ava::frame_map(&self.groundtruth, detections, &classes, 0.5).0
    }
}

/// Writes `rows` (key, `[y1, x1, y2, x2]`, class, score) as AVA's CSV, PySlowFast's
/// `write_results`: `video,sec,x1,y1,x2,y2,action,score` with `%.03f` boxes and a `%.04f`
/// score, atomically.
///
/// # Errors
/// The file cannot be written.
pub fn write_results(path: &Path, rows: &[Detection]) -> Result<()> {
    crate::sink::atomic::write_with(path, |tmp| {
        let mut text = String::with_capacity(rows.len() * 48);
        for (key, b, class, score) in rows {
            text += &format!("{key},{:.3},{:.3},{:.3},{:.3},{class},{score:.4}\n", b[1], b[0], b[3], b[2]);
        }
        std::fs::write(tmp, text).with_context(|| format!("writing {}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn keyframes_merge_boxes_by_text_and_follow_pyslowfasts_modes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut list = String::from("original_vido_id video_id frame_id path labels\n");
        for (v, n) in [("b", 3), ("a", 100)] {
            for i in 0..n {
                list += &format!("{v} 0 {i} {v}/{v}_{:06}.jpg \"\"\n", i + 1);
            }
        }
        let frames = write(d, "train.csv", &list);
        let gt = write(
            d,
            "gt.csv",
            "a,902,0.1,0.2,0.5,0.6,12,0\na,902,0.1,0.2,0.5,0.6,80,0\na,904,0.0,0.0,1.0,1.0,3,1\na,1799,0.1,0.1,0.2,0.2,3,1\n",
        );
        let det = write(d, "det.csv", "a,902,0.1,0.2,0.5,0.6,,0.95\na,902,0.3,0.3,0.4,0.4,,0.5\na,903,0.3,0.3,0.4,0.4,,0.91\n");
        let files = AvaFiles {
            frame_dir: Path::new("/frames"),
            frame_list: &frames,
            annotation_file: &gt,
            proposal_file: Some(&det),
            detection_score_thresh: 0.9,
            fps: 30,
            split: AvaSplit::Train,
            full_test_on_val: false,
        };
        let s = read_ava(&files).unwrap();
        assert_eq!(s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a,0902", "a,0903", "a,0904"], "1799 is not a keyframe second");
        let k = s[0].keyframe.as_ref().unwrap();
        assert_eq!((k.video_index, k.center, s[0].path.clone()), (1, 60, PathBuf::from("/frames/a")));
        assert_eq!(k.boxes.len(), 1, "the 0.5-scoring box is dropped, the same text merges");
        assert_eq!(k.boxes[0].labels, [12, 80, -1]);
        assert_eq!(s[0].labels, [11, 79]);
        let hot = k.multi_hot();
        assert_eq!((hot[0][11], hot[0][79], hot[0].iter().sum::<f32>()), (1.0, 1.0, 2.0));
        assert_eq!(s[0].rawframes.unwrap().total_frames, 100);
        let val = read_ava(&AvaFiles { split: AvaSplit::Val, ..files.clone() }).unwrap();
        assert!(val.is_empty(), "val: person boxes only, seconds divisible by 4 ({:?})", val.iter().map(|s| &s.name).collect::<Vec<_>>());
        let test = read_ava(&AvaFiles { split: AvaSplit::Test, ..files.clone() }).unwrap();
        assert_eq!(test.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a,0902", "a,0903"]);
        assert_eq!(test[0].keyframe.as_ref().unwrap().boxes[0].labels, [-1]);
        let bad = write(d, "bad.csv", "a,902,0.1,0.2,0.5,0.6,81,0\n");
        let e = read_ava(&AvaFiles { annotation_file: &bad, ..files.clone() }).unwrap_err().to_string();
        assert!(e.contains("bad.csv:1") && e.contains("action 81"), "{e}");
        let stray = write(d, "stray.csv", "c,902,0.1,0.2,0.5,0.6,1,0\n");
        let e = read_ava(&AvaFiles { annotation_file: &stray, ..files }).unwrap_err().to_string();
        assert!(e.contains("video c") && e.contains("frame list"), "{e}");
    }

    #[test]
    fn label_map_and_exclusions_read_avas_formats() {
        let dir = tempfile::tempdir().unwrap();
        let pb = write(
            dir.path(),
            "l.pbtxt",
            "item {\n  name: \"bend/bow (at the waist)\"\n  id: 1\n}\nitem {\n  name: \"stand\"\n  id: 12\n}\n",
        );
        assert_eq!(read_label_map(&pb).unwrap(), [(1, "bend/bow (at the waist)".to_string()), (12, "stand".to_string())]);
        let ex = write(dir.path(), "ex.csv", "vid1,0930\nvid1,931\n");
        assert_eq!(read_excluded(&ex).unwrap().into_iter().collect::<Vec<_>>(), ["vid1,0930", "vid1,0931"]);
    }
}
