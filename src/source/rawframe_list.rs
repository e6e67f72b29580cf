//! mmaction2 `RawframeDataset` lists (semantics §1): `frame_dir total_frames label`,
//! `frame_dir offset total_frames label` (`with_offset`), and multi-label `frame_dir total_frames
//! l1 l2 …`; `frame_dir` relative to a root (`data_prefix`).

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{RawframeRange, Sample};

/// Reads a rawframe list. Blank lines and lines starting with `#` are skipped. Labels are every
/// column after the frame count (one for single-label lists, several for multi-label).
///
/// # Errors
/// The file cannot be read, a line has too few columns, or a count, offset or label is not a
/// non-negative integer; the message names `file:line`.
pub fn read_rawframe_list(ann_file: &Path, root: &Path, with_offset: bool) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for line in super::list_file::read_list(ann_file)? {
        let at = &line.at;
        let cols = line.texts(1)?;
        let need = if with_offset { 2 } else { 1 };
        if cols.len() < need {
            let form = if with_offset { "frame_dir offset total_frames label" } else { "frame_dir total_frames label" };
            bail!("{at}: expected `{form}`, got {:?}", line.display());
        }
        let int =
            |s: &str, what: &str| s.parse::<usize>().with_context(|| format!("{at}: {what} must be a non-negative integer, got {s:?}"));
        let (offset, total_frames) =
            if with_offset { (int(cols[0], "offset")?, int(cols[1], "total_frames")?) } else { (0, int(cols[0], "total_frames")?) };
        let labels = cols[need..]
            .iter()
            .map(|t| t.parse::<i32>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{at}: labels must be integers: {:?}", line.display()))?;
        out.push(Sample {
            index: out.len(),
            line: line.number,
            path: root.join(line.path(0).expect("an entry line has a column")),
            name: line.name(0),
            labels,
            rawframes: Some(RawframeRange { total_frames, offset }),
            keyframe: None,
            frame_labels: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn reads_plain_offset_and_multi_label_lines() {
        let dir = tempfile::tempdir().unwrap();
        let ann = dir.path().join("l.txt");
        fs::write(&ann, "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01 120 0\nsome/dir 163 1 3 5\n").unwrap();
        let s = read_rawframe_list(&ann, Path::new("/r"), false).unwrap();
        assert_eq!(s[0].rawframes, Some(RawframeRange { total_frames: 120, offset: 0 }));
        assert_eq!(s[0].path, Path::new("/r/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01"));
        assert_eq!(s[1].labels, vec![1, 3, 5]);

        fs::write(&ann, "train/000123 45 30 7\n").unwrap();
        let s = read_rawframe_list(&ann, Path::new("/r"), true).unwrap();
        assert_eq!((s[0].rawframes, s[0].labels.clone()), (Some(RawframeRange { total_frames: 30, offset: 45 }), vec![7]));
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let ann = dir.path().join("l.txt");
        fs::write(&ann, "a 10 0\nb ten 0\n").unwrap();
        let msg = format!("{:#}", read_rawframe_list(&ann, dir.path(), false).unwrap_err());
        assert!(msg.contains("l.txt:2") && msg.contains("total_frames"), "{msg}");
        fs::write(&ann, "a 10\n").unwrap();
        let msg = format!("{:#}", read_rawframe_list(&ann, dir.path(), true).unwrap_err());
        assert!(msg.contains("l.txt:1") && msg.contains("offset"), "{msg}");
    }
}
