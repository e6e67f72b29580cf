//! Two-domain training, CDAR's `DomainAdaptationRunner` and `Recognizer2D.train_step`
//! (repository `Haawron/mmaction2`, branch `ariel`; semantics §11):
//!
//! ```text
//! source list ─▶ epoch shuffle ─▶ loader ─┐
//!                                         ├─▶ truncate both to min(B_s, B_t) ─▶ concat + one randperm(2B) ─▶ forward
//! target list ─▶ cycled, reshuffled ─▶ loader ─┘        loss_cls on source rows; loss_dom (DANN neck) on all; t_mca on target rows
//! ```
//! An epoch is one pass over the source loader. The target loader starts a new pass (a new
//! shuffle, new augmentation draws) at every epoch and whenever it runs out (CDAR's `cycle`).
//! Target pass p of epoch e shuffles with the stream (target seed, e·2³² + p) and augments
//! sample i with (target seed, e·2³² + p, i), the step's permutation comes from
//! (permutation seed, e, step): batches and permutations depend on neither the worker count
//! nor scheduling, and a run resumed at (epoch, step) draws what the uninterrupted run drew.

use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use tch::Tensor;

use super::engine::{Outputs, Settings};
use super::interrupt::Interrupted;
use super::loader::{batches, epoch_order, Batch};
use super::train::{cross_entropy, single_labels, tensor_rows, SplitData, Step, StepConfig};
use crate::metrics::mean_class_accuracy;
use crate::model::optim::Optim;
use crate::model::Recognizer;
use crate::source::Sample;
use crate::transform::LabelMix;

/// Salt of the target domain's seed: its sample i must not share draws with source sample i.
const TARGET_SALT: u64 = 0x7461_7267_6574; // "target"
/// Salt of the per-step permutation's seed.
const PERMUTATION_SALT: u64 = 0x7065_726d; // "perm"

/// The (seed, epoch key) of the target domain's random streams in pass `pass` of epoch `epoch`
/// of a run seeded `seed`: sample i draws from (seed, key, i), the pass's order from (seed, key,
/// u64::MAX).
pub fn target_stream(seed: u64, epoch: u64, pass: u64) -> (u64, u64) {
    (seed ^ TARGET_SALT, (epoch << 32) | pass)
}

/// The target loader, cycled: one pass after another within an epoch, each reshuffled.
pub struct TargetCycle<'a> {
    split: &'a SplitData,
    seed: u64,
    epoch: u64,
    device: tch::Device,
    pass: u64,
    loader: Option<Outputs<Batch>>,
}

impl<'a> TargetCycle<'a> {
    /// The target batches of epoch `epoch` (0-based) of a run seeded `seed`, from step `step`
    /// of that epoch on (a resumed run skips the batches the steps before it took).
    pub fn new(split: &'a SplitData, seed: u64, epoch: usize, step: usize, device: tch::Device) -> Self {
        let per_pass = split.samples.len().div_ceil(split.batch_size.max(1)).max(1);
        let mut c =
            TargetCycle { split, seed: seed ^ TARGET_SALT, epoch: epoch as u64, device, pass: (step / per_pass) as u64, loader: None };
        c.open(step % per_pass);
        c
    }

    /// Starts pass `self.pass`, skipping its first `skip` batches.
    fn open(&mut self, skip: usize) {
        let (seed, key) = target_stream(self.seed, self.epoch, self.pass);
        let mut pipeline = self.split.pipeline.clone().for_device(self.device, None);
        (pipeline.seed, pipeline.epoch) = (seed, key);
        let mut order = epoch_order(&self.split.samples, seed, key, true);
        order.drain(..(skip * self.split.batch_size).min(order.len()));
        let stream = batches("target loader", order, pipeline, self.split.batch_size, self.split.pool.clone(), Settings::default());
        self.loader = Some(stream.into_iter("train_step"));
    }

    /// The next target batch, starting a new pass when the current one is spent.
    ///
    /// # Errors
    /// An empty target list; a sample that fails to load; SIGINT/SIGTERM ([`Interrupted`]).
    pub fn next_batch(&mut self) -> Result<Batch> {
        for _ in 0..2 {
            let loader = self.loader.as_mut().expect("an open pass");
            if let Some(b) = loader.next() {
                return Ok(b?);
            }
            if loader.interrupted() {
                return Err(Interrupted { committed: String::new(), resume: "" }.into());
            }
            self.pass += 1;
            self.open(0);
        }
        bail!("the target domain (`data.train.target`) gave no batch: its list is empty or every sample failed")
    }
}

