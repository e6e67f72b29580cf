//! ResNet-18/50 backbones with mmaction2's parameter names (`mmaction/models/backbones/resnet.py`,
//! `resnet_tsm.py`), optionally with TSM's residual temporal shift.
//!
//! Names under the given path: `conv1.conv.weight`, `conv1.bn.{weight,bias,running_mean,running_var}`,
//! `layer{1..4}.{i}.conv{1,2,3}.conv.weight`, `….bn.*`, `….downsample.conv.weight`,
//! `….downsample.bn.*`. With TSM the shifted `conv1` of every block is wrapped as mmaction2's
//! `TemporalShift(net=…)`: `layer1.0.conv1.net.conv.weight`.

use tch::nn::{self, ModuleT};
use tch::Tensor;

/// TSM's temporal shift (mmaction2 `TemporalShift.shift`), on `x` of shape (N·T, C, H, W):
/// channels `[0, fold)` take frame t+1 (zero at t = T−1), `[fold, 2·fold)` take frame t−1 (zero at
/// t = 0), the rest are unchanged; fold = C / `shift_div`. Output has the input's shape.
pub fn temporal_shift(x: &Tensor, num_segments: i64, shift_div: i64) -> Tensor {
    let (nt, c, h, w) = x.size4().expect("temporal_shift input is (N·T, C, H, W)");
    let t = num_segments;
    let x = x.view([nt / t, t, c, h * w]);
    let fold = c / shift_div;
    let zeros = |n: i64| Tensor::zeros([nt / t, 1, n, h * w], (x.kind(), x.device()));
    let left = x.narrow(2, 0, fold);
    let left = Tensor::cat(&[left.narrow(1, 1, t - 1), zeros(fold)], 1);
    let right = x.narrow(2, fold, fold);
    let right = Tensor::cat(&[zeros(fold), right.narrow(1, 0, t - 1)], 1);
    let rest = x.narrow(2, 2 * fold, c - 2 * fold);
    Tensor::cat(&[left, right, rest], 2).view([nt, c, h, w])
}

/// Conv (no bias) + BatchNorm, mmcv's `ConvModule` names `conv` / `bn`.
#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ConvBn {
    fn new(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> Self {
        let cfg = nn::ConvConfig {
            stride,
            padding: k / 2,
            bias: false,
            // mmaction2 `kaiming_init`: normal, fan_out, ReLU gain.
            ws_init: nn::Init::Kaiming {
                dist: nn::init::NormalOrUniform::Normal,
                fan: nn::init::FanInOut::FanOut,
                non_linearity: nn::init::NonLinearity::ReLU,
            },
            ..Default::default()
        };
        ConvBn { conv: nn::conv2d(&p / "conv", cin, cout, k, cfg), bn: nn::batch_norm2d(&p / "bn", cout, Default::default()) }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(&x.apply(&self.conv), train)
    }
}

#[derive(Debug)]
struct Block {
    convs: Vec<ConvBn>, // 2 (BasicBlock) or 3 (Bottleneck)
    downsample: Option<ConvBn>,
    shift: Option<(i64, i64)>,
    /// 1-based stage (`layer1` … `layer4`).
    stage: i64,
}

impl Block {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = match self.shift {
            Some((t, div)) => temporal_shift(x, t, div),
            None => x.shallow_clone(),
        };
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            y = c.forward(&y, train);
            if i < last {
                y = y.relu();
            }
        }
        let identity = match &self.downsample {
            Some(d) => d.forward(x, train),
            None => x.shallow_clone(),
        };
        (y + identity).relu()
    }
}

/// A ResNet backbone: (N, 3, H, W) images → (N, D) globally average-pooled features, D = 512
/// (depth 18) or 2048 (depth 50).
#[derive(Debug)]
pub struct ResNet {
    stem: ConvBn,
    blocks: Vec<Block>,
    /// Feature width D.
    pub out_channels: i64,
    /// Keep every BatchNorm in eval mode (running statistics) while training (`norm_eval`).
    pub norm_eval: bool,
    /// Stages whose BatchNorms stay in eval mode: the stem and `layer1..=frozen_stages` (−1: none);
    /// their parameters are left out of training by the trainer (`frozen_stages`).
    pub frozen_stages: i64,
}

