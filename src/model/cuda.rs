//! Making libtorch's CUDA backend visible to tch.
//!
//! rustc links with `--as-needed`, which drops `libtorch_cuda.so` because no symbol of it is used
//! directly, so libtorch registers no CUDA backend (tch-rs issue 980). `build.rs` embeds libtorch's
//! directory as an rpath; here we `dlopen` the library globally before the first tch call.

use std::ffi::CString;
use std::sync::OnceLock;

/// Loads `libtorch_cuda.so` (RTLD_NOW | RTLD_GLOBAL) when it is present next to libtorch.
/// Returns whether it loaded; on CPU-only installs (or machines without a CUDA driver) this is
/// `false` and vpipe runs on the CPU. Safe to call many times.
pub fn load_cuda() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        let dirs = [option_env!("VPIPE_LIBTORCH_LIB").map(str::to_string), std::env::var("LIBTORCH").ok().map(|d| format!("{d}/lib"))];
        for dir in dirs.into_iter().flatten() {
            let path = format!("{dir}/libtorch_cuda.so");
            if !std::path::Path::new(&path).exists() {
                continue;
            }
            let c = CString::new(path).expect("path without NUL");
            // SAFETY: dlopen with a valid C string; the handle is intentionally never closed.
            let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            if !h.is_null() {
                return true;
            }
        }
        false
    })
}

/// The device to run on: `cuda:0` when libtorch sees a GPU (after [`load_cuda`]), else the CPU.
/// `want` = `"cpu"` forces the CPU; `"cuda"` requires a GPU.
///
/// # Errors
/// `"cuda"` was asked for and no GPU is visible, or `want` is not `auto`, `cpu` or `cuda`.
pub fn pick_device(want: &str) -> anyhow::Result<tch::Device> {
    match want {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" | "cuda" => {
            load_cuda();
            if tch::Cuda::is_available() {
                Ok(tch::Device::Cuda(0))
            } else if want == "cuda" {
                anyhow::bail!("--device cuda: libtorch sees no CUDA device (is libtorch_cuda.so installed and a driver present?)")
            } else {
                Ok(tch::Device::Cpu)
            }
        }
        other => anyhow::bail!("unknown device {other:?}: expected auto, cpu or cuda"),
    }
}
