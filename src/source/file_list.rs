//! `vpipe build-file-list`: dataset split files → mmaction2 list files (mmaction2 0.x/1.x
//! `tools/data/build_file_list.py`, semantics §2).
//!
//! - **UCF101**: `classInd.txt` (`1 ApplyEyeMakeup`, label = id − 1), `trainlist0N.txt`
//!   (`Class/v_X.avi 1`, label column ignored), `testlist0N.txt` (`Class/v_X.avi`) → train / val.
//! - **HMDB51**: `<class>_test_split<N>.txt` lines `<video>.avi <flag>`; flag 1 → train, 2 → val
//!   (the official test list), 0 → unused; label = index of the class in sorted order.
//! - **Folder**: `SRC/<class>/<item>`, one split: label = sorted class index (or the id in a
//!   UCF-style `classInd.txt`); `val_ratio` of each class, chosen with a seeded shuffle, to val.
//!
//! Lines are `<class>/<video> <frames> <label>` for rawframes (frames counted on disk) and
//! `<class>/<file.ext> <label>` for videos.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::sink::AtomicFile;

/// Which split files to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// UCF101 (`classInd.txt`, `trainlist0N.txt`, `testlist0N.txt`).
    Ucf101,
    /// HMDB51 (`<class>_test_split<N>.txt`).
    Hmdb51,
    /// A plain folder-per-class tree, no official splits.
    Folder,
}

/// What the list describes (mmaction2 `--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// `frame_dir total_frames label` lines.
    Rawframes,
    /// `path label` lines.
    Videos,
}

impl Dataset {
    /// The names [`str::parse`] takes.
    pub const NAMES: &'static [&'static str] = &["ucf101", "hmdb51", "folder"];
}

impl std::str::FromStr for Dataset {
    type Err = String;

    /// `ucf101`, `hmdb51` or `folder`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "ucf101" => Ok(Dataset::Ucf101),
            "hmdb51" => Ok(Dataset::Hmdb51),
            "folder" => Ok(Dataset::Folder),
            _ => Err(format!("unknown dataset {s:?}: expected ucf101, hmdb51 or folder")),
        }
    }
}

impl ListFormat {
    /// The names [`str::parse`] takes.
    pub const NAMES: &'static [&'static str] = &["rawframes", "videos"];
}

impl std::str::FromStr for ListFormat {
    type Err = String;

    /// `rawframes` or `videos`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "rawframes" => Ok(ListFormat::Rawframes),
            "videos" => Ok(ListFormat::Videos),
            _ => Err(format!("unknown list format {s:?}: expected rawframes or videos")),
        }
    }
}

impl ListFormat {
    fn name(self) -> &'static str {
        match self {
            ListFormat::Rawframes => "rawframes",
            ListFormat::Videos => "videos",
        }
    }
}

/// One item found under the source folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Path relative to the source folder as written in the list: `class/video` (rawframes) or
    /// `class/video.ext` (videos).
    pub rel: String,
    /// RGB frames on disk (files starting with the RGB prefix); 0 for videos.
    pub frames: usize,
}

/// Items under `src` keyed by `class/stem` (level 2) or `stem` (level 1): rawframe folders, or
/// video files with an extension in `exts`. Rawframe counts are files starting with `rgb_prefix`;
/// folders with flow must have as many `flow_x_prefix` as `flow_y_prefix` files.
///
/// # Errors
/// `src` cannot be read, or a folder's x and y flow counts differ (named).
pub fn scan(src: &Path, level: usize, format: ListFormat, exts: &[&str], prefixes: [&str; 3]) -> Result<BTreeMap<String, Item>> {
    let mut out = BTreeMap::new();
    let classes: Vec<Option<String>> = if level == 2 { sorted_names(src, true)?.into_iter().map(Some).collect() } else { vec![None] };
    for class in classes {
        let dir = class.as_ref().map_or(src.to_path_buf(), |c| src.join(c));
        let want_dirs = format == ListFormat::Rawframes;
        for name in sorted_names(&dir, want_dirs)? {
            let path = dir.join(&name);
            let (stem, frames) = match format {
                ListFormat::Rawframes => {
                    if name.starts_with('.') {
                        continue; // partial extraction folders
                    }
                    let files = sorted_names(&path, false)?;
                    let count = |p: &str| files.iter().filter(|f| f.starts_with(p)).count();
                    let (x, y) = (count(prefixes[1]), count(prefixes[2]));
                    if x != y {
                        bail!("{}: {x} x-flow files but {y} y-flow files", path.display());
                    }
                    (name.clone(), count(prefixes[0]))
                }
                ListFormat::Videos => {
                    let p = Path::new(&name);
                    match p.extension() {
                        Some(e) if exts.contains(&e.to_string_lossy().to_lowercase().as_str()) => {}
                        _ => continue,
                    }
                    (p.file_stem().unwrap().to_string_lossy().into_owned(), 0)
                }
            };
            let prefix = class.as_ref().map_or(String::new(), |c| format!("{c}/"));
            out.insert(format!("{prefix}{stem}"), Item { rel: format!("{prefix}{name}"), frames });
        }
    }
    Ok(out)
}

