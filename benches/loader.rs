//! vpipe's side of the training-loader comparison in `scripts/bench_peers.sh`: runs a pipeline
//! file's split loader (sampling, decoding, every transform, Normalize, FormatShape, collation
//! into batches) for real over one epoch with `--workers` threads and prints one JSON line:
//! clips, seconds, clips/s (and, on stderr, the engine's per-stage summary: where the time
//! went). The peer is `scripts/bench_loader_peer.py` (decord + OpenCV transforms in a torch
//! DataLoader with the same worker count).
//!
//! Run: `cargo bench --bench loader -- --pipeline P.yaml [--split train] [--workers N] [--epoch E]`.

use std::time::Instant;

use vpipe::config::{split_pipeline, PipelineConfig, SplitName};
use vpipe::graph::pipeline::DataPipeline;
use vpipe::graph::{loader, PoolConfig, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let Some(path) = flag("--pipeline") else {
        eprintln!("usage: loader --pipeline P.yaml [--split train|val|test] [--workers N] [--epoch E]");
        return; // `cargo bench` with no arguments runs nothing
    };
    let split = match flag("--split").as_deref().unwrap_or("train") {
        "train" => SplitName::Train,
        "val" => SplitName::Val,
        "test" => SplitName::Test,
        other => panic!("--split {other}: train, val or test"),
    };
    let workers: usize = flag("--workers").map_or(2, |w| w.parse().expect("--workers N"));
    let epoch: u64 = flag("--epoch").map_or(0, |e| e.parse().expect("--epoch E"));
    let cfg = PipelineConfig::load(path.as_ref()).unwrap_or_else(|e| panic!("{e:#}"));
    let s = cfg.data.get(&split).expect("the pipeline has this split");
    let parts = split_pipeline(&s.pipeline).unwrap_or_else(|e| panic!("{e:#}"));
    let samples = s.source.samples().unwrap_or_else(|e| panic!("{e:#}"));
    let pipeline = DataPipeline::build(parts, cfg.seed, epoch, s.source.rawframe_spec().expect("source")).expect("pipeline");
    let order = loader::epoch_order(&samples, cfg.seed, epoch, split == SplitName::Train);
    let pool = PoolConfig { workers, capacity: (2 * workers).max(s.batch_size) };
    let t = Instant::now();
    let mut clips = 0usize;
    let mut outputs = loader::batches("loader", order, pipeline, s.batch_size, pool, Settings::default()).into_iter("consumer");
    for batch in outputs.by_ref() {
        clips += batch.unwrap_or_else(|e| panic!("{e:#}")).samples.len();
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!("{}", outputs.finish()); // the engine's per-stage summary, off the JSON line
    println!("{{\"lib\":\"vpipe\",\"clips\":{clips},\"seconds\":{secs:.3},\"clips_per_s\":{:.2}}}", clips as f64 / secs);
}
