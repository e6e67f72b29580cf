//! Pipeline YAML (serde-saphyr): the `vpipe run` / `check` / `inspect` file ([`PipelineConfig`],
//! DESIGN §5), the flat `vpipe featurize --config` file ([`FeaturizeConfig`]), and the pieces they
//! share — [`SourceConfig`] and pipeline [`Step`]s with mmaction2's names.
//!
//! Unknown keys, wrong types and missing required keys are errors naming the line, column and key,
//! and for unknown keys the accepted names. `schemas/pipeline.schema.json` is generated from these
//! types ([`pipeline_schema`]).

mod featurize;
pub mod limits;
mod location;
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

/// Parses YAML text into `T`.
///
/// # Errors
/// YAML syntax errors, unknown keys, wrong types, missing keys — with line and column.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Reads and parses the YAML file at `path`; errors name the file.
///
/// # Errors
/// Unreadable file, or as [`parse_yaml`].
pub fn load_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_yaml(&text).with_context(|| format!("in pipeline file {}", path.display()))
}