/// Sorted names of the sub-folders (`dirs`) or files of `dir`.
fn sorted_names(dir: &Path, dirs: bool) -> Result<Vec<String>> {
    let entries = super::walk::entries(dir)?;
    Ok(entries
        .iter()
        .filter(|p| if dirs { p.is_dir() } else { p.is_file() })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect())
}

/// One split: (key, label) pairs for train and val, keys as [`scan`] makes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// (key, label) of the train list.
    pub train: Vec<(String, i32)>,
    /// (key, label) of the val list (the official test list for UCF101/HMDB51).
    pub val: Vec<(String, i32)>,
}

fn strip_ext(p: &str) -> String {
    match p.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => stem.to_string(),
        _ => p.to_string(),
    }
}

fn read_lines(path: &Path) -> Result<Vec<(usize, String)>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // Windows editors start a file with a byte-order mark; it is not part of the first name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Ok(text.lines().enumerate().map(|(i, l)| (i + 1, l.trim().to_string())).filter(|(_, l)| !l.is_empty()).collect())
}

/// Reads a UCF-style `classInd.txt` (`1 ApplyEyeMakeup`): class name → label (id − 1).
///
/// # Errors
/// Unreadable file or a line that is not `<id> <name>` with id ≥ 1 (names `file:line`).
pub fn read_class_ind(path: &Path) -> Result<BTreeMap<String, i32>> {
    let mut out = BTreeMap::new();
    for (n, line) in read_lines(path)? {
        let parsed =
            line.split_once(char::is_whitespace).and_then(|(id, name)| Some((id.parse::<i32>().ok().filter(|&i| i >= 1)?, name.trim())));
        let Some((id, name)) = parsed else { bail!("{}:{n}: expected `<id ≥ 1> <class>`, got {line:?}", path.display()) };
        out.insert(name.to_string(), id - 1);
    }
    Ok(out)
}

/// UCF101 split `n` (1-based) from `ann_dir` (`classInd.txt`, `trainlist0n.txt`, `testlist0n.txt`).
///
/// # Errors
/// Missing files, or a listed video whose class is not in `classInd.txt` (names `file:line`).
pub fn ucf101_split(ann_dir: &Path, n: usize) -> Result<Split> {
    let classes = read_class_ind(&ann_dir.join("classInd.txt"))?;
    let read = |file: String| -> Result<Vec<(String, i32)>> {
        let path = ann_dir.join(file);
        read_lines(&path)?
            .into_iter()
            .map(|(i, line)| {
                let video = line.split_whitespace().next().expect("non-empty");
                let class = video.split('/').next().unwrap_or_default();
                let label =
                    classes.get(class).with_context(|| format!("{}:{i}: class {class:?} is not in classInd.txt", path.display()))?;
                Ok((strip_ext(video), *label))
            })
            .collect()
    };
    Ok(Split { train: read(format!("trainlist{n:02}.txt"))?, val: read(format!("testlist{n:02}.txt"))? })
}

/// HMDB51 split `n` (1-based) from `ann_dir/<class>_test_split<n>.txt`.
///
/// # Errors
/// No split files, unreadable files, or a flag other than 0/1/2 (names `file:line`).
pub fn hmdb51_split(ann_dir: &Path, n: usize) -> Result<Split> {
    let suffix = format!("_test_split{n}.txt");
    let classes: Vec<String> =
        sorted_names(ann_dir, false)?.into_iter().filter_map(|f| f.strip_suffix(&suffix).map(str::to_string)).collect();
    if classes.is_empty() {
        bail!("{}: no *{suffix} files", ann_dir.display());
    }
    let mut split = Split::default();
    for (label, class) in classes.iter().enumerate() {
        let path = ann_dir.join(format!("{class}{suffix}"));
        for (i, line) in read_lines(&path)? {
            let mut cols = line.split_whitespace();
            let (video, flag) = (cols.next().expect("non-empty"), cols.next().unwrap_or(""));
            let entry = (format!("{class}/{}", strip_ext(video)), label as i32);
            match flag {
                "1" => split.train.push(entry),
                "2" => split.val.push(entry),
                "0" => {}
                _ => bail!("{}:{i}: flag must be 0, 1 or 2, got {flag:?}", path.display()),
            }
        }
    }
    Ok(split)
}

/// One split of a folder-per-class tree: labels from `class_ind` when given (classes missing from
/// it are an error), else sorted class index; `val_ratio` of each class (rounded) to val, picked
/// with a shuffle seeded by `seed`.
///
/// # Errors
/// A class folder not named in `class_ind`.
pub fn folder_split(items: &BTreeMap<String, Item>, class_ind: Option<&BTreeMap<String, i32>>, val_ratio: f64, seed: u64) -> Result<Split> {
    let mut by_class: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in items.keys() {
        let class = key.split_once('/').map_or("", |(c, _)| c);
        by_class.entry(class.to_string()).or_default().push(key.clone());
    }
    let mut split = Split::default();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    for (i, (class, mut keys)) in by_class.into_iter().enumerate() {
        let label = match class_ind {
            Some(ci) => *ci.get(&class).with_context(|| format!("class folder {class:?} is not in the class index"))?,
            None => i as i32,
        };
        keys.shuffle(&mut rng);
        let n_val = (keys.len() as f64 * val_ratio).round() as usize;
        let mut val: Vec<String> = keys.drain(..n_val).collect();
        val.sort();
        keys.sort();
        split.val.extend(val.into_iter().map(|k| (k, label)));
        split.train.extend(keys.into_iter().map(|k| (k, label)));
    }
    Ok(split)
}

