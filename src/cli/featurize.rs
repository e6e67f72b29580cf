//! `vpipe featurize`: flags (and `--config` YAML) → [`vpipe::graph::featurize::FeaturizeJob`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;

use vpipe::graph::pipeline::DataPipeline;

use vpipe::config::{default_test_pipeline, limits, split_pipeline, FeaturizeConfig, SourceConfig, SplitName};
use vpipe::decode::{FilenameTemplate, Modality};
use vpipe::graph::featurize::{self, FeaturizeJob, Outcome};
use vpipe::model::{ModelConfig, ModelSpec, ModelType};
use vpipe::sink::shard_output::digest;
use vpipe::sink::{JobKey, ShardPaths};
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
    /// YAML: a pipeline file (`data:` splits, `model:`; see --split), or its short featurize form
    /// with source, pipeline, model and output settings (see pipelines/featurize_tsm.yaml).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    cfg: super::CfgOptions,
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
    /// Output folder: DIR/part-0000I-of-0000N.parquet, DIR/errors-0000I.parquet and the
    /// manifest DIR/part-0000I-of-0000N.json per shard. A path ending in `.parquet` is one file
    /// instead (FILE-part-0000I-of-0000N.parquet per shard), with FILE.errors.parquet and FILE.json.
    /// Rows are committed in chunks as they come: a killed run resumes where it stopped.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Recompute a shard whose output exists from other inputs or another configuration
    /// (without it, that is an error; a complete shard from the same ones is skipped).
    #[arg(long)]
    force: bool,
    /// Commit the rows every N videos (and at least every 30 s); a killed run loses at most that.
    #[arg(long, default_value_t = 64)]
    commit_every: usize,
    /// With a pipeline file (`data:` splits) as --config, the split whose source and pipeline
    /// to featurize.
    #[arg(long, value_parser = super::choice::<SplitName>(SplitName::NAMES), default_value = "test")]
    split: SplitName,
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
    /// Stop once more than N videos of the shard failed, counting those earlier runs of it
    /// committed; exit non-zero, write no part file (a broken mount or codec, not one bad file)
    /// [default: never].
    #[arg(long, conflicts_with = "fail_fast")]
    max_failures: Option<usize>,
    /// How batches reach the model: `u8` (uint8, normalised on the model's device: a quarter of
    /// the bytes to copy to a GPU), `f32` (normalised by the loader), `auto` (u8 on a GPU).
    #[arg(long, value_enum, default_value_t = Upload::Auto)]
    upload: Upload,
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

/// `--upload`: how batches reach the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Upload {
    /// uint8 on a GPU, normalised on the CPU otherwise.
    Auto,
    /// uint8, normalised on the model's device.
    U8,
    /// Normalised float32 from the loader.
    F32,
}

