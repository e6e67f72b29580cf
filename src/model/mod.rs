//! Models (tch / libtorch): TSN and TSM recognisers on ResNet-18/50 with mmaction2's state_dict
//! names, I3D-R50 and SlowFast-R50 with mmaction2's, R(2+1)D-18/34, R3D-18 and MC3-18 with torchvision's, and any
//! TorchScript module. See [`Recognizer`] for
//! shapes.

pub mod amp;
mod config;
mod cuda;
pub mod domain_classifier;
pub(crate) mod input;
mod layers3d;
pub mod optim;
mod recognizer;
mod resnet;
mod resnet3d;
pub mod roi_align;
mod video_resnet;

pub use config::{
    AutoScaleLr, DynamicName, DynamicScale, Fp16, Loss, LossScale, ModelConfig, ModelName, ModelType, Optimizer, Schedule, TrainSection,
    Warmup,
};
pub use cuda::{cuda_unavailable_reason, load_cuda, pick_device};
pub use domain_classifier::{DomainClassifier, DomainClassifierConfig, DomainLoss, NeckConfig};
pub use input::{upload, ChannelStats};
pub use recognizer::{is_frozen, views_per_sample, ModelKind, ModelSpec, Output, Recognizer, Video3dParams};
pub use resnet::{temporal_shift, ResNet};
pub use resnet3d::{PathwayConfig, ResNet3d, SlowFast};
pub use roi_align::{HeadConfig, RoiAlign, RoiHeadConfig};
pub use video_resnet::{midplanes, VideoArch, VideoResNet};

/// `text` without the C++ backtraces libtorch appends to its errors (`Exception raised from …
/// (most recent call first):` and the `frame #N: …` lines after it): a user needs the first line
/// and the context vpipe adds, not 30 lines of mangled symbols. Everything else is kept.
pub fn without_cpp_backtrace(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_trace = false;
    for line in text.split('\n') {
        if line.starts_with("Exception raised from ") {
            in_trace = true;
            continue;
        }
        if in_trace && (line.starts_with("frame #") || line.trim().is_empty()) {
            continue;
        }
        in_trace = false;
        out.push(line);
    }
    out.join("\n").trim_end().to_string()
}

#[cfg(test)]
#[test]
fn cpp_backtraces_are_cut_and_the_message_kept() {
    let e = "loading weights /etc/passwd: Internal torch error: PytorchStreamReader failed reading zip archive\n\
             Exception raised from valid at inline_container.cc:242 (most recent call first):\n\
             frame #0: c10::Error::Error() + 0x9d (0x7f in libc10.so)\nframe #1: <unknown function> + 0x1 (0x5 in vpipe)\n";
    assert_eq!(
        without_cpp_backtrace(e),
        "loading weights /etc/passwd: Internal torch error: PytorchStreamReader failed reading zip archive"
    );
    assert_eq!(without_cpp_backtrace("plain\nmessage"), "plain\nmessage");
}
