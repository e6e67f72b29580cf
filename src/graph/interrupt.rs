//! SIGINT, SIGTERM and SIGUSR1 as a request to stop cleanly. Slurm sends SIGTERM on
//! preemption, `scontrol requeue` and `scancel`, and at a job's time limit, then SIGKILL after
//! `KillWait` (30 s by default): a job that watches for the request commits what it has, says
//! so, and exits with [`EXIT_INTERRUPTED`], so that a re-run (or a requeue) resumes. SIGUSR1 is
//! the signal a job asks for ahead of its time limit (`--signal=B:USR1@120`,
//! `scripts/slurm/train.sbatch`): the same stop, and [`requeue_asked`] tells the caller to
//! requeue the job, which Slurm would not do at a time limit (submitit's convention: SIGTERM
//! alone may be `scancel`, which must not come back). A second signal ends the process at once,
//! with the shell's status for it (130 for SIGINT, 143 for SIGTERM).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};

/// Exit status of a job stopped by SIGINT/SIGTERM after committing its work (EX_TEMPFAIL,
/// "try again"): distinct from 1 (an error) and from 128 + signal (killed without committing).
pub const EXIT_INTERRUPTED: i32 = 75;

/// (any stop signal arrived, SIGUSR1 arrived)
static REQUESTED: OnceLock<(Arc<AtomicBool>, Arc<AtomicBool>)> = OnceLock::new();

/// Starts watching for SIGINT, SIGTERM and SIGUSR1 (once per process; later calls do nothing).
///
/// # Errors
/// The handlers cannot be installed.
pub fn watch() -> Result<()> {
    if REQUESTED.get().is_some() {
        return Ok(());
    }
    let (flag, requeue) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGUSR1] {
        // The conditional shutdown goes first: it sees the flag as it was before this signal.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flag.clone()).context("installing a signal handler")?;
        signal_hook::flag::register(sig, flag.clone()).context("installing a signal handler")?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, requeue.clone()).context("installing a signal handler")?;
    let _ = REQUESTED.set((flag, requeue));
    Ok(())
}

/// Whether SIGINT, SIGTERM or SIGUSR1 arrived since [`watch`].
pub fn requested() -> bool {
    REQUESTED.get().is_some_and(|f| f.0.load(Ordering::SeqCst))
}

/// Whether SIGUSR1 arrived since [`watch`]: the job's time is up and it should be requeued.
pub fn requeue_asked() -> bool {
    REQUESTED.get().is_some_and(|f| f.1.load(Ordering::SeqCst))
}

/// The error of a job that stopped on request after committing its work; `vpipe` exits with
/// [`EXIT_INTERRUPTED`] on it.
#[derive(Debug, thiserror::Error)]
#[error("stopped by SIGINT/SIGTERM/SIGUSR1 after committing {committed}; {resume}")]
pub struct Interrupted {
    /// What was committed (`120 of 400 samples`, `a checkpoint at epoch 3, iteration 5 of 10`).
    pub committed: String,
    /// How to go on (`run the same command again to resume`).
    pub resume: &'static str,
}

impl Interrupted {
    /// A streamed job (featurize, extract-frames) that committed `committed` of `total` samples
    /// and resumes when run again.
    pub fn samples(committed: usize, total: usize) -> Self {
        Interrupted { committed: format!("{committed} of {total} samples"), resume: "run the same command again to resume" }
    }
}
