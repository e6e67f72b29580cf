//! Page-locked host buffers for batches on their way to the GPU.
//!
//! A copy from pageable memory goes through the driver's own staging buffer and cannot overlap
//! with anything; from page-locked memory it is a DMA the copy engine runs while the CPU and
//! the GPU's compute units do other work. Buffers are allocated with `cuMemHostAlloc` and flags
//! 0 — not write-combined, because the collate stage also reads them (write-combined memory is
//! uncached for CPU reads; cudarc's `alloc_pinned` uses that flag, hence the raw call) — and
//! recycled, since pinning is slow (milliseconds per buffer).

use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use cudarc::driver::result;

use super::Gpu;

/// One `cuMemHostAlloc` allocation, freed with `cuMemFreeHost`.
#[derive(Debug)]
struct Allocation {
    ptr: NonNull<u8>,
    bytes: usize,
    gpu: Arc<Gpu>,
}

// SAFETY: plain host memory owned by this value alone.
unsafe impl Send for Allocation {}

impl Allocation {
    fn new(gpu: &Arc<Gpu>, bytes: usize) -> Result<Self> {
        gpu.context().bind_to_thread().context("binding the CUDA context")?;
        // SAFETY: a fresh allocation of `bytes` (≥ 1) bytes; flags 0: page-locked, cached.
        let raw = unsafe { result::malloc_host(bytes.max(1), 0) }.with_context(|| format!("page-locking {bytes} bytes"))?;
        let ptr = NonNull::new(raw.cast::<u8>()).context("cuMemHostAlloc returned null")?;
        // Zeroed once so that every byte a slice shows is initialised.
        // SAFETY: `ptr` points to `bytes.max(1)` writable bytes.
        unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0, bytes.max(1)) };
        Ok(Allocation { ptr, bytes: bytes.max(1), gpu: gpu.clone() })
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        let _ = self.gpu.context().bind_to_thread();
        // SAFETY: allocated by `malloc_host`, freed once.
        let _ = unsafe { result::free_host(self.ptr.as_ptr().cast()) };
    }
}

/// Recycled page-locked buffers; at most `max` idle ones are kept (the batches the loader's
/// window lets live at once), the largest first when a list mixes batch sizes.
#[derive(Clone, Debug)]
pub struct PinnedPool {
    gpu: Arc<Gpu>,
    idle: Arc<Mutex<Vec<Allocation>>>,
    max: usize,
}

impl PinnedPool {
    /// An empty pool on `gpu`.
    pub fn new(gpu: Arc<Gpu>, max: usize) -> Self {
        PinnedPool { gpu, idle: Arc::default(), max: max.max(1) }
    }

    /// A buffer of `len` bytes (contents unspecified): an idle one that is large enough, else a
    /// new allocation.
    ///
    /// # Errors
    /// The driver cannot page-lock `len` more bytes (the message gives the size).
    pub fn take(&self, len: usize) -> Result<PinnedBuf> {
        let recycled = self.idle.lock().ok().and_then(|mut idle| {
            let i = idle.iter().position(|a| a.bytes >= len)?;
            Some(idle.swap_remove(i))
        });
        let alloc = match recycled {
            Some(a) => a,
            None => Allocation::new(&self.gpu, len)?,
        };
        Ok(PinnedBuf { alloc: Some(alloc), len, pool: self.clone() })
    }

    fn give(&self, alloc: Allocation) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(alloc);
            if idle.len() > self.max {
                idle.sort_by_key(|a| std::cmp::Reverse(a.bytes));
                idle.truncate(self.max);
            }
        }
    }
}

/// `len` bytes of page-locked host memory; back to its pool when dropped.
#[derive(Debug)]
pub struct PinnedBuf {
    alloc: Option<Allocation>,
    len: usize,
    pool: PinnedPool,
}

impl PinnedBuf {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        let a = self.alloc.as_ref().expect("allocation present until drop");
        // SAFETY: `len` ≤ `bytes` initialised bytes, borrowed with `self`.
        unsafe { std::slice::from_raw_parts(a.ptr.as_ptr(), self.len) }
    }

    /// The bytes, to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let a = self.alloc.as_mut().expect("allocation present until drop");
        // SAFETY: as `as_slice`, borrowed mutably with `self`.
        unsafe { std::slice::from_raw_parts_mut(a.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PinnedBuf {
    fn drop(&mut self) {
        if let Some(a) = self.alloc.take() {
            self.pool.give(a);
        }
    }
}
