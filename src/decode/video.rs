//! Frame-accurate video reading with FFmpeg: one open, one index, one forward pass per clip.
//!
//! [`VideoReader::open`] opens the file once, demuxes the chosen video stream's packets without
//! decoding them (AVIs without reordering: not even that, their `idx1` index is the packet index,
//! [`FrameCount::ContainerIndex`]) and keeps the container open. Frame `i` is the packet with the
//! `i`-th smallest pts among the packets the decoder keeps (packets flagged `AV_PKT_FLAG_DISCARD`
//! by an edit list are decoded but never output, as in FFmpeg). [`VideoReader::frames`] then seeks to the last
//! keyframe at or before each needed frame only when that keyframe lies ahead of the decoder, so
//! every needed GOP is decoded once, in one forward pass; non-reference frames that nobody wants
//! are skipped (`skip_frame = NONREF`), and once the last packet a run of wanted frames needs
//! has been sent the decoder is drained rather than fed the packets that would only push those
//! frames out of its reorder buffer. Colour conversion runs only for kept frames.
//!
//! Streams without usable pts (DivX packed B-frames in AVI, where 73 packets carry 72 frames) are
//! numbered by decoder output order. For MPEG-4 Part 2 the demux pass replays, from the VOP
//! headers, which packets FFmpeg's decoder turns into which frames ([`FrameCount::VopHeaders`],
//! `vop_headers.rs`); other such streams, and MPEG-4 streams it cannot replay exactly, are
//! counted by a decode pass without colour conversion ([`FrameCount::Decoded`]), which records
//! the same map for MPEG-4. The map (`DecodeMap`, kept in the index cache) says which packet
//! produced each frame and which frames are B-frames, so a fetch skips the B-frames nobody wants
//! and checks what it gets against the map. If the decoder ever disagrees with the packet index
//! or that map, the reader falls back to output-order numbering of every frame for that call
//! (counting again by decoding where the headers gave the count) and counts it in
//! [`DecodeStats::index_mismatches`]; a pipeline prints a warning naming the video and sums the
//! count into the run summary (`index_mismatches`).
//!
//! Frames are converted as the FFmpeg CLI converts them (colour matrix, range, bit depth and
//! auto-rotation: see [`super::convert`]), so frame `i` equals frame `i` of
//! `ffmpeg -i V -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, bail, Result};
use ffmpeg::ffi;
use ffmpeg::packet::{Mut as _, Ref as _};
use ffmpeg_next as ffmpeg;

use super::convert::{pix_fmt_name, Converter};
use super::index_cache::{self, default_cache_dir, CachedIndex};
use super::stream_info::{self, StreamInfo};
use super::vop_headers::{keeps_for_next_call, VopPredictor};
use super::{ColorConvention, Frame, Rotation};

/// How a video is opened and converted. The default is the FFmpeg CLI's behaviour on one thread.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeOptions {
    /// Apply the display-matrix rotation as the FFmpeg CLI does (`-autorotate`, default true).
    pub autorotate: bool,
    /// Colour matrix and range convention (default: the stream's, as FFmpeg).
    pub color_convention: ColorConvention,
    /// Stream index to read; `None` picks FFmpeg's best video stream (`av_find_best_stream`).
    pub stream: Option<usize>,
    /// Decoder threads: 1 (default) when many videos decode at once, more (or 0 = FFmpeg's
    /// choice) for frame/slice threads when fewer videos than cores are in flight.
    pub threads: usize,
    /// Folder of the per-video index cache (`decode::index_cache`); `None` probes every time.
    /// Default: [`super::default_cache_dir`].
    pub index_cache: Option<PathBuf>,
    /// Let a pipeline whose first frame step is `Resize` resize in the colour conversion's
    /// swscale call ([`VideoReader::scale_output_to`]; default false: swscale's filters are not
    /// OpenCV's, so the pixels differ from mmaction2's `Resize`).
    pub resize_in_decoder: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            autorotate: true,
            color_convention: ColorConvention::Ffmpeg,
            stream: None,
            threads: 1,
            index_cache: default_cache_dir(),
            resize_in_decoder: false,
        }
    }
}

/// How [`VideoInfo::num_frames`] was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameCount {
    /// From the packet index (one demux pass, no decoding).
    PacketIndex,
    /// From the container's own index, read when the file is opened (AVI `idx1`/OpenDML): no
    /// demux pass, no decoding. Used only where it equals the packet index: an AVI without
    /// reordering whose entries are consecutive frames with data.
    ContainerIndex,
    /// By decoding every frame without colour conversion (streams without usable pts).
    Decoded,
    /// From the VOP headers of an MPEG-4 Part 2 stream without usable pts (DivX packed
    /// B-frames): one demux pass replaying which packets FFmpeg's decoder turns into frames,
    /// no decoding (`vop_headers.rs`). Checked against the decoder on every fetch; a stream it
    /// cannot replay is counted by decoding ([`FrameCount::Decoded`]).
    VopHeaders,
}

/// What a probe learns about the chosen video stream.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VideoInfo {
    /// Number of frames the decoder outputs (FFmpeg's `nb_read_frames`).
    pub num_frames: usize,
    /// How `num_frames` was counted.
    pub frame_count: FrameCount,
    /// Width in pixels of the frames returned (after auto-rotation when it applies).
    pub width: usize,
    /// Height in pixels of the frames returned (after auto-rotation when it applies).
    pub height: usize,
    /// Coded picture width in pixels, before rotation.
    pub coded_width: usize,
    /// Coded picture height in pixels, before rotation.
    pub coded_height: usize,
    /// Average frame rate in frames per second (0 when the container does not say).
    pub fps: f64,
    /// Duration in seconds: the stream's own, else `num_frames / fps` (0 when unknown).
    pub duration: f64,
    /// Display-matrix angle in degrees, counter-clockwise (`av_display_rotation_get`; 0 when absent).
    pub rotation: f64,
    /// Clockwise degrees applied to the returned frames (0 with `autorotate: false`).
    pub applied_rotation: u32,
    /// FFmpeg's codec name, e.g. `h264`, `mpeg4`, `vp9`.
    pub codec: String,
    /// FFmpeg's pixel format name, e.g. `yuv420p`, `yuvj420p`, `yuv420p10le`.
    pub pix_fmt: String,
    /// Colour matrix tag (`bt709`, `bt470bg`, `smpte170m`, `bt2020nc`, `unknown` …).
    pub color_space: String,
    /// Colour range tag: `tv` (limited), `pc` (full) or `unknown`.
    pub color_range: String,
    /// Keyframes in the stream (0 when the stream is numbered by decoding).
    pub keyframes: usize,
    /// Whether frames are stored out of display order (B-frames).
    pub b_frames: bool,
    /// Index of the stream read among the container's streams.
    pub stream_index: usize,
    /// Number of video streams in the container.
    pub video_streams: usize,
    /// Why the frames were not counted the usual way for this file, when the container's own
    /// count was rejected (an AVI index that contradicts its header: a truncated file). Readers
    /// print it as a warning; `None` for a healthy file.
    pub count_note: Option<String>,
}

impl VideoInfo {
    /// Mean distance between keyframes in frames (`num_frames / keyframes`; 0 when unknown).
    pub fn mean_gop(&self) -> f64 {
        if self.keyframes == 0 {
            0.0
        } else {
            self.num_frames as f64 / self.keyframes as f64
        }
    }
}

/// Work counters of one reader ([`VideoReader::stats`]): how many frames a fetch decoded for
/// the frames it kept, the figure `benches/decode.rs` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecodeStats {
    /// Frames the decoder output (kept or not).
    pub frames_decoded: u64,
    /// Frames converted to RGB and returned.
    pub frames_kept: u64,
    /// Packets sent to the decoder.
    pub packets_decoded: u64,
    /// Seeks to a keyframe.
    pub seeks: u64,
    /// Calls where the decoder disagreed with the packet index, or with the frame map (VOP
    /// headers or counting pass) of a stream without pts (answered by numbering every frame in
    /// output order, after counting again by decoding where the headers gave the count).
    pub index_mismatches: u64,
}

