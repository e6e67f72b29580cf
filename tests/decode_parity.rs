//! Frame `i` from vpipe equals frame `i` of
//! `ffmpeg -i V -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -`, and frame counts equal
//! FFmpeg's decoded-frame counts, on real clips.

mod common;

use std::path::Path;
use std::process::Command;

use vpipe::decode::{decode_all, ColorConvention, DecodeOptions, FrameCount, VideoInfo, VideoReader};

/// All frames as FFmpeg's CLI decodes them with its defaults (auto-rotation, bicubic scaler,
/// the stream's colour matrix and range), split into frames of the displayed size.
fn ffmpeg_frames(path: &Path, w: usize, h: usize) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg CLI is installed by scripts/setup.sh");
    assert!(out.status.success(), "ffmpeg failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.len() % (w * h * 3), 0, "{}: ffmpeg output is not whole {w}x{h} frames", path.display());
    out.stdout.chunks(w * h * 3).map(|c| c.to_vec()).collect()
}

/// Sparse, repeated and out-of-order picks, then every frame, all pixel-equal to the CLI's.
fn check_path(path: &Path, expect_frames: Option<usize>) {
    let name = path.display();
    let uncached = DecodeOptions { index_cache: None, ..Default::default() };
    let mut reader = VideoReader::open_with(path, &uncached).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let info = reader.info().clone();
    if let Some(n) = expect_frames {
        assert_eq!(info.num_frames, n, "{name}: frame count");
    }
    let reference = ffmpeg_frames(path, info.width, info.height);
    assert_eq!(reference.len(), info.num_frames, "{name}: ffmpeg frame count");
    let n = info.num_frames;
    // Sparse TSM-style picks (out of order, repeated), the first and last frames, a dense run.
    let mut picks: Vec<usize> = (0..8).map(|k| (n * (2 * k + 1)) / 16).collect();
    picks.extend([n - 1, 0, n / 2, n / 2, 1.min(n - 1)]);
    picks.extend(n / 3..(n / 3 + 5).min(n));
    let frames = reader.frames(&picks).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    for (i, f) in picks.iter().zip(&frames) {
        assert_eq!((f.width, f.height), (info.width, info.height), "{name}: frame size");
        assert!(f.data == reference[*i], "{name}: frame {i} differs from ffmpeg's ({})", max_diff(&f.data, &reference[*i]));
    }
    // Every frame, in one call on the same reader.
    let all = reader.frames(&(0..n).collect::<Vec<_>>()).unwrap();
    for (i, f) in all.iter().enumerate() {
        assert!(f.data == reference[i], "{name}: frame {i} (full decode) differs from ffmpeg's ({})", max_diff(&f.data, &reference[i]));
    }
    assert_eq!(reader.stats().index_mismatches, 0, "{name}: the decoder disagreed with the packet index");
    check_cached_open(path, &info, &picks, &reference);
    // The streaming pass of a fresh, uncached reader (no-pts AVIs convert their counting pass's pictures).
    let mut fresh = VideoReader::open_with(path, &DecodeOptions { index_cache: None, ..Default::default() }).unwrap();
    let count = fresh
        .for_each_frame(|i, f| {
            assert!(f.data == reference[i], "{name}: frame {i} (for_each_frame) differs from ffmpeg's");
            Ok(())
        })
        .unwrap();
    assert_eq!(count, n, "{name}: for_each_frame count");
    // The index-free full decode (`vpipe extract-frames`, the bench's `full` task).
    let count = decode_all(path, &DecodeOptions::default(), |i, f| {
        assert!(f.data == reference[i], "{name}: frame {i} (decode_all) differs from ffmpeg's");
        Ok(())
    })
    .unwrap();
    assert_eq!(count, n, "{name}: decode_all count");
}

