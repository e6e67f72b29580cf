//! Output writers. [`ParquetSink`] writes per-clip model outputs (`schemas/featurize.md`);
//! [`shard_output`] commits a shard's rows in chunks and resumes after a kill;
//! [`atomic`] holds the temp-file-and-rename discipline every writer follows; [`lock`] keeps
//! one writer per output.

pub mod atomic;
pub mod lock;
mod parquet_sink;
pub mod shard_output;

pub use atomic::{AtomicDir, AtomicFile};
pub use lock::{Holder, OutputLock};
pub use parquet_sink::{read_clip_rows, writer_properties, ClipRow, ParquetSink};
pub use shard_output::{explain_disk_full, survey, ErrorRecord, JobKey, Manifest, Opened, ShardPaths, ShardState, ShardWriter};