/// A keyframe of the packet index.
#[derive(Clone, Copy, Debug)]
struct Keyframe {
    pts: i64,
    dts: Option<i64>,
}

/// How frame indices map to the stream.
#[derive(Clone, Debug)]
enum Index {
    /// `pts[i]` is the pts of frame `i` (ascending); `keyframes` ascending by pts.
    Packets { pts: Vec<i64>, keyframes: Vec<Keyframe> },
    /// Frames are numbered by decoder output order only; `start` is the first packet's dts (or
    /// pts), where a rewind seeks to; `map` what the VOP headers predict ([`VopPredictor`]) or
    /// the counting pass saw, where it can be used.
    Sequential { start: Option<i64>, map: Option<DecodeMap> },
}

/// What the VOP headers predict ([`VopPredictor`]) or the counting pass of an MPEG-4 Part 2
/// stream without pts (DivX packed B-frames) saw:
/// the byte position of every packet in demux order and, per output frame, the position of the
/// packet whose decode call produced it (`AVFrame.pkt_pos`) and whether it is a B-frame.
///
/// FFmpeg's MPEG-4 decoder (`h263dec.c`) decodes at most one picture per packet and, under
/// `skip_frame = NONREF`, skips exactly the B-pictures, which nothing references. So a later
/// fetch can send the packets of B-frames nobody wants with `NONREF` and still number every
/// frame it gets: the output is the full output minus those frames. One case is kept out: in
/// packed bitstreams a decode call keeps data in the decoder's own buffer for the next call
/// ([`keeps_for_next_call`]), and only once its picture is decoded, so such a call is skipped
/// only when the next packet's frame is an unwanted B-frame too. Every fetch checks the frames
/// it gets against the map, so a stream that behaves otherwise costs a second pass, not a wrong frame.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DecodeMap {
    /// Byte position of each packet, strictly ascending (demux order).
    packets: Vec<i64>,
    /// Per output frame: (position of the packet that produced it, is a B-frame).
    frames: Vec<(i64, bool)>,
}

impl DecodeMap {
    /// The map, when it identifies every frame: positions known and ascending, one frame per
    /// producing packet at most.
    fn new(packets: Vec<i64>, frames: Vec<(i64, bool)>) -> Option<Self> {
        let map = DecodeMap { packets, frames };
        let rank = map.ranks();
        let ascending = map.packets.first().is_some_and(|&p| p >= 0) && map.packets.windows(2).all(|w| w[0] < w[1]);
        let known = rank.keys().all(|p| map.packets.binary_search(p).is_ok());
        (ascending && known && rank.len() == map.frames.len() && !rank.is_empty()).then_some(map)
    }

    /// Frame index by the position of the packet that produced it.
    fn ranks(&self) -> HashMap<i64, usize> {
        self.frames.iter().enumerate().map(|(i, f)| (f.0, i)).collect()
    }

