//! `vpipe._vpipe.Loader`: one rank's loader over a pipeline file's split, epoch by epoch
//! ([`vpipe::graph::distributed::rank_epoch`]); `vpipe.Loader` (python/vpipe/loader.py) wraps
//! it in torch tensors.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use vpipe::config::{PipelineConfig, SplitName};
use vpipe::graph::distributed::{rank_epoch, Shard};
use vpipe::graph::engine::{Outputs, Waiting};
use vpipe::graph::loader::{epoch_order, Batch, BatchInput, FailureLog};
use vpipe::graph::train::SplitData;
use vpipe::source::Sample;

use crate::dlpack::capsule;
use crate::errors::{raise, Kind, OrRaise};

/// One rank's loader (see the Python class `vpipe.Loader` for the user's side).
#[pyclass(module = "vpipe._vpipe")]
pub struct Loader {
    state: Mutex<State>,
}

struct State {
    split: SplitData,
    seed: u64,
    shuffle: bool,
    shard: Shard,
    epoch: u64,
    /// Labels as multi-hot rows of this many classes (multi-label heads), else one index.
    multi_hot: Option<usize>,
    running: Option<Running>,
    /// Every failure replaced so far, all epochs.
    failures: Vec<vpipe::graph::Failure>,
    /// The last finished (or abandoned) epoch's summary, as `Summary::to_json` gives it.
    summary: Option<serde_json::Value>,
}

/// The epoch being iterated.
struct Running {
    outputs: Outputs<Batch>,
    samples: Vec<Sample>,
    valid: Vec<bool>,
    /// Position in `samples` of the next batch's first sample.
    next: usize,
    log: FailureLog,
}