/// A second open through the index cache — which skips FFmpeg's stream probe for H.264 and HEVC
/// in MP4/MOV and Matroska (`src/decode/stream_info.rs`) — reports the same and fetches the CLI's frames.
fn check_cached_open(path: &Path, info: &VideoInfo, picks: &[usize], reference: &[Vec<u8>]) {
    let name = path.display();
    let cache = tempfile::tempdir().unwrap();
    let opts = DecodeOptions { index_cache: Some(cache.path().to_path_buf()), ..Default::default() };
    VideoReader::open_with(path, &opts).unwrap();
    let mut again = VideoReader::open_with(path, &opts).unwrap();
    assert_eq!(again.info(), info, "{name}: what a cached open reports");
    let container = path.extension().and_then(|e| e.to_str()).is_some_and(|e| ["mp4", "mov", "mkv"].contains(&e));
    let skippable = container && ["h264", "hevc"].contains(&info.codec.as_str()) && info.video_streams == 1;
    assert_eq!(again.probe_skipped(), skippable, "{name}: whether the cached open skipped the probe");
    let frames = again.frames(picks).unwrap_or_else(|e| panic!("{name}: cached open: {e:#}"));
    for (i, f) in picks.iter().zip(&frames) {
        assert!(
            f.data == reference[*i],
            "{name}: frame {i} after a cached open differs from ffmpeg's ({})",
            max_diff(&f.data, &reference[*i])
        );
    }
    assert_eq!(again.stats().index_mismatches, 0, "{name}: the decoder disagreed with the cached index");
}

fn max_diff(a: &[u8], b: &[u8]) -> String {
    let d = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
    format!("max difference {d} levels")
}

fn check(rel: &str, expect_frames: usize) {
    let Some(data) = common::data_dir() else { return };
    check_path(&data.join(rel), Some(expect_frames));
}

/// A 96x64, 25 fps `testsrc2` clip of `seconds`, encoded by the FFmpeg CLI with `args`, at `dir/name`.
fn make_clip(dir: &Path, name: &str, seconds: &str, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-t", seconds])
        .args(args)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg could not make {name}");
    out
}

#[test]
fn xvid_avi_matches_ffmpeg() {
    check("mini/videos/SoccerJuggling/v_SoccerJuggling_g23_c01.avi", 240);
}

#[test]
fn divx_packed_b_frames_match_ffmpeg() {
    check("mini/videos/wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi", 72);
}

#[test]
fn h264_with_b_frames_matches_ffmpeg() {
    check("mini/videos/arm_wrestling/demo.mp4", 280);
}

#[test]
fn h264_matroska_matches_ffmpeg() {
    check("mini/videos/flipping_pancake/flipping_a_pancake.mkv", 310);
}

#[test]
fn vp9_webm_matches_ffmpeg() {
    check("edge/bbb_480p_vp9_opus_1second.webm", 24);
}

#[test]
fn frames_stored_out_of_display_order_come_back_in_pts_order() {
    check("edge/unordered.mov", 4);
}

#[test]
fn kinetics_h264_matches_ffmpeg() {
    check("kinetics/SOX5yA1l24A.mp4", 332);
}

#[test]
fn probe_reports_size_fps_and_rotation() {
    let Some(data) = common::data_dir() else { return };
    let i = VideoReader::open(data.join("mini/videos/wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi")).unwrap().info().clone();
    assert_eq!((i.num_frames, i.width, i.height), (48, 432, 240));
    assert!((i.fps - 30.0).abs() < 0.01, "{}", i.fps);
    // A −90° display matrix: the CLI turns the 568x320 picture clockwise to 320x568.
    let r = VideoReader::open(data.join("edge/video_90.mov")).unwrap().info().clone();
    assert_eq!((r.num_frames, r.width, r.height, r.coded_width, r.coded_height), (3, 320, 568, 568, 320));
    assert!((r.rotation.abs() - 90.0).abs() < 1e-6, "rotation {}", r.rotation);
    assert_eq!(r.applied_rotation, 90);
    let opts = DecodeOptions { autorotate: false, ..Default::default() };
    let mut raw = VideoReader::open_with(data.join("edge/video_90.mov"), &opts).unwrap();
    assert_eq!((raw.info().width, raw.info().height, raw.info().applied_rotation), (568, 320, 0));
    assert_eq!(raw.frames(&[0]).unwrap()[0].width, 568);
}

