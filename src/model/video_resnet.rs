//! torchvision's `VideoResNet` backbones (`torchvision/models/video/resnet.py`): R(2+1)D-18/34,
//! R3D-18 and MC3-18, under torchvision's names so its state_dicts load as they are.
//!
//! R3D / MC3: `stem.0.weight` (3→64, 3×7×7, stride 1×2×2, padding 1×3×3), `stem.1.*`; per block
//! `layer{1..4}.{i}.conv{1,2}.0.weight` and `….1.*` (BN): a 3×3×3 conv (`Conv3DSimple`, stride
//! s×s×s) in R3D and MC3's layer1, a 1×3×3 conv (`Conv3DNoTemporal`, stride 1×s×s) in MC3's
//! layers 2–4, whose downsample then strides only in space.
//!
//! R(2+1)D (`r2plus1d_18`) below. Depth 34 is
//! VMZ's `r2plus1d_34` (the Caffe2 model behind the IG-65M / Kinetics R(2+1)D-34 weights, as
//! ig65m-pytorch rebuilds it on torchvision's classes): [3, 4, 6, 3] blocks, the second (2+1)D
//! conv of the first block of layers 2–4 with mid channels from (planes, planes) (288, 576,
//! 1152; VMZ issue 89), and Caffe2's BatchNorm epsilon 1e-3. Names:
//!
//! `stem.0.weight` (3→45, 1×7×7, stride 1×2×2), `stem.1.*` (BN), `stem.3.weight` (45→64, 3×1×1),
//! `stem.4.*`; per block `layer{1..4}.{i}.conv{1,2}.0.0.weight` (spatial 1×3×3, stride 1×s×s),
//! `….0.1.*` (BN of the mid channels), `….0.3.weight` (temporal 3×1×1, stride s×1×1), `….1.*`
//! (BN), `layer{2..4}.0.downsample.0.weight` (1×1×1, stride s×s×s) and `.downsample.1.*`.
//! Mid channels of a block: ⌊in·out·27 / (in·9 + 3·out)⌋ (torchvision `BasicBlock` midplanes, the
//! same for both convs of the block). BatchNorm eps 1e-5, momentum 0.1.

use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::layers3d::conv3d;

/// BatchNorm3d with `eps` (torchvision 1e-5, Caffe2/VMZ 1e-3).
fn bn(p: nn::Path, c: i64, eps: f64) -> nn::BatchNorm {
    nn::batch_norm3d(p, c, nn::BatchNormConfig { eps, ..Default::default() })
}

/// The families of torchvision's video ResNets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoArch {
    /// (2+1)D convs everywhere (`r2plus1d_18`, VMZ's `r2plus1d_34`).
    R2Plus1D,
    /// 3×3×3 convs everywhere (`r3d_18`).
    R3D,
    /// 3×3×3 convs in layer1, 1×3×3 in layers 2–4 (`mc3_18`).
    MC3,
}

/// One conv of a block with the block's BN: torchvision `Conv2Plus1D` (a Sequential: 0 spatial
/// conv, 1 BN, 2 ReLU, 3 temporal conv) followed by the block's BN, or a single conv (`Conv3DSimple` / `Conv3DNoTemporal`, at `p.0`)
/// followed by the block's BN (`p.1`).
#[derive(Debug)]
enum BlockConv {
    Factorized { spatial: nn::Conv3D, mid_bn: nn::BatchNorm, temporal: nn::Conv3D, bn: nn::BatchNorm },
    Single { conv: nn::Conv3D, bn: nn::BatchNorm },
}

impl BlockConv {
    /// Under `p` (`conv1` / `conv2` of a block): `p.0.{0,1,3}` and `p.1`.
    fn new(p: &nn::Path, cin: i64, cout: i64, mid: i64, stride: i64, eps: f64) -> Self {
        let seq = p / "0";
        BlockConv::Factorized {
            spatial: conv3d(&seq / "0", cin, mid, [1, 3, 3], [1, stride, stride], [0, 1, 1]),
            mid_bn: bn(&seq / "1", mid, eps),
            temporal: conv3d(&seq / "3", mid, cout, [3, 1, 1], [stride, 1, 1], [1, 0, 0]),
            bn: bn(p / "1", cout, eps),
        }
    }

    /// `Conv3DSimple` (3×3×3, stride s×s×s) or, `temporal: false`, `Conv3DNoTemporal` (1×3×3,
    /// stride 1×s×s), then BN.
    fn single(p: &nn::Path, cin: i64, cout: i64, stride: i64, temporal: bool, eps: f64) -> Self {
        let (k, st, pad) = if temporal { ([3, 3, 3], [stride; 3], [1, 1, 1]) } else { ([1, 3, 3], [1, stride, stride], [0, 1, 1]) };
        BlockConv::Single { conv: conv3d(p / "0", cin, cout, k, st, pad), bn: bn(p / "1", cout, eps) }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            BlockConv::Factorized { spatial, mid_bn, temporal, bn } => {
                let y = mid_bn.forward_t(&x.apply(spatial), train).relu();
                bn.forward_t(&y.apply(temporal), train)
            }
            BlockConv::Single { conv, bn } => bn.forward_t(&x.apply(conv), train),
        }
    }
}

