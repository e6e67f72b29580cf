//! vpipe's tensor operations for PyTorch code: RoIAlign ([`vpipe::model::RoiAlign`], the
//! detection head's), forward and the gradient of its input, as `vpipe.ops.roi_align` (a
//! `torch.autograd.Function`) calls them. Values cross as float32 bytes (row-major), copied:
//! these are small per-batch tensors.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{to_py, Kind};

/// `bytes` as float32 values.
fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// A tensor's values as float32 (contiguous, row-major).
fn values(t: &tch::Tensor) -> anyhow::Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(t.contiguous().flatten(0, -1))?)
}

/// float32 values as Python bytes.
fn to_bytes<'py>(py: Python<'py>, v: &[f32]) -> Bound<'py, PyBytes> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_ne_bytes()).collect();
    PyBytes::new(py, &bytes)
}

/// RoIAlign of features `input` (float32 bytes of `shape` = (N, C, H, W)) in boxes `rois`
/// (float32 bytes of (K, 5) rows `[batch_index, x1, y1, x2, y2]`, input pixels): the pooled
/// `(K, C, output_size)` values, and, given `grad_output` (bytes of that shape), the gradient
/// of `sum(output · grad_output)` with respect to `input` (N, C, H, W) — torchvision's
/// `roi_align` arguments and arithmetic (`sampling_ratio` ≤ 0: adaptive).
///
/// # Errors
/// `vpipe.ConfigError` for sizes that do not match the shapes or a box's batch index out of range.
#[pyfunction]
#[pyo3(signature = (input, shape, rois, output_size, spatial_scale, sampling_ratio, aligned, grad_output=None))]
#[allow(clippy::too_many_arguments)]
pub fn roi_align<'py>(
    py: Python<'py>,
    input: &[u8],
    shape: [i64; 4],
    rois: &[u8],
    output_size: (usize, usize),
    spatial_scale: f32,
    sampling_ratio: i64,
    aligned: bool,
    grad_output: Option<&[u8]>,
) -> PyResult<(Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>)> {
    let config = |m: String| to_py(anyhow::anyhow!(m), Kind::Config);
    let (x, r) = (floats(input), floats(rois));
    if x.len() as i64 != shape.iter().product::<i64>() || r.len() % 5 != 0 {
        return Err(config(format!("roi_align: {} input values for shape {shape:?}, {} box values (5 a box)", x.len(), r.len())));
    }
    let op = vpipe::model::RoiAlign { output_size, spatial_scale, sampling_ratio: sampling_ratio.max(0) as usize, aligned };
    let grad_output = grad_output.map(floats);
    // Without the GIL (PyTorch's autograd engine refuses it), with grad mode on (PyTorch calls
    // backward with it off, in the libtorch both share).
    let (out, grad) = py
        .detach(|| {
            tch::with_grad(|| -> anyhow::Result<(Vec<f32>, Option<Vec<f32>>)> {
                let x = tch::Tensor::from_slice(&x).view(shape).set_requires_grad(grad_output.is_some());
                let rois = tch::Tensor::from_slice(&r).view([-1, 5]);
                let out = op.forward(&x, &rois)?;
                let grad = match &grad_output {
                    Some(g) if g.len() != out.numel() => {
                        anyhow::bail!("roi_align: {} grad_output values for an output of {:?}", g.len(), out.size())
                    }
                    Some(g) => {
                        (&out * tch::Tensor::from_slice(g).view(out.size().as_slice())).sum(tch::Kind::Float).f_backward()?;
                        Some(values(&x.grad())?)
                    }
                    None => None,
                };
                Ok((values(&out.detach())?, grad))
            })
        })
        .map_err(|e| to_py(e, Kind::Config))?;
    Ok((to_bytes(py, &out), grad.map(|g| to_bytes(py, &g))))
}
