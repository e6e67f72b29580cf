//! The GPU side of the loader (cudarc, the CUDA driver API, loaded at run time): page-locked
//! host buffers that batches are collated into ([`PinnedPool`]) and an [`Uploader`] that copies
//! them to the device on a stream of its own and hands them to libtorch as CUDA tensors.
//!
//! cudarc is built with `dynamic-loading`: the binary does not link `libcuda`, so one binary
//! runs on machines with and without an NVIDIA driver. [`gpu`] checks for the driver
//! (`is_culib_present`) before making a context, because cudarc's `CudaContext::new` panics
//! without one. Where there is no driver, or it fails, callers keep libtorch's own upload
//! ([`crate::model::upload`]) and one line on stderr says why.

pub mod pinned;
pub mod upload;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::CudaContext;

pub use pinned::{PinnedBuf, PinnedPool};
pub use upload::Uploader;

/// The CUDA context vpipe uses on one device: its primary context, the one libtorch uses too,
/// so device pointers from either side are valid in the other.
#[derive(Debug)]
pub struct Gpu {
    ctx: Arc<CudaContext>,
    name: String,
}

impl Gpu {
    /// The context (bind it to a thread before raw driver calls).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The device's name as the driver reports it (e.g. "NVIDIA H100 80GB HBM3").
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// CUDA device `ordinal` through cudarc, opened once per process and device (a DDP rank opens
/// its own, `LOCAL_RANK`, never device 0: a context there costs every rank memory on GPU 0);
/// the error says, in one phrase, why there is none: no driver library (`libcuda.so*` not
/// loadable), or the driver's own error (no such device, a driver older than CUDA 13.0 …).
///
/// # Errors
/// As above; the same message on every call.
pub fn gpu(ordinal: usize) -> Result<Arc<Gpu>, String> {
    static GPUS: OnceLock<Mutex<BTreeMap<usize, Result<Arc<Gpu>, String>>>> = OnceLock::new();
    let mut opened = GPUS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    opened.entry(ordinal).or_insert_with(|| open(ordinal)).clone()
}

/// Why there is no NVIDIA driver to use, in one phrase; `None` when cudarc can load it (the one
/// driver check: [`crate::model::cuda_unavailable_reason`] asks it first).
pub fn driver_missing() -> Option<String> {
    // SAFETY: only tries to load the driver library (`libcuda.so.1` and its other names).
    let present = unsafe { cudarc::driver::sys::is_culib_present() };
    (!present).then(|| "no NVIDIA driver: libcuda.so.1 cannot be loaded".into())
}

fn open(ordinal: usize) -> Result<Arc<Gpu>, String> {
    if let Some(why) = driver_missing() {
        return Err(why);
    }
    let ctx = CudaContext::new(ordinal).map_err(|e| format!("CUDA device {ordinal}: {e}"))?;
    let name = ctx.name().unwrap_or_else(|_| format!("CUDA device {ordinal}"));
    Ok(Arc::new(Gpu { ctx, name }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_a_driver_gpu_says_why_and_does_not_panic() {
        if super::driver_missing().is_none() {
            eprintln!("skipped: this machine has an NVIDIA driver");
            return;
        }
        let why = super::gpu(0).unwrap_err();
        assert!(why.contains("no NVIDIA driver"), "{why}");
        assert_eq!(super::gpu(0).unwrap_err(), why, "the same answer on every call");
    }
}