    /// The packets a fetch of `wanted` (sorted) may skip, by position: each unwanted B-frame up
    /// to the last wanted frame, with its frame index and whether its packet may be skipped even
    /// when packed (the next packet's frame is an unwanted B-frame as well). `rank` is [`Self::ranks`].
    fn skippable(&self, wanted: &[usize], rank: &HashMap<i64, usize>) -> HashMap<i64, (usize, bool)> {
        let last = *wanted.last().unwrap_or(&0);
        let unwanted_b = |i: usize| i <= last && self.frames[i].1 && wanted.binary_search(&i).is_err();
        self.packets
            .iter()
            .enumerate()
            .filter_map(|(k, pos)| {
                let i = *rank.get(pos).filter(|&&i| unwanted_b(i))?;
                let next_also = self.packets.get(k + 1).and_then(|p| rank.get(p)).is_some_and(|&j| unwanted_b(j));
                Some((*pos, (i, next_also)))
            })
            .collect()
    }
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

/// An opened container with a decoder for one video stream.
struct Opened {
    input: ffmpeg::format::context::Input,
    stream_index: usize,
    time_base: ffmpeg::Rational,
    decoder: ffmpeg::decoder::Video,
    /// What the stream probe learned about the stream (or the index cache remembered of it).
    probe: StreamInfo,
    /// Whether the cache's record stood in for `avformat_find_stream_info` (`stream_info.rs`).
    probe_skipped: bool,
    /// A packet read ahead (while looking for a seek's keyframe) that comes before the demuxer's next.
    pending: Option<ffmpeg::Packet>,
    /// Byte positions of the packets decoded since [`VideoReader::trace_decoded_packets`]
    /// (`None`: not traced). Boxed: the decoder's `get_buffer2` hook writes through its address.
    #[allow(clippy::box_collection)] // the hook keeps the Vec's own address, and `Opened` moves
    trace: Option<Box<Vec<i64>>>,
}

fn open_input(path: &Path, options: &DecodeOptions, known: Option<&StreamInfo>) -> Result<Opened> {
    init_ffmpeg();
    // FFmpeg would open a FIFO and wait for a writer forever, or read /dev/zero to the end of memory.
    crate::source::walk::regular_file(path)?;
    let (mut input, restored) = stream_info::open(path, options.stream, known)?;
    let stream = match restored.map(|r| r.stream).or(options.stream) {
        Some(i) => {
            let s = input.stream(i).ok_or_else(|| anyhow!("no stream {i} (the file has {})", input.nb_streams()))?;
            if s.parameters().medium() != ffmpeg::media::Type::Video {
                bail!("stream {i} is not a video stream");
            }
            s
        }
        None => input.streams().best(ffmpeg::media::Type::Video).ok_or_else(|| anyhow!("no video stream"))?,
    };
    let stream_index = stream.index();
    let probe = restored.unwrap_or_else(|| stream_info::probed(&input, stream_index));
    let time_base = stream.time_base();
    let mut ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| anyhow!("codec parameters: {e}"))?;
    // SAFETY: ctx owns a valid AVCodecContext not yet opened; these fields are read at open.
    unsafe {
        let c = ctx.as_mut_ptr();
        (*c).thread_count = options.threads as i32;
        (*c).thread_type = if options.threads == 1 { 0 } else { (ffi::FF_THREAD_FRAME | ffi::FF_THREAD_SLICE) as i32 };
        // The CLI's decoder sets pkt_timebase; frame timestamps are then in the stream's units.
        (*c).pkt_timebase = time_base.into();
    }
    let decoder = ctx.decoder().video().map_err(|e| anyhow!("no decoder for this codec: {e}"))?;
    // Packets of other streams are never needed: let the demuxer drop them.
    // SAFETY: the context and its streams array are valid while `input` lives.
    unsafe {
        let fmt = input.as_mut_ptr();
        for i in 0..(*fmt).nb_streams as usize {
            if i != stream_index {
                (**(*fmt).streams.add(i)).discard = ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
    Ok(Opened { input, stream_index, time_base, decoder, probe, probe_skipped: restored.is_some(), pending: None, trace: None })
}

/// Makes the decoder record, in `opened.trace`, the position of the packet behind every picture
/// it allocates (`AVFrame.pkt_pos`, set from the packet being decoded before `get_buffer2` is
/// called): the pictures it decodes, output or not. Nothing when not tracing.
fn hook_trace(opened: &mut Opened) {
    let Some(trace) = opened.trace.as_deref_mut() else { return };
    // SAFETY: the decoder context is valid; `opaque` points into the boxed trace, which lives as
    // long as `opened` (the hook is installed again when a reopen replaces the decoder). Tracing
    // is a benchmark's single-threaded decoder, so the hook is never called concurrently.
    unsafe {
        let c = opened.decoder.as_mut_ptr();
        (*c).opaque = trace as *mut Vec<i64> as *mut std::ffi::c_void;
        (*c).get_buffer2 = Some(traced_get_buffer2);
    }
}

/// `get_buffer2` that notes the picture's packet position, then allocates as FFmpeg's default.
unsafe extern "C" fn traced_get_buffer2(c: *mut ffi::AVCodecContext, frame: *mut ffi::AVFrame, flags: std::ffi::c_int) -> std::ffi::c_int {
    // SAFETY: installed by `hook_trace`, whose `opaque` is the trace vector.
    unsafe {
        (*((*c).opaque as *mut Vec<i64>)).push((*frame).pkt_pos);
        ffi::avcodec_default_get_buffer2(c, frame, flags)
    }
}

/// Reads the next packet of the opened stream into `packet` (a read-ahead packet first); `false`
/// at the end of the file. Read errors end the stream as they end the FFmpeg CLI's input.
fn next_packet(opened: &mut Opened, packet: &mut ffmpeg::Packet) -> bool {
    if let Some(p) = opened.pending.take() {
        *packet = p;
        return true;
    }
    loop {
        // av_read_frame overwrites the packet without releasing what it held, and ffmpeg-next's
        // `read` does not release it either: without this, every packet read through a reused
        // `Packet` leaked its data (about 540 KB per H.264 fetch of 8 frames; RSS grew ~55 MB
        // per epoch of an 88-clip loader).
        // SAFETY: the packet pointer is valid; unref leaves it blank for av_read_frame.
        unsafe { ffi::av_packet_unref(packet.as_mut_ptr()) };
        match packet.read(&mut opened.input) {
            Ok(()) if packet.stream() == opened.stream_index => return true,
            Ok(()) => continue,
            Err(_) => return false,
        }
    }
}

/// Byte position of the packet whose decode call produced `frame` (`AVFrame.pkt_pos`; -1 unknown).
fn pkt_pos(frame: &ffmpeg::frame::Video) -> i64 {
    // SAFETY: the frame pointer is valid; a plain field read.
    unsafe { (*frame.as_ptr()).pkt_pos }
}

fn packet_flags(packet: &ffmpeg::Packet) -> i32 {
    // SAFETY: the packet pointer is valid; ffmpeg-next's `Flags` drops DISCARD, so read the raw field.
    unsafe { (*packet.as_ptr()).flags }
}

fn display_angle(stream: &ffmpeg::format::stream::Stream) -> f64 {
    for side in stream.side_data() {
        if side.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix && side.data().len() >= 36 {
            // SAFETY: the display matrix is 9 native-endian i32 values (libavutil/display.h).
            let r = unsafe { ffi::av_display_rotation_get(side.data().as_ptr() as *const i32) };
            if r.is_finite() {
                return r;
            }
        }
    }
    0.0
}

/// The display-matrix angle of the opened stream and the rotation `options` apply for it.
fn rotation_of(opened: &Opened, options: &DecodeOptions) -> (f64, Rotation) {
    let angle = display_angle(&opened.input.stream(opened.stream_index).expect("stream exists"));
    (angle, if options.autorotate { Rotation::from_display_angle(angle) } else { Rotation::None })
}

fn enum_name(name: *const std::ffi::c_char) -> String {
    if name.is_null() {
        "unknown".into()
    } else {
        // SAFETY: FFmpeg's name tables are static NUL-terminated strings.
        unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy().into_owned()
    }
}

impl CachedIndex {
    /// The index, whether frames are reordered, how the frames were counted, and the frame
    /// count of an output-order entry (a header count without a usable map counts as decoded).
    fn into_index(self) -> (Index, bool, FrameCount, usize) {
        match self.count {
            FrameCount::Decoded | FrameCount::VopHeaders => {
                let map = DecodeMap::new(self.packets, self.outputs);
                let count = if map.is_some() { self.count } else { FrameCount::Decoded };
                (Index::Sequential { start: self.start, map }, self.b_frames, count, self.num_frames)
            }
            FrameCount::PacketIndex | FrameCount::ContainerIndex => {
                let keyframes = self.keyframes.into_iter().map(|(pts, dts)| Keyframe { pts, dts }).collect();
                (Index::Packets { pts: self.pts, keyframes }, self.b_frames, FrameCount::PacketIndex, 0)
            }
        }
    }
}

/// The packet index without a demux pass, from the index entries the AVI demuxer read at open
/// (`idx1`, OpenDML): entry `i` is frame `i`. Only where that is exactly what [`index_packets`]
/// would find: an AVI stream without reordering (`video_delay` 0, so pts = dts = the entry's
/// timestamp), entries at consecutive timestamps (a zero-length "drop frame" chunk has no entry
/// but advances the timestamps) holding data, and at least one keyframe; and where the index is
/// whole: as many entries as the stream header's frame count (`dwLength`) and none past the end
/// of the file. An AVI missing its tail has lost its `idx1`: the demuxer then indexes only the
/// packets it read while opening (one), and the file would pass for a 1-frame video.
///
/// `Err(Some(why))` when the index contradicts the header or the file (the caller counts the
/// packets and reports `why`), `Err(None)` when the index does not apply.
fn index_from_container(opened: &mut Opened, file_size: Option<u64>) -> Result<Index, Option<String>> {
    if opened.input.format().name() != "avi" {
        return Err(None);
    }
    // SAFETY: the stream pointer and its codecpar are valid while `opened.input` lives; index
    // entries are read-only views into the demuxer's table, valid until the next demuxer call.
    unsafe {
        let st = *(*opened.input.as_mut_ptr()).streams.add(opened.stream_index);
        if (*(*st).codecpar).video_delay != 0 {
            return Err(None);
        }
        let n = ffi::avformat_index_get_entries_count(st);
        let (mut pts, mut keyframes) = (Vec::with_capacity(n.max(0) as usize), Vec::new());
        let mut end = 0i64;
        for i in 0..n {
            let e = &*ffi::avformat_index_get_entry(st, i);
            if e.size() <= 0 || pts.last().is_some_and(|&t| e.timestamp != t + 1) {
                return Err(None);
            }
            if e.flags() & ffi::AVINDEX_KEYFRAME != 0 {
                keyframes.push(Keyframe { pts: e.timestamp, dts: Some(e.timestamp) });
            }
            pts.push(e.timestamp);
            end = end.max(e.pos + e.size() as i64);
        }
        if pts.is_empty() || keyframes.is_empty() {
            return Err(None);
        }
        let header = (*st).duration;
        if header > 0 && header != pts.len() as i64 {
            return Err(Some(format!(
                "the AVI index lists {} frame(s) where the stream duration says {header} (the index is missing or damaged: a truncated file?)",
                pts.len()
            )));
        }
        if let Some(size) = file_size.filter(|&size| end > size as i64) {
            return Err(Some(format!("the AVI index points {} bytes past the end of the file (a truncated file?)", end - size as i64)));
        }
        Ok(Index::Packets { pts, keyframes })
    }
}

/// One pass over the stream's packets: the pts index, or `Sequential` when pts are missing or
/// repeat (with the frame map the VOP headers predict, for MPEG-4 Part 2). Also says whether
/// frames are stored out of display order.
fn index_packets(opened: &mut Opened) -> (Index, bool) {
    let mut predictor = (opened.decoder.id() == ffmpeg::codec::Id::MPEG4).then(|| predictor_for(opened));
    let mut kept: Vec<i64> = Vec::new();
    let mut keyframes: Vec<Keyframe> = Vec::new();
    let mut all_have_pts = true;
    let mut reordered = false;
    let mut last_pts = i64::MIN;
    let mut start = None;
    let mut packet = ffmpeg::Packet::empty();
    while next_packet(opened, &mut packet) {
        start = start.or(packet.dts()).or(packet.pts());
        if let Some(p) = &mut predictor {
            p.feed(packet.position() as i64, packet.data().unwrap_or_default());
        }
        let Some(pts) = packet.pts() else {
            all_have_pts = false;
            continue;
        };
        reordered |= pts < last_pts;
        last_pts = pts;
        let flags = packet_flags(&packet);
        if flags & ffi::AV_PKT_FLAG_KEY as i32 != 0 {
            keyframes.push(Keyframe { pts, dts: packet.dts() });
        }
        // Decoded (it may be a reference) but never output (edit lists).
        if flags & ffi::AV_PKT_FLAG_DISCARD as i32 == 0 {
            kept.push(pts);
        }
    }
    kept.sort_unstable();
    let distinct = kept.windows(2).all(|w| w[0] < w[1]);
    keyframes.sort_unstable_by_key(|k| k.pts);
    if all_have_pts && distinct && !kept.is_empty() && !keyframes.is_empty() {
        (Index::Packets { pts: kept, keyframes }, reordered)
    } else {
        let map = predictor.and_then(VopPredictor::finish).and_then(|(packets, frames)| DecodeMap::new(packets, frames));
        (Index::Sequential { start, map }, reordered)
    }
}

/// A [`VopPredictor`] for the opened stream's codec tag and extradata.
fn predictor_for(opened: &Opened) -> VopPredictor {
    let stream = opened.input.stream(opened.stream_index).expect("stream exists");
    // SAFETY: codecpar and its extradata (extradata_size bytes, or null) live as long as the stream.
    unsafe {
        let p = &*stream.parameters().as_ptr();
        let extradata = match (p.extradata.is_null(), usize::try_from(p.extradata_size)) {
            (false, Ok(n)) => std::slice::from_raw_parts(p.extradata, n),
            _ => &[],
        };
        VopPredictor::new(p.codec_tag, extradata)
    }
}

/// A probed, opened video file, ready to fetch frames from.
///
/// Opening costs nothing beyond FFmpeg's open (AVIs whose `idx1` index is exact), one demux pass
/// (packet index; for MPEG-4 streams without usable pts, the frames their VOP headers predict) or
/// one decode pass without colour conversion (other streams without usable pts). The
/// container stays open: [`VideoReader::frames`] seeks in it, so a sample costs one open whatever
/// it fetches.
pub struct VideoReader {
    path: PathBuf,
    info: VideoInfo,
    index: Index,
    opened: Opened,
    converter: Converter,
    /// Pts of the last frame the decoder output since the last seek; `None` when the decoder
    /// must seek before it can continue (fresh, drained or after an error).
    position: Option<i64>,
    stats: DecodeStats,
    options: DecodeOptions,
    /// Pictures decoded by the counting pass, kept for the first fetch (streams without pts).
    held: Vec<ffmpeg::frame::Video>,
}

/// The most decoded picture memory (counted as RGB24 bytes) a counting pass keeps for the first
/// fetch: 64 MiB, about 870 frames at 320x240.
const HELD_BYTES: usize = 64 << 20;

impl std::fmt::Debug for VideoReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoReader").field("path", &self.path).field("info", &self.info).finish_non_exhaustive()
    }
}

impl VideoReader {
    /// Opens `path` with the FFmpeg CLI's defaults ([`DecodeOptions::default`]).
    ///
    /// # Errors
    /// As [`VideoReader::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &DecodeOptions::default())
    }

