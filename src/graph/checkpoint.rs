//! Training checkpoints in a work dir: what one records, where a resumed run starts, which to
//! keep, and what a new run may do with a work dir that already holds one (mmengine's
//! `CheckpointHook` and `--resume` of mmaction2 1.x `tools/train.py`).
//!
//! A checkpoint `STEM` is `STEM.safetensors` (or `STEM.pt` for TorchScript models: the weights),
//! `STEM.optim.safetensors` (optimizer and loss-scaler state) and `STEM.json` ([`Meta`]: the
//! position, best score, and the training log's length), written in that order, each
//! atomically: the `.json` marks a complete checkpoint. Stems are `epoch_N` (after epoch N's
//! validation) and `iter_N` (after iteration N of the whole run: by-iteration checkpoints and
//! the one written on SIGINT/SIGTERM).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::model::optim::Optim;
use crate::model::Recognizer;
use crate::sink::atomic::write_with;

/// Where a training run stands: what a checkpoint records, and where a resumed run starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    /// Epochs finished, their validation and epoch checkpoint included.
    pub epoch: usize,
    /// Iterations done in the epoch after them; all of its iterations means its training is
    /// done and its validation is not.
    #[serde(default)]
    pub iter: usize,
}

/// A checkpoint's `.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Where training stood.
    #[serde(flatten)]
    pub position: Position,
    /// Iterations per epoch of the run that wrote it (absent in checkpoints before 0.13).
    #[serde(default)]
    pub iters_per_epoch: Option<usize>,
    /// Best validation value and its epoch (1-based).
    #[serde(default)]
    pub best: Option<(f64, usize)>,
    /// The metric `best` follows: `top1_acc` or `mAP`.
    #[serde(default)]
    pub metric: String,
    /// The partial epoch's training hits and samples (its `train_epoch` accuracy).
    #[serde(default)]
    pub hits: usize,
    /// See `hits`.
    #[serde(default)]
    pub seen: usize,
    /// Bytes of the work dir's `log.jsonl` when it was written: a run resumed in the same work
    /// dir cuts the log back to them, so that no record is repeated.
    #[serde(default)]
    pub log_bytes: Option<u64>,
}

impl Meta {
    /// `iteration 5 of 10 of epoch 4` mid-epoch, `epoch 3` at the end of epoch 3.
    pub fn describe(&self) -> String {
        let Position { epoch, iter } = self.position;
        match (iter, self.iters_per_epoch) {
            (0, _) => format!("epoch {epoch}"),
            (i, Some(n)) => format!("iteration {i} of {n} of epoch {}", epoch + 1),
            (i, None) => format!("iteration {i} of epoch {}", epoch + 1),
        }
    }
}

/// Paths of checkpoint `stem` (`work_dir/epoch_3`): weights (`.{ext}`, see
/// [`Recognizer::checkpoint_ext`]), optimizer state, metadata.
pub fn paths(stem: &Path, ext: &str) -> (PathBuf, PathBuf, PathBuf) {
    let s = stem.to_string_lossy();
    (PathBuf::from(format!("{s}.{ext}")), PathBuf::from(format!("{s}.optim.safetensors")), PathBuf::from(format!("{s}.json")))
}

/// `work_dir/epoch_3` from any of the checkpoint's files (`epoch_3.safetensors`, `epoch_3.pt`,
/// `epoch_3.json`) or the stem itself.
pub fn stem_of(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    let stem = [".optim.safetensors", ".safetensors", ".pt", ".json"].iter().find_map(|x| s.strip_suffix(x)).unwrap_or(&s);
    PathBuf::from(stem)
}

/// Writes checkpoint `stem`: weights, then optimizer state (when given), then `meta`.
///
/// # Errors
/// A file cannot be written (the message names it); nothing half-written is left.
pub fn save(stem: &Path, model: &Recognizer, optim: Option<&Optim>, meta: &Meta) -> Result<()> {
    let (w, o, m) = paths(stem, model.checkpoint_ext());
    write_with(&w, |t| model.save(t))?;
    if let Some(opt) = optim {
        write_with(&o, |t| opt.save(t))?;
    }
    write_with(&m, |t| fs::write(t, serde_json::to_string_pretty(meta)?).context("writing checkpoint metadata"))
}

/// Reads checkpoint `stem`'s metadata.
///
/// # Errors
/// The `.json` is missing (the checkpoint is incomplete) or not a checkpoint's.
pub fn meta(stem: &Path) -> Result<Meta> {
    let m = paths(stem, "").2;
    crate::model::optim::require(&m, "checkpoint metadata (written last: the checkpoint may be incomplete)")?;
    let text = fs::read_to_string(&m).with_context(|| format!("reading {}", m.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a vpipe checkpoint's metadata", m.display()))
}

/// Whether `name` is a checkpoint metadata file's (`epoch_N.json`, `iter_N.json`).
fn is_meta_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".json") else { return false };
    ["epoch_", "iter_"].iter().any(|p| stem.strip_prefix(p).is_some_and(|n| n.parse::<usize>().is_ok()))
}

