//! `vpipe featurize`: flags (and `--config` YAML) → [`vpipe::graph::featurize::FeaturizeJob`].

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;

use vpipe::graph::pipeline::DataPipeline;

use vpipe::config::{default_test_pipeline, split_pipeline, FeaturizeConfig, SourceConfig};
use vpipe::decode::{FilenameTemplate, Modality};
use vpipe::graph::featurize::{self, FeaturizeJob};
use vpipe::model::{ModelConfig, ModelSpec, ModelType};
use vpipe::source::Shard;

/// Output format (only Parquet today).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum To {
    Parquet,
}

/// Flags of `vpipe featurize`. A flag given on the command line overrides the same setting in
/// `--config`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pipeline YAML with source, pipeline, model and output settings (see pipelines/featurize_tsm.yaml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// mmaction2 list: videos, one `path label` (or `path l1 l2 …`) per line, or with --rawframes
    /// `frame_dir total_frames label`; paths relative to --root.
    #[arg(long)]
    ann: Option<PathBuf>,
    /// --ann is a rawframe list (mmaction2 RawframeDataset) of JPEG folders under --root.
    #[arg(long)]
    rawframes: bool,
    /// Rawframe lists have an offset column: `frame_dir offset total_frames label`.
    #[arg(long, requires = "rawframes")]
    with_offset: bool,
    /// Rawframe file names, Python format syntax [default: img_{:05}.jpg; flow {}_{:05d}.jpg].
    #[arg(long, requires = "rawframes")]
    filename_tmpl: Option<String>,
    /// Number of the first rawframe file: 1 (OpenCV, vpipe extract-frames) or 0 (denseflow) [default: 1].
    #[arg(long, requires = "rawframes")]
    start_index: Option<usize>,
    /// Rawframe modality: RGB, or Flow (x/y grayscale pairs; needs a TorchScript model).
    #[arg(long, requires = "rawframes", value_parser = super::choice::<Modality>(Modality::NAMES), default_value = "rgb")]
    modality: Modality,
    /// Folder the list's paths are relative to; without --ann, a folder-per-class dataset
    /// (`ROOT/<class>/<video>`, labels = sorted class index).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Model: tsm-r50, tsn-r50, tsm-r18, tsn-r18, or a TorchScript .pt file [default: tsm-r50].
    #[arg(long)]
    model: Option<String>,
    /// `.safetensors` weights with mmaction2 state_dict names (default: random init from --seed).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Classes of the classification head [default: 400].
    #[arg(long)]
    num_classes: Option<i64>,
    /// Frames per view of the 2D model (TSM/TSN num_segments) [default: 8].
    #[arg(long)]
    num_segments: Option<i64>,
    /// Views per video: samples clips × num_segments frames with mmaction2's test-mode
    /// SampleFrames; view k covers the k-th part of the video. Overrides the YAML's num_clips.
    #[arg(long)]
    clips: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    to: To,
    /// Parquet file to write (atomically: temporary name, renamed when complete).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Decode/transform worker threads [default: number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Samples per model forward pass [default: 4].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Bound on samples in flight between the source and the model, and channel capacity [default: 2 × workers].
    #[arg(long)]
    capacity: Option<usize>,
    /// Stop at the first failed video and exit non-zero (default: record the failure, go on).
    #[arg(long)]
    fail_fast: bool,
    /// Stop once more than N videos failed, exit non-zero, write nothing (a broken mount or
    /// codec, not one bad file) [default: never].
    #[arg(long, conflicts_with = "fail_fast")]
    max_failures: Option<usize>,
    /// Device: auto (CUDA when libtorch sees one), cpu, cuda.
    #[arg(long)]
    device: Option<String>,
    /// Seed for random model init and any random sampling.
    #[arg(long)]
    seed: Option<u64>,
    /// Process shard I of N (`I/N`, 0-based; round-robin over the list). Defaults to
    /// the Slurm array task's position (SLURM_ARRAY_TASK_ID, _MIN, _STEP, _COUNT) in an array job.
    #[arg(long)]
    shard: Option<String>,
}

