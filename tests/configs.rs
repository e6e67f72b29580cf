//! Configs that port: mmaction2 1.x's own config files (tests/fixtures/mmaction2_configs, with
//! their `_base_` chains) through `vpipe convert-config`; `_base_` and `--cfg-options` on a
//! vpipe file; a YAML file in mmaction2 1.x's layout read directly; the missing-Normalize warning.

mod common;

use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mmaction2_configs/configs/recognition").join(rel)
}

fn convert(python: &str, config: &Path, out: &Path) -> (String, String) {
    let o = common::vpipe().env("VPIPE_PYTHON", python).arg("convert-config").arg(config).arg("-o").arg(out).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "{}: {stdout}{stderr}", config.display());
    (stdout, std::fs::read_to_string(out).unwrap())
}

fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn mmaction2_1x_configs_convert_and_pass_check() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py", "SlowFast"),
        ("tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py", "TSM"),
        ("tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py", "TSN"),
        ("i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py", "I3D"),
        ("r2plus1d/r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py", "R2Plus1D"),
    ];
    for (rel, kind) in cases {
        let out = dir.path().join(format!("{kind}.yaml"));
        let (said, text) = convert(&python, &fixture(rel), &out);
        assert!(said.contains("(0 keys not mapped)") && said.contains("vpipe check --syntax-only: OK"), "{rel}: {said}");
        let v = yaml(&text);
        assert_eq!(v["model"]["type"], kind, "{rel}");
        assert_eq!(v["model"]["num_classes"], 400, "{rel}");
        // data_preprocessor's statistics became each split's Normalize; PackActionInputs went.
        for split in ["train", "val", "test"] {
            let steps: Vec<&str> = v["data"][split]["pipeline"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap()).collect();
            assert!(steps.contains(&"Normalize") && !steps.contains(&"PackActionInputs"), "{rel} {split}: {steps:?}");
        }
        // The written file is a vpipe pipeline file as `vpipe check` reads it.
        let o = common::vpipe().args(["check", "--syntax-only"]).arg(&out).output().unwrap();
        assert!(o.status.success(), "{rel}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let sf = yaml(&std::fs::read_to_string(dir.path().join("SlowFast.yaml")).unwrap());
    assert_eq!(sf["train"]["lr_schedule"], yaml("{type: CosineAnnealing, T_max: 256, eta_min: 0, begin: 0, by_epoch: true}"));
    assert_eq!(sf["train"]["warmup"], yaml("{type: LinearLR, start_factor: 0.1, length: 34, by_epoch: true}"));
    assert_eq!((&sf["train"]["epochs"], &sf["train"]["val_interval"], &sf["train"]["grad_clip"]), (&yaml("256"), &yaml("5"), &yaml("40")));
    assert_eq!((&sf["train"]["checkpoint_interval"], &sf["train"]["max_keep_ckpts"]), (&yaml("4"), &yaml("3")));
    let tsm = yaml(&std::fs::read_to_string(dir.path().join("TSM.yaml")).unwrap());
    assert_eq!(tsm["train"]["optimizer"]["fc_lr5"], true, "TSMOptimWrapperConstructor's paramwise fc_lr5");
}

/// `_base_` inheritance and `--cfg-options` on the real mini pipeline: the effective file runs
/// through check, and an unknown key is the usual keyed error.
#[test]
fn base_files_and_cfg_options_compose_a_pipeline() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mini = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/tsm_r18_mini.yaml")).unwrap();
    std::fs::write(dir.path().join("base.yaml"), mini.replace("../shared/data", data.to_str().unwrap())).unwrap();
    let child = dir.path().join("child.yaml");
    std::fs::write(&child, "_base_: base.yaml\nmodel: {num_segments: 4}\ntrain: {optimizer: {_delete_: true, type: AdamW, lr: 0.001}}\n")
        .unwrap();
    let check = |extra: &[&str]| common::vpipe().arg("check").arg(&child).args(extra).output().unwrap();
    // 4 segments: 4 sampled frames fit, 6 do not.
    let o = check(&["--cfg-options", "data.train.pipeline.0.num_clips=4", "data.val.pipeline.0.num_clips=4", "train.epochs=2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = check(&["--cfg-options", "data.train.pipeline.0.num_clips=6"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("6 images per sample is not a multiple of the model's num_segments = 4"), "{err}");
    let o = check(&["--cfg-options", "train.epochz=2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("child.yaml (merged)") && err.contains("unknown field `epochz`"), "{err}");
    // `vpipe run` keeps the effective file in the work dir.
    let work = dir.path().join("work");
    let o = common::vpipe()
        .arg("run")
        .arg(&child)
        .arg("--work-dir")
        .arg(&work)
        .args(["--cfg-options", "train.epochs=1", "data.train.pipeline.0.num_clips=4", "data.val.pipeline.0.num_clips=4"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let kept = yaml(&std::fs::read_to_string(work.join("pipeline.yaml")).unwrap());
    assert_eq!((&kept["train"]["epochs"], &kept["train"]["optimizer"]), (&yaml("1"), &yaml("{type: AdamW, lr: 0.001}")));
}

/// A YAML file in mmaction2 1.x's layout is read as such; keys with no vpipe meaning are an
/// error naming them; a split without Normalize is a warning naming the statistics used.
#[test]
fn a_yaml_in_mmaction2_1x_layout_is_read_directly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.yaml");
    let text = "model: {type: Recognizer2D, backbone: {type: ResNet, depth: 18}, cls_head: {type: TSNHead, num_classes: 5}}\n\
        train_dataloader: {batch_size: 2, dataset: {type: VideoDataset, ann_file: a.txt, data_prefix: {video: v},\n  \
        pipeline: [{type: SampleFrames, clip_len: 1, num_clips: 3}, {type: DecordDecode}, {type: Resize, scale: [64, 64], keep_ratio: false}, {type: FormatShape, input_format: NCHW}, {type: PackActionInputs}]}}\n\
        train_cfg: {max_epochs: 3}\noptim_wrapper: {optimizer: {type: SGD, lr: 0.01}}\n";
    std::fs::write(&p, text).unwrap();
    let o = common::vpipe().args(["check", "--syntax-only"]).arg(&p).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("warning: `data.train.pipeline` has no Normalize: the model gets the default mean [123.675, 116.28, 103.53]"),
        "{out}"
    );
    std::fs::write(&p, format!("{text}visualizer: {{type: ActionVisualizer}}\nparam_scheduler: [{{type: PolyLR}}]\n")).unwrap();
    let o = common::vpipe().args(["check", "--syntax-only"]).arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("param_scheduler.0.type (PolyLR"), "{err}");
}

/// Every `vpipe run` pipeline the project ships parses and builds (`vpipe check --syntax-only`): the SEVERE
/// ports, the mini runs and the dataset recipes, whose data may not be here.
#[test]
fn every_shipped_pipeline_passes_check_syntax_only() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        // featurize_*.yaml are `vpipe featurize` files (tests/models.rs reads them).
        if p.extension().is_some_and(|e| e == "yaml") && !p.file_name().unwrap().to_string_lossy().starts_with("featurize") {
            let o = common::vpipe().args(["check", "--syntax-only"]).arg(&p).output().unwrap();
            assert!(o.status.success(), "{}: {}", p.display(), String::from_utf8_lossy(&o.stderr));
            n += 1;
        }
    }
    assert!(n >= 19, "{n} pipelines");
}
