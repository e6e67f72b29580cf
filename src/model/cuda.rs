//! Making libtorch's CUDA backend visible to tch.
//!
//! rustc links with `--as-needed`, which drops `libtorch_cuda.so` because no symbol of it is used
//! directly, so libtorch registers no CUDA backend (tch-rs issue 980). `build.rs` embeds libtorch's
//! directory as an rpath; here we `dlopen` the library globally before the first tch call.

use std::ffi::CString;
use std::sync::OnceLock;

/// The directories where libtorch's libraries may be: the one `build.rs` linked against, then
/// `$LIBTORCH/lib`.
fn libtorch_dirs() -> Vec<String> {
    let dirs = [option_env!("VPIPE_LIBTORCH_LIB").map(str::to_string), std::env::var("LIBTORCH").ok().map(|d| format!("{d}/lib"))];
    dirs.into_iter().flatten().collect()
}

/// `dlopen`s `path` with `flags`; whether it loaded. The handle is intentionally never closed.
fn dlopen(path: &str, flags: i32) -> bool {
    let c = CString::new(path).expect("path without NUL");
    // SAFETY: dlopen with a valid C string.
    !unsafe { libc::dlopen(c.as_ptr(), flags) }.is_null()
}

/// Loads `libtorch_cuda.so` (RTLD_NOW | RTLD_GLOBAL) when it is present next to libtorch.
/// Returns whether it loaded; on CPU-only installs (or machines without a CUDA driver) this is
/// `false` and vpipe runs on the CPU. Safe to call many times.
pub fn load_cuda() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        libtorch_dirs()
            .iter()
            .map(|dir| format!("{dir}/libtorch_cuda.so"))
            .any(|path| std::path::Path::new(&path).exists() && dlopen(&path, libc::RTLD_NOW | libc::RTLD_GLOBAL))
    })
}

/// Why libtorch cannot run on a GPU here, in one phrase; `None` when it can. Checked in the
/// order a user would fix it: the NVIDIA driver (`libcuda.so.1`), libtorch's CUDA backend
/// (`libtorch_cuda.so`), a visible device.
pub fn cuda_unavailable_reason() -> Option<String> {
    if let Some(why) = crate::device::driver_missing() {
        return Some(why);
    }
    if !load_cuda() {
        return Some(format!("this libtorch has no CUDA backend: no loadable libtorch_cuda.so in {}", libtorch_dirs().join(", ")));
    }
    if !tch::Cuda::is_available() {
        let visible = std::env::var("CUDA_VISIBLE_DEVICES").map_or(String::new(), |v| format!(" (CUDA_VISIBLE_DEVICES={v:?})"));
        return Some(format!("libtorch sees no CUDA device{visible}"));
    }
    None
}

/// The device to run on: `cuda:0` when libtorch sees a GPU (after [`load_cuda`]), else the CPU.
/// `want` = `"cpu"` forces the CPU; `"cuda"` requires a GPU; `"auto"` falls back to the CPU and
/// says so and why on stderr (`device: cpu (no NVIDIA driver: …)`).
///
/// # Errors
/// `"cuda"` was asked for and no GPU is usable (the message says why), or `want` is not `auto`,
/// `cpu` or `cuda`.
pub fn pick_device(want: &str) -> anyhow::Result<tch::Device> {
    match want {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" | "cuda" => match cuda_unavailable_reason() {
            None => Ok(tch::Device::Cuda(0)),
            Some(why) if want == "cuda" => anyhow::bail!("--device cuda: {why}"),
            Some(why) => {
                eprintln!("device: cpu ({why})");
                Ok(tch::Device::Cpu)
            }
        },
        other => anyhow::bail!("unknown device {other:?}: expected auto, cpu or cuda"),
    }
}
