//! CDAR's DANN neck `DomainClassifier` (repository `Haawron/mmaction2`, branch `ariel`,
//! `mmaction/models/necks/domain_classifier.py`; semantics §11): per clip, the backbone's
//! features averaged over segments and space → gradient reversal → an MLP that tells source
//! from target. The backbone learns to make the domains indistinguishable.
//!
//! ```text
//! features (N, in_channels) ─▶ GRL ─▶ [Linear(·, hidden_dim), Dropout(p), ReLU] × num_layers ─▶ Linear(hidden_dim, 1) ─▶ score (N)
//! loss_dom = loss_weight · BCEWithLogits(score, 1 for source / 0 for target);  acc_dom = mean((score > 0) == label)
//! ```
//! Parameters keep CDAR's state_dict names, `neck.fc_domain.{i}.0.{weight,bias}` (its
//! `get_fc_block_by_channels` blocks are `Sequential(Linear, Identity, Dropout, ReLU)`), and
//! PyTorch's default `nn.Linear` initialisation (CDAR defines `init_weights` with std 0.001, but
//! the recogniser never calls a neck's: semantics §11).

use anyhow::{bail, Result};
use serde::Deserialize;
use tch::{nn, Kind, Tensor};

/// `model.neck`: the modules between backbone and head, mmaction2's `neck=dict(type=…)`.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum NeckConfig {
    /// CDAR's DANN domain classifier on the clip features, trained through gradient reversal.
    DomainClassifier(DomainClassifierConfig),
}

/// CDAR `DomainClassifier`'s parameters (its defaults).
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainClassifierConfig {
    /// Feature width of the backbone (2048 for ResNet-50, 512 for ResNet-18); checked against
    /// the model's.
    pub in_channels: i64,
    /// Hidden Linear → Dropout → ReLU blocks (default 4).
    #[serde(default = "four")]
    pub num_layers: usize,
    /// Width of the hidden layers (default 4096).
    #[serde(default = "hidden")]
    pub hidden_dim: i64,
    /// Dropout probability after each hidden Linear while training (default 0.5).
    #[serde(default = "half")]
    pub dropout_ratio: f64,
    /// Factor of `loss_dom` (default 1; CDAR's configs also use 0.5, 2 and 0.001).
    #[serde(default = "one")]
    pub loss_weight: f64,
    /// Accepted for CDAR configs: `TSM` or `TimeSformer` tells CDAR how to pool; vpipe's models
    /// hand the neck clip features already pooled.
    pub backbone: Option<String>,
    /// Accepted for CDAR configs (the TSM's `num_segments`, which the model already knows).
    pub num_segments: Option<usize>,
}

fn four() -> usize {
    4
}
fn hidden() -> i64 {
    4096
}
fn half() -> f64 {
    0.5
}
fn one() -> f64 {
    1.0
}

impl DomainClassifierConfig {
    /// Checks the numbers against the model's feature width `width`.
    ///
    /// # Errors
    /// `in_channels` is not `width`; a layer count or width out of range; a dropout outside
    /// [0, 1); a negative or non-finite loss weight. The message names the key.
    pub fn check(&self, width: i64) -> Result<()> {
        if self.in_channels != width {
            bail!("`model.neck.in_channels` is {}, the backbone's features have {width} channels", self.in_channels);
        }
        crate::config::limits::check("model.neck.num_layers", self.num_layers, 0..=16)?;
        crate::config::limits::check("model.neck.hidden_dim", self.hidden_dim, 1..=65536)?;
        crate::config::limits::check_unit_open("model.neck.dropout_ratio", self.dropout_ratio)?;
        crate::config::limits::check_non_negative("model.neck.loss_weight", self.loss_weight)?;
        Ok(())
    }
}

/// The built neck.
#[derive(Debug)]
pub struct DomainClassifier {
    layers: Vec<nn::Linear>,
    dropout: f64,
    loss_weight: f64,
}

/// What the domain classifier says of one batch.
#[derive(Debug)]
pub struct DomainLoss {
    /// `loss_weight` · mean BCE with logits (a scalar that carries gradients).
    pub loss: Tensor,
    /// Fraction of samples whose domain the classifier got right (`score > 0` ⇔ source).
    pub acc: f64,
}

/// Gradient reversal: `x` in the forward pass, −1 × the incoming gradient in the backward pass
/// (CDAR `GradReverse`, coefficient fixed at 1). `(2x).detach() − x` is exactly `x` in floating
/// point (2x is exact and Sterbenz's lemma makes the difference exact), and only `−x` carries a
/// gradient.
pub fn grad_reverse(x: &Tensor) -> Tensor {
    (x * 2.0).detach() - x
}

