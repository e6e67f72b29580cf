//! SIGINT and SIGTERM as a request to stop cleanly. Slurm sends SIGTERM at a job's time limit
//! and on preemption, then SIGKILL after `KillWait` (30 s by default): a job that watches for
//! the request commits what it has, says so, and exits with [`EXIT_INTERRUPTED`], so that a
//! re-run (or a requeue) resumes. A second SIGINT or SIGTERM ends the process at once, with the
//! shell's status for that signal (130 for SIGINT, 143 for SIGTERM).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};

/// Exit status of a job stopped by SIGINT/SIGTERM after committing its work (EX_TEMPFAIL,
/// "try again"): distinct from 1 (an error) and from 128 + signal (killed without committing).
pub const EXIT_INTERRUPTED: i32 = 75;

static REQUESTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Starts watching for SIGINT and SIGTERM (once per process; later calls do nothing).
///
/// # Errors
/// The handlers cannot be installed.
pub fn watch() -> Result<()> {
    if REQUESTED.get().is_some() {
        return Ok(());
    }
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The conditional shutdown goes first: it sees the flag as it was before this signal.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flag.clone()).context("installing a signal handler")?;
        signal_hook::flag::register(sig, flag.clone()).context("installing a signal handler")?;
    }
    let _ = REQUESTED.set(flag);
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`watch`].
pub fn requested() -> bool {
    REQUESTED.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// The error of a job that stopped on request after committing its work; `vpipe` exits with
/// [`EXIT_INTERRUPTED`] on it.
#[derive(Debug, thiserror::Error)]
#[error("stopped by SIGINT/SIGTERM after committing {committed} of {total} samples; run the same command again to resume")]
pub struct Interrupted {
    /// Samples committed.
    pub committed: usize,
    /// Samples in the job.
    pub total: usize,
}
