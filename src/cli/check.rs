//! `vpipe check PIPELINE.yaml`: parse and validate a pipeline file without running it.

use std::path::PathBuf;

use anyhow::{bail, Result};

use vpipe::config::{pipeline_schema, PipelineConfig};
use vpipe::graph::pipeline::probe_split;
use vpipe::transform::BuildCtx;

/// Flags of `vpipe check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pipeline YAML (see pipelines/ and schemas/pipeline.schema.json).
    pipeline: Option<PathBuf>,
    #[command(flatten)]
    cfg: super::CfgOptions,
    /// Skip checking that annotation files and roots exist (validate the file alone).
    #[arg(long)]
    syntax_only: bool,
    /// Skip probing the first sample of each split through its whole pipeline to the model's
    /// input shape (done by default: it finds what every sample would hit).
    #[arg(long)]
    no_probe: bool,
    /// Print the JSON Schema of pipeline files and exit.
    #[arg(long)]
    print_schema: bool,
}

/// [`probe_split`] for every split of `cfg`, with its model when it has one.
///
/// # Errors
/// As [`probe_split`].
pub(super) fn probe(cfg: &PipelineConfig) -> Result<Vec<String>> {
    let model = cfg.model.as_ref().map(|m| m.spec(cfg.seed)).transpose()?;
    let mut lines: Vec<String> = cfg.data.keys().map(|name| probe_split(cfg, *name, model.as_ref())).collect::<Result<_>>()?;
    lines.extend(vpipe::graph::pipeline::probe_target(cfg, model.as_ref())?);
    Ok(lines)
}

/// Runs the command: prints one line per split, or the first error with file, line and key.
pub fn run(a: Args) -> Result<()> {
    if a.print_schema {
        print!("{}", pipeline_schema());
        return Ok(());
    }
    let Some(path) = a.pipeline else { bail!("give a PIPELINE.yaml (or --print-schema)") };
    let cfg = PipelineConfig::load_with(&path, &a.cfg.cfg_options)?;
    let file = path.display().to_string();
    // Problems in a pipeline step already start with `file:line`.
    let locate = |e: anyhow::Error| if format!("{e:#}").starts_with(&file) { e } else { e.context(format!("in pipeline file {file}")) };
    // --syntax-only builds without listing backgrounds.
    let ctx = if a.syntax_only { BuildCtx::default() } else { vpipe::graph::backgrounds::build_ctx() };
    let lines = cfg.check(!a.syntax_only, &ctx).map_err(locate)?;
    for l in lines {
        println!("{l}");
    }
    if !a.syntax_only && !a.no_probe {
        for l in probe(&cfg).map_err(locate)? {
            println!("{l}");
        }
    }
    println!("{}: OK", path.display());
    Ok(())
}
