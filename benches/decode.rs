//! vpipe's side of `scripts/bench_peers.sh`: times one decode task on one clip, in-process,
//! including opening the file, and prints one JSON line (median of `--reps` runs, milliseconds,
//! plus frames decoded and kept). The peers' side is `scripts/bench_peers.py`, with the same
//! tasks and indices:
//! - `tsm8`: open + mmaction2 0.x `SampleFrames(clip_len=1, num_clips=8, test_mode=True)` indices
//!   (segment centres);
//! - `dense32x2`: open + 32 frames at stride 2 from the middle of the video (indices mod n);
//! - `full`: every frame, one at a time (one reused RGB buffer), by vpipe's full-decode path
//!   [`decode_all`] (`vpipe extract-frames`): open, no packet index or frame count, one decode pass;
//! - `open`: the open alone (probe, packet index or count), the part of the others that is per file;
//! - `avcodec`: on a `--subset` file, libavcodec alone decoding every packet of it, read into
//!   memory beforehand (decoder open, `send_packet`/`receive_frame`, one thread; no demuxing,
//!   probing or colour conversion): the least any FFmpeg-based loader, vpipe and every peer,
//!   can spend on those frames.
//!
//! Run: `cargo bench --bench decode -- --task tsm8 --clip V [--reps 5] [--dump OUT.rgb] [--subset OUT.mkv]`;
//! `--dump` writes the task's frames as raw RGB24 for the frame check. `--subset` writes the
//! packets one run of the task decoded (opening included: all of them where the count is taken
//! by decoding), stream-copied in file order into a new file (Matroska, or AVI for `.avi`: streams
//! without pts), so that `scripts/bench_peers.sh` can time the FFmpeg CLI decoding exactly that
//! work: the floor of the task.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Instant;

use ffmpeg::packet::Mut as _;
use ffmpeg_next as ffmpeg;
use vpipe::decode::{decode_all, DecodeOptions, FrameCount, VideoReader};

/// mmaction2 0.x SampleFrames test mode, clip_len 1: int(avg * k + avg / 2) with avg = n / 8.
fn tsm8(n: usize) -> Vec<usize> {
    let avg = n as f64 / 8.0;
    (0..8).map(|k| ((avg * k as f64 + avg / 2.0) as usize).min(n - 1)).collect()
}

fn dense32x2(n: usize) -> Vec<usize> {
    let start = n.saturating_sub(64) / 2;
    (0..32).map(|k| (start + 2 * k) % n).collect()
}

/// The indices of a fetching task (`tsm8` or `dense32x2`) in a video of `n` frames.
fn indices(task: &str, n: usize) -> Vec<usize> {
    match task {
        "tsm8" => tsm8(n),
        "dense32x2" => dense32x2(n),
        _ => panic!("--task {task}: tsm8, dense32x2, full, open or avcodec"),
    }
}

