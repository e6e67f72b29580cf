//! Batches for training and evaluation: samples (shuffled per epoch when training) → worker pool
//! (decode, transforms, Normalize/FormatShape) → batches in a deterministic order.
//!
//! Every random draw of sample i in epoch e comes from the stream (seed, e, i) and the epoch's order
//! from the stream (seed, e, u64::MAX), so a batch's bytes depend on neither the worker count nor
//! scheduling, and differ between epochs.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use rand::seq::SliceRandom;

use super::engine::{Graph, Settings, Stream};
use super::pipeline::{DataPipeline, Prepared};
use super::{sample_rng, PoolConfig, StageMetrics};
use crate::device::{PinnedBuf, PinnedPool, Uploader};
use crate::source::Sample;
use crate::transform::format::{normalize_into, ModelInput};
use crate::transform::{InputFormat, LabelMix, Normalize, Tensor};

/// One batch: its samples and their tensors concatenated along the first dimension (NCHW
/// (B·M, C, H, W), NCTHW (B·V, C, L, H, W), NCHW_Flow (B·V, 2L, H, W)).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The samples, in batch order.
    pub samples: Vec<Sample>,
    /// The collated model input; its buffer goes back to the loader's pool when the batch is
    /// dropped.
    pub tensor: BatchInput,
    /// Per sample, its images in [`Self::tensor`] (its tensor's first dimension), from which
    /// [`crate::model::views_per_sample`] tells its output rows.
    pub images: Vec<usize>,
    /// Per sample, the soft target its pipeline decided (`BackgroundBlend` with `blend_label`).
    pub label_mix: Vec<Option<LabelMix>>,
    /// Per sample, its person boxes `[x1, y1, x2, y2]` in pixels of its input (AVA samples,
    /// [`crate::source::ava`]); `None` for samples without boxes. [`Batch::rois`] stacks them.
    pub boxes: Vec<Option<Vec<[f64; 4]>>>,
}

impl Batch {
    /// The batch's boxes as RoIAlign takes them: `(ΣN, 5)` float32 rows `[batch_index, x1, y1,
    /// x2, y2]` (PySlowFast's collate), `None` when no sample has boxes.
    pub fn rois(&self) -> Option<tch::Tensor> {
        if self.boxes.iter().all(Option::is_none) {
            return None;
        }
        let rows: Vec<f32> = self
            .boxes
            .iter()
            .enumerate()
            .flat_map(|(i, b)| b.iter().flatten().flat_map(move |b| [i as f32, b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32]))
            .collect();
        Some(tch::Tensor::from_slice(&rows).view([-1, 5]))
    }
}

/// A collated batch as the loader hands it to the model: normalised float32 (the CPU path), or
/// uint8 in the same layout with the statistics to normalise it on the model's device (a
/// quarter of the bytes to copy to a GPU; [`crate::model::upload`]), in pageable or (with
/// cudarc's GPU, [`crate::device`]) page-locked memory, or, after the `upload` stage, the
/// model's float32 input already on its device.
#[derive(Debug)]
pub enum BatchInput {
    /// Normalised values.
    F32(BatchTensor),
    /// Values before Normalize (channels already in `normalize`'s order).
    U8 {
        /// The uint8 values.
        tensor: BatchTensor<u8>,
        /// The pipeline's Normalize.
        normalize: Normalize,
        /// The pipeline's FormatShape.
        format: InputFormat,
    },
    /// As [`BatchInput::U8`], collated into page-locked memory for [`crate::device::Uploader`].
    Pinned {
        /// The uint8 values.
        buf: PinnedBuf,
        /// Their dimensions, outermost first.
        shape: Vec<usize>,
        /// The pipeline's Normalize.
        normalize: Normalize,
        /// The pipeline's FormatShape.
        format: InputFormat,
    },
    /// The model input, float32, on the model's device (its host buffer already recycled).
    Device(tch::Tensor),
}

