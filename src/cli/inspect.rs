//! `vpipe inspect PIPELINE.yaml`: what the data pipeline does to the first samples of a split —
//! sampled frame indices, crop/flip/jitter decisions, an AVA keyframe's boxes after them, output
//! shape, mean and std — and, with
//! `--dump DIR`, the transformed frames as PNG (what the model sees, before Normalize).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use vpipe::config::{PipelineConfig, SplitName};
use vpipe::graph::pipeline::DataPipeline;
use vpipe::graph::{Graph, Settings, StageMetrics};
use vpipe::source::Sample;
use vpipe::transform::{format, Clip};

/// Flags of `vpipe inspect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline YAML.
    pipeline: PathBuf,
    #[command(flatten)]
    cfg: super::CfgOptions,
    /// Which split's source and pipeline to run.
    #[arg(long, value_parser = super::choice::<SplitName>(SplitName::NAMES), default_value = "train")]
    split: SplitName,
    /// Show the target domain of two-domain training (`data.train.target`) with the draws its
    /// first pass of `--epoch` makes.
    #[arg(long)]
    target: bool,
    /// Samples to show (the first N of the list).
    #[arg(long, default_value_t = 3)]
    limit: usize,
    /// Epoch of the random stream (train-mode draws differ per epoch).
    #[arg(long, default_value_t = 0)]
    epoch: u64,
    /// Write each sample's transformed frames as PNG under DIR/<index>_<name>/.
    #[arg(long)]
    dump: Option<PathBuf>,
}

/// Runs the command.
pub fn run(a: Args) -> Result<()> {
    let cfg = PipelineConfig::load_with(&a.pipeline, &a.cfg.cfg_options)?;
    let (split, pipeline) = if a.target {
        let split = cfg.split(SplitName::Train)?.target.as_deref().context("--target: the pipeline has no `data.train.target`")?;
        let parts = cfg.target_parts()?.context("no target pipeline")?;
        let (seed, key) = vpipe::graph::domains::target_stream(cfg.seed, a.epoch, 0);
        (split, DataPipeline::build(parts, seed, key, split.source.rawframe_spec()?).map_err(|e| cfg.locate_key("train.target", e))?)
    } else {
        let split = cfg.split(a.split)?;
        let parts = cfg.parts(a.split)?;
        (split, DataPipeline::build(parts, cfg.seed, a.epoch, split.source.rawframe_spec()?).map_err(|e| cfg.locate(a.split, e))?)
    };
    let samples: Vec<Sample> = split.source.samples()?.into_iter().take(a.limit).collect();
    // One graph like every job's: the samples prepared in order, shown on this thread.
    let settings = Settings { capacity: 2, ..Settings::default() };
    let mut stream = Graph::source("inspect", samples, |s| format!("[{}] {}", s.index, s.name), settings);
    let (d, t) = (stream.metrics(StageMetrics::part("decode", 1)), stream.metrics(StageMetrics::part("transform", 1)));
    let shown = pipeline.clone();
    let outputs = stream.map("prepare", 1, move |s: Sample| Ok((shown.transformed(&s, &d, &t)?, s))).into_iter("show");
    for item in outputs {
        let (clip, sample) = match item {
            Ok(v) => v,
            Err(f) => {
                println!("{}\n  FAILED: {}", f.path, f.message);
                continue;
            }
        };
        println!("[{}] {} labels {:?}", sample.index, sample.name, sample.labels);
        if let Some(l) = &clip.labels {
            println!("  labels of the sampled frames' span: {l:?}");
        }
        for t in &clip.trace {
            println!("  {t}");
        }
        if let Some(k) = &sample.keyframe {
            println!("  keyframe {} second {} centre frame {} (0-based)", k.video, k.sec, k.center);
            for (i, (b, px)) in k.boxes.iter().zip(clip.boxes.iter().flatten()).enumerate() {
                let px = px.map(|v| format!("{v:.2}")).join(", ");
                println!("  box {i}: [{px}] px (CSV {:?}) actions {:?}", b.bbox, b.labels);
            }
        }
        let tensor = format::to_tensor(&clip, &pipeline.normalize, pipeline.format)?;
        let n = tensor.data.len() as f64;
        let mean = tensor.data.iter().map(|&v| v as f64).sum::<f64>() / n;
        let std = (tensor.data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        println!(
            "  output {:?} {:?} (crops {}, clips {}, clip_len {}) mean {mean:.4} std {std:.4}",
            pipeline.format, tensor.shape, clip.num_crops, clip.num_clips, clip.clip_len
        );
        if let Some(dir) = &a.dump {
            let folder = dir.join(format!("{:05}_{}", sample.index, sample.name.replace('/', "__")));
            dump(&clip, &folder)?;
            println!("  frames → {}", folder.display());
        }
    }
    Ok(())
}

/// Writes frame i of view v as `view{v:03}_frame{t:03}.png` (grayscale for flow images).
fn dump(clip: &Clip, folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let per_view = clip.frames.len() / clip.num_views().max(1);
    for (i, f) in clip.frames.iter().enumerate() {
        let path = folder.join(format!("view{:03}_frame{:03}.png", i / per_view.max(1), i % per_view.max(1)));
        let color = if f.channels == 1 { image::ExtendedColorType::L8 } else { image::ExtendedColorType::Rgb8 };
        image::save_buffer(&path, &f.data, f.width as u32, f.height as u32, color)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
