//! The effective text of a pipeline file: its `_base_` files merged under it and `--cfg-options`
//! applied, as mmengine's `Config.fromfile` and `merge_from_dict` do for mmaction2 configs.
//!
//! - `_base_: a.yaml` or `_base_: [a.yaml, b.yaml]`, paths relative to the file: the bases are
//!   read (recursively), then the file's own keys are merged over them. Two bases setting the
//!   same top-level key is an error, as in mmengine.
//! - Merging: a mapping merges into a mapping key by key, unless it has `_delete_: true`, which
//!   replaces the base's mapping; anything else (lists included) replaces.
//! - `KEY=VALUE` options: `KEY` dotted (`train.epochs`), a number selects a list element
//!   (`data.train.pipeline.0.clip_len`); `VALUE` is YAML (`16`, `[1, 2]`, `{type: SGD}`, `true`).
//!   A key that does not exist is created, so that the usual unknown-key error names it.
//!
//! - A file in mmaction2 1.x's layout (`train_dataloader`, `optim_wrapper`, …) is translated
//!   ([`super::mmaction2`]); keys with no vpipe meaning are an error naming them. Bases may be
//!   mmaction2 Python configs (`.py`, executed by Python as mmengine's `Config` does).
//!
//! A file with none of these is used as written (its lines stay those of error messages).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The effective YAML text of pipeline file `path` with `options` (`KEY=VALUE`) applied, and
/// whether it differs from the file as written.
///
/// # Errors
/// A file (or base) that cannot be read or parsed (named), a cycle of bases, two bases setting
/// one key, an option that is not `KEY=VALUE`, whose value is not YAML, or that indexes past a
/// list's end or into a scalar (the message names the option).
pub fn effective_text(path: &Path, options: &[String]) -> Result<(String, bool)> {
    let text = super::read_config_text(path)?;
    let top_level = |k: &str| text.lines().any(|l| l.strip_prefix(k).is_some_and(|r| r.trim_start().starts_with(':')));
    let layout_1x = super::mmaction2::MARKERS.iter().any(|k| top_level(k));
    if options.is_empty() && !top_level("_base_") && !layout_1x {
        return Ok((text, false));
    }
    let mut tree = load_tree(path, &mut Vec::new())?;
    if super::mmaction2::is_mmaction2(&tree) {
        let (vpipe, left) = super::mmaction2::translate(tree);
        if !left.is_empty() {
            bail!(
                "{}: mmaction2 1.x keys with no vpipe meaning: {} (`vpipe convert-config` writes the rest as a vpipe file)",
                path.display(),
                left.join(", ")
            );
        }
        tree = vpipe;
    }
    for o in options {
        apply_option(&mut tree, o).with_context(|| format!("--cfg-options {o}"))?;
    }
    Ok((to_yaml(&tree)?, true))
}

/// `tree` as YAML text.
///
/// # Errors
/// The serializer fails (a value YAML cannot hold).
pub fn to_yaml(tree: &Value) -> Result<String> {
    serde_saphyr::to_string(tree).context("writing the effective configuration")
}

/// Pipeline file `path` (YAML, or an mmaction2 Python config), `_base_` files merged under it.
///
/// # Errors
/// As [`effective_text`].
pub fn merged_tree(path: &Path) -> Result<Value> {
    load_tree(path, &mut Vec::new())
}

/// The top-level names an mmaction2 Python config defines, as JSON (tuples become lists):
/// the file is executed by Python (`$VPIPE_PYTHON`, else `python3`), as mmengine's `Config`
/// does, without mmengine.
fn python_config(path: &Path) -> Result<Value> {
    const DUMP: &str = r#"
import json, sys, types
ns = {}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), ns)
keep = {k: v for k, v in ns.items() if not k.startswith("__") and not isinstance(v, types.ModuleType) and not callable(v)}
print(json.dumps(keep, default=repr))
"#;
    let python = std::env::var("VPIPE_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = std::process::Command::new(&python)
        .args(["-c", DUMP])
        .arg(path)
        .output()
        .with_context(|| format!("running {python} to read the Python config {} (set VPIPE_PYTHON)", path.display()))?;
    if !o.status.success() {
        bail!("{}: Python could not execute it: {}", path.display(), String::from_utf8_lossy(&o.stderr).trim());
    }
    serde_json::from_slice(&o.stdout).with_context(|| format!("{}: reading what Python made of it", path.display()))
}

/// The file as a tree with its bases merged under it.
fn load_tree(path: &Path, chain: &mut Vec<std::path::PathBuf>) -> Result<Value> {
    let canon = path.canonicalize().with_context(|| format!("reading {}", path.display()))?;
    if chain.contains(&canon) {
        bail!("{}: _base_ includes itself (through {:?})", path.display(), chain);
    }
    chain.push(canon);
    let mut tree: Value = if path.extension().is_some_and(|e| e == "py") {
        python_config(path)?
    } else {
        let text = super::read_config_text(path)?;
        super::parse_yaml(&text).with_context(|| format!("in pipeline file {}", path.display()))?
    };
    let Some(map) = tree.as_object_mut() else { bail!("{}: the file is not a mapping of keys", path.display()) };
    let bases = match map.remove("_base_") {
        None => vec![],
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .with_context(|| format!("{}: `_base_` must be a file name or a list of them", path.display()))?,
        Some(other) => bail!("{}: `_base_` must be a file name or a list of them, got {other}", path.display()),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut merged = serde_json::Map::new();
    let mut from: std::collections::BTreeMap<String, String> = Default::default();
    for b in &bases {
        let base_path = dir.join(b);
        let Value::Object(base) = load_tree(&base_path, chain).with_context(|| format!("in `_base_` of {}", path.display()))? else {
            unreachable!("load_tree returns a mapping")
        };
        for (k, v) in base {
            if let Some(first) = from.insert(k.clone(), b.clone()) {
                bail!("{}: `{k}` is set by two bases, {first} and {b} (mmengine does not allow it)", path.display());
            }
            merged.insert(k, v);
        }
    }
    chain.pop();
    let mut out = Value::Object(merged);
    merge(&mut out, tree);
    Ok(out)
}

/// Merges `child` over `base` with mmengine's rules (see the module documentation).
pub fn merge(base: &mut Value, child: Value) {
    match (base, child) {
        (Value::Object(b), Value::Object(mut c)) => {
            if c.remove("_delete_").is_some_and(|d| d == Value::Bool(true)) {
                *b = c;
                return;
            }
            for (k, v) in c {
                match b.get_mut(&k) {
                    Some(slot @ Value::Object(_)) if v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, strip_delete(v));
                    }
                }
            }
        }
        (b, c) => *b = strip_delete(c),
    }
}

