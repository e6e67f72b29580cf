//! Atomic output: write under a temporary name in the destination folder, then rename.
//! A killed job leaves at most a `.<name>.tmp-<pid>` file or a `.<name>.partial` folder, never a
//! half file or folder under the real name.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A file being written at a temporary path, renamed to its final path by [`AtomicFile::commit`].
/// Dropping it without committing deletes the temporary file.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file beside `dest` (creating `dest`'s folder) and returns it with its
    /// handle.
    ///
    /// # Errors
    /// The folder or the file cannot be created (the message names the path).
    pub fn create(dest: &Path) -> Result<(Self, File)> {
        let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating output folder {}", dir.display()))?;
        let name = dest.file_name().with_context(|| format!("output path {} has no file name", dest.display()))?;
        let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok((AtomicFile { tmp, dest: dest.to_path_buf(), committed: false }, file))
    }

    /// Syncs the written file to disk, renames it into place and syncs the folder, so that a
    /// power loss after the return cannot undo the rename (ext4 and XFS order a rename's
    /// directory entry only with the folder's own fsync).
    ///
    /// # Errors
    /// fsync or rename fails (e.g. disk full); the temporary file is removed.
    pub fn commit(mut self, file: File) -> Result<()> {
        file.sync_all().with_context(|| format!("syncing {}", self.tmp.display()))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest).with_context(|| format!("renaming {} to {}", self.tmp.display(), self.dest.display()))?;
        self.committed = true;
        sync_dir(&self.dest)
    }
}

/// fsyncs the folder holding `path` (its directory entries: renames and creations in it).
///
/// # Errors
/// The folder cannot be opened or synced (the message names it).
pub fn sync_dir(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing folder {}", dir.display()))
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` through a temporary name and a rename, without fsync: a killed
/// process never leaves a half file under `dest`, at a fraction of [`AtomicFile`]'s cost for the
/// many small outputs of per-video jobs (median images), where an fsync each would dominate.
///
/// # Errors
/// The folder, the temporary file or the rename fails (the message names the path).
pub fn write_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    let (mut atomic, mut file) = AtomicFile::create(dest)?;
    std::io::Write::write_all(&mut file, bytes).with_context(|| format!("writing {}", atomic.tmp.display()))?;
    drop(file);
    std::fs::rename(&atomic.tmp, &atomic.dest)
        .with_context(|| format!("renaming {} to {}", atomic.tmp.display(), atomic.dest.display()))?;
    atomic.committed = true;
    Ok(())
}

/// Writes `dest` with `write`, which is given a temporary path beside it (for savers that take a
/// path: libtorch modules, safetensors, optimizer state), then syncs and renames it into place.
/// The temporary name `.tmp-<pid>-<name>` keeps the extension, by which savers pick a format.
///
/// # Errors
/// The folder cannot be created, `write` fails, or sync/rename fails; the temporary file is
/// removed.
pub fn write_with(dest: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    let name = dest.file_name().with_context(|| format!("output path {} has no file name", dest.display()))?;
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), name.to_string_lossy()));
    let atomic = AtomicFile { tmp, dest: dest.to_path_buf(), committed: false };
    write(&atomic.tmp)?;
    let file = File::open(&atomic.tmp).with_context(|| format!("reopening {}", atomic.tmp.display()))?;
    atomic.commit(file)
}

/// A folder being filled at `.<name>.partial` beside its final path, renamed into place by
/// [`AtomicDir::commit`] (rawframe folders: a folder under its real name is always complete).
/// Dropping it without committing deletes the partial folder; a partial folder left by a killed
/// run is deleted when the same folder is created again.
///
/// Files are not fsynced one by one (that would cost more than encoding them): a killed process
/// cannot leave a half folder, but a power cut right after the rename could.
pub struct AtomicDir {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl AtomicDir {
    /// The partial-folder path used for `dest`.
    pub fn partial_path(dest: &Path) -> PathBuf {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        dest.with_file_name(format!(".{name}.partial"))
    }

    /// Creates an empty partial folder for `dest` (removing a stale one) and its parents.
    ///
    /// # Errors
    /// The folder cannot be removed or created (the message names it).
    pub fn create(dest: &Path) -> Result<Self> {
        let tmp = Self::partial_path(dest);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).with_context(|| format!("removing stale partial folder {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(AtomicDir { tmp, dest: dest.to_path_buf(), committed: false })
    }

    /// Where to write the folder's files until it is committed.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the partial folder to its final path.
    ///
    /// # Errors
    /// The final path exists already or the rename fails; the partial folder is removed.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.dest).with_context(|| format!("renaming {} to {}", self.tmp.display(), self.dest.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_dir_appears_only_on_commit_and_cleans_stale_partials() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("cls").join("video");
        let a = AtomicDir::create(&dest).unwrap();
        std::fs::write(a.path().join("img_00001.jpg"), b"x").unwrap();
        assert!(!dest.exists());
        drop(a); // a failed video
        assert!(!AtomicDir::partial_path(&dest).exists() && !dest.exists());

        std::fs::create_dir_all(AtomicDir::partial_path(&dest).join("junk")).unwrap(); // killed run
        let a = AtomicDir::create(&dest).unwrap();
        assert_eq!(std::fs::read_dir(a.path()).unwrap().count(), 0);
        std::fs::write(a.path().join("img_00001.jpg"), b"x").unwrap();
        a.commit().unwrap();
        assert!(dest.join("img_00001.jpg").exists() && !AtomicDir::partial_path(&dest).exists());
    }

    #[test]
    fn write_with_keeps_the_extension_and_leaves_nothing_on_failure() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("epoch_1.safetensors");
        let e = write_with(&dest, |tmp| {
            std::fs::write(tmp, b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(e.is_err() && std::fs::read_dir(d.path()).unwrap().count() == 0, "a failed write leaves no file");
        write_with(&dest, |tmp| {
            assert_eq!(tmp.extension().unwrap(), "safetensors", "savers choose their format by extension");
            Ok(std::fs::write(tmp, b"whole")?)
        })
        .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