/// What a two-domain step logs beyond [`Step`]'s loss and hits.
pub fn domain_fields(loss_cls: f64, dom: Option<(f64, f64)>, t_mca: f64) -> Vec<(&'static str, f64)> {
    let mut v = vec![("loss_cls", loss_cls)];
    if let Some((l, a)) = dom {
        v.extend([("loss_dom", l), ("acc_dom", a)]);
    }
    v.push(("t_mca", t_mca));
    v
}

/// One domain's part of a step, or both: samples and their rows of the model input.
struct Half {
    x: Tensor,
    samples: Vec<Sample>,
    images: Vec<usize>,
    mix: Vec<Option<LabelMix>>,
}

impl Half {
    /// The first `b` samples of `batch`, as `model` takes them (a 2D model's clips as images:
    /// CDAR's 8-frame NCTHW source clips and 8 single-frame target segments meet as 8 images).
    fn of(batch: &Batch, b: usize, model: &Recognizer) -> Half {
        let rows: usize = batch.images[..b].iter().sum();
        let x = batch.tensor.model_input(model.device()).narrow(0, 0, rows as i64);
        let (x, images) = model.as_images(&x, &batch.images[..b]);
        Half { x, samples: batch.samples[..b].to_vec(), images, mix: batch.label_mix[..b].to_vec() }
    }

    /// The samples reordered by `perm` (sample indices), their rows with them.
    fn permuted(self, perm: &[usize]) -> Half {
        let starts: Vec<usize> = self
            .images
            .iter()
            .scan(0, |acc, &m| {
                *acc += m;
                Some(*acc - m)
            })
            .collect();
        let rows: Vec<i64> = perm.iter().flat_map(|&i| (starts[i]..starts[i] + self.images[i]).map(|r| r as i64)).collect();
        Half {
            x: self.x.index_select(0, &Tensor::from_slice(&rows).to_device(self.x.device())),
            samples: perm.iter().map(|&i| self.samples[i].clone()).collect(),
            images: perm.iter().map(|&i| self.images[i]).collect(),
            mix: perm.iter().map(|&i| self.mix[i]).collect(),
        }
    }

    fn cat(a: Half, b: Half) -> Half {
        Half {
            x: Tensor::cat(&[a.x, b.x], 0),
            samples: [a.samples, b.samples].concat(),
            images: [a.images, b.images].concat(),
            mix: [a.mix, b.mix].concat(),
        }
    }
}

/// `0..n` in the order of one draw from `rng` (torch's `randperm(n)` role; vpipe's own stream).
fn permutation(n: usize, rng: &mut rand_pcg::Pcg64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(rng);
    p
}