/// Root cause 1 of issue 6: a packet-flag test that is always true sent every file to the
/// sequential path, which decodes the whole video to count its frames. Files with pts must be
/// counted from the packet index, and a sparse fetch must decode only the GOP spans it needs.
#[test]
fn files_with_pts_use_the_packet_index_and_decode_only_needed_spans() {
    let Some(data) = common::data_dir() else { return };
    for rel in [
        "mini/videos/SoccerJuggling/v_SoccerJuggling_g23_c01.avi",
        "mini/videos/arm_wrestling/demo.mp4",
        "mini/videos/flipping_pancake/flipping_a_pancake.mkv",
        "kinetics/R6llTwEh07w.mp4",
        "mmaction2/test.mp4",
    ] {
        let mut r = VideoReader::open(data.join(rel)).unwrap();
        let how = if rel.ends_with(".avi") { FrameCount::ContainerIndex } else { FrameCount::PacketIndex };
        assert_eq!(r.info().frame_count, how, "{rel}");
        assert_eq!(r.stats().frames_decoded, 0, "{rel}: opening must not decode");
        let n = r.info().num_frames;
        let picks: Vec<usize> = (0..8).map(|k| (n * (2 * k + 1)) / 16).collect();
        r.frames(&picks).unwrap();
        let s = r.stats();
        assert_eq!(s.frames_kept, 8, "{rel}");
        // Never more than a full pass: each GOP at most once, non-reference frames skipped.
        assert!(s.frames_decoded < n as u64, "{rel}: decoded {} of {n} frames for 8", s.frames_decoded);
        assert!(s.packets_decoded <= n as u64 + 8, "{rel}: {} packets for {n} frames", s.packets_decoded);
    }
}

/// AVIs (UCF101's xvid files) are indexed from the demuxer's own index (`idx1`), read at open,
/// without a demux pass, where that index is exactly the packet index. A timestamp gap (a
/// zero-length "drop frame" chunk has no index entry) sends the file to the demux pass, and
/// B-frames without pts to output-order numbering, counted from the VOP headers (by decoding
/// where the VOL is interlaced); every kind matches the CLI frame for frame.
#[test]
fn avis_are_indexed_from_the_container_index_where_it_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, args: &[&str]| make_clip(dir.path(), name, "1", &[args, &["-c:v", "mpeg4", "-g", "12"]].concat());
    let plain = make("plain.avi", &["-bf", "0"]);
    let gap = make("gap.avi", &["-vf", "select='not(eq(n\\,5))'", "-fps_mode", "passthrough", "-bf", "0"]);
    let b_frames = make("b_frames.avi", &["-bf", "2"]);
    let b3_qpel = make("b3_qpel.avi", &["-bf", "3", "-flags", "+qpel+mv4"]);
    let interlaced = make("interlaced.avi", &["-bf", "2", "-flags", "+ilme+ildct"]);
    let mut cases = vec![
        (plain, FrameCount::ContainerIndex, 25),
        (gap, FrameCount::PacketIndex, 24),
        (b_frames, FrameCount::VopHeaders, 25),
        (b3_qpel, FrameCount::VopHeaders, 25),
    ];
    // Interlaced VOLs are not replayed from headers. Its frames are not compared: on this file
    // the CLI's default frame threads give other pixels (up to 47 levels, frames 13, 16 and 20)
    // than its `-threads 1`, which vpipe's one decoder thread equals.
    let r = VideoReader::open_with(&interlaced, &DecodeOptions { index_cache: None, ..Default::default() }).unwrap();
    assert_eq!((r.info().frame_count, r.info().num_frames), (FrameCount::Decoded, 25));
    if let Some(data) = common::data_dir() {
        cases.push((data.join("mini/videos/SoccerJuggling/v_SoccerJuggling_g24_c01.avi"), FrameCount::ContainerIndex, 251));
    }
    for (path, how, n) in cases {
        let uncached = DecodeOptions { index_cache: None, ..Default::default() };
        let r = VideoReader::open_with(&path, &uncached).unwrap();
        assert_eq!((r.info().frame_count, r.info().num_frames), (how, n), "{}", path.display());
        check_path(&path, Some(n));
    }
}