/// Runs the command: builds the job, runs it, prints the summary to stderr.
pub fn run(a: Args) -> Result<()> {
    let cfg = match &a.config {
        Some(p) => FeaturizeConfig::load(p)?,
        None => FeaturizeConfig::default(),
    };
    let source = match (&a.ann, &a.root, &cfg.source) {
        (Some(ann), Some(root), _) if a.rawframes => SourceConfig::RawframeList {
            ann_file: ann.clone(),
            root: root.clone(),
            with_offset: a.with_offset,
            filename_tmpl: a.filename_tmpl.as_deref().map(FilenameTemplate::parse).transpose()?,
            start_index: a.start_index,
            modality: a.modality,
        },
        (Some(ann), Some(root), _) => SourceConfig::VideoList { ann_file: ann.clone(), root: root.clone() },
        (Some(_), None, _) => bail!("--ann needs --root (the folder its paths are relative to)"),
        (None, Some(root), _) => SourceConfig::VideoFolder { root: root.clone() },
        (None, None, Some(s)) => s.clone(),
        (None, None, None) => bail!("no input: give --ann LIST --root DIR, --root DATASET_DIR, or a --config with a source"),
    };
    let samples = source.samples()?;
    let rawframes = source.rawframe_spec()?;
    let mut out = a.out.clone().or(cfg.out.clone()).context("--out FILE is required (or `out:` in the config)")?;
    let samples = match Shard::resolve(a.shard.as_deref())? {
        Some(shard) => {
            let (i, n) = (shard.index, shard.count);
            // One file per shard, named like Spark/Hive parts, beside the requested name.
            let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            out.set_file_name(format!("{stem}-part-{i:05}-of-{n:05}.parquet"));
            shard.select(samples)
        }
        None => samples,
    };
    if out.exists() {
        eprintln!("{} already exists and is complete; skipping (delete it to recompute)", out.display());
        return Ok(());
    }

    // The file's model section (else tsm-r50 with 400 classes), the flags over it.
    let mut m = cfg.model.clone().unwrap_or_else(|| ModelConfig::named("tsm-r50", 400, 8, None));
    if let Some(name) = &a.model {
        (m.kind, m.depth) = (ModelType::from_name(name), None);
    }
    m.num_classes = a.num_classes.map(|c| c as usize).or(m.num_classes).or(Some(400));
    m.num_segments = a.num_segments.map_or(m.num_segments, |s| s as usize);
    m.weights = a.weights.clone().or(m.weights);
    let num_segments = m.num_segments as i64;
    let seed = a.seed.or(cfg.seed).unwrap_or(0);
    let model = m.spec(seed).context("in `model`")?;

    let mut parts = match &cfg.pipeline {
        Some(steps) => split_pipeline(steps).context("in `pipeline`")?,
        None => default_test_pipeline(num_segments as usize * a.clips.unwrap_or(1), rawframes.modality),
    };
    if let Some(k) = a.clips {
        let vpipe::sample::Sampler::SampleFrames(sf) = &mut parts.sampler else { bail!("--clips works with SampleFrames pipelines only") };
        sf.num_clips = k * if sf.clip_len == 1 { num_segments as usize } else { 1 };
    }
    if matches!(model, ModelSpec::BuiltIn { .. }) && parts.format != vpipe::transform::InputFormat::NCHW {
        bail!("built-in TSM/TSN models take RGB NCHW input; FormatShape {:?} needs a TorchScript model", parts.format);
    }
    let workers = a.workers.or(cfg.workers).unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let pipeline_desc = format!("{:?}", parts);
    let job = FeaturizeJob {
        samples,
        pipeline: DataPipeline::build(parts, seed, 0, rawframes).context("in `pipeline`")?,
        model: model.clone(),
        batch_size: a.batch_size.or(cfg.batch_size).unwrap_or(4),
        workers,
        capacity: a.capacity.or(cfg.capacity).unwrap_or(2 * workers),
        fail_fast: a.fail_fast,
        max_failures: a.max_failures,
        out: out.clone(),
        device: a.device.clone().or(cfg.device.clone()).unwrap_or_else(|| "auto".into()),
        metadata: vec![
            ("vpipe.version".into(), vpipe::VERSION.into()),
            ("vpipe.model".into(), model.describe()),
            ("vpipe.pipeline".into(), pipeline_desc),
            ("vpipe.source".into(), format!("{source:?}")),
        ],
        progress: std::io::stderr().is_terminal(),
    };
    let summary = featurize::run(job)?;
    eprint!("{summary}");
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    summary.write_json(&out.with_file_name(format!("{stem}.summary.json")))?;
    if summary.outputs > 0 {
        println!("wrote {} ({} rows)", out.display(), summary.outputs);
    } else {
        println!("no rows: nothing written to {}", out.display());
    }
    Ok(())
}
