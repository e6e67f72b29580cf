//! mmaction2's 3D ResNet-50 backbones with its state_dict names: `ResNet3d` (I3D) and
//! `ResNet3dSlowFast` (two `ResNet3dPathway`s with lateral connections), from
//! `mmaction/models/backbones/resnet3d.py` and `resnet3d_slowfast.py` (0.x; 1.x is the same).
//!
//! Names under the backbone path (`backbone.` for I3D, `backbone.slow_path.` /
//! `backbone.fast_path.` for SlowFast): `conv1.conv.weight`, `conv1.bn.*`,
//! `layer{1..4}.{i}.conv{1,2,3}.{conv.weight,bn.*}`, `layer{1..4}.0.downsample.{conv.weight,bn.*}`;
//! the slow pathway adds `conv1_lateral.conv.weight` and `layer{1..3}_lateral.conv.weight`.
//! Bottleneck3d, style `pytorch`: conv1 is 3×1×1 (padding 1,0,0) in an inflated block, 1×1×1
//! otherwise; conv2 is 1×3×3 with the block's spatial stride; conv3 1×1×1; a downsample where the
//! spatial stride is not 1 or the channels change. Stem: conv1 `conv1_kernel` with stride
//! (`conv1_stride_t`, 2, 2), max-pool 1×3×3 with stride (`pool1_stride_t`, 2, 2), padding (0,1,1).

use tch::nn;
use tch::Tensor;

use super::layers3d::ConvModule;

/// Blocks per stage of ResNet-50.
const STAGE_BLOCKS: [usize; 4] = [3, 4, 6, 3];

/// One pathway's settings (mmaction2 `ResNet3d` / `ResNet3dPathway` arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct PathwayConfig {
    /// Stem channels (`base_channels`: 64, the fast pathway's 8).
    pub base_channels: i64,
    /// Stem kernel (T, H, W) (`conv1_kernel`).
    pub conv1_kernel: [i64; 3],
    /// Stem temporal stride (`conv1_stride_t`).
    pub conv1_stride_t: i64,
    /// Max-pool temporal stride (`pool1_stride_t`).
    pub pool1_stride_t: i64,
    /// Temporal max-pool 2×1×1 after layer1 (`with_pool2`, I3D only).
    pub with_pool2: bool,
    /// Per stage, per block: inflated (3×1×1 conv1) or not (`inflate`).
    pub inflate: [Vec<bool>; 4],
    /// Lateral inputs from the fast pathway (the slow pathway): (`channel_ratio` β,
    /// `speed_ratio` α, `fusion_kernel`).
    pub lateral: Option<(i64, i64, i64)>,
}

impl PathwayConfig {
    /// mmaction2 `i3d_r50.py` (conv1 5×7×7, `conv1_stride_t` 2, `pool1_stride_t` 2 there),
    /// pool2, inflate ((1,1,1), (1,0,1,0), (1,0,1,0,1,0), (0,1,0)).
    pub fn i3d(conv1_kernel: [i64; 3], conv1_stride_t: i64, pool1_stride_t: i64) -> Self {
        let alt = |n: usize, first: bool| (0..n).map(|i| (i % 2 == 0) == first).collect::<Vec<bool>>();
        PathwayConfig {
            base_channels: 64,
            conv1_kernel,
            conv1_stride_t,
            pool1_stride_t,
            with_pool2: true,
            inflate: [vec![true; 3], alt(4, true), alt(6, true), alt(3, false)],
            lateral: None,
        }
    }

    /// The slow pathway of mmaction2's `ResNet3dSlowFast` default: conv1 1×7×7, no temporal
    /// strides, inflate (0, 0, 1, 1), lateral connections.
    pub fn slow(channel_ratio: i64, speed_ratio: i64) -> Self {
        PathwayConfig {
            base_channels: 64,
            conv1_kernel: [1, 7, 7],
            conv1_stride_t: 1,
            pool1_stride_t: 1,
            with_pool2: false,
            inflate: [vec![false; 3], vec![false; 4], vec![true; 6], vec![true; 3]],
            lateral: Some((channel_ratio, speed_ratio, 5)),
        }
    }