impl Clone for BatchInput {
    /// A copy; host values get a pageable buffer of their own.
    fn clone(&self) -> Self {
        match self {
            BatchInput::F32(t) => BatchInput::F32(t.clone()),
            BatchInput::Device(t) => BatchInput::Device(t.shallow_clone()),
            other => {
                let Some(ModelInput::U8 { data, shape, normalize, format }) = other.host() else { unreachable!("uint8 host batch") };
                let tensor = BatchTensor { tensor: Tensor { shape: shape.to_vec(), data: data.to_vec() }, pool: None };
                BatchInput::U8 { tensor, normalize: normalize.clone(), format }
            }
        }
    }
}

impl PartialEq for BatchInput {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BatchInput::F32(a), BatchInput::F32(b)) => a == b,
            (BatchInput::Device(a), BatchInput::Device(b)) => a.size() == b.size() && a.equal(b),
            (a, b) => match (a.host(), b.host()) {
                (
                    Some(ModelInput::U8 { data: d, shape: s, normalize: n, format: f }),
                    Some(ModelInput::U8 { data, shape, normalize, format }),
                ) => (d, s, n, f) == (data, shape, normalize, format),
                _ => false,
            },
        }
    }
}

impl BatchInput {
    /// The dimensions, outermost (images or views of every sample) first.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            BatchInput::Device(t) => t.size().iter().map(|&d| d as usize).collect(),
            BatchInput::F32(t) => t.shape.clone(),
            BatchInput::U8 { tensor, .. } => tensor.shape.clone(),
            BatchInput::Pinned { shape, .. } => shape.clone(),
        }
    }

    /// The host values as the model's input conversion takes them (`None` once uploaded).
    pub fn host(&self) -> Option<ModelInput<'_>> {
        match self {
            BatchInput::F32(t) => Some(ModelInput::F32(t)),
            BatchInput::U8 { tensor, normalize, format } => {
                Some(ModelInput::U8 { data: &tensor.data, shape: &tensor.shape, normalize, format: *format })
            }
            BatchInput::Pinned { buf, shape, normalize, format } => {
                Some(ModelInput::U8 { data: buf.as_slice(), shape, normalize, format: *format })
            }
            BatchInput::Device(_) => None,
        }
    }

    /// The model's float32 input on `device`: uploaded now by libtorch
    /// ([`crate::model::upload`]), or the tensor the `upload` stage made.
    pub fn model_input(&self, device: tch::Device) -> tch::Tensor {
        match self {
            BatchInput::Device(t) => t.to_device(device),
            host => crate::model::upload(host.host().expect("host batches have host values"), device),
        }
    }

    /// Host bytes an upload of this batch copies (0 once uploaded).
    fn host_bytes(&self) -> u64 {
        match self.host() {
            Some(ModelInput::F32(t)) => 4 * t.data.len() as u64,
            Some(ModelInput::U8 { data, .. }) => data.len() as u64,
            None => 0,
        }
    }

    /// The normalised values of an [`BatchInput::F32`] batch.
    pub fn as_f32(&self) -> Option<&Tensor> {
        match self {
            BatchInput::F32(t) => Some(t),
            _ => None,
        }
    }
}

/// The order of `samples` for `epoch`: a seeded shuffle when `shuffle` (training), else list order.
pub fn epoch_order(samples: &[Sample], seed: u64, epoch: u64, shuffle: bool) -> Vec<Sample> {
    let mut order = samples.to_vec();
    if shuffle {
        order.shuffle(&mut sample_rng(seed, epoch, u64::MAX));
    }
    order
}

/// The loader graph of job `job` (every job that feeds a model: train, val and test loaders,
/// featurize, bench): `pipeline` (whose `epoch` field selects the random streams) over
/// `samples` on `pool.workers` threads (stage `prepare`, with its `decode` and `transform`
/// parts), then batches of `batch_size` (the last may be smaller) collated in order (stage
/// `collate`). A failing sample is a [`super::Failure`] naming the file, outside any batch;
/// `settings` says what failures stop the job (its capacity is the window, at least the pool's).
pub fn batches(
    job: &'static str,
    samples: Vec<Sample>,
    pipeline: DataPipeline,
    batch_size: usize,
    pool: PoolConfig,
    settings: Settings,
) -> Stream<Batch> {
    batches_with(job, samples, pipeline, batch_size, pool, settings, OnFailure::Skip)
}