    /// Opens `path` and probes frame count, size, fps, rotation, colour tags and the frame index.
    /// With an entry in `options.index_cache` for this version of the file, the demux pass does
    /// not run again, nor, for H.264/HEVC in MP4/MOV or Matroska, FFmpeg's stream probe
    /// (`avformat_find_stream_info`; see [`VideoReader::probe_skipped`]).
    ///
    /// # Errors
    /// The file cannot be opened or demuxed, has no video stream (or `options.stream` is not
    /// one), has no decoder, a packet fails to decode (streams numbered by decoding), or the
    /// stream holds no frames. Messages do not repeat the path; callers add it.
    pub fn open_with(path: impl AsRef<Path>, options: &DecodeOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let cache = options.index_cache.as_deref();
        let cached = cache.and_then(|dir| index_cache::load(dir, &path, options.stream));
        let mut opened = open_input(&path, options, cached.as_ref().map(|c| &c.probe))?;
        let (fps, stream_duration, params) = {
            let stream = opened.input.stream(opened.stream_index).expect("stream exists");
            let r = stream.avg_frame_rate();
            let fps = if r.denominator() != 0 && r.numerator() > 0 { r.numerator() as f64 / r.denominator() as f64 } else { 0.0 };
            let tb = stream.time_base();
            let d = stream.duration();
            let duration = if d > 0 && tb.denominator() != 0 { d as f64 * tb.numerator() as f64 / tb.denominator() as f64 } else { 0.0 };
            // SAFETY: codecpar is valid while the stream lives; copied out as plain values.
            let p = unsafe { *stream.parameters().as_ptr() };
            (fps, duration, p)
        };
        let video_streams = opened.input.streams().filter(|s| s.parameters().medium() == ffmpeg::media::Type::Video).count();
        let (angle, rotation) = rotation_of(&opened, options);
        let (coded_width, coded_height) = (opened.decoder.width() as usize, opened.decoder.height() as usize);
        let (width, height) = rotation.apply_to_size(coded_width, coded_height);
        let codec = opened.decoder.codec().map(|c| c.name().to_string()).unwrap_or_default();

        // The container's index costs nothing more; else the cache; else a demux pass.
        let file_size = std::fs::metadata(&path).ok().map(|m| m.len());
        let (container, count_note) = match index_from_container(&mut opened, file_size) {
            Ok(index) => (Some(index), None),
            Err(why) => (None, why.map(|w| format!("{w}; counted the packets instead"))),
        };
        let from_container = container.is_some();
        let cache = cache.filter(|_| !from_container);
        let cached = cached.filter(|c| c.probe.stream == opened.stream_index);
        let from_cache = cached.is_some();
        let (index, b_frames, frame_count, mut num_frames) = match (container, cached) {
            (Some(index), _) => (index, false, FrameCount::ContainerIndex, 0),
            (None, Some(c)) => c.into_index(),
            (None, None) => {
                // A fresh output-order index has a map only where the VOP headers gave it.
                let (index, b) = index_packets(&mut opened);
                let count = match &index {
                    Index::Packets { .. } => FrameCount::PacketIndex,
                    Index::Sequential { map: Some(_), .. } => FrameCount::VopHeaders,
                    Index::Sequential { map: None, .. } => FrameCount::Decoded,
                };
                (index, b, count, 0)
            }
        };
        let keyframes = match &index {
            Index::Packets { pts, keyframes } => {
                num_frames = pts.len();
                keyframes.len()
            }
            Index::Sequential { map: Some(map), .. } if frame_count == FrameCount::VopHeaders => {
                num_frames = map.frames.len();
                0
            }
            Index::Sequential { .. } => 0,
        };
        let converter = Converter::new(rotation, options.color_convention, options.threads);
        // SAFETY: av_color_*_name accept any enum value and return null when unknown.
        let (color_space, color_range) =
            unsafe { (enum_name(ffi::av_color_space_name(params.color_space)), enum_name(ffi::av_color_range_name(params.color_range))) };
        let info = VideoInfo {
            num_frames,
            frame_count,
            width,
            height,
            coded_width,
            coded_height,
            fps,
            duration: 0.0,
            rotation: angle,
            applied_rotation: rotation.degrees(),
            codec,
            pix_fmt: pix_fmt_name(params.format),
            color_space,
            color_range,
            keyframes,
            b_frames: b_frames || opened.decoder.has_b_frames(),
            stream_index: opened.stream_index,
            video_streams,
            count_note,
        };
        let mut reader = VideoReader {
            path,
            info,
            index,
            opened,
            converter,
            position: None,
            stats: DecodeStats::default(),
            options: options.clone(),
            held: Vec::new(),
        };
        if reader.info.num_frames == 0 && reader.info.frame_count == FrameCount::Decoded {
            reader.info.num_frames = reader.count_by_decoding()?;
        }
        if reader.info.num_frames == 0 {
            bail!("video stream has no frames");
        }
        if let (Some(dir), false) = (cache, from_cache) {
            index_cache::store(dir, &reader.path, reader.options.stream, &reader.cached_index());
        }
        reader.info.duration = if stream_duration > 0.0 {
            stream_duration
        } else if fps > 0.0 {
            reader.info.num_frames as f64 / fps
        } else {
            0.0
        };
        Ok(reader)
    }

