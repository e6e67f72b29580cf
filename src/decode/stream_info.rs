//! What FFmpeg's stream probe (`avformat_find_stream_info`) learns about the chosen video stream,
//! kept in the index cache so that a later open of the same file can skip the probe.
//!
//! The probe is most of an open's cost on H.264: to guess the reorder delay it decodes the first
//! frames (7 of them when the SPS does not give `max_num_reorder_frames`), 1.3–5 ms a file on
//! this project's clips. What it leaves behind and the decoder or [`super::VideoInfo`] reads is
//! a handful of integers in the stream's codec parameters (`video_delay`, which becomes the
//! decoder's `has_b_frames`; size, pixel format, profile, level, colour matrix and range) and
//! the stream's frame rates, duration and start time. [`StreamInfo::capture`] records them after
//! a probe; [`open`] writes them back instead of probing, so the decoder opens with the same
//! parameters as after a probe and returns the same frames as the FFmpeg CLI.
//!
//! Only where skipping the probe changes nothing else the reader uses: an MP4/MOV or Matroska
//! file, an H.264 or HEVC stream with its parameter sets in the container (`avcC`/`hvcC`
//! extradata, which the probe would otherwise extract from the stream), and either one video
//! stream or the stream asked for by number (FFmpeg's best-stream choice counts the frames the
//! probe decoded). For these codecs the demuxer never rewrites a packet's pts from what the probe
//! learned; it may fill in a missing dts differently (Matroska stores none), and the reader
//! numbers frames by pts, so neither the frame index nor the frames change
//! (`tests/decode_parity.rs` checks both on every such clip).

use std::ffi::CString;
use std::path::Path;

use anyhow::{anyhow, Result};
use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;

/// The probe's findings for one video stream, as the index cache stores them: 19 integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    /// Index of the stream in the file.
    pub stream: usize,
    /// `codecpar` fields: codec_id, video_delay, width, height, format, profile, level,
    /// bits_per_raw_sample, sample aspect ratio (num, den), color_space, color_range.
    codecpar: [i64; 12],
    /// The stream's avg_frame_rate and r_frame_rate (num, den each), duration and start_time
    /// (stream time base; `AV_NOPTS_VALUE` when unknown).
    timing: [i64; 6],
}

/// Number of integers in a stored [`StreamInfo`].
pub(crate) const WORDS: usize = 19;

/// Demuxers whose packets keep their container timestamps without a probe (see the module doc).
const FORMATS: [&str; 2] = ["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"];

impl StreamInfo {
    /// Records what the probe left in `stream`'s parameters (call after `avformat_find_stream_info`).
    ///
    /// # Safety
    /// `stream` must point to a valid stream of an open format context.
    unsafe fn capture(stream: *const ffi::AVStream) -> Self {
        let s = &*stream;
        let p = &*s.codecpar;
        StreamInfo {
            stream: s.index as usize,
            codecpar: [
                p.codec_id as i64,
                p.video_delay as i64,
                p.width as i64,
                p.height as i64,
                p.format as i64,
                p.profile as i64,
                p.level as i64,
                p.bits_per_raw_sample as i64,
                p.sample_aspect_ratio.num as i64,
                p.sample_aspect_ratio.den as i64,
                p.color_space as i64,
                p.color_range as i64,
            ],
            timing: [
                s.avg_frame_rate.num as i64,
                s.avg_frame_rate.den as i64,
                s.r_frame_rate.num as i64,
                s.r_frame_rate.den as i64,
                s.duration,
                s.start_time,
            ],
        }
    }

    /// The integers the cache stores, in a fixed order.
    pub(crate) fn to_words(self) -> [i64; WORDS] {
        let mut w = [0; WORDS];
        w[0] = self.stream as i64;
        w[1..13].copy_from_slice(&self.codecpar);
        w[13..].copy_from_slice(&self.timing);
        w
    }

    /// Back from [`Self::to_words`]; `None` for values FFmpeg never writes there (a foreign or
    /// damaged entry), which must not reach its enum-typed fields.
    pub(crate) fn from_words(w: &[i64]) -> Option<Self> {
        let w: &[i64; WORDS] = w.try_into().ok()?;
        let int = |v: i64| i32::try_from(v).is_ok();
        let below = |v: i64, nb: i32| (0..nb as i64).contains(&v);
        let ok = usize::try_from(w[0]).is_ok()
            && w[1..13].iter().all(|&v| int(v))
            && below(w[11], ffi::AVColorSpace::AVCOL_SPC_NB as i32)
            && below(w[12], ffi::AVColorRange::AVCOL_RANGE_NB as i32)
            && w[13..17].iter().all(|&v| int(v));
        ok.then(|| StreamInfo { stream: w[0] as usize, codecpar: w[1..13].try_into().unwrap(), timing: w[13..].try_into().unwrap() })
    }

