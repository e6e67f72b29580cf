//! Optimizers and learning-rate schedules for training built-in models, with mmaction2's parameter
//! groups. Written over tch tensors (not libtorch's optimizers) so their state — momentum and Adam
//! moments — can be checkpointed and restored exactly (`--resume-from`).
//!
//! Parameter groups (mmaction2 `TSMOptimizerConstructor` when `fc_lr5`): conv weights lr, decay;
//! norm-layer parameters lr, no decay; fc weight 5·lr, decay; fc bias 10·lr, no decay. Otherwise
//! every parameter gets lr and decay, except norm layers and biases when `no_decay_norm_bias`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use tch::{Kind, Tensor};

use super::amp::GradScaler;
use super::{Optimizer, Schedule, TrainSection, Warmup};

/// One trained parameter with its group's multipliers.
struct Param {
    name: String,
    tensor: Tensor,
    lr_mult: f64,
    decay_mult: f64,
}

/// SGD (momentum, Nesterov, weight decay as in `torch.optim.SGD`) or AdamW
/// (`torch.optim.AdamW`, eps 1e-8), over named parameters.
pub struct Optim {
    cfg: Optimizer,
    params: Vec<Param>,
    /// Per-parameter state: SGD `momentum_buffer`; AdamW `exp_avg`, `exp_avg_sq`.
    state: BTreeMap<String, Tensor>,
    /// Steps taken (AdamW bias correction; saved with the state).
    steps: i64,
    /// Loss scaling for float16 training (saved with the state).
    scaler: Option<GradScaler>,
}

/// The (lr, weight decay) multipliers of parameter `name` under `cfg`.
fn group_of(name: &str, cfg: &Optimizer) -> (f64, f64) {
    let norm = name.contains(".bn.");
    let bias = name.ends_with(".bias");
    let fc = name.starts_with("cls_head.fc_cls.");
    let (fc_lr5, no_decay) = match cfg {
        Optimizer::SGD { fc_lr5, no_decay_norm_bias, .. } => (*fc_lr5, *no_decay_norm_bias),
        Optimizer::AdamW { no_decay_norm_bias, .. } => (false, *no_decay_norm_bias),
    };
    if fc_lr5 {
        return match (fc, bias, norm) {
            (true, false, _) => (5.0, 1.0),
            (true, true, _) => (10.0, 0.0),
            (_, _, true) => (1.0, 0.0),
            (false, true, false) => (2.0, 0.0),
            _ => (1.0, 1.0),
        };
    }
    (1.0, if no_decay && (norm || bias) { 0.0 } else { 1.0 })
}

impl Optim {
    /// An optimizer over the trainable (`requires_grad`) tensors of `vars`, grouped by name.
    pub fn new(cfg: &Optimizer, vars: &HashMap<String, Tensor>) -> Self {
        let mut names: Vec<&String> = vars.keys().filter(|n| vars[*n].requires_grad()).collect();
        names.sort();
        let params = names
            .into_iter()
            .map(|n| {
                let (lr_mult, decay_mult) = group_of(n, cfg);
                Param { name: n.clone(), tensor: vars[n].shallow_clone(), lr_mult, decay_mult }
            })
            .collect();
        Optim { cfg: cfg.clone(), params, state: BTreeMap::new(), steps: 0, scaler: None }
    }

    /// Scales the loss in [`Self::backward`] and unscales gradients in [`Self::unscale`]
    /// (float16 training).
    pub fn with_loss_scaling(mut self, scaler: GradScaler) -> Self {
        self.scaler = Some(scaler);
        self
    }

    /// The current loss scale, when loss scaling is on.
    pub fn loss_scale(&self) -> Option<f64> {
        self.scaler.as_ref().map(|s| s.scale)
    }

    /// Back-propagates `loss` (multiplied by the loss scale when scaling is on).
    pub fn backward(&self, loss: &Tensor) {
        match &self.scaler {
            Some(s) => s.scale_loss(loss).backward(),
            None => loss.backward(),
        }
    }

    /// Divides the gradients by the loss scale (before clipping, as `GradScaler.unscale_`).
    /// Returns `false` when a gradient is inf or NaN: [`Self::step`] then skips the update.
    pub fn unscale(&mut self) -> bool {
        let Some(s) = self.scaler.as_mut() else { return true };
        let mut grads: Vec<Tensor> = self.params.iter().map(|p| p.tensor.grad()).filter(|g| g.defined()).collect();
        s.unscale(&mut grads)
    }

