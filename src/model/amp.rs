//! Loss scaling for mixed-precision (float16 autocast) training on CUDA: mmaction2 0.x
//! `fp16 = dict(loss_scale=…)` with the update rule of `torch.cuda.amp.GradScaler` (init 2¹⁶,
//! growth ×2 after 2000 finite steps, back-off ×0.5 on an overflow, overflowed steps skipped).

use tch::{Kind, Tensor};

use super::LossScale;

/// Finite steps before a dynamic scale doubles (`GradScaler(growth_interval=2000)`).
pub const GROWTH_INTERVAL: i64 = 2000;

/// Scales the loss before backward and unscales the gradients before the update, skipping
/// updates whose gradients overflowed.
#[derive(Clone, Debug, PartialEq)]
pub struct GradScaler {
    /// Current loss scale.
    pub scale: f64,
    /// Whether the scale adapts (`loss_scale: dynamic`) or stays fixed (a number).
    pub dynamic: bool,
    /// Finite steps since the last change of a dynamic scale.
    pub growth_tracker: i64,
    /// Whether the last [`Self::unscale`] found an inf or NaN gradient.
    pub found_inf: bool,
}

impl GradScaler {
    /// A scaler as configured: `dynamic` starts at 65536, a number stays at that value.
    pub fn new(cfg: &LossScale) -> Self {
        let (scale, dynamic) = match cfg {
            LossScale::Dynamic(_) => (65536.0, true),
            LossScale::Static(s) => (*s, false),
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

    /// After a step: halves a dynamic scale when the step overflowed, doubles it after
    /// [`GROWTH_INTERVAL`] finite steps in a row.
    pub fn update(&mut self) {
        if !self.dynamic {
            return;
        }
        if self.found_inf {
            self.scale *= 0.5;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker == GROWTH_INTERVAL {
                self.scale *= 2.0;
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
        for _ in 0..GROWTH_INTERVAL {
            assert!(s.unscale(&mut [Tensor::from_slice(&[1.0f32])]));
            s.update();
        }
        assert_eq!(s.scale, 65536.0);
        let mut fixed = GradScaler::new(&LossScale::Static(512.0));
        assert!(!fixed.unscale(&mut [Tensor::from_slice(&[f32::NAN])]));
        fixed.update();
        assert_eq!(fixed.scale, 512.0);
    }
}
