//! `vpipe convert-config CONFIG.py`: an mmaction2 1.x config, with its `_base_` chain, as a
//! vpipe pipeline YAML → [`vpipe::config::mmaction2::translate`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use vpipe::config::{compose, mmaction2, PipelineConfig};
use vpipe::transform::BuildCtx;

/// Flags of `vpipe convert-config`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The mmaction2 1.x config: a `.py` file (executed by Python — `$VPIPE_PYTHON`, else
    /// `python3` — as mmengine's `Config.fromfile` does, `_base_` files merged) or a YAML file
    /// in the same layout.
    config: PathBuf,
    /// The vpipe YAML to write [default: the config's name with `.yaml`, in the current folder].
    #[arg(short, long)]
    out: Option<PathBuf>,
}

/// Runs the command: writes the YAML (atomically), prints each key it could not map, then
/// checks the result as `vpipe check --syntax-only` does.
///
/// # Errors
/// The config cannot be read or executed, is not in mmaction2 1.x's layout, or the written
/// file fails the check (the file is kept for editing).
pub fn run(a: Args) -> Result<()> {
    let tree = compose::merged_tree(&a.config)?;
    if !mmaction2::is_mmaction2(&tree) {
        bail!("{}: not an mmaction2 1.x config (none of {:?})", a.config.display(), mmaction2::MARKERS);
    }
    let (vpipe, left) = mmaction2::translate(tree);
    let mut text = format!("# From {} by `vpipe convert-config` (vpipe {}).\n", a.config.display(), vpipe::VERSION);
    if !left.is_empty() {
        text += "# Keys with no vpipe meaning, left out:\n";
        text += &left.iter().map(|k| format!("#   {k}\n")).collect::<String>();
    }
    text += &compose::to_yaml(&vpipe)?;
    let stem = a.config.file_stem().context("the config has no file name")?;
    let out = a.out.unwrap_or_else(|| PathBuf::from(stem).with_extension("yaml"));
    vpipe::sink::atomic::write_with(&out, |t| std::fs::write(t, &text).context("writing the YAML"))?;
    for k in &left {
        println!("not mapped: {k}");
    }
    println!("{}: written ({} keys not mapped)", out.display(), left.len());
    let cfg = PipelineConfig::parse(&text).with_context(|| format!("in the converted file {}", out.display()))?;
    cfg.check(false, &BuildCtx::default()).with_context(|| format!("checking the converted file {}", out.display()))?;
    println!("{}: vpipe check --syntax-only: OK", out.display());
    Ok(())
}
