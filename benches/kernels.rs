//! Criterion benches of the loader's hot kernels, on the sizes of a TSM/TSN training sample
//! (8 segments of 320×240 video → Resize(−1, 256) → 224² crop → Normalize → NCHW) and of a batch
//! of 8 such samples. They time vpipe's own craft (sampling, transforms, formatting, collation);
//! decoding is timed against the peers in `benches/decode.rs` and `scripts/bench_peers.sh`.
//!
//! Run: `cargo bench --bench kernels` (HTML-free text report; add `-- <filter>` for one kernel).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;

use vpipe::frame::Frame;
use vpipe::graph::loader::{collate, collate_into, BufferPool};
use vpipe::sample::{DenseSampleFrames, SampleFrames};
use vpipe::transform::format::to_tensor;
use vpipe::transform::{
    BuildCtx, CenterCrop, Clip, FrameOp, InputFormat, Interpolation, MultiScaleCrop, Normalize, OpConfig, Resize, Size,
};

/// Eight 320×240 RGB frames with some texture (resizers take shortcuts on constant images).
fn clip() -> Clip {
    let frames = (0..8u8)
        .map(|k| {
            let data = (0..320 * 240 * 3).map(|i| ((i * 7 + k as usize * 13) % 251) as u8).collect();
            Frame::new(320, 240, data)
        })
        .collect();
    Clip::new(frames, 1, 8)
}

fn sampling(c: &mut Criterion) {
    let train = SampleFrames::segments(8);
    let test = SampleFrames { test_mode: true, num_clips: 10, ..SampleFrames::segments(8) };
    let dense: DenseSampleFrames = vpipe::config::parse_yaml("{clip_len: 32, frame_interval: 2, num_clips: 1}").unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    c.bench_function("sampling/SampleFrames 8 segments of 300 frames (train)", |b| {
        b.iter(|| train.sample_at(black_box(300), 0, None, &mut rng))
    });
    c.bench_function("sampling/SampleFrames 10 clips × 8 (test)", |b| b.iter(|| test.sample_at(black_box(300), 0, None, &mut rng)));
    c.bench_function("sampling/DenseSampleFrames 32×2", |b| b.iter(|| dense.sample(black_box(300), 0, &mut rng)));
}

fn resize_crop(c: &mut Criterion) {
    let resize = Resize { scale: [-1, 256], keep_ratio: true, interpolation: Interpolation::Bilinear }.build(&BuildCtx::default()).unwrap();
    let center = CenterCrop { crop_size: Size::Square(224) };
    let msc = MultiScaleCrop {
        input_size: Size::Square(224),
        scales: vec![1.0, 0.875, 0.75, 0.66],
        max_wh_scale_gap: 1,
        random_crop: false,
        num_fixed_crops: 13,
    };
    let input = clip();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    c.bench_function("transform/Resize(-1, 256) 8 × 320x240", |b| b.iter(|| resize.apply(input.clone(), &mut rng).unwrap()));
    let resized = resize.apply(input, &mut rng).unwrap();
    c.bench_function("transform/CenterCrop 224 8 × 341x256", |b| b.iter(|| center.apply(resized.clone(), &mut rng).unwrap()));
    c.bench_function("transform/MultiScaleCrop 224 8 × 341x256", |b| b.iter(|| msc.apply(resized.clone(), &mut rng).unwrap()));
}

fn normalize_collate(c: &mut Criterion) {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    let resize = Resize { scale: [-1, 256], keep_ratio: true, interpolation: Interpolation::Bilinear }.build(&BuildCtx::default()).unwrap();
    let resized = resize.apply(clip(), &mut rng).unwrap();
    let cropped = CenterCrop { crop_size: Size::Square(224) }.apply(resized, &mut rng).unwrap();
    let norm = Normalize::imagenet();
    c.bench_function("format/Normalize + NCHW 8 × 224x224", |b| {
        b.iter(|| to_tensor(black_box(&cropped), &norm, InputFormat::NCHW).unwrap())
    });
    let sample = to_tensor(&cropped, &norm, InputFormat::NCHW).unwrap();
    let batch: Vec<_> = (0..8).map(|_| &sample).collect();
    c.bench_function("collate/8 samples of (8, 3, 224, 224), new buffer", |b| b.iter(|| collate(black_box(&batch)).unwrap()));
    // What the loader does: the buffer of the batch the model dropped is refilled.
    let pool = BufferPool::new(2);
    c.bench_function("collate/8 samples of (8, 3, 224, 224), recycled buffer", |b| {
        b.iter(|| pool.give(collate_into(black_box(&batch), pool.take()).unwrap().data))
    });
}

criterion_group!(kernels, sampling, resize_crop, normalize_collate);
criterion_main!(kernels);
