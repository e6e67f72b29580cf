//! One writer per output: an exclusive advisory lock (`flock(2)`) on a small file beside the
//! output (a featurize shard's `.part-0000I-of-0000N.lock`, extract-frames' `OUT/.extract-…lock`,
//! a training work dir's `.vpipe.lock`).
//!
//! The kernel releases the lock when its holder exits, however it exits: a SIGKILLed or
//! preempted job never blocks its requeue, and no stale lock needs deleting by hand. The file
//! holds who took the lock (host, pid, start time), so that a second writer fails at once
//! naming the holder. The file itself stays (deleting a lock file while another process opens
//! it would let two holders lock two different files).
//!
//! `flock` locks are per open file description: two opens in one process exclude each other too,
//! which is what the tests rely on. On NFS, Linux emulates `flock` with POSIX byte-range locks,
//! which also work across hosts.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result};

/// An exclusive (or shared) lock on a file, held until dropped: closing the file releases it,
/// as does the end of the process.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
}

/// Who holds a lock, as the lock file records it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// Host name of the holder.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// When it took the lock, Unix seconds.
    pub started_unix_s: f64,
    /// Its command line, for the message.
    #[serde(default)]
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}, started at Unix time {:.0}", self.pid, self.host, self.started_unix_s)?;
        let age = super::shard_output::unix_now() - self.started_unix_s;
        if age >= 0.0 {
            write!(f, " ({age:.0} s ago)")?;
        }
        if !self.command.is_empty() {
            write!(f, ": {}", self.command)?;
        }
        Ok(())
    }
}

impl OutputLock {
    /// Takes the lock on `path` (creating the file and its folder), without waiting, and records
    /// this process as its holder. `what` names the output in the error (`shard 2 of 4 in out/`).
    ///
    /// # Errors
    /// Another process holds the lock: the message names `what`, the lock file and the holder
    /// (host, pid, start time, command). The file or folder cannot be created.
    pub fn acquire(path: &Path, what: &str) -> Result<Self> {
        Self::take(path, what, libc::LOCK_EX)
    }

    /// As [`Self::acquire`], but shared: any number of shared holders at once, none beside an
    /// exclusive one. Sharded `extract-frames` runs share their output folder's lock (each
    /// holds its shard's exclusively), so that an unsharded run on the folder, which takes it
    /// exclusively, cannot run beside them.
    ///
    /// # Errors
    /// As [`Self::acquire`].
    pub fn acquire_shared(path: &Path, what: &str) -> Result<Self> {
        Self::take(path, what, libc::LOCK_SH)
    }

    fn take(path: &Path, what: &str, mode: i32) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        if !try_flock_patiently(&file, mode)? {
            let holder = read_holder(&mut file).map_or_else(
                || "a process whose name is not recorded (a shard sharing the lock, or a run just starting)".into(),
                |h| h.to_string(),
            );
            anyhow::bail!(
                "{what} is being written by another vpipe run: {holder}. Two writers would overwrite each other's files; \
                 wait for it to end (or stop it), then run again (lock {})",
                path.display()
            );
        }
        if mode == libc::LOCK_SH {
            // Shared holders would overwrite each other's names (their own exclusive locks name
            // them); an earlier exclusive holder's name must not outlive it either.
            file.set_len(0).with_context(|| format!("writing {}", path.display()))?;
            return Ok(OutputLock { _file: file });
        }
        let me = Holder {
            host: super::shard_output::host_name(),
            pid: std::process::id(),
            started_unix_s: super::shard_output::unix_now(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        };
        file.set_len(0).and_then(|()| file.rewind()).with_context(|| format!("writing {}", path.display()))?;
        file.write_all(&serde_json::to_vec(&me)?).with_context(|| format!("writing {}", path.display()))?;
        Ok(OutputLock { _file: file })
    }

    /// Whether some process holds the lock on `path` now (`vpipe shards`: "running"), and who,
    /// as far as the file says. `None` when the file does not exist or nobody holds it.
    pub fn holder(path: &Path) -> Option<Holder> {
        // Read-only is enough for flock, and works on an output folder one may only read.
        let mut file = File::open(path).ok()?;
        match try_flock(&file, libc::LOCK_EX) {
            Ok(true) => None, // free: released with `file` at return
            Ok(false) => {
                Some(read_holder(&mut file).unwrap_or(Holder { host: "?".into(), pid: 0, started_unix_s: 0.0, command: String::new() }))
            }
            Err(_) => None,
        }
    }
}

/// `flock(mode | LOCK_NB)`: `Ok(false)` when another open file description holds a lock that
/// excludes it; `Ok(true)` with a warning where the file system has no locks.
fn try_flock(file: &File, mode: i32) -> Result<bool> {
    loop {
        // SAFETY: flock on a valid, open fd.
        if unsafe { libc::flock(file.as_raw_fd(), mode | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            // A file system without locks (an NFS mount without lockd): refusing to run there
            // would stop every job on it, so go on unlocked and say what is not guarded.
            Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS) => {
                eprintln!("warning: this file system does not support locks ({e}); a second run on the same output would not be refused");
                return Ok(true);
            }
            _ => return Err(e).context("flock"),
        }
    }
}

/// [`try_flock`], tried again for up to 100 ms: `vpipe shards` takes a lock for an instant to
/// see whether it is held, and a writer starting in that instant must not take it for a rival.
fn try_flock_patiently(file: &File, mode: i32) -> Result<bool> {
    for _ in 0..5 {
        if try_flock(file, mode)? {
            return Ok(true);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    try_flock(file, mode)
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_fails_naming_the_holder_and_a_released_lock_is_free() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub").join(".x.lock");
        let first = OutputLock::acquire(&p, "shard 0 of 1").unwrap();
        let e = OutputLock::acquire(&p, "shard 0 of 1").unwrap_err().to_string();
        assert!(e.contains("shard 0 of 1 is being written by another vpipe run"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())) && e.contains(&super::super::shard_output::host_name()), "{e}");
        assert_eq!(OutputLock::holder(&p).map(|h| h.pid), Some(std::process::id()));
        drop(first);
        assert!(OutputLock::holder(&p).is_none(), "the kernel released it");
        let a = OutputLock::acquire_shared(&p, "out").expect("free again");
        let b = OutputLock::acquire_shared(&p, "out").expect("shared holders coexist");
        assert!(OutputLock::acquire(&p, "out").unwrap_err().to_string().contains("out is being written by another vpipe run"));
        drop((a, b));
        OutputLock::acquire(&p, "out").expect("free again");
        assert!(OutputLock::holder(&d.path().join("none.lock")).is_none());
    }
}
