//! Decoded picture → packed RGB24, exactly as the FFmpeg CLI does it.
//!
//! `ffmpeg -i V -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -` builds a libavfilter graph
//! `buffer → [transpose | hflip,vflip] → format=rgb24 → buffersink` and lets libavfilter insert a
//! `scale` filter with `flags=bicubic` (FFmpeg 5.1 `fftools/ffmpeg_filter.c`). That scale filter
//! reads each frame's colour matrix (`colorspace`: BT.601, BT.709, BT.2020, SMPTE 240M, FCC) and
//! range (`color_range`: limited `tv` / full `pc`, also for > 8-bit formats), and the rotation filters
//! see the YUV planes before conversion. [`Converter`] builds the same graph, so its output is
//! pixel-equal to the CLI's for every pixel format, matrix, range and rotation.
//!
//! [`ColorConvention::Bt601`] instead reproduces a bare `sws_getContext` conversion (BT.601
//! matrix always; full range only for the `yuvj*` pixel formats): what a loader that ignores the
//! stream's colour tags gives. Use it to feed checkpoints trained on such frames. (Measured here,
//! PyAV 18, decord 0.6 and OpenCV 5 honour BT.709 on 8-bit input but not on 10-bit BT.2020; see
//! docs/decoding.md.)

use std::ffi::CString;

use anyhow::{anyhow, bail, Result};
use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;

use super::Frame;

/// How YUV is turned into RGB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ColorConvention {
    /// The stream's own colour matrix and range, as the FFmpeg CLI and torchcodec ≥ 0.11 convert.
    #[default]
    Ffmpeg,
    /// BT.601 coefficients whatever the stream says; full range only for `yuvj*` formats (a bare
    /// `sws_getContext`, as loaders that ignore the colour tags convert).
    Bt601,
}

/// A display rotation the FFmpeg 5.1 CLI applies (`-autorotate`, its default): the display
/// matrix's angle rounded to a multiple of 90° (`cmdutils.c` `get_rotation`). Other angles and
/// flips are not applied by FFmpeg 5.1 either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// No rotation.
    None,
    /// Rotate 90° clockwise (`transpose=clock`); width and height swap.
    Clockwise,
    /// Rotate 180° (`hflip,vflip`).
    Half,
    /// Rotate 90° counter-clockwise (`transpose=cclock`); width and height swap.
    CounterClockwise,
}

impl Rotation {
    /// From `av_display_rotation_get`'s angle in degrees (counter-clockwise), as the CLI rounds it:
    /// θ = −round(angle) mod 360, then 90 → clockwise, 180 → half turn, 270 → counter-clockwise.
    pub fn from_display_angle(angle: f64) -> Self {
        if !angle.is_finite() {
            return Rotation::None;
        }
        let mut theta = -angle.round();
        theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
        match theta {
            t if (t - 90.0).abs() < 1.0 => Rotation::Clockwise,
            t if (t - 180.0).abs() < 1.0 => Rotation::Half,
            t if (t - 270.0).abs() < 1.0 => Rotation::CounterClockwise,
            _ => Rotation::None,
        }
    }

    /// Degrees clockwise (0, 90, 180, 270).
    pub fn degrees(self) -> u32 {
        match self {
            Rotation::None => 0,
            Rotation::Clockwise => 90,
            Rotation::Half => 180,
            Rotation::CounterClockwise => 270,
        }
    }

    /// The displayed size of a `width`×`height` coded picture.
    pub fn apply_to_size(self, width: usize, height: usize) -> (usize, usize) {
        match self {
            Rotation::Clockwise | Rotation::CounterClockwise => (height, width),
            _ => (width, height),
        }
    }

    pub(crate) fn filters(self) -> &'static str {
        match self {
            Rotation::None => "",
            Rotation::Clockwise => "transpose=clock,",
            Rotation::Half => "hflip,vflip,",
            Rotation::CounterClockwise => "transpose=cclock,",
        }
    }
}

