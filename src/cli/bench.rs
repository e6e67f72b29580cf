//! `vpipe bench PIPELINE.yaml`: run one split's loader (and the model) for real and report where
//! the time goes → [`vpipe::graph::bench`].

use std::path::PathBuf;

use anyhow::{Context, Result};

use vpipe::config::{PipelineConfig, SplitName};
use vpipe::graph::bench::{self, BenchModel};
use vpipe::graph::train::SplitData;
use vpipe::model::Recognizer;

/// Flags of `vpipe bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline YAML.
    pipeline: PathBuf,
    #[command(flatten)]
    cfg: super::CfgOptions,
    /// Which split's loader to run (train: shuffled, training steps; val/test: eval forwards).
    #[arg(long, value_parser = super::choice::<SplitName>(SplitName::NAMES), default_value = "train")]
    split: SplitName,
    /// Epochs to run; the report is per epoch (the second shows a warm index cache).
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Run the loader only, without the model.
    #[arg(long)]
    no_model: bool,
    /// Loader threads [default: the split's `workers`, else cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Device for the model: auto, cpu, cuda.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Load only the first N samples of the split's list (a quick look at a slow model).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Also write every batch to DIR/epoch_E/batch_KKKKK.safetensors (`inputs`, `indices`);
    /// only with --no-model.
    #[arg(long, value_name = "DIR", requires = "no_model")]
    dump: Option<PathBuf>,
    /// Print one JSON object (the last epoch's summary plus `epochs`: each epoch's clips/s).
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(a: Args) -> Result<()> {
    let cfg = PipelineConfig::load_with(&a.pipeline, &a.cfg.cfg_options)?;
    cfg.check(true, &vpipe::graph::backgrounds::build_ctx())
        .map_err(|e| e.context(format!("in pipeline file {}", a.pipeline.display())))?;
    let mut split =
        SplitData::load(&cfg, a.split, a.workers)?.with_context(|| format!("the pipeline has no `data.{:?}` split", a.split))?;
    if let Some(n) = a.limit {
        anyhow::ensure!(n >= 1, "--limit {n}: at least 1 sample");
        split.samples.truncate(n);
    }
    let training = a.split == SplitName::Train;
    let device = if a.no_model { None } else { Some(vpipe::model::pick_device(&a.device)?) };
    let model = if a.no_model {
        None
    } else {
        let m = cfg.model.as_ref().context("the pipeline has no `model` section (or pass --no-model)")?;
        let spec = m.spec(cfg.seed)?;
        let device = device.expect("picked above with the model");
        let model = if training { Recognizer::trainable(&spec, device)? } else { Recognizer::new(&spec, device)? };
        Some(BenchModel { model, train: if training { cfg.train.clone() } else { None }, loss: m.loss })
    };
    let summaries = bench::run(&split, model, a.epochs, cfg.seed, training, a.dump.as_deref())?;
    let last = summaries.last().context("no epoch ran")?;
    if a.json {
        let mut j = last.to_json();
        j["split"] = serde_json::json!(format!("{:?}", a.split).to_lowercase());
        j["model"] = serde_json::json!(!a.no_model);
        j["device"] = serde_json::json!(device.map(|d| format!("{d:?}").to_lowercase()));
        j["device_note"] =
            serde_json::json!(device.filter(|d| *d == tch::Device::Cpu).and_then(|_| vpipe::model::cuda_unavailable_reason()));
        j["epochs"] = summaries.iter().map(|s| serde_json::json!({"clips_per_s": s.rate(), "wall_s": s.wall.as_secs_f64()})).collect();
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        for (e, s) in summaries.iter().enumerate() {
            println!("epoch {}:\n{s}", e + 1);
        }
        if let Some(h) = decode_hint(last) {
            println!("{h}");
        }
    }
    Ok(())
}

/// A hint when decoding limits the loader: `prepare` is the bottleneck stage, its decode part
/// outweighs its transforms, and each kept frame costs more decoded ones than a dense cache would ([`super::probe::DENSE_HINT_ABOVE`]).
fn decode_hint(s: &vpipe::graph::Summary) -> Option<String> {
    if s.bottleneck()?.name != "prepare" {
        return None;
    }
    let part = |n: &str| s.stages.iter().find(|x| x.name == n).map(|x| x.busy_time());
    if part("decode")? < part("transform").unwrap_or_default() {
        return None;
    }
    let r = s.decoded_per_kept().filter(|&r| r > super::probe::DENSE_HINT_ABOVE)?;
    Some(format!(
        "hint: decoding is the bottleneck ({r:.1} frames decoded per frame kept): `vpipe resize-videos --dense` re-encodes the videos with a keyframe every 16 frames (docs/resize-videos.md)"
    ))
}