/// When the decoder disagrees with the frame map and count the VOP headers gave (here an index
/// cache entry whose map has two frames swapped and misses the last one), the fetch
/// counts again by decoding and fails naming both counts (its indices came from the wrong one);
/// the cache entry is corrected, so the next open counts the CLI's frames and returns them.
#[test]
fn a_count_the_decoder_contradicts_is_redone_by_decoding_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b_frames.avi");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-t", "1", "-c:v", "mpeg4", "-bf", "2", "-g", "12"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    let cache = dir.path().join("cache");
    let opts = DecodeOptions { index_cache: Some(cache.clone()), ..Default::default() };
    assert_eq!(VideoReader::open_with(&path, &opts).unwrap().info().frame_count, FrameCount::VopHeaders);
    // The entry (src/decode/index_cache.rs): magic, 11 u64 words, the probe's 19, then pts,
    // keyframe pairs, packet positions and (position, is B) output pairs.
    let entry = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&entry).unwrap();
    let word = |b: &[u8], i: usize| u64::from_le_bytes(b[8 + 8 * i..16 + 8 * i].try_into().unwrap()) as usize;
    let outputs = 11 + 19 + word(&bytes, 7) + 2 * word(&bytes, 8) + word(&bytes, 9);
    let (first, second) = (8 + 8 * (outputs + 2), 8 + 8 * (outputs + 4)); // frames 1 and 2 (B-frames)
    let (a, b) = (bytes[first..first + 8].to_vec(), bytes[second..second + 8].to_vec());
    bytes[first..first + 8].copy_from_slice(&b);
    bytes[second..second + 8].copy_from_slice(&a);
    // Drop the last frame: the outputs come last, word 10 counts them.
    let n = word(&bytes, 10) as u64 - 1;
    bytes[8 + 8 * 10..16 + 8 * 10].copy_from_slice(&n.to_le_bytes());
    bytes.truncate(bytes.len() - 16);
    std::fs::write(&entry, bytes).unwrap();
    let mut reader = VideoReader::open_with(&path, &opts).unwrap();
    assert_eq!((reader.info().frame_count, reader.info().num_frames), (FrameCount::VopHeaders, 24));
    let err = match reader.frames(&[1]) {
        Ok(_) => panic!("a fetch through the swapped frames did not notice"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("promised 24 frames but the decoder outputs 25"), "{err}");
    assert_eq!(reader.stats().index_mismatches, 1);
    let mut again = VideoReader::open_with(&path, &opts).unwrap();
    assert_eq!((again.info().frame_count, again.info().num_frames), (FrameCount::Decoded, 25), "the cache holds the decoded count");
    let (w, h) = (again.info().width, again.info().height);
    let reference = ffmpeg_frames(&path, w, h);
    for (i, f) in [1, 2, 20].iter().zip(again.frames(&[1, 2, 20]).unwrap()) {
        assert!(f.data == reference[*i], "frame {i} differs from ffmpeg's ({})", max_diff(&f.data, &reference[*i]));
    }
}

/// With B-frames the decoder holds frames back for reordering; a fetch must not decode the
/// packets after the last one it needs just to push the wanted frame out (issue 6: 152
/// frames decoded for 56 needed). For each single frame of an H.264 GOP-12 clip with B-frames,
/// vpipe sends the decoder exactly the packets from its keyframe through the frame's own
/// packet, in decode order as `ffprobe -show_packets` lists them.
#[test]
fn a_fetch_decodes_only_the_packets_up_to_the_wanted_frame() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("gop12_b3.mp4");
    let src = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-t", "2"];
    let enc = ["-c:v", "libx264", "-g", "12", "-bf", "3", "-pix_fmt", "yuv420p"];
    let st = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(src).args(enc).arg(&clip).status().unwrap();
    assert!(st.success());
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts,pos,flags", "-of", "csv=p=0"])
        .arg(&clip)
        .output()
        .unwrap();
    // (pts, keyframe, byte position) in decode order.
    let packets: Vec<(i64, bool, i64)> = String::from_utf8(probe.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[2].starts_with('K'), f[1].parse().unwrap())
        })
        .collect();
    let mut by_pts: Vec<i64> = packets.iter().map(|p| p.0).collect();
    by_pts.sort();
    assert_eq!(by_pts.len(), 50);
    let mut references_never_output = false;
    for i in [0, 5, 13, 22, 23, 30, 49] {
        let target = by_pts[i];
        let at = packets.iter().position(|p| p.0 == target).unwrap();
        let key_pts = packets.iter().filter(|p| p.1 && p.0 <= target).map(|p| p.0).max().unwrap();
        let key_at = packets.iter().position(|p| p.0 == key_pts).unwrap();
        let mut r = VideoReader::open(&clip).unwrap();
        r.trace_decoded_packets();
        let got = r.frames(&[i]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(r.stats().packets_decoded as usize, at - key_at + 1, "frame {i}: packets sent to the decoder");
        // The traced packets (the bench's floor subset) are those of the frames decoded, all
        // between the keyframe and the target, the target's own included.
        let traced = r.decoded_packets();
        let output = r.stats().frames_decoded;
        assert!(traced.len() as u64 >= output, "frame {i}: every frame output is traced ({} < {output})", traced.len());
        references_never_output |= traced.len() as u64 > output;
        let span: Vec<i64> = packets[key_at..=at].iter().map(|p| p.2).collect();
        assert!(traced.iter().all(|p| span.contains(p)), "frame {i}: traced {traced:?} outside the span {span:?}");
        assert!(traced.contains(&packets[at].2) && traced.contains(&packets[key_at].2), "frame {i}: target and keyframe traced");
    }
    // A B-frame's references displayed after it (P, and the B-pyramid's reference B) are decoded
    // but never taken out of the decoder before the fetch stops: the trace must still hold them,
    // or the floor's subset would decode the B-frame without its references.
    assert!(references_never_output, "no pick traced a reference that was decoded but not output");
}