impl DomainClassifier {
    /// Builds the MLP under `path` (`neck`), PyTorch's default init: weights and biases
    /// ~ U(−1/√fan_in, 1/√fan_in) (`nn.Linear.reset_parameters`).
    pub fn new(path: &nn::Path, cfg: &DomainClassifierConfig) -> Self {
        let widths: Vec<i64> =
            std::iter::once(cfg.in_channels).chain(std::iter::repeat_n(cfg.hidden_dim, cfg.num_layers)).chain([1]).collect();
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let bound = 1.0 / (w[0] as f64).sqrt();
                let init = nn::Init::Uniform { lo: -bound, up: bound };
                let lc = nn::LinearConfig { ws_init: init, bs_init: Some(init), bias: true };
                nn::linear(path / "fc_domain" / i.to_string() / "0", w[0], w[1], lc)
            })
            .collect();
        DomainClassifier { layers, dropout: cfg.dropout_ratio, loss_weight: cfg.loss_weight }
    }

    /// The domain logits `(N)` of clip features `(N, in_channels)`, through gradient reversal
    /// when `reverse` (DANN; without: the plain classifier, whose gradient the backbone would
    /// follow to help it); `train` switches dropout on.
    pub fn score(&self, features: &Tensor, train: bool, reverse: bool) -> Tensor {
        let last = self.layers.len() - 1;
        let mut x = if reverse { grad_reverse(features) } else { features.shallow_clone() };
        for (i, l) in self.layers.iter().enumerate() {
            x = x.apply(l);
            if i < last {
                x = x.dropout(self.dropout, train).relu();
            }
        }
        x.squeeze_dim(1)
    }

    /// `loss_dom` and `acc_dom` of clip features `(N, in_channels)` whose domains are
    /// `is_source` (N flags; source is label 1, target 0), in train mode, through gradient
    /// reversal when `reverse` ([`Self::score`]).
    ///
    /// # Errors
    /// `is_source` does not have one flag per feature row.
    pub fn loss(&self, features: &Tensor, is_source: &[bool], reverse: bool) -> Result<DomainLoss> {
        let n = features.size()[0];
        if n != is_source.len() as i64 {
            bail!("domain classifier: {n} feature rows for {} domain flags", is_source.len());
        }
        let labels: Vec<f32> = is_source.iter().map(|&s| s as u8 as f32).collect();
        let y = Tensor::from_slice(&labels).to_device(features.device());
        let score = self.score(&features.to_kind(Kind::Float), true, reverse);
        let bce = score.binary_cross_entropy_with_logits::<Tensor>(&y, None, None, tch::Reduction::Mean);
        let acc = score.gt(0.0).to_kind(Kind::Float).eq_tensor(&y).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        Ok(DomainLoss { loss: bce * self.loss_weight, acc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grad_reverse_is_identity_forward_and_negates_the_gradient() {
        let x = Tensor::from_slice(&[0.1f32, -3.5, 1e-30, 7.25e10]).set_requires_grad(true);
        let y = grad_reverse(&x);
        assert!(y.equal(&x.detach()), "forward must be bit-exact");
        let w = Tensor::from_slice(&[1.0f32, 2.0, -3.0, 0.5]);
        (&y * &w).sum(Kind::Float).backward();
        assert!(x.grad().equal(&(-w)));
    }

    #[test]
    fn layers_follow_cdars_names_and_shapes() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let cfg = DomainClassifierConfig {
            in_channels: 16,
            num_layers: 2,
            hidden_dim: 8,
            dropout_ratio: 0.5,
            loss_weight: 1.0,
            backbone: None,
            num_segments: None,
        };
        let _ = DomainClassifier::new(&(vs.root() / "neck"), &cfg);
        let mut names: Vec<(String, Vec<i64>)> = vs.variables().into_iter().map(|(k, v)| (k, v.size())).collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("neck.fc_domain.0.0.bias".to_string(), vec![8]),
                ("neck.fc_domain.0.0.weight".to_string(), vec![8, 16]),
                ("neck.fc_domain.1.0.bias".to_string(), vec![8]),
                ("neck.fc_domain.1.0.weight".to_string(), vec![8, 8]),
                ("neck.fc_domain.2.0.bias".to_string(), vec![1]),
                ("neck.fc_domain.2.0.weight".to_string(), vec![1, 8]),
            ]
        );
    }
}
