//! One shard's featurize output, committed as it is produced so that a killed job resumes where
//! it stopped and ends with exactly the rows of an uninterrupted run.
//!
//! ```text
//! DIR/part-00002-of-00004.parquet        the rows (written last-but-two, atomically)
//! DIR/errors-00002.parquet               failed videos: video, stage, message (may have no rows)
//! DIR/part-00002-of-00004.json           the manifest; its presence means "complete"
//! DIR/.part-00002-of-00004.work/         while running: job.json (hashes) and committed chunks
//!     chunk-000000.parquet + chunk-000000.json   (the JSON, renamed last, makes the chunk count)
//! ```
//! A chunk covers a run of consecutive samples of the shard's list: its rows (in list order) and
//! its failures. After a kill at any moment the chunks with their JSON are whole (each file is
//! written under a temporary name, fsynced and renamed); the re-run skips the samples they cover
//! and appends new chunks; the last step merges the chunks into the part file, then writes the
//! errors file and the manifest, then removes the work folder. A kill between those steps is
//! repaired by the next run, which redoes the merge from the chunks still there.
//!
//! With `--out FILE.parquet` the same files are `FILE.parquet`, `FILE.errors.parquet`,
//! `FILE.json` and `.FILE.parquet.work/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::atomic::AtomicFile;
use super::lock::{Holder, OutputLock};
use super::parquet_sink::{writer_properties, ClipRow, ParquetSink};

/// Where a shard's files go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardPaths {
    /// The rows: `part-0000I-of-0000N.parquet`.
    pub data: PathBuf,
    /// Failed videos: `errors-0000I.parquet`.
    pub errors: PathBuf,
    /// The manifest, written last: `part-0000I-of-0000N.json`.
    pub manifest: PathBuf,
    /// Committed chunks while the shard runs: `.part-0000I-of-0000N.work/`.
    pub work: PathBuf,
    /// The writer's lock (`.part-0000I-of-0000N.lock`, see [`super::lock`]): one run per shard.
    pub lock: PathBuf,
}

impl ShardPaths {
    /// The paths for shard `index` of `count` under `out`: a folder (Spark/Hive-style part
    /// names), or, when `out` ends in `.parquet`, that file (with `-part-0000I-of-0000N` before
    /// the extension when `count` > 1) and files named after it.
    pub fn new(out: &Path, index: usize, count: usize) -> Self {
        let part = format!("part-{index:05}-of-{count:05}");
        if out.extension().is_some_and(|e| e == "parquet") {
            let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let stem = if count > 1 { format!("{stem}-{part}") } else { stem };
            let at = |name: String| out.with_file_name(name);
            ShardPaths {
                data: at(format!("{stem}.parquet")),
                errors: at(format!("{stem}.errors.parquet")),
                manifest: at(format!("{stem}.json")),
                work: at(format!(".{stem}.parquet.work")),
                lock: at(format!(".{stem}.parquet.lock")),
            }
        } else {
            ShardPaths {
                data: out.join(format!("{part}.parquet")),
                errors: out.join(format!("errors-{index:05}.parquet")),
                manifest: out.join(format!("{part}.json")),
                work: out.join(format!(".{part}.work")),
                lock: out.join(format!(".{part}.lock")),
            }
        }
    }
}

/// What a shard computes from: SHA-256 digests of its inputs (the shard's list entries) and of
/// the configuration that decides its rows (model, weights, pipeline, seed). Worker counts and
/// batch sizes are not part of it: they do not change the rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobKey {
    /// Shard index, 0-based.
    pub shard_index: usize,
    /// Shards in all.
    pub shard_count: usize,
    /// Digest of the inputs.
    pub inputs_sha256: String,
    /// Digest of the configuration.
    pub config_sha256: String,
}

/// The hex SHA-256 of `parts`, each length-prefixed so that no two lists collide.
pub fn digest<S: AsRef<[u8]>>(parts: impl IntoIterator<Item = S>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        let p = p.as_ref();
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// One failed video, as `errors-0000I.parquet` holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// The video's path.
    pub video: String,
    /// The stage that failed (`prepare`, `model`, …).
    pub stage: String,
    /// The error chain, outermost first.
    pub message: String,
}