/// What a graph was built for: the converter's settings and the input frames' properties that
/// the filters read when they are configured or keep as state (the `scale` filter keeps the
/// last colour range a frame specified). A frame that differs needs another graph. The time
/// base the source was given is left out: it only labels the pts, which nothing here reads.
#[derive(Clone, Copy, PartialEq, Eq)]
struct GraphKey {
    format: i32,
    width: i32,
    height: i32,
    sample_aspect: (i32, i32),
    color_range: i32,
    color_space: i32,
    rotation: Rotation,
    convention: ColorConvention,
    scale_to: Option<(usize, usize, &'static str)>,
    threads: usize,
}

/// Most graphs a thread keeps for the next video ([`SPARE_GRAPHS`]).
const SPARE_GRAPHS_PER_THREAD: usize = 2;

/// Largest picture (pixels) whose graph is kept for the next video: above it, building a graph
/// costs well under 1% of a clip, while the RGB buffers an idle graph's pool holds grow with it.
const SPARE_GRAPH_MAX_PIXELS: i64 = 1280 * 720;

thread_local! {
    /// Graphs of converters dropped on this thread, for the next video of the same kind: a graph
    /// costs about as much to build (format negotiation, swscale's filter tables) as converting
    /// a few frames, and a loader opens one video per sample. A graph is idle between calls
    /// (one frame in, one out) and a reused one converts as a new one would, since its key
    /// holds everything its filters read or keep.
    static SPARE_GRAPHS: std::cell::RefCell<Vec<(GraphKey, ffmpeg::filter::Graph)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Hands a graph to this thread's spares (pictures up to [`SPARE_GRAPH_MAX_PIXELS`]), dropping
/// the oldest beyond [`SPARE_GRAPHS_PER_THREAD`].
fn put_spare(entry: (GraphKey, ffmpeg::filter::Graph)) {
    if i64::from(entry.0.width) * i64::from(entry.0.height) > SPARE_GRAPH_MAX_PIXELS {
        return;
    }
    // During thread exit the spares may be gone already: the graph is then simply freed.
    let _ = SPARE_GRAPHS.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        spares.push(entry);
        if spares.len() > SPARE_GRAPHS_PER_THREAD {
            spares.remove(0);
        }
    });
}

/// A spare graph built for `key`, if this thread has one.
fn take_spare(key: &GraphKey) -> Option<ffmpeg::filter::Graph> {
    SPARE_GRAPHS
        .try_with(|spares| {
            let mut spares = spares.borrow_mut();
            let i = spares.iter().rposition(|(k, _)| k == key)?;
            Some(spares.remove(i).1)
        })
        .ok()
        .flatten()
}

/// Converts decoded frames to RGB24 through one libavfilter graph per input format, built on
/// first use and reused (its frame pool recycles the RGB buffers), and handed on to the next
/// converter of the same thread when this one is dropped.
pub(crate) struct Converter {
    rotation: Rotation,
    convention: ColorConvention,
    /// Output size and swscale filter when the pipeline resizes in the decoder.
    scale_to: Option<(usize, usize, &'static str)>,
    /// The graph's threads (libavfilter's `nb_threads`, which `scale` hands on to swscale).
    threads: usize,
    graph: Option<(GraphKey, ffmpeg::filter::Graph)>,
    out: ffmpeg::frame::Video,
}

impl Drop for Converter {
    fn drop(&mut self) {
        if let Some(entry) = self.graph.take() {
            put_spare(entry);
        }
    }
}

impl Converter {
    /// A converter whose graph runs on `threads` threads: the reader's decoder thread count
    /// ([`super::DecodeOptions::threads`]; 0 leaves the count to libavfilter). Left to
    /// libavfilter's default, every graph would start a pool of one thread per core plus one,
    /// and `scale` another in swscale, and split each frame across them, even in a loader whose
    /// workers already keep every core busy with one video each.
    pub(crate) fn new(rotation: Rotation, convention: ColorConvention, threads: usize) -> Self {
        Converter { rotation, convention, scale_to: None, threads, graph: None, out: ffmpeg::frame::Video::empty() }
    }

    /// Converts to `width`×`height` pixels in the same swscale call, with swscale's `flags`
    /// (`bilinear`, `bicubic`, `neighbor`): the CLI's `-vf scale=W:H:flags=F -pix_fmt rgb24`.
    pub(crate) fn scale_to(&mut self, width: usize, height: usize, flags: &'static str) {
        self.scale_to = Some((width, height, flags));
    }

    /// The filter chain after the source, in libavfilter's syntax.
    fn chain(&self, format: i32) -> String {
        let mut chain = self.rotation.filters().to_string();
        let mut scale = Vec::new();
        if let Some((w, h, flags)) = self.scale_to {
            scale.push(format!("w={w}:h={h}:flags={flags}"));
        }
        if self.convention == ColorConvention::Bt601 {
            // A bare sws_getContext: BT.601, range from the pixel format alone.
            let name = pix_fmt_name(format);
            let full = name.starts_with("yuvj");
            scale.push("in_color_matrix=bt601".to_string());
            scale.push(format!("in_range={}", if full { "pc" } else { "tv" }));
        }
        if !scale.is_empty() {
            chain.push_str(&format!("scale={},", scale.join(":")));
        }
        chain.push_str("format=pix_fmts=rgb24");
        chain
    }

