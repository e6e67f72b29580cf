//! The engine every vpipe job runs on: a source, then named stages joined by bounded channels,
//! then one terminal consumer on the calling thread.
//!
//! ```text
//! Graph::source(items) ─▶ .map("decode", workers, f) ─▶ .batch(B) ─▶ .map("model", 1, g)
//!                      ─▶ .run(sink)  or  .into_iter()
//! ```
//! The engine owns every thread and channel; stages are plain functions it calls. A token window
//! bounds the items between the source and the consumer (queued, being worked on, or waiting to be
//! reordered) to [`Settings::capacity`], so memory is bounded by configuration, not by the list.
//! A failing item becomes a [`Failure`] (item key, stage, message; panics included) that flows
//! past the later stages to the consumer, which applies the failure policy. Every stage counts
//! items, busy time and time blocked on its input and on its output ([`StageMetrics`]); the
//! consumer ends with one [`Summary`]. In the spirit of SPDL's pipeline builder and Vector's
//! topology.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use indicatif::{ProgressBar, ProgressStyle};

use super::metrics::{Failure, FrameTally, StageMetrics, Summary};

/// How a graph runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Items in flight between the source and the consumer, and every channel's capacity (≥ 1).
    pub capacity: usize,
    /// Stop at the first failed item: [`Stream::run`] returns its error.
    pub fail_fast: bool,
    /// Stop with an error once more than this many items failed (`None`: never).
    pub max_failures: Option<usize>,
    /// Show progress counting source items with this unit (`videos`): a bar on a terminal, else
    /// (a Slurm log, a pipe) a line every [`progress_every`] (items, rate, ETA, failures).
    /// `None`: neither.
    pub progress: Option<&'static str>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { capacity: 8, fail_fast: false, max_failures: None, progress: None }
    }
}

/// One item on a channel: its position among the stage's outputs, how many source items it
/// carries (a batch carries several), the source item's key for failure records, and the value
/// or the failure that replaced it.
struct Envelope<T> {
    seq: usize,
    /// Positions in the source of the items it carries (a batch carries several).
    items: Vec<usize>,
    key: String,
    value: Result<T, Failure>,
}

/// The threads, metrics and token window shared by every stage of one graph.
struct Core {
    job: &'static str,
    settings: Settings,
    stages: Vec<Arc<StageMetrics>>,
    threads: Vec<JoinHandle<()>>,
    tokens: Sender<()>,
    total: usize,
    start: Instant,
    /// Frames decoded and kept by the graph's decode stage, when it reports them.
    frames: Option<Arc<FrameTally>>,
    /// Set when the consumer stops: every stage thread returns before its next item, instead of
    /// working on until a full batch finds the channel after it closed (a whole batch of
    /// decoding after a `break` or Ctrl-C).
    stopping: Arc<AtomicBool>,
}

/// A stream of items of type `T` between two stages; built by [`Graph::source`].
pub struct Stream<T> {
    core: Core,
    rx: Receiver<Envelope<T>>,
}

/// Entry point of the builder.
pub struct Graph;

