//! Re-encoding a video for fast random access (`vpipe resize-videos`, mmaction2's
//! `tools/data/resize_videos.py`): every decoded frame, rotated into its pixels and scaled,
//! encoded by libx264 (FFmpeg's libavcodec, through ffmpeg-next) into an MP4 with the source's
//! timestamps, so the output has the same frames, in the same order, at the same times.
//!
//! ```text
//! decode (every frame, presentation order) → [mpdecimate] → rotation → scale → yuv420p
//!   → libx264 (GOP, B-frames, CRF, preset) → mp4
//! ```
//! mmaction2 runs `ffmpeg -i V -vf scale=-2:S -c:v libx264 [-g 16] -an OUT`; that CLI makes the
//! output constant-rate (its mp4 muxer's `-vsync cfr`), dropping or repeating frames of variable-
//! rate sources. vpipe keeps every frame and its time instead, so `SampleFrames` picks the same
//! frames from the output as from the source.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;

use crate::decode::{decode_raw, DecodeOptions, RawStream};

/// How `resize-videos` encodes.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeOptions {
    /// Short side in pixels (the long side keeps the ratio, rounded to even: `scale=-2:S`);
    /// 0 keeps the size (rounded down to even, as libx264's 4:2:0 needs).
    pub scale: usize,
    /// Frames between keyframes (`-g`): mmaction2's `--dense` is 16, 1 makes every frame a
    /// keyframe; `None` is libx264's default (250).
    pub gop: Option<u32>,
    /// libx264's constant rate factor (`-crf`, default 23).
    pub crf: f32,
    /// libx264's preset (`-preset`, default `medium`).
    pub preset: String,
    /// Allow B-frames (libx264's default); false encodes without them (`-bf 0`).
    pub bframes: bool,
    /// Drop near-duplicate frames (`mpdecimate`, mmaction2's `--remove-dup`): the output then has
    /// fewer frames than the source.
    pub remove_dup: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { scale: 256, gop: None, crf: 23.0, preset: "medium".into(), bframes: true, remove_dup: false }
    }
}

/// `ffmpeg`'s `scale=-2:S` (or `S:-2`) for a `w`×`h` displayed picture: the short side becomes
/// `short`, the long side `round(short · long / short_in / 2) · 2` (libavfilter's
/// `ff_scale_adjust_dimensions`, `av_rescale` rounding); `short` 0 keeps the size, made even.
pub fn scaled_size(w: usize, h: usize, short: usize) -> (usize, usize) {
    if short == 0 {
        return ((w / 2 * 2).max(2), (h / 2 * 2).max(2));
    }
    let even = |num: usize, den: usize| -> usize { ((2 * num * short + den * 2) / (den * 4) * 2).max(2) };
    if w > h {
        (even(w, h), short)
    } else {
        (short, even(h, w))
    }
}

/// What one video's re-encoding did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Frames decoded from the source.
    pub frames_in: usize,
    /// Frames written to the output.
    pub frames_out: usize,
    /// The output's (width, height), pixels.
    pub size: (usize, usize),
}

/// The filter graph and encoder of one output, built at the first frame.
struct Writer {
    graph: ffmpeg::filter::Graph,
    encoder: ffmpeg::encoder::Video,
    output: ffmpeg::format::context::Output,
    time_base: ffmpeg::Rational,
    stream_time_base: ffmpeg::Rational,
    frames_out: usize,
    size: (usize, usize),
    last_pts: Option<i64>,
    /// One frame at the stream's average rate, in the encoder's time base (1 when unknown).
    frame_duration: i64,
}