/// A committed chunk's record (`chunk-K.json`).
#[derive(Debug, Serialize, Deserialize)]
struct ChunkRecord {
    /// Samples of the shard settled (written or failed) once this chunk counts.
    next: usize,
    /// Rows in `chunk-K.parquet` (0: no such file).
    rows: usize,
    /// The chunk's failed videos.
    failures: Vec<ErrorRecord>,
}

/// The manifest of a complete shard (`part-0000I-of-0000N.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The shard and what it was computed from.
    #[serde(flatten)]
    pub key: JobKey,
    /// vpipe's version.
    pub vpipe_version: String,
    /// Samples (videos) in the shard.
    pub samples: usize,
    /// Rows written.
    pub rows: usize,
    /// Videos that failed (their records are in [`Self::errors`]).
    pub failures: usize,
    /// File name of the rows (`None` when no sample gave a row).
    pub data: Option<String>,
    /// File name of the failure records.
    pub errors: String,
    /// Host that finished the shard.
    pub host: String,
    /// When the first run of this shard started and when it finished, Unix seconds.
    pub started_unix_s: f64,
    /// See [`Self::started_unix_s`].
    pub finished_unix_s: f64,
    /// Samples already committed when the finishing run started (0 unless it resumed).
    pub resumed_at: usize,
    /// The finishing run's summary ([`crate::graph::Summary::to_json`]).
    pub summary: serde_json::Value,
}

impl Manifest {
    /// Reads the manifest at `path`.
    ///
    /// # Errors
    /// Unreadable or not a manifest (the message names the file).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("{} is not a vpipe shard manifest", path.display()))
    }
}

/// What [`ShardWriter::open`] found.
pub enum Opened {
    /// The shard is complete for the same inputs and configuration: nothing to do.
    Complete(Manifest),
    /// Write (or go on writing) the shard.
    Writer(ShardWriter),
}

/// The work folder's `job.json`: the key, when the shard was first started, and by which vpipe.
#[derive(Debug, Serialize, Deserialize)]
struct WorkRecord {
    key: JobKey,
    started_unix_s: f64,
    /// The vpipe version that started the shard ("" in records of versions before it was kept).
    #[serde(default)]
    vpipe_version: String,
}

/// Writes one shard's rows and failures in committed chunks (see the module docs).
pub struct ShardWriter {
    /// Held while the writer lives: a second run on the shard fails at once.
    _lock: OutputLock,
    paths: ShardPaths,
    key: JobKey,
    metadata: Vec<(String, String)>,
    commit_every: usize,
    started_unix_s: f64,
    /// Samples settled by committed chunks.
    committed: usize,
    /// Failed videos recorded by the chunks earlier runs committed.
    earlier_failures: usize,
    /// Samples settled so far (committed or not).
    settled: usize,
    resumed_at: usize,
    chunks: usize,
    rows: Vec<ClipRow>,
    /// Failed videos not yet committed, with their positions in the shard's list.
    failures: Vec<(usize, ErrorRecord)>,
    last_commit: Instant,
}

/// Longest time rows stay uncommitted while samples keep settling.
const COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