/// The list lines of `entries` found in `items`; keys missing from `items` are returned apart so
/// the caller can report them.
pub fn render(entries: &[(String, i32)], items: &BTreeMap<String, Item>, format: ListFormat) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut missing = Vec::new();
    for (key, label) in entries {
        match items.get(key) {
            Some(it) if format == ListFormat::Rawframes => text.push_str(&format!("{} {} {label}\n", it.rel, it.frames)),
            Some(it) => text.push_str(&format!("{} {label}\n", it.rel)),
            None => missing.push(key.clone()),
        }
    }
    (text, missing)
}

/// `<out_root>/<ds>/<ds>_<subset>_split_<n>_<format>.txt`, mmaction2's list file name.
pub fn list_path(out_root: &Path, ds: &str, subset: &str, n: usize, format: ListFormat) -> PathBuf {
    out_root.join(ds).join(format!("{ds}_{subset}_split_{n}_{}.txt", format.name()))
}

/// Writes `text` to `path` atomically, creating parent folders.
///
/// # Errors
/// The folder or file cannot be written.
pub fn write_list(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let (atomic, mut file) = AtomicFile::create(path)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    atomic.commit(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn ucf101_labels_come_from_class_ind() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "classInd.txt", "1 ApplyEyeMakeup\n2 YoYo\n");
        write(d.path(), "trainlist01.txt", "YoYo/v_YoYo_g08_c01.avi 2\nApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n");
        write(d.path(), "testlist01.txt", "YoYo/v_YoYo_g01_c01.avi\n");
        let s = ucf101_split(d.path(), 1).unwrap();
        assert_eq!(s.train, vec![("YoYo/v_YoYo_g08_c01".into(), 1), ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01".into(), 0)]);
        assert_eq!(s.val, vec![("YoYo/v_YoYo_g01_c01".into(), 1)]);
        write(d.path(), "testlist02.txt", "Nope/v.avi\n");
        write(d.path(), "trainlist02.txt", "");
        let msg = format!("{:#}", ucf101_split(d.path(), 2).unwrap_err());
        assert!(msg.contains("testlist02.txt:1") && msg.contains("Nope"), "{msg}");
    }

    #[test]
    fn hmdb51_flags_pick_train_val_unused() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "wave_test_split1.txt", "a.avi 1\nb.avi 2\nc.avi 0\n");
        write(d.path(), "brush_hair_test_split1.txt", "d.avi 2 \n");
        let s = hmdb51_split(d.path(), 1).unwrap();
        assert_eq!(s.train, vec![("wave/a".into(), 1)]);
        assert_eq!(s.val, vec![("brush_hair/d".into(), 0), ("wave/b".into(), 1)]);
    }

    #[test]
    fn scan_counts_rgb_frames_and_checks_flow() {
        let d = tempfile::tempdir().unwrap();
        for f in
            ["c/v1/img_00001.jpg", "c/v1/img_00002.jpg", "c/v1/flow_x_00001.jpg", "c/v1/flow_y_00001.jpg", "c/.v2.partial/img_00001.jpg"]
        {
            write(d.path(), f, "");
        }
        let items = scan(d.path(), 2, ListFormat::Rawframes, &[], ["img_", "flow_x_", "flow_y_"]).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items["c/v1"], Item { rel: "c/v1".into(), frames: 2 });
        write(d.path(), "c/v1/flow_x_00002.jpg", "");
        assert!(format!("{:#}", scan(d.path(), 2, ListFormat::Rawframes, &[], ["img_", "flow_x_", "flow_y_"]).unwrap_err()).contains("v1"));
    }

    #[test]
    fn folder_split_is_seeded_and_covers_everything() {
        let items: BTreeMap<String, Item> =
            (0..10).map(|i| (format!("{}/v{i}", if i < 5 { "b" } else { "a" }), Item { rel: String::new(), frames: 0 })).collect();
        let s = folder_split(&items, None, 0.2, 7).unwrap();
        assert_eq!((s.train.len(), s.val.len()), (8, 2));
        assert!(s.val.iter().any(|(k, l)| k.starts_with("a/") && *l == 0) && s.val.iter().any(|(k, l)| k.starts_with("b/") && *l == 1));
        assert_eq!(folder_split(&items, None, 0.2, 7).unwrap(), s);
        let (text, missing) = render(&[("a/v5".into(), 0), ("zz".into(), 1)], &items, ListFormat::Rawframes);
        assert_eq!((text.as_str(), missing), (" 0 0\n", vec!["zz".to_string()]));
    }
}
