//! Atomic file output: write under a temporary name in the destination folder, fsync, rename.
//! A killed job leaves at most a `.<name>.tmp-<pid>` file, never a half file under the real name.

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

    /// Syncs the written file to disk and renames it into place.
    ///
    /// # Errors
    /// fsync or rename fails (e.g. disk full); the temporary file is removed.
    pub fn commit(mut self, file: File) -> Result<()> {
        file.sync_all().with_context(|| format!("syncing {}", self.tmp.display()))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest).with_context(|| format!("renaming {} to {}", self.tmp.display(), self.dest.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
