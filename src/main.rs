//! `vpipe`: command-line entry point. Each subcommand lives in `src/cli/<name>.rs` and only turns
//! flags into calls of the library.

mod cli;

use clap::Parser;

/// Blocks of at least this many bytes are mapped and unmapped by glibc, never kept in the heap.
const MMAP_THRESHOLD_BYTES: i32 = 1 << 20;

/// Keeps peak memory a function of the engine's window, not of the job's length. glibc raises
/// its mmap threshold (up to 32 MiB) each time a mapped block is freed, so after the first
/// batch libtorch's activations and the batch tensors (1–200 MiB) land in the heap, which then
/// fragments and grows batch after batch: featurize peaked 19% higher over a list ten times
/// longer. A fixed threshold stops that (4% higher, and 100 MiB lower overall).
fn bound_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

/// A job stopped by SIGUSR1 (Slurm's `--signal=B:USR1@120` ahead of the time limit,
/// `scripts/slurm/train.sbatch`) that committed its work asks Slurm to run it again, as submitit
/// does: Slurm requeues a `--requeue` job on preemption, not at its time limit.
fn requeue_slurm_job() {
    let Ok(id) = std::env::var("SLURM_JOB_ID") else { return };
    match std::process::Command::new("scontrol").args(["requeue", &id]).output() {
        Ok(o) if o.status.success() => eprintln!("requeued Slurm job {id}: it resumes when it runs again"),
        Ok(o) => eprintln!("scontrol requeue {id}: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => eprintln!("scontrol requeue {id}: {e}"),
    }
}

/// Ends the process with `code` without running C and C++ exit handlers. An interrupted job
/// leaves its stage threads running (one may be blocked in a read that never returns), and one
/// of them may be inside libtorch: `exit` would destroy libtorch's static state under it and the
/// job, its work already committed, would die of SIGSEGV instead of exiting 75.
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit only ends the process; every output was committed (written, synced and
    // renamed) before the Interrupted error was returned.
    unsafe { libc::_exit(code) }
}

fn main() {
    bound_allocator();
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {}", vpipe::model::without_cpp_backtrace(&format!("{e:#}")));
        let interrupted = e.downcast_ref::<vpipe::graph::interrupt::Interrupted>().is_some();
        if interrupted && vpipe::graph::interrupt::requeue_asked() {
            requeue_slurm_job();
        }
        if interrupted {
            exit_now(vpipe::graph::interrupt::EXIT_INTERRUPTED);
        }
        std::process::exit(1);
    }
}