impl Graph {
    /// Starts job `job` from `items`; `key` names an item in failure records (its path).
    ///
    /// Sizes are bounded by the list: the in-flight window (and so every channel's capacity)
    /// never exceeds the number of items, nor a stage's threads, nor a batch's buffer, whatever
    /// number was configured ([`crate::config::limits`] refuses absurd ones before this).
    pub fn source<S: Send + 'static>(job: &'static str, items: Vec<S>, key: impl Fn(&S) -> String, mut settings: Settings) -> Stream<S> {
        settings.capacity = settings.capacity.clamp(1, items.len().max(1));
        let cap = settings.capacity;
        let (token_tx, token_rx) = unbounded::<()>();
        for _ in 0..cap {
            token_tx.send(()).expect("fresh channel");
        }
        let metrics = StageMetrics::stage("source", 1);
        let (tx, rx) = bounded::<Envelope<S>>(cap);
        let total = items.len();
        let keyed: Vec<(String, S)> = items.into_iter().map(|s| (key(&s), s)).collect();
        let m = metrics.clone();
        let thread = thread::spawn(move || {
            for (seq, (key, item)) in keyed.into_iter().enumerate() {
                // Waiting for a token is waiting on the consumer: blocked on output.
                if m.blocked(|| token_rx.recv()).is_err() {
                    return;
                }
                m.busy(|| ());
                if m.blocked(|| tx.send(Envelope { seq, items: vec![seq], key, value: Ok(item) })).is_err() {
                    return;
                }
            }
        });
        let core = Core {
            job,
            settings,
            stages: vec![metrics],
            threads: vec![thread],
            tokens: token_tx,
            total,
            start: Instant::now(),
            frames: None,
            stopping: Arc::default(),
        };
        Stream { core, rx }
    }
}

