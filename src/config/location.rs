//! Lines of a pipeline file's steps, so that problems found after parsing (a sampler's absurd
//! size, a missing background list) are reported as `file:line` like parse errors are.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// Marks an error as coming from step `step` (0-based) of a pipeline list; attached by
/// [`super::split_pipeline`] and read back by [`Origin::locate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepAt {
    /// 0-based index in the `pipeline:` list.
    pub step: usize,
    /// The step's `type:`.
    pub name: String,
}

impl fmt::Display for StepAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pipeline step {} ({})", self.step + 1, self.name)
    }
}

/// Where a pipeline file came from and the 1-based line of every split's pipeline steps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub path: PathBuf,
    /// (split key as written, step index) → line.
    steps: BTreeMap<(String, usize), u64>,
}

/// The file's shape, reduced to what locations need; everything else is ignored.
#[derive(Deserialize)]
struct Shadow {
    #[serde(default)]
    data: BTreeMap<String, ShadowSplit>,
}

#[derive(Deserialize)]
struct ShadowSplit {
    #[serde(default)]
    pipeline: Vec<Spanned<IgnoredAny>>,
    /// Two-domain training's target split (`data.train.target`).
    target: Option<Box<ShadowSplit>>,
}

impl ShadowSplit {
    /// Inserts the lines of this split's steps under `key`, and its target's under `key.target`.
    fn insert(&self, key: &str, steps: &mut BTreeMap<(String, usize), u64>) {
        for (i, step) in self.pipeline.iter().enumerate() {
            steps.insert((key.to_string(), i), step.referenced.line());
        }
        if let Some(t) = &self.target {
            t.insert(&format!("{key}.target"), steps);
        }
    }
}

impl Origin {
    /// The step lines of the pipeline file `text` read from `path`; empty where the text does not
    /// have the expected shape (the real parse reports that).
    pub fn of(path: &Path, text: &str) -> Self {
        let mut steps = BTreeMap::new();
        if let Ok(shadow) = serde_saphyr::from_str::<Shadow>(text) {
            for (split, s) in shadow.data {
                s.insert(&split, &mut steps);
            }
        }
        Origin { path: path.to_path_buf(), steps }
    }

    /// `e` with "`file:line: in data.<split>.pipeline step N (Type)`" in front when it carries a
    /// [`StepAt`], else with `in pipeline file F`.
    pub fn locate(&self, split: &str, e: anyhow::Error) -> anyhow::Error {
        let file = self.path.display();
        match e.downcast_ref::<StepAt>().cloned() {
            Some(at) => match self.steps.get(&(split.to_string(), at.step)) {
                Some(line) => e.context(format!("{file}:{line}: in `data.{split}.pipeline`")),
                None => e.context(format!("in pipeline file {file}, `data.{split}.pipeline`")),
            },
            None => e.context(format!("in pipeline file {file}, `data.{split}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lines_are_found_per_split() {
        let text = "seed: 0\ndata:\n  train:\n    source: {type: X}\n    pipeline:\n      - {type: SampleFrames, clip_len: 1}\n      - type: Resize\n        scale: [1, 2]\n  val:\n    pipeline: [{type: A}, {type: B}]\n";
        let o = Origin::of(Path::new("p.yaml"), text);
        let e = anyhow::anyhow!("bad").context(StepAt { step: 1, name: "Resize".into() });
        assert_eq!(format!("{:#}", o.locate("train", e)), "p.yaml:7: in `data.train.pipeline`: pipeline step 2 (Resize): bad");
        let e = anyhow::anyhow!("bad").context(StepAt { step: 0, name: "A".into() });
        assert!(format!("{:#}", o.locate("val", e)).starts_with("p.yaml:10: "));
        let text = "data:\n  train:\n    pipeline: [{type: A}]\n    target:\n      pipeline:\n        - {type: A}\n        - {type: B}\n";
        let o = Origin::of(Path::new("p.yaml"), text);
        let e = anyhow::anyhow!("bad").context(StepAt { step: 1, name: "B".into() });
        assert!(format!("{:#}", o.locate("train.target", e)).starts_with("p.yaml:7: in `data.train.target.pipeline`"));
    }
}
