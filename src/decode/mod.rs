//! Decoding: video files through FFmpeg (ffmpeg-next) and rawframe folders through libjpeg-turbo,
//! into `u8` HWC frames.
//!
//! The video decoder is driven by a *plan*: the caller first asks for the frame count
//! ([`VideoReader::open`] probes it), computes the 0-based indices it needs (see [`crate::sample`]),
//! then calls [`VideoReader::frames`], which decodes each needed GOP once and converts colour only
//! for kept frames. [`decode_all`] streams every frame once (frame extraction).
//!
//! Frame `i` is the `i`-th frame FFmpeg's decoder outputs in presentation order — the same frame as
//! `ffmpeg -i V -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -` writes at position `i`, with
//! the same colours (the stream's matrix and range) and orientation (display-matrix rotation).

mod convert;

mod index_cache;
pub mod jpeg;
mod rawframes;
pub mod retime;
mod stream_info;
mod video;
pub(crate) mod vop_headers;

pub use crate::frame::Frame;
pub use convert::{ColorConvention, Rotation};
pub use index_cache::default_cache_dir;
pub use jpeg::{decode_jpeg, read_jpeg, JpegEncoder};
pub use rawframes::{read_rawframes, FilenameTemplate, Modality, RawframeSpec};
pub use video::{decode_all, decode_all_retimed, DecodeOptions, DecodeStats, FrameCount, VideoInfo, VideoReader};
pub(crate) use video::{decode_raw, RawStream};