/// What the loader does with a sample that fails to load.
#[derive(Clone, Debug, Default)]
pub enum OnFailure {
    /// It becomes a [`super::Failure`] outside any batch, under the engine's policy: batches
    /// fill from the next samples, so the epoch's last batch is short (`vpipe run`, featurize).
    #[default]
    Skip,
    /// It is replaced, in its place, by the next sample of the list that loads (wrapping round
    /// the list), and its failure goes into the log: every batch keeps its size, so the ranks of
    /// a DDP job stay in step (a short batch on one rank would hang NCCL's all-reduce). Only
    /// when every sample of the list fails does the failure reach the engine.
    Replace(FailureLog),
}

/// The failures a [`OnFailure::Replace`] loader replaced, in the order they happened.
pub type FailureLog = Arc<Mutex<Vec<super::Failure>>>;

/// [`batches`] with a choice of what a failing sample does.
pub fn batches_with(
    job: &'static str,
    samples: Vec<Sample>,
    pipeline: DataPipeline,
    batch_size: usize,
    pool: PoolConfig,
    settings: Settings,
    on_failure: OnFailure,
) -> Stream<Batch> {
    let mut pipeline = pipeline.for_workers(pool.workers);
    pipeline.frames = Default::default(); // this graph's own count
    let settings = Settings { capacity: settings.capacity.max(pool.capacity), ..settings };
    // Batches alive at once: those in the channels the window allows, plus one in each stage.
    let alive = settings.capacity.div_ceil(batch_size.max(1)) + 2;
    let (f32_buffers, u8_buffers) = (BufferPool::new(alive), BufferPool::new(alive));
    let (normalize, format, upload_u8, upload_to) = (pipeline.normalize.clone(), pipeline.format, pipeline.upload_u8, pipeline.upload_to);
    let pin_on = match upload_to {
        Some(tch::Device::Cuda(i)) => Some(i),
        _ => pipeline.pin_memory,
    };
    let cuda = pin_on.filter(|_| upload_u8).and_then(|i| cuda_uploader(i, alive, upload_to.is_some()));
    let pinned = cuda.as_ref().map(|(pool, _)| pool.clone());
    let replace = match on_failure {
        OnFailure::Skip => None,
        OnFailure::Replace(log) => Some((Replacements::new(&samples), log)),
    };
    let mut stream = Graph::source(job, samples, |s| s.path.display().to_string(), settings).count_frames(pipeline.frames.clone());
    let workers = stream.threads_for(pool.workers);
    let prepare = stream.metrics(StageMetrics::stage("prepare", workers));
    let (d, t) = (stream.metrics(StageMetrics::part("decode", workers)), stream.metrics(StageMetrics::part("transform", workers)));
    let collated = stream
        .map_with(prepare, move |s: Sample| {
            let one = |s: &Sample| pipeline.prepare(s, &d, &t);
            let (s, p) = match &replace {
                None => {
                    let p = one(&s)?;
                    (s, p)
                }
                Some((list, log)) => list.prepare(s, log, one)?,
            };
            Ok((p.relabel(s), p))
        })
        .batch(batch_size)
        .map("collate", 1, move |items: Vec<(Sample, Prepared)>| {
            let tensors: Vec<&Tensor<u8>> = items.iter().map(|(_, p)| &p.tensor).collect();
            let tensor = match (&pinned, upload_u8) {
                (Some(pool), _) => {
                    let (buf, shape) = collate_pinned(&tensors, pool)?;
                    BatchInput::Pinned { buf, shape, normalize: normalize.clone(), format }
                }
                (None, true) => {
                    let tensor = BatchTensor { tensor: collate_into(&tensors, u8_buffers.take())?, pool: Some(u8_buffers.clone()) };
                    BatchInput::U8 { tensor, normalize: normalize.clone(), format }
                }
                (None, false) => {
                    let normalized = collate_with(&tensors, f32_buffers.take(), |t, out| normalize_into(t, &normalize, format, out))?;
                    BatchInput::F32(BatchTensor { tensor: normalized, pool: Some(f32_buffers.clone()) })
                }
            };
            let images = tensors.iter().map(|t| t.shape[0]).collect();
            let (mut samples, mut label_mix, mut boxes) = (Vec::new(), Vec::new(), Vec::new());
            for (s, p) in items {
                samples.push(s);
                label_mix.push(p.label_mix);
                boxes.push(p.boxes);
            }
            Ok(Batch { samples, tensor, images, label_mix, boxes })
        });
    match upload_to {
        Some(device) => upload(collated, device, cuda.and_then(|(_, uploader)| uploader)),
        None => collated,
    }
}

