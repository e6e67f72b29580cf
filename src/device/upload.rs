//! Host → GPU copies of collated uint8 batches on a CUDA stream of vpipe's own, double
//! buffered, then normalised by libtorch on the device.
//!
//! Per batch: the copy stream waits (on the GPU) until libtorch has finished reading the slot's
//! previous batch, copies the page-locked host buffer into the slot (`cuMemcpyHtoDAsync`,
//! 1 byte per value, a quarter of float32's traffic), and the upload thread waits for that copy
//! only (an event), so the host buffer can be recycled. The slot is then wrapped as a CUDA
//! uint8 tensor without another copy (`from_blob`), converted and normalised by libtorch on its
//! default stream, and an event recorded there after that marks the slot free. The model's
//! work on batch n runs on libtorch's stream meanwhile, so the copy of batch n+1 overlaps it;
//! two slots let copy n+1 start before batch n's normalisation has run.

use std::sync::Arc;

use anyhow::{Context, Result};
use cudarc::driver::{result, sys, CudaEvent, CudaStream};

use super::{Gpu, PinnedBuf};
use crate::model::input::dims;
use crate::model::ChannelStats;
use crate::transform::{InputFormat, Normalize};

/// libtorch's default CUDA stream (PyTorch's `torch.cuda.default_stream()`, handle 0), where
/// libtorch runs the normalisation and the model.
const TORCH_DEFAULT_STREAM: sys::CUstream = std::ptr::null_mut();

/// One device buffer of the ring.
#[derive(Debug)]
struct Slot {
    dptr: sys::CUdeviceptr,
    bytes: usize,
    /// Recorded on libtorch's stream after the slot's batch was normalised.
    consumed: CudaEvent,
    /// Whether `consumed` has been recorded (the slot held a batch).
    used: bool,
}

/// Uploads collated uint8 batches to its [`Gpu`]'s device (see the module doc), normalised on
/// a consumer stream (libtorch's default stream, or the one [`Uploader::on_stream`] names). One
/// per loader, used by its `upload` stage thread.
#[derive(Debug)]
pub struct Uploader {
    gpu: Arc<Gpu>,
    stream: Arc<CudaStream>,
    copied: CudaEvent,
    slots: [Slot; 2],
    next: usize,
    stats: Option<ChannelStats>,
    /// The consumer's stream (`CUstream` as an address; 0: the legacy default stream).
    consumer: usize,
}

impl Uploader {
    /// A copy stream and two empty slots on `gpu`, handing batches to libtorch's default stream.
    ///
    /// # Errors
    /// The driver cannot make a stream or events.
    pub fn new(gpu: Arc<Gpu>) -> Result<Self> {
        Self::on_stream(gpu, TORCH_DEFAULT_STREAM as usize)
    }

    /// As [`Uploader::new`], for a consumer whose work runs on `consumer` (a `CUstream` as an
    /// address, e.g. PyTorch's `torch.cuda.current_stream().cuda_stream`): the normalisation
    /// runs after what is queued there, and a slot is reused only once that stream has read it.
    ///
    /// # Errors
    /// As [`Uploader::new`].
    pub fn on_stream(gpu: Arc<Gpu>, consumer: usize) -> Result<Self> {
        let ctx = gpu.context().clone();
        let stream = ctx.new_stream().context("creating the copy stream")?;
        // Blocking sync: the upload thread sleeps while it waits instead of spinning a core.
        let copied = ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_BLOCKING_SYNC)).context("creating an event")?;
        let slot =
            || -> Result<Slot> { Ok(Slot { dptr: 0, bytes: 0, consumed: ctx.new_event(None).context("creating an event")?, used: false }) };
        Ok(Uploader { gpu, stream, copied, slots: [slot()?, slot()?], next: 0, stats: None, consumer })
    }

    /// The model's float32 input for a uint8 batch of `shape` in `host`: on the GPU's device,
    /// normalised with `normalize` along dimension 1 of `format` (the values of the CPU
    /// loader's float batches). `host` may be reused as soon as this returns.
    ///
    /// # Errors
    /// A driver call fails (device memory exhausted, a sticky CUDA error); the message names
    /// the step.
    pub fn upload(&mut self, host: &PinnedBuf, shape: &[usize], normalize: &Normalize, format: InputFormat) -> Result<tch::Tensor> {
        let bytes = host.as_slice().len();
        anyhow::ensure!(bytes == shape.iter().product::<usize>(), "upload: {bytes} bytes for shape {shape:?}");
        self.gpu.context().bind_to_thread().context("binding the CUDA context")?;
        let slot = &mut self.slots[self.next];
        self.next = 1 - self.next;
        if slot.bytes < bytes {
            grow(slot, bytes)?;
        }
        if slot.used {
            self.stream.wait(&slot.consumed).context("waiting for the slot's previous batch")?;
        }
        // SAFETY: `slot.dptr` holds `bytes` bytes no queued work reads any more (the wait
        // above); `host` is page-locked and outlives the copy (the event wait below).
        unsafe { result::memcpy_htod_async(slot.dptr, host.as_slice(), self.stream.cu_stream()) }.context("cuMemcpyHtoDAsync")?;
        self.copied.record(&self.stream).context("recording the copy's event")?;
        self.copied.synchronize().context("waiting for the copy")?;

        let device = tch::Device::Cuda(self.gpu.context().ordinal());
        // SAFETY: `bytes` uint8 values on the device, alive until `consumed` is reached.
        let x = unsafe { tch::Tensor::from_blob(slot.dptr as *const u8, &dims(shape), &[], tch::Kind::Uint8, device) };
        if !self.stats.as_ref().is_some_and(|s| s.fits(shape)) {
            self.stats = Some(ChannelStats::new(normalize, format, shape, device));
        }
        let out = self.stats.as_ref().expect("set above").normalize(&x);
        drop(x);
        // SAFETY: a live event recorded on the consumer's stream, after the kernels that read the slot.
        unsafe { result::event::record(slot.consumed.cu_event(), self.consumer as sys::CUstream) }.context("recording the slot's event")?;
        slot.used = true;
        Ok(out)
    }
}

/// Replaces `slot`'s device buffer with one of `bytes` bytes, once nothing reads the old one.
fn grow(slot: &mut Slot, bytes: usize) -> Result<()> {
    if slot.used {
        slot.consumed.synchronize().context("waiting for the slot's previous batch")?;
    }
    if slot.dptr != 0 {
        // SAFETY: allocated by `malloc_sync` below, no longer read (the wait above).
        unsafe { result::free_sync(slot.dptr) }.context("cuMemFree")?;
        slot.dptr = 0;
    }
    // SAFETY: a plain device allocation.
    slot.dptr = unsafe { result::malloc_sync(bytes) }.with_context(|| format!("allocating {bytes} bytes on the GPU"))?;
    slot.bytes = bytes;
    Ok(())
}

impl Drop for Uploader {
    fn drop(&mut self) {
        let _ = self.gpu.context().bind_to_thread();
        for slot in &mut self.slots {
            if slot.used {
                let _ = slot.consumed.synchronize();
            }
            if slot.dptr != 0 {
                // SAFETY: as in `grow`.
                let _ = unsafe { result::free_sync(slot.dptr) };
            }
        }
    }
}
