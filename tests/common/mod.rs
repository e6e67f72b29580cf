//! Shared helpers for integration tests: where the real test data lives.
#![allow(dead_code)]

use std::path::PathBuf;

/// The real-data folder: `$VPIPE_TEST_DATA`, else `../shared/data` beside the checkout. `None`
/// (with a message) when neither exists; under `CI=true` that is a failure, never a silent skip.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VPIPE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if dir.join("mini/mini_videos.txt").exists() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but the test data folder {} is missing", dir.display());
    }
    eprintln!("SKIPPED: real test data not found at {} (set VPIPE_TEST_DATA)", dir.display());
    None
}

/// The `vpipe` binary built for this test run.
pub fn vpipe() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_vpipe"))
}