/// FFmpeg-made clips that cover the colour matrices, ranges, bit depths, chroma layouts and
/// rotations the real data lacks (issue 6: 8 of 23 outside files differed by up to 38 levels).
#[test]
fn colours_ranges_depths_and_rotations_match_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, args: &[&str]| make_clip(dir.path(), name, "0.6", args);
    let x264 = |pix: &str, space: &str, range: &str| {
        vec![
            "-c:v".to_string(),
            "libx264".into(),
            "-g".into(),
            "6".into(),
            "-pix_fmt".into(),
            pix.into(),
            "-colorspace".into(),
            space.into(),
            "-color_range".into(),
            range.into(),
        ]
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("bt709_tv.mp4", x264("yuv420p", "bt709", "tv")),
        ("bt709_pc_yuvj.mp4", x264("yuvj420p", "bt709", "pc")),
        ("bt2020_10bit.mp4", x264("yuv420p10le", "bt2020nc", "tv")),
        ("bt709_10bit_pc.mp4", x264("yuv420p10le", "bt709", "pc")),
        ("smpte240m.mp4", x264("yuv420p", "smpte240m", "tv")),
        ("fcc.mp4", x264("yuv420p", "fcc", "tv")),
        ("yuv422_bt709.mp4", x264("yuv422p", "bt709", "tv")),
        ("yuv444.mp4", x264("yuv444p", "bt470bg", "tv")),
    ];
    let mut paths = Vec::new();
    for (name, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        paths.push(make(name, &args));
    }
    // Rotations are display matrices written by the mov muxer on a stream copy.
    for (src, deg) in [(0, "90"), (0, "180"), (0, "270"), (6, "90")] {
        let out = dir.path().join(format!("rot{deg}_{src}.mp4"));
        let st = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&paths[src])
            .args(["-c", "copy", "-metadata:s:v:0", &format!("rotate={deg}")])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        paths.push(out);
    }
    for p in &paths {
        check_path(p, Some(15));
    }
    let r = VideoReader::open(&paths[1]).unwrap();
    assert_eq!((r.info().color_space.as_str(), r.info().color_range.as_str()), ("bt709", "pc"));
    let r = VideoReader::open(dir.path().join("rot90_0.mp4")).unwrap();
    assert_eq!((r.info().width, r.info().height, r.info().applied_rotation), (64, 96, 270));
}

/// A thread hands its conversion graphs on from one video to the next of the same kind. The
/// `scale` filter remembers the last colour range a frame specified, so a graph that has seen
/// full-range frames must not convert the next video's untagged (limited-range) frames of the
/// same format and size: each video, opened one after the other on this thread, still equals the CLI.
#[test]
fn conversion_graphs_handed_between_videos_keep_each_videos_range() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, tags: &[&str]| {
        make_clip(dir.path(), name, "0.6", &[&["-c:v", "libx264", "-g", "6", "-pix_fmt", "yuv420p10le"], tags].concat())
    };
    let full = make("full_range.mp4", &["-color_range", "pc"]);
    let untagged = make("untagged.mp4", &[]);
    assert_eq!(VideoReader::open(&untagged).unwrap().info().color_range, "unknown", "the second clip must carry no range tag");
    for p in [&full, &untagged, &full, &untagged] {
        check_path(p, Some(15));
    }
}

