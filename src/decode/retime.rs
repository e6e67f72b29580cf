//! The FFmpeg CLI's frame-rate conversion and cut, as AVA's preparation runs it
//! (`ffmpeg -ss 900 -t 901 -i V …` then `ffmpeg -i CUT -r 30 -q:v 1 <vid>_%06d.jpg`; semantics
//! §12): which decoded frame each output frame is, so that `vpipe extract-frames --fps 30
//! --start 900 --duration 901` writes the frames the CLI writes, in one pass.
//!
//! FFmpeg 5.1's `fftools/ffmpeg.c`: packets are shifted by the input's `ts_offset` (−(`-ss` +
//! the container's start time)); `-ss`/`-t` become a `trim` filter in the stream's time base
//! (frames before 0 dropped; the end once `pts − first_pts ≥ -t`); `-r` with an image muxer is
//! `-vsync cfr`, done by `do_video_out`: each frame's time in output frames (`sync_ipts`, at
//! 16 extra bits of precision plus 2⁻¹⁷) against the next output slot decides whether it is
//! dropped, written once, or written several times (with copies of the frame before it for a
//! gap), and at the end the last frame is repeated by the median of the last three such counts.

/// A rational number `num / den`.
pub type Rational = (i64, i64);

/// `av_rescale_q(a, b, c)`: `a · b / c` rounded to nearest, halves away from zero.
pub fn rescale(a: i64, b: Rational, c: Rational) -> i64 {
    let (n, d) = (a as i128 * b.0 as i128 * c.1 as i128, b.1 as i128 * c.0 as i128);
    let r = (2 * n.abs() + d.abs()) / (2 * d.abs());
    (if (n < 0) != (d < 0) { -r } else { r }) as i64
}

/// What to keep of a video, in the CLI's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Retime {
    /// `-r`: output frames per second (a constant rate, frames dropped or repeated).
    pub fps: Option<Rational>,
    /// `-ss` (input): seconds to skip.
    pub start: Option<f64>,
    /// `-t` (input): seconds to keep.
    pub duration: Option<f64>,
}

impl Retime {
    /// Whether it changes anything (every decoded frame written once otherwise).
    pub fn is_some(&self) -> bool {
        self.fps.is_some() || self.start.is_some() || self.duration.is_some()
    }
}

/// The stream facts the CLI's choice depends on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StreamClock {
    /// The stream's time base.
    pub time_base: Rational,
    /// The container's start time, microseconds (`AVFormatContext.start_time`; 0 when unknown).
    pub start_us: i64,
    /// The stream's frame rate as libavformat guesses it (`av_guess_frame_rate`).
    pub frame_rate: Rational,
}

/// One decoded frame's timing, stream time base: its `best_effort_timestamp` and its packet's
/// duration (`pkt_duration`, 0 when unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTime {
    /// Presentation time.
    pub pts: i64,
    /// Duration.
    pub duration: i64,
}

/// What to write for one decoded frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Emit {
    /// Copies of the decoded frame before this one, first.
    pub previous: usize,
    /// Then copies of this frame.
    pub this: usize,
    /// The cut ends here: decode no further (this frame is not kept).
    pub stop: bool,
}

/// The CLI's frame choice, fed the decoded frames in presentation order.
#[derive(Clone, Debug)]
pub struct Retimer {
    retime: Retime,
    clock: StreamClock,
    /// `ts_offset` in the stream's time base.
    offset: i64,
    /// `-t` in the stream's time base.
    duration_tb: Option<i64>,
    first_pts: Option<i64>,
    /// The next output slot (`ost->sync_opts`).
    sync_opts: i64,
    last_nb0: [i64; 3],
    /// Whether a frame has passed the cut (`ost->last_frame` holds one).
    has_last: bool,
}

impl Retimer {
    /// A retimer for a stream with `clock`.
    pub fn new(retime: Retime, clock: StreamClock) -> Self {
        let us: Rational = (1, 1_000_000);
        let ss_us = retime.start.map_or(0, |s| (s * 1e6).round() as i64);
        let offset = rescale(-(ss_us + clock.start_us), us, clock.time_base);
        let duration_tb = retime.duration.map(|d| rescale((d * 1e6).round() as i64, us, clock.time_base));
        Retimer { retime, clock, offset, duration_tb, first_pts: None, sync_opts: 0, last_nb0: [0; 3], has_last: false }
    }