impl<T: Send + 'static> Stream<T> {
    /// Adds stage `name`: `f` on `workers` threads, outputs in input order. An error (or panic)
    /// from `f` replaces the item by a [`Failure`] of this stage.
    pub fn map<U: Send + 'static>(
        self,
        name: &'static str,
        workers: usize,
        f: impl Fn(T) -> Result<U> + Send + Sync + 'static,
    ) -> Stream<U> {
        let mut this = self;
        let metrics = this.metrics(StageMetrics::stage(name, this.threads_for(workers)));
        this.map_with(metrics, f)
    }

    /// The threads a stage of `workers` gets: no more than the items in flight at once (the
    /// window, itself bounded by the list), since more would only wait. Stages that make their
    /// own [`StageMetrics`] size them with it, so that the summary counts the threads that ran.
    pub fn threads_for(&self, workers: usize) -> usize {
        workers.clamp(1, self.core.settings.capacity.max(1))
    }

    /// As [`Self::map`] with counters made by the caller and registered with [`Self::metrics`]
    /// (whose worker count sets the threads), for stages that also time their own parts.
    pub fn map_with<U: Send + 'static>(
        mut self,
        metrics: Arc<StageMetrics>,
        f: impl Fn(T) -> Result<U> + Send + Sync + 'static,
    ) -> Stream<U> {
        let cap = self.core.settings.capacity.max(1);
        let (out_tx, out_rx) = bounded::<Envelope<U>>(cap);
        let (done_tx, done_rx) = bounded::<Envelope<U>>(cap);
        let f = Arc::new(f);
        for _ in 0..metrics.workers() {
            let (rx, tx, f, m, stop) = (self.rx.clone(), done_tx.clone(), f.clone(), metrics.clone(), self.core.stopping.clone());
            self.core.threads.push(thread::spawn(move || serve(&m, &rx, &tx, &stop, &*f)));
        }
        drop(done_tx);
        // Reorder: the workers finish out of order; the stage's output is in input order.
        let m = metrics.clone();
        self.core.threads.push(thread::spawn(move || {
            let mut pending = BTreeMap::new();
            let mut next = 0usize;
            for env in done_rx {
                pending.insert(env.seq, env);
                while let Some(env) = pending.remove(&next) {
                    next += 1;
                    if m.blocked(|| out_tx.send(env)).is_err() {
                        return;
                    }
                }
            }
        }));
        Stream { core: self.core, rx: out_rx }
    }

    /// Adds stage `name` on one thread of its own: `f` may keep state and need not be `Sync`
    /// (a model). Outputs in input order; errors and panics as [`Self::map`].
    pub fn then<U: Send + 'static>(mut self, name: &'static str, f: impl FnMut(T) -> Result<U> + Send + 'static) -> Stream<U> {
        let m = self.metrics(StageMetrics::stage(name, 1));
        let (tx, rx) = bounded::<Envelope<U>>(self.core.settings.capacity.max(1));
        let (input, stop) = (self.rx.clone(), self.core.stopping.clone());
        self.core.threads.push(thread::spawn(move || serve(&m, &input, &tx, &stop, f)));
        Stream { core: self.core, rx }
    }

    /// Groups consecutive good items into batches of `size` (the last may be smaller); a failure
    /// is passed on at once, outside any batch. The in-flight window grows by `size − 1` items,
    /// so that a whole batch fits in it.
    pub fn batch(mut self, size: usize) -> Stream<Vec<T>> {
        let size = size.clamp(1, self.core.total.max(1));
        for _ in 1..size {
            let _ = self.core.tokens.send(());
        }
        let cap = self.core.settings.capacity.max(1);
        let (tx, rx) = bounded::<Envelope<Vec<T>>>(cap);
        let m = StageMetrics::stage("batch", 1);
        let (input, stop) = (self.rx.clone(), self.core.stopping.clone());
        let mm = m.clone();
        self.core.threads.push(thread::spawn(move || {
            let (mut seq, mut items, mut carried, mut key) = (0usize, Vec::with_capacity(size), Vec::new(), String::new());
            let mut emit = |value: Result<Vec<T>, Failure>, carried: Vec<usize>, key: String| {
                let env = Envelope { seq, items: carried, key, value };
                seq += 1;
                mm.blocked(|| tx.send(env)).is_ok()
            };
            while let Ok(env) = mm.starved(|| input.recv()) {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                match env.value {
                    Ok(item) => {
                        mm.busy(|| ());
                        if items.is_empty() {
                            key = env.key;
                        }
                        items.push(item);
                        carried.extend(env.items);
                        if items.len() == size
                            && !emit(
                                Ok(std::mem::replace(&mut items, Vec::with_capacity(size))),
                                std::mem::take(&mut carried),
                                std::mem::take(&mut key),
                            )
                        {
                            return;
                        }
                    }
                    Err(f) => {
                        if !emit(Err(f), env.items, env.key) {
                            return;
                        }
                    }
                }
            }
            if !items.is_empty() {
                emit(Ok(items), carried, key);
            }
        }));
        self.core.stages.push(m);
        Stream { core: self.core, rx }
    }

    /// Registers `metrics` with this graph, so that its [`Summary`] reports them: a stage's
    /// counters for [`Self::map_with`], or a part timed inside a stage (the decode and transform
    /// parts of `prepare`, [`StageMetrics::part`]).
    pub fn metrics(&mut self, metrics: Arc<StageMetrics>) -> Arc<StageMetrics> {
        self.core.stages.push(metrics.clone());
        metrics
    }

    /// Reports `tally` (frames decoded and kept by a decode stage of this graph) in its
    /// [`Summary::frames`].
    pub fn count_frames(mut self, tally: Arc<FrameTally>) -> Self {
        self.core.frames = Some(tally);
        self
    }

    /// Runs the graph to the end, handing every good item to `sink` on the calling thread (stage
    /// `name`), and applying the failure policy to the failed ones (each printed above the
    /// progress bar).
    ///
    /// # Errors
    /// The first error `sink` returns; with `fail_fast`, the first failure; more than
    /// `max_failures` failures; SIGINT/SIGTERM when the job watches for them
    /// ([`super::interrupt::Interrupted`], counting the items handed to `sink`). Upstream
    /// threads are stopped and joined before it returns (left behind when interrupted: they may
    /// be blocked in a read that never returns).
    pub fn run(self, name: &'static str, mut sink: impl FnMut(T) -> Result<()>) -> Result<Summary> {
        let mut out = self.into_iter(name);
        let mut result = Ok(());
        while let Some(item) = out.next() {
            result = match item {
                Ok(v) => sink(v),
                Err(f) => out.record(f),
            };
            if result.is_err() {
                break;
            }
        }
        let (interrupted, settled, total) = (out.interrupted, out.settled, out.core.total);
        let summary = out.finish();
        if result.is_ok() && interrupted {
            return Err(super::interrupt::Interrupted::samples(settled, total).into());
        }
        result.map(|_| summary)
    }

    /// The consumer as an iterator on the calling thread, stage `name`: good items and failures
    /// in order. The time the caller spends between two `next` calls is that stage's busy time.
    /// The caller decides what a failure means ([`Outputs::record`] applies the policy);
    /// [`Outputs::finish`] gives the summary.
    pub fn into_iter(mut self, name: &'static str) -> Outputs<T> {
        let plain = self
            .core
            .settings
            .progress
            .filter(|_| !std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .map(|unit| PlainProgress { unit, every: progress_every(), last: Instant::now() });
        let bar = match self.core.settings.progress.filter(|_| plain.is_none()) {
            Some(unit) => {
                let bar = ProgressBar::new(self.core.total as u64);
                let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}} {{msg}}");
                bar.set_style(ProgressStyle::with_template(&template).expect("template"));
                bar
            }
            None => ProgressBar::hidden(),
        };
        let consumer = StageMetrics::stage(name, 1);
        self.core.stages.push(consumer.clone());
        Outputs {
            core: self.core,
            rx: Some(self.rx),
            bar,
            plain,
            done: 0,
            failures: Vec::new(),
            ok: 0,
            consumer,
            handed: None,
            owed: 0,
            settled: 0,
            handed_items: Default::default(),
            last_items: Vec::new(),
            interrupted: false,
        }
    }
}