#[derive(Debug)]
struct Block {
    conv1: BlockConv,
    conv2: BlockConv,
    downsample: Option<(nn::Conv3D, nn::BatchNorm)>,
    /// 1-based stage (`layer1` … `layer4`).
    stage: i64,
}

impl Block {
    fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        let y = self.conv1.forward(x, bn_train).relu();
        let y = self.conv2.forward(&y, bn_train);
        let identity = match &self.downsample {
            Some((conv, norm)) => norm.forward_t(&x.apply(conv), bn_train),
            None => x.shallow_clone(),
        };
        (y + identity).relu()
    }
}

/// torchvision `BasicBlock` mid channels for a (2+1)D block from `cin` to `cout` channels.
pub fn midplanes(cin: i64, cout: i64) -> i64 {
    (cin * cout * 27) / (cin * 9 + 3 * cout)
}

/// A video ResNet backbone: (N, 3, T, H, W) clips → (N, 512) globally average-pooled features.
/// Space is downsampled by 2 in layers 2–4, and time too except in MC3.
#[derive(Debug)]
pub struct VideoResNet {
    stem: Vec<(nn::Conv3D, nn::BatchNorm)>,
    blocks: Vec<Block>,
    /// Feature width D (512).
    pub out_channels: i64,
    /// Keep every BatchNorm in eval mode while training (`norm_eval`).
    pub norm_eval: bool,
    /// The stem and `layer1..=frozen_stages` keep BatchNorm statistics (−1: none).
    pub frozen_stages: i64,
}

impl VideoResNet {
    /// Builds `arch` of `depth` under `p`: R(2+1)D 18 ([2, 2, 2, 2] blocks) or 34 ([3, 4, 6, 3],
    /// VMZ's); R3D and MC3 18.
    ///
    /// # Errors
    /// Another depth.
    pub fn new(p: &nn::Path, arch: VideoArch, depth: u32) -> anyhow::Result<Self> {
        let (counts, eps): ([usize; 4], f64) = match (arch, depth) {
            (_, 18) => ([2, 2, 2, 2], 1e-5),
            (VideoArch::R2Plus1D, 34) => ([3, 4, 6, 3], 1e-3),
            (a, d) => anyhow::bail!("{a:?} depth {d} is not supported (R2Plus1D: 18 or 34; R3D, MC3: 18)"),
        };
        let sp = p / "stem";
        let stem = if arch == VideoArch::R2Plus1D {
            vec![
                (conv3d(&sp / "0", 3, 45, [1, 7, 7], [1, 2, 2], [0, 3, 3]), bn(&sp / "1", 45, eps)),
                (conv3d(&sp / "3", 45, 64, [3, 1, 1], [1, 1, 1], [1, 0, 0]), bn(&sp / "4", 64, eps)),
            ]
        } else {
            vec![(conv3d(&sp / "0", 3, 64, [3, 7, 7], [1, 2, 2], [1, 3, 3]), bn(&sp / "1", 64, eps))]
        };
        let mut blocks = Vec::new();
        let mut cin = 64;
        for (li, &n) in counts.iter().enumerate() {
            let planes = 64 << li;
            let lp = p / format!("layer{}", li + 1);
            for bi in 0..n {
                let bp = &lp / bi.to_string();
                let stride = if bi == 0 && li > 0 { 2 } else { 1 };
                let mid = midplanes(cin, planes);
                // VMZ's 34-layer model sizes the second conv by its own (planes → planes).
                let mid2 = if depth == 34 { midplanes(planes, planes) } else { mid };
                // MC3's layers 2–4 do not stride (or convolve) in time.
                let temporal = !(arch == VideoArch::MC3 && li > 0);
                let ds_stride = if temporal { [stride; 3] } else { [1, stride, stride] };
                let downsample = (stride != 1 || cin != planes).then(|| {
                    let d = &bp / "downsample";
                    (conv3d(&d / "0", cin, planes, [1, 1, 1], ds_stride, [0, 0, 0]), bn(&d / "1", planes, eps))
                });
                let (c1, c2) = (&bp / "conv1", &bp / "conv2");
                let (conv1, conv2) = match arch {
                    VideoArch::R2Plus1D => {
                        (BlockConv::new(&c1, cin, planes, mid, stride, eps), BlockConv::new(&c2, planes, planes, mid2, 1, eps))
                    }
                    _ => (
                        BlockConv::single(&c1, cin, planes, stride, temporal, eps),
                        BlockConv::single(&c2, planes, planes, 1, temporal, eps),
                    ),
                };
                blocks.push(Block { conv1, conv2, downsample, stage: li as i64 + 1 });
                cin = planes;
            }
        }
        Ok(VideoResNet { stem, blocks, out_channels: cin, norm_eval: false, frozen_stages: -1 })
    }