/// `v` without `_delete_` keys (meaningless where nothing is replaced).
fn strip_delete(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("_delete_");
        for x in m.values_mut() {
            *x = strip_delete(std::mem::take(x));
        }
    }
    v
}

/// Sets `KEY=VALUE` in `tree`.
fn apply_option(tree: &mut Value, option: &str) -> Result<()> {
    let (key, value) = option.split_once('=').context("expected KEY=VALUE")?;
    let value: Value = if value.trim().is_empty() {
        Value::Null
    } else {
        serde_saphyr::from_str(value).map_err(|e| anyhow::anyhow!("the value is not YAML: {e}"))?
    };
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("`{key}` is not a dotted key");
    }
    let mut node = tree;
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let at = parts[..=i].join(".");
        node = match node {
            Value::Array(a) => {
                let n: usize = p.parse().with_context(|| format!("`{at}`: a list is indexed by number"))?;
                let len = a.len();
                a.get_mut(n).with_context(|| format!("`{at}`: the list has {len} elements"))?
            }
            Value::Object(m) => m.entry(p.to_string()).or_insert(if last { Value::Null } else { Value::Object(Default::default()) }),
            Value::Null => {
                *node = Value::Object(Default::default());
                node.as_object_mut().expect("just set").entry(p.to_string()).or_insert(Value::Null)
            }
            other => bail!("`{}` is {other}, not a mapping or list", parts[..i].join(".")),
        };
    }
    merge(node, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Value {
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn bases_merge_as_mmengine_does() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("model.yaml"), "model: {type: TSM, depth: 50, num_classes: 400, dropout: 0.5}\n").unwrap();
        std::fs::write(
            d.path().join("schedule.yaml"),
            "train:\n  epochs: 50\n  optimizer: {type: SGD, lr: 0.01, momentum: 0.9}\n  lr_schedule: {type: MultiStep, milestones: [20, 40]}\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("run.yaml"),
            "_base_: [model.yaml, schedule.yaml]\nmodel: {num_classes: 101}\ntrain:\n  optimizer: {_delete_: true, type: AdamW, lr: 0.001}\n  lr_schedule: {milestones: [5]}\n",
        )
        .unwrap();
        let (text, merged) = effective_text(&d.path().join("run.yaml"), &["train.epochs=10".into(), "model.depth=18".into()]).unwrap();
        assert!(merged);
        let want = tree(
            "model: {type: TSM, depth: 18, num_classes: 101, dropout: 0.5}\ntrain: {epochs: 10, optimizer: {type: AdamW, lr: 0.001}, lr_schedule: {type: MultiStep, milestones: [5]}}",
        );
        assert_eq!(tree(&text), want, "{text}");
    }

    #[test]
    fn options_index_lists_and_take_yaml_values() {
        let mut t = tree("data: {train: {pipeline: [{type: SampleFrames, clip_len: 8}, {type: DecordDecode}]}}");
        apply_option(&mut t, "data.train.pipeline.0.clip_len=16").unwrap();
        apply_option(&mut t, "data.train.pipeline.1={type: PyAVDecode}").unwrap();
        apply_option(&mut t, "seed=3").unwrap();
        assert_eq!(t, tree("{seed: 3, data: {train: {pipeline: [{type: SampleFrames, clip_len: 16}, {type: PyAVDecode}]}}}"));
        let e = format!("{:#}", apply_option(&mut t, "data.train.pipeline.5.clip_len=1").unwrap_err());
        assert!(e.contains("`data.train.pipeline.5`: the list has 2 elements"), "{e}");
        assert!(apply_option(&mut t, "seed").is_err());
        assert!(format!("{:#}", apply_option(&mut t, "seed.x=1").unwrap_err()).contains("`seed` is 3"));
    }

    #[test]
    fn a_file_without_bases_or_options_is_used_as_written() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.yaml");
        std::fs::write(&p, "# comment\nseed: 1\n").unwrap();
        assert_eq!(effective_text(&p, &[]).unwrap(), ("# comment\nseed: 1\n".to_string(), false));
        std::fs::write(d.path().join("a.yaml"), "seed: 1\n").unwrap();
        std::fs::write(d.path().join("b.yaml"), "seed: 2\n").unwrap();
        std::fs::write(&p, "_base_: [a.yaml, b.yaml]\n").unwrap();
        let e = format!("{:#}", effective_text(&p, &[]).unwrap_err());
        assert!(e.contains("`seed` is set by two bases, a.yaml and b.yaml"), "{e}");
    }
}