/// One stage thread: takes items from `rx` until it closes or the graph is `stop`ping, applies
/// `f` to the good ones (an error or panic becomes this stage's [`Failure`]), passes failures
/// through, sends to `tx` until it closes.
fn serve<T, U>(
    m: &StageMetrics,
    rx: &Receiver<Envelope<T>>,
    tx: &Sender<Envelope<U>>,
    stop: &AtomicBool,
    mut f: impl FnMut(T) -> Result<U>,
) {
    while let Ok(env) = m.starved(|| rx.recv()) {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let value = match env.value {
            Ok(item) => m.busy(|| call(&mut f, item)).map_err(|e| Failure { path: env.key.clone(), stage: m.name.into(), message: e }),
            Err(failure) => Err(failure),
        };
        let env = Envelope { seq: env.seq, items: env.items, key: env.key, value };
        if m.blocked(|| tx.send(env)).is_err() {
            return;
        }
    }
}

/// Calls `f`, turning a panic into an error message.
fn call<T, U>(mut f: impl FnMut(T) -> Result<U>, item: T) -> Result<U, String> {
    match catch_unwind(AssertUnwindSafe(|| f(item))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(crate::model::without_cpp_backtrace(&format!("{e:#}"))),
        Err(p) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<&str>().copied().or(p.downcast_ref::<String>().map(String::as_str)).unwrap_or("?")
        )),
    }
}

/// The end of a graph, consumed on the calling thread (see [`Stream::into_iter`]).
pub struct Outputs<T> {
    core: Core,
    rx: Option<Receiver<Envelope<T>>>,
    bar: ProgressBar,
    /// Progress lines where stderr is not a terminal.
    plain: Option<PlainProgress>,
    /// Source items handed to the caller so far (good or failed).
    done: usize,
    failures: Vec<Failure>,
    ok: usize,
    consumer: Arc<StageMetrics>,
    /// When the last item was handed to the caller: the consumer's busy time runs from there.
    handed: Option<Instant>,
    /// Source items the caller holds: their tokens go back when it asks for the next item.
    owed: usize,
    /// Every source item before this position has been handed to the caller.
    settled: usize,
    /// Source positions at or after [`Self::settled`] already handed (a failure can overtake
    /// the items of a batch still being filled).
    handed_items: std::collections::BTreeSet<usize>,
    /// Source positions of the item last handed.
    last_items: Vec<usize>,
    /// SIGINT/SIGTERM arrived ([`super::interrupt`]): no more items are handed out.
    interrupted: bool,
}

