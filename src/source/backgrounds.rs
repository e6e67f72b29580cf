//! The background images a `BackgroundBlend` draws from (CDAR, semantics §8): the median images
//! named by annotation lists, or every `*.jpg` below a folder. Listing only; loading and the
//! in-stream median are the engine's (`graph::backgrounds`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::walk;

/// One background image and, from its list line's last token, its video's label.
#[derive(Clone, Debug, PartialEq)]
pub struct Background {
    /// The median image (`.jpg`).
    pub path: PathBuf,
    /// The label (`blend_label`); `None` for globbed backgrounds.
    pub label: Option<i32>,
    /// The video file or rawframe folder to compute the image from when it is missing
    /// (`median_from`).
    pub source: Option<PathBuf>,
}

/// Where a blend's backgrounds are: `BackgroundBlend`'s `ann_files`, `data_prefixes`,
/// `median_from` and `blend_label`.
#[derive(Clone, Copy, Debug)]
pub struct BackgroundLists<'a> {
    /// Annotation lists naming the videos whose backgrounds to use (empty: glob the prefixes).
    pub ann_files: &'a [PathBuf],
    /// Background roots, one per list (or globbed).
    pub data_prefixes: &'a [PathBuf],
    /// Roots to compute missing backgrounds from, one per list (may be empty).
    pub median_from: &'a [PathBuf],
    /// Read each line's last token as the background's label.
    pub labels: bool,
}

impl BackgroundLists<'_> {
    /// The backgrounds, in list order (globbed ones sorted by path). Line `t …` of
    /// `ann_files[i]` names `data_prefixes[i]/t` with its suffix replaced by `.jpg`; a background
    /// that does not exist yet is accepted only when its source `median_from[i]/t` exists.
    ///
    /// # Errors
    /// An unreadable list or folder; a named background that does not exist and cannot be
    /// computed; a non-numeric last token with `labels` (each names `list:line`); no backgrounds.
    pub fn list(&self) -> Result<Vec<Background>> {
        let mut out = Vec::new();
        if self.ann_files.is_empty() {
            for prefix in self.data_prefixes {
                out.extend(walk::files_below(prefix, &["jpg"])?.into_iter().map(|path| Background { path, label: None, source: None }));
            }
            out.sort_by(|a, b| a.path.cmp(&b.path));
        }
        for (k, (prefix, ann)) in self.data_prefixes.iter().zip(self.ann_files).enumerate() {
            let text = std::fs::read_to_string(ann).with_context(|| format!("reading {}", ann.display()))?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text); // a Windows editor's byte-order mark
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                out.push(self.entry(k, prefix, line).with_context(|| format!("{}:{}", ann.display(), i + 1))?);
            }
        }
        if out.is_empty() {
            bail!("BackgroundBlend: no background images under {:?}", self.data_prefixes);
        }
        Ok(out)
    }

    /// The background line `line` of list `k` names.
    fn entry(&self, k: usize, prefix: &Path, line: &str) -> Result<Background> {
        let t = line.split(' ').next().unwrap_or_default();
        let path = prefix.join(t).with_extension("jpg");
        let source = self.median_from.get(k).map(|root| root.join(t));
        match &source {
            _ if path.is_file() => {}
            None => bail!("background {} does not exist (run `vpipe median`, or set median_from)", path.display()),
            Some(src) if !src.exists() => bail!("neither background {} nor its source {} exists", path.display(), src.display()),
            Some(_) => {}
        }
        let last = line.split_whitespace().last().unwrap_or_default();
        let label = match (self.labels, last.parse::<i32>()) {
            (true, Err(_)) => bail!("blend_label needs a numeric last token, got {last:?}"),
            (_, l) => l.ok(),
        };
        Ok(Background { path, label, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_name_their_backgrounds_labels_and_missing_lines() {
        let d = tempfile::tempdir().unwrap();
        let (bg, src) = (d.path().join("bg"), d.path().join("videos"));
        std::fs::create_dir_all(bg.join("c")).unwrap();
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(bg.join("c/a.jpg"), b"").unwrap();
        std::fs::write(src.join("b.avi"), b"").unwrap();
        let list = d.path().join("list.txt");
        std::fs::write(&list, "c/a.avi 3\nb.avi 4\n").unwrap();
        let lists = |median_from: &[PathBuf]| {
            BackgroundLists { ann_files: std::slice::from_ref(&list), data_prefixes: std::slice::from_ref(&bg), median_from, labels: true }
                .list()
        };
        let e = format!("{:#}", lists(&[]).unwrap_err());
        assert!(e.contains("list.txt:2") && e.contains("b.jpg"), "{e}");
        let got = lists(std::slice::from_ref(&src)).unwrap();
        assert_eq!(got[0], Background { path: bg.join("c/a.jpg"), label: Some(3), source: Some(src.join("c/a.avi")) });
        assert_eq!((got[1].label, got[1].source.clone()), (Some(4), Some(src.join("b.avi"))));
        let globbed = BackgroundLists { ann_files: &[], data_prefixes: std::slice::from_ref(&bg), median_from: &[], labels: false };
        assert_eq!(globbed.list().unwrap(), vec![Background { path: bg.join("c/a.jpg"), label: None, source: None }]);
    }
}
