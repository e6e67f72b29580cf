//! mmaction2 1.x configs (mmengine's runner layout) in vpipe's layout, key by key where the
//! meaning is the same: `{train,val,test}_dataloader` → `data.{train,val,test}`,
//! `VideoDataset`/`RawframeDataset` + `data_prefix` → the split's source, `PackActionInputs`
//! dropped, `model.data_preprocessor` mean/std → a `Normalize` in each split that has none,
//! `model` (`Recognizer2D/3D` + backbone + head) → vpipe's `model`, `train_cfg` +
//! `optim_wrapper` + `param_scheduler` (`LinearLR` warm-up, `CosineAnnealingLR` incl. `T_max`,
//! `MultiStepLR`) + `default_hooks.checkpoint`/`logger` + `auto_scale_lr` → `train`,
//! `load_from`, `work_dir`, `randomness.seed`.
//!
//! [`translate`] returns the keys it could not map, so that `vpipe convert-config` reports each,
//! and a YAML file written in 1.x's layout fails on them rather than dropping them silently.

use serde_json::{json, Map, Value};

/// Top-level keys only mmaction2 1.x's layout has: a tree with any of them is translated.
pub const MARKERS: &[&str] = &["train_dataloader", "val_dataloader", "test_dataloader", "optim_wrapper", "param_scheduler", "train_cfg"];

/// Keys of the runner's own machinery that have no meaning for vpipe (logging backends,
/// distributed set-up, evaluator and loop types vpipe has one of), and Python variables that
/// mmaction2's configs inline into the dataloaders.
const RUNTIME_ONLY: &[&str] = &[
    "default_scope",
    "env_cfg",
    "log_processor",
    "vis_backends",
    "visualizer",
    "log_level",
    "resume",
    "launcher",
    "file_client_args",
    "dataset_type",
    "data_root",
    "data_root_val",
    "ann_file_train",
    "ann_file_val",
    "ann_file_test",
    "train_pipeline",
    "val_pipeline",
    "test_pipeline",
    "val_evaluator",
    "test_evaluator",
    "val_cfg",
    "test_cfg",
    "split",
    "num_classes",
    "preprocess_cfg",
    "clip_len",
    "frame_interval",
    "num_clips",
    "url",
    "img_norm_cfg",
    "backend_args",
];

/// Whether `tree` is in mmaction2 1.x's layout.
pub fn is_mmaction2(tree: &Value) -> bool {
    tree.as_object().is_some_and(|m| MARKERS.iter().any(|k| m.contains_key(*k)))
}

/// Moves keys out of a mapping, recording the ones nothing took.
struct Take<'a> {
    map: Map<String, Value>,
    at: String,
    left: &'a mut Vec<String>,
}

impl<'a> Take<'a> {
    fn new(v: Value, at: &str, left: &'a mut Vec<String>) -> Self {
        let map = match v {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                left.push(format!("{at} (not a mapping: {other})"));
                Map::new()
            }
        };
        Take { map, at: at.to_string(), left }
    }
    fn get(&mut self, k: &str) -> Option<Value> {
        self.map.remove(k).filter(|v| !v.is_null())
    }
    fn sub(&mut self, k: &str) -> Take<'_> {
        let v = self.map.remove(k).unwrap_or(Value::Null);
        let at = if self.at.is_empty() { k.to_string() } else { format!("{}.{k}", self.at) };
        Take::new(v, &at, self.left)
    }
    /// Forgets keys that carry no meaning for vpipe.
    fn ignore(&mut self, keys: &[&str]) {
        for k in keys {
            self.map.remove(*k);
        }
    }
}

impl Drop for Take<'_> {
    fn drop(&mut self) {
        for k in self.map.keys() {
            self.left.push(if self.at.is_empty() { k.clone() } else { format!("{}.{k}", self.at) });
        }
    }
}

