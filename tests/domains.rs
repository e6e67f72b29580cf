//! Two-domain training with CDAR's DANN neck (semantics §11): gradient reversal negates the
//! backbone's domain gradient, the classification loss sees source labels only, and
//! `pipelines/cdar_mini.yaml` trains both real domains to the same bits with 1 and 2 workers.

mod common;

use std::path::{Path, PathBuf};

use vpipe::config::PipelineConfig;
use vpipe::graph::domains;
use vpipe::graph::loader::{Batch, BatchInput, BatchTensor};
use vpipe::graph::train::StepConfig;
use vpipe::model::optim::Optim;
use vpipe::model::{Loss, Recognizer};
use vpipe::source::Sample;

const MODEL: &str = "data: {}\n\
model: {type: TSM, depth: 18, num_segments: 2, num_classes: 3, dropout: 0.5,\n\
        neck: {type: DomainClassifier, in_channels: 512, num_layers: 2, hidden_dim: 32}}\n\
train: {epochs: 1, optimizer: {type: SGD, lr: 0.1, momentum: 0.9}}\n";

fn model_and_optim() -> (Recognizer, Optim) {
    let cfg = PipelineConfig::parse(MODEL).unwrap();
    let spec = cfg.model.unwrap().spec(7).unwrap();
    let model = Recognizer::trainable(&spec, tch::Device::Cpu).unwrap();
    let optim = Optim::new(&cfg.train.unwrap().optimizer, &model.parameters().unwrap());
    (model, optim)
}

/// A batch of `labels.len()` samples of 2 images 3×32×32, values from `seed`.
fn batch(labels: &[i32], seed: u64) -> Batch {
    let n = labels.len() * 2 * 3 * 32 * 32;
    let data: Vec<f32> = (0..n).map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f32) / 500.0 - 1.0).collect();
    let tensor = vpipe::transform::Tensor { shape: vec![labels.len() * 2, 3, 32, 32], data };
    Batch {
        samples: labels
            .iter()
            .enumerate()
            .map(|(i, &l)| Sample {
                index: i,
                line: i + 1,
                name: format!("s{seed}_{i}"),
                path: PathBuf::from("x"),
                labels: vec![l],
                rawframes: None,
                keyframe: None,
                frame_labels: None,
            })
            .collect(),
        tensor: BatchInput::F32(BatchTensor { tensor, pool: None }),
        images: vec![2; labels.len()],
        label_mix: vec![None; labels.len()],
        boxes: vec![None; labels.len()],
    }
}