impl ShardWriter {
    /// Opens shard `key` at `paths`. A complete shard with the same key is [`Opened::Complete`];
    /// a work folder with the same key is resumed after its last committed chunk
    /// ([`Self::resume_at`]); with `force`, any previous output of the shard is deleted first.
    /// `metadata` goes into the part file; a chunk is committed every `commit_every` settled
    /// samples (and at least every 30 s).
    ///
    /// The shard's lock ([`OutputLock`]) is taken first and held by the writer.
    ///
    /// # Errors
    /// Another run holds the shard's lock (the message names it: host, pid, start time);
    /// previous output of the shard computed from other inputs or another configuration
    /// (without `force`); unreadable manifests or chunk records; folders that cannot be created.
    pub fn open(paths: ShardPaths, key: JobKey, metadata: Vec<(String, String)>, commit_every: usize, force: bool) -> Result<Opened> {
        let what = format!("shard {} of {} ({})", key.shard_index, key.shard_count, paths.data.display());
        let lock = OutputLock::acquire(&paths.lock, &what)?;
        if force {
            for f in [&paths.data, &paths.errors, &paths.manifest] {
                remove_if_present(f)?;
            }
            if paths.work.exists() {
                std::fs::remove_dir_all(&paths.work).with_context(|| format!("removing {}", paths.work.display()))?;
            }
        }
        if paths.manifest.exists() {
            let m = Manifest::load(&paths.manifest)?;
            if m.key != key {
                bail!("{} was computed from {}; pass --force to recompute it", paths.manifest.display(), differs(&m.key, &key));
            }
            if paths.work.exists() {
                // A kill after the manifest, before the work folder was gone.
                std::fs::remove_dir_all(&paths.work).with_context(|| format!("removing {}", paths.work.display()))?;
            }
            return Ok(Opened::Complete(m));
        }
        let job = paths.work.join("job.json");
        let started_unix_s = if job.exists() {
            let w: WorkRecord = serde_json::from_slice(&std::fs::read(&job).with_context(|| format!("reading {}", job.display()))?)
                .with_context(|| format!("{} is not a vpipe work record", job.display()))?;
            if w.key != key {
                bail!("{} holds a partial run computed from {}; pass --force to start over", paths.work.display(), differs(&w.key, &key));
            }
            // Chunks of two vpipe versions must not end up in one part file (their numbers
            // could differ); a complete shard stays valid for newer versions.
            if w.vpipe_version != crate::VERSION {
                let by = if w.vpipe_version.is_empty() { "an older vpipe".to_string() } else { format!("vpipe {}", w.vpipe_version) };
                bail!(
                    "{} holds a partial run started by {by}, this is vpipe {}; pass --force to start over",
                    paths.work.display(),
                    crate::VERSION
                );
            }
            w.started_unix_s
        } else {
            let w = WorkRecord { key: key.clone(), started_unix_s: unix_now(), vpipe_version: crate::VERSION.to_string() };
            std::fs::create_dir_all(&paths.work).with_context(|| format!("creating {}", paths.work.display()))?;
            write_synced(&job, &serde_json::to_vec_pretty(&w)?)?;
            w.started_unix_s
        };
        let (chunks, committed, earlier_failures) = committed_chunks(&paths.work)?;
        Ok(Opened::Writer(ShardWriter {
            _lock: lock,
            paths,
            key,
            metadata,
            commit_every: commit_every.max(1),
            started_unix_s,
            committed,
            earlier_failures,
            settled: committed,
            resumed_at: committed,
            chunks,
            rows: Vec::new(),
            failures: Vec::new(),
            last_commit: Instant::now(),
        }))
    }

    /// Samples of the shard's list already committed by earlier runs: start there.
    pub fn resume_at(&self) -> usize {
        self.resumed_at
    }

    /// Failed videos recorded by the chunks earlier runs of this shard committed (what
    /// `--max-failures` counts besides this run's).
    pub fn earlier_failures(&self) -> usize {
        self.earlier_failures
    }

    /// Samples of the shard's list committed so far (by this run and earlier ones).
    pub fn committed(&self) -> usize {
        self.committed
    }

    /// Adds a row of a settled sample (rows come in list order).
    pub fn push(&mut self, row: ClipRow) {
        self.rows.push(row);
    }

    /// Records the failure of the video at position `at` of the shard's list (a failure may be
    /// reported before the rows of earlier samples; it is committed with them).
    pub fn fail(&mut self, at: usize, e: ErrorRecord) {
        self.failures.push((at, e));
    }

