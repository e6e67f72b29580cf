//! Embeds libtorch's library directory as an rpath so the `vpipe` binary and tests find
//! `libtorch*.so` without `LD_LIBRARY_PATH`, and so `libtorch_cuda.so` can be `dlopen`ed at
//! start-up on GPU machines (rustc's `--as-needed` drops it from the link: tch-rs issue 980).
fn main() {
    // Exported by torch-sys's build script (`links = "tch"`); needs torch-sys as a direct dependency.
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-env=VPIPE_LIBTORCH_LIB={lib}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