    /// The fast pathway: `base_channels` 64/β, conv1 5×7×7, every block inflated.
    pub fn fast(channel_ratio: i64) -> Self {
        PathwayConfig {
            base_channels: 64 / channel_ratio,
            conv1_kernel: [5, 7, 7],
            conv1_stride_t: 1,
            pool1_stride_t: 1,
            with_pool2: false,
            inflate: STAGE_BLOCKS.map(|n| vec![true; n]),
            lateral: None,
        }
    }
}

#[derive(Debug)]
struct Bottleneck {
    convs: [ConvModule; 3],
    downsample: Option<ConvModule>,
}

impl Bottleneck {
    fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        let mut y = x.shallow_clone();
        for c in &self.convs {
            y = c.forward(&y, bn_train);
        }
        let identity = self.downsample.as_ref().map_or_else(|| x.shallow_clone(), |d| d.forward(x, bn_train));
        (y + identity).relu()
    }
}

/// One mmaction2 `ResNet3d` (pathway): stem, four Bottleneck3d stages, lateral convs.
#[derive(Debug)]
pub struct ResNet3d {
    conv1: ConvModule,
    stages: Vec<Vec<Bottleneck>>,
    /// `conv1_lateral` then `layer{1..3}_lateral` (the slow pathway only).
    laterals: Vec<ConvModule>,
    cfg: PathwayConfig,
    /// Output channels of layer4 (2048 for base 64).
    pub out_channels: i64,
    /// Keep every BatchNorm in eval mode while training (`norm_eval`).
    pub norm_eval: bool,
    /// The stem and `layer1..=frozen_stages` keep BatchNorm statistics (−1: none).
    pub frozen_stages: i64,
}

impl ResNet3d {
    /// Builds the pathway under `p`. `zero_init_residual` zeroes each block's last BN weight
    /// (mmaction2's default; the I3D config turns it off).
    pub fn new(p: &nn::Path, cfg: PathwayConfig, zero_init_residual: bool) -> Self {
        let base = cfg.base_channels;
        let conv1 = ConvModule::new(&(p / "conv1"), 3, base, cfg.conv1_kernel, [cfg.conv1_stride_t, 2, 2], true, true);
        let mut laterals = Vec::new();
        // Lateral fusion: the fast pathway's C/β channels → 2C/β, temporal stride α.
        let lateral = |name: &str, c: i64, (beta, alpha, k): (i64, i64, i64)| {
            ConvModule::new(&(p / name), c / beta, c * 2 / beta, [k, 1, 1], [alpha, 1, 1], false, false)
        };
        if let Some(l) = cfg.lateral {
            laterals.push(lateral("conv1_lateral", base, l));
        }
        let mut stages = Vec::new();
        let mut inplanes = base;
        for (i, &n) in STAGE_BLOCKS.iter().enumerate() {
            let planes = base << i;
            let extra = cfg.lateral.map_or(0, |(beta, _, _)| inplanes * 2 / beta);
            let spatial = if i == 0 { 1 } else { 2 };
            let lp = p / format!("layer{}", i + 1);
            let mut blocks = Vec::new();
            for b in 0..n {
                let bp = &lp / b.to_string();
                let (cin, s) = if b == 0 { (inplanes + extra, spatial) } else { (planes * 4, 1) };
                let k1 = if cfg.inflate[i][b] { [3, 1, 1] } else { [1, 1, 1] };
                let mut convs = [
                    ConvModule::new(&(&bp / "conv1"), cin, planes, k1, [1, 1, 1], true, true),
                    ConvModule::new(&(&bp / "conv2"), planes, planes, [1, 3, 3], [1, s, s], true, true),
                    ConvModule::new(&(&bp / "conv3"), planes, planes * 4, [1, 1, 1], [1, 1, 1], true, false),
                ];
                if zero_init_residual {
                    convs[2].zero_bn();
                }
                let downsample = (b == 0 && (s != 1 || cin != planes * 4))
                    .then(|| ConvModule::new(&(&bp / "downsample"), cin, planes * 4, [1, 1, 1], [1, s, s], true, false));
                blocks.push(Bottleneck { convs, downsample });
            }
            stages.push(blocks);
            inplanes = planes * 4;
            if let (Some(l), true) = (cfg.lateral, i < 3) {
                laterals.push(lateral(&format!("layer{}_lateral", i + 1), inplanes, l));
            }
        }
        ResNet3d { conv1, stages, laterals, out_channels: inplanes, cfg, norm_eval: false, frozen_stages: -1 }
    }