    /// The configured base learning rate.
    pub fn base_lr(&self) -> f64 {
        match self.cfg {
            Optimizer::SGD { lr, .. } | Optimizer::AdamW { lr, .. } => lr,
        }
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.tensor.zero_grad();
        }
    }

    /// Scales gradients so their global L2 norm is at most `max` (`clip_grad_norm_`); returns the
    /// norm before clipping.
    pub fn clip_grad_norm(&self, max: f64) -> f64 {
        let _g = tch::no_grad_guard();
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.tensor.grad()).filter(|g| g.defined()).collect();
        let total = grads.iter().map(|g| g.pow_tensor_scalar(2).sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
        let coef = max / (total + 1e-6);
        if coef < 1.0 {
            for mut g in grads {
                let _ = g.g_mul_scalar_(coef);
            }
        }
        total
    }

    /// One update with learning rate `lr` (before group multipliers). With loss scaling, an
    /// overflowed step (see [`Self::unscale`]) changes no parameter and adjusts the scale; returns
    /// whether the parameters were updated.
    pub fn step(&mut self, lr: f64) -> bool {
        if let Some(s) = self.scaler.as_mut() {
            s.update();
            if s.found_inf {
                return false;
            }
        }
        self.update(lr);
        true
    }

    fn update(&mut self, lr: f64) {
        let _g = tch::no_grad_guard();
        self.steps += 1;
        for p in &mut self.params {
            let grad = p.tensor.grad();
            if !grad.defined() {
                continue;
            }
            let lr = lr * p.lr_mult;
            match self.cfg {
                Optimizer::SGD { momentum, weight_decay, nesterov, .. } => {
                    let wd = weight_decay * p.decay_mult;
                    let mut d = if wd != 0.0 { &grad + &p.tensor * wd } else { grad };
                    if momentum != 0.0 {
                        let buf = match self.state.get_mut(&p.name) {
                            Some(b) => {
                                let _ = b.g_mul_scalar_(momentum).g_add_(&d);
                                b.shallow_clone()
                            }
                            None => {
                                let b = d.copy();
                                self.state.insert(p.name.clone(), b.shallow_clone());
                                b
                            }
                        };
                        d = if nesterov { d + buf * momentum } else { buf };
                    }
                    let _ = p.tensor.g_sub_(&(d * lr));
                }
                Optimizer::AdamW { weight_decay, betas, .. } => {
                    let wd = weight_decay * p.decay_mult;
                    if wd != 0.0 {
                        let _ = p.tensor.g_mul_scalar_(1.0 - lr * wd);
                    }
                    let (m_key, v_key) = (format!("exp_avg.{}", p.name), format!("exp_avg_sq.{}", p.name));
                    let m = self.state.entry(m_key).or_insert_with(|| grad.zeros_like());
                    let _ = m.g_mul_scalar_(betas[0]).g_add_(&(&grad * (1.0 - betas[0])));
                    let m = m.shallow_clone();
                    let v = self.state.entry(v_key).or_insert_with(|| grad.zeros_like());
                    let _ = v.g_mul_scalar_(betas[1]).g_add_(&(grad.pow_tensor_scalar(2) * (1.0 - betas[1])));
                    let v = v.shallow_clone();
                    let (bc1, bc2) = (1.0 - betas[0].powi(self.steps as i32), 1.0 - betas[1].powi(self.steps as i32));
                    let update = (m / bc1) / ((v / bc2).sqrt() + 1e-8);
                    let _ = p.tensor.g_sub_(&(update * lr));
                }
            }
        }
    }

    /// Writes the state (buffers by parameter name, and the step count) as `.safetensors`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = self.state.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect();
        named.push(("steps".into(), Tensor::from_slice(&[self.steps])));
        if let Some(s) = &self.scaler {
            named.push(("amp.scale".into(), Tensor::from_slice(&[s.scale])));
            named.push(("amp.growth_tracker".into(), Tensor::from_slice(&[s.growth_tracker])));
        }
        Tensor::write_safetensors(&named, path).map_err(|e| anyhow!("writing optimizer state {}: {e}", path.display()))
    }

    /// Restores state written by [`Self::save`].
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let named = Tensor::read_safetensors(path).map_err(|e| anyhow!("reading optimizer state {}: {e}", path.display()))?;
        self.state.clear();
        for (k, v) in named {
            if k == "steps" {
                self.steps = v.int64_value(&[0]);
            } else if let Some(a) = k.strip_prefix("amp.") {
                if let Some(s) = self.scaler.as_mut() {
                    match a {
                        "scale" => s.scale = v.double_value(&[0]),
                        _ => s.growth_tracker = v.int64_value(&[0]),
                    }
                }
            } else {
                let device = self.params.first().map_or(tch::Device::Cpu, |p| p.tensor.device());
                self.state.insert(k, v.to_device(device));
            }
        }
        Ok(())
    }
}