    fn build(&self, key: GraphKey, time_base: ffmpeg::Rational, sar: ffmpeg::Rational) -> Result<ffmpeg::filter::Graph> {
        let mut graph = ffmpeg::filter::Graph::new();
        // SAFETY: a valid graph with no filters yet: libavfilter reads nb_threads when the first
        // filter is added, to start (or not) its thread pool.
        unsafe { (*graph.as_mut_ptr()).nb_threads = key.threads as i32 };
        let sar = if sar.numerator() > 0 && sar.denominator() > 0 { sar } else { ffmpeg::Rational::new(1, 1) };
        let tb = if time_base.denominator() > 0 { time_base } else { ffmpeg::Rational::new(1, 1) };
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            key.width,
            key.height,
            key.format,
            tb.numerator(),
            tb.denominator(),
            sar.numerator(),
            sar.denominator()
        );
        let buffer = ffmpeg::filter::find("buffer").ok_or_else(|| anyhow!("libavfilter has no buffer source"))?;
        let sink = ffmpeg::filter::find("buffersink").ok_or_else(|| anyhow!("libavfilter has no buffersink"))?;
        graph.add(&buffer, "in", &args).map_err(|e| anyhow!("colour conversion graph source ({args}): {e}"))?;
        graph.add(&sink, "out", "").map_err(|e| anyhow!("colour conversion graph sink: {e}"))?;
        // The CLI's scaler flags for auto-inserted scale filters (ffmpeg_filter.c: sws_flags=bicubic).
        let opts = CString::new("flags=bicubic").expect("no NUL");
        // SAFETY: the graph pointer is valid; av_strdup'd memory is freed by avfilter_graph_free.
        unsafe { (*graph.as_mut_ptr()).scale_sws_opts = ffi::av_strdup(opts.as_ptr()) };
        let chain = self.chain(key.format);
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(&chain))
            .map_err(|e| anyhow!("colour conversion graph '{chain}': {e}"))?;
        graph.validate().map_err(|e| anyhow!("colour conversion graph '{chain}': {e}"))?;
        Ok(graph)
    }

    /// Converts `frame` (consumed: its references move into the graph) into `dst` as packed
    /// RGB24 of the displayed size, reusing `dst`'s allocation.
    ///
    /// # Errors
    /// An empty picture, a graph libavfilter cannot build for this format, or a failed conversion.
    pub(crate) fn convert_into(&mut self, frame: &mut ffmpeg::frame::Video, time_base: ffmpeg::Rational, dst: &mut Frame) -> Result<()> {
        // SAFETY: frame.as_ptr() is a valid AVFrame owned by `frame`.
        let key = unsafe {
            let f = &*frame.as_ptr();
            GraphKey {
                format: f.format,
                width: f.width,
                height: f.height,
                sample_aspect: (f.sample_aspect_ratio.num, f.sample_aspect_ratio.den),
                color_range: f.color_range as i32,
                color_space: f.colorspace as i32,
                rotation: self.rotation,
                convention: self.convention,
                scale_to: self.scale_to,
                threads: self.threads,
            }
        };
        if key.width <= 0 || key.height <= 0 {
            bail!("decoder produced an empty {}x{} picture", key.width, key.height);
        }
        if !matches!(&self.graph, Some((k, _)) if *k == key) {
            if let Some(old) = self.graph.take() {
                put_spare(old);
            }
            let graph = match take_spare(&key) {
                Some(graph) => graph,
                None => self.build(key, time_base, frame.aspect_ratio())?,
            };
            self.graph = Some((key, graph));
        }
        let result = self.run_graph(frame, dst);
        if result.is_err() {
            self.graph = None; // in an unknown state: never handed on
        }
        result
    }

    /// Sends `frame` through the current graph and copies the picture out into `dst`.
    fn run_graph(&mut self, frame: &mut ffmpeg::frame::Video, dst: &mut Frame) -> Result<()> {
        let graph = &mut self.graph.as_mut().expect("graph chosen by convert_into").1;
        // SAFETY: both filter contexts exist (added in build); av_buffersrc_add_frame moves the
        // frame's references into the graph and resets `frame`, which the decoder refills.
        let r = unsafe {
            let src = ffi::avfilter_graph_get_filter(graph.as_mut_ptr(), c"in".as_ptr());
            ffi::av_buffersrc_add_frame(src, frame.as_mut_ptr())
        };
        if r < 0 {
            bail!("colour conversion: {}", ffmpeg::Error::from(r));
        }
        let r = unsafe {
            let sink = ffi::avfilter_graph_get_filter(graph.as_mut_ptr(), c"out".as_ptr());
            ffi::av_frame_unref(self.out.as_mut_ptr());
            ffi::av_buffersink_get_frame(sink, self.out.as_mut_ptr())
        };
        if r < 0 {
            bail!("colour conversion produced no picture: {}", ffmpeg::Error::from(r));
        }
        let (w, h, stride) = (self.out.width() as usize, self.out.height() as usize, self.out.stride(0));
        let src = self.out.data(0);
        dst.width = w;
        dst.height = h;
        dst.channels = 3;
        if dst.data.capacity() < w * h * 3 {
            crate::frame::recycle(std::mem::replace(&mut dst.data, crate::frame::buffer(w * h * 3)));
        }
        dst.data.clear();
        for row in 0..h {
            dst.data.extend_from_slice(&src[row * stride..row * stride + w * 3]);
        }
        Ok(())
    }

    /// Converts `frame` into a new packed RGB24 [`Frame`] (displayed geometry).
    ///
    /// # Errors
    /// As [`Converter::convert_into`].
    pub(crate) fn convert(&mut self, frame: &mut ffmpeg::frame::Video, time_base: ffmpeg::Rational) -> Result<Frame> {
        let mut out = Frame::empty();
        self.convert_into(frame, time_base, &mut out)?;
        Ok(out)
    }
}