/// `tree` (an mmaction2 1.x config, `_base_` merged) in vpipe's layout, and the dotted keys it
/// could not map.
pub fn translate(tree: Value) -> (Value, Vec<String>) {
    let (mut left, mut inner) = (Vec::new(), Vec::new());
    let mut out = Map::new();
    {
        let mut t = Take::new(tree, "", &mut left);
        t.ignore(RUNTIME_ONLY);
        let (model, normalize) = translate_model(t.get("model").unwrap_or(Value::Null), &mut inner);
        let mut data = Map::new();
        for split in ["train", "val", "test"] {
            if let Some(dl) = t.get(&format!("{split}_dataloader")) {
                data.insert(split.into(), translate_loader(dl, split, normalize.as_ref(), &mut inner));
            }
        }
        out.insert("data".into(), Value::Object(data));
        if !model.is_null() {
            out.insert("model".into(), model);
        }
        let train = translate_train(&mut t);
        if !train.is_empty() {
            out.insert("train".into(), Value::Object(train));
        }
        for k in ["load_from", "work_dir"] {
            if let Some(v) = t.get(k) {
                out.insert(k.into(), v);
            }
        }
        let mut r = t.sub("randomness");
        if let Some(s) = r.get("seed") {
            out.insert("seed".into(), s);
        }
        r.ignore(&["deterministic", "diff_rank_seed"]);
    }
    left.extend(inner);
    left.sort();
    (Value::Object(out), left)
}

/// (vpipe's model section, the data_preprocessor's Normalize step).
fn translate_model(model: Value, left: &mut Vec<String>) -> (Value, Option<Value>) {
    if model.is_null() {
        return (Value::Null, None);
    }
    let mut m = Take::new(model, "model", left);
    let recognizer = m.get("type").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let mut out = Map::new();
    let mut normalize = None;
    {
        let mut b = m.sub("backbone");
        let backbone = b.get("type").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let kind = match (recognizer.as_str(), backbone.as_str()) {
            (_, "ResNetTSM") => "TSM",
            ("Recognizer2D", "ResNet") => "TSN",
            (_, "ResNet3dSlowFast") => "SlowFast",
            (_, "ResNet3d") => "I3D",
            (_, "ResNet2Plus1d") => "R2Plus1D",
            _ => {
                b.left.push(format!("model.backbone.type ({recognizer} with {backbone}: no vpipe model)"));
                ""
            }
        };
        if !kind.is_empty() {
            out.insert("type".into(), json!(kind));
        }
        for k in ["depth", "num_segments", "shift_div", "norm_eval", "frozen_stages", "resample_rate", "speed_ratio", "channel_ratio"] {
            if let Some(v) = b.get(k) {
                out.insert(k.into(), v);
            }
        }
        for k in ["conv1_kernel", "conv1_stride_t", "pool1_stride_t"] {
            if let Some(v) = b.get(k).filter(|_| kind == "I3D") {
                out.insert(k.into(), v);
            }
        }
        // Everything else of the pathways and the I3D/TSM layout is what vpipe builds for them.
        b.ignore(&[
            "pretrained",
            "pretrained2d",
            "slow_pathway",
            "fast_pathway",
            "inflate",
            "is_shift",
            "shift_place",
            "temporal_pool",
            "zero_init_residual",
            "out_indices",
            "with_pool2",
            "norm_cfg",
            "conv_cfg",
            "act_cfg",
            "spatial_strides",
            "temporal_strides",
            "dilations",
            "style",
            "inflate_style",
            "conv1_kernel",
            "conv1_stride_t",
            "pool1_stride_t",
            "lateral",
            "base_channels",
            "non_local",
            "non_local_cfg",
            "partial_bn",
            "torchvision_pretrain",
        ]);
    }
    {
        let mut h = m.sub("cls_head");
        for (from, to) in
            [("num_classes", "num_classes"), ("dropout_ratio", "dropout"), ("init_std", "init_std"), ("average_clips", "average_clips")]
        {
            if let Some(v) = h.get(from) {
                out.insert(to.into(), v);
            }
        }
        if let Some(n) = h.get("num_segments") {
            out.entry("num_segments").or_insert(n);
        }
        h.ignore(&[
            "type",
            "in_channels",
            "spatial_type",
            "consensus",
            "is_shift",
            "temporal_pool",
            "loss_cls",
            "multi_class",
            "label_smooth_eps",
            "topk",
        ]);
    }
    {
        let mut p = m.sub("data_preprocessor");
        if let (Some(mean), Some(std)) = (p.get("mean"), p.get("std")) {
            normalize = Some(json!({"type": "Normalize", "mean": mean, "std": std, "to_bgr": false}));
        }
        p.ignore(&["type", "format_shape", "to_rgb", "blending"]);
    }
    {
        let mut tc = m.sub("test_cfg");
        if let Some(v) = tc.get("average_clips") {
            out.insert("average_clips".into(), v);
        }
        tc.ignore(&["max_testing_views", "feature_extraction", "fcn_test"]);
    }
    m.ignore(&["train_cfg"]);
    (Value::Object(out), normalize)
}

