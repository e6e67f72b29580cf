//! Model loading: `.safetensors` weights with mmaction2 names, TorchScript modules, and the
//! YAML config path of `vpipe featurize`.

mod common;

use std::fs::File;
use std::path::Path;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tch::{Device, Tensor};
use vpipe::model::{ModelConfig, ModelSpec, Recognizer};

fn spec(seed: i64, weights: Option<&Path>) -> ModelSpec {
    ModelConfig::named("tsm-r18", 4, 8, weights.map(Path::to_path_buf)).spec(seed as u64).unwrap()
}

fn input() -> Tensor {
    tch::manual_seed(42);
    Tensor::randn([16, 3, 64, 64], (tch::Kind::Float, Device::Cpu))
}

#[test]
fn safetensors_weights_round_trip_and_override_random_init() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("tsm_r18.safetensors");
    let a = Recognizer::new(&spec(7, None), Device::Cpu).unwrap();
    a.save(&w).unwrap();
    let b = Recognizer::new(&spec(0, Some(&w)), Device::Cpu).unwrap();
    let c = Recognizer::new(&spec(0, None), Device::Cpu).unwrap();
    let x = input();
    let (oa, ob, oc) = (
        a.forward(&x, &[x.size()[0] as usize]).unwrap(),
        b.forward(&x, &[x.size()[0] as usize]).unwrap(),
        c.forward(&x, &[x.size()[0] as usize]).unwrap(),
    );
    assert_eq!(oa.logits.size(), vec![2, 4], "16 images / 8 segments = 2 views");
    assert_eq!(oa.features.as_ref().unwrap().size(), vec![2, 512]);
    assert!(oa.logits.equal(&ob.logits) && oa.features.unwrap().equal(&ob.features.unwrap()), "loaded weights reproduce the saved model");
    assert!(!oa.logits.equal(&oc.logits), "a different seed gives a different model");
    // The file uses mmaction2's names (a converted checkpoint loads without a mapping table).
    let names: Vec<String> = Tensor::read_safetensors(&w).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"backbone.layer1.0.conv1.net.conv.weight".to_string()));
    assert!(names.contains(&"cls_head.fc_cls.weight".to_string()));
}

#[test]
fn weights_for_another_architecture_are_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("r18.safetensors");
    Recognizer::new(&ModelConfig::named("r2plus1d-r18", 4, 1, None).spec(0).unwrap(), Device::Cpu).unwrap().save(&w).unwrap();
    let e = format!("{:#}", Recognizer::new(&spec(0, Some(&w)), Device::Cpu).err().expect("mismatched weights must fail"));
    // One line naming the file, the counts and the first tensors, no C++ backtrace.
    assert!(e.contains("r18.safetensors") && e.contains("are missing") && e.contains("is not in the file"), "{e}");
    assert!(!e.contains("Exception raised from") && e.lines().count() == 1, "{e}");
    // A head of another size: named with both shapes.
    let w5 = dir.path().join("tsm5.safetensors");
    Recognizer::new(&ModelConfig::named("tsm-r18", 5, 8, None).spec(0).unwrap(), Device::Cpu).unwrap().save(&w5).unwrap();
    let e = format!("{:#}", Recognizer::new(&spec(0, Some(&w5)), Device::Cpu).err().unwrap());
    assert!(e.contains("cls_head.fc_cls.bias is [5] in the file, [4] in the model"), "{e}");
}

/// A TSN checkpoint initialises a TSM completely: its unshifted `conv1` tensors fill the TSM's
/// shifted ones (`weights_names`), as mmaction2's TSM loads 2D weights before wrapping them.
#[test]
fn tsn_weights_initialise_a_tsm_completely() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("tsn.safetensors");
    let tsn = Recognizer::new(&ModelConfig::named("tsn-r18", 4, 8, None).spec(5).unwrap(), Device::Cpu).unwrap();
    tsn.save(&w).unwrap();
    let mut tsm = Recognizer::trainable(&spec(0, None), Device::Cpu).unwrap();
    let report = tsm.load_matching(&w).unwrap();
    assert!(report.missing.is_empty() && report.mismatched.is_empty() && report.unused.is_empty(), "{}", report.table());
    let (a, b) = (tsn.var_store().unwrap().variables(), tsm.var_store().unwrap().variables());
    assert!(a["backbone.layer1.0.conv1.conv.weight"].equal(&b["backbone.layer1.0.conv1.net.conv.weight"]));
    assert!(a["backbone.layer4.1.conv1.bn.running_var"].equal(&b["backbone.layer4.1.conv1.net.bn.running_var"]));
}

