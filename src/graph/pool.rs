//! Source + worker pool + reordering, with a bounded in-flight window.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::StageMetrics;

/// Pool sizing.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Worker threads (≥ 1).
    pub workers: usize,
    /// In-flight window and channel capacity, in samples: at most this many samples are between
    /// the source and the consumer at any time (≥ 1).
    pub capacity: usize,
}

/// One processed sample, in source order.
#[derive(Debug)]
pub struct Done<S, T> {
    /// Position in the input (0-based).
    pub seq: usize,
    /// The input item.
    pub item: S,
    /// The worker's result.
    pub result: anyhow::Result<T>,
}

/// Ordered results of [`run_pool`]; iterate to consume. Dropping it stops the source and workers
/// (they see closed channels) and joins them.
pub struct Ordered<S, T> {
    done: Receiver<Done<S, T>>,
    tokens: Sender<()>,
    pending: BTreeMap<usize, Done<S, T>>,
    next: usize,
    /// Samples processed but not yet yielded: the gauge the backpressure test watches.
    pub unconsumed: Arc<AtomicUsize>,
    /// Highest value `unconsumed` reached.
    pub max_unconsumed: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl<S, T> Iterator for Ordered<S, T> {
    type Item = Done<S, T>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(d) = self.pending.remove(&self.next) {
                self.next += 1;
                self.unconsumed.fetch_sub(1, Ordering::SeqCst);
                let _ = self.tokens.try_send(()); // admit one more sample
                return Some(d);
            }
            match self.done.recv() {
                Ok(d) => {
                    self.pending.insert(d.seq, d);
                }
                Err(_) => return None,
            }
        }
    }
}

impl<S, T> Drop for Ordered<S, T> {
    fn drop(&mut self) {
        // Unblock everyone: closing `done` makes workers' sends fail; draining lets them finish.
        let (_, empty) = bounded(0);
        let done = std::mem::replace(&mut self.done, empty);
        drop(done);
        let (closed, _) = bounded(0);
        drop(std::mem::replace(&mut self.tokens, closed));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Runs `process` over `items` on `cfg.workers` threads and returns the results in input order.
///
/// The source thread admits a sample only after taking a token; the consumer returns one token per
/// yielded result, so at most `cfg.capacity` samples are in flight (queued, being processed, or
/// waiting for an earlier one). `source` metrics count time waiting for tokens as blocked;
/// `work` metrics count processing as busy and waiting on the output channel as blocked.
pub fn run_pool<S, T, F>(items: Vec<S>, cfg: &PoolConfig, source: Arc<StageMetrics>, work: Arc<StageMetrics>, process: F) -> Ordered<S, T>
where
    S: Send + 'static,
    T: Send + 'static,
    F: Fn(&S) -> anyhow::Result<T> + Send + Sync + 'static,
{
    let cap = cfg.capacity.max(1);
    let (task_tx, task_rx) = bounded::<(usize, S)>(cap);
    let (done_tx, done_rx) = bounded::<Done<S, T>>(cap);
    let (token_tx, token_rx) = bounded::<()>(cap);
    for _ in 0..cap {
        token_tx.send(()).expect("fresh channel");
    }
    let unconsumed = Arc::new(AtomicUsize::new(0));
    let max_unconsumed = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    threads.push(thread::spawn(move || {
        for (seq, item) in items.into_iter().enumerate() {
            if source.blocked(|| token_rx.recv()).is_err() || task_tx.send((seq, item)).is_err() {
                return;
            }
            source.busy(|| ());
        }
    }));
    let process = Arc::new(process);
    for _ in 0..cfg.workers.max(1) {
        let (task_rx, done_tx, process, work) = (task_rx.clone(), done_tx.clone(), process.clone(), work.clone());
        let (unconsumed, max_unconsumed) = (unconsumed.clone(), max_unconsumed.clone());
        threads.push(thread::spawn(move || {
            for (seq, item) in task_rx {
                let result = work.busy(|| process(&item));
                let now = unconsumed.fetch_add(1, Ordering::SeqCst) + 1;
                max_unconsumed.fetch_max(now, Ordering::SeqCst);
                if work.blocked(|| done_tx.send(Done { seq, item, result })).is_err() {
                    return;
                }
            }
        }));
    }
    Ordered { done: done_rx, tokens: token_tx, pending: BTreeMap::new(), next: 0, unconsumed, max_unconsumed, threads }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_come_back_in_order_despite_uneven_work() {
        let cfg = PoolConfig { workers: 4, capacity: 6 };
        let out: Vec<usize> = run_pool((0..50).collect(), &cfg, StageMetrics::new("s"), StageMetrics::new("w"), |&i: &usize| {
            thread::sleep(Duration::from_micros(((i * 37) % 11) as u64 * 200));
            Ok(i * 2)
        })
        .map(|d| d.result.unwrap())
        .collect();
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn slow_consumer_never_has_more_than_capacity_in_flight() {
        let cfg = PoolConfig { workers: 3, capacity: 4 };
        let mut it = run_pool((0..40).collect(), &cfg, StageMetrics::new("s"), StageMetrics::new("w"), |&i: &usize| Ok(i));
        let mut n = 0;
        while let Some(_) = it.next() {
            thread::sleep(Duration::from_millis(3));
            n += 1;
        }
        assert_eq!(n, 40);
        let max = it.max_unconsumed.load(Ordering::SeqCst);
        assert!(max <= 4 && max >= 2, "max in flight {max}");
    }

    #[test]
    fn dropping_the_consumer_stops_the_workers() {
        let cfg = PoolConfig { workers: 2, capacity: 2 };
        let mut it = run_pool((0..1000).collect(), &cfg, StageMetrics::new("s"), StageMetrics::new("w"), |&i: &usize| Ok(i));
        assert_eq!(it.next().unwrap().seq, 0);
        drop(it); // joins: would hang if a thread stayed blocked
    }
}