    /// Says that every sample before position `next` of the shard's list has given its rows or
    /// failure; commits a chunk when `commit_every` samples (or 30 s) have settled since the
    /// last one.
    ///
    /// # Errors
    /// As [`Self::commit`].
    pub fn settled(&mut self, next: usize) -> Result<()> {
        self.settled = next;
        if next - self.committed >= self.commit_every || self.last_commit.elapsed() >= COMMIT_INTERVAL {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits what has settled as the next chunk: its rows file, then its record (fsynced and
    /// renamed; the record makes it count).
    ///
    /// # Errors
    /// A file cannot be written (disk full: chunks committed before stay whole).
    pub fn commit(&mut self) -> Result<()> {
        if self.settled == self.committed {
            return Ok(());
        }
        let name = format!("chunk-{:06}", self.chunks);
        let mut sink = ParquetSink::new(&self.paths.work.join(format!("{name}.parquet")), vec![]);
        let rows = self.rows.len();
        for r in self.rows.drain(..) {
            sink.push(r)?;
        }
        sink.finish(vec![])?;
        crash_point(&format!("chunk-{}", self.chunks));
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.failures).into_iter().partition(|(at, _)| *at < self.settled);
        self.failures = later;
        let record = ChunkRecord { next: self.settled, rows, failures: now.into_iter().map(|(_, e)| e).collect() };
        write_synced(&self.paths.work.join(format!("{name}.json")), &serde_json::to_vec(&record)?)?;
        crash_point(&format!("commit-{}", self.chunks));
        self.chunks += 1;
        self.committed = self.settled;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Gives the shard up: removes its work folder (committed chunks included), so that the next
    /// run, whatever its configuration, starts afresh. For a run whose every sample failed.
    ///
    /// # Errors
    /// The work folder cannot be removed.
    pub fn abandon(self) -> Result<()> {
        std::fs::remove_dir_all(&self.paths.work).with_context(|| format!("removing {}", self.paths.work.display()))
    }

    /// Commits the rest, merges the chunks into the part file, writes the errors file and the
    /// manifest (with `summary`), and removes the work folder. `samples` is the shard's length.
    ///
    /// # Errors
    /// Not every sample settled, or a file cannot be read or written.
    pub fn finish(mut self, samples: usize, summary: serde_json::Value) -> Result<Manifest> {
        self.commit()?;
        if self.committed != samples {
            bail!("shard ended after {} of {samples} samples", self.committed);
        }
        let records = chunk_records(&self.paths.work, self.chunks)?;
        let failures: Vec<ErrorRecord> = records.iter().flat_map(|r| r.failures.iter().cloned()).collect();
        // The failures go to the errors file only: repeated in the part's metadata they made a
        // 12 MB footer for a shard of 100 000 failed videos.
        let mut metadata = self.metadata.clone();
        metadata.push(("vpipe.failures_count".into(), failures.len().to_string()));
        let sources: Vec<PathBuf> =
            (0..self.chunks).filter(|k| records[*k].rows > 0).map(|k| self.paths.work.join(format!("chunk-{k:06}.parquet"))).collect();
        let rows = concat_parquet(&sources, &self.paths.data, &metadata)?;
        if rows == 0 {
            remove_if_present(&self.paths.data)?;
        }
        crash_point("merged");
        write_errors(&self.paths.errors, &failures)?;
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let manifest = Manifest {
            key: self.key.clone(),
            vpipe_version: crate::VERSION.into(),
            samples,
            rows,
            failures: failures.len(),
            data: (rows > 0).then(|| name(&self.paths.data)),
            errors: name(&self.paths.errors),
            host: host_name(),
            started_unix_s: self.started_unix_s,
            finished_unix_s: unix_now(),
            resumed_at: self.resumed_at,
            summary,
        };
        write_synced(&self.paths.manifest, &serde_json::to_vec_pretty(&manifest)?)?;
        crash_point("manifest");
        std::fs::remove_dir_all(&self.paths.work).with_context(|| format!("removing {}", self.paths.work.display()))?;
        Ok(manifest)
    }
}

/// Kills the process with SIGKILL when `VPIPE_CRASH_AT` names this point: how the tests kill a
/// shard at exact moments (`chunk-K`: chunk K's rows renamed, its record not; `commit-K`: chunk K
/// committed; `merged`: part file renamed, no manifest; `manifest`: manifest written, work
/// folder not removed).
fn crash_point(name: &str) {
    if std::env::var("VPIPE_CRASH_AT").is_ok_and(|v| v == name) {
        // SAFETY: raise only sends a signal to this process.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

/// Which of the key's digests differ from `new`'s, for messages.
fn differs(old: &JobKey, new: &JobKey) -> &'static str {
    match (old.inputs_sha256 == new.inputs_sha256, old.config_sha256 == new.config_sha256) {
        (true, false) => "another configuration",
        (false, true) => "other inputs",
        (false, false) => "other inputs and another configuration",
        (true, true) => "another shard layout",
    }
}

/// Whether `e` comes from a full disk: ENOSPC anywhere in its chain, also where a library
/// (parquet's writer) passed the I/O error on only as text.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.raw_os_error() == Some(libc::ENOSPC))
            || c.to_string().contains(&format!("(os error {})", libc::ENOSPC))
    })
}

/// `e`, told what a full disk means for the shard when it is one ([`is_disk_full`]): the
/// `committed` of `total` samples are safe and a re-run resumes after them.
pub fn explain_disk_full(e: anyhow::Error, committed: usize, total: usize) -> anyhow::Error {
    if !is_disk_full(&e) {
        return e;
    }
    e.context(format!(
        "the disk is full: {committed} of {total} samples stay committed; free space and run the same command again to resume"
    ))
}

/// The committed chunks in `work`: how many, and the samples they settle. Chunk files without
/// their record (a kill between the two renames) and temporary files are removed.
fn committed_chunks(work: &Path) -> Result<(usize, usize, usize)> {
    let chunks = count_chunks(work);
    for entry in std::fs::read_dir(work).with_context(|| format!("listing {}", work.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let numbered = name.strip_prefix("chunk-").and_then(|r| r.get(..6)).and_then(|k| k.parse::<usize>().ok());
        if name.starts_with('.') || numbered.is_some_and(|k| k >= chunks) {
            remove_if_present(&path)?;
        }
    }
    let records = chunk_records(work, chunks)?;
    let next = records.last().map_or(0, |r| r.next);
    Ok((chunks, next, records.iter().map(|r| r.failures.len()).sum()))
}

/// Chunks 0, 1, … whose record exists in `work`, up to the first missing one.
fn count_chunks(work: &Path) -> usize {
    (0..).take_while(|k| work.join(format!("chunk-{k:06}.json")).exists()).count()
}

fn chunk_records(work: &Path, chunks: usize) -> Result<Vec<ChunkRecord>> {
    (0..chunks)
        .map(|k| {
            let p = work.join(format!("chunk-{k:06}.json"));
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("{} is not a chunk record", p.display()))
        })
        .collect()
}

/// Writes the record batches of `sources`, in order, into one Parquet file at `dest`
/// (atomically) with `metadata`; returns its rows. Writes nothing when the sources hold no rows.
///
/// # Errors
/// A source cannot be read, schemas differ, or `dest` cannot be written.
pub fn concat_parquet(sources: &[PathBuf], dest: &Path, metadata: &[(String, String)]) -> Result<usize> {
    let mut out: Option<(AtomicFile, ArrowWriter<File>)> = None;
    let mut rows = 0;
    for src in sources {
        let file = File::open(src).with_context(|| format!("opening {}", src.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).with_context(|| format!("reading {}", src.display()))?.build()?;
        for batch in reader {
            let batch = batch.with_context(|| format!("reading {}", src.display()))?;
            if out.is_none() {
                let (atomic, f) = AtomicFile::create(dest)?;
                let writer =
                    ArrowWriter::try_new(f, batch.schema(), Some(writer_properties(metadata))).context("creating Parquet writer")?;
                out = Some((atomic, writer));
            }
            let (_, writer) = out.as_mut().expect("created above");
            writer.write(&batch).with_context(|| format!("writing {} (from {})", dest.display(), src.display()))?;
            rows += batch.num_rows();
        }
    }
    if let Some((atomic, writer)) = out {
        atomic.commit(writer.into_inner().with_context(|| format!("closing {}", dest.display()))?)?;
    }
    Ok(rows)
}

/// Writes `errors` to a Parquet file with columns `video`, `stage`, `message` (utf8), atomically;
/// the file is written even with no failures, so that a reader finds it.
///
/// # Errors
/// The file cannot be written.
pub fn write_errors(dest: &Path, errors: &[ErrorRecord]) -> Result<()> {
    let schema = Arc::new(Schema::new(["video", "stage", "message"].map(|n| Field::new(n, DataType::Utf8, false)).to_vec()));
    let col = |f: fn(&ErrorRecord) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(errors.iter().map(f))) };
    let batch = RecordBatch::try_new(schema.clone(), vec![col(|e| &e.video), col(|e| &e.stage), col(|e| &e.message)])?;
    let (atomic, f) = AtomicFile::create(dest)?;
    let mut writer = ArrowWriter::try_new(f, schema, Some(writer_properties(&[])))?;
    writer.write(&batch).with_context(|| format!("writing {}", dest.display()))?;
    atomic.commit(writer.into_inner().with_context(|| format!("closing {}", dest.display()))?)
}