#[pymethods]
impl Loader {
    /// The loader of split `split` ("train": shuffled per epoch; "val", "test": list order) of a
    /// pipeline file (`config` a path) or of its text (`from_text`); `None` arguments keep the
    /// file's values; `uint8` hands batches before Normalize; `pin_device` collates them into
    /// memory page-locked for that CUDA device.
    ///
    /// Raises `vpipe.ConfigError` (bad key, value or split; file and line named),
    /// `vpipe.FileNotFound` (the file or its list is missing).
    #[new]
    #[pyo3(signature = (config, from_text, split, batch_size, workers, seed, rank, world_size, drop_last, uint8, pin_device, cfg_options))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        config: &str,
        from_text: bool,
        split: &str,
        batch_size: Option<usize>,
        workers: Option<usize>,
        seed: Option<u64>,
        rank: usize,
        world_size: usize,
        drop_last: bool,
        uint8: bool,
        pin_device: Option<usize>,
        cfg_options: Vec<String>,
    ) -> PyResult<Self> {
        let mut cfg = if from_text {
            PipelineConfig::parse(config).map_err(|e| e.context("in the pipeline given as a dict"))
        } else {
            PipelineConfig::load_with(config.as_ref(), &cfg_options)
        }
        .or_raise(Kind::Config)?;
        let (name, target) = match split {
            "train" => (SplitName::Train, false),
            "train.target" => (SplitName::Train, true),
            "val" => (SplitName::Val, false),
            "test" => (SplitName::Test, false),
            other => return Err(raise("ConfigError", &format!("split {other:?}: train, train.target, val or test"))),
        };
        if let Some(s) = seed {
            cfg.seed = s;
        }
        let have: Vec<String> = cfg.data.keys().map(|k| format!("{k:?}").to_lowercase()).collect();
        let data = cfg
            .data
            .get_mut(&name)
            .ok_or_else(|| raise("ConfigError", &format!("the pipeline has no `data.{split}` split (it has: {})", have.join(", "))))?;
        let data = match (target, data.target.as_deref_mut()) {
            (false, _) => data,
            (true, Some(t)) => t,
            (true, None) => {
                return Err(raise("ConfigError", "split \"train.target\": the pipeline has no `data.train.target` (two-domain training)"))
            }
        };
        if let Some(b) = batch_size {
            data.batch_size = b;
        }
        let source = data.source.clone();
        let where_ = if from_text { "the pipeline dict".to_string() } else { format!("pipeline file {config}") };
        cfg.check(true, &vpipe::graph::backgrounds::build_ctx()).map_err(|e| e.context(format!("in {where_}"))).or_raise(Kind::Config)?;
        let loaded = if target { SplitData::load_target(&cfg, workers) } else { SplitData::load(&cfg, name, workers) };
        let mut split_data = loaded.or_raise(Kind::Config)?.expect("the split exists: checked above");
        split_data.pipeline.upload_u8 = uint8;
        split_data.pipeline.pin_memory = pin_device;
        // The target domain draws from its own streams, as `vpipe run`'s does (its epoch 0).
        let seed = if target { vpipe::graph::domains::target_stream(cfg.seed, 0, 0).0 } else { cfg.seed };
        split_data.pipeline.seed = seed;
        let shard = Shard::new(rank, world_size, drop_last).or_raise(Kind::Config)?;
        // Many-hot rows for a multi-label source, or for a single-label list under a
        // multi-label head (mmaction2's BCE head on one label per video).
        let model = cfg.model.as_ref();
        let multi_hot = source
            .multi_hot_classes(model.and_then(|m| m.num_classes))
            .or_else(|| model.filter(|m| m.loss.multi_label()).and_then(|m| m.num_classes));
        let state = State {
            split: split_data,
            seed,
            shuffle: name == SplitName::Train,
            shard,
            epoch: 0,
            multi_hot,
            running: None,
            failures: Vec::new(),
            summary: None,
        };
        Ok(Loader { state: Mutex::new(state) })
    }

    /// Sets the epoch the next iteration loads (its shuffle and random draws).
    fn set_epoch(&self, epoch: u64) -> PyResult<()> {
        self.lock()?.epoch = epoch;
        Ok(())
    }

    /// The epoch the next iteration loads.
    #[getter]
    fn epoch(&self) -> PyResult<u64> {
        Ok(self.lock()?.epoch)
    }

    /// Batches this rank yields per epoch: ⌈num_samples / batch_size⌉.
    fn __len__(&self) -> PyResult<usize> {
        let s = self.lock()?;
        Ok(s.shard.num_samples(s.split.samples.len()).div_ceil(s.split.batch_size.max(1)))
    }

    /// Samples this rank loads per epoch (`DistributedSampler.num_samples`).
    #[getter]
    fn num_samples(&self) -> PyResult<usize> {
        let s = self.lock()?;
        Ok(s.shard.num_samples(s.split.samples.len()))
    }

    /// Samples per batch.
    #[getter]
    fn batch_size(&self) -> PyResult<usize> {
        Ok(self.lock()?.split.batch_size)
    }

    /// Samples in the split's list (all ranks).
    #[getter]
    fn dataset_len(&self) -> PyResult<usize> {
        Ok(self.lock()?.split.samples.len())
    }

    /// This rank's list indices for `epoch`, in load order, and whether each holds its own place
    /// (false for padding): what the loader will load, without loading it.
    fn plan(&self, epoch: u64) -> PyResult<(Vec<usize>, Vec<bool>)> {
        let s = self.lock()?;
        let order = epoch_order(&s.split.samples, s.seed, epoch, s.shuffle);
        let (samples, valid) = s.shard.take(&order);
        Ok((samples.iter().map(|x| x.index).collect(), valid))
    }

    /// Starts the current epoch (stopping one still running).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut s = self.lock()?;
        let old = s.running.take();
        py.detach(|| drop(old));
        let log = FailureLog::default();
        let e = rank_epoch(&s.split, s.seed, s.epoch, s.shuffle, s.shard, log.clone());
        s.running = Some(Running { outputs: e.stream.into_iter("python"), samples: e.samples, valid: e.valid, next: 0, log });
        Ok(())
    }

    /// The next batch as a dict of parts (`inputs`: a DLPack capsule; `labels`, `indices`,
    /// `videos`, `valid`, `mean`/`inv_std`/`layout` for uint8 batches), or `None` at the end of
    /// the epoch, whose summary is then kept. Waits without the GIL.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        let Some(run) = state.running.as_mut() else { return Ok(None) };
        let item = next_good(py, &mut run.outputs)?;
        let batch = match item {
            Some(b) => b,
            None => {
                finish(state, py);
                return Ok(None);
            }
        };
        let dict = batch_dict(py, batch, run, state.multi_hot)?;
        Ok(Some(dict))
    }

    /// Stops the running epoch (its threads joined, its buffers freed); its summary is kept.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut s = self.lock()?;
        finish(&mut s, py);
        Ok(())
    }

    /// The last finished epoch's summary as JSON text (`None` before one finished).
    fn summary_json(&self) -> PyResult<Option<String>> {
        Ok(self.lock()?.summary.as_ref().map(|j| j.to_string()))
    }

    /// Every failed sample replaced so far (finished epochs and the running one): (path,
    /// stage, message) triples.
    fn failures(&self) -> PyResult<Vec<(String, String, String)>> {
        let s = self.lock()?;
        let running = s.running.iter().flat_map(|r| r.log.lock().map(|l| l.clone()).unwrap_or_default());
        Ok(s.failures.iter().cloned().chain(running).map(|f| (f.path, f.stage, f.message)).collect())
    }
}

impl Loader {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, State>> {
        self.state.try_lock().map_err(|_| raise("Error", "this Loader is in use by another thread (iterate a Loader from one thread)"))
    }
}

