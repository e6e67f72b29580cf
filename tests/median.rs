//! `vpipe median` on the extracted mini rawframes: images equal, pixel for pixel, the reference
//! rule computed with NumPy by scripts/median_reference.py; re-runs skip; videos work too.

mod common;

use std::path::Path;

/// Every file below `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Whether `<dir>.<suffix>` exists beside `dir` (where jobs write their summary).
fn sibling_exists(dir: &Path, suffix: &str) -> bool {
    dir.with_file_name(format!("{}.{suffix}", dir.file_name().unwrap().to_string_lossy())).exists()
}

fn png_pixels(p: &Path) -> (u32, u32, Vec<u8>) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).to_rgb8();
    (img.width(), img.height(), img.into_raw())
}

#[test]
fn median_equals_the_numpy_reference_pixel_for_pixel() {
    let Some(data) = common::data_dir() else { return };
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("rawframes");
    let o = common::vpipe().arg("extract-frames").arg(data.join("mini/videos")).arg(&raw).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_file(raw.join("build_report.txt")).unwrap();

    let ours = dir.path().join("median");
    let o = common::vpipe().arg("median").arg(&raw).arg(&ours).arg("--png").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("videos ok 8, skipped 0, failed 0"));
    let reference = dir.path().join("reference");
    let o = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/median_reference.py"))
        .arg(&raw)
        .arg(&reference)
        .arg("--png")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 240, 251 and 280/310 frames exercise the 100-frame linspace selection; 48–83 use all frames.
    for video in [
        "SoccerJuggling/v_SoccerJuggling_g23_c01",
        "SoccerJuggling/v_SoccerJuggling_g24_c01",
        "wave/TrumanShow_wave_f_nm_np1_fr_med_26",
        "wave/RATRACE_wave_f_nm_np1_fr_goo_37",
        "arm_wrestling/demo",
        "flipping_pancake/flipping_a_pancake",
        "cartwheel/hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6",
        "wave/SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0",
    ] {
        let (a, b) = (png_pixels(&ours.join(format!("{video}.png"))), png_pixels(&reference.join(format!("{video}.png"))));
        assert_eq!((a.0, a.1), (b.0, b.1), "{video}");
        let diff = a.2.iter().zip(&b.2).filter(|(x, y)| x != y).count();
        assert_eq!(diff, 0, "{video}: {diff} pixels differ from NumPy");
    }

    // EPIC-Kitchens-style segments (`path start length label`, frames start..=start+length): 131
    // frames (linspace selection), 41 frames, and one running past the last frame (240), which is
    // reported while the others are written.
    let list = dir.path().join("segments.txt");
    std::fs::write(
        &list,
        "SoccerJuggling/v_SoccerJuggling_g23_c01 10 130 3\nwave/RATRACE_wave_f_nm_np1_fr_goo_37 5 40 4\nSoccerJuggling/v_SoccerJuggling_g23_c01 200 60 3\n",
    )
    .unwrap();
    let (seg_ours, seg_ref) = (dir.path().join("seg_ours"), dir.path().join("seg_ref"));
    let o = common::vpipe()
        .arg("median")
        .arg(&raw)
        .arg(&seg_ours)
        .arg("--segments")
        .arg(&list)
        .args(["--filename-tmpl", "img_{:05d}.jpg", "--png"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("videos ok 2, skipped 0, failed 1") && err.contains("img_00241.jpg"), "{err}");
    std::fs::write(&list, "SoccerJuggling/v_SoccerJuggling_g23_c01 10 130 3\nwave/RATRACE_wave_f_nm_np1_fr_goo_37 5 40 4\n").unwrap();
    let o = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/median_reference.py"))
        .arg(&raw)
        .arg(&seg_ref)
        .args(["--png", "--filename-tmpl", "img_{:05d}.jpg", "--segments"])
        .arg(&list)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for seg in ["v_SoccerJuggling_g23_c01/10_140.png", "RATRACE_wave_f_nm_np1_fr_goo_37/5_45.png"] {
        let (a, b) = (png_pixels(&seg_ours.join(seg)), png_pixels(&seg_ref.join(seg)));
        assert!(a == b, "{seg}: differs from NumPy");
    }
    let whole = png_pixels(&ours.join("SoccerJuggling/v_SoccerJuggling_g23_c01.png"));
    assert!(whole != png_pixels(&seg_ours.join("v_SoccerJuggling_g23_c01/10_140.png")), "a segment's median is its own");

    // Default JPEG output at the reference layout; a re-run skips every video.
    let jpg = dir.path().join("median_jpg");
    assert!(common::vpipe().arg("median").arg(&raw).arg(&jpg).output().unwrap().status.success());
    let f = vpipe::decode::read_jpeg(&jpg.join("wave/RATRACE_wave_f_nm_np1_fr_goo_37.jpg"), 3).unwrap();
    assert_eq!((f.width, f.height), (560, 240));
    let o = common::vpipe().arg("median").arg(&raw).arg(&jpg).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("videos ok 0, skipped 8"), "{}", String::from_utf8_lossy(&o.stderr));

    // Shards as a Slurm array --array=1-3 runs them (task ids 1..3): together, every video once.
    let sharded = dir.path().join("median_shards");
    for id in 1..=3 {
        let o = common::vpipe()
            .arg("median")
            .arg(&raw)
            .arg(&sharded)
            .envs([
                ("SLURM_ARRAY_TASK_ID", id.to_string()),
                ("SLURM_ARRAY_TASK_MIN", "1".into()),
                ("SLURM_ARRAY_TASK_STEP", "1".into()),
                ("SLURM_ARRAY_TASK_COUNT", "3".into()),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "task {id}: {err}");
        let want = [3, 3, 2][id - 1]; // 8 videos round-robin over 3 shards
        assert!(err.contains(&format!("videos ok {want}, skipped 0")), "task {id}: {err}");
        assert!(sibling_exists(&sharded, &format!("summary-{:05}-of-00003.json", id - 1)));
    }
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = walk(d).into_iter().map(|p| p.strip_prefix(d).unwrap().display().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&sharded), names(&jpg));

    // BackgroundBlend in a pipeline: CDAR's tmf placement (after the crop), backgrounds named by
    // the video list through the median tree; inspect --dump shows blended frames.
    let yaml = dir.path().join("blend.yaml");
    let list = data.join("mini/mini_videos.txt");
    let pipeline = |blend: &str| {
        format!(
            "seed: 0\ndata:\n  val:\n    source: {{type: VideoList, ann_file: {list}, root: {root}}}\n    pipeline:\n\
             \x20     - {{type: SampleFrames, clip_len: 1, num_clips: 2, test_mode: true}}\n\
             \x20     - {{type: Resize, scale: [-1, 64]}}\n\
             \x20     - {{type: CenterCrop, crop_size: 64}}\n{blend}",
            list = list.display(),
            root = data.join("mini/videos").display()
        )
    };
    let blend = format!(
        "      - {{type: BackgroundBlend, p: 1.0, alpha: 0.5, resize_h: 64, crop_size: 64, ann_files: [{}], data_prefixes: [{}]}}\n",
        list.display(),
        jpg.display()
    );
    let dump = |text: String, out: &Path| {
        std::fs::write(&yaml, text).unwrap();
        let o = common::vpipe().arg("inspect").arg(&yaml).args(["--split", "val", "--limit", "2", "--dump"]).arg(out).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let (plain, blended) = (dir.path().join("plain"), dir.path().join("blended"));
    dump(pipeline(""), &plain);
    let out = dump(pipeline(&blend), &blended);
    assert_eq!(out.matches("BackgroundBlend: alpha 0.500 background").count(), 2, "{out}");
    let frame = "00000_SoccerJuggling__v_SoccerJuggling_g23_c01.avi/view000_frame000.png";
    let (a, b) = (png_pixels(&plain.join(frame)).2, png_pixels(&blended.join(frame)).2);
    let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(changed > a.len() / 4, "blend changed only {changed} of {} values", a.len());

    // In-stream median: with `median_from`, backgrounds missing from the cache are computed from
    // the videos inside the pipeline, cached, and equal what `vpipe median --videos` writes; the
    // blended frames equal those of a run over precomputed backgrounds.
    let (cache, precomputed) = (dir.path().join("cache"), dir.path().join("precomputed"));
    let in_stream = format!(
        "      - {{type: BackgroundBlend, p: 1.0, alpha: 0.5, resize_h: 64, crop_size: 64, ann_files: [{}], data_prefixes: [{}], median_from: [{}]}}\n",
        list.display(),
        cache.display(),
        data.join("mini/videos").display()
    );
    let out = dump(pipeline(&in_stream), &dir.path().join("in_stream"));
    let used: Vec<&str> = out.lines().filter_map(|l| l.split(" background ").nth(1)).map(|p| p.split(' ').next().unwrap()).collect();
    assert_eq!(used.len(), 2, "{out}");
    let o = common::vpipe().arg("median").arg(data.join("mini/videos")).arg(&precomputed).arg("--videos").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for p in &used {
        let rel = Path::new(p).strip_prefix(&cache).unwrap();
        assert_eq!(std::fs::read(p).unwrap(), std::fs::read(precomputed.join(rel)).unwrap(), "{p}");
    }
    let cached = std::fs::read_dir(&cache).unwrap().flat_map(|c| std::fs::read_dir(c.unwrap().path()).unwrap()).count();
    assert_eq!(cached, used.iter().collect::<std::collections::BTreeSet<_>>().len(), "only the drawn backgrounds are computed");
    let from_files = format!(
        "      - {{type: BackgroundBlend, p: 1.0, alpha: 0.5, resize_h: 64, crop_size: 64, ann_files: [{}], data_prefixes: [{}]}}\n",
        list.display(),
        precomputed.display()
    );
    dump(pipeline(&from_files), &dir.path().join("from_files"));
    assert_eq!(png_pixels(&dir.path().join("in_stream").join(frame)), png_pixels(&dir.path().join("from_files").join(frame)));
}

#[test]
fn median_of_videos_writes_the_kinetics_layout() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k400");
    let o = common::vpipe().arg("median").arg(data.join("kinetics")).arg(&out).args(["--videos", "--max-frames", "0"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("videos ok 3") && err.contains("962 frames"), "{err}"); // 303 + 332 + 327, all frames
    let f = vpipe::decode::read_jpeg(&out.join("R6llTwEh07w.jpg"), 3).unwrap();
    assert_eq!((f.width, f.height), (340, 256));
}