/// How often a consumer waiting for an item looks for a stop request: a worker blocked for good
/// (a stalled network mount) must not keep the job from stopping on SIGTERM.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

impl<T> Outputs<T> {
    /// Records a failure under the graph's policy: printed, kept for the summary.
    ///
    /// # Errors
    /// With `fail_fast`, or when the failures exceed `max_failures`.
    pub fn record(&mut self, f: Failure) -> Result<()> {
        // A broken mount fails every item: the first few name the problem, the rest would bury
        // the log (100 000 lines); all of them reach the summary and the job's errors file.
        match self.failures.len() {
            n if n < PRINTED_FAILURES => self.bar.println(format!("FAILED {} [{}]: {}", f.path, f.stage, f.message)),
            n if n == PRINTED_FAILURES => {
                self.bar.println("further failures are not printed: the summary counts them (featurize's errors file lists every one)")
            }
            _ => {}
        }
        let err = anyhow!("{} failed in {}: {}", f.path, f.stage, f.message);
        self.failures.push(f);
        if self.core.settings.fail_fast {
            return Err(err.context("--fail-fast"));
        }
        if self.core.settings.max_failures.is_some_and(|m| self.failures.len() > m) {
            return Err(anyhow!("more than {} items failed; the last: {err:#}", self.core.settings.max_failures.unwrap_or(0)));
        }
        Ok(())
    }

    /// Whether the iteration ended because SIGINT/SIGTERM arrived (for a job that called
    /// [`super::interrupt::watch`]): the caller commits what settled and exits with
    /// [`super::interrupt::EXIT_INTERRUPTED`].
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// The source position before which every item has been handed to the caller, as a good
    /// output (a batch carries several) or as a failure. A job that commits its outputs as they
    /// come resumes from here.
    pub fn settled(&self) -> usize {
        self.settled
    }

    /// The source positions of the item [`Iterator::next`] last returned (one, or a batch's).
    pub fn last_items(&self) -> &[usize] {
        &self.last_items
    }

    /// Stops the graph (closing the channels makes every stage return), joins its threads and
    /// returns what it did.
    pub fn finish(mut self) -> Summary {
        if let Some(t) = self.handed.take() {
            self.consumer.add_busy(t.elapsed());
        }
        self.stop();
        self.bar.finish_and_clear();
        let mut s =
            Summary::new(self.core.job, self.ok, std::mem::take(&mut self.failures), self.core.start.elapsed(), self.core.stages.clone());
        s.frames = self.core.frames.as_ref().map(|t| t.get()).unwrap_or_default();
        s
    }

    fn stop(&mut self) {
        self.core.stopping.store(true, Ordering::Relaxed);
        drop(self.rx.take());
        let (closed, _) = unbounded();
        drop(std::mem::replace(&mut self.core.tokens, closed));
        if self.interrupted {
            // Workers blocked in a read (a FIFO, a dead NFS server) would never join; the
            // process is about to exit, which ends them.
            self.core.threads.clear();
        }
        for t in self.core.threads.drain(..) {
            let _ = t.join(); // stage code runs under catch_unwind: the threads themselves do not panic
        }
    }
}

/// Progress as plain lines, for a stderr that is not a terminal (where a bar draws nothing).
struct PlainProgress {
    unit: &'static str,
    every: Duration,
    last: Instant,
}

/// How often a job without a terminal prints a progress line: `VPIPE_PROGRESS_SECS` seconds
/// (default 30; 0 turns the lines off).
pub fn progress_every() -> Duration {
    let secs = std::env::var("VPIPE_PROGRESS_SECS").ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0);
    Duration::from_secs_f64(secs.unwrap_or(30.0))
}