impl Writer {
    fn open(dest: &Path, muxer: &str, first: &ffmpeg::frame::Video, s: &RawStream, o: &EncodeOptions) -> Result<Self> {
        let (cw, ch) = (first.width() as usize, first.height() as usize);
        let (dw, dh) = s.rotation.apply_to_size(cw, ch);
        let (w, h) = scaled_size(dw, dh, o.scale);
        let tb = if s.time_base.denominator() > 0 { s.time_base } else { ffmpeg::Rational::new(1, 90000) };
        let mut graph = ffmpeg::filter::Graph::new();
        let sar = first.aspect_ratio();
        let sar = if sar.numerator() > 0 { sar } else { ffmpeg::Rational::new(1, 1) };
        // SAFETY: a plain read of the frame's pixel format.
        let format = unsafe { (*first.as_ptr()).format };
        let args = format!(
            "video_size={cw}x{ch}:pix_fmt={format}:time_base={}/{}:pixel_aspect={}/{}",
            tb.numerator(),
            tb.denominator(),
            sar.numerator(),
            sar.denominator()
        );
        graph.add(&ffmpeg::filter::find("buffer").context("libavfilter has no buffer")?, "in", &args)?;
        graph.add(&ffmpeg::filter::find("buffersink").context("libavfilter has no buffersink")?, "out", "")?;
        let dedup = if o.remove_dup { "mpdecimate," } else { "" };
        // The CLI's default scaler for a `scale` filter: bicubic.
        let chain = format!("{dedup}{}scale=w={w}:h={h}:flags=bicubic,format=pix_fmts=yuv420p", s.rotation.filters());
        graph.output("in", 0)?.input("out", 0)?.parse(&chain).map_err(|e| anyhow!("filter graph '{chain}': {e}"))?;
        graph.validate().map_err(|e| anyhow!("filter graph '{chain}': {e}"))?;

        let mut output = ffmpeg::format::output_as(dest, muxer).with_context(|| format!("creating {}", dest.display()))?;
        let codec = ffmpeg::encoder::find_by_name("libx264").context("FFmpeg was built without libx264")?;
        let global_header = output.format().flags().contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let mut enc = ffmpeg::codec::context::Context::new_with_codec(codec).encoder().video()?;
        enc.set_width(w as u32);
        enc.set_height(h as u32);
        enc.set_format(ffmpeg::format::Pixel::YUV420P);
        enc.set_time_base(tb);
        enc.set_aspect_ratio(sar);
        if s.frame_rate.numerator() > 0 && s.frame_rate.denominator() > 0 {
            enc.set_frame_rate(Some(s.frame_rate));
        }
        if let Some(g) = o.gop {
            enc.set_gop(g);
        }
        if !o.bframes {
            enc.set_max_b_frames(0);
        }
        // Closed GOPs: a keyframe starts a run of frames that need nothing before it, which an
        // exact random-access reader relies on (x264 through this API opens them otherwise).
        let mut flags = ffmpeg::codec::Flags::CLOSED_GOP;
        if global_header {
            flags |= ffmpeg::codec::Flags::GLOBAL_HEADER;
        }
        enc.set_flags(flags);
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("preset", &o.preset);
        opts.set("crf", &format!("{}", o.crf));
        let encoder = enc.open_with(opts).map_err(|e| anyhow!("opening libx264 (preset {}, crf {}): {e}", o.preset, o.crf))?;
        let mut ost = output.add_stream(codec)?;
        ost.set_parameters(&encoder);
        ost.set_time_base(tb);
        // SAFETY: clear the codec tag so the mp4 muxer picks its own (avc1).
        unsafe { (*ost.parameters().as_mut_ptr()).codec_tag = 0 };
        output.write_header().with_context(|| format!("writing {}", dest.display()))?;
        let stream_time_base = output.stream(0).context("the output stream")?.time_base();
        let fr = s.frame_rate;
        let frame_duration = if fr.numerator() > 0 && fr.denominator() > 0 {
            crate::decode::retime::rescale(
                1,
                (fr.denominator() as i64, fr.numerator() as i64),
                (tb.numerator() as i64, tb.denominator() as i64),
            )
            .max(1)
        } else {
            1
        };
        Ok(Writer { graph, encoder, output, time_base: tb, stream_time_base, frames_out: 0, size: (w, h), last_pts: None, frame_duration })
    }

