//! `vpipe._vpipe.VideoReader` (frames exactly as the FFmpeg CLI gives them) and
//! `vpipe._vpipe.sample_frames` (mmaction2's `SampleFrames` indices, as the loader draws them).

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;

use vpipe::decode::{ColorConvention, DecodeOptions};
use vpipe::sample::{OutOfBound, SampleFrames, Semantics};

use crate::dlpack::capsule;
use crate::errors::{raise, Kind, OrRaise};

/// One opened video (`vpipe.VideoReader` in Python).
#[pyclass(module = "vpipe._vpipe")]
pub struct VideoReader {
    reader: Mutex<vpipe::decode::VideoReader>,
    path: PathBuf,
    metadata: String,
    num_frames: usize,
}

#[pymethods]
impl VideoReader {
    /// Opens `path` and counts its frames (`vpipe probe`). `color_convention`: "ffmpeg"
    /// (default, the stream's own matrix and range) or "bt601".
    ///
    /// Raises `vpipe.FileNotFound`, `vpipe.DecodeError` (not a video, no video stream, corrupt),
    /// `vpipe.ConfigError` (an unknown colour convention).
    #[new]
    #[pyo3(signature = (path, autorotate=true, stream=None, color_convention=None))]
    fn new(py: Python<'_>, path: PathBuf, autorotate: bool, stream: Option<usize>, color_convention: Option<&str>) -> PyResult<Self> {
        let color_convention = match color_convention.unwrap_or("ffmpeg") {
            "ffmpeg" => ColorConvention::Ffmpeg,
            "bt601" => ColorConvention::Bt601,
            other => return Err(raise("ConfigError", &format!("color_convention {other:?}: \"ffmpeg\" or \"bt601\""))),
        };
        let options = DecodeOptions { autorotate, stream, color_convention, ..Default::default() };
        let p = path.clone();
        let reader = py
            .detach(|| vpipe::decode::VideoReader::open_with(&p, &options))
            .map_err(|e| e.context(path.display().to_string()))
            .or_raise(Kind::Decode)?;
        let mut meta = serde_json::to_value(reader.info()).map_err(anyhow::Error::from).or_raise(Kind::Other)?;
        meta["path"] = path.display().to_string().into();
        meta["mean_gop"] = reader.info().mean_gop().into();
        let num_frames = reader.info().num_frames;
        Ok(VideoReader { reader: Mutex::new(reader), path, metadata: meta.to_string(), num_frames })
    }

    /// What `vpipe probe --json` prints for the file, as JSON text.
    #[getter]
    fn metadata_json(&self) -> String {
        self.metadata.clone()
    }

    /// Frames in the stream (presentation order).
    fn __len__(&self) -> usize {
        self.num_frames
    }

    /// The frames at the 0-based `indices` (any order, repeats allowed; negative ones count from
    /// the end, as Python's), decoded in one pass, as a DLPack capsule of uint8 RGB
    /// `(N, H, W, 3)` at the displayed size. Waits without the GIL.
    ///
    /// Raises `vpipe.IndexOutOfRange` (an `IndexError`) naming the index and the valid range,
    /// `vpipe.DecodeError` (a corrupt packet, a frame the decoder never produced).
    fn get_frames(&self, py: Python<'_>, indices: Vec<i64>) -> PyResult<Py<PyAny>> {
        let n = self.num_frames as i64;
        let idx = indices
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + n } else { i };
                (0..n).contains(&j).then_some(j as usize).ok_or_else(|| {
                    raise(
                        "IndexOutOfRange",
                        &format!("{}: frame index {i} out of range: the video has {n} frames (0 … {})", self.path.display(), n - 1),
                    )
                })
            })
            .collect::<PyResult<Vec<usize>>>()?;
        let mut reader = self.reader.lock().map_err(|_| raise("Error", "the reader failed in an earlier call"))?;
        let r: &mut vpipe::decode::VideoReader = &mut reader;
        let frames = py.detach(|| r.frames(&idx)).map_err(|e| e.context(self.path.display().to_string())).or_raise(Kind::Decode)?;
        let (w, h) = frames.first().map_or((reader.info().width, reader.info().height), |f| (f.width, f.height));
        let mut data = Vec::with_capacity(frames.len() * h * w * 3);
        for f in &frames {
            data.extend_from_slice(&f.data[..h * w * 3]);
        }
        let ptr = data.as_ptr();
        capsule(py, Box::new(data), ptr, &[frames.len(), h, w, 3])
    }
}

/// mmaction2 `SampleFrames` indices for a video of `num_frames` frames, drawn as vpipe's loader
/// draws them for sample `index` in `epoch` under `seed` (train mode's random offsets come from
/// that sample's stream; test mode is deterministic). Clip-major, offset by `start_index`.
///
/// Raises `vpipe.ConfigError` for parameters mmaction2 refuses or vpipe bounds (0 frames per
/// clip, an unknown `semantics` or `out_of_bound_opt`).
#[pyfunction]
#[pyo3(signature = (num_frames, clip_len, frame_interval=1, num_clips=1, test_mode=false, seed=0, epoch=0, index=0,
    semantics="0.x", temporal_jitter=false, twice_sample=false, out_of_bound_opt="loop", keep_tail_frames=false, start_index=0))]
#[allow(clippy::too_many_arguments)]
pub fn sample_frames(
    num_frames: usize,
    clip_len: usize,
    frame_interval: usize,
    num_clips: usize,
    test_mode: bool,
    seed: u64,
    epoch: u64,
    index: u64,
    semantics: &str,
    temporal_jitter: bool,
    twice_sample: bool,
    out_of_bound_opt: &str,
    keep_tail_frames: bool,
    start_index: i64,
) -> PyResult<Vec<i64>> {
    let semantics = match semantics {
        "0.x" => Semantics::V0,
        "1.x" => Semantics::V1,
        other => return Err(raise("ConfigError", &format!("semantics {other:?}: \"0.x\" or \"1.x\""))),
    };
    let out_of_bound_opt = match out_of_bound_opt {
        "loop" => OutOfBound::Loop,
        "repeat_last" => OutOfBound::RepeatLast,
        other => return Err(raise("ConfigError", &format!("out_of_bound_opt {other:?}: \"loop\" or \"repeat_last\""))),
    };
    if num_frames == 0 {
        return Err(raise("ConfigError", "num_frames must be ≥ 1"));
    }
    let s = SampleFrames {
        clip_len,
        frame_interval,
        num_clips,
        temporal_jitter,
        twice_sample,
        out_of_bound_opt,
        test_mode,
        keep_tail_frames,
        semantics,
        target_fps: None,
    };
    s.validate().or_raise(Kind::Config)?;
    let mut rng = vpipe::graph::sample_rng(seed, epoch, index);
    Ok(s.sample(num_frames, start_index, &mut rng).frame_inds)
}
