//! The engine's side of `BackgroundBlend`: it lists a blend's backgrounds when the pipeline is
//! built ([`crate::source::backgrounds`]) and hands the op a [`DiskBackgrounds`] that reads them
//! with libjpeg-turbo, first computing a missing one as an in-stream median (`vpipe median`'s
//! rule, JPEG quality 75, written atomically: the disk cache) when `median_from` names its source.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use crate::decode::read_jpeg;
use crate::frame::Frame;
use crate::source::backgrounds::{Background, BackgroundLists};
use crate::transform::{BackgroundBlend, BackgroundSource, BuildCtx};

/// A blend's backgrounds on disk.
pub struct DiskBackgrounds {
    list: Vec<Background>,
    /// Frames per in-stream median (`median_max_frames`; 0 = all).
    max_frames: usize,
    /// One lock per image, so concurrent samples compute a missing background once.
    computing: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
}

impl DiskBackgrounds {
    /// Lists `config`'s backgrounds.
    ///
    /// # Errors
    /// As [`BackgroundLists::list`]: an unreadable list, a missing background with no source.
    pub fn new(config: &BackgroundBlend) -> Result<Self> {
        let lists = BackgroundLists {
            ann_files: &config.ann_files,
            data_prefixes: &config.data_prefixes,
            median_from: &config.median_from,
            labels: config.blend_label,
        };
        Ok(DiskBackgrounds { list: lists.list()?, max_frames: config.median_max_frames, computing: Mutex::default() })
    }

    /// Computes background `bg` from its source when it is missing (at most once at a time per
    /// image; a second sample waits and then reads the written file).
    fn ensure(&self, bg: &Background) -> Result<()> {
        let Some(src) = bg.source.as_ref().filter(|_| !bg.path.is_file()) else { return Ok(()) };
        let lock = self.computing.lock().expect("median locks").entry(bg.path.clone()).or_default().clone();
        let _held = lock.lock().expect("median lock");
        if !bg.path.is_file() {
            super::median::median_of_source(src, &bg.path, self.max_frames)
                .with_context(|| format!("in-stream median of {}", src.display()))?;
        }
        Ok(())
    }
}

impl BackgroundSource for DiskBackgrounds {
    fn len(&self) -> usize {
        self.list.len()
    }

    fn label(&self, i: usize) -> Option<i32> {
        self.list[i].label
    }

    fn name(&self, i: usize) -> String {
        self.list[i].path.display().to_string()
    }

    fn load(&self, i: usize) -> Result<Frame> {
        let bg = &self.list[i];
        self.ensure(bg)?;
        read_jpeg(&bg.path, 3)
    }
}

/// The provider [`BuildCtx::backgrounds`] takes: a [`DiskBackgrounds`] per blend.
///
/// # Errors
/// As [`DiskBackgrounds::new`].
pub fn from_disk(config: &BackgroundBlend) -> Result<Arc<dyn BackgroundSource>> {
    Ok(Arc::new(DiskBackgrounds::new(config)?))
}

/// The build context of a runnable pipeline: backgrounds from disk.
pub fn build_ctx() -> BuildCtx<'static> {
    BuildCtx { backgrounds: Some(&from_disk) }
}
