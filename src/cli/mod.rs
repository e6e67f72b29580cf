//! Subcommands.

mod featurize;

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
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Featurize(a) => featurize::run(a),
    }
}