/// Every readable file of the real data, pixel-equal to the CLI, frame for frame.
#[test]
fn every_shared_data_video_matches_the_cli() {
    let Some(data) = common::data_dir() else { return };
    let mut files = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| ["mp4", "avi", "mkv", "mov", "webm"].contains(&x.to_str().unwrap())) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 20, "expected the shared data's videos, found {}", files.len());
    for p in files.iter().filter(|p| !p.ends_with("corrupted.mp4")) {
        check_path(p, None);
    }
}

/// The `bt601` convention converts with BT.601 whatever the stream says (a bare sws_getContext):
/// on a BT.709 clip it differs from the CLI, on an untagged BT.601 clip it does not.
#[test]
fn bt601_convention_reproduces_legacy_conversion() {
    let Some(data) = common::data_dir() else { return };
    let legacy = DecodeOptions { color_convention: ColorConvention::Bt601, ..Default::default() };
    let path = data.join("mini/videos/SoccerJuggling/v_SoccerJuggling_g23_c01.avi");
    let a = VideoReader::open(&path).unwrap().frames(&[10]).unwrap();
    let b = VideoReader::open_with(&path, &legacy).unwrap().frames(&[10]).unwrap();
    assert_eq!(a, b, "an untagged clip is BT.601 either way");
    let dir = tempfile::tempdir().unwrap();
    let hd = dir.path().join("bt709.mp4");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-t", "0.2", "-c:v", "libx264"])
        .args(["-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_range", "tv"])
        .arg(&hd)
        .status()
        .unwrap();
    assert!(st.success());
    let a = VideoReader::open(&hd).unwrap().frames(&[2]).unwrap();
    let b = VideoReader::open_with(&hd, &legacy).unwrap().frames(&[2]).unwrap();
    let d = a[0].data.iter().zip(&b[0].data).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(d >= 5, "BT.601 and BT.709 conversions of a colour test pattern differ (max {d})");
}

