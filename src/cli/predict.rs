//! `vpipe predict VIDEO`: one video's top-k labels and scores, printed as mmaction2's
//! `demo/demo.py` prints them (semantics §9): the test pipeline (SampleFrames test mode, Resize
//! to short side 256, CenterCrop 224), the model on every view, `average_clips='prob'`, scores
//! sorted descending with ties to the lower class index. With `--config` a pipeline file's model
//! and split pipeline instead (3D models: NCTHW clips; multi-label heads: sigmoid scores).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use vpipe::config::{default_test_pipeline, PipelineConfig, SplitName};
use vpipe::decode::Modality;
use vpipe::graph::featurize::to_rows;
use vpipe::graph::loader::batches;
use vpipe::graph::pipeline::DataPipeline;
use vpipe::graph::{PoolConfig, Settings};
use vpipe::metrics::{average_clips, AverageClips};
use vpipe::model::{pick_device, ModelConfig, Recognizer};
use vpipe::source::Sample;

/// Flags of `vpipe predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The video file.
    video: PathBuf,
    /// Model: tsm-r50, tsn-r50, tsm-r18, tsn-r18, or a TorchScript .pt file.
    #[arg(long, default_value = "tsn-r50")]
    model: String,
    /// A pipeline file: its `model:` section and the `--split` pipeline replace --model,
    /// --num-segments and --clips (--weights still overrides the model's weights).
    #[arg(long, value_name = "PIPELINE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    cfg: super::CfgOptions,
    /// With --config, the split whose pipeline prepares the video.
    #[arg(long, value_parser = super::choice::<SplitName>(SplitName::NAMES), default_value = "test")]
    split: SplitName,
    /// `.safetensors` weights with mmaction2 state_dict names (default: random init from --seed,
    /// which gives meaningless labels).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Label names, one per line; line i names class i (mmaction2 label_map_k400.txt, or UCF101
    /// classInd.txt). Without
    /// it, classes print as their index.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Classes of the head [default: the label file's lines, else 400].
    #[arg(long)]
    num_classes: Option<usize>,
    /// Frames per view (TSN/TSM num_segments).
    #[arg(long, default_value_t = 8)]
    num_segments: usize,
    /// Views, averaged as probabilities (mmaction2 test-time clips).
    #[arg(long, default_value_t = 1)]
    clips: usize,
    /// Labels to print.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// One JSON object: {"video", "labels": [[name, score], …]}.
    #[arg(long)]
    json: bool,
    /// Device: auto, cpu, cuda.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Seed of a random-init model.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Python's `repr` of a float, as demo.py prints scores: shortest round-trip digits, exponent
/// form below 1e-4 (`1.5e-05`).
fn py_repr(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-4 {
        let s = format!("{x:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    }
}

/// Runs the command.
///
/// # Errors
/// Unreadable video or label file, an unknown model, or a failed forward pass.
pub fn run(a: Args) -> Result<()> {
    let names = a.labels.as_deref().map(super::read_label_names).transpose()?;
    let classes = a.num_classes.or(names.as_ref().map(Vec::len)).unwrap_or(400);
    let (spec, parts, mode) = match &a.config {
        Some(path) => {
            let cfg = PipelineConfig::load_with(path, &a.cfg.cfg_options)?;
            let mut m = cfg.model.clone().with_context(|| format!("{}: no `model` section", path.display()))?;
            m.weights = a.weights.clone().or(m.weights);
            (m.spec(a.seed).context("in `model`")?, cfg.parts(a.split)?, m.clip_averaging()?)
        }
        None => {
            let spec = ModelConfig::named(&a.model, classes, a.num_segments, a.weights.clone()).spec(a.seed).context("--model")?;
            (spec, default_test_pipeline(a.num_segments * a.clips.max(1), Modality::RGB), AverageClips::Prob)
        }
    };
    spec.check_input(parts.format)?;
    let model = Recognizer::new(&spec, pick_device(&a.device)?)?;
    let pipeline = DataPipeline::build(parts, a.seed, 0, Default::default())?.for_device(model.device(), None);
    let name = a.video.display().to_string();
    let sample = Sample {
        index: 0,
        line: 0,
        name: name.clone(),
        path: a.video.clone(),
        labels: vec![],
        rawframes: None,
        keyframe: None,
        frame_labels: None,
    };
    let mut scores = None;
    let settings = Settings { fail_fast: true, ..Settings::default() };
    batches("predict", vec![sample], pipeline, 1, PoolConfig { workers: 1, capacity: 1 }, settings).run("model", |batch| {
        let out = model.forward(&batch.tensor.model_input(model.device()), &batch.images)?;
        let views = to_rows(&out.logits, out.logits.size()[0] as usize)?;
        scores = Some(average_clips(&views, mode));
        Ok(())
    })?;
    let Some(scores) = scores else { bail!("{name}: no prediction") };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i])); // stable: ties keep the lower index first
    let label = |c: usize| names.as_ref().and_then(|n| n.get(c).cloned()).unwrap_or_else(|| c.to_string());
    let top: Vec<(String, f64)> = order.iter().take(a.top_k).map(|&c| (label(c), scores[c] as f64)).collect();
    if a.json {
        println!("{}", serde_json::json!({"video": name, "labels": top}));
    } else {
        println!("The top-{} labels with corresponding scores are:", a.top_k);
        for (l, s) in &top {
            println!("{l}:  {}", py_repr(*s));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::py_repr;

    #[test]
    fn scores_print_as_python_floats() {
        assert_eq!(py_repr(0.9986914396286011), "0.9986914396286011");
        assert_eq!(py_repr(1.0), "1.0");
        assert_eq!(py_repr(1.5e-5), "1.5e-05");
        assert_eq!(py_repr(0.000123), "0.000123");
    }
}
