//! Loss scaling for mixed-precision (float16 autocast) training on CUDA: mmaction2 0.x
//! `fp16 = dict(loss_scale=…)` with the update rule of `torch.cuda.amp.GradScaler` (by default
//! init 2¹⁶, growth ×2 after 2000 finite steps, back-off ×0.5 on an overflow, overflowed steps
//! skipped).

use tch::{Kind, Tensor};

use super::{DynamicScale, LossScale};

/// Scales the loss before backward and unscales the gradients before the update, skipping
/// updates whose gradients overflowed.
#[derive(Clone, Debug, PartialEq)]
pub struct GradScaler {
    /// Current loss scale.
    pub scale: f64,
    /// How the scale adapts (`None`: it stays fixed).
    pub dynamic: Option<DynamicScale>,
    /// Finite steps since the last change of a dynamic scale.
    pub growth_tracker: i64,
    /// Whether the last [`Self::unscale`] found an inf or NaN gradient.
    pub found_inf: bool,
}

impl GradScaler {
    /// A scaler as configured: `dynamic` starts at 65536, a number stays at that value, settings
    /// start at their `init_scale`.
    pub fn new(cfg: &LossScale) -> Self {
        let (scale, dynamic) = match cfg {
            LossScale::Dynamic(_) => (65536.0, Some(DynamicScale::default())),
            LossScale::Settings(d) => (d.init_scale, Some(*d)),
            LossScale::Static(s) => (*s, None),
        };
        GradScaler { scale, dynamic, growth_tracker: 0, found_inf: false }
    }

    /// `loss · scale`, the tensor to call `backward` on.
    pub fn scale_loss(&self, loss: &Tensor) -> Tensor {
        loss * self.scale
    }

    /// Divides every gradient by the scale in place and records whether any is inf or NaN
    /// (one device sync for all of them). Returns `true` when all are finite.
    pub fn unscale(&mut self, grads: &mut [Tensor]) -> bool {
        let _g = tch::no_grad_guard();
        let mut bad: Option<Tensor> = None;
        for g in grads.iter_mut() {
            let n = g.isfinite().logical_not().sum(Kind::Int64);
            bad = Some(match bad {
                Some(b) => b + n,
                None => n,
            });
            let _ = g.g_mul_scalar_(1.0 / self.scale);
        }
        self.found_inf = bad.is_some_and(|b| b.int64_value(&[]) > 0);
        !self.found_inf
    }

    /// After a step: multiplies a dynamic scale by `backoff_factor` when the step overflowed,
    /// by `growth_factor` after `growth_interval` finite steps in a row.
    pub fn update(&mut self) {
        let Some(d) = self.dynamic else { return };
        if self.found_inf {
            self.scale *= d.backoff_factor;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker >= d.growth_interval {
                self.scale *= d.growth_factor;
                self.growth_tracker = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DynamicName;

    #[test]
    fn overflow_skips_and_backs_off_finite_steps_grow() {
        let mut s = GradScaler::new(&LossScale::Dynamic(DynamicName::Dynamic));
        assert_eq!(s.scale, 65536.0);
        let mut grads = vec![Tensor::from_slice(&[65536.0f32, -131072.0]), Tensor::from_slice(&[f32::INFINITY])];
        assert!(!s.unscale(&mut grads));
        assert_eq!(Vec::<f32>::try_from(&grads[0]).unwrap(), [1.0, -2.0]);
        s.update();
        assert_eq!((s.scale, s.growth_tracker), (32768.0, 0));
        for _ in 0..2000 {
            assert!(s.unscale(&mut [Tensor::from_slice(&[1.0f32])]));
            s.update();
        }
        assert_eq!(s.scale, 65536.0);
        let mut fixed = GradScaler::new(&LossScale::Static(512.0));
        assert!(!fixed.unscale(&mut [Tensor::from_slice(&[f32::NAN])]));
        fixed.update();
        assert_eq!(fixed.scale, 512.0);
        let quick = DynamicScale { init_scale: 8.0, growth_interval: 3, ..DynamicScale::default() };
        let mut s = GradScaler::new(&LossScale::Settings(quick));
        let scales: Vec<f64> = [true, true, false, true, true, true]
            .iter()
            .map(|&finite| {
                s.unscale(&mut [Tensor::from_slice(&[if finite { 1.0f32 } else { f32::INFINITY }])]);
                s.update();
                s.scale
            })
            .collect();
        assert_eq!(scales, [8.0, 8.0, 4.0, 4.0, 4.0, 8.0], "an overflow resets the count of finite steps");
    }
}