fn run(task: &str, clip: &str, dump: Option<&mut Vec<u8>>) -> (f64, u64, u64) {
    let t = Instant::now();
    let mut checksum = 0u64;
    let (decoded, kept) = if task == "full" {
        let n = decode_all(clip.as_ref(), &DecodeOptions::default(), |_, f| {
            checksum = checksum.wrapping_add(f.data[f.data.len() / 2] as u64);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{clip}: {e:#}")) as u64;
        (n, n)
    } else {
        let mut r = VideoReader::open(clip).unwrap_or_else(|e| panic!("{clip}: {e:#}"));
        let n = r.info().num_frames;
        if task == "open" {
            checksum = n as u64;
        } else {
            let idx = indices(task, n);
            let frames = r.frames(&idx).unwrap_or_else(|e| panic!("{clip}: {e:#}"));
            if let Some(out) = dump {
                frames.iter().for_each(|f| out.extend_from_slice(&f.data));
            }
            checksum = frames.iter().map(|f| f.data[f.data.len() / 2] as u64).sum();
        }
        (r.stats().frames_decoded, r.stats().frames_kept)
    };
    std::hint::black_box(checksum);
    (t.elapsed().as_secs_f64() * 1e3, decoded, kept)
}

/// The positions of the packets one run of `task` decodes, and the stream they belong to.
fn decoded_packets(task: &str, clip: &str) -> (usize, BTreeSet<i64>) {
    let mut r = VideoReader::open(clip).unwrap_or_else(|e| panic!("{clip}: {e:#}"));
    let n = r.info().num_frames;
    r.trace_decoded_packets();
    r.frames(&indices(task, n)).unwrap_or_else(|e| panic!("{clip}: {e:#}"));
    let stream = r.info().stream_index;
    if r.info().frame_count == FrameCount::Decoded {
        return (stream, BTreeSet::new()); // opening decoded every packet: the subset is the stream
    }
    (stream, r.decoded_packets().into_iter().collect())
}

/// Stream-copies the packets of `stream` at `positions` (all of them when empty) from `clip`
/// into `out`, in file order.
///
/// MPEG-4 Part 2 streams go through FFmpeg's `mpeg4_unpack_bframes` first. In a DivX/Xvid
/// packed bitstream a P packet also carries the next B-VOP, which the decoder holds and decodes
/// on the following call (the N-VOP placeholder's); the traced positions are those of the calls
/// that produced frames, so they select the right VOPs only once each packet holds one. Copied
/// packed, the subset's decoder decodes held B-VOPs vpipe skipped and loses others (52 frames
/// against vpipe's 71 on `mmaction2/test.avi`, dense32x2).
fn write_subset(clip: &str, stream: usize, positions: &BTreeSet<i64>, out: &str) -> Result<usize, ffmpeg::Error> {
    ffmpeg::init()?;
    let mut input = ffmpeg::format::input(&clip)?;
    let mut output = ffmpeg::format::output(&out)?;
    let in_stream = input.stream(stream).ok_or(ffmpeg::Error::StreamNotFound)?;
    let (in_tb, params) = (in_stream.time_base(), in_stream.parameters());
    let mut unpack = (params.id() == ffmpeg::codec::Id::MPEG4).then(|| Unpacker::new(&params, in_tb)).transpose()?;
    {
        let mut s = output.add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))?;
        s.set_parameters(params);
        // SAFETY: the new stream's codecpar is valid; a tag of the source container may not fit this one.
        unsafe { (*s.parameters().as_mut_ptr()).codec_tag = 0 };
    }
    output.write_header()?;
    let out_tb = output.stream(0).expect("added above").time_base();
    let mut written = 0;
    let mut keep = |mut packet: ffmpeg::Packet, output: &mut ffmpeg::format::context::Output| {
        if !(positions.is_empty() || positions.contains(&(packet.position() as i64))) {
            return Ok(());
        }
        packet.rescale_ts(in_tb, out_tb);
        packet.set_position(-1);
        packet.set_stream(0);
        written += 1;
        packet.write(output).map(|_| ())
    };
    for (s, packet) in input.packets() {
        if s.index() != stream {
            continue;
        }
        match &mut unpack {
            Some(u) => u.filter(packet, |p| keep(p, &mut output))?,
            None => keep(packet, &mut output)?,
        }
    }
    output.write_trailer()?;
    Ok(written)
}

/// FFmpeg's `mpeg4_unpack_bframes` bitstream filter: one VOP per packet, positions kept.
struct Unpacker(*mut ffmpeg::ffi::AVBSFContext);

impl Unpacker {
    fn new(params: &ffmpeg::codec::Parameters, time_base: ffmpeg::Rational) -> Result<Self, ffmpeg::Error> {
        // SAFETY: plain libavcodec BSF set-up; the context is freed in Drop.
        unsafe {
            let filter = ffmpeg::ffi::av_bsf_get_by_name(c"mpeg4_unpack_bframes".as_ptr());
            if filter.is_null() {
                return Err(ffmpeg::Error::BsfNotFound); // a libavcodec built without it
            }
            let mut ctx = std::ptr::null_mut();
            let check = |r: i32| if r < 0 { Err(ffmpeg::Error::from(r)) } else { Ok(()) };
            check(ffmpeg::ffi::av_bsf_alloc(filter, &mut ctx))?;
            let unpacker = Unpacker(ctx);
            check(ffmpeg::ffi::avcodec_parameters_copy((*ctx).par_in, params.as_ptr()))?;
            (*ctx).time_base_in = time_base.into();
            check(ffmpeg::ffi::av_bsf_init(ctx))?;
            Ok(unpacker)
        }
    }

    /// Sends `packet` through the filter and hands each packet it gives to `out`.
    fn filter(
        &mut self,
        mut packet: ffmpeg::Packet,
        mut out: impl FnMut(ffmpeg::Packet) -> Result<(), ffmpeg::Error>,
    ) -> Result<(), ffmpeg::Error> {
        // SAFETY: the context is initialised; send takes the packet's reference, receive fills ours.
        unsafe {
            let r = ffmpeg::ffi::av_bsf_send_packet(self.0, packet.as_mut_ptr());
            if r < 0 {
                return Err(ffmpeg::Error::from(r));
            }
            loop {
                let mut p = ffmpeg::Packet::empty();
                match ffmpeg::ffi::av_bsf_receive_packet(self.0, p.as_mut_ptr()) {
                    0 => out(p)?,
                    r if r == ffmpeg::ffi::AVERROR(ffmpeg::ffi::EAGAIN) || r == ffmpeg::ffi::AVERROR_EOF => return Ok(()),
                    r => return Err(ffmpeg::Error::from(r)),
                }
            }
        }
    }
}

impl Drop for Unpacker {
    fn drop(&mut self) {
        // SAFETY: allocated by av_bsf_alloc in new.
        unsafe { ffmpeg::ffi::av_bsf_free(&mut self.0) };
    }
}

/// libavcodec alone decoding every video packet of `file` (read into memory first): ms, frames.
fn avcodec_floor(file: &str) -> (f64, u64) {
    ffmpeg::init().expect("FFmpeg");
    ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    let mut input = ffmpeg::format::input(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let stream = input.streams().best(ffmpeg::media::Type::Video).expect("a video stream");
    let (index, params) = (stream.index(), stream.parameters());
    let packets: Vec<ffmpeg::Packet> = input.packets().filter(|(s, _)| s.index() == index).map(|(_, p)| p).collect();
    let t = Instant::now();
    let mut ctx = ffmpeg::codec::context::Context::from_parameters(params).expect("codec parameters");
    // SAFETY: a valid, not yet opened context; read at open.
    unsafe { (*ctx.as_mut_ptr()).thread_count = 1 };
    let mut decoder = ctx.decoder().video().expect("a decoder");
    let mut frame = ffmpeg::frame::Video::empty();
    let mut frames = 0u64;
    for p in &packets {
        decoder.send_packet(p).unwrap_or_else(|e| panic!("{file}: {e}"));
        while decoder.receive_frame(&mut frame).is_ok() {
            frames += 1;
        }
    }
    decoder.send_eof().expect("flush");
    while decoder.receive_frame(&mut frame).is_ok() {
        frames += 1;
    }
    (t.elapsed().as_secs_f64() * 1e3, frames)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let (Some(task), Some(clip)) = (flag("--task"), flag("--clip")) else {
        eprintln!("usage: decode --task tsm8|dense32x2|full|open|avcodec --clip VIDEO [--reps N] [--dump FILE] [--subset FILE]");
        return; // `cargo bench` with no arguments runs nothing
    };
    let reps: usize = flag("--reps").map_or(5, |r| r.parse().expect("--reps N"));
    if let Some(out) = flag("--subset") {
        let (stream, positions) = decoded_packets(&task, &clip);
        let n = write_subset(&clip, stream, &positions, &out).unwrap_or_else(|e| panic!("{out}: {e}"));
        println!("{{\"subset\":\"{out}\",\"packets\":{n}}}");
        return;
    }
    if task == "avcodec" {
        let mut runs: Vec<(f64, u64)> = (0..reps).map(|_| avcodec_floor(&clip)).collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ms, decoded) = runs[reps / 2];
        println!("{{\"lib\":\"avcodec\",\"task\":\"{task}\",\"ms\":{ms:.3},\"decoded\":{decoded},\"kept\":0}}");
        return;
    }
    if let Some(path) = flag("--dump") {
        let mut out = Vec::new();
        run(&task, &clip, Some(&mut out));
        std::fs::File::create(&path).and_then(|mut f| f.write_all(&out)).expect("writing --dump");
    }
    let mut runs: Vec<(f64, u64, u64)> = (0..reps).map(|_| run(&task, &clip, None)).collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ms, decoded, kept) = runs[reps / 2];
    println!("{{\"lib\":\"vpipe\",\"task\":\"{task}\",\"ms\":{ms:.3},\"decoded\":{decoded},\"kept\":{kept}}}");
}