/// The list an [`OnFailure::Replace`] loader draws replacements from.
struct Replacements {
    list: Vec<Sample>,
    /// A sample's first position in `list`, by [`Sample::index`] (a padded list repeats some).
    position: std::collections::HashMap<usize, usize>,
}

impl Replacements {
    fn new(list: &[Sample]) -> Self {
        let mut position = std::collections::HashMap::new();
        for (i, s) in list.iter().enumerate() {
            position.entry(s.index).or_insert(i);
        }
        Replacements { list: list.to_vec(), position }
    }

    /// `s` prepared by `prepare`, or, when it fails (its failure logged), the first sample after
    /// it in the list that prepares. Returns the sample used and its result.
    ///
    /// # Errors
    /// `s`'s own error, when no sample of the list prepares.
    fn prepare(&self, s: Sample, log: &FailureLog, prepare: impl Fn(&Sample) -> Result<Prepared>) -> Result<(Sample, Prepared)> {
        let err = match prepare(&s) {
            Ok(p) => return Ok((s, p)),
            Err(e) => e,
        };
        let at = self.position.get(&s.index).copied().unwrap_or(0);
        let n = self.list.len();
        let found = (1..n).map(|k| &self.list[(at + k) % n]).filter(|c| c.index != s.index).find_map(|c| prepare(c).ok().map(|p| (c, p)));
        let Some((used, p)) = found else { return Err(err) };
        let message = format!("{} (replaced by {})", crate::model::without_cpp_backtrace(&format!("{err:#}")), used.name);
        eprintln!("FAILED {} [prepare]: {message}", s.path.display());
        if let Ok(mut log) = log.lock() {
            log.push(super::Failure { path: s.path.display().to_string(), stage: "prepare".into(), message });
        }
        Ok((used.clone(), p))
    }
}

/// Page-locked buffers of CUDA device `ordinal` for `alive` batches and, when `uploader`, an
/// [`Uploader`] to it, or `None` (pageable buffers and libtorch's copy then serve; one line on
/// stderr, once, says why).
fn cuda_uploader(ordinal: usize, alive: usize, uploader: bool) -> Option<(PinnedPool, Option<Uploader>)> {
    static SAID: std::sync::Once = std::sync::Once::new();
    let made = crate::device::gpu(ordinal).and_then(|gpu| {
        let u = uploader.then(|| Uploader::new(gpu.clone()).map_err(|e| format!("{e:#}"))).transpose()?;
        Ok((PinnedPool::new(gpu, alive), u))
    });
    if let Err(why) = &made {
        SAID.call_once(|| eprintln!("upload: pageable buffers and libtorch's copy, not vpipe's page-locked ones ({why})"));
    }
    made.ok()
}

