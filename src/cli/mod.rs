//! Subcommands, one file each, plus the flag helpers they share.

mod bench;
mod build_file_list;
mod check;
mod convert_config;
mod eval;
mod eval_clustering;
mod extract_frames;
mod featurize;
mod inspect;
mod median;
mod plot;
mod predict;
mod probe;
mod resize_videos;
mod run;
mod shards;
mod video_tree;

use anyhow::Result;

/// `--cfg-options KEY=VALUE …`, on every command that reads a pipeline file.
#[derive(clap::Args, Debug, Default)]
pub struct CfgOptions {
    /// Override keys of the pipeline file (after its `_base_` files are merged), as mmaction2's
    /// `--cfg-options`: dotted keys, numbers index lists, YAML values
    /// (`train.epochs=10 data.train.batch_size=4 data.train.pipeline.0.clip_len=16`).
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub cfg_options: Vec<String>,
}

use clap::{Parser, Subcommand};

/// vpipe — streaming video data engine for action recognition (mmaction2-compatible).
#[derive(Parser, Debug)]
#[command(name = "vpipe", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a model over every clip of a video dataset and write logits and pooled features to
    /// Parquet (mmaction2 `tools/test.py --out` with `feature_extraction=True`).
    Featurize(featurize::Args),
    /// State of a featurize output folder's shards (complete, partial, missing; rows, failures),
    /// what to resubmit, and `--merge` into one file.
    Shards(shards::Args),
    /// One video's top-k labels and scores, as mmaction2's demo/demo.py prints them.
    Predict(predict::Args),
    /// top1_acc, top5_acc, mean_class_accuracy and the confusion matrix of a predictions
    /// Parquet (featurize output or best_pred.parquet), clips averaged per video; `--plot DIR`
    /// draws the matrix and per-class accuracy as PNG.
    Eval(eval::Args),
    /// Loss, accuracy and learning-rate curves of a `vpipe run` work dir's log.jsonl as PNG
    /// (mmaction2 analyze_logs.py plot_curve).
    Plot(plot::Args),
    /// Decode every video under SRC into JPEG rawframe folders OUT/<class>/<video>/img_00001.jpg …
    /// (mmaction2 `tools/data/build_rawframes.py --task rgb --use-opencv`); resumable, parallel.
    ExtractFrames(extract_frames::Args),
    /// Re-encode every video under SRC with libx264 at a smaller size and, with `--dense`, a
    /// keyframe every 16 frames, keeping every frame and its time (mmaction2
    /// `tools/data/resize_videos.py`); resumable, parallel, sharded.
    ResizeVideos(resize_videos::Args),
    /// Write mmaction2 train/val list files from UCF101 / HMDB51 splits or a folder-per-class tree
    /// (mmaction2 `tools/data/build_file_list.py`).
    BuildFileList(build_file_list::Args),
    /// Write an mmaction2 1.x config (Python, with its `_base_` chain) as a vpipe pipeline
    /// YAML, reporting each key it could not map.
    ConvertConfig(convert_config::Args),
    /// Validate a pipeline YAML without running it (keys, types, step order, paths).
    Check(check::Args),
    /// Show what the data pipeline does to the first samples of a split (indices, crops, flips,
    /// shapes, statistics) and optionally dump the transformed frames as PNG.
    Inspect(inspect::Args),
    /// Train with periodic validation, checkpoints and resume, then test (mmaction2 train.py +
    /// test.py) from a pipeline YAML.
    Run(run::Args),
    /// Temporal-median background image per video, from rawframe folders or videos (CDAR
    /// extract_median_by_rawframes.py / _by_videos.py); parallel, resumable.
    Median(median::Args),
    /// Run one split's loader (and the model) for real and report clips/s, frames decoded per
    /// frame kept, per-stage busy/starved/blocked time, peak RSS and the bottleneck stage.
    Bench(bench::Args),
    /// Report what the decoder sees in video files: frames (and how they were counted), fps,
    /// duration, size before/after rotation, codec, pixel format, colour matrix/range, GOPs.
    Probe(probe::Args),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Featurize(a) => featurize::run(a),
        Command::Shards(a) => shards::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Plot(a) => plot::run(a),
        Command::ExtractFrames(a) => extract_frames::run(a),
        Command::ResizeVideos(a) => resize_videos::run(a),
        Command::BuildFileList(a) => build_file_list::run(a),
        Command::Check(a) => check::run(a),
        Command::ConvertConfig(a) => convert_config::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Run(a) => run::run(a),
        Command::Median(a) => median::run(a),
        Command::Probe(a) => probe::run(a),
        Command::Bench(a) => bench::run(a),
    }
}

/// `path` with `.suffix` appended to its name (`out/frames` → `out/frames.summary.json`): where
/// a job's [`vpipe::graph::Summary`] goes, beside its output.
fn sibling(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!("{name}.{suffix}"))
}

/// Class names from a label file, index = line: mmaction2's `label_map.txt` (one name per line)
/// or UCF101's `classInd.txt` (`1 ApplyEyeMakeup` …, 1-based indices in order, which are dropped).
///
/// # Errors
/// The file cannot be read (message names it).
fn read_label_names(path: &std::path::Path) -> Result<Vec<String>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let numbered = |(i, l): (usize, &&str)| l.split_once(' ').is_some_and(|(n, _)| n.parse::<usize>() == Ok(i + 1));
    if !lines.is_empty() && lines.iter().enumerate().all(numbered) {
        return Ok(lines.iter().map(|l| l.split_once(' ').map_or("", |(_, name)| name).trim().to_string()).collect());
    }
    Ok(lines.into_iter().map(str::to_string).collect())
}

/// Worker threads when not given: the number of cores.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).min(*vpipe::config::limits::WORKERS.end())
}

/// A clap value parser for a library enum, which knows nothing of clap (only `cli/` does): its
/// `names` are listed in `--help` and checked, the value is parsed by the type's `FromStr`.
fn choice<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names).try_map(|s: String| s.parse::<T>().map_err(|e| e.to_string()))
}