/// The complete checkpoints in `dir` with their metadata, oldest first.
///
/// # Errors
/// `dir` cannot be listed, or a checkpoint's metadata cannot be read.
pub fn list(dir: &Path) -> Result<Vec<(Meta, PathBuf)>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for e in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if is_meta_name(&name) {
            let stem = stem_of(&dir.join(&name));
            out.push((meta(&stem)?, stem));
        }
    }
    out.sort_by_key(|(m, _)| m.position);
    Ok(out)
}

/// Deletes all but the newest `keep` checkpoints of `dir` (−1 keeps all).
///
/// # Errors
/// `dir` cannot be listed.
pub fn prune(dir: &Path, ext: &str, keep: i64) -> Result<()> {
    let Ok(keep) = usize::try_from(keep) else { return Ok(()) };
    let all = list(dir)?;
    for (_, stem) in &all[..all.len().saturating_sub(keep)] {
        let (w, o, m) = paths(stem, ext);
        // The metadata goes first: a checkpoint half deleted is one no longer listed.
        for p in [m, w, o] {
            let _ = fs::remove_file(p);
        }
    }
    Ok(())
}

/// How `vpipe run` treats a work dir that already holds a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new run; a work dir holding checkpoints or a training log is an error saying which.
    Fresh,
    /// A new run over an old one: the work dir's checkpoints, logs and predictions are deleted.
    Force,
    /// Continue a run (mmaction2 1.x `--resume`). `None`: from the work dir's latest checkpoint,
    /// or from scratch where it has none (so that a requeued job can always pass it); a path: that
    /// checkpoint (any of its files, or its stem), or a directory's latest.
    Resume(Option<PathBuf>),
}

/// What a run leaves in its work dir besides `pipeline.yaml` (and temporary files, which every
/// start deletes): deleted by [`Start::Force`].
fn is_run_output(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    is_meta_name(&format!("{stem}.json")) || name.starts_with("best_") || ["log.jsonl", "run.log"].contains(&name)
}

