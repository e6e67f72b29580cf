//! Per-stage counters: items, busy time and time blocked on the output channel (backpressure).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counters of one stage, shared by its threads.
#[derive(Debug, Default)]
pub struct StageMetrics {
    /// Stage name as printed in summaries (`source`, `decode`, `transform`, `model`, `sink`).
    pub name: &'static str,
    items: AtomicU64,
    busy_ns: AtomicU64,
    blocked_ns: AtomicU64,
}

impl StageMetrics {
    /// A new, shared counter set.
    pub fn new(name: &'static str) -> Arc<Self> {
        Arc::new(StageMetrics { name, ..Default::default() })
    }

    /// Runs `f`, counting one item and its time as busy.
    pub fn busy<R>(&self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.busy_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.items.fetch_add(1, Ordering::Relaxed);
        r
    }

    /// Runs `f` (a send on a full channel, a wait for a token), counting its time as blocked.
    pub fn blocked<R>(&self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.blocked_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    /// Items processed.
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }
    /// Total busy time, summed over the stage's threads.
    pub fn busy_time(&self) -> Duration {
        Duration::from_nanos(self.busy_ns.load(Ordering::Relaxed))
    }
    /// Total time blocked on output, summed over the stage's threads.
    pub fn blocked_time(&self) -> Duration {
        Duration::from_nanos(self.blocked_ns.load(Ordering::Relaxed))
    }
}

/// A failed sample: which file, which stage, and the underlying message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The sample's path.
    pub path: String,
    /// Stage that failed (`decode`, `transform`, `model`).
    pub stage: String,
    /// The error chain, outermost first.
    pub message: String,
}

/// What a run did, printed at its end.
#[derive(Debug)]
pub struct Summary {
    /// Samples that produced output.
    pub ok: usize,
    /// Samples that failed, with reasons.
    pub failures: Vec<Failure>,
    /// Output rows (clips) written.
    pub clips: usize,
    /// Wall time of the run.
    pub wall: Duration,
    /// Per-stage counters in graph order.
    pub stages: Vec<Arc<StageMetrics>>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.wall.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "samples ok {}, failed {}; {} clips in {:.2} s ({:.1} clips/s)",
            self.ok,
            self.failures.len(),
            self.clips,
            secs,
            self.clips as f64 / secs
        )?;
        writeln!(f, "{:<10} {:>8} {:>10} {:>12}", "stage", "items", "busy s", "blocked s")?;
        for s in &self.stages {
            writeln!(f, "{:<10} {:>8} {:>10.2} {:>12.2}", s.name, s.items(), s.busy_time().as_secs_f64(), s.blocked_time().as_secs_f64())?;
        }
        for x in &self.failures {
            writeln!(f, "FAILED {} [{}]: {}", x.path, x.stage, x.message)?;
        }
        Ok(())
    }
}

/// What a per-video file job did (`extract-frames`, `median`), printed at its end.
#[derive(Debug, Default)]
pub struct VideoJobSummary {
    /// Videos completed in this run.
    pub ok: usize,
    /// Videos skipped because their output was already complete.
    pub skipped: usize,
    /// Videos that failed, with reasons; they have no output.
    pub failures: Vec<Failure>,
    /// Frames processed in this run.
    pub frames: usize,
    /// Wall time of the run.
    pub wall: Duration,
}

impl std::fmt::Display for VideoJobSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.wall.as_secs_f64().max(1e-9);
        let (ok, skipped, failed, frames) = (self.ok, self.skipped, self.failures.len(), self.frames);
        writeln!(
            f,
            "videos ok {ok}, skipped {skipped}, failed {failed}; {frames} frames in {secs:.2} s ({:.0} frames/s)",
            frames as f64 / secs
        )?;
        for x in &self.failures {
            writeln!(f, "FAILED {}: {}", x.path, x.message)?;
        }
        Ok(())
    }
}
