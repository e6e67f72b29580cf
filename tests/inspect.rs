//! `vpipe check` and `vpipe inspect` on the mini TSM pipeline: test-mode indices equal semantics
//! §3 for the mini frame counts, train indices fall in their segments, `--dump` writes what the
//! model sees.

mod common;

use std::path::{Path, PathBuf};

/// tsm_r18_mini.yaml with its data paths pointed at the test data folder.
fn mini_pipeline(data: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r18_mini.yaml")).unwrap();
    let p = dir.join("tsm_mini.yaml");
    std::fs::write(&p, text.replace("../shared/data", data.to_str().unwrap())).unwrap();
    p
}

/// The `frame_inds: [...]` lines of inspect's output.
fn frame_inds(stdout: &str) -> Vec<Vec<i64>> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("frame_inds: "))
        .map(|l| l.trim_matches(['[', ']']).split(", ").map(|x| x.parse().unwrap()).collect())
        .collect()
}

#[test]
fn inspect_val_prints_semantics_indices_and_train_stays_in_segments() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = mini_pipeline(&data, dir.path());
    let o = common::vpipe().arg("check").arg(&yaml).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("data.train: 8 samples"));

    let o = common::vpipe().arg("inspect").arg(&yaml).args(["--split", "val", "--limit", "3"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 0.x test mode, K = 8, L = 1, start_index 0, for N = 240, 251, 72.
    assert_eq!(
        frame_inds(&out),
        vec![vec![15, 45, 75, 105, 135, 165, 195, 225], vec![15, 47, 78, 109, 141, 172, 203, 235], vec![4, 13, 22, 31, 40, 49, 58, 67]]
    );
    assert!(out.contains("output NCHW [8, 3, 64, 64]"), "{out}");

    let dump = dir.path().join("dump");
    let o = common::vpipe().arg("inspect").arg(&yaml).args(["--limit", "3", "--epoch", "2", "--dump"]).arg(&dump).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (inds, n) in frame_inds(&out).iter().zip([240i64, 251, 72]) {
        let seg = n / 8; // T1: clip k in [k·a, k·a + a)
        for (k, &x) in inds.iter().enumerate() {
            assert!((k as i64 * seg..(k as i64 + 1) * seg).contains(&x), "N={n} clip {k}: {x}");
        }
    }
    assert_eq!(out.matches("MultiScaleCrop: x").count(), 3);
    assert_eq!(out.matches("Flip: ").count(), 3);
    let folders: Vec<_> = std::fs::read_dir(&dump).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 3);
    for f in folders {
        let pngs: Vec<_> = std::fs::read_dir(&f).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(pngs.len(), 8);
        let bytes = std::fs::read(&pngs[0]).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // IHDR width and height: 64 x 64.
        assert_eq!(
            (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap())),
            (64, 64)
        );
    }
}

#[test]
fn check_names_the_line_of_a_misspelled_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r50_ucf101.yaml")).unwrap();
    let bad = text.replace("{type: CenterCrop, crop_size: 224}", "{type: CenterCrop, crop_sise: 224}");
    let line = bad.lines().position(|l| l.contains("crop_sise")).unwrap() + 1;
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, bad).unwrap();
    let o = common::vpipe().arg("check").arg(&p).arg("--syntax-only").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("bad.yaml") && err.contains(&format!("line {line}")) && err.contains("crop_sise") && err.contains("crop_size"),
        "{err}"
    );
    let o = common::vpipe()
        .args(["check", "--syntax-only"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r50_ucf101.yaml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