    /// Filters `frame` and encodes what comes out.
    fn push(&mut self, frame: Option<&mut ffmpeg::frame::Video>) -> Result<()> {
        // SAFETY: the filter contexts exist (added in open); av_buffersrc_add_frame moves the
        // frame's references into the graph (a null frame signals the end).
        let r = unsafe {
            let src = ffi::avfilter_graph_get_filter(self.graph.as_mut_ptr(), c"in".as_ptr());
            ffi::av_buffersrc_add_frame(src, frame.map_or(std::ptr::null_mut(), |f| f.as_mut_ptr()))
        };
        if r < 0 {
            bail!("filtering: {}", ffmpeg::Error::from(r));
        }
        let mut filtered = ffmpeg::frame::Video::empty();
        loop {
            // SAFETY: as above; the sink fills `filtered`.
            let r = unsafe {
                let sink = ffi::avfilter_graph_get_filter(self.graph.as_mut_ptr(), c"out".as_ptr());
                ffi::av_buffersink_get_frame(sink, filtered.as_mut_ptr())
            };
            if r == ffi::AVERROR(ffi::EAGAIN) || r == ffi::AVERROR_EOF {
                return Ok(());
            }
            if r < 0 {
                bail!("filtering: {}", ffmpeg::Error::from(r));
            }
            // Timestamps go through; a frame without one follows the last.
            let pts = filtered.pts().or(self.last_pts.map(|p| p + 1)).unwrap_or(0);
            let pts = self.last_pts.map_or(pts, |last| pts.max(last + 1));
            self.last_pts = Some(pts);
            filtered.set_pts(Some(pts));
            filtered.set_kind(ffmpeg::picture::Type::None);
            self.encoder.send_frame(&filtered).map_err(|e| anyhow!("libx264: {e}"))?;
            self.frames_out += 1;
            self.drain()?;
        }
    }

    /// Writes the packets the encoder has ready.
    fn drain(&mut self) -> Result<()> {
        let mut packet = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            if packet.duration() <= 0 {
                // libx264 leaves durations at 0; the mp4 muxer would then cut the last frame
                // off its edit list (a discarded sample). One nominal frame each.
                packet.set_duration(self.frame_duration);
            }
            packet.rescale_ts(self.time_base, self.stream_time_base);
            packet.write_interleaved(&mut self.output).map_err(|e| anyhow!("writing a packet: {e}"))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(usize, (usize, usize))> {
        self.push(None)?;
        self.encoder.send_eof().map_err(|e| anyhow!("libx264: {e}"))?;
        self.drain()?;
        self.output.write_trailer().map_err(|e| anyhow!("finishing the mp4: {e}"))?;
        Ok((self.frames_out, self.size))
    }
}

/// Re-encodes `src` into `dest`, a file of FFmpeg's container `muxer` (`mp4`, `mov`,
/// `matroska`, `avi`), as `o` says. Audio and other streams are dropped.
///
/// # Errors
/// The source does not decode (the message says where), libx264 cannot be opened, or `dest`
/// cannot be written.
pub fn encode_video(src: &Path, dest: &Path, muxer: &str, o: &EncodeOptions) -> Result<Encoded> {
    let mut writer: Option<Writer> = None;
    let frames_in = decode_raw(src, &DecodeOptions::default(), |f, s| {
        if writer.is_none() {
            writer = Some(Writer::open(dest, muxer, f, s, o)?);
        }
        writer.as_mut().expect("opened above").push(Some(f))
    })
    .context("decode")?;
    let (frames_out, size) = writer.context("no frame decoded")?.finish()?;
    Ok(Encoded { frames_in, frames_out, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_side_scaling_is_ffmpegs_minus_two() {
        assert_eq!(scaled_size(340, 256, 256), (340, 256));
        assert_eq!(scaled_size(320, 240, 256), (342, 256)); // 341.33 → 171·2
        assert_eq!(scaled_size(568, 320, 128), (228, 128)); // 227.2 → 114·2
        assert_eq!(scaled_size(240, 426, 256), (256, 454)); // 454.4 → 227·2
        assert_eq!(scaled_size(1, 1, 256), (256, 256));
        assert_eq!(scaled_size(561, 241, 0), (560, 240));
    }
}
