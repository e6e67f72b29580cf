//! Frame-accurate video reading with FFmpeg.
//!
//! Two ways to address frames, chosen per file when it is opened:
//! - **Packet index** (MP4/MOV/MKV/WebM …: every packet has a distinct pts). One demux pass, no
//!   decoding, lists packet pts and keyframes; frame `i` is the packet with the `i`-th smallest pts.
//!   Fetching seeks to the last keyframe at or before a needed frame only when that keyframe lies
//!   ahead of the decoder, so each GOP is decoded at most once per call.
//! - **Sequential** (AVI and other streams without pts, e.g. DivX packed B-frames where 73 packets
//!   carry 72 frames). The frame count comes from one decode pass without colour conversion, and
//!   fetching decodes from the start up to the last needed frame.
//!
//! Either way a frame's identity is its rank in FFmpeg's decoder output, so results match the
//! FFmpeg CLI with `-fps_mode passthrough`. Rotation metadata is reported in [`VideoInfo::rotation`]
//! and **not** applied (the FFmpeg CLI auto-rotates; decord and PyAV do not).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, bail, Result};
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next as ffmpeg;

use super::Frame;

/// What a probe learns about a video's first video stream.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// Number of frames the decoder outputs (FFmpeg's `nb_read_frames`).
    pub num_frames: usize,
    /// Width in pixels (coded picture, before any rotation).
    pub width: usize,
    /// Height in pixels (coded picture, before any rotation).
    pub height: usize,
    /// Average frame rate in frames per second (0 when the container does not say).
    pub fps: f64,
    /// Display rotation in degrees, counter-clockwise, from the display matrix (0 when absent).
    pub rotation: f64,
    /// FFmpeg's codec name, e.g. `h264`, `mpeg4`, `vp9`.
    pub codec: String,
}

/// How frame indices map to the stream.
#[derive(Clone, Debug)]
enum Index {
    /// `pts[i]` is the pts of frame `i` (sorted ascending); `keyframes` are frame indices of
    /// keyframes with the timestamp to seek to for each.
    Packets { pts: Vec<i64>, keyframes: Vec<(usize, i64)> },
    /// Frames are numbered by decoder output order only.
    Sequential,
}

/// A probed video file, ready to fetch frames from.
///
/// Opening costs one demux pass (packet index) or one decode pass without colour conversion
/// (sequential streams). [`VideoReader::frames`] re-opens the file, so a reader is cheap to keep and
/// safe to call repeatedly.
#[derive(Clone, Debug)]
pub struct VideoReader {
    path: PathBuf,
    info: VideoInfo,
    index: Index,
}

fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        ffmpeg::init().expect("FFmpeg initialisation");
        // Errors reach the user as per-video error records; FFmpeg's own log would interleave
        // across worker threads.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

/// An opened container with a decoder for its best video stream.
struct Opened {
    input: ffmpeg::format::context::Input,
    stream_index: usize,
    decoder: ffmpeg::decoder::Video,
}

fn open_input(path: &Path) -> Result<Opened> {
    init_ffmpeg();
    let input = ffmpeg::format::input(path).map_err(|e| anyhow!("cannot open: {e}"))?;
    let stream = input.streams().best(ffmpeg::media::Type::Video).ok_or_else(|| anyhow!("no video stream"))?;
    let stream_index = stream.index();
    let mut ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| anyhow!("codec parameters: {e}"))?;
    // One thread per decoder: parallelism comes from decoding several videos at once.
    ctx.set_threading(ffmpeg::threading::Config { kind: ffmpeg::threading::Type::None, count: 1, ..Default::default() });
    let decoder = ctx.decoder().video().map_err(|e| anyhow!("no decoder for this codec: {e}"))?;
    Ok(Opened { input, stream_index, decoder })
}

fn rotation_of(stream: &ffmpeg::format::stream::Stream) -> f64 {
    for side in stream.side_data() {
        if side.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix && side.data().len() >= 36 {
            // SAFETY: the display matrix is 9 native-endian i32 values (libavutil/display.h).
            let r = unsafe { ffmpeg::ffi::av_display_rotation_get(side.data().as_ptr() as *const i32) };
            if r.is_finite() {
                return r;
            }
        }
    }
    0.0
}