/// Writes `bytes` at `dest` through a temporary file that is fsynced before the rename.
fn write_synced(dest: &Path, bytes: &[u8]) -> Result<()> {
    let (atomic, mut f) = AtomicFile::create(dest)?;
    std::io::Write::write_all(&mut f, bytes).with_context(|| format!("writing {}", dest.display()))?;
    atomic.commit(f)
}

fn remove_if_present(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| format!("removing {}", p.display())),
        _ => Ok(()),
    }
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `?`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "?".into())
}

/// What an output folder holds for one shard ([`survey`]).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ShardState {
    /// Finished: its manifest.
    Complete(Box<Manifest>),
    /// Being written now by the run holding its lock ([`OutputLock`]): do not start another.
    Running {
        /// Samples committed by its chunks so far.
        committed: usize,
        /// Who holds the lock.
        holder: Holder,
    },
    /// Started and not finished, and no run holds it: samples committed so far.
    Partial {
        /// Samples committed by its chunks.
        committed: usize,
    },
    /// Nothing written yet (or not even started).
    Missing,
}

/// The state of every shard of the output folder `dir` (`vpipe shards`): shard count from the
/// part names (`part-0000I-of-0000N`), then per shard its manifest, its work folder's committed
/// samples, or nothing.
///
/// # Errors
/// `dir` cannot be listed; it holds parts of different shard counts; a manifest or chunk record
/// is unreadable; no part or work folder at all.
pub fn survey(dir: &Path) -> Result<Vec<ShardState>> {
    let mut count = None;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some((_, n)) = part_numbers(&name) else { continue };
        if count.is_some_and(|c| c != n) {
            bail!("{} holds parts of {} and of {n} shards: one output folder per sharding", dir.display(), count.unwrap_or(0));
        }
        count = Some(n);
    }
    let count = count.with_context(|| format!("{} holds no part-0000I-of-0000N files or work folders", dir.display()))?;
    (0..count)
        .map(|i| {
            let paths = ShardPaths::new(dir, i, count);
            if paths.manifest.exists() {
                return Ok(ShardState::Complete(Box::new(Manifest::load(&paths.manifest)?)));
            }
            let holder = OutputLock::holder(&paths.lock);
            if !paths.work.is_dir() && holder.is_none() {
                return Ok(ShardState::Missing);
            }
            // A chunk record may be renamed into place while we read: a running shard's count is
            // a snapshot.
            let committed = chunk_records(&paths.work, count_chunks(&paths.work)).map_or(0, |r| r.last().map_or(0, |r| r.next));
            Ok(match holder {
                Some(holder) => ShardState::Running { committed, holder },
                None => ShardState::Partial { committed },
            })
        })
        .collect()
}