/// Gets `work_dir` ready for a training run started as `start`, and returns the checkpoint to
/// resume from. `epochs` is the run's length (to tell a finished run from a partial one).
/// Temporary files a killed checkpoint write left are removed; a run resumed from a checkpoint
/// of this work dir cuts `log.jsonl` back to where the checkpoint was written.
///
/// # Errors
/// [`Start::Fresh`] in a work dir that holds a run (the message says whether it is finished or
/// partial, and how far it got); a checkpoint to resume from is missing or incomplete; the
/// work dir cannot be read or written.
pub fn prepare(work_dir: &Path, start: &Start, epochs: usize) -> Result<Option<(Meta, PathBuf)>> {
    let names: Vec<String> = fs::read_dir(work_dir)
        .with_context(|| format!("listing {}", work_dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    for n in names.iter().filter(|n| n.starts_with(".tmp-")) {
        let _ = fs::remove_file(work_dir.join(n));
    }
    let found = match start {
        Start::Fresh => {
            refuse_to_overwrite(work_dir, epochs)?;
            None
        }
        Start::Force => {
            for n in names.iter().filter(|n| is_run_output(n)) {
                fs::remove_file(work_dir.join(n)).with_context(|| format!("--force: deleting {}", work_dir.join(n).display()))?;
            }
            None
        }
        Start::Resume(None) => list(work_dir)?.pop(),
        Start::Resume(Some(p)) if p.is_dir() => {
            Some(list(p)?.pop().with_context(|| format!("--resume-from {}: the folder holds no complete checkpoint", p.display()))?)
        }
        Start::Resume(Some(p)) => Some((meta(&stem_of(p))?, stem_of(p))),
    };
    if let Some((m, stem)) = &found {
        let same_dir = stem.parent().and_then(|d| d.canonicalize().ok()) == work_dir.canonicalize().ok();
        let log = work_dir.join("log.jsonl");
        if let (true, Some(n), Ok(f)) = (same_dir, m.log_bytes, fs::OpenOptions::new().write(true).open(&log)) {
            if f.metadata()?.len() > n {
                f.set_len(n).with_context(|| format!("cutting {} back to checkpoint {}", log.display(), stem.display()))?;
            }
        }
    }
    Ok(found)
}

/// The error of a new run in a work dir that holds one.
fn refuse_to_overwrite(work_dir: &Path, epochs: usize) -> Result<()> {
    let held = match list(work_dir)?.pop() {
        Some((m, stem)) if m.position.epoch >= epochs => {
            format!("a finished run ({} of {epochs} epochs, checkpoint {})", m.position.epoch, stem.display())
        }
        Some((m, stem)) => format!("a partial run (stopped at {}, checkpoint {})", m.describe(), stem.display()),
        None if fs::metadata(work_dir.join("log.jsonl")).is_ok_and(|m| m.len() > 0) => "the log of a run that left no checkpoint".into(),
        None => return Ok(()),
    };
    bail!(
        "work dir {} already holds {held}: pass --resume to continue it, or --force to start over (deleting its checkpoints and logs)",
        work_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_checkpoint(dir: &Path, stem: &str, position: Position) {
        for ext in ["safetensors", "optim.safetensors"] {
            fs::write(dir.join(format!("{stem}.{ext}")), b"x").unwrap();
        }
        let meta = Meta { position, iters_per_epoch: Some(10), ..Meta::default() };
        fs::write(dir.join(format!("{stem}.json")), serde_json::to_string(&meta).unwrap()).unwrap();
    }

    #[test]
    fn latest_is_by_position_and_prune_keeps_the_newest() {
        let d = tempfile::tempdir().unwrap();
        touch_checkpoint(d.path(), "epoch_2", Position { epoch: 2, iter: 0 });
        touch_checkpoint(d.path(), "iter_25", Position { epoch: 2, iter: 5 });
        touch_checkpoint(d.path(), "epoch_10", Position { epoch: 10, iter: 0 });
        fs::write(d.path().join("best_top1_acc_epoch_2.json"), "{}").unwrap();
        let stems: Vec<String> =
            list(d.path()).unwrap().into_iter().map(|(_, s)| s.file_name().unwrap().to_string_lossy().into()).collect();
        assert_eq!(stems, ["epoch_2", "iter_25", "epoch_10"]);
        prune(d.path(), "safetensors", 2).unwrap();
        assert!(!d.path().join("epoch_2.json").exists() && !d.path().join("epoch_2.optim.safetensors").exists());
        assert!(d.path().join("iter_25.safetensors").exists() && d.path().join("epoch_10.json").exists());
    }

    #[test]
    fn a_new_run_refuses_a_work_dir_that_holds_one_and_says_which() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(prepare(d.path(), &Start::Fresh, 4).unwrap(), None);
        fs::write(d.path().join("log.jsonl"), "{}\n").unwrap();
        let e = prepare(d.path(), &Start::Fresh, 4).unwrap_err().to_string();
        assert!(e.contains("the log of a run that left no checkpoint") && e.contains("--resume") && e.contains("--force"), "{e}");
        touch_checkpoint(d.path(), "iter_25", Position { epoch: 2, iter: 5 });
        let e = prepare(d.path(), &Start::Fresh, 4).unwrap_err().to_string();
        assert!(e.contains("a partial run (stopped at iteration 5 of 10 of epoch 3"), "{e}");
        touch_checkpoint(d.path(), "epoch_4", Position { epoch: 4, iter: 0 });
        let e = prepare(d.path(), &Start::Fresh, 4).unwrap_err().to_string();
        assert!(e.contains("a finished run (4 of 4 epochs"), "{e}");
        // --resume finds the latest; --force deletes the run, not the pipeline copy.
        let (m, stem) = prepare(d.path(), &Start::Resume(None), 4).unwrap().unwrap();
        assert_eq!((m.position, stem), (Position { epoch: 4, iter: 0 }, d.path().join("epoch_4")));
        fs::write(d.path().join("pipeline.yaml"), "x").unwrap();
        fs::write(d.path().join(".tmp-1-epoch_5.safetensors"), "half").unwrap();
        assert_eq!(prepare(d.path(), &Start::Force, 4).unwrap(), None);
        let left: Vec<String> = fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(left, ["pipeline.yaml"]);
        assert_eq!(prepare(d.path(), &Start::Resume(None), 4).unwrap(), None, "--resume with nothing to resume starts afresh");
    }

    #[test]
    fn resuming_cuts_the_log_back_to_the_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("log.jsonl"), "{\"a\":1}\n{\"b\":2}\n").unwrap();
        let meta = Meta { position: Position { epoch: 1, iter: 0 }, log_bytes: Some(8), ..Meta::default() };
        fs::write(d.path().join("epoch_1.json"), serde_json::to_string(&meta).unwrap()).unwrap();
        prepare(d.path(), &Start::Resume(None), 4).unwrap().unwrap();
        assert_eq!(fs::read_to_string(d.path().join("log.jsonl")).unwrap(), "{\"a\":1}\n");
    }

    #[test]
    fn old_metadata_reads_as_an_epoch_end() {
        let m: Meta = serde_json::from_str(r#"{"epoch": 3, "best": [0.5, 2], "metric": "top1_acc"}"#).unwrap();
        assert_eq!((m.position, m.best), (Position { epoch: 3, iter: 0 }, Some((0.5, 2))));
    }
}