/// One two-domain training step (CDAR `Recognizer2D.train_step` + its recogniser's losses):
/// both batches truncated to `b = min(B_s, B_t)` samples; where their tensors then have the
/// same shape as the model takes them (a TSM/TSN takes clips as images,
/// [`Recognizer::as_images`]) they are concatenated and the 2b samples shuffled with one permutation from the
/// step's stream (`seed`, `epoch`, `step`), else each half is shuffled by its own and the halves
/// forwarded one after the other. Loss = `loss_cls` (cross-entropy over the source samples,
/// mixed targets where the pipeline decided them) + `loss_dom` (the model's domain classifier
/// on every sample's clip features, when it has one). Hits count source samples; `t_mca` is the
/// mean class accuracy over the target samples (their labels feed nothing else).
///
/// # Errors
/// A source sample without exactly one label; a model whose training output is not one row
/// per sample; the model fails.
pub fn train_step(
    model: &Recognizer,
    optim: &mut Optim,
    source: &Batch,
    target: &Batch,
    cfg: StepConfig,
    (seed, epoch, step): (u64, usize, usize),
) -> Result<Step> {
    if cfg.loss.multi_label() {
        bail!("two-domain training is single-label (CDAR's cross-entropy); the model's loss is BCELossWithLogits");
    }
    let device = model.device();
    let b = source.samples.len().min(target.samples.len());
    let (all, is_source, (logits, features)) = forward_both(model, source, target, b, cfg.fp16, (seed, epoch, step))?;
    let rows = |source: bool| -> Vec<i64> { (0..2 * b).filter(|&i| is_source[i] == source).map(|i| i as i64).collect() };
    let (src_rows, tgt_rows) = (rows(true), rows(false));
    let pick = |t: &Tensor, rows: &[i64]| t.index_select(0, &Tensor::from_slice(rows).to_device(device));
    let src_samples: Vec<Sample> = src_rows.iter().map(|&i| all.samples[i as usize].clone()).collect();
    let labels = single_labels(&src_samples)?;
    let src_mix: Vec<Option<LabelMix>> = src_rows.iter().map(|&i| all.mix[i as usize]).collect();
    let src_logits = pick(&logits, &src_rows);
    let y = Tensor::from_slice(&labels).to_device(device);
    let loss_cls = cross_entropy(&src_logits, &y, &labels, &src_mix);
    let dom = model.domain_loss(&features, &is_source, true)?;
    let loss = match &dom {
        Some(d) => &loss_cls + &d.loss,
        None => loss_cls.shallow_clone(),
    };
    optim.zero_grad();
    optim.backward(&loss);
    let finite = optim.unscale();
    let grad_norm = cfg.grad_clip.filter(|_| finite).map(|m| optim.clip_grad_norm(m));
    let stepped = optim.step(cfg.lr);
    let top1: Vec<i64> = Vec::try_from(logits.argmax(-1, false).to_device(tch::Device::Cpu))?;
    let hits = src_rows.iter().zip(&labels).filter(|(&r, &l)| top1[r as usize] == l).count();
    let t_scores = tensor_rows(&pick(&logits, &tgt_rows))?;
    let t_labels: Vec<usize> =
        tgt_rows.iter().map(|&r| all.samples[r as usize].labels.first().copied().unwrap_or(0).max(0) as usize).collect();
    let t_mca = mean_class_accuracy(&t_scores, &t_labels);
    let dom = dom.map(|d| (d.loss.double_value(&[]), d.acc));
    Ok(Step {
        loss: loss.double_value(&[]),
        hits,
        samples: b,
        grad_norm,
        stepped,
        fields: domain_fields(loss_cls.double_value(&[]), dom, t_mca),
    })
}

/// The step's forward pass over the first `b` samples of each batch: concatenated and shuffled
/// by one permutation of (seed, epoch, step) when both take the same shape, else each half
/// shuffled and forwarded alone. Returns the samples in the order forwarded, which of them are
/// the source's, and their (logits, features).
///
/// # Errors
/// As [`forward`].
fn forward_both(
    model: &Recognizer,
    source: &Batch,
    target: &Batch,
    b: usize,
    fp16: bool,
    (seed, epoch, step): (u64, usize, usize),
) -> Result<(Half, Vec<bool>, (Tensor, Tensor))> {
    let (s, t) = (Half::of(source, b, model), Half::of(target, b, model));
    let mut rng = super::sample_rng(seed ^ PERMUTATION_SALT, epoch as u64, step as u64);
    if s.x.size() == t.x.size() {
        let perm = permutation(2 * b, &mut rng);
        let all = Half::cat(s, t).permuted(&perm);
        let out = forward(model, &all, fp16)?;
        return Ok((all, perm.iter().map(|&i| i < b).collect(), out));
    }
    let (s, t) = (s.permuted(&permutation(b, &mut rng)), t.permuted(&permutation(b, &mut rng)));
    let ((ls, fs), (lt, ft)) = (forward(model, &s, fp16)?, forward(model, &t, fp16)?);
    Ok((Half::cat(s, t), [vec![true; b], vec![false; b]].concat(), (Tensor::cat(&[ls, lt], 0), Tensor::cat(&[fs, ft], 0))))
}

/// (logits, features) of one forward pass in train mode, one row per sample.
///
/// # Errors
/// The model fails, gives no features, or not one row per sample (several views per sample
/// while training).
fn forward(model: &Recognizer, h: &Half, fp16: bool) -> Result<(Tensor, Tensor)> {
    let out = tch::autocast(fp16, || model.forward_t(&h.x, &h.images, true))?;
    if out.views.iter().any(|&v| v != 1) {
        bail!("two-domain training takes one view per sample (one clip, one crop), got {:?} per sample", out.views);
    }
    let features = match out.features {
        Some(f) => f.to_kind(tch::Kind::Float),
        None if !model.has_domain_classifier() => Tensor::zeros([h.samples.len() as i64, 1], (tch::Kind::Float, model.device())),
        None => bail!("the model gives no features for the domain classifier"),
    };
    Ok((out.logits.to_kind(tch::Kind::Float), features))
}
