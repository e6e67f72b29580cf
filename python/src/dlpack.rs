//! Host buffers as DLPack capsules (the `dltensor` capsule protocol of
//! <https://dmlc.github.io/dlpack/latest/python_spec.html>) that `torch.from_dlpack` turns into
//! a tensor over the same memory. The capsule owns the buffer's owner (a collated batch, a
//! frame array): torch calls the deleter when its tensor's storage dies, and a capsule that
//! was never consumed frees it in its own destructor.

use std::ffi::{c_void, CStr};

use dlpack_ffi::{DLDataType, DLDataTypeCode, DLDevice, DLDeviceType, DLManagedTensor, DLTensor};
use pyo3::prelude::*;

const NAME: &CStr = c"dltensor";
const USED: &CStr = c"used_dltensor";

/// An element type a capsule can carry.
pub trait Element {
    /// DLPack's description of it.
    const DTYPE: DLDataType;
}

impl Element for f32 {
    const DTYPE: DLDataType = DLDataType { code: DLDataTypeCode::kDLFloat.0 as u8, bits: 32, lanes: 1 };
}

impl Element for u8 {
    const DTYPE: DLDataType = DLDataType { code: DLDataTypeCode::kDLUInt.0 as u8, bits: 8, lanes: 1 };
}

/// What a capsule keeps alive: the owner of the memory and the shape array DLPack points to.
struct Context {
    _owner: Box<dyn Send>,
    shape: Vec<i64>,
}

/// A `dltensor` capsule over `len` contiguous values of `T` at `data`, of `shape` (row-major),
/// on the CPU, keeping `owner` (which must keep `data` valid and unmoved) alive until torch
/// frees the tensor.
///
/// # Errors
/// Python cannot make the capsule (out of memory); `owner` is then dropped.
pub fn capsule<T: Element>(py: Python<'_>, owner: Box<dyn Send>, data: *const T, shape: &[usize]) -> PyResult<Py<PyAny>> {
    let mut ctx = Box::new(Context { _owner: owner, shape: shape.iter().map(|&d| d as i64).collect() });
    let dl_tensor = DLTensor {
        data: data as *mut c_void,
        device: DLDevice { device_type: DLDeviceType::kDLCPU, device_id: 0 },
        ndim: shape.len() as i32,
        dtype: T::DTYPE,
        shape: ctx.shape.as_mut_ptr(),
        strides: std::ptr::null_mut(), // compact row-major
        byte_offset: 0,
    };
    let managed = Box::new(DLManagedTensor { dl_tensor, manager_ctx: Box::into_raw(ctx).cast(), deleter: Some(delete) });
    let raw = Box::into_raw(managed);
    // SAFETY: `raw` is a valid DLManagedTensor that the capsule owns until a consumer renames it.
    let cap = unsafe { pyo3::ffi::PyCapsule_New(raw.cast(), NAME.as_ptr(), Some(destruct)) };
    if cap.is_null() {
        // SAFETY: the capsule was not made, so nothing else owns `raw`.
        unsafe { delete(raw) };
        return Err(PyErr::fetch(py));
    }
    // SAFETY: a new reference just returned by PyCapsule_New.
    Ok(unsafe { Bound::from_owned_ptr(py, cap) }.unbind())
}

/// DLPack's deleter: frees the context (the owner, so the buffer goes back to its pool) and the
/// managed tensor.
unsafe extern "C" fn delete(t: *mut DLManagedTensor) {
    if t.is_null() {
        return;
    }
    // SAFETY: made by `capsule` from boxes; called once, by torch or by `destruct`.
    let managed = unsafe { Box::from_raw(t) };
    drop(unsafe { Box::from_raw(managed.manager_ctx.cast::<Context>()) });
}

/// The capsule's destructor: a capsule torch consumed is renamed `used_dltensor` and torch
/// owns the tensor; one still named `dltensor` was never consumed and frees it here.
unsafe extern "C" fn destruct(cap: *mut pyo3::ffi::PyObject) {
    // SAFETY: called by Python with the capsule; the name check decides who owns the tensor.
    unsafe {
        if pyo3::ffi::PyCapsule_IsValid(cap, USED.as_ptr()) == 1 {
            return;
        }
        let p = pyo3::ffi::PyCapsule_GetPointer(cap, NAME.as_ptr());
        if p.is_null() {
            pyo3::ffi::PyErr_Clear();
            return;
        }
        delete(p.cast());
    }
}