    /// Whether this record may stand in for the probe of the file open in `ctx` (see the module
    /// doc), when the caller asked for stream `requested` (`None`: FFmpeg's best video stream).
    ///
    /// # Safety
    /// `ctx` must be a format context opened by `avformat_open_input`.
    unsafe fn applies_to(&self, ctx: *const ffi::AVFormatContext, requested: Option<usize>) -> bool {
        let ctx = &*ctx;
        let format = std::ffi::CStr::from_ptr((*ctx.iformat).name).to_bytes();
        let streams = std::slice::from_raw_parts(ctx.streams, ctx.nb_streams as usize);
        let is_video = |st: &*mut ffi::AVStream| (*(**st).codecpar).codec_type == ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
        let Some(&st) = streams.get(self.stream) else { return false };
        let p = &*(*st).codecpar;
        let chosen = match requested {
            Some(i) => i == self.stream,
            None => streams.iter().filter(|s| is_video(s)).count() == 1,
        };
        chosen
            && is_video(&st)
            && FORMATS.iter().any(|f| f.as_bytes() == format)
            && matches!(p.codec_id, ffi::AVCodecID::AV_CODEC_ID_H264 | ffi::AVCodecID::AV_CODEC_ID_HEVC)
            && p.codec_id as i64 == self.codecpar[0]
            && p.extradata_size > 0
    }

    /// Writes the record into the stream's parameters, as the probe would have left them.
    ///
    /// # Safety
    /// `stream` must point to a valid stream; [`Self::applies_to`] held for its context.
    unsafe fn restore(&self, stream: *mut ffi::AVStream) {
        let s = &mut *stream;
        let p = &mut *s.codecpar;
        let [_, delay, width, height, format, profile, level, bits, sar_num, sar_den, space, range] = self.codecpar.map(|v| v as i32);
        p.video_delay = delay;
        p.width = width;
        p.height = height;
        p.format = format;
        p.profile = profile;
        p.level = level;
        p.bits_per_raw_sample = bits;
        p.sample_aspect_ratio = ffi::AVRational { num: sar_num, den: sar_den };
        // Range-checked in `from_words`: values below the enums' `_NB` are all declared variants.
        *(std::ptr::addr_of_mut!(p.color_space) as *mut i32) = space;
        *(std::ptr::addr_of_mut!(p.color_range) as *mut i32) = range;
        let [avg_num, avg_den, r_num, r_den, duration, start] = self.timing;
        s.avg_frame_rate = ffi::AVRational { num: avg_num as i32, den: avg_den as i32 };
        s.r_frame_rate = ffi::AVRational { num: r_num as i32, den: r_den as i32 };
        s.duration = duration;
        s.start_time = start;
    }
}

/// Opens `path` as `ffmpeg::format::input` does — `avformat_open_input`, then
/// `avformat_find_stream_info` — except that where `known` (a cached [`StreamInfo`]) applies,
/// it is written back instead of probing. Returns the input and the record that describes the
/// chosen stream when the probe was skipped (`None`: probed; call [`probed`] once the stream is
/// chosen).
///
/// # Errors
/// FFmpeg cannot open or probe the file (its message), or the path holds a NUL byte.
pub(crate) fn open(
    path: &Path,
    requested: Option<usize>,
    known: Option<&StreamInfo>,
) -> Result<(ffmpeg::format::context::Input, Option<StreamInfo>)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| anyhow!("cannot open: the path holds a NUL byte"))?;
    let mut ctx: *mut ffi::AVFormatContext = std::ptr::null_mut();
    // SAFETY: ctx is null (avformat allocates it); c_path outlives the call; on success ctx is an
    // open context that `Input::wrap` then owns and closes.
    unsafe {
        let r = ffi::avformat_open_input(&mut ctx, c_path.as_ptr(), std::ptr::null(), std::ptr::null_mut());
        if r < 0 {
            return Err(anyhow!("cannot open: {}", ffmpeg::Error::from(r)));
        }
        if let Some(known) = known.filter(|k| k.applies_to(ctx, requested)) {
            known.restore(*(*ctx).streams.add(known.stream));
            return Ok((ffmpeg::format::context::Input::wrap(ctx), Some(*known)));
        }
        let r = ffi::avformat_find_stream_info(ctx, std::ptr::null_mut());
        if r < 0 {
            ffi::avformat_close_input(&mut ctx);
            return Err(anyhow!("cannot open: {}", ffmpeg::Error::from(r)));
        }
        Ok((ffmpeg::format::context::Input::wrap(ctx), None))
    }
}

/// The record of stream `index` of a probed `input`.
pub(crate) fn probed(input: &ffmpeg::format::context::Input, index: usize) -> StreamInfo {
    // SAFETY: the index names one of the context's streams, valid while `input` lives.
    unsafe { StreamInfo::capture(*(*input.as_ptr()).streams.add(index)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_out_of_range_values_are_refused() {
        let info = StreamInfo { stream: 2, codecpar: [27, 2, 340, 256, 0, 100, 30, 8, 1, 1, 1, 1], timing: [28, 1, 28, 1, 143360, 0] };
        let words = info.to_words();
        assert_eq!(StreamInfo::from_words(&words), Some(info));
        assert_eq!(StreamInfo::from_words(&words[..WORDS - 1]), None, "a short record");
        let mut bad = words;
        bad[12] = ffi::AVColorRange::AVCOL_RANGE_NB as i64;
        assert_eq!(StreamInfo::from_words(&bad), None, "no such colour range");
        bad = words;
        bad[11] = -1;
        assert_eq!(StreamInfo::from_words(&bad), None, "no such colour matrix");
        bad = words;
        bad[3] = i64::from(i32::MAX) + 1;
        assert_eq!(StreamInfo::from_words(&bad), None, "a width no int holds");
    }
}