/// Learning rate at `epoch` (0-based) and iteration `iter` within it (0-based), with
/// `iters_per_epoch` iterations per epoch: warm-up factor × schedule factor × `base_lr`. Schedules
/// by epoch use the epoch index; by iteration the global iteration.
pub fn lr_at(t: &TrainSection, base_lr: f64, epoch: usize, iter: usize, iters_per_epoch: usize) -> f64 {
    let global = (epoch * iters_per_epoch + iter) as f64;
    let total_iters = (t.epochs * iters_per_epoch).max(1) as f64;
    let sched = match &t.lr_schedule {
        None => base_lr,
        Some(Schedule::MultiStep { milestones, gamma, by_epoch }) => {
            let now = if *by_epoch { epoch } else { epoch * iters_per_epoch + iter };
            base_lr * gamma.powi(milestones.iter().filter(|&&m| now >= m).count() as i32)
        }
        Some(Schedule::CosineAnnealing { eta_min, by_epoch, t_max, begin }) => {
            let (now, total) = if *by_epoch { (epoch as f64, t.epochs.max(1) as f64) } else { (global, total_iters) };
            let (now, total) = (now - *begin as f64, t_max.map_or(total - *begin as f64, |m| m as f64).max(1.0));
            if now < 0.0 {
                base_lr
            } else {
                eta_min + (base_lr - eta_min) * (1.0 + (std::f64::consts::PI * now / total).cos()) / 2.0
            }
        }
    };
    let warm = match &t.warmup {
        Some(Warmup::LinearLR { start_factor, length, by_epoch }) => {
            let (now, len) = if *by_epoch {
                (epoch as f64 + iter as f64 / iters_per_epoch.max(1) as f64, *length as f64)
            } else {
                (global, *length as f64)
            };
            if now < len {
                start_factor + (1.0 - start_factor) * now / len.max(1e-9)
            } else {
                1.0
            }
        }
        None => 1.0,
    };
    sched * warm
}

