//! `vpipe._vpipe`, the extension module under the `vpipe` Python package (python/vpipe/):
//! the engine's loader for one rank ([`Loader`]), the exact frame reader ([`VideoReader`]) and
//! mmaction2's `SampleFrames` ([`sample_frames`]), and RoIAlign ([`ops::roi_align`]). The Python package wraps these in torch
//! tensors and PyTorch's vocabulary; this module hands over raw parts.
//!
//! Batches cross as DLPack capsules ([`dlpack`]) over the buffer the loader collated into, so
//! `torch.from_dlpack` makes a tensor without a copy, and the buffer goes back to the loader's
//! pool when torch frees the tensor (and every view of it). The GIL is released while a call
//! waits for vpipe's threads.

mod dlpack;
mod errors;
mod loader;
mod ops;
mod reader;

use pyo3::prelude::*;

/// The module: `Loader`, `VideoReader`, `sample_frames`, `roi_align`.
#[pymodule]
fn _vpipe(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<loader::Loader>()?;
    m.add_class::<reader::VideoReader>()?;
    m.add_function(wrap_pyfunction!(reader::sample_frames, m)?)?;
    m.add_function(wrap_pyfunction!(ops::roi_align, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