#[test]
fn featurize_with_a_torchscript_model() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pt = dir.path().join("mean_rgb.pt");
    // A traced module: per image mean RGB, averaged over each view of 8 images → (V, 3) logits.
    let example = Tensor::zeros([8, 3, 224, 224], (tch::Kind::Float, Device::Cpu));
    let m = tch::CModule::create_by_tracing("MeanRgb", "forward", &[example], &mut |xs| {
        vec![xs[0].mean_dim([2i64, 3].as_slice(), false, tch::Kind::Float).view([-1, 8, 3]).mean_dim(1, false, tch::Kind::Float)]
    })
    .unwrap();
    m.save(&pt).unwrap();
    let out = dir.path().join("ts.parquet");
    let o = common::vpipe()
        .args(["featurize", "--model", pt.to_str().unwrap(), "--clips", "2", "--out", out.to_str().unwrap(), "--ann"])
        .arg(data.join("mini/mini_videos.txt"))
        .arg("--root")
        .arg(data.join("mini/videos"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap().build().unwrap();
    let batch = r.map(|b| b.unwrap()).next().unwrap();
    assert_eq!(batch.num_rows(), 16);
    assert!(batch.column_by_name("feature").is_none(), "a logits-only module writes no feature column");
    let logits = batch.column_by_name("logits").unwrap();
    let l = logits.as_any().downcast_ref::<arrow::array::FixedSizeListArray>().unwrap();
    assert_eq!(l.value_length(), 3);
    let v = l.values().as_any().downcast_ref::<arrow::array::Float32Array>().unwrap();
    // Normalised ImageNet pixels: means of real frames stay within (-2.2, 2.7).
    assert!(v.values().iter().all(|x| x.is_finite() && *x > -2.2 && *x < 2.7));
}

/// `vpipe featurize` with each 3D model on a pipeline file's NCTHW split writes one pooled
/// feature per clip of the model's width (R(2+1)D 512, I3D 2048, SlowFast 2304); a 2D model on
/// the same pipeline is refused, naming both layouts.
#[test]
fn featurize_with_each_3d_model_from_a_pipeline_split() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/r2plus1d_r18_mini.yaml"))
        .unwrap()
        .replace("../shared/data", data.to_str().unwrap());
    let cfg = dir.path().join("r.yaml");
    std::fs::write(&cfg, &yaml).unwrap();
    for (model, width) in [(None, 512), (Some("i3d-r50"), 2048), (Some("slowfast-r50"), 2304)] {
        let out = dir.path().join(format!("{}.parquet", model.unwrap_or("r2plus1d")));
        let args = ["featurize", "--config", cfg.to_str().unwrap(), "--split", "val", "--out", out.to_str().unwrap()];
        let o = common::vpipe().args(args).args(model.map(|m| ["--model", m]).into_iter().flatten()).output().unwrap();
        assert!(o.status.success(), "{model:?}: {}", String::from_utf8_lossy(&o.stderr));
        let mut r = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap().build().unwrap();
        let b = r.next().unwrap().unwrap();
        assert_eq!(b.num_rows(), 8, "{model:?}");
        let f = b.column_by_name("feature").unwrap().as_any().downcast_ref::<arrow::array::FixedSizeListArray>().unwrap();
        assert_eq!(f.value_length(), width, "{model:?}");
    }
    // A 2D model takes a clip's frames as its images (CDAR's Recognizer2D, which two-domain
    // training needs); a 3D model refuses images.
    let out = dir.path().join("tsn.parquet");
    let o = common::vpipe()
        .args(["featurize", "--config", cfg.to_str().unwrap(), "--split", "val", "--out", out.to_str().unwrap(), "--model", "tsn-r18"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tsm = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/tsm_r18_mini.yaml"))
        .unwrap()
        .replace("../shared/data", data.to_str().unwrap());
    let cfg2 = dir.path().join("t.yaml");
    std::fs::write(&cfg2, &tsm).unwrap();
    let out = dir.path().join("i3d_on_images.parquet");
    let o = common::vpipe()
        .args(["featurize", "--config", cfg2.to_str().unwrap(), "--split", "val", "--out", out.to_str().unwrap(), "--model", "i3d-r50"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("NCHW") && err.contains("NCTHW"), "{err}");
}

#[test]
fn featurize_from_the_example_yaml() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/featurize_tsm.yaml"))
        .unwrap()
        .replace("../shared/data", data.to_str().unwrap())
        .replace("tsm-r50", "tsm-r18");
    let cfg = dir.path().join("f.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let out = dir.path().join("y.parquet");
    let o = common::vpipe().args(["featurize", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap();
    assert_eq!(b.metadata().file_metadata().num_rows(), 8);
    // A misspelled key is refused with its name and line.
    std::fs::write(&cfg, "batch_size: 2\nworkrs: 3\n").unwrap();
    let o = common::vpipe().args(["featurize", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("workrs") && err.contains("f.yaml"), "{err}");
}

/// Gives the model random BatchNorm statistics and affine parameters (so eval-mode BN is not the
/// identity) and a random head, saves it to `dir/w.safetensors` and the input to `dir/x.f32`.
fn randomised_for_reference(model: &Recognizer, x: &Tensor, head: &str, dir: &Path) {
    tch::manual_seed(5);
    tch::no_grad(|| {
        for (name, mut t) in model.var_store().unwrap().variables() {
            let is_bn = t.dim() == 1 && !name.starts_with(head);
            if is_bn {
                let r = Tensor::rand_like(&t);
                let v = if name.ends_with("running_var") || name.ends_with("weight") { r * 0.5 + 0.75 } else { (r - 0.5) * 0.2 };
                t.copy_(&v);
            }
            if name.starts_with(head) {
                t.copy_(&(Tensor::randn_like(&t) * 0.1));
            }
        }
    });
    model.save(&dir.join("w.safetensors")).unwrap();
    let xs = Vec::<f32>::try_from(x.flatten(0, -1)).unwrap();
    std::fs::write(dir.join("x.f32"), xs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
}

/// Runs `tests/reference/<script> [mode]` on `dir/w.safetensors`, `dir/x.f32` and `dims`, and
/// checks the model's eval-mode logits against its output within 1e-4 of the largest logit.
fn assert_matches_reference(python: &str, script: &str, mode: Option<&str>, model: &Recognizer, x: &Tensor, dims: &[i64], dir: &Path) {
    let out = dir.join("y.f32");
    let o = std::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference").join(script))
        .args(mode)
        .arg(dir.join("w.safetensors"))
        .arg(dir.join("x.f32"))
        .args(dims.iter().map(i64::to_string))
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference: Vec<f32> = std::fs::read(&out).unwrap().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let ours = Vec::<f32>::try_from(model.forward(x, &[x.size()[0] as usize]).unwrap().logits.flatten(0, -1)).unwrap();
    assert_eq!(ours.len(), reference.len());
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let max_rel = ours.iter().zip(&reference).map(|(a, b)| (a - b).abs() / scale).fold(0f32, f32::max);
    eprintln!("{script}: max relative error vs NumPy: {max_rel:e} (scale {scale})");
    assert!(scale > 1e-3 && max_rel < 1e-4, "max relative error {max_rel}");
}

#[test]
fn tsm_r18_forward_matches_an_independent_numpy_reference() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = Recognizer::new(&spec(3, None), Device::Cpu).unwrap();
    let x = Tensor::randn([16, 3, 32, 32], (tch::Kind::Float, Device::Cpu));
    randomised_for_reference(&model, &x, "cls_head", dir.path());
    assert_matches_reference(&python, "tsm_numpy.py", None, &model, &x, &[16, 3, 32, 32, 8], dir.path());
}

/// R(2+1)D-18 (torchvision names) against `tests/reference/video_resnet_numpy.py`, two 8-frame clips.
#[test]
fn r2plus1d_18_forward_matches_an_independent_numpy_reference() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = Recognizer::new(&ModelConfig::named("r2plus1d-r18", 6, 1, None).spec(4).unwrap(), Device::Cpu).unwrap();
    let x = Tensor::randn([2, 3, 8, 32, 32], (tch::Kind::Float, Device::Cpu));
    randomised_for_reference(&model, &x, "fc", dir.path());
    assert_matches_reference(&python, "video_resnet_numpy.py", Some("18"), &model, &x, &[2, 8, 32, 32], dir.path());
}

/// R3D-18 and MC3-18 (torchvision `r3d_18`, `mc3_18`) against the same reference.
#[test]
fn r3d_and_mc3_forward_match_an_independent_numpy_reference() {
    let Some(python) = common::python() else { return };
    for (name, mode) in [("r3d-r18", "r3d"), ("mc3-r18", "mc3")] {
        let dir = tempfile::tempdir().unwrap();
        let model = Recognizer::new(&ModelConfig::named(name, 6, 1, None).spec(4).unwrap(), Device::Cpu).unwrap();
        let x = Tensor::randn([1, 3, 8, 32, 32], (tch::Kind::Float, Device::Cpu));
        randomised_for_reference(&model, &x, "fc", dir.path());
        assert_matches_reference(&python, "video_resnet_numpy.py", Some(mode), &model, &x, &[1, 8, 32, 32], dir.path());
    }
}

/// VMZ's R(2+1)D-34 (wider second conv in layers 2–4's first block, BatchNorm eps 1e-3).
#[test]
fn r2plus1d_34_forward_matches_an_independent_numpy_reference() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = Recognizer::new(&ModelConfig::named("r2plus1d-r34", 6, 1, None).spec(4).unwrap(), Device::Cpu).unwrap();
    let x = Tensor::randn([1, 3, 8, 32, 32], (tch::Kind::Float, Device::Cpu));
    randomised_for_reference(&model, &x, "fc", dir.path());
    assert_matches_reference(&python, "video_resnet_numpy.py", Some("34"), &model, &x, &[1, 8, 32, 32], dir.path());
}

/// I3D-R50 (mmaction2 names, i3d_r50.py settings) against `tests/reference/resnet3d_numpy.py`.
#[test]
fn i3d_r50_forward_matches_an_independent_numpy_reference() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = Recognizer::new(&ModelConfig::named("i3d-r50", 6, 1, None).spec(4).unwrap(), Device::Cpu).unwrap();
    let x = Tensor::randn([1, 3, 8, 32, 32], (tch::Kind::Float, Device::Cpu));
    randomised_for_reference(&model, &x, "cls_head", dir.path());
    assert_matches_reference(&python, "resnet3d_numpy.py", Some("i3d"), &model, &x, &[1, 8, 32, 32], dir.path());
}

/// SlowFast-R50 (τ 8, α 8, β 8) against the same reference: the slow pathway on frames 0 and 8,
/// the fast one on all 16, four lateral fusions, fast-then-slow pooled features.
#[test]
fn slowfast_r50_forward_matches_an_independent_numpy_reference() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = Recognizer::new(&ModelConfig::named("slowfast-r50", 6, 1, None).spec(4).unwrap(), Device::Cpu).unwrap();
    let x = Tensor::randn([1, 3, 16, 32, 32], (tch::Kind::Float, Device::Cpu));
    randomised_for_reference(&model, &x, "cls_head", dir.path());
    assert_matches_reference(&python, "resnet3d_numpy.py", Some("slowfast"), &model, &x, &[1, 16, 32, 32], dir.path());
}

/// A torchvision `r2plus1d_18` checkpoint (a plain state_dict with `num_batches_tracked`, as
/// `torch.save(model.state_dict())` writes) converts and loads under its own names.
#[test]
fn converted_torchvision_r2plus1d_checkpoint_reproduces_the_model() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = Recognizer::new(&ModelConfig::named("r2plus1d-r18", 5, 1, None).spec(9).unwrap(), Device::Cpu).unwrap();
    let converted = pth_round_trip(&python, &model, dir.path(), true);
    let loaded = Recognizer::new(&ModelConfig::named("r2plus1d-r18", 5, 1, Some(converted)).spec(0).unwrap(), Device::Cpu).unwrap();
    let x = Tensor::randn([1, 3, 8, 32, 32], (tch::Kind::Float, Device::Cpu));
    assert!(model.forward(&x, &[x.size()[0] as usize]).unwrap().logits.equal(&loaded.forward(&x, &[x.size()[0] as usize]).unwrap().logits));
}

/// Writes `model` as a `.pth` (`make_pth.py`: mmaction2's `{'state_dict': module.…}` with
/// `num_batches_tracked`, or with `plain` torchvision's bare state_dict), converts it with
/// `scripts/convert_mmaction2_checkpoint.py` and returns the `.safetensors` path.
fn pth_round_trip(python: &str, model: &Recognizer, dir: &Path, plain: bool) -> std::path::PathBuf {
    let orig = dir.join("orig.safetensors");
    model.save(&orig).unwrap();
    let (pth, converted) = (dir.join("model.pth"), dir.join("converted.safetensors"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut make = vec![root.join("tests/reference/make_pth.py"), orig, pth.clone()];
    if plain {
        make.push("--plain".into());
    }
    for args in [make, vec![root.join("scripts/convert_mmaction2_checkpoint.py"), pth, converted.clone()]] {
        let o = std::process::Command::new(python).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let names: Vec<String> = Tensor::read_safetensors(&converted).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().all(|n| !n.starts_with("module.") && !n.ends_with("num_batches_tracked")), "{names:?}");
    converted
}

/// mmaction2 checkpoints of TSM, I3D and SlowFast convert and load under their own names, and
/// the loaded model gives the original's logits exactly.
#[test]
fn converted_mmaction2_checkpoint_loads_and_reproduces_the_model() {
    let Some(python) = common::python() else { return };
    for (name, shape) in [("tsm-r50", vec![8, 3, 32, 32]), ("i3d-r50", vec![1, 3, 8, 32, 32]), ("slowfast-r50", vec![1, 3, 16, 32, 32])] {
        let dir = tempfile::tempdir().unwrap();
        let model = Recognizer::new(&ModelConfig::named(name, 7, 8, None).spec(11).unwrap(), Device::Cpu).unwrap();
        let converted = pth_round_trip(&python, &model, dir.path(), false);
        let loaded = Recognizer::new(&ModelConfig::named(name, 7, 8, Some(converted)).spec(0).unwrap(), Device::Cpu).unwrap();
        let x = Tensor::randn(shape.as_slice(), (tch::Kind::Float, Device::Cpu));
        assert!(
            model.forward(&x, &[x.size()[0] as usize]).unwrap().logits.equal(&loaded.forward(&x, &[x.size()[0] as usize]).unwrap().logits),
            "{name}"
        );
    }
}

/// `load_from` for fine-tuning (mmaction2 `strict=False`): a Kinetics-style checkpoint with a
/// 7-class head loads into a 5-class model except the head, which keeps its initialisation; a
/// checkpoint of another architecture matches nothing and is an error naming the file.
#[test]
fn load_from_skips_a_head_of_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |classes: usize, seed: u64| ModelConfig::named("r2plus1d-r18", classes, 1, None).spec(seed).unwrap();
    let pretrained = Recognizer::new(&spec(7, 1), Device::Cpu).unwrap();
    let w = dir.path().join("k400.safetensors");
    pretrained.save(&w).unwrap();
    let mut model = Recognizer::trainable(&spec(5, 2), Device::Cpu).unwrap();
    let head_before = model.parameters().unwrap()["fc.weight"].copy();
    let left = model.load_matching(&w).unwrap();
    assert!(left.missing.is_empty() && left.backbone_left().is_empty(), "{}", left.table());
    let mismatched: Vec<_> = left.mismatched.iter().map(|m| (m.0.as_str(), m.1.clone(), m.2.clone())).collect();
    assert_eq!(mismatched, [("fc.bias", vec![7], vec![5]), ("fc.weight", vec![7, 512], vec![5, 512])]);
    let table = left.table();
    assert!(table.contains("shape mismatch: fc.weight: [7, 512] in the file, [5, 512] in the model"), "{table}");
    assert!(table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["fc", "0", "2", "0"]), "{table}");
    let p = model.parameters().unwrap();
    assert!(p["stem.0.weight"].equal(&pretrained.parameters().unwrap()["stem.0.weight"]));
    assert!(p["fc.weight"].equal(&head_before));
    let tsm = dir.path().join("tsm.safetensors");
    Recognizer::new(&self::spec(0, None), Device::Cpu).unwrap().save(&tsm).unwrap();
    let e = model.load_matching(&tsm).unwrap_err().to_string();
    assert!(e.contains("tsm.safetensors") && e.contains("no tensor matches"), "{e}");
}

/// A VMZ / Caffe2 R(2+1)D-34 `.pkl` (blob names as VMZ writes them, solver blobs included)
/// converts to torchvision's names and reproduces the model it was written from.
#[test]
fn converted_vmz_r2plus1d_34_pkl_reproduces_the_model() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = Recognizer::new(&ModelConfig::named("r2plus1d-r34", 7, 1, None).spec(3).unwrap(), Device::Cpu).unwrap();
    let orig = dir.path().join("orig.safetensors");
    model.save(&orig).unwrap();
    let (pkl, converted) = (dir.path().join("r2plus1d_34.pkl"), dir.path().join("converted.safetensors"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut msg = String::new();
    for args in [
        vec![root.join("tests/reference/make_vmz_pkl.py"), orig, pkl.clone()],
        vec![root.join("scripts/convert_mmaction2_checkpoint.py"), pkl, converted.clone()],
    ] {
        let o = std::process::Command::new(&python).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        msg = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    // 70 momentum blobs (69 convs and the fc) plus `lr` and `model_iter`.
    assert!(msg.contains("dropped 72"), "solver blobs reported: {msg}");
    let loaded = Recognizer::new(&ModelConfig::named("r2plus1d-r34", 7, 1, Some(converted)).spec(0).unwrap(), Device::Cpu).unwrap();
    let x = Tensor::randn([1, 3, 8, 32, 32], (tch::Kind::Float, Device::Cpu));
    assert!(model.forward(&x, &[x.size()[0] as usize]).unwrap().logits.equal(&loaded.forward(&x, &[x.size()[0] as usize]).unwrap().logits));
}

/// A tiny SlowFast forward/backward: 2304-wide features, and gradients reach both pathways, the
/// lateral convs and the head.
#[test]
fn slowfast_forward_backward_reaches_both_pathways() {
    let spec = ModelConfig::named("slowfast-r50", 3, 1, None).spec(1).unwrap();
    let model = Recognizer::trainable(&spec, Device::Cpu).unwrap();
    let x = Tensor::randn([2, 3, 16, 32, 32], (tch::Kind::Float, Device::Cpu));
    let out = model.forward_t(&x, &[1, 1], true).unwrap();
    assert_eq!(out.logits.size(), [2, 3]);
    assert_eq!(out.features.as_ref().unwrap().size(), [2, 2304]);
    out.logits.cross_entropy_for_logits(&Tensor::from_slice(&[0i64, 2])).backward();
    let params = model.parameters().unwrap();
    for name in [
        "backbone.slow_path.conv1.conv.weight",
        "backbone.fast_path.conv1.conv.weight",
        "backbone.slow_path.layer3_lateral.conv.weight",
        "cls_head.fc_cls.weight",
    ] {
        let g = params[name].grad();
        assert!(g.defined() && g.abs().sum(tch::Kind::Float).double_value(&[]) > 0.0, "no gradient at {name}");
    }
}

/// uint8 batches in every layout (NCHW, NCTHW, NCHW with `to_bgr`, NCHW_Flow), each with its
/// Normalize, as (the loader's float batch, the uint8 batch).
fn uint8_cases() -> Vec<(vpipe::transform::Tensor, vpipe::transform::Tensor<u8>, vpipe::transform::Normalize, vpipe::transform::InputFormat)>
{
    use vpipe::frame::Frame;
    use vpipe::transform::format::{to_tensor, to_u8_tensor};
    use vpipe::transform::{Clip, InputFormat, Normalize};
    let noise = |i: usize, n: usize| (0..n).map(|j| ((i * 7919 + j * 104729) % 251) as u8).collect::<Vec<u8>>();
    let rgb = |k: usize, l: usize| Clip::new((0..k * l).map(|i| Frame::new(6, 4, noise(i, 72))).collect(), l, k);
    let flow = Clip::new((0..12).map(|i| Frame::gray(6, 4, noise(i, 24))).collect(), 3, 2);
    let bgr = Normalize { to_bgr: true, ..Normalize::imagenet() };
    let cases = [
        (rgb(8, 1), Normalize::imagenet(), InputFormat::NCHW),
        (rgb(2, 4), Normalize::imagenet(), InputFormat::NCTHW),
        (rgb(3, 1), bgr, InputFormat::NCHW),
        (flow, Normalize { mean: vec![128.0, 100.0], std: vec![128.0, 50.0], to_bgr: false }, InputFormat::NCHW_Flow),
    ];
    cases
        .into_iter()
        .map(|(clip, norm, format)| (to_tensor(&clip, &norm, format).unwrap(), to_u8_tensor(&clip, &norm, format).unwrap(), norm, format))
        .collect()
}

/// The device-side normalisation of uint8 batches (`--upload u8`, the GPU path) gives exactly the
/// values the CPU loader computes, for every layout and with `to_bgr`; run here on the CPU, the
/// same tch operations run on CUDA after an asynchronous uint8 copy.
#[test]
fn uint8_batches_normalised_by_the_model_equal_the_loaders_float_batches() {
    use vpipe::transform::format::ModelInput;
    for (float, raw, norm, format) in uint8_cases() {
        let on_cpu = vpipe::model::upload(ModelInput::F32(&float), Device::Cpu);
        let on_device = vpipe::model::upload(ModelInput::U8 { data: &raw.data, shape: &raw.shape, normalize: &norm, format }, Device::Cpu);
        assert_eq!(on_device.size(), on_cpu.size(), "{format:?}");
        assert!(on_device.equal(&on_cpu), "{format:?}: max difference {}", (on_device - on_cpu).abs().max().double_value(&[]));
    }
}

/// On a GPU: batches collated into page-locked memory and copied by vpipe's own stream
/// (`device::Uploader`, two device slots reused in turn) arrive as the CPU loader's float
/// batches, bit for bit. Skips, saying why, where cudarc or libtorch has no GPU (CI); runs on the
/// device machine (`scripts/gpu_check.sh` runs this test binary from the bundle).
#[test]
fn cuda_copy_stream_batches_equal_the_loaders_float_batches() {
    use vpipe::device::{PinnedPool, Uploader};
    let gpu = match vpipe::device::gpu(0) {
        Ok(gpu) => gpu,
        Err(why) => return eprintln!("SKIPPED: {why}"),
    };
    if let Some(why) = vpipe::model::cuda_unavailable_reason() {
        return eprintln!("SKIPPED: {why}");
    }
    let (pool, mut uploader) = (PinnedPool::new(gpu.clone(), 2), Uploader::new(gpu).unwrap());
    for round in 0..3 {
        for (float, raw, norm, format) in uint8_cases() {
            let mut host = pool.take(raw.data.len()).unwrap();
            host.as_mut_slice().copy_from_slice(&raw.data);
            let on_gpu = uploader.upload(&host, &raw.shape, &norm, format).unwrap();
            drop(host); // recycled at once: the copy has finished
            assert!(on_gpu.device().is_cuda());
            let back = on_gpu.to_device(Device::Cpu);
            let want = vpipe::model::upload(vpipe::transform::format::ModelInput::F32(&float), Device::Cpu);
            assert_eq!(back.size(), want.size(), "{format:?}");
            assert!(back.equal(&want), "round {round} {format:?}: max difference {}", (back - want).abs().max().double_value(&[]));
        }
    }
}

/// Runs `tests/reference/make_checkpoints.py ARGS…`, then the converter on each of `pths`; returns
/// the converter's outputs (its stdout names the layout it recognised).
fn convert_with_reference(python: &str, args: &[&str], pths: &[&Path]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = std::process::Command::new(python).arg(root.join("tests/reference/make_checkpoints.py")).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    pths.iter()
        .map(|pth| {
            let out = pth.with_extension("safetensors");
            let o = std::process::Command::new(python)
                .arg(root.join("scripts/convert_mmaction2_checkpoint.py"))
                .arg(pth)
                .arg(&out)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect()
}

/// mmaction2 1.x's TSM names (the shift wraps the conv) and an mmengine training checkpoint
/// (message hub, numpy scalars in `meta`, data_preprocessor buffers) convert, load every tensor
/// strictly, and give the original model's logits exactly.
#[test]
fn mmaction2_1x_and_mmengine_training_checkpoints_load_completely() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = Recognizer::new(&spec(8, None), Device::Cpu).unwrap();
    let orig = dir.path().join("orig.safetensors");
    model.save(&orig).unwrap();
    let (plain, training) = (dir.path().join("tsm_1x.pth"), dir.path().join("epoch_3.pth"));
    let said =
        convert_with_reference(&python, &["mmaction2_1x", orig.to_str().unwrap(), dir.path().to_str().unwrap()], &[&plain, &training]);
    assert!(said.iter().all(|s| s.contains("layout mmaction2 1.x (TSM shift renamed)")), "{said:?}");
    assert!(said[1].contains("data_preprocessor.mean"), "dropped tensors are reported: {}", said[1]);
    let x = input();
    let want = model.forward(&x, &[16]).unwrap().logits;
    for pth in [plain, training] {
        let loaded = Recognizer::new(&spec(0, Some(&pth.with_extension("safetensors"))), Device::Cpu).unwrap();
        assert!(loaded.forward(&x, &[16]).unwrap().logits.equal(&want), "{}", pth.display());
    }
}

/// torchvision's ImageNet ResNet-50 layout converts to a TSN-R50 that reproduces mmaction2's TSN
/// test scores — its own TSNHead and average_clip run by the reference script over torchvision's
/// trunk — with all of each sample's images in one view, for `score` and `prob`; the same
/// file initialises every backbone tensor of a TSM-R50.
#[test]
fn torchvision_resnet50_initialises_tsn_and_tsm_and_tsn_averages_every_image() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (samples, images, size) = (2usize, 6usize, 32i64);
    let pth = dir.path().join("resnet.pth");
    let args =
        ["torchvision_resnet", "50", "7", &samples.to_string(), &images.to_string(), &size.to_string(), dir.path().to_str().unwrap()];
    let said = convert_with_reference(&python, &args, &[&pth]);
    assert!(said[0].contains("layout torchvision ResNet (2D)"), "{}", said[0]);
    let w = pth.with_extension("safetensors");
    let read = |name: &str| -> Vec<f32> {
        std::fs::read(dir.path().join(name)).unwrap().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    };
    let x = Tensor::from_slice(&read("x.f32")).view([(samples * images) as i64, 3, size, size]);
    let tsn = Recognizer::new(&ModelConfig::named("tsn-r50", 7, 3, Some(w.clone())).spec(0).unwrap(), Device::Cpu).unwrap();
    let out = tsn.forward(&x, &[images, images]).unwrap();
    assert_eq!(out.views, [1, 1], "TSN: one view per sample, whatever its image count");
    let rows: Vec<Vec<f32>> = (0..samples as i64).map(|i| Vec::<f32>::try_from(out.logits.get(i)).unwrap()).collect();
    for mode in [vpipe::metrics::AverageClips::Score, vpipe::metrics::AverageClips::Prob] {
        let ours: Vec<f32> = rows.iter().flat_map(|r| vpipe::metrics::average_clips(&[r.clone()], mode)).collect();
        let want = read(&format!("tsn_{}.f32", format!("{mode:?}").to_lowercase()));
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
        assert!(ours.len() == want.len() && err < 1e-5, "{mode:?}: relative error {err}: {ours:?} vs {want:?}");
    }
    // The same ImageNet-layout file loads every tensor of a TSM-R50 (strictly).
    Recognizer::new(&ModelConfig::named("tsm-r50", 7, 3, Some(w)).spec(0).unwrap(), Device::Cpu).unwrap();
}