impl<T> Outputs<T> {
    /// Prints `JOB: DONE/TOTAL UNIT (P %), R UNIT/s, ETA …[, F failed]` when the interval has
    /// passed since the last line (plain progress only).
    fn progress_line(&mut self) {
        let Some(p) = self.plain.as_mut() else { return };
        if p.every.is_zero() || p.last.elapsed() < p.every {
            return;
        }
        p.last = Instant::now();
        let (done, total) = (self.done, self.core.total.max(1));
        let secs = self.core.start.elapsed().as_secs_f64().max(1e-9);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 { format_secs(((total - done.min(total)) as f64 / rate) as u64) } else { "?".into() };
        let failed = if self.failures.is_empty() { String::new() } else { format!(", {} failed", self.failures.len()) };
        eprintln!(
            "{}: {done}/{total} {} ({:.0} %), {rate:.2} {}/s, elapsed {}, ETA {eta}{failed}",
            self.core.job,
            p.unit,
            100.0 * done as f64 / total as f64,
            p.unit,
            format_secs(secs as u64)
        );
    }
}

/// `1h02m03s`, `4m05s`, `6s`.
fn format_secs(s: u64) -> String {
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}

/// Failures printed as they happen (and listed in the printed summary); the rest are counted.
pub const PRINTED_FAILURES: usize = 20;

/// [`Outputs::next_within`] gave up waiting: the item is not ready yet (a later call returns it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting;

impl<T> Outputs<T> {
    /// As [`Iterator::next`], but gives up after `wait` with [`Waiting`], so that a caller can
    /// look at its own signals meanwhile (the Python loader: Ctrl-C while a stalled worker
    /// holds the next batch).
    ///
    /// # Errors
    /// [`Waiting`]: no item within `wait`.
    pub fn next_within(&mut self, wait: Duration) -> Result<Option<Result<T, Failure>>, Waiting> {
        if let Some(t) = self.handed.take() {
            self.consumer.add_busy(t.elapsed());
        }
        for _ in 0..std::mem::take(&mut self.owed) {
            let _ = self.core.tokens.send(()); // the caller is done with them: admit as many
        }
        let deadline = Instant::now() + wait;
        let env = loop {
            if super::interrupt::requested() {
                self.interrupted = true;
                return Ok(None);
            }
            self.progress_line(); // a stalled job still says where it is
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Waiting);
            }
            match self.consumer.starved(|| self.rx.as_ref().map(|rx| rx.recv_timeout(left.min(INTERRUPT_POLL)))) {
                Some(Ok(env)) => break env,
                Some(Err(RecvTimeoutError::Timeout)) => continue,
                Some(Err(RecvTimeoutError::Disconnected)) | None => return Ok(None),
            }
        };
        let count = env.items.len();
        self.owed = count;
        self.bar.inc(count as u64);
        self.done += count;
        self.progress_line();
        if env.value.is_ok() {
            self.ok += count;
        }
        self.handed_items.extend(env.items.iter().copied());
        self.last_items = env.items;
        while self.handed_items.remove(&self.settled) {
            self.settled += 1;
        }
        self.handed = Some(Instant::now());
        Ok(Some(env.value))
    }
}

impl<T> Iterator for Outputs<T> {
    type Item = Result<T, Failure>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Ok(item) = self.next_within(Duration::from_secs(3600)) {
                return item;
            }
        }
    }
}

impl<T> Drop for Outputs<T> {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn settings(capacity: usize) -> Settings {
        Settings { capacity, ..Default::default() }
    }

