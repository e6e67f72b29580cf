//! The featurize Parquet file: one row per (video, clip). Schema in `schemas/featurize.md`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Int32Array, ListArray, StringArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::atomic::AtomicFile;

/// One output row: the model's outputs for one view (clip) of one video.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipRow {
    /// Video path as written in the source list.
    pub video: String,
    /// All labels of the video (empty when unknown).
    pub labels: Vec<i32>,
    /// View index within the video, 0-based (crop-major: crop · num_clips + clip).
    pub clip: i32,
    /// `num_classes` logits (before softmax).
    pub logits: Vec<f32>,
    /// Pooled backbone feature of `D` values (2048 for ResNet-50), when the model gives one.
    pub feature: Option<Vec<f32>>,
}

/// Rows buffered before a row group is written.
const ROWS_PER_BATCH: usize = 1024;

/// Streams [`ClipRow`]s into a Parquet file written atomically (temporary name, renamed by
/// [`ParquetSink::finish`]). Columns: `video` utf8, `label` int32 (null unless exactly one label),
/// `labels` `list<int32>`, `clip` int32, `logits` `FixedSizeList<float32>[C]`, `feature`
/// `FixedSizeList<float32>[D]` (omitted for TorchScript models that return no features). Zstd.
pub struct ParquetSink {
    dest: PathBuf,
    metadata: Vec<(String, String)>,
    open: Option<(AtomicFile, ArrowWriter<File>, Arc<Schema>)>,
    rows: Vec<ClipRow>,
    written: usize,
}

impl ParquetSink {
    /// A sink that will write `dest`, with `metadata` as the file's key-value metadata. Nothing
    /// is created until the first row arrives.
    pub fn new(dest: &Path, metadata: Vec<(String, String)>) -> Self {
        ParquetSink { dest: dest.to_path_buf(), metadata, open: None, rows: Vec::new(), written: 0 }
    }

    /// Rows accepted so far.
    pub fn rows_written(&self) -> usize {
        self.written + self.rows.len()
    }

    /// Buffers a row; writes a row group every 1024 rows.
    ///
    /// # Errors
    /// The row's logits/feature length differs from the first row's, or writing fails.
    pub fn push(&mut self, row: ClipRow) -> Result<()> {
        self.rows.push(row);
        if self.rows.len() >= ROWS_PER_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn schema_for(row: &ClipRow) -> Arc<Schema> {
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let mut fields = vec![
            Field::new("video", DataType::Utf8, false),
            Field::new("label", DataType::Int32, true),
            Field::new("labels", DataType::List(Arc::new(Field::new("item", DataType::Int32, false))), false),
            Field::new("clip", DataType::Int32, false),
            Field::new("logits", DataType::FixedSizeList(item.clone(), row.logits.len() as i32), false),
        ];
        if let Some(f) = &row.feature {
            fields.push(Field::new("feature", DataType::FixedSizeList(item, f.len() as i32), false));
        }
        Arc::new(Schema::new(fields))
    }

    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        if self.open.is_none() {
            let schema = Self::schema_for(&self.rows[0]);
            let (atomic, file) = AtomicFile::create(&self.dest)?;
            let writer =
                ArrowWriter::try_new(file, schema.clone(), Some(writer_properties(&self.metadata))).context("creating Parquet writer")?;
            self.open = Some((atomic, writer, schema));
        }
        let (_, writer, schema) = self.open.as_mut().expect("opened above");
        let batch = build_batch(schema, &self.rows)?;
        writer.write(&batch).with_context(|| format!("writing {}", self.dest.display()))?;
        self.written += self.rows.len();
        self.rows.clear();
        Ok(())
    }

    /// Writes what is buffered, adds `extra` key-value metadata (e.g. the failure list), closes the
    /// file and renames it into place. With no rows at all, no file is written and `Ok(false)` is
    /// returned.
    ///
    /// # Errors
    /// Writing, syncing or renaming fails.
    pub fn finish(mut self, extra: Vec<(String, String)>) -> Result<bool> {
        self.flush()?;
        let Some((atomic, mut writer, _)) = self.open.take() else { return Ok(false) };
        for (k, v) in extra {
            writer.append_key_value_metadata(KeyValue::new(k, v));
        }
        let file = writer.into_inner().with_context(|| format!("closing {}", self.dest.display()))?;
        atomic.commit(file)?;
        Ok(true)
    }
}

/// vpipe's Parquet settings (zstd) with `metadata` as the file's key-value metadata.
pub fn writer_properties(metadata: &[(String, String)]) -> WriterProperties {
    let kv = metadata.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
    WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).set_key_value_metadata(Some(kv)).build()
}

fn fixed_list(values: Vec<f32>, width: usize) -> Result<ArrayRef> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    Ok(Arc::new(FixedSizeListArray::try_new(item, width as i32, Arc::new(Float32Array::from(values)), None)?))
}