/// How long the loader waits for a batch without the GIL before it looks for Python signals.
const SIGNAL_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The next batch (waiting without the GIL), failures that reach the engine (every sample of
/// the share failed) recorded and passed; `None` at the end of the epoch.
///
/// # Errors
/// A Python signal handler raised (Ctrl-C: `KeyboardInterrupt`) while the batch was not ready.
fn next_good(py: Python<'_>, outputs: &mut Outputs<Batch>) -> PyResult<Option<Batch>> {
    loop {
        match py.detach(|| outputs.next_within(SIGNAL_POLL)) {
            Err(Waiting) => py.check_signals()?,
            Ok(None) => return Ok(None),
            Ok(Some(Ok(b))) => return Ok(Some(b)),
            Ok(Some(Err(f))) => {
                let _ = outputs.record(f);
            }
        }
    }
}

/// Ends the running epoch, if any: its threads stopped (without the GIL), its summary kept with
/// the replaced failures in it.
fn finish(state: &mut State, py: Python<'_>) {
    let Some(run) = state.running.take() else { return };
    let Running { outputs, log, .. } = run;
    let mut summary = py.detach(|| outputs.finish());
    let replaced = log.lock().map(|l| l.clone()).unwrap_or_default();
    summary.failures.extend(replaced.iter().cloned());
    state.failures.extend(replaced);
    let mut json = summary.to_json();
    json["replaced"] = summary.failures.len().into();
    state.summary = Some(json);
}

fn batch_dict(py: Python<'_>, b: Batch, run: &mut Running, multi_hot: Option<usize>) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    let shape = b.tensor.shape();
    let Batch { samples, tensor, boxes, .. } = b;
    let stats = |normalize: &vpipe::transform::Normalize, format, shape: &[usize]| normalize.channel_stats(format, shape);
    let (inputs, dtype, norm) = match tensor {
        BatchInput::F32(t) => {
            let ptr = t.data.as_ptr();
            (capsule(py, Box::new(t), ptr, &shape)?, "float32", None)
        }
        BatchInput::U8 { tensor, normalize, format } => {
            let ptr = tensor.data.as_ptr();
            (capsule(py, Box::new(tensor), ptr, &shape)?, "uint8", Some(stats(&normalize, format, &shape)))
        }
        BatchInput::Pinned { buf, shape, normalize, format } => {
            let ptr = buf.as_slice().as_ptr();
            let norm = stats(&normalize, format, &shape);
            (capsule(py, Box::new(buf), ptr, &shape)?, "uint8", Some(norm))
        }
        BatchInput::Device(_) => return Err(raise("Error", "internal: the Python loader has no upload stage")),
    };
    d.set_item("inputs", inputs)?;
    d.set_item("dtype", dtype)?;
    if let Some((mean, inv_std)) = norm {
        d.set_item("mean", mean)?;
        d.set_item("inv_std", inv_std)?;
    }
    let n = samples.len();
    let planned = &run.samples[run.next.min(run.samples.len())..(run.next + n).min(run.samples.len())];
    let valid: Vec<bool> = (0..n)
        .map(|j| run.valid.get(run.next + j).copied().unwrap_or(false) && planned.get(j).is_some_and(|p| p.index == samples[j].index))
        .collect();
    run.next += n;
    d.set_item("valid", valid)?;
    d.set_item("indices", samples.iter().map(|s| s.index).collect::<Vec<_>>())?;
    d.set_item("videos", PyList::new(py, samples.iter().map(|s| s.name.as_str()))?)?;
    d.set_item("labels", samples.iter().map(|s| s.labels.clone()).collect::<Vec<_>>())?;
    d.set_item("num_classes", multi_hot)?;
    if boxes.iter().any(Option::is_some) {
        // AVA keyframes: PySlowFast's collate — boxes `[batch_index, x1, y1, x2, y2]`, each box's
        // actions, and `[video_index, second]` per box.
        let (mut rois, mut actions, mut meta) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (s, b)) in samples.iter().zip(&boxes).enumerate() {
            for (k, px) in b.iter().flatten().enumerate() {
                rois.push(vec![i as f64, px[0], px[1], px[2], px[3]]);
                let kf = s.keyframe.as_ref();
                actions.push(kf.and_then(|k0| k0.boxes.get(k)).map(|x| x.labels.clone()).unwrap_or_default());
                meta.push(kf.map_or((0, 0), |k0| (k0.video_index, k0.sec)));
            }
        }
        d.set_item("rois", rois)?;
        d.set_item("box_actions", actions)?;
        d.set_item("box_meta", meta)?;
    }
    Ok(d.into_any().unbind())
}

// The loader's parts cross threads inside `py.detach`: checked here, once.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Running>();
    send::<State>();
};