/// A split's dataloader: batch size, workers, source and pipeline (with `normalize` added before
/// `FormatShape` where it has no Normalize; `PackActionInputs` dropped).
fn translate_loader(dl: Value, split: &str, normalize: Option<&Value>, left: &mut Vec<String>) -> Value {
    let mut d = Take::new(dl, &format!("{split}_dataloader"), left);
    let mut out = Map::new();
    if let Some(b) = d.get("batch_size") {
        out.insert("batch_size".into(), b);
    }
    if let Some(w) = d.get("num_workers") {
        out.insert("workers".into(), w);
    }
    d.ignore(&["persistent_workers", "sampler", "pin_memory", "drop_last", "collate_fn"]);
    let mut ds = d.sub("dataset");
    let mut source = Map::new();
    let ty = ds.get("type").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let (vpipe, prefix_key) = match ty.as_str() {
        "VideoDataset" => ("VideoList", "video"),
        "RawframeDataset" => ("RawframeList", "img"),
        other => {
            ds.left.push(format!("{split}_dataloader.dataset.type ({other}: not a video or rawframe list)"));
            ("", "")
        }
    };
    if !vpipe.is_empty() {
        source.insert("type".into(), json!(vpipe));
    }
    if let Some(a) = ds.get("ann_file") {
        source.insert("ann_file".into(), a);
    }
    match ds.get("data_prefix") {
        Some(Value::Object(mut p)) => {
            if let Some(v) = p.remove(prefix_key) {
                source.insert("root".into(), v);
            }
        }
        Some(v) => {
            source.insert("root".into(), v);
        }
        None => {
            source.insert("root".into(), json!("."));
        }
    }
    for k in ["multi_class", "num_classes", "with_offset", "filename_tmpl", "start_index", "modality"] {
        if let Some(v) = ds.get(k) {
            source.insert(k.into(), v);
        }
    }
    ds.ignore(&["test_mode", "data_root"]);
    let steps: Vec<Value> = match ds.get("pipeline") {
        Some(Value::Array(a)) => a,
        _ => vec![],
    };
    let mut pipeline: Vec<Value> = steps.into_iter().filter(|s| s["type"] != "PackActionInputs").collect();
    let has_normalize = pipeline.iter().any(|s| s["type"] == "Normalize");
    if let (false, Some(n)) = (has_normalize, normalize) {
        let at = pipeline.iter().position(|s| s["type"] == "FormatShape").unwrap_or(pipeline.len());
        pipeline.insert(at, n.clone());
    }
    out.insert("source".into(), Value::Object(source));
    out.insert("pipeline".into(), Value::Array(pipeline));
    Value::Object(out)
}

