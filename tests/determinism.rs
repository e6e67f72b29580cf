//! Deterministic augmentation: the TSM train pipeline over the real mini dataset gives
//! byte-identical batches with 1 and 2 workers, and different batches in another epoch.

mod common;

use vpipe::config::{split_pipeline, PipelineConfig, SourceConfig, SplitName};
use vpipe::graph::loader::{batches, epoch_order, Batch};
use vpipe::graph::pipeline::DataPipeline;
use vpipe::graph::{PoolConfig, Settings};

fn epoch_batches(data: &std::path::Path, epoch: u64, workers: usize) -> Vec<Batch> {
    let cfg = PipelineConfig::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/tsm_r18_mini.yaml"))).unwrap();
    let split = cfg.split(SplitName::Train).unwrap();
    let parts = split_pipeline(&split.pipeline).unwrap();
    let source = SourceConfig::VideoList {
        ann_file: data.join("mini/mini_videos.txt"),
        root: data.join("mini/videos"),
        multi_class: false,
        num_classes: None,
    };
    let pipeline = DataPipeline::build(parts, cfg.seed, epoch, source.rawframe_spec().unwrap()).unwrap();
    let order = epoch_order(&source.samples().unwrap(), cfg.seed, epoch, true);
    batches("loader", order, pipeline, split.batch_size, PoolConfig { workers, capacity: 2 * workers }, Settings::default())
        .into_iter("test")
        .map(|b| b.unwrap())
        .collect()
}

fn bytes(batches: &[Batch]) -> Vec<u8> {
    batches.iter().flat_map(|b| b.tensor.as_f32().unwrap().data.iter().flat_map(|v| v.to_le_bytes())).collect()
}

#[test]
fn tsm_train_batches_are_identical_for_1_and_2_workers_and_differ_by_epoch() {
    let Some(data) = common::data_dir() else { return };
    let one = epoch_batches(&data, 0, 1);
    let two = epoch_batches(&data, 0, 2);
    assert_eq!(one.len(), 2);
    assert_eq!(one[0].tensor.shape(), vec![32, 3, 64, 64]); // 4 samples × 8 segments
    let names = |b: &[Batch]| b.iter().flat_map(|x| x.samples.iter().map(|s| s.name.clone())).collect::<Vec<_>>();
    assert_eq!(names(&one), names(&two));
    assert!(bytes(&one) == bytes(&two), "1 and 2 workers gave different bytes");

    let next = epoch_batches(&data, 1, 2);
    assert_ne!(names(&one), names(&next), "epoch 1 should shuffle differently");
    // Same sample, other epoch: other frames and crops.
    let first = &one[0].samples[0];
    let pos = names(&next).iter().position(|n| *n == first.name).unwrap();
    let per = 8 * 3 * 64 * 64;
    let a = &one[0].tensor.as_f32().unwrap().data[..per];
    let b = &next[pos / 4].tensor.as_f32().unwrap().data[(pos % 4) * per..(pos % 4 + 1) * per];
    assert_ne!(a, b);
}
