//! From a collated batch to the model's input tensor: the copy to the model's device and, for
//! uint8 batches, the normalisation there.

use tch::{Device, Kind, Tensor};

use crate::transform::format::ModelInput;
use crate::transform::{InputFormat, Normalize};

/// The model input of a collated batch: a float32 tensor on `device` with the batch's shape
/// (NCHW `(B·M, C, H, W)`, NCTHW `(B·V, C, L, H, W)`, NCHW_Flow `(B·V, 2L, H, W)`), through
/// libtorch alone (the engine's `upload` stage uses [`crate::device::Uploader`] instead where
/// cudarc has a GPU). Normalised values are copied as they are; uint8 values are copied as
/// uint8 (through `pin_memory`, asynchronously, on CUDA), then normalised on the device
/// ([`ChannelStats::normalize`]) — the values the CPU loader computes, bit for bit.
pub fn upload(batch: ModelInput, device: Device) -> Tensor {
    match batch {
        ModelInput::F32(t) => Tensor::from_slice(&t.data).view(dims(&t.shape).as_slice()).to_device(device),
        ModelInput::U8 { data, shape, normalize, format } => {
            let host = Tensor::from_slice(data).view(dims(shape).as_slice());
            let x = if device.is_cuda() { host.pin_memory(device).to_device_(device, Kind::Uint8, true, false) } else { host };
            ChannelStats::new(normalize, format, shape, device).normalize(&x)
        }
    }
}

/// `shape` as libtorch's sizes.
pub(crate) fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

/// A Normalize's mean and 1/std along dimension 1 of a batch ([`Normalize::channel_stats`]),
/// as float32 tensors on the model's device shaped to broadcast (`(1, C, 1, …)`). Made once
/// per loader on a GPU: a copy of pageable host memory waits for the device's queue.
#[derive(Debug)]
pub struct ChannelStats {
    mean: Tensor,
    inv_std: Tensor,
}

impl ChannelStats {
    /// The statistics for batches of `shape` (only its rank and, for NCHW_Flow, its dimension
    /// 1 matter) in `format`, on `device`.
    pub fn new(normalize: &Normalize, format: InputFormat, shape: &[usize], device: Device) -> Self {
        let (mean, inv_std) = normalize.channel_stats(format, shape);
        let mut along_channels = vec![1i64; shape.len()];
        along_channels[1] = mean.len() as i64;
        let on_device = |v: &[f32]| Tensor::from_slice(v).view(along_channels.as_slice()).to_device(device);
        ChannelStats { mean: on_device(&mean), inv_std: on_device(&inv_std) }
    }

    /// Whether these statistics fit a batch of `shape` (same rank and dimension 1).
    pub fn fits(&self, shape: &[usize]) -> bool {
        let s = self.mean.size();
        s.len() == shape.len() && s[1] as usize == shape[1]
    }

    /// (x − mean) · (1/std) in float32, per index along dimension 1 (mmaction2 0.x `Normalize`),
    /// of a uint8 tensor `x` on the statistics' device.
    pub fn normalize(&self, x: &Tensor) -> Tensor {
        (x.to_kind(Kind::Float) - &self.mean) * &self.inv_std
    }
}