/// `train`: epochs and validation interval, optimizer and clipping, schedule and warm-up,
/// checkpoint and log intervals, lr scaling.
fn translate_train(t: &mut Take) -> Map<String, Value> {
    let mut out = Map::new();
    {
        let mut c = t.sub("train_cfg");
        if let Some(e) = c.get("max_epochs") {
            out.insert("epochs".into(), e);
        }
        if let Some(v) = c.get("val_interval") {
            out.insert("val_interval".into(), v);
        }
        if c.get("val_begin").is_some_and(|v| v != json!(1)) {
            c.left.push("train_cfg.val_begin (vpipe validates from the first interval)".into());
        }
        c.ignore(&["type"]);
    }
    {
        let mut o = t.sub("optim_wrapper");
        if let Some(mut opt) = o.get("optimizer") {
            // TSM's constructor: 5× lr for the fc weight, 10× its bias (vpipe's SGD `fc_lr5`).
            // Another constructor, or paramwise_cfg without it, stays unmapped.
            match o.get("constructor") {
                Some(c) if c == "TSMOptimWrapperConstructor" => {
                    let mut p = o.sub("paramwise_cfg");
                    if p.get("fc_lr5").is_some_and(|f| f == true) {
                        opt["fc_lr5"] = json!(true);
                    }
                }
                Some(c) => o.left.push(format!("optim_wrapper.constructor ({c})")),
                None => {}
            }
            out.insert("optimizer".into(), opt);
        }
        if let Some(Value::Object(mut g)) = o.get("clip_grad") {
            if let Some(m) = g.remove("max_norm") {
                out.insert("grad_clip".into(), m);
            }
        }
        if o.get("type").is_some_and(|v| v == "AmpOptimWrapper") {
            out.insert("fp16".into(), json!({"loss_scale": "dynamic"}));
        }
    }
    if let Some(Value::Array(scheds)) = t.get("param_scheduler") {
        for (i, s) in scheds.into_iter().enumerate() {
            let mut s = Take::new(s, &format!("param_scheduler.{i}"), t.left);
            let ty = s.get("type").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let by_epoch = s.get("by_epoch").unwrap_or(json!(true));
            s.ignore(&["convert_to_iter_based"]);
            match ty.as_str() {
                "LinearLR" => {
                    let mut w = json!({"type": "LinearLR", "by_epoch": by_epoch});
                    w["start_factor"] = s.get("start_factor").unwrap_or(json!(1.0 / 3.0));
                    w["length"] = s.get("end").unwrap_or(json!(0));
                    // vpipe's warm-up starts the run.
                    if s.get("begin").is_some_and(|b| b != 0) {
                        s.left.push(format!("param_scheduler.{i}.begin (a LinearLR warm-up that does not start at 0)"));
                    }
                    out.insert("warmup".into(), w);
                }
                "CosineAnnealingLR" => {
                    let mut c = json!({"type": "CosineAnnealing", "by_epoch": by_epoch});
                    for k in ["eta_min", "T_max", "begin"] {
                        if let Some(v) = s.get(k) {
                            c[k] = v;
                        }
                    }
                    s.get("end");
                    out.insert("lr_schedule".into(), c);
                }
                "MultiStepLR" => {
                    let mut c = json!({"type": "MultiStep", "by_epoch": by_epoch});
                    for k in ["milestones", "gamma"] {
                        if let Some(v) = s.get(k) {
                            c[k] = v;
                        }
                    }
                    s.ignore(&["begin", "end"]);
                    out.insert("lr_schedule".into(), c);
                }
                other => s.left.push(format!("param_scheduler.{i}.type ({other}: vpipe has LinearLR, CosineAnnealingLR, MultiStepLR)")),
            }
        }
    }
    {
        let mut h = t.sub("default_hooks");
        {
            let mut c = h.sub("checkpoint");
            for (from, to) in
                [("interval", "checkpoint_interval"), ("max_keep_ckpts", "max_keep_ckpts"), ("by_epoch", "checkpoint_by_epoch")]
            {
                if let Some(v) = c.get(from) {
                    out.insert(to.into(), v);
                }
            }
            // 1.x names the best checkpoint's metric by its evaluator key ('auto': the first).
            if let Some(v) = c.get("save_best") {
                let name = match v.as_str() {
                    Some("acc/top1") => Some("top1_acc"),
                    Some("acc/top5") => Some("top5_acc"),
                    Some("acc/mean1") => Some("mean_class_accuracy"),
                    Some("mAP/mAP") | Some("mAP") => Some("mAP"),
                    _ => None,
                };
                if let Some(n) = name {
                    out.insert("save_best".into(), n.into());
                }
            }
            c.ignore(&["type", "rule"]);
        }
        {
            let mut l = h.sub("logger");
            if let Some(v) = l.get("interval") {
                out.insert("log_interval".into(), v);
            }
            l.ignore(&["type", "ignore_last"]);
        }
        h.ignore(&["runtime_info", "timer", "param_scheduler", "sampler_seed", "sync_buffers", "visualization"]);
    }
    if let Some(a) = t.get("auto_scale_lr") {
        out.insert("auto_scale_lr".into(), a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1x_tsm_config_maps_key_by_key_and_reports_the_rest() {
        let cfg = json!({
            "model": {"type": "Recognizer2D", "backbone": {"type": "ResNetTSM", "pretrained": "torchvision://resnet50", "depth": 50, "num_segments": 8},
                      "cls_head": {"type": "TSMHead", "num_classes": 400, "dropout_ratio": 0.5, "average_clips": "prob", "in_channels": 2048},
                      "data_preprocessor": {"type": "ActionDataPreprocessor", "mean": [1, 2, 3], "std": [4, 5, 6], "format_shape": "NCHW"}},
            "train_dataloader": {"batch_size": 8, "num_workers": 4, "dataset": {"type": "VideoDataset", "ann_file": "a.txt", "data_prefix": {"video": "v"},
                "pipeline": [{"type": "DecordInit"}, {"type": "FormatShape", "input_format": "NCHW"}, {"type": "PackActionInputs"}]}},
            "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 50, "val_begin": 1, "val_interval": 5},
            "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.01}, "clip_grad": {"max_norm": 20}, "paramwise_cfg": {"fc_lr5": true}},
            "param_scheduler": [{"type": "LinearLR", "start_factor": 0.1, "by_epoch": true, "begin": 0, "end": 5},
                                {"type": "CosineAnnealingLR", "T_max": 45, "eta_min": 0, "by_epoch": true, "begin": 5, "end": 50}],
            "default_hooks": {"checkpoint": {"type": "CheckpointHook", "interval": 3, "max_keep_ckpts": 3}, "logger": {"interval": 100}},
            "env_cfg": {"cudnn_benchmark": false},
            "load_from": "k400.safetensors",
        });
        let (v, left) = translate(cfg.clone());
        assert_eq!(left, ["optim_wrapper.paramwise_cfg"], "paramwise_cfg means nothing without TSM's constructor");
        let mut tsm = cfg;
        tsm["optim_wrapper"]["constructor"] = json!("TSMOptimWrapperConstructor");
        let (with_constructor, left) = translate(tsm);
        assert!(left.is_empty() && with_constructor["train"]["optimizer"]["fc_lr5"] == true, "{left:?}");
        assert_eq!(
            v["model"],
            json!({"type": "TSM", "depth": 50, "num_segments": 8, "num_classes": 400, "dropout": 0.5, "average_clips": "prob"})
        );
        assert_eq!(v["data"]["train"]["source"], json!({"type": "VideoList", "ann_file": "a.txt", "root": "v"}));
        let steps: Vec<&str> = v["data"]["train"]["pipeline"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap()).collect();
        assert_eq!(steps, ["DecordInit", "Normalize", "FormatShape"]);
        assert_eq!(v["train"]["warmup"], json!({"type": "LinearLR", "start_factor": 0.1, "length": 5, "by_epoch": true}));
        assert_eq!(v["train"]["lr_schedule"], json!({"type": "CosineAnnealing", "T_max": 45, "eta_min": 0, "begin": 5, "by_epoch": true}));
        assert_eq!(
            (&v["train"]["checkpoint_interval"], &v["train"]["log_interval"], &v["load_from"]),
            (&json!(3), &json!(100), &json!("k400.safetensors"))
        );
    }
}