    /// The probe's findings in the index cache's form.
    fn cached_index(&self) -> CachedIndex {
        let (pts, keyframes, start, map) = match &self.index {
            Index::Packets { pts, keyframes } => (pts.clone(), keyframes.iter().map(|k| (k.pts, k.dts)).collect(), None, None),
            Index::Sequential { start, map } => (Vec::new(), Vec::new(), *start, map.clone()),
        };
        let (packets, outputs) = map.map_or_else(Default::default, |m| (m.packets, m.frames));
        CachedIndex {
            pts,
            keyframes,
            packets,
            outputs,
            num_frames: self.info.num_frames,
            b_frames: self.info.b_frames,
            count: self.info.frame_count,
            start,
            probe: self.opened.probe,
        }
    }

    /// Makes every frame fetched from now on come out at `width`×`height` pixels (after
    /// rotation), resized in the colour conversion's own swscale call with swscale's `flags`
    /// (`bilinear`, `bicubic` or `neighbor`): frame `i` then equals frame `i` of
    /// `ffmpeg -i V -fps_mode passthrough -vf scale=W:H:flags=F -pix_fmt rgb24`. One pass over the
    /// full-size picture instead of two (convert, then resize the RGB copy).
    pub fn scale_output_to(&mut self, width: usize, height: usize, flags: &'static str) {
        self.converter.scale_to(width, height, flags);
    }

    /// What the probe found.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this open skipped FFmpeg's stream probe (`avformat_find_stream_info`), its
    /// findings read from the index cache instead: MP4/MOV and Matroska files with an H.264 or
    /// HEVC stream, opened before with the same cache (see `decode/stream_info.rs`).
    pub fn probe_skipped(&self) -> bool {
        self.opened.probe_skipped
    }

