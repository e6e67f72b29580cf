//! Models (tch / libtorch): TSN and TSM recognisers on ResNet-18/50 with mmaction2's state_dict
//! names, I3D-R50 and SlowFast-R50 with mmaction2's, R(2+1)D-18/34, R3D-18 and MC3-18 with torchvision's, and any
//! TorchScript module. See [`Recognizer`] for
//! shapes.

pub mod amp;
mod config;
mod cuda;
pub(crate) mod input;
mod layers3d;
pub mod optim;
mod recognizer;
mod resnet;
mod resnet3d;
mod video_resnet;

pub use config::{
    AutoScaleLr, DynamicName, DynamicScale, Fp16, Loss, LossScale, ModelConfig, ModelName, ModelType, Optimizer, Schedule, TrainSection,
    Warmup,
};
pub use cuda::{cuda_unavailable_reason, load_cuda, pick_device};
pub use input::{upload, ChannelStats};
pub use recognizer::{is_frozen, views_per_sample, ModelKind, ModelSpec, Output, Recognizer, Video3dParams};
pub use resnet::{temporal_shift, ResNet};
pub use resnet3d::{PathwayConfig, ResNet3d, SlowFast};
pub use video_resnet::{midplanes, VideoArch, VideoResNet};