impl ResNet {
    /// Builds a ResNet of `depth` 18 or 50 under `p`; `tsm = Some((num_segments, shift_div))` adds
    /// the residual temporal shift to every block (mmaction2 `shift_place='blockres'`).
    ///
    /// # Errors
    /// `depth` other than 18 or 50.
    pub fn new(p: &nn::Path, depth: u32, tsm: Option<(i64, i64)>) -> anyhow::Result<Self> {
        let (bottleneck, counts): (bool, [usize; 4]) = match depth {
            18 => (false, [2, 2, 2, 2]),
            50 => (true, [3, 4, 6, 3]),
            d => anyhow::bail!("ResNet depth {d} is not supported (18 or 50)"),
        };
        let expansion = if bottleneck { 4 } else { 1 };
        let stem = ConvBn::new(p / "conv1", 3, 64, 7, 2);
        let mut blocks = Vec::new();
        let mut cin = 64;
        for (li, &n) in counts.iter().enumerate() {
            let planes = 64 << li;
            let lp = p / format!("layer{}", li + 1);
            for bi in 0..n {
                let bp = &lp / bi.to_string();
                let stride = if bi == 0 && li > 0 { 2 } else { 1 };
                let cout = planes * expansion;
                // The shifted conv1 is wrapped by TemporalShift, whose module is called `net`.
                let c1 = if tsm.is_some() { &bp / "conv1" / "net" } else { &bp / "conv1" };
                let convs = if bottleneck {
                    vec![
                        ConvBn::new(c1, cin, planes, 1, 1),
                        ConvBn::new(&bp / "conv2", planes, planes, 3, stride),
                        ConvBn::new(&bp / "conv3", planes, cout, 1, 1),
                    ]
                } else {
                    vec![ConvBn::new(c1, cin, planes, 3, stride), ConvBn::new(&bp / "conv2", planes, planes, 3, 1)]
                };
                let downsample = (stride != 1 || cin != cout).then(|| ConvBn::new(&bp / "downsample", cin, cout, 1, stride));
                blocks.push(Block { convs, downsample, shift: tsm, stage: li as i64 + 1 });
                cin = cout;
            }
        }
        Ok(ResNet { stem, blocks, out_channels: cin, norm_eval: false, frozen_stages: -1 })
    }

    /// (N, 3, H, W) → (N, D) pooled features. With TSM, N must be a multiple of `num_segments`
    /// and each run of `num_segments` images is one clip.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let bn_train = |stage: i64| train && !self.norm_eval && stage > self.frozen_stages;
        let mut y = self.stem.forward(x, bn_train(0)).relu().max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for b in &self.blocks {
            y = b.forward(&y, bn_train(b.stage));
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_worked_example_t4_c8() {
        // x[t, c] = 10t + c, T = 4, C = 8, shift_div 8 → fold 1.
        let x = Tensor::from_slice(&(0..32).map(|i| (10 * (i / 8) + i % 8) as f32).collect::<Vec<_>>()).view([4, 8, 1, 1]);
        let y = Vec::<f32>::try_from(temporal_shift(&x, 4, 8).flatten(0, -1)).unwrap();
        let rows: Vec<Vec<f32>> = y.chunks(8).map(|r| r.to_vec()).collect();
        assert_eq!(rows[0], vec![10., 0., 2., 3., 4., 5., 6., 7.]);
        assert_eq!(rows[1], vec![20., 1., 12., 13., 14., 15., 16., 17.]);
        assert_eq!(rows[2], vec![30., 11., 22., 23., 24., 25., 26., 27.]);
        assert_eq!(rows[3], vec![0., 21., 32., 33., 34., 35., 36., 37.]);
    }

    #[test]
    fn resnet50_tsm_uses_mmaction2_names_and_width() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = ResNet::new(&(vs.root() / "backbone"), 50, Some((8, 8))).unwrap();
        assert_eq!(net.out_channels, 2048);
        let names = vs.variables();
        for key in [
            "backbone.conv1.conv.weight",
            "backbone.layer1.0.conv1.net.conv.weight",
            "backbone.layer1.0.conv2.bn.running_var",
            "backbone.layer4.2.conv3.conv.weight",
            "backbone.layer3.0.downsample.conv.weight",
        ] {
            assert!(names.contains_key(key), "missing {key}");
        }
        assert_eq!(names["backbone.layer4.2.conv3.conv.weight"].size(), vec![2048, 512, 1, 1]);
        assert_eq!(names.len(), 53 + 53 * 4); // 53 conv weights, 53 BatchNorms of 4 tensors
    }
}