    fn bn_train(&self, train: bool, stage: i64) -> bool {
        train && !self.norm_eval && stage > self.frozen_stages
    }

    /// Stem: conv1 (+BN+ReLU) and the 1×3×3 max-pool.
    fn stem(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.conv1.forward(x, self.bn_train(train, 0));
        y.max_pool3d([1, 3, 3], [self.cfg.pool1_stride_t, 2, 2], [0, 1, 1], [1, 1, 1], false)
    }

    /// Stage `i` (0-based) on `x`, then pool2 after layer1 where configured.
    fn stage(&self, i: usize, x: &Tensor, train: bool) -> Tensor {
        let bn_train = self.bn_train(train, i as i64 + 1);
        let mut y = x.shallow_clone();
        for b in &self.stages[i] {
            y = b.forward(&y, bn_train);
        }
        if i == 0 && self.cfg.with_pool2 {
            y = y.max_pool3d([2, 1, 1], [2, 1, 1], [0, 0, 0], [1, 1, 1], false);
        }
        y
    }

    /// I3D: (N, 3, T, H, W) → layer4's (N, 2048, T', H', W').
    fn forward_maps(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = self.stem(x, train);
        for i in 0..4 {
            y = self.stage(i, &y, train);
        }
        y
    }

    /// I3D backbone + I3DHead pooling: (N, 3, T, H, W) → (N, 2048) spatio-temporal averages.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_maps(x, train).adaptive_avg_pool3d([1, 1, 1]).flatten(1, -1)
    }
}

/// mmaction2 `ResNet3dSlowFast` (R50): one NCTHW clip of T frames; the slow pathway sees every
/// `resample_rate`-th frame (τ), the fast one every (τ/α)-th, by nearest-neighbour temporal
/// resampling as mmaction2's `interpolate(mode='nearest')`; lateral convs fuse fast into slow
/// after the stem and after layers 1–3.
#[derive(Debug)]
pub struct SlowFast {
    slow: ResNet3d,
    fast: ResNet3d,
    /// τ: the slow pathway takes one frame in `resample_rate`.
    pub resample_rate: i64,
    /// α: the fast pathway's frame rate over the slow one's.
    pub speed_ratio: i64,
    /// Pooled feature width: fast (256) + slow (2048) = 2304.
    pub out_channels: i64,
}

/// Frames `[0, s, 2s, …]` of the (N, C, T, H, W) `x`: `interpolate(scale_factor=1/s,
/// mode='nearest')` in time, which keeps ⌊T / s⌋ frames, frame i from index ⌊i·s⌋.
fn every_nth_frame(x: &Tensor, s: i64) -> Tensor {
    let t = x.size()[2];
    let idx: Vec<i64> = (0..t / s).map(|i| i * s).collect();
    x.index_select(2, &Tensor::from_slice(&idx).to_device(x.device()))
}

impl SlowFast {
    /// Builds both pathways under `p / "slow_path"` and `p / "fast_path"`.
    pub fn new(p: &nn::Path, resample_rate: i64, speed_ratio: i64, channel_ratio: i64) -> Self {
        let slow = ResNet3d::new(&(p / "slow_path"), PathwayConfig::slow(channel_ratio, speed_ratio), true);
        let fast = ResNet3d::new(&(p / "fast_path"), PathwayConfig::fast(channel_ratio), true);
        let out_channels = slow.out_channels + fast.out_channels;
        SlowFast { slow, fast, resample_rate, speed_ratio, out_channels }
    }

    /// Sets `norm_eval` and `frozen_stages` on both pathways.
    pub fn set_norms(&mut self, norm_eval: bool, frozen_stages: i64) {
        for p in [&mut self.slow, &mut self.fast] {
            (p.norm_eval, p.frozen_stages) = (norm_eval, frozen_stages);
        }
    }

