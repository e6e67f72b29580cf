//! SIGTERM stops a graph whose workers are blocked for good (a FIFO, a dead network mount): the
//! consumer stops waiting, hands out nothing more and returns without joining the stuck
//! threads, so a job commits what settled and exits 75 before Slurm's SIGKILL.
//!
//! Its own test binary: the stop request is process-wide, and no other graph may run beside it.

use std::time::{Duration, Instant};

use vpipe::graph::interrupt;
use vpipe::graph::{Graph, Settings};

#[test]
fn sigterm_ends_the_iteration_while_a_worker_is_blocked() {
    interrupt::watch().unwrap();
    let (_keep, blocked) = crossbeam_channel::bounded::<()>(0);
    let settings = Settings { capacity: 2, ..Settings::default() };
    let mut out = Graph::source("t", vec![0, 1, 2], |i: &i32| i.to_string(), settings)
        .map("work", 1, move |i: i32| {
            if i == 1 {
                let _ = blocked.recv(); // never answered: a read that does not return
            }
            Ok(i)
        })
        .into_iter("sink");
    assert_eq!(out.next().map(|r| r.ok()), Some(Some(0)));
    assert!(!out.interrupted());
    // SAFETY: raise only sends a signal to this process; the handler sets a flag.
    unsafe { libc::raise(libc::SIGTERM) };
    let t = Instant::now();
    assert!(out.next().is_none(), "nothing more after SIGTERM");
    assert!(out.interrupted());
    let summary = out.finish(); // must not wait for the blocked worker
    assert!(t.elapsed() < Duration::from_secs(2), "stopped in {:?}", t.elapsed());
    assert_eq!(summary.ok, 1);
    assert!(interrupt::requested());
}
