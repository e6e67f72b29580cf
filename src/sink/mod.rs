//! Output writers. [`ParquetSink`] writes per-clip model outputs (`schemas/featurize.md`);
//! [`atomic`] holds the temp-file-and-rename discipline every writer follows.

pub mod atomic;
mod parquet_sink;

pub use atomic::{AtomicDir, AtomicFile};
pub use parquet_sink::{ClipRow, ParquetSink};