    #[test]
    fn outputs_come_in_input_order_despite_uneven_work() {
        let mut got = Vec::new();
        let s = Graph::source("t", (0..50).collect(), |i| i.to_string(), settings(6))
            .map("work", 4, |i: usize| {
                thread::sleep(Duration::from_micros(((i * 37) % 11) as u64 * 200));
                Ok(i * 2)
            })
            .run("sink", |v| {
                got.push(v);
                Ok(())
            })
            .unwrap();
        assert_eq!(got, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(s.ok, 50);
        let work = s.stages.iter().find(|m| m.name == "work").unwrap();
        assert_eq!((work.items(), work.workers()), (50, 4));
    }

    #[test]
    fn at_most_capacity_items_are_in_flight() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let (a, b) = (in_flight.clone(), max.clone());
        Graph::source("t", (0..40).collect(), |i| i.to_string(), settings(4))
            .map("w", 3, move |i: usize| {
                let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                b.fetch_max(now, Ordering::SeqCst);
                Ok(i)
            })
            .run("sink", |_| {
                thread::sleep(Duration::from_millis(2));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        let m = max.load(Ordering::SeqCst);
        assert!((2..=4).contains(&m), "max in flight {m}");
    }

    #[test]
    fn failures_and_panics_are_recorded_with_key_and_stage_and_the_rest_goes_on() {
        let mut batches = Vec::new();
        let s = Graph::source("t", (0..10).collect(), |i| format!("v{i}"), settings(4))
            .map("decode", 2, |i: usize| match i {
                3 => Err(anyhow!("corrupt")),
                7 => panic!("boom"),
                _ => Ok(i),
            })
            .batch(3)
            .run("sink", |b| {
                batches.push(b);
                Ok(())
            })
            .unwrap();
        assert_eq!(batches.concat(), vec![0, 1, 2, 4, 5, 6, 8, 9]);
        assert!(batches.iter().all(|b| b.len() <= 3));
        let f: Vec<(&str, &str)> = s.failures.iter().map(|f| (f.path.as_str(), f.stage.as_str())).collect();
        assert_eq!(f, [("v3", "decode"), ("v7", "decode")]);
        assert!(s.failures[1].message.contains("boom"));
        assert_eq!(s.ok, 8);
    }

    #[test]
    fn fail_fast_and_max_failures_stop_the_run() {
        let src = |cfg| {
            Graph::source("t", (0..100).collect(), |i| i.to_string(), cfg).map("w", 2, |i: usize| {
                if i % 10 == 5 {
                    Err(anyhow!("bad"))
                } else {
                    Ok(i)
                }
            })
        };
        let e = src(Settings { fail_fast: true, ..settings(4) }).run("sink", |_| Ok(())).unwrap_err();
        assert!(format!("{e:#}").contains("5 failed in w"), "{e:#}");
        let e = src(Settings { max_failures: Some(2), ..settings(4) }).run("sink", |_| Ok(())).unwrap_err();
        assert!(format!("{e:#}").contains("more than 2"), "{e:#}");
        assert_eq!(src(settings(4)).run("sink", |_| Ok(())).unwrap().failures.len(), 10);
    }

    #[test]
    fn a_stopped_graph_does_not_work_through_the_items_already_admitted() {
        // A window of 20 items, one slow worker, batches of 5: after the first batch the consumer
        // stops. Each stage returns before its next item; before, the batch stage took items
        // until its next batch was full (only then did it find the consumer gone), so the worker
        // went on for another batch (a Python `break` or Ctrl-C waited for a batch of decoding).
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let mut out = Graph::source("t", (0..100).collect(), |i| i.to_string(), settings(20))
            .map("slow", 1, move |i: usize| {
                thread::sleep(Duration::from_millis(20));
                d.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            })
            .batch(5)
            .into_iter("sink");
        assert_eq!(out.next().unwrap().unwrap(), vec![0, 1, 2, 3, 4]);
        drop(out);
        let n = done.load(Ordering::SeqCst);
        assert!(n <= 5 + 2, "{n} items worked on: the 5 of the batch taken, then the worker went on");
    }

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!((format_secs(6), format_secs(245), format_secs(3723)), ("6s".into(), "4m05s".into(), "1h02m03s".into()));
    }

    #[test]
    fn dropping_the_consumer_early_stops_every_thread() {
        let mut out = Graph::source("t", (0..10_000).collect(), |i| i.to_string(), settings(2)).map("w", 2, Ok).batch(4).into_iter("sink");
        assert_eq!(out.next().unwrap().unwrap(), vec![0, 1, 2, 3]);
        drop(out); // joins: would hang if a thread stayed blocked
    }
}