/// Runs the command: builds the job, runs it, prints the summary to stderr.
pub fn run(a: Args) -> Result<()> {
    let cfg = match &a.config {
        Some(p) => FeaturizeConfig::load_split(p, a.split, &a.cfg.cfg_options)?,
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
            multi_class: false,
            num_classes: None,
        },
        (Some(ann), Some(root), _) => {
            SourceConfig::VideoList { ann_file: ann.clone(), root: root.clone(), multi_class: false, num_classes: None }
        }
        (Some(_), None, _) => bail!("--ann needs --root (the folder its paths are relative to)"),
        (None, Some(root), _) => SourceConfig::VideoFolder { root: root.clone() },
        (None, None, Some(s)) => s.clone(),
        (None, None, None) => bail!("no input: give --ann LIST --root DIR, --root DATASET_DIR, or a --config with a source"),
    };
    let samples = source.samples()?;
    let rawframes = source.rawframe_spec()?;
    let out = a.out.clone().or(cfg.out.clone()).context("--out DIR is required (or `out:` in the config)")?;
    let shard = Shard::resolve(a.shard.as_deref())?;
    let samples = match shard {
        Some(shard) => shard.select(samples),
        None => samples,
    };
    let (index, count) = shard.map_or((0, 1), |s| (s.index, s.count));

    // The file's model section (else tsm-r50 with 400 classes), the flags over it.
    let mut m = cfg.model.clone().unwrap_or_else(|| ModelConfig::named("tsm-r50", 400, 8, None));
    if let Some(name) = &a.model {
        (m.kind, m.depth) = (ModelType::from_name(name), None);
    }
    // Flags pass through the model section's own range checks (ModelConfig::spec): one rule.
    let flag = |v: i64, name: &str| usize::try_from(v).map_err(|_| anyhow::anyhow!("`--{name}` must be ≥ 1, got {v}"));
    m.num_classes = a.num_classes.map(|c| flag(c, "num-classes")).transpose()?.or(m.num_classes).or(Some(400));
    m.num_segments = a.num_segments.map(|s| flag(s, "num-segments")).transpose()?.unwrap_or(m.num_segments);
    m.weights = a.weights.clone().or(m.weights);
    let num_segments = m.num_segments as i64;
    let seed = a.seed.or(cfg.seed).unwrap_or(0);
    let model = m.spec(seed).context("in `model`")?;
    if let ModelSpec::BuiltIn { num_classes, .. } = &model {
        source.check_model_labels(&samples, *num_classes as usize)?;
    }

    let mut parts = match &cfg.pipeline {
        Some(steps) => split_pipeline(steps).context("in `pipeline`")?,
        None => default_test_pipeline(num_segments as usize * a.clips.unwrap_or(1), rawframes.modality),
    };
    if let Some(k) = a.clips {
        limits::check("--clips", k, limits::CLIPS)?;
        let vpipe::sample::Sampler::SampleFrames(sf) = &mut parts.sampler else { bail!("--clips works with SampleFrames pipelines only") };
        sf.num_clips = k * if sf.clip_len == 1 { num_segments as usize } else { 1 };
        parts.sampler.validate().context("with --clips")?;
    }
    limits::check("--commit-every", a.commit_every, limits::COMMIT_EVERY)?;
    model.check_input(parts.format).context("in `model`")?;
    let (batch_size, workers, capacity) =
        limits::loader_sizes("--", a.batch_size.or(cfg.batch_size).unwrap_or(4), a.workers.or(cfg.workers), a.capacity.or(cfg.capacity))?;
    let pipeline_desc = format!("{:?}", parts);
    let key = JobKey {
        shard_index: index,
        shard_count: count,
        inputs_sha256: inputs_digest(&samples),
        config_sha256: digest([
            format!("{model:?}"),
            weights_stamp(&model),
            pipeline_desc.clone(),
            format!("{rawframes:?}"),
            seed.to_string(),
        ]),
    };
    let job = FeaturizeJob {
        samples,
        pipeline: DataPipeline::build(parts, seed, 0, rawframes).context("in `pipeline`")?,
        model: model.clone(),
        batch_size,
        workers,
        capacity,
        fail_fast: a.fail_fast,
        max_failures: a.max_failures,
        upload_u8: match a.upload {
            Upload::Auto => None,
            Upload::U8 => Some(true),
            Upload::F32 => Some(false),
        },
        paths: ShardPaths::new(&out, index, count),
        key,
        commit_every: a.commit_every,
        force: a.force,
        device: a.device.clone().or(cfg.device.clone()).unwrap_or_else(|| "auto".into()),
        metadata: vec![
            ("vpipe.version".into(), vpipe::VERSION.into()),
            ("vpipe.model".into(), model.describe()),
            ("vpipe.pipeline".into(), pipeline_desc),
            ("vpipe.source".into(), format!("{source:?}")),
        ],
        progress: true, // a bar on a terminal, else a line every VPIPE_PROGRESS_SECS
        // --clips and the default pipeline ask for a row per run of num_segments images; a
        // pipeline of the user's gets mmaction2's test-mode views (TSN: one per video).
        view_images: (a.clips.is_some() || cfg.pipeline.is_none()).then_some(num_segments as usize),
    };
    let paths = job.paths.clone();
    match featurize::run(job)? {
        Outcome::Complete(m) => {
            eprintln!(
                "{} is complete ({} rows, {} failures); skipping (--force recomputes it)",
                paths.manifest.display(),
                m.rows,
                m.failures
            );
        }
        Outcome::Finished(summary, m) => {
            eprint!("{summary}");
            if summary.skipped > 0 {
                eprintln!("resumed after {} committed videos", summary.skipped);
            }
            match m.data {
                Some(_) => println!("wrote {} ({} rows, {} failures)", paths.data.display(), m.rows, m.failures),
                None => println!("no rows: nothing written to {} ({} failures)", paths.data.display(), m.failures),
            }
        }
    }
    Ok(())
}

/// Digest of a shard's inputs: each sample's list position, path, labels, rawframe range and
/// file size (so a replaced file counts as another input).
fn inputs_digest(samples: &[vpipe::source::Sample]) -> String {
    digest(samples.iter().map(|s| {
        let size = std::fs::metadata(&s.path).map_or("missing".to_string(), |m| m.len().to_string());
        format!("{}\t{}\t{:?}\t{:?}\t{size}", s.index, s.name, s.labels, s.rawframes)
    }))
}

/// The weights file's size and modification time, so that retrained weights under the same
/// name count as another configuration.
fn weights_stamp(model: &ModelSpec) -> String {
    let path = match model {
        ModelSpec::BuiltIn { weights: Some(p), .. } | ModelSpec::TorchScript(p) => p,
        _ => return String::new(),
    };
    std::fs::metadata(path).map_or("missing".into(), |m| format!("{} {:?}", m.len(), m.modified().ok()))
}