/// The engine's `upload` stage: each batch becomes the model's input on `device` in its own
/// thread, so the copy (and, for uint8 batches, the normalisation) of batch n+1 runs while the
/// model works on batch n; its host buffer goes back to the pool at once. Page-locked batches
/// go through `uploader` (cudarc's copy stream), others through libtorch. Counts the bytes
/// copied (the stage's GB/s in the summary).
fn upload(mut stream: Stream<Batch>, device: tch::Device, uploader: Option<Uploader>) -> Stream<Batch> {
    let metrics = stream.metrics(StageMetrics::stage("upload", 1));
    let counter = metrics.clone();
    let uploader = Mutex::new(uploader);
    stream.map_with(metrics, move |mut b: Batch| {
        counter.add_bytes(b.tensor.host_bytes());
        let on_device = match (&b.tensor, uploader.lock().as_deref_mut()) {
            (BatchInput::Pinned { buf, shape, normalize, format }, Ok(Some(u))) => u.upload(buf, shape, normalize, *format)?,
            _ => b.tensor.model_input(device),
        };
        b.tensor = BatchInput::Device(on_device);
        Ok(b)
    })
}

/// Recycled float buffers for collated batches: in steady state a loader allocates none per
/// batch. A fresh 38 MB batch (8 × 8 × 3 × 224²) costs its page faults on every fill, which
/// made collation 17 ms of a batch; a recycled one is written in place. Holds at most `max`
/// idle buffers (the batches the engine's window lets live at once).
#[derive(Debug)]
pub struct BufferPool<T = f32> {
    idle: Arc<Mutex<Vec<Vec<T>>>>,
    max: usize,
}

impl<T> Clone for BufferPool<T> {
    fn clone(&self) -> Self {
        BufferPool { idle: self.idle.clone(), max: self.max }
    }
}

impl<T> BufferPool<T> {
    /// A pool keeping at most `max` idle buffers.
    pub fn new(max: usize) -> Self {
        BufferPool { idle: Arc::default(), max }
    }

    /// An empty buffer, recycled when one is idle.
    pub fn take(&self) -> Vec<T> {
        self.idle.lock().map(|mut v| v.pop()).ok().flatten().unwrap_or_default()
    }

    /// Returns `buf` for reuse (dropped when the pool is full).
    pub fn give(&self, mut buf: Vec<T>) {
        buf.clear();
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max {
                idle.push(buf);
            }
        }
    }
}

/// A collated batch tensor whose buffer returns to its [`BufferPool`] when dropped; reads as
/// a [`Tensor`].
#[derive(Debug)]
pub struct BatchTensor<T = f32> {
    /// The values and shape.
    pub tensor: Tensor<T>,
    /// Where the buffer goes back to (`None`: freed).
    pub pool: Option<BufferPool<T>>,
}

impl<T> std::ops::Deref for BatchTensor<T> {
    type Target = Tensor<T>;

    fn deref(&self) -> &Tensor<T> {
        &self.tensor
    }
}

impl<T> Drop for BatchTensor<T> {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.give(std::mem::take(&mut self.tensor.data));
        }
    }
}

impl<T: Clone> Clone for BatchTensor<T> {
    /// A copy with a buffer of its own (not pooled).
    fn clone(&self) -> Self {
        BatchTensor { tensor: self.tensor.clone(), pool: None }
    }
}

impl<T: PartialEq> PartialEq for BatchTensor<T> {
    fn eq(&self, other: &Self) -> bool {
        self.tensor == other.tensor
    }
}

/// Concatenates per-sample tensors along dimension 0 into a new buffer.
///
/// # Errors
/// Tensors whose trailing dimensions differ.
pub fn collate<T: Copy>(tensors: &[&Tensor<T>]) -> Result<Tensor<T>> {
    collate_into(tensors, Vec::new())
}

/// [`collate`] into `data` (emptied first; a recycled buffer keeps its allocation).
///
/// # Errors
/// As [`collate`].
pub fn collate_into<T: Copy>(tensors: &[&Tensor<T>], data: Vec<T>) -> Result<Tensor<T>> {
    collate_with(tensors, data, |t, out| out.extend_from_slice(&t.data))
}