impl VideoReader {
    /// Opens `path` and probes frame count, size, fps, rotation and the frame index.
    ///
    /// # Errors
    /// The file cannot be opened or demuxed, has no video stream or no decoder, a packet fails to
    /// decode (sequential streams), or the stream holds no frames. Messages do not repeat the path;
    /// callers add it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut opened = open_input(&path)?;
        let (fps, rotation) = {
            let stream = opened.input.stream(opened.stream_index).expect("stream exists");
            let r = stream.avg_frame_rate();
            let fps = if r.denominator() != 0 { r.numerator() as f64 / r.denominator() as f64 } else { 0.0 };
            (fps, rotation_of(&stream))
        };
        let (width, height) = (opened.decoder.width() as usize, opened.decoder.height() as usize);
        let codec = opened.decoder.codec().map(|c| c.name().to_string()).unwrap_or_default();

        let mut packets: Vec<(i64, i64, bool)> = Vec::new(); // (pts, seek ts, key)
        let mut all_have_pts = true;
        for (stream, packet) in opened.input.packets() {
            if stream.index() != opened.stream_index {
                continue;
            }
            if packet.flags().contains(ffmpeg::codec::packet::Flags::from_bits_truncate(ffmpeg::ffi::AV_PKT_FLAG_DISCARD as i32)) {
                continue; // dropped by the decoder (edit lists)
            }
            match packet.pts() {
                Some(pts) => {
                    let seek_ts = packet.dts().map_or(pts, |d| d.min(pts));
                    packets.push((pts, seek_ts, packet.is_key()));
                }
                None => all_have_pts = false,
            }
        }
        let mut sorted: Vec<i64> = packets.iter().map(|p| p.0).collect();
        sorted.sort_unstable();
        let distinct = sorted.windows(2).all(|w| w[0] < w[1]);
        let index = if all_have_pts && distinct && !sorted.is_empty() {
            let rank: HashMap<i64, usize> = sorted.iter().enumerate().map(|(i, &p)| (p, i)).collect();
            let mut keyframes: Vec<(usize, i64)> = packets.iter().filter(|p| p.2).map(|p| (rank[&p.0], p.1)).collect();
            keyframes.sort_unstable();
            Index::Packets { pts: sorted, keyframes }
        } else {
            Index::Sequential
        };
        let num_frames = match &index {
            Index::Packets { pts, .. } => pts.len(),
            Index::Sequential => count_by_decoding(&path)?,
        };
        if num_frames == 0 {
            bail!("video stream has no frames");
        }
        let info = VideoInfo { num_frames, width, height, fps, rotation, codec };
        Ok(VideoReader { path, info, index })
    }

    /// What the probe found.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decodes the frames at the 0-based presentation-order `indices` (any order, repeats allowed)
    /// and returns them in the same order as RGB24 [`Frame`]s, converted with FFmpeg's swscale
    /// (bicubic flags, as the FFmpeg CLI's default).
    ///
    /// # Errors
    /// An index ≥ `num_frames`, a packet the decoder rejects (corrupt data), or a frame the
    /// decoder never produced (the stream ended early).
    pub fn frames(&self, indices: &[usize]) -> Result<Vec<Frame>> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.info.num_frames) {
            bail!("frame index {bad} out of range (video has {} frames)", self.info.num_frames);
        }
        let mut wanted: Vec<usize> = indices.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let decoded = match &self.index {
            Index::Packets { pts, keyframes } => match decode_indexed(&self.path, pts, keyframes, &wanted) {
                Ok(d) => d?,
                // The packet index disagreed with the decoder's output; numbering by decoder
                // order is always right, only slower.
                Err(IndexMismatch) => decode_sequential(&self.path, &wanted)?,
            },
            Index::Sequential => decode_sequential(&self.path, &wanted)?,
        };
        // Move each frame out at its last use; clone only for repeated indices.
        let mut decoded = decoded;
        let mut remaining: HashMap<usize, usize> = HashMap::new();
        indices.iter().for_each(|&i| *remaining.entry(i).or_default() += 1);
        indices
            .iter()
            .map(|i| {
                let left = remaining.get_mut(i).expect("counted above");
                *left -= 1;
                let frame = if *left == 0 { decoded.remove(i) } else { decoded.get(i).cloned() };
                frame.ok_or_else(|| anyhow!("frame {i} was not produced by the decoder (stream ended early)"))
            })
            .collect()
    }
}