    /// (N, 3, T, H, W) → (N, 512) pooled features (torchvision `VideoResNet.forward` up to
    /// `avgpool` + `flatten`).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_map(x, train).adaptive_avg_pool3d([1, 1, 1]).flatten(1, -1)
    }

    /// (N, 3, T, H, W) → (N, 512, T/8, H/16, W/16): `layer4`'s feature map, before pooling (what
    /// a detection head's RoIAlign reads; stride 16 in space, 8 in time for R(2+1)D-18).
    pub fn forward_map(&self, x: &Tensor, train: bool) -> Tensor {
        let bn_train = |stage: i64| train && !self.norm_eval && stage > self.frozen_stages;
        let mut y = x.shallow_clone();
        for (conv, norm) in &self.stem {
            y = norm.forward_t(&y.apply(conv), bn_train(0)).relu();
        }
        for b in &self.blocks {
            y = b.forward(&y, bn_train(b.stage));
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2plus1d_18_has_torchvisions_names_and_shapes() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = VideoResNet::new(&vs.root(), VideoArch::R2Plus1D, 18).unwrap();
        let v = vs.variables();
        let shape = |k: &str| v.get(k).unwrap_or_else(|| panic!("missing {k}")).size();
        assert_eq!(shape("stem.0.weight"), [45, 3, 1, 7, 7]);
        assert_eq!(shape("stem.3.weight"), [64, 45, 3, 1, 1]);
        // layer1: 64→64, mid ⌊64·64·27 / (64·9 + 192)⌋ = 144.
        assert_eq!(shape("layer1.0.conv1.0.0.weight"), [144, 64, 1, 3, 3]);
        assert_eq!(shape("layer1.0.conv1.0.3.weight"), [64, 144, 3, 1, 1]);
        // layer2 block 0: 64→128, mid ⌊64·128·27 / (576 + 384)⌋ = 230, for both convs.
        assert_eq!(shape("layer2.0.conv2.0.0.weight"), [230, 128, 1, 3, 3]);
        assert_eq!(shape("layer2.0.downsample.0.weight"), [128, 64, 1, 1, 1]);
        assert_eq!(shape("layer4.1.conv2.1.running_var"), [512]);
        // torchvision r2plus1d_18's state_dict without fc: 2 stem convs + 8 blocks × 4 convs +
        // 3 downsample convs = 37 convs; 2 + 8·4 + 3 = 37 BatchNorms of 4 tensors (torchvision
        // also stores num_batches_tracked, which the converter drops).
        assert_eq!(v.len(), 37 + 37 * 4);
        let x = Tensor::randn([1, 3, 8, 32, 32], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(net.forward(&x, false).size(), [1, 512]);
        assert!(VideoResNet::new(&vs.root(), VideoArch::R2Plus1D, 50).is_err());
    }

    #[test]
    fn r3d_and_mc3_have_torchvisions_shapes() {
        for (arch, l2) in [(VideoArch::R3D, [128, 64, 3, 3, 3]), (VideoArch::MC3, [128, 64, 1, 3, 3])] {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let net = VideoResNet::new(&vs.root(), arch, 18).unwrap();
            let v = vs.variables();
            assert_eq!(v["stem.0.weight"].size(), [64, 3, 3, 7, 7]);
            assert_eq!(v["layer1.0.conv1.0.weight"].size(), [64, 64, 3, 3, 3]);
            assert_eq!(v["layer2.0.conv1.0.weight"].size(), l2, "{arch:?}");
            assert_eq!(v["layer4.1.conv2.1.running_mean"].size(), [512]);
            let x = Tensor::randn([1, 3, 8, 32, 32], (tch::Kind::Float, tch::Device::Cpu));
            assert_eq!(net.forward(&x, false).size(), [1, 512]);
        }
    }

    #[test]
    fn r2plus1d_34_is_vmzs_variant() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        VideoResNet::new(&vs.root(), VideoArch::R2Plus1D, 34).unwrap();
        let v = vs.variables();
        let shape = |k: &str| v.get(k).unwrap_or_else(|| panic!("missing {k}")).size();
        assert_eq!(shape("layer2.0.conv1.0.0.weight"), [230, 64, 1, 3, 3]);
        assert_eq!(shape("layer2.0.conv2.0.0.weight"), [288, 128, 1, 3, 3], "VMZ issue 89");
        assert_eq!(shape("layer4.0.conv2.0.3.weight"), [512, 1152, 3, 1, 1]);
        assert_eq!(shape("layer3.5.conv2.0.0.weight"), [576, 256, 1, 3, 3]);
        assert!(v.contains_key("layer4.2.conv2.1.running_var") && !v.contains_key("layer4.3.conv1.0.0.weight"));
    }
}