    /// Work done so far by this reader (decoded vs kept frames, seeks, index mismatches).
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Starts recording which packets the decoder decodes from now on (see
    /// [`VideoReader::decoded_packets`]). Opening's own work is not recorded: a stream counted
    /// by decoding ([`FrameCount::Decoded`]) has had every packet decoded once already.
    ///
    /// # Panics
    /// The reader decodes on more than one thread (`DecodeOptions::threads`): the recording
    /// hook is not safe to call from frame threads.
    pub fn trace_decoded_packets(&mut self) {
        assert_eq!(self.options.threads, 1, "tracing decoded packets needs a single decoder thread");
        self.opened.trace.get_or_insert_with(Box::default);
        hook_trace(&mut self.opened);
    }

    /// Byte positions in the file (ascending, distinct) of the packets decoded since
    /// [`VideoReader::trace_decoded_packets`]: those sent for decoding in full, plus every packet
    /// the decoder allocated a picture for — those sent under `skip_frame = NONREF` that it
    /// decoded all the same (references), whether or not their frames were ever taken out of
    /// it (a reference displayed after the last wanted frame is decoded but never output before
    /// the next seek flushes it); empty when not traced. A stream made of exactly these packets
    /// costs the FFmpeg CLI the decoding work a fetch did: `benches/decode.rs --subset` writes
    /// it, and `scripts/bench_peers.sh` times the CLI on it as the floor.
    pub fn decoded_packets(&self) -> Vec<i64> {
        let mut positions = self.opened.trace.as_deref().cloned().unwrap_or_default();
        positions.retain(|&p| p >= 0);
        positions.sort_unstable();
        positions.dedup();
        positions
    }

    /// Decodes the frames at the 0-based presentation-order `indices` (any order, repeats allowed)
    /// and returns them in the same order as RGB24 [`Frame`]s of the displayed size.
    ///
    /// # Errors
    /// An index ≥ `num_frames` (the message gives the valid range), a packet the decoder rejects
    /// (corrupt data), a frame the decoder never produced (the stream ended early), or a frame
    /// count from the VOP headers that decoding contradicts ([`FrameCount::VopHeaders`]: the
    /// message gives both counts; the reader and the index cache then hold the decoded one).
    pub fn frames(&mut self, indices: &[usize]) -> Result<Vec<Frame>> {
        let n = self.info.num_frames;
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            bail!("frame index {bad} out of range: valid indices are 0..={} (video has {n} frames)", n - 1);
        }
        let mut wanted: Vec<usize> = indices.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut decoded = match &self.index {
            Index::Sequential { .. } => self.fetch_sequential(&wanted)?,
            Index::Packets { .. } => match self.fetch_indexed(&wanted)? {
                Some(d) => d,
                None => {
                    self.stats.index_mismatches += 1;
                    self.fetch_sequential(&wanted)?
                }
            },
        };
        // Move each frame out at its last use; clone only for repeated indices.
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

    /// Decodes every frame in presentation order, handing each to `on_frame` as RGB24 together
    /// with its 0-based index; one buffer is reused for all frames. Returns the number of frames.
    /// A job that only wants every frame once is cheaper with [`decode_all`], which opens without
    /// the packet index or frame count.
    ///
    /// # Errors
    /// A packet fails to decode, colour conversion fails, or `on_frame` returns an error.
    pub fn for_each_frame(&mut self, mut on_frame: impl FnMut(usize, &Frame) -> Result<()>) -> Result<usize> {
        let mut buf = Frame::empty();
        let tb = self.opened.time_base;
        let n = self.in_output_order(|i, f, converter| {
            converter.convert_into(f, tb, &mut buf)?;
            on_frame(i, &buf)?;
            Ok(Flow::Continue)
        })?;
        self.stats.frames_kept += n as u64;
        Ok(n)
    }

    /// Whether the counting pass's pictures are still held, all of them (for the first fetch).
    fn holds_every_frame(&self) -> bool {
        !self.held.is_empty() && self.held.len() == self.info.num_frames
    }

    /// Frames numbered by decoder output order from frame 0, each handed to `on_frame` (which
    /// may stop early): the counting pass's pictures when it kept them all, else a decode from
    /// the start. Returns the number of frames handed over.
    fn in_output_order(
        &mut self,
        mut on_frame: impl FnMut(usize, &mut ffmpeg::frame::Video, &mut Converter) -> Result<Flow>,
    ) -> Result<usize> {
        let holds_all = self.holds_every_frame();
        let mut held = std::mem::take(&mut self.held);
        if holds_all {
            for (i, f) in held.iter_mut().enumerate() {
                if on_frame(i, f, &mut self.converter)? == Flow::Stop {
                    return Ok(i + 1);
                }
            }
            return Ok(held.len());
        }
        self.rewind()?;
        let mut n = 0usize;
        let converter = &mut self.converter;
        let result = drive(
            &mut self.opened,
            &mut self.stats,
            |_| Feed::Decode,
            |f| {
                let flow = on_frame(n, f, converter)?;
                n += 1;
                Ok(flow)
            },
        );
        self.position = None;
        result.map(|_| n)
    }

    /// Seeks to the first packet of the stream, so that decoding restarts at frame 0.
    fn rewind(&mut self) -> Result<()> {
        self.position = None;
        self.stats.seeks += 1;
        match &self.index {
            Index::Packets { keyframes, .. } => seek_to_keyframe(&mut self.opened, keyframes[0], keyframes[0]),
            Index::Sequential { start, .. } => {
                let start = start.unwrap_or(0);
                seek(&mut self.opened, start)?;
                // Output-order numbering must start at the very first packet: check where the
                // demuxer landed, and reopen the file where it cannot seek there.
                let mut packet = ffmpeg::Packet::empty();
                if next_packet(&mut self.opened, &mut packet) && packet.dts().or(packet.pts()).is_some_and(|t| t <= start) {
                    self.opened.pending = Some(packet);
                    return Ok(());
                }
                let options = self.options.clone();
                let trace = self.opened.trace.take();
                let probe = self.opened.probe;
                self.opened = open_input(&self.path, &options, Some(&probe))?;
                self.opened.trace = trace;
                hook_trace(&mut self.opened);
                Ok(())
            }
        }
    }

    /// Frames numbered by decoder output order: one pass from the start, no colour conversion.
    /// The decoded pictures are kept (references, no copy) while they fit in [`HELD_BYTES`], so
    /// the first fetch converts from them instead of decoding the stream a second time. For
    /// MPEG-4 Part 2 it also records the [`DecodeMap`] that lets later fetches skip B-frames.
    fn count_by_decoding(&mut self) -> Result<usize> {
        self.rewind()?;
        let mut n = 0;
        let (mut held, mut bytes) = (Vec::new(), 0usize);
        let (mut packets, mut frames) = (Vec::new(), Vec::new());
        let mapped = self.opened.decoder.id() == ffmpeg::codec::Id::MPEG4;
        let result = drive(
            &mut self.opened,
            &mut self.stats,
            |p| {
                if mapped {
                    packets.push(p.position() as i64);
                }
                Feed::Decode
            },
            |f| {
                n += 1;
                if mapped {
                    frames.push((pkt_pos(f), f.kind() == ffmpeg::picture::Type::B));
                }
                bytes += f.width() as usize * f.height() as usize * 3;
                if bytes <= HELD_BYTES {
                    // SAFETY: av_frame_clone makes a new frame referencing the same buffers.
                    held.push(unsafe { ffmpeg::frame::Video::wrap(ffi::av_frame_clone(f.as_ptr())) });
                }
                Ok(Flow::Continue)
            },
        );
        if bytes <= HELD_BYTES {
            self.held = held;
        }
        if let Index::Sequential { map, .. } = &mut self.index {
            *map = DecodeMap::new(packets, frames);
        }
        self.position = None;
        result.map(|_| n)
    }

    /// Replaces a count from the VOP headers with one by decoding, and the cached index with it.
    ///
    /// # Errors
    /// Decoding fails, or the counts differ.
    fn recount_by_decoding(&mut self) -> Result<()> {
        let predicted = self.info.num_frames;
        let n = self.count_by_decoding()?;
        self.info.num_frames = n;
        self.info.frame_count = FrameCount::Decoded;
        if let Some(dir) = self.options.index_cache.clone() {
            index_cache::store(&dir, &self.path, self.options.stream, &self.cached_index());
        }
        if n != predicted {
            bail!(
                "the VOP headers promised {predicted} frames but the decoder outputs {n}; counted again, the next epoch samples from {n}"
            );
        }
        Ok(())
    }

    /// Decodes from the start, numbering frames by output order, up to the last wanted index:
    /// the counting pass's pictures when held, else a pass that skips the B-frames nobody wants
    /// where the stream has a [`DecodeMap`], else every frame.
    ///
    /// Where the VOP headers gave the count and the decoder disagreed with them, the frames are
    /// counted again by decoding (the index cache is corrected); if the count changes, the
    /// indices were sampled from a wrong count, and the fetch fails saying so.
    fn fetch_sequential(&mut self, wanted: &[usize]) -> Result<HashMap<usize, Frame>> {
        if !self.holds_every_frame() {
            if let Some(out) = self.fetch_skipping_b_frames(wanted)? {
                return Ok(out);
            }
            if self.info.frame_count == FrameCount::VopHeaders {
                self.recount_by_decoding()?;
            }
        }
        let mut out = HashMap::with_capacity(wanted.len());
        let last = *wanted.last().unwrap_or(&0);
        let tb = self.opened.time_base;
        self.in_output_order(|i, f, converter| {
            if wanted.binary_search(&i).is_ok() {
                out.insert(i, converter.convert(f, tb)?);
            }
            Ok(if i < last { Flow::Continue } else { Flow::Stop })
        })?;
        self.stats.frames_kept += out.len() as u64;
        Ok(out)
    }

    /// One pass from the start that sends the packets of unwanted B-frames with
    /// `skip_frame = NONREF` ([`DecodeMap`]) and checks every frame it gets against the map:
    /// frames come in order, and the only ones missing are those skipped. `Ok(None)` without a
    /// map, or when the decoder disagreed with it (counted in [`DecodeStats::index_mismatches`];
    /// the caller then decodes every frame).
    fn fetch_skipping_b_frames(&mut self, wanted: &[usize]) -> Result<Option<HashMap<usize, Frame>>> {
        let Index::Sequential { map: Some(map), .. } = &self.index else { return Ok(None) };
        let last = *wanted.last().unwrap_or(&0);
        let rank = map.ranks();
        let skippable = map.skippable(wanted, &rank);
        let skipped: Vec<std::cell::Cell<bool>> = vec![Default::default(); last + 1];
        self.rewind()?;
        let mut out = HashMap::with_capacity(wanted.len());
        let (mut next, mut mismatch) = (0usize, false);
        let (converter, tb) = (&mut self.converter, self.opened.time_base);
        // Whether the decoder holds part of the last packet for this call (see keeps_for_next_call).
        let mut kept = false;
        let feed = |p: &ffmpeg::Packet| {
            let keeps = keeps_for_next_call(p.data().unwrap_or_default(), kept);
            let skip = match skippable.get(&(p.position() as i64)) {
                Some(&(i, next_also)) if !keeps || next_also => {
                    skipped[i].set(true);
                    true
                }
                _ => false,
            };
            // A skipped picture never reaches the code that keeps data for the next call.
            kept = keeps && !skip;
            if skip {
                Feed::Skip
            } else {
                Feed::Decode
            }
        };
        let result = drive(&mut self.opened, &mut self.stats, feed, |f| {
            let in_order = |i: usize| i >= next && i <= last && (next..=i).all(|j| skipped[j].get() == (j < i));
            let Some(&i) = rank.get(&pkt_pos(f)).filter(|&&i| in_order(i)) else {
                mismatch = true;
                return Ok(Flow::Stop);
            };
            next = i + 1;
            if wanted.binary_search(&i).is_ok() {
                out.insert(i, converter.convert(f, tb)?);
            }
            Ok(if i < last { Flow::Continue } else { Flow::Stop })
        });
        self.position = None;
        result?;
        if mismatch || next <= last {
            self.stats.index_mismatches += 1;
            return Ok(None);
        }
        self.stats.frames_kept += out.len() as u64;
        Ok(Some(out))
    }

    /// Packet-index fetch: one forward pass, seeking only past keyframes that nobody needs to
    /// decode through, skipping unwanted non-reference frames. `Ok(None)` when the decoder
    /// disagreed with the index.
    fn fetch_indexed(&mut self, wanted: &[usize]) -> Result<Option<HashMap<usize, Frame>>> {
        let Index::Packets { pts, keyframes } = &self.index else { return Ok(None) };
        // Last keyframe at or before a frame.
        let keyframe_of = |frame: usize| keyframes[keyframes.partition_point(|k| k.pts <= pts[frame]).saturating_sub(1)];
        let wanted_pts: Vec<i64> = wanted.iter().map(|&i| pts[i]).collect();
        let mut out = HashMap::with_capacity(wanted.len());
        let mut w = 0usize;
        while w < wanted.len() {
            let key = keyframe_of(wanted[w]);
            let mut skip_before = None;
            // Go on decoding only when the decoder is inside the target's GOP and short of it.
            if !self.position.is_some_and(|p| key.pts <= p && p < wanted_pts[w]) {
                self.position = None;
                seek_to_keyframe(&mut self.opened, key, keyframes[0])?;
                self.stats.seeks += 1;
                skip_before = Some(key.pts);
            }
            let before = w;
            // The run of wanted frames this pass decodes: up to the next one that needs a seek.
            let mut end = w + 1;
            while end < wanted.len() && keyframe_of(wanted[end]).pts <= wanted_pts[end - 1] {
                end += 1;
            }
            let run = &wanted_pts[w..end];
            let mut unsent = run.len();
            let feed = |p: &ffmpeg::Packet| match p.pts() {
                None => Feed::Decode,
                Some(t) if run.binary_search(&t).is_ok() => {
                    unsent -= 1;
                    if unsent == 0 {
                        Feed::Last
                    } else {
                        Feed::Decode
                    }
                }
                Some(t) if wanted_pts.binary_search(&t).is_ok() => Feed::Decode,
                Some(_) => Feed::Skip,
            };
            let mut mismatch = false;
            let mut stopped = false;
            let (converter, tb) = (&mut self.converter, self.opened.time_base);
            let position = &mut self.position;
            let result = drive(&mut self.opened, &mut self.stats, feed, |f| {
                let Some(ts) = f.pts().or(f.timestamp()) else {
                    mismatch = true;
                    return Ok(Flow::Stop);
                };
                if skip_before.is_some_and(|k| ts < k) {
                    return Ok(Flow::Continue); // leading frames of an open GOP before the keyframe
                }
                skip_before = None;
                if pts.binary_search(&ts).is_err() || ts > wanted_pts[w] {
                    // A frame the index does not know, or a wanted frame that never came.
                    mismatch = true;
                    return Ok(Flow::Stop);
                }
                *position = Some(ts);
                if ts == wanted_pts[w] {
                    out.insert(wanted[w], converter.convert(f, tb)?);
                    w += 1;
                }
                // Stop when done, or to seek when a keyframe lies before the next wanted frame.
                if w == wanted.len() || keyframe_of(wanted[w]).pts > ts {
                    stopped = true;
                    return Ok(Flow::Stop);
                }
                Ok(Flow::Continue)
            });
            if !matches!(result, Ok(false)) || mismatch || !stopped {
                self.position = None; // errored or drained: the next fetch seeks
            }
            result?;
            if mismatch {
                return Ok(None);
            }
            if w == before {
                break; // the decoder ended without producing the target
            }
        }
        self.stats.frames_kept += out.len() as u64;
        Ok(Some(out))
    }
}

/// Whether `drive` goes on.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// What `drive` does with a packet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// Decode it.
    Decode,
    /// Nobody wants its frame: decode it only if other frames reference it (`skip_frame = NONREF`).
    Skip,
    /// Decode it, then drain the decoder: every frame still wanted is in, so the packets after it
    /// would be decoded only to push the wanted ones out of the reorder buffer.
    Last,
}