/// Checks that `path` exists, for messages naming the checkpoint part that is missing.
pub fn require(path: &Path, what: &str) -> Result<()> {
    path.is_file().then_some(()).with_context(|| format!("{what} {} not found", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_yaml;

    fn train(yaml: &str) -> TrainSection {
        parse_yaml(yaml).unwrap()
    }

    #[test]
    fn tsm_fc_lr5_groups() {
        let cfg = Optimizer::SGD { lr: 0.01, momentum: 0.9, weight_decay: 1e-4, nesterov: false, fc_lr5: true, no_decay_norm_bias: false };
        assert_eq!(group_of("backbone.layer1.0.conv1.net.conv.weight", &cfg), (1.0, 1.0));
        assert_eq!(group_of("backbone.layer1.0.conv1.net.bn.weight", &cfg), (1.0, 0.0));
        assert_eq!(group_of("cls_head.fc_cls.weight", &cfg), (5.0, 1.0));
        assert_eq!(group_of("cls_head.fc_cls.bias", &cfg), (10.0, 0.0));
        let plain =
            Optimizer::SGD { lr: 0.01, momentum: 0.9, weight_decay: 1e-4, nesterov: false, fc_lr5: false, no_decay_norm_bias: true };
        assert_eq!(group_of("cls_head.fc_cls.bias", &plain), (1.0, 0.0));
        assert_eq!(group_of("cls_head.fc_cls.weight", &plain), (1.0, 1.0));
    }

    #[test]
    fn sgd_matches_torch_formula() {
        // p = 1, grad = 2 each step, momentum 0.9, wd 0.1, lr 0.1:
        // d1 = 2 + 0.1 = 2.1, buf = 2.1, p = 0.79; d2 = 2 + 0.079 = 2.079, buf = 0.9·2.1 + 2.079 = 3.969, p = 0.3931.
        let p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let vars = HashMap::from([("w".to_string(), p.shallow_clone())]);
        let cfg = Optimizer::SGD { lr: 0.1, momentum: 0.9, weight_decay: 0.1, nesterov: false, fc_lr5: false, no_decay_norm_bias: false };
        let mut o = Optim::new(&cfg, &vars);
        for _ in 0..2 {
            o.zero_grad();
            (&p * 2.0).sum(Kind::Float).backward();
            o.step(0.1);
        }
        assert!((p.double_value(&[0]) - 0.3931).abs() < 1e-6, "{}", p.double_value(&[0]));
    }

    #[test]
    fn loss_scaling_steps_as_unscaled_and_skips_overflow() {
        let cfg = Optimizer::SGD { lr: 0.1, momentum: 0.9, weight_decay: 0.1, nesterov: false, fc_lr5: false, no_decay_norm_bias: false };
        let run = |loss_of: &dyn Fn(&Tensor) -> Tensor, scaled: bool| {
            let p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
            let vars = HashMap::from([("w".to_string(), p.shallow_clone())]);
            let mut o = Optim::new(&cfg, &vars);
            if scaled {
                o = o.with_loss_scaling(GradScaler::new(&super::super::LossScale::Static(1024.0)));
            }
            o.zero_grad();
            o.backward(&loss_of(&p));
            let finite = o.unscale();
            (finite, o.step(0.1), p.double_value(&[0]))
        };
        let quadratic = |p: &Tensor| (p * 2.0).sum(Kind::Float);
        let (plain, scaled) = (run(&quadratic, false), run(&quadratic, true));
        assert_eq!(scaled.0, true);
        assert!((plain.2 - 0.79).abs() < 1e-6 && (scaled.2 - plain.2).abs() < 1e-6, "{plain:?} {scaled:?}");
        let overflow = |p: &Tensor| (p * f64::INFINITY).sum(Kind::Float);
        assert_eq!(run(&overflow, true), (false, false, 1.0), "an overflowed step must leave the parameter");
    }

    #[test]
    fn clip_grad_norm_scales_to_max() {
        let p = Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true);
        let vars = HashMap::from([("w".to_string(), p.shallow_clone())]);
        let o = Optim::new(&Optimizer::AdamW { lr: 0.1, weight_decay: 0.0, betas: [0.9, 0.999], no_decay_norm_bias: false }, &vars);
        (&p * Tensor::from_slice(&[3.0f32, 4.0])).sum(Kind::Float).backward();
        assert!((o.clip_grad_norm(1.0) - 5.0).abs() < 1e-9);
        let g = Vec::<f32>::try_from(p.grad()).unwrap();
        assert!((g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5, "{g:?}");
    }

    #[test]
    fn schedules_and_warmup() {
        let t = train("epochs: 25\noptimizer: {type: SGD, lr: 0.1}\nlr_schedule: {type: MultiStep, milestones: [10, 20]}\n");
        let got = [0, 9, 10, 19, 20].map(|e| lr_at(&t, 0.1, e, 0, 5));
        for (g, w) in got.iter().zip([0.1, 0.1, 0.01, 0.01, 0.001]) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        let c = train("epochs: 10\noptimizer: {type: SGD, lr: 1.0}\nlr_schedule: {type: CosineAnnealing}\n");
        assert!((lr_at(&c, 1.0, 5, 0, 1) - 0.5).abs() < 1e-12 && lr_at(&c, 1.0, 0, 0, 1) == 1.0);
        // T_max shorter than the run: torch 2.11's CosineAnnealingLR(T_max=4, eta_min=0.1) gave
        // these lrs for epochs 0..10 (the cosine goes on past T_max).
        let torch = [
            1.0,
            0.8681980515339464,
            0.55,
            0.23180194846605368,
            0.1,
            0.2318019484660536,
            0.55,
            0.8681980515339467,
            1.0,
            0.8681980515339468,
        ];
        let c = train("epochs: 10\noptimizer: {type: SGD, lr: 1.0}\nlr_schedule: {type: CosineAnnealingLR, T_max: 4, eta_min: 0.1}\n");
        for (e, want) in torch.iter().enumerate() {
            assert!((lr_at(&c, 1.0, e, 0, 1) - want).abs() < 1e-12, "epoch {e}");
        }
        // mmengine's `begin`: the base lr until then, the cosine from there.
        let c =
            train("epochs: 10\noptimizer: {type: SGD, lr: 1.0}\nlr_schedule: {type: CosineAnnealing, T_max: 4, eta_min: 0.1, begin: 2}\n");
        assert!(lr_at(&c, 1.0, 1, 0, 1) == 1.0 && (lr_at(&c, 1.0, 4, 0, 1) - 0.55).abs() < 1e-12);
        let w = train("epochs: 10\noptimizer: {type: SGD, lr: 1.0}\nwarmup: {type: LinearLR, start_factor: 0.1, length: 10}\n");
        assert!((lr_at(&w, 1.0, 0, 0, 100) - 0.1).abs() < 1e-12);
        assert!((lr_at(&w, 1.0, 0, 5, 100) - 0.55).abs() < 1e-12);
        assert_eq!(lr_at(&w, 1.0, 0, 10, 100), 1.0);
    }
}
