//! 3D building blocks shared by the video backbones: bias-free Conv3d with kaiming init, BN3d,
//! and mmcv's `ConvModule` (conv + optional BN + optional ReLU, names `conv` / `bn`).

use tch::nn::{self, ModuleT};
use tch::Tensor;

/// A 3D convolution without bias, kaiming normal init (fan_out, ReLU gain): torchvision's and
/// mmcv's `kaiming_init` for Conv3d.
pub(super) fn conv3d(p: nn::Path, cin: i64, cout: i64, kernel: [i64; 3], stride: [i64; 3], padding: [i64; 3]) -> nn::Conv3D {
    let cfg = nn::ConvConfigND {
        stride,
        padding,
        dilation: [1, 1, 1],
        groups: 1,
        bias: false,
        ws_init: nn::Init::Kaiming {
            dist: nn::init::NormalOrUniform::Normal,
            fan: nn::init::FanInOut::FanOut,
            non_linearity: nn::init::NonLinearity::ReLU,
        },
        bs_init: nn::Init::Const(0.0),
        padding_mode: nn::PaddingMode::Zeros,
    };
    nn::conv(p, cin, cout, kernel, cfg)
}

/// BatchNorm3d (eps 1e-5, momentum 0.1, weight 1, bias 0).
pub(super) fn bn3d(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm3d(p, c, Default::default())
}

/// mmcv `ConvModule` with `Conv3d`: `conv` (no bias), then `bn` when normed, then ReLU when
/// `relu`. Padding is "same" for odd kernels: (k − 1) / 2 per dimension.
#[derive(Debug)]
pub(super) struct ConvModule {
    conv: nn::Conv3D,
    bn: Option<nn::BatchNorm>,
    relu: bool,
}

impl ConvModule {
    pub(super) fn new(p: &nn::Path, cin: i64, cout: i64, kernel: [i64; 3], stride: [i64; 3], norm: bool, relu: bool) -> Self {
        let pad = kernel.map(|k| (k - 1) / 2);
        ConvModule { conv: conv3d(p / "conv", cin, cout, kernel, stride, pad), bn: norm.then(|| bn3d(p / "bn", cout)), relu }
    }

    /// Sets the BN's weight to 0 (mmaction2 `zero_init_residual` on a block's last BN).
    pub(super) fn zero_bn(&mut self) {
        if let Some(bn) = self.bn.as_mut() {
            if let Some(w) = bn.ws.as_mut() {
                tch::no_grad(|| {
                    let _ = w.zero_();
                });
            }
        }
    }

    pub(super) fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        let y = x.apply(&self.conv);
        let y = match &self.bn {
            Some(bn) => bn.forward_t(&y, bn_train),
            None => y,
        };
        if self.relu {
            y.relu()
        } else {
            y
        }
    }
}