/// Concatenates along dimension 0 into `data` (emptied first), each tensor's values appended by
/// `append` (a copy, or a conversion such as [`normalize_into`]).
///
/// # Errors
/// Tensors whose trailing dimensions differ.
pub fn collate_with<T, U>(tensors: &[&Tensor<T>], mut data: Vec<U>, mut append: impl FnMut(&Tensor<T>, &mut Vec<U>)) -> Result<Tensor<U>> {
    data.clear();
    let shape = batch_shape(tensors)?;
    data.reserve(tensors.iter().map(|t| t.data.len()).sum());
    for t in tensors {
        append(t, &mut data);
    }
    Ok(Tensor { shape, data })
}

/// [`collate`] into a page-locked buffer from `pool`; the values and the batch's shape.
///
/// # Errors
/// As [`collate`], or the driver cannot page-lock the buffer.
pub fn collate_pinned(tensors: &[&Tensor<u8>], pool: &PinnedPool) -> Result<(PinnedBuf, Vec<usize>)> {
    let shape = batch_shape(tensors)?;
    let mut buf = pool.take(tensors.iter().map(|t| t.data.len()).sum())?;
    concat_into(tensors, buf.as_mut_slice());
    Ok((buf, shape))
}

/// Copies the tensors' values one after another into `out`, which holds exactly their total.
fn concat_into<T: Copy>(tensors: &[&Tensor<T>], out: &mut [T]) {
    let mut rest = out;
    for t in tensors {
        let (part, tail) = rest.split_at_mut(t.data.len());
        part.copy_from_slice(&t.data);
        rest = tail;
    }
    debug_assert!(rest.is_empty(), "out is the tensors' total length");
}

/// The shape of `tensors` concatenated along dimension 0 (`[0]` for none).
fn batch_shape<T>(tensors: &[&Tensor<T>]) -> Result<Vec<usize>> {
    let Some(first) = tensors.first() else { return Ok(vec![0]) };
    let mut shape = first.shape.clone();
    shape[0] = 0;
    for t in tensors {
        anyhow::ensure!(t.shape[1..] == first.shape[1..], "cannot batch shapes {:?} and {:?}", first.shape, t.shape);
        shape[0] += t.shape[0];
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: usize, v: f32) -> Tensor {
        Tensor { shape: vec![rows, 2], data: vec![v; rows * 2] }
    }

    #[test]
    fn a_dropped_batch_hands_its_buffer_to_the_next_one() {
        let pool = BufferPool::new(1);
        let (a, b) = (t(1, 1.0), t(2, 2.0));
        let first = BatchTensor { tensor: collate_into(&[&a, &b], pool.take()).unwrap(), pool: Some(pool.clone()) };
        assert_eq!((first.shape.clone(), first.data.clone()), (vec![3, 2], vec![1.0, 1.0, 2.0, 2.0, 2.0, 2.0]));
        let ptr = first.data.as_ptr();
        drop(first);
        let second = collate_into(&[&b, &a], pool.take()).unwrap();
        assert_eq!(second.data.as_ptr(), ptr, "the same allocation, refilled");
        assert_eq!(second.data, vec![2.0, 2.0, 2.0, 2.0, 1.0, 1.0]);
        assert!(collate(&[&a, &Tensor { shape: vec![1, 3], data: vec![0.0; 3] }]).is_err(), "trailing dimensions differ");
    }

    #[test]
    fn page_locked_collation_lays_out_what_collate_does() {
        // collate_pinned's layout without a GPU: batch_shape + concat_into into a plain slice.
        let (a, b) = (t(1, 1.0), t(2, 2.0));
        let mut out = vec![0.0; 6];
        concat_into(&[&a, &b], &mut out);
        let want = collate(&[&a, &b]).unwrap();
        assert_eq!((batch_shape(&[&a, &b]).unwrap(), out), (want.shape, want.data));
        assert_eq!(batch_shape::<f32>(&[]).unwrap(), vec![0]);
    }
}
