//! Per-stage counters and the one run [`Summary`] every job ends with.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

/// Counters of one stage, shared by its threads: items, busy time, time blocked waiting for
/// input (starved) and time blocked on a full output channel (backpressure).
#[derive(Debug, Default)]
pub struct StageMetrics {
    /// Stage name as printed in summaries (`source`, `prepare`, `batch`, `model`, `sink`).
    pub name: &'static str,
    workers: usize,
    /// A part of another stage's work (the decode inside `prepare`): reported, never the
    /// bottleneck.
    part: bool,
    items: AtomicU64,
    busy_ns: AtomicU64,
    starved_ns: AtomicU64,
    blocked_ns: AtomicU64,
    /// Bytes moved by the stage (the upload's host-to-device copies), 0 where not counted.
    bytes: AtomicU64,
}

impl StageMetrics {
    /// A new, shared counter set for a stage of one thread.
    pub fn new(name: &'static str) -> Arc<Self> {
        Self::stage(name, 1)
    }

    /// A new, shared counter set for a stage run by `workers` threads (at least 1).
    pub fn stage(name: &'static str, workers: usize) -> Arc<Self> {
        Arc::new(StageMetrics { name, workers: workers.max(1), ..Default::default() })
    }

    /// Counters for a part of a stage run by `workers` threads (decode inside `prepare`).
    pub fn part(name: &'static str, workers: usize) -> Arc<Self> {
        Arc::new(StageMetrics { name, workers: workers.max(1), part: true, ..Default::default() })
    }

    /// Runs `f`, counting one item and its time as busy.
    pub fn busy<R>(&self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.add_busy(t.elapsed());
        r
    }