/// FFmpeg's name of a pixel format number (`yuv420p`, `yuvj420p`, `yuv420p10le` …), or `""`.
///
pub(crate) fn pix_fmt_name(format: i32) -> String {
    if format < 0 || format >= ffi::AVPixelFormat::AV_PIX_FMT_NB as i32 {
        return String::new();
    }
    // SAFETY: `format` is inside AVPixelFormat's range (checked above); av_get_pix_fmt_name
    // returns a static string or null.
    let p = unsafe { ffi::av_get_pix_fmt_name(std::mem::transmute::<i32, ffi::AVPixelFormat>(format)) };
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_angles_round_as_the_cli_does() {
        // av_display_rotation_get gives −90 for a phone clip shot in portrait: the CLI turns it clockwise.
        assert_eq!(Rotation::from_display_angle(-90.0), Rotation::Clockwise);
        assert_eq!(Rotation::from_display_angle(90.0), Rotation::CounterClockwise);
        assert_eq!(Rotation::from_display_angle(180.0), Rotation::Half);
        assert_eq!(Rotation::from_display_angle(-180.0), Rotation::Half);
        assert_eq!(Rotation::from_display_angle(0.0), Rotation::None);
        assert_eq!(Rotation::from_display_angle(-89.6), Rotation::Clockwise);
        assert_eq!(Rotation::from_display_angle(45.0), Rotation::None);
        assert_eq!(Rotation::from_display_angle(f64::NAN), Rotation::None);
        assert_eq!(Rotation::Clockwise.apply_to_size(568, 320), (320, 568));
        assert_eq!(Rotation::Half.apply_to_size(568, 320), (568, 320));
    }

    /// A loader runs one single-threaded reader per core; its conversions must not start thread
    /// pools of their own (libavfilter's default: one thread per core plus one per graph, and
    /// as many again in swscale) that compete with the other workers' decoding. With the
    /// library's default this fails on any machine with more than one core.
    #[test]
    fn a_graph_runs_on_the_readers_thread_count() {
        ffmpeg::init().unwrap();
        // SAFETY: a plain query of the CPUs this process may run on.
        let cores = unsafe { ffi::av_cpu_count() };
        for threads in [1usize, 0] {
            let mut converter = Converter::new(Rotation::None, ColorConvention::Ffmpeg, threads);
            let mut picture = ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUV420P, 64, 48);
            for plane in 0..3 {
                picture.data_mut(plane).fill(128);
            }
            let mut rgb = Frame::empty();
            converter.convert_into(&mut picture, ffmpeg::Rational::new(1, 25), &mut rgb).unwrap();
            assert_eq!((rgb.width, rgb.height, rgb.data.len()), (64, 48, 64 * 48 * 3));
            let graph = &mut converter.graph.as_mut().unwrap().1;
            // SAFETY: the converter's configured graph, read only.
            let pool = unsafe { (*graph.as_mut_ptr()).nb_threads };
            if threads == 1 {
                assert_eq!(pool, 1, "a one-thread reader's conversion runs on its own thread");
            } else if cores > 1 {
                assert!(pool > 1, "threads 0 leaves the count to libavfilter: {pool} on {cores} cores");
            }
        }
    }
}