    /// The frames to write for the next decoded frame `t`.
    pub fn push(&mut self, t: FrameTime) -> Emit {
        let pts = t.pts + self.offset;
        // The trim filter: -ss drops what comes before it, -t ends the cut.
        if self.retime.start.is_some() && pts < 0 {
            return Emit::default();
        }
        let first = *self.first_pts.get_or_insert(pts);
        if self.duration_tb.is_some_and(|d| pts - first >= d) {
            return Emit { stop: true, ..Emit::default() };
        }
        let Some(fps) = self.retime.fps else {
            self.has_last = true;
            return Emit { this: 1, ..Emit::default() };
        };
        let (nb0, nb) = self.cfr(pts, t.duration, fps);
        // With no frame before, the CLI writes this one in the gap's place too.
        let previous = if self.has_last { nb0 } else { 0 };
        self.has_last = true;
        Emit { previous, this: nb - previous, stop: false }
    }

    /// Copies of the last frame to write at the end of the stream (`do_video_out(…, NULL)`).
    pub fn finish(&mut self) -> usize {
        if self.retime.fps.is_none() || !self.has_last {
            return 0;
        }
        let mut v = self.last_nb0;
        v.sort_unstable();
        v[1].max(0) as usize
    }

    /// `do_video_out` with `-vsync cfr` for a frame at `pts` (after the offset) lasting
    /// `pkt_duration`: (copies of the previous frame, copies in all).
    fn cfr(&mut self, pts: i64, pkt_duration: i64, fps: Rational) -> (usize, usize) {
        let tb = self.clock.time_base;
        let enc_tb: Rational = (fps.1, fps.0);
        // adjust_frame_pts_to_encoder_tb: 16 extra bits, nudged off exact midpoints.
        let extra = (29 - (enc_tb.1.max(1) as f64).log2().floor() as i64).clamp(0, 16);
        let fine = rescale(pts, tb, (enc_tb.0, enc_tb.1 << extra)) as f64 / (1i64 << extra) as f64;
        // FFSIGN: −1 for 0 too.
        let sync_ipts = fine + if fine > 0.0 { 1.0 } else { -1.0 } / (1 << 17) as f64;
        let q = |r: Rational| r.0 as f64 / r.1 as f64;
        // The frame's duration in output frames: the guessed rate's, at most 1, or the packet's.
        let mut duration = (1.0 / (q(self.clock.frame_rate) * q(enc_tb))).min(1.0 / (q(fps) * q(enc_tb)));
        let from_packet = (pkt_duration as f64 * q(tb) / q(enc_tb)).round_ties_even();
        if from_packet > 0.0 {
            duration = from_packet;
        }
        let mut delta0 = sync_ipts - self.sync_opts as f64;
        let delta = delta0 + duration;
        if delta0 < 0.0 && delta > 0.0 {
            delta0 = 0.0;
        }
        let (mut nb0, mut nb) = (0i64, 1i64);
        if delta < -1.1 {
            nb = 0;
        } else if delta > 1.1 {
            nb = delta.round_ties_even() as i64;
            if delta0 > 1.1 {
                nb0 = (delta0 - 0.6).round_ties_even() as i64;
            }
        }
        nb0 = nb0.min(nb);
        self.last_nb0 = [nb0, self.last_nb0[0], self.last_nb0[1]];
        self.sync_opts += nb;
        (nb0.max(0) as usize, nb.max(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_halves_away_from_zero() {
        assert_eq!(rescale(1, (1, 2), (1, 1)), 1);
        assert_eq!(rescale(-1, (1, 2), (1, 1)), -1);
        assert_eq!(rescale(900_000_000, (1, 1_000_000), (1, 15360)), 900 * 15360);
    }

    #[test]
    fn a_28_fps_stream_at_30_repeats_one_frame_in_fourteen() {
        let clock = StreamClock { time_base: (1, 14336), start_us: 0, frame_rate: (28, 1) };
        let mut r = Retimer::new(Retime { fps: Some((30, 1)), ..Retime::default() }, clock);
        let mut out = Vec::new();
        for i in 0..28 {
            let e = r.push(FrameTime { pts: i * 512, duration: 512 });
            out.extend(std::iter::repeat_n(i - 1, e.previous).chain(std::iter::repeat_n(i, e.this)));
        }
        // What `ffmpeg -i demo.mp4 -r 30 %06d.ppm` writes for the first second of the 28-fps demo.
        assert_eq!(&out[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 7, 8]);
        assert_eq!(out.len(), 30);
    }
}