/// Feeds packets of the stream to the decoder and hands every output frame to `on_frame`.
/// Frames already in the decoder from an earlier call that stopped early come first. `feed`
/// says what to do with each packet ([`Feed`]): skipped packets' frames may never be output.
/// Returns `true` when the decoder was drained (end of stream, or after a [`Feed::Last`]
/// packet); a drained decoder must be flushed (by a seek) before it takes packets again.
fn drive(
    opened: &mut Opened,
    stats: &mut DecodeStats,
    mut feed: impl FnMut(&ffmpeg::Packet) -> Feed,
    mut on_frame: impl FnMut(&mut ffmpeg::frame::Video) -> Result<Flow>,
) -> Result<bool> {
    let mut frame = ffmpeg::frame::Video::empty();
    let mut receive = |opened: &mut Opened, stats: &mut DecodeStats| -> Result<Flow> {
        while opened.decoder.receive_frame(&mut frame).is_ok() {
            stats.frames_decoded += 1;
            if on_frame(&mut frame)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    };
    if receive(opened, stats)? == Flow::Stop {
        return Ok(false);
    }
    let mut packet = ffmpeg::Packet::empty();
    let mut skipping = false;
    while next_packet(opened, &mut packet) {
        let what = feed(&packet);
        let skip = what == Feed::Skip;
        if let (Some(trace), false) = (&mut opened.trace, skip) {
            trace.push(packet.position() as i64);
        }
        if skip != skipping {
            skipping = skip;
            let discard = if skip { ffmpeg::Discard::NonReference } else { ffmpeg::Discard::Default };
            opened.decoder.skip_frame(discard);
        }
        opened.decoder.send_packet(&packet).map_err(|e| anyhow!("decoding video packet (pts {:?}): {e}", packet.pts()))?;
        stats.packets_decoded += 1;
        if what == Feed::Last {
            break;
        }
        if receive(opened, stats)? == Flow::Stop {
            opened.decoder.skip_frame(ffmpeg::Discard::Default);
            return Ok(false);
        }
    }
    opened.decoder.skip_frame(ffmpeg::Discard::Default);
    opened.decoder.send_eof().map_err(|e| anyhow!("flushing decoder: {e}"))?;
    receive(opened, stats)?;
    Ok(true)
}

/// Seeks the stream to the keyframe at or before `ts` (stream time base) and resets the decoder.
fn seek(opened: &mut Opened, ts: i64) -> Result<()> {
    opened.pending = None;
    // SAFETY: the context pointer is valid for the lifetime of `opened.input`.
    let r = unsafe { ffi::av_seek_frame(opened.input.as_mut_ptr(), opened.stream_index as i32, ts, ffi::AVSEEK_FLAG_BACKWARD as i32) };
    if r < 0 {
        bail!("seek to timestamp {ts} failed: {}", ffmpeg::Error::from(r));
    }
    opened.decoder.flush();
    Ok(())
}

/// Seeks so that the next packet read is `key`'s. Demuxers differ in what a seek timestamp means
/// (mov subtracts its dts shift and searches by pts; AVI and generic indexes search by dts), so
/// this seeks by pts, drops packets before the keyframe without decoding them, and seeks by dts,
/// then to the `first` keyframe, when the demuxer landed past `key`.
fn seek_to_keyframe(opened: &mut Opened, key: Keyframe, first: Keyframe) -> Result<()> {
    let by_dts = |k: Keyframe| k.dts.map_or(k.pts, |d| d.min(k.pts));
    for ts in [key.pts, by_dts(key), by_dts(first)] {
        seek(opened, ts)?;
        let mut packet = ffmpeg::Packet::empty();
        while next_packet(opened, &mut packet) {
            if packet.pts() == Some(key.pts) {
                opened.pending = Some(packet);
                return Ok(());
            }
            if matches!((packet.dts(), key.dts), (Some(d), Some(kd)) if d > kd) {
                break; // landed past the keyframe: try an earlier timestamp
            }
        }
    }
    bail!("could not seek to the keyframe at pts {}: the demuxer never returned it", key.pts)
}

/// Decodes every frame of the video at `path` in presentation order, handing each to `on_frame`
/// as RGB24 (converted as [`VideoReader::frames`] converts) together with its 0-based index, one
/// reused buffer at a time. Returns the number of frames decoded.
///
/// This is the path of `vpipe extract-frames`: one decode pass, bounded memory, any container.
///
/// # Errors
/// The file cannot be opened, a packet fails to decode, colour conversion fails, the stream has
/// no frames, or `on_frame` returns an error (decoding stops there). Messages do not repeat the path.
pub fn decode_all(path: &Path, options: &DecodeOptions, on_frame: impl FnMut(usize, &Frame) -> Result<()>) -> Result<usize> {
    let (mut converter, mut buf, mut on_frame, mut n) = (None, Frame::empty(), on_frame, 0usize);
    decode_raw(path, options, |f, s| {
        let c = converter.get_or_insert_with(|| Converter::new(s.rotation, options.color_convention, options.threads));
        c.convert_into(f, s.time_base, &mut buf)?;
        on_frame(n, &buf)?;
        n += 1;
        Ok(())
    })
}

/// [`decode_all`] with the FFmpeg CLI's `-ss`/`-t` cut and `-r` rate ([`super::retime`]):
/// `on_frame` gets each output frame with its 0-based output index, decoded frames repeated or
/// dropped as the CLI repeats and drops them; decoding stops at the end of the cut. Returns the
/// number of output frames.
///
/// # Errors
/// As [`decode_all`]; a cut that keeps no frame.
pub fn decode_all_retimed(
    path: &Path,
    options: &DecodeOptions,
    retime: super::retime::Retime,
    on_frame: impl FnMut(usize, &Frame) -> Result<()>,
) -> Result<usize> {
    use super::retime::{FrameTime, Retimer, StreamClock};
    init_ffmpeg();
    let mut opened = open_input(path, options, None)?;
    let (_, rotation) = rotation_of(&opened, options);
    let mut converter = Converter::new(rotation, options.color_convention, options.threads);
    let tb = opened.time_base;
    let stream = opened.input.stream(opened.stream_index).ok_or_else(|| anyhow::anyhow!("the video stream is gone"))?;
    let rate = stream.rate();
    let rate = if rate.numerator() > 0 && rate.denominator() > 0 { rate } else { stream.avg_frame_rate() };
    // SAFETY: a plain read of the open format context.
    let start_us = match unsafe { (*opened.input.as_ptr()).start_time } {
        t if t == ffi::AV_NOPTS_VALUE => 0,
        t => t,
    };
    let clock = StreamClock {
        time_base: (tb.numerator() as i64, tb.denominator() as i64),
        start_us,
        frame_rate: (rate.numerator().max(1) as i64, rate.denominator().max(1) as i64),
    };
    let mut retimer = Retimer::new(retime, clock);
    let (mut buf, mut on_frame, mut n) = (Frame::empty(), on_frame, 0usize);
    let mut previous: Option<ffmpeg::frame::Video> = None;
    let mut last_pts = None;
    let mut write = |frame: &ffmpeg::frame::Video, copies: usize, n: &mut usize| -> Result<()> {
        if copies == 0 {
            return Ok(());
        }
        converter.convert_into(&mut frame.clone(), tb, &mut buf)?;
        for _ in 0..copies {
            on_frame(*n, &buf)?;
            *n += 1;
        }
        Ok(())
    };
    drive(
        &mut opened,
        &mut DecodeStats::default(),
        |_| Feed::Decode,
        |f| {
            let duration = f.packet().duration;
            let pts = f.timestamp().or_else(|| last_pts.map(|p: i64| p + duration.max(1))).unwrap_or(0);
            last_pts = Some(pts);
            let e = retimer.push(FrameTime { pts, duration });
            if e.stop {
                return Ok(Flow::Stop);
            }
            if let Some(p) = &previous {
                write(p, e.previous, &mut n)?;
            }
            write(f, e.this, &mut n)?;
            if e.previous + e.this > 0 || retime.fps.is_some() {
                previous = Some(f.clone());
            }
            Ok(Flow::Continue)
        },
    )?;
    if let Some(p) = &previous {
        write(p, retimer.finish(), &mut n)?;
    }
    if n == 0 {
        bail!("no frame in the cut (start {:?} s, duration {:?} s)", retime.start, retime.duration);
    }
    Ok(n)
}

/// What a whole-file pass ([`decode_raw`]) tells of its stream before the first frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawStream {
    /// The stream's time base (frame timestamps are in it).
    pub time_base: ffmpeg::Rational,
    /// Its average frame rate (0/0 when unknown).
    pub frame_rate: ffmpeg::Rational,
    /// The rotation its display matrix asks for (as the CLI applies it).
    pub rotation: Rotation,
}

