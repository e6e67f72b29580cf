//! `vpipe run PIPELINE.yaml`: train with periodic validation, then test (mmaction2
//! `tools/train.py` + `tools/test.py`) → [`vpipe::graph::train::RunJob`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use vpipe::config::{PipelineConfig, SplitName};
use vpipe::graph::checkpoint::Start;
use vpipe::graph::train::{self, RunJob, SplitData, TestWith};
use vpipe::model::Recognizer;

/// Flags of `vpipe run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline YAML (data.train / data.val / data.test, model, train, work_dir).
    pipeline: PathBuf,
    #[command(flatten)]
    cfg: super::CfgOptions,
    /// Work dir for logs, checkpoints and predictions [default: the file's `work_dir`].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Continue the work dir's run from its latest checkpoint (weights, optimizer, position,
    /// mid-epoch included), or start it where there is none: what a requeued job passes
    /// (mmaction2 1.x `--resume`).
    #[arg(long, conflicts_with_all = ["resume_from", "force"])]
    resume: bool,
    /// Continue from this checkpoint (`epoch_N.safetensors`, `iter_N.json`, its stem, or a work
    /// dir = its latest; `.pt` for TorchScript models).
    #[arg(long, conflicts_with = "force")]
    resume_from: Option<PathBuf>,
    /// Start over in a work dir that holds a run, deleting its checkpoints, logs and
    /// predictions (without it, that is an error).
    #[arg(long)]
    force: bool,
    /// Start from these weights only (`.safetensors`, mmaction2 names; see
    /// scripts/convert_mmaction2_checkpoint.py; a TorchScript model also takes a `.pt` module).
    #[arg(long)]
    load_from: Option<PathBuf>,
    /// After training, test the last weights on data.test (or data.val).
    #[arg(long)]
    test_last: bool,
    /// After training, test the best validation checkpoint.
    #[arg(long, conflicts_with = "test_last")]
    test_best: bool,
    /// Only test (no training), with --load-from weights.
    #[arg(long)]
    test_only: bool,
    /// Device: auto, cpu, cuda.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Loader threads per split [default: the split's `workers`, else cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Do not probe the first sample of each split through its pipeline before starting.
    #[arg(long)]
    no_probe: bool,
}

/// Runs the command.
pub fn run(a: Args) -> Result<()> {
    let cfg = PipelineConfig::load_with(&a.pipeline, &a.cfg.cfg_options)?;
    cfg.check(true, &vpipe::graph::backgrounds::build_ctx())
        .map_err(|e| e.context(format!("in pipeline file {}", a.pipeline.display())))?;
    // The first sample of each split, through to the model's input: a split that would fail
    // every sample fails here, not after the epochs before its first validation.
    if !a.no_probe {
        super::check::probe(&cfg).map_err(|e| e.context(format!("in pipeline file {}", a.pipeline.display())))?;
    }
    let model_cfg = cfg.model.as_ref().context("the pipeline has no `model` section")?;
    let split = |name: SplitName| SplitData::load(&cfg, name, a.workers);
    let training = !a.test_only;
    if training && (cfg.train.is_none() || !cfg.data.contains_key(&SplitName::Train)) {
        bail!("training needs `data.train` and a `train` section (or pass --test-only)");
    }
    let work_dir = a.work_dir.clone().or(cfg.work_dir.clone()).context("no work dir: give --work-dir or `work_dir:`")?;
    let spec = model_cfg.spec(cfg.seed)?;
    let device = vpipe::model::pick_device(&a.device)?;
    let model = if training { Recognizer::trainable(&spec, device)? } else { Recognizer::new(&spec, device)? };
    let job = RunJob {
        train: if training { split(SplitName::Train)? } else { None },
        target: if training { SplitData::load_target(&cfg, a.workers)? } else { None },
        val: split(SplitName::Val)?,
        test: split(SplitName::Test)?,
        train_cfg: if training { cfg.train.clone() } else { None },
        seed: cfg.seed,
        work_dir: work_dir.clone(),
        pipeline_text: cfg.text.clone(),
        average_clips: model_cfg.clip_averaging()?,
        loss: model_cfg.loss,
        start: match (a.resume, a.resume_from, a.force) {
            (_, Some(p), _) => Start::Resume(Some(p)),
            (true, None, _) => Start::Resume(None),
            (false, None, true) => Start::Force,
            (false, None, false) => Start::Fresh,
        },
        load_from: a.load_from.or(cfg.load_from.clone()),
        load_from_strict: cfg.load_from_strict,
        test_with: if a.test_best {
            TestWith::Best
        } else if a.test_last || a.test_only {
            TestWith::Last
        } else {
            TestWith::None
        },
    };
    let s = train::run(job, model)?;
    if let Some((v, e)) = s.best {
        eprintln!(
            "best {} {v:.4} at epoch {e}",
            train::metric_name(model_cfg.loss, cfg.train.as_ref().and_then(|t| t.save_best.as_deref()))
        );
    }
    eprintln!("work dir: {}", work_dir.display());
    Ok(())
}