fn weights(m: &Recognizer) -> Vec<(String, tch::Tensor)> {
    let mut v: Vec<(String, tch::Tensor)> = m.var_store().unwrap().variables().into_iter().map(|(k, t)| (k, t.copy())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn same(a: &[(String, tch::Tensor)], b: &[(String, tch::Tensor)]) -> bool {
    a.iter().zip(b).all(|((n, x), (m, y))| n == m && x.equal(y))
}

/// The weights after one two-domain step on (`source`, `target`) from the same initialisation.
fn after_step(source: &Batch, target: &Batch) -> Vec<(String, tch::Tensor)> {
    let (model, mut optim) = model_and_optim();
    tch::manual_seed(11);
    let cfg = StepConfig { lr: 0.1, fp16: false, grad_clip: None, loss: Loss::CrossEntropy };
    let step = domains::train_step(&model, &mut optim, source, target, cfg, (0, 0, 0)).unwrap();
    assert!(step.fields.iter().any(|(k, _)| *k == "loss_dom") && step.samples == 2, "{:?}", step.fields);
    weights(&model)
}

#[test]
fn classification_loss_sees_source_labels_only() {
    let (s, t) = (batch(&[0, 1], 1), batch(&[2, 0], 2));
    let base = after_step(&s, &t);
    // Target labels feed only t_mca: any others leave every weight as it was.
    assert!(same(&base, &after_step(&s, &batch(&[1, 1], 2))), "changing target labels changed the weights");
    // A source label is trained on: changing one moves the head.
    assert!(!same(&base, &after_step(&batch(&[2, 1], 1), &t)), "changing a source label changed nothing");
    // The larger batch is truncated to the smaller one's 2 samples: a third target sample
    // (the first two are `t`'s, values depend on the position) is unused.
    assert!(same(&base, &after_step(&s, &batch(&[2, 0, 1], 2))), "a sample beyond min(B_s, B_t) was used");
}

#[test]
fn gradient_reversal_negates_the_backbones_domain_gradient() {
    let (model, _) = model_and_optim();
    let x = BatchInput::F32(BatchTensor { tensor: batch(&[0, 1, 2, 0], 3).tensor.as_f32().unwrap().clone(), pool: None })
        .model_input(tch::Device::Cpu);
    let grads = |reverse: bool| {
        for (_, t) in model.var_store().unwrap().variables() {
            let mut g = t.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        tch::manual_seed(5); // the same dropout masks in both passes
        let out = model.forward_t(&x, &[2, 2, 2, 2], true).unwrap();
        let d = model.domain_loss(out.features.as_ref().unwrap(), &[true, false, true, false], reverse).unwrap().unwrap();
        d.loss.backward();
        let mut v: Vec<(String, tch::Tensor)> = model
            .var_store()
            .unwrap()
            .variables()
            .into_iter()
            .filter(|(k, t)| k.starts_with("backbone.") && t.requires_grad())
            .map(|(k, t)| (k, t.grad().copy()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (with, without) = (grads(true), grads(false));
    assert!(!with.is_empty());
    let mut nonzero = 0;
    for ((n, g), (_, h)) in with.iter().zip(&without) {
        assert!(g.equal(&-h), "{n}: reversed gradient is not the negation of the plain one");
        nonzero += (g.abs().sum(tch::Kind::Float).double_value(&[]) > 0.0) as usize;
    }
    assert!(nonzero > 10, "only {nonzero} backbone tensors received a domain gradient");
}

/// `pipelines/cdar_mini.yaml` pointed at `data`, written into `dir`.
fn cdar_mini(data: &Path, dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("pipelines/cdar_mini.yaml")).unwrap();
    let text =
        text.replace("../shared/data", data.to_str().unwrap()).replace("pipelines/lists", root.join("pipelines/lists").to_str().unwrap());
    let p = dir.join("cdar_mini.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn records(work: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(work.join("log.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn cdar_mini_trains_both_domains_identically_with_one_and_two_workers() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = cdar_mini(&data, dir.path());
    let run = |workers: &str| {
        let work = dir.path().join(format!("w{workers}"));
        let o = common::vpipe()
            .arg("run")
            .arg(&yaml)
            .arg("--work-dir")
            .arg(&work)
            .args(["--workers", workers, "--test-last"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        work
    };
    let (w1, w2) = (run("1"), run("2"));
    let recs = records(&w1);
    let train: Vec<&serde_json::Value> = recs.iter().filter(|r| r["mode"] == "train").collect();
    assert_eq!(train.len(), 6, "3 epochs × 2 source batches");
    for r in &train {
        for k in ["loss_cls", "loss_dom", "acc_dom", "t_mca", "loss"] {
            assert!(r[k].as_f64().is_some_and(f64::is_finite), "{k} missing in {r}");
        }
        let total = r["loss_cls"].as_f64().unwrap() + r["loss_dom"].as_f64().unwrap();
        assert!((r["loss"].as_f64().unwrap() - total).abs() < 1e-5, "loss is loss_cls + loss_dom: {r}");
        // Untrained, the domain classifier is near chance: BCE ≈ ln 2.
        assert!((0.3..1.5).contains(&r["loss_dom"].as_f64().unwrap()), "{r}");
    }
    assert_eq!(recs.iter().filter(|r| r["mode"] == "val").count(), 3);
    assert!(recs.iter().any(|r| r["mode"] == "test"));
    let a = std::fs::read(w1.join("epoch_3.safetensors")).unwrap();
    assert!(a == std::fs::read(w2.join("epoch_3.safetensors")).unwrap(), "1 and 2 workers trained different weights");
    // The neck is saved under CDAR's names.
    let names: Vec<String> = tch::Tensor::read_safetensors(w1.join("epoch_3.safetensors")).unwrap().into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().any(|n| n == "neck.fc_domain.2.0.weight"), "{names:?}");
    clustering_of_the_trained_features(&yaml, &w1.join("epoch_3.safetensors"), dir.path());
    // The test phase's predictions carry the features too: `vpipe eval` clusters them.
    let o = common::vpipe()
        .arg("eval")
        .arg(w1.join("best_pred.parquet"))
        .args(["--metrics", "kmeans", "--num-old-classes", "2", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((j["videos"].as_u64(), j["clusters"].as_u64()), (Some(4), Some(2)), "{j}");
}

/// CDAR's evaluation of the trained model: target (and labelled source) features by `vpipe
/// featurize`, then `vpipe eval --metrics kmeans,gcd_v2`, seeded and reproducible.
fn clustering_of_the_trained_features(yaml: &Path, weights: &Path, dir: &Path) {
    let feats = |name: &str, list: &str| {
        let out = dir.join(name);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let opt = format!("data.val.source.ann_file={}", root.join("pipelines/lists").join(list).display());
        let o = common::vpipe()
            .args(["featurize", "--split", "val", "--config"])
            .arg(yaml)
            .arg("--weights")
            .arg(weights)
            .arg("--cfg-options")
            .arg(opt)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let (target, source) = (feats("target.parquet", "cdar_mini_target.txt"), feats("source.parquet", "cdar_mini_source.txt"));
    let eval = || {
        let o = common::vpipe()
            .arg("eval")
            .arg(&target)
            .args(["--metrics", "kmeans,gcd_v2", "--num-old-classes", "1", "--num-all-classes", "2", "--json", "--labelled"])
            .arg(&source)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let j = eval();
    assert_eq!((j["videos"].as_u64(), j["labelled_videos"].as_u64(), j["clusters"].as_u64()), (Some(4), Some(4), Some(2)), "{j}");
    for k in ["kmeans", "kmeans_old", "kmeans_new", "kmeans_balanced", "gcd_v2", "gcd_v2_old", "gcd_v2_new", "gcd_v2_mean"] {
        let v = j[k].as_f64().unwrap_or(-1.0);
        // 4 videos in 2 clusters: the matching always gets at least half of them right.
        assert!((0.5..=1.0).contains(&v) || k.ends_with("_old") || k.ends_with("_new"), "{k} = {v}: {j}");
        assert!((0.0..=1.0).contains(&v), "{k} = {v}: {j}");
    }
    assert_eq!(j, eval(), "clustering metrics are seeded");
}

#[test]
fn two_domain_runs_resume_mid_epoch_to_the_same_weights() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = cdar_mini(&data, dir.path());
    // Target batches of 4 of its 4 videos: every step starts a new target pass (a new shuffle),
    // so the resumed step 1 of epoch 2 must find pass 1 of epoch 2, not pass 0.
    let opts = [
        "--cfg-options",
        "data.train.target.batch_size=4",
        "train.checkpoint_by_epoch=false",
        "train.checkpoint_interval=3",
        "train.max_keep_ckpts=-1",
    ];
    let whole = dir.path().join("whole");
    let o = common::vpipe().arg("run").arg(&yaml).arg("--work-dir").arg(&whole).args(opts).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The state a run stopped after global iteration 3 (epoch 2, iteration 1 of 2) left behind.
    let resumed = dir.path().join("resumed");
    std::fs::create_dir(&resumed).unwrap();
    for f in ["iter_3.safetensors", "iter_3.optim.safetensors", "iter_3.json", "log.jsonl", "pipeline.yaml"] {
        std::fs::copy(whole.join(f), resumed.join(f)).unwrap();
    }
    let o = common::vpipe().arg("run").arg(&yaml).arg("--work-dir").arg(&resumed).args(opts).arg("--resume").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("resumed from") && err.contains("Epoch [2][2/2]") && !err.contains("Epoch [2][1/2]"),
        "{err}"
    );
    let (a, b) = (std::fs::read(whole.join("iter_6.safetensors")).unwrap(), std::fs::read(resumed.join("iter_6.safetensors")).unwrap());
    assert!(a == b, "a two-domain run resumed mid-epoch ended with other weights");
    // Every step logged once, with the same domain losses.
    let steps = |w: &Path| -> Vec<(u64, u64, String)> {
        records(w)
            .iter()
            .filter(|r| r["mode"] == "train")
            .map(|r| (r["epoch"].as_u64().unwrap(), r["iter"].as_u64().unwrap(), r["loss_dom"].to_string()))
            .collect()
    };
    assert_eq!(steps(&whole), steps(&resumed));
}

#[test]
fn inspect_prints_each_clips_randaugment_draw_for_both_domains() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = cdar_mini(&data, dir.path());
    let show = |extra: &[&str]| {
        let o = common::vpipe().arg("inspect").arg(&yaml).args(["--limit", "2"]).args(extra).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let (source, target) = (show(&[]), show(&["--target"]));
    // Source: 0.x spelling, 2 ops; target: 1.x spelling, 4 ops; each line names ops and magnitudes.
    let draws = |text: &str| -> Vec<String> { text.lines().filter(|l| l.contains("RandAugment: ")).map(str::to_string).collect() };
    assert_eq!(draws(&source).len(), 2, "{source}");
    assert_eq!(draws(&target).len(), 2, "{target}");
    assert!(draws(&source).iter().all(|l| l.matches(", ").count() == 1), "{source}");
    assert!(draws(&target).iter().all(|l| l.matches(", ").count() == 3), "{target}");
    assert!(draws(&target).iter().any(|l| l.contains(" m=")), "{target}");
    assert!(source.contains("NCTHW [1, 3, 8, 64, 64]") && target.contains("TCNHW [1, 3, 8, 64, 64]"), "{source}\n{target}");
    assert!(target.contains("RandomRescale: short_edge") && target.contains("cartwheel/"), "{target}");
    // Another epoch draws otherwise.
    assert_ne!(draws(&target), draws(&show(&["--target", "--epoch", "1"])));
}
