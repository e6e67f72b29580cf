//! EPIC-Kitchens-100 action segments from the dataset's own annotation CSVs
//! (`EPIC_100_train.csv`, `EPIC_100_validation.csv`, the UDA files `EPIC_100_uda_source_train.csv`
//! …; repository `epic-kitchens/epic-kitchens-100-annotations`): one sample per row, the frames
//! `start_frame..=stop_frame` (1-based file numbers, as the dataset's `frame_0000000001.jpg`)
//! of the video's rawframe folder, labelled by `verb_class` or `noun_class`. The frames come
//! from the dataset's layout `<root>/<participant_id>/rgb_frames/<video_id>/` unless a
//! `frame_dir` template says otherwise.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{RawframeRange, Sample};

/// Which class column labels a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EpicLabel {
    /// `verb_class` (97 classes; CDAR's and MM-SADA's label).
    #[default]
    Verb,
    /// `noun_class` (300 classes).
    Noun,
}

/// The segments of EPIC-Kitchens-100 CSV `ann_file`, in file order: sample `name` the row's
/// `narration_id`, `path` `root` joined with `frame_dir` (`{participant_id}` and `{video_id}`
/// replaced), frames `start_frame..=stop_frame` (offset `start_frame − 1` from a `start_index` of
/// 1), the `label` column as its label. `participant_id` may be absent (the `video_id`'s part
/// before `_`).
///
/// # Errors
/// An unreadable file; a missing column; a row with a non-numeric or reversed frame range or
/// class (the message names the file and line).
pub fn read_epic_kitchens(ann_file: &Path, root: &Path, frame_dir: &str, label: EpicLabel) -> Result<Vec<Sample>> {
    let mut rdr = csv::Reader::from_path(ann_file).with_context(|| format!("reading EPIC-Kitchens annotations {}", ann_file.display()))?;
    let headers = rdr.headers().with_context(|| format!("{}: no header row", ann_file.display()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let need =
        |name: &str| col(name).with_context(|| format!("{}: no `{name}` column (an EPIC-Kitchens-100 CSV has one)", ann_file.display()));
    let label_col = match label {
        EpicLabel::Verb => "verb_class",
        EpicLabel::Noun => "noun_class",
    };
    let (video, start, stop, class) = (need("video_id")?, need("start_frame")?, need("stop_frame")?, need(label_col)?);
    let (participant, narration) = (col("participant_id"), col("narration_id"));
    let mut out = Vec::new();
    for (index, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: malformed CSV", ann_file.display()))?;
        let line = rec.position().map_or(index + 2, |p| p.line() as usize);
        let at = || format!("{}:{line}", ann_file.display());
        let num = |c: usize, what: &str| -> Result<i64> {
            rec.get(c).unwrap_or("").trim().parse::<i64>().with_context(|| format!("{}: `{what}` is not a number", at()))
        };
        let video_id = rec.get(video).unwrap_or("").to_string();
        let pid = participant
            .and_then(|c| rec.get(c))
            .map(str::to_string)
            .unwrap_or_else(|| video_id.split('_').next().unwrap_or("").to_string());
        let (first, last, class) = (num(start, "start_frame")?, num(stop, "stop_frame")?, num(class, label_col)?);
        if first < 1 || last < first {
            bail!("{}: frames {first}..={last} are not a range of 1-based frame numbers", at());
        }
        let dir = frame_dir.replace("{participant_id}", &pid).replace("{video_id}", &video_id);
        let name = narration.and_then(|c| rec.get(c)).map(str::to_string).unwrap_or_else(|| format!("{video_id}_{first}_{last}"));
        out.push(Sample {
            index,
            line,
            name,
            path: root.join(dir),
            labels: vec![i32::try_from(class).with_context(|| format!("{}: class {class}", at()))?],
            rawframes: Some(RawframeRange { total_frames: (last - first + 1) as usize, offset: (first - 1) as usize }),
            keyframe: None,
            frame_labels: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_the_official_csv_become_segments() {
        let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/epic_kitchens/EPIC_100_uda_source_train_head.csv");
        let s = read_epic_kitchens(&csv, Path::new("/ek"), "{participant_id}/rgb_frames/{video_id}", EpicLabel::Verb).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!((s[0].name.as_str(), s[0].line, s[0].labels.as_slice()), ("P01_01_0", 2, &[3][..]));
        assert_eq!(s[0].path, Path::new("/ek/P01/rgb_frames/P01_01"));
        assert_eq!(s[0].rawframes, Some(RawframeRange { total_frames: 195, offset: 7 })); // frames 8..=202
                                                                                          // A quoted narration list with commas stays one row.
        assert_eq!((s[3].name.as_str(), s[3].labels.as_slice()), ("P01_01_45", &[9][..]));
        let n = read_epic_kitchens(&csv, Path::new("/ek"), "{video_id}", EpicLabel::Noun).unwrap();
        assert_eq!((n[1].labels.as_slice(), n[1].path.as_path()), (&[114][..], Path::new("/ek/P01_01")));
    }
}
