//! Pipeline YAML (serde-saphyr): the `vpipe run` / `check` / `inspect` file ([`PipelineConfig`],
//! DESIGN §5), the flat `vpipe featurize --config` file ([`FeaturizeConfig`]), and the pieces they
//! share — [`SourceConfig`] and pipeline [`Step`]s with mmaction2's names.
//!
//! Unknown keys, wrong types and missing required keys are errors naming the line, column and key,
//! and for unknown keys the accepted names. `schemas/pipeline.schema.json` is generated from these
//! types ([`pipeline_schema`]).

pub mod compose;
mod featurize;
pub mod limits;
mod location;
pub mod mmaction2;
mod pipeline;
mod source;
mod steps;

use std::path::Path;

use anyhow::{Context, Result};

pub use featurize::FeaturizeConfig;
pub use location::{Origin, StepAt};
pub use pipeline::{
    pipeline_schema, AverageClips, DataSplit, DynamicName, Fp16, LossScale, ModelConfig, ModelType, Optimizer, PipelineConfig, Schedule,
    SplitName, TrainSection, Warmup,
};
pub use source::{SourceConfig, VIDEO_EXTENSIONS};
pub use steps::{default_test_pipeline, split_pipeline, PipelineParts, Step};

/// Parses YAML text into `T`, strictly: a tag vpipe does not know (`!foo 0`) is an error, and
/// so is a quoted number under a numeric key (`batch_size: '4'`, which YAML makes a string and
/// a lenient reader would quietly turn back into a number).
///
/// # Errors
/// YAML syntax errors, unknown keys, wrong types, missing keys, unknown tags, quoted numbers —
/// with line and column.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    reject_quoted_numbers(text)?;
    let options = serde_saphyr::options! { reject_unsupported_tags: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The keys that hold only numbers wherever the pipeline schema has them (`batch_size`,
/// `num_classes`, `lr`, …).
fn numeric_keys() -> &'static std::collections::BTreeSet<String> {
    static KEYS: std::sync::OnceLock<std::collections::BTreeSet<String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(&pipeline_schema()).expect("the schema is JSON");
        let mut kinds: std::collections::BTreeMap<String, bool> = Default::default();
        fn walk(v: &serde_json::Value, kinds: &mut std::collections::BTreeMap<String, bool>) {
            match v {
                serde_json::Value::Object(o) => {
                    if let Some(serde_json::Value::Object(props)) = o.get("properties") {
                        for (k, p) in props {
                            let types: Vec<&str> = match p.get("type") {
                                Some(serde_json::Value::String(t)) => vec![t.as_str()],
                                Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).collect(),
                                _ => vec![],
                            };
                            let numeric = types.iter().any(|t| matches!(*t, "integer" | "number"))
                                && types.iter().all(|t| matches!(*t, "integer" | "number" | "null"));
                            *kinds.entry(k.clone()).or_insert(numeric) &= numeric;
                        }
                    }
                    o.values().for_each(|v| walk(v, kinds));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, kinds)),
                _ => {}
            }
        }
        walk(&schema, &mut kinds);
        kinds.into_iter().filter(|(_, numeric)| *numeric).map(|(k, _)| k).collect()
    })
}

/// Refuses `key: '4'` / `key: "4"` where `key` is numeric ([`numeric_keys`]), naming the line.
fn reject_quoted_numbers(text: &str) -> Result<()> {
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let line = line.split(" #").next().unwrap_or(line);
        let mut rest = line;
        while let Some(colon) = rest.find(':') {
            let key = rest[..colon].rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or_default();
            let value = rest[colon + 1..].trim_start();
            if let Some(q) = value.chars().next().filter(|c| *c == '\'' || *c == '"') {
                if let Some(end) = value[1..].find(q) {
                    let inner = &value[1..1 + end];
                    if numeric_keys().contains(key) && inner.trim().parse::<f64>().is_ok() {
                        anyhow::bail!(
                            "line {}: `{key}: {q}{inner}{q}` is a quoted string where a number is expected: write {key}: {inner}",
                            i + 1
                        );
                    }
                }
            }
            rest = &rest[colon + 1..];
        }
    }
    Ok(())
}

/// The text of the configuration file at `path`, which must be a regular file (`/dev/zero` would
/// be read until memory runs out, a FIFO would block).
///
/// # Errors
/// Missing, not a regular file, unreadable or not UTF-8 (the message names the file).
pub fn read_config_text(path: &Path) -> Result<String> {
    crate::source::walk::regular_file(path).with_context(|| format!("reading {}", path.display()))?;
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads and parses the YAML file at `path`; errors name the file.
///
/// # Errors
/// Unreadable file, or as [`parse_yaml`].
pub fn load_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_config_text(path)?;
    parse_yaml(&text).with_context(|| format!("in pipeline file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_numbers_under_numeric_keys_and_unknown_tags_are_refused() {
        let e = reject_quoted_numbers("data:\n  train:\n    batch_size: \"8\"\n").unwrap_err().to_string();
        assert!(e.starts_with("line 3: `batch_size: \"8\"` is a quoted string"), "{e}");
        assert!(reject_quoted_numbers("# batch_size: '4'\nwork_dir: '2024'\nmodel: {type: '1'}\n").is_ok(), "comments and string keys");
        assert!(reject_quoted_numbers("model: {num_classes: '5'}").is_err(), "flow mappings too");
        let e = PipelineConfig::parse("seed: !foo 0\ndata: {}\n").unwrap_err().to_string();
        assert!(e.contains("unsupported tag `!foo`"), "{e}");
    }
}
