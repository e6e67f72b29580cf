//! mmaction2 `VideoDataset` lists (`path label` or `path l1 l2 …`, whitespace-separated, paths
//! relative to a root) and folder-per-class scans (label = index of the class folder in sorted
//! order, as mmaction2's `build_file_list.py` and torchvision's `ImageFolder` assign them).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One video to process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Position in the source list (0-based); sets output order and the sample's RNG stream.
    pub index: usize,
    /// The list file's line that gave it (1-based), for messages; 0 when it came from a folder
    /// scan or the command line.
    pub line: usize,
    /// Path as written in the list (relative to the root), the `video` column of outputs.
    pub name: String,
    /// Full path to the file: root joined with `name`.
    pub path: PathBuf,
    /// Labels: one for single-label lists, several for multi-label, none when the list has none.
    pub labels: Vec<i32>,
    /// Set when `path` is a rawframe folder rather than a video file.
    pub rawframes: Option<RawframeRange>,
    /// An AVA keyframe sample's boxes and clip centre ([`super::ava`]); `None` elsewhere.
    pub keyframe: Option<std::sync::Arc<super::ava::Keyframe>>,
    /// Per-frame labels of a PySlowFast Charades training sample ([`super::frame_list`]): the
    /// sample trains on the union over the frames its clip spans; `None` elsewhere.
    pub frame_labels: Option<std::sync::Arc<super::frame_list::ListedVideo>>,
}

/// The frames of a rawframe sample: `total_frames` files starting at file number
/// `offset + start_index` (mmaction2 `RawframeDataset` columns; offset 0 unless `with_offset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawframeRange {
    /// Frames in the sample (the list's `total_frames` column).
    pub total_frames: usize,
    /// File-number offset of the first frame (`with_offset` lists), 0 otherwise.
    pub offset: usize,
}

/// Reads an mmaction2 video list ([`super::list_file`]: BOM dropped, paths as bytes). Blank
/// lines and lines starting with `#` are skipped.
///
/// # Errors
/// The file cannot be read, or a label is not an integer (the message names `file:line`).
pub fn read_video_list(ann_file: &Path, root: &Path) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for line in super::list_file::read_list(ann_file)? {
        let labels = line
            .texts(1)?
            .iter()
            .map(|t| t.parse::<i32>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{}: labels must be integers: {:?}", line.at, line.display()))?;
        let path = root.join(line.path(0).expect("an entry line has a column"));
        out.push(Sample {
            index: out.len(),
            line: line.number,
            path,
            name: line.name(0),
            labels,
            rawframes: None,
            keyframe: None,
            frame_labels: None,
        });
    }
    Ok(out)
}

/// Scans `root/<class>/<file>` for files with one of `exts` (lower-case, no dot). Classes are the
/// sorted sub-folder names, label = position; files sorted within a class. Returns the samples and
/// the class names.
///
/// # Errors
/// `root` cannot be read, or it holds no class folder with a matching file.
pub fn folder_per_class(root: &Path, exts: &[&str]) -> Result<(Vec<Sample>, Vec<String>)> {
    let classes: Vec<String> = super::walk::subdirs(root)
        .with_context(|| format!("reading dataset folder {}", root.display()))?
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut out = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let files = super::walk::files_with_ext(&root.join(class), exts)?;
        for f in files.iter().map(|p| p.file_name().unwrap().to_string_lossy()) {
            let name = format!("{class}/{f}");
            out.push(Sample {
                index: out.len(),
                line: 0,
                path: root.join(&name),
                name,
                labels: vec![label as i32],
                rawframes: None,
                keyframe: None,
                frame_labels: None,
            });
        }
    }
    if out.is_empty() {
        bail!("{}: no videos found in class sub-folders (extensions {exts:?})", root.display());
    }
    Ok((out, classes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn parses_single_and_multi_label_lines() {
        let dir = tempfile::tempdir().unwrap();
        let ann = dir.path().join("list.txt");
        fs::write(&ann, "a/x.mp4 3\n\n# note\nb/y.avi 1 4 7\nc/z.mkv\n").unwrap();
        let s = read_video_list(&ann, Path::new("/data")).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].name.as_str(), s[0].labels.clone(), s[0].path.clone()), ("a/x.mp4", vec![3], PathBuf::from("/data/a/x.mp4")));
        assert_eq!(s[1].labels, vec![1, 4, 7]);
        assert!(s[2].labels.is_empty());
        assert_eq!(s.iter().map(|x| x.index).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn bad_label_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let ann = dir.path().join("list.txt");
        fs::write(&ann, "a.mp4 0\nb.mp4 zero\n").unwrap();
        let msg = format!("{:#}", read_video_list(&ann, dir.path()).unwrap_err());
        assert!(msg.contains("list.txt:2"), "{msg}");
    }

    #[test]
    fn folder_scan_labels_by_sorted_class() {
        let dir = tempfile::tempdir().unwrap();
        for (c, f) in [("zeta", "1.mp4"), ("alpha", "2.avi"), ("alpha", "1.avi"), ("alpha", "notes.txt")] {
            fs::create_dir_all(dir.path().join(c)).unwrap();
            fs::write(dir.path().join(c).join(f), b"").unwrap();
        }
        let (s, classes) = folder_per_class(dir.path(), &["mp4", "avi"]).unwrap();
        assert_eq!(classes, vec!["alpha", "zeta"]);
        let got: Vec<(String, Vec<i32>)> = s.into_iter().map(|x| (x.name, x.labels)).collect();
        assert_eq!(got, vec![("alpha/1.avi".into(), vec![0]), ("alpha/2.avi".into(), vec![0]), ("zeta/1.mp4".into(), vec![1])]);
    }
}