    /// (N, 3, T, H, W) → (N, 2304): the pooled fast features, then the slow ones, in the order
    /// mmaction2's `SlowFastHead` concatenates them (`cat((x_slow, x_fast))` after unpacking the
    /// backbone's `(slow, fast)` as `x_fast, x_slow`).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut slow = self.slow.stem(&every_nth_frame(x, self.resample_rate), train);
        let mut fast = self.fast.stem(&every_nth_frame(x, (self.resample_rate / self.speed_ratio).max(1)), train);
        let bn = self.slow.bn_train(train, 0);
        slow = Tensor::cat(&[slow, self.slow.laterals[0].forward(&fast, bn)], 1);
        for i in 0..4 {
            slow = self.slow.stage(i, &slow, train);
            fast = self.fast.stage(i, &fast, train);
            if i < 3 {
                let bn = self.slow.bn_train(train, i as i64 + 1);
                slow = Tensor::cat(&[slow, self.slow.laterals[i + 1].forward(&fast, bn)], 1);
            }
        }
        let pool = |t: Tensor| t.adaptive_avg_pool3d([1, 1, 1]).flatten(1, -1);
        Tensor::cat(&[pool(fast), pool(slow)], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i3d_r50_has_mmaction2_names_and_shapes() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = ResNet3d::new(&(vs.root() / "backbone"), PathwayConfig::i3d([5, 7, 7], 2, 2), false);
        let v = vs.variables();
        let shape = |k: &str| v.get(k).unwrap_or_else(|| panic!("missing {k}")).size();
        assert_eq!(shape("backbone.conv1.conv.weight"), [64, 3, 5, 7, 7]);
        assert_eq!(shape("backbone.layer1.0.conv1.conv.weight"), [64, 64, 3, 1, 1]);
        assert_eq!(shape("backbone.layer2.1.conv1.conv.weight"), [128, 512, 1, 1, 1], "inflate (1,0,1,0)");
        assert_eq!(shape("backbone.layer4.0.conv1.conv.weight"), [512, 1024, 1, 1, 1], "inflate (0,1,0)");
        assert_eq!(shape("backbone.layer4.1.conv1.conv.weight"), [512, 2048, 3, 1, 1]);
        assert_eq!(shape("backbone.layer3.0.downsample.conv.weight"), [1024, 512, 1, 1, 1]);
        assert_eq!(net.out_channels, 2048);
        let x = Tensor::randn([1, 3, 8, 32, 32], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(net.forward(&x, false).size(), [1, 2048]);
    }

    #[test]
    fn slowfast_r50_has_mmaction2_names_and_lateral_widths() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = SlowFast::new(&(vs.root() / "backbone"), 8, 8, 8);
        let v = vs.variables();
        let shape = |k: &str| v.get(k).unwrap_or_else(|| panic!("missing {k}")).size();
        assert_eq!(shape("backbone.slow_path.conv1.conv.weight"), [64, 3, 1, 7, 7]);
        assert_eq!(shape("backbone.fast_path.conv1.conv.weight"), [8, 3, 5, 7, 7]);
        assert_eq!(shape("backbone.slow_path.conv1_lateral.conv.weight"), [16, 8, 5, 1, 1]);
        assert_eq!(shape("backbone.slow_path.layer1_lateral.conv.weight"), [64, 32, 5, 1, 1]);
        assert_eq!(shape("backbone.slow_path.layer3_lateral.conv.weight"), [256, 128, 5, 1, 1]);
        assert!(!v.contains_key("backbone.slow_path.layer4_lateral.conv.weight"));
        // The slow stages take the lateral channels too: 64 + 16, 256 + 64, 512 + 128, 1024 + 256.
        assert_eq!(shape("backbone.slow_path.layer1.0.conv1.conv.weight"), [64, 80, 1, 1, 1]);
        assert_eq!(shape("backbone.slow_path.layer4.0.downsample.conv.weight"), [2048, 1280, 1, 1, 1]);
        assert_eq!(shape("backbone.slow_path.layer3.0.conv1.conv.weight"), [256, 640, 3, 1, 1]);
        assert_eq!(shape("backbone.fast_path.layer1.0.conv1.conv.weight"), [8, 8, 3, 1, 1]);
        assert_eq!(net.out_channels, 2304);
        let x = Tensor::randn([1, 3, 16, 32, 32], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(net.forward(&x, false).size(), [1, 2304]);
    }
}