/// The decoder's output did not match the packet index.
struct IndexMismatch;

/// Converts decoded frames to packed RGB24 with a scaler built on first use.
struct Converter {
    scaler: Option<(Pixel, u32, u32, Scaler)>,
}

impl Converter {
    fn new() -> Self {
        Converter { scaler: None }
    }

    fn convert(&mut self, frame: &ffmpeg::frame::Video) -> Result<Frame> {
        let (fmt, w, h) = (frame.format(), frame.width(), frame.height());
        let stale = !matches!(&self.scaler, Some((f, sw, sh, _)) if *f == fmt && *sw == w && *sh == h);
        if stale {
            let scaler = Scaler::get(fmt, w, h, Pixel::RGB24, w, h, Flags::BICUBIC)
                .map_err(|e| anyhow!("cannot convert {fmt:?} {w}x{h} to RGB: {e}"))?;
            self.scaler = Some((fmt, w, h, scaler));
        }
        let scaler = &mut self.scaler.as_mut().expect("scaler set").3;
        let mut rgb = ffmpeg::frame::Video::empty();
        scaler.run(frame, &mut rgb).map_err(|e| anyhow!("colour conversion: {e}"))?;
        let (w, h) = (w as usize, h as usize);
        let stride = rgb.stride(0);
        let src = rgb.data(0);
        let mut data = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            data.extend_from_slice(&src[row * stride..row * stride + w * 3]);
        }
        Ok(Frame::new(w, h, data))
    }
}

/// Feeds packets of the video stream to the decoder and hands every output frame to `on_frame`,
/// which returns `false` to stop early.
fn drive(opened: &mut Opened, mut on_frame: impl FnMut(&ffmpeg::frame::Video) -> Result<bool>) -> Result<()> {
    let mut frame = ffmpeg::frame::Video::empty();
    // Frames left in the decoder by an earlier call that stopped early come first; the decoder
    // refuses new packets (EAGAIN) until they are read.
    while opened.decoder.receive_frame(&mut frame).is_ok() {
        if !on_frame(&frame)? {
            return Ok(());
        }
    }
    let mut n_packet = 0usize;
    let stream_index = opened.stream_index;
    for (stream, packet) in opened.input.packets() {
        if stream.index() != stream_index {
            continue;
        }
        opened.decoder.send_packet(&packet).map_err(|e| anyhow!("decoding video packet {n_packet} (pts {:?}): {e}", packet.pts()))?;
        n_packet += 1;
        while opened.decoder.receive_frame(&mut frame).is_ok() {
            if !on_frame(&frame)? {
                return Ok(());
            }
        }
    }
    opened.decoder.send_eof().map_err(|e| anyhow!("flushing decoder: {e}"))?;
    while opened.decoder.receive_frame(&mut frame).is_ok() {
        if !on_frame(&frame)? {
            return Ok(());
        }
    }
    Ok(())
}

fn count_by_decoding(path: &Path) -> Result<usize> {
    let mut opened = open_input(path)?;
    let mut n = 0;
    drive(&mut opened, |_| {
        n += 1;
        Ok(true)
    })?;
    Ok(n)
}

/// Decodes every frame of the video at `path` in presentation order, handing each to `on_frame`
/// as RGB24 (same conversion as [`VideoReader::frames`]) together with its 0-based index, without
/// probing first and holding one frame at a time. Returns the number of frames decoded.
///
/// This is the path of `vpipe extract-frames`: one decode pass, bounded memory, any container.
///
/// # Errors
/// The file cannot be opened, a packet fails to decode, colour conversion fails, or `on_frame`
/// returns an error (decoding stops there). Messages do not repeat the path.
pub fn decode_all(path: &Path, mut on_frame: impl FnMut(usize, Frame) -> Result<()>) -> Result<usize> {
    let mut opened = open_input(path)?;
    let mut converter = Converter::new();
    let mut n = 0usize;
    drive(&mut opened, |f| {
        on_frame(n, converter.convert(f)?)?;
        n += 1;
        Ok(true)
    })?;
    if n == 0 {
        bail!("video stream has no frames");
    }
    Ok(n)
}