    /// Counts one item that took `d` of busy time.
    pub fn add_busy(&self, d: Duration) {
        self.busy_ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        self.items.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` bytes moved by the stage.
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes moved so far ([`Self::add_bytes`]).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes moved per second of busy time, in GB/s (10⁹ bytes); `None` where none were counted.
    pub fn gb_per_s(&self) -> Option<f64> {
        (self.bytes() > 0).then(|| self.bytes() as f64 / 1e9 / self.busy_time().as_secs_f64().max(1e-9))
    }

    /// Runs `f` (a receive from the previous stage), counting its time as starved.
    pub fn starved<R>(&self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.starved_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    /// Runs `f` (a send on a full channel, a wait for a token), counting its time as blocked.
    pub fn blocked<R>(&self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.blocked_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    /// Threads that run the stage.
    pub fn workers(&self) -> usize {
        self.workers
    }
    /// Items processed.
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }
    /// Total busy time, summed over the stage's threads.
    pub fn busy_time(&self) -> Duration {
        Duration::from_nanos(self.busy_ns.load(Ordering::Relaxed))
    }
    /// Total time waiting for input, summed over the stage's threads.
    pub fn starved_time(&self) -> Duration {
        Duration::from_nanos(self.starved_ns.load(Ordering::Relaxed))
    }
    /// Total time blocked on output, summed over the stage's threads.
    pub fn blocked_time(&self) -> Duration {
        Duration::from_nanos(self.blocked_ns.load(Ordering::Relaxed))
    }
    /// Busy time ÷ (wall × workers): 1.0 means the stage's threads never waited.
    pub fn utilization(&self, wall: Duration) -> f64 {
        self.busy_time().as_secs_f64() / (wall.as_secs_f64() * self.workers as f64).max(1e-9)
    }
}

/// Frames decoded and frames kept, and fetches where a video's decoder disagreed with its packet
/// index, summed over the videos of a run ([`crate::decode::DecodeStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounts {
    /// Frames the decoder output.
    pub decoded: u64,
    /// Frames the pipeline used (1.0 decoded per kept is the floor; GOP spans between wanted
    /// frames raise it).
    pub kept: u64,
    /// Fetches answered by decoding from frame 0 because the decoder's frames disagreed with
    /// the packet index, or with the frame map (VOP headers or counting pass) of a stream without pts (each also
    /// printed as a warning naming the video).
    pub index_mismatches: u64,
    /// Opens whose container frame count was rejected and the packets counted instead
    /// ([`crate::decode::VideoInfo::count_note`]: a truncated AVI), each printed as a warning.
    pub recounted: u64,
}

impl From<crate::decode::DecodeStats> for FrameCounts {
    fn from(s: crate::decode::DecodeStats) -> Self {
        FrameCounts { decoded: s.frames_decoded, kept: s.frames_kept, index_mismatches: s.index_mismatches, recounted: 0 }
    }
}

/// [`FrameCounts`] shared by a decode stage's threads.
#[derive(Debug, Default)]
pub struct FrameTally {
    decoded: AtomicU64,
    kept: AtomicU64,
    index_mismatches: AtomicU64,
    recounted: AtomicU64,
}

impl FrameTally {
    /// Adds one video's (or one rawframe folder's) counts.
    pub fn add(&self, c: FrameCounts) {
        self.decoded.fetch_add(c.decoded, Ordering::Relaxed);
        self.kept.fetch_add(c.kept, Ordering::Relaxed);
        self.index_mismatches.fetch_add(c.index_mismatches, Ordering::Relaxed);
        self.recounted.fetch_add(c.recounted, Ordering::Relaxed);
    }
    /// The counts so far.
    pub fn get(&self) -> FrameCounts {
        FrameCounts {
            decoded: self.decoded.load(Ordering::Relaxed),
            kept: self.kept.load(Ordering::Relaxed),
            index_mismatches: self.index_mismatches.load(Ordering::Relaxed),
            recounted: self.recounted.load(Ordering::Relaxed),
        }
    }
}

/// A failed item: which file, which stage, and the underlying message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{path} failed in {stage}: {message}")]
pub struct Failure {
    /// The item's path.
    pub path: String,
    /// Stage that failed (`prepare`, `extract`, `median`, `model`).
    pub stage: String,
    /// The error chain, outermost first.
    pub message: String,
}

/// What a run did: printed at its end and written as JSON beside its outputs
/// ([`Summary::write_json`]). The same type for every command.
#[derive(Debug)]
pub struct Summary {
    /// The command (`featurize`, `extract-frames`, `median`, `train`, `bench`).
    pub job: &'static str,
    /// Videos (source items) that produced output.
    pub ok: usize,
    /// Videos skipped because their output was already complete (resume).
    pub skipped: usize,
    /// Videos that failed, with reasons; they have no output.
    pub failures: Vec<Failure>,
    /// Outputs produced: clips (featurize, loaders) or frames (extract-frames, median).
    pub outputs: usize,
    /// What [`Self::outputs`] counts: `clips` or `frames`.
    pub output_unit: &'static str,
    /// Wall time of the run.
    pub wall: Duration,
    /// Per-stage counters in graph order.
    pub stages: Vec<Arc<StageMetrics>>,
    /// Peak resident set size of the process so far, in bytes (Linux `VmHWM`; 0 where unknown).
    pub peak_rss_bytes: u64,
    /// Frames decoded and kept, and packet-index mismatches, by the run's decode stage; zeros
    /// where not tracked.
    pub frames: FrameCounts,
    /// Frame buffers the process allocated and reused so far ([`crate::frame::pool_stats`]): in
    /// steady state a loader reuses, so `fresh` stops growing with the list.
    pub frame_buffers: crate::frame::PoolStats,
}

impl Summary {
    /// A summary of `ok` good items and `failures` after `wall`; outputs counted as `ok` clips
    /// until the job sets them.
    pub fn new(job: &'static str, ok: usize, failures: Vec<Failure>, wall: Duration, stages: Vec<Arc<StageMetrics>>) -> Self {
        Summary {
            job,
            ok,
            skipped: 0,
            failures,
            outputs: ok,
            output_unit: "clips",
            wall,
            stages,
            peak_rss_bytes: peak_rss_bytes(),
            frames: FrameCounts::default(),
            frame_buffers: crate::frame::pool_stats(),
        }
    }

    /// The busiest whole stage (highest [`StageMetrics::utilization`]), parts and the source
    /// excluded: the one to make faster.
    pub fn bottleneck(&self) -> Option<&StageMetrics> {
        self.stages
            .iter()
            .filter(|s| !s.part && s.name != "source")
            .max_by(|a, b| a.utilization(self.wall).total_cmp(&b.utilization(self.wall)))
            .map(|s| &**s)
    }

    /// Outputs per second of wall time.
    pub fn rate(&self) -> f64 {
        self.outputs as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// The summary as JSON: job, counts (`failed`: all failures; `failures`: the first
    /// [`crate::graph::engine::PRINTED_FAILURES`] of them, the errors file keeps the rest), wall (s), rate, peak RSS (bytes), bottleneck, frames
    /// decoded and kept, packet-index mismatches, and per stage workers, items, busy / starved /
    /// blocked seconds and utilization.
    pub fn to_json(&self) -> serde_json::Value {
        let stages: Vec<serde_json::Value> = self
            .stages
            .iter()
            .map(|s| {
                json!({"name": s.name, "workers": s.workers, "part": s.part, "items": s.items(),
                    "busy_s": s.busy_time().as_secs_f64(), "starved_s": s.starved_time().as_secs_f64(),
                    "blocked_s": s.blocked_time().as_secs_f64(), "utilization": s.utilization(self.wall),
                    "bytes": s.bytes(), "gb_per_s": s.gb_per_s()})
            })
            .collect();
        json!({
            "job": self.job, "ok": self.ok, "skipped": self.skipped, "failed": self.failures.len(),
            "failures": &self.failures[..self.failures.len().min(crate::graph::engine::PRINTED_FAILURES)], "outputs": self.outputs, "output_unit": self.output_unit,
            "wall_s": self.wall.as_secs_f64(), "rate_per_s": self.rate(), "peak_rss_bytes": self.peak_rss_bytes,
            "bottleneck": self.bottleneck().map(|s| s.name), "stages": stages, "vpipe_version": crate::VERSION,
            "frames_decoded": self.frames.decoded, "frames_kept": self.frames.kept, "decoded_per_kept": self.decoded_per_kept(),
            "index_mismatches": self.frames.index_mismatches, "recounted": self.frames.recounted,
            "frame_buffers_allocated": self.frame_buffers.fresh, "frame_buffers_reused": self.frame_buffers.reused,
        })
    }

    /// Frames decoded per frame kept, where tracked.
    pub fn decoded_per_kept(&self) -> Option<f64> {
        (self.frames.kept > 0).then(|| self.frames.decoded as f64 / self.frames.kept as f64)
    }

    /// Writes [`Self::to_json`] to `path`, atomically (temporary file + rename).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.to_json())?;
        crate::sink::atomic::write_file(path, text.as_bytes())
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.wall.as_secs_f64().max(1e-9);
        let (ok, skipped, failed, unit) = (self.ok, self.skipped, self.failures.len(), self.output_unit);
        writeln!(
            f,
            "videos ok {ok}, skipped {skipped}, failed {failed}; {} {unit} in {secs:.2} s ({:.1} {unit}/s)",
            self.outputs,
            self.rate()
        )?;
        writeln!(
            f,
            "{:<10} {:>7} {:>8} {:>9} {:>10} {:>10} {:>6}",
            "stage", "workers", "items", "busy s", "starved s", "blocked s", "util"
        )?;
        for s in &self.stages {
            let name = if s.part { format!(" {}", s.name) } else { s.name.to_string() };
            writeln!(
                f,
                "{name:<10} {:>7} {:>8} {:>9.2} {:>10.2} {:>10.2} {:>5.0}%",
                s.workers,
                s.items(),
                s.busy_time().as_secs_f64(),
                s.starved_time().as_secs_f64(),
                s.blocked_time().as_secs_f64(),
                100.0 * s.utilization(self.wall)
            )?;
        }
        for s in self.stages.iter().filter(|s| s.bytes() > 0) {
            let rate = s.gb_per_s().unwrap_or(0.0);
            writeln!(f, "{}: {:.3} GB in {:.2} s busy ({rate:.2} GB/s)", s.name, s.bytes() as f64 / 1e9, s.busy_time().as_secs_f64())?;
        }
        if let Some(r) = self.decoded_per_kept() {
            writeln!(f, "frames decoded {} for {} kept ({r:.2} per kept frame)", self.frames.decoded, self.frames.kept)?;
        }
        if self.frames.index_mismatches > 0 {
            let n = self.frames.index_mismatches;
            writeln!(
                f,
                "index mismatches {n}: fetches where the decoder disagreed with the packet index or frame map (decoded from frame 0)"
            )?;
        }
        if self.frames.recounted > 0 {
            let n = self.frames.recounted;
            writeln!(
                f,
                "recounted {n}: opens where the container's frame count was wrong (truncated file?); frames counted from the packets"
            )?;
        }
        if let Some(b) = self.bottleneck() {
            writeln!(
                f,
                "bottleneck: {} ({:.0}% busy); peak RSS {:.0} MiB",
                b.name,
                100.0 * b.utilization(self.wall),
                self.peak_rss_bytes as f64 / 1048576.0
            )?;
        }
        let shown = crate::graph::engine::PRINTED_FAILURES;
        for x in self.failures.iter().take(shown) {
            writeln!(f, "FAILED {} [{}]: {}", x.path, x.stage, x.message)?;
        }
        if self.failures.len() > shown {
            writeln!(f, "… and {} more failures (featurize's errors file lists every one)", self.failures.len() - shown)?;
        }
        Ok(())
    }
}

/// The process's peak resident set size in bytes (`VmHWM` of `/proc/self/status`), 0 where the
/// file does not exist (not Linux).
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(index_mismatches: u64) -> Summary {
        let mut s = Summary::new("bench", 3, Vec::new(), Duration::from_secs(1), Vec::new());
        let tally = FrameTally::default();
        tally.add(FrameCounts { decoded: 30, kept: 8, index_mismatches, recounted: 0 });
        tally.add(FrameCounts { decoded: 10, kept: 8, index_mismatches: 0, recounted: 0 });
        s.frames = tally.get();
        s
    }

    /// A fetch the packet index could not answer is counted in the printed summary and its JSON
    /// (issue 6: "say so … and count it in the run summary"); a clean run prints no such line.
    #[test]
    fn index_mismatches_reach_the_printed_and_json_summary() {
        let bad = summary(2);
        assert_eq!(bad.frames, FrameCounts { decoded: 40, kept: 16, index_mismatches: 2, recounted: 0 });
        assert!(bad.to_string().contains("index mismatches 2:"), "{bad}");
        assert_eq!(bad.to_json()["index_mismatches"], 2);
        assert_eq!(bad.decoded_per_kept(), Some(2.5));
        let good = summary(0);
        assert!(!good.to_string().contains("index mismatches"), "{good}");
        assert_eq!(good.to_json()["index_mismatches"], 0);
    }
}