/// (I, N) of a name `part-0000I-of-0000N…`, `.part-0000I-of-0000N.work` or `….lock`.
fn part_numbers(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix('.').unwrap_or(name).strip_prefix("part-")?;
    let (i, rest) = rest.split_once("-of-")?;
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((i.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(config: &str) -> JobKey {
        JobKey { shard_index: 0, shard_count: 1, inputs_sha256: digest(["a", "b"]), config_sha256: digest([config]) }
    }

    fn row(v: &str) -> ClipRow {
        ClipRow { video: v.into(), labels: vec![1], clip: 0, logits: vec![0.5, 1.5], feature: None }
    }

    fn writer(paths: &ShardPaths, config: &str, force: bool) -> Result<Opened> {
        ShardWriter::open(paths.clone(), key(config), vec![], 2, force)
    }

    fn open(paths: &ShardPaths) -> ShardWriter {
        match writer(paths, "c", false).unwrap() {
            Opened::Writer(w) => w,
            Opened::Complete(_) => panic!("complete"),
        }
    }

    fn videos(p: &Path) -> Vec<String> {
        let r = ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap()).unwrap().build().unwrap();
        r.flat_map(|b| {
            let b = b.unwrap();
            let v = b.column_by_name("video").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
            v.iter().map(|s| s.unwrap().to_string()).collect::<Vec<_>>()
        })
        .collect()
    }

    #[test]
    fn paths_follow_part_naming_in_a_folder_and_beside_a_file() {
        let p = ShardPaths::new(Path::new("out"), 2, 4);
        assert_eq!(p.data, Path::new("out/part-00002-of-00004.parquet"));
        assert_eq!(p.errors, Path::new("out/errors-00002.parquet"));
        assert_eq!(p.manifest, Path::new("out/part-00002-of-00004.json"));
        let p = ShardPaths::new(Path::new("o/f.parquet"), 0, 1);
        assert_eq!((p.data.as_path(), p.manifest.as_path()), (Path::new("o/f.parquet"), Path::new("o/f.json")));
        assert_eq!(ShardPaths::new(Path::new("o/f.parquet"), 1, 2).data, Path::new("o/f-part-00001-of-00002.parquet"));
    }

    #[test]
    fn a_resumed_shard_skips_committed_samples_and_ends_with_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ShardPaths::new(dir.path(), 0, 1);
        let mut w = open(&paths);
        for (i, v) in ["a", "b", "c"].iter().enumerate() {
            w.push(row(v));
            w.settled(i + 1).unwrap(); // commits after b (every 2)
        }
        drop(w); // killed: c was never committed
        let mut w = open(&paths);
        assert_eq!(w.resume_at(), 2);
        w.push(row("c"));
        w.fail(4, ErrorRecord { video: "e".into(), stage: "prepare".into(), message: "early".into() });
        w.fail(3, ErrorRecord { video: "d".into(), stage: "prepare".into(), message: "corrupt".into() });
        w.settled(4).unwrap();
        w.commit().unwrap();
        drop(w); // killed: e's failure, reported early, is not in a chunk
        let mut w = open(&paths);
        assert_eq!(w.resume_at(), 4);
        w.fail(4, ErrorRecord { video: "e".into(), stage: "prepare".into(), message: "early".into() });
        w.settled(5).unwrap();
        let m = w.finish(5, serde_json::json!({})).unwrap();
        assert_eq!((m.rows, m.failures, m.resumed_at), (3, 2, 4));
        assert_eq!(videos(&paths.data), ["a", "b", "c"]);
        assert!(!paths.work.exists() && paths.errors.exists());
        assert!(matches!(writer(&paths, "c", false).unwrap(), Opened::Complete(_)), "complete: skipped");
        let e = writer(&paths, "other", false).err().unwrap().to_string();
        assert!(e.contains("another configuration") && e.contains("--force"), "{e}");
        assert!(matches!(writer(&paths, "other", true).unwrap(), Opened::Writer(w) if w.resume_at() == 0));
        assert!(!paths.data.exists(), "--force removed the old part");
    }

    #[test]
    fn survey_tells_complete_partial_and_missing_shards() {
        let dir = tempfile::tempdir().unwrap();
        let shard = |i: usize| {
            let key = JobKey { shard_index: i, shard_count: 3, ..key("c") };
            match ShardWriter::open(ShardPaths::new(dir.path(), i, 3), key, vec![], 1, false).unwrap() {
                Opened::Writer(w) => w,
                Opened::Complete(_) => panic!(),
            }
        };
        let mut w = shard(0);
        w.push(row("a"));
        w.settled(1).unwrap();
        w.finish(1, serde_json::json!({})).unwrap();
        let mut w = shard(2);
        w.push(row("c"));
        w.settled(1).unwrap();
        drop(w);
        let s = survey(dir.path()).unwrap();
        assert!(matches!(&s[0], ShardState::Complete(m) if m.rows == 1));
        assert!(matches!(s[1], ShardState::Missing));
        assert!(matches!(s[2], ShardState::Partial { committed: 1 }));
        assert!(survey(&dir.path().join("nothing")).is_err());
    }

    #[test]
    fn a_chunk_without_its_record_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ShardPaths::new(dir.path(), 0, 1);
        let mut w = open(&paths);
        w.push(row("a"));
        w.settled(1).unwrap();
        w.commit().unwrap();
        std::fs::remove_file(paths.work.join("chunk-000000.json")).unwrap(); // killed between the renames
        drop(w); // the killed run's lock goes with it
        let w = open(&paths);
        assert_eq!(w.resume_at(), 0);
        assert!(!paths.work.join("chunk-000000.parquet").exists());
    }
}
