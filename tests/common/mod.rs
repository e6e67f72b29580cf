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

/// The project's Python (`$VPIPE_PYTHON`, else `.venv/bin/python`, with numpy and pyarrow from
/// scripts/setup.sh). `None` (with a message) when it is missing; under `CI=true` that is a failure.
pub fn python() -> Option<String> {
    let python = std::env::var("VPIPE_PYTHON").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").into());
    if std::path::Path::new(&python).exists() {
        return Some(python);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no Python at {python}");
    eprintln!("SKIPPED: no Python at {python} (run scripts/setup.sh)");
    None
}

/// The mini video list written `copies` times over into `dir/list{copies}.txt` (the same videos
/// listed again and again: a longer job of the same samples), and its path.
pub fn mini_list_repeated(data: &std::path::Path, dir: &std::path::Path, copies: usize) -> PathBuf {
    let list = std::fs::read_to_string(data.join("mini/mini_videos.txt")).unwrap();
    let ann = dir.join(format!("list{copies}.txt"));
    std::fs::write(&ann, list.repeat(copies)).unwrap();
    ann
}

/// `dir/src/` holding links to 4 Kinetics-length clips (300–332 frames each): a flat (`--level
/// 1`) source long enough to kill or signal a job in the middle. Returns the folder.
pub fn long_clips(data: &std::path::Path, dir: &std::path::Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    for f in ["kinetics/R6llTwEh07w.mp4", "kinetics/SOX5yA1l24A.mp4", "kinetics/WUzgd7C1pWA.mp4", "mmaction2/test.mp4"] {
        std::os::unix::fs::symlink(data.join(f), src.join(std::path::Path::new(f).file_name().unwrap())).unwrap();
    }
    src
}
