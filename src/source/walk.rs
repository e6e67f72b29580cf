//! Directory walking: the one place vpipe lists folders (dataset trees, rawframe folders, video
//! trees, background images). Every listing is sorted by path, so task order, shard membership and
//! labels do not depend on the file system; every error names the folder.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Checks that `path` is a regular file (symlinks followed). A FIFO would block its reader
/// forever, `/dev/zero` would be read until memory runs out: vpipe opens only regular files.
///
/// # Errors
/// `path` does not exist, cannot be inspected, or is another kind of file (the message says
/// which: a folder, a FIFO, a character or block device, a socket; callers add the path).
pub fn regular_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let t = fs::metadata(path).context("cannot open")?.file_type();
    let kind = match () {
        _ if t.is_file() => return Ok(()),
        _ if t.is_dir() => "a folder",
        _ if t.is_fifo() => "a FIFO (named pipe)",
        _ if t.is_char_device() => "a character device",
        _ if t.is_block_device() => "a block device",
        _ if t.is_socket() => "a socket",
        _ => "not a file",
    };
    anyhow::bail!("not a regular file but {kind}: vpipe reads only regular files")
}

/// The entries of `dir` (files and folders, symlinks followed), sorted by path.
///
/// # Errors
/// `dir` cannot be read (the message names it).
pub fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        v.push(e.with_context(|| format!("reading {}", dir.display()))?.path());
    }
    v.sort();
    Ok(v)
}

/// The sub-folders of `dir`, sorted.
///
/// # Errors
/// As [`entries`].
pub fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(entries(dir)?.into_iter().filter(|p| p.is_dir()).collect())
}

/// Whether `p`'s extension is one of `exts` (lower-case, no dot), compared case-insensitively.
pub fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension().is_some_and(|x| exts.iter().any(|e| x.to_string_lossy().eq_ignore_ascii_case(e)))
}

/// The files of `dir` (not below) whose extension is one of `exts`, sorted.
///
/// # Errors
/// As [`entries`].
pub fn files_with_ext(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    Ok(entries(dir)?.into_iter().filter(|p| p.is_file() && has_ext(p, exts)).collect())
}

/// `dir` and every folder below it, sorted by path.
///
/// # Errors
/// A folder cannot be read.
pub fn folders_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for sub in subdirs(&d)? {
            stack.push(sub.clone());
            out.push(sub);
        }
    }
    out.sort();
    Ok(out)
}

/// Every file in or below `dir` whose extension is one of `exts`, sorted by path.
///
/// # Errors
/// A folder cannot be read.
pub fn files_below(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in folders_below(dir)? {
        out.extend(files_with_ext(&d, exts)?);
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_sorted_filtered_and_name_missing_folders() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in ["b/2.JPG", "b/1.jpg", "a/x.avi", "a/deep/y.jpg", "top.jpg", "note.txt"] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, b"").unwrap();
        }
        let rel = |v: Vec<PathBuf>| v.iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect::<Vec<_>>();
        assert_eq!(rel(subdirs(root).unwrap()), ["a", "b"]);
        assert_eq!(rel(files_with_ext(root, &["jpg"]).unwrap()), ["top.jpg"]);
        assert_eq!(rel(files_below(root, &["jpg"]).unwrap()), ["a/deep/y.jpg", "b/1.jpg", "b/2.JPG", "top.jpg"]);
        assert_eq!(rel(folders_below(root).unwrap()), ["", "a", "a/deep", "b"]);
        let e = entries(&root.join("nope")).unwrap_err();
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
    }
}