fn build_batch(schema: &Arc<Schema>, rows: &[ClipRow]) -> Result<RecordBatch> {
    let n_logits = rows[0].logits.len();
    let n_feat = rows[0].feature.as_ref().map(Vec::len);
    let mut logits = Vec::with_capacity(rows.len() * n_logits);
    let mut feats = Vec::with_capacity(rows.len() * n_feat.unwrap_or(0));
    for r in rows {
        if r.logits.len() != n_logits || r.feature.as_ref().map(Vec::len) != n_feat {
            bail!(
                "{}: output width changed between rows ({} logits, feature {:?})",
                r.video,
                r.logits.len(),
                r.feature.as_ref().map(Vec::len)
            );
        }
        logits.extend_from_slice(&r.logits);
        if let Some(f) = &r.feature {
            feats.extend_from_slice(f);
        }
    }
    let label: Int32Array = rows.iter().map(|r| (r.labels.len() == 1).then(|| r.labels[0])).collect();
    let offsets = OffsetBuffer::from_lengths(rows.iter().map(|r| r.labels.len()));
    let values = Int32Array::from(rows.iter().flat_map(|r| r.labels.iter().copied()).collect::<Vec<_>>());
    let labels = ListArray::try_new(Arc::new(Field::new("item", DataType::Int32, false)), offsets, Arc::new(values), None)?;
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.video.as_str()))),
        Arc::new(label),
        Arc::new(labels),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.clip))),
        fixed_list(logits, n_logits)?,
    ];
    if let Some(d) = n_feat {
        cols.push(fixed_list(feats, d)?);
    }
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// Reads the rows of a file [`ParquetSink`] wrote (featurize parts, `best_pred.parquet`): video,
/// labels (from `labels`, else `label`), clip, logits and, when present, the feature.
///
/// # Errors
/// The file cannot be read or lacks the `video`, `clip` or `logits` columns (the message names
/// the file).
pub fn read_clip_rows(path: &Path) -> Result<Vec<ClipRow>> {
    use arrow::array::Array;
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a Parquet file", path.display()))?
        .build()?;
    let mut rows = Vec::new();
    for batch in reader {
        let b = batch.with_context(|| format!("reading {}", path.display()))?;
        let col = |name: &str| b.column_by_name(name).with_context(|| format!("{}: no `{name}` column", path.display()));
        let video = col("video")?.as_any().downcast_ref::<StringArray>().context("`video` is not utf8")?;
        let clip = col("clip")?.as_any().downcast_ref::<Int32Array>().context("`clip` is not int32")?;
        let floats = |a: &ArrayRef, i: usize| -> Result<Vec<f32>> {
            let l = a.as_any().downcast_ref::<FixedSizeListArray>().context("not a fixed-size list of float32")?;
            Ok(l.value(i).as_any().downcast_ref::<Float32Array>().context("not float32")?.values().to_vec())
        };
        let (logits, feature) = (col("logits")?, b.column_by_name("feature"));
        let labels = b.column_by_name("labels").and_then(|c| c.as_any().downcast_ref::<ListArray>().cloned());
        let label = b.column_by_name("label").and_then(|c| c.as_any().downcast_ref::<Int32Array>().cloned());
        for i in 0..b.num_rows() {
            let labels = match (&labels, &label) {
                (Some(l), _) => l.value(i).as_any().downcast_ref::<Int32Array>().context("`labels` items are not int32")?.values().to_vec(),
                (None, Some(l)) if l.is_valid(i) => vec![l.value(i)],
                _ => Vec::new(),
            };
            rows.push(ClipRow {
                video: video.value(i).to_string(),
                labels,
                clip: clip.value(i),
                logits: floats(logits, i).context("`logits`")?,
                feature: feature.map(|f| floats(f, i)).transpose().context("`feature`")?,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn row(v: &str, clip: i32) -> ClipRow {
        ClipRow { video: v.into(), labels: vec![2], clip, logits: vec![0.5, 1.5, 2.5], feature: Some(vec![1.0; 4]) }
    }

    #[test]
    fn writes_schema_rows_and_metadata_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out/x.parquet");
        let mut sink = ParquetSink::new(&dest, vec![("vpipe.version".into(), "t".into())]);
        for i in 0..3 {
            sink.push(row("a.mp4", i)).unwrap();
        }
        assert!(!dest.exists(), "nothing under the final name before finish");
        assert!(sink.finish(vec![("vpipe.failures".into(), "[]".into())]).unwrap());
        let leftovers: Vec<_> = std::fs::read_dir(dest.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("x.parquet")]);
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&dest).unwrap()).unwrap();
        let kv = b.metadata().file_metadata().key_value_metadata().unwrap().clone();
        assert!(kv.iter().any(|k| k.key == "vpipe.failures") && kv.iter().any(|k| k.key == "vpipe.version"));
        let batch = b.build().unwrap().next().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(
            batch.schema().field_with_name("logits").unwrap().data_type(),
            &DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), 3)
        );
    }

    #[test]
    fn rows_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.parquet");
        let mut sink = ParquetSink::new(&dest, vec![]);
        let rows = vec![row("a.mp4", 0), ClipRow { labels: vec![], ..row("b.mp4", 1) }, ClipRow { labels: vec![1, 4], ..row("c.mp4", 0) }];
        rows.iter().for_each(|r| sink.push(r.clone()).unwrap());
        sink.finish(vec![]).unwrap();
        assert_eq!(read_clip_rows(&dest).unwrap(), rows);
    }

    #[test]
    fn no_rows_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.parquet");
        assert!(!ParquetSink::new(&dest, vec![]).finish(vec![]).unwrap());
        assert!(!dest.exists());
    }
}