#[test]
fn other_codecs_decode_every_frame() {
    let Some(data) = common::data_dir() else { return };
    for (rel, n) in [
        ("edge/h265_video.mp4", 10),
        ("edge/av1_video.mkv", 125),
        ("edge/big_buck_bunny_432_433.webm", 24),
        ("edge/tiny_1x1.mp4", 5),
        ("mmaction2/test.avi", 164),
    ] {
        let mut r = VideoReader::open(data.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
        assert_eq!(r.info().num_frames, n, "{rel}");
        let f = r.frames(&[0, n - 1]).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
        assert_eq!(f[1].data.len(), r.info().width * r.info().height * 3);
    }
}

#[test]
fn corrupt_and_missing_files_are_errors_not_crashes() {
    let Some(data) = common::data_dir() else { return };
    let bad = VideoReader::open(data.join("edge/corrupted.mp4")).and_then(|mut r| {
        let n = r.info().num_frames;
        r.frames(&(0..n).collect::<Vec<_>>())
    });
    assert!(bad.is_err(), "corrupted.mp4 must be reported");
    let missing = VideoReader::open(data.join("edge/no_such_file.mp4")).unwrap_err();
    assert!(format!("{missing:#}").contains("No such file"), "{missing:#}");
    let out_of_range = VideoReader::open(data.join("edge/short_32f.mp4")).unwrap().frames(&[32]).unwrap_err();
    assert!(out_of_range.to_string().contains("out of range"));
}

/// The index cache: a second open of the same file skips the probe — for a DivX packed-B AVI
/// (no pts) that is the whole decode pass that counts its frames — and fetches the same frames.
#[test]
fn second_open_reads_the_index_cache() {
    let Some(data) = common::data_dir() else { return };
    let cache = tempfile::tempdir().unwrap();
    let opts = DecodeOptions { index_cache: Some(cache.path().to_path_buf()), ..Default::default() };
    for (rel, n) in [("mini/videos/wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi", 72), ("mini/videos/arm_wrestling/demo.mp4", 280)] {
        let path = data.join(rel);
        let mut first = VideoReader::open_with(&path, &opts).unwrap();
        let mut second = VideoReader::open_with(&path, &opts).unwrap();
        assert_eq!(second.info(), first.info(), "{rel}");
        assert_eq!(second.info().num_frames, n, "{rel}");
        assert_eq!(second.stats().frames_decoded, 0, "{rel}: a cached probe decodes nothing");
        assert_eq!(second.probe_skipped(), rel.ends_with(".mp4"), "{rel}: FFmpeg's stream probe skipped for H.264 in MP4 only");
        if first.info().frame_count == FrameCount::Decoded {
            assert_eq!(first.stats().frames_decoded, n as u64, "{rel}: the first probe counts by decoding");
        }
        let picks = [n - 1, 3, n / 2];
        assert_eq!(second.frames(&picks).unwrap(), first.frames(&picks).unwrap(), "{rel}");
    }
}

/// DivX packed-B AVIs (no pts) once counted: a fetch from the index cache (no held pictures)
/// sends the packets of B-frames nobody wants with `skip_frame = NONREF` and still numbers and
/// returns the CLI's frames — every frame fetched alone (so each wanted B-frame, including the
/// second picture of a packed packet, whose neighbour is skipped), and TSM picks that decode
/// fewer frames than the last pick's index. On decoder threads too.
#[test]
fn packed_b_fetches_skip_unwanted_b_frames_and_keep_the_cli_frames() {
    let Some(data) = common::data_dir() else { return };
    let clips = [
        ("mmaction2/test.avi", 1),
        ("mini/videos/wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi", 1),
        ("mini/videos/cartwheel/hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi", 1),
        ("mmaction2/test.avi", 0),
    ];
    for (rel, threads) in clips {
        let path = data.join(rel);
        let cache = tempfile::tempdir().unwrap();
        let opts = DecodeOptions { index_cache: Some(cache.path().to_path_buf()), threads, ..Default::default() };
        let counted = VideoReader::open_with(&path, &opts).unwrap();
        assert_eq!(counted.info().frame_count, FrameCount::VopHeaders, "{rel}: counted without decoding");
        let mut reader = VideoReader::open_with(&path, &opts).unwrap();
        assert_eq!(reader.info().frame_count, FrameCount::VopHeaders, "{rel}: from the index cache");
        let (n, w, h) = (reader.info().num_frames, reader.info().width, reader.info().height);
        let reference = ffmpeg_frames(&path, w, h);
        assert_eq!(n, reference.len(), "{rel}: the headers' frame count is the CLI's");
        let picks: Vec<usize> = (0..8).map(|k| (n * (2 * k + 1)) / 16).collect();
        let frames = reader.frames(&picks).unwrap();
        for (i, f) in picks.iter().zip(&frames) {
            assert!(f.data == reference[*i], "{rel}: TSM frame {i} differs from ffmpeg's ({})", max_diff(&f.data, &reference[*i]));
        }
        let decoded = reader.stats().frames_decoded as usize;
        assert!(decoded < picks[7] + 1, "{rel}: {decoded} frames decoded for picks up to {}: no B-frame was skipped", picks[7]);
        for (i, want) in reference.iter().enumerate() {
            let f = reader.frames(&[i]).unwrap();
            assert!(f[0].data == *want, "{rel}: frame {i} alone differs from ffmpeg's ({})", max_diff(&f[0].data, want));
        }
        assert_eq!(reader.stats().index_mismatches, 0, "{rel}: the decoder disagreed with the headers' map");
    }
}

/// `vpipe probe --json`: one object per file with the rotated geometry and how frames were
/// counted; a file that cannot be opened is named in the error and the exit status.
#[test]
fn probe_command_reports_json_and_names_bad_files() {
    let Some(data) = common::data_dir() else { return };
    let out = common::vpipe()
        .args(["probe", "--json"])
        .arg(data.join("edge/video_90.mov"))
        .arg(data.join("mini/videos/wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["width"].as_u64(), rows[0]["height"].as_u64()), (Some(320), Some(568)));
    assert_eq!((rows[0]["coded_width"].as_u64(), rows[0]["applied_rotation"].as_u64()), (Some(568), Some(90)));
    assert_eq!(rows[0]["frame_count"], "packet_index");
    assert_eq!((rows[1]["num_frames"].as_u64(), rows[1]["frame_count"].as_str()), (Some(72), Some("vop_headers")));
    let bad = common::vpipe().args(["probe"]).arg(data.join("edge/no_such.mp4")).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no_such.mp4"));
}

/// `resize_in_decoder`: a reader told to scale its output gives, at every pick, the frames of
/// `ffmpeg -i V -vf scale=W:H:flags=bilinear -pix_fmt rgb24` (rotation first, as the CLI), in one
/// swscale call per frame.
#[test]
fn resizing_in_the_decoder_equals_the_cli_scale_filter() {
    let Some(data) = common::data_dir() else { return };
    for rel in ["edge/video_90.mov", "mmaction2/test.mp4", "mini/videos/SoccerJuggling/v_SoccerJuggling_g23_c01.avi"] {
        let path = data.join(rel);
        let mut reader = VideoReader::open(&path).unwrap();
        let (w, h, n) = (reader.info().width, reader.info().height, reader.info().num_frames);
        let (ow, oh) = ((w * 3 / 4) & !1, (h * 3 / 4) & !1); // a downscale, as Resize(-1, 256) of larger videos
        reader.scale_output_to(ow, oh, "bilinear");
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-map", "0:v:0", "-fps_mode", "passthrough", "-vf", &format!("scale={ow}:{oh}:flags=bilinear")])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let reference: Vec<&[u8]> = out.stdout.chunks(ow * oh * 3).collect();
        assert_eq!(reference.len(), n, "{rel}: CLI frame count");
        let picks: Vec<usize> = (0..8).map(|k| (n * (2 * k + 1)) / 16).collect();
        for (i, f) in picks.iter().zip(reader.frames(&picks).unwrap()) {
            assert_eq!((f.width, f.height), (ow, oh), "{rel}: frame size");
            assert!(f.data == reference[*i], "{rel}: frame {i} differs from the CLI's scale ({})", max_diff(&f.data, reference[*i]));
        }
    }
}

/// AVA's preparation (`ffmpeg [-ss S -t D] -i V -r 30 <vid>_%06d.jpg`): the frames
/// `decode_all_retimed` gives equal, in number and pixels, the CLI's constant-rate output (its
/// image muxer's `-vsync cfr`), for a 28-fps, a 25-fps (with audio) and a 30-fps clip, whole and
/// cut.
#[test]
fn retimed_frames_equal_the_clis_rate_conversion_and_cut() {
    use vpipe::decode::decode_all_retimed;
    use vpipe::decode::retime::Retime;
    let Some(data) = common::data_dir() else { return };
    let cases: [(&str, &[&str], Retime); 5] = [
        ("mini/videos/arm_wrestling/demo.mp4", &[], Retime { fps: Some((30, 1)), ..Retime::default() }),
        ("mmaction2/test.avi", &[], Retime { fps: Some((30, 1)), ..Retime::default() }),
        ("kinetics/R6llTwEh07w.mp4", &["-ss", "2", "-t", "3"], Retime { fps: Some((30, 1)), start: Some(2.0), duration: Some(3.0) }),
        (
            "mini/videos/arm_wrestling/demo.mp4",
            &["-ss", "1.5", "-t", "4.2"],
            Retime { fps: Some((30, 1)), start: Some(1.5), duration: Some(4.2) },
        ),
        ("mmaction2/test.avi", &["-ss", "1", "-t", "2"], Retime { fps: Some((30000, 1001)), start: Some(1.0), duration: Some(2.0) }),
    ];
    for (rel, cut, retime) in cases {
        let path = data.join(rel);
        let rate = retime.fps.map(|(n, d)| format!("{n}/{d}")).unwrap();
        let out = Command::new("ffmpeg")
            .args(["-v", "error"])
            .args(cut)
            .arg("-i")
            .arg(&path)
            .args(["-map", "0:v:0", "-r", &rate, "-vsync", "cfr", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{rel}: {}", String::from_utf8_lossy(&out.stderr));
        let mut got: Vec<Vec<u8>> = Vec::new();
        let n = decode_all_retimed(&path, &DecodeOptions::default(), retime, |i, f| {
            assert_eq!(i, got.len());
            got.push(f.data.clone());
            Ok(())
        })
        .unwrap();
        let size = got[0].len();
        let want: Vec<&[u8]> = out.stdout.chunks(size).collect();
        assert_eq!(n, want.len(), "{rel} {cut:?}: frame count");
        let first_bad = got.iter().zip(&want).position(|(g, w)| g != w);
        assert_eq!(first_bad, None, "{rel} {cut:?}: first differing output frame of {n}");
    }
}