/// Decodes from the start, numbering frames by output order, up to the last wanted index.
fn decode_sequential(path: &Path, wanted: &[usize]) -> Result<HashMap<usize, Frame>> {
    let mut opened = open_input(path)?;
    let mut converter = Converter::new();
    let mut out = HashMap::with_capacity(wanted.len());
    let last = *wanted.last().unwrap_or(&0);
    let mut i = 0usize;
    drive(&mut opened, |f| {
        if wanted.binary_search(&i).is_ok() {
            out.insert(i, converter.convert(f)?);
        }
        i += 1;
        Ok(i <= last)
    })?;
    Ok(out)
}

/// Seeks stream `stream_index` to the keyframe at or before `ts` (stream time base).
fn seek(opened: &mut Opened, ts: i64) -> Result<()> {
    // SAFETY: the context pointer is valid for the lifetime of `opened.input`.
    let r = unsafe {
        ffmpeg::ffi::av_seek_frame(opened.input.as_mut_ptr(), opened.stream_index as i32, ts, ffmpeg::ffi::AVSEEK_FLAG_BACKWARD as i32)
    };
    if r < 0 {
        bail!("seek to timestamp {ts} failed: {}", ffmpeg::Error::from(r));
    }
    opened.decoder.flush();
    Ok(())
}

/// Packet-index decode: wanted frames grouped by the keyframe that precedes them; seeks only
/// forward past frames nobody needs.
fn decode_indexed(
    path: &Path,
    pts: &[i64],
    keyframes: &[(usize, i64)],
    wanted: &[usize],
) -> std::result::Result<Result<HashMap<usize, Frame>>, IndexMismatch> {
    let run = || -> Result<std::result::Result<HashMap<usize, Frame>, IndexMismatch>> {
        let mut opened = open_input(path)?;
        let mut converter = Converter::new();
        let mut out = HashMap::with_capacity(wanted.len());
        let mut next_frame = 0usize; // frames below this were already passed by the decoder
        let mut w = 0usize;
        while w < wanted.len() {
            let target = wanted[w];
            // Last keyframe at or before the target.
            let kf = keyframes.partition_point(|k| k.0 <= target);
            let mut floor = 0;
            if kf > 0 && keyframes[kf - 1].0 > next_frame {
                let (kf_frame, kf_ts) = keyframes[kf - 1];
                seek(&mut opened, kf_ts)?;
                floor = kf_frame;
            } else if next_frame > 0 {
                floor = next_frame; // continue decoding where we are
            }
            // Decode forward until every wanted frame up to the next seek point is collected.
            let mut mismatch = false;
            let mut got_any = false;
            let mut group_end = w;
            drive(&mut opened, |f| {
                let Some(ts) = f.timestamp() else {
                    mismatch = true;
                    return Ok(false);
                };
                let Ok(i) = pts.binary_search(&ts) else {
                    mismatch = true;
                    return Ok(false);
                };
                if !got_any && i > target.max(floor) {
                    mismatch = true; // landed past the target: the index is not trustworthy
                    return Ok(false);
                }
                got_any = true;
                if i < floor {
                    return Ok(true); // leading frames of an open GOP before the keyframe
                }
                next_frame = next_frame.max(i + 1);
                if wanted.binary_search(&i).is_ok() {
                    out.insert(i, converter.convert(f)?);
                }
                while group_end < wanted.len() && wanted[group_end] < next_frame {
                    group_end += 1;
                }
                if group_end == wanted.len() {
                    return Ok(false);
                }
                // Stop to seek when a keyframe lies between here and the next wanted frame.
                let next = wanted[group_end];
                let kf = keyframes.partition_point(|k| k.0 <= next);
                Ok(!(kf > 0 && keyframes[kf - 1].0 > next_frame))
            })?;
            if mismatch {
                return Ok(Err(IndexMismatch));
            }
            if group_end == w {
                break; // the decoder ended without producing the target
            }
            w = group_end;
        }
        Ok(Ok(out))
    };
    match run() {
        Ok(Ok(out)) => Ok(Ok(out)),
        Ok(Err(IndexMismatch)) => Err(IndexMismatch),
        Err(e) => Ok(Err(e)),
    }
}