/// Decodes every frame of `path` in presentation order and hands each decoded picture, as the
/// decoder made it (its pixel format, coded size, timestamps), to `on_frame`: the path of
/// `vpipe resize-videos`, which filters and re-encodes them.
///
/// # Errors
/// As [`decode_all`].
pub(crate) fn decode_raw(
    path: &Path,
    options: &DecodeOptions,
    mut on_frame: impl FnMut(&mut ffmpeg::frame::Video, &RawStream) -> Result<()>,
) -> Result<usize> {
    init_ffmpeg();
    let mut opened = open_input(path, options, None)?;
    let (_, rotation) = rotation_of(&opened, options);
    let stream = opened.input.stream(opened.stream_index).ok_or_else(|| anyhow!("the video stream is gone"))?;
    let info = RawStream { time_base: opened.time_base, frame_rate: stream.avg_frame_rate(), rotation };
    let mut n = 0usize;
    drive(
        &mut opened,
        &mut DecodeStats::default(),
        |_| Feed::Decode,
        |f| {
            on_frame(f, &info)?;
            n += 1;
            Ok(Flow::Continue)
        },
    )?;
    if n == 0 {
        bail!("video stream has no frames");
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    type OpenedState = (i32, u32, u32, i32, i32, i32, i32, i32, (i32, i32), (i32, i32), i64);

    /// What the decoder opens with and what the reader reports of the stream: the fields a
    /// skipped probe must restore (`stream_info.rs`).
    fn opened_state(r: &VideoReader) -> OpenedState {
        let (d, st) = (&r.opened.decoder, r.opened.input.stream(r.opened.stream_index).unwrap());
        // SAFETY: plain reads of the open decoder context.
        let c = unsafe { &*d.as_ptr() };
        let (avg, fr) = (st.avg_frame_rate(), st.rate());
        (
            c.has_b_frames,
            d.width(),
            d.height(),
            c.pix_fmt as i32,
            c.profile,
            c.level,
            c.colorspace as i32,
            c.color_range as i32,
            (avg.numerator(), avg.denominator()),
            (fr.numerator(), fr.denominator()),
            st.duration(),
        )
    }

    #[test]
    fn a_skipped_probe_opens_the_decoder_as_the_probe_does() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.mp4", "b.mkv"] {
            let path = dir.path().join(name);
            // B-frames (reorder delay 2), BT.709 full range: values the probe finds by decoding.
            let st = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-t", "1"])
                .args(["-c:v", "libx264", "-bf", "3", "-g", "12", "-colorspace", "bt709", "-color_range", "pc"])
                .arg(&path)
                .status()
                .expect("ffmpeg CLI is installed by scripts/setup.sh");
            assert!(st.success());
            let opts = DecodeOptions { index_cache: Some(dir.path().join("cache")), ..Default::default() };
            let probed = VideoReader::open_with(&path, &opts).unwrap();
            let skipped = VideoReader::open_with(&path, &opts).unwrap();
            assert!(!probed.probe_skipped() && skipped.probe_skipped(), "{name}");
            let state = opened_state(&probed);
            assert!(state.0 > 0, "{name}: the probe found the reorder delay");
            assert_eq!(opened_state(&skipped), state, "{name}");
            assert_eq!(skipped.info(), probed.info(), "{name}");
        }
    }

    #[test]
    fn only_unwanted_b_frames_up_to_the_last_wanted_frame_are_skippable() {
        // Decode order I0 P3(+B1 packed) B1 B2 P6 B4 B5: packet positions 10..70; output I0 B1 B2 P3 B4 B5 P6.
        let packets = vec![10, 20, 30, 40, 50, 60, 70];
        let frames = vec![(10, false), (30, true), (40, true), (20, false), (60, true), (70, true), (50, false)];
        let map = DecodeMap::new(packets.clone(), frames.clone()).unwrap();
        let rank = map.ranks();
        let s = map.skippable(&[2, 3], &rank);
        assert_eq!(s.get(&30), Some(&(1, false)), "B1 unwanted; B2 after it is wanted");
        assert_eq!(s.get(&40), None, "B2 is wanted");
        assert!(s.keys().all(|&p| p == 30), "B4/B5 lie past the last wanted frame: {s:?}");
        assert_eq!(map.skippable(&[0, 6], &rank).get(&30), Some(&(1, true)), "B1 and B2 both unwanted");
        assert!(DecodeMap::new(packets.clone(), vec![(10, false), (10, true)]).is_none(), "one packet, two frames");
        assert!(DecodeMap::new(vec![20, 10], frames[..1].to_vec()).is_none(), "positions not ascending");
        assert!(DecodeMap::new(packets, vec![(15, false)]).is_none(), "a frame from no known packet");
    }
}
